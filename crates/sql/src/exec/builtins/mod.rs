//! Scalar builtin functions, each defined once as a [`Builtin`]: the names it is called by, its
//! signature ([`Args`]), its result type rule ([`Ret`]), whether NULL arguments reach it, and
//! its evaluation.
//!
//! The planner resolves a call to its entry ([`lookup`], then [`Func::return_type`], which
//! checks the argument count) and keeps the entry in the compiled expression
//! (`Expr::Func(Func, args)`); evaluation ([`call`]) calls the entry's function, with no name
//! lookup per row.
//!
//! The entries are grouped by family, one file each: `string.rs`, `math.rs`, `time.rs`,
//! `array.rs`, `json.rs`, `conditional.rs` (COALESCE and friends) and `system.rs` (session and
//! node facts, ids, `pg_catalog` compatibility functions, `crdb_internal`). Names are lower case;
//! `pg_catalog.` and `crdb_internal.` names are aliases listed with the functions that have
//! them.
//!
//! Volatile functions read the statement's [`EvalEnv`]: `now()` is the statement time,
//! `gateway_region()` the gateway node's region tier.

mod array;
mod conditional;
mod json;
mod math;
mod string;
mod system;
mod time;

use std::collections::HashMap;
use std::sync::LazyLock;

use base::errcode;
use rust_decimal::prelude::ToPrimitive;

use super::expr::{EvalCtx, EvalEnv, Expr};
use crate::error::{Result, SqlError};
use crate::types::{Datum, Type};

pub use json::to_json;

/// Functions that are aggregates, not scalar builtins (the planner compiles them apart).
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

/// One scalar builtin.
#[derive(Debug)]
pub struct Builtin {
    /// The names it is called by.
    pub names: &'static [&'static str],
    /// How many arguments it takes, and of what type.
    pub args: Args,
    /// Its result type.
    pub ret: Ret,
    /// NULL in, NULL out: with a NULL argument the result is NULL and `eval` is not called.
    pub strict: bool,
    /// Its result may differ between two calls of one statement (`random()`), so a call is
    /// never taken for a constant.
    pub volatile: bool,
    /// Evaluates a call.
    pub eval: EvalFn,
}

/// The evaluation of a builtin.
pub type EvalFn = fn(&mut Call<'_>) -> Result<Datum>;

impl Builtin {
    /// A strict, non-volatile builtin.
    pub const fn new(names: &'static [&'static str], args: Args, ret: Ret, eval: EvalFn) -> Self {
        Builtin {
            names,
            args,
            ret,
            strict: true,
            volatile: false,
            eval,
        }
    }

    /// The builtin handles NULL arguments itself.
    pub const fn sees_nulls(mut self) -> Self {
        self.strict = false;
        self
    }

    /// The builtin is volatile.
    pub const fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }
}

/// The arguments a builtin takes.
#[derive(Clone, Copy, Debug)]
pub enum Args {
    /// Exactly this many, of any type.
    Exact(usize),
    /// From the first to the second number (both included), of any type.
    Range(usize, usize),
    /// At least this many (variadic), of any type.
    AtLeast(usize),
    /// One string (an untyped literal or NULL included).
    OneString,
}

impl Args {
    fn count_ok(self, n: usize) -> bool {
        match self {
            Args::Exact(k) => n == k,
            Args::Range(lo, hi) => (lo..=hi).contains(&n),
            Args::AtLeast(lo) => n >= lo,
            Args::OneString => n == 1,
        }
    }

    fn accepts(self, args: &[Type]) -> bool {
        match self {
            Args::OneString => matches!(args, [Type::String | Type::Unknown]),
            other => other.count_ok(args.len()),
        }
    }
}

/// How a builtin's result type follows from its argument types.
#[derive(Debug)]
pub enum Ret {
    /// Always this type.
    Is(Type),
    /// The first argument's type (DECIMAL for an untyped literal).
    Numeric,
    /// DECIMAL for a DECIMAL first argument, else FLOAT8.
    Float,
    /// The type of the first typed argument: untyped arguments are coerced to it, and every
    /// argument must be comparable with it (COALESCE, GREATEST, ...).
    Common,
    /// Computed from the argument types.
    Rule(fn(&[Type]) -> Type),
}

/// DECIMAL without limits, as a constant.
pub const DECIMAL: Type = Type::Decimal {
    precision: None,
    scale: None,
};

