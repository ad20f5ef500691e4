//! SQL types and values.
//!
//! A [`Type`] is what a column or expression has; its [`Type::sql_name`] is the name CockroachDB
//! shows (`INT8`, `STRING`, `DECIMAL(10,2)`, `TIMESTAMPTZ`, `STRING[]`) and [`Type::oid`] the
//! PostgreSQL type OID the wire protocol sends. A [`Datum`] is one value. NULL is
//! [`Datum::Null`] of any type; operators propagate it as PostgreSQL does (the evaluator in
//! `exec::expr` handles three-valued logic).
//!
//! Text is PostgreSQL's text format both ways: [`parse_datum`] reads what a client or a string
//! literal gives (`'2023-06-01 12:00'::TIMESTAMP`, `'-10s'::INTERVAL`), with CockroachDB's
//! `could not parse "x" as type int` errors (22P02); [`Datum::to_text`] writes what psql shows.
//! [`cast`] converts between types, and [`Datum::compare`] orders values of comparable types
//! (NULL first, as in CockroachDB).

use std::cmp::Ordering;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use base::errcode;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SqlError};

/// A SQL type.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Type {
    /// The type of an untyped NULL or string literal before context decides.
    Unknown,
    /// BOOL.
    Bool,
    /// INT2.
    Int2,
    /// INT4.
    Int4,
    /// INT8 (INT, BIGINT).
    Int8,
    /// FLOAT4 (REAL).
    Float4,
    /// FLOAT8 (FLOAT, DOUBLE PRECISION).
    Float8,
    /// DECIMAL(precision, scale).
    Decimal {
        /// Total digits.
        precision: Option<u32>,
        /// Digits after the point.
        scale: Option<u32>,
    },
    /// STRING/TEXT.
    String,
    /// VARCHAR(n).
    Varchar(Option<u32>),
    /// CHAR(n).
    Char(Option<u32>),
    /// BYTES (BYTEA).
    Bytes,
    /// UUID.
    Uuid,
    /// DATE.
    Date,
    /// TIMESTAMP (without time zone).
    Timestamp,
    /// TIMESTAMPTZ.
    TimestampTz,
    /// INTERVAL.
    Interval,
    /// JSONB.
    Jsonb,
    /// OID (pg_catalog).
    Oid,
    /// A user-defined enum type.
    Enum {
        /// The type descriptor's id.
        id: u64,
        /// Its name.
        name: String,
    },
    /// An array of a scalar type.
    Array(Box<Type>),
}

/// The broad classes PostgreSQL type checking reasons about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Unknown / NULL.
    Unknown,
    /// Booleans.
    Bool,
    /// Integers.
    Int,
    /// Floats.
    Float,
    /// Decimals.
    Decimal,
    /// Strings.
    String,
    /// Bytes.
    Bytes,
    /// UUIDs.
    Uuid,
    /// Dates.
    Date,
    /// Timestamps.
    Timestamp,
    /// Timestamps with time zone.
    TimestampTz,
    /// Intervals.
    Interval,
    /// JSON.
    Json,
    /// OIDs.
    Oid,
    /// Enums.
    Enum,
    /// Arrays.
    Array,
}

