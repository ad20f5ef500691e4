//! What a resumer gets: [`JobContext`], its handle on the job it coordinates.

use std::collections::BTreeSet;
use std::sync::Arc;

use base::RangeDescriptor;
use base::{NodeId, Span, Timestamp};
use futures::StreamExt;
use kv::KvError;
use kv::KvNode;
use kv::api::{BatchRequest, BatchResponse, Header, Request, Response};
use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use crate::flow::{FLOW_METHOD, FlowItem, FlowRequest, MAX_REPLANS, PROGRESS_BUFFER};
use crate::plan::{self, FlowPlan, PlanInput, PlanNode, PlanRange};
use crate::record::{FlowPlanSummary, JobStatus};
use crate::registry::Registry;
use crate::span_set;
use crate::{JobError, JobId, JobRecord};

/// Why a running job must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// PAUSE JOB.
    Pause,
    /// CANCEL JOB.
    Cancel,
    /// Another node holds the claim now.
    ClaimLost,
}

impl StopReason {
    /// The error a resumer returns for this stop.
    pub fn error(self, id: JobId) -> JobError {
        match self {
            StopReason::Pause => JobError::PauseRequested(id),
            StopReason::Cancel => JobError::CancelRequested(id),
            StopReason::ClaimLost => JobError::ClaimLost(id),
        }
    }
}

/// A resumer's handle on its job, valid for one claim. Cheap to clone.
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<CtxInner>,
}

struct CtxInner {
    registry: Registry,
    id: JobId,
    epoch: u64,
    record: Mutex<JobRecord>,
    stop: watch::Sender<Option<StopReason>>,
}

impl JobContext {
    pub(crate) fn new(
        registry: Registry,
        record: JobRecord,
        epoch: u64,
        stop: watch::Sender<Option<StopReason>>,
    ) -> JobContext {
        JobContext {
            inner: Arc::new(CtxInner {
                registry,
                id: record.id,
                epoch,
                record: Mutex::new(record),
                stop,
            }),
        }
    }

    /// The job's id.
    pub fn id(&self) -> JobId {
        self.inner.id
    }

    /// The claim epoch this context writes under.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The record as of this context's last read or write.
    pub fn record(&self) -> JobRecord {
        self.inner.record.lock().clone()
    }

    /// The type-specific details written at creation.
    pub fn details(&self) -> Vec<u8> {
        self.inner.record.lock().details.clone()
    }

    /// The last checkpoint ([`JobContext::update_progress`]); empty before the first.
    pub fn progress(&self) -> Vec<u8> {
        self.inner.record.lock().progress.clone()
    }

    /// The execution-locality filter, if any.
    pub fn execution_locality(&self) -> Option<locality::LocalityFilter> {
        self.inner.record.lock().filter()
    }

    /// The local KV node (the coordinator's).
    pub fn node(&self) -> &KvNode {
        self.inner.registry.node()
    }

    /// The registry of this node.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// `Some` once the job must stop.
    pub fn stop_requested(&self) -> Option<StopReason> {
        *self.inner.stop.borrow()
    }

    /// Resolves when the job must stop (pause, cancel, claim lost).
    pub async fn stopped(&self) -> StopReason {
        let mut rx = self.inner.stop.subscribe();
        loop {
            if let Some(r) = *rx.borrow_and_update() {
                return r;
            }
            if rx.changed().await.is_err() {
                // The registry dropped the job: treat as lost.
                return StopReason::ClaimLost;
            }
        }
    }

    pub(crate) fn clear_stop(&self) {
        self.inner.stop.send_replace(None);
    }

    /// Re-reads the record (checking the claim and pause/cancel requests).
    pub async fn reload(&self) -> Result<JobRecord, JobError> {
        self.write(|_| Ok(false)).await
    }

    /// Re-reads the record, checking only the claim.
    pub(crate) async fn reload_any(&self) -> Result<JobRecord, JobError> {
        self.write_inner(false, |_| Ok(false)).await
    }

    /// Writes under the claim whatever the status (the registry's own status steps).
    pub(crate) async fn write_any<F>(&self, f: F) -> Result<JobRecord, JobError>
    where
        F: FnMut(&mut JobRecord) -> Result<bool, JobError>,
    {
        self.write_inner(false, f).await
    }

