//! [`StorageContext`]: what a node tells [`open`](crate::open) about itself, and the
//! [`ConnectionResolver`] through which `external://name` finds its URI.

use crate::error::CloudError;
use crate::nodelocal::NodelocalTransfer;
use crate::options::StorageOptions;
use crate::uri::{ExternalStorageUri, Scheme};
use base::NodeId;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Looks up external connections (`CREATE EXTERNAL CONNECTION name AS 'uri'`). The sql layer
/// owns them; [`open`](crate::open) is synchronous, so implementations answer from memory
/// (e.g. an [`InMemoryConnections`] kept current by the sql layer) and never block on I/O.
pub trait ConnectionResolver: Send + Sync {
    /// The URI stored for connection `name`, with its secrets; `None` if there is none.
    fn resolve(&self, name: &str) -> Option<String>;
}

/// A resolver that knows no connections.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConnections;

impl ConnectionResolver for NoConnections {
    fn resolve(&self, _name: &str) -> Option<String> {
        None
    }
}

/// External connections held in memory: the test resolver, and a cache the sql layer can
/// keep current.
#[derive(Debug, Default)]
pub struct InMemoryConnections {
    by_name: RwLock<HashMap<String, String>>,
}

impl InMemoryConnections {
    /// An empty set of connections.
    pub fn new() -> InMemoryConnections {
        InMemoryConnections::default()
    }

    /// Adds or replaces connection `name` after checking its URI with
    /// [`validate_connection_uri`].
    pub fn insert(&self, name: &str, uri: &str) -> Result<(), CloudError> {
        validate_connection_uri(uri)?;
        self.by_name
            .write()
            .insert(name.to_string(), uri.to_string());
        Ok(())
    }

    /// Removes connection `name`; whether it existed.
    pub fn remove(&self, name: &str) -> bool {
        self.by_name.write().remove(name).is_some()
    }
}

impl ConnectionResolver for InMemoryConnections {
    fn resolve(&self, name: &str) -> Option<String> {
        self.by_name.read().get(name).cloned()
    }
}

/// Checks the URI of a new external connection: it parses with its scheme's parameters, and
/// it is not itself an `external://` URI.
pub fn validate_connection_uri(uri: &str) -> Result<ExternalStorageUri, CloudError> {
    let parsed = ExternalStorageUri::parse(uri)?;
    if parsed.scheme() == Scheme::External {
        return Err(CloudError::InvalidUri {
            uri: parsed.redacted(),
            reason: "an external connection cannot refer to another external connection".into(),
        });
    }
    Ok(parsed)
}

/// What a node passes to [`open`](crate::open).
#[derive(Clone)]
pub struct StorageContext {
    /// This node's id: `nodelocal://<this id>/…` is local.
    pub node_id: NodeId,
    /// This node's external IO directory (CockroachDB's `--external-io-dir`, by default
    /// `<store>/extern`), the root of `nodelocal://self/…`.
    pub nodelocal_root: PathBuf,
    /// Resolves `external://name`.
    pub connections: Arc<dyn ConnectionResolver>,
    /// Reaches other nodes' external IO directories; `None` refuses `nodelocal://<other>`.
    pub nodelocal_peers: Option<Arc<dyn NodelocalTransfer>>,
    /// Timeouts, retries and upload sizes.
    pub options: StorageOptions,
}

impl StorageContext {
    /// A context for node `node_id` with external IO directory `nodelocal_root`, no external
    /// connections, no access to other nodes, and default options.
    pub fn new(node_id: NodeId, nodelocal_root: impl Into<PathBuf>) -> StorageContext {
        StorageContext {
            node_id,
            nodelocal_root: nodelocal_root.into(),
            connections: Arc::new(NoConnections),
            nodelocal_peers: None,
            options: StorageOptions::default(),
        }
    }

    /// Uses `connections` to resolve `external://name`.
    pub fn with_connections(mut self, connections: Arc<dyn ConnectionResolver>) -> Self {
        self.connections = connections;
        self
    }

    /// Reaches other nodes' directories through `peers`.
    pub fn with_nodelocal_peers(mut self, peers: Arc<dyn NodelocalTransfer>) -> Self {
        self.nodelocal_peers = Some(peers);
        self
    }

    /// Uses `options` for every storage opened.
    pub fn with_options(mut self, options: StorageOptions) -> Self {
        self.options = options;
        self
    }
}

impl std::fmt::Debug for StorageContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageContext")
            .field("node_id", &self.node_id)
            .field("nodelocal_root", &self.nodelocal_root)
            .field("nodelocal_peers", &self.nodelocal_peers.is_some())
            .field("options", &self.options)
            .finish()
    }
}
