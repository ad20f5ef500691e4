//! The Kafka sink: `kafka://host:port[?topic_prefix=…&topic_name=…&tls_enabled=…&sasl_enabled=…]`.
//!
//! [`parse_uri`] reads the URI into a [`KafkaDial`]: the broker, TLS (`tls_enabled=true`, with
//! the shared [`tls`](super::tls) parameters `ca_cert`, `client_cert`, `client_key`,
//! `insecure_tls_skip_verify`) and SASL (`sasl_enabled=true`, `sasl_user`, `sasl_password`,
//! `sasl_mechanism` = `PLAIN` (the default), `SCRAM-SHA-256` or `SCRAM-SHA-512`). A TLS or
//! SASL parameter without its `…_enabled=true` is an error, as in CockroachDB, and so is
//! SASL without a user or password. The rustls configuration and the SASL credentials go to
//! rskafka's client builder, which uses them on every broker connection: the handshake and
//! the authentication happen while [`KafkaSink::connect`] reaches the bootstrap broker, so a
//! wrong CA or password fails CREATE CHANGEFEED with the cause (`kafka: TLS handshake
//! failed: … invalid peer certificate: UnknownIssuer`, `kafka: SASL authentication failed:
//! …`). The password is never part of an error or of [`KafkaDial`]'s `Debug`; SHOW
//! CHANGEFEED JOBS redacts it and the keys ([`redact_sink_uri`](super::redact_sink_uri)).
//!
//! One topic per table (see [`topic_for`](super::topic_for)). [`KafkaSink::connect`] reaches
//! the broker, lists the topics and creates the missing ones explicitly (one partition each,
//! like Kafka's `num.partitions` default). A row goes to partition
//! `fnv1a32(key) mod partitions`, sarama's hash partitioner that CockroachDB uses, so one
//! key's versions stay in one partition, in order. Rows are buffered per partition and
//! produced when the buffer reaches `kafka_sink_config`'s `Flush.Messages` / `Flush.Bytes`,
//! when `Flush.Frequency` has passed, when [`MAX_BUFFERED`] messages wait (back-pressure),
//! or on [`Sink::flush`]. Resolved messages go to every partition of every topic with no key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base::Timestamp;
use rskafka::BackoffConfig;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, Credentials, SaslConfig};
use rskafka::record::Record;

use super::tls::{self, TlsParams, param, parse_bool};
use super::{Sink, SinkError, SinkFuture, check_open, check_params, error_chain, query_params};
use crate::options::{ChangefeedOptions, FlushConfig};

/// Messages buffered across partitions before `emit_row` waits for the broker.
pub const MAX_BUFFERED: usize = 1024;
/// How long broker requests are retried before the sink reports the broker unavailable.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// How much longer than [`REQUEST_DEADLINE`] the first connection may take before the sink
/// gives up without rskafka's own account of the failure.
const CONNECT_SLACK: Duration = Duration::from_secs(2);
/// How long one produce request may take in all. rskafka's retry deadline counts only the
/// backoff sleeps of one retry loop, and a request to a broker that has gone away runs nested
/// loops (metadata lookup, then connect, each with its own deadline) inside every attempt, so
/// without this bound a flush to a broker lost after the sink connected did not fail for
/// well over 20 s.
pub const PRODUCE_DEADLINE: Duration = Duration::from_secs(7);
/// Sarama's words for a cluster that could not be reached, which CockroachDB passes on.
const NO_BROKERS: &str =
    "client has run out of available brokers to talk to (Is your cluster reachable?)";
/// Partitions of a topic the sink creates.
pub const CREATED_TOPIC_PARTITIONS: i32 = 1;
/// The URI parameters the Kafka sink knows, besides [`tls::PARAMS`].
const PARAMS: &[&str] = &[
    "topic_prefix",
    "topic_name",
    "tls_enabled",
    "sasl_enabled",
    "sasl_user",
    "sasl_password",
    "sasl_mechanism",
];

/// How a SASL client proves who it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN`: user and password in the clear (use it over TLS).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
}

