//! The changefeed job: the coordinator's resumer (the change frontier) and the aggregator
//! processor that runs on every node of the plan.
//!
//! # The life of a changefeed
//!
//! 1. [`ChangefeedResumer::resume`] reads the [`ChangefeedDetails`] written at CREATE and the
//!    [`ChangefeedProgress`] checkpoint (high-water, spans already ahead of it, whether the
//!    initial scan is done). It re-reads the watched tables' descriptors, plans their primary
//!    index spans over the nodes matching `execution_locality` (`JobContext::plan_spans`)
//!    and runs a flow of [`AGGREGATOR`] processors (`JobContext::run_flow`).
//! 2. Each aggregator ([`run_aggregator`]) opens its own sink, scans its spans at the start
//!    time when an initial scan (or a backfill) is due, then opens rangefeeds from the
//!    checkpoint (the node's DistSender picks the closest replica). Each value is decoded
//!    with the table descriptor, filtered and projected for CDC queries, encoded and emitted,
//!    but only once its [`SchemaWatch`] knows the descriptors unchanged up to the value's
//!    timestamp (re-read when a newer value arrives, at most every
//!    [`SCHEMA_VALIDATE_MIN_GAP`], and every [`SCHEMA_VALIDATE`]): values past a schema change are
//!    dropped, for the restarted feed to emit in the new schema. Every [`REPORT_INTERVAL`] it flushes its sink and only then reports the resolved
//!    timestamps of its spans to the coordinator, so a reported span never has unflushed rows
//!    at or below its timestamp. (A range whose lease moved while idle keeps closing
//!    timestamps: its new leaseholder sets its lease up without waiting for a request, in kv.)
//! 3. The coordinator forwards a [`Frontier`] with those reports. Its loop
//!    ([`ChangeFrontier::tick`]) checkpoints the high-water and the spans ahead of it into
//!    the job every `min_checkpoint_frequency` (and sets the job's high-water for SHOW
//!    CHANGEFEED JOBS), emits resolved messages through its own sink at the `resolved`
//!    interval, finishes at `end_time`, and watches the descriptors: a version change, at
//!    its commit timestamp ([`first_write`]), makes the feed fail with `schema change
//!    occurred at <ts>` (`schema_change_policy=stop`) or restart at the change with a
//!    backfill scan in the new schema (`backfill`) or without one (`nobackfill`), once
//!    everything before the change is resolved.
//! 4. A restarted coordinator (pause/resume, node death) resumes from the checkpoint: rows
//!    after the high-water are emitted again (at least once), in per-key order.
//!
//! An aggregator whose node is no longer live, or that fails, restarts the feed from its
//! checkpoint with a new plan over the live nodes (a transient error, as CockroachDB retries
//! the whole flow). The other way round, a node matching `execution_locality` (any node
//! without one) that becomes live after the plan was made, and stays live for
//! [`REPLAN_DEBOUNCE`] (checked every [`REPLAN_CHECK`], [`Arrivals`]), makes the coordinator
//! checkpoint and restart the flow planned again, so the newcomer takes its balanced share of
//! the spans; rows after the checkpoint may be emitted again. Sink errors retry the job the same way unless `on_error=pause`, which
//! pauses it. While it retries, the running status keeps the error (`transient error: sink: ...`) until
//! the feed has resolved past the start of the attempt that succeeds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base::{Key, Span, Timestamp};
use futures::future::BoxFuture;
use jobs::{JobContext, JobError, Processor, ProcessorContext, ProgressSender, Resumer};
use kv::KvNode;
use kv::rangefeed::RangefeedEvent;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sql::catalog::descriptor::{Descriptor, TableDesc};
use sql::{Datum, SqlServer};
use tokio::sync::mpsc;

use crate::encoder::{Encoder, NamedRow, RowChange};
use crate::frontier::Frontier;
use crate::options::{ChangefeedOptions, InitialScan, OnError, SchemaChangePolicy};
use crate::query::CdcQuery;
use crate::sink::{Sink, SinkContext, SinkError, open_sink};

/// The processor name of aggregators.
pub const AGGREGATOR: &str = "changefeed.aggregator";
/// How often an aggregator flushes its sink and reports resolved spans.
pub const REPORT_INTERVAL: Duration = Duration::from_millis(200);
/// How often the coordinator's change frontier looks at the frontier and the descriptors.
pub const FRONTIER_TICK: Duration = Duration::from_millis(100);
/// How often the coordinator re-reads the watched tables' descriptors.
pub const SCHEMA_POLL: Duration = Duration::from_millis(500);
/// How often an aggregator re-reads the watched descriptors when no row waits for it.
pub const SCHEMA_VALIDATE: Duration = Duration::from_millis(100);
/// A row newer than the last descriptor read is held until the next read, which starts at
/// once, or this long after the previous one started (so a busy feed reads the descriptors
/// at most this often, and a held row waits about one KV read).
pub const SCHEMA_VALIDATE_MIN_GAP: Duration = Duration::from_millis(5);
/// How often the coordinator compares the live nodes matching `execution_locality` with the
/// nodes its flow was planned over.
pub const REPLAN_CHECK: Duration = Duration::from_secs(1);
/// How long a node that came after the flow was planned must have stayed live (two default
/// liveness heartbeats) before the feed re-plans to include it: a flapping node does not
/// restart the flow again and again.
pub const REPLAN_DEBOUNCE: Duration = Duration::from_secs(3);
/// How the registry's running status of a job retrying after a transient error begins.
pub const RETRY_STATUS_PREFIX: &str = "transient error: ";
/// Keys read per initial-scan request.
const SCAN_BATCH: usize = 1000;
/// The sink id of the coordinator's own sink (resolved messages).
const FRONTIER_SINK_ID: u32 = u32::MAX;

