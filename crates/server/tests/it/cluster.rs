//! In-process clusters: replication, serving through a kill, restart from the store.

use crate::{eventually_async, init_tracing, key, localities};
use base::NodeId;
use kv::node::{kv_get, kv_put};
use server::{LocalCluster, LocalClusterOptions, ServerError};
use sextant_server as server;
use std::time::Duration;

/// A replicated three-node cluster with on-disk stores, 20 keys written through node 1.
async fn replicated_cluster() -> LocalCluster {
    init_tracing();
    let locs = localities(&[
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=europe-west1,az=b",
    ]);
    let opts = LocalClusterOptions {
        on_disk: true,
        ..LocalClusterOptions::for_tests()
    };
    let c = LocalCluster::start(3, locs.clone(), opts)
        .await
        .expect("start");
    for (i, loc) in locs.iter().enumerate() {
        assert_eq!(c.node(i).locality(), loc);
    }
    c.wait_for_full_replication(Duration::from_secs(30))
        .await
        .expect("full replication");
    let s1 = c.node(1).sender().clone();
    for i in 0..20 {
        kv_put(&s1, key(&format!("k{i:02}")), format!("v{i}").into_bytes())
            .await
            .expect("put");
    }
    let s2 = c.node(2).sender().clone();
    for i in 0..20 {
        let v = kv_get(&s2, key(&format!("k{i:02}"))).await.expect("get");
        assert_eq!(v, Some(format!("v{i}").into_bytes()));
    }
    c
}

/// Kills the leaseholder of the table range and checks the others keep serving; returns the
/// killed node's index and id, and a survivor's index.
async fn kill_table_leaseholder(c: &mut LocalCluster) -> (usize, NodeId, usize) {
    let ranges = c.node(0).ranges().await.expect("ranges");
    let lh = ranges
        .iter()
        .find(|r| r.desc.contains_key(&key("k00")))
        .and_then(|r| r.leaseholder)
        .expect("table range leaseholder");
    let victim = (0..3).find(|i| c.node(*i).node_id() == lh).expect("victim");
    c.kill(victim).await.expect("kill");
    assert!(c.server(victim).is_none());
    let survivor = (victim + 1) % 3;
    let s = c.node(survivor).sender().clone();
    tokio::time::timeout(
        Duration::from_secs(15),
        kv_put(&s, key("after"), b"x".to_vec()),
    )
    .await
    .expect("write after the kill in time")
    .expect("write after the kill");
    for i in 0..20 {
        let v = kv_get(&s, key(&format!("k{i:02}"))).await.expect("get");
        assert_eq!(v, Some(format!("v{i}").into_bytes()), "k{i:02} lost");
    }
    (victim, lh, survivor)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_serve_through_a_kill() {
    let mut c = replicated_cluster().await;
    kill_table_leaseholder(&mut c).await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_restarts_from_its_store() {
    let mut c = replicated_cluster().await;
    let (victim, victim_id, survivor) = kill_table_leaseholder(&mut c).await;
    c.restart(victim).await.expect("restart");
    assert_eq!(c.node(victim).node_id(), victim_id);
    let observer = c.node(survivor);
    eventually_async(Duration::from_secs(20), "restarted node is live", || {
        let observer = observer.clone();
        async move {
            observer
                .status()
                .await
                .is_ok_and(|nodes| nodes.iter().any(|n| n.node_id == victim_id && n.is_live))
        }
    })
    .await;
    let v = kv_get(c.node(victim).sender(), key("after"))
        .await
        .expect("get via the restarted node");
    assert_eq!(v, Some(b"x".to_vec()));
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_nodes_cannot_restart() {
    init_tracing();
    let mut c = LocalCluster::start(1, Vec::new(), LocalClusterOptions::for_tests())
        .await
        .expect("start");
    c.kill(0).await.expect("kill");
    assert!(matches!(c.kill(0).await, Err(ServerError::Config(_))));
    let err = c.restart(0).await.expect_err("restart of a memory node");
    assert!(err.to_string().contains("on-disk"), "{err}");
}

#[tokio::test]
async fn bad_cluster_shapes_are_refused() {
    let opts = LocalClusterOptions::for_tests();
    assert!(
        LocalCluster::start(0, Vec::new(), opts.clone())
            .await
            .is_err()
    );
    let two = localities(&["region=a", "region=b"]);
    let err = match LocalCluster::start(3, two, opts).await {
        Ok(_) => panic!("3 nodes with 2 localities started"),
        Err(e) => e,
    };
    assert!(
        err.to_string().contains("2 localities given for 3 nodes"),
        "{err}"
    );
}
