//! CHANGEFEED benchmarks: a three-node cluster (stores on disk, three replicas) feeding a
//! webhook endpoint served by this process, against PostgreSQL 15's logical decoding
//! (`pg_recvlogical` with the `test_decoding` plugin) and `pg_dump` on the same machine, in
//! the same run.
//!
//! Four figures, each printed next to its reference and the ratio:
//! 1. Commit-to-sink latency: single-row INSERTs committed at a steady `--rate` from
//!    `--connections` connections; latency is the arrival time of the row at the sink (the
//!    webhook, or a line of `pg_recvlogical`'s stdout read as it comes) minus the time the
//!    client got the commit acknowledgement, matched by primary key.
//! 2. Delivered rows/s under a load of multi-row INSERTs (`--load-rows` rows in statements of
//!    `--batch` rows from `--load-connections` connections, as fast as each database takes
//!    them, or at `--load-rate` rows/s): the rate at which the middle 80 % of the rows reached
//!    the sink, next to the insert rate each database sustained (the offered load).
//! 3. Resolved-timestamp lag: wall clock minus the latest `resolved` message received,
//!    sampled every 100 ms during the latency run, ÷ the cluster's closed-timestamp target.
//! 4. Initial scan: `initial_scan='only'` of a table of `--scan-mb` MB of row data into the
//!    webhook (the bytes arrive and are counted) ÷ `pg_dump --data-only` of the same table.
//!
//! PostgreSQL runs with its defaults (fsync on, synchronous_commit on) plus
//! `wal_level=logical`, started here from the binaries `client::testing::PgServer` uses,
//! because that fixture takes no server options.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use axum::Router;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use server::{LocalCluster, LocalClusterOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Options of the CHANGEFEED benchmark.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Single-row commits per second in the latency run.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of the latency run (also the resolved-lag sampling window).
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Connections the latency run's commits are spread over (so a slow commit does not
    /// hold back the schedule).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Rows inserted by the throughput run.
    #[arg(long, default_value_t = 10_000)]
    load_rows: usize,
    /// Rows per INSERT statement in the throughput run and when loading the scanned table.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Connections of the throughput run.
    #[arg(long, default_value_t = 4)]
    load_connections: usize,
    /// Offered rows/s of the throughput run; 0: as fast as the database takes them.
    #[arg(long, default_value_t = 0.0)]
    load_rate: f64,
    /// Size of the table scanned by the initial-scan run, MB of row data.
    #[arg(long, default_value_t = 24)]
    scan_mb: usize,
    /// Closed-timestamp target of the cluster, ms (default: the server's default).
    #[arg(long)]
    closed_ts_target_ms: Option<u64>,
}

/// Bytes of the text column of every row; the key is an INT8.
const VALUE_LEN: usize = 100;
const SCAN_VALUE_LEN: usize = 1800;
/// Keys of the throughput run start here (the latency run uses 0..).
const LOAD_BASE: i64 = 10_000_000;
const SCHEMA: &str = "CREATE TABLE cf (k INT8 PRIMARY KEY, v TEXT NOT NULL); \
                      CREATE TABLE big (k INT8 PRIMARY KEY, v TEXT NOT NULL)";
/// How long to wait for the last rows of a run to reach the sink.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);

/// The text of row `k`: its key, then pseudo-random letters and digits (the same on every run;
/// neither database can compress it away).
fn value(k: i64, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut s = format!("v{k:012}-");
    let mut x = (k as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while s.len() < len {
        // xorshift64*
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        s.push(char::from(ALPHABET[(r >> 58) as usize % ALPHABET.len()]));
    }
    s
}

/// `INSERT INTO <table> (k, v) VALUES (...), ...` for keys `keys`.
fn multi_insert(table: &str, keys: std::ops::Range<i64>, len: usize) -> String {
    let mut s = format!("INSERT INTO {table} (k, v) VALUES ");
    for (i, k) in keys.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("({k},'{}')", value(k, len)));
    }
    s
}

/// Wall-clock nanoseconds since the Unix epoch (the benchmark's own clock, outside any node,
/// for commit-to-emit latencies).
#[allow(clippy::disallowed_methods)]
fn wall_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Quantile `q` of a sorted sample.
fn quantile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// The median and 99th percentile of sorted latencies (NaN when there are none).
fn median_and_p99(sorted: &[f64]) -> (f64, f64) {
    (
        quantile(sorted, 0.5).unwrap_or(f64::NAN),
        quantile(sorted, 0.99).unwrap_or(f64::NAN),
    )
}

