//! The store: every replica on this node, the [`Applier`] that applies their commands, and the
//! node-to-node handlers that reach them.
//!
//! Replica lifecycle:
//! - **Bootstrap** ([`Store::create_range`]): a new cluster's first ranges, or the right half of
//!   a split, are created with a descriptor and an initial voter set.
//! - **Snapshot** ([`Store`]'s `GroupFactory`): when a leader adds this node as a learner, the
//!   first Raft message for an unknown range creates an empty replica; the snapshot it then
//!   receives carries the data and the descriptor.
//! - **Restart** ([`Store::open`]): descriptors persisted in the `State` keyspace are reopened.
//!
//! Descriptors persist at `desc/<range id>` in the `State` keyspace, written atomically with the
//! command (split, descriptor update) or snapshot that changed them.
//!
//! Quiescence: idle ranges quiesce by themselves (see `raft`, "Many groups"). A request that
//! reaches a quiescent replica and cannot be served there (a follower asked for the lease, a
//! follower read above the closed timestamp), and any rangefeed registration, wake the range:
//! a follower asks its leader to wake, and campaigns if the leader cannot be reached. Follower
//! reads a quiescent replica can serve do not wake it, and closed timestamps keep flowing to
//! quiescent ranges by the side transport ([`Store::tick_closed_timestamps`]), which writes
//! nothing to Raft. The node calls [`Store::wake_groups_led_by`] when liveness says a node is
//! down.

use crate::api::{BatchRequest, BatchResponse, KvError};
use crate::command::{CommandResult, RaftCommand, RawWrite, Trigger};
use crate::raft::{
    Applier, GroupFactory, InstallPlan, RaftConfig, RaftGroup, RaftRouter, RawSpan, SnapshotContent,
};
use crate::rangefeed::RangefeedEvent;
use crate::replica::{Replica, ReplicaConfig, replica_data_spans};
use base::{Clock, Key, NodeId, RangeDescriptor, RangeId, ReplicaDescriptor, Span, Timestamp};
use futures::future::BoxFuture;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use storage::mvcc;
use storage::{Cf, Durability, Engine, Reader, WriteBatch};
use tokio::sync::mpsc;

const DESC_PREFIX: &[u8] = b"desc/";

fn desc_key(range_id: RangeId) -> Vec<u8> {
    let mut k = DESC_PREFIX.to_vec();
    k.extend_from_slice(&range_id.0.to_be_bytes());
    k
}

/// Tunables of a store.
#[derive(Clone, Debug, Default)]
pub struct StoreConfig {
    /// Raft timing.
    pub raft: RaftConfig,
    /// Replica behaviour.
    pub replica: ReplicaConfig,
}

/// Work the store hands to the node after a command applied (it needs the cluster to do it).
#[derive(Debug)]
pub enum StoreEvent {
    /// A split applied here: the right-hand range must be opened.
    SplitApplied {
        /// The new range.
        right: RangeDescriptor,
        /// Whether this node led the split range when the split applied: the leader starts
        /// the new range's group (and wins its first election alone); the other voters open it
        /// and wait to hear from it.
        led: bool,
    },
}

/// The applier's header of a range's snapshot (its records follow it in the stream, see
/// `raft::snapshot`).
#[derive(Serialize, Deserialize)]
struct SnapshotHeader {
    desc: RangeDescriptor,
    closed: Timestamp,
}

/// The raw `Cf::Data` spans of a replica's data: [`replica_data_spans`] as engine bounds.
fn raw_spans(desc: &RangeDescriptor) -> Vec<RawSpan> {
    replica_data_spans(desc)
        .iter()
        .map(mvcc::raw_span_bounds)
        .collect()
}

/// The raw key spans no span of `covered` touches, in order (an empty end is unbounded, in
/// `covered` as in the result).
fn gaps(mut covered: Vec<RawSpan>) -> Vec<RawSpan> {
    covered.sort();
    let mut out = Vec::new();
    let mut cursor: Vec<u8> = Vec::new();
    for (start, end) in covered {
        if start > cursor {
            out.push((cursor.clone(), start));
        }
        if end.is_empty() {
            return out;
        }
        if end > cursor {
            cursor = end;
        }
    }
    out.push((cursor, Vec::new()));
    out
}

/// Records deleted per [`Store::sweep_leftovers`] call by [`Store::sweep_round`].
const SWEEP_BUDGET: usize = 10_000;

/// What one [`Store::sweep_leftovers`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sweep {
    /// Deleted this many records no replica covers (at most the budget: call again for more).
    Deleted(usize),
    /// Did nothing: some data on this node belongs to a range whose span is not known (see
    /// [`Store::sweep_leftovers`]).
    Deferred,
}

/// What the sweep of leftover data must know of the ranges whose data is being written
/// outside the descriptors the store holds. Held by the sweep for a whole pass, and by every
/// change that starts such writes while it starts them.
#[derive(Default)]
struct Coverage {
    /// Ranges with a snapshot install running (between `begin_install` and its guard's drop).
    installing: HashSet<RangeId>,
}

