//! Snapshot streams: a range's snapshot goes from the leader's engine to the receiver's engine
//! without ever being held whole in memory on either side.
//!
//! # Format
//!
//! A snapshot is one byte stream, cut into `raft.snapshot` chunks on the wire and kept whole in
//! a file by the receiver: [`MAGIC`] (`SXSNAP`, then the format version as two bytes, now 2),
//! then frames, each a u32 length (little-endian) and a postcard [`Frame`]: one `Head` (the last
//! log id and the membership the data reflects, and the applier's header), `Records` frames of
//! raw `Cf::Data` records (about [`FRAME_BYTES`] each), and one `End` counting the records and
//! their bytes, so that a stream cut short, padded or reordered is refused. (Format 1 was one
//! postcard blob; nodes of the two formats refuse each other's snapshots.)
//!
//! # Sending
//!
//! openraft hands the network a [`SnapshotView`]: an engine snapshot taken on the
//! state-machine worker between two applies, with the applier's
//! [`SnapshotContent`](super::SnapshotContent) read at that moment. `Network::send_snapshot`
//! runs [`write_stream`] on a blocking thread: it scans the content's spans through the view
//! and hands out chunks of about `snapshot_chunk_size` (4 MiB by default) as they fill, through
//! a channel of one slot, to the task that sends them, one rpc at a time. So the sender holds a
//! few chunks at most: the one being filled, the one queued, the one on the wire.
//!
//! # Receiving
//!
//! The router appends each chunk to a file in the staging directory ([`Staging`]:
//! `<store>/raft-snapshots`, or the system's temporary directory for an engine in memory). On
//! the last chunk it syncs the file and reads it through once ([`check_staged`]: format, frame
//! order, counts, every record inside the spans the applier's
//! [`InstallPlan`](super::InstallPlan) replaces) before openraft sees it: a bad stream is
//! refused with nothing written (an error while installing would stop the group).
//!
//! # Installing, and crash safety
//!
//! [`install`] writes the snapshot into the engine in batches of about [`BATCH_BYTES`]:
//!
//! 1. an *install marker* (`Cf::State`, `range ++ "installing"`: the staged file's name, the
//!    snapshot's log id and membership) is written and synced first;
//! 2. the plan's spans are cleared, a batch at a time, then the records are written, a batch
//!    at a time (buffered: the engine's one journal keeps writes in order, so whatever survives
//!    a crash is a prefix of them);
//! 3. the last batch holds the applier's finishing writes (kv: the descriptor), the range's new
//!    applied state and the marker's deletion, and is synced; only then is the staged file
//!    deleted.
//!
//! The applied state moves to the snapshot only in the batch that also deletes the marker, so
//! a crash in between leaves the marker, the old applied state and half-written data, and a
//! half-installed range is never taken for a whole one: [`recover`] runs when the group is
//! opened, before openraft reads the state machine, and a marker there means an unfinished
//! install. It is redone from the staged file (synced before the marker was written, and named
//! by it; clearing first makes redoing idempotent), and the group starts from the snapshot's
//! applied state, as if the install had finished before the crash. The kv store opens at start
//! every range with a marker, also one it holds no descriptor of yet (its first snapshot).
//! While an install runs, the guard of [`super::Applier::begin_install`] keeps readers and the
//! store's sweep of leftover data away from the half-written spans. Destroying a group deletes
//! its marker with the rest of its state; staged files no marker names are deleted when the
//! store opens ([`clean_staging`]).

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base::RangeId;
use serde::{Deserialize, Serialize};
use storage::{Cf, Durability, Engine, Reader, WriteBatch};

use super::gate::Gate;
use super::log_store::{decode, encode, io_err};
use super::state_machine::AppliedState;
use super::{Applier, InstallPlan, LogId, RawSpan, SnapshotContent, SnapshotMeta, keys};
use super::{StoredMembership, Vote};

/// The first bytes of a snapshot stream: `SXSNAP` and the format version (big-endian).
pub(crate) const MAGIC: [u8; 8] = *b"SXSNAP\x00\x02";

/// Bytes of records gathered into one `Records` frame (or a quarter of the chunk size, if
/// smaller: a chunk is then at most a quarter larger than asked).
pub(crate) const FRAME_BYTES: usize = 64 << 10;

/// What a write in a batch costs beyond its key and value (the op, the vectors' headers and
/// allocations), counted against [`BATCH_BYTES`] so that a batch of many small deletes stays
/// small too.
const OP_OVERHEAD: usize = 64;

/// Bytes of writes in one engine batch of an install.
pub(crate) const BATCH_BYTES: usize = 1 << 20;

/// The largest frame a reader accepts: no record is larger than an rpc message (256 MiB).
const MAX_FRAME_BYTES: u64 = 320 << 20;

