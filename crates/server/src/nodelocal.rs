//! `nodelocal://<node>/path` across nodes: every node serves its external IO directory over
//! RPC (`nodelocal.op`), and [`RpcNodelocal`] is the [`cloud::NodelocalTransfer`] that reaches
//! another node's directory through it. So a backup processor on node 3 can write to
//! `nodelocal://1/backups`, as in CockroachDB.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base::NodeId;
use bytes::Bytes;
use cloud::{CloudError, ExternalStorage, NodelocalTransfer, StorageFuture, StorageOptions};
use rpc::{Registry, Rpc, RpcError};
use serde::{Deserialize, Serialize};

/// The method that serves a node's external IO directory to the others.
pub const NODELOCAL_METHOD: &str = "nodelocal.op";

/// How long one transfer may take.
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Serialize, Deserialize)]
enum Op {
    Put {
        path: String,
        bytes: Vec<u8>,
    },
    Get {
        path: String,
        range: Option<(u64, u64)>,
    },
    List {
        prefix: String,
        delimiter: Option<String>,
    },
    Delete {
        path: String,
    },
    Size {
        path: String,
    },
}

#[derive(Serialize, Deserialize)]
enum Answer {
    Done,
    Bytes(Vec<u8>),
    Names(Vec<String>),
    Size(u64),
}

/// Serves this node's external IO directory `root` to the other nodes.
pub fn serve(registry: &Registry, root: PathBuf, options: StorageOptions) {
    registry.unary(NODELOCAL_METHOD, move |_caller, op: Op| {
        let root = root.clone();
        let options = options.clone();
        async move {
            let answer: Result<Answer, CloudError> = async {
                let store: Arc<dyn ExternalStorage> = cloud::open_external_io_dir(&root, &options)?;
                Ok(match op {
                    Op::Put { path, bytes } => {
                        store.put(&path, Bytes::from(bytes)).await?;
                        Answer::Done
                    }
                    Op::Get { path, range } => {
                        let b = match range {
                            Some((start, end)) => store.get_range(&path, start..end).await?,
                            None => store.get(&path).await?,
                        };
                        Answer::Bytes(b.to_vec())
                    }
                    Op::List { prefix, delimiter } => {
                        Answer::Names(store.list(&prefix, delimiter.as_deref()).await?)
                    }
                    Op::Delete { path } => {
                        store.delete(&path).await?;
                        Answer::Done
                    }
                    Op::Size { path } => Answer::Size(store.size(&path).await?),
                })
            }
            .await;
            Ok::<_, RpcError>(answer)
        }
    });
}

/// Reaches other nodes' external IO directories over RPC.
pub struct RpcNodelocal {
    rpc: Rpc,
}

impl RpcNodelocal {
    /// Transfers through `rpc`.
    pub fn new(rpc: Rpc) -> RpcNodelocal {
        RpcNodelocal { rpc }
    }

    async fn call(&self, node: NodeId, op: Op) -> Result<Answer, CloudError> {
        let target = format!("nodelocal://{node}");
        match self
            .rpc
            .call_timeout::<Op, Result<Answer, CloudError>>(node, NODELOCAL_METHOD, &op, TIMEOUT)
            .await
        {
            Ok(answer) => answer,
            Err(e) => Err(CloudError::Unreachable {
                uri: target,
                detail: e.to_string(),
            }),
        }
    }
}

fn unexpected(node: NodeId) -> CloudError {
    CloudError::Io {
        uri: format!("nodelocal://{node}"),
        detail: "unexpected answer from the node".into(),
        retryable: false,
    }
}

impl NodelocalTransfer for RpcNodelocal {
    fn put(&self, node: NodeId, path: String, bytes: Bytes) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            match self
                .call(
                    node,
                    Op::Put {
                        path,
                        bytes: bytes.to_vec(),
                    },
                )
                .await?
            {
                Answer::Done => Ok(()),
                _ => Err(unexpected(node)),
            }
        })
    }

    fn get(
        &self,
        node: NodeId,
        path: String,
        range: Option<Range<u64>>,
    ) -> StorageFuture<'_, Bytes> {
        Box::pin(async move {
            let range = range.map(|r| (r.start, r.end));
            match self.call(node, Op::Get { path, range }).await? {
                Answer::Bytes(b) => Ok(Bytes::from(b)),
                _ => Err(unexpected(node)),
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
            match self.call(node, Op::List { prefix, delimiter }).await? {
                Answer::Names(n) => Ok(n),
                _ => Err(unexpected(node)),
            }
        })
    }

    fn delete(&self, node: NodeId, path: String) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            match self.call(node, Op::Delete { path }).await? {
                Answer::Done => Ok(()),
                _ => Err(unexpected(node)),
            }
        })
    }

    fn size(&self, node: NodeId, path: String) -> StorageFuture<'_, u64> {
        Box::pin(async move {
            match self.call(node, Op::Size { path }).await? {
                Answer::Size(s) => Ok(s),
                _ => Err(unexpected(node)),
            }
        })
    }
}
