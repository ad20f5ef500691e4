//! The node's raft services: the groups it holds, the rpc handlers that deliver messages to
//! them, and the [`RaftTransport`] the groups send with.
//!
//! A message names its range ([`super::wire::RaftRequest`]). The handler finds the group in
//! [`RaftRouter`]'s table; for an append or a snapshot to a range the node has no group for (a
//! learner being added), it asks the [`GroupFactory`] to open one, so that the leader's next
//! messages (and, when the log is purged, a snapshot) fill it.
//!
//! The router also runs the node's one quiescence loop (started with the first group that has a
//! [`super::RaftConfig::quiesce_after`]): every quarter of that period it tends every group (an
//! idle leader quiesces, a quiescent replica whose leader changed wakes), and it handles the
//! `raft.quiesce` and `raft.wake` messages. See the module docs of `raft` ("Many groups").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use base::{NodeId, RangeId};
use futures::future::BoxFuture;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use parking_lot::{Mutex, RwLock};
use rpc::{Caller, Registry, RpcError};
use storage::Engine;

use super::snapshot::{self, StagedSnapshot};
use super::state_machine::SnapshotData;
use super::syncer::Syncer;
use super::wire::{self, QuiesceRequest, RaftRequest, RaftWireError, SnapshotChunk};
use super::{RaftGroup, Snapshot, SnapshotMeta, TypeConfig};

/// Opens a group for a range this node has no group for, when a raft message arrives for it.
pub trait GroupFactory: Send + Sync {
    /// Opens an uninitialized group of `range_id` (its leader will fill it), or `None` to refuse
    /// the message (e.g. the replica was removed and must not come back).
    fn create(&self, range_id: RangeId) -> BoxFuture<'static, Option<RaftGroup>>;
}

/// What a group needs of its node to talk to its peers: the node's id, its rpc client, and the
/// fsync coalescer of its engine. Cheap to clone.
#[derive(Clone)]
pub struct RaftTransport {
    inner: Arc<TransportInner>,
}

struct TransportInner {
    node_id: NodeId,
    rpc: rpc::Rpc,
    /// One sync task per engine the node's groups use.
    syncers: Mutex<Vec<(Weak<dyn Engine>, Syncer)>>,
}

impl RaftTransport {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    pub(crate) fn rpc(&self) -> &rpc::Rpc {
        &self.inner.rpc
    }

    /// The sync task of `engine`, started on first use.
    pub(crate) fn syncer(&self, engine: &Arc<dyn Engine>) -> Syncer {
        let mut syncers = self.inner.syncers.lock();
        syncers.retain(|(e, _)| e.strong_count() > 0);
        let addr = Arc::as_ptr(engine).cast::<()>();
        if let Some((_, s)) = syncers
            .iter()
            .find(|(e, _)| e.as_ptr().cast::<()>() == addr)
        {
            return s.clone();
        }
        let syncer = Syncer::spawn(engine);
        syncers.push((Arc::downgrade(engine), syncer.clone()));
        syncer
    }
}

/// Routes raft messages between nodes over `rpc`, and holds this node's groups. Cheap to clone.
#[derive(Clone)]
pub struct RaftRouter {
    inner: Arc<RouterInner>,
}

struct RouterInner {
    transport: RaftTransport,
    groups: RwLock<HashMap<RangeId, RaftGroup>>,
    factory: RwLock<Option<Arc<dyn GroupFactory>>>,
    /// Serialises group creation by the factory, so one range gets one group.
    creating: tokio::sync::Mutex<()>,
    /// Snapshots being received, by range.
    snapshots: Mutex<HashMap<RangeId, PendingSnapshot>>,
    /// Whether the quiescence loop runs.
    tending: AtomicBool,
    /// The loop's period in milliseconds: a quarter of the shortest `quiesce_after` of the groups
    /// added so far.
    tend_every_ms: AtomicU64,
    /// When this router (the node's process) started: see [`VOTE_QUARANTINE`].
    started: std::time::Instant,
}

