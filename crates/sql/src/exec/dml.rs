//! INSERT, UPSERT, UPDATE, DELETE.
//!
//! A write builds full rows (defaults, computed columns, assignment casts), checks them
//! (NOT NULL, CHECK, enum labels, FOREIGN KEY), then writes every index entry of the row:
//! the primary key with a conditional put that must find nothing (INSERT), so a duplicate
//! key is `23505 duplicate key value violates unique constraint "t_pkey"`; unique secondary
//! entries the same way; other entries with plain puts. UPDATE deletes the entries whose key
//! changed and writes the new ones. Referenced rows are checked (or cascaded) through the
//! referencing tables' `inbound_fks`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base::errcode;
use futures::future::BoxFuture;
use kv::{KvError, Txn};
use sqlparser::ast;

use super::StmtCtx;
use super::compile::{
    PlanEnv, Planner, Resolved, ident, is_default_marker, object_parts, parse_expr, push_filter,
};
use super::ddl::table_scope;
use super::expr::{CmpOp, Expr};
use super::plan::{Access, Plan, ScanPlan, ScopeCol};
use super::run::Executor;
use crate::catalog::*;
use crate::encoding::{self, Row};
use crate::error::{Result, SqlError};
use crate::session::{Column, StatementResult};
use crate::types::{self, Datum, Family, Type};

fn key_detail(t: &TableDesc, ids: &[ColumnId], row: &[Datum]) -> String {
    let names: Vec<String> = ids
        .iter()
        .filter_map(|id| t.column(*id).map(|c| c.name.clone()))
        .collect();
    let vals: Vec<String> = ids
        .iter()
        .filter_map(|id| t.column_pos(*id).map(|p| row[p].to_string()))
        .collect();
    format!("Key ({})=({})", names.join(", "), vals.join(", "))
}

/// The values of a foreign key's columns `ids` in `row` of `t` (NULL for a column `t` lacks).
fn key_values(t: &TableDesc, ids: &[ColumnId], row: &[Datum]) -> Vec<Datum> {
    ids.iter()
        .map(|id| t.column_pos(*id).map_or(Datum::Null, |p| row[p].clone()))
        .collect()
}

/// Whether rows `a` and `b` of `t` hold equal values in every column of `ids`.
fn same_key(t: &TableDesc, ids: &[ColumnId], a: &[Datum], b: &[Datum]) -> bool {
    ids.iter().all(|id| {
        t.column_pos(*id)
            .is_some_and(|p| a[p].compare(&b[p]) == Some(std::cmp::Ordering::Equal))
    })
}

fn duplicate(t: &TableDesc, idx: &IndexDesc, row: &[Datum]) -> SqlError {
    SqlError::new(
        errcode::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{}\"",
            idx.name
        ),
    )
    .with_detail(format!(
        "{} already exists.",
        key_detail(t, &idx.columns, row)
    ))
}

/// Writes one secondary index entry of a row (conditional when it must be unique).
pub async fn write_index_entry(
    txn: &Txn,
    t: &TableDesc,
    idx: &IndexDesc,
    row: &[Datum],
) -> Result<()> {
    let (key, value) = encoding::secondary_entry(t, idx, row)?;
    if encoding::enforces_uniqueness(t, idx, row) {
        return match txn.cput(&key, value, None).await {
            Err(KvError::ConditionFailed { .. }) => Err(duplicate(t, idx, row)),
            other => Ok(other?),
        };
    }
    txn.put(&key, value).await?;
    Ok(())
}

/// Writes a new row: its primary entry (which must not exist) and every index entry.
pub async fn insert_row(txn: &Txn, t: &TableDesc, row: &[Datum]) -> Result<()> {
    let key = encoding::primary_key(t, row)?;
    match txn.cput(&key, encoding::primary_value(t, row), None).await {
        Err(KvError::ConditionFailed { .. }) => return Err(duplicate(t, &t.primary_index, row)),
        other => other?,
    }
    for idx in &t.indexes {
        write_index_entry(txn, t, idx, row).await?;
    }
    Ok(())
}

/// Writes new rows like [`insert_row`], as one batch of KV writes per range (one Raft command
/// each) instead of one write per entry. A refused conditional put names its key, which
/// says which row and which unique index the statement violates.
pub async fn insert_rows(txn: &Txn, t: &TableDesc, rows: &[Row]) -> Result<()> {
    let mut writes = Vec::with_capacity(rows.len() * (1 + t.indexes.len()));
    // Conditional keys: the row and index (None: the primary index) each one is for.
    let mut unique: BTreeMap<base::Key, (usize, Option<usize>)> = BTreeMap::new();
    for (ri, row) in rows.iter().enumerate() {
        let key = encoding::primary_key(t, row)?;
        unique.insert(key.clone(), (ri, None));
        writes.push(kv::api::Request::ConditionalPut {
            key,
            value: encoding::primary_value(t, row),
            expected: None,
        });
        for (ii, idx) in t.indexes.iter().enumerate() {
            let (key, value) = encoding::secondary_entry(t, idx, row)?;
            if encoding::enforces_uniqueness(t, idx, row) {
                unique.insert(key.clone(), (ri, Some(ii)));
                writes.push(kv::api::Request::ConditionalPut {
                    key,
                    value,
                    expected: None,
                });
            } else {
                writes.push(kv::api::Request::Put { key, value });
            }
        }
    }
    match txn.write_batch(writes).await {
        Err(KvError::ConditionFailed { key, .. }) => Err(match unique.get(&key) {
            Some((ri, None)) => duplicate(t, &t.primary_index, &rows[*ri]),
            Some((ri, Some(ii))) => duplicate(t, &t.indexes[*ii], &rows[*ri]),
            None => SqlError::internal(format!("conditional write of {key} refused")),
        }),
        other => Ok(other?),
    }
}

/// Rows an INSERT buffers before writing them with [`insert_rows`].
const INSERT_BATCH_ROWS: usize = 256;

/// Deletes a row's primary and index entries.
pub async fn delete_row(txn: &Txn, t: &TableDesc, row: &[Datum]) -> Result<()> {
    txn.delete(&encoding::primary_key(t, row)?).await?;
    for idx in &t.indexes {
        let (key, _) = encoding::secondary_entry(t, idx, row)?;
        txn.delete(&key).await?;
    }
    Ok(())
}

