//! A KV node: the store, the DistSender, and the cluster-level loops that keep ranges healthy.
//!
//! Life of a node ([`KvNode::start`]):
//! 1. open the engine and read the node's identity (cluster id, node id) if it has one;
//! 2. serve RPC at once, so `init` and `join` can reach an empty node;
//! 3. without an identity, wait for either `node.init` (this node bootstraps a new cluster:
//!    range 1 for meta and system records, range 2 for table data) or a successful
//!    `node.join` to a listed peer (which allocates a node id);
//! 4. open the store, register the node (its descriptor and first liveness record, retried
//!    while r1 does not answer yet) and start the loops: liveness heartbeats, the node
//!    directory refresh, closed timestamps and rangefeed checkpoints, the replicate queue that
//!    applies allocator decisions, replica GC, split follow-ups, and the sweep of data no
//!    range on the node covers (leftovers of replayed splits);
//! 5. only then serve `node.join`, so a node joins only through a peer that has reached r1:
//!    nodes may be started in any order and concurrently with the bootstrap, and a joiner
//!    waits (asking again every 500 ms) until a peer is fully up.

use crate::allocator::{self, Action, NodeInfo, RangeReplicas};
use crate::api::*;
use crate::dist_sender::{DistSender, NodeDirectory};
use crate::raft::RaftConfig;
use crate::replica::ReplicaConfig;
use crate::store::{Store, StoreConfig, StoreEvent};
use base::keys::{self, META_RANGE_END, TABLE_DATA_MIN};
use base::zone::ZoneConfig;
use base::{
    Clock, Key, NodeDescriptor, NodeId, RangeDescriptor, RangeId, ReplicaDescriptor, ReplicaType,
    Span,
};
use locality::Locality;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use storage::{Cf, Durability, Engine};
use tokio::sync::watch;

const IDENT_KEY: &[u8] = b"ident";
/// The node descriptors this node last knew, so that a restarted node can reach its peers.
const KNOWN_NODES_KEY: &[u8] = b"known-nodes";
const NODE_ID_GEN: &str = "node-id-gen";
const RANGE_ID_GEN: &str = "range-id-gen";

/// Liveness timing.
#[derive(Clone, Debug)]
pub struct LivenessConfig {
    /// How often a node renews its liveness record.
    pub heartbeat: Duration,
    /// How long a renewal lasts.
    pub ttl: Duration,
    /// After how long without renewal a node's replicas are replaced elsewhere
    /// (CockroachDB's `server.time_until_store_dead`, 5 minutes by default).
    pub time_until_dead: Duration,
}

impl Default for LivenessConfig {
    fn default() -> LivenessConfig {
        LivenessConfig {
            heartbeat: Duration::from_millis(1500),
            ttl: Duration::from_millis(4500),
            time_until_dead: Duration::from_secs(300),
        }
    }
}

/// How a node is started.
#[derive(Clone, Debug)]
pub struct KvNodeConfig {
    /// Where the node is.
    pub locality: Locality,
    /// Address other nodes use to reach this one (`host:port`).
    pub advertise_addr: String,
    /// SQL address to advertise.
    pub sql_addr: String,
    /// HTTP address to advertise.
    pub http_addr: String,
    /// Peers to join.
    pub join: Vec<String>,
    /// How long to keep trying the join addresses before giving up.
    pub join_timeout: Duration,
    /// Store tunables.
    pub store: StoreConfig,
    /// Liveness tunables.
    pub liveness: LivenessConfig,
    /// How often the replicate queue looks at each range.
    pub replicate_interval: Duration,
    /// How often closed timestamps advance on idle ranges.
    pub closed_ts_interval: Duration,
    /// How often the node sweeps its engine for data no range it holds covers
    /// ([`Store::sweep_leftovers`]).
    pub sweep_interval: Duration,
    /// How often the split queue looks at the ranges this node leads.
    pub split_interval: Duration,
}

impl Default for KvNodeConfig {
    fn default() -> KvNodeConfig {
        KvNodeConfig {
            locality: Locality::default(),
            advertise_addr: String::new(),
            sql_addr: String::new(),
            http_addr: String::new(),
            join: Vec::new(),
            join_timeout: Duration::from_secs(60),
            store: StoreConfig::default(),
            liveness: LivenessConfig::default(),
            replicate_interval: Duration::from_millis(1000),
            closed_ts_interval: Duration::from_millis(500),
            split_interval: Duration::from_secs(10),
            sweep_interval: Duration::from_secs(60),
        }
    }
}

impl KvNodeConfig {
    /// Fast timings for tests: short elections, heartbeats and dead-node timeout.
    pub fn fast_for_tests() -> KvNodeConfig {
        KvNodeConfig {
            store: StoreConfig {
                raft: RaftConfig::fast(),
                replica: ReplicaConfig {
                    closed_ts_target: Duration::from_millis(500),
                    ..Default::default()
                },
            },
            liveness: LivenessConfig {
                heartbeat: Duration::from_millis(300),
                ttl: Duration::from_millis(1500),
                time_until_dead: Duration::from_secs(5),
            },
            replicate_interval: Duration::from_millis(300),
            closed_ts_interval: Duration::from_millis(100),
            split_interval: Duration::from_millis(300),
            sweep_interval: Duration::from_millis(500),
            join_timeout: Duration::from_secs(20),
            ..Default::default()
        }
    }
}

/// A node's liveness record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Liveness {
    /// The node.
    pub node_id: NodeId,
    /// Valid until this wall time (nanoseconds).
    pub expiration: i64,
    /// The node is draining: it sheds leases and takes no new replicas.
    pub draining: bool,
}

/// What `node status` shows for one node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub node_id: NodeId,
    /// RPC address.
    pub address: String,
    /// SQL address.
    pub sql_address: String,
    /// Locality.
    pub locality: String,
    /// Liveness record valid now.
    pub is_live: bool,
    /// Draining.
    pub draining: bool,
    /// Replicas on the node.
    pub replicas: usize,
    /// Leases held.
    pub leaseholders: usize,
}

