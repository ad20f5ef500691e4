//! The SQL side: the [`StatementHook`] for `CREATE CHANGEFEED`, `EXPERIMENTAL CHANGEFEED` and
//! `ALTER CHANGEFEED`, and [`show_changefeed_jobs`] for the jobs hook.
//!
//! CREATE CHANGEFEED checks everything before any job exists: the options, the sink URI (it
//! is opened once: a Kafka broker must answer and its topics are created), the tables, the
//! `cursor` and `end_time`, and the execution locality (no live matching node:
//! `no instances found matching locality filter …`). It then creates the job and returns
//! `job_id`.
//!
//! ALTER CHANGEFEED works on a paused changefeed job only (`job <id> is not paused`). It
//! resolves the statement's tables (`target "TABLE t" does not exist`), applies the commands
//! with [`crate::alter::apply`], and writes the new details, checkpoint and description with
//! `jobs::Registry::update_details`; it returns `job_id` and `job_description`. RESUME runs
//! the altered feed.
//!
//! A sinkless `EXPERIMENTAL CHANGEFEED FOR t` runs in the statement, on the gateway: rows are
//! `(table, key, value)`, resolved messages have NULL table and key. A bounded one (`end_time`
//! or `initial_scan='only'`) returns its rows whole; an unbounded one returns a stream that
//! the connection sends as rows come, until the client goes away.

use std::sync::Arc;

use base::errcode::{self, CodedError};
use base::{Span, Timestamp};
use futures::future::BoxFuture;
use jobs::{JobError, JobRecord, JobType, NewJob};
use sql::catalog::descriptor::{Descriptor, TableDesc};
use sql::error::SqlError;
use sql::parser::{
    AlterChangefeed, AlterChangefeedCommand, ChangefeedTarget, ChangefeedTargets, CreateChangefeed,
    KvOption, OptionValue, Statement,
};
use sql::{Column, Datum, HookContext, HookKind, SqlServer, StatementHook, StatementResult, Type};

use crate::alter::{self, Command};
use crate::encoder::{Encoder, format_hlc};
use crate::frontier::Frontier;
use crate::job::{
    AggregatorSpec, ChangefeedDetails, ChangefeedProgress, TargetTable, read_tables,
    run_aggregator, table_span,
};
use crate::options::{InitialScan, SinkKind, parse_options, parse_timestamp};
use crate::query::CdcQuery;
use crate::sink::{
    Sink, SinkContext, SinkError, SinkFuture, open_sink, redact_sink_uri, resolved_sink_kind,
    topic_for,
};

/// Executes changefeed statements.
pub struct ChangefeedHook {
    jobs: jobs::Registry,
    storage: cloud::StorageContext,
}

fn err(e: CodedError) -> SqlError {
    SqlError {
        error: e,
        position: None,
    }
}

/// The SQL error of a job error: its own code ([`JobError::code`]; a KV error's, so a
/// transaction that kept restarting is 40001), else XX000. A changefeed that no node may run,
/// or one in the wrong state for ALTER, is 55000.
fn job_err(e: JobError) -> SqlError {
    let code = match &e {
        JobError::NoMatchingNodes { .. } | JobError::InvalidTransition(_) => {
            errcode::OBJECT_NOT_IN_PREREQUISITE_STATE
        }
        other => other.code().unwrap_or(errcode::INTERNAL_ERROR),
    };
    SqlError::new(code, e.to_string())
}

/// Registers changefeeds on a node: the statement hook on `sql`, and the resumer and the
/// aggregator processor on `jobs`. `storage` is the node's external storage context (its
/// nodelocal directory and external connections).
pub fn register(sql: &SqlServer, jobs: &jobs::Registry, storage: cloud::StorageContext) {
    crate::job::register_job(sql, jobs, &storage);
    sql.register_hook(
        HookKind::Changefeed,
        Arc::new(ChangefeedHook {
            jobs: jobs.clone(),
            storage,
        }),
    );
}

