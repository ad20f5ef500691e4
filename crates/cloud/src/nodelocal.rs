//! `nodelocal://<node>/path`: a node's external IO directory (CockroachDB's
//! `--external-io-dir`, by default `<store>/extern`).
//!
//! `nodelocal://self/…` and `nodelocal://0/…` name the directory of whichever node opens the
//! URI; `nodelocal://3/…` names node 3's. When the id is the opening node's own, the files are
//! read and written directly ([`open_external_io_dir`] through `object_store`'s local file
//! system: writes go to a temporary file renamed into place, so a reader never sees half a
//! file). For another node the storage forwards each operation to that node through
//! [`NodelocalTransfer`], which the server implements over RPC by calling, on the target
//! node, the same operations of its own [`open_external_io_dir`]. Paths cannot leave the
//! directory: `..` segments are refused.

use crate::error::CloudError;
use crate::object::{ObjectStorage, Upload};
use crate::options::StorageOptions;
use crate::storage::{
    ExternalStorage, ObjectWriter, StorageFuture, check_delimiter, check_range, join,
};
use crate::uri::{ExternalStorageUri, NodelocalTarget};
use base::NodeId;
use bytes::{Bytes, BytesMut};
use futures::future::BoxFuture;
use object_store::Attributes;
use object_store::local::LocalFileSystem;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// File operations on another node's external IO directory, implemented by the server over
/// RPC. Paths are relative to that node's directory; the semantics of each operation are
/// those of the same-named [`ExternalStorage`] operation on `nodelocal://self`.
pub trait NodelocalTransfer: Send + Sync {
    /// Writes a whole file on `node`.
    fn put(&self, node: NodeId, path: String, bytes: Bytes) -> StorageFuture<'_, ()>;
    /// Reads a file on `node`, or bytes `range` of it.
    fn get(
        &self,
        node: NodeId,
        path: String,
        range: Option<Range<u64>>,
    ) -> StorageFuture<'_, Bytes>;
    /// Lists the names under the string `prefix` on `node`.
    fn list(
        &self,
        node: NodeId,
        prefix: String,
        delimiter: Option<String>,
    ) -> StorageFuture<'_, Vec<String>>;
    /// Deletes a file on `node` (succeeds if it does not exist).
    fn delete(&self, node: NodeId, path: String) -> StorageFuture<'_, ()>;
    /// The size of a file on `node`.
    fn size(&self, node: NodeId, path: String) -> StorageFuture<'_, u64>;
}

/// Opens a node's own external IO directory `root` as `nodelocal://self`, creating it if
/// needed. The server serves [`NodelocalTransfer`] requests from other nodes with this.
pub fn open_external_io_dir(
    root: &Path,
    options: &StorageOptions,
) -> Result<Arc<dyn ExternalStorage>, CloudError> {
    let uri = ExternalStorageUri::parse("nodelocal://self")?;
    Ok(Arc::new(local(uri, root, options)?))
}

/// Opens a `nodelocal://` URI on node `me`, whose external IO directory is `root`.
pub(crate) fn open(
    uri: ExternalStorageUri,
    me: NodeId,
    root: &Path,
    peers: Option<&Arc<dyn NodelocalTransfer>>,
    options: &StorageOptions,
) -> Result<Arc<dyn ExternalStorage>, CloudError> {
    let target = uri
        .nodelocal_target()
        .map_err(|reason| CloudError::InvalidUri {
            uri: uri.redacted(),
            reason,
        })?;
    match target {
        NodelocalTarget::Local => Ok(Arc::new(local(uri, root, options)?)),
        NodelocalTarget::Node(id) if id == me => Ok(Arc::new(local(uri, root, options)?)),
        NodelocalTarget::Node(node) => match peers {
            Some(transfer) => Ok(Arc::new(RemoteNodelocal {
                base: uri.path().to_string(),
                uri,
                node,
                transfer: Arc::clone(transfer),
            })),
            None => Err(CloudError::Unsupported {
                what: format!(
                    "{uri} names node {} but this process cannot reach other nodes' \
                     external IO directories; use nodelocal://self",
                    node.0
                ),
            }),
        },
    }
}

