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
//! the state-machine worker (between two applies) and streams it: the records of the spans the
//! [`Applier`] names are read from the view and sent in `raft.snapshot` chunks of
//! [`RaftConfig::snapshot_chunk_size`] as they are read. The receiver appends the chunks to a
//! staged file, checks the stream whole, and installs it in bounded batches, crash-safely (an
//! install marker first, the applied state last; a group opened with a marker finishes the
//! install from the file). Neither side holds the range in memory: see `snapshot.rs`.
//!
//! # Recovery
//!
//! [`RaftGroup::open`] reads the vote, the log bounds, the committed log id and the applied
//! state back from the engine; openraft re-applies committed entries past the applied one
//! before the group starts, and the group rejoins its peers (or campaigns) as usual.
//!
//! # Many groups
//!
//! Every group runs a few tokio tasks. They cost nothing while they wait, but an awake group
//! ticks: openraft's ticker fires every `heartbeat × 13/64` (about 100 ms by default), the
//! leader sends heartbeats and the followers check their election timers. Measured with 200 ms
//! heartbeats (the default then), 1,000 ranges × 3 replicas in one process on 2 cores: 93–140 %
//! of a core in a release build (0.03–0.05 % per replica; 0.28 % per replica in a debug build)
//! and about 0.2 MB per replica. So idle groups quiesce.
//!
//! **Heartbeats time out at their interval** (openraft's heartbeat worker bounds each by it),
//! and a leader's lease is renewed only by what a quorum answered in time. A woken leader, whose
//! lease has lapsed, sends no appends (writes are refused until it is renewed), so if every
//! heartbeat takes longer than the interval its lease never comes back. The default interval
//! (500 ms, half the shortest election timeout) leaves room for a cross-region round trip on a
//! loaded node; with 100 ms heartbeats, 50 groups on a starved debug runtime stayed without a
//! lease for good (the `fifty_idle_groups` test).
//!
//! **Quiescing.** A leader quiesces its group once it has been idle for
//! [`RaftConfig::quiesce_after`] (2 s by default): no proposal, membership change, leader
//! transfer or linearizable read in flight or ended since; no new entry and no new term; its
//! whole log applied; no joint or uncommitted membership; and every voter and learner matched
//! up to its last log index. The router's one loop per node (every quarter of `quiesce_after`)
//! checks this from each group's metrics. The leader then stops its own ticker, bumps its
//! *quiescence epoch* and sends `raft.quiesce { term, last_index }` to every other replica.
//! A replica agrees, and stops its ticker (so its election timer), only if it follows that
//! leader in that term and holds and applied its log up to `last_index`. If any replica
//! refuses or cannot be reached, or anything happened meanwhile, the leader wakes again and
//! waits another `quiesce_after` before it tries again; so a range with a replica on a dead
//! node stays awake until the allocator replaces that replica.
//!
//! **Epochs.** Every raft message carries the sender's quiescence epoch (which starts at the
//! wall clock in milliseconds, so it grows across restarts). A quiescent replica wakes on any
//! message except one from the leader it quiesced under with an earlier epoch: a heartbeat
//! still in flight when the leader quiesced must not wake it (the leader would then send
//! nothing more, and the replica's election timer would fire).
//!
//! **Waking.** A proposal, [`RaftGroup::ensure_linearizable`], [`RaftGroup::add_learner`],
//! [`RaftGroup::change_membership`] or [`RaftGroup::transfer_leader`] on the leader wakes it
//! first: it restarts its ticker and sends a heartbeat round at once. A quiesced leader's lease
//! has expired, so openraft rejects writes (`LeaseExpired`) until a quorum answers that round;
//! `propose` retries meanwhile. Followers wake when that heartbeat (or any later message)
//! arrives, after the message has renewed their view of the leader, so their election timers
//! start afresh and nobody campaigns. (Restarting a follower's ticker on its own, after seconds
//! of quiescence, makes it campaign at its first tick: DESIGN.md measured re-elections in 73 %
//! of the groups woken that way.) A replica asked for something it cannot serve calls
//! [`RaftGroup::wake`]: a follower sends `raft.wake` to its leader, which wakes as above; if
//! the leader cannot be reached or no longer leads, the follower restarts its ticker and
//! campaigns. A vote request wakes a quiesced leader (so that it makes itself heard), and the
//! target of a leader transfer wakes before it campaigns.
//!
//! **Liveness.** A quiescent follower runs no election timer: if its leader's node dies, nothing
//! happens until someone wakes it. The node calls [`RaftRouter::wake_groups_led_by`] when
//! liveness says a node is down; every quiescent replica that followed that node restarts its
//! ticker and the voters elect a new leader at once (their timeouts passed long ago): 10–30 ms
//! on loopback. A request reaching such a follower does the same through [`RaftGroup::wake`].
//! The router's loop also wakes a quiescent replica whose term or leader changed under it.
//!
//! **Reads.** Closed timestamps reach quiescent ranges through the store's side transport,
//! which needs no Raft write, so follower reads and rangefeeds keep working; reads on the
//! leaseholder under an unchanged lease term do not wake the range either.
//!
//! **Measured** (same machine and timings as above): quiesced, 1,000 ranges × 3 replicas cost
//! 0.25–0.5 % of a core for the whole process in a release build (below the 10 ms resolution of
//! the process counters over 4 s: under 0.0002 % per replica), and 50 × 3 cost 0.4 % of the
//! test's thread in a debug build with the tests' 500 ms `quiesce_after`; memory does not
//! change. The first write to each of 50 woken groups, all at once, returns in about 0.2 s
//! (debug build), with no election. Heartbeats are not coalesced per node pair (as CockroachDB
//! does): with quiescence the idle cost is already well below the 5 % of a core budgeted for
//! 1,000 idle ranges.

