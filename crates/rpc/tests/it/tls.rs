//! Mutual TLS between nodes: a peer with the cluster's node certificate is served; a peer
//! with no certificate, a client (not node) certificate of the same CA, another cluster's
//! node certificate, or no TLS at all is refused before any handler runs.

use base::hlc::HybridClock;
use rpc::{Caller, Registry, Rpc, RpcContext, RpcError, RpcOptions, RpcServer, RpcTls, Target};
use security::CertsDir;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

fn context() -> Arc<RpcContext> {
    Arc::new(RpcContext::new(Arc::new(HybridClock::system(
        Duration::from_millis(500),
    ))))
}

fn node_tls(dir: &CertsDir) -> RpcTls {
    let tls = security::NodeTls::load(dir).expect("load node TLS");
    RpcTls {
        server: tls.rpc_server,
        client: tls.rpc_client,
    }
}

/// A TLS server whose one method counts its calls; returns its address and the counter.
async fn serve(dir: &CertsDir) -> (String, Arc<AtomicUsize>, tokio::sync::oneshot::Sender<()>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let registry = Registry::new();
    let seen = calls.clone();
    registry.unary("test.ping", move |_: Caller, n: u64| {
        let seen = seen.clone();
        async move {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok::<_, RpcError>(n + 1)
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let options = RpcOptions {
        tls: Some(node_tls(dir)),
        ..RpcOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        RpcServer::serve_with_options(registry, context(), listener, shutdown, &options).await
    });
    (addr, calls, stop)
}

async fn ping(addr: &str, tls: Option<RpcTls>) -> Result<u64, RpcError> {
    let options = RpcOptions {
        tls,
        connect_timeout: Duration::from_secs(5),
        ..RpcOptions::default()
    };
    let rpc = Rpc::with_options(context(), options);
    rpc.call_timeout(
        Target::Addr(addr.to_string()),
        "test.ping",
        &41u64,
        Duration::from_secs(10),
    )
    .await
}

/// A client that trusts `trust`'s CA and presents `cert`/`key` (or no certificate).
fn presenting(trust: &CertsDir, identity: Option<(PathBuf, PathBuf)>) -> RpcTls {
    let provider = Arc::new(aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(trust.ca_cert()).expect("ca.crt") {
        roots.add(cert.expect("CA cert")).expect("root");
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut client = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_file_iter(cert)
                    .expect("cert")
                    .map(|c| c.expect("cert"))
                    .collect(),
                PrivateKeyDer::from_pem_file(key).expect("key"),
            )
            .expect("client auth"),
        None => builder.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];
    RpcTls {
        client: Arc::new(client),
        ..node_tls(trust)
    }
}

#[tokio::test]
async fn only_peers_with_a_node_certificate_of_the_cluster_ca_reach_a_handler() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ours = security::testing::make_certs(&tmp.path().join("ours")).expect("our certs");
    let theirs = security::testing::make_certs(&tmp.path().join("theirs")).expect("their certs");
    let (addr, calls, _stop) = serve(&ours).await;

    assert_eq!(ping(&addr, Some(node_tls(&ours))).await.ok(), Some(42));
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // The same CA, but a client certificate (CN=root), not a node certificate.
    let root = (ours.client_cert("root"), ours.client_key("root"));
    let root = ping(&addr, Some(presenting(&ours, Some(root)))).await;
    assert!(
        root.is_err(),
        "a root client certificate opened RPC: {root:?}"
    );
    // The cluster CA's trust, but no certificate at all.
    let anonymous = ping(&addr, Some(presenting(&ours, None))).await;
    assert!(
        anonymous.is_err(),
        "no certificate opened RPC: {anonymous:?}"
    );
    // Another cluster's node certificate, from a client that trusts our CA (so that only the
    // server's check can refuse it).
    let stranger = (theirs.node_cert(), theirs.node_key());
    let other = ping(&addr, Some(presenting(&ours, Some(stranger)))).await;
    assert!(
        other.is_err(),
        "another cluster's node opened RPC: {other:?}"
    );
    // Plain text.
    let plain = ping(&addr, None).await;
    assert!(plain.is_err(), "plaintext opened RPC: {plain:?}");

    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "a refused peer reached the handler"
    );
}
