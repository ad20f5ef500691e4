//! Reads at a timestamp: [`mvcc_get`] and [`mvcc_scan`].

use base::{Key, Span, Timestamp};

use super::history::{Histories, ReadPlan, Visible, plan_read};
use super::key;
use super::{MvccError, TxnMeta, Uncertainty, Value, span_keys};
use crate::engine::{Cf, Reader};

/// The result of [`mvcc_scan`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScanResult {
    /// The visible values, in scan order.
    pub kvs: Vec<(Key, Value)>,
    /// Where to continue when the scan stopped at `max_keys` with keys left; `None` when done.
    pub resume: Option<Span>,
}

/// The intent record of `key`, if any.
pub(crate) fn read_meta(r: &dyn Reader, key: &Key) -> Result<Option<TxnMeta>, MvccError> {
    r.get(Cf::Data, &key::meta_key(&key.0))?
        .map(|raw| key::decode_meta(key, &raw))
        .transpose()
}

/// The value of `key` visible at `ts`: the newest committed version at or below `ts`, or
/// `None` when there is none or it is a tombstone.
///
/// A transaction (`txn`) reads its own intent's provisional value if the intent is from its
/// current epoch. Another transaction's intent at or below `ts` fails with
/// [`MvccError::WriteIntent`]; one above `ts` is ignored.
pub fn mvcc_get(
    r: &dyn Reader,
    key: &Key,
    ts: Timestamp,
    txn: Option<&TxnMeta>,
) -> Result<Option<Value>, MvccError> {
    mvcc_get_uncertain(r, key, ts, Uncertainty::NONE, txn)
}

/// [`mvcc_get`] with an uncertainty interval: another transaction's intent up to the
/// interval's upper bound conflicts, and a committed version inside the interval fails the
/// read with [`MvccError::ReadWithinUncertainty`].
pub fn mvcc_get_uncertain(
    r: &dyn Reader,
    key: &Key,
    ts: Timestamp,
    unc: Uncertainty,
    txn: Option<&TxnMeta>,
) -> Result<Option<Value>, MvccError> {
    let meta = read_meta(r, key)?;
    let upper = unc.version_limit(ts);
    let plan = plan_read(key, meta.as_ref(), unc.intent_limit(ts), txn)?;
    let found = match plan {
        ReadPlan::Conflict(intent) => {
            return Err(MvccError::WriteIntent {
                intents: vec![intent],
            });
        }
        ReadPlan::Provisional(at) => {
            let raw = r
                .get(Cf::Data, &key::version_key(&key.0, at))?
                .ok_or_else(|| {
                    MvccError::Corrupt(format!("intent on key {key} has no value at {at}"))
                })?;
            Some((at, raw))
        }
        // One scan, newest first from the uncertainty limit (never below `ts`): versions above
        // `ts` are checked for uncertainty, the first at or below it is the value (a second
        // scan for it cost as much as the rest of a point read).
        ReadPlan::Committed { skip } => {
            let start = key::version_key(&key.0, upper);
            let mut found = None;
            for kv in r.scan(Cf::Data, &start, &key::key_end(&key.0), false) {
                let (raw_key, raw_value) = kv?;
                let Some(at) = key::decode_key(&raw_key)?.ts else {
                    continue;
                };
                if Some(at) == skip {
                    continue;
                }
                if at > ts {
                    if unc.is_uncertain(ts, at, key::value_local_ts(key, &raw_value, at)?) {
                        return Err(uncertain(key, ts, at, unc));
                    }
                    continue;
                }
                found = Some((at, raw_value));
                break;
            }
            found
        }
    };
    let Some((at, raw)) = found else {
        return Ok(None);
    };
    Ok(key::decode_value(key, &raw)?.map(|bytes| Value { bytes, ts: at }))
}