    /// Durably records progress: `fraction` in `[0, 1]` and an opaque checkpoint from which
    /// a later coordinator resumes. Fails with a stop error once the job must stop.
    pub async fn update_progress(
        &self,
        fraction: f32,
        checkpoint: Vec<u8>,
    ) -> Result<(), JobError> {
        let fraction = fraction.clamp(0.0, 1.0);
        self.write(|rec| {
            rec.fraction_completed = fraction;
            rec.progress = checkpoint.clone();
            Ok(true)
        })
        .await
        .map(|_| ())
    }

    /// Sets the running status shown by SHOW JOBS.
    pub async fn set_running_status(&self, status: &str) -> Result<(), JobError> {
        self.write(|rec| {
            rec.running_status = Some(status.to_string());
            Ok(true)
        })
        .await
        .map(|_| ())
    }

    /// Sets the changefeed high-water timestamp.
    pub async fn set_high_water(&self, ts: Timestamp) -> Result<(), JobError> {
        self.write(|rec| {
            rec.high_water = Some(ts);
            Ok(true)
        })
        .await
        .map(|_| ())
    }

    /// Sets the type-specific result (read by the statement waiting for the job).
    pub async fn set_result(&self, result: Vec<u8>) -> Result<(), JobError> {
        self.write(|rec| {
            rec.result = result.clone();
            Ok(true)
        })
        .await
        .map(|_| ())
    }

    /// Stores a plan summary in the record (done by [`JobContext::run_flow`]).
    pub async fn set_plan(&self, plan: FlowPlanSummary) -> Result<(), JobError> {
        self.write(|rec| {
            rec.plan = Some(plan.clone());
            Ok(true)
        })
        .await
        .map(|_| ())
    }

    /// A read-modify-write of the record under this context's claim: fails with
    /// [`JobError::ClaimLost`] when another node claimed the job, and with the pause/cancel
    /// error when one was requested.
    pub(crate) async fn write<F>(&self, f: F) -> Result<JobRecord, JobError>
    where
        F: FnMut(&mut JobRecord) -> Result<bool, JobError>,
    {
        self.write_inner(true, f).await
    }

    async fn write_inner<F>(&self, check_requests: bool, mut f: F) -> Result<JobRecord, JobError>
    where
        F: FnMut(&mut JobRecord) -> Result<bool, JobError>,
    {
        let me = self.inner.registry.node().node_id();
        let epoch = self.inner.epoch;
        let id = self.inner.id;
        let rec = self
            .inner
            .registry
            .update(id, |rec| {
                let mine = rec
                    .claim
                    .as_ref()
                    .is_some_and(|c| c.node_id == me && c.epoch == epoch);
                if !mine {
                    return Err(JobError::ClaimLost(id));
                }
                if check_requests {
                    match rec.status {
                        JobStatus::PauseRequested => return Err(JobError::PauseRequested(id)),
                        JobStatus::CancelRequested => return Err(JobError::CancelRequested(id)),
                        _ => {}
                    }
                }
                let write = f(rec)?;
                if write {
                    rec.modified = self.inner.registry.now();
                }
                Ok(write)
            })
            .await;
        match rec {
            Ok(rec) => {
                *self.inner.record.lock() = rec.clone();
                Ok(rec)
            }
            Err(e) => {
                match &e {
                    _ if !check_requests && !matches!(e, JobError::ClaimLost(_)) => {}
                    JobError::ClaimLost(_) => {
                        self.inner.stop.send_replace(Some(StopReason::ClaimLost));
                    }
                    JobError::PauseRequested(_) => {
                        self.inner.stop.send_replace(Some(StopReason::Pause));
                    }
                    JobError::CancelRequested(_) => {
                        self.inner.stop.send_replace(Some(StopReason::Cancel));
                    }
                    _ => {}
                }
                Err(e)
            }
        }
    }

    /// Plans `spans` over the live nodes matching the job's filter ([`plan::partition`]),
    /// from the current range descriptors, leaseholders and range sizes.
    pub async fn plan_spans(&self, spans: Vec<Span>) -> Result<FlowPlan, JobError> {
        self.plan_spans_excluding(spans, &BTreeSet::new()).await
    }

