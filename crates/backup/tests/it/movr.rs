//! The movr dataset of the `sextant-client` workload, loaded through a node's SQL server (the
//! workload's own `init` speaks the wire protocol; these clusters have no listener), and
//! row-for-row comparisons of its tables.

use client::workload::movr::data::{self, Sizes, Value};
use client::workload::movr::{DEFAULT_SEED, insert_sql, schema};
use futures::StreamExt;

use crate::cluster::TestNode;

/// Rows per INSERT while loading.
const BATCH: u64 = 25;
/// INSERT statements in flight while loading.
const CONCURRENCY: usize = 1;

/// movr's table names, in creation order.
pub fn tables() -> Vec<&'static str> {
    schema::TABLES.iter().map(|(name, _)| *name).collect()
}

/// Creates database `db` with movr's tables and indexes and loads `sizes` rows with the
/// workload's seed; returns the rows loaded per table.
pub async fn load(node: &TestNode, db: &str, sizes: Sizes) -> Vec<(&'static str, u64)> {
    node.ok("defaultdb", &format!("CREATE DATABASE {db}")).await;
    for (_, ddl) in schema::TABLES {
        node.ok(db, ddl).await;
    }
    for index in schema::INDEXES {
        node.ok(db, index).await;
    }
    let seed = DEFAULT_SEED;
    let mut loaded = Vec::new();
    for (table, columns, n) in sizes.tables() {
        let statements: Vec<(usize, String)> = (0..n)
            .step_by(BATCH as usize)
            .filter_map(|start| {
                let rows: Vec<Vec<Value>> = (start..(start + BATCH).min(n))
                    .filter_map(|i| data::row(seed, &sizes, table, i))
                    .collect();
                (!rows.is_empty()).then(|| (rows.len(), insert_sql(table, columns, &rows, None)))
            })
            .collect();
        let count: usize = statements.iter().map(|(n, _)| n).sum();
        futures::stream::iter(statements)
            .map(|(_, sql)| async move { node.ok(db, &sql).await })
            .buffer_unordered(CONCURRENCY)
            .collect::<Vec<_>>()
            .await;
        loaded.push((table, count as u64));
    }
    loaded.push(("user_promo_codes", 0));
    loaded
}

/// Every row of `db.table` as text, sorted (a stable order whatever the primary key).
pub async fn rows(node: &TestNode, db: &str, table: &str) -> Vec<Vec<String>> {
    let r = node.ok(db, &format!("SELECT * FROM {table}")).await;
    let mut rows: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| row.iter().map(|d| d.to_string()).collect())
        .collect();
    rows.sort();
    rows
}

/// Asserts that every movr table of `restored` equals the one of `source`, row for row.
pub async fn assert_same(node: &TestNode, source: &str, restored: &str) {
    for table in tables() {
        let want = rows(node, source, table).await;
        let got = rows(node, restored, table).await;
        assert_eq!(
            got.len(),
            want.len(),
            "{restored}.{table} has {} rows, {source}.{table} {}",
            got.len(),
            want.len()
        );
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{restored}.{table} differs from {source}.{table}");
        }
    }
}

/// The sum of the rows loaded.
pub fn total(loaded: &[(&str, u64)]) -> u64 {
    loaded.iter().map(|(_, n)| n).sum()
}
