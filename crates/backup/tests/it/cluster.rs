//! An in-process cluster: KV nodes, each with its SQL server, job registry and the backup
//! hooks registered, sharing one external IO directory (so `nodelocal://self/...` is the same
//! place from every node).

use std::sync::Arc;
use std::time::Duration;

use base::Clock;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use kv::node::{KvNode, KvNodeConfig};
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
    _stop: oneshot::Sender<()>,
    _server: tokio::task::JoinHandle<()>,
}

impl TestNode {
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
            }
        }
        let mut nodes = Vec::new();
        for (start, stop, server, registry) in pending {
            let node = start.await.expect("join task");
            let sql = SqlServer::new(node.clone());
            let jobs =
                jobs::Registry::start(node.clone(), &registry, jobs::RegistryConfig::default());
            let storage = cloud::StorageContext::new(node.node_id(), extern_dir.path());
            sextant_backup::register(&sql, &jobs, storage);
            nodes.push(TestNode {
                node,
                sql,
                jobs,
                _stop: stop,
                _server: server,
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
        TestCluster { nodes, extern_dir }
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        for n in &self.nodes {
            n.jobs.stop();
            n.node.shutdown().await;
        }
    }
}
