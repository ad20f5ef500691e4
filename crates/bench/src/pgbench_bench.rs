//! `sextant-bench pgbench`: PostgreSQL's own `pgbench` with custom scripts against a
//! three-node Sextant cluster of separate `sextant start` processes and against PostgreSQL 15
//! with fsync on, in the same run, one after the other for every cell.
//!
//! The cluster: three `sextant start` processes (the binary from `--sextant-bin` or
//! `$SEXTANT_BIN`), each with an on-disk store in one temporary directory, free ports on
//! 127.0.0.1 and its own locality (`region=us-east1,az=a|b|c`), bootstrapped with
//! `sextant init` and polled on `GET /health?ready=1` until ready. PostgreSQL:
//! [`client::testing::PgServer::try_start`] with [`Durability::Durable`] (fsync,
//! full_page_writes and synchronous_commit at their defaults, on).
//!
//! Both get `kv (k INT8 PRIMARY KEY, v TEXT NOT NULL)` with `--rows` preloaded rows, then for
//! each workload (point SELECT, read-modify-write transaction, single-row INSERT) and each
//! client count, `pgbench -n -f SCRIPT -c C -j J -T SECONDS -M MODE --max-tries N -l` runs
//! against Sextant and then against PostgreSQL. Throughput is pgbench's own `tps`; p50 and
//! p99 come from its per-transaction logs (successful transactions; a retried transaction's
//! latency includes its retries). Against Sextant the clients are spread over the three nodes'
//! SQL ports (one pgbench process per node, the clients split as evenly as possible, their
//! figures summed and their logs merged), or all go to node 1 with `--gateways first`.

use anyhow::{Context, Result, anyhow, bail};
use client::testing::{Durability, PgServer};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long a node may take from `sextant start` to ready.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the table's ranges may take to get three voters.
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(120);
/// Time a pgbench run may take beyond its `-T`.
const PGBENCH_GRACE: Duration = Duration::from_secs(60);
/// Rows per preload INSERT.
const PRELOAD_BATCH: i64 = 500;
/// The text every row carries: 80 bytes, as in `sql-point`.
const VALUE: &str =
    "value-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
/// Lowest key the INSERT workload draws (above any preloaded key for `--rows` below it).
const INSERT_KEY_MIN: i64 = 1_000_000_000;
/// Highest key the INSERT workload draws: with about 10^6 inserts per run the chance of any
/// duplicate among them is below 10^-6 (birthday bound n²/2m).
const INSERT_KEY_MAX: i64 = 9_000_000_000_000_000_000;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds per pgbench run (`-T`).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Rows preloaded for the SELECT and read-modify-write workloads (keys 1..=rows).
    #[arg(long, default_value_t = 10_000)]
    rows: i64,
    /// Client counts (`-c`), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// pgbench threads per pgbench process (`-j`), capped at its clients.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// pgbench `--max-tries`: attempts per transaction on serialization failures (40001).
    #[arg(long, default_value_t = 10)]
    max_tries: u32,
    /// pgbench query mode (`-M`).
    #[arg(long, default_value = "prepared", value_parser = ["simple", "extended", "prepared"])]
    mode: String,
    /// Where Sextant's clients connect: spread over the three nodes, or all to node 1.
    #[arg(long, value_enum, default_value_t = Gateways::Spread)]
    gateways: Gateways,
    /// Workloads, comma-separated, in the order to run them.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "select,rmw,insert"
    )]
    workloads: Vec<Workload>,
    /// The `sextant` binary [default: `sextant` next to this executable].
    #[arg(long, env = "SEXTANT_BIN")]
    sextant_bin: Option<PathBuf>,
    /// The `pgbench` binary [default: PostgreSQL's binary directory, else `pgbench` on PATH].
    #[arg(long, env = "SEXTANT_PGBENCH")]
    pgbench: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Gateways {
    /// One pgbench process per node, the clients split over them.
    Spread,
    /// Every client on node 1.
    First,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Workload {
    /// Single-row INSERT of a random key.
    Insert,
    /// Point SELECT by primary key of a preloaded row.
    Select,
    /// BEGIN; SELECT a preloaded row; UPDATE it; COMMIT.
    Rmw,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Insert => "INSERT",
            Workload::Select => "point SELECT",
            Workload::Rmw => "read-modify-write",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Workload::Insert => "insert.sql",
            Workload::Select => "select.sql",
            Workload::Rmw => "rmw.sql",
        }
    }

    /// The pgbench script.
    fn script(self, rows: i64) -> String {
        match self {
            Workload::Insert => format!(
                "\\set k random({INSERT_KEY_MIN}, {INSERT_KEY_MAX})\n\
                 INSERT INTO kv (k, v) VALUES (:k, '{VALUE}');\n"
            ),
            Workload::Select => format!(
                "\\set k random(1, {rows})\n\
                 SELECT v FROM kv WHERE k = :k;\n"
            ),
            Workload::Rmw => format!(
                "\\set k random(1, {rows})\n\
                 BEGIN;\n\
                 SELECT v FROM kv WHERE k = :k;\n\
                 UPDATE kv SET v = 'updated-{}' WHERE k = :k;\n\
                 COMMIT;\n",
                VALUE.get(8..).unwrap_or(VALUE)
            ),
        }
    }
}

/// What pgbench printed at the end of one run.
#[derive(Clone, Debug, Default, PartialEq)]
struct Summary {
    processed: u64,
    failed: u64,
    retried: u64,
    retries: u64,
    tps: f64,
}

