//! Changefeed options: the `WITH` list of `CREATE CHANGEFEED`, checked and turned into
//! [`ChangefeedOptions`].
//!
//! [`parse_options`] is pure: it takes the options as written (`name`, optional text value),
//! rejects unknown names, values of the wrong shape and combinations CockroachDB v23.1
//! rejects, with CockroachDB's messages, and answers `unimplemented: …` (0A000) for the
//! options Sextant parses but does not carry out. What depends on the sink (envelopes only
//! some sinks take, fields forced on by others) is checked by
//! [`ChangefeedOptions::validate_for_sink`] once the sink URI is known. Timestamps
//! (`cursor`, `end_time`) stay text here and are read against the statement time by
//! [`parse_timestamp`].

use std::collections::BTreeMap;
use std::time::Duration;

use base::Timestamp;
use base::errcode::{self, CodedError};
use locality::LocalityFilter;
use serde::{Deserialize, Serialize};

/// Default `min_checkpoint_frequency` (CockroachDB's `30s`).
pub const DEFAULT_MIN_CHECKPOINT_FREQUENCY: Duration = Duration::from_secs(30);
/// Default `webhook_client_timeout` (CockroachDB's `3s`).
pub const DEFAULT_WEBHOOK_CLIENT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default number of webhook retries after a failed request (CockroachDB's `Retry.Max`).
pub const DEFAULT_WEBHOOK_RETRY_MAX: u32 = 3;
/// Default first webhook retry backoff; it doubles up to [`MAX_WEBHOOK_BACKOFF`].
pub const DEFAULT_WEBHOOK_BACKOFF: Duration = Duration::from_millis(500);
/// The largest webhook retry backoff.
pub const MAX_WEBHOOK_BACKOFF: Duration = Duration::from_secs(30);

/// How a row change is laid out in a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Envelope {
    /// `{"after": {...}}` plus the requested fields (the default for table feeds).
    #[default]
    Wrapped,
    /// The row's columns at top level plus `__crdb__` metadata (the default for CDC queries).
    Bare,
    /// Only the key; no value (Kafka and sinkless feeds only).
    KeyOnly,
    /// Only the row's columns (Kafka and sinkless feeds only).
    Row,
}

impl Envelope {
    /// The option value naming this envelope.
    pub fn name(self) -> &'static str {
        match self {
            Envelope::Wrapped => "wrapped",
            Envelope::Bare => "bare",
            Envelope::KeyOnly => "key_only",
            Envelope::Row => "row",
        }
    }
}

/// What a feed does before watching changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum InitialScan {
    /// Emit every row as of the start time, then changes (the default without `cursor`).
    #[default]
    Yes,
    /// Only changes after the start time (the default with `cursor`).
    No,
    /// Emit every row as of the start time, then finish.
    Only,
}

/// What happens when a watched table's schema changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SchemaChangePolicy {
    /// Re-emit every row in the new schema (the default).
    #[default]
    Backfill,
    /// Carry on in the new schema without re-emitting.
    NoBackfill,
    /// Fail with `schema change occurred at <ts>` once the data before the change is out.
    Stop,
}

/// What a sink error does to the job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnError {
    /// Fail the job (the default).
    #[default]
    Fail,
    /// Pause the job; RESUME retries.
    Pause,
}

/// `resolved` messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resolved {
    /// None.
    #[default]
    Off,
    /// `resolved` without a value: as often as checkpoints allow.
    Default,
    /// `resolved='10s'`: no more often than this.
    Every(Duration),
}

/// File and body compression (cloud storage and webhook sinks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// gzip; cloud storage file names get a `.gz` suffix.
    Gzip,
}

/// When a sink flushes its buffered messages (`Flush` in `kafka_sink_config` and
/// `webhook_sink_config`). Zero fields mean "no limit of that kind".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlushConfig {
    /// Flush once this many messages are buffered (0: no count trigger).
    pub messages: usize,
    /// Flush once this many bytes are buffered (0: no size trigger).
    pub bytes: usize,
    /// Flush buffered messages at least this often (`None`: only on the other triggers and
    /// on explicit flushes).
    pub frequency: Option<Duration>,
    /// Never send more than this many messages in one request (0: no cap).
    pub max_messages: usize,
}

/// `kafka_sink_config`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KafkaSinkConfig {
    /// Batching.
    pub flush: FlushConfig,
    /// `ClientID` sent to the broker.
    pub client_id: Option<String>,
}

/// `webhook_sink_config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookSinkConfig {
    /// Batching.
    pub flush: FlushConfig,
    /// Retries after a failed request (5xx, timeout, connection error).
    pub retry_max: u32,
    /// The first retry delay; doubles up to [`MAX_WEBHOOK_BACKOFF`].
    pub retry_backoff: Duration,
}