/// Replaces `old` by `new` (same table), rewriting only the entries that changed.
pub async fn update_row(txn: &Txn, t: &TableDesc, old: &[Datum], new: &[Datum]) -> Result<()> {
    let (ok, nk) = (
        encoding::primary_key(t, old)?,
        encoding::primary_key(t, new)?,
    );
    if ok != nk {
        txn.delete(&ok).await?;
        match txn.cput(&nk, encoding::primary_value(t, new), None).await {
            Err(KvError::ConditionFailed { .. }) => {
                return Err(duplicate(t, &t.primary_index, new));
            }
            other => other?,
        }
    } else {
        txn.put(&nk, encoding::primary_value(t, new)).await?;
    }
    for idx in &t.indexes {
        let (okey, oval) = encoding::secondary_entry(t, idx, old)?;
        let (nkey, nval) = encoding::secondary_entry(t, idx, new)?;
        if okey != nkey {
            txn.delete(&okey).await?;
            write_index_entry(txn, t, idx, new).await?;
        } else if oval != nval {
            txn.put(&nkey, nval).await?;
        }
    }
    Ok(())
}

/// Compiled per-table write rules.
pub struct TableWriter {
    /// The table.
    pub table: Arc<TableDesc>,
    defaults: Vec<Option<Expr>>,
    computed: Vec<Option<Expr>>,
    checks: Vec<(CheckDesc, Expr)>,
    enums: Vec<Option<(String, Vec<String>)>>,
}

impl TableWriter {
    /// Compiles the table's defaults, computed columns and checks.
    pub fn new(t: Arc<TableDesc>, env: &PlanEnv) -> Result<TableWriter> {
        let mut p = Planner::new(env);
        let scope = table_scope(&t);
        let mut defaults = Vec::new();
        let mut computed = Vec::new();
        let mut enums = Vec::new();
        for c in &t.columns {
            defaults.push(match &c.default {
                Some(d) => {
                    let (e, et) = p.compile(&parse_expr(d)?, &[], &mut None)?;
                    Some(p.coerce(e, &et, &c.ty)?)
                }
                None => None,
            });
            computed.push(match &c.computed {
                Some(d) => Some(p.compile(&parse_expr(d)?, &scope, &mut None)?.0),
                None => None,
            });
            enums.push(match &c.ty {
                Type::Enum { name, .. } => env
                    .types
                    .values()
                    .find(|td| td.name == *name)
                    .map(|td| (name.clone(), td.labels().to_vec())),
                _ => None,
            });
        }
        let mut checks = Vec::new();
        for ch in &t.checks {
            checks.push((
                ch.clone(),
                p.compile(&parse_expr(&ch.expr)?, &scope, &mut None)?.0,
            ));
        }
        Ok(TableWriter {
            table: t,
            defaults,
            computed,
            checks,
            enums,
        })
    }

    /// Fills defaults for unset columns, computes computed columns and validates the row.
    pub async fn finish_row(
        &self,
        ex: &Executor<'_>,
        row: &mut [Datum],
        set: &[bool],
    ) -> Result<()> {
        for (i, d) in self.defaults.iter().enumerate() {
            if !set[i]
                && let Some(e) = d
            {
                row[i] = types::cast(ex.eval(e, &[], &[]).await?, &self.table.columns[i].ty)?;
            }
        }
        for (i, c) in self.computed.iter().enumerate() {
            if let Some(e) = c {
                let v = ex.eval(e, &[], row).await?;
                row[i] = types::cast(v, &self.table.columns[i].ty)?;
            }
        }
        self.validate(ex, row).await
    }

    /// Rewrites `old` as `new`: completes `new` (every column counts as set), checks the
    /// foreign keys out of it and those into `old` (which may cascade), then replaces the
    /// row's entries.
    async fn replace_row(
        &self,
        ctx: &StmtCtx<'_>,
        txn: &Txn,
        ex: &Executor<'_>,
        old: &[Datum],
        new: &mut Row,
    ) -> Result<()> {
        let t = &self.table;
        self.finish_row(ex, new, &vec![true; t.columns.len()])
            .await?;
        check_fks_out(ctx, t, new, Some(old)).await?;
        check_fks_in(ctx, t, old, Some(new)).await?;
        update_row(txn, t, old, new).await
    }

