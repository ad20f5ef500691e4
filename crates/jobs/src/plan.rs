//! The pure span planner: which node processes which range of a job.
//!
//! [`partition`] takes plain values — the ranges covering the job's spans (leaseholder,
//! replicas, size), the nodes (locality, liveness) and the job's execution-locality filter —
//! and returns a [`FlowPlan`]. No I/O: [`crate::JobContext::plan_spans`] gathers the input from
//! KV and calls it.
//!
//! # Rules (DESIGN.md "Balanced plans")
//!
//! The *eligible* nodes are the live nodes matching the filter (every live node without one).
//! For each range, in input order:
//!
//! 1. its leaseholder, when eligible ([`AssignReason::Leaseholder`]);
//! 2. else the least-loaded eligible node holding a replica ([`AssignReason::ReplicaHolder`]);
//! 3. else the eligible nodes with the longest [`Locality::shared_prefix`] with the
//!    leaseholder ([`locality::closest`]) — or every eligible node when none shares a tier —
//!    and among those the least loaded, then the lowest id ([`AssignReason::MostSimilar`]).
//!
//! Then a cap of `ceil(1.25 × ranges / eligible nodes)` ranges per node: each node above it
//! gives away its surplus, weakest reasons first (most similar, then replica holder, then
//! leaseholder), to the node under the cap that holds a replica, else shares the longest
//! prefix with the leaseholder, else has the least load ([`AssignReason::Rebalanced`]). The
//! cap always fits (`eligible × cap ≥ 1.25 × ranges`), so no node ends above it, and the
//! coordinator is just one node among the eligible ones: unlike CockroachDB v23.1, nothing
//! falls back onto it (crdb-behaviour §3.4).
//!
//! # Coordinator
//!
//! [`coordinator_order`] ranks the nodes that may coordinate a new job, best first: the live
//! nodes matching the filter, by fewest job coordinations they hold, then the gateway (the node
//! creating the job), then the lowest id. The registry hands the job to the first that accepts.

use std::collections::BTreeMap;

use base::{NodeId, RangeId, Span};
use locality::{Locality, LocalityFilter};
use serde::{Deserialize, Serialize};

use crate::record::{FlowPlanSummary, NodePlanSummary};
use crate::span_set;

/// The per-node cap as a fraction of the mean (ranges per eligible node).
pub const CAP_FACTOR: f64 = 1.25;

/// One range (or the piece of it inside the job's spans) to assign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRange {
    /// The range.
    pub range_id: RangeId,
    /// The part of the job's spans in this range.
    pub span: Span,
    /// The leaseholder, when known.
    pub leaseholder: Option<NodeId>,
    /// Every node holding a replica (voter or non-voter), leaseholder included.
    pub replicas: Vec<NodeId>,
    /// Estimated bytes of the piece.
    pub bytes: u64,
}

/// A node the planner may use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanNode {
    /// The node.
    pub node_id: NodeId,
    /// Where it is.
    pub locality: Locality,
    /// Whether its liveness record is current.
    pub live: bool,
}

impl PlanNode {
    /// Whether it may run a job's work: live, and matching `filter` (any node without one).
    pub fn eligible(&self, filter: Option<&LocalityFilter>) -> bool {
        self.live && filter.is_none_or(|f| self.locality.matches(f).is_match())
    }
}

/// Everything [`partition`] decides from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    /// The ranges to assign, in key order.
    pub ranges: Vec<PlanRange>,
    /// Every known node.
    pub nodes: Vec<PlanNode>,
    /// The job's execution-locality filter (empty: anywhere).
    pub filter: LocalityFilter,
}

/// Why a range went to its node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AssignReason {
    /// The node holds the range's lease and matches the filter.
    Leaseholder,
    /// The node holds a replica and matches the filter.
    ReplicaHolder,
    /// The matching node most similar to the leaseholder (ties by load).
    MostSimilar,
    /// Moved here from a node above the per-node cap.
    Rebalanced,
}

impl AssignReason {
    /// A short lowercase name (`leaseholder`, `replica`, `similar`, `rebalanced`).
    pub fn as_str(self) -> &'static str {
        match self {
            AssignReason::Leaseholder => "leaseholder",
            AssignReason::ReplicaHolder => "replica",
            AssignReason::MostSimilar => "similar",
            AssignReason::Rebalanced => "rebalanced",
        }
    }

    /// Which reasons give way first when a node is above the cap (higher: moved first).
    fn weakness(self) -> u8 {
        match self {
            AssignReason::Rebalanced => 0,
            AssignReason::Leaseholder => 1,
            AssignReason::ReplicaHolder => 2,
            AssignReason::MostSimilar => 3,
        }
    }
}

/// One range assigned to a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeAssignment {
    /// The range.
    pub range_id: RangeId,
    /// The piece of the job's spans in it.
    pub span: Span,
    /// Estimated bytes.
    pub bytes: u64,
    /// Why this node.
    pub reason: AssignReason,
}