fn local(
    uri: ExternalStorageUri,
    root: &Path,
    options: &StorageOptions,
) -> Result<ObjectStorage, CloudError> {
    let fail = |e: std::io::Error| {
        let detail = format!("cannot use external IO directory {}: {e}", root.display());
        match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                CloudError::AccessDenied {
                    uri: uri.redacted(),
                    detail,
                }
            }
            _ => CloudError::Io {
                uri: uri.redacted(),
                detail,
                retryable: false,
            },
        }
    };
    std::fs::create_dir_all(root).map_err(fail)?;
    let fs = LocalFileSystem::new_with_prefix(root)
        .map_err(|e| fail(std::io::Error::other(e.to_string())))?
        .with_automatic_cleanup(true);
    Ok(ObjectStorage::new(
        uri,
        Arc::new(fs),
        String::new(),
        Upload::Multipart,
        Attributes::new(),
        options.clone(),
    ))
}

/// `nodelocal://<other node>/…`: every operation is forwarded to that node.
struct RemoteNodelocal {
    uri: ExternalStorageUri,
    node: NodeId,
    base: String,
    transfer: Arc<dyn NodelocalTransfer>,
}

impl RemoteNodelocal {
    fn path(&self, path: &str) -> Result<String, CloudError> {
        let p = path.trim_matches('/');
        if p.is_empty() || p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
            return Err(CloudError::InvalidPath {
                path: path.to_string(),
                reason: "a path needs non-empty segments other than '.' and '..'".into(),
            });
        }
        Ok(join(&self.base, p))
    }
}

impl ExternalStorage for RemoteNodelocal {
    fn uri(&self) -> &ExternalStorageUri {
        &self.uri
    }

    fn put<'a>(&'a self, path: &'a str, bytes: Bytes) -> StorageFuture<'a, ()> {
        Box::pin(async move { self.transfer.put(self.node, self.path(path)?, bytes).await })
    }

    fn get<'a>(&'a self, path: &'a str) -> StorageFuture<'a, Bytes> {
        Box::pin(async move { self.transfer.get(self.node, self.path(path)?, None).await })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> StorageFuture<'a, Bytes> {
        Box::pin(async move {
            check_range(path, &range)?;
            self.transfer
                .get(self.node, self.path(path)?, Some(range))
                .await
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        delimiter: Option<&'a str>,
    ) -> StorageFuture<'a, Vec<String>> {
        Box::pin(async move {
            check_delimiter(delimiter)?;
            let prefix = prefix.trim_start_matches('/');
            let full = if self.base.is_empty() {
                prefix.to_string()
            } else {
                format!("{}/{prefix}", self.base)
            };
            let delimiter = delimiter.map(str::to_string);
            self.transfer.list(self.node, full, delimiter).await
        })
    }

    fn delete<'a>(&'a self, path: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move { self.transfer.delete(self.node, self.path(path)?).await })
    }

    fn size<'a>(&'a self, path: &'a str) -> StorageFuture<'a, u64> {
        Box::pin(async move { self.transfer.size(self.node, self.path(path)?).await })
    }

    fn writer(&self, path: &str) -> Result<Box<dyn ObjectWriter>, CloudError> {
        Ok(Box::new(RemoteWriter {
            node: self.node,
            path: self.path(path)?,
            buf: BytesMut::new(),
            transfer: Arc::clone(&self.transfer),
        }))
    }
}

/// Buffers a file and sends it to the other node whole.
struct RemoteWriter {
    node: NodeId,
    path: String,
    buf: BytesMut,
    transfer: Arc<dyn NodelocalTransfer>,
}

