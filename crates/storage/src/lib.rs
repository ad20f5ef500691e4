//! Storage for one Sextant node: a sorted key-value engine, and MVCC on top of it.
//!
//! # Concepts
//!
//! - **Engine** ([`engine`]): the seam to the embedded store. An [`Engine`] is a sorted map in
//!   three keyspaces ([`Cf`]: `Data` for MVCC records of every range on the node, `Raft` for
//!   Raft logs and votes, `State` for applied state and node identity), with atomic
//!   [`WriteBatch`]es across keyspaces, point-in-time snapshots, and writes made durable on
//!   request ([`Durability::Sync`] fsyncs before returning). Two implementations:
//!   [`FjallEngine`] on disk (one fjall keyspace per `Cf`) and [`MemoryEngine`] for
//!   `sextant demo` and tests. Both pass the one suite in [`conformance`].
//! - **MVCC** ([`mvcc`]): versioned keys over `Cf::Data`. Every write of a key is a version at an
//!   HLC timestamp; a read at `ts` sees the newest version at or below it. Transactions write
//!   *intents* (an intent record plus a provisional version) that other readers and writers
//!   must resolve before going past them. The record layout is in [`mvcc::key`].
//!
//! # Invariants
//!
//! - A batch is applied entirely or not at all, in order (the last write of a key wins), and
//!   a snapshot never sees a later batch.
//! - A write acknowledged with [`Durability::Sync`] survives a crash and restart of the node.
//! - MVCC functions never write to the engine: they read through a [`Reader`] and append to a
//!   `WriteBatch`, so the leaseholder evaluates a request once and every replica applies the
//!   same batch through Raft.
//! - The MVCC key encoding is order-preserving: raw keys sort by user key, then newest version
//!   first, and a key's intent record sorts before its versions.
//! - No I/O error panics: it becomes a [`StorageError`].
//!
//! # The life of an MVCC write and read
//!
//! 1. The node opens its store: [`FjallEngine::open`] takes the directory's lock (a second
//!    process gets [`StorageError::StoreInUse`]) and replays fjall's journal.
//! 2. A leaseholder evaluates a transactional put: [`mvcc::mvcc_put`] reads the key's intent
//!    record and newest version from a snapshot ([`Engine::snapshot`]) through a
//!    [`mvcc::BatchReader`] over the request's batch, then appends the intent record and the
//!    provisional version ([`mvcc::key::meta_key`], [`mvcc::key::version_key`]).
//! 3. The batch is replicated by Raft (the log itself is written to `Cf::Raft` with
//!    `Durability::Sync`) and applied on every replica with [`Engine::write`].
//! 4. A reader calls [`mvcc::mvcc_get`] or [`mvcc::mvcc_scan`] at its timestamp. Meeting the
//!    intent at or below its timestamp it gets [`mvcc::MvccError::WriteIntent`], pushes the
//!    transaction, and waits.
//! 5. The transaction commits; [`mvcc::mvcc_resolve_intent`] turns the provisional value into a
//!    committed version at the commit timestamp and removes the intent record, in another
//!    batch through Raft.
//! 6. The reader retries and sees the value. Later, BACKUP reads it with
//!    [`mvcc::mvcc_export`], a changefeed's catch-up scan with [`mvcc::mvcc_changes`], and a new
//!    replica receives it verbatim through [`mvcc::raw_snapshot_entries`] and
//!    [`mvcc::apply_raw_snapshot`].

#![warn(missing_docs)]

pub mod conformance;
pub mod engine;
pub mod fjall_engine;
pub mod memory;
pub mod mvcc;

use std::path::PathBuf;

pub use engine::{Cf, Durability, Engine, KeyValue, Reader, ScanIter, WriteBatch, WriteOp};
pub use fjall_engine::{FjallEngine, FjallOptions};
pub use memory::MemoryEngine;
pub use mvcc::{
    BatchReader, Export, ExportEntry, Intent, MvccError, ScanResult, Stats, TxnMeta, TxnStatus,
    Value,
};

/// A storage failure. None is retryable: the store cannot be used as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The engine failed to read, write or sync (an I/O error, a poisoned journal). After a
    /// failed write or sync the store may refuse further writes; the node should stop.
    #[error("storage engine error during {op}: {message}")]
    Engine {
        /// The operation that failed, e.g. `write`, `sync`, `open store`.
        op: &'static str,
        /// The engine's description of the failure.
        message: String,
    },
    /// Stored data does not decode.
    #[error("corrupt data in the store: {what}")]
    Corruption {
        /// What was found, and where.
        what: String,
    },
    /// The store directory is locked by another open engine (another process, or the same
    /// process opening it twice). Stop the other node or pick another `--store`.
    #[error("store directory {} is in use by another process", path.display())]
    StoreInUse {
        /// The store directory.
        path: PathBuf,
    },
    /// A key the engine cannot store: empty, or longer than [`engine::MAX_KEY_LEN`] bytes.
    #[error("invalid key of {len} bytes in keyspace {cf}: keys must be 1 to 65535 bytes")]
    InvalidKey {
        /// The keyspace written.
        cf: &'static str,
        /// The key's length in bytes.
        len: usize,
    },
}
