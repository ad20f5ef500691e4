//! `workload init movr` and `workload run movr` against PostgreSQL.

use crate::{Captured, postgres};
use sextant_client::conn;
use sextant_client::workload::movr::data::Sizes;
use sextant_client::workload::movr::{self, InitOptions, RunOptions};
use std::time::Duration;

async fn count(config: &tokio_postgres::Config, sql: &str) -> i64 {
    let client = conn::connect(config).await.expect("connect");
    let row = client.query_one(sql, &[]).await.expect(sql);
    row.get(0)
}

#[tokio::test]
async fn init_loads_the_same_rows_for_the_same_seed_then_runs() {
    let Some(pg) = postgres() else { return };
    let opts = InitOptions {
        sizes: Sizes {
            users: 30,
            vehicles: 12,
            rides: 90,
            histories: 120,
            promo_codes: 40,
        },
        batch_size: 25,
        ..InitOptions::default()
    };
    let log = Captured::default();
    let report = movr::init(&pg.config("postgres"), &opts, &mut log.clone())
        .await
        .expect("init");
    assert!(report.regions.is_empty(), "PostgreSQL has no regions");
    assert_eq!(
        report.rows,
        vec![
            ("users", 30),
            ("vehicles", 12),
            ("rides", 90),
            ("vehicle_location_histories", 120),
            ("promo_codes", 40),
            ("user_promo_codes", 0)
        ]
    );
    let movr_db = pg.config("movr");
    assert_eq!(count(&movr_db, "SELECT count(*) FROM users").await, 30);
    assert_eq!(
        count(&movr_db, "SELECT count(*) FROM vehicle_location_histories").await,
        120
    );
    let fingerprint = "SELECT count(DISTINCT md5(r::text))::INT8 FROM rides r";
    let digest = |c: tokio_postgres::Config| async move {
        let client = conn::connect(&c).await.expect("connect");
        let row = client
            .query_one(
                "SELECT md5(string_agg(r::text, '|' ORDER BY id))::TEXT FROM rides r",
                &[],
            )
            .await
            .expect("digest");
        row.get::<_, String>(0)
    };
    let first = digest(movr_db.clone()).await;
    assert_eq!(count(&movr_db, fingerprint).await, 90);

    // Again with --drop and the same seed: the same rows.
    let again = InitOptions {
        drop: true,
        batch_size: 7,
        ..opts.clone()
    };
    movr::init(&pg.config("postgres"), &again, &mut Captured::default())
        .await
        .expect("init again");
    assert_eq!(digest(movr_db.clone()).await, first);

    // A short run: every second a progress line, then the summary.
    let out = Captured::default();
    let run = RunOptions {
        duration: Duration::from_millis(2500),
        concurrency: 3,
        report_interval: Duration::from_millis(500),
        ..RunOptions::default()
    };
    let report = movr::run(&pg.config("postgres"), &run, &mut out.clone())
        .await
        .expect("run");
    let text = out.text();
    assert!(report.ops > 50, "{report:?}\n{text}");
    assert_eq!(report.errors, 0);
    assert!(report.progress_lines >= 4, "{report:?}\n{text}");
    assert!(
        text.contains("read_vehicles") && text.contains("total"),
        "{text}"
    );
    assert!(count(&movr_db, "SELECT count(*) FROM rides").await >= 90);
}

#[tokio::test]
async fn run_without_init_says_what_to_do() {
    let Some(pg) = postgres() else { return };
    let client = conn::connect(&pg.config("postgres"))
        .await
        .expect("connect");
    client
        .simple_query("CREATE DATABASE movr")
        .await
        .expect("db");
    let movr_db = pg.config("movr");
    let c = conn::connect(&movr_db).await.expect("connect");
    c.simple_query("CREATE TABLE users (city TEXT, id UUID)")
        .await
        .expect("users");
    c.simple_query("CREATE TABLE vehicles (city TEXT, id UUID)")
        .await
        .expect("vehicles");
    c.simple_query("CREATE TABLE promo_codes (code TEXT)")
        .await
        .expect("codes");
    let err = movr::run(
        &pg.config("postgres"),
        &RunOptions::default(),
        &mut Captured::default(),
    )
    .await
    .expect_err("empty movr");
    assert!(err.to_string().contains("workload init movr"), "{err}");
}
