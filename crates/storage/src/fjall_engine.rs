//! The on-disk engine: [fjall](https://docs.rs/fjall), a pure-Rust LSM tree.
//!
//! One fjall `Database` per store directory, one fjall keyspace per [`Cf`]. A
//! [`WriteBatch`] becomes one fjall batch, which fjall commits atomically across keyspaces
//! through its single journal. [`Durability::Sync`] commits and then syncs the journal
//! ([`Engine::sync`]) before [`Engine::write`] returns: a node restarted on its store finds every
//! write it acknowledged.
//!
//! **Syncs that writes need not wait for.** fjall's own `persist(SyncAll)` holds the journal
//! writer's lock through the fsync, so every write to the store, from any thread, waited behind
//! a disk flush: a node's Raft appends, applies and SQL writes queued behind each group
//! commit's fsync, with the tokio worker blocked on the lock. [`FjallEngine`] takes that lock
//! only to hand the journal's buffer to the kernel (`PersistMode::Buffer`), then fsyncs the
//! active journal file through a descriptor of its own: fsync covers the file whichever
//! descriptor wrote it, and a journal sealed in between was fsynced by fjall as it rotated.
//!
//! Two things fjall does not do that the [`Engine`] contract needs, handled here:
//!
//! - **Order within a batch.** fjall gives every item of a batch the same sequence number, so
//!   two writes of one key in one batch would collide. [`FjallEngine::write`] keeps only the last
//!   write of each key, which is what applying the batch in order means.
//! - **Panics on bad keys.** fjall asserts that keys are 1 to 65535 bytes. Such keys are
//!   rejected with [`StorageError::InvalidKey`] before they reach it.
//!
//! fjall takes an exclusive lock on `<store>/lock` when it opens a directory; a second opener,
//! in this process or another, gets [`StorageError::StoreInUse`]. The lock is released when the
//! engine and every snapshot taken from it are dropped.

use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

use crate::StorageError;
use crate::engine::{Cf, Durability, Engine, KeyValue, Reader, ScanIter, WriteBatch, check_key};

/// Memory budgets of a [`FjallEngine`]. `None` keeps fjall's default (a 32 MiB block cache,
/// 64 MiB memtables per keyspace, of which up to four sealed ones may wait for their flush
/// before writes stall, and no bound on all memtables together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FjallOptions {
    /// Bytes of the block cache shared by the keyspaces.
    pub cache_bytes: Option<u64>,
    /// Bytes a keyspace's memtable holds before it is sealed and flushed. Applies to
    /// keyspaces created with it (fjall keeps the size a keyspace was created with).
    pub max_memtable_bytes: Option<u64>,
    /// Bytes the memtables of all keyspaces (active and sealed) may hold: a write that leaves
    /// more seals the active memtables of the keyspaces it wrote and waits (up to 10 s) for
    /// flushes to bring them below. fjall seals a full memtable only when one of its workers
    /// gets to it, and a writer faster than the workers (a snapshot being installed, say)
    /// otherwise grows the active memtable well past `max_memtable_bytes`.
    pub max_write_buffer_bytes: Option<u64>,
}

/// A store on disk.
pub struct FjallEngine {
    db: Database,
    keyspaces: Keyspaces,
    path: PathBuf,
    write_buffer_limit: Option<u64>,
    /// The active journal's id and a descriptor of it, for [`Engine::sync`].
    journal: parking_lot::Mutex<Option<(u64, File)>>,
}

/// One fjall keyspace per [`Cf`], indexed by [`cf_index`].
#[derive(Clone)]
struct Keyspaces([Keyspace; 3]);

impl Keyspaces {
    fn get(&self, cf: Cf) -> &Keyspace {
        &self.0[cf_index(cf)]
    }
}

fn cf_index(cf: Cf) -> usize {
    match cf {
        Cf::Data => 0,
        Cf::Raft => 1,
        Cf::State => 2,
    }
}

impl FjallEngine {
    /// Opens the store in directory `path`, creating it if needed.
    ///
    /// Fails with [`StorageError::StoreInUse`] when another engine (in any process) has it open.
    pub fn open(path: impl AsRef<Path>) -> Result<FjallEngine, StorageError> {
        FjallEngine::open_with(path, FjallOptions::default())
    }