/// Every replica on this node.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    node_id: NodeId,
    engine: Arc<dyn Engine>,
    clock: Arc<dyn Clock>,
    router: RaftRouter,
    rpc: rpc::Rpc,
    replicas: RwLock<HashMap<RangeId, Arc<Replica>>>,
    /// Ranges whose replica is being removed: no group may open on their keys until the old
    /// group has stopped and its log, state and data are deleted. (Lock order: `replicas`
    /// first.)
    removing: parking_lot::Mutex<HashSet<RangeId>>,
    /// See [`Coverage`]. Lock order: `coverage` before `replicas` and a replica's locks.
    coverage: parking_lot::Mutex<Coverage>,
    cfg: StoreConfig,
    events: mpsc::UnboundedSender<StoreEvent>,
    read_metrics: crate::metrics::ReadMetrics,
}

impl Store {
    /// Opens the store: reopens every replica whose descriptor is persisted, and registers the
    /// Raft and KV handlers. Returns the store and the stream of events for the node.
    pub async fn open(
        node_id: NodeId,
        engine: Arc<dyn Engine>,
        clock: Arc<dyn Clock>,
        rpc: rpc::Rpc,
        registry: &rpc::Registry,
        cfg: StoreConfig,
    ) -> Result<(Store, mpsc::UnboundedReceiver<StoreEvent>), KvError> {
        // Snapshots being received when the node stopped are dropped (their senders retry);
        // the staged files of installs a crash interrupted are kept for those installs.
        match crate::raft::snapshot::clean_staging(engine.as_ref()) {
            Ok(0) => {}
            Ok(n) => tracing::info!("deleted {n} staged snapshot files of unfinished transfers"),
            Err(e) => tracing::warn!("cleaning the snapshot staging directory: {e}"),
        }
        let router = RaftRouter::new(node_id, rpc.clone());
        let (tx, rx) = mpsc::unbounded_channel();
        let store = Store {
            inner: Arc::new(StoreInner {
                node_id,
                engine,
                clock,
                router: router.clone(),
                rpc,
                replicas: RwLock::new(HashMap::new()),
                removing: Default::default(),
                coverage: Default::default(),
                cfg,
                events: tx,
                read_metrics: Default::default(),
            }),
        };
        router.set_factory(Arc::new(Factory(Arc::downgrade(&store.inner))));
        router.register_handlers(registry);
        store.register_handlers(registry);
        let descs = store.persisted_descriptors()?;
        // A range whose snapshot install a crash interrupted is opened even without a
        // descriptor (its first snapshot): opening its group finishes the install.
        let interrupted = crate::raft::snapshot::interrupted_installs(store.inner.engine.as_ref())
            .map_err(|e| KvError::Storage(e.to_string()))?;
        let unknown: Vec<RangeId> = interrupted
            .into_iter()
            .filter(|r| !descs.iter().any(|d| d.range_id == *r))
            .collect();
        for desc in descs {
            store.open_replica(desc.range_id, Some(desc)).await?;
        }
        for range_id in unknown {
            store.open_replica(range_id, None).await?;
        }
        Ok((store, rx))
    }

    /// The RPC client.
    pub fn rpc_client(&self) -> rpc::Rpc {
        self.inner.rpc.clone()
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.inner.engine
    }

    fn persisted_descriptors(&self) -> Result<Vec<RangeDescriptor>, KvError> {
        let mut end = DESC_PREFIX.to_vec();
        end.push(0xff);
        let mut out = Vec::new();
        for kv in self.inner.engine.scan(Cf::State, DESC_PREFIX, &end, false) {
            let (_, v) = kv.map_err(|e| KvError::Storage(e.to_string()))?;
            let desc: RangeDescriptor = postcard::from_bytes(&v)
                .map_err(|e| KvError::Storage(format!("corrupt descriptor: {e}")))?;
            out.push(desc);
        }
        Ok(out)
    }

    fn persisted_descriptor(&self, range_id: RangeId) -> Result<Option<RangeDescriptor>, KvError> {
        match self
            .inner
            .engine
            .get(Cf::State, &desc_key(range_id))
            .map_err(|e| KvError::Storage(e.to_string()))?
        {
            Some(v) => postcard::from_bytes(&v)
                .map(Some)
                .map_err(|e| KvError::Storage(format!("corrupt descriptor: {e}"))),
            None => Ok(None),
        }
    }

