//! A toy Raft cluster for the tests of the Raft layer: groups over real rpc endpoints on
//! loopback ([`RpcNode`]), whose commands write straight into `Cf::Data` under the range id.
//! The raft and quiescence tests share it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base::{NodeId, RangeId};
use futures::future::BoxFuture;
use parking_lot::Mutex;
use rpc::{AddressBook, TransportFilters};
use sextant_kv::command::{CommandResult, RaftCommand, RawWrite};
use sextant_kv::raft::{
    Applier, GroupFactory, InstallPlan, RaftConfig, RaftGroup, RaftRouter, RaftTransport,
    SnapshotContent,
};
use storage::{Cf, Engine, MemoryEngine, Reader, WriteBatch};

use crate::{RpcNode, eventually};

/// How long the toy tests wait for a leader or for replicas to converge.
pub const WAIT: Duration = Duration::from_secs(10);

/// Node ids from numbers.
pub fn ids(ids: &[u64]) -> Vec<NodeId> {
    ids.iter().copied().map(NodeId).collect()
}

/// A range's data: (key, value) in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A toy state machine: a command's writes go straight into `Cf::Data`, under the range id.
#[derive(Default)]
pub struct ToyApplier {
    /// Snapshots installed.
    pub installs: AtomicUsize,
    /// Commands applied (counted by `applied`).
    pub applied: AtomicUsize,
    /// Every membership reported, in order.
    pub memberships: Mutex<Vec<(Vec<NodeId>, Vec<NodeId>)>>,
}

pub fn data_key(range: RangeId, key: &[u8]) -> Vec<u8> {
    [&range.0.to_be_bytes()[..], key].concat()
}

pub fn range_data(reader: &dyn Reader, range: RangeId) -> Result<Pairs, String> {
    let start = range.0.to_be_bytes();
    let end = (range.0 + 1).to_be_bytes();
    reader
        .scan(Cf::Data, &start, &end, false)
        .map(|kv| kv.map_err(|e| e.to_string()))
        .collect()
}

impl Applier for ToyApplier {
    fn apply(
        &self,
        range: RangeId,
        index: u64,
        cmd: &RaftCommand,
        batch: &mut WriteBatch,
    ) -> CommandResult {
        for w in &cmd.writes {
            match w {
                RawWrite::Put(k, v) => batch.put(Cf::Data, data_key(range, k), v.clone()),
                RawWrite::Delete(k) => batch.delete(Cf::Data, data_key(range, k)),
            }
        }
        CommandResult { index, error: None }
    }

    fn applied(&self, _: RangeId, _: u64, _: &RaftCommand, _: &CommandResult) {
        self.applied.fetch_add(1, Ordering::Relaxed);
    }

    fn membership_changed(&self, _: RangeId, voters: Vec<NodeId>, learners: Vec<NodeId>) {
        self.memberships.lock().push((voters, learners));
    }

    fn snapshot_content(&self, range: RangeId, _: &dyn Reader) -> Result<SnapshotContent, String> {
        Ok(SnapshotContent {
            header: b"toy".to_vec(),
            spans: vec![range_span(range)],
        })
    }

    fn plan_install(&self, range: RangeId, header: &[u8]) -> Result<InstallPlan, String> {
        if header != b"toy" {
            return Err(format!("not a toy snapshot: {header:?}"));
        }
        Ok(InstallPlan {
            spans: vec![range_span(range)],
            finish: WriteBatch::new(),
        })
    }

    fn begin_install(&self, _: RangeId, _: &InstallPlan) -> Box<dyn Send> {
        Box::new(())
    }

    fn installed(&self, _: RangeId, _: &[u8]) {
        self.installs.fetch_add(1, Ordering::Relaxed);
    }
}

/// The raw keys of a range's data in the toy layout.
fn range_span(range: RangeId) -> (Vec<u8>, Vec<u8>) {
    (
        range.0.to_be_bytes().to_vec(),
        (range.0 + 1).to_be_bytes().to_vec(),
    )
}

/// Opens uninitialized groups for ranges a leader sends to this node, and records them.
struct OpenOnDemand {
    node: NodeId,
    engine: Arc<dyn Engine>,
    transport: RaftTransport,
    applier: Arc<ToyApplier>,
    cfg: RaftConfig,
    created: Arc<Mutex<Vec<RangeId>>>,
    refuse: bool,
}

impl GroupFactory for OpenOnDemand {
    fn create(&self, range: RangeId) -> BoxFuture<'static, Option<RaftGroup>> {
        self.created.lock().push(range);
        if self.refuse {
            return Box::pin(async { None });
        }
        let (node, engine, transport) = (self.node, self.engine.clone(), self.transport.clone());
        let (applier, cfg) = (self.applier.clone() as Arc<dyn Applier>, self.cfg.clone());
        Box::pin(async move {
            RaftGroup::open(range, node, engine, transport, applier, &cfg)
                .await
                .ok()
        })
    }
}

/// One node: rpc endpoint, router, engine, applier.
pub struct ToyNode {
    pub id: NodeId,
    pub rpc: RpcNode,
    pub router: RaftRouter,
    pub engine: Arc<dyn Engine>,
    pub applier: Arc<ToyApplier>,
    /// The ranges the factory was asked to open.
    pub created: Arc<Mutex<Vec<RangeId>>>,
}

