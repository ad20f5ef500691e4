//! Rows as KV pairs.
//!
//! Every index entry of a table lives under `/Table/<table id>/<index id>/`, followed by the
//! key columns in the order-preserving forms of `base::encoding` (descending columns inverted):
//!
//! | entry | key | value |
//! |---|---|---|
//! | primary index (id 1) | pk columns | the other columns, tagged by column id |
//! | non-unique secondary | index columns, then the pk columns not among them | `STORING` columns |
//! | unique secondary | index columns | pk columns not among them, then `STORING` columns |
//! | unique secondary, some index column NULL | as non-unique (NULLs never collide) | as non-unique |
//!
//! A value is a version byte ([`VALUE_VERSION`]) followed by `(column id, tag, payload)` triples
//! for the non-NULL columns. Tagging by column id means ADD COLUMN and DROP COLUMN need no
//! rewrite: an absent id reads as NULL and an unknown id is skipped. The tags make a value
//! self-describing, so BACKUP and CHANGEFEED decode rows with [`decode_row`] and the table
//! descriptor alone.
//!
//! Key forms per type: integers, dates (days), timestamps (microseconds) as varints; floats
//! with `encode_float`; strings, bytes, UUIDs and enum labels with `encode_bytes`; decimals as
//! sign marker + exponent + digits (negatives inverted); NULL as `0x00` (sorts first). JSONB
//! and arrays cannot be key columns.

use base::encoding as enc;
use base::{Key, errcode};
use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;

use crate::catalog::descriptor::{ColumnId, IndexDesc, PRIMARY_INDEX_ID, TableDesc};
use crate::error::{Result, SqlError};
use crate::types::{Datum, Interval, Type};

/// A row: one datum per column of its table, in `TableDesc::columns` order.
pub type Row = Vec<Datum>;

/// The first byte of every encoded value.
pub const VALUE_VERSION: u8 = 0x01;

const DEC_NEG: u8 = 0x14;
const DEC_ZERO: u8 = 0x15;
const DEC_POS: u8 = 0x16;

fn corrupt(what: impl std::fmt::Display) -> SqlError {
    SqlError::internal(format!("corrupt row encoding: {what}"))
}

fn unix_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Appends the key form of `d` (of type `ty`), inverted when `desc`.
pub fn encode_key_datum(buf: &mut Vec<u8>, d: &Datum, ty: &Type, desc: bool) -> Result<()> {
    let start = buf.len();
    match d {
        Datum::Null => buf.push(enc::NULL_ASC),
        Datum::Bool(b) => enc::encode_varint(buf, i64::from(*b)),
        Datum::Int(i) => enc::encode_varint(buf, *i),
        Datum::Float(f) => enc::encode_float(buf, *f),
        Datum::Decimal(x) => encode_decimal_key(buf, x),
        Datum::String(s) => enc::encode_bytes(buf, s.as_bytes()),
        Datum::Bytes(b) => enc::encode_bytes(buf, b),
        Datum::Uuid(u) => enc::encode_bytes(buf, u.as_bytes()),
        Datum::Date(d) => enc::encode_varint(buf, (*d - unix_epoch()).num_days()),
        Datum::Timestamp(t) => enc::encode_varint(buf, t.and_utc().timestamp_micros()),
        Datum::TimestampTz(t) => enc::encode_varint(buf, t.timestamp_micros()),
        Datum::Interval(i) => {
            enc::encode_varint(buf, i.months);
            enc::encode_varint(buf, i.days);
            enc::encode_varint(buf, i.micros);
        }
        Datum::Json(_) | Datum::Array(_) => {
            return Err(SqlError::new(
                errcode::FEATURE_NOT_SUPPORTED,
                format!(
                    "unimplemented: column with type {} cannot be part of an index key",
                    ty.sql_name()
                ),
            ));
        }
    }
    if desc {
        enc::invert_from(buf, start);
    }
    Ok(())
}

