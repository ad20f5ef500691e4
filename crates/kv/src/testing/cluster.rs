//! [`TestCluster`]: N KV nodes in this process, and what upper crates layer on each.

use std::collections::HashSet;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock, OffsetPhysicalClock};
use base::{Clock, Key, NodeId};
use locality::Locality;
use rpc::{Rpc, RpcContext, TransportFilters};
use storage::{Engine, FjallEngine, MemoryEngine};

use super::endpoint::Endpoint;
use crate::node::{KvNode, KvNodeConfig, kv_get};

/// What an upper crate runs on each node of a [`TestCluster`] (a SQL server, a job registry,
/// hooks): the result of the closure given to [`ClusterBuilder::layer`].
pub trait Layer: Send + Sync + 'static {
    /// Called when the node is killed, before its KV node stops (stop background work here).
    fn stop(&self) {}
}

impl Layer for () {}

/// What a layer closure gets for one node: the node just started and where it serves.
pub struct NodeContext<'a> {
    /// The node's index in [`TestCluster::nodes`].
    pub index: usize,
    /// The KV node, started.
    pub node: &'a KvNode,
    /// The node's rpc registry, to register the layer's handlers on.
    pub registry: &'a rpc::Registry,
    /// A directory of the node's own that lives as long as the cluster (and keeps its
    /// contents across a restart).
    pub dir: &'a Path,
}

