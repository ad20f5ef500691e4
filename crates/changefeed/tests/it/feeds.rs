//! Changefeeds end to end: SQL statements on an in-process cluster, messages read back from
//! the real sink.

use std::time::Duration;

use parking_lot::Mutex;

use crate::cluster::TestCluster;
use crate::fixtures::{
    Tansu, Webhook, assert_balanced_over_us_west1, first_deliveries, keyed_rows, wait_every_change,
};

/// The message with its `updated` timestamp replaced by `<ts>` (after checking its form).
fn normalize(value: &str) -> String {
    let Some(i) = value.find("\"updated\": \"") else {
        return value.to_string();
    };
    let start = i + "\"updated\": \"".len();
    let end = start + value[start..].find('"').expect("closing quote");
    let ts = &value[start..end];
    let (wall, logical) = ts.split_once('.').expect("decimal timestamp");
    assert!(
        wall.len() >= 19 && wall.bytes().all(|b| b.is_ascii_digit()),
        "{ts}"
    );
    assert!(
        logical.len() == 10 && logical.bytes().all(|b| b.is_ascii_digit()),
        "{ts}"
    );
    format!("{}<ts>{}", &value[..start], &value[end..])
}

const VEHICLES: &str = "CREATE DATABASE movr; CREATE TABLE movr.vehicles (
    id UUID NOT NULL, city STRING NOT NULL, type STRING, owner_id UUID,
    creation_time TIMESTAMP, status STRING, current_location STRING, ext JSONB,
    PRIMARY KEY (city, id))";