/// One watched table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetTable {
    /// The table descriptor's id.
    pub table_id: u64,
    /// The table's name.
    pub name: String,
    /// `db.schema.table`.
    pub full_name: String,
    /// The topic its messages go to.
    pub topic: String,
}

/// What CREATE CHANGEFEED wrote into the job record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangefeedDetails {
    /// The sink URI with its secrets (the record's description shows it redacted).
    pub sink_uri: String,
    /// The checked options.
    pub options: ChangefeedOptions,
    /// The watched tables.
    pub targets: Vec<TargetTable>,
    /// The start: `cursor`, or the statement time.
    pub start: Timestamp,
    /// `end_time`.
    pub end_time: Option<Timestamp>,
    /// A CDC query's projection and filter.
    pub query: Option<CdcQuery>,
}

/// The checkpoint in the job record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangefeedProgress {
    /// Everything at or below this has been emitted and flushed.
    pub high_water: Option<Timestamp>,
    /// Spans resolved beyond the high-water.
    pub ahead: Vec<(Span, Timestamp)>,
    /// True once the initial scan (or the pending backfill) has been delivered.
    pub scan_done: bool,
    /// A backfill scan due at this time (after a schema change under `backfill`, or for
    /// tables ALTER CHANGEFEED added with an initial scan).
    pub backfill_at: Option<Timestamp>,
    /// The tables (descriptor ids) the due scan covers; `None`: every watched table.
    #[serde(default)]
    pub scan_tables: Option<Vec<u64>>,
    /// The descriptor versions the feed runs with.
    pub versions: Vec<(u64, u64)>,
}

/// What an aggregator is told to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AggregatorSpec {
    /// The feed.
    pub details: ChangefeedDetails,
    /// The tables' descriptors, as of the start.
    pub tables: Vec<TableDesc>,
    /// Where each piece of the watched spans starts.
    pub checkpoint: Frontier,
    /// Scan every row at this time first.
    pub scan_at: Option<Timestamp>,
    /// The tables the scan covers (descriptor ids); `None`: every table.
    #[serde(default)]
    pub scan_tables: Option<Vec<u64>>,
    /// When `tables` were read: rows after it are emitted only once the descriptors are
    /// known unchanged up to them ([`SchemaWatch`]); zero turns the watch off.
    #[serde(default)]
    pub schema_ts: Timestamp,
    /// Stop after the scan.
    pub scan_only: bool,
}

impl AggregatorSpec {
    /// True when the due scan covers `span` (a piece of one table's primary index).
    fn scans(&self, span: &Span) -> bool {
        let Some(ids) = &self.scan_tables else {
            return true;
        };
        self.tables
            .iter()
            .find(|t| table_span(t).contains_key(&span.start))
            .is_some_and(|t| ids.contains(&t.id))
    }
}

/// An aggregator's report: resolved timestamps of its spans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedSpans(pub Vec<(Span, Timestamp)>);

/// The primary index span of a table.
pub fn table_span(t: &TableDesc) -> Span {
    let start = base::keys::index_prefix(t.id, u64::from(t.primary_index.id));
    let end = Key(base::encoding::prefix_end(&start.0).unwrap_or_else(|| start.next().0));
    Span { start, end }
}

fn decode<T: for<'a> Deserialize<'a>>(what: &str, bytes: &[u8]) -> Result<T, JobError> {
    serde_json::from_slice(bytes).map_err(|e| JobError::failed(format!("corrupt {what}: {e}")))
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The running status of a feed making progress.
fn running_status(resolved: Timestamp) -> String {
    format!("running: resolved={}", crate::encoder::format_hlc(resolved))
}

fn sink_error(e: &SinkError) -> JobError {
    match e {
        SinkError::Invalid(_) | SinkError::Unimplemented(_) => JobError::failed(e.to_string()),
        SinkError::Unavailable(m) => JobError::Transient(format!("sink: {m}")),
    }
}

fn sink_context(storage: &cloud::StorageContext, job_id: i64, sink_id: u32) -> SinkContext {
    SinkContext {
        storage: storage.clone(),
        job_id: u64::try_from(job_id).unwrap_or_default(),
        sink_id,
    }
}

/// Reads the current descriptors of the watched tables.
pub async fn read_tables(
    sql: &SqlServer,
    targets: &[TargetTable],
) -> Result<Vec<TableDesc>, JobError> {
    read_tables_at(sql, targets, sql.node().clock().now()).await
}

/// Reads the descriptors of the watched tables as of `at`.
pub async fn read_tables_at(
    sql: &SqlServer,
    targets: &[TargetTable],
    at: Timestamp,
) -> Result<Vec<TableDesc>, JobError> {
    let reader = sql::kvio::Reader::Txn(
        Arc::new(kv::Txn::begin_at(sql.node().sender(), at)),
        sql.inner().reads.clone(),
    );
    let mut out = Vec::new();
    for t in targets {
        let desc = sql
            .inner()
            .catalog
            .get(&reader, t.table_id, true)
            .await
            .map_err(|e| JobError::Transient(e.to_string()))?;
        match desc.as_deref() {
            Some(Descriptor::Table(d)) => out.push(d.clone()),
            _ => {
                return Err(JobError::failed(format!(
                    "table \"{}\" was dropped",
                    t.full_name
                )));
            }
        }
    }
    Ok(out)
}

/// The coordinator's resumer.
pub struct ChangefeedResumer {
    /// This node's SQL server (descriptors).
    pub sql: SqlServer,
    /// This node's external storage context.
    pub storage: cloud::StorageContext,
}

impl Resumer for ChangefeedResumer {
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        let sql = self.sql.clone();
        let storage = self.storage.clone();
        Box::pin(resume_job(ctx, sql, storage))
    }
}

