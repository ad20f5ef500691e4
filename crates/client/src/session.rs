//! Running one statement and turning the server's answer into what the shell prints.
//!
//! [`execute`] sends a statement with the simple query protocol, so every value arrives as
//! the server's own text (no client-side formatting of numbers, dates or JSON), and collects
//! one [`Outcome`] per statement result: a [`ResultSet`] when the statement returned rows,
//! else a command tag (`INSERT 0 3`, `CREATE TABLE`) built from the statement's first words
//! and the row count. Which columns are numbers (right-aligned) comes from the statement's
//! description (a `prepare`) for read-only statements outside a transaction, else from the
//! values themselves ([`looks_numeric`]).

use crate::format::ResultSet;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

/// What one statement produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The statement returned rows (possibly none).
    Rows(ResultSet),
    /// The statement returned no rows; its command tag.
    Done(String),
}

/// Runs `sql` (one statement, or several separated by `;`) and returns its outcomes.
/// `describe` allows a `prepare` of `sql` to learn its column types.
pub async fn execute(
    client: &Client,
    sql: &str,
    describe: bool,
) -> Result<Vec<Outcome>, tokio_postgres::Error> {
    let messages = client.simple_query(sql).await?;
    let mut outcomes = Vec::new();
    let mut current: Option<ResultSet> = None;
    for m in messages {
        match m {
            SimpleQueryMessage::RowDescription(cols) => {
                current = Some(ResultSet {
                    columns: cols.iter().map(|c| c.name().to_string()).collect(),
                    numeric: vec![false; cols.len()],
                    rows: Vec::new(),
                });
            }
            SimpleQueryMessage::Row(row) => {
                let rs = current.get_or_insert_with(|| ResultSet {
                    columns: row.columns().iter().map(|c| c.name().to_string()).collect(),
                    numeric: vec![false; row.len()],
                    rows: Vec::new(),
                });
                rs.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(n) => match current.take() {
                Some(rs) => outcomes.push(Outcome::Rows(rs)),
                None => outcomes.push(Outcome::Done(command_tag(sql, n))),
            },
            _ => {}
        }
    }
    if let Some(rs) = current.take() {
        outcomes.push(Outcome::Rows(rs));
    }
    let single = outcomes.len() == 1;
    for outcome in &mut outcomes {
        if let Outcome::Rows(rs) = outcome {
            let described = if describe && single && is_read_only(sql) {
                column_types(client, sql, rs.columns.len()).await
            } else {
                None
            };
            rs.numeric = match described {
                Some(numeric) => numeric,
                None => (0..rs.columns.len())
                    .map(|i| {
                        looks_numeric(rs.rows.iter().map(|r| r.get(i).and_then(Option::as_deref)))
                    })
                    .collect(),
            };
        }
    }
    Ok(outcomes)
}

/// Per column, whether the statement's description says it is a number; `None` when the
/// server cannot describe it.
async fn column_types(client: &Client, sql: &str, n: usize) -> Option<Vec<bool>> {
    let stmt = client.prepare(sql).await.ok()?;
    let numeric: Vec<bool> = stmt
        .columns()
        .iter()
        .map(|c| is_numeric(c.type_()))
        .collect();
    (numeric.len() == n).then_some(numeric)
}

/// Whether values of `t` are numbers.
pub fn is_numeric(t: &Type) -> bool {
    [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::FLOAT4,
        Type::FLOAT8,
        Type::NUMERIC,
        Type::OID,
    ]
    .contains(t)
}

/// Whether a column whose type is unknown holds numbers: at least one value and every
/// non-NULL value a decimal number.
pub fn looks_numeric<'a>(values: impl Iterator<Item = Option<&'a str>>) -> bool {
    let mut any = false;
    for v in values.flatten() {
        let digits = v.strip_prefix('-').unwrap_or(v);
        let ok = !digits.is_empty()
            && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
            && digits.chars().filter(|c| *c == '.').count() <= 1
            && digits.chars().any(|c| c.is_ascii_digit());
        if !ok {
            return false;
        }
        any = true;
    }
    any
}

/// Whether a statement only reads, judged by its first word, so describing it is safe.
fn is_read_only(sql: &str) -> bool {
    matches!(
        first_words(sql, 1).first().map(String::as_str),
        Some("SELECT" | "SHOW" | "VALUES" | "TABLE" | "EXPLAIN")
    )
}

/// The command tag of a statement that returned no rows, as PostgreSQL words it.
pub fn command_tag(sql: &str, rows: u64) -> String {
    let words = first_words(sql, 6);
    let first = words.first().map(String::as_str).unwrap_or("");
    match first {
        "INSERT" | "UPSERT" => format!("INSERT 0 {rows}"),
        "UPDATE" | "DELETE" | "SELECT" | "COPY" | "FETCH" | "MOVE" => format!("{first} {rows}"),
        "CREATE" | "DROP" | "ALTER" => {
            let object = words[1..].iter().find(|w| {
                !matches!(
                    w.as_str(),
                    "UNIQUE" | "OR" | "REPLACE" | "TEMP" | "TEMPORARY"
                )
            });
            match object {
                Some(o) => format!("{first} {o}"),
                None => first.to_string(),
            }
        }
        "START" => "START TRANSACTION".to_string(),
        "END" => "COMMIT".to_string(),
        "" => "EMPTY".to_string(),
        w => w.to_string(),
    }
}

/// The first `n` words of `sql`, upper-cased, after leading blanks and comments.
pub fn first_words(sql: &str, n: usize) -> Vec<String> {
    let mut rest = sql.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, a)| a).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, a)| a).trim_start();
        } else {
            break;
        }
    }
    rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .take(n)
        .map(str::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(command_tag("insert into t values (1)", 3), "INSERT 0 3");
        assert_eq!(command_tag("UPSERT INTO t VALUES (1)", 1), "INSERT 0 1");
        assert_eq!(command_tag("-- c\nUPDATE t SET a = 1", 2), "UPDATE 2");
        assert_eq!(
            command_tag("create unique index i on t (a)", 0),
            "CREATE INDEX"
        );
        assert_eq!(command_tag("CREATE TABLE t (a INT)", 0), "CREATE TABLE");
        assert_eq!(command_tag("/* x */ begin", 0), "BEGIN");
        assert_eq!(command_tag("SET database = movr", 0), "SET");
        assert_eq!(command_tag("end", 0), "COMMIT");
    }

    #[test]
    fn numeric_guess() {
        let guess = |vals: &[Option<&str>]| looks_numeric(vals.iter().copied());
        assert!(guess(&[Some("1"), None, Some("-2.50")]));
        assert!(!guess(&[None]));
        assert!(!guess(&[Some("1"), Some("x")]));
        assert!(!guess(&[Some("1.2.3")]));
        assert!(!guess(&[Some("-")]));
        assert!(is_read_only(" show tables"));
        assert!(!is_read_only("INSERT INTO t VALUES (1) RETURNING a"));
    }
}