    async fn plan_spans_excluding(
        &self,
        spans: Vec<Span>,
        excluded: &BTreeSet<NodeId>,
    ) -> Result<FlowPlan, JobError> {
        let node = self.node();
        let filter = self.execution_locality().unwrap_or_default();
        let nodes: Vec<PlanNode> = node
            .directory()
            .all()
            .into_iter()
            .map(|(d, live)| PlanNode {
                node_id: d.node_id,
                live: live && !excluded.contains(&d.node_id),
                locality: d.locality,
            })
            .collect();
        if !nodes
            .iter()
            .any(|n| n.live && n.locality.matches(&filter).is_match())
        {
            return Err(JobError::Transient(
                "no healthy sql instances available matching locality requirement".into(),
            ));
        }
        let spans = span_set::merge(spans);
        let descs = node.sender().all_ranges().await?;
        let mut wanted: Vec<(RangeDescriptor, Vec<Span>)> = Vec::new();
        for desc in descs {
            let pieces: Vec<Span> = spans
                .iter()
                .filter_map(|s| desc.span().intersect(s))
                .collect();
            if !pieces.is_empty() {
                wanted.push((desc, pieces));
            }
        }
        let lookups: Vec<_> = wanted
            .iter()
            .map(|(desc, _)| range_info(node.clone(), desc.clone()))
            .collect();
        let infos: Vec<(Option<NodeId>, u64)> =
            futures::stream::iter(lookups).buffered(8).collect().await;
        let mut ranges = Vec::new();
        for ((desc, pieces), (leaseholder, bytes)) in wanted.iter().zip(infos) {
            let share = bytes / pieces.len().max(1) as u64;
            for piece in pieces {
                ranges.push(PlanRange {
                    range_id: desc.range_id,
                    span: piece.clone(),
                    leaseholder,
                    replicas: desc.replicas.iter().map(|r| r.node_id).collect(),
                    bytes: share,
                });
            }
        }
        Ok(plan::partition(PlanInput {
            ranges,
            nodes,
            filter,
        }))
    }

    /// Runs `processor` with `spec` on every node of `plan` and waits for all of them.
    ///
    /// `on_progress(node, message)` sees every progress message, in order per node, and
    /// returns the spans that message reports finished (an empty `Vec` if none). When a
    /// processor's node dies or becomes unreachable, the spans it was given minus the
    /// finished ones are re-planned over the other eligible nodes and processors start
    /// there: so a processor that never reports finished spans is simply re-run over all of
    /// its spans. A processor's own error fails the flow with that error. The flow stops
    /// with a stop error when the job is paused, canceled or loses its claim.
    pub async fn run_flow<F>(
        &self,
        plan: FlowPlan,
        processor: &'static str,
        spec: Vec<u8>,
        mut on_progress: F,
    ) -> Result<(), JobError>
    where
        F: FnMut(NodeId, Vec<u8>) -> Vec<Span> + Send,
    {
        self.set_plan(plan.summary()).await?;
        let (tx, mut rx) = mpsc::channel::<Event>(PROGRESS_BUFFER);
        let mut workers: Vec<Worker> = Vec::new();
        self.start_workers(&mut workers, &plan, processor, &spec, &tx);
        let mut finished: Vec<Span> = Vec::new();
        let mut lost: BTreeSet<NodeId> = BTreeSet::new();
        let mut replans = 0;
        loop {
            if workers.iter().all(|w| w.done) {
                return Ok(());
            }
            let ev = tokio::select! {
                ev = rx.recv() => ev,
                reason = self.stopped() => return Err(reason.error(self.id())),
            };
            let Some(ev) = ev else {
                return Err(JobError::failed("flow event channel closed"));
            };
            match ev.kind {
                EventKind::Progress(msg) => {
                    let node = workers[ev.worker].node;
                    finished.extend(on_progress(node, msg));
                    if finished.len() > 64 {
                        finished = span_set::merge(finished);
                    }
                }
                EventKind::Done => workers[ev.worker].done = true,
                EventKind::Failed(e) => return Err(e),
                EventKind::Lost(why) => {
                    let w = &mut workers[ev.worker];
                    w.done = true;
                    let node = w.node;
                    let rest = span_set::subtract(w.spans.clone(), &finished);
                    tracing::warn!(
                        "job {}: processor on {node} lost ({why}); re-planning {} spans",
                        self.id(),
                        rest.len()
                    );
                    lost.insert(node);
                    replans += 1;
                    if replans > MAX_REPLANS {
                        return Err(JobError::Transient(format!(
                            "too many lost processors; last on {node}: {why}"
                        )));
                    }
                    if rest.is_empty() {
                        continue;
                    }
                    let replan = self.plan_spans_excluding(rest, &lost).await?;
                    self.start_workers(&mut workers, &replan, processor, &spec, &tx);
                }
            }
        }
    }