impl StatementHook for ChangefeedHook {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move {
            match stmt {
                Statement::CreateChangefeed(c) => self.create(ctx, c).await,
                Statement::AlterChangefeed(a) => self.alter(ctx, a).await,
                other => Err(SqlError::internal(format!("changefeed hook got {other}"))),
            }
        })
    }
}

fn option_text(v: &OptionValue, params: &[Datum]) -> Result<String, SqlError> {
    v.text(params)
}

fn written_options(
    options: &[KvOption],
    params: &[Datum],
) -> Result<Vec<(String, Option<String>)>, SqlError> {
    options
        .iter()
        .map(|o| {
            Ok((
                o.key.0.clone(),
                o.value
                    .as_ref()
                    .map(|v| option_text(v, params))
                    .transpose()?,
            ))
        })
        .collect()
}

/// Resolves `[db.][schema.]t` against the session database: the descriptor and the full
/// `db.schema.t` name.
pub async fn resolve_table(
    sql: &SqlServer,
    database: &str,
    parts: &[String],
) -> Result<(TableDesc, String), SqlError> {
    let (db, schema, name) = match parts {
        [t] => (database.to_string(), "public".to_string(), t.clone()),
        [d, t] => (d.clone(), "public".to_string(), t.clone()),
        [d, s, t] => (d.clone(), s.clone(), t.clone()),
        _ => return Err(SqlError::undefined_table(&parts.join("."))),
    };
    let reader = sql::kvio::Reader::Txn(
        Arc::new(kv::Txn::begin(sql.node().sender())),
        sql.inner().reads.clone(),
    );
    let cat = &sql.inner().catalog;
    let missing = || SqlError::undefined_table(&parts.join("."));
    let db_id = cat
        .lookup(&reader, 0, 0, &db, true)
        .await?
        .ok_or_else(missing)?;
    let schema_id = cat
        .lookup(&reader, db_id, 0, &schema, true)
        .await?
        .ok_or_else(missing)?;
    let id = cat
        .lookup(&reader, db_id, schema_id, &name, true)
        .await?
        .ok_or_else(missing)?;
    match cat.get(&reader, id, true).await?.as_deref() {
        Some(Descriptor::Table(t)) => Ok((t.clone(), format!("{db}.{schema}.{name}"))),
        _ => Err(missing()),
    }
}

