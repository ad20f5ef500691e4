//! The movr workload: CockroachDB's ride-sharing sample database and its traffic.
//!
//! # init
//!
//! [`init`] connects where it is told, asks the server what it is (`SELECT version()`) and,
//! on a CockroachDB-compatible server, which regions the cluster has (`SHOW REGIONS FROM
//! CLUSTER`). With two regions or more movr is multi-region: `CREATE DATABASE movr PRIMARY
//! REGION <gateway's region> REGIONS <the others>`, REGIONAL BY ROW tables and a GLOBAL
//! `promo_codes` ([`schema`]), and each row's `crdb_region` is the region of its city
//! ([`region_for`]). Then it creates the tables and indexes in `movr` and loads the rows of
//! [`data`] in multi-row INSERTs of [`InitOptions::batch_size`] rows.
//!
//! # run
//!
//! [`run`] reads the ids it needs (users, vehicles, promo codes), then
//! [`RunOptions::concurrency`] workers, each on its own connection with its own seeded
//! generator, pick operations from movr's mix ([`Op`]: mostly reading a city's vehicles,
//! plus rides started and ended, locations recorded, users and vehicles added and promo codes
//! applied) until the duration is up. A transaction that fails with SQLSTATE 40001 is retried
//! from the start. Every second a progress line shows the throughput and latency
//! percentiles; the run ends with a summary per operation ([`Stats`]).

pub mod data;
pub mod schema;

use crate::conn::{self, ClientError};
use crate::workload::rng::Rng;
use crate::workload::stats::Stats;
use base::errcode::{self, Code};
use data::{CITIES, Group, Sizes, Value, quote};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_postgres::{Client, Config, SimpleQueryMessage};

/// The SQLSTATE of a transaction the server asks the client to retry.
pub const RETRY_SQLSTATE: Code = errcode::SERIALIZATION_FAILURE;

/// How many times an operation is retried after 40001 before it counts as failed.
pub const MAX_RETRIES: u64 = 20;

/// Rows per INSERT statement while loading.
pub const DEFAULT_BATCH_SIZE: usize = 100;

/// The seed `init` and `run` use unless told otherwise.
pub const DEFAULT_SEED: u64 = 1;

/// How `init` runs.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Rows per table.
    pub sizes: Sizes,
    /// Seed of the data generator.
    pub seed: u64,
    /// Drop an existing `movr` database first.
    pub drop: bool,
    /// Rows per INSERT statement (at least 1).
    pub batch_size: usize,
}

