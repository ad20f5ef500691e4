//! [`Cursor`]: the front parser's reader over the tokens of one statement, and its bridge to
//! sqlparser.
//!
//! A cursor walks a token index range, skipping whitespace and comments. CockroachDB grammar is
//! read with the keyword helpers ([`Cursor::eat_kw`], [`Cursor::expect_kw`], ...). Standard
//! pieces (an expression, a query, a whole statement) are handed to sqlparser with
//! [`Cursor::sqlparser`]: it builds a sqlparser `Parser` over the remaining tokens (or over an
//! [`Edited`] copy of them), runs one parse function, and moves the cursor past what sqlparser
//! consumed. sqlparser errors come back as [`ParseError`]s pointing at the original bytes,
//! because every token, edited or not, keeps its original span.

use std::ops::Range;

use sqlparser::ast::{Expr, VisitMut};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan};

use super::common::{IndexRef, Name, OptionValue, QualifiedName, UriList, is_reserved};
use super::depth;
use super::error::ParseError;
use super::lexer::{DIALECT, Tok};

/// How deeply statements may nest inside statements (`EXPLAIN EXPLAIN ...`, `[SHOW ...]`).
const MAX_STATEMENT_DEPTH: usize = 16;

/// sqlparser's own nesting limit for expressions and queries. Lower than its default so deeply
/// nested input fails cleanly instead of exhausting the stack of a debug build.
const SQLPARSER_RECURSION_LIMIT: usize = 30;

/// Parse result.
pub(crate) type Result<T> = std::result::Result<T, ParseError>;