fn encode_decimal_key(buf: &mut Vec<u8>, d: &Decimal) {
    if d.is_zero() {
        buf.push(DEC_ZERO);
        return;
    }
    let (exp, digits) = decimal_parts(d);
    if d.is_sign_positive() {
        buf.push(DEC_POS);
        enc::encode_varint(buf, exp);
        enc::encode_bytes(buf, digits.as_bytes());
    } else {
        buf.push(DEC_NEG);
        let start = buf.len();
        enc::encode_varint(buf, exp);
        enc::encode_bytes(buf, digits.as_bytes());
        enc::invert_from(buf, start);
    }
}

/// `|d| = 0.<digits> × 10^exp`, digits without trailing zeros.
fn decimal_parts(d: &Decimal) -> (i64, String) {
    let s = d.abs().normalize().to_string();
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    if !int.is_empty() {
        let digits = format!("{int}{frac}");
        return (int.len() as i64, digits.trim_end_matches('0').to_string());
    }
    let lead = frac.len() - frac.trim_start_matches('0').len();
    (
        -(lead as i64),
        frac.trim_start_matches('0')
            .trim_end_matches('0')
            .to_string(),
    )
}

/// Digits a decimal can have either side of its point (rust_decimal holds 28 or 29).
const MAX_DECIMAL_DIGITS: i64 = 40;

fn decimal_from_parts(neg: bool, exp: i64, digits: &str) -> Result<Decimal> {
    let n = i64::try_from(digits.len()).map_err(|_| corrupt("decimal digits"))?;
    if !(-MAX_DECIMAL_DIGITS..=MAX_DECIMAL_DIGITS).contains(&exp) || n > MAX_DECIMAL_DIGITS {
        return Err(corrupt("decimal exponent"));
    }
    // Both are now small: the conversions and subtractions below cannot fail.
    let zeros = |k: i64| "0".repeat(usize::try_from(k).unwrap_or(0));
    let text = if exp >= n {
        format!("{digits}{}", zeros(exp - n))
    } else if exp > 0 {
        let at = usize::try_from(exp).unwrap_or(0);
        let (int, frac) = digits
            .split_at_checked(at)
            .ok_or_else(|| corrupt("decimal digits"))?;
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", zeros(-exp))
    };
    let d: Decimal = text.parse().map_err(|_| corrupt("decimal"))?;
    Ok(if neg { -d } else { d })
}

/// Decodes one key datum of type `ty`; returns it and the rest.
pub fn decode_key_datum<'a>(buf: &'a [u8], ty: &Type, desc: bool) -> Result<(Datum, &'a [u8])> {
    if desc {
        let inverted: Vec<u8> = buf.iter().map(|b| !b).collect();
        let (d, rest) = decode_key_datum(&inverted, ty, false)?;
        let used = inverted.len() - rest.len();
        return Ok((d, &buf[used..]));
    }
    let first = *buf.first().ok_or_else(|| corrupt("truncated key"))?;
    if first == enc::NULL_ASC {
        return Ok((Datum::Null, &buf[1..]));
    }
    let e = |err: enc::DecodeError| corrupt(err);
    Ok(match ty {
        Type::Bool => {
            let (v, rest) = enc::decode_varint(buf).map_err(e)?;
            (Datum::Bool(v != 0), rest)
        }
        Type::Int2 | Type::Int4 | Type::Int8 | Type::Oid => {
            let (v, rest) = enc::decode_varint(buf).map_err(e)?;
            (Datum::Int(v), rest)
        }
        Type::Float4 | Type::Float8 => {
            let (v, rest) = enc::decode_float(buf).map_err(e)?;
            (Datum::Float(v), rest)
        }
        Type::Decimal { .. } => decode_decimal_key(buf)?,
        Type::String | Type::Varchar(_) | Type::Char(_) | Type::Enum { .. } | Type::Unknown => {
            let (v, rest) = enc::decode_bytes(buf).map_err(e)?;
            (
                Datum::String(String::from_utf8(v).map_err(|_| corrupt("utf8"))?),
                rest,
            )
        }
        Type::Bytes => {
            let (v, rest) = enc::decode_bytes(buf).map_err(e)?;
            (Datum::Bytes(v), rest)
        }
        Type::Uuid => {
            let (v, rest) = enc::decode_bytes(buf).map_err(e)?;
            (
                Datum::Uuid(uuid::Uuid::from_slice(&v).map_err(|_| corrupt("uuid"))?),
                rest,
            )
        }
        Type::Date => {
            let (v, rest) = enc::decode_varint(buf).map_err(e)?;
            (Datum::Date(date_from_days(v)?), rest)
        }
        Type::Timestamp => {
            let (v, rest) = enc::decode_varint(buf).map_err(e)?;
            (Datum::Timestamp(ts_from_micros(v)?.naive_utc()), rest)
        }
        Type::TimestampTz => {
            let (v, rest) = enc::decode_varint(buf).map_err(e)?;
            (Datum::TimestampTz(ts_from_micros(v)?), rest)
        }
        Type::Interval => decode_interval(buf)?,
        Type::Jsonb | Type::Array(_) => return Err(corrupt("unindexable type in key")),
    })
}

