//! CDC queries: `CREATE CHANGEFEED ... AS SELECT <columns> FROM t [WHERE <conditions>]`.
//!
//! Sextant supports what can be evaluated on one row without the SQL planner: `*` or a list
//! of column names, and a WHERE clause of `column <op> literal` comparisons (`=`, `!=`, `<>`,
//! `<`, `<=`, `>`, `>=`) joined by `AND`. Anything else (expressions, functions, `cdc_prev`,
//! `OR`) is refused with `unimplemented: …` when the changefeed is created. As in
//! CockroachDB, a deleted row is not emitted by a CDC query (its filter sees no row).

use base::errcode::{self, CodedError};
use serde::{Deserialize, Serialize};
use sql::Datum;

use crate::encoder::RowChange;

/// A comparison operator: SQL's, serialized by its variant's name (`"Eq"`, `"Lt"`, ...).
pub use sql::exec::expr::CmpOp as Op;

/// One `column <op> literal` condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// The column.
    pub column: String,
    /// The operator.
    pub op: Op,
    /// The literal, unquoted; `None` for NULL.
    pub literal: Option<String>,
}

/// A parsed CDC query.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CdcQuery {
    /// The table as written.
    pub table: Vec<String>,
    /// The selected columns; `None` for `*`.
    pub columns: Option<Vec<String>>,
    /// Conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

fn unsupported(what: &str) -> CodedError {
    CodedError::unimplemented(format!("CDC query {what}"))
}

fn ident(s: &str) -> Result<String, CodedError> {
    let s = s.trim();
    if let Some(q) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Ok(q.to_string());
    }
    if !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Ok(s.to_lowercase());
    }
    Err(unsupported(&format!(
        "expression {s:?}: only column names are supported"
    )))
}

/// Finds a keyword (ASCII, case-insensitive, surrounded by spaces) outside quotes: the byte
/// offset in `s` of the space before it. Only character boundaries of `s` itself are tried
/// (a lower-cased copy may differ in length from `s`, so its offsets do not index `s`).
fn find_kw(s: &str, kw: &str) -> Option<usize> {
    let pat = format!(" {kw} ");
    let mut in_quote = false;
    for (i, c) in s.char_indices() {
        if c == '\'' {
            in_quote = !in_quote;
        }
        if !in_quote
            && s.get(i..i + pat.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(&pat))
        {
            return Some(i);
        }
    }
    None
}

