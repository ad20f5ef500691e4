//! [`Env`]: what every hook, resumer and processor of this crate shares on one node, and small
//! helpers over statement values and table keys.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base::encoding::{decode_uvarint, encode_uvarint};
use base::errcode;
use base::{Key, Span};
use cloud::{ExternalStorage, InMemoryConnections, StorageContext};
use jobs::JobError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sql::parser::OptionValue;
use sql::{Datum, SqlError, SqlServer};

use crate::error::{BackupError, Result};

/// One node's handles: its SQL server (catalog, KV node), job registry and storage context.
#[derive(Clone)]
pub struct Env {
    /// The node's SQL server.
    pub sql: SqlServer,
    /// The node's job registry.
    pub jobs: jobs::Registry,
    /// How this node opens external storage (node id, external IO directory, peers). Its
    /// connection resolver is replaced by the connections stored in KV at each use.
    pub storage: StorageContext,
    /// Behaviour changes for tests; all off unless a test turns them on.
    pub knobs: Arc<TestingKnobs>,
}

/// Behaviour changes for tests, shared by every node a test registers them on. All are off by
/// default, and off they cost one atomic load.
#[derive(Debug, Default)]
pub struct TestingKnobs {
    export_span_delay_ms: AtomicU64,
    ingest_span_delay_ms: AtomicU64,
}

impl TestingKnobs {
    /// Makes every export processor wait `d` before exporting each of its spans (zero: no
    /// wait), so a test can stop a node while a backup is half done.
    pub fn set_export_span_delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.export_span_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// The wait before each exported span, if any.
    pub fn export_span_delay(&self) -> Option<Duration> {
        match self.export_span_delay_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// Makes every ingest processor wait `d` before ingesting each of its spans (zero: no
    /// wait), so a test can stop a node while a restore is half done.
    pub fn set_ingest_span_delay(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.ingest_span_delay_ms.store(ms, Ordering::Relaxed);
    }

    /// The wait before each ingested span, if any.
    pub fn ingest_span_delay(&self) -> Option<Duration> {
        match self.ingest_span_delay_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }
}

impl Env {
    /// The storage context with every external connection currently stored.
    pub async fn storage_ctx(&self) -> Result<StorageContext> {
        let conns = InMemoryConnections::new();
        for (name, uri) in crate::connection::list(self.sql.node().sender()).await? {
            // A stored URI was validated when created; skip one that no longer parses.
            let _ = conns.insert(&name, &uri);
        }
        Ok(self.storage.clone().with_connections(Arc::new(conns)))
    }

    /// Opens `uri`, resolving `external://` names from KV.
    pub async fn open(&self, uri: &str) -> Result<Arc<dyn ExternalStorage>> {
        let ctx = self.storage_ctx().await?;
        Ok(cloud::open(uri, &ctx)?)
    }
}

/// Plans `spans` and runs a flow of `processor` over them as a task of its own. The flow stops
/// when the job is paused, canceled or loses its claim.
pub fn spawn_flow<F>(
    ctx: jobs::JobContext,
    spans: Vec<Span>,
    processor: &'static str,
    spec: Vec<u8>,
    on_progress: F,
) -> tokio::task::JoinHandle<std::result::Result<(), jobs::JobError>>
where
    F: FnMut(base::NodeId, Vec<u8>) -> Vec<Span> + Send + 'static,
{
    tokio::spawn(async move {
        let plan = ctx.plan_spans(spans).await?;
        ctx.run_flow(plan, processor, spec, on_progress).await
    })
}

/// A job record's details, progress, result or flow message as JSON.
pub(crate) fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A job's `what` (a spec, a flow message) from its JSON.
pub(crate) fn from_json<T: DeserializeOwned>(b: &[u8], what: &str) -> Result<T, JobError> {
    serde_json::from_slice(b).map_err(|e| JobError::failed(format!("bad {what}: {e}")))
}

/// The text of an option value: a string literal, a placeholder bound to a string, a number or
/// a boolean.
pub fn option_text(v: &OptionValue, params: &[Datum]) -> Result<String> {
    Ok(v.text(params)?)
}

/// Refuses the first option of `statement` (BACKUP, RESTORE) that is given but not
/// implemented: `options` pairs whether each is given with its name.
pub fn reject_unimplemented(statement: &str, options: &[(bool, &str)]) -> Result<()> {
    match options.iter().find(|(given, _)| *given) {
        Some((_, name)) => {
            Err(SqlError::unimplemented(format!("{statement} option {name}")).into())
        }
        None => Ok(()),
    }
}

/// A boolean option: absent is false, a bare flag is true.
pub fn option_bool(name: &str, v: Option<&OptionValue>, params: &[Datum]) -> Result<bool> {
    let Some(v) = v else { return Ok(false) };
    let text = option_text(v, params)?;
    match text.to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" | "" => Ok(true),
        "false" | "off" | "no" | "0" => Ok(false),
        _ => Err(BackupError::sql(
            errcode::INVALID_PARAMETER_VALUE,
            format!("{name}: expected a boolean, got {text:?}"),
        )),
    }
}