/// An interval, in keys and values alike: months, days and microseconds as varints.
fn decode_interval(buf: &[u8]) -> Result<(Datum, &[u8])> {
    let e = |err: enc::DecodeError| corrupt(err);
    let (months, rest) = enc::decode_varint(buf).map_err(e)?;
    let (days, rest) = enc::decode_varint(rest).map_err(e)?;
    let (micros, rest) = enc::decode_varint(rest).map_err(e)?;
    let interval = Interval {
        months,
        days,
        micros,
    };
    Ok((Datum::Interval(interval), rest))
}

fn decode_decimal_key(buf: &[u8]) -> Result<(Datum, &[u8])> {
    let e = |err: enc::DecodeError| corrupt(err);
    match buf[0] {
        DEC_ZERO => Ok((Datum::Decimal(Decimal::ZERO), &buf[1..])),
        DEC_POS => {
            let (exp, rest) = enc::decode_varint(&buf[1..]).map_err(e)?;
            let (digits, rest) = enc::decode_bytes(rest).map_err(e)?;
            let digits = String::from_utf8(digits).map_err(|_| corrupt("decimal digits"))?;
            Ok((
                Datum::Decimal(decimal_from_parts(false, exp, &digits)?),
                rest,
            ))
        }
        DEC_NEG => {
            let inverted: Vec<u8> = buf[1..].iter().map(|b| !b).collect();
            let (exp, rest) = enc::decode_varint(&inverted).map_err(e)?;
            let (digits, rest) = enc::decode_bytes(rest).map_err(e)?;
            let used = inverted.len() - rest.len();
            let digits = String::from_utf8(digits).map_err(|_| corrupt("decimal digits"))?;
            Ok((
                Datum::Decimal(decimal_from_parts(true, exp, &digits)?),
                &buf[1 + used..],
            ))
        }
        other => Err(corrupt(format!("decimal marker {other:#x}"))),
    }
}

fn date_from_days(days: i64) -> Result<NaiveDate> {
    unix_epoch()
        .checked_add_signed(chrono::Duration::try_days(days).ok_or_else(|| corrupt("date"))?)
        .ok_or_else(|| corrupt("date"))
}

fn ts_from_micros(v: i64) -> Result<DateTime<chrono::Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| corrupt("timestamp"))
}

// Value tags.
const T_NULL: u8 = 0;
const T_BOOL: u8 = 1;
const T_INT: u8 = 2;
const T_FLOAT: u8 = 3;
const T_DECIMAL: u8 = 4;
const T_STRING: u8 = 5;
const T_BYTES: u8 = 6;
const T_UUID: u8 = 7;
const T_DATE: u8 = 8;
const T_TS: u8 = 9;
const T_TSTZ: u8 = 10;
const T_INTERVAL: u8 = 11;
const T_JSON: u8 = 12;
const T_ARRAY: u8 = 13;

