//! Monotonic counters: once a value is seen, no later observation may go below it.
//!
//! Clients increment per-key counters in read-modify-write transactions (each increment
//! records the value it produced) and read them. Every `ok` increment and read is an
//! *observation* of its key's counter. [`check`] enforces, per key:
//!
//! 1. *non-monotonic*: a process's observations never decrease, in the order it made them;
//! 2. *non-monotonic-realtime*: an observation is never below one that completed before it
//!    was invoked, on any process (no stale reads);
//! 3. *duplicate-increment*: two `ok` increments never produce the same value (a lost
//!    update: both read the same old value);
//! 4. *counter-out-of-bounds*: an observation lies between the number of `ok` increments that
//!    completed before it was invoked and the number of `ok` or unknown increments invoked
//!    before it completed (counters start at 0; a missing counter reads as 0).
//!
//! Each anomaly names the pair of operations (or the one) that shows it.

use crate::history::{Call, History, Key, Operation, Outcome};
use crate::verdict::{Anomaly, AnomalyKind, Verdict};
use std::collections::{BTreeMap, HashMap};

/// Anomalies reported per kind; the rest are counted in the stats.
const REPORT_CAP: usize = 10;

/// An observation of a counter.
#[derive(Clone, Copy)]
struct Obs<'a> {
    op: &'a Operation,
    value: i64,
    /// Whether it is an increment (which also counts itself in the bounds).
    inc: bool,
}

/// Checks a monotonic-counter history.
pub fn check(history: &History) -> Verdict {
    let mut obs: BTreeMap<Key, Vec<Obs>> = BTreeMap::new();
    let mut incs: BTreeMap<Key, Vec<&Operation>> = BTreeMap::new();
    for op in history.operations() {
        match (&op.call, op.outcome) {
            (Call::Inc { key, .. }, Outcome::Ok | Outcome::Info) => {
                incs.entry(*key).or_default().push(op);
                if let (Call::Inc { value: Some(v), .. }, Outcome::Ok) = (&op.call, op.outcome) {
                    obs.entry(*key).or_default().push(Obs {
                        op,
                        value: *v,
                        inc: true,
                    });
                }
            }
            (Call::ReadCounter { key, value }, Outcome::Ok) => {
                obs.entry(*key).or_default().push(Obs {
                    op,
                    value: value.unwrap_or(0),
                    inc: false,
                });
            }
            _ => {}
        }
    }
    let mut found: Vec<Anomaly> = Vec::new();
    for (key, list) in &obs {
        per_process(*key, list, &mut found);
        realtime(*key, list, &mut found);
        duplicates(*key, list, &mut found);
        bounds(
            *key,
            list,
            incs.get(key).map_or(&[][..], Vec::as_slice),
            &mut found,
        );
    }
    let mut per_kind: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    let mut anomalies = Vec::new();
    let mut stats = BTreeMap::new();
    for a in found {
        let n = per_kind.entry(a.kind).or_default();
        *n += 1;
        if *n <= REPORT_CAP {
            anomalies.push(a);
        } else {
            *stats.entry(format!("unreported-{}", a.kind)).or_default() += 1;
        }
    }
    stats.insert("keys".to_string(), obs.len() as u64);
    stats.insert(
        "observations".to_string(),
        obs.values().map(|o| o.len() as u64).sum(),
    );
    Verdict::new("monotonic", anomalies, Vec::new(), Vec::new(), stats)
}

fn pair(kind: AnomalyKind, key: Key, a: &Obs, b: &Obs, why: &str) -> Anomaly {
    Anomaly::new(
        kind,
        Some(key),
        format!(
            "#{} saw {} after #{} saw {}: {why}",
            b.op.invoke, b.value, a.op.invoke, a.value
        ),
        vec![a.op.clone(), b.op.clone()],
    )
}

fn per_process(key: Key, list: &[Obs], out: &mut Vec<Anomaly>) {
    let mut last: HashMap<u64, Obs> = HashMap::new();
    let mut sorted = list.to_vec();
    sorted.sort_by_key(|o| o.op.invoke);
    for o in sorted {
        if let Some(prev) = last.get(&o.op.process)
            && o.value < prev.value
        {
            let why = format!("process {} saw the counter go backwards", o.op.process);
            out.push(pair(AnomalyKind::NonMonotonic, key, prev, &o, &why));
        }
        last.insert(o.op.process, o);
    }
}

fn realtime(key: Key, list: &[Obs], out: &mut Vec<Anomaly>) {
    let mut by_invoke = list.to_vec();
    by_invoke.sort_by_key(|o| o.op.invoke);
    let mut by_complete = list.to_vec();
    by_complete.sort_by_key(|o| o.op.complete_or_max());
    let mut highest: Option<Obs> = None;
    let mut i = 0;
    for o in by_invoke {
        while i < by_complete.len() && by_complete[i].op.complete_or_max() < o.op.invoke {
            let c = by_complete[i];
            if highest.is_none_or(|h| c.value > h.value) {
                highest = Some(c);
            }
            i += 1;
        }
        if let Some(h) = highest
            && o.value < h.value
            && h.op.process != o.op.process
        {
            let why = "the earlier observation completed before the later one began";
            out.push(pair(AnomalyKind::NonMonotonicRealtime, key, &h, &o, why));
        }
    }
}

