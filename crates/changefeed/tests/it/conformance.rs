//! One conformance suite that every changefeed sink runs against a real destination.
//!
//! A [`Destination`] says how to open its kind of sink and how to read back, in arrival
//! order, what the destination received. [`run_suite`] runs each check in its own scope (its
//! own topics, webhook requests or storage directory) and fails with every check that failed,
//! each named as `<sink>: <check>: <what differed>`:
//!
//! 1. [`rows_arrive_after_flush`]: every row emitted is at the destination once `flush`
//!    returns, byte for byte, and a deletion arrives as the sink's tombstone;
//! 2. [`per_key_order`]: one key's rows arrive in emission order;
//! 3. [`resolved_after_rows`]: a resolved message arrives after every row emitted before it,
//!    in every stream (each partition of each topic for Kafka);
//! 4. [`empty_and_repeated_flush`]: `flush` with nothing buffered returns at once and sends
//!    nothing; a second `flush` sends nothing again;
//! 5. [`close_flushes_then_refuses`]: `close` delivers what is buffered; after it the sink
//!    refuses `emit_row`, `flush` and `emit_resolved` with [`SinkError::Invalid`] (as
//!    [`Sink`]'s documentation says) and a second `close` is harmless;
//! 6. [`unreachable_fails_in_time`]: a destination that cannot be reached (a closed port; for
//!    Kafka also a broker gone after the sink connected) fails `open_sink`, `emit_row` or
//!    `flush` with [`SinkError::Unavailable`] within [`UNREACHABLE_BOUND`].
//!
//! The sinks buffer (each destination's options ask for batches of many messages), so rows
//! are only sure to be at the destination after `flush`, `emit_resolved` or `close`.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::FutureExt;
use sextant_changefeed::encoder::Encoder;
use sextant_changefeed::options::{ChangefeedOptions, SinkKind};
use sextant_changefeed::sink::{Sink, SinkError, open_sink};

use crate::certs::base64;
use crate::fixtures::{Tansu, ctx, opts, row, ts};
use crate::tls::TlsHook;

/// How long an unreachable destination may take to fail a sink.
const UNREACHABLE_BOUND: Duration = Duration::from_secs(20);
/// How long a `flush` with nothing buffered may take.
const EMPTY_FLUSH_BOUND: Duration = Duration::from_secs(1);
/// Partitions of every Kafka topic the suite uses.
const KAFKA_PARTITIONS: i32 = 3;

/// One message as the destination received it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Arrival {
    /// Where arrival order is defined: a Kafka partition `(topic, partition)`; `None` where
    /// the destination is one ordered stream (webhook requests, listed storage files).
    stream: Option<(String, i32)>,
    /// The topic, where the destination carries it apart from the value.
    topic: Option<String>,
    /// The key, where the destination carries it apart from the value.
    key: Option<Vec<u8>>,
    /// The value; `None` for the destination's tombstone form of a deletion.
    value: Option<Vec<u8>>,
    /// Whether this is a resolved message.
    resolved: bool,
}

/// A destination of one sink kind.
trait Destination {
    /// The sink kind, as failures name it.
    fn name(&self) -> &'static str;
    /// The options every sink of this kind is opened with.
    fn options(&self) -> ChangefeedOptions;
    /// The external IO directory of the sinks' context (`nodelocal://1`); a fresh one per
    /// sink when `None`.
    fn context_dir(&self) -> Option<&Path> {
        None
    }
    /// Whether anything arrives anywhere (false for `null://`).
    fn delivers(&self) -> bool {
        true
    }
    /// Starts a fresh scope for check `check` whose rows go to `topics`, and returns the sink
    /// URI to open for it.
    async fn scope(&mut self, check: &str, topics: &[String]) -> String;
    /// The streams of the current scope (each Kafka partition of each topic, or the one
    /// stream `None`).
    fn streams(&self) -> Vec<Option<(String, i32)>>;
    /// Everything the destination received in the current scope, in arrival order within
    /// each stream.
    async fn received(&self) -> Vec<Arrival>;
    /// A URI of this kind of sink whose destination cannot be reached; `None` where that has
    /// no meaning.
    fn unreachable_uri(&self, check: &str) -> Option<String>;
    /// A sink opened on a destination that then went away; `None` where that has no meaning
    /// apart from [`Destination::unreachable_uri`].
    async fn gone_after_open(&self, _topics: &[String]) -> Option<Box<dyn Sink>> {
        None
    }
}