impl SaslMechanism {
    /// The mechanism `sasl_mechanism` names (case-insensitively).
    pub fn parse(v: &str) -> Result<SaslMechanism, SinkError> {
        match v.to_uppercase().as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Err(SinkError::Unimplemented(
                "sasl_mechanism OAUTHBEARER is not supported".into(),
            )),
            _ => Err(SinkError::Invalid(format!(
                "param sasl_mechanism must be one of PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, \
                 not {v:?}"
            ))),
        }
    }
}

/// SASL credentials of a Kafka sink.
#[derive(Clone, PartialEq, Eq)]
pub struct Sasl {
    /// `sasl_mechanism` (default `PLAIN`).
    pub mechanism: SaslMechanism,
    /// `sasl_user`.
    pub user: String,
    /// `sasl_password`. Never printed.
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl")
            .field("mechanism", &self.mechanism)
            .field("user", &self.user)
            .field("password", &"redacted")
            .finish()
    }
}

impl Sasl {
    /// rskafka's form of these credentials.
    fn config(&self) -> SaslConfig {
        let c = Credentials::new(self.user.clone(), self.password.clone());
        match self.mechanism {
            SaslMechanism::Plain => SaslConfig::Plain(c),
            SaslMechanism::ScramSha256 => SaslConfig::ScramSha256(c),
            SaslMechanism::ScramSha512 => SaslConfig::ScramSha512(c),
        }
    }
}

/// Where and how a Kafka sink connects, as its URI says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaDial {
    /// The bootstrap broker, `host:port`.
    pub broker: String,
    /// TLS settings, with `tls_enabled=true`.
    pub tls: Option<TlsParams>,
    /// SASL credentials, with `sasl_enabled=true`.
    pub sasl: Option<Sasl>,
}

/// Reads a `kafka://` URI. Pure: nothing is contacted.
pub fn parse_uri(uri: &str) -> Result<KafkaDial, SinkError> {
    let params = query_params(uri);
    let known: Vec<&str> = PARAMS.iter().chain(tls::PARAMS).copied().collect();
    check_params(&params, &known)?;
    let rest = uri.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['?', '/']).next().unwrap_or("");
    // A user info (`kafka://user:password@broker`) is not the broker's address, and holds no
    // credentials Kafka reads (SASL's are parameters); as CockroachDB, it is left out.
    let broker = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if broker.is_empty() {
        return Err(SinkError::Invalid(format!(
            "kafka sink URI {:?} has no broker address",
            super::redact_sink_uri(uri)
        )));
    }
    let get = |k: &str| param(&params, k);
    let flag = |k: &str| get(k).map_or(Ok(false), |v| parse_bool(k, v));

    let tls_params = TlsParams::from_params(&params)?;
    let tls = if flag("tls_enabled")? {
        Some(tls_params)
    } else if let Some(p) = tls_params.first_given() {
        return Err(SinkError::Invalid(format!("{p} requires tls_enabled=true")));
    } else {
        None
    };

    let sasl = if flag("sasl_enabled")? {
        let mechanism =
            get("sasl_mechanism").map_or(Ok(SaslMechanism::Plain), SaslMechanism::parse)?;
        let required = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| {
                    SinkError::Invalid(format!("{k} must be provided when SASL is enabled"))
                })
        };
        Some(Sasl {
            mechanism,
            user: required("sasl_user")?,
            password: required("sasl_password")?,
        })
    } else if let Some(k) = ["sasl_user", "sasl_password", "sasl_mechanism"]
        .into_iter()
        .find(|k| get(k).is_some())
    {
        return Err(SinkError::Invalid(format!(
            "{k} requires sasl_enabled=true"
        )));
    } else {
        None
    };
    Ok(KafkaDial {
        broker: broker.to_string(),
        tls,
        sasl,
    })
}

/// sarama's `NewCustomHashPartitioner(fnv.New32a)`: FNV-1a 32-bit, as a signed remainder made
/// non-negative.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let p = (h as i32) % partitions.max(1);
    p.abs()
}