/// One replica, as `SHOW RANGES` / the range layout prints it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RangeInfo {
    /// The descriptor.
    pub desc: RangeDescriptor,
    /// The leaseholder, if known.
    pub leaseholder: Option<NodeId>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Ident {
    cluster_id: String,
    node_id: NodeId,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct JoinRequest {
    address: String,
    sql_address: String,
    http_address: String,
    locality: Locality,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct JoinResponse {
    cluster_id: String,
    node_id: NodeId,
    nodes: Vec<NodeDescriptor>,
}

/// Errors starting or running a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Storage failed.
    #[error("{0}")]
    Storage(#[from] storage::StorageError),
    /// KV failed.
    #[error("{0}")]
    Kv(#[from] KvError),
    /// The join addresses never answered.
    #[error("could not join the cluster via {addrs} within {secs} s: {last}")]
    JoinFailed {
        /// The addresses tried.
        addrs: String,
        /// Seconds tried.
        secs: u64,
        /// The last error.
        last: String,
    },
    /// This node's clock is too far from its peers'.
    #[error(
        "clock synchronization error: {0}; this node's clock must be within the maximum offset of the cluster's"
    )]
    ClockOffset(String),
    /// The cluster was initialised already.
    #[error("cluster has already been initialized")]
    AlreadyInitialized,
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// A running KV node.
#[derive(Clone)]
pub struct KvNode {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    cfg: KvNodeConfig,
    node_id: NodeId,
    cluster_id: String,
    store: Store,
    sender: DistSender,
    nodes: Arc<NodeDirectory>,
    liveness: RwLock<HashMap<NodeId, Liveness>>,
    clock: Arc<dyn Clock>,
    draining: RwLock<bool>,
    shutdown: watch::Sender<bool>,
    fatal: watch::Sender<Option<String>>,
    tasks: parking_lot::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl KvNode {
    /// Starts a node on an engine whose RPC server is already serving `registry`.
    /// Returns once the node has an identity (restart, `init`, or join).
    pub async fn start(
        cfg: KvNodeConfig,
        engine: Arc<dyn Engine>,
        clock: Arc<dyn Clock>,
        rpc: rpc::Rpc,
        registry: &rpc::Registry,
    ) -> Result<KvNode, NodeError> {
        let nodes = Arc::new(NodeDirectory::default());
        rpc.set_resolver(nodes.clone());
        let ident = read_ident(engine.as_ref())?;
        let (ident, bootstrapped) = match ident {
            Some(i) => {
                for d in read_known_nodes(engine.as_ref()) {
                    nodes.upsert(d, true);
                }
                (i, false)
            }
            None => wait_for_identity(&cfg, engine.as_ref(), &rpc, registry, &nodes).await?,
        };
        registry.remove("node.init");
        rpc.context().set_node_id(ident.node_id);
        rpc.context().set_cluster_id(ident.cluster_id.clone());
        let self_desc = NodeDescriptor {
            node_id: ident.node_id,
            address: cfg.advertise_addr.clone(),
            sql_address: cfg.sql_addr.clone(),
            http_address: cfg.http_addr.clone(),
            locality: cfg.locality.clone(),
        };
        nodes.upsert(self_desc.clone(), true);
        let (store, events) = Store::open(
            ident.node_id,
            engine.clone(),
            clock.clone(),
            rpc.clone(),
            registry,
            cfg.store.clone(),
        )
        .await?;
        let sender = DistSender::new(
            ident.node_id,
            cfg.locality.clone(),
            rpc.clone(),
            nodes.clone(),
            clock.clone(),
        );
        sender.set_local_store(store.clone());
        let (shutdown, _) = watch::channel(false);
        let (fatal, _) = watch::channel(None);
        let node = KvNode {
            inner: Arc::new(NodeInner {
                cfg,
                node_id: ident.node_id,
                cluster_id: ident.cluster_id.clone(),
                store,
                sender,
                nodes,
                liveness: RwLock::new(HashMap::new()),
                clock,
                draining: RwLock::new(false),
                shutdown,
                fatal,
                tasks: parking_lot::Mutex::new(Vec::new()),
            }),
        };
        if bootstrapped {
            node.bootstrap_ranges().await?;
        }
        node.register_handlers(registry);
        node.announce(&self_desc).await?;
        node.refresh_directory().await;
        node.spawn_loops(events);
        // Only now may others join through this node: it has reached r1 (its own descriptor
        // and liveness record are written), so the node-id counter exists and the directory
        // it hands a joiner names r1's replicas. A join served earlier — during the
        // bootstrap, or before this node could reach r1 — took its id from a counter not yet
        // written (node id 1, this node's) and left the joiner unable to reach r1.
        node.register_join(registry);
        Ok(node)
    }

    /// Writes this node's descriptor and first liveness record: the node's first requests to
    /// r1. A node that has just joined retries them for up to `join_timeout` while r1 does
    /// not answer yet (its leaseholder still starting, a lease in motion), rather than
    /// failing its start.
    async fn announce(&self, desc: &NodeDescriptor) -> Result<(), NodeError> {
        let started = tokio::time::Instant::now();
        loop {
            let attempt = match self.write_node_descriptor(desc).await {
                Ok(()) => self.heartbeat_liveness().await.map_err(NodeError::from),
                Err(e) => Err(e),
            };
            match attempt {
                // Both writes are idempotent puts: an ambiguous one may be sent again.
                Err(NodeError::Kv(e))
                    if (e.is_routing() || matches!(e, KvError::AmbiguousResult(_)))
                        && started.elapsed() < self.inner.cfg.join_timeout =>
                {
                    tracing::info!("n{}: r1 not reachable yet: {e}; retrying", self.node_id().0);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Becomes `Some(reason)` when the node can no longer take part safely (its clock is too
    /// far off its peers'); the process should then stop with that message.
    pub fn fatal(&self) -> watch::Receiver<Option<String>> {
        self.inner.fatal.subscribe()
    }

    /// The cluster id.
    pub fn cluster_id(&self) -> &str {
        &self.inner.cluster_id
    }

    /// The DistSender (the KV client of this node).
    pub fn sender(&self) -> &DistSender {
        &self.inner.sender
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The locality this node was started with.
    pub fn locality(&self) -> &Locality {
        &self.inner.cfg.locality
    }

    /// Known nodes and liveness.
    pub fn directory(&self) -> &Arc<NodeDirectory> {
        &self.inner.nodes
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Bytes of read responses this node's replicas served, split by whether the gateway is
    /// in this node's region (see [`crate::metrics`]).
    pub fn read_metrics(&self) -> crate::metrics::ReadMetricsSnapshot {
        crate::metrics::ReadMetricsSnapshot::split(
            self.locality(),
            self.inner.store.read_metrics().by_gateway(),
            |n| self.inner.nodes.locality(n),
        )
    }

    async fn bootstrap_ranges(&self) -> Result<(), NodeError> {
        let me = ReplicaDescriptor {
            node_id: self.inner.node_id,
            replica_type: ReplicaType::Voter,
        };
        let r1 = RangeDescriptor {
            range_id: RangeId(1),
            start_key: Key::MIN,
            end_key: Key(META_RANGE_END.to_vec()),
            replicas: vec![me],
            generation: 0,
        };
        let r2 = RangeDescriptor {
            range_id: RangeId(2),
            start_key: Key(TABLE_DATA_MIN.to_vec()),
            end_key: Key::max(),
            replicas: vec![me],
            generation: 0,
        };
        for d in [&r1, &r2] {
            let replica = self.inner.store.create_range(d.clone()).await?;
            replica.wait_for_leader(Duration::from_secs(10)).await;
        }
        let s = &self.inner.sender;
        put(s, keys::meta_key(&r1.end_key), encode(&r1)?).await?;
        put(s, keys::meta_key(&r2.end_key), encode(&r2)?).await?;
        put(
            s,
            keys::system_key(NODE_ID_GEN),
            1i64.to_be_bytes().to_vec(),
        )
        .await?;
        put(
            s,
            keys::system_key(RANGE_ID_GEN),
            2i64.to_be_bytes().to_vec(),
        )
        .await?;
        Ok(())
    }

    async fn write_node_descriptor(&self, desc: &NodeDescriptor) -> Result<(), NodeError> {
        put(&self.inner.sender, node_key(desc.node_id), encode(desc)?).await?;
        Ok(())
    }

    async fn heartbeat_liveness(&self) -> Result<(), KvError> {
        let ttl = i64::try_from(self.inner.cfg.liveness.ttl.as_nanos()).unwrap_or(i64::MAX);
        let rec = Liveness {
            node_id: self.inner.node_id,
            expiration: self.inner.clock.physical_nanos().saturating_add(ttl),
            draining: *self.inner.draining.read(),
        };
        put(&self.inner.sender, liveness_key(rec.node_id), encode(&rec)?).await?;
        self.inner.liveness.write().insert(rec.node_id, rec);
        Ok(())
    }

    /// Re-reads node descriptors and liveness records into the directory.
    pub async fn refresh_directory(&self) {
        let s = &self.inner.sender;
        let Ok(descs) = scan_prefix(s, "node/").await else {
            return;
        };
        let Ok(lives) = scan_prefix(s, "liveness/").await else {
            return;
        };
        let now = self.inner.clock.physical_nanos();
        let mut live_map = HashMap::new();
        for kv in lives {
            if let Ok(l) = postcard::from_bytes::<Liveness>(&kv.value) {
                live_map.insert(l.node_id, l);
            }
        }
        let mut known = Vec::new();
        for kv in descs {
            if let Ok(d) = postcard::from_bytes::<NodeDescriptor>(&kv.value) {
                let live = live_map.get(&d.node_id).is_some_and(|l| l.expiration > now);
                if !live && d.node_id != self.inner.node_id {
                    // Quiesced ranges led by a node that is gone must elect a new leader.
                    self.inner.store.wake_groups_led_by(d.node_id);
                }
                known.push(d.clone());
                self.inner.nodes.upsert(d, live);
            }
        }
        *self.inner.liveness.write() = live_map;
        if let Ok(bytes) = postcard::to_stdvec(&known) {
            let mut batch = storage::WriteBatch::new();
            batch.put(Cf::State, KNOWN_NODES_KEY, bytes);
            if let Err(e) = self.inner.store.engine().write(batch, Durability::Buffered) {
                tracing::warn!("saving the node list: {e}");
            }
        }
    }

    /// Liveness records as last read.
    pub fn liveness(&self) -> HashMap<NodeId, Liveness> {
        self.inner.liveness.read().clone()
    }

    /// Serves `node.join`: allocates node ids to nodes joining through this one.
    fn register_join(&self, registry: &rpc::Registry) {
        let node = self.clone();
        registry.unary("node.join", move |_c, req: JoinRequest| {
            let node = node.clone();
            async move { Ok::<_, rpc::RpcError>(node.handle_join(req).await.map_err(|e| e.to_string())) }
        });
    }

    fn register_handlers(&self, registry: &rpc::Registry) {
        registry.unary("node.init", move |_c, _req: ()| async move {
            Ok::<Result<(), String>, rpc::RpcError>(Err(NodeError::AlreadyInitialized.to_string()))
        });
        let node = self.clone();
        registry.unary("node.status", move |_c, _req: ()| {
            let node = node.clone();
            async move { Ok::<_, rpc::RpcError>(node.status().await.map_err(|e| e.to_string())) }
        });
        let node = self.clone();
        registry.unary("node.drain", move |_c, _req: ()| {
            let node = node.clone();
            async move { Ok::<_, rpc::RpcError>(node.drain().await.map_err(|e| e.to_string())) }
        });
        let node = self.clone();
        registry.unary("node.split", move |_c, (range_id, key): (RangeId, Key)| {
            let node = node.clone();
            async move { Ok::<_, rpc::RpcError>(node.split_local(range_id, &key).await) }
        });
    }

    async fn handle_join(&self, req: JoinRequest) -> Result<JoinResponse, KvError> {
        let id = increment(&self.inner.sender, keys::system_key(NODE_ID_GEN), 1).await?;
        // Node 1 bootstraps the cluster and writes the counter: an id of 1 here means the
        // counter was missing, and the joiner would take the bootstrapping node's id. The
        // joiner asks again.
        if id <= 1 {
            return Err(KvError::Unavailable(
                "the cluster is still bootstrapping (no node-id counter yet)".into(),
            ));
        }
        let node_id =
            NodeId(u64::try_from(id).map_err(|_| KvError::Internal("node id overflow".into()))?);
        let desc = NodeDescriptor {
            node_id,
            address: req.address,
            sql_address: req.sql_address,
            http_address: req.http_address,
            locality: req.locality,
        };
        put(&self.inner.sender, node_key(node_id), encode(&desc)?).await?;
        self.inner.nodes.upsert(desc, true);
        let nodes = self.inner.nodes.all().into_iter().map(|(d, _)| d).collect();
        Ok(JoinResponse {
            cluster_id: self.inner.cluster_id.clone(),
            node_id,
            nodes,
        })
    }

    /// Splits the range containing `key` at `key` (no-op if a range already starts there).
    pub async fn admin_split(&self, key: &Key) -> Result<(), KvError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            // The meta lookup itself may meet a lease in motion (right after start): retry it
            // like the split.
            let desc = match self.inner.sender.lookup(key).await {
                Ok(desc) => desc,
                Err(e) if e.is_routing() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if desc.start_key == *key {
                return Ok(());
            }
            let mut last = KvError::Unavailable(format!("{}: no leaseholder", desc.range_id));
            // The leaseholder the range cache knows first, then the others.
            let mut order: Vec<NodeId> = desc.replicas.iter().map(|r| r.node_id).collect();
            if let Some(lh) = self.inner.sender.cached_leaseholder(&desc)
                && let Some(i) = order.iter().position(|n| *n == lh)
            {
                order[..=i].rotate_right(1);
            }
            let mut stale = false;
            for node_id in order {
                let result = if node_id == self.inner.node_id {
                    self.split_local(desc.range_id, key).await
                } else {
                    let call: Result<Result<(), KvError>, rpc::RpcError> = self
                        .rpc()
                        .call(
                            rpc::Target::Node(node_id),
                            "node.split",
                            &(desc.range_id, key.clone()),
                        )
                        .await;
                    call.unwrap_or_else(|e| Err(KvError::Unavailable(e.to_string())))
                };
                match result {
                    Ok(()) => return Ok(()),
                    // The cached descriptor is stale (an earlier split): look the key up again
                    // at once.
                    Err(KvError::RangeKeyMismatch { .. }) => {
                        stale = true;
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            self.inner.sender.evict(&desc);
            if tokio::time::Instant::now() > deadline {
                return Err(last);
            }
            if !stale {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    fn rpc(&self) -> rpc::Rpc {
        self.inner.store.rpc_client()
    }

    async fn split_local(&self, range_id: RangeId, key: &Key) -> Result<(), KvError> {
        let replica = self
            .inner
            .store
            .replica(range_id)
            .ok_or(KvError::RangeNotFound { range_id })?;
        if !replica.is_leaseholder() {
            return Err(KvError::NotLeaseholder {
                range_id,
                leaseholder: replica.group().leader(),
            });
        }
        if range_id == base::ids::META_RANGE_ID {
            return Err(KvError::Internal("the meta range is never split".into()));
        }
        let id = increment(&self.inner.sender, keys::system_key(RANGE_ID_GEN), 1).await?;
        let new_id =
            RangeId(u64::try_from(id).map_err(|_| KvError::Internal("range id overflow".into()))?);
        let (left, right) = self.inner.store.split(range_id, key, new_id).await?;
        let s = &self.inner.sender;
        let ba = BatchRequest {
            header: Header {
                gateway: self.inner.node_id,
                ..Default::default()
            },
            requests: vec![
                Request::Put {
                    key: keys::meta_key(&left.end_key),
                    value: encode(&left)?,
                },
                Request::Put {
                    key: keys::meta_key(&right.end_key),
                    value: encode(&right)?,
                },
            ],
        };
        s.send(ba).await?;
        s.insert(left, Some(self.inner.node_id));
        s.insert(right, None);
        Ok(())
    }

    /// Node status for every known node.
    pub async fn status(&self) -> Result<Vec<NodeStatus>, KvError> {
        self.refresh_directory().await;
        let ranges = self.ranges().await?;
        let mut replicas: HashMap<NodeId, usize> = HashMap::new();
        let mut leases: HashMap<NodeId, usize> = HashMap::new();
        for r in &ranges {
            for rep in &r.desc.replicas {
                *replicas.entry(rep.node_id).or_default() += 1;
            }
            if let Some(lh) = r.leaseholder {
                *leases.entry(lh).or_default() += 1;
            }
        }
        let live = self.liveness();
        Ok(self
            .inner
            .nodes
            .all()
            .into_iter()
            .map(|(d, is_live)| NodeStatus {
                node_id: d.node_id,
                address: d.address.clone(),
                sql_address: d.sql_address.clone(),
                locality: d.locality.to_string(),
                is_live,
                draining: live.get(&d.node_id).is_some_and(|l| l.draining),
                replicas: replicas.get(&d.node_id).copied().unwrap_or(0),
                leaseholders: leases.get(&d.node_id).copied().unwrap_or(0),
            })
            .collect())
    }

    /// Every range with its leaseholder (asked of the replicas).
    pub async fn ranges(&self) -> Result<Vec<RangeInfo>, KvError> {
        let descs = self.inner.sender.all_ranges().await?;
        let mut out = Vec::with_capacity(descs.len());
        for desc in descs {
            let leaseholder = self.leaseholder_of(&desc).await;
            out.push(RangeInfo { desc, leaseholder });
        }
        Ok(out)
    }

    async fn leaseholder_of(&self, desc: &RangeDescriptor) -> Option<NodeId> {
        if let Some(r) = self.inner.store.replica(desc.range_id)
            && let Some(l) = r.group().leader()
        {
            return Some(l);
        }
        let h = Header {
            range_id: desc.range_id,
            gateway: self.inner.node_id,
            ..Default::default()
        };
        let ba = BatchRequest {
            header: h,
            requests: vec![Request::RangeStats],
        };
        for r in &desc.replicas {
            let call: Result<Result<BatchResponse, KvError>, rpc::RpcError> = self
                .rpc()
                .call(rpc::Target::Node(r.node_id), "kv.batch", &ba)
                .await;
            match call {
                Ok(Ok(resp)) => return Some(resp.served_by),
                Ok(Err(KvError::NotLeaseholder {
                    leaseholder: Some(l),
                    ..
                })) => return Some(l),
                _ => {}
            }
        }
        None
    }

    /// Hands every lease this node holds to another live voter of its range, once; returns how
    /// many moved.
    pub async fn shed_leases(&self) -> usize {
        let mut moved = 0;
        for r in self.inner.store.replicas() {
            if !r.is_leaseholder() {
                continue;
            }
            let to = r
                .group()
                .voters()
                .into_iter()
                .find(|v| *v != self.inner.node_id && self.inner.nodes.is_live(*v));
            if let Some(to) = to
                && r.group().transfer_leader(to).await.is_ok()
            {
                moved += 1;
            }
        }
        moved
    }

    /// Drains: marks the node draining (the allocator then moves its leases away) and waits
    /// until it holds no lease, up to 30 s.
    pub async fn drain(&self) -> Result<usize, KvError> {
        *self.inner.draining.write() = true;
        self.heartbeat_liveness().await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let held: Vec<_> = self
                .inner
                .store
                .replicas()
                .into_iter()
                .filter(|r| r.is_leaseholder())
                .collect();
            if held.is_empty() || tokio::time::Instant::now() > deadline {
                return Ok(held.len());
            }
            for r in held {
                let voters = r.group().voters();
                if let Some(to) = voters
                    .into_iter()
                    .find(|v| *v != self.inner.node_id && self.inner.nodes.is_live(*v))
                {
                    let _ = r.group().transfer_leader(to).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the loops and the Raft groups.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown.send(true);
        for t in self.inner.tasks.lock().drain(..) {
            t.abort();
        }
        self.inner.store.shutdown().await;
    }

    fn spawn_loops(&self, mut events: tokio::sync::mpsc::UnboundedReceiver<StoreEvent>) {
        let mut tasks = Vec::new();
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            let mut clock_errors = 0;
            loop {
                tokio::time::sleep(node.inner.cfg.liveness.heartbeat).await;
                match node.heartbeat_liveness().await {
                    Ok(()) => clock_errors = 0,
                    Err(KvError::ClockOffset(e)) => {
                        clock_errors += 1;
                        tracing::error!("liveness heartbeat: clock synchronization error: {e}");
                        if clock_errors >= 3 {
                            let _ = node.inner.fatal.send(Some(format!(
                                "clock synchronization error: {e}; this node's clock is more \
                                 than the maximum offset away from its peers'"
                            )));
                        }
                    }
                    Err(e) => tracing::warn!("liveness heartbeat failed: {e}"),
                }
                node.refresh_directory().await;
            }
        }));
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(node.inner.cfg.closed_ts_interval).await;
                let updates = node.inner.store.tick_closed_timestamps();
                let rpc = node.inner.store.rpc_client();
                for (to, batch) in updates {
                    let rpc = rpc.clone();
                    tokio::spawn(async move {
                        let _: Result<(), rpc::RpcError> = rpc
                            .call(rpc::Target::Node(to), "closedts.update", &batch)
                            .await;
                    });
                }
            }
        }));
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    StoreEvent::SplitApplied { right, led } => {
                        let me = node.inner.node_id;
                        match node.split_right_moved_on(&right, led).await {
                            // A replica catching up from the log replayed an old split. The
                            // right-hand range's group must not be initialized again with the
                            // voters it had then (it would elect itself on a log of its own
                            // beside the range's real group): a member opens it uninitialized,
                            // for its leader to bring up to date; a node no longer in it
                            // forgets it.
                            Some(current) if current.replicas.iter().any(|r| r.node_id == me) => {
                                if let Err(e) = node.inner.store.open_range(current).await {
                                    tracing::warn!(
                                        "opening {} after a replayed split: {e}",
                                        right.range_id
                                    );
                                }
                                continue;
                            }
                            Some(_) => {
                                tracing::info!(
                                    "{}: not opened after a replayed split (this node left it)",
                                    right.range_id
                                );
                                if let Err(e) = node.inner.store.forget_split_right(right.range_id)
                                {
                                    tracing::warn!(
                                        "{}: forgetting a replayed split: {e}",
                                        right.range_id
                                    );
                                }
                                continue;
                            }
                            None => {}
                        }
                        node.open_split_right(right, led).await;
                    }
                }
            }
        }));
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(node.inner.cfg.replicate_interval).await;
                node.replicate_round().await;
            }
        }));
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(node.inner.cfg.split_interval).await;
                node.split_round().await;
            }
        }));
        let node = self.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(node.inner.cfg.sweep_interval).await;
                node.inner.store.sweep_round().await;
            }
        }));
        self.inner.tasks.lock().extend(tasks);
    }

    /// One pass of the split queue: ranges this node leads that outgrew their zone's
    /// `range_max_bytes` split at their middle key.
    pub async fn split_round(&self) {
        for replica in self.inner.store.replicas() {
            if !replica.is_leaseholder() || replica.range_id() == base::ids::META_RANGE_ID {
                continue;
            }
            let Some(desc) = replica.descriptor() else {
                continue;
            };
            let zone = self.zone_for(&desc).await;
            let estimate = match replica.estimated_bytes() {
                Some(e) => e,
                None => match replica.measure() {
                    Ok(s) => s.total_bytes,
                    Err(_) => continue,
                },
            };
            if estimate <= zone.range_max_bytes {
                continue;
            }
            let Ok(stats) = replica.measure() else {
                continue;
            };
            if stats.total_bytes <= zone.range_max_bytes {
                continue;
            }
            let Ok(Some(key)) = replica.middle_key(stats.total_bytes) else {
                continue;
            };
            tracing::info!(
                "{}: splitting at {key}: {} bytes > range_max_bytes {}",
                desc.range_id,
                stats.total_bytes,
                zone.range_max_bytes
            );
            if let Err(e) = self.split_local(desc.range_id, &key).await {
                tracing::warn!("{}: size split failed: {e}", desc.range_id);
            }
        }
    }

    fn node_infos(&self, ranges: &[RangeDescriptor]) -> Vec<NodeInfo> {
        let now = self.inner.clock.physical_nanos();
        let dead_after =
            i64::try_from(self.inner.cfg.liveness.time_until_dead.as_nanos()).unwrap_or(i64::MAX);
        let live = self.liveness();
        let mut counts: HashMap<NodeId, usize> = HashMap::new();
        for d in ranges {
            for r in &d.replicas {
                *counts.entry(r.node_id).or_default() += 1;
            }
        }
        self.inner
            .nodes
            .all()
            .into_iter()
            .map(|(d, is_live)| {
                let l = live.get(&d.node_id);
                NodeInfo {
                    node_id: d.node_id,
                    locality: d.locality.clone(),
                    live: is_live,
                    dead: l.is_none_or(|l| l.expiration < now.saturating_sub(dead_after)),
                    draining: l.is_some_and(|l| l.draining),
                    replicas: counts.get(&d.node_id).copied().unwrap_or(0),
                    leases: 0,
                }
            })
            .collect()
    }

    /// The zone configuration that applies to a range.
    ///
    /// Partitions of a table (REGIONAL BY ROW) have their own configurations at
    /// `zones/<table>/p/<hex key prefix>`; a range starting inside a partition's prefix gets
    /// the longest such prefix's configuration, else its table's, else the default.
    pub async fn zone_for(&self, desc: &RangeDescriptor) -> ZoneConfig {
        let mut candidates = Vec::new();
        if let Some(table) = keys::decode_table_id(&desc.start_key) {
            let partitions = scan_prefix(&self.inner.sender, &format!("zones/{table}/p/"))
                .await
                .unwrap_or_default();
            let prefix_len = keys::system_key(&format!("zones/{table}/p/")).0.len();
            let best = partitions
                .iter()
                .filter_map(|kv| {
                    let hex = std::str::from_utf8(kv.key.0.get(prefix_len..)?).ok()?;
                    let bytes = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
                        .collect::<Option<Vec<u8>>>()?;
                    desc.start_key
                        .0
                        .starts_with(&bytes)
                        .then_some((bytes.len(), kv))
                })
                .max_by_key(|(len, _)| *len);
            if let Some((_, kv)) = best
                && let Ok(z) = serde_json::from_slice::<ZoneConfig>(&kv.value)
            {
                return z;
            }
            candidates.push(format!("zones/{table}"));
        }
        candidates.push("zones/default".to_string());
        for name in candidates {
            if let Ok(Some(v)) = get(&self.inner.sender, keys::system_key(&name)).await
                && let Ok(z) = serde_json::from_slice::<ZoneConfig>(&v)
            {
                return z;
            }
        }
        ZoneConfig::default()
    }

    /// Opens the right-hand range of a split that just applied here. The split range's leader
    /// starts the new group at once and wins its first election alone; the other voters open
    /// it uninitialized and hear from that leader. Were every voter to start it, each would vote
    /// for itself in the first term and nobody would lead until an election timeout passed
    /// (1–2 s, during which the new range serves nothing). A voter that has not heard from the
    /// leader within the maximum election timeout (the leader died or lost the lease) starts
    /// the group itself, with the same initial membership.
    async fn open_split_right(&self, right: RangeDescriptor, led: bool) {
        let me = self.inner.node_id;
        let voters: Vec<NodeId> = right.voters().collect();
        if led || !voters.contains(&me) {
            match self.inner.store.create_range(right.clone()).await {
                Ok(replica) if led => {
                    // The group starts with the voters alone: the split range's non-voters,
                    // which applied the split and opened the new range too, are added back as
                    // learners (else the replicate queue would find them missing and copy the
                    // range to new ones).
                    let non_voters: Vec<NodeId> = right
                        .replicas
                        .iter()
                        .filter(|r| r.replica_type != ReplicaType::Voter)
                        .map(|r| r.node_id)
                        .collect();
                    let range_id = right.range_id;
                    let store = self.inner.store.clone();
                    let replicas = right.replicas.clone();
                    tokio::spawn(async move {
                        let group = replica.group();
                        group.campaign_until_led(group.vote_quarantine()).await;
                        if !group.is_leader() {
                            return;
                        }
                        // The new range's own log carries its descriptor from the start: a
                        // voter whose group opened for the leader's first message may never
                        // apply the split itself (it left the split range first), and a
                        // replica without a descriptor cannot serve, even as leader.
                        if let Err(e) = store.update_replicas(range_id, replicas).await {
                            tracing::debug!("{range_id}: recording its descriptor: {e}");
                        }
                        for n in non_voters {
                            if let Err(e) = group.add_learner(n).await {
                                tracing::debug!("{range_id}: non-voter {n} after split: {e}");
                            }
                        }
                    });
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("opening {} after split: {e}", right.range_id),
            }
            return;
        }
        let replica = match self.inner.store.open_range(right.clone()).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("opening {} after split: {e}", right.range_id);
                return;
            }
        };
        tokio::spawn(async move {
            let group = replica.group();
            tokio::time::sleep(group.vote_quarantine()).await;
            if group.leader().is_some() {
                return;
            }
            // A no-op when the group already has a log (the leader reached this node).
            if let Err(e) = group.initialize(&voters).await {
                tracing::warn!("starting {} after split: {e}", right.range_id);
            }
        });
    }

    /// The meta range's descriptor of `right` (the right-hand side of a split this node just
    /// applied) when meta records it at a later generation: the split is an old one, replayed
    /// by a replica catching up from the log. `None` for a fresh split, whose right-hand range
    /// is not in meta yet or is there at the split's own generation.
    ///
    /// A replica that did not lead the split range when the split applied (`led` false) reads
    /// meta until it answers: a replayed split is applied by a replica catching up from the
    /// log, never by the range's leader, and a split whose age is unknown must not be taken
    /// for a fresh one. Opened as fresh, an old right-hand range's group would start again,
    /// after the vote quarantine, with the voters it had at the split, on a log of its own
    /// beside the range's real group. Until meta answers the right-hand range stays closed
    /// on that follower, which only delays it hearing from the new range's leader. The
    /// leader, which starts the new group, reads meta once and takes a failed read for a
    /// fresh split, so a split never waits on meta.
    async fn split_right_moved_on(
        &self,
        right: &RangeDescriptor,
        led: bool,
    ) -> Option<RangeDescriptor> {
        let mut pause = Duration::from_millis(50);
        let all = loop {
            match self.inner.sender.all_ranges().await {
                Ok(all) => break all,
                Err(_) if led => return None,
                Err(e) => {
                    tracing::warn!(
                        "{}: reading meta to tell a fresh split from a replayed one: {e}",
                        right.range_id
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        };
        all.into_iter()
            .find(|d| d.range_id == right.range_id && d.generation > right.generation)
    }

    /// One pass of the replicate queue over the ranges this node leads.
    pub async fn replicate_round(&self) {
        let Ok(all) = self.inner.sender.all_ranges().await else {
            return;
        };
        let mut infos = self.node_infos(&all);
        for replica in self.inner.store.replicas() {
            // A leader without a descriptor (its group opened for a Raft message, the split
            // that created the range never applied here) takes the one meta records.
            if replica.descriptor().is_none()
                && replica.group().is_leader()
                && let Some(d) = all.iter().find(|d| d.range_id == replica.range_id())
            {
                tracing::info!("{}: adopting its descriptor from meta", d.range_id);
                if let Err(e) = self.inner.store.open_range(d.clone()).await {
                    tracing::warn!("{}: adopting its descriptor: {e}", d.range_id);
                }
            }
            if !replica.is_leaseholder() {
                continue;
            }
            let Some(desc) = replica.descriptor() else {
                continue;
            };
            let zone = self.zone_for(&desc).await;
            let group = replica.group();
            let state = RangeReplicas {
                voters: group.voters(),
                non_voters: group.learners(),
                leaseholder: Some(self.inner.node_id),
            };
            let action = allocator::plan(&zone, &state, &infos);
            tracing::debug!(range = %desc.range_id, ?state, %action, "replicate queue");
            if matches!(action, Action::Noop) {
                if descriptor_stale(&desc, &state) {
                    let _ = self.publish_descriptor(&desc, &state).await;
                }
                continue;
            }
            tracing::info!("{}: {:?}", desc.range_id, action);
            let mut voters: BTreeSet<NodeId> = state.voters.iter().copied().collect();
            let mut learners: BTreeSet<NodeId> = state.non_voters.iter().copied().collect();
            let result = match &action {
                Action::AddVoter { node, .. } => match group.add_learner(*node).await {
                    Ok(()) => {
                        voters.insert(*node);
                        learners.remove(node);
                        group
                            .change_membership(voters.clone(), learners.clone())
                            .await
                    }
                    Err(e) => Err(e),
                },
                Action::AddNonVoter { node, .. } => {
                    learners.insert(*node);
                    group.add_learner(*node).await
                }
                Action::PromoteNonVoter { node, .. } => {
                    learners.remove(node);
                    voters.insert(*node);
                    group
                        .change_membership(voters.clone(), learners.clone())
                        .await
                }
                Action::DemoteVoter { node, .. } => {
                    voters.remove(node);
                    learners.insert(*node);
                    group
                        .change_membership(voters.clone(), learners.clone())
                        .await
                }
                Action::RemoveVoter { node, .. } => {
                    voters.remove(node);
                    group
                        .change_membership(voters.clone(), learners.clone())
                        .await
                }
                Action::RemoveNonVoter { node, .. } => {
                    learners.remove(node);
                    group
                        .change_membership(voters.clone(), learners.clone())
                        .await
                }
                Action::TransferLease { to, .. } => group.transfer_leader(*to).await,
                Action::Noop => Ok(()),
            };
            if let Err(e) = result {
                tracing::warn!("{}: {:?} failed: {e}", desc.range_id, action);
                continue;
            }
            allocator::account(&action, state.leaseholder, &mut infos);
            if !matches!(action, Action::TransferLease { .. }) {
                let state = RangeReplicas {
                    voters: group.voters(),
                    non_voters: group.learners(),
                    leaseholder: None,
                };
                if let Err(e) = self.publish_descriptor(&desc, &state).await {
                    tracing::warn!("{}: publishing descriptor: {e}", desc.range_id);
                }
            }
            for removed in desc.replicas.iter().map(|r| r.node_id) {
                if !group.voters().contains(&removed) && !group.learners().contains(&removed) {
                    let _: Result<Result<(), KvError>, _> = self
                        .rpc()
                        .call(
                            rpc::Target::Node(removed),
                            "node.gc_replica",
                            &desc.range_id,
                        )
                        .await;
                }
            }
        }
    }

    async fn publish_descriptor(
        &self,
        desc: &RangeDescriptor,
        state: &RangeReplicas,
    ) -> Result<(), KvError> {
        let replicas = state
            .voters
            .iter()
            .map(|n| ReplicaDescriptor {
                node_id: *n,
                replica_type: ReplicaType::Voter,
            })
            .chain(state.non_voters.iter().map(|n| ReplicaDescriptor {
                node_id: *n,
                replica_type: ReplicaType::NonVoter,
            }))
            .collect();
        // The span comes from the range as it is now, not from `desc`: a split may have applied
        // since `desc` was read.
        let new = self
            .inner
            .store
            .update_replicas(desc.range_id, replicas)
            .await?;
        put(
            &self.inner.sender,
            keys::meta_key(&new.end_key),
            encode(&new)?,
        )
        .await?;
        self.inner.sender.insert(new, Some(self.inner.node_id));
        Ok(())
    }
}

fn descriptor_stale(desc: &RangeDescriptor, state: &RangeReplicas) -> bool {
    let mut a: Vec<(NodeId, bool)> = desc
        .replicas
        .iter()
        .map(|r| (r.node_id, r.replica_type == ReplicaType::Voter))
        .collect();
    let mut b: Vec<(NodeId, bool)> = state
        .voters
        .iter()
        .map(|n| (*n, true))
        .chain(state.non_voters.iter().map(|n| (*n, false)))
        .collect();
    a.sort();
    b.sort();
    a != b
}

fn read_ident(engine: &dyn Engine) -> Result<Option<Ident>, NodeError> {
    match engine.get(Cf::State, IDENT_KEY)? {
        Some(v) => postcard::from_bytes(&v)
            .map(Some)
            .map_err(|e| NodeError::Other(format!("corrupt node identity: {e}"))),
        None => Ok(None),
    }
}

fn read_known_nodes(engine: &dyn Engine) -> Vec<NodeDescriptor> {
    engine
        .get(Cf::State, KNOWN_NODES_KEY)
        .ok()
        .flatten()
        .and_then(|v| postcard::from_bytes(&v).ok())
        .unwrap_or_default()
}

fn write_ident(engine: &dyn Engine, ident: &Ident) -> Result<(), NodeError> {
    let mut batch = storage::WriteBatch::new();
    batch.put(
        Cf::State,
        IDENT_KEY,
        postcard::to_stdvec(ident).map_err(|e| NodeError::Other(e.to_string()))?,
    );
    engine.write(batch, Durability::Sync)?;
    Ok(())
}

/// Waits for `node.init` or a successful join; returns the identity and whether this node
/// bootstrapped the cluster.
async fn wait_for_identity(
    cfg: &KvNodeConfig,
    engine: &dyn Engine,
    rpc: &rpc::Rpc,
    registry: &rpc::Registry,
    nodes: &Arc<NodeDirectory>,
) -> Result<(Ident, bool), NodeError> {
    let (init_tx, mut init_rx) =
        tokio::sync::mpsc::channel::<tokio::sync::oneshot::Sender<Result<(), String>>>(1);
    registry.unary("node.init", move |_c, _req: ()| {
        let init_tx = init_tx.clone();
        async move {
            let (tx, rx) = tokio::sync::oneshot::channel();
            if init_tx.send(tx).await.is_err() {
                return Ok::<Result<(), String>, rpc::RpcError>(Err(
                    NodeError::AlreadyInitialized.to_string()
                ));
            }
            Ok(rx.await.unwrap_or_else(|_| Err("node stopped".into())))
        }
    });
    let req = JoinRequest {
        address: cfg.advertise_addr.clone(),
        sql_address: cfg.sql_addr.clone(),
        http_address: cfg.http_addr.clone(),
        locality: cfg.locality.clone(),
    };
    let peers: Vec<String> = cfg
        .join
        .iter()
        .filter(|a| **a != cfg.advertise_addr)
        .cloned()
        .collect();
    let started = tokio::time::Instant::now();
    let mut last = String::from("no peer answered");
    let mut any_reached = false;
    loop {
        tokio::select! {
            Some(reply) = init_rx.recv() => {
                let ident = Ident { cluster_id: uuid::Uuid::new_v4().to_string(), node_id: NodeId(1) };
                write_ident(engine, &ident)?;
                let _ = reply.send(Ok(()));
                return Ok((ident, true));
            }
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        for peer in &peers {
            let resp: Result<Result<JoinResponse, String>, rpc::RpcError> = rpc
                .call_timeout(
                    rpc::Target::Addr(peer.clone()),
                    "node.join",
                    &req,
                    Duration::from_secs(5),
                )
                .await;
            match resp {
                Ok(Ok(j)) => {
                    for d in j.nodes {
                        nodes.upsert(d, true);
                    }
                    let ident = Ident {
                        cluster_id: j.cluster_id,
                        node_id: j.node_id,
                    };
                    write_ident(engine, &ident)?;
                    return Ok((ident, false));
                }
                Ok(Err(e)) => {
                    any_reached = true;
                    last = format!("{peer}: {e}");
                }
                Err(rpc::RpcError::UnknownMethod(_)) => {
                    any_reached = true;
                    last = format!("{peer}: cluster not initialized yet (run `sextant init`)");
                }
                Err(rpc::RpcError::ClockOffset(e)) => {
                    return Err(NodeError::ClockOffset(format!("{peer}: {e}")));
                }
                Err(e) => last = format!("{peer}: {e}"),
            }
        }
        // Reachable but uninitialised peers mean the operator has yet to run `init`: keep
        // waiting. Unreachable peers past the timeout are an error.
        if !peers.is_empty() && !any_reached && started.elapsed() > cfg.join_timeout {
            return Err(NodeError::JoinFailed {
                addrs: peers.join(","),
                secs: cfg.join_timeout.as_secs(),
                last,
            });
        }
    }
}

fn node_key(id: NodeId) -> Key {
    keys::system_key(&format!("node/{:020}", id.0))
}

fn liveness_key(id: NodeId) -> Key {
    keys::system_key(&format!("liveness/{:020}", id.0))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, KvError> {
    postcard::to_stdvec(v).map_err(|e| KvError::Internal(e.to_string()))
}

async fn put(s: &DistSender, key: Key, value: Vec<u8>) -> Result<(), KvError> {
    let ba = BatchRequest {
        header: Header {
            gateway: s.node_id(),
            ..Default::default()
        },
        requests: vec![Request::Put { key, value }],
    };
    s.send(ba).await.map(|_| ())
}

async fn get(s: &DistSender, key: Key) -> Result<Option<Vec<u8>>, KvError> {
    let ba = BatchRequest {
        header: Header {
            gateway: s.node_id(),
            ..Default::default()
        },
        requests: vec![Request::Get { key }],
    };
    match s.send(ba).await?.responses.into_iter().next() {
        Some(Response::Get(v)) => Ok(v.map(|kv| kv.value)),
        _ => Ok(None),
    }
}

async fn increment(s: &DistSender, key: Key, delta: i64) -> Result<i64, KvError> {
    let ba = BatchRequest {
        header: Header {
            gateway: s.node_id(),
            ..Default::default()
        },
        requests: vec![Request::Increment { key, delta }],
    };
    match s.send(ba).await?.responses.into_iter().next() {
        Some(Response::Increment(v)) => Ok(v),
        _ => Err(KvError::Internal("bad increment response".into())),
    }
}

async fn scan_prefix(s: &DistSender, prefix: &str) -> Result<Vec<KeyValue>, KvError> {
    let start = keys::system_key(prefix);
    let span = Span::prefix(&start.0);
    let ba = BatchRequest {
        header: Header {
            gateway: s.node_id(),
            ..Default::default()
        },
        requests: vec![Request::Scan {
            span,
            max_keys: 0,
            reverse: false,
        }],
    };
    match s.send(ba).await?.responses.into_iter().next() {
        Some(Response::Scan { rows, .. }) => Ok(rows),
        _ => Ok(vec![]),
    }
}

/// Reads a key outside a transaction at the present.
pub async fn kv_get(s: &DistSender, key: Key) -> Result<Option<Vec<u8>>, KvError> {
    get(s, key).await
}

/// Asks the node at `addr` to bootstrap a new cluster (`node.init`), retrying until `timeout`
/// while it is not serving the call yet (a node registers `node.init` once its start has
/// begun) or not reachable yet. The error is the node's refusal, or the last failure.
pub async fn bootstrap(rpc: &rpc::Rpc, addr: &str, timeout: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let r: Result<Result<(), String>, rpc::RpcError> = rpc
            .call(rpc::Target::Addr(addr.to_string()), "node.init", &())
            .await;
        match r {
            Ok(answer) => return answer,
            Err(e) if e.is_retryable() || matches!(e, rpc::RpcError::UnknownMethod(_)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(format!("node.init at {addr}: {e}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(format!("node.init at {addr}: {e}")),
        }
    }
}

/// Writes a key outside a transaction.
pub async fn kv_put(s: &DistSender, key: Key, value: Vec<u8>) -> Result<(), KvError> {
    put(s, key, value).await
}
