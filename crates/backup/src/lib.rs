//! BACKUP and RESTORE: the backup file format, collections and manifests, the backup and
//! restore jobs with their distributed processors, SHOW BACKUP(S), and external connections.
//!
//! # Concepts
//! - A **data file** ([`format`]) holds sorted MVCC versions in zstd-compressed blocks, each
//!   with a crc32c checksum, an index block and a checksummed footer; a reader names the file
//!   and block of any corruption or truncation.
//! - A **manifest** ([`manifest`]) describes one backup layer (full or incremental): its time
//!   bounds, spans, files, and the descriptors and zone configurations RESTORE re-creates. It
//!   is written last: a layer without one is never listed or restored.
//! - A **collection** ([`collection`]) is CockroachDB's directory layout: dated full backups,
//!   `incrementals/…`, a `LATEST` file, and for locality-aware backups one URI per
//!   `COCKROACH_LOCALITY`.
//! - The **jobs** ([`backup`], [`restore`]) run on the job registry: a statement hook on the
//!   gateway decides everything that needs no storage access and creates the job; the
//!   coordinator plans the spans over the nodes matching the execution locality and runs a
//!   flow of processors (`backup.export`, `restore.ingest`) that move data straight between
//!   KV and external storage on their own node; progress is checkpointed per span, so a job
//!   adopted after a crash skips what is done.
//!
//! # The life of `BACKUP DATABASE movr INTO 's3://b/c' WITH EXECUTION LOCALITY = 'region=us-west1'`
//! 1. [`backup::BackupHook`] fixes the end time, resolves `movr` ([`targets`]), and calls
//!    `jobs::Registry::create_job`, which fails at once (no job) when no node matches the
//!    filter and otherwise hands the job to a matching coordinator.
//! 2. [`backup::BackupResumer`] plans the table spans (`JobContext::plan_spans`) and runs
//!    [`backup::ExportProcessor`] on the planned nodes; each exports its spans at the end time
//!    from its nearest replica and writes `…/data/<job>-<node>-<rand>.sst` to the URI of its
//!    locality.
//! 3. The coordinator checkpoints finished spans, writes `BACKUP_MANIFEST` and then `LATEST`,
//!    and sets the result (`rows`, `index_entries`, `bytes`). The gateway, which waited with
//!    `wait_for_job` whatever its own locality, returns the row.
//!
//! RESTORE runs the same way in reverse ([`restore`]): new descriptor ids, data ingested with
//! keys rewritten to them, and the descriptors published in one transaction at the end.
//!
//! # Wiring
//! A node calls [`register`] once with its SQL server, job registry and storage context.
//! Tests call [`register_with_knobs`] with one [`TestingKnobs`] shared by every node of an
//! in-process cluster, to change behaviour while it runs (for example, a wait before each
//! exported or ingested span, so a node can be stopped while a backup or restore is half
//! done); every knob is off by default.
//!
//! # Tests
//! `tests/it` runs in-process clusters: round trips, execution locality, corrupt files,
//! SeaweedFS and moto (`backup_restore`, `moto`); the seed's secondary region of non-voting
//! replicas, checked with the KV nodes' per-gateway read counters (`kv::metrics`), where a
//! backup `AS OF SYSTEM TIME follower_read_timestamp()` reads its table data only from the
//! replicas of its own region (`placement`); and a coordinator stopped mid-backup or
//! mid-restore, its job adopted in the locality (`fault`).

#![recursion_limit = "256"]

pub mod backup;
pub mod collection;
pub mod connection;
pub mod env;
pub mod error;
pub mod format;
pub mod manifest;
pub mod restore;
pub mod show;
pub mod targets;

use std::sync::Arc;

use sql::SqlServer;
use sql::session::HookKind;

pub use connection::resolve_external;
pub use env::{Env, TestingKnobs};
pub use error::BackupError;

/// Registers on one node: the BACKUP, RESTORE, SHOW BACKUP and EXTERNAL CONNECTION statement
/// hooks on `sql`, the BACKUP and RESTORE resumers and the `backup.export` and
/// `restore.ingest` processors on `jobs`. `storage` says how this node opens external storage
/// (its id, external IO directory and nodelocal peers); external connections are read from KV.
pub fn register(sql: &SqlServer, jobs: &jobs::Registry, storage: cloud::StorageContext) {
    register_with_knobs(sql, jobs, storage, Arc::default());
}

/// [`register`] with testing knobs (see [`TestingKnobs`]); tests share one `knobs` between the
/// nodes of a cluster to change their behaviour while it runs.
pub fn register_with_knobs(
    sql: &SqlServer,
    jobs: &jobs::Registry,
    storage: cloud::StorageContext,
    knobs: Arc<TestingKnobs>,
) {
    let env = Env {
        sql: sql.clone(),
        jobs: jobs.clone(),
        storage,
        knobs,
    };
    sql.register_hook(
        HookKind::Backup,
        Arc::new(backup::BackupHook { env: env.clone() }),
    );
    sql.register_hook(
        HookKind::Restore,
        Arc::new(restore::RestoreHook { env: env.clone() }),
    );
    sql.register_hook(
        HookKind::ShowBackup,
        Arc::new(show::ShowBackupHook { env: env.clone() }),
    );
    sql.register_hook(
        HookKind::ExternalConnection,
        Arc::new(connection::ConnectionHook),
    );
    jobs.register_resumer(
        jobs::JobType::Backup,
        Arc::new(backup::BackupResumer { env: env.clone() }),
    );
    jobs.register_resumer(
        jobs::JobType::Restore,
        Arc::new(restore::RestoreResumer { env: env.clone() }),
    );
    jobs.register_processor(
        backup::EXPORT_PROCESSOR,
        Arc::new(backup::ExportProcessor { env: env.clone() }),
    );
    jobs.register_processor(
        restore::INGEST_PROCESSOR,
        Arc::new(restore::IngestProcessor { env }),
    );
}
