//! The Kafka sink: `kafka://host:port[?topic_prefix=…&topic_name=…]`.
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
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use super::{Sink, SinkError, SinkFuture, check_params, error_chain, query_params};
use crate::options::{ChangefeedOptions, FlushConfig};

/// Messages buffered across partitions before `emit_row` waits for the broker.
pub const MAX_BUFFERED: usize = 1024;
/// How long broker requests are retried before the sink reports the broker unavailable.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(5);
/// Partitions of a topic the sink creates.
pub const CREATED_TOPIC_PARTITIONS: i32 = 1;
/// The URI parameters the Kafka sink knows.
const PARAMS: &[&str] = &["topic_prefix", "topic_name"];

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
    _client: Arc<Client>,
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

impl KafkaSink {
    /// Connects to the broker in `uri` and makes sure every topic exists.
    pub async fn connect(
        uri: &str,
        opts: &ChangefeedOptions,
        topics: &[String],
    ) -> Result<KafkaSink, SinkError> {
        check_params(&query_params(uri), PARAMS)?;
        let rest = &uri["kafka://".len()..];
        let host = rest.split(['?', '/']).next().unwrap_or("");
        if host.is_empty() {
            return Err(SinkError::Invalid(format!(
                "kafka sink URI {uri:?} has no broker address"
            )));
        }
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
        let mut builder = ClientBuilder::new(vec![host.to_string()]).backoff_config(backoff);
        if let Some(id) = &opts.kafka.client_id {
            builder = builder.client_id(id.as_str());
        }
        let client = tokio::time::timeout(REQUEST_DEADLINE, builder.build())
            .await
            .map_err(|_| {
                unavailable("client has run out of available brokers to talk to (Is your cluster reachable?)")
            })?
            .map_err(|e| {
                unavailable(format!(
                    "client has run out of available brokers to talk to (Is your cluster \
                     reachable?): {}",
                    error_chain(&e)
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
            _client: client,
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
                    p.client
                        .produce(batch, Compression::NoCompression)
                        .await
                        .map_err(|e| unavailable(error_chain(&e)))?;
                }
            }
        }
        self.buffered = 0;
        self.buffered_bytes = 0;
        self.last_flush = Instant::now();
        Ok(())
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
                    p.client
                        .produce(
                            vec![record(None, Some(payload), ts)],
                            Compression::NoCompression,
                        )
                        .await
                        .map_err(|e| unavailable(error_chain(&e)))?;
                }
            }
            Ok(())
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(self.flush_all())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
