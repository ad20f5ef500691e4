//! The allocator: where a range's replicas and its lease should be.
//!
//! This module only decides. [`plan`] looks at one range, the zone configuration that governs it
//! and what is known about every node, and returns the single most urgent [`Action`], or
//! [`Action::Noop`]. The replicate queue (the thin runtime that owns the range) carries the action
//! out as one Raft membership change or one lease transfer, then asks again, until the answer is
//! `Noop`. Nothing here does I/O, reads a clock or draws a random number: the same input gives
//! the same answer, and the order of the node and replica lists does not matter.
//!
//! # Concepts
//!
//! - **Node health.** A node is *healthy* (live, not draining, not dead), *draining* (it keeps
//!   its replicas but takes no new ones and gives up its leases), *unavailable* (not live, not yet
//!   declared dead: a blip we wait out rather than shuffle data for) or *dead* (not live past the
//!   timeout: its replicas must be replaced). A node the range names but `nodes` does not list is
//!   treated as dead. Only healthy nodes receive replicas or leases.
//! - **Wanted counts.** The zone asks for `zone.voters()` voters and `zone.non_voters()`
//!   non-voters, at most one replica per node. With fewer available nodes (not dead, not
//!   draining) the voter count is capped the way CockroachDB's `GetNeededVoters` does it: take
//!   the available count, round an even number down to odd (four voters survive no more failures
//!   than three), never go below three unless the zone asks for fewer. Non-voters get whatever
//!   nodes are left, up to the zone's count. See [`needed_voters`].
//! - **Constraints.** `constraints` governs every replica (voters and non-voters together, out of
//!   `num_replicas`); `voter_constraints` governs voters (out of `zone.voters()`). A conjunction
//!   with `num_replicas == 0` must hold on every member; one with `num_replicas = k > 0` must hold
//!   on at least `k`. A node that fails an every-member conjunction, or that satisfies none of the
//!   per-replica conjunctions when they claim every slot, may not hold such a replica at all.
//!   *Violations* count the members that may not be there plus, for each per-replica conjunction,
//!   how many members it is short.
//! - **Diversity.** The distance between two localities is the larger of their tier counts minus
//!   their [`Locality::shared_prefix`]: with `region=..,zone=..`, 2 across regions, 1 across zones of a
//!   region, 0 in the same zone. The *spread* of a set is the sum of distances over its pairs,
//!   replicas on dead nodes left out. Voters are spread among voters (they are what survives
//!   failures); non-voters among all replicas (they are what serves local reads).
//! - **Score.** A layout is judged, for voters or for non-voters, lexicographically: members on
//!   dead, then unavailable, then draining nodes; then violations; then spread. When layouts tie,
//!   a cheaper change wins (promoting a non-voter instead of copying data, demoting a voter
//!   instead of deleting a wanted replica), then the node's replica count (fewest for an add,
//!   most for a removal), then, for a removal, sparing the leaseholder, then the node id.
//!
//! # The life of a plan
//!
//! [`plan`] builds a `Cluster` (health, wanted counts and constraint rules, computed once) and a
//! sorted `Layout` of the range, then tries each rule in turn; the first that has something to do
//! wins, and its `reason` says which rule fired and what decided between candidates:
//!
//! 1. A range that has lost quorum cannot commit a change: `Noop`.
//! 2. `Cluster::replace_dead` for voters, then for non-voters: while the group is not above its
//!    wanted size, add the best replacement (scored as if the dead member were already gone);
//!    once it is, `Cluster::shed` removes the dead member. Adding first keeps the group at full
//!    strength throughout; this is CockroachDB's atomic replace, in two steps. Without a
//!    candidate the dead replica stays: removing it would not make the range any safer.
//! 3. `Cluster::add_missing` voters: the best candidate by `Cluster::best_add`, executed as add
//!    learner then promote, or as a promotion when the best candidate already holds a non-voter.
//! 4. `Cluster::shed` surplus voters: the member whose removal leaves the best score, so dead
//!    goes before unavailable, before draining, before constraint-violating, before least
//!    diverse, before most loaded. When non-voters are short, a healthy voter is demoted rather
//!    than removed, which completes a promote/demote swap. Two guards: a removal must leave a
//!    majority of the wanted voters live (and a quorum of the new group), and the leaseholder's
//!    voter is never removed: the lease is transferred first ([`Action::TransferLease`]).
//! 5. `Cluster::fix_voters`: with the voter count right, voters that violate constraints on
//!    their own (outside `voter_constraints`, or barred by `constraints`) are swapped out before
//!    any non-voter is added, so a misplaced voter can be demoted into one of the non-voters
//!    instead of being deleted. Only the swap's first half is returned, an add or a promotion;
//!    the next call's rule 4 sheds the member that should go.
//! 6. `Cluster::add_missing` non-voters, then `Cluster::shed` surplus non-voters.
//! 7. `Cluster::fix_constraints`: with both counts right but violations left (typically a
//!    per-replica conjunction of `constraints` that no one fills), the swap that leaves the
//!    fewest violations, moving a non-voter if that will do, else a voter.
//! 8. `Cluster::fix_lease`: no leaseholder, a leaseholder that is not a voter or not healthy, or a
//!    leaseholder that misses the best `lease_preferences` entry some healthy voter satisfies:
//!    transfer to the voter with the best preference, then the fewest leases, then the lowest id.
//! 9. `Cluster::improve_diversity`: a swap that keeps violations and raises spread.
//! 10. `Cluster::rebalance_load`: a replica on a node holding more than [`OVERFULL_PERCENT`]% of
//!     the mean plus [`OVERFULL_SLACK`] replicas (the mean over healthy nodes) moves to a node
//!     below the mean, when that keeps violations and spread. The target must be *below* the
//!     mean while the source is well above it, so the move can never be undone by the same
//!     rule: that gap is the hysteresis that keeps ranges from flapping.
//!
//! [`initial_placement`] runs rule 3 and the add half of rule 6 on an empty layout, and picks
//! the leaseholder as rule 8 would: where a new range's replicas go.
//!
//! # Why it converges
//!
//! A swap is only considered when the layout after it has a strictly better placement
//! (violations, then spread), and the removal that completes it ranks members by the same
//! score: taking the new member out again would give back the old, worse layout, so the removal
//! never undoes the add, and each add/remove pair improves the score (or, if an unhealthy member
//! goes instead, the health). Load moves are the only ones that do not improve the score, and
//! rule 10 checks before adding that the following removal will take the overfull replica. The
//! unit tests drive hundreds of generated layouts to a fixed point, and the goldenscripts'
//! `converge` command shows the steps.
//!
//! # Differences from CockroachDB
//!
//! - Nodes that are unavailable but not yet dead still count towards the wanted voter count, so a
//!   short liveness blip never triggers down-replication. CockroachDB counts dead nodes as well
//!   until they are decommissioned; here, dead means gone.
//! - A draining node loses its leases and gets no new replicas, as in CockroachDB's drain, but its
//!   existing replicas are not moved off as a decommission would (a drain is usually a restart);
//!   they are only the first to go when a range has more replicas than it wants.
//! - Swaps are two single changes rather than one joint-consensus change, which the learner
//!   step makes safe: the group is never smaller than wanted in between.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use base::NodeId;
use base::zone::{Constraints, ConstraintsConjunction, ZoneConfig};
use locality::Locality;

/// A node is overfull when it holds more than this percentage of the mean replica count over
/// healthy nodes, plus [`OVERFULL_SLACK`].
pub const OVERFULL_PERCENT: usize = 125;

/// Replicas allowed above [`OVERFULL_PERCENT`] of the mean before a node counts as overfull; it
/// keeps small clusters, where the mean is a few replicas, from rebalancing over one replica.
pub const OVERFULL_SLACK: usize = 1;

/// What the allocator knows about one node, from liveness and gossip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node.
    pub node_id: NodeId,
    /// Where the node runs, most global tier first.
    pub locality: Locality,
    /// The node's liveness record is current.
    pub live: bool,
    /// The node has not been live for longer than the dead timeout: its replicas are replaced.
    pub dead: bool,
    /// The node is draining: it sheds its leases and takes no new replicas.
    pub draining: bool,
    /// Replicas on the node, over all ranges (including the one being planned).
    pub replicas: usize,
    /// Leases held by the node, over all ranges.
    pub leases: usize,
}

impl NodeInfo {
    /// A live, healthy node holding nothing yet.
    pub fn new(node_id: NodeId, locality: Locality) -> NodeInfo {
        NodeInfo {
            node_id,
            locality,
            live: true,
            dead: false,
            draining: false,
            replicas: 0,
            leases: 0,
        }
    }
}

