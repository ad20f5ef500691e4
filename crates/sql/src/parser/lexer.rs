//! Tokens with byte positions, and the split of an input string into statements.
//!
//! The whole input is tokenized once with sqlparser's PostgreSQL tokenizer, which already knows
//! string literals, escape strings, dollar quotes, comments and placeholders. sqlparser reports
//! positions as line and column (in characters); [`tokenize`] converts them to byte offsets so
//! errors can point into the original text and so the front parser can hand sqlparser any slice
//! of the token stream with the original spans intact.

use std::ops::Range;

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::error::ParseError;

/// The dialect every sqlparser call uses.
pub(crate) static DIALECT: PostgreSqlDialect = PostgreSqlDialect {};

/// One token of the input, with its byte range in the whole input.
#[derive(Clone, Debug)]
pub(crate) struct Tok {
    /// The sqlparser token and its line/column span.
    pub token: TokenWithSpan,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset one past the last byte.
    pub end: usize,
}

impl Tok {
    /// Whitespace and comments.
    pub fn is_trivia(&self) -> bool {
        matches!(self.token.token, Token::Whitespace(_))
    }

    /// The token as written in `sql`, the input it was read from (empty if the range does not
    /// fall on character boundaries of `sql`, which would be a bug).
    pub fn text<'a>(&self, sql: &'a str) -> &'a str {
        sql.get(self.start..self.end).unwrap_or_default()
    }
}

/// Walks the input character by character to turn line/column locations into byte offsets.
/// Locations must be asked for in increasing order, which is the order of the tokens.
struct Walker<'a> {
    chars: std::str::CharIndices<'a>,
    line: u64,
    column: u64,
    byte: usize,
}

impl Walker<'_> {
    fn advance_to(&mut self, loc: Location) -> usize {
        while (self.line, self.column) < (loc.line, loc.column) {
            let Some((i, c)) = self.chars.next() else {
                break;
            };
            self.byte = i + c.len_utf8();
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
        self.byte
    }
}

/// Tokenizes the whole input. A lexical error (an unterminated string, say) is a syntax error
/// at the place the tokenizer gave up.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Tok>, ParseError> {
    let tokens = Tokenizer::new(&DIALECT, sql)
        .tokenize_with_location()
        .map_err(|e| {
            let mut walker = Walker {
                chars: sql.char_indices(),
                line: 1,
                column: 1,
                byte: 0,
            };
            let at = walker.advance_to(e.location);
            ParseError::lexical(sql, at, &e.message)
        })?;
    let mut walker = Walker {
        chars: sql.char_indices(),
        line: 1,
        column: 1,
        byte: 0,
    };
    let mut toks = Vec::with_capacity(tokens.len());
    for token in tokens {
        let start = walker.advance_to(token.span.start);
        let end = walker.advance_to(token.span.end);
        toks.push(Tok { token, start, end });
    }
    Ok(toks)
}

/// The token index ranges of the statements in `toks`, split on `;`. Ranges holding only
/// whitespace and comments are dropped, so `;;` and a trailing `;` give no empty statements.
pub(crate) fn statement_ranges(toks: &[Tok]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, tok) in toks.iter().enumerate() {
        if tok.token.token == Token::SemiColon {
            ranges.push(start..i);
            start = i + 1;
        }
    }
    ranges.push(start..toks.len());
    ranges.retain(|r| toks[r.clone()].iter().any(|t| !t.is_trivia()));
    ranges
}

/// Splits `sql` into the byte ranges of its statements, without the separating `;` and without
/// surrounding whitespace or comments. Semicolons inside string literals, quoted identifiers,
/// dollar-quoted strings and comments do not split.
pub fn split(sql: &str) -> Result<Vec<Range<usize>>, ParseError> {
    let toks = tokenize(sql)?;
    Ok(statement_ranges(&toks)
        .into_iter()
        .filter_map(|r| {
            let mut solid = toks[r].iter().filter(|t| !t.is_trivia());
            let first = solid.next()?;
            let last = solid.next_back().unwrap_or(first);
            Some(first.start..last.end)
        })
        .collect())
}
