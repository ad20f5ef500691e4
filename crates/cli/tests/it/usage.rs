//! Usage errors (exit 2), errors (exit 1) and the demo.

use crate::{free_port, run, sextant, texts};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn bad_flags_exit_2() {
    for args in [
        vec!["start", "--no-such-flag"],
        vec!["start", "--join=127.0.0.1:1", "--locality=region"],
        vec!["start", "--join=127.0.0.1:1", "--max-offset=10"],
        vec!["start", "--join=127.0.0.1:1", "--store=type=mem,size=1GiB"],
        vec!["start", "--store=type=mem"],
        vec!["node", "status", "--format=xml"],
        vec!["demo", "--demo-locality=region"],
        vec!["frobnicate"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", texts(&out));
    }
    let out = run(&["start", "--join=127.0.0.1:1", "--locality=region"]);
    assert!(
        texts(&out)
            .1
            .contains(r#"tier must be in the form "key=value" not "region""#),
        "{:?}",
        texts(&out)
    );
}

#[test]
fn unreachable_hosts_and_joins_fail_with_exit_1() {
    let closed = format!("127.0.0.1:{}", free_port());
    let out = run(&["init", "--insecure", "--host", &closed]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        texts(&out)
            .1
            .contains(&format!("ERROR: cannot reach node at {closed}")),
        "{:?}",
        texts(&out)
    );

    let started = Instant::now();
    let out = run(&[
        "start",
        "--insecure",
        "--store=type=mem",
        &format!("--listen-addr=127.0.0.1:{}", free_port()),
        &format!("--http-addr=127.0.0.1:{}", free_port()),
        // Not the default SQL port: another server on the machine may hold it.
        &format!("--sql-addr=127.0.0.1:{}", free_port()),
        &format!("--join={closed}"),
        "--join-timeout=1s",
        "--test-timings",
    ]);
    assert_eq!(out.status.code(), Some(1), "{:?}", texts(&out));
    assert!(
        texts(&out)
            .1
            .contains(&format!("ERROR: could not join the cluster via {closed}")),
        "{:?}",
        texts(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn demo_prints_the_layout_and_stops_on_sigint() {
    let mut child = sextant()
        .args([
            "demo",
            "--nodes=3",
            "--http-port=0",
            "--sql-port=0",
            "--test-timings",
        ])
        .arg("--no-example-database")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        let done = line.contains("Press Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    let text = seen.join("\n");
    assert!(text.contains("Press Ctrl-C to stop"), "{text}");
    assert!(text.contains("region=us-east1,az=d"), "{text}");
    assert!(text.contains("(3 rows)"), "{text}");
    assert!(text.contains("{1,2,3}"), "{text}");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(interrupted.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(Instant::now() < deadline, "demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(lines);
}
