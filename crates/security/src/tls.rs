//! TLS configurations built from a certs directory, for rustls with the aws-lc-rs provider.
//!
//! A secure node loads [`NodeTls`] once at start:
//! - **node-to-node RPC** is mutual TLS. The server refuses, during the handshake and so
//!   before any handler runs, a peer whose certificate is not signed by the cluster CA or is
//!   not a node certificate (`CN=node`); the client presents `node.crt` and checks that the
//!   server's certificate names the host it dialled.
//! - **SQL** serves `node.crt`; a client certificate is asked for and checked against the CA
//!   when one is presented (certificate authentication), and not required.
//! - **HTTP** serves `node.crt` and asks for no client certificate.
//!
//! Clients (`sextant sql`, `sextant node`, the workloads) build theirs with [`client_config`].

use crate::{CertError, CertsDir};
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, Error as TlsError, RootCertStore,
    ServerConfig, SignatureScheme,
};

/// The common name of every node certificate.
pub const NODE_USER: &str = "node";

/// A secure node's TLS configurations, one per listener and one for its RPC client.
#[derive(Clone, Debug)]
pub struct NodeTls {
    /// Node-to-node RPC, server side: mutual TLS, peers must hold a node certificate.
    pub rpc_server: Arc<ServerConfig>,
    /// Node-to-node RPC, client side: presents the node certificate.
    pub rpc_client: Arc<ClientConfig>,
    /// The SQL listener: the node certificate; a client certificate is optional.
    pub sql_server: Arc<ServerConfig>,
    /// The HTTP listener.
    pub http_server: Arc<ServerConfig>,
}

impl NodeTls {
    /// Loads `ca.crt`, `node.crt` and `node.key` from `dir`. The errors say which file is
    /// missing or bad, in CockroachDB's words where it has them.
    pub fn load(dir: &CertsDir) -> Result<NodeTls, CertError> {
        if !dir.path().is_dir() {
            return Err(CertError::NotFound(
                "problem using security settings: no certificates found; does certs dir exist?"
                    .to_string(),
            ));
        }
        let roots = Arc::new(roots(dir)?);
        let chain = load_chain(&dir.node_cert(), "node")?;
        let key = load_key(&dir.node_key(), "node")?;
        let webpki = |builder: tokio_rustls::rustls::server::ClientCertVerifierBuilder| {
            builder
                .build()
                .map_err(|e| CertError::Tls(format!("client certificate verifier: {e}")))
        };
        let peer_verifier = Arc::new(NodeCertVerifier {
            inner: webpki(WebPkiClientVerifier::builder_with_provider(
                roots.clone(),
                provider(),
            ))?,
        });
        let rpc_server = server_builder()?
            .with_client_cert_verifier(peer_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| CertError::Tls(format!("node certificate: {e}")))?;
        let rpc_client = client_builder()?
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| CertError::Tls(format!("node certificate: {e}")))?;
        let sql_verifier = webpki(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .allow_unauthenticated(),
        )?;
        let sql_server = server_builder()?
            .with_client_cert_verifier(sql_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| CertError::Tls(format!("node certificate: {e}")))?;
        let http_server = server_builder()?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| CertError::Tls(format!("node certificate: {e}")))?;
        Ok(NodeTls {
            rpc_server: Arc::new(with_alpn(rpc_server, b"h2")),
            rpc_client: Arc::new(with_client_alpn(rpc_client, b"h2")),
            sql_server: Arc::new(sql_server),
            http_server: Arc::new(with_alpn(http_server, b"http/1.1")),
        })
    }
}

/// A client's configuration: trusts the cluster CA in `dir`, and presents `client.<user>.crt`
/// when `user` is given and its files exist (certificate authentication), else no certificate.
pub fn client_config(dir: &CertsDir, user: Option<&str>) -> Result<ClientConfig, CertError> {
    let roots = roots(dir)?;
    let builder = client_builder()?.with_root_certificates(roots);
    let Some(user) = user else {
        return Ok(builder.with_no_client_auth());
    };
    let (cert, key) = (dir.client_cert(user), dir.client_key(user));
    if !cert.exists() {
        return Ok(builder.with_no_client_auth());
    }
    let what = format!("client.{user}");
    builder
        .with_client_auth_cert(load_chain(&cert, &what)?, load_key(&key, &what)?)
        .map_err(|e| CertError::Tls(format!("{what} certificate: {e}")))
}

