use super::JoseError;

/// Converts an ASN.1 DER `ECDSA-Sig-Value` (what Android Keystore, the Secure Enclave and most
/// HSMs return) into the fixed-width `r‖s` form that JWS requires (RFC 7518 §3.4).
/// `size` is the byte length of one coordinate (32 for P-256).
pub fn der_to_raw_ecdsa(der: &[u8], size: usize) -> Result<Vec<u8>, JoseError> {
    let bad = |why: &str| JoseError::InvalidDerSignature(why.to_owned());
    let mut rest = der;
    let (tag, body, tail) = read_tlv(rest).ok_or_else(|| bad("not a DER sequence"))?;
    if tag != 0x30 || !tail.is_empty() {
        return Err(bad("expected one SEQUENCE"));
    }
    rest = body;
    let mut out = Vec::with_capacity(size * 2);
    for _ in 0..2 {
        let (tag, int, tail) = read_tlv(rest).ok_or_else(|| bad("truncated INTEGER"))?;
        if tag != 0x02 || int.is_empty() {
            return Err(bad("expected INTEGER"));
        }
        if int[0] & 0x80 != 0 {
            return Err(bad("negative INTEGER"));
        }
        let mut value = int;
        while value.len() > 1 && value[0] == 0 {
            value = &value[1..];
        }
        if value.len() > size {
            return Err(bad("INTEGER too large for the curve"));
        }
        out.extend(std::iter::repeat_n(0u8, size - value.len()));
        out.extend_from_slice(value);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(bad("trailing data in SEQUENCE"));
    }
    Ok(out)
}

/// Reads one DER TLV; returns (tag, value, remaining).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = if len0 < 0x80 {
        (usize::from(len0), rest)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 2 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_short_and_padded_integers() {
        // r = 0x00ff.. (33 bytes with sign pad), s = 0x01 (1 byte)
        let mut r = vec![0x00];
        r.extend([0xffu8; 32]);
        let der = [vec![0x30, 2 + 33 + 2 + 1, 0x02, 33], r, vec![0x02, 1, 0x01]].concat();
        let raw = der_to_raw_ecdsa(&der, 32).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(&raw[..32], &[0xff; 32]);
        assert_eq!(&raw[32..63], &[0; 31]);
        assert_eq!(raw[63], 1);
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            vec![],
            vec![0x30],
            vec![0x30, 0x03, 0x02, 0x01, 0x01],
            vec![0x31, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01],
            vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
        ] {
            assert!(der_to_raw_ecdsa(&bad, 32).is_err(), "{bad:?}");
        }
        let too_big = [
            vec![0x30, 2 + 33 + 3, 0x02, 33],
            vec![0x01; 33],
            vec![0x02, 1, 0x01],
        ]
        .concat();
        assert!(der_to_raw_ecdsa(&too_big, 32).is_err());
    }
}