impl Type {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            Type::Unknown => Family::Unknown,
            Type::Bool => Family::Bool,
            Type::Int2 | Type::Int4 | Type::Int8 => Family::Int,
            Type::Float4 | Type::Float8 => Family::Float,
            Type::Decimal { .. } => Family::Decimal,
            Type::String | Type::Varchar(_) | Type::Char(_) => Family::String,
            Type::Bytes => Family::Bytes,
            Type::Uuid => Family::Uuid,
            Type::Date => Family::Date,
            Type::Timestamp => Family::Timestamp,
            Type::TimestampTz => Family::TimestampTz,
            Type::Interval => Family::Interval,
            Type::Jsonb => Family::Json,
            Type::Oid => Family::Oid,
            Type::Enum { .. } => Family::Enum,
            Type::Array(_) => Family::Array,
        }
    }

    /// True for numeric types.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self.family(),
            Family::Int | Family::Float | Family::Decimal | Family::Oid
        )
    }

    /// The name CockroachDB shows: `INT8`, `STRING`, `VARCHAR(10)`, `DECIMAL(10,2)`.
    pub fn sql_name(&self) -> String {
        match self {
            Type::Unknown => "unknown".into(),
            Type::Bool => "BOOL".into(),
            Type::Int2 => "INT2".into(),
            Type::Int4 => "INT4".into(),
            Type::Int8 => "INT8".into(),
            Type::Float4 => "FLOAT4".into(),
            Type::Float8 => "FLOAT8".into(),
            Type::Decimal {
                precision: Some(p),
                scale: Some(s),
            } => format!("DECIMAL({p},{s})"),
            Type::Decimal {
                precision: Some(p),
                scale: None,
            } => format!("DECIMAL({p})"),
            Type::Decimal { .. } => "DECIMAL".into(),
            Type::String => "STRING".into(),
            Type::Varchar(Some(n)) => format!("VARCHAR({n})"),
            Type::Varchar(None) => "VARCHAR".into(),
            Type::Char(Some(n)) if *n != 1 => format!("CHAR({n})"),
            Type::Char(_) => "CHAR".into(),
            Type::Bytes => "BYTES".into(),
            Type::Uuid => "UUID".into(),
            Type::Date => "DATE".into(),
            Type::Timestamp => "TIMESTAMP".into(),
            Type::TimestampTz => "TIMESTAMPTZ".into(),
            Type::Interval => "INTERVAL".into(),
            Type::Jsonb => "JSONB".into(),
            Type::Oid => "OID".into(),
            Type::Enum { name, .. } => name.clone(),
            Type::Array(t) => format!("{}[]", t.sql_name()),
        }
    }

    /// The lower-case name used in error messages (`int`, `string`, `decimal`).
    pub fn error_name(&self) -> String {
        match self {
            Type::Unknown => "unknown".into(),
            Type::Bool => "bool".into(),
            Type::Int2 | Type::Int4 | Type::Int8 => "int".into(),
            Type::Float4 | Type::Float8 => "float".into(),
            Type::Decimal { .. } => "decimal".into(),
            Type::String | Type::Varchar(_) | Type::Char(_) => "string".into(),
            Type::Bytes => "bytes".into(),
            Type::Uuid => "uuid".into(),
            Type::Date => "date".into(),
            Type::Timestamp => "timestamp".into(),
            Type::TimestampTz => "timestamptz".into(),
            Type::Interval => "interval".into(),
            Type::Jsonb => "jsonb".into(),
            Type::Oid => "oid".into(),
            Type::Enum { name, .. } => name.clone(),
            Type::Array(t) => format!("{}[]", t.error_name()),
        }
    }

    /// The PostgreSQL name information_schema and pg_catalog show (`bigint`, `text`).
    pub fn pg_name(&self) -> String {
        match self {
            Type::Unknown => "unknown".into(),
            Type::Bool => "boolean".into(),
            Type::Int2 => "smallint".into(),
            Type::Int4 => "integer".into(),
            Type::Int8 => "bigint".into(),
            Type::Float4 => "real".into(),
            Type::Float8 => "double precision".into(),
            Type::Decimal { .. } => "numeric".into(),
            Type::String => "text".into(),
            Type::Varchar(_) => "character varying".into(),
            Type::Char(_) => "character".into(),
            Type::Bytes => "bytea".into(),
            Type::Uuid => "uuid".into(),
            Type::Date => "date".into(),
            Type::Timestamp => "timestamp without time zone".into(),
            Type::TimestampTz => "timestamp with time zone".into(),
            Type::Interval => "interval".into(),
            Type::Jsonb => "jsonb".into(),
            Type::Oid => "oid".into(),
            Type::Enum { name, .. } => name.clone(),
            Type::Array(_) => "ARRAY".into(),
        }
    }

    /// The PostgreSQL type OID.
    pub fn oid(&self) -> u32 {
        match self {
            Type::Unknown => 705,
            Type::Bool => 16,
            Type::Int2 => 21,
            Type::Int4 => 23,
            Type::Int8 => 20,
            Type::Float4 => 700,
            Type::Float8 => 701,
            Type::Decimal { .. } => 1700,
            Type::String => 25,
            Type::Varchar(_) => 1043,
            Type::Char(_) => 1042,
            Type::Bytes => 17,
            Type::Uuid => 2950,
            Type::Date => 1082,
            Type::Timestamp => 1114,
            Type::TimestampTz => 1184,
            Type::Interval => 1186,
            Type::Jsonb => 3802,
            Type::Oid => 26,
            Type::Enum { id, .. } => u32::try_from(100_000 + id).unwrap_or(u32::MAX),
            Type::Array(t) => match t.as_ref() {
                Type::Bool => 1000,
                Type::Bytes => 1001,
                Type::Int2 => 1005,
                Type::Int4 => 1007,
                Type::String => 1009,
                Type::Char(_) => 1014,
                Type::Varchar(_) => 1015,
                Type::Int8 => 1016,
                Type::Float4 => 1021,
                Type::Float8 => 1022,
                Type::Oid => 1028,
                Type::Timestamp => 1115,
                Type::Date => 1182,
                Type::TimestampTz => 1185,
                Type::Interval => 1187,
                Type::Decimal { .. } => 1231,
                Type::Uuid => 2951,
                Type::Jsonb => 3807,
                Type::Enum { id, .. } => u32::try_from(100_000 + id + 1).unwrap_or(u32::MAX),
                _ => 2277,
            },
        }
    }

    /// The type with this PostgreSQL OID, for parameter types a client declares.
    pub fn from_oid(oid: u32) -> Option<Type> {
        Some(match oid {
            16 => Type::Bool,
            17 => Type::Bytes,
            19 | 25 | 1043 | 1042 => Type::String,
            20 => Type::Int8,
            21 => Type::Int2,
            23 => Type::Int4,
            26 => Type::Oid,
            700 => Type::Float4,
            701 => Type::Float8,
            1082 => Type::Date,
            1114 => Type::Timestamp,
            1184 => Type::TimestampTz,
            1186 => Type::Interval,
            1700 => Type::Decimal {
                precision: None,
                scale: None,
            },
            2950 => Type::Uuid,
            3802 | 114 => Type::Jsonb,
            _ => return None,
        })
    }

    /// The decimal type without limits.
    pub fn decimal() -> Type {
        Type::Decimal {
            precision: None,
            scale: None,
        }
    }

    /// Whether values of this type can appear in an index key.
    pub fn is_key_encodable(&self) -> bool {
        !matches!(self, Type::Jsonb | Type::Array(_) | Type::Unknown)
    }

    /// The type of a sqlparser data type name, or an error for unknown/unsupported types.
    /// Enum and other user types are resolved by the caller (`Custom` names).
    pub fn from_ast(dt: &sqlparser::ast::DataType) -> Result<Type> {
        use sqlparser::ast::{CharacterLength, DataType as D, ExactNumberInfo};
        let len = |l: &Option<CharacterLength>| match l {
            Some(CharacterLength::IntegerLength { length, .. }) => {
                Some(u32::try_from(*length).unwrap_or(u32::MAX))
            }
            _ => None,
        };
        Ok(match dt {
            D::Bool | D::Boolean => Type::Bool,
            D::Int2(_) | D::SmallInt(_) => Type::Int2,
            D::Int4(_) | D::Integer(_) | D::Int(_) | D::Int32 | D::MediumInt(_) => {
                // CockroachDB's INT and INTEGER are INT8 by default.
                match dt {
                    D::Int4(_) | D::Int32 => Type::Int4,
                    _ => Type::Int8,
                }
            }
            D::Int8(_) | D::BigInt(_) | D::Int64 => Type::Int8,
            D::TinyInt(_) => Type::Int2,
            D::Float4 | D::Real | D::Float32 => Type::Float4,
            D::Float8 | D::Double(_) | D::DoublePrecision | D::Float64 => Type::Float8,
            D::Float(info) => match info {
                ExactNumberInfo::Precision(p) if *p <= 24 => Type::Float4,
                _ => Type::Float8,
            },
            D::Decimal(info) | D::Numeric(info) | D::Dec(info) => match info {
                ExactNumberInfo::None => Type::decimal(),
                ExactNumberInfo::Precision(p) => decimal_type(*p, 0)?,
                ExactNumberInfo::PrecisionAndScale(p, s) => decimal_type(*p, *s)?,
            },
            D::Text | D::String(_) => Type::String,
            D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) | D::Nvarchar(l) => {
                Type::Varchar(len(l))
            }
            D::Char(l) | D::Character(l) => Type::Char(len(l).or(Some(1))),
            D::Bytea | D::Bytes(_) | D::Blob(_) | D::Varbinary(_) | D::Binary(_) => Type::Bytes,
            D::Uuid => Type::Uuid,
            D::Date => Type::Date,
            D::Timestamp(_, tz) => match tz {
                sqlparser::ast::TimezoneInfo::WithTimeZone | sqlparser::ast::TimezoneInfo::Tz => {
                    Type::TimestampTz
                }
                _ => Type::Timestamp,
            },
            D::Datetime(_) => Type::Timestamp,
            D::Interval { .. } => Type::Interval,
            D::JSON | D::JSONB => Type::Jsonb,
            D::Array(elem) => {
                use sqlparser::ast::ArrayElemTypeDef as A;
                let inner = match elem {
                    A::AngleBracket(t)
                    | A::SquareBracket(t, _)
                    | A::Parenthesis(t)
                    | A::Qualified(t, _) => Type::from_ast(t)?,
                    A::None => return Err(SqlError::syntax("array type needs an element type")),
                };
                if matches!(inner, Type::Array(_)) {
                    return Err(SqlError::unimplemented("nested arrays"));
                }
                Type::Array(Box::new(inner))
            }
            D::Custom(name, _) => {
                let n = name.to_string().to_lowercase();
                match named_type(&n) {
                    Some(t) => t,
                    None => {
                        return Err(SqlError::new(
                            errcode::UNDEFINED_OBJECT,
                            format!("type \"{n}\" does not exist"),
                        ));
                    }
                }
            }
            D::Regclass => Type::Oid,
            other => {
                return Err(SqlError::unimplemented(format!("type {other}")));
            }
        })
    }
}

/// `DECIMAL(precision, scale)`, checked as CockroachDB checks it.
fn decimal_type(precision: u64, scale: i64) -> Result<Type> {
    if precision == 0 {
        return Err(SqlError::invalid_parameter(
            "precision for type decimal must be at least 1",
        ));
    }
    let Some(scale_u64) = u64::try_from(scale).ok().filter(|s| *s <= precision) else {
        return Err(SqlError::invalid_parameter(format!(
            "scale ({scale}) must be between 0 and precision ({precision})"
        )));
    };
    Ok(Type::Decimal {
        precision: Some(u32::try_from(precision).unwrap_or(u32::MAX)),
        scale: Some(u32::try_from(scale_u64).unwrap_or(u32::MAX)),
    })
}

