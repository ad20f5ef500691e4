//! A secure cluster as an operator builds one: `sextant cert`, three `sextant start
//! --certs-dir` processes, `sextant init`, then `sextant sql` and psql with
//! `sslmode=verify-full`; and the refusals (no certificates, plain text, another cluster).

use crate::{NodeProc, eventually_blocking, free_port, run, sextant, texts};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// `sextant cert create-ca`, `create-node localhost 127.0.0.1` and `create-client root` into
/// `<base>/certs`.
fn make_certs(base: &Path) -> String {
    let certs = base.join("certs").display().to_string();
    let ca_key = base.join("ca.key").display().to_string();
    for args in [
        vec!["cert", "create-ca"],
        vec!["cert", "create-node", "localhost", "127.0.0.1"],
        vec!["cert", "create-client", "root"],
    ] {
        let mut full = args.clone();
        full.extend(["--certs-dir", &certs, "--ca-key", &ca_key]);
        let out = run(&full);
        assert!(out.status.success(), "{args:?}: {:?}", texts(&out));
    }
    certs
}

#[test]
fn start_without_certificates_or_insecure_is_refused() {
    let home = tempfile::tempdir().expect("tempdir");
    let out = sextant()
        .env("HOME", home.path())
        .env_remove("SEXTANT_CERTS_DIR")
        .args([
            "start",
            "--store=type=mem",
            "--join=127.0.0.1:1",
            &format!("--listen-addr=127.0.0.1:{}", free_port()),
        ])
        .output()
        .expect("run");
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot load certificates")
            && stderr.contains("set --certs-dir, or use --insecure for insecure clusters")
            && stderr.contains(
                "problem using security settings: no certificates found; does certs dir exist?"
            ),
        "{stderr}"
    );
}

#[test]
fn a_secure_cluster_serves_psql_with_verify_full_and_refuses_strangers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let certs = make_certs(dir.path());
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
                "--store=type=mem".to_string(),
                format!("--certs-dir={certs}"),
                format!("--listen-addr={rpc}"),
                format!("--http-addr={http}"),
                format!("--sql-addr=127.0.0.1:{sql}"),
                format!("--join={join}"),
                "--test-timings".to_string(),
            ];
            NodeProc::spawn(args, rpc, http, &dir.path().join(format!("log{i}")))
        })
        .collect();
    let rpc0 = nodes[0].rpc.clone();

    // init over plain text is refused; with the certificates it bootstraps the cluster.
    eventually_blocking(Duration::from_secs(30), "init", || {
        run(&["init", "--certs-dir", &certs, "--host", &rpc0])
            .status
            .success()
    });
    let plain = run(&["node", "status", "--insecure", "--host", &rpc0]);
    assert_eq!(plain.status.code(), Some(1), "{:?}", texts(&plain));
    eventually_blocking(Duration::from_secs(60), "three live nodes", || {
        let out = run(&[
            "node",
            "status",
            "--certs-dir",
            &certs,
            "--host",
            &rpc0,
            "--format",
            "csv",
        ]);
        out.status.success() && texts(&out).0.matches(",true,").count() == 3
    });

    let sql = format!("127.0.0.1:{}", ports[0].2);
    // `sextant sql` with the certificates.
    eventually_blocking(Duration::from_secs(60), "sextant sql", || {
        let out = run(&[
            "sql",
            "--certs-dir",
            &certs,
            "--host",
            &sql,
            "--format=csv",
            "-e",
            "SELECT 40 + 2 AS answer",
        ]);
        out.status.success() && texts(&out).0.contains("42")
    });
    // Plain text is refused with CockroachDB's message.
    let out = run(&[
        "sql",
        "--url",
        &format!("postgresql://root@{sql}/defaultdb?sslmode=disable"),
        "-e",
        "SELECT 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        texts(&out)
            .1
            .contains("node is running secure mode, SSL connection required"),
        "{:?}",
        texts(&out)
    );

    // psql, verifying the node's certificate and name, with the root client certificate.
    let c = Path::new(&certs);
    let url = format!(
        "postgresql://root@localhost:{}/defaultdb?sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        ports[0].2,
        c.join("ca.crt").display(),
        c.join("client.root.crt").display(),
        c.join("client.root.key").display()
    );
    let psql = Command::new("psql")
        .args([&url, "-At", "-c", "SELECT 'over ' || 'tls'"])
        .output()
        .expect("psql (postgresql-client) is installed by scripts/test.sh");
    assert!(
        psql.status.success() && String::from_utf8_lossy(&psql.stdout).trim() == "over tls",
        "{:?}",
        texts(&psql)
    );
    // psql without a client certificate: root has no password, so refused.
    let bare = format!(
        "postgresql://root@localhost:{}/defaultdb?sslmode=verify-full&sslrootcert={}",
        ports[0].2,
        c.join("ca.crt").display()
    );
    let psql = Command::new("psql")
        .env("PGPASSWORD", "wrong")
        .args([&bare, "-At", "-c", "SELECT 1"])
        .output()
        .expect("psql");
    assert!(!psql.status.success());
    assert!(
        String::from_utf8_lossy(&psql.stderr).contains("password authentication failed"),
        "{:?}",
        texts(&psql)
    );

    // A user root creates logs in with psql, verify-full and a password (SCRAM-SHA-256).
    let psql = Command::new("psql")
        .args([
            &url,
            "-At",
            "-c",
            "CREATE USER app WITH PASSWORD 'app-pw-1'",
        ])
        .output()
        .expect("psql");
    assert!(psql.status.success(), "{:?}", texts(&psql));
    let app = format!(
        "postgresql://app@localhost:{}/defaultdb?sslmode=verify-full&sslrootcert={}",
        ports[0].2,
        c.join("ca.crt").display()
    );
    let psql = Command::new("psql")
        .env("PGPASSWORD", "app-pw-1")
        .args([&app, "-At", "-c", "SELECT current_user"])
        .output()
        .expect("psql");
    assert!(
        psql.status.success() && String::from_utf8_lossy(&psql.stdout).trim() == "app",
        "{:?}",
        texts(&psql)
    );

    // Another cluster's certificates are refused at the RPC layer.
    let other = tempfile::tempdir().expect("tempdir");
    let stranger = make_certs(other.path());
    let out = run(&["node", "status", "--certs-dir", &stranger, "--host", &rpc0]);
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
    drop(nodes);
}
