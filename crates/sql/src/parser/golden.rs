//! Goldenscript tests: the scripts in `src/parser/testdata/` parse SQL and print the result.
//!
//! Each command is a literal line (`>`), so SQL needs no quoting; `\n` stands for a newline:
//!
//! - `> parse <sql>`: prints each statement's `Display`, one per line, plus a `notice:` line
//!   for deprecated syntax. Every printed statement is parsed again and must print the same.
//! - `> debug <sql>`: prints each statement's `Debug` form.
//! - `> shape <sql>`: prints what a wrapper around sqlparser's AST holds, field by field, and
//!   which sqlparser statement a `Standard` one is.
//! - `> one <sql>`: [`parse_one`](super::parse_one), which wants exactly one statement.
//! - `> position <sql>`: an error's byte position and its 1-based character position (the
//!   PostgreSQL `P` field).
//! - `> split <sql>`: prints each statement's text as [`split`](super::split) finds it.
//! - `!> parse <sql>`: expects an error and prints its SQLSTATE, message, position, detail
//!   (with a caret under the position) and hint.
//!
//! Regenerate with `UPDATE_GOLDENFILES=1 cargo test -p sextant-sql` and review the diff.

use std::error::Error;
use std::fmt::Write as _;

use super::{ParseError, Statement, parse, parse_one, split};

/// Runs the literal commands.
struct ParserRunner;

impl base::testing::GoldenRunner for ParserRunner {
    fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
        let line = command.name.replace("\\n", "\n");
        let (verb, sql) = line.split_once(' ').unwrap_or((&line, ""));
        match verb {
            "parse" => run_parse(sql),
            "debug" => Ok(parse(sql)
                .map_err(describe)?
                .iter()
                .map(|s| format!("{s:#?}\n"))
                .collect()),
            "one" => Ok(format!("{}\n", parse_one(sql).map_err(describe)?)),
            "position" => {
                let e = parse(sql).err().ok_or("expected an error")?;
                Ok(format!(
                    "byte {:?}, character {:?}\n",
                    e.position,
                    e.char_position(sql)
                ))
            }
            "shape" => Ok(parse(sql).map_err(describe)?.iter().map(shape).collect()),
            "split" => {
                let ranges = split(sql).map_err(describe)?;
                Ok(ranges
                    .into_iter()
                    .map(|r| format!("{:?}\n", sql.get(r).unwrap_or("<not on char boundaries>")))
                    .collect())
            }
            _ => Err(format!("unknown command {verb:?}").into()),
        }
    }
}

/// `parse`: the statements, each checked to print back stably.
fn run_parse(sql: &str) -> Result<String, Box<dyn Error>> {
    let statements = parse(sql).map_err(describe)?;
    let mut out = String::new();
    for statement in &statements {
        let text = statement.to_string();
        writeln!(out, "{text}")?;
        if let Some(notice) = statement.deprecation_notice() {
            writeln!(out, "notice: {notice}")?;
        }
        check_round_trip(statement, &text)?;
    }
    if statements.is_empty() {
        out.push_str("(no statements)\n");
    }
    Ok(out)
}

/// The fields of a statement that wraps sqlparser's AST.
fn shape(statement: &Statement) -> String {
    let mut out = String::new();
    let mut line = |field: &str, value: String| {
        let _ = writeln!(out, "{field}: {value}");
    };
    match statement {
        Statement::Standard(s) => {
            let debug = format!("{s:?}");
            line(
                "standard",
                debug.split([' ', '(']).next().unwrap_or("").to_string(),
            );
            line("sql", s.to_string());
        }
        Statement::Query(q) => {
            line("query", q.query.to_string());
            line(
                "as_of",
                format!("{:?}", q.as_of.as_ref().map(|a| a.0.to_string())),
            );
            for (n, source) in q.sources.iter().enumerate() {
                line(&format!("source [{n}]"), source.to_string());
            }
        }
        Statement::Insert(i) => {
            line("insert", i.insert.to_string());
            line("upsert", i.upsert.to_string());
        }
        Statement::CreateTable(t) => {
            line("table", t.table.to_string());
            for index in &t.indexes {
                line("index", index.to_string());
            }
            for family in &t.families {
                line("family", format!("{family:?}"));
            }
            line("locality", format!("{:?}", t.locality));
        }
        other => line("statement", format!("{other:?}")),
    }
    out
}

/// Parsing the printed form must give the same printed form and the same statement.
fn check_round_trip(statement: &Statement, text: &str) -> Result<(), Box<dyn Error>> {
    let again = parse(text)
        .map_err(|e| format!("printed form {text:?} does not parse: {}", describe(e)))?;
    let [again] = again.as_slice() else {
        return Err(format!("printed form {text:?} is {} statements", again.len()).into());
    };
    if again.to_string() != text {
        return Err(format!(
            "printed form is not stable: {text:?} then {:?}",
            again.to_string()
        )
        .into());
    }
    if again != statement {
        return Err(format!("printed form {text:?} parses to a different statement").into());
    }
    Ok(())
}

/// An error with everything the client would see.
fn describe(e: ParseError) -> String {
    let mut out = format!("{} {}", e.code(), e.error.message);
    if let Some(position) = e.position {
        let _ = write!(out, "\nposition: {position}");
    }
    if let Some(detail) = &e.error.detail {
        let _ = write!(out, "\ndetail: {detail}");
    }
    if let Some(hint) = &e.error.hint {
        let _ = write!(out, "\nhint: {hint}");
    }
    out
}

base::goldenscripts! {
    runner: ParserRunner,
    dir: "src/parser/testdata",
    scripts: [backup, restore, changefeed, jobs, multiregion, zone, standard, errors, roles],
}
