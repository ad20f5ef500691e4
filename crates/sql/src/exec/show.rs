//! SHOW, SET, EXPLAIN, cluster settings, AS OF SYSTEM TIME, and statement descriptions for
//! the extended protocol.

use base::{Timestamp, errcode};
use sqlparser::ast;

use super::compile::{PlanEnv, Planner, object_parts};
use super::{StmtCtx, visible};
use crate::catalog::*;
use crate::error::{Result, SqlError};
use crate::parser::{Explain, SetClusterSetting, Show, Statement};
use crate::session::{Column, Session, StatementResult};
use crate::types::{self, Datum, Type};

/// A text datum.
pub(crate) fn s(v: impl Into<String>) -> Datum {
    Datum::String(v.into())
}

/// Result columns, by name and type.
pub(crate) fn cols(names: &[(&str, Type)]) -> Vec<Column> {
    names
        .iter()
        .map(|(n, t)| Column::new(*n, t.clone()))
        .collect()
}

/// SET / SHOW / RESET of session variables, USE; `None` for other statements.
pub fn session_statement(
    session: &mut Session,
    stmt: &Statement,
) -> Result<Option<StatementResult>> {
    match stmt {
        Statement::Show(show) => {
            if let Show::Var { name } = show.as_ref() {
                return show_var(session, name).map(Some);
            }
            Ok(None)
        }
        Statement::Standard(st) => match st.as_ref() {
            ast::Statement::Set(set) => set_statement(session, set).map(Some),
            ast::Statement::Use(u) => {
                let name = match u {
                    ast::Use::Object(n) | ast::Use::Database(n) | ast::Use::Catalog(n) => {
                        object_parts(n).join(".")
                    }
                    _ => return Err(SqlError::unimplemented("this USE form")),
                };
                session.set_var("database", name);
                Ok(Some(StatementResult::tag("SET")))
            }
            ast::Statement::ShowVariable { variable } => {
                let name = variable
                    .iter()
                    .map(|i| i.value.to_lowercase())
                    .collect::<Vec<_>>()
                    .join(" ");
                show_var(session, &name).map(Some)
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

fn normalize_var(name: &str) -> String {
    match name {
        "time zone" | "time_zone" => "timezone".into(),
        "transaction isolation level" => "transaction_isolation".into(),
        "db" => "database".into(),
        other => other.to_string(),
    }
}

fn show_var(session: &Session, name: &str) -> Result<StatementResult> {
    let in_transaction = session.in_transaction();
    show_var_of(session.vars(), session.user(), Some(in_transaction), name)
}

/// `SHOW name` over session variables `vars`; `in_transaction` is `None` where it is not
/// known (a `[SHOW ...]` data source).
fn show_var_of(
    vars: &std::collections::BTreeMap<String, String>,
    user: &str,
    in_transaction: Option<bool>,
    name: &str,
) -> Result<StatementResult> {
    let name = normalize_var(name);
    if name == "all" {
        let rows = vars
            .iter()
            .map(|(k, v)| vec![s(k.clone()), s(v.clone())])
            .collect();
        return Ok(StatementResult::rows(
            cols(&[("variable", Type::String), ("value", Type::String)]),
            rows,
        ));
    }
    let value = match (name.as_str(), in_transaction) {
        ("session_user" | "current_user", _) => Some(user.to_string()),
        ("transaction_status", Some(open)) => Some(if open { "Open" } else { "NoTxn" }.to_string()),
        _ => vars.get(&name).cloned(),
    };
    let Some(value) = value else {
        return Err(SqlError::new(
            errcode::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{name}\""),
        ));
    };
    Ok(StatementResult::rows(
        vec![Column::new(name, Type::String)],
        vec![vec![s(value)]],
    ))
}

fn expr_text(e: &ast::Expr) -> Result<String> {
    Ok(match e {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(x) | ast::Value::DoubleQuotedString(x) => x.clone(),
            ast::Value::Number(n, _) => n.clone(),
            ast::Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
            other => other.to_string(),
        },
        ast::Expr::Identifier(i) => i.value.clone(),
        ast::Expr::CompoundIdentifier(p) => p
            .iter()
            .map(|i| i.value.clone())
            .collect::<Vec<_>>()
            .join("."),
        other => other.to_string(),
    })
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_string()
}

fn set_statement(session: &mut Session, set: &ast::Set) -> Result<StatementResult> {
    match set {
        ast::Set::SingleAssignment {
            variable, values, ..
        } => {
            let name = normalize_var(&object_parts(variable).join("."));
            let value = values
                .iter()
                .map(expr_text)
                .collect::<Result<Vec<_>>>()?
                .join(", ");
            match name.as_str() {
                "database" => {}
                "timezone" if !value.eq_ignore_ascii_case("utc") && value != "0" => {
                    return Err(SqlError::unimplemented(format!("time zone {value}")));
                }
                "statement_timeout" | "idle_in_transaction_session_timeout"
                    if crate::session::parse_timeout(&value).is_none() =>
                {
                    return Err(SqlError::new(
                        errcode::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"{name}\": \"{value}\""),
                    ));
                }
                "transaction_isolation" | "default_transaction_isolation" => {
                    let v = value.to_lowercase();
                    if v != "serializable" {
                        // CockroachDB v23.1 upgrades weaker levels to SERIALIZABLE.
                    }
                    session.set_var(&name, "serializable".into());
                    return Ok(StatementResult::tag("SET"));
                }
                _ => {}
            }
            let value = if value.eq_ignore_ascii_case("default") {
                String::new()
            } else {
                value
            };
            session.set_var(&name, value);
            Ok(StatementResult::tag("SET"))
        }
        ast::Set::SetTimeZone { value, .. } => {
            let v = expr_text(value)?;
            if !v.eq_ignore_ascii_case("utc") && v != "0" {
                return Err(SqlError::unimplemented(format!("time zone {v}")));
            }
            session.set_var("timezone", "UTC".into());
            Ok(StatementResult::tag("SET"))
        }
        ast::Set::SetNames { .. } | ast::Set::SetNamesDefault {} => Ok(StatementResult::tag("SET")),
        ast::Set::SetTransaction { modes, .. } => {
            if let Some(read_only) = crate::session::access_mode(modes) {
                session.set_var("transaction_read_only", on_off(read_only));
            }
            Ok(StatementResult::tag("SET"))
        }
        other => Err(SqlError::unimplemented(format!("{other}"))),
    }
}

/// The timestamp of an `AS OF SYSTEM TIME` expression.
pub async fn as_of_timestamp(
    session: &Session,
    e: &ast::Expr,
    params: &[Datum],
) -> Result<Timestamp> {
    let node = session.server().node();
    let now = node.clock().now();
    let env = PlanEnv::default();
    let mut p = Planner::new(&env);
    let (x, _) = p.compile(e, &[], &mut None)?;
    super::expr::no_subquery(&x, "AS OF SYSTEM TIME")?;
    let eval_env = super::expr::EvalEnv {
        now: chrono::DateTime::from_timestamp_nanos(now.wall),
        ..Default::default()
    };
    let ctx = super::expr::EvalCtx {
        params,
        outer: &[],
        env: &eval_env,
    };
    let v = super::expr::eval(&x, &ctx, &[])?;
    let ts = match v {
        Datum::String(text) => {
            if let Some(i) =
                types::parse_interval(&text).filter(|_| text.trim_start().starts_with('-'))
            {
                now.add_nanos(i.as_nanos())
            } else if let Ok(d) = text.parse::<rust_decimal::Decimal>() {
                decimal_ts(d)?
            } else {
                let t = types::parse_datum(&text, &Type::TimestampTz).map_err(|_| {
                    SqlError::new(
                        errcode::INVALID_PARAMETER_VALUE,
                        "AS OF SYSTEM TIME: value is neither timestamp, decimal, nor interval"
                            .to_string(),
                    )
                })?;
                datum_ts(&t)?
            }
        }
        Datum::Decimal(d) => decimal_ts(d)?,
        Datum::Int(i) => Timestamp {
            wall: i,
            logical: 0,
        },
        Datum::Interval(i) => now.add_nanos(i.as_nanos()),
        other => datum_ts(&other)?,
    };
    if ts > now {
        return Err(SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            "AS OF SYSTEM TIME: cannot specify timestamp in the future",
        ));
    }
    Ok(ts)
}

