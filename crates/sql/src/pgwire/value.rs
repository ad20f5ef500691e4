//! Values on the wire: [`Datum`]s to and from PostgreSQL's text and binary formats.
//!
//! Text is [`Datum::to_pg_text`] out and [`types::parse_datum`] in. Binary follows the
//! PostgreSQL `*send`/`*recv` functions: big-endian integers and floats, `numeric` as base
//! 10,000 digits with a weight and display scale, dates and timestamps counted from
//! 2000-01-01, intervals as microseconds, days and months, `jsonb` as a version byte and
//! text, one-dimensional arrays with PostgreSQL's array header. Every decoder checks its
//! input's length and ranges and fails with `22P03` (invalid binary representation) instead
//! of panicking, since the bytes come straight from the network.

use std::str::FromStr;

use base::errcode;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Interval, Type};

/// Format code of the text format.
pub const TEXT: i16 = 0;
/// Format code of the binary format.
pub const BINARY: i16 = 1;

/// The type a result column is described as on the wire. `Unknown` (an untyped NULL) goes
/// out as `text`; enum values go out as `text` too, so that clients never have to look up
/// a type OID that exists only in this database's catalog.
pub fn wire_type(ty: &Type) -> Type {
    match ty {
        Type::Unknown | Type::Enum { .. } => Type::String,
        Type::Array(elem) if matches!(elem.as_ref(), Type::Unknown | Type::Enum { .. }) => {
            Type::Array(Box::new(Type::String))
        }
        other => other.clone(),
    }
}

/// The `typlen` column of `pg_type` for a RowDescription (`-1` for variable length).
pub fn type_size(ty: &Type) -> i16 {
    match ty {
        Type::Bool => 1,
        Type::Int2 => 2,
        Type::Int4 | Type::Float4 | Type::Date | Type::Oid => 4,
        Type::Int8 | Type::Float8 | Type::Timestamp | Type::TimestampTz => 8,
        Type::Interval | Type::Uuid => 16,
        _ => -1,
    }
}

fn pg_epoch() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

fn bad(ty: &Type, why: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        errcode::INVALID_BINARY_REPRESENTATION,
        format!("invalid binary value for type {}: {why}", ty.error_name()),
    )
}

fn out_of_range(ty: &Type) -> SqlError {
    SqlError::new(
        base::errcode::NUMERIC_VALUE_OUT_OF_RANGE,
        format!("value out of range for type {}", ty.error_name()),
    )
}

/// Appends the text or binary encoding of `d` (not NULL) as a value of column type `ty`.
pub fn encode(d: &Datum, ty: &Type, format: i16, out: &mut Vec<u8>) -> Result<()> {
    if format == BINARY {
        let ty = wire_type(ty);
        let at = out.len();
        match encode_binary(d, &ty, out) {
            Ok(()) => Ok(()),
            Err(first) => {
                // A value of another type than its column's (an INT in a DECIMAL column):
                // send it converted.
                out.truncate(at);
                match types::cast(d.clone(), &ty) {
                    Ok(c) if c != *d => encode_binary(&c, &ty, out).map_err(|_| first),
                    _ => Err(first),
                }
            }
        }
    } else {
        out.extend_from_slice(d.to_pg_text().unwrap_or_default().as_bytes());
        Ok(())
    }
}

fn as_f64(d: &Datum) -> Option<f64> {
    match d {
        Datum::Float(f) => Some(*f),
        Datum::Int(i) => Some(*i as f64),
        Datum::Decimal(x) => Some(types::dec_to_f64(x)),
        _ => None,
    }
}

fn as_i64(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int(i) => Some(*i),
        Datum::Bool(b) => Some(i64::from(*b)),
        _ => None,
    }
}

