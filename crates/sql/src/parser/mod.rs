//! The SQL parser: CockroachDB v23.1's dialect, as a front parser over sqlparser.
//!
//! sqlparser (PostgreSQL dialect) knows standard SQL well and CockroachDB not at all: it has no
//! BACKUP, CHANGEFEED, jobs, regions or zone configurations, reads an inline `INDEX (a)` in
//! `CREATE TABLE` as a column called `index`, and stops at `AS OF SYSTEM TIME`. So Sextant
//! reads every statement's leading keywords itself, parses the CockroachDB statements with its
//! own small recursive-descent code, and hands standard SQL, or the standard parts of a
//! CockroachDB statement (an expression, a query), to sqlparser over the *same tokens*.
//!
//! # The life of a statement
//!
//! 1. [`parse`] calls `lexer::tokenize` once for the whole input: sqlparser's tokenizer, plus
//!    a byte range for every token (sqlparser only knows lines and columns). String literals,
//!    dollar quotes and comments are single tokens, so `lexer::statement_ranges` can split
//!    the input on `;` tokens without being fooled by a `;` inside a string.
//! 2. For each statement a `cursor::Cursor` walks its tokens, and
//!    `statement::parse_statement` dispatches on the first keywords: `BACKUP` goes to
//!    `backup::parse_backup`, `CREATE CHANGEFEED` to `changefeed::parse_create_changefeed`,
//!    `SHOW ...` to `show::parse_show`, `ALTER TABLE t SET LOCALITY` to
//!    `table::parse_alter_table`, and so on. Statements with no CockroachDB part go to
//!    `statement::parse_standard`, which is sqlparser's `parse_statement`.
//! 3. When a CockroachDB statement contains standard SQL (`AS OF SYSTEM TIME <expr>`,
//!    `SHOW JOBS <select>`, `CREATE CHANGEFEED ... AS SELECT`, a job id), the cursor calls
//!    `Cursor::sqlparser` with one sqlparser parse function. That builds a sqlparser `Parser`
//!    over the remaining tokens, runs it, and moves the cursor past what sqlparser consumed.
//! 4. When standard SQL contains CockroachDB parts, the front parser edits the token stream
//!    before sqlparser sees it (`cursor::Edited`): `query::parse_query` cuts out a top-level
//!    `AS OF SYSTEM TIME` and replaces each `[SHOW ...]` data source by a table named `"[n]"`;
//!    `query::parse_insert` reads `UPSERT` as `INSERT`; `table::parse_create_table` cuts out
//!    inline `INDEX`/`FAMILY` definitions and a `LOCALITY` clause; `STORING` becomes `INCLUDE`.
//!    What was cut out is parsed by the front parser and kept next to sqlparser's AST in a
//!    wrapper ([`QueryStatement`], [`InsertStatement`], [`CreateTable`]).
//! 5. Edited tokens keep their original spans, so a sqlparser error is mapped back to the
//!    token it names, and every [`ParseError`] carries the byte position of the offending token
//!    and a PostgreSQL-style message: `at or near "x": syntax error` (42601), or
//!    `unimplemented: ...` (0A000) for CockroachDB syntax Sextant recognises but does not
//!    support.
//!
//! # Output
//!
//! [`Statement`] is `Standard(sqlparser::ast::Statement)` for plain standard SQL, and one of
//! our own variants for everything CockroachDB-specific, plus queries, inserts, `CREATE TABLE`,
//! `CREATE DATABASE`, `EXPLAIN` and `SHOW`, which always come out as our variants so that each
//! kind of statement has exactly one representation. Literal values that the executor binds or
//! interprets later (URIs, option values, labels) are [`OptionValue`]s, so `$1` placeholders
//! survive; expressions are sqlparser `Expr`s.
//!
//! Every AST type implements `Display`, printing a normalised statement that parses back to
//! the same AST. It follows CockroachDB's formatting where that is visible to users, notably
//! job descriptions: `BACKUP DATABASE movr INTO 's3://b' WITH OPTIONS (revision_history = true,
//! detached, execution locality = 'region=us-west1')`. Secrets are printed as given:
//! [`Statement::redacted`] (and `Backup`'s, `Restore`'s, `CreateChangefeed`'s...) gives the
//! statement with every URI and secret option redacted, which is what a job description, SHOW
//! JOBS or a log line prints, and [`redact_sql`] does the same for a statement's text.
//!
//! Names are normalised like CockroachDB's: unquoted identifiers fold to lower case, and a name
//! is printed bare when it reads back the same, else double-quoted (`"us-east1"`).