    async fn open_replica(
        &self,
        range_id: RangeId,
        desc: Option<RangeDescriptor>,
    ) -> Result<Arc<Replica>, KvError> {
        if let Some(r) = self.replica(range_id) {
            if let Some(d) = desc
                && r.descriptor().is_none()
            {
                r.set_descriptor(d);
            }
            return Ok(r);
        }
        if self.inner.removing.lock().contains(&range_id) {
            // A Raft message of the range came while its old replica is being deleted here: a
            // group opened now would read (and then lose) the old group's log.
            return Err(KvError::Internal(format!(
                "{range_id} is being removed from this node"
            )));
        }
        let applier: Arc<dyn Applier> = Arc::new(StoreApplier(Arc::downgrade(&self.inner)));
        let group = RaftGroup::open(
            range_id,
            self.inner.node_id,
            self.inner.engine.clone(),
            self.inner.router.transport(),
            applier,
            &self.inner.cfg.raft,
        )
        .await
        .map_err(|e| KvError::Internal(format!("opening raft group for {range_id}: {e}")))?;
        // Finishing an interrupted snapshot install changed the range's descriptor.
        let desc = match group.recovered_install() {
            true => self.persisted_descriptor(range_id)?.or(desc),
            false => desc,
        };
        let replica = Arc::new(Replica::new(
            self.inner.node_id,
            self.inner.engine.clone(),
            self.inner.clock.clone(),
            group.clone(),
            desc,
            self.inner.cfg.replica.clone(),
        ));
        // Under `coverage`: a replica with no descriptor yet writes where the sweep of leftover
        // data cannot tell, so none may appear during a sweep pass.
        let coverage = self.inner.coverage.lock();
        let mut map = self.inner.replicas.write();
        if let Some(existing) = map.get(&range_id) {
            return Ok(existing.clone());
        }
        map.insert(range_id, replica.clone());
        drop(map);
        drop(coverage);
        self.inner.router.insert(group);
        Ok(replica)
    }

    /// Creates a range on this node with `desc` and starts its Raft group with `desc`'s voters
    /// (every voter calls this with the same descriptor; openraft accepts identical initial
    /// memberships on several nodes).
    pub async fn create_range(&self, desc: RangeDescriptor) -> Result<Arc<Replica>, KvError> {
        let replica = self.open_range(desc.clone()).await?;
        let voters: Vec<NodeId> = desc.voters().collect();
        if voters.contains(&self.inner.node_id) {
            replica
                .group()
                .initialize(&voters)
                .await
                .map_err(|e| KvError::Internal(format!("initializing {}: {e}", desc.range_id)))?;
        }
        Ok(replica)
    }

    /// The replica of `range_id`, if this node has one.
    pub fn replica(&self, range_id: RangeId) -> Option<Arc<Replica>> {
        self.inner.replicas.read().get(&range_id).cloned()
    }

    /// Bytes of read responses served by this store, per gateway node.
    pub fn read_metrics(&self) -> &crate::metrics::ReadMetrics {
        &self.inner.read_metrics
    }

    /// Every replica.
    pub fn replicas(&self) -> Vec<Arc<Replica>> {
        let mut v: Vec<_> = self.inner.replicas.read().values().cloned().collect();
        v.sort_by_key(|r| r.range_id());
        v
    }

    /// The initialised replica whose range contains `key`.
    pub fn replica_for_key(&self, key: &Key) -> Option<Arc<Replica>> {
        let key = base::keys::addr(key);
        self.inner
            .replicas
            .read()
            .values()
            .find(|r| r.descriptor().is_some_and(|d| d.contains_key(&key)))
            .cloned()
    }

    /// Serves a batch addressed to one of this node's replicas.
    pub async fn send(&self, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        let range_id = ba.header.range_id;
        let replica = self
            .replica(range_id)
            .ok_or(KvError::RangeNotFound { range_id })?;
        let read = crate::metrics::ReadSource::of(&ba);
        let result = replica.send(ba).await;
        if let (Some(read), Ok(resp)) = (&read, &result) {
            self.inner.read_metrics.record(read, resp);
        }
        // A quiescent replica that could not serve the request (a follower asked for the lease,
        // or for a read its closed timestamp does not cover) wakes its range: if the leader is
        // gone, someone must notice.
        if let Err(e) = &result
            && !matches!(e, KvError::RangeKeyMismatch { .. })
        {
            wake_in_background(&replica);
        }
        result
    }

    /// Splits `range_id` at `key`, creating `new_range_id` on the right. Runs on the leaseholder;
    /// the caller updates the meta records afterwards.
    pub async fn split(
        &self,
        range_id: RangeId,
        key: &Key,
        new_range_id: RangeId,
    ) -> Result<(RangeDescriptor, RangeDescriptor), KvError> {
        let replica = self
            .replica(range_id)
            .ok_or(KvError::RangeNotFound { range_id })?;
        let trigger = replica
            .propose_trigger(|desc| {
                if !(desc.start_key < *key && *key < desc.end_key) {
                    return Err(KvError::RangeKeyMismatch {
                        range_id,
                        descriptor: Some(desc),
                    });
                }
                let mut left = desc.clone();
                left.end_key = key.clone();
                left.generation += 1;
                let right = RangeDescriptor {
                    range_id: new_range_id,
                    start_key: key.clone(),
                    end_key: desc.end_key.clone(),
                    replicas: desc.replicas.clone(),
                    generation: desc.generation + 1,
                };
                Ok(Trigger::Split { left, right })
            })
            .await?;
        match trigger {
            Trigger::Split { left, right } => Ok((left, right)),
            _ => Err(KvError::Internal("a split proposed another trigger".into())),
        }
    }

