//! The backup data file: sorted MVCC versions in checksummed, compressed blocks.
//!
//! ```text
//! +-----------+-----------+-----+-------------+--------+
//! | block 0   | block 1   | ... | index block | footer |
//! +-----------+-----------+-----+-------------+--------+
//! ```
//!
//! - A **block** holds consecutive entries (about [`BLOCK_SIZE`] bytes before compression),
//!   each `uvarint key_len, key, wall i64 BE, logical u32 BE, kind u8 (0 tombstone, 1 value),
//!   [uvarint value_len, value]`, compressed with zstd. Its crc32c (of the compressed bytes)
//!   is kept in the index.
//! - The **index block** lists, per block, its offset, compressed length, crc32c, entry count
//!   and first key, encoded the same way and zstd-compressed.
//! - The **footer** is [`FOOTER_LEN`] bytes: magic [`MAGIC`], format [`VERSION`], index offset,
//!   index length, index crc32c, total entry count, and a crc32c of the footer's own bytes.
//!
//! Entries are ordered by key ascending, then timestamp descending (MVCC order); the writer
//! refuses anything else, so a reader may merge files and binary-search the index. The reader
//! checks every checksum before it decodes a byte, and each failure names the file and the
//! block (`backup file data/7.sst is corrupt: checksum mismatch in block 3`); a file cut short
//! fails on its footer.
//!
//! # Life of a file
//! 1. [`FileWriter::new`] wraps an [`ObjectWriter`] from the storage the processor writes to.
//! 2. [`FileWriter::add`] appends entries; each full block is compressed and written at once,
//!    so memory stays at one block.
//! 3. [`FileWriter::finish`] writes the index and footer and completes the upload, returning
//!    [`FileStats`] for the manifest.
//! 4. On restore, [`read_file`] fetches the file and [`FileReader::entries`] decodes it block
//!    by block.

use base::encoding::{decode_uvarint, encode_uvarint};
use base::{Key, Timestamp};
use bytes::Bytes;
use cloud::{ExternalStorage, ObjectWriter};
use storage::mvcc::ExportEntry;

use crate::error::{BackupError, Result};

/// The first 8 bytes of every footer.
pub const MAGIC: &[u8; 8] = b"SXTBAK01";
/// The format version written.
pub const VERSION: u32 = 1;
/// Uncompressed bytes after which a block is closed.
pub const BLOCK_SIZE: usize = 64 * 1024;
/// The footer's size in bytes.
pub const FOOTER_LEN: usize = 8 + 4 + 8 + 8 + 4 + 8 + 4;
/// zstd level: fast, still a good ratio on row data.
const ZSTD_LEVEL: i32 = 3;

/// What a finished file holds, for the manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Entries (versions and tombstones).
    pub entries: u64,
    /// Bytes of keys and values before compression.
    pub logical_bytes: u64,
    /// Bytes written to storage.
    pub file_bytes: u64,
    /// The first key, if any.
    pub first_key: Option<Key>,
    /// The last key, if any.
    pub last_key: Option<Key>,
}

/// One block's entry in the index.
#[derive(Clone, Debug, PartialEq, Eq)]
struct BlockHandle {
    offset: u64,
    len: u64,
    crc: u32,
    entries: u64,
    first_key: Vec<u8>,
}

/// Checks that `next` may follow `prev` in a file.
fn in_order(prev: &ExportEntry, next: &ExportEntry) -> bool {
    prev.key < next.key || (prev.key == next.key && prev.ts > next.ts)
}

/// Appends one entry's encoding to `buf`.
pub fn encode_entry(buf: &mut Vec<u8>, e: &ExportEntry) {
    encode_uvarint(buf, e.key.0.len() as u64);
    buf.extend_from_slice(&e.key.0);
    buf.extend_from_slice(&e.ts.wall.to_be_bytes());
    buf.extend_from_slice(&e.ts.logical.to_be_bytes());
    match &e.value {
        None => buf.push(0),
        Some(v) => {
            buf.push(1);
            encode_uvarint(buf, v.len() as u64);
            buf.extend_from_slice(v);
        }
    }
}

