//! Sets: every acknowledged insert survives, and nothing else appears.
//!
//! Clients insert unique elements; a final read after every fault was healed returns the
//! set. Jepsen found CockroachDB returning duplicates this way (an internal retry re-applied
//! an insert whose first attempt had succeeded) and YugabyteDB losing acknowledged inserts.
//! [`check`] compares each `ok` read with the adds:
//!
//! - *lost*: an `ok` add missing from the final read;
//! - *unexpected*: an element read that no add attempted, or whose add definitely failed;
//! - *duplicated*: an element twice in one read;
//! - *stale-read*: a read (any, final or not) misses an `ok` add that completed before the
//!   read was invoked — the set's elements are rows, each of which must be linearizable.
//!
//! Adds with unknown outcome may be present or not; the stats count how many came back. A
//! history without an `ok` final read is `Unknown`.

use crate::history::{Call, History, Operation, Outcome};
use crate::verdict::{Anomaly, AnomalyKind, Verdict};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How many elements an anomaly's message lists; the ops listed are capped the same way.
const LIST_CAP: usize = 20;

fn elements_text(elements: &[i64]) -> String {
    let shown: Vec<String> = elements.iter().take(LIST_CAP).map(i64::to_string).collect();
    let more = elements.len().saturating_sub(LIST_CAP);
    if more > 0 {
        format!("[{} ... and {more} more]", shown.join(" "))
    } else {
        format!("[{}]", shown.join(" "))
    }
}

/// Checks a set history.
pub fn check(history: &History) -> Verdict {
    let mut adds: HashMap<i64, &Operation> = HashMap::new();
    let mut reads: Vec<(&Operation, &Vec<i64>, bool)> = Vec::new();
    for op in history.operations() {
        match (&op.call, op.outcome) {
            (Call::Add { element }, _) => {
                adds.insert(*element, op);
            }
            (
                Call::ReadSet {
                    elements: Some(e),
                    final_read,
                },
                Outcome::Ok,
            ) => reads.push((op, e, *final_read)),
            _ => {}
        }
    }
    let mut anomalies = Vec::new();
    for &(read, elements, final_read) in &reads {
        anomalies.extend(check_read(read, elements, final_read, &adds));
    }
    let mut stats = BTreeMap::new();
    let count = |o: Outcome| adds.values().filter(|a| a.outcome == o).count() as u64;
    stats.insert("adds-ok".to_string(), count(Outcome::Ok));
    stats.insert("adds-fail".to_string(), count(Outcome::Fail));
    stats.insert("adds-info".to_string(), count(Outcome::Info));
    stats.insert("reads-ok".to_string(), reads.len() as u64);
    let last_final = reads
        .iter()
        .filter(|r| r.2)
        .max_by_key(|r| r.0.complete_or_max());
    let mut unknown = Vec::new();
    match last_final {
        None => unknown.push("no final read succeeded: losses cannot be checked".to_string()),
        Some(&(read, elements, _)) => {
            let present: BTreeSet<i64> = elements.iter().copied().collect();
            let mut lost: Vec<&Operation> = adds
                .iter()
                .filter(|(e, a)| a.outcome == Outcome::Ok && !present.contains(e))
                .map(|(_, a)| *a)
                .collect();
            lost.sort_by_key(|a| a.invoke);
            let recovered = adds
                .iter()
                .filter(|(e, a)| a.outcome == Outcome::Info && present.contains(e))
                .count();
            stats.insert("info-adds-present".to_string(), recovered as u64);
            if !lost.is_empty() {
                let elements: Vec<i64> = lost.iter().filter_map(|a| element(a)).collect();
                let mut ops = vec![read.clone()];
                ops.extend(lost.iter().take(LIST_CAP).map(|a| (*a).clone()));
                anomalies.push(Anomaly::new(
                    AnomalyKind::Lost,
                    None,
                    format!(
                        "{} acknowledged adds are missing from final read #{}: {}",
                        lost.len(),
                        read.invoke,
                        elements_text(&elements)
                    ),
                    ops,
                ));
            }
        }
    }
    Verdict::new("set", anomalies, Vec::new(), unknown, stats)
}

fn element(op: &Operation) -> Option<i64> {
    match op.call {
        Call::Add { element } => Some(element),
        _ => None,
    }
}

