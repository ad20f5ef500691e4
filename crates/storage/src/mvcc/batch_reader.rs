//! Read-your-writes: a [`Reader`] that sees a base reader with a pending batch on top.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::iter::Peekable;

use crate::StorageError;
use crate::engine::{Cf, KeyValue, Reader, ScanIter, WriteBatch, WriteOp};

/// A base reader overlaid with a batch not yet written, as the state will be once it is.
///
/// The MVCC write functions read through one over their own batch, so writes evaluated into one
/// batch see each other; a request that also reads evaluates those reads through one too.
/// Point reads look through the batch from its end (O(batch length)); a scan first collects the
/// batch's writes in its range and merges them with the base scan.
pub struct BatchReader<'a> {
    base: &'a dyn Reader,
    batch: &'a WriteBatch,
}

impl<'a> BatchReader<'a> {
    /// `base` with `batch` applied on top.
    pub fn new(base: &'a dyn Reader, batch: &'a WriteBatch) -> BatchReader<'a> {
        BatchReader { base, batch }
    }

    /// The batch's writes in `cf` within `[start, end)` (empty `end`: unbounded), the last
    /// write of each key winning, in scan order. `None` is a delete.
    fn overlay(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> VecDeque<Overlay> {
        let in_range = |k: &[u8]| k >= start && (end.is_empty() || k < end);
        let mut writes = BTreeMap::new();
        for op in &self.batch.ops {
            match op {
                WriteOp::Put(c, k, v) if *c == cf && in_range(k) => {
                    writes.insert(k.clone(), Some(v.clone()));
                }
                WriteOp::Delete(c, k) if *c == cf && in_range(k) => {
                    writes.insert(k.clone(), None);
                }
                _ => {}
            }
        }
        if reverse {
            writes.into_iter().rev().collect()
        } else {
            writes.into_iter().collect()
        }
    }
}

/// A batch write seen by a scan: the key, and its value or `None` for a delete.
type Overlay = (Vec<u8>, Option<Vec<u8>>);

impl Reader for BatchReader<'_> {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        for op in self.batch.ops.iter().rev() {
            match op {
                WriteOp::Put(c, k, v) if *c == cf && k == key => return Ok(Some(v.clone())),
                WriteOp::Delete(c, k) if *c == cf && k == key => return Ok(None),
                _ => {}
            }
        }
        self.base.get(cf, key)
    }

    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_> {
        let overlay = self.overlay(cf, start, end, reverse);
        let base = self.base.scan(cf, start, end, reverse);
        if overlay.is_empty() {
            return base;
        }
        Box::new(Merge {
            base: base.peekable(),
            overlay,
            reverse,
        })
    }
}

/// Merges a base scan with the batch's writes in the same range and direction.
struct Merge<'a> {
    base: Peekable<ScanIter<'a>>,
    overlay: VecDeque<Overlay>,
    reverse: bool,
}

impl Iterator for Merge<'_> {
    type Item = Result<KeyValue, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            // Which comes first in scan order: the base's next key or the overlay's.
            let order = match (self.base.peek(), self.overlay.front()) {
                (Some(Err(_)), _) | (Some(Ok(_)), None) => return self.base.next(),
                (None, None) => return None,
                (None, Some(_)) => Ordering::Greater,
                (Some(Ok((base_key, _))), Some((key, _))) => {
                    let order = base_key.cmp(key);
                    if self.reverse { order.reverse() } else { order }
                }
            };
            if order == Ordering::Less {
                return self.base.next();
            }
            if order == Ordering::Equal {
                // The batch's write replaces the base's value.
                self.base.next();
            }
            let (key, value) = self.overlay.pop_front()?;
            if let Some(value) = value {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Engine, MemoryEngine};

    fn scan(r: &dyn Reader, start: &[u8], end: &[u8], reverse: bool) -> Vec<(String, String)> {
        r.scan(Cf::Data, start, end, reverse)
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap())
            })
            .collect()
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn batch_writes_shadow_the_base() {
        let engine = MemoryEngine::new();
        let mut base = WriteBatch::new();
        for k in ["a", "c", "e", "g"] {
            base.put(Cf::Data, k, "base");
        }
        engine.write(base, Durability::Buffered).unwrap();

        let mut batch = WriteBatch::new();
        batch.put(Cf::Data, "b", "new");
        batch.put(Cf::Data, "c", "new");
        batch.delete(Cf::Data, "e");
        batch.put(Cf::Data, "h", "gone");
        batch.delete(Cf::Data, "h");
        batch.put(Cf::Raft, "d", "other keyspace");
        let r = BatchReader::new(&engine, &batch);

        assert_eq!(r.get(Cf::Data, b"c").unwrap(), Some(b"new".to_vec()));
        assert_eq!(r.get(Cf::Data, b"e").unwrap(), None);
        assert_eq!(r.get(Cf::Data, b"h").unwrap(), None);
        assert_eq!(r.get(Cf::Data, b"g").unwrap(), Some(b"base".to_vec()));
        assert_eq!(r.get(Cf::Data, b"d").unwrap(), None);

        let expected = pairs(&[("a", "base"), ("b", "new"), ("c", "new"), ("g", "base")]);
        assert_eq!(scan(&r, b"", b"", false), expected);
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(scan(&r, b"", b"", true), reversed);
        assert_eq!(
            scan(&r, b"b", b"g", false),
            pairs(&[("b", "new"), ("c", "new")])
        );
        assert_eq!(
            scan(&r, b"b", b"g", true),
            pairs(&[("c", "new"), ("b", "new")])
        );
    }
}
