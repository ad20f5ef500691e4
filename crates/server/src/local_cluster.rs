//! Several servers in one process on loopback ports: what `sextant demo` runs and what tests
//! start.
//!
//! [`LocalCluster::start`] starts node 1, bootstraps the cluster on it with `node.init` (as
//! `sextant init` would), then starts the others one at a time with `--join` pointing at
//! node 1, each once the previous one has its identity, so node `i` (from 0) gets node id
//! `i + 1`. Each node has real RPC and HTTP listeners on `127.0.0.1` and a memory store, or
//! a directory under one temporary directory when [`LocalClusterOptions::on_disk`] is set,
//! and a SQL listener ([`LocalCluster::sql_addr`]) that serves once the node has started;
//! only on-disk nodes can be restarted, since a restart reads the node's identity and
//! replicas back from its store. A restarted node keeps its ports, so its peers reach it
//! where they last saw it.

use crate::client;
use crate::config::{ServerConfig, StoreSpec};
use crate::error::ServerError;
use crate::server::Server;
use base::NodeId;
use kv::KvNode;
use locality::Locality;
use rpc::TransportFilters;
use std::collections::HashSet;
use std::time::Duration;
use tokio::time::Instant;

/// How long [`LocalCluster::restart`] retries a store still locked by the stopped node.
const STORE_RELEASE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a local cluster is started.
#[derive(Clone, Debug)]
pub struct LocalClusterOptions {
    /// Keep each node's store in a directory under one temporary directory (removed with the
    /// cluster) instead of in memory. [`LocalCluster::restart`] needs it.
    pub on_disk: bool,
    /// Template of every node's configuration: timings and transport options (its
    /// `rpc.filters` are shared by all nodes). Store, addresses, locality and join list are
    /// set per node.
    pub base: ServerConfig,
    /// HTTP port of the first node; node `i` gets this plus `i`. `None`: free ports.
    pub http_port_base: Option<u16>,
    /// SQL port of the first node; node `i` listens on this plus `i`. `None`: free ports.
    pub sql_port_base: Option<u16>,
    /// How long to wait for a node to get its identity at start and restart.
    pub start_timeout: Duration,
}