/// Where one range's replicas and lease are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeReplicas {
    /// Nodes with a voting replica.
    pub voters: Vec<NodeId>,
    /// Nodes with a non-voting replica (a Raft learner that is kept as one).
    pub non_voters: Vec<NodeId>,
    /// The node holding the lease, if any; always one of `voters` when set by [`plan`].
    pub leaseholder: Option<NodeId>,
}

impl RangeReplicas {
    /// The layout after `action` has been carried out. Removing or demoting the leaseholder
    /// clears the lease (which [`plan`] never proposes).
    pub fn apply(&mut self, action: &Action) {
        match action {
            Action::AddVoter { node, .. } => push(&mut self.voters, *node),
            Action::AddNonVoter { node, .. } => push(&mut self.non_voters, *node),
            Action::PromoteNonVoter { node, .. } => {
                self.non_voters.retain(|n| n != node);
                push(&mut self.voters, *node);
            }
            Action::DemoteVoter { node, .. } => {
                self.voters.retain(|n| n != node);
                push(&mut self.non_voters, *node);
                self.drop_lease_of(*node);
            }
            Action::RemoveVoter { node, .. } => {
                self.voters.retain(|n| n != node);
                self.drop_lease_of(*node);
            }
            Action::RemoveNonVoter { node, .. } => self.non_voters.retain(|n| n != node),
            Action::TransferLease { to, .. } => self.leaseholder = Some(*to),
            Action::Noop => {}
        }
    }

    fn drop_lease_of(&mut self, node: NodeId) {
        if self.leaseholder == Some(node) {
            self.leaseholder = None;
        }
    }
}

fn push(list: &mut Vec<NodeId>, node: NodeId) {
    if !list.contains(&node) {
        list.push(node);
    }
}

/// One change to a range, with the reason the allocator chose it (for logs and tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Add a voter on `node`: executed as add learner, then promote once it has caught up.
    AddVoter {
        /// The node that gets the replica.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Add a non-voter (a learner that stays one) on `node`.
    AddNonVoter {
        /// The node that gets the replica.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Turn the non-voter on `node` into a voter; no data moves.
    PromoteNonVoter {
        /// The node holding the non-voter.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Turn the voter on `node` into a non-voter; no data moves. Never the leaseholder.
    DemoteVoter {
        /// The node holding the voter.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Remove the voter on `node`. Never the leaseholder.
    RemoveVoter {
        /// The node holding the voter.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Remove the non-voter on `node`.
    RemoveNonVoter {
        /// The node holding the non-voter.
        node: NodeId,
        /// Why.
        reason: String,
    },
    /// Move (or, with no leaseholder, acquire) the lease on the voter on `to`.
    TransferLease {
        /// The voter that gets the lease.
        to: NodeId,
        /// Why.
        reason: String,
    },
    /// Nothing to do: the range is where it should be, or cannot be improved now.
    Noop,
}

impl Action {
    /// The node the action is about, if any.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Action::AddVoter { node, .. }
            | Action::AddNonVoter { node, .. }
            | Action::PromoteNonVoter { node, .. }
            | Action::DemoteVoter { node, .. }
            | Action::RemoveVoter { node, .. }
            | Action::RemoveNonVoter { node, .. } => Some(*node),
            Action::TransferLease { to, .. } => Some(*to),
            Action::Noop => None,
        }
    }

    /// Why the allocator chose the action; empty for [`Action::Noop`].
    pub fn reason(&self) -> &str {
        match self {
            Action::AddVoter { reason, .. }
            | Action::AddNonVoter { reason, .. }
            | Action::PromoteNonVoter { reason, .. }
            | Action::DemoteVoter { reason, .. }
            | Action::RemoveVoter { reason, .. }
            | Action::RemoveNonVoter { reason, .. }
            | Action::TransferLease { reason, .. } => reason,
            Action::Noop => "",
        }
    }
}

/// `add voter n4: <reason>`, or `noop`.
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self {
            Action::AddVoter { .. } => "add voter",
            Action::AddNonVoter { .. } => "add non-voter",
            Action::PromoteNonVoter { .. } => "promote non-voter",
            Action::DemoteVoter { .. } => "demote voter",
            Action::RemoveVoter { .. } => "remove voter",
            Action::RemoveNonVoter { .. } => "remove non-voter",
            Action::TransferLease { .. } => "transfer lease to",
            Action::Noop => return f.write_str("noop"),
        };
        match self.node() {
            Some(node) => write!(f, "{verb} {node}: {}", self.reason()),
            None => f.write_str(verb),
        }
    }
}

/// The single most urgent change for `range` under `zone`, or [`Action::Noop`].
///
/// `nodes` should list every node of the cluster; a replica on a node missing from it is treated
/// as being on a dead node. The module documentation gives the rules and their order.
pub fn plan(zone: &ZoneConfig, range: &RangeReplicas, nodes: &[NodeInfo]) -> Action {
    let cluster = Cluster::new(zone, nodes);
    cluster
        .plan(&Layout::of(range), range.leaseholder)
        .unwrap_or(Action::Noop)
}

/// Counts the change `action` makes in `nodes` (replicas and leases), so that the next range
/// planned from the same counts sees it. A node plans all its ranges from one reading of the
/// counts: without this, every range of an overfull node would move a replica to the same
/// underfull node in one round, overshoot, and the next round would remove the new replicas
/// again.
pub fn account(action: &Action, leaseholder: Option<NodeId>, nodes: &mut [NodeInfo]) {
    let mut bump = |id: NodeId, replicas: isize, leases: isize| {
        if let Some(info) = nodes.iter_mut().find(|i| i.node_id == id) {
            info.replicas = info.replicas.saturating_add_signed(replicas);
            info.leases = info.leases.saturating_add_signed(leases);
        }
    };
    match action {
        Action::AddVoter { node, .. } | Action::AddNonVoter { node, .. } => bump(*node, 1, 0),
        Action::RemoveVoter { node, .. } | Action::RemoveNonVoter { node, .. } => {
            bump(*node, -1, 0)
        }
        Action::TransferLease { to, .. } => {
            if let Some(from) = leaseholder {
                bump(from, 0, -1);
            }
            bump(*to, 0, 1);
        }
        _ => {}
    }
}

/// Where a new range's replicas should go: voters first, then non-voters, and the voter that
/// should hold the lease. Fewer replicas than wanted when too few healthy nodes qualify.
pub fn initial_placement(zone: &ZoneConfig, nodes: &[NodeInfo]) -> RangeReplicas {
    let cluster = Cluster::new(zone, nodes);
    let mut layout = Layout::default();
    for kind in [Kind::Voter, Kind::NonVoter] {
        while layout.members(kind).len() < cluster.want(kind) {
            let Some(choice) = cluster.best_add(&layout, &layout, kind).into_iter().next() else {
                break;
            };
            layout = layout.with(kind, choice.node);
        }
    }
    let leaseholder = cluster.lease_target(&layout.voters, None);
    RangeReplicas {
        voters: layout.voters,
        non_voters: layout.non_voters,
        leaseholder,
    }
}

/// Voters to aim for when the zone asks for `zone_voters` and `available` nodes can hold one:
/// capped by `available`, an even cap rounded down to odd, but never below three unless the zone
/// asks for fewer (CockroachDB's `GetNeededVoters`).
pub fn needed_voters(zone_voters: usize, available: usize) -> usize {
    let need = zone_voters.min(available);
    if need == zone_voters {
        return need;
    }
    let odd = if need.is_multiple_of(2) {
        need.saturating_sub(1)
    } else {
        need
    };
    odd.max(3).min(zone_voters)
}

/// Non-voters to aim for: the zone's count, capped by the available nodes the voters leave.
pub fn needed_non_voters(zone_non_voters: usize, available: usize, voters: usize) -> usize {
    zone_non_voters.min(available.saturating_sub(voters))
}

/// Voter or non-voter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Voter,
    NonVoter,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Kind::Voter => "voter",
            Kind::NonVoter => "non-voter",
        })
    }
}

/// How usable a node is, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Health {
    Healthy,
    Draining,
    Unavailable,
    Dead,
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Health::Healthy => "healthy",
            Health::Draining => "draining",
            Health::Unavailable => "not live",
            Health::Dead => "dead",
        })
    }
}

/// One constraint set over a group of members (all replicas, or the voters).
struct Rules<'a> {
    conjunctions: &'a [ConstraintsConjunction],
    /// The per-replica conjunctions claim fewer than all of the group's slots.
    unconstrained: bool,
}

