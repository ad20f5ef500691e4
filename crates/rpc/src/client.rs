//! The client side: typed calls to other nodes over a pool of connections.

use crate::error::from_status;
use crate::pb::transport_client::TransportClient;
use crate::pb::{Request, Response};
use crate::registry::{decode, encode};
use crate::{RpcContext, RpcError, TransportFilters};
use base::NodeId;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Default time to establish a connection before a call fails as unreachable.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default interval of HTTP/2 keepalive pings, which detect dead connections.
pub const DEFAULT_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// Default wait for a keepalive ping's answer before the connection is declared dead.
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(6);
/// Default largest message, either way: 256 MiB, since raft snapshots travel here.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 256 << 20;

/// Transport settings, for the client ([`Rpc::with_options`]) and the server
/// ([`crate::RpcServer::serve_with_options`]).
#[derive(Clone, Debug)]
pub struct RpcOptions {
    /// Time to establish a connection; beyond it the call fails with `Unreachable`.
    pub connect_timeout: Duration,
    /// Timeout of [`Rpc::call`] and of opening a stream with [`Rpc::stream`]; `None`: wait as
    /// long as the handler takes (a dead peer is still detected by keepalive).
    pub call_timeout: Option<Duration>,
    /// Interval of HTTP/2 keepalive pings, on idle connections too.
    pub keepalive_interval: Duration,
    /// Wait for a ping's answer before the connection is declared dead.
    pub keepalive_timeout: Duration,
    /// Largest message accepted or sent, in bytes.
    pub max_message_size: usize,
    /// The filter rules checked on every call; share one across the nodes of an in-process
    /// cluster so that rules apply in both directions.
    pub filters: TransportFilters,
    /// Mutual TLS with the cluster's node certificates; `None` on an insecure cluster.
    pub tls: Option<crate::RpcTls>,
}

impl Default for RpcOptions {
    fn default() -> RpcOptions {
        RpcOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            call_timeout: None,
            keepalive_interval: DEFAULT_KEEPALIVE_INTERVAL,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            filters: TransportFilters::default(),
            tls: None,
        }
    }
}

/// Where a call goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A node, addressed through the [`Resolver`].
    Node(NodeId),
    /// A `host:port` (or `http://host:port`), e.g. a join address whose node id is unknown.
    Addr(String),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(node) => node.fmt(f),
            Target::Addr(addr) => f.write_str(addr),
        }
    }
}

impl From<NodeId> for Target {
    fn from(node: NodeId) -> Target {
        Target::Node(node)
    }
}

impl From<String> for Target {
    fn from(addr: String) -> Target {
        Target::Addr(addr)
    }
}

impl From<&str> for Target {
    fn from(addr: &str) -> Target {
        Target::Addr(addr.to_string())
    }
}

/// Maps node ids to addresses (gossip, node descriptors, a test's table).
pub trait Resolver: Send + Sync {
    /// The `host:port` of `node`, when known.
    fn address(&self, node: NodeId) -> Option<String>;

    /// The node listening at `addr`, when known; lets [`TransportFilters`] apply to
    /// [`Target::Addr`] calls.
    fn node_at(&self, addr: &str) -> Option<NodeId> {
        let _ = addr;
        None
    }
}

/// A [`Resolver`] over a table filled by hand.
#[derive(Debug, Default)]
pub struct AddressBook {
    addrs: RwLock<HashMap<NodeId, String>>,
}

impl AddressBook {
    /// An empty book.
    pub fn new() -> AddressBook {
        AddressBook::default()
    }

    /// Records (or replaces) the address of `node`.
    pub fn insert(&self, node: NodeId, addr: impl Into<String>) {
        self.addrs.write().insert(node, addr.into());
    }

    /// Forgets `node`.
    pub fn remove(&self, node: NodeId) {
        self.addrs.write().remove(&node);
    }
}

impl Resolver for AddressBook {
    fn address(&self, node: NodeId) -> Option<String> {
        self.addrs.read().get(&node).cloned()
    }

    fn node_at(&self, addr: &str) -> Option<NodeId> {
        self.addrs
            .read()
            .iter()
            .find(|(_, a)| a.as_str() == addr)
            .map(|(n, _)| *n)
    }
}

/// A node's client to every other node. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct Rpc {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: Arc<RpcContext>,
    options: RpcOptions,
    resolver: RwLock<Option<Arc<dyn Resolver>>>,
    /// One lazily connected channel per address; a channel reconnects by itself.
    channels: Mutex<HashMap<String, Channel>>,
}

/// A resolved target.
struct Route {
    /// Display form of the target, for errors.
    name: String,
    addr: String,
    /// The target's node id, when known: what filter rules match.
    node: Option<NodeId>,
}

