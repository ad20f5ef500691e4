//! The runner: real processes, real clients, real faults, then the checkers.
//!
//! # The life of a run ([`run`])
//!
//! 1. Probe the `sextant` binary ([`cluster::BinaryFeatures::probe`]): whether `start`
//!    accepts `--insecure`, the hidden `--testing-endpoints` and `--test-timings`. A nemesis
//!    that needs the testing endpoints stops here if the binary lacks the flag.
//! 2. Start the cluster ([`cluster::Cluster::start`]): N processes on free loopback ports,
//!    `sextant init`, every node ready, ranges replicated. A nemesis that needs the testing
//!    endpoints calls `POST /_testing/heal` on every node first, so that a 404 ends the run
//!    with "node does not serve testing endpoints" before any workload runs.
//! 3. Create each workload's table over SQL ([`workload::Workload::setup`]).
//! 4. Start `--concurrency` clients per workload, spread over every node's SQL port, and the
//!    nemesis. Each client records its invocation, runs the operation under the operation
//!    timeout, and records `ok`, `fail` or `info` (the rules are in [`client`]). After an
//!    `info` it takes a new process id (old id + concurrency) and a new connection; a client
//!    whose node is down moves to the next node.
//! 5. At the deadline, stop the clients (each finishes its operation, bounded by the
//!    timeout), stop the nemesis, heal everything and wait until every node is ready.
//! 6. Take the final reads ([`workload::Workload::final_calls`]), retrying on other nodes.
//! 7. Stop the cluster, check each history, and write `history.jsonl` (or
//!    `history-<workload>.jsonl` with `--workload all`), `verdict.txt`, `verdict.json`,
//!    `nemesis.log` and `config.json` to the output directory; node stores and logs are in
//!    `nodes/nN/`.

pub mod client;
pub mod cluster;
pub mod http;
pub mod nemesis;
pub mod recorder;
pub mod workload;

use crate::checker::{self, CheckOptions};
use crate::history::{Call, OpType, Outcome};
use crate::verdict::{Validity, Verdict};
use anyhow::Context;
use client::{Conn, OpError};
use cluster::{BinaryFeatures, Cluster, ClusterConfig, NotServed};
use nemesis::{Nemesis, NemesisKind, Schedule};
use rand::SeedableRng;
use rand::rngs::StdRng;
use recorder::Recorder;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use workload::{Workload, WorkloadOptions, is_read_only};

/// How long connecting to a node may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before a client retries connecting.
const RECONNECT_PAUSE: Duration = Duration::from_millis(250);
/// How long healing may take before the final reads.
const HEAL_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per final read.
const FINAL_ATTEMPTS: usize = 10;
/// Process ids of the final reads start here, far above the clients'.
const FINAL_PROCESS: u64 = 1_000_000_000;

/// Everything a run needs.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    /// The workloads to run at once.
    #[serde(serialize_with = "names")]
    pub workloads: Vec<checker::Workload>,
    /// The faults.
    #[serde(serialize_with = "debug_text")]
    pub nemesis: NemesisKind,
    /// How long clients run.
    pub time: Duration,
    /// Number of nodes.
    pub nodes: usize,
    /// Clients per workload.
    pub concurrency: usize,
    /// The `sextant` binary.
    pub binary: PathBuf,
    /// The output directory.
    pub out: PathBuf,
    /// Seed of every random choice.
    pub seed: u64,
    /// Client-side timeout of one operation.
    pub op_timeout: Duration,
    /// Deadline for the cluster to start.
    pub startup_timeout: Duration,
    /// Fault timing.
    #[serde(serialize_with = "debug_text")]
    pub schedule: Schedule,
    /// Pass `--test-timings` to the nodes when the binary has it.
    pub test_timings: bool,
    /// Workload knobs.
    #[serde(serialize_with = "debug_text")]
    pub workload: WorkloadOptions,
    /// Checker options.
    #[serde(serialize_with = "debug_text")]
    pub check: CheckOptions,
}

fn names<S: serde::Serializer>(w: &[checker::Workload], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(w.iter().map(|w| w.name()))
}

fn debug_text<T: std::fmt::Debug, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:?}"))
}

/// What a run found.
#[derive(Debug)]
pub struct RunOutcome {
    /// One verdict per workload.
    pub verdicts: Vec<Verdict>,
    /// Why the nemesis stopped early, if it did.
    pub nemesis_error: Option<String>,
}

