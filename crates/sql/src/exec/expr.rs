//! Typed expressions and their evaluation.
//!
//! The planner compiles sqlparser's `Expr` into an [`Expr`] whose column references are
//! positions in the input row ([`Expr::Col`]) or in an enclosing query's row
//! ([`Expr::Outer`], for correlated subqueries), with PostgreSQL-style type checking done once
//! at compile time (`exec::compile`). [`eval`] then runs synchronously over a row.
//!
//! Subqueries need KV reads, which are async; [`eval`] cannot do them. So before evaluating an
//! expression that contains a subquery, the executor calls `Executor::bind_subqueries`, which
//! runs each subquery (once if uncorrelated, per outer row if correlated) and replaces it by
//! its result ([`Expr::Const`] or a constant list).
//!
//! NULL follows PostgreSQL: comparisons and arithmetic with NULL give NULL, `AND`/`OR` use
//! three-valued logic, `IN` with a NULL in the list and no match gives NULL.

use std::cmp::Ordering;
use std::sync::Arc;

use base::errcode;
use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use super::plan::Plan;
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Interval, Type, cast};

/// Comparison operators (also those of a changefeed's CDC query, stored in its job record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The SQL spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the comparison holds of operands that compare as `o`.
    pub fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }

    /// The operator with its operands swapped (`a < b` is `b > a`).
    pub fn flip(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            o => o,
        }
    }
}

/// Arithmetic and other binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `//` (floor division)
    FloorDiv,
    /// `%`
    Mod,
    /// `^` (power)
    Pow,
    /// `||`
    Concat,
    /// `&`
    BitAnd,
    /// `|`
    BitOr,
    /// `#`
    BitXor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `->` (JSON field or element)
    JsonGet,
    /// `->>` (JSON field or element as text)
    JsonGetText,
    /// `@>` (contains)
    Contains,
    /// `<@` (contained by)
    ContainedBy,
    /// `?` (JSON has key)
    JsonHasKey,
}

impl BinOp {
    /// Whether this is one of the arithmetic operators that FLOAT and DECIMAL operands
    /// support: `+ - * / // % ^`.
    fn is_arithmetic(self) -> bool {
        matches!(
            self,
            BinOp::Add
                | BinOp::Sub
                | BinOp::Mul
                | BinOp::Div
                | BinOp::Mod
                | BinOp::Pow
                | BinOp::FloorDiv
        )
    }

    /// The SQL spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
            BinOp::Concat => "||",
            BinOp::BitAnd => "&",
            BinOp::BitOr => "|",
            BinOp::BitXor => "#",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::JsonGet => "->",
            BinOp::JsonGetText => "->>",
            BinOp::Contains => "@>",
            BinOp::ContainedBy => "<@",
            BinOp::JsonHasKey => "?",
        }
    }
}

/// What a subquery expression asks.
#[derive(Clone, Debug)]
pub enum SubqueryKind {
    /// `(SELECT x)`: one value (NULL when no row; an error when more than one).
    Scalar,
    /// `EXISTS (...)`.
    Exists,
    /// `x IN (SELECT ...)`, or `x <op> ANY/ALL (SELECT ...)`.
    Compare {
        /// The left operand.
        left: Box<Expr>,
        /// The comparison.
        op: CmpOp,
        /// ALL rather than ANY.
        all: bool,
    },
    /// `ARRAY(SELECT ...)`.
    Array,
}

/// A subquery inside an expression.
#[derive(Clone, Debug)]
pub struct Subquery {
    /// Unique within the statement; keys the cache of uncorrelated results.
    pub id: usize,
    /// The plan.
    pub plan: Arc<Plan>,
    /// What is asked.
    pub kind: SubqueryKind,
    /// NOT EXISTS / NOT IN.
    pub negated: bool,
    /// Whether it refers to columns of enclosing queries.
    pub correlated: bool,
}

/// A compiled expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// A constant.
    Const(Datum),
    /// A column of the input row.
    Col(usize),
    /// A column of an enclosing query's row: (levels up, position).
    Outer(usize, usize),
    /// A placeholder `$n` (0-based).
    Param(usize),
    /// NOT.
    Not(Box<Expr>),
    /// AND.
    And(Box<Expr>, Box<Expr>),
    /// OR.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    /// A binary operator.
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// Unary minus.
    Neg(Box<Expr>),
    /// Bitwise NOT.
    BitNot(Box<Expr>),
    /// `IS [NOT] NULL`.
    IsNull(Box<Expr>, bool),
    /// `IS [NOT] DISTINCT FROM`.
    IsDistinct(Box<Expr>, Box<Expr>, bool),
    /// `IS [NOT] TRUE/FALSE`: (expr, TRUE?, negated).
    IsBool(Box<Expr>, bool, bool),
    /// `[NOT] [I]LIKE` / `SIMILAR TO` (as regex).
    Like {
        /// The string.
        expr: Box<Expr>,
        /// The pattern.
        pattern: Box<Expr>,
        /// NOT.
        negated: bool,
        /// ILIKE.
        case_insensitive: bool,
    },
    /// `[NOT] ~` / `~*`, a POSIX regular expression match: (string, pattern, case-insensitive,
    /// negated).
    Regex(Box<Expr>, Box<Expr>, bool, bool),
    /// `x[i]`: an array element (1-based, NULL out of range) or a JSON field or element.
    Subscript(Box<Expr>, Box<Expr>),
    /// `DEFAULT` in a VALUES row: INSERT puts the column's default there; anywhere else it is an
    /// error ([`misplaced_default`]).
    Default,
    /// `[NOT] IN (list)`.
    InList(Box<Expr>, Vec<Expr>, bool),
    /// `CASE`.
    Case {
        /// `CASE x WHEN ...`: the operand.
        operand: Option<Box<Expr>>,
        /// `(WHEN, THEN)` pairs.
        whens: Vec<(Expr, Expr)>,
        /// `ELSE`.
        else_: Option<Box<Expr>>,
    },
    /// A cast.
    Cast(Box<Expr>, Type),
    /// A call of a scalar builtin, resolved when the expression was compiled.
    Func(super::builtins::Func, Vec<Expr>),
    /// A subquery.
    Subquery(Box<Subquery>),
    /// `ARRAY[...]`.
    Array(Vec<Expr>),
    /// A row `(a, b)`, compared element-wise.
    Tuple(Vec<Expr>),
    /// A constant list (a bound uncorrelated `IN (SELECT ...)`).
    ConstList(Arc<Vec<Datum>>),
    /// `x = ANY(array)`: (left, op, array, all).
    AnyArray(Box<Expr>, CmpOp, Box<Expr>, bool),
}

