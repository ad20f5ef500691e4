// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "512"]
//! sql's integration tests: one binary. An in-process cluster ([`cluster::TestCluster`]) with
//! a [`sextant_sql::SqlServer`] and a PostgreSQL wire listener per node; sqllogictest files and
//! the wire tests run over tokio-postgres and psql.

mod cluster;
mod concurrency;
mod fuzz;
mod fuzz_wire;
mod logic;
mod one_phase;
mod panic;
mod placement;
mod psql;
mod smoke;
mod split;
mod wire;
