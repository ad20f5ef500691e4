//! BACKUP, incremental BACKUP, RESTORE, SHOW BACKUP(S) and their errors on a three-region
//! cluster.

use std::time::Duration;

use sql::{Datum, StatementResult};

use crate::cluster::TestCluster;

const LOCALITIES: &[&str] = &[
    "region=us-east1,az=a",
    "region=us-west1,az=a",
    "region=europe-west1,az=a",
];

const SCHEMA: &str = "
    CREATE DATABASE movr;
    CREATE TABLE movr.users (id INT PRIMARY KEY, city STRING NOT NULL, name STRING);
    CREATE INDEX users_city_idx ON movr.users (city);
    CREATE TABLE movr.rides (id INT PRIMARY KEY, rider INT REFERENCES movr.users (id), fare DECIMAL);
";

async fn insert_users(c: &TestCluster, from: i64, to: i64) {
    let values: Vec<String> = (from..to)
        .map(|i| format!("({i}, 'city{}', 'user {i}')", i % 5))
        .collect();
    c.nodes[0]
        .ok(
            "movr",
            &format!("INSERT INTO users VALUES {}", values.join(", ")),
        )
        .await;
    let rides: Vec<String> = (from..to)
        .map(|i| format!("({i}, {i}, {}.50)", i % 30))
        .collect();
    c.nodes[0]
        .ok(
            "movr",
            &format!("INSERT INTO rides VALUES {}", rides.join(", ")),
        )
        .await;
}