impl Expr {
    /// True when the expression holds a subquery.
    pub fn has_subquery(&self) -> bool {
        let mut found = false;
        self.walk(&mut |e| found |= matches!(e, Expr::Subquery(_)));
        found
    }

    /// Calls `f` on every node.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        crate::stack::grow(|| self.walk_here(f))
    }

    fn walk_here(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Not(a) | Expr::Neg(a) | Expr::BitNot(a) | Expr::IsNull(a, _) => a.walk(f),
            Expr::IsBool(a, _, _) | Expr::Cast(a, _) => a.walk(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) | Expr::Bin(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::IsDistinct(a, b, _)
            | Expr::AnyArray(a, _, b, _)
            | Expr::Subscript(a, b)
            | Expr::Regex(a, b, ..) => {
                a.walk(f);
                b.walk(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.walk(f);
                pattern.walk(f);
            }
            Expr::InList(a, l, _) => {
                a.walk(f);
                l.iter().for_each(|e| e.walk(f));
            }
            Expr::Case {
                operand,
                whens,
                else_,
            } => {
                if let Some(o) = operand {
                    o.walk(f);
                }
                for (w, t) in whens {
                    w.walk(f);
                    t.walk(f);
                }
                if let Some(e) = else_ {
                    e.walk(f);
                }
            }
            Expr::Func(_, args) | Expr::Array(args) | Expr::Tuple(args) => {
                args.iter().for_each(|e| e.walk(f))
            }
            Expr::Subquery(s) => {
                if let SubqueryKind::Compare { left, .. } = &s.kind {
                    left.walk(f);
                }
            }
            Expr::Const(_) | Expr::Col(_) | Expr::Outer(..) | Expr::Param(_) => {}
            Expr::ConstList(_) | Expr::Default => {}
        }
    }

    /// Rebuilds the expression bottom-up through `f`.
    pub fn map(self, f: &mut dyn FnMut(Expr) -> Result<Expr>) -> Result<Expr> {
        crate::stack::grow(|| self.map_here(f))
    }

    fn map_here(self, f: &mut dyn FnMut(Expr) -> Result<Expr>) -> Result<Expr> {
        let b = |e: Box<Expr>, f: &mut dyn FnMut(Expr) -> Result<Expr>| -> Result<Box<Expr>> {
            Ok(Box::new(e.map(f)?))
        };
        let e = match self {
            Expr::Not(a) => Expr::Not(b(a, f)?),
            Expr::Neg(a) => Expr::Neg(b(a, f)?),
            Expr::BitNot(a) => Expr::BitNot(b(a, f)?),
            Expr::IsNull(a, n) => Expr::IsNull(b(a, f)?, n),
            Expr::IsBool(a, t, n) => Expr::IsBool(b(a, f)?, t, n),
            Expr::Cast(a, t) => Expr::Cast(b(a, f)?, t),
            Expr::And(x, y) => Expr::And(b(x, f)?, b(y, f)?),
            Expr::Or(x, y) => Expr::Or(b(x, f)?, b(y, f)?),
            Expr::Cmp(o, x, y) => Expr::Cmp(o, b(x, f)?, b(y, f)?),
            Expr::Bin(o, x, y) => Expr::Bin(o, b(x, f)?, b(y, f)?),
            Expr::IsDistinct(x, y, n) => Expr::IsDistinct(b(x, f)?, b(y, f)?, n),
            Expr::AnyArray(x, o, y, all) => Expr::AnyArray(b(x, f)?, o, b(y, f)?, all),
            Expr::Subscript(x, i) => Expr::Subscript(b(x, f)?, b(i, f)?),
            Expr::Regex(x, p, ci, n) => Expr::Regex(b(x, f)?, b(p, f)?, ci, n),
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => Expr::Like {
                expr: b(expr, f)?,
                pattern: b(pattern, f)?,
                negated,
                case_insensitive,
            },
            Expr::InList(a, l, n) => Expr::InList(
                b(a, f)?,
                l.into_iter().map(|e| e.map(f)).collect::<Result<_>>()?,
                n,
            ),
            Expr::Case {
                operand,
                whens,
                else_,
            } => Expr::Case {
                operand: operand.map(|o| b(o, f)).transpose()?,
                whens: whens
                    .into_iter()
                    .map(|(w, t)| Ok((w.map(f)?, t.map(f)?)))
                    .collect::<Result<_>>()?,
                else_: else_.map(|e| b(e, f)).transpose()?,
            },
            Expr::Func(n, args) => Expr::Func(
                n,
                args.into_iter().map(|e| e.map(f)).collect::<Result<_>>()?,
            ),
            Expr::Array(args) => {
                Expr::Array(args.into_iter().map(|e| e.map(f)).collect::<Result<_>>()?)
            }
            Expr::Tuple(args) => {
                Expr::Tuple(args.into_iter().map(|e| e.map(f)).collect::<Result<_>>()?)
            }
            Expr::Subquery(mut s) => {
                if let SubqueryKind::Compare { left, op, all } = s.kind {
                    s.kind = SubqueryKind::Compare {
                        left: b(left, f)?,
                        op,
                        all,
                    };
                }
                Expr::Subquery(s)
            }
            other => other,
        };
        f(e)
    }

    /// The constant value, if this is a constant.
    pub fn as_const(&self) -> Option<&Datum> {
        match self {
            Expr::Const(d) => Some(d),
            _ => None,
        }
    }
}

