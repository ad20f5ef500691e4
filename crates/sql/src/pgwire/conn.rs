//! One client connection: startup, then the simple and extended query protocols over a
//! [`Session`].

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use base::errcode::{self, Code};
use bytes::BytesMut;
use futures::FutureExt;
use pgwire::messages::PgWireBackendMessage as B;
use pgwire::messages::data::{
    DataRow, FieldDescription, NoData, ParameterDescription, RowDescription,
};
use pgwire::messages::extendedquery::{
    BindComplete, CloseComplete, ParseComplete, PortalSuspended,
};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, ErrorResponse, NoticeResponse, ReadyForQuery,
    TransactionStatus,
};
use pgwire::messages::startup::{
    Authentication, BackendKeyData, NegotiateProtocolVersion, ParameterStatus, SecretKey,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use super::frontend::{self, MAX_MESSAGE, MAX_STARTUP, Message, Startup};
use super::value::{self, BINARY, TEXT};
use crate::error::SqlError;
use crate::parser::redact_sql;
use crate::session::{Column, PreparedStatement, Session, SqlServer, StatementResult};
use crate::types::{Datum, Type};

/// The database a connection uses when its startup packet names none.
pub const DEFAULT_DATABASE: &str = "defaultdb";

/// Encoded output is written to the socket whenever this much has piled up, so a large
/// result is never held whole in encoded form.
const FLUSH_AT: usize = 64 << 10;
/// Longest error message sent (pgwire refuses to encode very long messages).
const MAX_ERROR_MESSAGE: usize = 16 << 10;
/// Longest statement text a panic's log line carries.
const MAX_LOGGED_STATEMENT: usize = 4 << 10;
/// The hint of the internal error a client gets when its statement panicked.
const PANIC_HINT: &str = "You have encountered an unexpected error: the statement panicked. \
                          The node logged it with the statement; the connection is still usable.";

/// Why a connection ends.
enum Close {
    /// The client left (Terminate, EOF) or the server is stopping.
    Done,
    /// The socket failed.
    Io(std::io::Error),
}

impl From<std::io::Error> for Close {
    fn from(e: std::io::Error) -> Close {
        Close::Io(e)
    }
}

type ConnResult<T> = Result<T, Close>;

/// A statement prepared with Parse.
struct Prepared {
    stmt: PreparedStatement,
}

/// What Execute has left to send of a portal's result.
enum Output {
    /// Not executed yet.
    Pending,
    /// Executed; rows left to send.
    Rows {
        columns: Vec<Column>,
        rows: std::vec::IntoIter<Vec<Datum>>,
        tag: String,
        notices: Vec<String>,
        /// Rows still arriving (sent after `rows`).
        stream: Option<crate::RowItems>,
    },
    /// Every row sent.
    Done { tag: String },
}

/// A bound statement.
struct Portal {
    prepared: Arc<Prepared>,
    params: Vec<Datum>,
    /// One format per result column.
    formats: Vec<i16>,
    output: Output,
}

struct Conn<R, W> {
    reader: R,
    writer: W,
    out: BytesMut,
    session: Session,
    statements: HashMap<String, Arc<Prepared>>,
    portals: HashMap<String, Portal>,
    /// After an error in the extended protocol: skip messages until Sync.
    skip_to_sync: bool,
    stop: watch::Receiver<bool>,
}

/// How a connection's user is authenticated.
pub enum Auth {
    /// An insecure node: every user is accepted without a password (`--insecure`).
    Trust,
    /// A secure node, over TLS, as CockroachDB's `cert-password`: a client certificate the CA
    /// verified must name the user; without one, the user's password is checked with
    /// SCRAM-SHA-256. `peer_user` is the verified certificate's common name, if any.
    CertPassword {
        /// The verified client certificate's common name.
        peer_user: Option<String>,
    },
}

/// `password authentication failed for user <user>` (28P01): a wrong password, an unknown
/// user and a user without a password all look the same to the client.
fn password_failed(user: &str) -> SqlError {
    SqlError::new(
        errcode::INVALID_PASSWORD,
        format!("password authentication failed for user {user}"),
    )
}

/// What a secure node answers a client that starts without TLS (CockroachDB's words).
pub const SSL_REQUIRED: &str = "node is running secure mode, SSL connection required";

/// Serves one TCP connection of a secure node (its SQL listener has `config`): an SSLRequest
/// is answered `S`, the TLS handshake completes and the connection is served over TLS,
/// authenticating by the client's certificate; a plaintext startup is refused with
/// [`SSL_REQUIRED`]. An insecure node calls [`run`] on the socket directly.
pub async fn accept(
    mut tcp: tokio::net::TcpStream,
    sql: SqlServer,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    stop: watch::Receiver<bool>,
) {
    loop {
        let body = match read_startup(&mut tcp).await {
            Ok(Some(body)) => body,
            Ok(None) => return,
            Err(e) => {
                let _ = refuse(&mut tcp, e).await;
                return;
            }
        };
        match frontend::decode_startup(&body) {
            Ok(Startup::Gss) => {
                if tcp.write_all(b"N").await.is_err() {
                    return;
                }
            }
            Ok(Startup::Ssl) => {
                if tcp.write_all(b"S").await.is_err() {
                    return;
                }
                let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                let handshake =
                    tokio::time::timeout(security::tls::HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                let stream = match handshake.await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!("sql connection refused: TLS handshake: {e}");
                        return;
                    }
                    Err(_) => return,
                };
                let peer_user = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .and_then(security::tls::common_name);
                return boxed_run(stream, sql, Auth::CertPassword { peer_user }, stop).await;
            }
            Ok(Startup::Cancel) => return,
            Ok(Startup::Start { .. }) => {
                let _ = refuse(
                    &mut tcp,
                    SqlError::new(errcode::PROTOCOL_VIOLATION, SSL_REQUIRED),
                )
                .await;
                return;
            }
            Err(e) => {
                let _ = refuse(&mut tcp, SqlError::new(errcode::PROTOCOL_VIOLATION, e.0)).await;
                return;
            }
        }
    }
}

