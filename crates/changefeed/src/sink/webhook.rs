//! The webhook sink: `webhook-https://host/path` (and `webhook-http://`).
//!
//! Rows are batched and sent as one `POST` with `Content-Type: application/json` and the body
//! `{"payload":[<msg>, …],"length":N}`; a resolved message is its own `POST` whose body is the
//! message. Without `webhook_sink_config.Flush` every message is its own request; with it, a
//! batch goes out at `Messages` messages, `Bytes` bytes, or once `Frequency` has passed (and
//! always on [`Sink::flush`]). Requests are sent one at a time, so a key's versions arrive in
//! order, and a request that fails (a non-2xx answer, a timeout after
//! `webhook_client_timeout`, a refused connection) is retried `Retry.Max` times with a backoff
//! starting at `Retry.Backoff` and doubling up to 30 s. While a request is outstanding
//! nothing else is sent and, once [`MAX_BUFFERED`] messages wait, `emit_row` waits too.
//!
//! URI parameters: `ca_cert` (base64 PEM of a CA to trust), `insecure_tls_skip_verify`,
//! `client_cert` and `client_key` (base64 PEM, for mutual TLS), read and turned into the
//! client's rustls configuration by [`tls`](super::tls), as for the Kafka sink (without them,
//! reqwest's own configuration with the platform's verifier). `webhook_auth_header` is sent
//! as `Authorization`; `compression=gzip` gzips bodies (`Content-Encoding: gzip`).

use std::io::Write as _;
use std::time::{Duration, Instant};

use base::Timestamp;

use super::tls::{self, TlsParams};
use super::{Sink, SinkError, SinkFuture, check_open, check_params, error_chain, query_params};
use crate::encoder::webhook_body;
use crate::options::{ChangefeedOptions, Compression, FlushConfig, MAX_WEBHOOK_BACKOFF};

/// Messages buffered before `emit_row` waits for the endpoint.
pub const MAX_BUFFERED: usize = 1024;

/// Messages to an HTTP endpoint.
pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    /// `url` as errors may print it: with a password in it redacted.
    redactions: Vec<(String, String)>,
    /// The secrets of the sink URI and the `Authorization` header, scrubbed from messages.
    secrets: Vec<String>,
    auth: Option<String>,
    gzip: bool,
    flush: FlushConfig,
    retry_max: u32,
    retry_backoff: Duration,
    buffer: Vec<Vec<u8>>,
    buffered_bytes: usize,
    last_flush: Instant,
    closed: bool,
}

/// The texts of `url` (as given and as parsed) that hold a password, each with its redacted
/// form.
fn redactions(url: &str, parsed: &reqwest::Url) -> Vec<(String, String)> {
    if parsed.password().is_none() {
        return Vec::new();
    }
    let mut out = vec![(url.to_string(), super::redact_sink_uri(url))];
    let mut redacted = parsed.clone();
    if redacted.set_password(Some("redacted")).is_ok() {
        out.push((parsed.as_str().to_string(), redacted.as_str().to_string()));
    }
    out
}

impl WebhookSink {
    /// A sink posting to `uri`. No request is made yet.
    pub fn new(uri: &str, opts: &ChangefeedOptions) -> Result<WebhookSink, SinkError> {
        let params = query_params(uri);
        check_params(&params, tls::PARAMS)?;
        let (scheme, rest) = uri.split_once("://").ok_or_else(|| {
            SinkError::Invalid(format!(
                "invalid webhook URI {:?}",
                super::redact_sink_uri(uri)
            ))
        })?;
        let http = match scheme.to_lowercase().as_str() {
            "webhook-https" => "https",
            "webhook-http" => "http",
            other => return Err(SinkError::Invalid(format!("not a webhook scheme: {other}"))),
        };
        let path = rest.split('?').next().unwrap_or("");
        let url = format!("{http}://{path}");
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| SinkError::Invalid(format!("invalid webhook URI: {e}")))?;
        let redactions = redactions(&url, &parsed);
        let mut secrets = base::redact::uri_secrets(uri);
        secrets.extend(opts.webhook_auth_header.clone());

