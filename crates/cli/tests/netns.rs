//! Regions as Linux network namespaces: the seeds' "bucket reachable from one region only" for
//! real.
//!
//! Each region is a network namespace joined to a bridge in the root namespace (the "WAN",
//! addresses `198.18.<slot>.0/24`, the benchmarking range). A storage server or sink lives in a
//! namespace of its own, linked by a veth pair (`198.19.<slot>.0/30`) to one region's namespace
//! only: from that region it answers; from every other region a connection fails at once with
//! "network is unreachable", because nothing routes there. Sextant nodes are separate
//! `sextant start` processes run with `ip netns exec`, and the test process talks to them over
//! the bridge.
//!
//! Creating namespaces needs root (CAP_NET_ADMIN). Where that is not permitted each test fails
//! with the reason; `scripts/test.sh` probes first and, where the probe fails, leaves this binary
//! out of the run and says so (nextest counts the tests as skipped). Every namespace, bridge and link a test creates is deleted when its [`Topology`]
//! is dropped; a slot lock file keeps tests that run at the same time on separate subnets.

// Tests: a failed `expect` fails the test, with its message; slicing of known test text may
// panic the same way.
#![allow(clippy::expect_used, clippy::string_slice)]

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kv::testing::eventually_blocking;

#[path = "it/http.rs"]
mod http;
use http::http_status;

/// The binary under test.
fn sextant_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sextant")
}

/// Runs `ip args...`; the error names the command and what it printed.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Regions joined by a bridge, and isolated namespaces for servers reachable from one region.
pub struct Topology {
    slot: u8,
    regions: Vec<String>,
    isolated: Vec<String>,
    root_links: Vec<String>,
    lock: PathBuf,
}