/// Refuses a subquery in an expression evaluated outside a query (a job id, `AS OF SYSTEM
/// TIME`, a cluster setting), where nothing binds it.
pub fn no_subquery(e: &Expr, context: &str) -> Result<()> {
    if e.has_subquery() {
        return Err(SqlError::new(
            errcode::FEATURE_NOT_SUPPORTED,
            format!("subqueries are not allowed in {context}"),
        ));
    }
    Ok(())
}

/// What expressions can see besides the row: parameters, enclosing rows, session facts.
pub struct EvalCtx<'a> {
    /// Bound placeholder values.
    pub params: &'a [Datum],
    /// Rows of enclosing queries, innermost last.
    pub outer: &'a [Vec<Datum>],
    /// Session and node facts for builtins.
    pub env: &'a EvalEnv,
}

/// Facts builtins read.
#[derive(Clone, Debug, Default)]
pub struct EvalEnv {
    /// Statement time (now()).
    pub now: chrono::DateTime<chrono::Utc>,
    /// The current user.
    pub user: String,
    /// The current database.
    pub database: String,
    /// The gateway node's `region` tier, if any.
    pub gateway_region: Option<String>,
    /// The gateway node's locality tiers.
    pub locality: Vec<(String, String)>,
    /// The current database's primary region and regions.
    pub db_primary_region: Option<String>,
    /// The current database's regions.
    pub db_regions: Vec<String>,
    /// The gateway node id.
    pub node_id: u64,
    /// The cluster's logical timestamp as text (`cluster_logical_timestamp()`).
    pub logical_ts: String,
    /// Index and constraint definitions by oid, recorded when `pg_index`/`pg_constraint` are
    /// built, for `pg_get_indexdef` and `pg_get_constraintdef`.
    pub defs: std::sync::Arc<parking_lot::Mutex<std::collections::HashMap<i64, String>>>,
}

fn truth(d: &Datum) -> Option<bool> {
    match d {
        Datum::Bool(b) => Some(*b),
        _ => None,
    }
}

/// Evaluates a predicate: only TRUE passes (NULL and FALSE do not).
pub fn eval_pred(e: &Expr, ctx: &EvalCtx, row: &[Datum]) -> Result<bool> {
    Ok(eval(e, ctx, row)? == Datum::Bool(true))
}

/// Evaluates an expression over a row.
pub fn eval(e: &Expr, ctx: &EvalCtx, row: &[Datum]) -> Result<Datum> {
    crate::stack::grow(|| eval_here(e, ctx, row))
}

