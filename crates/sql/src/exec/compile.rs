//! The planner: sqlparser ASTs to [`Plan`]s and typed [`Expr`]s.
//!
//! Planning is synchronous. Everything it needs from the catalog was resolved before
//! (`exec::resolve` walks the statement's table names and materialises virtual tables) and
//! handed over in a [`PlanEnv`].
//!
//! A SELECT is planned in SQL's logical order ([`Planner::plan_select`]): FROM (scans and
//! joins) → WHERE (a filter, plus the scan's access path) → GROUP BY/aggregates → HAVING →
//! the select list → DISTINCT → ORDER BY → LIMIT/OFFSET. Expressions are compiled against a
//! scope, the columns of the row they will see ([`ScopeCol`]); names not found there are
//! looked up in enclosing queries' scopes, which makes a subquery correlated.
//!
//! With aggregation, expressions above the aggregate are compiled in an [`AggCtx`]: a
//! subexpression equal to a GROUP BY expression becomes a reference to that group column,
//! an aggregate call becomes a reference to its result, and any other column reference is the
//! PostgreSQL error `column "x" must appear in the GROUP BY clause or be used in an aggregate
//! function` (42803).

use std::collections::HashMap;
use std::sync::Arc;

use base::errcode;
use sqlparser::ast;

use super::agg::{AggCall, AggFunc};
use super::builtins;
use super::expr::{BinOp, CmpOp, Expr, Subquery, SubqueryKind};
use super::plan::{
    Access, JoinKind, Plan, ScanPlan, ScopeCol, SetOpKind, SortKey, choose_access, conjuncts,
};
use crate::catalog::{TableDesc, TypeDesc};
use crate::encoding::Row;
use crate::error::{Result, SqlError};
use crate::types::{self, Datum, Family, Type};

/// A table reference resolved before planning.
#[derive(Clone, Debug)]
pub enum Resolved {
    /// A stored table.
    Table(Arc<TableDesc>),
    /// A virtual table with its rows.
    Virtual {
        /// Columns.
        cols: Vec<ScopeCol>,
        /// Rows.
        rows: Arc<Vec<Row>>,
    },
}

/// What the planner knows about the catalog.
#[derive(Clone, Debug, Default)]
pub struct PlanEnv {
    /// Table references by normalised dotted name as written (`t`, `db.t`, `pg_catalog.pg_class`).
    pub tables: HashMap<String, Resolved>,
    /// Errors for names that did not resolve (reported when the planner needs the name).
    pub missing: HashMap<String, SqlError>,
    /// User-defined types by name.
    pub types: HashMap<String, Arc<TypeDesc>>,
}

/// Normalises an object name: lower-cased unquoted parts joined by dots.
pub fn object_key(name: &ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => crate::parser::Name::from_ident(i).0,
            ast::ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The parts of an object name, normalised.
pub fn object_parts(name: &ast::ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ast::ObjectNamePart::Identifier(i) => crate::parser::Name::from_ident(i).0,
            ast::ObjectNamePart::Function(f) => f.name.value.to_lowercase(),
        })
        .collect()
}

/// Normalises an identifier.
pub fn ident(i: &ast::Ident) -> String {
    crate::parser::Name::from_ident(i).0
}

/// Parses an expression from SQL text (defaults, checks, computed columns).
pub fn parse_expr(text: &str) -> Result<ast::Expr> {
    let dialect = sqlparser::dialect::PostgreSqlDialect {};
    sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| SqlError::syntax(format!("at or near \"{text}\": syntax error: {e}")))
}

/// Aggregation state while compiling expressions above an Aggregate.
pub struct AggCtx {
    /// GROUP BY expressions as text (to match subexpressions).
    group_text: Vec<String>,
    /// Their types.
    group_types: Vec<Type>,
    /// The input scope (for aggregate arguments).
    input: Vec<ScopeCol>,
    /// Collected aggregates.
    pub aggs: Vec<AggCall>,
    agg_text: Vec<String>,
    agg_types: Vec<Type>,
}

/// Where an aggregate would be misplaced, for the error.
#[derive(Clone, Copy)]
enum Clause {
    Where,
    Other,
}

/// The planner.
pub struct Planner<'a> {
    env: &'a PlanEnv,
    /// Scopes of enclosing queries, innermost last.
    outer: Vec<Vec<ScopeCol>>,
    /// Per query being planned (innermost last): the deepest outer level referenced.
    outer_refs: Vec<usize>,
    /// Placeholder types inferred so far.
    pub params: Vec<Type>,
    ctes: Vec<(String, usize, Vec<ScopeCol>)>,
    next_id: usize,
    clause: Clause,
}

fn rename_scope(cols: &mut [ScopeCol], alias: &ast::TableAlias) {
    let name = ident(&alias.name);
    for (i, c) in cols.iter_mut().enumerate() {
        c.table = Some(name.clone());
        if let Some(a) = alias.columns.get(i) {
            c.name = ident(&a.name);
        }
    }
}

/// The type of a CASE after one more result of type `rt`: the first known type, which every
/// other result must be comparable with.
fn case_type(so_far: Type, rt: &Type) -> Result<Type> {
    if so_far == Type::Unknown {
        return Ok(rt.clone());
    }
    if *rt != Type::Unknown && !comparable(&so_far, rt) {
        return Err(SqlError::datatype_mismatch(format!(
            "incompatible value type: expected {}, found {}",
            so_far.error_name(),
            rt.error_name()
        )));
    }
    Ok(so_far)
}

/// `plan` with its untyped columns (string literals, NULL) cast to the types of `target`:
/// in `SELECT 1 UNION SELECT '2'` the `'2'` is an INT, as the result column says.
fn cast_unknown(plan: Plan, cols: &[ScopeCol], target: &[ScopeCol]) -> Plan {
    let casts = cols
        .iter()
        .zip(target)
        .any(|(c, t)| c.ty == Type::Unknown && t.ty != Type::Unknown);
    if !casts {
        return plan;
    }
    let exprs = cols
        .iter()
        .enumerate()
        .map(|(i, c)| match target.get(i) {
            Some(t) if c.ty == Type::Unknown && t.ty != Type::Unknown => {
                Expr::Cast(Box::new(Expr::Col(i)), t.ty.clone())
            }
            _ => Expr::Col(i),
        })
        .collect();
    Plan::Project {
        input: Box::new(plan),
        exprs,
    }
}

/// PostgreSQL's limit on the entries of a target list (a select list, a VALUES row,
/// RETURNING). The wire protocol counts a row's columns in an `i16`, so some limit is
/// needed; past 32,767 the RowDescription would be garbage.
pub const MAX_TARGET_LIST: usize = 1664;

/// Refuses a target list longer than [`MAX_TARGET_LIST`] (54011).
pub fn check_target_list(n: usize) -> Result<()> {
    if n > MAX_TARGET_LIST {
        return Err(SqlError::new(
            errcode::TOO_MANY_COLUMNS,
            format!("target lists can have at most {MAX_TARGET_LIST} entries"),
        ));
    }
    Ok(())
}

/// The output name PostgreSQL gives an unaliased select item.
fn derived_name(e: &ast::Expr) -> String {
    crate::stack::grow(|| derived_name_here(e))
}

fn derived_name_here(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(i) => ident(i),
        ast::Expr::CompoundIdentifier(parts) => parts.last().map(ident).unwrap_or_default(),
        ast::Expr::Function(f) => object_parts(&f.name).last().cloned().unwrap_or_default(),
        ast::Expr::Cast { expr, .. } => match expr.as_ref() {
            ast::Expr::Value(_) => "?column?".into(),
            inner => derived_name(inner),
        },
        ast::Expr::Nested(inner) => derived_name(inner),
        ast::Expr::Exists { .. } => "exists".into(),
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Array(_) => "array".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Trim { .. } => "btrim".into(),
        ast::Expr::Position { .. } => "strpos".into(),
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Subquery(q) => match q.body.as_ref() {
            ast::SetExpr::Select(s) => match s.projection.first() {
                Some(ast::SelectItem::UnnamedExpr(e)) => derived_name(e),
                Some(ast::SelectItem::ExprWithAlias { alias, .. }) => ident(alias),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        ast::Expr::Value(v) => match &v.value {
            ast::Value::Boolean(_) => "bool".into(),
            _ => "?column?".into(),
        },
        ast::Expr::TypedString(t) => {
            Type::from_ast(&t.data_type).map_or("?column?".into(), |t| t.error_name())
        }
        ast::Expr::Interval(_) => "interval".into(),
        _ => "?column?".into(),
    }
}

/// Whether an AST contains an aggregate call outside subqueries.
pub fn has_aggregate(e: &ast::Expr) -> bool {
    struct Finder {
        depth: usize,
        found: bool,
    }
    impl ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _q: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth += 1;
            std::ops::ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _q: &ast::Query) -> std::ops::ControlFlow<()> {
            self.depth -= 1;
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, x: &ast::Expr) -> std::ops::ControlFlow<()> {
            if self.depth == 0
                && let ast::Expr::Function(f) = x
                && builtins::is_aggregate(&object_key(&f.name))
                && f.over.is_none()
            {
                self.found = true;
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut f = Finder {
        depth: 0,
        found: false,
    };
    let _ = ast::Visit::visit(e, &mut f);
    f.found
}

fn literal_number(s: &str) -> Result<(Datum, Type)> {
    if let Ok(i) = s.parse::<i64>() {
        return Ok((Datum::Int(i), Type::Int8));
    }
    let d = types::parse_datum(s, &Type::decimal())?;
    Ok((d, Type::decimal()))
}

/// Whether two types can be compared.
pub fn comparable(a: &Type, b: &Type) -> bool {
    use Family as F;
    let (x, y) = (a.family(), b.family());
    x == y
        || x == F::Unknown
        || y == F::Unknown
        || (a.is_numeric() && b.is_numeric())
        || matches!(
            (x, y),
            (
                F::Date | F::Timestamp | F::TimestampTz,
                F::Date | F::Timestamp | F::TimestampTz
            ) | (F::String, F::Enum)
                | (F::Enum, F::String)
        )
}

fn cmp_type_error(op: &str, a: &Type, b: &Type) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!(
            "unsupported comparison operator: <{}> {op} <{}>",
            a.error_name(),
            b.error_name()
        ),
    )
}

fn bin_type_error(op: BinOp, a: &Type, b: &Type) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_FUNCTION,
        format!(
            "unsupported binary operator: <{}> {} <{}>",
            a.error_name(),
            op.symbol(),
            b.error_name()
        ),
    )
}