mod config;
mod error;
mod gate;
mod group;
mod keys;
mod log_store;
mod network;
mod router;
pub(crate) mod snapshot;
mod state_machine;
#[cfg(test)]
mod storage_suite;
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

/// Whether a `Cf::State` key is the marker of an unfinished snapshot install (see `snapshot`).
pub(crate) fn is_install_marker(key: &[u8]) -> bool {
    keys::installing_range(key).is_some()
}

/// The range whose applied state a `Cf::State` key holds, if it is such a key.
pub(crate) fn applied_state_range(key: &[u8]) -> Option<RangeId> {
    keys::applied_range(key)
}

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

    /// What a snapshot of the range holds as `reader` sees it (a view consistent with the
    /// applied state, taken between two applies): the applier's header (for kv, the descriptor
    /// and the closed timestamp) and the raw `Cf::Data` spans whose records the snapshot ships.
    /// The raft layer streams those records itself ([`snapshot`] module docs). Must be cheap:
    /// it runs on the state-machine worker.
    fn snapshot_content(
        &self,
        range_id: RangeId,
        reader: &dyn storage::Reader,
    ) -> Result<SnapshotContent, String>;

    /// What installing a snapshot with `header` does: the raw `Cf::Data` spans it replaces
    /// (cleared first; every record of the snapshot must lie in one of them, or the snapshot
    /// is refused before anything is written) and the writes that complete it, written in the
    /// install's last batch together with the applied state. Writes nothing; may be called on
    /// network input, so it must fail, not panic, on a bad header.
    fn plan_install(&self, range_id: RangeId, header: &[u8]) -> Result<InstallPlan, String>;

    /// An install of `plan` into `range_id` is about to write: the returned guard is held
    /// until the install ended (written whole, or abandoned). While it is held the install's
    /// spans are half written, so nobody else may read or delete them (kv: follower reads and
    /// rangefeeds are refused, the store's sweep of leftover data waits).
    fn begin_install(&self, range_id: RangeId, plan: &InstallPlan) -> Box<dyn Send>;

    /// The install of `header` into `range_id` was written whole (before its guard drops).
    fn installed(&self, range_id: RangeId, header: &[u8]);
}

/// A raw `[start, end)` of `Cf::Data` (an empty `end` is unbounded).
pub type RawSpan = (Vec<u8>, Vec<u8>);

/// What a snapshot holds besides the raft meta: see [`Applier::snapshot_content`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotContent {
    /// The applier's own state, opaque to the raft layer.
    pub header: Vec<u8>,
    /// The spans whose raw `Cf::Data` records the snapshot carries, in key order.
    pub spans: Vec<RawSpan>,
}

/// How a snapshot is installed: see [`Applier::plan_install`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallPlan {
    /// The raw `Cf::Data` spans the snapshot replaces.
    pub spans: Vec<RawSpan>,
    /// Written last, atomically with the applied state.
    pub finish: storage::WriteBatch,
}