/// Parses the summary pgbench prints on stdout.
fn parse_summary(out: &str) -> Result<Summary> {
    let field = |prefix: &str| -> Option<&str> {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let count = |prefix: &str| -> Result<Option<u64>> {
        let Some(rest) = field(prefix) else {
            return Ok(None);
        };
        // "1234", "1234 (0.000%)" or, with -t, "1234/2000".
        let n = rest
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or_default();
        n.parse()
            .map(Some)
            .map_err(|_| anyhow!("pgbench printed `{prefix} {rest}`: not a count"))
    };
    let processed = count("number of transactions actually processed:")?
        .ok_or_else(|| anyhow!("pgbench printed no `number of transactions actually processed`"))?;
    let tps_text = field("tps =").ok_or_else(|| anyhow!("pgbench printed no `tps = ` line"))?;
    let tps = tps_text
        .split_whitespace()
        .next()
        .and_then(|t| t.parse::<f64>().ok())
        .ok_or_else(|| anyhow!("pgbench printed `tps = {tps_text}`: not a number"))?;
    Ok(Summary {
        processed,
        failed: count("number of failed transactions:")?.unwrap_or(0),
        retried: count("number of transactions retried:")?.unwrap_or(0),
        retries: count("total number of retries:")?.unwrap_or(0),
        tps,
    })
}

/// Per-transaction log lines: `client_id transaction_no time script_no time_epoch time_us
/// [schedule_lag] [retries]`, where `time` is the latency in microseconds, or `failed`,
/// `serialization`, `deadlock` or `skipped`. Adds the latencies of successful transactions
/// to `out` and returns how many lines were not successes.
fn parse_log(text: &str, out: &mut Vec<u64>) -> Result<u64> {
    let mut unsuccessful = 0;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let time = line
            .split_whitespace()
            .nth(2)
            .ok_or_else(|| anyhow!("pgbench log line {}: `{line}` has no time", i + 1))?;
        match time.parse::<u64>() {
            Ok(us) => out.push(us),
            Err(_) if time.chars().all(|c| c.is_ascii_alphabetic()) => unsuccessful += 1,
            Err(_) => bail!("pgbench log line {}: `{line}`: bad time `{time}`", i + 1),
        }
    }
    Ok(unsuccessful)
}

/// The `q` quantile (0..=1) of a sorted sample, nearest rank; `None` when empty.
fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

/// One cell: one workload at one client count against one database.
#[derive(Clone, Debug, Default)]
struct Figures {
    summary: Summary,
    p50_us: Option<u64>,
    p99_us: Option<u64>,
    /// Cores' worth of CPU the whole machine used during the run (from /proc/stat: user, nice,
    /// system, irq, softirq).
    machine_cores: f64,
    /// Cores' worth of the machine's time idle with I/O outstanding.
    iowait_cores: f64,
    /// Cores' worth of the machine's time taken by the hypervisor.
    steal_cores: f64,
    /// Cores' worth of CPU the three sextant processes used during the run.
    sextant_cores: f64,
    /// Cores' worth of CPU the run's pgbench processes used (this process's reaped children).
    pgbench_cores: f64,
    /// Cores' worth of CPU the PostgreSQL server used during the run.
    postgres_cores: f64,
}

/// Splits `clients` over `targets` connection strings: all on the first, or as evenly as
/// possible over all of them (first ones get the remainder). Targets left without a client
/// are dropped.
fn split_clients(clients: usize, targets: usize) -> Vec<(usize, usize)> {
    let targets = targets.max(1);
    (0..targets)
        .map(|i| (i, clients / targets + usize::from(i < clients % targets)))
        .filter(|&(_, c)| c > 0)
        .collect()
}

/// Everything a pgbench run needs that does not change between runs.
struct Runner {
    pgbench: PathBuf,
    scripts: PathBuf,
    logs: tempfile::TempDir,
    seconds: u64,
    jobs: usize,
    max_tries: u32,
    mode: String,
    runs: usize,
}

impl Runner {
    /// Runs one pgbench process per `(url, clients)` at once, and merges their figures.
    async fn run(&mut self, workload: Workload, targets: &[(String, usize)]) -> Result<Figures> {
        self.runs += 1;
        let dir = self.logs.path().join(format!("run{}", self.runs));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let script = self.scripts.join(workload.file());
        let mut children = Vec::new();
        for (i, (url, clients)) in targets.iter().enumerate() {
            let mut cmd = tokio::process::Command::new(&self.pgbench);
            cmd.arg("-n")
                .arg("-f")
                .arg(&script)
                .arg(format!("-c{clients}"))
                .arg(format!("-j{}", self.jobs.clamp(1, (*clients).max(1))))
                .arg(format!("-T{}", self.seconds))
                .arg(format!("-M{}", self.mode))
                .arg(format!("--max-tries={}", self.max_tries))
                .arg("-l")
                .arg(format!(
                    "--log-prefix={}",
                    dir.join(format!("p{i}")).display()
                ))
                .arg(url)
                .env("PGCONNECT_TIMEOUT", "10")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            let shown = command_line(cmd.as_std());
            let child = cmd
                .spawn()
                .with_context(|| format!("starting pgbench: {shown}"))?;
            children.push((shown, child));
        }
        let limit = Duration::from_secs(self.seconds) + PGBENCH_GRACE;
        let mut total = Summary::default();
        for (shown, child) in children {
            let out = match tokio::time::timeout(limit, child.wait_with_output()).await {
                Ok(out) => out.with_context(|| format!("waiting for {shown}"))?,
                Err(_) => bail!("`{shown}` did not finish within {limit:?} (killed)"),
            };
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                bail!(
                    "`{shown}` failed ({})\nstderr:\n{stderr}\nstdout:\n{stdout}",
                    out.status
                );
            }
            let s = parse_summary(&stdout)
                .with_context(|| format!("`{shown}`\nstderr:\n{stderr}\nstdout:\n{stdout}"))?;
            total.processed += s.processed;
            total.failed += s.failed;
            total.retried += s.retried;
            total.retries += s.retries;
            total.tps += s.tps;
        }
        let mut latencies = Vec::with_capacity(total.processed as usize);
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading pgbench log {}", path.display()))?;
            parse_log(&text, &mut latencies).with_context(|| path.display().to_string())?;
            // The logs can be large (one line per transaction); keep the disk clean.
            let _ = std::fs::remove_file(&path);
        }
        latencies.sort_unstable();
        Ok(Figures {
            summary: total,
            p50_us: quantile(&latencies, 0.50),
            p99_us: quantile(&latencies, 0.99),
            ..Figures::default()
        })
    }
}

