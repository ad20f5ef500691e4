//! The PostgreSQL wire protocol (v3): how psql, drivers and `sextant sql` reach a node.
//!
//! [`serve`] accepts TCP connections on the node's `--sql-addr` and runs each in its own task
//! ([`conn`]) over a [`Session`](crate::Session). pgwire 0.42 provides the server's message
//! types and their encoding; what clients send is decoded here ([`frontend`]) by a cursor
//! that checks every length, so no input can panic the server or make it allocate more than
//! the bytes that actually arrived. Values are converted by [`value`].
//!
//! # A connection
//!
//! - **Startup.** On a secure node (one with certificates) the client must send an SSLRequest
//!   first: it is answered `S` and the connection continues over TLS with the node
//!   certificate; a StartupMessage in plain text is refused with 08P01 `node is running
//!   secure mode, SSL connection required`. **Authentication** on a secure node is
//!   CockroachDB's `cert-password`: a client certificate (verified against the cluster CA)
//!   must name the user (`CN=<user>`, else 28000 `certificate authentication failed`);
//!   without one the server asks for SCRAM-SHA-256 and checks the proof against the
//!   verifier in the user's record (28P01 `password authentication failed` for a wrong
//!   password, an unknown user or one without a password, all alike; 28000 for `NOLOGIN`).
//!   On an insecure node (`--insecure`) an SSLRequest or GSSENCRequest is
//!   answered `N` and every user is trusted, so its SQL port must only be reachable from
//!   trusted networks. A CancelRequest is read and dropped: statements cannot be cancelled
//!   yet. The StartupMessage names the user and the database (`defaultdb` when it names
//!   none); a database that does not exist fails the connection with 3D000. Startup
//!   parameters such as
//!   `application_name` and `options=-c name=value` become session variables (an unknown one
//!   fails the connection, `client_encoding` other than UTF8 is unimplemented). The server
//!   then sends AuthenticationOk, ParameterStatus (`server_version`, `client_encoding`,
//!   `DateStyle`, `integer_datetimes`, `standard_conforming_strings`, `TimeZone`, ...),
//!   BackendKeyData and ReadyForQuery.
//! - **Simple query.** The whole string is parsed first, so a syntax error runs nothing and
//!   carries its position (1-based, in characters). Then each statement runs in turn and
//!   sends its RowDescription, DataRows, NOTICEs and CommandComplete (`INSERT 0 3`,
//!   `SELECT 2`, `CREATE TABLE`); the first error ends the string. An empty string gets
//!   EmptyQueryResponse.
//! - **Extended query.** Parse prepares a statement through `Session::prepare`, which infers
//!   parameter types (unspecified ones default to `text`); Describe answers
//!   ParameterDescription and RowDescription (or NoData); Bind decodes parameters in text or
//!   binary format for their types and fixes each result column's format; Execute runs the
//!   statement once, then sends rows, honouring the row limit with PortalSuspended; Close
//!   drops a statement or portal. After an error every message up to Sync is skipped, as
//!   PostgreSQL does. Portals go away at Sync outside a transaction block.
//! - **ReadyForQuery** carries the session's transaction status: `I` idle, `T` in a
//!   transaction block, `E` in a failed one (only `ROLLBACK` is accepted then).
//! - **Errors** are ErrorResponses with severity, SQLSTATE, message, detail, hint and
//!   position. A malformed message is a protocol violation (08P01) and closes the
//!   connection, since the byte stream can no longer be trusted.
//! - **Rows** are encoded one at a time straight into the output buffer, which goes to the
//!   socket every 64 KiB, so a large result is never held twice.
//! - **Shutdown.** When `shutdown` resolves the listener closes; idle connections get 57P01
//!   and close, and a connection in the middle of a statement finishes it first (for up to
//!   five seconds).
//! - A client that disconnects inside a transaction has it rolled back.
//! - **Panics** stay inside their connection. Each message is served under
//!   `catch_unwind` (`Conn::serve`): a panic is logged at error level with its statement,
//!   the client gets an internal error (XX000, `internal error: <panic message>`), a
//!   transaction the statement ran in is rolled back and left aborted, and the connection
//!   goes on (after a Query with ReadyForQuery, in the extended protocol by skipping to Sync).
//!   A panic during startup or while decoding a message closes that connection only. Deep
//!   recursion, which would abort the process rather than panic, is bounded before it starts
//!   ([`crate::stack`]).

pub mod conn;
pub mod frontend;
pub mod value;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::rustls::ServerConfig;

pub use conn::DEFAULT_DATABASE;

use crate::session::SqlServer;

/// How long connections get to finish their statement once shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves PostgreSQL clients on `listener` until `shutdown` resolves: over TLS only, with
/// certificate authentication, when `tls` is given (a secure node); in plain text with every
/// user trusted when not (`--insecure`).
pub async fn serve<F>(
    listener: TcpListener,
    sql: SqlServer,
    tls: Option<Arc<ServerConfig>>,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    match &tls {
                        // An insecure node serves the socket as it is; only a secure one
                        // negotiates first (the connection's task then nests one more
                        // future, which costs stack in debug builds).
                        None => {
                            conns.spawn(conn::run(stream, sql.clone(), conn::Auth::Trust, stop_rx.clone()));
                        }
                        Some(tls) => {
                            conns.spawn(conn::accept(stream, sql.clone(), tls.clone(), stop_rx.clone()));
                        }
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off and go on.
                    tracing::warn!("sql listener accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(done) = conns.join_next(), if !conns.is_empty() => {
                // Statements run under catch_unwind (conn.rs); a panic outside one (in
                // encoding, say) ends only its own connection's task.
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::error!("a SQL connection task panicked: {e}");
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(DRAIN, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
    Ok(())
}
