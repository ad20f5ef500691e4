//! One node in one process: listeners, the RPC server, the KV node, the SQL (PostgreSQL wire)
//! server and the HTTP status server.

use crate::config::{ServerConfig, StoreSpec};
use crate::error::ServerError;
use crate::status;
use base::hlc::HybridClock;
use base::{Clock, NodeId};
use kv::{KvNode, KvNodeConfig};
use locality::Locality;
use rpc::{Registry, Rpc, RpcContext, RpcServer};
use sql::SqlServer;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use storage::{Engine, FjallEngine, MemoryEngine};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long a stopping listener may take to finish in-flight requests before it is cut.
const STOP_GRACE: Duration = Duration::from_secs(1);

/// Where a server's KV node is in its life.
#[derive(Clone)]
pub enum NodeState {
    /// Waiting for an identity: `node.init`, a successful join, or reading it from the store.
    Starting,
    /// The node has an identity and runs.
    Running(KvNode),
    /// The node failed to start.
    Failed(ServerError),
    /// The server was stopped.
    Stopped,
}

/// A running node: RPC, KV and HTTP status. Stop it with [`Server::stop`]; dropping it stops
/// the listeners and the node's loops without waiting.
pub struct Server {
    rpc_addr: String,
    http_addr: String,
    sql_addr: String,
    rpc_listen: SocketAddr,
    http_listen: SocketAddr,
    store: StoreSpec,
    locality: Locality,
    registry: Registry,
    state: Arc<watch::Sender<NodeState>>,
    rpc_stop: Option<oneshot::Sender<()>>,
    rpc_task: Option<JoinHandle<()>>,
    http_stop: Option<oneshot::Sender<()>>,
    http_task: Option<JoinHandle<()>>,
    sql_listen: Option<SocketAddr>,
    sql: watch::Receiver<Option<SqlServer>>,
    sql_stop: Option<oneshot::Sender<()>>,
    sql_task: Option<JoinHandle<()>>,
    start_task: Option<JoinHandle<()>>,
    _external_io_temp: Option<tempfile::TempDir>,
}

