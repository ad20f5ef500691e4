//! `ALTER TABLE ... SPLIT AT`: the table's range splits at each given primary key prefix, at
//! once, and every row stays readable.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::cluster::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn split_at_splits_the_primary_index() {
    let c = TestCluster::start(&["region=a,az=1", "region=a,az=2", "region=a,az=3"]).await;
    let client = c.connect(0, "defaultdb").await;
    client
        .batch_execute(
            "CREATE TABLE t (k INT PRIMARY KEY, v STRING); \
             INSERT INTO t VALUES (1, 'v'), (2, 'v'), (3, 'v'), (4, 'v'), (5, 'v'), (6, 'v'), (7, 'v'), (8, 'v'), (9, 'v'), (10, 'v')",
        )
        .await
        .expect("setup");
    let rows = client
        .query("ALTER TABLE t SPLIT AT VALUES (5), (8)", &[])
        .await
        .expect("split");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get::<_, String>("pretty"), "/5");
    assert_eq!(rows[1].get::<_, String>("pretty"), "/8");
    for row in &rows {
        let key = base::Key(row.get::<_, Vec<u8>>("key"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let starts = c.nodes.iter().any(|n| {
                n.node
                    .store()
                    .replicas()
                    .iter()
                    .any(|r| r.descriptor().is_some_and(|d| d.start_key == key))
            });
            if starts {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no range starts at {key}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Splitting at an existing boundary is a no-op.
    client
        .query("ALTER TABLE t SPLIT AT VALUES (5)", &[])
        .await
        .expect("split again");
    let n: i64 = client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 10);
    let err = client
        .query("ALTER TABLE t SPLIT AT VALUES (1, 2)", &[])
        .await
        .expect_err("too many columns");
    assert_eq!(err.code(), Some(&SqlState::SYNTAX_ERROR), "{err:?}");
    let err = client
        .query(
            "ALTER TABLE t SPLIT AT VALUES (3) WITH EXPIRATION '2030-01-01'",
            &[],
        )
        .await
        .expect_err("expiration");
    assert_eq!(
        err.code(),
        Some(&SqlState::FEATURE_NOT_SUPPORTED),
        "{err:?}"
    );
    c.shutdown().await;
}
