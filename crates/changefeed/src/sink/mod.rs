//! Sinks: where a changefeed's messages go.
//!
//! [`Sink`] is the one seam. An aggregator emits rows into its own sink and, before it reports
//! a span resolved, calls [`Sink::flush`], which returns only once the destination has
//! acknowledged every row emitted so far. The change frontier emits resolved messages through
//! a sink of its own. Every sink buffers a bounded amount: when the buffer is full,
//! [`Sink::emit_row`] waits for the destination, so a slow sink slows its aggregator (and the
//! rangefeeds behind it) instead of filling memory.
//!
//! [`open_sink`] picks the implementation from the URI scheme:
//!
//! | scheme | sink |
//! |---|---|
//! | `kafka://host:port?topic_prefix=&topic_name=&tls_enabled=&sasl_enabled=…` | [`kafka::KafkaSink`] |
//! | `webhook-https://…`, `webhook-http://…` | [`webhook::WebhookSink`] |
//! | `s3://`, `gs://`, `azure://`, `nodelocal://`, `http(s)://` | [`cloudstorage::CloudStorageSink`] |
//! | `null://` | [`NullSink`] |
//! | `external://name` | whatever connection `name` holds |
//!
//! The Kafka and webhook sinks read their TLS parameters (`ca_cert`, `client_cert`,
//! `client_key`, `insecure_tls_skip_verify`) and build their rustls configuration in one
//! place, [`tls`].

pub mod cloudstorage;
pub mod kafka;
pub mod tls;
pub mod webhook;

use base::Timestamp;
use base::errcode::{self, CodedError};
use futures::future::BoxFuture;

use crate::options::{ChangefeedOptions, SinkKind};

/// What went wrong in a sink.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The sink URI or its parameters are wrong; retrying will not help.
    #[error("{0}")]
    Invalid(String),
    /// The sink URI asks for something Sextant does not do: `unimplemented: <what>`.
    #[error("unimplemented: {0}")]
    Unimplemented(String),
    /// The destination could not be reached or refused the messages (retryable).
    #[error("{0}")]
    Unavailable(String),
}

impl SinkError {
    /// The error as the client sees it: an `unimplemented: …` refusal has SQLSTATE 0A000.
    pub fn to_client(&self) -> CodedError {
        match self {
            SinkError::Invalid(m) => CodedError::new(errcode::INVALID_PARAMETER_VALUE, m.clone()),
            SinkError::Unimplemented(what) => CodedError::unimplemented(what),
            SinkError::Unavailable(m) => CodedError::new(errcode::CONNECTION_FAILURE, m.clone()),
        }
    }
}

/// `e` with its causes, `outer: inner: innermost`, as CockroachDB prints a wrapped error: a
/// reqwest error alone says only "error sending request for url (...)", the cause says
/// "Connection refused (os error 111)". A cause whose text the message already holds (some
/// errors repeat their source in their own text) is not repeated.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// A future returned by a sink.
pub type SinkFuture<'a> = BoxFuture<'a, Result<(), SinkError>>;

/// A destination for changefeed messages.
///
/// Once [`Sink::close`] has returned `Ok`, the sink is closed: [`Sink::emit_row`],
/// [`Sink::flush`] and [`Sink::emit_resolved`] send nothing and return
/// [`SinkError::Invalid`] (`… sink is closed`), and a second `close` returns `Ok` at once.
/// A `close` whose flush fails returns the error and leaves the sink open.
pub trait Sink: Send {
    /// Buffers one row message for `topic`. Waits while the buffer is full.
    fn emit_row<'a>(
        &'a mut self,
        topic: &'a str,
        key: &'a [u8],
        value: Option<&'a [u8]>,
        ts: Timestamp,
    ) -> SinkFuture<'a>;

    /// Returns once every row emitted so far has been acknowledged by the destination.
    fn flush(&mut self) -> SinkFuture<'_>;

    /// Flushes, then sends the resolved message `payload` for `ts` (to every partition of
    /// every topic, or as a `.RESOLVED` file).
    fn emit_resolved<'a>(&'a mut self, ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a>;

    /// Flushes and releases the connection; the sink is closed from then on.
    fn close(&mut self) -> SinkFuture<'_>;
}

