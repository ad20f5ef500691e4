//! Versions in a time window: [`mvcc_export`] for BACKUP, [`mvcc_ingest`] for RESTORE, and
//! [`mvcc_changes`] for rangefeed catch-up scans.

use base::{Key, Span, Timestamp};
use serde::{Deserialize, Serialize};

use super::history::{Histories, KeyHistory};
use super::key;
use super::{Intent, MvccError};
use crate::engine::{Cf, Reader, WriteBatch};

/// One committed version, as exported and ingested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportEntry {
    /// The user key.
    pub key: Key,
    /// The version's timestamp.
    pub ts: Timestamp,
    /// The value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
}

impl ExportEntry {
    /// Approximate size in bytes: key, timestamp and value.
    pub fn size_bytes(&self) -> usize {
        self.key.0.len() + key::TS_SUFFIX_LEN + self.value.as_ref().map_or(0, Vec::len)
    }
}

/// The result of [`mvcc_export`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Export {
    /// The versions, in key order and, for one key, newest first.
    pub entries: Vec<ExportEntry>,
    /// The first key not exported when the export stopped at its byte target; continue with
    /// `[resume, span.end)`. `None` when the span is done.
    pub resume: Option<Key>,
}

/// The committed versions of `span` in the window `(start_exclusive, end_inclusive]`.
///
/// With `all_revisions`, every version in the window, tombstones included. Otherwise the
/// version visible at `end_inclusive` of each key that changed in the window: a tombstone is
/// included when `start_exclusive` is above zero (so an incremental backup carries deletes) and
/// skipped for a full export from zero.
///
/// Stops after the first key that brings the entries to `target_bytes` (0: no limit), never
/// inside a key, and returns where to resume. An intent at or below `end_inclusive` fails with
/// [`MvccError::WriteIntent`] naming every such intent met.
pub fn mvcc_export(
    r: &dyn Reader,
    span: &Span,
    start_exclusive: Timestamp,
    end_inclusive: Timestamp,
    all_revisions: bool,
    target_bytes: u64,
) -> Result<Export, MvccError> {
    let (start, end) = super::raw_span_bounds(span);
    let mut histories = Histories::new(r.scan(Cf::Data, &start, &end, false), false).peekable();
    let mut export = Export::default();
    let mut intents = Vec::new();
    let mut bytes = 0u64;
    while let Some(history) = histories.next() {
        let history = history?;
        if let Some(meta) = history
            .meta
            .as_ref()
            .filter(|m| m.write_ts <= end_inclusive)
        {
            intents.push(Intent {
                key: history.key.clone(),
                txn: meta.clone(),
            });
            continue;
        }
        let window = in_window(&history, start_exclusive, end_inclusive);
        let entries: Vec<ExportEntry> = if all_revisions {
            window.collect::<Result<_, _>>()?
        } else {
            latest_in_window(&history, start_exclusive, end_inclusive)?
                .into_iter()
                .collect()
        };
        bytes += entries.iter().map(|e| e.size_bytes() as u64).sum::<u64>();
        export.entries.extend(entries);
        if target_bytes > 0 && bytes >= target_bytes {
            export.resume = match histories.peek() {
                Some(Ok(next)) => Some(next.key.clone()),
                Some(Err(_)) => histories.next().transpose()?.map(|h| h.key),
                None => None,
            };
            break;
        }
    }
    if !intents.is_empty() {
        return Err(MvccError::WriteIntent { intents });
    }
    Ok(export)
}

/// The committed versions of a key in `(start, end]`, newest first.
fn in_window(
    history: &KeyHistory,
    start: Timestamp,
    end: Timestamp,
) -> impl Iterator<Item = Result<ExportEntry, MvccError>> + '_ {
    history
        .committed()
        .filter(move |(ts, _)| *ts > start && *ts <= end)
        .map(|(ts, raw)| {
            Ok(ExportEntry {
                key: history.key.clone(),
                ts: *ts,
                value: key::decode_value(&history.key, raw)?,
            })
        })
}

/// The version of a key visible at `end`, if it was written after `start`; a tombstone only
/// when `start` is above zero.
fn latest_in_window(
    history: &KeyHistory,
    start: Timestamp,
    end: Timestamp,
) -> Result<Option<ExportEntry>, MvccError> {
    let Some((ts, raw)) = history.committed().find(|(ts, _)| *ts <= end) else {
        return Ok(None);
    };
    if *ts <= start {
        return Ok(None);
    }
    let value = key::decode_value(&history.key, raw)?;
    if value.is_none() && start.is_zero() {
        return Ok(None);
    }
    Ok(Some(ExportEntry {
        key: history.key.clone(),
        ts: *ts,
        value,
    }))
}

/// Appends the versions verbatim as committed versions, returning how many. The input should
/// be sorted as [`mvcc_export`] returns it (key order, newest first), which is the order of
/// the records on disk; a version already present at the same key and timestamp is replaced.
pub fn mvcc_ingest(
    batch: &mut WriteBatch,
    entries: impl IntoIterator<Item = ExportEntry>,
) -> usize {
    let mut count = 0;
    for entry in entries {
        let raw_key = key::version_key(&entry.key.0, entry.ts);
        batch.put(Cf::Data, raw_key, key::encode_value(entry.value.as_deref()));
        count += 1;
    }
    count
}

