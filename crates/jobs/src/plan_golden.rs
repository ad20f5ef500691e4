//! Goldenscript tests of the planner: the scripts in `src/testdata/` build a cluster layout
//! and print plans.
//!
//! Commands:
//!
//! - `node <id> <locality> [live=false]`: a node (`none` for an empty locality).
//! - `range <id> lh=<node|none> replicas=<n,n,...> [bytes=<n>]`: one range, spanning
//!   `[k<id>, k<id+1>)`.
//! - `ranges <from>..<to> lh=<n,n,...> replicas=<n,n,...> [bytes=<n>]`: ranges `from` to
//!   `to` inclusive, the leaseholder taken round-robin from `lh`.
//! - `plan [filter=<filter>] [verbose=true]`: [`partition`] of every range; prints the
//!   eligible nodes, the cap, max/mean, each node's share and, verbose, each range's reason.
//! - `coordinator [filter=<filter>] gateway=<node> [load=<node>:<jobs>,...]`:
//!   [`coordinator_order`] of the nodes, with `load` running jobs coordinated per node.
//! - `reset`: forget nodes and ranges.
//!
//! Regenerate with `UPDATE_GOLDENFILES=1 cargo test -p sextant-jobs plan_golden` and review
//! the diff.

use std::error::Error;
use std::fmt::Write as _;

use base::{NodeId, RangeId, Span};
use locality::{Locality, LocalityFilter};

use crate::plan::{PlanInput, PlanNode, PlanRange, coordinator_order, partition};

#[derive(Default)]
struct PlanRunner {
    nodes: Vec<PlanNode>,
    ranges: Vec<PlanRange>,
}

fn range_span(id: u64) -> Span {
    Span::new(
        format!("k{id:05}").into_bytes(),
        format!("k{:05}", id + 1).into_bytes(),
    )
}

fn node_list(s: &str) -> Result<Vec<NodeId>, Box<dyn Error>> {
    if s.is_empty() || s == "none" {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|n| Ok(NodeId(n.trim().parse()?)))
        .collect()
}

impl PlanRunner {
    fn add_range(&mut self, id: u64, lh: Option<NodeId>, replicas: Vec<NodeId>, bytes: u64) {
        self.ranges.push(PlanRange {
            range_id: RangeId(id),
            span: range_span(id),
            leaseholder: lh,
            replicas,
            bytes,
        });
    }

    fn plan(&self, filter: &str, verbose: bool) -> Result<String, Box<dyn Error>> {
        let plan = partition(PlanInput {
            ranges: self.ranges.clone(),
            nodes: self.nodes.clone(),
            filter: LocalityFilter::parse(filter)?,
        });
        let mut out = String::new();
        let eligible: Vec<String> = plan.eligible.iter().map(|n| n.to_string()).collect();
        writeln!(
            out,
            "eligible [{}]; cap {}; {} ranges; max/mean {:.2}",
            eligible.join(" "),
            plan.cap,
            plan.total_ranges(),
            plan.max_over_mean()
        )?;
        for (n, s) in plan.nodes.iter().zip(plan.summary().nodes) {
            writeln!(
                out,
                "{} {}: {} ranges, {} bytes (leaseholder {}, replica {}, similar {}, rebalanced {})",
                n.node_id,
                if n.locality.is_empty() {
                    "none".to_string()
                } else {
                    n.locality.to_string()
                },
                s.ranges,
                s.bytes,
                s.leaseholder,
                s.replica_holder,
                s.most_similar,
                s.rebalanced
            )?;
            if verbose {
                for r in &n.ranges {
                    writeln!(out, "  {} {}", r.range_id, r.reason.as_str())?;
                }
            }
        }
        Ok(out)
    }
}

impl base::testing::GoldenRunner for PlanRunner {
    fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
        let mut args = command.consume_args();
        match command.name.as_str() {
            "node" => {
                let id: u64 = args.next_pos().ok_or("node id")?.parse()?;
                let loc = args.next_pos().ok_or("node locality")?;
                let live = args.take_key("live").is_none_or(|v| v != "false");
                args.reject_next()?;
                let locality = if loc == "none" {
                    Locality::default()
                } else {
                    Locality::parse(loc)?
                };
                self.nodes.push(PlanNode {
                    node_id: NodeId(id),
                    locality,
                    live,
                });
                Ok(String::new())
            }
            "range" => {
                let id: u64 = args.next_pos().ok_or("range id")?.parse()?;
                let lh = node_list(args.take_key("lh").unwrap_or("none"))?;
                let replicas = node_list(args.take_key("replicas").unwrap_or(""))?;
                let bytes = args.take_key("bytes").unwrap_or("0").parse()?;
                args.reject_next()?;
                self.add_range(id, lh.first().copied(), replicas, bytes);
                Ok(String::new())
            }
            "ranges" => {
                let spec = args.next_pos().ok_or("ranges from..to")?;
                let (from, to) = spec.split_once("..").ok_or("ranges from..to")?;
                let (from, to): (u64, u64) = (from.parse()?, to.parse()?);
                let lh = node_list(args.take_key("lh").unwrap_or("none"))?;
                let replicas = node_list(args.take_key("replicas").unwrap_or(""))?;
                let bytes = args.take_key("bytes").unwrap_or("0").parse()?;
                args.reject_next()?;
                for (i, id) in (from..=to).enumerate() {
                    let l = (!lh.is_empty()).then(|| lh[i % lh.len()]);
                    self.add_range(id, l, replicas.clone(), bytes);
                }
                Ok(String::new())
            }
            "plan" => {
                let filter = args.take_key("filter").unwrap_or("");
                let verbose = args.take_key("verbose") == Some("true");
                args.reject_next()?;
                self.plan(filter, verbose)
            }
            "coordinator" => {
                let filter = LocalityFilter::parse(args.take_key("filter").unwrap_or(""))?;
                let gateway = NodeId(args.take_key("gateway").ok_or("gateway")?.parse()?);
                let mut load = std::collections::BTreeMap::new();
                for pair in args.take_key("load").unwrap_or("").split(',') {
                    if let Some((n, jobs)) = pair.split_once(':') {
                        load.insert(NodeId(n.trim().parse()?), jobs.trim().parse::<usize>()?);
                    } else if !pair.trim().is_empty() {
                        return Err(format!("load {pair}: want <node>:<jobs>").into());
                    }
                }
                args.reject_next()?;
                let filter = (!filter.is_empty()).then_some(filter);
                let order = coordinator_order(&self.nodes, filter.as_ref(), gateway, &load);
                if order.is_empty() {
                    return Ok("no live node matches\n".into());
                }
                let order: Vec<String> = order.iter().map(|n| n.to_string()).collect();
                Ok(format!("{}\n", order.join(" ")))
            }
            "reset" => {
                args.reject_next()?;
                *self = PlanRunner::default();
                Ok(String::new())
            }
            other => Err(format!("unknown command {other}").into()),
        }
    }
}

base::goldenscripts! {
    runner: PlanRunner::default(),
    dir: "src/testdata",
    scripts: [plan_rules, plan_secondary_region, plan_edge_cases, coordinator],
}
