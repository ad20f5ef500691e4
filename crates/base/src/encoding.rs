//! Order-preserving encodings.
//!
//! Keys are compared as byte strings, so every value that can appear in a key is encoded such
//! that byte order equals value order. Each encoding is self-delimiting, so values can be
//! concatenated into a composite key (`/Table/<id>/<index>/<col1><col2>…`) and split apart again.
//! Descending variants invert every byte of the ascending form.
//!
//! | value | ascending form |
//! |---|---|
//! | NULL | `0x00` (sorts first) |
//! | unsigned int `v <= 109` | one byte `0x88 + v` |
//! | unsigned int, otherwise | `0xf5 + n`, then `n` big-endian bytes (n = 1..=8, minimal) |
//! | negative int | `0x88 - n`, then the low `n` bytes of the two's complement (minimal n) |
//! | bytes / string | `0x12`, bytes with `0x00` escaped as `0x00 0xff`, then `0x00 0x01` |
//! | float | `0x30`, then the IEEE bits with the sign flipped (or all bits inverted when negative) |
//!
//! Non-negative signed ints share the unsigned form, so `encode_varint(5) == encode_uvarint(5)`.

use thiserror::Error;

/// The marker of an encoded NULL, ascending.
pub const NULL_ASC: u8 = 0x00;
/// The marker of an encoded NULL, descending: sorts last.
pub const NULL_DESC: u8 = 0xff;
const INT_ZERO: u8 = 0x88;
const INT_SMALL: u64 = 109;
const INT_MULTI_BASE: u8 = 0xf5;
const BYTES_MARKER: u8 = 0x12;
const FLOAT_MARKER: u8 = 0x30;
const ESCAPE: u8 = 0x00;
const ESCAPED_00: u8 = 0xff;
const TERMINATOR: u8 = 0x01;

/// A key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("encoded value truncated")]
    Truncated,
    /// The marker byte does not start a value of the expected type.
    #[error("unexpected marker byte {0:#04x}")]
    BadMarker(u8),
}

/// Appends the ascending encoding of an unsigned integer.
pub fn encode_uvarint(buf: &mut Vec<u8>, v: u64) {
    if v <= INT_SMALL {
        buf.push(INT_ZERO + v as u8);
        return;
    }
    let n = 8 - (v.leading_zeros() / 8) as usize;
    buf.push(INT_MULTI_BASE + n as u8);
    buf.extend_from_slice(&v.to_be_bytes()[8 - n..]);
}

/// Appends the ascending encoding of a signed integer.
pub fn encode_varint(buf: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        return encode_uvarint(buf, v as u64);
    }
    let magnitude = !(v as u64); // -(v+1) >= 0
    let n = (8 - (magnitude.leading_zeros() / 8) as usize).max(1);
    buf.push(INT_ZERO - n as u8);
    buf.extend_from_slice(&(v as u64).to_be_bytes()[8 - n..]);
}

/// Decodes an unsigned integer, returning it and the rest of the input.
pub fn decode_uvarint(buf: &[u8]) -> Result<(u64, &[u8]), DecodeError> {
    let (&first, rest) = buf.split_first().ok_or(DecodeError::Truncated)?;
    if (INT_ZERO..=INT_ZERO + INT_SMALL as u8).contains(&first) {
        return Ok(((first - INT_ZERO) as u64, rest));
    }
    if first > INT_MULTI_BASE && first <= INT_MULTI_BASE + 8 {
        let n = (first - INT_MULTI_BASE) as usize;
        if rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let mut b = [0u8; 8];
        b[8 - n..].copy_from_slice(&rest[..n]);
        return Ok((u64::from_be_bytes(b), &rest[n..]));
    }
    Err(DecodeError::BadMarker(first))
}

/// Decodes a signed integer, returning it and the rest of the input.
pub fn decode_varint(buf: &[u8]) -> Result<(i64, &[u8]), DecodeError> {
    let &first = buf.first().ok_or(DecodeError::Truncated)?;
    if first >= INT_ZERO {
        let (v, rest) = decode_uvarint(buf)?;
        return i64::try_from(v)
            .map(|v| (v, rest))
            .map_err(|_| DecodeError::BadMarker(first));
    }
    if first < INT_ZERO - 8 {
        return Err(DecodeError::BadMarker(first));
    }
    let n = (INT_ZERO - first) as usize;
    let rest = &buf[1..];
    if rest.len() < n {
        return Err(DecodeError::Truncated);
    }
    let mut b = [0xffu8; 8];
    b[8 - n..].copy_from_slice(&rest[..n]);
    Ok((i64::from_be_bytes(b), &rest[n..]))
}

/// Appends the ascending encoding of a byte string.
pub fn encode_bytes(buf: &mut Vec<u8>, v: &[u8]) {
    buf.push(BYTES_MARKER);
    for &b in v {
        buf.push(b);
        if b == ESCAPE {
            buf.push(ESCAPED_00);
        }
    }
    buf.push(ESCAPE);
    buf.push(TERMINATOR);
}

