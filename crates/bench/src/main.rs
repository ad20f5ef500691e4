//! Sextant's benchmarks. Each prints its figures next to a reference measured in the same run
//! on the same machine, and the ratio between them, so results compare across machines.
//!
//! - `write-latency`: replicated write latency on a 3-replica range (three nodes in one
//!   process, each on its own on-disk store) ÷ the latency of one small write plus fsync to
//!   the same disk.
//! - `idle`: CPU and memory per node of a 3-node cluster holding `--ranges` ranges, each
//!   replicated 3 times, after it has gone idle ÷ the same process with no cluster.
//!
//! - `sql-point`: point SELECT and single-row INSERT over the wire ÷ PostgreSQL 15 (fsync on).
//! - `pgbench`: PostgreSQL's pgbench with custom scripts against three `sextant start`
//!   processes ÷ PostgreSQL 15 (fsync on) ([`pgbench_bench`]).
//!
//! Run: `cargo run --release -p sextant-bench -- write-latency` (or `idle --ranges 1000`).

mod backup_bench;
mod changefeed_bench;
mod pgbench_bench;

use anyhow::Result;
use clap::{Parser, Subcommand};
use server::{LocalCluster, LocalClusterOptions};
use std::io::Write;
use std::time::{Duration, Instant};

/// mimalloc instead of the system allocator: Raft commands, MVCC batches and row encodings
/// allocate and free many small buffers per request, and glibc's malloc spent over a quarter of
/// a RESTORE's CPU time in its own bookkeeping.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "sextant-bench",
    about = "Sextant benchmarks (ratios against same-run references)"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Replicated write p50/p99 on a 3-replica range ÷ fsync latency of the same disk.
    WriteLatency {
        /// Writes to time.
        #[arg(long, default_value_t = 2000)]
        writes: usize,
    },
    /// Point SELECT and single-row INSERT through the PostgreSQL wire protocol: throughput and
    /// p99 ÷ PostgreSQL 15 (fsync, full_page_writes and synchronous_commit on, one node) on the
    /// same rows in the same run.
    SqlPoint {
        /// Rows inserted (one INSERT each), then point-read.
        #[arg(long, default_value_t = 5000)]
        rows: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// BACKUP/RESTORE throughput and job start latency against pg_dump/pg_restore.
    Backup(backup_bench::Args),
    /// CHANGEFEED latency and throughput against PostgreSQL logical decoding.
    Changefeed(changefeed_bench::Args),
    /// pgbench (INSERT, point SELECT, read-modify-write at 1/8/32 clients) against three
    /// `sextant start` processes ÷ PostgreSQL 15 with fsync on.
    Pgbench(pgbench_bench::Args),
    /// Idle CPU and memory per node with many ranges.
    Idle {
        /// Ranges in the cluster (each replicated on all 3 nodes).
        #[arg(long, default_value_t = 1000)]
        ranges: usize,
        /// Seconds to measure once idle.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.bench {
        Bench::WriteLatency { writes } => rt.block_on(write_latency(writes)),
        Bench::Idle { ranges, seconds } => rt.block_on(idle(ranges, seconds)),
        Bench::SqlPoint { rows, concurrency } => rt.block_on(sql_point(rows, concurrency)),
        Bench::Backup(args) => rt.block_on(backup_bench::run(args)),
        Bench::Changefeed(args) => rt.block_on(changefeed_bench::run(args)),
        Bench::Pgbench(args) => rt.block_on(pgbench_bench::run(args)),
    }
}

/// p50 and p99 of a sample, in microseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i].as_secs_f64() * 1e6
    };
    (at(0.50), at(0.99))
}

fn fsync_latency(dir: &std::path::Path, n: usize) -> Result<Vec<Duration>> {
    let mut f = std::fs::File::create(dir.join("fsync-probe"))?;
    let payload = [0u8; 128];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&payload)?;
        f.sync_data()?;
        out.push(t.elapsed());
    }
    Ok(out)
}

fn key(s: &str) -> base::Key {
    let mut k = base::keys::table_prefix(100).0;
    base::encoding::encode_bytes(&mut k, s.as_bytes());
    base::Key(k)
}

