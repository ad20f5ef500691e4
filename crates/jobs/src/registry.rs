//! The per-node job registry: creation and placement, claims, adoption, the coordinator's
//! run loop, and PAUSE / RESUME / CANCEL.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base::NodeId;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;
use kv::KvNode;
use locality::LocalityFilter;
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, mpsc, watch};

use crate::context::{AbortOnDrop, JobContext, StopReason};
use crate::flow::{
    FLOW_METHOD, FlowItem, FlowRequest, PROGRESS_BUFFER, Processor, ProcessorContext,
    ProgressSender,
};
use crate::plan::{PlanNode, coordinator_order};
use crate::record::{
    Claim, JobStatus, Transition, cancel_transition, pause_transition, resume_transition,
};
use crate::{JobError, JobId, JobRecord, JobType, Resumer, store};

/// Default interval of the adoption loop.
pub const DEFAULT_ADOPT_INTERVAL: Duration = Duration::from_millis(1500);
/// Default wait before a resumer that failed transiently is restarted.
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(500);
/// The RPC that makes a node claim a job and start it now.
pub const ADOPT_METHOD: &str = "jobs.adopt";
/// The RPC that tells a coordinator to re-read a job's record (pause, cancel).
pub const SIGNAL_METHOD: &str = "jobs.signal";
/// The running-status prefix of a job no live node may run.
pub const WAITING_PREFIX: &str = "waiting for a node matching locality filter";

/// Registry tunables.
#[derive(Clone, Debug)]
pub struct RegistryConfig {
    /// How often every node looks for jobs whose coordinator died, and checks its own
    /// running jobs' records for pause/cancel requests it may have missed.
    pub adopt_interval: Duration,
    /// Wait before restarting a resumer after [`JobError::Transient`].
    pub retry_backoff: Duration,
}

impl Default for RegistryConfig {
    fn default() -> RegistryConfig {
        RegistryConfig {
            adopt_interval: DEFAULT_ADOPT_INTERVAL,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
        }
    }
}

/// A job to create.
#[derive(Clone, Debug)]
pub struct NewJob {
    /// A pre-allocated id ([`Registry::make_job_id`]); `None` allocates one.
    pub id: Option<JobId>,
    /// The kind.
    pub job_type: JobType,
    /// SHOW JOBS `description`.
    pub description: String,
    /// SHOW JOBS `statement`.
    pub statement: String,
    /// The creating user.
    pub user: String,
    /// Type-specific details (opaque).
    pub details: Vec<u8>,
    /// Only nodes matching this filter may coordinate or process the job.
    pub execution_locality: Option<LocalityFilter>,
}

impl NewJob {
    /// A job of `job_type` with this description, run by `root`, anywhere.
    pub fn new(job_type: JobType, description: impl Into<String>) -> NewJob {
        NewJob {
            id: None,
            job_type,
            description: description.into(),
            statement: String::new(),
            user: "root".into(),
            details: Vec::new(),
            execution_locality: None,
        }
    }
}

/// The job registry of one node. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

struct Inner {
    node: KvNode,
    rpc: rpc::Rpc,
    cfg: RegistryConfig,
    session: String,
    resumers: RwLock<HashMap<JobType, Arc<dyn Resumer>>>,
    processors: RwLock<HashMap<String, Arc<dyn Processor>>>,
    running: Mutex<HashMap<JobId, Running>>,
    changed: Notify,
    last_id: Mutex<i64>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The processors this node runs for `jobs.flow`, aborted by [`Registry::stop`].
    flows: Mutex<Vec<tokio::task::AbortHandle>>,
    stopped: AtomicBool,
}

struct Running {
    epoch: u64,
    stop: watch::Sender<Option<StopReason>>,
    task: Option<tokio::task::AbortHandle>,
}