fn duplicates(key: Key, list: &[Obs], out: &mut Vec<Anomaly>) {
    let mut by_value: BTreeMap<i64, Vec<&Obs>> = BTreeMap::new();
    for o in list.iter().filter(|o| o.inc) {
        by_value.entry(o.value).or_default().push(o);
    }
    for (v, os) in by_value {
        if os.len() < 2 {
            continue;
        }
        let names: Vec<String> = os.iter().map(|o| format!("#{}", o.op.invoke)).collect();
        out.push(Anomaly::new(
            AnomalyKind::DuplicateIncrement,
            Some(key),
            format!(
                "increments {} all produced {v}: they read the same value, so all but one \
                 update was lost",
                names.join(", ")
            ),
            os.iter().map(|o| o.op.clone()).collect(),
        ));
    }
}

fn bounds(key: Key, list: &[Obs], incs: &[&Operation], out: &mut Vec<Anomaly>) {
    let mut ok_completes: Vec<u64> = incs
        .iter()
        .filter(|i| i.outcome == Outcome::Ok)
        .map(|i| i.complete_or_max())
        .collect();
    ok_completes.sort_unstable();
    let mut invokes: Vec<u64> = incs.iter().map(|i| i.invoke).collect();
    invokes.sort_unstable();
    for o in list {
        // Ok increments that completed before `o` was invoked; increments (ok or unknown)
        // invoked before `o` completed. An increment observation counts itself in both.
        let lower = ok_completes.partition_point(|c| *c < o.op.invoke) as i64 + i64::from(o.inc);
        let upper = invokes.partition_point(|i| *i < o.op.complete_or_max()) as i64;
        if o.value < lower || o.value > upper {
            out.push(Anomaly::new(
                AnomalyKind::CounterOutOfBounds,
                Some(key),
                format!(
                    "#{} saw {}, but the increments around it allow only {lower}..={upper}",
                    o.op.invoke, o.value
                ),
                vec![o.op.clone()],
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Builder;
    use crate::verdict::Validity;

    fn inc(b: &mut Builder, p: u64, key: Key, value: i64) {
        b.complete(
            p,
            Call::Inc { key, value: None },
            Call::Inc {
                key,
                value: Some(value),
            },
        );
    }
    fn read(b: &mut Builder, p: u64, key: Key, value: i64) {
        b.complete(
            p,
            Call::ReadCounter { key, value: None },
            Call::ReadCounter {
                key,
                value: Some(value),
            },
        );
    }

    #[test]
    fn increasing_counters_are_valid() {
        let mut b = Builder::new();
        read(&mut b, 1, 1, 0);
        inc(&mut b, 2, 1, 1);
        b.invoke(
            3,
            Call::Inc {
                key: 1,
                value: None,
            },
        )
        .info(3);
        read(&mut b, 1, 1, 2);
        inc(&mut b, 2, 1, 3);
        read(&mut b, 4, 1, 3);
        let v = check(&b.build().unwrap());
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    #[test]
    fn per_process_regression_is_caught() {
        let mut b = Builder::new();
        inc(&mut b, 2, 1, 1);
        inc(&mut b, 2, 1, 2);
        read(&mut b, 1, 1, 2);
        read(&mut b, 1, 1, 1);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::NonMonotonic), "{v}");
        assert!(v.to_string().contains("#6 saw 1 after #4 saw 2"), "{v}");
    }

    #[test]
    fn stale_read_across_processes_is_caught() {
        let mut b = Builder::new();
        inc(&mut b, 2, 1, 1);
        read(&mut b, 1, 1, 1);
        read(&mut b, 3, 1, 0);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::NonMonotonicRealtime), "{v}");
    }

    #[test]
    fn duplicate_and_out_of_bounds_values_are_caught() {
        let mut b = Builder::new();
        b.invoke(
            1,
            Call::Inc {
                key: 1,
                value: None,
            },
        );
        b.invoke(
            2,
            Call::Inc {
                key: 1,
                value: None,
            },
        );
        b.ok_with(
            1,
            Call::Inc {
                key: 1,
                value: Some(1),
            },
        );
        b.ok_with(
            2,
            Call::Inc {
                key: 1,
                value: Some(1),
            },
        );
        read(&mut b, 3, 1, 5);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::DuplicateIncrement), "{v}");
        assert!(v.has(AnomalyKind::CounterOutOfBounds), "{v}");
    }
}