fn eval_here(e: &Expr, ctx: &EvalCtx, row: &[Datum]) -> Result<Datum> {
    Ok(match e {
        Expr::Const(d) => d.clone(),
        Expr::Col(i) => row
            .get(*i)
            .cloned()
            .ok_or_else(|| SqlError::internal(format!("column {i} out of range")))?,
        Expr::Outer(depth, i) => ctx
            .outer
            .len()
            .checked_sub(*depth)
            .and_then(|level| ctx.outer.get(level))
            .and_then(|r| r.get(*i))
            .cloned()
            .ok_or_else(|| SqlError::internal("outer column out of range"))?,
        Expr::Param(i) => ctx.params.get(*i).cloned().ok_or_else(|| {
            SqlError::new(
                errcode::SYNTAX_ERROR,
                format!("no value provided for placeholder: ${}", i + 1),
            )
        })?,
        Expr::Not(a) => match truth(&eval(a, ctx, row)?) {
            Some(b) => Datum::Bool(!b),
            None => Datum::Null,
        },
        Expr::And(a, b) => {
            let l = truth(&eval(a, ctx, row)?);
            if l == Some(false) {
                return Ok(Datum::Bool(false));
            }
            match (l, truth(&eval(b, ctx, row)?)) {
                (_, Some(false)) => Datum::Bool(false),
                (Some(true), Some(true)) => Datum::Bool(true),
                _ => Datum::Null,
            }
        }
        Expr::Or(a, b) => {
            let l = truth(&eval(a, ctx, row)?);
            if l == Some(true) {
                return Ok(Datum::Bool(true));
            }
            match (l, truth(&eval(b, ctx, row)?)) {
                (_, Some(true)) => Datum::Bool(true),
                (Some(false), Some(false)) => Datum::Bool(false),
                _ => Datum::Null,
            }
        }
        Expr::Cmp(op, a, b) => compare(*op, &eval(a, ctx, row)?, &eval(b, ctx, row)?)?,
        Expr::Bin(op, a, b) => binary(*op, eval(a, ctx, row)?, eval(b, ctx, row)?)?,
        Expr::Neg(a) => match eval(a, ctx, row)? {
            Datum::Null => Datum::Null,
            Datum::Int(i) => Datum::Int(i.checked_neg().ok_or_else(overflow)?),
            Datum::Float(f) => Datum::Float(-f),
            Datum::Decimal(d) => Datum::Decimal(-d),
            Datum::Interval(i) => Datum::Interval(types::neg_interval(i)),
            other => return Err(unsupported_unary("-", &other)),
        },
        Expr::BitNot(a) => match eval(a, ctx, row)? {
            Datum::Null => Datum::Null,
            Datum::Int(i) => Datum::Int(!i),
            other => return Err(unsupported_unary("~", &other)),
        },
        Expr::IsNull(a, negated) => Datum::Bool(eval(a, ctx, row)?.is_null() != *negated),
        Expr::IsDistinct(a, b, negated) => {
            let (x, y) = (eval(a, ctx, row)?, eval(b, ctx, row)?);
            let same = match (&x, &y) {
                (Datum::Null, Datum::Null) => true,
                (Datum::Null, _) | (_, Datum::Null) => false,
                _ => x.compare(&y) == Some(Ordering::Equal),
            };
            Datum::Bool(same == *negated)
        }
        Expr::IsBool(a, target, negated) => {
            let v = truth(&eval(a, ctx, row)?);
            Datum::Bool((v == Some(*target)) != *negated)
        }
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => eval_like(
            eval(expr, ctx, row)?,
            eval(pattern, ctx, row)?,
            *negated,
            *case_insensitive,
        )?,
        Expr::Regex(s, p, ci, negated) => {
            let (s, p) = (eval(s, ctx, row)?, eval(p, ctx, row)?);
            regex_match(&s, &p, *ci)?.map_or(Datum::Null, |m| Datum::Bool(m != *negated))
        }
        Expr::Subscript(a, i) => subscript(eval(a, ctx, row)?, eval(i, ctx, row)?)?,
        Expr::Default => return Err(misplaced_default()),
        Expr::InList(a, list, negated) => {
            let v = eval(a, ctx, row)?;
            let items: Vec<Datum> = list
                .iter()
                .map(|e| eval(e, ctx, row))
                .collect::<Result<_>>()?;
            in_list(&v, &items, *negated)
        }
        Expr::ConstList(items) => Datum::Array(items.as_ref().clone()),
        Expr::Case {
            operand,
            whens,
            else_,
        } => eval_case(operand.as_deref(), whens, else_.as_deref(), ctx, row)?,
        Expr::Cast(a, ty) => cast(eval(a, ctx, row)?, ty)?,
        Expr::Func(f, args) => {
            let vals: Vec<Datum> = args
                .iter()
                .map(|e| eval(e, ctx, row))
                .collect::<Result<_>>()?;
            super::builtins::call(f, vals, ctx)?
        }
        Expr::Array(items) => Datum::Array(
            items
                .iter()
                .map(|e| eval(e, ctx, row))
                .collect::<Result<_>>()?,
        ),
        Expr::Tuple(items) => Datum::Array(
            items
                .iter()
                .map(|e| eval(e, ctx, row))
                .collect::<Result<_>>()?,
        ),
        Expr::AnyArray(left, op, arr, all) => {
            let l = eval(left, ctx, row)?;
            let a = eval(arr, ctx, row)?;
            let items = match a {
                Datum::Null => return Ok(Datum::Null),
                Datum::Array(items) => items,
                other => return Err(unsupported_unary("ANY", &other)),
            };
            quantified(&l, *op, &items, *all)?
        }
        Expr::Subquery(_) => {
            return Err(SqlError::internal("subquery evaluated before binding"));
        }
    })
}

/// `s [NOT] [I]LIKE p` over evaluated operands (`ci` for ILIKE): NULL if either is.
fn eval_like(s: Datum, p: Datum, negated: bool, ci: bool) -> Result<Datum> {
    Ok(match (s, p) {
        (Datum::Null, _) | (_, Datum::Null) => Datum::Null,
        (Datum::String(s), Datum::String(p)) => {
            let m = if ci {
                like(&s.to_lowercase(), &p.to_lowercase())
            } else {
                like(&s, &p)
            };
            Datum::Bool(m != negated)
        }
        (s, _) => return Err(unsupported_unary("LIKE", &s)),
    })
}

/// A CASE: the result of the first WHEN that holds (equals the operand, when there is one;
/// NULL never does), else the ELSE or NULL. Only the results chosen are evaluated.
fn eval_case(
    operand: Option<&Expr>,
    whens: &[(Expr, Expr)],
    else_: Option<&Expr>,
    ctx: &EvalCtx,
    row: &[Datum],
) -> Result<Datum> {
    let op = operand.map(|o| eval(o, ctx, row)).transpose()?;
    for (w, t) in whens {
        let hit = match &op {
            Some(v) => {
                let wv = eval(w, ctx, row)?;
                !v.is_null() && !wv.is_null() && v.compare(&wv) == Some(Ordering::Equal)
            }
            None => eval_pred(w, ctx, row)?,
        };
        if hit {
            return eval(t, ctx, row);
        }
    }
    match else_ {
        Some(e) => eval(e, ctx, row),
        None => Ok(Datum::Null),
    }
}

