#![recursion_limit = "256"]
//! SQL for Sextant: CockroachDB v23.1's dialect over the KV layer.
//!
//! From the bottom up:
//! - [`parser`]: SQL text to [`parser::Statement`]s, CockroachDB statements included.
//! - [`types`]: SQL types and values ([`types::Datum`]), PostgreSQL text format, casts.
//! - [`encoding`]: rows as KV pairs (`/Table/<id>/<index>/<key…>`); [`encoding::decode_row`]
//!   is what BACKUP and CHANGEFEED use to read rows back.
//! - [`catalog`]: descriptors (databases, schemas, tables, enum types) in KV, a per-node cache.
//! - [`kvio`]: reads inside a transaction or at a past timestamp from the nearest replica.
//! - [`exec`]: planner and executor: expressions, SELECT, DML with constraints, DDL, SHOW,
//!   EXPLAIN, virtual tables.
//! - [`multiregion`]: regions from node localities, multi-region databases and table
//!   localities, zone configurations, SHOW RANGES.
//! - [`session`]: the API the wire server calls ([`SqlServer`], [`Session`]), transactions,
//!   and the statement hooks through which `backup` and `changefeed` run their statements.
//! - [`pgwire`]: the PostgreSQL wire protocol over sessions ([`pgwire::serve`]).
//! - [`stack`]: how deep statements are kept from overflowing a thread's stack.
//!
//! # The life of a query
//!
//! `Session::execute("SELECT name FROM users WHERE id = 7")` parses the text
//! ([`parser::parse`]), starts an implicit KV transaction, resolves `users` through the
//! catalog cache, plans the query (`exec::compile::Planner`) — the WHERE clause fixes the
//! whole primary key, so the scan is a point lookup — and runs it (`exec::run::Executor`):
//! one KV Get of `/Table/<users>/1/7`, decoded by [`encoding::decode_row`], projected to
//! `name`. The read-only transaction commits without a KV round trip.

// Client text reaches most of this crate; slicing a `&str` inside a multi-byte character
// panics, so string slices go through `get`, `split_at_checked` and friends.
#![deny(clippy::string_slice)]

pub mod catalog;
pub mod encoding;
pub mod error;
pub mod exec;
pub mod kvio;
pub mod multiregion;
pub mod parser;
pub mod pgwire;
pub mod session;
pub mod stack;
pub mod types;

pub use error::SqlError;
pub use parser::{ParseError, Statement, parse, parse_one};
pub use session::{
    ChangefeedJobsFormatter, Column, HookContext, HookKind, PreparedStatement, RowItems, RowStream,
    Session, SqlServer, StatementHook, StatementResult,
};
pub use types::{Datum, Type};
