#![recursion_limit = "256"]
//! Changefeeds: a stream of every committed change to some tables, as JSON messages, into a
//! sink (Kafka, a webhook, cloud storage) or back to the client.
//!
//! - [`options`]: the `WITH` options, checked as CockroachDB v23.1 checks them.
//! - [`encoder`]: JSON messages byte for byte as CockroachDB writes them.

pub mod encoder;
pub mod frontier;
pub mod hook;
pub mod job;
pub mod options;
pub mod query;
pub mod sink;

pub use hook::{register, show_changefeed_jobs};