impl RunOutcome {
    /// The worst validity of all verdicts.
    pub fn validity(&self) -> Validity {
        self.verdicts
            .iter()
            .map(|v| v.validity)
            .max()
            .unwrap_or(Validity::Unknown)
    }
}

/// A concrete workload (the trait's async methods are not object-safe).
enum AnyWorkload {
    Register(Arc<workload::Register>),
    Bank(Arc<workload::Bank>),
    Set(Arc<workload::Set>),
    Append(Arc<workload::Append>),
    Monotonic(Arc<workload::Monotonic>),
}

/// Evaluates `$e` with `$w` bound to the concrete workload.
macro_rules! each {
    ($any:expr, $w:ident => $e:expr) => {
        match $any {
            AnyWorkload::Register($w) => $e,
            AnyWorkload::Bank($w) => $e,
            AnyWorkload::Set($w) => $e,
            AnyWorkload::Append($w) => $e,
            AnyWorkload::Monotonic($w) => $e,
        }
    };
}

impl AnyWorkload {
    fn new(kind: checker::Workload, opts: &WorkloadOptions) -> AnyWorkload {
        match kind {
            checker::Workload::Register => {
                AnyWorkload::Register(Arc::new(workload::Register::new(opts)))
            }
            checker::Workload::Bank => AnyWorkload::Bank(Arc::new(workload::Bank::new(opts))),
            checker::Workload::Set => AnyWorkload::Set(Arc::new(workload::Set::new())),
            checker::Workload::Append => AnyWorkload::Append(Arc::new(workload::Append::new(opts))),
            checker::Workload::Monotonic => {
                AnyWorkload::Monotonic(Arc::new(workload::Monotonic::new(opts)))
            }
        }
    }

    fn kind(&self) -> checker::Workload {
        each!(self, w => w.kind())
    }

    fn table(&self) -> (&'static str, i64) {
        each!(self, w => w.table())
    }

    async fn setup(&self, client: &tokio_postgres::Client) -> anyhow::Result<()> {
        each!(self, w => w.setup(client).await)
    }

    fn spawn_workers(&self, ctx: &Arc<Clients>, seed: u64) -> Vec<JoinHandle<()>> {
        each!(self, w => (0..ctx.concurrency)
            .map(|i| tokio::spawn(worker(w.clone(), ctx.clone(), i, seed)))
            .collect())
    }

    async fn final_reads(&self, ctx: &Clients) {
        each!(self, w => final_reads(w.as_ref(), ctx).await)
    }
}

/// What the clients of one workload share.
struct Clients {
    urls: Vec<String>,
    recorder: Arc<Recorder>,
    concurrency: usize,
    op_timeout: Duration,
    deadline: Instant,
    stop: watch::Receiver<bool>,
}

impl Clients {
    fn running(&self) -> bool {
        Instant::now() < self.deadline && !*self.stop.borrow()
    }
}

/// How a finished attempt is recorded.
fn completion(
    call: &Call,
    result: Option<Result<Call, OpError>>,
) -> (OpType, Call, Option<String>) {
    let read_only = is_read_only(call);
    match result {
        Some(Ok(done)) => (OpType::Ok, done, None),
        Some(Err(OpError::Definite(e))) => (OpType::Fail, call.clone(), Some(e)),
        Some(Err(OpError::Indefinite(e))) if read_only => (OpType::Fail, call.clone(), Some(e)),
        Some(Err(OpError::Indefinite(e))) => (OpType::Info, call.clone(), Some(e)),
        None if read_only => (OpType::Fail, call.clone(), Some("client timeout".into())),
        None => (OpType::Info, call.clone(), Some("client timeout".into())),
    }
}

