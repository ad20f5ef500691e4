//! Queries and inserts: standard SQL that sqlparser parses, after the front parser has taken
//! out what it cannot: a statement-level `AS OF SYSTEM TIME`, `[SHOW ...]`-style statement
//! sources, and the `UPSERT` verb.

use std::fmt;

use sqlparser::ast::{Insert, Query};
use sqlparser::tokenizer::Token;

use super::common::AsOfSystemTime;
use super::cursor::{Cursor, Edited, Result};
use super::lexer::tokenize;
use super::statement::{Statement, parse_statement};

/// A query (`SELECT`, `VALUES`, `WITH ...`, set operations) with its CockroachDB extras.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryStatement {
    /// The query as sqlparser parsed it, without the `AS OF SYSTEM TIME` clause. A statement
    /// source `[SHOW JOBS]` appears in it as the table named `"[n]"` (quoted, brackets
    /// included), where `n` indexes [`QueryStatement::sources`].
    pub query: Box<Query>,
    /// `AS OF SYSTEM TIME`, written after the top-level `FROM` list.
    pub as_of: Option<AsOfSystemTime>,
    /// Statements used as data sources, `SELECT ... FROM [SHOW JOBS]`, in order of appearance.
    pub sources: Vec<Statement>,
}

/// `INSERT` or `UPSERT`.
#[derive(Clone, Debug, PartialEq)]
pub struct InsertStatement {
    /// The statement as sqlparser parsed it, with `UPSERT` read as `INSERT`.
    pub insert: Insert,
    /// `UPSERT INTO`: insert, or replace the row with the same primary key.
    pub upsert: bool,
}

/// Keywords that start a statement allowed as a `[ ... ]` data source.
const SOURCE_STATEMENTS: &[&str] = &["SHOW", "EXPLAIN", "INSERT", "UPSERT", "UPDATE", "DELETE"];

/// Keywords that end a `FROM` list at the top level of a query.
const AFTER_FROM: &[&str] = &[
    "WHERE",
    "GROUP",
    "HAVING",
    "WINDOW",
    "QUALIFY",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "FOR",
    "UNION",
    "EXCEPT",
    "INTERSECT",
];

const AS_OF_SYSTEM_TIME: &[&str] = &["AS", "OF", "SYSTEM", "TIME"];

/// Parses a query from the cursor to wherever sqlparser's query ends (the caller checks what
/// follows).
pub(crate) fn parse_query(c: &mut Cursor) -> Result<QueryStatement> {
    let (edited, as_of, sources) = edit_query(c)?;
    let query = c.sqlparser_on(edited, |p| p.parse_query())?;
    Ok(QueryStatement {
        query,
        as_of,
        sources,
    })
}

/// Copies the rest of the statement for sqlparser, taking out a top-level `AS OF SYSTEM TIME`
/// and replacing each `[statement]` source with the table name `"[n]"`.
fn edit_query(c: &Cursor) -> Result<(Edited, Option<AsOfSystemTime>, Vec<Statement>)> {
    let toks = c.toks();
    let (mut i, end) = (c.index(), c.end());
    let mut edited = Edited::default();
    let (mut depth, mut seen_from, mut prev) = (0usize, false, None::<usize>);
    let mut as_of = None;
    let mut sources = Vec::new();
    while i < end {
        let tok = &toks[i];
        if tok.is_trivia() {
            edited.push(toks, i);
            i += 1;
            continue;
        }
        if tok.token.token == Token::LBracket && starts_source(c, prev, i) {
            let close = matching_bracket(c, i)?;
            sources.push(parse_statement(&mut c.nested(i + 1..close)?)?);
            let name = format!("[{}]", sources.len() - 1);
            edited.push_synthetic(toks, i, Token::make_word(&name, Some('"')));
            prev = Some(close);
            i = close + 1;
            continue;
        }
        let mut probe = c.fork(i..end);
        if probe.eat_kws(AS_OF_SYSTEM_TIME) {
            if depth > 0 {
                return Err(c.error_at(
                    tok,
                    "AS OF SYSTEM TIME must be provided on a top-level statement",
                ));
            }
            if !seen_from {
                return Err(c.error_at(tok, "AS OF SYSTEM TIME must follow a FROM clause"));
            }
            if as_of.is_some() {
                return Err(c.error_at(tok, "AS OF SYSTEM TIME specified more than once"));
            }
            as_of = Some(AsOfSystemTime(probe.expr()?));
            prev = None;
            i = probe.index();
            continue;
        }
        match tok.token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
        seen_from |= depth == 0 && Cursor::is_kw(tok, "FROM");
        edited.push(toks, i);
        prev = Some(i);
        i += 1;
    }
    Ok((edited, as_of, sources))
}