/// The error a closed sink of kind `kind` (`kafka`, `webhook`, …) returns when used.
pub(crate) fn closed(kind: &str) -> SinkError {
    SinkError::Invalid(format!("{kind} sink is closed"))
}

/// `Err(closed(kind))` when `is_closed`.
pub(crate) fn check_open(is_closed: bool, kind: &str) -> Result<(), SinkError> {
    if is_closed { Err(closed(kind)) } else { Ok(()) }
}

/// A sink that discards everything (`null://`).
#[derive(Debug, Default)]
pub struct NullSink {
    closed: bool,
}

impl Sink for NullSink {
    fn emit_row<'a>(
        &'a mut self,
        _: &'a str,
        _: &'a [u8],
        _: Option<&'a [u8]>,
        _: Timestamp,
    ) -> SinkFuture<'a> {
        let r = check_open(self.closed, "null");
        Box::pin(async { r })
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        let r = check_open(self.closed, "null");
        Box::pin(async { r })
    }

    fn emit_resolved<'a>(&'a mut self, _: Timestamp, _: &'a [u8]) -> SinkFuture<'a> {
        let r = check_open(self.closed, "null");
        Box::pin(async { r })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        self.closed = true;
        Box::pin(async { Ok(()) })
    }
}

/// What a sink needs to know about where it runs.
#[derive(Clone)]
pub struct SinkContext {
    /// External storage: this node, its external IO directory, external connections.
    pub storage: cloud::StorageContext,
    /// The job (0 for sinkless feeds); part of cloud storage file names.
    pub job_id: u64,
    /// Which sink of the job this is (aggregator index; the frontier uses `u32::MAX`).
    pub sink_id: u32,
}

/// The scheme of a sink URI, lower-cased, without `://`; `None` when there is none.
pub fn scheme(uri: &str) -> Option<String> {
    uri.split_once("://").map(|(s, _)| s.to_lowercase())
}

/// Resolves `external://name[/path]` to the connection's URI (with `path` appended to a
/// cloud storage URI); other URIs come back unchanged.
pub fn resolve_external(uri: &str, ctx: &SinkContext) -> Result<String, SinkError> {
    if scheme(uri).as_deref() != Some("external") {
        return Ok(uri.to_string());
    }
    const PREFIX: &str = "external://";
    let rest = uri
        .get(..PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(PREFIX))
        .and_then(|_| uri.get(PREFIX.len()..))
        .ok_or_else(|| {
            SinkError::Invalid(format!(
                "malformed external connection URI {:?}: want external://<name>[/<path>]",
                redact_sink_uri(uri)
            ))
        })?;
    let (name, path) = rest.split_once('/').unwrap_or((rest, ""));
    let target = ctx.storage.connections.resolve(name).ok_or_else(|| {
        // The name as written may carry a user info (`external://user:password@name`).
        let shown = redact_sink_uri(&format!("{PREFIX}{name}"));
        let shown = shown.strip_prefix(PREFIX).unwrap_or_default();
        SinkError::Invalid(format!("external connection \"{shown}\" does not exist"))
    })?;
    if path.is_empty() {
        return Ok(target);
    }
    let kind = sink_kind(&target)?;
    if kind != SinkKind::CloudStorage {
        return Err(SinkError::Invalid(format!(
            "external connection \"{name}\" is not a storage location: a path cannot be added"
        )));
    }
    let (base, query) = target.split_once('?').unwrap_or((&target, ""));
    let joined = format!("{}/{}", base.trim_end_matches('/'), path);
    Ok(if query.is_empty() {
        joined
    } else {
        format!("{joined}?{query}")
    })
}

