//! Full-cluster BACKUP and RESTORE: every database but `system`, restored into a cluster with
//! no user data.

use std::path::Path;

use sql::Datum;

use crate::cluster::TestCluster;
use crate::movr;
use crate::placement::SMALL;

const ONE_NODE: &[&str] = &["region=us-east1,zone=us-east1-a"];

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_cluster_backup_restores_into_an_empty_cluster() {
    let a = TestCluster::start(ONE_NODE).await;
    let src = &a.nodes[0];
    src.ok(
        "defaultdb",
        "CREATE TABLE notes (id INT PRIMARY KEY, body STRING); \
         INSERT INTO notes VALUES (1, 'one'), (2, 'two')",
    )
    .await;
    let loaded = movr::load(src, "movr", SMALL).await;
    let r = src
        .ok("defaultdb", "BACKUP INTO 'nodelocal://self/cluster'")
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    assert_eq!(
        r.rows[0][3],
        Datum::Int(movr::total(&loaded) as i64 + 2),
        "movr and defaultdb.notes"
    );
    let show = src
        .ok(
            "defaultdb",
            "SHOW BACKUP FROM LATEST IN 'nodelocal://self/cluster'",
        )
        .await;
    let mut databases: Vec<String> = show
        .rows
        .iter()
        .filter(|r| r[3] == Datum::String("database".into()))
        .map(|r| r[2].to_string())
        .collect();
    databases.sort();
    assert_eq!(
        databases,
        ["defaultdb", "movr", "postgres"],
        "all but system"
    );
    assert!(
        show.rows.iter().all(|r| r[9] == Datum::Bool(true)),
        "is_full_cluster"
    );

    // Not into a cluster with user data, and not from a database backup.
    let err = src
        .exec(
            "defaultdb",
            "RESTORE FROM LATEST IN 'nodelocal://self/cluster'",
        )
        .await
        .expect_err("the cluster has data");
    assert!(
        err.to_string().starts_with(
            "full cluster restore can only be run on a cluster with no tables or databases but \
             found"
        ) && err.to_string().contains("movr"),
        "{err}"
    );
    src.ok(
        "defaultdb",
        "BACKUP DATABASE movr INTO 'nodelocal://self/db'",
    )
    .await;
    let err = src
        .exec("defaultdb", "RESTORE FROM LATEST IN 'nodelocal://self/db'")
        .await
        .expect_err("not a cluster backup");
    assert_eq!(
        err.to_string(),
        "full cluster RESTORE can only be used on full cluster BACKUP files"
    );

    // A new cluster: its empty defaultdb and postgres are replaced by the backup's.
    let b = TestCluster::start(ONE_NODE).await;
    copy_dir(
        &a.extern_dir.path().join("cluster"),
        &b.extern_dir.path().join("cluster"),
    );
    let dst = &b.nodes[0];
    let r = dst
        .ok(
            "defaultdb",
            "RESTORE FROM LATEST IN 'nodelocal://self/cluster'",
        )
        .await;
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    for table in movr::tables() {
        assert_eq!(
            movr::rows(dst, "movr", table).await,
            movr::rows(src, "movr", table).await,
            "movr.{table} restored row for row"
        );
    }
    assert_eq!(
        movr::rows(dst, "defaultdb", "notes").await,
        movr::rows(src, "defaultdb", "notes").await
    );
    dst.ok("defaultdb", "INSERT INTO notes VALUES (3, 'three')")
        .await;
    a.shutdown().await;
    b.shutdown().await;
}