impl ToyNode {
    pub async fn start(
        id: u64,
        engine: Arc<dyn Engine>,
        book: &Arc<AddressBook>,
        filters: &TransportFilters,
    ) -> ToyNode {
        let id = NodeId(id);
        let rpc = RpcNode::start(id, book, filters).await;
        let router = RaftRouter::new(id, rpc.rpc.clone());
        router.register_handlers(&rpc.registry);
        let applier = Arc::new(ToyApplier::default());
        ToyNode {
            id,
            rpc,
            router,
            engine,
            applier,
            created: Arc::default(),
        }
    }

    /// Opens groups for ranges a leader sends to this node (`refuse`: the factory declines).
    pub fn set_factory(&self, cfg: &RaftConfig, refuse: bool) {
        self.router.set_factory(Arc::new(OpenOnDemand {
            node: self.id,
            engine: self.engine.clone(),
            transport: self.router.transport(),
            applier: self.applier.clone(),
            cfg: cfg.clone(),
            created: self.created.clone(),
            refuse,
        }));
    }

    /// Opens `range` on this node and registers it with the router.
    pub async fn open(&self, range: RangeId, cfg: &RaftConfig) -> RaftGroup {
        let applier = self.applier.clone() as Arc<dyn Applier>;
        let g = RaftGroup::open(
            range,
            self.id,
            self.engine.clone(),
            self.router.transport(),
            applier,
            cfg,
        )
        .await
        .expect("open group");
        self.router.insert(g.clone());
        g
    }

    /// This node's replica of `range`.
    pub fn group(&self, range: RangeId) -> RaftGroup {
        self.router.get(range).expect("group")
    }

    /// This node's data of `range`.
    pub fn data(&self, range: RangeId) -> Pairs {
        range_data(&*self.engine, range).expect("scan")
    }

    /// Shuts every group down and stops serving.
    pub async fn stop(&mut self) {
        for g in self.router.groups() {
            g.shutdown().await;
        }
        self.rpc.stop().await;
    }
}

/// Nodes sharing an address book and transport filters.
pub struct ToyCluster {
    pub nodes: Vec<ToyNode>,
    book: Arc<AddressBook>,
    filters: TransportFilters,
}

impl ToyCluster {
    /// `n` nodes on memory engines.
    pub async fn start(n: u64) -> ToyCluster {
        let engines = (0..n)
            .map(|_| Arc::new(MemoryEngine::new()) as Arc<dyn Engine>)
            .collect();
        ToyCluster::with_engines(engines).await
    }

    /// One node per engine.
    pub async fn with_engines(engines: Vec<Arc<dyn Engine>>) -> ToyCluster {
        let book = Arc::new(AddressBook::new());
        let filters = TransportFilters::new();
        let mut nodes = Vec::new();
        for (i, engine) in engines.into_iter().enumerate() {
            nodes.push(ToyNode::start(i as u64 + 1, engine, &book, &filters).await);
        }
        ToyCluster {
            nodes,
            book,
            filters,
        }
    }

    /// One more node, on `engine`.
    pub async fn add_node(&mut self, engine: Arc<dyn Engine>) -> &ToyNode {
        let id = self.nodes.len() as u64 + 1;
        let node = ToyNode::start(id, engine, &self.book, &self.filters).await;
        self.nodes.push(node);
        self.nodes.last().expect("node")
    }

    /// The node with id `id`.
    pub fn node(&self, id: NodeId) -> &ToyNode {
        self.nodes.iter().find(|n| n.id == id).expect("node")
    }

    /// Opens `range` on the first `voters` nodes and initializes it on each of them.
    pub async fn create_range(&self, range: RangeId, voters: usize, cfg: &RaftConfig) {
        let ids: Vec<NodeId> = self.nodes[..voters].iter().map(|n| n.id).collect();
        let mut groups = Vec::new();
        for node in &self.nodes[..voters] {
            groups.push(node.open(range, cfg).await);
        }
        for g in groups {
            g.initialize(&ids).await.expect("initialize");
        }
    }

    /// The replicas of `range` on `ids`.
    pub fn groups(&self, range: RangeId, ids: &[NodeId]) -> Vec<RaftGroup> {
        ids.iter().map(|&id| self.node(id).group(range)).collect()
    }

    /// The leader of `range` among the nodes in `alive`, once one is known to it.
    pub async fn leader(&self, range: RangeId, alive: &[NodeId]) -> RaftGroup {
        let mut found = None;
        eventually(WAIT, "a leader", || {
            found = alive
                .iter()
                .map(|&id| self.node(id).group(range))
                .find(|g| g.is_leader());
            found.is_some()
        })
        .await;
        found.expect("leader")
    }

    /// Waits until every node in `ids` applied as far as their leader (which applied every
    /// acknowledged proposal), then checks their data are equal; returns it.
    pub async fn converged(&self, range: RangeId, ids: &[NodeId]) -> Pairs {
        let want = self.leader(range, ids).await.applied_index();
        eventually(WAIT, "replicas converge", || {
            ids.iter()
                .all(|&id| self.node(id).group(range).applied_index() >= want)
        })
        .await;
        let data = self.node(ids[0]).data(range);
        for &id in &ids[1..] {
            assert_eq!(
                self.node(id).data(range),
                data,
                "data of {id} differs from {}",
                ids[0]
            );
        }
        data
    }

    /// Stops every node.
    pub async fn stop(&mut self) {
        for node in &mut self.nodes {
            node.stop().await;
        }
    }
}

/// CPU time this thread spent running, from the scheduler (ns). A current-thread test runtime
/// runs all of the test's tasks on it.
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}
