//! The KV request API: what a client (the SQL layer, jobs, the txn coordinator) sends to a
//! range, and what comes back.
//!
//! A [`BatchRequest`] targets one range (the [`crate::DistSender`] splits a client's batch by
//! range). Its [`Header`] carries the timestamp to read or write at, the transaction (if any),
//! and where it may be served: the leaseholder, or any replica whose closed timestamp covers the
//! read (a follower read).

use base::errcode::{self, Code};
use base::{Key, NodeId, RangeDescriptor, RangeId, Span, Timestamp};
use serde::{Deserialize, Serialize};
use storage::mvcc::{ExportEntry, Intent, TxnMeta};

/// Where a request may be served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Routing {
    /// Only the leaseholder (writes, fresh reads).
    #[default]
    Leaseholder,
    /// Any replica whose closed timestamp is at or above the read timestamp; the nearest one is
    /// tried first (follower reads). Read-only batches only.
    Nearest,
}

/// Transaction state sent with each request of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnHeader {
    /// The transaction's identity and provisional write timestamp.
    pub meta: TxnMeta,
    /// The timestamp the transaction reads at.
    pub read_ts: Timestamp,
    /// The transaction's global uncertainty limit: its first read timestamp plus the maximum
    /// clock offset (at or below `read_ts`: no uncertainty interval, as for historical reads).
    #[serde(default)]
    pub global_limit: Timestamp,
    /// Clock readings the transaction took on nodes it visited (observed timestamps): on node
    /// `n`, a version whose local timestamp lies above `n`'s reading was written after the
    /// transaction began, so is not uncertain there.
    #[serde(default)]
    pub observed: Vec<(NodeId, Timestamp)>,
}

impl TxnHeader {
    /// A header reading at `read_ts` with no uncertainty interval.
    pub fn new(meta: TxnMeta, read_ts: Timestamp) -> TxnHeader {
        TxnHeader {
            meta,
            read_ts,
            global_limit: Timestamp::ZERO,
            observed: Vec::new(),
        }
    }

    /// The transaction's observed timestamp on `node`, if it has one.
    pub fn observed_on(&self, node: NodeId) -> Option<Timestamp> {
        self.observed
            .iter()
            .find(|(n, _)| *n == node)
            .map(|(_, ts)| *ts)
    }
}

/// What every request of a batch shares.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The range the batch is for.
    pub range_id: RangeId,
    /// Read timestamp for non-transactional reads; write timestamp for non-transactional writes
    /// (zero: the leaseholder picks one).
    pub timestamp: Timestamp,
    /// The transaction, if any.
    pub txn: Option<TxnHeader>,
    /// Where the batch may be served.
    pub routing: Routing,
    /// The node that sent the batch (for metrics on cross-locality reads).
    pub gateway: NodeId,
}

/// Whether an intent resolution commits or aborts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolution {
    /// The transaction committed at this timestamp.
    Commit(Timestamp),
    /// The transaction aborted.
    Abort,
}

/// How a push wants to move the pushee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushKind {
    /// Abort the pushee if it is expired or lower priority.
    Abort,
    /// Only ask about its status.
    Query,
}

/// The durable status of a transaction, kept in its record at its anchor key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnRecordStatus {
    /// Running; alive while its heartbeat is recent.
    Pending,
    /// Committed at `commit_ts`.
    Committed,
    /// Aborted.
    Aborted,
}

