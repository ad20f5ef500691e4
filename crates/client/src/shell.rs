//! The SQL shell: statements from a line editor, from `-e`/`-f`, or from a pipe.
//!
//! A [`Shell`] owns one connection. Text is fed through a [`Splitter`] so a statement runs
//! when its `;` arrives, and a line starting with `\` at the start of a statement is a
//! backslash command ([`meta`]). Each statement goes through [`session::execute`] and its
//! outcomes are printed in the shell's [`Format`]; a blocking BACKUP or RESTORE gets a
//! progress bar from [`progress`].
//!
//! Two ways to run:
//! - [`Shell::run_text`] (`-e`, `-f`, a pipe on stdin): statements run in order and the first
//!   error stops the run and is returned, so the binary exits with status 1.
//! - [`Shell::run_interactive`] (a terminal): `rustyline` line editing with history in
//!   `~/.sextant_sql_history`, a `user@host:port/db>` prompt and a `->` prompt while a
//!   statement is open, errors printed as `ERROR: <message>` and `SQLSTATE: <code>` and the
//!   shell carrying on, `Time:` after each statement, Ctrl-C to drop the statement being
//!   typed and Ctrl-D or `\q` to leave.

use crate::conn::{self, ClientError};
use crate::format::{self, Format};
use crate::meta::{self, Meta};
use crate::progress::{self, JobProgress};
use crate::session::{self, Outcome};
use crate::split::Splitter;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;
use tokio_postgres::{Client, Config};

/// Name of the history file in the home directory.
pub const HISTORY_FILE: &str = ".sextant_sql_history";

/// Whether the shell should go on after a statement or backslash command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Read the next statement.
    Continue,
    /// `\q`: stop.
    Quit,
}

/// A SQL shell over one connection.
pub struct Shell {
    client: Client,
    config: Config,
    format: Format,
    out: Box<dyn Write + Send>,
    in_txn: bool,
    show_progress: bool,
}

impl Shell {
    /// Connects with `config`; results are printed to `out` in `format`.
    pub async fn connect(
        config: Config,
        format: Format,
        out: Box<dyn Write + Send>,
    ) -> Result<Shell, ClientError> {
        let client = conn::connect(&config).await?;
        Ok(Shell {
            client,
            config,
            format,
            out,
            in_txn: false,
            show_progress: std::io::stderr().is_terminal(),
        })
    }

    /// The connection (for callers that run their own statements on it).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs every statement and backslash command in `text` in order; stops at the first
    /// error and returns it. A last statement without `;` runs too.
    pub async fn run_text(&mut self, text: &str) -> Result<Flow, ClientError> {
        let mut splitter = Splitter::new();
        for line in text.split_inclusive('\n') {
            if !splitter.is_pending() && meta::is_meta(line) {
                if self.run_meta(line).await? == Flow::Quit {
                    return Ok(Flow::Quit);
                }
                continue;
            }
            for stmt in splitter.push(line) {
                self.run_statement(&stmt).await?;
            }
        }
        if let Some(stmt) = splitter.finish() {
            self.run_statement(&stmt).await?;
        }
        Ok(Flow::Continue)
    }

    /// Runs one backslash command.
    pub async fn run_meta(&mut self, line: &str) -> Result<Flow, ClientError> {
        match meta::parse(line) {
            Meta::Quit => Ok(Flow::Quit),
            Meta::Help => {
                self.write(meta::HELP)?;
                Ok(Flow::Continue)
            }
            Meta::Sql(sql) => {
                self.run_statement(&sql).await?;
                Ok(Flow::Continue)
            }
            Meta::Invalid(msg) => Err(ClientError::Usage(msg)),
        }
    }

    /// Runs one statement and prints its outcomes.
    pub async fn run_statement(&mut self, sql: &str) -> Result<(), ClientError> {
        let progress = match progress::foreground_job(sql) {
            Some(kind) if self.show_progress => {
                Some(JobProgress::start(self.config.clone(), kind, true))
            }
            _ => None,
        };
        let result = session::execute(&self.client, sql, !self.in_txn).await;
        if let Some(p) = progress {
            p.stop().await;
        }
        self.track_txn(sql, result.is_ok());
        let mut text = String::new();
        for outcome in result? {
            match outcome {
                Outcome::Rows(rs) => text.push_str(&format::render(&rs, self.format)),
                Outcome::Done(tag) => {
                    text.push_str(&tag);
                    text.push('\n');
                }
            }
        }
        self.write(&text)
    }