async fn cluster(on_disk: bool) -> Result<LocalCluster> {
    let opts = LocalClusterOptions {
        on_disk,
        ..LocalClusterOptions::default()
    };
    let c = LocalCluster::start(3, vec![], opts).await?;
    c.wait_for_full_replication(Duration::from_secs(120))
        .await?;
    Ok(c)
}

async fn write_latency(writes: usize) -> Result<()> {
    // The reference runs where the cluster's stores go: the system temporary directory.
    let dir = tempfile::tempdir()?;
    let reference = fsync_latency(dir.path(), writes)?;
    let c = cluster(true).await?;
    let s = c.node(0).sender().clone();
    // Warm up the range cache and the lease.
    for i in 0..50 {
        kv::node::kv_put(&s, key(&format!("warm{i}")), vec![1; 100]).await?;
    }
    let mut lat = Vec::with_capacity(writes);
    for i in 0..writes {
        let t = Instant::now();
        kv::node::kv_put(&s, key(&format!("k{i:08}")), vec![7; 100]).await?;
        lat.push(t.elapsed());
    }
    let (p50, p99) = percentiles(lat);
    let (f50, f99) = percentiles(reference);
    println!(
        "write-latency: {writes} sequential 100-byte writes, 3 replicas (3 nodes, one process, one disk)"
    );
    println!("  sextant replicated write   p50 {p50:>9.0} us   p99 {p99:>9.0} us");
    println!("  reference write+fsync      p50 {f50:>9.0} us   p99 {f99:>9.0} us");
    println!(
        "  ratio                      p50 {:>9.2} x    p99 {:>9.2} x",
        p50 / f50,
        p99 / f99
    );
    c.shutdown().await;
    Ok(())
}

/// User and system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(after) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after ")" start at field 3 (state); utime and stime are fields 14 and 15.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of this process, bytes.
fn rss_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

async fn idle(ranges: usize, seconds: u64) -> Result<()> {
    let base_rss = rss_bytes();
    let c0 = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_cpu = (cpu_seconds() - c0) / 2.0;
    let c = cluster(false).await?;
    let started = Instant::now();
    for i in 1..ranges.saturating_sub(1) {
        c.node(0)
            .admin_split(&base::keys::table_prefix(100 + i as u64))
            .await?;
    }
    let split_secs = started.elapsed().as_secs_f64();
    c.wait_for_full_replication(Duration::from_secs(600))
        .await?;
    let total = c.node(0).ranges().await?.len();
    // Let elections, replication and any quiescence settle.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let c1 = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let cpu = (cpu_seconds() - c1) / seconds as f64;
    let rss = rss_bytes();
    let per_node_cpu = (cpu - base_cpu) / 3.0;
    let per_node_mb = (rss.saturating_sub(base_rss)) as f64 / 3.0 / 1e6;
    println!(
        "idle: 3 nodes in one process, {total} ranges x 3 replicas ({total} replicas per node); {split_secs:.1} s to split"
    );
    println!(
        "  CPU per node        {:>8.2} % of a core (process {:.2} %, empty process {:.2} %)",
        per_node_cpu * 100.0,
        cpu * 100.0,
        base_cpu * 100.0
    );
    println!(
        "  CPU per replica     {:>8.4} % of a core",
        per_node_cpu * 100.0 / total.max(1) as f64
    );
    println!("  memory per node     {per_node_mb:>8.1} MB (RSS above the empty process)");
    println!(
        "  memory per replica  {:>8.1} KB",
        per_node_mb * 1000.0 / total.max(1) as f64
    );
    c.shutdown().await;
    Ok(())
}

