//! The `sextant` binary, driven as a user would: separate processes on loopback ports.
//! One binary, one module per topic; shared helpers live here (polling comes from kv's test
//! kit, [`kv::testing`]).

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

mod cert;
mod cluster;
mod http;
mod secure;
mod sql;
mod usage;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};

pub use http::{http_get, http_status};
pub use kv::testing::eventually_blocking;

/// The binary under test.
pub fn sextant() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sextant"));
    cmd.env_remove("RUST_LOG");
    cmd
}

/// Runs `sextant args...` to completion.
pub fn run(args: &[&str]) -> Output {
    sextant().args(args).output().expect("run sextant")
}

/// A loopback port free right now, below the kernel's ephemeral range (32768 and up), so that
/// listeners bound to port 0 by tests running at the same time never take it before the
/// process it is meant for binds it. Each test process draws from its own block.
pub fn free_port() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let block = 20_000 + (std::process::id() % 700) as u16 * 16;
    loop {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(offset < 16 * 40, "ran out of test ports");
        // Past its own block a process moves to the blocks above, wrapping below 32000.
        let port = 20_000 + (block - 20_000 + offset) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A `sextant start` process, killed (SIGKILL) when dropped. Its stdout and stderr go to
/// files next to its store, for post-mortems.
pub struct NodeProc {
    child: Child,
    /// `--listen-addr`.
    pub rpc: String,
    /// `--http-addr`.
    pub http: String,
    args: Vec<String>,
    log_dir: PathBuf,
}

impl NodeProc {
    /// Starts `sextant start` with `args`, logging to `log_dir`.
    pub fn spawn(args: Vec<String>, rpc: String, http: String, log_dir: &Path) -> NodeProc {
        let child = spawn_logged(&args, log_dir);
        NodeProc {
            child,
            rpc,
            http,
            args,
            log_dir: log_dir.to_path_buf(),
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same command again.
    pub fn restart(&mut self) {
        self.child = spawn_logged(&self.args, &self.log_dir);
    }

    /// The node's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log_dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn_logged(args: &[String], log_dir: &Path) -> Child {
    std::fs::create_dir_all(log_dir).expect("log dir");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join("stdout"))
        .expect("stdout file");
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join("stderr"))
        .expect("stderr file");
    sextant()
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn sextant")
}

/// Text of a process's stdout and stderr.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