/// The result type of a binary operator.
fn bin_type(op: BinOp, a: &Type, b: &Type) -> Result<Type> {
    use Family as F;
    let (x, y) = (a.family(), b.family());
    let t = match op {
        BinOp::Concat => match (x, y) {
            (F::Array, _) => a.clone(),
            (_, F::Array) => b.clone(),
            (F::Json, F::Json) => Type::Jsonb,
            (F::Bytes, F::Bytes) => Type::Bytes,
            (F::String | F::Unknown | F::Enum, _) | (_, F::String | F::Unknown | F::Enum) => {
                Type::String
            }
            _ => return Err(bin_type_error(op, a, b)),
        },
        BinOp::JsonGet => Type::Jsonb,
        BinOp::JsonGetText => Type::String,
        BinOp::Contains | BinOp::ContainedBy | BinOp::JsonHasKey => Type::Bool,
        BinOp::BitAnd | BinOp::BitOr | BinOp::BitXor | BinOp::Shl | BinOp::Shr => match (x, y) {
            (F::Int | F::Unknown, F::Int | F::Unknown) => Type::Int8,
            _ => return Err(bin_type_error(op, a, b)),
        },
        _ => match (x, y) {
            (F::Int, F::Int) if op == BinOp::Div => Type::decimal(),
            (F::Int, F::Int) => Type::Int8,
            (F::Float, F::Int | F::Float | F::Unknown | F::Decimal)
            | (F::Int | F::Unknown | F::Decimal, F::Float) => Type::Float8,
            (F::Decimal, F::Int | F::Decimal | F::Unknown) | (F::Int | F::Unknown, F::Decimal) => {
                Type::decimal()
            }
            (F::Int, F::Unknown) | (F::Unknown, F::Int) if op == BinOp::Div => Type::decimal(),
            (F::Int, F::Unknown) | (F::Unknown, F::Int) => Type::Int8,
            (F::Unknown, F::Unknown) => Type::decimal(),
            (F::Date, F::Int) | (F::Int, F::Date) if matches!(op, BinOp::Add | BinOp::Sub) => {
                Type::Date
            }
            (F::Date, F::Date) if op == BinOp::Sub => Type::Int8,
            (F::Date, F::Interval) if matches!(op, BinOp::Add | BinOp::Sub) => Type::Timestamp,
            (F::Timestamp, F::Interval) | (F::Interval, F::Timestamp)
                if matches!(op, BinOp::Add | BinOp::Sub) =>
            {
                Type::Timestamp
            }
            (F::TimestampTz, F::Interval) | (F::Interval, F::TimestampTz)
                if matches!(op, BinOp::Add | BinOp::Sub) =>
            {
                Type::TimestampTz
            }
            (F::Timestamp, F::Timestamp) | (F::TimestampTz, F::TimestampTz) if op == BinOp::Sub => {
                Type::Interval
            }
            (F::Interval, F::Interval) if matches!(op, BinOp::Add | BinOp::Sub) => Type::Interval,
            (F::Interval, F::Int | F::Float) | (F::Int | F::Float, F::Interval)
                if matches!(op, BinOp::Mul | BinOp::Div) =>
            {
                Type::Interval
            }
            (F::Timestamp | F::TimestampTz | F::Date | F::Interval, F::Unknown)
                if matches!(op, BinOp::Add | BinOp::Sub) =>
            {
                a.clone()
            }
            _ => return Err(bin_type_error(op, a, b)),
        },
    };
    Ok(t)
}

impl<'a> Planner<'a> {
    /// A planner over `env`.
    pub fn new(env: &'a PlanEnv) -> Planner<'a> {
        Planner {
            env,
            outer: Vec::new(),
            outer_refs: vec![0],
            params: Vec::new(),
            ctes: Vec::new(),
            next_id: 0,
            clause: Clause::Other,
        }
    }

    /// A planner with placeholder types given by the client.
    pub fn with_params(env: &'a PlanEnv, params: Vec<Type>) -> Planner<'a> {
        let mut p = Planner::new(env);
        p.params = params;
        p
    }

    fn fresh_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// Resolves a user-defined or built-in type name.
    pub fn resolve_type(&self, dt: &ast::DataType) -> Result<Type> {
        if let ast::DataType::Custom(name, _) = dt {
            let parts = object_parts(name);
            let last = parts.last().cloned().unwrap_or_default();
            if let Some(t) = self.env.types.get(&last) {
                return Ok(Type::Enum {
                    id: t.id,
                    name: t.name.clone(),
                });
            }
        }
        if let ast::DataType::Array(ast::ArrayElemTypeDef::SquareBracket(inner, _)) = dt
            && let ast::DataType::Custom(..) = inner.as_ref()
        {
            return Ok(Type::Array(Box::new(self.resolve_type(inner)?)));
        }
        Type::from_ast(dt)
    }

    /// A table or virtual table by name.
    pub fn table(&self, name: &ast::ObjectName) -> Result<Resolved> {
        let key = object_key(name);
        if let Some(r) = self.env.tables.get(&key) {
            return Ok(r.clone());
        }
        if let Some(e) = self.env.missing.get(&key) {
            return Err(e.clone());
        }
        Err(SqlError::undefined_table(&key))
    }

    // ---------------------------------------------------------------- queries

    /// Plans a query; returns the plan and its output columns.
    pub fn plan_query(&mut self, q: &ast::Query) -> Result<(Plan, Vec<ScopeCol>)> {
        crate::stack::grow(|| self.plan_query_here(q))
    }

    /// [`Planner::plan_query`] on the current stack segment.
    fn plan_query_here(&mut self, q: &ast::Query) -> Result<(Plan, Vec<ScopeCol>)> {
        if q.fetch.is_some() {
            return Err(SqlError::unimplemented("FETCH"));
        }
        let saved_ctes = self.ctes.len();
        let mut cte_plans = Vec::new();
        if let Some(with) = &q.with {
            if with.recursive {
                return Err(SqlError::unimplemented("WITH RECURSIVE"));
            }
            for cte in &with.cte_tables {
                let (plan, mut cols) = self.plan_query(&cte.query)?;
                for (i, a) in cte.alias.columns.iter().enumerate() {
                    if let Some(c) = cols.get_mut(i) {
                        c.name = ident(&a.name);
                    }
                }
                let id = self.fresh_id();
                let name = ident(&cte.alias.name);
                for c in &mut cols {
                    c.table = Some(name.clone());
                }
                self.ctes.push((name, id, cols));
                cte_plans.push((id, plan));
            }
        }
        let result = self.plan_body(q);
        self.ctes.truncate(saved_ctes);
        let (plan, cols) = result?;
        let plan = if cte_plans.is_empty() {
            plan
        } else {
            Plan::With {
                ctes: cte_plans,
                body: Box::new(plan),
            }
        };
        Ok((plan, cols))
    }

    fn limit_exprs(&mut self, q: &ast::Query) -> Result<(Option<Expr>, Option<Expr>)> {
        let (limit, offset) = match &q.limit_clause {
            None => (None, None),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => {
                (limit.clone(), offset.as_ref().map(|o| o.value.clone()))
            }
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(limit.clone()), Some(offset.clone()))
            }
        };
        let mut c = |e: Option<ast::Expr>| -> Result<Option<Expr>> {
            let Some(e) = e else { return Ok(None) };
            if matches!(&e, ast::Expr::Value(v) if matches!(v.value, ast::Value::Null)) {
                return Ok(None);
            }
            let (x, t) = self.compile(&e, &[], &mut None)?;
            if !matches!(t.family(), Family::Int | Family::Unknown) {
                return Err(SqlError::datatype_mismatch(format!(
                    "argument of LIMIT must be type int, not type {}",
                    t.error_name()
                )));
            }
            Ok(Some(x))
        };
        Ok((c(limit)?, c(offset)?))
    }

    fn plan_body(&mut self, q: &ast::Query) -> Result<(Plan, Vec<ScopeCol>)> {
        let order: Vec<ast::OrderByExpr> = match &q.order_by {
            Some(ob) => match &ob.kind {
                ast::OrderByKind::Expressions(e) => e.clone(),
                ast::OrderByKind::All(_) => return Err(SqlError::unimplemented("ORDER BY ALL")),
            },
            None => Vec::new(),
        };
        let (plan, cols) = match q.body.as_ref() {
            ast::SetExpr::Select(s) => self.plan_select(s, &order)?,
            other => {
                let (plan, cols) = self.plan_set_expr(other)?;
                self.order_outputs(plan, cols, &order)?
            }
        };
        let (limit, offset) = self.limit_exprs(q)?;
        let plan = if limit.is_some() || offset.is_some() {
            let plan = match (plan, &limit, &offset) {
                (Plan::Project { input, exprs }, Some(Expr::Const(Datum::Int(n))), None)
                    if matches!(input.as_ref(), Plan::Scan(_)) =>
                {
                    let mut input = input;
                    if let Plan::Scan(s) = input.as_mut() {
                        s.limit = usize::try_from(*n).ok();
                    }
                    Plan::Project { input, exprs }
                }
                (p, _, _) => p,
            };
            Plan::Limit {
                input: Box::new(plan),
                limit,
                offset,
            }
        } else {
            plan
        };
        Ok((plan, cols))
    }

