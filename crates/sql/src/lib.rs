//! SQL for Sextant: the parser for CockroachDB's dialect (and, later, the catalog, planner,
//! executor and PostgreSQL wire protocol).
//!
//! - [`parser`]: SQL text to [`parser::Statement`]s, CockroachDB statements included.

pub mod parser;

pub use parser::{ParseError, Statement, parse, parse_one};
