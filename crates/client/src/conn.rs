//! Connection targets and errors: from `--url`, `--host`, `-d` to a `tokio_postgres::Config`,
//! and server errors printed the way `cockroach sql` prints them.

use crate::tls::MakeRustls;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Client, Config, NoTls};
use tokio_rustls::rustls::ClientConfig;

/// Where `sextant sql` connects when given nothing.
pub const DEFAULT_URL: &str = "postgresql://root@localhost:26257/defaultdb?sslmode=disable";

/// The SQL port of `--host` when it names none.
pub const DEFAULT_PORT: u16 = 26257;

/// How long a connection attempt may take before it fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong on the client side of a SQL connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server (or the connection to it) reported an error.
    #[error("{}", describe(.0))]
    Sql(tokio_postgres::Error),
    /// A bad connection URL, flag or argument.
    #[error("{0}")]
    Usage(String),
    /// Reading input or writing output failed.
    #[error("{what}: {err}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The underlying error.
        err: std::io::Error,
    },
    /// Anything else the client itself gave up on (a workload invariant, a line editor).
    #[error("{0}")]
    Other(String),
}

impl From<tokio_postgres::Error> for ClientError {
    fn from(e: tokio_postgres::Error) -> ClientError {
        ClientError::Sql(e)
    }
}

impl ClientError {
    /// The SQLSTATE code, for a server error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            ClientError::Sql(e) => e.code().map(|c| c.code()),
            _ => None,
        }
    }
}

/// A server error as `<message>\nSQLSTATE: <code>` with `DETAIL:` and `HINT:` lines when the
/// server sent them (the caller prefixes `ERROR: `); other errors as their message.
pub fn describe(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = format!("{}\nSQLSTATE: {}", db.message(), db.code().code());
    if let Some(detail) = db.detail() {
        s.push_str(&format!("\nDETAIL: {detail}"));
    }
    if let Some(hint) = db.hint() {
        s.push_str(&format!("\nHINT: {hint}"));
    }
    s
}

/// The connection configuration from the shell's flags: `url` (else [`DEFAULT_URL`] with
/// `host` as `host[:port]` when given), then `database` over the URL's database. A URL
/// without a user connects as `root`.
pub fn config(
    url: Option<&str>,
    host: Option<&str>,
    database: Option<&str>,
) -> Result<Config, ClientError> {
    let mut config = match (url, host) {
        (Some(_), Some(_)) => {
            return Err(ClientError::Usage(
                "--url and --host cannot be used together".into(),
            ));
        }
        (Some(url), None) => parse_url(url)?,
        (None, Some(host)) => {
            let (h, port) = split_host_port(host)?;
            let mut c = parse_url(DEFAULT_URL)?;
            let mut fresh = Config::new();
            fresh
                .host(&h)
                .port(port)
                .user(c.get_user().unwrap_or("root"))
                .dbname(c.get_dbname().unwrap_or("defaultdb"));
            c = fresh;
            c
        }
        (None, None) => parse_url(DEFAULT_URL)?,
    };
    if let Some(db) = database {
        config.dbname(db);
    }
    if config.get_user().is_none() {
        config.user("root");
    }
    if config.get_dbname().is_none() {
        config.dbname("defaultdb");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    Ok(config)
}

fn parse_url(url: &str) -> Result<Config, ClientError> {
    url.parse::<Config>()
        .map_err(|e| ClientError::Usage(format!("invalid connection URL {url:?}: {e}")))
}

/// `host`, `host:port` or `[v6]:port`.
fn split_host_port(s: &str) -> Result<(String, u16), ClientError> {
    let bad = || ClientError::Usage(format!("invalid --host {s:?}: want HOST or HOST:PORT"));
    if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad())?,
            None if after.is_empty() => DEFAULT_PORT,
            None => return Err(bad()),
        };
        return Ok((h.to_string(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => Ok((h.to_string(), p.parse().map_err(|_| bad())?)),
        Some(_) => Err(bad()),
        None if s.is_empty() => Err(bad()),
        None => Ok((s.to_string(), DEFAULT_PORT)),
    }
}

/// A display URL for `config`: `postgresql://user@host:port/db?sslmode=disable`.
pub fn url_of(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) if h.contains(':') => format!("[{h}]"),
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
    format!(
        "postgresql://{}@{host}:{port}/{}?sslmode=disable",
        config.get_user().unwrap_or("root"),
        config.get_dbname().unwrap_or("defaultdb")
    )
}

/// The TLS every connection of this process uses, once [`use_tls`] set it.
static TLS: std::sync::OnceLock<Arc<ClientConfig>> = std::sync::OnceLock::new();

/// Makes every later [`connect`] of this process use TLS with `config` (a secure cluster's CA
/// and the user's client certificate), whatever `sslmode` the URL says: the command line sets
/// it once from `--certs-dir`, as libpq takes its certificates from the environment. Returns
/// false when TLS was already set.
pub fn use_tls(config: Arc<ClientConfig>) -> bool {
    TLS.set(config).is_ok()
}

/// Connects (over TLS when [`use_tls`] was called) and drives the connection in a background
/// task.
pub async fn connect(config: &Config) -> Result<Client, ClientError> {
    let client = match TLS.get() {
        Some(tls) => {
            let mut config = config.clone();
            config.ssl_mode(tokio_postgres::config::SslMode::Require);
            let (client, connection) = config.connect(MakeRustls::new(tls.clone())).await?;
            drive(connection);
            client
        }
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            drive(connection);
            client
        }
    };
    Ok(client)
}

/// Runs a connection in the background. The client's next call reports a broken connection;
/// nothing to add here.
fn drive<F: std::future::Future + Send + 'static>(connection: F) {
    tokio::spawn(async move {
        let _ = connection.await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(url: Option<&str>, host: Option<&str>, db: Option<&str>) -> String {
        match config(url, host, db) {
            Ok(c) => url_of(&c),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(url(None, None, None), DEFAULT_URL);
        assert_eq!(
            url(None, Some("127.0.0.1:5432"), Some("movr")),
            "postgresql://root@127.0.0.1:5432/movr?sslmode=disable"
        );
        assert_eq!(
            url(None, Some("db.local"), None),
            "postgresql://root@db.local:26257/defaultdb?sslmode=disable"
        );
        assert_eq!(
            url(None, Some("[::1]:9"), None),
            "postgresql://root@[::1]:9/defaultdb?sslmode=disable"
        );
        assert_eq!(
            url(
                Some("postgresql://bob@h:1/x?sslmode=disable"),
                None,
                Some("y")
            ),
            "postgresql://bob@h:1/y?sslmode=disable"
        );
        assert_eq!(
            url(Some("postgresql://h:1"), None, None),
            "postgresql://root@h:1/defaultdb?sslmode=disable"
        );
    }

    #[test]
    fn bad_targets() {
        assert!(url(Some("x://"), None, None).starts_with("error: invalid connection URL"));
        assert!(url(None, Some("h:notaport"), None).starts_with("error: invalid --host"));
        assert!(url(None, Some(":1"), None).starts_with("error: invalid --host"));
        assert!(url(Some("postgresql://h"), Some("h"), None).contains("cannot be used together"));
    }
}
