//! Plans: the operator trees the executor runs, and their EXPLAIN rendering.
//!
//! A [`Plan`] produces rows. Leaves read a table ([`Plan::Scan`] with an [`Access`] path
//! chosen from the WHERE clause), a virtual table, constant rows, or a CTE; inner nodes
//! filter, project, join, aggregate, sort, limit, deduplicate and combine.
//!
//! Access paths, best first: every primary key column fixed by `=`/`IN` constants is
//! [`Access::PkPoints`] (one KV Get per key: a point lookup is one read); a fixed prefix of the
//! primary key, optionally with a range on the next column, is [`Access::PkSpan`] (one scan);
//! a fixed prefix of a secondary index is [`Access::Index`] (an index scan, then one Get per
//! row); otherwise [`Access::Full`]. The WHERE clause is still applied above the scan, so an
//! access path only has to narrow, never to be exact.

use std::sync::Arc;

use super::agg::AggCall;
use super::expr::{CmpOp, Expr};
use crate::catalog::{IndexId, TableDesc};
use crate::encoding::Row;
use crate::types::{Datum, Type};

/// A column of a plan's output (and of the scope expressions are compiled in).
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeCol {
    /// The table alias it comes from, if any.
    pub table: Option<String>,
    /// The column name.
    pub name: String,
    /// The type.
    pub ty: Type,
    /// Left out of `*` (hidden columns, ORDER BY helpers).
    pub hidden: bool,
}

impl ScopeCol {
    /// A visible column without a table.
    pub fn new(name: impl Into<String>, ty: Type) -> ScopeCol {
        ScopeCol {
            table: None,
            name: name.into(),
            ty,
            hidden: false,
        }
    }
}

/// How a scan finds its rows.
#[derive(Clone, Debug)]
pub enum Access {
    /// Every row.
    Full,
    /// These complete primary keys (column values in primary index order), one Get each.
    PkPoints(Vec<Vec<Expr>>),
    /// A primary key prefix, optionally bounded on the next column.
    PkSpan {
        /// Values of the first primary key columns.
        prefix: Vec<Expr>,
        /// Lower bound on the next column: (value, inclusive).
        lower: Option<(Expr, bool)>,
        /// Upper bound on the next column: (value, inclusive).
        upper: Option<(Expr, bool)>,
    },
    /// A prefix of a secondary index, then a primary index Get per match.
    Index {
        /// The index.
        index: IndexId,
        /// Values of its first columns (each value list is one lookup).
        prefixes: Vec<Vec<Expr>>,
    },
}

/// A table scan.
#[derive(Clone, Debug)]
pub struct ScanPlan {
    /// The table.
    pub table: Arc<TableDesc>,
    /// How rows are found.
    pub access: Access,
    /// Stop after this many rows (a LIMIT with nothing in between).
    pub limit: Option<usize>,
}

/// Join kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// INNER / CROSS.
    Inner,
    /// LEFT OUTER.
    Left,
    /// RIGHT OUTER.
    Right,
    /// FULL OUTER.
    Full,
}

/// Set operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOpKind {
    /// UNION.
    Union,
    /// INTERSECT.
    Intersect,
    /// EXCEPT.
    Except,
}

/// One ORDER BY key.
#[derive(Clone, Debug)]
pub struct SortKey {
    /// The column of the input.
    pub col: usize,
    /// DESC.
    pub desc: bool,
    /// NULLS FIRST (CockroachDB: NULLs first in ascending order by default).
    pub nulls_first: bool,
}