impl Server {
    /// Opens the store, binds and serves the RPC and HTTP listeners, and starts the KV node
    /// in the background. Returns at once: the node may still be waiting for `init` or for
    /// its join to succeed; [`Server::wait_started`] waits for it.
    ///
    /// Fails at once, before binding anything, when the store is in use by another process.
    pub async fn start(cfg: ServerConfig) -> Result<Server, ServerError> {
        let engine = open_engine(&cfg.store)?;
        // `nodelocal://` files: `<store>/extern` by default (as CockroachDB), or a temporary
        // directory removed with the server for an in-memory store.
        let (external_io_dir, external_io_temp) = match (&cfg.external_io_dir, &cfg.store) {
            (Some(dir), _) => (dir.clone(), None),
            (None, StoreSpec::Dir(dir)) => (dir.join("extern"), None),
            (None, StoreSpec::Memory) => {
                let tmp = tempfile::Builder::new()
                    .prefix("sextant-extern-")
                    .tempdir()
                    .map_err(|e| ServerError::Config(format!("external IO directory: {e}")))?;
                (tmp.path().to_path_buf(), Some(tmp))
            }
        };
        let rpc_listener = bind("rpc", &cfg.listen_addr).await?;
        let http_listener = bind("http", &cfg.http_addr).await?;
        let sql_listener = if cfg.sql_addr.is_empty() {
            None
        } else {
            Some(bind("sql", &cfg.sql_addr).await?)
        };
        let rpc_listen = local_addr("rpc", &cfg.listen_addr, &rpc_listener)?;
        let http_listen = local_addr("http", &cfg.http_addr, &http_listener)?;
        let sql_listen = match &sql_listener {
            Some(l) => Some(local_addr("sql", &cfg.sql_addr, l)?),
            None => None,
        };
        let sql_addr = sql_listen.map_or_else(String::new, |a| advertise(&cfg.sql_addr, a));
        let rpc_addr = cfg
            .advertise_addr
            .clone()
            .unwrap_or_else(|| advertise(&cfg.listen_addr, rpc_listen));
        let http_addr = advertise(&cfg.http_addr, http_listen);

        let physical = base::hlc::OffsetPhysicalClock::new();
        let clock: Arc<dyn Clock> = Arc::new(HybridClock::new(physical.clone(), cfg.max_offset));
        let testing = cfg.testing_endpoints.then(|| status::Testing {
            filters: cfg.rpc.filters.clone(),
            clock: physical,
        });
        let ctx = Arc::new(RpcContext::new(clock.clone()));
        let mut rpc_options = cfg.rpc.clone();
        if let Some(tls) = &cfg.tls {
            rpc_options.tls = Some(rpc::RpcTls::from(tls));
        }
        let rpc = Rpc::with_options(ctx.clone(), rpc_options.clone());
        let registry = Registry::new();
        let (rpc_stop, rpc_stopped) = oneshot::channel::<()>();
        let rpc_task = tokio::spawn({
            let registry = registry.clone();
            let options = rpc_options;
            async move {
                let shutdown = async {
                    let _ = rpc_stopped.await;
                };
                let served =
                    RpcServer::serve_with_options(registry, ctx, rpc_listener, shutdown, &options);
                if let Err(e) = served.await {
                    tracing::error!("rpc server on {rpc_listen} failed: {e}");
                }
            }
        });

        let (state, state_rx) = watch::channel(NodeState::Starting);
        let state = Arc::new(state);
        let (http_stop, http_stopped) = oneshot::channel::<()>();
        let http_tls = cfg.tls.as_ref().map(|tls| tls.http_server.clone());
        let http_task = status::spawn(http_listener, http_tls, state_rx, testing, http_stopped);

        let kv_cfg = KvNodeConfig {
            locality: cfg.locality.clone(),
            advertise_addr: rpc_addr.clone(),
            sql_addr: sql_addr.clone(),
            http_addr: http_addr.clone(),
            join: cfg.join.clone(),
            ..cfg.kv.clone()
        };
        let start_task = tokio::spawn({
            let state = state.clone();
            let registry = registry.clone();
            async move {
                let started = KvNode::start(kv_cfg, engine, clock, rpc, &registry).await;
                settle(&state, started);
            }
        });
        let (sql_tx, sql_rx) = watch::channel(None);
        let (sql_stop, sql_stopped) = oneshot::channel::<()>();
        let sql_task = Some(tokio::spawn(serve_sql(
            sql_listener,
            cfg.tls.as_ref().map(|tls| tls.sql_server.clone()),
            state.subscribe(),
            sql_tx,
            sql_stopped,
            registry.clone(),
            cfg.jobs.clone(),
            external_io_dir,
        )));
        tracing::info!(rpc = %rpc_addr, http = %http_addr, sql = %sql_addr, store = %cfg.store, "server listening");
        Ok(Server {
            rpc_addr,
            http_addr,
            sql_addr,
            rpc_listen,
            http_listen,
            store: cfg.store,
            locality: cfg.locality,
            registry,
            state,
            rpc_stop: Some(rpc_stop),
            rpc_task: Some(rpc_task),
            http_stop: Some(http_stop),
            http_task: Some(http_task),
            sql_listen,
            sql: sql_rx,
            sql_stop: Some(sql_stop),
            sql_task,
            start_task: Some(start_task),
            _external_io_temp: external_io_temp,
        })
    }

    /// The RPC address other nodes and clients (`sextant init --host`) use.
    pub fn rpc_addr(&self) -> &str {
        &self.rpc_addr
    }

    /// The advertised HTTP status address (`host:port`).
    pub fn http_addr(&self) -> &str {
        &self.http_addr
    }