/// The common name of a certificate's subject (a node certificate's `node`, a client
/// certificate's user name).
pub fn common_name(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    let cn = parsed
        .subject()
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    Some(cn)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn server_builder() -> Result<
    tokio_rustls::rustls::ConfigBuilder<ServerConfig, tokio_rustls::rustls::WantsVerifier>,
    CertError,
> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::Tls(e.to_string()))
}

fn client_builder() -> Result<
    tokio_rustls::rustls::ConfigBuilder<ClientConfig, tokio_rustls::rustls::WantsVerifier>,
    CertError,
> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::Tls(e.to_string()))
}

fn with_alpn(mut config: ServerConfig, protocol: &[u8]) -> ServerConfig {
    config.alpn_protocols = vec![protocol.to_vec()];
    config
}

fn with_client_alpn(mut config: ClientConfig, protocol: &[u8]) -> ClientConfig {
    config.alpn_protocols = vec![protocol.to_vec()];
    config
}

/// The CA certificates of `ca.crt` (all of them: a replaced CA stays trusted).
fn roots(dir: &CertsDir) -> Result<RootCertStore, CertError> {
    let path = dir.ca_cert();
    if !path.exists() {
        return Err(CertError::NotFound(
            "problem with CA certificate: not found".to_string(),
        ));
    }
    let mut roots = RootCertStore::empty();
    for cert in load_chain(&path, "CA")? {
        roots.add(cert).map_err(|e| CertError::Parse {
            path: path.clone(),
            message: format!("problem with CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

fn load_chain(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    if !path.exists() {
        return Err(CertError::NotFound(format!(
            "problem with {what} certificate: not found ({})",
            path.display()
        )));
    }
    let parse = |message: String| CertError::Parse {
        path: path.to_path_buf(),
        message: format!("problem with {what} certificate: {message}"),
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| parse(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| parse(e.to_string()))?;
    if chain.is_empty() {
        return Err(parse("no certificate in the file".to_string()));
    }
    Ok(chain)
}

fn load_key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, CertError> {
    if !path.exists() {
        return Err(CertError::NotFound(format!(
            "problem with {what} key: not found ({})",
            path.display()
        )));
    }
    PrivateKeyDer::from_pem_file(path).map_err(|e| CertError::Parse {
        path: path.to_path_buf(),
        message: format!("problem with {what} key: {e}"),
    })
}

/// Checks a peer's certificate as webpki does, then that it is a node certificate: a client
/// certificate of the same CA (`client.root.crt`) does not open node-to-node RPC.
#[derive(Debug)]
struct NodeCertVerifier {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for NodeCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, TlsError> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match common_name(end_entity) {
            Some(cn) if cn == NODE_USER => Ok(verified),
            cn => Err(TlsError::General(format!(
                "a node-to-node connection needs a node certificate (CN=node), got CN={}",
                cn.unwrap_or_default()
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How long a client gets to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts TCP connections on `listener` and completes each TLS handshake on its own task, so
/// that a client stalling mid-handshake holds up nobody; yields the connections whose
/// handshake succeeded, with the peer's address. Refused handshakes are logged (`label` names
/// the listener). The loop ends when the receiver is dropped.
pub fn accept(
    listener: tokio::net::TcpListener,
    config: Arc<ServerConfig>,
    label: &'static str,
) -> tokio::sync::mpsc::Receiver<(
    tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    std::net::SocketAddr,
)> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => accepted,
            };
            let (tcp, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off and go on.
                    tracing::warn!("{label} listener accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::warn!(%peer, "{label} connection refused: {e}"),
                    Err(_) => {
                        tracing::warn!(%peer, "{label} connection refused: TLS handshake timed out")
                    }
                }
            });
        }
    });
    rx
}
