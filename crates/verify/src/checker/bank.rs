//! The bank invariant: transfers move money between accounts and never create or destroy it.
//!
//! Clients transfer random amounts between a fixed set of accounts in transactions, and read
//! every balance in one transaction. Under snapshot isolation or anything stronger every
//! committed read sees the initial total; read skew or a lost update shows up as a different
//! total (Jepsen found TiDB's and YugabyteDB's totals drifting this way). [`check`] looks at
//! every `ok` read:
//!
//! 1. it holds exactly the configured accounts (*wrong-accounts* otherwise);
//! 2. its balances sum to the initial total (*wrong-total*);
//! 3. no balance is negative, unless negative balances are allowed (*negative-balance*).
//!
//! The first wrong total comes with the last read before it that had the right total and the
//! transfers that may have taken effect in between: the suspects. At most a few anomalies of
//! each kind are listed (every later read usually repeats the first wrong total); the stats
//! count the rest.
//!
//! The final read, taken after every fault was healed, must pass the same checks. A history
//! without any `ok` read, or without an `ok` final read when one is required, is `Unknown`:
//! nothing was checked.

use crate::history::{Call, History, Key, Operation, Outcome};
use crate::verdict::{Anomaly, AnomalyKind, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// The bank being checked.
#[derive(Clone, Debug)]
pub struct BankOptions {
    /// Every account id.
    pub accounts: Vec<Key>,
    /// The sum of the initial balances.
    pub total: i64,
    /// Whether balances may go below zero.
    pub allow_negative: bool,
    /// Whether a history without an `ok` final read is `Unknown`.
    pub require_final_read: bool,
}

/// Anomalies reported per kind; the rest are counted in the stats.
const REPORT_CAP: usize = 5;
/// Transfers listed as suspects of the first wrong total.
const SUSPECTS_CAP: usize = 20;

/// Checks every `ok` read of a bank history.
pub fn check(history: &History, opts: &BankOptions) -> Verdict {
    let expected: BTreeSet<Key> = opts.accounts.iter().copied().collect();
    let mut found = Vec::new();
    let mut stats: BTreeMap<String, u64> = BTreeMap::new();
    let mut final_reads = 0;
    let mut last_good: Option<&Operation> = None;
    let mut first_bad_total = true;
    let mut reads: Vec<(&Operation, &BTreeMap<Key, i64>, bool)> = Vec::new();
    for op in history.operations() {
        match (&op.call, op.outcome) {
            (Call::Transfer { .. }, outcome) => {
                *stats.entry(format!("transfers-{outcome}")).or_default() += 1;
            }
            (
                Call::ReadAccounts {
                    balances: Some(b),
                    final_read,
                },
                Outcome::Ok,
            ) => reads.push((op, b, *final_read)),
            _ => {}
        }
    }
    // In completion order, so that "the last good read" precedes the first bad one.
    reads.sort_by_key(|(op, _, _)| op.complete_or_max());
    for (op, balances, final_read) in reads {
        *stats.entry("reads-ok".into()).or_default() += 1;
        final_reads += u64::from(final_read);
        let which = if final_read { "final read" } else { "read" };
        let seen: BTreeSet<Key> = balances.keys().copied().collect();
        if seen != expected {
            let missing: Vec<String> = expected.difference(&seen).map(Key::to_string).collect();
            let extra: Vec<String> = seen.difference(&expected).map(Key::to_string).collect();
            found.push(Anomaly::new(
                AnomalyKind::WrongAccounts,
                None,
                format!(
                    "{which} #{} saw the wrong accounts: missing [{}], unexpected [{}]",
                    op.invoke,
                    missing.join(" "),
                    extra.join(" ")
                ),
                vec![op.clone()],
            ));
        }
        let total: i64 = balances.values().sum();
        if total == opts.total {
            last_good = Some(op);
        } else {
            let mut a = Anomaly::new(
                AnomalyKind::WrongTotal,
                None,
                format!(
                    "{which} #{} totals {total}, not {} ({:+})",
                    op.invoke,
                    opts.total,
                    total - opts.total
                ),
                vec![op.clone()],
            );
            if std::mem::take(&mut first_bad_total) {
                a = with_suspects(a, history, last_good, op);
            }
            found.push(a);
        }
        let negative: Vec<String> = balances
            .iter()
            .filter(|(_, b)| **b < 0)
            .map(|(a, b)| format!("{a}:{b}"))
            .collect();
        if !opts.allow_negative && !negative.is_empty() {
            found.push(Anomaly::new(
                AnomalyKind::NegativeBalance,
                None,
                format!(
                    "{which} #{} saw negative balances {}",
                    op.invoke,
                    negative.join(" ")
                ),
                vec![op.clone()],
            ));
        }
    }
    stats.insert("final-reads".into(), final_reads);
    let mut unknown = Vec::new();
    if stats.get("reads-ok").copied().unwrap_or(0) == 0 {
        unknown.push("no read succeeded: nothing to check".to_string());
    } else if opts.require_final_read && final_reads == 0 {
        unknown.push("no final read succeeded after the faults were healed".to_string());
    }
    let mut per_kind: BTreeMap<AnomalyKind, usize> = BTreeMap::new();
    let mut anomalies = Vec::new();
    for a in found {
        let n = per_kind.entry(a.kind).or_default();
        *n += 1;
        if *n <= REPORT_CAP {
            anomalies.push(a);
        } else {
            *stats.entry(format!("unreported-{}", a.kind)).or_default() += 1;
        }
    }
    Verdict::new("bank", anomalies, Vec::new(), unknown, stats)
}

/// Adds to the first wrong total the last read with the right total before it, and the
/// transfers that may have taken effect in between: ok or unknown transfers not completed
/// before the good read was invoked, nor invoked after the bad read completed.
fn with_suspects(
    mut a: Anomaly,
    history: &History,
    good: Option<&Operation>,
    bad: &Operation,
) -> Anomaly {
    let mut details = Vec::new();
    match good {
        Some(g) => {
            a.ops.insert(0, g.clone());
            details.push(format!(
                "the last read with the right total was #{}",
                g.invoke
            ));
        }
        None => details.push("no earlier read had the right total".to_string()),
    }
    let suspects: Vec<&Operation> = history
        .operations()
        .iter()
        .filter(|o| matches!(o.call, Call::Transfer { .. }) && o.outcome != Outcome::Fail)
        .filter(|o| good.is_none_or(|g| !o.precedes(g)) && !bad.precedes(o))
        .collect();
    details.push(format!(
        "{} transfers may have taken effect in between{}:",
        suspects.len(),
        if suspects.len() > SUSPECTS_CAP {
            format!(" (the first {SUSPECTS_CAP} shown)")
        } else {
            String::new()
        }
    ));
    for s in suspects.iter().take(SUSPECTS_CAP) {
        details.push(format!("  {s}"));
    }
    a.with_details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Builder;
    use crate::verdict::Validity;

    fn opts() -> BankOptions {
        BankOptions {
            accounts: vec![1, 2, 3],
            total: 30,
            allow_negative: false,
            require_final_read: true,
        }
    }
    fn read(b: &mut Builder, p: u64, balances: &[(Key, i64)], final_read: bool) {
        b.complete(
            p,
            Call::ReadAccounts {
                balances: None,
                final_read,
            },
            Call::ReadAccounts {
                balances: Some(balances.iter().copied().collect()),
                final_read,
            },
        );
    }
    fn transfer(from: Key, to: Key, amount: i64) -> Call {
        Call::Transfer { from, to, amount }
    }

    #[test]
    fn conserved_total_is_valid() {
        let mut b = Builder::new();
        b.invoke(1, transfer(1, 2, 5));
        read(&mut b, 2, &[(1, 10), (2, 10), (3, 10)], false);
        b.ok(1);
        b.invoke(1, transfer(2, 3, 50)).fail(1);
        b.invoke(1, transfer(3, 1, 1)).info(1);
        read(&mut b, 2, &[(1, 6), (2, 15), (3, 9)], false);
        read(&mut b, 2, &[(1, 6), (2, 15), (3, 9)], true);
        let v = check(&b.build().unwrap(), &opts());
        assert_eq!(v.validity, Validity::Valid, "{v}");
        assert_eq!(v.stats["transfers-info"], 1);
    }

    #[test]
    fn total_drift_is_caught() {
        let mut b = Builder::new();
        read(&mut b, 2, &[(1, 10), (2, 10), (3, 10)], false);
        b.invoke(1, transfer(1, 2, 5)).ok(1);
        // Read skew: the debit seen, the credit not.
        read(&mut b, 2, &[(1, 5), (2, 10), (3, 10)], false);
        read(&mut b, 2, &[(1, 5), (2, 15), (3, 10)], true);
        let v = check(&b.build().unwrap(), &opts());
        assert_eq!(v.validity, Validity::Invalid);
        assert_eq!(v.anomalies.len(), 1, "{v}");
        let text = v.to_string();
        assert!(text.contains("read #4 totals 25, not 30 (-5)"), "{text}");
        assert!(
            text.contains("the last read with the right total was #0"),
            "{text}"
        );
        assert!(text.contains("1 transfers may have taken effect"), "{text}");
        assert!(text.contains("#2 p1 ok transfer 5 from 1 to 2"), "{text}");
    }

    #[test]
    fn final_total_drift_is_caught() {
        let mut b = Builder::new();
        read(&mut b, 2, &[(1, 10), (2, 10), (3, 12)], true);
        let v = check(&b.build().unwrap(), &opts());
        assert!(v.has(AnomalyKind::WrongTotal), "{v}");
        assert!(v.to_string().contains("final read #0 totals 32"), "{v}");
    }

    #[test]
    fn negative_balances_and_wrong_accounts_are_caught() {
        let mut b = Builder::new();
        read(&mut b, 2, &[(1, -5), (2, 25), (3, 10)], false);
        read(&mut b, 2, &[(1, 10), (2, 20), (4, 0)], true);
        let v = check(&b.build().unwrap(), &opts());
        assert!(v.has(AnomalyKind::NegativeBalance), "{v}");
        assert!(v.has(AnomalyKind::WrongAccounts), "{v}");
        let lenient = BankOptions {
            allow_negative: true,
            ..opts()
        };
        let v = check(&b.build().unwrap(), &lenient);
        assert!(!v.has(AnomalyKind::NegativeBalance), "{v}");
    }

    #[test]
    fn no_reads_is_unknown() {
        let mut b = Builder::new();
        b.invoke(1, transfer(1, 2, 5)).ok(1);
        assert_eq!(
            check(&b.build().unwrap(), &opts()).validity,
            Validity::Unknown
        );
        read(&mut b, 2, &[(1, 5), (2, 15), (3, 10)], false);
        let v = check(&b.build().unwrap(), &opts());
        assert_eq!(v.validity, Validity::Unknown, "{v}");
        assert!(v.unknown[0].contains("final read"), "{v}");
    }
}
