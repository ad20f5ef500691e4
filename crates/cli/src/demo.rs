//! `sextant demo`: a cluster of N nodes inside this process, with the localities
//! `cockroach demo` gives its nodes, the movr sample database and the SQL shell.
//!
//! The life of `sextant demo`: [`run`] starts a `server::LocalCluster`, waits for full
//! replication, loads movr through node 1's SQL address with `client::workload::movr::init`
//! (multi-region with `--global`, since the cluster then has three regions) unless
//! `--no-example-database`, prints the layout and the connection URL, then runs the `-e`
//! statements and exits, or opens the SQL shell on a terminal and stops the cluster when the
//! shell ends. Without `-e` and without a terminal it serves until SIGINT or SIGTERM.

use crate::flags::{self, LocalityList};
use crate::node::status_rows;
use crate::start::shutdown_signal;
use crate::table::Rows;
use anyhow::{Context, bail};
use base::NodeId;
use clap::Args;
use client::workload::movr::{self, data::Sizes};
use client::{Format, Shell};
use kv::KvNode;
use server::demo::demo_localities;
use server::{LocalCluster, LocalClusterOptions, RangeStatus};
use std::collections::HashMap;
use std::io::IsTerminal;
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
    /// SQL port of node 1; node i listens on this plus i-1. 0 picks free ports.
    #[arg(long, default_value_t = 26257)]
    sql_port: u16,
    /// Accepted for CockroachDB's scripts: the demo cluster is always insecure (plain text,
    /// every SQL user trusted), and listens on 127.0.0.1 only.
    #[arg(long)]
    insecure: bool,
    /// Do not load the movr sample database.
    #[arg(long)]
    no_example_database: bool,
    /// Run these statements against node 1 (each may hold several, separated by `;`),
    /// print their results and stop the cluster; may be repeated.
    #[arg(short = 'e', long = "execute")]
    execute: Vec<String>,
    /// How `-e` and the shell print results.
    #[arg(long, value_enum, default_value = "table")]
    format: crate::sql::FormatArg,
    /// Short Raft, liveness and join timings, for tests.
    #[arg(long, hide = true)]
    test_timings: bool,
    /// Rows of the example database, for tests: users,vehicles,rides,histories,promo_codes.
    #[arg(long, hide = true, value_parser = movr_sizes)]
    movr_sizes: Option<Sizes>,
}

/// `--movr-sizes`: five comma-separated row counts.
fn movr_sizes(s: &str) -> Result<Sizes, String> {
    let n: Vec<u64> = s
        .split(',')
        .map(|v| v.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("invalid --movr-sizes {s:?}: {e}"))?;
    match n.as_slice() {
        [users, vehicles, rides, histories, promo_codes] => Ok(Sizes {
            users: *users,
            vehicles: *vehicles,
            rides: *rides,
            histories: *histories,
            promo_codes: *promo_codes,
        }),
        _ => Err(format!("invalid --movr-sizes {s:?}: want five numbers")),
    }
}

/// Runs the demo until SIGINT or SIGTERM.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // The demo is always insecure (see `--insecure`): the flag changes nothing here.
    let _ = args.insecure;
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
    opts.sql_port_base = (args.sql_port != 0).then_some(args.sql_port);

    eprintln!("Starting a {n}-node Sextant demo cluster...");
    let cluster = LocalCluster::start(n, localities, opts).await?;
    if let Err(e) = cluster.wait_for_full_replication(REPLICATION_TIMEOUT).await {
        eprintln!("warning: {e}");
    }
    let result = serve(&cluster, &args).await;
    eprintln!("Stopping the demo cluster...");
    cluster.shutdown().await;
    result
}

/// Loads movr, prints the layout and the URL, then runs `-e`, the shell or waits for a signal.
async fn serve(cluster: &LocalCluster, args: &DemoArgs) -> anyhow::Result<()> {
    let sql_addr = cluster.sql_addr(0).context("node 1 has no SQL address")?;
    let database = if args.no_example_database {
        "defaultdb"
    } else {
        "movr"
    };
    let url = format!("postgresql://root@{sql_addr}/{database}?sslmode=disable");
    let config = client::conn::config(Some(&url), None, None)?;
    if !args.no_example_database {
        let mut defaultdb = config.clone();
        defaultdb.dbname("defaultdb");
        let mut log = std::io::stderr();
        let opts = movr::InitOptions {
            sizes: args.movr_sizes.unwrap_or_default(),
            ..movr::InitOptions::default()
        };
        movr::init(&defaultdb, &opts, &mut log)
            .await
            .context("loading the movr database")?;
    }
    if args.execute.is_empty() {
        let node = cluster.node(0);
        print_layout(cluster, &node).await?;
        println!("Connection string: {url}\n");
    }
    if !args.execute.is_empty() || std::io::stdin().is_terminal() {
        let format: Format = args.format.into();
        let mut shell = Shell::connect(config, format, Box::new(std::io::stdout())).await?;
        return crate::sql::run_shell(&mut shell, &args.execute, None).await;
    }
    println!("Press Ctrl-C to stop the demo cluster.");
    shutdown_signal().await;
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