/// What a check emits, to compare with what arrived.
#[derive(Default)]
struct Emitted {
    rows: Vec<(String, Vec<u8>, Option<Vec<u8>>)>,
}

/// A check's sink and what it has emitted through it.
struct Run {
    sink: Box<dyn Sink>,
    enc: Encoder,
    emitted: Emitted,
    /// Keeps the sink context's directory.
    _dir: tempfile::TempDir,
}

impl Run {
    async fn open<D: Destination>(d: &mut D, check: &str, topics: &[String]) -> Run {
        let uri = d.scope(check, topics).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let o = d.options();
        let sink = open_sink(
            &uri,
            &o,
            topics,
            &ctx(d.context_dir().unwrap_or(dir.path())),
        )
        .await
        .unwrap_or_else(|e| panic!("open_sink: {e}"));
        Run {
            sink,
            enc: Encoder::new(&o),
            emitted: Emitted::default(),
            _dir: dir,
        }
    }

    /// Emits row `id` of `topic` with value `v` at `at` (a deletion when `v` is `None`).
    async fn emit(&mut self, topic: &str, id: i64, v: Option<&str>, at: i64) {
        let (key, value) = row(&self.enc, topic, id, v.unwrap_or(""), at);
        let value = v.and(value);
        self.sink
            .emit_row(topic, &key, value.as_deref(), ts(at))
            .await
            .unwrap_or_else(|e| panic!("emit_row({topic}, {id}): {e}"));
        self.emitted.rows.push((topic.to_string(), key, value));
    }

    async fn flush(&mut self) {
        self.sink
            .flush()
            .await
            .unwrap_or_else(|e| panic!("flush: {e}"));
    }
}

fn topics(check: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{check}_{n}")).collect()
}

fn show(b: &Option<Vec<u8>>) -> String {
    b.as_ref().map_or("<tombstone>".into(), |b| {
        String::from_utf8_lossy(b).into_owned()
    })
}

/// The row arrivals, each matched to the earliest unmatched emitted row with the same value
/// (the values a check emits are distinct but for deletions): the topic and key must be the
/// emitted ones where the destination carries them. (A tombstone without its key, as webhook
/// and cloud storage send it, matches the earliest unmatched deletion of its topic.) Returns, per arrival, the index of the emitted row, and fails on a row that
/// was not emitted or arrived twice, or an emitted row that did not arrive.
fn match_rows(emitted: &Emitted, arrived: &[Arrival]) -> Vec<(Option<(String, i32)>, usize)> {
    let mut out = Vec::new();
    let mut seen = vec![false; emitted.rows.len()];
    for a in arrived.iter().filter(|a| !a.resolved) {
        let i = emitted
            .rows
            .iter()
            .enumerate()
            .position(|(i, (topic, key, value))| {
                !seen[i]
                    && *value == a.value
                    && a.topic.as_ref().is_none_or(|t| t == topic)
                    && a.key.as_ref().is_none_or(|k| k == key)
            })
            .unwrap_or_else(|| {
                panic!(
                    "arrived but not emitted (or arrived twice): topic {:?} key {:?} value {}",
                    a.topic,
                    a.key
                        .as_ref()
                        .map(|k| String::from_utf8_lossy(k).into_owned()),
                    show(&a.value)
                )
            });
        seen[i] = true;
        out.push((a.stream.clone(), i));
    }
    let missing: Vec<String> = seen
        .iter()
        .zip(&emitted.rows)
        .filter(|(s, _)| !**s)
        .map(|(_, (t, k, v))| format!("{t} {} {}", String::from_utf8_lossy(k), show(v)))
        .collect();
    assert!(missing.is_empty(), "emitted but not arrived: {missing:?}");
    out
}