impl Default for WebhookSinkConfig {
    fn default() -> Self {
        WebhookSinkConfig {
            flush: FlushConfig::default(),
            retry_max: DEFAULT_WEBHOOK_RETRY_MAX,
            retry_backoff: DEFAULT_WEBHOOK_BACKOFF,
        }
    }
}

/// The checked options of one changefeed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangefeedOptions {
    /// `envelope`.
    pub envelope: Envelope,
    /// `updated`: add the commit timestamp.
    pub updated: bool,
    /// `resolved`.
    pub resolved: Resolved,
    /// `min_checkpoint_frequency`: how often progress is checkpointed, and so the fastest
    /// resolved messages come.
    pub min_checkpoint_frequency: Duration,
    /// `diff`: add the previous row as `before`.
    pub diff: bool,
    /// `key_in_value` (forced on for cloud storage and webhook sinks).
    pub key_in_value: bool,
    /// `topic_in_value` (forced on for webhook sinks).
    pub topic_in_value: bool,
    /// `full_table_name`: topics are `db.schema.table`.
    pub full_table_name: bool,
    /// `mvcc_timestamp`: add the row's MVCC timestamp.
    pub mvcc_timestamp: bool,
    /// `initial_scan` and its legacy forms.
    pub initial_scan: InitialScan,
    /// `cursor`, as written.
    pub cursor: Option<String>,
    /// `end_time`, as written.
    pub end_time: Option<String>,
    /// `schema_change_policy`.
    pub schema_change_policy: SchemaChangePolicy,
    /// `on_error`.
    pub on_error: OnError,
    /// `execution_locality`; `None` when not given.
    pub execution_locality: Option<LocalityFilter>,
    /// `kafka_sink_config`.
    pub kafka: KafkaSinkConfig,
    /// `webhook_sink_config`.
    pub webhook: WebhookSinkConfig,
    /// `webhook_auth_header`: the `Authorization` header value.
    pub webhook_auth_header: Option<String>,
    /// `webhook_client_timeout`.
    pub webhook_client_timeout: Duration,
    /// `compression`.
    pub compression: Option<Compression>,
    /// Options as written (name → value), for the job record and SHOW CHANGEFEED JOBS.
    pub written: BTreeMap<String, Option<String>>,
    /// NOTICEs to return with the statement result.
    pub notices: Vec<String>,
}

impl Default for ChangefeedOptions {
    fn default() -> Self {
        ChangefeedOptions {
            envelope: Envelope::Wrapped,
            updated: false,
            resolved: Resolved::Off,
            min_checkpoint_frequency: DEFAULT_MIN_CHECKPOINT_FREQUENCY,
            diff: false,
            key_in_value: false,
            topic_in_value: false,
            full_table_name: false,
            mvcc_timestamp: false,
            initial_scan: InitialScan::Yes,
            cursor: None,
            end_time: None,
            schema_change_policy: SchemaChangePolicy::Backfill,
            on_error: OnError::Fail,
            execution_locality: None,
            kafka: KafkaSinkConfig::default(),
            webhook: WebhookSinkConfig::default(),
            webhook_auth_header: None,
            webhook_client_timeout: DEFAULT_WEBHOOK_CLIENT_TIMEOUT,
            compression: None,
            written: BTreeMap::new(),
            notices: Vec::new(),
        }
    }
}

/// Whether an option is a flag, needs a value, or may have one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Flag,
    Value,
    Either,
}

/// Every option name CockroachDB v23.1 knows, with its shape.
const KNOWN: &[(&str, Shape)] = &[
    ("avro_schema_prefix", Shape::Value),
    ("compression", Shape::Value),
    ("confluent_schema_registry", Shape::Value),
    ("cursor", Shape::Value),
    ("diff", Shape::Flag),
    ("end_time", Shape::Value),
    ("envelope", Shape::Value),
    ("execution_locality", Shape::Value),
    ("format", Shape::Value),
    ("full_table_name", Shape::Flag),
    ("gc_protect_expires_after", Shape::Value),
    ("initial_scan", Shape::Either),
    ("initial_scan_only", Shape::Flag),
    ("kafka_sink_config", Shape::Value),
    ("key_column", Shape::Value),
    ("key_in_value", Shape::Flag),
    ("lagging_ranges_threshold", Shape::Value),
    ("lagging_ranges_polling_interval", Shape::Value),
    ("metrics_label", Shape::Value),
    ("min_checkpoint_frequency", Shape::Value),
    ("mvcc_timestamp", Shape::Flag),
    ("no_initial_scan", Shape::Flag),
    ("on_error", Shape::Value),
    ("protect_data_from_gc_on_pause", Shape::Flag),
    ("resolved", Shape::Either),
    ("schema_change_events", Shape::Value),
    ("schema_change_policy", Shape::Value),
    ("split_column_families", Shape::Flag),
    ("topic_in_value", Shape::Flag),
    ("unordered", Shape::Flag),
    ("updated", Shape::Flag),
    ("virtual_columns", Shape::Value),
    ("webhook_auth_header", Shape::Value),
    ("webhook_client_timeout", Shape::Value),
    ("webhook_sink_config", Shape::Value),
];

