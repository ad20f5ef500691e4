//! Sets of spans as sorted, merged lists: what a flow has left to do.

use base::Span;

/// Sorts `spans`, drops empty ones and merges overlapping or adjacent ones.
pub fn merge(mut spans: Vec<Span>) -> Vec<Span> {
    spans.retain(|s| !s.is_empty());
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => {
                if s.end > last.end {
                    last.end = s.end;
                }
            }
            _ => out.push(s),
        }
    }
    out
}

/// The parts of `spans` not covered by `done`, merged.
pub fn subtract(spans: Vec<Span>, done: &[Span]) -> Vec<Span> {
    let done = merge(done.to_vec());
    let mut out = Vec::new();
    for s in merge(spans) {
        let mut rest = Some(s);
        for d in &done {
            let Some(r) = rest.take() else { break };
            if d.end <= r.start || d.start >= r.end {
                rest = Some(r);
                continue;
            }
            if d.start > r.start {
                out.push(Span::new(r.start.clone(), d.start.clone()));
            }
            if d.end < r.end {
                rest = Some(Span::new(d.end.clone(), r.end));
            }
        }
        out.extend(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(a: &str, b: &str) -> Span {
        Span::new(a.as_bytes().to_vec(), b.as_bytes().to_vec())
    }

    #[test]
    fn merges_adjacent_and_overlapping() {
        assert_eq!(
            merge(vec![
                sp("c", "d"),
                sp("a", "b"),
                sp("b", "c"),
                sp("x", "z"),
                sp("y", "y")
            ]),
            vec![sp("a", "d"), sp("x", "z")]
        );
    }

    #[test]
    fn subtracts_holes() {
        assert_eq!(
            subtract(
                vec![sp("a", "z")],
                &[sp("c", "e"), sp("g", "h"), sp("y", "zz")]
            ),
            vec![sp("a", "c"), sp("e", "g"), sp("h", "y")]
        );
        assert_eq!(subtract(vec![sp("a", "c")], &[sp("a", "c")]), vec![]);
        assert_eq!(subtract(vec![sp("a", "c")], &[]), vec![sp("a", "c")]);
    }
}
