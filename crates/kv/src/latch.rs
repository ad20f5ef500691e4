//! Per-key latches: requests on one range that touch different keys evaluate and replicate
//! concurrently; requests whose spans overlap, one of them writing, run one after the other in
//! arrival order (CockroachDB's `spanlatch` manager, without its timestamp awareness).
//!
//! A request declares every span it reads or writes ([`Latch`]) and calls
//! [`LatchManager::acquire`]. It takes a sequence number, records its latches, and waits until
//! every *earlier* request with a conflicting latch has released (dropped its [`LatchGuard`]).
//! Waiting only on earlier requests makes the wait graph acyclic: no deadlock, and arrival
//! order is kept between conflicting requests. Two reads never conflict; a read and a write, or
//! two writes, conflict when their spans overlap. A span with an empty end is one key.
//!
//! What the latch protects (see [`crate::replica`]): a read never observes a write that is
//! evaluated but not yet applied on an overlapping key, and two writes of one key are
//! evaluated against each other's effects, in order.

use base::Span;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// One span a request reads or writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latch {
    /// The keys; an empty `end` means `start` alone.
    pub span: Span,
    /// Whether the request writes the span.
    pub write: bool,
}

impl Latch {
    /// A read latch.
    pub fn read(span: Span) -> Latch {
        Latch { span, write: false }
    }

    /// A write latch.
    pub fn write(span: Span) -> Latch {
        Latch { span, write: true }
    }

    fn conflicts(&self, other: &Latch) -> bool {
        (self.write || other.write) && overlaps(&self.span, &other.span)
    }
}

/// Whether two spans share a key (an empty end is the single key `start`).
pub fn overlaps(a: &Span, b: &Span) -> bool {
    let (a0, a1) = bounds(a);
    let (b0, b1) = bounds(b);
    a0 < b1 && b0 < a1
}

fn bounds(s: &Span) -> (base::Key, base::Key) {
    if s.end.0.is_empty() {
        (s.start.clone(), s.start.next())
    } else {
        (s.start.clone(), s.end.clone())
    }
}

struct Held {
    latches: Vec<Latch>,
    /// Becomes `true` when the holder releases.
    released: watch::Receiver<bool>,
}

#[derive(Default)]
struct State {
    next: u64,
    held: BTreeMap<u64, Held>,
}

/// The latches of one range. Cheap to clone; clones share the latches.
#[derive(Clone, Default)]
pub struct LatchManager {
    state: Arc<Mutex<State>>,
}

/// Latches held until dropped.
pub struct LatchGuard {
    state: Arc<Mutex<State>>,
    seq: u64,
    done: watch::Sender<bool>,
}

impl Drop for LatchGuard {
    fn drop(&mut self) {
        self.state.lock().held.remove(&self.seq);
        let _ = self.done.send(true);
    }
}

impl LatchManager {
    /// No latches held.
    pub fn new() -> LatchManager {
        LatchManager::default()
    }

    /// Takes `latches`, waiting for every earlier conflicting request to release. Dropping the
    /// returned future before it completes releases the latches too.
    pub async fn acquire(&self, latches: Vec<Latch>) -> LatchGuard {
        let (done, released) = watch::channel(false);
        let (guard, waits) = {
            let mut st = self.state.lock();
            let seq = st.next;
            st.next += 1;
            let waits: Vec<watch::Receiver<bool>> = st
                .held
                .values()
                .filter(|h| {
                    h.latches
                        .iter()
                        .any(|l| latches.iter().any(|m| l.conflicts(m)))
                })
                .map(|h| h.released.clone())
                .collect();
            st.held.insert(seq, Held { latches, released });
            (
                LatchGuard {
                    state: self.state.clone(),
                    seq,
                    done,
                },
                waits,
            )
        };
        for mut w in waits {
            // An error means the holder's guard is gone: released.
            let _ = w.wait_for(|released| *released).await;
        }
        guard
    }

    /// Takes `latches` only if no request holds or waits for a conflicting one.
    pub fn try_acquire(&self, latches: Vec<Latch>) -> Option<LatchGuard> {
        let mut st = self.state.lock();
        let blocked = st.held.values().any(|h| {
            h.latches
                .iter()
                .any(|l| latches.iter().any(|m| l.conflicts(m)))
        });
        if blocked {
            return None;
        }
        let (done, released) = watch::channel(false);
        let seq = st.next;
        st.next += 1;
        st.held.insert(seq, Held { latches, released });
        Some(LatchGuard {
            state: self.state.clone(),
            seq,
            done,
        })
    }

    /// How many requests hold or wait for latches.
    pub fn len(&self) -> usize {
        self.state.lock().held.len()
    }

    /// Whether no request holds or waits for latches.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn key(k: &str) -> Span {
        Span::new(k, "")
    }

    fn span(a: &str, b: &str) -> Span {
        Span::new(a, b)
    }

    async fn blocked(m: &LatchManager, l: Vec<Latch>) -> bool {
        tokio::time::timeout(Duration::from_millis(50), m.acquire(l))
            .await
            .is_err()
    }

    #[test]
    fn overlap_rules() {
        assert!(overlaps(&key("a"), &key("a")));
        assert!(!overlaps(&key("a"), &key("b")));
        assert!(overlaps(&key("b"), &span("a", "c")));
        assert!(!overlaps(&key("c"), &span("a", "c")));
        assert!(overlaps(&span("a", "c"), &span("b", "d")));
        assert!(!overlaps(&span("a", "b"), &span("b", "c")));
    }

    #[tokio::test]
    async fn disjoint_writes_and_shared_reads_proceed_together() {
        let m = LatchManager::new();
        let _a = m.acquire(vec![Latch::write(key("a"))]).await;
        let _b = m.acquire(vec![Latch::write(key("b"))]).await;
        let _r1 = m.acquire(vec![Latch::read(span("c", "z"))]).await;
        let _r2 = m.acquire(vec![Latch::read(span("c", "z"))]).await;
        assert_eq!(m.len(), 4);
    }

    #[tokio::test]
    async fn conflicting_requests_wait_in_arrival_order() {
        let m = LatchManager::new();
        let w = m.acquire(vec![Latch::write(key("k"))]).await;
        assert!(blocked(&m, vec![Latch::read(span("a", "z"))]).await);
        assert!(blocked(&m, vec![Latch::write(key("k"))]).await);
        assert!(m.try_acquire(vec![Latch::read(key("k"))]).is_none());
        assert!(m.try_acquire(vec![Latch::read(key("j"))]).is_some());
        // A second writer queues behind the first; a reader behind both.
        let m2 = m.clone();
        let second = tokio::spawn(async move {
            let g = m2.acquire(vec![Latch::write(key("k"))]).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(g);
            tokio::time::Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let m3 = m.clone();
        let reader = tokio::spawn(async move {
            let _g = m3.acquire(vec![Latch::read(key("k"))]).await;
            tokio::time::Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!second.is_finished() && !reader.is_finished());
        drop(w);
        let (second_done, read_at) = (second.await.unwrap(), reader.await.unwrap());
        assert!(
            read_at >= second_done,
            "the reader waited for the earlier writer"
        );
        assert!(m.is_empty());
    }

    #[tokio::test]
    async fn an_abandoned_wait_releases_its_latches() {
        let m = LatchManager::new();
        let w = m.acquire(vec![Latch::write(key("k"))]).await;
        assert!(blocked(&m, vec![Latch::write(key("k"))]).await);
        drop(w);
        assert!(m.is_empty());
        let _again = m.acquire(vec![Latch::write(key("k"))]).await;
    }
}