/// True for an option name CockroachDB v23.1 knows (ALTER CHANGEFEED ... UNSET checks it).
pub fn is_known_option(name: &str) -> bool {
    KNOWN.iter().any(|(n, _)| *n == name)
}

/// Options Sextant knows but does not carry out: `unimplemented: …`.
const UNSUPPORTED: &[&str] = &[
    "avro_schema_prefix",
    "confluent_schema_registry",
    "gc_protect_expires_after",
    "key_column",
    "lagging_ranges_threshold",
    "lagging_ranges_polling_interval",
    "metrics_label",
    "protect_data_from_gc_on_pause",
    "split_column_families",
    "unordered",
];

/// Options `initial_scan='only'` cannot be combined with (CockroachDB's
/// `InitialScanOnlyUnsupportedOptions`).
const INITIAL_SCAN_ONLY_CONFLICTS: &[&str] =
    &["end_time", "resolved", "diff", "mvcc_timestamp", "updated"];

fn invalid(message: impl Into<String>) -> CodedError {
    CodedError::new(errcode::INVALID_PARAMETER_VALUE, message)
}

fn syntax(message: impl Into<String>) -> CodedError {
    CodedError::new(errcode::SYNTAX_ERROR, message)
}

/// Checks the options as written and builds [`ChangefeedOptions`]. `cdc_query` is true for
/// `CREATE CHANGEFEED ... AS SELECT`, whose default envelope is `bare`.
pub fn parse_options(
    written: &[(String, Option<String>)],
    cdc_query: bool,
) -> Result<ChangefeedOptions, CodedError> {
    let seen = written_options(written)?;
    let mut o = ChangefeedOptions {
        envelope: if cdc_query {
            Envelope::Bare
        } else {
            Envelope::Wrapped
        },
        ..ChangefeedOptions::default()
    };
    apply_format_and_envelope(&seen, &mut o)?;
    let has = |k: &str| seen.contains_key(k);
    o.updated = has("updated");
    o.diff = has("diff");
    o.key_in_value = has("key_in_value");
    o.topic_in_value = has("topic_in_value");
    o.full_table_name = has("full_table_name");
    o.mvcc_timestamp = has("mvcc_timestamp");
    apply_resolved(&seen, &mut o)?;
    apply_scan_bounds(&seen, &mut o)?;
    apply_policies(&seen, &mut o)?;
    apply_sink_options(&seen, &mut o)?;
    check_envelope_fields(&o)?;
    o.written = seen;
    Ok(o)
}

/// The options as written, by lower-cased name: each must be known, have a value or not as
/// its [`Shape`] says, be written once and be supported.
fn written_options(
    written: &[(String, Option<String>)],
) -> Result<BTreeMap<String, Option<String>>, CodedError> {
    let mut seen: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (name, value) in written {
        let name = name.to_lowercase();
        let Some((_, shape)) = KNOWN.iter().find(|(k, _)| *k == name) else {
            return Err(invalid(format!("invalid option {name:?}")));
        };
        match (shape, value) {
            (Shape::Flag, Some(_)) => {
                return Err(invalid(format!("option {name:?} does not take a value")));
            }
            (Shape::Value, None) => {
                return Err(invalid(format!("option {name:?} requires a value")));
            }
            _ => {}
        }
        if seen.insert(name.clone(), value.clone()).is_some() {
            return Err(invalid(format!("option {name:?} specified multiple times")));
        }
    }
    for name in UNSUPPORTED {
        if seen.contains_key(*name) {
            return Err(CodedError::unimplemented(format!(
                "changefeed option {name} is not supported"
            )));
        }
    }
    Ok(seen)
}

/// The value option `k` was written with, if any.
fn option_value<'a>(seen: &'a BTreeMap<String, Option<String>>, k: &str) -> Option<&'a str> {
    seen.get(k).and_then(|v| v.as_deref())
}

/// `format` (JSON only) and `envelope`, which replaces the default in `o`.
fn apply_format_and_envelope(
    seen: &BTreeMap<String, Option<String>>,
    o: &mut ChangefeedOptions,
) -> Result<(), CodedError> {
    if let Some(v) = option_value(seen, "format") {
        match v.to_lowercase().as_str() {
            "json" => {}
            "avro" | "experimental_avro" | "csv" | "parquet" => {
                return Err(CodedError::unimplemented(format!("format={v}")));
            }
            _ => return Err(invalid(format!("unknown format: {v}"))),
        }
    }
    if let Some(v) = option_value(seen, "envelope") {
        o.envelope = match v.to_lowercase().as_str() {
            "wrapped" => Envelope::Wrapped,
            "bare" => Envelope::Bare,
            "key_only" => Envelope::KeyOnly,
            "row" | "deprecated_row" => Envelope::Row,
            "enriched" => return Err(CodedError::unimplemented("envelope=enriched")),
            _ => return Err(invalid(format!("unknown envelope: {v}"))),
        };
    }
    Ok(())
}