/// The values visible at `ts` in `span` (an empty `span.end` means the single key
/// `span.start`), in key order or reversed, as [`mvcc_get`] would see each key.
///
/// Stops after `max_keys` values (0: no limit) and returns a resume span when keys are left.
/// Every conflicting intent met on the way is reported in one [`MvccError::WriteIntent`].
pub fn mvcc_scan(
    r: &dyn Reader,
    span: &Span,
    ts: Timestamp,
    txn: Option<&TxnMeta>,
    max_keys: usize,
    reverse: bool,
) -> Result<ScanResult, MvccError> {
    mvcc_scan_uncertain(r, span, ts, Uncertainty::NONE, txn, max_keys, reverse)
}

fn uncertain(key: &Key, read_ts: Timestamp, value_ts: Timestamp, unc: Uncertainty) -> MvccError {
    MvccError::ReadWithinUncertainty {
        key: key.clone(),
        read_ts,
        value_ts,
        local_limit: unc.local,
        global_limit: unc.global,
    }
}

/// [`mvcc_scan`] with an uncertainty interval, as [`mvcc_get_uncertain`] reads each key.
/// Conflicting intents are reported before uncertain values; of several uncertain values the
/// newest is reported, so one retry above it clears them all.
pub fn mvcc_scan_uncertain(
    r: &dyn Reader,
    span: &Span,
    ts: Timestamp,
    unc: Uncertainty,
    txn: Option<&TxnMeta>,
    max_keys: usize,
    reverse: bool,
) -> Result<ScanResult, MvccError> {
    let (start, end) = super::raw_span_bounds(span);
    let mut histories = Histories::new(r.scan(Cf::Data, &start, &end, reverse), reverse);
    let mut result = ScanResult::default();
    let mut intents = Vec::new();
    let mut newest_uncertain: Option<(Key, Timestamp)> = None;
    while let Some(history) = histories.next() {
        let history = history?;
        match history.read_uncertain(ts, unc, txn)? {
            Visible::Conflict(intent) => intents.push(intent),
            Visible::Uncertain(at) => {
                if newest_uncertain.as_ref().is_none_or(|(_, t)| *t < at) {
                    newest_uncertain = Some((history.key.clone(), at));
                }
            }
            Visible::Found(Some(value)) => result.kvs.push((history.key, value)),
            Visible::Found(None) => {}
        }
        if max_keys > 0 && result.kvs.len() >= max_keys {
            if histories.next().is_some() {
                result.resume = Some(resume_span(span, &result.kvs, reverse));
            }
            break;
        }
    }
    if !intents.is_empty() {
        return Err(MvccError::WriteIntent { intents });
    }
    if let Some((key, at)) = newest_uncertain {
        return Err(uncertain(&key, ts, at, unc));
    }
    Ok(result)
}