impl ChangefeedHook {
    async fn create(
        &self,
        ctx: HookContext,
        c: &CreateChangefeed,
    ) -> Result<StatementResult, SqlError> {
        let written = written_options(&c.options, &ctx.params)?;
        let (names, query) = match &c.targets {
            ChangefeedTargets::Tables(ts) => (
                ts.iter()
                    .map(|t| t.table.0.iter().map(|n| n.0.clone()).collect::<Vec<_>>())
                    .collect::<Vec<_>>(),
                None,
            ),
            ChangefeedTargets::Query(q) => {
                let q = CdcQuery::parse(&q.to_string()).map_err(err)?;
                (vec![q.table.clone()], Some(q))
            }
        };
        if let ChangefeedTargets::Tables(ts) = &c.targets
            && ts.iter().any(|t| t.family.is_some())
        {
            return Err(SqlError::unimplemented("CHANGEFEED FOR TABLE ... FAMILY"));
        }
        let mut opts = parse_options(&written, query.is_some()).map_err(err)?;
        let sink_uri = match &c.sink {
            None => None,
            Some(v) => {
                let s = option_text(v, &ctx.params)?;
                if s.is_empty() {
                    return Err(SqlError::new(
                        errcode::INVALID_PARAMETER_VALUE,
                        "omit the SINK clause for inline results",
                    ));
                }
                Some(s)
            }
        };
        let sink_ctx = SinkContext {
            storage: self.storage.clone(),
            job_id: 0,
            sink_id: 0,
        };
        let kind = match &sink_uri {
            None => SinkKind::Sinkless,
            Some(uri) => resolved_sink_kind(uri, &sink_ctx).map_err(|e| err(e.to_client()))?,
        };
        opts.validate_for_sink(kind).map_err(err)?;

        let mut targets = Vec::new();
        let mut tables = Vec::new();
        for parts in &names {
            let (desc, full) = resolve_table(&ctx.server, &ctx.database, parts).await?;
            let topic = match &sink_uri {
                Some(uri) => topic_for(uri, &desc.name, &full, &opts),
                None if opts.full_table_name => full.clone(),
                None => desc.name.clone(),
            };
            if let Some(q) = &query {
                let cols: Vec<String> = desc.columns.iter().map(|c| c.name.clone()).collect();
                q.check_columns(&cols).map_err(err)?;
            }
            targets.push(TargetTable {
                table_id: desc.id,
                name: desc.name.clone(),
                full_name: full,
                topic,
            });
            tables.push(desc);
        }

        let now = ctx.server.node().clock().now();
        let start = match &opts.cursor {
            Some(c) => {
                let t = parse_timestamp("cursor", c, now).map_err(err)?;
                if t > now {
                    return Err(SqlError::new(
                        errcode::INVALID_PARAMETER_VALUE,
                        format!("cursor {} is in the future", format_hlc(t)),
                    ));
                }
                t
            }
            None => now,
        };
        let end_time = match &opts.end_time {
            Some(e) => {
                let t = parse_timestamp("end_time", e, now).map_err(err)?;
                if t < start {
                    return Err(SqlError::new(
                        errcode::INVALID_PARAMETER_VALUE,
                        format!(
                            "specified end time {} cannot be less than statement time {}",
                            format_hlc(t),
                            format_hlc(start)
                        ),
                    ));
                }
                Some(t)
            }
            None => None,
        };
        let notices = opts.notices.clone();
        let details = ChangefeedDetails {
            sink_uri: sink_uri.clone().unwrap_or_default(),
            options: opts,
            targets,
            start,
            end_time,
            query,
        };
        let Some(uri) = sink_uri else {
            let mut r = self.sinkless(&ctx, details, tables).await?;
            r.notices = notices;
            return Ok(r);
        };

        // The sink must work now: a Kafka broker answers, its topics exist.
        let topics: Vec<String> = details.targets.iter().map(|t| t.topic.clone()).collect();
        let mut sink = open_sink(&uri, &details.options, &topics, &sink_ctx)
            .await
            .map_err(|e| err(e.to_client()))?;
        let _ = sink.close().await;

        let description = describe(c);
        let job = NewJob {
            id: None,
            job_type: JobType::Changefeed,
            description: description.clone(),
            statement: description,
            user: ctx.user.clone(),
            details: serde_json::to_vec(&details).map_err(SqlError::internal)?,
            execution_locality: details.options.execution_locality.clone(),
        };
        let id = self.jobs.create_job(job).await.map_err(job_err)?;
        let mut r = StatementResult::rows(
            vec![Column::new("job_id", Type::Int8)],
            vec![vec![Datum::Int(id)]],
        );
        r.notices = notices;
        Ok(r)
    }

    async fn sinkless(
        &self,
        ctx: &HookContext,
        details: ChangefeedDetails,
        tables: Vec<TableDesc>,
    ) -> Result<StatementResult, SqlError> {
        let opts = &details.options;
        let unbounded = details.end_time.is_none() && opts.initial_scan != InitialScan::Only;
        let spans: Vec<Span> = tables.iter().map(table_span).collect();
        let spec = AggregatorSpec {
            checkpoint: Frontier::new(&spans, details.start),
            scan_at: (opts.initial_scan != InitialScan::No).then_some(details.start),
            scan_tables: None,
            schema_ts: Timestamp::ZERO,
            scan_only: opts.initial_scan == InitialScan::Only,
            details: details.clone(),
            tables,
        };
        if unbounded {
            return Ok(stream_sinkless(
                ctx.server.node().clone(),
                details,
                spec,
                spans,
            ));
        }
        let mut sink = CollectSink::default();
        let report = |_: Vec<(Span, Timestamp)>| -> BoxFuture<'static, Result<(), JobError>> {
            Box::pin(async { Ok(()) })
        };
        run_aggregator(ctx.server.node(), &spec, &spans, &mut sink, &report)
            .await
            .map_err(job_err)?;
        if opts.resolved_interval().is_some() {
            let end = details.end_time.unwrap_or(details.start);
            let payload = Encoder::new(opts).encode_resolved(end);
            sink.rows
                .push(vec![Datum::Null, Datum::Null, Datum::Bytes(payload)]);
        }
        // Re-read to make sure the tables still exist (a dropped table ends the feed).
        read_tables(&ctx.server, &details.targets)
            .await
            .map_err(job_err)?;
        Ok(StatementResult::rows(
            vec![
                Column::new("table", Type::String),
                Column::new("key", Type::Bytes),
                Column::new("value", Type::Bytes),
            ],
            sink.rows,
        ))
    }
}

