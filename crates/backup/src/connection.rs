//! External connections: `CREATE EXTERNAL CONNECTION name AS 'uri'`, `DROP EXTERNAL
//! CONNECTION name`, `SHOW EXTERNAL CONNECTION[S]`, stored in the system key space at
//! `/System/extconn/<name>` (value: the URI with its secrets).
//!
//! `external://name/sub/path` is resolved by the cloud crate through a
//! [`cloud::ConnectionResolver`]; [`crate::Env::storage_ctx`] fills one from KV before each
//! use, so a connection created on any node is seen at once everywhere. Other crates (the
//! changefeed sinks) call [`resolve_external`].

use base::Span;
use base::errcode;
use base::keys::system_key;
use futures::future::BoxFuture;
use kv::{DistSender, KvNode};
use sql::parser::Show;
use sql::session::{Column, HookContext, StatementHook, StatementResult};
use sql::{Datum, SqlError, Statement, Type};

use crate::env::{connection_key, option_text};
use crate::error::{BackupError, Result, run_txn};

/// Every stored connection, `(name, uri)`, sorted by name.
pub async fn list(sender: &DistSender) -> Result<Vec<(String, String)>> {
    let span = Span::prefix(&system_key("extconn/").0);
    let prefix_len = span.start.0.len();
    let rows = kv::run_txn(sender, |txn| {
        let span = span.clone();
        async move { txn.scan(&span, 0).await }
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(&kv.key.0[prefix_len..]).to_string(),
                String::from_utf8_lossy(&kv.value).to_string(),
            )
        })
        .collect())
}

/// The URI `external://name[/sub/path]` stands for on `node` (with secrets), resolved from the
/// connections stored in KV.
pub async fn resolve_external(node: &KvNode, uri_or_name: &str) -> Result<String> {
    let ctx = cloud::StorageContext::new(node.node_id(), std::env::temp_dir());
    let conns = cloud::InMemoryConnections::new();
    for (name, uri) in list(node.sender()).await? {
        let _ = conns.insert(&name, &uri);
    }
    let ctx = ctx.with_connections(std::sync::Arc::new(conns));
    let text = if uri_or_name.contains("://") {
        uri_or_name.to_string()
    } else {
        format!("external://{uri_or_name}")
    };
    let parsed = cloud::ExternalStorageUri::parse(&text)?;
    Ok(cloud::resolve_external(&parsed, &ctx)?.unredacted())
}

/// A row of SHOW EXTERNAL CONNECTION(S): the name, the URI redacted
/// ([`base::redact::redact_uri`]) and the type.
pub fn connection_row(name: String, uri: &str) -> Vec<Datum> {
    vec![
        Datum::String(name),
        Datum::String(base::redact::redact_uri(uri)),
        Datum::String("STORAGE".into()),
    ]
}

/// Executes CREATE/DROP/SHOW EXTERNAL CONNECTION.
pub struct ConnectionHook;

impl StatementHook for ConnectionHook {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move { execute(ctx, stmt).await.map_err(SqlError::from) })
    }
}

async fn execute(ctx: HookContext, stmt: &Statement) -> Result<StatementResult> {
    let sender = ctx.server.node().sender().clone();
    match stmt {
        Statement::CreateExternalConnection(c) => {
            let name = option_text(&c.name, &ctx.params)?;
            let uri = option_text(&c.uri, &ctx.params)?;
            cloud::validate_connection_uri(&uri)?;
            let key = connection_key(&name);
            let created = run_txn(&sender, |txn| {
                let (key, uri) = (key.clone(), uri.clone());
                async move {
                    if txn.get(&key).await?.is_some() {
                        return Ok(false);
                    }
                    txn.put(&key, uri.into_bytes()).await?;
                    Ok(true)
                }
            })
            .await?;
            if !created && !c.if_not_exists {
                return Err(BackupError::sql(
                    errcode::DUPLICATE_OBJECT,
                    format!(
                        "failed to create external connection: external connection with \
                         connection name {name} already exists"
                    ),
                ));
            }
            Ok(StatementResult::tag("CREATE EXTERNAL CONNECTION"))
        }
        Statement::DropExternalConnection(d) => {
            let name = option_text(&d.name, &ctx.params)?;
            let key = connection_key(&name);
            let existed = run_txn(&sender, |txn| {
                let key = key.clone();
                async move {
                    let existed = txn.get(&key).await?.is_some();
                    txn.delete(&key).await?;
                    Ok(existed)
                }
            })
            .await?;
            if !existed {
                return Err(BackupError::sql(
                    errcode::UNDEFINED_OBJECT,
                    format!("external connection with name {name} does not exist"),
                ));
            }
            Ok(StatementResult::tag("DROP EXTERNAL CONNECTION"))
        }
        Statement::Show(show) => {
            let Show::ExternalConnections { name } = show.as_ref() else {
                return Err(BackupError::Internal(
                    "not an external connection statement".into(),
                ));
            };
            let want = name
                .as_ref()
                .map(|n| option_text(n, &ctx.params))
                .transpose()?;
            let mut rows = Vec::new();
            for (n, uri) in list(&sender).await? {
                if want.as_ref().is_some_and(|w| *w != n) {
                    continue;
                }
                rows.push(connection_row(n, &uri));
            }
            if let Some(w) = want
                && rows.is_empty()
            {
                return Err(BackupError::sql(
                    errcode::UNDEFINED_OBJECT,
                    format!("external connection with name {w} does not exist"),
                ));
            }
            Ok(StatementResult::rows(
                vec![
                    Column::new("connection_name", Type::String),
                    Column::new("connection_uri", Type::String),
                    Column::new("connection_type", Type::String),
                ],
                rows,
            ))
        }
        _ => Err(BackupError::Internal(
            "not an external connection statement".into(),
        )),
    }
}