/// `l <op> ANY/ALL (items)`.
pub fn quantified(l: &Datum, op: CmpOp, items: &[Datum], all: bool) -> Result<Datum> {
    let mut saw_null = false;
    for item in items {
        match compare(op, l, item)? {
            Datum::Bool(true) if !all => return Ok(Datum::Bool(true)),
            Datum::Bool(false) if all => return Ok(Datum::Bool(false)),
            Datum::Null => saw_null = true,
            _ => {}
        }
    }
    Ok(if saw_null {
        Datum::Null
    } else {
        Datum::Bool(all)
    })
}

/// `v [NOT] IN (items)` with PostgreSQL's NULL rules.
pub fn in_list(v: &Datum, items: &[Datum], negated: bool) -> Datum {
    if v.is_null() {
        return Datum::Null;
    }
    let mut saw_null = false;
    for item in items {
        if item.is_null() {
            saw_null = true;
            continue;
        }
        if tuple_eq(v, item) == Some(true) {
            return Datum::Bool(!negated);
        }
        if tuple_eq(v, item).is_none() {
            saw_null = true;
        }
    }
    if saw_null {
        Datum::Null
    } else {
        Datum::Bool(negated)
    }
}

fn tuple_eq(a: &Datum, b: &Datum) -> Option<bool> {
    match (a, b) {
        (Datum::Array(x), Datum::Array(y)) if x.len() == y.len() => {
            let mut unknown = false;
            for (p, q) in x.iter().zip(y) {
                if p.is_null() || q.is_null() {
                    unknown = true;
                    continue;
                }
                if p.compare(q) != Some(Ordering::Equal) {
                    return Some(false);
                }
            }
            if unknown { None } else { Some(true) }
        }
        _ => Some(a.compare(b) == Some(Ordering::Equal)),
    }
}

fn overflow() -> SqlError {
    SqlError::new(errcode::NUMERIC_VALUE_OUT_OF_RANGE, "integer out of range")
}

fn numeric_overflow() -> SqlError {
    SqlError::new(
        errcode::NUMERIC_VALUE_OUT_OF_RANGE,
        "value overflows numeric format",
    )
}

/// The error of a `DEFAULT` outside an INSERT's VALUES or an UPDATE's SET.
pub fn misplaced_default() -> SqlError {
    SqlError::syntax(
        "DEFAULT can only appear in a VALUES list within INSERT or on the right side of a SET",
    )
}

/// `s ~ p` (`~*` when case-insensitive); `None` when either is NULL.
fn regex_match(s: &Datum, p: &Datum, case_insensitive: bool) -> Result<Option<bool>> {
    if s.is_null() || p.is_null() {
        return Ok(None);
    }
    let text = super::builtins::text;
    super::regex::is_match(&text(p), &text(s), case_insensitive).map(Some)
}

/// `x[i]`: the `i`th element of an array (1-based; NULL out of range), or `x -> i` of JSON.
fn subscript(x: Datum, i: Datum) -> Result<Datum> {
    Ok(match (x, i) {
        (Datum::Null, _) | (_, Datum::Null) => Datum::Null,
        (Datum::Array(a), Datum::Int(i)) => i
            .checked_sub(1)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| a.get(i).cloned())
            .unwrap_or(Datum::Null),
        (j @ Datum::Json(_), i) => binary(BinOp::JsonGet, j, i)?,
        _ => Datum::Null,
    })
}

fn unsupported_unary(op: &str, d: &Datum) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!(
            "unsupported unary operator: {op} <{}>",
            d.natural_type().error_name()
        ),
    )
}

fn unsupported_binary(op: BinOp, a: &Datum, b: &Datum) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!(
            "unsupported binary operator: <{}> {} <{}>",
            a.natural_type().error_name(),
            op.symbol(),
            b.natural_type().error_name()
        ),
    )
}

/// A comparison with NULL propagation.
pub fn compare(op: CmpOp, a: &Datum, b: &Datum) -> Result<Datum> {
    if a.is_null() || b.is_null() {
        return Ok(Datum::Null);
    }
    if let (Datum::Array(x), Datum::Array(y)) = (a, b) {
        // Row comparison: lexicographic, NULL if undecided by a NULL.
        for (p, q) in x.iter().zip(y) {
            if p.is_null() || q.is_null() {
                return Ok(Datum::Null);
            }
            match p.compare(q) {
                Some(Ordering::Equal) => continue,
                Some(o) => return Ok(Datum::Bool(op.test(o))),
                None => return Err(cmp_error(op, p, q)),
            }
        }
        return Ok(Datum::Bool(op.test(x.len().cmp(&y.len()))));
    }
    match a.compare(b) {
        Some(o) => Ok(Datum::Bool(op.test(o))),
        None => Err(cmp_error(op, a, b)),
    }
}

fn cmp_error(op: CmpOp, a: &Datum, b: &Datum) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!(
            "unsupported comparison operator: <{}> {} <{}>",
            a.natural_type().error_name(),
            op.symbol(),
            b.natural_type().error_name()
        ),
    )
}

fn div_zero() -> SqlError {
    SqlError::new(errcode::DIVISION_BY_ZERO, "division by zero")
}

