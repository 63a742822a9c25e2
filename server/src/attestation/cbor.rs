//! The subset of CBOR (RFC 8949) an App Attest attestation object uses: unsigned and negative
//! integers, byte and text strings, arrays and maps, definite lengths only, nesting bounded.
//! Anything else (floats, tags, indefinite lengths) is refused: Apple never sends it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    Unsigned(u64),
    Negative(i128),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed CBOR: {0}")]
pub struct CborError(pub &'static str);

const MAX_DEPTH: usize = 8;
/// More items than this in one array or map is not an attestation object.
const MAX_ITEMS: u64 = 64;

/// Decodes exactly one item filling `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value<'_>, CborError> {
    let mut rest = bytes;
    let value = item(&mut rest, 0)?;
    if !rest.is_empty() {
        return Err(CborError("trailing data"));
    }
    Ok(value)
}

/// Decodes one item from the front of `bytes`, returning it and what follows (the COSE key sits
/// at the end of authenticator data, followed by nothing or by extensions).
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value<'_>, &[u8]), CborError> {
    let mut rest = bytes;
    let value = item(&mut rest, 0)?;
    Ok((value, rest))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Result<&'a [u8], CborError> {
    if rest.len() < n {
        return Err(CborError("truncated"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn argument(rest: &mut &[u8], info: u8) -> Result<u64, CborError> {
    let n = match info {
        0..=23 => return Ok(u64::from(info)),
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(CborError("indefinite or reserved length")),
    };
    Ok(take(rest, n)?
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

fn item<'a>(rest: &mut &'a [u8], depth: usize) -> Result<Value<'a>, CborError> {
    if depth > MAX_DEPTH {
        return Err(CborError("nested too deeply"));
    }
    let first = take(rest, 1)?[0];
    let major = first >> 5;
    let arg = argument(rest, first & 0x1f)?;
    let len = |arg: u64| usize::try_from(arg).map_err(|_| CborError("length too large"));
    match major {
        0 => Ok(Value::Unsigned(arg)),
        1 => Ok(Value::Negative(-1 - i128::from(arg))),
        2 => Ok(Value::Bytes(take(rest, len(arg)?)?)),
        3 => std::str::from_utf8(take(rest, len(arg)?)?)
            .map(Value::Text)
            .map_err(|_| CborError("text is not UTF-8")),
        4 | 5 => {
            if arg > MAX_ITEMS {
                return Err(CborError("too many items"));
            }
            if major == 4 {
                (0..arg)
                    .map(|_| item(rest, depth + 1))
                    .collect::<Result<_, _>>()
                    .map(Value::Array)
            } else {
                (0..arg)
                    .map(|_| Ok((item(rest, depth + 1)?, item(rest, depth + 1)?)))
                    .collect::<Result<_, _>>()
                    .map(Value::Map)
            }
        }
        _ => Err(CborError("tags, floats and simple values are not expected")),
    }
}

impl<'a> Value<'a> {
    /// The value under a text key of a map.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.find(|k| matches!(k, Value::Text(t) if *t == key))
    }

    /// The value under an integer key of a map (COSE keys use small integers).
    pub fn get_int(&self, key: i64) -> Option<&Value<'a>> {
        self.find(|k| match k {
            Value::Unsigned(u) => i128::from(*u) == i128::from(key),
            Value::Negative(n) => *n == i128::from(key),
            _ => false,
        })
    }

    fn find(&self, matches: impl Fn(&Value<'a>) -> bool) -> Option<&Value<'a>> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| matches(k)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_maps_arrays_strings_and_integers() {
        // {"a": [1, -2, h'0102'], 3: "x"}
        let bytes = [
            0xa2, 0x61, b'a', 0x83, 0x01, 0x21, 0x42, 1, 2, 0x03, 0x61, b'x',
        ];
        let v = decode(&bytes).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::Array(vec![
                Value::Unsigned(1),
                Value::Negative(-2),
                Value::Bytes(&[1, 2])
            ]))
        );
        assert_eq!(v.get_int(3), Some(&Value::Text("x")));
        assert_eq!(v.get("b"), None);
    }

    #[test]
    fn refuses_what_apple_never_sends() {
        for bad in [
            &[][..],
            &[0x5f][..],             // indefinite byte string
            &[0xc0, 0x01][..],       // tag
            &[0xf9, 0, 0][..],       // float
            &[0x42, 1][..],          // truncated
            &[0x01, 0x01][..],       // trailing data
            &[0x62, 0xff, 0xfe][..], // not UTF-8
            &[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..], // huge array
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        let deep = [0x81u8; 20];
        assert!(decode(&deep).is_err());
    }
}
