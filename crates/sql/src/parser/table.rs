//! Tables and indexes: `CREATE TABLE` with CockroachDB's inline `INDEX` and `FAMILY`
//! definitions and `LOCALITY` clause, `CREATE INDEX ... STORING`, and the CockroachDB-only
//! `ALTER TABLE`/`ALTER INDEX` forms.
//!
//! sqlparser's PostgreSQL dialect reads an inline `INDEX name (a, b)` as a column named
//! `index` of a made-up type, and knows neither `FAMILY`, `STORING` nor `LOCALITY`. So
//! [`parse_create_table`] takes those out of the token stream, parses each inline index as the
//! equivalent `CREATE INDEX ... ON <table>` (so the executor has one index type), and hands the
//! rest to sqlparser.

use std::fmt;
use std::ops::Range;

use sqlparser::ast::{CreateIndex, Expr, IndexType, Query};
use sqlparser::tokenizer::Token;

use super::common::{IndexRef, Name, QualifiedName, comma_list};
use super::cursor::{Cursor, Edited, Result};
use super::lexer::{Tok, tokenize};
use super::region::{AlterTableLocality, TableLocality, parse_table_locality};
use super::statement::Statement;
use super::zone::{ConfigureZone, ZoneTarget, parse_configure_zone};

/// `CREATE TABLE`, split into what sqlparser understands and CockroachDB's extras.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateTable {
    /// The table as sqlparser parsed it, without the inline indexes and families.
    pub table: sqlparser::ast::CreateTable,
    /// Inline `[UNIQUE | INVERTED] INDEX [name] (cols) [STORING (cols)] [WHERE pred]`
    /// definitions, as the equivalent `CREATE INDEX ... ON <table>` (`STORING` is `include`,
    /// `INVERTED` is `USING GIN`).
    pub indexes: Vec<CreateIndex>,
    /// `FAMILY [name] (cols)` column families.
    pub families: Vec<ColumnFamily>,
    /// A trailing `LOCALITY ...` clause.
    pub locality: Option<TableLocality>,
}

/// `FAMILY [name] (col, ...)`: columns stored together in one KV pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnFamily {
    /// The family's name.
    pub name: Option<Name>,
    /// Its columns.
    pub columns: Vec<Name>,
}

impl fmt::Display for ColumnFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FAMILY ")?;
        if let Some(name) = &self.name {
            write!(f, "{name} ")?;
        }
        f.write_str("(")?;
        comma_list(f, &self.columns)?;
        f.write_str(")")
    }
}

/// An inline index definition rendered back from its `CREATE INDEX` form.
struct InlineIndex<'a>(&'a CreateIndex);

impl fmt::Display for InlineIndex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index = self.0;
        if index.unique {
            f.write_str("UNIQUE ")?;
        }
        if index.using == Some(IndexType::GIN) {
            f.write_str("INVERTED ")?;
        }
        f.write_str("INDEX ")?;
        if let Some(name) = &index.name {
            write!(f, "{name} ")?;
        }
        f.write_str("(")?;
        comma_list(f, &index.columns)?;
        f.write_str(")")?;
        if !index.include.is_empty() {
            f.write_str(" STORING (")?;
            comma_list(f, &index.include)?;
            f.write_str(")")?;
        }
        if let Some(predicate) = &index.predicate {
            write!(f, " WHERE {predicate}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CreateTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.table.to_string();
        let mut extras: Vec<String> = self
            .indexes
            .iter()
            .map(|i| InlineIndex(i).to_string())
            .collect();
        extras.extend(self.families.iter().map(|fam| fam.to_string()));
        match insert_elements(&text, &extras) {
            Some(with_extras) => f.write_str(&with_extras)?,
            None => f.write_str(&text)?,
        }
        if let Some(locality) = &self.locality {
            write!(f, " {locality}")?;
        }
        Ok(())
    }
}

/// Inserts `extras` at the end of the element list of a rendered `CREATE TABLE`; `None` when
/// there is nothing to insert or no element list.
fn insert_elements(text: &str, extras: &[String]) -> Option<String> {
    if extras.is_empty() {
        return None;
    }
    let toks = tokenize(text).ok()?;
    let open = toks.iter().position(|t| t.token.token == Token::LParen)?;
    let close = matching_paren(&toks, open, toks.len())?;
    let empty = toks[open + 1..close].iter().all(Tok::is_trivia);
    let (head, tail) = text.split_at_checked(toks.get(close)?.start)?;
    let sep = if empty { "" } else { ", " };
    Some(format!("{head}{sep}{}{tail}", extras.join(", ")))
}

