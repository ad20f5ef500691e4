//! Writes: [`mvcc_put`], and intent resolution ([`mvcc_resolve_intent`], [`mvcc_resolve_span`]).
//!
//! Each function reads through a [`BatchReader`] over the batch so far, decides the records to
//! write, then appends them: deciding never sees its own half-written output.

use base::{Key, Span, Timestamp};
use uuid::Uuid;

use super::history::Histories;
use super::key;
use super::read::read_meta;
use super::{BatchReader, Intent, MvccError, TxnMeta, TxnStatus};
use crate::engine::{Cf, Reader, WriteBatch, WriteOp};

/// What [`mvcc_put`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MvccWriteOutcome {
    /// The timestamp of the version written (the transaction's write timestamp for an intent).
    pub ts: Timestamp,
    /// True when the write replaced an earlier intent of the same transaction.
    pub replaced_intent: bool,
}

/// Writes `value` (`None`: a delete) to `key`.
///
/// Without a transaction, a committed version at `ts`. With one, an intent: the intent record
/// and a provisional version at `txn.write_ts` (`ts` is then ignored); writing the key again in
/// the same transaction replaces its provisional value. When the transaction's earlier intent
/// on the key was pushed above `txn.write_ts`, the new one stays at the pushed timestamp: the
/// outcome's `ts` says where the version went, and the transaction cannot commit below it.
///
/// Fails with [`MvccError::WriteIntent`] on another transaction's intent, and with
/// [`MvccError::WriteTooOld`] when a committed version at or above the write's timestamp
/// exists. Nothing is appended to `batch` on failure.
pub fn mvcc_put(
    r: &dyn Reader,
    batch: &mut WriteBatch,
    key: &Key,
    ts: Timestamp,
    value: Option<&[u8]>,
    txn: Option<&TxnMeta>,
) -> Result<MvccWriteOutcome, MvccError> {
    let (ops, outcome) = plan_put(&BatchReader::new(r, batch), key, ts, value, txn)?;
    batch.ops.extend(ops);
    Ok(outcome)
}

fn plan_put(
    r: &dyn Reader,
    key: &Key,
    ts: Timestamp,
    value: Option<&[u8]>,
    txn: Option<&TxnMeta>,
) -> Result<(Vec<WriteOp>, MvccWriteOutcome), MvccError> {
    // The provisional version of our own earlier intent, which this write replaces.
    let own_provisional = match (read_meta(r, key)?, txn) {
        (None, _) => None,
        (Some(meta), Some(txn)) if meta.id == txn.id => {
            if meta.epoch > txn.epoch {
                return Err(MvccError::EpochRegression {
                    key: key.clone(),
                    intent_epoch: meta.epoch,
                    txn_epoch: txn.epoch,
                });
            }
            Some(meta.write_ts)
        }
        (Some(meta), _) => {
            return Err(MvccError::WriteIntent {
                intents: vec![Intent {
                    key: key.clone(),
                    txn: meta,
                }],
            });
        }
    };
    // A pushed intent stays at least where the push left it.
    let write_ts = match txn {
        Some(txn) => own_provisional.map_or(txn.write_ts, |old| old.max(txn.write_ts)),
        None => ts,
    };
    if let Some(existing_ts) = newest_committed_ts(r, key, own_provisional)?
        && existing_ts >= write_ts
    {
        return Err(MvccError::WriteTooOld {
            key: key.clone(),
            existing_ts,
        });
    }
    let mut ops = Vec::with_capacity(3);
    if let Some(old) = own_provisional.filter(|old| *old != write_ts) {
        ops.push(WriteOp::Delete(Cf::Data, key::version_key(&key.0, old)));
    }
    ops.push(WriteOp::Put(
        Cf::Data,
        key::version_key(&key.0, write_ts),
        key::encode_value(value),
    ));
    if let Some(txn) = txn {
        let meta = TxnMeta {
            write_ts,
            ..txn.clone()
        };
        ops.push(WriteOp::Put(
            Cf::Data,
            key::meta_key(&key.0),
            key::encode_meta(&meta)?,
        ));
    }
    let outcome = MvccWriteOutcome {
        ts: write_ts,
        replaced_intent: own_provisional.is_some(),
    };
    Ok((ops, outcome))
}

