//! Clock propagation and offset rejection.

use crate::Cluster;
use base::Clock;
use base::hlc::{HybridClock, ManualPhysicalClock};
use rpc::RpcError;
use std::sync::Arc;
use std::time::Duration;

const T: i64 = 1_700_000_000_000_000_000;
const MAX_OFFSET: Duration = Duration::from_millis(500);

async fn two_nodes(offset: Duration) -> (Cluster, Arc<dyn Clock>, Arc<dyn Clock>) {
    let c1: Arc<dyn Clock> = Arc::new(HybridClock::new(ManualPhysicalClock::new(T), MAX_OFFSET));
    let later = T + offset.as_nanos() as i64;
    let c2: Arc<dyn Clock> = Arc::new(HybridClock::new(
        ManualPhysicalClock::new(later),
        MAX_OFFSET,
    ));
    let cluster = Cluster::with_clocks(vec![c1.clone(), c2.clone()]).await;
    for n in [1, 2] {
        cluster.serve_ping(n);
    }
    (cluster, c1, c2)
}

#[tokio::test]
async fn readings_within_the_offset_move_the_receiver_forward() {
    let (cluster, c1, _) = two_nodes(Duration::from_millis(100)).await;
    cluster.ping(1, 2).await.unwrap();
    // n1's clock took n2's reading, 100 ms ahead of its own physical time.
    assert!(c1.now().wall >= T + 100_000_000);
}

#[tokio::test]
async fn readings_beyond_the_offset_are_rejected_on_both_sides() {
    let (cluster, c1, _) = two_nodes(Duration::from_secs(2)).await;
    // n1 → n2: n2 accepts the request (behind it), n1 rejects the response.
    let err = cluster.ping(1, 2).await.unwrap_err();
    let RpcError::ClockOffset(offset) = &err else {
        panic!("{err}")
    };
    assert_eq!((offset.ahead_ms, offset.max_offset_ms), (2000, 500));
    // n2 → n1: n1 rejects the request before its handler runs.
    let err = cluster.ping(2, 1).await.unwrap_err();
    assert!(matches!(err, RpcError::ClockOffset(_)), "{err}");
    assert!(!err.is_retryable());
    // Neither rejected reading moved n1's clock.
    assert!(c1.now().wall < T + 1_000_000);
}
