//! The HTTP status server (axum).
//!
//! - `GET /health`: 200 whenever the process serves HTTP, with the node id once known.
//! - `GET /health?ready=1`: 200 only when the node has an identity, its liveness record is
//!   current and it is not draining; otherwise 503 with `{"error": "<reason>"}`. Load
//!   balancers use this one.
//! - `GET /_status/nodes`: every known node, as `sextant node status --format=json` prints.
//! - `GET /_status/ranges`: every range with its replicas and leaseholder.
//!
//! With `--testing-endpoints` (the verification suite's nemeses; never on a real cluster):
//! - `POST /_testing/partition` `{"nodes": [2, 3]}`: this node drops every RPC it sends to
//!   and refuses every RPC it receives from those nodes (both directions from one call).
//! - `POST /_testing/heal`: removes this node's partition rules.
//! - `POST /_testing/clock` `{"offset_ms": -400}`: this node's physical clock runs that far
//!   from the wall clock (0 restores it).
//! - `POST /_testing/shed-leases`: this node hands every lease it holds to another voter.
//!
//! Every handler reads the node from the server's [`NodeState`] watch, so the server answers
//! from the moment it binds, before the node has joined a cluster.

use crate::server::NodeState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base::{NodeId, ReplicaType};
use kv::KvNode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// One range, as `GET /_status/ranges` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeStatus {
    /// The range's id.
    pub range_id: u64,
    /// Inclusive start key, pretty-printed.
    pub start_key: String,
    /// Exclusive end key, pretty-printed.
    pub end_key: String,
    /// Nodes with a voting replica.
    pub voters: Vec<NodeId>,
    /// Nodes with a non-voting replica.
    pub non_voters: Vec<NodeId>,
    /// The leaseholder, when one answered.
    pub leaseholder: Option<NodeId>,
}

impl From<&kv::node::RangeInfo> for RangeStatus {
    fn from(r: &kv::node::RangeInfo) -> RangeStatus {
        let of = |t: ReplicaType| {
            r.desc
                .replicas
                .iter()
                .filter(|rep| rep.replica_type == t)
                .map(|rep| rep.node_id)
                .collect()
        };
        RangeStatus {
            range_id: r.desc.range_id.0,
            start_key: r.desc.start_key.to_string(),
            end_key: r.desc.end_key.to_string(),
            voters: of(ReplicaType::Voter),
            non_voters: of(ReplicaType::NonVoter),
            leaseholder: r.leaseholder,
        }
    }
}

type AppState = watch::Receiver<NodeState>;

/// What the fault-injection endpoints act on.
#[derive(Clone)]
pub(crate) struct Testing {
    /// This node's transport rules (checked on both ends of every call).
    pub filters: rpc::TransportFilters,
    /// This node's physical clock.
    pub clock: base::hlc::OffsetPhysicalClock,
}

/// Serves the status API on `listener` until `stop` fires.
pub(crate) fn spawn(
    listener: TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    state: AppState,
    testing: Option<Testing>,
    stop: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    let mut app = axum::Router::new()
        .route("/health", get(health))
        .route("/_status/nodes", get(nodes))
        .route("/_status/ranges", get(ranges))
        .with_state(state.clone());
    if let Some(testing) = testing {
        let testing_app = axum::Router::new()
            .route("/_testing/partition", post(partition))
            .route("/_testing/heal", post(heal))
            .route("/_testing/clock", post(set_clock))
            .route("/_testing/shed-leases", post(shed_leases))
            .with_state((state, testing));
        app = app.merge(testing_app);
    }
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stop.await;
        };
        let served = match tls {
            Some(config) => {
                let listener = TlsListener::new(listener, config);
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            None => {
                axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
            }
        };
        if let Err(e) = served {
            tracing::error!("http status server failed: {e}");
        }
    })
}

/// Whether a node in `state` serves; the reason when it does not.
pub(crate) fn readiness(state: &NodeState) -> Result<(), String> {
    let node = match state {
        NodeState::Running(node) => node,
        NodeState::Starting => {
            return Err("node is waiting to join a cluster or for `sextant init`".into());
        }
        NodeState::Failed(e) => return Err(format!("node failed to start: {e}")),
        NodeState::Stopped => return Err("node is shutting down".into()),
    };
    let now = node.clock().physical_nanos();
    match node.liveness().get(&node.node_id()) {
        None => Err("node has no liveness record yet".into()),
        Some(l) if l.draining => Err("node is draining".into()),
        Some(l) if l.expiration <= now => Err("node's liveness record has expired".into()),
        Some(_) => Ok(()),
    }
}