// ---------------------------------------------------------------------------------------
// What arrived at a sink.

/// Arrivals at one sink (a webhook path, or pg_recvlogical's stdout).
#[derive(Default)]
struct Arrivals {
    /// First arrival of each key.
    rows: HashMap<i64, Instant>,
    /// Rows and bytes received (duplicates included).
    row_count: usize,
    bytes: usize,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Wall nanoseconds of the latest resolved timestamp received.
    resolved: Option<i64>,
    /// A body the benchmark could not read.
    error: Option<String>,
}

impl Arrivals {
    fn saw(&mut self, at: Instant, bytes: usize) {
        self.bytes += bytes;
        self.first.get_or_insert(at);
        self.last = Some(at);
    }

    fn row(&mut self, k: i64, at: Instant) {
        self.row_count += 1;
        self.rows.entry(k).or_insert(at);
    }
}

type Shared = Arc<Mutex<Arrivals>>;

fn lock(a: &Shared) -> std::sync::MutexGuard<'_, Arrivals> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records one webhook body: `{"payload":[...],"length":N}` or `{"resolved":"<wall>.<logical>"}`.
/// With `keys`, every message's key is read; without, only the length is (the scan's bodies
/// are large and only counted).
fn record_webhook(a: &mut Arrivals, body: &[u8], keys: bool, at: Instant) -> Result<()> {
    a.saw(at, body.len());
    if !keys {
        let tail = &body[body.len().saturating_sub(40)..];
        let tail = std::str::from_utf8(tail).unwrap_or("");
        if let Some(i) = tail.rfind("\"length\":") {
            let n: String = tail
                .get(i + 9..)
                .unwrap_or("")
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            a.row_count += n.parse::<usize>().context("webhook length")?;
            return Ok(());
        }
    }
    let v: serde_json::Value = serde_json::from_slice(body).context("webhook body")?;
    if let Some(r) = v.get("resolved").and_then(|r| r.as_str()) {
        let wall = r.split('.').next().unwrap_or("");
        let wall: i64 = wall.parse().context("resolved timestamp")?;
        a.resolved = Some(a.resolved.map_or(wall, |w| w.max(wall)));
        return Ok(());
    }
    let payload = v
        .get("payload")
        .and_then(|p| p.as_array())
        .ok_or_else(|| anyhow!("webhook body without payload"))?;
    for m in payload {
        let k = m
            .get("key")
            .and_then(|k| k.get(0))
            .and_then(|k| k.as_i64())
            .ok_or_else(|| anyhow!("message without an integer key: {m}"))?;
        a.row(k, at);
    }
    Ok(())
}

/// Records one line of `test_decoding` output, e.g.
/// `table public.cf: INSERT: k[bigint]:17 v[text]:'...'`.
fn record_decoded(a: &mut Arrivals, line: &str, at: Instant) {
    a.saw(at, line.len() + 1);
    let Some(rest) = line.strip_prefix("table public.cf: INSERT: k[bigint]:") else {
        return;
    };
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    if let Ok(k) = digits.parse() {
        a.row(k, at);
    }
}