/// The index of the `)` closing the `(` at `open`, before `end`.
fn matching_paren(toks: &[Tok], open: usize, end: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().take(end).skip(open) {
        match tok.token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// The element ranges of the list between `open` and `close`, and the commas between them.
fn split_elements(toks: &[Tok], open: usize, close: usize) -> (Vec<Range<usize>>, Vec<usize>) {
    let mut commas = Vec::new();
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().take(close).skip(open + 1) {
        match tok.token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            Token::Comma if depth == 0 => commas.push(i),
            _ => {}
        }
    }
    let starts = std::iter::once(open + 1).chain(commas.iter().map(|c| c + 1));
    let ends = commas.iter().copied().chain(std::iter::once(close));
    (starts.zip(ends).map(|(s, e)| s..e).collect(), commas)
}

/// Whether an element (from the cursor) is an index definition.
fn is_index_element(c: &Cursor) -> bool {
    c.peek_kw("INDEX") || c.peek_kws(&["UNIQUE", "INDEX"]) || c.peek_kws(&["INVERTED", "INDEX"])
}

/// Parses `CREATE [TEMP] TABLE ...`.
pub(crate) fn parse_create_table(c: &mut Cursor) -> Result<CreateTable> {
    let (start, end, toks) = (c.index(), c.end(), c.toks());
    c.expect_kw("CREATE")?;
    let _ = c.eat_kw("TEMP") || c.eat_kw("TEMPORARY") || c.eat_kw("UNLOGGED");
    c.expect_kw("TABLE")?;
    c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let name_start = c.index();
    c.qualified_name()?;
    let table_name = name_start..c.index();

    let mut keep = vec![true; end - start];
    let (mut indexes, mut families) = (Vec::new(), Vec::new());
    let open = c.index();
    let close = c
        .peek_token(&Token::LParen)
        .then(|| matching_paren(toks, open, end))
        .flatten();
    if let Some(close) = close {
        let (elements, commas) = split_elements(toks, open, close);
        // Each kept element but the first keeps the comma before it.
        let mut none_kept_yet = true;
        for (k, element) in elements.iter().enumerate() {
            let mut e = c.fork(element.clone());
            let extracted = if is_index_element(&e) {
                indexes.push(parse_inline_index(&mut e, table_name.clone())?);
                true
            } else if e.peek_kw("FAMILY") {
                families.push(parse_family(&mut e)?);
                true
            } else {
                false
            };
            if extracted {
                element.clone().for_each(|i| keep[i - start] = false);
            }
            if k > 0 && (extracted || none_kept_yet) {
                keep[commas[k - 1] - start] = false;
            }
            none_kept_yet &= extracted;
        }
    }

    let (locality, main_end) = parse_trailing_locality(c, table_name.end)?;
    let mut edited = Edited::default();
    for i in start..main_end {
        if keep[i - start] {
            edited.push(toks, i);
        }
    }
    let mut main = c.fork(start..main_end);
    let stmt = main.sqlparser_on(edited, |p| p.parse_statement())?;
    main.expect_end()?;
    c.set_index(end);
    match stmt {
        sqlparser::ast::Statement::CreateTable(table) => Ok(CreateTable {
            table,
            indexes,
            families,
            locality,
        }),
        _ => Err(c.fork(start..end).error()),
    }
}

/// Finds a top-level `LOCALITY {GLOBAL | REGIONAL ...}` after token `from` and parses it to the
/// end of the statement. Returns the locality and where the rest of the statement ends.
fn parse_trailing_locality(c: &Cursor, from: usize) -> Result<(Option<TableLocality>, usize)> {
    let (toks, end) = (c.toks(), c.end());
    let mut depth = 0usize;
    for (i, tok) in toks.iter().enumerate().take(end).skip(from) {
        if tok.is_trivia() {
            continue;
        }
        match tok.token.token {
            Token::LParen | Token::LBracket => depth += 1,
            Token::RParen | Token::RBracket => depth = depth.saturating_sub(1),
            _ => {}
        }
        let probe = c.fork(i..end);
        if depth == 0
            && (probe.peek_kws(&["LOCALITY", "GLOBAL"])
                || probe.peek_kws(&["LOCALITY", "REGIONAL"]))
        {
            let mut lc = c.fork(i + 1..end);
            let locality = parse_table_locality(&mut lc)?;
            lc.expect_end()?;
            return Ok((Some(locality), i));
        }
    }
    Ok((None, end))
}

/// Copies `range` into `edited`, turning a top-level `STORING` or `COVERING` into `INCLUDE`
/// and refusing `USING HASH`.
fn push_index_tail(c: &Cursor, edited: &mut Edited, range: Range<usize>) -> Result<()> {
    let toks = c.toks();
    let mut depth = 0usize;
    for i in range {
        let tok = &toks[i];
        match tok.token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if Cursor::is_kw(tok, "USING") && c.fork(i..c.end()).peek_kws(&["USING", "HASH"]) {
            return Err(c.unimplemented_at(tok, "hash-sharded indexes"));
        }
        if depth == 0 && (Cursor::is_kw(tok, "STORING") || Cursor::is_kw(tok, "COVERING")) {
            edited.push_synthetic(toks, i, Token::make_keyword("INCLUDE"));
        } else {
            edited.push(toks, i);
        }
    }
    Ok(())
}

/// Parses an inline index element as `CREATE INDEX [name] ON <table> ...`.
fn parse_inline_index(c: &mut Cursor, table: Range<usize>) -> Result<CreateIndex> {
    let toks = c.toks();
    let first = c.index();
    let unique = c.eat_kw("UNIQUE");
    let inverted = c.eat_kw("INVERTED");
    c.expect_kw("INDEX")?;
    let name = if c.peek_token(&Token::LParen) {
        None
    } else {
        let at = c.index();
        c.name()?;
        Some(at)
    };
    if !c.peek_token(&Token::LParen) {
        return Err(c.error());
    }
    let mut e = Edited::default();
    let word = |e: &mut Edited, w: &str| {
        e.push_synthetic(toks, first, Token::make_keyword(w));
        e.push_space(toks, first);
    };
    word(&mut e, "CREATE");
    if unique {
        word(&mut e, "UNIQUE");
    }
    word(&mut e, "INDEX");
    if let Some(at) = name {
        e.push(toks, at);
        e.push_space(toks, first);
    }
    word(&mut e, "ON");
    e.push_range(toks, table);
    e.push_space(toks, first);
    if inverted {
        word(&mut e, "USING");
        word(&mut e, "GIN");
    }
    push_index_tail(c, &mut e, c.index()..c.end())?;
    let stmt = c.sqlparser_on(e, |p| p.parse_statement())?;
    c.expect_end()?;
    match stmt {
        sqlparser::ast::Statement::CreateIndex(index) => Ok(index),
        _ => Err(c.fork(first..c.end()).error()),
    }
}

/// Parses `FAMILY [name] (col, ...)`.
fn parse_family(c: &mut Cursor) -> Result<ColumnFamily> {
    c.expect_kw("FAMILY")?;
    let name = if c.peek_token(&Token::LParen) {
        None
    } else {
        Some(c.name()?)
    };
    c.expect_token(&Token::LParen)?;
    let columns = c.name_list()?;
    c.expect_token(&Token::RParen)?;
    c.expect_end()?;
    Ok(ColumnFamily { name, columns })
}

/// Parses `CREATE [UNIQUE] [INVERTED] INDEX ...`: standard SQL once `STORING` is read as
/// `INCLUDE` and `INVERTED` as `USING GIN`.
pub(crate) fn parse_create_index(c: &mut Cursor) -> Result<Statement> {
    let (start, toks) = (c.index(), c.toks());
    c.expect_kw("CREATE")?;
    c.eat_kw("UNIQUE");
    let inverted = c.peek_kw("INVERTED").then(|| c.index());
    let mut e = Edited::default();
    let mut depth = 0usize;
    let mut using_gin = inverted.is_some();
    for i in start..c.end() {
        let tok = &toks[i];
        if Some(i) == inverted {
            continue;
        }
        if using_gin && depth == 0 && tok.token.token == Token::LParen {
            e.push_synthetic(toks, i, Token::make_keyword("USING"));
            e.push_space(toks, i);
            e.push_synthetic(toks, i, Token::make_keyword("GIN"));
            e.push_space(toks, i);
            using_gin = false;
        }
        match tok.token.token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth == 0 && Cursor::is_kw(tok, "USING") {
            using_gin = false;
        }
        if Cursor::is_kw(tok, "USING") && c.fork(i..c.end()).peek_kws(&["USING", "HASH"]) {
            return Err(c.unimplemented_at(tok, "hash-sharded indexes"));
        }
        if depth == 0 && (Cursor::is_kw(tok, "STORING") || Cursor::is_kw(tok, "COVERING")) {
            e.push_synthetic(toks, i, Token::make_keyword("INCLUDE"));
        } else {
            e.push(toks, i);
        }
    }
    let mut all = c.fork(start..c.end());
    let stmt = all.sqlparser_on(e, |p| p.parse_statement())?;
    all.expect_end()?;
    c.set_index(c.end());
    Ok(Statement::Standard(Box::new(stmt)))
}

/// What `SPLIT AT` splits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SplitTarget {
    /// `ALTER TABLE t`: its primary index.
    Table(QualifiedName),
    /// `ALTER INDEX t@i`.
    Index(IndexRef),
}

