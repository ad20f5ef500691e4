//! The layers above SQL, registered on each node's SQL layer and job registry: the statement
//! hooks of BACKUP/RESTORE (and SHOW BACKUP, external connections), their job resumers and
//! their flow processors; and the node's external storage context (`nodelocal://` served to
//! the other nodes over RPC).

use std::path::PathBuf;
use std::sync::Arc;

use cloud::{StorageContext, StorageOptions};
use rpc::Registry;
use sql::SqlServer;

/// Registers every layer above SQL on one node whose external IO directory is
/// `external_io_dir`.
pub fn register(sql: &SqlServer, jobs: &jobs::Registry, rpc: &Registry, external_io_dir: PathBuf) {
    let node = sql.node();
    let options = StorageOptions::default();
    crate::nodelocal::serve(rpc, external_io_dir.clone(), options.clone());
    let storage = StorageContext::new(node.node_id(), external_io_dir)
        .with_nodelocal_peers(Arc::new(crate::nodelocal::RpcNodelocal::new(
            node.store().rpc_client(),
        )))
        .with_options(options);
    backup::register(sql, jobs, storage);
}
