//! Whole-span operations on raw records: bounds, intents, clearing, Raft snapshots, stats.

use base::{Span, Timestamp};

use super::key;
use super::{BatchReader, Intent, MvccError, span_keys};
use crate::engine::{Cf, KeyValue, Reader, ScanIter, WriteBatch};

/// The raw [`Cf::Data`] bounds `[start, end)` holding every record of the user keys in `span`
/// (an empty `span.end` means the single key `span.start`). Since the key encoding is
/// order-preserving and prefix-free, the records of a key `k` with `start <= k < end` are
/// exactly the raw keys in `[meta_key(start), meta_key(end))`.
pub fn raw_span_bounds(span: &Span) -> (Vec<u8>, Vec<u8>) {
    let (start, end) = span_keys(span);
    (key::meta_key(&start.0), key::meta_key(&end.0))
}

/// Calls `f` on each intent in `span`, in key order, until it returns false.
fn for_each_intent(
    r: &dyn Reader,
    span: &Span,
    mut f: impl FnMut(Intent) -> bool,
) -> Result<(), MvccError> {
    let (start, end) = raw_span_bounds(span);
    for kv in r.scan(Cf::Data, &start, &end, false) {
        let (raw_key, raw_value) = kv?;
        let decoded = key::decode_key(&raw_key)?;
        if decoded.ts.is_some() {
            continue;
        }
        let txn = key::decode_meta(&decoded.key, &raw_value)?;
        if !f(Intent {
            key: decoded.key,
            txn,
        }) {
            break;
        }
    }
    Ok(())
}

/// The intents in `span`, in key order, at most `limit` of them (0: no limit).
///
/// Intents are found by scanning every record of the span.
pub fn mvcc_find_intents(
    r: &dyn Reader,
    span: &Span,
    limit: usize,
) -> Result<Vec<Intent>, MvccError> {
    let mut intents = Vec::new();
    for_each_intent(r, span, |intent| {
        intents.push(intent);
        limit == 0 || intents.len() < limit
    })?;
    Ok(intents)
}

/// The lowest write timestamp of the intents in `span`, if any: a transaction commits at or
/// above its intents' timestamps, so a rangefeed may resolve the span up to just below it.
pub fn mvcc_min_intent_ts(r: &dyn Reader, span: &Span) -> Result<Option<Timestamp>, MvccError> {
    let mut min: Option<Timestamp> = None;
    for_each_intent(r, span, |intent| {
        let ts = intent.txn.write_ts;
        min = Some(min.map_or(ts, |m| m.min(ts)));
        true
    })?;
    Ok(min)
}

/// Deletes every record (intents and versions) of the keys in `span`, including records put
/// earlier into `batch`, returning how many. fjall has no range delete, so this reads them all.
pub fn mvcc_clear_span(
    r: &dyn Reader,
    batch: &mut WriteBatch,
    span: &Span,
) -> Result<usize, MvccError> {
    let (start, end) = raw_span_bounds(span);
    let keys = BatchReader::new(r, batch)
        .scan(Cf::Data, &start, &end, false)
        .map(|kv| kv.map(|(k, _)| k))
        .collect::<Result<Vec<_>, _>>()?;
    let count = keys.len();
    for raw_key in keys {
        batch.delete(Cf::Data, raw_key);
    }
    Ok(count)
}

/// Every raw record of `span`, in key order: what a Raft snapshot of the range carries,
/// to be applied on the receiver by [`apply_raw_snapshot`].
pub fn raw_snapshot_entries<'a>(r: &'a dyn Reader, span: &Span) -> ScanIter<'a> {
    let (start, end) = raw_span_bounds(span);
    r.scan(Cf::Data, &start, &end, false)
}

/// Replaces the records of `span` with `entries` (from [`raw_snapshot_entries`]): clears the
/// span, then writes each entry verbatim, returning how many were written.
///
/// Fails with [`MvccError::Corrupt`], before anything is appended, on an entry outside the
/// span or one whose key does not decode.
pub fn apply_raw_snapshot(
    r: &dyn Reader,
    batch: &mut WriteBatch,
    span: &Span,
    entries: impl IntoIterator<Item = KeyValue>,
) -> Result<usize, MvccError> {
    let (start, end) = raw_span_bounds(span);
    let entries: Vec<KeyValue> = entries.into_iter().collect();
    for (raw_key, _) in &entries {
        if *raw_key < start || *raw_key >= end {
            return Err(MvccError::Corrupt(format!(
                "snapshot entry {raw_key:02x?} lies outside the span {span}"
            )));
        }
        key::decode_key(raw_key)?;
    }
    mvcc_clear_span(r, batch, span)?;
    let count = entries.len();
    for (raw_key, raw_value) in entries {
        batch.put(Cf::Data, raw_key, raw_value);
    }
    Ok(count)
}

/// Approximate sizes of a span, for split decisions and SHOW RANGES.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// User keys with at least one record.
    pub key_count: u64,
    /// User keys whose newest version (provisional or committed) is a value, not a tombstone.
    pub live_count: u64,
    /// Bytes (raw key and value) of the newest versions of live keys and of their intents.
    pub live_bytes: u64,
    /// Bytes (raw key and value) of every record.
    pub total_bytes: u64,
    /// Intents in the span.
    pub intent_count: u64,
}

