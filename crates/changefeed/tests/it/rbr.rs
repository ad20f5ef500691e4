//! Changefeeds on tables converted to REGIONAL BY ROW (crdb-behaviour.md §5.6).

use std::time::Duration;

use crate::cluster::TestCluster;
use crate::fixtures::Tansu;

/// Replaces the `updated` timestamp of a message by `<ts>`, returning it too.
fn split_updated(value: &str) -> (String, String) {
    let marker = "\"updated\": \"";
    let Some(i) = value.find(marker) else {
        return (value.to_string(), String::new());
    };
    let start = i + marker.len();
    let end = start + value[start..].find('"').expect("closing quote");
    (
        format!("{}<ts>{}", &value[..start], &value[end..]),
        value[start..end].to_string(),
    )
}

/// The distinct keyed messages of `topic` in arrival order, as `(key, value with <ts>,
/// updated)`: delivery is at least once, so a message seen again (a rangefeed reconnecting
/// after a split re-sends what its last checkpoint did not cover) counts once.
async fn distinct_rows(tansu: &Tansu, topic: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for (_, k, v) in tansu.consume(topic).await {
        if k == "<nil>" {
            continue;
        }
        let (v, ts) = split_updated(&v);
        let row = (k, v, ts);
        if !out.contains(&row) {
            out.push(row);
        }
    }
    out
}

/// Waits until `topic` holds `skip + n` distinct keyed messages; returns the `n` after `skip`
/// as `(key, value)` pairs and their `updated` timestamps.
async fn wait_rows(
    tansu: &Tansu,
    topic: &str,
    skip: usize,
    n: usize,
    timeout: Duration,
) -> (Vec<(String, String)>, Vec<String>) {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let rows = distinct_rows(tansu, topic).await;
        if rows.len() >= skip + n {
            assert_eq!(
                rows.len(),
                skip + n,
                "no more messages than expected: {rows:#?}"
            );
            let rows = &rows[skip..];
            return (
                rows.iter()
                    .map(|(k, v, _)| (k.clone(), v.clone()))
                    .collect(),
                rows.iter().map(|(_, _, ts)| ts.clone()).collect(),
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} messages: {rows:#?}",
            rows.len(),
            skip + n
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pairs(v: &[(&str, String)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

#[tokio::test]
async fn regional_by_row_conversion_re_emits_rows_and_region_moves_are_insert_and_delete() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    tansu.create_topic("t", 1).await;
    let c = TestCluster::start(&["region=us-east1,az=a", "region=us-west1,az=a"]).await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d PRIMARY REGION \"us-east1\" REGIONS \"us-west1\"; \
         CREATE TABLE d.t (a INT PRIMARY KEY, b STRING)",
    )
    .await;
    c.exec(0, "d", "INSERT INTO t VALUES (0, 'x'), (1, NULL)")
        .await;
    let id = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO 'kafka://{}' WITH updated, \
                 min_checkpoint_frequency='200ms'",
                tansu.addr
            ),
        )
        .await;
    let plain = |a: i64, b: &str| {
        format!("{{\"after\": {{\"a\": {a}, \"b\": {b}}}, \"updated\": \"<ts>\"}}")
    };
    let rbr = |a: i64, b: &str, region: &str| {
        format!(
            "{{\"after\": {{\"a\": {a}, \"b\": {b}, \"crdb_region\": \"{region}\"}}, \
             \"updated\": \"<ts>\"}}"
        )
    };
    let deleted = "{\"after\": null, \"updated\": \"<ts>\"}".to_string();
    let (rows, _) = wait_rows(&tansu, "t", 0, 2, Duration::from_secs(15)).await;
    assert_eq!(
        rows,
        pairs(&[("[0]", plain(0, "\"x\"")), ("[1]", plain(1, "null"))])
    );

    // The conversion rewrites every row under a key led by crdb_region. Its own writes are
    // the schema change: nothing is emitted in the old schema at or after it, and once the
    // feed has resolved everything before it the backfill re-emits every row under its new
    // key (as CockroachDB's TestChangefeedWorksOnRBRChange shows). The table's partitions get
    // their own ranges, the us-west1 one led from us-west1 with no row in it.
    c.exec(0, "d", "ALTER TABLE t SET LOCALITY REGIONAL BY ROW")
        .await;
    let (rows, _) = wait_rows(&tansu, "t", 2, 2, Duration::from_secs(15)).await;
    assert_eq!(
        rows,
        pairs(&[
            ("[\"us-east1\", 0]", rbr(0, "\"x\"", "us-east1")),
            ("[\"us-east1\", 1]", rbr(1, "null", "us-east1")),
        ])
    );
    let rec = c
        .wait_job(id, Duration::from_secs(10), "checkpointed after", |r| {
            r.execution_errors.len() == 1
                && r.high_water.is_some()
                && r.running_status
                    .as_deref()
                    .is_some_and(|s| s.starts_with("running"))
        })
        .await;
    assert!(
        rec.execution_errors[0].starts_with("schema change occurred at "),
        "{:?}",
        rec.execution_errors
    );

    // A region change moves the row to another key: an insert under the new key and a delete
    // under the old one, at the same timestamp. They live in different ranges (possibly
    // different aggregators), so only per-key order is promised between them.
    c.exec(0, "d", "UPDATE t SET crdb_region = 'us-west1' WHERE a = 0")
        .await;
    let (mut rows, ts) = wait_rows(&tansu, "t", 4, 2, Duration::from_secs(15)).await;
    assert_eq!(ts[0], ts[1], "both carry the update's timestamp: {rows:?}");
    rows.sort();
    assert_eq!(
        rows,
        pairs(&[
            ("[\"us-east1\", 0]", deleted.clone()),
            ("[\"us-west1\", 0]", rbr(0, "\"x\"", "us-west1")),
        ])
    );
}

#[tokio::test]
async fn regional_by_row_conversion_under_stop_policy_fails_the_feed() {
    let c = TestCluster::one_node(
        "CREATE DATABASE d PRIMARY REGION \"us-east1\"; CREATE TABLE d.t (a INT PRIMARY KEY)",
    )
    .await;
    c.exec(0, "d", "INSERT INTO t VALUES (1)").await;
    let id = c
        .create_feed(
            0,
            "d",
            "CREATE CHANGEFEED FOR t INTO 'null://' WITH schema_change_policy='stop', \
             min_checkpoint_frequency='200ms'",
        )
        .await;
    c.wait_job(id, Duration::from_secs(10), "checkpointed", |r| {
        r.high_water.is_some()
    })
    .await;
    c.exec(0, "d", "ALTER TABLE t SET LOCALITY REGIONAL BY ROW")
        .await;
    c.wait_schema_change_failure(id).await;
}
