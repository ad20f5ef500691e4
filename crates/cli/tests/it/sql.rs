//! `sextant demo -e`, `sextant sql` and `sextant workload` against in-process demo clusters
//! started by the tests.

use crate::{eventually_blocking, sextant, texts};
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

/// Small movr sizes, so loading takes seconds in a debug build.
const SMALL_MOVR: &str = "--movr-sizes=18,6,18,18,9";

/// A `sextant demo` serving until dropped (SIGKILL), and the URL it printed.
struct Demo {
    child: Child,
    url: String,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_demo(extra: &[&str]) -> Demo {
    let mut child = sextant()
        .args(["demo", "--sql-port=0", "--http-port=0", "--test-timings"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn demo");
    let stdout = child.stdout.take().expect("stdout");
    let mut url = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(u) = line.strip_prefix("Connection string: ") {
            url = Some(u.trim().to_string());
        }
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    let url = url.expect("the demo printed its connection string");
    Demo { child, url }
}

#[test]
fn demo_loads_movr_and_runs_statements() {
    let out = sextant()
        .args([
            "demo",
            "--nodes=3",
            "--sql-port=0",
            "--http-port=0",
            "--test-timings",
        ])
        .args([SMALL_MOVR, "--format=csv"])
        .args(["-e", "SELECT count(*) FROM movr.users"])
        .args(["-e", "SELECT count(*) AS rides FROM rides"])
        .stdin(Stdio::null())
        .output()
        .expect("run demo");
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout, "count\n18\nrides\n18\n", "{stderr}");
}

#[test]
fn sql_and_workload_against_a_running_cluster() {
    let demo = start_demo(&["--nodes=3", "--no-example-database"]);
    assert!(
        demo.url.ends_with("/defaultdb?sslmode=disable"),
        "{}",
        demo.url
    );

    let out = sextant()
        .args(["workload", "init", "movr", &demo.url])
        .args(["--num-users=18", "--num-vehicles=6", "--num-rides=18"])
        .args(["--num-histories=18", "--num-promo-codes=9"])
        .output()
        .expect("workload init");
    assert!(out.status.success(), "{:?}", texts(&out));
    assert!(
        texts(&out).0.contains("loaded 18 rows into users"),
        "{:?}",
        texts(&out)
    );

    let out = sextant()
        .args([
            "workload",
            "run",
            "movr",
            &demo.url,
            "--duration=3s",
            "--concurrency=2",
        ])
        .output()
        .expect("workload run");
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("ops/sec(cum)"), "{stdout}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains("total"), "{stdout}");
    assert!(stdout.contains("read_vehicles"), "{stdout}");

    let out = sextant()
        .args(["sql", "--url", &demo.url, "-d", "movr", "--format=csv"])
        .args([
            "-e",
            "SELECT city, count(*) FROM users GROUP BY city ORDER BY city LIMIT 2",
        ])
        .output()
        .expect("sql");
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.starts_with("city,count\namsterdam,"), "{stdout}");

    // Statements from stdin; the first error stops them and the exit status is 1.
    let mut child = sextant()
        .args(["sql", "--url", &demo.url])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"SELECT 1 AS one;\nSELECT * FROM nope;\nSELECT 2;\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(stdout, " one\n-----\n   1\n(1 row)\n");
    assert!(
        stderr.contains("ERROR: relation \"nope\" does not exist\nSQLSTATE: 42P01"),
        "{stderr}"
    );
}

/// A cluster of three regions makes movr multi-region.
#[test]
fn workload_init_is_multi_region_on_three_regions() {
    let demo = start_demo(&[
        "--demo-locality=region=us-east1,az=b:region=us-west1,az=a:region=europe-west1,az=b",
        "--no-example-database",
    ]);
    let out = sextant()
        .args(["workload", "init", "movr", &demo.url])
        .args(["--num-users=9", "--num-vehicles=0", "--num-rides=0"])
        .args(["--num-histories=0", "--num-promo-codes=0"])
        .output()
        .expect("workload init");
    assert!(out.status.success(), "{:?}", texts(&out));
    let mut regions = String::new();
    eventually_blocking(Duration::from_secs(5), "SHOW REGIONS FROM DATABASE", || {
        let out = sextant()
            .args(["sql", "--url", &demo.url, "--format=csv"])
            .args([
                "-e",
                "SELECT region FROM [SHOW REGIONS FROM DATABASE movr] ORDER BY 1",
            ])
            .output()
            .expect("sql");
        regions = texts(&out).0;
        out.status.success()
    });
    assert_eq!(regions, "region\neurope-west1\nus-east1\nus-west1\n");
    let out = sextant()
        .args(["sql", "--url", &demo.url, "-d", "movr", "--format=csv"])
        .args([
            "-e",
            "SELECT crdb_region, count(*) FROM users GROUP BY 1 ORDER BY 1",
        ])
        .output()
        .expect("sql");
    assert_eq!(
        texts(&out).0,
        "crdb_region,count\neurope-west1,3\nus-east1,3\nus-west1,3\n",
        "{:?}",
        texts(&out)
    );
}