/// The name of the staging directory under the store's directory.
const STAGING_DIR: &str = "raft-snapshots";

/// Raw `Cf::Data` records: (key, value).
pub(crate) type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// A record as a frame carries it: its key and value as byte strings (see `wire::bytes`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Record(
    #[serde(with = "super::wire::bytes")] Vec<u8>,
    #[serde(with = "super::wire::bytes")] Vec<u8>,
);

/// One frame of a snapshot stream.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Frame {
    /// First: what the data reflects, and the applier's header.
    Head {
        /// The last log id the data includes.
        last_log_id: Option<LogId>,
        /// The membership as of `last_log_id`.
        membership: StoredMembership,
        /// [`SnapshotContent::header`].
        header: Vec<u8>,
    },
    /// Raw `Cf::Data` records.
    Records(Vec<Record>),
    /// Last: how many records came, and their bytes (keys and values).
    End {
        /// Records in the stream.
        records: u64,
        /// Bytes of their keys and values.
        bytes: u64,
    },
}

/// Encodes a snapshot stream, handing out chunks of about `chunk` bytes to `emit` as they fill.
pub(crate) struct StreamWriter<'a> {
    out: Vec<u8>,
    chunk: usize,
    records: Records,
    records_bytes: usize,
    count: u64,
    bytes: u64,
    emit: &'a mut dyn FnMut(Vec<u8>) -> Result<(), String>,
}

impl<'a> StreamWriter<'a> {
    /// Starts a stream with its head.
    pub(crate) fn new(
        meta: &SnapshotMeta,
        header: Vec<u8>,
        chunk: usize,
        emit: &'a mut dyn FnMut(Vec<u8>) -> Result<(), String>,
    ) -> Result<StreamWriter<'a>, String> {
        let chunk = chunk.max(1);
        let mut w = StreamWriter {
            out: Vec::with_capacity(chunk_capacity(chunk)),
            chunk,
            records: Vec::new(),
            records_bytes: 0,
            count: 0,
            bytes: 0,
            emit,
        };
        w.out.extend_from_slice(&MAGIC);
        w.frame(&Frame::Head {
            last_log_id: meta.last_log_id,
            membership: meta.last_membership.clone(),
            header,
        })?;
        Ok(w)
    }

    /// Adds a record.
    pub(crate) fn record(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), String> {
        let size = key.len() + value.len();
        self.count += 1;
        self.bytes += size as u64;
        self.records_bytes += size + 8;
        self.records.push((key, value));
        if self.records_bytes >= FRAME_BYTES.min(self.chunk / 4) {
            self.flush_records()?;
        }
        Ok(())
    }

    fn flush_records(&mut self) -> Result<(), String> {
        if self.records.is_empty() {
            return Ok(());
        }
        let records = std::mem::take(&mut self.records)
            .into_iter()
            .map(|(k, v)| Record(k, v))
            .collect();
        self.records_bytes = 0;
        self.frame(&Frame::Records(records))
    }

    fn frame(&mut self, frame: &Frame) -> Result<(), String> {
        let bytes = postcard::to_stdvec(frame).map_err(|e| format!("encoding a frame: {e}"))?;
        let len = u32::try_from(bytes.len())
            .ok()
            .filter(|l| u64::from(*l) <= MAX_FRAME_BYTES)
            .ok_or_else(|| format!("a snapshot frame of {} bytes is too large", bytes.len()))?;
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(&bytes);
        if self.out.len() >= self.chunk {
            let out = std::mem::replace(
                &mut self.out,
                Vec::with_capacity(chunk_capacity(self.chunk)),
            );
            (self.emit)(out)?;
        }
        Ok(())
    }

    /// Ends the stream. Returns its last bytes (maybe none), which the caller sends as the
    /// last chunk.
    pub(crate) fn finish(mut self) -> Result<Vec<u8>, String> {
        self.flush_records()?;
        let end = Frame::End {
            records: self.count,
            bytes: self.bytes,
        };
        self.frame(&end)?;
        Ok(std::mem::take(&mut self.out))
    }
}

/// What a chunk of about `chunk` bytes may grow to: a frame beyond `chunk` (frames of records
/// are at most a quarter chunk, unless one record is larger), so that its vector is not
/// reallocated at twice the size.
fn chunk_capacity(chunk: usize) -> usize {
    chunk + (chunk / 4).min(FRAME_BYTES) + 4096
}

/// Streams the snapshot of `content` as `reader` sees it: see [`StreamWriter`].
pub(crate) fn write_stream(
    reader: &dyn Reader,
    meta: &SnapshotMeta,
    content: SnapshotContent,
    chunk: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    let mut w = StreamWriter::new(meta, content.header, chunk, emit)?;
    for (start, end) in &content.spans {
        for kv in reader.scan(Cf::Data, start, end, false) {
            let (k, v) = kv.map_err(|e| format!("reading the snapshot: {e}"))?;
            w.record(k, v)?;
        }
    }
    w.finish()
}