/// A `sextant start` process; killed (SIGKILL) and reaped on drop.
struct Node {
    child: std::process::Child,
    listen: String,
    http: String,
    sql: String,
    log: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    fn url(&self) -> String {
        format!("postgresql://root@{}/defaultdb?sslmode=disable", self.sql)
    }

    /// The end of the node's log, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "last lines of {}:\n{}",
            self.log.display(),
            lines[from..].join("\n")
        )
    }

    /// Fails if the process has exited.
    fn check_running(&mut self, name: &str) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!("{name} exited ({status})\n{}", self.log_tail()),
            Err(e) => bail!("{name}: waiting on the process: {e}"),
        }
    }

    /// utime + stime of the process so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        proc_cpu_seconds(self.child.id()).unwrap_or(0.0)
    }
}

/// Three `sextant start` processes. Fields drop in order: the nodes are killed before their
/// store directory is removed.
struct Cluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
}

fn free_ports(n: usize) -> Result<Vec<u16>> {
    // Hold every listener until all ports are chosen, so that they differ.
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind(("127.0.0.1", 0)))
        .collect::<std::io::Result<Vec<_>>>()
        .context("choosing free ports")?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()
        .context("choosing free ports")
}

/// A command as a shell would show it (for error messages).
fn command_line(cmd: &std::process::Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A minimal HTTP/1.0 GET: the status code and body.
async fn http_get(addr: &str, path: &str) -> Result<(u16, String)> {
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(
            format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await?;
        Ok::<_, std::io::Error>(buf)
    };
    let buf = tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .map_err(|_| anyhow!("GET http://{addr}{path}: no answer within 5 s"))?
        .with_context(|| format!("GET http://{addr}{path}"))?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| anyhow!("GET http://{addr}{path}: not an HTTP response: {head}"))?;
    Ok((status, body.to_string()))
}

impl Cluster {
    async fn start(bin: &Path) -> Result<Cluster> {
        let dir = tempfile::Builder::new()
            .prefix("sextant-pgbench-")
            .tempdir()
            .context("temporary directory for the stores")?;
        let ports = free_ports(9)?;
        let addr = |i: usize| format!("127.0.0.1:{}", ports[i]);
        let join: Vec<String> = (0..3).map(addr).collect();
        let mut nodes = Vec::new();
        for (i, az) in ["a", "b", "c"].iter().enumerate() {
            let store = dir.path().join(format!("n{}", i + 1));
            let log = dir.path().join(format!("n{}.log", i + 1));
            let log_file = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            let mut cmd = std::process::Command::new(bin);
            cmd.arg("start")
                .arg("--insecure")
                .arg(format!("--store={}", store.display()))
                .arg(format!("--listen-addr={}", addr(i)))
                .arg(format!("--http-addr={}", addr(3 + i)))
                .arg(format!("--sql-addr={}", addr(6 + i)))
                .arg(format!("--join={}", join.join(",")))
                .arg(format!("--locality=region=us-east1,az={az}"))
                .stdin(Stdio::null())
                .stdout(
                    log_file
                        .try_clone()
                        .with_context(|| format!("opening {}", log.display()))?,
                )
                .stderr(log_file);
            let child = cmd
                .spawn()
                .with_context(|| format!("starting `{}`", command_line(&cmd)))?;
            nodes.push(Node {
                child,
                listen: addr(i),
                http: addr(3 + i),
                sql: addr(6 + i),
                log,
            });
        }
        let mut cluster = Cluster { nodes, dir };
        cluster.init(bin).await?;
        Ok(cluster)
    }

