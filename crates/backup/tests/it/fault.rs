//! A backup or restore whose coordinator dies half way: a surviving node of the execution
//! locality adopts the job, finishes it from the checkpoint, and the restored data is the source
//! row for row (a restored table stays invisible until the restore is done).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base::NodeId;
use sql::Datum;

use crate::cluster::{TestCluster, TestNode};
use crate::movr;
use crate::placement::{ONE_REPLICA_IN_EAST, SMALL, TWO_REGIONS, wait_for_replicas_in_east};

/// Fast job timings: adoption every 300 ms, retries after 100 ms.
fn fast_jobs() -> jobs::RegistryConfig {
    jobs::RegistryConfig {
        adopt_interval: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(100),
    }
}

/// The `done` entries of a backup job's checkpoint, as JSON texts.
fn done_entries(progress: &[u8]) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_slice(progress).unwrap_or_default();
    v.get("done")
        .and_then(|d| d.as_array())
        .map(|a| a.iter().map(|e| e.to_string()).collect())
        .unwrap_or_default()
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

/// Kills the coordinator of the job `rec`, checking it ran in the locality; returns its id.
async fn kill_coordinator(c: &mut TestCluster, rec: &jobs::JobRecord) -> NodeId {
    let dead: NodeId = rec.coordinator_id.expect("coordinator");
    assert_eq!(c.region(dead), "us-west1", "coordinated in the locality");
    let victim = c.nodes.iter().position(|n| n.id() == dead).expect("node");
    c.nodes[victim].kill().await;
    dead
}

