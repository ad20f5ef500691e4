//! Scalar builtin functions: their result types ([`return_type`], at plan time) and their
//! evaluation ([`call`]). Names are lower case; `pg_catalog.` and `crdb_internal.` prefixes are
//! kept for the functions that need them (`crdb_internal.locality_value`).
//!
//! Volatile functions read the statement's [`EvalEnv`](super::expr::EvalEnv): `now()` is the
//! statement time, `gateway_region()` the gateway node's region tier.

use base::errcode;
use chrono::{Datelike, Timelike};
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use super::expr::EvalCtx;
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Type};

/// The longest string `repeat`, `lpad` and `rpad` build, in bytes.
const MAX_STRING_BYTES: usize = 64 << 20;

/// Functions that are not aggregates but are recognised for the error message.
pub const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "bool_and",
    "bool_or",
    "every",
    "string_agg",
    "array_agg",
    "json_agg",
    "jsonb_agg",
    "stddev",
    "variance",
    "count_rows",
];

/// Whether `name` is an aggregate.
pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name.strip_prefix("pg_catalog.").unwrap_or(name))
}

fn wrong_args(name: &str, args: &[Type]) -> SqlError {
    let list: Vec<String> = args.iter().map(|t| t.error_name()).collect();
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!("unknown signature: {name}({})", list.join(", ")),
    )
}

fn numeric_result(t: &Type) -> Type {
    match t {
        Type::Unknown => Type::decimal(),
        t => t.clone(),
    }
}

