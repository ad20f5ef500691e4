//! `sextant workload init|run movr [URL]`: load CockroachDB's movr sample database and run
//! its traffic (`client::workload::movr`).

use crate::flags;
use crate::secure::SecurityArgs;
use clap::{Args, Subcommand};
use client::conn;
use client::workload::movr::{self, InitOptions, RunOptions, data::Sizes};
use std::time::Duration;

/// The workloads there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generator {
    /// Ride sharing: users, vehicles, rides, location histories, promo codes.
    Movr,
}

/// `sextant workload ...`.
#[derive(Subcommand, Debug)]
pub enum WorkloadCommand {
    /// Create a workload's database and load its data.
    Init(InitArgs),
    /// Run a workload's traffic and report throughput and latencies.
    Run(RunArgs),
}

/// `sextant workload init movr`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The workload.
    #[arg(value_enum)]
    generator: Generator,
    /// Connection URL [default: postgresql://root@localhost:26257/defaultdb?sslmode=disable].
    url: Option<String>,
    #[command(flatten)]
    security: SecurityArgs,
    /// Users to load.
    #[arg(long, default_value_t = Sizes::default().users)]
    num_users: u64,
    /// Vehicles to load.
    #[arg(long, default_value_t = Sizes::default().vehicles)]
    num_vehicles: u64,
    /// Rides to load.
    #[arg(long, default_value_t = Sizes::default().rides)]
    num_rides: u64,
    /// Vehicle location history entries to load.
    #[arg(long, default_value_t = Sizes::default().histories)]
    num_histories: u64,
    /// Promo codes to load.
    #[arg(long, default_value_t = Sizes::default().promo_codes)]
    num_promo_codes: u64,
    /// Seed of the data generator: the same seed loads the same rows.
    #[arg(long, default_value_t = movr::DEFAULT_SEED)]
    seed: u64,
    /// Drop an existing movr database first.
    #[arg(long)]
    drop: bool,
    /// Rows per INSERT statement.
    #[arg(long, default_value_t = movr::DEFAULT_BATCH_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..))]
    batch_size: u64,
}

/// `sextant workload run movr`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The workload.
    #[arg(value_enum)]
    generator: Generator,
    /// Connection URL [default: postgresql://root@localhost:26257/defaultdb?sslmode=disable].
    url: Option<String>,
    #[command(flatten)]
    security: SecurityArgs,
    /// How long to run (`30s`, `5m`); 0 runs until Ctrl-C.
    #[arg(long, value_parser = flags::duration, default_value = "0")]
    duration: Duration,
    /// Concurrent connections [default: twice the number of CPUs].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    concurrency: Option<u64>,
    /// Seed of the workers' random choices.
    #[arg(long, default_value_t = movr::DEFAULT_SEED)]
    seed: u64,
    /// Count failed operations and carry on instead of stopping at the first.
    #[arg(long)]
    tolerate_errors: bool,
}

/// Runs a workload subcommand.
pub async fn run(command: WorkloadCommand) -> anyhow::Result<()> {
    match command {
        WorkloadCommand::Init(args) => init(args).await,
        WorkloadCommand::Run(args) => run_traffic(args).await,
    }
}

/// `InitOptions` from the flags.
fn init_options(args: &InitArgs) -> InitOptions {
    InitOptions {
        sizes: Sizes {
            users: args.num_users,
            vehicles: args.num_vehicles,
            rides: args.num_rides,
            histories: args.num_histories,
            promo_codes: args.num_promo_codes,
        },
        seed: args.seed,
        drop: args.drop,
        batch_size: usize::try_from(args.batch_size).unwrap_or(usize::MAX),
    }
}

async fn init(args: InitArgs) -> anyhow::Result<()> {
    let Generator::Movr = args.generator;
    let config = conn::config(args.url.as_deref(), None, None)?;
    args.security.use_for_sql(&config, args.url.is_some())?;
    let report = movr::init(&config, &init_options(&args), &mut std::io::stdout()).await?;
    if !report.regions.is_empty() {
        println!("movr is multi-region: {}", report.regions.join(", "));
    }
    Ok(())
}

async fn run_traffic(args: RunArgs) -> anyhow::Result<()> {
    let Generator::Movr = args.generator;
    let config = conn::config(args.url.as_deref(), None, None)?;
    args.security.use_for_sql(&config, args.url.is_some())?;
    let mut opts = RunOptions {
        duration: args.duration,
        seed: args.seed,
        tolerate_errors: args.tolerate_errors,
        ..RunOptions::default()
    };
    if let Some(c) = args.concurrency {
        opts.concurrency = usize::try_from(c).unwrap_or(usize::MAX);
    }
    movr::run(&config, &opts, &mut std::io::stdout()).await?;
    Ok(())
}
