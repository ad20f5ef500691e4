//! [`Statement`], the output of the parser, and [`parse_statement`], the dispatch on a
//! statement's first keywords.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::backup::{Backup, parse_backup};
use super::changefeed::{
    AlterChangefeed, CreateChangefeed, parse_alter_changefeed, parse_create_changefeed,
};
use super::common::{Name, comma_list};
use super::cursor::{Cursor, Result};
use super::error::ParseError;
use super::external::{
    CreateExternalConnection, DropExternalConnection, parse_create_external, parse_drop_external,
};
use super::jobs::{ControlJobs, parse_control_jobs};
use super::query::{InsertStatement, QueryStatement, parse_insert, parse_query, reject_as_of};
use super::region::{
    AlterDatabase, AlterTableLocality, CreateDatabase, parse_alter_database, parse_create_database,
};
use super::restore::{Restore, parse_restore};
use super::role::{RoleStatement, is_role_statement, parse_role_statement};
use super::settings::{SetClusterSetting, parse_set_cluster_setting};
use super::show::{Show, parse_show};
use super::table::{
    CreateTable, SplitAt, parse_alter_index, parse_alter_table, parse_create_index,
    parse_create_table,
};
use super::zone::{ConfigureZone, parse_alter_range};

/// One parsed statement.
///
/// Invariant: `Standard` never holds a query, an insert, a `CREATE TABLE`, a `CREATE DATABASE`,
/// an `EXPLAIN` or a `SHOW`; those always come out as the dedicated variants, with or without
/// CockroachDB extras, so each kind of statement has one representation.
#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    /// Standard SQL exactly as sqlparser parsed it: DDL (`CREATE INDEX` with `STORING` read as
    /// `INCLUDE`, `DROP`, `ALTER TABLE ADD COLUMN`...), `UPDATE`, `DELETE`, transactions,
    /// session `SET`, and so on.
    Standard(Box<sqlparser::ast::Statement>),
    /// A query, possibly `AS OF SYSTEM TIME`.
    Query(Box<QueryStatement>),
    /// `INSERT` or `UPSERT`.
    Insert(Box<InsertStatement>),
    /// `CREATE TABLE`, with inline indexes, column families and locality taken out.
    CreateTable(Box<CreateTable>),
    /// `EXPLAIN [ANALYZE] [(options)] <statement>`.
    Explain(Box<Explain>),
    /// `BACKUP`.
    Backup(Box<Backup>),
    /// `RESTORE`.
    Restore(Box<Restore>),
    /// `CREATE EXTERNAL CONNECTION`.
    CreateExternalConnection(Box<CreateExternalConnection>),
    /// `DROP EXTERNAL CONNECTION`.
    DropExternalConnection(Box<DropExternalConnection>),
    /// `CREATE CHANGEFEED` and `EXPERIMENTAL CHANGEFEED`.
    CreateChangefeed(Box<CreateChangefeed>),
    /// `ALTER CHANGEFEED`.
    AlterChangefeed(Box<AlterChangefeed>),
    /// `PAUSE`, `RESUME` or `CANCEL` `JOB`/`JOBS`.
    ControlJobs(Box<ControlJobs>),
    /// `CREATE DATABASE`, with its multi-region clauses.
    CreateDatabase(Box<CreateDatabase>),
    /// `ALTER DATABASE` region, survival goal, rename and owner changes.
    AlterDatabase(Box<AlterDatabase>),
    /// `ALTER TABLE ... SET LOCALITY`.
    AlterTableLocality(Box<AlterTableLocality>),
    /// `ALTER ... CONFIGURE ZONE`.
    ConfigureZone(Box<ConfigureZone>),
    /// `ALTER TABLE|INDEX ... SPLIT AT`.
    SplitAt(Box<SplitAt>),
    /// `SET CLUSTER SETTING` and `RESET CLUSTER SETTING`.
    SetClusterSetting(Box<SetClusterSetting>),
    /// Every `SHOW`.
    Show(Box<Show>),
    /// `CREATE|ALTER|DROP USER|ROLE`, `GRANT|REVOKE` of role memberships.
    Role(Box<RoleStatement>),
}

/// NOTICE for the deprecated `BACKUP ... TO`.
pub const BACKUP_TO_NOTICE: &str = "The `BACKUP TO` syntax will be removed in a future release, \
    please switch over to using `BACKUP INTO` to create a backup collection: \
    https://www.cockroachlabs.com/docs/stable/backup.html#considerations";

/// NOTICE for the deprecated `RESTORE ... FROM 'uri'` without `IN`.
pub const RESTORE_FROM_NOTICE: &str = "The `RESTORE FROM <backup>` syntax will be removed in a \
    future release, please switch over to using `RESTORE FROM <backup> IN <collection>` to restore \
    a particular backup in a collection: \
    https://www.cockroachlabs.com/docs/stable/restore.html#syntax";

