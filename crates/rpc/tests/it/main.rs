//! Integration tests of the transport: real servers on loopback, one binary.

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

// The package is `sextant-rpc`; other crates know it as `rpc`.
extern crate sextant_rpc as rpc;

mod clock;
mod errors;
mod filters;
mod streaming;
mod tls;
mod unary;

use base::hlc::HybridClock;
use base::{Clock, NodeId};
use rpc::{
    AddressBook, Registry, Rpc, RpcContext, RpcError, RpcOptions, RpcServer, TransportFilters,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One node: its context, registry, client and running server.
pub struct TestNode {
    pub id: NodeId,
    pub ctx: Arc<RpcContext>,
    pub registry: Registry,
    pub rpc: Rpc,
    pub addr: String,
    _shutdown: oneshot::Sender<()>,
}

/// Nodes n1..=nN sharing an address book and one set of filter rules.
pub struct Cluster {
    pub nodes: Vec<TestNode>,
    pub filters: TransportFilters,
}

impl Cluster {
    /// `n` nodes on the system clock.
    pub async fn start(n: usize) -> Cluster {
        let clocks = (0..n)
            .map(|_| Arc::new(HybridClock::system(Duration::from_millis(500))) as Arc<dyn Clock>)
            .collect();
        Cluster::with_clocks(clocks).await
    }

    /// One node per clock.
    pub async fn with_clocks(clocks: Vec<Arc<dyn Clock>>) -> Cluster {
        let book = Arc::new(AddressBook::new());
        let filters = TransportFilters::new();
        let mut nodes = Vec::new();
        for (i, clock) in clocks.into_iter().enumerate() {
            let id = NodeId(i as u64 + 1);
            let ctx = Arc::new(RpcContext::new(clock).with_node_id(id));
            let options = RpcOptions {
                filters: filters.clone(),
                ..RpcOptions::default()
            };
            let rpc = Rpc::with_options(ctx.clone(), options);
            rpc.set_resolver(book.clone());
            let registry = Registry::new();
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind loopback");
            let addr = listener.local_addr().expect("local addr").to_string();
            book.insert(id, addr.clone());
            let (tx, rx) = oneshot::channel();
            let serve = RpcServer::serve(registry.clone(), ctx.clone(), listener, async {
                let _ = rx.await;
            });
            tokio::spawn(serve);
            nodes.push(TestNode {
                id,
                ctx,
                registry,
                rpc,
                addr,
                _shutdown: tx,
            });
        }
        Cluster { nodes, filters }
    }

    /// Node `n` (1-based, like node ids).
    pub fn node(&self, n: u64) -> &TestNode {
        &self.nodes[n as usize - 1]
    }

    /// Registers `test.ping`, answering `()`, on node `n`.
    pub fn serve_ping(&self, n: u64) {
        self.node(n)
            .registry
            .unary("test.ping", |_, ()| async { Ok::<_, RpcError>(()) });
    }

    /// Node `from` calls `test.ping` on node `to`.
    pub async fn ping(&self, from: u64, to: u64) -> Result<(), RpcError> {
        self.node(from)
            .rpc
            .call::<_, ()>(NodeId(to), "test.ping", &())
            .await
    }
}