    /// Waits for node 1's HTTP server, runs `sextant init`, then waits for every node to be
    /// ready.
    async fn init(&mut self, bin: &Path) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.nodes[0].check_running("node 1")?;
            if let Ok((200, _)) = http_get(&self.nodes[0].http, "/health").await {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "node 1 did not serve HTTP on {} within {READY_TIMEOUT:?}\n{}",
                    self.nodes[0].http,
                    self.nodes[0].log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let mut init = tokio::process::Command::new(bin);
        init.arg("init")
            .arg("--insecure")
            .arg(format!("--host={}", self.nodes[0].listen))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let shown = command_line(init.as_std());
        let out = tokio::time::timeout(READY_TIMEOUT, init.output())
            .await
            .map_err(|_| anyhow!("`{shown}` did not finish within {READY_TIMEOUT:?}"))?
            .with_context(|| format!("running `{shown}`"))?;
        if !out.status.success() {
            bail!(
                "`{shown}` failed ({})\nstderr:\n{}\nstdout:\n{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
                self.nodes[0].log_tail()
            );
        }
        for i in 0..self.nodes.len() {
            let name = format!("node {}", i + 1);
            loop {
                self.nodes[i].check_running(&name)?;
                let answer = http_get(&self.nodes[i].http, "/health?ready=1").await;
                if let Ok((200, _)) = answer {
                    break;
                }
                if Instant::now() > deadline {
                    let last = match answer {
                        Ok((code, body)) => format!("{code} {body}"),
                        Err(e) => format!("{e:#}"),
                    };
                    bail!(
                        "{name} was not ready within {READY_TIMEOUT:?} of starting (last answer \
                         to /health?ready=1: {last})\n{}",
                        self.nodes[i].log_tail()
                    );
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        Ok(())
    }

    /// Waits until every range has a voter on each of the three nodes.
    async fn wait_replicated(&mut self) -> Result<usize> {
        let deadline = Instant::now() + REPLICATION_TIMEOUT;
        loop {
            for (i, n) in self.nodes.iter_mut().enumerate() {
                n.check_running(&format!("node {}", i + 1))?;
            }
            let last = match http_get(&self.nodes[0].http, "/_status/ranges").await {
                Ok((200, body)) => match serde_json::from_str::<Vec<serde_json::Value>>(&body) {
                    Ok(ranges) => {
                        let short = ranges
                            .iter()
                            .filter(|r| r["voters"].as_array().map_or(0, |v| v.len()) < 3)
                            .count();
                        if short == 0 && !ranges.is_empty() {
                            return Ok(ranges.len());
                        }
                        format!(
                            "{short} of {} ranges with fewer than 3 voters",
                            ranges.len()
                        )
                    }
                    Err(e) => format!("unreadable /_status/ranges: {e}"),
                },
                Ok((code, body)) => format!("/_status/ranges: {code} {body}"),
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!(
                    "the cluster did not replicate every range 3 times within \
                     {REPLICATION_TIMEOUT:?}: {last}"
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn cpu_seconds(&self) -> f64 {
        self.nodes.iter().map(Node::cpu_seconds).sum()
    }

    /// Every range's span, voters and leaseholder, as node 1 reports them.
    async fn describe_ranges(&self) -> String {
        let body = match http_get(&self.nodes[0].http, "/_status/ranges").await {
            Ok((200, body)) => body,
            Ok((code, body)) => return format!("/_status/ranges: {code} {body}"),
            Err(e) => return format!("{e:#}"),
        };
        let ranges = match serde_json::from_str::<Vec<serde_json::Value>>(&body) {
            Ok(r) => r,
            Err(e) => return format!("unreadable /_status/ranges: {e}"),
        };
        ranges
            .iter()
            .map(|r| {
                format!(
                    "r{} [{}, {}) voters {} leaseholder n{}",
                    r["range_id"],
                    r["start_key"].as_str().unwrap_or("?"),
                    r["end_key"].as_str().unwrap_or("?"),
                    r["voters"],
                    r["leaseholder"]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// utime + stime of a process, seconds (USER_HZ = 100).
fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    stat_seconds(&format!("/proc/{pid}/stat"), &[11, 12])
}

/// cutime + cstime of this process: the CPU of its children that have been waited for (the
/// pgbench processes; the nodes are waited for only when they are stopped).
fn reaped_children_cpu_seconds() -> Option<f64> {
    stat_seconds("/proc/self/stat", &[13, 14])
}

/// The sum of some clock-tick fields of a `/proc/PID/stat` file, in seconds; `fields` count
/// from the state field (field 3 of proc(5)) as 0.
fn stat_seconds(path: &str, fields: &[usize]) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let after = stat.rsplit(')').next()?;
    let all: Vec<&str> = after.split_whitespace().collect();
    let mut ticks = 0.0;
    for &i in fields {
        ticks += all.get(i)?.parse::<f64>().ok()?;
    }
    Some(ticks / 100.0)
}

/// The whole machine's CPU time so far (first line of /proc/stat), in jiffies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Jiffies {
    /// user, nice, system, irq and softirq.
    busy: u64,
    /// Idle with I/O outstanding.
    iowait: u64,
    /// Taken by the hypervisor for other guests.
    steal: u64,
}

fn parse_proc_stat(stat: &str) -> Option<Jiffies> {
    let line = stat.lines().next()?;
    let mut words = line.split_whitespace();
    if words.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = words.map(|x| x.parse().ok()).collect::<Option<_>>()?;
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already
    // in user and nice.
    Some(Jiffies {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        iowait: at(4),
        steal: at(7),
    })
}

fn machine_jiffies() -> Option<Jiffies> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn mem_total_gib() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: f64 = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0 / 1024.0)
}

/// Creates `kv` and loads keys 1..=rows.
async fn load(url: &str, rows: i64) -> Result<()> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(conn);
    c.batch_execute("CREATE TABLE kv (k INT8 PRIMARY KEY, v TEXT NOT NULL)")
        .await
        .with_context(|| format!("CREATE TABLE kv on {url}"))?;
    let mut from = 1;
    while from <= rows {
        let to = (from + PRELOAD_BATCH - 1).min(rows);
        let mut sql = String::from("INSERT INTO kv (k, v) VALUES ");
        for k in from..=to {
            if k > from {
                sql.push(',');
            }
            let _ = write!(sql, "({k}, '{VALUE}')");
        }
        c.batch_execute(&sql)
            .await
            .with_context(|| format!("preloading keys {from}..={to} on {url}"))?;
        from = to + 1;
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .with_context(|| format!("counting kv on {url}"))?
        .get(0);
    if n != rows {
        bail!("{url}: kv holds {n} rows after preloading {rows}");
    }
    Ok(())
}

async fn show(url: &str, names: &[&str]) -> Result<Vec<String>> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {url}"))?;
    tokio::spawn(conn);
    let mut out = Vec::new();
    for name in names {
        let row = c
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .with_context(|| format!("SHOW {name}"))?;
        out.push(row.try_get::<_, String>(0)?);
    }
    Ok(out)
}

fn sextant_bin(args: &Args) -> Result<PathBuf> {
    if let Some(b) = &args.sextant_bin {
        return Ok(b.clone());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("sextant")));
    match beside {
        Some(b) if b.exists() => Ok(b),
        _ => bail!(
            "no sextant binary: build it (cargo build --release -p sextant-cli) and pass \
             --sextant-bin or set SEXTANT_BIN"
        ),
    }
}

fn pgbench_bin(args: &Args, pg: &PgServer) -> PathBuf {
    if let Some(b) = &args.pgbench {
        return b.clone();
    }
    let beside = pg.bin_dir().join("pgbench");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("pgbench")
    }
}

/// `BIN --version`, and for files their path and modification time.
async fn version_of(bin: &Path) -> String {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map(|t| {
            format!(
                " ({}, modified {})",
                bin.display(),
                chrono::DateTime::<chrono::Utc>::from(t).format("%Y-%m-%d %H:%M UTC")
            )
        })
        .unwrap_or_default();
    match tokio::process::Command::new(bin)
        .arg("--version")
        .output()
        .await
    {
        Ok(o) if o.status.success() => {
            format!("{}{built}", String::from_utf8_lossy(&o.stdout).trim())
        }
        Ok(o) => format!("`{} --version` failed ({})", bin.display(), o.status),
        Err(e) => format!("`{} --version`: {e}", bin.display()),
    }
}

/// One cell's result: figures, or the error that stopped its run.
type Cell = std::result::Result<Figures, String>;

/// The parent pid and `/proc/PID/stat` clock-tick fields of every process.
fn processes() -> Vec<(u32, u32, Vec<u64>)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = after.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        out.push((pid, num(1) as u32, vec![num(11), num(12), num(13), num(14)]));
    }
    out
}

/// The PostgreSQL server listening on `port`: its postmaster's pid, found by its command line
/// (`postgres ... -p PORT ...`).
fn postmaster_pid(port: u16) -> Option<u32> {
    let want = format!("-p\0{port}\0");
    let dir = std::fs::read_dir("/proc").ok()?;
    dir.flatten().find_map(|e| {
        let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd);
        let program = cmd.split('\0').next()?;
        (program.ends_with("/postgres") && cmd.contains(&want)).then_some(pid)
    })
}

/// CPU seconds of a PostgreSQL server: the postmaster's own and its reaped children's (the
/// backends that exited), plus its live children's (background workers, live backends).
fn server_cpu_seconds(postmaster: u32) -> f64 {
    let ticks: u64 = processes()
        .iter()
        .filter(|(pid, ppid, _)| *pid == postmaster || *ppid == postmaster)
        .map(|(_, _, t)| t.iter().sum::<u64>())
        .sum();
    ticks as f64 / 100.0
}

/// Runs one cell, measuring the machine's, the cluster's, pgbench's and PostgreSQL's CPU
/// around it.
async fn measure(
    runner: &mut Runner,
    cluster: &Cluster,
    postmaster: Option<u32>,
    workload: Workload,
    targets: &[(String, usize)],
) -> Cell {
    let pg_cpu = || postmaster.map(server_cpu_seconds);
    let m0 = machine_jiffies();
    let s0 = cluster.cpu_seconds();
    let c0 = reaped_children_cpu_seconds();
    let p0 = pg_cpu();
    let t0 = Instant::now();
    let r = runner.run(workload, targets).await;
    // Let the server reap the run's backends, so that their CPU shows in its children's.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let wall = t0.elapsed().as_secs_f64();
    let s1 = cluster.cpu_seconds();
    let c1 = reaped_children_cpu_seconds();
    let p1 = pg_cpu();
    let m1 = machine_jiffies();
    match r {
        Ok(mut f) => {
            if let (Some(a), Some(b)) = (m0, m1) {
                let cores = |x: u64, y: u64| y.saturating_sub(x) as f64 / 100.0 / wall;
                f.machine_cores = cores(a.busy, b.busy);
                f.iowait_cores = cores(a.iowait, b.iowait);
                f.steal_cores = cores(a.steal, b.steal);
            }
            f.sextant_cores = (s1 - s0) / wall;
            if let (Some(c0), Some(c1)) = (c0, c1) {
                f.pgbench_cores = (c1 - c0) / wall;
            }
            if let (Some(p0), Some(p1)) = (p0, p1) {
                f.postgres_cores = (p1 - p0) / wall;
            }
            Ok(f)
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

pub async fn run(args: Args) -> Result<()> {
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients needs positive client counts");
    }
    if args.rows < 1 || args.rows >= INSERT_KEY_MIN {
        bail!("--rows must be between 1 and {}", INSERT_KEY_MIN - 1);
    }
    let bin = sextant_bin(&args)?;
    let started_load = load_average();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());

    let pg = PgServer::try_start(Durability::Durable).map_err(|e| anyhow!(e))?;
    let pg_url = pg.url("postgres");
    let postmaster = postmaster_pid(pg.port);
    if postmaster.is_none() {
        eprintln!("note: PostgreSQL's postmaster not found in /proc; its CPU is not measured");
    }
    let pgbench = pgbench_bin(&args, &pg);
    let pgbench_version = version_of(&pgbench).await;
    let settings = show(
        &pg_url,
        &[
            "server_version",
            "fsync",
            "full_page_writes",
            "synchronous_commit",
            "default_transaction_isolation",
        ],
    )
    .await?;

    let t = Instant::now();
    let mut cluster = Cluster::start(&bin).await?;
    let ready_secs = t.elapsed().as_secs_f64();
    let sx_urls: Vec<String> = cluster.nodes.iter().map(Node::url).collect();
    load(&sx_urls[0], args.rows).await?;
    let ranges = cluster.wait_replicated().await?;
    load(&pg_url, args.rows).await?;

    let scripts = tempfile::Builder::new()
        .prefix("sextant-pgbench-scripts-")
        .tempdir()
        .context("temporary directory for the scripts")?;
    for w in &args.workloads {
        let p = scripts.path().join(w.file());
        std::fs::write(&p, w.script(args.rows))
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let mut runner = Runner {
        pgbench,
        scripts: scripts.path().to_path_buf(),
        logs: tempfile::Builder::new()
            .prefix("sextant-pgbench-logs-")
            .tempdir()
            .context("temporary directory for pgbench's logs")?,
        seconds: args.seconds,
        jobs: args.jobs,
        max_tries: args.max_tries,
        mode: args.mode.clone(),
        runs: 0,
    };

    let mut cells: Vec<(Workload, usize, Cell, Cell)> = Vec::new();
    for &w in &args.workloads {
        for &c in &args.clients {
            let sx_targets: Vec<(String, usize)> = match args.gateways {
                Gateways::First => vec![(sx_urls[0].clone(), c)],
                Gateways::Spread => split_clients(c, sx_urls.len())
                    .into_iter()
                    .map(|(i, n)| (sx_urls[i].clone(), n))
                    .collect(),
            };
            eprintln!(
                "pgbench: {} -c {c}: sextant ({}) ...",
                w.name(),
                sx_targets
                    .iter()
                    .map(|(_, n)| n.to_string())
                    .collect::<Vec<_>>()
                    .join("+")
            );
            let sx = measure(&mut runner, &cluster, postmaster, w, &sx_targets).await;
            if let Err(e) = &sx {
                eprintln!("  sextant failed: {e}");
            }
            eprintln!("pgbench: {} -c {c}: postgres ...", w.name());
            let pg_cell =
                measure(&mut runner, &cluster, postmaster, w, &[(pg_url.clone(), c)]).await;
            if let Err(e) = &pg_cell {
                eprintln!("  postgres failed: {e}");
            }
            cells.push((w, c, sx, pg_cell));
        }
    }
    for (i, n) in cluster.nodes.iter_mut().enumerate() {
        if let Err(e) = n.check_running(&format!("node {}", i + 1)) {
            eprintln!("after the runs: {e:#}");
        }
    }
    let store_dir = cluster.dir.path().display().to_string();
    let ranges_after = cluster.describe_ranges().await;
    drop(cluster);
    drop(pg);

    let report = Report {
        args: &args,
        cores,
        mem_gib: mem_total_gib(),
        load_start: started_load,
        load_end: load_average(),
        pgbench_version,
        settings,
        sextant_version: version_of(&bin).await,
        store_dir,
        ready_secs,
        ranges,
        ranges_after,
        cells: &cells,
    };
    print!("{}", report.render());
    let failures = cells
        .iter()
        .filter(|(_, _, s, p)| s.is_err() || p.is_err())
        .count();
    if failures > 0 {
        bail!("{failures} cell(s) failed; their errors are printed above");
    }
    Ok(())
}

struct Report<'a> {
    args: &'a Args,
    cores: usize,
    mem_gib: Option<f64>,
    load_start: String,
    load_end: String,
    pgbench_version: String,
    settings: Vec<String>,
    sextant_version: String,
    store_dir: String,
    ready_secs: f64,
    ranges: usize,
    ranges_after: String,
    cells: &'a [(Workload, usize, Cell, Cell)],
}

impl Figures {
    /// `machine sextant postgres pgbench rest` cores.
    fn cpu(&self) -> String {
        let rest =
            self.machine_cores - self.sextant_cores - self.postgres_cores - self.pgbench_cores;
        format!(
            "{:>5.2}{:>5.2}{:>5.2}{:>5.2}{:>5.2}",
            self.machine_cores,
            self.sextant_cores,
            self.postgres_cores,
            self.pgbench_cores,
            rest.max(0.0)
        )
    }

    /// `iowait/steal` cores.
    fn waits(&self) -> String {
        format!("{:.2}/{:.2}", self.iowait_cores, self.steal_cores)
    }
}

fn ms(us: Option<u64>) -> String {
    us.map_or_else(|| "-".into(), |u| format!("{:.2}", u as f64 / 1000.0))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "n/a".into(), |r| format!("{r:.2}x"))
}

impl Report<'_> {
    fn cell(&self, w: Workload, c: usize) -> Option<(&Cell, &Cell)> {
        self.cells
            .iter()
            .find(|(cw, cc, _, _)| *cw == w && *cc == c)
            .map(|(_, _, s, p)| (s, p))
    }