/// Built-in type names sqlparser passes through as custom names.
pub fn named_type(n: &str) -> Option<Type> {
    let n = n.trim_matches('"');
    let n = n.strip_prefix("pg_catalog.").unwrap_or(n);
    Some(match n.trim_matches('"') {
        "int" | "integer" | "int8" | "int64" | "bigint" | "serial" | "serial8" | "bigserial" => {
            Type::Int8
        }
        "int4" | "serial4" => Type::Int4,
        "int2" | "smallint" | "serial2" | "smallserial" => Type::Int2,
        "float" | "float8" | "double" => Type::Float8,
        "float4" | "real" => Type::Float4,
        "decimal" | "numeric" => Type::decimal(),
        "string" | "text" | "name" => Type::String,
        "varchar" => Type::Varchar(None),
        "char" | "bpchar" => Type::Char(Some(1)),
        "bool" | "boolean" => Type::Bool,
        "bytes" | "bytea" => Type::Bytes,
        "uuid" => Type::Uuid,
        "date" => Type::Date,
        "timestamp" => Type::Timestamp,
        "timestamptz" => Type::TimestampTz,
        "interval" => Type::Interval,
        "json" | "jsonb" => Type::Jsonb,
        "oid" | "regclass" | "regtype" | "regproc" | "regnamespace" | "regprocedure" => Type::Oid,
        "\"char\"" | "char\"" => Type::Char(Some(1)),
        _ => return None,
    })
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}

/// An interval: months, days and microseconds, kept apart as PostgreSQL does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Interval {
    /// Months.
    pub months: i64,
    /// Days.
    pub days: i64,
    /// Microseconds.
    pub micros: i64,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

impl Interval {
    /// The interval as microseconds, counting a month as 30 days (PostgreSQL's comparison rule).
    pub fn total_micros(&self) -> i128 {
        (i128::from(self.months) * 30 + i128::from(self.days)) * i128::from(MICROS_PER_DAY)
            + i128::from(self.micros)
    }

    /// The interval as nanoseconds, saturating.
    pub fn as_nanos(&self) -> i64 {
        i64::try_from(self.total_micros().saturating_mul(1000)).unwrap_or(if self.months < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
    }

    fn negate(self) -> Interval {
        Interval {
            months: self.months.saturating_neg(),
            days: self.days.saturating_neg(),
            micros: self.micros.saturating_neg(),
        }
    }
}

impl fmt::Display for Interval {
    /// PostgreSQL's `postgres` interval style: `1 year 2 mons 3 days 04:05:06.7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let (years, months) = (self.months / 12, self.months % 12);
        let plural = |n: i64, unit: &str| {
            if n.unsigned_abs() == 1 {
                format!("{n} {unit}")
            } else {
                format!("{n} {unit}s")
            }
        };
        if years != 0 {
            parts.push(plural(years, "year"));
        }
        if months != 0 {
            parts.push(if months.unsigned_abs() == 1 {
                format!("{months} mon")
            } else {
                format!("{months} mons")
            });
        }
        if self.days != 0 {
            parts.push(plural(self.days, "day"));
        }
        if self.micros != 0 || parts.is_empty() {
            let neg = self.micros < 0;
            let m = self.micros.unsigned_abs();
            let secs = m / 1_000_000;
            let frac = m % 1_000_000;
            let mut s = format!(
                "{}{:02}:{:02}:{:02}",
                if neg { "-" } else { "" },
                secs / 3600,
                (secs / 60) % 60,
                secs % 60
            );
            if frac != 0 {
                let digits = format!("{frac:06}");
                s.push('.');
                s.push_str(digits.trim_end_matches('0'));
            }
            parts.push(s);
        }
        f.write_str(&parts.join(" "))
    }
}

/// One SQL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Datum {
    /// NULL.
    Null,
    /// BOOL.
    Bool(bool),
    /// Any integer type (and OID).
    Int(i64),
    /// Any float type.
    Float(f64),
    /// DECIMAL.
    Decimal(Decimal),
    /// STRING, VARCHAR, CHAR, and enum labels.
    String(String),
    /// BYTES.
    Bytes(Vec<u8>),
    /// UUID.
    Uuid(uuid::Uuid),
    /// DATE.
    Date(NaiveDate),
    /// TIMESTAMP.
    Timestamp(NaiveDateTime),
    /// TIMESTAMPTZ (kept in UTC).
    TimestampTz(DateTime<Utc>),
    /// INTERVAL.
    Interval(Interval),
    /// JSONB.
    Json(serde_json::Value),
    /// An array.
    Array(Vec<Datum>),
}