/// Runs the coordinator, pausing the job on errors under `on_error=pause`.
async fn resume_job(
    ctx: JobContext,
    sql: SqlServer,
    storage: cloud::StorageContext,
) -> Result<(), JobError> {
    let details: ChangefeedDetails = decode("changefeed details", &ctx.details())?;
    let result = coordinate(&ctx, &sql, &storage, &details).await;
    match result {
        Err(e) if details.options.on_error == OnError::Pause && !e.is_stop() => {
            tracing::warn!("changefeed {}: {e}; pausing (on_error=pause)", ctx.id());
            let _ = ctx
                .set_running_status(&format!("paused on error: {e}"))
                .await;
            ctx.registry().pause(ctx.id()).await?;
            Err(JobError::PauseRequested(ctx.id()))
        }
        other => other,
    }
}

/// One run of the coordinator.
async fn coordinate(
    ctx: &JobContext,
    sql: &SqlServer,
    storage: &cloud::StorageContext,
    details: &ChangefeedDetails,
) -> Result<(), JobError> {
    let mut progress: ChangefeedProgress = if ctx.progress().is_empty() {
        ChangefeedProgress::default()
    } else {
        decode("changefeed progress", &ctx.progress())?
    };
    let start = progress.high_water.unwrap_or(details.start);
    let schema_ts = schema_as_of(ctx.node(), sql, details, &progress, start).await?;
    let tables = read_tables_at(sql, &details.targets, schema_ts).await?;
    let versions: Vec<(u64, u64)> = tables.iter().map(|t| (t.id, t.version)).collect();
    let spans: Vec<Span> = tables.iter().map(table_span).collect();
    let mut checkpoint = Frontier::new(&spans, start);
    for (s, t) in &progress.ahead {
        checkpoint.forward(s, *t);
    }
    let opts = &details.options;
    let scan_at = match progress.backfill_at {
        Some(at) => Some(at),
        None if !progress.scan_done && opts.initial_scan != InitialScan::No => Some(start),
        None => None,
    };
    let scan_only = opts.initial_scan == InitialScan::Only;
    if scan_only && progress.scan_done {
        return Ok(());
    }
    progress.versions = versions.clone();

    let topics: Vec<String> = details.targets.iter().map(|t| t.topic.clone()).collect();
    let mut sink = open_sink(
        &details.sink_uri,
        opts,
        &topics,
        &sink_context(storage, ctx.id(), FRONTIER_SINK_ID),
    )
    .await
    .map_err(|e| sink_error(&e))?;

    let spec = AggregatorSpec {
        details: details.clone(),
        tables,
        checkpoint: checkpoint.clone(),
        scan_at,
        scan_tables: scan_at.and(progress.scan_tables.clone()),
        scan_only,
        schema_ts,
    };
    // The nodes the plan could use, read before planning: a node that comes later (or that
    // came while planning and got nothing) makes the feed re-plan ([`Arrivals`]).
    let known = live_matching(ctx);
    let plan = ctx.plan_spans(spans).await?;
    // After a failed attempt the registry shows `transient error: <why>`. It stays until the
    // feed has resolved past the time this attempt began, that is until what failed (rows
    // committed before now) has reached the sink, so SHOW JOBS says what is wrong, a sink
    // that is down, for as long as it is wrong and not only between two attempts.
    let retrying = ctx
        .reload()
        .await
        .ok()
        .and_then(|r| r.running_status)
        .is_some_and(|s| s.starts_with(RETRY_STATUS_PREFIX))
        .then(|| ctx.node().clock().now());
    if retrying.is_none() {
        ctx.set_running_status(&running_status(start)).await?;
    }
    let aggregators: Vec<base::NodeId> = plan.nodes.iter().map(|n| n.node_id).collect();
    let frontier = Arc::new(Mutex::new(checkpoint));
    let reports = frontier.clone();
    let flow = ctx.run_flow(plan, AGGREGATOR, encode(&spec), move |_node, msg| {
        if let Ok(ResolvedSpans(spans)) = serde_json::from_slice::<ResolvedSpans>(&msg) {
            let mut f = reports.lock();
            for (s, t) in &spans {
                f.forward(s, *t);
            }
        }
        Vec::new()
    });
    let mut cf = ChangeFrontier {
        ctx: ctx.clone(),
        sql: sql.clone(),
        details: details.clone(),
        frontier,
        encoder: Encoder::new(opts),
        progress,
        start,
        scan_at,
        last_checkpoint: Instant::now(),
        last_resolved: Instant::now(),
        last_schema_poll: Instant::now(),
        emitted_resolved: start,
        schema_change: None,
        retrying,
        arrivals: Arrivals::new(known.into_iter().chain(aggregators.iter().copied())),
        aggregators,
        schema_ts,
    };
    let result = tokio::select! {
        r = flow => r.map(|_| Done::Finished),
        r = cf.run(sink.as_mut()) => r,
    };
    match result? {
        Done::Finished | Done::EndTime => {
            cf.checkpoint(true).await?;
            let _ = sink.close().await;
            Ok(())
        }
        Done::Restart(why) => {
            let _ = sink.close().await;
            Err(JobError::Transient(why))
        }
    }
}

/// When to read the descriptors a run starts with: now, unless a watched table changed
/// since the last run checkpointed its versions (say, while the feed was paused). Then just
/// before that change: the run emits what came before it in the old schema, and its change
/// frontier meets the change as if it happened while running (backfill, or stop).
async fn schema_as_of(
    node: &KvNode,
    sql: &SqlServer,
    details: &ChangefeedDetails,
    progress: &ChangefeedProgress,
    start: Timestamp,
) -> Result<Timestamp, JobError> {
    let now = node.clock().now();
    let current = read_tables_at(sql, &details.targets, now).await?;
    let changed = current.iter().any(|t| {
        progress
            .versions
            .iter()
            .any(|(id, v)| *id == t.id && *v != t.version)
    });
    if !changed {
        return Ok(now);
    }
    let keys: Vec<Key> = current
        .iter()
        .map(|t| sql::catalog::desc_key(t.id))
        .collect();
    Ok(match first_write(node, &keys, start, now).await? {
        Some(at) => at.prev(),
        None => now,
    })
}

