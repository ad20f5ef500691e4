//! The span frontier: the resolved timestamp of every piece of the watched spans.
//!
//! The change frontier on the coordinator feeds it the `(span, resolved)` reports of the
//! aggregators; a report may cover any part of a tracked span (rangefeeds checkpoint per
//! range). [`Frontier::forward`] splits pieces at the report's boundaries and raises the
//! covered pieces, never lowering one. [`Frontier::frontier`] is the minimum over all pieces:
//! the high-water mark, below which every change has been emitted and flushed. The checkpoint
//! keeps the pieces ahead of the high-water ([`Frontier::entries`]) so a restarted feed does not
//! re-emit what those spans already delivered.

use base::{Key, Span, Timestamp};
use serde::{Deserialize, Serialize};

/// Resolved timestamps over a set of disjoint spans.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    /// Disjoint pieces in key order, each with its resolved timestamp.
    pieces: Vec<(Span, Timestamp)>,
}

impl Frontier {
    /// Tracks `spans` (overlaps merged), all resolved at `start`.
    pub fn new(spans: &[Span], start: Timestamp) -> Frontier {
        let mut spans: Vec<Span> = spans.iter().filter(|s| s.start < s.end).cloned().collect();
        spans.sort_by(|a, b| a.start.cmp(&b.start));
        let mut merged: Vec<Span> = Vec::new();
        for s in spans {
            match merged.last_mut() {
                Some(last) if s.start <= last.end => {
                    if s.end > last.end {
                        last.end = s.end;
                    }
                }
                _ => merged.push(s),
            }
        }
        Frontier {
            pieces: merged.into_iter().map(|s| (s, start)).collect(),
        }
    }

    /// Raises the resolved timestamp of the tracked parts of `span` to at least `ts`. Returns
    /// whether the frontier (the minimum) moved.
    pub fn forward(&mut self, span: &Span, ts: Timestamp) -> bool {
        let before = self.frontier();
        let mut out = Vec::with_capacity(self.pieces.len() + 2);
        for (piece, t) in self.pieces.drain(..) {
            if piece.end <= span.start || span.end <= piece.start || t >= ts {
                out.push((piece, t));
                continue;
            }
            let lo = max_key(&piece.start, &span.start);
            let hi = min_key(&piece.end, &span.end);
            if piece.start < lo {
                out.push((span_of(&piece.start, &lo), t));
            }
            out.push((span_of(&lo, &hi), ts));
            if hi < piece.end {
                out.push((span_of(&hi, &piece.end), t));
            }
        }
        self.pieces = coalesce(out);
        self.frontier() != before
    }

    /// The minimum resolved timestamp (the high-water); `Timestamp::ZERO` when empty.
    pub fn frontier(&self) -> Timestamp {
        self.pieces
            .iter()
            .map(|(_, t)| *t)
            .min()
            .unwrap_or(Timestamp::ZERO)
    }

    /// Every piece with its resolved timestamp, in key order.
    pub fn entries(&self) -> &[(Span, Timestamp)] {
        &self.pieces
    }

    /// The pieces resolved above the frontier (the "lagging spans" are the others).
    pub fn ahead(&self) -> Vec<(Span, Timestamp)> {
        let f = self.frontier();
        self.pieces
            .iter()
            .filter(|(_, t)| *t > f)
            .cloned()
            .collect()
    }
}

fn span_of(a: &Key, b: &Key) -> Span {
    Span {
        start: a.clone(),
        end: b.clone(),
    }
}

fn max_key(a: &Key, b: &Key) -> Key {
    if a >= b { a.clone() } else { b.clone() }
}

fn min_key(a: &Key, b: &Key) -> Key {
    if a <= b { a.clone() } else { b.clone() }
}

/// Merges adjacent pieces with the same timestamp.
fn coalesce(pieces: Vec<(Span, Timestamp)>) -> Vec<(Span, Timestamp)> {
    let mut out: Vec<(Span, Timestamp)> = Vec::with_capacity(pieces.len());
    for (s, t) in pieces {
        match out.last_mut() {
            Some((last, lt)) if *lt == t && last.end == s.start => last.end = s.end,
            _ => out.push((s, t)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(a: &str, b: &str) -> Span {
        span_of(&Key(a.as_bytes().to_vec()), &Key(b.as_bytes().to_vec()))
    }

    fn ts(w: i64) -> Timestamp {
        Timestamp {
            wall: w,
            logical: 0,
        }
    }

    fn show(f: &Frontier) -> String {
        f.entries()
            .iter()
            .map(|(s, t)| {
                format!(
                    "[{}-{})@{}",
                    String::from_utf8_lossy(&s.start.0),
                    String::from_utf8_lossy(&s.end.0),
                    t.wall
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn forwards_pieces_and_tracks_the_minimum() {
        let mut f = Frontier::new(&[sp("a", "m"), sp("k", "z")], ts(1));
        assert_eq!(show(&f), "[a-z)@1");
        assert!(!f.forward(&sp("c", "f"), ts(5)), "other pieces still at 1");
        assert_eq!(show(&f), "[a-c)@1 [c-f)@5 [f-z)@1");
        assert!(!f.forward(&sp("a", "c"), ts(7)));
        assert!(f.forward(&sp("f", "zz"), ts(3)));
        assert_eq!(f.frontier(), ts(3));
        assert_eq!(show(&f), "[a-c)@7 [c-f)@5 [f-z)@3");
        assert!(!f.forward(&sp("a", "z"), ts(2)), "never goes back");
        assert_eq!(show(&f), "[a-c)@7 [c-f)@5 [f-z)@3");
        assert_eq!(f.ahead().len(), 2);
        assert!(f.forward(&sp("a", "z"), ts(9)));
        assert_eq!(show(&f), "[a-z)@9");
        assert!(
            !f.forward(&sp("zz", "zzz"), ts(20)),
            "untracked spans are ignored"
        );
    }
}
