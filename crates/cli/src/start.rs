//! `sextant start` and `sextant start-single-node`: run one node in this process until a
//! signal, then drain and stop.

use crate::flags;
use crate::secure::SecurityArgs;
use anyhow::{Context, bail};
use clap::Args;
use locality::Locality;
use server::{
    AdminError, DEFAULT_HTTP_ADDR, DEFAULT_LISTEN_ADDR, DEFAULT_SQL_ADDR, DEFAULT_STORE_DIR,
    Server, ServerConfig, StoreSpec, client,
};
use std::time::Duration;

/// How long a stopping node may take to move its leases away.
const DRAIN_ON_STOP: Duration = Duration::from_secs(10);

/// Flags of both `start` and `start-single-node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Where the node is: `key=value` tiers from the most global to the most local, e.g.
    /// `region=us-east1,az=b`.
    #[arg(long, value_parser = flags::locality)]
    locality: Option<Locality>,
    /// The store: a directory, `path=DIR`, or `type=mem` (lost on exit).
    #[arg(long, default_value = DEFAULT_STORE_DIR, value_parser = flags::store)]
    store: StoreSpec,
    /// Address for node-to-node RPC (`host:port`; `:port` listens on every interface).
    #[arg(long, default_value = DEFAULT_LISTEN_ADDR)]
    listen_addr: String,
    /// RPC address other nodes use to reach this one [default: the listen address].
    #[arg(long)]
    advertise_addr: Option<String>,
    /// SQL address advertised to clients.
    #[arg(long, default_value = DEFAULT_SQL_ADDR)]
    sql_addr: String,
    /// Address of the HTTP status API (`/health`, `/_status/nodes`, `/_status/ranges`).
    #[arg(long, default_value = DEFAULT_HTTP_ADDR)]
    http_addr: String,
    /// Maximum clock offset tolerated between nodes.
    #[arg(long, default_value = "500ms", value_parser = flags::duration)]
    max_offset: Duration,
    #[command(flatten)]
    security: SecurityArgs,
    /// Short Raft, liveness and join timings, for tests.
    #[arg(long, hide = true)]
    test_timings: bool,
    /// Serves fault-injection endpoints under `/_testing/` on the HTTP address (partitions,
    /// clock offsets, lease shedding) for the verification suite. Never on a real cluster.
    #[arg(long, hide = true)]
    testing_endpoints: bool,
}

/// `sextant start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// RPC addresses of nodes to join, comma-separated (list every node, this one included,
    /// and run `sextant init` once against any of them).
    #[arg(long, required = true, value_delimiter = ',')]
    join: Vec<String>,
    /// How long to keep trying unreachable --join addresses before giving up.
    #[arg(long, default_value = "60s", value_parser = flags::duration)]
    join_timeout: Duration,
}

/// `sextant start-single-node`.
#[derive(Args, Debug)]
pub struct SingleNodeArgs {
    #[command(flatten)]
    node: NodeArgs,
}

impl NodeArgs {
    fn config(
        self,
        join: Vec<String>,
        join_timeout: Option<Duration>,
    ) -> anyhow::Result<ServerConfig> {
        let tls = self.security.node_tls()?;
        let mut cfg = ServerConfig {
            store: self.store,
            listen_addr: self.listen_addr,
            advertise_addr: self.advertise_addr,
            sql_addr: self.sql_addr,
            http_addr: self.http_addr,
            locality: self.locality.unwrap_or_default(),
            join,
            max_offset: self.max_offset,
            testing_endpoints: self.testing_endpoints,
            tls,
            ..ServerConfig::default()
        };
        if self.test_timings {
            cfg = cfg.with_test_timings();
        }
        if let Some(t) = join_timeout {
            cfg.kv.join_timeout = t;
        }
        Ok(cfg)
    }
}