    /// [`FjallEngine::open`] with memory budgets other than fjall's defaults.
    pub fn open_with(
        path: impl AsRef<Path>,
        options: FjallOptions,
    ) -> Result<FjallEngine, StorageError> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|e| StorageError::Engine {
            op: "create store directory",
            message: format!("{}: {e}", path.display()),
        })?;
        let mut builder = Database::builder(&path);
        if let Some(bytes) = options.cache_bytes {
            builder = builder.cache_size(bytes);
        }
        let db = builder.open().map_err(|e| match e {
            fjall::Error::Locked => StorageError::StoreInUse { path: path.clone() },
            e => engine_error("open store", e),
        })?;
        let open_cf = |cf: Cf| {
            let create = || match options.max_memtable_bytes {
                Some(bytes) => KeyspaceCreateOptions::default().max_memtable_size(bytes),
                None => KeyspaceCreateOptions::default(),
            };
            db.keyspace(cf.name(), create)
                .map_err(|e| engine_error("open keyspace", e))
        };
        let keyspaces = Keyspaces([open_cf(Cf::Data)?, open_cf(Cf::Raft)?, open_cf(Cf::State)?]);
        tracing::debug!(path = %path.display(), "opened fjall store");
        Ok(FjallEngine {
            db,
            keyspaces,
            path,
            write_buffer_limit: options.max_write_buffer_bytes,
            journal: parking_lot::Mutex::new(None),
        })
    }

    /// The store directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// See [`FjallOptions::max_write_buffer_bytes`]. (fjall's `write_buffer_size` and
    /// `rotate_memtable` are public but hidden from its docs.)
    fn hold_write_buffer(&self, limit: u64, written: [bool; 3]) {
        if self.db.write_buffer_size() <= limit {
            return;
        }
        for (keyspace, _) in self.keyspaces.0.iter().zip(written).filter(|(_, w)| *w) {
            if let Err(e) = keyspace.rotate_memtable() {
                tracing::warn!(error = %e, "sealing a memtable");
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.db.write_buffer_size() > limit && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

impl std::fmt::Debug for FjallEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FjallEngine")
            .field("path", &self.path)
            .finish()
    }
}

fn engine_error(op: &'static str, e: fjall::Error) -> StorageError {
    match e {
        fjall::Error::JournalRecovery(_)
        | fjall::Error::InvalidVersion(_)
        | fjall::Error::Decompress(_)
        | fjall::Error::InvalidTrailer
        | fjall::Error::InvalidTag(_)
        | fjall::Error::Unrecoverable => StorageError::Corruption {
            what: format!("{op}: {e}"),
        },
        e => StorageError::Engine {
            op,
            message: e.to_string(),
        },
    }
}

/// A range of keys as bounds.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The key range of a scan as fjall bounds, or `None` when it is empty.
fn bounds(start: &[u8], end: &[u8]) -> Option<KeyRange> {
    if end.is_empty() {
        return Some((Bound::Included(start.to_vec()), Bound::Unbounded));
    }
    (start < end).then(|| {
        (
            Bound::Included(start.to_vec()),
            Bound::Excluded(end.to_vec()),
        )
    })
}

/// Turns a fjall iterator into a [`ScanIter`].
fn scan_iter(iter: fjall::Iter, reverse: bool) -> ScanIter<'static> {
    let convert = |guard: fjall::Guard| {
        guard
            .into_inner()
            .map(|(k, v)| (k.to_vec(), v.to_vec()))
            .map_err(|e| engine_error("scan", e))
    };
    if reverse {
        Box::new(iter.rev().map(convert))
    } else {
        Box::new(iter.map(convert))
    }
}

fn empty_scan() -> ScanIter<'static> {
    Box::new(std::iter::empty::<Result<KeyValue, StorageError>>())
}

