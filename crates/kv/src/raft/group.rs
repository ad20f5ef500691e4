//! [`RaftGroup`]: one range's Raft group on this node, as the rest of kv uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base::{NodeId, RangeId};
use openraft::async_runtime::WatchReceiver;
use openraft::error::{
    ClientWriteError, ForwardReason, ForwardToLeader, InitializeError, LinearizableReadError,
    RaftError,
};
use openraft::{ChangeMembers, EmptyNode, LinearizerOption};
use storage::{Cf, Durability, Engine, WriteBatch};

use super::error::{ProposeError, RaftGroupError};
use super::gate::Gate;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::router::RaftTransport;
use super::state_machine::StateMachine;
use super::{Applier, Raft, RaftConfig, TypeConfig, keys};
use crate::command::{CommandResult, RaftCommand};

/// How long `open` waits for the group to report its recovered state.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// One range's Raft group on this node. Cheap to clone; clones share the group.
#[derive(Clone)]
pub struct RaftGroup {
    inner: Arc<Inner>,
}

struct Inner {
    range: RangeId,
    node: NodeId,
    raft: Raft,
    engine: Arc<dyn Engine>,
    gate: Gate,
    quiet: AtomicBool,
    /// The state machine's applied index, exact with respect to the engine.
    applied: Arc<AtomicU64>,
    /// How long a proposal retries while a woken leader renews its lease.
    lease_wait: Duration,
    /// How long `transfer_leader` waits for the target to take over.
    election_wait: Duration,
    learner_catchup_timeout: Duration,
}

impl std::fmt::Debug for RaftGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftGroup")
            .field("range", &self.inner.range)
            .field("node", &self.inner.node)
            .field("leader", &self.leader())
            .finish()
    }
}

fn node_id(id: Option<u64>) -> Option<NodeId> {
    id.map(NodeId)
}

fn fatal(e: impl std::fmt::Display) -> ProposeError {
    ProposeError::Fatal(e.to_string())
}

/// A rejected write: why, as the caller can act on it.
fn forward(f: ForwardToLeader<TypeConfig>) -> ProposeError {
    match f.reason {
        ForwardReason::LeaseExpired => {
            ProposeError::Unavailable("leader lease expired (no quorum heard recently)".into())
        }
        _ => ProposeError::NotLeader {
            leader: node_id(f.leader_id),
        },
    }
}

fn write_error(e: RaftError<TypeConfig, ClientWriteError<TypeConfig>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => forward(f),
        RaftError::APIError(ClientWriteError::LogEntryDiscarded(f)) => ProposeError::Ambiguous {
            leader: node_id(f.leader_id),
        },
        RaftError::APIError(e @ ClientWriteError::ChangeMembershipError(_)) => {
            ProposeError::Unavailable(e.to_string())
        }
        RaftError::APIError(e @ ClientWriteError::PreconditionFailed(_)) => {
            ProposeError::Unavailable(e.to_string())
        }
        RaftError::Fatal(e) => fatal(e),
    }
}