    /// Records a range's replicas in its descriptor (after a replica change): the descriptor
    /// as it is when the change is proposed, with these replicas and the next generation.
    /// Returns the new descriptor.
    pub async fn update_replicas(
        &self,
        range_id: RangeId,
        replicas: Vec<ReplicaDescriptor>,
    ) -> Result<RangeDescriptor, KvError> {
        let replica = self
            .replica(range_id)
            .ok_or(KvError::RangeNotFound { range_id })?;
        let trigger = replica
            .propose_trigger(|mut desc| {
                desc.replicas = replicas;
                desc.generation += 1;
                Ok(Trigger::UpdateDescriptor(desc))
            })
            .await?;
        match trigger {
            Trigger::UpdateDescriptor(desc) => Ok(desc),
            _ => Err(KvError::Internal(
                "a replica change proposed another trigger".into(),
            )),
        }
    }

    /// Opens this node's replica of an existing range with `desc` without initializing its
    /// group: its leader brings it up to date.
    pub async fn open_range(&self, desc: RangeDescriptor) -> Result<Arc<Replica>, KvError> {
        let mut batch = WriteBatch::new();
        batch.put(Cf::State, desc_key(desc.range_id), encode(&desc)?);
        self.inner
            .engine
            .write(batch, Durability::Sync)
            .map_err(|e| KvError::Storage(e.to_string()))?;
        let range_id = desc.range_id;
        let replica = self.open_replica(range_id, Some(desc.clone())).await?;
        if replica
            .descriptor()
            .is_some_and(|d| d.generation < desc.generation)
        {
            replica.set_descriptor(desc);
        }
        Ok(replica)
    }

    /// Deletes the descriptor a split wrote for its right-hand range `range_id` when this node
    /// has no replica of it: the split was replayed by a replica catching up from the log, and
    /// the right-hand range has moved on without this node.
    pub fn forget_split_right(&self, range_id: RangeId) -> Result<(), KvError> {
        if self.replica(range_id).is_some() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        batch.delete(Cf::State, desc_key(range_id));
        self.inner
            .engine
            .write(batch, Durability::Sync)
            .map_err(|e| KvError::Storage(e.to_string()))
    }

