//! How a server is started: its store, its addresses, its locality and its peers.

use base::hlc::DEFAULT_MAX_OFFSET;
use kv::KvNodeConfig;
use locality::Locality;
use rpc::RpcOptions;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Default node-to-node RPC address. CockroachDB serves RPC and SQL on one port (26257);
/// Sextant gives RPC its own listener, on the next port.
pub const DEFAULT_LISTEN_ADDR: &str = "localhost:26258";
/// Default SQL address (CockroachDB's default port).
pub const DEFAULT_SQL_ADDR: &str = "localhost:26257";
/// Default HTTP status address (CockroachDB's default port).
pub const DEFAULT_HTTP_ADDR: &str = "localhost:8080";
/// Default store directory, relative to the working directory.
pub const DEFAULT_STORE_DIR: &str = "sextant-data";

/// Where a node keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// In memory: lost when the process exits (`--store=type=mem`).
    Memory,
    /// On disk in this directory, created if needed (`--store=DIR` or `--store=path=DIR`).
    Dir(PathBuf),
}

impl StoreSpec {
    /// Parses the `--store` flag: `DIR`, `path=DIR` or `type=mem`.
    pub fn parse(s: &str) -> Result<StoreSpec, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("store must not be empty".into());
        }
        if s == "type=mem" {
            return Ok(StoreSpec::Memory);
        }
        if let Some(path) = s.strip_prefix("path=") {
            if path.is_empty() || path.contains(',') {
                return Err(format!("invalid store {s:?}: expected path=DIR"));
            }
            return Ok(StoreSpec::Dir(PathBuf::from(path)));
        }
        if s.contains('=') {
            return Err(format!(
                "unsupported store {s:?}: use a directory, path=DIR, or type=mem"
            ));
        }
        Ok(StoreSpec::Dir(PathBuf::from(s)))
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("type=mem"),
            StoreSpec::Dir(p) => write!(f, "path={}", p.display()),
        }
    }
}

/// Everything [`crate::Server::start`] needs.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The store.
    pub store: StoreSpec,
    /// Address the node-to-node RPC listener binds (`host:port`; port 0 picks a free one).
    pub listen_addr: String,
    /// Address other nodes use to reach the RPC listener; `None`: the listen address with the
    /// port actually bound (and the host name when the host is unspecified, e.g. `0.0.0.0`).
    pub advertise_addr: Option<String>,
    /// Address the SQL (PostgreSQL wire) listener binds (`host:port`; port 0 picks a free one;
    /// empty: no SQL listener). Advertised with the port actually bound.
    pub sql_addr: String,
    /// Address the HTTP status server binds (`host:port`; port 0 picks a free one).
    pub http_addr: String,
    /// Where the node is, e.g. `region=us-east1,az=b`.
    pub locality: Locality,
    /// RPC addresses of nodes to join; empty for a node that waits for `init`.
    pub join: Vec<String>,
    /// Maximum clock offset between nodes tolerated by the hybrid logical clock.
    pub max_offset: Duration,
    /// KV tunables: timings of Raft, liveness, the replicate queue, the join timeout. Its
    /// locality, addresses and join list are replaced by the fields above.
    pub kv: KvNodeConfig,
    /// Transport tunables (connect timeout, test filters).
    pub rpc: RpcOptions,
    /// Job registry tunables (adoption interval, retry backoff).
    pub jobs: jobs::RegistryConfig,
    /// The directory `nodelocal://<this node>/...` refers to (`--external-io-dir`); `None`:
    /// `<store>/extern`, or a temporary directory for an in-memory store.
    pub external_io_dir: Option<std::path::PathBuf>,
    /// Serve the fault-injection endpoints under `/_testing/` (see [`crate::status`]).
    pub testing_endpoints: bool,
    /// A secure node's certificates (`--certs-dir`): TLS on every listener, mutual TLS
    /// between nodes, client-certificate authentication for SQL. `None`: an insecure node
    /// (`--insecure`), plain text everywhere and every SQL user trusted.
    pub tls: Option<security::NodeTls>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            store: StoreSpec::Dir(PathBuf::from(DEFAULT_STORE_DIR)),
            listen_addr: DEFAULT_LISTEN_ADDR.to_string(),
            advertise_addr: None,
            sql_addr: DEFAULT_SQL_ADDR.to_string(),
            http_addr: DEFAULT_HTTP_ADDR.to_string(),
            locality: Locality::default(),
            join: Vec::new(),
            max_offset: DEFAULT_MAX_OFFSET,
            kv: KvNodeConfig::default(),
            rpc: RpcOptions::default(),
            jobs: jobs::RegistryConfig::default(),
            external_io_dir: None,
            testing_endpoints: false,
            tls: None,
        }
    }
}

impl ServerConfig {
    /// Short timings for tests: fast elections and liveness, a dead node replaced after 5 s,
    /// a 500 ms connect timeout.
    pub fn with_test_timings(mut self) -> ServerConfig {
        self.kv = KvNodeConfig::fast_for_tests();
        self.rpc.connect_timeout = Duration::from_millis(500);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_flag() {
        assert_eq!(StoreSpec::parse("type=mem"), Ok(StoreSpec::Memory));
        assert_eq!(StoreSpec::parse("/d"), Ok(StoreSpec::Dir("/d".into())));
        assert_eq!(StoreSpec::parse("path=/d"), Ok(StoreSpec::Dir("/d".into())));
        assert!(StoreSpec::parse("").is_err());
        assert!(StoreSpec::parse("type=mem,size=1GiB").is_err());
        assert!(StoreSpec::parse("path=").is_err());
        assert!(StoreSpec::parse("attrs=ssd").is_err());
    }
}
