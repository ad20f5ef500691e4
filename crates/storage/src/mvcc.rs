//! Multi-version concurrency control over [`Cf::Data`](crate::Cf::Data), CockroachDB-like.
//!
//! Every write of a key is kept as a *version* at an HLC timestamp; a read at `ts` sees the
//! newest version at or below `ts`, and a delete is a version too (a *tombstone*). A
//! transaction writes *intents*: an intent record naming the transaction ([`TxnMeta`]) plus a
//! provisional version at the transaction's write timestamp. Readers and writers that meet
//! another transaction's intent get [`MvccError::WriteIntent`] and must resolve it (push the
//! transaction, then [`mvcc_resolve_intent`]) before retrying. The layout is in [`key`].
//!
//! # Invariants
//!
//! - A key has at most one intent record, and then exactly one provisional version, at the
//!   record's `write_ts`. Every other version of the key is committed.
//! - No committed version is written at or above an intent's timestamp by anyone else: writers
//!   meeting the intent get `WriteIntent`; a transaction's intent is only placed above every
//!   committed version (else `WriteTooOld`). So a committed version's timestamp identifies it.
//! - Functions never write to the engine: they read through a [`Reader`](crate::Reader) and
//!   append to a [`WriteBatch`](crate::WriteBatch), which the caller proposes through Raft and
//!   applies on every replica with [`Engine::write`](crate::Engine::write). Evaluation is
//!   deterministic given the reader's state.
//! - Writes read through a [`BatchReader`] over the batch so far, so several writes evaluated
//!   into one batch see each other (read-your-writes).
//!
//! # The life of a transactional write and a read
//!
//! 1. The leaseholder evaluates `Put(k)` for transaction `T` at write timestamp 10:
//!    [`mvcc_put`] reads `k`'s intent record ([`key::meta_key`]) and newest version; another
//!    transaction's intent fails with `WriteIntent`, a committed version at or above 10 with
//!    `WriteTooOld` (retry above it). Otherwise it appends the provisional version
//!    [`key::version_key`]`(k, 10)` and the intent record to the batch.
//! 2. The batch goes through Raft; every replica applies it with `Engine::write`.
//! 3. A reader at 12 calls [`mvcc_get`]: it finds `T`'s intent at 10 <= 12 and gets
//!    `WriteIntent`, since it cannot know yet whether `T` commits. A reader at 8 ignores the
//!    intent and returns the newest committed version at or below 8. `T` itself reads its own
//!    provisional value.
//! 4. `T` commits at 11. Each intent is resolved with [`mvcc_resolve_intent`] (or
//!    [`mvcc_resolve_span`]): the provisional value moves from 10 to 11 and the intent record is
//!    removed; the value is now an ordinary committed version. Had `T` aborted, both records
//!    would have been removed.
//! 5. The reader at 12 retries and sees the value at 11.
//!
//! # Bulk paths
//!
//! [`mvcc_export`] and [`mvcc_ingest`] serve BACKUP and RESTORE (latest versions or all
//! revisions in a time window); [`mvcc_changes`] and [`mvcc_min_intent_ts`] serve rangefeed
//! catch-up scans and resolved timestamps; [`raw_snapshot_entries`] and [`apply_raw_snapshot`]
//! ship a range's records verbatim in a Raft snapshot; [`mvcc_stats`] sizes a span for splits.

pub mod batch_reader;
pub mod export;
mod history;
pub mod key;
pub mod read;
pub mod span;
pub mod write;

#[cfg(test)]
mod golden;

use base::{Key, Timestamp};
use serde::{Deserialize, Serialize};

use crate::StorageError;

pub use batch_reader::BatchReader;
pub use export::{Export, ExportEntry, mvcc_changes, mvcc_export, mvcc_ingest};
pub use read::{ScanResult, mvcc_get, mvcc_get_uncertain, mvcc_scan, mvcc_scan_uncertain};
pub use span::{
    Stats, apply_raw_snapshot, mvcc_clear_span, mvcc_find_intents, mvcc_min_intent_ts, mvcc_stats,
    raw_snapshot_entries, raw_span_bounds,
};
pub use write::{MvccWriteOutcome, mvcc_put, mvcc_resolve_intent, mvcc_resolve_span};

