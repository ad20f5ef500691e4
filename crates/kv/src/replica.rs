//! A replica: this node's copy of one range, and — when it leads the range's Raft group — the
//! place where requests are evaluated.
//!
//! Life of a write ([`Replica::send`] → [`Replica::execute_write`]):
//! 1. check the keys lie in the range and this replica is the leaseholder (the Raft leader);
//! 2. take write latches on the keys it writes (read latches on those it reads): requests on
//!    other keys go on concurrently, and reads never see a write that is evaluated but not yet
//!    applied on their keys ([`crate::latch`]);
//! 3. pick the write timestamp: the transaction's, or the clock's, pushed above the timestamp
//!    cache (no write below a served read) and above the closed timestamp (no write below a
//!    promise made to followers);
//! 4. evaluate each request with MVCC logic into a batch of raw writes plus logical ops
//!    (a `WriteTooOld` pushes the timestamp and re-evaluates);
//! 5. propose the [`RaftCommand`] — raw writes, logical ops, the new closed timestamp — and
//!    wait until it has applied here; every replica applies the same raw writes.
//!
//! Closed timestamps stay sound with evaluations in flight: a write's timestamp is chosen
//! above every promised closed timestamp and registered (`Evaluation`) until its command has
//! applied; a command entering the log carries a closed timestamp below every registered one
//! and at least the last one promised, decided in log order (`propose_order`); the side
//! transport closes below them too, at the applied index.
//!
//! Reads ([`Replica::execute_read`]) take read latches on their spans, record their span in the timestamp
//! cache, and read MVCC data at their timestamp. A follower serves a read only when the
//! timestamp is at or below the closed timestamp it has applied (a follower read).

use crate::api::*;
use crate::command::{LogicalOp, RaftCommand, RawWrite, Trigger};
use crate::latch::Latch;
use crate::raft::{ProposeError, RaftGroup};
use crate::tscache::{self, TsCache};
use base::keys::{self, LOCAL_PREFIX, META_PREFIX};
use base::{Clock, Key, NodeId, RangeDescriptor, RangeId, Span, Timestamp};
use parking_lot::{Mutex, RwLock};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use storage::mvcc::{self, TxnMeta, TxnStatus};
use storage::{Cf, Engine, Reader, WriteBatch, WriteOp};

/// How long a transaction stays alive without a heartbeat.
pub const TXN_LIVENESS_THRESHOLD: Duration = Duration::from_secs(5);

/// How often an idle leader confirms its lapsed lease so that its range keeps closing
/// timestamps (followers' reads, checkpoints) without keeping its Raft group awake.
pub const IDLE_LEASE_RENEWAL: Duration = Duration::from_secs(2);

/// Tunables of a replica.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// How far behind the present the leaseholder closes timestamps (CockroachDB: 3 s).
    pub closed_ts_target: Duration,
    /// Re-evaluations after `WriteTooOld` before giving up.
    pub max_write_retries: usize,
}

impl Default for ReplicaConfig {
    fn default() -> ReplicaConfig {
        ReplicaConfig {
            closed_ts_target: Duration::from_secs(3),
            max_write_retries: 16,
        }
    }
}

/// The key of a transaction's record.
pub fn txn_record_key(meta: &TxnMeta) -> Key {
    let mut suffix = b"txn-".to_vec();
    suffix.extend_from_slice(meta.id.as_bytes());
    keys::range_local_key(&meta.anchor, &suffix)
}

/// The spans of raw user keys a replica owns: its span minus the range-local region, plus the
/// range-local keys anchored in its span.
pub fn replica_data_spans(desc: &RangeDescriptor) -> Vec<Span> {
    let local = Span::new(vec![LOCAL_PREFIX], vec![META_PREFIX]);
    let mut spans = Vec::new();
    let own = desc.span();
    match own.intersect(&local) {
        None => spans.push(own),
        Some(_) => {
            if own.start < local.start {
                spans.push(Span {
                    start: own.start.clone(),
                    end: local.start.clone(),
                });
            }
            if own.end > local.end {
                spans.push(Span {
                    start: local.end.clone().max(own.start.clone()),
                    end: own.end,
                });
            }
        }
    }
    spans.push(Span {
        start: keys::range_local_key(&desc.start_key, b""),
        end: keys::range_local_key(&desc.end_key, b""),
    });
    spans
}

/// Closed timestamp state of a replica.
#[derive(Debug, Default, Clone, Copy)]
pub struct ClosedState {
    /// Applied on this replica: reads at or below may be served here.
    pub applied: Timestamp,
    /// Promised by this replica as leaseholder (at least `applied`).
    pub promised: Timestamp,
}

/// This node's copy of one range.
pub struct Replica {
    range_id: RangeId,
    node_id: NodeId,
    engine: Arc<dyn Engine>,
    clock: Arc<dyn Clock>,
    group: RaftGroup,
    desc: RwLock<Option<RangeDescriptor>>,
    latches: crate::latch::LatchManager,
    /// Write timestamps of evaluations from when they are chosen until their command applied
    /// here (or failed), by evaluation id: a closed timestamp stays below all of them.
    inflight: Mutex<std::collections::BTreeMap<u64, Timestamp>>,
    next_eval: AtomicU64,
    /// Held while a command gets its closed timestamp and enters the Raft log, so that closed
    /// timestamps grow along the log.
    propose_order: tokio::sync::Mutex<()>,
    tscache: Mutex<TsCache>,
    closed: Mutex<ClosedState>,
    pending_side: Mutex<Option<(Timestamp, u64)>>,
    lease_term: AtomicU64,
    /// The last term in which a refusal naming this node as the leaseholder was logged.
    self_hint_logged: AtomicU64,
    /// Where this replica's lease began: the timestamp cache's low-water mark set then, above
    /// every write a previous leaseholder served (local uncertainty limits start here).
    lease_start: Mutex<Timestamp>,
    /// Until when a confirmed leadership round ([`Replica::renew_lease`]) lets this replica
    /// serve, and in which term.
    lease_confirmed: Mutex<Option<(u64, tokio::time::Instant)>>,
    /// When [`Replica::prepare_lease`] last confirmed the lease of an idle range.
    last_idle_renewal: Mutex<Option<tokio::time::Instant>>,
    /// A background [`Replica::prepare_lease`] is running.
    lease_setup: std::sync::atomic::AtomicBool,
    /// Held while a lease is being set up ([`Replica::ensure_lease`]).
    lease_setup_lock: tokio::sync::Mutex<()>,
    next_proposal: AtomicU64,
    /// Bytes this leaseholder has proposed since the last size measurement.
    written_since_measure: AtomicU64,
    /// The last measured total size of the range's data, bytes (`u64::MAX`: never measured).
    measured_bytes: AtomicU64,
    cfg: ReplicaConfig,
    /// Live change streams on this replica.
    pub rangefeeds: crate::rangefeed::Registry,
    /// True while a snapshot is being installed: the range's data is half written, so follower
    /// reads are refused. A read checks it and takes its engine snapshot under the read lock.
    installing: RwLock<bool>,
}