impl Datum {
    /// True for NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Datum::Null)
    }

    /// The natural type of the value (for untyped contexts).
    pub fn natural_type(&self) -> Type {
        match self {
            Datum::Null => Type::Unknown,
            Datum::Bool(_) => Type::Bool,
            Datum::Int(_) => Type::Int8,
            Datum::Float(_) => Type::Float8,
            Datum::Decimal(_) => Type::decimal(),
            Datum::String(_) => Type::String,
            Datum::Bytes(_) => Type::Bytes,
            Datum::Uuid(_) => Type::Uuid,
            Datum::Date(_) => Type::Date,
            Datum::Timestamp(_) => Type::Timestamp,
            Datum::TimestampTz(_) => Type::TimestampTz,
            Datum::Interval(_) => Type::Interval,
            Datum::Json(_) => Type::Jsonb,
            Datum::Array(a) => Type::Array(Box::new(
                a.iter()
                    .find(|d| !d.is_null())
                    .map_or(Type::String, Datum::natural_type),
            )),
        }
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Datum::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Datum::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::String(s) => Some(s),
            _ => None,
        }
    }

    /// PostgreSQL text format: what the wire protocol sends and psql prints (`t`/`f` for
    /// booleans). `None` for NULL.
    pub fn to_pg_text(&self) -> Option<String> {
        match self {
            Datum::Null => None,
            Datum::Bool(b) => Some(if *b { "t" } else { "f" }.into()),
            other => Some(other.to_string()),
        }
    }

    /// Orders two values of comparable types; `None` when they cannot be compared.
    /// NULL sorts before everything (CockroachDB's order).
    pub fn compare(&self, other: &Datum) -> Option<Ordering> {
        use Datum::*;
        Some(match (self, other) {
            (Null, Null) => Ordering::Equal,
            (Null, _) => Ordering::Less,
            (_, Null) => Ordering::Greater,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Int(a), Int(b)) => a.cmp(b),
            (Float(a), Float(b)) => cmp_f64(*a, *b),
            (Int(a), Float(b)) => cmp_f64(*a as f64, *b),
            (Float(a), Int(b)) => cmp_f64(*a, *b as f64),
            (Decimal(a), Decimal(b)) => a.cmp(b),
            (Int(a), Decimal(b)) => rust_decimal::Decimal::from(*a).cmp(b),
            (Decimal(a), Int(b)) => a.cmp(&rust_decimal::Decimal::from(*b)),
            (Float(a), Decimal(b)) => cmp_f64(*a, dec_to_f64(b)),
            (Decimal(a), Float(b)) => cmp_f64(dec_to_f64(a), *b),
            (String(a), String(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (Uuid(a), Uuid(b)) => a.cmp(b),
            (Date(a), Date(b)) => a.cmp(b),
            (Timestamp(a), Timestamp(b)) => a.cmp(b),
            (TimestampTz(a), TimestampTz(b)) => a.cmp(b),
            (Timestamp(a), TimestampTz(b)) => a.and_utc().cmp(b),
            (TimestampTz(a), Timestamp(b)) => a.cmp(&b.and_utc()),
            (Date(a), Timestamp(b)) => date_ts(a).cmp(b),
            (Timestamp(a), Date(b)) => a.cmp(&date_ts(b)),
            (Date(a), TimestampTz(b)) => date_ts(a).and_utc().cmp(b),
            (TimestampTz(a), Date(b)) => a.cmp(&date_ts(b).and_utc()),
            (Interval(a), Interval(b)) => a.total_micros().cmp(&b.total_micros()),
            (Json(a), Json(b)) => json_cmp(a, b),
            (Array(a), Array(b)) => {
                for (x, y) in a.iter().zip(b.iter()) {
                    match x.compare(y)? {
                        Ordering::Equal => continue,
                        o => return Some(o),
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => return None,
        })
    }

    /// A total order for sorting and grouping: incomparable values order by variant.
    pub fn total_cmp(&self, other: &Datum) -> Ordering {
        self.compare(other)
            .unwrap_or_else(|| self.rank().cmp(&other.rank()))
    }

    fn rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Bool(_) => 1,
            Datum::Int(_) | Datum::Float(_) | Datum::Decimal(_) => 2,
            Datum::String(_) => 3,
            Datum::Bytes(_) => 4,
            Datum::Uuid(_) => 5,
            Datum::Date(_) | Datum::Timestamp(_) | Datum::TimestampTz(_) => 6,
            Datum::Interval(_) => 7,
            Datum::Json(_) => 8,
            Datum::Array(_) => 9,
        }
    }
}

fn date_ts(d: &NaiveDate) -> NaiveDateTime {
    d.and_time(NaiveTime::MIN)
}

fn cmp_f64(a: f64, b: f64) -> Ordering {
    // NaN sorts below every other float, as in CockroachDB.
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// A decimal as a float (lossy).
pub fn dec_to_f64(d: &Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

fn json_rank(v: &serde_json::Value) -> u8 {
    use serde_json::Value::*;
    match v {
        Null => 0,
        String(_) => 1,
        Number(_) => 2,
        Bool(false) => 3,
        Bool(true) => 4,
        Array(_) => 5,
        Object(_) => 6,
    }
}

fn json_cmp(a: &serde_json::Value, b: &serde_json::Value) -> Ordering {
    use serde_json::Value::*;
    match (a, b) {
        (String(x), String(y)) => x.cmp(y),
        (Number(x), Number(y)) => cmp_f64(
            x.as_f64().unwrap_or(f64::NAN),
            y.as_f64().unwrap_or(f64::NAN),
        ),
        (Array(x), Array(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|(p, q)| json_cmp(p, q))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        (Object(x), Object(y)) => x.len().cmp(&y.len()).then_with(|| {
            x.iter()
                .zip(y)
                .map(|((k1, v1), (k2, v2))| k1.cmp(k2).then_with(|| json_cmp(v1, v2)))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        }),
        _ => json_rank(a).cmp(&json_rank(b)),
    }
}

/// Formats a float as PostgreSQL and CockroachDB do: shortest round-trip digits, exponent form
/// outside `[1e-4, 1e15)`.
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let abs = f.abs();
    if !(1e-4..1e15).contains(&abs) {
        let s = format!("{f:e}");
        // Rust: 1.5e20 → PostgreSQL: 1.5e+20
        return match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            Some((m, e)) => {
                let digits = e.trim_start_matches('-');
                format!("{m}e-{digits:0>2}")
            }
            None => s,
        };
    }
    format!("{f}")
}

fn write_json(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value::*;
    match v {
        Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json(out, x);
            }
            out.push(']');
        }
        Object(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push_str(": ");
                write_json(out, x);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// JSONB text as CockroachDB prints it: `{"a": 1, "b": [1, 2]}`.
pub fn format_json(v: &serde_json::Value) -> String {
    let mut s = String::new();
    write_json(&mut s, v);
    s
}

fn array_elem_text(d: &Datum) -> String {
    match d {
        Datum::Null => "NULL".into(),
        Datum::Bool(b) => if *b { "t" } else { "f" }.into(),
        other => {
            let s = other.to_string();
            let needs_quote = s.is_empty()
                || s.eq_ignore_ascii_case("null")
                || s.chars()
                    .any(|c| matches!(c, '{' | '}' | ',' | '"' | '\\' | ' ' | '\t' | '\n'));
            if needs_quote {
                format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                s
            }
        }
    }
}

impl fmt::Display for Datum {
    /// The text CockroachDB's shell shows; `NULL` for NULL and `true`/`false` for booleans.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Null => f.write_str("NULL"),
            Datum::Bool(b) => write!(f, "{b}"),
            Datum::Int(i) => write!(f, "{i}"),
            Datum::Float(x) => f.write_str(&format_float(*x)),
            Datum::Decimal(d) => write!(f, "{d}"),
            Datum::String(s) => f.write_str(s),
            Datum::Bytes(b) => {
                f.write_str("\\x")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            Datum::Uuid(u) => write!(f, "{u}"),
            Datum::Date(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Datum::Timestamp(t) => f.write_str(&format_timestamp(t, None)),
            Datum::TimestampTz(t) => f.write_str(&format_timestamp(&t.naive_utc(), Some(0))),
            Datum::Interval(i) => write!(f, "{i}"),
            Datum::Json(j) => f.write_str(&format_json(j)),
            Datum::Array(a) => {
                f.write_char('{')?;
                for (i, d) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    f.write_str(&array_elem_text(d))?;
                }
                f.write_char('}')
            }
        }
    }
}

fn format_timestamp(t: &NaiveDateTime, offset_hours: Option<i32>) -> String {
    let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = t.and_utc().timestamp_subsec_micros();
    if micros != 0 {
        let digits = format!("{micros:06}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    if let Some(h) = offset_hours {
        let _ = write!(s, "{}{:02}", if h < 0 { '-' } else { '+' }, h.abs());
    }
    s
}

/// CockroachDB's error for a date or time beyond what it can represent (22008).
fn timestamp_out_of_range(s: &str) -> SqlError {
    SqlError::new(
        errcode::DATETIME_FIELD_OVERFLOW,
        format!("timestamp \"{s}\" exceeds supported timestamp bounds"),
    )
}

fn parse_error(s: &str, ty: &Type, why: &str) -> SqlError {
    let msg = if why.is_empty() {
        format!("could not parse \"{s}\" as type {}", ty.error_name())
    } else {
        format!("could not parse \"{s}\" as type {}: {why}", ty.error_name())
    };
    let code = match ty.family() {
        Family::Date | Family::Timestamp | Family::TimestampTz => errcode::INVALID_DATETIME_FORMAT,
        _ => errcode::INVALID_TEXT_REPRESENTATION,
    };
    SqlError::new(code, msg)
}

/// Parses PostgreSQL text into a value of `ty`.
pub fn parse_datum(s: &str, ty: &Type) -> Result<Datum> {
    let t = s.trim();
    Ok(match ty {
        Type::Unknown | Type::String | Type::Varchar(_) | Type::Char(_) => {
            return check_width(Datum::String(s.to_string()), ty);
        }
        Type::Enum { .. } => Datum::String(s.to_string()),
        Type::Bool => match t.to_ascii_lowercase().as_str() {
            "t" | "true" | "yes" | "y" | "on" | "1" => Datum::Bool(true),
            "f" | "false" | "no" | "n" | "off" | "0" => Datum::Bool(false),
            _ => return Err(parse_error(s, ty, "invalid bool value")),
        },
        Type::Int2 | Type::Int4 | Type::Int8 | Type::Oid => match t.parse::<i64>() {
            Ok(i) => return check_int_width(i, ty),
            Err(_) => {
                return Err(parse_error(
                    s,
                    ty,
                    &format!("strconv.ParseInt: parsing \"{t}\": invalid syntax"),
                ));
            }
        },
        Type::Float4 | Type::Float8 => match t.to_ascii_lowercase().as_str() {
            "nan" => Datum::Float(f64::NAN),
            "inf" | "infinity" | "+inf" | "+infinity" => Datum::Float(f64::INFINITY),
            "-inf" | "-infinity" => Datum::Float(f64::NEG_INFINITY),
            lower => match lower.parse::<f64>() {
                Ok(f) => Datum::Float(if *ty == Type::Float4 {
                    f64::from(f as f32)
                } else {
                    f
                }),
                Err(_) => {
                    return Err(parse_error(
                        s,
                        ty,
                        &format!("strconv.ParseFloat: parsing \"{t}\": invalid syntax"),
                    ));
                }
            },
        },
        Type::Decimal { .. } => {
            let d = Decimal::from_str(t)
                .or_else(|_| Decimal::from_scientific(t))
                .map_err(|_| parse_error(s, ty, ""))?;
            return round_decimal(d, ty);
        }
        Type::Bytes => Datum::Bytes(parse_bytes(s).map_err(|why| parse_error(s, ty, &why))?),
        Type::Uuid => Datum::Uuid(
            uuid::Uuid::parse_str(t)
                .map_err(|_| parse_error(s, ty, "uuid: incorrect UUID length"))?,
        ),
        Type::Date => Datum::Date(parse_date(t).ok_or_else(|| parse_error(s, ty, ""))?),
        Type::Timestamp => {
            let (ts, _) = parse_timestamp(t).ok_or_else(|| parse_error(s, ty, ""))?;
            Datum::Timestamp(ts)
        }
        Type::TimestampTz => {
            let (ts, offset) = parse_timestamp(t).ok_or_else(|| parse_error(s, ty, ""))?;
            let utc = ts
                .checked_sub_signed(chrono::Duration::seconds(i64::from(offset.unwrap_or(0))))
                .ok_or_else(|| timestamp_out_of_range(s))?;
            Datum::TimestampTz(Utc.from_utc_datetime(&utc))
        }
        Type::Interval => Datum::Interval(parse_interval(t).ok_or_else(|| {
            SqlError::new(
                errcode::INVALID_DATETIME_FORMAT,
                format!("could not parse \"{s}\" as type interval: interval: missing unit"),
            )
        })?),
        Type::Jsonb => Datum::Json(serde_json::from_str(t).map_err(|e| {
            SqlError::new(
                errcode::INVALID_TEXT_REPRESENTATION,
                format!("could not parse JSON: {e}"),
            )
        })?),
        Type::Array(elem) => Datum::Array(parse_array(t, elem).ok_or_else(|| {
            SqlError::new(
                errcode::INVALID_TEXT_REPRESENTATION,
                format!(
                    "could not parse \"{s}\" as type {}: array must be enclosed in {{ and }}",
                    ty.error_name()
                ),
            )
        })??),
    })
}

fn parse_bytes(s: &str) -> std::result::Result<Vec<u8>, String> {
    if let Some(hex) = s.strip_prefix("\\x") {
        if hex.len() % 2 != 0 {
            return Err("encoding/hex: odd length hex string".into());
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16)
                    .map_err(|_| "encoding/hex: invalid byte".to_string())
            })
            .collect();
    }
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
                continue;
            }
            let oct = s
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok());
            match oct {
                Some(v) => {
                    out.push(v);
                    i += 4;
                }
                None => return Err("invalid escape".into()),
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn parse_array(s: &str, elem: &Type) -> Option<Result<Vec<Datum>>> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Some(Ok(out));
    }
    let mut cur = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = inner.chars().peekable();
    let mut items = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                was_quoted = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ',' if !quoted => {
                items.push((std::mem::take(&mut cur), was_quoted));
                was_quoted = false;
            }
            c => cur.push(c),
        }
    }
    items.push((cur, was_quoted));
    for (item, q) in items {
        let item = if q { item } else { item.trim().to_string() };
        if !q && item.eq_ignore_ascii_case("null") {
            out.push(Datum::Null);
            continue;
        }
        match parse_datum(&item, elem) {
            Ok(d) => out.push(d),
            Err(e) => return Some(Err(e)),
        }
    }
    Some(Ok(out))
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let date_part = s.split([' ', 'T']).next()?;
    NaiveDate::parse_from_str(date_part, "%Y-%m-%d")
        .ok()
        .or_else(|| NaiveDate::parse_from_str(date_part, "%Y%m%d").ok())
        .or_else(|| match s.to_ascii_lowercase().as_str() {
            "epoch" => NaiveDate::from_ymd_opt(1970, 1, 1),
            _ => None,
        })
}

