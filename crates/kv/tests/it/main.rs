// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "256"]
//! kv's integration tests: one binary, one module per topic, on the test kit
//! ([`sextant_kv::testing`]): in-process clusters, bare rpc endpoints, polling helpers.

mod cluster;
mod quiesce;
mod raft;
mod split;
mod sweep;
mod toy;

pub use sextant_kv::testing::{RpcNode, eventually, init_tracing};