/// A transaction record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRecord {
    /// The transaction.
    pub meta: TxnMeta,
    /// Status.
    pub status: TxnRecordStatus,
    /// Commit timestamp when committed.
    pub commit_ts: Timestamp,
    /// Last heartbeat, physical nanoseconds of the coordinator's clock.
    pub last_heartbeat: Timestamp,
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Read one key.
    Get {
        /// The key.
        key: Key,
    },
    /// Read keys in a span.
    Scan {
        /// The span.
        span: Span,
        /// Stop after this many keys (0 = no limit); the response then has a resume span.
        max_keys: usize,
        /// Newest key first.
        reverse: bool,
    },
    /// Write a key.
    Put {
        /// The key.
        key: Key,
        /// The value.
        value: Vec<u8>,
    },
    /// Write a key only if its current value equals `expected` (`None`: only if absent).
    ConditionalPut {
        /// The key.
        key: Key,
        /// The new value.
        value: Vec<u8>,
        /// The value the key must have now.
        expected: Option<Vec<u8>>,
    },
    /// Delete a key.
    Delete {
        /// The key.
        key: Key,
    },
    /// Delete every key in a span (within this range).
    DeleteRange {
        /// The span.
        span: Span,
    },
    /// Add `delta` to an integer stored as 8 big-endian bytes (absent = 0); returns the new value.
    Increment {
        /// The key.
        key: Key,
        /// The increment.
        delta: i64,
    },
    /// Create or refresh a pending transaction record (the coordinator's heartbeat).
    HeartbeatTxn {
        /// The coordinator's clock now.
        now: Timestamp,
    },
    /// Commit or abort: writes the transaction record at the anchor key.
    EndTxn {
        /// Commit (true) or abort.
        commit: bool,
        /// The commit timestamp.
        commit_ts: Timestamp,
        /// The transaction's write spans: those parts of them inside the anchor's range are
        /// resolved in the same Raft command as the record (the coordinator resolves the rest
        /// afterwards), so a transaction confined to one range needs no further write.
        resolve: Vec<Span>,
    },
    /// One-phase commit: the batch's other requests are the transaction's every write, all in
    /// this range; they are written as committed values at the batch's timestamp — no record,
    /// no intents, one Raft command. If the timestamp moves above the transaction's read
    /// timestamp, the `refresh` spans (its reads, all in this range) must show no change in
    /// between, or the batch fails with a retry error and writes nothing.
    CommitOnePhase {
        /// The transaction's read spans.
        refresh: Vec<Span>,
    },
    /// Ask about, or abort, another transaction (sent to the pushee's anchor range).
    PushTxn {
        /// The transaction being pushed.
        pushee: TxnMeta,
        /// What the pusher wants.
        kind: PushKind,
        /// The pusher's clock now, to judge the pushee's heartbeat.
        now: Timestamp,
    },
    /// Commit or remove one intent of a finished transaction.
    ResolveIntent {
        /// The key.
        key: Key,
        /// The transaction.
        txn_id: uuid::Uuid,
        /// Commit or abort.
        resolution: Resolution,
    },
    /// Commit or remove every intent of a finished transaction in a span (within this range).
    ResolveIntentRange {
        /// The span.
        span: Span,
        /// The transaction.
        txn_id: uuid::Uuid,
        /// Commit or abort.
        resolution: Resolution,
    },
    /// Check that nothing was written in `span` in `(from, to]` by anyone else, so a
    /// transaction whose write timestamp moved can keep its reads.
    Refresh {
        /// The span read.
        span: Span,
        /// The old read timestamp (exclusive).
        from: Timestamp,
        /// The new read timestamp (inclusive).
        to: Timestamp,
    },
    /// Export MVCC data changed in `(start, end]` (BACKUP).
    Export {
        /// The span.
        span: Span,
        /// Exclusive lower bound (zero for a full export).
        start: Timestamp,
        /// Inclusive upper bound.
        end: Timestamp,
        /// Every revision rather than the latest.
        all_revisions: bool,
        /// Stop after about this many bytes; the response then has a resume key.
        target_bytes: u64,
    },
    /// Write MVCC versions verbatim (RESTORE). They are not published to rangefeeds:
    /// RESTORE ingests into tables that stay offline until it finishes, which no changefeed
    /// can watch (a feed created afterwards reads them in its initial scan).
    Ingest {
        /// Sorted versions.
        entries: Vec<ExportEntry>,
    },
    /// Split the range at `key`.
    AdminSplit {
        /// The first key of the new right-hand range.
        key: Key,
    },
    /// Approximate statistics of the range.
    RangeStats,
}