impl Replica {
    /// A replica over an open Raft group. `desc` is `None` for a replica created to receive a
    /// snapshot (it learns its descriptor from the snapshot).
    pub fn new(
        node_id: NodeId,
        engine: Arc<dyn Engine>,
        clock: Arc<dyn Clock>,
        group: RaftGroup,
        desc: Option<RangeDescriptor>,
        cfg: ReplicaConfig,
    ) -> Replica {
        Replica {
            range_id: group.range_id(),
            node_id,
            engine,
            clock,
            group,
            desc: RwLock::new(desc),
            latches: crate::latch::LatchManager::new(),
            inflight: Mutex::new(std::collections::BTreeMap::new()),
            next_eval: AtomicU64::new(1),
            propose_order: tokio::sync::Mutex::new(()),
            tscache: Mutex::new(TsCache::new(Timestamp::ZERO, tscache::DEFAULT_CAPACITY)),
            closed: Mutex::new(ClosedState::default()),
            pending_side: Mutex::new(None),
            lease_term: AtomicU64::new(0),
            self_hint_logged: AtomicU64::new(u64::MAX),
            lease_start: Mutex::new(Timestamp::ZERO),
            lease_confirmed: Mutex::new(None),
            last_idle_renewal: Mutex::new(None),
            lease_setup: std::sync::atomic::AtomicBool::new(false),
            lease_setup_lock: tokio::sync::Mutex::new(()),
            next_proposal: AtomicU64::new(1),
            written_since_measure: AtomicU64::new(0),
            measured_bytes: AtomicU64::new(u64::MAX),
            cfg,
            rangefeeds: crate::rangefeed::Registry::default(),
            installing: RwLock::new(false),
        }
    }

    /// Marks a snapshot install as running (or ended). Set before the install's first write:
    /// reads that saw it unset took their engine snapshot before.
    pub(crate) fn set_installing(&self, on: bool) {
        *self.installing.write() = on;
    }

