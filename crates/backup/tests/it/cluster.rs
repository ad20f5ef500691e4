//! The test kit's cluster ([`kv::testing`]) with, on each node, a SQL server, a job
//! registry and the backup hooks registered, sharing one external IO directory (so
//! `nodelocal://self/...` is the same place from every node).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kv::node::LivenessConfig;
use kv::testing::Layer;
use sql::{SqlServer, StatementResult};

/// What each node runs above KV.
pub struct Backup {
    /// Its SQL server.
    pub sql: SqlServer,
    /// Its job registry.
    pub jobs: jobs::Registry,
}

impl Layer for Backup {
    fn stop(&self) {
        self.jobs.stop();
    }
}

impl Backup {
    /// Runs statements as root in `db`.
    pub async fn exec(&self, db: &str, stmts: &str) -> Result<Vec<StatementResult>, sql::SqlError> {
        self.sql.session("root", db).execute(stmts).await
    }

    /// Runs statements that must succeed; the last result.
    pub async fn ok(&self, db: &str, stmts: &str) -> StatementResult {
        let mut r = self
            .exec(db, stmts)
            .await
            .unwrap_or_else(|e| panic!("{stmts}: {e}"));
        r.pop().expect("a result")
    }
}

/// One node.
pub type TestNode = kv::testing::TestNode<Backup>;

/// An in-process cluster.
pub struct TestCluster {
    cluster: kv::testing::TestCluster<Backup>,
    /// The shared external IO directory.
    pub extern_dir: tempfile::TempDir,
    /// The backup testing knobs every node was registered with.
    pub knobs: Arc<sextant_backup::TestingKnobs>,
}

impl TestCluster {
    /// Starts one node per locality.
    pub async fn start(localities: &[&str]) -> TestCluster {
        TestCluster::start_with(localities, jobs::RegistryConfig::default()).await
    }

    /// [`TestCluster::start`] with job registry timings (for example a short adoption interval).
    pub async fn start_with(
        localities: &[&str],
        registry_cfg: jobs::RegistryConfig,
    ) -> TestCluster {
        let knobs = Arc::new(sextant_backup::TestingKnobs::default());
        let extern_dir = tempfile::tempdir().expect("tempdir");
        let (dir, layer_knobs): (PathBuf, _) = (extern_dir.path().into(), knobs.clone());
        let cluster = kv::testing::TestCluster::builder(localities)
            // Liveness lasts 15 heartbeats: a loaded machine delays heartbeats by seconds,
            // and a node that looks dead is left out of job plans.
            .configure(|_, kv| {
                kv.liveness = LivenessConfig {
                    heartbeat: Duration::from_millis(300),
                    ttl: Duration::from_millis(4500),
                    time_until_dead: Duration::from_secs(30),
                }
            })
            .layer(move |n| {
                let sql = SqlServer::new(n.node.clone());
                let jobs = jobs::Registry::start(n.node.clone(), n.registry, registry_cfg.clone());
                let storage = cloud::StorageContext::new(n.node.node_id(), &dir);
                sextant_backup::register_with_knobs(&sql, &jobs, storage, layer_knobs.clone());
                Backup { sql, jobs }
            })
            .start()
            .await;
        TestCluster {
            cluster,
            extern_dir,
            knobs,
        }
    }

    /// Stops every node still running.
    pub async fn shutdown(self) {
        self.cluster.shutdown().await;
    }
}

kv::deref_test_cluster!(TestCluster => cluster: Backup);