    /// Checks NOT NULL, enum labels and CHECK constraints.
    pub async fn validate(&self, ex: &Executor<'_>, row: &[Datum]) -> Result<()> {
        for (i, c) in self.table.columns.iter().enumerate() {
            if row[i].is_null() && !c.nullable {
                return Err(SqlError::new(
                    errcode::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" violates not-null constraint",
                        c.name
                    ),
                ));
            }
            if let (Some((name, labels)), Datum::String(s)) = (&self.enums[i], &row[i])
                && !labels.contains(s)
            {
                return Err(SqlError::new(
                    errcode::INVALID_PARAMETER_VALUE,
                    format!("invalid input value for enum {name}: \"{s}\""),
                ));
            }
        }
        for (ch, e) in &self.checks {
            if ex.eval(e, &[], row).await? == Datum::Bool(false) {
                return Err(SqlError::new(
                    errcode::CHECK_VIOLATION,
                    format!("failed to satisfy CHECK constraint ({})", ch.expr),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a value of type `vt` may be stored in a column of type `ct`.
pub fn assignable(vt: &Type, ct: &Type) -> bool {
    *vt == Type::Unknown
        || vt.family() == ct.family()
        || (vt.family() == Family::Int && matches!(ct.family(), Family::Float | Family::Decimal))
        || (vt.family() == Family::Float && ct.family() == Family::Decimal)
        || (vt.family() == Family::Decimal && ct.family() == Family::Float)
        || (vt.family() == Family::String && ct.family() == Family::Enum)
        || (matches!(
            vt.family(),
            Family::Timestamp | Family::TimestampTz | Family::Date
        ) && matches!(
            ct.family(),
            Family::Timestamp | Family::TimestampTz | Family::Date
        ))
}

fn mismatch(vt: &Type, col: &ColumnDesc) -> SqlError {
    SqlError::datatype_mismatch(format!(
        "value type {} doesn't match type {} of column \"{}\"",
        vt.error_name(),
        col.ty.error_name(),
        col.name
    ))
}

/// Converts a value for a column: constants convert freely, typed values must match.
pub fn assign(v: Datum, vt: &Type, col: &ColumnDesc, constant: bool) -> Result<Datum> {
    let ct = &col.ty;
    if !constant && !assignable(vt, ct) {
        return Err(mismatch(vt, col));
    }
    types::cast(v, ct).map_err(|e| {
        if e.code() == errcode::DATATYPE_MISMATCH {
            mismatch(vt, col)
        } else {
            e
        }
    })
}

async fn fk_parent_exists(
    ctx: &StmtCtx<'_>,
    fk: &ForeignKeyDesc,
    values: &[Datum],
) -> Result<bool> {
    let parent = ctx.table_by_id(fk.ref_table).await?;
    let preds: Vec<Expr> = fk
        .ref_columns
        .iter()
        .zip(values)
        .map(|(id, v)| {
            let pos = parent.column_pos(*id).unwrap_or(0);
            Expr::Cmp(
                CmpOp::Eq,
                Box::new(Expr::Col(pos)),
                Box::new(Expr::Const(v.clone())),
            )
        })
        .collect();
    Ok(!find_rows(ctx, &parent, preds, Some(1)).await?.is_empty())
}

/// Rows of a table matching ANDed predicates over its row (through the best access path).
pub async fn find_rows(
    ctx: &StmtCtx<'_>,
    t: &Arc<TableDesc>,
    mut preds: Vec<Expr>,
    limit: Option<usize>,
) -> Result<Vec<Row>> {
    if let Some(domain) = region_domain(ctx, t, &preds).await? {
        preds.push(domain);
    }
    let scan = Plan::Scan(Box::new(ScanPlan {
        table: t.clone(),
        access: Access::Full,
        limit: None,
    }));
    let plan = match super::plan::and_all(preds) {
        Some(p) => push_filter(scan, p),
        None => scan,
    };
    let plan = match limit {
        Some(n) => Plan::Limit {
            input: Box::new(plan),
            limit: Some(Expr::Const(Datum::Int(n as i64))),
            offset: None,
        },
        None => plan,
    };
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    ex.run(&plan, &[]).await
}

/// For a REGIONAL BY ROW table whose hidden region column (the first primary key column) the
/// predicates leave open: `crdb_region IN (every region of the database)`, which lets a lookup
/// by the rest of the primary key (a foreign key check, a conflict check) read one key per
/// region instead of scanning a secondary index or the table, as CockroachDB's optimizer does
/// with the column's CHECK constraint.
async fn region_domain(ctx: &StmtCtx<'_>, t: &TableDesc, preds: &[Expr]) -> Result<Option<Expr>> {
    if !t.is_regional_by_row() {
        return Ok(None);
    }
    let Some(col) = t.column_by_name(crate::multiregion::REGION_COLUMN) else {
        return Ok(None);
    };
    let Type::Enum { id, .. } = &col.ty else {
        return Ok(None);
    };
    let Some(pos) = t.column_pos(col.id) else {
        return Ok(None);
    };
    let mut constrained = false;
    for p in preds {
        p.walk(&mut |x| constrained |= matches!(x, Expr::Col(c) if *c == pos));
    }
    if constrained {
        return Ok(None);
    }
    let labels = match ctx.desc(*id).await?.as_deref() {
        Some(Descriptor::Type(ty)) => match &ty.kind {
            TypeKind::RegionEnum(l) | TypeKind::Enum(l) => l.clone(),
        },
        _ => return Ok(None),
    };
    if labels.is_empty() {
        return Ok(None);
    }
    Ok(Some(Expr::InList(
        Box::new(Expr::Col(pos)),
        labels
            .into_iter()
            .map(|l| Expr::Const(Datum::String(l)))
            .collect(),
        false,
    )))
}

/// Checks the row's outbound foreign keys.
async fn check_fks_out(
    ctx: &StmtCtx<'_>,
    t: &TableDesc,
    row: &[Datum],
    old: Option<&[Datum]>,
) -> Result<()> {
    for fk in &t.foreign_keys {
        let vals = key_values(t, &fk.columns, row);
        if vals.iter().any(Datum::is_null) {
            continue;
        }
        if old.is_some_and(|old| same_key(t, &fk.columns, row, old)) {
            continue;
        }
        if !fk_parent_exists(ctx, fk, &vals).await? {
            let parent = ctx.table_by_id(fk.ref_table).await?;
            let verb = if old.is_some() { "update" } else { "insert" };
            return Err(SqlError::new(
                errcode::FOREIGN_KEY_VIOLATION,
                format!(
                    "{verb} on table \"{}\" violates foreign key constraint \"{}\"",
                    t.name, fk.name
                ),
            )
            .with_detail(format!(
                "{} is not present in table \"{}\".",
                key_detail(t, &fk.columns, row),
                parent.name
            )));
        }
    }
    Ok(())
}

/// Handles rows referencing `row` of `t` that is being deleted (or whose key changes).
fn check_fks_in<'a>(
    ctx: &'a StmtCtx<'a>,
    t: &'a TableDesc,
    row: &'a [Datum],
    new: Option<&'a [Datum]>,
) -> BoxFuture<'a, Result<()>> {
    // Cascades nest as deeply as the chain of foreign keys.
    crate::stack::guarded(async move {
        for (child_id, fk_name) in &t.inbound_fks {
            let child = ctx.table_by_id(*child_id).await?;
            let Some(fk) = child
                .foreign_keys
                .iter()
                .find(|f| &f.name == fk_name)
                .cloned()
            else {
                continue;
            };
            let vals = key_values(t, &fk.ref_columns, row);
            if vals.iter().any(Datum::is_null) {
                continue;
            }
            if new.is_some_and(|new| same_key(t, &fk.ref_columns, row, new)) {
                continue;
            }
            let preds: Vec<Expr> = fk
                .columns
                .iter()
                .zip(&vals)
                .map(|(id, v)| {
                    Expr::Cmp(
                        CmpOp::Eq,
                        Box::new(Expr::Col(child.column_pos(*id).unwrap_or(0))),
                        Box::new(Expr::Const(v.clone())),
                    )
                })
                .collect();
            let refs = find_rows(ctx, &child, preds, None).await?;
            if refs.is_empty() {
                continue;
            }
            let action = if new.is_some() {
                fk.on_update
            } else {
                fk.on_delete
            };
            let txn = ctx.txn()?;
            match action {
                FkAction::Restrict => {
                    let verb = if new.is_some() { "update" } else { "delete" };
                    return Err(SqlError::new(
                        errcode::FOREIGN_KEY_VIOLATION,
                        format!(
                            "{verb} on table \"{}\" violates foreign key constraint \"{}\" on table \"{}\"",
                            t.name, fk.name, child.name
                        ),
                    )
                    .with_detail(format!(
                        "{} is still referenced from table \"{}\".",
                        key_detail(t, &fk.ref_columns, row),
                        child.name
                    )));
                }
                FkAction::Cascade if new.is_none() => {
                    for r in refs {
                        check_fks_in(ctx, &child, &r, None).await?;
                        delete_row(&txn, &child, &r).await?;
                    }
                }
                FkAction::Cascade | FkAction::SetNull | FkAction::SetDefault => {
                    for r in refs {
                        let mut nr = r.clone();
                        for (cid, rid) in fk.columns.iter().zip(&fk.ref_columns) {
                            let (Some(cp), Some(rp)) = (child.column_pos(*cid), t.column_pos(*rid))
                            else {
                                continue;
                            };
                            nr[cp] = match (action, new) {
                                (FkAction::Cascade, Some(n)) => n[rp].clone(),
                                _ => Datum::Null,
                            };
                        }
                        for (i, c) in child.columns.iter().enumerate() {
                            if nr[i].is_null() && !c.nullable {
                                return Err(SqlError::new(
                                    errcode::NOT_NULL_VIOLATION,
                                    format!(
                                        "null value in column \"{}\" violates not-null constraint",
                                        c.name
                                    ),
                                ));
                            }
                        }
                        update_row(&txn, &child, &r, &nr).await?;
                    }
                }
            }
        }
        Ok(())
    })
}

fn table_of(tf: &ast::TableFactor) -> Result<(ast::ObjectName, Option<String>)> {
    match tf {
        ast::TableFactor::Table { name, alias, .. } => {
            Ok((name.clone(), alias.as_ref().map(|a| ident(&a.name))))
        }
        other => Err(SqlError::unimplemented(format!("DML target {other}"))),
    }
}

/// The environment of a statement that writes the table `names[0]`. Its defaults, computed
/// columns and checks belong to the table's own database, whatever the session's database
/// is: the types they name (a REGIONAL BY ROW table's `crdb_internal_region`) and the regions
/// `default_to_database_primary_region` and `gateway_region` defaults are judged against.
async fn writer_env(ctx: &mut StmtCtx<'_>, names: &[ast::ObjectName]) -> Result<PlanEnv> {
    let mut env = ctx.plan_env(names).await?;
    if let Some(target) = names.first()
        && let Ok(t) = resolved_table(&env, target)
    {
        env.types = ctx.types_in(t.parent_id).await?;
        if let Some(Descriptor::Database(db)) = ctx.desc(t.parent_id).await?.as_deref() {
            ctx.env.db_primary_region = db.primary_region.clone();
            ctx.env.db_regions = db.regions.clone();
        }
    }
    Ok(env)
}

fn resolved_table(env: &PlanEnv, name: &ast::ObjectName) -> Result<Arc<TableDesc>> {
    let key = super::compile::object_key(name);
    match env.tables.get(&key) {
        Some(Resolved::Table(t)) => Ok(t.clone()),
        Some(Resolved::Virtual { .. }) => Err(SqlError::new(
            errcode::INSUFFICIENT_PRIVILEGE,
            format!("{key} is a virtual table and cannot be modified"),
        )),
        None => Err(env
            .missing
            .get(&key)
            .cloned()
            .unwrap_or_else(|| SqlError::undefined_table(&key))),
    }
}

/// The scope of `t`'s row, its columns qualified by `alias` when the statement gives one.
fn aliased_scope(t: &TableDesc, alias: Option<&str>) -> Vec<ScopeCol> {
    let mut scope = table_scope(t);
    if let Some(a) = alias {
        for c in &mut scope {
            c.table = Some(a.to_string());
        }
    }
    scope
}

/// Compiles RETURNING items over the table's row.
fn returning(
    planner: &mut Planner<'_>,
    items: &Option<Vec<ast::SelectItem>>,
    scope: &[ScopeCol],
) -> Result<Option<(Vec<Expr>, Vec<Column>)>> {
    let Some(items) = items else { return Ok(None) };
    super::compile::check_target_list(items.len())?;
    let mut exprs = Vec::new();
    let mut cols = Vec::new();
    for item in items {
        match item {
            ast::SelectItem::Wildcard(_) => {
                for (i, c) in scope.iter().enumerate() {
                    if !c.hidden {
                        exprs.push(Expr::Col(i));
                        cols.push(Column {
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                        });
                    }
                }
            }
            ast::SelectItem::UnnamedExpr(e) => {
                let (x, t) = planner.compile(e, scope, &mut None)?;
                exprs.push(x);
                let name = match e {
                    ast::Expr::Identifier(i) => ident(i),
                    ast::Expr::CompoundIdentifier(p) => p.last().map(ident).unwrap_or_default(),
                    _ => "?column?".into(),
                };
                cols.push(Column { name, ty: t });
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let (x, t) = planner.compile(expr, scope, &mut None)?;
                exprs.push(x);
                cols.push(Column {
                    name: ident(alias),
                    ty: t,
                });
            }
            _ => return Err(SqlError::unimplemented("this RETURNING item")),
        }
    }
    Ok(Some((exprs, cols)))
}

fn result(tag: String, ret: Option<(Vec<Expr>, Vec<Column>)>, rows: Vec<Row>) -> StatementResult {
    match ret {
        Some((_, cols)) => StatementResult {
            columns: cols,
            rows,
            tag,
            notices: Vec::new(),
            stream: None,
        },
        None => StatementResult::tag(tag),
    }
}

/// `ON CONFLICT DO UPDATE`: (column position, value, value type) assignments and the WHERE.
type DoUpdate = (Vec<(usize, Expr, Type)>, Option<Expr>);

/// The position of a column an INSERT or UPDATE names, which must exist and not be computed.
fn writable_column(t: &TableDesc, name: &str) -> Result<usize> {
    let p = t
        .column_pos_by_name(name)
        .ok_or_else(|| SqlError::undefined_column(name))?;
    if t.columns[p].computed.is_some() {
        return Err(SqlError::new(
            errcode::FEATURE_NOT_SUPPORTED,
            format!("cannot write directly to computed column \"{name}\""),
        ));
    }
    Ok(p)
}

/// The table positions an INSERT writes: the named columns (each at most once), or every
/// visible column that is not computed.
fn insert_targets(t: &TableDesc, columns: &[ast::ObjectName]) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok(t
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.hidden && c.computed.is_none())
            .map(|(i, _)| i)
            .collect());
    }
    let mut v = Vec::new();
    for c in columns {
        let n = object_parts(c).last().cloned().unwrap_or_default();
        let p = writable_column(t, &n)?;
        if v.contains(&p) {
            return Err(SqlError::syntax(format!(
                "multiple assignments to the same column \"{n}\""
            )));
        }
        v.push(p);
    }
    Ok(v)
}

