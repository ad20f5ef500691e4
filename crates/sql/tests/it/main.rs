#![recursion_limit = "512"]
//! sql's integration tests: one binary. An in-process cluster ([`cluster::TestCluster`]) with
//! a [`sextant_sql::SqlServer`] per node; sqllogictest files run over `Session`.

mod cluster;
mod concurrency;
mod fuzz;
mod logic;
mod placement;
mod psql;
mod smoke;
