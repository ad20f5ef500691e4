//! What can go wrong starting, running or talking to a server.

use std::sync::Arc;
use std::time::Duration;

/// Why a server did not start or stopped, or a local cluster did not get where it was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened; [`storage::StorageError::StoreInUse`] means another
    /// process has it open.
    #[error("{0}")]
    Storage(#[from] storage::StorageError),
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {reason}")]
    Bind {
        /// Which listener: `rpc` or `http`.
        what: &'static str,
        /// The address asked for.
        addr: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The KV node failed to start (join timeout, storage, bootstrap).
    #[error("{0}")]
    Node(Arc<kv::node::NodeError>),
    /// A KV request failed.
    #[error("{0}")]
    Kv(#[from] kv::KvError),
    /// The server was stopped before its node started.
    #[error("the server was stopped")]
    Stopped,
    /// Something did not happen in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        after: Duration,
    },
    /// A request the configuration cannot satisfy.
    #[error("{0}")]
    Config(String),
}

impl ServerError {
    /// Whether the store directory is locked by another engine.
    pub fn is_store_in_use(&self) -> bool {
        matches!(
            self,
            ServerError::Storage(storage::StorageError::StoreInUse { .. })
        )
    }
}

/// Why an admin command (`init`, `node status`, `node drain`) sent to a node failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AdminError {
    /// No answer from the address.
    #[error("cannot reach node at {addr}: {reason}")]
    Unreachable {
        /// The RPC address dialed.
        addr: String,
        /// What the transport said.
        reason: String,
    },
    /// The node is up but has not joined or bootstrapped a cluster.
    #[error("node at {addr} is not part of an initialized cluster yet (run `sextant init`)")]
    NotInitialized {
        /// The RPC address dialed.
        addr: String,
    },
    /// The node answered with an error.
    #[error("{0}")]
    Refused(String),
}