enum Done {
    /// Every aggregator finished (initial_scan='only', end_time).
    Finished,
    /// The high-water reached end_time.
    EndTime,
    /// A schema change: the checkpoint says what to do next; run again.
    Restart(String),
}

/// The coordinator's loop over the shared frontier.
struct ChangeFrontier {
    ctx: JobContext,
    sql: SqlServer,
    details: ChangefeedDetails,
    frontier: Arc<Mutex<Frontier>>,
    encoder: Encoder,
    progress: ChangefeedProgress,
    start: Timestamp,
    scan_at: Option<Timestamp>,
    last_checkpoint: Instant,
    last_resolved: Instant,
    last_schema_poll: Instant,
    emitted_resolved: Timestamp,
    /// A schema change seen at this time, waiting for the frontier to reach it.
    schema_change: Option<Timestamp>,
    /// The running status shows the previous attempt's error until the frontier passes this.
    retrying: Option<Timestamp>,
    /// The nodes running this attempt's aggregators.
    aggregators: Vec<base::NodeId>,
    /// When this attempt read the descriptors it runs with.
    schema_ts: Timestamp,
    /// Live matching nodes that came after the plan was made.
    arrivals: Arrivals,
}

impl ChangeFrontier {
    async fn run(&mut self, sink: &mut dyn Sink) -> Result<Done, JobError> {
        let mut tick = tokio::time::interval(FRONTIER_TICK);
        loop {
            tick.tick().await;
            if let Some(done) = self.tick(sink).await? {
                return Ok(done);
            }
        }
    }

    /// One step: aggregators alive, checkpoint, resolved messages, end time, schema changes.
    async fn tick(&mut self, sink: &mut dyn Sink) -> Result<Option<Done>, JobError> {
        // A dead node's aggregator may keep its flow stream open (a node cut off, or a process
        // whose connections outlive it) while it emits nothing: liveness decides. The retry
        // plans the spans again over the live nodes, from the checkpoint.
        let directory = self.ctx.node().directory();
        if let Some(n) = self.aggregators.iter().find(|n| !directory.is_live(**n)) {
            return Err(JobError::Transient(format!(
                "aggregator node {n} is not live; restarting the feed from its checkpoint"
            )));
        }
        // A matching node that came after the plan, and stayed: plan again to give it a share
        // of the spans (keeping the plan balanced), from a checkpoint taken now so that little
        // is emitted again.
        if self.arrivals.due(Instant::now())
            && let Some(n) = self
                .arrivals
                .observe(&live_matching(&self.ctx), Instant::now())
        {
            self.checkpoint(true).await?;
            tracing::info!(
                "changefeed {}: node {n} is live and matches; re-planning the feed",
                self.ctx.id()
            );
            return Ok(Some(Done::Restart(format!(
                "node {n} became available; re-planning the feed from its checkpoint"
            ))));
        }
        let opts = self.details.options.clone();
        let hw = self.frontier.lock().frontier();
        if self.last_checkpoint.elapsed() >= opts.min_checkpoint_frequency
            && Some(hw) != self.progress.high_water
        {
            self.checkpoint(false).await?;
        }
        if let Some(interval) = opts.resolved_interval()
            && hw > self.emitted_resolved
            && self.last_resolved.elapsed() >= interval
            && self.scan_delivered(hw)
        {
            let payload = self.encoder.encode_resolved(hw);
            sink.emit_resolved(hw, &payload)
                .await
                .map_err(|e| sink_error(&e))?;
            self.emitted_resolved = hw;
            self.last_resolved = Instant::now();
        }
        if let Some(end) = self.details.end_time
            && hw >= end
        {
            return Ok(Some(Done::EndTime));
        }
        if self.schema_change.is_none() && self.last_schema_poll.elapsed() >= SCHEMA_POLL {
            self.last_schema_poll = Instant::now();
            let tables = read_tables(&self.sql, &self.details.targets).await?;
            let now: Vec<(u64, u64)> = tables.iter().map(|t| (t.id, t.version)).collect();
            if now != self.progress.versions {
                // The change's own commit timestamp: the aggregators stop emitting there.
                let upto = self.ctx.node().clock().now();
                let keys: Vec<Key> = tables
                    .iter()
                    .map(|t| sql::catalog::desc_key(t.id))
                    .collect();
                let at = first_write(self.ctx.node(), &keys, self.schema_ts, upto)
                    .await?
                    .unwrap_or(upto);
                tracing::info!(
                    "changefeed {}: schema change seen at {}",
                    self.ctx.id(),
                    crate::encoder::format_hlc(at)
                );
                self.schema_change = Some(at);
            }
        }
        // Everything before the change is out (the aggregators resolve no further).
        if let Some(at) = self.schema_change
            && hw >= at.prev()
        {
            let ts = crate::encoder::format_hlc(at);
            return match opts.schema_change_policy {
                SchemaChangePolicy::Stop => {
                    Err(JobError::failed(format!("schema change occurred at {ts}")))
                }
                policy => {
                    self.checkpoint(true).await?;
                    // A backfill scans at the change (its own writes included); without one,
                    // the rangefeeds start just below it.
                    self.progress.high_water = Some(if policy == SchemaChangePolicy::Backfill {
                        at
                    } else {
                        at.prev()
                    });
                    self.progress.ahead.clear();
                    // The versions the next run starts with, so that it does not take the
                    // same change for one made while it was not running.
                    self.progress.versions = read_tables_at(&self.sql, &self.details.targets, at)
                        .await?
                        .iter()
                        .map(|t| (t.id, t.version))
                        .collect();
                    self.progress.backfill_at =
                        (policy == SchemaChangePolicy::Backfill).then_some(at);
                    self.progress.scan_tables = None;
                    self.progress.scan_done = policy != SchemaChangePolicy::Backfill;
                    self.write_progress().await?;
                    Ok(Some(Done::Restart(format!(
                        "schema change occurred at {ts}; restarting the feed"
                    ))))
                }
            };
        }
        Ok(None)
    }

