//! A panic inside a statement stays inside its connection: the client gets an internal error
//! (XX000) and can go on, a transaction the statement ran in is aborted, and other
//! connections never notice. The panic comes from `crdb_internal.force_panic(msg)`, a builtin
//! that exists only with the crate's `testing` feature.

use tokio_postgres::error::SqlState;

use crate::cluster::TestCluster;

/// The SQLSTATE, message and hint of a failed statement.
fn db_error(e: &tokio_postgres::Error) -> (SqlState, String, String) {
    let db = e
        .as_db_error()
        .unwrap_or_else(|| panic!("a server error, not {e}"));
    (
        db.code().clone(),
        db.message().to_string(),
        db.hint().unwrap_or_default().to_string(),
    )
}

async fn select_one(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT $1::INT8 + 1", &[&0i64])
        .await
        .expect("SELECT after the panic")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_statement_fails_alone() {
    let cluster = TestCluster::start(&["region=us-east1,az=b"]).await;
    let c = cluster.connect(0, "defaultdb").await;
    let other = cluster.connect(0, "defaultdb").await;

    // Simple query protocol.
    let e = c
        .simple_query("SELECT crdb_internal.force_panic('boom')")
        .await
        .expect_err("the statement panics");
    let (code, message, hint) = db_error(&e);
    assert_eq!(code, SqlState::INTERNAL_ERROR);
    assert_eq!(message, "internal error: boom");
    assert!(hint.contains("panicked"), "{hint}");
    assert_eq!(select_one(&c).await, 1);
    assert_eq!(select_one(&other).await, 1);

    // Extended query protocol: the panic happens at Execute, with a bound parameter.
    let e = c
        .query("SELECT crdb_internal.force_panic($1)", &[&"bang é"])
        .await
        .expect_err("the statement panics");
    assert_eq!(db_error(&e).1, "internal error: bang é");
    assert_eq!(select_one(&c).await, 1);

    // Inside a transaction: the transaction is rolled back and left aborted.
    c.batch_execute("CREATE TABLE kv (k INT PRIMARY KEY)")
        .await
        .expect("create");
    c.batch_execute("BEGIN; INSERT INTO kv VALUES (1)")
        .await
        .expect("begin");
    let e = c
        .simple_query("SELECT crdb_internal.force_panic('in a transaction')")
        .await
        .expect_err("the statement panics");
    assert_eq!(db_error(&e).0, SqlState::INTERNAL_ERROR);
    let e = c
        .simple_query("SELECT 1")
        .await
        .expect_err("the transaction is aborted");
    assert_eq!(db_error(&e).0, SqlState::IN_FAILED_SQL_TRANSACTION);
    c.batch_execute("ROLLBACK").await.expect("rollback");
    let n: i64 = c
        .query_one("SELECT count(*) FROM kv", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(n, 0, "the insert before the panic was rolled back");

    // Many connections panicking at once leave the node serving.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = cluster.connect(0, "defaultdb").await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let e = client
                    .simple_query(&format!("SELECT crdb_internal.force_panic('p{i}')"))
                    .await
                    .expect_err("the statement panics");
                assert_eq!(db_error(&e).0, SqlState::INTERNAL_ERROR);
            }
            select_one(&client).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), 1);
    }
    assert_eq!(select_one(&other).await, 1);
    cluster.shutdown().await;
}
