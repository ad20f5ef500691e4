//! The BACKUP statement, its job and its `backup.export` processor.
//!
//! 1. [`BackupHook`] (gateway): checks the options, fixes the end time (`AS OF SYSTEM TIME`
//!    or now), resolves the targets at that time into descriptors, spans and zones
//!    ([`crate::targets`]), checks the destination URIs' localities, and creates the job with
//!    [`BackupDetails`] and the execution-locality filter. The storage is not touched here:
//!    the bucket may be reachable only from the filter's nodes. `DETACHED` returns the job id;
//!    otherwise the hook waits for the job (from any gateway) and returns its result row.
//! 2. [`BackupResumer`] (coordinator): for `INTO LATEST IN` / `INTO 'subdir' IN`, reads the
//!    chain to learn the incremental's start time and directory (once; kept in the
//!    checkpoint); plans the spans not yet done; runs the `backup.export` flow; records each
//!    finished span and its files in the checkpoint (so a resumed job skips them); writes the
//!    manifest last, then `LATEST` for a full backup, and sets the result.
//! 3. [`ExportProcessor`] (every planned node): opens the URI matching its node's locality,
//!    exports each span at the end time with `Routing::Nearest` (a follower read from the
//!    closest replica when the timestamp is closed), streams the versions into a data file
//!    ([`crate::format`]) and reports the span and file.

use std::sync::Arc;
use std::time::Duration;

use base::errcode;
use base::{Span, Timestamp};
use futures::future::BoxFuture;
use jobs::{
    JobContext, JobError, JobType, NewJob, Processor, ProcessorContext, ProgressSender, Resumer,
};
use kv::api::{BatchRequest, Header, Request, Response, Routing};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sql::catalog::Descriptor;
use sql::exec::show::job_result_columns;
use sql::parser::{Backup, BackupDestination, BackupSubdir};
use sql::session::{HookContext, StatementHook, StatementResult};
use sql::{Datum, SqlError, Statement};

use crate::collection::{self, Destinations};
use crate::env::{
    Env, from_json, is_row_key, option_bool, option_text, reject_unimplemented, spawn_flow,
    to_json, uri_texts,
};
use crate::error::{BackupError, Result};
use crate::format::FileWriter;
use crate::manifest::{self, BackupFile, BackupType, MANIFEST_VERSION, Manifest, ZoneRecord};

/// The processor name of the export flow.
pub const EXPORT_PROCESSOR: &str = "backup.export";
/// Bytes asked of one Export request before it returns a resume key.
pub const EXPORT_TARGET_BYTES: u64 = 4 << 20;
/// How often the coordinator checkpoints while the flow runs.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// Which layer the job writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layer {
    /// A full backup in the dated subdirectory `subdir` (`/YYYY/MM/DD-HHMMSS.ff`).
    Full {
        /// The subdirectory.
        subdir: String,
    },
    /// An incremental on the full backup `LATEST` names (`None`) or on `Some(subdir)`.
    Incremental {
        /// The full backup; `None` for LATEST.
        full: Option<String>,
    },
}

/// What the BACKUP statement decided; the job's details.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BackupDetails {
    /// The backup time.
    pub end_time: Timestamp,
    /// Keep every revision.
    pub revision_history: bool,
    /// The destination URIs with secrets, as given.
    pub uris: Vec<String>,
    /// Which layer.
    pub layer: Layer,
    /// The spans to export.
    pub spans: Vec<Span>,
    /// Descriptors at `end_time`.
    pub descriptors: Vec<Descriptor>,
    /// Databases backed up whole.
    pub complete_dbs: Vec<u64>,
    /// Zone configurations.
    pub zones: Vec<ZoneRecord>,
    /// The statement, redacted ([`Backup::redacted`]).
    pub description: String,
    /// A full-cluster backup (no targets).
    #[serde(default)]
    pub full_cluster: bool,
}

/// Where an incremental goes, settled once on the coordinator.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The layer's directory relative to the collection.
    pub dir: String,
    /// Exclusive lower bound.
    pub start_time: Timestamp,
    /// Earlier layers.
    pub previous: Vec<String>,
    /// The full backup's subdirectory (for `LATEST`).
    pub full_subdir: String,
}