/// A cursor over bytes that reports where decoding failed.
struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn take(&mut self, n: usize, what: &str) -> std::result::Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("{what}: need {n} bytes, {} left", self.buf.len()));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn uvarint(&mut self, what: &str) -> std::result::Result<u64, String> {
        let (v, rest) = decode_uvarint(self.buf).map_err(|e| format!("{what}: {e:?}"))?;
        self.buf = rest;
        Ok(v)
    }

    fn len_prefixed(&mut self, what: &str) -> std::result::Result<&'a [u8], String> {
        let n = self.uvarint(what)?;
        let n = usize::try_from(n).map_err(|_| format!("{what}: length {n} too large"))?;
        self.take(n, what)
    }

    fn u32(&mut self, what: &str) -> std::result::Result<u32, String> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &str) -> std::result::Result<u64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    fn entry(&mut self) -> std::result::Result<ExportEntry, String> {
        let key = self.len_prefixed("key")?.to_vec();
        let wall = self.u64("timestamp")? as i64;
        let logical = self.u32("timestamp")?;
        let kind = self.take(1, "entry kind")?[0];
        let value = match kind {
            0 => None,
            1 => Some(self.len_prefixed("value")?.to_vec()),
            k => return Err(format!("unknown entry kind {k}")),
        };
        Ok(ExportEntry {
            key: Key(key),
            ts: Timestamp { wall, logical },
            value,
        })
    }
}

/// Streams sorted entries into a backup file on external storage.
pub struct FileWriter {
    name: String,
    out: Box<dyn ObjectWriter>,
    block: Vec<u8>,
    block_entries: u64,
    block_first: Option<Vec<u8>>,
    index: Vec<BlockHandle>,
    offset: u64,
    last: Option<ExportEntry>,
    stats: FileStats,
}

impl FileWriter {
    /// A writer of file `name` (for error messages) into `out`.
    pub fn new(name: impl Into<String>, out: Box<dyn ObjectWriter>) -> FileWriter {
        FileWriter {
            name: name.into(),
            out,
            block: Vec::with_capacity(BLOCK_SIZE + 1024),
            block_entries: 0,
            block_first: None,
            index: Vec::new(),
            offset: 0,
            last: None,
            stats: FileStats::default(),
        }
    }

    /// Opens `path` on `storage` for writing.
    pub fn create(storage: &dyn ExternalStorage, path: &str) -> Result<FileWriter> {
        Ok(FileWriter::new(path, storage.writer(path)?))
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.stats.entries
    }

    /// Bytes of keys and values added so far.
    pub fn logical_bytes(&self) -> u64 {
        self.stats.logical_bytes
    }

    /// Appends one entry; it must sort after the previous one (key ascending, then timestamp
    /// descending).
    pub async fn add(&mut self, e: &ExportEntry) -> Result<()> {
        if let Some(prev) = &self.last
            && !in_order(prev, e)
        {
            return Err(BackupError::Internal(format!(
                "backup file {}: entry {}@{:?} does not sort after {}@{:?}",
                self.name, e.key, e.ts, prev.key, prev.ts
            )));
        }
        if self.block_first.is_none() {
            self.block_first = Some(e.key.0.clone());
        }
        encode_entry(&mut self.block, e);
        self.block_entries += 1;
        self.stats.entries += 1;
        self.stats.logical_bytes += e.size_bytes() as u64;
        if self.stats.first_key.is_none() {
            self.stats.first_key = Some(e.key.clone());
        }
        self.last = Some(e.clone());
        if self.block.len() >= BLOCK_SIZE {
            self.flush_block().await?;
        }
        Ok(())
    }

    async fn flush_block(&mut self) -> Result<()> {
        let Some(first_key) = self.block_first.take() else {
            return Ok(());
        };
        let compressed = compress(&self.block)?;
        self.index.push(BlockHandle {
            offset: self.offset,
            len: compressed.len() as u64,
            crc: crc32c::crc32c(&compressed),
            entries: self.block_entries,
            first_key,
        });
        self.offset += compressed.len() as u64;
        self.block.clear();
        self.block_entries = 0;
        self.out.write(Bytes::from(compressed)).await?;
        Ok(())
    }

