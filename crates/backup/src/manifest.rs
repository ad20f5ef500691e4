//! The backup manifest: everything RESTORE and SHOW BACKUP need to know about one backup layer.
//!
//! A manifest is JSON, stored as `BACKUP_MANIFEST` in the layer's directory, next to
//! `BACKUP_MANIFEST-CHECKSUM` (the crc32c of the JSON bytes as 8 hex digits). The checksum is
//! written first and the manifest last, so a directory with a manifest is a complete backup;
//! [`read_manifest`] refuses a manifest whose checksum does not match, naming the file.
//!
//! It records the layer's type and time bounds (`(start_time, end_time]`; a full backup starts
//! at zero), whether every MVCC revision was kept, the spans it covers, every data file with
//! its span, locality and counts, the descriptors of the backed-up databases, schemas, types
//! and tables as they were at `end_time`, their zone configurations (raw records, so a restored
//! multi-region database keeps its placement), and the layers before it in its chain.

use base::{Span, Timestamp};
use bytes::Bytes;
use cloud::ExternalStorage;
use serde::{Deserialize, Serialize};
use sql::catalog::{DatabaseDesc, Descriptor, TableDesc};

use crate::error::{BackupError, Result};

/// The manifest's file name.
pub const MANIFEST_NAME: &str = "BACKUP_MANIFEST";
/// The checksum's file name.
pub const CHECKSUM_NAME: &str = "BACKUP_MANIFEST-CHECKSUM";
/// The manifest format written.
pub const MANIFEST_VERSION: u32 = 1;

/// Full or incremental.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    /// Every version as of `end_time`.
    Full,
    /// Changes in `(start_time, end_time]`, on top of the previous layer.
    Incremental,
}

impl BackupType {
    /// `full` or `incremental` (SHOW BACKUP's `backup_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackupType::Full => "full",
            BackupType::Incremental => "incremental",
        }
    }
}

/// One data file of a layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupFile {
    /// The path relative to the collection root of the URI that holds it.
    pub path: String,
    /// The span whose data it holds.
    pub span: Span,
    /// The `k=v` locality of the URI that holds it; `None` for the default URI.
    pub locality: Option<String>,
    /// Primary-index entries (rows).
    pub rows: u64,
    /// Secondary-index entries.
    pub index_entries: u64,
    /// Bytes of keys and values.
    pub bytes: u64,
    /// Bytes of the file.
    pub file_bytes: u64,
}

/// A zone configuration record, kept raw: the target (`<id>` or `<id>/<partition>`) and the
/// stored JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneRecord {
    /// The descriptor id the zone belongs to.
    pub id: u64,
    /// What follows the id in the zone key (`""` or `/<partition suffix>`).
    pub suffix: String,
    /// The stored bytes.
    pub value: Vec<u8>,
}

/// One backup layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format.
    pub version: u32,
    /// The job that wrote it.
    pub job_id: u64,
    /// Full or incremental.
    pub backup_type: BackupType,
    /// Exclusive lower bound (zero for a full backup).
    pub start_time: Timestamp,
    /// Inclusive upper bound: the backup's `AS OF SYSTEM TIME`.
    pub end_time: Timestamp,
    /// Every revision in `(start_time, end_time]` rather than the latest.
    pub revision_history: bool,
    /// The spans covered.
    pub spans: Vec<Span>,
    /// The data files.
    pub files: Vec<BackupFile>,
    /// Databases, schemas, types and tables, at `end_time`.
    pub descriptors: Vec<Descriptor>,
    /// Databases backed up whole (`BACKUP DATABASE`).
    pub complete_dbs: Vec<u64>,
    /// Zone configurations of the backed-up objects.
    pub zones: Vec<ZoneRecord>,
    /// The `k=v` localities of a locality-aware backup (sorted; empty when not).
    pub localities: Vec<String>,
    /// The directories (relative to the collection) of the layers before this one, oldest
    /// first; empty for a full backup.
    pub previous: Vec<String>,
    /// The statement's description, for SHOW BACKUP and debugging.
    pub description: String,
    /// A full-cluster backup (`BACKUP INTO` without targets): every database but `system`.
    #[serde(default)]
    pub full_cluster: bool,
}

impl Manifest {
    /// The tables it holds.
    pub fn tables(&self) -> impl Iterator<Item = &TableDesc> {
        self.descriptors.iter().filter_map(|d| match d {
            Descriptor::Table(t) => Some(t),
            _ => None,
        })
    }

    /// The databases it holds.
    pub fn databases(&self) -> impl Iterator<Item = &DatabaseDesc> {
        self.descriptors.iter().filter_map(|d| match d {
            Descriptor::Database(db) => Some(db),
            _ => None,
        })
    }

    /// The descriptor with this id.
    pub fn descriptor(&self, id: u64) -> Option<&Descriptor> {
        self.descriptors.iter().find(|d| d.id() == id)
    }

    /// Total rows, index entries and bytes over the files.
    pub fn totals(&self) -> (u64, u64, u64) {
        self.files.iter().fold((0, 0, 0), |(r, i, b), f| {
            (r + f.rows, i + f.index_entries, b + f.bytes)
        })
    }