/// The job's checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BackupProgress {
    /// Where the layer goes, once known.
    pub placement: Option<Placement>,
    /// Spans finished, with their files.
    pub done: Vec<(Span, Vec<BackupFile>)>,
}

/// The job's result (the statement's row).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupResult {
    /// Rows.
    pub rows: u64,
    /// Secondary index entries.
    pub index_entries: u64,
    /// Bytes.
    pub bytes: u64,
}

/// What the coordinator tells each processor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExportSpec {
    /// The job.
    pub job_id: i64,
    /// Lower bound (exclusive).
    pub start_time: Timestamp,
    /// Upper bound (inclusive).
    pub end_time: Timestamp,
    /// Every revision.
    pub revision_history: bool,
    /// The destination URIs.
    pub uris: Vec<String>,
    /// The layer directory.
    pub dir: String,
}

/// One processor progress message: a span finished and its file (if it had data).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpanDone {
    /// The span.
    pub span: Span,
    /// Its files.
    pub files: Vec<BackupFile>,
}

/// Runs a created job to its end for a blocking statement: the row, or the job's error with
/// the code the job recorded for it (58000 when it has none: a failure with no SQL meaning, or
/// a job that ended without an error).
pub async fn wait_and_report(env: &Env, id: i64) -> Result<StatementResult> {
    let rec = env
        .jobs
        .wait_for_job(id)
        .await
        .map_err(|e| BackupError::Internal(e.to_string()))?;
    if rec.status != jobs::JobStatus::Succeeded {
        let code = match &rec.error {
            Some(_) => rec.error_code.unwrap_or(errcode::SYSTEM_ERROR),
            None => errcode::SYSTEM_ERROR,
        };
        let msg = rec
            .error
            .unwrap_or_else(|| format!("job {id} ended with status {}", rec.status.as_str()));
        return Err(BackupError::sql(code, msg));
    }
    let r: BackupResult = serde_json::from_slice(&rec.result).unwrap_or_default();
    Ok(StatementResult::rows(
        job_result_columns(false),
        vec![vec![
            Datum::Int(id),
            Datum::String(rec.status.as_str().into()),
            Datum::Float(f64::from(rec.fraction_completed)),
            Datum::Int(r.rows as i64),
            Datum::Int(r.index_entries as i64),
            Datum::Int(r.bytes as i64),
        ]],
    ))
}

/// The DETACHED result.
pub fn detached_result(id: i64) -> StatementResult {
    StatementResult::rows(job_result_columns(true), vec![vec![Datum::Int(id)]])
}

/// Parses an execution-locality option into a filter (CockroachDB's errors), `None` if
/// absent or empty.
pub fn locality_filter(
    v: Option<&sql::parser::OptionValue>,
    params: &[Datum],
) -> Result<Option<locality::LocalityFilter>> {
    let Some(v) = v else { return Ok(None) };
    let text = option_text(v, params)?;
    let f = locality::LocalityFilter::parse(&text)
        .map_err(|e| BackupError::sql(errcode::INVALID_PARAMETER_VALUE, e.to_string()))?;
    Ok((!f.is_empty()).then_some(f))
}

/// Starts the job of a BACKUP or RESTORE (`description`, its redacted text) with `details`,
/// mapping the registry's errors (no matching node) to SQL; the result is the job's id when
/// `detached`, else its outcome once it is done.
pub async fn start_job<T: Serialize>(
    env: &Env,
    ctx: &HookContext,
    job_type: JobType,
    description: String,
    details: &T,
    execution_locality: Option<locality::LocalityFilter>,
    detached: bool,
) -> Result<StatementResult> {
    let job = NewJob {
        id: None,
        job_type,
        description: description.clone(),
        statement: description,
        user: ctx.user.clone(),
        details: to_json(details),
        execution_locality,
    };
    let id = env.jobs.create_job(job).await.map_err(|e| match e {
        JobError::NoMatchingNodes { message, .. } => {
            BackupError::sql(errcode::INVALID_PARAMETER_VALUE, message)
        }
        other => BackupError::Internal(other.to_string()),
    })?;
    if detached {
        return Ok(detached_result(id));
    }
    wait_and_report(env, id).await
}