/// The result type of `name(args)`; `None` for an unknown function.
pub fn return_type(name: &str, args: &[Type]) -> Option<Result<Type>> {
    let n = args.len();
    let ok = |t: Type| Some(Ok(t));
    let bad = || Some(Err(wrong_args(name, args)));
    match name {
        "now"
        | "current_timestamp"
        | "statement_timestamp"
        | "transaction_timestamp"
        | "clock_timestamp"
        | "localtimestamp" => {
            if n == 0 {
                ok(Type::TimestampTz)
            } else {
                bad()
            }
        }
        "follower_read_timestamp" | "crdb_internal.follower_read_timestamp" => {
            ok(Type::TimestampTz)
        }
        "current_date" => ok(Type::Date),
        "gen_random_uuid" | "uuid_generate_v4" | "uuid_v4" => ok(Type::Uuid),
        "unique_rowid" | "crdb_internal.node_id" | "random_int" => ok(Type::Int8),
        "random" => ok(Type::Float8),
        "gateway_region"
        | "crdb_internal.locality_value"
        | "version"
        | "current_database"
        | "current_schema"
        | "current_user"
        | "session_user"
        | "current_catalog"
        | "user"
        | "pg_typeof"
        | "md5"
        | "to_hex"
        | "chr"
        | "initcap"
        | "quote_ident"
        | "pg_catalog.quote_ident"
        | "quote_literal"
        | "pg_catalog.pg_get_userbyid"
        | "pg_get_userbyid"
        | "pg_catalog.format_type"
        | "format_type"
        | "pg_encoding_to_char"
        | "pg_catalog.pg_encoding_to_char"
        | "cluster_logical_timestamp"
        | "split_part"
        | "to_char"
        | "crdb_internal.cluster_name"
        | "array_to_string"
        | "encode" => ok(Type::String),
        "default_to_database_primary_region" => match args {
            [Type::String | Type::Unknown] => ok(Type::String),
            _ => bad(),
        },
        "pg_catalog.pg_relation_is_publishable" | "pg_relation_is_publishable" => ok(Type::Bool),
        "pg_catalog.pg_partition_ancestors" | "pg_partition_ancestors" => ok(Type::Oid),
        "pg_catalog.array_upper" | "array_upper" | "pg_catalog.array_lower" | "array_lower" => {
            ok(Type::Int8)
        }
        "pg_catalog.pg_get_triggerdef" | "pg_get_triggerdef" => ok(Type::String),
        "lower" | "upper" | "btrim" | "ltrim" | "rtrim" | "trim" | "replace" | "left" | "right"
        | "repeat" | "reverse" | "lpad" | "rpad" | "translate" | "substr" | "substring"
        | "concat" | "concat_ws" | "regexp_replace" | "overlay" => ok(Type::String),
        "length" | "char_length" | "character_length" | "octet_length" | "strpos" | "position"
        | "array_length" | "cardinality" | "ascii" | "bit_length" | "array_position" => {
            ok(Type::Int8)
        }
        "abs" | "ceil" | "ceiling" | "floor" | "sign" | "trunc" | "mod" => {
            ok(numeric_result(args.first().unwrap_or(&Type::Unknown)))
        }
        "round" => ok(numeric_result(args.first().unwrap_or(&Type::Unknown))),
        "sqrt" | "cbrt" | "exp" | "ln" | "log" | "log10" | "pi" | "degrees" | "radians" | "sin"
        | "cos" | "tan" | "atan" | "asin" | "acos" => match args.first() {
            Some(Type::Decimal { .. }) => ok(Type::decimal()),
            _ => ok(Type::Float8),
        },
        "power" | "pow" => match args.first() {
            Some(Type::Int8 | Type::Int4 | Type::Int2)
                if args.get(1).is_some_and(|t| t.is_numeric()) =>
            {
                ok(Type::Float8)
            }
            Some(Type::Decimal { .. }) => ok(Type::decimal()),
            _ => ok(Type::Float8),
        },
        "coalesce" | "ifnull" | "nullif" | "greatest" | "least" => ok(args
            .iter()
            .find(|t| **t != Type::Unknown)
            .cloned()
            .unwrap_or(Type::Unknown)),
        "extract" | "date_part" => ok(Type::Float8),
        "date_trunc" => ok(args.get(1).cloned().unwrap_or(Type::TimestampTz)),
        "age" => ok(Type::Interval),
        "to_json" | "to_jsonb" | "json_build_object" | "jsonb_build_object"
        | "json_build_array" | "jsonb_build_array" | "json_object" | "jsonb_set" => ok(Type::Jsonb),
        "json_typeof" | "jsonb_typeof" | "jsonb_pretty" => ok(Type::String),
        "array_append" | "array_prepend" | "array_cat" | "array_remove" => ok(args
            .iter()
            .find(|t| matches!(t, Type::Array(_)))
            .cloned()
            .unwrap_or(Type::Array(Box::new(Type::String)))),
        "string_to_array" => ok(Type::Array(Box::new(Type::String))),
        "to_timestamp" => ok(Type::TimestampTz),
        "pg_catalog.pg_table_is_visible"
        | "pg_table_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "pg_catalog.pg_is_in_recovery"
        | "pg_is_in_recovery"
        | "pg_catalog.pg_type_is_visible"
        | "pg_type_is_visible"
        | "pg_catalog.pg_function_is_visible"
        | "pg_function_is_visible" => ok(Type::Bool),
        "obj_description"
        | "pg_catalog.obj_description"
        | "col_description"
        | "pg_catalog.col_description"
        | "shobj_description"
        | "pg_catalog.shobj_description"
        | "pg_get_expr"
        | "pg_catalog.pg_get_expr"
        | "pg_get_indexdef"
        | "pg_catalog.pg_get_indexdef"
        | "pg_get_constraintdef"
        | "pg_catalog.pg_get_constraintdef"
        | "pg_catalog.array_to_string"
        | "pg_catalog.pg_get_statisticsobjdef_columns"
        | "pg_get_partkeydef"
        | "pg_catalog.pg_get_partkeydef"
        | "current_setting"
        | "pg_catalog.current_setting" => ok(Type::String),
        "pg_catalog.pg_relation_size"
        | "pg_relation_size"
        | "pg_catalog.pg_total_relation_size"
        | "pg_total_relation_size"
        | "pg_database_size"
        | "pg_catalog.pg_database_size" => ok(Type::Int8),
        "pg_catalog.pg_size_pretty" | "pg_size_pretty" => ok(Type::String),
        #[cfg(feature = "testing")]
        "crdb_internal.force_panic" => ok(Type::Int8),
        _ => None,
    }
}

fn arg_err(name: &str, vals: &[Datum]) -> SqlError {
    let types: Vec<Type> = vals.iter().map(Datum::natural_type).collect();
    wrong_args(name, &types)
}

/// A value as text for string functions (booleans as `true`/`false`).
pub fn text(d: &Datum) -> String {
    s(d)
}