impl Request {
    /// The request's name, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Get { .. } => "Get",
            Request::Scan { .. } => "Scan",
            Request::Put { .. } => "Put",
            Request::ConditionalPut { .. } => "ConditionalPut",
            Request::Delete { .. } => "Delete",
            Request::DeleteRange { .. } => "DeleteRange",
            Request::Increment { .. } => "Increment",
            Request::HeartbeatTxn { .. } => "HeartbeatTxn",
            Request::EndTxn { .. } => "EndTxn",
            Request::CommitOnePhase { .. } => "CommitOnePhase",
            Request::PushTxn { .. } => "PushTxn",
            Request::ResolveIntent { .. } => "ResolveIntent",
            Request::ResolveIntentRange { .. } => "ResolveIntentRange",
            Request::Refresh { .. } => "Refresh",
            Request::Export { .. } => "Export",
            Request::Ingest { .. } => "Ingest",
            Request::AdminSplit { .. } => "AdminSplit",
            Request::RangeStats => "RangeStats",
        }
    }

    /// True for requests that only read.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Request::Get { .. }
                | Request::Scan { .. }
                | Request::Refresh { .. }
                | Request::Export { .. }
                | Request::RangeStats
        )
    }

    /// True for requests that go to the leaseholder and are evaluated outside the MVCC write
    /// path (admin).
    pub fn is_admin(&self) -> bool {
        matches!(self, Request::AdminSplit { .. })
    }

    /// The span the request touches (a point request has an empty-end span of its key).
    pub fn span(&self) -> Span {
        match self {
            Request::Get { key }
            | Request::Put { key, .. }
            | Request::ConditionalPut { key, .. }
            | Request::Delete { key }
            | Request::Increment { key, .. }
            | Request::ResolveIntent { key, .. }
            | Request::AdminSplit { key } => Span {
                start: key.clone(),
                end: key.next(),
            },
            Request::Scan { span, .. }
            | Request::DeleteRange { span }
            | Request::ResolveIntentRange { span, .. }
            | Request::Refresh { span, .. }
            | Request::Export { span, .. } => span.clone(),
            Request::PushTxn { pushee, .. } => Span {
                start: pushee.anchor.clone(),
                end: pushee.anchor.next(),
            },
            Request::Ingest { entries } => match (entries.first(), entries.last()) {
                (Some(a), Some(b)) => Span {
                    start: a.key.clone(),
                    end: b.key.next(),
                },
                _ => Span::default(),
            },
            Request::HeartbeatTxn { .. }
            | Request::EndTxn { .. }
            | Request::CommitOnePhase { .. }
            | Request::RangeStats => Span::default(),
        }
    }
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: Key,
    /// The value.
    pub value: Vec<u8>,
    /// When it was written.
    pub ts: Timestamp,
}

/// Approximate statistics of a range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeStats {
    /// Live keys.
    pub key_count: u64,
    /// Bytes of live data.
    pub live_bytes: u64,
    /// Bytes of all versions.
    pub total_bytes: u64,
}

/// One response, in the order of the requests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The value, if any.
    Get(Option<KeyValue>),
    /// The rows, and where to resume if the limit stopped the scan.
    Scan {
        /// Rows in order.
        rows: Vec<KeyValue>,
        /// Unscanned remainder.
        resume: Option<Span>,
    },
    /// A write succeeded.
    Ok,
    /// The new value of an increment.
    Increment(i64),
    /// A transaction record after a push or end.
    Txn(TxnRecord),
    /// Exported versions and where to resume.
    Export {
        /// Versions in key order.
        entries: Vec<ExportEntry>,
        /// Unexported remainder.
        resume: Option<Key>,
    },
    /// Statistics.
    Stats(RangeStats),
}

/// A batch of requests for one range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRequest {
    /// Shared header.
    pub header: Header,
    /// The requests.
    pub requests: Vec<Request>,
}

impl BatchRequest {
    /// True when every request only reads.
    pub fn is_read_only(&self) -> bool {
        self.requests.iter().all(Request::is_read_only)
    }
}

/// The result of a batch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// One response per request.
    pub responses: Vec<Response>,
    /// The timestamp the writes were done at (may be above the requested one when pushed).
    pub write_ts: Timestamp,
    /// The node whose replica served the batch.
    pub served_by: NodeId,
    /// The clock readings of the nodes that served the batch, taken when it arrived there
    /// (observed timestamps for the transaction).
    #[serde(default)]
    pub observed: Vec<(NodeId, Timestamp)>,
}

