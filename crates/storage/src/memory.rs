//! The in-memory engine, for `sextant demo` and tests.
//!
//! The whole store is one immutable `State` (a `BTreeMap` per [`Cf`]) behind an `Arc`, and the
//! engine holds the current one under a lock. A snapshot, and every scan, takes the current
//! `Arc`: O(1), and later writes cannot be seen through it. A write copies the state only when
//! some snapshot still holds it (`Arc::make_mut`), so the usual cost of a write is one map
//! insert and the worst case is one copy of the store per write while snapshots are held.
//!
//! It has the semantics of [`crate::fjall_engine::FjallEngine`], checked by the same conformance
//! suite, including its key limits (1 to 65535 bytes). Nothing survives the process.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::StorageError;
use crate::engine::{Cf, Durability, Engine, KeyValue, Reader, ScanIter, WriteBatch, check_key};

/// Entries fetched from the map at a time by a scan.
const SCAN_CHUNK: usize = 64;

/// A store in memory.
#[derive(Default)]
pub struct MemoryEngine {
    state: RwLock<Arc<State>>,
}

/// One version of the whole store.
#[derive(Clone, Default)]
struct State {
    maps: [BTreeMap<Vec<u8>, Vec<u8>>; 3],
    /// Bytes of keys and values per keyspace.
    sizes: [u64; 3],
}

fn cf_index(cf: Cf) -> usize {
    match cf {
        Cf::Data => 0,
        Cf::Raft => 1,
        Cf::State => 2,
    }
}

fn entry_size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64
}

impl MemoryEngine {
    /// An empty store.
    pub fn new() -> MemoryEngine {
        MemoryEngine::default()
    }

    fn current(&self) -> Arc<State> {
        self.state.read().clone()
    }
}

impl std::fmt::Debug for MemoryEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.current();
        f.debug_struct("MemoryEngine")
            .field("bytes", &state.sizes)
            .finish()
    }
}

impl State {
    fn get(&self, cf: Cf, key: &[u8]) -> Option<Vec<u8>> {
        self.maps[cf_index(cf)].get(key).cloned()
    }

    fn apply(&mut self, cf: Cf, key: Vec<u8>, value: Option<Vec<u8>>) {
        let i = cf_index(cf);
        let added = value.as_ref().map_or(0, |v| entry_size(&key, v));
        let removed = match value {
            Some(value) => self.maps[i].insert(key.clone(), value),
            None => self.maps[i].remove(&key),
        };
        let removed = removed.map_or(0, |v| entry_size(&key, &v));
        self.sizes[i] = self.sizes[i].saturating_sub(removed).saturating_add(added);
    }
}

impl Reader for MemoryEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.state.read().get(cf, key))
    }

    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_> {
        Box::new(MemoryScan::new(self.current(), cf, start, end, reverse))
    }
}

impl Engine for MemoryEngine {
    fn write(&self, batch: WriteBatch, _durability: Durability) -> Result<(), StorageError> {
        // Validate the whole batch before applying any of it: writes are atomic.
        let writes = batch.last_writes()?;
        let mut guard = self.state.write();
        let state = Arc::make_mut(&mut guard);
        for ((cf, key), value) in writes {
            state.apply(cf, key, value);
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<dyn Reader> {
        Arc::new(MemorySnapshot(self.current()))
    }

    fn sync(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn approximate_size(&self, cf: Cf) -> u64 {
        self.state.read().sizes[cf_index(cf)]
    }
}

/// A point-in-time view of a [`MemoryEngine`].
struct MemorySnapshot(Arc<State>);

impl Reader for MemorySnapshot {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if check_key(cf, key).is_err() {
            return Ok(None);
        }
        Ok(self.0.get(cf, key))
    }

    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_> {
        Box::new(MemoryScan::new(self.0.clone(), cf, start, end, reverse))
    }
}

/// A scan over one [`State`], fetching [`SCAN_CHUNK`] entries at a time so that it owns its
/// state instead of borrowing a map.
struct MemoryScan {
    state: Arc<State>,
    cf: Cf,
    /// The bounds still to scan; they shrink as entries are fetched.
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    reverse: bool,
    buffer: VecDeque<KeyValue>,
}

impl MemoryScan {
    fn new(state: Arc<State>, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> MemoryScan {
        let upper = if end.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Excluded(end.to_vec())
        };
        MemoryScan {
            state,
            cf,
            lower: Bound::Included(start.to_vec()),
            upper,
            reverse,
            buffer: VecDeque::new(),
        }
    }

    /// True when no key lies between the bounds (and `BTreeMap::range` would panic or return
    /// nothing).
    fn exhausted(&self) -> bool {
        let lower = match &self.lower {
            Bound::Included(k) | Bound::Excluded(k) => k,
            Bound::Unbounded => return false,
        };
        match &self.upper {
            Bound::Excluded(upper) => lower >= upper,
            Bound::Included(upper) => lower > upper,
            Bound::Unbounded => false,
        }
    }

    fn refill(&mut self) {
        if self.exhausted() {
            return;
        }
        let map = &self.state.maps[cf_index(self.cf)];
        let range = map.range::<Vec<u8>, _>((self.lower.clone(), self.upper.clone()));
        let chunk: Vec<KeyValue> = if self.reverse {
            range
                .rev()
                .take(SCAN_CHUNK)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            range
                .take(SCAN_CHUNK)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        match chunk.last() {
            Some((last, _)) if self.reverse => self.upper = Bound::Excluded(last.clone()),
            Some((last, _)) => self.lower = Bound::Excluded(last.clone()),
            // Nothing left: make the bounds empty so later calls return at once.
            None => self.upper = Bound::Excluded(Vec::new()),
        }
        self.buffer.extend(chunk);
    }
}

impl Iterator for MemoryScan {
    type Item = Result<KeyValue, StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() {
            self.refill();
        }
        self.buffer.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[test]
    fn conformance_suite() {
        conformance::run_all(|| Arc::new(MemoryEngine::new())).unwrap();
    }

    #[test]
    fn scans_longer_than_a_chunk_see_every_key_once() {
        let engine = MemoryEngine::new();
        let mut batch = WriteBatch::new();
        for i in 0..(3 * SCAN_CHUNK as u32 + 5) {
            batch.put(Cf::Data, i.to_be_bytes(), b"v".to_vec());
        }
        engine.write(batch, Durability::Buffered).unwrap();
        let keys = |reverse| -> Vec<Vec<u8>> {
            engine
                .scan(Cf::Data, &[], &[], reverse)
                .map(|kv| kv.unwrap().0)
                .collect()
        };
        let forward = keys(false);
        assert_eq!(forward.len(), 3 * SCAN_CHUNK + 5);
        assert!(forward.windows(2).all(|w| w[0] < w[1]));
        let mut reverse = keys(true);
        reverse.reverse();
        assert_eq!(forward, reverse);
    }

    #[test]
    fn sizes_follow_writes() {
        let engine = MemoryEngine::new();
        let mut batch = WriteBatch::new();
        batch.put(Cf::Raft, b"ab".to_vec(), b"xyz".to_vec());
        engine.write(batch, Durability::Sync).unwrap();
        assert_eq!(engine.approximate_size(Cf::Raft), 5);
        let mut batch = WriteBatch::new();
        batch.delete(Cf::Raft, b"ab".to_vec());
        engine.write(batch, Durability::Sync).unwrap();
        assert_eq!(engine.approximate_size(Cf::Raft), 0);
    }
}
