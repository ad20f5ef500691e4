//! Statement execution: from a parsed [`Statement`] to a [`StatementResult`].
//!
//! # The life of a statement
//!
//! 1. `session::Session::execute` parses the text and, per statement, picks the KV transaction:
//!    the session's explicit one, or a fresh implicit one retried on 40001 errors.
//! 2. [`StmtCtx::run`] dispatches on the statement kind.
//! 3. For a query or DML statement, [`StmtCtx::plan_env`] resolves every table name the
//!    statement mentions (through the per-node catalog cache) and materialises the virtual
//!    tables it reads (`pg_catalog`, `information_schema`, `crdb_internal`).
//! 4. [`compile::Planner`] turns the AST into a [`plan::Plan`] with typed expressions; the
//!    scan access path (point Get, span, index) is chosen from the WHERE clause.
//! 5. [`run::Executor`] runs the plan over KV ([`Reader`]); DML (`dml`) then writes primary
//!    and secondary index entries with the row encoding of `crate::encoding`, checking
//!    constraints; DDL (`ddl`) writes descriptors through `crate::catalog`.
//! 6. After commit, the session performs what must follow a schema change: range splits at
//!    new tables, cache invalidation.

pub mod agg;
pub mod builtins;
pub mod compile;
pub mod ddl;
pub mod dml;
pub mod expr;
#[cfg(test)]
mod golden;
pub mod jobs;
pub mod plan;
pub mod regex;
pub mod roles;
pub mod run;
pub mod show;
pub mod vtable;

use std::collections::HashMap;
use std::sync::Arc;

use base::{Key, errcode};
use sqlparser::ast;

use crate::catalog::{DatabaseDesc, Descriptor, SchemaDesc, TableDesc, TypeDesc};
use crate::error::{Result, SqlError};
use crate::kvio::Reader;
use crate::parser::Statement;
use crate::session::{Column, ServerInner, StatementResult};
use crate::types::{Datum, Type};
use compile::{PlanEnv, Resolved, object_parts};
use expr::EvalEnv;
use plan::ScopeCol;

/// How far behind now `follower_read_timestamp()` reads: CockroachDB's 4.8 s.
pub const FOLLOWER_READ_LAG_MS: i64 = 4_800;

/// Work to do after the transaction commits.
#[derive(Clone, Debug)]
pub enum PostCommit {
    /// Split a range at a new table's prefix.
    Split(Key),
}

/// The context of one statement: its transaction, session facts, and what it changed.
pub struct StmtCtx<'a> {
    /// The server.
    pub server: &'a ServerInner,
    /// The reader (the transaction, or a historical snapshot).
    pub reader: Reader,
    /// The current database.
    pub database: String,
    /// The user.
    pub user: String,
    /// Read descriptors through the transaction (it changed the schema).
    pub uncached: bool,
    /// Set when this statement changed the schema.
    pub ddl: bool,
    /// Work after commit.
    pub post_commit: Vec<PostCommit>,
    /// Builtin facts.
    pub env: EvalEnv,
    /// Placeholder values.
    pub params: Vec<Datum>,
    /// Placeholder types given by the client or inferred.
    pub param_types: Vec<Type>,
    /// Notices for the client.
    pub notices: Vec<String>,
    /// Session variables (read by SHOW and some builtins).
    pub vars: &'a std::collections::BTreeMap<String, String>,
}

/// A fully resolved table name.
pub struct TableName {
    /// The database.
    pub db: Arc<DatabaseDesc>,
    /// The schema id.
    pub schema_id: u64,
    /// The schema name.
    pub schema: String,
    /// The object name.
    pub name: String,
}

impl<'a> StmtCtx<'a> {
    /// The transaction (an error under AS OF SYSTEM TIME).
    pub fn txn(&self) -> Result<Arc<kv::Txn>> {
        Ok(self.reader.txn()?.clone())
    }

    /// A descriptor by id.
    pub async fn desc(&self, id: u64) -> Result<Option<Arc<Descriptor>>> {
        self.server
            .catalog
            .get(&self.reader, id, self.uncached)
            .await
    }

    /// A database by name.
    pub async fn database(&self, name: &str) -> Result<Option<Arc<DatabaseDesc>>> {
        let Some(id) = self
            .server
            .catalog
            .lookup(&self.reader, 0, 0, name, self.uncached)
            .await?
        else {
            return Ok(None);
        };
        Ok(match self.desc(id).await?.as_deref() {
            Some(Descriptor::Database(d)) => Some(Arc::new(d.clone())),
            _ => None,
        })
    }

