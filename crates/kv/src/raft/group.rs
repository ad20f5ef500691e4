//! [`RaftGroup`]: one range's Raft group on this node, as the rest of kv uses it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base::{NodeId, RangeId};
use openraft::async_runtime::WatchReceiver;
use openraft::error::{
    ClientWriteError, ForwardReason, ForwardToLeader, InitializeError, LinearizableReadError,
    RaftError,
};
use openraft::{ChangeMembers, EmptyNode, LinearizerOption, ServerState};
use parking_lot::Mutex;
use rpc::Target;
use storage::{Cf, Durability, Engine, WriteBatch};

use super::error::{ProposeError, RaftGroupError};
use super::gate::Gate;
use super::log_store::LogStore;
use super::network::NetworkFactory;
use super::router::RaftTransport;
use super::snapshot::{self, Staging};
use super::state_machine::StateMachine;
use super::wire::{self, QuiesceRequest, RaftRequest};
use super::{Applier, Raft, RaftConfig, SnapshotMeta, TypeConfig, keys};
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
    applier: Arc<dyn Applier>,
    gate: Gate,
    transport: RaftTransport,
    /// Where snapshots sent to this group are staged.
    staging: Staging,
    /// Whether opening the group finished a snapshot install a crash had interrupted.
    recovered_install: bool,
    /// Whether the group is quiescent (its ticker stopped). Changed only under `quiesced`.
    quiet: AtomicBool,
    /// What the group quiesced on, while `quiet`: `None` when quiesced by hand
    /// ([`RaftGroup::set_quiescent`]).
    quiesced: Mutex<Option<Quiesced>>,
    /// This replica's quiescence epoch, stamped on every message it sends
    /// ([`RaftRequest::epoch`]): bumped each time it quiesces the group as leader.
    epoch: Arc<AtomicU64>,
    /// Operations in flight that keep a leader awake (proposals, membership changes, reads).
    busy: AtomicU64,
    /// What a leader last saw change, to time its idleness.
    idle: Mutex<Idle>,
    /// A leader's quiesce round is running.
    quiescing: AtomicBool,
    /// A follower is asking its leader to wake.
    waking: AtomicBool,
    /// `shutdown` was called.
    stopped: AtomicBool,
    quiesce_after: Option<Duration>,
    heartbeat: Duration,
    /// Timeout of the quiesce and wake messages.
    message_timeout: Duration,
    /// The state machine's applied index, exact with respect to the engine.
    applied: Arc<AtomicU64>,
    /// How long a proposal retries while a woken leader renews its lease.
    lease_wait: Duration,
    /// How long `transfer_leader` waits for the target to take over.
    election_wait: Duration,
    learner_catchup_timeout: Duration,
    /// How long a leader may serve after a quorum acknowledged a heartbeat it sent: below the
    /// lease its followers honour (the maximum election timeout).
    lease: Duration,
    /// The term in which this replica started handing leadership away (0: none): a transfer
    /// election is exempt from followers' lease promises, so the lease ends when it starts.
    transferring: AtomicU64,
}

/// What a replica quiesced on.
#[derive(Clone, Copy, Debug)]
struct Quiesced {
    /// The leader that asked (this node on the leader).
    leader: u64,
    /// The leader's epoch when it asked: its messages of earlier epochs do not wake us.
    epoch: u64,
    /// The term then.
    term: u64,
}

/// The last change a leader saw: its term and last log index, and when they last changed (or
/// when an operation last ended).
struct Idle {
    term: u64,
    last_index: Option<u64>,
    since: Instant,
}

/// Counts an operation in flight on the group; on drop, restarts the idle clock.
struct Busy<'a>(&'a Inner);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.idle.lock().since = Instant::now();
        self.0.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Clears a flag on drop.
struct Clear<'a>(&'a AtomicBool);