/// A reader over the tokens `pos..end` of one statement.
pub(crate) struct Cursor<'a> {
    /// The whole input.
    pub sql: &'a str,
    /// Every token of the whole input.
    toks: &'a [Tok],
    /// The next token index; may point at trivia.
    pos: usize,
    /// One past the last token index of this statement.
    end: usize,
    /// How many statements enclose this one.
    depth: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor over `range` of `toks`.
    pub fn new(sql: &'a str, toks: &'a [Tok], range: Range<usize>) -> Cursor<'a> {
        Cursor {
            sql,
            toks,
            pos: range.start,
            end: range.end,
            depth: 0,
        }
    }

    /// A cursor over a nested statement in `range`, one level deeper.
    pub fn nested(&self, range: Range<usize>) -> Result<Cursor<'a>> {
        if self.depth >= MAX_STATEMENT_DEPTH {
            return Err(self.error_why("statements nested too deeply"));
        }
        Ok(Cursor {
            sql: self.sql,
            toks: self.toks,
            pos: range.start,
            end: range.end,
            depth: self.depth + 1,
        })
    }

    /// A cursor over another token range of the same input, at the same depth.
    pub fn fork(&self, range: Range<usize>) -> Cursor<'a> {
        Cursor {
            sql: self.sql,
            toks: self.toks,
            pos: range.start,
            end: range.end,
            depth: self.depth,
        }
    }

    /// The raw tokens of the whole input.
    pub fn toks(&self) -> &'a [Tok] {
        self.toks
    }

    /// The first non-trivia index at or after `i`, or `end`.
    fn skip(&self, mut i: usize) -> usize {
        while i < self.end && self.toks[i].is_trivia() {
            i += 1;
        }
        i.min(self.end)
    }

    /// The index of the next token, or `end`.
    pub fn index(&self) -> usize {
        self.skip(self.pos)
    }

    /// One past the last token index of this statement.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Moves to token index `i` (from [`Cursor::index`]).
    pub fn set_index(&mut self, i: usize) {
        self.pos = i.min(self.end);
    }

    /// The next token.
    pub fn peek(&self) -> Option<&'a Tok> {
        self.peek_nth(0)
    }

    /// The token `n` places ahead, skipping trivia.
    pub fn peek_nth(&self, n: usize) -> Option<&'a Tok> {
        let mut i = self.skip(self.pos);
        for _ in 0..n {
            i = self.skip(i + 1);
        }
        (i < self.end).then(|| &self.toks[i])
    }

    /// Consumes the next token.
    pub fn next(&mut self) -> Option<&'a Tok> {
        let i = self.skip(self.pos);
        if i >= self.end {
            self.pos = self.end;
            return None;
        }
        self.pos = i + 1;
        Some(&self.toks[i])
    }

    /// Whether the statement has no more tokens.
    pub fn at_end(&self) -> bool {
        self.peek().is_none()
    }

    /// Byte offset of the end of the statement: its `;`, or the end of the input.
    pub fn end_offset(&self) -> usize {
        self.toks.get(self.end).map_or(self.sql.len(), |t| t.start)
    }

    /// Byte offset of the next token, or the end of the statement.
    pub fn offset(&self) -> usize {
        self.peek().map_or_else(|| self.end_offset(), |t| t.start)
    }

    // ---- keywords and punctuation ----

    /// Whether `tok` is the unquoted word `kw` (any case).
    pub fn is_kw(tok: &Tok, kw: &str) -> bool {
        matches!(&tok.token.token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw))
    }

    /// Whether the next token is the keyword `kw`.
    pub fn peek_kw(&self, kw: &str) -> bool {
        self.peek().is_some_and(|t| Self::is_kw(t, kw))
    }

    /// Whether the next tokens are the keywords `kws`, in order.
    pub fn peek_kws(&self, kws: &[&str]) -> bool {
        kws.iter()
            .enumerate()
            .all(|(n, kw)| self.peek_nth(n).is_some_and(|t| Self::is_kw(t, kw)))
    }

    /// Consumes the keyword `kw` if it is next.
    pub fn eat_kw(&mut self, kw: &str) -> bool {
        let found = self.peek_kw(kw);
        if found {
            self.next();
        }
        found
    }

    /// Consumes the keywords `kws` if they are all next; otherwise consumes nothing.
    pub fn eat_kws(&mut self, kws: &[&str]) -> bool {
        let found = self.peek_kws(kws);
        if found {
            for _ in kws {
                self.next();
            }
        }
        found
    }

    /// Consumes the keyword `kw`, or fails at the next token.
    pub fn expect_kw(&mut self, kw: &str) -> Result<()> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// Consumes the keywords `kws` one by one, failing at the first that is missing.
    pub fn expect_kws(&mut self, kws: &[&str]) -> Result<()> {
        kws.iter().try_for_each(|kw| self.expect_kw(kw))
    }

    /// Whether the next token is `token` (punctuation).
    pub fn peek_token(&self, token: &Token) -> bool {
        self.peek().is_some_and(|t| &t.token.token == token)
    }

    /// Consumes `token` if it is next.
    pub fn eat_token(&mut self, token: &Token) -> bool {
        let found = self.peek_token(token);
        if found {
            self.next();
        }
        found
    }

    /// Consumes `token`, or fails at the next token.
    pub fn expect_token(&mut self, token: &Token) -> Result<()> {
        if self.eat_token(token) {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// Fails unless the statement is over.
    pub fn expect_end(&self) -> Result<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    // ---- errors ----

    /// The text an error names for `tok`: unquoted words in lower case, quoted identifiers
    /// without quotes, anything else as written.
    fn near(&self, tok: &Tok) -> String {
        match &tok.token.token {
            Token::Word(w) if w.quote_style.is_none() => w.value.to_lowercase(),
            Token::Word(w) => w.value.clone(),
            _ => tok.text(self.sql).to_string(),
        }
    }

    /// A syntax error at the token with index `i` (or at the end, past the statement).
    /// Past the end of a nested range (an element of a list, a bracketed statement) the
    /// token that closes the range is named; past the end of a statement, `EOF`.
    fn error_at_index(&self, i: usize, why: Option<&str>) -> ParseError {
        let index = if i < self.end { i } else { self.end };
        match self
            .toks
            .get(index)
            .filter(|t| t.token.token != Token::SemiColon)
        {
            Some(tok) => ParseError::syntax(self.sql, tok.start, &self.near(tok), why),
            None => ParseError::syntax(self.sql, self.end_offset(), "EOF", why),
        }
    }

    /// A syntax error at the next token.
    pub fn error(&self) -> ParseError {
        self.error_at_index(self.index(), None)
    }

    /// A syntax error at the next token, explained.
    pub fn error_why(&self, why: &str) -> ParseError {
        self.error_at_index(self.index(), Some(why))
    }

    /// A syntax error at `tok`, explained.
    pub fn error_at(&self, tok: &Tok, why: &str) -> ParseError {
        ParseError::syntax(self.sql, tok.start, &self.near(tok), Some(why))
    }

    /// An `unimplemented: <what>` error (0A000) at the next token.
    pub fn unimplemented(&self, what: &str) -> ParseError {
        ParseError::unimplemented(self.sql, self.offset(), what)
    }

    /// An `unimplemented: <what>` error (0A000) at `tok`.
    pub fn unimplemented_at(&self, tok: &Tok, what: &str) -> ParseError {
        ParseError::unimplemented(self.sql, tok.start, what)
    }

    // ---- names and values ----

    /// A name: an identifier, quoted or not. Unquoted reserved keywords are refused.
    pub fn name(&mut self) -> Result<Name> {
        match self.peek().map(|t| &t.token.token) {
            Some(Token::Word(w)) if w.quote_style == Some('"') => {
                let name = Name(w.value.clone());
                self.next();
                Ok(name)
            }
            Some(Token::Word(w)) if w.quote_style.is_none() && !is_reserved(&w.value) => {
                let name = Name(w.value.to_lowercase());
                self.next();
                Ok(name)
            }
            _ => Err(self.error()),
        }
    }

    /// A name where any word, reserved keywords included, is allowed (`RANGE default`).
    pub fn any_name(&mut self) -> Result<Name> {
        match self.peek().map(|t| &t.token.token) {
            Some(Token::Word(w)) if w.quote_style.is_none() => {
                let name = Name(w.value.to_lowercase());
                self.next();
                Ok(name)
            }
            _ => self.name(),
        }
    }

    /// A comma-separated list of names.
    pub fn name_list(&mut self) -> Result<Vec<Name>> {
        let mut names = vec![self.name()?];
        while self.eat_token(&Token::Comma) {
            names.push(self.name()?);
        }
        Ok(names)
    }

    /// A dotted name: `t`, `db.t`, `db.schema.t`.
    pub fn qualified_name(&mut self) -> Result<QualifiedName> {
        let mut parts = vec![self.name()?];
        while self.peek_token(&Token::Period)
            && self.peek_nth(1).is_none_or(|t| t.token.token != Token::Mul)
        {
            self.next();
            parts.push(self.name()?);
        }
        Ok(QualifiedName(parts))
    }

    /// `table@index` or a bare index name.
    pub fn index_ref(&mut self) -> Result<IndexRef> {
        let name = self.qualified_name()?;
        if self.eat_token(&Token::AtSign) {
            return Ok(IndexRef {
                table: Some(name),
                index: self.name()?,
            });
        }
        match <[Name; 1]>::try_from(name.0) {
            Ok([index]) => Ok(IndexRef { table: None, index }),
            Err(_) => Err(self.error_why("expected table@index or an index name")),
        }
    }

    /// A placeholder token's number.
    fn placeholder(&self, tok: &Tok, text: &str) -> Result<OptionValue> {
        text.strip_prefix('$')
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|n| *n > 0)
            .map(OptionValue::Placeholder)
            .ok_or_else(|| self.error_at(tok, "invalid placeholder"))
    }

    /// A string literal or placeholder (CockroachDB's `string_or_placeholder`).
    pub fn string_or_placeholder(&mut self) -> Result<OptionValue> {
        let Some(tok) = self.peek() else {
            return Err(self.error());
        };
        let value = match &tok.token.token {
            Token::Placeholder(p) => self.placeholder(tok, p)?,
            token => match string_literal(token) {
                Some(s) => OptionValue::String(s),
                None => return Err(self.error_why("expected a string or placeholder")),
            },
        };
        self.next();
        Ok(value)
    }

    /// A string, placeholder or bare word (read as a string: unquoted words folded to lower case).
    /// Used for labels such as external connection names.
    pub fn label(&mut self) -> Result<OptionValue> {
        if let Some(Token::Word(w)) = self.peek().map(|t| &t.token.token) {
            if w.quote_style.is_none() && is_reserved(&w.value) {
                return Err(self.error());
            }
            let text = if w.quote_style.is_none() {
                w.value.to_lowercase()
            } else {
                w.value.clone()
            };
            self.next();
            return Ok(OptionValue::String(text));
        }
        self.string_or_placeholder()
    }

    /// `TRUE`, `FALSE` or a placeholder.
    pub fn bool_or_placeholder(&mut self) -> Result<OptionValue> {
        if self.eat_kw("TRUE") {
            return Ok(OptionValue::Bool(true));
        }
        if self.eat_kw("FALSE") {
            return Ok(OptionValue::Bool(false));
        }
        match self.peek() {
            Some(
                tok @ Tok {
                    token:
                        TokenWithSpan {
                            token: Token::Placeholder(p),
                            ..
                        },
                    ..
                },
            ) => {
                let value = self.placeholder(tok, p)?;
                self.next();
                Ok(value)
            }
            _ => Err(self.error_why("expected TRUE, FALSE or a placeholder")),
        }
    }

    /// Any literal option value: string, placeholder, number (optionally negative), boolean, or
    /// a bare word read as a string.
    pub fn option_value(&mut self) -> Result<OptionValue> {
        let Some(tok) = self.peek() else {
            return Err(self.error());
        };
        let value = match &tok.token.token {
            Token::Number(n, _) => OptionValue::Number(n.clone()),
            Token::Minus => match self.peek_nth(1).map(|t| &t.token.token) {
                Some(Token::Number(n, _)) => {
                    self.next();
                    OptionValue::Number(format!("-{n}"))
                }
                _ => return Err(self.error_why("expected a value")),
            },
            Token::Word(_) if self.peek_kw("TRUE") => OptionValue::Bool(true),
            Token::Word(_) if self.peek_kw("FALSE") => OptionValue::Bool(false),
            Token::Word(_) => return self.label(),
            _ => return self.string_or_placeholder(),
        };
        self.next();
        Ok(value)
    }

    /// One string or placeholder, or a parenthesised list of them.
    pub fn uri_list(&mut self) -> Result<UriList> {
        if !self.eat_token(&Token::LParen) {
            return Ok(UriList(vec![self.string_or_placeholder()?]));
        }
        let mut uris = vec![self.string_or_placeholder()?];
        while self.eat_token(&Token::Comma) {
            uris.push(self.string_or_placeholder()?);
        }
        self.expect_token(&Token::RParen)?;
        Ok(UriList(uris))
    }

    // ---- sqlparser ----

    /// The location of the end of the statement, for the EOF token handed to sqlparser.
    fn end_location(&self) -> Location {
        match self.toks.get(self.end) {
            Some(t) => t.token.span.start,
            None => self
                .toks
                .last()
                .map_or(Location::new(1, 1), |t| t.token.span.end),
        }
    }

    /// The remaining tokens of the statement, unedited.
    pub fn remaining(&self) -> Edited {
        Edited::copy(self.toks, self.pos..self.end)
    }

    /// Runs one sqlparser parse function over the remaining tokens and moves past what it
    /// consumed.
    pub fn sqlparser<T: VisitMut>(
        &mut self,
        f: impl FnOnce(&mut Parser) -> std::result::Result<T, ParserError>,
    ) -> Result<T> {
        let edited = self.remaining();
        self.sqlparser_on(edited, f)
    }

    /// Like [`Cursor::sqlparser`], over an edited copy of the remaining tokens.
    ///
    /// What sqlparser builds is bounded in depth (`depth`): the tokens are checked before it
    /// runs and the tree after, and it runs on a stack with [`crate::stack::RED_ZONE`] left,
    /// enough to drop whatever it builds before failing.
    pub fn sqlparser_on<T: VisitMut>(
        &mut self,
        edited: Edited,
        f: impl FnOnce(&mut Parser) -> std::result::Result<T, ParserError>,
    ) -> Result<T> {
        let Edited { mut toks, orig } = edited;
        let start = self.offset();
        let offset = |i: usize| {
            orig.get(i)
                .and_then(|o| self.toks.get(*o))
                .map_or(start, |t| t.start)
        };
        depth::check_tokens(self.sql, &toks, offset)?;
        let trivia: Vec<bool> = toks
            .iter()
            .map(|t| matches!(t.token, Token::Whitespace(_)))
            .collect();
        let end = self.end_location();
        toks.push(TokenWithSpan {
            token: Token::EOF,
            span: Span::new(end, end),
        });
        let mut parser = Parser::new(&DIALECT)
            .with_recursion_limit(SQLPARSER_RECURSION_LIMIT)
            .with_tokens_with_locations(toks);
        let value = crate::stack::grow(|| {
            let mut value = f(&mut parser).map_err(|e| self.sqlparser_error(e))?;
            depth::check(&mut value, self.sql, start)?;
            Ok(value)
        })?;
        // Resume at the next token sqlparser did not consume, not at the whitespace before it:
        // that whitespace may stand right before tokens the edit removed.
        let mut next = parser.index();
        while trivia.get(next).copied().unwrap_or(false) {
            next += 1;
        }
        self.pos = orig.get(next).copied().unwrap_or(self.end);
        Ok(value)
    }

    /// An expression, parsed by sqlparser.
    pub fn expr(&mut self) -> Result<Expr> {
        self.sqlparser(|p| p.parse_expr())
    }

    /// Turns a sqlparser error into a syntax error at the token it names.
    fn sqlparser_error(&self, e: ParserError) -> ParseError {
        let text = match e {
            ParserError::ParserError(s) | ParserError::TokenizerError(s) => s,
            ParserError::RecursionLimitExceeded => {
                let hint = format!(
                    "Parentheses, subqueries and prefix operators may nest at most \
                     {SQLPARSER_RECURSION_LIMIT} levels deep."
                );
                return depth::too_deep(self.sql, self.offset(), hint);
            }
        };
        let (text, location) = split_location(&text);
        let index = location.map(|loc| {
            self.toks
                .binary_search_by(|t| {
                    let s = t.token.span.start;
                    (s.line, s.column).cmp(&(loc.line, loc.column))
                })
                .unwrap_or(self.end)
        });
        let error = self.error_at_index(index.unwrap_or(self.end), None);
        let hint = match text.strip_prefix("Expected: ") {
            Some(rest) => format!(
                "expected {}",
                rest.split(", found: ").next().unwrap_or(rest)
            ),
            None => text.to_string(),
        };
        error.with_hint(hint)
    }
}