    /// Removes the replica of `range_id` from this node: its group and its data.
    pub async fn remove_replica(&self, range_id: RangeId) -> Result<(), KvError> {
        let replica = {
            let mut map = self.inner.replicas.write();
            let Some(replica) = map.remove(&range_id) else {
                return Ok(());
            };
            self.inner.removing.lock().insert(range_id);
            replica
        };
        let _removing = Removing {
            inner: &self.inner,
            range_id,
        };
        self.inner.router.remove(range_id);
        replica.rangefeeds.disconnect_all("replica removed");
        let desc = replica.descriptor();
        replica.group().clone().destroy().await;
        if let Some(desc) = desc {
            let snap = self.inner.engine.snapshot();
            let mut batch = WriteBatch::new();
            for span in replica_data_spans(&desc) {
                mvcc::mvcc_clear_span(snap.as_ref(), &mut batch, &span)
                    .map_err(|e| KvError::Storage(e.to_string()))?;
            }
            batch.delete(Cf::State, desc_key(range_id));
            self.inner
                .engine
                .write(batch, Durability::Sync)
                .map_err(|e| KvError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Deletes up to `budget` records of `Cf::Data` that no range this node holds covers: what
    /// an old split replayed here left of a right-hand range this node no longer holds (see
    /// [`Store::forget_split_right`]), and anything else no replica owns. Returns what it did.
    ///
    /// The rule: a record is leftover when no descriptor covers it, neither one persisted here
    /// (`desc/<range>` in `Cf::State`, written atomically with a split, a descriptor change or
    /// an installed snapshot, and by [`Store::open_range`] before its replica opens) nor one a
    /// replica holds in memory. Data is written outside those only by a replica that does not
    /// know its span yet, so the sweep does nothing (defers) while
    /// - a snapshot install runs (between `Applier::begin_install` and the end of its guard),
    ///   or an install a crash interrupted is not finished (its marker is in `Cf::State`);
    /// - a replica has no descriptor (it was opened for a range's first Raft message, and
    ///   learns its span from a snapshot or a descriptor change in the log);
    /// - a range has Raft state here (an applied state) but no descriptor.
    ///
    /// A pass holds the store's `coverage` lock from these checks to its delete, and every
    /// change that would break them (an install starting, a replica being added) takes that
    /// lock, so none starts in between. Cheap with nothing to do: one scan of `Cf::State` (a
    /// few records per range) and one seek per gap between the ranges.
    pub fn sweep_leftovers(&self, budget: usize) -> Result<Sweep, KvError> {
        let storage = |e: storage::StorageError| KvError::Storage(e.to_string());
        let coverage = self.inner.coverage.lock();
        if !coverage.installing.is_empty() {
            return Ok(Sweep::Deferred);
        }
        let mut covered: Vec<RawSpan> = Vec::new();
        let mut known: HashSet<RangeId> = HashSet::new();
        for replica in self.inner.replicas.read().values() {
            let Some(desc) = replica.descriptor() else {
                return Ok(Sweep::Deferred);
            };
            known.insert(desc.range_id);
            covered.extend(raw_spans(&desc));
        }
        let engine = &self.inner.engine;
        let mut with_state = Vec::new();
        for kv in engine.scan(Cf::State, &[], &[], false) {
            let (k, v) = kv.map_err(storage)?;
            if k.starts_with(DESC_PREFIX) {
                let desc: RangeDescriptor = postcard::from_bytes(&v)
                    .map_err(|e| KvError::Storage(format!("corrupt descriptor: {e}")))?;
                known.insert(desc.range_id);
                covered.extend(raw_spans(&desc));
            } else if crate::raft::is_install_marker(&k) {
                return Ok(Sweep::Deferred);
            } else if let Some(range) = crate::raft::applied_state_range(&k) {
                with_state.push(range);
            }
        }
        if let Some(range) = with_state.iter().find(|r| !known.contains(r)) {
            tracing::debug!(%range, "sweep deferred: raft state without a descriptor");
            return Ok(Sweep::Deferred);
        }
        let mut batch = WriteBatch::new();
        let mut deleted = 0;
        'gaps: for (start, end) in gaps(covered) {
            for kv in engine.scan(Cf::Data, &start, &end, false) {
                if deleted >= budget {
                    break 'gaps;
                }
                batch.delete(Cf::Data, kv.map_err(storage)?.0);
                deleted += 1;
            }
        }
        if deleted > 0 {
            engine.write(batch, Durability::Buffered).map_err(storage)?;
        }
        drop(coverage);
        Ok(Sweep::Deleted(deleted))
    }

    /// One pass of the sweep of leftover data (see [`Store::sweep_leftovers`]), in bounded
    /// steps on a blocking thread. Returns how many records it deleted.
    pub async fn sweep_round(&self) -> usize {
        let mut total = 0;
        loop {
            let store = self.clone();
            match tokio::task::spawn_blocking(move || store.sweep_leftovers(SWEEP_BUDGET)).await {
                Ok(Ok(Sweep::Deleted(n))) => {
                    total += n;
                    if n < SWEEP_BUDGET {
                        break;
                    }
                }
                Ok(Ok(Sweep::Deferred)) => break,
                Ok(Err(e)) => {
                    tracing::warn!("sweeping leftover data: {e}");
                    break;
                }
                Err(e) => {
                    tracing::warn!("sweeping leftover data: {e}");
                    break;
                }
            }
        }
        if total > 0 {
            tracing::info!("deleted {total} leftover records no range on this node covers");
        }
        total
    }

    /// Runs one closed-timestamp round: every range this node leads closes a timestamp (side
    /// transport, no Raft write), and every replica with rangefeed subscribers checkpoints them.
    /// Returns, per follower node, the updates to send it.
    pub fn tick_closed_timestamps(&self) -> HashMap<NodeId, Vec<ClosedUpdate>> {
        let mut out: HashMap<NodeId, Vec<ClosedUpdate>> = HashMap::new();
        for replica in self.replicas() {
            replica.prepare_lease();
            if replica.is_leaseholder()
                && let Some((closed, index)) = replica.side_close()
            {
                let group = replica.group();
                for node in group.voters().into_iter().chain(group.learners()) {
                    if node != self.inner.node_id {
                        out.entry(node).or_default().push(ClosedUpdate {
                            range_id: replica.range_id(),
                            closed,
                            index,
                        });
                    }
                }
            }
            if replica.rangefeeds.is_active()
                && let Some(desc) = replica.descriptor()
            {
                replica
                    .rangefeeds
                    .checkpoint(replica.closed().applied, &desc.span());
            }
        }
        out
    }

    /// Wakes, for an election, every quiescent replica on this node whose leader is `node`, so
    /// that its group elects a new leader: the node calls it when liveness says `node` is not
    /// live (see [`RaftRouter::wake_groups_led_by`]). Returns how many replicas it woke.
    pub fn wake_groups_led_by(&self, node: NodeId) -> usize {
        self.inner.router.wake_groups_led_by(node)
    }

    /// Applies closed timestamps received from leaseholders.
    pub fn receive_closed(&self, updates: Vec<ClosedUpdate>) {
        for u in updates {
            if let Some(r) = self.replica(u.range_id) {
                r.offer_closed(u.closed, u.index);
            }
        }
    }

    /// Shuts every group down.
    pub async fn shutdown(&self) {
        for r in self.replicas() {
            r.group().shutdown().await;
        }
    }

    fn register_handlers(&self, registry: &rpc::Registry) {
        let store = self.clone();
        registry.unary("kv.batch", move |_caller, ba: BatchRequest| {
            let store = store.clone();
            async move { Ok::<_, rpc::RpcError>(store.send(ba).await) }
        });
        let store = self.clone();
        registry.unary(
            "closedts.update",
            move |_caller, updates: Vec<ClosedUpdate>| {
                let store = store.clone();
                async move {
                    store.receive_closed(updates);
                    Ok::<_, rpc::RpcError>(())
                }
            },
        );
        let store = self.clone();
        registry.unary("node.gc_replica", move |_caller, range_id: RangeId| {
            let store = store.clone();
            async move { Ok::<_, rpc::RpcError>(store.remove_replica(range_id).await) }
        });
        let store = self.clone();
        registry.streaming("kv.rangefeed", move |_caller, req: RangefeedRequest| {
            let store = store.clone();
            async move { Ok::<_, rpc::RpcError>(store.rangefeed(req)) }
        });
    }

    /// Opens a rangefeed on a local replica: catch-up scan from `start` (exclusive), then live
    /// changes and checkpoints.
    pub fn rangefeed(
        &self,
        req: RangefeedRequest,
    ) -> futures::stream::BoxStream<'static, Result<RangefeedEvent, rpc::RpcError>> {
        use futures::StreamExt;
        let Some(replica) = self.replica(req.range_id) else {
            let ev = RangefeedEvent::Error {
                message: format!("{} not found", req.range_id),
                retry: true,
            };
            return futures::stream::iter(vec![Ok(ev)]).boxed();
        };
        wake_in_background(&replica);
        let Some(desc) = replica.descriptor() else {
            let ev = RangefeedEvent::Error {
                message: "replica not initialized".into(),
                retry: true,
            };
            return futures::stream::iter(vec![Ok(ev)]).boxed();
        };
        // The whole span or nothing: a client routed by a descriptor from before a split asks
        // for more than this range holds, and served the part inside (as this used to), the
        // rest of its span would never be served nor resolved (a changefeed's frontier stuck
        // on a split-off range). The error makes it look the ranges up again.
        let span = req.span.clone();
        if span.intersect(&desc.span()).as_ref() != Some(&span) {
            let ev = RangefeedEvent::Error {
                message: format!(
                    "key range mismatch: {span} is not inside {} {}",
                    desc.range_id,
                    desc.span()
                ),
                retry: true,
            };
            return futures::stream::iter(vec![Ok(ev)]).boxed();
        }
        let engine = self.inner.engine.clone();
        let mut snapshot = None;
        // Holds off a snapshot install while the catch-up snapshot is taken.
        let installing = replica.install_guard();
        if *installing {
            let ev = RangefeedEvent::Error {
                message: "replica installing a snapshot".into(),
                retry: true,
            };
            return futures::stream::iter(vec![Ok(ev)]).boxed();
        }
        let (id, rx) = replica.rangefeeds.register(span.clone(), |first| {
            let snap = engine.snapshot();
            let intents = if first {
                replica_data_spans(&desc)
                    .iter()
                    .filter_map(|s| mvcc::mvcc_find_intents(snap.as_ref(), s, 0).ok())
                    .flatten()
                    .map(|i| (i.txn.id, i.key.0, i.txn.write_ts))
                    .collect()
            } else {
                vec![]
            };
            snapshot = Some(snap);
            intents
        });
        drop(installing);
        let catch_up: Vec<Result<RangefeedEvent, rpc::RpcError>> = match snapshot {
            Some(snap) => match mvcc::mvcc_changes(snap.as_ref(), &span, req.start, Timestamp::MAX)
            {
                Ok(entries) => entries
                    .into_iter()
                    .map(|e| {
                        Ok(RangefeedEvent::Value {
                            key: e.key,
                            ts: e.ts,
                            value: e.value,
                        })
                    })
                    .collect(),
                Err(e) => vec![Ok(RangefeedEvent::Error {
                    message: e.to_string(),
                    retry: true,
                })],
            },
            None => vec![],
        };
        let guard = Unregister {
            replica: replica.clone(),
            id,
        };
        let live = tokio_stream_from(rx).map(move |ev| {
            let _keep = &guard;
            Ok(ev)
        });
        futures::stream::iter(catch_up).chain(live).boxed()
    }
}

/// Wakes a quiescent replica's range without waiting (a follower asks its leader over rpc).
fn wake_in_background(replica: &Replica) {
    let group = replica.group();
    if !group.is_quiescent() {
        return;
    }
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let group = group.clone();
        rt.spawn(async move { group.wake().await });
    }
}