/// Executes BACKUP.
pub struct BackupHook {
    /// This node.
    pub env: Env,
}

impl StatementHook for BackupHook {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move {
            let Statement::Backup(b) = stmt else {
                return Err(SqlError::internal("not a BACKUP statement"));
            };
            plan_backup(&self.env, &ctx, b)
                .await
                .map_err(SqlError::from)
        })
    }
}

async fn plan_backup(env: &Env, ctx: &HookContext, b: &Backup) -> Result<StatementResult> {
    let o = &b.options;
    reject_unimplemented(
        "BACKUP",
        &[
            (o.encryption_passphrase.is_some(), "encryption_passphrase"),
            (o.kms.is_some(), "kms"),
            (o.incremental_location.is_some(), "incremental_location"),
            (
                o.include_all_secondary_tenants.is_some(),
                "include_all_secondary_tenants",
            ),
            (
                o.updates_cluster_monitoring_metrics.is_some(),
                "updates_cluster_monitoring_metrics",
            ),
        ],
    )?;
    let filter = locality_filter(o.execution_locality.as_ref(), &ctx.params)?;
    let revision_history =
        option_bool("revision_history", o.revision_history.as_ref(), &ctx.params)?;
    let (uris, layer_of) = match &b.destination {
        BackupDestination::Collection(uris) => (uri_texts(&uris.0, &ctx.params)?, None),
        BackupDestination::Incremental { full, collection } => {
            let full = match full {
                BackupSubdir::Latest => None,
                BackupSubdir::Path(p) => {
                    Some(collection::normalize_subdir(&option_text(p, &ctx.params)?))
                }
            };
            (uri_texts(&collection.0, &ctx.params)?, Some(full))
        }
        BackupDestination::Deprecated { .. } => {
            return Err(SqlError::unimplemented(
                "BACKUP ... TO; use BACKUP ... INTO to write a backup collection",
            )
            .into());
        }
    };
    let dests = collection::parse_destinations(&uris)?;
    for u in &dests.uris {
        cloud::ExternalStorageUri::parse(&u.uri)?;
    }
    let session = ctx.server.session(&ctx.user, &ctx.database);
    let end_time = match &b.as_of {
        Some(a) => sql::exec::show::as_of_timestamp(&session, &a.0, &ctx.params).await?,
        None => ctx.server.node().clock().now(),
    };
    let resolved =
        crate::targets::resolve(&ctx.server, b.targets.as_ref(), &ctx.database, end_time).await?;
    let layer = match layer_of {
        None => Layer::Full {
            subdir: collection::full_subdir(end_time),
        },
        Some(full) => Layer::Incremental { full },
    };
    let description = b.redacted().to_string();
    let details = BackupDetails {
        end_time,
        revision_history,
        uris,
        layer,
        spans: resolved.spans,
        descriptors: resolved.descriptors.into_values().collect(),
        complete_dbs: resolved.complete_dbs,
        zones: resolved.zones,
        description: description.clone(),
        full_cluster: b.targets.is_none(),
    };
    start_job(
        env,
        ctx,
        JobType::Backup,
        description,
        &details,
        filter,
        o.detached,
    )
    .await
}

/// The BACKUP job's coordinator.
pub struct BackupResumer {
    /// This node.
    pub env: Env,
}

// A failed backup keeps the default `on_fail_or_cancel`: data files without a manifest are
// never read, so there is nothing to undo.
impl Resumer for BackupResumer {
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        let env = self.env.clone();
        Box::pin(async move { run_backup(env, ctx).await })
    }
}

fn place<'a>(
    env: &'a Env,
    d: &'a BackupDetails,
    dests: &'a Destinations,
) -> BoxFuture<'a, Result<Placement>> {
    Box::pin(place_inner(env, d, dests))
}