impl Default for LocalClusterOptions {
    fn default() -> LocalClusterOptions {
        LocalClusterOptions {
            on_disk: false,
            base: ServerConfig::default(),
            http_port_base: None,
            sql_port_base: None,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl LocalClusterOptions {
    /// Test timings ([`ServerConfig::with_test_timings`]), memory stores, free ports.
    pub fn for_tests() -> LocalClusterOptions {
        LocalClusterOptions {
            base: ServerConfig::default().with_test_timings(),
            start_timeout: Duration::from_secs(30),
            ..LocalClusterOptions::default()
        }
    }
}

struct Slot {
    cfg: ServerConfig,
    server: Option<Server>,
}

/// A cluster of servers in this process. Nodes are indexed from 0 in start order; node `i`
/// gets node id `i + 1` at first start.
pub struct LocalCluster {
    slots: Vec<Slot>,
    opts: LocalClusterOptions,
    // Dropped last: the stores live in it.
    dir: Option<tempfile::TempDir>,
}

impl LocalCluster {
    /// Starts `n` nodes with the given localities (one per node, or none at all for empty
    /// localities), bootstraps the cluster on the first and joins the others to it.
    pub async fn start(
        n: usize,
        localities: Vec<Locality>,
        opts: LocalClusterOptions,
    ) -> Result<LocalCluster, ServerError> {
        if n == 0 {
            return Err(ServerError::Config(
                "a cluster needs at least one node".into(),
            ));
        }
        if !localities.is_empty() && localities.len() != n {
            return Err(ServerError::Config(format!(
                "{} localities given for {n} nodes",
                localities.len()
            )));
        }
        let dir = if opts.on_disk {
            let dir = tempfile::Builder::new()
                .prefix("sextant-cluster-")
                .tempdir()
                .map_err(|e| {
                    ServerError::Config(format!("cannot create a store directory: {e}"))
                })?;
            Some(dir)
        } else {
            None
        };
        let mut slots = Vec::with_capacity(n);
        for i in 0..n {
            let cfg = ServerConfig {
                store: match &dir {
                    Some(d) => StoreSpec::Dir(d.path().join(format!("node{}", i + 1))),
                    None => StoreSpec::Memory,
                },
                listen_addr: "127.0.0.1:0".into(),
                advertise_addr: None,
                http_addr: format!("127.0.0.1:{}", port(opts.http_port_base, i)?.unwrap_or(0)),
                sql_addr: format!("127.0.0.1:{}", port(opts.sql_port_base, i)?.unwrap_or(0)),
                locality: localities.get(i).cloned().unwrap_or_default(),
                join: Vec::new(),
                ..opts.base.clone()
            };
            slots.push(Slot { cfg, server: None });
        }
        let mut cluster = LocalCluster { slots, opts, dir };
        cluster.boot(0).await?;
        let first = cluster.slots[0]
            .cfg
            .advertise_addr
            .clone()
            .unwrap_or_default();
        let tls = cluster.opts.base.tls.as_ref().map(rpc::RpcTls::from);
        client::init(&first, tls.as_ref())
            .await
            .map_err(|e| ServerError::Config(format!("bootstrapping the cluster: {e}")))?;
        cluster.wait_started(0).await?;
        // One at a time, so that node ids follow the node order (and localities, like
        // `cockroach demo`'s, follow node ids).
        for i in 1..n {
            cluster.slots[i].cfg.join = vec![first.clone()];
            cluster.boot(i).await?;
            cluster.wait_started(i).await?;
        }
        Ok(cluster)
    }

    /// Number of nodes, running or not.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cluster has no node (never true for a started cluster).
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Server `i`, unless it was killed.
    pub fn server(&self, i: usize) -> Option<&Server> {
        self.slots.get(i)?.server.as_ref()
    }

    /// The KV node of server `i`.
    ///
    /// # Panics
    /// When node `i` does not exist or is not running: a test's own mistake.
    pub fn node(&self, i: usize) -> KvNode {
        match self.server(i).and_then(Server::node) {
            Some(node) => node,
            None => panic!("node {i} is not running"),
        }
    }

    /// The SQL layer of node `i`, unless it was killed.
    pub fn sql(&self, i: usize) -> Option<sql::SqlServer> {
        self.server(i)?.sql()
    }

    /// The SQL address (`127.0.0.1:port`) of node `i`, unless it was killed.
    pub fn sql_addr(&self, i: usize) -> Option<String> {
        Some(self.server(i)?.sql_addr().to_string())
    }

    /// Indexes of the running nodes.
    pub fn running(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|i| self.slots[*i].server.is_some())
            .collect()
    }

    /// The transport filters shared by every node (drop, partition, delay).
    pub fn filters(&self) -> &TransportFilters {
        &self.opts.base.rpc.filters
    }

    /// Stops node `i` (its listeners, loops and Raft groups), as if its process died.
    pub async fn kill(&mut self, i: usize) -> Result<(), ServerError> {
        let server = self
            .slots
            .get_mut(i)
            .and_then(|s| s.server.take())
            .ok_or_else(|| ServerError::Config(format!("node {i} is not running")))?;
        server.stop().await;
        Ok(())
    }

    /// Starts a killed node again on its store and ports; it rejoins with the identity and
    /// replicas in its store. Needs [`LocalClusterOptions::on_disk`].
    pub async fn restart(&mut self, i: usize) -> Result<(), ServerError> {
        if self.dir.is_none() {
            return Err(ServerError::Config(
                "restart needs on-disk stores (LocalClusterOptions::on_disk)".into(),
            ));
        }
        match self.slots.get(i) {
            None => return Err(ServerError::Config(format!("no node {i}"))),
            Some(s) if s.server.is_some() => {
                return Err(ServerError::Config(format!("node {i} is running")));
            }
            Some(_) => {}
        }
        let peers: Vec<String> = (0..self.slots.len())
            .filter(|j| *j != i)
            .filter_map(|j| self.slots[j].cfg.advertise_addr.clone())
            .collect();
        self.slots[i].cfg.join = peers;
        // The stopped node's last in-flight requests may still hold its store for a moment.
        let deadline = Instant::now() + STORE_RELEASE_TIMEOUT;
        loop {
            match self.boot(i).await {
                Err(e) if e.is_store_in_use() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => break other?,
            }
        }
        self.wait_started(i).await.map(|_| ())
    }

    /// Waits until every range has, on running nodes, the replicas and voters its zone config
    /// asks for (at most one per running node) and a leaseholder.
    pub async fn wait_for_full_replication(&self, timeout: Duration) -> Result<(), ServerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.replication_gaps().await {
                Ok(gaps) if gaps.is_empty() => return Ok(()),
                Ok(gaps) => gaps.join("; "),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(ServerError::Timeout {
                    what: format!("full replication ({last})"),
                    after: timeout,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for slot in &mut self.slots {
            if let Some(server) = slot.server.take() {
                server.stop().await;
            }
        }
    }

    /// What keeps the cluster from full replication, one line per range; empty when none.
    async fn replication_gaps(&self) -> Result<Vec<String>, ServerError> {
        let live: HashSet<NodeId> = self
            .slots
            .iter()
            .filter_map(|s| s.server.as_ref()?.node_id())
            .collect();
        let node = self
            .slots
            .iter()
            .find_map(|s| s.server.as_ref()?.node())
            .ok_or_else(|| ServerError::Config("no node is running".into()))?;
        let ranges = node.ranges().await?;
        if ranges.is_empty() {
            return Ok(vec!["no ranges yet".into()]);
        }
        let mut gaps = Vec::new();
        for r in ranges {
            let zone = node.zone_for(&r.desc).await;
            let want_all = (zone.num_replicas as usize).min(live.len());
            let want_voters = (zone.voters() as usize).min(live.len());
            let voters = r.desc.voters().filter(|n| live.contains(n)).count();
            let all = r
                .desc
                .replicas
                .iter()
                .filter(|rep| live.contains(&rep.node_id))
                .count();
            let leased = r.leaseholder.is_some_and(|l| live.contains(&l));
            if voters < want_voters || all < want_all || !leased {
                gaps.push(format!(
                    "{}: {all}/{want_all} replicas, {voters}/{want_voters} voters, leaseholder {:?}",
                    r.desc.range_id, r.leaseholder
                ));
            }
        }
        Ok(gaps)
    }

    /// Starts server `i` and pins its bound ports into its configuration for restarts.
    async fn boot(&mut self, i: usize) -> Result<(), ServerError> {
        let slot = &mut self.slots[i];
        let server = Server::start(slot.cfg.clone()).await?;
        slot.cfg.listen_addr = server.rpc_listen_addr().to_string();
        slot.cfg.http_addr = server.http_listen_addr().to_string();
        if let Some(sql) = server.sql_listen_addr() {
            slot.cfg.sql_addr = sql.to_string();
        }
        slot.cfg.advertise_addr = Some(server.rpc_addr().to_string());
        slot.server = Some(server);
        Ok(())
    }

    async fn wait_started(&self, i: usize) -> Result<KvNode, ServerError> {
        let server = self.slots[i]
            .server
            .as_ref()
            .ok_or_else(|| ServerError::Config(format!("node {i} is not running")))?;
        let timeout = self.opts.start_timeout;
        let started = async {
            let node = server.wait_started().await?;
            server.wait_sql().await?;
            Ok(node)
        };
        tokio::time::timeout(timeout, started)
            .await
            .map_err(|_| ServerError::Timeout {
                what: format!("node {i} ({}) to start", server.rpc_addr()),
                after: timeout,
            })?
    }
}

/// `base + i`, when a base is given.
fn port(base: Option<u16>, i: usize) -> Result<Option<u16>, ServerError> {
    let Some(base) = base else {
        return Ok(None);
    };
    u16::try_from(i)
        .ok()
        .and_then(|i| base.checked_add(i))
        .map(Some)
        .ok_or_else(|| ServerError::Config(format!("port {base} + {i} is out of range")))
}