    /// ORDER BY over a finished output (set operations, VALUES): names and ordinals only.
    fn order_outputs(
        &mut self,
        plan: Plan,
        cols: Vec<ScopeCol>,
        order: &[ast::OrderByExpr],
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        if order.is_empty() {
            return Ok((plan, cols));
        }
        let mut keys = Vec::new();
        let mut exprs: Vec<Expr> = (0..cols.len()).map(Expr::Col).collect();
        for o in order {
            let col = match self.output_ref(&o.expr, &cols)? {
                Some(i) => i,
                None => {
                    let (e, _) = self.compile(&o.expr, &cols, &mut None)?;
                    exprs.push(e);
                    exprs.len() - 1
                }
            };
            keys.push(sort_key(col, o));
        }
        let width = cols.len();
        let extra = exprs.len() > width;
        let mut plan = plan;
        if extra {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs,
            };
        }
        plan = Plan::Sort {
            input: Box::new(plan),
            keys,
        };
        if extra {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs: (0..width).map(Expr::Col).collect(),
            };
        }
        Ok((plan, cols))
    }

    /// An ORDER BY item naming an output column by ordinal or name.
    fn output_ref(&self, e: &ast::Expr, cols: &[ScopeCol]) -> Result<Option<usize>> {
        match e {
            ast::Expr::Value(v) => {
                if let ast::Value::Number(n, _) = &v.value {
                    let k: usize = n.parse().unwrap_or(0);
                    if k == 0 || k > cols.iter().filter(|c| !c.hidden).count() {
                        return Err(SqlError::new(
                            errcode::INVALID_COLUMN_REFERENCE,
                            format!("ORDER BY position {n} is not in select list"),
                        ));
                    }
                    return Ok(Some(k - 1));
                }
                Ok(None)
            }
            ast::Expr::Identifier(i) => {
                let name = ident(i);
                Ok(cols.iter().position(|c| !c.hidden && c.name == name))
            }
            _ => Ok(None),
        }
    }

    fn plan_set_expr(&mut self, body: &ast::SetExpr) -> Result<(Plan, Vec<ScopeCol>)> {
        crate::stack::grow(|| self.plan_set_expr_here(body))
    }

    fn plan_set_expr_here(&mut self, body: &ast::SetExpr) -> Result<(Plan, Vec<ScopeCol>)> {
        match body {
            ast::SetExpr::Select(s) => self.plan_select(s, &[]),
            ast::SetExpr::Query(q) => self.plan_query(q),
            ast::SetExpr::Values(v) => self.plan_values(v, None),
            ast::SetExpr::SetOperation {
                left,
                op,
                set_quantifier,
                right,
            } => {
                let (lp, lc) = self.plan_set_expr(left)?;
                let (rp, rc) = self.plan_set_expr(right)?;
                let kind = match op {
                    ast::SetOperator::Union => SetOpKind::Union,
                    ast::SetOperator::Intersect => SetOpKind::Intersect,
                    ast::SetOperator::Except | ast::SetOperator::Minus => SetOpKind::Except,
                };
                let lv = lc.iter().filter(|c| !c.hidden).count();
                let rv = rc.iter().filter(|c| !c.hidden).count();
                if lv != rv {
                    let name = match kind {
                        SetOpKind::Union => "UNION",
                        SetOpKind::Intersect => "INTERSECT",
                        SetOpKind::Except => "EXCEPT",
                    };
                    return Err(SqlError::syntax(format!(
                        "each {name} query must have the same number of columns: {lv} vs {rv}"
                    )));
                }
                let mut cols = lc.clone();
                for (c, r) in cols.iter_mut().zip(&rc) {
                    if c.ty == Type::Unknown {
                        c.ty = r.ty.clone();
                    } else if r.ty != Type::Unknown && !comparable(&c.ty, &r.ty) {
                        let name = match kind {
                            SetOpKind::Union => "UNION",
                            SetOpKind::Intersect => "INTERSECT",
                            SetOpKind::Except => "EXCEPT",
                        };
                        return Err(SqlError::datatype_mismatch(format!(
                            "{name} types {} and {} cannot be matched",
                            c.ty.error_name(),
                            r.ty.error_name()
                        )));
                    }
                    c.table = None;
                }
                let all = matches!(set_quantifier, ast::SetQuantifier::All);
                Ok((
                    Plan::SetOp {
                        op: kind,
                        all,
                        left: Box::new(cast_unknown(lp, &lc, &cols)),
                        right: Box::new(cast_unknown(rp, &rc, &cols)),
                    },
                    cols,
                ))
            }
            ast::SetExpr::Table(t) => {
                let name = t.table_name.clone().unwrap_or_default();
                let obj = ast::ObjectName::from(vec![ast::Ident::new(name)]);
                self.plan_table_name(&obj, None)
            }
            _ => Err(SqlError::unimplemented(format!("query body {body}"))),
        }
    }

    /// Plans `VALUES (...), (...)`; `targets` gives column types to coerce to (INSERT).
    pub fn plan_values(
        &mut self,
        v: &ast::Values,
        targets: Option<&[Type]>,
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        let mut rows = Vec::new();
        let mut types: Vec<Type> = Vec::new();
        // Rows whose value in a column was untyped (a string literal, NULL), by column.
        let mut untyped: Vec<(usize, usize)> = Vec::new();
        let width = v.rows.first().map_or(0, |r| r.content.len());
        check_target_list(width)?;
        for row in &v.rows {
            if row.content.len() != width {
                return Err(SqlError::syntax(format!(
                    "VALUES lists must all be the same length, expected {width} columns, found {}",
                    row.content.len()
                )));
            }
            let mut out = Vec::new();
            for (i, e) in row.content.iter().enumerate() {
                if matches!(e, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
                {
                    out.push(Expr::Default);
                    if types.len() <= i {
                        types.push(Type::Unknown);
                    }
                    continue;
                }
                let (mut x, mut t) = self.compile(e, &[], &mut None)?;
                if let Some(target) = targets.and_then(|ts| ts.get(i))
                    && let Expr::Param(p) = x
                {
                    self.set_param(p, target);
                    x = Expr::Param(p);
                    t = target.clone();
                }
                if t == Type::Unknown {
                    untyped.push((rows.len(), i));
                }
                if types.len() <= i {
                    types.push(t);
                } else if types[i] == Type::Unknown {
                    types[i] = t;
                } else if t != Type::Unknown && !comparable(&types[i], &t) {
                    return Err(SqlError::datatype_mismatch(format!(
                        "VALUES types {} and {} cannot be matched",
                        types[i].error_name(),
                        t.error_name()
                    )));
                }
                out.push(x);
            }
            rows.push(out);
        }
        // Standalone, an untyped value takes its column's type (`VALUES ('1'), (2)` is INT),
        // as the column is described; under INSERT each goes to its target column instead.
        if targets.is_none() {
            for (r, i) in untyped {
                let (Some(ty), Some(row)) = (types.get(i), rows.get_mut(r)) else {
                    continue;
                };
                if let Some(x) = row.get_mut(i) {
                    let e = std::mem::replace(x, Expr::Const(Datum::Null));
                    *x = self.coerce(e, &Type::Unknown, ty)?;
                }
            }
        }
        let cols = types
            .into_iter()
            .enumerate()
            .map(|(i, t)| ScopeCol::new(format!("column{}", i + 1), t))
            .collect();
        Ok((Plan::Values { rows }, cols))
    }

    fn set_param(&mut self, p: usize, ty: &Type) {
        if self.params.len() <= p {
            self.params.resize(p + 1, Type::Unknown);
        }
        if self.params[p] == Type::Unknown {
            self.params[p] = ty.clone();
        }
    }

    /// Plans a SELECT with its ORDER BY.
    pub fn plan_select(
        &mut self,
        s: &ast::Select,
        order: &[ast::OrderByExpr],
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        if s.into.is_some() {
            return Err(SqlError::unimplemented("SELECT INTO"));
        }
        if s.having.is_some()
            && !matches!(&s.group_by, ast::GroupByExpr::Expressions(g, _) if !g.is_empty())
            && !s.projection.iter().any(|p| match p {
                ast::SelectItem::UnnamedExpr(e)
                | ast::SelectItem::ExprWithAlias { expr: e, .. } => has_aggregate(e),
                _ => false,
            })
            && !s.having.as_ref().is_some_and(has_aggregate)
        {
            // HAVING without GROUP BY or aggregates still aggregates into one group.
        }
        // FROM
        let (mut plan, scope) = if s.from.is_empty() {
            (Plan::one_row(), Vec::new())
        } else {
            self.plan_from(&s.from)?
        };
        // WHERE
        if let Some(w) = &s.selection {
            self.clause = Clause::Where;
            let compiled = self.compile(w, &scope, &mut None);
            self.clause = Clause::Other;
            let (pred, t) = compiled?;
            if !matches!(t.family(), Family::Bool | Family::Unknown) {
                return Err(SqlError::datatype_mismatch(format!(
                    "argument of WHERE must be type bool, not type {}",
                    t.error_name()
                )));
            }
            plan = push_filter(plan, pred);
        }
        // Aggregation?
        let group_exprs: Vec<ast::Expr> = match &s.group_by {
            ast::GroupByExpr::Expressions(g, _) => g.clone(),
            ast::GroupByExpr::All(_) => return Err(SqlError::unimplemented("GROUP BY ALL")),
        };
        let proj_has_agg = s.projection.iter().any(|p| match p {
            ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        });
        let needs_agg = !group_exprs.is_empty()
            || proj_has_agg
            || s.having.is_some()
            || order.iter().any(|o| has_aggregate(&o.expr));
        let mut agg: Option<AggCtx> = None;
        if needs_agg {
            let mut group = Vec::new();
            let mut ctx = AggCtx {
                group_text: Vec::new(),
                group_types: Vec::new(),
                input: scope.clone(),
                aggs: Vec::new(),
                agg_text: Vec::new(),
                agg_types: Vec::new(),
            };
            for g in &group_exprs {
                let g = self.group_target(g, s, &scope)?;
                if has_aggregate(&g) {
                    return Err(SqlError::new(
                        errcode::GROUPING_ERROR,
                        "aggregate functions are not allowed in GROUP BY",
                    ));
                }
                let (e, t) = self.compile(&g, &scope, &mut None)?;
                ctx.group_text.push(g.to_string());
                ctx.group_types.push(t);
                group.push(e);
            }
            agg = Some(ctx);
            plan = Plan::Aggregate {
                input: Box::new(plan),
                group,
                aggs: Vec::new(),
            };
        }
        // HAVING
        let mut having = None;
        if let Some(h) = &s.having {
            let (e, _) = self.compile(h, &scope, &mut agg)?;
            having = Some(e);
        }
        // Select list.
        let mut exprs = Vec::new();
        let mut cols = Vec::new();
        for item in &s.projection {
            match item {
                ast::SelectItem::Wildcard(_) => {
                    if scope.is_empty() {
                        return Err(SqlError::syntax("cannot use \"*\" without a FROM clause"));
                    }
                    for (i, c) in scope.iter().enumerate() {
                        if c.hidden {
                            continue;
                        }
                        let e = self.star_col(i, c, &mut agg)?;
                        exprs.push(e);
                        cols.push(ScopeCol {
                            hidden: false,
                            ..c.clone()
                        });
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let t = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            object_parts(n).last().cloned().unwrap_or_default()
                        }
                        ast::SelectItemQualifiedWildcardKind::Expr(_) => {
                            return Err(SqlError::unimplemented("expression.*"));
                        }
                    };
                    let mut any = false;
                    for (i, c) in scope.iter().enumerate() {
                        if c.hidden || c.table.as_deref() != Some(t.as_str()) {
                            continue;
                        }
                        any = true;
                        let e = self.star_col(i, c, &mut agg)?;
                        exprs.push(e);
                        cols.push(c.clone());
                    }
                    if !any {
                        return Err(SqlError::new(
                            errcode::UNDEFINED_TABLE,
                            format!("no data source matches pattern: {t}.*"),
                        ));
                    }
                }
                ast::SelectItem::UnnamedExpr(e) => {
                    let (x, t) = self.compile(e, &scope, &mut agg)?;
                    exprs.push(x);
                    cols.push(ScopeCol::new(derived_name(e), t));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let (x, t) = self.compile(expr, &scope, &mut agg)?;
                    exprs.push(x);
                    cols.push(ScopeCol::new(ident(alias), t));
                }
                ast::SelectItem::ExprWithAliases { .. } => {
                    return Err(SqlError::unimplemented("multiple aliases"));
                }
            }
        }
        let width = exprs.len();
        // ORDER BY keys: output columns or extra hidden columns.
        let mut keys = Vec::new();
        for o in order {
            let col = match self.output_ref(&o.expr, &cols)? {
                Some(i) => i,
                None => {
                    let (x, _) = self.compile(&o.expr, &scope, &mut agg)?;
                    exprs.push(x);
                    exprs.len() - 1
                }
            };
            keys.push(sort_key(col, o));
        }
        // Finish the aggregate node with the collected calls.
        if let Some(ctx) = agg.take()
            && let Plan::Aggregate { aggs, .. } = &mut plan
        {
            *aggs = ctx.aggs;
        }
        if let Some(h) = having {
            plan = Plan::Filter {
                input: Box::new(plan),
                pred: h,
            };
        }
        check_target_list(exprs.len())?;
        plan = Plan::Project {
            input: Box::new(plan),
            exprs,
        };
        match &s.distinct {
            None | Some(ast::Distinct::All) => {}
            Some(ast::Distinct::Distinct) => {
                plan = Plan::Distinct {
                    input: Box::new(plan),
                    width: Some(width),
                };
            }
            Some(ast::Distinct::On(_)) => return Err(SqlError::unimplemented("DISTINCT ON")),
        }
        if !keys.is_empty() {
            plan = Plan::Sort {
                input: Box::new(plan),
                keys,
            };
        }
        if let Plan::Project { exprs, .. } = &plan
            && exprs.len() > width
        {
            // unreachable: the sort wraps the projection
        }
        let total = match &plan {
            Plan::Sort { input, .. } | Plan::Distinct { input, .. } => match input.as_ref() {
                Plan::Project { exprs, .. } => exprs.len(),
                Plan::Distinct { input, .. } => match input.as_ref() {
                    Plan::Project { exprs, .. } => exprs.len(),
                    _ => width,
                },
                _ => width,
            },
            Plan::Project { exprs, .. } => exprs.len(),
            _ => width,
        };
        if total > width {
            plan = Plan::Project {
                input: Box::new(plan),
                exprs: (0..width).map(Expr::Col).collect(),
            };
        }
        Ok((plan, cols))
    }

    fn star_col(&mut self, i: usize, c: &ScopeCol, agg: &mut Option<AggCtx>) -> Result<Expr> {
        if agg.is_none() {
            return Ok(Expr::Col(i));
        }
        let mut parts = Vec::new();
        if let Some(t) = &c.table {
            parts.push(ast::Ident::new(t.clone()));
        }
        parts.push(ast::Ident::with_quote('"', c.name.clone()));
        let e = ast::Expr::CompoundIdentifier(parts);
        let input = agg.as_ref().map(|a| a.input.clone()).unwrap_or_default();
        Ok(self.compile(&e, &input, agg)?.0)
    }

    /// A GROUP BY item: an ordinal or output alias stands for the select-list expression.
    fn group_target(
        &self,
        g: &ast::Expr,
        s: &ast::Select,
        scope: &[ScopeCol],
    ) -> Result<ast::Expr> {
        let item_expr = |item: &ast::SelectItem| -> Option<ast::Expr> {
            match item {
                ast::SelectItem::UnnamedExpr(e) => Some(e.clone()),
                ast::SelectItem::ExprWithAlias { expr, .. } => Some(expr.clone()),
                _ => None,
            }
        };
        match g {
            ast::Expr::Value(v) => {
                if let ast::Value::Number(n, _) = &v.value {
                    let k: usize = n.parse().unwrap_or(0);
                    return s
                        .projection
                        .get(k.wrapping_sub(1))
                        .and_then(item_expr)
                        .ok_or_else(|| {
                            SqlError::new(
                                errcode::INVALID_COLUMN_REFERENCE,
                                format!("GROUP BY position {n} is not in select list"),
                            )
                        });
                }
                Ok(g.clone())
            }
            ast::Expr::Identifier(i) => {
                let name = ident(i);
                if scope.iter().any(|c| c.name == name) {
                    return Ok(g.clone());
                }
                for item in &s.projection {
                    if let ast::SelectItem::ExprWithAlias { expr, alias } = item
                        && ident(alias) == name
                    {
                        return Ok(expr.clone());
                    }
                }
                Ok(g.clone())
            }
            _ => Ok(g.clone()),
        }
    }

    // ---------------------------------------------------------------- FROM

    fn plan_from(&mut self, from: &[ast::TableWithJoins]) -> Result<(Plan, Vec<ScopeCol>)> {
        let mut acc: Option<(Plan, Vec<ScopeCol>)> = None;
        for twj in from {
            let (p, c) = self.plan_table_with_joins(twj)?;
            acc = Some(match acc {
                None => (p, c),
                Some((lp, lc)) => cross(lp, lc, p, c),
            });
        }
        acc.ok_or_else(|| SqlError::internal("empty FROM"))
    }

    fn plan_table_with_joins(
        &mut self,
        twj: &ast::TableWithJoins,
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        let (mut plan, mut scope) = self.plan_table_factor(&twj.relation)?;
        for j in &twj.joins {
            let (rp, mut rc) = self.plan_table_factor(&j.relation)?;
            let (kind, constraint) = match &j.join_operator {
                ast::JoinOperator::Join(c) | ast::JoinOperator::Inner(c) => (JoinKind::Inner, c),
                ast::JoinOperator::Left(c) | ast::JoinOperator::LeftOuter(c) => (JoinKind::Left, c),
                ast::JoinOperator::Right(c) | ast::JoinOperator::RightOuter(c) => {
                    (JoinKind::Right, c)
                }
                ast::JoinOperator::FullOuter(c) => (JoinKind::Full, c),
                ast::JoinOperator::CrossJoin(c) => (JoinKind::Inner, c),
                other => {
                    return Err(SqlError::unimplemented(
                        format!("join type {other:?}")
                            .chars()
                            .take(40)
                            .collect::<String>(),
                    ));
                }
            };
            let lw = scope.len();
            let rw = rc.len();
            let mut on_exprs: Vec<Expr> = Vec::new();
            let using: Vec<String> = match constraint {
                ast::JoinConstraint::Using(cols) => cols
                    .iter()
                    .map(|c| object_parts(c).last().cloned().unwrap_or_default())
                    .collect(),
                ast::JoinConstraint::Natural => scope
                    .iter()
                    .filter(|c| !c.hidden && rc.iter().any(|r| !r.hidden && r.name == c.name))
                    .map(|c| c.name.clone())
                    .collect(),
                _ => Vec::new(),
            };
            for name in &using {
                let l = scope
                    .iter()
                    .position(|c| &c.name == name)
                    .ok_or_else(|| SqlError::undefined_column(name))?;
                let r = rc
                    .iter()
                    .position(|c| &c.name == name)
                    .ok_or_else(|| SqlError::undefined_column(name))?;
                on_exprs.push(Expr::Cmp(
                    CmpOp::Eq,
                    Box::new(Expr::Col(l)),
                    Box::new(Expr::Col(lw + r)),
                ));
                rc[r].hidden = true;
                rc[r].name = String::new();
            }
            let mut combined = scope.clone();
            combined.extend(rc.iter().cloned());
            if let ast::JoinConstraint::On(e) = constraint {
                let (x, t) = self.compile(e, &combined, &mut None)?;
                if !matches!(t.family(), Family::Bool | Family::Unknown) {
                    return Err(SqlError::datatype_mismatch(format!(
                        "argument of ON must be type bool, not type {}",
                        t.error_name()
                    )));
                }
                conjuncts(x, &mut on_exprs);
            }
            let mut equi = Vec::new();
            for e in &on_exprs {
                if let Expr::Cmp(CmpOp::Eq, a, b) = e
                    && let (Expr::Col(x), Expr::Col(y)) = (a.as_ref(), b.as_ref())
                {
                    if *x < lw && *y >= lw {
                        equi.push((*x, *y - lw));
                    } else if *y < lw && *x >= lw {
                        equi.push((*y, *x - lw));
                    }
                }
            }
            // Push single-side ON conditions of an inner join into that side.
            let mut right = rp;
            let mut rest = Vec::new();
            if kind == JoinKind::Inner || kind == JoinKind::Left {
                for e in on_exprs {
                    let mut cols_used = Vec::new();
                    e.walk(&mut |x| {
                        if let Expr::Col(i) = x {
                            cols_used.push(*i)
                        }
                    });
                    let only_right = !cols_used.is_empty()
                        && cols_used.iter().all(|i| *i >= lw)
                        && !e.has_subquery();
                    if only_right {
                        right = push_filter(right, shift_cols(e, lw));
                    } else {
                        rest.push(e);
                    }
                }
            } else {
                rest = on_exprs;
            }
            plan = Plan::Join {
                left: Box::new(plan),
                right: Box::new(right),
                kind,
                equi,
                on: super::plan::and_all(rest),
                left_width: lw,
                right_width: rw,
            };
            scope = combined;
        }
        Ok((plan, scope))
    }

    fn plan_table_name(
        &mut self,
        name: &ast::ObjectName,
        alias: Option<&ast::TableAlias>,
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        let parts = object_parts(name);
        if parts.len() == 1
            && let Some((cname, id, cols)) = self.ctes.iter().rev().find(|(n, _, _)| *n == parts[0])
        {
            let mut cols = cols.clone();
            if let Some(a) = alias {
                rename_scope(&mut cols, a);
            }
            return Ok((
                Plan::CteScan {
                    id: *id,
                    name: cname.clone(),
                },
                cols,
            ));
        }
        let table_alias = alias
            .map(|a| ident(&a.name))
            .unwrap_or_else(|| parts.last().cloned().unwrap_or_default());
        match self.table(name)? {
            Resolved::Table(t) => {
                let mut cols: Vec<ScopeCol> = t
                    .columns
                    .iter()
                    .map(|c| ScopeCol {
                        table: Some(table_alias.clone()),
                        name: c.name.clone(),
                        ty: c.ty.clone(),
                        hidden: c.hidden,
                    })
                    .collect();
                if let Some(a) = alias {
                    rename_scope(&mut cols, a);
                }
                Ok((
                    Plan::Scan(Box::new(ScanPlan {
                        table: t,
                        access: Access::Full,
                        limit: None,
                    })),
                    cols,
                ))
            }
            Resolved::Virtual { cols, rows } => {
                let mut cols: Vec<ScopeCol> = cols
                    .into_iter()
                    .map(|c| ScopeCol {
                        table: Some(table_alias.clone()),
                        ..c
                    })
                    .collect();
                if let Some(a) = alias {
                    rename_scope(&mut cols, a);
                }
                Ok((
                    Plan::Virtual {
                        name: object_key(name),
                        rows,
                    },
                    cols,
                ))
            }
        }
    }

    fn plan_table_factor(&mut self, tf: &ast::TableFactor) -> Result<(Plan, Vec<ScopeCol>)> {
        match tf {
            ast::TableFactor::Table {
                name,
                alias,
                args,
                with_ordinality,
                ..
            } => {
                if let Some(args) = args {
                    return self.plan_table_function(
                        name,
                        &args.args,
                        alias.as_ref(),
                        *with_ordinality,
                    );
                }
                self.plan_table_name(name, alias.as_ref())
            }
            ast::TableFactor::Derived {
                subquery, alias, ..
            } => {
                let (plan, mut cols) = self.plan_query(subquery)?;
                for c in &mut cols {
                    c.table = None;
                }
                if let Some(a) = alias {
                    rename_scope(&mut cols, a);
                }
                Ok((plan, cols))
            }
            ast::TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let (plan, mut cols) = self.plan_table_with_joins(table_with_joins)?;
                if let Some(a) = alias {
                    rename_scope(&mut cols, a);
                }
                Ok((plan, cols))
            }
            ast::TableFactor::Function {
                name,
                args,
                alias,
                with_ordinality,
                ..
            } => self.plan_table_function(name, args, alias.as_ref(), *with_ordinality),
            other => Err(SqlError::unimplemented(format!("table expression {other}"))),
        }
    }

    fn plan_table_function(
        &mut self,
        name: &ast::ObjectName,
        args: &[ast::FunctionArg],
        alias: Option<&ast::TableAlias>,
        ordinality: bool,
    ) -> Result<(Plan, Vec<ScopeCol>)> {
        let fname = object_key(name);
        let mut vals = Vec::new();
        for a in args {
            let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
                return Err(SqlError::unimplemented("named table function arguments"));
            };
            let (x, t) = self.compile(e, &[], &mut None)?;
            vals.push((x, t));
        }
        let fname = fname
            .strip_prefix("pg_catalog.")
            .unwrap_or(&fname)
            .to_string();
        let runtime_ty = match fname.as_str() {
            "generate_series" => Some(Type::Int8),
            "pg_partition_ancestors" => Some(Type::Oid),
            "unnest" => match vals.first() {
                Some((_, Type::Array(elem))) => Some((**elem).clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(ty) = runtime_ty {
            let mut cols = vec![ScopeCol {
                table: Some(fname.clone()),
                name: if fname == "pg_partition_ancestors" {
                    "relid".into()
                } else {
                    fname.clone()
                },
                ty,
                hidden: false,
            }];
            if ordinality {
                cols.push(ScopeCol {
                    table: Some(fname.clone()),
                    name: "ordinality".into(),
                    ty: Type::Int8,
                    hidden: false,
                });
            }
            if let Some(a) = alias {
                // A function's single column takes the alias's name (PostgreSQL).
                if a.columns.is_empty() {
                    cols[0].name = ident(&a.name);
                }
                rename_scope(&mut cols, a);
            }
            return Ok((
                Plan::TableFunc {
                    name: fname,
                    args: vals.into_iter().map(|(x, _)| x).collect(),
                    ordinality,
                },
                cols,
            ));
        }
        Err(SqlError::new(
            errcode::UNDEFINED_FUNCTION,
            format!("unknown function: {fname}()"),
        ))
    }

    // ---------------------------------------------------------------- expressions

    fn lookup_in(scope: &[ScopeCol], parts: &[String]) -> Result<Option<(usize, Type)>> {
        let (table, name) = match parts {
            [n] => (None, n),
            [.., t, n] => (Some(t), n),
            [] => return Ok(None),
        };
        let mut found: Option<(usize, Type)> = None;
        for (i, c) in scope.iter().enumerate() {
            if c.name != *name || c.name.is_empty() {
                continue;
            }
            if let Some(t) = table
                && c.table.as_deref() != Some(t.as_str())
            {
                continue;
            }
            if found.is_some() {
                return Err(SqlError::new(
                    errcode::AMBIGUOUS_COLUMN,
                    format!("column reference \"{}\" is ambiguous", parts.join(".")),
                ));
            }
            found = Some((i, c.ty.clone()));
        }
        Ok(found)
    }

    fn column(&mut self, parts: &[String], scope: &[ScopeCol]) -> Result<(Expr, Type)> {
        if let Some((i, t)) = Self::lookup_in(scope, parts)? {
            return Ok((Expr::Col(i), t));
        }
        for depth in 1..=self.outer.len() {
            let outer = &self.outer[self.outer.len() - depth];
            if let Some((i, t)) = Self::lookup_in(outer, parts)? {
                if let Some(r) = self.outer_refs.last_mut() {
                    *r = (*r).max(depth);
                }
                return Ok((Expr::Outer(depth, i), t));
            }
        }
        if parts.len() == 1 {
            let special = matches!(
                parts[0].as_str(),
                "current_timestamp"
                    | "localtimestamp"
                    | "current_date"
                    | "current_user"
                    | "session_user"
                    | "current_catalog"
                    | "current_schema"
                    | "user"
            );
            if special {
                let f = builtins::internal(&parts[0])?;
                return Ok((Expr::Func(f, vec![]), f.return_type(&[])?));
            }
        }
        Err(SqlError::undefined_column(&parts.join(".")))
    }

    /// Compiles an expression over `scope`; with `agg`, above an aggregate.
    pub fn compile(
        &mut self,
        e: &ast::Expr,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        crate::stack::grow(|| self.compile_here(e, scope, agg))
    }

    /// [`Planner::compile`] on the current stack segment.
    fn compile_here(
        &mut self,
        e: &ast::Expr,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        if let Some(ctx) = agg.as_ref() {
            let text = e.to_string();
            if let Some(i) = ctx.group_text.iter().position(|g| *g == text) {
                return Ok((Expr::Col(i), ctx.group_types[i].clone()));
            }
            if let ast::Expr::Function(f) = e
                && builtins::is_aggregate(&object_key(&f.name))
            {
                return self.compile_aggregate(f, agg);
            }
            if matches!(
                e,
                ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_)
            ) {
                let parts = match e {
                    ast::Expr::Identifier(i) => vec![ident(i)],
                    ast::Expr::CompoundIdentifier(p) => p.iter().map(ident).collect(),
                    _ => vec![],
                };
                let input = ctx.input.clone();
                // Columns of the input must be grouped; outer columns are fine.
                if Self::lookup_in(&input, &parts)?.is_some() {
                    let name = parts.last().cloned().unwrap_or_default();
                    // A column matching a group expression by bare name (`GROUP BY t.a`, `SELECT a`).
                    if let Some(i) = ctx.group_text.iter().position(|g| {
                        g.rsplit('.').next().map(|s| s.trim_matches('"')) == Some(name.as_str())
                    }) {
                        return Ok((Expr::Col(i), ctx.group_types[i].clone()));
                    }
                    return Err(SqlError::new(
                        errcode::GROUPING_ERROR,
                        format!(
                            "column \"{name}\" must appear in the GROUP BY clause or be used in \
                             an aggregate function"
                        ),
                    ));
                }
                return self.column(&parts, &[]);
            }
        }
        self.compile_inner(e, scope, agg)
    }

    fn compile_aggregate(
        &mut self,
        f: &ast::Function,
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        let name = object_key(&f.name);
        let text = ast::Expr::Function(f.clone()).to_string();
        let Some(ctx) = agg.as_mut() else {
            return Err(SqlError::internal("aggregate outside aggregation"));
        };
        if let Some(j) = ctx.agg_text.iter().position(|t| *t == text) {
            let n = ctx.group_text.len();
            return Ok((Expr::Col(n + j), ctx.agg_types[j].clone()));
        }
        let input = ctx.input.clone();
        let (list, distinct) = match &f.args {
            ast::FunctionArguments::List(l) => (
                l.args.clone(),
                matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                ),
            ),
            ast::FunctionArguments::None => (Vec::new(), false),
            ast::FunctionArguments::Subquery(_) => {
                return Err(SqlError::unimplemented("aggregate over a subquery"));
            }
        };
        let star = matches!(
            list.as_slice(),
            [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)]
        );
        let func = AggFunc::from_name(&name, star || (name == "count" && list.is_empty()))
            .ok_or_else(|| SqlError::unimplemented(format!("aggregate {name}")))?;
        let mut args = Vec::new();
        let mut arg_types = Vec::new();
        if !star {
            for a in &list {
                let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) = a else {
                    return Err(SqlError::unimplemented("this aggregate argument"));
                };
                if has_aggregate(x) {
                    return Err(SqlError::new(
                        errcode::GROUPING_ERROR,
                        "aggregate function calls cannot be nested",
                    ));
                }
                let (e, t) = self.compile(x, &input, &mut None)?;
                args.push(e);
                arg_types.push(t);
            }
        }
        let expected = match func {
            AggFunc::CountRows => 0,
            AggFunc::StringAgg => 2,
            _ => 1,
        };
        if args.len() != expected {
            return Err(SqlError::new(
                errcode::UNDEFINED_FUNCTION,
                format!(
                    "unknown signature: {name}({})",
                    arg_types
                        .iter()
                        .map(|t| t.error_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let ty = func.result_type(arg_types.first())?;
        let filter = match &f.filter {
            Some(w) => Some(self.compile(w, &input, &mut None)?.0),
            None => None,
        };
        let Some(ctx) = agg.as_mut() else {
            return Err(SqlError::internal("aggregate context lost"));
        };
        ctx.aggs.push(AggCall {
            func,
            args,
            distinct,
            filter,
        });
        ctx.agg_text.push(text);
        ctx.agg_types.push(ty.clone());
        let n = ctx.group_text.len();
        Ok((Expr::Col(n + ctx.aggs.len() - 1), ty))
    }

    /// Coerces an untyped constant or placeholder to `ty`.
    pub fn coerce(&mut self, e: Expr, et: &Type, ty: &Type) -> Result<Expr> {
        if *et != Type::Unknown || *ty == Type::Unknown {
            return Ok(e);
        }
        match e {
            Expr::Const(d) => Ok(Expr::Const(types::cast(d, ty)?)),
            Expr::Param(p) => {
                self.set_param(p, ty);
                Ok(Expr::Param(p))
            }
            other => Ok(Expr::Cast(Box::new(other), ty.clone())),
        }
    }

    fn compile_cmp(&mut self, op: CmpOp, l: (Expr, Type), r: (Expr, Type)) -> Result<(Expr, Type)> {
        let (le, lt) = l;
        let (re, rt) = r;
        if !comparable(&lt, &rt) {
            return Err(cmp_type_error(op.symbol(), &lt, &rt));
        }
        let le = self.coerce(le, &lt, &rt)?;
        let re = self.coerce(re, &rt, &lt)?;
        Ok((Expr::Cmp(op, Box::new(le), Box::new(re)), Type::Bool))
    }

    fn compile_bool(
        &mut self,
        e: &ast::Expr,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
        what: &str,
    ) -> Result<Expr> {
        let (x, t) = self.compile(e, scope, agg)?;
        match t.family() {
            Family::Bool => Ok(x),
            Family::Unknown => self.coerce(x, &t, &Type::Bool),
            _ => Err(SqlError::datatype_mismatch(format!(
                "argument of {what} must be type bool, not type {}",
                t.error_name()
            ))),
        }
    }

    fn subquery(
        &mut self,
        q: &ast::Query,
        scope: &[ScopeCol],
        kind: SubqueryKind,
        negated: bool,
    ) -> Result<(Expr, Vec<ScopeCol>)> {
        self.outer.push(scope.to_vec());
        self.outer_refs.push(0);
        let planned = self.plan_query(q);
        self.outer.pop();
        let refs = self.outer_refs.pop().unwrap_or(0);
        let (plan, cols) = planned?;
        // References past this level belong to our enclosing queries too.
        if refs > 1
            && let Some(r) = self.outer_refs.last_mut()
        {
            *r = (*r).max(refs - 1);
        }
        let id = self.fresh_id();
        Ok((
            Expr::Subquery(Box::new(Subquery {
                id,
                plan: Arc::new(plan),
                kind,
                negated,
                correlated: refs > 0,
            })),
            cols,
        ))
    }

    fn compile_inner(
        &mut self,
        e: &ast::Expr,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        use ast::Expr as A;
        Ok(match e {
            A::Identifier(i) => self.column(&[ident(i)], scope)?,
            A::CompoundIdentifier(parts) => {
                let parts: Vec<String> = parts.iter().map(ident).collect();
                self.column(&parts, scope)?
            }
            A::Value(v) => self.literal(&v.value)?,
            A::Nested(inner) => self.compile(inner, scope, agg)?,
            A::TypedString(ts) => {
                let ty = self.resolve_type(&ts.data_type)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                        s.clone()
                    }
                    other => other.to_string(),
                };
                (Expr::Const(types::parse_datum(&text, &ty)?), ty)
            }
            A::Interval(iv) => {
                let (x, t) = self.compile(&iv.value, scope, agg)?;
                let mut text = match x.as_const() {
                    Some(Datum::String(s)) => s.clone(),
                    Some(Datum::Int(i)) => i.to_string(),
                    Some(other) => other.to_string(),
                    None => {
                        return Ok((Expr::Cast(Box::new(x), Type::Interval), Type::Interval));
                    }
                };
                let _ = t;
                if let Some(field) = &iv.leading_field
                    && text.trim().parse::<f64>().is_ok()
                {
                    text = format!("{text} {field}");
                }
                (
                    Expr::Const(types::parse_datum(&text, &Type::Interval)?),
                    Type::Interval,
                )
            }
            A::BinaryOp { left, op, right } => self.compile_binop(left, op, right, scope, agg)?,
            A::UnaryOp { op, expr } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                match op {
                    ast::UnaryOperator::Not => {
                        let x = self.coerce(x, &t, &Type::Bool)?;
                        if !matches!(t.family(), Family::Bool | Family::Unknown) {
                            return Err(SqlError::datatype_mismatch(format!(
                                "argument of NOT must be type bool, not type {}",
                                t.error_name()
                            )));
                        }
                        (Expr::Not(Box::new(x)), Type::Bool)
                    }
                    ast::UnaryOperator::Minus => match x {
                        Expr::Const(Datum::Int(i)) => (
                            Expr::Const(Datum::Int(i.checked_neg().ok_or_else(|| {
                                SqlError::new(
                                    errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                                    "integer out of range",
                                )
                            })?)),
                            t,
                        ),
                        Expr::Const(Datum::Decimal(d)) => (Expr::Const(Datum::Decimal(-d)), t),
                        x => {
                            if !(t.is_numeric() || t == Type::Interval || t == Type::Unknown) {
                                return Err(SqlError::new(
                                    errcode::UNDEFINED_FUNCTION,
                                    format!("unsupported unary operator: -<{}>", t.error_name()),
                                ));
                            }
                            (Expr::Neg(Box::new(x)), t)
                        }
                    },
                    ast::UnaryOperator::Plus => (x, t),
                    ast::UnaryOperator::BitwiseNot => (Expr::BitNot(Box::new(x)), t),
                    ast::UnaryOperator::PGSquareRoot => {
                        (builtins::internal_call("sqrt", vec![x])?, Type::Float8)
                    }
                    ast::UnaryOperator::PGAbs => (builtins::internal_call("abs", vec![x])?, t),
                    other => return Err(SqlError::unimplemented(format!("operator {other}"))),
                }
            }
            A::IsNull(x) => (
                Expr::IsNull(Box::new(self.compile(x, scope, agg)?.0), false),
                Type::Bool,
            ),
            A::IsNotNull(x) => (
                Expr::IsNull(Box::new(self.compile(x, scope, agg)?.0), true),
                Type::Bool,
            ),
            A::IsTrue(x) => (
                Expr::IsBool(Box::new(self.compile(x, scope, agg)?.0), true, false),
                Type::Bool,
            ),
            A::IsNotTrue(x) => (
                Expr::IsBool(Box::new(self.compile(x, scope, agg)?.0), true, true),
                Type::Bool,
            ),
            A::IsFalse(x) => (
                Expr::IsBool(Box::new(self.compile(x, scope, agg)?.0), false, false),
                Type::Bool,
            ),
            A::IsNotFalse(x) => (
                Expr::IsBool(Box::new(self.compile(x, scope, agg)?.0), false, true),
                Type::Bool,
            ),
            A::IsUnknown(x) => (
                Expr::IsNull(Box::new(self.compile(x, scope, agg)?.0), false),
                Type::Bool,
            ),
            A::IsNotUnknown(x) => (
                Expr::IsNull(Box::new(self.compile(x, scope, agg)?.0), true),
                Type::Bool,
            ),
            A::IsDistinctFrom(a, b) | A::IsNotDistinctFrom(a, b) => {
                let l = self.compile(a, scope, agg)?;
                let r = self.compile(b, scope, agg)?;
                if !comparable(&l.1, &r.1) {
                    return Err(cmp_type_error("IS DISTINCT FROM", &l.1, &r.1));
                }
                let le = self.coerce(l.0, &l.1, &r.1)?;
                let re = self.coerce(r.0, &r.1, &l.1)?;
                let negated = matches!(e, A::IsNotDistinctFrom(..));
                (
                    Expr::IsDistinct(Box::new(le), Box::new(re), negated),
                    Type::Bool,
                )
            }
            A::InList {
                expr,
                list,
                negated,
            } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                let mut items = Vec::new();
                let mut ty = t.clone();
                for item in list {
                    let (ie, it) = self.compile(item, scope, agg)?;
                    if !comparable(&ty, &it) {
                        return Err(cmp_type_error("IN", &ty, &it));
                    }
                    let ie = self.coerce(ie, &it, &ty)?;
                    if ty == Type::Unknown {
                        ty = it;
                    }
                    items.push(ie);
                }
                let x = self.coerce(x, &t, &ty)?;
                (Expr::InList(Box::new(x), items, *negated), Type::Bool)
            }
            A::InSubquery {
                expr,
                subquery,
                negated,
            } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                let (sq, cols) = self.subquery(
                    subquery,
                    scope,
                    SubqueryKind::Compare {
                        left: Box::new(x.clone()),
                        op: CmpOp::Eq,
                        all: false,
                    },
                    *negated,
                )?;
                let visible: Vec<&ScopeCol> = cols.iter().filter(|c| !c.hidden).collect();
                let width = match &x {
                    Expr::Tuple(items) => items.len(),
                    _ => 1,
                };
                if visible.len() != width {
                    return Err(SqlError::syntax(
                        "subquery has too many columns".to_string(),
                    ));
                }
                if width == 1 && !comparable(&t, &visible[0].ty) {
                    return Err(cmp_type_error("IN", &t, &visible[0].ty));
                }
                (sq, Type::Bool)
            }
            A::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.compile(expr, scope, agg)?;
                let lo = self.compile(low, scope, agg)?;
                let hi = self.compile(high, scope, agg)?;
                let (a, _) = self.compile_cmp(CmpOp::Ge, x.clone(), lo)?;
                let (b, _) = self.compile_cmp(CmpOp::Le, x, hi)?;
                let both = Expr::And(Box::new(a), Box::new(b));
                if *negated {
                    (Expr::Not(Box::new(both)), Type::Bool)
                } else {
                    (both, Type::Bool)
                }
            }
            A::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            }
            | A::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
            } => {
                if escape_char.is_some() || *any {
                    return Err(SqlError::unimplemented("LIKE with ESCAPE or ANY"));
                }
                let (x, t) = self.compile(expr, scope, agg)?;
                let (p, pt) = self.compile(pattern, scope, agg)?;
                let x = self.coerce(x, &t, &Type::String)?;
                let p = self.coerce(p, &pt, &Type::String)?;
                if !matches!(t.family(), Family::String | Family::Unknown | Family::Enum) {
                    return Err(SqlError::new(
                        errcode::UNDEFINED_FUNCTION,
                        format!(
                            "unsupported comparison operator: <{}> LIKE <string>",
                            t.error_name()
                        ),
                    ));
                }
                (
                    Expr::Like {
                        expr: Box::new(x),
                        pattern: Box::new(p),
                        negated: *negated,
                        case_insensitive: matches!(e, A::ILike { .. }),
                    },
                    Type::Bool,
                )
            }
            A::Cast {
                expr, data_type, ..
            } => {
                let ty = self.resolve_type(data_type)?;
                let (x, t) = self.compile(expr, scope, agg)?;
                if !types::can_cast(&t, &ty) {
                    return Err(SqlError::new(
                        errcode::CANNOT_COERCE,
                        format!("invalid cast: {} -> {}", t.error_name(), ty.sql_name()),
                    ));
                }
                match x {
                    Expr::Const(d) => (Expr::Const(types::cast(d, &ty)?), ty),
                    Expr::Param(p) if t == Type::Unknown => {
                        self.set_param(p, &ty);
                        (Expr::Param(p), ty)
                    }
                    x => (Expr::Cast(Box::new(x), ty.clone()), ty),
                }
            }
            A::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let op = match operand {
                    Some(o) => Some(self.compile(o, scope, agg)?),
                    None => None,
                };
                let mut whens = Vec::new();
                let mut result_ty = Type::Unknown;
                let mut results = Vec::new();
                for w in conditions {
                    let cond = match &op {
                        Some((_, ot)) => {
                            let (c, ct) = self.compile(&w.condition, scope, agg)?;
                            if !comparable(ot, &ct) {
                                return Err(cmp_type_error("=", ot, &ct));
                            }
                            self.coerce(c, &ct, ot)?
                        }
                        None => self.compile_bool(&w.condition, scope, agg, "CASE WHEN")?,
                    };
                    let (r, rt) = self.compile(&w.result, scope, agg)?;
                    result_ty = case_type(result_ty, &rt)?;
                    whens.push(cond);
                    results.push((r, rt));
                }
                let else_ = match else_result {
                    Some(x) => {
                        let (r, rt) = self.compile(x, scope, agg)?;
                        // The ELSE is checked like the THENs: a DATE in a BYTES CASE went
                        // out in binary as its column's type and failed with XX000.
                        result_ty = case_type(result_ty, &rt)?;
                        Some(Box::new(self.coerce(r, &rt, &result_ty)?))
                    }
                    None => None,
                };
                let mut pairs = Vec::new();
                for (c, (r, rt)) in whens.into_iter().zip(results) {
                    pairs.push((c, self.coerce(r, &rt, &result_ty)?));
                }
                (
                    Expr::Case {
                        operand: op.map(|(o, _)| Box::new(o)),
                        whens: pairs,
                        else_,
                    },
                    result_ty,
                )
            }
            A::Exists { subquery, negated } => {
                let (sq, _) = self.subquery(subquery, scope, SubqueryKind::Exists, *negated)?;
                (sq, Type::Bool)
            }
            A::Subquery(q) => {
                let (sq, cols) = self.subquery(q, scope, SubqueryKind::Scalar, false)?;
                let visible: Vec<&ScopeCol> = cols.iter().filter(|c| !c.hidden).collect();
                if visible.len() != 1 {
                    return Err(SqlError::syntax(format!(
                        "subquery must return only one column, found {}",
                        visible.len()
                    )));
                }
                (sq, visible[0].ty.clone())
            }
            A::Tuple(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.compile(i, scope, agg)?.0);
                }
                (Expr::Tuple(out), Type::Unknown)
            }
            A::Array(arr) => {
                let mut out = Vec::new();
                let mut ty = Type::Unknown;
                for i in &arr.elem {
                    let (x, t) = self.compile(i, scope, agg)?;
                    if ty == Type::Unknown {
                        ty = t.clone();
                    }
                    out.push((x, t));
                }
                let mut items = Vec::new();
                for (x, t) in out {
                    items.push(self.coerce(x, &t, &ty)?);
                }
                let elem = if ty == Type::Unknown {
                    Type::String
                } else {
                    ty
                };
                let folded: Option<Vec<Datum>> =
                    items.iter().map(|x| x.as_const().cloned()).collect();
                match folded {
                    Some(ds) => (Expr::Const(Datum::Array(ds)), Type::Array(Box::new(elem))),
                    None => (Expr::Array(items), Type::Array(Box::new(elem))),
                }
            }
            A::AnyOp {
                left,
                compare_op,
                right,
                ..
            }
            | A::AllOp {
                left,
                compare_op,
                right,
            } => {
                let all = matches!(e, A::AllOp { .. });
                let op = cmp_op(compare_op)?;
                let (l, lt) = self.compile(left, scope, agg)?;
                if let A::Subquery(q) = right.as_ref() {
                    let (sq, _) = self.subquery(
                        q,
                        scope,
                        SubqueryKind::Compare {
                            left: Box::new(l),
                            op,
                            all,
                        },
                        false,
                    )?;
                    return Ok((sq, Type::Bool));
                }
                let (r, rt) = self.compile(right, scope, agg)?;
                let r = match (&rt, &lt) {
                    (Type::Unknown, t) => self.coerce(r, &rt, &Type::Array(Box::new(t.clone())))?,
                    _ => r,
                };
                (
                    Expr::AnyArray(Box::new(l), op, Box::new(r), all),
                    Type::Bool,
                )
            }
            A::Function(f) => self.compile_function(f, scope, agg)?,
            A::Extract { field, expr, .. } => {
                let (x, _) = self.compile(expr, scope, agg)?;
                let name = field.to_string().to_lowercase();
                (
                    builtins::internal_call("extract", vec![Expr::Const(Datum::String(name)), x])?,
                    Type::Float8,
                )
            }
            A::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                let x = self.coerce(x, &t, &Type::String)?;
                let mut args = vec![x];
                match substring_from {
                    Some(f) => {
                        let (fx, ft) = self.compile(f, scope, agg)?;
                        args.push(self.coerce(fx, &ft, &Type::Int8)?);
                    }
                    None => args.push(Expr::Const(Datum::Int(1))),
                }
                if let Some(f) = substring_for {
                    let (fx, ft) = self.compile(f, scope, agg)?;
                    args.push(self.coerce(fx, &ft, &Type::Int8)?);
                }
                (builtins::internal_call("substring", args)?, Type::String)
            }
            A::Trim {
                expr,
                trim_where,
                trim_what,
                ..
            } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                let x = self.coerce(x, &t, &Type::String)?;
                let name = match trim_where {
                    Some(ast::TrimWhereField::Leading) => "ltrim",
                    Some(ast::TrimWhereField::Trailing) => "rtrim",
                    _ => "btrim",
                };
                let mut args = vec![x];
                if let Some(w) = trim_what {
                    args.push(self.compile(w, scope, agg)?.0);
                }
                (builtins::internal_call(name, args)?, Type::String)
            }
            A::Position { expr, r#in } => {
                let (needle, _) = self.compile(expr, scope, agg)?;
                let (hay, _) = self.compile(r#in, scope, agg)?;
                (
                    builtins::internal_call("strpos", vec![hay, needle])?,
                    Type::Int8,
                )
            }
            A::Ceil { expr, .. } | A::Floor { expr, .. } => {
                let (x, t) = self.compile(expr, scope, agg)?;
                let name = if matches!(e, A::Ceil { .. }) {
                    "ceil"
                } else {
                    "floor"
                };
                let t = if t == Type::Unknown {
                    Type::decimal()
                } else {
                    t
                };
                (builtins::internal_call(name, vec![x])?, t)
            }
            A::Collate { expr, .. } => self.compile(expr, scope, agg)?,
            A::CompoundFieldAccess { root, access_chain } => {
                let (mut x, mut t) = self.compile(root, scope, agg)?;
                for a in access_chain {
                    match a {
                        ast::AccessExpr::Subscript(ast::Subscript::Index { index }) => {
                            let (i, it) = self.compile(index, scope, agg)?;
                            let i = self.coerce(i, &it, &Type::Int8)?;
                            t = match t {
                                Type::Array(elem) => *elem,
                                Type::Jsonb => Type::Jsonb,
                                other => {
                                    return Err(SqlError::datatype_mismatch(format!(
                                        "cannot subscript type {} because it is not an array",
                                        other.error_name()
                                    )));
                                }
                            };
                            x = Expr::Subscript(Box::new(x), Box::new(i));
                        }
                        _ => return Err(SqlError::unimplemented("this field access")),
                    }
                }
                (x, t)
            }
            A::AtTimeZone {
                timestamp,
                time_zone,
            } => {
                let (x, t) = self.compile(timestamp, scope, agg)?;
                let (z, _) = self.compile(time_zone, scope, agg)?;
                let utc =
                    matches!(z.as_const(), Some(Datum::String(s)) if s.eq_ignore_ascii_case("utc"));
                if !utc {
                    return Err(SqlError::unimplemented("AT TIME ZONE other than UTC"));
                }
                match t.family() {
                    Family::TimestampTz => {
                        (Expr::Cast(Box::new(x), Type::Timestamp), Type::Timestamp)
                    }
                    _ => (
                        Expr::Cast(Box::new(x), Type::TimestampTz),
                        Type::TimestampTz,
                    ),
                }
            }
            other => {
                let text: String = other.to_string().chars().take(60).collect();
                return Err(SqlError::unimplemented(format!("expression {text}")));
            }
        })
    }

    fn literal(&mut self, v: &ast::Value) -> Result<(Expr, Type)> {
        Ok(match v {
            ast::Value::Number(n, _) => {
                let (d, t) = literal_number(n)?;
                (Expr::Const(d), t)
            }
            ast::Value::SingleQuotedString(s)
            | ast::Value::EscapedStringLiteral(s)
            | ast::Value::NationalStringLiteral(s)
            | ast::Value::UnicodeStringLiteral(s)
            | ast::Value::TripleSingleQuotedString(s) => {
                (Expr::Const(Datum::String(s.clone())), Type::Unknown)
            }
            ast::Value::DollarQuotedString(d) => {
                (Expr::Const(Datum::String(d.value.clone())), Type::Unknown)
            }
            ast::Value::HexStringLiteral(h) => (
                Expr::Const(types::parse_datum(&format!("\\x{h}"), &Type::Bytes)?),
                Type::Bytes,
            ),
            ast::Value::SingleQuotedByteStringLiteral(s)
            | ast::Value::DoubleQuotedByteStringLiteral(s) => (
                Expr::Const(Datum::Bytes(s.as_bytes().to_vec())),
                Type::Bytes,
            ),
            ast::Value::Boolean(b) => (Expr::Const(Datum::Bool(*b)), Type::Bool),
            ast::Value::Null => (Expr::Const(Datum::Null), Type::Unknown),
            ast::Value::Placeholder(p) => {
                let n: usize = p
                    .trim_start_matches('$')
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1 && *n <= 65_536)
                    .ok_or_else(|| SqlError::syntax(format!("invalid placeholder {p}")))?;
                let i = n - 1;
                if self.params.len() <= i {
                    self.params.resize(i + 1, Type::Unknown);
                }
                (Expr::Param(i), self.params[i].clone())
            }
            ast::Value::DoubleQuotedString(s) => {
                return Err(SqlError::undefined_column(s));
            }
            other => return Err(SqlError::unimplemented(format!("literal {other}"))),
        })
    }

    fn compile_binop(
        &mut self,
        left: &ast::Expr,
        op: &ast::BinaryOperator,
        right: &ast::Expr,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        use ast::BinaryOperator as B;
        match op {
            B::And | B::Or => {
                let what = if matches!(op, B::And) { "AND" } else { "OR" };
                let l = self.compile_bool(left, scope, agg, what)?;
                let r = self.compile_bool(right, scope, agg, what)?;
                return Ok(if matches!(op, B::And) {
                    (Expr::And(Box::new(l), Box::new(r)), Type::Bool)
                } else {
                    (Expr::Or(Box::new(l), Box::new(r)), Type::Bool)
                });
            }
            _ => {}
        }
        let l = self.compile(left, scope, agg)?;
        let r = self.compile(right, scope, agg)?;
        if let Ok(c) = cmp_op(op) {
            return self.compile_cmp(c, l, r);
        }
        let (le, lt) = l;
        let (re, rt) = r;
        let like = |negated: bool, ci: bool, le: Expr, re: Expr| Expr::Like {
            expr: Box::new(le),
            pattern: Box::new(re),
            negated,
            case_insensitive: ci,
        };
        let bop = match op {
            B::Plus => BinOp::Add,
            B::Minus => BinOp::Sub,
            B::Multiply => BinOp::Mul,
            B::Divide => BinOp::Div,
            B::DuckIntegerDivide | B::MyIntegerDivide => BinOp::FloorDiv,
            B::Modulo => BinOp::Mod,
            B::PGExp => BinOp::Pow,
            B::StringConcat => BinOp::Concat,
            B::BitwiseAnd => BinOp::BitAnd,
            B::BitwiseOr => BinOp::BitOr,
            B::PGBitwiseXor | B::BitwiseXor => BinOp::BitXor,
            B::PGBitwiseShiftLeft => BinOp::Shl,
            B::PGBitwiseShiftRight => BinOp::Shr,
            B::Arrow => BinOp::JsonGet,
            B::LongArrow => BinOp::JsonGetText,
            B::AtArrow => BinOp::Contains,
            B::ArrowAt => BinOp::ContainedBy,
            B::Question => BinOp::JsonHasKey,
            B::PGLikeMatch => return Ok((like(false, false, le, re), Type::Bool)),
            B::PGNotLikeMatch => return Ok((like(true, false, le, re), Type::Bool)),
            B::PGILikeMatch => return Ok((like(false, true, le, re), Type::Bool)),
            B::PGNotILikeMatch => return Ok((like(true, true, le, re), Type::Bool)),
            B::PGRegexMatch | B::PGRegexIMatch | B::PGRegexNotMatch | B::PGRegexNotIMatch => {
                let ci = matches!(op, B::PGRegexIMatch | B::PGRegexNotIMatch);
                let neg = matches!(op, B::PGRegexNotMatch | B::PGRegexNotIMatch);
                return Ok((regex_expr(le, re, ci, neg), Type::Bool));
            }
            B::PGCustomBinaryOperator(parts) => {
                let sym = parts.last().map(String::as_str).unwrap_or("");
                let (ci, neg) = match sym {
                    "~" => (false, false),
                    "~*" => (true, false),
                    "!~" => (false, true),
                    "!~*" => (true, true),
                    "=" | "<>" | "<" | ">" | "<=" | ">=" => {
                        let c = match sym {
                            "=" => CmpOp::Eq,
                            "<>" => CmpOp::Ne,
                            "<" => CmpOp::Lt,
                            ">" => CmpOp::Gt,
                            "<=" => CmpOp::Le,
                            _ => CmpOp::Ge,
                        };
                        return self.compile_cmp(c, (le, lt), (re, rt));
                    }
                    other => return Err(SqlError::unimplemented(format!("operator {other}"))),
                };
                return Ok((regex_expr(le, re, ci, neg), Type::Bool));
            }
            other => return Err(SqlError::unimplemented(format!("operator {other}"))),
        };
        // An untyped literal takes the other side's type.
        let (le, lt2) = if lt == Type::Unknown
            && rt != Type::Unknown
            && !matches!(
                bop,
                BinOp::Concat | BinOp::JsonGet | BinOp::JsonGetText | BinOp::JsonHasKey
            ) {
            let target = match (&rt, bop) {
                (Type::Timestamp | Type::TimestampTz | Type::Date, BinOp::Add | BinOp::Sub) => {
                    Type::Interval
                }
                _ => rt.clone(),
            };
            (self.coerce(le, &lt, &target)?, target)
        } else {
            (le, lt)
        };
        let (re, rt2) =
            if rt == Type::Unknown && lt2 != Type::Unknown && !matches!(bop, BinOp::Concat) {
                let target = match (&lt2, bop) {
                    (Type::Timestamp | Type::TimestampTz | Type::Date, BinOp::Add | BinOp::Sub) => {
                        Type::Interval
                    }
                    (Type::Jsonb, BinOp::JsonGet | BinOp::JsonGetText | BinOp::JsonHasKey) => {
                        Type::String
                    }
                    _ => lt2.clone(),
                };
                (self.coerce(re, &rt, &target)?, target)
            } else {
                (re, rt)
            };
        let ty = bin_type(bop, &lt2, &rt2)?;
        // Fold constants (catches division by zero early as PostgreSQL does at run time).
        if let (Expr::Const(a), Expr::Const(b)) = (&le, &re) {
            let v = super::expr::binary(bop, a.clone(), b.clone())?;
            return Ok((Expr::Const(v), ty));
        }
        Ok((Expr::Bin(bop, Box::new(le), Box::new(re)), ty))
    }

    fn compile_function(
        &mut self,
        f: &ast::Function,
        scope: &[ScopeCol],
        agg: &mut Option<AggCtx>,
    ) -> Result<(Expr, Type)> {
        let name = object_key(&f.name);
        if f.over.is_some() {
            return Err(SqlError::unimplemented("window functions"));
        }
        if builtins::is_aggregate(&name) {
            if agg.is_none() {
                let msg = match self.clause {
                    Clause::Where => "aggregate functions are not allowed in WHERE".to_string(),
                    Clause::Other => format!("aggregate function {name}() is not allowed here"),
                };
                return Err(SqlError::new(errcode::GROUPING_ERROR, msg));
            }
            return self.compile_aggregate(f, agg);
        }
        let list = match &f.args {
            ast::FunctionArguments::List(l) => l.args.clone(),
            ast::FunctionArguments::None => Vec::new(),
            ast::FunctionArguments::Subquery(q) => {
                if name == "array" {
                    let (sq, cols) = self.subquery(q, scope, SubqueryKind::Array, false)?;
                    let elem = cols.first().map_or(Type::String, |c| c.ty.clone());
                    return Ok((sq, Type::Array(Box::new(elem))));
                }
                return Err(SqlError::unimplemented(format!("{name}(subquery)")));
            }
        };
        let mut args = Vec::new();
        let mut arg_types = Vec::new();
        for a in &list {
            let x = match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => x,
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard) => {
                    return Err(SqlError::syntax(format!("{name}(*) is not a valid call")));
                }
                _ => return Err(SqlError::unimplemented("named function arguments")),
            };
            let (e, t) = self.compile(x, scope, agg)?;
            args.push(e);
            arg_types.push(t);
        }
        let Some(func) = builtins::lookup(&name) else {
            // Casting functions named after types (`int8(x)`).
            if let Some(t) = types::named_type(&name)
                && args.len() == 1
            {
                let a = args.remove(0);
                return Ok((Expr::Cast(Box::new(a), t.clone()), t));
            }
            return Err(builtins::unknown_function(&name));
        };
        let ty = func.return_type(&arg_types)?;
        // Untyped arguments of string functions are strings.
        let target = if func.has_common_type() {
            ty.clone()
        } else {
            Type::String
        };
        let mut coerced = Vec::new();
        for (a, t) in args.into_iter().zip(&arg_types) {
            let a = if *t == Type::Unknown && target != Type::Unknown {
                match a {
                    Expr::Const(Datum::Null) => a,
                    Expr::Const(Datum::String(_)) => self.coerce(a, t, &target)?,
                    Expr::Param(p) => {
                        self.set_param(p, &target);
                        Expr::Param(p)
                    }
                    other => other,
                }
            } else {
                a
            };
            coerced.push(a);
        }
        if func.has_common_type() {
            for t in &arg_types {
                if *t != Type::Unknown && !comparable(t, &ty) {
                    return Err(SqlError::datatype_mismatch(format!(
                        "incompatible {} expressions: expected {}, found {}",
                        name.to_uppercase(),
                        ty.error_name(),
                        t.error_name()
                    )));
                }
            }
        }
        Ok((Expr::Func(func, coerced), ty))
    }
}