/// The planned rows of an INSERT.
struct InsertSource {
    /// The plan that produces them (with DEFAULT markers, see [`strip_default_markers`]).
    plan: Plan,
    /// Its columns.
    cols: Vec<ScopeCol>,
    /// For VALUES, which value of each row was `DEFAULT`; empty for a query.
    defaults: Vec<Vec<bool>>,
}

/// Plans an INSERT's source, VALUES typed by the target columns or a query, and checks that
/// its columns fit the targets.
fn plan_insert_source(
    planner: &mut Planner<'_>,
    ins: &ast::Insert,
    t: &TableDesc,
    targets: &[usize],
) -> Result<InsertSource> {
    let target_types: Vec<Type> = targets.iter().map(|p| t.columns[*p].ty.clone()).collect();
    let (plan, cols, defaults) = match &ins.source {
        None => (Plan::one_row(), Vec::new(), Vec::new()),
        Some(q) => match q.body.as_ref() {
            ast::SetExpr::Values(v) if q.order_by.is_none() && q.limit_clause.is_none() => {
                let (plan, cols) = planner.plan_values(v, Some(&target_types))?;
                let marks: Vec<Vec<bool>> = v
                    .rows
                    .iter()
                    .map(|r| r.content.iter().map(is_default_marker).collect())
                    .collect();
                (plan, cols, marks)
            }
            _ => {
                let (plan, cols) = planner.plan_query(q)?;
                (plan, cols, Vec::new())
            }
        },
    };
    let src_visible: Vec<&ScopeCol> = cols.iter().filter(|c| !c.hidden).collect();
    if defaults.is_empty() {
        for (c, p) in src_visible.iter().zip(targets) {
            if !assignable(&c.ty, &t.columns[*p].ty) {
                return Err(mismatch(&c.ty, &t.columns[*p]));
            }
        }
    }
    if ins.source.is_some() && src_visible.len() > targets.len() {
        return Err(SqlError::syntax(format!(
            "INSERT has more expressions than target columns, {} expressions for {} targets",
            src_visible.len(),
            targets.len()
        )));
    }
    Ok(InsertSource {
        plan,
        cols,
        defaults,
    })
}

