//! Consensus: one Raft group per range, on [openraft](https://docs.rs/openraft).
//!
//! # Concepts
//!
//! A **[`RaftGroup`]** is one range's replica of its Raft group on this node: an openraft
//! `Raft` over three pieces of ours. The *log store* (`log_store.rs`) keeps the range's log,
//! vote and commit point in the node's engine (`Cf::Raft`); the *state machine*
//! (`state_machine.rs`) hands committed commands to kv's [`Applier`] and writes their effects
//! together with the applied log id and membership (`Cf::State`); the *network* (`network.rs`)
//! sends openraft's messages to the other replicas over `rpc`. Voters elect the leader and
//! commit entries; learners (CockroachDB's non-voting replicas) receive the log and apply it,
//! but never vote. The leader is the leaseholder.
//!
//! The **[`RaftRouter`]** is the node's side of all groups: it registers the `raft.*` rpc
//! methods, finds the group a message is for by its range id, and opens a group through the
//! [`GroupFactory`] when a message arrives for a range the node has none of (a learner being
//! added). Its **[`RaftTransport`]** is what a group is opened with: the node id, the rpc
//! client, and the node's fsync coalescer (`syncer.rs`), which makes one engine sync serve the
//! log appends of every group waiting at the time.
//!
//! # Storage layout
//!
//! Keys start with the range id (8 bytes, big-endian); see `keys.rs`:
//!
//! - `Cf::Raft`: `range_id ++ b'l' ++ index` → postcard entry; `range_id ++ b'v'` → vote;
//!   `++ b'c'` → committed log id; `++ b'p'` → last purged log id.
//! - `Cf::State`: `range_id ++ b"applied"` → postcard `{ last applied log id, membership }`.
//!
//! # Durability
//!
//! Log appends are written at once with `Durability::Buffered`, so openraft can read them back
//! immediately, and reported flushed (`IOFlushed::io_completed`) only after an engine sync
//! (`syncer.rs`); a vote returns only after its sync. A node restarted on its store loses
//! nothing it acknowledged. State-machine writes (the applier's batch plus the applied state)
//! are buffered: the engine's journal makes buffered writes durable in order, so whatever
//! survives a crash is a prefix, and the log still holds every entry after it (a purge syncs
//! the engine first). Re-applying raw writes is idempotent.
//!
//! # The life of a proposal
//!
//! 1. kv calls [`RaftGroup::propose`] on the leader with a [`RaftCommand`]; it becomes
//!    openraft's `Raft::client_write`. On a follower it fails at once with
//!    [`ProposeError::NotLeader`] naming the leader.
//! 2. The leader's core assigns the next log index and calls `LogStore::append`: the entry is
//!    written to `Cf::Raft` and queued on the `syncer.rs`; after the next engine sync,
//!    `IOFlushed::io_completed` tells openraft it is durable.
//! 3. Replication tasks send it in `raft.append` messages (`network.rs`); each
//!    follower's router hands it to its group (`Raft::append_entries`), which appends and syncs
//!    the same way and acknowledges.
//! 4. Once a quorum of voters has it durable, the entry is committed, and each replica's
//!    state-machine worker calls `StateMachine::apply`: [`Applier::apply`] puts the command's
//!    effects into a batch, written with the applied log id in one engine write.
//! 5. After the write, [`Applier::applied`] is called (rangefeeds, closed timestamps), then the
//!    leader's responder resolves the proposer's future with the [`CommandResult`].
//!
//! # Snapshots
//!
//! The state machine is the engine itself, so a snapshot is not a file: openraft "builds" one
//! every [`RaftConfig::snapshot_after_logs`] entries by noting the applied log id, and then
//! purges the log behind it (minus [`RaftConfig::logs_kept_after_snapshot`]). When a follower
//! or a new learner needs entries already purged, the leader takes a consistent engine view on
//! the state-machine worker (between two applies), serialises `{ applied log id, membership,
//! Applier::snapshot_data }` with postcard, and sends it in `raft.snapshot` chunks. The
//! receiver reassembles it and installs it: [`Applier::install_snapshot_data`] plus the applied
//! state, in one batch.
//!
//! # Recovery
//!
//! [`RaftGroup::open`] reads the vote, the log bounds, the committed log id and the applied
//! state back from the engine; openraft re-applies committed entries past the applied one
//! before the group starts, and the group rejoins its peers (or campaigns) as usual.
//!
//! # Many groups
//!
//! Every group runs a few tokio tasks and, when idle, costs heartbeats and election timers
//! (about 0.012 % of a core per replica, see DESIGN.md). [`RaftGroup::set_quiescent`] stops a
//! group's ticker, taking its idle cost to zero; a proposal or a read wakes it.

