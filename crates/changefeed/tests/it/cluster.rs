//! The test kit's cluster ([`kv::testing`]) with, on each node, a SQL server, a job registry
//! and changefeeds registered; each node's `nodelocal://` is a directory of its own, which the
//! other nodes reach in process.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jobs::{JobId, JobRecord, Registry, RegistryConfig};
use kv::testing::Layer;
use sql::{Datum, SqlServer};

/// Every node's external IO directory, reached in process as the server reaches it over RPC:
/// each operation on `nodelocal://<other node>` runs on that node's own local storage.
#[derive(Default)]
struct Peers {
    dirs: parking_lot::Mutex<HashMap<base::NodeId, PathBuf>>,
}

impl Peers {
    fn dir(
        &self,
        node: base::NodeId,
    ) -> Result<Arc<dyn cloud::ExternalStorage>, cloud::CloudError> {
        let root =
            self.dirs
                .lock()
                .get(&node)
                .cloned()
                .ok_or_else(|| cloud::CloudError::Unreachable {
                    uri: format!("nodelocal://{}", node.0),
                    detail: "no such node".into(),
                })?;
        cloud::open_external_io_dir(&root, &cloud::StorageOptions::default())
    }
}

impl cloud::NodelocalTransfer for Peers {
    fn put(
        &self,
        node: base::NodeId,
        path: String,
        bytes: bytes::Bytes,
    ) -> cloud::StorageFuture<'_, ()> {
        Box::pin(async move { self.dir(node)?.put(&path, bytes).await })
    }

    fn get(
        &self,
        node: base::NodeId,
        path: String,
        range: Option<Range<u64>>,
    ) -> cloud::StorageFuture<'_, bytes::Bytes> {
        Box::pin(async move {
            let dir = self.dir(node)?;
            match range {
                Some(r) => dir.get_range(&path, r).await,
                None => dir.get(&path).await,
            }
        })
    }

    fn list(
        &self,
        node: base::NodeId,
        prefix: String,
        delimiter: Option<String>,
    ) -> cloud::StorageFuture<'_, Vec<String>> {
        Box::pin(async move { self.dir(node)?.list(&prefix, delimiter.as_deref()).await })
    }

    fn delete(&self, node: base::NodeId, path: String) -> cloud::StorageFuture<'_, ()> {
        Box::pin(async move { self.dir(node)?.delete(&path).await })
    }

    fn size(&self, node: base::NodeId, path: String) -> cloud::StorageFuture<'_, u64> {
        Box::pin(async move { self.dir(node)?.size(&path).await })
    }
}

/// What each node runs above KV.
pub struct Changefeeds {
    /// Its SQL server.
    pub sql: SqlServer,
    /// Its job registry.
    pub jobs: Registry,
}

impl Layer for Changefeeds {
    fn stop(&self) {
        self.jobs.stop();
    }
}

/// An in-process cluster.
pub struct TestCluster(kv::testing::TestCluster<Changefeeds>);

impl TestCluster {
    /// Starts one node per locality; returns once every node sees every other live.
    pub async fn start(localities: &[&str]) -> TestCluster {
        let cfg = RegistryConfig {
            adopt_interval: Duration::from_millis(300),
            retry_backoff: Duration::from_millis(200),
        };
        let peers = Arc::new(Peers::default());
        let c = kv::testing::TestCluster::builder(localities)
            .layer(move |n| {
                let jobs = Registry::start(n.node.clone(), n.registry, cfg.clone());
                let sql = SqlServer::new(n.node.clone());
                let extern_dir = n.dir.join("extern");
                peers
                    .dirs
                    .lock()
                    .insert(n.node.node_id(), extern_dir.clone());
                let storage = cloud::StorageContext::new(n.node.node_id(), extern_dir)
                    .with_nodelocal_peers(peers.clone());
                sextant_changefeed::register(&sql, &jobs, storage);
                Changefeeds { sql, jobs }
            })
            .start()
            .await;
        TestCluster(c)
    }

    /// Starts one node (`region=us-east1,az=a`) and runs `setup` on it as root.
    pub async fn one_node(setup: &str) -> TestCluster {
        let c = TestCluster::start(&["region=us-east1,az=a"]).await;
        c.exec(0, "", setup).await;
        c
    }

    /// Node `i`'s external IO directory, the root of its `nodelocal://`.
    pub fn extern_dir(&self, i: usize) -> PathBuf {
        self.node_dir(i).join("extern")
    }

    /// Runs statements on node `i` as root in `db`, returning the last result's rows.
    pub async fn exec(&self, i: usize, db: &str, sql: &str) -> Vec<Vec<Datum>> {
        let mut s = self.nodes[i].sql.session("root", db);
        match s.execute(sql).await {
            Ok(r) => r.last().map(|r| r.rows.clone()).unwrap_or_default(),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Runs a statement expected to fail, returning the error message.
    pub async fn exec_err(&self, i: usize, db: &str, sql: &str) -> String {
        let mut s = self.nodes[i].sql.session("root", db);
        match s.execute(sql).await {
            Ok(r) => panic!("{sql}: expected an error, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    /// The job id returned by a CREATE CHANGEFEED.
    pub async fn create_feed(&self, i: usize, db: &str, sql: &str) -> JobId {
        match self.exec(i, db, sql).await.first().and_then(|r| r.first()) {
            Some(Datum::Int(id)) => *id,
            other => panic!("{sql}: no job id: {other:?}"),
        }
    }

    /// Splits the range of `d.t` at each of the primary keys `keys`.
    pub async fn split_t_at(&self, keys: impl IntoIterator<Item = i64>) {
        let (desc, _) =
            sextant_changefeed::hook::resolve_table(&self.nodes[0].sql, "d", &["t".into()])
                .await
                .expect("table");
        for v in keys {
            let key = sql::encoding::primary_key_from_values(&desc, &[Datum::Int(v)]).expect("key");
            self.nodes[0].node.admin_split(&key).await.expect("split");
        }
    }

    /// On node 0, CREATE CHANGEFEED FOR `d.t` into the Kafka broker at `addr`, checkpointing
    /// every 200ms.
    pub async fn kafka_feed(&self, addr: &str) -> JobId {
        self.create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO 'kafka://{addr}' WITH min_checkpoint_frequency='200ms'"
            ),
        )
        .await
    }

    /// Waits until feed `id` fails on a schema change, and checks that is its error.
    pub async fn wait_schema_change_failure(&self, id: JobId) {
        let rec = self
            .wait_job(id, Duration::from_secs(15), "failed", |r| {
                r.status.as_str() == "failed"
            })
            .await;
        let e = rec.error.unwrap_or_default();
        assert!(e.starts_with("schema change occurred at "), "{e}");
    }

    /// Waits until job `id` satisfies `pred`.
    pub async fn wait_job(
        &self,
        id: JobId,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let jobs = &self.nodes[self.nodes.len() - 1].jobs;
        jobs::testing::wait_for(jobs, id, timeout, what, pred).await
    }
}

kv::deref_test_cluster!(TestCluster => 0: Changefeeds);