/// An INSERT's ON CONFLICT clause (ON DUPLICATE KEY is refused) and, for DO UPDATE, its
/// assignments and WHERE compiled over the existing row followed by the `excluded` one.
fn on_conflict(
    planner: &mut Planner<'_>,
    t: &TableDesc,
    on: Option<&ast::OnInsert>,
    scope: &[ScopeCol],
) -> Result<(Option<ast::OnConflict>, Option<DoUpdate>)> {
    let conflict = match on {
        None => None,
        Some(ast::OnInsert::OnConflict(oc)) => Some(oc.clone()),
        Some(_) => return Err(SqlError::unimplemented("ON DUPLICATE KEY")),
    };
    let mut excluded_scope = scope.to_vec();
    excluded_scope.extend(scope.iter().map(|c| ScopeCol {
        table: Some("excluded".into()),
        ..c.clone()
    }));
    let mut do_update: Option<DoUpdate> = None;
    if let Some(ast::OnConflict {
        action: ast::OnConflictAction::DoUpdate(du),
        ..
    }) = &conflict
    {
        let mut sets = Vec::new();
        for a in &du.assignments {
            for (p, e, ty) in assignment(planner, t, a, &excluded_scope)? {
                sets.push((p, e, ty));
            }
        }
        let sel = match &du.selection {
            Some(w) => Some(planner.compile(w, &excluded_scope, &mut None)?.0),
            None => None,
        };
        do_update = Some((sets, sel));
    }
    Ok((conflict, do_update))
}

/// The columns of an ON CONFLICT target, if it names them; DO UPDATE without a target is
/// an error.
fn conflict_columns(
    t: &TableDesc,
    conflict: Option<&ast::OnConflict>,
) -> Result<Option<Vec<ColumnId>>> {
    match conflict {
        Some(ast::OnConflict {
            conflict_target: Some(ast::ConflictTarget::Columns(cols)),
            ..
        }) => Ok(Some(
            cols.iter()
                .map(|c| {
                    let n = ident(c);
                    t.column_by_name(&n)
                        .map(|c| c.id)
                        .ok_or_else(|| SqlError::undefined_column(&n))
                })
                .collect::<Result<_>>()?,
        )),
        Some(ast::OnConflict {
            action: ast::OnConflictAction::DoUpdate(_),
            conflict_target: None,
        }) => Err(SqlError::syntax(
            "missing conflict target in ON CONFLICT DO UPDATE",
        )),
        _ => Ok(None),
    }
}

/// `plan` with the DEFAULT markers of its VALUES replaced by NULLs: they were noted per row
/// ([`InsertSource::defaults`]), and the executor must not see them.
fn strip_default_markers(plan: Plan) -> Plan {
    match plan {
        Plan::Values { rows } => Plan::Values {
            rows: rows
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .map(|e| match e {
                            Expr::Default => Expr::Const(Datum::Null),
                            other => other,
                        })
                        .collect()
                })
                .collect(),
        },
        other => other,
    }
}

