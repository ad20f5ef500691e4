//! `Shell::run_text` as `sextant sql -e/-f` uses it, against PostgreSQL.

use crate::{Captured, postgres};
use sextant_client::progress::{JobKind, JobProgress};
use sextant_client::shell::Flow;
use sextant_client::{Format, Shell, conn};
use std::time::Duration;

async fn shell(url: &str, format: Format) -> (Shell, Captured) {
    let out = Captured::default();
    let config = conn::config(Some(url), None, None).expect("config");
    let shell = Shell::connect(config, format, Box::new(out.clone()))
        .await
        .expect("connect");
    (shell, out)
}

#[tokio::test]
async fn tables_tags_and_multi_line_statements() {
    let Some(pg) = postgres() else { return };
    let (mut sh, out) = shell(&pg.url("postgres"), Format::Table).await;
    let script = "CREATE TABLE t (id INT PRIMARY KEY, name TEXT, score NUMERIC(5,2));\n\
                  INSERT INTO t VALUES (1, 'alice', 9.5),\n  (20, 'bob;by', NULL);\n\
                  SELECT id, name, score FROM t ORDER BY id;\n\
                  SELECT 'a' AS only_row";
    assert_eq!(sh.run_text(script).await.expect("script"), Flow::Continue);
    assert_eq!(
        out.text(),
        "CREATE TABLE\nINSERT 0 2\n id |  name  | score\n----+--------+-------\n  1 | alice  |  9.50\n \
         20 | bob;by |  NULL\n(2 rows)\n only_row\n----------\n a\n(1 row)\n"
    );
}

#[tokio::test]
async fn csv_and_errors_with_sqlstate() {
    let Some(pg) = postgres() else { return };
    let (mut sh, out) = shell(&pg.url("postgres"), Format::Csv).await;
    sh.run_text("SELECT 1 AS a, 'x,y' AS b; SELECT 2 AS a")
        .await
        .expect("select");
    assert_eq!(out.text(), "a,b\n1,\"x,y\"\na\n2\n");

    // The first error stops the run; what follows does not run.
    let err = sh
        .run_text("SELECT 3 AS c; SELECT * FROM missing; SELECT 4 AS d")
        .await
        .expect_err("missing table");
    assert_eq!(
        err.to_string(),
        "relation \"missing\" does not exist\nSQLSTATE: 42P01"
    );
    assert_eq!(err.sqlstate(), Some("42P01"));
    assert!(out.text().ends_with("c\n3\n"), "{}", out.text());
}

#[tokio::test]
async fn backslash_commands() {
    let Some(pg) = postgres() else { return };
    let (mut sh, out) = shell(&pg.url("postgres"), Format::Table).await;
    assert_eq!(sh.run_text("\\?\n").await.expect("help"), Flow::Continue);
    assert!(out.text().contains("\\dt"), "{}", out.text());
    assert_eq!(
        sh.run_text("\\q\nSELECT 1;").await.expect("quit"),
        Flow::Quit
    );
    let err = sh.run_text("\\nope").await.expect_err("invalid");
    assert!(err.to_string().contains("invalid command \\nope"), "{err}");
    // PostgreSQL has no SHOW TABLES: the command is sent, and the server's error comes back.
    let err = sh.run_text("\\dt").await.expect_err("not CockroachDB");
    assert_eq!(err.sqlstate(), Some("42704"), "{err}");
}

#[tokio::test]
async fn progress_falls_back_to_a_spinner_without_show_jobs() {
    let Some(pg) = postgres() else { return };
    let progress = JobProgress::start(pg.config("postgres"), JobKind::Backup, false);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let report = progress.stop().await;
    assert!(report.failed_polls >= 2, "{report:?}");
    assert_eq!(report.fractions_seen, 0);
    assert_eq!(report.last_fraction, None);
}