impl Rpc {
    /// A client with the default [`RpcOptions`].
    pub fn new(ctx: Arc<RpcContext>) -> Rpc {
        Rpc::with_options(ctx, RpcOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(ctx: Arc<RpcContext>, options: RpcOptions) -> Rpc {
        let inner = Inner {
            ctx,
            options,
            resolver: RwLock::new(None),
            channels: Mutex::new(HashMap::new()),
        };
        Rpc {
            inner: Arc::new(inner),
        }
    }

    /// Sets the resolver of [`Target::Node`] targets; until then they are unreachable.
    pub fn set_resolver(&self, resolver: Arc<dyn Resolver>) {
        *self.inner.resolver.write() = Some(resolver);
    }

    /// The node's context.
    pub fn context(&self) -> &Arc<RpcContext> {
        &self.inner.ctx
    }

    /// The filter rules (tests).
    pub fn filters(&self) -> &TransportFilters {
        &self.inner.options.filters
    }

    /// Calls a unary `method` on `target` with the default timeout
    /// ([`RpcOptions::call_timeout`]).
    pub async fn call<Req, Resp>(
        &self,
        target: impl Into<Target>,
        method: &str,
        req: &Req,
    ) -> Result<Resp, RpcError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let payload = encode(req)?;
        let reply = self.unary(
            target.into(),
            method,
            payload,
            self.inner.options.call_timeout,
        );
        decode(method, &reply.await?)
    }

    /// Calls a unary `method` on `target`, failing with [`RpcError::Timeout`] after
    /// `timeout`; the server's handler is cancelled then.
    pub async fn call_timeout<Req, Resp>(
        &self,
        target: impl Into<Target>,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let payload = encode(req)?;
        decode(
            method,
            &self
                .unary(target.into(), method, payload, Some(timeout))
                .await?,
        )
    }

    /// Opens a server stream of `method` on `target`. Errors before the first item (unknown
    /// method, rejected request, the handler's own error) fail this call; later errors are
    /// the stream's last item. Dropping the stream cancels it on the server.
    pub async fn stream<Req, Item>(
        &self,
        target: impl Into<Target>,
        method: &str,
        req: &Req,
    ) -> Result<BoxStream<'static, Result<Item, RpcError>>, RpcError>
    where
        Req: Serialize + ?Sized,
        Item: DeserializeOwned + Send + 'static,
    {
        let payload = encode(req)?;
        let target = target.into();
        let timeout = self.inner.options.call_timeout;
        let name = target.to_string();
        let open = async {
            let route = self.route(target)?;
            self.pass(route.node).await?;
            let request = self.envelope(method, payload);
            let mut client = self.client(&route)?;
            let streaming = client
                .stream(request)
                .await
                .map_err(|s| from_status(&route.name, &s, timeout))?
                .into_inner();
            Ok::<_, RpcError>((route, streaming))
        };
        let (route, streaming) = with_timeout(&name, timeout, open).await?;
        let reader = ItemReader {
            streaming,
            rpc: self.clone(),
            route,
            method: method.to_string(),
        };
        Ok(futures::stream::unfold(Some(reader), |reader| async move {
            let mut reader = reader?;
            let item = reader.next::<Item>().await?;
            let more = item.is_ok().then_some(reader);
            Some((item, more))
        })
        .boxed())
    }

    /// The life of a unary call, without its codec.
    async fn unary(
        &self,
        target: Target,
        method: &str,
        payload: Bytes,
        timeout: Option<Duration>,
    ) -> Result<Bytes, RpcError> {
        let name = target.to_string();
        let attempt = async {
            let route = self.route(target)?;
            self.pass(route.node).await?;
            let request = self.envelope(method, payload);
            let mut client = self.client(&route)?;
            let response = client
                .call(request)
                .await
                .map_err(|s| from_status(&route.name, &s, timeout))?
                .into_inner();
            // A response a rule drops on its way back is a request that arrived and may have
            // executed: the caller must not take it for one that never left (as `Dropped`
            // says), or it would retry a write that applied. A real partition looks the same
            // way: the answer never comes.
            if let Err(e) = self.pass_back(route.node).await {
                return Err(match e {
                    RpcError::Dropped => RpcError::Unreachable {
                        target: route.name.clone(),
                        reason: "the response was lost (a transport rule dropped it); the \
                                 request was delivered"
                            .to_string(),
                    },
                    other => other,
                });
            }
            self.accept(response)
        };
        with_timeout(&name, timeout, attempt).await
    }

    /// Resolves a target to an address and, when known, a node id.
    fn route(&self, target: Target) -> Result<Route, RpcError> {
        let resolver = self.inner.resolver.read().clone();
        let name = target.to_string();
        match target {
            Target::Node(node) => {
                let addr = resolver.and_then(|r| r.address(node)).ok_or_else(|| {
                    RpcError::Unreachable {
                        target: name.clone(),
                        reason: "no known address".into(),
                    }
                })?;
                Ok(Route {
                    name,
                    addr,
                    node: Some(node),
                })
            }
            Target::Addr(addr) => {
                let node = resolver.and_then(|r| r.node_at(&addr));
                Ok(Route { name, addr, node })
            }
        }
    }

    /// Applies the filter rules to a message from this node to `to`.
    async fn pass(&self, to: Option<NodeId>) -> Result<(), RpcError> {
        match to {
            Some(to) => self.filters().pass(self.inner.ctx.node_id(), to).await,
            None => Ok(()),
        }
    }

    /// Applies the filter rules to a message from `from` back to this node.
    async fn pass_back(&self, from: Option<NodeId>) -> Result<(), RpcError> {
        match from {
            Some(from) => self.filters().pass(from, self.inner.ctx.node_id()).await,
            None => Ok(()),
        }
    }

    /// A request stamped with this node's identity and clock.
    fn envelope(&self, method: &str, payload: Bytes) -> tonic::Request<Request> {
        let ctx = &self.inner.ctx;
        let now = ctx.clock.now();
        tonic::Request::new(Request {
            method: method.to_string(),
            payload,
            from_node: ctx.node_id().0,
            clock_wall: now.wall,
            clock_logical: now.logical,
            cluster_id: ctx.cluster_id(),
        })
    }

    /// Takes a response's clock into account, then its payload or error.
    fn accept(&self, response: Response) -> Result<Bytes, RpcError> {
        self.inner
            .ctx
            .observe(response.clock_wall, response.clock_logical)?;
        match response.error {
            Some(err) => Err(RpcError::from_pb(err)),
            None => Ok(response.payload),
        }
    }

    /// A client on the pooled channel to `route`, created (unconnected) on first use.
    fn client(&self, route: &Route) -> Result<TransportClient<Channel>, RpcError> {
        let channel = {
            let mut channels = self.inner.channels.lock();
            match channels.get(&route.addr) {
                Some(channel) => channel.clone(),
                None => {
                    let channel = self.connect_lazy(route)?;
                    channels.insert(route.addr.clone(), channel.clone());
                    channel
                }
            }
        };
        let max = self.inner.options.max_message_size;
        Ok(TransportClient::new(channel)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max))
    }