fn s(d: &Datum) -> String {
    match d {
        Datum::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn float_fn(v: &Datum, f: impl Fn(f64) -> f64) -> Datum {
    match v {
        Datum::Int(i) => Datum::Float(f(*i as f64)),
        Datum::Float(x) => Datum::Float(f(*x)),
        Datum::Decimal(d) => {
            let r = f(types::dec_to_f64(d));
            Decimal::from_f64(r).map_or(Datum::Float(r), Datum::Decimal)
        }
        _ => Datum::Null,
    }
}

/// Calls a scalar builtin on evaluated arguments.
pub fn call(name: &str, vals: Vec<Datum>, ctx: &EvalCtx) -> Result<Datum> {
    let env = ctx.env;
    // Functions that look at NULL arguments themselves.
    match name {
        "coalesce" | "ifnull" => {
            return Ok(vals
                .into_iter()
                .find(|v| !v.is_null())
                .unwrap_or(Datum::Null));
        }
        "nullif" => {
            let [a, b] = <[Datum; 2]>::try_from(vals).map_err(|v| arg_err(name, &v))?;
            return Ok(
                if !a.is_null() && a.compare(&b) == Some(std::cmp::Ordering::Equal) {
                    Datum::Null
                } else {
                    a
                },
            );
        }
        "greatest" | "least" => {
            let mut best: Option<Datum> = None;
            for v in vals.into_iter().filter(|v| !v.is_null()) {
                best = Some(match best {
                    None => v,
                    Some(b) => {
                        let o = v.total_cmp(&b);
                        if (name == "greatest") == (o == std::cmp::Ordering::Greater) {
                            v
                        } else {
                            b
                        }
                    }
                });
            }
            return Ok(best.unwrap_or(Datum::Null));
        }
        "concat" => {
            return Ok(Datum::String(
                vals.iter().filter(|v| !v.is_null()).map(s).collect(),
            ));
        }
        "concat_ws" => {
            let mut it = vals.into_iter();
            let Some(sep) = it.next() else {
                return Err(arg_err(name, &[]));
            };
            if sep.is_null() {
                return Ok(Datum::Null);
            }
            let parts: Vec<String> = it.filter(|v| !v.is_null()).map(|v| s(&v)).collect();
            return Ok(Datum::String(parts.join(&s(&sep))));
        }
        "pg_typeof" => {
            return Ok(Datum::String(
                vals.first()
                    .map_or("unknown".into(), |v| v.natural_type().pg_name()),
            ));
        }
        "default_to_database_primary_region" => {
            let v = vals.into_iter().next().unwrap_or(Datum::Null);
            if let Datum::String(r) = &v
                && env.db_regions.contains(r)
            {
                return Ok(v);
            }
            return Ok(env
                .db_primary_region
                .clone()
                .map_or(Datum::Null, Datum::String));
        }
        "array_to_string" | "pg_catalog.array_to_string" => {
            return Ok(match (vals.first(), vals.get(1)) {
                (Some(Datum::Array(a)), Some(sep)) => Datum::String(
                    a.iter()
                        .filter(|d| !d.is_null())
                        .map(s)
                        .collect::<Vec<_>>()
                        .join(&s(sep)),
                ),
                _ => Datum::Null,
            });
        }
        "obj_description"
        | "pg_catalog.obj_description"
        | "col_description"
        | "pg_catalog.col_description"
        | "shobj_description"
        | "pg_catalog.shobj_description"
        | "pg_get_partkeydef"
        | "pg_catalog.pg_get_partkeydef"
        | "pg_catalog.pg_get_statisticsobjdef_columns" => return Ok(Datum::Null),
        _ => {}
    }
    // Nullary functions.
    match name {
        "now"
        | "current_timestamp"
        | "statement_timestamp"
        | "transaction_timestamp"
        | "localtimestamp" => return Ok(Datum::TimestampTz(env.now)),
        "clock_timestamp" => return Ok(Datum::TimestampTz(env.now)),
        "current_date" => return Ok(Datum::Date(env.now.date_naive())),
        "follower_read_timestamp" | "crdb_internal.follower_read_timestamp" => {
            return Ok(Datum::TimestampTz(
                env.now - chrono::Duration::milliseconds(super::FOLLOWER_READ_LAG_MS),
            ));
        }
        "gen_random_uuid" | "uuid_generate_v4" | "uuid_v4" => {
            return Ok(Datum::Uuid(uuid::Uuid::new_v4()));
        }
        "unique_rowid" => return Ok(Datum::Int(unique_rowid(env))),
        "random" => return Ok(Datum::Float(rand::random::<f64>())),
        "random_int" => return Ok(Datum::Int(rand::random::<i64>() & i64::MAX)),
        "gateway_region" => {
            return env
                .gateway_region
                .clone()
                .map(Datum::String)
                .ok_or_else(|| {
                    SqlError::invalid_parameter("no region set on the locality flag on this node")
                });
        }
        "crdb_internal.node_id" => return Ok(Datum::Int(env.node_id as i64)),
        "version" => {
            return Ok(Datum::String(
                "CockroachDB CCL v23.1.0 (Sextant, Rust)".into(),
            ));
        }
        "current_database" | "current_catalog" => return Ok(Datum::String(env.database.clone())),
        "current_schema" => return Ok(Datum::String("public".into())),
        "current_user" | "session_user" | "user" => return Ok(Datum::String(env.user.clone())),
        "cluster_logical_timestamp" => return Ok(Datum::String(env.logical_ts.clone())),
        "crdb_internal.cluster_name" => return Ok(Datum::String(String::new())),
        "pi" => return Ok(Datum::Float(std::f64::consts::PI)),
        "pg_catalog.pg_is_in_recovery" | "pg_is_in_recovery" => return Ok(Datum::Bool(false)),
        _ => {}
    }
    // Everything else is strict: NULL in, NULL out.
    if vals.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    let a0 = vals.first().cloned().unwrap_or(Datum::Null);
    let a1 = vals.get(1).cloned().unwrap_or(Datum::Null);
    let a2 = vals.get(2).cloned().unwrap_or(Datum::Null);
    let int = |d: &Datum| -> Result<i64> {
        match d {
            Datum::Int(i) => Ok(*i),
            Datum::Float(f) => Ok(*f as i64),
            Datum::Decimal(x) => x.to_i64().ok_or_else(|| arg_err(name, &vals)),
            _ => Err(arg_err(name, &vals)),
        }
    };
    Ok(match name {
        "pg_catalog.pg_partition_ancestors" | "pg_partition_ancestors" => {
            types::cast(a0, &Type::Oid)?
        }
        "pg_catalog.pg_relation_is_publishable" | "pg_relation_is_publishable" => {
            Datum::Bool(false)
        }
        "pg_catalog.array_upper" | "array_upper" => match &a0 {
            Datum::Array(a) if !a.is_empty() => Datum::Int(a.len() as i64),
            _ => Datum::Null,
        },
        "pg_catalog.array_lower" | "array_lower" => match &a0 {
            Datum::Array(a) if !a.is_empty() => Datum::Int(1),
            _ => Datum::Null,
        },
        "pg_catalog.pg_get_triggerdef" | "pg_get_triggerdef" => Datum::String(String::new()),
        "crdb_internal.locality_value" => {
            let key = s(&a0);
            env.locality
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(Datum::Null, |(_, v)| Datum::String(v.clone()))
        }
        "lower" => Datum::String(s(&a0).to_lowercase()),
        "upper" => Datum::String(s(&a0).to_uppercase()),
        "initcap" => Datum::String(
            s(&a0)
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    match c.next() {
                        Some(f) => {
                            f.to_uppercase().collect::<String>() + &c.as_str().to_lowercase()
                        }
                        None => String::new(),
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "length" | "char_length" | "character_length" => match &a0 {
            Datum::Bytes(b) => Datum::Int(b.len() as i64),
            other => Datum::Int(s(other).chars().count() as i64),
        },
        "octet_length" => match &a0 {
            Datum::Bytes(b) => Datum::Int(b.len() as i64),
            other => Datum::Int(s(other).len() as i64),
        },
        "bit_length" => Datum::Int(s(&a0).len() as i64 * 8),
        "ascii" => Datum::Int(s(&a0).chars().next().map_or(0, |c| c as i64)),
        "chr" => Datum::String(
            char::from_u32(u32::try_from(int(&a0)?).unwrap_or(0))
                .map(String::from)
                .unwrap_or_default(),
        ),
        "substr" | "substring" => {
            let text: Vec<char> = s(&a0).chars().collect();
            let start = int(&a1)?;
            let len = if vals.len() > 2 {
                Some(int(&a2)?)
            } else {
                None
            };
            if len.is_some_and(|l| l < 0) {
                return Err(SqlError::invalid_parameter(format!(
                    "{name}(): negative substring length {} not allowed",
                    len.unwrap_or(0)
                )));
            }
            let from = start.saturating_sub(1);
            let to = len.map_or(i64::MAX, |l| from.saturating_add(l));
            let from = from.max(0) as usize;
            let to = to.clamp(0, text.len() as i64) as usize;
            Datum::String(if from >= to {
                String::new()
            } else {
                text[from..to].iter().collect()
            })
        }
        "left" => {
            let n = int(&a1)?;
            let text: Vec<char> = s(&a0).chars().collect();
            let k = if n >= 0 {
                (n as usize).min(text.len())
            } else {
                text.len().saturating_sub(n.unsigned_abs() as usize)
            };
            Datum::String(text[..k].iter().collect())
        }
        "right" => {
            let n = int(&a1)?;
            let text: Vec<char> = s(&a0).chars().collect();
            let k = if n >= 0 {
                (n as usize).min(text.len())
            } else {
                text.len().saturating_sub(n.unsigned_abs() as usize)
            };
            Datum::String(text[text.len() - k..].iter().collect())
        }
        "repeat" => {
            let n = int(&a1)?.max(0) as usize;
            if n.saturating_mul(s(&a0).len()) > MAX_STRING_BYTES {
                return Err(SqlError::invalid_parameter("requested length too large"));
            }
            Datum::String(s(&a0).repeat(n))
        }
        "reverse" => Datum::String(s(&a0).chars().rev().collect()),
        "replace" => Datum::String(s(&a0).replace(&s(&a1), &s(&a2))),
        "translate" => {
            let from: Vec<char> = s(&a1).chars().collect();
            let to: Vec<char> = s(&a2).chars().collect();
            Datum::String(
                s(&a0)
                    .chars()
                    .filter_map(|c| match from.iter().position(|f| *f == c) {
                        Some(i) => to.get(i).copied(),
                        None => Some(c),
                    })
                    .collect(),
            )
        }
        "btrim" | "trim" => {
            let chars: Vec<char> = if vals.len() > 1 {
                s(&a1).chars().collect()
            } else {
                vec![' ']
            };
            Datum::String(s(&a0).trim_matches(|c| chars.contains(&c)).to_string())
        }
        "ltrim" => {
            let chars: Vec<char> = if vals.len() > 1 {
                s(&a1).chars().collect()
            } else {
                vec![' ']
            };
            Datum::String(
                s(&a0)
                    .trim_start_matches(|c| chars.contains(&c))
                    .to_string(),
            )
        }
        "rtrim" => {
            let chars: Vec<char> = if vals.len() > 1 {
                s(&a1).chars().collect()
            } else {
                vec![' ']
            };
            Datum::String(s(&a0).trim_end_matches(|c| chars.contains(&c)).to_string())
        }
        "lpad" | "rpad" => {
            let n = int(&a1)?.max(0) as usize;
            // Characters take up to four bytes.
            if n.saturating_mul(4) > MAX_STRING_BYTES {
                return Err(SqlError::invalid_parameter("requested length too large"));
            }
            let fill: Vec<char> = if vals.len() > 2 {
                s(&a2).chars().collect()
            } else {
                vec![' ']
            };
            let text: Vec<char> = s(&a0).chars().collect();
            if text.len() >= n || fill.is_empty() {
                Datum::String(text[..n.min(text.len())].iter().collect())
            } else {
                let pad: String = fill.iter().cycle().take(n - text.len()).collect();
                let t: String = text.iter().collect();
                Datum::String(if name == "lpad" { pad + &t } else { t + &pad })
            }
        }
        "strpos" | "position" => Datum::Int(
            s(&a0)
                .split_once(s(&a1).as_str())
                .map_or(0, |(before, _)| before.chars().count() as i64 + 1),
        ),
        "split_part" => {
            let n = int(&a2)?;
            if n <= 0 {
                return Err(SqlError::invalid_parameter(
                    "field position must be greater than zero",
                ));
            }
            Datum::String(
                s(&a0)
                    .split(&s(&a1))
                    .nth((n - 1) as usize)
                    .unwrap_or("")
                    .to_string(),
            )
        }
        "string_to_array" => Datum::Array(
            s(&a0)
                .split(&s(&a1))
                .map(|p| Datum::String(p.to_string()))
                .collect(),
        ),
        "md5" => Datum::String(md5_hex(s(&a0).as_bytes())),
        "to_hex" => Datum::String(format!("{:x}", int(&a0)?)),
        "encode" => match (&a0, s(&a1).as_str()) {
            (Datum::Bytes(b), "hex") => {
                Datum::String(b.iter().map(|x| format!("{x:02x}")).collect())
            }
            (Datum::Bytes(b), "escape") => Datum::String(String::from_utf8_lossy(b).to_string()),
            _ => return Err(arg_err(name, &vals)),
        },
        "quote_ident" | "pg_catalog.quote_ident" => {
            Datum::String(crate::parser::Name::new(s(&a0)).to_string())
        }
        "quote_literal" => Datum::String(format!("'{}'", s(&a0).replace('\'', "''"))),
        "abs" => match a0 {
            Datum::Int(i) => Datum::Int(i.checked_abs().ok_or_else(|| {
                SqlError::new(
                    errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                    "abs of min integer value (-9223372036854775808) not defined",
                )
            })?),
            Datum::Float(f) => Datum::Float(f.abs()),
            Datum::Decimal(d) => Datum::Decimal(d.abs()),
            _ => return Err(arg_err(name, &vals)),
        },
        "sign" => match a0 {
            Datum::Int(i) => Datum::Int(i.signum()),
            Datum::Float(f) => Datum::Float(if f == 0.0 { 0.0 } else { f.signum() }),
            Datum::Decimal(d) => Datum::Decimal(if d.is_zero() {
                d
            } else {
                if d.is_sign_negative() {
                    -rust_decimal::Decimal::ONE
                } else {
                    rust_decimal::Decimal::ONE
                }
            }),
            _ => return Err(arg_err(name, &vals)),
        },
        "ceil" | "ceiling" => match a0 {
            Datum::Int(i) => Datum::Int(i),
            Datum::Float(f) => Datum::Float(f.ceil()),
            Datum::Decimal(d) => Datum::Decimal(d.ceil()),
            _ => return Err(arg_err(name, &vals)),
        },
        "floor" => match a0 {
            Datum::Int(i) => Datum::Int(i),
            Datum::Float(f) => Datum::Float(f.floor()),
            Datum::Decimal(d) => Datum::Decimal(d.floor()),
            _ => return Err(arg_err(name, &vals)),
        },
        "trunc" => match a0 {
            Datum::Int(i) => Datum::Int(i),
            Datum::Float(f) => Datum::Float(f.trunc()),
            Datum::Decimal(d) => Datum::Decimal(if vals.len() > 1 {
                d.trunc_with_scale(u32::try_from(int(&a1)?.max(0)).unwrap_or(0))
            } else {
                d.trunc()
            }),
            _ => return Err(arg_err(name, &vals)),
        },
        "round" => {
            let places = if vals.len() > 1 { int(&a1)? } else { 0 };
            match a0 {
                Datum::Int(i) => Datum::Int(i),
                Datum::Float(f) => {
                    let m = 10f64.powi(places as i32);
                    Datum::Float((f * m).round_ties_even() / m)
                }
                Datum::Decimal(d) => Datum::Decimal(d.round_dp_with_strategy(
                    u32::try_from(places.max(0)).unwrap_or(0),
                    rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                )),
                _ => return Err(arg_err(name, &vals)),
            }
        }
        "mod" => super::expr::binary(super::expr::BinOp::Mod, a0, a1)?,
        "sqrt" => {
            if matches!(&a0, Datum::Int(i) if *i < 0)
                || matches!(&a0, Datum::Float(f) if *f < 0.0)
                || matches!(&a0, Datum::Decimal(d) if d.is_sign_negative() && !d.is_zero())
            {
                return Err(SqlError::new(
                    errcode::INVALID_PARAMETER_VALUE,
                    "cannot take square root of a negative number",
                ));
            }
            float_fn(&a0, f64::sqrt)
        }
        "cbrt" => float_fn(&a0, f64::cbrt),
        "exp" => float_fn(&a0, f64::exp),
        "ln" => float_fn(&a0, f64::ln),
        "log" | "log10" => float_fn(&a0, f64::log10),
        "degrees" => float_fn(&a0, f64::to_degrees),
        "radians" => float_fn(&a0, f64::to_radians),
        "sin" => float_fn(&a0, f64::sin),
        "cos" => float_fn(&a0, f64::cos),
        "tan" => float_fn(&a0, f64::tan),
        "asin" => float_fn(&a0, f64::asin),
        "acos" => float_fn(&a0, f64::acos),
        "atan" => float_fn(&a0, f64::atan),
        "power" | "pow" => match (&a0, &a1) {
            (Datum::Decimal(_), _) | (_, Datum::Decimal(_)) => {
                super::expr::binary(super::expr::BinOp::Pow, a0, a1)?
            }
            _ => {
                let x = types::cast(a0, &Type::Float8)?;
                let y = types::cast(a1, &Type::Float8)?;
                super::expr::binary(super::expr::BinOp::Pow, x, y)?
            }
        },
        "array_length" | "cardinality" => match a0 {
            Datum::Array(a) if a.is_empty() && name == "array_length" => Datum::Null,
            Datum::Array(a) => Datum::Int(a.len() as i64),
            _ => return Err(arg_err(name, &vals)),
        },
        "array_position" => match a0 {
            Datum::Array(a) => a
                .iter()
                .position(|d| d.compare(&a1) == Some(std::cmp::Ordering::Equal))
                .map_or(Datum::Null, |i| Datum::Int(i as i64 + 1)),
            _ => return Err(arg_err(name, &vals)),
        },
        "array_append" => match a0 {
            Datum::Array(mut a) => {
                a.push(a1);
                Datum::Array(a)
            }
            _ => return Err(arg_err(name, &vals)),
        },
        "array_prepend" => match a1 {
            Datum::Array(mut a) => {
                a.insert(0, a0);
                Datum::Array(a)
            }
            _ => return Err(arg_err(name, &vals)),
        },
        "array_cat" => super::expr::binary(super::expr::BinOp::Concat, a0, a1)?,
        "array_remove" => match a0 {
            Datum::Array(a) => Datum::Array(
                a.into_iter()
                    .filter(|d| d.compare(&a1) != Some(std::cmp::Ordering::Equal))
                    .collect(),
            ),
            _ => return Err(arg_err(name, &vals)),
        },
        "extract" | "date_part" => {
            let field = s(&a0).to_lowercase();
            types::extract_field(&field, &a1).ok_or_else(|| {
                SqlError::invalid_parameter(format!("unsupported timespan: {field}"))
            })?
        }
        "date_trunc" => date_trunc(&s(&a0).to_lowercase(), a1)?,
        "age" => match (&a0, &a1) {
            (Datum::TimestampTz(x), Datum::TimestampTz(y)) => {
                Datum::Interval(types::ts_diff(x.naive_utc(), y.naive_utc()))
            }
            (Datum::Timestamp(x), Datum::Timestamp(y)) => Datum::Interval(types::ts_diff(*x, *y)),
            (Datum::TimestampTz(x), _) => {
                Datum::Interval(types::ts_diff(env.now.naive_utc(), x.naive_utc()))
            }
            _ => return Err(arg_err(name, &vals)),
        },
        "to_timestamp" => match a0 {
            Datum::Int(i) => types::cast(Datum::Int(i), &Type::TimestampTz)?,
            Datum::Float(f) => Datum::TimestampTz(
                chrono::DateTime::from_timestamp_micros((f * 1e6) as i64)
                    .ok_or_else(|| arg_err(name, &vals))?,
            ),
            _ => return Err(arg_err(name, &vals)),
        },
        "to_char" => Datum::String(s(&a0)),
        "to_json" | "to_jsonb" => Datum::Json(to_json(&a0)),
        "json_build_object" | "jsonb_build_object" => {
            let mut m = serde_json::Map::new();
            for pair in vals.chunks(2) {
                if let [k, v] = pair {
                    m.insert(s(k), to_json(v));
                }
            }
            Datum::Json(serde_json::Value::Object(m))
        }
        "json_build_array" | "jsonb_build_array" => {
            Datum::Json(serde_json::Value::Array(vals.iter().map(to_json).collect()))
        }
        "json_typeof" | "jsonb_typeof" => match a0 {
            Datum::Json(j) => Datum::String(
                match j {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "boolean",
                    serde_json::Value::Number(_) => "number",
                    serde_json::Value::String(_) => "string",
                    serde_json::Value::Array(_) => "array",
                    serde_json::Value::Object(_) => "object",
                }
                .into(),
            ),
            _ => return Err(arg_err(name, &vals)),
        },
        "jsonb_pretty" => match a0 {
            Datum::Json(j) => Datum::String(serde_json::to_string_pretty(&j).unwrap_or_default()),
            _ => return Err(arg_err(name, &vals)),
        },
        "pg_catalog.pg_table_is_visible"
        | "pg_table_is_visible"
        | "has_table_privilege"
        | "has_schema_privilege"
        | "has_database_privilege"
        | "pg_catalog.pg_type_is_visible"
        | "pg_type_is_visible"
        | "pg_catalog.pg_function_is_visible"
        | "pg_function_is_visible" => Datum::Bool(true),
        "pg_catalog.pg_get_userbyid" | "pg_get_userbyid" => Datum::String("root".into()),
        "pg_encoding_to_char" | "pg_catalog.pg_encoding_to_char" => Datum::String("UTF8".into()),
        "pg_catalog.format_type" | "format_type" => {
            let oid = u32::try_from(int(&a0)?).unwrap_or(0);
            let typmod = if vals.len() > 1 { int(&a1)? } else { -1 };
            let name = match oid {
                1043 if typmod >= 4 => format!("character varying({})", typmod - 4),
                1042 if typmod >= 4 => format!("character({})", typmod - 4),
                1700 if typmod >= 4 => {
                    format!("numeric({},{})", (typmod - 4) >> 16, (typmod - 4) & 0xffff)
                }
                _ => Type::from_oid(oid).map_or_else(
                    || {
                        if oid >= 100_000 {
                            "USER-DEFINED".into()
                        } else {
                            "unknown".into()
                        }
                    },
                    |t| match oid {
                        1043 => "character varying".into(),
                        1042 => "character".into(),
                        _ => t.pg_name(),
                    },
                ),
            };
            Datum::String(name)
        }
        "pg_get_expr" | "pg_catalog.pg_get_expr" => Datum::String(s(&a0)),
        "pg_get_indexdef"
        | "pg_catalog.pg_get_indexdef"
        | "pg_get_constraintdef"
        | "pg_catalog.pg_get_constraintdef" => env
            .defs
            .lock()
            .get(&int(&a0)?)
            .map_or(Datum::Null, |d| Datum::String(d.clone())),
        "current_setting" | "pg_catalog.current_setting" => Datum::String(String::new()),
        "pg_catalog.pg_relation_size"
        | "pg_relation_size"
        | "pg_catalog.pg_total_relation_size"
        | "pg_total_relation_size"
        | "pg_database_size"
        | "pg_catalog.pg_database_size" => Datum::Int(0),
        "pg_catalog.pg_size_pretty" | "pg_size_pretty" => {
            Datum::String(format!("{} bytes", s(&a0)))
        }
        // CockroachDB's testing builtin: a panic inside a statement, to show that it stays
        // inside its connection. Only built with the `testing` feature.
        #[cfg(feature = "testing")]
        "crdb_internal.force_panic" => panic!("{}", s(&a0)),
        _ => {
            return Err(SqlError::new(
                errcode::UNDEFINED_FUNCTION,
                format!("unknown function: {name}()"),
            ));
        }
    })
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

/// A value as JSON.
pub fn to_json(d: &Datum) -> serde_json::Value {
    use serde_json::Value as V;
    match d {
        Datum::Null => V::Null,
        Datum::Bool(b) => V::Bool(*b),
        Datum::Int(i) => V::from(*i),
        Datum::Float(f) => serde_json::Number::from_f64(*f).map_or(V::Null, V::Number),
        Datum::Decimal(x) => serde_json::from_str(&x.to_string()).unwrap_or(V::Null),
        Datum::Json(j) => j.clone(),
        Datum::Array(a) => V::Array(a.iter().map(to_json).collect()),
        other => V::String(other.to_string()),
    }
}

fn unique_rowid(env: &super::expr::EvalEnv) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    // CockroachDB: timestamp in 10µs units shifted left by 15 bits, plus the node id.
    let micros = env.now.timestamp_micros() / 10;
    let candidate = (micros << 15) | (env.node_id as i64 & 0x7fff);
    let mut prev = LAST.load(Ordering::Relaxed);
    loop {
        let next = if candidate > prev {
            candidate
        } else {
            prev + (1 << 15)
        };
        match LAST.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

fn md5_hex(data: &[u8]) -> String {
    // RFC 1321.
    let s: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let (mut a0, mut b0, mut c0, mut d0) =
        (0x67452301u32, 0xefcdab89u32, 0x98badcfeu32, 0x10325476u32);
    let mut msg = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in msg.chunks(64) {
        let m: Vec<u32> = chunk
            .chunks(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let (mut a, mut b, mut c, mut d) = (a0, b0, c0, d0);
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(s[i]));
        }
        a0 = a0.wrapping_add(a);
        b0 = b0.wrapping_add(b);
        c0 = c0.wrapping_add(c);
        d0 = d0.wrapping_add(d);
    }
    [a0, b0, c0, d0]
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn md5_matches_reference() {
        assert_eq!(super::md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(super::md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
    }
}