/// Check 1: after `flush`, every row is at the destination (topic, key and value byte for
/// byte where the destination carries them), a deletion as the tombstone, and nothing else.
async fn rows_arrive_after_flush<D: Destination>(d: &mut D) {
    let check = "rows_after_flush";
    let t = topics(check, &["a", "b"]);
    let mut run = Run::open(d, check, &t).await;
    run.emit(&t[0], 1, Some("one"), 10).await;
    run.emit(&t[1], 2, Some("two"), 11).await;
    run.emit(&t[0], 3, Some("three"), 12).await;
    run.emit(&t[0], 1, None, 13).await;
    run.emit(&t[1], 4, Some("four"), 14).await;
    run.flush().await;
    if !d.delivers() {
        return;
    }
    let arrived = d.received().await;
    assert!(
        arrived.iter().all(|a| !a.resolved),
        "a resolved message arrived: {arrived:?}"
    );
    match_rows(&run.emitted, &arrived);
    run.sink.close().await.expect("close");
}

/// Check 2: one key's rows arrive in the order they were emitted, across batches.
async fn per_key_order<D: Destination>(d: &mut D) {
    let check = "per_key_order";
    let t = topics(check, &["a", "b"]);
    let mut run = Run::open(d, check, &t).await;
    let mut at = 100;
    for round in 0..6 {
        for id in 1..=5 {
            let topic = &t[(id as usize) % 2];
            let v = format!("v{round}");
            // Every key's fourth version is a deletion.
            let v = (round != 3).then_some(v.as_str());
            run.emit(topic, id, v, at).await;
            at += 1;
        }
        if round % 2 == 1 {
            run.flush().await;
        }
    }
    run.flush().await;
    if !d.delivers() {
        return;
    }
    let arrived = d.received().await;
    let matched = match_rows(&run.emitted, &arrived);
    let mut last: BTreeMap<(String, Vec<u8>), usize> = BTreeMap::new();
    for (_, i) in matched {
        let (topic, key, value) = &run.emitted.rows[i];
        let id = (topic.clone(), key.clone());
        if let Some(prev) = last.get(&id) {
            assert!(
                *prev < i,
                "key {} of {topic}: emitted row {i} ({}) arrived after emitted row {prev} ({})",
                String::from_utf8_lossy(key),
                show(value),
                show(&run.emitted.rows[*prev].2)
            );
        }
        last.insert(id, i);
    }
    run.sink.close().await.expect("close");
}

/// Check 3: `emit_resolved` (which flushes) delivers its message after every row emitted
/// before it, in every stream, including a topic that got no rows.
async fn resolved_after_rows<D: Destination>(d: &mut D) {
    let check = "resolved_after_rows";
    let t = topics(check, &["a", "b", "idle"]);
    let mut run = Run::open(d, check, &t).await;
    for id in 1..=8 {
        run.emit(&t[(id as usize) % 2], id, Some("x"), 200 + id)
            .await;
    }
    // A row at exactly the resolved time is before it too.
    run.emit(&t[0], 9, Some("at"), 210).await;
    let payload = run.enc.encode_resolved(ts(210));
    run.sink
        .emit_resolved(ts(210), &payload)
        .await
        .unwrap_or_else(|e| panic!("emit_resolved: {e}"));
    if !d.delivers() {
        return;
    }
    let arrived = d.received().await;
    match_rows(&run.emitted, &arrived);
    for stream in d.streams() {
        let in_stream: Vec<&Arrival> = arrived.iter().filter(|a| a.stream == stream).collect();
        assert!(!in_stream.is_empty(), "stream {stream:?}: nothing arrived");
        let resolved: Vec<usize> = in_stream
            .iter()
            .enumerate()
            .filter(|(_, a)| a.resolved)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(
            resolved,
            vec![in_stream.len() - 1],
            "stream {stream:?}: one resolved message, after every row: {in_stream:?}"
        );
        let last = in_stream[in_stream.len() - 1];
        assert_eq!(
            last.value.as_deref(),
            Some(&payload[..]),
            "stream {stream:?}: the resolved payload"
        );
    }
    run.sink.close().await.expect("close");
}