/// [`run`]'s future, made and boxed in a frame of its own. Built inline, the large future
/// would reserve its size in every poll frame of [`accept`] for the whole connection, and
/// deep statements (nested expressions, long parser inputs) then overflow a worker's stack in
/// debug builds; boxed here, `accept` holds a pointer.
#[inline(never)]
fn boxed_run<S>(
    stream: S,
    sql: SqlServer,
    auth: Auth,
    stop: watch::Receiver<bool>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(run(stream, sql, auth, stop))
}

/// Sends `e` as an ErrorResponse before the connection closes.
async fn refuse<W: AsyncWrite + Unpin>(writer: &mut W, e: SqlError) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    push(&mut out, error_message(&e, None));
    writer.write_all(&out).await?;
    writer.flush().await
}

/// Reads one startup packet's body: `None` at end of stream, an error for a bad length.
async fn read_startup<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Vec<u8>>, SqlError> {
    let Ok(len) = reader.read_i32().await else {
        return Ok(None);
    };
    let len = usize::try_from(len).unwrap_or(0);
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(SqlError::new(
            errcode::PROTOCOL_VIOLATION,
            "invalid length of startup packet",
        ));
    }
    let mut body = vec![0; len - 4];
    match reader.read_exact(&mut body).await {
        Ok(_) => Ok(Some(body)),
        Err(_) => Ok(None),
    }
}

/// Serves one connection until the client leaves, the socket fails or `stop` turns true.
pub async fn run<S>(stream: S, sql: SqlServer, auth: Auth, stop: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let (reader, writer) = tokio::io::split(stream);
    let mut startup = Handshake {
        reader,
        writer,
        out: BytesMut::new(),
        auth,
    };
    // Boxed: the handshake (authentication included) is large, and inline it would take room
    // in every poll of the connection's frame for its whole life (debug builds run deep
    // statements close to a worker's stack limit).
    let session = match AssertUnwindSafe(Box::pin(startup.handshake(&sql)))
        .catch_unwind()
        .await
    {
        Ok(Ok(Some(session))) => session,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            log_close(e);
            return;
        }
        Err(panic) => {
            let message = panic_message(&*panic);
            tracing::error!("panic during SQL connection startup: {message}");
            push(&mut startup.out, error_message(&panic_error(message), None));
            let _ = startup.writer.write_all(&startup.out).await;
            let _ = startup.writer.flush().await;
            return;
        }
    };
    let Handshake {
        reader,
        writer,
        out,
        ..
    } = startup;
    let mut conn = Conn {
        reader,
        writer,
        out,
        session,
        statements: HashMap::new(),
        portals: HashMap::new(),
        skip_to_sync: false,
        stop,
    };
    let result = conn.serve().await;
    if AssertUnwindSafe(conn.session_end())
        .catch_unwind()
        .await
        .is_err()
    {
        tracing::error!("panic while rolling back the transaction of a closed SQL connection");
    }
    if let Err(e) = result {
        log_close(e);
    }
}

