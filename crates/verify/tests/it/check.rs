//! `sextant-verify --check HISTORY`: recorded histories judged offline, with the exit status
//! and the offending operations printed.

use crate::{texts, verify};
use sextant_verify::history::{Builder, Call};

fn write(dir: &tempfile::TempDir, b: &Builder) -> std::path::PathBuf {
    let path = dir.path().join("history.jsonl");
    let file = std::fs::File::create(&path).expect("create");
    b.build()
        .expect("history")
        .write_jsonl(file)
        .expect("write");
    path
}

#[test]
fn a_stale_register_read_exits_1_and_names_the_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = Builder::new();
    b.invoke(1, Call::Write { key: 4, value: 1 }).ok(1);
    b.invoke(1, Call::Write { key: 4, value: 2 }).ok(1);
    b.complete(
        2,
        Call::Read {
            key: 4,
            value: None,
        },
        Call::Read {
            key: 4,
            value: Some(1),
        },
    );
    let path = write(&dir, &b);
    let out = verify()
        .args(["--workload", "register", "--check"])
        .arg(&path)
        .output()
        .expect("run");
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("register: INVALID"), "{stdout}");
    assert!(stdout.contains("non-linearizable (key 4)"), "{stdout}");
    assert!(stdout.contains("#4 p2 ok read key 4 -> 1"), "{stdout}");
}

#[test]
fn a_valid_set_history_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut b = Builder::new();
    b.invoke(1, Call::Add { element: 1 }).ok(1);
    b.invoke(1, Call::Add { element: 2 }).info(1);
    b.complete(
        3,
        Call::ReadSet {
            elements: None,
            final_read: true,
        },
        Call::ReadSet {
            elements: Some(vec![1]),
            final_read: true,
        },
    );
    let path = write(&dir, &b);
    let out = verify()
        .args(["--workload", "set", "--check"])
        .arg(&path)
        .output()
        .expect("run");
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("set: valid"), "{stdout}");
}

#[test]
fn a_malformed_history_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("history.jsonl");
    std::fs::write(&path, "{\"index\": 0}\n").expect("write");
    let out = verify()
        .args(["--workload", "bank", "--check"])
        .arg(&path)
        .output()
        .expect("run");
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
}