/// The timestamp of the newest version of `key` other than `skip`.
fn newest_committed_ts(
    r: &dyn Reader,
    key: &Key,
    skip: Option<Timestamp>,
) -> Result<Option<Timestamp>, MvccError> {
    let start = key::version_key(&key.0, Timestamp::MAX);
    for kv in r.scan(Cf::Data, &start, &key::key_end(&key.0), false) {
        let (raw_key, _) = kv?;
        let at = key::decode_key(&raw_key)?.ts;
        if at.is_some() && at != skip {
            return Ok(at);
        }
    }
    Ok(None)
}

/// Resolves `key`'s intent if it belongs to transaction `txn_id`:
///
/// - [`TxnStatus::Committed`]: the provisional value becomes a committed version at
///   `commit_ts` (moved there if it was written lower) and the intent record goes.
/// - [`TxnStatus::Aborted`]: the intent record and the provisional value go.
/// - [`TxnStatus::Pending`] (the transaction was pushed): the intent moves up to `commit_ts`
///   if it is lower, and stays.
///
/// Returns false, writing nothing, when the key holds no intent of that transaction, so
/// resolving twice is harmless. Committing below the intent's timestamp fails with
/// [`MvccError::CommitBelowIntent`].
pub fn mvcc_resolve_intent(
    r: &dyn Reader,
    batch: &mut WriteBatch,
    key: &Key,
    txn_id: Uuid,
    status: TxnStatus,
    commit_ts: Timestamp,
) -> Result<bool, MvccError> {
    let ops = plan_resolve(&BatchReader::new(r, batch), key, txn_id, status, commit_ts)?;
    let resolved = ops.is_some();
    batch.ops.extend(ops.unwrap_or_default());
    Ok(resolved)
}

/// Resolves every intent of transaction `txn_id` in `span` as [`mvcc_resolve_intent`] does,
/// returning how many there were.
pub fn mvcc_resolve_span(
    r: &dyn Reader,
    batch: &mut WriteBatch,
    span: &Span,
    txn_id: Uuid,
    status: TxnStatus,
    commit_ts: Timestamp,
) -> Result<usize, MvccError> {
    let mut ops = Vec::new();
    let mut resolved = 0;
    {
        // Resolutions of different keys touch different records, so all of them can be
        // decided against the state before the first.
        let view = BatchReader::new(r, batch);
        let (start, end) = super::raw_span_bounds(span);
        for history in Histories::new(view.scan(Cf::Data, &start, &end, false), false) {
            let history = history?;
            if history.meta.as_ref().is_none_or(|m| m.id != txn_id) {
                continue;
            }
            if let Some(key_ops) = plan_resolve(&view, &history.key, txn_id, status, commit_ts)? {
                ops.extend(key_ops);
                resolved += 1;
            }
        }
    }
    batch.ops.extend(ops);
    Ok(resolved)
}