/// `resolved` and `min_checkpoint_frequency`, with a notice when resolved timestamps are
/// asked for more often than checkpoints can emit them.
fn apply_resolved(
    seen: &BTreeMap<String, Option<String>>,
    o: &mut ChangefeedOptions,
) -> Result<(), CodedError> {
    if seen.contains_key("resolved") {
        o.resolved = match option_value(seen, "resolved") {
            None | Some("") => Resolved::Default,
            Some(v) => Resolved::Every(non_negative_duration("resolved", v)?),
        };
    }
    if let Some(v) = option_value(seen, "min_checkpoint_frequency") {
        o.min_checkpoint_frequency = non_negative_duration("min_checkpoint_frequency", v)?;
    }
    if let Resolved::Every(d) = o.resolved
        && d < o.min_checkpoint_frequency
    {
        let which = if seen.contains_key("min_checkpoint_frequency") {
            "min_checkpoint_frequency"
        } else {
            "the default min_checkpoint_frequency"
        };
        o.notices.push(format!(
            "resolved ({}) messages will not be emitted more frequently than {which} ({}), \
             but may be emitted less frequently",
            format_duration(d),
            format_duration(o.min_checkpoint_frequency)
        ));
    }
    Ok(())
}

/// Where the feed starts and ends: the initial scan, `cursor` (which skips the initial
/// scan unless one is asked for) and `end_time`; `initial_scan='only'` refuses the options
/// of a feed that keeps running.
fn apply_scan_bounds(
    seen: &BTreeMap<String, Option<String>>,
    o: &mut ChangefeedOptions,
) -> Result<(), CodedError> {
    let has = |k: &str| seen.contains_key(k);
    o.initial_scan = initial_scan(seen)?;
    o.cursor = option_value(seen, "cursor").map(str::to_string);
    o.end_time = option_value(seen, "end_time").map(str::to_string);
    if o.cursor.is_some() && !has("initial_scan") && !has("initial_scan_only") {
        o.initial_scan = InitialScan::No;
    }
    if o.initial_scan == InitialScan::Only {
        for name in INITIAL_SCAN_ONLY_CONFLICTS {
            if has(name) {
                return Err(invalid(format!(
                    "cannot specify both initial_scan='only' and {name}"
                )));
            }
        }
    }
    Ok(())
}

/// How the feed behaves: `schema_change_events`, `schema_change_policy`, `on_error`,
/// `virtual_columns` and `execution_locality`.
fn apply_policies(
    seen: &BTreeMap<String, Option<String>>,
    o: &mut ChangefeedOptions,
) -> Result<(), CodedError> {
    if let Some(v) = option_value(seen, "schema_change_events") {
        match v.to_lowercase().as_str() {
            "default" => {}
            "column_changes" => {
                return Err(CodedError::unimplemented(
                    "schema_change_events=column_changes",
                ));
            }
            _ => return Err(invalid(format!("unknown schema_change_events: {v}"))),
        }
    }
    if let Some(v) = option_value(seen, "schema_change_policy") {
        o.schema_change_policy = match v.to_lowercase().as_str() {
            "backfill" => SchemaChangePolicy::Backfill,
            "nobackfill" => SchemaChangePolicy::NoBackfill,
            "stop" => SchemaChangePolicy::Stop,
            "ignore" => return Err(CodedError::unimplemented("schema_change_policy=ignore")),
            _ => return Err(invalid(format!("unknown schema_change_policy: {v}"))),
        };
    }
    if let Some(v) = option_value(seen, "on_error") {
        o.on_error = match v.to_lowercase().as_str() {
            "fail" => OnError::Fail,
            "pause" => OnError::Pause,
            _ => {
                return Err(invalid(format!(
                    "unknown on_error: {v}, valid values are 'pause' and 'fail'"
                )));
            }
        };
    }
    if let Some(v) = option_value(seen, "virtual_columns") {
        match v.to_lowercase().as_str() {
            "omitted" => {}
            "null" => return Err(CodedError::unimplemented("virtual_columns=null")),
            _ => return Err(invalid(format!("unknown virtual_columns: {v}"))),
        }
    }
    if let Some(v) = option_value(seen, "execution_locality") {
        let filter = LocalityFilter::parse(v).map_err(|e| invalid(e.to_string()))?;
        o.execution_locality = Some(filter);
    }
    Ok(())
}