/// The part of a transaction that its intents record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TxnMeta {
    /// The transaction's id.
    pub id: uuid::Uuid,
    /// The key of the transaction record, where its status lives.
    pub anchor: Key,
    /// Incremented on each restart; intents of an older epoch are invisible to the
    /// transaction.
    pub epoch: u32,
    /// The timestamp its writes are placed at; only moves up.
    pub write_ts: Timestamp,
    /// The timestamp the transaction started at; a lower bound on where it can commit.
    pub min_ts: Timestamp,
    /// Priority in conflicts: the higher one wins a push.
    pub priority: u32,
}

/// An intent met by a reader or writer: what it needs to push the transaction and resolve it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Intent {
    /// The key holding the intent.
    pub key: Key,
    /// The transaction that wrote it; `txn.write_ts` is where its provisional value is.
    pub txn: TxnMeta,
}

/// The outcome of a transaction, given when resolving its intents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TxnStatus {
    /// Still running, but pushed: the intent moves up to the given timestamp and stays.
    Pending,
    /// Committed: the provisional value becomes a committed version.
    Committed,
    /// Aborted: the intent and its provisional value are removed.
    Aborted,
}

/// A value read at a timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// The value's bytes.
    pub bytes: Vec<u8>,
    /// The timestamp of the version (for one's own intent, its provisional timestamp).
    pub ts: Timestamp,
}

/// Why an MVCC operation failed, and what the caller can do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MvccError {
    /// Other transactions' intents are in the way. Retryable: push each transaction (at its
    /// anchor), resolve the intents, and retry.
    #[error("conflicting intents on {}", describe_intents(.intents))]
    WriteIntent {
        /// Every conflicting intent met, in key order.
        intents: Vec<Intent>,
    },
    /// A committed version at or above the write's timestamp exists. Retryable: write again
    /// above `existing_ts` (the transaction's write timestamp moves up).
    #[error("write too old for key {key}: a committed version exists at {existing_ts}")]
    WriteTooOld {
        /// The key written.
        key: Key,
        /// The timestamp of the newest committed version.
        existing_ts: Timestamp,
    },
    /// A transaction met its own intent from a later epoch: the caller runs a stale
    /// incarnation of the transaction. Permanent for this attempt.
    #[error("txn at epoch {txn_epoch} met its own intent on key {key} from epoch {intent_epoch}")]
    EpochRegression {
        /// The key holding the intent.
        key: Key,
        /// The intent's epoch.
        intent_epoch: u32,
        /// The caller's epoch.
        txn_epoch: u32,
    },
    /// A commit below the intent's timestamp, which would change history already read.
    /// Permanent: a caller bug.
    #[error("cannot commit intent on key {key} written at {intent_ts} at the lower {commit_ts}")]
    CommitBelowIntent {
        /// The key holding the intent.
        key: Key,
        /// Where the provisional value is.
        intent_ts: Timestamp,
        /// The requested commit timestamp.
        commit_ts: Timestamp,
    },
    /// A read found a version above its timestamp but inside its uncertainty interval: the
    /// value may have been written before the read began, on a node whose clock was ahead.
    /// Retryable: read again at `value_ts.next()` or later (refresh or restart).
    #[error(
        "ReadWithinUncertaintyIntervalError: read at {read_ts} found a value of key {key} at \
         {value_ts} within the uncertainty interval (local limit {local_limit}, global limit \
         {global_limit})"
    )]
    ReadWithinUncertainty {
        /// A key holding an uncertain version (the one with the newest such version).
        key: Key,
        /// The read's timestamp.
        read_ts: Timestamp,
        /// The newest uncertain version's timestamp.
        value_ts: Timestamp,
        /// The uncertainty limit the read ran with on this node.
        local_limit: Timestamp,
        /// The transaction's global uncertainty limit.
        global_limit: Timestamp,
    },
    /// The engine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode. Permanent: the replica's data is damaged.
    #[error("corrupt MVCC data: {0}")]
    Corrupt(String),
}