/// The writes that resolve `key`'s intent, or `None` when it has none of `txn_id`.
fn plan_resolve(
    r: &dyn Reader,
    key: &Key,
    txn_id: Uuid,
    status: TxnStatus,
    commit_ts: Timestamp,
) -> Result<Option<Vec<WriteOp>>, MvccError> {
    let Some(meta) = read_meta(r, key)?.filter(|m| m.id == txn_id) else {
        return Ok(None);
    };
    let meta_key = key::meta_key(&key.0);
    let provisional_key = key::version_key(&key.0, meta.write_ts);
    let moved_to = |to: Timestamp| -> Result<Vec<WriteOp>, MvccError> {
        let value = r.get(Cf::Data, &provisional_key)?.ok_or_else(|| {
            MvccError::Corrupt(format!(
                "intent on key {key} has no value at {}",
                meta.write_ts
            ))
        })?;
        // The value keeps the timestamp it was written at, which the leaseholder's clock had
        // reached then: readers' uncertainty checks compare it with observed timestamps.
        let value = key::with_local_ts(key, &value, meta.write_ts)?;
        Ok(vec![
            WriteOp::Delete(Cf::Data, provisional_key.clone()),
            WriteOp::Put(Cf::Data, key::version_key(&key.0, to), value),
        ])
    };
    let ops = match status {
        TxnStatus::Aborted => {
            vec![
                WriteOp::Delete(Cf::Data, meta_key),
                WriteOp::Delete(Cf::Data, provisional_key),
            ]
        }
        TxnStatus::Committed if commit_ts < meta.write_ts => {
            return Err(MvccError::CommitBelowIntent {
                key: key.clone(),
                intent_ts: meta.write_ts,
                commit_ts,
            });
        }
        TxnStatus::Committed if commit_ts == meta.write_ts => {
            vec![WriteOp::Delete(Cf::Data, meta_key)]
        }
        TxnStatus::Committed => {
            let mut ops = moved_to(commit_ts)?;
            ops.push(WriteOp::Delete(Cf::Data, meta_key));
            ops
        }
        TxnStatus::Pending if commit_ts <= meta.write_ts => vec![],
        TxnStatus::Pending => {
            let mut ops = moved_to(commit_ts)?;
            let pushed = TxnMeta {
                write_ts: commit_ts,
                ..meta
            };
            ops.push(WriteOp::Put(Cf::Data, meta_key, key::encode_meta(&pushed)?));
            ops
        }
    };
    Ok(Some(ops))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryEngine;
    use crate::mvcc::testutil::{apply, get, put, ts, txn};
    use crate::mvcc::{mvcc_find_intents, mvcc_get};

    fn resolve(e: &MemoryEngine, k: &str, t: &TxnMeta, status: TxnStatus, at: i64) -> bool {
        apply(e, |r, b| {
            mvcc_resolve_intent(r, b, &Key::from(k), t.id, status, ts(at))
        })
        .unwrap()
    }

    fn raw_count(e: &MemoryEngine) -> usize {
        e.scan(Cf::Data, &[], &[], false).count()
    }

    #[test]
    fn non_txn_write_too_old() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("x"), None).unwrap();
        let err = put(&e, "a", 5, Some("y"), None).unwrap_err();
        assert_eq!(
            err,
            MvccError::WriteTooOld {
                key: Key::from("a"),
                existing_ts: ts(5)
            }
        );
        put(&e, "a", 6, Some("y"), None).unwrap();
        assert_eq!(get(&e, "a", 6).as_deref(), Some("y"));
    }

    #[test]
    fn writers_meet_other_intents_and_replace_their_own() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        put(&e, "a", 10, Some("v1"), Some(&t1)).unwrap();
        assert!(matches!(
            put(&e, "a", 12, Some("x"), None),
            Err(MvccError::WriteIntent { .. })
        ));
        assert!(matches!(
            put(&e, "a", 12, Some("x"), Some(&txn(2, 12))),
            Err(MvccError::WriteIntent { .. })
        ));
        // Rewriting at a higher write timestamp moves the provisional value.
        let t1b = TxnMeta {
            write_ts: ts(11),
            ..t1.clone()
        };
        let out = apply(&e, |r, b| {
            mvcc_put(r, b, &Key::from("a"), ts(0), Some(b"v2"), Some(&t1b))
        })
        .unwrap();
        assert_eq!(
            out,
            MvccWriteOutcome {
                ts: ts(11),
                replaced_intent: true
            }
        );
        assert_eq!(
            raw_count(&e),
            2,
            "one intent record and one provisional version"
        );
        let own = mvcc_get(&e, &Key::from("a"), ts(11), Some(&t1b))
            .unwrap()
            .unwrap();
        assert_eq!(own.bytes, b"v2");
    }

    #[test]
    fn txn_write_below_committed_is_too_old() {
        let e = MemoryEngine::new();
        put(&e, "a", 10, Some("x"), None).unwrap();
        let err = put(&e, "a", 0, Some("y"), Some(&txn(1, 9))).unwrap_err();
        assert_eq!(
            err,
            MvccError::WriteTooOld {
                key: Key::from("a"),
                existing_ts: ts(10)
            }
        );
    }

    #[test]
    fn writes_in_one_batch_see_each_other() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        let mut batch = WriteBatch::new();
        let k = Key::from("a");
        mvcc_put(&e, &mut batch, &k, ts(10), Some(b"one"), Some(&t1)).unwrap();
        let out = mvcc_put(&e, &mut batch, &k, ts(10), Some(b"two"), Some(&t1)).unwrap();
        assert!(out.replaced_intent);
        // A non-transactional write in the same batch meets the intent.
        let err = mvcc_put(&e, &mut batch, &k, ts(11), Some(b"x"), None).unwrap_err();
        assert!(matches!(err, MvccError::WriteIntent { .. }));
        let view = BatchReader::new(&e, &batch);
        let own = mvcc_get(&view, &k, ts(10), Some(&t1)).unwrap().unwrap();
        assert_eq!(own.bytes, b"two");
    }

    #[test]
    fn commit_moves_the_value_and_is_idempotent() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        put(&e, "a", 5, Some("old"), None).unwrap();
        put(&e, "a", 10, Some("new"), Some(&t1)).unwrap();
        assert!(resolve(&e, "a", &t1, TxnStatus::Committed, 12));
        assert!(!resolve(&e, "a", &t1, TxnStatus::Committed, 12));
        assert_eq!(get(&e, "a", 11).as_deref(), Some("old"));
        assert_eq!(get(&e, "a", 12).as_deref(), Some("new"));
        assert_eq!(raw_count(&e), 2, "two committed versions, no intent");
    }

    #[test]
    fn abort_removes_everything_and_other_txns_are_untouched() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        put(&e, "a", 10, Some("new"), Some(&t1)).unwrap();
        assert!(!resolve(&e, "a", &txn(2, 10), TxnStatus::Aborted, 10));
        assert!(resolve(&e, "a", &t1, TxnStatus::Aborted, 10));
        assert_eq!(raw_count(&e), 0);
        assert_eq!(get(&e, "a", 20), None);
    }

    #[test]
    fn push_moves_the_intent_up() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        put(&e, "a", 10, Some("new"), Some(&t1)).unwrap();
        assert!(resolve(&e, "a", &t1, TxnStatus::Pending, 15));
        // A reader at 12 no longer conflicts.
        assert_eq!(get(&e, "a", 12), None);
        let intents = mvcc_find_intents(&e, &Span::new("a", "b"), 0).unwrap();
        assert_eq!(intents[0].txn.write_ts, ts(15));
        let err = apply(&e, |r, b| {
            mvcc_resolve_intent(r, b, &Key::from("a"), t1.id, TxnStatus::Committed, ts(14))
        })
        .unwrap_err();
        assert!(matches!(err, MvccError::CommitBelowIntent { .. }));
        assert!(resolve(&e, "a", &t1, TxnStatus::Committed, 15));
        assert_eq!(get(&e, "a", 15).as_deref(), Some("new"));
    }

    #[test]
    fn resolve_span_resolves_only_that_txn() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        let t2 = txn(2, 10);
        for k in ["a", "b", "c"] {
            put(&e, k, 10, Some(k), Some(&t1)).unwrap();
        }
        put(&e, "d", 10, Some("d"), Some(&t2)).unwrap();
        let n = apply(&e, |r, b| {
            mvcc_resolve_span(
                r,
                b,
                &Span::new("a", "z"),
                t1.id,
                TxnStatus::Committed,
                ts(11),
            )
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(get(&e, "c", 11).as_deref(), Some("c"));
        let left = mvcc_find_intents(&e, &Span::new("a", "z"), 0).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].txn.id, t2.id);
    }
}
