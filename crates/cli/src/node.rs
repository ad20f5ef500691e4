//! Client commands sent to a running node's RPC address: `init`, `node status`,
//! `node drain`.

use crate::secure::SecurityArgs;
use crate::table::{Format, Rows};
use clap::{Args, Subcommand};
use kv::node::NodeStatus;
use server::{DEFAULT_LISTEN_ADDR, client};

/// Which node to talk to.
#[derive(Args, Debug)]
pub struct HostArgs {
    /// RPC address of a node (its --listen-addr or --advertise-addr).
    #[arg(long, default_value = DEFAULT_LISTEN_ADDR)]
    host: String,
    #[command(flatten)]
    security: SecurityArgs,
}

/// `sextant node ...`.
#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// List the cluster's nodes with liveness, replica and lease counts.
    Status {
        #[command(flatten)]
        host: HostArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Drain a node: it moves its leases away and takes no new replicas.
    Drain {
        #[command(flatten)]
        host: HostArgs,
    },
}

/// `sextant init`: bootstraps a new cluster on the node at `--host`.
pub async fn init(host: HostArgs) -> anyhow::Result<()> {
    let tls = host.security.rpc_tls()?;
    client::init(&host.host, tls.as_ref()).await?;
    println!("Cluster successfully initialized");
    Ok(())
}

/// Runs a `sextant node` subcommand.
pub async fn run(cmd: NodeCommand) -> anyhow::Result<()> {
    match cmd {
        NodeCommand::Status { host, format } => status(host, format).await,
        NodeCommand::Drain { host } => drain(host).await,
    }
}

async fn status(host: HostArgs, format: Format) -> anyhow::Result<()> {
    let tls = host.security.rpc_tls()?;
    let mut nodes = client::node_status(&host.host, tls.as_ref()).await?;
    nodes.sort_by_key(|n| n.node_id);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&nodes)?),
        Format::Csv => println!("{}", status_rows(&nodes).to_csv()),
        Format::Table => println!("{}", status_rows(&nodes).to_psql()),
    }
    Ok(())
}

/// The `node status` columns.
pub fn status_rows(nodes: &[NodeStatus]) -> Rows {
    Rows {
        header: vec![
            "id",
            "address",
            "sql_address",
            "locality",
            "is_live",
            "is_draining",
            "replicas",
            "leaseholders",
        ],
        numeric: vec![true, false, false, false, false, false, true, true],
        rows: nodes
            .iter()
            .map(|n| {
                vec![
                    n.node_id.0.to_string(),
                    n.address.clone(),
                    n.sql_address.clone(),
                    n.locality.clone(),
                    n.is_live.to_string(),
                    n.draining.to_string(),
                    n.replicas.to_string(),
                    n.leaseholders.to_string(),
                ]
            })
            .collect(),
    }
}

async fn drain(host: HostArgs) -> anyhow::Result<()> {
    let tls = host.security.rpc_tls()?;
    println!("node is draining...");
    let held = client::drain(&host.host, tls.as_ref()).await?;
    if held == 0 {
        println!("node is draining... remaining: 0 (complete)");
    } else {
        println!(
            "node is draining... remaining: {held} leases (no other live voter could take them)"
        );
    }
    println!("ok");
    Ok(())
}