fn decimal_ts(d: rust_decimal::Decimal) -> Result<Timestamp> {
    use rust_decimal::prelude::ToPrimitive;
    let wall = d
        .trunc()
        .to_i64()
        .ok_or_else(|| SqlError::invalid_parameter("bad timestamp"))?;
    let logical = (d.fract() * rust_decimal::Decimal::from(10_000_000_000i64))
        .to_u32()
        .unwrap_or(0);
    Ok(Timestamp { wall, logical })
}

fn datum_ts(d: &Datum) -> Result<Timestamp> {
    // Dates past 2262 overflow nanoseconds: they are in the future either way.
    let nanos = match d {
        Datum::TimestampTz(t) => Some(t.timestamp_nanos_opt().unwrap_or(i64::MAX)),
        Datum::Timestamp(t) => Some(t.and_utc().timestamp_nanos_opt().unwrap_or(i64::MAX)),
        _ => None,
    }
    .ok_or_else(|| {
        SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            "AS OF SYSTEM TIME: value is neither timestamp, decimal, nor interval",
        )
    })?;
    Ok(Timestamp {
        wall: nanos,
        logical: 0,
    })
}

/// EXPLAIN.
pub async fn explain(ctx: &mut StmtCtx<'_>, e: &Explain) -> Result<StatementResult> {
    if e.analyze {
        return Err(SqlError::unimplemented("EXPLAIN ANALYZE"));
    }
    let lines = match &e.statement {
        Statement::Query(q) => {
            let (plan, _) = ctx.plan_query(&q.query).await?;
            plan.explain()
        }
        Statement::Insert(i) => {
            let t = match &i.insert.table {
                ast::TableObject::TableName(n) => object_parts(n).join("."),
                _ => String::new(),
            };
            vec![
                format!("• {}", if i.upsert { "upsert" } else { "insert" }),
                format!("│ into: {t}"),
            ]
        }
        Statement::Standard(st) => match st.as_ref() {
            ast::Statement::Update(_) => vec!["• update".into()],
            ast::Statement::Delete(_) => vec!["• delete".into()],
            other => {
                let k: String = other
                    .to_string()
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                return Err(SqlError::unimplemented(format!("EXPLAIN {k}")));
            }
        },
        _ => return Err(SqlError::unimplemented("EXPLAIN of this statement")),
    };
    let mut rows = vec![
        vec![s("distribution: local")],
        vec![s("vectorized: true")],
        vec![s("")],
    ];
    rows.extend(lines.into_iter().map(|l| vec![s(l)]));
    Ok(StatementResult::rows(cols(&[("info", Type::String)]), rows))
}