/// Check 4: an empty `flush` returns at once and sends nothing; flushing twice after a row
/// delivers it once.
async fn empty_and_repeated_flush<D: Destination>(d: &mut D) {
    let check = "empty_flush";
    let t = topics(check, &["a"]);
    let mut run = Run::open(d, check, &t).await;
    for n in 1..=2 {
        let started = Instant::now();
        tokio::time::timeout(EMPTY_FLUSH_BOUND, run.sink.flush())
            .await
            .unwrap_or_else(|_| panic!("empty flush {n} took over {EMPTY_FLUSH_BOUND:?}"))
            .unwrap_or_else(|e| panic!("empty flush {n}: {e}"));
        assert!(started.elapsed() < EMPTY_FLUSH_BOUND);
    }
    if d.delivers() {
        let arrived = d.received().await;
        assert!(arrived.is_empty(), "an empty flush sent {arrived:?}");
    }
    run.emit(&t[0], 1, Some("once"), 300).await;
    run.flush().await;
    run.flush().await;
    if d.delivers() {
        let arrived = d.received().await;
        match_rows(&run.emitted, &arrived);
        assert_eq!(arrived.len(), 1, "{arrived:?}");
    }
    run.sink.close().await.expect("close");
}

/// Check 5: `close` delivers what is buffered; afterwards the sink refuses to emit or flush
/// (`SinkError::Invalid`), sends nothing more, and a second `close` is harmless.
async fn close_flushes_then_refuses<D: Destination>(d: &mut D) {
    let check = "close";
    let t = topics(check, &["a"]);
    let mut run = Run::open(d, check, &t).await;
    run.emit(&t[0], 1, Some("buffered"), 400).await;
    run.emit(&t[0], 2, None, 401).await;
    run.sink.close().await.expect("close");
    let before = if d.delivers() {
        let arrived = d.received().await;
        match_rows(&run.emitted, &arrived);
        arrived
    } else {
        Vec::new()
    };
    let (key, value) = row(&run.enc, &t[0], 3, "late", 402);
    let refused = |what: &str, r: Result<(), SinkError>| match r {
        Err(SinkError::Invalid(m)) if m.contains("closed") => {}
        other => panic!("{what} after close: want Invalid(\"… closed\"), got {other:?}"),
    };
    refused(
        "emit_row",
        run.sink
            .emit_row(&t[0], &key, value.as_deref(), ts(402))
            .await,
    );
    refused("flush", run.sink.flush().await);
    let payload = run.enc.encode_resolved(ts(402));
    refused(
        "emit_resolved",
        run.sink.emit_resolved(ts(402), &payload).await,
    );
    run.sink.close().await.expect("second close");
    if d.delivers() {
        assert_eq!(d.received().await, before, "nothing arrives after close");
    }
}

