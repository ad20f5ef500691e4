//! Numeric builtins.

use base::errcode;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

use super::super::expr::{BinOp, binary};
use super::{Args, Builtin, Call, DECIMAL, Ret};
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Type};

pub(super) static BUILTINS: &[Builtin] = &[
    Builtin::new(&["abs"], Args::Exact(1), Ret::Numeric, abs),
    Builtin::new(&["sign"], Args::Exact(1), Ret::Numeric, sign),
    Builtin::new(&["ceil", "ceiling"], Args::Exact(1), Ret::Numeric, |c| {
        rounded(c, f64::ceil, Decimal::ceil)
    }),
    Builtin::new(&["floor"], Args::Exact(1), Ret::Numeric, |c| {
        rounded(c, f64::floor, Decimal::floor)
    }),
    Builtin::new(&["trunc"], Args::Range(1, 2), Ret::Numeric, trunc),
    Builtin::new(&["round"], Args::Range(1, 2), Ret::Numeric, round),
    Builtin::new(&["mod"], Args::Exact(2), Ret::Numeric, |c| {
        binary(BinOp::Mod, c.take(0), c.take(1))
    }),
    Builtin::new(&["sqrt"], Args::Exact(1), Ret::Float, sqrt),
    Builtin::new(&["cbrt"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::cbrt)
    }),
    Builtin::new(&["exp"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::exp)
    }),
    Builtin::new(&["ln"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::ln)
    }),
    // `log(b, x)` is accepted but its base is not read yet: the result is log10(b).
    Builtin::new(&["log"], Args::Range(1, 2), Ret::Float, |c| {
        float_fn(c, f64::log10)
    }),
    Builtin::new(&["log10"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::log10)
    }),
    Builtin::new(&["degrees"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::to_degrees)
    }),
    Builtin::new(&["radians"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::to_radians)
    }),
    Builtin::new(&["sin"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::sin)
    }),
    Builtin::new(&["cos"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::cos)
    }),
    Builtin::new(&["tan"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::tan)
    }),
    Builtin::new(&["asin"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::asin)
    }),
    Builtin::new(&["acos"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::acos)
    }),
    Builtin::new(&["atan"], Args::Exact(1), Ret::Float, |c| {
        float_fn(c, f64::atan)
    }),
    Builtin::new(&["pi"], Args::Exact(0), Ret::Float, |_| {
        Ok(Datum::Float(std::f64::consts::PI))
    }),
    Builtin::new(
        &["power", "pow"],
        Args::Exact(2),
        Ret::Rule(power_type),
        power,
    ),
    Builtin::new(&["random"], Args::Exact(0), Ret::Is(Type::Float8), |_| {
        Ok(Datum::Float(rand::random::<f64>()))
    })
    .volatile(),
    Builtin::new(&["random_int"], Args::Exact(0), Ret::Is(Type::Int8), |_| {
        Ok(Datum::Int(rand::random::<i64>() & i64::MAX))
    })
    .volatile(),
];

fn abs(c: &mut Call<'_>) -> Result<Datum> {
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Int(i.checked_abs().ok_or_else(|| {
            SqlError::new(
                errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                "abs of min integer value (-9223372036854775808) not defined",
            )
        })?),
        Datum::Float(f) => Datum::Float(f.abs()),
        Datum::Decimal(d) => Datum::Decimal(d.abs()),
        _ => return Err(c.wrong_args()),
    })
}

fn sign(c: &mut Call<'_>) -> Result<Datum> {
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Int(i.signum()),
        Datum::Float(f) => Datum::Float(if *f == 0.0 { 0.0 } else { f.signum() }),
        Datum::Decimal(d) if d.is_zero() => Datum::Decimal(*d),
        Datum::Decimal(d) if d.is_sign_negative() => Datum::Decimal(-Decimal::ONE),
        Datum::Decimal(_) => Datum::Decimal(Decimal::ONE),
        _ => return Err(c.wrong_args()),
    })
}

/// `ceil` and `floor`: integers as they are, floats and decimals through `f` and `d`.
fn rounded(c: &mut Call<'_>, f: fn(f64) -> f64, d: fn(&Decimal) -> Decimal) -> Result<Datum> {
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Int(*i),
        Datum::Float(x) => Datum::Float(f(*x)),
        Datum::Decimal(x) => Datum::Decimal(d(x)),
        _ => return Err(c.wrong_args()),
    })
}

fn trunc(c: &mut Call<'_>) -> Result<Datum> {
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Int(*i),
        Datum::Float(f) => Datum::Float(f.trunc()),
        Datum::Decimal(d) => Datum::Decimal(if c.has(1) {
            d.trunc_with_scale(u32::try_from(c.int(1)?.max(0)).unwrap_or(0))
        } else {
            d.trunc()
        }),
        _ => return Err(c.wrong_args()),
    })
}

fn round(c: &mut Call<'_>) -> Result<Datum> {
    let places = if c.has(1) { c.int(1)? } else { 0 };
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Int(*i),
        Datum::Float(f) => {
            let m = 10f64.powi(places as i32);
            Datum::Float((f * m).round_ties_even() / m)
        }
        Datum::Decimal(d) => Datum::Decimal(d.round_dp_with_strategy(
            u32::try_from(places.max(0)).unwrap_or(0),
            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
        )),
        _ => return Err(c.wrong_args()),
    })
}

fn sqrt(c: &mut Call<'_>) -> Result<Datum> {
    let negative = match c.arg(0) {
        Datum::Int(i) => *i < 0,
        Datum::Float(f) => *f < 0.0,
        Datum::Decimal(d) => d.is_sign_negative() && !d.is_zero(),
        _ => false,
    };
    if negative {
        return Err(SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            "cannot take square root of a negative number",
        ));
    }
    float_fn(c, f64::sqrt)
}

/// A float function of the first argument; a decimal goes through f64 and back.
fn float_fn(c: &mut Call<'_>, f: fn(f64) -> f64) -> Result<Datum> {
    Ok(match c.arg(0) {
        Datum::Int(i) => Datum::Float(f(*i as f64)),
        Datum::Float(x) => Datum::Float(f(*x)),
        Datum::Decimal(d) => {
            let r = f(types::dec_to_f64(d));
            Decimal::from_f64(r).map_or(Datum::Float(r), Datum::Decimal)
        }
        _ => Datum::Null,
    })
}

fn power_type(args: &[Type]) -> Type {
    match args.first() {
        Some(Type::Decimal { .. }) => DECIMAL,
        _ => Type::Float8,
    }
}

fn power(c: &mut Call<'_>) -> Result<Datum> {
    let (x, y) = (c.take(0), c.take(1));
    if matches!(x, Datum::Decimal(_)) || matches!(y, Datum::Decimal(_)) {
        return binary(BinOp::Pow, x, y);
    }
    let x = types::cast(x, &Type::Float8)?;
    let y = types::cast(y, &Type::Float8)?;
    binary(BinOp::Pow, x, y)
}