struct Unregister {
    replica: Arc<Replica>,
    id: u64,
}

impl Drop for Unregister {
    fn drop(&mut self) {
        self.replica.rangefeeds.unregister(self.id);
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A closed timestamp sent by a leaseholder to a follower.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClosedUpdate {
    /// The range.
    pub range_id: RangeId,
    /// No write at or below this timestamp will follow.
    pub closed: Timestamp,
    /// Valid once the follower applied this log index.
    pub index: u64,
}

/// A rangefeed subscription request for one range.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangefeedRequest {
    /// The range.
    pub range_id: RangeId,
    /// The span wanted (clipped to the range).
    pub span: Span,
    /// Changes strictly after this timestamp.
    pub start: Timestamp,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, KvError> {
    postcard::to_stdvec(v).map_err(|e| KvError::Internal(e.to_string()))
}

struct Factory(Weak<StoreInner>);

/// Marks a range as no longer being removed when the removal ends, however it ends.
struct Removing<'a> {
    inner: &'a StoreInner,
    range_id: RangeId,
}

impl Drop for Removing<'_> {
    fn drop(&mut self) {
        self.inner.removing.lock().remove(&self.range_id);
    }
}

impl GroupFactory for Factory {
    fn create(&self, range_id: RangeId) -> BoxFuture<'static, Option<RaftGroup>> {
        let inner = self.0.clone();
        Box::pin(async move {
            let store = Store {
                inner: inner.upgrade()?,
            };
            let replica = store.open_replica(range_id, None).await.ok()?;
            Some(replica.group().clone())
        })
    }
}