impl fmt::Display for SplitTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SplitTarget::Table(t) => write!(f, "TABLE {t}"),
            SplitTarget::Index(i) => write!(f, "INDEX {i}"),
        }
    }
}

/// `ALTER {TABLE t | INDEX t@i} SPLIT AT <query> [WITH EXPIRATION <expr>]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitAt {
    /// The table or index.
    pub target: SplitTarget,
    /// The split points: each row is a key prefix (`VALUES (1), (2)` or a `SELECT`).
    pub rows: Box<Query>,
    /// `WITH EXPIRATION`: when the manual split may be merged away.
    pub expiration: Option<Expr>,
}

impl fmt::Display for SplitAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER {} SPLIT AT {}", self.target, self.rows)?;
        if let Some(expiration) = &self.expiration {
            write!(f, " WITH EXPIRATION {expiration}")?;
        }
        Ok(())
    }
}

/// Parses what follows `SPLIT AT`.
fn parse_split(c: &mut Cursor, target: SplitTarget) -> Result<Statement> {
    let rows = c.sqlparser(|p| p.parse_query())?;
    let expiration = if c.eat_kws(&["WITH", "EXPIRATION"]) {
        Some(c.expr()?)
    } else {
        None
    };
    c.expect_end()?;
    Ok(Statement::SplitAt(Box::new(SplitAt {
        target,
        rows,
        expiration,
    })))
}