/// The sink's options: `compression`, `kafka_sink_config`, `webhook_sink_config`,
/// `webhook_auth_header` and `webhook_client_timeout` (which must be above zero).
fn apply_sink_options(
    seen: &BTreeMap<String, Option<String>>,
    o: &mut ChangefeedOptions,
) -> Result<(), CodedError> {
    if let Some(v) = option_value(seen, "compression") {
        o.compression = match v.to_lowercase().as_str() {
            "gzip" => Some(Compression::Gzip),
            "zstd" => return Err(CodedError::unimplemented("compression=zstd")),
            _ => {
                return Err(invalid(format!(
                    "unknown compression: {v}, valid values are 'gzip' and 'zstd'"
                )));
            }
        };
    }
    if let Some(v) = option_value(seen, "kafka_sink_config") {
        o.kafka = parse_kafka_config(v)?;
    }
    if let Some(v) = option_value(seen, "webhook_sink_config") {
        o.webhook = parse_webhook_config(v)?;
    }
    o.webhook_auth_header = option_value(seen, "webhook_auth_header").map(str::to_string);
    if let Some(v) = option_value(seen, "webhook_client_timeout") {
        o.webhook_client_timeout = non_negative_duration("webhook_client_timeout", v)?;
        if o.webhook_client_timeout.is_zero() {
            return Err(invalid(format!(
                "option webhook_client_timeout must be a duration greater than 0: {v}"
            )));
        }
    }
    Ok(())
}

/// `initial_scan='yes|no|only'` or the legacy flags, which cannot be mixed.
fn initial_scan(seen: &BTreeMap<String, Option<String>>) -> Result<InitialScan, CodedError> {
    let new = seen.get("initial_scan");
    let legacy: Vec<&str> = ["initial_scan_only", "no_initial_scan"]
        .into_iter()
        .filter(|k| seen.contains_key(*k))
        .collect();
    if let [a, b] = legacy[..] {
        return Err(invalid(format!("cannot specify both {a} and {b}")));
    }
    match (new, legacy.first()) {
        (Some(Some(v)), Some(l)) => Err(invalid(format!(
            "cannot specify both initial_scan='{v}' and {l}"
        ))),
        (Some(None), Some(l)) => Err(invalid(format!("cannot specify both initial_scan and {l}"))),
        (Some(Some(v)), None) => match v.to_lowercase().as_str() {
            "yes" => Ok(InitialScan::Yes),
            "no" => Ok(InitialScan::No),
            "only" => Ok(InitialScan::Only),
            _ => Err(invalid(format!(
                "unknown initial_scan: {v}, valid values are 'yes', 'no' and 'only'"
            ))),
        },
        (Some(None), None) => Ok(InitialScan::Yes),
        (None, Some(&"initial_scan_only")) => Ok(InitialScan::Only),
        (None, Some(_)) => Ok(InitialScan::No),
        (None, None) => Ok(InitialScan::Yes),
    }
}

/// Fields only some envelopes can carry.
fn check_envelope_fields(o: &ChangefeedOptions) -> Result<(), CodedError> {
    if o.diff && o.envelope != Envelope::Wrapped {
        return Err(invalid("diff is only usable with envelope=wrapped"));
    }
    if matches!(o.envelope, Envelope::Row | Envelope::KeyOnly) {
        for (set, name) in [
            (o.updated, "updated"),
            (o.key_in_value, "key_in_value"),
            (o.topic_in_value, "topic_in_value"),
            (o.mvcc_timestamp, "mvcc_timestamp"),
        ] {
            if set {
                return Err(invalid(format!(
                    "{name} is only usable with envelope=wrapped or envelope=bare"
                )));
            }
        }
    }
    Ok(())
}

/// The kind of sink a URI names, for the checks that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkKind {
    /// `kafka://`.
    Kafka,
    /// `webhook-https://`, `webhook-http://`.
    Webhook,
    /// `s3://`, `gs://`, `azure://`, `nodelocal://`, `http(s)://`, or `external://` pointing at one.
    CloudStorage,
    /// `null://`.
    Null,
    /// No sink: rows go back to the client.
    Sinkless,
}

