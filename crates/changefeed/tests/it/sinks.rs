//! Each sink against a real destination: messages compared byte for byte.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use parking_lot::Mutex;
use sextant_changefeed::encoder::Encoder;
use sextant_changefeed::options::{ChangefeedOptions, SinkKind};
use sextant_changefeed::sink::kafka::partition_for;
use sextant_changefeed::sink::{SinkError, open_sink};

use crate::fixtures::{Tansu, ctx, opts, row, serve_webhook, ts};
use crate::tls::{TlsHook, base64};

#[tokio::test]
async fn kafka_partitions_by_key_and_resolves_every_partition() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    tansu.create_topic("vehicles", 3).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(&[("updated", None)], SinkKind::Kafka);
    let enc = Encoder::new(&o);
    let topics = vec!["vehicles".to_string(), "users".to_string()];
    let uri = format!("kafka://{}", tansu.addr);
    let mut sink = open_sink(&uri, &o, &topics, &ctx(dir.path()))
        .await
        .expect("open kafka sink");

    let mut want: Vec<(i32, String, String)> = Vec::new();
    for (i, (id, v)) in [(1, "a"), (2, "b"), (3, "c"), (1, "a2"), (4, "d"), (2, "b2")]
        .into_iter()
        .enumerate()
    {
        let (k, val) = row(&enc, "vehicles", id, v, 100 + i as i64);
        sink.emit_row("vehicles", &k, val.as_deref(), ts(100 + i as i64))
            .await
            .expect("emit");
        want.push((
            partition_for(&k, 3),
            String::from_utf8(k).expect("utf8"),
            String::from_utf8(val.expect("value")).expect("utf8"),
        ));
    }
    let (k, val) = row(&enc, "users", 9, "u", 200);
    sink.emit_row("users", &k, val.as_deref(), ts(200))
        .await
        .expect("emit");
    let resolved = enc.encode_resolved(ts(300));
    sink.emit_resolved(ts(300), &resolved)
        .await
        .expect("resolved");
    sink.close().await.expect("close");

    let resolved = String::from_utf8(resolved).expect("utf8");
    assert_eq!(resolved, "{\"resolved\":\"300.0000000000\"}");
    for p in 0..3 {
        want.push((p, "<nil>".into(), resolved.clone()));
    }
    want.sort_by_key(|(p, _, _)| *p);
    assert_eq!(tansu.consume("vehicles").await, want);
    assert_eq!(
        tansu.consume("users").await,
        vec![
            (
                0,
                "[9]".to_string(),
                "{\"after\": {\"id\": 9, \"v\": \"u\"}, \"updated\": \"200.0000000000\"}"
                    .to_string()
            ),
            (0, "<nil>".to_string(), resolved.clone()),
        ],
        "a missing topic is created (one partition)"
    );
}

#[tokio::test]
async fn kafka_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(&[], SinkKind::Kafka);
    let port = cloud::testing::closed_port();
    let err = open_sink(
        &format!("kafka://127.0.0.1:{port}"),
        &o,
        &["t".to_string()],
        &ctx(dir.path()),
    )
    .await
    .err()
    .expect("unreachable broker");
    assert!(
        matches!(&err, SinkError::Unavailable(m) if m.contains("run out of available brokers")),
        "{err}"
    );

    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let uri = format!("kafka://{}", tansu.addr);
    let err = open_sink(&uri, &o, &["bad topic!".to_string()], &ctx(dir.path()))
        .await
        .err()
        .expect("invalid topic");
    assert!(
        matches!(&err, SinkError::Invalid(m) if m.contains("cannot create topic \"bad topic!\"")),
        "{err}"
    );
    let err = open_sink(
        &format!("{uri}?topic_prefx=x"),
        &o,
        &["t".to_string()],
        &ctx(dir.path()),
    )
    .await
    .err()
    .expect("unknown parameter");
    assert_eq!(
        err,
        SinkError::Invalid("unknown sink query parameters: topic_prefx".into())
    );
}

/// What the test webhook server saw and does.
#[derive(Default)]
struct Hook {
    bodies: Mutex<Vec<(Option<String>, String)>>,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// When set, requests wait for a permit before answering.
    gate: Option<Arc<tokio::sync::Semaphore>>,
    requests: AtomicUsize,
}

async fn handle(State(h): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    h.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(gate) = &h.gate {
        let _permit = gate.acquire().await;
    }
    if h.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    h.bodies
        .lock()
        .push((auth, String::from_utf8_lossy(&body).into_owned()));
    StatusCode::OK
}

async fn serve_hook(hook: Arc<Hook>) -> String {
    serve_webhook(Router::new().route("/hook", post(handle)).with_state(hook)).await
}

