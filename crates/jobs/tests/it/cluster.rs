//! An in-process cluster: KV nodes with localities on loopback RPC, each with a job registry
//! and the test resumer and processor registered.

use std::sync::Arc;
use std::time::Duration;

use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use base::{Clock, NodeId};
use kv::node::{KvNode, KvNodeConfig, LivenessConfig};
use locality::Locality;
use rpc::{Registry as RpcRegistry, Rpc, RpcContext, RpcOptions, RpcServer};
use sextant_jobs::{JobId, JobRecord, JobStatus, Registry, RegistryConfig};
use storage::MemoryEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::testjob::{self, Log};

/// One in-process node.
pub struct TestNode {
    pub node: KvNode,
    pub jobs: Registry,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestNode {
    /// Kills the node: its jobs stop, it stops serving, its KV loops and groups stop.
    pub async fn kill(&mut self) {
        self.jobs.stop();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
        self.node.shutdown().await;
    }

    pub fn id(&self) -> NodeId {
        self.node.node_id()
    }
}

/// An in-process cluster.
pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    /// What the test resumers and processors did, on every node.
    pub log: Log,
}

async fn serve() -> (
    RpcRegistry,
    Rpc,
    Arc<RpcContext>,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let clock: Arc<dyn Clock> = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
    let ctx = Arc::new(RpcContext::new(clock));
    let options = RpcOptions {
        connect_timeout: Duration::from_millis(500),
        ..RpcOptions::default()
    };
    let rpc = Rpc::with_options(ctx.clone(), options);
    let registry = RpcRegistry::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = registry.clone();
    let server_ctx = ctx.clone();
    let server = tokio::spawn(async move {
        let _ = RpcServer::serve(serving, server_ctx, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    (registry, rpc, ctx, addr, stop, server)
}

impl TestCluster {
    /// Starts one node per locality (the first bootstraps, the others join it), each with a
    /// job registry using `cfg`, and waits until every node sees every other one live and
    /// every range is fully replicated.
    pub async fn start(localities: &[&str], cfg: RegistryConfig) -> TestCluster {
        let log = Log::default();
        let mut pending = Vec::new();
        let mut first_addr = String::new();
        for (i, loc) in localities.iter().enumerate() {
            let (registry, rpc, ctx, addr, stop, server) = serve().await;
            if i == 0 {
                first_addr = addr.clone();
            }
            let kv_cfg = KvNodeConfig {
                locality: Locality::parse(loc).expect("locality"),
                advertise_addr: addr.clone(),
                join: vec![first_addr.clone()],
                liveness: liveness(),
                ..KvNodeConfig::fast_for_tests()
            };
            let clock = ctx.clock.clone();
            let engine = Arc::new(MemoryEngine::new());
            let cfg = cfg.clone();
            let log = log.clone();
            let start = tokio::spawn(async move {
                let node = KvNode::start(kv_cfg, engine, clock, rpc, &registry)
                    .await
                    .expect("node start");
                let jobs = Registry::start(node.clone(), &registry, cfg);
                testjob::register(&jobs, &log);
                (node, jobs)
            });
            pending.push((Some(start), None, stop, server));
            if i == 0 {
                let client_clock: Arc<dyn Clock> =
                    Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
                let client = Rpc::new(Arc::new(RpcContext::new(client_clock)));
                kv::node::bootstrap(&client, &first_addr, Duration::from_secs(20))
                    .await
                    .expect("init");
                // The others join once the first node has its ranges.
                let (start, done, ..) = pending.last_mut().expect("first node");
                *done = Some(start.take().expect("task").await.expect("first node start"));
            }
        }
        let mut nodes = Vec::new();
        for (start, done, stop, server) in pending {
            let (node, jobs) = match (start, done) {
                (_, Some(started)) => started,
                (Some(start), None) => start.await.expect("join task"),
                (None, None) => unreachable!("a node is either started or starting"),
            };
            nodes.push(TestNode {
                node,
                jobs,
                stop: Some(stop),
                server: Some(server),
            });
        }
        let c = TestCluster { nodes, log };
        c.wait_all_live(Duration::from_secs(20)).await;
        c.wait_full_replication(Duration::from_secs(30)).await;
        c
    }

    /// Waits until every range has the voters and replicas its zone config asks for (at most
    /// one per node) and a leaseholder.
    ///
    /// Up-replication adds one voter at a time, so a new range passes through two voters,
    /// where losing either one loses quorum for good: the range holding the job records (and
    /// the liveness records) then never serves again, and a test that kills a node in that
    /// window waits forever. Tests kill nodes only after this.
    async fn wait_full_replication(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let node = &self.nodes[0].node;
        let n = self.nodes.len();
        loop {
            let gaps = match tokio::time::timeout(Duration::from_secs(5), node.ranges()).await {
                Ok(Ok(ranges)) if ranges.is_empty() => vec!["no ranges yet".to_string()],
                Ok(Ok(ranges)) => {
                    let mut gaps = Vec::new();
                    for r in ranges {
                        let zone = node.zone_for(&r.desc).await;
                        let want_voters = (zone.voters() as usize).min(n);
                        let want_all = (zone.num_replicas as usize).min(n);
                        let voters = r.desc.voters().count();
                        let all = r.desc.replicas.len();
                        if voters != want_voters || all != want_all || r.leaseholder.is_none() {
                            gaps.push(format!(
                                "{}: {all}/{want_all} replicas, {voters}/{want_voters} voters, \
                                 leaseholder {:?}",
                                r.desc.range_id, r.leaseholder
                            ));
                        }
                    }
                    gaps
                }
                Ok(Err(e)) => vec![format!("listing ranges: {e}")],
                Err(_) => vec!["listing ranges timed out".to_string()],
            };
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

    /// Waits until every node's directory shows every node live.
    async fn wait_all_live(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let n = self.nodes.len();
        loop {
            let ok = self.nodes.iter().all(|t| {
                let all = t.node.directory().all();
                all.len() == n && all.iter().all(|(_, live)| *live)
            });
            if ok {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "nodes not all live");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &TestNode {
        self.nodes
            .iter()
            .find(|t| t.id() == id)
            .expect("node in cluster")
    }

    /// Waits until job `id` satisfies `pred` (read through node `via`), returning the record.
    pub async fn wait_for(
        &self,
        via: usize,
        id: JobId,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(rec) = self.nodes[via].jobs.get(id).await
                && pred(&rec)
            {
                return rec;
            }
            if tokio::time::Instant::now() > deadline {
                let rec = self.nodes[via].jobs.get(id).await;
                panic!("job {id}: not {what} within {timeout:?}: {rec:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until job `id` has status `status`.
    pub async fn wait_status(&self, via: usize, id: JobId, status: JobStatus) -> JobRecord {
        self.wait_for(via, id, Duration::from_secs(15), status.as_str(), |r| {
            r.status == status
        })
        .await
    }
}

/// The test nodes' liveness timing: [`KvNodeConfig::fast_for_tests`]' heartbeat every
/// 300 ms, with a 3 s TTL instead of 1.5 s. On a loaded 2-core machine a liveness write
/// (Raft on the system range, every node of the cluster on one 2-thread runtime) can stall
/// for over a second: records were seen within 0.3 s of expiring under the 1.5 s TTL, and
/// once they did expire, healthy nodes looked dead for a moment, so a job found no
/// matching node or was planned around a live one.
pub fn liveness() -> LivenessConfig {
    LivenessConfig {
        ttl: Duration::from_secs(3),
        ..KvNodeConfig::fast_for_tests().liveness
    }
}

/// Fast timings for tests: adoption every 300 ms, retries after 100 ms.
pub fn fast() -> RegistryConfig {
    RegistryConfig {
        adopt_interval: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(100),
    }
}