/// The webhook endpoint: `POST /<feed>` with a sink per feed name.
struct Webhook {
    addr: std::net::SocketAddr,
    feeds: Arc<HashMap<&'static str, Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Webhook {
    async fn start(names: &[&'static str]) -> Result<Webhook> {
        let feeds: Arc<HashMap<&'static str, Shared>> =
            Arc::new(names.iter().map(|n| (*n, Shared::default())).collect());
        let app = Router::new()
            .route("/{feed}", post(hook))
            .layer(DefaultBodyLimit::disable())
            .with_state(feeds.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("webhook server: {e}");
            }
        });
        Ok(Webhook { addr, feeds, task })
    }

    fn uri(&self, feed: &str) -> String {
        format!("webhook-http://{}/{feed}", self.addr)
    }

    fn feed(&self, name: &str) -> Result<Shared> {
        self.feeds
            .get(name)
            .cloned()
            .ok_or_else(|| anyhow!("no webhook feed {name}"))
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(
    State(feeds): State<Arc<HashMap<&'static str, Shared>>>,
    UrlPath(feed): UrlPath<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let at = Instant::now();
    let Some(a) = feeds.get(feed.as_str()) else {
        return StatusCode::NOT_FOUND;
    };
    let mut a = lock(a);
    if let Err(e) = record_webhook(&mut a, &body, feed != "scan", at) {
        a.error.get_or_insert(format!("{e:#}"));
        return StatusCode::BAD_REQUEST;
    }
    StatusCode::OK
}

/// Waits until `sink` holds every key of `keys`, or fails after `timeout`.
async fn wait_keys(sink: &Shared, keys: &[i64], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let missing = {
            let a = lock(sink);
            if let Some(e) = &a.error {
                bail!("sink: {e}");
            }
            keys.iter().filter(|k| !a.rows.contains_key(k)).count()
        };
        if missing == 0 {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{missing} of {} rows did not reach the sink within {timeout:?}",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL with wal_level=logical.

struct Postgres {
    port: u16,
    bin: PathBuf,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

fn pg_bin() -> PathBuf {
    std::env::var_os("SEXTANT_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(client::testing::DEFAULT_PG_BIN))
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A server binary, run as `postgres` when we are root (PostgreSQL refuses root).
fn server_command(bin: &Path, program: &str, as_postgres: bool) -> std::process::Command {
    if as_postgres {
        let mut c = std::process::Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        std::process::Command::new(bin.join(program))
    }
}

fn run_checked(mut cmd: std::process::Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    ensure!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

impl Postgres {
    fn start() -> Result<Postgres> {
        let bin = pg_bin();
        for p in ["initdb", "pg_ctl", "pg_recvlogical", "pg_dump"] {
            ensure!(
                bin.join(p).exists(),
                "PostgreSQL 15 ({p} in {}) is not installed: run scripts/test-deps.sh",
                bin.display()
            );
        }
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("sextant-cfbench-pg-")
            .tempdir()?;
        if as_postgres {
            run_checked(
                {
                    let mut c = std::process::Command::new("chown");
                    c.arg("postgres:").arg(dir.path());
                    c
                },
                "chown postgres",
            )?;
        }
        let data = dir.path().join("data");
        let mut initdb = server_command(&bin, "initdb", as_postgres);
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        run_checked(initdb, "initdb")?;
        let port = std::net::TcpListener::bind(("127.0.0.1", 0))?
            .local_addr()?
            .port();
        let opts = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c wal_level=logical \
             -c max_wal_senders=4 -c max_replication_slots=4",
            dir.path().display()
        );
        let mut ctl = server_command(&bin, "pg_ctl", as_postgres);
        ctl.arg("start")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o", &opts]);
        let pg = Postgres {
            port,
            bin,
            as_postgres,
            dir,
        };
        run_checked(ctl, "pg_ctl start").map_err(|e| {
            let log = std::fs::read_to_string(pg.dir.path().join("server.log"));
            anyhow!("{e:#}\nserver log:\n{}", log.unwrap_or_default())
        })?;
        Ok(pg)
    }

    fn config(&self) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        c
    }

    fn client_command(&self, program: &str) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        c
    }

    /// Follows slot `slot` with pg_recvlogical, recording every decoded line into `sink`.
    fn follow(&self, slot: &str, sink: Shared) -> Result<tokio::process::Child> {
        let mut cmd = self.client_command("pg_recvlogical");
        cmd.args(["-d", "postgres", "--slot", slot, "--start", "-f", "-"])
            .args(["-o", "include-xids=0", "-o", "skip-empty-xacts=1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting pg_recvlogical")?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("pg_recvlogical has no stdout"))?;
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let at = Instant::now();
                record_decoded(&mut lock(&sink), &line, at);
            }
        });
        Ok(child)
    }

    /// `pg_dump --data-only` of `table`: (bytes written to stdout, seconds).
    async fn dump(&self, table: &str) -> Result<(usize, f64)> {
        let started = Instant::now();
        let mut cmd = self.client_command("pg_dump");
        cmd.args(["-d", "postgres", "--data-only", "-t", table])
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting pg_dump")?;
        let mut out = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("pg_dump has no stdout"))?;
        let mut buf = vec![0u8; 1 << 16];
        let mut bytes = 0;
        loop {
            let n = out.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            bytes += n;
        }
        let status = child.wait().await?;
        ensure!(status.success(), "pg_dump failed: {status}");
        Ok((bytes, started.elapsed().as_secs_f64()))
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = server_command(&self.bin, "pg_ctl", self.as_postgres)
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w"])
            .output();
    }
}

// ---------------------------------------------------------------------------------------
// Load.

async fn connect_all(
    cfg: &tokio_postgres::Config,
    n: usize,
) -> Result<Vec<Arc<tokio_postgres::Client>>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (c, conn) = cfg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        out.push(Arc::new(c));
    }
    Ok(out)
}