fn encode_value_datum(buf: &mut Vec<u8>, d: &Datum) {
    match d {
        Datum::Null => buf.push(T_NULL),
        Datum::Bool(b) => {
            buf.push(T_BOOL);
            buf.push(u8::from(*b));
        }
        Datum::Int(i) => {
            buf.push(T_INT);
            enc::encode_varint(buf, *i);
        }
        Datum::Float(f) => {
            buf.push(T_FLOAT);
            buf.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        Datum::Decimal(x) => {
            buf.push(T_DECIMAL);
            enc::encode_bytes(buf, x.to_string().as_bytes());
        }
        Datum::String(s) => {
            buf.push(T_STRING);
            enc::encode_bytes(buf, s.as_bytes());
        }
        Datum::Bytes(b) => {
            buf.push(T_BYTES);
            enc::encode_bytes(buf, b);
        }
        Datum::Uuid(u) => {
            buf.push(T_UUID);
            buf.extend_from_slice(u.as_bytes());
        }
        Datum::Date(d) => {
            buf.push(T_DATE);
            enc::encode_varint(buf, (*d - unix_epoch()).num_days());
        }
        Datum::Timestamp(t) => {
            buf.push(T_TS);
            enc::encode_varint(buf, t.and_utc().timestamp_micros());
        }
        Datum::TimestampTz(t) => {
            buf.push(T_TSTZ);
            enc::encode_varint(buf, t.timestamp_micros());
        }
        Datum::Interval(i) => {
            buf.push(T_INTERVAL);
            enc::encode_varint(buf, i.months);
            enc::encode_varint(buf, i.days);
            enc::encode_varint(buf, i.micros);
        }
        Datum::Json(j) => {
            buf.push(T_JSON);
            enc::encode_bytes(buf, j.to_string().as_bytes());
        }
        Datum::Array(a) => {
            buf.push(T_ARRAY);
            enc::encode_uvarint(buf, a.len() as u64);
            for x in a {
                encode_value_datum(buf, x);
            }
        }
    }
}

fn decode_value_datum(buf: &[u8]) -> Result<(Datum, &[u8])> {
    let e = |err: enc::DecodeError| corrupt(err);
    let (&tag, rest) = buf
        .split_first()
        .ok_or_else(|| corrupt("truncated value"))?;
    let string = |v: Vec<u8>| String::from_utf8(v).map_err(|_| corrupt("utf8"));
    Ok(match tag {
        T_NULL => (Datum::Null, rest),
        T_BOOL => {
            let (&b, rest) = rest.split_first().ok_or_else(|| corrupt("bool"))?;
            (Datum::Bool(b != 0), rest)
        }
        T_INT => {
            let (v, rest) = enc::decode_varint(rest).map_err(e)?;
            (Datum::Int(v), rest)
        }
        T_FLOAT => {
            let raw: [u8; 8] = rest
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| corrupt("float"))?;
            (
                Datum::Float(f64::from_bits(u64::from_be_bytes(raw))),
                &rest[8..],
            )
        }
        T_DECIMAL => {
            let (v, rest) = enc::decode_bytes(rest).map_err(e)?;
            let d = string(v)?.parse().map_err(|_| corrupt("decimal"))?;
            (Datum::Decimal(d), rest)
        }
        T_STRING => {
            let (v, rest) = enc::decode_bytes(rest).map_err(e)?;
            (Datum::String(string(v)?), rest)
        }
        T_BYTES => {
            let (v, rest) = enc::decode_bytes(rest).map_err(e)?;
            (Datum::Bytes(v), rest)
        }
        T_UUID => {
            let raw = rest.get(..16).ok_or_else(|| corrupt("uuid"))?;
            (
                Datum::Uuid(uuid::Uuid::from_slice(raw).map_err(|_| corrupt("uuid"))?),
                &rest[16..],
            )
        }
        T_DATE => {
            let (v, rest) = enc::decode_varint(rest).map_err(e)?;
            (Datum::Date(date_from_days(v)?), rest)
        }
        T_TS => {
            let (v, rest) = enc::decode_varint(rest).map_err(e)?;
            (Datum::Timestamp(ts_from_micros(v)?.naive_utc()), rest)
        }
        T_TSTZ => {
            let (v, rest) = enc::decode_varint(rest).map_err(e)?;
            (Datum::TimestampTz(ts_from_micros(v)?), rest)
        }
        T_INTERVAL => decode_interval(rest)?,
        T_JSON => {
            let (v, rest) = enc::decode_bytes(rest).map_err(e)?;
            let j = serde_json::from_slice(&v).map_err(|_| corrupt("json"))?;
            (Datum::Json(j), rest)
        }
        T_ARRAY => {
            let (n, mut rest) = enc::decode_uvarint(rest).map_err(e)?;
            let mut out = Vec::new();
            for _ in 0..n {
                let (d, r) = decode_value_datum(rest)?;
                out.push(d);
                rest = r;
            }
            (Datum::Array(out), rest)
        }
        other => return Err(corrupt(format!("value tag {other}"))),
    })
}