/// The texts of a URI list.
pub fn uri_texts(list: &[OptionValue], params: &[Datum]) -> Result<Vec<String>> {
    list.iter().map(|v| option_text(v, params)).collect()
}

/// The span of every key of table `id`.
pub fn table_span(id: u64) -> Span {
    Span::prefix(&base::keys::table_prefix(id).0)
}

/// The table and index ids a table key starts with.
pub fn table_and_index(key: &Key) -> Option<(u64, u64)> {
    let table = base::keys::decode_table_id(key)?;
    let (_, rest) = decode_uvarint(&key.0).ok()?;
    let (index, _) = decode_uvarint(rest).ok()?;
    Some((table, index))
}

/// Whether a key is a primary-index entry (a row) rather than a secondary-index entry.
pub fn is_row_key(key: &Key) -> bool {
    matches!(table_and_index(key), Some((_, 1)))
}

/// `key` with its table id replaced through `map` (old id → new id); `None` when the key is
/// not a table key or its table is not in `map`.
pub fn rewrite_key(key: &Key, map: &[(u64, u64)]) -> Option<Key> {
    let (old, rest) = decode_uvarint(&key.0).ok()?;
    base::keys::decode_table_id(key)?;
    let new = map.iter().find(|(o, _)| *o == old)?.1;
    let mut out = Vec::with_capacity(key.0.len() + 2);
    encode_uvarint(&mut out, new);
    out.extend_from_slice(rest);
    Some(Key(out))
}

/// The key of an external connection.
pub fn connection_key(name: &str) -> Key {
    sql::catalog::users::external_connection_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_rewritten_and_classified() {
        let mut k = base::keys::index_prefix(104, 1).0;
        base::encoding::encode_varint(&mut k, 7);
        let k = Key(k);
        assert!(is_row_key(&k));
        let r = rewrite_key(&k, &[(104, 300)]).expect("rewritten");
        assert_eq!(table_and_index(&r), Some((300, 1)));
        assert_eq!(&r.0[r.0.len() - 1..], &k.0[k.0.len() - 1..]);
        assert!(rewrite_key(&k, &[(105, 300)]).is_none());
        let secondary = Key(base::keys::index_prefix(104, 2).0);
        assert!(!is_row_key(&secondary));
        assert!(table_span(104).contains_key(&k));
        assert!(!table_span(105).contains_key(&k));
    }

    #[test]
    fn option_values() {
        let params = vec![Datum::String("s3://b".into())];
        assert_eq!(
            option_text(&OptionValue::Placeholder(1), &params).expect("bound"),
            "s3://b"
        );
        assert!(option_text(&OptionValue::Placeholder(2), &params).is_err());
        assert!(!option_bool("x", None, &[]).expect("absent"));
        assert!(option_bool("x", Some(&OptionValue::Bool(true)), &[]).expect("flag"));
        assert!(option_bool("x", Some(&OptionValue::String("maybe".into())), &[]).is_err());
    }
}