/// One client: invoke, execute, complete, until the deadline.
async fn worker<W: Workload>(w: Arc<W>, ctx: Arc<Clients>, idx: usize, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(idx as u64));
    let n = ctx.urls.len();
    let mut process = idx as u64;
    let mut node = idx % n;
    let mut conn: Option<Conn> = None;
    while ctx.running() {
        let Some(c) = conn.as_ref() else {
            match Conn::connect(&ctx.urls[node], CONNECT_TIMEOUT).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!("client {idx}: {e:#}");
                    node = (node + 1) % n;
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
            }
            continue;
        };
        let call = w.generate(&mut rng);
        ctx.recorder
            .record(process, OpType::Invoke, call.clone(), Some(node), None);
        let result = tokio::time::timeout(ctx.op_timeout, w.execute(&c.client, &call))
            .await
            .ok();
        let timed_out = result.is_none();
        let (kind, done, error) = completion(&call, result);
        let broken = timed_out || kind == OpType::Info || c.is_closed();
        ctx.recorder.record(process, kind, done, Some(node), error);
        if kind == OpType::Info {
            process += ctx.concurrency as u64;
        }
        if broken {
            conn = None;
        }
    }
}

/// The final reads, each retried on the next node until one succeeds.
async fn final_reads<W: Workload>(w: &W, ctx: &Clients) {
    let n = ctx.urls.len();
    let mut process = FINAL_PROCESS;
    for (i, call) in w.final_calls().into_iter().enumerate() {
        for attempt in 0..FINAL_ATTEMPTS {
            let node = (i + attempt) % n;
            let Ok(conn) = Conn::connect(&ctx.urls[node], CONNECT_TIMEOUT).await else {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            };
            ctx.recorder
                .record(process, OpType::Invoke, call.clone(), Some(node), None);
            let result = tokio::time::timeout(ctx.op_timeout * 3, w.execute(&conn.client, &call))
                .await
                .ok();
            let (kind, done, error) = completion(&call, result);
            ctx.recorder.record(process, kind, done, Some(node), error);
            match kind {
                OpType::Ok => break,
                OpType::Info => process += 1,
                _ => tokio::time::sleep(RECONNECT_PAUSE).await,
            }
        }
    }
}

fn history_path(out: &Path, kind: checker::Workload, single: bool) -> PathBuf {
    if single {
        out.join("history.jsonl")
    } else {
        out.join(format!("history-{}.jsonl", kind.name()))
    }
}

/// Runs the test described by `cfg` and checks its histories.
pub async fn run(cfg: &RunConfig) -> anyhow::Result<RunOutcome> {
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let features = BinaryFeatures::probe(&cfg.binary)?;
    tracing::info!("binary {} supports {features:?}", cfg.binary.display());
    std::fs::write(
        cfg.out.join("config.json"),
        serde_json::to_string_pretty(&serde_json::json!({ "run": cfg, "binary": features }))?,
    )?;
    if cfg.nemesis.needs_testing_endpoints() && !features.testing_endpoints {
        return Err(NotServed(format!(
            "nemesis {:?} needs the nodes' testing endpoints, but {} has no \
             --testing-endpoints flag: the node does not serve testing endpoints",
            cfg.nemesis,
            cfg.binary.display()
        ))
        .into());
    }
    let cluster = Arc::new(
        Cluster::start(ClusterConfig {
            binary: cfg.binary.clone(),
            nodes: cfg.nodes,
            dir: cfg.out.join("nodes"),
            features,
            test_timings: cfg.test_timings,
            startup_timeout: cfg.startup_timeout,
        })
        .await
        .context("starting the cluster")?,
    );
    tracing::info!("cluster of {} nodes is ready", cluster.len());
    if cfg.nemesis.needs_testing_endpoints() {
        for i in 0..cluster.len() {
            cluster.testing(i, "heal", "{}").await?;
        }
    }
    let outcome = drive(cfg, &cluster).await;
    cluster.stop();
    let (histories, nemesis_error) = outcome?;
    let mut verdicts = Vec::new();
    for (kind, recorder) in histories {
        let opts = cfg.check.clone();
        let verdict = tokio::task::spawn_blocking(move || match recorder.finish() {
            Ok(h) if !h.operations().iter().any(|o| o.outcome == Outcome::Ok) => {
                checker::check(kind, &h, &opts).with_unknown("no operation succeeded")
            }
            Ok(h) => checker::check(kind, &h, &opts),
            Err(e) => Verdict::unknown(kind.name(), format!("malformed history: {e}")),
        })
        .await?;
        verdicts.push(verdict);
    }
    let text: String = verdicts.iter().map(ToString::to_string).collect();
    std::fs::write(cfg.out.join("verdict.txt"), &text)?;
    std::fs::write(
        cfg.out.join("verdict.json"),
        serde_json::to_string_pretty(&verdicts)?,
    )?;
    Ok(RunOutcome {
        verdicts,
        nemesis_error,
    })
}