    /// The advertised SQL address: the configured host with the port actually bound (empty
    /// when the server was configured without one).
    pub fn sql_addr(&self) -> &str {
        &self.sql_addr
    }

    /// The socket the SQL listener is bound to, if any.
    pub fn sql_listen_addr(&self) -> Option<SocketAddr> {
        self.sql_listen
    }

    /// The node's SQL layer, once its KV node has started (every node has one, with its job
    /// registry, whether or not it serves SQL clients). Higher layers register their statement
    /// hooks on it
    /// ([`SqlServer::register_hook`]); until they do, their statements fail with
    /// `unimplemented`.
    pub fn sql(&self) -> Option<SqlServer> {
        self.sql.borrow().clone()
    }

    /// Waits until the node's SQL layer exists: the KV node started and the SQL descriptors
    /// are bootstrapped (or their bootstrap was tried; statements retry it).
    pub async fn wait_sql(&self) -> Result<SqlServer, ServerError> {
        let mut rx = self.sql.clone();
        let mut state = self.state.subscribe();
        loop {
            if let Some(sql) = rx.borrow_and_update().clone() {
                return Ok(sql);
            }
            match &*state.borrow_and_update() {
                NodeState::Failed(e) => return Err(e.clone()),
                NodeState::Stopped => return Err(ServerError::Stopped),
                _ => {}
            }
            tokio::select! {
                changed = rx.changed() => if changed.is_err() { return Err(ServerError::Stopped) },
                changed = state.changed() => if changed.is_err() { return Err(ServerError::Stopped) },
            }
        }
    }

    /// The socket the RPC listener is bound to.
    pub fn rpc_listen_addr(&self) -> SocketAddr {
        self.rpc_listen
    }

    /// The socket the HTTP listener is bound to.
    pub fn http_listen_addr(&self) -> SocketAddr {
        self.http_listen
    }

    /// The store.
    pub fn store(&self) -> &StoreSpec {
        &self.store
    }

    /// The locality the node was started with.
    pub fn locality(&self) -> &Locality {
        &self.locality
    }

    /// Where the node is in its life.
    pub fn state(&self) -> NodeState {
        self.state.borrow().clone()
    }

    /// The KV node, once it has an identity.
    pub fn node(&self) -> Option<KvNode> {
        match &*self.state.borrow() {
            NodeState::Running(node) => Some(node.clone()),
            _ => None,
        }
    }

    /// The node's id, once it has one.
    pub fn node_id(&self) -> Option<NodeId> {
        self.node().map(|n| n.node_id())
    }

    /// Waits until the node has an identity (restarted from its store, initialised, or
    /// joined), or fails to get one.
    pub async fn wait_started(&self) -> Result<KvNode, ServerError> {
        let mut rx = self.state.subscribe();
        loop {
            match &*rx.borrow_and_update() {
                NodeState::Running(node) => return Ok(node.clone()),
                NodeState::Failed(e) => return Err(e.clone()),
                NodeState::Stopped => return Err(ServerError::Stopped),
                NodeState::Starting => {}
            }
            if rx.changed().await.is_err() {
                return Err(ServerError::Stopped);
            }
        }
    }

    /// `Ok` when the node serves: it has an identity, its liveness record is current and it
    /// is not draining. Otherwise the reason. This is what `GET /health?ready=1` reports.
    pub fn readiness(&self) -> Result<(), String> {
        status::readiness(&self.state.borrow())
    }

    /// Drains the node: it sheds its leases and takes no new replicas. Waits at most
    /// `timeout`; returns the number of leases still held then.
    pub async fn drain(&self, timeout: Duration) -> Result<usize, ServerError> {
        let node = self.node().ok_or_else(|| {
            ServerError::Config("the node has not joined a cluster; nothing to drain".into())
        })?;
        match tokio::time::timeout(timeout, node.drain()).await {
            Ok(held) => Ok(held?),
            Err(_) => Ok(node
                .store()
                .replicas()
                .iter()
                .filter(|r| r.is_leaseholder())
                .count()),
        }
    }