    /// Writes the last block, the index and the footer, and makes the file visible.
    pub async fn finish(mut self) -> Result<FileStats> {
        self.flush_block().await?;
        let mut index = Vec::new();
        encode_uvarint(&mut index, self.index.len() as u64);
        for h in &self.index {
            encode_uvarint(&mut index, h.offset);
            encode_uvarint(&mut index, h.len);
            index.extend_from_slice(&h.crc.to_be_bytes());
            encode_uvarint(&mut index, h.entries);
            encode_uvarint(&mut index, h.first_key.len() as u64);
            index.extend_from_slice(&h.first_key);
        }
        let index = compress(&index)?;
        let mut footer = Vec::with_capacity(FOOTER_LEN);
        footer.extend_from_slice(MAGIC);
        footer.extend_from_slice(&VERSION.to_be_bytes());
        footer.extend_from_slice(&self.offset.to_be_bytes());
        footer.extend_from_slice(&(index.len() as u64).to_be_bytes());
        footer.extend_from_slice(&crc32c::crc32c(&index).to_be_bytes());
        footer.extend_from_slice(&self.stats.entries.to_be_bytes());
        let crc = crc32c::crc32c(&footer);
        footer.extend_from_slice(&crc.to_be_bytes());
        self.out.write(Bytes::from(index)).await?;
        self.out.write(Bytes::from(footer)).await?;
        self.stats.last_key = self.last.map(|e| e.key);
        self.stats.file_bytes = self.out.finish().await?;
        Ok(self.stats)
    }

    /// Abandons the file.
    pub async fn abort(self) {
        let _ = self.out.abort().await;
    }
}

fn compress(bytes: &[u8]) -> Result<Vec<u8>> {
    zstd::bulk::compress(bytes, ZSTD_LEVEL).map_err(|e| BackupError::Internal(e.to_string()))
}

/// A whole backup file in memory, its footer and index checked.
#[derive(Debug)]
pub struct FileReader {
    name: String,
    bytes: Bytes,
    index: Vec<BlockHandle>,
    entries: u64,
}

/// Fetches `path` from `storage` and checks its footer and index.
pub async fn read_file(storage: &dyn ExternalStorage, path: &str) -> Result<FileReader> {
    let bytes = storage.get(path).await?;
    FileReader::new(path, bytes)
}

impl FileReader {
    /// Parses the footer and index of `bytes`, the content of file `name`.
    pub fn new(name: impl Into<String>, bytes: Bytes) -> Result<FileReader> {
        let name = name.into();
        let corrupt = |d: String| BackupError::corrupt(name.clone(), d);
        if bytes.len() < FOOTER_LEN {
            return Err(corrupt(format!(
                "truncated: {} bytes, shorter than the {FOOTER_LEN}-byte footer",
                bytes.len()
            )));
        }
        let footer_at = bytes.len() - FOOTER_LEN;
        let footer = &bytes[footer_at..];
        if &footer[..8] != MAGIC {
            return Err(corrupt(
                "bad magic in footer (truncated or not a backup file)".into(),
            ));
        }
        let (body, stored_crc) = footer.split_at(FOOTER_LEN - 4);
        let stored_crc =
            u32::from_be_bytes([stored_crc[0], stored_crc[1], stored_crc[2], stored_crc[3]]);
        if crc32c::crc32c(body) != stored_crc {
            return Err(corrupt("checksum mismatch in footer".into()));
        }
        let mut d = Decoder { buf: &body[8..] };
        let version = d.u32("version").map_err(&corrupt)?;
        if version != VERSION {
            return Err(corrupt(format!("unsupported format version {version}")));
        }
        let index_off = d.u64("index offset").map_err(&corrupt)?;
        let index_len = d.u64("index length").map_err(&corrupt)?;
        let index_crc = d.u32("index checksum").map_err(&corrupt)?;
        let entries = d.u64("entry count").map_err(&corrupt)?;
        let index_end = index_off.checked_add(index_len);
        if index_end != Some(footer_at as u64) {
            return Err(corrupt(format!(
                "truncated: index at {index_off}+{index_len} does not end at the footer ({footer_at})"
            )));
        }
        let index_bytes = &bytes[index_off as usize..footer_at];
        if crc32c::crc32c(index_bytes) != index_crc {
            return Err(corrupt("checksum mismatch in index block".into()));
        }
        let raw = decompress(index_bytes).map_err(|e| corrupt(format!("index block: {e}")))?;
        let index =
            decode_index(&raw, index_off).map_err(|e| corrupt(format!("index block: {e}")))?;
        let total: u64 = index.iter().map(|h| h.entries).sum();
        if total != entries {
            return Err(corrupt(format!(
                "index lists {total} entries, footer says {entries}"
            )));
        }
        Ok(FileReader {
            name,
            bytes,
            index,
            entries,
        })
    }

    /// Entries in the file, from the footer.
    pub fn len(&self) -> u64 {
        self.entries
    }

    /// Whether the file holds no entry.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Number of data blocks.
    pub fn blocks(&self) -> usize {
        self.index.len()
    }