/// The head of a stream.
#[derive(Debug)]
pub(crate) struct Head {
    /// The raft meta of the snapshot.
    pub(crate) meta: SnapshotMeta,
    /// The applier's header.
    pub(crate) header: Vec<u8>,
}

/// Reads a snapshot stream back from its file, a frame at a time, checking its shape.
pub(crate) struct StreamReader {
    r: BufReader<File>,
    /// Bytes of the file not read yet: no frame may claim more.
    remaining: u64,
    count: u64,
    bytes: u64,
    ended: bool,
}

impl StreamReader {
    /// Opens a stream and reads its head.
    pub(crate) fn open(path: &Path) -> Result<(StreamReader, Head), String> {
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let len = file
            .metadata()
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        let mut r = StreamReader {
            r: BufReader::with_capacity(256 << 10, file),
            remaining: len,
            count: 0,
            bytes: 0,
            ended: false,
        };
        let mut magic = [0u8; 8];
        r.read_exact(&mut magic)?;
        if magic[..6] != MAGIC[..6] {
            return Err("not a snapshot stream".into());
        }
        if magic != MAGIC {
            return Err(format!(
                "snapshot format {} (this node reads format {})",
                u16::from_be_bytes([magic[6], magic[7]]),
                u16::from_be_bytes([MAGIC[6], MAGIC[7]])
            ));
        }
        match r.frame()? {
            Frame::Head {
                last_log_id,
                membership,
                header,
            } => Ok((
                r,
                Head {
                    meta: SnapshotMeta {
                        last_log_id,
                        last_membership: membership,
                    },
                    header,
                },
            )),
            _ => Err("snapshot stream does not start with its head".into()),
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), String> {
        if buf.len() as u64 > self.remaining {
            return Err("snapshot stream cut short".into());
        }
        self.r
            .read_exact(buf)
            .map_err(|e| format!("reading the snapshot stream: {e}"))?;
        self.remaining -= buf.len() as u64;
        Ok(())
    }

    fn frame(&mut self) -> Result<Frame, String> {
        let mut len = [0u8; 4];
        self.read_exact(&mut len)?;
        let len = u64::from(u32::from_le_bytes(len));
        if len > self.remaining || len > MAX_FRAME_BYTES {
            return Err(format!(
                "snapshot frame of {len} bytes runs past the stream"
            ));
        }
        let mut buf = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        self.read_exact(&mut buf)?;
        postcard::from_bytes(&buf).map_err(|e| format!("bad snapshot frame: {e}"))
    }

    /// The next frame of records, or `None` after the `End` frame, which must match what came
    /// and be the stream's last bytes.
    pub(crate) fn next_records(&mut self) -> Result<Option<Records>, String> {
        if self.ended {
            return Ok(None);
        }
        match self.frame()? {
            Frame::Records(records) => {
                let records: Records = records.into_iter().map(|Record(k, v)| (k, v)).collect();
                for (k, v) in &records {
                    self.count += 1;
                    self.bytes += (k.len() + v.len()) as u64;
                }
                Ok(Some(records))
            }
            Frame::End { records, bytes } => {
                if (records, bytes) != (self.count, self.bytes) {
                    return Err(format!(
                        "snapshot stream ends after {} records of {} bytes, but says {records} \
                         of {bytes}",
                        self.count, self.bytes
                    ));
                }
                if self.remaining != 0 {
                    return Err(format!(
                        "{} bytes after the end of the snapshot stream",
                        self.remaining
                    ));
                }
                self.ended = true;
                Ok(None)
            }
            Frame::Head { .. } => Err("a second head in the snapshot stream".into()),
        }
    }
}

/// Whether a raw key lies in one of `spans`.
fn in_spans(spans: &[RawSpan], key: &[u8]) -> bool {
    spans
        .iter()
        .any(|(s, e)| key >= s.as_slice() && (e.is_empty() || key < e.as_slice()))
}

/// Reads a staged stream through, checking everything an install relies on: the format, the
/// frames, the counts, that the applier accepts the header and that every record lies in the
/// spans the install replaces. Returns the snapshot's meta.
pub(crate) fn check_staged(
    path: &Path,
    range: RangeId,
    applier: &dyn Applier,
) -> Result<SnapshotMeta, String> {
    let (mut r, head) = StreamReader::open(path)?;
    let plan = applier.plan_install(range, &head.header)?;
    while let Some(records) = r.next_records()? {
        if let Some((k, _)) = records.iter().find(|(k, _)| !in_spans(&plan.spans, k)) {
            return Err(format!(
                "snapshot record {k:02x?} lies outside the spans of {range}"
            ));
        }
    }
    Ok(head.meta)
}

/// Whether `vote` may carry a snapshot of `meta` (openraft asserts it does: a snapshot from the
/// network must not reach that assertion).
pub(crate) fn vote_covers(vote: &Vote, meta: &SnapshotMeta) -> bool {
    use openraft::vote::RaftLeaderId;
    meta.last_log_id
        .as_ref()
        .is_none_or(|l| *l.committed_leader_id() <= vote.leader_id().to_committed())
}

/// Where a store's snapshots are staged.
#[derive(Clone, Debug)]
pub(crate) struct Staging {
    dir: PathBuf,
    /// Whether staged files are synced: only for an engine on disk (an engine in memory
    /// survives no crash anyway).
    durable: bool,
}

impl Staging {
    /// The staging directory of `engine`.
    pub(crate) fn of(engine: &dyn Engine) -> Staging {
        match engine.dir() {
            Some(dir) => Staging {
                dir: dir.join(STAGING_DIR),
                durable: true,
            },
            None => Staging {
                dir: std::env::temp_dir().join("sextant-raft-snapshots"),
                durable: false,
            },
        }
    }

