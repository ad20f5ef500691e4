//! Server streams: order, early drop, errors.

use crate::Cluster;
use base::NodeId;
use futures::StreamExt;
use rpc::{AppError, RpcError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Waits up to 5 s for `cond`.
pub async fn eventually(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 5 s");
}

/// A stream of `0..n` that records how far it got and whether it was dropped.
struct Counting {
    next: u64,
    end: u64,
    produced: Arc<AtomicU64>,
    dropped: Arc<AtomicBool>,
}

impl futures::Stream for Counting {
    type Item = Result<u64, RpcError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        if self.next == self.end {
            return std::task::Poll::Ready(None);
        }
        let item = self.next;
        self.next += 1;
        self.produced.store(self.next, Ordering::SeqCst);
        std::task::Poll::Ready(Some(Ok(item)))
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

fn register_count(cluster: &Cluster) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
    let produced = Arc::new(AtomicU64::new(0));
    let dropped = Arc::new(AtomicBool::new(false));
    let (p, d) = (produced.clone(), dropped.clone());
    cluster
        .node(2)
        .registry
        .streaming("test.count", move |_, end: u64| {
            let counting = Counting {
                next: 0,
                end,
                produced: p.clone(),
                dropped: d.clone(),
            };
            async move { Ok::<_, RpcError>(counting) }
        });
    (produced, dropped)
}

#[tokio::test]
async fn a_thousand_items_arrive_in_order() {
    let cluster = Cluster::start(2).await;
    register_count(&cluster);
    let stream = cluster
        .node(1)
        .rpc
        .stream::<_, u64>(NodeId(2), "test.count", &1000u64);
    let items: Vec<u64> = stream.await.unwrap().map(|i| i.unwrap()).collect().await;
    assert_eq!(items, (0..1000).collect::<Vec<_>>());
}

#[tokio::test]
async fn dropping_the_stream_cancels_the_server_and_back_pressure_holds_it() {
    let cluster = Cluster::start(2).await;
    let (produced, dropped) = register_count(&cluster);
    let stream = cluster
        .node(1)
        .rpc
        .stream::<_, u64>(NodeId(2), "test.count", &u64::MAX);
    let mut stream = stream.await.unwrap();
    for want in 0..10 {
        assert_eq!(stream.next().await.unwrap().unwrap(), want);
    }
    // The consumer stalls: flow control stops the producer long before u64::MAX.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled = produced.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(produced.load(Ordering::SeqCst), stalled, "producer ran on");
    // About 100k small items fill the HTTP/2 windows and buffers (a few MB).
    assert!(stalled < 1_000_000, "{stalled}");
    drop(stream);
    eventually(|| dropped.load(Ordering::SeqCst)).await;
}

#[derive(Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("range split at item {0}")]
struct Split(u64);

impl AppError for Split {
    const KIND: &'static str = "test.split";
}

#[tokio::test]
async fn handler_errors_end_the_stream_or_fail_the_open() {
    let cluster = Cluster::start(2).await;
    cluster
        .node(2)
        .registry
        .streaming("test.split", |_, fail_at: u64| async move {
            if fail_at == 0 {
                return Err(Split(0).into());
            }
            let items = (0..fail_at)
                .map(Ok)
                .chain([Err(Split(fail_at).into()), Ok(99)]);
            Ok(futures::stream::iter(items))
        });
    let n1 = &cluster.node(1).rpc;
    let stream = n1
        .stream::<_, u64>(NodeId(2), "test.split", &3u64)
        .await
        .unwrap();
    let items: Vec<_> = stream.collect().await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert_eq!(items[2], Ok(2));
    assert_eq!(
        items[3].as_ref().unwrap_err().app_error::<Split>(),
        Some(Split(3))
    );
    let err = n1
        .stream::<_, u64>(NodeId(2), "test.split", &0u64)
        .await
        .err()
        .unwrap();
    assert_eq!(err.app_error::<Split>(), Some(Split(0)));
}
