//! `sextant-bench backup`: BACKUP and RESTORE against `pg_dump` and `pg_restore` of the same
//! rows, measured in the same run on the same machine.
//!
//! The rows are one table `t (id INT8 PRIMARY KEY, n INT8, s STRING)`, `--rows` of them,
//! `--row-bytes` each (8 + 8 + the string, whose characters are pseudo-random over a 64-letter
//! alphabet, so compression gains about a quarter). Both servers load them with the same
//! multi-row INSERTs (`--batch` rows a statement, `--load-connections` connections).
//!
//! The reference is PostgreSQL 15 started by [`client::testing::PgServer`] (one node, fsync
//! off): `pg_dump -Fc -Z0 -t t` to a file, then `pg_restore` of that file into a fresh
//! database. `pg_dump` and `pg_restore` are taken next to the `initdb` the fixture runs.
//!
//! Sextant is a cluster of three regions (`--nodes-per-region` nodes each, one process, stores
//! on disk) with the table split into `--ranges` ranges, so the export flow has work for every
//! node. Its rows are loaded with raw KV batches of the rows encoded as INSERT encodes them
//! (INSERT writes one row per KV round trip today); `--load-sql` loads them with INSERT. What is printed, each with its reference and the ratio last:
//!
//! 1. Backup MB/s (the data set's row bytes over the statement's wall time) of
//!    `BACKUP TABLE ... INTO 'nodelocal://1/...'` ÷ `pg_dump`'s.
//! 2. Restore MB/s of `RESTORE TABLE ... WITH into_db` ÷ `pg_restore`'s.
//! 3. A backup with `EXECUTION LOCALITY` matching one region (k of N nodes) ÷ k/N × the
//!    unrestricted backup's throughput: 1.0 means the work scales linearly with the nodes
//!    allowed; above 1.0 the restricted nodes did better than their share (here usually
//!    because all nodes share the same cores and disk).
//! 4. Job start latency, from sending `BACKUP ... WITH DETACHED` to the job record showing the
//!    start time its coordinator writes with its claim, with the gateway's immediate `jobs.adopt`
//!    hand-off ÷ without it. The registry has no switch to turn the hand-off off, so the
//!    second path is reproduced the way `Registry::create_job` writes a job, minus the
//!    hand-off: a copy of a real backup job's record (fresh id, fresh destination, unclaimed,
//!    `modified` now) inserted with `jobs::store::insert`, then picked up by the nodes'
//!    adoption loops (`RegistryConfig::adopt_interval`, after the same interval of grace).
//!    Its figure is the insert-to-start time plus the hand-off run's median statement time,
//!    which stands for the planning it skips.
//! 5. An incremental backup after `--changed-pct` % of the rows changed ÷ the full backup:
//!    time and bytes written.

use anyhow::{Context, Result, anyhow, bail, ensure};
use chrono::Utc;
use server::{LocalCluster, LocalClusterOptions, StoreSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, SimpleQueryMessage};

/// Options of the BACKUP/RESTORE benchmark.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Rows in the table.
    #[arg(long, default_value_t = 50_000)]
    pub rows: usize,
    /// Bytes of row data per row (an 8-byte key, an 8-byte integer and a string of the rest).
    #[arg(long, default_value_t = 150)]
    pub row_bytes: usize,
    /// Rows per INSERT statement while loading.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Connections loading rows at once.
    #[arg(long, default_value_t = 4)]
    pub load_connections: usize,
    /// Ranges the Sextant table is split into before loading.
    #[arg(long, default_value_t = 6)]
    pub ranges: usize,
    /// Nodes in each of the three regions.
    #[arg(long, default_value_t = 1)]
    pub nodes_per_region: usize,
    /// Job start measurements with the immediate hand-off.
    #[arg(long, default_value_t = 10)]
    pub start_trials: usize,
    /// Job start measurements through the adoption loop (each takes about two seconds).
    #[arg(long, default_value_t = 5)]
    pub adoption_trials: usize,
    /// Load Sextant's rows with the same multi-row INSERTs as PostgreSQL's instead of raw KV
    /// writes of the encoded rows (before INSERT batched its KV writes it loaded about 100
    /// rows/s; it now loads about 2,400 rows/s with 100-row statements on four connections).
    #[arg(long)]
    pub load_sql: bool,
    /// Percentage of the rows changed before the incremental backup.
    #[arg(long, default_value_t = 1.0)]
    pub changed_pct: f64,
}

