//! Array builtins (one-dimensional arrays, 1-based).

use std::cmp::Ordering;

use super::super::expr::{BinOp, binary};
use super::{Args, Builtin, Call, Ret, text};
use crate::error::Result;
use crate::types::{Datum, Type};

const INT: Ret = Ret::Is(Type::Int8);

/// The type of the first array argument (STRING[] when none has one).
const ARRAY_ARG: Ret = Ret::Rule(|args| {
    args.iter()
        .find(|t| matches!(t, Type::Array(_)))
        .cloned()
        .unwrap_or(Type::Array(Box::new(Type::String)))
});

pub(super) static BUILTINS: &[Builtin] = &[
    // `array_length(a, dimension)`: arrays have one dimension.
    Builtin::new(&["array_length"], Args::Exact(2), INT, |c| match c.arg(0) {
        Datum::Array(a) if a.is_empty() => Ok(Datum::Null),
        Datum::Array(a) => Ok(Datum::Int(a.len() as i64)),
        _ => Err(c.wrong_args()),
    }),
    Builtin::new(&["cardinality"], Args::Exact(1), INT, |c| match c.arg(0) {
        Datum::Array(a) => Ok(Datum::Int(a.len() as i64)),
        _ => Err(c.wrong_args()),
    }),
    Builtin::new(
        &["array_upper", "pg_catalog.array_upper"],
        Args::Exact(2),
        INT,
        |c| {
            Ok(match c.arg(0) {
                Datum::Array(a) if !a.is_empty() => Datum::Int(a.len() as i64),
                _ => Datum::Null,
            })
        },
    ),
    Builtin::new(
        &["array_lower", "pg_catalog.array_lower"],
        Args::Exact(2),
        INT,
        |c| {
            Ok(match c.arg(0) {
                Datum::Array(a) if !a.is_empty() => Datum::Int(1),
                _ => Datum::Null,
            })
        },
    ),
    Builtin::new(&["array_position"], Args::Exact(2), INT, |c| {
        match c.arg(0) {
            Datum::Array(a) => Ok(a
                .iter()
                .position(|d| d.compare(c.arg(1)) == Some(Ordering::Equal))
                .map_or(Datum::Null, |i| Datum::Int(i as i64 + 1))),
            _ => Err(c.wrong_args()),
        }
    }),
    Builtin::new(&["array_append"], Args::Exact(2), ARRAY_ARG, |c| {
        let mut a = c.take_array(0)?;
        a.push(c.take(1));
        Ok(Datum::Array(a))
    }),
    Builtin::new(&["array_prepend"], Args::Exact(2), ARRAY_ARG, |c| {
        let mut a = c.take_array(1)?;
        a.insert(0, c.take(0));
        Ok(Datum::Array(a))
    }),
    Builtin::new(&["array_cat"], Args::Exact(2), ARRAY_ARG, |c| {
        binary(BinOp::Concat, c.take(0), c.take(1))
    }),
    Builtin::new(&["array_remove"], Args::Exact(2), ARRAY_ARG, |c| {
        let a = c.take_array(0)?;
        let x = c.arg(1);
        Ok(Datum::Array(
            a.into_iter()
                .filter(|d| d.compare(x) != Some(Ordering::Equal))
                .collect(),
        ))
    }),
    // NULL elements are left out (and a NULL separator is the text NULL).
    Builtin::new(
        &["array_to_string", "pg_catalog.array_to_string"],
        Args::Exact(2),
        Ret::Is(Type::String),
        array_to_string,
    )
    .sees_nulls(),
];

fn array_to_string(c: &mut Call<'_>) -> Result<Datum> {
    Ok(match (c.arg(0), c.arg(1)) {
        (Datum::Array(a), sep) => Datum::String(
            a.iter()
                .filter(|d| !d.is_null())
                .map(text)
                .collect::<Vec<_>>()
                .join(&text(sep)),
        ),
        _ => Datum::Null,
    })
}
