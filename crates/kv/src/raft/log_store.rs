//! The Raft log of one range, on the node's engine (`Cf::Raft`, see [`super::keys`]).
//!
//! Appends are written to the engine at once with [`Durability::Buffered`] (so the log reader
//! sees them before they are durable, as openraft requires) and reported flushed by the node's
//! [`Syncer`] after the next engine sync; votes wait for that sync before returning. Purges
//! sync first, so the state-machine writes covering the purged entries are durable before the
//! entries go: a crash can always re-apply from the log.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use base::RangeId;
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use serde::Serialize;
use serde::de::DeserializeOwned;
use storage::{Cf, Durability, Engine, WriteBatch};

use super::gate::Gate;
use super::keys;
use super::syncer::Syncer;
use super::{Entry, LogId, TypeConfig, Vote};

/// The log of one range. Clones share the engine; every clone is a reader.
#[derive(Clone)]
pub(crate) struct LogStore {
    range: RangeId,
    engine: Arc<dyn Engine>,
    syncer: Syncer,
    gate: Gate,
}

pub(crate) fn io_err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| io_err("encode", e))
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io_err("decode", e))
}

impl LogStore {
    pub(crate) fn new(
        range: RangeId,
        engine: Arc<dyn Engine>,
        syncer: Syncer,
        gate: Gate,
    ) -> LogStore {
        LogStore {
            range,
            engine,
            syncer,
            gate,
        }
    }

