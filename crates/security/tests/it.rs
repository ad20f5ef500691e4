//! Certificates made by `sextant cert create-*`: what lands where, what `cert list` shows,
//! the refusals, and a real TLS handshake with them (mutual, as node-to-node RPC will use
//! them; a peer signed by another CA is refused).

// Tests: a failed `expect` fails the test, with its message.
#![allow(clippy::expect_used)]

use security::{CertError, CertsDir, CreateOptions, KeySize, Usage};
use sextant_security as security;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};

fn opts() -> CreateOptions {
    CreateOptions {
        key_size: KeySize::Rsa2048,
        lifetime: CreateOptions::CERT_LIFETIME,
        overwrite: false,
        allow_ca_key_reuse: false,
    }
}

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// A CA, a node certificate and a root client certificate in `dir`, the CA key beside it.
fn make_all(base: &Path) -> (CertsDir, std::path::PathBuf) {
    let dir = CertsDir::new(base.join("certs"));
    let ca_key = base.join("safe").join("ca.key");
    security::create_ca(&dir, &ca_key, &opts(), now()).expect("create-ca");
    let hosts = ["localhost", "127.0.0.1", "::1", "*.example.com"].map(String::from);
    security::create_node(&dir, &ca_key, &hosts, &opts(), now()).expect("create-node");
    security::create_client(&dir, &ca_key, "Root", &opts(), now()).expect("create-client");
    (dir, ca_key)
}

#[test]
fn creates_cockroachdbs_layout_and_lists_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, ca_key) = make_all(tmp.path());
    let mut files: Vec<String> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "ca.crt",
            "client.root.crt",
            "client.root.key",
            "node.crt",
            "node.key"
        ]
    );
    assert!(
        ca_key.exists(),
        "the CA key is kept outside the certs directory"
    );
    for key in [dir.node_key(), dir.client_key("root"), ca_key.clone()] {
        let mode = std::fs::metadata(&key).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is mode {mode:o}", key.display());
    }

    let certs = security::list(&dir).expect("list");
    type Row<'a> = (Usage, &'a str, Option<&'a str>, &'a str, Option<&'a str>);
    let summary: Vec<Row<'_>> = certs
        .iter()
        .map(|c| {
            (
                c.usage,
                c.cert_file.as_str(),
                c.key_file.as_deref(),
                c.notes.as_str(),
                c.error.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (Usage::Ca, "ca.crt", None, "num certs: 1", None),
            (
                Usage::Node,
                "node.crt",
                Some("node.key"),
                "addresses: localhost,127.0.0.1,::1,*.example.com",
                None
            ),
            (
                Usage::Client,
                "client.root.crt",
                Some("client.root.key"),
                "user: root",
                None
            ),
        ]
    );
    // Five years from now, to the day (give or take the day the test runs across).
    let expires = certs[1].expires.expect("expiry");
    let days = (expires - now()).whole_days();
    assert!((5 * 366 - 1..=5 * 366).contains(&days), "{days} days");

    let text = security::format_list(&dir, &certs);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!("Certificate directory: {}", dir.path().display())
    );
    assert!(lines[1].starts_with(" Usage  | Certificate File | Key File        | Expires "));
    assert!(lines[2].starts_with("--------+------------------+"));
    assert!(lines[3].starts_with(" CA     | ca.crt           |                 | "));
    assert!(lines[4].contains("| addresses: localhost,127.0.0.1,::1,*.example.com"));
    assert_eq!(lines[6], "(3 rows)");

    // A missing key shows as the row's error.
    std::fs::remove_file(dir.client_key("root")).expect("rm");
    let certs = security::list(&dir).expect("list");
    assert_eq!(
        certs[2].error.as_deref(),
        Some("key file client.root.key not found")
    );
}

