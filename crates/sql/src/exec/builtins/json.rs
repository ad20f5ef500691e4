//! JSON builtins (JSON and JSONB are one type).

use serde_json::Value;

use super::{Args, Builtin, Call, Ret, not_implemented, text};
use crate::error::Result;
use crate::types::{Datum, Type};

const JSONB: Ret = Ret::Is(Type::Jsonb);
const STRING: Ret = Ret::Is(Type::String);

pub(super) static BUILTINS: &[Builtin] = &[
    Builtin::new(&["to_json", "to_jsonb"], Args::Exact(1), JSONB, |c| {
        Ok(Datum::Json(to_json(c.arg(0))))
    }),
    // Pairs of key and value; a last key without a value is left out.
    Builtin::new(
        &["json_build_object", "jsonb_build_object"],
        Args::AtLeast(0),
        JSONB,
        |c| {
            let mut m = serde_json::Map::new();
            for pair in c.args.chunks(2) {
                if let [k, v] = pair {
                    m.insert(text(k), to_json(v));
                }
            }
            Ok(Datum::Json(Value::Object(m)))
        },
    ),
    Builtin::new(
        &["json_build_array", "jsonb_build_array"],
        Args::AtLeast(0),
        JSONB,
        |c| {
            Ok(Datum::Json(Value::Array(
                c.args.iter().map(to_json).collect(),
            )))
        },
    ),
    Builtin::new(
        &["json_typeof", "jsonb_typeof"],
        Args::Exact(1),
        STRING,
        typeof_,
    ),
    Builtin::new(&["jsonb_pretty"], Args::Exact(1), STRING, |c| {
        match c.arg(0) {
            Datum::Json(j) => Ok(Datum::String(
                serde_json::to_string_pretty(j).unwrap_or_default(),
            )),
            _ => Err(c.wrong_args()),
        }
    }),
    Builtin::new(&["json_object"], Args::AtLeast(0), JSONB, not_implemented),
    Builtin::new(&["jsonb_set"], Args::AtLeast(0), JSONB, not_implemented),
];

fn typeof_(c: &mut Call<'_>) -> Result<Datum> {
    let Datum::Json(j) = c.arg(0) else {
        return Err(c.wrong_args());
    };
    let name = match j {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    Ok(Datum::String(name.into()))
}

/// A value as JSON.
pub fn to_json(d: &Datum) -> Value {
    match d {
        Datum::Null => Value::Null,
        Datum::Bool(b) => Value::Bool(*b),
        Datum::Int(i) => Value::from(*i),
        Datum::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Datum::Decimal(x) => serde_json::from_str(&x.to_string()).unwrap_or(Value::Null),
        Datum::Json(j) => j.clone(),
        Datum::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        other => Value::String(other.to_string()),
    }
}