/// One node's share of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlan {
    /// The node.
    pub node_id: NodeId,
    /// Its locality.
    pub locality: Locality,
    /// Its ranges, in key order.
    pub ranges: Vec<RangeAssignment>,
    /// Sum of the ranges' bytes.
    pub bytes: u64,
}

impl NodePlan {
    /// The node's spans, sorted, adjacent pieces merged: what its processor is given.
    pub fn spans(&self) -> Vec<Span> {
        span_set::merge(self.ranges.iter().map(|r| r.span.clone()).collect())
    }

    fn count(&self, reason: AssignReason) -> usize {
        self.ranges.iter().filter(|r| r.reason == reason).count()
    }
}

/// Where each range of a job is processed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowPlan {
    /// The nodes with work, by node id.
    pub nodes: Vec<NodePlan>,
    /// Every eligible node (live, matching the filter), by id, with work or not.
    pub eligible: Vec<NodeId>,
    /// The per-node cap that was applied.
    pub cap: usize,
}

impl FlowPlan {
    /// A node's share, if it has one.
    pub fn node(&self, id: NodeId) -> Option<&NodePlan> {
        self.nodes.iter().find(|n| n.node_id == id)
    }

    /// Ranges assigned in total.
    pub fn total_ranges(&self) -> usize {
        self.nodes.iter().map(|n| n.ranges.len()).sum()
    }

    /// The largest node share over the mean share per eligible node (1.0 is perfect; 0 for
    /// an empty plan).
    pub fn max_over_mean(&self) -> f64 {
        let total = self.total_ranges();
        if total == 0 || self.eligible.is_empty() {
            return 0.0;
        }
        let max = self.nodes.iter().map(|n| n.ranges.len()).max().unwrap_or(0);
        max as f64 / (total as f64 / self.eligible.len() as f64)
    }

    /// The per-node summary stored in the job record.
    pub fn summary(&self) -> FlowPlanSummary {
        FlowPlanSummary {
            nodes: self
                .nodes
                .iter()
                .map(|n| NodePlanSummary {
                    node_id: n.node_id,
                    locality: n.locality.to_string(),
                    ranges: n.ranges.len(),
                    bytes: n.bytes,
                    leaseholder: n.count(AssignReason::Leaseholder),
                    replica_holder: n.count(AssignReason::ReplicaHolder),
                    most_similar: n.count(AssignReason::MostSimilar),
                    rebalanced: n.count(AssignReason::Rebalanced),
                })
                .collect(),
        }
    }
}

/// The nodes that may coordinate a new job, best first (see the module docs, "Coordinator"):
/// the live `nodes` matching `filter` (all live nodes without one), by fewest coordinations
/// held (`load`: running jobs claimed per node), then `gateway` first, then the lowest id.
/// Empty when no live node matches.
pub fn coordinator_order(
    nodes: &[PlanNode],
    filter: Option<&LocalityFilter>,
    gateway: NodeId,
    load: &BTreeMap<NodeId, usize>,
) -> Vec<NodeId> {
    let mut order: Vec<NodeId> = nodes
        .iter()
        .filter(|n| n.eligible(filter))
        .map(|n| n.node_id)
        .collect();
    order.sort_by_key(|n| (load.get(n).copied().unwrap_or(0), *n != gateway, *n));
    order
}

/// `ceil(CAP_FACTOR × ranges / nodes)`, at least 1, in integers (`ceil(5r / 4n)`).
pub fn cap(ranges: usize, nodes: usize) -> usize {
    if nodes == 0 {
        return 0;
    }
    (5 * ranges).div_ceil(4 * nodes).max(1)
}