    /// Holds off a snapshot install while the caller takes an engine snapshot of the range;
    /// the value is whether one is running (then the data is half written).
    pub(crate) fn install_guard(&self) -> parking_lot::RwLockReadGuard<'_, bool> {
        self.installing.read()
    }

    /// The range's id.
    pub fn range_id(&self) -> RangeId {
        self.range_id
    }

    /// The Raft group.
    pub fn group(&self) -> &RaftGroup {
        &self.group
    }

    /// The current descriptor, if this replica has been initialised.
    pub fn descriptor(&self) -> Option<RangeDescriptor> {
        self.desc.read().clone()
    }

    /// Replaces the in-memory descriptor (after a split, a snapshot or a replica change).
    pub fn set_descriptor(&self, desc: RangeDescriptor) {
        *self.desc.write() = Some(desc);
    }

    /// The closed timestamp state.
    pub fn closed(&self) -> ClosedState {
        *self.closed.lock()
    }

    /// Raises the applied closed timestamp (from an applied command or the side transport).
    pub fn advance_closed(&self, ts: Timestamp) {
        let mut c = self.closed.lock();
        c.applied = c.applied.max(ts);
        c.promised = c.promised.max(c.applied);
    }

    /// True when this replica leads its group (and so holds the lease).
    pub fn is_leaseholder(&self) -> bool {
        self.group.is_leader()
    }

    /// The storage engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// Serves a batch. The response carries this node's clock reading from when the batch
    /// arrived: an observed timestamp for the transaction.
    pub async fn send(&self, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        let arrived = self.clock.now();
        let mut ba = ba;
        if let Some(txn) = &mut ba.header.txn
            && txn.observed_on(self.node_id).is_none()
        {
            // The first visit: this reading already bounds every write this node's
            // leaseholders served, so it narrows this very request's uncertainty interval.
            txn.observed.push((self.node_id, arrived));
        }
        let mut resp = self.serve(ba).await?;
        resp.observed = vec![(self.node_id, arrived)];
        Ok(resp)
    }

    async fn serve(&self, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        self.check_keys(&desc, &ba)?;
        if ba.requests.iter().any(Request::is_admin) {
            return Err(KvError::Internal(
                "admin requests are served by the store".into(),
            ));
        }
        if ba.is_read_only() {
            if ba.header.routing == Routing::Nearest && !self.is_leaseholder() {
                return self.follower_read(&ba);
            }
            self.ensure_lease().await?;
            return self.execute_read(&ba).await;
        }
        self.ensure_lease().await?;
        self.execute_write(ba).await
    }

    fn check_keys(&self, desc: &RangeDescriptor, ba: &BatchRequest) -> Result<(), KvError> {
        if batch_fits(desc, ba) {
            Ok(())
        } else {
            Err(KvError::RangeKeyMismatch {
                range_id: self.range_id,
                descriptor: Some(desc.clone()),
            })
        }
    }

    fn not_leaseholder(&self) -> KvError {
        self.refused(self.group.leader(), "not leader")
    }

    /// `NotLeaseholder` with `leaseholder` as the hint. A refusal that points back at this node
    /// sends clients in a circle: it is logged, once per term, with the Raft state behind it.
    fn refused(&self, leaseholder: Option<NodeId>, why: &str) -> KvError {
        if leaseholder == Some(self.node_id) {
            let term = self.group.term();
            if self.self_hint_logged.swap(term, Ordering::SeqCst) != term {
                tracing::info!(
                    range = %self.range_id,
                    term,
                    why,
                    is_leader = self.group.is_leader(),
                    "not leaseholder, yet Raft names this node as the leader"
                );
            }
        }
        KvError::NotLeaseholder {
            range_id: self.range_id,
            leaseholder,
        }
    }

    /// Confirms the lease, and on a new term raises the timestamp cache's low-water mark to now
    /// plus the maximum clock offset (the previous leaseholder may have served reads up to
    /// there) and waits until the local clock has passed it.
    async fn ensure_lease(&self) -> Result<(), KvError> {
        if !self.group.is_leader() {
            return Err(self.not_leaseholder());
        }
        let term = self.group.term();
        if self.lease_term.load(Ordering::SeqCst) != term {
            // One setup per term: a second one, started while the first waits, would raise the
            // low-water mark again after the first has declared the lease ready, and writes in
            // between would take timestamps in the future.
            let _setup = self.lease_setup_lock.lock().await;
            if self.lease_term.load(Ordering::SeqCst) == term {
                return Ok(());
            }
            self.group
                .ensure_linearizable()
                .await
                .map_err(|e| self.propose_error(e))?;
            let offset = i64::try_from(self.clock.max_offset().as_nanos()).unwrap_or(i64::MAX);
            let low = self.clock.now().add_nanos(offset);
            self.tscache.lock().raise_low_water(low);
            // Wait out the clock uncertainty once per lease, so this leaseholder's own clock
            // passes the low-water mark: its writes then carry present timestamps that readers
            // at "now" see, instead of timestamps in the future.
            let wait = low.wall.saturating_sub(self.clock.physical_nanos());
            if wait > 0 {
                tokio::time::sleep(Duration::from_nanos(u64::try_from(wait).unwrap_or(0))).await;
            }
            let applied = self.closed.lock().applied;
            self.closed.lock().promised = applied;
            *self.lease_start.lock() = low;
            self.lease_term.store(term, Ordering::SeqCst);
        }
        if !self.lease_valid() {
            self.renew_lease().await?;
        }
        Ok(())
    }

    /// Whether this replica may serve as leaseholder at this instant: it leads in the term its
    /// lease was set up in, and a quorum acknowledged its leadership recently enough that no
    /// other replica can have been elected (see [`RaftGroup::lease_expiration`]). A leader
    /// that was paused, partitioned or idle (quiesced) past its lease must confirm it again
    /// ([`Replica::renew_lease`]) before it serves.
    pub fn lease_valid(&self) -> bool {
        let term = self.group.term();
        if self.lease_term.load(Ordering::SeqCst) != term {
            return false;
        }
        if self.group.lease_valid() {
            return true;
        }
        let now = tokio::time::Instant::now();
        matches!(*self.lease_confirmed.lock(), Some((t, until)) if t == term && now < until)
    }

    /// Confirms leadership with a heartbeat round to a quorum; the lease then runs for the
    /// lease duration from the round's start (every heartbeat of the round was sent after it).
    async fn renew_lease(&self) -> Result<(), KvError> {
        let start = tokio::time::Instant::now();
        let term = self.group.term();
        self.group
            .ensure_linearizable()
            .await
            .map_err(|e| self.propose_error(e))?;
        if self.group.term() != term || !self.group.is_leader() {
            return Err(self.not_leaseholder());
        }
        *self.lease_confirmed.lock() = Some((term, start + self.group.lease_duration()));
        Ok(())
    }

    /// The uncertainty interval of a read by the transaction of `h` on this replica: up to the
    /// transaction's global limit, narrowed to its observed timestamp on this node — forwarded
    /// to the lease start, since a previous leaseholder's writes need not be under this node's
    /// clock — when this replica serves as leaseholder.
    fn uncertainty(&self, h: &Header, leaseholder: bool) -> mvcc::Uncertainty {
        let Some(txn) = &h.txn else {
            return mvcc::Uncertainty::NONE;
        };
        let global = txn.global_limit;
        if global <= txn.read_ts {
            return mvcc::Uncertainty::NONE;
        }
        let local = match txn.observed_on(self.node_id) {
            Some(observed) if leaseholder => observed.max(*self.lease_start.lock()).min(global),
            _ => global,
        };
        mvcc::Uncertainty { global, local }
    }

    /// Sets up the lease of a new term in the background when this replica leads but has not
    /// served a request in that term, so that an idle range closes timestamps too (its
    /// rangefeeds checkpoint and its followers serve reads) instead of waiting for a request.
    /// An idle (quiesced) leader's lease lapses, and only a valid lease closes timestamps: it
    /// is confirmed again at every call while the range has rangefeeds, else at most every
    /// [`IDLE_LEASE_RENEWAL`].
    pub fn prepare_lease(self: &Arc<Self>) {
        if !self.group.is_leader() {
            return;
        }
        if self.lease_term.load(Ordering::SeqCst) == self.group.term() {
            if self.lease_valid() {
                return;
            }
            let now = tokio::time::Instant::now();
            let due = {
                let mut last = self.last_idle_renewal.lock();
                let due = self.rangefeeds.is_active()
                    || last.is_none_or(|t| now.duration_since(t) >= IDLE_LEASE_RENEWAL);
                if due {
                    *last = Some(now);
                }
                due
            };
            if !due {
                return;
            }
        }
        if self.lease_setup.swap(true, Ordering::SeqCst) {
            return;
        }
        let replica = self.clone();
        tokio::spawn(async move {
            if let Err(e) = replica.ensure_lease().await {
                tracing::debug!("{}: lease not set up yet: {e}", replica.range_id);
            }
            replica.lease_setup.store(false, Ordering::SeqCst);
        });
    }

    fn propose_error(&self, e: ProposeError) -> KvError {
        match e {
            ProposeError::NotLeader { leader } => self.refused(leader, "raft refused"),
            e @ ProposeError::Ambiguous { .. } => {
                KvError::AmbiguousResult(format!("{}: {e}", self.range_id))
            }
            other => KvError::Unavailable(other.to_string()),
        }
    }

    fn follower_read(&self, ba: &BatchRequest) -> Result<BatchResponse, KvError> {
        let ts = read_ts(&ba.header);
        let closed = self.closed.lock().applied;
        if ts > closed || ts.is_zero() {
            return Err(KvError::FollowerReadTooNew {
                range_id: self.range_id,
                ts,
                closed,
            });
        }
        let unc = self.uncertainty(&ba.header, false);
        if unc.global > closed {
            // Values up to the uncertainty limit must be known here too.
            return Err(KvError::FollowerReadTooNew {
                range_id: self.range_id,
                ts: unc.global,
                closed,
            });
        }
        let snap = {
            let installing = self.install_guard();
            if *installing {
                return Err(self.not_leaseholder());
            }
            self.engine.snapshot()
        };
        self.eval_read_batch(snap.as_ref(), ba, ts, unc)
    }

    /// Serves a read-only batch on the leaseholder.
    pub async fn execute_read(&self, ba: &BatchRequest) -> Result<BatchResponse, KvError> {
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        let _latch = self.latches.acquire(latches_for(&desc, ba)).await;
        let ts = match read_ts(&ba.header) {
            ts if ts.is_zero() => self.clock.now(),
            ts => ts,
        };
        let txn_id = ba.header.txn.as_ref().map(|t| t.meta.id);
        {
            let mut cache = self.tscache.lock();
            for r in &ba.requests {
                match r {
                    Request::Get { .. } | Request::Scan { .. } => {
                        cache.record_read(&r.span(), ts, txn_id)
                    }
                    // A refreshed read now stands at `to`: no other transaction may write
                    // under it afterwards, or the refresh would have been for nothing (a
                    // write between the refresh and the commit went unseen: write skew).
                    Request::Refresh { span, to, .. } => cache.record_read(span, *to, txn_id),
                    _ => {}
                }
            }
        }
        // The snapshot is good only if the lease still held after it was taken: then no other
        // replica can have served a write this one does not hold. A replica that was paused
        // or cut off past its lease confirms it with a quorum first, or learns it lost it.
        let mut snap = self.engine.snapshot();
        let mut renewals = 0;
        while !self.lease_valid() {
            if renewals == 2 {
                return Err(self.not_leaseholder());
            }
            renewals += 1;
            self.renew_lease().await?;
            snap = self.engine.snapshot();
        }
        let unc = self.uncertainty(&ba.header, true);
        self.eval_read_batch(snap.as_ref(), ba, ts, unc)
    }

    /// Answers every request of a read-only batch from `snap` at `ts`, with uncertainty
    /// `unc`.
    fn eval_read_batch(
        &self,
        snap: &dyn Reader,
        ba: &BatchRequest,
        ts: Timestamp,
        unc: mvcc::Uncertainty,
    ) -> Result<BatchResponse, KvError> {
        let responses = ba
            .requests
            .iter()
            .map(|r| self.eval_read(snap, r, ts, unc, ba.header.txn.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchResponse {
            responses,
            write_ts: Timestamp::ZERO,
            served_by: self.node_id,
            observed: Vec::new(),
        })
    }

    fn eval_read(
        &self,
        r: &dyn Reader,
        req: &Request,
        ts: Timestamp,
        unc: mvcc::Uncertainty,
        txn: Option<&TxnHeader>,
    ) -> Result<Response, KvError> {
        let meta = txn.map(|t| &t.meta);
        Ok(match req {
            Request::Get { key } => Response::Get(
                mvcc::mvcc_get_uncertain(r, key, ts, unc, meta)?.map(|v| KeyValue {
                    key: key.clone(),
                    value: v.bytes,
                    ts: v.ts,
                }),
            ),
            Request::Scan {
                span,
                max_keys,
                reverse,
            } => {
                let res = mvcc::mvcc_scan_uncertain(r, span, ts, unc, meta, *max_keys, *reverse)?;
                Response::Scan {
                    rows: res
                        .kvs
                        .into_iter()
                        .map(|(key, v)| KeyValue {
                            key,
                            value: v.bytes,
                            ts: v.ts,
                        })
                        .collect(),
                    resume: res.resume,
                }
            }
            Request::Refresh { span, from, to } => {
                let changes = mvcc::mvcc_changes(r, span, *from, *to)?;
                if let Some(c) = changes.first() {
                    return Err(KvError::TxnRetry {
                        reason: format!("RETRY_SERIALIZABLE: {} written at {}", c.key, c.ts),
                    });
                }
                // Intents of other transactions at or below `to` also invalidate the read.
                let intents = mvcc::mvcc_find_intents(r, span, 16)?;
                let mine = meta.map(|m| m.id);
                if intents
                    .iter()
                    .any(|i| Some(i.txn.id) != mine && i.txn.write_ts <= *to)
                {
                    return Err(KvError::TxnRetry {
                        reason: "RETRY_SERIALIZABLE: conflicting intent".into(),
                    });
                }
                Response::Ok
            }
            Request::Export {
                span,
                start,
                end,
                all_revisions,
                target_bytes,
            } => {
                let e = mvcc::mvcc_export(r, span, *start, *end, *all_revisions, *target_bytes)?;
                Response::Export {
                    entries: e.entries,
                    resume: e.resume,
                }
            }
            Request::RangeStats => {
                let desc = self.descriptor().ok_or(KvError::RangeNotFound {
                    range_id: self.range_id,
                })?;
                let mut stats = RangeStats::default();
                for span in replica_data_spans(&desc) {
                    let s = mvcc::mvcc_stats(r, &span)?;
                    stats.key_count += s.key_count;
                    stats.live_bytes += s.live_bytes;
                    stats.total_bytes += s.total_bytes;
                }
                Response::Stats(stats)
            }
            other => return Err(KvError::Internal(format!("not a read: {other:?}"))),
        })
    }

    /// Evaluates and replicates a batch that writes.
    pub async fn execute_write(&self, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        let _latch = self.latches.acquire(latches_for(&desc, &ba)).await;
        // The lease may have moved while waiting for the latch.
        if !self.group.is_leader() {
            return Err(self.not_leaseholder());
        }
        let txn = ba.header.txn.as_ref();
        let txn_id = txn.map(|t| t.meta.id);
        let ts = match txn {
            Some(t) => t.meta.write_ts,
            None if ba.header.timestamp.is_zero() => self.clock.now(),
            None => ba.header.timestamp,
        };
        let eval = Evaluation::start(self, ts, |mut ts| {
            let cache = self.tscache.lock();
            for r in &ba.requests {
                if !r.is_read_only() {
                    ts = ts.max(cache.max_read(&r.span(), txn_id).next());
                }
            }
            ts
        });
        let mut ts = eval.ts();
        let mut attempt = 0;
        let unc = self.uncertainty(&ba.header, true);
        let (batch, ops, responses) = loop {
            match self.eval_writes(&ba, ts, unc) {
                Ok(done) => break done,
                Err(EvalError::Pushed(to)) if attempt < self.cfg.max_write_retries => {
                    ts = ts.max(to);
                    eval.raise(ts);
                    attempt += 1;
                }
                Err(EvalError::Pushed(to)) => {
                    return Err(KvError::TxnRetry {
                        reason: format!("WriteTooOld: pushed to {to}"),
                    });
                }
                Err(EvalError::Kv(e)) => return Err(e),
            }
        };
        if let Some(Request::CommitOnePhase { refresh }) = ba.requests.last() {
            // The transaction's reads now stand at its commit timestamp.
            let mut cache = self.tscache.lock();
            for span in refresh {
                cache.record_read(span, ts, txn_id);
            }
        }
        if batch.is_empty() && ops.is_empty() {
            return Ok(BatchResponse {
                responses,
                write_ts: ts,
                served_by: self.node_id,
                observed: Vec::new(),
            });
        }
        // This leaseholder's clock passes every write it serves, so that a clock reading taken
        // here later (an observed timestamp) lies above them all.
        if let Err(e) = self.clock.update(ts) {
            tracing::debug!("{}: write at {ts} ahead of the clock: {e}", self.range_id);
        }
        let size = batch.size_bytes() as u64;
        let mut cmd = RaftCommand {
            proposal_id: self.next_proposal.fetch_add(1, Ordering::SeqCst),
            writes: raw_writes(batch),
            ops,
            closed_ts: Timestamp::ZERO,
            trigger: None,
        };
        let applied = {
            // The closed timestamp and the place in the log are decided together, so closed
            // timestamps grow along the log; the wait for commit is outside, so concurrent
            // commands share appends and fsyncs.
            let _order = self.propose_order.lock().await;
            cmd.closed_ts = self.close_for_proposal();
            self.group
                .submit(cmd)
                .await
                .map_err(|e| self.propose_error(e))?
        };
        let result = applied.await.map_err(|e| self.propose_error(e))?;
        drop(eval);
        if let Some(err) = result.error {
            return Err(KvError::Internal(err));
        }
        self.written_since_measure
            .fetch_add(size, Ordering::Relaxed);
        Ok(BatchResponse {
            responses,
            write_ts: ts,
            served_by: self.node_id,
            observed: Vec::new(),
        })
    }

    /// Proposes a command with a trigger (split, descriptor update) under the write latch.
    ///
    /// `build` makes the trigger from the range's descriptor as it is under the range-wide
    /// latch, after every trigger this leaseholder proposed before has applied: a trigger
    /// built from a descriptor read earlier could undo a split that applied in between (a
    /// replica change proposed from the wider descriptor put the split's keys back in meta).
    /// Returns the trigger proposed.
    pub async fn propose_trigger(
        &self,
        build: impl FnOnce(RangeDescriptor) -> Result<Trigger, KvError>,
    ) -> Result<Trigger, KvError> {
        let _latch = self.latches.acquire(vec![Latch::write(everything())]).await;
        let _order = self.propose_order.lock().await;
        if !self.group.is_leader() {
            return Err(self.not_leaseholder());
        }
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id(),
        })?;
        let trigger = build(desc)?;
        let promised = self.closed.lock().promised;
        let cmd = RaftCommand {
            proposal_id: self.next_proposal.fetch_add(1, Ordering::SeqCst),
            closed_ts: promised,
            trigger: Some(trigger.clone()),
            ..Default::default()
        };
        let result = self
            .group
            .propose(cmd)
            .await
            .map_err(|e| self.propose_error(e))?;
        match result.error {
            Some(err) => Err(KvError::Internal(err)),
            None => Ok(trigger),
        }
    }

    /// Closes a timestamp without a Raft command (the side transport), if the range is idle
    /// enough to take the latch at once. Under the latch no proposal is in flight, so every
    /// write at or below the returned timestamp is at or below the returned log index: a
    /// follower that applied that index may serve reads up to the timestamp.
    pub fn side_close(&self) -> Option<(Timestamp, u64)> {
        if !self.group.is_leader() || !self.lease_valid() {
            return None;
        }
        let target = i64::try_from(self.cfg.closed_ts_target.as_nanos()).unwrap_or(i64::MAX);
        let mut c = self.closed.lock();
        let mut closed = self.clock.now().add_nanos(-target);
        if let Some(lowest) = self.inflight.lock().values().min() {
            closed = closed.min(lowest.prev());
        }
        // Every write at or below `closed` has applied here: a write still evaluating or
        // replicating is in `inflight`, above it, and later ones go above `promised`.
        let index = self.group.applied_index();
        if closed <= c.promised {
            return Some((c.promised, index));
        }
        c.promised = closed;
        c.applied = c.applied.max(closed);
        Some((closed, index))
    }

    /// The closed timestamp a command entering the log now carries: below every write still
    /// evaluating or replicating (its own included), and never below one promised before.
    fn close_for_proposal(&self) -> Timestamp {
        let target = i64::try_from(self.cfg.closed_ts_target.as_nanos()).unwrap_or(i64::MAX);
        let mut c = self.closed.lock();
        let mut closed = self.clock.now().add_nanos(-target);
        if let Some(lowest) = self.inflight.lock().values().min() {
            closed = closed.min(lowest.prev());
        }
        let closed = c.promised.max(closed);
        c.promised = closed;
        closed
    }

    /// Takes a closed timestamp from the leaseholder's side transport: valid once this replica
    /// has applied `index`.
    pub fn offer_closed(&self, ts: Timestamp, index: u64) {
        if self.group.applied_index() >= index {
            self.advance_closed(ts);
        } else {
            let mut p = self.pending_side.lock();
            if p.is_none_or(|(_, i)| i <= index) {
                *p = Some((ts, index));
            }
        }
    }

    /// Called after a command applied at `index`: a pending side-transport closed timestamp
    /// may now be valid.
    pub fn on_applied(&self, index: u64) {
        let pending = *self.pending_side.lock();
        if let Some((ts, i)) = pending
            && index >= i
        {
            *self.pending_side.lock() = None;
            self.advance_closed(ts);
        }
    }

    fn eval_writes(
        &self,
        ba: &BatchRequest,
        ts: Timestamp,
        unc: mvcc::Uncertainty,
    ) -> Result<(WriteBatch, Vec<LogicalOp>, Vec<Response>), EvalError> {
        let snap = self.engine.snapshot();
        let mut batch = WriteBatch::new();
        let mut ops = Vec::new();
        let mut responses = Vec::with_capacity(ba.requests.len());
        let txn = ba.header.txn.as_ref().map(|t| {
            let mut meta = t.meta.clone();
            meta.write_ts = ts;
            (meta, t.read_ts)
        });
        if let Some(Request::CommitOnePhase { refresh }) = ba.requests.last() {
            return self.eval_one_phase(snap.as_ref(), ba, refresh, ts, txn.as_ref());
        }
        for req in &ba.requests {
            let resp = self.eval_write(
                snap.as_ref(),
                &mut batch,
                &mut ops,
                req,
                ts,
                unc,
                txn.as_ref(),
            )?;
            responses.push(resp);
        }
        Ok((batch, ops, responses))
    }

    /// A one-phase commit ([`Request::CommitOnePhase`]): every write of the transaction as a
    /// committed value at `ts`, after checking that its reads (latched) did not change between
    /// its read timestamp and `ts`.
    fn eval_one_phase(
        &self,
        snap: &dyn Reader,
        ba: &BatchRequest,
        refresh: &[Span],
        ts: Timestamp,
        txn: Option<&(TxnMeta, Timestamp)>,
    ) -> Result<(WriteBatch, Vec<LogicalOp>, Vec<Response>), EvalError> {
        let Some((meta, read_ts)) = txn else {
            return Err(EvalError::Kv(KvError::Internal(
                "one-phase commit outside a transaction".into(),
            )));
        };
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        if ts > *read_ts {
            for span in refresh {
                if !batch_fits(
                    &desc,
                    &BatchRequest {
                        header: Header::default(),
                        requests: vec![Request::Scan {
                            span: span.clone(),
                            max_keys: 0,
                            reverse: false,
                        }],
                    },
                ) {
                    return Err(EvalError::Kv(KvError::TxnRetry {
                        reason: format!("one-phase commit: read span {span} outside the range"),
                    }));
                }
                let check = Request::Refresh {
                    span: span.clone(),
                    from: *read_ts,
                    to: ts,
                };
                let hdr = TxnHeader::new(meta.clone(), *read_ts);
                self.eval_read(snap, &check, ts, mvcc::Uncertainty::NONE, Some(&hdr))?;
            }
        }
        let mut batch = WriteBatch::new();
        let mut ops = Vec::new();
        let mut responses = Vec::with_capacity(ba.requests.len());
        let (last, writes) = ba
            .requests
            .split_last()
            .ok_or_else(|| EvalError::Kv(KvError::Internal("empty batch".into())))?;
        for req in writes {
            if !matches!(
                req,
                Request::Put { .. } | Request::ConditionalPut { .. } | Request::Delete { .. }
            ) {
                return Err(EvalError::Kv(KvError::Internal(format!(
                    "not a one-phase write: {req:?}"
                ))));
            }
            responses.push(self.eval_write(
                snap,
                &mut batch,
                &mut ops,
                req,
                ts,
                mvcc::Uncertainty::NONE,
                None,
            )?);
        }
        let _ = last;
        responses.push(Response::Txn(TxnRecord {
            meta: TxnMeta {
                write_ts: ts,
                ..meta.clone()
            },
            status: TxnRecordStatus::Committed,
            commit_ts: ts,
            last_heartbeat: ts,
        }));
        Ok((batch, ops, responses))
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_write(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        ops: &mut Vec<LogicalOp>,
        req: &Request,
        ts: Timestamp,
        unc: mvcc::Uncertainty,
        txn: Option<&(TxnMeta, Timestamp)>,
    ) -> Result<Response, EvalError> {
        let meta = txn.map(|(m, _)| m);
        let read_at = txn.map(|(_, r)| *r).unwrap_or(ts).max(ts);
        match req {
            Request::Get { .. }
            | Request::Scan { .. }
            | Request::Refresh { .. }
            | Request::Export { .. }
            | Request::RangeStats => {
                let reader = mvcc::BatchReader::new(snap, batch);
                let hdr = txn.map(|(m, r)| TxnHeader::new(m.clone(), *r));
                Ok(self.eval_read(&reader, req, read_at, unc, hdr.as_ref())?)
            }
            Request::Put { key, value } => {
                self.put(snap, batch, ops, key, ts, Some(value), meta)?;
                Ok(Response::Ok)
            }
            Request::Delete { key } => {
                self.put(snap, batch, ops, key, ts, None, meta)?;
                Ok(Response::Ok)
            }
            Request::ConditionalPut {
                key,
                value,
                expected,
            } => {
                let actual = latest_value(snap, batch, key, meta)?;
                if actual != *expected {
                    return Err(EvalError::Kv(KvError::ConditionFailed {
                        key: key.clone(),
                        actual,
                    }));
                }
                self.put(snap, batch, ops, key, ts, Some(value), meta)?;
                Ok(Response::Ok)
            }
            Request::Increment { key, delta } => {
                let old = match latest_value(snap, batch, key, meta)? {
                    Some(bytes) => decode_i64(&bytes)?,
                    None => 0,
                };
                let new = old.checked_add(*delta).ok_or_else(|| {
                    EvalError::Kv(KvError::Internal(format!("increment of {key} overflows")))
                })?;
                self.put(
                    snap,
                    batch,
                    ops,
                    key,
                    ts,
                    Some(&new.to_be_bytes().to_vec()),
                    meta,
                )?;
                Ok(Response::Increment(new))
            }
            Request::DeleteRange { span } => {
                let rows = {
                    let reader = mvcc::BatchReader::new(snap, batch);
                    mvcc::mvcc_scan(&reader, span, Timestamp::MAX, meta, 0, false)
                        .map_err(KvError::from)?
                };
                for (key, _) in rows.kvs {
                    self.put(snap, batch, ops, &key, ts, None, meta)?;
                }
                Ok(Response::Ok)
            }
            Request::HeartbeatTxn { now } => {
                let meta = meta.ok_or_else(|| {
                    EvalError::Kv(KvError::Internal("heartbeat outside a transaction".into()))
                })?;
                self.heartbeat_txn(snap, batch, meta, *now)
            }
            Request::EndTxn {
                commit,
                commit_ts,
                resolve,
            } => {
                let meta = meta.ok_or_else(|| {
                    EvalError::Kv(KvError::Internal("EndTxn outside a transaction".into()))
                })?;
                self.end_txn(snap, batch, ops, meta, *commit, *commit_ts, resolve)
            }
            Request::PushTxn { pushee, kind, now } => {
                self.push_txn(snap, batch, pushee, *kind, *now)
            }
            Request::ResolveIntent {
                key,
                txn_id,
                resolution,
            } => {
                self.resolve(
                    snap,
                    batch,
                    ops,
                    &Span {
                        start: key.clone(),
                        end: key.next(),
                    },
                    *txn_id,
                    *resolution,
                )?;
                Ok(Response::Ok)
            }
            Request::ResolveIntentRange {
                span,
                txn_id,
                resolution,
            } => {
                self.resolve(snap, batch, ops, span, *txn_id, *resolution)?;
                Ok(Response::Ok)
            }
            Request::CommitOnePhase { .. } => Err(EvalError::Kv(KvError::Internal(
                "a one-phase commit must end its batch".into(),
            ))),
            Request::Ingest { entries } => {
                // No logical ops: ingested versions are not published to rangefeeds (see
                // `Request::Ingest`), which keeps a RESTORE's Raft commands half the size.
                mvcc::mvcc_ingest(batch, entries.iter().cloned());
                Ok(Response::Ok)
            }
            Request::AdminSplit { .. } => Err(EvalError::Kv(KvError::Internal(
                "AdminSplit is served by the store".into(),
            ))),
        }
    }

    /// HeartbeatTxn: the pending record's heartbeat moves up to `now` (a missing record is
    /// written as pending); a finished transaction's heartbeat is an error.
    fn heartbeat_txn(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        meta: &TxnMeta,
        now: Timestamp,
    ) -> Result<Response, EvalError> {
        let rec = self.read_record(snap, batch, meta)?;
        let rec = match rec {
            Some(r) if r.status != TxnRecordStatus::Pending => {
                return Err(EvalError::Kv(aborted_or_done(&r)));
            }
            Some(mut r) => {
                r.last_heartbeat = r.last_heartbeat.max(now);
                r
            }
            None => TxnRecord {
                meta: meta.clone(),
                status: TxnRecordStatus::Pending,
                commit_ts: Timestamp::ZERO,
                last_heartbeat: now,
            },
        };
        self.write_record(snap, batch, &rec)?;
        Ok(Response::Txn(rec))
    }

    /// EndTxn: writes the record committed at `commit_ts` (or aborted) and resolves the
    /// transaction's intents in the parts of `resolve` inside this range, in the same batch.
    /// Committing an aborted transaction is an error; ending a committed one again answers
    /// its record.
    #[allow(clippy::too_many_arguments)]
    fn end_txn(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        ops: &mut Vec<LogicalOp>,
        meta: &TxnMeta,
        commit: bool,
        commit_ts: Timestamp,
        resolve: &[Span],
    ) -> Result<Response, EvalError> {
        let rec = self.read_record(snap, batch, meta)?;
        if let Some(r) = &rec {
            match r.status {
                TxnRecordStatus::Aborted if commit => {
                    return Err(EvalError::Kv(KvError::TxnAborted {
                        reason: "ABORT_REASON_ABORTED_RECORD_FOUND".into(),
                    }));
                }
                TxnRecordStatus::Committed => return Ok(Response::Txn(r.clone())),
                _ => {}
            }
        }
        let rec = TxnRecord {
            meta: meta.clone(),
            status: if commit {
                TxnRecordStatus::Committed
            } else {
                TxnRecordStatus::Aborted
            },
            commit_ts,
            last_heartbeat: rec.map(|r| r.last_heartbeat).unwrap_or_default(),
        };
        self.write_record(snap, batch, &rec)?;
        // Local intent resolution: the intents in this range change with the record,
        // atomically, instead of in later Raft writes.
        let resolution = if commit {
            Resolution::Commit(commit_ts)
        } else {
            Resolution::Abort
        };
        if let Some(desc) = self.descriptor() {
            let own = desc.span();
            for span in resolve {
                if let Some(local) = own.intersect(span) {
                    self.resolve(snap, batch, ops, &local, meta.id, resolution)?;
                }
            }
        }
        Ok(Response::Txn(rec))
    }

    /// PushTxn: the pushee's record as it stands, except that an abort push aborts a pending
    /// transaction whose heartbeat (or, without a record, whose start) is older than
    /// [`TXN_LIVENESS_THRESHOLD`] at the pusher's `now`, writing the aborted record.
    fn push_txn(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        pushee: &TxnMeta,
        kind: PushKind,
        now: Timestamp,
    ) -> Result<Response, EvalError> {
        let rec = self.read_record(snap, batch, pushee)?;
        let threshold = i64::try_from(TXN_LIVENESS_THRESHOLD.as_nanos()).unwrap_or(i64::MAX);
        let expired = |hb: Timestamp| hb.wall < now.wall.saturating_sub(threshold);
        let rec = match rec {
            Some(r) if r.status != TxnRecordStatus::Pending => r,
            Some(r) if kind == PushKind::Abort && expired(r.last_heartbeat) => {
                let r = TxnRecord {
                    status: TxnRecordStatus::Aborted,
                    ..r
                };
                self.write_record(snap, batch, &r)?;
                r
            }
            Some(r) => r,
            None if kind == PushKind::Abort && expired(pushee.min_ts) => {
                let r = TxnRecord {
                    meta: pushee.clone(),
                    status: TxnRecordStatus::Aborted,
                    commit_ts: Timestamp::ZERO,
                    last_heartbeat: Timestamp::ZERO,
                };
                self.write_record(snap, batch, &r)?;
                r
            }
            None => TxnRecord {
                meta: pushee.clone(),
                status: TxnRecordStatus::Pending,
                commit_ts: Timestamp::ZERO,
                last_heartbeat: pushee.min_ts,
            },
        };
        Ok(Response::Txn(rec))
    }

    #[allow(clippy::too_many_arguments)]
    fn put(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        ops: &mut Vec<LogicalOp>,
        key: &Key,
        ts: Timestamp,
        value: Option<&Vec<u8>>,
        txn: Option<&TxnMeta>,
    ) -> Result<(), EvalError> {
        let mut pending = WriteBatch::new();
        let written_at = {
            let reader = mvcc::BatchReader::new(snap, batch);
            match mvcc::mvcc_put(
                &reader,
                &mut pending,
                key,
                ts,
                value.map(|v| v.as_slice()),
                txn,
            ) {
                Ok(outcome) => outcome.ts,
                Err(mvcc::MvccError::WriteTooOld { existing_ts, .. }) => {
                    return Err(EvalError::Pushed(existing_ts.next()));
                }
                Err(e) => return Err(EvalError::Kv(e.into())),
            }
        };
        batch.extend(pending);
        ops.push(match txn {
            Some(t) => LogicalOp::IntentWritten {
                txn_id: t.id,
                key: key.0.clone(),
                ts: written_at,
            },
            None => LogicalOp::Value {
                key: key.0.clone(),
                ts: written_at,
                value: value.cloned(),
            },
        });
        Ok(())
    }

    fn resolve(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        ops: &mut Vec<LogicalOp>,
        span: &Span,
        txn_id: uuid::Uuid,
        resolution: Resolution,
    ) -> Result<(), EvalError> {
        let intents = {
            let reader = mvcc::BatchReader::new(snap, batch);
            mvcc::mvcc_find_intents(&reader, span, 0).map_err(KvError::from)?
        };
        for intent in intents.into_iter().filter(|i| i.txn.id == txn_id) {
            let (status, commit_ts) = match resolution {
                Resolution::Commit(ts) => (TxnStatus::Committed, ts),
                Resolution::Abort => (TxnStatus::Aborted, Timestamp::ZERO),
            };
            let value = {
                let reader = mvcc::BatchReader::new(snap, batch);
                mvcc::mvcc_get(&reader, &intent.key, Timestamp::MAX, Some(&intent.txn))
                    .map_err(KvError::from)?
            };
            let mut pending = WriteBatch::new();
            {
                let reader = mvcc::BatchReader::new(snap, batch);
                mvcc::mvcc_resolve_intent(
                    &reader,
                    &mut pending,
                    &intent.key,
                    txn_id,
                    status,
                    commit_ts,
                )
                .map_err(KvError::from)?;
            }
            batch.extend(pending);
            ops.push(LogicalOp::IntentResolved {
                txn_id,
                key: intent.key.0.clone(),
            });
            if status == TxnStatus::Committed {
                ops.push(LogicalOp::Value {
                    key: intent.key.0.clone(),
                    ts: commit_ts,
                    value: value.map(|v| v.bytes),
                });
            }
        }
        Ok(())
    }

    fn read_record(
        &self,
        snap: &dyn Reader,
        batch: &WriteBatch,
        meta: &TxnMeta,
    ) -> Result<Option<TxnRecord>, EvalError> {
        let reader = mvcc::BatchReader::new(snap, batch);
        let key = txn_record_key(meta);
        match mvcc::mvcc_get(&reader, &key, Timestamp::MAX, None).map_err(KvError::from)? {
            Some(v) => postcard::from_bytes(&v.bytes)
                .map(Some)
                .map_err(|e| EvalError::Kv(KvError::Storage(format!("corrupt txn record: {e}")))),
            None => Ok(None),
        }
    }

    fn write_record(
        &self,
        snap: &dyn Reader,
        batch: &mut WriteBatch,
        rec: &TxnRecord,
    ) -> Result<(), EvalError> {
        let bytes = postcard::to_stdvec(rec)
            .map_err(|e| EvalError::Kv(KvError::Internal(e.to_string())))?;
        let key = txn_record_key(&rec.meta);
        let mut pending = WriteBatch::new();
        {
            let reader = mvcc::BatchReader::new(snap, batch);
            let ts = self.clock.now();
            mvcc::mvcc_put(&reader, &mut pending, &key, ts, Some(&bytes), None)
                .map_err(KvError::from)?;
        }
        batch.extend(pending);
        Ok(())
    }

    /// An estimate of the range's size in bytes: the last measurement plus what this
    /// leaseholder wrote since. `None` until measured once.
    pub fn estimated_bytes(&self) -> Option<u64> {
        match self.measured_bytes.load(Ordering::Relaxed) {
            u64::MAX => None,
            m => Some(m + self.written_since_measure.load(Ordering::Relaxed)),
        }
    }

    /// Measures the range's data (a full scan) and resets the estimate.
    pub fn measure(&self) -> Result<mvcc::Stats, KvError> {
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        let snap = self.engine.snapshot();
        self.written_since_measure.store(0, Ordering::Relaxed);
        let mut total = mvcc::Stats::default();
        for span in replica_data_spans(&desc) {
            let s = mvcc::mvcc_stats(snap.as_ref(), &span)?;
            total.key_count += s.key_count;
            total.live_count += s.live_count;
            total.live_bytes += s.live_bytes;
            total.total_bytes += s.total_bytes;
            total.intent_count += s.intent_count;
        }
        self.measured_bytes
            .store(total.total_bytes, Ordering::Relaxed);
        Ok(total)
    }

    /// A key near the middle of the range's data by bytes: where a size split goes. `None`
    /// when no key strictly inside the range qualifies.
    pub fn middle_key(&self, total_bytes: u64) -> Result<Option<Key>, KvError> {
        let desc = self.descriptor().ok_or(KvError::RangeNotFound {
            range_id: self.range_id,
        })?;
        let snap = self.engine.snapshot();
        let (start, end) = mvcc::raw_span_bounds(&desc.span());
        let mut acc = 0u64;
        for kv in snap.scan(Cf::Data, &start, &end, false) {
            let (k, v) = kv.map_err(|e| KvError::Storage(e.to_string()))?;
            acc += (k.len() + v.len()) as u64;
            if acc >= total_bytes / 2 {
                let key = mvcc::key::decode_key(&k)?.key;
                return Ok((key > desc.start_key && key < desc.end_key).then_some(key));
            }
        }
        Ok(None)
    }

    /// Waits (bounded) until this replica's group has a leader.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        self.group.wait_for_leader(timeout).await.ok()
    }
}

