//! Running a statement on another node: RESTORE (and SHOW BACKUP) read the backup's manifest
//! while planning, before any job exists, so with `EXECUTION LOCALITY` a gateway outside the
//! locality — which may not reach the storage at all — hands the whole statement to a matching
//! node (`sql.forward`) and relays its result. The client sees the normal result rows.

use std::sync::Arc;
use std::time::Duration;

use base::errcode::{self, CodedError};
use futures::future::BoxFuture;
use locality::LocalityFilter;
use rpc::{Registry, RpcError};
use serde::{Deserialize, Serialize};
use sql::error::SqlError;
use sql::parser::Statement;
use sql::{Column, Datum, HookContext, SqlServer, StatementHook, StatementResult, Type};

/// The method that runs a forwarded statement.
pub const FORWARD_METHOD: &str = "sql.forward";

/// How long a forwarded statement may run (a RESTORE waits for its job).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

#[derive(Serialize, Deserialize)]
struct Forward {
    user: String,
    database: String,
    sql: String,
}

#[derive(Serialize, Deserialize)]
struct Forwarded {
    columns: Vec<(String, Type)>,
    rows: Vec<Vec<Option<String>>>,
    tag: String,
    notices: Vec<String>,
}

/// Serves forwarded statements on this node.
pub fn serve(registry: &Registry, sql: &SqlServer) {
    let sql = sql.clone();
    registry.unary(FORWARD_METHOD, move |_caller, req: Forward| {
        let sql = sql.clone();
        async move {
            let mut session = sql.session(&req.user, &req.database);
            let out: Result<Forwarded, CodedError> = match session.execute(&req.sql).await {
                Ok(mut results) => match results.pop() {
                    Some(r) => Ok(Forwarded {
                        columns: r
                            .columns
                            .iter()
                            .map(|c| (c.name.clone(), c.ty.clone()))
                            .collect(),
                        rows: r
                            .rows
                            .iter()
                            .map(|row| {
                                row.iter()
                                    .map(|d| (!d.is_null()).then(|| d.to_string()))
                                    .collect()
                            })
                            .collect(),
                        tag: r.tag,
                        notices: r.notices,
                    }),
                    None => Err(CodedError {
                        code: errcode::INTERNAL_ERROR,
                        message: "forwarded statement returned nothing".into(),
                        hint: None,
                        detail: None,
                    }),
                },
                Err(e) => Err(e.error),
            };
            Ok::<_, RpcError>(out)
        }
    });
}

/// Wraps a hook: a statement with an execution-locality filter this node does not match runs
/// on a live matching node instead.
pub struct Forwarding {
    /// The hook that runs the statement where it matches.
    pub inner: Arc<dyn StatementHook>,
}

fn filter_of(stmt: &Statement, params: &[Datum]) -> Option<String> {
    match stmt {
        Statement::Restore(r) => r.options.execution_locality.as_ref()?.text(params).ok(),
        _ => None,
    }
}

impl StatementHook for Forwarding {
    fn execute<'a>(
        &'a self,
        ctx: HookContext,
        stmt: &'a Statement,
    ) -> BoxFuture<'a, sql::error::Result<StatementResult>> {
        Box::pin(async move {
            let Some(text) = filter_of(stmt, &ctx.params) else {
                return self.inner.execute(ctx, stmt).await;
            };
            // A malformed filter or one nothing matches: the hook gives CockroachDB's errors.
            let Ok(filter) = LocalityFilter::parse(&text) else {
                return self.inner.execute(ctx, stmt).await;
            };
            let node = ctx.server.node().clone();
            if filter.is_empty() || node.locality().matches(&filter).is_match() {
                return self.inner.execute(ctx, stmt).await;
            }
            let mut targets: Vec<_> = node
                .sender()
                .nodes()
                .all()
                .into_iter()
                .filter(|(d, live)| *live && d.locality.matches(&filter).is_match())
                .map(|(d, _)| d.node_id)
                .collect();
            targets.sort();
            let Some(target) = targets.first().copied() else {
                return self.inner.execute(ctx, stmt).await;
            };
            let req = Forward {
                user: ctx.user.clone(),
                database: ctx.database.clone(),
                sql: stmt.to_string(),
            };
            let answer = node
                .store()
                .rpc_client()
                .call_timeout::<Forward, Result<Forwarded, CodedError>>(
                    target,
                    FORWARD_METHOD,
                    &req,
                    FORWARD_TIMEOUT,
                )
                .await
                .map_err(|e| {
                    SqlError::new(
                        errcode::CONNECTION_FAILURE,
                        format!("running the statement on n{target}: {e}"),
                    )
                })?;
            let f = answer.map_err(|error| SqlError {
                error,
                position: None,
            })?;
            let columns: Vec<Column> = f
                .columns
                .iter()
                .map(|(n, t)| Column::new(n.clone(), t.clone()))
                .collect();
            let mut rows = Vec::with_capacity(f.rows.len());
            for row in &f.rows {
                let mut out = Vec::with_capacity(row.len());
                for (v, (_, ty)) in row.iter().zip(&f.columns) {
                    out.push(match v {
                        None => Datum::Null,
                        Some(text) => sql::types::parse_datum(text, ty)
                            .unwrap_or_else(|_| Datum::String(text.clone())),
                    });
                }
                rows.push(out);
            }
            let mut r = StatementResult::rows(columns, rows);
            r.tag = f.tag;
            r.notices = f.notices;
            Ok(r)
        })
    }
}
