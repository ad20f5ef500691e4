//! One server: the HTTP status API through a node's life, the store lock, the join timeout.

use crate::{eventually_async, http_get, init_tracing};
use server::{AdminError, Server, ServerConfig, ServerError, StoreSpec, client};
use sextant_server as server;
use std::time::Duration;

fn config() -> ServerConfig {
    ServerConfig {
        store: StoreSpec::Memory,
        listen_addr: "127.0.0.1:0".into(),
        http_addr: "127.0.0.1:0".into(),
        sql_addr: "127.0.0.1:0".into(),
        ..ServerConfig::default().with_test_timings()
    }
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not json ({e}): {body:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_node_from_start_to_drain() {
    init_tracing();
    let server = Server::start(config()).await.expect("start");
    let http = server.http_listen_addr().to_string();

    // Up, but not part of a cluster yet.
    let (code, body) = http_get(&http, "/health").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(json(&body)["status"], "ok");
    let (code, body) = http_get(&http, "/health?ready=1").await;
    assert_eq!(code, 503, "{body}");
    let reason = json(&body)["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(reason.contains("sextant init"), "{reason}");
    assert_eq!(http_get(&http, "/_status/nodes").await.0, 503);
    assert!(matches!(
        client::node_status(server.rpc_addr(), None).await,
        Err(AdminError::NotInitialized { .. })
    ));

    client::init(server.rpc_addr(), None).await.expect("init");
    let node = server.wait_started().await.expect("started");
    let id = node.node_id().0;
    eventually_async(Duration::from_secs(10), "ready", || {
        let http = http.clone();
        async move { http_get(&http, "/health?ready=1").await.0 == 200 }
    })
    .await;
    assert!(server.readiness().is_ok());
    let (code, body) = http_get(&http, "/health").await;
    assert_eq!(code, 200);
    assert_eq!(json(&body)["node_id"], id);

    let (code, body) = http_get(&http, "/_status/nodes").await;
    assert_eq!(code, 200, "{body}");
    let nodes = json(&body);
    assert_eq!(nodes.as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(nodes[0]["is_live"], true);
    assert_eq!(nodes[0]["address"], server.rpc_addr());
    assert_eq!(nodes[0]["sql_address"], server.sql_addr());
    assert_ne!(server.sql_addr(), "127.0.0.1:0");

    eventually_async(
        Duration::from_secs(10),
        "two ranges with a leaseholder",
        || {
            let http = http.clone();
            async move {
                let (code, body) = http_get(&http, "/_status/ranges").await;
                let ranges = json(&body);
                code == 200
                    && ranges
                        .as_array()
                        .is_some_and(|r| r.len() == 2 && r.iter().all(|r| r["leaseholder"] == id))
            }
        },
    )
    .await;

    match client::init(server.rpc_addr(), None).await {
        Err(AdminError::Refused(msg)) => assert_eq!(msg, "cluster has already been initialized"),
        other => panic!("second init: {other:?}"),
    }
    let status = client::node_status(server.rpc_addr(), None)
        .await
        .expect("status");
    assert_eq!(status.len(), 1);

    // A draining node is up but not ready.
    server
        .drain(Duration::from_millis(500))
        .await
        .expect("drain");
    let (code, body) = http_get(&http, "/health?ready=1").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("draining"), "{body}");
    assert_eq!(http_get(&http, "/health").await.0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_in_use_is_refused_until_released() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ServerConfig {
        store: StoreSpec::Dir(dir.path().join("store")),
        ..config()
    };
    let first = Server::start(cfg.clone()).await.expect("first");
    let err = match Server::start(cfg.clone()).await {
        Ok(_) => panic!("two servers on one store"),
        Err(e) => e,
    };
    assert!(err.is_store_in_use(), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "store directory {} is in use by another process",
            dir.path().join("store").display()
        )
    );
    first.stop().await;
    let again = Server::start(cfg).await.expect("store released after stop");
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_join_fails_after_the_timeout() {
    init_tracing();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .to_string();
    let mut cfg = ServerConfig {
        join: vec![closed.clone()],
        ..config()
    };
    cfg.kv.join_timeout = Duration::from_secs(1);
    let server = Server::start(cfg).await.expect("start");
    let started = tokio::time::timeout(Duration::from_secs(15), server.wait_started())
        .await
        .expect("gave up in time");
    match started {
        Err(ServerError::Node(e)) => {
            assert!(
                e.to_string().contains("could not join the cluster via"),
                "{e}"
            );
            assert!(e.to_string().contains(&closed), "{e}");
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("joined nothing"),
    }
    let (code, body) = http_get(&server.http_listen_addr().to_string(), "/health?ready=1").await;
    assert_eq!(code, 503);
    assert!(body.contains("failed to start"), "{body}");
    server.stop().await;
}
