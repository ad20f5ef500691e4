//! `--certs-dir` and `--insecure`, for every command that serves or connects.
//!
//! As CockroachDB, a command is secure unless told `--insecure`: it loads its certificates
//! from `--certs-dir` (default `${HOME}/.sextant-certs`) and fails, saying what is missing,
//! when they are not there.

use crate::cert::default_certs_dir;
use anyhow::anyhow;
use clap::Args;
use security::{CertError, CertsDir, NodeTls};
use std::path::PathBuf;
use std::sync::Arc;

/// A command's security flags.
#[derive(Args, Debug, Clone)]
pub struct SecurityArgs {
    /// The certificates directory: `ca.crt`, `node.crt`/`node.key` and
    /// `client.<user>.crt`/`.key` (see `sextant cert`) [default: ${HOME}/.sextant-certs].
    #[arg(long, env = "SEXTANT_CERTS_DIR")]
    pub certs_dir: Option<PathBuf>,
    /// No TLS and no authentication: plain text on every port and every SQL user trusted.
    /// Only for a cluster on a trusted network; `--certs-dir` is then not read.
    #[arg(long)]
    pub insecure: bool,
}

impl SecurityArgs {
    fn dir(&self) -> CertsDir {
        CertsDir::new(self.certs_dir.clone().unwrap_or_else(default_certs_dir))
    }

    /// A node's TLS: `None` with `--insecure`, else the certificates of `--certs-dir`.
    pub fn node_tls(&self) -> anyhow::Result<Option<NodeTls>> {
        if self.insecure {
            return Ok(None);
        }
        NodeTls::load(&self.dir()).map(Some).map_err(cannot_load)
    }

    /// The TLS of an admin command (`init`, `node status`, `node drain`), which speaks
    /// node-to-node RPC and so presents the node certificate of `--certs-dir`.
    pub fn rpc_tls(&self) -> anyhow::Result<Option<rpc::RpcTls>> {
        Ok(self.node_tls()?.as_ref().map(rpc::RpcTls::from))
    }

    /// Makes this process's SQL connections to `config` use TLS (the cluster CA of
    /// `--certs-dir`, and `client.<user>.crt` when there is one), unless `--insecure` or a
    /// `--url` given with `sslmode=disable` (as `cockroach sql` takes such a URL for an
    /// insecure cluster).
    pub fn use_for_sql(
        &self,
        config: &tokio_postgres::Config,
        url_given: bool,
    ) -> anyhow::Result<()> {
        let disabled =
            url_given && config.get_ssl_mode() == tokio_postgres::config::SslMode::Disable;
        if self.insecure || disabled {
            return Ok(());
        }
        let user = security::normalize_user(config.get_user().unwrap_or("root"))?;
        let config = security::client_config(&self.dir(), Some(&user)).map_err(cannot_load)?;
        client::conn::use_tls(Arc::new(config));
        Ok(())
    }
}

/// CockroachDB's words for a secure command without its certificates.
fn cannot_load(e: CertError) -> anyhow::Error {
    anyhow!(
        "cannot load certificates.\nCheck your certificate settings, set --certs-dir, or use \
         --insecure for insecure clusters.\n\n{e}"
    )
}