/// Whether every request of `ba` addresses keys of the range `desc` (a transaction's record
/// lives in its anchor's range).
pub fn batch_fits(desc: &RangeDescriptor, ba: &BatchRequest) -> bool {
    let own = desc.span();
    ba.requests.iter().all(|r| {
        let span = match (r, &ba.header.txn) {
            (Request::HeartbeatTxn { .. } | Request::EndTxn { .. }, Some(t)) => Span {
                start: t.meta.anchor.clone(),
                end: t.meta.anchor.next(),
            },
            _ => r.span(),
        };
        if span.start.0.is_empty() && span.end.0.is_empty() {
            return true;
        }
        let start = keys::addr(&span.start);
        if span.end <= span.start.next() {
            own.contains_key(&start)
        } else {
            start >= own.start && keys::addr(&span.end) <= own.end
        }
    })
}

fn aborted_or_done(r: &TxnRecord) -> KvError {
    match r.status {
        TxnRecordStatus::Aborted => KvError::TxnAborted {
            reason: "ABORT_REASON_ABORTED_RECORD_FOUND".into(),
        },
        _ => KvError::Internal("transaction already finished".into()),
    }
}

/// A write evaluation's timestamp, tracked from when it is chosen (above every promised closed
/// timestamp) until the evaluation's command applied here or failed (on drop), so that no
/// closed timestamp reaches it meanwhile.
struct Evaluation<'a> {
    replica: &'a Replica,
    id: u64,
    ts: Timestamp,
}