/// NOTICE for the deprecated `SHOW BACKUP 'uri'` without `IN`.
pub const SHOW_BACKUP_NOTICE: &str = "The `SHOW BACKUP` syntax without the `IN` keyword will be \
    removed in a future release, please switch over to using `SHOW BACKUP FROM <backup> IN \
    <collection>` to view metadata on a backup collection: \
    https://www.cockroachlabs.com/docs/stable/show-backup.html";

impl Statement {
    /// The NOTICE to send before running this statement, for deprecated syntax.
    pub fn deprecation_notice(&self) -> Option<&'static str> {
        match self {
            Statement::Backup(b) if b.is_deprecated_syntax() => Some(BACKUP_TO_NOTICE),
            Statement::Restore(r) if r.is_deprecated_syntax() => Some(RESTORE_FROM_NOTICE),
            Statement::Show(s) => match s.as_ref() {
                Show::Backup(b) if b.is_deprecated_syntax() => Some(SHOW_BACKUP_NOTICE),
                _ => None,
            },
            _ => None,
        }
    }
}

/// `EXPLAIN [ANALYZE] [(option, ...)] <statement>`.
#[derive(Clone, Debug, PartialEq)]
pub struct Explain {
    /// `EXPLAIN ANALYZE`: run the statement and report what happened.
    pub analyze: bool,
    /// The parenthesised options (`verbose`, `distsql`, `opt`...), normalised, unvalidated.
    pub options: Vec<Name>,
    /// The explained statement.
    pub statement: Statement,
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EXPLAIN ")?;
        if self.analyze {
            f.write_str("ANALYZE ")?;
        }
        if !self.options.is_empty() {
            let upper: Vec<String> = self
                .options
                .iter()
                .map(|o| o.as_str().to_uppercase())
                .collect();
            f.write_str("(")?;
            comma_list(f, &upper)?;
            f.write_str(") ")?;
        }
        write!(f, "{}", self.statement)
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Standard(s) => write!(f, "{s}"),
            Statement::Query(s) => write!(f, "{s}"),
            Statement::Insert(s) => write!(f, "{s}"),
            Statement::CreateTable(s) => write!(f, "{s}"),
            Statement::Explain(s) => write!(f, "{s}"),
            Statement::Backup(s) => write!(f, "{s}"),
            Statement::Restore(s) => write!(f, "{s}"),
            Statement::CreateExternalConnection(s) => write!(f, "{s}"),
            Statement::DropExternalConnection(s) => write!(f, "{s}"),
            Statement::CreateChangefeed(s) => write!(f, "{s}"),
            Statement::AlterChangefeed(s) => write!(f, "{s}"),
            Statement::ControlJobs(s) => write!(f, "{s}"),
            Statement::CreateDatabase(s) => write!(f, "{s}"),
            Statement::AlterDatabase(s) => write!(f, "{s}"),
            Statement::AlterTableLocality(s) => write!(f, "{s}"),
            Statement::ConfigureZone(s) => write!(f, "{s}"),
            Statement::SplitAt(s) => write!(f, "{s}"),
            Statement::SetClusterSetting(s) => write!(f, "{s}"),
            Statement::Show(s) => write!(f, "{s}"),
            Statement::Role(s) => write!(f, "{s}"),
        }
    }
}

/// Parses one statement from the cursor; the caller checks that nothing follows.
///
/// CockroachDB statements are recognised by their leading keywords and parsed by the module of
/// their area; everything else goes to [`parse_standard`].
pub(crate) fn parse_statement(c: &mut Cursor) -> Result<Statement> {
    let Some(first) = c.peek() else {
        return Err(c.error());
    };
    let word = match &first.token.token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
        Token::LParen => return parse_query_statement(c),
        _ => return parse_standard(c),
    };
    if is_role_statement(c) {
        return Ok(Statement::Role(Box::new(parse_role_statement(c)?)));
    }
    match word.as_str() {
        "SELECT" | "WITH" | "VALUES" => parse_query_statement(c),
        "INSERT" | "UPSERT" => Ok(Statement::Insert(Box::new(parse_insert(c)?))),
        "EXPLAIN" => parse_explain(c),
        "BACKUP" => Ok(Statement::Backup(Box::new(parse_backup(c)?))),
        "RESTORE" => Ok(Statement::Restore(Box::new(parse_restore(c)?))),
        "SHOW" => Ok(Statement::Show(Box::new(parse_show(c)?))),
        "PAUSE" | "RESUME" | "CANCEL" => {
            Ok(Statement::ControlJobs(Box::new(parse_control_jobs(c)?)))
        }
        "EXPERIMENTAL" if c.peek_kws(&["EXPERIMENTAL", "CHANGEFEED"]) => Ok(
            Statement::CreateChangefeed(Box::new(parse_create_changefeed(c)?)),
        ),
        "CREATE" => parse_create(c),
        "ALTER" => parse_alter(c),
        "DROP" if c.peek_kws(&["DROP", "EXTERNAL", "CONNECTION"]) => Ok(
            Statement::DropExternalConnection(Box::new(parse_drop_external(c)?)),
        ),
        "SET" | "RESET" if c.peek_kws(&[word.as_str(), "CLUSTER", "SETTING"]) => Ok(
            Statement::SetClusterSetting(Box::new(parse_set_cluster_setting(c)?)),
        ),
        _ => parse_standard(c),
    }
}