/// Computes the [`Stats`] of `span` by reading every record.
pub fn mvcc_stats(r: &dyn Reader, span: &Span) -> Result<Stats, MvccError> {
    let (start, end) = raw_span_bounds(span);
    let mut stats = Stats::default();
    let mut current: Option<base::Key> = None;
    // Bytes of the current key's intent record, counted as live if its newest version is.
    let mut intent_bytes = 0u64;
    for kv in r.scan(Cf::Data, &start, &end, false) {
        let (raw_key, raw_value) = kv?;
        let size = (raw_key.len() + raw_value.len()) as u64;
        stats.total_bytes += size;
        let decoded = key::decode_key(&raw_key)?;
        let first_record = current.as_ref() != Some(&decoded.key);
        if first_record {
            stats.key_count += 1;
            intent_bytes = 0;
            current = Some(decoded.key.clone());
        }
        match decoded.ts {
            None => {
                stats.intent_count += 1;
                intent_bytes = size;
            }
            // The newest version directly follows the key's first record or its intent.
            Some(_) if first_record || intent_bytes > 0 => {
                if key::decode_value(&decoded.key, &raw_value)?.is_some() {
                    stats.live_count += 1;
                    stats.live_bytes += size + intent_bytes;
                }
                intent_bytes = 0;
            }
            Some(_) => {}
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::testutil::{put, ts, txn};
    use crate::{Durability, Engine, MemoryEngine};

    #[test]
    fn bounds_cover_exactly_the_span() {
        let e = MemoryEngine::new();
        for k in ["a", "b", "b\x00", "c"] {
            put(&e, k, 5, Some("v"), None).unwrap();
        }
        put(&e, "b", 6, Some("w"), Some(&txn(1, 6))).unwrap();
        let count = |span: Span| raw_snapshot_entries(&e, &span).count();
        assert_eq!(count(Span::new("b", "c")), 4);
        assert_eq!(
            count(Span::new("b", "")),
            3,
            "an empty end is the single key"
        );
        assert_eq!(count(Span::new("a", "z")), 6);
    }

    #[test]
    fn intents_and_min_ts() {
        let e = MemoryEngine::new();
        put(&e, "a", 0, Some("v"), Some(&txn(1, 9))).unwrap();
        put(&e, "b", 5, Some("v"), None).unwrap();
        put(&e, "c", 0, Some("v"), Some(&txn(2, 7))).unwrap();
        let span = Span::new("a", "z");
        assert_eq!(mvcc_find_intents(&e, &span, 0).unwrap().len(), 2);
        assert_eq!(
            mvcc_find_intents(&e, &span, 1).unwrap()[0].key,
            base::Key::from("a")
        );
        assert_eq!(mvcc_min_intent_ts(&e, &span).unwrap(), Some(ts(7)));
        assert_eq!(mvcc_min_intent_ts(&e, &Span::new("b", "c")).unwrap(), None);
    }

    #[test]
    fn snapshot_round_trip_replaces_the_span() {
        let src = MemoryEngine::new();
        put(&src, "a", 5, Some("src"), None).unwrap();
        put(&src, "b", 0, Some("prov"), Some(&txn(1, 6))).unwrap();
        let dst = MemoryEngine::new();
        put(&dst, "a", 3, Some("stale"), None).unwrap();
        put(&dst, "q", 3, Some("stale"), None).unwrap();
        put(&dst, "z", 3, Some("outside"), None).unwrap();
        let span = Span::new("a", "x");
        let entries: Vec<KeyValue> = raw_snapshot_entries(&src, &span)
            .collect::<Result<_, _>>()
            .unwrap();
        let mut batch = WriteBatch::new();
        assert_eq!(
            apply_raw_snapshot(&dst, &mut batch, &span, entries.clone()).unwrap(),
            3
        );
        dst.write(batch, Durability::Sync).unwrap();
        let after: Vec<KeyValue> = raw_snapshot_entries(&dst, &span)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(after, entries);
        assert_eq!(raw_snapshot_entries(&dst, &Span::new("z", "")).count(), 1);
        // An entry outside the span is refused.
        let mut batch = WriteBatch::new();
        let outside = vec![(key::version_key(b"zz", ts(1)), key::encode_value(None))];
        assert!(apply_raw_snapshot(&dst, &mut batch, &span, outside).is_err());
        assert!(batch.is_empty());
    }

    #[test]
    fn clear_span_removes_records_including_pending_ones() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("v"), None).unwrap();
        put(&e, "b", 0, Some("v"), Some(&txn(1, 6))).unwrap();
        let mut batch = WriteBatch::new();
        crate::mvcc::mvcc_put(&e, &mut batch, &"c".into(), ts(7), Some(b"v"), None).unwrap();
        assert_eq!(
            mvcc_clear_span(&e, &mut batch, &Span::new("a", "z")).unwrap(),
            4
        );
        e.write(batch, Durability::Sync).unwrap();
        assert_eq!(e.scan(Cf::Data, &[], &[], false).count(), 0);
    }

    #[test]
    fn stats_count_live_and_total() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("v"), None).unwrap();
        put(&e, "a", 6, Some("w"), None).unwrap();
        put(&e, "b", 5, Some("v"), None).unwrap();
        put(&e, "b", 6, None, None).unwrap();
        put(&e, "c", 0, Some("v"), Some(&txn(1, 7))).unwrap();
        let stats = mvcc_stats(&e, &Span::new("a", "z")).unwrap();
        assert_eq!(stats.key_count, 3);
        assert_eq!(stats.live_count, 2);
        assert_eq!(stats.intent_count, 1);
        assert!(stats.live_bytes > 0 && stats.live_bytes < stats.total_bytes);
        let raw_total: usize = e
            .scan(Cf::Data, &[], &[], false)
            .map(|kv| kv.map(|(k, v)| k.len() + v.len()).unwrap())
            .sum();
        assert_eq!(stats.total_bytes, raw_total as u64);
    }
}
