//! Typed unary calls.

use crate::Cluster;
use base::NodeId;
use rpc::{Caller, RpcError, Target};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Add {
    a: u64,
    b: Vec<u64>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Sum {
    total: u64,
    from: NodeId,
}

fn register_add(cluster: &Cluster, n: u64) {
    cluster
        .node(n)
        .registry
        .unary("test.add", |caller: Caller, req: Add| async move {
            Ok::<_, RpcError>(Sum {
                total: req.a + req.b.iter().sum::<u64>(),
                from: caller.node_id,
            })
        });
}

#[tokio::test]
async fn typed_round_trip_by_node_and_by_address() {
    let cluster = Cluster::start(2).await;
    // Registered after the server started.
    register_add(&cluster, 2);
    let n1 = &cluster.node(1).rpc;
    let req = Add {
        a: 1,
        b: vec![2, 3],
    };
    let sum: Sum = n1.call(NodeId(2), "test.add", &req).await.unwrap();
    assert_eq!(
        sum,
        Sum {
            total: 6,
            from: NodeId(1)
        }
    );
    let addr = cluster.node(2).addr.clone();
    let sum: Sum = n1.call(Target::Addr(addr), "test.add", &req).await.unwrap();
    assert_eq!(sum.total, 6);
}

#[tokio::test]
async fn many_concurrent_calls_share_one_connection() {
    let cluster = Cluster::start(2).await;
    register_add(&cluster, 2);
    let n1 = cluster.node(1).rpc.clone();
    let calls = (0..200u64).map(|i| {
        let n1 = n1.clone();
        async move {
            n1.call::<_, Sum>(NodeId(2), "test.add", &Add { a: i, b: vec![] })
                .await
        }
    });
    let sums = futures::future::try_join_all(calls).await.unwrap();
    assert!(sums.iter().enumerate().all(|(i, s)| s.total == i as u64));
}

#[tokio::test]
async fn large_messages_pass() {
    let cluster = Cluster::start(2).await;
    cluster
        .node(2)
        .registry
        .unary("test.len", |_, req: Vec<u8>| async move {
            Ok::<_, RpcError>(req.len())
        });
    let blob = vec![7u8; 16 << 20];
    let len: usize = cluster
        .node(1)
        .rpc
        .call(NodeId(2), "test.len", &blob)
        .await
        .unwrap();
    assert_eq!(len, blob.len());
}
