//! What a range's Raft log carries.
//!
//! Sextant evaluates requests on the leaseholder ("proposer-evaluated"): the leaseholder reads
//! its state, runs MVCC logic, and proposes the *effects* — raw engine writes — plus the logical
//! operations that rangefeeds publish. Every replica applies the same raw writes in log order,
//! so application is deterministic and never re-runs MVCC logic.

use base::{RangeDescriptor, Timestamp};
use serde::{Deserialize, Serialize};

/// One raw write to the `Data` keyspace (the only keyspace commands touch directly).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RawWrite {
    /// Set a raw MVCC key.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a raw MVCC key.
    Delete(Vec<u8>),
}

/// A change visible to rangefeeds, published after the command applies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogicalOp {
    /// A committed value (or deletion, `value: None`) written at `ts` outside a transaction,
    /// or an intent committed at `ts`.
    Value {
        /// The user key.
        key: Vec<u8>,
        /// Commit timestamp.
        ts: Timestamp,
        /// The new value; `None` for a deletion.
        value: Option<Vec<u8>>,
    },
    /// An intent written at `ts`: holds the resolved timestamp below `ts` until resolved.
    IntentWritten {
        /// Transaction id.
        txn_id: uuid::Uuid,
        /// The user key.
        key: Vec<u8>,
        /// Provisional timestamp.
        ts: Timestamp,
    },
    /// An intent removed (committed, with a `Value` op alongside, or aborted).
    IntentResolved {
        /// Transaction id.
        txn_id: uuid::Uuid,
        /// The user key.
        key: Vec<u8>,
    },
}

/// Side effects on the range itself, applied atomically with the writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Trigger {
    /// The range splits: `left` is this range shrunk, `right` a new range with the same replicas.
    Split {
        /// This range after the split.
        left: RangeDescriptor,
        /// The new right-hand range.
        right: RangeDescriptor,
    },
    /// The range's descriptor changed (replica types after a membership change).
    UpdateDescriptor(RangeDescriptor),
}

/// One entry of a range's Raft log (the application payload).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftCommand {
    /// Identifies the proposal so its proposer can be told the result.
    pub proposal_id: u64,
    /// Raw writes, applied in order.
    pub writes: Vec<RawWrite>,
    /// What rangefeeds publish once applied.
    pub ops: Vec<LogicalOp>,
    /// The leaseholder promises no write at or below this timestamp will follow; followers may
    /// serve reads at or below it (follower reads) once they applied this command.
    pub closed_ts: Timestamp,
    /// A change to the range itself.
    pub trigger: Option<Trigger>,
}

impl std::fmt::Display for RaftCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cmd#{} writes={} ops={} closed={}{}",
            self.proposal_id,
            self.writes.len(),
            self.ops.len(),
            self.closed_ts,
            if self.trigger.is_some() {
                " +trigger"
            } else {
                ""
            }
        )
    }
}

/// What applying a command returned to its proposer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResult {
    /// The Raft log index the command applied at.
    pub index: u64,
    /// Set when applying failed (e.g. a split whose descriptor no longer matches).
    pub error: Option<String>,
}
