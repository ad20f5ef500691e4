//! kv's integration tests: one binary, one module per topic. Shared helpers live here.

mod cluster;
mod quiesce;
mod raft;
mod split;
mod sweep;

use std::sync::Arc;
use std::time::Duration;

use base::NodeId;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use rpc::{AddressBook, Registry, Rpc, RpcContext, RpcOptions, RpcServer, TransportFilters};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A node's rpc endpoint on loopback: a registry served on `127.0.0.1:0` and a client that
/// resolves node ids through a shared address book.
pub struct RpcNode {
    /// The node.
    pub id: NodeId,
    /// What the server serves; register handlers here.
    pub registry: Registry,
    /// The node's client.
    pub rpc: Rpc,
    /// `host:port` the server listens on.
    pub addr: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl RpcNode {
    /// Starts serving node `id` and records its address in `book`.
    pub async fn start(id: NodeId, book: &Arc<AddressBook>, filters: &TransportFilters) -> RpcNode {
        let clock = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
        let ctx = Arc::new(RpcContext::new(clock).with_node_id(id));
        let options = RpcOptions {
            connect_timeout: Duration::from_millis(500),
            filters: filters.clone(),
            ..RpcOptions::default()
        };
        let rpc = Rpc::with_options(ctx.clone(), options);
        rpc.set_resolver(book.clone());
        let registry = Registry::new();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr").to_string();
        book.insert(id, addr.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = registry.clone();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = RpcServer::serve(serving, ctx, listener, shutdown).await {
                eprintln!("rpc server: {e}");
            }
        });
        RpcNode {
            id,
            registry,
            rpc,
            addr,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops serving (the node looks dead to its peers).
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            // A graceful stop would wait for the connections peers keep open.
            server.abort();
            let _ = server.await;
        }
    }
}

/// Logs to stderr when `RUST_LOG` is set (e.g. `RUST_LOG=openraft=debug`).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