impl Ret {
    fn of(&self, args: &[Type]) -> Type {
        match self {
            Ret::Is(t) => t.clone(),
            Ret::Numeric => match args.first() {
                None | Some(Type::Unknown) => DECIMAL,
                Some(t) => t.clone(),
            },
            Ret::Float => match args.first() {
                Some(Type::Decimal { .. }) => DECIMAL,
                _ => Type::Float8,
            },
            Ret::Common => args
                .iter()
                .find(|t| **t != Type::Unknown)
                .cloned()
                .unwrap_or(Type::Unknown),
            Ret::Rule(f) => f(args),
        }
    }
}

/// A resolved call target: a builtin and the name it was called by.
#[derive(Clone, Copy)]
pub struct Func {
    /// The builtin.
    pub def: &'static Builtin,
    /// The name it was called by (one of `def.names`), for EXPLAIN and error messages.
    pub name: &'static str,
}

impl std::fmt::Debug for Func {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Func {
    /// The result type of a call with arguments of these types, or 42883 when the builtin
    /// does not take them.
    pub fn return_type(&self, args: &[Type]) -> Result<Type> {
        if !self.def.args.accepts(args) {
            return Err(wrong_args(self.name, args));
        }
        Ok(self.def.ret.of(args))
    }

    /// Untyped arguments take the result type (not STRING), and every argument must be
    /// comparable with it.
    pub fn has_common_type(&self) -> bool {
        matches!(self.def.ret, Ret::Common)
    }

    /// A call may give a different result each time.
    pub fn is_volatile(&self) -> bool {
        self.def.volatile
    }
}

/// Every builtin, family by family.
fn all() -> impl Iterator<Item = &'static Builtin> {
    let families: [&'static [Builtin]; 8] = [
        string::BUILTINS,
        math::BUILTINS,
        time::BUILTINS,
        array::BUILTINS,
        json::BUILTINS,
        conditional::BUILTINS,
        system::BUILTINS,
        system::TESTING,
    ];
    families.into_iter().flatten()
}

/// Builtins by each of their names.
static BY_NAME: LazyLock<HashMap<&'static str, &'static Builtin>> = LazyLock::new(|| {
    all()
        .flat_map(|b| b.names.iter().map(move |n| (*n, b)))
        .collect()
});

/// The builtin called `name` (lower case, `pg_catalog.`-style prefixes included).
pub fn lookup(name: &str) -> Option<Func> {
    BY_NAME
        .get_key_value(name)
        .map(|(name, def)| Func { def, name })
}

/// A builtin the planner calls itself (`|/ x` is `sqrt(x)`, `TRIM(x)` is `btrim(x)`).
pub fn internal(name: &str) -> Result<Func> {
    lookup(name).ok_or_else(|| SqlError::internal(format!("no builtin {name}")))
}

/// A call of a builtin the planner generates, with its arguments.
pub fn internal_call(name: &str, args: Vec<Expr>) -> Result<Expr> {
    let f = internal(name)?;
    if !f.def.args.count_ok(args.len()) {
        return Err(SqlError::internal(format!(
            "builtin {name} called with {} arguments",
            args.len()
        )));
    }
    Ok(Expr::Func(f, args))
}

/// The error of a call of a function that does not exist.
pub fn unknown_function(name: &str) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!("unknown function: {name}()"),
    )
}

fn wrong_args(name: &str, args: &[Type]) -> SqlError {
    let list: Vec<String> = args.iter().map(|t| t.error_name()).collect();
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!("unknown signature: {name}({})", list.join(", ")),
    )
}

/// Calls a builtin on evaluated arguments.
pub fn call(f: &Func, args: Vec<Datum>, ctx: &EvalCtx) -> Result<Datum> {
    if f.def.strict && args.iter().any(Datum::is_null) {
        return Ok(Datum::Null);
    }
    (f.def.eval)(&mut Call {
        name: f.name,
        env: ctx.env,
        args,
    })
}

/// A call being evaluated.
pub struct Call<'a> {
    /// The name the function was called by.
    pub name: &'static str,
    /// The statement's facts.
    pub env: &'a EvalEnv,
    /// The argument values.
    pub args: Vec<Datum>,
}

static NULL: Datum = Datum::Null;

