//! Real runs against `sextant start` processes: a short run of every workload without
//! faults, a register run under kill -9, and the clear refusal of a nemesis that needs
//! testing endpoints the binary does not have. Each skips, saying why, without a binary.
//!
//! A run must reach a verdict: exit 0 (valid) or 1 (invalid) — or 2 (unknown) under
//! faults — never 3 (the run failed), with its histories, node logs and verdict files
//! written. An invalid verdict (an anomaly: a bug in Sextant) fails the test;
//! `SEXTANT_VERIFY_REQUIRE_VALID=0` only prints it, for work on the runner itself.

use crate::{sextant_or_skip, texts, verify};
use std::path::Path;
use std::process::{Command, Output};

/// Runs `sextant-verify` with `args` against `binary`, writing to `out`.
fn run(binary: &Path, out: &Path, args: &[&str]) -> Output {
    verify()
        .arg("--binary")
        .arg(binary)
        .arg("--out")
        .arg(out)
        .args(["--seed", "7", "--nodes", "3", "--startup-timeout", "60s"])
        .args(args)
        .output()
        .expect("run sextant-verify")
}

fn report(out: &Output, dir: &Path) -> String {
    let (stdout, stderr) = texts(out);
    let nemesis = std::fs::read_to_string(dir.join("nemesis.log")).unwrap_or_default();
    format!(
        "status {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- nemesis.log\n{nemesis}",
        out.status
    )
}

fn require_valid() -> bool {
    std::env::var_os("SEXTANT_VERIFY_REQUIRE_VALID").is_none_or(|v| v != "0")
}

/// Asserts a decided verdict; an invalid one fails unless SEXTANT_VERIFY_REQUIRE_VALID=0. With
/// `unknown_ok`, a verdict left unknown (a search budget ran out on crashed operations) is
/// accepted too.
fn assert_decided(out: &Output, text: &str, unknown_ok: bool) {
    match out.status.code() {
        Some(0) => {}
        Some(1) if !require_valid() => {
            eprintln!(
                "NOTE: sextant-verify found anomalies (SEXTANT_VERIFY_REQUIRE_VALID=0):\n{text}"
            );
        }
        Some(2) if unknown_ok => {
            eprintln!("NOTE: sextant-verify could not decide:\n{text}");
        }
        Some(1) => panic!("sextant-verify found anomalies: {text}"),
        _ => panic!("no decided verdict: {text}"),
    }
}

#[test]
fn every_workload_without_faults_reaches_a_verdict() {
    let Some(binary) = sextant_or_skip("every_workload_without_faults_reaches_a_verdict") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "--workload",
        "all",
        "--nemesis",
        "none",
        "--time",
        "8s",
        "--concurrency",
        "2",
    ];
    let out = run(&binary, dir.path(), &args);
    let text = report(&out, dir.path());
    assert_decided(&out, &text, false);
    for w in ["register", "bank", "set", "append", "monotonic"] {
        assert!(text.contains(&format!("\n{w}: ")), "{w}: {text}");
        let history = std::fs::read_to_string(dir.path().join(format!("history-{w}.jsonl")))
            .expect("history file");
        assert!(
            history.lines().count() > 10,
            "{w} recorded almost nothing: {text}"
        );
        assert!(
            history.contains(r#""type":"ok""#),
            "{w}: no operation succeeded: {text}"
        );
    }
    for file in [
        "nodes/n1/stderr",
        "nodes/n3/stdout",
        "verdict.json",
        "verdict.txt",
        "config.json",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} missing: {text}");
    }
    let verdicts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("verdict.json")).expect("verdict.json"),
    )
    .expect("verdict.json is JSON");
    assert_eq!(verdicts.as_array().map(Vec::len), Some(5), "{verdicts}");
}

/// The gate's short pass: every workload at once under the mixed nemesis (lease shedding,
/// partitions, kill -9, pauses, clock offsets), about 40 s.
#[test]
fn every_workload_under_mixed_faults_reaches_a_verdict() {
    let Some(binary) = sextant_or_skip("every_workload_under_mixed_faults_reaches_a_verdict")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "--workload",
        "all",
        "--nemesis",
        "mixed",
        "--time",
        "30s",
        "--concurrency",
        "2",
        "--fault-duration",
        "3s..5s",
        "--quiet",
        "2s",
        "--op-timeout",
        "4s",
    ];
    let out = run(&binary, dir.path(), &args);
    let text = report(&out, dir.path());
    assert_decided(&out, &text, true);
    for w in ["register", "bank", "set", "append", "monotonic"] {
        assert!(text.contains(&format!("\n{w}: ")), "{w}: {text}");
    }
}

#[test]
fn register_under_kill_9_reaches_a_verdict() {
    let Some(binary) = sextant_or_skip("register_under_kill_9_reaches_a_verdict") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let args = [
        "--workload",
        "register",
        "--nemesis",
        "kill",
        "--time",
        "16s",
        "--concurrency",
        "4",
        "--fault-duration",
        "3s..4s",
        "--quiet",
        "3s",
        "--op-timeout",
        "4s",
    ];
    let out = run(&binary, dir.path(), &args);
    let text = report(&out, dir.path());
    assert_decided(&out, &text, true);
    assert!(text.contains("register: "), "{text}");
    assert!(text.contains("] kill -9 n"), "no node was killed: {text}");
    assert!(
        text.contains("] restart n"),
        "no node was restarted: {text}"
    );
    let history = std::fs::read_to_string(dir.path().join("history.jsonl")).expect("history.jsonl");
    assert!(
        history.contains(r#""type":"ok""#),
        "no operation succeeded: {text}"
    );
}

#[test]
fn a_nemesis_without_testing_endpoints_says_so() {
    let Some(binary) = sextant_or_skip("a_nemesis_without_testing_endpoints_says_so") else {
        return;
    };
    let has_endpoints = Command::new(&binary)
        .args(["start", "--testing-endpoints", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_endpoints {
        eprintln!("SKIPPED a_nemesis_without_testing_endpoints_says_so: this sextant has them");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(
        &binary,
        dir.path(),
        &["--nemesis", "partition", "--time", "5s"],
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("does not serve testing endpoints"),
        "{stderr}"
    );
}