    /// Decodes block `i`, checking its checksum.
    pub fn block(&self, i: usize) -> Result<Vec<ExportEntry>> {
        let corrupt = |d: String| BackupError::corrupt(self.name.clone(), d);
        let h = self
            .index
            .get(i)
            .ok_or_else(|| corrupt(format!("no block {i}")))?;
        let bytes = &self.bytes[h.offset as usize..(h.offset + h.len) as usize];
        if crc32c::crc32c(bytes) != h.crc {
            return Err(corrupt(format!("checksum mismatch in block {i}")));
        }
        let raw = decompress(bytes).map_err(|e| corrupt(format!("block {i}: {e}")))?;
        let mut d = Decoder { buf: &raw };
        let mut out = Vec::with_capacity(h.entries as usize);
        while !d.is_empty() {
            out.push(d.entry().map_err(|e| corrupt(format!("block {i}: {e}")))?);
        }
        if out.len() as u64 != h.entries {
            return Err(corrupt(format!(
                "block {i} holds {} entries, the index says {}",
                out.len(),
                h.entries
            )));
        }
        if out.first().map(|e| &e.key.0) != Some(&h.first_key) {
            return Err(corrupt(format!(
                "block {i} does not start at its index key"
            )));
        }
        Ok(out)
    }

    /// Every entry, block by block; each block is checked before it is decoded.
    pub fn entries(&self) -> impl Iterator<Item = Result<Vec<ExportEntry>>> + '_ {
        (0..self.index.len()).map(|i| self.block(i))
    }

    /// Every entry in one vector.
    pub fn all_entries(&self) -> Result<Vec<ExportEntry>> {
        let mut out = Vec::with_capacity(self.entries as usize);
        for b in self.entries() {
            out.extend(b?);
        }
        Ok(out)
    }
}

fn decompress(bytes: &[u8]) -> std::result::Result<Vec<u8>, String> {
    zstd::stream::decode_all(bytes).map_err(|e| format!("zstd: {e}"))
}