impl Default for InitOptions {
    fn default() -> InitOptions {
        InitOptions {
            sizes: Sizes::default(),
            seed: DEFAULT_SEED,
            drop: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// What `init` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitReport {
    /// The database's regions, primary first; empty for a single-region movr.
    pub regions: Vec<String>,
    /// Rows loaded per table.
    pub rows: Vec<(&'static str, u64)>,
}

/// Rows of one query, as text.
async fn query_rows(
    client: &Client,
    sql: &str,
) -> Result<Vec<Vec<Option<String>>>, tokio_postgres::Error> {
    Ok(client
        .simple_query(sql)
        .await?
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect())
}

/// Whether the server speaks CockroachDB's dialect (Sextant does).
async fn is_cockroach(client: &Client) -> Result<bool, ClientError> {
    let rows = query_rows(client, "SELECT version()").await?;
    Ok(rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .is_some_and(|v| v.contains("CockroachDB")))
}

/// The cluster's regions, the gateway's first; empty when the server has none.
async fn cluster_regions(client: &Client) -> Result<Vec<String>, ClientError> {
    let mut regions: Vec<String> = query_rows(client, "SHOW REGIONS FROM CLUSTER")
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    regions.sort();
    regions.dedup();
    if let Ok(rows) = query_rows(client, "SELECT gateway_region()").await
        && let Some(gw) = rows.first().and_then(|r| r.first().cloned().flatten())
        && let Some(pos) = regions.iter().position(|r| *r == gw)
    {
        let gw = regions.remove(pos);
        regions.insert(0, gw);
    }
    Ok(regions)
}

/// The region of a city's group among `regions`: one whose name says so (`us-east…`,
/// `us-west…`, `eu…`), else the regions in turn.
pub fn region_for(group: Group, regions: &[String]) -> Option<String> {
    let wanted: &[&str] = match group {
        Group::UsEast => &["us-east", "us_east", "useast"],
        Group::UsWest => &["us-west", "us_west", "uswest"],
        Group::EuWest => &["europe", "eu-", "eu_"],
    };
    regions
        .iter()
        .find(|r| wanted.iter().any(|w| r.to_lowercase().starts_with(w)))
        .or_else(|| {
            let i = match group {
                Group::UsEast => 0,
                Group::UsWest => 1,
                Group::EuWest => 2,
            };
            regions.get(i % regions.len().max(1))
        })
        .cloned()
}

/// An INSERT of `rows` into `table`; with `regions`, a `crdb_region` column from each row's
/// `city` column.
pub fn insert_sql(
    table: &str,
    columns: &[&str],
    rows: &[Vec<Value>],
    regions: Option<&[String]>,
) -> String {
    let city_col = columns.iter().position(|c| *c == "city");
    let mut cols: Vec<String> = columns.iter().map(|c| schema::ident(c)).collect();
    let with_region = regions.is_some() && city_col.is_some();
    if with_region {
        cols.insert(0, "crdb_region".into());
    }
    let tuples: Vec<String> = rows
        .iter()
        .map(|row| {
            let mut vals: Vec<String> = row.iter().map(Value::sql).collect();
            if let (Some(regions), Some(ci)) = (regions, city_col) {
                let city = row.get(ci).and_then(Value::as_str).unwrap_or("");
                let region = CITIES
                    .iter()
                    .find(|(c, _)| *c == city)
                    .and_then(|(_, g)| region_for(*g, regions));
                vals.insert(0, region.map_or("NULL".into(), |r| quote(&r)));
            }
            format!("({})", vals.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        cols.join(", "),
        tuples.join(", ")
    )
}

/// Creates and loads the movr database; `log` gets a line per step.
pub async fn init(
    config: &Config,
    opts: &InitOptions,
    log: &mut (dyn Write + Send),
) -> Result<InitReport, ClientError> {
    let client = conn::connect(config).await?;
    let cockroach = is_cockroach(&client).await?;
    let regions = if cockroach {
        cluster_regions(&client).await?
    } else {
        Vec::new()
    };
    let multi_region = regions.len() >= 2;
    let say = |log: &mut (dyn Write + Send), line: String| {
        let _ = writeln!(log, "{line}");
    };
    if opts.drop {
        let drop = if cockroach {
            "DROP DATABASE IF EXISTS movr CASCADE"
        } else {
            "DROP DATABASE IF EXISTS movr"
        };
        client.simple_query(drop).await?;
    }
    let create_db = schema::create_database(if multi_region { &regions } else { &[] });
    say(log, format!("{create_db};"));
    client.simple_query(&create_db).await?;
    drop(client);

    let mut movr_config = config.clone();
    movr_config.dbname("movr");
    let client = conn::connect(&movr_config).await?;
    for (_, ddl) in schema::TABLES {
        client.simple_query(ddl).await?;
    }
    for index in schema::INDEXES {
        client.simple_query(index).await?;
    }
    if multi_region {
        for (table, _) in schema::TABLES {
            client.simple_query(&schema::set_locality(table)).await?;
        }
    }
    say(log, format!("created {} tables", schema::TABLES.len()));

    let (seed, sizes, batch) = (opts.seed, opts.sizes, opts.batch_size.max(1));
    let regions_arg = multi_region.then_some(regions.as_slice());
    let mut report = InitReport {
        regions: if multi_region {
            regions.clone()
        } else {
            Vec::new()
        },
        rows: Vec::new(),
    };
    for (table, columns, n) in sizes.tables() {
        let started = Instant::now();
        let mut loaded = 0;
        let mut start = 0;
        while start < n {
            let end = (start + batch as u64).min(n);
            let rows: Vec<Vec<Value>> = (start..end)
                .filter_map(|i| data::row(seed, &sizes, table, i))
                .collect();
            if !rows.is_empty() {
                let promo = table == "promo_codes";
                let sql = insert_sql(
                    table,
                    columns,
                    &rows,
                    if promo { None } else { regions_arg },
                );
                client.simple_query(&sql).await?;
                loaded += rows.len() as u64;
            }
            start = end;
        }
        say(
            log,
            format!(
                "loaded {loaded} rows into {table} in {:.2?}",
                started.elapsed()
            ),
        );
        report.rows.push((table, loaded));
    }
    report.rows.push(("user_promo_codes", 0));
    Ok(report)
}

/// How `run` runs.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How long to run; zero runs until Ctrl-C.
    pub duration: Duration,
    /// Concurrent connections, each running one operation at a time (at least 1).
    pub concurrency: usize,
    /// Seed of the workers' generators.
    pub seed: u64,
    /// Count failed operations and carry on, instead of stopping at the first.
    pub tolerate_errors: bool,
    /// Between progress lines.
    pub report_interval: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            duration: Duration::from_secs(30),
            concurrency: 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            seed: DEFAULT_SEED,
            tolerate_errors: false,
            report_interval: Duration::from_secs(1),
        }
    }
}

/// What `run` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// Operations that succeeded.
    pub ops: usize,
    /// Operations that failed (only with `tolerate_errors`).
    pub errors: u64,
    /// Progress lines printed.
    pub progress_lines: usize,
}

/// One movr operation: a name and the statements of its transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// Its name in the summary.
    pub name: &'static str,
    /// Statements run in one transaction (one alone runs as an implicit transaction).
    pub statements: Vec<String>,
    /// What the worker remembers once it commits.
    pub effect: Effect,
}

