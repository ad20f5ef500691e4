//! `sextant`: start and operate Sextant nodes.
//!
//! - `sextant start --join=a,b,c ...` runs one node ([`start`]); `sextant init --host=a`
//!   bootstraps the cluster once ([`node::init`]); `sextant start-single-node` does both for
//!   a cluster of one.
//! - `sextant node status` and `sextant node drain` talk to a running node's RPC address
//!   ([`node`]).
//! - `sextant demo [--nodes N] [--global]` runs a whole cluster in this process, loads movr
//!   and opens the SQL shell ([`demo`]).
//! - `sextant cert create-ca | create-node | create-client | list` makes a cluster's
//!   certificates ([`cert`]).
//! - `sextant sql` is the SQL shell ([`sql`]); `sextant workload init|run movr` loads the movr
//!   sample database and runs its traffic ([`workload`]). Both are `client` crate code.
//!
//! Exit status: 0 on success, 1 on an error (printed as `ERROR: ...` on stderr), 2 on a
//! usage error (unknown flag, malformed value), as clap reports it. Logs go to stderr; the
//! filter is `--log-level`, else `RUST_LOG`, else `info` for nodes and `warn` for the rest,
//! with openraft's and fjall's own chatter turned down.
//!
//! The life of `sextant start`: [`main`] parses the flags (flag values are checked by the
//! parsers in [`flags`]), sets up logging and a multi-threaded runtime, and calls
//! [`start::start`], which turns the flags into a `server::ServerConfig`, starts
//! `server::Server` (store, listeners, KV node), prints where the node listens, waits for the
//! node to get its identity and then for SIGINT or SIGTERM, drains and stops.

mod cert;
mod demo;
mod flags;
mod node;
mod secure;
mod sql;
mod start;
mod table;
mod workload;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of the system allocator: Raft commands, MVCC batches and row encodings
/// allocate and free many small buffers per request, and glibc's malloc spent over a quarter of
/// a RESTORE's CPU time in its own bookkeeping.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The stack of each runtime worker thread.
const WORKER_STACK: usize = 8 << 20;

/// How long leftover tasks may run after the command returns.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

/// Sextant: a distributed SQL database whose nodes know where they are.
#[derive(Parser, Debug)]
#[command(name = "sextant", version, max_term_width = 100)]
struct Cli {
    /// Log filter: a level (`debug`) or `tracing` directives (`info,sextant_kv=debug`)
    /// [default: RUST_LOG, else `info` for nodes and `warn` otherwise].
    #[arg(long, global = true, value_parser = flags::log_filter)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start a node that joins a cluster (run `sextant init` once to bootstrap it).
    Start(start::StartArgs),
    /// Start a node and initialise a cluster of this node alone.
    StartSingleNode(start::SingleNodeArgs),
    /// Bootstrap a new cluster on the node at --host.
    Init(node::HostArgs),
    /// Inspect or drain nodes.
    Node {
        #[command(subcommand)]
        command: node::NodeCommand,
    },
    /// Create and list certificates (`cert create-ca`, `create-node`, `create-client`, `list`).
    Cert {
        #[command(subcommand)]
        command: cert::CertCommand,
    },
    /// Run a demo cluster of several nodes in this process.
    Demo(demo::DemoArgs),
    /// Open a SQL shell, or run statements with -e or -f.
    Sql(sql::SqlArgs),
    /// Load a sample database and run its traffic (`workload init movr`, `workload run movr`).
    Workload {
        #[command(subcommand)]
        command: workload::WorkloadCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Start(_) | Command::StartSingleNode(_) => {
            "info,openraft=warn,fjall=warn,lsm_tree=warn"
        }
        _ => "warn,openraft=error",
    };
    init_logging(cli.log_level.as_deref(), default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Statements run deep call chains (SQL over KV over Raft); debug builds need far more
        // than the default 2 MiB. Untouched stack costs address space, not memory.
        .thread_stack_size(WORKER_STACK)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Start(args) => start::start(args).await,
        Command::StartSingleNode(args) => start::start_single_node(args).await,
        Command::Init(host) => node::init(host).await,
        Command::Node { command } => node::run(command).await,
        Command::Cert { command } => cert::run(command),
        Command::Demo(args) => demo::run(args).await,
        Command::Sql(args) => sql::run(args).await,
        Command::Workload { command } => workload::run(command).await,
    }
}

fn init_logging(level: Option<&str>, default: &str) {
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default)),
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}
