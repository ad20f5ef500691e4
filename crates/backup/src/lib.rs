//! BACKUP and RESTORE: the backup file format, collections and manifests.
//!
//! - A **data file** ([`format`]) holds sorted MVCC versions in zstd-compressed blocks, each
//!   with a crc32c checksum, an index block and a checksummed footer.
//! - A **manifest** ([`manifest`]) describes one backup layer and is written last.
//! - A **collection** ([`collection`]) is CockroachDB's directory layout.

pub mod collection;
pub mod error;
pub mod format;
pub mod manifest;
