//! Mutual TLS for node-to-node RPC: the accepting side's handshakes, before tonic sees a
//! connection, and the dialling side's connector.
//!
//! The server completes each TLS handshake on its own task ([`security::tls::accept`]), so a
//! peer that stalls mid-way holds up nobody, and hands tonic only the connections whose
//! handshake succeeded (tonic's `tls-connect-info` serves tokio-rustls streams): a peer
//! refused by the certificate verifier (no certificate, another CA, not a node certificate)
//! never reaches the gRPC service, let alone a handler.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, ServerConfig};
use tonic::codegen::Service;
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Uri;

/// A node's TLS settings for its transport: the server side (which checks peers' node
/// certificates) and the client side (which presents this node's).
#[derive(Clone, Debug)]
pub struct RpcTls {
    /// The accepting side.
    pub server: Arc<ServerConfig>,
    /// The dialling side.
    pub client: Arc<ClientConfig>,
}

impl From<&security::NodeTls> for RpcTls {
    fn from(tls: &security::NodeTls) -> RpcTls {
        RpcTls {
            server: tls.rpc_server.clone(),
            client: tls.rpc_client.clone(),
        }
    }
}

/// Accepts on `listener` and yields the connections whose handshake succeeded.
pub(crate) fn accept(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> impl futures::Stream<Item = io::Result<tokio_rustls::server::TlsStream<TcpStream>>> {
    use futures::StreamExt;
    let accepted = security::tls::accept(listener, config, "rpc");
    ReceiverStream::new(accepted).map(|(tls, _peer)| Ok(tls))
}

/// Dials `host:port` and completes a TLS handshake that checks the server's certificate
/// names `host`.
#[derive(Clone)]
pub(crate) struct TlsConnect {
    pub(crate) connector: TlsConnector,
}

impl TlsConnect {
    pub(crate) fn new(config: Arc<ClientConfig>) -> TlsConnect {
        TlsConnect {
            connector: TlsConnector::from(config),
        }
    }
}

type Connecting = Pin<
    Box<
        dyn Future<Output = io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>>> + Send,
    >,
>;

impl Service<Uri> for TlsConnect {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.connector.clone();
        Box::pin(async move {
            let invalid = |what: &str| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{what} in {uri}"))
            };
            let host = uri
                .host()
                .ok_or_else(|| invalid("no host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().ok_or_else(|| invalid("no port"))?;
            let name = ServerName::try_from(host.clone())
                .map_err(|_| invalid("not a host name or address"))?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(name, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}