/// Whether Kafka accepts `name` as a topic name (`[a-zA-Z0-9._-]`, 1 to 249 characters).
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

struct Partition {
    client: PartitionClient,
    buffer: Vec<Record>,
}

/// Messages to a Kafka broker.
pub struct KafkaSink {
    /// The connection; `None` once closed.
    client: Option<Arc<Client>>,
    /// topic → its partitions, by partition number.
    topics: BTreeMap<String, Vec<Partition>>,
    flush: FlushConfig,
    buffered: usize,
    buffered_bytes: usize,
    last_flush: Instant,
}

fn unavailable(e: impl std::fmt::Display) -> SinkError {
    SinkError::Unavailable(format!("kafka: {e}"))
}

/// The error for a failed first connection whose cause chain is `chain`: a refused TLS
/// handshake or SASL authentication is named as such (retrying will not fix either), anything
/// else is the broker being unreachable.
fn connect_error(chain: &str) -> SinkError {
    if chain.contains("Sasl handshake failed") {
        return SinkError::Unavailable(format!("kafka: SASL authentication failed: {chain}"));
    }
    let tls = [
        "invalid peer certificate",
        "peer is incompatible",
        "received fatal alert",
    ];
    if tls.iter().any(|t| chain.contains(t)) {
        return SinkError::Unavailable(format!("kafka: TLS handshake failed: {chain}"));
    }
    unavailable(format!("{NO_BROKERS}: {chain}"))
}

impl KafkaSink {
    /// Connects to the broker in `uri` and makes sure every topic exists.
    pub async fn connect(
        uri: &str,
        opts: &ChangefeedOptions,
        topics: &[String],
    ) -> Result<KafkaSink, SinkError> {
        let dial = parse_uri(uri)?;
        for t in topics {
            if !valid_topic_name(t) {
                return Err(SinkError::Invalid(format!(
                    "kafka: cannot create topic {t:?}: topic names may only contain ASCII \
                     letters, digits, '.', '_' and '-' and be at most 249 characters long"
                )));
            }
        }
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(REQUEST_DEADLINE),
        };
        let mut builder = ClientBuilder::new(vec![dial.broker.clone()]).backoff_config(backoff);
        if let Some(id) = &opts.kafka.client_id {
            builder = builder.client_id(id.as_str());
        }
        if let Some(t) = &dial.tls {
            builder = builder.tls_config(Arc::new(tls::client_config(t)?));
        }
        if let Some(sasl) = &dial.sasl {
            builder = builder.sasl_config(sasl.config());
        }
        // rskafka retries a failed connection until REQUEST_DEADLINE and then returns the last
        // failure; the outer timeout only guards against a broker that never answers.
        let client = tokio::time::timeout(REQUEST_DEADLINE + CONNECT_SLACK, builder.build())
            .await
            .map_err(|_| unavailable(NO_BROKERS))?
            .map_err(|e| {
                let chain = error_chain(&e);
                connect_error(&base::redact::scrub(
                    &chain,
                    &base::redact::uri_secrets(uri),
                ))
            })?;
        let client = Arc::new(client);
        let existing: BTreeMap<String, usize> = client
            .list_topics()
            .await
            .map_err(|e| unavailable(error_chain(&e)))?
            .into_iter()
            .map(|t| (t.name, t.partitions.len()))
            .collect();
        let mut by_topic = BTreeMap::new();
        for t in topics {
            if by_topic.contains_key(t) {
                continue;
            }
            let count = match existing.get(t) {
                Some(n) if *n > 0 => *n as i32,
                _ => {
                    let controller = client
                        .controller_client()
                        .map_err(|e| unavailable(error_chain(&e)))?;
                    controller
                        .create_topic(t.clone(), CREATED_TOPIC_PARTITIONS, 1, 5_000)
                        .await
                        .map_err(|e| {
                            unavailable(format!("cannot create topic {t:?}: {}", error_chain(&e)))
                        })?;
                    CREATED_TOPIC_PARTITIONS
                }
            };
            let mut partitions = Vec::new();
            for p in 0..count {
                let pc = client
                    .partition_client(t.clone(), p, UnknownTopicHandling::Retry)
                    .await
                    .map_err(|e| unavailable(error_chain(&e)))?;
                partitions.push(Partition {
                    client: pc,
                    buffer: Vec::new(),
                });
            }
            by_topic.insert(t.clone(), partitions);
        }
        Ok(KafkaSink {
            client: Some(client),
            topics: by_topic,
            flush: opts.kafka.flush,
            buffered: 0,
            buffered_bytes: 0,
            last_flush: Instant::now(),
        })
    }

    /// The partitions of `topic` (0 when unknown to this sink).
    pub fn partitions(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, Vec::len)
    }

    fn should_flush(&self) -> bool {
        let f = &self.flush;
        self.buffered >= MAX_BUFFERED
            || (f.messages > 0 && self.buffered >= f.messages)
            || (f.bytes > 0 && self.buffered_bytes >= f.bytes)
            || f.frequency.is_some_and(|d| self.last_flush.elapsed() >= d)
            || (f.messages == 0 && f.bytes == 0 && f.frequency.is_none())
    }

    async fn flush_all(&mut self) -> Result<(), SinkError> {
        check_open(self.client.is_none(), "kafka")?;
        let max = if self.flush.max_messages > 0 {
            self.flush.max_messages
        } else {
            usize::MAX
        };
        for partitions in self.topics.values_mut() {
            for p in partitions.iter_mut() {
                while !p.buffer.is_empty() {
                    let n = p.buffer.len().min(max);
                    let batch: Vec<Record> = p.buffer.drain(..n).collect();
                    produce(&p.client, batch).await?;
                }
            }
        }
        self.buffered = 0;
        self.buffered_bytes = 0;
        self.last_flush = Instant::now();
        Ok(())
    }
}