impl<'a> Evaluation<'a> {
    /// Picks the timestamp — `ts`, above the promised closed timestamp, then as `adjust` says
    /// (the timestamp cache) — and registers it, atomically with respect to closing.
    fn start(
        replica: &'a Replica,
        ts: Timestamp,
        adjust: impl FnOnce(Timestamp) -> Timestamp,
    ) -> Evaluation<'a> {
        let id = replica.next_eval.fetch_add(1, Ordering::Relaxed);
        let closed = replica.closed.lock();
        let ts = adjust(ts.max(closed.promised.next()));
        replica.inflight.lock().insert(id, ts);
        drop(closed);
        Evaluation { replica, id, ts }
    }

    fn ts(&self) -> Timestamp {
        self.ts
    }

    /// Moves the timestamp up (a pushed write).
    fn raise(&self, ts: Timestamp) {
        if let Some(t) = self.replica.inflight.lock().get_mut(&self.id) {
            *t = (*t).max(ts);
        }
    }
}

impl Drop for Evaluation<'_> {
    fn drop(&mut self) {
        self.replica.inflight.lock().remove(&self.id);
    }
}

/// A span above every key: a latch over the whole range.
fn everything() -> Span {
    Span {
        start: Key(Vec::new()),
        end: Key(vec![0xff; 32]),
    }
}