/// The regions of the cluster; the restricted backup runs in the last one.
const REGIONS: [&str; 3] = ["r1", "r2", "r3"];

/// The letters of the generated strings.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// One measured operation: its wall time and the bytes it wrote.
struct Timed {
    secs: f64,
    bytes: u64,
}

/// Runs the benchmark.
pub async fn run(args: Args) -> Result<()> {
    ensure!(
        args.rows > 0 && args.batch > 0,
        "--rows and --batch must be positive"
    );
    ensure!(
        args.row_bytes > 16,
        "--row-bytes must be above 16 (two INT8 columns)"
    );
    ensure!(
        args.nodes_per_region > 0 && args.load_connections > 0,
        "--nodes-per-region and --load-connections must be positive"
    );
    ensure!(
        args.changed_pct > 0.0 && args.changed_pct <= 100.0,
        "--changed-pct must be in (0, 100]"
    );
    let data_bytes = (args.rows * args.row_bytes) as u64;
    let data_mb = data_bytes as f64 / 1e6;
    println!(
        "backup: {} rows x {} B = {data_mb:.1} MB of row data; loading {} rows a statement over {} connections",
        args.rows, args.row_bytes, args.batch, args.load_connections
    );

    // PostgreSQL 15: load, pg_dump -Fc -Z0, pg_restore into a fresh database.
    let pg = client::testing::PgServer::start()
        .ok_or_else(|| anyhow!("PostgreSQL 15 is not installed: run scripts/test-deps.sh"))?;
    let pg_bin = pg_bin_dir();
    for tool in ["pg_dump", "pg_restore"] {
        ensure!(
            pg_bin.join(tool).exists(),
            "{tool} is missing from {} (Debian package postgresql-client-15)",
            pg_bin.display()
        );
    }
    let pg_clients = super::connect_all(&pg.config("postgres"), args.load_connections).await?;
    pg_clients[0]
        .batch_execute("CREATE TABLE t (id INT8 PRIMARY KEY, n INT8 NOT NULL, s TEXT NOT NULL)")
        .await?;
    let pg_load = load(&pg_clients, "t", &args).await?;
    drop(pg_clients);
    let work = tempfile::Builder::new()
        .prefix("sextant-bench-backup-")
        .tempdir()?;
    let dump_file = work.path().join("t.dump");
    let pg_dump = {
        let started = Instant::now();
        run_tool(
            Command::new(pg_bin.join("pg_dump"))
                .args(pg_conn_args(pg.port))
                .args(["-Fc", "-Z0", "-t", "t", "-f"])
                .arg(&dump_file)
                .arg("postgres"),
        )?;
        Timed {
            secs: started.elapsed().as_secs_f64(),
            bytes: std::fs::metadata(&dump_file)?.len(),
        }
    };
    let (pgc, conn) = pg.config("postgres").connect(tokio_postgres::NoTls).await?;
    progress("pg_dump", &pg_dump);
    tokio::spawn(conn);
    pgc.batch_execute("CREATE DATABASE restored").await?;
    let pg_restore = {
        let started = Instant::now();
        run_tool(
            Command::new(pg_bin.join("pg_restore"))
                .args(pg_conn_args(pg.port))
                .args(["-d", "restored"])
                .arg(&dump_file),
        )?;
        Timed {
            secs: started.elapsed().as_secs_f64(),
            bytes: std::fs::metadata(&dump_file)?.len(),
        }
    };
    let (rc, conn) = pg.config("restored").connect(tokio_postgres::NoTls).await?;
    progress("pg_restore", &pg_restore);
    tokio::spawn(conn);
    let restored = count(&rc, "SELECT count(*) FROM t").await?;
    ensure!(
        restored == args.rows as i64,
        "pg_restore restored {restored} rows"
    );
    drop((pgc, rc, pg));

    // Sextant: three regions, the table split into ranges, clients on node 1.
    let n = REGIONS.len() * args.nodes_per_region;
    let localities = (0..n)
        .map(|i| {
            let region = REGIONS[i / args.nodes_per_region];
            locality::Locality::parse(&format!(
                "region={region},az={region}-{}",
                i % args.nodes_per_region
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let opts = LocalClusterOptions {
        on_disk: true,
        ..LocalClusterOptions::default()
    };
    let c = LocalCluster::start(n, localities, opts).await?;
    c.wait_for_full_replication(Duration::from_secs(180))
        .await?;
    let addr = c
        .sql_addr(0)
        .ok_or_else(|| anyhow!("node 1 has no SQL address"))?;
    let cfg: tokio_postgres::Config =
        format!("postgresql://root@{addr}/defaultdb?sslmode=disable").parse()?;
    let sx = super::connect_all(&cfg, args.load_connections).await?;
    sx[0]
        .batch_execute(
            "CREATE DATABASE bench; \
             CREATE TABLE bench.t (id INT8 PRIMARY KEY, n INT8 NOT NULL, s STRING NOT NULL)",
        )
        .await?;
    // pg_class's oid of a table is its descriptor id (the key prefix `/Table/<id>`).
    let mut bench_cfg = cfg.clone();
    bench_cfg.dbname("bench");
    let table_id = {
        let (b, conn) = bench_cfg.connect(tokio_postgres::NoTls).await?;
        tokio::spawn(conn);
        count(
            &b,
            "SELECT oid FROM pg_catalog.pg_class WHERE relname = 't'",
        )
        .await
        .context("looking up the table id")?
    };
    let split_started = Instant::now();
    for id in split_points(args.rows, args.ranges) {
        c.node(0).admin_split(&row_key(table_id as u64, id)).await?;
    }
    let split_secs = split_started.elapsed().as_secs_f64();
    c.wait_for_full_replication(Duration::from_secs(180))
        .await?;
    let sx_load = if args.load_sql {
        load(&sx, "bench.t", &args).await?
    } else {
        load_kv(&c, table_id as u64, &args).await?
    };
    let loaded = count(&sx[0], "SELECT count(*) FROM bench.t").await?;
    ensure!(loaded == args.rows as i64, "Sextant holds {loaded} rows");
    println!(
        "  loaded: PostgreSQL {pg_load:.1} s (INSERT), Sextant {sx_load:.1} s ({}; {} ranges, {split_secs:.1} s to split)",
        if args.load_sql {
            "INSERT"
        } else {
            "raw KV writes"
        },
        args.ranges.max(1)
    );
    let extern_dir = match c.server(0).map(|s| s.store()) {
        Some(StoreSpec::Dir(d)) => d.join("extern"),
        _ => bail!("node 1 has no store directory"),
    };
    let db = &sx[0];

    // A warm-up backup, so that the measured ones and pg_dump all read warm caches.
    backup(
        db,
        "BACKUP TABLE bench.t INTO 'nodelocal://1/warm'",
        &extern_dir.join("warm"),
    )
    .await?;
    let full = backup(
        db,
        "BACKUP TABLE bench.t INTO 'nodelocal://1/full'",
        &extern_dir.join("full"),
    )
    .await?;
    progress("full backup", &full);
    let region = REGIONS[REGIONS.len() - 1];
    let restricted = backup(
        db,
        &format!(
            "BACKUP TABLE bench.t INTO 'nodelocal://1/restricted' WITH EXECUTION LOCALITY = 'region={region}'"
        ),
        &extern_dir.join("restricted"),
    )
    .await?;
    progress("restricted backup", &restricted);

    // Restore of the full backup into a fresh database.
    db.batch_execute("CREATE DATABASE restored").await?;
    let restore = {
        let started = Instant::now();
        db.simple_query(
            "RESTORE TABLE bench.t FROM LATEST IN 'nodelocal://1/full' WITH into_db = 'restored'",
        )
        .await?;
        Timed {
            secs: started.elapsed().as_secs_f64(),
            bytes: full.bytes,
        }
    };
    let restored = count(db, "SELECT count(*) FROM restored.t").await?;
    progress("restore", &restore);
    ensure!(
        restored == args.rows as i64,
        "RESTORE restored {restored} rows"
    );

    // Incremental after changing a share of the rows.
    let changed = change_rows(&sx, &args).await?;
    let before = dir_bytes(&extern_dir.join("full"))?;
    let incremental = {
        let started = Instant::now();
        db.simple_query("BACKUP TABLE bench.t INTO LATEST IN 'nodelocal://1/full'")
            .await?;
        Timed {
            secs: started.elapsed().as_secs_f64(),
            bytes: dir_bytes(&extern_dir.join("full"))?.saturating_sub(before),
        }
    };
    progress("incremental backup", &incremental);

    // Job start latency, with and without the hand-off.
    let (handoff, handoff_stmt) = start_latency_handoff(&c, db, args.start_trials).await?;
    let adoption = start_latency_adoption(&c, args.adoption_trials).await?;
    drop(sx);
    c.shutdown().await;

    let mbps = |t: &Timed| data_mb / t.secs;
    println!(
        "  {:<44}{:>10}{:>10}{:>12}",
        "", "seconds", "MB/s", "bytes out"
    );
    for (name, t) in [
        ("sextant BACKUP (3 regions)", &full),
        ("pg_dump -Fc -Z0", &pg_dump),
        ("sextant RESTORE", &restore),
        ("pg_restore", &pg_restore),
        (
            &*format!("sextant BACKUP, EXECUTION LOCALITY region={region}"),
            &restricted,
        ),
        (
            &*format!("sextant incremental BACKUP, {changed} rows changed"),
            &incremental,
        ),
    ] {
        println!(
            "  {name:<44}{:>10.2}{:>10.2}{:>12}",
            t.secs,
            mbps(t),
            t.bytes
        );
    }
    let k_over_n = args.nodes_per_region as f64 / n as f64;
    println!(
        "  ratio backup MB/s ÷ pg_dump                    {:.2} x",
        mbps(&full) / mbps(&pg_dump)
    );
    println!(
        "  ratio restore MB/s ÷ pg_restore                {:.2} x",
        mbps(&restore) / mbps(&pg_restore)
    );
    println!(
        "  ratio restricted MB/s ÷ ({}/{n} x unrestricted)   {:.2} x",
        args.nodes_per_region,
        mbps(&restricted) / (k_over_n * mbps(&full))
    );
    println!(
        "  ratio incremental ÷ full                       time {:.3} x   bytes {:.3} x",
        incremental.secs / full.secs,
        incremental.bytes as f64 / full.bytes.max(1) as f64
    );
    let (h50, hmax) = median_max(&handoff);
    let (a50, amax) = median_max(&adoption);
    let planning = median_max(&handoff_stmt).0;
    println!(
        "  job start, immediate hand-off                  median {:>8.1} ms   max {:>8.1} ms   ({} jobs)",
        h50 * 1e3,
        hmax * 1e3,
        handoff.len()
    );
    println!(
        "  job start, adoption loop only                  median {:>8.1} ms   max {:>8.1} ms   ({} jobs, incl. {:.1} ms planning)",
        (a50 + planning) * 1e3,
        (amax + planning) * 1e3,
        adoption.len(),
        planning * 1e3
    );
    println!(
        "  ratio job start hand-off ÷ adoption            {:.3} x",
        h50 / (a50 + planning)
    );
    Ok(())
}

fn pg_bin_dir() -> PathBuf {
    std::env::var_os("SEXTANT_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(client::testing::DEFAULT_PG_BIN))
}

/// One measurement as soon as it is taken (stderr; the table at the end is on stdout).
fn progress(what: &str, t: &Timed) {
    eprintln!("  measured {what}: {:.2} s, {} bytes", t.secs, t.bytes);
}

fn pg_conn_args(port: u16) -> Vec<String> {
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-U".into(),
        client::testing::SUPERUSER.into(),
    ]
}

fn run_tool(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// The first column of the first row of a query, as an integer.
async fn count(c: &Client, sql: &str) -> Result<i64> {
    let rows = c.simple_query(sql).await?;
    let value = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    let value = value.ok_or_else(|| anyhow!("{sql}: no row"))?;
    value
        .parse()
        .with_context(|| format!("{sql}: not an integer: {value}"))
}

/// Loads every row into `table` with multi-row INSERTs spread over the connections; seconds.
async fn load(clients: &[Client], table: &str, args: &Args) -> Result<f64> {
    let started = Instant::now();
    let batches: Vec<(usize, usize)> = (0..args.rows)
        .step_by(args.batch)
        .map(|lo| (lo, (lo + args.batch).min(args.rows)))
        .collect();
    let tasks = clients.iter().enumerate().map(|(w, c)| {
        let mine: Vec<(usize, usize)> = batches
            .iter()
            .copied()
            .skip(w)
            .step_by(clients.len())
            .collect();
        async move {
            for (lo, hi) in mine {
                let sql = insert_statement(table, "INSERT", lo..hi, args.row_bytes, 0);
                c.batch_execute(&sql)
                    .await
                    .with_context(|| format!("loading rows {lo}..{hi}"))?;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Writes the rows' primary-index entries, encoded as INSERT encodes them, with non-transactional
/// KV batches of `--batch` Puts spread over `--load-connections` tasks; seconds.
async fn load_kv(c: &LocalCluster, table_id: u64, args: &Args) -> Result<f64> {
    let sender = c.node(0).sender().clone();
    let desc = kv::node::kv_get(&sender, sql::catalog::desc_key(table_id))
        .await?
        .ok_or_else(|| anyhow!("no descriptor {table_id}"))?;
    let table = match sql::catalog::decode_descriptor(&desc)? {
        sql::catalog::Descriptor::Table(t) => t,
        other => bail!("descriptor {table_id} is not a table: {other:?}"),
    };
    let started = Instant::now();
    let batches: Vec<(usize, usize)> = (0..args.rows)
        .step_by(args.batch)
        .map(|lo| (lo, (lo + args.batch).min(args.rows)))
        .collect();
    let workers = args.load_connections;
    let tasks = (0..workers).map(|w| {
        let mine: Vec<(usize, usize)> = batches.iter().copied().skip(w).step_by(workers).collect();
        let (sender, table) = (sender.clone(), &table);
        async move {
            for (lo, hi) in mine {
                let mut requests = Vec::with_capacity(hi - lo);
                for id in lo..hi {
                    let (n, s) = row_values(id, 0, args.row_bytes);
                    let row = [
                        sql::Datum::Int(id as i64),
                        sql::Datum::Int(n),
                        sql::Datum::String(s),
                    ];
                    requests.push(kv::api::Request::Put {
                        key: sql::encoding::primary_key(table, &row)?,
                        value: sql::encoding::primary_value(table, &row),
                    });
                }
                let ba = kv::api::BatchRequest {
                    header: kv::api::Header {
                        gateway: sender.node_id(),
                        ..Default::default()
                    },
                    requests,
                };
                sender
                    .send(ba)
                    .await
                    .with_context(|| format!("writing rows {lo}..{hi}"))?;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Row `id`'s `n` and `s` columns, `version` changing both.
fn row_values(id: usize, version: u64, row_bytes: usize) -> (i64, String) {
    (
        (id as u64 ^ version) as i64,
        row_string(id as u64, version, row_bytes - 16),
    )
}

/// Rewrites every `1/changed_pct`-th row with UPSERTs of new strings; the count changed.
async fn change_rows(clients: &[Client], args: &Args) -> Result<usize> {
    let every = ((100.0 / args.changed_pct).round() as usize).max(1);
    let ids: Vec<usize> = (0..args.rows).step_by(every).collect();
    let tasks = clients.iter().enumerate().map(|(w, c)| {
        let chunks: Vec<Vec<usize>> = ids
            .chunks(args.batch)
            .skip(w)
            .step_by(clients.len())
            .map(<[usize]>::to_vec)
            .collect();
        async move {
            for chunk in chunks {
                let sql =
                    insert_statement("bench.t", "UPSERT", chunk.into_iter(), args.row_bytes, 1);
                c.batch_execute(&sql).await.context("changing rows")?;
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    for r in futures::future::join_all(tasks).await {
        r?;
    }
    Ok(ids.len())
}

/// `<verb> INTO <table> (id, n, s) VALUES ...` for the given row ids; `version` changes the
/// generated strings.
fn insert_statement(
    table: &str,
    verb: &str,
    ids: impl Iterator<Item = usize>,
    row_bytes: usize,
    version: u64,
) -> String {
    let mut sql = format!("{verb} INTO {table} (id, n, s) VALUES ");
    for (i, id) in ids.enumerate() {
        if i > 0 {
            sql.push(',');
        }
        let (n, s) = row_values(id, version, row_bytes);
        sql.push_str(&format!("({id}, {n}, '{s}')"));
    }
    sql
}

/// A deterministic pseudo-random string of `len` letters of [`ALPHABET`] for row `id`.
fn row_string(id: u64, version: u64, len: usize) -> String {
    // splitmix64 seeds, xorshift64* steps.
    let mut x = id
        .wrapping_add(version.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x |= 1;
    let mut s = String::with_capacity(len);
    for _ in 0..len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        s.push(char::from(ALPHABET[(v >> 58) as usize]));
    }
    s
}

/// Row ids at which to split `rows` rows into `ranges` ranges of equal row counts.
fn split_points(rows: usize, ranges: usize) -> Vec<i64> {
    (1..ranges.max(1))
        .map(|i| (rows * i / ranges) as i64)
        .filter(|id| *id > 0 && (*id as usize) < rows)
        .fold(Vec::new(), |mut v, id| {
            if v.last() != Some(&id) {
                v.push(id);
            }
            v
        })
}

/// The primary-index key of row `id` of table `table_id`: `/Table/<id>/1/<id>`.
fn row_key(table_id: u64, id: i64) -> base::Key {
    let mut k = base::keys::index_prefix(table_id, 1).0;
    base::encoding::encode_varint(&mut k, id);
    base::Key(k)
}

/// Runs a BACKUP and checks it succeeded; its wall time and the bytes its files take in `dir`.
async fn backup(db: &Client, stmt: &str, dir: &Path) -> Result<Timed> {
    let started = Instant::now();
    let rows = db
        .simple_query(stmt)
        .await
        .with_context(|| stmt.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    let status = rows.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => r.get(1).map(str::to_string),
        _ => None,
    });
    ensure!(
        status.as_deref() == Some("succeeded"),
        "{stmt}: status {status:?}"
    );
    Ok(Timed {
        secs,
        bytes: dir_bytes(dir)?,
    })
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

/// Median and maximum of a sample of seconds.
fn median_max(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[s.len() - 1])
}

/// How often the job record is read while waiting for its coordinator.
const POLL: Duration = Duration::from_millis(2);

/// Waits until job `id` has a start time (written with the coordinator's claim; the claim
/// itself is gone again once a small job finishes); the time since `since`.
async fn wait_claimed(sender: &kv::DistSender, id: jobs::JobId, since: Instant) -> Result<f64> {
    let deadline = since + Duration::from_secs(60);
    loop {
        if let Ok(rec) = jobs::store::get(sender, id).await
            && rec.started.is_some()
        {
            return Ok(since.elapsed().as_secs_f64());
        }
        ensure!(
            Instant::now() < deadline,
            "job {id} was not adopted within 60 s"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Start latencies of detached backups of a small table with the immediate hand-off (until
/// the record shows the claim, read through KV), and the statements' own times.
async fn start_latency_handoff(
    c: &LocalCluster,
    db: &Client,
    trials: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    db.batch_execute(
        "CREATE TABLE bench.small (id INT8 PRIMARY KEY, v STRING); \
         INSERT INTO bench.small VALUES (1, 'a'), (2, 'b'), (3, 'c')",
    )
    .await?;
    let node = c.node(0);
    let mut starts = Vec::new();
    let mut stmts = Vec::new();
    for i in 0..trials.max(1) {
        let started = Instant::now();
        let id = count(
            db,
            &format!("BACKUP TABLE bench.small INTO 'nodelocal://1/start-{i}' WITH DETACHED"),
        )
        .await?;
        stmts.push(started.elapsed().as_secs_f64());
        starts.push(wait_claimed(node.sender(), id, started).await?);
    }
    Ok((starts, stmts))
}

/// Start latencies through the adoption loop: copies of the last detached backup's record,
/// each with a fresh id and destination, written unclaimed as `Registry::create_job` writes
/// a job, without the hand-off.
async fn start_latency_adoption(c: &LocalCluster, trials: usize) -> Result<Vec<f64>> {
    let node = c.node(0);
    let sender = node.sender();
    let recs = jobs::store::list(sender).await?;
    let template = recs
        .iter()
        .filter(|r| r.job_type == jobs::JobType::Backup && r.description.contains("bench.small"))
        .max_by_key(|r| r.id)
        .cloned()
        .ok_or_else(|| anyhow!("no detached backup job to copy"))?;
    let mut out = Vec::new();
    for i in 0..trials.max(1) {
        let mut details: serde_json::Value = serde_json::from_slice(&template.details)
            .context("decoding the backup job's details")?;
        details["uris"] = serde_json::json!([format!("nodelocal://1/adopt-{i}")]);
        // A job id as a node makes one, from the benchmark's own clock.
        #[allow(clippy::disallowed_methods)]
        let now = Utc::now();
        let micros = now.timestamp_micros();
        let mut rec = template.clone();
        rec.id = ((micros & (i64::MAX >> 15)) << 15) | 0x7fff;
        rec.status = jobs::JobStatus::Running;
        rec.details = serde_json::to_vec(&details)?;
        rec.running_status = None;
        rec.fraction_completed = 0.0;
        rec.coordinator_id = None;
        rec.claim = None;
        rec.created = now;
        rec.modified = now;
        rec.started = None;
        rec.finished = None;
        rec.last_run = None;
        rec.num_runs = 0;
        rec.error = None;
        rec.execution_errors = Vec::new();
        rec.progress = Vec::new();
        rec.result = Vec::new();
        rec.plan = None;
        let started = Instant::now();
        jobs::store::insert(sender, &rec).await?;
        out.push(wait_claimed(sender, rec.id, started).await?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_strings_are_deterministic_and_sized() {
        let a = row_string(7, 0, 134);
        assert_eq!(a.len(), 134);
        assert_eq!(a, row_string(7, 0, 134));
        assert_ne!(a, row_string(8, 0, 134));
        assert_ne!(a, row_string(7, 1, 134));
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
    }

    #[test]
    fn insert_statements_list_every_row() {
        let sql = insert_statement("t", "INSERT", 3..5, 20, 0);
        assert!(
            sql.starts_with("INSERT INTO t (id, n, s) VALUES (3, 3, '"),
            "{sql}"
        );
        assert_eq!(sql.matches("),(").count(), 1);
        let up = insert_statement("bench.t", "UPSERT", [10].into_iter(), 20, 1);
        assert!(
            up.starts_with("UPSERT INTO bench.t (id, n, s) VALUES (10, 11, '"),
            "{up}"
        );
    }

    #[test]
    fn split_points_divide_rows_evenly() {
        assert_eq!(split_points(600, 3), vec![200, 400]);
        assert_eq!(split_points(600, 1), Vec::<i64>::new());
        assert_eq!(split_points(600, 0), Vec::<i64>::new());
        assert_eq!(split_points(2, 4), vec![1]);
    }

    #[test]
    fn median_max_of_a_sample() {
        assert_eq!(median_max(&[3.0, 1.0, 2.0]), (2.0, 3.0));
        assert!(median_max(&[]).0.is_nan());
    }

    #[test]
    fn row_keys_sort_by_id() {
        assert!(row_key(104, -1) < row_key(104, 0));
        assert!(row_key(104, 9) < row_key(104, 10));
        assert!(row_key(104, i64::MAX) < base::keys::index_prefix(104, 2));
    }
}