    /// True when the scan due at the start has been delivered up to `hw`.
    fn scan_delivered(&self, hw: Timestamp) -> bool {
        self.scan_at
            .is_none_or(|at| hw > at || self.details.options.initial_scan == InitialScan::Only)
    }

    async fn checkpoint(&mut self, force: bool) -> Result<(), JobError> {
        let (hw, ahead) = {
            let f = self.frontier.lock();
            (f.frontier(), f.ahead())
        };
        if !force && Some(hw) == self.progress.high_water {
            return Ok(());
        }
        self.progress.high_water = Some(hw);
        self.progress.ahead = ahead;
        if self.scan_at.is_some_and(|at| hw > at) || force {
            self.progress.scan_done = self.progress.scan_done
                || self.scan_at.is_none_or(|at| hw > at)
                || (force && self.details.options.initial_scan == InitialScan::Only);
            if self.progress.scan_done {
                self.progress.backfill_at = None;
                self.progress.scan_tables = None;
            }
        }
        self.write_progress().await?;
        if hw > self.start {
            self.ctx.set_high_water(hw).await?;
            // SHOW JOBS follows the high-water, once per checkpoint; a retry's error stays
            // until what failed has reached the sink.
            if self.retrying.is_none_or(|until| hw > until) {
                self.ctx.set_running_status(&running_status(hw)).await?;
                self.retrying = None;
            }
        }
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    async fn write_progress(&self) -> Result<(), JobError> {
        let fraction = if self.details.options.initial_scan == InitialScan::Only {
            if self.progress.scan_done { 1.0 } else { 0.0 }
        } else {
            0.0
        };
        self.ctx
            .update_progress(fraction, encode(&self.progress))
            .await
    }
}

/// The aggregator processor.
pub struct AggregatorProcessor {
    /// This node's external storage context.
    pub storage: cloud::StorageContext,
}

impl Processor for AggregatorProcessor {
    fn run(
        &self,
        ctx: ProcessorContext,
        spec: Vec<u8>,
        spans: Vec<Span>,
        progress: ProgressSender,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        let storage = self.storage.clone();
        Box::pin(async move {
            let spec: AggregatorSpec = decode("aggregator spec", &spec)?;
            let topics: Vec<String> = spec
                .details
                .targets
                .iter()
                .map(|t| t.topic.clone())
                .collect();
            let sink_id = u32::try_from(ctx.node_id().0).unwrap_or(0);
            let mut sink = open_sink(
                &spec.details.sink_uri,
                &spec.details.options,
                &topics,
                &sink_context(&storage, ctx.job_id(), sink_id),
            )
            .await
            .map_err(|e| sink_error(&e))?;
            let report =
                move |spans: Vec<(Span, Timestamp)>| -> BoxFuture<'static, Result<(), JobError>> {
                    let progress = progress.clone();
                    Box::pin(async move { progress.send(encode(&ResolvedSpans(spans))).await })
                };
            let r = run_aggregator(ctx.node(), &spec, &spans, sink.as_mut(), &report).await;
            let _ = sink.close().await;
            r
        })
    }
}

/// Reports resolved spans to the coordinator (or to the sinkless statement).
pub type Report<'a> =
    &'a (dyn Fn(Vec<(Span, Timestamp)>) -> BoxFuture<'static, Result<(), JobError>> + Sync);