async fn place_inner(env: &Env, d: &BackupDetails, dests: &Destinations) -> Result<Placement> {
    match &d.layer {
        Layer::Full { subdir } => Ok(Placement {
            dir: subdir.trim_matches('/').to_string(),
            start_time: Timestamp::default(),
            previous: Vec::new(),
            full_subdir: subdir.clone(),
        }),
        Layer::Incremental { full } => {
            let storage = env.open(dests.default_uri()).await?;
            let full = match full {
                Some(f) => f.clone(),
                None => collection::read_latest(storage.as_ref()).await?,
            };
            if !crate::manifest::exists(storage.as_ref(), &full).await? {
                return Err(BackupError::sql(
                    errcode::INVALID_PARAMETER_VALUE,
                    format!(
                        "A full backup cannot be written to \"{full}\", a user defined \
                         subdirectory. To take a full backup, remove the subdirectory from the \
                         backup command"
                    ),
                ));
            }
            let chain = collection::resolve_chain(storage.as_ref(), &full).await?;
            let last_dir = chain.last().cloned().unwrap_or_default();
            let last = manifest::read_manifest(storage.as_ref(), &last_dir).await?;
            collection::check_same_localities(&dests.localities(), &last.localities)?;
            if last.end_time >= d.end_time {
                return Err(BackupError::sql(
                    errcode::INVALID_PARAMETER_VALUE,
                    "the backup time must be after the end of the latest layer of this backup",
                ));
            }
            Ok(Placement {
                dir: collection::incremental_dir(&full, d.end_time),
                start_time: last.end_time,
                previous: chain,
                full_subdir: full,
            })
        }
    }
}

async fn run_backup(env: Env, ctx: JobContext) -> Result<(), JobError> {
    let d: BackupDetails = from_json(&ctx.details(), "backup details")?;
    let mut progress: BackupProgress = if ctx.progress().is_empty() {
        BackupProgress::default()
    } else {
        from_json(&ctx.progress(), "backup progress")?
    };
    let dests = collection::parse_destinations(&d.uris).map_err(JobError::from)?;
    let placement = match progress.placement.clone() {
        Some(p) => p,
        None => {
            let p = place(&env, &d, &dests).await.map_err(JobError::from)?;
            progress.placement = Some(p.clone());
            ctx.update_progress(0.0, to_json(&progress)).await?;
            p
        }
    };
    let done_spans: Vec<Span> = progress.done.iter().map(|(s, _)| s.clone()).collect();
    let todo = jobs::span_set::subtract(d.spans.clone(), &done_spans);
    let total = d.spans.len().max(1);
    if !todo.is_empty() {
        let spec = ExportSpec {
            job_id: ctx.id(),
            start_time: placement.start_time,
            end_time: d.end_time,
            revision_history: d.revision_history,
            uris: d.uris.clone(),
            dir: placement.dir.clone(),
        };
        let shared = Arc::new(Mutex::new(progress.clone()));
        let sink = shared.clone();
        let mut flow = spawn_flow(
            ctx.clone(),
            todo,
            EXPORT_PROCESSOR,
            to_json(&spec),
            move |_, msg| {
                let Ok(m) = serde_json::from_slice::<SpanDone>(&msg) else {
                    return Vec::new();
                };
                let mut p = sink.lock();
                // A span can be reported twice (a processor the flow gave up on finishes it
                // while its re-planned replacement exports it again): keep the first files
                // only, so the manifest lists every row once.
                let done: Vec<Span> = p.done.iter().map(|(s, _)| s.clone()).collect();
                if !jobs::span_set::subtract(vec![m.span.clone()], &done).is_empty() {
                    p.done.push((m.span.clone(), m.files));
                }
                vec![m.span]
            },
        );
        let mut ticker = tokio::time::interval(CHECKPOINT_INTERVAL);
        loop {
            tokio::select! {
                r = &mut flow => {
                    r.map_err(|e| JobError::failed(format!("backup flow panicked: {e}")))??;
                    break;
                }
                _ = ticker.tick() => {
                    let p = shared.lock().clone();
                    let frac = (p.done.len() as f32 / total as f32).min(0.99);
                    ctx.update_progress(frac, to_json(&p)).await?;
                }
            }
        }
        progress = shared.lock().clone();
        ctx.update_progress(0.99, to_json(&progress)).await?;
    }
    let files: Vec<BackupFile> = progress
        .done
        .iter()
        .flat_map(|(_, f)| f.iter().cloned())
        .collect();
    let m = Manifest {
        version: MANIFEST_VERSION,
        job_id: ctx.id() as u64,
        backup_type: if matches!(d.layer, Layer::Full { .. }) {
            BackupType::Full
        } else {
            BackupType::Incremental
        },
        start_time: placement.start_time,
        end_time: d.end_time,
        revision_history: d.revision_history,
        spans: d.spans.clone(),
        files,
        descriptors: d.descriptors.clone(),
        complete_dbs: d.complete_dbs.clone(),
        zones: d.zones.clone(),
        localities: dests.localities(),
        previous: placement.previous.clone(),
        description: d.description.clone(),
        full_cluster: d.full_cluster,
    };
    let storage = env
        .open(dests.default_uri())
        .await
        .map_err(JobError::from)?;
    manifest::write_manifest(storage.as_ref(), &placement.dir, &m)
        .await
        .map_err(JobError::from)?;
    if matches!(d.layer, Layer::Full { .. }) {
        collection::write_latest(storage.as_ref(), &placement.full_subdir)
            .await
            .map_err(JobError::from)?;
    }
    let (rows, index_entries, bytes) = m.totals();
    ctx.set_result(to_json(&BackupResult {
        rows,
        index_entries,
        bytes,
    }))
    .await?;
    ctx.update_progress(1.0, to_json(&progress)).await?;
    Ok(())
}