fn rows(r: &StatementResult) -> Vec<Vec<String>> {
    r.rows
        .iter()
        .map(|row| row.iter().map(|d| d.to_string()).collect())
        .collect()
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

async fn table_rows(c: &TestCluster, db: &str, table: &str) -> Vec<Vec<String>> {
    rows(
        &c.nodes[0]
            .ok(db, &format!("SELECT * FROM {table} ORDER BY id"))
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_and_incremental_backup_restore_round_trip() {
    let c = TestCluster::start(LOCALITIES).await;
    c.nodes[0].ok("defaultdb", SCHEMA).await;
    insert_users(&c, 0, 200).await;
    let coll = "nodelocal://self/coll";

    let r = c.nodes[1]
        .ok("defaultdb", &format!("BACKUP DATABASE movr INTO '{coll}'"))
        .await;
    let names: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "job_id",
            "status",
            "fraction_completed",
            "rows",
            "index_entries",
            "bytes"
        ]
    );
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    assert_eq!(int(&r.rows[0][3]), 400, "200 users and 200 rides");
    assert_eq!(int(&r.rows[0][4]), 200, "one users_city_idx entry per user");

    c.nodes[0]
        .ok(
            "movr",
            "UPDATE users SET name = 'renamed' WHERE id < 10; DELETE FROM rides WHERE id >= 190",
        )
        .await;
    insert_users(&c, 200, 250).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let r = c.nodes[2]
        .ok(
            "defaultdb",
            &format!("BACKUP DATABASE movr INTO LATEST IN '{coll}'"),
        )
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));

    let backups = c.nodes[0]
        .ok("defaultdb", &format!("SHOW BACKUPS IN '{coll}'"))
        .await;
    assert_eq!(backups.rows.len(), 1, "{:?}", rows(&backups));
    let show = c.nodes[0]
        .ok("defaultdb", &format!("SHOW BACKUP FROM LATEST IN '{coll}'"))
        .await;
    let kinds: Vec<(String, String, String)> = rows(&show)
        .into_iter()
        .map(|r| (r[2].clone(), r[3].clone(), r[4].clone()))
        .collect();
    for want in [
        ("movr", "database", "full"),
        ("users", "table", "full"),
        ("rides", "table", "incremental"),
    ] {
        assert!(
            kinds
                .iter()
                .any(|k| (k.0.as_str(), k.1.as_str(), k.2.as_str()) == want),
            "{want:?} missing from {kinds:?}"
        );
    }

    let r = c.nodes[0]
        .ok(
            "defaultdb",
            &format!("RESTORE DATABASE movr FROM LATEST IN '{coll}' WITH new_db_name = 'movr2'"),
        )
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    for t in ["users", "rides"] {
        let want = table_rows(&c, "movr", t).await;
        let got = table_rows(&c, "movr2", t).await;
        assert_eq!(got, want, "table {t} restored row for row");
    }
    assert_eq!(table_rows(&c, "movr2", "users").await.len(), 250);
    let idx = c.nodes[0]
        .ok("movr2", "SELECT count(*) FROM users WHERE city = 'city1'")
        .await;
    assert_eq!(
        int(&idx.rows[0][0]),
        50,
        "the secondary index was restored too"
    );

    // The existing database name is refused before any job exists.
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            &format!("RESTORE DATABASE movr FROM LATEST IN '{coll}'"),
        )
        .await
        .expect_err("exists");
    assert_eq!(err.to_string(), "database \"movr\" already exists");
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            &format!("RESTORE TABLE movr.users FROM LATEST IN '{coll}'"),
        )
        .await
        .expect_err("exists");
    assert_eq!(err.to_string(), "relation \"users\" already exists");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn execution_locality_and_statement_errors() {
    let c = TestCluster::start(LOCALITIES).await;
    c.nodes[0].ok("defaultdb", SCHEMA).await;
    insert_users(&c, 0, 50).await;

    // Issued on us-east1, pinned to us-west1: normal rows, and only the matching node worked.
    let r = c.nodes[0]
        .ok(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/pinned' \
             WITH EXECUTION LOCALITY = 'region=us-west1'",
        )
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    assert_eq!(int(&r.rows[0][3]), 100);
    let id = int(&r.rows[0][0]);
    let rec = c.nodes[0].jobs.get(id).await.expect("job");
    if let Some(coordinator) = rec.coordinator_id {
        let loc = c.nodes[0].node.directory().locality(coordinator);
        assert_eq!(
            loc.region(),
            Some("us-west1"),
            "coordinated in the filter's region"
        );
    }
    let plan = rec.plan.expect("a plan was recorded");
    assert!(!plan.nodes.is_empty());
    for n in &plan.nodes {
        assert!(n.locality.contains("region=us-west1"), "{plan:?}");
    }

    // No node matches: an error, and no job.
    let before = c.nodes[0].jobs.list().await.expect("jobs").len();
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/x' WITH EXECUTION LOCALITY = 'region=mars'",
        )
        .await
        .expect_err("no match");
    assert_eq!(
        err.to_string(),
        "no instances found matching locality filter region=mars"
    );
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/x' WITH EXECUTION LOCALITY = 'region'",
        )
        .await
        .expect_err("malformed");
    assert!(err.to_string().contains("key=value"), "{err}");
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            "BACKUP TABLE movr.nope INTO 'nodelocal://self/x'",
        )
        .await
        .expect_err("unknown table");
    assert_eq!(err.code(), base::errcode::UNDEFINED_TABLE);
    assert_eq!(c.nodes[0].jobs.list().await.expect("jobs").len(), before);

    // DETACHED returns the job id at once.
    let r = c.nodes[2]
        .ok(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/detached' WITH detached",
        )
        .await;
    assert_eq!(r.columns.len(), 1);
    let id = int(&r.rows[0][0]);
    let rec = c.nodes[2].jobs.wait_for_job(id).await.expect("wait");
    assert_eq!(rec.status, jobs::JobStatus::Succeeded);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_file_fails_restore_and_leaves_nothing_visible() {
    let c = TestCluster::start(&LOCALITIES[..1]).await;
    c.nodes[0].ok("defaultdb", SCHEMA).await;
    insert_users(&c, 0, 100).await;
    c.nodes[0]
        .ok(
            "defaultdb",
            "BACKUP TABLE movr.users INTO 'nodelocal://self/c'",
        )
        .await;
    let mut files = Vec::new();
    let mut stack = vec![c.extern_dir.path().join("c")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "sst") {
                files.push(p);
            }
        }
    }
    assert!(!files.is_empty(), "the backup wrote data files");
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).expect("read");
    bytes[5] ^= 0xff;
    std::fs::write(victim, bytes).expect("write");
    c.nodes[0].ok("defaultdb", "CREATE DATABASE target").await;
    let err = c.nodes[0]
        .exec(
            "defaultdb",
            "RESTORE TABLE movr.users FROM LATEST IN 'nodelocal://self/c' WITH into_db = 'target'",
        )
        .await
        .expect_err("corrupt");
    let name = victim
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        err.to_string().contains(&name)
            && err
                .to_string()
                .contains("is corrupt: checksum mismatch in block 0"),
        "{err}"
    );
    let err = c.nodes[0]
        .exec("target", "SELECT * FROM users")
        .await
        .expect_err("not visible");
    assert_eq!(err.code(), base::errcode::UNDEFINED_TABLE);
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_to_seaweedfs_and_unreachable_storage() {
    let Some(s3) = cloud::testing::SeaweedFs::start().await else {
        return;
    };
    let c = TestCluster::start(&LOCALITIES[..1]).await;
    c.nodes[0].ok("defaultdb", SCHEMA).await;
    insert_users(&c, 0, 80).await;
    c.nodes[0]
        .ok(
            "defaultdb",
            &format!(
                "CREATE EXTERNAL CONNECTION weed AS '{}'",
                s3.uri(&s3.bucket, "coll")
            ),
        )
        .await;
    let shown = c.nodes[0]
        .ok("defaultdb", "SHOW EXTERNAL CONNECTIONS")
        .await;
    assert!(
        rows(&shown)[0][1].contains("AWS_SECRET_ACCESS_KEY=redacted"),
        "{:?}",
        rows(&shown)
    );
    c.nodes[0]
        .ok("defaultdb", "BACKUP DATABASE movr INTO 'external://weed'")
        .await;
    c.nodes[0]
        .ok(
            "defaultdb",
            "RESTORE DATABASE movr FROM LATEST IN 'external://weed' WITH new_db_name = 'movr3'",
        )
        .await;
    assert_eq!(
        table_rows(&c, "movr3", "users").await,
        table_rows(&c, "movr", "users").await
    );

    let wrong = s3.uri_with_secret(&s3.bucket, "bad", "not-the-secret");
    let err = c.nodes[0]
        .exec("defaultdb", &format!("BACKUP DATABASE movr INTO '{wrong}'"))
        .await
        .expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("access denied"), "{text}");
    assert!(
        !text.contains("not-the-secret"),
        "the secret is redacted: {text}"
    );
    c.shutdown().await;
}