/// The running node, or why there is none.
fn running(state: &AppState) -> Result<KvNode, String> {
    match &*state.borrow() {
        NodeState::Running(node) => Ok(node.clone()),
        other => Err(readiness(other)
            .err()
            .unwrap_or_else(|| "node is not running".into())),
    }
}

fn unavailable(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": reason })),
    )
        .into_response()
}

async fn health(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let ready = params
        .get("ready")
        .is_some_and(|v| !matches!(v.as_str(), "0" | "false"));
    let snapshot = state.borrow().clone();
    let node_id = match &snapshot {
        NodeState::Running(node) => Some(node.node_id()),
        _ => None,
    };
    if ready && let Err(reason) = readiness(&snapshot) {
        return unavailable(reason);
    }
    Json(json!({ "status": "ok", "node_id": node_id })).into_response()
}

async fn nodes(State(state): State<AppState>) -> Response {
    let node = match running(&state) {
        Ok(node) => node,
        Err(reason) => return unavailable(reason),
    };
    match node.status().await {
        Ok(nodes) => Json(nodes).into_response(),
        Err(e) => unavailable(e.to_string()),
    }
}

type TestingState = (AppState, Testing);

#[derive(Deserialize)]
struct PartitionBody {
    nodes: Vec<u64>,
}

async fn partition(
    State((state, testing)): State<TestingState>,
    Json(body): Json<PartitionBody>,
) -> Response {
    let node = match running(&state) {
        Ok(node) => node,
        Err(reason) => return unavailable(reason),
    };
    let me = node.node_id();
    for n in &body.nodes {
        if NodeId(*n) != me {
            testing.filters.partition(me, NodeId(*n));
        }
    }
    tracing::warn!("testing: partitioned from nodes {:?}", body.nodes);
    Json(json!({ "node_id": me, "partitioned_from": body.nodes })).into_response()
}

async fn heal(State((_, testing)): State<TestingState>) -> Response {
    testing.filters.heal_all();
    tracing::warn!("testing: partitions healed");
    Json(json!({ "healed": true })).into_response()
}

#[derive(Deserialize)]
struct ClockBody {
    offset_ms: i64,
}

async fn set_clock(
    State((_, testing)): State<TestingState>,
    Json(body): Json<ClockBody>,
) -> Response {
    testing
        .clock
        .set_offset(body.offset_ms.saturating_mul(1_000_000));
    tracing::warn!("testing: clock offset set to {} ms", body.offset_ms);
    Json(json!({ "offset_ms": body.offset_ms })).into_response()
}

async fn shed_leases(State((state, _)): State<TestingState>) -> Response {
    let node = match running(&state) {
        Ok(node) => node,
        Err(reason) => return unavailable(reason),
    };
    let moved = node.shed_leases().await;
    Json(json!({ "moved": moved })).into_response()
}

async fn ranges(State(state): State<AppState>) -> Response {
    let node = match running(&state) {
        Ok(node) => node,
        Err(reason) => return unavailable(reason),
    };
    match node.ranges().await {
        Ok(ranges) => {
            Json(ranges.iter().map(RangeStatus::from).collect::<Vec<_>>()).into_response()
        }
        Err(e) => unavailable(e.to_string()),
    }
}

/// The HTTP listener of a secure node: connections whose TLS handshake succeeded
/// ([`security::tls::accept`]).
struct TlsListener {
    accepted: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        std::net::SocketAddr,
    )>,
    local: std::io::Result<std::net::SocketAddr>,
}

impl TlsListener {
    fn new(listener: TcpListener, config: Arc<tokio_rustls::rustls::ServerConfig>) -> Self {
        let local = listener.local_addr();
        TlsListener {
            accepted: security::tls::accept(listener, config, "http"),
            local,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.accepted.recv().await {
            Some(accepted) => accepted,
            // The accept loop ended (it ends only when this receiver is dropped).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.local {
            Ok(addr) => Ok(*addr),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}