/// The latches a batch takes: read latches over what it reads, write latches over what it
/// writes, the transaction record's key for requests that change a record; the whole range
/// for anything else.
fn latches_for(desc: &RangeDescriptor, ba: &BatchRequest) -> Vec<Latch> {
    let point = |k: Key| Span {
        end: k.next(),
        start: k,
    };
    let record = |meta: &TxnMeta| point(txn_record_key(meta));
    let mut out = Vec::with_capacity(ba.requests.len() + 1);
    for r in &ba.requests {
        match r {
            Request::Get { .. }
            | Request::Scan { .. }
            | Request::Refresh { .. }
            | Request::Export { .. } => out.push(Latch::read(r.span())),
            Request::RangeStats => out.push(Latch::read(desc.span())),
            Request::Put { .. }
            | Request::ConditionalPut { .. }
            | Request::Delete { .. }
            | Request::Increment { .. }
            | Request::DeleteRange { .. }
            | Request::ResolveIntent { .. }
            | Request::ResolveIntentRange { .. } => out.push(Latch::write(r.span())),
            Request::HeartbeatTxn { .. } => match &ba.header.txn {
                Some(t) => out.push(Latch::write(record(&t.meta))),
                None => out.push(Latch::write(everything())),
            },
            Request::CommitOnePhase { refresh } => {
                out.extend(refresh.iter().cloned().map(Latch::read));
            }
            Request::EndTxn { resolve, .. } => match &ba.header.txn {
                Some(t) => {
                    out.push(Latch::write(record(&t.meta)));
                    out.extend(resolve.iter().cloned().map(Latch::write));
                }
                None => out.push(Latch::write(everything())),
            },
            Request::PushTxn { pushee, .. } => out.push(Latch::write(record(pushee))),
            _ => out.push(Latch::write(everything())),
        }
    }
    out
}

