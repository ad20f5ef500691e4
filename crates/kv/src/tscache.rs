//! The timestamp cache: the highest timestamp at which each span was read.
//!
//! A leaseholder must never write below a read it already served, or the read would not be
//! repeatable. Before a write at `ts` on a key, the leaseholder asks [`TsCache::max_read`]; if
//! a read at or above `ts` covered the key (by another transaction), the write is pushed to just
//! above it. The cache is bounded: when it holds too many spans it forgets them all and raises
//! its low-water mark to their maximum, which is always safe (it only pushes more writes).

use std::collections::BTreeMap;

use base::{Key, Span, Timestamp};

/// Keys and spans kept before the cache collapses into its low-water mark.
pub const DEFAULT_CAPACITY: usize = 8192;

/// The reads recorded on one key: the highest, by whom, and a bound on the rest.
#[derive(Debug, Clone, Copy)]
struct Reads {
    /// The highest read timestamp.
    top: Timestamp,
    /// The transaction that read at `top`; `None` when non-transactional, which counts against
    /// everyone.
    top_txn: Option<uuid::Uuid>,
    /// At least the highest read by any transaction other than `top_txn` (it may be higher,
    /// which only pushes more writes).
    others: Timestamp,
}

impl Reads {
    fn new(ts: Timestamp, txn: Option<uuid::Uuid>) -> Reads {
        Reads {
            top: ts,
            top_txn: txn,
            others: Timestamp::ZERO,
        }
    }

    fn record(&mut self, ts: Timestamp, txn: Option<uuid::Uuid>) {
        match (txn, self.top_txn) {
            (Some(t), Some(top)) if t == top => self.top = self.top.max(ts),
            _ if ts > self.top => {
                self.others = self.others.max(self.top);
                self.top = ts;
                self.top_txn = txn;
            }
            _ => self.others = self.others.max(ts),
        }
    }

    /// The highest read by anyone but `txn`.
    fn max_for(&self, txn: Option<uuid::Uuid>) -> Timestamp {
        match (txn, self.top_txn) {
            (Some(t), Some(top)) if t == top => self.others,
            _ => self.top,
        }
    }
}

#[derive(Debug, Clone)]
struct SpanEntry {
    span: Span,
    ts: Timestamp,
    txn: Option<uuid::Uuid>,
}

/// A bounded record of read timestamps per key and span. Point reads (most of them) are kept
/// by key in a sorted map, so a write looks up its key in logarithmic time; reads of wider
/// spans (scans) are kept in a list that every lookup checks for overlap.
#[derive(Debug)]
pub struct TsCache {
    low_water: Timestamp,
    points: BTreeMap<Key, Reads>,
    spans: Vec<SpanEntry>,
    capacity: usize,
}

impl TsCache {
    /// A cache that treats everything as read at `low_water` (a new leaseholder passes its
    /// lease start, since it cannot know what its predecessor served).
    pub fn new(low_water: Timestamp, capacity: usize) -> TsCache {
        TsCache {
            low_water,
            points: BTreeMap::new(),
            spans: Vec::new(),
            capacity,
        }
    }

    /// Records a read of `span` at `ts` by `txn` (if transactional).
    pub fn record_read(&mut self, span: &Span, ts: Timestamp, txn: Option<uuid::Uuid>) {
        if ts <= self.low_water {
            return;
        }
        let point = point_of(span);
        let known = point.is_some_and(|k| self.points.contains_key(k));
        if !known && self.points.len() + self.spans.len() >= self.capacity {
            let max = self
                .points
                .values()
                .map(|r| r.top)
                .chain(self.spans.iter().map(|e| e.ts))
                .max()
                .unwrap_or(self.low_water);
            self.low_water = self.low_water.max(max);
            self.points.clear();
            self.spans.clear();
        }
        match point {
            Some(k) => match self.points.get_mut(k) {
                Some(reads) => reads.record(ts, txn),
                None => {
                    self.points.insert(k.clone(), Reads::new(ts, txn));
                }
            },
            None => self.spans.push(SpanEntry {
                span: span.clone(),
                ts,
                txn,
            }),
        }
    }

