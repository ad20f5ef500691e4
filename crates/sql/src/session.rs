//! The API the PostgreSQL wire server calls: [`SqlServer`] (one per node, shared) and
//! [`Session`] (one per connection).
//!
//! # Transactions
//!
//! Outside `BEGIN`, each statement runs in its own implicit KV transaction, retried
//! automatically when KV asks for a restart (like `kv::run_txn`). After `BEGIN`, statements
//! share the session's transaction until `COMMIT` or `ROLLBACK`; an error inside it moves the
//! session to the aborted state, where everything but `COMMIT`/`ROLLBACK` fails with
//! `current transaction is aborted, commands ignored until end of transaction block` (25P02),
//! and a retryable error reaches the client as SQLSTATE 40001 `restart transaction: ...` for
//! it to retry.
//!
//! # Statement hooks
//!
//! BACKUP, RESTORE, SHOW BACKUP, CHANGEFEED and job statements are parsed here but executed by
//! higher crates, which register a [`StatementHook`] per [`HookKind`] with
//! [`SqlServer::register_hook`]. Until then such statements fail with
//! `unimplemented: <statement> is not available yet` (0A000).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use base::errcode;
use futures::future::BoxFuture;
use kv::{KvNode, Txn};
use parking_lot::RwLock;

use crate::catalog::{Catalog, GENERATION_POLL, users};
use crate::error::{Result, SqlError};
use crate::exec::expr::EvalEnv;
use crate::exec::{PostCommit, StmtCtx};
use crate::kvio::Reader;
use crate::parser::{self, Statement};
use crate::types::{Datum, Type};

/// How many times an implicit transaction is retried.
pub const MAX_IMPLICIT_RETRIES: usize = 16;

/// A result column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Type.
    pub ty: Type,
}

impl Column {
    /// A column.
    pub fn new(name: impl Into<String>, ty: Type) -> Column {
        Column {
            name: name.into(),
            ty,
        }
    }
}

/// What one statement returned.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementResult {
    /// Columns (empty for statements without rows).
    pub columns: Vec<Column>,
    /// Rows.
    pub rows: Vec<Vec<Datum>>,
    /// The command tag: `SELECT 3`, `INSERT 0 2`, `CREATE TABLE`.
    pub tag: String,
    /// NOTICE messages.
    pub notices: Vec<String>,
    /// Rows that keep arriving after the statement returned (a sinkless changefeed): the
    /// wire sends them after `rows`, as they come, until the stream ends or fails.
    pub stream: Option<RowStream>,
}

/// The rows of a [`StatementResult`] that arrive over time.
pub type RowItems = futures::stream::BoxStream<'static, Result<Vec<Datum>, SqlError>>;

/// A stream of rows handed from the statement to the connection that sends them (taken
/// once; clones share it).
#[derive(Clone)]
pub struct RowStream(Arc<parking_lot::Mutex<Option<RowItems>>>);

impl RowStream {
    /// Wraps a stream of rows.
    pub fn new(items: RowItems) -> RowStream {
        RowStream(Arc::new(parking_lot::Mutex::new(Some(items))))
    }

    /// The stream, the first time it is asked for.
    pub fn take(&self) -> Option<RowItems> {
        self.0.lock().take()
    }
}

impl std::fmt::Debug for RowStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RowStream")
    }
}

impl PartialEq for RowStream {
    fn eq(&self, other: &RowStream) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl StatementResult {
    /// A result with only a tag.
    pub fn tag(tag: impl Into<String>) -> StatementResult {
        StatementResult {
            columns: Vec::new(),
            rows: Vec::new(),
            tag: tag.into(),
            notices: Vec::new(),
            stream: None,
        }
    }

    /// A row-returning result tagged `SELECT n`.
    pub fn rows(columns: Vec<Column>, rows: Vec<Vec<Datum>>) -> StatementResult {
        let tag = format!("SELECT {}", rows.len());
        StatementResult {
            columns,
            rows,
            tag,
            notices: Vec::new(),
            stream: None,
        }
    }
}

/// A statement parsed for the extended protocol.
#[derive(Clone, Debug)]
pub struct PreparedStatement {
    /// The text.
    pub sql: String,
    /// The parsed statement (`None` for an empty query).
    pub statement: Option<Statement>,
    /// Placeholder types, inferred or declared.
    pub param_types: Vec<Type>,
    /// Result columns (empty when the statement returns none).
    pub result_columns: Vec<Column>,
}

/// Which statements a hook executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HookKind {
    /// BACKUP.
    Backup,
    /// RESTORE.
    Restore,
    /// SHOW BACKUP / SHOW BACKUPS.
    ShowBackup,
    /// CREATE/ALTER CHANGEFEED, EXPERIMENTAL CHANGEFEED.
    Changefeed,
    /// CREATE/DROP/SHOW EXTERNAL CONNECTION.
    ExternalConnection,
}

