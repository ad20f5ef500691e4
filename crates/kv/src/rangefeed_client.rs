//! The client side of rangefeeds: one stream over a span that may cross many ranges, that
//! survives splits, lease and replica changes, and node failures.
//!
//! [`rangefeed`] starts one worker per range piece of the span. Each worker opens a rangefeed
//! at the replica closest to this node ([`DistSender::rangefeed_range`]), forwards values and
//! checkpoints, and on any error reconnects from the last checkpoint it saw for its piece —
//! re-looking up the range, and splitting into several workers if the range split. Values are
//! delivered at least once; a value at or below a checkpoint already delivered for its span is
//! never delivered again.

use crate::dist_sender::DistSender;
use crate::rangefeed::RangefeedEvent;
use base::{Span, Timestamp};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events buffered towards the consumer; a slow consumer slows the workers.
pub const CLIENT_BUFFER: usize = 4096;

/// Subscribes to every change in `span` after `start`.
pub fn rangefeed(
    sender: DistSender,
    span: Span,
    start: Timestamp,
) -> (mpsc::Receiver<RangefeedEvent>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let handle = tokio::spawn(async move {
        let mut workers = tokio::task::JoinSet::new();
        workers.spawn(piece_worker(sender, span, start, tx));
        while workers.join_next().await.is_some() {}
    });
    (rx, handle)
}

fn piece_worker(
    sender: DistSender,
    piece: Span,
    start: Timestamp,
    tx: mpsc::Sender<RangefeedEvent>,
) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(async move {
        let mut piece = piece;
        let mut resolved = start;
        let mut backoff = Duration::from_millis(20);
        loop {
            if tx.is_closed() {
                return;
            }
            let desc = match sender.lookup(&piece.start).await {
                Ok(d) => d,
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            // The range no longer covers the whole piece: hand the rest to a new worker.
            if desc.end_key < piece.end {
                let rest = Span {
                    start: desc.end_key.clone(),
                    end: piece.end.clone(),
                };
                tokio::spawn(piece_worker(sender.clone(), rest, resolved, tx.clone()));
                piece.end = desc.end_key.clone();
            }
            let stream = match sender.rangefeed_range(&desc, piece.clone(), resolved).await {
                Ok(s) => s,
                Err(_) => {
                    sender.evict(&desc);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            backoff = Duration::from_millis(20);
            let mut stream = stream;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(RangefeedEvent::Error { .. }) | Err(_) => break,
                    Ok(RangefeedEvent::Checkpoint { span, resolved: r }) => {
                        resolved = resolved.max(r);
                        if tx
                            .send(RangefeedEvent::Checkpoint { span, resolved: r })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Ok(ev) => {
                        if tx.send(ev).await.is_err() {
                            return;
                        }
                    }
                }
            }
            sender.evict(&desc);
            tokio::time::sleep(backoff).await;
        }
    })
}