/// Encodes `(column id, datum)` pairs as a value; NULLs are left out.
pub fn encode_value<'a>(cols: impl IntoIterator<Item = (ColumnId, &'a Datum)>) -> Vec<u8> {
    let mut buf = vec![VALUE_VERSION];
    for (id, d) in cols {
        if d.is_null() {
            continue;
        }
        enc::encode_uvarint(&mut buf, u64::from(id));
        encode_value_datum(&mut buf, d);
    }
    buf
}

/// Decodes a value into `(column id, datum)` pairs.
pub fn decode_value(buf: &[u8]) -> Result<Vec<(ColumnId, Datum)>> {
    let (&version, mut rest) = buf.split_first().ok_or_else(|| corrupt("empty value"))?;
    if version != VALUE_VERSION {
        return Err(corrupt(format!("value version {version}")));
    }
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (id, r) = enc::decode_uvarint(rest).map_err(corrupt)?;
        let (d, r) = decode_value_datum(r)?;
        out.push((u32::try_from(id).map_err(|_| corrupt("column id"))?, d));
        rest = r;
    }
    Ok(out)
}

fn column_types(table: &TableDesc, ids: &[ColumnId]) -> Result<Vec<(usize, Type)>> {
    ids.iter()
        .map(|id| {
            table
                .column_pos(*id)
                .map(|p| (p, table.columns[p].ty.clone()))
                .ok_or_else(|| corrupt(format!("unknown column id {id}")))
        })
        .collect()
}

/// The key prefix of an index: `/Table/<id>/<index id>`.
pub fn index_prefix(table: &TableDesc, index: &IndexDesc) -> Key {
    base::keys::index_prefix(table.id, u64::from(index.id))
}

/// The primary key of a row.
pub fn primary_key(table: &TableDesc, row: &[Datum]) -> Result<Key> {
    let idx = &table.primary_index;
    let mut key = index_prefix(table, idx).0;
    encode_index_columns(&mut key, table, idx, &idx.columns, row)?;
    Ok(Key(key))
}

/// The primary key from the pk column values alone (in primary index order).
pub fn primary_key_from_values(table: &TableDesc, values: &[Datum]) -> Result<Key> {
    let idx = &table.primary_index;
    let mut key = index_prefix(table, idx).0;
    for ((id, desc), d) in idx.columns.iter().zip(&idx.descending).zip(values) {
        let ty = &table.column(*id).ok_or_else(|| corrupt("pk column"))?.ty;
        encode_key_datum(&mut key, d, ty, *desc)?;
    }
    Ok(Key(key))
}