fn check_read(
    read: &Operation,
    elements: &[i64],
    final_read: bool,
    adds: &HashMap<i64, &Operation>,
) -> Vec<Anomaly> {
    let which = if final_read { "final read" } else { "read" };
    let mut out = Vec::new();
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for e in elements {
        *counts.entry(*e).or_default() += 1;
    }
    let dups: Vec<i64> = counts
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(e, _)| *e)
        .collect();
    if !dups.is_empty() {
        out.push(Anomaly::new(
            AnomalyKind::Duplicated,
            None,
            format!(
                "{which} #{} returned elements more than once: {}",
                read.invoke,
                elements_text(&dups)
            ),
            vec![read.clone()],
        ));
    }
    let mut never = Vec::new();
    let mut failed = Vec::new();
    for e in counts.keys() {
        match adds.get(e) {
            None => never.push(*e),
            Some(a) if a.outcome == Outcome::Fail => failed.push(*a),
            Some(_) => {}
        }
    }
    if !never.is_empty() || !failed.is_empty() {
        let failed_elems: Vec<i64> = failed.iter().filter_map(|a| element(a)).collect();
        let mut ops = vec![read.clone()];
        ops.extend(failed.iter().take(LIST_CAP).map(|a| (*a).clone()));
        out.push(Anomaly::new(
            AnomalyKind::Unexpected,
            None,
            format!(
                "{which} #{} returned elements never added {} and elements whose add failed {}",
                read.invoke,
                elements_text(&never),
                elements_text(&failed_elems)
            ),
            ops,
        ));
    }
    let mut stale: Vec<&Operation> = adds
        .iter()
        .filter(|(e, a)| a.outcome == Outcome::Ok && a.precedes(read) && !counts.contains_key(e))
        .map(|(_, a)| *a)
        .collect();
    stale.sort_by_key(|a| a.invoke);
    if !stale.is_empty() && !final_read {
        let elems: Vec<i64> = stale.iter().filter_map(|a| element(a)).collect();
        let mut ops = vec![read.clone()];
        ops.extend(stale.iter().take(LIST_CAP).map(|a| (*a).clone()));
        out.push(Anomaly::new(
            AnomalyKind::StaleRead,
            None,
            format!(
                "{which} #{} misses elements whose adds completed before it began: {}",
                read.invoke,
                elements_text(&elems)
            ),
            ops,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Builder;
    use crate::verdict::Validity;

    fn add(b: &mut Builder, p: u64, e: i64) -> &mut Builder {
        b.invoke(p, Call::Add { element: e })
    }
    fn read(b: &mut Builder, p: u64, elements: &[i64], final_read: bool) {
        b.complete(
            p,
            Call::ReadSet {
                elements: None,
                final_read,
            },
            Call::ReadSet {
                elements: Some(elements.to_vec()),
                final_read,
            },
        );
    }

    #[test]
    fn complete_set_is_valid() {
        let mut b = Builder::new();
        add(&mut b, 1, 1).ok(1);
        add(&mut b, 1, 2).fail(1);
        add(&mut b, 2, 3).info(2);
        add(&mut b, 3, 4).info(3);
        add(&mut b, 1, 5);
        read(&mut b, 4, &[1], false);
        b.ok(1);
        read(&mut b, 4, &[5, 1, 3], true);
        let v = check(&b.build().unwrap());
        assert_eq!(v.validity, Validity::Valid, "{v}");
        assert_eq!(v.stats["info-adds-present"], 1);
    }

    #[test]
    fn lost_element_is_caught() {
        let mut b = Builder::new();
        add(&mut b, 1, 1).ok(1);
        add(&mut b, 1, 2).ok(1);
        read(&mut b, 4, &[1], true);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::Lost), "{v}");
        let text = v.to_string();
        assert!(
            text.contains("1 acknowledged adds are missing from final read #4: [2]"),
            "{text}"
        );
        assert!(text.contains("#2 p1 ok add 2"), "{text}");
    }

    #[test]
    fn unexpected_and_duplicated_elements_are_caught() {
        let mut b = Builder::new();
        add(&mut b, 1, 1).ok(1);
        add(&mut b, 1, 2).fail(1);
        read(&mut b, 4, &[1, 1, 2, 9], true);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::Duplicated), "{v}");
        assert!(v.has(AnomalyKind::Unexpected), "{v}");
        let text = v.to_string();
        assert!(text.contains("never added [9]"), "{text}");
        assert!(text.contains("whose add failed [2]"), "{text}");
    }

    #[test]
    fn stale_read_is_caught() {
        let mut b = Builder::new();
        add(&mut b, 1, 1).ok(1);
        read(&mut b, 4, &[], false);
        read(&mut b, 4, &[1], true);
        let v = check(&b.build().unwrap());
        assert!(v.has(AnomalyKind::StaleRead), "{v}");
    }

    #[test]
    fn missing_final_read_is_unknown() {
        let mut b = Builder::new();
        add(&mut b, 1, 1).ok(1);
        read(&mut b, 4, &[1], false);
        assert_eq!(check(&b.build().unwrap()).validity, Validity::Unknown);
    }
}