    fn get<T: DeserializeOwned>(&self, key: &[u8]) -> io::Result<Option<T>> {
        match self
            .engine
            .get(Cf::Raft, key)
            .map_err(|e| io_err("read raft state", e))?
        {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn write(&self, batch: WriteBatch) -> io::Result<()> {
        let _open = self.gate.enter()?;
        self.engine
            .write(batch, Durability::Buffered)
            .map_err(|e| io_err("write raft log", e))
    }

    /// The last entry's log id, if any entry is present.
    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let start = keys::log(self.range, 0);
        let end = keys::log_end(self.range);
        match self.engine.scan(Cf::Raft, &start, &end, true).next() {
            Some(Ok((_, value))) => Ok(Some(decode::<Entry>(&value)?.log_id())),
            Some(Err(e)) => Err(io_err("scan raft log", e)),
            None => Ok(None),
        }
    }

    /// The entries a read of `[start, end)` may leave out are the purged ones at the start and
    /// the ones not yet appended at the end; a read that misses any other (the log's keys
    /// deleted under a running group) is an error, not a short answer: openraft applies what it
    /// is given as if it were the whole committed range.
    fn check_ends(
        &self,
        view: &dyn storage::Reader,
        start: u64,
        end: Option<u64>,
        entries: &[Entry],
    ) -> io::Result<()> {
        let first_read = entries.first().map(|e| e.index());
        let purged: Option<LogId> = match view
            .get(Cf::Raft, &keys::purged(self.range))
            .map_err(|e| io_err("read raft state", e))?
        {
            Some(bytes) => Some(decode(&bytes)?),
            None => None,
        };
        let next_unpurged = purged.map_or(0, |p| p.index() + 1);
        if let Some(first) = first_read
            && first > start
            && first > next_unpurged
        {
            return Err(io_err(
                "raft log",
                format!(
                    "{} entries {}..{first} missing (purged below {next_unpurged})",
                    self.range,
                    start.max(next_unpurged)
                ),
            ));
        }
        let Some(end) = end else {
            return Ok(());
        };
        let read_to = entries.last().map_or(start, |e| e.index() + 1);
        if read_to >= end {
            return Ok(());
        }
        let log_start = keys::log(self.range, 0);
        let last_index = match view
            .scan(Cf::Raft, &log_start, &keys::log_end(self.range), true)
            .next()
        {
            Some(Ok((key, _))) => keys::log_index(&key),
            Some(Err(e)) => return Err(io_err("scan raft log", e)),
            None => None,
        };
        let want = read_to.max(next_unpurged);
        if let Some(last) = last_index
            && want < end
            && want <= last
        {
            return Err(io_err(
                "raft log",
                format!(
                    "{} entries from {want} missing below the last entry {last}",
                    self.range
                ),
            ));
        }
        Ok(())
    }

    /// The keys of the log entries with `from <= index < to`.
    fn keys_between(&self, from: u64, to: Option<u64>) -> io::Result<Vec<Vec<u8>>> {
        let start = keys::log(self.range, from);
        let end = to.map_or_else(|| keys::log_end(self.range), |to| keys::log(self.range, to));
        self.engine
            .scan(Cf::Raft, &start, &end, false)
            .map(|kv| kv.map(|(k, _)| k).map_err(|e| io_err("scan raft log", e)))
            .collect()
    }
}

/// The half-open index range `[start, end)` of a `RangeBounds`; `None` for an unbounded end.
fn index_range(range: &impl RangeBounds<u64>) -> (u64, Option<u64>) {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => i.checked_add(1),
        Bound::Excluded(i) => Some(*i),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let (start, end) = index_range(&range);
        if end.is_some_and(|end| end <= start) {
            return Ok(Vec::new());
        }
        let start_key = keys::log(self.range, start);
        let end_key = end.map_or_else(
            || keys::log_end(self.range),
            |end| keys::log(self.range, end),
        );
        // One point in time for the read and the checks below.
        let view = self.engine.snapshot();
        let mut entries: Vec<Entry> = Vec::new();
        for kv in view.scan(Cf::Raft, &start_key, &end_key, false) {
            let (key, value) = kv.map_err(|e| io_err("scan raft log", e))?;
            let entry: Entry = decode(&value)?;
            let index = keys::log_index(&key).unwrap_or(u64::MAX);
            if let Some(prev) = entries.last()
                && prev.index() + 1 != index
            {
                return Err(io_err("raft log", format!("hole before index {index}")));
            }
            entries.push(entry);
        }
        self.check_ends(view.as_ref(), start, end, &entries)?;
        Ok(entries)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.get(&keys::vote(self.range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId> = self.get(&keys::purged(self.range))?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        batch.put(Cf::Raft, keys::vote(self.range), encode(vote)?);
        self.write(batch)?;
        self.syncer.sync().await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        let mut batch = WriteBatch::new();
        match committed {
            Some(id) => batch.put(Cf::Raft, keys::committed(self.range), encode(&id)?),
            None => batch.delete(Cf::Raft, keys::committed(self.range)),
        }
        self.write(batch)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        self.get(&keys::committed(self.range))
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::new();
        for entry in entries {
            batch.put(
                Cf::Raft,
                keys::log(self.range, entry.index()),
                encode(&entry)?,
            );
        }
        self.write(batch)?;
        self.syncer
            .after_sync(move |res| callback.io_completed(res.map_err(io::Error::other)));
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map_or(0, |id| id.index() + 1);
        let mut batch = WriteBatch::new();
        for key in self.keys_between(from, None)? {
            batch.delete(Cf::Raft, key);
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.write(batch)
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        // The state machine is written buffered; it must be durable up to `log_id` before the
        // entries that could rebuild it are gone.
        self.syncer.sync().await?;
        let mut batch = WriteBatch::new();
        for key in self.keys_between(0, log_id.index().checked_add(1))? {
            batch.delete(Cf::Raft, key);
        }
        batch.put(Cf::Raft, keys::purged(self.range), encode(&log_id)?);
        self.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use openraft::EntryPayload;
    use openraft::storage::IOFlushed;
    use storage::MemoryEngine;

    use super::*;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: openraft::testing::log_id::<TypeConfig>(1, 1, index),
            payload: EntryPayload::Blank,
        }
    }

    fn store() -> LogStore {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let syncer = Syncer::spawn(&engine);
        LogStore::new(RangeId(3), engine, syncer, Gate::default())
    }

    async fn append(log: &mut LogStore, indexes: std::ops::Range<u64>) {
        log.append(indexes.map(entry), IOFlushed::noop())
            .await
            .expect("append");
    }

    fn delete(log: &LogStore, indexes: std::ops::Range<u64>) {
        let mut batch = WriteBatch::new();
        for i in indexes {
            batch.delete(Cf::Raft, keys::log(log.range, i));
        }
        log.engine
            .write(batch, Durability::Buffered)
            .expect("delete");
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.index()).collect()
    }

    #[tokio::test]
    async fn reads_whole_ranges_and_tolerates_unappended_ends() {
        let mut log = store();
        append(&mut log, 1..6).await;
        let all = log.try_get_log_entries(1..6).await.expect("read");
        assert_eq!(indexes(&all), vec![1, 2, 3, 4, 5]);
        // Past the end: entries not appended yet are simply absent.
        let tail = log.try_get_log_entries(4..9).await.expect("read");
        assert_eq!(indexes(&tail), vec![4, 5]);
        assert!(
            log.try_get_log_entries(6..9)
                .await
                .expect("read")
                .is_empty()
        );
        assert!(
            log.try_get_log_entries(3..3)
                .await
                .expect("read")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn tolerates_purged_starts() {
        let mut log = store();
        append(&mut log, 1..8).await;
        log.purge(openraft::testing::log_id::<TypeConfig>(1, 1, 4))
            .await
            .expect("purge");
        let read = log.try_get_log_entries(2..8).await.expect("read");
        assert_eq!(indexes(&read), vec![5, 6, 7]);
        assert!(
            log.try_get_log_entries(1..4)
                .await
                .expect("read")
                .is_empty()
        );
    }

    #[tokio::test]
    async fn entries_deleted_under_the_log_are_an_error_not_a_short_read() {
        let mut log = store();
        append(&mut log, 1..10).await;
        // A missing suffix below the last entry (what the state machine would otherwise apply
        // as if it were the whole committed range).
        delete(&log, 5..9);
        let err = log.try_get_log_entries(3..9).await.expect_err("suffix");
        assert!(err.to_string().contains("entries from 5 missing"), "{err}");
        // A hole in the middle.
        let err = log.try_get_log_entries(3..10).await.expect_err("hole");
        assert!(err.to_string().contains("hole before index 9"), "{err}");
        // A missing start that was never purged.
        delete(&log, 1..3);
        let err = log.try_get_log_entries(1..5).await.expect_err("prefix");
        assert!(err.to_string().contains("entries 1..3 missing"), "{err}");
    }
}
