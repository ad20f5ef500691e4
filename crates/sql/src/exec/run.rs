//! The executor: runs a [`Plan`] bottom-up, materialising each operator's rows.
//!
//! Scans read KV through a [`Reader`]: a point lookup is one `get` per key, a span one `scan`,
//! an index lookup one index `scan` plus one `get` per matching row. Joins hash the right side
//! on their equality columns (nested loops otherwise). Aggregates group with an ordered map,
//! so groups come out in key order.
//!
//! Expressions with subqueries are bound first ([`Executor::bind`]): uncorrelated subqueries
//! run once per statement and are cached by id; correlated ones run once per outer row, with
//! that row pushed on the `outer` stack that [`Expr::Outer`] reads.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base::{Key, Span, errcode};
use futures::future::BoxFuture;
use parking_lot::Mutex;

use super::agg::Accumulator;
use super::expr::{self, CmpOp, EvalCtx, EvalEnv, Expr, RowKey, SubqueryKind};
use super::plan::{Access, JoinKind, Plan, ScanPlan, SetOpKind};
use crate::catalog::TableDesc;
use crate::encoding::{self, Row};
use crate::error::{Result, SqlError};
use crate::kvio::Reader;
use crate::types::{self, Datum};

/// Runs plans for one statement.
pub struct Executor<'a> {
    /// Where reads go.
    pub reader: Reader,
    /// Bound placeholders.
    pub params: &'a [Datum],
    /// Session facts.
    pub env: &'a EvalEnv,
    ctes: Mutex<HashMap<usize, Arc<Vec<Row>>>>,
    subqueries: Mutex<HashMap<usize, Arc<Vec<Row>>>>,
}

/// The most memory, in bytes (estimated by [`datum_bytes`]), one intermediate result of a
/// statement may take: the executor materializes each operator's output, and a join's grows
/// with the product of its inputs, so a client could otherwise exhaust the node's memory
/// with one cross join (the fuzz tests did: 23 GB).
pub const MAX_RESULT_BYTES: usize = 256 << 20;

/// The estimated size of one row: the vector, its values and what they own.
fn row_bytes(row: &[Datum]) -> usize {
    std::mem::size_of::<Row>() + row.iter().map(datum_bytes).sum::<usize>()
}

/// The estimated size of a value and what it owns (strings, bytes, array items, JSON).
pub fn datum_bytes(d: &Datum) -> usize {
    std::mem::size_of::<Datum>()
        + match d {
            Datum::String(s) => s.len(),
            Datum::Bytes(b) => b.len(),
            Datum::Array(items) => items.iter().map(datum_bytes).sum(),
            Datum::Json(j) => json_bytes(j),
            _ => 0,
        }
}

fn json_bytes(v: &serde_json::Value) -> usize {
    use serde_json::Value as V;
    std::mem::size_of::<V>()
        + match v {
            V::String(s) => s.len(),
            V::Array(a) => a.iter().map(json_bytes).sum(),
            V::Object(o) => o.iter().map(|(k, v)| k.len() + json_bytes(v)).sum(),
            _ => 0,
        }
}

/// Counts the size of a result as it is built, against [`MAX_RESULT_BYTES`].
#[derive(Default)]
struct ResultSize(usize);

impl ResultSize {
    fn add(&mut self, row: &[Datum]) -> Result<()> {
        self.0 = self.0.saturating_add(row_bytes(row));
        if self.0 > MAX_RESULT_BYTES {
            return Err(SqlError::new(
                errcode::OUT_OF_MEMORY,
                format!(
                    "memory budget exceeded: an intermediate result of the statement needs more \
                     than {MAX_RESULT_BYTES} bytes"
                ),
            ));
        }
        Ok(())
    }
}