#[tokio::test]
async fn movr_vehicles_into_kafka() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let c = TestCluster::start(&["region=us-east1,az=a"]).await;
    c.exec(0, "", VEHICLES).await;
    c.exec(
        0,
        "movr",
        "INSERT INTO vehicles VALUES ('54a69217-35ee-4000-8000-0000000001f0', 'washington dc', \
         'scooter', '3dcc63f1-4120-4c00-8000-0000000004b7', '2019-01-02 03:04:05', 'in_use', \
         '52372 Katherine Plains', '{\"color\": \"black\"}')",
    )
    .await;
    let sink = format!("kafka://{}", tansu.addr);
    let id = c
        .create_feed(
            0,
            "movr",
            &format!(
                "CREATE CHANGEFEED FOR TABLE movr.vehicles INTO '{sink}' WITH updated, \
                 resolved='1s', min_checkpoint_frequency='1s'"
            ),
        )
        .await;
    c.exec(
        0,
        "movr",
        "UPDATE vehicles SET status = 'available' WHERE city = 'washington dc'",
    )
    .await;
    c.exec(
        0,
        "movr",
        "DELETE FROM vehicles WHERE city = 'washington dc'",
    )
    .await;

    let after = |status: &str| {
        format!(
            "{{\"after\": {{\"city\": \"washington dc\", \"creation_time\": \"2019-01-02T03:04:05\", \
             \"current_location\": \"52372 Katherine Plains\", \"ext\": {{\"color\": \"black\"}}, \
             \"id\": \"54a69217-35ee-4000-8000-0000000001f0\", \"owner_id\": \
             \"3dcc63f1-4120-4c00-8000-0000000004b7\", \"status\": \"{status}\", \"type\": \
             \"scooter\"}}, \"updated\": \"<ts>\"}}"
        )
    };
    let key = "[\"washington dc\", \"54a69217-35ee-4000-8000-0000000001f0\"]";
    let want_rows = vec![
        (key.to_string(), after("in_use")),
        (key.to_string(), after("available")),
        (
            key.to_string(),
            "{\"after\": null, \"updated\": \"<ts>\"}".to_string(),
        ),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let msgs = tansu.consume("vehicles").await;
        let rows: Vec<(String, String)> = msgs
            .iter()
            .filter(|(_, k, _)| k != "<nil>")
            .map(|(_, k, v)| (k.clone(), normalize(v)))
            .collect();
        let resolved_after_rows =
            msgs.iter()
                .rposition(|(_, k, _)| k == "<nil>")
                .is_some_and(|r| {
                    msgs.iter()
                        .rposition(|(_, k, _)| k != "<nil>")
                        .is_some_and(|last| r > last)
                });
        if rows.len() >= want_rows.len() && resolved_after_rows {
            assert_eq!(rows, want_rows);
            let (_, _, resolved) = msgs.last().expect("resolved");
            assert!(resolved.starts_with("{\"resolved\":\""), "{resolved}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "messages so far: {msgs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rec = c
        .wait_job(id, Duration::from_secs(10), "high-water set", |r| {
            r.high_water.is_some()
        })
        .await;
    assert_eq!(rec.status.as_str(), "running");
    let shown = sextant_changefeed::show_changefeed_jobs(&[rec]);
    assert_eq!(shown.rows.len(), 1);
    assert_eq!(
        shown.rows[0][11],
        sql::Datum::String(sink.clone()),
        "sink_uri"
    );
}

#[tokio::test]
async fn statement_checks_and_sinkless_feeds() {
    let c =
        TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING)")
            .await;
    c.exec(0, "d", "INSERT INTO t VALUES (1, 'x'), (2, 'y')")
        .await;
    for (sql, want) in [
        (
            "CREATE CHANGEFEED FOR TABLE nope INTO 'null://'",
            "relation \"nope\" does not exist",
        ),
        (
            "CREATE CHANGEFEED FOR TABLE t INTO 'null://' WITH foo",
            "invalid option \"foo\"",
        ),
        (
            "CREATE CHANGEFEED FOR TABLE t INTO ''",
            "omit the SINK clause for inline results",
        ),
        (
            "CREATE CHANGEFEED FOR TABLE t INTO 'webhook-https://h/x' WITH envelope=key_only",
            "this sink is incompatible with envelope=key_only",
        ),
        (
            "CREATE CHANGEFEED FOR TABLE t INTO 'null://' WITH execution_locality='region=mars'",
            "no instances found matching locality filter",
        ),
        (
            "CREATE CHANGEFEED INTO 'null://' AS SELECT a + 1 FROM t",
            "unimplemented: CDC query",
        ),
    ] {
        let e = c.exec_err(0, "d", sql).await;
        assert!(e.contains(want), "{sql}: {e}");
    }
    assert!(
        c.nodes[0].jobs.list().await.expect("jobs").is_empty(),
        "no job was created"
    );

    let rows = c
        .exec(
            0,
            "d",
            "EXPERIMENTAL CHANGEFEED FOR t WITH initial_scan='only'",
        )
        .await;
    let text: Vec<String> = rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|d| match d {
                    sql::Datum::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .collect();
    assert_eq!(
        text,
        vec![
            "t | [1] | {\"after\": {\"a\": 1, \"b\": \"x\"}}",
            "t | [2] | {\"after\": {\"a\": 2, \"b\": \"y\"}}",
        ]
    );
}

/// The batch a webhook sink posts for the one row of `t` with key `[a]` and `after` (JSON).
fn webhook_row(a: i64, after: &str) -> String {
    format!(
        "{{\"payload\":[{{\"after\": {after}, \"key\": [{a}], \"topic\": \"t\"}}],\"length\":1}}"
    )
}

/// Polls the webhook's bodies until `done` holds of them; fails, naming `what` and them, at
/// `deadline`.
async fn wait_bodies(
    seen: &Mutex<Vec<String>>,
    deadline: tokio::time::Instant,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) {
    while !done(&seen.lock()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: {:?}",
            seen.lock()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The distinct bodies, in order of first arrival.
fn distinct_bodies(bodies: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in bodies {
        if !out.contains(b) {
            out.push(b.clone());
        }
    }
    out
}

#[tokio::test]
async fn webhook_and_cdc_query_end_to_end() {
    let Webhook {
        uri, bodies: seen, ..
    } = Webhook::start().await;
    let c =
        TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING)")
            .await;
    c.exec(0, "d", "INSERT INTO t VALUES (1, 'x'), (2, 'y')")
        .await;
    c.create_feed(
        0,
        "d",
        &format!("CREATE CHANGEFEED INTO '{uri}' AS SELECT b FROM t WHERE a >= 2"),
    )
    .await;
    c.exec(0, "d", "INSERT INTO t VALUES (3, 'z'), (0, 'no')")
        .await;
    let want = vec![
        "{\"payload\":[{\"__crdb__\": {\"key\": [2], \"topic\": \"t\"}, \"b\": \"y\"}],\"length\":1}"
            .to_string(),
        "{\"payload\":[{\"__crdb__\": {\"key\": [3], \"topic\": \"t\"}, \"b\": \"z\"}],\"length\":1}"
            .to_string(),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    wait_bodies(&seen, deadline, "every row", |b| b.len() >= want.len()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*seen.lock(), want);
}

#[tokio::test]
async fn s3_end_to_end() {
    let Some(s3) = cloud::testing::SeaweedFs::start().await else {
        return;
    };
    let c =
        TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING)")
            .await;
    c.exec(0, "d", "INSERT INTO t VALUES (1, 'x')").await;
    let uri = s3.uri(&s3.bucket, "feed");
    c.create_feed(
        0,
        "d",
        &format!(
            "CREATE CHANGEFEED FOR t INTO '{uri}' WITH resolved='1s', min_checkpoint_frequency='1s'"
        ),
    )
    .await;
    c.exec(0, "d", "UPDATE t SET b = 'y' WHERE a = 1").await;
    let storage = cloud::open(
        &uri,
        &cloud::StorageContext::new(base::NodeId(1), std::env::temp_dir()),
    )
    .expect("open");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let names = storage.list("", None).await.expect("list");
        let mut lines = Vec::new();
        let mut resolved_last = false;
        for n in &names {
            let n = n.trim_start_matches('/');
            let body = storage.get(n).await.expect("get");
            if n.ends_with(".RESOLVED") {
                resolved_last = true;
                continue;
            }
            resolved_last = false;
            for l in String::from_utf8_lossy(&body).lines() {
                lines.push(l.to_string());
            }
        }
        if lines.len() >= 2 && resolved_last {
            assert_eq!(
                lines,
                vec![
                    "{\"after\": {\"a\": 1, \"b\": \"x\"}, \"key\": [1]}",
                    "{\"after\": {\"a\": 1, \"b\": \"y\"}, \"key\": [1]}",
                ]
            );
            assert!(
                names.iter().all(|n| {
                    let n = n.trim_start_matches('/');
                    n.len() > 11 && &n[4..5] == "-" && &n[10..11] == "/"
                }),
                "daily directories: {names:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{names:?} {lines:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn pause_resume_delivers_every_change_in_key_order() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT)")
        .await;
    let id = c.kafka_feed(&tansu.addr).await;
    let mut writes = 0;
    for round in 0..3 {
        for i in 0..5 {
            c.exec(
                0,
                "d",
                &format!("UPSERT INTO t VALUES ({}, {round})", i % 3),
            )
            .await;
            writes += 1;
        }
        if round < 2 {
            c.nodes[0].jobs.pause(id).await.expect("pause");
            c.wait_job(id, Duration::from_secs(10), "paused", |r| {
                r.status.as_str() == "paused"
            })
            .await;
            c.exec(0, "d", &format!("UPSERT INTO t VALUES (7, {round})"))
                .await;
            writes += 1;
            c.nodes[0].jobs.resume(id).await.expect("resume");
        }
    }
    // Every committed version arrives at least once; per key, first deliveries in order.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msgs = keyed_rows(&tansu, "t").await;
        let per_key = first_deliveries(&msgs);
        let distinct: usize = per_key.values().map(Vec::len).sum();
        // Keys 0..3 take the rounds' values in order; key 7 takes 0 then 1.
        let expected = |k: &str, rounds: &[i32]| -> Vec<String> {
            rounds
                .iter()
                .map(|r| format!("{{\"after\": {{\"a\": {k}, \"b\": {r}}}}}"))
                .collect()
        };
        if per_key.get("[7]").map(Vec::len) == Some(2)
            && ["[0]", "[1]", "[2]"]
                .iter()
                .all(|k| per_key.get(*k).is_some_and(|v| v.len() == 3))
        {
            for k in ["0", "1", "2"] {
                assert_eq!(
                    per_key[&format!("[{k}]")],
                    expected(k, &[0, 1, 2]),
                    "key {k}"
                );
            }
            assert_eq!(per_key["[7]"], expected("7", &[0, 1]));
            assert!(msgs.len() >= distinct, "{writes} writes");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{per_key:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn schema_change_policy_stop_fails_the_feed() {
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)").await;
    let id = c
        .create_feed(
            0,
            "d",
            "CREATE CHANGEFEED FOR t INTO 'null://' WITH schema_change_policy='stop'",
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.exec(0, "d", "ALTER TABLE t ADD COLUMN b INT").await;
    c.wait_schema_change_failure(id).await;
}

#[tokio::test]
async fn execution_locality_pins_aggregators_to_the_region_balanced() {
    let c = TestCluster::start(&[
        "region=us-east1,az=a",
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=us-west1,az=b",
        "region=europe-west1,az=a",
    ])
    .await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)",
    )
    .await;
    c.split_t_at((10..80).step_by(10)).await;
    c.wait_all_live(Duration::from_secs(30)).await;
    let id = c
        .create_feed(
            0,
            "d",
            "CREATE CHANGEFEED FOR t INTO 'null://' WITH execution_locality='region=us-west1'",
        )
        .await;
    let rec = c
        .wait_job(id, Duration::from_secs(40), "planned", |r| r.plan.is_some())
        .await;
    let plan = rec.plan.expect("plan");
    assert_balanced_over_us_west1(&plan);
    let coordinator = rec.coordinator_id.expect("coordinator");
    let loc = c
        .nodes
        .iter()
        .find(|n| n.node.node_id() == coordinator)
        .map(|n| n.node.locality().to_string())
        .expect("coordinator node");
    assert!(loc.contains("region=us-west1"), "coordinator in {loc}");
}

#[tokio::test]
async fn schema_change_backfill_re_emits_rows_in_the_new_schema() {
    let Webhook {
        uri, bodies: seen, ..
    } = Webhook::start().await;
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)").await;
    c.exec(0, "d", "INSERT INTO t VALUES (1)").await;
    c.create_feed(0, "d", &format!("CREATE CHANGEFEED FOR t INTO '{uri}'"))
        .await;
    let body = |after: &str| webhook_row(1, after);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    wait_bodies(&seen, deadline, "initial scan", |b| !b.is_empty()).await;
    c.exec(0, "d", "ALTER TABLE t ADD COLUMN b INT DEFAULT 7")
        .await;
    let want = body("{\"a\": 1, \"b\": 7}");
    wait_bodies(&seen, deadline, "want", |b| b.contains(&want)).await;
    assert_eq!(seen.lock()[0], body("{\"a\": 1}"));
}

#[tokio::test]
async fn coordinator_death_resumes_from_the_checkpoint() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let mut c = TestCluster::start(&[
        "region=us-east1,az=a",
        "region=us-east1,az=b",
        "region=us-east1,az=c",
    ])
    .await;
    c.exec(
        2,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT)",
    )
    .await;
    let id = c.kafka_feed(&tansu.addr).await;
    let rec = c
        .wait_job(id, Duration::from_secs(15), "checkpointed", |r| {
            r.high_water.is_some()
        })
        .await;
    let coordinator = rec.coordinator_id.expect("coordinator");
    for i in 0..4 {
        c.exec(2, "d", &format!("INSERT INTO t VALUES ({i}, 0)"))
            .await;
    }
    let victim = c
        .nodes
        .iter()
        .position(|n| n.node.node_id() == coordinator)
        .expect("coordinator node");
    assert_ne!(victim, 2, "statements go through node 3");
    c.nodes[victim].kill().await;
    for i in 0..4 {
        c.exec(2, "d", &format!("UPSERT INTO t VALUES ({i}, 1)"))
            .await;
    }
    let render = |a: i64, b: i64| format!("{{\"after\": {{\"a\": {a}, \"b\": {b}}}}}");
    wait_every_change(4, 2, Duration::from_secs(40), render, || {
        keyed_rows(&tansu, "t")
    })
    .await;
    let rec = c.nodes[2].jobs.get(id).await.expect("job");
    assert_ne!(
        rec.coordinator_id,
        Some(coordinator),
        "another node adopted the feed"
    );
}

#[tokio::test]
async fn initial_scan_only_and_end_time_feeds_succeed() {
    let Webhook {
        uri, bodies: seen, ..
    } = Webhook::start().await;
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)").await;
    c.exec(0, "d", "INSERT INTO t VALUES (1), (2)").await;
    let id = c
        .create_feed(
            0,
            "d",
            &format!("CREATE CHANGEFEED FOR t INTO '{uri}' WITH initial_scan='only'"),
        )
        .await;
    let rec = c
        .wait_job(id, Duration::from_secs(15), "succeeded", |r| {
            r.status.as_str() == "succeeded"
        })
        .await;
    assert_eq!(rec.fraction_completed, 1.0);
    let body = |a: i64| webhook_row(a, &format!("{{\"a\": {a}}}"));
    assert_eq!(*seen.lock(), vec![body(1), body(2)]);

    let id = c
        .create_feed(
            0,
            "d",
            "CREATE CHANGEFEED FOR t INTO 'null://' WITH end_time='-0s', initial_scan='no'",
        )
        .await;
    c.wait_job(id, Duration::from_secs(15), "succeeded", |r| {
        r.status.as_str() == "succeeded"
    })
    .await;
}

#[tokio::test]
async fn rows_written_after_a_schema_change_are_emitted_in_the_new_schema_only() {
    let Webhook {
        uri, bodies: seen, ..
    } = Webhook::start().await;
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)").await;
    c.exec(0, "d", "INSERT INTO t VALUES (1)").await;
    c.create_feed(
        0,
        "d",
        &format!("CREATE CHANGEFEED FOR t INTO '{uri}' WITH min_checkpoint_frequency='200ms'"),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    wait_bodies(&seen, deadline, "initial scan", |b| !b.is_empty()).await;
    // Row 2 is written right after the change, before the feed can have noticed it.
    c.exec(
        0,
        "d",
        "ALTER TABLE t ADD COLUMN b INT DEFAULT 7; INSERT INTO t VALUES (2)",
    )
    .await;
    let backfilled = webhook_row(2, "{\"a\": 2, \"b\": 7}");
    wait_bodies(&seen, deadline, "backfilled", |b| b.contains(&backfilled)).await;
    c.exec(0, "d", "INSERT INTO t VALUES (3)").await;
    let last = webhook_row(3, "{\"a\": 3, \"b\": 7}");
    wait_bodies(&seen, deadline, "last", |b| b.contains(&last)).await;
    let distinct = distinct_bodies(&seen.lock());
    assert_eq!(
        distinct,
        vec![
            webhook_row(1, "{\"a\": 1}"),
            webhook_row(1, "{\"a\": 1, \"b\": 7}"),
            backfilled,
            last
        ],
        "no row in the old schema after the change"
    );
}

#[tokio::test]
async fn a_schema_change_while_paused_is_met_on_resume() {
    let Webhook {
        uri, bodies: seen, ..
    } = Webhook::start().await;
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY)").await;
    c.exec(0, "d", "INSERT INTO t VALUES (1)").await;
    let id = c
        .create_feed(
            0,
            "d",
            &format!("CREATE CHANGEFEED FOR t INTO '{uri}' WITH min_checkpoint_frequency='200ms'"),
        )
        .await;
    c.wait_job(id, Duration::from_secs(15), "checkpointed", |r| {
        r.high_water.is_some()
    })
    .await;
    c.nodes[0].jobs.pause(id).await.expect("pause");
    c.wait_job(id, Duration::from_secs(10), "paused", |r| {
        r.status.as_str() == "paused"
    })
    .await;
    // While paused: a row in the old schema, the change, a row in the new one.
    c.exec(0, "d", "INSERT INTO t VALUES (2)").await;
    c.exec(
        0,
        "d",
        "ALTER TABLE t ADD COLUMN b INT DEFAULT 7; INSERT INTO t VALUES (3)",
    )
    .await;
    c.nodes[0].jobs.resume(id).await.expect("resume");
    let want = vec![
        webhook_row(1, "{\"a\": 1}"),
        webhook_row(2, "{\"a\": 2}"),
        webhook_row(1, "{\"a\": 1, \"b\": 7}"),
        webhook_row(2, "{\"a\": 2, \"b\": 7}"),
        webhook_row(3, "{\"a\": 3, \"b\": 7}"),
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let distinct = distinct_bodies(&seen.lock());
        if distinct.len() >= want.len() {
            assert_eq!(
                distinct, want,
                "the old schema up to the change, then the backfill"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{distinct:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
