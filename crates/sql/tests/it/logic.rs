//! sqllogictest files (`testdata/logic/*.slt`) over the PostgreSQL wire protocol (tokio-postgres,
//! simple query protocol), against a 3-node cluster in three regions.

use std::path::PathBuf;

use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::SimpleQueryMessage;

use crate::cluster::TestCluster;

/// A sqllogictest connection: one tokio-postgres client, simple query protocol.
pub struct SlDb {
    client: tokio_postgres::Client,
}

/// A failed statement as the client saw it.
#[derive(Debug)]
pub struct WireError {
    code: Option<String>,
    message: String,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for WireError {}

impl From<tokio_postgres::Error> for WireError {
    fn from(e: tokio_postgres::Error) -> WireError {
        match e.as_db_error() {
            Some(db) => WireError {
                code: Some(db.code().code().to_string()),
                message: db.message().to_string(),
            },
            None => WireError {
                code: None,
                message: e.to_string(),
            },
        }
    }
}

/// The simple query protocol carries text without types, so values are shown as the shell
/// shows them: NULL as `NULL`, the empty string as `(empty)` and booleans (`t`, `f` on the
/// wire) as `true` and `false` (no expected text value is a lone `t` or `f`).
fn format_value(v: Option<&str>) -> String {
    match v {
        None => "NULL".into(),
        Some("") => "(empty)".into(),
        Some("t") => "true".into(),
        Some("f") => "false".into(),
        Some(s) => s.to_string(),
    }
}

#[async_trait::async_trait]
impl AsyncDB for SlDb {
    type Error = WireError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, WireError> {
        let messages = self.client.simple_query(sql).await?;
        // The output of the last statement of the string.
        let mut columns: Option<usize> = None;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut last = DBOutput::StatementComplete(0);
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    columns = Some(cols.len());
                    rows.clear();
                }
                SimpleQueryMessage::Row(row) => {
                    rows.push((0..row.len()).map(|i| format_value(row.get(i))).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => {
                    last = match columns.take() {
                        Some(n) => DBOutput::Rows {
                            types: vec![DefaultColumnType::Text; n],
                            rows: std::mem::take(&mut rows),
                        },
                        None => DBOutput::StatementComplete(n),
                    };
                }
                _ => {}
            }
        }
        Ok(last)
    }

    async fn shutdown(&mut self) {}

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }

    fn error_sql_state(err: &WireError) -> Option<String> {
        err.code.clone()
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
        let addr = cluster.nodes[0].sql_addr.clone();
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        let mut runner = sqllogictest::Runner::new(move || {
            let addr = addr.clone();
            let db = format!("db_{name}");
            async move {
                let admin = crate::cluster::connect(&addr, "defaultdb").await;
                admin
                    .simple_query(&format!("CREATE DATABASE IF NOT EXISTS {db}"))
                    .await?;
                let client = crate::cluster::connect(&addr, &db).await;
                Ok(SlDb { client })
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
