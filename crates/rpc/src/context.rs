//! What a node's transport knows about the node itself.

use base::{Clock, NodeId, Timestamp};
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The node's identity and clock, shared by its client ([`crate::Rpc`]) and server
/// ([`crate::RpcServer`]). The node id and cluster id are learned after start (when the node
/// joins or bootstraps), so both are settable.
pub struct RpcContext {
    node_id: AtomicU64,
    cluster_id: RwLock<String>,
    /// The node's hybrid logical clock: read for every message sent, updated with every
    /// message received.
    pub clock: Arc<dyn Clock>,
}

impl RpcContext {
    /// A context with no node id (0) and no cluster id (empty) yet.
    pub fn new(clock: Arc<dyn Clock>) -> RpcContext {
        RpcContext {
            node_id: AtomicU64::new(0),
            cluster_id: RwLock::new(String::new()),
            clock,
        }
    }

    /// Sets the node id, builder style.
    pub fn with_node_id(self, node: NodeId) -> RpcContext {
        self.set_node_id(node);
        self
    }

    /// Sets the cluster id, builder style.
    pub fn with_cluster_id(self, cluster_id: impl Into<String>) -> RpcContext {
        self.set_cluster_id(cluster_id);
        self
    }

    /// The node's id; `NodeId(0)` until assigned.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.node_id.load(Ordering::Acquire))
    }

    /// Assigns the node's id.
    pub fn set_node_id(&self, node: NodeId) {
        self.node_id.store(node.0, Ordering::Release);
    }

    /// The cluster id; empty until known. An empty id on either side skips the check.
    pub fn cluster_id(&self) -> String {
        self.cluster_id.read().clone()
    }

    /// Sets the cluster id.
    pub fn set_cluster_id(&self, cluster_id: impl Into<String>) {
        *self.cluster_id.write() = cluster_id.into();
    }

    /// Rejects a sender's cluster id that differs from ours, when both are known.
    pub(crate) fn check_cluster(&self, theirs: &str) -> Result<(), crate::RpcError> {
        let ours = self.cluster_id.read();
        if ours.is_empty() || theirs.is_empty() || *ours == theirs {
            return Ok(());
        }
        Err(crate::RpcError::ClusterMismatch {
            expected: ours.clone(),
            got: theirs.to_string(),
        })
    }

    /// Takes a received clock reading into account, or rejects the message carrying it.
    pub(crate) fn observe(&self, wall: i64, logical: u32) -> Result<(), crate::RpcError> {
        self.clock
            .update(Timestamp::new(wall, logical))
            .map_err(crate::RpcError::ClockOffset)
    }
}

impl std::fmt::Debug for RpcContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcContext")
            .field("node_id", &self.node_id())
            .field("cluster_id", &self.cluster_id())
            .finish_non_exhaustive()
    }
}