/// `CREATE ...`: ours when CockroachDB-specific, else standard.
fn parse_create(c: &mut Cursor) -> Result<Statement> {
    let next = |n: usize, kw: &str| c.peek_nth(n).is_some_and(|t| Cursor::is_kw(t, kw));
    if next(1, "CHANGEFEED") {
        return Ok(Statement::CreateChangefeed(Box::new(
            parse_create_changefeed(c)?,
        )));
    }
    if next(1, "EXTERNAL") && next(2, "CONNECTION") {
        return Ok(Statement::CreateExternalConnection(Box::new(
            parse_create_external(c)?,
        )));
    }
    if next(1, "DATABASE") {
        return Ok(Statement::CreateDatabase(Box::new(parse_create_database(
            c,
        )?)));
    }
    if let Some(schedule) = c.peek_nth(1).filter(|t| Cursor::is_kw(t, "SCHEDULE")) {
        return Err(c.unimplemented_at(schedule, "CREATE SCHEDULE"));
    }
    let table_at = if ["TEMP", "TEMPORARY", "UNLOGGED"]
        .iter()
        .any(|kw| next(1, kw))
    {
        2
    } else {
        1
    };
    if next(table_at, "TABLE") {
        return Ok(Statement::CreateTable(Box::new(parse_create_table(c)?)));
    }
    let mut index_at = 1;
    for kw in ["UNIQUE", "INVERTED"] {
        index_at += usize::from(next(index_at, kw));
    }
    if next(index_at, "INDEX") {
        return parse_create_index(c);
    }
    parse_standard(c)
}

/// `ALTER ...`: ours when CockroachDB-specific, else standard.
fn parse_alter(c: &mut Cursor) -> Result<Statement> {
    let next = |kw: &str| c.peek_nth(1).is_some_and(|t| Cursor::is_kw(t, kw));
    if next("CHANGEFEED") {
        return Ok(Statement::AlterChangefeed(Box::new(
            parse_alter_changefeed(c)?,
        )));
    }
    if next("DATABASE") {
        return parse_alter_database(c);
    }
    if next("RANGE") {
        return Ok(Statement::ConfigureZone(Box::new(parse_alter_range(c)?)));
    }
    if let Some(partition) = c.peek_nth(1).filter(|t| Cursor::is_kw(t, "PARTITION")) {
        return Err(c.unimplemented_at(partition, "ALTER PARTITION"));
    }
    if next("TABLE") {
        return match parse_alter_table(c)? {
            Some(stmt) => Ok(stmt),
            None => parse_standard(c),
        };
    }
    if next("INDEX") {
        return match parse_alter_index(c)? {
            Some(stmt) => Ok(stmt),
            None => parse_standard(c),
        };
    }
    parse_standard(c)
}

/// A query statement, which must span the whole statement.
fn parse_query_statement(c: &mut Cursor) -> Result<Statement> {
    let query = parse_query(c)?;
    c.expect_end()?;
    Ok(Statement::Query(Box::new(query)))
}

/// `EXPLAIN [ANALYZE | ANALYSE] [(option, ...)] <statement>`.
fn parse_explain(c: &mut Cursor) -> Result<Statement> {
    c.expect_kw("EXPLAIN")?;
    let analyze = c.eat_kw("ANALYZE") || c.eat_kw("ANALYSE");
    let mut options = Vec::new();
    if c.eat_token(&Token::LParen) {
        options = c.name_list()?;
        c.expect_token(&Token::RParen)?;
    }
    let mut inner = c.nested(c.index()..c.end())?;
    let statement = parse_statement(&mut inner)?;
    inner.expect_end()?;
    c.set_index(c.end());
    Ok(Statement::Explain(Box::new(Explain {
        analyze,
        options,
        statement,
    })))
}

/// Hands the whole statement to sqlparser.
pub(crate) fn parse_standard(c: &mut Cursor) -> Result<Statement> {
    let transaction = ["BEGIN", "START", "SET"].iter().any(|kw| c.peek_kw(kw));
    if let Err(e) = reject_as_of(c) {
        if !transaction {
            return Err(e);
        }
        let at = e.position.unwrap_or_else(|| c.offset());
        return Err(ParseError::unimplemented(
            c.sql,
            at,
            "AS OF SYSTEM TIME on a transaction",
        ));
    }
    let stmt = c.sqlparser(|p| p.parse_statement())?;
    c.expect_end()?;
    Ok(match stmt {
        sqlparser::ast::Statement::Query(query) => Statement::Query(Box::new(QueryStatement {
            query,
            as_of: None,
            sources: Vec::new(),
        })),
        sqlparser::ast::Statement::Insert(insert) => Statement::Insert(Box::new(InsertStatement {
            insert,
            upsert: false,
        })),
        stmt => Statement::Standard(Box::new(stmt)),
    })
}