/// Why a batch failed. Variants carry what the caller needs to act.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum KvError {
    /// This replica does not hold the lease; retry at `leaseholder` if known.
    #[error("{range_id}: not leaseholder (leaseholder: {leaseholder:?})")]
    NotLeaseholder {
        /// The range.
        range_id: RangeId,
        /// The leaseholder, if this replica knows it.
        leaseholder: Option<NodeId>,
    },
    /// This node has no replica of the range.
    #[error("{range_id} not found on this node")]
    RangeNotFound {
        /// The range.
        range_id: RangeId,
    },
    /// The keys are not (or no longer) in the range; the descriptor is the replica's current one.
    #[error("{range_id}: key range mismatch")]
    RangeKeyMismatch {
        /// The range addressed.
        range_id: RangeId,
        /// The replica's current descriptor.
        descriptor: Option<RangeDescriptor>,
    },
    /// A follower could not serve a read at this timestamp yet.
    #[error("{range_id}: follower read at {ts} above closed timestamp {closed}")]
    FollowerReadTooNew {
        /// The range.
        range_id: RangeId,
        /// The read timestamp.
        ts: Timestamp,
        /// The replica's closed timestamp.
        closed: Timestamp,
    },
    /// Conflicting intents of other transactions.
    #[error("conflicting intents on {}", intents.iter().map(|i| i.key.to_string()).collect::<Vec<_>>().join(", "))]
    WriteIntent {
        /// The intents.
        intents: Vec<Intent>,
    },
    /// A conditional put saw another value.
    #[error("unexpected value")]
    ConditionFailed {
        /// The key whose value differed.
        key: Key,
        /// The current value.
        actual: Option<Vec<u8>>,
    },
    /// The transaction was aborted (by a pusher or explicitly).
    #[error("TransactionAbortedError: {reason}")]
    TxnAborted {
        /// Why.
        reason: String,
    },
    /// The transaction must restart (SQLSTATE 40001).
    #[error("TransactionRetryError: {reason}")]
    TxnRetry {
        /// Why.
        reason: String,
    },
    /// A read found a value in its uncertainty interval: the transaction must read again at
    /// `value_ts.next()` or above (a refresh), or restart (SQLSTATE 40001).
    #[error(
        "ReadWithinUncertaintyIntervalError: read at time {read_ts} encountered previous write \
         with future timestamp {value_ts} within uncertainty interval `t <= (local={local_limit}, \
         global={global_limit})`"
    )]
    ReadWithinUncertainty {
        /// The key read.
        key: Key,
        /// The read's timestamp.
        read_ts: Timestamp,
        /// The uncertain version's timestamp.
        value_ts: Timestamp,
        /// The local uncertainty limit the read ran with.
        local_limit: Timestamp,
        /// The global uncertainty limit.
        global_limit: Timestamp,
    },
    /// A write may or may not have been applied (its Raft proposal was displaced by a new
    /// leader, or the connection broke after it was sent). Never retried inside KV: a retry
    /// of a write that did apply would write twice or fail spuriously (SQLSTATE 40003).
    #[error("result is ambiguous: {0}")]
    AmbiguousResult(String),
    /// This node's clock and a peer's differ by more than the maximum offset.
    #[error("clock synchronization error: {0}")]
    ClockOffset(String),
    /// No replica could serve the request in time.
    #[error("range unavailable: {0}")]
    Unavailable(String),
    /// A storage failure.
    #[error("storage error: {0}")]
    Storage(String),
    /// Anything else.
    #[error("internal error: {0}")]
    Internal(String),
}

impl KvError {
    /// The SQLSTATE a client sees for this error: 40001 for the errors a transaction answers
    /// by restarting (or refreshing), 58C00 when a range could not be reached, 40003 when a
    /// write may or may not have applied, 58000 for clock and storage failures, XX000 for the
    /// rest.
    pub fn code(&self) -> Code {
        match self {
            KvError::TxnRetry { .. }
            | KvError::TxnAborted { .. }
            | KvError::WriteIntent { .. }
            | KvError::ReadWithinUncertainty { .. } => errcode::SERIALIZATION_FAILURE,
            KvError::Unavailable(_)
            | KvError::NotLeaseholder { .. }
            | KvError::RangeNotFound { .. }
            | KvError::RangeKeyMismatch { .. }
            | KvError::FollowerReadTooNew { .. } => errcode::RANGE_UNAVAILABLE,
            KvError::ClockOffset(_) | KvError::Storage(_) => errcode::SYSTEM_ERROR,
            KvError::AmbiguousResult(_) => errcode::STATEMENT_COMPLETION_UNKNOWN,
            KvError::ConditionFailed { .. } | KvError::Internal(_) => errcode::INTERNAL_ERROR,
        }
    }

    /// True when the transaction must start over: [`run_txn`](crate::txn::run_txn) runs it
    /// again.
    pub fn is_txn_restart(&self) -> bool {
        matches!(self, KvError::TxnRetry { .. } | KvError::TxnAborted { .. })
    }

    /// True when the DistSender should retry elsewhere or later.
    pub fn is_routing(&self) -> bool {
        matches!(
            self,
            KvError::NotLeaseholder { .. }
                | KvError::RangeNotFound { .. }
                | KvError::RangeKeyMismatch { .. }
                | KvError::FollowerReadTooNew { .. }
                | KvError::Unavailable(_)
        )
    }
}

impl From<storage::mvcc::MvccError> for KvError {
    fn from(e: storage::mvcc::MvccError) -> KvError {
        use storage::mvcc::MvccError;
        match e {
            MvccError::WriteIntent { intents } => KvError::WriteIntent { intents },
            MvccError::WriteTooOld { key, existing_ts } => KvError::TxnRetry {
                reason: format!(
                    "WriteTooOld: write on {key} below existing version at {existing_ts}"
                ),
            },
            MvccError::ReadWithinUncertainty {
                key,
                read_ts,
                value_ts,
                local_limit,
                global_limit,
            } => KvError::ReadWithinUncertainty {
                key,
                read_ts,
                value_ts,
                local_limit,
                global_limit,
            },
            other => KvError::Storage(other.to_string()),
        }
    }
}