    fn connect_lazy(&self, route: &Route) -> Result<Channel, RpcError> {
        let options = &self.inner.options;
        let uri = if route.addr.contains("://") {
            route.addr.clone()
        } else {
            format!("http://{}", route.addr)
        };
        let endpoint = Endpoint::from_shared(uri).map_err(|e| RpcError::Unreachable {
            target: route.name.clone(),
            reason: format!("invalid address {:?}: {e}", route.addr),
        })?;
        let endpoint = endpoint
            .connect_timeout(options.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(options.keepalive_interval)
            .keep_alive_timeout(options.keepalive_timeout)
            .keep_alive_while_idle(true);
        Ok(match &options.tls {
            Some(tls) => endpoint
                .connect_with_connector_lazy(crate::tls::TlsConnect::new(tls.client.clone())),
            None => endpoint.connect_lazy(),
        })
    }
}

impl fmt::Debug for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rpc")
            .field("node_id", &self.inner.ctx.node_id())
            .field("connections", &self.inner.channels.lock().len())
            .finish_non_exhaustive()
    }
}

/// Runs `fut`, failing with `Timeout` after `timeout` (dropping it, which cancels the call).
async fn with_timeout<T>(
    target: &str,
    timeout: Option<Duration>,
    fut: impl Future<Output = Result<T, RpcError>>,
) -> Result<T, RpcError> {
    let Some(after) = timeout else {
        return fut.await;
    };
    tokio::time::timeout(after, fut).await.unwrap_or_else(|_| {
        Err(RpcError::Timeout {
            target: target.to_string(),
            after,
        })
    })
}

/// Reads, checks and decodes the items of an open stream.
struct ItemReader {
    streaming: tonic::Streaming<Response>,
    rpc: Rpc,
    route: Route,
    method: String,
}

impl ItemReader {
    /// The next item, or `None` at the end of the stream.
    async fn next<Item: DeserializeOwned>(&mut self) -> Option<Result<Item, RpcError>> {
        let response = match self.streaming.message().await {
            Ok(Some(response)) => response,
            Ok(None) => return None,
            Err(status) => return Some(Err(from_status(&self.route.name, &status, None))),
        };
        if let Some(from) = self.route.node
            && self.rpc.filters().drops(from, self.rpc.inner.ctx.node_id())
        {
            return Some(Err(RpcError::Dropped));
        }
        Some(
            self.rpc
                .accept(response)
                .and_then(|payload| decode(&self.method, &payload)),
        )
    }
}
