//! The records of one key gathered from a raw scan, and the read decision shared by
//! [`mvcc_get`](super::mvcc_get) and [`mvcc_scan`](super::mvcc_scan).

use base::{Key, Timestamp};

use super::key::{self, MvccKey};
use super::{Intent, MvccError, TxnMeta, Uncertainty, Value};
use crate::engine::ScanIter;

/// What a read does about a key's intent record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadPlan {
    /// The reader's own intent in its current epoch: read the provisional value at this
    /// timestamp.
    Provisional(Timestamp),
    /// Read the newest committed version at or below the read timestamp, ignoring the version
    /// at `skip` (a provisional value the reader must not see).
    Committed { skip: Option<Timestamp> },
    /// Another transaction's intent at or below the read timestamp.
    Conflict(Intent),
}

/// Decides how a read at `ts` by `txn` (if transactional) treats `meta`, the intent on `key`.
pub(crate) fn plan_read(
    key: &Key,
    meta: Option<&TxnMeta>,
    ts: Timestamp,
    txn: Option<&TxnMeta>,
) -> Result<ReadPlan, MvccError> {
    let Some(meta) = meta else {
        return Ok(ReadPlan::Committed { skip: None });
    };
    match txn {
        Some(txn) if txn.id == meta.id => {
            if meta.epoch == txn.epoch {
                Ok(ReadPlan::Provisional(meta.write_ts))
            } else if meta.epoch < txn.epoch {
                // Written by an earlier attempt of the transaction: invisible to this one.
                Ok(ReadPlan::Committed {
                    skip: Some(meta.write_ts),
                })
            } else {
                Err(MvccError::EpochRegression {
                    key: key.clone(),
                    intent_epoch: meta.epoch,
                    txn_epoch: txn.epoch,
                })
            }
        }
        _ if meta.write_ts <= ts => Ok(ReadPlan::Conflict(Intent {
            key: key.clone(),
            txn: meta.clone(),
        })),
        _ => Ok(ReadPlan::Committed {
            skip: Some(meta.write_ts),
        }),
    }
}

/// Every record of one key.
#[derive(Debug)]
pub(crate) struct KeyHistory {
    /// The user key.
    pub key: Key,
    /// The intent record, if any.
    pub meta: Option<TxnMeta>,
    /// Every version, newest first, with its raw (tagged) value; includes the provisional one.
    pub versions: Vec<(Timestamp, Vec<u8>)>,
}

/// What a read finds on one key.
pub(crate) enum Visible {
    /// The value, or `None` for no version or a tombstone.
    Found(Option<Value>),
    /// Another transaction's intent is in the way.
    Conflict(Intent),
    /// A committed version at this timestamp lies in the read's uncertainty interval.
    Uncertain(Timestamp),
}

impl KeyHistory {
    /// The timestamp of the provisional version, if the key has an intent.
    pub fn provisional_ts(&self) -> Option<Timestamp> {
        self.meta.as_ref().map(|m| m.write_ts)
    }

    /// The committed versions, newest first.
    pub fn committed(&self) -> impl Iterator<Item = &(Timestamp, Vec<u8>)> {
        let provisional = self.provisional_ts();
        self.versions
            .iter()
            .filter(move |(ts, _)| Some(*ts) != provisional)
    }

    /// What a read at `ts` with uncertainty interval `unc` by `txn` sees. Another
    /// transaction's intent up to the interval's upper bound is a conflict (once resolved, its
    /// value may be uncertain); a committed version inside the interval is
    /// [`Visible::Uncertain`].
    pub fn read_uncertain(
        &self,
        ts: Timestamp,
        unc: Uncertainty,
        txn: Option<&TxnMeta>,
    ) -> Result<Visible, MvccError> {
        let upper = unc.version_limit(ts);
        let found = match plan_read(&self.key, self.meta.as_ref(), unc.intent_limit(ts), txn)? {
            ReadPlan::Conflict(intent) => return Ok(Visible::Conflict(intent)),
            ReadPlan::Provisional(at) => {
                let raw = self
                    .versions
                    .iter()
                    .find(|(t, _)| *t == at)
                    .ok_or_else(|| {
                        MvccError::Corrupt(format!(
                            "intent on key {} has no value at {at}",
                            self.key
                        ))
                    })?;
                Some((at, &raw.1))
            }
            ReadPlan::Committed { skip } => {
                for (t, raw) in &self.versions {
                    if *t > upper || Some(*t) == skip || *t <= ts {
                        continue;
                    }
                    if unc.is_uncertain(ts, *t, key::value_local_ts(&self.key, raw, *t)?) {
                        return Ok(Visible::Uncertain(*t));
                    }
                }
                self.versions
                    .iter()
                    .find(|(t, _)| *t <= ts && Some(*t) != skip)
                    .map(|(t, raw)| (*t, raw))
            }
        };
        let Some((at, raw)) = found else {
            return Ok(Visible::Found(None));
        };
        let value = key::decode_value(&self.key, raw)?;
        Ok(Visible::Found(value.map(|bytes| Value { bytes, ts: at })))
    }
}

