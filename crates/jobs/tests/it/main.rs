// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "256"]
//! jobs' integration tests: one binary, one module per topic, over in-process multi-node
//! clusters with localities (real KV nodes, real RPC on loopback).

mod cluster;
mod flow;
mod lifecycle;
mod placement;
mod testjob;