impl<'a> Executor<'a> {
    /// An executor.
    pub fn new(reader: Reader, params: &'a [Datum], env: &'a EvalEnv) -> Executor<'a> {
        Executor {
            reader,
            params,
            env,
            ctes: Mutex::new(HashMap::new()),
            subqueries: Mutex::new(HashMap::new()),
        }
    }

    fn ctx<'b>(&'b self, outer: &'b [Row]) -> EvalCtx<'b> {
        EvalCtx {
            params: self.params,
            outer,
            env: self.env,
        }
    }

    /// Evaluates an expression (binding subqueries first if it has any).
    pub async fn eval(&self, e: &Expr, outer: &[Row], row: &[Datum]) -> Result<Datum> {
        if e.has_subquery() {
            let bound = self.bind(e.clone(), outer, row).await?;
            return expr::eval(&bound, &self.ctx(outer), row);
        }
        expr::eval(e, &self.ctx(outer), row)
    }

    /// Evaluates with no subqueries (callers bound them).
    pub fn eval_sync(&self, e: &Expr, outer: &[Row], row: &[Datum]) -> Result<Datum> {
        expr::eval(e, &self.ctx(outer), row)
    }

    /// Replaces the subqueries of `e` by their results for this row.
    pub fn bind<'b>(
        &'b self,
        e: Expr,
        outer: &'b [Row],
        row: &'b [Datum],
    ) -> BoxFuture<'b, Result<Expr>> {
        Box::pin(async move {
            let mut subs = Vec::new();
            e.walk(&mut |x| {
                if let Expr::Subquery(s) = x {
                    subs.push((**s).clone());
                }
            });
            let mut results: HashMap<usize, Arc<Vec<Row>>> = HashMap::new();
            for s in &subs {
                if !s.correlated
                    && let Some(r) = self.subqueries.lock().get(&s.id)
                {
                    results.insert(s.id, r.clone());
                    continue;
                }
                let mut stack = outer.to_vec();
                stack.push(row.to_vec());
                let rows = if s.correlated {
                    self.run(&s.plan, &stack).await?
                } else {
                    self.run(&s.plan, outer).await?
                };
                let rows = Arc::new(rows);
                if !s.correlated {
                    self.subqueries.lock().insert(s.id, rows.clone());
                }
                results.insert(s.id, rows);
            }
            e.map(&mut |x| {
                let Expr::Subquery(s) = x else {
                    return Ok(x);
                };
                let rows = results
                    .get(&s.id)
                    .cloned()
                    .ok_or_else(|| SqlError::internal("unbound subquery"))?;
                Ok(match s.kind {
                    SubqueryKind::Scalar => {
                        if rows.len() > 1 {
                            return Err(SqlError::new(
                                errcode::CARDINALITY_VIOLATION,
                                "more than one row returned by a subquery used as an expression",
                            ));
                        }
                        Expr::Const(
                            rows.first()
                                .and_then(|r| r.first().cloned())
                                .unwrap_or(Datum::Null),
                        )
                    }
                    SubqueryKind::Exists => Expr::Const(Datum::Bool(rows.is_empty() == s.negated)),
                    SubqueryKind::Array => Expr::Const(Datum::Array(
                        rows.iter()
                            .map(|r| r.first().cloned().unwrap_or(Datum::Null))
                            .collect(),
                    )),
                    SubqueryKind::Compare { left, op, all } => {
                        let items: Vec<Datum> = rows
                            .iter()
                            .map(|r| {
                                if r.len() == 1 {
                                    r[0].clone()
                                } else {
                                    Datum::Array(r.clone())
                                }
                            })
                            .collect();
                        let any = Expr::AnyArray(
                            left,
                            op,
                            Box::new(Expr::ConstList(Arc::new(items))),
                            all,
                        );
                        if s.negated {
                            Expr::Not(Box::new(any))
                        } else {
                            any
                        }
                    }
                })
            })
        })
    }

    /// Prepares an expression used for many rows: binds uncorrelated subqueries now.
    async fn prepare(&self, e: &Expr, outer: &[Row]) -> Result<(Expr, bool)> {
        if !e.has_subquery() {
            return Ok((e.clone(), false));
        }
        let mut correlated = false;
        e.walk(&mut |x| {
            if let Expr::Subquery(s) = x {
                correlated |= s.correlated;
            }
        });
        if correlated {
            return Ok((e.clone(), true));
        }
        Ok((self.bind(e.clone(), outer, &[]).await?, false))
    }

    async fn eval_prepared(&self, e: &(Expr, bool), outer: &[Row], row: &[Datum]) -> Result<Datum> {
        if e.1 {
            let bound = self.bind(e.0.clone(), outer, row).await?;
            return expr::eval(&bound, &self.ctx(outer), row);
        }
        expr::eval(&e.0, &self.ctx(outer), row)
    }

    /// Runs a plan.
    pub fn run<'b>(&'b self, plan: &'b Plan, outer: &'b [Row]) -> BoxFuture<'b, Result<Vec<Row>>> {
        // Plans nest (set operations, joins, subqueries), and so do the polls of their runs.
        crate::stack::guarded(async move {
            match plan {
                Plan::Values { rows } => {
                    let mut out = Vec::with_capacity(rows.len());
                    let mut size = ResultSize::default();
                    for r in rows {
                        let mut row = Vec::with_capacity(r.len());
                        for e in r {
                            if matches!(e, Expr::Default) {
                                return Err(super::expr::misplaced_default());
                            }
                            row.push(self.eval(e, outer, &[]).await?);
                        }
                        size.add(&row)?;
                        out.push(row);
                    }
                    Ok(out)
                }
                Plan::Scan(s) => self.scan(s, outer).await,
                Plan::Virtual { rows, .. } => Ok(rows.as_ref().clone()),
                Plan::TableFunc {
                    name,
                    args,
                    ordinality,
                } => {
                    let mut vals = Vec::with_capacity(args.len());
                    for a in args {
                        vals.push(self.eval(a, outer, &[]).await?);
                    }
                    let mut rows = table_function(name, &vals)?;
                    if *ordinality {
                        for (i, r) in rows.iter_mut().enumerate() {
                            r.push(Datum::Int(i as i64 + 1));
                        }
                    }
                    Ok(rows)
                }
                Plan::CteScan { id, .. } => self
                    .ctes
                    .lock()
                    .get(id)
                    .map(|r| r.as_ref().clone())
                    .ok_or_else(|| SqlError::internal("CTE not evaluated")),
                Plan::With { ctes, body } => {
                    for (id, p) in ctes {
                        let rows = self.run(p, outer).await?;
                        self.ctes.lock().insert(*id, Arc::new(rows));
                    }
                    self.run(body, outer).await
                }
                Plan::Filter { input, pred } => {
                    let rows = self.run(input, outer).await?;
                    let pred = self.prepare(pred, outer).await?;
                    let mut out = Vec::new();
                    for r in rows {
                        if self.eval_prepared(&pred, outer, &r).await? == Datum::Bool(true) {
                            out.push(r);
                        }
                    }
                    Ok(out)
                }
                Plan::Project { input, exprs } => {
                    let rows = self.run(input, outer).await?;
                    let mut prepared = Vec::with_capacity(exprs.len());
                    for e in exprs {
                        prepared.push(self.prepare(e, outer).await?);
                    }
                    let mut out = Vec::with_capacity(rows.len());
                    let mut size = ResultSize::default();
                    for r in rows {
                        let mut row = Vec::with_capacity(prepared.len());
                        for e in &prepared {
                            row.push(self.eval_prepared(e, outer, &r).await?);
                        }
                        size.add(&row)?;
                        out.push(row);
                    }
                    Ok(out)
                }
                Plan::Join {
                    left,
                    right,
                    kind,
                    equi,
                    on,
                    left_width,
                    right_width,
                } => {
                    let l = self.run(left, outer).await?;
                    let r = self.run(right, outer).await?;
                    self.join(
                        l,
                        r,
                        *kind,
                        equi,
                        on.as_ref(),
                        *left_width,
                        *right_width,
                        outer,
                    )
                    .await
                }
                Plan::Aggregate { input, group, aggs } => {
                    let rows = self.run(input, outer).await?;
                    let mut groups: BTreeMap<RowKey, Vec<Accumulator>> = BTreeMap::new();
                    for r in &rows {
                        let mut key = Vec::with_capacity(group.len());
                        for g in group {
                            key.push(self.eval(g, outer, r).await?);
                        }
                        let accs = groups.entry(RowKey(key)).or_insert_with(|| {
                            aggs.iter().map(|_| Accumulator::default()).collect()
                        });
                        for (call, acc) in aggs.iter().zip(accs.iter_mut()) {
                            if let Some(f) = &call.filter
                                && self.eval(f, outer, r).await? != Datum::Bool(true)
                            {
                                continue;
                            }
                            let mut args = Vec::with_capacity(call.args.len());
                            for a in &call.args {
                                args.push(self.eval(a, outer, r).await?);
                            }
                            if call.func == super::agg::AggFunc::ArrayAgg
                                && args.first().is_some_and(Datum::is_null)
                            {
                                acc.add_array_null();
                                continue;
                            }
                            acc.add(call, args)?;
                        }
                    }
                    if groups.is_empty() && group.is_empty() {
                        groups.insert(
                            RowKey(Vec::new()),
                            aggs.iter().map(|_| Accumulator::default()).collect(),
                        );
                    }
                    Ok(groups
                        .into_iter()
                        .map(|(k, accs)| {
                            let mut row = k.0;
                            for (call, acc) in aggs.iter().zip(accs) {
                                row.push(acc.finish(call));
                            }
                            row
                        })
                        .collect())
                }
                Plan::Sort { input, keys } => {
                    let mut rows = self.run(input, outer).await?;
                    rows.sort_by(|a, b| {
                        for k in keys {
                            let (x, y) = (&a[k.col], &b[k.col]);
                            let o = match (x.is_null(), y.is_null()) {
                                (true, true) => std::cmp::Ordering::Equal,
                                (true, false) => {
                                    if k.nulls_first {
                                        std::cmp::Ordering::Less
                                    } else {
                                        std::cmp::Ordering::Greater
                                    }
                                }
                                (false, true) => {
                                    if k.nulls_first {
                                        std::cmp::Ordering::Greater
                                    } else {
                                        std::cmp::Ordering::Less
                                    }
                                }
                                _ => {
                                    let o = x.total_cmp(y);
                                    if k.desc { o.reverse() } else { o }
                                }
                            };
                            if o != std::cmp::Ordering::Equal {
                                return o;
                            }
                        }
                        std::cmp::Ordering::Equal
                    });
                    Ok(rows)
                }
                Plan::Limit {
                    input,
                    limit,
                    offset,
                } => {
                    let rows = self.run(input, outer).await?;
                    // Through `eval`, which binds subqueries (`LIMIT (SELECT ...)`).
                    let offset = match offset {
                        Some(e) => Some(self.eval(e, outer, &[]).await?),
                        None => None,
                    };
                    let limit = match limit {
                        Some(e) => Some(self.eval(e, outer, &[]).await?),
                        None => None,
                    };
                    let count = |v: Option<Datum>, what: &str| -> Result<Option<usize>> {
                        let Some(v) = v else { return Ok(None) };
                        match v {
                            Datum::Null => Ok(None),
                            Datum::Int(n) if n >= 0 => {
                                Ok(Some(usize::try_from(n).unwrap_or(usize::MAX)))
                            }
                            Datum::Int(_) => Err(SqlError::new(
                                errcode::INVALID_PARAMETER_VALUE,
                                format!("negative value for {what}"),
                            )),
                            other => Err(SqlError::datatype_mismatch(format!(
                                "argument of {} must be type int, not type {}",
                                what.to_uppercase(),
                                other.natural_type().error_name()
                            ))),
                        }
                    };
                    let off = count(offset, "offset")?.unwrap_or(0);
                    let lim = count(limit, "limit")?;
                    let it = rows.into_iter().skip(off);
                    Ok(match lim {
                        Some(n) => it.take(n).collect(),
                        None => it.collect(),
                    })
                }
                Plan::Distinct { input, width } => {
                    let rows = self.run(input, outer).await?;
                    let mut seen = std::collections::BTreeSet::new();
                    let mut out = Vec::new();
                    for r in rows {
                        let w = width.unwrap_or(r.len()).min(r.len());
                        if seen.insert(RowKey(r[..w].to_vec())) {
                            out.push(r);
                        }
                    }
                    Ok(out)
                }
                Plan::SetOp {
                    op,
                    all,
                    left,
                    right,
                } => {
                    let l = self.run(left, outer).await?;
                    let r = self.run(right, outer).await?;
                    Ok(set_op(*op, *all, l, r))
                }
            }
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn join(
        &self,
        l: Vec<Row>,
        r: Vec<Row>,
        kind: JoinKind,
        equi: &[(usize, usize)],
        on: Option<&Expr>,
        lw: usize,
        rw: usize,
        outer: &[Row],
    ) -> Result<Vec<Row>> {
        let on = match on {
            Some(e) => Some(self.prepare(e, outer).await?),
            None => None,
        };
        let mut out = Vec::new();
        let mut size = ResultSize::default();
        let mut right_matched = vec![false; r.len()];
        let index: Option<HashMap<Vec<u8>, Vec<usize>>> = if equi.is_empty() {
            None
        } else {
            let mut m: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
            for (i, row) in r.iter().enumerate() {
                if let Some(k) = join_key(row, equi.iter().map(|(_, b)| *b)) {
                    m.entry(k).or_default().push(i);
                }
            }
            Some(m)
        };
        let all: Vec<usize> = (0..r.len()).collect();
        for lrow in &l {
            let candidates: &[usize] = match &index {
                Some(m) => match join_key(lrow, equi.iter().map(|(a, _)| *a)) {
                    Some(k) => m.get(&k).map_or(&[], |v| v.as_slice()),
                    None => &[],
                },
                None => &all,
            };
            let mut matched = false;
            for &i in candidates {
                let mut row = lrow.clone();
                row.extend(r[i].iter().cloned());
                let ok = match &on {
                    Some(p) => self.eval_prepared(p, outer, &row).await? == Datum::Bool(true),
                    None => true,
                };
                if ok {
                    matched = true;
                    right_matched[i] = true;
                    size.add(&row)?;
                    out.push(row);
                }
            }
            if !matched && matches!(kind, JoinKind::Left | JoinKind::Full) {
                let mut row = lrow.clone();
                row.extend(std::iter::repeat_n(Datum::Null, rw));
                out.push(row);
            }
        }
        if matches!(kind, JoinKind::Right | JoinKind::Full) {
            for (i, m) in right_matched.iter().enumerate() {
                if !m {
                    let mut row = vec![Datum::Null; lw];
                    row.extend(r[i].iter().cloned());
                    out.push(row);
                }
            }
        }
        Ok(out)
    }

    async fn scan(&self, s: &ScanPlan, outer: &[Row]) -> Result<Vec<Row>> {
        let t = &s.table;
        let prefix = encoding::index_prefix(t, &t.primary_index);
        match &s.access {
            Access::Full => {
                let kvs = self
                    .reader
                    .scan(&Span::prefix(&prefix.0), s.limit.unwrap_or(0))
                    .await?;
                kvs.iter()
                    .map(|kv| encoding::decode_row(t, &kv.key, &kv.value))
                    .collect()
            }
            Access::PkPoints(keys) => {
                let mut out = Vec::new();
                for k in keys {
                    let Some(values) = self.key_values(t, &t.primary_index.columns, k, outer)?
                    else {
                        continue;
                    };
                    let key = encoding::primary_key_from_values(t, &values)?;
                    if let Some(v) = self.reader.get(&key).await? {
                        out.push(encoding::decode_row(t, &key, &v)?);
                    }
                }
                Ok(out)
            }
            Access::PkSpan {
                prefix: vals,
                lower,
                upper,
            } => {
                let ids = &t.primary_index.columns;
                let Some(values) = self.key_values(t, &ids[..vals.len()], vals, outer)? else {
                    return Ok(Vec::new());
                };
                let mut start = prefix.0.clone();
                for (i, v) in values.iter().enumerate() {
                    let ty = &t.column(ids[i]).ok_or_else(|| SqlError::internal("pk"))?.ty;
                    let desc = t.primary_index.descending.get(i).copied().unwrap_or(false);
                    encoding::encode_key_datum(&mut start, v, ty, desc)?;
                }
                let base = start.clone();
                let mut span = Span::prefix(&base);
                let next_id = ids.get(vals.len());
                if let Some(next) = next_id {
                    let ty = &t.column(*next).ok_or_else(|| SqlError::internal("pk"))?.ty;
                    if let Some((e, inclusive)) = lower {
                        if let Some(v) = self.bound_value(e, ty, outer)? {
                            let mut k = base.clone();
                            encoding::encode_key_datum(&mut k, &v, ty, false)?;
                            span.start = if *inclusive {
                                Key(k)
                            } else {
                                Key(base::encoding::prefix_end(&k).unwrap_or(k))
                            };
                        }
                    } else if upper.is_some() {
                        // Skip NULLs (they sort first): a range never matches NULL.
                        let mut k = base.clone();
                        k.push(base::encoding::NULL_ASC);
                        span.start = Key(base::encoding::prefix_end(&k).unwrap_or(k));
                    }
                    if let Some((e, inclusive)) = upper
                        && let Some(v) = self.bound_value(e, ty, outer)?
                    {
                        let mut k = base.clone();
                        encoding::encode_key_datum(&mut k, &v, ty, false)?;
                        span.end = if *inclusive {
                            Key(base::encoding::prefix_end(&k).unwrap_or(k))
                        } else {
                            Key(k)
                        };
                    }
                }
                if span.is_empty() {
                    return Ok(Vec::new());
                }
                let kvs = self.reader.scan(&span, s.limit.unwrap_or(0)).await?;
                kvs.iter()
                    .map(|kv| encoding::decode_row(t, &kv.key, &kv.value))
                    .collect()
            }
            Access::Index { index, prefixes } => {
                let idx = t
                    .index(*index)
                    .ok_or_else(|| SqlError::internal("index vanished"))?;
                let mut out = Vec::new();
                let mut seen = std::collections::BTreeSet::new();
                for p in prefixes {
                    let Some(values) = self.key_values(t, &idx.columns[..p.len()], p, outer)?
                    else {
                        continue;
                    };
                    let mut k = encoding::index_prefix(t, idx).0;
                    for (i, v) in values.iter().enumerate() {
                        let ty = &t
                            .column(idx.columns[i])
                            .ok_or_else(|| SqlError::internal("col"))?
                            .ty;
                        let desc = idx.descending.get(i).copied().unwrap_or(false);
                        encoding::encode_key_datum(&mut k, v, ty, desc)?;
                    }
                    for kv in self.reader.scan(&Span::prefix(&k), 0).await? {
                        let pk = encoding::decode_secondary_pk(t, idx, &kv.key, &kv.value)?;
                        let key = encoding::primary_key_from_values(t, &pk)?;
                        if !seen.insert(key.clone()) {
                            continue;
                        }
                        if let Some(v) = self.reader.get(&key).await? {
                            out.push(encoding::decode_row(t, &key, &v)?);
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    /// A range bound converted to the column type; `None` when it cannot narrow the span
    /// exactly (the filter above still applies).
    fn bound_value(&self, e: &Expr, ty: &types::Type, outer: &[Row]) -> Result<Option<Datum>> {
        let v = self.eval_sync(e, outer, &[])?;
        if v.is_null() {
            return Ok(None);
        }
        match types::cast(v.clone(), ty) {
            Ok(c) if c.compare(&v) == Some(std::cmp::Ordering::Equal) => Ok(Some(c)),
            _ => Ok(None),
        }
    }

    /// Evaluates key values and converts them to the key columns' types; `None` when a value
    /// cannot equal any stored value (NULL, or not exactly representable).
    fn key_values(
        &self,
        t: &TableDesc,
        ids: &[u32],
        exprs: &[Expr],
        outer: &[Row],
    ) -> Result<Option<Vec<Datum>>> {
        let mut out = Vec::with_capacity(exprs.len());
        for (id, e) in ids.iter().zip(exprs) {
            let ty = &t
                .column(*id)
                .ok_or_else(|| SqlError::internal("key column"))?
                .ty;
            let v = self.eval_sync(e, outer, &[])?;
            if v.is_null() {
                return Ok(None);
            }
            match types::cast(v.clone(), ty) {
                Ok(c) if c.compare(&v) == Some(std::cmp::Ordering::Equal) => out.push(c),
                Ok(c) if matches!(v, Datum::String(_)) => out.push(c),
                _ => return Ok(None),
            }
        }
        Ok(Some(out))
    }
}

/// Maximum rows a set-returning function may produce.
const MAX_SERIES_ROWS: usize = 1_000_000;

fn table_function(name: &str, vals: &[Datum]) -> Result<Vec<Row>> {
    match name {
        "generate_series" => {
            let ints: Option<Vec<i64>> = vals.iter().map(Datum::as_int).collect();
            let Some(ints) = ints.filter(|v| v.len() == 2 || v.len() == 3) else {
                if vals.iter().any(Datum::is_null) {
                    return Ok(Vec::new());
                }
                return Err(SqlError::unimplemented("generate_series over non-integers"));
            };
            let step = ints.get(2).copied().unwrap_or(1);
            if step == 0 {
                return Err(SqlError::invalid_parameter("step cannot be 0"));
            }
            let mut rows = Vec::new();
            let mut i = ints[0];
            while (step > 0 && i <= ints[1]) || (step < 0 && i >= ints[1]) {
                if rows.len() >= MAX_SERIES_ROWS {
                    return Err(SqlError::invalid_parameter(
                        "generate_series: too many rows",
                    ));
                }
                rows.push(vec![Datum::Int(i)]);
                i = match i.checked_add(step) {
                    Some(n) => n,
                    None => break,
                };
            }
            Ok(rows)
        }
        "unnest" => match vals.first() {
            Some(Datum::Array(a)) => Ok(a.iter().map(|d| vec![d.clone()]).collect()),
            _ => Ok(Vec::new()),
        },
        // Sextant has no partitioned tables: a relation's only ancestor is itself.
        "pg_partition_ancestors" => Ok(vals
            .first()
            .map(|d| vec![vec![d.clone()]])
            .unwrap_or_default()),
        other => Err(SqlError::new(
            errcode::UNDEFINED_FUNCTION,
            format!("unknown function: {other}()"),
        )),
    }
}

fn join_key(row: &[Datum], cols: impl Iterator<Item = usize>) -> Option<Vec<u8>> {
    let mut k = Vec::new();
    for c in cols {
        let d = &row[c];
        if d.is_null() {
            return None;
        }
        // Normalise numerics so 1 and 1.0 meet.
        let norm = match d {
            Datum::Int(i) => Datum::Decimal(rust_decimal::Decimal::from(*i)),
            Datum::Float(f) => rust_decimal::Decimal::from_f64_retain(*f)
                .map_or(Datum::Float(*f), |x| Datum::Decimal(x.normalize())),
            Datum::Decimal(x) => Datum::Decimal(x.normalize()),
            other => other.clone(),
        };
        let ty = norm.natural_type();
        match &norm {
            Datum::Json(j) => k.extend_from_slice(j.to_string().as_bytes()),
            Datum::Array(a) => k.extend_from_slice(format!("{a:?}").as_bytes()),
            _ => encoding::encode_key_datum(&mut k, &norm, &ty, false).ok()?,
        }
        k.push(0xfe);
    }
    Some(k)
}

fn set_op(op: SetOpKind, all: bool, l: Vec<Row>, r: Vec<Row>) -> Vec<Row> {
    match op {
        SetOpKind::Union => {
            let mut rows = l;
            rows.extend(r);
            if all {
                return rows;
            }
            let mut seen = std::collections::BTreeSet::new();
            rows.into_iter()
                .filter(|row| seen.insert(RowKey(row.clone())))
                .collect()
        }
        SetOpKind::Intersect | SetOpKind::Except => {
            let mut counts: BTreeMap<RowKey, usize> = BTreeMap::new();
            for row in r {
                *counts.entry(RowKey(row)).or_default() += 1;
            }
            let mut out = Vec::new();
            let mut emitted = std::collections::BTreeSet::new();
            for row in l {
                let key = RowKey(row.clone());
                let c = counts.get_mut(&key);
                let present = c.as_ref().is_some_and(|c| **c > 0);
                let keep = match op {
                    SetOpKind::Intersect => present,
                    _ => !present,
                };
                if all {
                    if let Some(c) = c
                        && *c > 0
                    {
                        *c -= 1;
                    }
                    if keep {
                        out.push(row);
                    }
                } else if keep && emitted.insert(key) {
                    out.push(row);
                }
            }
            out
        }
    }
}

/// Evaluates a comparison for callers outside expressions (ON CONFLICT, FK checks).
pub fn datums_equal(a: &Datum, b: &Datum) -> bool {
    expr::compare(CmpOp::Eq, a, b).ok() == Some(Datum::Bool(true))
}