    /// The highest read timestamp over `span` by anyone but `txn`.
    pub fn max_read(&self, span: &Span, txn: Option<uuid::Uuid>) -> Timestamp {
        let others = |e: &&SpanEntry| txn.is_none() || e.txn != txn;
        let mut max = self.low_water;
        match point_of(span) {
            Some(k) => {
                if let Some(reads) = self.points.get(k) {
                    max = max.max(reads.max_for(txn));
                }
                for e in self.spans.iter().filter(others) {
                    if e.span.start <= *k && *k < e.span.end {
                        max = max.max(e.ts);
                    }
                }
            }
            None => {
                for reads in self.points.range(span.start.clone()..span.end.clone()) {
                    max = max.max(reads.1.max_for(txn));
                }
                for e in self.spans.iter().filter(others) {
                    if e.span.start < span.end && span.start < e.span.end {
                        max = max.max(e.ts);
                    }
                }
            }
        }
        max
    }

    /// Raises the low-water mark (a new lease).
    pub fn raise_low_water(&mut self, ts: Timestamp) {
        self.low_water = self.low_water.max(ts);
        let low = self.low_water;
        self.points.retain(|_, r| r.top > low);
        self.spans.retain(|e| e.ts > low);
    }

    /// The low-water mark.
    pub fn low_water(&self) -> Timestamp {
        self.low_water
    }
}

/// The one key `span` covers, when it is a point: no end, an end not above the start, or an
/// end that is the start's immediate successor (`start` + `\0`).
fn point_of(span: &Span) -> Option<&Key> {
    let (start, end) = (&span.start.0, &span.end.0);
    let successor =
        end.len() == start.len() + 1 && end.last() == Some(&0) && end.starts_with(start);
    (end.is_empty() || span.end <= span.start || successor).then_some(&span.start)
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
    fn point_reads_by_several_transactions_push_everyone_else() {
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let k = Span::new("k", "k\0");
        let mut c = TsCache::new(ts(0), 100);
        c.record_read(&k, ts(10), Some(a));
        c.record_read(&k, ts(20), Some(b));
        c.record_read(&k, ts(15), Some(a));
        assert_eq!(c.max_read(&k, Some(a)), ts(20));
        assert_eq!(c.max_read(&k, Some(b)), ts(15));
        assert_eq!(c.max_read(&k, None), ts(20));
        // A non-transactional read counts against every transaction.
        c.record_read(&k, ts(30), None);
        assert_eq!(c.max_read(&k, Some(a)), ts(30));
        // Spans and points meet: a scan over the key, a write over a span holding the point.
        c.record_read(&Span::new("j", "l"), ts(40), Some(b));
        assert_eq!(c.max_read(&k, Some(a)), ts(40));
        assert_eq!(c.max_read(&k, Some(b)), ts(30));
        assert_eq!(c.max_read(&Span::new("a", "z"), Some(b)), ts(30));
        assert_eq!(c.max_read(&Span::new("m", "z"), None), ts(0));
    }

    /// The cache answers as the list of every read would, however reads by two transactions,
    /// non-transactional reads and scans interleave (a model check over random histories).
    #[test]
    fn agrees_with_a_list_of_every_read_or_errs_upward() {
        let txns = [Some(uuid::Uuid::new_v4()), Some(uuid::Uuid::new_v4()), None];
        let keys = ["a", "b", "c", "d"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for _ in 0..200 {
            let mut c = TsCache::new(ts(0), 1000);
            let mut all: Vec<(Span, Timestamp, Option<uuid::Uuid>)> = Vec::new();
            for _ in 0..30 {
                let k = keys[next(4) as usize];
                let span = if next(4) == 0 {
                    Span::new(k, "e")
                } else {
                    Span::new(k, format!("{k}\0").as_str())
                };
                let (t, txn) = (ts(next(50) as i64 + 1), txns[next(3) as usize]);
                c.record_read(&span, t, txn);
                all.push((span, t, txn));
                for q in keys {
                    for who in txns {
                        let q = Span::new(q, format!("{q}\0").as_str());
                        let exact = all
                            .iter()
                            .filter(|(s, _, by)| {
                                (who.is_none() || *by != who) && s.intersect(&q).is_some()
                            })
                            .map(|(_, t, _)| *t)
                            .fold(ts(0), Timestamp::max);
                        let got = c.max_read(&q, who);
                        assert!(got >= exact, "{q:?} by {who:?}: {got:?} < {exact:?}");
                    }
                }
            }
        }
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
