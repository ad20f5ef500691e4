//! The server side: the one gRPC service, dispatching envelopes to the [`Registry`].

use crate::error::to_status;
use crate::pb::transport_server::{Transport, TransportServer};
use crate::pb::{Request, Response};
use crate::registry::{ByteStream, Handler};
use crate::{Caller, Registry, RpcContext, RpcError, RpcOptions};
use base::NodeId;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;

/// Serves a node's [`Registry`] to other nodes.
pub struct RpcServer;

impl RpcServer {
    /// Serves `registry` on `listener` until `shutdown` completes, with the default
    /// [`RpcOptions`]. In-flight calls are cancelled at shutdown.
    pub async fn serve(
        registry: Registry,
        ctx: Arc<RpcContext>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        RpcServer::serve_with_options(registry, ctx, listener, shutdown, &RpcOptions::default())
            .await
    }

    /// [`RpcServer::serve`] with explicit options (message size limit, keepalive).
    pub async fn serve_with_options(
        registry: Registry,
        ctx: Arc<RpcContext>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
        options: &RpcOptions,
    ) -> std::io::Result<()> {
        let service = TransportServer::new(Service {
            registry,
            ctx,
            filters: options.filters.clone(),
        })
        .max_decoding_message_size(options.max_message_size)
        .max_encoding_message_size(options.max_message_size);
        // The builder's `tcp_nodelay` applies only to listeners tonic binds itself; accepted
        // sockets of a given listener need it set here, or Nagle's algorithm holds small
        // responses (a Raft append acknowledgement, a KV reply) until the peer's delayed ACK,
        // about 40 ms on Linux.
        let router = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(options.keepalive_interval))
            .http2_keepalive_timeout(Some(options.keepalive_timeout))
            .add_service(service);
        let served = match &options.tls {
            Some(tls) => {
                let incoming = crate::tls::accept(listener, tls.server.clone());
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
            }
            None => {
                let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
                router
                    .serve_with_incoming_shutdown(incoming, shutdown)
                    .await
            }
        };
        served.map_err(std::io::Error::other)
    }
}

struct Service {
    registry: Registry,
    ctx: Arc<RpcContext>,
    /// Rules checked again on arrival, so that a rule set on one node cuts both directions.
    filters: crate::TransportFilters,
}

impl Service {
    /// Checks the envelope (cluster id, clock) and finds the handler.
    fn admit(&self, req: &Request) -> Result<(Caller, Handler), RpcError> {
        self.ctx.check_cluster(&req.cluster_id)?;
        if req.from_node != 0
            && self
                .filters
                .drops(NodeId(req.from_node), self.ctx.node_id())
        {
            return Err(RpcError::Dropped);
        }
        self.ctx.observe(req.clock_wall, req.clock_logical)?;
        let handler = self
            .registry
            .get(&req.method)
            .ok_or_else(|| RpcError::UnknownMethod(req.method.clone()))?;
        Ok((
            Caller {
                node_id: NodeId(req.from_node),
            },
            handler,
        ))
    }

    async fn unary(&self, req: Request) -> Result<Bytes, RpcError> {
        let (caller, handler) = self.admit(&req)?;
        let Handler::Unary(f) = handler else {
            return Err(RpcError::UnknownMethod(req.method));
        };
        f(caller, req.payload).await
    }

    async fn open_stream(&self, req: Request) -> Result<ByteStream, RpcError> {
        let (caller, handler) = self.admit(&req)?;
        let Handler::Streaming(f) = handler else {
            return Err(RpcError::UnknownMethod(req.method));
        };
        f(caller, req.payload).await
    }
}

/// A response stamped with the clock, carrying `result`.
fn respond(ctx: &RpcContext, result: Result<Bytes, RpcError>) -> Response {
    let now = ctx.clock.now();
    let (payload, error) = match result {
        Ok(payload) => (payload, None),
        Err(e) => (Bytes::new(), Some(e.to_pb())),
    };
    Response {
        payload,
        clock_wall: now.wall,
        clock_logical: now.logical,
        error,
    }
}

#[tonic::async_trait]
impl Transport for Service {
    async fn call(
        &self,
        request: tonic::Request<Request>,
    ) -> Result<tonic::Response<Response>, tonic::Status> {
        let result = self.unary(request.into_inner()).await;
        if let Err(e) = &result {
            tracing::debug!(error = %e, "rpc call failed");
        }
        Ok(tonic::Response::new(respond(&self.ctx, result)))
    }

    type StreamStream = BoxStream<'static, Result<Response, tonic::Status>>;

    /// Errors before the first item travel as a status (so the caller's `stream()` fails
    /// itself); errors of the handler's stream travel as a last item. The handler's stream is
    /// polled only as fast as HTTP/2 flow control lets items out, and dropped when the caller
    /// goes away.
    async fn stream(
        &self,
        request: tonic::Request<Request>,
    ) -> Result<tonic::Response<Self::StreamStream>, tonic::Status> {
        let items = self.open_stream(request.into_inner()).await.map_err(|e| {
            tracing::debug!(error = %e, "rpc stream failed to open");
            to_status(&e)
        })?;
        let ctx = self.ctx.clone();
        let responses = items
            .scan(false, |failed, item| {
                // Stop after the first error.
                let next = (!*failed).then(|| {
                    *failed = item.is_err();
                    item
                });
                futures::future::ready(next)
            })
            .map(move |item| Ok(respond(&ctx, item)));
        Ok(tonic::Response::new(responses.boxed()))
    }
}