/// Decodes a byte string, returning it and the rest of the input.
pub fn decode_bytes(buf: &[u8]) -> Result<(Vec<u8>, &[u8]), DecodeError> {
    let (&first, mut rest) = buf.split_first().ok_or(DecodeError::Truncated)?;
    if first != BYTES_MARKER {
        return Err(DecodeError::BadMarker(first));
    }
    let mut out = Vec::new();
    loop {
        let (&b, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = tail;
        if b != ESCAPE {
            out.push(b);
            continue;
        }
        let (&next, tail) = rest.split_first().ok_or(DecodeError::Truncated)?;
        rest = tail;
        match next {
            ESCAPED_00 => out.push(0),
            TERMINATOR => return Ok((out, rest)),
            other => return Err(DecodeError::BadMarker(other)),
        }
    }
}

/// Appends the ascending encoding of a float (NaN sorts above +inf, as in PostgreSQL; -0 = +0).
pub fn encode_float(buf: &mut Vec<u8>, v: f64) {
    let v = if v == 0.0 {
        0.0
    } else if v.is_nan() {
        f64::NAN
    } else {
        v
    };
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits ^ (1 << 63)
    };
    buf.push(FLOAT_MARKER);
    buf.extend_from_slice(&ordered.to_be_bytes());
}

/// Decodes a float, returning it and the rest of the input.
pub fn decode_float(buf: &[u8]) -> Result<(f64, &[u8]), DecodeError> {
    let (&first, rest) = buf.split_first().ok_or(DecodeError::Truncated)?;
    if first != FLOAT_MARKER {
        return Err(DecodeError::BadMarker(first));
    }
    let raw: [u8; 8] = rest
        .get(..8)
        .ok_or(DecodeError::Truncated)?
        .try_into()
        .map_err(|_| DecodeError::Truncated)?;
    let ordered = u64::from_be_bytes(raw);
    let bits = if ordered >> 63 == 1 {
        ordered ^ (1 << 63)
    } else {
        !ordered
    };
    Ok((f64::from_bits(bits), &rest[8..]))
}

/// Inverts the bytes appended to `buf` since `start`, turning an ascending form descending.
pub fn invert_from(buf: &mut [u8], start: usize) {
    for b in &mut buf[start..] {
        *b = !*b;
    }
}

/// The smallest key greater than every key with prefix `prefix`, or `None` when there is none
/// (the prefix is empty or all `0xff`).
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn uv(v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_uvarint(&mut b, v);
        b
    }
    fn iv(v: i64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_varint(&mut b, v);
        b
    }
    fn by(v: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_bytes(&mut b, v);
        b
    }
    fn fl(v: f64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_float(&mut b, v);
        b
    }

    #[test]
    fn small_ints_are_one_byte() {
        assert_eq!(uv(0), vec![0x88]);
        assert_eq!(uv(109), vec![0xf5]);
        assert_eq!(uv(110), vec![0xf6, 110]);
        assert_eq!(uv(256), vec![0xf7, 1, 0]);
        assert_eq!(iv(-1), vec![0x87, 0xff]);
        assert_eq!(iv(5), uv(5));
    }

    #[test]
    fn bytes_escape_zero() {
        assert_eq!(by(b"a\x00b"), vec![0x12, b'a', 0, 0xff, b'b', 0, 1]);
        assert_eq!(decode_bytes(&by(b"a\x00b")).unwrap().0, b"a\x00b");
    }

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b"\xff\xff"), None);
    }

    proptest! {
        #[test]
        fn uvarint_order_and_round_trip(a: u64, b: u64) {
            prop_assert_eq!(a.cmp(&b), uv(a).cmp(&uv(b)));
            let e = uv(a);
            prop_assert_eq!(decode_uvarint(&e).unwrap(), (a, &[][..]));
        }

        #[test]
        fn varint_order_and_round_trip(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), iv(a).cmp(&iv(b)));
            let e = iv(a);
            prop_assert_eq!(decode_varint(&e).unwrap(), (a, &[][..]));
        }

        #[test]
        fn bytes_order_and_round_trip(a: Vec<u8>, b: Vec<u8>) {
            prop_assert_eq!(a.cmp(&b), by(&a).cmp(&by(&b)));
            let mut enc = by(&a);
            enc.extend_from_slice(b"tail");
            let (dec, rest) = decode_bytes(&enc).unwrap();
            prop_assert_eq!(dec, a);
            prop_assert_eq!(rest, b"tail");
        }

        #[test]
        fn float_order_and_round_trip(a in proptest::num::f64::ANY, b in proptest::num::f64::ANY) {
            prop_assume!(!a.is_nan() && !b.is_nan());
            if let Some(ord) = a.partial_cmp(&b)
                && (a != 0.0 || b != 0.0)
            {
                prop_assert_eq!(ord, fl(a).cmp(&fl(b)));
            }
            prop_assert_eq!(decode_float(&fl(a)).unwrap().0.to_bits(), if a == 0.0 { 0.0f64.to_bits() } else { a.to_bits() });
        }

        #[test]
        fn descending_reverses_order(a: i64, b: i64) {
            let mut ea = iv(a);
            invert_from(&mut ea, 0);
            let mut eb = iv(b);
            invert_from(&mut eb, 0);
            prop_assert_eq!(b.cmp(&a), ea.cmp(&eb));
        }
    }
}
