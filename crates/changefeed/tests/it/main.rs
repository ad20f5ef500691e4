// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "256"]
//! Integration tests of the changefeed crate against real servers: a Tansu Kafka broker, an
//! HTTP(S) server in the test process, SeaweedFS for S3.

mod alter;
mod certs;
mod cluster;
mod conformance;
mod faults;
mod feeds;
mod fixtures;
mod kafka_security;
mod rbr;
mod sinks;
mod status;
mod tls;
