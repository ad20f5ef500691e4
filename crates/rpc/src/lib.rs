//! Node-to-node transport.
//!
//! Every Sextant node serves one gRPC service, `sextant.rpc.Transport`, with two methods:
//! `Call` (one request, one response) and `Stream` (one request, a stream of responses). The
//! messages are an opaque envelope (`proto/rpc.proto`): a method name, a payload of bytes, and
//! the sender's identity and clock. What the payload means belongs to the crate that owns the
//! method — `kv` registers `kv.batch`, `jobs` registers its flows — and is a serde value encoded
//! with postcard. So this crate knows nothing of the messages it carries, and adding a method
//! needs no `.proto` change.
//!
//! # Concepts
//!
//! - [`RpcContext`]: the node's id (0 until assigned), its cluster id (empty until known) and
//!   its hybrid logical clock. Shared by the client and the server.
//! - [`Registry`]: method name → typed handler. [`Registry::unary`] and
//!   [`Registry::streaming`] take closures of `(Caller, Req)`; handlers may be registered
//!   after the server has started.
//! - [`RpcServer`]: serves a registry on a TCP listener until a shutdown future completes.
//! - [`Rpc`]: the client, with one lazily connected HTTP/2 channel per address, addressing
//!   nodes through a [`Resolver`] ([`Target::Node`]) or directly ([`Target::Addr`]).
//! - [`RpcError`]: what went wrong, and whether retrying may help
//!   ([`RpcError::is_retryable`]). A handler's own typed error travels as
//!   [`RpcError::Application`] and decodes back with [`RpcError::decode_app`].
//! - [`TransportFilters`]: drop, partition and delay rules for tests.
//!
//! # Invariants
//!
//! - Every message carries its sender's clock reading, and the receiver passes it to
//!   [`base::Clock::update`] before anything else. A reading beyond the maximum clock offset
//!   rejects the message with [`RpcError::ClockOffset`]: a node whose clock is that far off
//!   takes no part, whichever side it is on.
//! - A request whose cluster id differs from the receiver's (both known) is rejected with
//!   [`RpcError::ClusterMismatch`] before its handler runs.
//! - Nothing from the network can panic a node: every payload decodes into a `Result`.
//! - gRPC statuses mean transport trouble; answers from our handlers, errors included, travel
//!   inside the envelope with the clock.
//!
//! # The life of a unary call
//!
//! 1. A handler is registered: `registry.unary("kv.batch", |caller, req: BatchRequest| ...)`.
//!    [`Registry::unary`] wraps it in a closure from payload bytes to payload bytes.
//! 2. The node serves: [`RpcServer::serve`] runs tonic's server with the `Transport` service.
//! 3. Another node calls `rpc.call::<_, BatchResponse>(Target::Node(n2), "kv.batch", &req)`.
//!    [`Rpc::call`] encodes the request with postcard, then `Rpc::unary` resolves the target
//!    (`Rpc::route`, through the [`Resolver`]), applies the filter rules (`Rpc::pass`), stamps
//!    the envelope with node id, cluster id and `clock.now()` (`Rpc::envelope`), and sends it
//!    on the pooled channel for the address (`Rpc::client`), connecting on first use within
//!    the connect timeout. [`Rpc::call_timeout`] bounds the whole attempt; expiry drops the
//!    request, which resets the HTTP/2 stream and cancels the handler.
//! 4. The server's `Service::admit` checks the cluster id, updates its clock with the
//!    request's reading and looks the method up ([`RpcError::UnknownMethod`] if absent);
//!    `Service::unary` runs the handler, which decodes the payload, runs the closure with a
//!    [`Caller`] and encodes its result.
//! 5. `respond` stamps the response with the server's `clock.now()` and the payload or the
//!    error (`RpcError::to_pb`).
//! 6. Back in `Rpc::unary`, `Rpc::accept` updates the caller's clock with the response's
//!    reading, then returns the payload or rebuilds the error (`RpcError::from_pb`), and
//!    [`Rpc::call`] decodes the payload.
//!
//! # Streams
//!
//! [`Rpc::stream`] follows the same path to `Service::open_stream`, whose handler returns a
//! stream of items. Each item is stamped with the server's clock and checked by the client's
//! (`ItemReader::next`). An error before the first item (unknown method, a rejected request,
//! the handler's own error) comes back as a gRPC status carrying the encoded error, so
//! `Rpc::stream` fails itself; an error of the handler's stream is its last item. Back-pressure
//! is HTTP/2 flow control: the server polls the handler's stream only as fast as items can be
//! sent, and the client receives only as fast as its consumer polls. Dropping the client's
//! stream resets the HTTP/2 stream, and the server drops the handler's stream.
//!
//! # Filters
//!
//! [`TransportFilters`] are checked on the client: before the request (dropped calls fail at
//! once with [`RpcError::Dropped`], delayed ones sleep first), after the response (in the
//! reverse direction), and on every stream item.

mod client;
mod context;
mod error;
mod filter;
mod registry;
mod server;
mod tls;

#[allow(clippy::all, missing_docs, unreachable_pub)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/sextant.rpc.rs"));
}

pub use client::{
    AddressBook, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE_INTERVAL, DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_MESSAGE_SIZE, Resolver, Rpc, RpcOptions, Target,
};
pub use context::RpcContext;
pub use error::{AppError, RpcError, TRANSPORT_KIND};
pub use filter::TransportFilters;
pub use registry::{Caller, Registry};
pub use server::RpcServer;
pub use tls::RpcTls;