/// Runs jobs `0..n` over `clients`, starting job `i` no earlier than `i / rate` seconds
/// after the start (`rate` 0: as soon as a connection is free). `job(client, i)` returns
/// when its statement is acknowledged. Returns the acknowledgement time of every job and
/// the elapsed seconds.
async fn paced<F, Fut>(
    clients: &[Arc<tokio_postgres::Client>],
    n: usize,
    rate: f64,
    job: F,
) -> Result<(Vec<Instant>, f64)>
where
    F: Fn(Arc<tokio_postgres::Client>, usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (c, next, job) = (c.clone(), next.clone(), job.clone());
        tasks.push(tokio::spawn(async move {
            let mut acks = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(acks);
                }
                if rate > 0.0 {
                    tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / rate))
                        .await;
                }
                job(c.clone(), i).await?;
                acks.push((i, Instant::now()));
            }
        }));
    }
    let mut acks = vec![None; n];
    for t in tasks {
        for (i, at) in t.await?? {
            acks[i] = Some(at);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let acks = acks
        .into_iter()
        .map(|a| a.ok_or_else(|| anyhow!("a statement was never acknowledged")))
        .collect::<Result<Vec<_>>>()?;
    Ok((acks, secs))
}

/// The latency run: single-row INSERTs of keys `0..n` at `rate`; returns each key's
/// commit acknowledgement time and the achieved commit rate.
async fn latency_load(
    clients: &[Arc<tokio_postgres::Client>],
    n: usize,
    rate: f64,
) -> Result<(Vec<Instant>, f64)> {
    let (acks, secs) = paced(clients, n, rate, |c, i| async move {
        let k = i as i64;
        c.execute(
            "INSERT INTO cf (k, v) VALUES ($1, $2)",
            &[&k, &value(k, VALUE_LEN)],
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok((acks, n as f64 / secs))
}

/// The throughput run: `rows` rows from `LOAD_BASE` in multi-row INSERTs; returns the
/// achieved insert rate in rows/s.
async fn throughput_load(
    clients: &[Arc<tokio_postgres::Client>],
    rows: usize,
    batch: usize,
    rate: f64,
) -> Result<f64> {
    let statements = rows.div_ceil(batch);
    let stmt_rate = rate / batch as f64;
    let (_, secs) = paced(clients, statements, stmt_rate, move |c, i| async move {
        let from = LOAD_BASE + (i * batch) as i64;
        let to = (LOAD_BASE + rows as i64).min(from + batch as i64);
        c.batch_execute(&multi_insert("cf", from..to, VALUE_LEN))
            .await?;
        Ok(())
    })
    .await?;
    Ok(rows as f64 / secs)
}

/// Loads the scanned table: `rows` rows in multi-row INSERTs over `clients`.
async fn load_big(
    clients: &[Arc<tokio_postgres::Client>],
    rows: usize,
    batch: usize,
) -> Result<f64> {
    let statements = rows.div_ceil(batch);
    let (_, secs) = paced(clients, statements, 0.0, move |c, i| async move {
        let from = (i * batch) as i64;
        let to = (rows as i64).min(from + batch as i64);
        c.batch_execute(&multi_insert("big", from..to, SCAN_VALUE_LEN))
            .await?;
        Ok(())
    })
    .await?;
    Ok(rows as f64 / secs)
}

// ---------------------------------------------------------------------------------------
// Figures.

/// Latencies (arrival − acknowledgement, µs, negative when the row arrived first), sorted.
fn latencies(sink: &Shared, acks: &[Instant], base: i64) -> Vec<f64> {
    let a = lock(sink);
    let mut out: Vec<f64> = acks
        .iter()
        .enumerate()
        .filter_map(|(i, ack)| {
            let at = *a.rows.get(&(base + i as i64))?;
            Some(if at >= *ack {
                at.duration_since(*ack).as_secs_f64() * 1e6
            } else {
                -(ack.duration_since(at).as_secs_f64() * 1e6)
            })
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Rows/s at which the middle 80 % of keys `base..base+n` arrived.
fn steady_rate(sink: &Shared, base: i64, n: usize) -> Result<f64> {
    let a = lock(sink);
    let mut at: Vec<Instant> = (0..n as i64)
        .filter_map(|i| a.rows.get(&(base + i)).copied())
        .collect();
    at.sort();
    let lo = quantile(&at, 0.1).ok_or_else(|| anyhow!("no rows arrived"))?;
    let hi = quantile(&at, 0.9).ok_or_else(|| anyhow!("no rows arrived"))?;
    let secs = hi.duration_since(lo).as_secs_f64();
    ensure!(secs > 0.0, "rows arrived all at once; offer more rows");
    Ok(0.8 * n as f64 / secs)
}

/// Samples `now − latest resolved` of `sink` every 100 ms until `stop`; seconds, sorted.
async fn sample_resolved_lag(
    sink: Shared,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<f64> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Some(r) = lock(&sink).resolved {
                    out.push((wall_nanos() - r) as f64 / 1e9);
                }
            }
            _ = &mut stop => break,
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

async fn wait_resolved(sink: &Shared, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while lock(sink).resolved.is_none() {
        if let Some(e) = &lock(sink).error {
            bail!("sink: {e}");
        }
        ensure!(
            Instant::now() < deadline,
            "no resolved message within {timeout:?}: the changefeed did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn create_feed(c: &tokio_postgres::Client, sql: &str) -> Result<i64> {
    let row = c.query_one(sql, &[]).await.context(sql.to_string())?;
    Ok(row.try_get(0)?)
}

fn ms(us: f64) -> String {
    if us.abs() >= 10_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}

struct Figures {
    lat_n: usize,
    lat_rate: f64,
    lat: (f64, f64),
    load_rate: f64,
    delivered: f64,
    /// Rows/s delivered from a backlog of the same load, committed before the feed started.
    backlog: f64,
    /// The scanned table: rows/s loaded, seconds to scan (or dump), bytes received, seconds
    /// to the first byte.
    scan_load_rate: f64,
    scan_secs: f64,
    scan_bytes: usize,
    first_byte: f64,
}

/// Runs every run against PostgreSQL, with the same statements the cluster gets.
async fn postgres_side(args: &Args, pg: &Postgres, scan_rows: usize) -> Result<Figures> {
    let cfg = pg.config();
    let admin = connect_all(&cfg, 1).await?.remove(0);
    admin.batch_execute(SCHEMA).await?;
    let scan_load_rate = load_big(
        &connect_all(&cfg, args.load_connections).await?,
        scan_rows,
        args.batch,
    )
    .await?;
    admin
        .batch_execute("SELECT pg_create_logical_replication_slot('bench', 'test_decoding')")
        .await?;
    let sink = Shared::default();
    let _recv = pg.follow("bench", sink.clone())?;
    // pg_recvlogical follows the slot once a marker row comes through.
    admin
        .batch_execute("INSERT INTO cf VALUES (-1, 'marker')")
        .await?;
    wait_keys(&sink, &[-1], Duration::from_secs(30)).await?;

    let n = (args.rate * args.seconds as f64).round() as usize;
    let clients = connect_all(&cfg, args.connections).await?;
    let (acks, lat_rate) = latency_load(&clients, n, args.rate).await?;
    let keys: Vec<i64> = (0..n as i64).collect();
    wait_keys(&sink, &keys, DRAIN_TIMEOUT).await?;
    let lat = latencies(&sink, &acks, 0);

    // A second slot, read only after the load: the backlog.
    admin
        .batch_execute("SELECT pg_create_logical_replication_slot('backlog', 'test_decoding')")
        .await?;
    let clients = connect_all(&cfg, args.load_connections).await?;
    let load_rate = throughput_load(&clients, args.load_rows, args.batch, args.load_rate).await?;
    let keys: Vec<i64> = (0..args.load_rows as i64).map(|i| LOAD_BASE + i).collect();
    wait_keys(&sink, &keys, DRAIN_TIMEOUT).await?;
    let delivered = steady_rate(&sink, LOAD_BASE, args.load_rows)?;
    let backlog_sink = Shared::default();
    let _backlog = pg.follow("backlog", backlog_sink.clone())?;
    wait_keys(&backlog_sink, &keys, DRAIN_TIMEOUT).await?;
    let backlog = steady_rate(&backlog_sink, LOAD_BASE, args.load_rows)?;

    let (scan_bytes, scan_secs) = pg.dump("big").await?;
    Ok(Figures {
        lat_n: lat.len(),
        lat_rate,
        lat: median_and_p99(&lat),
        load_rate,
        delivered,
        backlog,
        scan_load_rate,
        scan_secs,
        scan_bytes,
        first_byte: 0.0,
    })
}

/// Runs the benchmark.
pub async fn run(args: Args) -> Result<()> {
    ensure!(
        args.rate > 0.0 && args.seconds > 0,
        "--rate and --seconds must be positive"
    );
    ensure!(
        args.batch > 0 && args.load_rows >= 10,
        "--batch must be positive and --load-rows at least 10"
    );
    ensure!(
        args.connections > 0 && args.load_connections > 0,
        "connections must be positive"
    );
    let scan_rows = (args.scan_mb * 1_000_000).div_ceil(SCAN_VALUE_LEN + 8);
    let scan_mb = (scan_rows * (SCAN_VALUE_LEN + 8)) as f64 / 1e6;

    // PostgreSQL first, then stopped, so the two never share the machine.
    eprintln!("changefeed: PostgreSQL 15 with wal_level=logical ...");
    let pg = Postgres::start()?;
    let pgf = postgres_side(&args, &pg, scan_rows).await?;
    drop(pg);

    eprintln!("changefeed: three-node cluster ...");
    let mut opts = LocalClusterOptions {
        on_disk: true,
        ..LocalClusterOptions::default()
    };
    if let Some(t) = args.closed_ts_target_ms {
        opts.base.kv.store.replica.closed_ts_target = Duration::from_millis(t);
    }
    let target = opts.base.kv.store.replica.closed_ts_target.as_secs_f64();
    let c = LocalCluster::start(3, vec![], opts).await?;
    let r = match c.wait_for_full_replication(Duration::from_secs(120)).await {
        Ok(()) => cluster_side(&args, &c, scan_rows).await,
        Err(e) => Err(e.into()),
    };
    c.shutdown().await;
    let (sx, lags) = r?;

    let n = (args.rate * args.seconds as f64).round() as usize;
    println!(
        "changefeed: 3 nodes in one process (3 replicas, stores on disk) -> webhook served by the \
         benchmark; PostgreSQL 15 (fsync on, wal_level=logical) -> pg_recvlogical \
         (test_decoding) stdout; same machine, one after the other"
    );
    println!(
        "1 commit-to-sink latency: {n} single-row INSERTs offered at {:.0}/s over {} connections \
         (achieved: sextant {:.1}/s, postgres {:.1}/s; rows matched {} / {})",
        args.rate, args.connections, sx.lat_rate, pgf.lat_rate, sx.lat_n, pgf.lat_n
    );
    println!(
        "    sextant webhook           p50 {:>10}   p99 {:>10}",
        ms(sx.lat.0),
        ms(sx.lat.1)
    );
    println!(
        "    postgres pg_recvlogical   p50 {:>10}   p99 {:>10}",
        ms(pgf.lat.0),
        ms(pgf.lat.1)
    );
    println!(
        "    ratio                     p50 {:>9.1}x   p99 {:>9.1}x",
        sx.lat.0 / pgf.lat.0,
        sx.lat.1 / pgf.lat.1
    );
    let offered = if args.load_rate > 0.0 {
        format!("offered at {:.0} rows/s", args.load_rate)
    } else {
        "offered as fast as each database took them".to_string()
    };
    println!(
        "2 rows/s: {} rows ({}-byte text) in {}-row INSERTs over {} connections, {offered}; \
         rate of the middle 80 % of arrivals",
        args.load_rows, VALUE_LEN, args.batch, args.load_connections
    );
    println!(
        "    sextant   inserted {:>8.0}/s   delivered live {:>8.0}/s   from a backlog {:>8.0}/s",
        sx.load_rate, sx.delivered, sx.backlog
    );
    println!(
        "    postgres  inserted {:>8.0}/s   decoded live   {:>8.0}/s   from a backlog {:>8.0}/s",
        pgf.load_rate, pgf.delivered, pgf.backlog
    );
    println!(
        "    ratio     inserted {:>8.3}x   live           {:>8.3}x   backlog        {:>8.3}x",
        sx.load_rate / pgf.load_rate,
        sx.delivered / pgf.delivered,
        sx.backlog / pgf.backlog
    );
    let q = |p| quantile(&lags, p).unwrap_or(f64::NAN);
    println!(
        "3 resolved lag: now - latest resolved received, {} samples every 100 ms during the \
         latency run (resolved='200ms', min_checkpoint_frequency='200ms')",
        lags.len()
    );
    println!(
        "    sextant lag                p50 {:>6.2} s   p99 {:>6.2} s   max {:>6.2} s",
        q(0.5),
        q(0.99),
        q(1.0)
    );
    println!("    closed-timestamp target        {target:>6.2} s");
    println!(
        "    ratio                      p50 {:>6.2}x    p99 {:>6.2}x",
        q(0.5) / target,
        q(0.99) / target
    );
    println!(
        "4 initial scan: {scan_rows} rows, {scan_mb:.1} MB of row data (INT8 + {SCAN_VALUE_LEN}-byte \
         text; loaded at sextant {:.0} rows/s, postgres {:.0} rows/s)",
        sx.scan_load_rate, pgf.scan_load_rate
    );
    println!(
        "    sextant initial_scan='only' -> webhook {:>6.2} s {:>7.1} MB/s  ({:.1} MB of JSON \
         received, first after {:.2} s)",
        sx.scan_secs,
        scan_mb / sx.scan_secs,
        sx.scan_bytes as f64 / 1e6,
        sx.first_byte
    );
    println!(
        "    postgres pg_dump --data-only           {:>6.2} s {:>7.1} MB/s  ({:.1} MB of COPY text)",
        pgf.scan_secs,
        scan_mb / pgf.scan_secs,
        pgf.scan_bytes as f64 / 1e6
    );
    println!("    ratio MB/s {:.3}x", pgf.scan_secs / sx.scan_secs);
    Ok(())
}

/// Webhook sink options of the throughput and scan feeds: up to `n` messages per POST.
fn batched(n: usize) -> String {
    format!(
        "webhook_sink_config = '{{\"Flush\": {{\"Messages\": {n}, \"Frequency\": \"100ms\"}}}}'"
    )
}

async fn cluster_side(
    args: &Args,
    c: &LocalCluster,
    scan_rows: usize,
) -> Result<(Figures, Vec<f64>)> {
    let addr = c
        .server(0)
        .map(|s| s.sql_addr().to_string())
        .ok_or_else(|| anyhow!("node 1 has no SQL server"))?;
    let cfg: tokio_postgres::Config =
        format!("postgresql://root@{addr}/defaultdb?sslmode=disable").parse()?;
    let hook = Webhook::start(&["lat", "tput", "backlog", "scan"]).await?;
    let admin = connect_all(&cfg, 1).await?.remove(0);
    admin.batch_execute(SCHEMA).await?;
    eprintln!("changefeed: loading {scan_rows} rows into the scanned table ...");
    let scan_load_rate = load_big(
        &connect_all(&cfg, args.load_connections).await?,
        scan_rows,
        args.batch,
    )
    .await?;
    // Warm the range cache and the lease.
    admin
        .batch_execute("INSERT INTO cf VALUES (-1, 'warm')")
        .await?;

    // 1 and 3: latency and resolved lag, one POST per message.
    let lat_sink = hook.feed("lat")?;
    let lat_job = create_feed(
        &admin,
        &format!(
            "CREATE CHANGEFEED FOR TABLE cf INTO '{}' WITH initial_scan = 'no', \
             resolved = '200ms', min_checkpoint_frequency = '200ms'",
            hook.uri("lat")
        ),
    )
    .await?;
    wait_resolved(&lat_sink, Duration::from_secs(60)).await?;
    eprintln!("changefeed: latency run ...");
    let (stop, stopped) = tokio::sync::oneshot::channel();
    let sampler = tokio::spawn(sample_resolved_lag(lat_sink.clone(), stopped));
    let n = (args.rate * args.seconds as f64).round() as usize;
    let clients = connect_all(&cfg, args.connections).await?;
    let (acks, lat_rate) = latency_load(&clients, n, args.rate).await?;
    let _ = stop.send(());
    let lags = sampler.await?;
    let keys: Vec<i64> = (0..n as i64).collect();
    wait_keys(&lat_sink, &keys, DRAIN_TIMEOUT).await?;
    let lat = latencies(&lat_sink, &acks, 0);
    admin
        .batch_execute(&format!("CANCEL JOB {lat_job}"))
        .await?;

    // 2: throughput, up to 500 messages per POST; then the same rows again from a backlog,
    // by a feed started after they were committed with a cursor before them.
    let tput_sink = hook.feed("tput")?;
    let tput_job = create_feed(
        &admin,
        &format!(
            "CREATE CHANGEFEED FOR TABLE cf INTO '{}' WITH initial_scan = 'no', \
             resolved = '1s', min_checkpoint_frequency = '1s', {}",
            hook.uri("tput"),
            batched(500)
        ),
    )
    .await?;
    wait_resolved(&tput_sink, Duration::from_secs(60)).await?;
    eprintln!("changefeed: throughput run ...");
    let cursor = wall_nanos();
    let clients = connect_all(&cfg, args.load_connections).await?;
    let load_rate = throughput_load(&clients, args.load_rows, args.batch, args.load_rate).await?;
    let keys: Vec<i64> = (0..args.load_rows as i64).map(|i| LOAD_BASE + i).collect();
    wait_keys(&tput_sink, &keys, DRAIN_TIMEOUT).await?;
    let delivered = steady_rate(&tput_sink, LOAD_BASE, args.load_rows)?;
    admin
        .batch_execute(&format!("CANCEL JOB {tput_job}"))
        .await?;
    let backlog_sink = hook.feed("backlog")?;
    let backlog_job = create_feed(
        &admin,
        &format!(
            "CREATE CHANGEFEED FOR TABLE cf INTO '{}' WITH cursor = '{cursor}.0000000000', {}",
            hook.uri("backlog"),
            batched(500)
        ),
    )
    .await?;
    wait_keys(&backlog_sink, &keys, DRAIN_TIMEOUT).await?;
    let backlog = steady_rate(&backlog_sink, LOAD_BASE, args.load_rows)?;
    admin
        .batch_execute(&format!("CANCEL JOB {backlog_job}"))
        .await?;

    // 4: initial scan into the webhook, up to 1,000 messages per POST.
    eprintln!("changefeed: initial scan ...");
    let scan_sink = hook.feed("scan")?;
    let started = Instant::now();
    create_feed(
        &admin,
        &format!(
            "CREATE CHANGEFEED FOR TABLE big INTO '{}' WITH initial_scan = 'only', {}",
            hook.uri("scan"),
            batched(1000)
        ),
    )
    .await?;
    let deadline = started + DRAIN_TIMEOUT;
    loop {
        {
            let a = lock(&scan_sink);
            if let Some(e) = &a.error {
                bail!("scan sink: {e}");
            }
            if a.row_count >= scan_rows {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "the initial scan delivered {} of {scan_rows} rows in {DRAIN_TIMEOUT:?}",
                a.row_count
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let a = lock(&scan_sink);
    let since = |t: Option<Instant>| t.map_or(0.0, |t| t.duration_since(started).as_secs_f64());
    let figures = Figures {
        lat_n: lat.len(),
        lat_rate,
        lat: median_and_p99(&lat),
        load_rate,
        delivered,
        backlog,
        scan_load_rate,
        scan_secs: since(a.last),
        scan_bytes: a.bytes,
        first_byte: since(a.first),
    };
    Ok((figures, lags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_webhook_bodies() {
        let mut a = Arrivals::default();
        let at = Instant::now();
        let body = br#"{"payload":[{"after":{"k":3,"v":"x"},"key":[3],"topic":"cf"},{"after":null,"key":[4],"topic":"cf"}],"length":2}"#;
        record_webhook(&mut a, body, true, at).expect("rows");
        assert_eq!(a.row_count, 2);
        assert!(a.rows.contains_key(&3) && a.rows.contains_key(&4));
        record_webhook(
            &mut a,
            br#"{"resolved":"1700000000123456789.0000000002"}"#,
            true,
            at,
        )
        .expect("resolved");
        assert_eq!(a.resolved, Some(1_700_000_000_123_456_789));
        let mut counted = Arrivals::default();
        record_webhook(&mut counted, body, false, at).expect("counted");
        assert_eq!((counted.row_count, counted.bytes), (2, body.len()));
        assert!(record_webhook(&mut a, b"{}", true, at).is_err());
    }

    #[test]
    fn reads_test_decoding_lines() {
        let mut a = Arrivals::default();
        let at = Instant::now();
        record_decoded(&mut a, "BEGIN", at);
        record_decoded(
            &mut a,
            "table public.cf: INSERT: k[bigint]:10000017 v[text]:'v-x'",
            at,
        );
        record_decoded(
            &mut a,
            "table public.cf: INSERT: k[bigint]:-1 v[text]:'m'",
            at,
        );
        record_decoded(&mut a, "COMMIT", at);
        assert_eq!(a.row_count, 2);
        assert!(a.rows.contains_key(&10_000_017) && a.rows.contains_key(&-1));
    }

    #[test]
    fn statements_and_quantiles() {
        let v = value(7, 200);
        assert_eq!(v.len(), 200);
        assert!(v.starts_with("v000000000007-"));
        assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        assert_eq!(v, value(7, 200), "the same on every run");
        assert_ne!(v.get(14..), value(8, 200).get(14..));
        let ins = multi_insert("t", 1..3, 16);
        assert!(ins.starts_with("INSERT INTO t (k, v) VALUES (1,'v000000000001-"));
        assert!(ins.contains("'),(2,'v000000000002-"));
        assert!(ins.ends_with("')"));
        assert_eq!(quantile(&[1, 2, 3, 4, 5], 0.5), Some(3));
        assert_eq!(quantile::<i32>(&[], 0.5), None);
    }
}