fn to_dec(d: &Datum) -> Option<Decimal> {
    match d {
        Datum::Int(i) => Some(Decimal::from(*i)),
        Datum::Decimal(x) => Some(*x),
        Datum::Float(f) => Decimal::from_f64(*f),
        _ => None,
    }
}

fn to_f64(d: &Datum) -> Option<f64> {
    match d {
        Datum::Int(i) => Some(*i as f64),
        Datum::Float(f) => Some(*f),
        Datum::Decimal(x) => x.to_f64(),
        _ => None,
    }
}

/// Evaluates a binary operator: NULL if either side is; otherwise the first of integer
/// arithmetic, float arithmetic, decimal arithmetic, `||`, date and time arithmetic, and the
/// JSON and containment operators that applies to the operands, or an error.
pub fn binary(op: BinOp, a: Datum, b: Datum) -> Result<Datum> {
    if a.is_null() || b.is_null() {
        return Ok(Datum::Null);
    }
    if let (Datum::Int(x), Datum::Int(y)) = (&a, &b)
        && let Some(d) = int_binary(op, *x, *y)?
    {
        return Ok(d);
    }
    if op.is_arithmetic() {
        if (matches!(a, Datum::Float(_)) || matches!(b, Datum::Float(_)))
            && let (Some(x), Some(y)) = (to_f64(&a), to_f64(&b))
        {
            return float_arith(op, x, y);
        }
        if (matches!(a, Datum::Decimal(_)) || matches!(b, Datum::Decimal(_)))
            && let (Some(x), Some(y)) = (to_dec(&a), to_dec(&b))
        {
            return decimal_arith(op, x, y);
        }
    }
    if op == BinOp::Concat {
        return Ok(concat(&a, &b));
    }
    if let Some(d) = datetime_binary(op, &a, &b)? {
        return Ok(d);
    }
    if let Some(d) = json_binary(op, &a, &b)? {
        return Ok(d);
    }
    Err(unsupported_binary(op, &a, &b))
}

/// An operator over two integers: arithmetic (`/` gives a DECIMAL) and bitwise; `None` for
/// the other operators.
fn int_binary(op: BinOp, x: i64, y: i64) -> Result<Option<Datum>> {
    use Datum as D;
    Ok(Some(match op {
        BinOp::Add => D::Int(x.checked_add(y).ok_or_else(overflow)?),
        BinOp::Sub => D::Int(x.checked_sub(y).ok_or_else(overflow)?),
        BinOp::Mul => D::Int(x.checked_mul(y).ok_or_else(overflow)?),
        BinOp::Div => {
            if y == 0 {
                return Err(div_zero());
            }
            let q = Decimal::from(x)
                .checked_div(Decimal::from(y))
                .ok_or_else(overflow)?;
            D::Decimal(q.round_dp(20).normalize())
        }
        BinOp::FloorDiv => {
            if y == 0 {
                return Err(div_zero());
            }
            D::Int(x.checked_div_euclid(y).ok_or_else(overflow)?)
        }
        BinOp::Mod => {
            if y == 0 {
                return Err(div_zero());
            }
            // Only i64::MIN % -1 overflows, and its remainder is 0 (as in CockroachDB).
            D::Int(x.checked_rem(y).unwrap_or(0))
        }
        BinOp::Pow => {
            if y < 0 {
                return Err(SqlError::new(
                    errcode::INVALID_PARAMETER_VALUE,
                    "integer power: negative exponent",
                ));
            }
            D::Int(
                x.checked_pow(u32::try_from(y).map_err(|_| overflow())?)
                    .ok_or_else(overflow)?,
            )
        }
        BinOp::BitAnd => D::Int(x & y),
        BinOp::BitOr => D::Int(x | y),
        BinOp::BitXor => D::Int(x ^ y),
        BinOp::Shl => D::Int(x.wrapping_shl(y as u32)),
        BinOp::Shr => D::Int(x.wrapping_shr(y as u32)),
        _ => return Ok(None),
    }))
}

/// An arithmetic operator ([`BinOp::is_arithmetic`]) in FLOAT.
fn float_arith(op: BinOp, x: f64, y: f64) -> Result<Datum> {
    Ok(Datum::Float(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => {
            if y == 0.0 {
                return Err(div_zero());
            }
            x / y
        }
        BinOp::FloorDiv => {
            if y == 0.0 {
                return Err(div_zero());
            }
            (x / y).floor()
        }
        BinOp::Mod => {
            if y == 0.0 {
                return Err(div_zero());
            }
            x % y
        }
        _ => x.powf(y),
    }))
}

/// An arithmetic operator ([`BinOp::is_arithmetic`]) in DECIMAL.
fn decimal_arith(op: BinOp, x: Decimal, y: Decimal) -> Result<Datum> {
    Ok(Datum::Decimal(match op {
        BinOp::Add => x.checked_add(y).ok_or_else(numeric_overflow)?,
        BinOp::Sub => x.checked_sub(y).ok_or_else(numeric_overflow)?,
        BinOp::Mul => x.checked_mul(y).ok_or_else(numeric_overflow)?,
        BinOp::Div => {
            if y.is_zero() {
                return Err(div_zero());
            }
            x.checked_div(y)
                .ok_or_else(numeric_overflow)?
                .round_dp(20)
                .normalize()
        }
        BinOp::FloorDiv => {
            if y.is_zero() {
                return Err(div_zero());
            }
            x.checked_div(y).ok_or_else(numeric_overflow)?.floor()
        }
        BinOp::Mod => {
            if y.is_zero() {
                return Err(div_zero());
            }
            x.checked_rem(y).ok_or_else(numeric_overflow)?
        }
        _ => {
            use rust_decimal::MathematicalOps;
            x.checked_powd(y).ok_or_else(numeric_overflow)?
        }
    }))
}

