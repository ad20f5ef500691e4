//! `sextant-verify`: run a Jepsen-style test against real `sextant` processes, or check a
//! recorded history. Exit status: 0 valid, 1 invalid, 2 unknown (0 with `--allow-unknown`),
//! 3 when the run itself failed (the cluster did not start, the nemesis could not inject its
//! faults).

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use sextant_verify::checker::append::AppendOptions;
use sextant_verify::checker::register::RegisterOptions;
use sextant_verify::checker::{self, CheckOptions};
use sextant_verify::history::History;
use sextant_verify::runner::nemesis::{NemesisKind, Schedule};
use sextant_verify::runner::workload::{Bank, WorkloadOptions};
use sextant_verify::runner::{self, RunConfig};
use sextant_verify::verdict::{Validity, Verdict};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Which workloads to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WorkloadArg {
    Register,
    Bank,
    Set,
    Append,
    Monotonic,
    /// Every workload at once, each with its own clients and history.
    All,
}

impl WorkloadArg {
    fn workloads(self) -> Vec<checker::Workload> {
        match self {
            WorkloadArg::Register => vec![checker::Workload::Register],
            WorkloadArg::Bank => vec![checker::Workload::Bank],
            WorkloadArg::Set => vec![checker::Workload::Set],
            WorkloadArg::Append => vec![checker::Workload::Append],
            WorkloadArg::Monotonic => vec![checker::Workload::Monotonic],
            WorkloadArg::All => checker::Workload::ALL.to_vec(),
        }
    }
}

/// Jepsen-style verification of Sextant: concurrent SQL clients against real `sextant start`
/// processes under faults, then linearizability, bank, set, list-append (Elle) and monotonic
/// checkers over the recorded history.
#[derive(Parser, Debug)]
#[command(name = "sextant-verify", version)]
struct Args {
    /// The workload.
    #[arg(long, value_enum, default_value = "register")]
    workload: WorkloadArg,
    /// The faults to inject.
    #[arg(long, value_enum, default_value = "none")]
    nemesis: NemesisKind,
    /// How long the clients run (`60s`, `2m`, `500ms`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    time: Duration,
    /// Number of nodes.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(3..=5))]
    nodes: u16,
    /// Concurrent clients per workload.
    #[arg(long, default_value_t = 5)]
    concurrency: usize,
    /// The `sextant` binary [default: $SEXTANT_BIN, else target/release/sextant, else
    /// target/debug/sextant, under ./target, $CARGO_TARGET_DIR or the workspace's target].
    #[arg(long, env = "SEXTANT_BIN")]
    binary: Option<PathBuf>,
    /// Output directory: histories, node stores and logs, nemesis log, verdict.
    #[arg(long, default_value = "verify-out")]
    out: PathBuf,
    /// Seed of every random choice [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Exit 0 when the verdict is unknown (a search budget ran out).
    #[arg(long)]
    allow_unknown: bool,
    /// Client-side timeout of one operation; past it a write is `info`, a read `fail`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    op_timeout: Duration,
    /// How long a fault is held: `MIN..MAX` or one duration.
    #[arg(long, default_value = "5s..10s", value_parser = parse_range)]
    fault_duration: (Duration, Duration),
    /// Quiet time before each fault.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    quiet: Duration,
    /// How long the cluster may take to start.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    startup_timeout: Duration,
    /// Do not pass the hidden `--test-timings` (short Raft and liveness timings) to nodes.
    #[arg(long)]
    no_test_timings: bool,
    /// append: fail on real-time cycles across keys too (strict serializability).
    #[arg(long)]
    strict_serializable: bool,
    /// register: operations per key before moving to the next key.
    #[arg(long, default_value_t = 150)]
    ops_per_key: u64,
    /// bank: number of accounts.
    #[arg(long, default_value_t = 5)]
    accounts: i64,
    /// bank: initial balance of each account.
    #[arg(long, default_value_t = 100)]
    initial_balance: i64,
    /// register: search steps per key before the key is unknown.
    #[arg(long, default_value_t = checker::register::DEFAULT_MAX_STEPS_PER_KEY)]
    max_steps_per_key: u64,
    /// Check this recorded history (JSON lines) of `--workload` instead of running a test.
    #[arg(long, value_name = "HISTORY")]
    check: Option<PathBuf>,
}

