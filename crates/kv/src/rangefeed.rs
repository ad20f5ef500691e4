//! Rangefeeds: a stream of committed changes to a span, then periodic checkpoints.
//!
//! Each replica keeps a [`Registry`] of subscribers. Registration happens under the same lock
//! that publishing takes after each applied command, together with taking an engine snapshot:
//! every change applied before registration is in the snapshot (the catch-up scan reads it),
//! every change applied after is published live. Per key, changes therefore arrive in commit
//! order, each once.
//!
//! A checkpoint promises that no change at or below its timestamp will follow for its span. It
//! is the replica's applied closed timestamp, held back below the oldest unresolved intent
//! (an intent may still commit at its own timestamp).
//!
//! A subscriber that cannot keep up (its bounded channel is full) is dropped with an error; the
//! client reconnects from its last checkpoint, so nothing is lost and memory stays bounded.

use crate::command::LogicalOp;
use base::{Key, Span, Timestamp};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// Events buffered per subscriber before it is dropped as too slow.
pub const SUBSCRIBER_BUFFER: usize = 8192;

/// One rangefeed event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangefeedEvent {
    /// A committed change.
    Value {
        /// The key.
        key: Key,
        /// Commit timestamp.
        ts: Timestamp,
        /// New value; `None` for a deletion.
        value: Option<Vec<u8>>,
    },
    /// Nothing at or below `resolved` will follow for `span`.
    Checkpoint {
        /// The span covered.
        span: Span,
        /// The resolved timestamp.
        resolved: Timestamp,
    },
    /// The feed ended: reconnect from the last checkpoint (`retry`), or give up.
    Error {
        /// What happened.
        message: String,
        /// True when the client should reconnect (split, lease or replica change, overflow).
        retry: bool,
    },
}

struct Subscriber {
    span: Span,
    tx: mpsc::Sender<RangefeedEvent>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    subs: HashMap<u64, Subscriber>,
    /// Unresolved intents by (txn, key) → timestamp; tracked only while subscribed.
    intents: HashMap<(uuid::Uuid, Vec<u8>), Timestamp>,
    seeded: bool,
}

/// The subscribers of one replica.
#[derive(Default)]
pub struct Registry {
    inner: Mutex<Inner>,
}

impl Registry {
    /// Registers a subscriber. `seed` runs under the registry lock, at the same instant as
    /// registration: the caller takes its engine snapshot there, and on the first registration
    /// returns the intents present (to track the resolved timestamp).
    pub fn register<F>(&self, span: Span, seed: F) -> (u64, mpsc::Receiver<RangefeedEvent>)
    where
        F: FnOnce(bool) -> Vec<(uuid::Uuid, Vec<u8>, Timestamp)>,
    {
        let (tx, rx) = mpsc::channel(SUBSCRIBER_BUFFER);
        let mut inner = self.inner.lock();
        let first = !inner.seeded;
        for (txn, key, ts) in seed(first) {
            inner.intents.insert((txn, key), ts);
        }
        inner.seeded = true;
        inner.next_id += 1;
        let id = inner.next_id;
        inner.subs.insert(id, Subscriber { span, tx });
        (id, rx)
    }

    /// Removes a subscriber.
    pub fn unregister(&self, id: u64) {
        let mut inner = self.inner.lock();
        inner.subs.remove(&id);
        if inner.subs.is_empty() {
            inner.intents.clear();
            inner.seeded = false;
        }
    }

    /// True when someone is subscribed.
    pub fn is_active(&self) -> bool {
        !self.inner.lock().subs.is_empty()
    }