    /// A new, empty staged file for a snapshot of `range`.
    pub(crate) fn create(&self, range: RangeId) -> io::Result<(StagedSnapshot, File)> {
        std::fs::create_dir_all(&self.dir)?;
        let name = format!("r{}-{:016x}.snap", range.0, rand::random::<u64>());
        let path = self.dir.join(name);
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok((StagedSnapshot { path, keep: false }, file))
    }

    /// Makes a staged file, written through `file`, durable: the file and its directory entry.
    pub(crate) fn sync(&self, file: &mut File) -> io::Result<()> {
        file.flush()?;
        if self.durable {
            file.sync_all()?;
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

/// A snapshot stream staged in a file. The file is deleted when this is dropped, unless an
/// install took it over (its marker names the file: it is deleted when the install ended).
#[derive(Debug)]
pub(crate) struct StagedSnapshot {
    path: PathBuf,
    keep: bool,
}

impl StagedSnapshot {
    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

impl Drop for StagedSnapshot {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Stages the stream of a local view in a file (to install a view: openraft's restore path).
pub(crate) fn stage_view(
    staging: &Staging,
    range: RangeId,
    reader: &dyn Reader,
    meta: &SnapshotMeta,
    content: SnapshotContent,
) -> Result<StagedSnapshot, String> {
    let (staged, file) = staging.create(range).map_err(|e| e.to_string())?;
    let mut out = io::BufWriter::new(file);
    let mut write = |bytes: Vec<u8>| out.write_all(&bytes).map_err(|e| e.to_string());
    let last = write_stream(reader, meta, content, BATCH_BYTES, &mut write)?;
    write(last)?;
    let mut file = out.into_inner().map_err(|e| e.to_string())?;
    staging.sync(&mut file).map_err(|e| e.to_string())?;
    Ok(staged)
}

/// What an unfinished install left in `Cf::State`.
#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    /// The staged file, in the staging directory.
    file: String,
    last_log_id: Option<LogId>,
    membership: StoredMembership,
}

/// The group an install writes into.
pub(crate) struct Target {
    pub(crate) range: RangeId,
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) applier: Arc<dyn Applier>,
    pub(crate) gate: Gate,
    /// Tests: fail (as a crash would stop it) before the install's `n`th engine write after
    /// its marker.
    pub(crate) crash_before_write: Option<usize>,
}

impl Target {
    /// A target for tests outside this module: a fresh gate, a crash injected before the
    /// `crash_before_write`th write after the marker.
    #[cfg(test)]
    pub(crate) fn for_test(
        range: RangeId,
        engine: Arc<dyn Engine>,
        applier: Arc<dyn Applier>,
        crash_before_write: Option<usize>,
    ) -> Target {
        Target {
            range,
            engine,
            applier,
            gate: Gate::default(),
            crash_before_write,
        }
    }

    fn write(&self, batch: WriteBatch, durability: Durability) -> io::Result<()> {
        let _open = self.gate.enter()?;
        self.engine
            .write(batch, durability)
            .map_err(|e| io_err("install snapshot", e))
    }
}

/// Writes `Cf::Data` changes in batches of about [`BATCH_BYTES`].
struct Batcher<'a> {
    target: &'a Target,
    batch: WriteBatch,
    bytes: usize,
    writes: usize,
}

impl Batcher<'_> {
    fn put(&mut self, k: Vec<u8>, v: Vec<u8>) -> io::Result<()> {
        self.bytes += k.len() + v.len() + OP_OVERHEAD;
        self.batch.put(Cf::Data, k, v);
        self.maybe_flush()
    }

    fn delete(&mut self, k: Vec<u8>) -> io::Result<()> {
        self.bytes += k.len() + OP_OVERHEAD;
        self.batch.delete(Cf::Data, k);
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.bytes >= BATCH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        self.crash_point()?;
        self.bytes = 0;
        self.target
            .write(std::mem::take(&mut self.batch), Durability::Buffered)
    }

    fn crash_point(&mut self) -> io::Result<()> {
        self.writes += 1;
        if self.target.crash_before_write == Some(self.writes) {
            return Err(io::Error::other("crash injected by a test"));
        }
        Ok(())
    }
}

/// Installs a staged snapshot of `meta` into `target`'s range: see the module docs for the
/// order of writes. Returns the range's new applied state.
pub(crate) fn install(
    target: &Target,
    meta: &SnapshotMeta,
    mut staged: StagedSnapshot,
) -> io::Result<AppliedState> {
    let range = target.range;
    let (reader, head) =
        StreamReader::open(staged.path()).map_err(|e| io_err("install snapshot", e))?;
    let plan = target
        .applier
        .plan_install(range, &head.header)
        .map_err(|e| io_err("install snapshot", e))?;
    let _guard = target.applier.begin_install(range, &plan);
    let marker = Marker {
        file: staged.file_name(),
        last_log_id: meta.last_log_id,
        membership: meta.last_membership.clone(),
    };
    let mut batch = WriteBatch::new();
    batch.put(Cf::State, keys::installing(range), encode(&marker)?);
    target.write(batch, Durability::Sync)?;
    // From here on the file is what a restart redoes the install from.
    staged.keep = true;
    let state = write_install(target, meta, reader, plan)?;
    if let Err(e) = std::fs::remove_file(staged.path()) {
        tracing::warn!(%range, error = %e, "deleting an installed snapshot's staged file");
    }
    target.applier.installed(range, &head.header);
    Ok(state)
}

/// Clears the plan's spans and writes the records, in bounded batches, then the last batch:
/// the plan's finishing writes, the applied state and the marker's deletion, synced.
fn write_install(
    target: &Target,
    meta: &SnapshotMeta,
    mut reader: StreamReader,
    plan: InstallPlan,
) -> io::Result<AppliedState> {
    let range = target.range;
    let InstallPlan { spans, finish } = plan;
    let mut out = Batcher {
        target,
        batch: WriteBatch::new(),
        bytes: 0,
        writes: 0,
    };
    let view = target.engine.snapshot();
    for (start, end) in &spans {
        for kv in view.scan(Cf::Data, start, end, false) {
            let (k, _) = kv.map_err(|e| io_err("install snapshot: clearing", e))?;
            out.delete(k)?;
        }
    }
    drop(view);
    while let Some(records) = reader
        .next_records()
        .map_err(|e| io_err("install snapshot", e))?
    {
        for (k, v) in records {
            out.put(k, v)?;
        }
    }
    out.flush()?;
    let state = AppliedState {
        last_applied: meta.last_log_id,
        membership: meta.last_membership.clone(),
    };
    let mut last = finish;
    last.put(Cf::State, keys::applied(range), encode(&state)?);
    last.delete(Cf::State, keys::installing(range));
    out.crash_point()?;
    target.write(last, Durability::Sync)?;
    Ok(state)
}

/// Finishes an install a crash interrupted, if the range has one (its marker): redoes it from
/// its staged file. Returns whether there was one. Call before the state machine is read.
pub(crate) fn recover(target: &Target) -> io::Result<bool> {
    let range = target.range;
    let Some(bytes) = target
        .engine
        .get(Cf::State, &keys::installing(range))
        .map_err(|e| io_err("read install marker", e))?
    else {
        return Ok(false);
    };
    let marker: Marker = decode(&bytes)?;
    let staging = Staging::of(target.engine.as_ref());
    let unfinished = |e: String| {
        io_err(
            &format!(
                "{range}: a snapshot install interrupted by a crash cannot be finished from {}",
                staging.dir.join(&marker.file).display()
            ),
            e,
        )
    };
    if Path::new(&marker.file).file_name() != Some(std::ffi::OsStr::new(&marker.file)) {
        return Err(unfinished("bad file name in the install marker".into()));
    }
    let path = staging.dir.join(&marker.file);
    let (reader, head) = StreamReader::open(&path).map_err(unfinished)?;
    let meta = SnapshotMeta {
        last_log_id: marker.last_log_id,
        last_membership: marker.membership.clone(),
    };
    let plan = target
        .applier
        .plan_install(range, &head.header)
        .map_err(unfinished)?;
    let _guard = target.applier.begin_install(range, &plan);
    write_install(target, &meta, reader, plan)?;
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(%range, error = %e, "deleting an installed snapshot's staged file");
    }
    target.applier.installed(range, &head.header);
    tracing::warn!(%range, applied = ?meta.last_log_id, "finished a snapshot install interrupted by a crash");
    Ok(true)
}

/// The ranges with an unfinished snapshot install (a marker) in `reader`.
pub fn interrupted_installs(reader: &dyn Reader) -> Result<Vec<RangeId>, storage::StorageError> {
    let mut out = Vec::new();
    for kv in reader.scan(Cf::State, &[], &[], false) {
        let (k, _) = kv?;
        if let Some(range) = keys::installing_range(&k) {
            out.push(range);
        }
    }
    Ok(out)
}

/// Deletes the staged files of `engine`'s staging directory that no install marker names
/// (snapshots being received when the node stopped). Only for an engine on disk: the
/// temporary directory of engines in memory is shared. Call before snapshots may arrive.
pub fn clean_staging(engine: &dyn Engine) -> io::Result<usize> {
    let staging = Staging::of(engine);
    if !staging.durable {
        return Ok(0);
    }
    let entries = match std::fs::read_dir(&staging.dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut named = HashSet::new();
    for range in interrupted_installs(engine).map_err(|e| io_err("clean staging", e))? {
        if let Some(bytes) = engine
            .get(Cf::State, &keys::installing(range))
            .map_err(|e| io_err("clean staging", e))?
            && let Ok(marker) = decode::<Marker>(&bytes)
        {
            named.insert(marker.file);
        }
    }
    let mut deleted = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !named.contains(&name) {
            std::fs::remove_file(entry.path())?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use base::NodeId;
    use storage::{FjallEngine, MemoryEngine};

    use super::*;
    use crate::command::{CommandResult, RaftCommand};
    use crate::raft::TypeConfig;
    use crate::raft::state_machine::read_applied;

    const RANGE: RangeId = RangeId(7);

    /// Data under a one-byte prefix per range; the header must read "toy".
    #[derive(Default)]
    pub(crate) struct Toy {
        begun: AtomicUsize,
        installed: AtomicUsize,
    }

    fn span(range: RangeId) -> RawSpan {
        let p = u8::try_from(range.0).expect("small range id");
        (vec![p], vec![p + 1])
    }

    impl Applier for Toy {
        fn apply(
            &self,
            _: RangeId,
            index: u64,
            _: &RaftCommand,
            _: &mut WriteBatch,
        ) -> CommandResult {
            CommandResult { index, error: None }
        }
        fn applied(&self, _: RangeId, _: u64, _: &RaftCommand, _: &CommandResult) {}
        fn membership_changed(&self, _: RangeId, _: Vec<NodeId>, _: Vec<NodeId>) {}
        fn snapshot_content(
            &self,
            range: RangeId,
            _: &dyn Reader,
        ) -> Result<SnapshotContent, String> {
            Ok(SnapshotContent {
                header: b"toy".to_vec(),
                spans: vec![span(range)],
            })
        }
        fn plan_install(&self, range: RangeId, header: &[u8]) -> Result<InstallPlan, String> {
            if header != b"toy" {
                return Err("not a toy header".into());
            }
            let mut finish = WriteBatch::new();
            finish.put(Cf::State, b"toy-desc".to_vec(), header.to_vec());
            Ok(InstallPlan {
                spans: vec![span(range)],
                finish,
            })
        }
        fn begin_install(&self, _: RangeId, _: &InstallPlan) -> Box<dyn Send> {
            self.begun.fetch_add(1, Ordering::Relaxed);
            Box::new(())
        }
        fn installed(&self, _: RangeId, _: &[u8]) {
            self.installed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn meta(index: u64) -> SnapshotMeta {
        SnapshotMeta {
            last_log_id: Some(openraft::testing::log_id::<TypeConfig>(2, 1, index)),
            last_membership: StoredMembership::default(),
        }
    }

    /// `n` records of about `size` bytes each in `range`'s span, and one record outside it.
    fn fill(engine: &dyn Engine, range: RangeId, n: usize, size: usize, tag: u8) {
        let p = span(range).0[0];
        let mut batch = WriteBatch::new();
        for i in 0..n {
            let key = [&[p][..], &u32::try_from(i).expect("small").to_be_bytes()].concat();
            batch.put(Cf::Data, key, vec![tag; size]);
        }
        batch.put(Cf::Data, vec![p + 1, 0], b"next range".to_vec());
        engine.write(batch, Durability::Buffered).expect("fill");
    }

    fn data(engine: &dyn Reader) -> Records {
        engine
            .scan(Cf::Data, &[], &[], false)
            .collect::<Result<_, _>>()
            .expect("scan")
    }

    fn range_data(engine: &dyn Reader, range: RangeId) -> Records {
        let (s, e) = span(range);
        engine
            .scan(Cf::Data, &s, &e, false)
            .collect::<Result<_, _>>()
            .expect("scan")
    }

    /// Streams `source`'s range in chunks of `chunk` bytes into a staged file; returns it and
    /// the number of chunks.
    fn stage(staging: &Staging, source: &dyn Engine, chunk: usize) -> (StagedSnapshot, usize) {
        let content = Toy::default()
            .snapshot_content(RANGE, source)
            .expect("content");
        let (staged, mut file) = staging.create(RANGE).expect("create");
        let mut chunks = 0;
        let mut emit = |bytes: Vec<u8>| {
            assert!(bytes.len() >= chunk, "only the last chunk is short");
            chunks += 1;
            file.write_all(&bytes).map_err(|e| e.to_string())
        };
        let last = write_stream(&*source.snapshot(), &meta(10), content, chunk, &mut emit)
            .expect("stream");
        file.write_all(&last).expect("last chunk");
        staging.sync(&mut file).expect("sync");
        (staged, chunks + 1)
    }

    fn target(engine: Arc<dyn Engine>, applier: Arc<Toy>, crash: Option<usize>) -> Target {
        Target {
            range: RANGE,
            engine,
            applier,
            gate: Gate::default(),
            crash_before_write: crash,
        }
    }

    #[test]
    fn a_streamed_snapshot_installs_whole() {
        let source = MemoryEngine::new();
        fill(&source, RANGE, 500, 100, 1);
        let staging = Staging::of(&source);
        let (staged, chunks) = stage(&staging, &source, 4096);
        assert!(chunks >= 12, "{chunks} chunks");
        let applier = Arc::new(Toy::default());
        let checked = check_staged(staged.path(), RANGE, applier.as_ref()).expect("check");
        assert_eq!(checked, meta(10));

        let dest: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        fill(dest.as_ref(), RANGE, 700, 10, 2);
        let path = staged.path().to_path_buf();
        let t = target(dest.clone(), applier.clone(), None);
        let state = install(&t, &meta(10), staged).expect("install");
        assert_eq!(state.last_applied, meta(10).last_log_id);
        assert_eq!(range_data(dest.as_ref(), RANGE), range_data(&source, RANGE));
        assert_eq!(
            data(dest.as_ref()).len(),
            501,
            "the next range's record stays"
        );
        assert_eq!(read_applied(dest.as_ref(), RANGE).expect("applied"), state);
        assert_eq!(
            dest.get(Cf::State, b"toy-desc").expect("get"),
            Some(b"toy".to_vec())
        );
        assert_eq!(
            dest.get(Cf::State, &keys::installing(RANGE)).expect("get"),
            None
        );
        assert!(!path.exists(), "the staged file is deleted");
        assert_eq!(applier.installed.load(Ordering::Relaxed), 1);
        assert!(!recover(&t).expect("recover"), "nothing to finish");
    }

    #[test]
    fn bad_streams_are_refused_before_anything_is_written() {
        let source = MemoryEngine::new();
        fill(&source, RANGE, 50, 100, 1);
        let staging = Staging::of(&source);
        let (staged, _) = stage(&staging, &source, 1 << 20);
        let good = std::fs::read(staged.path()).expect("read");
        let applier = Toy::default();
        let check = |bytes: &[u8]| {
            let (bad, mut file) = staging.create(RANGE).expect("create");
            file.write_all(bytes).expect("write");
            check_staged(bad.path(), RANGE, &applier)
        };
        assert!(check(&good).is_ok());
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("cut short", good[..good.len() - 3].to_vec()),
            ("trailing bytes", [&good[..], &[0][..]].concat()),
            ("garbage", vec![0xff; 64]),
        ];
        let mut version = good.clone();
        version[7] = 1;
        cases.push(("another format", version));
        // A huge frame length must be refused without allocating it.
        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        cases.push(("huge frame", huge));
        for (what, bytes) in cases {
            assert!(check(&bytes).is_err(), "{what} accepted");
        }
        // Records outside the range, or a wrong count, or a header the applier refuses.
        let mut out = Vec::new();
        let mut emit = |b: Vec<u8>| {
            out.extend(b);
            Ok(())
        };
        let mut w = StreamWriter::new(&meta(3), b"toy".to_vec(), 1 << 20, &mut emit).expect("w");
        w.record(vec![9, 9], vec![1]).expect("record");
        let last = w.finish().expect("finish");
        out.extend(last);
        assert!(check(&out).unwrap_err().contains("outside"));
        let mut out = MAGIC.to_vec();
        for frame in [
            Frame::Head {
                last_log_id: None,
                membership: StoredMembership::default(),
                header: b"toy".to_vec(),
            },
            Frame::Records(vec![Record(vec![7, 1], vec![1])]),
            Frame::End {
                records: 2,
                bytes: 3,
            },
        ] {
            let b = postcard::to_stdvec(&frame).expect("encode");
            out.extend_from_slice(&u32::try_from(b.len()).expect("len").to_le_bytes());
            out.extend(b);
        }
        assert!(check(&out).unwrap_err().contains("says 2"));
        let mut out = Vec::new();
        let mut emit = |b: Vec<u8>| {
            out.extend(b);
            Ok(())
        };
        let w = StreamWriter::new(&meta(3), b"nope".to_vec(), 1 << 20, &mut emit).expect("w");
        let last = w.finish().expect("finish");
        out.extend(last);
        assert!(check(&out).is_err());
    }

    /// A crash in the middle of an install leaves its marker and the old applied state; the
    /// next open of the group finishes it from the staged file. On disk, across a reopen of
    /// the engine.
    #[test]
    fn an_install_interrupted_by_a_crash_is_finished_when_the_group_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = MemoryEngine::new();
        // 10 MB of records against 1 MiB batches: the clearing and the records take ten
        // batches, then comes the last one (the 11th write after the marker).
        fill(&source, RANGE, 1000, 10_000, 1);
        for crash in [1, 5, 11] {
            let path = dir.path().join(format!("store-{crash}"));
            let staged_path;
            {
                let dest: Arc<dyn Engine> = Arc::new(FjallEngine::open(&path).expect("open"));
                fill(dest.as_ref(), RANGE, 600, 10_000, 2);
                let before = read_applied(dest.as_ref(), RANGE).expect("applied");
                let staging = Staging::of(dest.as_ref());
                assert!(staging.durable);
                let (staged, _) = stage(&staging, &source, 1 << 20);
                staged_path = staged.path().to_path_buf();
                let applier = Arc::new(Toy::default());
                let t = target(dest.clone(), applier.clone(), Some(crash));
                let err = install(&t, &meta(10), staged).expect_err("crashed");
                assert!(err.to_string().contains("crash"), "{err}");
                assert_eq!(applier.installed.load(Ordering::Relaxed), 0);
                assert!(
                    dest.get(Cf::State, &keys::installing(RANGE))
                        .expect("get")
                        .is_some(),
                    "the marker stays"
                );
                assert_eq!(read_applied(dest.as_ref(), RANGE).expect("applied"), before);
                assert!(staged_path.exists(), "the staged file stays for the redo");
                assert_eq!(
                    interrupted_installs(dest.as_ref()).expect("scan"),
                    vec![RANGE]
                );
            }
            let dest: Arc<dyn Engine> = Arc::new(FjallEngine::open(&path).expect("reopen"));
            assert_eq!(
                clean_staging(dest.as_ref()).expect("clean"),
                0,
                "kept: the marker names it"
            );
            let applier = Arc::new(Toy::default());
            let t = target(dest.clone(), applier.clone(), None);
            assert!(recover(&t).expect("recover"), "crash before write {crash}");
            assert_eq!(applier.installed.load(Ordering::Relaxed), 1);
            assert_eq!(range_data(dest.as_ref(), RANGE), range_data(&source, RANGE));
            assert_eq!(
                read_applied(dest.as_ref(), RANGE)
                    .expect("applied")
                    .last_applied,
                meta(10).last_log_id
            );
            assert!(
                interrupted_installs(dest.as_ref())
                    .expect("scan")
                    .is_empty()
            );
            assert!(!staged_path.exists());
            assert!(!recover(&t).expect("recover again"));
        }
        // The 11th write was the last: there is no 12th.
        let dest: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let (staged, _) = stage(&Staging::of(dest.as_ref()), &source, 1 << 20);
        let t = target(dest, Arc::new(Toy::default()), Some(12));
        install(&t, &meta(10), staged).expect("no crash point after the last write");
    }

    #[test]
    fn staged_files_of_unfinished_transfers_are_deleted_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = FjallEngine::open(dir.path()).expect("open");
        let staging = Staging::of(&engine);
        let (mut staged, _) = staging.create(RANGE).expect("create");
        staged.keep = true;
        assert!(staged.path().exists());
        assert_eq!(clean_staging(&engine).expect("clean"), 1);
        assert!(!staged.path().exists());
        let (staged, _) = staging.create(RANGE).expect("create");
        let path = staged.path().to_path_buf();
        drop(staged);
        assert!(!path.exists(), "a dropped transfer deletes its file");
    }
}
