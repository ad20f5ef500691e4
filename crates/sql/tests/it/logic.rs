//! sqllogictest files (`testdata/logic/*.slt`) over `Session`, against a 3-node cluster.

use std::path::PathBuf;

use sextant_sql::{Datum, Session, SqlError, Type};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};

use crate::cluster::TestCluster;

/// A sqllogictest connection: one session.
pub struct SlDb {
    session: Session,
}

fn format_datum(d: &Datum) -> String {
    match d {
        Datum::String(s) if s.is_empty() => "(empty)".into(),
        other => other.to_string(),
    }
}

#[async_trait::async_trait]
impl AsyncDB for SlDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let mut results = self.session.execute(sql).await?;
        let Some(last) = results.pop() else {
            return Ok(DBOutput::StatementComplete(0));
        };
        if last.columns.is_empty() {
            let n = last
                .tag
                .rsplit(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            return Ok(DBOutput::StatementComplete(n));
        }
        let types = last
            .columns
            .iter()
            .map(|c| match c.ty {
                Type::Int2 | Type::Int4 | Type::Int8 => DefaultColumnType::Integer,
                Type::Float4 | Type::Float8 | Type::Decimal { .. } => {
                    DefaultColumnType::FloatingPoint
                }
                _ => DefaultColumnType::Text,
            })
            .collect();
        let rows = last
            .rows
            .iter()
            .map(|r| r.iter().map(format_datum).collect())
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &SqlError) -> Option<String> {
        Some(err.code().0.to_string())
    }
}

fn files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/logic");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/logic")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    v.sort();
    if let Ok(only) = std::env::var("SLT") {
        v.retain(|p| p.to_string_lossy().contains(&only));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logic_tests() {
    let cluster = TestCluster::start(&[
        "region=us-east1,az=b",
        "region=us-west1,az=a",
        "region=europe-west1,az=b",
    ])
    .await;
    let mut failures = Vec::new();
    for file in files() {
        let sql = cluster.nodes[0].sql.clone();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut runner = sqllogictest::Runner::new(move || {
            let sql = sql.clone();
            let db = format!("db_{name}");
            async move {
                let mut s = sql.session("root", "defaultdb");
                s.execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
                    .await?;
                s.execute(&format!("SET database = {db}")).await?;
                Ok(SlDb { session: s })
            }
        });
        runner.with_column_validator(|_, _| true);
        let started = std::time::Instant::now();
        if let Err(e) = runner.run_file_async(&file).await {
            failures.push(format!("{}: {}", file.display(), e.display(false)));
        }
        eprintln!("{}: {:?}", file.display(), started.elapsed());
    }
    cluster.shutdown().await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