impl<'a> Rules<'a> {
    fn new(constraints: &'a Constraints, group_size: u32) -> Rules<'a> {
        Rules {
            conjunctions: &constraints.0,
            unconstrained: constraints.claimed_replicas() < group_size,
        }
    }

    /// Whether a member at `locality` may be in the group at all.
    fn allows(&self, locality: &Locality) -> bool {
        let (mut per_replica, mut fits_one) = (false, false);
        for conjunction in self.conjunctions {
            let ok = conjunction.satisfied_by(locality);
            if conjunction.num_replicas == 0 && !ok {
                return false;
            }
            if conjunction.num_replicas > 0 {
                per_replica = true;
                fits_one |= ok;
            }
        }
        !per_replica || fits_one || self.unconstrained
    }

    /// Members that may not be there, plus the shortfall of every per-replica conjunction.
    fn violations(&self, members: &[&Locality]) -> usize {
        let barred = members.iter().filter(|l| !self.allows(l)).count();
        let short: usize = self
            .conjunctions
            .iter()
            .filter(|c| c.num_replicas > 0)
            .map(|c| {
                let have = members.iter().filter(|l| c.satisfied_by(l)).count();
                (c.num_replicas as usize).saturating_sub(have)
            })
            .sum();
        barred + short
    }
}

/// A range's replicas as sorted, disjoint sets, so that plans do not depend on list order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Layout {
    voters: Vec<NodeId>,
    non_voters: Vec<NodeId>,
}

impl Layout {
    fn of(range: &RangeReplicas) -> Layout {
        let mut voters = range.voters.clone();
        voters.sort();
        voters.dedup();
        let mut non_voters: Vec<NodeId> = range
            .non_voters
            .iter()
            .copied()
            .filter(|n| !voters.contains(n))
            .collect();
        non_voters.sort();
        non_voters.dedup();
        Layout { voters, non_voters }
    }

    fn members(&self, kind: Kind) -> &[NodeId] {
        match kind {
            Kind::Voter => &self.voters,
            Kind::NonVoter => &self.non_voters,
        }
    }

    fn replicas(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.voters.iter().chain(&self.non_voters).copied()
    }

    fn holds(&self, node: NodeId) -> bool {
        self.voters.contains(&node) || self.non_voters.contains(&node)
    }

    fn with(&self, kind: Kind, node: NodeId) -> Layout {
        let mut out = self.clone();
        let list = match kind {
            Kind::Voter => &mut out.voters,
            Kind::NonVoter => &mut out.non_voters,
        };
        list.push(node);
        list.sort();
        out
    }

    fn without(&self, node: NodeId) -> Layout {
        let mut out = self.clone();
        out.voters.retain(|n| *n != node);
        out.non_voters.retain(|n| *n != node);
        out
    }

    fn promoted(&self, node: NodeId) -> Layout {
        self.without(node).with(Kind::Voter, node)
    }

    fn demoted(&self, node: NodeId) -> Layout {
        self.without(node).with(Kind::NonVoter, node)
    }
}

/// How good a layout is for voters or for non-voters; lower is better, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Score {
    dead: usize,
    unavailable: usize,
    draining: usize,
    violations: usize,
    spread: Reverse<usize>,
}

impl Score {
    /// The part a swap may improve: constraints, then diversity.
    fn placement(&self) -> (usize, Reverse<usize>) {
        (self.violations, self.spread)
    }

    fn health(&self) -> (usize, usize, usize) {
        (self.dead, self.unavailable, self.draining)
    }
}

/// A ranked candidate change; lower is better, field by field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    score: Score,
    /// The change copies data or discards a wanted replica where a cheaper one would do.
    costly: bool,
    /// Replica count of the node: as is for adds, negated for removals.
    load: i64,
    /// The node holds the lease, which a removal would first have to move.
    holds_lease: bool,
    /// Node id: as is for adds, negated for removals.
    id: i64,
}

/// What a change does to one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Add,
    Promote,
    Remove,
    Demote,
}

/// One candidate change and how it ranks.
#[derive(Clone, Copy, Debug)]
struct Choice {
    node: NodeId,
    change: Change,
    rank: Rank,
}

/// Orders swap candidates; see [`Cluster::best_swap`].
type SwapKey = (
    usize,
    (usize, Reverse<usize>),
    bool,
    (Reverse<Health>, Reverse<usize>, Reverse<NodeId>),
    (usize, NodeId),
);

/// One member out, one node in; only the first half is ever returned as an action.
struct Swap {
    out: NodeId,
    node: NodeId,
    change: Change,
    after: Layout,
}

impl Swap {
    fn action(&self, kind: Kind, reason: String) -> Action {
        add_action(kind, self.node, self.change, reason)
    }
}

/// Which component of a [`Rank`] separated the winner from the runner-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Criterion {
    Only,
    Health,
    Constraints,
    Diversity,
    Cost,
    Load,
    Lease,
    Id,
}

/// Why the first of `ranked` beat the best choice about another node.
fn decided_by(ranked: &[Choice]) -> Criterion {
    let best = ranked.first();
    let next = ranked
        .iter()
        .find(|c| best.is_some_and(|b| b.node != c.node));
    let (Some(best), Some(next)) = (best, next) else {
        return Criterion::Only;
    };
    let (a, b) = (best.rank, next.rank);
    if a.score.health() != b.score.health() {
        Criterion::Health
    } else if a.score.violations != b.score.violations {
        Criterion::Constraints
    } else if a.score.spread != b.score.spread {
        Criterion::Diversity
    } else if a.costly != b.costly {
        Criterion::Cost
    } else if a.load != b.load {
        Criterion::Load
    } else if a.holds_lease != b.holds_lease {
        Criterion::Lease
    } else {
        Criterion::Id
    }
}

fn signed(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn sorted(mut choices: Vec<Choice>) -> Vec<Choice> {
    choices.sort_by_key(|c| c.rank);
    choices
}

/// The cluster as the allocator sees it for one zone configuration.
struct Cluster<'a> {
    zone: &'a ZoneConfig,
    nodes: BTreeMap<NodeId, &'a NodeInfo>,
    want_voters: usize,
    want_non_voters: usize,
    voter_rules: Rules<'a>,
    replica_rules: Rules<'a>,
    /// The locality of a node missing from `nodes`.
    nowhere: Locality,
}