/// The job description: the statement, redacted on its parsed form (the sink URI's secrets,
/// `webhook_auth_header`...; [`CreateChangefeed::redacted`]).
fn describe(c: &CreateChangefeed) -> String {
    c.redacted().to_string()
}

/// The job id of ALTER CHANGEFEED: an integer literal or a placeholder bound to one.
fn alter_job_id(job: &str, params: &[Datum]) -> Result<i64, SqlError> {
    let mismatch = || {
        SqlError::new(
            errcode::DATATYPE_MISMATCH,
            "changefeed ID must be an INT value",
        )
    };
    let value = match job.strip_prefix('$') {
        Some(n) => {
            let i: usize = n.parse().map_err(|_| mismatch())?;
            match i.checked_sub(1).and_then(|i| params.get(i)) {
                Some(Datum::Int(v)) => return Ok(*v),
                Some(Datum::String(v)) => v.clone(),
                _ => return Err(mismatch()),
            }
        }
        None => job.to_string(),
    };
    value.trim().parse().map_err(|_| mismatch())
}

/// A table of ALTER CHANGEFEED ADD/DROP: `target "TABLE t" does not exist` when missing.
async fn alter_target(
    ctx: &HookContext,
    target: &ChangefeedTarget,
) -> Result<(String, TableDesc, String), SqlError> {
    let written = target.to_string();
    if target.family.is_some() {
        return Err(SqlError::unimplemented("ALTER CHANGEFEED ... FAMILY"));
    }
    let parts: Vec<String> = target.table.0.iter().map(|n| n.0.clone()).collect();
    match resolve_table(&ctx.server, &ctx.database, &parts).await {
        Ok((desc, full)) => Ok((written, desc, full)),
        Err(e) if e.error.code == errcode::UNDEFINED_TABLE => Err(SqlError::new(
            errcode::INVALID_PARAMETER_VALUE,
            format!("target {written:?} does not exist"),
        )),
        Err(e) => Err(e),
    }
}