impl RaftGroup {
    /// Opens the group of `range_id` on node `node_id`, recovering its log, vote and applied
    /// state from `engine` (an empty store gives an uninitialized group). Committed entries not
    /// yet applied are re-applied through `applier` before this returns.
    pub async fn open(
        range_id: RangeId,
        node_id: NodeId,
        engine: Arc<dyn Engine>,
        transport: RaftTransport,
        applier: Arc<dyn Applier>,
        cfg: &RaftConfig,
    ) -> Result<RaftGroup, RaftGroupError> {
        let storage_err = |e: std::io::Error| RaftGroupError::Storage {
            range: range_id,
            message: e.to_string(),
        };
        let config = cfg
            .to_openraft()
            .map_err(|e| RaftGroupError::Config(e.to_string()))?;
        let gate = Gate::default();
        let syncer = transport.syncer(&engine);
        let log = LogStore::new(range_id, engine.clone(), syncer, gate.clone());
        let sm = StateMachine::open(range_id, engine.clone(), applier, gate.clone())
            .map_err(storage_err)?;
        let applied = sm.applied_index();
        let recovered = sm.last_applied();
        let network = NetworkFactory::new(transport, range_id, cfg.election_timeout_min);
        let raft = Raft::new(node_id.0, Arc::new(config), network, log, sm)
            .await
            .map_err(|e| RaftGroupError::Storage {
                range: range_id,
                message: e.to_string(),
            })?;
        // The metrics start empty: wait until they show the recovered state, so that
        // `leader`, `voters` and `learners` are right as soon as the group is open.
        let wait = raft.wait(Some(OPEN_TIMEOUT));
        wait.metrics(|m| m.last_applied >= recovered, "recovery")
            .await
            .map_err(|e| RaftGroupError::Storage {
                range: range_id,
                message: e.to_string(),
            })?;
        let election_wait = cfg.election_timeout_max * 3;
        Ok(RaftGroup {
            inner: Arc::new(Inner {
                range: range_id,
                node: node_id,
                raft,
                engine,
                gate,
                quiet: AtomicBool::new(false),
                applied,
                lease_wait: cfg.election_timeout_max,
                election_wait,
                learner_catchup_timeout: cfg.learner_catchup_timeout,
            }),
        })
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// Makes this a new group of `voters` (which must include this node). Idempotent: Ok when
    /// the group already has a log. Every initial voter may call it with the same set.
    pub async fn initialize(&self, voters: &[NodeId]) -> Result<(), RaftGroupError> {
        let stopped = |e: &dyn std::fmt::Display| RaftGroupError::Stopped {
            range: self.inner.range,
            message: e.to_string(),
        };
        if self
            .inner
            .raft
            .is_initialized()
            .await
            .map_err(|e| stopped(&e))?
        {
            return Ok(());
        }
        let members: BTreeMap<u64, EmptyNode> =
            voters.iter().map(|n| (n.0, EmptyNode::new())).collect();
        match self.inner.raft.initialize(members).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => Ok(()),
            Err(RaftError::APIError(InitializeError::NotInMembers(_))) => {
                Err(RaftGroupError::NotInVoters {
                    range: self.inner.range,
                })
            }
            Err(RaftError::Fatal(e)) => Err(stopped(&e)),
        }
    }

