//! How the executor reads KV: inside a transaction, or at a fixed past timestamp from the
//! nearest replica (`AS OF SYSTEM TIME`, a follower read).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base::{Key, NodeId, Span, Timestamp};
use kv::api::{BatchRequest, Header, KeyValue, Request, Response, Routing};
use kv::{DistSender, Txn};

use crate::error::{Result, SqlError};

/// A source of reads.
#[derive(Clone)]
pub enum Reader {
    /// Reads of a transaction, counted in the server's read counter.
    Txn(Arc<Txn>, Arc<AtomicU64>),
    /// Non-transactional reads at a fixed timestamp, served by the nearest replica whose closed
    /// timestamp covers it.
    Snapshot {
        /// The sender.
        sender: DistSender,
        /// The read timestamp.
        ts: Timestamp,
        /// This node.
        gateway: NodeId,
        /// The server's read counter.
        reads: Arc<AtomicU64>,
    },
}

impl Reader {
    /// Reads one key.
    pub async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        self.count();
        match self {
            Reader::Txn(t, _) => Ok(t.get(key).await?),
            Reader::Snapshot { .. } => {
                match self.snapshot(Request::Get { key: key.clone() }).await? {
                    Response::Get(v) => Ok(v.map(|kv| kv.value)),
                    other => Err(SqlError::internal(format!("unexpected response {other:?}"))),
                }
            }
        }
    }

    /// Reads a span (at most `max_keys`, 0 = all), in key order or reversed.
    pub async fn scan_dir(
        &self,
        span: &Span,
        max_keys: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        self.count();
        match self {
            Reader::Txn(t, _) => Ok(t.scan_dir(span, max_keys, reverse).await?),
            Reader::Snapshot { .. } => {
                let req = Request::Scan {
                    span: span.clone(),
                    max_keys,
                    reverse,
                };
                match self.snapshot(req).await? {
                    Response::Scan { rows, .. } => Ok(rows),
                    other => Err(SqlError::internal(format!("unexpected response {other:?}"))),
                }
            }
        }
    }

    /// Reads a span in key order.
    pub async fn scan(&self, span: &Span, max_keys: usize) -> Result<Vec<KeyValue>> {
        self.scan_dir(span, max_keys, false).await
    }

    async fn snapshot(&self, req: Request) -> Result<Response> {
        let Reader::Snapshot {
            sender,
            ts,
            gateway,
            ..
        } = self
        else {
            return Err(SqlError::internal("not a snapshot reader"));
        };
        let ba = BatchRequest {
            header: Header {
                timestamp: *ts,
                routing: Routing::Nearest,
                gateway: *gateway,
                ..Default::default()
            },
            requests: vec![req],
        };
        let resp = sender.send(ba).await?;
        resp.responses
            .into_iter()
            .next()
            .ok_or_else(|| SqlError::internal("empty response"))
    }

    /// The transaction, for writes; an error for a historical reader.
    pub fn txn(&self) -> Result<&Arc<Txn>> {
        match self {
            Reader::Txn(t, _) => Ok(t),
            Reader::Snapshot { .. } => Err(SqlError::new(
                base::errcode::FEATURE_NOT_SUPPORTED,
                "cannot execute a write in a read-only transaction (AS OF SYSTEM TIME)",
            )),
        }
    }

    fn count(&self) {
        match self {
            Reader::Txn(_, reads) | Reader::Snapshot { reads, .. } => {
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The timestamp reads are served at.
    pub fn read_ts(&self) -> Timestamp {
        match self {
            Reader::Txn(t, _) => t.read_ts(),
            Reader::Snapshot { ts, .. } => *ts,
        }
    }
}