impl ChangefeedHook {
    /// ALTER CHANGEFEED: checks the job (a changefeed, paused), resolves the tables, applies
    /// the commands to its details and checkpoint ([`alter::apply`]) and writes them with the
    /// new description in one transaction; RESUME runs the altered feed.
    async fn alter(
        &self,
        ctx: HookContext,
        a: &AlterChangefeed,
    ) -> Result<StatementResult, SqlError> {
        let id = alter_job_id(&a.job.to_string(), &ctx.params)?;
        let rec = self.jobs.get(id).await.map_err(job_err)?;
        if rec.job_type != JobType::Changefeed {
            return Err(SqlError::new(
                errcode::WRONG_OBJECT_TYPE,
                format!("job {id} is not changefeed job"),
            ));
        }
        if rec.status != jobs::JobStatus::Paused {
            return Err(SqlError::new(
                errcode::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!("job {id} is not paused"),
            ));
        }
        let details: ChangefeedDetails =
            serde_json::from_slice(&rec.details).map_err(SqlError::internal)?;
        let progress: ChangefeedProgress = if rec.progress.is_empty() {
            ChangefeedProgress::default()
        } else {
            serde_json::from_slice(&rec.progress).map_err(SqlError::internal)?
        };
        let mut commands = Vec::new();
        for command in &a.commands {
            commands.push(match command {
                AlterChangefeedCommand::Add { targets, options } => {
                    let mut tables = Vec::new();
                    for t in targets {
                        let (written, desc, full) = alter_target(&ctx, t).await?;
                        let table = TargetTable {
                            table_id: desc.id,
                            name: desc.name.clone(),
                            full_name: full,
                            topic: desc.name.clone(),
                        };
                        tables.push((written, table));
                    }
                    let options = written_options(options, &ctx.params)?;
                    Command::Add { tables, options }
                }
                AlterChangefeedCommand::Drop(targets) => {
                    let mut tables = Vec::new();
                    for t in targets {
                        let (written, desc, _) = alter_target(&ctx, t).await?;
                        tables.push((written, desc.id));
                    }
                    Command::Drop(tables)
                }
                AlterChangefeedCommand::Set(options) => {
                    Command::Set(written_options(options, &ctx.params)?)
                }
                AlterChangefeedCommand::Unset(names) => {
                    Command::Unset(names.iter().map(|n| n.0.clone()).collect())
                }
            });
        }
        let sink_ctx = SinkContext {
            storage: self.storage.clone(),
            job_id: 0,
            sink_id: 0,
        };
        let kind = |uri: &str| resolved_sink_kind(uri, &sink_ctx).map_err(|e| e.to_client());
        let (new_details, new_progress) =
            alter::apply(&details, &progress, &commands, &kind).map_err(err)?;
        let description = alter::describe(&new_details);
        let details_bytes = serde_json::to_vec(&new_details).map_err(SqlError::internal)?;
        let progress_bytes = serde_json::to_vec(&new_progress).map_err(SqlError::internal)?;
        self.jobs
            .update_details(id, |r| {
                if r.details != rec.details || r.progress != rec.progress {
                    return Err(JobError::failed(format!(
                        "job {id} changed while it was being altered; try again"
                    )));
                }
                r.details = details_bytes.clone();
                r.progress = progress_bytes.clone();
                r.description = description.clone();
                r.statement = description.clone();
                r.execution_locality = new_details
                    .options
                    .execution_locality
                    .as_ref()
                    .filter(|f| !f.is_empty())
                    .map(|f| f.to_string());
                Ok(())
            })
            .await
            .map_err(job_err)?;
        let mut r = StatementResult::rows(
            vec![
                Column::new("job_id", Type::Int8),
                Column::new("job_description", Type::String),
            ],
            vec![vec![Datum::Int(id), Datum::String(description)]],
        );
        r.notices = new_details.options.notices.clone();
        Ok(r)
    }
}

fn sinkless_columns() -> Vec<Column> {
    vec![
        Column::new("table", Type::String),
        Column::new("key", Type::Bytes),
        Column::new("value", Type::Bytes),
    ]
}

/// Rows of a sinkless feed waiting for the client; the feed waits while it is full.
const SINKLESS_BUFFER: usize = 1024;

