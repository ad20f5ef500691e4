//! The Session API end to end on one node.

use sextant_sql::Datum;

use crate::cluster::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_insert_select() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, name STRING)").await.expect("create");
    let r = s
        .execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        .await
        .expect("insert");
    assert_eq!(r[0].tag, "INSERT 0 2");
    let r = s.execute("SELECT name FROM t WHERE id = 2").await.expect("select");
    assert_eq!(r[0].rows, vec![vec![Datum::String("b".into())]]);
    let e = s.execute("INSERT INTO t VALUES (1, 'x')").await.unwrap_err();
    assert_eq!(e.code().0, "23505");
    assert_eq!(e.error.detail.as_deref(), Some("Key (id)=(1) already exists."));
    c.shutdown().await;
}