/// Whether the `[` at index `i` opens a statement source: it follows `FROM`, `JOIN` or a comma
/// and holds a statement keyword.
fn starts_source(c: &Cursor, prev: Option<usize>, i: usize) -> bool {
    let toks = c.toks();
    let after_from = prev.is_some_and(|p| {
        let t = &toks[p];
        Cursor::is_kw(t, "FROM") || Cursor::is_kw(t, "JOIN") || t.token.token == Token::Comma
    });
    let inner = c.fork(i + 1..c.end());
    after_from && SOURCE_STATEMENTS.iter().any(|kw| inner.peek_kw(kw))
}

/// The index of the `]` that closes the `[` at index `open`.
fn matching_bracket(c: &Cursor, open: usize) -> Result<usize> {
    let toks = c.toks();
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().take(c.end()).skip(open) {
        match tok.token.token {
            Token::LBracket | Token::LParen => depth += 1,
            Token::RBracket | Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return if tok.token.token == Token::RBracket {
                        Ok(i)
                    } else {
                        Err(c.error_at(tok, "unbalanced brackets"))
                    };
                }
            }
            _ => {}
        }
    }
    Err(c.fork(c.end()..c.end()).error_why("missing ]"))
}

/// Fails if the rest of the statement holds `AS OF SYSTEM TIME`, which only a query, BACKUP or
/// RESTORE may carry.
pub(crate) fn reject_as_of(c: &Cursor) -> Result<()> {
    for i in c.index()..c.end() {
        let tok = &c.toks()[i];
        if !tok.is_trivia() && c.fork(i..c.end()).peek_kws(AS_OF_SYSTEM_TIME) {
            return Err(c.error_at(
                tok,
                "AS OF SYSTEM TIME must be provided on a top-level statement",
            ));
        }
    }
    Ok(())
}

/// Parses `INSERT ...` or `UPSERT ...` (the cursor is at the verb).
pub(crate) fn parse_insert(c: &mut Cursor) -> Result<InsertStatement> {
    reject_as_of(c)?;
    let upsert = c.peek_kw("UPSERT");
    let mut probe = c.fork(c.index()..c.end());
    probe.next();
    probe.expect_kw("INTO")?;
    let mut edited = c.remaining();
    if upsert {
        let verb = c.index();
        edited = Edited::default();
        edited.push_synthetic(c.toks(), verb, Token::make_keyword("INSERT"));
        edited.push_range(c.toks(), verb + 1..c.end());
    }
    let start = c.fork(c.index()..c.end());
    let stmt = c.sqlparser_on(edited, |p| p.parse_statement())?;
    c.expect_end()?;
    match stmt {
        sqlparser::ast::Statement::Insert(insert) => Ok(InsertStatement { insert, upsert }),
        _ => Err(start.error()),
    }
}

impl fmt::Display for QueryStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.query.to_string();
        if self.as_of.is_none() && self.sources.is_empty() {
            return f.write_str(&text);
        }
        f.write_str(&self.restore_extras(&text))
    }
}

impl QueryStatement {
    /// Puts the `AS OF SYSTEM TIME` clause and the statement sources back into sqlparser's
    /// rendering of the query.
    fn restore_extras(&self, text: &str) -> String {
        let Ok(toks) = tokenize(text) else {
            return text.to_string();
        };
        let mut out = String::with_capacity(text.len() + 32);
        let mut as_of = self.as_of.as_ref().map(|a| a.to_string());
        let (mut depth, mut seen_from) = (0usize, false);
        for tok in &toks {
            let is_after_from = AFTER_FROM.iter().any(|kw| Cursor::is_kw(tok, kw));
            if depth == 0
                && seen_from
                && is_after_from
                && let Some(clause) = as_of.take()
            {
                out.push_str(&clause);
                out.push(' ');
            }
            match &tok.token.token {
                Token::LParen | Token::LBracket => depth += 1,
                Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
                _ => {}
            }
            seen_from |= depth == 0 && Cursor::is_kw(tok, "FROM");
            out.push_str(&self.render_token(text, tok));
        }
        if let Some(clause) = as_of {
            out.push(' ');
            out.push_str(&clause);
        }
        out
    }

    /// A rendered token, with `"[n]"` turned back into `[statement]`.
    fn render_token(&self, text: &str, tok: &super::lexer::Tok) -> String {
        if let Token::Word(w) = &tok.token.token {
            let index = w.value.strip_prefix('[').and_then(|v| v.strip_suffix(']'));
            let source = index
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| self.sources.get(n));
            if let (Some('"'), Some(source)) = (w.quote_style, source) {
                return format!("[{source}]");
            }
        }
        tok.text(text).to_string()
    }
}

impl fmt::Display for InsertStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.insert.to_string();
        match text.strip_prefix("INSERT").filter(|_| self.upsert) {
            Some(rest) => write!(f, "UPSERT{rest}"),
            None => f.write_str(&text),
        }
    }
}