/// Produces `records` to one partition, failing after [`PRODUCE_DEADLINE`].
async fn produce(client: &PartitionClient, records: Vec<Record>) -> Result<(), SinkError> {
    match tokio::time::timeout(
        PRODUCE_DEADLINE,
        client.produce(records, Compression::NoCompression),
    )
    .await
    {
        Ok(r) => r.map(|_| ()).map_err(|e| unavailable(error_chain(&e))),
        Err(_) => Err(unavailable(format!(
            "{NO_BROKERS}: producing to {} partition {} timed out after {PRODUCE_DEADLINE:?}",
            client.topic(),
            client.partition()
        ))),
    }
}

fn record(key: Option<&[u8]>, value: Option<&[u8]>, ts: Timestamp) -> Record {
    let millis = ts.wall / 1_000_000;
    Record {
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: BTreeMap::new(),
        timestamp: chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default(),
    }
}

impl Sink for KafkaSink {
    fn emit_row<'a>(
        &'a mut self,
        topic: &'a str,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        ts: Timestamp,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            check_open(self.client.is_none(), "kafka")?;
            let Some(partitions) = self.topics.get_mut(topic) else {
                return Err(SinkError::Invalid(format!(
                    "kafka: topic {topic:?} is not among this feed's topics"
                )));
            };
            let p = partition_for(key, partitions.len() as i32) as usize;
            let r = record(Some(key), value, ts);
            self.buffered_bytes += r.approximate_size();
            partitions[p].buffer.push(r);
            self.buffered += 1;
            if self.should_flush() {
                self.flush_all().await?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        Box::pin(self.flush_all())
    }