/// The uncertainty interval of a read at `ts`: versions in `(ts, global]` may have been
/// written before the read began on a node whose clock ran ahead, unless their local timestamp
/// lies above `local`, a reading of the serving node's clock taken after the read began (an
/// observed timestamp), under which the leaseholder had served every write it ever served there.
///
/// `Uncertainty::NONE` (both limits at or below the read timestamp) reads without one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncertainty {
    /// The transaction's global limit: its first read timestamp plus the maximum clock offset.
    pub global: Timestamp,
    /// The limit on this node: at most `global`.
    pub local: Timestamp,
}

impl Uncertainty {
    /// No uncertainty interval.
    pub const NONE: Uncertainty = Uncertainty {
        global: Timestamp::ZERO,
        local: Timestamp::ZERO,
    };

    /// Whether a version at `version_ts` written locally at `local_ts` is uncertain for a read
    /// at `read_ts`.
    pub fn is_uncertain(
        &self,
        read_ts: Timestamp,
        version_ts: Timestamp,
        local_ts: Timestamp,
    ) -> bool {
        read_ts < version_ts && version_ts <= self.global && local_ts <= self.local
    }

    /// The highest timestamp at which another transaction's intent conflicts with a read at
    /// `read_ts`: an intent's value was written at its timestamp, so it is uncertain up to the
    /// local limit.
    pub fn intent_limit(&self, read_ts: Timestamp) -> Timestamp {
        read_ts.max(self.global.min(self.local))
    }

    /// The highest version timestamp a read at `read_ts` must look at: a version moved up to
    /// the global limit may have been written under the local one.
    pub fn version_limit(&self, read_ts: Timestamp) -> Timestamp {
        read_ts.max(self.global)
    }
}

/// At most this many intents are named in an error message.
const INTENTS_IN_MESSAGE: usize = 5;

fn describe_intents(intents: &[Intent]) -> String {
    let mut named: Vec<String> = intents
        .iter()
        .take(INTENTS_IN_MESSAGE)
        .map(|i| format!("{} (txn {} at {})", i.key, i.txn.id, i.txn.write_ts))
        .collect();
    if intents.len() > INTENTS_IN_MESSAGE {
        named.push(format!("and {} more", intents.len() - INTENTS_IN_MESSAGE));
    }
    named.join(", ")
}

/// The user keys `[start, end)` covered by a span, where an empty `end` means `start` alone.
pub(crate) fn span_keys(span: &base::Span) -> (Key, Key) {
    if span.end.0.is_empty() {
        (span.start.clone(), span.start.next())
    } else {
        (span.start.clone(), span.end.clone())
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared fixtures for the MVCC unit tests.
    use super::*;
    use crate::{Durability, Engine, WriteBatch};

    pub fn ts(wall: i64) -> Timestamp {
        Timestamp::new(wall, 0)
    }

    pub fn txn(n: u128, write: i64) -> TxnMeta {
        TxnMeta {
            id: uuid::Uuid::from_u128(n),
            anchor: Key::from("anchor"),
            epoch: 0,
            write_ts: ts(write),
            min_ts: ts(write),
            priority: 1,
        }
    }

    /// Runs `f` against the engine's current state and applies the batch it builds.
    pub fn apply<T>(
        engine: &dyn Engine,
        f: impl FnOnce(&dyn crate::Reader, &mut WriteBatch) -> Result<T, MvccError>,
    ) -> Result<T, MvccError> {
        let mut batch = WriteBatch::new();
        let out = f(engine, &mut batch)?;
        engine.write(batch, Durability::Buffered)?;
        Ok(out)
    }

    pub fn put(
        engine: &dyn Engine,
        key: &str,
        at: i64,
        value: Option<&str>,
        txn: Option<&TxnMeta>,
    ) -> Result<(), MvccError> {
        apply(engine, |r, b| {
            mvcc_put(r, b, &Key::from(key), ts(at), value.map(str::as_bytes), txn)
        })
        .map(|_| ())
    }

    pub fn get(engine: &dyn Engine, key: &str, at: i64) -> Option<String> {
        mvcc_get(engine, &Key::from(key), ts(at), None)
            .unwrap()
            .map(|v| String::from_utf8(v.bytes).unwrap())
    }
}
