//! Aggregate functions: `count`, `sum`, `avg`, `min`, `max`, `bool_and`, `bool_or`,
//! `string_agg`, `array_agg`, `json_agg`, `stddev`, `variance`.
//!
//! An [`AggCall`] is compiled by the planner (arguments over the input row); the executor keeps
//! one [`Accumulator`] per call per group and feeds it the evaluated arguments.

use std::cmp::Ordering;

use base::errcode;
use rust_decimal::Decimal;

use super::expr::{Expr, RowKey};
use crate::error::{Result, SqlError};
use crate::types::{Datum, Type};

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `count(*)`.
    CountRows,
    /// `count(x)`.
    Count,
    /// `sum(x)`.
    Sum,
    /// `avg(x)`.
    Avg,
    /// `min(x)`.
    Min,
    /// `max(x)`.
    Max,
    /// `bool_and(x)` / `every(x)`.
    BoolAnd,
    /// `bool_or(x)`.
    BoolOr,
    /// `string_agg(x, sep)`.
    StringAgg,
    /// `array_agg(x)`.
    ArrayAgg,
    /// `json_agg(x)`.
    JsonAgg,
    /// `stddev(x)`.
    Stddev,
    /// `variance(x)`.
    Variance,
}

impl AggFunc {
    /// The function for a name.
    pub fn from_name(name: &str, star: bool) -> Option<AggFunc> {
        let name = name.strip_prefix("pg_catalog.").unwrap_or(name);
        Some(match name {
            "count" if star => AggFunc::CountRows,
            "count_rows" => AggFunc::CountRows,
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            "bool_and" | "every" => AggFunc::BoolAnd,
            "bool_or" => AggFunc::BoolOr,
            "string_agg" => AggFunc::StringAgg,
            "array_agg" => AggFunc::ArrayAgg,
            "json_agg" | "jsonb_agg" => AggFunc::JsonAgg,
            "stddev" => AggFunc::Stddev,
            "variance" => AggFunc::Variance,
            _ => return None,
        })
    }

    /// The name for EXPLAIN.
    pub fn name(self) -> &'static str {
        match self {
            AggFunc::CountRows => "count_rows",
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
            AggFunc::BoolAnd => "bool_and",
            AggFunc::BoolOr => "bool_or",
            AggFunc::StringAgg => "string_agg",
            AggFunc::ArrayAgg => "array_agg",
            AggFunc::JsonAgg => "json_agg",
            AggFunc::Stddev => "stddev",
            AggFunc::Variance => "variance",
        }
    }

    /// The result type for an argument type, or an error for a wrong argument.
    pub fn result_type(self, arg: Option<&Type>) -> Result<Type> {
        let arg = arg.cloned().unwrap_or(Type::Unknown);
        let bad = || {
            SqlError::new(
                errcode::UNDEFINED_FUNCTION,
                format!("unknown signature: {}({})", self.name(), arg.error_name()),
            )
        };
        Ok(match self {
            AggFunc::CountRows | AggFunc::Count => Type::Int8,
            AggFunc::Sum => match arg {
                Type::Int2 | Type::Int4 | Type::Int8 | Type::Decimal { .. } | Type::Unknown => {
                    Type::decimal()
                }
                Type::Float4 | Type::Float8 => Type::Float8,
                Type::Interval => Type::Interval,
                _ => return Err(bad()),
            },
            AggFunc::Avg | AggFunc::Stddev | AggFunc::Variance => match arg {
                Type::Int2 | Type::Int4 | Type::Int8 | Type::Decimal { .. } | Type::Unknown => {
                    Type::decimal()
                }
                Type::Float4 | Type::Float8 => Type::Float8,
                Type::Interval if self == AggFunc::Avg => Type::Interval,
                _ => return Err(bad()),
            },
            AggFunc::Min | AggFunc::Max => arg,
            AggFunc::BoolAnd | AggFunc::BoolOr => match arg {
                Type::Bool | Type::Unknown => Type::Bool,
                _ => return Err(bad()),
            },
            AggFunc::StringAgg => Type::String,
            AggFunc::ArrayAgg => Type::Array(Box::new(arg)),
            AggFunc::JsonAgg => Type::Jsonb,
        })
    }
}

/// One aggregate in a query.
#[derive(Clone, Debug)]
pub struct AggCall {
    /// The function.
    pub func: AggFunc,
    /// Arguments over the input row.
    pub args: Vec<Expr>,
    /// `DISTINCT`.
    pub distinct: bool,
    /// `FILTER (WHERE ...)`.
    pub filter: Option<Expr>,
}

/// The running state of one aggregate for one group.
#[derive(Debug, Default)]
pub struct Accumulator {
    count: i64,
    value: Option<Datum>,
    items: Vec<Datum>,
    sep: Option<String>,
    seen: std::collections::BTreeSet<RowKey>,
    sum_f: f64,
    sum_sq: f64,
    sum_d: Decimal,
    float: bool,
}