/// Groups a raw scan of [`Cf::Data`](crate::Cf::Data) (in either direction) into one
/// [`KeyHistory`] per user key, in scan order. Stops after the first error.
pub(crate) struct Histories<'a> {
    raw: ScanIter<'a>,
    reverse: bool,
    /// The first record of the next key, read while finishing the previous one.
    pending: Option<(MvccKey, Vec<u8>)>,
    failed: bool,
}

impl<'a> Histories<'a> {
    pub fn new(raw: ScanIter<'a>, reverse: bool) -> Histories<'a> {
        Histories {
            raw,
            reverse,
            pending: None,
            failed: false,
        }
    }

    fn next_raw(&mut self) -> Result<Option<(MvccKey, Vec<u8>)>, MvccError> {
        match self.raw.next() {
            None => Ok(None),
            Some(Err(e)) => Err(e.into()),
            Some(Ok((raw_key, value))) => Ok(Some((key::decode_key(&raw_key)?, value))),
        }
    }

    fn next_history(&mut self) -> Result<Option<KeyHistory>, MvccError> {
        let first = match self.pending.take() {
            Some(first) => first,
            None => match self.next_raw()? {
                Some(first) => first,
                None => return Ok(None),
            },
        };
        let mut history = KeyHistory {
            key: first.0.key.clone(),
            meta: None,
            versions: vec![],
        };
        let mut record = first;
        loop {
            match record.0.ts {
                None => history.meta = Some(key::decode_meta(&history.key, &record.1)?),
                Some(ts) => history.versions.push((ts, record.1)),
            }
            match self.next_raw()? {
                Some(next) if next.0.key == history.key => record = next,
                Some(next) => {
                    self.pending = Some(next);
                    break;
                }
                None => break,
            }
        }
        if self.reverse {
            history.versions.reverse();
        }
        Ok(Some(history))
    }
}

impl Iterator for Histories<'_> {
    type Item = Result<KeyHistory, MvccError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.next_history().transpose();
        self.failed = matches!(next, Some(Err(_)));
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::testutil::{ts, txn};

    #[test]
    fn read_plans() {
        let k = Key::from("k");
        let mine = txn(1, 10);
        let other = txn(2, 10);
        assert_eq!(
            plan_read(&k, None, ts(5), None).unwrap(),
            ReadPlan::Committed { skip: None }
        );
        // Another transaction's intent conflicts at or above its timestamp only.
        assert!(matches!(
            plan_read(&k, Some(&other), ts(10), None),
            Ok(ReadPlan::Conflict(_))
        ));
        assert!(matches!(
            plan_read(&k, Some(&other), ts(10), Some(&mine)),
            Ok(ReadPlan::Conflict(_))
        ));
        assert_eq!(
            plan_read(&k, Some(&other), ts(9), None).unwrap(),
            ReadPlan::Committed { skip: Some(ts(10)) }
        );
        // One's own intent is visible whatever the read timestamp, in its epoch only.
        assert_eq!(
            plan_read(&k, Some(&mine), ts(1), Some(&mine)).unwrap(),
            ReadPlan::Provisional(ts(10))
        );
        let restarted = TxnMeta {
            epoch: 1,
            ..mine.clone()
        };
        assert_eq!(
            plan_read(&k, Some(&mine), ts(20), Some(&restarted)).unwrap(),
            ReadPlan::Committed { skip: Some(ts(10)) }
        );
        assert!(matches!(
            plan_read(&k, Some(&restarted), ts(20), Some(&mine)),
            Err(MvccError::EpochRegression {
                intent_epoch: 1,
                txn_epoch: 0,
                ..
            })
        ));
    }
}