    /// Stops the server: the node's loops and Raft groups, then the listeners. The store is
    /// closed once the last in-flight request is done.
    pub async fn stop(mut self) {
        // SQL first: statements in flight still need the node.
        stop_task(self.sql_stop.take(), self.sql_task.take()).await;
        // The job registry too, even when the SQL task had to be cut short: its coordinators
        // and processors must not outlive the node.
        if let Some(sql) = self.sql() {
            sql.detach_layers();
        }
        let previous = self.state.send_replace(NodeState::Stopped);
        if let Some(task) = self.start_task.take() {
            task.abort();
            let _ = task.await;
        }
        if let NodeState::Running(node) = previous {
            node.shutdown().await;
        }
        self.clear_registry();
        stop_task(self.http_stop.take(), self.http_task.take()).await;
        stop_task(self.rpc_stop.take(), self.rpc_task.take()).await;
        tracing::info!(rpc = %self.rpc_addr, "server stopped");
    }

    /// Drops every handler, and with them the handlers' references to the node and its
    /// store, so that the store's lock is released even while peers keep connections open.
    fn clear_registry(&self) {
        for method in self.registry.methods() {
            self.registry.remove(method);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.start_task.is_none() {
            return; // stopped already
        }
        let previous = self.state.send_replace(NodeState::Stopped);
        for task in [
            &self.start_task,
            &self.http_task,
            &self.rpc_task,
            &self.sql_task,
        ]
        .into_iter()
        .flatten()
        {
            task.abort();
        }
        self.clear_registry();
        if let NodeState::Running(node) = previous
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move { node.shutdown().await });
        }
    }
}

/// Records the outcome of the node's start. A node that started after the server was
/// stopped is shut down on a task of its own, out of reach of the abort of the start task.
fn settle(state: &watch::Sender<NodeState>, started: Result<KvNode, kv::node::NodeError>) {
    let mut late = None;
    state.send_modify(|s| match (&*s, started) {
        (NodeState::Starting, Ok(node)) => {
            tracing::info!(node = %node.node_id(), cluster = %node.cluster_id(), "node started");
            *s = NodeState::Running(node);
        }
        (NodeState::Starting, Err(e)) => {
            tracing::error!("node failed to start: {e}");
            *s = NodeState::Failed(ServerError::Node(Arc::new(e)));
        }
        (_, Ok(node)) => late = Some(node),
        (_, Err(_)) => {}
    });
    if let Some(node) = late {
        tokio::spawn(async move { node.shutdown().await });
    }
}

/// How long the SQL listener keeps trying to create the SQL descriptors of a new cluster
/// before it serves anyway (each statement retries the bootstrap).
const SQL_BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits for the KV node, creates its SQL layer and job registry with the layers above SQL
/// (backup, changefeeds) registered on them, bootstraps the SQL descriptors on a new
/// cluster, publishes the SQL layer and serves PostgreSQL clients (when there is a listener)
/// until `stop`. Clients that connect before then wait in the listener's backlog.
#[allow(clippy::too_many_arguments)]
async fn serve_sql(
    listener: Option<TcpListener>,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    mut state: watch::Receiver<NodeState>,
    publish: watch::Sender<Option<SqlServer>>,
    stop: oneshot::Receiver<()>,
    rpc_registry: Registry,
    jobs_cfg: jobs::RegistryConfig,
    external_io_dir: std::path::PathBuf,
) {
    let mut stop = stop;
    let node = loop {
        let current = state.borrow_and_update().clone();
        match current {
            NodeState::Running(node) => break node,
            NodeState::Failed(_) | NodeState::Stopped => return,
            NodeState::Starting => {}
        }
        tokio::select! {
            changed = state.changed() => if changed.is_err() { return },
            _ = &mut stop => return,
        }
    };
    let sql = SqlServer::new(node.clone());
    sql.set_secure(tls.is_some());
    let jobs = jobs::Registry::start(node, &rpc_registry, jobs_cfg);
    sql.set_jobs(jobs.clone());
    crate::layers::register(&sql, &jobs, &rpc_registry, external_io_dir);
    let deadline = tokio::time::Instant::now() + SQL_BOOTSTRAP_TIMEOUT;
    let mut backoff = Duration::from_millis(50);
    loop {
        let attempt = tokio::select! {
            r = sql.bootstrap() => r,
            _ = &mut stop => return,
        };
        match attempt {
            Ok(()) => break,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("SQL bootstrap: {e}; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                tracing::warn!("SQL bootstrap failed: {e}; statements will retry it");
                break;
            }
        }
    }
    publish.send_replace(Some(sql.clone()));
    let shutdown = async {
        let _ = stop.await;
    };
    match listener {
        Some(listener) => {
            if let Err(e) = sql::pgwire::serve(listener, sql.clone(), tls, shutdown).await {
                tracing::error!("sql server failed: {e}");
            }
        }
        None => shutdown.await,
    }
    jobs.stop();
    sql.detach_layers();
}