impl Topology {
    /// One namespace per region on a fresh bridge. `Err` with the reason where namespaces are not
    /// permitted (the caller skips).
    pub fn new(regions: usize) -> Result<Topology, String> {
        let (slot, lock) = claim_slot()?;
        let mut t = Topology {
            slot,
            regions: Vec::new(),
            isolated: Vec::new(),
            root_links: Vec::new(),
            lock,
        };
        let br = t.bridge();
        // A bridge left behind by a killed run on this slot.
        let _ = ip(&["link", "del", &br]);
        ip(&["link", "add", &br, "type", "bridge"])?;
        t.root_links.push(br.clone());
        ip(&["addr", "add", &format!("198.18.{slot}.1/24"), "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        for i in 0..regions {
            let ns = format!("sx{slot}r{i}");
            let _ = ip(&["netns", "del", &ns]);
            ip(&["netns", "add", &ns])?;
            t.regions.push(ns.clone());
            let (outer, inner) = (format!("sx{slot}r{i}a"), format!("sx{slot}r{i}b"));
            let _ = ip(&["link", "del", &outer]);
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ])?;
            t.root_links.push(outer.clone());
            ip(&["link", "set", &outer, "master", &br])?;
            ip(&["link", "set", &outer, "up"])?;
            ip(&["link", "set", &inner, "netns", &ns])?;
            ip(&["-n", &ns, "addr", "add", &t.region_cidr(i), "dev", &inner])?;
            ip(&["-n", &ns, "link", "set", &inner, "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(t)
    }

    fn bridge(&self) -> String {
        format!("sx{}br", self.slot)
    }

    fn region_cidr(&self, i: usize) -> String {
        format!("{}/24", self.region_ip(i))
    }

    /// The address of region `i`'s namespace on the WAN.
    pub fn region_ip(&self, i: usize) -> String {
        format!("198.18.{}.{}", self.slot, 10 + i)
    }

    /// Region `i`'s namespace.
    pub fn region_ns(&self, i: usize) -> &str {
        &self.regions[i]
    }

    /// A namespace linked to region `region`'s namespace only; returns its name and address.
    pub fn isolated_host(&mut self, region: usize) -> Result<(String, String), String> {
        let n = self.isolated.len();
        assert!(n < 4, "at most four isolated hosts per topology");
        let slot = self.slot;
        let ns = format!("sx{slot}s{n}");
        let _ = ip(&["netns", "del", &ns]);
        ip(&["netns", "add", &ns])?;
        self.isolated.push(ns.clone());
        let (near, far) = (format!("sx{slot}s{n}a"), format!("sx{slot}s{n}b"));
        let region_ns = self.regions[region].clone();
        ip(&[
            "-n", &region_ns, "link", "add", &near, "type", "veth", "peer", "name", &far,
        ])?;
        ip(&["-n", &region_ns, "link", "set", &far, "netns", &ns])?;
        let base = 4 * n as u8;
        let (near_ip, far_ip) = (
            format!("198.19.{slot}.{}", base + 1),
            format!("198.19.{slot}.{}", base + 2),
        );
        ip(&[
            "-n",
            &region_ns,
            "addr",
            "add",
            &format!("{near_ip}/30"),
            "dev",
            &near,
        ])?;
        ip(&["-n", &region_ns, "link", "set", &near, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{far_ip}/30"),
            "dev",
            &far,
        ])?;
        ip(&["-n", &ns, "link", "set", &far, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        Ok((ns, far_ip))
    }

    /// A command that runs `program` inside namespace `ns`.
    pub fn command_in(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(program);
        cmd
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.isolated.iter().chain(self.regions.iter()) {
            let _ = ip(&["netns", "del", ns]);
        }
        for link in self.root_links.iter().rev() {
            let _ = ip(&["link", "del", link]);
        }
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// A subnet slot no other running test holds: a lock file created with `O_EXCL`. A lock older
/// than ten minutes is from a dead run and is taken over.
fn claim_slot() -> Result<(u8, PathBuf), String> {
    let dir = std::env::temp_dir();
    for slot in 1..=200u8 {
        let path = dir.join(format!("sextant-netns-slot-{slot}"));
        let stale = path
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if stale {
            let _ = std::fs::remove_file(&path);
        }
        if OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .is_ok()
        {
            return Ok((slot, path));
        }
    }
    Err("no free network-namespace slot".into())
}

/// Fails the test, with the reason, when this machine does not let it create network
/// namespaces (a test that cannot run must not pass).
fn require_namespaces() {
    // One name per call: the tests of this binary probe at the same time.
    static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = format!("sxprobe{}-{n}", std::process::id());
    match ip(&["netns", "add", &probe]) {
        Ok(()) => {
            let _ = ip(&["netns", "del", &probe]);
        }
        Err(e) => panic!(
            "network namespaces are not permitted here ({e}): these tests need root \
             (CAP_NET_ADMIN); scripts/test.sh leaves them out, as skipped, where they cannot run"
        ),
    }
}

/// A process killed (with its process group) when dropped; output goes to files in `dir`.
pub struct Proc {
    child: Child,
    dir: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, dir: &Path) -> Proc {
        use std::os::unix::process::CommandExt;
        std::fs::create_dir_all(dir).expect("log dir");
        let file = |name: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(name))
                .expect("log file")
        };
        cmd.stdin(Stdio::null())
            .stdout(file("stdout"))
            .stderr(file("stderr"))
            .process_group(0);
        let child = cmd.spawn().expect("spawn");
        Proc {
            child,
            dir: dir.to_path_buf(),
        }
    }

    /// SIGKILL to the whole process group.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Runs a short Python program inside `ns`.
fn python_in(ns: &str, program: &str) -> Output {
    Topology::command_in(ns, "python3")
        .args(["-c", program])
        .output()
        .expect("run python3")
}

/// An HTTP GET from inside `ns`: `Ok(status)` or `Err(the connection error)`.
fn http_get_from(ns: &str, url: &str) -> Result<u16, String> {
    let program = format!(
        "import urllib.request, urllib.error, sys\n\
         try:\n    r = urllib.request.urlopen('{url}', timeout=5); print(r.status)\n\
         except urllib.error.HTTPError as e:\n    print(e.code)\n\
         except Exception as e:\n    print('ERR', e); sys.exit(3)\n"
    );
    let out = python_in(ns, &program);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() {
        text.parse().map_err(|_| text)
    } else {
        Err(format!("{text} {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Starts a throwaway S3 server (moto) in namespace `ns` on `addr:9000` with bucket `bucket`,
/// created from `via_ns` (a region that reaches it). `None` when moto is not installed and
/// missing dependencies may be skipped.
fn start_moto(ns: &str, addr: &str, via_ns: &str, bucket: &str, dir: &Path) -> Option<Proc> {
    let check = Command::new("python3")
        .args(["-c", "import moto.server"])
        .output()
        .expect("python3");
    if !check.status.success() {
        if std::env::var("SEXTANT_SKIP_EXTERNAL").as_deref() == Ok("1") {
            eprintln!("skipping: moto is not installed and SEXTANT_SKIP_EXTERNAL=1");
            return None;
        }
        panic!("moto is not installed: run scripts/test-deps.sh");
    }
    let mut cmd = Topology::command_in(ns, "python3");
    cmd.args(["-m", "moto.server", "-H", addr, "-p", "9000"])
        .env("PYTHONUNBUFFERED", "1");
    let proc = Proc::spawn(cmd, dir);
    let endpoint = format!("http://{addr}:9000");
    eventually_blocking(Duration::from_secs(30), "moto answers", || {
        http_get_from(via_ns, &format!("{endpoint}/")).is_ok()
    });
    let out = python_in(
        via_ns,
        &format!(
            "import urllib.request\n\
             urllib.request.urlopen(urllib.request.Request('{endpoint}/{bucket}', method='PUT'), \
             timeout=5)\n"
        ),
    );
    assert!(
        out.status.success(),
        "create bucket: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(proc)
}

/// The webhook endpoint of [`start_webhook_sink`]: every request it answered, in arrival order.
/// It answers 200 to each and appends one JSON line per request to a file.
pub struct WebhookSink {
    _proc: Proc,
    log: PathBuf,
    /// `http://<addr>:<port>`.
    pub base: String,
}

/// One request the webhook endpoint received.
#[derive(Debug)]
pub struct WebhookRequest {
    /// The request path.
    pub path: String,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body, byte for byte (as UTF-8).
    pub body: String,
}

impl WebhookSink {
    /// Every request so far whose path is `path`.
    pub fn requests(&self, path: &str) -> Vec<WebhookRequest> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| WebhookRequest {
                path: v["path"].as_str().unwrap_or_default().to_string(),
                content_type: v["type"].as_str().unwrap_or_default().to_string(),
                body: v["body"].as_str().unwrap_or_default().to_string(),
            })
            .filter(|r| r.path == path)
            .collect()
    }
}

/// The webhook endpoint: Python's http.server, answering every POST with 200 and appending
/// `{"path", "type", "body"}` (the body as one JSON string, so it is kept byte for byte) to the
/// log file, one line per request.
const WEBHOOK_SERVER: &str = r#"
import http.server, json, sys, threading
log, lock = open(sys.argv[1], 'a'), threading.Lock()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        line = json.dumps({'path': self.path, 'type': self.headers.get('Content-Type'),
                           'body': body.decode('utf-8')})
        with lock:
            log.write(line + '\n')
            log.flush()
        self.reply()
    def do_GET(self):
        self.reply()
    def reply(self):
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), Handler).serve_forever()
"#;

/// Starts a webhook endpoint in namespace `ns` on `addr:8000`, and waits until it answers from
/// `via_ns` (a region that reaches it).
fn start_webhook_sink(ns: &str, addr: &str, via_ns: &str, dir: &Path) -> WebhookSink {
    let log = dir.join("webhook.ndjson");
    let mut cmd = Topology::command_in(ns, "python3");
    cmd.args(["-c", WEBHOOK_SERVER])
        .arg(&log)
        .args([addr, "8000"]);
    let proc = Proc::spawn(cmd, &dir.join("webhook"));
    let base = format!("http://{addr}:8000");
    eventually_blocking(
        Duration::from_secs(20),
        "the webhook endpoint answers",
        || http_get_from(via_ns, &format!("{base}/")) == Ok(200),
    );
    WebhookSink {
        _proc: proc,
        log,
        base,
    }
}

/// The storage server answers from the region it is linked to and is unreachable, at once, from
/// the others and from the root namespace.
#[test]
fn storage_is_reachable_from_one_region_only() {
    require_namespaces();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut topo = Topology::new(3).expect("topology");
    let (s3_ns, s3_ip) = topo.isolated_host(1).expect("isolated host");
    let Some(_moto) = start_moto(&s3_ns, &s3_ip, topo.region_ns(1), "backups", dir.path()) else {
        return;
    };
    let url = format!("http://{s3_ip}:9000/backups");
    assert_eq!(http_get_from(topo.region_ns(1), &url), Ok(200));
    for region in [0, 2] {
        let started = Instant::now();
        let err = http_get_from(topo.region_ns(region), &url).expect_err("must be unreachable");
        assert!(err.contains("unreachable"), "region {region}: {err}");
        assert!(started.elapsed() < Duration::from_secs(5), "fails at once");
    }
    // Regions reach each other over the bridge.
    let listener = Topology::command_in(topo.region_ns(0), "python3")
        .args(["-m", "http.server", "8099", "--bind", &topo.region_ip(0)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let mut listener = listener.expect("http.server");
    let peer = format!("http://{}:8099/", topo.region_ip(0));
    eventually_blocking(Duration::from_secs(10), "region 2 reaches region 0", || {
        http_get_from(topo.region_ns(2), &peer) == Ok(200)
    });
    let _ = listener.kill();
    let _ = listener.wait();
}

/// Nodes started inside region namespaces form one cluster over the bridge.
#[test]
fn nodes_in_region_namespaces_form_a_cluster() {
    require_namespaces();
    let dir = tempfile::tempdir().expect("tempdir");
    let topo = Topology::new(3).expect("topology");
    let cluster = RegionCluster::start(&topo, dir.path());
    let status = Command::new(sextant_bin())
        .args([
            "node",
            "status",
            "--insecure",
            "--host",
            &cluster.rpc[0],
            "--format",
            "json",
        ])
        .output()
        .expect("node status");
    let nodes: serde_json::Value =
        serde_json::from_slice(&status.stdout).expect("node status json");
    let localities: Vec<String> = nodes
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|n| n["locality"].as_str().map(str::to_string))
        .collect();
    assert_eq!(localities.len(), 3, "{nodes}");
    for region in REGIONS {
        assert!(
            localities.iter().any(|l| l.contains(region)),
            "{region} missing from {localities:?}"
        );
    }
}

/// The regions of a [`RegionCluster`], one node per region.
const REGIONS: [&str; 3] = ["us-east1", "us-west1", "europe-west1"];

/// One `sextant start` per region namespace, initialised and live.
pub struct RegionCluster {
    /// The node processes, in region order.
    pub nodes: Vec<Proc>,
    /// `--listen-addr` of each node.
    pub rpc: Vec<String>,
    /// `--sql-addr` of each node.
    pub sql: Vec<String>,
    /// `--http-addr` of each node.
    pub http: Vec<String>,
}

impl RegionCluster {
    /// Starts, initialises and waits for full replication.
    pub fn start(topo: &Topology, dir: &Path) -> RegionCluster {
        let n = REGIONS.len();
        let rpc: Vec<String> = (0..n)
            .map(|i| format!("{}:26258", topo.region_ip(i)))
            .collect();
        let sql: Vec<String> = (0..n)
            .map(|i| format!("{}:26257", topo.region_ip(i)))
            .collect();
        let http: Vec<String> = (0..n)
            .map(|i| format!("{}:8080", topo.region_ip(i)))
            .collect();
        let join = rpc.join(",");
        let nodes = (0..n)
            .map(|i| {
                let mut cmd = Topology::command_in(topo.region_ns(i), sextant_bin());
                cmd.env_remove("RUST_LOG").args([
                    "start".to_string(),
                    format!("--store={}", dir.join(format!("n{i}")).display()),
                    format!("--listen-addr={}", rpc[i]),
                    format!("--sql-addr={}", sql[i]),
                    format!("--http-addr={}", http[i]),
                    format!("--join={join}"),
                    format!("--locality=region={},zone={}-a", REGIONS[i], REGIONS[i]),
                    "--insecure".to_string(),
                    "--test-timings".to_string(),
                ]);
                Proc::spawn(cmd, &dir.join(format!("log{i}")))
            })
            .collect::<Vec<_>>();
        let cluster = RegionCluster {
            nodes,
            rpc,
            sql,
            http,
        };
        eventually_blocking(Duration::from_secs(30), "node 1 answers", || {
            http_status(&cluster.http[0], "/health") == Some(200)
        });
        let out = Command::new(sextant_bin())
            .args(["init", "--insecure", "--host", &cluster.rpc[0]])
            .output()
            .expect("init");
        assert!(
            out.status.success(),
            "init: {} / node 1: {}",
            String::from_utf8_lossy(&out.stderr),
            cluster.nodes[0].stderr()
        );
        eventually_blocking(Duration::from_secs(60), "every node ready", || {
            cluster
                .http
                .iter()
                .all(|h| http_status(h, "/health?ready=1") == Some(200))
        });
        cluster
    }
}

/// Runs one statement with the real `psql` against `addr`: `Ok(stdout)` (unaligned, tuples
/// only) or `Err(stderr)`.
fn psql(addr: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .arg(format!(
            "postgresql://root@{addr}/defaultdb?sslmode=disable"
        ))
        .args(["-c", sql])
        .output()
        .map_err(|e| format!("psql: {e} (install postgresql-client: scripts/test-deps.sh)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The seed's first use case for real: the bucket answers only in us-west1. A backup issued
/// in us-east1 without a filter fails with the storage error; with `EXECUTION LOCALITY =
/// 'region=us-west1'` it succeeds from the same gateway, its coordinator and every processor
/// ran in us-west1, and the backup restores row for row.
#[test]
fn backup_reaches_a_regional_bucket_only_with_execution_locality() {
    require_namespaces();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut topo = Topology::new(3).expect("topology");
    let (s3_ns, s3_ip) = topo.isolated_host(1).expect("isolated host");
    let Some(_moto) = start_moto(&s3_ns, &s3_ip, topo.region_ns(1), "backups", dir.path()) else {
        return;
    };
    let cluster = RegionCluster::start(&topo, dir.path());
    let east = &cluster.sql[0];
    psql(
        east,
        "CREATE DATABASE shop; \
         CREATE TABLE shop.orders (id INT PRIMARY KEY, item STRING, qty INT); \
         INSERT INTO shop.orders SELECT i, 'item' || i::STRING, i % 7 FROM generate_series(1, 300) AS g(i);",
    )
    .expect("schema and rows");
    let uri = format!(
        "s3://backups/shop?AWS_ENDPOINT=http://{s3_ip}:9000&AWS_ACCESS_KEY_ID=sextant\
         &AWS_SECRET_ACCESS_KEY=secret&AWS_REGION=us-east-1"
    );

    let err = psql(east, &format!("BACKUP DATABASE shop INTO '{uri}'"))
        .expect_err("the bucket is unreachable from us-east1");
    assert!(
        err.contains("unreachable") || err.contains("Network is unreachable"),
        "{err}"
    );
    assert!(!err.contains("secret"), "credentials leaked: {err}");

    let out = psql(
        east,
        &format!("BACKUP DATABASE shop INTO '{uri}' WITH EXECUTION LOCALITY = 'region=us-west1'"),
    )
    .expect("backup pinned to us-west1");
    let fields: Vec<&str> = out.split('|').collect();
    assert_eq!(fields.get(1), Some(&"succeeded"), "{out}");
    assert_eq!(fields.get(3), Some(&"300"), "{out}");
    let job_id = fields[0];
    let nodes = psql(
        east,
        &format!(
            "SELECT DISTINCT node_id FROM crdb_internal.job_plans WHERE job_id = {job_id} \
             UNION SELECT coordinator_id FROM [SHOW JOB {job_id}]"
        ),
    )
    .expect("plan");
    let west_id = psql(&cluster.sql[1], "SHOW node_id").expect("node id");
    assert_eq!(nodes.lines().collect::<Vec<_>>(), vec![west_id.as_str()]);

    let out = psql(
        east,
        &format!(
            "RESTORE DATABASE shop FROM LATEST IN '{uri}' WITH new_db_name = 'shop2', \
             EXECUTION LOCALITY = 'region=us-west1'"
        ),
    )
    .expect("restore pinned to us-west1");
    assert!(out.contains("succeeded"), "{out}");
    let a = psql(east, "SELECT count(*), sum(qty) FROM shop.orders").expect("sum");
    let b = psql(east, "SELECT count(*), sum(qty) FROM shop2.orders").expect("sum");
    assert_eq!(a, b);
}

/// The body of a webhook request carrying one row message, or `None` for any other body.
fn webhook_row(body: &str) -> Option<&str> {
    body.strip_prefix("{\"payload\":[")?
        .strip_suffix("],\"length\":1}")
}

/// Whether `body` is a resolved message, `{"resolved":"<wall ns>.<10-digit logical>"}`.
fn is_resolved_body(body: &str) -> bool {
    let Some(ts) = body
        .strip_prefix("{\"resolved\":\"")
        .and_then(|b| b.strip_suffix("\"}"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    ts.split_once('.')
        .is_some_and(|(wall, logical)| digits(wall) && logical.len() == 10 && digits(logical))
}

/// The seeds' changefeed case for real: a webhook endpoint answers only in us-west1.
///
/// A webhook gets no request at CREATE CHANGEFEED (as in CockroachDB), so the feed created in
/// us-east1 without a filter is created; its coordinator is the gateway, whose resolved
/// messages cannot reach the endpoint, so the job keeps retrying with the sink error as its
/// running status. The same feed created from the same gateway with `execution_locality =
/// 'region=us-west1'` delivers the rows written before it (the initial scan) and after it, each
/// in its own POST with CockroachDB's body, plus resolved messages; SHOW JOB shows the
/// coordinator in us-west1 and the plan has every aggregator there.
#[test]
fn changefeed_reaches_a_regional_sink_only_with_execution_locality() {
    require_namespaces();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut topo = Topology::new(3).expect("topology");
    let (sink_ns, sink_ip) = topo.isolated_host(1).expect("isolated host");
    let sink = start_webhook_sink(&sink_ns, &sink_ip, topo.region_ns(1), dir.path());
    let cluster = RegionCluster::start(&topo, dir.path());
    let east = &cluster.sql[0];
    let east_id = psql(east, "SHOW node_id").expect("node id");
    let west_id = psql(&cluster.sql[1], "SHOW node_id").expect("node id");
    psql(
        east,
        "CREATE TABLE t (id INT PRIMARY KEY, item STRING); \
         INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c');",
    )
    .expect("schema and rows");
    // Resolved messages are sent by the coordinator: with them the coordinator's node needs
    // the endpoint too, wherever the table's leaseholder (and so its aggregator) is.
    let opts = "resolved = '1s', min_checkpoint_frequency = '1s'";

    // Without a filter.
    let job = psql(
        east,
        &format!(
            "CREATE CHANGEFEED FOR TABLE t INTO 'webhook-{}/fail' WITH {opts}",
            sink.base
        ),
    )
    .expect("created: a webhook is not contacted at CREATE");
    let show = format!("SELECT status, running_status, coordinator_id FROM [SHOW JOB {job}]");
    let mut row = String::new();
    eventually_blocking(
        Duration::from_secs(20),
        "the job records the sink error",
        || {
            row = psql(east, &show).expect("show job");
            row.contains("transient error")
        },
    );
    // The coordinator is the gateway in us-east1, whose namespace has no route to the sink
    // (the endpoint answers every request it gets with 200): the error names the failed dial.
    assert_eq!(
        row,
        format!(
            "running|transient error: sink: webhook sink: error sending request for url \
             ({}/fail): client error (Connect): tcp connect error: Network is unreachable \
             (os error 101) (after 3 retries)|{east_id}",
            sink.base
        )
    );
    psql(east, &format!("CANCEL JOB {job}")).expect("cancel");
    eventually_blocking(Duration::from_secs(20), "the job is canceled", || {
        psql(east, &format!("SELECT status FROM [SHOW JOB {job}]")).as_deref() == Ok("canceled")
    });

    // Pinned to us-west1, from the same gateway.
    let uri = format!("webhook-{}/feed", sink.base);
    let job = psql(
        east,
        &format!(
            "CREATE CHANGEFEED FOR TABLE t INTO '{uri}' \
             WITH execution_locality = 'region=us-west1', {opts}"
        ),
    )
    .expect("changefeed pinned to us-west1");
    let msg = |id: i64, item: &str| {
        format!(r#"{{"after": {{"id": {id}, "item": "{item}"}}, "key": [{id}], "topic": "t"}}"#)
    };
    let rows = || -> Vec<String> {
        sink.requests("/feed")
            .iter()
            .filter_map(|r| webhook_row(&r.body).map(str::to_string))
            .collect()
    };
    let before = [msg(1, "a"), msg(2, "b"), msg(3, "c")];
    eventually_blocking(Duration::from_secs(20), "the initial scan arrives", || {
        let got = rows();
        before.iter().all(|m| got.contains(m))
    });
    psql(
        east,
        "INSERT INTO t VALUES (4, 'd'); UPDATE t SET item = 'b2' WHERE id = 2; \
         DELETE FROM t WHERE id = 3;",
    )
    .expect("changes");
    let deleted = r#"{"after": null, "key": [3], "topic": "t"}"#.to_string();
    let after = [msg(4, "d"), msg(2, "b2"), deleted.clone()];
    eventually_blocking(
        Duration::from_secs(20),
        "the later changes and a resolved message after them arrive",
        || {
            let reqs = sink.requests("/feed");
            let last_row = reqs.iter().rposition(|r| webhook_row(&r.body).is_some());
            let resolved_after = reqs
                .iter()
                .rposition(|r| is_resolved_body(&r.body))
                .is_some_and(|i| Some(i) > last_row);
            let got = rows();
            resolved_after && after.iter().all(|m| got.contains(m))
        },
    );
    let reqs = sink.requests("/feed");
    for r in &reqs {
        assert_eq!(r.content_type, "application/json", "{r:?}");
        assert!(
            webhook_row(&r.body).is_some() || is_resolved_body(&r.body),
            "unexpected body: {}",
            r.body
        );
    }
    let got = rows();
    let mut distinct = got.clone();
    distinct.sort();
    distinct.dedup();
    let mut expected: Vec<String> = before.iter().chain(after.iter()).cloned().collect();
    expected.sort();
    assert_eq!(distinct, expected, "delivered: {got:#?}");
    // A key's versions are first delivered in commit order.
    let first = |m: &str| got.iter().position(|g| g == m).expect("delivered");
    assert!(first(&msg(2, "b")) < first(&msg(2, "b2")), "{got:#?}");
    assert!(first(&msg(3, "c")) < first(&deleted), "{got:#?}");

    // The coordinator and every aggregator ran in us-west1.
    assert_eq!(
        psql(
            east,
            &format!(
                "SELECT job_type, status, coordinator_id, execution_errors FROM [SHOW JOB {job}]"
            )
        ),
        Ok(format!("CHANGEFEED|running|{west_id}|{{}}"))
    );
    let plan = psql(
        east,
        &format!("SELECT node_id, locality FROM crdb_internal.job_plans WHERE job_id = {job}"),
    )
    .expect("plan");
    assert_eq!(
        plan.lines().collect::<Vec<_>>(),
        vec![format!("{west_id}|region=us-west1,zone=us-west1-a")]
    );
    let details = psql(
        east,
        &format!(
            "SELECT execution_locality, execution_details \
             FROM [SHOW JOB {job} WITH EXECUTION DETAILS]"
        ),
    )
    .expect("execution details");
    let (locality, per_node) = details.split_once('|').expect("two columns");
    assert_eq!(locality, "region=us-west1");
    assert!(
        per_node.contains(&format!(
            "n{west_id} region=us-west1,zone=us-west1-a: 1 ranges"
        )),
        "{per_node}"
    );
    assert!(
        !per_node.contains("us-east1") && !per_node.contains("europe-west1"),
        "{per_node}"
    );
    let changefeed = format!(
        "SELECT description, status, sink_uri, full_table_names, topics, format, error, \
         high_water_timestamp IS NOT NULL FROM [SHOW CHANGEFEED JOBS] WHERE job_id = {job}"
    );
    assert_eq!(
        psql(east, &changefeed),
        Ok(format!(
            "CREATE CHANGEFEED FOR TABLE t INTO '{uri}' WITH OPTIONS (execution_locality = \
             'region=us-west1', resolved = '1s', min_checkpoint_frequency = '1s')\
             |running|{uri}|{{defaultdb.public.t}}|t|json||t"
        ))
    );
}
