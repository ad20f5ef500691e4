//! SQL connections and the one rule that decides how a failed operation is recorded.
//!
//! An operation that definitely had no effect is `fail`; one that may have had an effect is
//! `info`. [`classify`] applies the rule to a single auto-committed statement:
//!
//! - a SQL error whose SQLSTATE says the statement was rejected — class 40 (serialization
//!   failure, a transaction restart; except 40003, "statement completion unknown"), 23
//!   (constraint violation), 42 (syntax, unknown object), 22 (data), 0A (not supported), 25
//!   (transaction state) — is definite;
//! - anything else — internal errors, unavailable ranges, a lost connection, a timeout — may
//!   have happened after the write was applied, so it is indefinite.
//!
//! [`in_txn`] runs an explicit `BEGIN ... COMMIT`. Before `COMMIT` is sent, any error is
//! definite: without a `COMMIT` the transaction cannot commit, so it is rolled back (or left
//! to expire when the connection is gone). An error from `COMMIT` itself goes through
//! [`classify`]. A read-only operation is never `info`: it changed nothing, so the worker
//! records any failure of it as `fail`.

use base::errcode;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

/// How a failed operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    /// Certainly no effect.
    Definite(String),
    /// Maybe an effect.
    Indefinite(String),
}

impl OpError {
    /// The error text.
    pub fn text(&self) -> &str {
        match self {
            OpError::Definite(t) | OpError::Indefinite(t) => t,
        }
    }
}

/// A SQL error's text with its SQLSTATE, or the client error's.
pub fn error_text(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => format!("{e}"),
    }
}

/// Whether a SQLSTATE means the statement was rejected without effect.
pub fn definite_sqlstate(code: &str) -> bool {
    if code == errcode::STATEMENT_COMPLETION_UNKNOWN.as_str() {
        return false;
    }
    ["40", "23", "42", "22", "0A", "25"]
        .iter()
        .any(|class| code.starts_with(class))
}

/// Classifies the error of an auto-committed statement (or of `COMMIT`).
pub fn classify(e: &tokio_postgres::Error) -> OpError {
    match e.as_db_error() {
        Some(db) if definite_sqlstate(db.code().code()) => OpError::Definite(error_text(e)),
        _ => OpError::Indefinite(error_text(e)),
    }
}

/// An error before `COMMIT`: definite.
pub fn definite(e: tokio_postgres::Error) -> OpError {
    OpError::Definite(error_text(&e))
}

/// A connection to one node's SQL port; its driver task stops when it is dropped.
pub struct Conn {
    /// The client.
    pub client: Client,
    driver: JoinHandle<()>,
}

impl Conn {
    /// Connects to `url` within `timeout`.
    pub async fn connect(url: &str, timeout: Duration) -> anyhow::Result<Conn> {
        let (client, connection) =
            tokio::time::timeout(timeout, tokio_postgres::connect(url, NoTls))
                .await
                .map_err(|_| {
                    anyhow::anyhow!("connecting to {url}: timed out after {timeout:?}")
                })??;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn { client, driver })
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Runs `body` between `BEGIN` and `COMMIT` (see the module essay for how errors are
/// classified).
pub async fn in_txn<T>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, OpError>,
) -> Result<T, OpError> {
    client.batch_execute("BEGIN").await.map_err(definite)?;
    let value = match body(client).await {
        Ok(v) => v,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            // Whatever went wrong, COMMIT was never sent.
            return Err(OpError::Definite(e.text().to_string()));
        }
    };
    match client.batch_execute("COMMIT").await {
        Ok(()) => Ok(value),
        Err(e) => Err(classify(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates() {
        for code in [
            "40001", "23505", "42601", "42P01", "22003", "0A000", "25P02",
        ] {
            assert!(definite_sqlstate(code), "{code}");
        }
        for code in ["40003", "58C00", "XX000", "57014", "08006", "58000"] {
            assert!(!definite_sqlstate(code), "{code}");
        }
    }
}
