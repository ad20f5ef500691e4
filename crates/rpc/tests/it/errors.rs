//! Application errors, unknown methods, bad payloads, unreachable targets, timeouts.

use crate::Cluster;
use base::NodeId;
use rpc::{AppError, RpcError, Target};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
enum KvError {
    #[error("not leaseholder; try {leaseholder:?}")]
    NotLeaseholder { leaseholder: Option<NodeId> },
}

impl AppError for KvError {
    const KIND: &'static str = "test.kv";
}

#[tokio::test]
async fn application_error_decodes_to_its_type() {
    let cluster = Cluster::start(2).await;
    fn lookup(_key: &str) -> Result<u64, KvError> {
        Err(KvError::NotLeaseholder {
            leaseholder: Some(NodeId(3)),
        })
    }
    cluster
        .node(2)
        .registry
        .unary("test.get", |_, key: String| async move {
            Ok::<_, RpcError>(lookup(&key)?)
        });
    let err = cluster
        .node(1)
        .rpc
        .call::<_, u64>(NodeId(2), "test.get", "k")
        .await
        .unwrap_err();
    assert_eq!(err.app_kind(), Some("test.kv"));
    assert_eq!(
        err.app_error::<KvError>(),
        Some(KvError::NotLeaseholder {
            leaseholder: Some(NodeId(3))
        })
    );
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "test.kv: not leaseholder; try Some(NodeId(3))"
    );
}

#[tokio::test]
async fn unknown_method_and_wrong_kind() {
    let cluster = Cluster::start(2).await;
    cluster
        .node(2)
        .registry
        .unary("test.unary", |_, ()| async { Ok::<_, RpcError>(()) });
    let n1 = &cluster.node(1).rpc;
    let err = n1
        .call::<_, ()>(NodeId(2), "test.nope", &())
        .await
        .unwrap_err();
    assert_eq!(err, RpcError::UnknownMethod("test.nope".into()));
    let err = n1
        .stream::<_, ()>(NodeId(2), "test.unary", &())
        .await
        .err()
        .unwrap();
    assert_eq!(err, RpcError::UnknownMethod("test.unary".into()));
    cluster.node(2).registry.remove("test.unary");
    let err = n1
        .call::<_, ()>(NodeId(2), "test.unary", &())
        .await
        .unwrap_err();
    assert_eq!(err, RpcError::UnknownMethod("test.unary".into()));
}

#[tokio::test]
async fn undecodable_request_is_a_decode_error() {
    let cluster = Cluster::start(2).await;
    cluster
        .node(2)
        .registry
        .unary("test.big", |_, (a, b): (u64, u64)| async move {
            Ok::<_, RpcError>(a + b)
        });
    let err = cluster
        .node(1)
        .rpc
        .call::<_, u64>(NodeId(2), "test.big", &1u8)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RpcError::Decode(m) if m.contains("test.big")),
        "{err}"
    );
}

#[tokio::test]
async fn unreachable_address_fails_promptly_and_is_retryable() {
    let cluster = Cluster::start(1).await;
    // A port that was just free: nothing listens there.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let start = Instant::now();
    let err = cluster
        .node(1)
        .rpc
        .call::<_, ()>(Target::Addr(addr), "test.x", &())
        .await;
    let err = err.unwrap_err();
    assert!(matches!(err, RpcError::Unreachable { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // A node with no known address.
    let err = cluster
        .node(1)
        .rpc
        .call::<_, ()>(NodeId(9), "test.x", &())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RpcError::Unreachable {
            target: "n9".into(),
            reason: "no known address".into()
        }
    );
}

/// Sets its flag when dropped: shows a handler was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn timeout_fails_the_call_and_cancels_the_handler() {
    let cluster = Cluster::start(2).await;
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = cancelled.clone();
    cluster.node(2).registry.unary("test.slow", move |_, ()| {
        let guard = DropFlag(flag.clone());
        async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(guard);
            Ok::<_, RpcError>(())
        }
    });
    let start = Instant::now();
    let timeout = Duration::from_millis(200);
    let err = cluster
        .node(1)
        .rpc
        .call_timeout::<_, ()>(NodeId(2), "test.slow", &(), timeout);
    let err = err.await.unwrap_err();
    assert_eq!(
        err,
        RpcError::Timeout {
            target: "n2".into(),
            after: timeout
        }
    );
    assert!(err.is_retryable());
    assert!(start.elapsed() < Duration::from_secs(2));
    crate::streaming::eventually(|| cancelled.load(Ordering::SeqCst)).await;
}

#[tokio::test]
async fn cluster_id_mismatch_is_rejected() {
    let cluster = Cluster::start(2).await;
    cluster.serve_ping(2);
    cluster.node(1).ctx.set_cluster_id("alpha");
    // Unknown on the receiver: accepted.
    cluster.ping(1, 2).await.unwrap();
    cluster.node(2).ctx.set_cluster_id("beta");
    let err = cluster.ping(1, 2).await.unwrap_err();
    assert_eq!(
        err,
        RpcError::ClusterMismatch {
            expected: "beta".into(),
            got: "alpha".into()
        }
    );
}