/// The kind of sink a (resolved) URI names. Deprecated `experimental-<scheme>` forms are
/// refused with CockroachDB's hint.
pub fn sink_kind(uri: &str) -> Result<SinkKind, SinkError> {
    let Some(s) = scheme(uri) else {
        return Err(SinkError::Invalid(format!(
            "unsupported sink: {}",
            redact_sink_uri(uri)
        )));
    };
    Ok(match s.as_str() {
        "kafka" => SinkKind::Kafka,
        "webhook-https" | "webhook-http" => SinkKind::Webhook,
        "s3" | "gs" | "azure" | "nodelocal" | "http" | "https" => SinkKind::CloudStorage,
        "null" => SinkKind::Null,
        "external" => SinkKind::CloudStorage,
        other if let Some(s) = other.strip_prefix("experimental-") => {
            return Err(SinkError::Invalid(format!(
                "{other} is no longer experimental, use {s}://"
            )));
        }
        "gcpubsub" => {
            return Err(SinkError::Unimplemented(
                "gcpubsub sinks are not supported".into(),
            ));
        }
        other => return Err(SinkError::Invalid(format!("unsupported sink: {other}"))),
    })
}

/// The kind of sink, resolving `external://` first.
pub fn resolved_sink_kind(uri: &str, ctx: &SinkContext) -> Result<SinkKind, SinkError> {
    sink_kind(&resolve_external(uri, ctx)?)
}

/// The URI with its password and the value of every secret parameter replaced by `redacted`
/// (`sasl_password`, `client_key`, `ca_cert`, the storages' keys..., matched percent-decoded and
/// without regard to case), as SHOW CHANGEFEED JOBS, job descriptions and errors show it:
/// [`base::redact::redact_uri`], the one redaction of every URI.
pub fn redact_sink_uri(uri: &str) -> String {
    base::redact::redact_uri(uri)
}

