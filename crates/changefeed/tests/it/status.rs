//! What a running feed's job says (its running status follows the high-water and names a
//! sink's error with its cause), and a `nodelocal://` sink end to end.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jobs::JobStatus;

use crate::cluster::TestCluster;
use crate::tls::{TlsHook, base64};

/// `W.L` (a resolved or updated timestamp) as a comparable pair.
fn hlc(s: &str) -> (u128, u32) {
    let (wall, logical) = s.split_once('.').unwrap_or((s, "0"));
    (
        wall.parse().unwrap_or_else(|_| panic!("timestamp {s:?}")),
        logical
            .parse()
            .unwrap_or_else(|_| panic!("timestamp {s:?}")),
    )
}

/// The high-water in a `running: resolved=<ts>` status.
fn resolved_in(status: Option<&str>) -> Option<(u128, u32)> {
    status?.strip_prefix("running: resolved=").map(hlc)
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

#[tokio::test]
async fn running_status_follows_the_high_water_and_names_sink_errors() {
    let hook = TlsHook::start(false).await;
    let c = TestCluster::one_node(
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT); \
         INSERT INTO d.t VALUES (1, 1)",
    )
    .await;
    let retry = "webhook_sink_config='{\"Retry\": {\"Max\": 1, \"Backoff\": \"10ms\"}}'";

    // A healthy feed (over TLS, trusting the test's CA): the status moves with the high-water.
    let ca = base64(hook.ca_pem.as_bytes());
    let uri = hook.uri(&[("ca_cert", &ca)]);
    let healthy = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO '{uri}' WITH min_checkpoint_frequency='100ms', {retry}"
            ),
        )
        .await;
    let first = c
        .wait_job(healthy, Duration::from_secs(10), "running", |r| {
            resolved_in(r.running_status.as_deref()).is_some()
        })
        .await;
    let first = resolved_in(first.running_status.as_deref());
    let later = c
        .wait_job(
            healthy,
            Duration::from_secs(10),
            "showing a later high-water",
            |r| {
                r.status == JobStatus::Running
                    && resolved_in(r.running_status.as_deref()) > first
                    && r.high_water.is_some()
            },
        )
        .await;
    let shown = resolved_in(later.running_status.as_deref()).expect("resolved");
    let hw = later.high_water.expect("high-water");
    assert!(
        shown <= (hw.wall as u128, hw.logical),
        "status {shown:?} is a checkpointed high-water ({hw:?})"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !hook.bodies.lock().iter().any(|b| b.contains("\"b\": 1")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            hook.bodies.lock()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // An endpoint whose certificate is not trusted: the job says so, precisely.
    let untrusted = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO '{}' WITH {retry}",
                hook.uri(&[])
            ),
        )
        .await;
    let want = format!(
        "transient error: sink: webhook sink: error sending request for url (https://{}/hook): \
         client error (Connect): invalid peer certificate: UnknownIssuer (after 1 retries)",
        hook.addr
    );
    c.wait_job(
        untrusted,
        Duration::from_secs(10),
        "reporting the untrusted certificate",
        |r| r.status == JobStatus::Running && r.running_status.as_deref() == Some(&want),
    )
    .await;

    // A closed port: the cause, not just "error sending request".
    let port = closed_port();
    let refused = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO 'webhook-http://127.0.0.1:{port}/hook' WITH {retry}"
            ),
        )
        .await;
    let want = format!(
        "transient error: sink: webhook sink: error sending request for url \
         (http://127.0.0.1:{port}/hook): client error (Connect): tcp connect error: \
         Connection refused (os error 111) (after 1 retries)"
    );
    c.wait_job(
        refused,
        Duration::from_secs(10),
        "reporting the refused connection",
        |r| r.status == JobStatus::Running && r.running_status.as_deref() == Some(&want),
    )
    .await;
}

/// Every file under `dir`, as paths relative to it, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p: PathBuf = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(rel) = p.strip_prefix(root) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[tokio::test]
async fn nodelocal_sink_writes_ndjson_and_resolved_files_on_the_named_node() {
    let c = TestCluster::start(&["region=us-east1,az=a", "region=us-east1,az=b"]).await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING); \
         INSERT INTO d.t VALUES (1, 'x'), (2, 'y')",
    )
    .await;
    // The files go to the second node, whichever node's aggregator or frontier writes them.
    let target = c.nodes[1].node.node_id();
    let id = c.create_feed(
        0,
        "d",
        &format!(
            "CREATE CHANGEFEED FOR t INTO 'nodelocal://{}/feed' WITH updated, resolved='200ms', \
             min_checkpoint_frequency='100ms'",
            target.0
        ),
    )
    .await;
    c.exec(
        0,
        "d",
        "UPDATE t SET b = 'x2' WHERE a = 1; INSERT INTO t VALUES (3, 'z')",
    )
    .await;

    let dir = c.extern_dir(1).join("feed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let (rows, resolved) = loop {
        let names = files(&dir);
        // (file, updated, row) per row; (file, resolved) per .RESOLVED file.
        let mut rows = Vec::new();
        let mut resolved = Vec::new();
        for name in &names {
            let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            if name.ends_with(".RESOLVED") {
                let v: serde_json::Value = serde_json::from_str(&text).expect("resolved JSON");
                resolved.push((name.clone(), hlc(v["resolved"].as_str().expect("resolved"))));
            } else {
                assert!(name.ends_with(".ndjson"), "{name}");
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).expect("row JSON");
                    let updated = hlc(v["updated"].as_str().expect("updated"));
                    rows.push((
                        name.clone(),
                        updated,
                        format!("{} {}", v["key"], v["after"]),
                    ));
                }
            }
        }
        let last_row = rows.iter().map(|r| r.1).max();
        if rows.len() >= 4 && resolved.iter().any(|r| Some(r.1) >= last_row) {
            break (rows, resolved);
        }
        let job = c.nodes[0].jobs.get(id).await.expect("job");
        assert_eq!(job.status, JobStatus::Running, "{job:#?}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "no complete output in {}: {names:?} {job:#?}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut got: Vec<&str> = rows.iter().map(|r| r.2.as_str()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "[1] {\"a\":1,\"b\":\"x\"}",
            "[1] {\"a\":1,\"b\":\"x2\"}",
            "[2] {\"a\":2,\"b\":\"y\"}",
            "[3] {\"a\":3,\"b\":\"z\"}",
        ]
    );
    // Names sort in emit order: resolved files by their timestamps, and every row at or below
    // a resolved timestamp in a file that sorts before that .RESOLVED file.
    for pair in resolved.windows(2) {
        assert!(pair[0].1 < pair[1].1, "{resolved:?}");
    }
    for (rfile, rts) in &resolved {
        for (file, updated, row) in &rows {
            if updated <= rts {
                assert!(file < rfile, "{row} ({file}) sorts after {rfile}");
            }
        }
    }
    assert!(
        files(&c.extern_dir(0)).is_empty(),
        "nothing on the other node: {:?}",
        files(&c.extern_dir(0))
    );
}