fn regex_expr(text: Expr, pattern: Expr, ci: bool, negated: bool) -> Expr {
    Expr::Regex(Box::new(text), Box::new(pattern), ci, negated)
}

fn cmp_op(op: &ast::BinaryOperator) -> Result<CmpOp> {
    use ast::BinaryOperator as B;
    Ok(match op {
        B::Eq => CmpOp::Eq,
        B::NotEq => CmpOp::Ne,
        B::Lt => CmpOp::Lt,
        B::LtEq => CmpOp::Le,
        B::Gt => CmpOp::Gt,
        B::GtEq => CmpOp::Ge,
        other => return Err(SqlError::unimplemented(format!("comparison {other}"))),
    })
}

fn sort_key(col: usize, o: &ast::OrderByExpr) -> SortKey {
    let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
    SortKey {
        col,
        desc,
        // CockroachDB: NULLs first ascending, last descending.
        nulls_first: o.options.nulls_first.unwrap_or(!desc),
    }
}

fn cross(lp: Plan, lc: Vec<ScopeCol>, rp: Plan, rc: Vec<ScopeCol>) -> (Plan, Vec<ScopeCol>) {
    let lw = lc.len();
    let rw = rc.len();
    let mut cols = lc;
    cols.extend(rc);
    (
        Plan::Join {
            left: Box::new(lp),
            right: Box::new(rp),
            kind: JoinKind::Inner,
            equi: Vec::new(),
            on: None,
            left_width: lw,
            right_width: rw,
        },
        cols,
    )
}