    fn tps(&self, w: Workload, c: usize, sextant: bool) -> Option<f64> {
        let (s, p) = self.cell(w, c)?;
        let cell = if sextant { s } else { p };
        cell.as_ref().ok().map(|f| f.summary.tps)
    }

    fn render(&self) -> String {
        let a = self.args;
        let setting = |i: usize| self.settings.get(i).map_or("?", String::as_str);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "\npgbench: kv (INT8 PRIMARY KEY, 80-byte TEXT), {} preloaded rows; -T {} s per run, \
             -M {}, -j {} per pgbench process, --max-tries {}",
            a.rows, a.seconds, a.mode, a.jobs, a.max_tries
        );
        let _ = writeln!(
            o,
            "machine: nproc {}, {} memory; load average {} at the start, {} at the end",
            self.cores,
            self.mem_gib
                .map_or_else(|| "unknown".into(), |g| format!("{g:.1} GiB")),
            self.load_start,
            self.load_end
        );
        let _ = writeln!(o, "client: {}", self.pgbench_version);
        let _ = writeln!(
            o,
            "sextant: {}; 3 `sextant start` processes on this machine, stores on disk under {}, \
             localities region=us-east1,az=a|b|c; ready {:.1} s after start; {} ranges, each with 3 voters; \
             clients {}",
            self.sextant_version,
            self.store_dir,
            self.ready_secs,
            self.ranges,
            match a.gateways {
                Gateways::Spread => "spread over the 3 nodes (one pgbench process per node)",
                Gateways::First => "all on node 1",
            }
        );
        let _ = writeln!(o, "sextant ranges after the runs: {}", self.ranges_after);
        let _ = writeln!(
            o,
            "postgres: {} (one server, one pgbench process), fsync={} full_page_writes={} \
             synchronous_commit={}, default isolation {}",
            setting(0),
            setting(1),
            setting(2),
            setting(3),
            setting(4)
        );
        let _ = writeln!(
            o,
            "\n{:<18}{:>4} | {:>9}{:>8}{:>8}{:>8}{:>7} | {:>9}{:>8}{:>8}{:>7} | {:>7}{:>7}",
            "workload",
            "-c",
            "sx tps",
            "p50 ms",
            "p99 ms",
            "retried",
            "failed",
            "pg tps",
            "p50 ms",
            "p99 ms",
            "failed",
            "tps x",
            "p99 x"
        );
        let mut errors = Vec::new();
        let mut cpu = String::new();
        for (w, c, s, p) in self.cells {
            let mut line = format!("{:<18}{:>4} | ", w.name(), c);
            let _ = write!(cpu, "{:<18}{:>4} | ", w.name(), c);
            match s {
                Ok(f) => {
                    let _ = write!(
                        line,
                        "{:>9.0}{:>8}{:>8}{:>8}{:>7}",
                        f.summary.tps,
                        ms(f.p50_us),
                        ms(f.p99_us),
                        f.summary.retried,
                        f.summary.failed,
                    );
                    let _ = write!(cpu, "{}{:>11}", f.cpu(), f.waits());
                }
                Err(e) => {
                    let _ = write!(line, "{:>40}", "error (below)");
                    let _ = write!(cpu, "{:>36}", "-");
                    errors.push(format!("sextant {} -c {c}: {e}", w.name()));
                }
            }
            line.push_str(" | ");
            cpu.push_str(" | ");
            match p {
                Ok(f) => {
                    let _ = write!(
                        line,
                        "{:>9.0}{:>8}{:>8}{:>7}",
                        f.summary.tps,
                        ms(f.p50_us),
                        ms(f.p99_us),
                        f.summary.failed,
                    );
                    let _ = writeln!(cpu, "{}{:>11}", f.cpu(), f.waits());
                }
                Err(e) => {
                    let _ = write!(line, "{:>32}", "error (below)");
                    let _ = writeln!(cpu, "{:>36}", "-");
                    errors.push(format!("postgres {} -c {c}: {e}", w.name()));
                }
            }
            let (st, pt) = (s.as_ref().ok(), p.as_ref().ok());
            let tps = ratio(st.map(|f| f.summary.tps), pt.map(|f| f.summary.tps));
            let p99 = ratio(
                st.and_then(|f| f.p99_us).map(|u| u as f64),
                pt.and_then(|f| f.p99_us).map(|u| u as f64),
            );
            let _ = writeln!(line, " | {:>7}{:>7}", fmt_ratio(tps), fmt_ratio(p99));
            o.push_str(&line);
        }
        let _ = writeln!(
            o,
            "\nCPU over each run, in cores (of {}): mach = the whole machine (user, nice, \
             system, irq, softirq); sx = sextant's 3 processes (working in sextant runs, idle \
             in postgres runs); pg = PostgreSQL's server (idle in sextant runs); pgb = the \
             pgbench processes; rest = mach - sx - pg - pgb: kernel threads and other users' \
             processes. io/st = the machine's iowait / steal.",
            self.cores
        );
        let head = format!(
            "{:>5}{:>5}{:>5}{:>5}{:>5}{:>11}",
            "mach", "sx", "pg", "pgb", "rest", "io/st"
        );
        let _ = writeln!(
            o,
            "{:<22} | {:<36} | {:<36}\n{:<18}{:>4} | {head} | {head}",
            "", "sextant run", "postgres run", "workload", "-c"
        );
        o.push_str(&cpu);
        let _ = writeln!(o, "\ntargets:");
        let target = |o: &mut String, what: &str, r: Option<f64>, goal: f64| {
            let verdict = match r {
                Some(r) if r >= goal => "met",
                Some(_) => "MISSED",
                None => "not measured",
            };
            let _ = writeln!(
                o,
                "  {what:<58}{:>8}   target >= {goal}   {verdict}",
                fmt_ratio(r)
            );
        };
        target(
            &mut o,
            "sextant INSERT tps -c 8 / -c 1",
            ratio(
                self.tps(Workload::Insert, 8, true),
                self.tps(Workload::Insert, 1, true),
            ),
            5.0,
        );
        target(
            &mut o,
            "sextant INSERT tps -c 32 / postgres INSERT tps -c 32",
            ratio(
                self.tps(Workload::Insert, 32, true),
                self.tps(Workload::Insert, 32, false),
            ),
            0.3,
        );
        target(
            &mut o,
            "sextant point SELECT tps -c 8 / postgres -c 8",
            ratio(
                self.tps(Workload::Select, 8, true),
                self.tps(Workload::Select, 8, false),
            ),
            0.9,
        );
        let _ = writeln!(
            o,
            "  (postgres INSERT tps -c 8 / -c 1, for reference: {})",
            fmt_ratio(ratio(
                self.tps(Workload::Insert, 8, false),
                self.tps(Workload::Insert, 1, false),
            ))
        );
        if !errors.is_empty() {
            let _ = writeln!(o, "\nerrors:");
            for e in errors {
                let _ = writeln!(o, "- {e}");
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUMMARY: &str = "pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: rmw.sql
scaling factor: 1
query mode: prepared
number of clients: 4
number of threads: 2
maximum number of tries: 10
duration: 2 s
number of transactions actually processed: 1379
number of failed transactions: 3 (0.217%)
number of transactions retried: 12 (0.870%)
total number of retries: 15
latency average = 5.799 ms
initial connection time = 19.491 ms
tps = 689.716226 (without initial connection time)
";

    #[test]
    fn parses_pgbench_summaries() {
        assert_eq!(
            parse_summary(SUMMARY).unwrap(),
            Summary {
                processed: 1379,
                failed: 3,
                retried: 12,
                retries: 15,
                tps: 689.716226,
            }
        );
        // --max-tries 1 prints no retry lines.
        let single = "number of transactions actually processed: 1188\n\
                      number of failed transactions: 0 (0.000%)\n\
                      tps = 596.376561 (without initial connection time)\n";
        let s = parse_summary(single).unwrap();
        assert_eq!(
            (s.processed, s.failed, s.retried, s.tps),
            (1188, 0, 0, 596.376561)
        );
        assert!(parse_summary("number of transactions actually processed: 5\n").is_err());
        assert!(parse_summary("tps = 5.0\n").is_err());
        assert!(parse_summary("number of transactions actually processed: x\ntps = 1\n").is_err());
        assert!(
            parse_summary("number of transactions actually processed: 5\ntps = fast\n").is_err()
        );
    }

    #[test]
    fn parses_logs_and_takes_percentiles() {
        let log = "0 1 6944 0 1796617560 288826 0\n\
                   1 1 5864 0 1796617560 288838 2\n\
                   1 2 failed 0 1796617560 292830 9\n\
                   3 1 serialization 0 1796617560 292831 9\n\
                   \n\
                   2 1 100 0 1796617560 284352\n";
        let mut lat = Vec::new();
        assert_eq!(parse_log(log, &mut lat).unwrap(), 2);
        assert_eq!(lat, [6944, 5864, 100]);
        assert!(parse_log("0 1\n", &mut lat).is_err());
        assert!(parse_log("0 1 12.5 0 1 2\n", &mut lat).is_err());

        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&sorted, 0.50), Some(50));
        assert_eq!(quantile(&sorted, 0.99), Some(99));
        assert_eq!(quantile(&sorted, 1.0), Some(100));
        assert_eq!(quantile(&sorted, 0.0), Some(1));
        assert_eq!(quantile(&[7], 0.99), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn reads_proc_stat() {
        let stat =
            "cpu  2760037 249345 246927 319053 5305 7 25082 1682 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(
            parse_proc_stat(stat),
            Some(Jiffies {
                busy: 2760037 + 249345 + 246927 + 7 + 25082,
                iowait: 5305,
                steal: 1682,
            })
        );
        assert_eq!(parse_proc_stat("intr 1 2\n"), None);
        assert_eq!(parse_proc_stat("cpu 1 x\n"), None);
    }

    #[test]
    fn splits_clients_over_nodes_and_writes_scripts() {
        assert_eq!(split_clients(1, 3), [(0, 1)]);
        assert_eq!(split_clients(8, 3), [(0, 3), (1, 3), (2, 2)]);
        assert_eq!(split_clients(32, 3), [(0, 11), (1, 11), (2, 10)]);
        assert_eq!(split_clients(5, 1), [(0, 5)]);
        let insert = Workload::Insert.script(10);
        assert!(insert.starts_with("\\set k random(1000000000, 9000000000000000000)\n"));
        let rmw = Workload::Rmw.script(10_000);
        assert!(rmw.starts_with("\\set k random(1, 10000)\nBEGIN;\n"));
        assert!(rmw.ends_with("COMMIT;\n"));
        assert_eq!(VALUE.len(), 80);
    }
}