/// `60s`, `500ms`, `2m`, `1h`, or a number of seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 60s, 500ms, 2m)"))?;
    let secs = match unit {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {s:?} (ms, s, m, h)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

/// `5s..10s` or `5s`.
fn parse_range(s: &str) -> Result<(Duration, Duration), String> {
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (parse_duration(a)?, parse_duration(b)?);
            if a > b {
                return Err(format!("{s:?}: the minimum exceeds the maximum"));
            }
            Ok((a, b))
        }
        None => parse_duration(s).map(|d| (d, d)),
    }
}

/// The binary to test: the flag or `$SEXTANT_BIN`, else a release or debug build.
fn find_binary(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(b) = flag {
        if !b.is_file() {
            bail!("{} does not exist", b.display());
        }
        return Ok(b);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut targets = vec![PathBuf::from("target")];
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        targets.push(PathBuf::from(dir));
    }
    targets.push(workspace.join("target"));
    let mut tried = Vec::new();
    for target in &targets {
        for profile in ["release", "debug"] {
            let candidate = target.join(profile).join("sextant");
            if candidate.is_file() {
                return Ok(candidate);
            }
            tried.push(candidate.display().to_string());
        }
    }
    bail!(
        "no sextant binary: pass --binary or set SEXTANT_BIN (tried {})",
        tried.join(", ")
    )
}

fn check_options(args: &Args, workload: &WorkloadOptions) -> CheckOptions {
    CheckOptions {
        register: RegisterOptions {
            max_steps_per_key: args.max_steps_per_key,
            ..RegisterOptions::default()
        },
        bank: Bank::options(workload),
        append: AppendOptions {
            strict_serializable: args.strict_serializable,
            ..AppendOptions::default()
        },
    }
}

fn exit_for(validity: Validity, allow_unknown: bool) -> ExitCode {
    match validity {
        Validity::Valid => ExitCode::SUCCESS,
        Validity::Unknown if allow_unknown => ExitCode::SUCCESS,
        Validity::Unknown => ExitCode::from(2),
        Validity::Invalid => ExitCode::from(1),
    }
}

fn print_verdicts(verdicts: &[Verdict]) {
    for v in verdicts {
        print!("{v}");
    }
}

fn check_file(args: &Args, path: &Path, opts: &CheckOptions) -> anyhow::Result<ExitCode> {
    let workloads = args.workload.workloads();
    let [workload] = workloads[..] else {
        bail!("--check needs one workload, not all");
    };
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let history = History::read_jsonl(std::io::BufReader::new(file))?;
    let verdict = checker::check(workload, &history, opts);
    print_verdicts(std::slice::from_ref(&verdict));
    Ok(exit_for(verdict.validity, args.allow_unknown))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = Args::parse();
    match real_main(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn real_main(args: Args) -> anyhow::Result<ExitCode> {
    let workload = WorkloadOptions {
        ops_per_key: args.ops_per_key,
        accounts: args.accounts,
        initial_balance: args.initial_balance,
        ..WorkloadOptions::default()
    };
    let check = check_options(&args, &workload);
    if let Some(path) = &args.check {
        return check_file(&args, path, &check);
    }
    let seed = args.seed.unwrap_or_else(rand::random);
    let cfg = RunConfig {
        workloads: args.workload.workloads(),
        nemesis: args.nemesis,
        time: args.time,
        nodes: args.nodes.into(),
        concurrency: args.concurrency,
        binary: find_binary(args.binary.clone())?,
        out: args.out.clone(),
        seed,
        op_timeout: args.op_timeout,
        startup_timeout: args.startup_timeout,
        schedule: Schedule {
            fault: args.fault_duration,
            quiet: args.quiet,
        },
        test_timings: !args.no_test_timings,
        workload,
        check,
    };
    eprintln!(
        "sextant-verify: seed {seed}, binary {}, output {}",
        cfg.binary.display(),
        cfg.out.display()
    );
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(runner::run(&cfg))?;
    print_verdicts(&outcome.verdicts);
    println!(
        "overall: {} (details in {})",
        outcome.validity(),
        cfg.out.join("verdict.txt").display()
    );
    if let Some(e) = &outcome.nemesis_error {
        eprintln!("error: the nemesis stopped early: {e}");
        return Ok(ExitCode::from(3));
    }
    Ok(exit_for(outcome.validity(), args.allow_unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(
            parse_range("5s..10s"),
            Ok((Duration::from_secs(5), Duration::from_secs(10)))
        );
        assert!(parse_range("10s..5s").is_err());
    }
}