impl CdcQuery {
    /// Parses the query text (`SELECT a, b FROM t WHERE a > 1`).
    pub fn parse(text: &str) -> Result<CdcQuery, CodedError> {
        let t = format!(" {} ", text.trim().trim_end_matches(';'));
        let lower = t.to_lowercase();
        if !lower.trim_start().starts_with("select ") {
            return Err(CodedError::new(errcode::SYNTAX_ERROR, "expected SELECT"));
        }
        let from = find_kw(&t, "FROM").ok_or_else(|| unsupported("without FROM"))?;
        // `t` starts with " select " (checked above, ASCII) and `from` is a character
        // boundary of `t`, so both slices below are on boundaries; `get` says so to the lints.
        let projection = t
            .get(" select ".len()..from)
            .ok_or_else(|| unsupported("without a projection"))?
            .trim();
        let rest = t.get(from + " from ".len()..).unwrap_or("");
        let rest = format!(" {rest}");
        let (table, cond) = match find_kw(&rest, "WHERE") {
            Some(i) => {
                let (table, cond) = rest.split_at(i);
                (
                    table.trim().to_string(),
                    Some(cond.get(" where ".len()..).unwrap_or("").trim().to_string()),
                )
            }
            None => (rest.trim().to_string(), None),
        };
        for kw in ["JOIN", "GROUP", "ORDER", "LIMIT", "UNION", "HAVING", ","] {
            if find_kw(&format!(" {table} "), kw).is_some() || (kw == "," && table.contains(',')) {
                return Err(unsupported(&format!(
                    "with {kw}: only one table is supported"
                )));
            }
        }
        let table: Vec<String> = table.split('.').map(ident).collect::<Result<_, _>>()?;
        let columns = if projection == "*" {
            None
        } else {
            Some(
                projection
                    .split(',')
                    .map(ident)
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        let mut conditions = Vec::new();
        if let Some(cond) = cond {
            let mut rest = format!(" {cond} ");
            loop {
                let (part, next) = match find_kw(&rest, "AND") {
                    Some(i) => {
                        let (part, after) = rest.split_at(i);
                        let next = after.get(" and".len()..).unwrap_or("");
                        (part.to_string(), Some(next.to_string()))
                    }
                    None => (rest.clone(), None),
                };
                if find_kw(&part, "OR").is_some() {
                    return Err(unsupported("with OR: only AND of comparisons is supported"));
                }
                conditions.push(parse_condition(part.trim())?);
                match next {
                    Some(n) => rest = n,
                    None => break,
                }
            }
        }
        Ok(CdcQuery {
            table,
            columns,
            conditions,
        })
    }

    /// Checks the columns exist in a table with these column names.
    pub fn check_columns(&self, names: &[String]) -> Result<(), CodedError> {
        let wanted = self
            .columns
            .iter()
            .flatten()
            .chain(self.conditions.iter().map(|c| &c.column));
        for c in wanted {
            if !names.contains(c) {
                return Err(CodedError::new(
                    errcode::UNDEFINED_COLUMN,
                    format!("column \"{c}\" does not exist"),
                ));
            }
        }
        Ok(())
    }

    /// The change as the query emits it, or `None` when it filters the row out.
    pub fn apply(&self, change: &RowChange) -> Option<RowChange> {
        let after = change.after.as_ref()?;
        for c in &self.conditions {
            let d = after.iter().find(|(n, _)| *n == c.column).map(|(_, d)| d)?;
            if !holds(d, c) {
                return None;
            }
        }
        let project = |row: &Vec<(String, Datum)>| -> Vec<(String, Datum)> {
            match &self.columns {
                None => row.clone(),
                Some(cols) => cols
                    .iter()
                    .filter_map(|c| row.iter().find(|(n, _)| n == c).cloned())
                    .collect(),
            }
        };
        Some(RowChange {
            after: Some(project(after)),
            before: change.before.as_ref().map(project),
            ..change.clone()
        })
    }
}

fn parse_condition(s: &str) -> Result<Condition, CodedError> {
    for (tok, op) in [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("!=", Op::Ne),
        ("<>", Op::Ne),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ] {
        if let Some((column, lit)) = s.split_once(tok) {
            let column = ident(column)?;
            let lit = lit.trim();
            let literal = if lit.eq_ignore_ascii_case("null") {
                None
            } else if let Some(q) = lit.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                Some(q.replace("''", "'"))
            } else if lit.parse::<f64>().is_ok()
                || lit.eq_ignore_ascii_case("true")
                || lit.eq_ignore_ascii_case("false")
            {
                Some(lit.to_string())
            } else {
                return Err(unsupported(&format!(
                    "condition {s:?}: only column <op> literal is supported"
                )));
            };
            return Ok(Condition {
                column,
                op,
                literal,
            });
        }
    }
    Err(unsupported(&format!(
        "condition {s:?}: only column <op> literal is supported"
    )))
}

fn holds(d: &Datum, c: &Condition) -> bool {
    let Some(lit) = &c.literal else {
        return false;
    };
    if d.is_null() {
        return false;
    }
    let Ok(v) = sql::types::parse_datum(lit, &d.natural_type()) else {
        return false;
    };
    let Some(ord) = d.compare(&v) else {
        return false;
    };
    c.op.test(ord)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;

    /// Keywords are found on character boundaries of the query as written: a multi-byte
    /// character (or one whose lower case is longer, as `İ`'s is) before or inside a literal
    /// used to make the search slice inside a character and panic.
    #[test]
    fn non_ascii_text_is_an_answer_not_a_panic() {
        for text in [
            "SELECT * FROM t WHERE a = 'é'",
            "SELECT * FROM t WHERE a = 'İİ' AND b = 1",
            "SELECT é FROM t",
            "SELECT * FROM İ WHERE a = 1",
            "SELECT * FROMé t",
        ] {
            let _ = CdcQuery::parse(text);
        }
        let q = CdcQuery::parse("SELECT * FROM t WHERE a = 'İx' AND b = 1").expect("parses");
        assert_eq!(q.conditions.len(), 2, "{q:?}");
    }

    fn change(rows: &[(&str, Datum)]) -> RowChange {
        RowChange {
            topic: "t".into(),
            key: vec![Datum::Int(1)],
            after: Some(
                rows.iter()
                    .map(|(n, d)| (n.to_string(), d.clone()))
                    .collect(),
            ),
            before: None,
            updated: Timestamp::ZERO,
            mvcc: Timestamp::ZERO,
        }
    }

    #[test]
    fn projects_and_filters() {
        let q = CdcQuery::parse(
            "SELECT id, status FROM movr.vehicles WHERE status = 'in_use' AND id > 1",
        )
        .expect("parse");
        assert_eq!(q.table, vec!["movr".to_string(), "vehicles".to_string()]);
        assert_eq!(q.conditions.len(), 2);
        let c = change(&[
            ("id", Datum::Int(2)),
            ("status", Datum::String("in_use".into())),
            ("x", Datum::Int(0)),
        ]);
        let out = q.apply(&c).expect("kept");
        assert_eq!(
            out.after,
            Some(vec![
                ("id".to_string(), Datum::Int(2)),
                ("status".to_string(), Datum::String("in_use".into()))
            ])
        );
        let c = change(&[
            ("id", Datum::Int(1)),
            ("status", Datum::String("in_use".into())),
        ]);
        assert!(q.apply(&c).is_none());
        let deleted = RowChange { after: None, ..c };
        assert!(q.apply(&deleted).is_none());
        assert!(
            CdcQuery::parse("SELECT * FROM t")
                .expect("parse")
                .columns
                .is_none()
        );
        assert!(CdcQuery::parse("SELECT a + 1 FROM t").is_err());
        assert!(CdcQuery::parse("SELECT a FROM t WHERE a = 1 OR a = 2").is_err());
        assert!(CdcQuery::parse("SELECT a FROM t WHERE f(a) = 1").is_err());
    }
}