    fn emit_resolved<'a>(&'a mut self, ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a> {
        Box::pin(async move {
            self.flush_all().await?;
            for partitions in self.topics.values() {
                for p in partitions {
                    produce(&p.client, vec![record(None, Some(payload), ts)]).await?;
                }
            }
            Ok(())
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            if self.client.is_none() {
                return Ok(());
            }
            self.flush_all().await?;
            // The partition clients hold the connections too.
            self.topics.clear();
            self.client = None;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dial <uri>`: what [`parse_uri`] makes of a URI, or its client error.
    struct Runner;

    fn describe(d: &KafkaDial) -> String {
        let mut s = format!("broker={}", d.broker);
        match &d.tls {
            None => s.push_str(" tls=off"),
            Some(t) => {
                s.push_str(" tls=on");
                for (name, given) in [
                    ("ca_cert", t.ca_cert.is_some()),
                    ("client_cert", t.client_cert.is_some()),
                    ("client_key", t.client_key.is_some()),
                    ("insecure_tls_skip_verify", t.skip_verify),
                ] {
                    if given {
                        s.push(' ');
                        s.push_str(name);
                    }
                }
            }
        }
        match &d.sasl {
            None => s.push_str(" sasl=off"),
            Some(a) => s.push_str(&format!(" sasl={:?} user={}", a.mechanism, a.user)),
        }
        s
    }

    impl base::testing::GoldenRunner for Runner {
        fn run(
            &mut self,
            command: &goldenscript::Command,
        ) -> Result<String, Box<dyn std::error::Error>> {
            if command.name != "dial" {
                return Err(format!("unknown command {}", command.name).into());
            }
            let mut out = String::new();
            for a in &command.args {
                let goldenscript::Argument::Positional(uri) = a else {
                    return Err("dial takes URIs".into());
                };
                let line = match parse_uri(uri) {
                    Ok(d) => describe(&d),
                    Err(e) => {
                        let c = e.to_client();
                        format!("{}: {}", c.code, c.message)
                    }
                };
                out.push_str(&line);
                out.push('\n');
            }
            Ok(out)
        }
    }

    base::goldenscripts! {
        runner: Runner,
        dir: "src/sink/testdata",
        scripts: [dial = "kafka_dial"],
    }

    #[test]
    fn password_stays_out_of_debug_and_errors() {
        let d = parse_uri("kafka://h:1?sasl_enabled=true&sasl_user=u&sasl_password=hunter2")
            .expect("dial");
        assert!(!format!("{d:?}").contains("hunter2"), "{d:?}");
        let e = parse_uri("kafka://h:1?sasl_password=hunter2").expect_err("no sasl_enabled");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse_uri("kafka://?sasl_password=hunter2").expect_err("no broker");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn connect_errors_name_their_kind() {
        let sasl = connect_error(
            "all retries failed: Retry exceeded deadline. Source: error connecting to broker: \
             Sasl handshake failed: API error: SaslAuthenticationFailed",
        );
        assert!(
            matches!(&sasl, SinkError::Unavailable(m) if m.starts_with("kafka: SASL authentication failed: all retries")),
            "{sasl:?}"
        );
        let tls = connect_error("... invalid peer certificate: UnknownIssuer");
        assert!(
            matches!(&tls, SinkError::Unavailable(m) if m.starts_with("kafka: TLS handshake failed: ")),
            "{tls:?}"
        );
        assert_eq!(
            connect_error("Connection refused (os error 111)"),
            SinkError::Unavailable(format!(
                "kafka: {NO_BROKERS}: Connection refused (os error 111)"
            ))
        );
    }

    #[test]
    fn partitions_like_sarama() {
        // FNV-1a 32 of "" is 0x811c9dc5, negative as an i32: -2128831035 % 2 = -1 → 1.
        assert_eq!(partition_for(b"", 2), 1);
        // FNV-1a 32 of "a" is 0xe40c292c, negative: -468965076 % 7 = -6 → 6.
        assert_eq!(partition_for(b"a", 7), 6);
        for key in [&b"[1]"[..], b"[2]", b"[\"seattle\", 7]"] {
            let p = partition_for(key, 5);
            assert!((0..5).contains(&p));
            assert_eq!(p, partition_for(key, 5), "stable");
        }
        assert_eq!(partition_for(b"[1]", 1), 0);
    }

    #[test]
    fn topic_names() {
        assert!(valid_topic_name("movr.public.vehicles"));
        assert!(valid_topic_name("a-b_c"));
        assert!(!valid_topic_name("bad topic"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name(&"x".repeat(250)));
    }
}