fn encode_binary(d: &Datum, ty: &Type, out: &mut Vec<u8>) -> Result<()> {
    let text = |out: &mut Vec<u8>| {
        out.extend_from_slice(d.to_pg_text().unwrap_or_default().as_bytes());
    };
    match (ty, d) {
        (Type::Bool, Datum::Bool(b)) => out.push(u8::from(*b)),
        (Type::Int2, _) => {
            let i = as_i64(d).ok_or_else(|| mismatch(d, ty))?;
            let v = i16::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        (Type::Int4, _) => {
            let i = as_i64(d).ok_or_else(|| mismatch(d, ty))?;
            let v = i32::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        (Type::Int8, _) => {
            let i = as_i64(d).ok_or_else(|| mismatch(d, ty))?;
            out.extend_from_slice(&i.to_be_bytes());
        }
        (Type::Oid, _) => {
            let i = as_i64(d).ok_or_else(|| mismatch(d, ty))?;
            let v = u32::try_from(i).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        (Type::Float4, _) => {
            let f = as_f64(d).ok_or_else(|| mismatch(d, ty))?;
            out.extend_from_slice(&(f as f32).to_be_bytes());
        }
        (Type::Float8, _) => {
            let f = as_f64(d).ok_or_else(|| mismatch(d, ty))?;
            out.extend_from_slice(&f.to_be_bytes());
        }
        (Type::Decimal { .. }, Datum::Decimal(x)) => encode_numeric(x, out),
        (Type::Decimal { .. }, Datum::Int(i)) => encode_numeric(&Decimal::from(*i), out),
        (Type::Bytes, Datum::Bytes(b)) => out.extend_from_slice(b),
        (Type::Uuid, Datum::Uuid(u)) => out.extend_from_slice(u.as_bytes()),
        (Type::Date, Datum::Date(day)) => {
            let days = (*day - pg_epoch().date()).num_days();
            let v = i32::try_from(days).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&v.to_be_bytes());
        }
        (Type::Timestamp, Datum::Timestamp(t)) => {
            out.extend_from_slice(&timestamp_micros(t, ty)?.to_be_bytes());
        }
        (Type::TimestampTz, Datum::TimestampTz(t)) => {
            out.extend_from_slice(&timestamp_micros(&t.naive_utc(), ty)?.to_be_bytes());
        }
        (Type::TimestampTz, Datum::Timestamp(t)) => {
            out.extend_from_slice(&timestamp_micros(t, ty)?.to_be_bytes());
        }
        (Type::Interval, Datum::Interval(i)) => {
            let days = i32::try_from(i.days).map_err(|_| out_of_range(ty))?;
            let months = i32::try_from(i.months).map_err(|_| out_of_range(ty))?;
            out.extend_from_slice(&i.micros.to_be_bytes());
            out.extend_from_slice(&days.to_be_bytes());
            out.extend_from_slice(&months.to_be_bytes());
        }
        (Type::Jsonb, Datum::Json(_) | Datum::String(_)) => {
            out.push(1);
            text(out);
        }
        (Type::Array(elem), Datum::Array(items)) => encode_array(items, elem, out)?,
        (Type::String | Type::Varchar(_) | Type::Char(_), _) => text(out),
        _ => return Err(mismatch(d, ty)),
    }
    Ok(())
}

fn mismatch(d: &Datum, ty: &Type) -> SqlError {
    SqlError::internal(format!(
        "cannot send a {} value as {} in binary",
        d.natural_type().error_name(),
        ty.error_name()
    ))
}

fn timestamp_micros(t: &NaiveDateTime, ty: &Type) -> Result<i64> {
    (*t - pg_epoch())
        .num_microseconds()
        .ok_or_else(|| out_of_range(ty))
}

fn encode_array(items: &[Datum], elem: &Type, out: &mut Vec<u8>) -> Result<()> {
    let elem = wire_type(elem);
    let ndim: i32 = if items.is_empty() { 0 } else { 1 };
    let has_null = items.iter().any(Datum::is_null);
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&i32::from(has_null).to_be_bytes());
    out.extend_from_slice(&elem.oid().to_be_bytes());
    if ndim == 1 {
        let len = i32::try_from(items.len()).map_err(|_| out_of_range(&elem))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&1i32.to_be_bytes());
    }
    for item in items {
        if item.is_null() {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            continue;
        }
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        encode_binary(item, &elem, out)?;
        let len = i32::try_from(out.len() - at - 4).map_err(|_| out_of_range(&elem))?;
        out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
    Ok(())
}

/// PostgreSQL's binary `numeric`: digit count, weight (of the first digit, in base 10,000
/// groups), sign, display scale, then the base 10,000 digits without leading or trailing
/// zero groups.
pub fn encode_numeric(x: &Decimal, out: &mut Vec<u8>) {
    let scale = x.scale();
    let abs = x.abs().to_string();
    let (int_part, frac_part) = abs.split_once('.').unwrap_or((abs.as_str(), ""));
    let int_part = int_part.trim_start_matches('0');
    let int_pad = (4 - int_part.len() % 4) % 4;
    let int_digits: String = "0".repeat(int_pad) + int_part;
    let frac_pad = (4 - frac_part.len() % 4) % 4;
    let frac_digits: String = frac_part.to_string() + &"0".repeat(frac_pad);
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes()
            .chunks(4)
            .map(|c| c.iter().fold(0i16, |acc, b| acc * 10 + i16::from(b - b'0')))
            .collect()
    };
    let mut digits = group(&int_digits);
    let mut weight = digits.len() as i16 - 1;
    digits.extend(group(&frac_digits));
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if x.is_sign_negative() && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(scale as u16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

/// A cursor over untrusted bytes.
struct Reader<'a> {
    buf: &'a [u8],
    ty: &'a Type,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(bad(self.ty, "value too short"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn end(&self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(bad(self.ty, "trailing bytes"))
        }
    }
}

