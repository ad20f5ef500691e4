//! Certificates for a secure cluster, laid out as CockroachDB lays them out so that its users'
//! scripts and habits carry over.
//!
//! A certs directory ([`CertsDir`]) holds `ca.crt` (the cluster CA, newest first when a CA was
//! replaced), `node.crt`/`node.key` (one certificate per node, `CN=node`, serving both as the
//! server certificate and as the client certificate of node-to-node RPC) and
//! `client.<user>.crt`/`client.<user>.key` (`CN=<user>`). The CA's private key is written
//! wherever `--ca-key` says, never into the certs directory, and is never loaded by a node.
//!
//! - [`create_ca`], [`create_node`] and [`create_client`] are `sextant cert create-*`.
//! - [`list`] reads a directory back and [`format_list`] prints it as `sextant cert list` does.
//!
//! - [`NodeTls`] and [`client_config`] turn a directory into rustls configurations.
//! - [`scram`] stores passwords as SCRAM-SHA-256 verifiers and checks a client's proof.
//!
//! Everything here takes the current time as an argument (`now`) so that tests can pin it;
//! the command line passes the wall clock.

mod create;
mod dir;
mod list;
pub mod scram;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use create::{CreateOptions, KeySize, create_ca, create_client, create_node};
pub use dir::{CertsDir, normalize_user};
pub use list::{CertInfo, Usage, format_list, list};
pub use tls::{NodeTls, client_config};

use std::path::PathBuf;

/// What can go wrong creating or reading certificates. Messages follow CockroachDB's where it
/// has one for the same case.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// `--ca-key` was not given.
    #[error("the path to the CA key is required")]
    CaKeyRequired,
    /// `create-ca` found a CA key and was not told to reuse it.
    #[error("CA key {0} exists, but key reuse is disabled")]
    CaKeyReuse(PathBuf),
    /// `create-node` without a host.
    #[error("create-node requires at least one host name or address, none was specified")]
    NoHosts,
    /// A file to write exists and `--overwrite` was not given.
    #[error("{0}: file exists (pass --overwrite to replace it)")]
    Exists(PathBuf),
    /// The CA certificate does not belong to the CA key.
    #[error("the CA certificate {cert} was not made with the CA key {key}")]
    CaMismatch {
        /// `ca.crt`.
        cert: PathBuf,
        /// The `--ca-key` path.
        key: PathBuf,
    },
    /// A user name that is not a valid SQL user name.
    #[error(
        "invalid user name {0:?}: a user name starts with a letter or an underscore and holds \
         only letters, digits, underscores, dots and dashes"
    )]
    User(String),
    /// An unsupported `--key-size`.
    #[error("unsupported key size {0}: use 2048, 3072 or 4096")]
    KeySize(u32),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// A certificate or key could not be parsed.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A certificate or key a secure node or client needs is missing.
    #[error("{0}")]
    NotFound(String),
    /// The certificates are there but do not make a TLS configuration.
    #[error("problem using security settings: {0}")]
    Tls(String),
    /// Generating or signing failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}