/// What a committed operation changes in the worker's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// A ride started: `(city, ride id, vehicle id)`.
    RideStarted(String, String, String),
    /// The active ride at this index ended.
    RideEnded(usize),
}

/// Ids read from the database at the start of `run`, by city.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    /// `users.id` per city index.
    pub users: Vec<Vec<String>>,
    /// `vehicles.id` per city index.
    pub vehicles: Vec<Vec<String>>,
    /// Promo codes.
    pub promo_codes: Vec<String>,
}

async fn load_ids(client: &Client) -> Result<Ids, ClientError> {
    let by_city = |rows: Vec<Vec<Option<String>>>| {
        let mut out = vec![Vec::new(); CITIES.len()];
        for r in rows {
            if let (Some(Some(city)), Some(Some(id))) = (r.first(), r.get(1))
                && let Some(c) = CITIES.iter().position(|(name, _)| name == city)
            {
                out[c].push(id.clone());
            }
        }
        out
    };
    let users = by_city(query_rows(client, "SELECT city, id FROM users LIMIT 10000").await?);
    let vehicles = by_city(query_rows(client, "SELECT city, id FROM vehicles LIMIT 10000").await?);
    let promo_codes = query_rows(client, "SELECT code FROM promo_codes LIMIT 1000")
        .await?
        .into_iter()
        .filter_map(|r| r.into_iter().next().flatten())
        .collect();
    if users.iter().all(Vec::is_empty) {
        return Err(ClientError::Other(
            "movr has no users: run `sextant workload init movr` first".into(),
        ));
    }
    Ok(Ids {
        users,
        vehicles,
        promo_codes,
    })
}