/// Parses `YYYY-MM-DD[ T]HH:MM[:SS[.ffffff]][Z|UTC|±HH[:MM]]`; returns the local time and the
/// offset in seconds east of UTC if one was given.
pub fn parse_timestamp(s: &str) -> Option<(NaiveDateTime, Option<i32>)> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("epoch") {
        return Some((DateTime::from_timestamp(0, 0)?.naive_utc(), Some(0)));
    }
    let (date, rest) = match s.split_once([' ', 'T']) {
        Some((date, rest)) => (date, rest.trim()),
        None => (s, ""),
    };
    let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    if rest.is_empty() {
        return Some((d.and_time(NaiveTime::MIN), None));
    }
    let (time, offset) = match strip_suffix_ignore_case(rest, "UTC")
        .or_else(|| strip_suffix_ignore_case(rest, "Z"))
    {
        Some(time) => (time.trim(), Some(0)),
        None => match rest.rfind(['+', '-']).filter(|pos| *pos > 0) {
            Some(pos) => {
                let (time, zone) = rest.split_at_checked(pos)?;
                (time.trim(), Some(parse_zone_offset(zone)?))
            }
            None => (rest, None),
        },
    };
    let t = NaiveTime::parse_from_str(time, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(time, "%H:%M"))
        .ok()?;
    Some((d.and_time(t), offset))
}

/// `s` without `suffix`, compared ASCII-case-insensitively.
fn strip_suffix_ignore_case<'a>(s: &'a str, suffix: &str) -> Option<&'a str> {
    let (head, tail) = s.split_at_checked(s.len().checked_sub(suffix.len())?)?;
    tail.eq_ignore_ascii_case(suffix).then_some(head)
}

/// Longest zone offset accepted, in hours (PostgreSQL's limit is 15:59:59).
const MAX_ZONE_HOURS: i32 = 15;

