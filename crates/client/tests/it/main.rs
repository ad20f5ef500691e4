//! The shell and the movr workload against a real PostgreSQL 15 ([`PgServer`]), started by
//! each test. One binary, one module per topic.

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

mod fixture;
mod shell;
mod workload;

use sextant_client::testing::PgServer;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Output captured from a shell or workload.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fresh PostgreSQL, or `None` when it is missing and skipping is allowed.
pub fn postgres() -> Option<PgServer> {
    PgServer::start()
}