/// The `ALTER TABLE`/`ALTER INDEX` forms of CockroachDB that Sextant does not support.
fn unsupported_alter(c: &Cursor) -> Result<()> {
    for kw in [
        "UNSPLIT",
        "SCATTER",
        "RELOCATE",
        "EXPERIMENTAL_RELOCATE",
        "INJECT",
    ] {
        if c.peek_kw(kw) {
            return Err(c.unimplemented(&format!("ALTER ... {kw}")));
        }
    }
    if c.peek_kws(&["PARTITION", "BY"]) {
        return Err(c.unimplemented("partitioning"));
    }
    if c.peek_kws(&["ALTER", "PRIMARY", "KEY"]) {
        return Err(c.unimplemented("ALTER PRIMARY KEY"));
    }
    Ok(())
}

/// Parses the CockroachDB forms of `ALTER TABLE` (`SET LOCALITY`, `CONFIGURE ZONE`,
/// `SPLIT AT`); `None` (cursor untouched) for anything else, which is standard.
pub(crate) fn parse_alter_table(c: &mut Cursor) -> Result<Option<Statement>> {
    let save = c.index();
    c.expect_kws(&["ALTER", "TABLE"])?;
    let if_exists = c.eat_kws(&["IF", "EXISTS"]);
    let Ok(table) = c.qualified_name() else {
        c.set_index(save);
        return Ok(None);
    };
    if c.eat_kws(&["SET", "LOCALITY"]) {
        let locality = parse_table_locality(c)?;
        c.expect_end()?;
        return Ok(Some(Statement::AlterTableLocality(Box::new(
            AlterTableLocality {
                if_exists,
                table,
                locality,
            },
        ))));
    }
    if c.eat_kws(&["CONFIGURE", "ZONE"]) {
        let action = parse_configure_zone(c)?;
        let target = ZoneTarget::Table(table);
        return Ok(Some(Statement::ConfigureZone(Box::new(ConfigureZone {
            target,
            action,
        }))));
    }
    if c.eat_kws(&["SPLIT", "AT"]) {
        return parse_split(c, SplitTarget::Table(table)).map(Some);
    }
    unsupported_alter(c)?;
    c.set_index(save);
    Ok(None)
}

/// Parses the CockroachDB forms of `ALTER INDEX` (`CONFIGURE ZONE`, `SPLIT AT`); `None`
/// (cursor untouched) for anything else.
pub(crate) fn parse_alter_index(c: &mut Cursor) -> Result<Option<Statement>> {
    let save = c.index();
    c.expect_kws(&["ALTER", "INDEX"])?;
    c.eat_kws(&["IF", "EXISTS"]);
    let Ok(index) = c.index_ref() else {
        c.set_index(save);
        return Ok(None);
    };
    if c.eat_kws(&["CONFIGURE", "ZONE"]) {
        let action = parse_configure_zone(c)?;
        let target = ZoneTarget::Index(index);
        return Ok(Some(Statement::ConfigureZone(Box::new(ConfigureZone {
            target,
            action,
        }))));
    }
    if c.eat_kws(&["SPLIT", "AT"]) {
        return parse_split(c, SplitTarget::Index(index)).map(Some);
    }
    unsupported_alter(c)?;
    if index.table.is_some() {
        return Err(c.unimplemented("this ALTER INDEX form with table@index"));
    }
    c.set_index(save);
    Ok(None)
}