type Configure = dyn Fn(usize, &mut KvNodeConfig) + Send + Sync;
type LayerFn<T> = dyn Fn(&NodeContext<'_>) -> T + Send + Sync;

/// How a cluster's nodes are made: kept for nodes added or restarted later.
struct Spec<T> {
    configure: Arc<Configure>,
    layer: Arc<LayerFn<T>>,
    offsets_ms: Vec<i64>,
    on_disk: bool,
}

impl<T> Clone for Spec<T> {
    fn clone(&self) -> Spec<T> {
        Spec {
            configure: self.configure.clone(),
            layer: self.layer.clone(),
            offsets_ms: self.offsets_ms.clone(),
            on_disk: self.on_disk,
        }
    }
}

/// Builds a [`TestCluster`]; see [`TestCluster::builder`].
pub struct ClusterBuilder<T> {
    localities: Vec<String>,
    spec: Spec<T>,
}

impl<T: Layer> ClusterBuilder<T> {
    /// Node `i`'s physical clock `offsets_ms[i]` milliseconds off the wall clock (missing
    /// entries: 0).
    pub fn clock_offsets_ms(mut self, offsets_ms: &[i64]) -> ClusterBuilder<T> {
        self.spec.offsets_ms = offsets_ms.to_vec();
        self
    }

    /// Changes node `i`'s configuration after the kit has set it up
    /// ([`KvNodeConfig::fast_for_tests`], its locality, address and join list).
    pub fn configure(
        mut self,
        configure: impl Fn(usize, &mut KvNodeConfig) + Send + Sync + 'static,
    ) -> ClusterBuilder<T> {
        self.spec.configure = Arc::new(configure);
        self
    }

    /// Nodes on fjall engines in directories of the cluster's (memory engines by default).
    pub fn on_disk(mut self) -> ClusterBuilder<T> {
        self.spec.on_disk = true;
        self
    }

    /// Runs `layer` on every node once its KV node has started, and again when it is
    /// restarted; each [`TestNode`] dereferences to the result.
    pub fn layer<U: Layer>(
        self,
        layer: impl Fn(&NodeContext<'_>) -> U + Send + Sync + 'static,
    ) -> ClusterBuilder<U> {
        ClusterBuilder {
            localities: self.localities,
            spec: Spec {
                configure: self.spec.configure,
                layer: Arc::new(layer),
                offsets_ms: self.spec.offsets_ms,
                on_disk: self.spec.on_disk,
            },
        }
    }

    /// Starts one node per locality, all at once: node 0 is bootstrapped, the others join it.
    /// Returns once every node sees every node live.
    pub async fn start(self) -> TestCluster<T> {
        super::init_tracing();
        assert!(!self.localities.is_empty(), "a cluster needs a node");
        let dir = tempfile::Builder::new()
            .prefix("sextant-test-")
            .tempdir()
            .expect("cluster directory");
        let mut c = TestCluster {
            nodes: Vec::new(),
            filters: TransportFilters::new(),
            spec: self.spec,
            dir,
        };
        let mut starting: Vec<(Slot, _)> = Vec::new();
        for (i, loc) in self.localities.iter().enumerate() {
            let join = starting.first().map(|(s, _)| s.addr.clone());
            starting.push(c.prepare(i, loc, join.into_iter().collect()).await);
        }
        let client = Rpc::new(Arc::new(RpcContext::new(Arc::new(HybridClock::system(
            DEFAULT_MAX_OFFSET,
        )))));
        Box::pin(crate::node::bootstrap(
            &client,
            &starting[0].0.addr,
            Duration::from_secs(20),
        ))
        .await
        .expect("bootstrap the cluster on node 0");
        for (slot, started) in starting {
            let started = started.await.expect("node start task");
            c.nodes.push(TestNode::new(slot, started));
        }
        c.wait_all_live(Duration::from_secs(30)).await;
        c
    }
}

/// An in-process cluster; see the [module](super) documentation.
pub struct TestCluster<T = ()> {
    /// The nodes, in start order. Node 0 bootstrapped the cluster; the others' node ids
    /// follow the order in which they joined.
    pub nodes: Vec<TestNode<T>>,
    /// Transport rules shared by every node (partitions, drops, delays).
    pub filters: TransportFilters,
    spec: Spec<T>,
    // Dropped last: the nodes' directories and on-disk stores live in it.
    dir: tempfile::TempDir,
}

impl TestCluster<()> {
    /// A cluster of one node per locality (`region=a,az=1`), to configure and start.
    pub fn builder(localities: &[&str]) -> ClusterBuilder<()> {
        ClusterBuilder {
            localities: localities.iter().map(|l| l.to_string()).collect(),
            spec: Spec {
                configure: Arc::new(|_, _| {}),
                layer: Arc::new(|_| ()),
                offsets_ms: Vec::new(),
                on_disk: false,
            },
        }
    }

    /// Starts one KV node per locality.
    pub async fn start(localities: &[&str]) -> TestCluster {
        TestCluster::builder(localities).start().await
    }

    /// [`TestCluster::start`] with node `i`'s clock `offsets_ms[i]` milliseconds off (missing
    /// entries: 0) and every node's configuration changed by `configure`.
    pub async fn start_with(
        localities: &[&str],
        offsets_ms: &[i64],
        configure: impl Fn(&mut KvNodeConfig) + Send + Sync + 'static,
    ) -> TestCluster {
        TestCluster::builder(localities)
            .clock_offsets_ms(offsets_ms)
            .configure(move |_, cfg| configure(cfg))
            .start()
            .await
    }
}

impl<T: Layer> TestCluster<T> {
    /// Serves node `i` and spawns its start; the node is not started until the task ends.
    async fn prepare(
        &self,
        i: usize,
        locality: &str,
        join: Vec<String>,
    ) -> (Slot, tokio::task::JoinHandle<Started<T>>) {
        let physical = OffsetPhysicalClock::new();
        let offset_ms = self.spec.offsets_ms.get(i).copied().unwrap_or(0);
        physical.set_offset(offset_ms * 1_000_000);
        let clock: Arc<dyn Clock> = Arc::new(HybridClock::new(physical, DEFAULT_MAX_OFFSET));
        let endpoint = Endpoint::bind("127.0.0.1:0", clock.clone(), &self.filters).await;
        let mut cfg = KvNodeConfig {
            locality: Locality::parse(locality)
                .unwrap_or_else(|e| panic!("locality {locality:?}: {e}")),
            advertise_addr: endpoint.addr.clone(),
            join,
            ..KvNodeConfig::fast_for_tests()
        };
        (self.spec.configure)(i, &mut cfg);
        let dir = self.dir.path().join(format!("n{i}"));
        std::fs::create_dir_all(&dir).expect("node directory");
        let engine: Arc<dyn Engine> = if self.spec.on_disk {
            let store = dir.join("store");
            Arc::new(
                FjallEngine::open(&store)
                    .unwrap_or_else(|e| panic!("open the store in {}: {e}", store.display())),
            )
        } else {
            Arc::new(MemoryEngine::new())
        };
        let slot = Slot {
            index: i,
            addr: endpoint.addr.clone(),
            cfg,
            clock,
            engine,
            dir,
            endpoint: Some(endpoint),
        };
        let started = slot.spawn_start(&self.spec);
        (slot, started)
    }

    /// Starts one more node of `locality`, joining through node 0, and waits until every
    /// node sees it live. Returns its index.
    pub async fn add_node(&mut self, locality: &str) -> usize {
        let i = self.nodes.len();
        let join = vec![self.nodes[0].slot.addr.clone()];
        let (slot, started) = self.prepare(i, locality, join).await;
        let started = started.await.expect("node start task");
        self.nodes.push(TestNode::new(slot, started));
        self.wait_all_live(Duration::from_secs(30)).await;
        i
    }

    /// Kills node `i` (see [`TestNode::kill`]).
    pub async fn kill(&mut self, i: usize) {
        self.nodes[i].kill().await;
    }

    /// Starts killed node `i` again on its engine and its address, with its layer started
    /// anew; it rejoins with the identity and replicas it kept. Waits until every node sees it
    /// live.
    pub async fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].running, "node {i} is running");
        let peers: Vec<String> = (0..self.nodes.len())
            .filter(|j| *j != i)
            .map(|j| self.nodes[j].slot.addr.clone())
            .collect();
        let slot = &mut self.nodes[i].slot;
        slot.cfg.join = peers;
        slot.endpoint = Some(Endpoint::bind(&slot.addr, slot.clock.clone(), &self.filters).await);
        let started = slot.spawn_start(&self.spec);
        let started = started.await.expect("node restart task");
        self.nodes[i].restarted(started);
        self.wait_all_live(Duration::from_secs(30)).await;
    }

    /// Stops every running node.
    pub async fn shutdown(mut self) {
        for n in &mut self.nodes {
            if n.running {
                n.kill().await;
            }
        }
    }

    /// The node with id `id`.
    ///
    /// # Panics
    /// When no node has that id.
    pub fn node(&self, id: NodeId) -> &TestNode<T> {
        &self.nodes[self.index_of(id)]
    }

    /// The index of the node with id `id`.
    ///
    /// # Panics
    /// When no node has that id.
    pub fn index_of(&self, id: NodeId) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id() == id)
            .unwrap_or_else(|| panic!("no node {id} in the cluster"))
    }

    /// The region of node `id`, as node 0's directory knows it (empty without one).
    pub fn region(&self, id: NodeId) -> String {
        self.nodes[0]
            .node
            .directory()
            .locality(id)
            .region()
            .unwrap_or_default()
            .to_string()
    }

    /// Node `i`'s directory (see [`NodeContext::dir`]).
    pub fn node_dir(&self, i: usize) -> &Path {
        &self.nodes[i].slot.dir
    }

    /// The cluster's directory, removed with it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The ids of the running nodes.
    fn running_ids(&self) -> HashSet<NodeId> {
        self.nodes
            .iter()
            .filter(|n| n.running)
            .map(|n| n.id())
            .collect()
    }

    /// A running node, to look at the cluster through.
    fn observer(&self) -> &KvNode {
        self.nodes
            .iter()
            .find(|n| n.running)
            .map(|n| &n.node)
            .expect("a running node")
    }

    /// Waits until every running node's directory, refreshed, shows every running node live:
    /// job placement and liveness checks read the directory, and on a loaded machine a
    /// node's liveness can lapse for a moment.
    pub async fn wait_all_live(&self, timeout: Duration) {
        let running = self.running_ids();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut all = true;
            for t in self.nodes.iter().filter(|n| n.running) {
                // Boxed: the KV request futures nest deeply.
                Box::pin(t.node.refresh_directory()).await;
                let dir = t.node.directory();
                all &= running.iter().all(|id| dir.is_live(*id));
            }
            if all {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not every node sees {} live nodes within {timeout:?}",
                running.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every range has `voters` voters and a leaseholder.
    pub async fn wait_replicated(&self, voters: usize, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match Box::pin(self.observer().ranges()).await {
                Ok(ranges) => {
                    let ok = !ranges.is_empty()
                        && ranges
                            .iter()
                            .all(|r| r.desc.voters().count() == voters && r.leaseholder.is_some());
                    if ok {
                        return;
                    }
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "not replicated in {timeout:?}: {ranges:#?}"
                    );
                }
                Err(e) => assert!(tokio::time::Instant::now() < deadline, "ranges: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every range has, on running nodes, the voters and replicas its zone config
    /// asks for (at most one per running node) and a leaseholder.
    ///
    /// Up-replication adds one voter at a time, so a new range passes through two voters,
    /// where losing either one loses quorum for good: a test that kills a node waits for this
    /// first.
    pub async fn wait_full_replication(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let gaps = self.replication_gaps().await;
            if gaps.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not fully replicated within {timeout:?}: {}",
                gaps.join("; ")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What keeps the cluster from full replication, one line per range; empty when nothing.
    async fn replication_gaps(&self) -> Vec<String> {
        let live = self.running_ids();
        let node = self.observer();
        let ranges =
            match tokio::time::timeout(Duration::from_secs(5), Box::pin(node.ranges())).await {
                Ok(Ok(ranges)) if ranges.is_empty() => return vec!["no ranges yet".into()],
                Ok(Ok(ranges)) => ranges,
                Ok(Err(e)) => return vec![format!("listing ranges: {e}")],
                Err(_) => return vec!["listing ranges timed out".into()],
            };
        let mut gaps = Vec::new();
        for r in ranges {
            let zone = Box::pin(node.zone_for(&r.desc)).await;
            let want_voters = (zone.voters() as usize).min(live.len());
            let want_all = (zone.num_replicas as usize).min(live.len());
            let voters = r.desc.voters().filter(|n| live.contains(n)).count();
            let all = (r.desc.replicas.iter())
                .filter(|rep| live.contains(&rep.node_id))
                .count();
            let leased = r.leaseholder.is_some_and(|l| live.contains(&l));
            if voters != want_voters || all != want_all || !leased {
                gaps.push(format!(
                    "{}: {all}/{want_all} replicas, {voters}/{want_voters} voters, \
                     leaseholder {:?}",
                    r.desc.range_id, r.leaseholder
                ));
            }
        }
        gaps
    }

    /// The index of the node holding a valid lease on the range of `k` (reading `k` through
    /// node 0 meanwhile, so that a lease is set up).
    pub async fn leaseholder_of(&self, k: &Key) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let via = self.observer();
        loop {
            let desc = Box::pin(via.sender().lookup(k)).await.expect("lookup");
            let holder = self.nodes.iter().position(|n| {
                n.running
                    && n.node
                        .store()
                        .replica(desc.range_id)
                        .is_some_and(|r| r.is_leaseholder() && r.lease_valid())
            });
            if let Some(i) = holder {
                return i;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leaseholder for {k}"
            );
            let _ = Box::pin(kv_get(via.sender(), k.clone())).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// What a node's start task hands back.
struct Started<T> {
    node: KvNode,
    layer: T,
}

/// What makes a node, kept across its restarts.
struct Slot {
    index: usize,
    addr: String,
    cfg: KvNodeConfig,
    clock: Arc<dyn Clock>,
    /// The engine, which a restart starts the node on again (an on-disk one stays open: the
    /// stopped node's handle, which tests may still read, keeps it).
    engine: Arc<dyn Engine>,
    dir: PathBuf,
    /// The rpc server, while the node runs.
    endpoint: Option<Endpoint>,
}

impl Slot {
    /// Spawns the start of the KV node on this slot's endpoint, and of its layer after it.
    fn spawn_start<T: Layer>(&self, spec: &Spec<T>) -> tokio::task::JoinHandle<Started<T>> {
        let endpoint = self.endpoint.as_ref().expect("an endpoint to start on");
        let (rpc, registry) = (endpoint.rpc.clone(), endpoint.registry.clone());
        let engine = self.engine.clone();
        let (cfg, clock, dir) = (self.cfg.clone(), self.clock.clone(), self.dir.clone());
        let (index, layer) = (self.index, spec.layer.clone());
        tokio::spawn(async move {
            let node = KvNode::start(cfg, engine, clock, rpc, &registry)
                .await
                .unwrap_or_else(|e| panic!("node {index} start: {e}"));
            let ctx = NodeContext {
                index,
                node: &node,
                registry: &registry,
                dir: &dir,
            };
            let layer = layer(&ctx);
            Started { node, layer }
        })
    }
}

/// One node of a [`TestCluster`]: its KV node, its rpc server, and its layer, which the
/// node dereferences to (`c.nodes[0].jobs` for a layer with a `jobs` field).
pub struct TestNode<T = ()> {
    /// The KV node (after a kill, the stopped one; after a restart, the new one).
    pub node: KvNode,
    layer: T,
    slot: Slot,
    running: bool,
}

impl<T: Layer> TestNode<T> {
    fn new(slot: Slot, s: Started<T>) -> TestNode<T> {
        TestNode {
            node: s.node,
            layer: s.layer,
            slot,
            running: true,
        }
    }

    fn restarted(&mut self, s: Started<T>) {
        self.node = s.node;
        self.layer = s.layer;
        self.running = true;
    }

    /// Kills the node as a crash would look to the others: its layer stops
    /// ([`Layer::stop`]), it stops serving rpc, and its KV loops and Raft groups stop. The
    /// others notice by liveness. Killing a killed node does nothing.
    pub async fn kill(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        self.layer.stop();
        if let Some(mut endpoint) = self.slot.endpoint.take() {
            endpoint.stop().await;
        }
        Box::pin(self.node.shutdown()).await;
    }
}

impl<T> TestNode<T> {
    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.node.node_id()
    }

    /// The node's rpc address (`127.0.0.1:port`), kept across restarts.
    pub fn addr(&self) -> &str {
        &self.slot.addr
    }

    /// Whether the node runs (it was not killed, or was restarted since).
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// What the layer closure returned for this node.
    pub fn layer(&self) -> &T {
        &self.layer
    }
}

impl<T> Deref for TestNode<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.layer
    }
}

impl<T> DerefMut for TestNode<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.layer
    }
}
