//! Concurrent sessions on different nodes incrementing counters in explicit transactions:
//! every committed increment is counted exactly once.

use sextant_sql::{Datum, Session};

use crate::cluster::TestCluster;

const WORKERS: usize = 4;
const INCREMENTS: usize = 8;

async fn increment(s: &mut Session, id: i64) -> u32 {
    let mut retries = 0;
    loop {
        let attempt = async {
            s.execute("BEGIN").await?;
            let r = s
                .execute(&format!("SELECT v FROM counters WHERE id = {id}"))
                .await?;
            let v = r[0].rows[0][0].as_int().unwrap_or(0);
            s.execute(&format!(
                "UPDATE counters SET v = {} WHERE id = {id}",
                v + 1
            ))
            .await?;
            s.execute("COMMIT").await
        }
        .await;
        match attempt {
            Ok(_) => return retries,
            Err(e) => {
                assert!(e.is_retryable(), "unexpected error: {} ({})", e, e.code());
                let _ = s.execute("ROLLBACK").await;
                retries += 1;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_increments_are_serializable() {
    let c = TestCluster::start(&["region=a,az=1", "region=a,az=2", "region=a,az=3"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute("CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL)")
        .await
        .expect("create");
    s.execute("INSERT INTO counters VALUES (1, 0), (2, 0)")
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let sql = c.nodes[w % c.nodes.len()].sql.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = sql.session("root", "defaultdb");
            let mut retries = 0;
            for i in 0..INCREMENTS {
                retries += increment(&mut s, 1 + ((w + i) % 2) as i64).await;
            }
            retries
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let r = s.execute("SELECT sum(v) FROM counters").await.expect("sum");
    assert_eq!(
        r[0].rows[0][0].compare(&Datum::Int((WORKERS * INCREMENTS) as i64)),
        Some(std::cmp::Ordering::Equal),
        "lost or doubled updates: {:?}",
        r[0].rows
    );
    c.shutdown().await;
}