/// Runs one aggregator over `spans`: initial scan if due, then rangefeeds, emitting into
/// `sink` and reporting resolved spans after each flush. Returns when the scan is done
/// (`scan_only`) or every span is resolved at `end_time`; otherwise runs until dropped.
pub async fn run_aggregator(
    node: &KvNode,
    spec: &AggregatorSpec,
    spans: &[Span],
    sink: &mut dyn Sink,
    report: Report<'_>,
) -> Result<(), JobError> {
    let feed = Feed::new(spec);
    // Where each of my pieces starts.
    let mut mine = Frontier::new(spans, Timestamp::ZERO);
    for (s, t) in spec.checkpoint.entries() {
        mine.forward(s, *t);
    }
    if let Some(at) = spec.scan_at {
        for span in spans.iter().filter(|s| spec.scans(s)) {
            initial_scan(node, &feed, span, at, sink).await?;
        }
        sink.flush().await.map_err(|e| sink_error(&e))?;
        for span in spans {
            mine.forward(span, at);
        }
        report(mine.entries().to_vec()).await?;
        if spec.scan_only {
            return Ok(());
        }
    }
    let end = spec.details.end_time;
    let (tx, mut rx) = mpsc::channel::<RangefeedEvent>(kv::rangefeed_client::CLIENT_BUFFER);
    let mut feeds = Vec::new();
    for (span, start) in mine.entries().to_vec() {
        let (mut frx, handle) = kv::rangefeed_client::rangefeed(node.sender().clone(), span, start);
        let tx = tx.clone();
        let fwd = tokio::spawn(async move {
            while let Some(ev) = frx.recv().await {
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
        });
        feeds.push(AbortOnDrop(handle.abort_handle()));
        feeds.push(AbortOnDrop(fwd.abort_handle()));
    }
    drop(tx);
    let starts = mine.clone();
    let mut tick = tokio::time::interval(REPORT_INTERVAL);
    let mut validate = tokio::time::interval(SCHEMA_VALIDATE);
    let mut dirty = false;
    let mut watch = SchemaWatch::start(node, spec).await?;
    // Rows after the last descriptor check, in arrival order (so per key in commit order).
    let mut held: Vec<(Key, Timestamp, Option<Vec<u8>>)> = Vec::new();
    // When held rows get their descriptor read, and when the last read started.
    let mut revalidate_at: Option<tokio::time::Instant> = None;
    let mut last_read = tokio::time::Instant::now();
    loop {
        let revalidate = async {
            match revalidate_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else {
                    return Err(JobError::Transient("rangefeeds ended".into()));
                };
                match ev {
                    RangefeedEvent::Value { key, ts, value } => {
                        if end.is_some_and(|e| ts > e)
                            || at_or_below(&starts, &key, ts)
                            || watch.past_change(ts)
                        {
                            continue;
                        }
                        if !watch.covers(ts) || !held.is_empty() {
                            held.push((key, ts, value));
                            if revalidate_at.is_none() {
                                revalidate_at = Some(last_read + SCHEMA_VALIDATE_MIN_GAP);
                            }
                            continue;
                        }
                        feed.emit(node, &key, ts, value.as_deref(), sink).await?;
                    }
                    RangefeedEvent::Checkpoint { span, resolved } => {
                        let resolved = end.map_or(resolved, |e| resolved.min(e));
                        mine.forward(&span, resolved);
                        dirty = true;
                    }
                    RangefeedEvent::Error { message, .. } => {
                        return Err(JobError::Transient(format!("rangefeed: {message}")));
                    }
                }
            }
            _ = revalidate => {
                revalidate_at = None;
                last_read = tokio::time::Instant::now();
                if release_held(node, &mut watch, &mut held, &feed, sink).await? {
                    dirty = true;
                }
                if !held.is_empty() {
                    revalidate_at = Some(last_read + SCHEMA_VALIDATE_MIN_GAP);
                }
            }
            _ = validate.tick() => {
                last_read = tokio::time::Instant::now();
                if release_held(node, &mut watch, &mut held, &feed, sink).await? {
                    dirty = true;
                }
            }
            _ = tick.tick() => {
                if !dirty {
                    continue;
                }
                sink.flush().await.map_err(|e| sink_error(&e))?;
                // Nothing is resolved past what the descriptors are known valid for: held
                // rows are not in the sink yet, and past a change the feed restarts.
                let resolved: Vec<(Span, Timestamp)> = mine
                    .entries()
                    .iter()
                    .map(|(s, t)| (s.clone(), (*t).min(watch.valid_until())))
                    .collect();
                let low = resolved.iter().map(|(_, t)| *t).min().unwrap_or(Timestamp::ZERO);
                report(resolved).await?;
                dirty = false;
                if end.is_some_and(|e| low >= e) {
                    return Ok(());
                }
            }
        }
    }
}

/// Re-reads the descriptors and emits the held rows they now cover, in arrival order; rows past
/// a change are dropped (the restarted feed emits them). True when the valid time moved.
async fn release_held(
    node: &KvNode,
    watch: &mut SchemaWatch,
    held: &mut Vec<(Key, Timestamp, Option<Vec<u8>>)>,
    feed: &Feed<'_>,
    sink: &mut dyn Sink,
) -> Result<bool, JobError> {
    if !watch.poll(node).await? {
        return Ok(false);
    }
    let mut still = Vec::new();
    for (key, ts, value) in held.drain(..) {
        if watch.past_change(ts) {
            continue;
        }
        // Arrival order per key: once one row waits, the rows after it wait too.
        if !watch.covers(ts) || !still.is_empty() {
            still.push((key, ts, value));
            continue;
        }
        feed.emit(node, &key, ts, value.as_deref(), sink).await?;
    }
    *held = still;
    Ok(true)
}

/// The live nodes matching the job's `execution_locality` (every live node without one), as
/// the coordinator's node directory sees them.
fn live_matching(ctx: &JobContext) -> BTreeSet<base::NodeId> {
    let filter = ctx.execution_locality().unwrap_or_default();
    ctx.node()
        .directory()
        .all()
        .into_iter()
        .filter(|(d, live)| *live && d.locality.matches(&filter).is_match())
        .map(|(d, _)| d.node_id)
        .collect()
}

/// Nodes that became live (and match the feed's `execution_locality`) after the flow was
/// planned. Checked every [`REPLAN_CHECK`]; a node counts once it has been seen live at every
/// check for [`REPLAN_DEBOUNCE`], so a node flapping does not restart the flow repeatedly.
/// Nodes known at planning time never count, even if the plan gave them nothing (fewer
/// ranges than nodes), or the feed would re-plan forever.
struct Arrivals {
    /// The nodes live (and matching) when the plan was made, and the plan's nodes.
    known: BTreeSet<base::NodeId>,
    /// Newcomers, with when each was first seen live in an unbroken run of checks.
    since: BTreeMap<base::NodeId, Instant>,
    last_check: Instant,
}

impl Arrivals {
    fn new(known: impl IntoIterator<Item = base::NodeId>) -> Arrivals {
        Arrivals {
            known: known.into_iter().collect(),
            since: BTreeMap::new(),
            last_check: Instant::now(),
        }
    }

    /// True when a check is due; the next one is due [`REPLAN_CHECK`] later.
    fn due(&mut self, now: Instant) -> bool {
        if now.duration_since(self.last_check) < REPLAN_CHECK {
            return false;
        }
        self.last_check = now;
        true
    }