impl<'a> Cluster<'a> {
    fn new(zone: &'a ZoneConfig, nodes: &'a [NodeInfo]) -> Cluster<'a> {
        let nodes: BTreeMap<NodeId, &NodeInfo> = nodes.iter().map(|n| (n.node_id, n)).collect();
        let available = nodes.values().filter(|n| !n.dead && !n.draining).count();
        let want_voters = needed_voters(zone.voters() as usize, available);
        let want_non_voters = needed_non_voters(zone.non_voters() as usize, available, want_voters);
        Cluster {
            zone,
            nodes,
            want_voters,
            want_non_voters,
            voter_rules: Rules::new(&zone.voter_constraints, zone.voters()),
            replica_rules: Rules::new(&zone.constraints, zone.num_replicas),
            nowhere: Locality::default(),
        }
    }

    fn plan(&self, layout: &Layout, leaseholder: Option<NodeId>) -> Option<Action> {
        if !self.has_quorum(&layout.voters) {
            return None;
        }
        self.replace_dead(layout, Kind::Voter, leaseholder)
            .or_else(|| self.replace_dead(layout, Kind::NonVoter, leaseholder))
            .or_else(|| self.add_missing(layout, Kind::Voter))
            .or_else(|| self.shed(layout, Kind::Voter, leaseholder))
            .or_else(|| self.fix_voters(layout))
            .or_else(|| self.add_missing(layout, Kind::NonVoter))
            .or_else(|| self.shed(layout, Kind::NonVoter, leaseholder))
            .or_else(|| self.fix_constraints(layout))
            .or_else(|| self.fix_lease(layout, leaseholder))
            .or_else(|| self.improve_diversity(layout))
            .or_else(|| self.rebalance_load(layout, leaseholder))
    }

    // Facts about nodes.

    fn health(&self, node: NodeId) -> Health {
        match self.nodes.get(&node) {
            None => Health::Dead,
            Some(n) if n.dead => Health::Dead,
            Some(n) if !n.live => Health::Unavailable,
            Some(n) if n.draining => Health::Draining,
            Some(_) => Health::Healthy,
        }
    }

    fn is_live(&self, node: NodeId) -> bool {
        matches!(self.health(node), Health::Healthy | Health::Draining)
    }

    fn locality(&self, node: NodeId) -> &Locality {
        self.nodes.get(&node).map_or(&self.nowhere, |n| &n.locality)
    }

    fn load(&self, node: NodeId) -> usize {
        self.nodes.get(&node).map_or(0, |n| n.replicas)
    }

    fn healthy_nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes
            .keys()
            .copied()
            .filter(|n| self.health(*n) == Health::Healthy)
    }

    /// Whether `node` may hold a replica of `kind` at all.
    fn allows(&self, kind: Kind, node: NodeId) -> bool {
        let locality = self.locality(node);
        self.replica_rules.allows(locality)
            && (kind == Kind::NonVoter || self.voter_rules.allows(locality))
    }

    fn want(&self, kind: Kind) -> usize {
        match kind {
            Kind::Voter => self.want_voters,
            Kind::NonVoter => self.want_non_voters,
        }
    }

    // Scoring.

    fn score(&self, layout: &Layout, kind: Kind) -> Score {
        let members = layout.members(kind);
        let count = |h: Health| members.iter().filter(|n| self.health(**n) == h).count();
        let spread = match kind {
            Kind::Voter => self.spread(layout.voters.iter().copied()),
            Kind::NonVoter => self.spread(layout.replicas()),
        };
        Score {
            dead: count(Health::Dead),
            unavailable: count(Health::Unavailable),
            draining: count(Health::Draining),
            violations: self.violations(layout),
            spread: Reverse(spread),
        }
    }

    fn violations(&self, layout: &Layout) -> usize {
        let voters: Vec<&Locality> = layout.voters.iter().map(|n| self.locality(*n)).collect();
        let replicas: Vec<&Locality> = layout.replicas().map(|n| self.locality(n)).collect();
        self.voter_rules.violations(&voters) + self.replica_rules.violations(&replicas)
    }

    /// The violations the voters cause on their own: voter constraints, and voters barred by the
    /// every-replica constraints. Per-replica shortfalls of `constraints` are left out: a
    /// non-voter may yet fill them.
    fn voter_violations(&self, layout: &Layout) -> usize {
        let voters: Vec<&Locality> = layout.voters.iter().map(|n| self.locality(*n)).collect();
        let barred = voters
            .iter()
            .filter(|l| !self.replica_rules.allows(l))
            .count();
        self.voter_rules.violations(&voters) + barred
    }

    /// Sum of pairwise locality distances, members on dead nodes left out.
    fn spread(&self, members: impl Iterator<Item = NodeId>) -> usize {
        let alive: Vec<&Locality> = members
            .filter(|n| self.health(*n) != Health::Dead)
            .map(|n| self.locality(n))
            .collect();
        let mut total = 0;
        for (i, a) in alive.iter().enumerate() {
            for b in &alive[i + 1..] {
                total += a.tiers().len().max(b.tiers().len()) - a.shared_prefix(b);
            }
        }
        total
    }

    fn has_quorum(&self, voters: &[NodeId]) -> bool {
        let live = voters.iter().filter(|n| self.is_live(**n)).count();
        voters.is_empty() || live > voters.len() / 2
    }

    /// A group of `voters` left by a removal: a quorum of itself and a majority of those wanted
    /// must be live.
    fn safe_to_leave(&self, voters: &[NodeId]) -> bool {
        let live = voters.iter().filter(|n| self.is_live(**n)).count();
        live > voters.len() / 2 && live > self.want_voters / 2
    }

    // Rule 2: dead replicas.

    fn replace_dead(&self, layout: &Layout, kind: Kind, lh: Option<NodeId>) -> Option<Action> {
        let members = layout.members(kind);
        let dead = *members.iter().find(|n| self.health(**n) == Health::Dead)?;
        if members.len() > self.want(kind) {
            return self.shed(layout, kind, lh);
        }
        let ranked = self.best_add(&layout.without(dead), layout, kind);
        let choice = ranked.first()?;
        let why = add_phrase(decided_by(&ranked), self.load(choice.node));
        let reason = format!("replace {kind} on dead {dead}; {} {why}", choice.node);
        Some(add_action(kind, choice.node, choice.change, reason))
    }

    // Rules 3 and 5: adds.

    fn add_missing(&self, layout: &Layout, kind: Kind) -> Option<Action> {
        let (have, want) = (layout.members(kind).len(), self.want(kind));
        if have >= want {
            return None;
        }
        let ranked = self.best_add(layout, layout, kind);
        let choice = ranked.first()?;
        let why = add_phrase(decided_by(&ranked), self.load(choice.node));
        let reason = format!("{have} of {want} {kind}s; {} {why}", choice.node);
        Some(add_action(kind, choice.node, choice.change, reason))
    }

    /// Healthy nodes that may take a `kind` replica, best first. `held` says which nodes already
    /// have a replica; `base` is the layout the candidate is scored as joining (`held` minus a
    /// member being replaced). A voter may also come from promoting a non-voter.
    fn best_add(&self, base: &Layout, held: &Layout, kind: Kind) -> Vec<Choice> {
        let mut choices = Vec::new();
        for node in self.healthy_nodes().filter(|n| self.allows(kind, *n)) {
            let (change, after) = if !held.holds(node) {
                (Change::Add, base.with(kind, node))
            } else if kind == Kind::Voter && held.non_voters.contains(&node) {
                (Change::Promote, base.promoted(node))
            } else {
                continue;
            };
            let rank = Rank {
                score: self.score(&after, kind),
                costly: change == Change::Add,
                load: signed(self.load(node)),
                holds_lease: false,
                id: signed(node.0 as usize),
            };
            choices.push(Choice { node, change, rank });
        }
        sorted(choices)
    }

    // Rules 4 and 5: surplus replicas.

    /// The member whose removal (or demotion, when non-voters are short) leaves the best layout,
    /// best first.
    fn shed_options(&self, layout: &Layout, kind: Kind, lh: Option<NodeId>) -> Vec<Choice> {
        let demote = kind == Kind::Voter && layout.non_voters.len() < self.want_non_voters;
        let mut choices = Vec::new();
        for &node in layout.members(kind) {
            let rank = |after: &Layout, costly: bool| Rank {
                score: self.score(after, kind),
                costly,
                load: -signed(self.load(node)),
                holds_lease: lh == Some(node),
                id: -signed(node.0 as usize),
            };
            let change = Change::Remove;
            choices.push(Choice {
                node,
                change,
                rank: rank(&layout.without(node), demote),
            });
            // With the non-voters complete, a voter is still demoted rather than removed when
            // its replica is one `constraints` wants (the surplus non-voter goes next): a voter
            // outside its home region keeps the range's copy in its own region.
            let keeps_a_wanted_replica = kind == Kind::Voter
                && self.violations(&layout.demoted(node)) < self.violations(&layout.without(node));
            if (demote || keeps_a_wanted_replica)
                && self.health(node) == Health::Healthy
                && self.allows(Kind::NonVoter, node)
            {
                let change = Change::Demote;
                choices.push(Choice {
                    node,
                    change,
                    rank: rank(&layout.demoted(node), false),
                });
            }
        }
        sorted(choices)
    }

    fn shed(&self, layout: &Layout, kind: Kind, lh: Option<NodeId>) -> Option<Action> {
        let (have, want) = (layout.members(kind).len(), self.want(kind));
        if have <= want {
            return None;
        }
        let ranked = self.shed_options(layout, kind, lh);
        for (i, choice) in ranked.iter().enumerate() {
            let after = match choice.change {
                Change::Demote => layout.demoted(choice.node),
                _ => layout.without(choice.node),
            };
            if kind == Kind::Voter && !self.safe_to_leave(&after.voters) {
                continue;
            }
            let verb = if choice.change == Change::Demote {
                "demoting"
            } else {
                "removing"
            };
            if lh == Some(choice.node) {
                let Some(to) = self.lease_target(&layout.voters, Some(choice.node)) else {
                    continue;
                };
                let reason = format!("{} holds the lease; move it before {verb} it", choice.node);
                return Some(Action::TransferLease { to, reason });
            }
            let why = self.shed_phrase(decided_by(&ranked[i..]), choice.node);
            let mut reason = format!("{have} {kind}s, {want} wanted; {} {why}", choice.node);
            if choice.change == Change::Demote {
                let short = layout.non_voters.len();
                reason += &format!(" (non-voters {short} of {})", self.want_non_voters);
            }
            let node = choice.node;
            return Some(match (kind, choice.change) {
                (Kind::Voter, Change::Demote) => Action::DemoteVoter { node, reason },
                (Kind::Voter, _) => Action::RemoveVoter { node, reason },
                (Kind::NonVoter, _) => Action::RemoveNonVoter { node, reason },
            });
        }
        None
    }

    fn shed_phrase(&self, criterion: Criterion, node: NodeId) -> String {
        match criterion {
            Criterion::Only => "is the only choice".into(),
            Criterion::Health => format!("is {}", self.health(node)),
            Criterion::Constraints => "fits the constraints worst".into(),
            Criterion::Diversity => "is the least diverse".into(),
            Criterion::Cost => "can be demoted instead".into(),
            Criterion::Load => format!("has the most replicas ({})", self.load(node)),
            Criterion::Lease => "is not the leaseholder".into(),
            Criterion::Id => "has the highest node id among equals".into(),
        }
    }

    // Rules 6 and 8: swaps.

    /// The best swap of one `kind` member for a healthy node, among those that leave a strictly
    /// better placement (violations, then spread; health is for removals to sort out). Ranked by
    /// `objective` of the layout after, then placement, then cost; among equal members, the one
    /// [`Cluster::shed`] would take first, so the reason names the member that will go.
    fn best_swap(
        &self,
        layout: &Layout,
        kind: Kind,
        objective: fn(&Cluster<'a>, &Layout) -> usize,
    ) -> Option<Swap> {
        // A swap must improve the objective, or keep it and improve the placement. (Compared
        // on placement alone, moving a voter home to meet voter constraints was refused when
        // it left a region without the replica that `constraints` wants there, though a
        // non-voter moves there next: the range kept a voter out of its home region.)
        let now = (
            objective(self, layout),
            self.score(layout, kind).placement(),
        );
        let mut best: Option<(SwapKey, Swap)> = None;
        for &out in layout.members(kind) {
            for node in self.healthy_nodes().filter(|n| self.allows(kind, *n)) {
                let (change, after) = if !layout.holds(node) {
                    (Change::Add, layout.without(out).with(kind, node))
                } else if kind == Kind::Voter
                    && layout.non_voters.contains(&node)
                    && self.health(out) == Health::Healthy
                    && self.allows(Kind::NonVoter, out)
                {
                    (Change::Promote, layout.promoted(node).demoted(out))
                } else {
                    continue;
                };
                let score = self.score(&after, kind);
                if (objective(self, &after), score.placement()) >= now {
                    continue;
                }
                let key = (
                    objective(self, &after),
                    score.placement(),
                    change == Change::Add,
                    (
                        Reverse(self.health(out)),
                        Reverse(self.load(out)),
                        Reverse(out),
                    ),
                    (self.load(node), node),
                );
                if best.as_ref().is_none_or(|(b, _)| key < *b) {
                    best = Some((
                        key,
                        Swap {
                            out,
                            node,
                            change,
                            after,
                        },
                    ));
                }
            }
        }
        best.map(|(_, swap)| swap)
    }

    fn at_wanted_counts(&self, layout: &Layout) -> bool {
        layout.voters.len() == self.want_voters && layout.non_voters.len() == self.want_non_voters
    }

    /// With the voter count right, swaps voters that violate constraints on their own, before
    /// any non-voter is added: a misplaced voter can then become one of the non-voters.
    fn fix_voters(&self, layout: &Layout) -> Option<Action> {
        if layout.voters.len() != self.want_voters {
            return None;
        }
        let now = self.voter_violations(layout);
        if now == 0 {
            return None;
        }
        let swap = self.best_swap(layout, Kind::Voter, Cluster::voter_violations)?;
        let after = self.voter_violations(&swap.after);
        (after < now).then(|| {
            let reason = format!("violations by voters {now} -> {after}: {} goes", swap.out);
            swap.action(Kind::Voter, reason)
        })
    }

    /// With both counts right, swaps that reduce the violations left, non-voters first (moving
    /// them disturbs no quorum).
    fn fix_constraints(&self, layout: &Layout) -> Option<Action> {
        if !self.at_wanted_counts(layout) {
            return None;
        }
        let now = self.violations(layout);
        if now == 0 {
            return None;
        }
        [Kind::NonVoter, Kind::Voter].into_iter().find_map(|kind| {
            let swap = self.best_swap(layout, kind, Cluster::violations)?;
            let after = self.violations(&swap.after);
            (after < now).then(|| {
                let reason = format!("constraint violations {now} -> {after}: {} goes", swap.out);
                swap.action(kind, reason)
            })
        })
    }

    fn improve_diversity(&self, layout: &Layout) -> Option<Action> {
        if !self.at_wanted_counts(layout) {
            return None;
        }
        [Kind::Voter, Kind::NonVoter].into_iter().find_map(|kind| {
            let Reverse(from) = self.score(layout, kind).spread;
            let swap = self.best_swap(layout, kind, |_, _| 0)?;
            let Reverse(to) = self.score(&swap.after, kind).spread;
            let reason = format!("{kind} diversity {from} -> {to}: {} goes", swap.out);
            Some(swap.action(kind, reason))
        })
    }

    // Rule 9: load.

    fn rebalance_load(&self, layout: &Layout, lh: Option<NodeId>) -> Option<Action> {
        if !self.at_wanted_counts(layout) {
            return None;
        }
        let healthy: Vec<NodeId> = self.healthy_nodes().collect();
        let count = healthy.len();
        let total: usize = healthy.iter().map(|n| self.load(*n)).sum();
        let overfull = |n: NodeId| {
            self.load(n) * 100 * count > total * OVERFULL_PERCENT + OVERFULL_SLACK * 100 * count
        };
        let underfull = |n: NodeId| self.load(n) * count < total;
        let mut sources: Vec<(NodeId, Kind)> = layout
            .voters
            .iter()
            .map(|n| (*n, Kind::Voter))
            .chain(layout.non_voters.iter().map(|n| (*n, Kind::NonVoter)))
            .filter(|(n, _)| count > 0 && self.nodes.contains_key(n) && overfull(*n))
            .collect();
        sources.sort_by_key(|(n, _)| (Reverse(self.load(*n)), *n));
        for (out, kind) in sources {
            let now = self.score(layout, kind).placement();
            let mut targets: Vec<(Rank, NodeId)> = healthy
                .iter()
                .copied()
                .filter(|c| !layout.holds(*c) && underfull(*c) && self.allows(kind, *c))
                .map(|c| {
                    let score = self.score(&layout.without(out).with(kind, c), kind);
                    let rank = Rank {
                        score,
                        costly: true,
                        load: signed(self.load(c)),
                        holds_lease: false,
                        id: signed(c.0 as usize),
                    };
                    (rank, c)
                })
                .filter(|(rank, _)| rank.score.placement() <= now)
                .collect();
            targets.sort();
            for (_, node) in targets {
                let next = self.shed_options(&layout.with(kind, node), kind, lh);
                if next.first().map(|c| c.node) != Some(out) {
                    continue;
                }
                let mean = total as f64 / count as f64;
                let reason = format!(
                    "rebalance from {out} ({} replicas, mean {mean:.2}) to {node} ({} replicas)",
                    self.load(out),
                    self.load(node)
                );
                return Some(match kind {
                    Kind::Voter => Action::AddVoter { node, reason },
                    Kind::NonVoter => Action::AddNonVoter { node, reason },
                });
            }
        }
        None
    }

    // Rule 7: the lease.

    fn lease_rank(&self, node: NodeId) -> usize {
        self.zone
            .lease_preferences
            .rank(self.locality(node))
            .unwrap_or(usize::MAX)
    }

    /// The healthy voter that should hold the lease: best preference, fewest leases, lowest id.
    fn lease_target(&self, voters: &[NodeId], except: Option<NodeId>) -> Option<NodeId> {
        voters
            .iter()
            .copied()
            .filter(|n| Some(*n) != except && self.health(*n) == Health::Healthy)
            .min_by_key(|n| {
                let leases = self.nodes.get(n).map_or(0, |i| i.leases);
                (self.lease_rank(*n), leases, *n)
            })
    }

    fn fix_lease(&self, layout: &Layout, leaseholder: Option<NodeId>) -> Option<Action> {
        let voters = &layout.voters;
        let (to, reason) = match leaseholder {
            None => (
                self.lease_target(voters, None)?,
                "no leaseholder".to_string(),
            ),
            Some(lh) if !voters.contains(&lh) => (
                self.lease_target(voters, None)?,
                format!("leaseholder {lh} is not a voter"),
            ),
            Some(lh) if self.health(lh) != Health::Healthy => {
                let to = self.lease_target(voters, Some(lh))?;
                (to, format!("leaseholder {lh} is {}", self.health(lh)))
            }
            Some(lh) => {
                let to = self.lease_target(voters, None)?;
                let rank = self.lease_rank(to);
                if rank >= self.lease_rank(lh) {
                    return None;
                }
                let preference = self.zone.lease_preferences.0.get(rank).map(|p| {
                    p.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                });
                let preference = preference.unwrap_or_default();
                (
                    to,
                    format!("lease preference [{preference}] is not met by {lh}"),
                )
            }
        };
        Some(Action::TransferLease { to, reason })
    }
}