impl ChangefeedOptions {
    /// Checks the options against the sink and forces the fields some sinks always carry
    /// (`key_in_value` for cloud storage and webhooks, `topic_in_value` for webhooks).
    pub fn validate_for_sink(&mut self, sink: SinkKind) -> Result<(), CodedError> {
        if matches!(self.envelope, Envelope::KeyOnly | Envelope::Row)
            && !matches!(sink, SinkKind::Kafka | SinkKind::Sinkless | SinkKind::Null)
        {
            return Err(invalid(format!(
                "this sink is incompatible with envelope={}",
                self.envelope.name()
            )));
        }
        if self.compression.is_some() && !matches!(sink, SinkKind::CloudStorage | SinkKind::Webhook)
        {
            return Err(invalid(
                "compression is only usable with cloud storage and webhook sinks",
            ));
        }
        for (opt, kind) in [
            ("kafka_sink_config", SinkKind::Kafka),
            ("webhook_sink_config", SinkKind::Webhook),
            ("webhook_auth_header", SinkKind::Webhook),
            ("webhook_client_timeout", SinkKind::Webhook),
        ] {
            if self.written.contains_key(opt) && sink != kind && sink != SinkKind::Null {
                return Err(invalid(format!(
                    "this sink is incompatible with option {opt}"
                )));
            }
        }
        if matches!(sink, SinkKind::CloudStorage | SinkKind::Webhook)
            && matches!(self.envelope, Envelope::Wrapped | Envelope::Bare)
        {
            self.key_in_value = true;
        }
        if sink == SinkKind::Webhook && matches!(self.envelope, Envelope::Wrapped | Envelope::Bare)
        {
            self.topic_in_value = true;
        }
        Ok(())
    }

    /// How often resolved messages may go out, if at all: the `resolved` interval, but never
    /// more often than `min_checkpoint_frequency`.
    pub fn resolved_interval(&self) -> Option<Duration> {
        match self.resolved {
            Resolved::Off => None,
            Resolved::Default => Some(self.min_checkpoint_frequency),
            Resolved::Every(d) => Some(d.max(self.min_checkpoint_frequency)),
        }
    }
}

fn non_negative_duration(name: &str, v: &str) -> Result<Duration, CodedError> {
    if v.trim_start().starts_with('-') {
        return Err(invalid(format!(
            "negative durations are not accepted: {name}='{v}'"
        )));
    }
    parse_duration(v).ok_or_else(|| invalid(format!("time: invalid duration \"{v}\"")))
}

/// Parses a Go duration (`10s`, `1m30s`, `500ms`, `1.5h`, `0`), as CockroachDB reads
/// `resolved` and `min_checkpoint_frequency`. `None` when malformed or negative.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s == "0" {
        return Some(Duration::ZERO);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let (number, after) = rest.split_at_checked(num_len)?;
        let n: f64 = number.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at_checked(unit_len)?;
        let nanos = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = after;
        total += n * nanos;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

/// A duration the way Go prints it (`10s`, `1m30s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let nanos = d.as_nanos();
    if nanos < 1_000_000_000 {
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = d.subsec_nanos();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{frac:09}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// Reads `cursor` / `end_time` against the statement time `now`: a decimal HLC timestamp
/// (`1700000000000000000.0000000001`), nanoseconds since the epoch, a negative duration or
/// interval relative to `now` (`-10s`, `'-1h'`), or a UTC timestamp
/// (`2023-06-01 12:00:00[.ffffff]`, with `T` or a space).
pub fn parse_timestamp(option: &str, v: &str, now: Timestamp) -> Result<Timestamp, CodedError> {
    let bad = || invalid(format!("invalid {option} timestamp: {v:?}"));
    let t = v.trim();
    if let Some(rel) = t.strip_prefix('-') {
        let d = parse_duration(rel).ok_or_else(bad)?;
        let wall = now
            .wall
            .checked_sub(i64::try_from(d.as_nanos()).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        return Ok(Timestamp { wall, logical: 0 });
    }
    if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !t.is_empty() {
        let (wall, logical) = t.split_once('.').unwrap_or((t, ""));
        let wall: i64 = wall.parse().map_err(|_| bad())?;
        let logical: u32 = if logical.is_empty() {
            0
        } else {
            if logical.len() > 10 {
                return Err(bad());
            }
            let padded = format!("{logical:0<10}");
            padded.parse().map_err(|_| bad())?
        };
        return Ok(Timestamp { wall, logical });
    }
    let normalized = t.replace('T', " ");
    let normalized = normalized.trim_end_matches('Z').trim_end_matches("+00:00");
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"] {
        let parsed = chrono::NaiveDateTime::parse_from_str(normalized, fmt).or_else(|e| {
            chrono::NaiveDate::parse_from_str(normalized, fmt)
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                .map_err(|_| e)
        });
        if let Ok(dt) = parsed {
            let wall = dt.and_utc().timestamp_nanos_opt().ok_or_else(bad)?;
            return Ok(Timestamp { wall, logical: 0 });
        }
    }
    Err(bad())
}

/// Parses a JSON sink config object and checks every key is known.
fn config_object(
    option: &str,
    v: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, CodedError> {
    match serde_json::from_str::<serde_json::Value>(v) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid(format!("{option}: expected a JSON object"))),
        Err(e) => Err(syntax(format!("failed to parse {option}: {e}"))),
    }
}

fn unknown_field(option: &str, field: &str) -> CodedError {
    invalid(format!("{option}: unknown field {field:?}"))
}

fn json_count(option: &str, field: &str, v: &serde_json::Value) -> Result<usize, CodedError> {
    v.as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            invalid(format!(
                "{option}: {field} must be a non-negative integer, got {v}"
            ))
        })
}