/// Assigns every range to one eligible node; see the module docs for the rules. With no
/// eligible node the plan is empty (the caller reports the filter error first).
pub fn partition(input: PlanInput) -> FlowPlan {
    let mut eligible: Vec<&PlanNode> = input
        .nodes
        .iter()
        .filter(|n| n.eligible(Some(&input.filter)))
        .collect();
    eligible.sort_by_key(|n| n.node_id);
    eligible.dedup_by_key(|n| n.node_id);
    let ids: Vec<NodeId> = eligible.iter().map(|n| n.node_id).collect();
    let cap = cap(input.ranges.len(), eligible.len());
    if eligible.is_empty() {
        return FlowPlan {
            nodes: Vec::new(),
            eligible: ids,
            cap,
        };
    }
    let locality_of: BTreeMap<NodeId, &Locality> = input
        .nodes
        .iter()
        .map(|n| (n.node_id, &n.locality))
        .collect();
    // Assignment per input range: (node index in `eligible`, reason).
    let mut load = vec![0usize; eligible.len()];
    let mut chosen: Vec<(usize, AssignReason)> = Vec::with_capacity(input.ranges.len());
    for r in &input.ranges {
        let c = initial_choice(r, &eligible, &load, &locality_of);
        load[c.0] += 1;
        chosen.push(c);
    }
    rebalance(
        &input.ranges,
        &eligible,
        &locality_of,
        &mut chosen,
        &mut load,
        cap,
    );
    let mut nodes: Vec<NodePlan> = eligible
        .iter()
        .map(|n| NodePlan {
            node_id: n.node_id,
            locality: n.locality.clone(),
            ranges: Vec::new(),
            bytes: 0,
        })
        .collect();
    for (r, (i, reason)) in input.ranges.iter().zip(chosen) {
        nodes[i].bytes += r.bytes;
        nodes[i].ranges.push(RangeAssignment {
            range_id: r.range_id,
            span: r.span.clone(),
            bytes: r.bytes,
            reason,
        });
    }
    nodes.retain(|n| !n.ranges.is_empty());
    FlowPlan {
        nodes,
        eligible: ids,
        cap,
    }
}

/// The locality the planner tries to be close to: the leaseholder's, else the first
/// replica's.
fn anchor<'a>(r: &PlanRange, locality_of: &BTreeMap<NodeId, &'a Locality>) -> Option<&'a Locality> {
    r.leaseholder
        .iter()
        .chain(r.replicas.iter())
        .find_map(|n| locality_of.get(n).copied())
}

fn least_loaded(candidates: impl IntoIterator<Item = usize>, load: &[usize]) -> Option<usize> {
    // `candidates` come in node-id order, so `min_by_key` keeps the lowest id on ties.
    candidates.into_iter().min_by_key(|&i| load[i])
}

fn initial_choice(
    r: &PlanRange,
    eligible: &[&PlanNode],
    load: &[usize],
    locality_of: &BTreeMap<NodeId, &Locality>,
) -> (usize, AssignReason) {
    if let Some(lh) = r.leaseholder
        && let Some(i) = eligible.iter().position(|n| n.node_id == lh)
    {
        return (i, AssignReason::Leaseholder);
    }
    let holders = (0..eligible.len()).filter(|&i| r.replicas.contains(&eligible[i].node_id));
    if let Some(i) = least_loaded(holders, load) {
        return (i, AssignReason::ReplicaHolder);
    }
    let similar = match anchor(r, locality_of) {
        Some(target) => {
            locality::closest(
                eligible.iter().enumerate().map(|(i, n)| (i, &n.locality)),
                target,
            )
            .0
        }
        None => Vec::new(),
    };
    let pick = if similar.is_empty() {
        least_loaded(0..eligible.len(), load)
    } else {
        least_loaded(similar, load)
    };
    (pick.unwrap_or(0), AssignReason::MostSimilar)
}

fn rebalance(
    ranges: &[PlanRange],
    eligible: &[&PlanNode],
    locality_of: &BTreeMap<NodeId, &Locality>,
    chosen: &mut [(usize, AssignReason)],
    load: &mut [usize],
    cap: usize,
) {
    for over in 0..eligible.len() {
        if load[over] <= cap {
            continue;
        }
        // The node's ranges, weakest reason first, later ranges first within a reason.
        let mut mine: Vec<usize> = (0..ranges.len()).filter(|&j| chosen[j].0 == over).collect();
        mine.sort_by_key(|&j| {
            (
                std::cmp::Reverse(chosen[j].1.weakness()),
                std::cmp::Reverse(j),
            )
        });
        for j in mine {
            if load[over] <= cap {
                break;
            }
            let Some(to) = rebalance_target(&ranges[j], eligible, locality_of, load, cap) else {
                break;
            };
            load[over] -= 1;
            load[to] += 1;
            chosen[j] = (to, AssignReason::Rebalanced);
        }
    }
}