/// Check 6: an unreachable destination fails the sink with `SinkError::Unavailable` within
/// [`UNREACHABLE_BOUND`], at `open_sink` (a sink that connects when opened) or at
/// `emit_row`/`flush`.
async fn unreachable_fails_in_time<D: Destination>(d: &mut D) {
    let check = "unreachable";
    let t = topics(check, &["a"]);
    let o = d.options();
    let enc = Encoder::new(&o);
    let (key, value) = row(&enc, &t[0], 1, "lost", 500);
    let dir = tempfile::tempdir().expect("tempdir");

    async fn fails(
        sink: &mut dyn Sink,
        topic: &str,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> SinkError {
        match sink.emit_row(topic, key, value, ts(500)).await {
            Err(e) => e,
            Ok(()) => sink
                .flush()
                .await
                .expect_err("flush to an unreachable destination"),
        }
    }
    let bounded = |what: String, started: Instant, e: SinkError| {
        let took = started.elapsed();
        assert!(
            matches!(e, SinkError::Unavailable(_)),
            "{what}: want Unavailable, got {e:?}"
        );
        assert!(took < UNREACHABLE_BOUND, "{what}: failed after {took:?}");
        eprintln!("{}: {check}: {what} failed in {took:?}: {e}", d.name());
    };

    if let Some(uri) = d.unreachable_uri(check) {
        let started = Instant::now();
        let attempt = async {
            match open_sink(&uri, &o, &t, &ctx(dir.path())).await {
                Err(e) => ("open_sink", e),
                Ok(mut sink) => (
                    "emit_row/flush",
                    fails(sink.as_mut(), &t[0], &key, value.as_deref()).await,
                ),
            }
        };
        let (what, e) = tokio::time::timeout(UNREACHABLE_BOUND, attempt)
            .await
            .unwrap_or_else(|_| panic!("a closed port: no error within {UNREACHABLE_BOUND:?}"));
        bounded(format!("a closed port ({what})"), started, e);
    }
    if let Some(mut sink) = d.gone_after_open(&t).await {
        let started = Instant::now();
        let e = tokio::time::timeout(
            UNREACHABLE_BOUND,
            fails(sink.as_mut(), &t[0], &key, value.as_deref()),
        )
        .await
        .unwrap_or_else(|_| {
            panic!("a destination gone after open: no error within {UNREACHABLE_BOUND:?}")
        });
        bounded("a destination gone after open".into(), started, e);
    }
}

/// Runs every check against `d`, each in its own scope, and fails naming each check that
/// failed. Prints how long each took.
async fn run_suite<D: Destination>(mut d: D) {
    let mut failures = Vec::new();
    macro_rules! checks {
        ($($check:ident),* $(,)?) => {$(
            let started = Instant::now();
            let r = AssertUnwindSafe($check(&mut d)).catch_unwind().await;
            eprintln!("{}: {}: {:?}", d.name(), stringify!($check), started.elapsed());
            if let Err(panic) = r {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {}: {msg}", d.name(), stringify!($check)));
            }
        )*};
    }
    checks!(
        rows_arrive_after_flush,
        per_key_order,
        resolved_after_rows,
        empty_and_repeated_flush,
        close_flushes_then_refuses,
        unreachable_fails_in_time,
    );
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Batches of up to 1000 messages, written an hour apart: only flush, resolved and close
/// deliver within a check.
const BATCHING: &str = r#"{"Flush": {"Messages": 1000, "Frequency": "1h"}}"#;

/// Kafka on a Tansu broker; every topic has [`KAFKA_PARTITIONS`] partitions. The record's
/// topic, partition, key and value are read back; a deletion is a record with a null value,
/// a resolved message a record with a null key, in every partition of every topic.
struct Kafka {
    tansu: Tansu,
    topics: Vec<String>,
}

impl Destination for Kafka {
    fn name(&self) -> &'static str {
        "kafka"
    }

    fn options(&self) -> ChangefeedOptions {
        opts(&[("kafka_sink_config", Some(BATCHING))], SinkKind::Kafka)
    }

    async fn scope(&mut self, _check: &str, topics: &[String]) -> String {
        for t in topics {
            self.tansu.create_topic(t, KAFKA_PARTITIONS).await;
        }
        self.topics = topics.to_vec();
        format!("kafka://{}", self.tansu.addr)
    }

    fn streams(&self) -> Vec<Option<(String, i32)>> {
        self.topics
            .iter()
            .flat_map(|t| (0..KAFKA_PARTITIONS).map(move |p| Some((t.clone(), p))))
            .collect()
    }

    async fn received(&self) -> Vec<Arrival> {
        let mut out = Vec::new();
        for t in &self.topics {
            for (p, key, value) in self.tansu.records(t).await {
                out.push(Arrival {
                    stream: Some((t.clone(), p)),
                    topic: Some(t.clone()),
                    resolved: key.is_none(),
                    key,
                    value,
                });
            }
        }
        out
    }

    fn unreachable_uri(&self, _check: &str) -> Option<String> {
        Some(format!(
            "kafka://127.0.0.1:{}",
            cloud::testing::closed_port()
        ))
    }

    /// A second broker, killed once the sink has connected to it.
    async fn gone_after_open(&self, topics: &[String]) -> Option<Box<dyn Sink>> {
        let broker = Tansu::start().await?;
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = open_sink(
            &format!("kafka://{}", broker.addr),
            &self.options(),
            topics,
            &ctx(dir.path()),
        )
        .await
        .unwrap_or_else(|e| panic!("open_sink: {e}"));
        drop(broker);
        Some(sink)
    }
}

/// A webhook endpoint over HTTPS (its CA trusted through `ca_cert`). It carries neither
/// topic nor key apart from the value; a batch is `{"payload":[…],"length":N}`, a deletion
/// the JSON `null` in it, a resolved message a request whose body is the message.
struct Webhook {
    hook: TlsHook,
    /// Requests received before the current scope.
    since: usize,
}

impl Destination for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn options(&self) -> ChangefeedOptions {
        opts(
            &[("webhook_sink_config", Some(BATCHING))],
            SinkKind::Webhook,
        )
    }

    async fn scope(&mut self, _check: &str, _topics: &[String]) -> String {
        self.since = self.hook.bodies.lock().len();
        self.hook
            .uri(&[("ca_cert", &base64(self.hook.ca_pem.as_bytes()))])
    }

    fn streams(&self) -> Vec<Option<(String, i32)>> {
        vec![None]
    }

    async fn received(&self) -> Vec<Arrival> {
        let bodies = self.hook.bodies.lock()[self.since..].to_vec();
        let mut out = Vec::new();
        for body in bodies {
            let arrival = |value: Option<Vec<u8>>, resolved| Arrival {
                stream: None,
                topic: None,
                key: None,
                value,
                resolved,
            };
            match webhook_batch(&body) {
                Some(msgs) => out.extend(
                    msgs.into_iter()
                        .map(|m| arrival((m != "null").then(|| m.as_bytes().to_vec()), false)),
                ),
                None => out.push(arrival(Some(body.into_bytes()), true)),
            }
        }
        out
    }

    fn unreachable_uri(&self, _check: &str) -> Option<String> {
        Some(format!(
            "webhook-https://127.0.0.1:{}/hook",
            cloud::testing::closed_port()
        ))
    }
}