#[tokio::test]
async fn webhook_batches_retries_and_authenticates() {
    let hook = Arc::new(Hook {
        fail_first: AtomicUsize::new(2),
        ..Hook::default()
    });
    let uri = serve_hook(hook.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(
        &[
            ("webhook_auth_header", Some("Bearer s3cret")),
            (
                "webhook_sink_config",
                Some(
                    r#"{"Flush": {"Messages": 2, "Frequency": "1h"}, "Retry": {"Max": 3, "Backoff": "10ms"}}"#,
                ),
            ),
        ],
        SinkKind::Webhook,
    );
    let enc = Encoder::new(&o);
    let mut sink = open_sink(&uri, &o, &["foo".to_string()], &ctx(dir.path()))
        .await
        .expect("open");
    for (id, v) in [(1, "a"), (2, "b"), (3, "c")] {
        let (k, val) = row(&enc, "foo", id, v, 1);
        sink.emit_row("foo", &k, val.as_deref(), ts(1))
            .await
            .expect("emit");
    }
    sink.emit_resolved(ts(2), &enc.encode_resolved(ts(2)))
        .await
        .expect("resolved");
    let auth = Some("Bearer s3cret".to_string());
    let msg = |id: i64, v: &str| {
        format!(
            "{{\"after\": {{\"id\": {id}, \"v\": \"{v}\"}}, \"key\": [{id}], \"topic\": \"foo\"}}"
        )
    };
    assert_eq!(
        *hook.bodies.lock(),
        vec![
            (
                auth.clone(),
                format!(
                    "{{\"payload\":[{},{}],\"length\":2}}",
                    msg(1, "a"),
                    msg(2, "b")
                )
            ),
            (
                auth.clone(),
                format!("{{\"payload\":[{}],\"length\":1}}", msg(3, "c"))
            ),
            (auth.clone(), "{\"resolved\":\"2.0000000000\"}".to_string()),
        ]
    );
    assert_eq!(
        hook.requests.load(Ordering::SeqCst),
        5,
        "two 500s were retried"
    );

    // An endpoint that keeps failing: the error comes back after Retry.Max retries.
    hook.fail_first.store(100, Ordering::SeqCst);
    let (k, val) = row(&enc, "foo", 4, "d", 3);
    sink.emit_row("foo", &k, val.as_deref(), ts(3))
        .await
        .expect("buffered");
    let err = sink.flush().await.expect_err("failing endpoint");
    assert!(
        matches!(&err, SinkError::Unavailable(m) if m.contains("500") && m.contains("after 3 retries")),
        "{err}"
    );
}

#[tokio::test]
async fn webhook_stall_is_back_pressure() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let hook = Arc::new(Hook {
        gate: Some(gate.clone()),
        ..Hook::default()
    });
    let uri = serve_hook(hook.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let o = opts(
        &[("webhook_client_timeout", Some("30s"))],
        SinkKind::Webhook,
    );
    let enc = Encoder::new(&o);
    let mut sink = open_sink(&uri, &o, &["foo".to_string()], &ctx(dir.path()))
        .await
        .expect("open");
    let (k, val) = row(&enc, "foo", 1, "a", 1);
    let emitting = sink.emit_row("foo", &k, val.as_deref(), ts(1));
    tokio::pin!(emitting);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut emitting)
            .await
            .is_err(),
        "emit_row waits while the endpoint stalls"
    );
    assert_eq!(hook.requests.load(Ordering::SeqCst), 1);
    gate.add_permits(10);
    emitting
        .await
        .expect("emit completes once the endpoint answers");
    assert_eq!(hook.bodies.lock().len(), 1);
}

#[tokio::test]
async fn cloud_storage_files_on_s3() {
    let Some(s3) = cloud::testing::SeaweedFs::start().await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("{}&partition_format=flat", s3.uri(&s3.bucket, "feed"));
    let o = opts(&[("updated", None)], SinkKind::CloudStorage);
    let enc = Encoder::new(&o);
    let mut sink = open_sink(&uri, &o, &["t".to_string()], &ctx(dir.path()))
        .await
        .expect("open");
    for (id, v, at) in [(1, "a", 10), (2, "b", 11)] {
        let (k, val) = row(&enc, "t", id, v, at);
        sink.emit_row("t", &k, val.as_deref(), ts(at))
            .await
            .expect("emit");
    }
    sink.emit_resolved(ts(11), &enc.encode_resolved(ts(11)))
        .await
        .expect("resolved");
    let (k, val) = row(&enc, "t", 1, "a2", 12);
    sink.emit_row("t", &k, val.as_deref(), ts(12))
        .await
        .expect("emit");
    sink.close().await.expect("close");

    let storage = cloud::open(&s3.uri(&s3.bucket, "feed"), &ctx(dir.path()).storage).expect("open");
    let names = storage.list("", None).await.expect("list");
    let names: Vec<&str> = names.iter().map(|n| n.trim_start_matches('/')).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let ts33 = |wall: u64| format!("19700101000000{wall:09}0000000000");
    assert!(names[0].starts_with(&format!("{}-", ts33(10))), "{names:?}");
    assert!(names[0].ends_with("-1-0-00000000-t-1.ndjson"), "{names:?}");
    assert_eq!(names[1], format!("{}.RESOLVED", ts33(11)));
    assert!(names[2].starts_with(&format!("{}-", ts33(12))), "{names:?}");
    assert!(names[2].ends_with("-1-0-00000001-t-1.ndjson"), "{names:?}");
    let text = |b: bytes::Bytes| String::from_utf8_lossy(&b).into_owned();
    assert_eq!(
        text(storage.get(names[0]).await.expect("get")),
        "{\"after\": {\"id\": 1, \"v\": \"a\"}, \"key\": [1], \"updated\": \"10.0000000000\"}\n\
         {\"after\": {\"id\": 2, \"v\": \"b\"}, \"key\": [2], \"updated\": \"11.0000000000\"}\n"
    );
    assert_eq!(
        text(storage.get(names[1]).await.expect("get")),
        "{\"resolved\":\"11.0000000000\"}"
    );
}

