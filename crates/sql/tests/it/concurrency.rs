//! Concurrent clients over the wire, on different nodes, incrementing a counter in explicit
//! transactions and retrying on 40001: every committed increment is counted exactly once.

use tokio_postgres::error::SqlState;

use crate::cluster::TestCluster;

const WORKERS: usize = 4;
const INCREMENTS: usize = 6;

/// One increment in an explicit transaction, retried until it commits; returns the retries.
async fn increment(client: &tokio_postgres::Client) -> u32 {
    let mut retries = 0;
    loop {
        let attempt = async {
            client.batch_execute("BEGIN").await?;
            client
                .execute("UPDATE counter SET v = v + 1 WHERE id = 1", &[])
                .await?;
            client.batch_execute("COMMIT").await
        }
        .await;
        match attempt {
            Ok(()) => return retries,
            Err(e) => {
                assert_eq!(
                    e.code(),
                    Some(&SqlState::T_R_SERIALIZATION_FAILURE),
                    "unexpected error: {e:?}"
                );
                let _ = client.batch_execute("ROLLBACK").await;
                retries += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_over_the_wire() {
    let c = TestCluster::start(&["region=a,az=1", "region=a,az=2", "region=a,az=3"]).await;
    let client = c.connect(0, "defaultdb").await;
    client
        .batch_execute(
            "CREATE TABLE counter (id INT PRIMARY KEY, v INT NOT NULL); \
             INSERT INTO counter VALUES (1, 0)",
        )
        .await
        .expect("setup");
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let worker = c.connect(w % c.nodes.len(), "defaultdb").await;
        tasks.push(tokio::spawn(async move {
            let mut retries = 0;
            for _ in 0..INCREMENTS {
                retries += increment(&worker).await;
            }
            retries
        }));
    }
    let mut retries = 0;
    for t in tasks {
        retries += t.await.expect("worker");
    }
    let v: i64 = client
        .query_one("SELECT v FROM counter WHERE id = 1", &[])
        .await
        .expect("read")
        .get(0);
    assert_eq!(
        v,
        (WORKERS * INCREMENTS) as i64,
        "lost or doubled updates ({retries} retries)"
    );
    c.shutdown().await;
}
