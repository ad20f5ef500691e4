//! A cluster of real `sextant start` processes on loopback, and the faults done to them.
//!
//! [`Cluster::start`] gives each node three free ports (RPC, HTTP, SQL), a store and a log
//! directory under the output directory (`nodes/n1/store`, `nodes/n1/stdout`, ...), and a
//! locality `region=r1..r3,zone=zN`, starts every process with `--join` listing them all,
//! runs `sextant init` against the first, and polls `GET /health?ready=1` on every node until
//! each answers 200, then waits (best effort) for every range to have its replicas and a
//! leaseholder. Node ids come from `GET /_status/nodes`, matched on each node's RPC address.
//!
//! Process faults act on the child process: [`Cluster::kill`] is SIGKILL, [`Cluster::pause`]
//! and [`Cluster::resume`] send SIGSTOP and SIGCONT with the `kill` command,
//! [`Cluster::restart`] starts the same command line on the same store. The testing endpoints
//! (`POST /_testing/partition`, `/heal`, `/clock`, `/shed-leases`) are served by a node
//! started with the hidden `--testing-endpoints` flag; a 404 from one of them is reported as
//! "node does not serve testing endpoints", never skipped.

use super::http;
use anyhow::{Context, bail};
use serde::Serialize;
use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

/// How long one HTTP call to a node may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often readiness is polled.
const POLL: Duration = Duration::from_millis(200);

/// A node does not serve the testing endpoints (404, or no `--testing-endpoints` flag): a
/// nemesis that needs them cannot run, and says so instead of skipping its faults.
#[derive(Debug, Clone)]
pub struct NotServed(pub String);

impl std::fmt::Display for NotServed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotServed {}

/// What the `sextant` binary supports, probed from its help output.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct BinaryFeatures {
    /// `start --insecure` exists.
    pub insecure: bool,
    /// The hidden `start --testing-endpoints` flag exists.
    pub testing_endpoints: bool,
    /// The hidden `start --test-timings` flag exists.
    pub test_timings: bool,
}