/// Exports spans to data files on the node it runs on.
pub struct ExportProcessor {
    /// This node.
    pub env: Env,
}

impl Processor for ExportProcessor {
    fn run(
        &self,
        ctx: ProcessorContext,
        spec: Vec<u8>,
        spans: Vec<Span>,
        progress: ProgressSender,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        let env = self.env.clone();
        Box::pin(async move {
            let spec: ExportSpec = from_json(&spec, "export spec")?;
            let dests = collection::parse_destinations(&spec.uris).map_err(JobError::from)?;
            let (uri, locality) = dests.for_locality(ctx.locality());
            let storage = env.open(uri).await.map_err(JobError::from)?;
            for span in spans {
                if let Some(d) = env.knobs.export_span_delay() {
                    tokio::time::sleep(d).await;
                }
                let files = export_span(&ctx, &spec, storage.as_ref(), &span, locality.clone())
                    .await
                    .map_err(JobError::from)?;
                progress.send(to_json(&SpanDone { span, files })).await?;
            }
            Ok(())
        })
    }
}

async fn export_span(
    ctx: &ProcessorContext,
    spec: &ExportSpec,
    storage: &dyn cloud::ExternalStorage,
    span: &Span,
    locality: Option<String>,
) -> Result<Vec<BackupFile>> {
    let sender = ctx.node().sender();
    let mut writer: Option<FileWriter> = None;
    let mut path = String::new();
    let (mut rows, mut index_entries) = (0u64, 0u64);
    let mut remaining = span.clone();
    loop {
        let ba = BatchRequest {
            header: Header {
                timestamp: spec.end_time,
                routing: Routing::Nearest,
                gateway: ctx.node_id(),
                ..Header::default()
            },
            requests: vec![Request::Export {
                span: remaining.clone(),
                start: spec.start_time,
                end: spec.end_time,
                all_revisions: spec.revision_history,
                target_bytes: EXPORT_TARGET_BYTES,
            }],
        };
        let resp = sender.send(ba).await?;
        let Some(Response::Export { entries, resume }) = resp.responses.into_iter().next() else {
            return Err(BackupError::Internal("export returned no entries".into()));
        };
        for e in &entries {
            let w = match &mut writer {
                Some(w) => w,
                None => {
                    path = format!(
                        "{}/data/{}-{}-{:016x}.sst",
                        spec.dir,
                        spec.job_id,
                        ctx.node_id().0,
                        rand::random::<u64>()
                    );
                    writer.insert(FileWriter::create(storage, &path)?)
                }
            };
            w.add(e).await?;
            if e.value.is_some() {
                if is_row_key(&e.key) {
                    rows += 1;
                } else {
                    index_entries += 1;
                }
            }
        }
        match resume {
            Some(k) if k < remaining.end => remaining.start = k,
            _ => break,
        }
    }
    let Some(w) = writer else {
        return Ok(Vec::new());
    };
    let bytes = w.logical_bytes();
    let stats = w.finish().await?;
    Ok(vec![BackupFile {
        path,
        span: span.clone(),
        locality,
        rows,
        index_entries,
        bytes,
        file_bytes: stats.file_bytes,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(sql: &str) -> Backup {
        match sql::parser::parse(sql).expect("parses").pop() {
            Some(Statement::Backup(b)) => *b,
            other => panic!("not a backup: {other:?}"),
        }
    }

    #[test]
    fn statements_are_redacted() {
        assert_eq!(
            backup(
                "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=shh' \
                 WITH OPTIONS (execution locality = 'region=x')"
            )
            .redacted()
            .to_string(),
            "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=redacted' \
             WITH OPTIONS (execution locality = 'region=x')"
        );
    }

    /// Security review: a quote in a URI defeated the description's redaction, which split
    /// the statement text on quotes.
    #[test]
    fn description_redacts_a_uri_with_a_quote() {
        let b = backup(
            "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=ab''s3cr3t'",
        );
        let shown = b.redacted().to_string();
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert_eq!(
            shown,
            "BACKUP DATABASE d INTO 's3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=redacted'"
        );
    }

    /// The job descriptions of BACKUP and RESTORE, the rows of SHOW EXTERNAL CONNECTIONS and
    /// the errors of reading a destination hide every secret of generated URIs and options.
    mod no_secret_is_shown {
        use super::*;
        use base::redact::testing::{assert_hidden, leaks, secret, secret_uri, sql_string};
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn by_any_backup_display(
                uris in prop::collection::vec(secret_uri(), 3),
                passphrase in secret(),
                template in 0..6usize,
            ) {
                let [a, b, c] = [0, 1, 2].map(|i| sql_string(&uris[i].uri));
                let p = sql_string(&passphrase);
                let sql = match template {
                    0 => format!(
                        "BACKUP DATABASE d INTO {a} WITH incremental_location = {b}, kms = {c}, \
                         encryption_passphrase = {p}, detached"
                    ),
                    1 => format!("BACKUP TABLE t INTO LATEST IN ({a}, {b}, {c})"),
                    2 => format!("BACKUP TO {a} INCREMENTAL FROM {b}, {c}"),
                    3 => format!(
                        "RESTORE DATABASE d FROM LATEST IN {a} WITH incremental_location = \
                         ({b}, {c}), encryption_passphrase = {p}, kms = {b}, new_db_name = 'e'"
                    ),
                    4 => format!("RESTORE FROM {a}, ({b}, {c})"),
                    _ => format!("RESTORE TABLE t FROM {a} IN {b}"),
                };
                prop_assert!(leaks(&sql));
                let description = match sql::parser::parse(&sql).expect("parses").pop() {
                    Some(Statement::Backup(b)) => b.redacted().to_string(),
                    Some(Statement::Restore(r)) => r.redacted().to_string(),
                    other => panic!("{other:?}"),
                };
                assert_hidden(&description, &format!("the description of {sql:?}"));

                let texts: Vec<String> = uris.iter().map(|u| u.uri.clone()).collect();
                if let Err(e) = collection::parse_destinations(&texts) {
                    assert_hidden(&e.to_string(), "parse_destinations");
                    assert_hidden(&SqlError::from(e).error.message, "parse_destinations");
                }
                for u in &uris {
                    for d in crate::connection::connection_row("c".into(), &u.uri) {
                        assert_hidden(&d.to_string(), "SHOW EXTERNAL CONNECTIONS");
                    }
                    if let Err(e) = cloud::ExternalStorageUri::parse(&u.uri) {
                        let e = BackupError::from(e);
                        assert_hidden(&e.to_string(), "a BackupError");
                        assert_hidden(&SqlError::from(e).error.message, "a BackupError");
                    }
                }
            }
        }
    }
}