/// Emits one row (`[1]`, `{"id": 1, "v": "a"}`) to topic `foo` of a fresh sink on `uri`
/// and flushes it.
pub(crate) async fn post_one(uri: &str, o: &ChangefeedOptions) -> Result<(), SinkError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let enc = Encoder::new(o);
    let mut sink = open_sink(uri, o, &["foo".to_string()], &ctx(dir.path())).await?;
    let (k, val) = row(&enc, "foo", 1, "a", 1);
    sink.emit_row("foo", &k, val.as_deref(), ts(1)).await?;
    sink.flush().await
}

#[tokio::test]
async fn webhook_https_trusts_ca_cert_or_skip_verify_and_presents_client_certs() {
    let o = opts(
        &[(
            "webhook_sink_config",
            Some(r#"{"Retry": {"Max": 1, "Backoff": "10ms"}}"#),
        )],
        SinkKind::Webhook,
    );
    let hook = TlsHook::start(false).await;
    let ca = base64(hook.ca_pem.as_bytes());

    // A certificate signed by a CA the system does not trust: refused, and the error says so.
    let err = post_one(&hook.uri(&[]), &o).await.expect_err("untrusted");
    let SinkError::Unavailable(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(
        msg.starts_with(&format!(
            "webhook sink: error sending request for url (https://{}/hook): client error \
             (Connect): invalid peer certificate: UnknownIssuer",
            hook.addr
        )),
        "{msg}"
    );
    assert!(msg.ends_with("(after 1 retries)"), "{msg}");
    assert!(hook.bodies.lock().is_empty());

    // Trusting the CA, or not checking at all, delivers.
    post_one(&hook.uri(&[("ca_cert", &ca)]), &o)
        .await
        .expect("ca_cert");
    // `base64 -w0` output pasted unescaped: its '+' arrives as a space, and still decodes.
    post_one(
        &format!("webhook-https://{}/hook?ca_cert={ca}", hook.addr),
        &o,
    )
    .await
    .expect("unescaped ca_cert");
    post_one(&hook.uri(&[("insecure_tls_skip_verify", "true")]), &o)
        .await
        .expect("insecure_tls_skip_verify");
    assert_eq!(hook.bodies.lock().len(), 3);
    assert!(
        post_one(&hook.uri(&[("insecure_tls_skip_verify", "false")]), &o)
            .await
            .is_err(),
        "insecure_tls_skip_verify=false verifies"
    );

    // An endpoint that requires a client certificate: refused without one, accepted with it.
    let mtls = TlsHook::start(true).await;
    let ca = base64(mtls.ca_pem.as_bytes());
    let err = post_one(&mtls.uri(&[("ca_cert", &ca)]), &o)
        .await
        .expect_err("no client certificate");
    assert!(
        matches!(&err, SinkError::Unavailable(m) if m.contains("error sending request")),
        "{err:?}"
    );
    assert!(
        mtls.refused
            .lock()
            .iter()
            .any(|e| e.contains("peer sent no certificates")),
        "{:?}",
        mtls.refused.lock()
    );
    let cert = base64(mtls.client_cert_pem.as_bytes());
    let key = base64(mtls.client_key_pem.as_bytes());
    post_one(
        &mtls.uri(&[
            ("ca_cert", &ca),
            ("client_cert", &cert),
            ("client_key", &key),
        ]),
        &o,
    )
    .await
    .expect("client certificate");
    assert_eq!(mtls.bodies.lock().len(), 1);
    assert_eq!(
        open_sink(
            &mtls.uri(&[("client_cert", &cert)]),
            &o,
            &[],
            &ctx(std::path::Path::new("/nonexistent"))
        )
        .await
        .err(),
        Some(SinkError::Invalid(
            "client_cert requires client_key to be set".into()
        ))
    );
}
