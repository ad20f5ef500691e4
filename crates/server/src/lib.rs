//! A Sextant node, assembled from the layers below it.
//!
//! One node is one process with three listeners: node-to-node RPC (`--listen-addr`, default
//! `localhost:26258`), the HTTP status API (`--http-addr`, default `localhost:8080`) and SQL
//! (`--sql-addr`, default `localhost:26257`, the PostgreSQL wire protocol of
//! `sql::pgwire`), which is advertised in the node's descriptor. CockroachDB serves RPC and
//! SQL on one port;
//! Sextant keeps node RPC on its own so that the two protocols never share a listener.
//!
//! # Concepts
//!
//! - [`ServerConfig`]: what `sextant start` parses its flags into: store, addresses,
//!   locality, join list, clock offset, KV and transport tunables.
//! - [`Server`]: the running node. [`NodeState`] says where its KV node is: waiting for an
//!   identity, running, failed or stopped.
//! - [`client`]: the admin calls (`node.init`, `node.status`, `node.drain`) that the CLI
//!   sends to a node's RPC address.
//! - [`LocalCluster`]: several servers in one process on loopback ports, for `sextant demo`
//!   and tests, with kill and restart.
//! - [`demo`]: the localities of `sextant demo`, as `cockroach demo` assigns them.
//!
//! # Invariants
//!
//! - The RPC server serves before the KV node starts: an empty node must answer `node.init`
//!   and a joining node's peers must be reachable, so [`Server::start`] never waits for the
//!   cluster, and the status API answers from the moment it binds.
//! - A store locked by another process fails [`Server::start`] before any port is bound,
//!   with [`storage::StorageError::StoreInUse`].
//! - Stopping a server drops every RPC handler, so the node (and its store's lock) is
//!   released even while peers keep connections open; an in-process restart can reopen it.
//!
//! # The life of `sextant start`
//!
//! 1. The CLI builds a [`ServerConfig`] and calls [`Server::start`], which opens the engine
//!    (`storage::FjallEngine::open`, or a memory engine), binds the RPC and HTTP listeners,
//!    works out the advertised addresses (the configured host with the bound port), and
//!    spawns `rpc::RpcServer::serve_with_options` over an empty `rpc::Registry` and the
//!    status server (`status::spawn`).
//! 2. It spawns `kv::KvNode::start` with the same registry. The node reads its identity from
//!    the store; without one it registers `node.init` and keeps asking its `--join` peers to
//!    `node.join` until one answers or the operator runs `sextant init`, which calls
//!    [`client::init`].
//! 3. When the node has an identity, the start task records [`NodeState::Running`];
//!    [`Server::wait_started`] returns it, `GET /health?ready=1` turns 200 once the node's
//!    liveness record is current, and `node.status` serves [`client::node_status`].
//! 4. The SQL listener is bound in [`Server::start`] (port 0 picks a free one;
//!    [`Server::sql_addr`] is the bound address). Once the node has an identity, a task
//!    creates its `sql::SqlServer`, bootstraps the SQL descriptors of a new cluster, publishes
//!    it ([`Server::sql`], [`Server::wait_sql`], where higher layers register their statement
//!    hooks) and serves PostgreSQL clients with `sql::pgwire::serve`.
//! 5. On SIGINT or SIGTERM the CLI drains ([`Server::drain`]: leases move away) and calls
//!    [`Server::stop`], which shuts the node's loops and Raft groups down, drops the
//!    handlers and stops the listeners.

// The futures of KV scans nested in job and backup code are deep.
#![recursion_limit = "256"]

pub mod client;
mod config;
pub mod demo;
mod error;
mod forward;
mod layers;
mod local_cluster;
mod nodelocal;
mod server;
mod status;

pub use config::{
    DEFAULT_HTTP_ADDR, DEFAULT_LISTEN_ADDR, DEFAULT_SQL_ADDR, DEFAULT_STORE_DIR, ServerConfig,
    StoreSpec,
};
pub use error::{AdminError, ServerError};
pub use local_cluster::{LocalCluster, LocalClusterOptions};
pub use server::{NodeState, Server};
pub use status::RangeStatus;
