//! `sextant sql`: the SQL shell (`client::Shell`) on a terminal, or the statements of `-e`,
//! `-f` or a pipe on stdin, stopping at the first error (exit status 1).

use crate::secure::SecurityArgs;
use anyhow::Context;
use clap::Args;
use client::{Format, Shell, conn};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;

/// `--format` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// psql-style aligned table with a row count.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// Tab-separated values with a header line.
    Tsv,
    /// One block of `column | value` lines per row.
    Records,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Table => Format::Table,
            FormatArg::Csv => Format::Csv,
            FormatArg::Tsv => Format::Tsv,
            FormatArg::Records => Format::Records,
        }
    }
}

/// Where to connect: `--url`, or `--host` and `-d`.
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Connection URL [default: postgresql://root@localhost:26257/defaultdb?sslmode=disable].
    #[arg(long, env = "SEXTANT_URL", conflicts_with = "host")]
    pub url: Option<String>,
    /// SQL address of a node, HOST[:PORT] (port 26257 by default).
    #[arg(long)]
    pub host: Option<String>,
    /// Database to use (overrides the URL's).
    #[arg(short = 'd', long)]
    pub database: Option<String>,
    /// User to connect as (overrides the URL's) [default: root].
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    #[command(flatten)]
    pub security: SecurityArgs,
}

impl ConnArgs {
    /// The connection configuration these flags describe.
    pub fn config(&self) -> anyhow::Result<tokio_postgres::Config> {
        let mut config = conn::config(
            self.url.as_deref(),
            self.host.as_deref(),
            self.database.as_deref(),
        )?;
        if let Some(user) = &self.user {
            config.user(user);
        }
        self.security.use_for_sql(&config, self.url.is_some())?;
        Ok(config)
    }
}

/// `sextant sql`.
#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// Run these statements (each may hold several, separated by `;`) and exit; may be
    /// repeated.
    #[arg(short = 'e', long = "execute", conflicts_with = "file")]
    execute: Vec<String>,
    /// Run the statements of this file (`-` for stdin) and exit.
    #[arg(short = 'f', long)]
    file: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, value_enum, default_value = "table")]
    format: FormatArg,
}

/// Runs the shell or the given statements.
pub async fn run(args: SqlArgs) -> anyhow::Result<()> {
    let config = args.conn.config()?;
    let target = conn::url_of(&config);
    let mut shell = Shell::connect(config, args.format.into(), Box::new(std::io::stdout()))
        .await
        .with_context(|| format!("cannot connect to {target}"))?;
    run_shell(&mut shell, &args.execute, args.file.as_deref()).await
}

/// `-e` statements, else `-f`, else the terminal, else stdin.
pub async fn run_shell(
    shell: &mut Shell,
    execute: &[String],
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if !execute.is_empty() {
        for text in execute {
            if shell.run_text(text).await? == client::shell::Flow::Quit {
                break;
            }
        }
        return Ok(());
    }
    let text = match file {
        Some(path) if path.as_os_str() == "-" => read_stdin()?,
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None if std::io::stdin().is_terminal() => return Ok(shell.run_interactive().await?),
        None => read_stdin()?,
    };
    shell.run_text(&text).await?;
    Ok(())
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read statements from stdin")?;
    Ok(text)
}
