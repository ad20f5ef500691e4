//! Ranges and replicas.
//!
//! The key space is split into ranges; each range is one Raft group ([`raft`]) whose members
//! are this range's replicas on different nodes: voters, and non-voters (Raft learners) that
//! follow the log without voting. The group's leader holds the range's lease: it evaluates
//! requests ([`replica`]) into raw writes that every replica applies in log order.
//!
//! From the bottom up:
//! - [`command`]: what the Raft log carries.
//! - [`raft`]: one openraft group per range, its durable log on the engine, snapshots.
//! - [`tscache`], [`rangefeed`]: per-replica timestamp cache and change streams;
//!   [`rangefeed_client`] the multi-range, reconnecting client side.
//! - [`replica`]: request evaluation on the leaseholder, follower reads below the closed
//!   timestamp, closed timestamp promises.
//! - [`store`]: every replica of a node, the applier, the RPC handlers.
//! - [`dist_sender`]: the client side: range lookup through the meta range, the replica
//!   oracle, retries, intent resolution.
//! - [`txn`]: transactions (SERIALIZABLE): intents, records, heartbeats, refresh, commit.
//! - [`allocator`]: where replicas and leases should be, from zone configs (pure).
//! - [`node`]: bootstrap, join, liveness, the node directory, the replicate queue, splits.
//! - [`metrics`]: bytes of read responses served, per gateway node and region.
//! - `testing` (feature `testing`): the test kit, in-process clusters for the tests of this
//!   crate and of the crates above it.

pub mod allocator;
pub mod api;
pub mod command;
pub mod dist_sender;
pub mod latch;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod rangefeed;
pub mod rangefeed_client;
pub mod replica;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tscache;
pub mod txn;

pub use api::{BatchRequest, BatchResponse, KvError, Request, Response};
pub use dist_sender::DistSender;
pub use node::{KvNode, KvNodeConfig};
pub use txn::{Txn, TxnError, run_txn};