struct StoreApplier(Weak<StoreInner>);

impl StoreApplier {
    fn store(&self) -> Option<Store> {
        self.0.upgrade().map(|inner| Store { inner })
    }
}

impl Applier for StoreApplier {
    fn apply(
        &self,
        _range_id: RangeId,
        index: u64,
        cmd: &RaftCommand,
        batch: &mut WriteBatch,
    ) -> CommandResult {
        for w in &cmd.writes {
            match w {
                RawWrite::Put(k, v) => batch.put(Cf::Data, k.clone(), v.clone()),
                RawWrite::Delete(k) => batch.delete(Cf::Data, k.clone()),
            }
        }
        let mut error = None;
        match &cmd.trigger {
            Some(Trigger::Split { left, right }) => match (encode(left), encode(right)) {
                (Ok(l), Ok(r)) => {
                    batch.put(Cf::State, desc_key(left.range_id), l);
                    batch.put(Cf::State, desc_key(right.range_id), r);
                }
                _ => error = Some("encoding split descriptors".to_string()),
            },
            Some(Trigger::UpdateDescriptor(desc)) => match encode(desc) {
                Ok(d) => batch.put(Cf::State, desc_key(desc.range_id), d),
                Err(e) => error = Some(e.to_string()),
            },
            None => {}
        }
        CommandResult { index, error }
    }

    fn applied(&self, range_id: RangeId, index: u64, cmd: &RaftCommand, _result: &CommandResult) {
        let Some(store) = self.store() else { return };
        let Some(replica) = store.replica(range_id) else {
            return;
        };
        replica.advance_closed(cmd.closed_ts);
        replica.on_applied(index);
        if !cmd.ops.is_empty() {
            replica.rangefeeds.publish(&cmd.ops);
        }
        match &cmd.trigger {
            Some(Trigger::Split { left, right }) => {
                replica.set_descriptor(left.clone());
                replica.rangefeeds.disconnect_all("range split");
                let _ = store.inner.events.send(StoreEvent::SplitApplied {
                    right: right.clone(),
                    led: replica.group().is_leader(),
                });
            }
            Some(Trigger::UpdateDescriptor(desc)) => replica.set_descriptor(desc.clone()),
            None => {}
        }
    }

    fn membership_changed(&self, _range_id: RangeId, _voters: Vec<NodeId>, _learners: Vec<NodeId>) {
    }

    /// The descriptor as the view has it (persisted atomically with the data it delimits),
    /// and the closed timestamp applied when the view was taken (the state machine takes its
    /// views between two applies, so it matches them).
    fn snapshot_content(
        &self,
        range_id: RangeId,
        reader: &dyn Reader,
    ) -> Result<SnapshotContent, String> {
        let replica = self.store().and_then(|s| s.replica(range_id));
        let desc: RangeDescriptor = match reader
            .get(Cf::State, &desc_key(range_id))
            .map_err(|e| e.to_string())?
        {
            Some(v) => postcard::from_bytes(&v).map_err(|e| format!("corrupt descriptor: {e}"))?,
            None => replica
                .as_ref()
                .and_then(|r| r.descriptor())
                .ok_or("replica has no descriptor")?,
        };
        let closed = replica.map_or(Timestamp::ZERO, |r| r.closed().applied);
        let spans = raw_spans(&desc);
        let header = encode(&SnapshotHeader { desc, closed }).map_err(|e| e.to_string())?;
        Ok(SnapshotContent { header, spans })
    }

    /// Replaces the spans of the snapshot's descriptor (so a replica whose range split since
    /// keeps the right-hand side's data for its new range), and writes the descriptor last.
    fn plan_install(&self, range_id: RangeId, header: &[u8]) -> Result<InstallPlan, String> {
        let h: SnapshotHeader =
            postcard::from_bytes(header).map_err(|e| format!("bad snapshot header: {e}"))?;
        if h.desc.range_id != range_id {
            return Err(format!(
                "snapshot for {} sent to {range_id}",
                h.desc.range_id
            ));
        }
        let mut finish = WriteBatch::new();
        finish.put(
            Cf::State,
            desc_key(range_id),
            encode(&h.desc).map_err(|e| e.to_string())?,
        );
        Ok(InstallPlan {
            spans: raw_spans(&h.desc),
            finish,
        })
    }

