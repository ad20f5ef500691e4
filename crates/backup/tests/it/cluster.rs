//! An in-process cluster: KV nodes, each with its SQL server, job registry and the backup
//! hooks registered, sharing one external IO directory (so `nodelocal://self/...` is the same
//! place from every node).

use std::sync::Arc;
use std::time::Duration;

use base::Clock;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use kv::node::{KvNode, KvNodeConfig, LivenessConfig};
use locality::Locality;
use rpc::{Registry, Rpc, RpcContext, RpcOptions, RpcServer};
use sql::{SqlServer, StatementResult};
use storage::MemoryEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One node.
pub struct TestNode {
    /// The KV node.
    pub node: KvNode,
    /// Its SQL server.
    pub sql: SqlServer,
    /// Its job registry.
    pub jobs: jobs::Registry,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    killed: bool,
}

impl TestNode {
    /// This node's id.
    pub fn id(&self) -> base::NodeId {
        self.node.node_id()
    }

    /// Stops the node as a crash would for the others: its jobs stop, it stops serving RPC and
    /// its KV loops and Raft groups stop. The rest of the cluster notices by liveness.
    pub async fn kill(&mut self) {
        self.killed = true;
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

    /// Runs statements as root in `db`.
    pub async fn exec(&self, db: &str, stmts: &str) -> Result<Vec<StatementResult>, sql::SqlError> {
        self.sql.session("root", db).execute(stmts).await
    }

    /// Runs statements that must succeed; the last result.
    pub async fn ok(&self, db: &str, stmts: &str) -> StatementResult {
        let mut r = self
            .exec(db, stmts)
            .await
            .unwrap_or_else(|e| panic!("{stmts}: {e}"));
        r.pop().expect("a result")
    }
}

/// An in-process cluster.
pub struct TestCluster {
    /// Nodes in start order.
    pub nodes: Vec<TestNode>,
    /// The shared external IO directory.
    pub extern_dir: tempfile::TempDir,
    /// The backup testing knobs every node was registered with.
    pub knobs: Arc<sextant_backup::TestingKnobs>,
}

async fn serve() -> (
    Registry,
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
    let registry = Registry::new();
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
    /// Starts one node per locality; the first bootstraps, the others join it.
    pub async fn start(localities: &[&str]) -> TestCluster {
        TestCluster::start_with(localities, jobs::RegistryConfig::default()).await
    }

    /// [`TestCluster::start`] with job registry timings (for example a short adoption interval).
    pub async fn start_with(
        localities: &[&str],
        registry_cfg: jobs::RegistryConfig,
    ) -> TestCluster {
        // `SEXTANT_TEST_LOG=kv=info` (an env-filter) shows the nodes' logs.
        if let Ok(filter) = std::env::var("SEXTANT_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
        let knobs = Arc::new(sextant_backup::TestingKnobs::default());
        let extern_dir = tempfile::tempdir().expect("tempdir");
        let mut pending = Vec::new();
        let mut first_addr = String::new();
        for (i, loc) in localities.iter().enumerate() {
            let (registry, rpc, ctx, addr, stop, server) = serve().await;
            if i == 0 {
                first_addr = addr.clone();
            }
            let cfg = KvNodeConfig {
                locality: Locality::parse(loc).expect("locality"),
                advertise_addr: addr.clone(),
                join: vec![first_addr.clone()],
                // Liveness lasts 15 heartbeats: a loaded machine delays heartbeats by seconds,
                // and a node that looks dead is left out of job plans.
                liveness: LivenessConfig {
                    heartbeat: Duration::from_millis(300),
                    ttl: Duration::from_millis(4500),
                    time_until_dead: Duration::from_secs(30),
                },
                ..KvNodeConfig::fast_for_tests()
            };
            let clock = ctx.clock.clone();
            let engine = Arc::new(MemoryEngine::new());
            let reg = registry.clone();
            let start = tokio::spawn(async move {
                KvNode::start(cfg, engine, clock, rpc, &reg)
                    .await
                    .expect("node start")
            });
            pending.push((start, stop, server, registry));
            if i == 0 {
                let client_clock: Arc<dyn Clock> =
                    Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
                let client = Rpc::new(Arc::new(RpcContext::new(client_clock)));
                // The node registers `node.init` once it has started: retry until it answers.
                let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    let r: Result<Result<(), String>, _> = client
                        .call(rpc::Target::Addr(first_addr.clone()), "node.init", &())
                        .await;
                    match r {
                        Ok(r) => {
                            r.expect("init");
                            break;
                        }
                        Err(e) if tokio::time::Instant::now() < deadline => {
                            tracing::debug!("init not yet served: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Err(e) => panic!("init rpc: {e}"),
                    }
                }
                // Let the first node finish starting (its first ranges exist) before the
                // others join: a join racing the bootstrap can leave the joiner unable to reach
                // r1 for its whole start timeout ("r1 not found on this node").
                let (start, stop, server, registry) = pending.pop().expect("first node");
                let node = start.await.expect("join task");
                let done = tokio::spawn(async move { node });
                pending.push((done, stop, server, registry));
            }
        }
        let mut nodes = Vec::new();
        for (start, stop, server, registry) in pending {
            let node = start.await.expect("join task");
            let sql = SqlServer::new(node.clone());
            let jobs = jobs::Registry::start(node.clone(), &registry, registry_cfg.clone());
            let storage = cloud::StorageContext::new(node.node_id(), extern_dir.path());
            sextant_backup::register_with_knobs(&sql, &jobs, storage, knobs.clone());
            nodes.push(TestNode {
                node,
                sql,
                jobs,
                stop: Some(stop),
                server: Some(server),
                killed: false,
            });
        }
        let n = nodes.len();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for t in &nodes {
            loop {
                t.node.refresh_directory().await;
                let live = t.node.directory().all().iter().filter(|(_, l)| *l).count();
                if live >= n || tokio::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        TestCluster {
            nodes,
            extern_dir,
            knobs,
        }
    }

    /// The region of node `id`.
    pub fn region(&self, id: base::NodeId) -> String {
        self.nodes[0]
            .node
            .directory()
            .locality(id)
            .region()
            .unwrap_or_default()
            .to_string()
    }

    /// Stops every node still running.
    pub async fn shutdown(mut self) {
        for n in &mut self.nodes {
            if !n.killed {
                n.kill().await;
            }
        }
    }
}