/// Runs `sextant start`.
pub async fn start(args: StartArgs) -> anyhow::Result<()> {
    let join: Vec<String> = args
        .join
        .into_iter()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if join.is_empty() {
        bail!("--join needs at least one address");
    }
    let cfg = args.node.config(join.clone(), Some(args.join_timeout))?;
    let scheme = http_scheme(&cfg);
    let server = Server::start(cfg).await?;
    println!(
        "* Sextant node listening on {} (RPC), {scheme}://{} (HTTP status).\n\
         * A node whose store belongs to a cluster rejoins it; a new node joins via {}, once \
         the cluster is initialized with `sextant init --host={}`.",
        server.rpc_addr(),
        server.http_addr(),
        join.join(","),
        server.rpc_addr()
    );
    run(server).await
}

/// Runs `sextant start-single-node`: start, then initialise a cluster of this node alone
/// (unless its store has one already).
pub async fn start_single_node(args: SingleNodeArgs) -> anyhow::Result<()> {
    let cfg = args.node.config(Vec::new(), None)?;
    let tls = cfg.tls.as_ref().map(rpc::RpcTls::from);
    let server = Server::start(cfg).await?;
    let already = kv::node::NodeError::AlreadyInitialized.to_string();
    match client::init(server.rpc_addr(), tls.as_ref()).await {
        Ok(()) => {}
        Err(AdminError::Refused(msg)) if msg == already => {}
        Err(e) => {
            server.stop().await;
            return Err(e).context("initializing the single-node cluster");
        }
    }
    run(server).await
}

/// `https` on a secure node, `http` with `--insecure`.
fn http_scheme(cfg: &ServerConfig) -> &'static str {
    if cfg.tls.is_some() { "https" } else { "http" }
}

/// Waits for the node to start, prints where it is, serves until a signal, drains, stops.
async fn run(server: Server) -> anyhow::Result<()> {
    let started = tokio::select! {
        started = server.wait_started() => Some(started),
        () = shutdown_signal() => None,
    };
    let node = match started {
        Some(Ok(node)) => node,
        Some(Err(e)) => {
            server.stop().await;
            return Err(e.into());
        }
        None => {
            server.stop().await;
            return Ok(());
        }
    };
    println!("Sextant node started");
    println!("node id:          {}", node.node_id().0);
    println!("cluster id:       {}", node.cluster_id());
    println!("locality:         {}", node.locality());
    println!("store:            {}", server.store());
    println!("rpc:              {}", server.rpc_addr());
    println!("http:             http://{}", server.http_addr());
    println!("sql (advertised): {}", server.sql_addr());
    let mut fatal = node.fatal();
    tokio::select! {
        () = shutdown_signal() => {}
        reason = wait_fatal(&mut fatal) => {
            server.stop().await;
            anyhow::bail!("{reason}");
        }
    }
    eprintln!("initiating graceful shutdown of the node (a second signal stops at once)");
    // With no other live node there is no one to hand leases to: stop at once.
    let alone = !node
        .directory()
        .all()
        .iter()
        .any(|(d, live)| *live && d.node_id != node.node_id());
    if !alone {
        tokio::select! {
            drained = server.drain(DRAIN_ON_STOP) => match drained {
                Ok(0) => eprintln!("node drained"),
                Ok(n) => eprintln!("node stops holding {n} leases"),
                Err(e) => eprintln!("drain failed: {e}"),
            },
            () = shutdown_signal() => eprintln!("second signal: stopping now"),
        }
    }
    server.stop().await;
    eprintln!("node stopped");
    Ok(())
}

/// Completes with the reason when the node reports it can no longer run safely (for example
/// its clock is beyond the maximum offset from its peers'); never completes otherwise.
async fn wait_fatal(fatal: &mut tokio::sync::watch::Receiver<Option<String>>) -> String {
    loop {
        if let Some(reason) = fatal.borrow().clone() {
            return reason;
        }
        if fatal.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling available: serve until killed.
        std::future::pending::<()>().await;
    }
}