    /// Starts a worker on each node of `plan` for its spans, numbered after those already
    /// in `workers`.
    fn start_workers(
        &self,
        workers: &mut Vec<Worker>,
        plan: &FlowPlan,
        processor: &str,
        spec: &[u8],
        tx: &mpsc::Sender<Event>,
    ) {
        for n in &plan.nodes {
            workers.push(self.start_worker(
                workers.len(),
                n.node_id,
                n.spans(),
                processor,
                spec,
                tx,
            ));
        }
    }

    fn start_worker(
        &self,
        index: usize,
        node: NodeId,
        spans: Vec<Span>,
        processor: &str,
        spec: &[u8],
        tx: &mpsc::Sender<Event>,
    ) -> Worker {
        let req = FlowRequest {
            job_id: self.id(),
            processor: processor.to_string(),
            spec: spec.to_vec(),
            spans: spans.clone(),
        };
        let rpc = self.inner.registry.rpc().clone();
        let tx = tx.clone();
        let task = tokio::spawn(async move {
            let send = |kind| {
                let tx = tx.clone();
                async move {
                    tx.send(Event {
                        worker: index,
                        kind,
                    })
                    .await
                    .is_ok()
                }
            };
            let mut stream = match rpc
                .stream::<_, FlowItem>(rpc::Target::Node(node), FLOW_METHOD, &req)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    send(EventKind::Lost(e.to_string())).await;
                    return;
                }
            };
            while let Some(item) = stream.next().await {
                let (kind, last) = match item {
                    Ok(FlowItem::Progress(m)) => (EventKind::Progress(m), false),
                    Ok(FlowItem::Done) => (EventKind::Done, true),
                    Ok(FlowItem::Failed(e)) => (EventKind::Failed(e), true),
                    Err(e) => (EventKind::Lost(e.to_string()), true),
                };
                if !send(kind).await || last {
                    return;
                }
            }
            send(EventKind::Lost("stream ended early".into())).await;
        });
        Worker {
            node,
            spans,
            done: false,
            _task: AbortOnDrop(task.abort_handle()),
        }
    }
}

struct Worker {
    node: NodeId,
    spans: Vec<Span>,
    done: bool,
    _task: AbortOnDrop,
}

struct Event {
    worker: usize,
    kind: EventKind,
}

enum EventKind {
    Progress(Vec<u8>),
    Done,
    Failed(JobError),
    Lost(String),
}

/// Aborts a task when dropped, so that dropping a flow stops its streams.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The leaseholder and live bytes of a range, asked of its replicas (live ones first).
async fn range_info(node: KvNode, desc: RangeDescriptor) -> (Option<NodeId>, u64) {
    let rpc = node.store().rpc_client();
    let ba = BatchRequest {
        header: Header {
            range_id: desc.range_id,
            gateway: node.node_id(),
            ..Default::default()
        },
        requests: vec![Request::RangeStats],
    };
    let dir = node.directory();
    let mut order: Vec<NodeId> = desc.replicas.iter().map(|r| r.node_id).collect();
    order.sort_by_key(|n| !dir.is_live(*n));
    let mut leaseholder = None;
    for n in order {
        if !dir.is_live(n) {
            continue;
        }
        let call: Result<Result<BatchResponse, KvError>, rpc::RpcError> =
            rpc.call(rpc::Target::Node(n), "kv.batch", &ba).await;
        match call {
            Ok(Ok(resp)) => {
                let bytes = match resp.responses.first() {
                    Some(Response::Stats(s)) => s.live_bytes,
                    _ => 0,
                };
                return (Some(resp.served_by), bytes);
            }
            Ok(Err(KvError::NotLeaseholder {
                leaseholder: Some(l),
                ..
            })) => leaseholder = Some(l),
            _ => {}
        }
    }
    (leaseholder, 0)
}