impl Registry {
    /// Starts the registry of `node`: registers `jobs.adopt`, `jobs.signal` and `jobs.flow`
    /// on the node's RPC registry and starts the adoption loop.
    pub fn start(node: KvNode, rpc_registry: &rpc::Registry, cfg: RegistryConfig) -> Registry {
        let reg = Registry {
            inner: Arc::new(Inner {
                rpc: node.store().rpc_client(),
                node,
                cfg,
                session: uuid::Uuid::new_v4().to_string(),
                resumers: RwLock::new(HashMap::new()),
                processors: RwLock::new(HashMap::new()),
                running: Mutex::new(HashMap::new()),
                changed: Notify::new(),
                last_id: Mutex::new(0),
                tasks: Mutex::new(Vec::new()),
                flows: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
            }),
        };
        reg.register_handlers(rpc_registry);
        let looping = reg.clone();
        let task = tokio::spawn(async move { looping.adoption_loop().await });
        reg.inner.tasks.lock().push(task);
        reg
    }

    /// Stops the adoption loop, every job this node coordinates and every processor it runs
    /// for other coordinators (as if the node died; the claims stay until the node's liveness
    /// expires). A stopped processor's stream ends without an outcome, so its coordinator
    /// re-plans the unfinished spans on other nodes, as for a dead node; later flow requests
    /// are refused the same way.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        for t in self.inner.tasks.lock().drain(..) {
            t.abort();
        }
        for t in self.inner.flows.lock().drain(..) {
            t.abort();
        }
        for (_, r) in self.inner.running.lock().drain() {
            if let Some(t) = r.task {
                t.abort();
            }
        }
        // Resumers and processors usually hold the node's SQL layer, which holds this
        // registry: dropping them breaks the cycle, so a stopped node releases its store.
        self.inner.resumers.write().clear();
        self.inner.processors.write().clear();
    }

    /// Registers the resumer of a job type (on every node).
    pub fn register_resumer(&self, job_type: JobType, resumer: Arc<dyn Resumer>) {
        self.inner.resumers.write().insert(job_type, resumer);
    }

    /// Registers a flow processor under `name` (on every node).
    pub fn register_processor(&self, name: &'static str, processor: Arc<dyn Processor>) {
        self.inner
            .processors
            .write()
            .insert(name.to_string(), processor);
    }

    /// The local KV node.
    pub fn node(&self) -> &KvNode {
        &self.inner.node
    }

    pub(crate) fn rpc(&self) -> &rpc::Rpc {
        &self.inner.rpc
    }

    /// The jobs this node coordinates right now, by id.
    pub fn coordinating(&self) -> Vec<JobId> {
        let mut v: Vec<JobId> = self.inner.running.lock().keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The current time, from the node's clock (the times job records carry).
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.inner.node.clock().physical_nanos())
    }

    /// A new job id, unique across the cluster: `(unix_micros << 15) | (node_id & 0x7fff)`,
    /// strictly increasing on this node.
    pub fn make_job_id(&self) -> JobId {
        let micros = self.inner.node.clock().physical_nanos() / 1000;
        let node_bits = (self.inner.node.node_id().0 & 0x7fff) as i64;
        let mut last = self.inner.last_id.lock();
        let mut id = ((micros & (i64::MAX >> 15)) << 15) | node_bits;
        if id <= *last {
            id = *last + (1 << 15);
        }
        *last = id;
        id
    }

    /// Reads job `id`.
    pub async fn get(&self, id: JobId) -> Result<JobRecord, JobError> {
        store::get(self.inner.node.sender(), id).await
    }

    /// Every job, by id.
    pub async fn list(&self) -> Result<Vec<JobRecord>, JobError> {
        store::list(self.inner.node.sender()).await
    }

    /// A read-modify-write of a record; wakes local waiters.
    pub(crate) async fn update<F>(&self, id: JobId, f: F) -> Result<JobRecord, JobError>
    where
        F: FnMut(&mut JobRecord) -> Result<bool, JobError>,
    {
        // Boxed: KV transaction futures are deep, and every job step nests one.
        let r = Box::pin(store::update(self.inner.node.sender(), id, f)).await;
        self.inner.changed.notify_waiters();
        r
    }

    /// Live nodes matching `filter` (every live node for `None`), by id.
    fn matching_live_nodes(&self, filter: Option<&LocalityFilter>) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .plan_nodes()
            .into_iter()
            .filter(|n| n.eligible(filter))
            .map(|n| n.node_id)
            .collect();
        v.sort_unstable();
        v
    }

    /// The cluster's nodes as the pure planners see them: locality and liveness.
    fn plan_nodes(&self) -> Vec<PlanNode> {
        self.inner
            .node
            .directory()
            .all()
            .into_iter()
            .map(|(d, live)| PlanNode {
                node_id: d.node_id,
                locality: d.locality,
                live,
            })
            .collect()
    }

    fn matches_me(&self, rec: &JobRecord) -> bool {
        rec.filter()
            .is_none_or(|f| self.inner.node.locality().matches(&f).is_match())
    }

    /// Creates a job and hands it to its coordinator at once. With an execution-locality
    /// filter that no live node matches, fails with `no instances found matching locality
    /// filter <f>` and writes nothing.
    pub async fn create_job(&self, job: NewJob) -> Result<JobId, JobError> {
        let filter = job.execution_locality.filter(|f| !f.is_empty());
        if let Some(f) = &filter
            && self.matching_live_nodes(Some(f)).is_empty()
        {
            return Err(JobError::no_matching_nodes(f));
        }
        let id = job.id.unwrap_or_else(|| self.make_job_id());
        let now = self.now();
        let rec = JobRecord {
            id,
            job_type: job.job_type,
            description: job.description,
            statement: job.statement,
            user_name: job.user,
            status: JobStatus::Running,
            running_status: None,
            fraction_completed: 0.0,
            high_water: None,
            coordinator_id: None,
            execution_locality: filter.as_ref().map(|f| f.to_string()),
            created: now,
            started: None,
            finished: None,
            modified: now,
            last_run: None,
            num_runs: 0,
            error: None,
            error_code: None,
            execution_errors: Vec::new(),
            details: job.details,
            progress: Vec::new(),
            result: Vec::new(),
            plan: None,
            claim: None,
        };
        store::insert(self.inner.node.sender(), &rec).await?;
        self.hand_off(id, filter.as_ref()).await;
        Ok(id)
    }

    /// Waits until job `id` reaches a terminal status and returns its record. Works from any
    /// node: it polls the record (backing off from 20 ms to 500 ms), and wakes at once when
    /// this node writes it.
    pub async fn wait_for_job(&self, id: JobId) -> Result<JobRecord, JobError> {
        let mut wait = Duration::from_millis(20);
        loop {
            let notified = self.inner.changed.notified();
            let rec = self.get(id).await?;
            if rec.status.is_terminal() {
                return Ok(rec);
            }
            let _ = tokio::time::timeout(wait, notified).await;
            wait = (wait * 3 / 2).min(Duration::from_millis(500));
        }
    }

    /// PAUSE JOB: `pause-requested`; the coordinator stops and sets `paused`.
    pub async fn pause(&self, id: JobId) -> Result<(), JobError> {
        self.request(id, pause_transition).await
    }

    /// CANCEL JOB: `cancel-requested`; the coordinator stops, reverts and sets `canceled`.
    pub async fn cancel(&self, id: JobId) -> Result<(), JobError> {
        self.request(id, cancel_transition).await
    }

    async fn request(
        &self,
        id: JobId,
        transition: fn(JobStatus) -> Result<Transition, JobError>,
    ) -> Result<(), JobError> {
        let now = self.now();
        let mut changed = false;
        let rec = self
            .update(id, |rec| {
                changed = false;
                match transition(rec.status)? {
                    Transition::NoOp => Ok(false),
                    Transition::To(s) => {
                        rec.status = s;
                        rec.modified = now;
                        changed = true;
                        Ok(true)
                    }
                }
            })
            .await?;
        if !changed {
            return Ok(());
        }
        match &rec.claim {
            Some(c) if self.claim_valid(c, rec.id) => self.signal(c.node_id, id).await,
            _ => {
                let filter = rec.filter();
                self.hand_off(id, filter.as_ref()).await;
            }
        }
        Ok(())
    }

    /// RESUME JOB: a paused job goes back to `running` and is handed to a matching node.
    pub async fn resume(&self, id: JobId) -> Result<(), JobError> {
        let now = self.now();
        let mut changed = false;
        let rec = self
            .update(id, |rec| {
                changed = false;
                match resume_transition(rec.status)? {
                    Transition::NoOp => Ok(false),
                    Transition::To(s) => {
                        rec.status = s;
                        rec.claim = None;
                        rec.coordinator_id = None;
                        rec.running_status = None;
                        rec.modified = now;
                        changed = true;
                        Ok(true)
                    }
                }
            })
            .await?;
        if changed {
            let filter = rec.filter();
            self.hand_off(id, filter.as_ref()).await;
        }
        Ok(())
    }

    /// Rewrites what a paused job will do when resumed (ALTER CHANGEFEED), in one
    /// read-modify-write of its record. `f` gets a copy of the record and changes what it
    /// needs; only its `details`, `progress`, `description`, `statement` and
    /// `execution_locality` (checked like CREATE's: no live matching node is
    /// `no instances found matching locality filter <f>`) are written back, with `modified`. `f` runs first, so its own checks (the job's type, say) answer before
    /// the status check; then a job that is not paused fails with `job <id> is not paused`
    /// ([`JobError::InvalidTransition`]) and nothing is written. `f` may run more than once
    /// (the transaction retries). Returns the record as written.
    pub async fn update_details<F>(&self, id: JobId, mut f: F) -> Result<JobRecord, JobError>
    where
        F: FnMut(&mut JobRecord) -> Result<(), JobError>,
    {
        let now = self.now();
        self.update(id, |rec| {
            let mut edited = rec.clone();
            f(&mut edited)?;
            if let Some(f) = edited.filter()
                && edited.execution_locality != rec.execution_locality
                && self.matching_live_nodes(Some(&f)).is_empty()
            {
                return Err(JobError::no_matching_nodes(&f));
            }
            if rec.status != JobStatus::Paused {
                return Err(JobError::InvalidTransition(format!(
                    "job {id} is not paused"
                )));
            }
            rec.details = edited.details;
            rec.progress = edited.progress;
            rec.description = edited.description;
            rec.statement = edited.statement;
            rec.execution_locality = edited.execution_locality;
            rec.modified = now;
            Ok(true)
        })
        .await
    }

    async fn signal(&self, node: NodeId, id: JobId) {
        if node == self.inner.node.node_id() {
            self.check_running(id).await;
            return;
        }
        let r: Result<(), rpc::RpcError> = self
            .inner
            .rpc
            .call(rpc::Target::Node(node), SIGNAL_METHOD, &id)
            .await;
        if let Err(e) = r {
            tracing::warn!("job {id}: signalling {node}: {e}; it will notice on its next check");
        }
    }

    /// The nodes that should coordinate a new job, best first ([`coordinator_order`]): live
    /// nodes matching the filter, by fewest running coordinators, then this node (the
    /// gateway), then the lowest id.
    async fn coordinator_candidates(&self, filter: Option<&LocalityFilter>) -> Vec<NodeId> {
        let mut load: BTreeMap<NodeId, usize> = BTreeMap::new();
        if let Ok(recs) = self.list().await {
            for r in recs {
                if r.status.needs_coordinator()
                    && let Some(c) = &r.claim
                {
                    *load.entry(c.node_id).or_default() += 1;
                }
            }
        }
        coordinator_order(&self.plan_nodes(), filter, self.inner.node.node_id(), &load)
    }

    /// Gives job `id` to the best coordinator over `jobs.adopt`, trying the next one when a
    /// node does not answer. With no live matching node, records the waiting status and
    /// leaves the job to the adoption loop.
    async fn hand_off(&self, id: JobId, filter: Option<&LocalityFilter>) -> Option<NodeId> {
        let candidates = self.coordinator_candidates(filter).await;
        if candidates.is_empty() {
            if let Some(f) = filter {
                self.set_waiting(id, f).await;
            }
            return None;
        }
        for node in candidates {
            let r = if node == self.inner.node.node_id() {
                self.adopt(id).await
            } else {
                match self
                    .inner
                    .rpc
                    .call::<_, Result<bool, JobError>>(rpc::Target::Node(node), ADOPT_METHOD, &id)
                    .await
                {
                    Ok(r) => r,
                    Err(e) => Err(e.into()),
                }
            };
            match r {
                Ok(true) => return Some(node),
                Ok(false) => return None,
                Err(e) => tracing::warn!("job {id}: hand-off to {node} failed: {e}"),
            }
        }
        None
    }

    async fn set_waiting(&self, id: JobId, filter: &LocalityFilter) {
        let text = format!("{WAITING_PREFIX} {filter}");
        let now = self.now();
        let r = self
            .update(id, |rec| {
                if !rec.status.needs_coordinator() || rec.running_status.as_deref() == Some(&text) {
                    return Ok(false);
                }
                rec.running_status = Some(text.clone());
                rec.claim = None;
                rec.coordinator_id = None;
                rec.modified = now;
                Ok(true)
            })
            .await;
        if let Err(e) = r {
            tracing::warn!("job {id}: recording the waiting status: {e}");
        }
    }

    /// True while `claim` is held by a live node that is working on the job: another live
    /// node, or this node's current session with the job running here under that epoch.
    fn claim_valid(&self, claim: &Claim, id: JobId) -> bool {
        if claim.node_id != self.inner.node.node_id() {
            return self.inner.node.directory().is_live(claim.node_id);
        }
        claim.session == self.inner.session
            && self
                .inner
                .running
                .lock()
                .get(&id)
                .is_some_and(|r| r.epoch == claim.epoch)
    }

    /// Claims job `id` for this node and starts its run loop. `Ok(false)` when the job does
    /// not need a coordinator, another live node holds it, or this node does not match its
    /// filter.
    pub(crate) async fn adopt(&self, id: JobId) -> Result<bool, JobError> {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let me = self.inner.node.node_id();
        let now = self.now();
        let epoch_base = u64::try_from(self.inner.node.clock().physical_nanos()).unwrap_or(0);
        let mut epoch = 0;
        let rec = self
            .update(id, |rec| {
                epoch = 0;
                if !rec.status.needs_coordinator() || !self.matches_me(rec) {
                    return Ok(false);
                }
                if let Some(c) = &rec.claim
                    && self.claim_valid(c, id)
                {
                    return Ok(false);
                }
                epoch = epoch_base.max(rec.claim.as_ref().map_or(0, |c| c.epoch) + 1);
                rec.claim = Some(Claim {
                    node_id: me,
                    session: self.inner.session.clone(),
                    epoch,
                });
                rec.coordinator_id = Some(me);
                if rec.status == JobStatus::Pending {
                    rec.status = JobStatus::Running;
                }
                if rec.started.is_none() {
                    rec.started = Some(now);
                }
                if rec
                    .running_status
                    .as_deref()
                    .is_some_and(|s| s.starts_with(WAITING_PREFIX))
                {
                    rec.running_status = None;
                }
                rec.last_run = Some(now);
                rec.num_runs += 1;
                rec.modified = now;
                Ok(true)
            })
            .await?;
        if epoch == 0 {
            return Ok(false);
        }
        self.spawn_run(rec, epoch);
        Ok(true)
    }

    fn spawn_run(&self, rec: JobRecord, epoch: u64) {
        let id = rec.id;
        let (stop, _) = watch::channel(None);
        let ctx = JobContext::new(self.clone(), rec, epoch, stop.clone());
        {
            let mut running = self.inner.running.lock();
            if let Some(old) = running.remove(&id)
                && let Some(t) = old.task
            {
                t.abort();
            }
            running.insert(
                id,
                Running {
                    epoch,
                    stop,
                    task: None,
                },
            );
        }
        let reg = self.clone();
        let task = tokio::spawn(async move {
            reg.drive(ctx).await;
            let mut running = reg.inner.running.lock();
            if running.get(&id).is_some_and(|r| r.epoch == epoch) {
                running.remove(&id);
            }
        });
        if let Some(r) = self.inner.running.lock().get_mut(&id)
            && r.epoch == epoch
        {
            r.task = Some(task.abort_handle());
        }
    }

    fn resumer(&self, t: JobType) -> Option<Arc<dyn Resumer>> {
        self.inner.resumers.read().get(&t).cloned()
    }

    /// The coordinator's run loop for one claim: resume, then move the job along its status
    /// machine until it is paused, terminal, or the claim is lost.
    async fn drive(&self, ctx: JobContext) {
        let id = ctx.id();
        loop {
            let rec = match ctx.reload_any().await {
                Ok(r) => r,
                Err(e) => {
                    if !e.is_stop() {
                        tracing::warn!("job {id}: reading the record: {e}");
                    }
                    return;
                }
            };
            let Some(resumer) = self.resumer(rec.job_type) else {
                tracing::warn!("job {id}: no resumer for {} on this node", rec.job_type);
                return;
            };
            ctx.clear_stop();
            let next = match rec.status {
                JobStatus::Pending | JobStatus::Running => {
                    let r = tokio::select! {
                        r = resumer.resume(ctx.clone()) => r,
                        reason = ctx.stopped() => Err(reason.error(id)),
                    };
                    self.after_resume(&ctx, r).await
                }
                JobStatus::PauseRequested => self.finish_pause(&ctx).await,
                JobStatus::CancelRequested => {
                    self.finish_step(&ctx, |rec| {
                        rec.status = JobStatus::Reverting;
                        rec.error = None;
                        rec.error_code = None;
                    })
                    .await
                }
                JobStatus::Reverting => {
                    let reason = match &rec.error {
                        Some(e) => JobError::recorded(e.clone(), rec.error_code),
                        None => JobError::CancelRequested(id),
                    };
                    let r = tokio::select! {
                        r = resumer.on_fail_or_cancel(ctx.clone(), &reason) => r,
                        reason = ctx.stopped() => Err(reason.error(id)),
                    };
                    self.after_revert(&ctx, r).await
                }
                _ => Next::Exit,
            };
            match next {
                Next::Continue => {}
                Next::RetryAfter(d) => {
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = ctx.stopped() => {}
                    }
                }
                Next::Exit => return,
            }
        }
    }

    async fn finish_pause(&self, ctx: &JobContext) -> Next {
        self.finish_step(ctx, |rec| {
            rec.status = JobStatus::Paused;
            rec.claim = None;
            rec.coordinator_id = None;
        })
        .await
    }

    /// Writes a status step under this context's claim (ignoring pause/cancel requests) and
    /// says what the run loop does next.
    async fn finish_step<F>(&self, ctx: &JobContext, mut f: F) -> Next
    where
        F: FnMut(&mut JobRecord),
    {
        let now = self.now();
        let r = ctx
            .write_any(|rec| {
                f(rec);
                rec.modified = now;
                if rec.status.is_terminal() {
                    rec.finished = Some(now);
                    rec.claim = None;
                }
                Ok(true)
            })
            .await;
        match r {
            Ok(rec) => next_for(rec.status),
            Err(e) => {
                if !e.is_stop() {
                    tracing::warn!("job {}: {e}", ctx.id());
                    return Next::RetryAfter(self.inner.cfg.retry_backoff);
                }
                Next::Exit
            }
        }
    }

    async fn after_resume(&self, ctx: &JobContext, r: Result<(), JobError>) -> Next {
        let id = ctx.id();
        let status = match ctx.reload_any().await {
            Ok(rec) => rec.status,
            Err(e) if e.is_stop() => return Next::Exit,
            Err(_) => return Next::RetryAfter(self.inner.cfg.retry_backoff),
        };
        match status {
            JobStatus::PauseRequested => return self.finish_pause(ctx).await,
            JobStatus::CancelRequested => {
                return self
                    .finish_step(ctx, |rec| {
                        rec.status = JobStatus::Reverting;
                        rec.error = None;
                        rec.error_code = None;
                    })
                    .await;
            }
            JobStatus::Running | JobStatus::Pending => {}
            s => return next_for(s),
        }
        match r {
            Ok(()) => {
                self.finish_step(ctx, |rec| {
                    rec.status = JobStatus::Succeeded;
                    rec.fraction_completed = 1.0;
                    rec.running_status = None;
                })
                .await
            }
            Err(e) if e.is_stop() => Next::Exit,
            Err(JobError::Transient(msg)) => {
                tracing::warn!("job {id}: transient error, retrying: {msg}");
                let next = self
                    .finish_step(ctx, |rec| {
                        rec.running_status = Some(format!("transient error: {msg}"));
                        rec.execution_errors.push(msg.clone());
                    })
                    .await;
                match next {
                    Next::Continue => Next::RetryAfter(self.inner.cfg.retry_backoff),
                    other => other,
                }
            }
            Err(e) => {
                self.finish_step(ctx, |rec| {
                    rec.status = JobStatus::Reverting;
                    rec.error = Some(e.to_string());
                    rec.error_code = e.code();
                })
                .await
            }
        }
    }

    async fn after_revert(&self, ctx: &JobContext, r: Result<(), JobError>) -> Next {
        match r {
            Err(e) if e.is_stop() => {
                // Paused (or lost) while reverting: let the loop re-read the record.
                match ctx.reload_any().await {
                    Ok(rec) if rec.status == JobStatus::PauseRequested => {
                        self.finish_pause(ctx).await
                    }
                    Ok(_) => Next::Continue,
                    Err(_) => Next::Exit,
                }
            }
            Err(JobError::Transient(msg)) => {
                tracing::warn!("job {}: transient error while reverting: {msg}", ctx.id());
                Next::RetryAfter(self.inner.cfg.retry_backoff)
            }
            Ok(()) => {
                self.finish_step(ctx, |rec| {
                    rec.status = if rec.error.is_some() {
                        JobStatus::Failed
                    } else {
                        JobStatus::Canceled
                    };
                    rec.running_status = None;
                })
                .await
            }
            Err(e) => {
                self.finish_step(ctx, |rec| {
                    rec.status = JobStatus::RevertFailed;
                    rec.error = Some(match &rec.error {
                        Some(orig) => format!("{orig}; cleanup failed: {e}"),
                        None => {
                            rec.error_code = e.code();
                            format!("cleanup after cancel failed: {e}")
                        }
                    });
                })
                .await
            }
        }
    }

    /// Re-reads a locally coordinated job and signals its resumer if it must stop.
    async fn check_running(&self, id: JobId) {
        let (epoch, stop) = match self.inner.running.lock().get(&id) {
            Some(r) => (r.epoch, r.stop.clone()),
            None => return,
        };
        let Ok(rec) = self.get(id).await else {
            return;
        };
        let me = self.inner.node.node_id();
        let mine = rec
            .claim
            .as_ref()
            .is_some_and(|c| c.node_id == me && c.epoch == epoch);
        let reason = if !mine {
            Some(StopReason::ClaimLost)
        } else {
            match rec.status {
                JobStatus::PauseRequested => Some(StopReason::Pause),
                JobStatus::CancelRequested => Some(StopReason::Cancel),
                _ => None,
            }
        };
        if let Some(r) = reason {
            stop.send_replace(Some(r));
        }
    }

    async fn adoption_loop(&self) {
        loop {
            tokio::time::sleep(self.inner.cfg.adopt_interval).await;
            if let Err(e) = self.adoption_round().await {
                tracing::debug!("job adoption round: {e}");
            }
        }
    }

    /// One pass of the adoption loop: check the local jobs for requests, and claim the jobs
    /// whose coordinator is gone when this node matches their filter.
    pub async fn adoption_round(&self) -> Result<(), JobError> {
        let recs = self.list().await?;
        let me = self.inner.node.node_id();
        let now = self.now();
        let grace = chrono::Duration::from_std(self.inner.cfg.adopt_interval)
            .unwrap_or_else(|_| chrono::Duration::seconds(1));
        for rec in recs {
            if self.inner.running.lock().contains_key(&rec.id) {
                self.check_running(rec.id).await;
                continue;
            }
            if !rec.status.needs_coordinator() {
                continue;
            }
            if let Some(c) = &rec.claim
                && self.claim_valid(c, rec.id)
            {
                continue;
            }
            // An unclaimed job may be on its way to a node through `jobs.adopt`.
            if rec.claim.is_none() && now - rec.modified < grace && rec.running_status.is_none() {
                continue;
            }
            let filter = rec.filter();
            if self.matches_me(&rec) {
                if let Err(e) = self.adopt(rec.id).await {
                    tracing::warn!("job {}: adopting: {e}", rec.id);
                }
                continue;
            }
            let Some(f) = filter else { continue };
            let live = self.matching_live_nodes(None);
            if self.matching_live_nodes(Some(&f)).is_empty() && live.first() == Some(&me) {
                self.set_waiting(rec.id, &f).await;
            }
        }
        Ok(())
    }

    fn register_handlers(&self, registry: &rpc::Registry) {
        let reg = self.clone();
        registry.unary(ADOPT_METHOD, move |_c, id: JobId| {
            let reg = reg.clone();
            async move { Ok::<_, rpc::RpcError>(reg.adopt(id).await) }
        });
        let reg = self.clone();
        registry.unary(SIGNAL_METHOD, move |_c, id: JobId| {
            let reg = reg.clone();
            async move {
                reg.check_running(id).await;
                Ok::<_, rpc::RpcError>(())
            }
        });
        let reg = self.clone();
        registry.streaming(FLOW_METHOD, move |caller, req: FlowRequest| {
            let reg = reg.clone();
            async move { reg.flow_stream(caller.node_id, req) }
        });
    }

    /// Runs a processor for `jobs.flow` and streams its progress, then its outcome. Once the
    /// registry is stopped: refuses the request, or ends the stream without an outcome.
    fn flow_stream(
        &self,
        coordinator: NodeId,
        req: FlowRequest,
    ) -> Result<BoxStream<'static, Result<FlowItem, rpc::RpcError>>, rpc::RpcError> {
        let refused = || rpc::RpcError::Unreachable {
            target: self.inner.node.node_id().to_string(),
            reason: "the job registry is stopping".into(),
        };
        let (tx, rx) = mpsc::channel(PROGRESS_BUFFER);
        let task = {
            // Checked under the lock `stop` takes after setting the flag: a processor started
            // here is either refused or aborted by `stop`.
            let mut flows = self.inner.flows.lock();
            if self.inner.stopped.load(Ordering::SeqCst) {
                return Err(refused());
            }
            let processor = self.inner.processors.read().get(&req.processor).cloned();
            let Some(processor) = processor else {
                let item = FlowItem::Failed(JobError::NoProcessor(req.processor));
                return Ok(futures::stream::once(async move { Ok(item) }).boxed());
            };
            let ctx = ProcessorContext {
                node: self.inner.node.clone(),
                job_id: req.job_id,
                coordinator,
            };
            let task = tokio::spawn(processor.run(ctx, req.spec, req.spans, ProgressSender { tx }));
            flows.retain(|t| !t.is_finished());
            flows.push(task.abort_handle());
            task
        };
        let guard = AbortOnDrop(task.abort_handle());
        struct State {
            rx: mpsc::Receiver<Vec<u8>>,
            task: Option<tokio::task::JoinHandle<Result<(), JobError>>>,
            _guard: AbortOnDrop,
        }
        let state = State {
            rx,
            task: Some(task),
            _guard: guard,
        };
        Ok(futures::stream::unfold(state, |mut st| async move {
            st.task.as_ref()?;
            if let Some(msg) = st.rx.recv().await {
                return Some((Ok(FlowItem::Progress(msg)), st));
            }
            let task = st.task.take()?;
            let item = match task.await {
                Ok(Ok(())) => FlowItem::Done,
                Ok(Err(e)) => FlowItem::Failed(e),
                // Aborted by `stop`: no outcome, so the coordinator re-plans the spans.
                Err(e) if e.is_cancelled() => return None,
                Err(e) => FlowItem::Failed(JobError::failed(format!("processor failed: {e}"))),
            };
            Some((Ok(item), st))
        })
        .boxed())
    }
}

/// What the run loop does after a step.
enum Next {
    Continue,
    RetryAfter(Duration),
    Exit,
}

fn next_for(status: JobStatus) -> Next {
    if status.needs_coordinator() {
        Next::Continue
    } else {
        Next::Exit
    }
}
