#![recursion_limit = "256"]
//! Changefeeds: a stream of every committed change to some tables, as JSON messages, into a
//! sink (Kafka, a webhook, cloud storage) or back to the client, as CockroachDB v23.1 does it.
//!
//! # Modules, from the pure ones up
//! - [`options`]: the `WITH` options, checked as CockroachDB checks them (unknown names,
//!   conflicting combinations, sink-specific rules) into [`options::ChangefeedOptions`].
//! - [`encoder`]: keys and values byte for byte as CockroachDB writes them, for every envelope,
//!   plus resolved messages and webhook bodies.
//! - [`frontier`]: the span frontier: resolved timestamps per piece of the watched spans, whose
//!   minimum is the feed's high-water.
//! - [`query`]: CDC queries (`AS SELECT cols FROM t WHERE col op literal AND ...`).
//! - [`sink`]: the [`sink::Sink`] seam (emit with a bounded buffer, flush that returns only once
//!   the destination acknowledged, resolved, close) and its Kafka, webhook, cloud storage and
//!   null implementations, chosen by URI scheme (`external://` resolved first). The Kafka
//!   sink reaches secured brokers as CockroachDB's does: `tls_enabled=true` with `ca_cert`
//!   (base64 PEM, trusted besides the system's roots), `client_cert` + `client_key` (mutual
//!   TLS) or `insecure_tls_skip_verify=true`; `sasl_enabled=true` with `sasl_user`,
//!   `sasl_password` and `sasl_mechanism` (`PLAIN`, the default, `SCRAM-SHA-256`,
//!   `SCRAM-SHA-512`). A TLS or SASL parameter without its `…_enabled=true` is an error; a
//!   refused handshake or password fails CREATE CHANGEFEED with its cause; passwords and keys
//!   are redacted in SHOW CHANGEFEED JOBS and never part of an error. The TLS parameters and
//!   the rustls configuration are shared with the webhook sink (`sink::tls`).
//! - [`job`]: the coordinator's resumer (the change frontier) and the aggregator processor.
//! - [`alter`]: ALTER CHANGEFEED's changes to a paused feed's targets, options and checkpoint.
//! - [`hook`]: the statements: CREATE/EXPERIMENTAL/ALTER CHANGEFEED, and SHOW CHANGEFEED JOBS
//!   rows for the jobs hook.
//!
//! # The life of `CREATE CHANGEFEED FOR TABLE movr.vehicles INTO 'kafka://h:9092' WITH updated`
//! 1. The sql crate parses the statement and calls the hook registered by [`register`]
//!    (`hook::ChangefeedHook`). It checks the options (`options::parse_options`), the sink kind
//!    and what it forces (`ChangefeedOptions::validate_for_sink`), resolves the table, reads
//!    `cursor`/`end_time`, opens the sink once (the broker must answer; topic `vehicles` is
//!    created if missing), and creates a CHANGEFEED job with `execution_locality` through the
//!    jobs registry (no live matching node: `no instances found matching locality filter ...`,
//!    no job). It returns `job_id`.
//! 2. The registry starts `job::ChangefeedResumer` on a matching node. It plans the table's
//!    primary index span by range over the matching nodes (leaseholder first, balanced) and
//!    runs a flow of `changefeed.aggregator` processors.
//! 3. Each aggregator (`job::run_aggregator`) scans its spans at the start time (initial
//!    scan), then follows rangefeeds from the closest replicas; it decodes rows with
//!    `sql::encoding::decode_row`, encodes them (`encoder::Encoder`) once the descriptors are
//!    known unchanged up to their timestamps, emits them to its own sink, and every 200 ms flushes the sink and only then reports its spans' resolved
//!    timestamps to the coordinator.
//! 4. The coordinator's change frontier forwards a `frontier::Frontier`, checkpoints the
//!    high-water (and the spans ahead of it) into the job every `min_checkpoint_frequency`,
//!    sets the job's high-water (SHOW CHANGEFEED JOBS), emits resolved messages to every
//!    partition at the `resolved` interval, and watches the table descriptors for schema
//!    changes (`schema_change_policy`).
//! 5. PAUSE/RESUME, or the coordinator's death, restart the resumer from the checkpoint: every
//!    change after the high-water is emitted again, so delivery is at least once, and a key's
//!    versions are first delivered in commit order.

pub mod alter;
pub mod encoder;
pub mod frontier;
pub mod hook;
pub mod job;
pub mod options;
pub mod query;
pub mod sink;

pub use hook::{register, show_changefeed_jobs};