/// Runs `ops` statements over `concurrency` connections made by `connect`; operation `i` runs
/// `stmt` with `args(i)`. Returns (ops per second, p50 µs, p99 µs).
async fn drive(
    clients: &[tokio_postgres::Client],
    ops: usize,
    stmt: &str,
    args: fn(usize) -> (i64, String),
) -> Result<(f64, f64, f64)> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    let n = clients.len();
    for (w, c) in clients.iter().enumerate() {
        let st = c.prepare(stmt).await?;
        let with_value = st.params().len() == 2;
        tasks.push(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while i < ops {
                let (k, v) = args(i);
                let t = Instant::now();
                if with_value {
                    c.execute(&st, &[&k, &v]).await?;
                } else {
                    let rows = c.query(&st, &[&k]).await?;
                    anyhow::ensure!(rows.len() == 1, "row {k} not found");
                }
                lat.push(t.elapsed());
                i += n;
            }
            Ok::<_, anyhow::Error>(lat)
        });
    }
    let mut all = Vec::with_capacity(ops);
    for r in futures::future::join_all(tasks).await {
        all.extend(r?);
    }
    let secs = started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(all);
    Ok((ops as f64 / secs, p50, p99))
}

async fn connect_all(
    cfg: &tokio_postgres::Config,
    n: usize,
) -> Result<Vec<tokio_postgres::Client>> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (c, conn) = cfg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        out.push(c);
    }
    Ok(out)
}

fn row_args(i: usize) -> (i64, String) {
    (i as i64, format!("value-{i:08}-{}", "x".repeat(64)))
}

async fn sql_point(rows: usize, concurrency: usize) -> Result<()> {
    let schema = "CREATE TABLE kv (k INT8 PRIMARY KEY, v TEXT NOT NULL)";
    let insert = "INSERT INTO kv (k, v) VALUES ($1, $2)";
    let select = "SELECT v FROM kv WHERE k = $1";

    // PostgreSQL 15, fsync, full_page_writes and synchronous_commit on (its defaults), one
    // node. (Before the durable mode existed this used the test fixture's fast mode, fsync
    // off, while saying fsync on.)
    let pg = client::testing::PgServer::try_start(client::testing::Durability::Durable)
        .map_err(|e| anyhow::anyhow!(e))?;
    let pg_cfg = pg.config("postgres");
    let pgc = connect_all(&pg_cfg, concurrency).await?;
    pgc[0].batch_execute(schema).await?;
    let pg_ins = drive(&pgc, rows, insert, row_args).await?;
    let pg_sel = drive(&pgc, rows, select, row_args).await?;
    drop(pgc);

    // Sextant: three nodes on disk (3 replicas), clients on node 1.
    let c = cluster(true).await?;
    let addr = c
        .server(0)
        .map(|s| s.sql_addr().to_string())
        .unwrap_or_default();
    let cfg: tokio_postgres::Config =
        format!("postgresql://root@{addr}/defaultdb?sslmode=disable").parse()?;
    let sc = connect_all(&cfg, concurrency).await?;
    sc[0].batch_execute(schema).await?;
    // Warm the range cache and lease.
    sc[0]
        .batch_execute("INSERT INTO kv VALUES (-1, 'warm'); SELECT v FROM kv WHERE k = -1")
        .await?;
    let sx_ins = drive(&sc, rows, insert, row_args).await?;
    let sx_sel = drive(&sc, rows, select, row_args).await?;
    drop(sc);
    c.shutdown().await;

    println!(
        "sql-point: {rows} rows (INT8 key, 80-byte text), {concurrency} connections, prepared \
         statements; PostgreSQL with fsync, full_page_writes and synchronous_commit on"
    );
    println!(
        "  {:<26}{:>12}{:>12}{:>12}",
        "", "ops/s", "p50 us", "p99 us"
    );
    for (name, r) in [
        ("sextant INSERT (3 repl.)", sx_ins),
        ("postgres INSERT", pg_ins),
        ("sextant point SELECT", sx_sel),
        ("postgres point SELECT", pg_sel),
    ] {
        println!("  {name:<26}{:>12.0}{:>12.0}{:>12.0}", r.0, r.1, r.2);
    }
    println!(
        "  ratio INSERT  throughput {:.2} x   p99 {:.2} x",
        sx_ins.0 / pg_ins.0,
        sx_ins.2 / pg_ins.2
    );
    println!(
        "  ratio SELECT  throughput {:.2} x   p99 {:.2} x",
        sx_sel.0 / pg_sel.0,
        sx_sel.2 / pg_sel.2
    );
    Ok(())
}
