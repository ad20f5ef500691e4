//! BACKUP and RESTORE through an assembled node, over the wire: the server registers the
//! backup layer and serves `nodelocal://1` to the other nodes, so processors on every node
//! write to node 1's external IO directory. With EXECUTION LOCALITY every processor runs in
//! the region, and a gateway outside it still gets the normal result rows.

use std::time::Duration;

use crate::connect;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_restore_over_the_wire_with_execution_locality() {
    let cluster = crate::start_serving_sql(&[
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=europe-west1,az=c",
    ])
    .await;
    let c = connect(&cluster, 0).await;
    c.batch_execute(
        "CREATE DATABASE shop; \
         CREATE TABLE shop.orders (id INT PRIMARY KEY, item STRING, qty INT, INDEX (item)); \
         INSERT INTO shop.orders SELECT i, 'item' || (i % 17)::STRING, i % 5 FROM generate_series(1, 500) AS g(i);",
    )
    .await
    .expect("schema and rows");

    // Issued on the us-east1 node, pinned to us-west1: normal rows, no relocation error.
    let row = c
        .query_one(
            "BACKUP DATABASE shop INTO 'nodelocal://1/backups' \
             WITH EXECUTION LOCALITY = 'region=us-west1'",
            &[],
        )
        .await
        .expect("backup");
    let names: Vec<&str> = row.columns().iter().map(|c| c.name()).collect();
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
    let job_id: i64 = row.get(0);
    assert_eq!(row.get::<_, String>(1), "succeeded");
    assert_eq!(row.get::<_, i64>(3), 500);
    assert_eq!(row.get::<_, i64>(4), 500);

    // Coordinator and every processor in us-west1 (node 2).
    let west = cluster.node(1).node_id().0 as i64;
    let coord: Option<i64> = c
        .query_one(
            &format!("SELECT coordinator_id FROM [SHOW JOB {job_id}]"),
            &[],
        )
        .await
        .expect("show job")
        .get(0);
    assert_eq!(coord, Some(west));
    let plan = c
        .query(
            "SELECT node_id, ranges FROM crdb_internal.job_plans WHERE job_id = $1",
            &[&job_id],
        )
        .await
        .expect("plan");
    assert!(!plan.is_empty());
    for r in &plan {
        assert_eq!(r.get::<_, i64>(0), west, "a processor ran outside us-west1");
    }

    // A filter nothing matches: the error, and no job.
    let jobs_before = c
        .query_one("SELECT count(*) FROM crdb_internal.jobs", &[])
        .await
        .expect("count")
        .get::<_, i64>(0);
    let err = c
        .batch_execute(
            "BACKUP DATABASE shop INTO 'nodelocal://1/backups' \
             WITH EXECUTION LOCALITY = 'region=mars'",
        )
        .await
        .expect_err("no node in mars");
    assert_eq!(
        err.as_db_error().expect("db error").message(),
        "no instances found matching locality filter region=mars"
    );
    let jobs_after = c
        .query_one("SELECT count(*) FROM crdb_internal.jobs", &[])
        .await
        .expect("count")
        .get::<_, i64>(0);
    assert_eq!(jobs_before, jobs_after);

    // Restore from another gateway under a new name: the same rows.
    let c3 = connect(&cluster, 2).await;
    let row = c3
        .query_one(
            "RESTORE DATABASE shop FROM LATEST IN 'nodelocal://1/backups' \
             WITH new_db_name = 'shop2'",
            &[],
        )
        .await
        .expect("restore");
    assert_eq!(row.get::<_, String>(1), "succeeded");
    let sum = |db: &'static str| {
        let c = &c3;
        async move {
            c.query_one(
                &format!("SELECT count(*), sum(qty)::INT8, count(DISTINCT item) FROM {db}.orders"),
                &[],
            )
            .await
            .expect("aggregate")
        }
    };
    let (a, b) = (sum("shop").await, sum("shop2").await);
    assert_eq!(a.get::<_, i64>(0), b.get::<_, i64>(0));
    assert_eq!(a.get::<_, i64>(1), b.get::<_, i64>(1));
    assert_eq!(a.get::<_, i64>(2), b.get::<_, i64>(2));
    // The index came back too.
    let n: i64 = c3
        .query_one(
            "SELECT count(*) FROM shop2.orders WHERE item = 'item3'",
            &[],
        )
        .await
        .expect("index lookup")
        .get(0);
    assert!(n > 0);

    let shown = c3
        .query("SHOW BACKUPS IN 'nodelocal://1/backups'", &[])
        .await
        .expect("show backups");
    assert_eq!(shown.len(), 1);
    tokio::time::timeout(Duration::from_secs(30), cluster.shutdown())
        .await
        .expect("shutdown");
}