/// Shifts column references down by `by` (for pushing a predicate into a join's right side).
fn shift_cols(e: Expr, by: usize) -> Expr {
    e.map(&mut |x| {
        Ok(match x {
            Expr::Col(i) => Expr::Col(i.saturating_sub(by)),
            other => other,
        })
    })
    .unwrap_or(Expr::Const(Datum::Null))
}

/// Adds a filter above a plan; over a table scan, also picks the scan's access path.
pub fn push_filter(plan: Plan, pred: Expr) -> Plan {
    crate::stack::grow(|| push_filter_here(plan, pred))
}

fn push_filter_here(plan: Plan, pred: Expr) -> Plan {
    match plan {
        Plan::Scan(mut s) => {
            let mut preds = Vec::new();
            conjuncts(pred.clone(), &mut preds);
            if matches!(s.access, Access::Full) {
                s.access = choose_access(&s.table, &preds);
            }
            s.limit = None;
            Plan::Filter {
                input: Box::new(Plan::Scan(s)),
                pred,
            }
        }
        Plan::Filter { input, pred: p0 } => {
            let combined = Expr::And(Box::new(p0), Box::new(pred));
            push_filter(*input, combined)
        }
        // Filters over an inner join: push each side's conjuncts down.
        Plan::Join {
            left,
            right,
            kind: JoinKind::Inner,
            equi,
            on,
            left_width,
            right_width,
        } => {
            let mut preds = Vec::new();
            conjuncts(pred, &mut preds);
            let (mut l, mut r) = (*left, *right);
            let mut rest = Vec::new();
            for p in preds {
                let mut cols = Vec::new();
                p.walk(&mut |x| {
                    if let Expr::Col(i) = x {
                        cols.push(*i);
                    }
                });
                if p.has_subquery() || cols.is_empty() {
                    rest.push(p);
                } else if cols.iter().all(|c| *c < left_width) {
                    l = push_filter(l, p);
                } else if cols.iter().all(|c| *c >= left_width) {
                    r = push_filter(r, shift_cols(p, left_width));
                } else {
                    rest.push(p);
                }
            }
            let join = Plan::Join {
                left: Box::new(l),
                right: Box::new(r),
                kind: JoinKind::Inner,
                equi,
                on,
                left_width,
                right_width,
            };
            match super::plan::and_all(rest) {
                Some(p) => Plan::Filter {
                    input: Box::new(join),
                    pred: p,
                },
                None => join,
            }
        }
        other => Plan::Filter {
            input: Box::new(other),
            pred,
        },
    }
}