/// Signals a listener to stop, gives it [`STOP_GRACE`] to finish, then cuts it.
async fn stop_task(stop: Option<oneshot::Sender<()>>, task: Option<JoinHandle<()>>) {
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    if let Some(mut task) = task
        && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
    {
        task.abort();
        let _ = task.await;
    }
}

fn open_engine(store: &StoreSpec) -> Result<Arc<dyn Engine>, ServerError> {
    Ok(match store {
        StoreSpec::Memory => Arc::new(MemoryEngine::new()),
        StoreSpec::Dir(path) => Arc::new(FjallEngine::open_with(
            path,
            storage::FjallOptions {
                max_write_buffer_bytes: Some(WRITE_BUFFER_BYTES),
                ..storage::FjallOptions::default()
            },
        )?),
    })
}

/// The most a node's memtables (active and sealed) hold before writers wait for flushes.
/// Without a bound, a fast writer (a snapshot being installed, a RESTORE) grew fjall's active
/// memtable with the data written: a 256 MiB snapshot raised the receiver's memory by 237 MiB.
const WRITE_BUFFER_BYTES: u64 = 32 << 20;

/// Binds `addr`; an empty host (`:26258`) means every interface, as in CockroachDB.
async fn bind(what: &'static str, addr: &str) -> Result<TcpListener, ServerError> {
    let target = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    };
    TcpListener::bind(&target)
        .await
        .map_err(|e| ServerError::Bind {
            what,
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

fn local_addr(
    what: &'static str,
    addr: &str,
    listener: &TcpListener,
) -> Result<SocketAddr, ServerError> {
    listener.local_addr().map_err(|e| ServerError::Bind {
        what,
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

/// The address to tell others: the configured host (the host name when it is unspecified)
/// with the port actually bound.
pub(crate) fn advertise(configured: &str, bound: SocketAddr) -> String {
    let host = configured
        .rsplit_once(':')
        .map_or(configured, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let unspecified = host.is_empty() || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    let host = if unspecified {
        hostname()
    } else {
        host.to_string()
    };
    if host.contains(':') {
        format!("[{host}]:{}", bound.port())
    } else {
        format!("{host}:{}", bound.port())
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertise_keeps_host_and_takes_bound_port() {
        let bound: SocketAddr = "127.0.0.1:4242".parse().expect("addr");
        assert_eq!(advertise("localhost:0", bound), "localhost:4242");
        assert_eq!(advertise("127.0.0.1:4242", bound), "127.0.0.1:4242");
        assert_eq!(advertise("[::1]:0", bound), "[::1]:4242");
        assert_eq!(
            advertise("0.0.0.0:0", bound),
            format!("{}:4242", hostname())
        );
        assert_eq!(advertise(":0", bound), format!("{}:4242", hostname()));
    }
}