/// An unbounded sinkless feed: the statement returns at once with a stream of rows that the
/// connection sends as they come — `(table, key, value)`, resolved messages (with `resolved`)
/// with NULL table and key once every watched span reached them — until the client goes away
/// (the feed stops when the stream is dropped) or the feed fails (the error ends the result).
fn stream_sinkless(
    node: kv::node::KvNode,
    details: ChangefeedDetails,
    spec: AggregatorSpec,
    spans: Vec<Span>,
) -> StatementResult {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Datum>, SqlError>>(SINKLESS_BUFFER);
    tokio::spawn(async move {
        let mut sink = ChannelSink { tx: tx.clone() };
        let interval = details.options.resolved_interval();
        let encoder = Encoder::new(&details.options);
        let last = std::sync::Mutex::new(None::<(Timestamp, std::time::Instant)>);
        let resolved_tx = tx.clone();
        let report =
            move |entries: Vec<(Span, Timestamp)>| -> BoxFuture<'static, Result<(), JobError>> {
                let Some(interval) = interval else {
                    return Box::pin(async { Ok(()) });
                };
                let Some(ts) = entries.iter().map(|(_, t)| *t).min() else {
                    return Box::pin(async { Ok(()) });
                };
                let due = match last.lock() {
                    Ok(mut l) => match *l {
                        Some((prev, at)) if ts <= prev || at.elapsed() < interval => false,
                        _ => {
                            *l = Some((ts, std::time::Instant::now()));
                            true
                        }
                    },
                    Err(_) => false,
                };
                if !due {
                    return Box::pin(async { Ok(()) });
                }
                let row = vec![
                    Datum::Null,
                    Datum::Null,
                    Datum::Bytes(encoder.encode_resolved(ts)),
                ];
                let tx = resolved_tx.clone();
                Box::pin(async move {
                    tx.send(Ok(row)).await.map_err(|_| {
                        JobError::failed("the client of the sinkless changefeed went away")
                    })
                })
            };
        if let Err(e) = run_aggregator(&node, &spec, &spans, &mut sink, &report).await {
            let _ = tx.send(Err(job_err(e))).await;
        }
    });
    let rows = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let mut r = StatementResult::rows(sinkless_columns(), Vec::new());
    r.stream = Some(sql::RowStream::new(Box::pin(rows)));
    r
}

/// A sinkless feed's result row of a change: its topic, key and value.
fn sinkless_row(topic: &str, key: &[u8], value: Option<&[u8]>) -> Vec<Datum> {
    vec![
        Datum::String(topic.to_string()),
        Datum::Bytes(key.to_vec()),
        Datum::Bytes(value.unwrap_or_default().to_vec()),
    ]
}

/// A sinkless feed's result row of a resolved timestamp: its payload alone.
fn resolved_row(payload: &[u8]) -> Vec<Datum> {
    vec![Datum::Null, Datum::Null, Datum::Bytes(payload.to_vec())]
}

/// A sink that hands a streaming sinkless feed's rows to its connection.
struct ChannelSink {
    tx: tokio::sync::mpsc::Sender<Result<Vec<Datum>, SqlError>>,
}

impl ChannelSink {
    /// Sends `row` to the connection.
    fn send(&mut self, row: Vec<Datum>) -> SinkFuture<'_> {
        Box::pin(async move {
            self.tx.send(Ok(row)).await.map_err(|_| {
                SinkError::Invalid("the client of the sinkless changefeed went away".into())
            })
        })
    }
}

impl Sink for ChannelSink {
    fn emit_row<'a>(
        &'a mut self,
        topic: &'a str,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        _ts: Timestamp,
    ) -> SinkFuture<'a> {
        self.send(sinkless_row(topic, key, value))
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    fn emit_resolved<'a>(&'a mut self, _ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a> {
        self.send(resolved_row(payload))
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// A sink that keeps rows for a sinkless feed's result.
#[derive(Default)]
struct CollectSink {
    rows: Vec<Vec<Datum>>,
}

impl Sink for CollectSink {
    fn emit_row<'a>(
        &'a mut self,
        topic: &'a str,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        _ts: Timestamp,
    ) -> SinkFuture<'a> {
        self.rows.push(sinkless_row(topic, key, value));
        Box::pin(async { Ok(()) })
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }

    fn emit_resolved<'a>(&'a mut self, _ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a> {
        self.rows.push(resolved_row(payload));
        Box::pin(async { Ok(()) })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async { Ok(()) })
    }
}

/// The columns of SHOW CHANGEFEED JOB(S).
pub fn changefeed_job_columns() -> Vec<Column> {
    [
        ("job_id", Type::Int8),
        ("description", Type::String),
        ("user_name", Type::String),
        ("status", Type::String),
        ("running_status", Type::String),
        ("created", Type::TimestampTz),
        ("started", Type::TimestampTz),
        ("finished", Type::TimestampTz),
        ("modified", Type::TimestampTz),
        ("high_water_timestamp", Type::decimal()),
        ("error", Type::String),
        ("sink_uri", Type::String),
        ("full_table_names", Type::Array(Box::new(Type::String))),
        ("topics", Type::String),
        ("format", Type::String),
    ]
    .into_iter()
    .map(|(n, t)| Column::new(n, t))
    .collect()
}