/// An operator tree.
#[derive(Clone, Debug)]
pub enum Plan {
    /// Constant rows.
    Values {
        /// Rows of expressions (evaluated with no input row).
        rows: Vec<Vec<Expr>>,
    },
    /// A table scan; outputs whole rows in `TableDesc::columns` order.
    Scan(Box<ScanPlan>),
    /// A virtual table, materialised at plan time.
    Virtual {
        /// Its name.
        name: String,
        /// Its rows.
        rows: Arc<Vec<Row>>,
    },
    /// A set-returning function evaluated at run time (`generate_series`, `unnest`,
    /// `pg_partition_ancestors`), optionally `WITH ORDINALITY`.
    TableFunc {
        /// The function.
        name: String,
        /// Its arguments (no input row; may read enclosing rows).
        args: Vec<Expr>,
        /// Append a 1-based ordinality column.
        ordinality: bool,
    },
    /// Rows of a common table expression.
    CteScan {
        /// The CTE id.
        id: usize,
        /// Its name.
        name: String,
    },
    /// Rows where the predicate is true.
    Filter {
        /// The input.
        input: Box<Plan>,
        /// The predicate.
        pred: Expr,
    },
    /// Computed columns.
    Project {
        /// The input.
        input: Box<Plan>,
        /// One expression per output column.
        exprs: Vec<Expr>,
    },
    /// A join; outputs left columns then right columns.
    Join {
        /// Left input.
        left: Box<Plan>,
        /// Right input.
        right: Box<Plan>,
        /// Kind.
        kind: JoinKind,
        /// Equality columns (left column, right column) used to hash.
        equi: Vec<(usize, usize)>,
        /// The whole ON condition, over left ++ right.
        on: Option<Expr>,
        /// Width of the left side.
        left_width: usize,
        /// Width of the right side.
        right_width: usize,
    },
    /// Grouping and aggregates; outputs the group values then the aggregate values.
    Aggregate {
        /// The input.
        input: Box<Plan>,
        /// Group expressions.
        group: Vec<Expr>,
        /// Aggregates.
        aggs: Vec<AggCall>,
    },
    /// Sorting.
    Sort {
        /// The input.
        input: Box<Plan>,
        /// Keys, most significant first.
        keys: Vec<SortKey>,
    },
    /// LIMIT / OFFSET.
    Limit {
        /// The input.
        input: Box<Plan>,
        /// LIMIT.
        limit: Option<Expr>,
        /// OFFSET.
        offset: Option<Expr>,
    },
    /// Duplicate removal over the first `width` columns (all when `None`).
    Distinct {
        /// The input.
        input: Box<Plan>,
        /// Columns that decide equality.
        width: Option<usize>,
    },
    /// UNION / INTERSECT / EXCEPT.
    SetOp {
        /// Kind.
        op: SetOpKind,
        /// ALL (keep duplicates).
        all: bool,
        /// Left.
        left: Box<Plan>,
        /// Right.
        right: Box<Plan>,
    },
    /// CTEs evaluated before the body.
    With {
        /// (id, plan) in order.
        ctes: Vec<(usize, Plan)>,
        /// The body.
        body: Box<Plan>,
    },
}

impl Plan {
    /// One empty row (a SELECT without FROM).
    pub fn one_row() -> Plan {
        Plan::Values {
            rows: vec![Vec::new()],
        }
    }

    /// The EXPLAIN tree, CockroachDB-style.
    pub fn explain(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.explain_into(&mut out, "", true, true);
        out
    }

    fn explain_into(&self, out: &mut Vec<String>, indent: &str, last: bool, root: bool) {
        crate::stack::grow(|| self.explain_into_here(out, indent, last, root))
    }