/// `a || b`: arrays concatenated (or appended to), JSONB merged, bytes joined, and
/// anything else as text.
fn concat(a: &Datum, b: &Datum) -> Datum {
    use Datum as D;
    match (a, b) {
        (D::Array(x), D::Array(y)) => D::Array(x.iter().chain(y.iter()).cloned().collect()),
        (D::Array(x), _) => {
            let mut v = x.clone();
            v.push(b.clone());
            D::Array(v)
        }
        (D::Json(x), D::Json(y)) => D::Json(json_concat(x, y)),
        (D::Bytes(x), D::Bytes(y)) => D::Bytes(x.iter().chain(y.iter()).copied().collect()),
        _ => D::String(format!("{}{}", text(a), text(b))),
    }
}

/// Date, timestamp and interval arithmetic; `None` when the operator does not apply to
/// these operands.
fn datetime_binary(op: BinOp, a: &Datum, b: &Datum) -> Result<Option<Datum>> {
    use Datum as D;
    Ok(Some(match (op, a, b) {
        (BinOp::Add, D::Date(d), D::Int(n)) | (BinOp::Add, D::Int(n), D::Date(d)) => D::Date(
            chrono::Duration::try_days(*n)
                .and_then(|n| d.checked_add_signed(n))
                .ok_or_else(overflow)?,
        ),
        (BinOp::Sub, D::Date(d), D::Int(n)) => D::Date(
            chrono::Duration::try_days(*n)
                .and_then(|n| d.checked_sub_signed(n))
                .ok_or_else(overflow)?,
        ),
        (BinOp::Sub, D::Date(x), D::Date(y)) => D::Int((*x - *y).num_days()),
        (BinOp::Add, D::Timestamp(t), D::Interval(i))
        | (BinOp::Add, D::Interval(i), D::Timestamp(t)) => {
            D::Timestamp(types::add_interval(*t, i).ok_or_else(overflow)?)
        }
        (BinOp::Sub, D::Timestamp(t), D::Interval(i)) => {
            D::Timestamp(types::sub_interval(*t, i).ok_or_else(overflow)?)
        }
        (BinOp::Add, D::TimestampTz(t), D::Interval(i))
        | (BinOp::Add, D::Interval(i), D::TimestampTz(t)) => D::TimestampTz(
            types::add_interval(t.naive_utc(), i)
                .ok_or_else(overflow)?
                .and_utc(),
        ),
        (BinOp::Sub, D::TimestampTz(t), D::Interval(i)) => D::TimestampTz(
            types::sub_interval(t.naive_utc(), i)
                .ok_or_else(overflow)?
                .and_utc(),
        ),
        (BinOp::Add, D::Date(d), D::Interval(i)) => D::Timestamp(
            types::add_interval(d.and_time(chrono::NaiveTime::MIN), i).ok_or_else(overflow)?,
        ),
        (BinOp::Sub, D::Date(d), D::Interval(i)) => D::Timestamp(
            types::sub_interval(d.and_time(chrono::NaiveTime::MIN), i).ok_or_else(overflow)?,
        ),
        (BinOp::Sub, D::Timestamp(x), D::Timestamp(y)) => D::Interval(types::ts_diff(*x, *y)),
        (BinOp::Sub, D::TimestampTz(x), D::TimestampTz(y)) => {
            D::Interval(types::ts_diff(x.naive_utc(), y.naive_utc()))
        }
        (BinOp::Add, D::Interval(x), D::Interval(y)) => D::Interval(Interval {
            months: x.months.checked_add(y.months).ok_or_else(overflow)?,
            days: x.days.checked_add(y.days).ok_or_else(overflow)?,
            micros: x.micros.checked_add(y.micros).ok_or_else(overflow)?,
        }),
        (BinOp::Sub, D::Interval(x), D::Interval(y)) => D::Interval(Interval {
            months: x.months.checked_sub(y.months).ok_or_else(overflow)?,
            days: x.days.checked_sub(y.days).ok_or_else(overflow)?,
            micros: x.micros.checked_sub(y.micros).ok_or_else(overflow)?,
        }),
        (BinOp::Mul, D::Interval(x), D::Int(n)) | (BinOp::Mul, D::Int(n), D::Interval(x)) => {
            D::Interval(Interval {
                months: x.months.checked_mul(*n).ok_or_else(overflow)?,
                days: x.days.checked_mul(*n).ok_or_else(overflow)?,
                micros: x.micros.checked_mul(*n).ok_or_else(overflow)?,
            })
        }
        (BinOp::Mul, D::Interval(x), D::Float(f)) | (BinOp::Mul, D::Float(f), D::Interval(x)) => {
            D::Interval(Interval {
                months: 0,
                days: 0,
                micros: (x.total_micros() as f64 * f) as i64,
            })
        }
        (BinOp::Div, D::Interval(x), D::Int(n)) => {
            if *n == 0 {
                return Err(div_zero());
            }
            D::Interval(Interval {
                months: 0,
                days: 0,
                micros: i64::try_from(x.total_micros() / i128::from(*n)).unwrap_or(i64::MAX),
            })
        }
        _ => return Ok(None),
    }))
}