/// The first half of a change that brings `node` in as a `kind` replica.
fn add_action(kind: Kind, node: NodeId, change: Change, reason: String) -> Action {
    match (kind, change) {
        (Kind::Voter, Change::Promote) => Action::PromoteNonVoter { node, reason },
        (Kind::Voter, _) => Action::AddVoter { node, reason },
        (Kind::NonVoter, _) => Action::AddNonVoter { node, reason },
    }
}

fn add_phrase(criterion: Criterion, load: usize) -> String {
    match criterion {
        Criterion::Only => "is the only candidate".into(),
        Criterion::Health => "is the healthiest".into(),
        Criterion::Constraints => "fits the constraints best".into(),
        Criterion::Diversity => "is the most diverse".into(),
        Criterion::Cost => "is already a non-voter".into(),
        Criterion::Load => format!("has the fewest replicas ({load})"),
        Criterion::Lease => "is not the leaseholder".into(),
        Criterion::Id => "has the lowest node id among equals".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::error::Error;
    use std::fmt::Write as _;

    use base::zone::LeasePreferences;
    use goldenscript::Argument;
    use locality::Tier;

    fn n(id: u64) -> NodeId {
        NodeId(id)
    }

    fn node(id: u64, locality: &str) -> NodeInfo {
        NodeInfo::new(n(id), Locality::parse(locality).expect("valid locality"))
    }

    /// `cockroach demo --global`: three regions of three zones.
    fn global_nodes() -> Vec<NodeInfo> {
        let regions = ["us-east1", "us-west1", "europe-west1"];
        let mut nodes = Vec::new();
        for (r, region) in regions.iter().enumerate() {
            for (z, zone) in ["a", "b", "c"].iter().enumerate() {
                let id = (r * 3 + z + 1) as u64;
                nodes.push(node(id, &format!("region={region},zone={zone}")));
            }
        }
        nodes
    }

    /// The seed's zone: five replicas, three voters in us-east1, the lease there too.
    fn seed_zone() -> ZoneConfig {
        ZoneConfig {
            num_replicas: 5,
            num_voters: Some(3),
            voter_constraints: Constraints::parse(r#"{"+region=us-east1": 3}"#).expect("valid"),
            lease_preferences: LeasePreferences::parse("[[+region=us-east1]]").expect("valid"),
            ..ZoneConfig::default()
        }
    }

    fn range(voters: &[u64], non_voters: &[u64], leaseholder: Option<u64>) -> RangeReplicas {
        RangeReplicas {
            voters: voters.iter().map(|i| n(*i)).collect(),
            non_voters: non_voters.iter().map(|i| n(*i)).collect(),
            leaseholder: leaseholder.map(n),
        }
    }

    fn ids(list: &[NodeId]) -> Vec<u64> {
        let mut ids: Vec<u64> = list.iter().map(|n| n.0).collect();
        ids.sort();
        ids
    }

    /// Carries `action` out on the range and on the nodes' counts.
    fn execute(action: &Action, range: &mut RangeReplicas, nodes: &mut [NodeInfo]) {
        account(action, range.leaseholder, nodes);
        range.apply(action);
    }

    /// Plans and executes until `Noop`; panics if that takes more than `limit` steps.
    fn converge(
        zone: &ZoneConfig,
        range: &mut RangeReplicas,
        nodes: &mut [NodeInfo],
        limit: usize,
    ) -> Vec<Action> {
        let mut steps = Vec::new();
        loop {
            let action = plan(zone, range, nodes);
            if action == Action::Noop {
                return steps;
            }
            assert!(
                steps.len() < limit,
                "no fixed point after {limit} steps: {steps:#?}"
            );
            execute(&action, range, nodes);
            steps.push(action);
        }
    }

    #[test]
    fn needed_voters_follow_cockroachdb() {
        // (zone voters, available nodes, wanted)
        let cases = [
            (3, 9, 3),
            (3, 3, 3),
            (3, 2, 3),
            (3, 1, 3),
            (5, 4, 3),
            (5, 5, 5),
            (5, 6, 5),
        ];
        for (zone, available, want) in cases {
            assert_eq!(
                needed_voters(zone, available),
                want,
                "{zone} voters, {available} nodes"
            );
        }
        assert_eq!(needed_voters(7, 6), 5);
        assert_eq!(needed_voters(1, 0), 1);
        assert_eq!(needed_voters(2, 1), 2);
        assert_eq!(needed_non_voters(2, 9, 3), 2);
        assert_eq!(needed_non_voters(2, 4, 3), 1);
        assert_eq!(needed_non_voters(2, 2, 3), 0);
    }

    #[test]
    fn seed_initial_placement() {
        let placed = initial_placement(&seed_zone(), &global_nodes());
        assert_eq!(ids(&placed.voters), [1, 2, 3]);
        assert_eq!(ids(&placed.non_voters), [4, 7]);
        assert_eq!(placed.leaseholder, Some(n(1)));
    }

    #[test]
    fn seed_converges_to_initial_placement() {
        let (zone, mut nodes) = (seed_zone(), global_nodes());
        let mut r = RangeReplicas::default();
        let steps = converge(&zone, &mut r, &mut nodes, 20);
        assert_eq!(steps.len(), 6, "{steps:#?}");
        assert_eq!(r, initial_placement(&zone, &global_nodes()));
    }

    #[test]
    fn dead_voter_is_replaced_before_it_is_removed() {
        let mut nodes = global_nodes();
        let r = range(&[1, 2, 3], &[4, 7], Some(1));
        nodes[2].dead = true;
        nodes[2].live = false;
        nodes.push(node(10, "region=us-east1,zone=c"));
        let add = plan(&seed_zone(), &r, &nodes);
        assert!(
            matches!(add, Action::AddVoter { node, .. } if node == n(10)),
            "{add}"
        );
        assert!(add.reason().contains("dead n3"), "{add}");
        let mut r = r;
        r.apply(&add);
        let remove = plan(&seed_zone(), &r, &nodes);
        assert!(
            matches!(remove, Action::RemoveVoter { node, .. } if node == n(3)),
            "{remove}"
        );
        r.apply(&remove);
        assert_eq!(plan(&seed_zone(), &r, &nodes), Action::Noop);
    }

    #[test]
    fn dead_voter_without_replacement_stays() {
        let mut nodes = global_nodes();
        nodes[2].dead = true;
        let r = range(&[1, 2, 3], &[4, 7], Some(1));
        assert_eq!(plan(&seed_zone(), &r, &nodes), Action::Noop);
    }

    #[test]
    fn dead_leaseholder_hands_over_the_lease_before_removal() {
        let mut nodes = global_nodes();
        nodes[0].dead = true;
        nodes.push(node(10, "region=us-east1,zone=a"));
        let r = range(&[1, 2, 3, 10], &[4, 7], Some(1));
        let action = plan(&seed_zone(), &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(2)),
            "{action}"
        );
    }

    #[test]
    fn lost_quorum_is_noop() {
        let mut nodes = global_nodes();
        for i in [1, 2] {
            nodes[i].dead = true;
        }
        let r = range(&[1, 2, 3], &[], Some(1));
        assert_eq!(plan(&ZoneConfig::default(), &r, &nodes), Action::Noop);
    }

    #[test]
    fn removals_keep_a_live_majority() {
        let mut nodes = global_nodes();
        nodes[1].live = false;
        nodes[2].live = false;
        let zone = ZoneConfig::default();
        let cluster = Cluster::new(&zone, &nodes);
        assert!(cluster.safe_to_leave(&[n(1), n(4), n(2)]));
        assert!(!cluster.safe_to_leave(&[n(1), n(2), n(3)]));
        assert!(!cluster.safe_to_leave(&[n(1), n(2)]));
        assert!(cluster.safe_to_leave(&[n(1), n(4)]));
    }

    #[test]
    fn missing_voters_then_non_voters_are_added() {
        let r = range(&[1], &[], Some(1));
        let action = plan(&seed_zone(), &r, &global_nodes());
        assert!(
            matches!(action, Action::AddVoter { node, .. } if node == n(2)),
            "{action}"
        );
        let r = range(&[1, 2, 3], &[4], Some(1));
        let action = plan(&seed_zone(), &r, &global_nodes());
        assert!(
            matches!(action, Action::AddNonVoter { node, .. } if node == n(7)),
            "{action}"
        );
    }

    #[test]
    fn voter_constraint_fixed_by_promote_then_demote() {
        let (zone, mut nodes) = (seed_zone(), global_nodes());
        let mut r = range(&[1, 2, 4], &[3, 7], Some(1));
        let steps = converge(&zone, &mut r, &mut nodes, 5);
        assert!(matches!(steps[0], Action::PromoteNonVoter { node, .. } if node == n(3)));
        assert!(matches!(steps[1], Action::DemoteVoter { node, .. } if node == n(4)));
        assert_eq!(steps.len(), 2, "{steps:#?}");
        assert_eq!(
            (ids(&r.voters), ids(&r.non_voters)),
            (vec![1, 2, 3], vec![4, 7])
        );
    }

    #[test]
    fn constraint_fixed_by_add_then_remove() {
        let zone = ZoneConfig {
            constraints: Constraints::parse("[+region=us-east1]").expect("valid"),
            ..ZoneConfig::default()
        };
        let mut nodes = global_nodes();
        let mut r = range(&[1, 2, 4], &[], Some(1));
        let steps = converge(&zone, &mut r, &mut nodes, 5);
        assert!(
            matches!(steps[0], Action::AddVoter { node, .. } if node == n(3)),
            "{steps:#?}"
        );
        assert!(matches!(steps[1], Action::RemoveVoter { node, .. } if node == n(4)));
        assert_eq!(steps.len(), 2);
    }

    #[test]
    fn surplus_voter_is_the_least_diverse_but_never_the_leaseholder() {
        let nodes = global_nodes();
        let zone = ZoneConfig::default();
        let r = range(&[1, 2, 4, 7], &[], Some(1));
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::RemoveVoter { node, .. } if node == n(2)),
            "{action}"
        );
        // Full ties spare the leaseholder.
        let r = range(&[1, 2, 4, 7], &[], Some(2));
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::RemoveVoter { node, .. } if node == n(1)),
            "{action}"
        );
        // The leaseholder is the worst: the lease moves first.
        let mut nodes = nodes;
        nodes[1].replicas = 1;
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(1)),
            "{action}"
        );
    }

    #[test]
    fn surplus_goes_dead_then_draining_then_loaded() {
        let mut nodes = global_nodes();
        let zone = ZoneConfig::default();
        let r = range(&[1, 4, 7, 8], &[], Some(1));
        nodes[6].replicas = 10;
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::RemoveVoter { node, .. } if node == n(7)),
            "{action}"
        );
        nodes[7].draining = true;
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::RemoveVoter { node, .. } if node == n(8)),
            "{action}"
        );
        nodes[3].dead = true;
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::RemoveVoter { node, .. } if node == n(4)),
            "{action}"
        );
    }

    #[test]
    fn lease_follows_preferences_and_leaves_draining_nodes() {
        let mut nodes = global_nodes();
        let zone = ZoneConfig {
            lease_preferences: LeasePreferences::parse("[[+region=us-west1]]").expect("valid"),
            ..ZoneConfig::default()
        };
        let r = range(&[1, 4, 7], &[], Some(1));
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(4)),
            "{action}"
        );
        let r = range(&[1, 4, 7], &[], Some(4));
        assert_eq!(plan(&zone, &r, &nodes), Action::Noop);
        nodes[3].draining = true;
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(1)),
            "{action}"
        );
        assert_eq!(action.reason(), "leaseholder n4 is draining");
        let r = range(&[1, 4, 7], &[], None);
        let action = plan(&zone, &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(1)),
            "{action}"
        );
    }

    #[test]
    fn lease_prefers_fewest_leases_among_equals() {
        let mut nodes = global_nodes();
        nodes[0].leases = 5;
        let r = range(&[1, 4, 7], &[], None);
        let action = plan(&ZoneConfig::default(), &r, &nodes);
        assert!(
            matches!(action, Action::TransferLease { to, .. } if to == n(4)),
            "{action}"
        );
    }

    /// A node plans all the ranges it leads in one round from one reading of the counts: with
    /// each change counted as it is made, the round moves only as many replicas as balance the
    /// nodes, and no later round removes a replica it just added.
    #[test]
    fn one_round_over_many_ranges_does_not_overshoot() {
        let mut nodes: Vec<NodeInfo> = global_nodes().into_iter().take(6).collect();
        let zone = ZoneConfig {
            num_replicas: 1,
            ..ZoneConfig::default()
        };
        let mut ranges: Vec<RangeReplicas> = (0..4).map(|_| range(&[1], &[], Some(1))).collect();
        nodes[0].replicas = ranges.len();
        nodes[0].leases = ranges.len();
        let mut history: Vec<Vec<Action>> = vec![Vec::new(); ranges.len()];
        for round in 0.. {
            assert!(round < 20, "no fixed point: {history:#?}");
            let mut changed = false;
            for (r, hist) in ranges.iter_mut().zip(&mut history) {
                let action = plan(&zone, r, &nodes);
                if action != Action::Noop {
                    execute(&action, r, &mut nodes);
                    hist.push(action);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for hist in &history {
            let added: Vec<NodeId> = hist
                .iter()
                .filter_map(|a| match a {
                    Action::AddVoter { node, .. } => Some(*node),
                    _ => None,
                })
                .collect();
            assert!(
                !hist
                    .iter()
                    .any(|a| matches!(a, Action::RemoveVoter { node, .. } if added.contains(node))),
                "a replica added and removed again: {history:#?}"
            );
        }
        let max = nodes.iter().map(|i| i.replicas).max().unwrap_or(0);
        assert!(max <= 2, "{history:#?}");
    }

    #[test]
    fn overfull_node_sheds_a_replica_once() {
        let mut nodes = global_nodes();
        for (i, count) in [9, 4, 4, 4, 4, 4, 4, 4, 2].into_iter().enumerate() {
            nodes[i].replicas = count;
        }
        let zone = ZoneConfig::default();
        let mut r = range(&[1, 4, 7], &[], Some(4));
        let steps = converge(&zone, &mut r, &mut nodes, 5);
        assert_eq!(steps.len(), 2, "{steps:#?}");
        assert!(
            matches!(steps[0], Action::AddVoter { node, .. } if node == n(2)),
            "{steps:#?}"
        );
        assert!(matches!(steps[1], Action::RemoveVoter { node, .. } if node == n(1)));
        // n1 now has 8 of 40 over 9 nodes: still above the mean, but no longer overfull.
        assert_eq!(plan(&zone, &r, &nodes), Action::Noop);
    }

    #[test]
    fn diversity_is_improved_by_swaps() {
        let (zone, mut nodes) = (ZoneConfig::default(), global_nodes());
        let mut r = range(&[1, 2, 3], &[], Some(1));
        let steps = converge(&zone, &mut r, &mut nodes, 10);
        assert_eq!(steps.len(), 4, "{steps:#?}");
        assert_eq!(ids(&r.voters), [1, 4, 7]);
    }

    #[test]
    fn fewer_nodes_than_wanted() {
        let nodes: Vec<NodeInfo> = global_nodes().into_iter().take(2).collect();
        let placed = initial_placement(&ZoneConfig::default(), &nodes);
        assert_eq!(ids(&placed.voters), [1, 2]);
        let r = range(&[1, 2], &[], Some(1));
        assert_eq!(plan(&ZoneConfig::default(), &r, &nodes), Action::Noop);
    }

    #[test]
    fn plans_do_not_depend_on_list_order() {
        let mut nodes = global_nodes();
        nodes[4].dead = true;
        let cases = [
            range(&[1, 2, 5], &[4, 8], Some(2)),
            range(&[4, 7, 1], &[2], None),
            range(&[3], &[], Some(3)),
        ];
        for r in cases {
            let mut reversed = r.clone();
            reversed.voters.reverse();
            reversed.non_voters.reverse();
            let mut shuffled = nodes.clone();
            shuffled.reverse();
            let zone = seed_zone();
            assert_eq!(plan(&zone, &r, &nodes), plan(&zone, &reversed, &shuffled));
        }
    }

    /// A tiny deterministic generator, so the sweep below is reproducible without a dependency.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn every_layout_reaches_a_fixed_point() {
        let zones = [
            ZoneConfig::default(),
            seed_zone(),
            ZoneConfig {
                num_replicas: 5,
                ..ZoneConfig::default()
            },
            ZoneConfig {
                num_replicas: 4,
                num_voters: Some(3),
                constraints: Constraints::parse(r#"{"+region=us-west1": 1}"#).expect("valid"),
                ..ZoneConfig::default()
            },
        ];
        let mut rng = Lcg(7);
        for _ in 0..300 {
            let zone = &zones[rng.below(zones.len() as u64) as usize];
            let mut nodes = global_nodes();
            for info in &mut nodes {
                info.replicas = rng.below(12) as usize;
                match rng.below(12) {
                    0 => info.dead = true,
                    1 => info.draining = true,
                    2 => info.live = false,
                    _ => {}
                }
            }
            let mut r = RangeReplicas::default();
            for id in 1..=9 {
                match rng.below(4) {
                    0 => r.voters.push(n(id)),
                    1 => r.non_voters.push(n(id)),
                    _ => {}
                }
            }
            r.leaseholder = r.voters.first().copied();
            let start = r.clone();
            let steps = converge(zone, &mut r, &mut nodes, 40);
            let again = plan(zone, &r, &nodes);
            assert_eq!(again, Action::Noop, "from {start:?}: {steps:#?}");
        }
    }

    // Goldenscripts.

    /// Runs the scripts in `src/testdata/allocator/`. Commands:
    ///
    /// - `node n1 region=us-east1 zone=a [replicas=N] [leases=N] [dead] [down] [draining]`:
    ///   adds or replaces a node; key/value pairs other than the counts are locality tiers, in
    ///   order; `down` is not live, `dead` is dead past the timeout (and not live).
    /// - `set n1|all [live=B] [dead=B] [draining=B] [replicas=N] [leases=N]`: changes a node, or
    ///   every node.
    /// - `zone [num_replicas=N] [num_voters=N] [constraints=S] [voter_constraints=S]
    ///   [lease_preferences=S]`: the zone config, from the default, in CockroachDB's text forms.
    /// - `range [voters=L] [non_voters=L] [leaseholder=n]`: the range (lists like `"n1,n2"`).
    /// - `plan`: prints [`plan`]'s action (checked not to depend on list order).
    /// - `converge [steps=N]`: plans and executes (updating node counts) until `noop` or N
    ///   actions (default 20), printing each step and the final layout.
    /// - `place`: prints [`initial_placement`] (the range is left alone).
    /// - `show`: prints the range's layout.
    /// - `reset`: forgets nodes, zone and range.
    ///
    /// Regenerate with `UPDATE_GOLDENFILES=1` and review the diff.
    #[derive(Default)]
    struct Runner {
        nodes: Vec<NodeInfo>,
        zone: ZoneConfig,
        range: RangeReplicas,
    }

    type Result<T> = std::result::Result<T, Box<dyn Error>>;

    fn parse_node(s: &str) -> Result<NodeId> {
        let id = s
            .strip_prefix('n')
            .ok_or_else(|| format!("node id {s:?} must be nN"))?;
        Ok(NodeId(id.parse()?))
    }

    fn parse_nodes(s: &str) -> Result<Vec<NodeId>> {
        s.split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(parse_node)
            .collect()
    }

    impl base::testing::GoldenRunner for Runner {
        fn run(&mut self, command: &goldenscript::Command) -> Result<String> {
            match command.name.as_str() {
                "node" => self.node(command),
                "set" => self.set(command),
                "zone" => self.zone(command),
                "range" => self.range(command),
                "plan" => {
                    command.consume_args().reject_next()?;
                    Ok(format!("{}\n", self.plan()))
                }
                "converge" => self.converge(command),
                "place" => {
                    command.consume_args().reject_next()?;
                    let placed = initial_placement(&self.zone, &self.nodes);
                    Ok(show(&placed, &self.nodes))
                }
                "reset" => {
                    command.consume_args().reject_next()?;
                    *self = Runner::default();
                    Ok(String::new())
                }
                "show" => {
                    command.consume_args().reject_next()?;
                    Ok(show(&self.range, &self.nodes))
                }
                name => Err(format!("unknown command {name}").into()),
            }
        }
    }

    impl Runner {
        fn node(&mut self, command: &goldenscript::Command) -> Result<String> {
            let mut args = command.consume_args();
            let id = parse_node(args.next_pos().ok_or("node id missing")?)?;
            let mut info = NodeInfo::new(id, Locality::default());
            let mut tiers = Vec::new();
            for arg in args {
                match arg {
                    Argument::KeyValue(k, v) if k == "replicas" => info.replicas = v.parse()?,
                    Argument::KeyValue(k, v) if k == "leases" => info.leases = v.parse()?,
                    Argument::KeyValue(k, v) => tiers.push(Tier::new(k.as_str(), v.as_str())),
                    Argument::Positional(flag) if flag == "dead" => {
                        info.dead = true;
                        info.live = false;
                    }
                    Argument::Positional(flag) if flag == "down" => info.live = false,
                    Argument::Positional(flag) if flag == "draining" => info.draining = true,
                    other => return Err(format!("unexpected argument {other}").into()),
                }
            }
            info.locality = Locality::new(tiers);
            self.nodes.retain(|i| i.node_id != id);
            self.nodes.push(info);
            self.nodes.sort_by_key(|i| i.node_id);
            Ok(String::new())
        }

        fn set(&mut self, command: &goldenscript::Command) -> Result<String> {
            let mut args = command.consume_args();
            let which = args.next_pos().ok_or("node id or `all` missing")?;
            let only = if which == "all" {
                None
            } else {
                Some(parse_node(which)?)
            };
            if only.is_some_and(|id| !self.nodes.iter().any(|i| i.node_id == id)) {
                return Err(format!("unknown node {which}").into());
            }
            while let Some((key, value)) = args.next_key() {
                for info in self
                    .nodes
                    .iter_mut()
                    .filter(|i| only.is_none_or(|id| id == i.node_id))
                {
                    match key {
                        "live" => info.live = value.parse()?,
                        "dead" => info.dead = value.parse()?,
                        "draining" => info.draining = value.parse()?,
                        "replicas" => info.replicas = value.parse()?,
                        "leases" => info.leases = value.parse()?,
                        _ => return Err(format!("unknown node field {key}").into()),
                    }
                }
            }
            args.reject_next()?;
            Ok(String::new())
        }

        fn zone(&mut self, command: &goldenscript::Command) -> Result<String> {
            let mut zone = ZoneConfig::default();
            let mut args = command.consume_args();
            while let Some((key, value)) = args.next_key() {
                match key {
                    "num_replicas" => zone.num_replicas = value.parse()?,
                    "num_voters" => zone.num_voters = Some(value.parse()?),
                    "constraints" => zone.constraints = Constraints::parse(value)?,
                    "voter_constraints" => zone.voter_constraints = Constraints::parse(value)?,
                    "lease_preferences" => zone.lease_preferences = LeasePreferences::parse(value)?,
                    _ => return Err(format!("unknown zone field {key}").into()),
                }
            }
            args.reject_next()?;
            zone.validate()?;
            self.zone = zone;
            Ok(String::new())
        }

        fn range(&mut self, command: &goldenscript::Command) -> Result<String> {
            let mut args = command.consume_args();
            let mut range = RangeReplicas::default();
            if let Some(v) = args.take_key("voters") {
                range.voters = parse_nodes(v)?;
            }
            if let Some(v) = args.take_key("non_voters") {
                range.non_voters = parse_nodes(v)?;
            }
            if let Some(v) = args.take_key("leaseholder") {
                range.leaseholder = Some(parse_node(v)?);
            }
            args.reject_next()?;
            self.range = range;
            Ok(String::new())
        }

        /// [`plan`], checked against the same input with every list reversed.
        fn plan(&self) -> Action {
            let action = plan(&self.zone, &self.range, &self.nodes);
            let mut range = self.range.clone();
            range.voters.reverse();
            range.non_voters.reverse();
            let mut nodes = self.nodes.clone();
            nodes.reverse();
            assert_eq!(
                action,
                plan(&self.zone, &range, &nodes),
                "plan depends on list order"
            );
            action
        }

        fn converge(&mut self, command: &goldenscript::Command) -> Result<String> {
            let mut args = command.consume_args();
            let limit: usize = args
                .take_key("steps")
                .map(str::parse)
                .transpose()?
                .unwrap_or(20);
            args.reject_next()?;
            let mut out = String::new();
            for step in 1..=limit {
                let action = self.plan();
                writeln!(out, "{step}. {action}")?;
                if action == Action::Noop {
                    out += &show(&self.range, &self.nodes);
                    return Ok(out);
                }
                execute(&action, &mut self.range, &mut self.nodes);
            }
            writeln!(out, "no fixed point after {limit} steps")?;
            out += &show(&self.range, &self.nodes);
            Ok(out)
        }
    }

    /// One line per replica, by node id: kind, node, locality, lease and node state.
    fn show(range: &RangeReplicas, nodes: &[NodeInfo]) -> String {
        let layout = Layout::of(range);
        let mut replicas: Vec<(NodeId, Kind)> = layout
            .voters
            .iter()
            .map(|n| (*n, Kind::Voter))
            .chain(layout.non_voters.iter().map(|n| (*n, Kind::NonVoter)))
            .collect();
        replicas.sort_by_key(|(n, _)| *n);
        if replicas.is_empty() {
            return "no replicas\n".to_string();
        }
        let mut out = String::new();
        for (node, kind) in replicas {
            let info = nodes.iter().find(|i| i.node_id == node);
            let locality = info.map_or("(unknown node)".to_string(), |i| i.locality.to_string());
            let mut notes = Vec::new();
            if range.leaseholder == Some(node) {
                notes.push("leaseholder");
            }
            if let Some(info) = info {
                if info.dead {
                    notes.push("dead");
                } else if !info.live {
                    notes.push("down");
                }
                if info.draining {
                    notes.push("draining");
                }
            }
            let line = format!(
                "{kind:<9} {:<3} {locality:<28} {}",
                node.to_string(),
                notes.join(" ")
            );
            writeln!(out, "{}", line.trim_end()).ok();
        }
        out
    }

    base::goldenscripts! {
        runner: Runner::default(),
        dir: "src/testdata/allocator",
        scripts: [seed, dead_node, draining, over_replicated, constraints, default_zone, few_nodes, lease, rebalance],
    }
}