    fn explain_into_here(&self, out: &mut Vec<String>, indent: &str, last: bool, root: bool) {
        let (head, child_indent) = if root {
            ("• ".to_string(), String::new())
        } else {
            (
                format!("{indent}{}• ", if last { "└── " } else { "├── " }),
                format!("{indent}{}", if last { "    " } else { "│   " }),
            )
        };
        let mut details = Vec::new();
        let (name, children): (String, Vec<&Plan>) = match self {
            Plan::Values { rows } => {
                details.push(format!("size: {} rows", rows.len()));
                ("values".into(), vec![])
            }
            Plan::Scan(s) => {
                let t = &s.table;
                let (index_name, spans) = match &s.access {
                    Access::Full => (t.primary_index.name.clone(), "FULL SCAN".to_string()),
                    Access::PkPoints(keys) => (
                        t.primary_index.name.clone(),
                        keys.iter()
                            .map(|k| {
                                let v = render_values(k);
                                format!("[/{v} - /{v}]")
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    Access::PkSpan {
                        prefix,
                        lower,
                        upper,
                    } => {
                        let p = render_values(prefix);
                        let sep = if prefix.is_empty() { "" } else { "/" };
                        let lo = lower
                            .as_ref()
                            .map_or(p.clone(), |(e, _)| format!("{p}{sep}{}", render_expr(e)));
                        let hi = upper
                            .as_ref()
                            .map_or(p.clone(), |(e, _)| format!("{p}{sep}{}", render_expr(e)));
                        (t.primary_index.name.clone(), format!("[/{lo} - /{hi}]"))
                    }
                    Access::Index { index, prefixes } => (
                        t.index(*index).map_or("?".into(), |i| i.name.clone()),
                        prefixes
                            .iter()
                            .map(|k| {
                                let v = render_values(k);
                                format!("[/{v} - /{v}]")
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                };
                details.push(format!("table: {}@{index_name}", t.name));
                details.push(format!("spans: {spans}"));
                if let Some(l) = s.limit {
                    details.push(format!("limit: {l}"));
                }
                let name = if matches!(s.access, Access::Index { .. }) {
                    "index join".to_string()
                } else {
                    "scan".to_string()
                };
                (name, vec![])
            }
            Plan::TableFunc { name, .. } => {
                details.push(format!("function: {name}"));
                ("project set".into(), vec![])
            }
            Plan::Virtual { name, .. } => {
                details.push(format!("table: {name}"));
                ("virtual table".into(), vec![])
            }
            Plan::CteScan { name, .. } => {
                details.push(format!("label: {name}"));
                ("scan buffer".into(), vec![])
            }
            Plan::Filter { input, pred } => {
                details.push(format!("filter: {}", render_expr(pred)));
                ("filter".into(), vec![input])
            }
            Plan::Project { input, .. } => ("render".into(), vec![input]),
            Plan::Join {
                left,
                right,
                kind,
                equi,
                on,
                ..
            } => {
                let k = match kind {
                    JoinKind::Inner => "inner",
                    JoinKind::Left => "left outer",
                    JoinKind::Right => "right outer",
                    JoinKind::Full => "full outer",
                };
                details.push(format!("type: {k}"));
                if !equi.is_empty() {
                    details.push(format!(
                        "equality: ({})",
                        equi.iter()
                            .map(|(l, r)| format!("@{} = @{}", l + 1, r + 1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                } else if let Some(on) = on {
                    details.push(format!("pred: {}", render_expr(on)));
                }
                let name = if equi.is_empty() {
                    "cross join"
                } else {
                    "hash join"
                };
                (name.into(), vec![left, right])
            }
            Plan::Aggregate { input, group, aggs } => {
                if !group.is_empty() {
                    details.push(format!(
                        "group by: {}",
                        group.iter().map(render_expr).collect::<Vec<_>>().join(", ")
                    ));
                }
                details.push(format!(
                    "aggregates: {}",
                    aggs.iter()
                        .map(|a| a.func.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let name = if group.is_empty() {
                    "group (scalar)"
                } else {
                    "group (hash)"
                };
                (name.into(), vec![input])
            }
            Plan::Sort { input, keys } => {
                details.push(format!(
                    "order: {}",
                    keys.iter()
                        .map(|k| format!("{}@{}", if k.desc { "-" } else { "+" }, k.col + 1))
                        .collect::<Vec<_>>()
                        .join(",")
                ));
                ("sort".into(), vec![input])
            }
            Plan::Limit {
                input,
                limit,
                offset,
            } => {
                if let Some(l) = limit {
                    details.push(format!("count: {}", render_expr(l)));
                }
                if let Some(o) = offset {
                    details.push(format!("offset: {}", render_expr(o)));
                }
                ("limit".into(), vec![input])
            }
            Plan::Distinct { input, .. } => ("distinct".into(), vec![input]),
            Plan::SetOp {
                op,
                all,
                left,
                right,
            } => {
                let name = match op {
                    SetOpKind::Union => "union",
                    SetOpKind::Intersect => "intersect",
                    SetOpKind::Except => "except",
                };
                let name = if *all {
                    format!("{name} all")
                } else {
                    name.to_string()
                };
                (name, vec![left, right])
            }
            Plan::With { ctes, body } => {
                for (id, p) in ctes {
                    let _ = id;
                    let mut sub = Vec::new();
                    p.explain_into(&mut sub, "", true, true);
                    details.push(format!(
                        "buffer: {}",
                        sub.first().cloned().unwrap_or_default()
                    ));
                }
                ("with".into(), vec![body])
            }
        };
        out.push(format!("{head}{name}"));
        let bar = if children.is_empty() { "  " } else { "│ " };
        for d in &details {
            out.push(format!("{child_indent}{bar}{d}"));
        }
        if !children.is_empty() {
            out.push(format!("{child_indent}│"));
        }
        let n = children.len();
        for (i, c) in children.into_iter().enumerate() {
            c.explain_into(out, &child_indent, i + 1 == n, false);
        }
    }
}

fn render_values(v: &[Expr]) -> String {
    v.iter().map(render_expr).collect::<Vec<_>>().join("/")
}

/// A compact rendering of an expression for EXPLAIN.
pub fn render_expr(e: &Expr) -> String {
    crate::stack::grow(|| render_expr_here(e))
}

fn render_expr_here(e: &Expr) -> String {
    match e {
        Expr::Const(Datum::String(s)) => format!("'{s}'"),
        Expr::Const(d) => d.to_string(),
        Expr::Col(i) => format!("@{}", i + 1),
        Expr::Outer(d, i) => format!("outer{d}@{}", i + 1),
        Expr::Param(i) => format!("${}", i + 1),
        Expr::Not(a) => format!("NOT {}", render_expr(a)),
        Expr::And(a, b) => format!("({}) AND ({})", render_expr(a), render_expr(b)),
        Expr::Or(a, b) => format!("({}) OR ({})", render_expr(a), render_expr(b)),
        Expr::Cmp(op, a, b) => format!("{} {} {}", render_expr(a), op.symbol(), render_expr(b)),
        Expr::Bin(op, a, b) => format!("{} {} {}", render_expr(a), op.symbol(), render_expr(b)),
        Expr::Neg(a) => format!("-{}", render_expr(a)),
        Expr::BitNot(a) => format!("~{}", render_expr(a)),
        Expr::IsNull(a, n) => format!("{} IS {}NULL", render_expr(a), if *n { "NOT " } else { "" }),
        Expr::IsDistinct(a, b, n) => format!(
            "{} IS {}DISTINCT FROM {}",
            render_expr(a),
            if *n { "NOT " } else { "" },
            render_expr(b)
        ),
        Expr::IsBool(a, t, n) => format!(
            "{} IS {}{}",
            render_expr(a),
            if *n { "NOT " } else { "" },
            if *t { "true" } else { "false" }
        ),
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => format!(
            "{} {}{} {}",
            render_expr(expr),
            if *negated { "NOT " } else { "" },
            if *case_insensitive { "ILIKE" } else { "LIKE" },
            render_expr(pattern)
        ),
        Expr::Regex(a, p, ci, n) => {
            let op = format!(
                "{}~{}",
                if *n { "!" } else { "" },
                if *ci { "*" } else { "" }
            );
            format!("{} {op} {}", render_expr(a), render_expr(p))
        }
        Expr::Subscript(a, i) => format!("{}[{}]", render_expr(a), render_expr(i)),
        Expr::Default => "DEFAULT".into(),
        Expr::InList(a, l, n) => format!(
            "{} {}IN ({})",
            render_expr(a),
            if *n { "NOT " } else { "" },
            l.iter().map(render_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Case { .. } => "CASE ... END".into(),
        Expr::Cast(a, t) => format!("{}::{}", render_expr(a), t.sql_name()),
        Expr::Func(f, args) => format!(
            "{}({})",
            f.name,
            args.iter().map(render_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Subquery(_) => "(subquery)".into(),
        Expr::Array(a) => format!(
            "ARRAY[{}]",
            a.iter().map(render_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::Tuple(a) => format!(
            "({})",
            a.iter().map(render_expr).collect::<Vec<_>>().join(", ")
        ),
        Expr::ConstList(l) => format!("({} values)", l.len()),
        Expr::AnyArray(a, op, b, all) => format!(
            "{} {} {}({})",
            render_expr(a),
            op.symbol(),
            if *all { "ALL" } else { "ANY" },
            render_expr(b)
        ),
    }
}

/// Splits a predicate into its AND-ed conjuncts.
pub fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    crate::stack::grow(|| conjuncts_here(e, out))
}

fn conjuncts_here(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::And(a, b) => {
            conjuncts(*a, out);
            conjuncts(*b, out);
        }
        other => out.push(other),
    }
}

/// ANDs conjuncts back together.
pub fn and_all(mut es: Vec<Expr>) -> Option<Expr> {
    let first = es.pop()?;
    Some(
        es.into_iter()
            .rev()
            .fold(first, |acc, e| Expr::And(Box::new(e), Box::new(acc))),
    )
}

/// True when `e` reads no column of the current row and no subquery (constant per execution).
pub fn is_row_constant(e: &Expr) -> bool {
    let mut ok = true;
    e.walk(&mut |x| {
        if matches!(x, Expr::Col(_) | Expr::Subquery(_)) {
            ok = false;
        }
        if let Expr::Func(f, _) = x
            && f.is_volatile()
        {
            ok = false;
        }
    });
    ok
}

/// Chooses the access path of a scan of `table` from the conjuncts of its filter
/// (expressions over the table's row).
pub fn choose_access(table: &TableDesc, preds: &[Expr]) -> Access {
    let eq_values = |pos: usize| -> Option<Vec<Expr>> {
        for p in preds {
            match p {
                Expr::Cmp(CmpOp::Eq, a, b) => {
                    if matches!(a.as_ref(), Expr::Col(c) if *c == pos) && is_row_constant(b) {
                        return Some(vec![(**b).clone()]);
                    }
                    if matches!(b.as_ref(), Expr::Col(c) if *c == pos) && is_row_constant(a) {
                        return Some(vec![(**a).clone()]);
                    }
                }
                Expr::InList(a, list, false)
                    if matches!(a.as_ref(), Expr::Col(c) if *c == pos)
                        && list.iter().all(is_row_constant)
                        && !list.is_empty()
                        && list.len() <= 64 =>
                {
                    return Some(list.clone());
                }
                _ => {}
            }
        }
        None
    };
    let pk = table.pk_positions();
    let mut prefix_vals: Vec<Vec<Expr>> = Vec::new();
    for pos in &pk {
        match eq_values(*pos) {
            Some(v) => prefix_vals.push(v),
            None => break,
        }
    }
    if prefix_vals.len() == pk.len() && !pk.is_empty() {
        let keys = cartesian(&prefix_vals);
        if keys.len() <= 256 {
            return Access::PkPoints(keys);
        }
    }
    if !prefix_vals.is_empty() && prefix_vals.iter().all(|v| v.len() == 1) {
        let prefix: Vec<Expr> = prefix_vals.iter().map(|v| v[0].clone()).collect();
        let (lower, upper) = range_bounds(table, &pk, prefix.len(), preds);
        return Access::PkSpan {
            prefix,
            lower,
            upper,
        };
    }
    // A range on the first primary key column.
    if prefix_vals.is_empty() {
        let (lower, upper) = range_bounds(table, &pk, 0, preds);
        if lower.is_some() || upper.is_some() {
            return Access::PkSpan {
                prefix: Vec::new(),
                lower,
                upper,
            };
        }
    }
    // The secondary index with the longest fixed prefix.
    let mut best: Option<(usize, bool, IndexId, Vec<Vec<Expr>>)> = None;
    for idx in &table.indexes {
        let mut vals = Vec::new();
        for id in &idx.columns {
            let Some(pos) = table.column_pos(*id) else {
                break;
            };
            match eq_values(pos) {
                Some(v) => vals.push(v),
                None => break,
            }
        }
        if vals.is_empty() {
            continue;
        }
        let full_unique = idx.unique && vals.len() == idx.columns.len();
        let better = match &best {
            None => true,
            Some((n, u, _, _)) => (full_unique && !u) || (full_unique == *u && vals.len() > *n),
        };
        if better {
            best = Some((vals.len(), full_unique, idx.id, vals));
        }
    }
    if let Some((_, _, index, vals)) = best {
        let prefixes = cartesian(&vals);
        if prefixes.len() <= 256 {
            return Access::Index { index, prefixes };
        }
    }
    Access::Full
}

/// A bound on a key column: the value and whether it is inclusive.
type Bound = Option<(Expr, bool)>;

fn range_bounds(table: &TableDesc, pk: &[usize], at: usize, preds: &[Expr]) -> (Bound, Bound) {
    let Some(&pos) = pk.get(at) else {
        return (None, None);
    };
    if table
        .primary_index
        .descending
        .get(at)
        .copied()
        .unwrap_or(false)
    {
        return (None, None);
    }
    let (mut lower, mut upper) = (None, None);
    for p in preds {
        let Expr::Cmp(op, a, b) = p else { continue };
        let (op, val) = if matches!(a.as_ref(), Expr::Col(c) if *c == pos) && is_row_constant(b) {
            (*op, (**b).clone())
        } else if matches!(b.as_ref(), Expr::Col(c) if *c == pos) && is_row_constant(a) {
            (op.flip(), (**a).clone())
        } else {
            continue;
        };
        match op {
            CmpOp::Gt => lower = Some((val, false)),
            CmpOp::Ge => lower = Some((val, true)),
            CmpOp::Lt => upper = Some((val, false)),
            CmpOp::Le => upper = Some((val, true)),
            _ => {}
        }
    }
    (lower, upper)
}

fn cartesian(lists: &[Vec<Expr>]) -> Vec<Vec<Expr>> {
    let mut out: Vec<Vec<Expr>> = vec![Vec::new()];
    for list in lists {
        let mut next = Vec::new();
        for prefix in &out {
            for v in list {
                let mut p = prefix.clone();
                p.push(v.clone());
                next.push(p);
                if next.len() > 1024 {
                    return next;
                }
            }
        }
        out = next;
    }
    out
}