/// Bounds of the quiescence loop's period.
const MIN_TEND_PERIOD: Duration = Duration::from_millis(10);
const MAX_TEND_PERIOD: Duration = Duration::from_secs(1);

/// A snapshot being received: its chunks so far are in a staged file.
struct PendingSnapshot {
    from: NodeId,
    id: u64,
    /// Bytes written so far: the next chunk's offset.
    written: u64,
    file: std::fs::File,
    staged: StagedSnapshot,
}

/// Where a received chunk left its snapshot.
enum Received {
    /// More chunks to come.
    More(PendingSnapshot),
    /// The last chunk came and the stream checks out.
    Whole(SnapshotMeta, StagedSnapshot),
}

impl RaftRouter {
    /// A router for node `node_id`, sending with `rpc` (whose resolver maps node ids to
    /// addresses).
    pub fn new(node_id: NodeId, rpc: rpc::Rpc) -> RaftRouter {
        let transport = RaftTransport {
            inner: Arc::new(TransportInner {
                node_id,
                rpc,
                syncers: Mutex::new(Vec::new()),
            }),
        };
        RaftRouter {
            inner: Arc::new(RouterInner {
                transport,
                groups: RwLock::new(HashMap::new()),
                factory: RwLock::new(None),
                started: std::time::Instant::now(),
                creating: tokio::sync::Mutex::new(()),
                snapshots: Mutex::new(HashMap::new()),
                tending: AtomicBool::new(false),
                tend_every_ms: AtomicU64::new(u64::MAX),
            }),
        }
    }

    /// Registers the raft methods (`raft.append`, `raft.vote`, `raft.pre_vote`,
    /// `raft.snapshot`, `raft.transfer_leader`, `raft.quiesce`, `raft.wake`) on the node's rpc
    /// registry. The handlers hold
    /// the router weakly: once it is dropped they answer `Stopped`.
    pub fn register_handlers(&self, registry: &Registry) {
        let weak = Arc::downgrade(&self.inner);
        register(registry, wire::APPEND, &weak, |r, caller, req| {
            Box::pin(r.on_append(caller, req))
        });
        register(registry, wire::VOTE, &weak, |r, caller, req| {
            Box::pin(r.on_vote(caller, req, false))
        });
        register(registry, wire::PRE_VOTE, &weak, |r, caller, req| {
            Box::pin(r.on_vote(caller, req, true))
        });
        register(registry, wire::SNAPSHOT, &weak, |r, caller, req| {
            Box::pin(r.on_snapshot(caller, req))
        });
        register(registry, wire::TRANSFER_LEADER, &weak, |r, caller, req| {
            Box::pin(r.on_transfer_leader(caller, req))
        });
        register(registry, wire::QUIESCE, &weak, |r, caller, req| {
            Box::pin(r.on_quiesce(caller, req))
        });
        register(registry, wire::WAKE, &weak, |r, caller, req| {
            Box::pin(r.on_wake(caller, req))
        });
    }

    /// Sets the factory asked for groups of unknown ranges; without one such messages are
    /// refused with [`RaftWireError::RangeNotFound`].
    pub fn set_factory(&self, f: Arc<dyn GroupFactory>) {
        *self.inner.factory.write() = Some(f);
    }

    /// Adds (or replaces) a group. The first group with a
    /// [`super::RaftConfig::quiesce_after`] starts the node's quiescence loop (on the current
    /// tokio runtime).
    pub fn insert(&self, g: RaftGroup) {
        self.inner.tend(&g);
        self.inner.groups.write().insert(g.range_id(), g);
    }

    /// The group of a range.
    pub fn get(&self, r: RangeId) -> Option<RaftGroup> {
        self.inner.groups.read().get(&r).cloned()
    }

