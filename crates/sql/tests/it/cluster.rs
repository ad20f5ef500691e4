//! An in-process cluster of KV nodes, each with its SQL server and a PostgreSQL wire listener
//! on a free loopback port ([`TestNode::sql_addr`]).

use std::sync::Arc;
use std::time::Duration;

use base::Clock;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use kv::node::{KvNode, KvNodeConfig};
use locality::Locality;
use rpc::{Registry, Rpc, RpcContext, RpcOptions, RpcServer};
use sextant_sql::SqlServer;
use storage::MemoryEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One node.
pub struct TestNode {
    /// The KV node.
    pub node: KvNode,
    /// Its SQL server.
    pub sql: SqlServer,
    /// Where its PostgreSQL wire listener is (`127.0.0.1:port`).
    pub sql_addr: String,
    _sql_stop: oneshot::Sender<()>,
    _stop: oneshot::Sender<()>,
    _server: tokio::task::JoinHandle<()>,
}

/// An in-process cluster.
pub struct TestCluster {
    /// Nodes in start order.
    pub nodes: Vec<TestNode>,
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
    /// Starts one node per locality; the first bootstraps, the others join it. Waits until
    /// every node knows every other.
    pub async fn start(localities: &[&str]) -> TestCluster {
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
            let start = tokio::spawn(async move {
                KvNode::start(cfg, engine, clock, rpc, &registry)
                    .await
                    .expect("node start")
            });
            if i == 0 {
                let client_clock: Arc<dyn Clock> =
                    Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
                let client = Rpc::new(Arc::new(RpcContext::new(client_clock)));
                kv::node::bootstrap(&client, &first_addr, Duration::from_secs(20))
                    .await
                    .expect("init");
                // The others join only once the first has bootstrapped: a join that reaches
                // it earlier fails with "r1 not found on this node".
                let first = start.await.expect("first node start task");
                pending.push((tokio::spawn(async move { first }), stop, server));
                continue;
            }
            pending.push((start, stop, server));
        }
        let mut nodes = Vec::new();
        for (start, stop, server) in pending {
            let node = start.await.expect("join task");
            let sql = SqlServer::new(node.clone());
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sql");
            let sql_addr = listener.local_addr().expect("sql addr").to_string();
            let (sql_stop, sql_stopped) = oneshot::channel::<()>();
            tokio::spawn(sextant_sql::pgwire::serve(listener, sql.clone(), async {
                let _ = sql_stopped.await;
            }));
            nodes.push(TestNode {
                node,
                sql,
                sql_addr,
                _sql_stop: sql_stop,
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
        TestCluster { nodes }
    }

    /// A tokio-postgres connection to node `i` as `root`, on `database`.
    pub async fn connect(&self, i: usize, database: &str) -> tokio_postgres::Client {
        connect(&self.nodes[i].sql_addr, database).await
    }

    /// Stops every node.
    pub async fn shutdown(self) {
        for n in &self.nodes {
            n.node.shutdown().await;
        }
    }
}

/// A tokio-postgres connection as `root` to the SQL listener at `addr`.
pub async fn connect(addr: &str, database: &str) -> tokio_postgres::Client {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(host)
        .port(port.parse().expect("port"))
        .user("root")
        .dbname(database);
    let (client, conn) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