/// Result columns of a statement without running it.
pub async fn describe(ctx: &mut StmtCtx<'_>, stmt: &Statement) -> Result<Vec<Column>> {
    match stmt {
        Statement::Query(q) => describe_query(ctx, q).await,
        Statement::Insert(i) => describe_insert(ctx, &i.insert).await,
        Statement::Standard(st) => match st.as_ref() {
            ast::Statement::Update(u) => describe_update(ctx, u).await,
            ast::Statement::Delete(d) => describe_delete(ctx, d).await,
            _ => Ok(Vec::new()),
        },
        // Jobs started by statements: CockroachDB's result columns, known before running.
        Statement::Backup(b) => Ok(job_result_columns(b.options.detached)),
        Statement::Restore(r) => Ok(job_result_columns(r.options.detached)),
        Statement::CreateChangefeed(c) if c.sink.is_some() => {
            Ok(vec![Column::new("job_id", Type::Int8)])
        }
        Statement::CreateChangefeed(_) => Ok(vec![
            Column::new("table", Type::String),
            Column::new("key", Type::String),
            Column::new("value", Type::String),
        ]),
        Statement::SplitAt(_) => Ok(super::ddl::split_at_columns()),
        Statement::Show(_) | Statement::Explain(_) => {
            // Run it: SHOW statements are cheap and side-effect free.
            Ok(ctx.run(stmt).await.map(|r| r.columns).unwrap_or_default())
        }
        _ => Ok(Vec::new()),
    }
}

/// The visible columns of a query, planned with its `[statement]` sources.
async fn describe_query(
    ctx: &mut StmtCtx<'_>,
    q: &crate::parser::QueryStatement,
) -> Result<Vec<Column>> {
    // `[statement]` sources: their columns come from running them (SHOW statements,
    // which are cheap and have no side effects).
    let mut sources = Vec::new();
    for src in &q.sources {
        let r = Box::pin(ctx.run(src)).await?;
        let cols = r
            .columns
            .iter()
            .map(|c| super::plan::ScopeCol::new(c.name.clone(), c.ty.clone()))
            .collect();
        sources.push(super::compile::Resolved::Virtual {
            cols,
            rows: std::sync::Arc::new(Vec::new()),
        });
    }
    let (_, c) = ctx.plan_query_with(&q.query, sources).await?;
    Ok(visible(c, Vec::new()).0)
}

