//! Integration tests of BACKUP and RESTORE on in-process clusters.

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]
#![recursion_limit = "256"]

mod backup_restore;
mod cluster;
mod cluster_backup;
mod fault;
mod moto;
mod movr;
mod placement;