    /// Proposes `cmd`: appended to the log (fsynced), replicated, committed, applied on this
    /// node through the [`Applier`]; returns what applying it returned. Wakes a quiescent group.
    pub async fn propose(&self, cmd: RaftCommand) -> Result<CommandResult, ProposeError> {
        self.wake().await;
        let deadline = tokio::time::Instant::now() + self.inner.lease_wait;
        loop {
            match self.inner.raft.client_write(cmd.clone()).await {
                Ok(resp) => return Ok(resp.data),
                // A leader woken from quiescence (or just elected) renews its lease with the
                // next heartbeat round; nothing was appended, so retrying is safe.
                Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))
                    if f.reason == ForwardReason::LeaseExpired
                        && self.is_leader()
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(write_error(e)),
            }
        }
    }

    /// The range of this group.
    pub fn range_id(&self) -> RangeId {
        self.inner.range
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node
    }

    /// The leader as this replica knows it (from metrics; may be stale).
    pub fn leader(&self) -> Option<NodeId> {
        node_id(
            self.inner
                .raft
                .server_metrics()
                .borrow_watched()
                .current_leader,
        )
    }

    /// Whether this replica is the leader (from metrics; confirm with
    /// [`RaftGroup::ensure_linearizable`] before serving a fresh read).
    pub fn is_leader(&self) -> bool {
        self.inner.raft.is_leader()
    }

    /// The current term.
    pub fn term(&self) -> u64 {
        self.inner.raft.metrics().borrow_watched().current_term
    }

    /// The index of the last entry applied on this replica (0 before any). Exact: once it
    /// reads `i`, the engine holds the effects of every entry up to `i`.
    pub fn applied_index(&self) -> u64 {
        self.inner.applied.load(Ordering::Acquire)
    }

    /// The index of the last log entry purged on this replica (0 before any): entries up to
    /// it exist only in the state machine (and in snapshots).
    pub fn purged_index(&self) -> u64 {
        let metrics = self.inner.raft.data_metrics();
        let purged = metrics.borrow_watched().purged.as_ref().map(|l| l.index);
        purged.unwrap_or(0)
    }

    /// The voters of the effective membership (both halves of a joint configuration).
    pub fn voters(&self) -> Vec<NodeId> {
        self.inner.raft.voter_ids().map(NodeId).collect()
    }

    /// The learners (non-voting replicas) of the effective membership.
    pub fn learners(&self) -> Vec<NodeId> {
        self.inner.raft.learner_ids().map(NodeId).collect()
    }

    /// Confirms this replica is the leader and waits until it applied every entry committed
    /// before the call, so that a read of the state machine afterwards is linearizable.
    ///
    /// Uses openraft's lease read when the lease is fresh (the leader heard from a quorum within
    /// the election timeout: no messages), else a heartbeat round to a quorum (ReadIndex).
    pub async fn ensure_linearizable(&self) -> Result<(), ProposeError> {
        self.wake().await;
        let option = LinearizerOption::new(None, true);
        match self.inner.raft.ensure_linearizable(option).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => Err(forward(f)),
            Err(RaftError::APIError(e @ LinearizableReadError::QuorumNotEnough(_))) => {
                Err(ProposeError::Unavailable(e.to_string()))
            }
            Err(RaftError::Fatal(e)) => Err(fatal(e)),
        }
    }

    /// Adds `node` as a learner (a non-voting replica; its node opens the group through its
    /// [`super::GroupFactory`] when the first message arrives) and waits, up to
    /// [`RaftConfig::learner_catchup_timeout`], until it has the log up to the membership entry
    /// that added it (by appends or by a snapshot). A timeout leaves the learner in place and
    /// returns `Unavailable`.
    pub async fn add_learner(&self, node: NodeId) -> Result<(), ProposeError> {
        self.wake().await;
        let raft = &self.inner.raft;
        // openraft's blocking mode counts a learner within `replication_lag_threshold` entries
        // (5,000) as caught up, even one that has nothing yet; wait for the real thing.
        let resp = raft
            .add_learner(node.0, EmptyNode::new(), false)
            .await
            .map_err(write_error)?;
        let want = Some(resp.log_id.index);
        let caught_up = |m: &openraft::RaftMetrics<TypeConfig>| match &m.replication {
            Some(r) => r.get(&node.0).and_then(|l| l.as_ref()).map(|l| l.index) >= want,
            None => true,
        };
        let wait = raft.wait(Some(self.inner.learner_catchup_timeout));
        let m = wait
            .metrics(caught_up, "learner caught up")
            .await
            .map_err(|e| {
                ProposeError::Unavailable(format!(
                    "{}: learner {node} added but not caught up: {e}",
                    self.inner.range
                ))
            })?;
        if m.replication.is_none() {
            return Err(ProposeError::NotLeader {
                leader: node_id(m.current_leader),
            });
        }
        Ok(())
    }

    /// Changes the membership to exactly `voters` and `learners` (disjoint): promotes, demotes,
    /// adds and removes in one call. Voter changes go through joint consensus (openraft commits
    /// the joint configuration, then the final one); nodes in neither set are removed
    /// afterwards, once they are learners.
    pub async fn change_membership(
        &self,
        voters: BTreeSet<NodeId>,
        learners: BTreeSet<NodeId>,
    ) -> Result<(), ProposeError> {
        if voters.is_empty() {
            return Err(ProposeError::Unavailable(
                "a group needs at least one voter".into(),
            ));
        }
        if let Some(both) = voters.intersection(&learners).next() {
            return Err(ProposeError::Unavailable(format!(
                "{both} is both voter and learner"
            )));
        }
        self.wake().await;
        let raft = &self.inner.raft;
        let voter_ids: BTreeSet<u64> = voters.iter().map(|n| n.0).collect();
        let keep: BTreeSet<u64> = voters.iter().chain(&learners).map(|n| n.0).collect();
        let current: BTreeSet<u64> = raft.voter_ids().chain(raft.learner_ids()).collect();
        let new_nodes: BTreeMap<u64, EmptyNode> = keep
            .difference(&current)
            .map(|&n| (n, EmptyNode::new()))
            .collect();
        let change = ChangeMembers::Batch(vec![
            ChangeMembers::AddNodes(new_nodes),
            ChangeMembers::ReplaceAllVoters(voter_ids),
        ]);
        raft.change_membership(change, true)
            .await
            .map_err(write_error)?;
        let gone: BTreeSet<u64> = current.difference(&keep).copied().collect();
        if !gone.is_empty() {
            raft.change_membership(ChangeMembers::RemoveNodes(gone), true)
                .await
                .map_err(write_error)?;
        }
        Ok(())
    }

    /// Hands leadership to `to` (a voter) and waits until it has taken over.
    pub async fn transfer_leader(&self, to: NodeId) -> Result<(), ProposeError> {
        if !self.is_leader() {
            return Err(ProposeError::NotLeader {
                leader: self.leader(),
            });
        }
        if self.leader() == Some(to) {
            return Ok(());
        }
        self.wake().await;
        self.inner
            .raft
            .trigger()
            .transfer_leader(to.0)
            .await
            .map_err(fatal)?;
        let wait = self.inner.raft.wait(Some(self.inner.election_wait));
        wait.metrics(|m| m.current_leader == Some(to.0), "transfer leader")
            .await
            .map(|_| ())
            .map_err(|e| ProposeError::Unavailable(format!("leadership did not move to {to}: {e}")))
    }

    /// Waits until some replica is known as leader, and returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, ProposeError> {
        let wait = self.inner.raft.wait(Some(timeout));
        let m = wait
            .metrics(|m| m.current_leader.is_some(), "wait for leader")
            .await
            .map_err(|e| {
                ProposeError::Unavailable(format!("{}: no leader: {e}", self.inner.range))
            })?;
        node_id(m.current_leader).ok_or_else(|| ProposeError::Unavailable("no leader".into()))
    }

    /// Quiesces (`true`) or wakes (`false`) the group: stops or restarts its ticker, so an idle
    /// group costs no CPU (no heartbeats, no election timer). A quiescent group elects no new
    /// leader when its leader dies: the caller wakes it when it has reason to (the next
    /// proposal or read wakes it by itself). Wake the leader first: followers woken before
    /// heartbeats flow may campaign.
    pub fn set_quiescent(&self, quiet: bool) {
        self.inner.quiet.store(quiet, Ordering::Release);
        self.inner.raft.runtime_config().tick(!quiet);
    }

    /// Whether the group is quiescent.
    pub fn is_quiescent(&self) -> bool {
        self.inner.quiet.load(Ordering::Acquire)
    }

    /// Restarts the ticker of a quiescent group and sends a heartbeat round to renew the lease.
    async fn wake(&self) {
        if self.inner.quiet.swap(false, Ordering::AcqRel) {
            self.inner.raft.runtime_config().tick(true);
            if self.is_leader() {
                let _ = self.inner.raft.trigger().heartbeat().await;
            }
        }
    }

    /// Stops the group's tasks. Its state stays on the engine; reopen with
    /// [`RaftGroup::open`].
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(range = %self.inner.range, error = %e, "raft shutdown");
        }
    }

    /// Shuts the group down and deletes its raft log, vote and applied state from the engine
    /// (the replica was removed from this node). The range's data is the caller's to clear.
    /// A storage error is logged: the keys left behind are harmless (a group reopened on them
    /// is a stale replica its peers no longer talk to) and are deleted by the next `destroy`.
    pub async fn destroy(self) {
        self.shutdown().await;
        let range = self.inner.range;
        if let Err(e) = self.delete_state() {
            tracing::error!(%range, error = %e, "deleting a destroyed raft group's state");
        }
    }

    fn delete_state(&self) -> Result<(), storage::StorageError> {
        let range = self.inner.range;
        let _closed = self.inner.gate.close();
        let (start, end) = keys::raft_span(range);
        let mut batch = WriteBatch::new();
        for kv in self.inner.engine.scan(Cf::Raft, &start, &end, false) {
            batch.delete(Cf::Raft, kv?.0);
        }
        batch.delete(Cf::State, keys::applied(range));
        self.inner.engine.write(batch, Durability::Sync)
    }
}
