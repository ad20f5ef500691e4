//! Parse errors as the client sees them: a SQLSTATE, a PostgreSQL-style message, and the byte
//! position of the offending token.

use base::errcode::{Code, CodedError, SYNTAX_ERROR};

/// A statement that did not parse.
///
/// Syntax errors carry SQLSTATE 42601 and the CockroachDB message form
/// `at or near "<token>": syntax error[: <why>]`; recognised syntax that Sextant does not
/// support carries 0A000 and `unimplemented: <what>`. The detail quotes the offending line with
/// a caret under the token, like CockroachDB's `source SQL:` detail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .error.message)]
pub struct ParseError {
    /// The error with its code, message, detail and hint.
    pub error: CodedError,
    /// Byte offset of the offending token in the whole input passed to
    /// [`parse`](super::parse), or of the end of the statement when the input ended early.
    /// `None` when no single place is to blame.
    pub position: Option<usize>,
}

impl ParseError {
    /// A syntax error at byte `at` of `sql`, near the token text `near` (`EOF` at the end),
    /// with an optional explanation appended to the message.
    pub(crate) fn syntax(sql: &str, at: usize, near: &str, why: Option<&str>) -> ParseError {
        let message = match why {
            Some(why) => format!("at or near \"{near}\": syntax error: {why}"),
            None => format!("at or near \"{near}\": syntax error"),
        };
        ParseError::at(sql, at, SYNTAX_ERROR, message)
    }

    /// A lexical error (an unterminated literal, a stray character) at byte `at`.
    pub(crate) fn lexical(sql: &str, at: usize, message: &str) -> ParseError {
        let message = format!("lexical error: {}", message.to_lowercase());
        ParseError::at(sql, at, SYNTAX_ERROR, message)
    }

    /// Syntax Sextant recognises but does not support, at byte `at`.
    pub(crate) fn unimplemented(sql: &str, at: usize, what: &str) -> ParseError {
        let error = CodedError::unimplemented(what);
        ParseError::at(sql, at, error.code, error.message)
    }

    /// An error with any code at byte `at`, with the `source SQL:` detail.
    pub(crate) fn at(sql: &str, at: usize, code: Code, message: String) -> ParseError {
        let error = CodedError::new(code, message).with_detail(source_detail(sql, at));
        ParseError {
            error,
            position: Some(at.min(sql.len())),
        }
    }

    /// Adds a hint.
    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> ParseError {
        self.error = self.error.with_hint(hint);
        self
    }

    /// The SQLSTATE.
    pub fn code(&self) -> Code {
        self.error.code
    }

    /// The position as PostgreSQL's `P` field wants it: a 1-based count of characters (not
    /// bytes) into `sql`, which must be the string that was parsed.
    pub fn char_position(&self, sql: &str) -> Option<usize> {
        let (before, _) = split_at_floor(sql, self.position?);
        Some(before.chars().count() + 1)
    }
}

impl From<ParseError> for CodedError {
    fn from(e: ParseError) -> CodedError {
        e.error
    }
}

/// `sql` split at the largest char boundary at or below byte `at` (clamped to the string).
fn split_at_floor(sql: &str, at: usize) -> (&str, &str) {
    let mut at = at.min(sql.len());
    while !sql.is_char_boundary(at) {
        at -= 1;
    }
    sql.split_at_checked(at).unwrap_or((sql, ""))
}

/// `source SQL:` followed by the line holding byte `at` and a caret under it.
fn source_detail(sql: &str, at: usize) -> String {
    let (before, after) = split_at_floor(sql, at);
    let line_head = before.rsplit_once('\n').map_or(before, |(_, head)| head);
    let line_tail = after.split_once('\n').map_or(after, |(tail, _)| tail);
    let line = format!("{line_head}{line_tail}");
    let column = line_head.chars().count();
    format!(
        "source SQL:\n{}\n{}^",
        line.trim_end_matches('\r'),
        " ".repeat(column)
    )
}
