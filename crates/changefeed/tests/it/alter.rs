//! ALTER CHANGEFEED on a paused feed: tables added (with and without an initial scan) and
//! dropped, options set, and CockroachDB's errors.

use std::time::Duration;

use jobs::{JobStatus, JobType, NewJob};
use sql::Datum;

use crate::cluster::TestCluster;
use crate::fixtures::Tansu;

/// Waits until `topic` holds every message of `want` (as `(key, value)`), then returns all of
/// its distinct messages in arrival order.
async fn wait_for(tansu: &Tansu, topic: &str, want: &[(&str, &str)]) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let mut seen: Vec<(String, String)> = Vec::new();
        for (_, k, v) in tansu.consume(topic).await {
            if k != "<nil>" && !seen.contains(&(k.clone(), v.clone())) {
                seen.push((k, v));
            }
        }
        if want
            .iter()
            .all(|(k, v)| seen.iter().any(|(sk, sv)| sk == k && sv == v))
        {
            return seen;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}: want {want:?}, have {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn pause(c: &TestCluster, id: i64) {
    c.nodes[0].jobs.pause(id).await.expect("pause");
    c.wait_job(id, Duration::from_secs(10), "paused", |r| {
        r.status == JobStatus::Paused
    })
    .await;
}

#[tokio::test]
async fn alter_changefeed_adds_and_drops_tables_and_sets_options() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let c = TestCluster::one_node(
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY); \
         CREATE TABLE d.u (a INT PRIMARY KEY, b STRING); CREATE TABLE d.w (a INT PRIMARY KEY)",
    )
    .await;
    c.exec(
        0,
        "d",
        "INSERT INTO u VALUES (1, 'old'); INSERT INTO w VALUES (1)",
    )
    .await;
    let id = c.kafka_feed(&tansu.addr).await;
    c.exec(0, "d", "INSERT INTO t VALUES (1)").await;
    wait_for(&tansu, "t", &[("[1]", "{\"after\": {\"a\": 1}}")]).await;
    c.wait_job(id, Duration::from_secs(10), "checkpointed", |r| {
        r.high_water.is_some()
    })
    .await;

    // A running feed cannot be altered; a job that is not a changefeed neither.
    let alter = |sql: &str| sql.replace("$id", &id.to_string());
    assert_eq!(
        c.exec_err(0, "d", &alter("ALTER CHANGEFEED $id ADD u"))
            .await,
        format!("job {id} is not paused")
    );
    let other = c.nodes[0]
        .jobs
        .create_job(NewJob::new(JobType::Backup, "BACKUP elsewhere"))
        .await
        .expect("job");
    assert_eq!(
        c.exec_err(0, "d", &format!("ALTER CHANGEFEED {other} ADD u"))
            .await,
        format!("job {other} is not changefeed job")
    );
    assert_eq!(
        c.exec_err(0, "d", "ALTER CHANGEFEED 12345 ADD u").await,
        "job with ID 12345 does not exist"
    );

    // Paused: add u with an initial scan and w without one.
    pause(&c, id).await;
    for (sql, want) in [
        (
            "ALTER CHANGEFEED $id ADD nope",
            "target \"TABLE nope\" does not exist",
        ),
        (
            "ALTER CHANGEFEED $id ADD t",
            "target \"TABLE t\" already watched by changefeed",
        ),
        (
            "ALTER CHANGEFEED $id DROP u",
            "target \"TABLE u\" already not watched by changefeed",
        ),
        ("ALTER CHANGEFEED $id DROP t", "cannot drop all targets"),
        (
            "ALTER CHANGEFEED $id SET cursor = '1'",
            "cannot alter option \"cursor\"",
        ),
        (
            "ALTER CHANGEFEED $id UNSET sink",
            "cannot unset option \"sink\"",
        ),
        (
            "ALTER CHANGEFEED $id SET execution_locality = 'region=mars'",
            "no instances found matching locality filter region=mars",
        ),
    ] {
        assert_eq!(c.exec_err(0, "d", &alter(sql)).await, want, "{sql}");
    }
    let rows = c
        .exec(
            0,
            "d",
            &alter("ALTER CHANGEFEED $id ADD u WITH initial_scan = 'yes' ADD TABLE w"),
        )
        .await;
    let sink = format!("kafka://{}", tansu.addr);
    let description = format!(
        "CREATE CHANGEFEED FOR TABLE d.public.t, TABLE d.public.u, TABLE d.public.w INTO \
         '{sink}' WITH OPTIONS (min_checkpoint_frequency = '200ms')"
    );
    assert_eq!(
        rows,
        vec![vec![Datum::Int(id), Datum::String(description.clone())]]
    );
    let rec = c.nodes[0].jobs.get(id).await.expect("job");
    assert_eq!(rec.description, description);
    assert_eq!(rec.status, JobStatus::Paused);
    let shown = sextant_changefeed::show_changefeed_jobs(&[rec]);
    assert_eq!(
        shown.rows[0][12].to_string(),
        "{d.public.t,d.public.u,d.public.w}"
    );

    c.nodes[0].jobs.resume(id).await.expect("resume");
    c.exec(
        0,
        "d",
        "INSERT INTO u VALUES (2, 'new'); INSERT INTO w VALUES (2)",
    )
    .await;
    let u = wait_for(
        &tansu,
        "u",
        &[
            ("[1]", "{\"after\": {\"a\": 1, \"b\": \"old\"}}"),
            ("[2]", "{\"after\": {\"a\": 2, \"b\": \"new\"}}"),
        ],
    )
    .await;
    assert_eq!(
        u,
        pairs(&[
            ("[1]", "{\"after\": {\"a\": 1, \"b\": \"old\"}}"),
            ("[2]", "{\"after\": {\"a\": 2, \"b\": \"new\"}}"),
        ]),
        "u is scanned at the high-water, then followed"
    );
    let w = wait_for(&tansu, "w", &[("[2]", "{\"after\": {\"a\": 2}}")]).await;
    assert_eq!(
        w,
        pairs(&[("[2]", "{\"after\": {\"a\": 2}}")]),
        "w is followed from the high-water, without a scan"
    );
    let t = wait_for(&tansu, "t", &[]).await;
    assert_eq!(
        t,
        pairs(&[("[1]", "{\"after\": {\"a\": 1}}")]),
        "t is not scanned again"
    );

    // Drop t, set `updated` and an execution locality: t's changes stop, u's carry the
    // timestamp, the job runs where the filter says.
    pause(&c, id).await;
    c.exec(
        0,
        "d",
        &alter("ALTER CHANGEFEED $id DROP t SET updated, execution_locality = 'region=us-east1'"),
    )
    .await;
    let rec = c.nodes[0].jobs.get(id).await.expect("job");
    assert_eq!(rec.execution_locality.as_deref(), Some("region=us-east1"));
    c.nodes[0].jobs.resume(id).await.expect("resume");
    c.exec(
        0,
        "d",
        "INSERT INTO t VALUES (99); INSERT INTO u VALUES (3, 'late')",
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let u = wait_for(&tansu, "u", &[]).await;
        if let Some((_, v)) = u.iter().find(|(k, _)| k == "[3]") {
            assert!(
                v.starts_with("{\"after\": {\"a\": 3, \"b\": \"late\"}, \"updated\": \""),
                "{v}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{u:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The feed has resolved past the insert into t, which never arrives.
    let at = c.nodes[0].node.clock().now();
    c.wait_job(
        id,
        Duration::from_secs(10),
        "resolved past the inserts",
        |r| r.high_water.is_some_and(|h| h > at),
    )
    .await;
    let t = wait_for(&tansu, "t", &[]).await;
    assert_eq!(
        t,
        pairs(&[("[1]", "{\"after\": {\"a\": 1}}")]),
        "t was dropped"
    );
}