type Histories = Vec<(checker::Workload, Arc<Recorder>)>;

/// Steps 3 to 6: tables, clients and nemesis, healing, final reads.
async fn drive(
    cfg: &RunConfig,
    cluster: &Arc<Cluster>,
) -> anyhow::Result<(Histories, Option<String>)> {
    let workloads: Arc<Vec<AnyWorkload>> = Arc::new(
        cfg.workloads
            .iter()
            .map(|k| AnyWorkload::new(*k, &cfg.workload))
            .collect(),
    );
    let setup = Conn::connect(&cluster.specs()[0].sql_url(), CONNECT_TIMEOUT).await?;
    for w in workloads.iter() {
        w.setup(&setup.client).await?;
    }
    drop(setup);

    let urls: Vec<String> = cluster.specs().iter().map(|s| s.sql_url()).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + cfg.time;
    let single = workloads.len() == 1;
    let mut clients = Vec::new();
    let mut workers = Vec::new();
    for (i, w) in workloads.iter().enumerate() {
        let recorder = Arc::new(Recorder::create(&history_path(&cfg.out, w.kind(), single))?);
        let ctx = Arc::new(Clients {
            urls: urls.clone(),
            recorder,
            concurrency: cfg.concurrency.max(1),
            op_timeout: cfg.op_timeout,
            deadline,
            stop: stop_rx.clone(),
        });
        workers.extend(w.spawn_workers(&ctx, cfg.seed.wrapping_add(1_000 * i as u64)));
        clients.push(ctx);
    }
    let marks = workloads
        .iter()
        .zip(&clients)
        .map(|(w, c)| (w.kind().name().to_string(), c.recorder.clone()))
        .collect();
    let targets = workloads.clone();
    let nemesis = Nemesis::new(
        cluster.clone(),
        cfg.nemesis,
        cfg.schedule,
        cfg.seed,
        &cfg.out.join("nemesis.log"),
        marks,
        Arc::new(move || targets.iter().map(AnyWorkload::table).collect()),
    );
    let mut nemesis_task = tokio::spawn(nemesis.run(stop_rx));
    tracing::info!(
        "running {} for {:?} with nemesis {:?}",
        cfg.workloads
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.time,
        cfg.nemesis
    );
    // The nemesis ends early only on a fatal error (or at once, when it has nothing to do).
    let early = tokio::select! {
        () = tokio::time::sleep_until(deadline.into()) => None,
        r = &mut nemesis_task => Some(r),
    };
    let early = match early {
        Some(Ok(Ok(()))) => {
            tokio::time::sleep_until(deadline.into()).await;
            Some(Ok(Ok(())))
        }
        other => other,
    };
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let nemesis_result = match early {
        Some(r) => r,
        None => nemesis_task.await,
    };
    let nemesis_error = match nemesis_result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(e) => Some(format!("nemesis task: {e}")),
    };
    tracing::info!("clients stopped; healing the cluster");
    if let Err(e) = cluster.heal_all(HEAL_TIMEOUT).await {
        tracing::warn!("healing: {e:#}; final reads may fail");
    }
    for (w, ctx) in workloads.iter().zip(&clients) {
        w.final_reads(ctx).await;
    }
    let histories = workloads
        .iter()
        .zip(clients)
        .map(|(w, c)| (w.kind(), c.recorder.clone()))
        .collect();
    Ok((histories, nemesis_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_recorded_by_certainty() {
        let write = Call::Write { key: 1, value: 2 };
        let read = Call::Read {
            key: 1,
            value: None,
        };
        let indefinite = || Some(Err(OpError::Indefinite("conn lost".into())));
        assert_eq!(completion(&write, indefinite()).0, OpType::Info);
        assert_eq!(completion(&read, indefinite()).0, OpType::Fail);
        assert_eq!(completion(&write, None).0, OpType::Info);
        assert_eq!(completion(&read, None).0, OpType::Fail);
        let definite = Some(Err(OpError::Definite("40001".into())));
        assert_eq!(completion(&write, definite).0, OpType::Fail);
        let done = Call::Read {
            key: 1,
            value: Some(3),
        };
        assert_eq!(
            completion(&read, Some(Ok(done.clone()))),
            (OpType::Ok, done, None)
        );
    }
}
