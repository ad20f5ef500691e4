//! The timestamp cache: the highest timestamp at which each span was read.
//!
//! A leaseholder must never write below a read it already served, or the read would not be
//! repeatable. Before a write at `ts` on a key, the leaseholder asks [`TsCache::max_read`]; if
//! a read at or above `ts` covered the key (by another transaction), the write is pushed to just
//! above it. The cache is bounded: when it holds too many spans it forgets them all and raises
//! its low-water mark to their maximum, which is always safe (it only pushes more writes).

use base::{Key, Span, Timestamp};

/// Spans kept before the cache collapses into its low-water mark.
pub const DEFAULT_CAPACITY: usize = 8192;

#[derive(Debug, Clone)]
struct Entry {
    span: Span,
    ts: Timestamp,
    txn: Option<uuid::Uuid>,
}

/// A bounded record of read timestamps per span.
#[derive(Debug)]
pub struct TsCache {
    low_water: Timestamp,
    entries: Vec<Entry>,
    capacity: usize,
}

impl TsCache {
    /// A cache that treats everything as read at `low_water` (a new leaseholder passes its
    /// lease start, since it cannot know what its predecessor served).
    pub fn new(low_water: Timestamp, capacity: usize) -> TsCache {
        TsCache {
            low_water,
            entries: Vec::new(),
            capacity,
        }
    }

    /// Records a read of `span` at `ts` by `txn` (if transactional).
    pub fn record_read(&mut self, span: &Span, ts: Timestamp, txn: Option<uuid::Uuid>) {
        if ts <= self.low_water {
            return;
        }
        let span = point_or_span(span);
        if self.entries.len() >= self.capacity {
            let max = self
                .entries
                .iter()
                .map(|e| e.ts)
                .max()
                .unwrap_or(self.low_water);
            self.low_water = self.low_water.max(max);
            self.entries.clear();
        }
        self.entries.push(Entry { span, ts, txn });
    }

    /// The highest read timestamp over `span` by anyone but `txn`.
    pub fn max_read(&self, span: &Span, txn: Option<uuid::Uuid>) -> Timestamp {
        let span = point_or_span(span);
        self.entries
            .iter()
            .filter(|e| txn.is_none() || e.txn != txn)
            .filter(|e| e.span.intersect(&span).is_some())
            .map(|e| e.ts)
            .fold(self.low_water, Timestamp::max)
    }

    /// Raises the low-water mark (a new lease).
    pub fn raise_low_water(&mut self, ts: Timestamp) {
        self.low_water = self.low_water.max(ts);
        let low = self.low_water;
        self.entries.retain(|e| e.ts > low);
    }

    /// The low-water mark.
    pub fn low_water(&self) -> Timestamp {
        self.low_water
    }
}

fn point_or_span(span: &Span) -> Span {
    if span.end.0.is_empty() || span.end <= span.start {
        Span {
            start: span.start.clone(),
            end: Key::next(&span.start),
        }
    } else {
        span.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(w: i64) -> Timestamp {
        Timestamp::new(w, 0)
    }

    #[test]
    fn reads_push_later_writes() {
        let mut c = TsCache::new(ts(10), 100);
        c.record_read(&Span::new("a", "c"), ts(50), None);
        assert_eq!(c.max_read(&Span::new("b", "b\0"), None), ts(50));
        assert_eq!(c.max_read(&Span::new("c", "d"), None), ts(10));
    }

    #[test]
    fn own_reads_do_not_push_own_writes() {
        let mut c = TsCache::new(ts(0), 100);
        let me = uuid::Uuid::new_v4();
        c.record_read(&Span::new("a", "b"), ts(50), Some(me));
        assert_eq!(c.max_read(&Span::new("a", "a\0"), Some(me)), ts(0));
        assert_eq!(
            c.max_read(&Span::new("a", "a\0"), Some(uuid::Uuid::new_v4())),
            ts(50)
        );
    }

    #[test]
    fn overflow_collapses_into_low_water() {
        let mut c = TsCache::new(ts(0), 2);
        c.record_read(&Span::new("a", "b"), ts(5), None);
        c.record_read(&Span::new("x", "y"), ts(7), None);
        c.record_read(&Span::new("m", "n"), ts(6), None);
        assert_eq!(c.low_water(), ts(7));
        assert_eq!(c.max_read(&Span::new("q", "r"), None), ts(7));
    }
}
