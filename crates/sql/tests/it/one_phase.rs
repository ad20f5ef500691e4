//! One-phase commits of implicit statements: a single-row INSERT or UPDATE whose writes fall
//! in one range is one Raft command (no transaction record, no intents to resolve later), and
//! a duplicate key met only when the held-back writes go out is still the statement's own
//! 23505.

use std::sync::Arc;
use std::time::Duration;

use kv::replica::Replica;
use tokio_postgres::error::SqlState;

use crate::cluster::TestCluster;

/// The leaseholder replica of the cluster's last range (the newest table's, after its
/// CREATE TABLE split).
fn last_range_leaseholder(c: &TestCluster) -> Option<Arc<Replica>> {
    c.nodes.iter().find_map(|n| {
        n.node.store().replicas().into_iter().find(|r| {
            r.is_leaseholder()
                && r.descriptor()
                    .is_some_and(|d| d.end_key == base::Key::max() && d.replicas.len() == 3)
        })
    })
}

/// Waits until the range's log stops moving (up-replication and lease moves are over).
async fn settled(c: &TestCluster) -> Arc<Replica> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        if let Some(r) = last_range_leaseholder(c) {
            let now = (r.range_id(), r.group().applied_index());
            if last == Some(now) {
                return r;
            }
            last = Some(now);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the table's range did not settle"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_row_writes_are_one_raft_command() {
    let c = TestCluster::start(&["region=a,az=1", "region=a,az=2", "region=a,az=3"]).await;
    let client = c.connect(0, "defaultdb").await;
    client
        .batch_execute("CREATE TABLE t (k INT PRIMARY KEY, v STRING NOT NULL)")
        .await
        .expect("create");
    // The first write warms the range cache and the lease.
    client
        .execute("INSERT INTO t VALUES (0, 'warm')", &[])
        .await
        .expect("warm-up insert");
    let r = settled(&c).await;
    let before = r.group().applied_index();
    const N: i64 = 10;
    for k in 1..=N {
        client
            .execute("INSERT INTO t VALUES ($1, 'a')", &[&k])
            .await
            .expect("insert");
    }
    for k in 1..=N {
        client
            .execute("UPDATE t SET v = 'b' WHERE k = $1", &[&k])
            .await
            .expect("update");
    }
    let commands = r.group().applied_index() - before;
    // Two-phase, each statement would be two commands (the intent with the transaction
    // record, then the commit resolving it): 40. A stray background command or two (a lease
    // renewal) is tolerated.
    assert!(
        (2 * N as u64..=2 * N as u64 + 2).contains(&commands),
        "{} single-row statements took {commands} Raft commands on {}",
        2 * N,
        r.range_id()
    );
    let rows = client
        .query("SELECT count(*) FROM t WHERE v = 'b'", &[])
        .await
        .expect("count");
    assert_eq!(rows[0].get::<_, i64>(0), N);

    // A duplicate key is refused when the held-back write goes out at the commit; the
    // statement runs again writing as it goes and reports it as its own.
    let err = client
        .execute("INSERT INTO t VALUES (1, 'dup')", &[])
        .await
        .expect_err("duplicate key");
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err:?}");
    let db = err.as_db_error().expect("a database error");
    assert_eq!(
        db.message(),
        "duplicate key value violates unique constraint \"t_pkey\""
    );
    // A multi-row INSERT whose second row collides writes nothing.
    let err = client
        .execute("INSERT INTO t VALUES (100, 'new'), (2, 'dup')", &[])
        .await
        .expect_err("duplicate key in a multi-row insert");
    assert_eq!(err.code(), Some(&SqlState::UNIQUE_VIOLATION), "{err:?}");
    let rows = client
        .query("SELECT count(*) FROM t WHERE k = 100", &[])
        .await
        .expect("count");
    assert_eq!(rows[0].get::<_, i64>(0), 0);
    c.shutdown().await;
}