/// Splits `a=b&c=d` into decoded pairs.
pub(crate) fn query_params(uri: &str) -> Vec<(String, String)> {
    let Some((_, q)) = uri.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (as a space) in a query component.
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Rejects query parameters a sink does not know, as CockroachDB does
/// (`unknown sink query parameters: foo`).
pub(crate) fn check_params(params: &[(String, String)], known: &[&str]) -> Result<(), SinkError> {
    let unknown: Vec<&str> = params
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(SinkError::Invalid(format!(
        "unknown sink query parameters: {}",
        unknown.join(", ")
    )))
}

/// Opens the sink `uri` names for a feed with options `opts` watching `topics`. Connects
/// where the scheme needs a connection (Kafka: brokers reachable and topics present or
/// created), so a bad sink fails here, at CREATE CHANGEFEED time.
pub async fn open_sink(
    uri: &str,
    opts: &ChangefeedOptions,
    topics: &[String],
    ctx: &SinkContext,
) -> Result<Box<dyn Sink>, SinkError> {
    let resolved = resolve_external(uri, ctx)?;
    match sink_kind(&resolved)? {
        SinkKind::Kafka => Ok(Box::new(
            kafka::KafkaSink::connect(&resolved, opts, topics).await?,
        )),
        SinkKind::Webhook => Ok(Box::new(webhook::WebhookSink::new(&resolved, opts)?)),
        SinkKind::CloudStorage => Ok(Box::new(cloudstorage::CloudStorageSink::open(
            &resolved, opts, ctx,
        )?)),
        SinkKind::Null => Ok(Box::new(NullSink::default())),
        SinkKind::Sinkless => Err(SinkError::Invalid("no sink URI".into())),
    }
}

/// The topic a table's messages go to: the table name (`db.schema.table` with
/// `full_table_name`), with the sink's `topic_prefix`, or `topic_name` for every table.
pub fn topic_for(uri: &str, table: &str, full_name: &str, opts: &ChangefeedOptions) -> String {
    let params = query_params(uri);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    if let Some(name) = get("topic_name") {
        return name;
    }
    let base = if opts.full_table_name {
        full_name
    } else {
        table
    };
    format!("{}{base}", get("topic_prefix").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets() {
        assert_eq!(
            redact_sink_uri("kafka://h:9092?topic_prefix=x&sasl_password=secret&sasl_user=u"),
            "kafka://h:9092?topic_prefix=x&sasl_password=redacted&sasl_user=u"
        );
        assert_eq!(
            redact_sink_uri("webhook-https://user:pw@host/path?insecure_tls_skip_verify=true"),
            "webhook-https://user:redacted@host/path?insecure_tls_skip_verify=true"
        );
        assert_eq!(
            redact_sink_uri("s3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=s"),
            "s3://b/p?AWS_ACCESS_KEY_ID=a&AWS_SECRET_ACCESS_KEY=redacted"
        );
    }

    /// Security review: a percent-encoded key is decoded and used as the password, but was
    /// shown unredacted.
    #[test]
    fn redacts_percent_encoded_secret_keys() {
        let uri = "kafka://h:9092?sasl_enabled=true&sasl_user=u&sasl%5Fpassword=s3cr3t-pw";
        assert!(
            query_params(uri).contains(&("sasl_password".into(), "s3cr3t-pw".into())),
            "the sink reads it as the password"
        );
        let shown = redact_sink_uri(uri);
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert!(shown.contains("sasl%5Fpassword=redacted"), "{shown}");
    }

    /// Security review: `azure_client_secret` was not on the changefeed's secret list.
    #[test]
    fn redacts_azure_client_secrets() {
        for key in ["azure_client_secret", "AZURE_CLIENT_SECRET"] {
            let uri = format!(
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_CLIENT_ID=i&AZURE_TENANT_ID=t&{key}=s3cr3t"
            );
            let shown = redact_sink_uri(&uri);
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.contains(&format!("{key}=redacted")), "{shown}");
        }
    }

    #[test]
    fn error_chains() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        #[derive(Debug, thiserror::Error)]
        #[error("repeats: {0}")]
        struct Repeats(#[source] std::io::Error);
        let refused = || std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(error_chain(&Outer(refused())), "outer: refused");
        assert_eq!(error_chain(&Repeats(refused())), "repeats: refused");
    }

    #[test]
    fn kinds() {
        assert_eq!(sink_kind("kafka://h:1"), Ok(SinkKind::Kafka));
        assert_eq!(sink_kind("webhook-http://h/x"), Ok(SinkKind::Webhook));
        assert_eq!(sink_kind("nodelocal://1/x"), Ok(SinkKind::CloudStorage));
        assert_eq!(sink_kind("null://"), Ok(SinkKind::Null));
        assert_eq!(
            sink_kind("experimental-s3://b/p"),
            Err(SinkError::Invalid(
                "experimental-s3 is no longer experimental, use s3://".into()
            ))
        );
        assert!(sink_kind("foo://x").is_err());
        assert!(sink_kind("nothing").is_err());
    }

    #[test]
    fn decodes_params() {
        assert_eq!(
            query_params("kafka://h?topic_prefix=a%2Fb&x=1+2&y"),
            vec![
                ("topic_prefix".to_string(), "a/b".to_string()),
                ("x".to_string(), "1 2".to_string()),
                ("y".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn topics() {
        let o = ChangefeedOptions::default();
        assert_eq!(topic_for("kafka://h", "t", "d.public.t", &o), "t");
        assert_eq!(
            topic_for("kafka://h?topic_prefix=p_", "t", "d.public.t", &o),
            "p_t"
        );
        assert_eq!(
            topic_for("kafka://h?topic_name=all", "t", "d.public.t", &o),
            "all"
        );
        let full = ChangefeedOptions {
            full_table_name: true,
            ..ChangefeedOptions::default()
        };
        assert_eq!(
            topic_for("kafka://h", "t", "d.public.t", &full),
            "d.public.t"
        );
    }
}
