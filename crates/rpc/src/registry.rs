//! Method name → handler.
//!
//! Crates register their methods on a node's [`Registry`] with typed closures; the registry
//! erases the types into byte-in, byte-out handlers so the server needs to know nothing about
//! them. Registration may happen before or after the server starts: the server looks the
//! method up on every request.

use crate::RpcError;
use base::NodeId;
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, Stream, StreamExt, TryFutureExt};
use parking_lot::RwLock;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

/// Who sent a request, as the handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The sender's node id; `NodeId(0)` when it has none yet (a node joining the cluster).
    pub node_id: NodeId,
}

/// A stream of encoded items, as a streaming handler produces it.
pub(crate) type ByteStream = BoxStream<'static, Result<Bytes, RpcError>>;
type UnaryFn = dyn Fn(Caller, Bytes) -> BoxFuture<'static, Result<Bytes, RpcError>> + Send + Sync;
type StreamingFn =
    dyn Fn(Caller, Bytes) -> BoxFuture<'static, Result<ByteStream, RpcError>> + Send + Sync;

/// A registered handler, its types erased.
#[derive(Clone)]
pub(crate) enum Handler {
    Unary(Arc<UnaryFn>),
    Streaming(Arc<StreamingFn>),
}

/// The methods a node serves. Cheap to clone; clones share the table.
#[derive(Clone, Default)]
pub struct Registry {
    methods: Arc<RwLock<HashMap<&'static str, Handler>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Registers a unary method: one `Req` in, one `Resp` out. Replaces any handler of the
    /// same name.
    pub fn unary<Req, Resp, F, Fut>(&self, method: &'static str, f: F)
    where
        Req: DeserializeOwned,
        Resp: Serialize,
        F: Fn(Caller, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Resp, RpcError>> + Send + 'static,
    {
        let handler = move |caller: Caller, payload: Bytes| match decode::<Req>(method, &payload) {
            Ok(req) => f(caller, req)
                .map(|r| r.and_then(|resp| encode(&resp)))
                .boxed(),
            Err(e) => futures::future::ready(Err(e)).boxed(),
        };
        self.insert(method, Handler::Unary(Arc::new(handler)));
    }

    /// Registers a server-streaming method: one `Req` in, a stream of `Item`s out. The stream
    /// ends after its first error. The handler's stream is dropped when the caller drops its
    /// end. Replaces any handler of the same name.
    pub fn streaming<Req, Item, F, Fut, S>(&self, method: &'static str, f: F)
    where
        Req: DeserializeOwned,
        Item: Serialize,
        F: Fn(Caller, Req) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, RpcError>> + Send + 'static,
        S: Stream<Item = Result<Item, RpcError>> + Send + 'static,
    {
        let handler = move |caller: Caller, payload: Bytes| match decode::<Req>(method, &payload) {
            Ok(req) => f(caller, req)
                .map_ok(|items| {
                    items
                        .map(|item| item.and_then(|item| encode(&item)))
                        .boxed()
                })
                .boxed(),
            Err(e) => futures::future::ready(Err(e)).boxed(),
        };
        self.insert(method, Handler::Streaming(Arc::new(handler)));
    }

    /// Removes a method; later calls get [`RpcError::UnknownMethod`].
    pub fn remove(&self, method: &str) {
        self.methods.write().remove(method);
    }

    /// The registered method names, sorted.
    pub fn methods(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.methods.read().keys().copied().collect();
        names.sort_unstable();
        names
    }

    pub(crate) fn get(&self, method: &str) -> Option<Handler> {
        self.methods.read().get(method).cloned()
    }

    fn insert(&self, method: &'static str, handler: Handler) {
        if self.methods.write().insert(method, handler).is_some() {
            tracing::debug!(method, "rpc handler replaced");
        }
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("methods", &self.methods())
            .finish()
    }
}

/// Encodes a payload with postcard.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, RpcError> {
    postcard::to_stdvec(value)
        .map(Bytes::from)
        .map_err(|e| RpcError::Decode(format!("encoding {}: {e}", std::any::type_name::<T>())))
}

/// Decodes a payload of `method` with postcard.
pub(crate) fn decode<T: DeserializeOwned>(method: &str, payload: &[u8]) -> Result<T, RpcError> {
    postcard::from_bytes(payload).map_err(|e| {
        RpcError::Decode(format!(
            "{method}: decoding {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}