    /// A database by name, or 3D000.
    pub async fn database_or_err(&self, name: &str) -> Result<Arc<DatabaseDesc>> {
        self.database(name)
            .await?
            .ok_or_else(|| SqlError::undefined_database(name))
    }

    /// A schema of a database by name.
    pub async fn schema(&self, db: &DatabaseDesc, name: &str) -> Result<Option<SchemaDesc>> {
        let Some(id) = self
            .server
            .catalog
            .lookup(&self.reader, db.id, 0, name, self.uncached)
            .await?
        else {
            return Ok(None);
        };
        Ok(match self.desc(id).await?.as_deref() {
            Some(Descriptor::Schema(s)) => Some(s.clone()),
            _ => None,
        })
    }

    /// Resolves `[db.][schema.]name` for creating or finding an object.
    pub async fn table_name(&self, parts: &[String]) -> Result<TableName> {
        let (db_name, schema_name, name) = match parts {
            [n] => (self.database.clone(), "public".to_string(), n.clone()),
            [s, n] => {
                // `schema.t` in the current database, else `db.t` (public schema).
                let cur = self.database(&self.database).await?;
                let is_schema = match &cur {
                    Some(db) => self.schema(db, s).await?.is_some(),
                    None => false,
                };
                if is_schema {
                    (self.database.clone(), s.clone(), n.clone())
                } else {
                    (s.clone(), "public".to_string(), n.clone())
                }
            }
            [d, s, n] => (d.clone(), s.clone(), n.clone()),
            _ => {
                return Err(SqlError::syntax(format!(
                    "invalid name {}",
                    parts.join(".")
                )));
            }
        };
        if db_name.is_empty() {
            return Err(SqlError::new(
                errcode::UNDEFINED_DATABASE,
                "no database or schema specified",
            )
            .with_hint("use SET database = <dbname>"));
        }
        let db = self.database_or_err(&db_name).await?;
        let schema = self.schema(&db, &schema_name).await?.ok_or_else(|| {
            SqlError::new(
                errcode::INVALID_SCHEMA_NAME,
                format!("cannot create \"{}\" because the target database or schema does not exist", parts.join(".")),
            )
            .with_hint("verify that the current database and search_path are valid and/or the target database exists")
        })?;
        Ok(TableName {
            db,
            schema_id: schema.id,
            schema: schema_name,
            name,
        })
    }

