//! The Session API end to end on one node.

use sextant_sql::Datum;

use crate::cluster::TestCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_insert_select() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute("CREATE TABLE t (id INT PRIMARY KEY, name STRING)")
        .await
        .expect("create");
    let r = s
        .execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        .await
        .expect("insert");
    assert_eq!(r[0].tag, "INSERT 0 2");
    let r = s
        .execute("SELECT name FROM t WHERE id = 2")
        .await
        .expect("select");
    assert_eq!(r[0].rows, vec![vec![Datum::String("b".into())]]);
    let e = s
        .execute("INSERT INTO t VALUES (1, 'x')")
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "23505");
    assert_eq!(
        e.error.detail.as_deref(),
        Some("Key (id)=(1) already exists.")
    );
    c.shutdown().await;
}

/// Rows written right after CREATE TABLE (which splits off a new range and moves its lease)
/// are visible to the next statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_after_create() {
    let c = TestCluster::start(&[
        "region=us-east1,az=b",
        "region=us-east1,az=c",
        "region=us-east1,az=d",
    ])
    .await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    let mut bad = Vec::new();
    for i in 0..5 {
        s.execute(&format!(
            "CREATE TABLE r{i} (x INT PRIMARY KEY, a INT, INDEX (a))"
        ))
        .await
        .expect("create");
        s.execute(&format!("INSERT INTO r{i} VALUES (1, 10), (2, 10)"))
            .await
            .expect("insert");
        let r = s
            .execute(&format!("SELECT x FROM r{i} WHERE a = 10"))
            .await
            .expect("select");
        let r2 = s
            .execute(&format!("SELECT x FROM r{i}"))
            .await
            .expect("select");
        if r[0].rows.len() != 2 || r2[0].rows.len() != 2 {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let r3 = s
                .execute(&format!("SELECT x FROM r{i}"))
                .await
                .expect("select");
            bad.push((
                i,
                r[0].rows.len(),
                r2[0].rows.len() * 100 + r3[0].rows.len(),
            ));
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters() {
    use sextant_sql::Type;
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute("CREATE TABLE p (id INT PRIMARY KEY, name STRING, score DECIMAL)")
        .await
        .expect("create");
    let ins = s
        .prepare("INSERT INTO p VALUES ($1, $2, $3)", Vec::new())
        .await
        .expect("prepare insert");
    assert_eq!(
        ins.param_types,
        vec![Type::Int8, Type::String, Type::decimal()]
    );
    for i in 0..3 {
        s.execute_prepared(
            &ins,
            vec![
                Datum::String(i.to_string()),
                Datum::String(format!("n{i}")),
                Datum::String("1.5".into()),
            ],
        )
        .await
        .expect("execute insert");
    }
    let sel = s
        .prepare("SELECT name, score FROM p WHERE id = $1", Vec::new())
        .await
        .expect("prepare select");
    assert_eq!(sel.param_types, vec![Type::Int8]);
    assert_eq!(
        sel.result_columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["name", "score"]
    );
    let r = s
        .execute_prepared(&sel, vec![Datum::Int(2)])
        .await
        .expect("execute select");
    assert_eq!(r.rows[0][0], Datum::String("n2".into()));
    assert_eq!(r.tag, "SELECT 1");
    let e = s
        .prepare("SELECT 1; SELECT 2", Vec::new())
        .await
        .unwrap_err();
    assert_eq!(e.code().as_str(), "42601");
    c.shutdown().await;
}

/// A point lookup by primary key is one KV read once the catalog cache is warm; an indexed
/// lookup is one index scan plus one Get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_lookup_is_one_kv_read() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let sql = &c.nodes[0].sql;
    let mut s = sql.session("root", "defaultdb");
    s.execute("CREATE TABLE pl (id INT PRIMARY KEY, email STRING, INDEX (email))")
        .await
        .expect("create");
    s.execute("INSERT INTO pl VALUES (1, 'a@x'), (2, 'b@x')")
        .await
        .expect("insert");
    s.execute("SELECT email FROM pl WHERE id = 1")
        .await
        .expect("warm");
    let before = sql.kv_reads();
    let r = s
        .execute("SELECT email FROM pl WHERE id = 1")
        .await
        .expect("point");
    assert_eq!(r[0].rows, vec![vec![Datum::String("a@x".into())]]);
    assert_eq!(sql.kv_reads() - before, 1, "point lookup reads");
    let before = sql.kv_reads();
    let r = s
        .execute("SELECT id FROM pl WHERE email = 'b@x'")
        .await
        .expect("index");
    assert_eq!(r[0].rows, vec![vec![Datum::Int(2)]]);
    assert_eq!(sql.kv_reads() - before, 2, "index lookup reads");
    c.shutdown().await;
}
