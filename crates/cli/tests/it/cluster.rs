//! Three `sextant start` processes: init, status, a second process on a store in use,
//! kill -9, and restart on the same store.

use crate::{NodeProc, eventually_blocking, free_port, http_get, http_status, run, texts};
use std::time::Duration;

/// `(node id, is_live)` of every node `node status` lists, via `host`.
fn liveness(host: &str) -> Option<Vec<(u64, bool)>> {
    let out = run(&[
        "node",
        "status",
        "--insecure",
        "--host",
        host,
        "--format",
        "json",
    ]);
    if !out.status.success() {
        return None;
    }
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    nodes
        .as_array()?
        .iter()
        .map(|n| Some((n["node_id"].as_u64()?, n["is_live"].as_bool()?)))
        .collect()
}

fn all_live(host: &str, n: usize) -> bool {
    liveness(host).is_some_and(|nodes| nodes.len() == n && nodes.iter().all(|(_, live)| *live))
}

/// Three `sextant start` processes with stores under `dir`, initialised, all live.
fn start_cluster(dir: &tempfile::TempDir) -> (Vec<NodeProc>, String) {
    let ports: Vec<(u16, u16, u16)> = (0..3)
        .map(|_| (free_port(), free_port(), free_port()))
        .collect();
    let join = ports
        .iter()
        .map(|(rpc, _, _)| format!("127.0.0.1:{rpc}"))
        .collect::<Vec<_>>()
        .join(",");
    let nodes: Vec<NodeProc> = ports
        .iter()
        .enumerate()
        .map(|(i, (rpc, http, sql))| {
            let rpc = format!("127.0.0.1:{rpc}");
            let http = format!("127.0.0.1:{http}");
            let args = vec![
                "start".to_string(),
                format!("--store={}", dir.path().join(format!("n{i}")).display()),
                format!("--listen-addr={rpc}"),
                format!("--http-addr={http}"),
                format!("--sql-addr=127.0.0.1:{sql}"),
                format!("--join={join}"),
                format!("--locality=region=us-east1,az={}", ["b", "c", "d"][i]),
                "--insecure".to_string(),
                "--test-timings".to_string(),
            ];
            NodeProc::spawn(args, rpc, http, &dir.path().join(format!("log{i}")))
        })
        .collect();

    // Up before init: /health answers, readiness does not.
    for n in &nodes {
        eventually_blocking(Duration::from_secs(20), "health endpoint up", || {
            http_status(&n.http, "/health") == Some(200)
        });
        assert_eq!(http_status(&n.http, "/health?ready=1"), Some(503));
    }
    let out = run(&["node", "status", "--insecure", "--host", &nodes[0].rpc]);
    assert_eq!(out.status.code(), Some(1));
    assert!(texts(&out).1.contains("sextant init"), "{:?}", texts(&out));

    let out = run(&["init", "--insecure", "--host", &nodes[0].rpc]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "init failed: {stderr}");
    assert!(
        stdout.contains("Cluster successfully initialized"),
        "{stdout}"
    );
    eventually_blocking(Duration::from_secs(30), "three live nodes", || {
        all_live(&nodes[0].rpc, 3)
    });
    // Every range on three voters with a leaseholder, so that losing one node loses no quorum.
    eventually_blocking(Duration::from_secs(30), "full replication", || {
        http_get(&nodes[0].http, "/_status/ranges").is_some_and(|(code, body)| {
            let ranges: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            code == 200
                && ranges.as_array().is_some_and(|rs| {
                    !rs.is_empty()
                        && rs.iter().all(|r| {
                            r["voters"].as_array().map(Vec::len) == Some(3)
                                && !r["leaseholder"].is_null()
                        })
                })
        })
    });
    // Once the others have joined, a second init anywhere is refused.
    let out = run(&["init", "--insecure", "--host", &nodes[1].rpc]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        texts(&out)
            .1
            .contains("ERROR: cluster has already been initialized"),
        "{:?}",
        texts(&out)
    );

    (nodes, join)
}

#[test]
fn three_processes_init_status_and_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nodes, join) = start_cluster(&dir);
    let out = run(&["node", "status", "--insecure", "--host", &nodes[1].rpc]);
    let (table, _) = texts(&out);
    assert!(out.status.success());
    assert!(table.contains("(3 rows)"), "{table}");
    assert!(table.contains("region=us-east1,az=c"), "{table}");
    for n in &nodes {
        eventually_blocking(Duration::from_secs(20), "ready", || {
            http_status(&n.http, "/health?ready=1") == Some(200)
        });
    }

    // A second process on a store in use fails at once and says why.
    let store0 = dir.path().join("n0");
    let out = run(&[
        "start",
        "--insecure",
        &format!("--store={}", store0.display()),
        &format!("--listen-addr=127.0.0.1:{}", free_port()),
        &format!("--http-addr=127.0.0.1:{}", free_port()),
        &format!("--join={join}"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        texts(&out).1.contains(&format!(
            "ERROR: store directory {} is in use by another process",
            store0.display()
        )),
        "{:?}",
        texts(&out)
    );

    // kill -9 the third node: the others see it dead and keep answering.
    nodes[2].kill9();
    eventually_blocking(Duration::from_secs(20), "killed node not live", || {
        liveness(&nodes[0].rpc).is_some_and(|l| l.iter().filter(|(_, live)| *live).count() == 2)
    });
    let out = run(&[
        "node",
        "status",
        "--insecure",
        "--host",
        &nodes[1].rpc,
        "--format",
        "csv",
    ]);
    let (csv, _) = texts(&out);
    assert!(out.status.success());
    assert!(
        csv.starts_with(
            "id,address,sql_address,locality,is_live,is_draining,replicas,leaseholders"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let dead = csv.lines().filter(|l| l.contains(",false,false,")).count();
    assert_eq!(dead, 1, "one node not live (and not draining): {csv}");
}

#[test]
fn a_process_killed_with_9_restarts_on_its_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut nodes, _) = start_cluster(&dir);
    nodes[2].kill9();
    eventually_blocking(Duration::from_secs(20), "killed node not live", || {
        liveness(&nodes[0].rpc).is_some_and(|l| l.iter().filter(|(_, live)| *live).count() == 2)
    });
    nodes[2].restart();
    eventually_blocking(Duration::from_secs(30), "restarted node live again", || {
        all_live(&nodes[0].rpc, 3)
    });
    let stderr = nodes[2].stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let out = run(&[
        "node",
        "status",
        "--insecure",
        "--host",
        &nodes[2].rpc,
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{:?}", texts(&out));
    assert_eq!(texts(&out).0.lines().count(), 4);
}