    /// Finds a table by its (possibly qualified) name; `None` when it does not exist.
    pub async fn find_table(&self, parts: &[String]) -> Result<Option<Arc<TableDesc>>> {
        let tn = match self.table_name(parts).await {
            Ok(tn) => tn,
            Err(e)
                if e.code() == errcode::UNDEFINED_DATABASE
                    || e.code() == errcode::INVALID_SCHEMA_NAME =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let Some(id) = self
            .server
            .catalog
            .lookup(
                &self.reader,
                tn.db.id,
                tn.schema_id,
                &tn.name,
                self.uncached,
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(match self.desc(id).await?.as_deref() {
            Some(Descriptor::Table(t)) => Some(Arc::new(t.clone())),
            _ => None,
        })
    }

    /// A table by name, or 42P01.
    pub async fn table(&self, parts: &[String]) -> Result<Arc<TableDesc>> {
        self.find_table(parts)
            .await?
            .ok_or_else(|| SqlError::undefined_table(&parts.join(".")))
    }

    /// A table by id.
    pub async fn table_by_id(&self, id: u64) -> Result<Arc<TableDesc>> {
        match self.desc(id).await?.as_deref() {
            Some(Descriptor::Table(t)) => Ok(Arc::new(t.clone())),
            _ => Err(SqlError::internal(format!("table {id} not found"))),
        }
    }

    /// User-defined types of the current database, by name (cached per node).
    pub async fn types(&self) -> Result<HashMap<String, Arc<TypeDesc>>> {
        let Some(db) = self.database(&self.database).await? else {
            return Ok(HashMap::new());
        };
        self.types_in(db.id).await
    }

    /// The user-defined types of the database with id `db_id`, by name.
    pub async fn types_in(&self, db_id: u64) -> Result<HashMap<String, Arc<TypeDesc>>> {
        if !self.uncached
            && let Some(t) = self.server.catalog.cached_types(db_id)
        {
            return Ok((*t).clone());
        }
        let generation = self.server.catalog.generation();
        let mut out = HashMap::new();
        for (sname, sid) in self.server.catalog.list(&self.reader, db_id, 0).await? {
            let _ = sname;
            for (name, id) in self.server.catalog.list(&self.reader, db_id, sid).await? {
                if let Some(Descriptor::Type(t)) = self.desc(id).await?.as_deref() {
                    out.insert(name, Arc::new(t.clone()));
                }
            }
        }
        if !self.uncached {
            self.server
                .catalog
                .cache_types(db_id, generation, Arc::new(out.clone()));
        }
        Ok(out)
    }

    /// Resolves every table a statement mentions.
    pub async fn plan_env(&self, names: &[ast::ObjectName]) -> Result<PlanEnv> {
        let mut env = PlanEnv::default();
        for n in names {
            let key = compile::object_key(n);
            if env.tables.contains_key(&key) || env.missing.contains_key(&key) {
                continue;
            }
            let parts = object_parts(n);
            if let Some(v) = vtable::build(self, &parts).await? {
                env.tables.insert(key, v);
                continue;
            }
            match self.find_table(&parts).await {
                Ok(Some(t)) => {
                    env.tables.insert(key, Resolved::Table(t));
                }
                Ok(None) => {
                    env.missing
                        .insert(key.clone(), SqlError::undefined_table(&key));
                }
                Err(e) => {
                    env.missing.insert(key, e);
                }
            }
        }
        if self.database(&self.database).await?.is_some() {
            env.types = self.types().await?;
        }
        Ok(env)
    }

    /// Runs one statement.
    pub async fn run(&mut self, stmt: &Statement) -> Result<StatementResult> {
        match stmt {
            // A hook's statement used as a data source (`SELECT ... FROM [SHOW BACKUP ...]`).
            other if crate::session::HookKind::of(other).is_some() => {
                let hook_ctx = crate::session::HookContext {
                    server: self.server.handle()?,
                    user: self.user.clone(),
                    database: self.database.clone(),
                    params: self.params.clone(),
                };
                Box::pin(crate::session::run_hook(hook_ctx, other)).await
            }
            Statement::Query(q) => {
                let mut sources = Vec::new();
                for src in &q.sources {
                    let r = Box::pin(self.run(src)).await?;
                    let cols = r
                        .columns
                        .iter()
                        .map(|c| ScopeCol::new(c.name.clone(), c.ty.clone()))
                        .collect();
                    sources.push(Resolved::Virtual {
                        cols,
                        rows: Arc::new(r.rows),
                    });
                }
                let (cols, rows) = Box::pin(self.query_with(&q.query, sources)).await?;
                Ok(StatementResult::rows(cols, rows))
            }
            Statement::Insert(i) => Box::pin(dml::insert(self, &i.insert, i.upsert)).await,
            Statement::CreateTable(t) => Box::pin(ddl::create_table(self, t)).await,
            Statement::CreateDatabase(d) => Box::pin(ddl::create_database(self, d)).await,
            Statement::AlterDatabase(a) => {
                Box::pin(crate::multiregion::alter_database(self, a)).await
            }
            Statement::AlterTableLocality(a) => {
                crate::multiregion::alter_table_locality(self, a).await
            }
            Statement::ConfigureZone(z) => {
                Box::pin(crate::multiregion::configure_zone(self, z)).await
            }
            Statement::Explain(e) => Box::pin(show::explain(self, e)).await,
            Statement::Show(s) => Box::pin(show::show(self, s)).await,
            Statement::Role(r) => Box::pin(roles::run(self, r)).await,
            Statement::SetClusterSetting(s) => Box::pin(show::set_cluster_setting(self, s)).await,
            Statement::SplitAt(s) => Box::pin(ddl::split_at(self, s)).await,
            Statement::ControlJobs(c) => Box::pin(jobs::control_jobs(self, c)).await,

            Statement::Standard(s) => Box::pin(self.run_standard(s)).await,
            other => Err(SqlError::unimplemented(format!(
                "{} is not available yet",
                statement_kind(other)
            ))),
        }
    }

    async fn run_standard(&mut self, s: &ast::Statement) -> Result<StatementResult> {
        use ast::Statement as S;
        match s {
            S::Update(u) => Box::pin(dml::update(self, u)).await,
            S::Delete(d) => Box::pin(dml::delete(self, d)).await,
            S::CreateIndex(ci) => Box::pin(ddl::create_index(self, ci)).await,
            S::Drop {
                object_type,
                if_exists,
                names,
                cascade,
                ..
            } => Box::pin(ddl::drop(self, *object_type, *if_exists, names, *cascade)).await,
            S::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => Box::pin(ddl::create_schema(self, schema_name, *if_not_exists)).await,
            S::AlterTable(at) => Box::pin(ddl::alter_table(self, at)).await,
            S::CreateType {
                name,
                representation,
            } => Box::pin(ddl::create_type(self, name, representation.as_ref())).await,
            S::Truncate(t) => Box::pin(ddl::truncate(self, t)).await,
            other => {
                let text = other.to_string();
                let kind: String = text
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                Err(SqlError::unimplemented(format!("statement {kind}")))
            }
        }
    }

    /// Plans and runs a query; returns its visible columns and rows.
    pub async fn query(&mut self, q: &ast::Query) -> Result<(Vec<Column>, Vec<Vec<Datum>>)> {
        self.query_with(q, Vec::new()).await
    }

    /// Plans and runs a query whose `[statement]` sources (named `"[n]"`) are given.
    pub async fn query_with(
        &mut self,
        q: &ast::Query,
        sources: Vec<Resolved>,
    ) -> Result<(Vec<Column>, Vec<Vec<Datum>>)> {
        let (plan, cols) = self.plan_query_with(q, sources).await?;
        let exec = run::Executor::new(self.reader.clone(), &self.params, &self.env);
        let rows = exec.run(&plan, &[]).await?;
        Ok(visible(cols, rows))
    }

    /// Plans a query without running it (EXPLAIN, PREPARE).
    pub async fn plan_query(&mut self, q: &ast::Query) -> Result<(plan::Plan, Vec<ScopeCol>)> {
        self.plan_query_with(q, Vec::new()).await
    }

    /// Plans a query whose `[statement]` sources (named `"[n]"`) are given, without running it.
    pub async fn plan_query_with(
        &mut self,
        q: &ast::Query,
        sources: Vec<Resolved>,
    ) -> Result<(plan::Plan, Vec<ScopeCol>)> {
        let names: Vec<ast::ObjectName> = relation_names_query(q)
            .into_iter()
            .filter(|n| !compile::object_key(n).starts_with('['))
            .collect();
        let mut env = self.plan_env(&names).await?;
        for (i, src) in sources.into_iter().enumerate() {
            env.tables.insert(format!("[{i}]"), src);
        }
        let mut planner = compile::Planner::with_params(&env, self.param_types.clone());
        let out = planner.plan_query(q)?;
        self.param_types = planner.params.clone();
        Ok(out)
    }
}

/// Keeps the visible columns of a result.
pub fn visible(cols: Vec<ScopeCol>, rows: Vec<Vec<Datum>>) -> (Vec<Column>, Vec<Vec<Datum>>) {
    let keep: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.hidden)
        .map(|(i, _)| i)
        .collect();
    let columns = keep
        .iter()
        .map(|i| Column {
            name: cols[*i].name.clone(),
            ty: if cols[*i].ty == Type::Unknown {
                Type::String
            } else {
                cols[*i].ty.clone()
            },
        })
        .collect();
    if keep.len() == cols.len() {
        return (columns, rows);
    }
    let rows = rows
        .into_iter()
        .map(|r| keep.iter().map(|i| r[*i].clone()).collect())
        .collect();
    (columns, rows)
}

/// Every table name a query mentions.
pub fn relation_names_query(q: &ast::Query) -> Vec<ast::ObjectName> {
    let mut out = Vec::new();
    let _ = ast::visit_relations(q, |r| {
        out.push(r.clone());
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// Every table name an expression mentions (subqueries).
pub fn relation_names_expr(e: &ast::Expr) -> Vec<ast::ObjectName> {
    let mut out = Vec::new();
    let _ = ast::visit_relations(e, |r| {
        out.push(r.clone());
        std::ops::ControlFlow::<()>::Continue(())
    });
    out
}

/// A short name of a statement kind for messages.
pub fn statement_kind(s: &Statement) -> &'static str {
    match s {
        Statement::Backup(_) => "BACKUP",
        Statement::Restore(_) => "RESTORE",
        Statement::CreateExternalConnection(_) => "CREATE EXTERNAL CONNECTION",
        Statement::DropExternalConnection(_) => "DROP EXTERNAL CONNECTION",
        Statement::CreateChangefeed(_) => "CREATE CHANGEFEED",
        Statement::AlterChangefeed(_) => "ALTER CHANGEFEED",
        Statement::ControlJobs(_) => "PAUSE/RESUME/CANCEL JOBS",
        Statement::SplitAt(_) => "SPLIT AT",
        _ => "this statement",
    }
}
