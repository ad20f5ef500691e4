//! Random statements against the executor: errors are fine, panics are not.

use std::cell::RefCell;

use proptest::prelude::*;

use crate::cluster::TestCluster;

const COLUMNS: &[&str] = &[
    "a", "b", "c", "s", "t.a", "x", "1", "NULL", "'x'", "2.5", "true", "now()", "$1",
];
const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "=", "<", ">=", "<>", "AND", "OR", "||", "IS", "LIKE", "->",
];
const FUNCS: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "lower",
    "length",
    "abs",
    "coalesce",
    "substring",
    "round",
    "string_agg",
    "array_agg",
    "nullif",
    "unknownfn",
];

fn expr() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(COLUMNS).prop_map(str::to_string);
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(OPS), inner.clone())
                .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            (
                prop::sample::select(FUNCS),
                prop::collection::vec(inner.clone(), 0..3)
            )
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            inner.clone().prop_map(|e| format!("NOT {e}")),
            inner.clone().prop_map(|e| format!("CAST({e} AS INT)")),
            inner
                .clone()
                .prop_map(|e| format!("(SELECT {e} FROM t LIMIT 1)")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} IN ({b}, 1)")),
            (inner.clone(), inner).prop_map(|(a, b)| format!("CASE WHEN {a} THEN {b} END")),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    prop_oneof![
        (expr(), expr(), expr()).prop_map(|(a, b, c)| format!("SELECT {a}, {b} FROM t WHERE {c}")),
        (expr(), expr()).prop_map(|(a, b)| format!("SELECT {a} FROM t GROUP BY {b} ORDER BY 1")),
        (expr(), expr()).prop_map(|(a, b)| format!("SELECT {a} FROM t AS x JOIN t ON {b}")),
        (expr(), expr()).prop_map(|(a, b)| format!("INSERT INTO t VALUES ({a}, {b}, 1, 'q')")),
        (expr(), expr()).prop_map(|(a, b)| format!("UPDATE t SET b = {a} WHERE {b}")),
        expr().prop_map(|a| format!("DELETE FROM t WHERE {a}")),
        expr().prop_map(|a| format!("UPSERT INTO t (a, b) VALUES (7, {a})")),
        (expr(), expr()).prop_map(|(a, b)| format!("SELECT {a} UNION SELECT {b}")),
        prop::collection::vec(
            prop::sample::select(
                &[
                    "SELECT", "FROM", "t", "(", ")", ",", "a", "*", "WHERE", "=", "1", "'",
                    "GROUP", "BY", "INSERT", "INTO", "VALUES", "ON", "CONFLICT", "DO", "NOTHING",
                    "BEGIN", "COMMIT", "ROLLBACK"
                ][..]
            ),
            1..12
        )
        .prop_map(|w| w.join(" ")),
    ]
}

#[test]
fn random_statements_never_panic() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cluster = rt.block_on(TestCluster::start(&["region=a,az=1"]));
    let mut s = cluster.nodes[0].sql.session("root", "defaultdb");
    rt.block_on(async {
        s.execute("CREATE TABLE t (a INT PRIMARY KEY, b INT, c DECIMAL, s STRING, INDEX (b))")
            .await
            .expect("create");
        s.execute("INSERT INTO t VALUES (1, 2, 3.5, 'x'), (2, NULL, NULL, NULL)")
            .await
            .expect("insert");
    });
    let session = RefCell::new(s);
    let config = ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(sql in statement())| {
        let mut s = session.borrow_mut();
        let _ = rt.block_on(s.execute(&sql));
        if s.in_transaction() {
            let _ = rt.block_on(s.execute("ROLLBACK"));
        }
    });
    rt.block_on(cluster.shutdown());
}