fn rebalance_target(
    r: &PlanRange,
    eligible: &[&PlanNode],
    locality_of: &BTreeMap<NodeId, &Locality>,
    load: &[usize],
    cap: usize,
) -> Option<usize> {
    let anchor = anchor(r, locality_of);
    (0..eligible.len())
        .filter(|&i| load[i] < cap)
        .min_by_key(|&i| {
            let holds = r.replicas.contains(&eligible[i].node_id);
            let prefix = anchor.map_or(0, |a| eligible[i].locality.shared_prefix(a));
            (!holds, std::cmp::Reverse(prefix), load[i], i)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).expect("valid locality")
    }

    /// Leaseholders all in the primary region, the job pinned to the secondary one:
    /// CockroachDB v23.1 puts nearly all of it on the coordinator (crdb-behaviour §3.4).
    #[test]
    fn secondary_region_filter_is_balanced() {
        let mut nodes = Vec::new();
        for (i, l) in [
            "region=us-east1,az=a",
            "region=us-east1,az=b",
            "region=us-east1,az=c",
            "region=us-west1,az=a",
            "region=us-west1,az=b",
            "region=us-west1,az=c",
            "region=europe-west1,az=a",
        ]
        .iter()
        .enumerate()
        {
            nodes.push(PlanNode {
                node_id: NodeId(i as u64 + 1),
                locality: loc(l),
                live: true,
            });
        }
        for with_non_voter in [false, true] {
            let ranges: Vec<PlanRange> = (0..1500u64)
                .map(|i| {
                    let lh = NodeId(1 + i % 3);
                    let mut replicas = vec![NodeId(1), NodeId(2), NodeId(3)];
                    if with_non_voter {
                        replicas.push(NodeId(4));
                    }
                    PlanRange {
                        range_id: RangeId(i + 1),
                        span: Span::new(i.to_be_bytes().to_vec(), (i + 1).to_be_bytes().to_vec()),
                        leaseholder: Some(lh),
                        replicas,
                        bytes: 1 << 20,
                    }
                })
                .collect();
            let plan = partition(PlanInput {
                ranges,
                nodes: nodes.clone(),
                filter: LocalityFilter::parse("region=us-west1").expect("filter"),
            });
            let ratio = plan.max_over_mean();
            let shares: Vec<usize> = plan.nodes.iter().map(|n| n.ranges.len()).collect();
            println!(
                "secondary-region filter, 1500 ranges, non-voter in us-west1: {with_non_voter}: \
                 shares {shares:?}, max/mean {ratio:.3}"
            );
            assert_eq!(plan.total_ranges(), 1500);
            assert!(ratio <= CAP_FACTOR + 1e-9, "max/mean {ratio}");
            assert!(
                plan.nodes
                    .iter()
                    .all(|n| n.locality.region() == Some("us-west1"))
            );
        }
    }

    fn arb_input() -> impl Strategy<Value = PlanInput> {
        let regions = ["a", "b", "c"];
        let node = (0usize..3, 0usize..3, any::<bool>())
            .prop_map(move |(r, z, live)| (loc(&format!("region={},az={z}", regions[r])), live));
        (
            proptest::collection::vec(node, 1..8),
            proptest::collection::vec(
                (
                    0usize..8,
                    proptest::collection::vec(0usize..8, 0..4),
                    any::<bool>(),
                ),
                0..60,
            ),
            0usize..4,
        )
            .prop_map(move |(nodes, ranges, f)| {
                let n = nodes.len();
                let nodes: Vec<PlanNode> = nodes
                    .into_iter()
                    .enumerate()
                    .map(|(i, (locality, live))| PlanNode {
                        node_id: NodeId(i as u64 + 1),
                        locality,
                        live,
                    })
                    .collect();
                let ranges = ranges
                    .into_iter()
                    .enumerate()
                    .map(|(i, (lh, reps, has_lh))| {
                        let i = i as u64;
                        PlanRange {
                            range_id: RangeId(i + 1),
                            span: Span::new(
                                i.to_be_bytes().to_vec(),
                                (i + 1).to_be_bytes().to_vec(),
                            ),
                            leaseholder: has_lh.then_some(NodeId((lh % n) as u64 + 1)),
                            replicas: reps
                                .into_iter()
                                .map(|r| NodeId((r % n) as u64 + 1))
                                .collect(),
                            bytes: i,
                        }
                    })
                    .collect();
                let filter = match f {
                    0 => LocalityFilter::default(),
                    1 => LocalityFilter::parse("region=a").expect("filter"),
                    2 => LocalityFilter::parse("az=1").expect("filter"),
                    _ => LocalityFilter::parse("region=b,az=2").expect("filter"),
                };
                PlanInput {
                    ranges,
                    nodes,
                    filter,
                }
            })
    }

    proptest! {
        #[test]
        fn every_range_once_on_a_matching_live_node(input in arb_input()) {
            let plan = partition(input.clone());
            let eligible: Vec<NodeId> = input
                .nodes
                .iter()
                .filter(|n| n.eligible(Some(&input.filter)))
                .map(|n| n.node_id)
                .collect();
            if eligible.is_empty() {
                prop_assert!(plan.nodes.is_empty());
                return Ok(());
            }
            let mut seen: Vec<RangeId> = plan
                .nodes
                .iter()
                .flat_map(|n| n.ranges.iter().map(|r| r.range_id))
                .collect();
            seen.sort();
            let want: Vec<RangeId> = input.ranges.iter().map(|r| r.range_id).collect();
            prop_assert_eq!(seen, want);
            for n in &plan.nodes {
                prop_assert!(eligible.contains(&n.node_id), "{} is not eligible", n.node_id);
                prop_assert!(n.ranges.len() <= plan.cap, "{} over the cap", n.node_id);
            }
        }
    }
}