fn encode_index_columns(
    key: &mut Vec<u8>,
    table: &TableDesc,
    idx: &IndexDesc,
    ids: &[ColumnId],
    row: &[Datum],
) -> Result<()> {
    for (i, id) in ids.iter().enumerate() {
        let pos = table
            .column_pos(*id)
            .ok_or_else(|| corrupt(format!("unknown column id {id}")))?;
        let desc = idx.descending.get(i).copied().unwrap_or(false);
        encode_key_datum(key, &row[pos], &table.columns[pos].ty, desc)?;
    }
    Ok(())
}

/// The primary index value of a row: every column not in the primary key.
pub fn primary_value(table: &TableDesc, row: &[Datum]) -> Vec<u8> {
    let pk = &table.primary_index.columns;
    encode_value(
        table
            .columns
            .iter()
            .zip(row)
            .filter(|(c, _)| !pk.contains(&c.id))
            .map(|(c, d)| (c.id, d)),
    )
}

/// The key and value of a row's entry in a secondary index.
pub fn secondary_entry(
    table: &TableDesc,
    idx: &IndexDesc,
    row: &[Datum],
) -> Result<(Key, Vec<u8>)> {
    let mut key = index_prefix(table, idx).0;
    encode_index_columns(&mut key, table, idx, &idx.columns, row)?;
    let pk_extra: Vec<ColumnId> = table
        .primary_index
        .columns
        .iter()
        .filter(|id| !idx.columns.contains(id))
        .copied()
        .collect();
    let any_null = idx
        .columns
        .iter()
        .any(|id| table.column_pos(*id).is_some_and(|p| row[p].is_null()));
    let datum = |id: &ColumnId| -> (ColumnId, &Datum) {
        let pos = table.column_pos(*id).unwrap_or(0);
        (*id, &row[pos])
    };
    if idx.unique && !any_null {
        let value = encode_value(pk_extra.iter().chain(idx.stored.iter()).map(datum));
        return Ok((Key(key), value));
    }
    let pk_idx = &table.primary_index;
    for id in &pk_extra {
        let i = pk_idx.columns.iter().position(|c| c == id).unwrap_or(0);
        let pos = table.column_pos(*id).ok_or_else(|| corrupt("pk column"))?;
        let desc = pk_idx.descending.get(i).copied().unwrap_or(false);
        encode_key_datum(&mut key, &row[pos], &table.columns[pos].ty, desc)?;
    }
    Ok((Key(key), encode_value(idx.stored.iter().map(datum))))
}

/// Whether a secondary entry of a unique index must be unique (no key column is NULL).
pub fn enforces_uniqueness(table: &TableDesc, idx: &IndexDesc, row: &[Datum]) -> bool {
    idx.unique
        && idx
            .columns
            .iter()
            .all(|id| table.column_pos(*id).is_some_and(|p| !row[p].is_null()))
}

/// Decodes a primary index entry into a full row (columns absent from the value are NULL).
pub fn decode_row(table: &TableDesc, key: &Key, value: &[u8]) -> Result<Row> {
    let prefix = index_prefix(table, &table.primary_index);
    let rest = key
        .0
        .strip_prefix(prefix.0.as_slice())
        .ok_or_else(|| corrupt(format!("key {key} is not in table {}", table.id)))?;
    let mut row = vec![Datum::Null; table.columns.len()];
    let idx = &table.primary_index;
    let mut rest = rest;
    for ((pos, ty), desc) in column_types(table, &idx.columns)?
        .into_iter()
        .zip(&idx.descending)
    {
        let (d, r) = decode_key_datum(rest, &ty, *desc)?;
        row[pos] = d;
        rest = r;
    }
    for (id, d) in decode_value(value)? {
        if let Some(pos) = table.column_pos(id) {
            row[pos] = coerce_decoded(d, &table.columns[pos].ty);
        }
    }
    Ok(row)
}

