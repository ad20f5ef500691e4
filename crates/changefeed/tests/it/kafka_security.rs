//! The Kafka sink against secured brokers: TLS (a CA the test made, no verification) and
//! SASL, from CREATE CHANGEFEED to the messages read back.
//!
//! Tansu 0.6.0 cannot serve TLS: its `--cert` and `--key` flags are mutually exclusive in its
//! CLI ("the argument '--cert <CERT>' cannot be used with '--key <KEY>'"), and with either
//! alone the listener stays plaintext, even at a `tls://` listener URL. So the TLS test puts a
//! TLS front ([`TlsFront`]: tokio-rustls with a [`TestCa`] certificate, forwarding the bytes)
//! before a plain Tansu that advertises the front's address, so that every connection the
//! sink makes, the bootstrap and the partition leaders', goes through TLS.
//!
//! Tansu's SASL (`--authentication`) runs the SCRAM exchange but cannot accept anyone: its
//! storage engines in this build (memory, S3) answer `tansu user create`
//! (AlterUserScramCredentials) with success and store nothing, so every user is unknown. The
//! SASL test therefore checks the refusal against Tansu itself (SCRAM-SHA-256, a real
//! broker saying no), and the accepted path through [`SaslFront`]: a front that performs the
//! PLAIN exchange (SaslHandshake, SaslAuthenticate) the way a Kafka broker does and then
//! forwards the connection's bytes to a plain Tansu.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use parking_lot::Mutex;
use rskafka::client::{Credentials, SaslConfig};
use sextant_changefeed::options::SinkKind;
use sextant_changefeed::sink::SinkError;
use sextant_changefeed::sink::tls::{TlsParams, client_config};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use crate::certs::{TestCa, base64, query_escape};
use crate::cluster::TestCluster;
use crate::fixtures::opts;
use crate::fixtures::{Tansu, TansuOptions, keyed_rows};
use crate::sinks::post_one;

/// Terminates TLS on a listener and forwards each connection's bytes to `target`. Refused
/// handshakes are kept.
struct TlsFront {
    refused: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl TlsFront {
    fn start(listener: TcpListener, config: ServerConfig, target: String) -> TlsFront {
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let seen = refused.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, seen, target) = (acceptor.clone(), seen.clone(), target.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp));
                    let mut tls = match handshake.await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => return seen.lock().push(e.to_string()),
                        Err(_) => return seen.lock().push("handshake timed out".into()),
                    };
                    if let Ok(mut broker) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
                    }
                });
            }
        });
        TlsFront { refused, task }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `kafka://<addr>?<params>`, each value query-escaped.
fn kafka_uri(addr: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect();
    format!("kafka://{addr}?{}", query.join("&"))
}