/// Decodes a parameter value sent in `format` for a parameter of type `ty`.
pub fn decode(bytes: &[u8], ty: &Type, format: i16) -> Result<Datum> {
    match format {
        TEXT => {
            let s = std::str::from_utf8(bytes).map_err(|_| {
                SqlError::new(
                    errcode::CHARACTER_NOT_IN_REPERTOIRE,
                    "invalid byte sequence for encoding \"UTF8\"",
                )
            })?;
            match ty {
                Type::Unknown => Ok(Datum::String(s.to_string())),
                _ => types::parse_datum(s, ty),
            }
        }
        BINARY => decode_binary(bytes, ty),
        other => Err(SqlError::new(
            errcode::PROTOCOL_VIOLATION,
            format!("unsupported format code: {other}"),
        )),
    }
}

fn decode_binary(bytes: &[u8], ty: &Type) -> Result<Datum> {
    let mut r = Reader { buf: bytes, ty };
    let d = match ty {
        Type::Bool => match r.array::<1>()? {
            [0] => Datum::Bool(false),
            [1] => Datum::Bool(true),
            _ => return Err(bad(ty, "not 0 or 1")),
        },
        Type::Int2 => Datum::Int(i64::from(r.i16()?)),
        Type::Int4 => Datum::Int(i64::from(r.i32()?)),
        Type::Int8 => Datum::Int(r.i64()?),
        Type::Oid => Datum::Int(i64::from(u32::from_be_bytes(r.array()?))),
        Type::Float4 => Datum::Float(f64::from(f32::from_be_bytes(r.array()?))),
        Type::Float8 => Datum::Float(f64::from_be_bytes(r.array()?)),
        Type::Decimal { .. } => {
            let d = decode_numeric(&mut r)?;
            return types::cast(d, ty);
        }
        Type::Unknown | Type::String | Type::Varchar(_) | Type::Char(_) | Type::Enum { .. } => {
            let s =
                std::str::from_utf8(r.take(bytes.len())?).map_err(|_| bad(ty, "invalid UTF-8"))?;
            return types::parse_datum(s, ty);
        }
        Type::Bytes => Datum::Bytes(r.take(bytes.len())?.to_vec()),
        Type::Uuid => Datum::Uuid(uuid::Uuid::from_bytes(r.array()?)),
        Type::Date => {
            let days = r.i32()?;
            let d = pg_epoch()
                .date()
                .checked_add_signed(TimeDelta::days(i64::from(days)))
                .ok_or_else(|| out_of_range(ty))?;
            Datum::Date(d)
        }
        Type::Timestamp | Type::TimestampTz => {
            let micros = r.i64()?;
            let t = pg_epoch()
                .checked_add_signed(TimeDelta::microseconds(micros))
                .ok_or_else(|| out_of_range(ty))?;
            if *ty == Type::Timestamp {
                Datum::Timestamp(t)
            } else {
                Datum::TimestampTz(DateTime::<Utc>::from_naive_utc_and_offset(t, Utc))
            }
        }
        Type::Interval => {
            let micros = r.i64()?;
            let days = r.i32()?;
            let months = r.i32()?;
            Datum::Interval(Interval {
                months: i64::from(months),
                days: i64::from(days),
                micros,
            })
        }
        Type::Jsonb => {
            let rest = r.take(bytes.len())?;
            let text = match rest.split_first() {
                Some((1, text)) => text,
                _ => return Err(bad(ty, "unsupported jsonb version")),
            };
            let s = std::str::from_utf8(text).map_err(|_| bad(ty, "invalid UTF-8"))?;
            return types::parse_datum(s, ty);
        }
        Type::Array(elem) => decode_array(&mut r, elem)?,
    };
    r.end()?;
    Ok(d)
}

