//! A small, strict-enough DER reader for the attestation extensions (Android's KeyDescription,
//! Apple's nonce). Certificates themselves are parsed by `x509-parser`; these extensions are
//! private structures with high tag numbers that are easier to walk by hand. Every read is
//! bounds-checked; nothing here panics on input (the fuzz target feeds it garbage).

/// One tag-length-value.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// The class bits (0 universal, 1 application, 2 context-specific, 3 private).
    pub class: u8,
    pub constructed: bool,
    /// The tag number (high tag numbers decoded).
    pub number: u32,
    pub value: &'a [u8],
}

pub const UNIVERSAL: u8 = 0;
pub const CONTEXT: u8 = 2;

pub const BOOLEAN: u32 = 1;
pub const INTEGER: u32 = 2;
pub const OCTET_STRING: u32 = 4;
pub const NULL: u32 = 5;
pub const ENUMERATED: u32 = 10;
pub const SEQUENCE: u32 = 16;
pub const SET: u32 = 17;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed DER: {0}")]
pub struct DerError(pub &'static str);

type Result<T> = std::result::Result<T, DerError>;

/// Reads TLVs one after the other from a byte string.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next TLV.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>> {
        let (&first, mut rest) = self.rest.split_first().ok_or(DerError("truncated tag"))?;
        let class = first >> 6;
        let constructed = first & 0x20 != 0;
        let mut number = u32::from(first & 0x1f);
        if number == 0x1f {
            number = 0;
            let mut digits = 0;
            loop {
                let (&b, r) = rest.split_first().ok_or(DerError("truncated tag number"))?;
                rest = r;
                digits += 1;
                if digits > 4 {
                    return Err(DerError("tag number too large"));
                }
                number = (number << 7) | u32::from(b & 0x7f);
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let (&len0, r) = rest.split_first().ok_or(DerError("truncated length"))?;
        rest = r;
        let len = if len0 < 0x80 {
            usize::from(len0)
        } else {
            let count = usize::from(len0 & 0x7f);
            if count == 0 {
                return Err(DerError("indefinite length"));
            }
            if count > 4 || rest.len() < count {
                return Err(DerError("bad length"));
            }
            let (digits, r) = rest.split_at(count);
            rest = r;
            digits
                .iter()
                .fold(0usize, |acc, &d| (acc << 8) | usize::from(d))
        };
        if rest.len() < len {
            return Err(DerError("value runs past its container"));
        }
        let (value, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(Tlv {
            class,
            constructed,
            number,
            value,
        })
    }

    /// The next TLV, which must be the universal type `number`.
    pub fn expect(&mut self, number: u32) -> Result<Tlv<'a>> {
        let tlv = self.next_tlv()?;
        if tlv.class != UNIVERSAL || tlv.number != number {
            return Err(DerError("unexpected type"));
        }
        Ok(tlv)
    }

    /// A universal INTEGER or ENUMERATED that fits in an i64.
    pub fn integer(&mut self, number: u32) -> Result<i64> {
        integer_value(self.expect(number)?.value)
    }

    /// The whole of the remaining bytes, which must be empty (no trailing data).
    pub fn finish(&self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError("trailing data"))
        }
    }
}

/// A two's-complement INTEGER body as i64.
pub fn integer_value(bytes: &[u8]) -> Result<i64> {
    if bytes.is_empty() {
        return Err(DerError("empty integer"));
    }
    // Up to 9 bytes when the 9th is a sign byte (an unsigned 64-bit value is refused anyway).
    let significant = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    if significant.len() > 8 {
        return Err(DerError("integer too large"));
    }
    let negative = bytes[0] & 0x80 != 0;
    let mut value: i64 = if negative { -1 } else { 0 };
    for &b in significant {
        value = (value << 8) | i64::from(b);
    }
    if !negative && value < 0 {
        return Err(DerError("integer too large"));
    }
    Ok(value)
}

/// A BOOLEAN body. Any non-zero byte is true: Android's `deviceLocked` is encoded
/// non-canonically by some devices (Google's verifier reads it as true), and a stricter reading
/// would refuse genuine phones without making anything safer.
pub fn boolean_value(bytes: &[u8]) -> Result<bool> {
    match bytes {
        [b] => Ok(*b != 0),
        _ => Err(DerError("bad boolean")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_long_and_high_tag_forms() {
        // [704] EXPLICIT { INTEGER 5 } : high tag number 704 = 0x05 0x40 in base 128.
        let bytes = [0xbf, 0x85, 0x40, 0x03, 0x02, 0x01, 0x05];
        let mut r = Reader::new(&bytes);
        let t = r.next_tlv().unwrap();
        assert_eq!((t.class, t.constructed, t.number), (CONTEXT, true, 704));
        assert_eq!(Reader::new(t.value).integer(INTEGER).unwrap(), 5);
        r.finish().unwrap();

        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7u8; 128]);
        let t = Reader::new(&long).next_tlv().unwrap();
        assert_eq!(t.value.len(), 128);
    }

    #[test]
    fn refuses_truncation_indefinite_lengths_and_huge_values() {
        for bad in [
            &[][..],
            &[0x04][..],
            &[0x04, 0x05, 1, 2][..],
            &[0x30, 0x80, 0, 0][..],
            &[0x04, 0x85, 1, 1, 1, 1, 1][..],
            &[0x1f, 0xff, 0xff, 0xff, 0xff, 0x7f, 0][..],
        ] {
            assert!(Reader::new(bad).next_tlv().is_err(), "{bad:?}");
        }
        assert!(integer_value(&[]).is_err());
        assert!(integer_value(&[1; 9]).is_err());
        assert_eq!(integer_value(&[0xff]).unwrap(), -1);
        assert_eq!(integer_value(&[0x00, 0xff]).unwrap(), 255);
        assert!(integer_value(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(boolean_value(&[0xff]).unwrap());
        assert!(boolean_value(&[0x01]).unwrap());
        assert!(!boolean_value(&[0x00]).unwrap());
        assert!(boolean_value(&[]).is_err());
    }
}