/// The primary key values (in primary index order) of the row a secondary entry points at.
pub fn decode_secondary_pk(
    table: &TableDesc,
    idx: &IndexDesc,
    key: &Key,
    value: &[u8],
) -> Result<Vec<Datum>> {
    let prefix = index_prefix(table, idx);
    let mut rest = key
        .0
        .strip_prefix(prefix.0.as_slice())
        .ok_or_else(|| corrupt("index key prefix"))?;
    let mut known: Vec<(ColumnId, Datum)> = Vec::new();
    let mut any_null = false;
    for (i, (pos, ty)) in column_types(table, &idx.columns)?.into_iter().enumerate() {
        let desc = idx.descending.get(i).copied().unwrap_or(false);
        let (d, r) = decode_key_datum(rest, &ty, desc)?;
        any_null |= d.is_null();
        known.push((table.columns[pos].id, d));
        rest = r;
    }
    let pk_idx = &table.primary_index;
    if idx.unique && !any_null {
        known.extend(decode_value(value)?);
    } else {
        for (i, id) in pk_idx.columns.iter().enumerate() {
            if idx.columns.contains(id) {
                continue;
            }
            let ty = &table.column(*id).ok_or_else(|| corrupt("pk column"))?.ty;
            let desc = pk_idx.descending.get(i).copied().unwrap_or(false);
            let (d, r) = decode_key_datum(rest, ty, desc)?;
            known.push((*id, d));
            rest = r;
        }
    }
    pk_idx
        .columns
        .iter()
        .map(|id| {
            known
                .iter()
                .find(|(k, _)| k == id)
                .map(|(_, d)| d.clone())
                .ok_or_else(|| corrupt("pk column missing from index entry"))
        })
        .collect()
}

fn coerce_decoded(d: Datum, ty: &Type) -> Datum {
    match (d, ty) {
        (Datum::Int(i), Type::Float4 | Type::Float8) => Datum::Float(i as f64),
        (d, _) => d,
    }
}

/// Whether `PRIMARY_INDEX_ID` names the primary index (for readers of raw keys).
pub fn is_primary(index_id: u32) -> bool {
    index_id == PRIMARY_INDEX_ID
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::parse_datum;

    fn key_of(d: &Datum, ty: &Type, desc: bool) -> Vec<u8> {
        let mut b = Vec::new();
        encode_key_datum(&mut b, d, ty, desc).unwrap();
        b
    }

    #[test]
    fn decimal_keys_order_and_round_trip() {
        let ty = Type::decimal();
        let vals = [
            "-100.5", "-1", "-0.001", "0", "0.0001", "0.5", "1", "1.5", "10", "123.456",
        ];
        let ds: Vec<Datum> = vals.iter().map(|v| parse_datum(v, &ty).unwrap()).collect();
        for w in ds.windows(2) {
            assert!(
                key_of(&w[0], &ty, false) < key_of(&w[1], &ty, false),
                "{w:?}"
            );
            assert!(key_of(&w[0], &ty, true) > key_of(&w[1], &ty, true), "{w:?}");
        }
        for d in &ds {
            for desc in [false, true] {
                let k = key_of(d, &ty, desc);
                let (back, rest) = decode_key_datum(&k, &ty, desc).unwrap();
                assert!(rest.is_empty());
                assert_eq!(back.compare(d), Some(std::cmp::Ordering::Equal), "{d:?}");
            }
        }
    }

    #[test]
    fn values_round_trip() {
        let ds = vec![
            (1, Datum::Int(-5)),
            (2, Datum::String("a\0b".into())),
            (4, Datum::Json(serde_json::json!({"a": [1, 2]}))),
            (5, Datum::Array(vec![Datum::Int(1), Datum::Null])),
            (6, Datum::Float(1.5)),
        ];
        let v = encode_value(ds.iter().map(|(i, d)| (*i, d)));
        assert_eq!(decode_value(&v).unwrap(), ds);
    }
}