fn decode_array(r: &mut Reader<'_>, elem: &Type) -> Result<Datum> {
    let ty = r.ty;
    let ndim = r.i32()?;
    let _has_null = r.i32()?;
    let _elem_oid = r.i32()?;
    match ndim {
        0 => return Ok(Datum::Array(Vec::new())),
        1 => {}
        _ => return Err(SqlError::unimplemented("multi-dimensional arrays")),
    }
    let len = r.i32()?;
    let _lower = r.i32()?;
    let len = usize::try_from(len).map_err(|_| bad(ty, "negative array length"))?;
    // Each element takes at least its four-byte length.
    if len > r.buf.len() / 4 {
        return Err(bad(ty, "array length exceeds the value"));
    }
    let mut items = Vec::with_capacity(len);
    for _ in 0..len {
        let n = r.i32()?;
        if n < 0 {
            items.push(Datum::Null);
            continue;
        }
        let bytes = r.take(usize::try_from(n).unwrap_or(usize::MAX))?;
        items.push(decode_binary(bytes, elem)?);
    }
    Ok(Datum::Array(items))
}

fn decode_numeric(r: &mut Reader<'_>) -> Result<Datum> {
    let ty = r.ty;
    let ndigits = r.i16()?;
    let weight = r.i16()?;
    let sign = u16::from_be_bytes(r.array()?);
    let dscale = u16::from_be_bytes(r.array()?);
    let ndigits = usize::try_from(ndigits).map_err(|_| bad(ty, "negative digit count"))?;
    let mut digits = Vec::with_capacity(ndigits.min(r.buf.len() / 2));
    for _ in 0..ndigits {
        let d = r.i16()?;
        if !(0..10_000).contains(&d) {
            return Err(bad(ty, "digit out of range"));
        }
        digits.push(d);
    }
    match sign {
        0 | 0x4000 => {}
        0xC000 => return Err(SqlError::unimplemented("NaN numeric parameters")),
        _ => return Err(bad(ty, "invalid sign")),
    }
    // A Decimal holds 28 digits: 8 groups either side of the point are already too many.
    if !(-8..=8).contains(&weight) || usize::from(dscale) > 28 {
        return Err(out_of_range(ty));
    }
    let weight = i32::from(weight);
    let digit = |p: i32| -> i16 {
        usize::try_from(weight - p)
            .ok()
            .and_then(|i| digits.get(i).copied())
            .unwrap_or(0)
    };
    let mut text = String::new();
    if sign == 0x4000 {
        text.push('-');
    }
    if weight < 0 {
        text.push('0');
    }
    for p in (0..=weight).rev() {
        text.push_str(&format!("{:04}", digit(p)));
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut p = -1;
        while frac.len() < usize::from(dscale) {
            frac.push_str(&format!("{:04}", digit(p)));
            p -= 1;
        }
        frac.truncate(usize::from(dscale));
        text.push('.');
        text.push_str(&frac);
    }
    Decimal::from_str(&text)
        .map(Datum::Decimal)
        .map_err(|_| out_of_range(ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(d: &Datum, ty: &Type) -> Vec<u8> {
        let mut out = Vec::new();
        encode(d, ty, BINARY, &mut out).expect("encode");
        out
    }

    fn roundtrip(d: Datum, ty: Type) {
        let bytes = bin(&d, &ty);
        assert_eq!(decode(&bytes, &ty, BINARY).expect("decode"), d, "{ty:?}");
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn numeric_matches_postgres() {
        // numeric_send(12345.678): ndigits 3, weight 1, sign +, dscale 3, digits 1 2345 6780.
        assert_eq!(
            bin(&Datum::Decimal(dec("12345.678")), &Type::decimal()),
            vec![0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]
        );
        // -0.05: one digit 500 at weight -1, scale 2.
        assert_eq!(
            bin(&Datum::Decimal(dec("-0.05")), &Type::decimal()),
            vec![0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4]
        );
        // 0 and 10000.
        assert_eq!(
            bin(&Datum::Decimal(dec("0")), &Type::decimal()),
            vec![0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            bin(&Datum::Decimal(dec("10000")), &Type::decimal()),
            vec![0, 1, 0, 1, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn roundtrips() {
        for s in [
            "0",
            "1.5",
            "-12345.678",
            "0.0001",
            "99999999.99999999",
            "1e-10",
            "100",
        ] {
            let d = Decimal::from_str(s).or_else(|_| Decimal::from_scientific(s));
            roundtrip(Datum::Decimal(d.expect("decimal")), Type::decimal());
        }
        roundtrip(Datum::Int(-7), Type::Int2);
        roundtrip(Datum::Int(1 << 30), Type::Int4);
        roundtrip(Datum::Int(i64::MIN), Type::Int8);
        roundtrip(Datum::Float(1.25), Type::Float4);
        roundtrip(Datum::Float(-0.1), Type::Float8);
        roundtrip(Datum::Bool(true), Type::Bool);
        roundtrip(Datum::String("héllo".into()), Type::String);
        roundtrip(Datum::Bytes(vec![0, 255, 7]), Type::Bytes);
        roundtrip(Datum::Uuid(uuid::Uuid::from_u128(42)), Type::Uuid);
        let day = NaiveDate::from_ymd_opt(1999, 12, 31).expect("date");
        roundtrip(Datum::Date(day), Type::Date);
        let ts = day.and_hms_micro_opt(23, 59, 58, 123_456).expect("ts");
        roundtrip(Datum::Timestamp(ts), Type::Timestamp);
        roundtrip(Datum::TimestampTz(ts.and_utc()), Type::TimestampTz);
        roundtrip(
            Datum::Interval(Interval {
                months: 14,
                days: -3,
                micros: 5_000_001,
            }),
            Type::Interval,
        );
        roundtrip(Datum::Json(serde_json::json!({"a": [1, 2]})), Type::Jsonb);
        roundtrip(
            Datum::Array(vec![Datum::Int(1), Datum::Null, Datum::Int(3)]),
            Type::Array(Box::new(Type::Int8)),
        );
        roundtrip(Datum::Array(vec![]), Type::Array(Box::new(Type::String)));
    }

    #[test]
    fn postgres_epoch_values() {
        let day = NaiveDate::from_ymd_opt(2000, 1, 2).expect("date");
        assert_eq!(bin(&Datum::Date(day), &Type::Date), vec![0, 0, 0, 1]);
        assert_eq!(
            bin(&Datum::Int(1), &Type::Int8),
            vec![0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(
            bin(&Datum::Json(serde_json::json!(1)), &Type::Jsonb),
            b"\x011"
        );
    }

    #[test]
    fn text_format() {
        let mut out = Vec::new();
        encode(&Datum::Bool(false), &Type::Bool, TEXT, &mut out).expect("encode");
        assert_eq!(out, b"f");
        assert_eq!(
            decode(b"42", &Type::Int8, TEXT).expect("decode"),
            Datum::Int(42)
        );
        assert!(decode(b"x", &Type::Int8, TEXT).is_err());
        assert!(decode(&[0xff], &Type::String, TEXT).is_err());
        assert!(decode(b"1", &Type::Int8, 7).is_err());
    }

    #[test]
    fn malformed_binary_fails() {
        for ty in [
            Type::Bool,
            Type::Int2,
            Type::Int4,
            Type::Int8,
            Type::Float8,
            Type::Uuid,
            Type::Date,
            Type::Timestamp,
            Type::Interval,
            Type::Jsonb,
            Type::decimal(),
            Type::Array(Box::new(Type::Int8)),
        ] {
            assert!(decode(&[1, 2, 3], &ty, BINARY).is_err(), "{ty:?}");
        }
        // numeric: a digit of 10000 and an absurd weight.
        assert!(
            decode(
                &[0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10],
                &Type::decimal(),
                BINARY
            )
            .is_err()
        );
        assert!(decode(&[0, 1, 0x7f, 0, 0, 0, 0, 0, 0, 1], &Type::decimal(), BINARY).is_err());
        // array: a huge element count.
        let mut a = Vec::new();
        for v in [1i32, 0, 20, 0x7fff_ffff, 1] {
            a.extend_from_slice(&v.to_be_bytes());
        }
        assert!(decode(&a, &Type::Array(Box::new(Type::Int8)), BINARY).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            for ty in [
                Type::Bool, Type::Int2, Type::Int4, Type::Int8, Type::Float4, Type::Float8,
                Type::decimal(), Type::String, Type::Bytes, Type::Uuid, Type::Date,
                Type::Timestamp, Type::TimestampTz, Type::Interval, Type::Jsonb, Type::Oid,
                Type::Array(Box::new(Type::Int4)), Type::Array(Box::new(Type::decimal())),
            ] {
                let _ = decode(&bytes, &ty, BINARY);
                let _ = decode(&bytes, &ty, TEXT);
            }
        }
    }
}