    /// Records the live matching nodes at `now`; returns a newcomer live for
    /// [`REPLAN_DEBOUNCE`]. A newcomer missing from one check starts over.
    fn observe(&mut self, live: &BTreeSet<base::NodeId>, now: Instant) -> Option<base::NodeId> {
        self.since
            .retain(|n, _| live.contains(n) && !self.known.contains(n));
        for n in live.difference(&self.known) {
            self.since.entry(*n).or_insert(now);
        }
        self.since
            .iter()
            .find(|(_, t)| now.duration_since(**t) >= REPLAN_DEBOUNCE)
            .map(|(n, _)| *n)
    }
}

/// True when the checkpoint already covers `key` at `ts` (emitted before a restart).
fn at_or_below(starts: &Frontier, key: &Key, ts: Timestamp) -> bool {
    starts
        .entries()
        .iter()
        .find(|(s, _)| s.start <= *key && *key < s.end)
        .is_some_and(|(_, t)| ts <= *t)
}

/// Whether the watched tables' descriptors are still the ones an aggregator decodes with.
///
/// A row at `ts` may be emitted only once the descriptors are known unchanged up to `ts`:
/// [`SchemaWatch::poll`] re-reads them at the present time `t` (the read also keeps any
/// later change above `t`), and if nothing changed they are valid up to `t`. If something
/// changed, the change's commit timestamp `c` ([`first_write`]) is the boundary: rows before
/// it are emitted, rows at or after it dropped, and nothing is resolved at or past it; the
/// coordinator sees the same change and restarts the feed at `c` in the new schema (or
/// fails it, under `schema_change_policy=stop`). So no row is emitted in a schema it was not
/// written in, and the backfill after a change is the first thing emitted in the new one.
struct SchemaWatch {
    /// The descriptor keys.
    keys: Vec<Key>,
    /// Their values as the aggregator's tables were read.
    values: Vec<Option<Vec<u8>>>,
    /// The descriptors are known unchanged up to here.
    valid: Timestamp,
    /// The first change after the tables were read.
    change: Option<Timestamp>,
}

impl SchemaWatch {
    /// Reads the descriptors as of `spec.schema_ts`; with a zero `schema_ts` (a sinkless
    /// feed, bounded by `end_time`) the watch always says valid.
    async fn start(node: &KvNode, spec: &AggregatorSpec) -> Result<SchemaWatch, JobError> {
        let mut w = SchemaWatch {
            keys: spec
                .tables
                .iter()
                .map(|t| sql::catalog::desc_key(t.id))
                .collect(),
            values: Vec::new(),
            valid: Timestamp::MAX,
            change: None,
        };
        if spec.schema_ts.is_zero() {
            w.keys.clear();
            return Ok(w);
        }
        w.values = read_keys(node, &w.keys, spec.schema_ts).await?;
        w.valid = spec.schema_ts;
        Ok(w)
    }

    /// Re-reads the descriptors; true when the valid time moved.
    async fn poll(&mut self, node: &KvNode) -> Result<bool, JobError> {
        if self.keys.is_empty() || self.change.is_some() {
            return Ok(false);
        }
        let now = node.clock().now();
        if read_keys(node, &self.keys, now).await? == self.values {
            self.valid = now;
            return Ok(true);
        }
        let change = first_write(node, &self.keys, self.valid, now)
            .await?
            .unwrap_or(now);
        self.change = Some(change);
        self.valid = change.prev();
        Ok(true)
    }

    /// True when a row at `ts` can be decoded with the aggregator's descriptors.
    fn covers(&self, ts: Timestamp) -> bool {
        ts <= self.valid
    }

    /// True for a row at or after the change: the restarted feed emits it.
    fn past_change(&self, ts: Timestamp) -> bool {
        self.change.is_some_and(|c| ts >= c)
    }

    fn valid_until(&self) -> Timestamp {
        self.valid
    }
}

/// Reads `keys` at `at`.
async fn read_keys(
    node: &KvNode,
    keys: &[Key],
    at: Timestamp,
) -> Result<Vec<Option<Vec<u8>>>, JobError> {
    let txn = kv::Txn::begin_at(node.sender(), at);
    let mut out = Vec::with_capacity(keys.len());
    for k in keys {
        out.push(txn.get(k).await?);
    }
    Ok(out)
}

/// The commit timestamp of the first write to any of `keys` in `(after, upto]`.
pub async fn first_write(
    node: &KvNode,
    keys: &[Key],
    after: Timestamp,
    upto: Timestamp,
) -> Result<Option<Timestamp>, JobError> {
    let mut first: Option<Timestamp> = None;
    for k in keys {
        let ba = kv::api::BatchRequest {
            header: kv::api::Header {
                timestamp: upto,
                gateway: node.node_id(),
                ..kv::api::Header::default()
            },
            requests: vec![kv::api::Request::Export {
                span: Span {
                    start: k.clone(),
                    end: k.next(),
                },
                start: after,
                end: upto,
                all_revisions: true,
                target_bytes: 0,
            }],
        };
        let resp = node.sender().send(ba).await?;
        if let Some(kv::api::Response::Export { entries, .. }) = resp.responses.into_iter().next() {
            for e in entries {
                first = Some(first.map_or(e.ts, |f: Timestamp| f.min(e.ts)));
            }
        }
    }
    Ok(first)
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn initial_scan(
    node: &KvNode,
    feed: &Feed<'_>,
    span: &Span,
    at: Timestamp,
    sink: &mut dyn Sink,
) -> Result<(), JobError> {
    let txn = kv::Txn::begin_at(node.sender(), at);
    let mut from = span.clone();
    loop {
        let rows = txn.scan(&from, SCAN_BATCH).await?;
        let n = rows.len();
        for kv in &rows {
            feed.emit(node, &kv.key, at, Some(&kv.value), sink).await?;
        }
        match rows.last() {
            Some(last) if n >= SCAN_BATCH => from.start = last.key.next(),
            _ => return Ok(()),
        }
    }
}

/// Turns KV values into messages.
struct Feed<'a> {
    spec: &'a AggregatorSpec,
    encoder: Encoder,
}