impl Accumulator {
    /// Feeds one row's argument values.
    pub fn add(&mut self, call: &AggCall, args: Vec<Datum>) -> Result<()> {
        if call.func == AggFunc::CountRows {
            self.count += 1;
            return Ok(());
        }
        let v = args.first().cloned().unwrap_or(Datum::Null);
        if v.is_null() {
            return Ok(());
        }
        if call.distinct && !self.seen.insert(RowKey(vec![v.clone()])) {
            return Ok(());
        }
        self.count += 1;
        match call.func {
            AggFunc::CountRows | AggFunc::Count => {}
            AggFunc::Sum | AggFunc::Avg | AggFunc::Stddev | AggFunc::Variance => match &v {
                Datum::Int(i) => {
                    self.sum_d += Decimal::from(*i);
                    let f = *i as f64;
                    self.sum_f += f;
                    self.sum_sq += f * f;
                }
                Datum::Decimal(d) => {
                    self.sum_d += *d;
                    let f = crate::types::dec_to_f64(d);
                    self.sum_f += f;
                    self.sum_sq += f * f;
                }
                Datum::Float(f) => {
                    self.float = true;
                    self.sum_f += f;
                    self.sum_sq += f * f;
                }
                Datum::Interval(_) => {
                    self.value = Some(match self.value.take() {
                        None => v,
                        Some(acc) => super::expr::binary(super::expr::BinOp::Add, acc, v)?,
                    });
                }
                other => {
                    return Err(SqlError::new(
                        errcode::UNDEFINED_FUNCTION,
                        format!(
                            "unknown signature: {}({})",
                            call.func.name(),
                            other.natural_type().error_name()
                        ),
                    ));
                }
            },
            AggFunc::Min | AggFunc::Max => {
                let replace = match &self.value {
                    None => true,
                    Some(cur) => {
                        let o = v.total_cmp(cur);
                        (call.func == AggFunc::Min && o == Ordering::Less)
                            || (call.func == AggFunc::Max && o == Ordering::Greater)
                    }
                };
                if replace {
                    self.value = Some(v);
                }
            }
            AggFunc::BoolAnd | AggFunc::BoolOr => {
                let b = v.as_bool().unwrap_or(false);
                let cur = self.value.as_ref().and_then(Datum::as_bool);
                let next = match (call.func, cur) {
                    (AggFunc::BoolAnd, Some(c)) => c && b,
                    (AggFunc::BoolOr, Some(c)) => c || b,
                    _ => b,
                };
                self.value = Some(Datum::Bool(next));
            }
            AggFunc::StringAgg => {
                if self.sep.is_none() {
                    self.sep = Some(args.get(1).map(|s| s.to_string()).unwrap_or_default());
                }
                self.items.push(v);
            }
            AggFunc::ArrayAgg | AggFunc::JsonAgg => self.items.push(v),
        }
        Ok(())
    }

    /// Feeds a NULL-including value to array_agg (which keeps NULLs).
    pub fn add_array_null(&mut self) {
        self.items.push(Datum::Null);
    }

    /// The final value.
    pub fn finish(self, call: &AggCall) -> Datum {
        match call.func {
            AggFunc::CountRows | AggFunc::Count => Datum::Int(self.count),
            _ if self.count == 0 && call.func != AggFunc::ArrayAgg => Datum::Null,
            AggFunc::Sum => {
                if let Some(v) = self.value {
                    v
                } else if self.float {
                    Datum::Float(self.sum_f)
                } else {
                    Datum::Decimal(self.sum_d)
                }
            }
            AggFunc::Avg => {
                if let Some(Datum::Interval(i)) = self.value {
                    return Datum::Interval(crate::types::Interval {
                        months: 0,
                        days: 0,
                        micros: i64::try_from(i.total_micros() / i128::from(self.count))
                            .unwrap_or(0),
                    });
                }
                if self.float {
                    Datum::Float(self.sum_f / self.count as f64)
                } else {
                    let avg = self.sum_d / Decimal::from(self.count);
                    Datum::Decimal(avg.round_dp(20).normalize())
                }
            }
            AggFunc::Stddev | AggFunc::Variance => {
                if self.count < 2 {
                    return Datum::Null;
                }
                let n = self.count as f64;
                let var = (self.sum_sq - self.sum_f * self.sum_f / n) / (n - 1.0);
                let v = if call.func == AggFunc::Stddev {
                    var.max(0.0).sqrt()
                } else {
                    var
                };
                if self.float {
                    Datum::Float(v)
                } else {
                    use rust_decimal::prelude::FromPrimitive;
                    Decimal::from_f64(v).map_or(Datum::Float(v), Datum::Decimal)
                }
            }
            AggFunc::Min | AggFunc::Max | AggFunc::BoolAnd | AggFunc::BoolOr => {
                self.value.unwrap_or(Datum::Null)
            }
            AggFunc::StringAgg => Datum::String(
                self.items
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(self.sep.as_deref().unwrap_or("")),
            ),
            AggFunc::ArrayAgg => {
                if self.items.is_empty() {
                    Datum::Null
                } else {
                    Datum::Array(self.items)
                }
            }
            AggFunc::JsonAgg => Datum::Json(serde_json::Value::Array(
                self.items.iter().map(super::builtins::to_json).collect(),
            )),
        }
    }
}