    /// Removes a group from the table (it keeps running until shut down).
    pub fn remove(&self, r: RangeId) -> Option<RaftGroup> {
        self.inner.snapshots.lock().remove(&r);
        self.inner.groups.write().remove(&r)
    }

    /// Every group, in no particular order.
    pub fn groups(&self) -> Vec<RaftGroup> {
        self.inner.groups.read().values().cloned().collect()
    }

    /// What [`RaftGroup::open`] takes.
    pub fn transport(&self) -> RaftTransport {
        self.inner.transport.clone()
    }

    /// Wakes every quiescent follower (and learner) on this node whose leader is `node`, so that
    /// the voters among them elect a new leader: call it when the node's liveness says `node` is
    /// not live. A quiescent follower has no election timer running, so without this (or a
    /// request reaching the replica, see [`RaftGroup::wake`]) a group whose quiesced leader died
    /// would stay leaderless. Returns how many replicas it woke. Cheap when there are none;
    /// calling it again for a node still down does nothing more.
    pub fn wake_groups_led_by(&self, node: NodeId) -> usize {
        if node == self.inner.transport.node_id() {
            return 0;
        }
        let mut woken = 0;
        for g in self.groups() {
            if g.is_quiescent()
                && !g.is_leader()
                && (g.quiesced_leader() == Some(node) || g.leader() == Some(node))
            {
                g.wake_for_election();
                woken += 1;
            }
        }
        if woken > 0 {
            tracing::info!(%node, woken, "woke quiescent groups led by a node that is not live");
        }
        woken
    }

    /// How many of this node's groups are quiescent here.
    pub fn quiescent_count(&self) -> usize {
        let groups = self.inner.groups.read();
        groups.values().filter(|g| g.is_quiescent()).count()
    }
}

/// The quiescence loop: tends every group each period, spawning the quiesce rounds of idle
/// leaders. Ends when the router is dropped.
async fn tend_loop(router: Weak<RouterInner>) {
    loop {
        let period = match router.upgrade() {
            Some(r) => Duration::from_millis(r.tend_every_ms.load(Ordering::Acquire)),
            None => return,
        };
        tokio::time::sleep(period).await;
        let Some(r) = router.upgrade() else {
            return;
        };
        let groups: Vec<RaftGroup> = r.groups.read().values().cloned().collect();
        drop(r);
        let now = Instant::now();
        for g in groups {
            if g.tend(now) {
                tokio::spawn(async move { g.quiesce().await });
            }
        }
    }
}

type Handler<Req, Resp> =
    fn(Arc<RouterInner>, Caller, RaftRequest<Req>) -> BoxFuture<'static, Result<Resp, RpcError>>;

fn register<Req, Resp>(
    registry: &Registry,
    method: &'static str,
    router: &Weak<RouterInner>,
    handler: Handler<Req, Resp>,
) where
    Req: serde::de::DeserializeOwned + Send + 'static,
    Resp: serde::Serialize + Send + 'static,
{
    let router = router.clone();
    registry.unary(method, move |caller, req: RaftRequest<Req>| {
        let router = router.upgrade();
        async move {
            match router {
                Some(router) => handler(router, caller, req).await,
                None => Err(RaftWireError::Stopped("node's raft router is gone".into()).into()),
            }
        }
    });
}

fn stopped(e: impl std::fmt::Display) -> RpcError {
    RaftWireError::Stopped(e.to_string()).into()
}

impl RouterInner {
    fn get(&self, range: RangeId) -> Option<RaftGroup> {
        self.groups.read().get(&range).cloned()
    }