#![deny(missing_docs)]

mod backup;
mod changefeed;
mod common;
mod cursor;
mod depth;
mod error;
mod external;
mod jobs;
mod lexer;
mod query;
mod redact;
mod region;
mod restore;
mod role;
mod settings;
mod show;
mod statement;
mod table;
mod zone;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod golden;

pub use backup::{
    Backup, BackupDestination, BackupOptions, BackupSubdir, BackupTargets, ShowBackup,
    ShowBackupDetails, ShowBackupSource, TablePattern,
};
pub use changefeed::{
    AlterChangefeed, AlterChangefeedCommand, ChangefeedTarget, ChangefeedTargets, CreateChangefeed,
};
pub use common::{AsOfSystemTime, IndexRef, KvOption, Name, OptionValue, QualifiedName, UriList};
pub use depth::MAX_DEPTH;
pub use error::ParseError;
pub use external::{CreateExternalConnection, DropExternalConnection};
pub use jobs::{ControlJobs, JobCommand, JobKind, JobSelection, ShowJobs};
pub use lexer::split;
pub use query::{InsertStatement, QueryStatement};
pub use redact::redact_sql;
#[cfg(test)]
pub(crate) use redact::tests as redact_tests;
pub use region::{
    AlterDatabase, AlterDatabaseAction, AlterTableLocality, CreateDatabase, SurvivalGoal,
    TableLocality,
};
pub use restore::{Restore, RestoreOptions, RestoreSource};
pub use role::{RoleAction, RoleOption, RoleStatement};
pub use settings::SetClusterSetting;
pub use show::{CreateKind, RangesFrom, RegionsFrom, Show};
pub use statement::{
    BACKUP_TO_NOTICE, Explain, RESTORE_FROM_NOTICE, SHOW_BACKUP_NOTICE, Statement,
};
pub use table::{ColumnFamily, CreateTable, SplitAt, SplitTarget};
pub use zone::{ConfigureZone, ZoneAction, ZoneKey, ZoneSetting, ZoneTarget, ZoneValue};

use base::errcode::SYNTAX_ERROR;

/// Parses a string of zero or more `;`-separated statements. An empty string (or only
/// comments) gives no statements. The first error stops parsing; its position is a byte
/// offset into `sql`.
pub fn parse(sql: &str) -> Result<Vec<Statement>, ParseError> {
    let toks = lexer::tokenize(sql)?;
    lexer::statement_ranges(&toks)
        .into_iter()
        .map(|range| {
            let mut c = cursor::Cursor::new(sql, &toks, range);
            let statement = statement::parse_statement(&mut c)?;
            c.expect_end()?;
            Ok(statement)
        })
        .collect()
}

/// Parses exactly one statement (a trailing `;` is allowed), as the extended protocol's Parse
/// message needs.
pub fn parse_one(sql: &str) -> Result<Statement, ParseError> {
    let ranges = split(sql)?;
    let mut statements = parse(sql)?;
    match statements.len() {
        1 => Ok(statements.remove(0)),
        0 => Err(ParseError::syntax(
            sql,
            sql.len(),
            "EOF",
            Some("expected a statement"),
        )),
        _ => {
            let at = ranges.get(1).map_or(0, |r| r.start);
            let message = "cannot insert multiple commands into a prepared statement".to_string();
            Err(ParseError::at(sql, at, SYNTAX_ERROR, message))
        }
    }
}
