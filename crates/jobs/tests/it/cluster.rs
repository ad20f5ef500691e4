//! The test kit's cluster ([`kv::testing`]) with a job registry on each node, the test
//! resumer and processor registered on it.

use std::time::Duration;

use kv::node::{KvNodeConfig, LivenessConfig};
use kv::testing::Layer;
use sextant_jobs::{JobId, JobRecord, JobStatus, Registry, RegistryConfig};

use crate::testjob::{self, Log};

/// What each node runs above KV.
pub struct Jobs {
    /// Its job registry.
    pub jobs: Registry,
}

impl Layer for Jobs {
    fn stop(&self) {
        self.jobs.stop();
    }
}

/// An in-process cluster.
pub struct TestCluster {
    cluster: kv::testing::TestCluster<Jobs>,
    /// What the test resumers and processors did, on every node.
    pub log: Log,
}

impl TestCluster {
    /// Starts one node per locality, each with a job registry using `cfg`, and waits until
    /// every node sees every other one live and every range is fully replicated (tests kill
    /// nodes only then: see [`kv::testing::TestCluster::wait_full_replication`]).
    pub async fn start(localities: &[&str], cfg: RegistryConfig) -> TestCluster {
        let log = Log::default();
        let layer_log = log.clone();
        let cluster = kv::testing::TestCluster::builder(localities)
            .configure(|_, kv| kv.liveness = liveness())
            .layer(move |n| {
                let jobs = Registry::start(n.node.clone(), n.registry, cfg.clone());
                testjob::register(&jobs, &layer_log);
                Jobs { jobs }
            })
            .start()
            .await;
        cluster.wait_full_replication(Duration::from_secs(30)).await;
        TestCluster { cluster, log }
    }

    /// Waits until job `id` satisfies `pred` (read through node `via`), returning the record.
    pub async fn wait_for(
        &self,
        via: usize,
        id: JobId,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        sextant_jobs::testing::wait_for(&self.nodes[via].jobs, id, timeout, what, pred).await
    }

    /// Waits until job `id` has status `status`.
    pub async fn wait_status(&self, via: usize, id: JobId, status: JobStatus) -> JobRecord {
        self.wait_for(via, id, Duration::from_secs(15), status.as_str(), |r| {
            r.status == status
        })
        .await
    }
}

kv::deref_test_cluster!(TestCluster => cluster: Jobs);

/// The test nodes' liveness timing: [`KvNodeConfig::fast_for_tests`]' heartbeat every
/// 300 ms, with a 3 s TTL instead of 1.5 s. On a loaded 2-core machine a liveness write
/// (Raft on the system range, every node of the cluster on one 2-thread runtime) can stall
/// for over a second: records were seen within 0.3 s of expiring under the 1.5 s TTL, and
/// once they did expire, healthy nodes looked dead for a moment, so a job found no
/// matching node or was planned around a live one.
pub fn liveness() -> LivenessConfig {
    LivenessConfig {
        ttl: Duration::from_secs(3),
        ..KvNodeConfig::fast_for_tests().liveness
    }
}

/// Fast timings for tests: adoption every 300 ms, retries after 100 ms.
pub fn fast() -> RegistryConfig {
    RegistryConfig {
        adopt_interval: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(100),
    }
}
