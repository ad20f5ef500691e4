//! `sextant demo`: a cluster of N nodes inside this process, with the localities
//! `cockroach demo` gives its nodes, until Ctrl-C.

use crate::flags::{self, LocalityList};
use crate::node::status_rows;
use crate::start::{note_insecure, shutdown_signal};
use crate::table::Rows;
use anyhow::bail;
use base::NodeId;
use clap::Args;
use kv::KvNode;
use server::demo::demo_localities;
use server::{LocalCluster, LocalClusterOptions, RangeStatus};
use std::collections::HashMap;
use std::time::Duration;

/// Nodes in a `--global` demo: three regions of three zones.
const GLOBAL_NODES: usize = 9;
/// How long the demo waits for every range to reach its replication factor.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(60);

/// `sextant demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Number of nodes [default: 1; 9 with --global; the number of --demo-locality entries].
    #[arg(long)]
    nodes: Option<usize>,
    /// Simulate a multi-region cluster: nine nodes in us-east1, us-west1 and europe-west1,
    /// three zones each (localities only; network latency is not simulated).
    #[arg(long)]
    global: bool,
    /// One locality per node, separated by colons:
    /// `region=us-east1,az=b:region=us-west1,az=a:...`.
    #[arg(long, value_parser = flags::locality_list)]
    demo_locality: Option<LocalityList>,
    /// HTTP status port of node 1; node i gets this plus i-1. 0 picks free ports.
    #[arg(long, default_value_t = 8080)]
    http_port: u16,
    /// SQL port advertised by node 1; node i advertises this plus i-1.
    #[arg(long, default_value_t = 26257)]
    sql_port: u16,
    /// Accepted for compatibility with CockroachDB scripts: Sextant has no TLS.
    #[arg(long)]
    insecure: bool,
    /// Short Raft, liveness and join timings, for tests.
    #[arg(long, hide = true)]
    test_timings: bool,
}

/// Runs the demo until SIGINT or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    note_insecure(args.insecure);
    let localities = match (&args.demo_locality, args.nodes) {
        (Some(list), Some(n)) if list.0.len() != n => {
            bail!("number of localities specified must equal number of nodes")
        }
        (Some(list), _) => list.0.clone(),
        (None, Some(n)) => demo_localities(n),
        (None, None) if args.global => demo_localities(GLOBAL_NODES),
        (None, None) => demo_localities(1),
    };
    let n = localities.len();
    if n == 0 {
        bail!("--nodes must be at least 1");
    }
    if args.global && n < GLOBAL_NODES {
        bail!("--global needs at least {GLOBAL_NODES} nodes (three regions of three zones)");
    }
    let mut opts = if args.test_timings {
        LocalClusterOptions::for_tests()
    } else {
        LocalClusterOptions::default()
    };
    opts.http_port_base = (args.http_port != 0).then_some(args.http_port);
    opts.sql_port_base = Some(args.sql_port);

    println!("Starting a {n}-node Sextant demo cluster...");
    let cluster = LocalCluster::start(n, localities, opts).await?;
    if let Err(e) = cluster.wait_for_full_replication(REPLICATION_TIMEOUT).await {
        eprintln!("warning: {e}");
    }
    let node = cluster.node(0);
    print_layout(&cluster, &node).await?;
    println!("Press Ctrl-C to stop the demo cluster.");
    shutdown_signal().await;
    println!("Stopping the demo cluster...");
    cluster.shutdown().await;
    Ok(())
}

async fn print_layout(cluster: &LocalCluster, node: &KvNode) -> anyhow::Result<()> {
    let mut nodes = node.status().await?;
    nodes.sort_by_key(|n| n.node_id);
    let localities: HashMap<NodeId, String> = nodes
        .iter()
        .map(|n| (n.node_id, n.locality.clone()))
        .collect();
    let ranges: Vec<RangeStatus> = node.ranges().await?.iter().map(RangeStatus::from).collect();

    println!("\nNodes:\n{}", status_rows(&nodes).to_psql());
    println!("\nRanges:\n{}", range_rows(&ranges, &localities).to_psql());
    println!("\nHTTP status API:");
    for i in cluster.running() {
        if let Some(s) = cluster.server(i) {
            let id = s
                .node_id()
                .map_or_else(|| "?".to_string(), |n| n.0.to_string());
            println!("  node {id}: http://{}/_status/nodes", s.http_addr());
        }
    }
    println!();
    Ok(())
}

fn sorted(nodes: &[NodeId]) -> Vec<NodeId> {
    let mut nodes = nodes.to_vec();
    nodes.sort();
    nodes
}

fn range_rows(ranges: &[RangeStatus], localities: &HashMap<NodeId, String>) -> Rows {
    let ids = |nodes: &[NodeId]| {
        let ids: Vec<String> = nodes.iter().map(|n| n.0.to_string()).collect();
        format!("{{{}}}", ids.join(","))
    };
    let locality_of = |n: &NodeId| localities.get(n).cloned().unwrap_or_default();
    Rows {
        header: vec![
            "range_id",
            "start_key",
            "end_key",
            "lease_holder",
            "lease_holder_locality",
            "replicas",
            "replica_localities",
            "non_voting_replicas",
        ],
        numeric: vec![true, false, false, true, false, false, false, false],
        rows: ranges
            .iter()
            .map(|r| {
                let mut all: Vec<NodeId> = r.voters.iter().chain(&r.non_voters).copied().collect();
                all.sort();
                let replica_localities: Vec<String> = all
                    .iter()
                    .map(|n| format!("\"{}\"", locality_of(n)))
                    .collect();
                vec![
                    r.range_id.to_string(),
                    r.start_key.clone(),
                    r.end_key.clone(),
                    r.leaseholder.map(|n| n.0.to_string()).unwrap_or_default(),
                    r.leaseholder.as_ref().map(locality_of).unwrap_or_default(),
                    ids(&all),
                    format!("{{{}}}", replica_localities.join(",")),
                    ids(&sorted(&r.non_voters)),
                ]
            })
            .collect(),
    }
}