fn json_duration(option: &str, field: &str, v: &serde_json::Value) -> Result<Duration, CodedError> {
    v.as_str().and_then(parse_duration).ok_or_else(|| {
        invalid(format!(
            "{option}: {field} must be a duration such as \"1s\", got {v}"
        ))
    })
}

fn parse_flush(option: &str, v: &serde_json::Value) -> Result<FlushConfig, CodedError> {
    let serde_json::Value::Object(m) = v else {
        return Err(invalid(format!("{option}: Flush must be a JSON object")));
    };
    let mut f = FlushConfig::default();
    for (k, v) in m {
        match k.as_str() {
            "Messages" => f.messages = json_count(option, "Flush.Messages", v)?,
            "Bytes" => f.bytes = json_count(option, "Flush.Bytes", v)?,
            "MaxMessages" => f.max_messages = json_count(option, "Flush.MaxMessages", v)?,
            "Frequency" => f.frequency = Some(json_duration(option, "Flush.Frequency", v)?),
            other => return Err(unknown_field(option, &format!("Flush.{other}"))),
        }
    }
    Ok(f)
}

/// A sink config's `Flush` thresholds need a `Frequency`: a batch that never reaches its
/// message or byte count would otherwise never be sent.
fn check_flush(option: &str, f: &FlushConfig) -> Result<(), CodedError> {
    if (f.messages > 0 || f.bytes > 0) && f.frequency.is_none() {
        return Err(invalid(format!(
            "{option}: Flush.Messages or Flush.Bytes needs Flush.Frequency, or messages may \
             never be sent"
        )));
    }
    Ok(())
}

/// `kafka_sink_config`: `{"Flush": {"Messages", "Bytes", "Frequency", "MaxMessages"},
/// "ClientID", "RequiredAcks"}`.
pub fn parse_kafka_config(v: &str) -> Result<KafkaSinkConfig, CodedError> {
    const OPT: &str = "kafka_sink_config";
    let mut c = KafkaSinkConfig::default();
    for (k, v) in config_object(OPT, v)? {
        match k.as_str() {
            "Flush" => c.flush = parse_flush(OPT, &v)?,
            "ClientID" => {
                c.client_id = Some(
                    v.as_str()
                        .ok_or_else(|| invalid(format!("{OPT}: ClientID must be a string")))?
                        .to_string(),
                );
            }
            // The producer always waits for every in-sync replica.
            "RequiredAcks" => match v.as_str().map(str::to_uppercase).as_deref() {
                Some("ALL") | Some("-1") => {}
                Some("ONE") | Some("1") | Some("NONE") | Some("0") => {
                    return Err(CodedError::unimplemented(format!(
                        "{OPT} RequiredAcks={v}: the Kafka sink always waits for all replicas"
                    )));
                }
                _ => return Err(invalid(format!("{OPT}: invalid RequiredAcks {v}"))),
            },
            "Version" | "Compression" => {
                return Err(CodedError::unimplemented(format!("{OPT} field {k}")));
            }
            other => return Err(unknown_field(OPT, other)),
        }
    }
    check_flush(OPT, &c.flush)?;
    Ok(c)
}