/// `+HH`, `-HH:MM`, `+HHMM` as seconds east of UTC; `None` for anything else, including
/// offsets beyond ±15:59.
fn parse_zone_offset(zone: &str) -> Option<i32> {
    let (sign, digits) = match zone.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, zone.strip_prefix('+')?),
    };
    let number = |s: &str| -> Option<i32> {
        if s.is_empty() || s.len() > 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (h, m) = match digits.split_once(':') {
        Some((h, m)) => (number(h)?, number(m)?),
        None if digits.len() == 4 => {
            let (h, m) = digits.split_at_checked(2)?;
            (number(h)?, number(m)?)
        }
        None => (number(digits)?, 0),
    };
    if h > MAX_ZONE_HOURS || m > 59 {
        return None;
    }
    Some(sign * (h * 3600 + m * 60))
}

/// Parses an interval: Go-style durations (`-10s`, `1h30m`, `500ms`), PostgreSQL style
/// (`1 day 02:00:00`, `3 years 2 mons`, `-1 hour`) and plain `HH:MM:SS`.
pub fn parse_interval(s: &str) -> Option<Interval> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(i) = parse_go_duration(s) {
        return Some(i);
    }
    let mut out = Interval::default();
    let mut tokens = s.split_whitespace().peekable();
    let mut any = false;
    while let Some(tok) = tokens.next() {
        if tok.contains(':') {
            out.micros = out.micros.saturating_add(parse_clock(tok)?);
            any = true;
            continue;
        }
        let (num, unit) = match tok.find(|c: char| c.is_alphabetic()) {
            Some(i) if i > 0 => {
                let (num, unit) = tok.split_at_checked(i)?;
                (num, unit.to_string())
            }
            _ => {
                let unit = tokens.next().map(|u| u.to_string());
                match unit {
                    Some(u) => (tok, u),
                    None => {
                        // A bare number is seconds.
                        let v: f64 = tok.parse().ok()?;
                        out.micros = out.micros.saturating_add((v * 1e6).round() as i64);
                        any = true;
                        continue;
                    }
                }
            }
        };
        let v: f64 = num.parse().ok()?;
        add_unit(&mut out, v, &unit.to_ascii_lowercase())?;
        any = true;
    }
    any.then_some(out)
}

fn parse_clock(tok: &str) -> Option<i64> {
    let (neg, tok) = match tok.strip_prefix('-') {
        Some(t) => (true, t),
        None => (false, tok.strip_prefix('+').unwrap_or(tok)),
    };
    let parts: Vec<&str> = tok.split(':').collect();
    let (h, m, sec): (i64, i64, f64) = match parts.as_slice() {
        [h, m] => (h.parse().ok()?, m.parse().ok()?, 0.0),
        [h, m, s] => (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?),
        _ => return None,
    };
    let micros = h
        .checked_mul(3600)?
        .checked_add(m.checked_mul(60)?)?
        .checked_mul(1_000_000)?
        .checked_add((sec * 1e6).round() as i64)?;
    if neg {
        micros.checked_neg()
    } else {
        Some(micros)
    }
}

fn add_unit(out: &mut Interval, v: f64, unit: &str) -> Option<()> {
    let unit = unit.trim_end_matches(',');
    match unit {
        "y" | "year" | "years" | "yr" | "yrs" => {
            out.months = out.months.saturating_add((v * 12.0) as i64)
        }
        "mon" | "mons" | "month" | "months" => out.months = out.months.saturating_add(v as i64),
        "w" | "week" | "weeks" => out.days = out.days.saturating_add((v * 7.0) as i64),
        "d" | "day" | "days" => {
            out.days = out.days.saturating_add(v.trunc() as i64);
            out.micros = out.micros.saturating_add((v.fract() * 86_400e6) as i64);
        }
        "h" | "hour" | "hours" | "hr" | "hrs" => {
            out.micros = out.micros.saturating_add((v * 3600e6) as i64)
        }
        "m" | "min" | "mins" | "minute" | "minutes" => {
            out.micros = out.micros.saturating_add((v * 60e6) as i64)
        }
        "s" | "sec" | "secs" | "second" | "seconds" => {
            out.micros = out.micros.saturating_add((v * 1e6).round() as i64)
        }
        "ms" | "millisecond" | "milliseconds" => {
            out.micros = out.micros.saturating_add((v * 1e3).round() as i64)
        }
        "us" | "µs" | "microsecond" | "microseconds" => {
            out.micros = out.micros.saturating_add(v.round() as i64)
        }
        _ => return None,
    }
    Some(())
}

/// `1h30m`, `-10s`, `1.5s`, `500ms`, `4.8s`.
fn parse_go_duration(s: &str) -> Option<Interval> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() || rest.contains(' ') {
        return None;
    }
    let mut micros: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_end == 0 {
            return None;
        }
        let (number, tail) = rest.split_at_checked(num_end)?;
        let v: f64 = number.parse().ok()?;
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at_checked(unit_end)?;
        rest = tail;
        micros += v * match unit {
            "h" => 3600e6,
            "m" => 60e6,
            "s" => 1e6,
            "ms" => 1e3,
            "us" | "µs" => 1.0,
            "ns" => 1e-3,
            _ => return None,
        };
    }
    let micros = micros.round() as i64;
    Some(Interval {
        months: 0,
        days: 0,
        micros: if neg { micros.saturating_neg() } else { micros },
    })
}

fn check_width(d: Datum, ty: &Type) -> Result<Datum> {
    let limit = match ty {
        Type::Varchar(Some(n)) | Type::Char(Some(n)) => *n as usize,
        _ => return Ok(d),
    };
    if let Datum::String(s) = &d
        && s.chars().count() > limit
    {
        return Err(SqlError::new(
            errcode::STRING_DATA_RIGHT_TRUNCATION,
            format!("value too long for type {}", ty.sql_name()),
        ));
    }
    Ok(d)
}

fn check_int_width(i: i64, ty: &Type) -> Result<Datum> {
    let (ok, bits) = match ty {
        Type::Int2 => (i16::try_from(i).is_ok(), 16),
        Type::Int4 => (i32::try_from(i).is_ok(), 32),
        _ => (true, 64),
    };
    if !ok {
        return Err(SqlError::new(
            errcode::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("integer out of range for type int{bits}"),
        ));
    }
    Ok(Datum::Int(i))
}

