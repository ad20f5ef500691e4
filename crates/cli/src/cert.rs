//! `sextant cert create-ca | create-node | create-client | list`: a cluster's certificates,
//! with CockroachDB's flags, file names and messages (see the `security` crate).

use crate::flags;
use clap::{Args, Subcommand};
use security::{CertsDir, CreateOptions, KeySize};
use std::path::PathBuf;
use std::time::Duration;

/// `--certs-dir` when neither the flag nor `SEXTANT_CERTS_DIR` says otherwise:
/// `${HOME}/.sextant-certs`, as CockroachDB's is `${HOME}/.cockroach-certs`.
pub fn default_certs_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".sextant-certs")
}

/// Where the certificates live.
#[derive(Args, Debug)]
pub struct DirArgs {
    /// The certificate directory [default: ${HOME}/.sextant-certs].
    #[arg(long, env = "SEXTANT_CERTS_DIR")]
    certs_dir: Option<PathBuf>,
}

impl DirArgs {
    fn dir(&self) -> CertsDir {
        CertsDir::new(self.certs_dir.clone().unwrap_or_else(default_certs_dir))
    }
}

/// The flags of every `create-*`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// Path to the CA's private key (kept outside the certificate directory).
    #[arg(long, env = "SEXTANT_CA_KEY")]
    ca_key: Option<PathBuf>,
    /// RSA key size in bits: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048)]
    key_size: u32,
    /// How long the certificate is valid, e.g. 43920h [default: 87840h for a CA, 43920h
    /// otherwise].
    #[arg(long, value_parser = flags::duration)]
    lifetime: Option<Duration>,
    /// Replace existing files (create-ca puts the new CA first in ca.crt and keeps the old).
    #[arg(long)]
    overwrite: bool,
}

impl CreateArgs {
    /// The CA key's path; empty when not given, which the `security` crate refuses with
    /// CockroachDB's message.
    fn ca_key(&self) -> PathBuf {
        self.ca_key.clone().unwrap_or_default()
    }

    fn options(&self, default_lifetime: Duration, reuse: bool) -> anyhow::Result<CreateOptions> {
        Ok(CreateOptions {
            key_size: KeySize::from_bits(self.key_size)?,
            lifetime: self.lifetime.unwrap_or(default_lifetime),
            overwrite: self.overwrite,
            allow_ca_key_reuse: reuse,
        })
    }
}

/// `sextant cert ...`.
#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Create the cluster CA: ca.crt in the certificate directory, its key at --ca-key.
    CreateCa {
        #[command(flatten)]
        create: CreateArgs,
        /// Sign the new CA certificate with the key already at --ca-key.
        #[arg(long)]
        allow_ca_key_reuse: bool,
    },
    /// Create node.crt and node.key for the given host names and addresses.
    CreateNode {
        /// Host names and IP addresses the node is reached at (wildcards allowed).
        hosts: Vec<String>,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// Create client.<user>.crt and client.<user>.key.
    CreateClient {
        /// The SQL user the certificate authenticates.
        user: String,
        #[command(flatten)]
        create: CreateArgs,
    },
    /// List the certificates in the certificate directory.
    List {
        #[command(flatten)]
        dir: DirArgs,
    },
}

/// Runs a `cert` command.
pub fn run(command: CertCommand) -> anyhow::Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let written = match command {
        CertCommand::CreateCa {
            create,
            allow_ca_key_reuse,
        } => {
            let opts = create.options(CreateOptions::CA_LIFETIME, allow_ca_key_reuse)?;
            security::create_ca(&create.dir.dir(), &create.ca_key(), &opts, now)?
        }
        CertCommand::CreateNode { hosts, create } => {
            let opts = create.options(CreateOptions::CERT_LIFETIME, false)?;
            security::create_node(&create.dir.dir(), &create.ca_key(), &hosts, &opts, now)?
        }
        CertCommand::CreateClient { user, create } => {
            let opts = create.options(CreateOptions::CERT_LIFETIME, false)?;
            security::create_client(&create.dir.dir(), &create.ca_key(), &user, &opts, now)?
        }
        CertCommand::List { dir } => {
            let dir = dir.dir();
            print!("{}", security::format_list(&dir, &security::list(&dir)?));
            return Ok(());
        }
    };
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
