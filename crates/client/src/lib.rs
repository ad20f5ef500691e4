//! Sextant's client side: the SQL shell (`sextant sql`) and the movr workload (`sextant
//! workload init|run movr`), both speaking the PostgreSQL wire protocol through
//! `tokio-postgres`, so they work against any Sextant node, CockroachDB or PostgreSQL and
//! know nothing of the server's crates.
//!
//! # The shell
//!
//! [`conn::config`] turns `--url`/`--host`/`-d` into a connection configuration (default
//! [`conn::DEFAULT_URL`]). A [`shell::Shell`] holds one connection. Input, whether typed at
//! the prompt, given with `-e`/`-f` or piped in, goes through [`split::Splitter`], which cuts
//! it into statements at `;` while respecting strings, quoted identifiers, dollar quotes and
//! comments; a `\` line at the start of a statement is a backslash command ([`meta`]), sent
//! as the equivalent `SHOW` statement. The life of a statement:
//!
//! 1. [`shell::Shell::run_statement`] starts a [`progress::JobProgress`] poller when the
//!    statement is a blocking BACKUP or RESTORE and stderr is a terminal;
//! 2. [`session::execute`] sends it with the simple query protocol and collects
//!    [`session::Outcome`]s: result sets of text values, or command tags;
//! 3. [`format::render`] prints each result set as a psql-style table, CSV, TSV or records;
//! 4. an error comes back as [`conn::ClientError::Sql`], whose text is the server's message
//!    and `SQLSTATE: <code>`: the interactive shell prints it after `ERROR: ` and carries on,
//!    the non-interactive one stops and the binary exits with status 1.
//!
//! # The workload
//!
//! [`workload::movr`] is CockroachDB's movr ride-sharing schema. `init` creates the database
//! (multi-region, with REGIONAL BY ROW tables, when the cluster has two regions or more) and
//! loads rows made by a seeded generator ([`workload::movr::data`]), so the same seed gives
//! the same rows, in multi-row INSERT batches. `run` drives a mix of reads and writes from
//! several connections for a fixed time, retries transactions that fail with SQLSTATE 40001,
//! prints a progress line every second and a summary with per-operation latency percentiles
//! ([`workload::stats`]).
//!
//! # Testing
//!
//! With the `testing` feature, [`testing::PgServer`] starts a throwaway PostgreSQL 15 on a
//! free loopback port: the shell and the workload are tested against it, and benchmarks use
//! it as the reference server.

pub mod conn;
pub mod format;
pub mod meta;
pub mod progress;
pub mod session;
pub mod shell;
pub mod split;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;
pub mod workload;

pub use conn::ClientError;
pub use format::{Format, ResultSet};
pub use shell::Shell;
