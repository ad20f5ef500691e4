//! Errors of the raft layer, shaped by what the caller can do about them.

use base::{NodeId, RangeId};

/// Opening or initializing a group failed.
#[derive(Debug, thiserror::Error)]
pub enum RaftGroupError {
    /// The group's stored state could not be read, or the engine failed. Permanent for this
    /// store until an operator looks at it.
    #[error("{range}: raft storage: {message}")]
    Storage {
        /// The range.
        range: RangeId,
        /// What failed.
        message: String,
    },
    /// The configuration was rejected by openraft (e.g. heartbeat not below the election
    /// timeout).
    #[error("invalid raft config: {0}")]
    Config(String),
    /// The group stopped (shut down, or a fatal storage error). Reopen it.
    #[error("{range}: raft group stopped: {message}")]
    Stopped {
        /// The range.
        range: RangeId,
        /// Why.
        message: String,
    },
    /// `initialize` was given a voter set without this node.
    #[error("{range}: this node is not among the initial voters")]
    NotInVoters {
        /// The range.
        range: RangeId,
    },
}

/// A proposal (or a membership change, or a linearizable read) failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This replica is not the leader. Retry on `leader` when known (it may itself be stale),
    /// or after an election. Nothing was appended: the command did not and will not apply.
    #[error("not leader; leader is {leader:?}")]
    NotLeader {
        /// The leader as this replica knows it.
        leader: Option<NodeId>,
    },
    /// The command was appended but leadership changed before it committed: it may or may not
    /// apply. Retrying needs a command that is safe to apply twice (or a dedup on
    /// `proposal_id`).
    #[error(
        "leadership changed after the command was appended; outcome unknown (leader {leader:?})"
    )]
    Ambiguous {
        /// The new leader, when known.
        leader: Option<NodeId>,
    },
    /// No quorum answered in time, a membership change is in progress, or a wait timed out.
    /// Retryable later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The group is stopped or its storage failed. Not retryable on this replica.
    #[error("fatal: {0}")]
    Fatal(String),
}

impl ProposeError {
    /// True when retrying later (here or on the leader) may succeed without risk of applying
    /// the command twice.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProposeError::NotLeader { .. } | ProposeError::Unavailable(_)
        )
    }
}