mod config;
mod error;
mod gate;
mod group;
mod keys;
mod log_store;
mod network;
mod router;
mod state_machine;
mod syncer;
mod wire;

pub use config::RaftConfig;
pub use error::{ProposeError, RaftGroupError};
pub use group::RaftGroup;
pub use router::{GroupFactory, RaftRouter, RaftTransport};
pub(crate) use state_machine::SnapshotData;
pub use wire::RaftWireError;

use base::{NodeId, RangeId};

use crate::command::{CommandResult, RaftCommand};

openraft::declare_raft_types!(
    /// openraft's types for a range's group: entries carry [`RaftCommand`]s, applying one
    /// returns a [`CommandResult`]; nodes are `u64` ids (addresses come from `rpc`'s resolver).
    pub TypeConfig:
        D = RaftCommand,
        R = CommandResult,
        NodeId = u64,
        Node = openraft::EmptyNode,
);

pub(crate) type Raft = openraft::Raft<TypeConfig, state_machine::StateMachine>;
pub(crate) type LogId = openraft::alias::LogIdOf<TypeConfig>;
pub(crate) type Vote = openraft::alias::VoteOf<TypeConfig>;
pub(crate) type Entry = openraft::alias::EntryOf<TypeConfig>;
pub(crate) type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
pub(crate) type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
pub(crate) type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// Implemented by kv's replica code: what a command does to the state machine.
pub trait Applier: Send + Sync + 'static {
    /// Applies one committed normal entry of `range_id` at log `index`: puts its effects into
    /// `batch`. The raft layer writes `batch` atomically with the range's applied log id and
    /// membership. Entries of one apply round may share a batch, so effects of earlier entries
    /// of the round are not yet in the engine, except before a command with a trigger, which
    /// gets a batch of its own.
    fn apply(
        &self,
        range_id: RangeId,
        index: u64,
        cmd: &RaftCommand,
        batch: &mut storage::WriteBatch,
    ) -> CommandResult;

    /// Called after entries are applied and written (in order), for notifications (rangefeeds,
    /// closed timestamps, split follow-up). Must not block.
    fn applied(&self, range_id: RangeId, index: u64, cmd: &RaftCommand, result: &CommandResult);

    /// Called when the voter/learner sets of the group change (after apply of a membership
    /// entry, or a snapshot install). During a joint change `voters` holds both halves.
    fn membership_changed(&self, range_id: RangeId, voters: Vec<NodeId>, learners: Vec<NodeId>);

    /// Serialises the range's data for a snapshot, from a reader consistent with the applied
    /// state. Runs on a blocking thread.
    fn snapshot_data(
        &self,
        range_id: RangeId,
        reader: &dyn storage::Reader,
    ) -> Result<Vec<u8>, String>;

    /// Replaces the range's data with a snapshot's, into `batch` (deleting what the range held
    /// before, read through `reader`).
    fn install_snapshot_data(
        &self,
        range_id: RangeId,
        data: &[u8],
        reader: &dyn storage::Reader,
        batch: &mut storage::WriteBatch,
    ) -> Result<(), String>;
}
