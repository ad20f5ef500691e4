//! The nemesis: faults on a schedule.
//!
//! [`Nemesis::run`] loops until told to stop: a quiet period, then one fault chosen by
//! [`NemesisKind`], held for a random time in the fault range, then healed. Every action goes
//! to `nemesis.log` in the output directory with the time and each history's event count,
//! so a history can be read around a fault. After the loop the runner heals everything
//! ([`super::cluster::Cluster::heal_all`]) before the final reads.
//!
//! - `kill`: SIGKILL a node; heal by restarting it on its store with the same flags.
//! - `pause`: SIGSTOP a node; heal with SIGCONT.
//! - `partition`: isolate one node, or split the nodes into a minority and a majority, with
//!   `POST /_testing/partition` (one side's call cuts both directions); heal with
//!   `POST /_testing/heal` on every node.
//! - `clock`: offset one node's clock with `POST /_testing/clock`, half the time within the
//!   maximum offset (50–250 ms) and half the time beyond it (600–2000 ms). Beyond it the node
//!   is expected to shut itself down, as CockroachDB does; that is acceptable, and healing
//!   restarts it. Otherwise healing sets the offset back to 0.
//! - `partition` also cuts a *bridge* one time in three: two nodes from each other, every other
//!   node still reaching both.
//! - `leases`: ask a node to shed its leases (`POST /_testing/shed-leases`) and split a
//!   workload table at a random key (`ALTER TABLE ... SPLIT AT VALUES (k)`); nothing to heal.
//!   A build without `SPLIT AT` is noted once in the log.
//! - `mixed`: a random one of the above each round.
//!
//! After every heal, a node that exited on its own (a crash, or a shutdown because a peer's
//! clock was too far off) is logged and restarted.
//!
//! A node that does not serve the testing endpoints ([`NotServed`]) stops the run with that
//! message; other failures of a fault or a heal are logged and the schedule goes on.

use super::client::Conn;
use super::cluster::{Cluster, NotServed};
use super::recorder::Recorder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a healed node may take to be ready again.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Which faults to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NemesisKind {
    /// No faults.
    None,
    /// kill -9 and restart.
    Kill,
    /// SIGSTOP and SIGCONT.
    Pause,
    /// Network partitions.
    Partition,
    /// Clock offsets.
    Clock,
    /// Lease transfers and range splits.
    Leases,
    /// A random one of the above each round.
    Mixed,
}

impl NemesisKind {
    /// Whether the faults need the nodes' testing endpoints.
    pub fn needs_testing_endpoints(self) -> bool {
        matches!(
            self,
            NemesisKind::Partition | NemesisKind::Clock | NemesisKind::Leases | NemesisKind::Mixed
        )
    }
}

/// When faults happen.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Shortest and longest time a fault is held.
    pub fault: (Duration, Duration),
    /// Time between healing one fault and injecting the next (and before the first).
    pub quiet: Duration,
}

/// What to undo.
enum Fault {
    Killed(usize),
    Paused(usize),
    Partitioned,
    Clock(usize),
    Nothing,
}

/// The fault injector.
pub struct Nemesis {
    cluster: Arc<Cluster>,
    kind: NemesisKind,
    schedule: Schedule,
    rng: StdRng,
    log: Option<File>,
    start: Instant,
    histories: Vec<(String, Arc<Recorder>)>,
    split_targets: SplitTargets,
    splits_unsupported: bool,
}