impl Reader for FjallEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if check_key(cf, key).is_err() {
            return Ok(None);
        }
        let value = self
            .keyspaces
            .get(cf)
            .get(key)
            .map_err(|e| engine_error("get", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_> {
        match bounds(start, end) {
            Some(range) => scan_iter(self.keyspaces.get(cf).range(range), reverse),
            None => empty_scan(),
        }
    }
}

impl Engine for FjallEngine {
    fn write(&self, batch: WriteBatch, durability: Durability) -> Result<(), StorageError> {
        if !batch.is_empty() {
            self.commit(batch)?;
        }
        match durability {
            Durability::Sync => self.sync(),
            Durability::Buffered => Ok(()),
        }
    }

    fn snapshot(&self) -> Arc<dyn Reader> {
        Arc::new(FjallSnapshot {
            snapshot: self.db.snapshot(),
            keyspaces: self.keyspaces.clone(),
        })
    }

    fn sync(&self) -> Result<(), StorageError> {
        // Under the journal lock: only the buffer goes to the kernel.
        self.db
            .persist(PersistMode::Buffer)
            .map_err(|e| engine_error("sync", e))?;
        // Outside it: the fsync. The newest journal holds what was just handed over, or that
        // journal was sealed (and fsynced by fjall) after it was.
        let io = |e: std::io::Error| StorageError::Engine {
            op: "sync",
            message: format!("{}: {e}", self.path.display()),
        };
        let mut journal = self.journal.lock();
        // fjall numbers journals consecutively: after the first sync, one `stat` of the next
        // id tells whether it rotated, instead of listing the directory on every sync.
        let next = match journal.as_ref() {
            None => Some(active_journal(&self.path).map_err(io)?),
            Some((id, _)) => {
                let mut newest = None;
                let mut id = *id;
                loop {
                    let path = self.path.join(format!("{}.jnl", id + 1));
                    if !path.exists() {
                        break;
                    }
                    id += 1;
                    newest = Some((id, path));
                }
                newest
            }
        };
        if let Some((id, path)) = next {
            *journal = Some((id, File::open(&path).map_err(io)?));
        }
        match journal.as_ref() {
            Some((_, file)) => file.sync_data().map_err(io),
            None => Err(io(std::io::Error::other("no journal file"))),
        }
    }

    fn approximate_size(&self, cf: Cf) -> u64 {
        self.keyspaces.get(cf).disk_space()
    }

    fn dir(&self) -> Option<&Path> {
        Some(&self.path)
    }
}

/// The highest-numbered journal file (`<id>.jnl`) in a fjall database directory: the one fjall
/// appends to.
fn active_journal(dir: &Path) -> std::io::Result<(u64, PathBuf)> {
    let mut best: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let id = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".jnl"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(id) = id
            && best.as_ref().is_none_or(|(b, _)| id > *b)
        {
            best = Some((id, path));
        }
    }
    best.ok_or_else(|| std::io::Error::other("no journal file"))
}

impl FjallEngine {
    /// Commits `batch` to the journal and memtables, without syncing.
    fn commit(&self, batch: WriteBatch) -> Result<(), StorageError> {
        let mut fjall_batch = self.db.batch().durability(Some(PersistMode::Buffer));
        let mut written = [false; 3];
        for ((cf, key), value) in batch.last_writes()? {
            written[cf_index(cf)] = true;
            let keyspace = self.keyspaces.get(cf);
            match value {
                Some(value) => fjall_batch.insert(keyspace, key, value),
                None => fjall_batch.remove(keyspace, key),
            }
        }
        fjall_batch.commit().map_err(|e| engine_error("write", e))?;
        if let Some(limit) = self.write_buffer_limit {
            self.hold_write_buffer(limit, written);
        }
        Ok(())
    }
}

/// A point-in-time view of a [`FjallEngine`].
struct FjallSnapshot {
    snapshot: fjall::Snapshot,
    keyspaces: Keyspaces,
}