/// Waits until `topic` holds `want` messages, as `(key, value)`, and returns them.
async fn wait_messages(tansu: &Tansu, topic: &str, want: usize) -> Vec<(String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let msgs = keyed_rows(tansu, topic).await;
        if msgs.len() >= want {
            return msgs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{topic}: {} of {want} messages: {msgs:#?}",
            msgs.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The sink URI SHOW CHANGEFEED JOBS shows for feed `id` (secrets redacted).
async fn shown_sink_uri(c: &TestCluster, id: jobs::JobId) -> String {
    let rec = c
        .wait_job(id, Duration::from_secs(10), "recorded", |_| true)
        .await;
    let shown = sextant_changefeed::show_changefeed_jobs(&[rec]);
    shown.rows[0][11].to_string()
}

/// The messages of one key, in order.
fn of_key<'a>(msgs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    msgs.iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A CA, a plain Tansu advertising a TLS front's address, the front (requiring a client
/// certificate when `client_auth`), and the front's address. The Tansu handle reads over TLS
/// (with the CA's client certificate). `None` when Tansu is missing and may be skipped.
async fn tls_broker(client_auth: bool) -> Option<(TestCa, Tansu, TlsFront, String)> {
    let ca = TestCa::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front_addr = listener.local_addr().expect("addr").to_string();
    let tansu = Tansu::start_with(&TansuOptions {
        advertised_port: Some(listener.local_addr().expect("addr").port()),
        ..TansuOptions::default()
    })
    .await?;
    let front = TlsFront::start(listener, ca.server_config(client_auth), tansu.addr.clone());
    let reader_tls = client_config(&TlsParams {
        ca_cert: Some(ca.ca_pem.clone().into_bytes()),
        client_cert: Some(ca.client_cert_pem.clone().into_bytes()),
        client_key: Some(ca.client_key_pem.clone().into_bytes()),
        skip_verify: false,
    })
    .expect("reader TLS config");
    let tansu = tansu.with_client_auth(Some(Arc::new(reader_tls)), None);
    Some((ca, tansu, front, front_addr))
}

#[tokio::test]
async fn kafka_over_tls_trusts_ca_cert_or_skips_verification() {
    let Some((ca, tansu, front, front_addr)) = tls_broker(false).await else {
        return;
    };

    let c = TestCluster::one_node(
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING); \
         INSERT INTO d.t VALUES (1, 'one')",
    )
    .await;
    let ca_cert = base64(ca.ca_pem.as_bytes());
    let create = |uri: &str| format!("CREATE CHANGEFEED FOR t INTO '{uri}'");

    // A CA that did not sign the broker's certificate: CREATE fails and says why.
    let other = TestCa::new();
    let wrong = kafka_uri(
        &front_addr,
        &[
            ("tls_enabled", "true"),
            ("ca_cert", &base64(other.ca_pem.as_bytes())),
        ],
    );
    let err = c.exec_err(0, "d", &create(&wrong)).await;
    assert!(err.contains("kafka: TLS handshake failed: "), "{err}");
    // (Both test CAs have the same name, so rustls finds the issuer and refuses its
    // signature: BadSignature rather than UnknownIssuer.)
    assert!(err.contains("invalid peer certificate: "), "{err}");
    assert!(!front.refused.lock().is_empty(), "the front saw no refusal");
    // TLS parameters without tls_enabled are refused before anything is contacted.
    let err = c
        .exec_err(
            0,
            "d",
            &create(&kafka_uri(&front_addr, &[("ca_cert", &ca_cert)])),
        )
        .await;
    assert!(err.contains("ca_cert requires tls_enabled=true"), "{err}");

    // Trusting the test's CA: every change arrives, in order per key.
    let uri = kafka_uri(
        &front_addr,
        &[("tls_enabled", "true"), ("ca_cert", &ca_cert)],
    );
    let id = c.create_feed(0, "d", &create(&uri)).await;
    c.exec(0, "d", "UPDATE t SET b = 'uno' WHERE a = 1").await;
    c.exec(0, "d", "INSERT INTO t VALUES (2, 'two')").await;
    c.exec(0, "d", "DELETE FROM t WHERE a = 1").await;
    let msgs = wait_messages(&tansu, "t", 4).await;
    assert_eq!(
        of_key(&msgs, "[1]"),
        vec![
            r#"{"after": {"a": 1, "b": "one"}}"#,
            r#"{"after": {"a": 1, "b": "uno"}}"#,
            r#"{"after": null}"#,
        ],
        "{msgs:#?}"
    );
    assert_eq!(
        of_key(&msgs, "[2]"),
        vec![r#"{"after": {"a": 2, "b": "two"}}"#],
        "{msgs:#?}"
    );
    // SHOW CHANGEFEED JOBS does not show the certificate.
    let sink_uri = shown_sink_uri(&c, id).await;
    assert!(sink_uri.contains("ca_cert=redacted"), "{sink_uri}");
    assert!(!sink_uri.contains(&query_escape(&ca_cert)), "{sink_uri}");

    // Not verifying at all also works (the initial scan of the table as it is now).
    let skip = kafka_uri(
        &front_addr,
        &[
            ("tls_enabled", "true"),
            ("insecure_tls_skip_verify", "true"),
            ("topic_name", "t_skip"),
        ],
    );
    c.create_feed(0, "d", &create(&skip)).await;
    let msgs = wait_messages(&tansu, "t_skip", 1).await;
    assert_eq!(
        msgs,
        vec![(
            "[2]".to_string(),
            r#"{"after": {"a": 2, "b": "two"}}"#.to_string()
        )]
    );
}

#[tokio::test]
async fn kafka_mutual_tls_presents_the_client_certificate() {
    let Some((ca, tansu, front, front_addr)) = tls_broker(true).await else {
        return;
    };
    let o = opts(&[], SinkKind::Kafka);
    let ca_cert = base64(ca.ca_pem.as_bytes());

    // Without a client certificate the broker ends the handshake, and the sink says so.
    let err = post_one(
        &kafka_uri(
            &front_addr,
            &[("tls_enabled", "true"), ("ca_cert", &ca_cert)],
        ),
        &o,
    )
    .await
    .expect_err("no client certificate");
    assert!(
        matches!(&err, SinkError::Unavailable(m) if m.starts_with("kafka: TLS handshake failed: ")),
        "{err:?}"
    );
    assert!(
        front
            .refused
            .lock()
            .iter()
            .any(|e| e.contains("peer sent no certificates")),
        "{:?}",
        front.refused.lock()
    );

    // With it, the row arrives.
    let key = base64(ca.client_key_pem.as_bytes());
    post_one(
        &kafka_uri(
            &front_addr,
            &[
                ("tls_enabled", "true"),
                ("ca_cert", &ca_cert),
                ("client_cert", &base64(ca.client_cert_pem.as_bytes())),
                ("client_key", &key),
            ],
        ),
        &o,
    )
    .await
    .expect("client certificate");
    assert_eq!(
        wait_messages(&tansu, "foo", 1).await,
        vec![(
            "[1]".to_string(),
            r#"{"after": {"id": 1, "v": "a"}}"#.to_string()
        )]
    );
}

/// Kafka's `SASL_AUTHENTICATION_FAILED`.
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// Kafka's `ILLEGAL_SASL_STATE`.
const ILLEGAL_SASL_STATE: i16 = 34;

/// Requires SASL PLAIN as `user`/`password` on each connection, as a broker with
/// `sasl.enabled.mechanisms=PLAIN` does, then forwards the connection to `target`.
/// `ApiVersions` before authentication is answered by the broker; any other request before
/// authentication closes the connection.
struct SaslFront {
    task: JoinHandle<()>,
}

/// One request frame: its api key and version, correlation id, and the body after the
/// header (whole frame kept to forward it).
struct Frame {
    api_key: i16,
    api_version: i16,
    correlation_id: i32,
    bytes: Vec<u8>,
    body_at: usize,
}

async fn read_frame(r: &mut (impl AsyncReadExt + Unpin)) -> Option<Frame> {
    let len = r.read_i32().await.ok()?;
    let mut buf = vec![0; usize::try_from(len).ok()?];
    r.read_exact(&mut buf).await.ok()?;
    let i16_at = |i: usize| Some(i16::from_be_bytes(buf.get(i..i + 2)?.try_into().ok()?));
    let api_key = i16_at(0)?;
    let api_version = i16_at(2)?;
    let correlation_id = i32::from_be_bytes(buf.get(4..8)?.try_into().ok()?);
    let client_id_len = i16_at(8)?;
    let mut body_at = 10 + usize::try_from(client_id_len.max(0)).ok()?;
    // Flexible request headers (SaslAuthenticate v2+) end with tagged fields: none here.
    if api_key == 36 && api_version >= 2 {
        body_at += 1;
    }
    let mut bytes = len.to_be_bytes().to_vec();
    bytes.extend_from_slice(&buf);
    Some(Frame {
        api_key,
        api_version,
        correlation_id,
        bytes,
        body_at: body_at + 4,
    })
}

/// Reads an unsigned varint at `*at`.
fn uvarint(b: &[u8], at: &mut usize) -> Option<usize> {
    let mut v = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The SASL bytes of a SaslAuthenticate request body.
fn auth_bytes(f: &Frame) -> Option<&[u8]> {
    let b = &f.bytes[f.body_at..];
    if f.api_version >= 2 {
        let mut at = 0;
        let n = uvarint(b, &mut at)?.checked_sub(1)?;
        b.get(at..at + n)
    } else {
        let n = usize::try_from(i32::from_be_bytes(b.get(..4)?.try_into().ok()?)).ok()?;
        b.get(4..4 + n)
    }
}

/// A response frame for `f` with `body`.
fn response(f: &Frame, body: &[u8]) -> Vec<u8> {
    let flexible = f.api_key == 36 && f.api_version >= 2;
    let mut frame = f.correlation_id.to_be_bytes().to_vec();
    if flexible {
        frame.push(0);
    }
    frame.extend_from_slice(body);
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend(frame);
    out
}

/// A SaslAuthenticate response body: `error`, its message, no SASL bytes.
fn authenticate_response(f: &Frame, error: i16, message: Option<&str>) -> Vec<u8> {
    let mut b = error.to_be_bytes().to_vec();
    if f.api_version >= 2 {
        match message {
            Some(m) => {
                b.push(u8::try_from(m.len() + 1).expect("short message"));
                b.extend_from_slice(m.as_bytes());
            }
            None => b.push(0),
        }
        b.push(1); // empty auth bytes
        b.extend_from_slice(&0i64.to_be_bytes());
        b.push(0); // tagged fields
    } else {
        match message {
            Some(m) => {
                b.extend_from_slice(&(m.len() as i16).to_be_bytes());
                b.extend_from_slice(m.as_bytes());
            }
            None => b.extend_from_slice(&(-1i16).to_be_bytes()),
        }
        b.extend_from_slice(&0i32.to_be_bytes());
        if f.api_version >= 1 {
            b.extend_from_slice(&0i64.to_be_bytes());
        }
    }
    response(f, &b)
}

/// Runs the SASL exchange on `client`; true once it authenticated.
async fn authenticate(
    client: &mut TcpStream,
    broker: &mut TcpStream,
    user: &str,
    password: &str,
) -> bool {
    let mut handshake_done = false;
    while let Some(f) = read_frame(client).await {
        let reply = match f.api_key {
            // ApiVersions: the broker's own answer.
            18 => {
                if broker.write_all(&f.bytes).await.is_err() {
                    return false;
                }
                let Ok(len) = broker.read_i32().await else {
                    return false;
                };
                let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
                if broker.read_exact(&mut buf).await.is_err() {
                    return false;
                }
                let mut out = len.to_be_bytes().to_vec();
                out.extend(buf);
                out
            }
            // SaslHandshake: PLAIN only.
            17 => {
                let b = &f.bytes[f.body_at..];
                let n = usize::try_from(i16::from_be_bytes([b[0], b[1]])).unwrap_or(0);
                let plain = b.get(2..2 + n) == Some(&b"PLAIN"[..]);
                handshake_done = plain;
                let mut body = if plain { 0i16 } else { 33i16 }.to_be_bytes().to_vec();
                body.extend_from_slice(&1i32.to_be_bytes());
                body.extend_from_slice(&5i16.to_be_bytes());
                body.extend_from_slice(b"PLAIN");
                response(&f, &body)
            }
            // SaslAuthenticate: `authzid NUL user NUL password`.
            36 if handshake_done => {
                let ok = auth_bytes(&f).is_some_and(|b| {
                    let parts: Vec<&[u8]> = b.split(|c| *c == 0).collect();
                    parts.len() == 3
                        && parts[1] == user.as_bytes()
                        && parts[2] == password.as_bytes()
                });
                let reply = if ok {
                    authenticate_response(&f, 0, None)
                } else {
                    authenticate_response(
                        &f,
                        SASL_AUTHENTICATION_FAILED,
                        Some("Authentication failed: Invalid username or password"),
                    )
                };
                if client.write_all(&reply).await.is_err() || !ok {
                    return false;
                }
                return true;
            }
            36 => authenticate_response(&f, ILLEGAL_SASL_STATE, Some("no handshake")),
            _ => return false,
        };
        if client.write_all(&reply).await.is_err() {
            return false;
        }
    }
    false
}

impl SaslFront {
    fn start(listener: TcpListener, target: String, user: &str, password: &str) -> SaslFront {
        let (user, password) = (user.to_string(), password.to_string());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let (target, user, password) = (target.clone(), user.clone(), password.clone());
                tokio::spawn(async move {
                    let Ok(mut broker) = TcpStream::connect(&target).await else {
                        return;
                    };
                    if authenticate(&mut client, &mut broker, &user, &password).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
                    }
                });
            }
        });
        SaslFront { task }
    }
}

impl Drop for SaslFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn kafka_sasl_authenticates_and_refuses_wrong_credentials() {
    let password = "s3cret-Pa55word";
    let wrong = "not-the-Pa55word";

    // Tansu requiring authentication knows no user (see the module comment): its refusal of
    // a SCRAM exchange reaches CREATE CHANGEFEED as an authentication failure.
    let Some(locked) = Tansu::start_with(&TansuOptions {
        authentication: true,
        ..TansuOptions::default()
    })
    .await
    else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front_addr = listener.local_addr().expect("addr").to_string();
    let Some(tansu) = Tansu::start_with(&TansuOptions {
        advertised_port: Some(listener.local_addr().expect("addr").port()),
        ..TansuOptions::default()
    })
    .await
    else {
        return;
    };
    let _front = SaslFront::start(listener, tansu.addr.clone(), "alice", password);
    let tansu = tansu.with_client_auth(
        None,
        Some(SaslConfig::Plain(Credentials::new(
            "alice".into(),
            password.into(),
        ))),
    );

    let c = TestCluster::one_node(
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b STRING); \
         INSERT INTO d.t VALUES (1, 'one')",
    )
    .await;
    let sasl = |addr: &str, password: &str, mechanism: &str| {
        kafka_uri(
            addr,
            &[
                ("sasl_enabled", "true"),
                ("sasl_user", "alice"),
                ("sasl_password", password),
                ("sasl_mechanism", mechanism),
            ],
        )
    };
    let create = |uri: &str| format!("CREATE CHANGEFEED FOR t INTO '{uri}'");

    let err = c
        .exec_err(
            0,
            "d",
            &create(&sasl(&locked.addr, password, "SCRAM-SHA-256")),
        )
        .await;
    assert!(err.contains("kafka: SASL authentication failed: "), "{err}");
    assert!(err.contains("unknown user"), "{err}");
    assert!(!err.contains(password), "{err}");

    // A wrong password: CREATE fails naming the authentication and the broker's error code
    // (rskafka keeps the code, not the broker's message), without the password.
    let err = c
        .exec_err(0, "d", &create(&sasl(&front_addr, wrong, "PLAIN")))
        .await;
    assert!(err.contains("kafka: SASL authentication failed: "), "{err}");
    assert!(err.contains("SaslAuthenticationFailed"), "{err}");
    assert!(!err.contains(wrong), "{err}");
    // Credentials without sasl_enabled are refused before anything is contacted.
    let err = c
        .exec_err(
            0,
            "d",
            &create(&kafka_uri(&front_addr, &[("sasl_password", wrong)])),
        )
        .await;
    assert!(
        err.contains("sasl_password requires sasl_enabled=true"),
        "{err}"
    );
    assert!(!err.contains(wrong), "{err}");

    // The right password: every change arrives.
    let id = c
        .create_feed(0, "d", &create(&sasl(&front_addr, password, "PLAIN")))
        .await;
    c.exec(0, "d", "INSERT INTO t VALUES (2, 'two')").await;
    let msgs = wait_messages(&tansu, "t", 2).await;
    assert_eq!(
        of_key(&msgs, "[1]"),
        vec![r#"{"after": {"a": 1, "b": "one"}}"#],
        "{msgs:#?}"
    );
    assert_eq!(
        of_key(&msgs, "[2]"),
        vec![r#"{"after": {"a": 2, "b": "two"}}"#],
        "{msgs:#?}"
    );
    // SHOW CHANGEFEED JOBS does not show the password.
    let sink_uri = shown_sink_uri(&c, id).await;
    assert!(sink_uri.contains("sasl_password=redacted"), "{sink_uri}");
    assert!(!sink_uri.contains(password), "{sink_uri}");
}