impl<'a> Feed<'a> {
    fn new(spec: &'a AggregatorSpec) -> Feed<'a> {
        Feed {
            spec,
            encoder: Encoder::new(&spec.details.options),
        }
    }

    async fn emit(
        &self,
        node: &KvNode,
        key: &Key,
        ts: Timestamp,
        value: Option<&[u8]>,
        sink: &mut dyn Sink,
    ) -> Result<(), JobError> {
        let Some((i, table)) = self
            .spec
            .tables
            .iter()
            .enumerate()
            .find(|(_, t)| table_span(t).contains_key(key))
        else {
            return Ok(());
        };
        let target = &self.spec.details.targets[i];
        let decoded = match value {
            Some(v) => decode_row(table, key, v).map(Some),
            None => Ok(None),
        };
        let after = match decoded {
            Ok(after) => after,
            // A row in a schema this aggregator does not know yet (a schema change rewriting
            // the table, e.g. to REGIONAL BY ROW): the coordinator sees the new descriptor
            // version and restarts the feed, re-emitting every row under `backfill`.
            Err(e) => {
                tracing::warn!("changefeed {}: skipping a row: {e}", target.full_name);
                return Ok(());
            }
        };
        let key_row = match &after {
            Some(r) => r.clone(),
            None => {
                match decode_row(table, key, &sql::encoding::encode_value(std::iter::empty())) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!("changefeed {}: skipping a delete: {e}", target.full_name);
                        return Ok(());
                    }
                }
            }
        };
        let pk: Vec<Datum> = table
            .pk_positions()
            .into_iter()
            .map(|p| key_row.get(p).cloned().unwrap_or(Datum::Null))
            .collect();
        let before = if self.encoder.diff || self.spec.details.query.is_some() {
            previous(node, table, key, ts).await?
        } else {
            None
        };
        let named = |row: &Vec<Datum>| -> NamedRow {
            table
                .columns
                .iter()
                .zip(row)
                .map(|(c, d)| (c.name.clone(), d.clone()))
                .collect()
        };
        let mut change = RowChange {
            topic: target.topic.clone(),
            key: pk,
            after: after.as_ref().map(named),
            before: before.as_ref().map(named),
            updated: ts,
            mvcc: ts,
        };
        if let Some(q) = &self.spec.details.query {
            match q.apply(&change) {
                Some(projected) => change = projected,
                None => return Ok(()),
            }
        }
        let k = self.encoder.encode_key(&change.key);
        let v = self.encoder.encode_value(&change);
        sink.emit_row(&change.topic, &k, v.as_deref(), ts)
            .await
            .map_err(|e| sink_error(&e))
    }
}

fn decode_row(table: &TableDesc, key: &Key, value: &[u8]) -> Result<Vec<Datum>, JobError> {
    sql::encoding::decode_row(table, key, value)
        .map_err(|e| JobError::failed(format!("decoding a row of {}: {e}", table.name)))
}

/// The row just before `ts` (for `diff` and CDC queries' `cdc_prev`).
async fn previous(
    node: &KvNode,
    table: &TableDesc,
    key: &Key,
    ts: Timestamp,
) -> Result<Option<Vec<Datum>>, JobError> {
    let prev = if ts.logical > 0 {
        Timestamp {
            wall: ts.wall,
            logical: ts.logical - 1,
        }
    } else {
        Timestamp {
            wall: ts.wall - 1,
            logical: u32::MAX,
        }
    };
    let txn = kv::Txn::begin_at(node.sender(), prev);
    match txn.get(key).await? {
        Some(v) => Ok(Some(decode_row(table, key, &v)?)),
        None => Ok(None),
    }
}

/// Registers the changefeed resumer and the aggregator processor on a node's job registry.
pub fn register_job(sql: &SqlServer, jobs: &jobs::Registry, storage: &cloud::StorageContext) {
    jobs.register_resumer(
        jobs::JobType::Changefeed,
        Arc::new(ChangefeedResumer {
            sql: sql.clone(),
            storage: storage.clone(),
        }),
    );
    jobs.register_processor(
        AGGREGATOR,
        Arc::new(AggregatorProcessor {
            storage: storage.clone(),
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_count_a_newcomer_live_for_the_debounce() {
        let n = base::NodeId;
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let live = |ids: &[u64]| ids.iter().map(|i| n(*i)).collect::<BTreeSet<_>>();
        let mut a = Arrivals::new([n(1), n(2)]);
        a.last_check = t0;
        assert!(!a.due(t0));
        assert!(a.due(at(1)));
        // Known nodes never count, live or not.
        assert_eq!(a.observe(&live(&[1, 2]), at(1)), None);
        assert_eq!(a.observe(&live(&[1]), at(2)), None);
        // A newcomer counts once live for the debounce at every check.
        assert_eq!(a.observe(&live(&[1, 2, 3]), at(3)), None);
        assert_eq!(a.observe(&live(&[1, 2, 3]), at(5)), None);
        // It flaps: it starts over.
        assert_eq!(a.observe(&live(&[1, 2]), at(6)), None);
        assert_eq!(a.observe(&live(&[1, 2, 3]), at(7)), None);
        assert_eq!(a.observe(&live(&[1, 2, 3]), at(9)), None);
        assert_eq!(a.observe(&live(&[1, 2, 3]), at(10)), Some(n(3)));
    }
}