    fn begin_install(&self, range_id: RangeId, _plan: &InstallPlan) -> Box<dyn Send> {
        let Some(store) = self.store() else {
            return Box::new(());
        };
        let mut coverage = store.inner.coverage.lock();
        coverage.installing.insert(range_id);
        if let Some(replica) = store.replica(range_id) {
            replica.set_installing(true);
            // Their subscribers resume from their checkpoints after the install.
            replica
                .rangefeeds
                .disconnect_all("snapshot being installed");
        }
        drop(coverage);
        Box::new(Installing {
            store: Arc::downgrade(&store.inner),
            range_id,
        })
    }

    fn installed(&self, range_id: RangeId, header: &[u8]) {
        let Ok(h) = postcard::from_bytes::<SnapshotHeader>(header) else {
            return;
        };
        if let Some(store) = self.store()
            && let Some(replica) = store.replica(range_id)
        {
            replica.set_descriptor(h.desc);
            replica.advance_closed(h.closed);
            replica.set_installing(false);
        }
    }
}

/// A snapshot install in progress (see `Applier::begin_install`): on drop, the sweep may run
/// again (it still defers while an unfinished install's marker is in the engine).
struct Installing {
    store: Weak<StoreInner>,
    range_id: RangeId,
}

impl Drop for Installing {
    fn drop(&mut self) {
        let Some(inner) = self.store.upgrade() else {
            return;
        };
        // The replica's reads stay refused after an install that did not finish (the group
        // stopped on an error): its data is half written until a restart finishes it.
        inner.coverage.lock().installing.remove(&self.range_id);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
    use base::{ReplicaDescriptor, ReplicaType};
    use storage::MemoryEngine;

    use super::*;
    use crate::raft::snapshot::{self, Staging, Target};
    use crate::raft::{SnapshotMeta, StoredMembership, TypeConfig};

    /// A node that crashed in the middle of installing a range's first snapshot (no
    /// descriptor of the range yet) finishes the install when its store opens again: the
    /// replica comes back with the snapshot's descriptor, data and applied index.
    #[tokio::test]
    async fn a_first_snapshot_interrupted_by_a_crash_is_finished_when_the_store_opens() {
        let clock: Arc<dyn Clock> = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
        let range = RangeId(10);
        let desc = RangeDescriptor {
            range_id: range,
            start_key: base::keys::table_prefix(100),
            end_key: base::keys::table_prefix(101),
            replicas: vec![ReplicaDescriptor {
                node_id: NodeId(1),
                replica_type: ReplicaType::Voter,
            }],
            generation: 3,
        };
        let source = MemoryEngine::new();
        let mut batch = WriteBatch::new();
        for i in 0..2000 {
            let mut k = base::keys::table_prefix(100).0;
            base::encoding::encode_bytes(&mut k, format!("k{i:05}").as_bytes());
            mvcc::mvcc_put(
                &source,
                &mut batch,
                &Key(k),
                clock.now(),
                Some(&[7; 1000]),
                None,
            )
            .expect("put");
        }
        source.write(batch, Durability::Buffered).expect("write");
        let header = encode(&SnapshotHeader {
            desc: desc.clone(),
            closed: Timestamp::ZERO,
        })
        .expect("header");
        let content = SnapshotContent {
            header,
            spans: raw_spans(&desc),
        };
        let nodes: BTreeMap<u64, openraft::EmptyNode> =
            BTreeMap::from([(1, openraft::EmptyNode::new())]);
        let membership =
            openraft::Membership::new(vec![BTreeSet::from([1])], nodes).expect("membership");
        let log_id = openraft::testing::log_id::<TypeConfig>(2, 1, 10);
        let meta = SnapshotMeta {
            last_log_id: Some(log_id),
            last_membership: StoredMembership::new(Some(log_id), membership),
        };
        let dest: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let staged =
            snapshot::stage_view(&Staging::of(dest.as_ref()), range, &source, &meta, content)
                .expect("stage");
        // 2 MB of records in 1 MiB batches: the crash comes after the first batch.
        let applier: Arc<dyn Applier> = Arc::new(StoreApplier(Weak::new()));
        let target = Target::for_test(range, dest.clone(), applier, Some(2));
        assert!(snapshot::install(&target, &meta, staged).is_err());
        assert_eq!(dest.get(Cf::State, &desc_key(range)).expect("get"), None);

        let rpc = rpc::Rpc::new(Arc::new(
            rpc::RpcContext::new(clock.clone()).with_node_id(NodeId(1)),
        ));
        let registry = rpc::Registry::new();
        let (store, _events) = Store::open(
            NodeId(1),
            dest.clone(),
            clock,
            rpc,
            &registry,
            StoreConfig::default(),
        )
        .await
        .expect("open");
        let replica = store.replica(range).expect("the range is open");
        assert_eq!(replica.descriptor(), Some(desc.clone()));
        assert_eq!(replica.group().applied_index(), 10);
        for span in replica_data_spans(&desc) {
            let (s, e) = mvcc::raw_span_bounds(&span);
            let want: Vec<_> = source.scan(Cf::Data, &s, &e, false).collect();
            let got: Vec<_> = dest.scan(Cf::Data, &s, &e, false).collect();
            assert_eq!(got, want);
        }
        assert_eq!(store.sweep_leftovers(10).expect("sweep"), Sweep::Deleted(0));
        store.shutdown().await;
    }
}
