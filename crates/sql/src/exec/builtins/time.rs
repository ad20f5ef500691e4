//! Date and time builtins. The current time is the statement's ([`super::EvalEnv::now`]).

use chrono::{Datelike, Timelike};

use super::{Args, Builtin, Call, Ret};
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Type};

const TIMESTAMPTZ: Ret = Ret::Is(Type::TimestampTz);

pub(super) static BUILTINS: &[Builtin] = &[
    Builtin::new(
        &[
            "now",
            "current_timestamp",
            "statement_timestamp",
            "transaction_timestamp",
            "clock_timestamp",
            "localtimestamp",
        ],
        Args::Exact(0),
        TIMESTAMPTZ,
        |c| Ok(Datum::TimestampTz(c.env.now)),
    ),
    Builtin::new(
        &["current_date"],
        Args::Exact(0),
        Ret::Is(Type::Date),
        |c| Ok(Datum::Date(c.env.now.date_naive())),
    ),
    Builtin::new(
        &[
            "follower_read_timestamp",
            "crdb_internal.follower_read_timestamp",
        ],
        Args::Exact(0),
        TIMESTAMPTZ,
        |c| {
            let lag = chrono::Duration::milliseconds(super::super::FOLLOWER_READ_LAG_MS);
            Ok(Datum::TimestampTz(c.env.now - lag))
        },
    ),
    Builtin::new(
        &["extract", "date_part"],
        Args::Exact(2),
        Ret::Is(Type::Float8),
        |c| {
            let field = c.text(0).to_lowercase();
            types::extract_field(&field, c.arg(1)).ok_or_else(|| {
                SqlError::invalid_parameter(format!("unsupported timespan: {field}"))
            })
        },
    ),
    Builtin::new(
        &["date_trunc"],
        Args::Exact(2),
        Ret::Rule(|args| args.get(1).cloned().unwrap_or(Type::TimestampTz)),
        |c| date_trunc(&c.text(0).to_lowercase(), c.take(1)),
    ),
    Builtin::new(&["age"], Args::Range(1, 2), Ret::Is(Type::Interval), age),
    Builtin::new(&["to_timestamp"], Args::Exact(1), TIMESTAMPTZ, to_timestamp),
    Builtin::new(&["to_char"], Args::Exact(1), Ret::Is(Type::String), |c| {
        Ok(Datum::String(c.text(0)))
    }),
];

fn age(c: &mut Call<'_>) -> Result<Datum> {
    Ok(match (c.arg(0), c.arg(1)) {
        (Datum::TimestampTz(x), Datum::TimestampTz(y)) => {
            Datum::Interval(types::ts_diff(x.naive_utc(), y.naive_utc()))
        }
        (Datum::Timestamp(x), Datum::Timestamp(y)) => Datum::Interval(types::ts_diff(*x, *y)),
        (Datum::TimestampTz(x), _) => {
            Datum::Interval(types::ts_diff(c.env.now.naive_utc(), x.naive_utc()))
        }
        _ => return Err(c.wrong_args()),
    })
}

fn to_timestamp(c: &mut Call<'_>) -> Result<Datum> {
    match c.arg(0) {
        Datum::Int(i) => types::cast(Datum::Int(*i), &Type::TimestampTz),
        Datum::Float(f) => chrono::DateTime::from_timestamp_micros((f * 1e6) as i64)
            .map(Datum::TimestampTz)
            .ok_or_else(|| c.wrong_args()),
        _ => Err(c.wrong_args()),
    }
}

fn date_trunc(unit: &str, d: Datum) -> Result<Datum> {
    let (ts, tz) = match d {
        Datum::Timestamp(t) => (t, false),
        Datum::TimestampTz(t) => (t.naive_utc(), true),
        Datum::Date(d) => (d.and_time(chrono::NaiveTime::MIN), true),
        _ => return Err(SqlError::invalid_parameter("date_trunc needs a timestamp")),
    };
    let date = ts.date();
    let t = match unit {
        "year" => date
            .with_month(1)
            .and_then(|d| d.with_day(1))
            .map(|d| d.and_time(chrono::NaiveTime::MIN)),
        "quarter" => date
            .with_day(1)
            .and_then(|d| d.with_month((d.month() - 1) / 3 * 3 + 1))
            .map(|d| d.and_time(chrono::NaiveTime::MIN)),
        "month" => date.with_day(1).map(|d| d.and_time(chrono::NaiveTime::MIN)),
        "week" => date
            .checked_sub_days(chrono::Days::new(u64::from(
                date.weekday().num_days_from_monday(),
            )))
            .map(|d| d.and_time(chrono::NaiveTime::MIN)),
        "day" => Some(date.and_time(chrono::NaiveTime::MIN)),
        "hour" => ts
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0)),
        "minute" => ts.with_second(0).and_then(|t| t.with_nanosecond(0)),
        "second" => ts.with_nanosecond(0),
        "millisecond" => ts.with_nanosecond(ts.nanosecond() / 1_000_000 * 1_000_000),
        "microsecond" => Some(ts),
        _ => {
            return Err(SqlError::invalid_parameter(format!(
                "unsupported timespan: {unit}"
            )));
        }
    }
    .ok_or_else(|| SqlError::invalid_parameter("date_trunc out of range"))?;
    Ok(if tz {
        Datum::TimestampTz(t.and_utc())
    } else {
        Datum::Timestamp(t)
    })
}
