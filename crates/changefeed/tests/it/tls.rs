//! An HTTPS webhook endpoint in the test process: a [`TestCa`] signs the server's certificate
//! for 127.0.0.1 and, for mutual TLS, a client certificate; axum serves over rustls. What the
//! endpoint received and which handshakes it refused are kept.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

pub use crate::certs::base64;
use crate::certs::{TestCa, query_escape};

/// A running HTTPS endpoint at `https://127.0.0.1:<port>/hook`.
pub struct TlsHook {
    pub addr: SocketAddr,
    /// The CA that signed the server's and the client's certificates, PEM.
    pub ca_pem: String,
    /// A client certificate and its key (PEM), signed by the CA.
    pub client_cert_pem: String,
    pub client_key_pem: String,
    /// Every request body received, in order.
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Every refused handshake, as the server saw it.
    pub refused: Arc<Mutex<Vec<String>>>,
}

/// Accepts TCP connections and completes the TLS handshake; a failed handshake is recorded
/// and the next connection accepted.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    refused: Arc<Mutex<Vec<String>>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            let handshake = tokio::time::timeout(Duration::from_secs(5), self.acceptor.accept(tcp));
            match handshake.await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => self.refused.lock().push(e.to_string()),
                Err(_) => self.refused.lock().push("handshake timed out".into()),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl TlsHook {
    /// Starts the endpoint; with `client_auth` it requires a client certificate signed by
    /// its CA.
    pub async fn start(client_auth: bool) -> TlsHook {
        let ca = TestCa::new();
        let mut config = ca.server_config(client_auth);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];

        let bodies = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    axum::http::StatusCode::OK
                }
            }),
        );
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = tcp.local_addr().expect("addr");
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            refused: refused.clone(),
        };
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TlsHook {
            addr,
            ca_pem: ca.ca_pem,
            client_cert_pem: ca.client_cert_pem,
            client_key_pem: ca.client_key_pem,
            bodies,
            refused,
        }
    }

    /// `webhook-https://127.0.0.1:<port>/hook`, with `params` as its query when not empty.
    pub fn uri(&self, params: &[(&str, &str)]) -> String {
        let mut uri = format!("webhook-https://{}/hook", self.addr);
        for (i, (k, v)) in params.iter().enumerate() {
            uri.push(if i == 0 { '?' } else { '&' });
            uri.push_str(&format!("{k}={}", query_escape(v)));
        }
        uri
    }
}