impl Call<'_> {
    /// Argument `i` (NULL when absent).
    fn arg(&self, i: usize) -> &Datum {
        self.args.get(i).unwrap_or(&NULL)
    }

    /// Argument `i`, moved out (NULL when absent).
    fn take(&mut self, i: usize) -> Datum {
        self.args
            .get_mut(i)
            .map_or(Datum::Null, |d| std::mem::replace(d, Datum::Null))
    }

    /// Argument `i`, an array, moved out; 42883 when it is not an array.
    fn take_array(&mut self, i: usize) -> Result<Vec<Datum>> {
        match self.args.get_mut(i) {
            Some(Datum::Array(a)) => Ok(std::mem::take(a)),
            _ => Err(self.wrong_args()),
        }
    }

    /// Argument `i` as text.
    fn text(&self, i: usize) -> String {
        text(self.arg(i))
    }

    /// Argument `i` as an integer.
    fn int(&self, i: usize) -> Result<i64> {
        match self.arg(i) {
            Datum::Int(i) => Ok(*i),
            Datum::Float(f) => Ok(*f as i64),
            Datum::Decimal(x) => x.to_i64().ok_or_else(|| self.wrong_args()),
            _ => Err(self.wrong_args()),
        }
    }

    /// Whether argument `i` was given.
    fn has(&self, i: usize) -> bool {
        i < self.args.len()
    }

    /// 42883 for arguments of types the function does not take.
    fn wrong_args(&self) -> SqlError {
        let types: Vec<Type> = self.args.iter().map(Datum::natural_type).collect();
        wrong_args(self.name, &types)
    }
}

/// A value as text for string functions (booleans as `true`/`false`).
pub fn text(d: &Datum) -> String {
    match d {
        Datum::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

/// A function the planner knows (it types calls of it) but that has no implementation yet:
/// a call fails when it is evaluated.
fn not_implemented(c: &mut Call<'_>) -> Result<Datum> {
    Err(unknown_function(c.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_defined_once() {
        let mut seen = std::collections::HashSet::new();
        for b in all() {
            assert!(!b.names.is_empty());
            for n in b.names {
                assert!(seen.insert(*n), "{n} is defined twice");
                assert_eq!(*n, n.to_lowercase());
            }
        }
        assert_eq!(seen.len(), BY_NAME.len());
    }

    #[test]
    fn the_planners_own_calls_resolve() {
        for (name, n) in [
            ("sqrt", 1),
            ("abs", 1),
            ("extract", 2),
            ("substring", 3),
            ("btrim", 2),
            ("ltrim", 1),
            ("rtrim", 2),
            ("strpos", 2),
            ("ceil", 1),
            ("floor", 1),
        ] {
            let args = vec![Expr::Const(Datum::Null); n];
            assert!(internal_call(name, args).is_ok(), "{name}");
        }
        for name in [
            "current_timestamp",
            "localtimestamp",
            "current_date",
            "current_user",
            "session_user",
            "current_catalog",
            "current_schema",
            "user",
        ] {
            let f = internal(name).expect(name);
            assert!(f.return_type(&[]).is_ok(), "{name}");
        }
    }

    #[test]
    fn signatures_are_checked_at_plan_time() {
        let now = lookup("now").expect("now");
        assert_eq!(now.return_type(&[]).expect("now()"), Type::TimestampTz);
        let e = now.return_type(&[Type::Int8]).expect_err("now(1)");
        assert_eq!(e.to_string(), "unknown signature: now(int)");
        let f = lookup("default_to_database_primary_region").expect("f");
        assert!(f.return_type(&[Type::Unknown]).is_ok());
        let arr = Type::Array(Box::new(Type::Int8));
        let e = f.return_type(&[arr]).expect_err("int[]");
        assert_eq!(
            e.to_string(),
            "unknown signature: default_to_database_primary_region(int[])"
        );
        assert!(lookup("nosuchfn").is_none());
    }

    #[test]
    fn strict_builtins_skip_nulls_and_others_see_them() {
        let env = EvalEnv::default();
        let ctx = EvalCtx {
            params: &[],
            outer: &[],
            env: &env,
        };
        let run = |name: &str, args: Vec<Datum>| call(&lookup(name).expect(name), args, &ctx);
        assert_eq!(run("lower", vec![Datum::Null]).expect("lower"), Datum::Null);
        let s = |v: &str| Datum::String(v.into());
        assert_eq!(
            run("coalesce", vec![Datum::Null, s("a")]).expect("coalesce"),
            s("a")
        );
        assert_eq!(
            run("concat", vec![s("a"), Datum::Null, s("b")]).expect("concat"),
            s("ab")
        );
        assert_eq!(
            run("least", vec![Datum::Int(3), Datum::Null, Datum::Int(2)]).expect("least"),
            Datum::Int(2)
        );
        assert_eq!(
            run("greatest", vec![Datum::Int(3), Datum::Int(5)]).expect("greatest"),
            Datum::Int(5)
        );
        let e = run("regexp_replace", vec![s("a"), s("b"), s("c")]).expect_err("unimplemented");
        assert_eq!(e.to_string(), "unknown function: regexp_replace()");
    }
}