    fn track_txn(&mut self, sql: &str, ok: bool) {
        let words = session::first_words(sql, 2);
        match words.first().map(String::as_str) {
            Some("BEGIN" | "START") if ok => self.in_txn = true,
            Some("COMMIT" | "ROLLBACK" | "END" | "ABORT") => self.in_txn = false,
            _ => {}
        }
    }

    fn write(&mut self, text: &str) -> Result<(), ClientError> {
        let io = |err| ClientError::Io {
            what: "writing results".into(),
            err,
        };
        self.out.write_all(text.as_bytes()).map_err(io)?;
        self.out.flush().map_err(io)
    }

    /// The prompt: `user@host:port/db> `.
    async fn prompt(&self) -> String {
        let db = match self.client.simple_query("SELECT current_database()").await {
            Ok(msgs) => msgs.iter().find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            }),
            Err(_) => None,
        };
        let url = conn::url_of(&self.config);
        let target = url
            .trim_start_matches("postgresql://")
            .split(['/', '?'])
            .next()
            .unwrap_or("")
            .to_string();
        let db = db.unwrap_or_else(|| self.config.get_dbname().unwrap_or("").to_string());
        format!("{target}/{db}> ")
    }

    /// The interactive loop on a terminal, until `\q` or Ctrl-D.
    pub async fn run_interactive(&mut self) -> Result<(), ClientError> {
        use rustyline::error::ReadlineError;
        let other = |e: ReadlineError| ClientError::Other(format!("line editor: {e}"));
        let mut editor = rustyline::DefaultEditor::new().map_err(other)?;
        let history = history_path();
        if let Some(h) = &history {
            let _ = editor.load_history(h);
        }
        self.write(
            "#\n# Welcome to the Sextant SQL shell.\n# All statements must be terminated by a \
             semicolon.\n# To exit, type: \\q.\n#\n",
        )?;
        let mut splitter = Splitter::new();
        let mut prompt = self.prompt().await;
        loop {
            let shown = if splitter.is_pending() {
                format!(
                    "{:>w$} ",
                    "->",
                    w = prompt.chars().count().saturating_sub(1)
                )
            } else {
                prompt.clone()
            };
            let (ed, line) = tokio::task::spawn_blocking(move || {
                let line = editor.readline(&shown);
                (editor, line)
            })
            .await
            .map_err(|e| ClientError::Other(format!("line editor: {e}")))?;
            editor = ed;
            let line = match line {
                Ok(line) => line,
                Err(ReadlineError::Interrupted) => {
                    splitter.clear();
                    continue;
                }
                Err(ReadlineError::Eof) => break,
                Err(e) => return Err(other(e)),
            };
            if !splitter.is_pending() && meta::is_meta(&line) {
                let _ = editor.add_history_entry(line.trim());
                match self.run_meta(&line).await {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(e) => self.report(&e),
                }
                continue;
            }
            for stmt in splitter.push(&format!("{line}\n")) {
                let _ = editor.add_history_entry(format!("{stmt};"));
                let started = Instant::now();
                match self.run_statement(&stmt).await {
                    Ok(()) => {
                        let _ = self.write(&format!("\nTime: {:.3?}\n\n", started.elapsed()));
                    }
                    Err(e) => self.report(&e),
                }
                if matches!(
                    session::first_words(&stmt, 1).first().map(String::as_str),
                    Some("SET" | "USE")
                ) {
                    prompt = self.prompt().await;
                }
            }
            if self.client.is_closed() {
                return Err(ClientError::Other(
                    "the connection to the server was lost".into(),
                ));
            }
        }
        if let Some(h) = &history {
            let _ = editor.save_history(h);
        }
        Ok(())
    }

    fn report(&mut self, e: &ClientError) {
        eprintln!("ERROR: {e}");
    }
}

/// `~/.sextant_sql_history`, when the home directory is known.
pub fn history_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(HISTORY_FILE))
}