/// A source row of an INSERT spread over the table's columns: the row (NULL where not
/// given) and which columns it sets. `defaults` says which of its values were `DEFAULT`
/// (those are left unset); `constant` whether the values were written in the statement.
fn insert_source_row(
    t: &TableDesc,
    src: Row,
    targets: &[usize],
    src_cols: &[ScopeCol],
    defaults: Option<&Vec<bool>>,
    constant: bool,
) -> Result<(Row, Vec<bool>)> {
    let mut row = vec![Datum::Null; t.columns.len()];
    let mut set = vec![false; t.columns.len()];
    let mut values = src.into_iter();
    for (k, p) in targets.iter().enumerate() {
        let Some(v) = values.next() else { break };
        if defaults.and_then(|r| r.get(k)).copied().unwrap_or(false) {
            continue;
        }
        let vt = src_cols.get(k).map_or(Type::Unknown, |c| c.ty.clone());
        row[*p] = assign(v, &vt, &t.columns[*p], constant)?;
        set[*p] = true;
    }
    Ok((row, set))
}

/// The row an UPSERT writes over `old`: the inserted columns (all visible ones when the
/// statement names none, `all_visible`) and the computed columns take the new values, the
/// others keep theirs.
fn upserted_row(
    t: &TableDesc,
    old: &[Datum],
    row: &[Datum],
    set: &[bool],
    all_visible: bool,
) -> Row {
    let mut new = old.to_vec();
    for (i, s) in set.iter().enumerate() {
        if *s || (all_visible && !t.columns[i].hidden) {
            new[i] = row[i].clone();
        }
    }
    for (i, c) in t.columns.iter().enumerate() {
        if c.computed.is_some() {
            new[i] = row[i].clone();
        }
    }
    new
}

/// ON CONFLICT DO UPDATE for an inserted `row` that conflicts with `old`: the updated row,
/// or `None` when the WHERE does not hold.
async fn conflict_update(
    ex: &Executor<'_>,
    t: &TableDesc,
    (sets, sel): &DoUpdate,
    old: &[Datum],
    row: &[Datum],
) -> Result<Option<Row>> {
    let mut both = old.to_vec();
    both.extend(row.iter().cloned());
    if let Some(w) = sel
        && ex.eval(w, &[], &both).await? != Datum::Bool(true)
    {
        return Ok(None);
    }
    let mut new = old.to_vec();
    for (p, e, ty) in sets {
        let v = ex.eval(e, &[], &both).await?;
        let constant = matches!(e, Expr::Const(_));
        new[*p] = assign(v, ty, &t.columns[*p], constant)?;
    }
    Ok(Some(new))
}

/// The values of the RETURNING expressions over a written row.
async fn returned_row(ex: &Executor<'_>, exprs: &[Expr], row: &[Datum]) -> Result<Row> {
    let mut r = Vec::new();
    for e in exprs {
        r.push(ex.eval(e, &[], row).await?);
    }
    Ok(r)
}

/// INSERT and UPSERT: the target columns, the source rows, RETURNING and ON CONFLICT are
/// planned, then each source row is completed and inserted, or, when it conflicts with an
/// existing row, skipped, upserted or updated.
pub async fn insert(
    ctx: &mut StmtCtx<'_>,
    ins: &ast::Insert,
    upsert: bool,
) -> Result<StatementResult> {
    let ast::TableObject::TableName(tname) = &ins.table else {
        return Err(SqlError::unimplemented("INSERT into a table function"));
    };
    let mut names = vec![tname.clone()];
    if let Some(src) = &ins.source {
        names.extend(super::relation_names_query(src));
    }
    let env = writer_env(ctx, &names).await?;
    let t = resolved_table(&env, tname)?;
    let writer = TableWriter::new(t.clone(), &env)?;
    let targets = insert_targets(&t, &ins.columns)?;
    let mut planner = Planner::with_params(&env, ctx.param_types.clone());
    let source = plan_insert_source(&mut planner, ins, &t, &targets)?;
    let scope = table_scope(&t);
    let ret = returning(&mut planner, &ins.returning, &scope)?;
    let (conflict, do_update) = on_conflict(&mut planner, &t, ins.on.as_ref(), &scope)?;
    ctx.param_types = planner.params.clone();
    let conflict_cols = conflict_columns(&t, conflict.as_ref())?;
    let plan = strip_default_markers(source.plan);
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    let src_rows = ex.run(&plan, &[]).await?;
    let txn = ctx.txn()?;
    let mut count = 0usize;
    let mut out_rows = Vec::new();
    // Plain inserts are written in batches. Not when a row may need to see an earlier row of
    // the same statement: conflict handling reads the table, and so does a foreign key to it.
    let batched =
        !upsert && conflict.is_none() && t.foreign_keys.iter().all(|fk| fk.ref_table != t.id);
    let mut pending: Vec<Row> = Vec::new();
    for (ri, src) in src_rows.into_iter().enumerate() {
        let (mut row, set) = insert_source_row(
            &t,
            src,
            &targets,
            &source.cols,
            source.defaults.get(ri),
            !source.defaults.is_empty(),
        )?;
        writer.finish_row(&ex, &mut row, &set).await?;
        // Conflicts.
        let existing = if upsert || conflict.is_some() {
            find_conflict(ctx, &t, &row, conflict_cols.as_deref(), upsert).await?
        } else {
            None
        };
        let final_row = match (existing, upsert, &conflict) {
            (None, _, _) => {
                check_fks_out(ctx, &t, &row, None).await?;
                if batched {
                    pending.push(row.clone());
                    if pending.len() >= INSERT_BATCH_ROWS {
                        insert_rows(&txn, &t, &std::mem::take(&mut pending)).await?;
                    }
                } else {
                    insert_row(&txn, &t, &row).await?;
                }
                row
            }
            (
                Some(_),
                false,
                Some(ast::OnConflict {
                    action: ast::OnConflictAction::DoNothing,
                    ..
                }),
            ) => continue,
            (Some(old), true, _) => {
                let mut new = upserted_row(&t, &old, &row, &set, ins.columns.is_empty());
                writer.replace_row(ctx, &txn, &ex, &old, &mut new).await?;
                new
            }
            (Some(old), false, _) => {
                let Some(du) = &do_update else {
                    continue;
                };
                let Some(mut new) = conflict_update(&ex, &t, du, &old, &row).await? else {
                    continue;
                };
                writer.replace_row(ctx, &txn, &ex, &old, &mut new).await?;
                new
            }
        };
        count += 1;
        if let Some((exprs, _)) = &ret {
            out_rows.push(returned_row(&ex, exprs, &final_row).await?);
        }
    }
    insert_rows(&txn, &t, &pending).await?;
    Ok(result(format!("INSERT 0 {count}"), ret, out_rows))
}

