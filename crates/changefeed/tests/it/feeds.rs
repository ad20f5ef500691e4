//! Changefeeds end to end: SQL statements on an in-process cluster, messages read back from
//! the real sink.

use std::time::Duration;

use crate::cluster::TestCluster;
use crate::fixtures::Tansu;

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
    let c = TestCluster::start(&["region=us-east1,az=a"]).await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING)",
    )
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
            "EXPERIMENTAL CHANGEFEED FOR t",
            "unimplemented: EXPERIMENTAL CHANGEFEED without end_time",
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