fn round_decimal(d: Decimal, ty: &Type) -> Result<Datum> {
    let Type::Decimal { precision, scale } = ty else {
        return Ok(Datum::Decimal(d));
    };
    let mut d = d;
    if let Some(s) = scale {
        d = d.round_dp_with_strategy(*s, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        d.rescale(*s);
    }
    if let Some(p) = precision {
        let s = scale.unwrap_or(0);
        let int_digits = d.trunc().abs().to_string().trim_start_matches('0').len();
        let int_digits = u32::try_from(int_digits).unwrap_or(u32::MAX);
        if int_digits.saturating_add(s) > *p {
            return Err(SqlError::new(
                errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                format!(
                    "value with precision {p}, scale {s} must round to an absolute value less \
                     than 10^{}",
                    p.saturating_sub(s)
                ),
            ));
        }
    }
    Ok(Datum::Decimal(d))
}

fn cast_error(from: &Type, to: &Type) -> SqlError {
    SqlError::new(
        errcode::DATATYPE_MISMATCH,
        format!("invalid cast: {} -> {}", from.error_name(), to.sql_name()),
    )
}

/// Whether a cast from `from` to `to` exists (checked at plan time).
pub fn can_cast(from: &Type, to: &Type) -> bool {
    use Family as F;
    let (a, b) = (from.family(), to.family());
    if a == b || a == F::Unknown || a == F::String || b == F::String {
        return true;
    }
    matches!(
        (a, b),
        (
            F::Int | F::Float | F::Decimal | F::Oid | F::Bool,
            F::Int | F::Float | F::Decimal | F::Oid
        ) | (F::Int, F::Bool)
            | (F::Date, F::Timestamp | F::TimestampTz)
            | (
                F::Timestamp | F::TimestampTz,
                F::Date | F::Timestamp | F::TimestampTz
            )
            | (F::Int, F::Interval)
            | (F::Interval, F::Int)
            | (F::Json, _)
            | (F::Bytes, F::Uuid)
            | (F::Uuid, F::Bytes)
            | (F::Enum, F::Enum)
            | (
                F::Int | F::Decimal | F::Float,
                F::Timestamp | F::TimestampTz
            )
    )
}

/// Converts `d` to type `to`.
pub fn cast(d: Datum, to: &Type) -> Result<Datum> {
    use Datum as D;
    if d.is_null() {
        return Ok(D::Null);
    }
    let from = d.natural_type();
    Ok(match (d, to) {
        (D::String(s), _) => return parse_datum(&s, to),
        (d, Type::String | Type::Varchar(_) | Type::Char(_) | Type::Unknown) => {
            let s = match &d {
                D::Bool(b) => b.to_string(),
                other => other.to_string(),
            };
            return check_width(D::String(s), to);
        }
        (D::Bool(b), Type::Int2 | Type::Int4 | Type::Int8) => D::Int(i64::from(b)),
        (D::Bool(b), Type::Float4 | Type::Float8) => D::Float(if b { 1.0 } else { 0.0 }),
        (D::Bool(b), Type::Decimal { .. }) => D::Decimal(Decimal::from(i64::from(b))),
        (D::Bool(b), Type::Bool) => D::Bool(b),
        (D::Int(i), Type::Bool) => D::Bool(i != 0),
        (D::Int(i), Type::Int2 | Type::Int4 | Type::Int8 | Type::Oid) => {
            return check_int_width(i, to);
        }
        (D::Int(i), Type::Float4 | Type::Float8) => D::Float(i as f64),
        (D::Int(i), Type::Decimal { .. }) => return round_decimal(Decimal::from(i), to),
        (D::Int(i), Type::Interval) => D::Interval(Interval {
            micros: i.saturating_mul(1_000_000),
            ..Default::default()
        }),
        (D::Int(i), Type::TimestampTz) => {
            D::TimestampTz(DateTime::from_timestamp(i, 0).ok_or_else(|| cast_error(&from, to))?)
        }
        (D::Int(i), Type::Timestamp) => D::Timestamp(
            DateTime::from_timestamp(i, 0)
                .ok_or_else(|| cast_error(&from, to))?
                .naive_utc(),
        ),
        (D::Float(f), Type::Int2 | Type::Int4 | Type::Int8) => {
            if f.is_nan() || f.is_infinite() || f.abs() > 9.2e18 {
                return Err(SqlError::new(
                    errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                    "integer out of range",
                ));
            }
            return check_int_width(f.round_ties_even() as i64, to);
        }
        (D::Float(f), Type::Float4) => D::Float(f64::from(f as f32)),
        (D::Float(f), Type::Float8) => D::Float(f),
        (D::Float(f), Type::Decimal { .. }) => {
            let dec = Decimal::from_f64_retain(f).ok_or_else(|| cast_error(&from, to))?;
            let dec = Decimal::from_str(&format_float(f)).unwrap_or(dec);
            return round_decimal(dec, to);
        }
        (D::Decimal(d), Type::Int2 | Type::Int4 | Type::Int8) => {
            use rust_decimal::prelude::ToPrimitive;
            let r =
                d.round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
            let i = r.to_i64().ok_or_else(|| {
                SqlError::new(errcode::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
            })?;
            return check_int_width(i, to);
        }
        (D::Decimal(d), Type::Float4 | Type::Float8) => D::Float(dec_to_f64(&d)),
        (D::Decimal(d), Type::Decimal { .. }) => return round_decimal(d, to),
        (D::Date(d), Type::Date) => D::Date(d),
        (D::Date(d), Type::Timestamp) => D::Timestamp(date_ts(&d)),
        (D::Date(d), Type::TimestampTz) => D::TimestampTz(date_ts(&d).and_utc()),
        (D::Timestamp(t), Type::Date) => D::Date(t.date()),
        (D::Timestamp(t), Type::Timestamp) => D::Timestamp(t),
        (D::Timestamp(t), Type::TimestampTz) => D::TimestampTz(t.and_utc()),
        (D::TimestampTz(t), Type::Date) => D::Date(t.date_naive()),
        (D::TimestampTz(t), Type::Timestamp) => D::Timestamp(t.naive_utc()),
        (D::TimestampTz(t), Type::TimestampTz) => D::TimestampTz(t),
        (D::Interval(i), Type::Interval) => D::Interval(i),
        (D::Interval(i), Type::Int2 | Type::Int4 | Type::Int8) => {
            D::Int(i64::try_from(i.total_micros() / 1_000_000).unwrap_or(i64::MAX))
        }
        (D::Json(j), Type::Jsonb) => D::Json(j),
        (D::Json(serde_json::Value::Bool(b)), Type::Bool) => D::Bool(b),
        (D::Json(serde_json::Value::Number(n)), t) if t.is_numeric() => {
            return parse_datum(&n.to_string(), t);
        }
        (D::Bytes(b), Type::Bytes) => D::Bytes(b),
        (D::Bytes(b), Type::Uuid) => {
            D::Uuid(uuid::Uuid::from_slice(&b).map_err(|_| cast_error(&Type::Bytes, to))?)
        }
        (D::Uuid(u), Type::Uuid) => D::Uuid(u),
        (D::Uuid(u), Type::Bytes) => D::Bytes(u.as_bytes().to_vec()),
        (D::Array(a), Type::Array(elem)) => D::Array(
            a.into_iter()
                .map(|d| cast(d, elem))
                .collect::<Result<Vec<_>>>()?,
        ),
        (d, Type::Jsonb) => D::Json(match d {
            D::Int(i) => serde_json::Value::from(i),
            D::Float(f) => serde_json::Value::from(f),
            D::Bool(b) => serde_json::Value::from(b),
            other => serde_json::Value::from(other.to_string()),
        }),
        (_, _) => return Err(cast_error(&from, to)),
    })
}

/// Unix epoch seconds and fractional micros of a timestamp value (for `extract(epoch ...)`).
pub fn epoch_seconds(d: &Datum) -> Option<f64> {
    match d {
        Datum::Timestamp(t) => Some(t.and_utc().timestamp_micros() as f64 / 1e6),
        Datum::TimestampTz(t) => Some(t.timestamp_micros() as f64 / 1e6),
        Datum::Date(d) => Some(date_ts(d).and_utc().timestamp() as f64),
        Datum::Interval(i) => Some(i.total_micros() as f64 / 1e6),
        _ => None,
    }
}

/// One field of a date/time value (`year`, `month`, `day`, `hour`, `minute`, `second`, `dow`,
/// `doy`, `epoch`).
pub fn extract_field(field: &str, d: &Datum) -> Option<Datum> {
    let ts = match d {
        Datum::Timestamp(t) => *t,
        Datum::TimestampTz(t) => t.naive_utc(),
        Datum::Date(d) => date_ts(d),
        Datum::Interval(i) => {
            return Some(Datum::Float(match field {
                "epoch" => i.total_micros() as f64 / 1e6,
                "year" | "years" => (i.months / 12) as f64,
                "month" | "months" => (i.months % 12) as f64,
                "day" | "days" => i.days as f64,
                "hour" | "hours" => (i.micros / 3_600_000_000) as f64,
                "minute" | "minutes" => ((i.micros / 60_000_000) % 60) as f64,
                "second" | "seconds" => (i.micros % 60_000_000) as f64 / 1e6,
                _ => return None,
            }));
        }
        _ => return None,
    };
    Some(Datum::Float(match field {
        "epoch" => ts.and_utc().timestamp_micros() as f64 / 1e6,
        "year" | "years" => f64::from(ts.year()),
        "month" | "months" => f64::from(ts.month()),
        "day" | "days" => f64::from(ts.day()),
        "hour" | "hours" => f64::from(ts.hour()),
        "minute" | "minutes" => f64::from(ts.minute()),
        "second" | "seconds" => f64::from(ts.second()) + f64::from(ts.nanosecond() / 1000) / 1e6,
        "millisecond" | "milliseconds" => {
            f64::from(ts.second()) * 1e3 + f64::from(ts.nanosecond() / 1000) / 1e3
        }
        "microsecond" | "microseconds" => {
            f64::from(ts.second()) * 1e6 + f64::from(ts.nanosecond() / 1000)
        }
        "dow" | "dayofweek" => f64::from(ts.weekday().num_days_from_sunday()),
        "isodow" => f64::from(ts.weekday().number_from_monday()),
        "doy" | "dayofyear" => f64::from(ts.ordinal()),
        "week" => f64::from(ts.iso_week().week()),
        "quarter" => f64::from((ts.month() - 1) / 3 + 1),
        _ => return None,
    }))
}

/// Adds an interval to a timestamp (months first, then days, then micros).
pub fn add_interval(ts: NaiveDateTime, i: &Interval) -> Option<NaiveDateTime> {
    let mut t = ts;
    if i.months != 0 {
        let m = chrono::Months::new(u32::try_from(i.months.unsigned_abs()).ok()?);
        t = if i.months > 0 {
            t.checked_add_months(m)?
        } else {
            t.checked_sub_months(m)?
        };
    }
    t = t.checked_add_signed(chrono::Duration::try_days(i.days)?)?;
    t.checked_add_signed(chrono::Duration::microseconds(i.micros))
}

/// Subtracts an interval from a timestamp.
pub fn sub_interval(ts: NaiveDateTime, i: &Interval) -> Option<NaiveDateTime> {
    add_interval(ts, &i.negate())
}

/// The interval between two timestamps, in days and micros as PostgreSQL gives it.
pub fn ts_diff(a: NaiveDateTime, b: NaiveDateTime) -> Interval {
    let micros = (a - b).num_microseconds().unwrap_or(i64::MAX);
    Interval {
        months: 0,
        days: micros / MICROS_PER_DAY,
        micros: micros % MICROS_PER_DAY,
    }
}

/// Negates an interval.
pub fn neg_interval(i: Interval) -> Interval {
    i.negate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips() {
        let cases = [
            (Type::Int8, "42"),
            (Type::Bool, "true"),
            (Type::Float8, "1.5"),
            (Type::decimal(), "3.14"),
            (Type::Date, "2023-06-01"),
            (Type::Timestamp, "2023-06-01 12:00:00.5"),
            (Type::TimestampTz, "2023-06-01 12:00:00+00"),
            (Type::Interval, "1 day 02:03:04"),
            (Type::Jsonb, "{\"a\": 1, \"b\": [1, 2]}"),
            (Type::Array(Box::new(Type::Int8)), "{1,2,NULL}"),
            (Type::Bytes, "\\x6162"),
        ];
        for (ty, text) in cases {
            let d = parse_datum(text, &ty).unwrap();
            assert_eq!(d.to_string(), text, "{ty}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("-10s").unwrap().micros, -10_000_000);
        assert_eq!(parse_interval("4.8s").unwrap().micros, 4_800_000);
        assert_eq!(parse_interval("1h30m").unwrap().micros, 5_400_000_000);
        let i = parse_interval("1 year 2 months 3 days").unwrap();
        assert_eq!((i.months, i.days), (14, 3));
        assert_eq!(i.to_string(), "1 year 2 mons 3 days");
        assert_eq!(
            parse_interval("-00:00:10").unwrap().to_string(),
            "-00:00:10"
        );
    }

    #[test]
    fn zone_offsets() {
        let utc = |s: &str| parse_datum(s, &Type::TimestampTz).map(|d| d.to_string());
        assert_eq!(
            utc("2020-01-01 10:00:00+05:30").unwrap(),
            "2020-01-01 04:30:00+00"
        );
        assert_eq!(
            utc("2020-01-01 10:00:00+0530").unwrap(),
            "2020-01-01 04:30:00+00"
        );
        assert_eq!(
            utc("2020-01-01 10:00:00-08").unwrap(),
            "2020-01-01 18:00:00+00"
        );
        assert_eq!(
            utc("2020-01-01T10:00:00Z").unwrap(),
            "2020-01-01 10:00:00+00"
        );
        assert_eq!(
            utc("2020-01-01 10:00:00 utc").unwrap(),
            "2020-01-01 10:00:00+00"
        );
        // Multi-byte characters where digits belong used to slice inside a character.
        for bad in [
            "2020-01-01 10:00:00+1é1",
            "2020-01-01 10:00:00+é",
            "2020-01-01 10:00:00+1:é",
            "2020-01-01 10:00:00é",
            "2020-01-01 10:00:00+99",
            "2020-01-01 10:00:00-2147483648",
            "2020-01-01 10:00:00+9999999999",
            "é",
            "2020-01-01é",
        ] {
            let e = parse_datum(bad, &Type::TimestampTz).unwrap_err();
            assert_eq!(e.code(), errcode::INVALID_DATETIME_FORMAT, "{bad}");
        }
        let first = format!("{} 00:00:00+10", NaiveDate::MIN.format("%Y-%m-%d"));
        let e = parse_datum(&first, &Type::TimestampTz).unwrap_err();
        assert_eq!(e.code(), errcode::DATETIME_FIELD_OVERFLOW, "{first}");
    }

    #[test]
    fn intervals_at_the_limits() {
        for s in [
            "-9223372036854775808 days",
            "9223372036854775807 years",
            "00:00:-1e30",
            "--9223372036854775808:00",
            "1.5é",
            "1é",
        ] {
            // Parsed or refused, never a panic; whatever parses also prints.
            if let Some(i) = parse_interval(s) {
                let _ = i.to_string();
            }
        }
    }

    #[test]
    fn parse_errors_name_the_type() {
        let e = parse_datum("abc", &Type::Int8).unwrap_err();
        assert_eq!(e.code(), errcode::INVALID_TEXT_REPRESENTATION);
        assert!(
            e.message()
                .starts_with("could not parse \"abc\" as type int")
        );
    }

    #[test]
    fn floats_format_like_postgres() {
        assert_eq!(format_float(1e20), "1e+20");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(1.5e-7), "1.5e-07");
    }
}