/// `webhook_sink_config`: `{"Flush": {"Messages", "Bytes", "Frequency"}, "Retry": {"Max",
/// "Backoff"}}`.
pub fn parse_webhook_config(v: &str) -> Result<WebhookSinkConfig, CodedError> {
    const OPT: &str = "webhook_sink_config";
    let mut c = WebhookSinkConfig::default();
    for (k, v) in config_object(OPT, v)? {
        match k.as_str() {
            "Flush" => c.flush = parse_flush(OPT, &v)?,
            "Retry" => {
                let serde_json::Value::Object(m) = v else {
                    return Err(invalid(format!("{OPT}: Retry must be a JSON object")));
                };
                for (k, v) in m {
                    match k.as_str() {
                        "Max" => {
                            c.retry_max = match v.as_str() {
                                Some("inf") => u32::MAX,
                                _ => u32::try_from(json_count(OPT, "Retry.Max", &v)?)
                                    .unwrap_or(u32::MAX),
                            }
                        }
                        "Backoff" => c.retry_backoff = json_duration(OPT, "Retry.Backoff", &v)?,
                        other => return Err(unknown_field(OPT, &format!("Retry.{other}"))),
                    }
                }
            }
            other => return Err(unknown_field(OPT, other)),
        }
    }
    check_flush(OPT, &c.flush)?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error;
    use std::fmt::Write as _;

    /// `parse opt[=value] ...` (`cdc ...` for a CDC query): the checked options or the error.
    /// `sink kind=<kafka|webhook|cloud|null|sinkless> opt ...`: also `validate_for_sink`.
    /// `timestamp option=<name> now=<wall> value=<text>`: [`parse_timestamp`].
    struct Runner;

    fn describe(o: &ChangefeedOptions) -> String {
        let mut s = format!(
            "envelope={} initial_scan={:?} resolved={} min_checkpoint_frequency={} \
             schema_change_policy={:?} on_error={:?}",
            o.envelope.name(),
            o.initial_scan,
            match o.resolved {
                Resolved::Off => "off".to_string(),
                Resolved::Default => "default".to_string(),
                Resolved::Every(d) => format_duration(d),
            },
            format_duration(o.min_checkpoint_frequency),
            o.schema_change_policy,
            o.on_error,
        );
        let flags: Vec<&str> = [
            (o.updated, "updated"),
            (o.diff, "diff"),
            (o.key_in_value, "key_in_value"),
            (o.topic_in_value, "topic_in_value"),
            (o.full_table_name, "full_table_name"),
            (o.mvcc_timestamp, "mvcc_timestamp"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| n)
        .collect();
        if !flags.is_empty() {
            let _ = write!(s, "\nflags: {}", flags.join(" "));
        }
        if let Some(c) = &o.cursor {
            let _ = write!(s, "\ncursor: {c}");
        }
        if let Some(c) = &o.end_time {
            let _ = write!(s, "\nend_time: {c}");
        }
        if let Some(f) = &o.execution_locality {
            let _ = write!(s, "\nexecution_locality: {f}");
        }
        if let Some(c) = o.compression {
            let _ = write!(s, "\ncompression: {c:?}");
        }
        if o.kafka != KafkaSinkConfig::default() {
            let _ = write!(s, "\nkafka: {:?}", o.kafka);
        }
        if o.webhook != WebhookSinkConfig::default() {
            let _ = write!(s, "\nwebhook: {:?}", o.webhook);
        }
        if let Some(h) = &o.webhook_auth_header {
            let _ = write!(s, "\nwebhook_auth_header: {h}");
        }
        if o.webhook_client_timeout != DEFAULT_WEBHOOK_CLIENT_TIMEOUT {
            let _ = write!(
                s,
                "\nwebhook_client_timeout: {}",
                format_duration(o.webhook_client_timeout)
            );
        }
        for n in &o.notices {
            let _ = write!(s, "\nNOTICE: {n}");
        }
        s.push('\n');
        s
    }

    fn kv(args: &[goldenscript::Argument]) -> Vec<(String, Option<String>)> {
        args.iter()
            .map(|a| match a {
                goldenscript::Argument::KeyValue(k, v) => (k.clone(), Some(v.clone())),
                goldenscript::Argument::Positional(v) => (v.clone(), None),
                _ => (String::new(), None),
            })
            .collect()
    }

    fn error_text(e: &CodedError) -> String {
        format!("{}: {}", e.code, e.message)
    }

    fn sink_kind(kind: &str) -> Result<SinkKind, Box<dyn Error>> {
        Ok(match kind {
            "kafka" => SinkKind::Kafka,
            "webhook" => SinkKind::Webhook,
            "cloud" => SinkKind::CloudStorage,
            "null" => SinkKind::Null,
            "sinkless" => SinkKind::Sinkless,
            other => return Err(format!("unknown sink kind {other}").into()),
        })
    }

    impl base::testing::GoldenRunner for Runner {
        fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
            let mut args = kv(&command.args);
            match command.name.as_str() {
                "parse" | "cdc" => {
                    let o =
                        parse_options(&args, command.name == "cdc").map_err(|e| error_text(&e))?;
                    Ok(describe(&o))
                }
                "sink" => {
                    let pos = args
                        .iter()
                        .position(|(k, _)| k == "kind")
                        .ok_or("sink needs kind=")?;
                    let (_, kind) = args.remove(pos);
                    let kind = sink_kind(kind.as_deref().unwrap_or(""))?;
                    let mut o = parse_options(&args, false).map_err(|e| error_text(&e))?;
                    o.validate_for_sink(kind).map_err(|e| error_text(&e))?;
                    Ok(describe(&o))
                }
                "timestamp" => {
                    let get = |k: &str| {
                        args.iter()
                            .find(|(n, _)| n == k)
                            .and_then(|(_, v)| v.clone())
                            .unwrap_or_default()
                    };
                    let now = Timestamp {
                        wall: get("now").parse()?,
                        logical: 0,
                    };
                    let ts = parse_timestamp(&get("option"), &get("value"), now)
                        .map_err(|e| error_text(&e))?;
                    Ok(format!("{}\n", crate::encoder::format_hlc(ts)))
                }
                other => Err(format!("unknown command {other}").into()),
            }
        }
    }

    base::goldenscripts! {
        runner: Runner,
        dir: "src/testdata/options",
        scripts: [options],
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("1x"), None);
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h0m0s");
    }
}