fn log_close(e: Close) {
    if let Close::Io(e) = e {
        tracing::debug!("sql connection closed: {e}");
    }
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// What the client gets when its statement panicked: CockroachDB's internal error (XX000).
fn panic_error(message: String) -> SqlError {
    SqlError::internal(message).with_hint(PANIC_HINT)
}

/// `sql` with its secrets redacted, for a log line ([`redact_sql`]). Redacting parses the
/// statement again, which may be what panicked: then the statement is withheld.
fn loggable(sql: &str) -> String {
    std::panic::catch_unwind(|| redact_sql(sql))
        .unwrap_or_else(|_| "<withheld: the statement could not be redacted>".to_string())
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn push(out: &mut BytesMut, m: B) {
    if let Err(e) = m.encode(out) {
        tracing::warn!("cannot encode a pgwire message: {e}");
    }
}

fn error_message(e: &SqlError, sql: Option<&str>) -> B {
    let message = truncate(e.message(), MAX_ERROR_MESSAGE).to_string();
    let mut fields = vec![
        (b'S', "ERROR".to_string()),
        (b'V', "ERROR".to_string()),
        (b'C', e.code().as_str().to_string()),
        (b'M', message),
    ];
    if let Some(d) = &e.error.detail {
        fields.push((b'D', d.clone()));
    }
    if let Some(h) = &e.error.hint {
        fields.push((b'H', h.clone()));
    }
    if let Some(pos) = position(e.position, sql) {
        fields.push((b'P', pos.to_string()));
    }
    B::ErrorResponse(ErrorResponse::new(fields))
}

/// PostgreSQL's error position: 1-based, in characters.
fn position(byte: Option<usize>, sql: Option<&str>) -> Option<usize> {
    Some(truncate(sql?, byte?).chars().count() + 1)
}

/// The connection before its session exists.
struct Handshake<R, W> {
    reader: R,
    writer: W,
    out: BytesMut,
    auth: Auth,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Handshake<R, W> {
    async fn fail(&mut self, code: Code, message: impl Into<String>) -> ConnResult<()> {
        push(
            &mut self.out,
            error_message(&SqlError::new(code, message), None),
        );
        self.writer.write_all(&self.out).await?;
        self.writer.flush().await?;
        Ok(())
    }

    /// Authenticates `user` as `self.auth` says; `Ok(Err(e))` refuses the login with `e`.
    async fn authenticate(
        &mut self,
        sql: &SqlServer,
        user: &str,
    ) -> ConnResult<Result<(), SqlError>> {
        let Auth::CertPassword { peer_user } = &self.auth else {
            return Ok(Ok(()));
        };
        let peer_user = peer_user.clone();
        let record = match sql.login_record(user).await {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let no_login = || {
            SqlError::new(
                errcode::INVALID_AUTHORIZATION_SPECIFICATION,
                format!("{user} does not have login privilege"),
            )
        };
        if let Some(cn) = peer_user {
            if cn != user {
                return Ok(Err(SqlError::new(
                    errcode::INVALID_AUTHORIZATION_SPECIFICATION,
                    format!("certificate authentication failed for user \"{user}\""),
                )
                .with_detail(format!(
                    "The client certificate is valid for user \"{cn}\"."
                ))));
            }
            return Ok(match record {
                Some(r) if r.login => Ok(()),
                Some(_) => Err(no_login()),
                None => Err(password_failed(user)),
            });
        }
        // No certificate: the password. An unknown user, or one without a password, goes
        // through the same exchange with a verifier no password matches.
        let verifier = record
            .as_ref()
            .and_then(|r| r.password.as_deref())
            .and_then(security::scram::Verifier::parse);
        let known = verifier.is_some();
        let verifier = verifier.unwrap_or_else(|| sql.mock_verifier(user));
        match self.scram(verifier).await? {
            Err(e) => {
                tracing::debug!("SCRAM login of {user} refused: {e}");
                Ok(Err(password_failed(user)))
            }
            Ok(()) if !known => Ok(Err(password_failed(user))),
            Ok(()) => Ok(match record {
                Some(r) if r.login => Ok(()),
                _ => Err(no_login()),
            }),
        }
    }

    /// Runs a SCRAM-SHA-256 exchange against `verifier`. Its AuthenticationSASLFinal is
    /// queued in `self.out`, sent with the AuthenticationOk that follows.
    async fn scram(
        &mut self,
        verifier: security::scram::Verifier,
    ) -> ConnResult<Result<(), security::scram::ScramError>> {
        use security::scram::{self, ScramError};
        let mechanism = scram::MECHANISM.to_string();
        push(
            &mut self.out,
            B::Authentication(Authentication::SASL(vec![mechanism])),
        );
        self.writer.write_all(&self.out).await?;
        self.writer.flush().await?;
        self.out.clear();
        let body = self.password_message().await?;
        let (chosen, first) = match frontend::decode_sasl_initial(&body) {
            Ok(x) => x,
            Err(_) => return Ok(Err(ScramError::Malformed("bad SASLInitialResponse"))),
        };
        if chosen != scram::MECHANISM {
            return Ok(Err(ScramError::Malformed("unsupported SASL mechanism")));
        }
        let Ok(first) = String::from_utf8(first) else {
            return Ok(Err(ScramError::Malformed(
                "client-first-message is not UTF-8",
            )));
        };
        let (exchange, server_first) =
            match scram::server_first(&first, verifier, &scram::server_nonce()) {
                Ok(x) => x,
                Err(e) => return Ok(Err(e)),
            };
        push(
            &mut self.out,
            B::Authentication(Authentication::SASLContinue(server_first.into())),
        );
        self.writer.write_all(&self.out).await?;
        self.writer.flush().await?;
        self.out.clear();
        let body = self.password_message().await?;
        let Ok(last) = String::from_utf8(body) else {
            return Ok(Err(ScramError::Malformed(
                "client-final-message is not UTF-8",
            )));
        };
        match exchange.finish(&last) {
            Ok(server_final) => {
                push(
                    &mut self.out,
                    B::Authentication(Authentication::SASLFinal(server_final.into())),
                );
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Reads one password message (`p`) during authentication. Anything else, a length out of
    /// bounds or the end of the stream closes the connection.
    async fn password_message(&mut self) -> ConnResult<Vec<u8>> {
        let tag = match self.reader.read_u8().await {
            Ok(tag) => tag,
            Err(_) => return Err(Close::Done),
        };
        let len = self.reader.read_i32().await.map_err(|_| Close::Done)?;
        let len = usize::try_from(len).unwrap_or(0);
        if tag != b'p' || !(4..=frontend::MAX_PASSWORD_MESSAGE).contains(&len) {
            self.fail(
                errcode::PROTOCOL_VIOLATION,
                "expected a password message during authentication",
            )
            .await?;
            return Err(Close::Done);
        }
        let mut body = vec![0; len - 4];
        self.reader
            .read_exact(&mut body)
            .await
            .map_err(|_| Close::Done)?;
        Ok(body)
    }

    /// Reads the startup packets; `None` when the connection should close without a
    /// session (a cancel request, a rejected startup).
    async fn handshake(&mut self, sql: &SqlServer) -> ConnResult<Option<Session>> {
        let (minor, params) = loop {
            let body = match read_startup(&mut self.reader).await {
                Ok(Some(body)) => body,
                Ok(None) => return Ok(None),
                Err(e) => {
                    refuse(&mut self.writer, e).await?;
                    return Ok(None);
                }
            };
            match frontend::decode_startup(&body) {
                Ok(Startup::Ssl | Startup::Gss) => {
                    // An insecure node, or a second request inside TLS: `N` makes clients
                    // (psql with sslmode=prefer) go on as they are.
                    self.writer.write_all(b"N").await?;
                    self.writer.flush().await?;
                }
                // Cancellation is not supported; the request is read and dropped.
                Ok(Startup::Cancel) => return Ok(None),
                Ok(Startup::Start { minor, params, .. }) => break (minor, params),
                Err(e) => {
                    self.fail(errcode::PROTOCOL_VIOLATION, e.0).await?;
                    return Ok(None);
                }
            }
        };
        let Some(user) = params.get("user").filter(|u| !u.is_empty()).cloned() else {
            self.fail(
                errcode::INVALID_AUTHORIZATION_SPECIFICATION,
                "no PostgreSQL user name specified in startup packet",
            )
            .await?;
            return Ok(None);
        };
        let user = user.to_lowercase();
        if let Err(e) = self.authenticate(sql, &user).await? {
            if e.error.code == errcode::INVALID_PASSWORD {
                // Failed logins are answered later and later (`SqlServer::login_failed`).
                tokio::time::sleep(sql.login_failed(&user)).await;
            }
            refuse(&mut self.writer, e).await?;
            return Ok(None);
        }
        sql.login_succeeded(&user);
        let database = params
            .get("database")
            .filter(|d| !d.is_empty())
            .cloned()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let unsupported: Vec<String> = params
            .keys()
            .filter(|k| k.starts_with("_pq_."))
            .cloned()
            .collect();
        if minor > 0 || !unsupported.is_empty() {
            push(
                &mut self.out,
                B::NegotiateProtocolVersion(NegotiateProtocolVersion::new(0, unsupported)),
            );
        }
        let mut session = sql.session(&user, "");
        let setup = async {
            apply_startup_params(&mut session, &params)?;
            session
                .execute(&format!("SET database = {}", quote_ident(&database)))
                .await?;
            Ok::<_, SqlError>(())
        };
        if let Err(e) = setup.await {
            push(&mut self.out, error_message(&e, None));
            self.writer.write_all(&self.out).await?;
            self.writer.flush().await?;
            return Ok(None);
        }
        // Authenticated above (`self.auth`).
        push(&mut self.out, B::Authentication(Authentication::Ok));
        for (name, value) in parameter_statuses(&session) {
            push(
                &mut self.out,
                B::ParameterStatus(ParameterStatus::new(name.to_string(), value)),
            );
        }
        push(
            &mut self.out,
            B::BackendKeyData(BackendKeyData::new(
                rand::random::<i32>() & i32::MAX,
                SecretKey::I32(rand::random()),
            )),
        );
        push(
            &mut self.out,
            B::ReadyForQuery(ReadyForQuery::new(TransactionStatus::Idle)),
        );
        self.writer.write_all(&self.out).await?;
        self.writer.flush().await?;
        self.out.clear();
        Ok(Some(session))
    }
}

/// `"name"` with embedded quotes doubled.
fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Session variables a client may set in its startup packet, by their startup name.
const STARTUP_VARS: &[(&str, &str)] = &[
    ("application_name", "application_name"),
    ("datestyle", "datestyle"),
    ("intervalstyle", "intervalstyle"),
    ("timezone", "timezone"),
    ("search_path", "search_path"),
    ("extra_float_digits", "extra_float_digits"),
    ("statement_timeout", "statement_timeout"),
    (
        "default_transaction_isolation",
        "default_transaction_isolation",
    ),
];

/// Applies startup parameters (and `-c name=value` in `options`) as session variables.
fn apply_startup_params(
    session: &mut Session,
    params: &BTreeMap<String, String>,
) -> Result<(), SqlError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "user" | "database" | "replication" => {}
            "options" => pairs.extend(parse_options(v)?),
            _ if k.starts_with("_pq_.") => {}
            _ => pairs.push((k.clone(), v.clone())),
        }
    }
    for (k, v) in pairs {
        let key = k.to_ascii_lowercase();
        if key == "client_encoding" {
            let enc = v.to_ascii_uppercase().replace(['-', '_'], "");
            if enc != "UTF8" && enc != "UNICODE" {
                return Err(SqlError::unimplemented(format!(
                    "client_encoding {v} (only UTF8 is supported)"
                )));
            }
            continue;
        }
        let Some((_, var)) = STARTUP_VARS.iter().find(|(name, _)| *name == key) else {
            return Err(SqlError::new(
                errcode::UNDEFINED_OBJECT,
                format!("unrecognized configuration parameter \"{k}\""),
            ));
        };
        session.set_var(var, v);
    }
    Ok(())
}

/// `options=-c a=b --c=d`: libpq's way of passing settings.
fn parse_options(options: &str) -> Result<Vec<(String, String)>, SqlError> {
    let mut out = Vec::new();
    let mut words = options.split_whitespace();
    while let Some(w) = words.next() {
        let setting = if w == "-c" {
            words.next().unwrap_or_default()
        } else if let Some(s) = w.strip_prefix("-c").or_else(|| w.strip_prefix("--")) {
            s
        } else {
            return Err(SqlError::unimplemented(format!(
                "startup option {w:?} (only -c name=value is supported)"
            )));
        };
        let Some((k, v)) = setting.split_once('=') else {
            return Err(SqlError::new(
                errcode::PROTOCOL_VIOLATION,
                format!("invalid startup option {setting:?}"),
            ));
        };
        out.push((k.replace('-', "_"), v.to_string()));
    }
    Ok(out)
}

/// The ParameterStatus messages sent after authentication (psql needs `server_version`,
/// `client_encoding`, `DateStyle`, `integer_datetimes`, `standard_conforming_strings`).
fn parameter_statuses(session: &Session) -> Vec<(&'static str, String)> {
    let var = |name: &str, default: &str| session.var(name).unwrap_or(default).to_string();
    vec![
        ("application_name", var("application_name", "")),
        ("client_encoding", "UTF8".to_string()),
        ("DateStyle", var("datestyle", "ISO, MDY")),
        ("default_transaction_read_only", "off".to_string()),
        ("in_hot_standby", "off".to_string()),
        ("integer_datetimes", "on".to_string()),
        ("IntervalStyle", var("intervalstyle", "postgres")),
        (
            "is_superuser",
            if session.user() == "root" {
                "on"
            } else {
                "off"
            }
            .to_string(),
        ),
        ("server_encoding", "UTF8".to_string()),
        ("server_version", var("server_version", "13.0.0")),
        ("session_authorization", session.user().to_string()),
        ("standard_conforming_strings", "on".to_string()),
        ("TimeZone", var("timezone", "UTC")),
        ("crdb_version", var("crdb_version", "")),
    ]
}

fn field(c: &Column, format: i16) -> FieldDescription {
    let ty = value::wire_type(&c.ty);
    let modifier = match &c.ty {
        Type::Varchar(Some(n)) | Type::Char(Some(n)) => i32::try_from(*n)
            .ok()
            .and_then(|n| n.checked_add(4))
            .unwrap_or(-1),
        _ => -1,
    };
    FieldDescription::new(
        c.name.clone(),
        0,
        0,
        ty.oid(),
        value::type_size(&ty),
        modifier,
        format,
    )
}

/// One format per column from a Bind's result format codes.
fn resolve_formats(codes: &[i16], n: usize) -> Result<Vec<i16>, SqlError> {
    let formats = match codes {
        [] => vec![TEXT; n],
        [one] => vec![*one; n],
        many if many.len() == n => many.to_vec(),
        many => {
            return Err(SqlError::new(
                errcode::PROTOCOL_VIOLATION,
                format!(
                    "bind message has {} result formats but query has {n} columns",
                    many.len()
                ),
            ));
        }
    };
    if let Some(bad) = formats.iter().find(|f| **f != TEXT && **f != BINARY) {
        return Err(SqlError::new(
            errcode::PROTOCOL_VIOLATION,
            format!("unsupported format code: {bad}"),
        ));
    }
    Ok(formats)
}

fn returns_rows(r: &StatementResult) -> bool {
    !r.columns.is_empty() || r.tag.starts_with("SELECT")
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send> Conn<R, W> {
    async fn flush(&mut self) -> ConnResult<()> {
        if !self.out.is_empty() {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        self.writer.flush().await?;
        Ok(())
    }

    fn send(&mut self, m: B) {
        push(&mut self.out, m);
    }

    async fn maybe_flush(&mut self) -> ConnResult<()> {
        if self.out.len() >= FLUSH_AT {
            self.writer.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    fn status(&self) -> TransactionStatus {
        if self.session.is_aborted() {
            TransactionStatus::Error
        } else if self.session.in_transaction() {
            TransactionStatus::Transaction
        } else {
            TransactionStatus::Idle
        }
    }

    async fn ready(&mut self) -> ConnResult<()> {
        let status = self.status();
        self.send(B::ReadyForQuery(ReadyForQuery::new(status)));
        self.flush().await
    }

    /// Reads one message; `None` at EOF.
    async fn read(&mut self) -> ConnResult<Option<Result<Message, frontend::ProtocolError>>> {
        let tag = match self.reader.read_u8().await {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let len = self.reader.read_i32().await?;
        let Some(body_len) = usize::try_from(len).ok().and_then(|l| l.checked_sub(4)) else {
            return Ok(Some(Err(frontend::ProtocolError(format!(
                "invalid message length {len}"
            )))));
        };
        if body_len > MAX_MESSAGE {
            return Ok(Some(Err(frontend::ProtocolError(format!(
                "message of {body_len} bytes exceeds the limit of {MAX_MESSAGE}"
            )))));
        }
        // Grows as bytes arrive, so a lying length costs no memory up front.
        let mut body = Vec::new();
        let got = (&mut self.reader)
            .take(body_len as u64)
            .read_to_end(&mut body)
            .await?;
        if got < body_len {
            return Ok(None);
        }
        // The decoder checks every length and should never panic; if it does, the message
        // is treated as malformed, which closes the connection.
        let decoded =
            std::panic::catch_unwind(|| frontend::decode(tag, &body)).unwrap_or_else(|panic| {
                let message = panic_message(&*panic);
                tracing::error!("panic while decoding a pgwire message of type {tag}: {message}");
                Err(frontend::ProtocolError(format!(
                    "internal error: {message}"
                )))
            });
        Ok(Some(decoded))
    }

    async fn serve(&mut self) -> ConnResult<()> {
        loop {
            let mut stop = self.stop.clone();
            // `idle_in_transaction_session_timeout`: a session idle inside a transaction for
            // longer is closed, its transaction rolled back (PostgreSQL's 25P03).
            let idle_limit = if self.session.in_transaction() {
                self.session
                    .var("idle_in_transaction_session_timeout")
                    .and_then(crate::session::parse_timeout)
                    .filter(|d| !d.is_zero())
            } else {
                None
            };
            let idle = async {
                match idle_limit {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let msg = tokio::select! {
                m = self.read() => m?,
                _ = async { let _ = stop.wait_for(|s| *s).await; } => {
                    let e = SqlError::new(
                        errcode::ADMIN_SHUTDOWN,
                        "terminating connection due to administrator command",
                    );
                    self.send(error_message(&e, None));
                    self.flush().await?;
                    return Err(Close::Done);
                }
                _ = idle => {
                    let e = SqlError::new(
                        errcode::IDLE_IN_TRANSACTION_SESSION_TIMEOUT,
                        "terminating connection due to idle-in-transaction timeout",
                    );
                    self.send(error_message(&e, None));
                    self.flush().await?;
                    return Err(Close::Done);
                }
            };
            let msg = match msg {
                None => return Ok(()),
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    // The stream cannot be trusted to be in sync any more.
                    let e = SqlError::new(errcode::PROTOCOL_VIOLATION, e.0);
                    self.send(error_message(&e, None));
                    self.flush().await?;
                    return Ok(());
                }
            };
            if self.skip_to_sync && !matches!(msg, Message::Sync | Message::Terminate) {
                continue;
            }
            if matches!(msg, Message::Terminate) {
                return Ok(());
            }
            let simple = matches!(msg, Message::Query(_));
            let statement = self.statement_text(&msg);
            match AssertUnwindSafe(self.handle(msg)).catch_unwind().await {
                Ok(handled) => handled?,
                Err(panic) => {
                    let message = panic_message(&*panic);
                    self.recover(message, &statement, simple).await?;
                }
            }
            self.maybe_flush().await?;
        }
    }

    /// Serves one message.
    async fn handle(&mut self, msg: Message) -> ConnResult<()> {
        match msg {
            Message::Query(sql) => {
                self.simple_query(&sql).await?;
                self.ready().await?;
            }
            Message::Parse {
                name,
                query,
                param_types,
            } => self.parse(name, query, param_types).await,
            Message::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            } => self.bind(portal, statement, param_formats, params, result_formats),
            Message::Describe { kind, name } => self.describe(kind, &name),
            Message::Execute { portal, max_rows } => self.execute(&portal, max_rows).await?,
            Message::Close { kind, name } => {
                if kind == b'S' {
                    self.statements.remove(&name);
                } else {
                    self.portals.remove(&name);
                }
                self.send(B::CloseComplete(CloseComplete::new()));
            }
            Message::Sync => {
                self.skip_to_sync = false;
                if !self.session.in_transaction() {
                    self.portals.clear();
                }
                self.ready().await?;
            }
            Message::Flush => self.flush().await?,
            Message::Terminate | Message::Copy => {}
            Message::Password => {
                self.fail(SqlError::new(
                    errcode::PROTOCOL_VIOLATION,
                    "unexpected password message",
                ));
            }
        }
        Ok(())
    }

    /// The statement a message runs, for the log line of a panic.
    fn statement_text(&self, msg: &Message) -> String {
        let sql = match msg {
            Message::Query(sql) | Message::Parse { query: sql, .. } => sql.as_str(),
            Message::Bind { statement, .. } => self
                .statements
                .get(statement)
                .map_or("", |p| p.stmt.sql.as_str()),
            Message::Execute { portal, .. } => self
                .portals
                .get(portal)
                .map_or("", |p| p.prepared.stmt.sql.as_str()),
            _ => "",
        };
        truncate(sql, MAX_LOGGED_STATEMENT).to_string()
    }

    /// After a panic while serving a message: the panic is logged with its statement, the
    /// client gets an internal error (XX000), and the connection goes on. A transaction the
    /// statement ran in is rolled back and left aborted, as after an error, because the
    /// panic may have left it half done; other connections never notice.
    async fn recover(&mut self, message: String, statement: &str, simple: bool) -> ConnResult<()> {
        let statement = loggable(statement);
        tracing::error!(
            statement = statement.as_str(),
            "panic while serving a SQL statement: {message}"
        );
        AssertUnwindSafe(self.session.abandon_after_panic())
            .catch_unwind()
            .await
            .ok();
        self.send(error_message(&panic_error(message), None));
        if simple {
            self.ready().await
        } else {
            self.skip_to_sync = true;
            Ok(())
        }
    }

    /// Rolls back an open transaction when the client goes away.
    async fn session_end(&mut self) {
        if self.session.in_transaction() {
            let _ = self.session.execute("ROLLBACK").await;
        }
    }

    /// Sends an error from the extended protocol and skips to the next Sync.
    fn fail(&mut self, e: SqlError) {
        self.send(error_message(&e, None));
        self.skip_to_sync = true;
    }

    async fn simple_query(&mut self, sql: &str) -> ConnResult<()> {
        let stmts = match crate::parser::parse(sql) {
            Ok(s) => s,
            Err(e) => {
                self.send(error_message(&SqlError::from(e), Some(sql)));
                return Ok(());
            }
        };
        if stmts.is_empty() {
            self.send(B::EmptyQueryResponse(EmptyQueryResponse::new()));
            return Ok(());
        }
        for stmt in stmts {
            let prepared = PreparedStatement {
                sql: sql.to_string(),
                statement: Some(stmt),
                param_types: Vec::new(),
                result_columns: Vec::new(),
            };
            match self.session.execute_prepared(&prepared, Vec::new()).await {
                Ok(r) => {
                    if returns_rows(&r) {
                        let fields = r.columns.iter().map(|c| field(c, TEXT)).collect();
                        self.send(B::RowDescription(RowDescription::new(fields)));
                    }
                    let formats = vec![TEXT; r.columns.len()];
                    let StatementResult {
                        columns,
                        rows,
                        mut tag,
                        notices,
                        stream,
                    } = r;
                    let buffered = rows.len();
                    let mut rows = rows.into_iter();
                    if let Err(e) = self.send_rows(&mut rows, &columns, &formats, 0).await? {
                        self.send(error_message(&e, Some(sql)));
                        return Ok(());
                    }
                    self.send_notices(&notices);
                    if let Some(stream) = stream.and_then(|s| s.take()) {
                        match self.send_stream(stream, &columns, &formats).await? {
                            Ok(n) => tag = format!("SELECT {}", buffered + n),
                            Err(e) => {
                                self.send(error_message(&e, Some(sql)));
                                return Ok(());
                            }
                        }
                    }
                    self.send(B::CommandComplete(CommandComplete::new(tag)));
                }
                Err(e) => {
                    self.send(error_message(&e, Some(sql)));
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn send_notices(&mut self, notices: &[String]) {
        for n in notices {
            self.send(B::NoticeResponse(NoticeResponse::new(vec![
                (b'S', "NOTICE".to_string()),
                (b'V', "NOTICE".to_string()),
                (b'C', errcode::SUCCESSFUL_COMPLETION.as_str().to_string()),
                (b'M', n.clone()),
            ])));
        }
    }

    /// Sends the rows of a streaming result as they arrive, each flushed at once, until the
    /// stream ends (the number sent) or fails (the inner error). A client that went away ends
    /// it with a write error, which drops the stream and so stops its producer.
    async fn send_stream(
        &mut self,
        mut stream: crate::RowItems,
        columns: &[Column],
        formats: &[i16],
    ) -> ConnResult<Result<usize, SqlError>> {
        use futures::StreamExt;
        self.flush().await?;
        let mut sent = 0;
        while let Some(item) = stream.next().await {
            let row = match item {
                Ok(row) => row,
                Err(e) => return Ok(Err(e)),
            };
            let mut one = vec![row].into_iter();
            if let Err(e) = self.send_rows(&mut one, columns, formats, 0).await? {
                return Ok(Err(e));
            }
            self.flush().await?;
            sent += 1;
        }
        Ok(Ok(sent))
    }

    /// Sends up to `limit` rows (0: all), flushing as the output grows. The inner error is
    /// a value that could not be encoded.
    async fn send_rows(
        &mut self,
        rows: &mut std::vec::IntoIter<Vec<Datum>>,
        columns: &[Column],
        formats: &[i16],
        limit: usize,
    ) -> ConnResult<Result<(), SqlError>> {
        let mut sent = 0;
        let mut cell = Vec::new();
        while limit == 0 || sent < limit {
            let Some(row) = rows.next() else { break };
            let mut data = BytesMut::new();
            for (i, d) in row.iter().enumerate() {
                if d.is_null() {
                    data.extend_from_slice(&(-1i32).to_be_bytes());
                    continue;
                }
                let ty = columns.get(i).map_or(Type::Unknown, |c| c.ty.clone());
                let format = formats.get(i).copied().unwrap_or(TEXT);
                cell.clear();
                if let Err(e) = value::encode(d, &ty, format, &mut cell) {
                    return Ok(Err(e));
                }
                let Ok(len) = i32::try_from(cell.len()) else {
                    return Ok(Err(SqlError::new(
                        errcode::NUMERIC_VALUE_OUT_OF_RANGE,
                        "value too large for the wire protocol",
                    )));
                };
                data.extend_from_slice(&len.to_be_bytes());
                data.extend_from_slice(&cell);
            }
            let count = i16::try_from(row.len()).unwrap_or(i16::MAX);
            self.send(B::DataRow(DataRow::new(data, count)));
            sent += 1;
            self.maybe_flush().await?;
        }
        Ok(Ok(()))
    }

    async fn parse(&mut self, name: String, query: String, param_oids: Vec<u32>) {
        if !name.is_empty() && self.statements.contains_key(&name) {
            self.fail(SqlError::new(
                errcode::DUPLICATE_PREPARED_STATEMENT,
                format!("prepared statement \"{name}\" already exists"),
            ));
            return;
        }
        let types = param_oids
            .iter()
            .map(|oid| Type::from_oid(*oid).unwrap_or(Type::Unknown))
            .collect();
        match self.session.prepare(&query, types).await {
            Ok(stmt) => {
                self.statements.insert(name, Arc::new(Prepared { stmt }));
                self.send(B::ParseComplete(ParseComplete::new()));
            }
            Err(e) => {
                self.send(error_message(&e, Some(&query)));
                self.skip_to_sync = true;
            }
        }
    }

    fn bind(
        &mut self,
        portal: String,
        statement: String,
        param_formats: Vec<i16>,
        params: Vec<Option<Vec<u8>>>,
        result_formats: Vec<i16>,
    ) {
        let Some(prepared) = self.statements.get(&statement).cloned() else {
            self.fail(SqlError::new(
                errcode::INVALID_SQL_STATEMENT_NAME,
                format!("prepared statement \"{statement}\" does not exist"),
            ));
            return;
        };
        match bind_values(&prepared.stmt, &statement, &param_formats, params) {
            Ok(values) => {
                let formats =
                    match resolve_formats(&result_formats, prepared.stmt.result_columns.len()) {
                        Ok(f) => f,
                        Err(e) => return self.fail(e),
                    };
                self.portals.insert(
                    portal,
                    Portal {
                        prepared,
                        params: values,
                        formats,
                        output: Output::Pending,
                    },
                );
                self.send(B::BindComplete(BindComplete::new()));
            }
            Err(e) => self.fail(e),
        }
    }

    fn describe(&mut self, kind: u8, name: &str) {
        let (columns, formats) = if kind == b'S' {
            let Some(p) = self.statements.get(name) else {
                return self.fail(SqlError::new(
                    errcode::INVALID_SQL_STATEMENT_NAME,
                    format!("prepared statement \"{name}\" does not exist"),
                ));
            };
            let oids = p
                .stmt
                .param_types
                .iter()
                .map(|t| value::wire_type(t).oid())
                .collect();
            let columns = p.stmt.result_columns.clone();
            self.send(B::ParameterDescription(ParameterDescription::new(oids)));
            let formats = vec![TEXT; columns.len()];
            (columns, formats)
        } else {
            let Some(p) = self.portals.get(name) else {
                return self.fail(SqlError::new(
                    errcode::INVALID_CURSOR_NAME,
                    format!("portal \"{name}\" does not exist"),
                ));
            };
            (p.prepared.stmt.result_columns.clone(), p.formats.clone())
        };
        if columns.is_empty() {
            self.send(B::NoData(NoData::new()));
        } else {
            let fields = columns
                .iter()
                .zip(formats)
                .map(|(c, f)| field(c, f))
                .collect();
            self.send(B::RowDescription(RowDescription::new(fields)));
        }
    }

    async fn execute(&mut self, name: &str, max_rows: i32) -> ConnResult<()> {
        let Some(mut portal) = self.portals.remove(name) else {
            self.fail(SqlError::new(
                errcode::INVALID_CURSOR_NAME,
                format!("portal \"{name}\" does not exist"),
            ));
            return Ok(());
        };
        let stmt = &portal.prepared.stmt;
        if stmt.statement.is_none() {
            self.send(B::EmptyQueryResponse(EmptyQueryResponse::new()));
            self.portals.insert(name.to_string(), portal);
            return Ok(());
        }
        if matches!(portal.output, Output::Pending) {
            let params = std::mem::take(&mut portal.params);
            match self.session.execute_prepared(stmt, params).await {
                Ok(r) => {
                    portal.output = Output::Rows {
                        columns: r.columns,
                        rows: r.rows.into_iter(),
                        tag: r.tag,
                        notices: r.notices,
                        stream: r.stream.and_then(|s| s.take()),
                    };
                }
                Err(e) => {
                    self.send(error_message(&e, Some(&stmt.sql)));
                    self.skip_to_sync = true;
                    return Ok(());
                }
            }
        }
        let described = &portal.prepared.stmt.result_columns;
        let formats = portal.formats.clone();
        let limit = usize::try_from(max_rows).unwrap_or(0);
        match &mut portal.output {
            Output::Rows {
                columns,
                rows,
                tag,
                notices,
                stream,
            } => {
                // Values go out as the types Describe announced.
                if described.len() == columns.len() {
                    columns.clone_from(described);
                }
                let buffered = rows.len();
                let encoded = self.send_rows(rows, columns, &formats, limit).await?;
                if let Err(e) = encoded {
                    self.fail(e);
                    return Ok(());
                }
                if rows.len() > 0 {
                    self.send(B::PortalSuspended(PortalSuspended::new()));
                } else {
                    // A streaming result goes out whole, whatever the row limit.
                    if let Some(stream) = stream.take() {
                        let columns = columns.clone();
                        match self.send_stream(stream, &columns, &formats).await? {
                            Ok(n) => *tag = format!("SELECT {}", buffered + n),
                            Err(e) => {
                                self.fail(e);
                                return Ok(());
                            }
                        }
                    }
                    let tag = std::mem::take(tag);
                    let notices = std::mem::take(notices);
                    self.send_notices(&notices);
                    self.send(B::CommandComplete(CommandComplete::new(tag.clone())));
                    portal.output = Output::Done { tag };
                }
            }
            Output::Done { tag } => {
                let tag = tag.clone();
                self.send(B::CommandComplete(CommandComplete::new(tag)));
            }
            Output::Pending => {}
        }
        self.portals.insert(name.to_string(), portal);
        Ok(())
    }
}

/// Decodes a Bind's parameters for a prepared statement.
fn bind_values(
    stmt: &PreparedStatement,
    name: &str,
    formats: &[i16],
    params: Vec<Option<Vec<u8>>>,
) -> Result<Vec<Datum>, SqlError> {
    if params.len() != stmt.param_types.len() {
        return Err(SqlError::new(
            errcode::PROTOCOL_VIOLATION,
            format!(
                "bind message supplies {} parameters, but prepared statement \"{name}\" requires {}",
                params.len(),
                stmt.param_types.len()
            ),
        ));
    }
    let formats = match formats {
        [] => vec![TEXT; params.len()],
        [one] => vec![*one; params.len()],
        many if many.len() == params.len() => many.to_vec(),
        many => {
            return Err(SqlError::new(
                errcode::PROTOCOL_VIOLATION,
                format!(
                    "bind message has {} parameter formats but {} parameters",
                    many.len(),
                    params.len()
                ),
            ));
        }
    };
    params
        .into_iter()
        .zip(formats)
        .zip(&stmt.param_types)
        .map(|((p, format), ty)| match p {
            None => Ok(Datum::Null),
            Some(bytes) => value::decode(&bytes, ty, format),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_statements_are_redacted() {
        let shown = loggable(
            "CREATE CHANGEFEED FOR t INTO 'kafka://h?sasl_password=it''s-s3cr3t' \
             WITH webhook_auth_header = 'Bearer t0ken'",
        );
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0ken"),
            "{shown}"
        );
        // Cut in the middle of a literal (a statement longer than what is logged).
        let cut = truncate("BACKUP INTO 's3://b?AWS_SECRET_ACCESS_KEY=s3cr3t'", 40);
        assert_eq!(loggable(cut), "BACKUP INTO …");
    }

    #[test]
    fn positions_are_one_based_characters() {
        assert_eq!(position(Some(0), Some("SELEC 1")), Some(1));
        assert_eq!(position(Some(12), Some("SELECT 'é' FRM")), Some(12));
        assert_eq!(position(Some(9), Some("SELECT 'é' FRM")), Some(9));
        assert_eq!(position(None, Some("x")), None);
        assert_eq!(position(Some(99), Some("x")), Some(2));
    }

    #[test]
    fn options() {
        assert_eq!(
            parse_options("-c search_path=foo --application-name=x -capplication_name=y")
                .expect("options"),
            vec![
                ("search_path".to_string(), "foo".to_string()),
                ("application_name".to_string(), "x".to_string()),
                ("application_name".to_string(), "y".to_string()),
            ]
        );
        assert!(parse_options("-x").is_err());
        assert!(parse_options("-c novalue").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(resolve_formats(&[], 2).expect("formats"), vec![0, 0]);
        assert_eq!(resolve_formats(&[1], 2).expect("formats"), vec![1, 1]);
        assert_eq!(resolve_formats(&[0, 1], 2).expect("formats"), vec![0, 1]);
        assert!(resolve_formats(&[0, 1, 1], 2).is_err());
        assert!(resolve_formats(&[2], 1).is_err());
    }
}
