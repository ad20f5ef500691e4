//! Transport filters: partition, drop, delay.

use crate::Cluster;
use base::NodeId;
use futures::StreamExt;
use rpc::{RpcError, Target};
use std::time::{Duration, Instant};

const N1: NodeId = NodeId(1);
const N2: NodeId = NodeId(2);
const N3: NodeId = NodeId(3);

async fn ping(cluster: &Cluster, from: u64, to: NodeId) -> Result<u64, RpcError> {
    cluster.node(from).rpc.call(to, "test.ping", &()).await
}

async fn pingable() -> Cluster {
    let cluster = Cluster::start(3).await;
    for node in &cluster.nodes {
        let id = node.id.0;
        node.registry.unary(
            "test.ping",
            move |_, ()| async move { Ok::<_, RpcError>(id) },
        );
    }
    cluster
}

#[tokio::test]
async fn partition_drops_both_ways_promptly_until_healed() {
    let cluster = pingable().await;
    cluster.filters.partition(N1, N2);
    let start = Instant::now();
    assert_eq!(ping(&cluster, 1, N2).await, Err(RpcError::Dropped));
    assert_eq!(ping(&cluster, 2, N1).await, Err(RpcError::Dropped));
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(RpcError::Dropped.is_retryable());
    assert_eq!(ping(&cluster, 1, N3).await, Ok(3));
    // Address targets are mapped back to node ids through the resolver.
    let addr = Target::Addr(cluster.node(2).addr.clone());
    let err = cluster
        .node(1)
        .rpc
        .call::<_, u64>(addr, "test.ping", &())
        .await;
    assert_eq!(err, Err(RpcError::Dropped));
    cluster.filters.heal(N2, N1);
    assert_eq!(ping(&cluster, 1, N2).await, Ok(2));
}

#[tokio::test]
async fn drop_all_from_is_one_way() {
    let cluster = pingable().await;
    cluster.filters.drop_all_from(N3);
    assert_eq!(ping(&cluster, 3, N1).await, Err(RpcError::Dropped));
    // n1's request reaches n3, but n3's response to n1 is dropped: the request was delivered
    // (and ran), so the call is unreachable, not `Dropped` (which says it never left).
    match ping(&cluster, 1, N3).await {
        Err(RpcError::Unreachable { reason, .. }) => {
            assert!(reason.contains("request was delivered"), "{reason}")
        }
        other => panic!("a dropped response: {other:?}"),
    }
    assert_eq!(ping(&cluster, 1, N2).await, Ok(2));
    cluster.filters.heal_all();
    assert_eq!(ping(&cluster, 3, N1).await, Ok(1));
}

#[tokio::test]
async fn delay_slows_calls_and_can_time_them_out() {
    let cluster = pingable().await;
    cluster.filters.delay(N1, N2, Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(ping(&cluster, 1, N2).await, Ok(2));
    assert!(start.elapsed() >= Duration::from_millis(200));
    let timeout = Duration::from_millis(50);
    let err = cluster
        .node(1)
        .rpc
        .call_timeout::<_, u64>(N2, "test.ping", &(), timeout)
        .await;
    assert!(matches!(err, Err(RpcError::Timeout { .. })), "{err:?}");
    // n2 → n1 is delayed on the way back (n1's response to n2), n1 → n3 not at all.
    let start = Instant::now();
    assert_eq!(ping(&cluster, 2, N1).await, Ok(1));
    assert!(start.elapsed() >= Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(ping(&cluster, 1, N3).await, Ok(3));
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[tokio::test]
async fn partition_cuts_an_open_stream() {
    let cluster = pingable().await;
    cluster
        .node(2)
        .registry
        .streaming("test.ticks", |_, ()| async {
            let ticks = futures::stream::unfold(0u64, |i| async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Some((Ok::<_, RpcError>(i), i + 1))
            });
            Ok::<_, RpcError>(ticks)
        });
    let mut ticks = cluster
        .node(1)
        .rpc
        .stream::<_, u64>(N2, "test.ticks", &())
        .await
        .unwrap();
    assert_eq!(ticks.next().await, Some(Ok(0)));
    cluster.filters.partition(N1, N2);
    assert_eq!(ticks.next().await, Some(Err(RpcError::Dropped)));
    assert_eq!(ticks.next().await, None);
}