fn decode_index(raw: &[u8], data_end: u64) -> std::result::Result<Vec<BlockHandle>, String> {
    let mut d = Decoder { buf: raw };
    let n = d.uvarint("block count")?;
    let mut out = Vec::new();
    let mut expect = 0u64;
    for i in 0..n {
        let offset = d.uvarint("block offset")?;
        let len = d.uvarint("block length")?;
        let crc = d.u32("block checksum")?;
        let entries = d.uvarint("block entries")?;
        let first_key = d.len_prefixed("block first key")?.to_vec();
        if offset != expect || offset.checked_add(len).is_none_or(|end| end > data_end) {
            return Err(format!("block {i} at {offset}+{len} is out of place"));
        }
        expect = offset + len;
        out.push(BlockHandle {
            offset,
            len,
            crc,
            entries,
            first_key,
        });
    }
    if expect != data_end {
        return Err(format!(
            "blocks end at {expect}, the index starts at {data_end}"
        ));
    }
    if !d.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn entry(key: &[u8], wall: i64, value: Option<&[u8]>) -> ExportEntry {
        ExportEntry {
            key: Key(key.to_vec()),
            ts: Timestamp { wall, logical: 0 },
            value: value.map(|v| v.to_vec()),
        }
    }

    fn storage() -> (tempfile::TempDir, Arc<dyn ExternalStorage>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let ctx = cloud::StorageContext::new(base::NodeId(1), dir.path());
        let s = cloud::open("nodelocal://1/b", &ctx).expect("open");
        (dir, s)
    }

    async fn write(s: &dyn ExternalStorage, path: &str, entries: &[ExportEntry]) -> FileStats {
        let mut w = FileWriter::create(s, path).expect("writer");
        for e in entries {
            w.add(e).await.expect("add");
        }
        w.finish().await.expect("finish")
    }

    fn many(n: usize) -> Vec<ExportEntry> {
        (0..n)
            .map(|i| {
                let k = format!("key{i:08}");
                entry(
                    k.as_bytes(),
                    10,
                    Some(format!("value-{i}-{}", "x".repeat(i % 50)).as_bytes()),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn round_trip_across_blocks() {
        let (_d, s) = storage();
        let entries = many(5000);
        let stats = write(s.as_ref(), "data/1.sst", &entries).await;
        assert_eq!(stats.entries, 5000);
        assert_eq!(stats.first_key, Some(entries[0].key.clone()));
        assert_eq!(stats.last_key, Some(entries[4999].key.clone()));
        let r = read_file(s.as_ref(), "data/1.sst").await.expect("read");
        assert!(r.blocks() > 1, "5000 entries span several blocks");
        assert_eq!(r.all_entries().expect("entries"), entries);
    }

    #[tokio::test]
    async fn empty_file_and_tombstones() {
        let (_d, s) = storage();
        write(s.as_ref(), "e.sst", &[]).await;
        let r = read_file(s.as_ref(), "e.sst").await.expect("read");
        assert!(r.is_empty());
        let versions = vec![
            entry(b"a", 30, None),
            entry(b"a", 20, Some(b"2")),
            entry(b"b", 5, Some(b"")),
        ];
        write(s.as_ref(), "t.sst", &versions).await;
        let r = read_file(s.as_ref(), "t.sst").await.expect("read");
        assert_eq!(r.all_entries().expect("entries"), versions);
    }

    #[tokio::test]
    async fn refuses_unsorted_entries() {
        let (_d, s) = storage();
        let mut w = FileWriter::create(s.as_ref(), "u.sst").expect("writer");
        w.add(&entry(b"b", 1, Some(b"x"))).await.expect("add");
        let err = w
            .add(&entry(b"a", 1, Some(b"x")))
            .await
            .expect_err("unsorted");
        assert!(err.to_string().contains("does not sort after"), "{err}");
        w.add(&entry(b"c", 1, Some(b"x"))).await.expect("add");
        let err = w
            .add(&entry(b"c", 2, Some(b"x")))
            .await
            .expect_err("older first");
        assert!(err.to_string().contains("does not sort after"), "{err}");
    }

    #[tokio::test]
    async fn corruption_names_file_and_block() {
        let (_d, s) = storage();
        write(s.as_ref(), "data/7.sst", &many(5000)).await;
        let good = s.get("data/7.sst").await.expect("get");
        let r = FileReader::new("data/7.sst", good.clone()).expect("read");
        let second = r.index[1].offset as usize + 3;
        let mut bad = good.to_vec();
        bad[second] ^= 0xff;
        let r = FileReader::new("data/7.sst", Bytes::from(bad)).expect("footer intact");
        assert!(r.block(0).is_ok());
        let err = r.all_entries().expect_err("corrupt");
        assert_eq!(
            err.to_string(),
            "backup file data/7.sst is corrupt: checksum mismatch in block 1"
        );

        let mut bad = good.to_vec();
        let index_at = r.index.last().map(|h| h.offset + h.len).expect("blocks") as usize;
        bad[index_at] ^= 1;
        let err = FileReader::new("data/7.sst", Bytes::from(bad)).expect_err("index");
        assert_eq!(
            err.to_string(),
            "backup file data/7.sst is corrupt: checksum mismatch in index block"
        );

        let mut bad = good.to_vec();
        let n = bad.len();
        bad[n - 10] ^= 1;
        let err = FileReader::new("data/7.sst", Bytes::from(bad)).expect_err("footer");
        assert!(
            err.to_string().contains("checksum mismatch in footer"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn truncation_is_reported() {
        let (_d, s) = storage();
        write(s.as_ref(), "data/2.sst", &many(3000)).await;
        let good = s.get("data/2.sst").await.expect("get");
        for cut in [1usize, 10, FOOTER_LEN, good.len() / 2, good.len() - 1] {
            let err = FileReader::new("data/2.sst", good.slice(..good.len() - cut))
                .expect_err("truncated");
            let text = err.to_string();
            assert!(
                text.starts_with("backup file data/2.sst is corrupt: "),
                "cut {cut}: {text}"
            );
        }
        let err = FileReader::new("x.sst", Bytes::from_static(b"short")).expect_err("short");
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    fn arb_entries() -> impl Strategy<Value = Vec<ExportEntry>> {
        proptest::collection::btree_map(
            (
                proptest::collection::vec(any::<u8>(), 0..24),
                1i64..1000,
                any::<u32>(),
            ),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
            0..400,
        )
        .prop_map(|m| {
            let mut v: Vec<ExportEntry> = m
                .into_iter()
                .map(|((key, wall, logical), value)| ExportEntry {
                    key: Key(key),
                    ts: Timestamp { wall, logical },
                    value,
                })
                .collect();
            v.sort_by(|a, b| a.key.cmp(&b.key).then(b.ts.cmp(&a.ts)));
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn proptest_round_trip(entries in arb_entries()) {
            let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            let (_d, s) = storage();
            let back = rt.block_on(async {
                write(s.as_ref(), "p.sst", &entries).await;
                read_file(s.as_ref(), "p.sst").await.expect("read").all_entries().expect("entries")
            });
            prop_assert_eq!(back, entries);
        }
    }
}
