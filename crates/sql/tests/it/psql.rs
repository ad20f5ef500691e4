//! The real psql over the wire ([`psql_end_to_end`]), and the catalog queries psql 15 sends
//! for `\l`, `\dt` and `\d t` (captured with `psql -E`, kept in `psql/queries.sql`, the table
//! oid written as `'16384'`) run in process without error and describe the table.

use sextant_sql::{Datum, StatementResult};

use crate::cluster::TestCluster;

const QUERIES: &str = include_str!("psql/queries.sql");

fn text(r: &StatementResult) -> String {
    r.rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describe_queries() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, v STRING DEFAULT 'x' CHECK (length(v) < 5), \
         p INT REFERENCES t (id), INDEX (v))",
    )
    .await
    .expect("create");
    let r = s
        .execute("SELECT oid FROM pg_catalog.pg_class WHERE relname = 't'")
        .await
        .expect("oid");
    let oid = match &r[0].rows[0][0] {
        Datum::Int(i) => i.to_string(),
        other => panic!("oid {other:?}"),
    };
    let mut outputs = Vec::new();
    for q in QUERIES.split("\n;;\n") {
        let q = q.replace("16384", &oid);
        match s.execute(&q).await {
            Ok(mut r) => outputs.push(r.remove(0)),
            Err(e) => panic!("psql query failed: {e}\n{q}"),
        }
    }
    let dbs = text(&outputs[0]);
    assert!(dbs.contains("defaultdb|root|UTF8"), "{dbs}");
    assert_eq!(text(&outputs[1]), "public|t|table|root");
    assert_eq!(outputs[2].rows.len(), 1);
    let cols = text(&outputs[4]);
    assert!(cols.contains("id|bigint|NULL|true"), "{cols}");
    assert!(cols.contains("v|text|'x'|false"), "{cols}");
    let idx = text(&outputs[5]);
    assert!(idx.contains("t_pkey|true|true|false|true|CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)|PRIMARY KEY (id)"), "{idx}");
    assert!(idx.contains("t_v_idx|false|false"), "{idx}");
    let checks = text(&outputs[6]);
    assert!(checks.contains("CHECK ((length(v) < 5))"), "{checks}");
    let fks = text(&outputs[7]);
    assert!(fks.contains("FOREIGN KEY (p) REFERENCES t(id)"), "{fks}");
    c.shutdown().await;
}

/// The `psql` binary, or `None` (skip) when it is missing and `SEXTANT_SKIP_MISSING_DEPS=1`.
fn psql_binary() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("SEXTANT_PSQL")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/psql".into());
    if path.exists() {
        return Some(path);
    }
    if std::env::var("SEXTANT_SKIP_MISSING_DEPS").as_deref() == Ok("1") {
        eprintln!("skipping: psql is not installed and SEXTANT_SKIP_MISSING_DEPS=1");
        return None;
    }
    panic!(
        "psql is not installed at {}: run scripts/test-deps.sh (or set \
         SEXTANT_SKIP_MISSING_DEPS=1 to skip the tests that need it)",
        path.display()
    );
}

/// Runs psql with `-c` commands; returns stdout, failing the test on a non-zero exit.
async fn psql(bin: &std::path::Path, url: &str, extra: &[&str], commands: &[&str]) -> String {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.arg(url)
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(extra)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD");
    for c in commands {
        cmd.arg("-c").arg(c);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("psql finished in time")
        .expect("run psql");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "psql {commands:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The real psql against a three-region cluster: DDL, `\dt`, `\d t`, `\l`, then the
/// multi-region DDL, with SHOW RANGES showing the table's lease in its home region and a
/// replica in each database region.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn psql_end_to_end() {
    let Some(bin) = psql_binary() else { return };
    let c = TestCluster::start(&[
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=europe-west1,az=b",
    ])
    .await;
    let url = format!(
        "postgresql://root@{}/defaultdb?sslmode=disable",
        c.nodes[0].sql_addr
    );
    let out = psql(
        &bin,
        &url,
        &[],
        &["CREATE TABLE t (id INT PRIMARY KEY, v STRING NOT NULL DEFAULT 'x')"],
    )
    .await;
    assert_eq!(out.trim(), "CREATE TABLE");
    let out = psql(
        &bin,
        &url,
        &[],
        &["INSERT INTO t VALUES (1, 'a'), (2, 'b')"],
    )
    .await;
    assert_eq!(out.trim(), "INSERT 0 2");
    let out = psql(&bin, &url, &[], &["SELECT id, v FROM t ORDER BY id"]).await;
    assert!(
        out.contains("  1 | a\n") && out.contains("(2 rows)"),
        "{out}"
    );
    let out = psql(&bin, &url, &[], &["\\dt"]).await;
    assert!(out.contains("public | t    | table | root"), "{out}");
    let out = psql(&bin, &url, &[], &["\\d t"]).await;
    assert!(out.contains("Table \"public.t\""), "{out}");
    assert!(out.contains(" id     | bigint |"), "{out}");
    assert!(out.contains("\"t_pkey\" PRIMARY KEY, btree (id)"), "{out}");
    let out = psql(&bin, &url, &[], &["\\l"]).await;
    assert!(out.contains(" defaultdb "), "{out}");

    // The multi-region DDL.
    psql(
        &bin,
        &url,
        &[],
        &[
            "CREATE DATABASE mr PRIMARY REGION \"us-east1\" REGIONS \"us-west1\", \"europe-west1\"",
            "CREATE TABLE mr.public.west (id INT PRIMARY KEY) LOCALITY REGIONAL BY TABLE IN \"us-west1\"",
            "CREATE TABLE mr.public.glob (id INT PRIMARY KEY) LOCALITY GLOBAL",
            "CREATE TABLE mr.public.rbr (id INT PRIMARY KEY, v STRING) LOCALITY REGIONAL BY ROW",
            "INSERT INTO mr.public.west VALUES (1), (2)",
        ],
    )
    .await;
    let out = psql(
        &bin,
        &url,
        &["-A", "-t"],
        &["SHOW REGIONS FROM DATABASE mr"],
    )
    .await;
    assert!(out.contains("mr|us-west1|f|f|{a}"), "{out}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = psql(
            &bin,
            &url,
            &["-A", "-t", "-F", "|"],
            &["SELECT lease_holder_locality, replica_localities::STRING \
               FROM [SHOW RANGES FROM TABLE mr.public.west WITH DETAILS]"],
        )
        .await;
        let rows: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
        let placed = !rows.is_empty()
            && rows.iter().all(|r| {
                let (lease, replicas) = r.split_once('|').unwrap_or_default();
                lease.contains("region=us-west1")
                    && ["us-east1", "us-west1", "europe-west1"]
                        .iter()
                        .all(|region| replicas.contains(&format!("region={region}")))
            });
        if placed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "mr.public.west is not placed in us-west1: {out}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let out = psql(&bin, &url, &[], &["SHOW RANGES FROM TABLE mr.public.west"]).await;
    assert!(
        out.contains("start_key") && out.contains("lease_holder"),
        "{out}"
    );
    c.shutdown().await;
}