/// An INSERT's RETURNING columns; planning its source on the way infers the placeholder
/// types, which become the statement's.
async fn describe_insert(ctx: &mut StmtCtx<'_>, ins: &ast::Insert) -> Result<Vec<Column>> {
    let names = {
        let mut v = Vec::new();
        if let ast::TableObject::TableName(n) = &ins.table {
            v.push(n.clone());
        }
        if let Some(src) = &ins.source {
            v.extend(super::relation_names_query(src));
        }
        v
    };
    let env = ctx.plan_env(&names).await?;
    let mut p = Planner::with_params(&env, ctx.param_types.clone());
    if let Some(src) = &ins.source {
        let target = insert_target_types(&env, ins);
        if let ast::SetExpr::Values(v) = src.body.as_ref() {
            p.plan_values(v, Some(&target))?;
        } else {
            p.plan_query(src)?;
        }
    }
    ctx.param_types = p.params.clone();
    if let Some(items) = &ins.returning
        && let ast::TableObject::TableName(n) = &ins.table
        && let Some(super::compile::Resolved::Table(t)) =
            env.tables.get(&super::compile::object_key(n))
    {
        let scope = super::ddl::table_scope(t);
        return returning_cols(&mut p, items, &scope);
    }
    Ok(Vec::new())
}

/// The types of the columns an INSERT names (its table's visible columns when it names
/// none; those it does not know are left out), or none when the table did not resolve.
fn insert_target_types(env: &PlanEnv, ins: &ast::Insert) -> Vec<Type> {
    let ast::TableObject::TableName(n) = &ins.table else {
        return Vec::new();
    };
    let Some(super::compile::Resolved::Table(t)) = env.tables.get(&super::compile::object_key(n))
    else {
        return Vec::new();
    };
    let targets: Vec<&ColumnDesc> = if ins.columns.is_empty() {
        t.columns.iter().filter(|c| !c.hidden).collect()
    } else {
        ins.columns
            .iter()
            .filter_map(|c| t.column_by_name(object_parts(c).last().map_or("", |s| s.as_str())))
            .collect()
    };
    targets.iter().map(|c| c.ty.clone()).collect()
}

/// An UPDATE's RETURNING columns; compiling its assignments and WHERE on the way infers
/// the placeholder types, which become the statement's.
async fn describe_update(ctx: &mut StmtCtx<'_>, u: &ast::Update) -> Result<Vec<Column>> {
    let ast::TableFactor::Table { name, .. } = &u.table.relation else {
        return Ok(Vec::new());
    };
    let env = ctx.plan_env(std::slice::from_ref(name)).await?;
    let mut p = Planner::with_params(&env, ctx.param_types.clone());
    if let Some(super::compile::Resolved::Table(t)) =
        env.tables.get(&super::compile::object_key(name))
    {
        let scope = super::ddl::table_scope(t);
        for a in &u.assignments {
            if let ast::AssignmentTarget::ColumnName(c) = &a.target
                && let Some(col) =
                    t.column_by_name(object_parts(c).last().map_or("", |s| s.as_str()))
            {
                let (e, et) = p.compile(&a.value, &scope, &mut None)?;
                p.coerce(e, &et, &col.ty)?;
            }
        }
        return where_and_returning(ctx, &mut p, &scope, u.selection.as_ref(), &u.returning);
    }
    Ok(Vec::new())
}

/// A DELETE's RETURNING columns; compiling its WHERE on the way infers the placeholder
/// types, which become the statement's.
async fn describe_delete(ctx: &mut StmtCtx<'_>, d: &ast::Delete) -> Result<Vec<Column>> {
    let from = match &d.from {
        ast::FromTable::WithFromKeyword(f) | ast::FromTable::WithoutKeyword(f) => f,
    };
    let Some(ast::TableFactor::Table { name, .. }) = from.first().map(|f| &f.relation) else {
        return Ok(Vec::new());
    };
    let env = ctx.plan_env(std::slice::from_ref(name)).await?;
    let mut p = Planner::with_params(&env, ctx.param_types.clone());
    if let Some(super::compile::Resolved::Table(t)) =
        env.tables.get(&super::compile::object_key(name))
    {
        let scope = super::ddl::table_scope(t);
        return where_and_returning(ctx, &mut p, &scope, d.selection.as_ref(), &d.returning);
    }
    Ok(Vec::new())
}

/// For UPDATE and DELETE: compiles the WHERE over the table's `scope` (its placeholder types,
/// with those inferred before, become the statement's), then the RETURNING columns.
fn where_and_returning(
    ctx: &mut StmtCtx<'_>,
    p: &mut Planner<'_>,
    scope: &[super::plan::ScopeCol],
    selection: Option<&ast::Expr>,
    returning: &Option<Vec<ast::SelectItem>>,
) -> Result<Vec<Column>> {
    if let Some(w) = selection {
        p.compile(w, scope, &mut None)?;
    }
    ctx.param_types = p.params.clone();
    match returning {
        Some(items) => returning_cols(p, items, scope),
        None => Ok(Vec::new()),
    }
}