/// The messages of a webhook batch body `{"payload":[m1,m2,…],"length":N}`, as sent; `None`
/// for any other body.
fn webhook_batch(body: &str) -> Option<Vec<&str>> {
    let inner = body.strip_prefix("{\"payload\":[")?;
    let (inner, length) = inner.rsplit_once("],\"length\":")?;
    let n: usize = length.strip_suffix('}')?.parse().ok()?;
    // Split at the commas outside strings, objects and arrays.
    let mut msgs = Vec::new();
    let (mut depth, mut in_string, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' if !in_string => depth += 1,
            '}' | ']' if !in_string => depth -= 1,
            ',' if !in_string && depth == 0 => {
                msgs.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.is_empty() {
        msgs.push(&inner[start..]);
    }
    assert_eq!(msgs.len(), n, "webhook body length: {body}");
    Some(msgs)
}

/// Cloud storage (`s3://` on SeaweedFS, or `nodelocal://`), one directory per check with
/// `partition_format=flat`. Files are read in name order, which the sink makes emit order;
/// a data file carries its topic in its name and one message per line, a deletion as a
/// `null` line; a resolved message is a `.RESOLVED` file.
struct CloudStorage {
    name: &'static str,
    /// The storage URI of a directory, from its path.
    base: Box<dyn Fn(&str) -> String>,
    /// What `nodelocal://1` is (the sink context's directory), kept.
    dir: tempfile::TempDir,
    current: String,
    /// Keeps a storage server running.
    _server: Option<cloud::testing::S3Server>,
    /// An S3 endpoint that cannot be reached.
    unreachable: Option<String>,
}

impl CloudStorage {
    fn storage_uri(&self, check: &str) -> String {
        (self.base)(check)
    }
}

fn with_param(uri: &str, param: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{param}")
}

impl Destination for CloudStorage {
    fn name(&self) -> &'static str {
        self.name
    }

    fn options(&self) -> ChangefeedOptions {
        opts(&[], SinkKind::CloudStorage)
    }

    fn context_dir(&self) -> Option<&Path> {
        Some(self.dir.path())
    }

    async fn scope(&mut self, check: &str, _topics: &[String]) -> String {
        self.current = self.storage_uri(check);
        with_param(&self.current, "partition_format=flat")
    }

    fn streams(&self) -> Vec<Option<(String, i32)>> {
        vec![None]
    }

    async fn received(&self) -> Vec<Arrival> {
        let storage =
            cloud::open(&self.current, &ctx(self.dir.path()).storage).expect("open storage");
        let mut names = storage.list("", None).await.expect("list");
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let name = name.trim_start_matches('/');
            let body = storage.get(name).await.expect("get");
            if name.ends_with(".RESOLVED") {
                out.push(Arrival {
                    stream: None,
                    topic: None,
                    key: None,
                    value: Some(body.to_vec()),
                    resolved: true,
                });
                continue;
            }
            let topic = data_file_topic(name);
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                out.push(Arrival {
                    stream: None,
                    topic: Some(topic.clone()),
                    key: None,
                    value: (line != b"null").then(|| line.to_vec()),
                    resolved: false,
                });
            }
        }
        out
    }

    fn unreachable_uri(&self, check: &str) -> Option<String> {
        self.unreachable
            .as_ref()
            .map(|endpoint| format!("s3://b/{check}?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=s&AWS_ENDPOINT={endpoint}&AWS_REGION=us-east-1"))
    }
}