/// The existing row an inserted row conflicts with.
async fn find_conflict(
    ctx: &StmtCtx<'_>,
    t: &Arc<TableDesc>,
    row: &[Datum],
    target: Option<&[ColumnId]>,
    upsert: bool,
) -> Result<Option<Row>> {
    let mut candidates: Vec<&IndexDesc> = Vec::new();
    match target {
        Some(cols) => {
            let idx = t
                .all_indexes()
                .find(|i| i.unique && i.columns.len() == cols.len() && cols.iter().all(|c| i.columns.contains(c)))
                .ok_or_else(|| {
                    SqlError::new(
                        errcode::INVALID_COLUMN_REFERENCE,
                        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                    )
                })?;
            candidates.push(idx);
        }
        None if upsert => candidates.push(&t.primary_index),
        None => candidates.extend(t.all_indexes().filter(|i| i.unique)),
    }
    for idx in candidates {
        if idx
            .columns
            .iter()
            .any(|id| t.column_pos(*id).is_some_and(|p| row[p].is_null()))
        {
            continue;
        }
        let preds: Vec<Expr> = idx
            .columns
            .iter()
            .filter_map(|id| t.column_pos(*id))
            .map(|p| {
                Expr::Cmp(
                    CmpOp::Eq,
                    Box::new(Expr::Col(p)),
                    Box::new(Expr::Const(row[p].clone())),
                )
            })
            .collect();
        if let Some(r) = find_rows(ctx, t, preds, Some(1)).await?.into_iter().next() {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

fn assignment(
    planner: &mut Planner<'_>,
    t: &TableDesc,
    a: &ast::Assignment,
    scope: &[ScopeCol],
) -> Result<Vec<(usize, Expr, Type)>> {
    let names: Vec<String> = match &a.target {
        ast::AssignmentTarget::ColumnName(n) => {
            vec![object_parts(n).last().cloned().unwrap_or_default()]
        }
        ast::AssignmentTarget::Tuple(ns) => ns
            .iter()
            .map(|n| object_parts(n).last().cloned().unwrap_or_default())
            .collect(),
    };
    let mut out = Vec::new();
    let values: Vec<ast::Expr> = match (&a.value, names.len()) {
        (ast::Expr::Tuple(items), n) if n > 1 => items.clone(),
        (v, _) => vec![v.clone()],
    };
    if values.len() != names.len() {
        return Err(SqlError::syntax(format!(
            "number of columns ({}) does not match number of values ({})",
            names.len(),
            values.len()
        )));
    }
    for (n, v) in names.iter().zip(values) {
        let p = writable_column(t, n)?;
        if is_default_marker(&v) {
            let d = match &t.columns[p].default {
                Some(d) => planner.compile(&parse_expr(d)?, &[], &mut None)?,
                None => (Expr::Const(Datum::Null), Type::Unknown),
            };
            out.push((p, d.0, d.1));
            continue;
        }
        let (e, et) = planner.compile(&v, scope, &mut None)?;
        let e = planner.coerce(e, &et, &t.columns[p].ty)?;
        let et = if et == Type::Unknown {
            t.columns[p].ty.clone()
        } else {
            et
        };
        out.push((p, e, et));
    }
    Ok(out)
}

/// The rows of `t` matching a WHERE clause (and LIMIT), via the best access path.
async fn target_rows(
    ctx: &StmtCtx<'_>,
    planner: &mut Planner<'_>,
    t: &Arc<TableDesc>,
    scope: &[ScopeCol],
    selection: Option<&ast::Expr>,
    limit: Option<&ast::Expr>,
) -> Result<Vec<Row>> {
    let mut plan = Plan::Scan(Box::new(ScanPlan {
        table: t.clone(),
        access: Access::Full,
        limit: None,
    }));
    if let Some(w) = selection {
        let (p, ty) = planner.compile(w, scope, &mut None)?;
        if !matches!(ty.family(), Family::Bool | Family::Unknown) {
            return Err(SqlError::datatype_mismatch(format!(
                "argument of WHERE must be type bool, not type {}",
                ty.error_name()
            )));
        }
        plan = push_filter(plan, p);
    }
    if let Some(l) = limit {
        let (e, _) = planner.compile(l, &[], &mut None)?;
        plan = Plan::Limit {
            input: Box::new(plan),
            limit: Some(e),
            offset: None,
        };
    }
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    ex.run(&plan, &[]).await
}

/// For UPDATE and DELETE: RETURNING compiled over `scope`, then the rows to change
/// ([`target_rows`]); the placeholder types inferred become the statement's.
async fn returning_and_targets(
    ctx: &mut StmtCtx<'_>,
    planner: &mut Planner<'_>,
    t: &Arc<TableDesc>,
    scope: &[ScopeCol],
    items: &Option<Vec<ast::SelectItem>>,
    selection: Option<&ast::Expr>,
    limit: Option<&ast::Expr>,
) -> Result<(Option<(Vec<Expr>, Vec<Column>)>, Vec<Row>)> {
    let ret = returning(planner, items, scope)?;
    let rows = target_rows(ctx, planner, t, scope, selection, limit).await?;
    ctx.param_types = planner.params.clone();
    Ok((ret, rows))
}

/// UPDATE.
pub async fn update(ctx: &mut StmtCtx<'_>, u: &ast::Update) -> Result<StatementResult> {
    if u.from.is_some() || !u.table.joins.is_empty() {
        return Err(SqlError::unimplemented("UPDATE ... FROM"));
    }
    let (tname, alias) = table_of(&u.table.relation)?;
    let mut names = vec![tname.clone()];
    for a in &u.assignments {
        names.extend(super::relation_names_expr(&a.value));
    }
    if let Some(w) = &u.selection {
        names.extend(super::relation_names_expr(w));
    }
    let env = writer_env(ctx, &names).await?;
    let t = resolved_table(&env, &tname)?;
    let writer = TableWriter::new(t.clone(), &env)?;
    let scope = aliased_scope(&t, alias.as_deref());
    let mut planner = Planner::with_params(&env, ctx.param_types.clone());
    let mut sets = Vec::new();
    for a in &u.assignments {
        sets.extend(assignment(&mut planner, &t, a, &scope)?);
    }
    let (ret, rows) = returning_and_targets(
        ctx,
        &mut planner,
        &t,
        &scope,
        &u.returning,
        u.selection.as_ref(),
        u.limit.as_ref(),
    )
    .await?;
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    let txn = ctx.txn()?;
    let mut out = Vec::new();
    let count = rows.len();
    for old in rows {
        let mut new = old.clone();
        for (p, e, ty) in &sets {
            let v = ex.eval(e, &[], &old).await?;
            new[*p] = assign(v, ty, &t.columns[*p], matches!(e, Expr::Const(_)))?;
        }
        writer.replace_row(ctx, &txn, &ex, &old, &mut new).await?;
        if let Some((exprs, _)) = &ret {
            out.push(returned_row(&ex, exprs, &new).await?);
        }
    }
    Ok(result(format!("UPDATE {count}"), ret, out))
}

/// DELETE.
pub async fn delete(ctx: &mut StmtCtx<'_>, d: &ast::Delete) -> Result<StatementResult> {
    let from = match &d.from {
        ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
    };
    if from.len() != 1 || !from[0].joins.is_empty() || d.using.is_some() {
        return Err(SqlError::unimplemented("DELETE ... USING"));
    }
    let (tname, alias) = table_of(&from[0].relation)?;
    let mut names = vec![tname.clone()];
    if let Some(w) = &d.selection {
        names.extend(super::relation_names_expr(w));
    }
    let env = writer_env(ctx, &names).await?;
    let t = resolved_table(&env, &tname)?;
    let scope = aliased_scope(&t, alias.as_deref());
    let mut planner = Planner::with_params(&env, ctx.param_types.clone());
    let (ret, rows) = returning_and_targets(
        ctx,
        &mut planner,
        &t,
        &scope,
        &d.returning,
        d.selection.as_ref(),
        d.limit.as_ref(),
    )
    .await?;
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    let txn = ctx.txn()?;
    let mut out = Vec::new();
    let count = rows.len();
    for row in rows {
        check_fks_in(ctx, &t, &row, None).await?;
        delete_row(&txn, &t, &row).await?;
        if let Some((exprs, _)) = &ret {
            out.push(returned_row(&ex, exprs, &row).await?);
        }
    }
    Ok(result(format!("DELETE {count}"), ret, out))
}

/// Writes a new column's default into every existing row (ADD COLUMN).
pub async fn backfill_column(ctx: &StmtCtx<'_>, t: &TableDesc, col: &ColumnDesc) -> Result<()> {
    if col.default.is_none() && col.computed.is_none() {
        if !col.nullable {
            let prefix = encoding::index_prefix(t, &t.primary_index);
            let any = ctx.reader.scan(&base::Span::prefix(&prefix.0), 1).await?;
            if !any.is_empty() {
                return Err(SqlError::new(
                    errcode::NOT_NULL_VIOLATION,
                    format!(
                        "null value in column \"{}\" violates not-null constraint",
                        col.name
                    ),
                ));
            }
        }
        return Ok(());
    }
    let mut env = ctx.plan_env(&[]).await?;
    env.types = ctx.types_in(t.parent_id).await?;
    let writer = TableWriter::new(Arc::new(t.clone()), &env)?;
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    let txn = ctx.txn()?;
    let prefix = encoding::index_prefix(t, &t.primary_index);
    let pos = t
        .column_pos(col.id)
        .ok_or_else(|| SqlError::internal("new column"))?;
    for kv in ctx.reader.scan(&base::Span::prefix(&prefix.0), 0).await? {
        let mut row = encoding::decode_row(t, &kv.key, &kv.value)?;
        let mut set = vec![true; row.len()];
        set[pos] = false;
        writer.finish_row(&ex, &mut row, &set).await?;
        txn.put(&kv.key, encoding::primary_value(t, &row)).await?;
    }
    Ok(())
}

/// Checks that every existing row satisfies a new FOREIGN KEY.
pub async fn validate_foreign_key(
    ctx: &StmtCtx<'_>,
    t: &TableDesc,
    fk: &ForeignKeyDesc,
) -> Result<()> {
    let prefix = encoding::index_prefix(t, &t.primary_index);
    for kv in ctx.reader.scan(&base::Span::prefix(&prefix.0), 0).await? {
        let row = encoding::decode_row(t, &kv.key, &kv.value)?;
        let vals: Vec<Datum> = fk
            .columns
            .iter()
            .map(|id| t.column_pos(*id).map_or(Datum::Null, |p| row[p].clone()))
            .collect();
        if vals.iter().any(Datum::is_null) {
            continue;
        }
        if !fk_parent_exists(ctx, fk, &vals).await? {
            return Err(SqlError::new(
                errcode::FOREIGN_KEY_VIOLATION,
                format!(
                    "foreign key violation: \"{}\" row {} has no match in the referenced table",
                    t.name,
                    key_detail(t, &fk.columns, &row)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks that every existing row satisfies a new CHECK constraint.
pub async fn validate_check(ctx: &StmtCtx<'_>, t: &TableDesc, check: &CheckDesc) -> Result<()> {
    let env = ctx.plan_env(&[]).await?;
    let mut p = Planner::new(&env);
    let e = p
        .compile(&parse_expr(&check.expr)?, &table_scope(t), &mut None)?
        .0;
    let ex = Executor::new(ctx.reader.clone(), &ctx.params, &ctx.env);
    let prefix = encoding::index_prefix(t, &t.primary_index);
    for kv in ctx.reader.scan(&base::Span::prefix(&prefix.0), 0).await? {
        let row = encoding::decode_row(t, &kv.key, &kv.value)?;
        if ex.eval(&e, &[], &row).await? == Datum::Bool(false) {
            return Err(SqlError::new(
                errcode::CHECK_VIOLATION,
                format!(
                    "validation of CHECK \"{}\" failed on row: {}",
                    check.expr,
                    row.iter()
                        .map(|d| d.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    Ok(())
}