/// Waits for job `id`, adopted after its coordinator was killed, to finish (30 s at most).
async fn wait_adopted_job(node: &TestNode, id: jobs::JobId) -> jobs::JobRecord {
    tokio::time::timeout(Duration::from_secs(30), node.jobs.wait_for_job(id))
        .await
        .unwrap_or_else(|_| panic!("not finished 30 s after the coordinator stopped"))
        .expect("wait")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coordinator_killed_mid_backup_is_adopted_in_the_locality() {
    let mut c = TestCluster::start_with(TWO_REGIONS, fast_jobs()).await;
    let east = &c.nodes[0];
    east.ok("defaultdb", ONE_REPLICA_IN_EAST).await;
    wait_for_replicas_in_east(&c).await;
    let loaded = movr::load(east, "movr", SMALL).await;

    // Each processor waits 700 ms before each of its spans (one per table), so the backup
    // runs for a few seconds.
    c.knobs.set_export_span_delay(Duration::from_millis(700));
    let r = east
        .ok(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/adopted' \
             WITH EXECUTION LOCALITY = 'region=us-west1', DETACHED",
        )
        .await;
    let id = int(&r.rows[0][0]);
    // Wait for a checkpoint with at least one finished span.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rec = loop {
        let rec = east.jobs.get(id).await.expect("job");
        if rec.coordinator_id.is_some() && !done_entries(&rec.progress).is_empty() {
            break rec;
        }
        assert!(
            !rec.status.is_terminal() && Instant::now() < deadline,
            "no checkpoint before the end: {rec:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        rec.fraction_completed < 1.0,
        "the backup finished before the coordinator could be stopped: {rec:#?}"
    );
    let checkpointed = done_entries(&rec.progress);
    let dead = kill_coordinator(&mut c, &rec).await;
    let killed_at = Instant::now();

    let east = &c.nodes[0];
    let rec = wait_adopted_job(east, id).await;
    eprintln!(
        "adopted and finished {:?} after n{} stopped",
        killed_at.elapsed(),
        dead.0
    );
    assert_eq!(rec.status, jobs::JobStatus::Succeeded, "{rec:#?}");
    let adopter = rec.coordinator_id.expect("coordinator");
    assert_ne!(adopter, dead, "adopted by another node");
    assert_eq!(c.region(adopter), "us-west1", "adopted inside the locality");
    assert_eq!(rec.num_runs, 2, "one run, one adoption");
    for n in &rec.plan.as_ref().expect("plan").nodes {
        assert_eq!(c.region(n.node_id), "us-west1", "processor on {n:?}");
        assert_ne!(n.node_id, dead, "the last plan leaves the stopped node out");
    }
    // Spans finished before the stop were kept, not exported again.
    let finished = done_entries(&rec.progress);
    assert!(
        checkpointed.is_subset(&finished),
        "checkpointed spans kept: {checkpointed:?} / {finished:?}"
    );
    let result: serde_json::Value = serde_json::from_slice(&rec.result).expect("result");
    assert_eq!(
        result["rows"].as_u64(),
        Some(movr::total(&loaded)),
        "every row once: {result}"
    );

    east.ok(
        "defaultdb",
        "RESTORE DATABASE movr FROM LATEST IN 'nodelocal://self/adopted' \
         WITH new_db_name = 'movr_restored'",
    )
    .await;
    movr::assert_same(east, "movr", "movr_restored").await;
    c.shutdown().await;
}

/// Tables of the restore test and their rows: a few thousand rows in all, several tables so
/// the restore has several spans to checkpoint.
const RESTORE_TABLES: &[(&str, i64)] = &[
    ("t1", 1000),
    ("t2", 800),
    ("t3", 700),
    ("t4", 600),
    ("t5", 500),
    ("t6", 400),
];

/// Every row of `db.table` as text, sorted by id.
async fn sorted_rows(node: &crate::cluster::TestNode, db: &str, table: &str) -> Vec<Vec<String>> {
    let r = node
        .ok(db, &format!("SELECT id, v, n FROM {table} ORDER BY id"))
        .await;
    r.rows
        .iter()
        .map(|row| row.iter().map(|d| d.to_string()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn coordinator_killed_mid_restore_is_adopted_and_nothing_shows_before_the_end() {
    let mut c = TestCluster::start_with(TWO_REGIONS, fast_jobs()).await;
    let east = &c.nodes[0];
    east.ok("defaultdb", ONE_REPLICA_IN_EAST).await;
    wait_for_replicas_in_east(&c).await;
    east.ok("defaultdb", "CREATE DATABASE src").await;
    for (t, n) in RESTORE_TABLES {
        east.ok(
            "src",
            &format!(
                "CREATE TABLE {t} (id INT PRIMARY KEY, v STRING, n INT, INDEX (n)); \
                 INSERT INTO {t} SELECT i, 'row ' || i::STRING, i % 13 \
                 FROM generate_series(1, {n}) AS g(i)"
            ),
        )
        .await;
    }
    east.ok(
        "defaultdb",
        "BACKUP DATABASE src INTO 'nodelocal://self/restore-kill'",
    )
    .await;

    // Each ingest processor waits 1 s before each of its spans (one per table at least), so
    // the restore runs for a few seconds.
    c.knobs.set_ingest_span_delay(Duration::from_secs(1));
    let r = east
        .ok(
            "defaultdb",
            "RESTORE DATABASE src FROM LATEST IN 'nodelocal://self/restore-kill' \
             WITH new_db_name = 'dst', EXECUTION LOCALITY = 'region=us-west1', DETACHED",
        )
        .await;
    let id = int(&r.rows[0][0]);
    let invisible = |err: sql::SqlError, what: &str| {
        assert!(
            err.to_string().contains("does not exist"),
            "{what} while the restore runs: {err}"
        );
    };
    // Wait for a checkpoint with at least one finished span; nothing is visible meanwhile.
    let deadline = Instant::now() + Duration::from_secs(20);
    let rec = loop {
        let read = east.exec("defaultdb", "SELECT count(*) FROM dst.t1").await;
        // Read after the SELECT: a table seen means the job had finished by then.
        let rec = east.jobs.get(id).await.expect("job");
        match read {
            Err(err) => invisible(err, "dst.t1"),
            Ok(r) => assert!(
                rec.status.is_terminal(),
                "dst.t1 visible while the restore runs: {r:?} / {rec:#?}"
            ),
        }
        if rec.coordinator_id.is_some() && !done_entries(&rec.progress).is_empty() {
            break rec;
        }
        assert!(
            !rec.status.is_terminal() && Instant::now() < deadline,
            "no checkpoint before the end: {rec:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        rec.fraction_completed < 1.0,
        "the restore finished before the coordinator could be stopped: {rec:#?}"
    );
    let checkpointed = done_entries(&rec.progress);
    let checkpoint_json = rec.progress.clone();
    let dead = kill_coordinator(&mut c, &rec).await;
    let killed_at = Instant::now();

    let east = &c.nodes[0];
    // Still nothing visible while the adopted job runs (the database is published last).
    let err = east
        .exec("dst", "SELECT count(*) FROM t1")
        .await
        .expect_err("the restored database is not visible before the end");
    invisible(err, "database dst");
    let rec = wait_adopted_job(east, id).await;
    eprintln!(
        "restore adopted and finished {:?} after n{} stopped",
        killed_at.elapsed(),
        dead.0
    );
    assert_eq!(rec.status, jobs::JobStatus::Succeeded, "{rec:#?}");
    let adopter = rec.coordinator_id.expect("coordinator");
    assert_ne!(adopter, dead, "adopted by another node");
    assert_eq!(c.region(adopter), "us-west1", "adopted inside the locality");
    assert_eq!(rec.num_runs, 2, "one run, one adoption");
    let finished = done_entries(&rec.progress);
    assert!(
        checkpointed.is_subset(&finished),
        "checkpointed spans kept: {checkpointed:?} / {finished:?}"
    );
    // Row for row: count and checksum, then every row, then the secondary index.
    for (t, n) in RESTORE_TABLES {
        let summary = format!("SELECT count(*), sum(id), sum(n), count(DISTINCT v) FROM {t}");
        let want = east.ok("src", &summary).await.rows;
        let got = east.ok("dst", &summary).await.rows;
        assert_eq!(got, want, "dst.{t} count/checksum");
        assert_eq!(int(&got[0][0]), *n, "dst.{t} rows");
        let want = sorted_rows(east, "src", t).await;
        let got = sorted_rows(east, "dst", t).await;
        assert_eq!(got.len(), want.len(), "dst.{t} rows");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "dst.{t} differs from src.{t}");
        }
        let by_index = format!("SELECT count(*) FROM {t} WHERE n = 5");
        assert_eq!(
            east.ok("dst", &by_index).await.rows,
            east.ok("src", &by_index).await.rows,
            "dst.{t} secondary index"
        );
    }
    let total: i64 = RESTORE_TABLES.iter().map(|(_, n)| n).sum();
    let result: serde_json::Value = serde_json::from_slice(&rec.result).expect("result");
    eprintln!(
        "progress at the stop: {}",
        String::from_utf8_lossy(&checkpoint_json)
    );
    eprintln!(
        "progress at the end: {}",
        String::from_utf8_lossy(&rec.progress)
    );
    assert_eq!(
        result["rows"].as_i64(),
        Some(total),
        "every row counted once: {result}"
    );

    c.shutdown().await;
}