/// The topic in a data file name
/// `<ts33>-<session>-<node>-<sink id>-<file id>-<topic>-<schema id>.ndjson`.
fn data_file_topic(name: &str) -> String {
    let stem = name
        .strip_suffix(".ndjson")
        .unwrap_or_else(|| panic!("not a data file: {name}"));
    let rest = stem.splitn(6, '-').nth(5).unwrap_or_default();
    let (topic, _schema) = rest
        .rsplit_once('-')
        .unwrap_or_else(|| panic!("no topic in {name}"));
    topic.to_string()
}

/// `null://`: nothing arrives anywhere, so the read-back is empty by definition. Checks 1–3
/// and the delivery halves of 4 and 5 can only show that emitting, flushing and resolving
/// succeed; the refusal after close (5) and the quick empty flush (4) apply in full. Check 6
/// does not apply: there is no destination to be unreachable.
struct Null;

impl Destination for Null {
    fn name(&self) -> &'static str {
        "null"
    }

    fn options(&self) -> ChangefeedOptions {
        opts(&[], SinkKind::Null)
    }

    fn delivers(&self) -> bool {
        false
    }

    async fn scope(&mut self, _check: &str, _topics: &[String]) -> String {
        "null://".into()
    }

    fn streams(&self) -> Vec<Option<(String, i32)>> {
        Vec::new()
    }

    async fn received(&self) -> Vec<Arrival> {
        Vec::new()
    }

    fn unreachable_uri(&self, _check: &str) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn kafka() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    run_suite(Kafka {
        tansu,
        topics: Vec::new(),
    })
    .await;
}

#[tokio::test]
async fn webhook() {
    run_suite(Webhook {
        hook: TlsHook::start(false).await,
        since: 0,
    })
    .await;
}

#[tokio::test]
async fn cloud_storage_s3() {
    let Some(s3) = cloud::testing::SeaweedFs::start().await else {
        return;
    };
    let base = s3.uri(&s3.bucket, "");
    let unreachable = format!("http://127.0.0.1:{}", cloud::testing::closed_port());
    run_suite(CloudStorage {
        name: "cloud storage (s3)",
        base: Box::new(move |check| {
            let (path, query) = base.split_once('?').unwrap_or((&base, ""));
            format!("{}/{check}?{query}", path.trim_end_matches('/'))
        }),
        dir: tempfile::tempdir().expect("tempdir"),
        current: String::new(),
        _server: Some(s3),
        unreachable: Some(unreachable),
    })
    .await;
}

/// `nodelocal://1` is the sink context's own directory: check 6 does not apply (no network
/// between the sink and its files).
#[tokio::test]
async fn cloud_storage_nodelocal() {
    run_suite(CloudStorage {
        name: "cloud storage (nodelocal)",
        base: Box::new(|check| format!("nodelocal://1/{check}")),
        dir: tempfile::tempdir().expect("tempdir"),
        current: String::new(),
        _server: None,
        unreachable: None,
    })
    .await;
}

#[tokio::test]
async fn null() {
    run_suite(Null).await;
}

/// The webhook batch parser splits at top-level commas only.
#[test]
fn webhook_batches_split() {
    assert_eq!(
        webhook_batch(r#"{"payload":[{"a": [1, 2], "s": "x,\"]"},null],"length":2}"#),
        Some(vec![r#"{"a": [1, 2], "s": "x,\"]"}"#, "null"])
    );
    assert_eq!(webhook_batch(r#"{"resolved":"1.0"}"#), None);
}