fn read_ts(h: &Header) -> Timestamp {
    match &h.txn {
        Some(t) => t.read_ts,
        None => h.timestamp,
    }
}

/// The latest value of `key` as the batch so far leaves it, read as the transaction `meta`
/// when there is one: what ConditionalPut compares and Increment adds to.
fn latest_value(
    snap: &dyn Reader,
    batch: &WriteBatch,
    key: &Key,
    meta: Option<&TxnMeta>,
) -> Result<Option<Vec<u8>>, EvalError> {
    let reader = mvcc::BatchReader::new(snap, batch);
    let current = mvcc::mvcc_get(&reader, key, Timestamp::MAX, meta).map_err(KvError::from)?;
    Ok(current.map(|v| v.bytes))
}

fn decode_i64(b: &[u8]) -> Result<i64, EvalError> {
    let arr: [u8; 8] = b
        .try_into()
        .map_err(|_| EvalError::Kv(KvError::Internal("increment of a non-integer value".into())))?;
    Ok(i64::from_be_bytes(arr))
}

/// Turns an evaluated batch into the raw writes a command carries.
pub fn raw_writes(batch: WriteBatch) -> Vec<RawWrite> {
    batch
        .ops
        .into_iter()
        .filter_map(|op| match op {
            WriteOp::Put(Cf::Data, k, v) => Some(RawWrite::Put(k, v)),
            WriteOp::Delete(Cf::Data, k) => Some(RawWrite::Delete(k)),
            _ => None,
        })
        .collect()
}

enum EvalError {
    Pushed(Timestamp),
    Kv(KvError),
}

impl From<KvError> for EvalError {
    fn from(e: KvError) -> EvalError {
        EvalError::Kv(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_spans_exclude_local_region_from_range_one() {
        let desc = RangeDescriptor {
            range_id: RangeId(1),
            start_key: Key::MIN,
            end_key: Key(keys::TABLE_DATA_MIN.to_vec()),
            replicas: vec![],
            generation: 0,
        };
        let spans = replica_data_spans(&desc);
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[0], Span::new(vec![], vec![LOCAL_PREFIX]));
        assert_eq!(
            spans[1],
            Span::new(vec![META_PREFIX], keys::TABLE_DATA_MIN.to_vec())
        );
    }
}
