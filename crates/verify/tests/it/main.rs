//! The `sextant-verify` binary end to end. One test binary, a module per topic:
//! [`check`] judges recorded histories (no cluster needed); [`run`] drives real `sextant`
//! processes when a binary is available and says why it skips otherwise.

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

mod check;
mod run;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test.
pub fn verify() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sextant-verify"));
    cmd.env_remove("SEXTANT_BIN");
    cmd
}

/// The `sextant` binary to run against: `$SEXTANT_BIN`, else a build in the target
/// directory of this test run or of the workspace (`cargo nextest run --workspace` builds
/// `target/debug/sextant` as the cli crate's binary). Nothing is built here.
pub fn sextant_binary() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("SEXTANT_BIN") {
        // Named explicitly (the gate does): a missing binary is a failure, not a skip.
        let b = PathBuf::from(b);
        assert!(b.is_file(), "SEXTANT_BIN={} is not a file", b.display());
        return Some(b);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut dirs = Vec::new();
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(t));
    }
    // This test binary lives in <target>/<profile>/deps.
    if let Some(target) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent()?.parent()?.parent().map(Path::to_path_buf))
    {
        dirs.push(target);
    }
    dirs.push(workspace.join("target"));
    dirs.iter()
        .flat_map(|d| ["debug", "release"].map(|p| d.join(p).join("sextant")))
        .find(|p| p.is_file())
}

/// The binary, or a printed reason to skip.
pub fn sextant_or_skip(test: &str) -> Option<PathBuf> {
    let b = sextant_binary();
    if b.is_none() {
        eprintln!(
            "SKIPPED {test}: no sextant binary (set SEXTANT_BIN, or build it with \
             `cargo build -p sextant-cli`, which puts it in target/debug/sextant)"
        );
    }
    b
}

/// Stdout and stderr of a finished command.
pub fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