impl HookKind {
    /// The hook kind that executes a statement, if any.
    pub fn of(s: &Statement) -> Option<HookKind> {
        use crate::parser::Show;
        Some(match s {
            Statement::Backup(_) => HookKind::Backup,
            Statement::Restore(_) => HookKind::Restore,
            Statement::CreateChangefeed(_) | Statement::AlterChangefeed(_) => HookKind::Changefeed,
            Statement::CreateExternalConnection(_) | Statement::DropExternalConnection(_) => {
                HookKind::ExternalConnection
            }
            Statement::Show(show) => match show.as_ref() {
                Show::Backup(_) | Show::Backups { .. } => HookKind::ShowBackup,
                Show::ExternalConnections { .. } => HookKind::ExternalConnection,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn statement_name(s: &Statement) -> String {
        let text = s.to_string();
        let words: Vec<&str> = text.split_whitespace().take(3).collect();
        match s {
            Statement::Show(_) => words.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            Statement::Backup(_) => "BACKUP".into(),
            Statement::Restore(_) => "RESTORE".into(),
            Statement::CreateChangefeed(_) => "CREATE CHANGEFEED".into(),
            Statement::AlterChangefeed(_) => "ALTER CHANGEFEED".into(),
            Statement::ControlJobs(_) => {
                words.iter().take(2).copied().collect::<Vec<_>>().join(" ")
            }
            Statement::CreateExternalConnection(_) => "CREATE EXTERNAL CONNECTION".into(),
            Statement::DropExternalConnection(_) => "DROP EXTERNAL CONNECTION".into(),
            _ => words.join(" "),
        }
    }
}

/// What a hook gets besides the statement.
#[derive(Clone)]
pub struct HookContext {
    /// The server (catalog access, the KV node).
    pub server: SqlServer,
    /// The session user.
    pub user: String,
    /// The session database.
    pub database: String,
    /// Placeholder values (extended protocol).
    pub params: Vec<Datum>,
}

/// Executes statements the `sql` crate parses but does not own.
pub trait StatementHook: Send + Sync {
    /// Runs the statement.
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, Result<StatementResult>>;
}

/// Formats changefeed job records as SHOW CHANGEFEED JOBS rows.
pub type ChangefeedJobsFormatter = Arc<dyn Fn(&[jobs::JobRecord]) -> StatementResult + Send + Sync>;

/// `READ ONLY` (true) or `READ WRITE` (false) among a transaction's modes, if named.
pub fn access_mode(modes: &[sqlparser::ast::TransactionMode]) -> Option<bool> {
    use sqlparser::ast::{TransactionAccessMode, TransactionMode};
    modes.iter().rev().find_map(|m| match m {
        TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => Some(true),
        TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => Some(false),
        _ => None,
    })
}

/// What a statement writes, named as the read-only refusal names it (`INSERT`, `CREATE
/// TABLE`); `None` for statements that only read or set session state.
fn writes(stmt: &Statement) -> Option<String> {
    use sqlparser::ast::Statement as S;
    let first_words = |n: usize| {
        stmt.to_string()
            .split_whitespace()
            .take(n)
            .collect::<Vec<_>>()
            .join(" ")
            .to_uppercase()
    };
    match stmt {
        Statement::Query(_) | Statement::Show(_) | Statement::Explain(_) => None,
        Statement::Backup(_) => None,
        Statement::Insert(i) => Some(if i.upsert { "UPSERT" } else { "INSERT" }.into()),
        Statement::Standard(s) => match s.as_ref() {
            S::Update(_) => Some("UPDATE".into()),
            S::Delete(_) => Some("DELETE".into()),
            S::Truncate { .. } => Some("TRUNCATE".into()),
            S::CreateIndex(_)
            | S::CreateSchema { .. }
            | S::CreateView { .. }
            | S::CreateType { .. }
            | S::CreateSequence { .. }
            | S::Drop { .. }
            | S::AlterTable { .. }
            | S::AlterIndex { .. } => Some(first_words(2)),
            _ => None,
        },
        _ => Some(first_words(2)),
    }
}

/// Reads a timeout setting as PostgreSQL does: a bare number is milliseconds, or a number
/// with a unit (`us`, `ms`, `s`, `min`, `h`, `d`); `0` (or empty) is no timeout. `None` for
/// anything else.
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let v = value.trim().trim_matches('\'').trim();
    if v.is_empty() {
        return Some(Duration::ZERO);
    }
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let millis = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" | "sec" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(number * millis / 1_000.0).ok()
}

/// Failed logins in a row a user may have before each further failure is answered late.
pub const FREE_LOGIN_FAILURES: u32 = 3;

/// State shared by every session of a node.
pub struct ServerInner {
    /// The KV node.
    pub node: KvNode,
    /// The descriptor cache.
    pub catalog: Catalog,
    hooks: RwLock<HashMap<HookKind, Arc<dyn StatementHook>>>,
    bootstrapped: tokio::sync::OnceCell<()>,
    /// KV reads (gets and scans) issued by statements of this node.
    pub reads: Arc<std::sync::atomic::AtomicU64>,
    jobs: RwLock<Option<jobs::Registry>>,
    changefeed_jobs: RwLock<Option<ChangefeedJobsFormatter>>,
    this: std::sync::OnceLock<std::sync::Weak<ServerInner>>,
    /// A secure node (`--certs-dir`): passwords can be set and are checked at login.
    secure: std::sync::atomic::AtomicBool,
    /// Recent failed logins by user name: the count and when the last one happened.
    failed_logins: parking_lot::Mutex<HashMap<String, (u32, std::time::Instant)>>,
    /// The secret behind the fake SCRAM salts of unknown users.
    mock_secret: [u8; 16],
}

impl ServerInner {
    /// Whether this is a secure node.
    pub fn is_secure(&self) -> bool {
        self.secure.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How SHOW CHANGEFEED JOBS prints changefeed jobs (registered by the changefeed layer).
    pub fn changefeed_jobs_formatter(&self) -> Option<ChangefeedJobsFormatter> {
        self.changefeed_jobs.read().clone()
    }

    /// The node's job registry, once the node has started it.
    pub fn jobs(&self) -> Option<jobs::Registry> {
        self.jobs.read().clone()
    }

    /// The [`SqlServer`] this state belongs to.
    pub fn handle(&self) -> Result<SqlServer> {
        self.this
            .get()
            .and_then(std::sync::Weak::upgrade)
            .map(|inner| SqlServer { inner })
            .ok_or_else(|| SqlError::internal("the SQL server is shutting down"))
    }
}

/// The SQL layer of one node.
#[derive(Clone)]
pub struct SqlServer {
    inner: Arc<ServerInner>,
}

impl SqlServer {
    /// The SQL layer over a KV node. Must be called inside a tokio runtime (it starts the
    /// catalog generation poll).
    pub fn new(node: KvNode) -> SqlServer {
        let inner = Arc::new(ServerInner {
            node,
            catalog: Catalog::default(),
            hooks: RwLock::new(HashMap::new()),
            bootstrapped: tokio::sync::OnceCell::new(),
            reads: Arc::default(),
            jobs: RwLock::new(None),
            changefeed_jobs: RwLock::new(None),
            this: std::sync::OnceLock::new(),
            secure: std::sync::atomic::AtomicBool::new(false),
            failed_logins: parking_lot::Mutex::new(HashMap::new()),
            mock_secret: rand::random(),
        });
        let _ = inner.this.set(Arc::downgrade(&inner));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(&inner);
            rt.spawn(async move {
                loop {
                    tokio::time::sleep(GENERATION_POLL).await;
                    let Some(inner) = weak.upgrade() else { return };
                    inner.catalog.poll_generation(inner.node.sender()).await;
                }
            });
        }
        SqlServer { inner }
    }

    /// A new session.
    pub fn session(&self, user: &str, database: &str) -> Session {
        let mut vars = default_vars();
        vars.insert("database".into(), database.to_string());
        vars.insert("user".into(), user.to_string());
        vars.insert("node_id".into(), self.inner.node.node_id().0.to_string());
        Session {
            server: self.clone(),
            user: user.to_string(),
            vars,
            txn: TxnState::Idle,
        }
    }

    /// The hook registered for a kind of statement.
    pub fn hook(&self, kind: HookKind) -> Option<Arc<dyn StatementHook>> {
        self.inner.hooks.read().get(&kind).cloned()
    }

    /// Registers the hook for a kind of statement (replacing any earlier one).
    pub fn register_hook(&self, kind: HookKind, hook: Arc<dyn StatementHook>) {
        self.inner.hooks.write().insert(kind, hook);
    }

    /// Gives the SQL layer the node's job registry (SHOW JOBS, PAUSE/RESUME/CANCEL, and the
    /// hooks that create jobs).
    pub fn set_jobs(&self, registry: jobs::Registry) {
        *self.inner.jobs.write() = Some(registry);
    }

    /// The node's job registry, once set.
    pub fn jobs(&self) -> Option<jobs::Registry> {
        self.inner.jobs()
    }

    /// Registers how SHOW CHANGEFEED JOB(S) prints the selected changefeed jobs (their sink,
    /// tables, topics and format live in the changefeed layer's job details).
    pub fn set_changefeed_jobs_formatter(&self, f: ChangefeedJobsFormatter) {
        *self.inner.changefeed_jobs.write() = Some(f);
    }

    /// Drops every hook and the job registry: the hooks and the registry's resumers hold this
    /// server, so a stopping node breaks those cycles to release its KV node and store.
    pub fn detach_layers(&self) {
        self.inner.hooks.write().clear();
        self.inner.changefeed_jobs.write().take();
        if let Some(jobs) = self.inner.jobs.write().take() {
            jobs.stop();
        }
    }

    /// KV reads (gets and scans) statements of this node have issued so far.
    pub fn kv_reads(&self) -> u64 {
        self.inner.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The KV node.
    pub fn node(&self) -> &KvNode {
        &self.inner.node
    }

    /// The shared state.
    pub fn inner(&self) -> &ServerInner {
        &self.inner
    }

    /// Marks this node secure (certificates loaded): passwords may be set and are checked.
    pub fn set_secure(&self, secure: bool) {
        self.inner
            .secure
            .store(secure, std::sync::atomic::Ordering::Relaxed);
    }

    /// The record `user` logs in with (built-ins included), read in a transaction of its own.
    pub async fn login_record(&self, user: &str) -> Result<Option<users::UserRecord>> {
        let txn = Arc::new(Txn::begin(self.node().sender()));
        let reader = Reader::Txn(txn.clone(), self.inner.reads.clone());
        let record = users::get_user(&reader, user).await;
        txn.rollback().await;
        record
    }

    /// Whether `user` holds the system privilege `privilege` (an admin holds every one), read
    /// in a transaction of its own.
    pub async fn has_system_privilege(&self, user: &str, privilege: &str) -> Result<bool> {
        self.holds(user, privilege, None).await
    }

    /// Whether `user` holds `privilege` on external connection `connection` (admins do).
    pub async fn has_connection_privilege(
        &self,
        user: &str,
        connection: &str,
        privilege: &str,
    ) -> Result<bool> {
        self.holds(user, privilege, Some(connection)).await
    }

    /// Whether `user` holds `privilege` on the system (`None`) or on an external connection,
    /// reading memberships and grants in a transaction of its own.
    async fn holds(&self, user: &str, privilege: &str, connection: Option<&str>) -> Result<bool> {
        if user == users::ROOT {
            return Ok(true);
        }
        let txn = Arc::new(Txn::begin(self.node().sender()));
        let reader = Reader::Txn(txn.clone(), self.inner.reads.clone());
        let held = async {
            let memberships = users::Memberships::read(&reader).await?;
            let grants = match connection {
                None => users::Grants::system(&reader).await?,
                Some(c) => users::Grants::connection(&reader, c).await?,
            };
            Ok::<_, SqlError>(grants.holds(&memberships, user, privilege))
        }
        .await;
        txn.rollback().await;
        held
    }

    /// Records that `owner` created external connection `name`: it holds ALL, with the
    /// grant option.
    pub async fn connection_created(&self, name: &str, owner: &str) -> Result<()> {
        let value = serde_json::to_vec(&users::SystemGrant { grant_option: true })
            .map_err(|e| SqlError::internal(format!("encoding a grant: {e}")))?;
        let key = users::connection_grant_key(name, owner, "ALL");
        self.run_system_txn(|txn| {
            let (key, value) = (key.clone(), value.clone());
            async move { txn.put(&key, value).await }
        })
        .await
    }

    /// Forgets the grants on a dropped external connection.
    pub async fn connection_dropped(&self, name: &str) -> Result<()> {
        let span = users::connection_grants_span(name);
        self.run_system_txn(|txn| {
            let span = span.clone();
            async move { txn.delete_range(&span).await }
        })
        .await
    }

    /// Runs `f` in a transaction of its own, retried on conflicts, and commits.
    async fn run_system_txn<F, Fut>(&self, f: F) -> Result<()>
    where
        F: Fn(Arc<Txn>) -> Fut,
        Fut: std::future::Future<Output = std::result::Result<(), kv::KvError>>,
    {
        let mut attempt = 0;
        loop {
            let txn = Arc::new(Txn::begin(self.node().sender()));
            let result = match f(txn.clone()).await {
                Ok(()) => txn.commit().await.map(|_| ()),
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            match result {
                Err(kv::KvError::TxnRetry { .. } | kv::KvError::TxnAborted { .. })
                    if attempt < 10 =>
                {
                    attempt += 1;
                }
                other => return other.map_err(SqlError::from),
            }
        }
    }

    /// A verifier no password matches, the same for every attempt on one `user` of this node.
    pub fn mock_verifier(&self, user: &str) -> security::scram::Verifier {
        security::scram::Verifier::mock(user, &self.inner.mock_secret)
    }

    /// How long a login as `user` waits before its failure is answered: nothing for the first
    /// [`FREE_LOGIN_FAILURES`] failures in a row, then doubling from 250 ms up to 5 s. The
    /// count is forgotten a minute after the last failure, or at a successful login.
    pub fn login_failed(&self, user: &str) -> Duration {
        let now = std::time::Instant::now();
        let mut failed = self.inner.failed_logins.lock();
        failed.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        let entry = failed.entry(user.to_string()).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let over = entry.0.saturating_sub(FREE_LOGIN_FAILURES);
        if over == 0 {
            Duration::ZERO
        } else {
            (Duration::from_millis(250) * 2u32.saturating_pow(over - 1)).min(Duration::from_secs(5))
        }
    }

    /// Forgets `user`'s failed logins.
    pub fn login_succeeded(&self, user: &str) {
        self.inner.failed_logins.lock().remove(user);
    }

    /// Creates the bootstrap descriptors if this cluster has none yet.
    pub async fn bootstrap(&self) -> Result<()> {
        self.inner
            .bootstrapped
            .get_or_try_init(|| async {
                self.inner.catalog.bootstrap(self.inner.node.sender()).await
            })
            .await?;
        Ok(())
    }
}

enum TxnState {
    Idle,
    Open {
        txn: Arc<Txn>,
        ddl: bool,
        post_commit: Vec<PostCommit>,
        /// The savepoint set at the start of the transaction (`cockroach_restart`).
        savepoint: Option<String>,
        /// Statements run so far.
        statements: usize,
    },
    /// Failed; `ROLLBACK TO SAVEPOINT` may restart it when it had a savepoint.
    Aborted {
        savepoint: Option<String>,
    },
}

fn default_vars() -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    for (k, val) in [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("default_transaction_isolation", "serializable"),
        ("extra_float_digits", "1"),
        ("intervalstyle", "postgres"),
        ("search_path", "\"$user\", public"),
        ("server_version", "13.0.0"),
        ("server_version_num", "130000"),
        ("standard_conforming_strings", "on"),
        ("timezone", "UTC"),
        ("transaction_isolation", "serializable"),
        ("transaction_read_only", "off"),
        ("integer_datetimes", "on"),
        ("default_int_size", "8"),
        ("distsql", "auto"),
        ("vectorize", "on"),
        ("statement_timeout", "0"),
        ("idle_in_transaction_session_timeout", "0"),
        ("node_id", "1"),
        ("crdb_version", "CockroachDB CCL v23.1.0 (Sextant)"),
    ] {
        v.insert(k.to_string(), val.to_string());
    }
    v
}

/// One client connection's state.
pub struct Session {
    server: SqlServer,
    user: String,
    vars: BTreeMap<String, String>,
    txn: TxnState,
}

fn aborted_error() -> SqlError {
    SqlError::new(
        errcode::IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
}

impl Session {
    /// The current database.
    pub fn database(&self) -> &str {
        self.vars.get("database").map_or("", |s| s.as_str())
    }

    /// The user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// A session variable.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|s| s.as_str())
    }

    /// True inside `BEGIN ... COMMIT` (also when aborted).
    pub fn in_transaction(&self) -> bool {
        !matches!(self.txn, TxnState::Idle)
    }

    /// True in a failed transaction, where only `COMMIT`/`ROLLBACK` (or `ROLLBACK TO SAVEPOINT`)
    /// are accepted; the wire protocol reports it as transaction status `E`.
    pub fn is_aborted(&self) -> bool {
        matches!(self.txn, TxnState::Aborted { .. })
    }

    /// Runs one or more `;`-separated statements (the simple query protocol); stops at the
    /// first error.
    pub async fn execute(&mut self, sql: &str) -> Result<Vec<StatementResult>> {
        let stmts = parser::parse(sql)?;
        let mut out = Vec::new();
        for s in &stmts {
            let mut r = Box::pin(self.execute_timed(s, Vec::new(), Vec::new())).await?;
            if let Some(n) = s.deprecation_notice() {
                r.notices.insert(0, n.to_string());
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Parses one statement and describes it (the extended protocol's Parse/Describe).
    /// `param_types` are the types the client declared (`Type::Unknown` for unspecified).
    pub async fn prepare(
        &mut self,
        sql: &str,
        param_types: Vec<Type>,
    ) -> Result<PreparedStatement> {
        let statement = if parser::split(sql)?.is_empty() {
            None
        } else {
            Some(parser::parse_one(sql)?)
        };
        let mut prepared = PreparedStatement {
            sql: sql.to_string(),
            statement: statement.clone(),
            param_types: param_types.clone(),
            result_columns: Vec::new(),
        };
        let Some(stmt) = statement else {
            return Ok(prepared);
        };
        self.server.bootstrap().await?;
        let (types, cols) = self.describe(&stmt, param_types).await?;
        prepared.param_types = types
            .into_iter()
            .map(|t| if t == Type::Unknown { Type::String } else { t })
            .collect();
        prepared.result_columns = cols;
        Ok(prepared)
    }

    async fn describe(
        &mut self,
        stmt: &Statement,
        params: Vec<Type>,
    ) -> Result<(Vec<Type>, Vec<crate::session::Column>)> {
        let txn = Arc::new(Txn::begin(self.server.node().sender()));
        let vars = self.vars.clone();
        let mut ctx = self.stmt_ctx(
            Reader::Txn(txn.clone(), self.server.inner().reads.clone()),
            &vars,
            Vec::new(),
            params,
        );
        let result = crate::exec::show::describe(&mut ctx, stmt).await;
        let types = ctx.param_types.clone();
        txn.rollback().await;
        let cols = result?;
        Ok((types, cols))
    }

    /// Executes a prepared statement with bound parameters.
    pub async fn execute_prepared(
        &mut self,
        stmt: &PreparedStatement,
        params: Vec<Datum>,
    ) -> Result<StatementResult> {
        let Some(s) = &stmt.statement else {
            return Ok(StatementResult::tag("EMPTY"));
        };
        let mut bound = Vec::with_capacity(params.len());
        for (i, p) in params.into_iter().enumerate() {
            let ty = stmt.param_types.get(i).cloned().unwrap_or(Type::Unknown);
            bound.push(match (&p, &ty) {
                (Datum::String(_), t) if *t != Type::Unknown => crate::types::cast(p, t)?,
                _ => p,
            });
        }
        Box::pin(self.execute_timed(s, bound, stmt.param_types.clone())).await
    }

    /// Runs one statement under `statement_timeout`. A statement that outlives it is
    /// abandoned as a panicking one is (an explicit transaction is left aborted, an implicit
    /// one rolled back) and fails with 57014, as PostgreSQL and CockroachDB answer.
    async fn execute_timed(
        &mut self,
        stmt: &Statement,
        params: Vec<Datum>,
        param_types: Vec<Type>,
    ) -> Result<StatementResult> {
        let limit = self
            .vars
            .get("statement_timeout")
            .and_then(|v| parse_timeout(v))
            .filter(|d| !d.is_zero());
        let Some(limit) = limit else {
            return Box::pin(self.execute_statement(stmt, params, param_types)).await;
        };
        let run = Box::pin(self.execute_statement(stmt, params, param_types));
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result,
            Err(_) => {
                self.abandon_after_panic().await;
                Err(SqlError::new(
                    errcode::QUERY_CANCELED,
                    "query execution canceled due to statement timeout",
                ))
            }
        }
    }

    fn stmt_ctx<'a>(
        &'a self,
        reader: Reader,
        vars: &'a BTreeMap<String, String>,
        params: Vec<Datum>,
        param_types: Vec<Type>,
    ) -> StmtCtx<'a> {
        let node = self.server.node();
        let locality: Vec<(String, String)> = node
            .locality()
            .tiers()
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        let gateway_region = locality
            .iter()
            .find(|(k, _)| k == "region")
            .map(|(_, v)| v.clone());
        let ts = reader.read_ts();
        let now = chrono::DateTime::from_timestamp_nanos(node.clock().now().wall);
        let env = EvalEnv {
            now,
            user: self.user.clone(),
            database: self.database().to_string(),
            gateway_region,
            locality,
            db_primary_region: None,
            db_regions: Vec::new(),
            node_id: node.node_id().0,
            logical_ts: format!("{}.{:010}", ts.wall, ts.logical),
            defs: Default::default(),
        };
        StmtCtx {
            server: self.server.inner(),
            reader,
            database: self.database().to_string(),
            user: self.user.clone(),
            uncached: false,
            ddl: false,
            post_commit: Vec::new(),
            env,
            params,
            param_types,
            notices: Vec::new(),
            vars,
        }
    }

    async fn execute_statement(
        &mut self,
        stmt: &Statement,
        params: Vec<Datum>,
        param_types: Vec<Type>,
    ) -> Result<StatementResult> {
        self.server.bootstrap().await?;
        if let Some(r) = self.transaction_control(stmt).await? {
            return Ok(r);
        }
        if matches!(self.txn, TxnState::Aborted { .. }) {
            return Err(aborted_error());
        }
        let read_only = match self.txn {
            TxnState::Open { .. } => self.var("transaction_read_only") == Some("on"),
            _ => self.default_read_only(),
        };
        if read_only && let Some(what) = writes(stmt) {
            return Err(SqlError::new(
                errcode::READ_ONLY_SQL_TRANSACTION,
                format!("cannot execute {what} in a read-only transaction"),
            ));
        }
        let previous_db = self.database().to_string();
        if let Some(r) = crate::exec::show::session_statement(self, stmt)? {
            if self.database() != previous_db && !self.database().is_empty() {
                self.check_database(previous_db).await?;
            }
            return Ok(r);
        }
        if let Some(kind) = HookKind::of(stmt) {
            return self.run_hook(kind, stmt, params).await;
        }
        if let Statement::Query(q) = stmt
            && let Some(as_of) = &q.as_of
        {
            if matches!(self.txn, TxnState::Open { .. }) {
                return Err(SqlError::new(
                    errcode::FEATURE_NOT_SUPPORTED,
                    "unimplemented: AS OF SYSTEM TIME inside an explicit transaction",
                ));
            }
            let ts = crate::exec::show::as_of_timestamp(self, &as_of.0, &params).await?;
            let reader = Reader::Snapshot {
                sender: self.server.node().sender().clone(),
                ts,
                gateway: self.server.node().node_id(),
                reads: self.server.inner().reads.clone(),
            };
            let vars = self.vars.clone();
            let mut ctx = self.stmt_ctx(reader, &vars, params, param_types);
            crate::multiregion::fill_env(&mut ctx).await?;
            let r = Box::pin(ctx.run(stmt)).await;
            return r;
        }
        match &self.txn {
            TxnState::Open { txn, ddl, .. } => {
                let (txn, ddl) = (txn.clone(), *ddl);
                let vars = self.vars.clone();
                let mut ctx = self.stmt_ctx(
                    Reader::Txn(txn.clone(), self.server.inner().reads.clone()),
                    &vars,
                    params,
                    param_types,
                );
                ctx.uncached = ddl;
                let _ = crate::multiregion::fill_env(&mut ctx).await;
                let result = Box::pin(ctx.run(stmt)).await;
                let (did_ddl, post, notices) = (
                    ctx.ddl,
                    std::mem::take(&mut ctx.post_commit),
                    std::mem::take(&mut ctx.notices),
                );
                drop(ctx);
                match result {
                    Ok(mut r) => {
                        if let TxnState::Open {
                            ddl,
                            post_commit,
                            statements,
                            ..
                        } = &mut self.txn
                        {
                            *ddl |= did_ddl;
                            *statements += 1;
                            post_commit.extend(post);
                        }
                        r.notices.extend(notices);
                        Ok(r)
                    }
                    Err(e) => {
                        txn.rollback().await;
                        let savepoint = match &self.txn {
                            TxnState::Open { savepoint, .. } => savepoint.clone(),
                            _ => None,
                        };
                        self.txn = TxnState::Aborted { savepoint };
                        Err(e)
                    }
                }
            }
            _ => self.implicit(stmt, params, param_types).await,
        }
    }

    async fn implicit(
        &mut self,
        stmt: &Statement,
        params: Vec<Datum>,
        param_types: Vec<Type>,
    ) -> Result<StatementResult> {
        let mut backoff = Duration::from_millis(2);
        let vars = self.vars.clone();
        let mut attempt = 0;
        // A data-changing statement holds its writes back until the commit, so that one whose
        // writes fall in one range commits in one Raft command with no intents (a one-phase
        // commit: a single-row INSERT is one Raft write). A conditional write refused when the
        // held-back writes go out (a duplicate key, met at the commit or at a later read of
        // the same statement) wrote nothing of its batch and surfaces far from its cause: the
        // statement runs again writing as it goes, which reports the refusal as its own error.
        let mut defer = defers_writes(stmt);
        let started = std::time::Instant::now();
        let mut timing = StatementTiming::default();
        loop {
            attempt += 1;
            let txn = Arc::new(Txn::begin(self.server.node().sender()));
            if defer {
                txn.defer_writes();
            }
            let mut ctx = self.stmt_ctx(
                Reader::Txn(txn.clone(), self.server.inner().reads.clone()),
                &vars,
                params.clone(),
                param_types.clone(),
            );
            let _ = crate::multiregion::fill_env(&mut ctx).await;
            let run_started = std::time::Instant::now();
            let result = Box::pin(ctx.run(stmt)).await;
            timing.run += run_started.elapsed();
            let (ddl, post, notices) = (
                ctx.ddl,
                std::mem::take(&mut ctx.post_commit),
                std::mem::take(&mut ctx.notices),
            );
            drop(ctx);
            let commit_started = std::time::Instant::now();
            let outcome = match result {
                Ok(r) => match txn.commit().await {
                    Ok(_) => Ok(r),
                    Err(e) => Err(SqlError::from(e)),
                },
                Err(e) => {
                    txn.rollback().await;
                    Err(e)
                }
            };
            timing.commit += commit_started.elapsed();
            match outcome {
                Ok(mut r) => {
                    if ddl {
                        self.server.inner().catalog.invalidate();
                    }
                    let post_started = std::time::Instant::now();
                    self.after_commit(post).await;
                    timing.post_commit = post_started.elapsed();
                    timing.log(&r.tag, attempt, started.elapsed());
                    r.notices.extend(notices);
                    return Ok(r);
                }
                Err(_) if defer && txn.deferred_write_refused() => {
                    defer = false;
                    attempt -= 1;
                }
                Err(e) if e.is_retryable() && attempt < MAX_IMPLICIT_RETRIES => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn after_commit(&self, mut post: Vec<PostCommit>) {
        // Splits from the highest key down: each then splits the range the first split
        // started from, whose leader is settled, rather than the right-hand range the previous
        // split just created (whose descriptor the range cache does not know yet, and whose
        // group may still be electing).
        post.sort_by(|a, b| match (a, b) {
            (PostCommit::Split(a), PostCommit::Split(b)) => b.cmp(a),
        });
        post.dedup_by(|a, b| match (a, b) {
            (PostCommit::Split(a), PostCommit::Split(b)) => a == b,
        });
        for p in post {
            match p {
                PostCommit::Split(key) => {
                    if let Err(e) = self.server.node().admin_split(&key).await {
                        tracing::warn!("split at {key} after CREATE TABLE failed: {e}");
                    }
                }
            }
        }
    }

    async fn run_hook(
        &mut self,
        kind: HookKind,
        stmt: &Statement,
        params: Vec<Datum>,
    ) -> Result<StatementResult> {
        let _ = kind;
        let ctx = HookContext {
            server: self.server.clone(),
            user: self.user.clone(),
            database: self.database().to_string(),
            params,
        };
        run_hook(ctx, stmt).await
    }

    /// BEGIN / COMMIT / ROLLBACK; `None` for other statements.
    async fn transaction_control(&mut self, stmt: &Statement) -> Result<Option<StatementResult>> {
        use sqlparser::ast::Statement as S;
        let Statement::Standard(s) = stmt else {
            return Ok(None);
        };
        match s.as_ref() {
            S::StartTransaction { modes, .. } => match self.txn {
                TxnState::Idle => {
                    let read_only = access_mode(modes).unwrap_or_else(|| self.default_read_only());
                    let value = if read_only { "on" } else { "off" };
                    self.set_var("transaction_read_only", value.into());
                    let txn = Arc::new(Txn::begin(self.server.node().sender()));
                    self.txn = TxnState::Open {
                        txn,
                        ddl: false,
                        post_commit: Vec::new(),
                        savepoint: None,
                        statements: 0,
                    };
                    Ok(Some(StatementResult::tag("BEGIN")))
                }
                TxnState::Aborted { .. } => Err(aborted_error()),
                TxnState::Open { .. } => Err(SqlError::new(
                    errcode::ACTIVE_SQL_TRANSACTION,
                    "there is already a transaction in progress",
                )),
            },
            S::Commit { .. } => {
                let state = std::mem::replace(&mut self.txn, TxnState::Idle);
                match state {
                    TxnState::Idle => {
                        let mut r = StatementResult::tag("COMMIT");
                        r.notices.push("there is no transaction in progress".into());
                        Ok(Some(r))
                    }
                    TxnState::Aborted { .. } => Ok(Some(StatementResult::tag("ROLLBACK"))),
                    TxnState::Open {
                        txn,
                        ddl,
                        post_commit,
                        ..
                    } => {
                        txn.commit().await?;
                        if ddl {
                            self.server.inner().catalog.invalidate();
                        }
                        self.after_commit(post_commit).await;
                        Ok(Some(StatementResult::tag("COMMIT")))
                    }
                }
            }
            S::Rollback {
                savepoint: Some(name),
                ..
            } => self
                .rollback_to_savepoint(&crate::exec::compile::ident(name))
                .await
                .map(Some),
            S::Rollback { .. } => {
                let state = std::mem::replace(&mut self.txn, TxnState::Idle);
                match state {
                    TxnState::Idle => {
                        let mut r = StatementResult::tag("ROLLBACK");
                        r.notices.push("there is no transaction in progress".into());
                        Ok(Some(r))
                    }
                    TxnState::Aborted { .. } => Ok(Some(StatementResult::tag("ROLLBACK"))),
                    TxnState::Open { txn, .. } => {
                        txn.rollback().await;
                        Ok(Some(StatementResult::tag("ROLLBACK")))
                    }
                }
            }
            S::Savepoint { name } => {
                let name = crate::exec::compile::ident(name);
                match &mut self.txn {
                    TxnState::Open {
                        savepoint,
                        statements,
                        ..
                    } => {
                        if *statements > 0 && savepoint.as_deref() != Some(name.as_str()) {
                            return Err(SqlError::unimplemented(
                                "SAVEPOINT after statements in a transaction (only a savepoint \
                                 at the start, such as cockroach_restart, is supported)",
                            ));
                        }
                        *savepoint = Some(name);
                        Ok(Some(StatementResult::tag("SAVEPOINT")))
                    }
                    TxnState::Aborted { .. } => Err(aborted_error()),
                    TxnState::Idle => Err(SqlError::new(
                        errcode::NO_ACTIVE_SQL_TRANSACTION,
                        "there is no transaction in progress",
                    )),
                }
            }
            S::ReleaseSavepoint { name } => {
                let name = crate::exec::compile::ident(name);
                match &self.txn {
                    TxnState::Open { savepoint, .. }
                        if savepoint.as_deref() == Some(name.as_str()) =>
                    {
                        Ok(Some(StatementResult::tag("RELEASE")))
                    }
                    TxnState::Aborted { .. } => Err(aborted_error()),
                    _ => Err(SqlError::new(
                        errcode::INVALID_SAVEPOINT_SPECIFICATION,
                        format!("savepoint \"{name}\" does not exist"),
                    )),
                }
            }
            _ => Ok(None),
        }
    }

    /// `ROLLBACK TO SAVEPOINT`: restarts the transaction from its start-of-transaction
    /// savepoint (CockroachDB's client-side retry protocol).
    async fn rollback_to_savepoint(&mut self, name: &str) -> Result<StatementResult> {
        let current = match &self.txn {
            TxnState::Open { savepoint, .. } | TxnState::Aborted { savepoint } => savepoint.clone(),
            TxnState::Idle => None,
        };
        if current.as_deref() != Some(name) {
            return Err(SqlError::new(
                errcode::INVALID_SAVEPOINT_SPECIFICATION,
                format!("savepoint \"{name}\" does not exist"),
            ));
        }
        if let TxnState::Open { txn, .. } = &self.txn {
            txn.rollback().await;
        }
        self.txn = TxnState::Open {
            txn: Arc::new(Txn::begin(self.server.node().sender())),
            ddl: false,
            post_commit: Vec::new(),
            savepoint: current,
            statements: 0,
        };
        Ok(StatementResult::tag("ROLLBACK"))
    }

    /// After a statement panicked: its transaction may be half done, so an explicit one is
    /// rolled back and left aborted without its savepoint (the client must `ROLLBACK`), and
    /// an implicit one was dropped unfinished (its intents are cleaned up like those of any
    /// abandoned transaction).
    pub async fn abandon_after_panic(&mut self) {
        let state = std::mem::replace(&mut self.txn, TxnState::Idle);
        match state {
            TxnState::Open { txn, .. } => {
                txn.rollback().await;
                self.txn = TxnState::Aborted { savepoint: None };
            }
            TxnState::Aborted { .. } => self.txn = TxnState::Aborted { savepoint: None },
            TxnState::Idle => {}
        }
    }

    /// Fails (restoring `previous`) when the session database just set does not exist.
    async fn check_database(&mut self, previous: String) -> Result<()> {
        let txn = Arc::new(Txn::begin(self.server.node().sender()));
        let reader = Reader::Txn(txn.clone(), self.server.inner().reads.clone());
        let name = self.database().to_string();
        let found = self
            .server
            .inner()
            .catalog
            .lookup(&reader, 0, 0, &name, false)
            .await;
        txn.rollback().await;
        match found {
            Ok(Some(_)) => Ok(()),
            Ok(None) => {
                self.set_var("database", previous);
                Err(SqlError::undefined_database(&name))
            }
            Err(e) => {
                self.set_var("database", previous);
                Err(e)
            }
        }
    }

    /// `default_transaction_read_only`: transactions (implicit ones too) refuse writes.
    fn default_read_only(&self) -> bool {
        self.var("default_transaction_read_only")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "1"))
    }

    /// Sets a session variable (SET).
    pub fn set_var(&mut self, name: &str, value: String) {
        self.vars.insert(name.to_string(), value);
    }

    /// Every session variable.
    pub fn vars(&self) -> &BTreeMap<String, String> {
        &self.vars
    }

    /// The server.
    pub fn server(&self) -> &SqlServer {
        &self.server
    }
}

/// Runs a statement that belongs to a hook (BACKUP, CHANGEFEED, ...), or says that no hook is
/// registered for it.
pub async fn run_hook(ctx: HookContext, stmt: &Statement) -> Result<StatementResult> {
    let hook =
        HookKind::of(stmt).and_then(|kind| ctx.server.inner().hooks.read().get(&kind).cloned());
    let Some(hook) = hook else {
        return Err(SqlError::unimplemented(format!(
            "{} is not available yet",
            HookKind::statement_name(stmt)
        )));
    };
    check_hook_privileges(&ctx, stmt).await?;
    let server = ctx.server.clone();
    let user = ctx.user.clone();
    let params = ctx.params.clone();
    let result = hook.execute(ctx, stmt).await?;
    // An external connection's creator holds ALL on it; its grants go with it.
    match stmt {
        Statement::CreateExternalConnection(c) => {
            let name = c.name.text(&params)?;
            server.connection_created(&name, &user).await?;
        }
        Statement::DropExternalConnection(d) => {
            let name = d.name.text(&params)?;
            server.connection_dropped(&name).await?;
        }
        _ => {}
    }
    Ok(result)
}

/// The system privileges BACKUP, RESTORE and CREATE EXTERNAL CONNECTION need of a user who
/// is not an admin, with CockroachDB's messages. Privileges on databases and tables are not
/// kept yet, so a non-admin backs up or restores anything only with the system privilege.
/// Then the URIs these statements and CREATE CHANGEFEED reach: one that acts with the node's
/// own reach (`base::outbound::implicit_access`) needs EXTERNALIOIMPLICITACCESS.
async fn check_hook_privileges(ctx: &HookContext, stmt: &Statement) -> Result<()> {
    use crate::parser::BackupTargets;
    let refused = |message: String| Err(SqlError::new(errcode::INSUFFICIENT_PRIVILEGE, message));
    let user = ctx.user.as_str();
    let statement_check = match stmt {
        Statement::Backup(b) => {
            if ctx.server.has_system_privilege(user, "BACKUP").await? {
                Ok(())
            } else {
                match &b.targets {
                    None => refused(
                        "only users with the admin role or the BACKUP system privilege are \
                     allowed to perform full cluster backups"
                            .into(),
                    ),
                    Some(BackupTargets::Databases(dbs)) => refused(format!(
                        "user {user} does not have BACKUP privilege on database {}",
                        dbs.first().map(|d| d.0.as_str()).unwrap_or_default()
                    )),
                    Some(BackupTargets::Tables(tables)) => refused(format!(
                        "user {user} does not have BACKUP privilege on relation {}",
                        tables.first().map(ToString::to_string).unwrap_or_default()
                    )),
                }
            }
        }
        Statement::Restore(r) => {
            if ctx.server.has_system_privilege(user, "RESTORE").await? {
                Ok(())
            } else {
                match &r.targets {
                    None => refused(
                        "only users with the admin role or the RESTORE system privilege are \
                     allowed to perform a cluster restore"
                            .into(),
                    ),
                    Some(BackupTargets::Databases(_)) => refused(
                        "only users with the CREATEDB privilege can restore databases".into(),
                    ),
                    Some(BackupTargets::Tables(_)) => refused(format!(
                        "user {user} does not have RESTORE system privilege"
                    )),
                }
            }
        }
        Statement::CreateExternalConnection(_) => {
            if ctx
                .server
                .has_system_privilege(user, "EXTERNALCONNECTION")
                .await?
            {
                Ok(())
            } else {
                refused(format!(
                    "user {user} does not have EXTERNALCONNECTION system privilege"
                ))
            }
        }
        // Privileges on tables are not kept yet: a feed into a sink needs the CHANGEFEED
        // system privilege, which stands for it on every table; a sinkless feed reads no
        // more than SELECT does, which every user may.
        Statement::CreateChangefeed(c) if c.sink.is_some() => {
            if ctx.server.has_system_privilege(user, "CHANGEFEED").await? {
                Ok(())
            } else {
                refused(format!(
                    "user {user} requires the CHANGEFEED privilege on all target tables to be \
                     able to run an enterprise changefeed"
                ))
            }
        }
        _ => Ok(()),
    };
    statement_check?;
    if let Statement::DropExternalConnection(d) = stmt {
        let name = d.name.text(&ctx.params)?;
        if !ctx
            .server
            .has_connection_privilege(user, &name, "DROP")
            .await?
        {
            return Err(users::missing_connection_privilege(user, "DROP", &name));
        }
    }
    for uri in external_uris(stmt) {
        let uri = uri.text(&ctx.params)?;
        if let Some(name) = users::external_connection_name(&uri)
            && !ctx
                .server
                .has_connection_privilege(user, name, "USAGE")
                .await?
        {
            return Err(users::missing_connection_privilege(user, "USAGE", name));
        }
        let Some(provider) = base::outbound::implicit_access(&uri) else {
            continue;
        };
        if !ctx
            .server
            .has_system_privilege(user, "EXTERNALIOIMPLICITACCESS")
            .await?
        {
            return refused(format!(
                "only users with the admin role or the EXTERNALIOIMPLICITACCESS system \
                 privilege are allowed to access the specified {provider} URI"
            ));
        }
    }
    Ok(())
}

/// The storage and sink URIs a statement reaches out to.
fn external_uris(stmt: &Statement) -> Vec<&crate::parser::OptionValue> {
    use crate::parser::{BackupDestination, RestoreSource};
    match stmt {
        Statement::Backup(b) => match &b.destination {
            BackupDestination::Collection(c) => c.0.iter().collect(),
            BackupDestination::Incremental { collection, .. } => collection.0.iter().collect(),
            BackupDestination::Deprecated {
                to,
                incremental_from,
            } => to.0.iter().chain(incremental_from).collect(),
        },
        Statement::Restore(r) => match &r.source {
            RestoreSource::InCollection { collection, .. } => collection.0.iter().collect(),
            RestoreSource::Deprecated(lists) => lists.iter().flat_map(|l| l.0.iter()).collect(),
        },
        Statement::CreateExternalConnection(c) => vec![&c.uri],
        Statement::CreateChangefeed(c) => c.sink.iter().collect(),
        _ => Vec::new(),
    }
}

/// Whether an implicit statement defers its writes to the commit (see `Session::implicit`):
/// INSERT, UPSERT, UPDATE and DELETE. Other statements write as they go.
fn defers_writes(stmt: &Statement) -> bool {
    use sqlparser::ast::Statement as S;
    match stmt {
        Statement::Insert(_) => true,
        Statement::Standard(s) => matches!(s.as_ref(), S::Update(_) | S::Delete(_)),
        _ => false,
    }
}

/// Statements slower than this are logged with where their time went.
const SLOW_STATEMENT: Duration = Duration::from_secs(1);

/// Where an implicit statement's time went, over all its attempts.
#[derive(Default)]
struct StatementTiming {
    run: Duration,
    commit: Duration,
    post_commit: Duration,
}

impl StatementTiming {
    /// Logs a slow statement by its command tag (never its text: statements may carry
    /// secrets).
    fn log(&self, tag: &str, attempts: usize, total: Duration) {
        if total < SLOW_STATEMENT {
            return;
        }
        tracing::info!(
            statement = tag,
            attempts,
            total_ms = total.as_millis() as u64,
            run_ms = self.run.as_millis() as u64,
            commit_ms = self.commit.as_millis() as u64,
            post_commit_ms = self.post_commit.as_millis() as u64,
            "slow statement"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_as_postgresql_reads_them() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("0", Some(Duration::ZERO)),
            ("", Some(Duration::ZERO)),
            ("250", Some(ms(250))),
            ("'1.5s'", Some(ms(1500))),
            ("100ms", Some(ms(100))),
            ("2min", Some(ms(120_000))),
            ("1h", Some(ms(3_600_000))),
            ("soon", None),
            ("5 parsecs", None),
            ("-1", None),
        ] {
            assert_eq!(parse_timeout(text), want, "{text:?}");
        }
    }
}
