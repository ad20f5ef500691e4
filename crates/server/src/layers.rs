//! The layers above SQL, registered on each node's SQL layer and job registry: the statement
//! hooks of BACKUP/RESTORE (and SHOW BACKUP, external connections) and CHANGEFEED, their job
//! resumers and their flow processors; and the node's external storage context
//! (`nodelocal://` served to the other nodes over RPC, `external://name` resolved from the
//! connections stored in KV).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cloud::{ConnectionResolver, StorageContext, StorageOptions};
use kv::KvNode;
use rpc::Registry;
use sql::SqlServer;

/// How often the node re-reads the external connections stored in KV.
const CONNECTIONS_REFRESH: Duration = Duration::from_secs(1);

/// Registers every layer above SQL on one node whose external IO directory is
/// `external_io_dir`.
pub fn register(sql: &SqlServer, jobs: &jobs::Registry, rpc: &Registry, external_io_dir: PathBuf) {
    let node = sql.node();
    let options = StorageOptions::default();
    crate::nodelocal::serve(rpc, external_io_dir.clone(), options.clone());
    let connections = KvConnections::start(node.clone());
    let storage = StorageContext::new(node.node_id(), external_io_dir)
        .with_nodelocal_peers(Arc::new(crate::nodelocal::RpcNodelocal::new(
            node.store().rpc_client(),
        )))
        .with_connections(connections)
        .with_options(options);
    backup::register(sql, jobs, storage.clone());
    crate::forward::serve(rpc, sql);
    if let Some(inner) = sql.hook(sql::HookKind::Restore) {
        sql.register_hook(
            sql::HookKind::Restore,
            Arc::new(crate::forward::Forwarding { inner }),
        );
    }
    changefeed::register(sql, jobs, storage);
    sql.set_changefeed_jobs_formatter(Arc::new(changefeed::show_changefeed_jobs));
}

/// The external connections stored in KV (`CREATE EXTERNAL CONNECTION`), kept in memory for
/// the synchronous [`ConnectionResolver`]: re-read every second, and on a miss read at once
/// (when the runtime allows blocking), so a connection created a moment ago resolves.
pub struct KvConnections {
    node: KvNode,
    cache: RwLock<HashMap<String, String>>,
}

impl KvConnections {
    fn start(node: KvNode) -> Arc<KvConnections> {
        let me = Arc::new(KvConnections {
            node,
            cache: RwLock::new(HashMap::new()),
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(async move {
            loop {
                let Some(me) = weak.upgrade() else { return };
                me.refresh().await;
                drop(me);
                tokio::time::sleep(CONNECTIONS_REFRESH).await;
            }
        });
        me
    }

    fn refresh(&self) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(self.refresh_now())
    }

    async fn refresh_now(&self) {
        if let Ok(list) = backup::connection::list(self.node.sender()).await
            && let Ok(mut cache) = self.cache.write()
        {
            *cache = list.into_iter().collect();
        }
    }

    fn cached(&self, name: &str) -> Option<String> {
        self.cache.read().ok()?.get(name).cloned()
    }
}

impl ConnectionResolver for KvConnections {
    fn resolve(&self, name: &str) -> Option<String> {
        if let Some(uri) = self.cached(name) {
            return Some(uri);
        }
        let handle = tokio::runtime::Handle::try_current().ok()?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return None;
        }
        tokio::task::block_in_place(|| handle.block_on(self.refresh()));
        self.cached(name)
    }
}