/// The committed versions of `span` in `(start_exclusive, end_inclusive]`, tombstones included,
/// ordered by key and then by timestamp ascending: the events a rangefeed catch-up scan emits.
/// Intents are skipped; they appear once resolved.
pub fn mvcc_changes(
    r: &dyn Reader,
    span: &Span,
    start_exclusive: Timestamp,
    end_inclusive: Timestamp,
) -> Result<Vec<ExportEntry>, MvccError> {
    let (start, end) = super::raw_span_bounds(span);
    let mut changes = Vec::new();
    for history in Histories::new(r.scan(Cf::Data, &start, &end, false), false) {
        let history = history?;
        let first = changes.len();
        for entry in in_window(&history, start_exclusive, end_inclusive) {
            changes.push(entry?);
        }
        changes[first..].reverse();
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::testutil::{put, ts, txn};
    use crate::{Durability, Engine, MemoryEngine};

    fn fixture() -> MemoryEngine {
        let e = MemoryEngine::new();
        put(&e, "a", 1, Some("a1"), None).unwrap();
        put(&e, "a", 3, Some("a3"), None).unwrap();
        put(&e, "b", 2, Some("b2"), None).unwrap();
        put(&e, "b", 4, None, None).unwrap();
        put(&e, "c", 5, Some("c5"), None).unwrap();
        e
    }

    fn summary(entries: &[ExportEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| {
                let v = e
                    .value
                    .as_ref()
                    .map_or("<del>".into(), |v| String::from_utf8_lossy(v));
                format!("{}@{}={v}", String::from_utf8_lossy(&e.key.0), e.ts.wall)
            })
            .collect()
    }

    fn export(e: &MemoryEngine, start: i64, end: i64, all: bool, target: u64) -> Export {
        mvcc_export(e, &Span::new("a", "z"), ts(start), ts(end), all, target).unwrap()
    }

    #[test]
    fn full_and_incremental_exports() {
        let e = fixture();
        assert_eq!(
            summary(&export(&e, 0, 10, false, 0).entries),
            ["a@3=a3", "c@5=c5"]
        );
        assert_eq!(
            summary(&export(&e, 0, 3, false, 0).entries),
            ["a@3=a3", "b@2=b2"]
        );
        // The incremental from 3 carries b's delete; a did not change.
        assert_eq!(
            summary(&export(&e, 3, 10, false, 0).entries),
            ["b@4=<del>", "c@5=c5"]
        );
        assert_eq!(
            summary(&export(&e, 0, 10, true, 0).entries),
            ["a@3=a3", "a@1=a1", "b@4=<del>", "b@2=b2", "c@5=c5"]
        );
        assert_eq!(
            summary(&export(&e, 1, 4, true, 0).entries),
            ["a@3=a3", "b@4=<del>", "b@2=b2"]
        );
    }

    #[test]
    fn export_stops_at_target_bytes_on_key_boundaries() {
        let e = fixture();
        let first = export(&e, 0, 10, true, 1);
        assert_eq!(summary(&first.entries), ["a@3=a3", "a@1=a1"]);
        assert_eq!(first.resume, Some(Key::from("b")));
        let rest = mvcc_export(&e, &Span::new("b", "z"), ts(0), ts(10), true, 0).unwrap();
        assert_eq!(rest.resume, None);
        assert_eq!(summary(&rest.entries), ["b@4=<del>", "b@2=b2", "c@5=c5"]);
    }

    #[test]
    fn export_fails_on_intents_in_the_window_only() {
        let e = fixture();
        put(&e, "b", 0, Some("new"), Some(&txn(1, 8))).unwrap();
        let err = mvcc_export(&e, &Span::new("a", "z"), ts(0), ts(8), false, 0).unwrap_err();
        assert!(matches!(err, MvccError::WriteIntent { ref intents } if intents.len() == 1));
        // Below the intent the provisional value is not exported.
        assert_eq!(summary(&export(&e, 0, 7, true, 0).entries).len(), 5);
    }

    #[test]
    fn ingest_restores_an_export() {
        let src = fixture();
        let exported = export(&src, 0, 10, true, 0);
        let dst = MemoryEngine::new();
        let mut batch = WriteBatch::new();
        assert_eq!(mvcc_ingest(&mut batch, exported.entries.clone()), 5);
        dst.write(batch, Durability::Sync).unwrap();
        assert_eq!(export(&dst, 0, 10, true, 0), exported);
    }

    #[test]
    fn changes_are_ascending_per_key_and_skip_intents() {
        let e = fixture();
        put(&e, "c", 0, Some("prov"), Some(&txn(1, 6))).unwrap();
        let changes = mvcc_changes(&e, &Span::new("a", "z"), ts(1), ts(10)).unwrap();
        assert_eq!(
            summary(&changes),
            ["a@3=a3", "b@2=b2", "b@4=<del>", "c@5=c5"]
        );
    }
}