    /// Starts the quiescence loop for `g` if it quiesces and the loop is not running yet.
    fn tend(self: &Arc<Self>, g: &RaftGroup) {
        let Some(after) = g.quiesce_after() else {
            return;
        };
        let period = (after / 4).clamp(MIN_TEND_PERIOD, MAX_TEND_PERIOD);
        let ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
        self.tend_every_ms.fetch_min(ms, Ordering::AcqRel);
        if self.tending.swap(true, Ordering::AcqRel) {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(tend_loop(Arc::downgrade(self)));
            }
            Err(e) => {
                self.tending.store(false, Ordering::Release);
                tracing::warn!(error = %e, "no tokio runtime: raft groups will not quiesce");
            }
        }
    }

    /// The group a message is for; `create` asks the factory when there is none.
    async fn target<T>(
        self: &Arc<Self>,
        req: &RaftRequest<T>,
        create: bool,
    ) -> Result<RaftGroup, RpcError> {
        let me = self.transport.node_id();
        if req.to != me.0 {
            return Err(RaftWireError::WrongNode {
                expected: req.to,
                actual: me.0,
            }
            .into());
        }
        if let Some(g) = self.get(req.range) {
            return Ok(g);
        }
        let factory = self.factory.read().clone();
        let (true, Some(factory)) = (create, factory) else {
            return Err(RaftWireError::RangeNotFound(req.range).into());
        };
        let _creating = self.creating.lock().await;
        if let Some(g) = self.get(req.range) {
            return Ok(g);
        }
        let Some(g) = factory.create(req.range).await else {
            return Err(RaftWireError::RangeNotFound(req.range).into());
        };
        tracing::info!(range = %req.range, node = %me, "opened a raft group for an incoming message");
        self.tend(&g);
        Ok(self.groups.write().entry(req.range).or_insert(g).clone())
    }

    /// Hands an append (or heartbeat) to its group, then wakes the group if it is quiescent
    /// and the message is not a stale one of the leader it quiesced under.
    async fn on_append(
        self: Arc<Self>,
        caller: Caller,
        req: RaftRequest<AppendEntriesRequest<TypeConfig>>,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcError> {
        let g = self.target(&req, true).await?;
        let resp = g.raft().append_entries(req.body).await.map_err(stopped);
        g.heard_from(caller.node_id, req.epoch);
        resp
    }

    async fn on_vote(
        self: Arc<Self>,
        _caller: Caller,
        req: RaftRequest<VoteRequest<TypeConfig>>,
        pre_vote: bool,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        let g = self.target(&req, false).await?;
        // A follower promises a leader whose heartbeat it acknowledged to vote for no one else
        // for the leader lease (openraft's `leader_lease`, the maximum election timeout), and
        // the leader serves reads on that promise ([`RaftGroup::lease_expiration`]). The promise
        // lives in memory: a node killed and restarted at once would forget it and could help
        // elect a second leader while the first still serves. So a node grants no vote for a
        // lease after its process started.
        let quarantine = g.vote_quarantine();
        if self.started.elapsed() < quarantine {
            return Err(RaftWireError::Stopped(format!(
                "{}: no votes within {quarantine:?} of a restart",
                req.range
            ))
            .into());
        }
        // Someone campaigns: a quiescent leader makes itself heard, so that its followers
        // learn it is alive (a quiesced leader's quorum lease has expired).
        g.wake_leader().await;
        let res = if pre_vote {
            g.raft().pre_vote(req.body).await
        } else {
            g.raft().vote(req.body).await
        };
        res.map_err(stopped)
    }

    async fn on_transfer_leader(
        self: Arc<Self>,
        _caller: Caller,
        req: RaftRequest<TransferLeaderRequest<TypeConfig>>,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RpcError> {
        let g = self.target(&req, false).await?;
        // This replica is about to campaign and lead: it needs its ticker.
        g.wake_for_election();
        g.raft()
            .handle_transfer_leader(req.body)
            .await
            .map_err(stopped)
    }

    /// Appends a snapshot's chunks to a staged file (see `snapshot.rs`); on the last, syncs the
    /// file, checks the stream whole, installs it and answers with the vote. Nothing of the
    /// snapshot is held in memory beyond the chunk at hand.
    async fn on_snapshot(
        self: Arc<Self>,
        caller: Caller,
        req: RaftRequest<SnapshotChunk>,
    ) -> Result<Option<SnapshotResponse<TypeConfig>>, RpcError> {
        let g = self.target(&req, true).await?;
        let (range, epoch) = (req.range, req.epoch);
        let chunk = req.body;
        let refuse = |m: String| RpcError::from(RaftWireError::Snapshot(format!("{range}: {m}")));
        let pending = {
            let mut pending = self.snapshots.lock();
            // A transfer's first chunk replaces any other transfer of the range.
            let current = pending.remove(&range);
            if chunk.offset == 0 {
                None
            } else {
                match current {
                    Some(p)
                        if p.from == caller.node_id
                            && p.id == chunk.id
                            && p.written == chunk.offset =>
                    {
                        Some(p)
                    }
                    Some(_) => return Err(refuse("chunk out of order".into())),
                    None => return Err(refuse("chunk without a start".into())),
                }
            }
        };
        let (from, id, vote, done) = (caller.node_id, chunk.id, chunk.vote, chunk.done);
        let group = g.clone();
        let data = chunk.data;
        let received = tokio::task::spawn_blocking(move || -> Result<Received, String> {
            use std::io::Write;
            let staging = group.staging();
            let mut p = match pending {
                Some(p) => p,
                None => {
                    let (staged, file) = staging
                        .create(range)
                        .map_err(|e| format!("staging a snapshot: {e}"))?;
                    PendingSnapshot {
                        from,
                        id,
                        written: 0,
                        file,
                        staged,
                    }
                }
            };
            p.file
                .write_all(&data)
                .map_err(|e| format!("staging a snapshot: {e}"))?;
            p.written += data.len() as u64;
            if !done {
                return Ok(Received::More(p));
            }
            staging
                .sync(&mut p.file)
                .map_err(|e| format!("staging a snapshot: {e}"))?;
            let meta = group.check_staged(p.staged.path())?;
            Ok(Received::Whole(meta, p.staged))
        })
        .await
        .map_err(|e| refuse(e.to_string()))?
        .map_err(refuse)?;
        let (meta, staged) = match received {
            Received::More(p) => {
                let mut pending = self.snapshots.lock();
                if pending.contains_key(&range) {
                    return Err(refuse("superseded by another transfer".into()));
                }
                pending.insert(range, p);
                return Ok(None);
            }
            Received::Whole(meta, staged) => (meta, staged),
        };
        if !snapshot::vote_covers(&vote, &meta) {
            return Err(refuse(format!(
                "a snapshot at {:?} cannot come from a leader with vote {vote}",
                meta.last_log_id
            )));
        }
        let snapshot = Snapshot {
            meta,
            snapshot: SnapshotData::Received(staged),
        };
        let resp = g
            .raft()
            .install_full_snapshot(vote, snapshot)
            .await
            .map_err(stopped)?;
        g.heard_from(caller.node_id, epoch);
        Ok(Some(resp))
    }

    /// A leader asks this replica to quiesce: see [`RaftGroup::on_quiesce`].
    async fn on_quiesce(
        self: Arc<Self>,
        caller: Caller,
        req: RaftRequest<QuiesceRequest>,
    ) -> Result<bool, RpcError> {
        let g = self.target(&req, false).await?;
        Ok(g.on_quiesce(caller.node_id, req.epoch, req.body))
    }

    /// A quiescent follower asks this replica, its leader, to wake: true when it leads and is
    /// awake (its heartbeat then wakes the follower).
    async fn on_wake(
        self: Arc<Self>,
        _caller: Caller,
        req: RaftRequest<()>,
    ) -> Result<bool, RpcError> {
        let g = self.target(&req, false).await?;
        if !g.is_leader() {
            return Ok(false);
        }
        g.wake_leader().await;
        Ok(g.is_leader())
    }
}
