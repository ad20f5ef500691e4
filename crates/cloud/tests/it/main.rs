//! Integration tests of external storage against real servers: the conformance suite on
//! every implementation that runs here (nodelocal, S3 on SeaweedFS, S3 on moto, Azure on
//! Azurite, HTTP), then bad input (wrong credentials, missing buckets, closed ports, malformed
//! URIs) and external connections. The servers are started by `cloud::testing` (run
//! `scripts/test-deps.sh` first, or set `SEXTANT_SKIP_EXTERNAL=1` to skip what is not
//! installed).

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

// The package is sextant-cloud; the project calls the crate `cloud`.
extern crate sextant_cloud as cloud;

mod bad_input;
mod conformance;
mod external;
mod http_server;

use base::NodeId;
use cloud::{ExternalStorage, StorageContext};
use std::sync::Arc;

/// A context for node 1 with its external IO directory in `dir`.
pub fn ctx(dir: &std::path::Path) -> StorageContext {
    StorageContext::new(NodeId(1), dir)
}

/// Opens `uri` or fails the test with the (redacted) error.
pub fn open(uri: &str, ctx: &StorageContext) -> Arc<dyn ExternalStorage> {
    match cloud::open(uri, ctx) {
        Ok(s) => s,
        Err(e) => panic!("open {}: {e}", cloud::redact(uri)),
    }
}
