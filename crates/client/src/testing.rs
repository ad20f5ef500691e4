//! Test fixtures (feature `testing`): a throwaway PostgreSQL 15 server.
//!
//! [`PgServer::start`] runs `initdb` into a temporary directory and `pg_ctl start` on a free
//! port of 127.0.0.1 (trust authentication, the socket in the same directory), and its `Drop`
//! stops the server (`pg_ctl stop -m immediate`) and removes the directory. `start` is the fast
//! mode for tests (fsync, full_page_writes and synchronous_commit off);
//! [`PgServer::start_durable`] leaves the three at PostgreSQL's defaults (on), for benchmarks
//! that compare against a durable server. [`PgServer::try_start`] returns every failure as an
//! error instead of panicking.
//! PostgreSQL refuses to run as root, so as root the binaries run as the `postgres` user
//! through `runuser`, which owns the directory. The binaries come from Debian's
//! `postgresql-15` (`/usr/lib/postgresql/15/bin`, or `$SEXTANT_PG_BIN`);
//! `scripts/test-deps.sh` installs it. When they are missing the test fails saying so,
//! unless `SEXTANT_SKIP_MISSING_DEPS=1` (or `SEXTANT_SKIP_EXTERNAL=1`), when `start` prints
//! why and returns `None`.
//!
//! The shell's and the workload's tests use it, and benchmarks use it as the reference
//! server.

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tokio_postgres::Config;

pub use base::testing::SKIP_ENVS;
use base::testing::missing;

/// Where Debian puts PostgreSQL 15's server binaries.
pub const DEFAULT_PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Attempts at starting the server (a port taken between choosing and binding it).
const START_ATTEMPTS: usize = 3;

/// The superuser the server is initialised with.
pub const SUPERUSER: &str = "postgres";

/// How durably the server writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `fsync=off`, `full_page_writes=off`, `synchronous_commit=off`: fast, for tests.
    #[default]
    Fast,
    /// PostgreSQL's defaults: fsync, full-page writes and synchronous commit on.
    Durable,
}

/// A running PostgreSQL server; stopped and removed on drop.
pub struct PgServer {
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    bin: PathBuf,
    run_as_postgres: bool,
    durability: Durability,
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for PgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgServer(127.0.0.1:{})", self.port)
    }
}

impl PgServer {
    /// Starts a fresh server in the fast mode (fsync off). `None` only when PostgreSQL is
    /// missing and a skip variable is set; panics with the reason on any other failure.
    pub fn start() -> Option<PgServer> {
        Self::start_with(Durability::Fast)
    }

    /// Starts a fresh server with fsync, full_page_writes and synchronous_commit at their
    /// defaults (on). `None` and panics as [`PgServer::start`].
    pub fn start_durable() -> Option<PgServer> {
        Self::start_with(Durability::Durable)
    }

    /// Starts a fresh server with the given durability. `None` and panics as
    /// [`PgServer::start`].
    pub fn start_with(durability: Durability) -> Option<PgServer> {
        let bin = pg_bin();
        if !has_server_binaries(&bin) {
            return missing(&missing_what(&bin));
        }
        match Self::try_start(durability) {
            Ok(server) => Some(server),
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a fresh server with the given durability, returning any failure (missing
    /// binaries included, whatever the skip variables say) as an error.
    pub fn try_start(durability: Durability) -> Result<PgServer, String> {
        let bin = pg_bin();
        if !has_server_binaries(&bin) {
            return Err(format!(
                "{} is not installed: run scripts/test-deps.sh",
                missing_what(&bin)
            ));
        }
        let run_as_postgres = is_root();
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match try_start(&bin, run_as_postgres, durability) {
                Ok(server) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(format!("cannot start PostgreSQL: {last}"))
    }

    /// The directory of the server's binaries (`initdb`, `pg_ctl`, and usually `pgbench`).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// How durably this server writes.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// `postgresql://postgres@127.0.0.1:<port>/<db>?sslmode=disable`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{SUPERUSER}@127.0.0.1:{}/{db}?sslmode=disable",
            self.port
        )
    }

    /// A connection configuration for database `db`.
    pub fn config(&self, db: &str) -> Config {
        let mut c = Config::new();
        c.host("127.0.0.1")
            .port(self.port)
            .user(SUPERUSER)
            .dbname(db);
        c
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let _ = pg_command(&self.bin, "pg_ctl", self.run_as_postgres)
            .arg("stop")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w"])
            .output();
    }
}

fn pg_bin() -> PathBuf {
    std::env::var_os("SEXTANT_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PG_BIN))
}

fn has_server_binaries(bin: &Path) -> bool {
    bin.join("initdb").exists() && bin.join("pg_ctl").exists()
}

fn missing_what(bin: &Path) -> String {
    format!(
        "PostgreSQL 15 (initdb and pg_ctl in {}; Debian package postgresql-15)",
        bin.display()
    )
}

fn try_start(
    bin: &Path,
    run_as_postgres: bool,
    durability: Durability,
) -> Result<PgServer, String> {
    let dir = tempfile::Builder::new()
        .prefix("sextant-pg-")
        .tempdir()
        .map_err(|e| format!("temporary directory: {e}"))?;
    if run_as_postgres {
        chown_to_postgres(dir.path())?;
    }
    let data = dir.path().join("data");
    let out = pg_command(bin, "initdb", run_as_postgres)
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "--auth=trust", "--no-sync", "-E", "UTF8"])
        .args(["--locale=C"])
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    check(&out, "initdb")?;
    let port = free_port()?;
    let mut opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1",
        dir.path().display()
    );
    if durability == Durability::Fast {
        opts.push_str(" -c fsync=off -c full_page_writes=off -c synchronous_commit=off");
    }
    let out = pg_command(bin, "pg_ctl", run_as_postgres)
        .arg("start")
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(dir.path().join("server.log"))
        .args(["-w", "-t", "30", "-o", &opts])
        .output()
        .map_err(|e| format!("running pg_ctl: {e}"))?;
    let server = PgServer {
        port,
        bin: bin.to_path_buf(),
        run_as_postgres,
        durability,
        dir,
    };
    check(&out, "pg_ctl start").map_err(|e| format!("{e}\nserver log:\n{}", server.log()))?;
    Ok(server)
}

fn pg_command(bin: &Path, program: &str, run_as_postgres: bool) -> Command {
    let path = bin.join(program);
    if run_as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(path);
        cmd
    } else {
        Command::new(path)
    }
}

fn check(out: &Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_to_postgres(dir: &Path) -> Result<(), String> {
    let id = |flag: &str| -> Result<u32, String> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .map_err(|e| format!("id {flag} postgres: {e}"))?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| "there is no `postgres` user to run PostgreSQL as".to_string())
    };
    std::os::unix::fs::chown(dir, Some(id("-u")?), Some(id("-g")?))
        .map_err(|e| format!("chown {}: {e}", dir.display()))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("free port: {e}"))
}
