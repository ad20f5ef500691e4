//! The catalog queries psql 15 sends for `\l`, `\dt` and `\d t` (captured with `psql -E`,
//! kept in `psql/queries.sql`, the table oid written as `'16384'`) run without error and
//! describe the table.

use sextant_sql::{Datum, StatementResult};

use crate::cluster::TestCluster;

const QUERIES: &str = include_str!("psql/queries.sql");

fn text(r: &StatementResult) -> String {
    r.rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_describe_queries() {
    let c = TestCluster::start(&["region=us-east1,az=b"]).await;
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute(
        "CREATE TABLE t (id INT PRIMARY KEY, v STRING DEFAULT 'x' CHECK (length(v) < 5), \
         p INT REFERENCES t (id), INDEX (v))",
    )
    .await
    .expect("create");
    let r = s
        .execute("SELECT oid FROM pg_catalog.pg_class WHERE relname = 't'")
        .await
        .expect("oid");
    let oid = match &r[0].rows[0][0] {
        Datum::Int(i) => i.to_string(),
        other => panic!("oid {other:?}"),
    };
    let mut outputs = Vec::new();
    for q in QUERIES.split("\n;;\n") {
        let q = q.replace("16384", &oid);
        match s.execute(&q).await {
            Ok(mut r) => outputs.push(r.remove(0)),
            Err(e) => panic!("psql query failed: {e}\n{q}"),
        }
    }
    let dbs = text(&outputs[0]);
    assert!(dbs.contains("defaultdb|root|UTF8"), "{dbs}");
    assert_eq!(text(&outputs[1]), "public|t|table|root");
    assert_eq!(outputs[2].rows.len(), 1);
    let cols = text(&outputs[4]);
    assert!(cols.contains("id|bigint|NULL|true"), "{cols}");
    assert!(cols.contains("v|text|'x'|false"), "{cols}");
    let idx = text(&outputs[5]);
    assert!(idx.contains("t_pkey|true|true|false|true|CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id)|PRIMARY KEY (id)"), "{idx}");
    assert!(idx.contains("t_v_idx|false|false"), "{idx}");
    let checks = text(&outputs[6]);
    assert!(checks.contains("CHECK ((length(v) < 5))"), "{checks}");
    let fks = text(&outputs[7]);
    assert!(fks.contains("FOREIGN KEY (p) REFERENCES t(id)"), "{fks}");
    c.shutdown().await;
}