    /// The JSON encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| BackupError::Internal(format!("manifest: {e}")))
    }
}

/// The checksum file's content for `bytes`.
pub fn checksum_text(bytes: &[u8]) -> String {
    format!("{:08x}", crc32c::crc32c(bytes))
}

/// Decodes a manifest read from `path`, checking it against `checksum` (the checksum file).
pub fn decode_manifest(path: &str, bytes: &[u8], checksum: &[u8]) -> Result<Manifest> {
    let want = String::from_utf8_lossy(checksum).trim().to_string();
    if checksum_text(bytes) != want {
        return Err(BackupError::corrupt(path, "checksum mismatch"));
    }
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| BackupError::corrupt(path, format!("cannot decode: {e}")))?;
    if m.version != MANIFEST_VERSION {
        return Err(BackupError::corrupt(
            path,
            format!("unsupported manifest version {}", m.version),
        ));
    }
    Ok(m)
}

/// Writes `m` into directory `dir` of `storage`: the checksum, then the manifest.
pub async fn write_manifest(storage: &dyn ExternalStorage, dir: &str, m: &Manifest) -> Result<()> {
    let bytes = m.encode()?;
    let sum = checksum_text(&bytes);
    storage
        .put(&join(dir, CHECKSUM_NAME), Bytes::from(sum.into_bytes()))
        .await?;
    storage
        .put(&join(dir, MANIFEST_NAME), Bytes::from(bytes))
        .await?;
    Ok(())
}

/// Reads and checks the manifest in directory `dir` of `storage`.
pub async fn read_manifest(storage: &dyn ExternalStorage, dir: &str) -> Result<Manifest> {
    let path = join(dir, MANIFEST_NAME);
    let bytes = storage.get(&path).await?;
    let sum = match storage.get(&join(dir, CHECKSUM_NAME)).await {
        Ok(s) => s,
        Err(e) if e.is_not_found() => {
            return Err(BackupError::corrupt(&path, "its checksum file is missing"));
        }
        Err(e) => return Err(e.into()),
    };
    decode_manifest(&path, &bytes, &sum)
}

/// Whether directory `dir` of `storage` holds a manifest (a complete backup layer).
pub async fn exists(storage: &dyn ExternalStorage, dir: &str) -> Result<bool> {
    match storage.size(&join(dir, MANIFEST_NAME)).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Joins a directory and a name with one `/`.
pub fn join(dir: &str, name: &str) -> String {
    let dir = dir.trim_matches('/');
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Key;

    fn sample() -> Manifest {
        Manifest {
            version: MANIFEST_VERSION,
            job_id: 7,
            backup_type: BackupType::Full,
            start_time: Timestamp::default(),
            end_time: Timestamp {
                wall: 1_700_000_000_000_000_000,
                logical: 0,
            },
            revision_history: false,
            spans: vec![Span::new(Key(vec![0x89]), Key(vec![0x8a]))],
            files: vec![BackupFile {
                path: "2023/11/14-221320.00/data/1.sst".into(),
                span: Span::new(Key(vec![0x89]), Key(vec![0x8a])),
                locality: None,
                rows: 3,
                index_entries: 1,
                bytes: 100,
                file_bytes: 80,
            }],
            descriptors: Vec::new(),
            complete_dbs: Vec::new(),
            zones: Vec::new(),
            localities: Vec::new(),
            previous: Vec::new(),
            description: "BACKUP TABLE t INTO 'nodelocal://1/x'".into(),
            full_cluster: false,
        }
    }

    #[test]
    fn round_trip_and_checksum() {
        let m = sample();
        let bytes = m.encode().expect("encode");
        let sum = checksum_text(&bytes);
        assert_eq!(
            decode_manifest("m", &bytes, sum.as_bytes()).expect("decode"),
            m
        );
        let mut bad = bytes.clone();
        let i = bad.len() / 2;
        bad[i] ^= 1;
        let err = decode_manifest("a/BACKUP_MANIFEST", &bad, sum.as_bytes()).expect_err("bad");
        assert_eq!(
            err.to_string(),
            "backup file a/BACKUP_MANIFEST is corrupt: checksum mismatch"
        );
        assert_eq!(m.totals(), (3, 1, 100));
    }

    #[tokio::test]
    async fn written_checksum_first_then_manifest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = cloud::StorageContext::new(base::NodeId(1), dir.path());
        let s = cloud::open("nodelocal://1/c", &ctx).expect("open");
        let m = sample();
        write_manifest(s.as_ref(), "/2023/11/14-221320.00", &m)
            .await
            .expect("write");
        let back = read_manifest(s.as_ref(), "2023/11/14-221320.00")
            .await
            .expect("read");
        assert_eq!(back, m);
        s.delete("2023/11/14-221320.00/BACKUP_MANIFEST-CHECKSUM")
            .await
            .expect("delete");
        let err = read_manifest(s.as_ref(), "2023/11/14-221320.00")
            .await
            .expect_err("no checksum");
        assert!(
            err.to_string().contains("checksum file is missing"),
            "{err}"
        );
    }
}