impl BinaryFeatures {
    /// Probes `binary`: `start --help` lists the visible flags; a hidden flag is accepted
    /// when `start <flag> --help` succeeds (an unknown flag is an error before `--help`).
    pub fn probe(binary: &Path) -> anyhow::Result<BinaryFeatures> {
        let help = Command::new(binary)
            .args(["start", "--help"])
            .output()
            .with_context(|| format!("running {} start --help", binary.display()))?;
        if !help.status.success() {
            bail!(
                "{} start --help failed: {}",
                binary.display(),
                String::from_utf8_lossy(&help.stderr)
            );
        }
        let accepts = |flag: &str| {
            Command::new(binary)
                .args(["start", flag, "--help"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        Ok(BinaryFeatures {
            insecure: String::from_utf8_lossy(&help.stdout).contains("--insecure"),
            testing_endpoints: accepts("--testing-endpoints"),
            test_timings: accepts("--test-timings"),
        })
    }
}

/// How to start the cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The `sextant` binary.
    pub binary: PathBuf,
    /// Number of nodes.
    pub nodes: usize,
    /// Directory for stores and logs.
    pub dir: PathBuf,
    /// What the binary supports.
    pub features: BinaryFeatures,
    /// Pass `--test-timings` (short Raft and liveness timings) when supported.
    pub test_timings: bool,
    /// Deadline for the cluster to come up.
    pub startup_timeout: Duration,
}

/// One node's addresses and command line.
#[derive(Clone, Debug, Serialize)]
pub struct NodeSpec {
    /// 0-based position.
    pub idx: usize,
    /// `--listen-addr` (RPC).
    pub rpc: String,
    /// `--http-addr`.
    pub http: String,
    /// `--sql-addr`.
    pub sql: String,
    /// Store directory.
    pub store: PathBuf,
    /// Where stdout and stderr go.
    pub log_dir: PathBuf,
    /// The arguments after the binary.
    pub args: Vec<String>,
}

impl NodeSpec {
    /// `n1`, `n2`, ... (1-based, as people count).
    pub fn name(&self) -> String {
        format!("n{}", self.idx + 1)
    }

    /// The PostgreSQL URL of the node's SQL port.
    pub fn sql_url(&self) -> String {
        format!("postgresql://root@{}/defaultdb?sslmode=disable", self.sql)
    }
}

/// A node's process state.
#[derive(Debug, Default)]
struct Proc {
    child: Option<Child>,
    paused: bool,
    node_id: Option<u64>,
}

/// The running cluster. Every process is killed when it is dropped.
pub struct Cluster {
    cfg: ClusterConfig,
    specs: Vec<NodeSpec>,
    procs: Mutex<Vec<Proc>>,
}

/// A loopback port free right now. Ports come from a block below the kernel's ephemeral range
/// (32768 and up) chosen by process id, so that ports bound to 0 elsewhere, and other test
/// processes drawing from other blocks, rarely collide with the node that is meant to bind it.
pub fn free_port() -> anyhow::Result<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = (std::process::id() % 500) as u16 * 20;
    for _ in 0..2000 {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 10_000 + (block + offset) % 10_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    bail!("no free loopback port found between 10000 and 20000")
}

impl Cluster {
    /// Starts the processes, initializes the cluster and waits until every node is ready.
    pub async fn start(cfg: ClusterConfig) -> anyhow::Result<Cluster> {
        let mut specs = Vec::new();
        let mut ports = Vec::new();
        for _ in 0..cfg.nodes {
            ports.push((free_port()?, free_port()?, free_port()?));
        }
        let join: Vec<String> = ports
            .iter()
            .map(|(rpc, _, _)| format!("127.0.0.1:{rpc}"))
            .collect();
        for (idx, (rpc, http, sql)) in ports.into_iter().enumerate() {
            let dir = cfg.dir.join(format!("n{}", idx + 1));
            let store = dir.join("store");
            let mut args = vec![
                "start".to_string(),
                format!("--store={}", store.display()),
                format!("--listen-addr=127.0.0.1:{rpc}"),
                format!("--http-addr=127.0.0.1:{http}"),
                format!("--sql-addr=127.0.0.1:{sql}"),
                format!("--join={}", join.join(",")),
                format!("--locality=region=r{},zone=z{}", idx % 3 + 1, idx + 1),
            ];
            if cfg.features.insecure {
                args.push("--insecure".into());
            }
            if cfg.features.testing_endpoints {
                args.push("--testing-endpoints".into());
            }
            if cfg.test_timings && cfg.features.test_timings {
                args.push("--test-timings".into());
            }
            specs.push(NodeSpec {
                idx,
                rpc: format!("127.0.0.1:{rpc}"),
                http: format!("127.0.0.1:{http}"),
                sql: format!("127.0.0.1:{sql}"),
                store,
                log_dir: dir,
                args,
            });
        }
        let cluster = Cluster {
            procs: Mutex::new((0..specs.len()).map(|_| Proc::default()).collect()),
            cfg,
            specs,
        };
        for i in 0..cluster.specs.len() {
            cluster.spawn(i)?;
        }
        let deadline = Instant::now() + cluster.cfg.startup_timeout;
        cluster.init(deadline).await?;
        for i in 0..cluster.specs.len() {
            cluster.wait_ready(i, deadline).await?;
        }
        cluster.learn_node_ids().await?;
        cluster.wait_replicated(deadline).await;
        Ok(cluster)
    }

    /// The nodes.
    pub fn specs(&self) -> &[NodeSpec] {
        &self.specs
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// What the binary supports.
    pub fn features(&self) -> BinaryFeatures {
        self.cfg.features
    }

    fn spawn(&self, i: usize) -> anyhow::Result<()> {
        let spec = &self.specs[i];
        std::fs::create_dir_all(&spec.log_dir)?;
        let open = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(spec.log_dir.join(name))
        };
        let child = Command::new(&self.cfg.binary)
            .args(&spec.args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(open("stdout")?)
            .stderr(open("stderr")?)
            .spawn()
            .with_context(|| {
                format!("starting {} for {}", self.cfg.binary.display(), spec.name())
            })?;
        if let Ok(mut procs) = self.procs.lock() {
            procs[i].child = Some(child);
            procs[i].paused = false;
        }
        Ok(())
    }

    async fn init(&self, deadline: Instant) -> anyhow::Result<()> {
        let host = format!("--host={}", self.specs[0].rpc);
        loop {
            let binary = self.cfg.binary.clone();
            let mut args = vec!["init".to_string(), host.clone()];
            if self.cfg.features.insecure {
                args.push("--insecure".to_string());
            }
            let out = tokio::task::spawn_blocking(move || {
                Command::new(binary)
                    .args(&args)
                    .env_remove("RUST_LOG")
                    .output()
            })
            .await??;
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() || text.contains("already been initialized") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("sextant init {host} kept failing: {}", text.trim());
            }
            tokio::time::sleep(POLL * 2).await;
        }
    }

    /// Polls `/health?ready=1` on node `i` until it answers 200.
    pub async fn wait_ready(&self, i: usize, deadline: Instant) -> anyhow::Result<()> {
        let spec = &self.specs[i];
        loop {
            if let Some(status) = self.exit_status(i) {
                bail!(
                    "{} exited ({status}) while waiting for it to be ready; see {}",
                    spec.name(),
                    spec.log_dir.join("stderr").display()
                );
            }
            let last = match http::get(&spec.http, "/health?ready=1", HTTP_TIMEOUT).await {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("{} {}", r.status, r.body.trim()),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("{} not ready in time: {last}", spec.name());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn learn_node_ids(&self) -> anyhow::Result<()> {
        let r = http::get(&self.specs[0].http, "/_status/nodes", HTTP_TIMEOUT).await?;
        let nodes: serde_json::Value =
            serde_json::from_str(&r.body).context("parsing /_status/nodes")?;
        let list = nodes.as_array().context("/_status/nodes is not a list")?;
        for (i, spec) in self.specs.iter().enumerate() {
            let id = list
                .iter()
                .find(|n| {
                    n["address"].as_str() == Some(spec.rpc.as_str())
                        || n["sql_address"].as_str() == Some(spec.sql.as_str())
                })
                .and_then(|n| n["node_id"].as_u64());
            let id = match id {
                Some(id) => id,
                None => {
                    // Its own /health names it too.
                    let h = http::get(&spec.http, "/health", HTTP_TIMEOUT).await?;
                    let v: serde_json::Value = serde_json::from_str(&h.body).unwrap_or_default();
                    v["node_id"].as_u64().with_context(|| {
                        format!(
                            "no node id for {} in /_status/nodes or /health",
                            spec.name()
                        )
                    })?
                }
            };
            if let Ok(mut procs) = self.procs.lock() {
                procs[i].node_id = Some(id);
            }
        }
        Ok(())
    }

    /// Waits, best effort, until every range has min(3, nodes) voters and a leaseholder.
    async fn wait_replicated(&self, deadline: Instant) {
        let want = self.specs.len().min(3);
        loop {
            let ok = match http::get(&self.specs[0].http, "/_status/ranges", HTTP_TIMEOUT).await {
                Ok(r) if r.status == 200 => {
                    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                    v.as_array().is_some_and(|rs| {
                        !rs.is_empty()
                            && rs.iter().all(|r| {
                                r["voters"].as_array().map(Vec::len) == Some(want)
                                    && !r["leaseholder"].is_null()
                            })
                    })
                }
                _ => false,
            };
            if ok {
                return;
            }
            if Instant::now() > deadline {
                tracing::warn!("not every range has {want} voters and a leaseholder yet");
                return;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Node `i`'s node id.
    pub fn node_id(&self, i: usize) -> Option<u64> {
        self.procs.lock().ok().and_then(|p| p[i].node_id)
    }

    /// The exit status of node `i` if its process has exited.
    pub fn exit_status(&self, i: usize) -> Option<String> {
        let mut procs = self.procs.lock().ok()?;
        match procs[i].child.as_mut() {
            None => Some("not running".into()),
            Some(c) => c.try_wait().ok().flatten().map(|s| s.to_string()),
        }
    }

    /// Whether node `i`'s process runs (paused counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.exit_status(i).is_none()
    }

    /// Whether node `i` is paused.
    pub fn is_paused(&self, i: usize) -> bool {
        self.procs.lock().is_ok_and(|p| p[i].paused)
    }

    /// SIGKILL node `i` and wait for it to be gone.
    pub fn kill(&self, i: usize) {
        if let Ok(mut procs) = self.procs.lock()
            && let Some(mut c) = procs[i].child.take()
        {
            let _ = c.kill();
            let _ = c.wait();
            procs[i].paused = false;
        }
    }

    /// Starts node `i` again with the same command line, if it is not running.
    pub fn restart(&self, i: usize) -> anyhow::Result<()> {
        if self.is_running(i) {
            return Ok(());
        }
        self.spawn(i)
    }

    fn signal(&self, i: usize, sig: &str) -> anyhow::Result<()> {
        let pid = self
            .procs
            .lock()
            .ok()
            .and_then(|p| p[i].child.as_ref().map(Child::id))
            .with_context(|| format!("{} is not running", self.specs[i].name()))?;
        let status = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {sig} {pid} failed: {status}");
        }
        Ok(())
    }

    /// SIGSTOP node `i`.
    pub fn pause(&self, i: usize) -> anyhow::Result<()> {
        self.signal(i, "-STOP")?;
        if let Ok(mut procs) = self.procs.lock() {
            procs[i].paused = true;
        }
        Ok(())
    }

    /// SIGCONT node `i`.
    pub fn resume(&self, i: usize) -> anyhow::Result<()> {
        self.signal(i, "-CONT")?;
        if let Ok(mut procs) = self.procs.lock() {
            procs[i].paused = false;
        }
        Ok(())
    }

    /// POSTs to one of node `i`'s testing endpoints. A node that does not serve them fails
    /// with [`NotServed`].
    pub async fn testing(&self, i: usize, endpoint: &str, body: &str) -> anyhow::Result<()> {
        let spec = &self.specs[i];
        let path = format!("/_testing/{endpoint}");
        if !self.cfg.features.testing_endpoints {
            return Err(NotServed(format!(
                "{} does not serve testing endpoints: this sextant binary has no \
                 --testing-endpoints flag (POST {path} not sent)",
                spec.name()
            ))
            .into());
        }
        let r = http::post(&spec.http, &path, body, HTTP_TIMEOUT).await?;
        match r.status {
            200..=299 => Ok(()),
            404 => Err(NotServed(format!(
                "{} does not serve testing endpoints: POST {path} answered 404",
                spec.name()
            ))
            .into()),
            code => bail!(
                "{}: POST {path} answered {code}: {}",
                spec.name(),
                r.body.trim()
            ),
        }
    }

    /// Brings every node back: resumes paused ones, restarts dead ones, clears partitions and
    /// clock offsets (when the endpoints exist), and waits for every node to be ready.
    pub async fn heal_all(&self, timeout: Duration) -> anyhow::Result<()> {
        for i in 0..self.len() {
            if self.is_paused(i) {
                self.resume(i)?;
            }
            if !self.is_running(i) {
                self.restart(i)?;
            }
        }
        if self.cfg.features.testing_endpoints {
            for i in 0..self.len() {
                let _ = self.testing(i, "heal", "{}").await;
                let _ = self.testing(i, "clock", r#"{"offset_ms": 0}"#).await;
            }
        }
        let deadline = Instant::now() + timeout;
        for i in 0..self.len() {
            self.wait_ready(i, deadline).await?;
        }
        Ok(())
    }

    /// Kills every process.
    pub fn stop(&self) {
        for i in 0..self.len() {
            if self.is_paused(i) {
                let _ = self.resume(i);
            }
            self.kill(i);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