fn returning_cols(
    p: &mut Planner<'_>,
    items: &[ast::SelectItem],
    scope: &[super::plan::ScopeCol],
) -> Result<Vec<Column>> {
    let mut out = Vec::new();
    for item in items {
        match item {
            ast::SelectItem::Wildcard(_) => out.extend(
                scope
                    .iter()
                    .filter(|c| !c.hidden)
                    .map(|c| Column::new(c.name.clone(), c.ty.clone())),
            ),
            ast::SelectItem::UnnamedExpr(e) => {
                let (_, t) = p.compile(e, scope, &mut None)?;
                out.push(Column::new(e.to_string(), t));
            }
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                let (_, t) = p.compile(expr, scope, &mut None)?;
                out.push(Column::new(super::compile::ident(alias), t));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Known cluster settings with their defaults.
pub const CLUSTER_SETTINGS: &[(&str, &str, &str)] = &[
    ("kv.rangefeed.enabled", "false", "b"),
    ("kv.closed_timestamp.target_duration", "3s", "d"),
    ("cluster.organization", "", "s"),
    ("enterprise.license", "", "s"),
    ("server.time_until_store_dead", "5m0s", "d"),
    ("sql.defaults.distsql", "auto", "e"),
    ("sql.stats.automatic_collection.enabled", "true", "b"),
    ("kv.range_split.by_load_enabled", "true", "b"),
    ("diagnostics.reporting.enabled", "true", "b"),
    ("version", "23.1", "m"),
    ("bulkio.backup.file_size", "128 MiB", "z"),
    ("changefeed.frontier_checkpoint_frequency", "10s", "d"),
    ("jobs.registry.interval.adopt", "30s", "d"),
    ("server.shutdown.drain_wait", "0s", "d"),
];

fn setting_known(name: &str) -> bool {
    CLUSTER_SETTINGS.iter().any(|(n, _, _)| *n == name)
        || name.starts_with("sql.")
        || name.starts_with("kv.")
        || name.starts_with("server.")
        || name.starts_with("changefeed.")
        || name.starts_with("bulkio.")
        || name.starts_with("jobs.")
        || name.starts_with("cluster.")
}

/// `SET CLUSTER SETTING`, persisted in KV.
pub async fn set_cluster_setting(
    ctx: &mut StmtCtx<'_>,
    s: &SetClusterSetting,
) -> Result<StatementResult> {
    if !setting_known(&s.name) {
        return Err(SqlError::new(
            errcode::UNDEFINED_OBJECT,
            format!("unknown cluster setting '{}'", s.name),
        ));
    }
    let memberships = users::Memberships::read(&ctx.reader).await?;
    let grants = users::Grants::system(&ctx.reader).await?;
    if !["MODIFYCLUSTERSETTING", "MODIFYSQLCLUSTERSETTING"]
        .iter()
        .any(|p| grants.holds(&memberships, &ctx.user, p))
    {
        return Err(SqlError::new(
            errcode::INSUFFICIENT_PRIVILEGE,
            format!(
                "only users with MODIFYCLUSTERSETTING or MODIFYSQLCLUSTERSETTING privileges \
                 are allowed to set cluster setting '{}'",
                s.name
            ),
        ));
    }
    let txn = ctx.txn()?;
    match &s.value {
        None => txn.delete(&setting_key(&s.name)).await?,
        Some(e) => {
            let env = PlanEnv::default();
            let mut p = Planner::new(&env);
            let (x, _) = p.compile(e, &[], &mut None)?;
            super::expr::no_subquery(&x, "SET CLUSTER SETTING")?;
            let v = super::expr::eval(
                &x,
                &super::expr::EvalCtx {
                    params: &ctx.params,
                    outer: &[],
                    env: &ctx.env,
                },
                &[],
            )?;
            let text = match v {
                Datum::Bool(b) => b.to_string(),
                Datum::Null => String::new(),
                other => other.to_string(),
            };
            if text.is_empty() || text.eq_ignore_ascii_case("default") {
                txn.delete(&setting_key(&s.name)).await?;
            } else {
                txn.put(&setting_key(&s.name), text.into_bytes()).await?;
            }
        }
    }
    Ok(StatementResult::tag("SET CLUSTER SETTING"))
}

async fn cluster_setting(ctx: &StmtCtx<'_>, name: &str) -> Result<String> {
    if let Some(v) = ctx.reader.get(&setting_key(name)).await? {
        return Ok(String::from_utf8_lossy(&v).to_string());
    }
    Ok(CLUSTER_SETTINGS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, d, _)| d.to_string())
        .unwrap_or_default())
}

/// Every SHOW except session variables.
pub async fn show(ctx: &mut StmtCtx<'_>, show: &Show) -> Result<StatementResult> {
    match show {
        Show::Users => super::roles::show_users(ctx).await,
        Show::SystemGrants { grantees } => super::roles::show_system_grants(ctx, grantees).await,
        Show::ConnectionGrants { name } => {
            let name = name.text(&ctx.params)?;
            super::roles::show_connection_grants(ctx, &name).await
        }
        Show::Databases { .. } => show_databases(ctx).await,
        Show::Tables { from, .. } => show_tables(ctx, from.as_ref()).await,
        Show::Columns { table, .. } => {
            let t = ctx.table(&names(table)).await?;
            show_columns(&t)
        }
        Show::Indexes { table, .. } => {
            let t = ctx.table(&names(table)).await?;
            Ok(show_indexes(&t))
        }
        Show::Create { kind, name } => match kind {
            Some(crate::parser::CreateKind::Database) => {
                let db = ctx.database_or_err(&names(name).join(".")).await?;
                Ok(StatementResult::rows(
                    cols(&[
                        ("database_name", Type::String),
                        ("create_statement", Type::String),
                    ]),
                    vec![vec![
                        s(db.name.clone()),
                        s(crate::multiregion::create_database_text(&db)),
                    ]],
                ))
            }
            _ => {
                let t = ctx.table(&names(name)).await?;
                let text = create_table_text(ctx, &t).await?;
                Ok(StatementResult::rows(
                    cols(&[
                        ("table_name", Type::String),
                        ("create_statement", Type::String),
                    ]),
                    vec![vec![s(t.name.clone()), s(text)]],
                ))
            }
        },
        Show::ClusterSetting { name } => {
            if !setting_known(name) {
                return Err(SqlError::new(
                    errcode::UNDEFINED_OBJECT,
                    format!("unknown setting: \"{name}\""),
                ));
            }
            let v = cluster_setting(ctx, name).await?;
            let datum = match v.as_str() {
                "true" => Datum::Bool(true),
                "false" => Datum::Bool(false),
                _ => s(v),
            };
            let ty = datum.natural_type();
            Ok(StatementResult::rows(
                vec![Column::new(name.clone(), ty)],
                vec![vec![datum]],
            ))
        }
        Show::ClusterSettings { .. } => {
            let mut rows = Vec::new();
            for (n, _, t) in CLUSTER_SETTINGS {
                rows.push(vec![
                    s(*n),
                    s(cluster_setting(ctx, n).await?),
                    s(*t),
                    Datum::Bool(true),
                    s(""),
                ]);
            }
            Ok(StatementResult::rows(
                cols(&[
                    ("variable", Type::String),
                    ("value", Type::String),
                    ("setting_type", Type::String),
                    ("public", Type::Bool),
                    ("description", Type::String),
                ]),
                rows,
            ))
        }
        Show::Jobs(j) => Box::pin(super::jobs::show_jobs(ctx, j)).await,
        Show::Locality => Ok(StatementResult::rows(
            cols(&[("locality", Type::String)]),
            vec![vec![s(ctx.server.node.locality().to_string())]],
        )),
        Show::Regions(_)
        | Show::SurvivalGoal { .. }
        | Show::ZoneConfiguration(_)
        | Show::ZoneConfigurations
        | Show::Ranges { .. } => crate::multiregion::show(ctx, show).await,
        // As a `[SHOW ...]` data source; the statement itself is answered by the session.
        Show::Var { name } => show_var_of(ctx.vars, &ctx.user, None, name),
        other => Err(SqlError::unimplemented(format!(
            "{other} is not available yet"
        ))),
    }
}

fn names(q: &crate::parser::QualifiedName) -> Vec<String> {
    q.0.iter().map(|n| n.as_str().to_string()).collect()
}

async fn show_databases(ctx: &StmtCtx<'_>) -> Result<StatementResult> {
    let mut rows = Vec::new();
    for (name, id) in ctx.server.catalog.list(&ctx.reader, 0, 0).await? {
        let Some(Descriptor::Database(db)) = ctx.desc(id).await?.as_deref().cloned() else {
            continue;
        };
        let regions = Datum::Array(db.regions.iter().map(|r| s(r.clone())).collect());
        let survival = if db.is_multi_region() {
            s(match db.survival_goal {
                SurvivalGoal::Zone => "zone",
                SurvivalGoal::Region => "region",
            })
        } else {
            Datum::Null
        };
        rows.push(vec![
            s(name),
            s(if db.id == SYSTEM_DB_ID {
                "node"
            } else {
                "root"
            }),
            db.primary_region.clone().map_or(Datum::Null, s),
            Datum::Null,
            regions,
            survival,
        ]);
    }
    Ok(StatementResult::rows(
        cols(&[
            ("database_name", Type::String),
            ("owner", Type::String),
            ("primary_region", Type::String),
            ("secondary_region", Type::String),
            ("regions", Type::Array(Box::new(Type::String))),
            ("survival_goal", Type::String),
        ]),
        rows,
    ))
}

async fn show_tables(
    ctx: &StmtCtx<'_>,
    from: Option<&crate::parser::QualifiedName>,
) -> Result<StatementResult> {
    let (db_name, schema_filter) = match from.map(names).as_deref() {
        None => (ctx.database.clone(), None),
        Some([d]) => {
            // A schema of the current database, or a database.
            let cur = ctx.database(&ctx.database).await?;
            match cur {
                Some(c) if ctx.schema(&c, d).await?.is_some() => {
                    (ctx.database.clone(), Some(d.clone()))
                }
                _ => (d.clone(), None),
            }
        }
        Some([d, sc]) => (d.clone(), Some(sc.clone())),
        Some(_) => return Err(SqlError::syntax("invalid SHOW TABLES target")),
    };
    let db = ctx.database_or_err(&db_name).await?;
    let mut rows = Vec::new();
    for (sname, sid) in ctx.server.catalog.list(&ctx.reader, db.id, 0).await? {
        if schema_filter.as_ref().is_some_and(|f| *f != sname) {
            continue;
        }
        for (tname, tid) in ctx.server.catalog.list(&ctx.reader, db.id, sid).await? {
            let Some(Descriptor::Table(t)) = ctx.desc(tid).await?.as_deref().cloned() else {
                continue;
            };
            let locality = crate::multiregion::locality_text(&t, &db);
            rows.push(vec![
                s(sname.clone()),
                s(tname),
                s("table"),
                s("root"),
                Datum::Int(0),
                locality.map_or(Datum::Null, s),
            ]);
        }
    }
    Ok(StatementResult::rows(
        cols(&[
            ("schema_name", Type::String),
            ("table_name", Type::String),
            ("type", Type::String),
            ("owner", Type::String),
            ("estimated_row_count", Type::Int8),
            ("locality", Type::String),
        ]),
        rows,
    ))
}

fn show_columns(t: &TableDesc) -> Result<StatementResult> {
    let mut rows = Vec::new();
    for c in &t.columns {
        let mut names: Vec<String> = t
            .all_indexes()
            .filter(|i| {
                i.columns.contains(&c.id) || i.stored.contains(&c.id) || i.id == PRIMARY_INDEX_ID
            })
            .map(|i| i.name.clone())
            .collect();
        names.sort();
        let indices: Vec<Datum> = names.into_iter().map(s).collect();
        rows.push(vec![
            s(c.name.clone()),
            s(c.ty.sql_name()),
            Datum::Bool(c.nullable),
            c.default.clone().map_or(Datum::Null, s),
            s(c.computed.clone().unwrap_or_default()),
            Datum::Array(indices),
            Datum::Bool(c.hidden),
        ]);
    }
    Ok(StatementResult::rows(
        cols(&[
            ("column_name", Type::String),
            ("data_type", Type::String),
            ("is_nullable", Type::Bool),
            ("column_default", Type::String),
            ("generation_expression", Type::String),
            ("indices", Type::Array(Box::new(Type::String))),
            ("is_hidden", Type::Bool),
        ]),
        rows,
    ))
}

fn show_indexes(t: &TableDesc) -> StatementResult {
    let mut rows = Vec::new();
    for idx in t.all_indexes() {
        let mut seq = 0;
        let name_of = |id: &ColumnId| t.column(*id).map(|c| c.name.clone()).unwrap_or_default();
        for (i, id) in idx.columns.iter().enumerate() {
            seq += 1;
            let desc = idx.descending.get(i).copied().unwrap_or(false);
            rows.push(vec![
                s(t.name.clone()),
                s(idx.name.clone()),
                Datum::Bool(!idx.unique),
                Datum::Int(seq),
                s(name_of(id)),
                s(if desc { "DESC" } else { "ASC" }),
                Datum::Bool(false),
                Datum::Bool(false),
                Datum::Bool(true),
            ]);
        }
        let mut extra: Vec<(ColumnId, bool)> = Vec::new();
        if idx.id == PRIMARY_INDEX_ID {
            extra.extend(
                t.columns
                    .iter()
                    .filter(|c| !idx.columns.contains(&c.id))
                    .map(|c| (c.id, true)),
            );
        } else {
            extra.extend(idx.stored.iter().map(|c| (*c, true)));
            extra.extend(
                t.primary_index
                    .columns
                    .iter()
                    .filter(|c| !idx.columns.contains(c) && !idx.stored.contains(c))
                    .map(|c| (*c, false)),
            );
        }
        for (id, storing) in extra {
            seq += 1;
            rows.push(vec![
                s(t.name.clone()),
                s(idx.name.clone()),
                Datum::Bool(!idx.unique),
                Datum::Int(seq),
                s(name_of(&id)),
                s("N/A"),
                Datum::Bool(storing),
                Datum::Bool(!storing),
                Datum::Bool(true),
            ]);
        }
    }
    StatementResult::rows(
        cols(&[
            ("table_name", Type::String),
            ("index_name", Type::String),
            ("non_unique", Type::Bool),
            ("seq_in_index", Type::Int8),
            ("column_name", Type::String),
            ("direction", Type::String),
            ("storing", Type::Bool),
            ("implicit", Type::Bool),
            ("visible", Type::Bool),
        ]),
        rows,
    )
}

fn index_cols(t: &TableDesc, idx: &IndexDesc) -> String {
    idx.columns
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let n = t.column(*id).map(|c| c.name.clone()).unwrap_or_default();
            let d = if idx.descending.get(i).copied().unwrap_or(false) {
                "DESC"
            } else {
                "ASC"
            };
            format!("{} {d}", crate::parser::Name::new(n))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `SHOW CREATE TABLE` text, CockroachDB's layout.
pub async fn create_table_text(ctx: &StmtCtx<'_>, t: &TableDesc) -> Result<String> {
    let mut lines = Vec::new();
    for c in &t.columns {
        let mut l = format!(
            "\t{} {}",
            crate::parser::Name::new(c.name.clone()),
            c.ty.sql_name()
        );
        if let Some(comp) = &c.computed {
            l.push_str(&format!(" AS ({comp}) STORED"));
        }
        l.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
        if let Some(d) = &c.default {
            l.push_str(&format!(" DEFAULT {d}"));
        }
        if c.hidden {
            l.push_str(" NOT VISIBLE");
        }
        lines.push(l);
    }
    lines.push(format!(
        "\tCONSTRAINT {} PRIMARY KEY ({})",
        t.primary_index.name,
        index_cols(t, &t.primary_index)
    ));
    for fk in &t.foreign_keys {
        let parent = ctx
            .table_by_id(fk.ref_table)
            .await
            .map(|p| (*p).clone())
            .unwrap_or_else(|_| t.clone());
        let cols_of = |tab: &TableDesc, ids: &[ColumnId]| {
            ids.iter()
                .filter_map(|i| tab.column(*i).map(|c| c.name.clone()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut l = format!(
            "\tCONSTRAINT {} FOREIGN KEY ({}) REFERENCES public.{}({})",
            fk.name,
            cols_of(t, &fk.columns),
            parent.name,
            cols_of(&parent, &fk.ref_columns)
        );
        match fk.on_delete {
            FkAction::Cascade => l.push_str(" ON DELETE CASCADE"),
            FkAction::SetNull => l.push_str(" ON DELETE SET NULL"),
            FkAction::SetDefault => l.push_str(" ON DELETE SET DEFAULT"),
            FkAction::Restrict => {}
        }
        lines.push(l);
    }
    for idx in &t.indexes {
        let mut l = format!(
            "\t{}INDEX {} ({})",
            if idx.unique { "UNIQUE " } else { "" },
            idx.name,
            index_cols(t, idx)
        );
        if !idx.stored.is_empty() {
            let st: Vec<String> = idx
                .stored
                .iter()
                .filter_map(|i| t.column(*i).map(|c| c.name.clone()))
                .collect();
            l.push_str(&format!(" STORING ({})", st.join(", ")));
        }
        lines.push(l);
    }
    for ch in &t.checks {
        lines.push(format!("\tCONSTRAINT {} CHECK ({})", ch.name, ch.expr));
    }
    let schema = match ctx.desc(t.schema_id).await?.as_deref() {
        Some(Descriptor::Schema(sc)) => sc.name.clone(),
        _ => "public".into(),
    };
    let mut text = format!(
        "CREATE TABLE {}.{} (\n{}\n)",
        schema,
        crate::parser::Name::new(t.name.clone()),
        lines.join(",\n")
    );
    if let Some(l) = crate::multiregion::locality_clause(t) {
        text.push_str(&format!(" {l}"));
    }
    Ok(text)
}

/// The result columns of BACKUP and RESTORE: `job_id` alone when detached, else
/// `job_id, status, fraction_completed, rows, index_entries, bytes`.
pub fn job_result_columns(detached: bool) -> Vec<Column> {
    if detached {
        return vec![Column::new("job_id", Type::Int8)];
    }
    vec![
        Column::new("job_id", Type::Int8),
        Column::new("status", Type::String),
        Column::new("fraction_completed", Type::Float8),
        Column::new("rows", Type::Int8),
        Column::new("index_entries", Type::Int8),
        Column::new("bytes", Type::Int8),
    ]
}