/// The unescaped text of a string literal token.
pub(crate) fn string_literal(token: &Token) -> Option<String> {
    match token {
        Token::SingleQuotedString(s)
        | Token::EscapedStringLiteral(s)
        | Token::NationalStringLiteral(s) => Some(s.clone()),
        Token::DollarQuotedString(d) => Some(d.value.clone()),
        _ => None,
    }
}

/// Splits sqlparser's ` at Line: L, Column: C` suffix off a message.
fn split_location(text: &str) -> (&str, Option<Location>) {
    let Some((message, location)) = text.rsplit_once(" at Line: ") else {
        return (text, None);
    };
    let mut numbers = location
        .split(", Column: ")
        .map(|n| n.trim().parse::<u64>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(line)), Some(Ok(column))) => (message, Some(Location::new(line, column))),
        _ => (text, None),
    }
}

/// A copy of a token range with edits (tokens removed, replaced or inserted) to hand to
/// sqlparser. Every token remembers the original index it stands for, so the cursor can move
/// past what sqlparser consumed; every token keeps an original span, so errors point at the
/// original text.
#[derive(Default)]
pub(crate) struct Edited {
    toks: Vec<TokenWithSpan>,
    orig: Vec<usize>,
}

impl Edited {
    /// An unedited copy of `toks[range]`.
    pub fn copy(toks: &[Tok], range: Range<usize>) -> Edited {
        let mut edited = Edited::default();
        edited.push_range(toks, range);
        edited
    }

    /// Appends original token `i`.
    pub fn push(&mut self, toks: &[Tok], i: usize) {
        self.toks.push(toks[i].token.clone());
        self.orig.push(i);
    }

    /// Appends the original tokens in `range`.
    pub fn push_range(&mut self, toks: &[Tok], range: Range<usize>) {
        for i in range {
            self.push(toks, i);
        }
    }

    /// Appends a made-up token standing for original token `i` (and using its span).
    pub fn push_synthetic(&mut self, toks: &[Tok], i: usize, token: Token) {
        self.toks.push(TokenWithSpan {
            token,
            span: toks[i].token.span,
        });
        self.orig.push(i);
    }

    /// Appends a space standing for original token `i`, to separate made-up words.
    pub fn push_space(&mut self, toks: &[Tok], i: usize) {
        let space = Token::Whitespace(sqlparser::tokenizer::Whitespace::Space);
        self.push_synthetic(toks, i, space);
    }
}