/// SHOW CHANGEFEED JOBS over these records (non-changefeed records are skipped): §6.2's
/// columns, the sink URI redacted, the high-water in decimal HLC form.
pub fn show_changefeed_jobs(records: &[JobRecord]) -> StatementResult {
    let rows = records
        .iter()
        .filter(|r| r.job_type == JobType::Changefeed)
        .map(|r| {
            let details: Option<ChangefeedDetails> = serde_json::from_slice(&r.details).ok();
            let opt = |s: &Option<String>| s.clone().map_or(Datum::Null, Datum::String);
            let ts = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or(Datum::Null, Datum::TimestampTz)
            };
            let high_water = r
                .high_water
                .and_then(|t| format_hlc(t).parse::<rust_decimal::Decimal>().ok())
                .map_or(Datum::Null, Datum::Decimal);
            let (sink, names, topics) = match &details {
                Some(d) => {
                    let mut topics: Vec<String> =
                        d.targets.iter().map(|t| t.topic.clone()).collect();
                    topics.dedup();
                    (
                        Datum::String(redact_sink_uri(&d.sink_uri)),
                        Datum::Array(
                            d.targets
                                .iter()
                                .map(|t| Datum::String(t.full_name.clone()))
                                .collect(),
                        ),
                        Datum::String(topics.join(",")),
                    )
                }
                None => (Datum::Null, Datum::Null, Datum::Null),
            };
            vec![
                Datum::Int(r.id),
                Datum::String(sql::parser::redact_sql(&r.description)),
                Datum::String(r.user_name.clone()),
                Datum::String(r.status.as_str().to_string()),
                opt(&r.running_status),
                Datum::TimestampTz(r.created),
                ts(r.started),
                ts(r.finished),
                Datum::TimestampTz(r.modified),
                high_water,
                opt(&r.error),
                sink,
                names,
                topics,
                Datum::String("json".into()),
            ]
        })
        .collect();
    StatementResult::rows(changefeed_job_columns(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alter_job_ids_are_integers_or_bound_placeholders() {
        assert_eq!(alter_job_id("123", &[]).expect("literal"), 123);
        assert_eq!(alter_job_id("$1", &[Datum::Int(5)]).expect("int"), 5);
        assert_eq!(
            alter_job_id("$2", &[Datum::Null, Datum::String("7".into())]).expect("string"),
            7
        );
        for (job, params) in [("'x'", vec![]), ("$1", vec![]), ("$1", vec![Datum::Null])] {
            let e = alter_job_id(job, &params).expect_err(job);
            assert_eq!(e.error.message, "changefeed ID must be an INT value");
            assert_eq!(e.error.code, errcode::DATATYPE_MISMATCH);
        }
    }

    fn create_changefeed(sql: &str) -> CreateChangefeed {
        match sql::parser::parse(sql).expect("parses").pop() {
            Some(Statement::CreateChangefeed(c)) => *c,
            other => panic!("not a changefeed: {other:?}"),
        }
    }

    /// Security review: a quote in the sink URI defeated the description's redaction, which
    /// looked for the URI in the statement text.
    #[test]
    fn description_redacts_a_uri_with_a_quote() {
        let c = create_changefeed(
            "CREATE CHANGEFEED FOR t INTO 'kafka://h:9092?sasl_enabled=true&sasl_user=u&\
             sasl_password=it''s-a-s3cr3t'",
        );
        let shown = describe(&c);
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("sasl_password=redacted"), "{shown}");
    }

    /// Security review: `webhook_auth_header` was kept in clear in the job description.
    #[test]
    fn description_redacts_the_webhook_auth_header() {
        let c = create_changefeed(
            "CREATE CHANGEFEED FOR t INTO 'webhook-https://h/x' \
             WITH webhook_auth_header = 'Bearer s3cr3t-token'",
        );
        let shown = describe(&c);
        assert!(!shown.contains("s3cr3t-token"), "{shown}");
    }

    /// Every text a changefeed is shown as hides every secret of generated sink URIs and
    /// options: the job description (CREATE and after ALTER), SHOW CHANGEFEED JOBS (of a
    /// record whose description was written unredacted too), and the errors of reading and
    /// opening the sink.
    mod no_secret_is_shown {
        use super::*;
        use crate::sink::cloudstorage::CloudStorageSink;
        use crate::sink::webhook::WebhookSink;
        use crate::sink::{kafka, resolve_external, sink_kind};
        use base::redact::testing::{assert_hidden, leaks, secret, secret_uri, sql_string};
        use proptest::prelude::*;

        fn record(details: &ChangefeedDetails, description: &str) -> JobRecord {
            let details = serde_json::to_vec(details).expect("details");
            jobs::testing::record(JobType::Changefeed, description, details)
        }

        fn hidden_err<T>(r: Result<T, SinkError>, what: &str) {
            if let Err(e) = r {
                assert_hidden(&e.to_string(), what);
                assert_hidden(&format!("{e:?}"), what);
                assert_hidden(&e.to_client().message, what);
            }
        }

        proptest! {
            #[test]
            fn by_any_changefeed_display(
                sink in secret_uri(),
                registry in secret_uri(),
                header in secret(),
                query in any::<bool>(),
            ) {
                let what = |w: &str| format!("{w} of {:?}", sink.uri);
                let options = format!(
                    "webhook_auth_header = {}, confluent_schema_registry = {}, updated",
                    sql_string(&header),
                    sql_string(&registry.uri),
                );
                let sql = if query {
                    format!(
                        "CREATE CHANGEFEED INTO {} WITH {options} AS SELECT a FROM t",
                        sql_string(&sink.uri)
                    )
                } else {
                    format!(
                        "CREATE CHANGEFEED FOR t INTO {} WITH {options}",
                        sql_string(&sink.uri)
                    )
                };
                prop_assert!(leaks(&sql));
                assert_hidden(&describe(&create_changefeed(&sql)), &what("the description"));

                let written = vec![
                    ("webhook_auth_header".to_string(), Some(header.clone())),
                    ("updated".to_string(), None),
                ];
                let details = ChangefeedDetails {
                    sink_uri: sink.uri.clone(),
                    options: parse_options(&written, false).expect("options"),
                    targets: vec![TargetTable {
                        table_id: 1,
                        name: "t".into(),
                        full_name: "d.public.t".into(),
                        topic: "t".into(),
                    }],
                    start: Timestamp::ZERO,
                    end_time: None,
                    query: None,
                };
                assert_hidden(&alter::describe(&details), &what("the altered description"));
                for rec in [record(&details, &sql), record(&details, &alter::describe(&details))] {
                    for d in &show_changefeed_jobs(&[rec]).rows[0] {
                        assert_hidden(&d.to_string(), &what("SHOW CHANGEFEED JOBS"));
                    }
                }

                hidden_err(sink_kind(&sink.uri), &what("sink_kind"));
                match kafka::parse_uri(&sink.uri) {
                    Ok(dial) => assert_hidden(&format!("{dial:?}"), &what("the Kafka dial")),
                    Err(e) => hidden_err::<()>(Err(e), &what("kafka::parse_uri")),
                }
                hidden_err(WebhookSink::new(&sink.uri, &details.options), &what("WebhookSink"));
                let storage = cloud::StorageContext::new(
                    base::NodeId(1),
                    std::env::temp_dir().join("sextant-redact-proptest"),
                );
                let ctx = SinkContext { storage, job_id: 1, sink_id: 1 };
                hidden_err(resolve_external(&sink.uri, &ctx), &what("resolve_external"));
                hidden_err(
                    CloudStorageSink::open(&sink.uri, &details.options, &ctx),
                    &what("CloudStorageSink"),
                );
            }
        }
    }
}