/// The tables the lease nemesis may split, with the current key bound of each.
pub type SplitTargets = Arc<dyn Fn() -> Vec<(&'static str, i64)> + Send + Sync>;

impl Nemesis {
    /// A nemesis logging to `log_path`; `histories` are named in each log line, and
    /// `split_targets` are the tables (with key bounds) the lease nemesis may split.
    pub fn new(
        cluster: Arc<Cluster>,
        kind: NemesisKind,
        schedule: Schedule,
        seed: u64,
        log_path: &Path,
        histories: Vec<(String, Arc<Recorder>)>,
        split_targets: SplitTargets,
    ) -> Nemesis {
        Nemesis {
            cluster,
            kind,
            schedule,
            rng: StdRng::seed_from_u64(seed),
            log: File::create(log_path).ok(),
            start: Instant::now(),
            histories,
            split_targets,
            splits_unsupported: false,
        }
    }

    fn note(&mut self, what: &str) {
        let marks: Vec<String> = self
            .histories
            .iter()
            .map(|(name, r)| format!("{name}@{}", r.len()))
            .collect();
        let line = format!(
            "{:8.3}s [{}] {what}",
            self.start.elapsed().as_secs_f64(),
            marks.join(" ")
        );
        tracing::info!("nemesis: {what}");
        if let Some(f) = self.log.as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Injects and heals faults until `stop` turns true.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        if self.kind == NemesisKind::None {
            return Ok(());
        }
        loop {
            if sleep_or_stop(self.schedule.quiet, &mut stop).await {
                break;
            }
            let kind = self.pick();
            let fault = match self.inject(kind).await {
                Ok(f) => f,
                Err(e) if e.downcast_ref::<NotServed>().is_some() => {
                    self.note(&format!("fatal: {e:#}"));
                    return Err(e);
                }
                Err(e) => {
                    self.note(&format!("{kind:?} failed: {e:#}"));
                    Fault::Nothing
                }
            };
            let (lo, hi) = self.schedule.fault;
            let hold = if hi > lo {
                self.rng.random_range(lo..=hi)
            } else {
                lo
            };
            let stopped = sleep_or_stop(hold, &mut stop).await;
            self.heal(fault).await;
            if stopped {
                break;
            }
        }
        self.note("stopped");
        Ok(())
    }

    fn pick(&mut self) -> NemesisKind {
        if self.kind != NemesisKind::Mixed {
            return self.kind;
        }
        let all = [
            NemesisKind::Kill,
            NemesisKind::Pause,
            NemesisKind::Partition,
            NemesisKind::Clock,
            NemesisKind::Leases,
        ];
        all[self.rng.random_range(0..all.len())]
    }

    fn random_node(&mut self) -> usize {
        self.rng.random_range(0..self.cluster.len())
    }

    fn node_name(&self, i: usize) -> String {
        self.cluster.specs()[i].name()
    }

    async fn inject(&mut self, kind: NemesisKind) -> anyhow::Result<Fault> {
        match kind {
            NemesisKind::None | NemesisKind::Mixed => Ok(Fault::Nothing),
            NemesisKind::Kill => {
                let i = self.random_node();
                self.note(&format!("kill -9 {}", self.node_name(i)));
                self.cluster.kill(i);
                Ok(Fault::Killed(i))
            }
            NemesisKind::Pause => {
                let i = self.random_node();
                self.note(&format!("SIGSTOP {}", self.node_name(i)));
                self.cluster.pause(i)?;
                Ok(Fault::Paused(i))
            }
            NemesisKind::Partition => self.partition().await,
            NemesisKind::Clock => {
                let i = self.random_node();
                let beyond = self.rng.random_bool(0.5);
                let magnitude: i64 = if beyond {
                    self.rng.random_range(600..=2000)
                } else {
                    self.rng.random_range(50..=250)
                };
                let offset = if self.rng.random_bool(0.5) {
                    magnitude
                } else {
                    -magnitude
                };
                self.note(&format!(
                    "clock offset {offset} ms on {} ({} the maximum offset)",
                    self.node_name(i),
                    if beyond { "beyond" } else { "within" }
                ));
                let body = format!(r#"{{"offset_ms": {offset}}}"#);
                self.cluster.testing(i, "clock", &body).await?;
                Ok(Fault::Clock(i))
            }
            NemesisKind::Leases => {
                let i = self.random_node();
                self.note(&format!("shed leases of {}", self.node_name(i)));
                self.cluster.testing(i, "shed-leases", "{}").await?;
                self.split().await;
                Ok(Fault::Nothing)
            }
        }
    }

    async fn partition(&mut self) -> anyhow::Result<Fault> {
        let n = self.cluster.len();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut self.rng);
        // A bridge, one time in three: two nodes cut from each other while every other node
        // still reaches both (no side has a majority of its own).
        if n >= 3 && self.rng.random_range(0..3) == 0 {
            let (a, b) = (order[0], order[1]);
            self.note(&format!(
                "bridge: {} cut from {}, the others reach both",
                self.node_name(a),
                self.node_name(b)
            ));
            for (from, to) in [(a, b), (b, a)] {
                let ids: Vec<u64> = self.cluster.node_id(to).into_iter().collect();
                let body = serde_json::json!({ "nodes": ids }).to_string();
                self.cluster.testing(from, "partition", &body).await?;
            }
            return Ok(Fault::Partitioned);
        }
        let minority_size = if n >= 3 && self.rng.random_bool(0.5) {
            n / 2
        } else {
            1
        };
        let (minority, majority) = order.split_at(minority_size);
        let names =
            |ns: &[usize]| -> Vec<String> { ns.iter().map(|i| self.node_name(*i)).collect() };
        self.note(&format!(
            "partition {:?} from {:?}",
            names(minority),
            names(majority)
        ));
        let ids: Vec<u64> = majority
            .iter()
            .filter_map(|i| self.cluster.node_id(*i))
            .collect();
        let body = serde_json::json!({ "nodes": ids }).to_string();
        for &i in minority {
            self.cluster.testing(i, "partition", &body).await?;
        }
        Ok(Fault::Partitioned)
    }

    async fn split(&mut self) {
        let targets = (self.split_targets)();
        if self.splits_unsupported || targets.is_empty() {
            return;
        }
        let (table, bound) = targets[self.rng.random_range(0..targets.len())];
        let key = self.rng.random_range(0..bound.max(1));
        let i = self.random_node();
        let url = self.cluster.specs()[i].sql_url();
        let sql = format!("ALTER TABLE {table} SPLIT AT VALUES ({key})");
        let result = match Conn::connect(&url, Duration::from_secs(5)).await {
            Ok(conn) => {
                tokio::time::timeout(Duration::from_secs(10), conn.client.batch_execute(&sql))
                    .await
                    .map_err(|_| "timed out".to_string())
                    .and_then(|r| r.map_err(|e| super::client::error_text(&e)))
            }
            Err(e) => Err(format!("{e:#}")),
        };
        match result {
            Ok(()) => self.note(&format!("{sql} on {}", self.node_name(i))),
            Err(e) if e.contains("(0A000)") => {
                self.splits_unsupported = true;
                self.note(&format!(
                    "{sql}: not supported by this build ({e}); no more splits"
                ));
            }
            Err(e) => self.note(&format!("{sql} failed: {e}")),
        }
    }

    async fn heal(&mut self, fault: Fault) {
        let result = match fault {
            Fault::Nothing => Ok(()),
            Fault::Killed(i) => {
                self.note(&format!("restart {}", self.node_name(i)));
                self.restart_and_wait(i).await
            }
            Fault::Paused(i) => {
                self.note(&format!("SIGCONT {}", self.node_name(i)));
                self.cluster.resume(i)
            }
            Fault::Partitioned => {
                self.note("heal partitions");
                let mut r = Ok(());
                for i in 0..self.cluster.len() {
                    if let Err(e) = self.cluster.testing(i, "heal", "{}").await {
                        r = Err(e);
                    }
                }
                r
            }
            Fault::Clock(i) => {
                if let Some(status) = self.cluster.exit_status(i) {
                    self.note(&format!(
                        "{} exited ({status}) under its clock offset (expected beyond the \
                         maximum offset); restart it",
                        self.node_name(i)
                    ));
                    self.restart_and_wait(i).await
                } else {
                    self.note(&format!("clock offset 0 on {}", self.node_name(i)));
                    self.cluster
                        .testing(i, "clock", r#"{"offset_ms": 0}"#)
                        .await
                }
            }
        };
        if let Err(e) = result {
            self.note(&format!("heal failed: {e:#}"));
        }
        self.revive().await;
    }

    /// Restarts any node that exited on its own (a crash, or a shutdown over a peer's clock
    /// offset), saying so in the log.
    async fn revive(&mut self) {
        for i in 0..self.cluster.len() {
            let Some(status) = self.cluster.exit_status(i) else {
                continue;
            };
            self.note(&format!(
                "{} exited on its own ({status}; see {}); restart it",
                self.node_name(i),
                self.cluster.specs()[i].log_dir.join("stderr").display()
            ));
            if let Err(e) = self.restart_and_wait(i).await {
                self.note(&format!("restart failed: {e:#}"));
            }
        }
    }

    async fn restart_and_wait(&self, i: usize) -> anyhow::Result<()> {
        self.cluster.restart(i)?;
        self.cluster
            .wait_ready(i, Instant::now() + READY_TIMEOUT)
            .await
    }
}

/// Sleeps for `d` unless `stop` turns true first; returns whether it did.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(d) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}