impl Reader for FjallSnapshot {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if check_key(cf, key).is_err() {
            return Ok(None);
        }
        let value = self
            .snapshot
            .get(self.keyspaces.get(cf), key)
            .map_err(|e| engine_error("snapshot get", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, cf: Cf, start: &[u8], end: &[u8], reverse: bool) -> ScanIter<'_> {
        match bounds(start, end) {
            Some(range) => scan_iter(self.snapshot.range(self.keyspaces.get(cf), range), reverse),
            None => empty_scan(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    fn temp_engine() -> (tempfile::TempDir, Arc<dyn Engine>) {
        let dir = tempfile::tempdir().unwrap();
        let engine = FjallEngine::open(dir.path()).unwrap();
        (dir, Arc::new(engine))
    }

    #[test]
    fn conformance_suite() {
        // Each engine gets its own directory, kept alive until the suite ends.
        let dirs = parking_lot::Mutex::new(Vec::new());
        conformance::run_all(|| {
            let (dir, engine) = temp_engine();
            dirs.lock().push(dir);
            engine
        })
        .unwrap();
    }

    /// [`Engine::sync`] fsyncs the journal fjall appends to, also after fjall sealed the one
    /// the engine had open and started another (it does so at a flush once the journal
    /// passes 64 MB); what was synced is there after a reopen.
    #[test]
    fn sync_follows_the_active_journal_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let put = |engine: &FjallEngine, key: &[u8], value: Vec<u8>, durability| {
            let mut batch = WriteBatch::new();
            batch.put(Cf::Data, key.to_vec(), value);
            engine.write(batch, durability).unwrap();
        };
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            put(&engine, b"first", b"1".to_vec(), Durability::Sync);
            assert_eq!(active_journal(dir.path()).unwrap().0, 0);
            // Incompressible values (the journal compresses what it can).
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            for i in 0..66u32 {
                let value: Vec<u8> = (0..1 << 20)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                let key = format!("big{i:03}");
                put(&engine, key.as_bytes(), value, Durability::Buffered);
            }
            engine.sync().unwrap();
            engine
                .keyspaces
                .get(Cf::Data)
                .rotate_memtable_and_wait()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while active_journal(dir.path()).unwrap().0 == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the journal never rotated"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            put(&engine, b"last", b"2".to_vec(), Durability::Sync);
            assert_eq!(
                engine.journal.lock().as_ref().map(|(id, _)| *id),
                Some(active_journal(dir.path()).unwrap().0),
                "the sync used the new journal"
            );
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        assert_eq!(engine.get(Cf::Data, b"first").unwrap(), Some(b"1".to_vec()));
        assert_eq!(engine.get(Cf::Data, b"last").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            engine.get(Cf::Data, b"big065").unwrap().map(|v| v.len()),
            Some(1 << 20)
        );
    }

    #[test]
    fn conformance_durability_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        conformance::run_durability(|| {
            FjallEngine::open(dir.path()).map(|e| Arc::new(e) as Arc<dyn Engine>)
        })
        .unwrap();
    }

    #[test]
    fn mvcc_transaction_survives_reopen() {
        use crate::mvcc::testutil::{apply, get, put, ts, txn};
        use crate::mvcc::{TxnStatus, mvcc_resolve_intent};
        let dir = tempfile::tempdir().unwrap();
        let t1 = txn(1, 10);
        {
            let engine = FjallEngine::open(dir.path()).unwrap();
            put(&engine, "a", 5, Some("old"), None).unwrap();
            put(&engine, "a", 0, Some("new"), Some(&t1)).unwrap();
            engine.sync().unwrap();
        }
        let engine = FjallEngine::open(dir.path()).unwrap();
        assert_eq!(get(&engine, "a", 9).as_deref(), Some("old"));
        let key = base::Key::from("a");
        apply(&engine, |r, b| {
            mvcc_resolve_intent(r, b, &key, t1.id, TxnStatus::Committed, ts(11))
        })
        .unwrap();
        let snapshot = engine.snapshot();
        put(&engine, "a", 12, None, None).unwrap();
        assert_eq!(get(&engine, "a", 11).as_deref(), Some("new"));
        assert_eq!(get(&engine, "a", 12), None);
        let before = crate::mvcc::mvcc_get(snapshot.as_ref(), &key, ts(20), None).unwrap();
        assert_eq!(before.map(|v| v.bytes), Some(b"new".to_vec()));
    }

    /// With a write buffer budget, a writer faster than the flushes waits for them: the
    /// memtables never hold more than the budget after a write returns.
    #[test]
    fn a_write_buffer_budget_holds_writers_back() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 4 << 20;
        let options = FjallOptions {
            max_memtable_bytes: Some(1 << 20),
            max_write_buffer_bytes: Some(limit),
            ..FjallOptions::default()
        };
        let engine = FjallEngine::open_with(dir.path(), options).unwrap();
        let value = vec![7u8; 4096];
        for b in 0..64u32 {
            let mut batch = WriteBatch::new();
            for i in 0..128u32 {
                let key = [b.to_be_bytes(), i.to_be_bytes()].concat();
                batch.put(Cf::Data, key, value.clone());
            }
            engine.write(batch, Durability::Buffered).unwrap();
            assert!(engine.db.write_buffer_size() <= limit, "batch {b}");
        }
        assert_eq!(engine.scan(Cf::Data, b"", b"", false).count(), 64 * 128);
    }

    #[test]
    fn second_open_reports_store_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = FjallEngine::open(dir.path()).unwrap();
        let err = FjallEngine::open(dir.path()).unwrap_err();
        assert_eq!(
            err,
            StorageError::StoreInUse {
                path: dir.path().to_path_buf()
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "store directory {} is in use by another process",
                dir.path().display()
            )
        );
    }

    #[test]
    fn reopen_after_drop_succeeds() {
        let dir = tempfile::tempdir().unwrap();
        drop(FjallEngine::open(dir.path()).unwrap());
        FjallEngine::open(dir.path()).unwrap();
    }

    #[test]
    fn open_on_a_file_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = FjallEngine::open(&file).unwrap_err();
        assert!(matches!(err, StorageError::Engine { .. }), "{err:?}");
    }
}