/// Picks the next operation of a worker: movr's mix, 90 % reads.
pub fn next_op(rng: &mut Rng, ids: &Ids, active: &[(String, String, String)]) -> Op {
    let c = (0..CITIES.len())
        .filter(|c| !ids.users[*c].is_empty())
        .nth(rng.below(ids.users.iter().filter(|u| !u.is_empty()).count() as u64) as usize)
        .unwrap_or(0);
    let city = CITIES[c].0;
    let q = quote(city);
    let user = ids.users[c].get(rng.below(ids.users[c].len() as u64) as usize);
    let vehicle = ids.vehicles[c].get(rng.below(ids.vehicles[c].len() as u64) as usize);
    let roll = rng.below(100);
    let simple = |name, sql: String| Op {
        name,
        statements: vec![sql],
        effect: Effect::None,
    };
    match roll {
        90..=92 if user.is_some() && vehicle.is_some() => {
            let (user, vehicle) = (
                user.cloned().unwrap_or_default(),
                vehicle.cloned().unwrap_or_default(),
            );
            let ride = rng.uuid();
            let (lat, long) = data::position(rng);
            Op {
                name: "start_ride",
                statements: vec![
                    format!(
                        "INSERT INTO rides (id, city, vehicle_city, rider_id, vehicle_id, start_address, start_time) \
                         VALUES ('{ride}', {q}, {q}, '{user}', '{vehicle}', {}, now())",
                        quote(&data::address(rng))
                    ),
                    format!(
                        "UPDATE vehicles SET status = 'in_use' WHERE city = {q} AND id = '{vehicle}'"
                    ),
                    format!(
                        "INSERT INTO vehicle_location_histories (city, ride_id, \"timestamp\", lat, long) \
                         VALUES ({q}, '{ride}', now(), {lat}, {long})"
                    ),
                ],
                effect: Effect::RideStarted(city.to_string(), ride, vehicle),
            }
        }
        93..=94 if !active.is_empty() => {
            let i = rng.below(active.len() as u64) as usize;
            let (city, ride, vehicle) = &active[i];
            let q = quote(city);
            Op {
                name: "end_ride",
                statements: vec![
                    format!(
                        "UPDATE rides SET end_address = {}, end_time = now(), revenue = {} \
                         WHERE city = {q} AND id = '{ride}'",
                        quote(&data::address(rng)),
                        data::revenue(rng)
                    ),
                    format!(
                        "UPDATE vehicles SET status = 'available', current_location = {} \
                         WHERE city = {q} AND id = '{vehicle}'",
                        quote(&data::address(rng))
                    ),
                ],
                effect: Effect::RideEnded(i),
            }
        }
        95..=96 if !active.is_empty() => {
            let (city, ride, _) = &active[rng.below(active.len() as u64) as usize];
            let (lat, long) = data::position(rng);
            simple(
                "update_location",
                format!(
                    "INSERT INTO vehicle_location_histories (city, ride_id, \"timestamp\", lat, long) \
                     VALUES ({}, '{ride}', now(), {lat}, {long})",
                    quote(city)
                ),
            )
        }
        97 => simple(
            "add_user",
            format!(
                "INSERT INTO users (id, city, name, address, credit_card) VALUES ('{}', {q}, {}, {}, {})",
                rng.uuid(),
                quote(&data::name(rng)),
                quote(&data::address(rng)),
                quote(&data::credit_card(rng))
            ),
        ),
        98 if user.is_some() => {
            let kind = data::vehicle_type(rng);
            simple(
                "add_vehicle",
                format!(
                    "INSERT INTO vehicles (id, city, type, owner_id, creation_time, status, current_location, ext) \
                     VALUES ('{}', {q}, '{kind}', '{}', now(), 'available', {}, {})",
                    rng.uuid(),
                    user.cloned().unwrap_or_default(),
                    quote(&data::address(rng)),
                    quote(&data::vehicle_ext(rng, kind))
                ),
            )
        }
        99 if user.is_some() && !ids.promo_codes.is_empty() => {
            let code = rng.pick(&ids.promo_codes).clone();
            simple(
                "apply_promo_code",
                format!(
                    "INSERT INTO user_promo_codes (city, user_id, code, \"timestamp\", usage_count) \
                     VALUES ({q}, '{}', {}, now(), 1) ON CONFLICT (city, user_id, code) \
                     DO UPDATE SET usage_count = user_promo_codes.usage_count + 1",
                    user.cloned().unwrap_or_default(),
                    quote(&code)
                ),
            )
        }
        _ => simple(
            "read_vehicles",
            format!("SELECT city, id FROM vehicles WHERE city = {q} LIMIT 25"),
        ),
    }
}