impl Drop for Clear<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl std::fmt::Debug for RaftGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftGroup")
            .field("range", &self.inner.range)
            .field("node", &self.inner.node)
            .field("leader", &self.leader())
            .field("quiescent", &self.is_quiescent())
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
        // An install a crash interrupted is finished before anything reads the state machine.
        let target = snapshot::Target {
            range: range_id,
            engine: engine.clone(),
            applier: applier.clone(),
            gate: gate.clone(),
            crash_before_write: None,
        };
        let recovered_install = tokio::task::spawn_blocking(move || snapshot::recover(&target))
            .await
            .map_err(|e| storage_err(std::io::Error::other(e)))?
            .map_err(storage_err)?;
        let syncer = transport.syncer(&engine);
        let log = LogStore::new(range_id, engine.clone(), syncer, gate.clone());
        let sm = StateMachine::open(range_id, engine.clone(), applier.clone(), gate.clone())
            .map_err(storage_err)?;
        let applied = sm.applied_index();
        let recovered = sm.last_applied();
        // Epochs start at the wall clock in milliseconds, so that a replica reopened after a
        // restart stamps its messages with a later epoch than any its previous incarnation
        // quiesced a follower in (it bumps the epoch at most once per quiesce round). Not a
        // time anything is ordered by, so the process's clock, not the node's (offset) one.
        #[allow(clippy::disallowed_methods)]
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let epoch = Arc::new(AtomicU64::new(start));
        let network = NetworkFactory::new(
            transport.clone(),
            range_id,
            cfg.election_timeout_min,
            epoch.clone(),
        );
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
                staging: Staging::of(engine.as_ref()),
                engine,
                applier,
                gate,
                transport,
                recovered_install,
                quiet: AtomicBool::new(false),
                quiesced: Mutex::new(None),
                epoch,
                busy: AtomicU64::new(0),
                idle: Mutex::new(Idle {
                    term: 0,
                    last_index: None,
                    since: Instant::now(),
                }),
                quiescing: AtomicBool::new(false),
                waking: AtomicBool::new(false),
                stopped: AtomicBool::new(false),
                quiesce_after: cfg.quiesce_after,
                heartbeat: cfg.heartbeat,
                message_timeout: cfg.election_timeout_min,
                applied,
                lease_wait: cfg.election_timeout_max,
                election_wait,
                learner_catchup_timeout: cfg.learner_catchup_timeout,
                lease: cfg.election_timeout_min,
                transferring: AtomicU64::new(0),
            }),
        })
    }

    pub(crate) fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// Where snapshots sent to this group are staged.
    pub(crate) fn staging(&self) -> &Staging {
        &self.inner.staging
    }

    /// Reads a staged snapshot through and checks it can be installed here (see
    /// [`snapshot::check_staged`]); returns its meta. Reads the whole file: call off the async
    /// threads.
    pub(crate) fn check_staged(&self, path: &std::path::Path) -> Result<SnapshotMeta, String> {
        snapshot::check_staged(path, self.inner.range, self.inner.applier.as_ref())
    }

    /// Whether opening the group finished a snapshot install that a crash had interrupted (the
    /// range's state, its descriptor included, then changed under the caller).
    pub fn recovered_install(&self) -> bool {
        self.inner.recovered_install
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
        let _busy = self.busy();
        self.wake_leader().await;
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

    /// Hands `cmd` to the Raft core and returns at once; the returned future waits until it
    /// has applied here (as [`RaftGroup::propose`] does). Commands submitted one after the
    /// other enter the log in that order, which lets the caller attach closed timestamps that
    /// only grow along the log while the waits for commit overlap (one append and one fsync
    /// for many proposals).
    pub async fn submit(
        &self,
        cmd: RaftCommand,
    ) -> Result<
        impl std::future::Future<Output = Result<CommandResult, ProposeError>> + Send + 'static,
        ProposeError,
    > {
        self.wake_leader().await;
        let (responder, rx) = openraft::impls::ProgressResponder::complete_only();
        self.inner
            .raft
            .client_write_ff(cmd.clone(), Some(responder))
            .await
            .map_err(fatal)?;
        let group = self.clone();
        Ok(async move {
            let _busy = group.busy();
            let mut rx = rx;
            let deadline = tokio::time::Instant::now() + group.inner.lease_wait;
            loop {
                // A proposal the core dropped unanswered (it stepped down or stopped) may still
                // have been appended and be committed by the next leader: ambiguous.
                let res = rx.await.map_err(|_| ProposeError::Ambiguous {
                    leader: group.leader(),
                })?;
                match res {
                    Ok(resp) => return Ok(resp.data),
                    // A leader woken from quiescence (or just elected) renews its lease with
                    // the next heartbeat round; nothing was appended, so resubmitting is safe.
                    Err(ClientWriteError::ForwardToLeader(f))
                        if f.reason == ForwardReason::LeaseExpired
                            && group.is_leader()
                            && tokio::time::Instant::now() < deadline =>
                    {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        let (responder, next) = openraft::impls::ProgressResponder::complete_only();
                        group
                            .inner
                            .raft
                            .client_write_ff(cmd.clone(), Some(responder))
                            .await
                            .map_err(|_| ProposeError::Ambiguous {
                                leader: group.leader(),
                            })?;
                        rx = next;
                    }
                    Err(e) => return Err(write_error(RaftError::APIError(e))),
                }
            }
        })
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

    /// Until when this replica may serve as leader without asking its followers: the sending
    /// time of the last heartbeat a quorum acknowledged plus the lease (shorter than the
    /// maximum election timeout during which each of those followers refuses to vote for
    /// anyone else, even across a restart: see the raft router's vote handler). `None` when it
    /// is not the leader, is handing leadership away, or has no acknowledged heartbeat.
    /// Metrics lag the Raft core, which only makes the expiration earlier than it could be.
    pub fn lease_expiration(&self) -> Option<tokio::time::Instant> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        if m.state != ServerState::Leader || m.current_leader != Some(self.inner.node.0) {
            return None;
        }
        let t = self.inner.transferring.load(Ordering::Acquire);
        if t != 0 && t == m.current_term {
            return None;
        }
        let voters = m.membership_config.membership().voter_ids().count();
        if voters == 1 {
            // A leader that is its own quorum needs no one's promise.
            return Some(tokio::time::Instant::now() + self.inner.lease);
        }
        let acked = (*m.last_quorum_acked.as_ref()?).into_inner();
        // openraft's instants convert to nothing: measure the time left on its clock.
        let here = tokio::time::Instant::now();
        let now = <openraft::alias::InstantOf<TypeConfig> as openraft::Instant>::now();
        let until = acked + self.inner.lease;
        if until > now {
            Some(here + (until - now))
        } else {
            Some(here.checked_sub(now - until).unwrap_or(here))
        }
    }

    /// Whether the leader lease of [`RaftGroup::lease_expiration`] covers this instant.
    pub fn lease_valid(&self) -> bool {
        self.lease_expiration()
            .is_some_and(|until| tokio::time::Instant::now() < until)
    }

    /// The lease length a confirmed round grants from its start (see
    /// [`RaftGroup::ensure_linearizable`]).
    pub fn lease_duration(&self) -> Duration {
        self.inner.lease
    }

    /// How long after its process starts a node refuses votes for this group.
    pub(crate) fn vote_quarantine(&self) -> Duration {
        self.inner.lease_wait
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
        let _busy = self.busy();
        self.wake_leader().await;
        let option = LinearizerOption::new(None, true);
        match self.inner.raft.ensure_linearizable(option).await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(LinearizableReadError::ForwardToLeader(f))) => {
                if f.leader_id == Some(self.inner.node.0) {
                    // openraft names this node as the leader yet refuses to lead: say why, or
                    // a client only sees "not leaseholder" pointing back here.
                    tracing::info!(
                        range = %self.inner.range,
                        reason = ?f.reason,
                        state = ?self.inner.raft.metrics().borrow_watched().state,
                        "linearizable read refused with this node as the leader hint"
                    );
                }
                Err(forward(f))
            }
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
        let _busy = self.busy();
        self.wake_leader().await;
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
        let _busy = self.busy();
        self.wake_leader().await;
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
        let _busy = self.busy();
        self.wake_leader().await;
        // From here a vote for `to` may be granted despite followers' lease promises: this
        // replica's lease ends now.
        self.inner
            .transferring
            .store(self.term(), Ordering::Release);
        self.inner
            .raft
            .trigger()
            .transfer_leader(to.0)
            .await
            .map_err(fatal)?;
        let wait = self.inner.raft.wait(Some(self.inner.election_wait));
        let moved = wait
            .metrics(|m| m.current_leader == Some(to.0), "transfer leader")
            .await;
        if let Err(e) = moved {
            // The target did not take over. openraft's leader never leaves a transfer it
            // started: it refuses every proposal (pointing at the target) and stops
            // heartbeating for the rest of its term, and in a quiesced group nobody else
            // campaigns, so the range would answer "not leaseholder" forever. Campaign for a
            // new term here: whoever wins leads without a pending transfer.
            tracing::info!(
                "{}: leadership did not move to {to} ({e}); campaigning for a new term",
                self.inner.range
            );
            self.unquiesce();
            if let Err(e) = self.inner.raft.trigger().elect(false).await {
                tracing::debug!(
                    "{}: campaign after a failed transfer: {e}",
                    self.inner.range
                );
            }
            return Err(ProposeError::Unavailable(format!(
                "leadership did not move to {to}: {e}"
            )));
        }
        Ok(())
    }

    /// Campaigns again, at growing intervals, until some replica leads or `within` passed. For
    /// a group just started by one voter: its first vote requests may reach peers that have
    /// not opened the group yet, which refuse them, and openraft would wait a whole election
    /// timeout before trying again.
    pub async fn campaign_until_led(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut pause = Duration::from_millis(20);
        loop {
            tokio::time::sleep(pause).await;
            if self.leader().is_some() || tokio::time::Instant::now() >= deadline {
                return;
            }
            if let Err(e) = self.inner.raft.trigger().elect(false).await {
                tracing::debug!("{}: campaign: {e}", self.inner.range);
                return;
            }
            pause = (pause * 2).min(Duration::from_millis(200));
        }
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

    /// Quiesces (`true`) or wakes (`false`) this replica by hand: stops or restarts its ticker
    /// (no heartbeats, no election timer). Quiesced this way, any message from a peer wakes it.
    /// Groups quiesce and wake by themselves when [`RaftConfig::quiesce_after`] is set; this is
    /// for tests and measurements. A follower woken by hand restarts an election timer that
    /// expired long ago: it campaigns at once unless its leader talks to it first, so wake
    /// leaders first (or use [`RaftGroup::wake`]).
    pub fn set_quiescent(&self, quiet: bool) {
        if quiet {
            self.quiesce_local(None);
        } else {
            self.unquiesce();
        }
    }

    /// Whether the group is quiescent on this replica (its ticker stopped).
    pub fn is_quiescent(&self) -> bool {
        self.inner.quiet.load(Ordering::Acquire)
    }

    /// The leader this replica quiesced under, while it is quiescent (itself on a leader; `None`
    /// when awake or quiesced by hand).
    pub fn quiesced_leader(&self) -> Option<NodeId> {
        let q = *self.inner.quiesced.lock();
        q.filter(|_| self.is_quiescent()).map(|q| NodeId(q.leader))
    }

    /// Wakes a quiescent group, whatever this replica's role. A leader restarts its ticker and
    /// sends a heartbeat round at once, which renews its lease and wakes its followers. A
    /// follower or learner asks its leader to do that (`raft.wake`), and restarts its own ticker
    /// only when the leader cannot be reached or no longer leads: it then campaigns (if a voter)
    /// since no leader talks to it. No-op on an awake group.
    pub async fn wake(&self) {
        if !self.is_quiescent() {
            return;
        }
        if self.is_leader() {
            self.wake_leader().await;
            return;
        }
        if self.inner.waking.swap(true, Ordering::AcqRel) {
            return;
        }
        let _clear = Clear(&self.inner.waking);
        let me = self.inner.node;
        let leader = self.quiesced_leader().or_else(|| self.leader());
        let woken = match leader {
            Some(l) if l != me => self.ask_to_wake(l).await,
            _ => false,
        };
        if !woken {
            self.unquiesce();
        }
    }

    /// Restarts the ticker of a quiescent follower at once, without asking its leader: when the
    /// node's liveness says the leader is down. Its election timeout passed long ago, so a voter
    /// campaigns at its first tick unless a leader talks to it first. No-op on a leader or an
    /// awake replica. See [`super::RaftRouter::wake_groups_led_by`].
    pub fn wake_for_election(&self) {
        if self.is_quiescent() && !self.is_leader() {
            self.unquiesce();
        }
    }

    /// Wakes a quiescent leader: restarts its ticker and sends a heartbeat round at once, which
    /// renews its lease (openraft rejects writes with `LeaseExpired` until a quorum answers) and
    /// wakes its followers. No-op on an awake group or a non-leader.
    pub(crate) async fn wake_leader(&self) {
        if self.is_quiescent() && self.is_leader() && self.unquiesce() {
            let _ = self.inner.raft.trigger().heartbeat().await;
        }
    }

    /// Called after a message from `from`, stamped with its `epoch`, was handed to the group:
    /// wakes a quiescent replica, unless the message is from the leader it quiesced under and
    /// was sent before that leader quiesced (a heartbeat still in flight then). The message
    /// renewed the replica's view of its leader first, so its election timer starts afresh.
    pub(crate) fn heard_from(&self, from: NodeId, epoch: u64) {
        if !self.is_quiescent() {
            return;
        }
        let q = *self.inner.quiesced.lock();
        let stale = q.is_some_and(|q| q.leader == from.0 && epoch < q.epoch);
        if !stale {
            self.unquiesce();
        }
    }

    /// Handles a leader's `raft.quiesce`: agrees, and stops the ticker, only when this replica
    /// follows `from` in `req.term` and holds and applied its log up to `req.last_index`.
    pub(crate) fn on_quiesce(&self, from: NodeId, epoch: u64, req: QuiesceRequest) -> bool {
        if self.inner.stopped.load(Ordering::Acquire) {
            return false;
        }
        let caught_up = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow_watched();
            m.state != ServerState::Leader
                && m.current_term == req.term
                && m.current_leader == Some(from.0)
                && m.last_log_index == Some(req.last_index)
        } && self.applied_index() == req.last_index;
        if caught_up {
            self.quiesce_local(Some(Quiesced {
                leader: from.0,
                epoch,
                term: req.term,
            }));
        }
        caught_up
    }

    /// Periodic upkeep, from the router's quiescence loop. A quiescent replica whose reason
    /// no longer holds (its term moved on, its leader changed, it lost or won leadership) wakes.
    /// Returns true when this is an awake leader that should quiesce ([`RaftGroup::quiesce`]).
    pub(crate) fn tend(&self, now: Instant) -> bool {
        if self.inner.stopped.load(Ordering::Acquire) {
            return false;
        }
        if !self.is_quiescent() {
            return self.quiesce_candidate(now).is_some();
        }
        let Some(q) = *self.inner.quiesced.lock() else {
            return false;
        };
        let still = {
            let metrics = self.inner.raft.metrics();
            let m = metrics.borrow_watched();
            let leading = m.state == ServerState::Leader;
            m.current_term == q.term
                && if q.leader == self.inner.node.0 {
                    leading
                } else {
                    !leading && m.current_leader == Some(q.leader)
                }
        };
        if !still {
            tracing::debug!(range = %self.inner.range, "quiescent replica's leader changed: waking");
            self.unquiesce();
        }
        false
    }

    /// Quiesces an idle leader's group: stops the leader's ticker, then asks every other replica
    /// to quiesce (`raft.quiesce`). If one refuses or cannot be reached, or anything happened
    /// meanwhile, the leader wakes again (its next heartbeat wakes the followers that did
    /// quiesce) and waits another `quiesce_after` before it tries again.
    pub(crate) async fn quiesce(&self) {
        let Some((term, last, others)) = self.quiesce_candidate(Instant::now()) else {
            return;
        };
        if self.inner.quiescing.swap(true, Ordering::AcqRel) {
            return;
        }
        let _clear = Clear(&self.inner.quiescing);
        self.quiesce_local(Some(Quiesced {
            leader: self.inner.node.0,
            epoch: 0,
            term,
        }));
        // Heartbeats already on their way carry the old epoch, so they do not wake a follower
        // that quiesces in the new one; let them leave first.
        let grace =
            (self.inner.heartbeat / 4).clamp(Duration::from_millis(5), Duration::from_millis(50));
        tokio::time::sleep(grace).await;
        let epoch = {
            let _state = self.inner.quiesced.lock();
            if !self.is_quiescent() {
                return;
            }
            self.inner.epoch.fetch_add(1, Ordering::AcqRel) + 1
        };
        if !self.unchanged(term, last) {
            self.wake_after_failed_round().await;
            return;
        }
        let body = QuiesceRequest {
            term,
            last_index: last,
        };
        let asks = others.iter().map(|&to| {
            let req = RaftRequest {
                range: self.inner.range,
                to,
                epoch,
                body,
            };
            async move {
                let res: Result<bool, rpc::RpcError> = self
                    .inner
                    .transport
                    .rpc()
                    .call_timeout(
                        Target::Node(NodeId(to)),
                        wire::QUIESCE,
                        &req,
                        self.inner.message_timeout,
                    )
                    .await;
                matches!(res, Ok(true))
            }
        });
        let agreed = futures::future::join_all(asks).await;
        if !agreed.iter().all(|&ok| ok) || !self.unchanged(term, last) {
            tracing::debug!(range = %self.inner.range, ?agreed, "quiesce round failed: waking");
            self.wake_after_failed_round().await;
        }
    }

    /// What an awake leader would quiesce on: its term, its last log index, and the other
    /// replicas (voters and learners). Only once it has been idle (no proposal or other operation,
    /// no new entry, no new term) for `quiesce_after`, with its whole log applied, no membership
    /// change under way and every other replica holding the whole log.
    fn quiesce_candidate(&self, now: Instant) -> Option<(u64, u64, Vec<u64>)> {
        let after = self.inner.quiesce_after?;
        if self.inner.busy.load(Ordering::Acquire) > 0
            || self.inner.quiescing.load(Ordering::Acquire)
            || self.is_quiescent()
        {
            return None;
        }
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        if m.state != ServerState::Leader || m.running_state.is_err() {
            return None;
        }
        let last = m.last_log_index;
        {
            let mut idle = self.inner.idle.lock();
            if idle.term != m.current_term || idle.last_index != last {
                *idle = Idle {
                    term: m.current_term,
                    last_index: last,
                    since: now,
                };
                return None;
            }
            if now.saturating_duration_since(idle.since) < after {
                return None;
            }
        }
        let last = last?;
        if m.last_applied.as_ref().map(|l| l.index) != Some(last) {
            return None;
        }
        let membership = m.membership_config.membership();
        if m.membership_config.log_id() != m.committed_membership_config.log_id()
            || membership.get_joint_config().len() != 1
        {
            return None;
        }
        let replication = m.replication.as_ref()?;
        let me = self.inner.node.0;
        let others: Vec<u64> = membership
            .nodes()
            .map(|(id, _)| *id)
            .filter(|id| *id != me)
            .collect();
        let matched = others.iter().all(|id| {
            replication
                .get(id)
                .and_then(|l| l.as_ref())
                .map(|l| l.index)
                == Some(last)
        });
        matched.then_some((m.current_term, last, others))
    }

    /// Whether nothing happened to a quiescing leader since it decided to: no operation, same
    /// term, same last log index, still leader.
    fn unchanged(&self, term: u64, last: u64) -> bool {
        if self.inner.busy.load(Ordering::Acquire) > 0 {
            return false;
        }
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow_watched();
        m.state == ServerState::Leader && m.current_term == term && m.last_log_index == Some(last)
    }

    async fn wake_after_failed_round(&self) {
        if self.unquiesce() && self.is_leader() {
            let _ = self.inner.raft.trigger().heartbeat().await;
        }
    }

    /// Asks the leader `leader` to wake (`raft.wake`); true when it answered that it leads and
    /// is awake.
    async fn ask_to_wake(&self, leader: NodeId) -> bool {
        let req = RaftRequest {
            range: self.inner.range,
            to: leader.0,
            epoch: self.inner.epoch.load(Ordering::Acquire),
            body: (),
        };
        let res: Result<bool, rpc::RpcError> = self
            .inner
            .transport
            .rpc()
            .call_timeout(
                Target::Node(leader),
                wire::WAKE,
                &req,
                self.inner.message_timeout,
            )
            .await;
        matches!(res, Ok(true))
    }

    /// The idle time after which a leader quiesces the group, if it does.
    pub(crate) fn quiesce_after(&self) -> Option<Duration> {
        self.inner.quiesce_after
    }

    fn busy(&self) -> Busy<'_> {
        self.inner.busy.fetch_add(1, Ordering::AcqRel);
        Busy(&self.inner)
    }

    /// Stops the ticker; `on` says what the replica quiesced on (`None`: by hand).
    fn quiesce_local(&self, on: Option<Quiesced>) {
        let mut state = self.inner.quiesced.lock();
        *state = on;
        self.inner.quiet.store(true, Ordering::Release);
        self.inner.raft.runtime_config().tick(false);
    }

    /// Restarts the ticker of a quiescent replica; returns whether it was quiescent.
    fn unquiesce(&self) -> bool {
        let mut state = self.inner.quiesced.lock();
        if !self.inner.quiet.swap(false, Ordering::AcqRel) {
            return false;
        }
        *state = None;
        self.inner.raft.runtime_config().tick(true);
        drop(state);
        self.inner.idle.lock().since = Instant::now();
        true
    }

    /// Stops the group's tasks. Its state stays on the engine; reopen with
    /// [`RaftGroup::open`].
    pub async fn shutdown(&self) {
        self.inner.stopped.store(true, Ordering::Release);
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
        batch.delete(Cf::State, keys::installing(range));
        self.inner.engine.write(batch, Durability::Sync)
    }
}
