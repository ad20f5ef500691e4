//! The engine seam: a sorted key-value store with a few keyspaces, atomic batches across them,
//! point-in-time snapshots, and durable (fsynced) writes on request.
//!
//! Two implementations: [`crate::fjall_engine::FjallEngine`] (on disk) and
//! [`crate::memory::MemoryEngine`] (for `sextant demo` and tests). Both pass the one conformance
//! suite in [`crate::conformance`].

use std::sync::Arc;

/// The keyspaces of a store. Each is a separate sorted map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// MVCC data of every range on the node (versioned keys, intents).
    Data,
    /// Raft logs, votes and log metadata, keyed by range id.
    Raft,
    /// Per-range applied state and local node state (node identity, cluster id).
    State,
}

impl Cf {
    /// Every keyspace.
    pub const ALL: [Cf; 3] = [Cf::Data, Cf::Raft, Cf::State];

    /// The keyspace's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Data => "data",
            Cf::Raft => "raft",
            Cf::State => "state",
        }
    }
}

/// How durable a write must be before `write` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// fsync before returning: survives a machine crash. Raft log appends and votes use this.
    Sync,
    /// Buffered in the engine's journal: survives a process crash once flushed; the raft log
    /// makes state-machine writes recoverable anyway.
    Buffered,
}

/// One write in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put(Cf, Vec<u8>, Vec<u8>),
    /// Remove `key`.
    Delete(Cf, Vec<u8>),
}

/// Writes applied atomically, across keyspaces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> WriteBatch {
        WriteBatch::default()
    }

    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Put(cf, key.into(), value.into()));
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Delete(cf, key.into()));
    }

    /// Appends another batch.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }

    /// True when the batch holds no write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Approximate size in bytes of keys and values.
    pub fn size_bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                WriteOp::Put(_, k, v) => k.len() + v.len(),
                WriteOp::Delete(_, k) => k.len(),
            })
            .sum()
    }
}

/// A key-value pair from a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An iterator over a scan, in key order (or reverse order).
pub type ScanIter<'a> = Box<dyn Iterator<Item = Result<KeyValue, crate::StorageError>> + Send + 'a>;

/// Read access: the engine itself (latest state) or a snapshot.
pub trait Reader: Send + Sync {
    /// The value of `key`, if any.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, crate::StorageError>;
    /// Pairs with `start <= key < end` in key order, or reversed. An empty `end` means no
    /// upper bound.
    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_>;
}

/// A store.
pub trait Engine: Reader + 'static {
    /// Applies the batch atomically.
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<(), crate::StorageError>;
    /// A consistent read view of the current state; later writes are not visible in it.
    fn snapshot(&self) -> Arc<dyn Reader>;
    /// Makes every write so far durable.
    fn sync(&self) -> Result<(), crate::StorageError>;
    /// Approximate bytes used on disk (or in memory) by a keyspace.
    fn approximate_size(&self, cf: Cf) -> u64;
    /// The directory the engine keeps its files in, if it is on disk. Other files of the
    /// store (a Raft snapshot being received, say) may live in subdirectories of it; an engine
    /// without one (in memory) has them in the system's temporary directory.
    fn dir(&self) -> Option<&std::path::Path> {
        None
    }
}

/// The largest key the engines accept, in bytes (fjall's limit). Keys must not be empty.
pub const MAX_KEY_LEN: usize = u16::MAX as usize;

/// Checks a key against the engines' limits, so a bad key is an error rather than a panic
/// inside fjall.
pub(crate) fn check_key(cf: Cf, key: &[u8]) -> Result<(), crate::StorageError> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(crate::StorageError::InvalidKey {
            cf: cf.name(),
            len: key.len(),
        });
    }
    Ok(())
}

/// The last write of each key of a batch: the value, or `None` for a delete.
pub(crate) type LastWrites = std::collections::BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>>;

impl WriteBatch {
    /// The last write of each key, in key order (`None` is a delete): the effect of applying
    /// the batch in order. Fails, before anything is applied, on a key beyond the limits.
    pub(crate) fn last_writes(self) -> Result<LastWrites, crate::StorageError> {
        let mut writes = std::collections::BTreeMap::new();
        for op in self.ops {
            let (cf, key, value) = match op {
                WriteOp::Put(cf, key, value) => (cf, key, Some(value)),
                WriteOp::Delete(cf, key) => (cf, key, None),
            };
            check_key(cf, &key)?;
            writes.insert((cf, key), value);
        }
        Ok(writes)
    }
}