/// Runs `op` once, in a transaction when it has several statements.
async fn attempt(client: &mut Client, op: &Op) -> Result<(), tokio_postgres::Error> {
    if let [sql] = op.statements.as_slice() {
        client.simple_query(sql).await?;
        return Ok(());
    }
    let tx = client.transaction().await?;
    for sql in &op.statements {
        tx.simple_query(sql).await?;
    }
    tx.commit().await
}

/// Runs `op`, retrying on 40001; the number of retries it took.
async fn run_op(client: &mut Client, op: &Op) -> Result<u64, tokio_postgres::Error> {
    let mut retries = 0;
    loop {
        match attempt(client, op).await {
            Ok(()) => return Ok(retries),
            Err(e)
                if e.code().map(|c| c.code()) == Some(RETRY_SQLSTATE.as_str())
                    && retries < MAX_RETRIES =>
            {
                retries += 1;
                let backoff = Duration::from_millis((1u64 << retries.min(7)).min(100));
                tokio::time::sleep(backoff).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What every worker of a run shares.
struct Shared {
    ids: Ids,
    seed: u64,
    deadline: Option<Instant>,
    stats: Mutex<Stats>,
    stop: std::sync::atomic::AtomicBool,
    tolerate_errors: bool,
}

async fn worker(config: Config, shared: Arc<Shared>, index: u64) -> Result<(), ClientError> {
    use std::sync::atomic::Ordering;
    let mut client = conn::connect(&config).await?;
    let s = &*shared;
    let mut rng = Rng::for_item(s.seed, 100, index);
    let mut active: Vec<(String, String, String)> = Vec::new();
    while !s.stop.load(Ordering::Relaxed) && s.deadline.is_none_or(|d| Instant::now() < d) {
        let op = next_op(&mut rng, &s.ids, &active);
        let started = Instant::now();
        match run_op(&mut client, &op).await {
            Ok(retries) => {
                lock(&s.stats).record(op.name, started.elapsed(), retries);
                match op.effect {
                    Effect::RideStarted(city, ride, vehicle) => active.push((city, ride, vehicle)),
                    Effect::RideEnded(i) => {
                        active.swap_remove(i);
                    }
                    Effect::None => {}
                }
            }
            Err(_) if s.tolerate_errors && !client.is_closed() => {
                lock(&s.stats).record_error(op.name);
            }
            Err(e) => return Err(ClientError::Sql(e)),
        }
    }
    Ok(())
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs movr's traffic against the `movr` database at `config`'s server; progress lines and
/// the summary go to `out`.
pub async fn run(
    config: &Config,
    opts: &RunOptions,
    out: &mut (dyn Write + Send),
) -> Result<RunReport, ClientError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut config = config.clone();
    config.dbname("movr");
    let ids = load_ids(&conn::connect(&config).await?).await?;
    let started = Instant::now();
    let shared = Arc::new(Shared {
        ids,
        seed: opts.seed,
        deadline: (!opts.duration.is_zero()).then(|| started + opts.duration),
        stats: Mutex::new(Stats::default()),
        stop: AtomicBool::new(false),
        tolerate_errors: opts.tolerate_errors,
    });
    let (stats, stop) = (&shared.stats, &shared.stop);
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..opts.concurrency.max(1) {
        workers.spawn(worker(config.clone(), shared.clone(), i as u64));
    }
    let _ = writeln!(out, "{}", Stats::progress_header());
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + opts.report_interval,
        opts.report_interval,
    );
    let mut progress_lines = 0;
    let mut failure = None;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while !workers.is_empty() {
        tokio::select! {
            _ = ticker.tick() => {
                let mut st = lock(stats);
                let w = st.take_window();
                let elapsed = started.elapsed();
                let cum = st.total_ops() as f64 / elapsed.as_secs_f64().max(1e-9);
                drop(st);
                let _ = writeln!(out, "{}", Stats::progress_line(elapsed, &w, opts.report_interval, cum));
                progress_lines += 1;
            }
            done = workers.join_next() => {
                let err = match done {
                    Some(Ok(Ok(()))) | None => None,
                    Some(Ok(Err(e))) => Some(e),
                    Some(Err(e)) => Some(ClientError::Other(format!("a workload worker failed: {e}"))),
                };
                if let Some(e) = err {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(e);
                }
            }
            _ = &mut ctrl_c => stop.store(true, Ordering::Relaxed),
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let st = lock(stats);
    let _ = write!(out, "{}", st.summary(started.elapsed()));
    let _ = out.flush();
    Ok(RunReport {
        ops: st.total_ops(),
        errors: st.total_errors(),
        progress_lines,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_by_name_then_in_turn() {
        let regions: Vec<String> = ["us-east1", "us-west1", "europe-west1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            region_for(Group::UsWest, &regions).as_deref(),
            Some("us-west1")
        );
        assert_eq!(
            region_for(Group::EuWest, &regions).as_deref(),
            Some("europe-west1")
        );
        let other: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(region_for(Group::UsEast, &other).as_deref(), Some("a"));
        assert_eq!(region_for(Group::EuWest, &other).as_deref(), Some("a"));
        assert_eq!(region_for(Group::UsEast, &[]), None);
    }

    #[test]
    fn inserts_carry_the_city_region() {
        let sizes = Sizes::default();
        let rows = vec![data::user(1, &sizes, 0), data::user(1, &sizes, 49)];
        let regions = vec!["us-east1".to_string(), "europe-west1".to_string()];
        let sql = insert_sql("users", &data::USER_COLUMNS, &rows, Some(&regions));
        assert!(
            sql.starts_with("INSERT INTO users (crdb_region, \"id\", \"city\""),
            "{sql}"
        );
        assert!(sql.contains("('us-east1', '"), "{sql}");
        assert!(sql.contains("('europe-west1', '"), "{sql}");
        let plain = insert_sql("users", &data::USER_COLUMNS, &rows, None);
        assert!(!plain.contains("crdb_region"));
    }

    #[test]
    fn the_mix_is_mostly_reads_and_deterministic() {
        let sizes = Sizes::default();
        let mut ids = Ids {
            users: vec![Vec::new(); CITIES.len()],
            vehicles: vec![Vec::new(); CITIES.len()],
            promo_codes: vec!["c1".into()],
        };
        for i in 0..sizes.users {
            ids.users[data::city_index(i, sizes.users)].push(format!("u{i}"));
        }
        for i in 0..sizes.vehicles {
            ids.vehicles[data::city_index(i, sizes.vehicles)].push(format!("v{i}"));
        }
        let active = vec![("boston".to_string(), "r".to_string(), "v".to_string())];
        let ops = |seed| {
            let mut rng = Rng::new(seed);
            (0..2000)
                .map(|_| next_op(&mut rng, &ids, &active))
                .collect::<Vec<_>>()
        };
        let a = ops(5);
        assert_eq!(a, ops(5));
        let reads = a.iter().filter(|o| o.name == "read_vehicles").count();
        assert!((1700..1900).contains(&reads), "{reads} reads");
        for name in [
            "start_ride",
            "end_ride",
            "update_location",
            "add_user",
            "apply_promo_code",
        ] {
            assert!(a.iter().any(|o| o.name == name), "no {name}");
        }
    }
}
