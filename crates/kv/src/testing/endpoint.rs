//! A node's rpc endpoint on loopback: a [`Registry`] served on `127.0.0.1`, and the client
//! the node calls its peers with.

use std::sync::Arc;
use std::time::Duration;

use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use base::{Clock, NodeId};
use rpc::{AddressBook, Registry, Rpc, RpcContext, RpcOptions, RpcServer, TransportFilters};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A registry served on loopback until [`Endpoint::stop`].
pub(crate) struct Endpoint {
    pub(crate) registry: Registry,
    pub(crate) rpc: Rpc,
    pub(crate) ctx: Arc<RpcContext>,
    pub(crate) addr: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Endpoint {
    /// Serves a new registry on `addr` (`127.0.0.1:0` for a free port), with `clock` and the
    /// shared `filters` on both the client and the server side.
    pub(crate) async fn bind(
        addr: &str,
        clock: Arc<dyn Clock>,
        filters: &TransportFilters,
    ) -> Endpoint {
        let ctx = Arc::new(RpcContext::new(clock));
        let options = RpcOptions {
            connect_timeout: Duration::from_millis(500),
            filters: filters.clone(),
            ..RpcOptions::default()
        };
        let rpc = Rpc::with_options(ctx.clone(), options.clone());
        let registry = Registry::new();
        let listener = bind(addr).await;
        let addr = listener.local_addr().expect("local addr").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = registry.clone();
        let server_ctx = ctx.clone();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) =
                RpcServer::serve_with_options(serving, server_ctx, listener, shutdown, &options)
                    .await
            {
                tracing::warn!("test rpc server: {e}");
            }
        });
        Endpoint {
            registry,
            rpc,
            ctx,
            addr,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// Stops serving: the node looks dead to its peers.
    pub(crate) async fn stop(&mut self) {
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

/// Binds `addr`. A restarted node binds its old port again, which the stopped server may hold
/// for a moment: retry for a while.
async fn bind(addr: &str) -> TcpListener {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("bind {addr}: {e}; again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("bind {addr}: {e}"),
        }
    }
}

/// A bare node endpoint for tests below [`KvNode`](crate::KvNode) (Raft groups, a store): a
/// registry served on a free loopback port, and a client that resolves node ids through a
/// shared [`AddressBook`].
pub struct RpcNode {
    /// The node.
    pub id: NodeId,
    /// What the server serves; register handlers here.
    pub registry: Registry,
    /// The node's client.
    pub rpc: Rpc,
    /// `host:port` the server listens on.
    pub addr: String,
    endpoint: Endpoint,
}

impl RpcNode {
    /// Starts serving node `id` and records its address in `book`.
    pub async fn start(id: NodeId, book: &Arc<AddressBook>, filters: &TransportFilters) -> RpcNode {
        let clock = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
        let endpoint = Endpoint::bind("127.0.0.1:0", clock, filters).await;
        endpoint.ctx.set_node_id(id);
        endpoint.rpc.set_resolver(book.clone());
        book.insert(id, endpoint.addr.clone());
        RpcNode {
            id,
            registry: endpoint.registry.clone(),
            rpc: endpoint.rpc.clone(),
            addr: endpoint.addr.clone(),
            endpoint,
        }
    }

    /// Stops serving (the node looks dead to its peers).
    pub async fn stop(&mut self) {
        self.endpoint.stop().await;
    }
}