impl ObjectWriter for RemoteWriter {
    fn write(&mut self, bytes: Bytes) -> StorageFuture<'_, ()> {
        self.buf.extend_from_slice(&bytes);
        Box::pin(async { Ok(()) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<u64, CloudError>> {
        Box::pin(async move {
            let n = self.buf.len() as u64;
            let RemoteWriter {
                node,
                path,
                buf,
                transfer,
            } = *self;
            transfer.put(node, path, buf.freeze()).await?;
            Ok(n)
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), CloudError>> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;
    use std::collections::HashMap;

    /// Other nodes' directories, served in memory by each node's own local storage: the
    /// same path the server's RPC takes, without the network.
    struct InMemoryPeers {
        dirs: HashMap<NodeId, Arc<dyn ExternalStorage>>,
        calls: Mutex<Vec<(NodeId, String)>>,
    }

    impl InMemoryPeers {
        fn dir(&self, node: NodeId, op: &str) -> Result<Arc<dyn ExternalStorage>, CloudError> {
            self.calls.lock().push((node, op.to_string()));
            self.dirs
                .get(&node)
                .cloned()
                .ok_or(CloudError::Unreachable {
                    uri: format!("nodelocal://{}", node.0),
                    detail: "no such node".into(),
                })
        }
    }

    impl NodelocalTransfer for InMemoryPeers {
        fn put(&self, node: NodeId, path: String, bytes: Bytes) -> StorageFuture<'_, ()> {
            Box::pin(async move { self.dir(node, "put")?.put(&path, bytes).await })
        }
        fn get(
            &self,
            node: NodeId,
            path: String,
            range: Option<Range<u64>>,
        ) -> StorageFuture<'_, Bytes> {
            Box::pin(async move {
                let dir = self.dir(node, "get")?;
                match range {
                    Some(r) => dir.get_range(&path, r).await,
                    None => dir.get(&path).await,
                }
            })
        }
        fn list(
            &self,
            node: NodeId,
            prefix: String,
            delimiter: Option<String>,
        ) -> StorageFuture<'_, Vec<String>> {
            Box::pin(async move {
                self.dir(node, "list")?
                    .list(&prefix, delimiter.as_deref())
                    .await
            })
        }
        fn delete(&self, node: NodeId, path: String) -> StorageFuture<'_, ()> {
            Box::pin(async move { self.dir(node, "delete")?.delete(&path).await })
        }
        fn size(&self, node: NodeId, path: String) -> StorageFuture<'_, u64> {
            Box::pin(async move { self.dir(node, "size")?.size(&path).await })
        }
    }

    fn tempdir() -> tempfile::TempDir {
        match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        }
    }

    #[tokio::test]
    async fn other_nodes_go_through_the_transfer() -> Result<(), CloudError> {
        let (d1, d2) = (tempdir(), tempdir());
        let opts = StorageOptions::default();
        let mut dirs = HashMap::new();
        dirs.insert(NodeId(2), open_external_io_dir(d2.path(), &opts)?);
        let peers = Arc::new(InMemoryPeers {
            dirs,
            calls: Mutex::new(Vec::new()),
        });
        let transfer: Arc<dyn NodelocalTransfer> = peers.clone();
        let open_on_n1 = |s: &str| {
            let uri = ExternalStorageUri::parse(s)?;
            open(uri, NodeId(1), d1.path(), Some(&transfer), &opts)
        };

        let remote = open_on_n1("nodelocal://2/backups")?;
        remote.put("a/1.sst", Bytes::from_static(b"hello")).await?;
        let mut w = remote.writer("a/2.sst")?;
        w.write(Bytes::from_static(b"wor")).await?;
        w.write(Bytes::from_static(b"ld")).await?;
        assert_eq!(w.finish().await?, 5);
        assert!(
            d2.path().join("backups/a/1.sst").exists(),
            "written on node 2"
        );
        assert!(!d1.path().join("backups").exists(), "not on node 1");
        assert_eq!(remote.get("a/2.sst").await?, Bytes::from_static(b"world"));
        assert_eq!(
            remote.get_range("a/1.sst", 1..3).await?,
            Bytes::from_static(b"el")
        );
        assert_eq!(remote.size("a/1.sst").await?, 5);
        assert_eq!(remote.list("a/", None).await?, vec!["1.sst", "2.sst"]);
        assert_eq!(remote.list("", Some("/")).await?, vec!["a/"]);
        remote.delete("a/1.sst").await?;
        assert!(
            remote
                .get("a/1.sst")
                .await
                .err()
                .is_some_and(|e| e.is_not_found())
        );
        assert!(remote.get("../escape").await.is_err());
        assert!(peers.calls.lock().iter().all(|(n, _)| *n == NodeId(2)));

        // Our own id, `self` and 0 stay local.
        for s in ["nodelocal://1/x", "nodelocal://self/x", "nodelocal://0/x"] {
            let before = peers.calls.lock().len();
            open_on_n1(s)?.put("f", Bytes::from_static(b"1")).await?;
            assert_eq!(peers.calls.lock().len(), before, "{s} went remote");
        }
        assert!(d1.path().join("x/f").exists());

        // An unknown node's error comes back as the transfer reports it.
        let err = open_on_n1("nodelocal://9/x")?.get("f").await.err();
        assert!(
            matches!(err, Some(CloudError::Unreachable { .. })),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn without_peers_other_nodes_are_refused() {
        let d = tempdir();
        let uri = ExternalStorageUri::parse("nodelocal://7/x");
        let r = uri.and_then(|u| open(u, NodeId(1), d.path(), None, &StorageOptions::default()));
        assert!(matches!(r, Err(CloudError::Unsupported { .. })));
    }
}