    /// Publishes the logical ops of an applied command.
    pub fn publish(&self, ops: &[LogicalOp]) {
        let mut inner = self.inner.lock();
        if inner.subs.is_empty() {
            return;
        }
        let mut overflowed = Vec::new();
        for op in ops {
            match op {
                LogicalOp::IntentWritten { txn_id, key, ts } => {
                    inner.intents.insert((*txn_id, key.clone()), *ts);
                }
                LogicalOp::IntentResolved { txn_id, key } => {
                    inner.intents.remove(&(*txn_id, key.clone()));
                }
                LogicalOp::Value { key, ts, value } => {
                    let key = Key(key.clone());
                    for (id, sub) in &inner.subs {
                        if sub.span.contains_key(&key) {
                            let ev = RangefeedEvent::Value {
                                key: key.clone(),
                                ts: *ts,
                                value: value.clone(),
                            };
                            if sub.tx.try_send(ev).is_err() {
                                overflowed.push(*id);
                            }
                        }
                    }
                }
            }
        }
        for id in overflowed {
            if let Some(sub) = inner.subs.remove(&id) {
                let _ = sub.tx.try_send(RangefeedEvent::Error {
                    message: "rangefeed subscriber too slow; reconnect from last checkpoint".into(),
                    retry: true,
                });
            }
        }
    }

    /// The resolved timestamp given the applied closed timestamp.
    pub fn resolved(&self, closed: Timestamp) -> Timestamp {
        let inner = self.inner.lock();
        inner
            .intents
            .values()
            .map(|ts| ts.prev())
            .fold(closed, Timestamp::min)
    }

    /// Sends a checkpoint to every subscriber, clipped to `range_span`.
    pub fn checkpoint(&self, closed: Timestamp, range_span: &Span) {
        let resolved = self.resolved(closed);
        if resolved.is_zero() {
            return;
        }
        let mut inner = self.inner.lock();
        let mut overflowed = Vec::new();
        for (id, sub) in &inner.subs {
            let Some(span) = sub.span.intersect(range_span) else {
                continue;
            };
            if sub
                .tx
                .try_send(RangefeedEvent::Checkpoint { span, resolved })
                .is_err()
            {
                overflowed.push(*id);
            }
        }
        for id in overflowed {
            inner.subs.remove(&id);
        }
    }

    /// Ends every subscription with a retryable error (split, replica removed, lease change).
    pub fn disconnect_all(&self, message: &str) {
        let mut inner = self.inner.lock();
        for (_, sub) in inner.subs.drain() {
            let _ = sub.tx.try_send(RangefeedEvent::Error {
                message: message.to_string(),
                retry: true,
            });
        }
        inner.intents.clear();
        inner.seeded = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(w: i64) -> Timestamp {
        Timestamp::new(w, 0)
    }

    #[test]
    fn values_reach_matching_subscribers_in_order() {
        let reg = Registry::default();
        let (_, mut rx) = reg.register(Span::new("a", "m"), |_| vec![]);
        reg.publish(&[
            LogicalOp::Value {
                key: b"b".to_vec(),
                ts: ts(1),
                value: Some(b"1".to_vec()),
            },
            LogicalOp::Value {
                key: b"z".to_vec(),
                ts: ts(2),
                value: None,
            },
            LogicalOp::Value {
                key: b"b".to_vec(),
                ts: ts(3),
                value: None,
            },
        ]);
        assert!(matches!(rx.try_recv(), Ok(RangefeedEvent::Value { ts: t, .. }) if t == ts(1)));
        assert!(matches!(rx.try_recv(), Ok(RangefeedEvent::Value { ts: t, .. }) if t == ts(3)));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn unresolved_intents_hold_back_checkpoints() {
        let reg = Registry::default();
        let txn = uuid::Uuid::new_v4();
        let (_, mut rx) = reg.register(Span::new("a", "z"), |_| vec![]);
        reg.publish(&[LogicalOp::IntentWritten {
            txn_id: txn,
            key: b"c".to_vec(),
            ts: ts(10),
        }]);
        assert_eq!(reg.resolved(ts(20)), ts(10).prev());
        reg.publish(&[LogicalOp::IntentResolved {
            txn_id: txn,
            key: b"c".to_vec(),
        }]);
        assert_eq!(reg.resolved(ts(20)), ts(20));
        reg.checkpoint(ts(20), &Span::new("a", "k"));
        match rx.try_recv() {
            Ok(RangefeedEvent::Checkpoint { span, resolved }) => {
                assert_eq!(span, Span::new("a", "k"));
                assert_eq!(resolved, ts(20));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
