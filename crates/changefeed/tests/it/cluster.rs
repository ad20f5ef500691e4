//! An in-process cluster: KV nodes with localities on loopback RPC, each with its SQL server,
//! job registry and changefeeds registered.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base::Clock;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use jobs::{JobId, JobRecord, Registry, RegistryConfig};
use kv::node::{KvNode, KvNodeConfig};
use locality::Locality;
use rpc::{Registry as RpcRegistry, Rpc, RpcContext, RpcOptions, RpcServer};
use sql::{Datum, SqlServer};
use storage::MemoryEngine;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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

/// One node.
pub struct TestNode {
    pub node: KvNode,
    pub sql: SqlServer,
    pub jobs: Registry,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestNode {
    /// Kills the node: its jobs stop, it stops serving RPC, its KV loops stop.
    pub async fn kill(&mut self) {
        self.jobs.stop();
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.server.take() {
            h.abort();
            let _ = h.await;
        }
        self.node.shutdown().await;
    }
}

/// An in-process cluster.
pub struct TestCluster {
    pub nodes: Vec<TestNode>,
    _dir: tempfile::TempDir,
    first_addr: String,
    cfg: RegistryConfig,
    peers: Arc<Peers>,
}

async fn serve() -> (
    RpcRegistry,
    Rpc,
    Arc<RpcContext>,
    String,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let clock: Arc<dyn Clock> = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
    let ctx = Arc::new(RpcContext::new(clock));
    let options = RpcOptions {
        connect_timeout: Duration::from_millis(500),
        ..RpcOptions::default()
    };
    let rpc = Rpc::with_options(ctx.clone(), options);
    let registry = RpcRegistry::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = registry.clone();
    let server_ctx = ctx.clone();
    let server = tokio::spawn(async move {
        let _ = RpcServer::serve(serving, server_ctx, listener, async {
            let _ = stopped.await;
        })
        .await;
    });
    (registry, rpc, ctx, addr, stop, server)
}

type Started = (KvNode, SqlServer, Registry);

/// Starts a node of locality `loc` serving at `addr` that joins `join` (itself when first).
fn spawn_node(
    loc: &str,
    addr: String,
    join: String,
    (registry, rpc, ctx): (RpcRegistry, Rpc, Arc<RpcContext>),
    cfg: RegistryConfig,
    extern_dir: PathBuf,
    peers: Arc<Peers>,
) -> tokio::task::JoinHandle<Started> {
    let kv_cfg = KvNodeConfig {
        locality: Locality::parse(loc).expect("locality"),
        advertise_addr: addr,
        join: vec![join],
        ..KvNodeConfig::fast_for_tests()
    };
    let clock = ctx.clock.clone();
    let engine = Arc::new(MemoryEngine::new());
    tokio::spawn(async move {
        // A node joining while the cluster is still bootstrapping can be refused
        // ("r1 not found on this node"); it joins on a later attempt.
        let mut attempt = 0;
        let node = loop {
            let started = KvNode::start(
                kv_cfg.clone(),
                engine.clone(),
                clock.clone(),
                rpc.clone(),
                &registry,
            )
            .await;
            match started {
                Ok(node) => break node,
                Err(e) if attempt < 5 => {
                    attempt += 1;
                    eprintln!("node start attempt {attempt} failed: {e:?}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("node start: {e:?}"),
            }
        };
        let jobs = Registry::start(node.clone(), &registry, cfg);
        let sql = SqlServer::new(node.clone());
        peers.dirs.lock().insert(node.node_id(), extern_dir.clone());
        let storage =
            cloud::StorageContext::new(node.node_id(), extern_dir).with_nodelocal_peers(peers);
        sextant_changefeed::register(&sql, &jobs, storage);
        (node, sql, jobs)
    })
}

impl TestCluster {
    /// Starts one node per locality; the first bootstraps, the others join it.
    pub async fn start(localities: &[&str]) -> TestCluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = RegistryConfig {
            adopt_interval: Duration::from_millis(300),
            retry_backoff: Duration::from_millis(200),
        };
        let peers = Arc::new(Peers::default());
        let mut pending = Vec::new();
        let mut first_addr = String::new();
        for (i, loc) in localities.iter().enumerate() {
            let (registry, rpc, ctx, addr, stop, server) = serve().await;
            if i == 0 {
                first_addr = addr.clone();
            }
            let start = spawn_node(
                loc,
                addr,
                first_addr.clone(),
                (registry, rpc, ctx),
                cfg.clone(),
                dir.path().join(format!("n{i}")),
                peers.clone(),
            );
            pending.push((Some(start), None, stop, server));
            if i == 0 {
                let client_clock: Arc<dyn Clock> =
                    Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
                let client = Rpc::new(Arc::new(RpcContext::new(client_clock)));
                kv::node::bootstrap(&client, &first_addr, Duration::from_secs(20))
                    .await
                    .expect("init");
                // The others join once the first node has its ranges: a node joining while
                // the first one bootstraps is refused ("r1 not found on this node").
                let (start, done, ..) = pending.last_mut().expect("first node");
                *done = Some(start.take().expect("task").await.expect("first node start"));
            }
        }
        let mut nodes = Vec::new();
        for (start, done, stop, server) in pending {
            let (node, sql, jobs) = match (start, done) {
                (_, Some(started)) => started,
                (Some(start), None) => start.await.expect("join task"),
                (None, None) => unreachable!("a node is either started or starting"),
            };
            nodes.push(TestNode {
                node,
                sql,
                jobs,
                stop: Some(stop),
                server: Some(server),
            });
        }
        let c = TestCluster {
            nodes,
            _dir: dir,
            first_addr,
            cfg,
            peers,
        };
        c.wait_all_live(Duration::from_secs(30)).await;
        c
    }

    /// Starts one more node of locality `loc`, joining the cluster, and waits until every node
    /// sees it live. Returns its index.
    pub async fn add_node(&mut self, loc: &str) -> usize {
        let i = self.nodes.len();
        let (registry, rpc, ctx, addr, stop, server) = serve().await;
        let (node, sql, jobs) = spawn_node(
            loc,
            addr,
            self.first_addr.clone(),
            (registry, rpc, ctx),
            self.cfg.clone(),
            self.extern_dir(i),
            self.peers.clone(),
        )
        .await
        .expect("join task");
        self.nodes.push(TestNode {
            node,
            sql,
            jobs,
            stop: Some(stop),
            server: Some(server),
        });
        self.wait_all_live(Duration::from_secs(30)).await;
        i
    }

    /// Waits until every node sees every node live: placement (execution_locality) and the
    /// coordinator's liveness check of its aggregators read the directory, and on a loaded
    /// machine a node's liveness can lapse for a moment.
    pub async fn wait_all_live(&self, timeout: Duration) {
        let n = self.nodes.len();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut all = true;
            for t in &self.nodes {
                t.node.refresh_directory().await;
                let live = t.node.directory().all().iter().filter(|(_, l)| *l).count();
                all &= live >= n;
            }
            if all {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not every node sees {n} live nodes within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every range has the voters and replicas its zone config asks for (at most
    /// one per node) and a leaseholder. Up-replication adds one voter at a time, and a range
    /// with two voters loses quorum for good when either dies: tests kill nodes only after
    /// this.
    pub async fn wait_full_replication(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let node = &self.nodes[0].node;
        let n = self.nodes.len();
        loop {
            let gaps = match tokio::time::timeout(Duration::from_secs(5), node.ranges()).await {
                Ok(Ok(ranges)) if ranges.is_empty() => vec!["no ranges yet".to_string()],
                Ok(Ok(ranges)) => {
                    let mut gaps = Vec::new();
                    for r in ranges {
                        let zone = node.zone_for(&r.desc).await;
                        let want_voters = (zone.voters() as usize).min(n);
                        let want_all = (zone.num_replicas as usize).min(n);
                        let voters = r.desc.voters().count();
                        let all = r.desc.replicas.len();
                        if voters != want_voters || all != want_all || r.leaseholder.is_none() {
                            gaps.push(format!(
                                "{}: {all}/{want_all} replicas, {voters}/{want_voters} voters, \
                                 leaseholder {:?}",
                                r.desc.range_id, r.leaseholder
                            ));
                        }
                    }
                    gaps
                }
                Ok(Err(e)) => vec![format!("listing ranges: {e}")],
                Err(_) => vec!["listing ranges timed out".to_string()],
            };
            if gaps.is_empty() {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not fully replicated within {timeout:?}: {}",
                gaps.join("; ")
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Node `i`'s external IO directory, the root of its `nodelocal://`.
    pub fn extern_dir(&self, i: usize) -> PathBuf {
        self._dir.path().join(format!("n{i}"))
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

    /// Waits until job `id` satisfies `pred`.
    pub async fn wait_job(
        &self,
        id: JobId,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&JobRecord) -> bool,
    ) -> JobRecord {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(rec) = self.nodes[self.nodes.len() - 1].jobs.get(id).await
                && pred(&rec)
            {
                return rec;
            }
            if tokio::time::Instant::now() > deadline {
                let rec = self.nodes[self.nodes.len() - 1].jobs.get(id).await;
                panic!("job {id}: not {what} within {timeout:?}: {rec:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