        let mut builder = reqwest::Client::builder()
            .timeout(opts.webhook_client_timeout)
            .connect_timeout(opts.webhook_client_timeout);
        let tls_params = TlsParams::from_params(&params)?;
        if tls_params.is_set() {
            builder = builder.tls_backend_preconfigured(tls::client_config(&tls_params)?);
        }
        let client = builder
            .build()
            .map_err(|e| SinkError::Invalid(format!("webhook client: {}", error_chain(&e))))?;
        Ok(WebhookSink {
            client,
            url,
            redactions,
            secrets,
            auth: opts.webhook_auth_header.clone(),
            gzip: opts.compression == Some(Compression::Gzip),
            flush: opts.webhook.flush,
            retry_max: opts.webhook.retry_max,
            retry_backoff: opts.webhook.retry_backoff,
            buffer: Vec::new(),
            buffered_bytes: 0,
            last_flush: Instant::now(),
            closed: false,
        })
    }

    /// `msg` with every form of the URL that holds a password replaced by its redacted form,
    /// and any secret of the URI or the `Authorization` header left scrubbed. (reqwest sends a
    /// URL's `user:password` as basic auth and drops it from the URL its errors print; this
    /// holds whatever a future version prints.)
    fn redact(&self, mut msg: String) -> String {
        for (plain, redacted) in &self.redactions {
            msg = msg.replace(plain, redacted);
        }
        base::redact::scrub(&msg, &self.secrets)
    }

    fn should_flush(&self) -> bool {
        let f = &self.flush;
        self.buffer.len() >= MAX_BUFFERED
            || (f.messages > 0 && self.buffer.len() >= f.messages)
            || (f.bytes > 0 && self.buffered_bytes >= f.bytes)
            || f.frequency.is_some_and(|d| self.last_flush.elapsed() >= d)
            || (f.messages == 0 && f.bytes == 0 && f.frequency.is_none())
    }

    async fn flush_all(&mut self) -> Result<(), SinkError> {
        check_open(self.closed, "webhook")?;
        let max = if self.flush.max_messages > 0 {
            self.flush.max_messages
        } else {
            usize::MAX
        };
        while !self.buffer.is_empty() {
            let n = self.buffer.len().min(max);
            let body = {
                let msgs: Vec<&[u8]> = self.buffer[..n].iter().map(Vec::as_slice).collect();
                webhook_body(&msgs)
            };
            self.post(body).await?;
            self.buffer.drain(..n);
        }
        self.buffered_bytes = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Posts one body, retrying failures with backoff.
    async fn post(&self, body: Vec<u8>) -> Result<(), SinkError> {
        let body = if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&body)
                .and_then(|_| enc.finish())
                .map_err(|e| SinkError::Unavailable(format!("gzip: {e}")))?
        } else {
            body
        };
        let mut backoff = self.retry_backoff;
        let mut attempt = 0u32;
        loop {
            let mut req = self
                .client
                .post(&self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(a) = &self.auth {
                req = req.header(reqwest::header::AUTHORIZATION, a);
            }
            if self.gzip {
                req = req.header(reqwest::header::CONTENT_ENCODING, "gzip");
            }
            let err = match req.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    format!("{status}: {}", text.trim())
                }
                Err(e) => self.redact(error_chain(&e)),
            };
            if attempt >= self.retry_max {
                return Err(SinkError::Unavailable(format!(
                    "webhook sink: {err} (after {attempt} retries)"
                )));
            }
            attempt += 1;
            tracing::debug!(attempt, %err, "webhook request failed; retrying");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_WEBHOOK_BACKOFF);
        }
    }
}

impl Sink for WebhookSink {
    fn emit_row<'a>(
        &'a mut self,
        _topic: &'a str,
        _key: &'a [u8],
        value: Option<&'a [u8]>,
        _ts: Timestamp,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            check_open(self.closed, "webhook")?;
            let value = value.unwrap_or(b"null").to_vec();
            self.buffered_bytes += value.len();
            self.buffer.push(value);
            if self.should_flush() {
                self.flush_all().await?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        Box::pin(self.flush_all())
    }

    fn emit_resolved<'a>(&'a mut self, _ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a> {
        Box::pin(async move {
            self.flush_all().await?;
            self.post(payload.to_vec()).await
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            if self.closed {
                return Ok(());
            }
            self.flush_all().await?;
            self.closed = true;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A refused connection is reported with its cause, and a password in the URL is not.
    #[tokio::test]
    async fn errors_name_their_cause_without_credentials() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let o = ChangefeedOptions::default();
        let mut sink = WebhookSink::new(
            &format!("webhook-http://alice:hunter2@127.0.0.1:{port}/hook"),
            &o,
        )
        .expect("sink");
        sink.retry_max = 0;
        let err = sink.post(b"{}".to_vec()).await.expect_err("closed port");
        let SinkError::Unavailable(msg) = err else {
            panic!("{err:?}")
        };
        assert!(
            msg.starts_with("webhook sink: error sending request for url ("),
            "{msg}"
        );
        assert!(msg.contains("Connection refused"), "{msg}");
        assert!(msg.ends_with("(after 0 retries)"), "{msg}");
        assert!(!msg.contains("hunter2"), "{msg}");
    }

    #[test]
    fn redacts_the_url_in_messages() {
        let o = ChangefeedOptions::default();
        let sink = WebhookSink::new("webhook-https://alice:hunter2@h/x", &o).expect("sink");
        assert_eq!(
            sink.redact("error for url (https://alice:hunter2@h/x)".into()),
            "error for url (https://alice:redacted@h/x)"
        );
    }

    #[test]
    fn uris() {
        let o = ChangefeedOptions::default();
        assert!(WebhookSink::new("webhook-https://example.com/hook", &o).is_ok());
        assert!(WebhookSink::new("webhook-http://127.0.0.1:1/hook", &o).is_ok());
        assert_eq!(
            WebhookSink::new("webhook-https://h/x?foo=1", &o).err(),
            Some(SinkError::Invalid(
                "unknown sink query parameters: foo".into()
            ))
        );
        assert!(
            WebhookSink::new("webhook-https://h/x?insecure_tls_skip_verify=maybe", &o).is_err()
        );
        assert!(WebhookSink::new("webhook-https://h/x?ca_cert=%%%", &o).is_err());
    }
}
