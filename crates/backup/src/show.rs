//! `SHOW BACKUPS IN collection` and `SHOW BACKUP [FROM] {LATEST | 'subdir'} IN collection`.
//!
//! SHOW BACKUPS lists the complete full backups (one column, `path`, like
//! `/2023/06/01-123456.78`). SHOW BACKUP prints one row per database, schema, type and table
//! of every layer of the chain, with CockroachDB v23.1's columns (§4.5 of the reference):
//! `database_name, parent_schema_name, object_name, object_type, backup_type, start_time,
//! end_time, size_bytes, rows, is_full_cluster, regions`.

use base::Timestamp;
use futures::future::BoxFuture;
use sql::catalog::Descriptor;
use sql::parser::{Show, ShowBackupDetails, ShowBackupSource};
use sql::session::{Column, HookContext, StatementHook, StatementResult};
use sql::{Datum, SqlError, Statement, Type};

use crate::collection;
use crate::env::{Env, table_span, uri_texts};
use crate::error::{BackupError, Result};
use crate::manifest::{BackupType, Manifest};

/// Executes SHOW BACKUP and SHOW BACKUPS.
pub struct ShowBackupHook {
    /// This node.
    pub env: Env,
}

impl StatementHook for ShowBackupHook {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move { show(&self.env, &ctx, stmt).await.map_err(SqlError::from) })
    }
}

async fn show(env: &Env, ctx: &HookContext, stmt: &Statement) -> Result<StatementResult> {
    let Statement::Show(s) = stmt else {
        return Err(BackupError::Internal("not a SHOW statement".into()));
    };
    match s.as_ref() {
        Show::Backups { collection } => {
            let uris = uri_texts(&collection.0, &ctx.params)?;
            let dests = collection::parse_destinations(&uris)?;
            let storage = env.open(dests.default_uri()).await?;
            let rows = collection::list_full_backups(storage.as_ref())
                .await?
                .into_iter()
                .map(|p| vec![Datum::String(p)])
                .collect();
            Ok(StatementResult::rows(
                vec![Column::new("path", Type::String)],
                rows,
            ))
        }
        Show::Backup(b) => {
            if b.details != ShowBackupDetails::Objects {
                return Err(
                    SqlError::unimplemented("SHOW BACKUP SCHEMAS/FILES/RANGES/VALIDATE").into(),
                );
            }
            if !b.options.is_empty() {
                return Err(SqlError::unimplemented("SHOW BACKUP options").into());
            }
            let ShowBackupSource::InCollection { subdir, collection } = &b.source else {
                return Err(SqlError::unimplemented(
                    "SHOW BACKUP 'uri' without IN; use SHOW BACKUP FROM LATEST IN 'collection'",
                )
                .into());
            };
            let uris = uri_texts(&collection.0, &ctx.params)?;
            let dests = collection::parse_destinations(&uris)?;
            let chain = crate::restore::read_chain(env, &dests, subdir, &ctx.params).await?;
            let mut rows = Vec::new();
            for m in &chain {
                rows.extend(layer_rows(m));
            }
            Ok(StatementResult::rows(columns(), rows))
        }
        _ => Err(BackupError::Internal("not a SHOW BACKUP statement".into())),
    }
}

/// SHOW BACKUP's columns.
pub fn columns() -> Vec<Column> {
    vec![
        Column::new("database_name", Type::String),
        Column::new("parent_schema_name", Type::String),
        Column::new("object_name", Type::String),
        Column::new("object_type", Type::String),
        Column::new("backup_type", Type::String),
        Column::new("start_time", Type::TimestampTz),
        Column::new("end_time", Type::TimestampTz),
        Column::new("size_bytes", Type::Int8),
        Column::new("rows", Type::Int8),
        Column::new("is_full_cluster", Type::Bool),
        Column::new("regions", Type::String),
    ]
}

fn time(t: Timestamp) -> Datum {
    Datum::TimestampTz(chrono::DateTime::from_timestamp_nanos(t.wall))
}

fn opt(s: Option<String>) -> Datum {
    s.map_or(Datum::Null, Datum::String)
}

/// The `ALTER DATABASE ...` statements of a multi-region database.
pub fn regions_text(db: &sql::catalog::DatabaseDesc) -> Option<String> {
    let primary = db.primary_region.as_ref()?;
    let mut s = format!(
        "ALTER DATABASE {} SET PRIMARY REGION \"{primary}\";",
        db.name
    );
    for r in db.regions.iter().filter(|r| *r != primary) {
        s.push_str(&format!(" ALTER DATABASE {} ADD REGION \"{r}\";", db.name));
    }
    Some(s)
}

/// The rows of one layer.
pub fn layer_rows(m: &Manifest) -> Vec<Vec<Datum>> {
    let name_of = |id: u64| -> Option<String> {
        m.descriptor(id).map(|d| match d {
            Descriptor::Database(x) => x.name.clone(),
            Descriptor::Schema(x) => x.name.clone(),
            Descriptor::Table(x) => x.name.clone(),
            Descriptor::Type(x) => x.name.clone(),
        })
    };
    let start = match m.backup_type {
        BackupType::Full => Datum::Null,
        BackupType::Incremental => time(m.start_time),
    };
    let row = |db: Option<String>,
               schema: Option<String>,
               name: String,
               kind: &str,
               size: Datum,
               rows: Datum,
               regions: Option<String>| {
        vec![
            opt(db),
            opt(schema),
            Datum::String(name),
            Datum::String(kind.into()),
            Datum::String(m.backup_type.as_str().into()),
            start.clone(),
            time(m.end_time),
            size,
            rows,
            Datum::Bool(m.full_cluster),
            opt(regions),
        ]
    };
    let mut out = Vec::new();
    for d in &m.descriptors {
        out.push(match d {
            Descriptor::Database(x) => row(
                None,
                None,
                x.name.clone(),
                "database",
                Datum::Null,
                Datum::Null,
                regions_text(x),
            ),
            Descriptor::Schema(x) => row(
                name_of(x.parent_id),
                None,
                x.name.clone(),
                "schema",
                Datum::Null,
                Datum::Null,
                None,
            ),
            Descriptor::Type(x) => row(
                name_of(x.parent_id),
                name_of(x.schema_id),
                x.name.clone(),
                "type",
                Datum::Null,
                Datum::Null,
                None,
            ),
            Descriptor::Table(x) => {
                let span = table_span(x.id);
                let (size, rows) = m
                    .files
                    .iter()
                    .filter(|f| span.intersect(&f.span).is_some())
                    .fold((0u64, 0u64), |(s, r), f| (s + f.bytes, r + f.rows));
                row(
                    name_of(x.parent_id),
                    name_of(x.schema_id),
                    x.name.clone(),
                    "table",
                    Datum::Int(size as i64),
                    Datum::Int(rows as i64),
                    None,
                )
            }
        });
    }
    out
}