/// The rest of `span` after the last key returned.
fn resume_span(span: &Span, kvs: &[(Key, Value)], reverse: bool) -> Span {
    let (start, end) = span_keys(span);
    match kvs.last() {
        Some((last, _)) if reverse => Span {
            start,
            end: last.clone(),
        },
        Some((last, _)) => Span {
            start: last.next(),
            end,
        },
        None => Span { start, end },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemoryEngine;
    use crate::mvcc::testutil::{get, put, ts, txn};

    fn scan_keys(
        engine: &MemoryEngine,
        span: Span,
        at: i64,
        max: usize,
        reverse: bool,
    ) -> (Vec<String>, Option<Span>) {
        let res = mvcc_scan(engine, &span, ts(at), None, max, reverse).unwrap();
        let keys = res
            .kvs
            .iter()
            .map(|(k, _)| String::from_utf8(k.0.clone()).unwrap())
            .collect();
        (keys, res.resume)
    }

    #[test]
    fn get_sees_newest_version_at_or_below() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("v5"), None).unwrap();
        put(&e, "a", 7, Some("v7"), None).unwrap();
        put(&e, "a", 9, None, None).unwrap();
        assert_eq!(get(&e, "a", 4), None);
        assert_eq!(get(&e, "a", 5).as_deref(), Some("v5"));
        assert_eq!(get(&e, "a", 8).as_deref(), Some("v7"));
        assert_eq!(get(&e, "a", 9), None);
        assert_eq!(get(&e, "b", 9), None);
        let v = mvcc_get(&e, &Key::from("a"), ts(6), None).unwrap().unwrap();
        assert_eq!(v.ts, ts(5));
    }

    fn unc(global: i64, local: i64) -> Uncertainty {
        Uncertainty {
            global: ts(global),
            local: ts(local),
        }
    }

    #[test]
    fn uncertain_versions_fail_reads() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("v5"), None).unwrap();
        put(&e, "a", 12, Some("v12"), None).unwrap();
        let a = Key::from("a");
        // Without an interval, or with the version above it, the older value is read.
        assert_eq!(mvcc_get(&e, &a, ts(10), None).unwrap().unwrap().ts, ts(5));
        let v = mvcc_get_uncertain(&e, &a, ts(10), unc(11, 11), None).unwrap();
        assert_eq!(v.unwrap().ts, ts(5));
        // Inside the interval: uncertain, naming the version.
        let err = mvcc_get_uncertain(&e, &a, ts(10), unc(15, 15), None).unwrap_err();
        assert!(
            matches!(err, MvccError::ReadWithinUncertainty { value_ts, .. } if value_ts == ts(12)),
            "{err:?}"
        );
        // A local limit below the version's local timestamp clears it (the node's clock had
        // not reached 12 when it was observed, so the write came after the read began).
        let v = mvcc_get_uncertain(&e, &a, ts(10), unc(15, 11), None).unwrap();
        assert_eq!(v.unwrap().ts, ts(5));
        // Scans report the same, after reading every key.
        put(&e, "b", 14, Some("v14"), None).unwrap();
        let err = mvcc_scan_uncertain(
            &e,
            &Span::new("a", "z"),
            ts(10),
            unc(15, 15),
            None,
            0,
            false,
        )
        .unwrap_err();
        assert!(
            matches!(err, MvccError::ReadWithinUncertainty { value_ts, .. } if value_ts == ts(14)),
            "{err:?}"
        );
        let res = mvcc_scan_uncertain(
            &e,
            &Span::new("a", "z"),
            ts(20),
            unc(25, 25),
            None,
            0,
            false,
        )
        .unwrap();
        assert_eq!(res.kvs.len(), 2);
    }

    #[test]
    fn uncertainty_uses_local_timestamps_of_moved_values() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 8);
        put(&e, "a", 8, Some("new"), Some(&t1)).unwrap();
        let a = Key::from("a");
        // An intent inside the interval is a conflict, one above it is not.
        let err = mvcc_get_uncertain(&e, &a, ts(5), unc(9, 9), None).unwrap_err();
        assert!(matches!(err, MvccError::WriteIntent { .. }), "{err:?}");
        assert_eq!(
            mvcc_get_uncertain(&e, &a, ts(5), unc(7, 7), None).unwrap(),
            None
        );
        // Committed at 12: the value moves to 12 but was written at 8. A node observed at 10
        // had already served it: uncertain for a read at 5 with global limit 15.
        crate::mvcc::testutil::apply(&e, |r, b| {
            crate::mvcc::mvcc_resolve_intent(
                r,
                b,
                &a,
                t1.id,
                crate::mvcc::TxnStatus::Committed,
                ts(12),
            )
        })
        .unwrap();
        let err = mvcc_get_uncertain(&e, &a, ts(5), unc(15, 10), None).unwrap_err();
        assert!(
            matches!(err, MvccError::ReadWithinUncertainty { value_ts, .. } if value_ts == ts(12)),
            "{err:?}"
        );
        // Observed at 7, before it was written: certain.
        assert_eq!(
            mvcc_get_uncertain(&e, &a, ts(5), unc(15, 7), None).unwrap(),
            None
        );
        assert_eq!(
            mvcc_get(&e, &a, ts(12), None).unwrap().unwrap().bytes,
            b"new".to_vec()
        );
    }

    #[test]
    fn get_meets_intents() {
        let e = MemoryEngine::new();
        let t1 = txn(1, 10);
        put(&e, "a", 5, Some("old"), None).unwrap();
        put(&e, "a", 10, Some("new"), Some(&t1)).unwrap();
        // Below the intent: the committed value.
        assert_eq!(get(&e, "a", 9).as_deref(), Some("old"));
        // At or above: a conflict, naming the transaction.
        let err = mvcc_get(&e, &Key::from("a"), ts(10), None).unwrap_err();
        let MvccError::WriteIntent { intents } = err else {
            panic!("{err:?}")
        };
        assert_eq!(intents.len(), 1);
        assert_eq!(intents[0].txn.id, t1.id);
        // The writer sees its own value, even when reading below it.
        let own = mvcc_get(&e, &Key::from("a"), ts(3), Some(&t1))
            .unwrap()
            .unwrap();
        assert_eq!((own.bytes.as_slice(), own.ts), (&b"new"[..], ts(10)));
        // After a restart the old epoch's value is invisible.
        let t1e1 = TxnMeta { epoch: 1, ..t1 };
        let v = mvcc_get(&e, &Key::from("a"), ts(20), Some(&t1e1))
            .unwrap()
            .unwrap();
        assert_eq!(v.bytes, b"old");
    }

    #[test]
    fn scan_forward_reverse_limits_and_resume() {
        let e = MemoryEngine::new();
        for k in ["a", "b", "c", "d", "e"] {
            put(&e, k, 5, Some(k), None).unwrap();
        }
        put(&e, "c", 6, None, None).unwrap();
        let all = Span::new("a", "z");
        assert_eq!(
            scan_keys(&e, all.clone(), 6, 0, false).0,
            ["a", "b", "d", "e"]
        );
        assert_eq!(
            scan_keys(&e, all.clone(), 5, 0, true).0,
            ["e", "d", "c", "b", "a"]
        );
        let (keys, resume) = scan_keys(&e, all.clone(), 6, 2, false);
        assert_eq!(keys, ["a", "b"]);
        let resume = resume.unwrap();
        assert_eq!(resume, Span::new(Key::from("b").next(), Key::from("z")));
        assert_eq!(scan_keys(&e, resume, 6, 0, false).0, ["d", "e"]);
        let (keys, resume) = scan_keys(&e, all.clone(), 6, 2, true);
        assert_eq!(keys, ["e", "d"]);
        assert_eq!(resume, Some(Span::new("a", "d")));
        // Exactly at the limit with nothing left: no resume span.
        assert_eq!(scan_keys(&e, Span::new("d", "z"), 6, 2, false).1, None);
        // An empty end is the single key.
        assert_eq!(scan_keys(&e, Span::new("b", ""), 6, 0, false).0, ["b"]);
        assert_eq!(scan_keys(&e, Span::new("b", "d"), 6, 0, false).0, ["b"]);
    }

    #[test]
    fn scan_collects_every_conflicting_intent() {
        let e = MemoryEngine::new();
        put(&e, "a", 5, Some("a"), None).unwrap();
        put(&e, "b", 8, Some("b"), Some(&txn(1, 8))).unwrap();
        put(&e, "c", 9, Some("c"), Some(&txn(2, 9))).unwrap();
        put(&e, "d", 20, Some("d"), Some(&txn(3, 20))).unwrap();
        let err = mvcc_scan(&e, &Span::new("a", "z"), ts(10), None, 0, false).unwrap_err();
        let MvccError::WriteIntent { intents } = err else {
            panic!("{err:?}")
        };
        let keys: Vec<_> = intents.iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys, [Key::from("b"), Key::from("c")]);
        // Below every intent, the scan succeeds.
        assert_eq!(scan_keys(&e, Span::new("a", "z"), 7, 0, false).0, ["a"]);
    }
}
