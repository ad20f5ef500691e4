//! The recorder: numbers events as the clients report them and streams them to disk.
//!
//! One mutex orders every event of a history, so the event index is the real-time order the
//! checkers rely on: a client records its invocation *before* it sends the request and its
//! completion *after* the answer arrives, so "A's completion has a smaller index than B's
//! invocation" implies A finished before B began. Each event is also appended to the
//! history file as it happens, so a crashed run leaves its history behind.

use crate::history::{Call, History, HistoryError, Op, OpType};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

struct Inner {
    ops: Vec<Op>,
    file: Option<BufWriter<File>>,
}

/// Records one history.
pub struct Recorder {
    start: Instant,
    inner: Mutex<Inner>,
}

impl Recorder {
    /// A recorder streaming to `path` (created or truncated).
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        let file = BufWriter::new(File::create(path)?);
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(Inner {
                ops: Vec::new(),
                file: Some(file),
            }),
        })
    }

    /// Records an event; returns its index.
    pub fn record(
        &self,
        process: u64,
        kind: OpType,
        call: Call,
        node: Option<usize>,
        error: Option<String>,
    ) -> u64 {
        let time = self.start.elapsed().as_nanos() as u64;
        let Ok(mut inner) = self.inner.lock() else {
            return u64::MAX;
        };
        let index = inner.ops.len() as u64;
        let op = Op {
            index,
            time,
            process,
            kind,
            call,
            node: node.map(|n| n as u32),
            error,
        };
        if let Some(f) = inner.file.as_mut() {
            // Streaming is for post-mortems; the in-memory history is what gets checked.
            if serde_json::to_writer(&mut *f, &op).is_err() || f.write_all(b"\n").is_err() {
                inner.file = None;
            }
        }
        inner.ops.push(op);
        index
    }

    /// The number of events so far (the next event's index).
    pub fn len(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.ops.len() as u64)
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Flushes the file and returns the history.
    pub fn finish(&self) -> Result<History, HistoryError> {
        let ops = match self.inner.lock() {
            Ok(mut inner) => {
                if let Some(f) = inner.file.as_mut() {
                    let _ = f.flush();
                }
                inner.ops.clone()
            }
            Err(_) => Vec::new(),
        };
        History::new(ops)
    }
}