#[test]
fn refusals_say_what_is_wrong() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, ca_key) = make_all(tmp.path());
    let msg = |e: CertError| e.to_string();

    let e = security::create_ca(&dir, Path::new(""), &opts(), now()).expect_err("no key path");
    assert_eq!(msg(e), "the path to the CA key is required");
    let e = security::create_node(&dir, &ca_key, &[], &opts(), now()).expect_err("no hosts");
    assert_eq!(
        msg(e),
        "create-node requires at least one host name or address, none was specified"
    );
    let e =
        security::create_node(&dir, &ca_key, &["h".into()], &opts(), now()).expect_err("exists");
    assert!(
        matches!(e, CertError::Exists(ref p) if p == &dir.node_cert()),
        "{e}"
    );
    let e =
        security::create_client(&dir, &ca_key, "no/slash", &opts(), now()).expect_err("bad user");
    assert!(matches!(e, CertError::User(_)), "{e}");
    assert!(matches!(
        KeySize::from_bits(1024),
        Err(CertError::KeySize(1024))
    ));

    // create-ca again: the key exists.
    let over = CreateOptions {
        overwrite: true,
        ..opts()
    };
    let e = security::create_ca(&dir, &ca_key, &over, now()).expect_err("key reuse");
    assert_eq!(
        msg(e),
        format!(
            "CA key {} exists, but key reuse is disabled",
            ca_key.display()
        )
    );

    // A CA key that did not make ca.crt cannot sign for it.
    let other = tmp.path().join("other");
    let other_dir = CertsDir::new(other.join("certs"));
    let other_key = other.join("ca.key");
    security::create_ca(&other_dir, &other_key, &opts(), now()).expect("other CA");
    let e =
        security::create_client(&dir, &other_key, "alice", &opts(), now()).expect_err("mismatch");
    assert!(matches!(e, CertError::CaMismatch { .. }), "{e}");
}

#[test]
fn a_replaced_ca_goes_first_and_the_old_one_stays_trusted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = make_all(tmp.path());
    let old_ca = std::fs::read_to_string(dir.ca_cert()).expect("ca");
    let new_key = tmp.path().join("safe").join("ca2.key");
    let over = CreateOptions {
        overwrite: true,
        ..opts()
    };
    security::create_ca(&dir, &new_key, &over, now()).expect("second CA");
    let both = std::fs::read_to_string(dir.ca_cert()).expect("ca");
    assert!(both.ends_with(&old_ca), "the old CA follows the new one");
    let certs = security::list(&dir).expect("list");
    assert_eq!(certs[0].notes, "num certs: 2");
    // New certificates are signed by the new CA.
    security::create_client(&dir, &new_key, "bob", &opts(), now()).expect("client of new CA");
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn roots(dir: &CertsDir) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.ca_cert()).expect("ca.crt") {
        roots.add(c.expect("cert")).expect("add root");
    }
    roots
}

fn chain(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .expect("cert file")
        .map(|c| c.expect("cert"))
        .collect()
}

fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).expect("key file")
}

/// Serves one mutual-TLS connection with the node certificate; returns what the client read,
/// or the handshake error.
async fn handshake(
    server_dir: &CertsDir,
    client_dir: &CertsDir,
    user: &str,
) -> Result<String, String> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots(server_dir)), provider())
            .build()
            .expect("client verifier");
    let server = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain(&server_dir.node_cert()), key(&server_dir.node_key()))
        .expect("server config");
    let client = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(client_dir))
        .with_client_auth_cert(
            chain(&client_dir.client_cert(user)),
            key(&client_dir.client_key(user)),
        )
        .expect("client config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let serve = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor.accept(tcp).await.map_err(|e| e.to_string())?;
        tls.write_all(b"hello").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())
    });
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let result = async {
        let mut tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .map_err(|e| e.to_string())?;
        let mut got = String::new();
        tls.read_to_string(&mut got)
            .await
            .map_err(|e| e.to_string())?;
        Ok(got)
    }
    .await;
    let served = serve.await.expect("server task");
    match (result, served) {
        (Ok(got), Ok(())) => Ok(got),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}

#[tokio::test]
async fn the_certificates_carry_a_mutual_tls_handshake_and_strangers_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, _) = make_all(tmp.path());
    assert_eq!(handshake(&dir, &dir, "root").await, Ok("hello".to_string()));

    // A client certificate from another cluster's CA (which also trusts our node) is refused.
    let other = tmp.path().join("other");
    let stranger = CertsDir::new(other.join("certs"));
    let stranger_key = other.join("ca.key");
    security::create_ca(&stranger, &stranger_key, &opts(), now()).expect("other CA");
    security::create_client(&stranger, &stranger_key, "root", &opts(), now()).expect("client");
    std::fs::write(
        stranger.ca_cert(),
        format!(
            "{}{}",
            std::fs::read_to_string(stranger.ca_cert()).expect("theirs"),
            std::fs::read_to_string(dir.ca_cert()).expect("ours")
        ),
    )
    .expect("trust ours too");
    let refused = handshake(&dir, &stranger, "root").await;
    assert!(refused.is_err(), "a stranger's certificate was accepted");
}