/// The JSONB operators (`->`, `->>`, `?`) and containment (`@>`, `<@`) of JSONB and arrays;
/// `None` when the operator does not apply to these operands.
fn json_binary(op: BinOp, a: &Datum, b: &Datum) -> Result<Option<Datum>> {
    use Datum as D;
    Ok(Some(match (op, a, b) {
        (BinOp::JsonGet | BinOp::JsonGetText, D::Json(j), key) => {
            let v = match key {
                D::String(k) => j.get(k.as_str()).cloned(),
                D::Int(i) => {
                    let len = j.as_array().map_or(0, |a| a.len() as i64);
                    let idx = if *i < 0 { len + i } else { *i };
                    usize::try_from(idx).ok().and_then(|i| j.get(i).cloned())
                }
                _ => return Err(unsupported_binary(op, a, b)),
            };
            match (v, op) {
                (None, _) => D::Null,
                (Some(serde_json::Value::String(s)), BinOp::JsonGetText) => D::String(s),
                (Some(serde_json::Value::Null), BinOp::JsonGetText) => D::Null,
                (Some(v), BinOp::JsonGetText) => D::String(types::format_json(&v)),
                (Some(v), _) => D::Json(v),
            }
        }
        (BinOp::JsonHasKey, D::Json(j), D::String(k)) => D::Bool(match j {
            serde_json::Value::Object(o) => o.contains_key(k.as_str()),
            serde_json::Value::Array(a) => a.iter().any(|v| v.as_str() == Some(k.as_str())),
            serde_json::Value::String(s) => s == k,
            _ => false,
        }),
        (BinOp::Contains, D::Json(x), D::Json(y)) => D::Bool(json_contains(x, y)),
        (BinOp::ContainedBy, D::Json(x), D::Json(y)) => D::Bool(json_contains(y, x)),
        (BinOp::Contains, D::Array(x), D::Array(y)) => D::Bool(
            y.iter()
                .all(|v| x.iter().any(|u| u.compare(v) == Some(Ordering::Equal))),
        ),
        (BinOp::ContainedBy, D::Array(x), D::Array(y)) => D::Bool(
            x.iter()
                .all(|v| y.iter().any(|u| u.compare(v) == Some(Ordering::Equal))),
        ),
        _ => return Ok(None),
    }))
}

fn text(d: &Datum) -> String {
    match d {
        Datum::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

fn json_concat(x: &serde_json::Value, y: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as V;
    match (x, y) {
        (V::Object(a), V::Object(b)) => {
            let mut m = a.clone();
            for (k, v) in b {
                m.insert(k.clone(), v.clone());
            }
            V::Object(m)
        }
        (V::Array(a), V::Array(b)) => V::Array(a.iter().chain(b).cloned().collect()),
        (V::Array(a), other) => {
            let mut v = a.clone();
            v.push(other.clone());
            V::Array(v)
        }
        (other, V::Array(b)) => {
            let mut v = vec![other.clone()];
            v.extend(b.iter().cloned());
            V::Array(v)
        }
        (a, b) => V::Array(vec![a.clone(), b.clone()]),
    }
}

/// JSONB containment (`@>`).
pub fn json_contains(x: &serde_json::Value, y: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (x, y) {
        (V::Object(a), V::Object(b)) => b
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| json_contains(av, v))),
        (V::Array(a), V::Array(b)) => b.iter().all(|v| a.iter().any(|av| json_contains(av, v))),
        (V::Array(a), scalar) => a.iter().any(|av| av == scalar),
        (a, b) => a == b,
    }
}

/// SQL LIKE: `%` any run, `_` any one character, `\` escapes. Iterative (greedy with one
/// backtrack point), so long strings cannot exhaust the stack.
pub fn like(s: &str, p: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Any,
        One,
        Lit(char),
    }
    let mut pat = Vec::new();
    let mut chars = p.chars();
    while let Some(c) = chars.next() {
        pat.push(match c {
            '%' => Tok::Any,
            '_' => Tok::One,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let s: Vec<char> = s.chars().collect();
    let (mut si, mut pi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match pat.get(pi) {
            Some(Tok::Any) => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(Tok::One) => {
                si += 1;
                pi += 1;
            }
            Some(Tok::Lit(c)) if *c == s[si] => {
                si += 1;
                pi += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    pat[pi..].iter().all(|t| *t == Tok::Any)
}

/// Whether two datums are equal for grouping (NULLs equal each other).
pub fn group_eq(a: &[Datum], b: &[Datum]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.total_cmp(y) == Ordering::Equal)
}

/// A row compared as a whole, for sorting and grouping.
#[derive(Clone, Debug)]
pub struct RowKey(pub Vec<Datum>);

impl PartialEq for RowKey {
    fn eq(&self, other: &Self) -> bool {
        group_eq(&self.0, &other.0)
    }
}

impl Eq for RowKey {}

impl PartialOrd for RowKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RowKey {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.0.iter().zip(&other.0) {
            match a.total_cmp(b) {
                Ordering::Equal => continue,
                o => return o,
            }
        }
        self.0.len().cmp(&other.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("hello", "h%o"));
        assert!(like("hello", "h_llo"));
        assert!(like("hello", "%"));
        assert!(!like("hello", "h%x"));
        assert!(like("a%b", "a\\%b"));
        assert!(!like("axb", "a\\%b"));
        assert!(like("abcabc", "%abc"));
        assert!(like(&"x".repeat(1_000_000), "%x%x"));
    }
}
