//! Linearizability of read/write/compare-and-set registers, one per key.
//!
//! # Model
//!
//! A register holds `nil` or an integer. `read v` is legal when the register holds `v`,
//! `write v` always is, `cas from to` when it holds `from`. Keys are independent objects, so
//! the history is linearizable iff each key's sub-history is (P-compositionality, Horn and
//! Kroening): [`check`] splits by key and searches the keys in parallel.
//!
//! Failed operations are dropped (they did not happen; a failed read tells nothing). A read
//! with an unknown outcome is dropped too: it changed nothing and returned nothing. A write or
//! cas with an unknown outcome (`info`) stays open to the end of the history and may take
//! effect at any point after its invocation, or never.
//!
//! # The search (Wing and Gong, with Lowe's cache)
//!
//! [`wgl`] puts each operation's call and return entries in one doubly linked list, ordered by
//! event index; open operations return "at infinity", after everything else.
//!
//! 1. Scan from the head. At a call entry, apply the operation to the current state. If that
//!    is legal and the pair (set of linearized operations, new state) was never seen before,
//!    *lift* the call and its return out of the list, push (entry, old state) on a stack and
//!    rescan from the head.
//! 2. At a return entry no pending operation could be linearized before it: pop the last
//!    choice, restore its state, put its entries back and continue after its call entry. An
//!    empty stack means no linearization exists.
//! 3. An empty list is a linearization. So is reaching the return of an open operation: every
//!    operation that did return is placed, and open ones may be left out.
//! 4. An open operation is only linearized if the next one observes the state (a read or a
//!    cas), so the search does not try every subset of crashed writes. This loses nothing:
//!    in any linearization, an open operation followed by a write, or by nothing, can be
//!    dropped (it returned nothing, and the write overwrites its effect), and repeating that
//!    leaves a linearization of this shape. The cache key records whether the last operation
//!    was open, since that restricts what may follow.
//!
//! Lowe's cache of (bitset, state) pairs cuts repeated work. Deciding linearizability is
//! NP-complete, so each key has a step and time budget ([`RegisterOptions`]); running out
//! makes that key, and so the verdict, `Unknown` — never a pass.
//!
//! # Reporting
//!
//! For a key with no linearization, [`check`] finds the shortest prefix of the key's history
//! (cut at an `ok` completion, by binary search: a prefix that cannot be linearized stays so
//! when extended) that already cannot be linearized. The report names the operation whose
//! completion ends that prefix, the operations concurrent with it, the longest partial
//! linearization the search found and the register's value there.

use crate::history::{Call, History, Key, Operation, Outcome};
use crate::verdict::{Anomaly, AnomalyKind, Verdict};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Steps of the search one key may take before it is `Unknown`.
pub const DEFAULT_MAX_STEPS_PER_KEY: u64 = 5_000_000;
/// Time one key's search may take before it is `Unknown`.
pub const DEFAULT_MAX_TIME_PER_KEY: Duration = Duration::from_secs(60);
/// How many entries of the longest linearization a report shows (the last ones).
const REPORT_TAIL: usize = 12;

/// Budgets and parallelism of [`check`].
#[derive(Clone, Debug)]
pub struct RegisterOptions {
    /// Search steps per key (entries visited); deterministic.
    pub max_steps_per_key: u64,
    /// Wall-clock time per key, if any.
    pub max_time_per_key: Option<Duration>,
    /// Keys searched at once; 0 means the machine's parallelism.
    pub threads: usize,
}

impl Default for RegisterOptions {
    fn default() -> RegisterOptions {
        RegisterOptions {
            max_steps_per_key: DEFAULT_MAX_STEPS_PER_KEY,
            max_time_per_key: Some(DEFAULT_MAX_TIME_PER_KEY),
            threads: 0,
        }
    }
}

/// A register operation as the model sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegOp {
    /// Read this value.
    Read(Option<i64>),
    /// Write this value.
    Write(i64),
    /// Compare and set.
    Cas(i64, i64),
}

/// The register's next state after `f`, or `None` when `f` is illegal in `state`.
pub fn step(state: Option<i64>, f: RegOp) -> Option<Option<i64>> {
    match f {
        RegOp::Read(v) => (state == v).then_some(state),
        RegOp::Write(v) => Some(Some(v)),
        RegOp::Cas(from, to) => (state == Some(from)).then_some(Some(to)),
    }
}

/// One operation of a key's sub-history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyOp {
    /// Position in [`History::operations`] (or any caller-chosen id).
    pub id: usize,
    /// The operation.
    pub f: RegOp,
    /// Invocation event index.
    pub invoke: u64,
    /// Completion event index; `None` when open (`info`).
    pub complete: Option<u64>,
}

/// How far the search got before it found no way on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deepest {
    /// The longest partial linearization: positions in the input, with the state after each.
    pub linearized: Vec<(usize, Option<i64>)>,
    /// The register's value after it.
    pub state: Option<i64>,
    /// The operation whose return could not be preceded by a legal choice.
    pub blocked: usize,
    /// The operations pending at that point (call seen, not linearized).
    pub candidates: Vec<usize>,
}

/// What [`wgl`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wgl {
    /// A linearization exists.
    Linearizable,
    /// None exists.
    Illegal(Deepest),
    /// The budget ran out after this many steps.
    Exhausted(u64),
}

/// A step and time allowance shared by the searches of one key.
#[derive(Debug)]
pub struct Budget {
    steps_left: u64,
    used: u64,
    deadline: Option<Instant>,
}

impl Budget {
    /// `steps` steps, and until `deadline` if given.
    pub fn new(steps: u64, time: Option<Duration>) -> Budget {
        Budget {
            steps_left: steps,
            used: 0,
            deadline: time.map(|t| Instant::now() + t),
        }
    }

    fn take(&mut self) -> bool {
        if self.steps_left == 0 {
            return false;
        }
        self.steps_left -= 1;
        self.used += 1;
        if self.used.is_multiple_of(4096) && self.deadline.is_some_and(|d| Instant::now() > d) {
            self.steps_left = 0;
            return false;
        }
        true
    }
}

const NIL: usize = usize::MAX;

/// The call/return list of the search, as arrays: entry `2i` is operation `i`'s call and
/// `2i + 1` its return, `head` the sentinel.
struct Entries {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl Entries {
    fn new(ops: &[KeyOp]) -> Entries {
        let mut order: Vec<(u64, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.invoke, 2 * i));
            order.push((op.complete.unwrap_or(u64::MAX), 2 * i + 1));
        }
        // Event indices are unique; open returns all sit at infinity, in any order.
        order.sort_unstable();
        let head = ops.len() * 2;
        let mut next = vec![NIL; head + 1];
        let mut prev = vec![NIL; head + 1];
        let mut last = head;
        for &(_, e) in &order {
            next[last] = e;
            prev[e] = last;
            last = e;
        }
        Entries { next, prev, head }
    }

    fn lift(&mut self, call: usize) {
        let ret = call + 1;
        let (p, n) = (self.prev[call], self.next[call]);
        self.next[p] = n;
        self.prev[n] = p;
        let (p, n) = (self.prev[ret], self.next[ret]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn unlift(&mut self, call: usize) {
        let ret = call + 1;
        let (p, n) = (self.prev[ret], self.next[ret]);
        self.next[p] = ret;
        if n != NIL {
            self.prev[n] = ret;
        }
        let (p, n) = (self.prev[call], self.next[call]);
        self.next[p] = call;
        self.prev[n] = call;
    }
}

/// Searches for a linearization of one register's operations, starting from `nil`.
pub fn wgl(ops: &[KeyOp], budget: &mut Budget) -> Wgl {
    let mut list = Entries::new(ops);
    let words = ops.len().div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, Option<i64>, bool)> = HashSet::new();
    // (call entry, state before it, whether the op before it was open).
    let mut stack: Vec<(usize, Option<i64>, bool)> = Vec::new();
    let mut state: Option<i64> = None;
    // Whether the last linearized operation is open: then only an operation that observes
    // the state (a read or cas) may follow (see the module essay, step 4).
    let mut after_open = false;
    let mut deepest: Option<Deepest> = None;
    let mut entry = list.next[list.head];
    loop {
        if list.next[list.head] == NIL {
            return Wgl::Linearizable;
        }
        if !budget.take() {
            return Wgl::Exhausted(budget.used);
        }
        let op = entry / 2;
        if entry.is_multiple_of(2) {
            let open = ops[op].complete.is_none();
            let observes = !matches!(ops[op].f, RegOp::Write(_));
            if let (true, Some(new_state)) = (observes || !after_open, step(state, ops[op].f)) {
                linearized[op / 64] |= 1 << (op % 64);
                if cache.insert((linearized.clone(), new_state, open)) {
                    stack.push((entry, state, after_open));
                    state = new_state;
                    after_open = open;
                    list.lift(entry);
                    entry = list.next[list.head];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = list.next[entry];
            continue;
        }
        // A return entry: nothing pending before it could go next.
        if ops[op].complete.is_none() {
            return Wgl::Linearizable;
        }
        if deepest
            .as_ref()
            .is_none_or(|d| stack.len() > d.linearized.len())
        {
            deepest = Some(snapshot(ops, &list, &stack, state, entry));
        }
        let Some((call, old_state, old_after_open)) = stack.pop() else {
            let d = deepest.unwrap_or_else(|| snapshot(ops, &list, &stack, state, entry));
            return Wgl::Illegal(d);
        };
        state = old_state;
        after_open = old_after_open;
        let undone = call / 2;
        linearized[undone / 64] &= !(1 << (undone % 64));
        list.unlift(call);
        entry = list.next[call];
    }
}

fn snapshot(
    ops: &[KeyOp],
    list: &Entries,
    stack: &[(usize, Option<i64>, bool)],
    state: Option<i64>,
    blocked_return: usize,
) -> Deepest {
    let mut linearized = Vec::with_capacity(stack.len());
    let mut replay: Option<i64> = None;
    for &(call, _, _) in stack {
        let op = call / 2;
        replay = step(replay, ops[op].f).unwrap_or(replay);
        linearized.push((op, replay));
    }
    let mut candidates = Vec::new();
    let mut e = list.next[list.head];
    while e != blocked_return && e != NIL {
        if e.is_multiple_of(2) {
            candidates.push(e / 2);
        }
        e = list.next[e];
    }
    Deepest {
        linearized,
        state,
        blocked: blocked_return / 2,
        candidates,
    }
}

/// The sub-history of a key as of event `cut`: operations invoked by then; those not yet
/// completed are open, and reads not yet completed are dropped (no result yet).
fn prefix(ops: &[KeyOp], cut: u64) -> Vec<KeyOp> {
    ops.iter()
        .filter(|o| o.invoke <= cut)
        .filter_map(|o| match o.complete {
            Some(c) if c <= cut => Some(*o),
            _ if matches!(o.f, RegOp::Read(_)) => None,
            _ => Some(KeyOp {
                complete: None,
                ..*o
            }),
        })
        .collect()
}

/// The result for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyResult {
    /// Linearizable.
    Linearizable,
    /// Not linearizable: the shortest failing prefix ends with the completion of `ops[blocked]`
    /// (positions in the key's operations), and the search's deepest point in that prefix.
    Illegal {
        /// The first prefix's cut (an event index).
        cut: u64,
        /// The deepest point of the search in that prefix, in positions of the key's ops.
        deepest: Deepest,
    },
    /// Undecided: the budget ran out.
    Unknown(String),
}

/// Checks one key's operations.
pub fn check_key(ops: &[KeyOp], budget: &mut Budget) -> KeyResult {
    let full = match wgl(ops, budget) {
        Wgl::Linearizable => return KeyResult::Linearizable,
        Wgl::Exhausted(steps) => {
            let open = ops.iter().filter(|o| o.complete.is_none()).count();
            return KeyResult::Unknown(format!(
                "search budget exhausted after {steps} steps ({} operations, {open} of them \
                 with unknown outcome)",
                ops.len()
            ));
        }
        Wgl::Illegal(d) => d,
    };
    // Binary search for the shortest failing prefix among cuts at ok completions.
    let mut cuts: Vec<u64> = ops.iter().filter_map(|o| o.complete).collect();
    cuts.sort_unstable();
    let map_back = |sub: &[KeyOp], d: Deepest| -> Deepest {
        let pos = |i: usize| ops.iter().position(|o| o.id == sub[i].id).unwrap_or(i);
        Deepest {
            linearized: d.linearized.iter().map(|&(i, s)| (pos(i), s)).collect(),
            state: d.state,
            blocked: pos(d.blocked),
            candidates: d.candidates.iter().map(|&i| pos(i)).collect(),
        }
    };
    let mut best = (cuts.last().copied().unwrap_or(0), full);
    let (mut lo, mut hi) = (0usize, cuts.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let sub = prefix(ops, cuts[mid]);
        match wgl(&sub, budget) {
            Wgl::Illegal(d) => {
                best = (cuts[mid], map_back(&sub, d));
                hi = mid;
            }
            Wgl::Linearizable => lo = mid + 1,
            Wgl::Exhausted(_) => break,
        }
    }
    KeyResult::Illegal {
        cut: best.0,
        deepest: best.1,
    }
}

/// The register operations of `history`, by key, with the position of each in
/// [`History::operations`].
pub fn by_key(history: &History) -> (BTreeMap<Key, Vec<KeyOp>>, u64) {
    let mut keys: BTreeMap<Key, Vec<KeyOp>> = BTreeMap::new();
    let mut dropped = 0;
    for (id, o) in history.operations().iter().enumerate() {
        let (key, f) = match (&o.call, o.outcome) {
            (_, Outcome::Fail) => {
                dropped += 1;
                continue;
            }
            (Call::Read { .. }, Outcome::Info) => {
                dropped += 1;
                continue;
            }
            (Call::Read { key, value }, _) => (*key, RegOp::Read(*value)),
            (Call::Write { key, value }, _) => (*key, RegOp::Write(*value)),
            (Call::Cas { key, from, to }, _) => (*key, RegOp::Cas(*from, *to)),
            _ => continue,
        };
        keys.entry(key).or_default().push(KeyOp {
            id,
            f,
            invoke: o.invoke,
            complete: match o.outcome {
                Outcome::Ok => o.complete,
                _ => None,
            },
        });
    }
    (keys, dropped)
}

/// Checks every key of a register history for linearizability.
pub fn check(history: &History, opts: &RegisterOptions) -> Verdict {
    let (keys, dropped) = by_key(history);
    let keys: Vec<(Key, Vec<KeyOp>)> = keys.into_iter().collect();
    let results = search_keys(&keys, opts);
    let mut anomalies = Vec::new();
    let mut unknown = Vec::new();
    let operations = history.operations();
    for ((key, ops), result) in keys.iter().zip(results) {
        match result {
            KeyResult::Linearizable => {}
            KeyResult::Unknown(why) => unknown.push(format!("key {key}: {why}")),
            KeyResult::Illegal { cut, deepest } => {
                anomalies.push(report(*key, ops, cut, &deepest, operations));
            }
        }
    }
    let mut stats = BTreeMap::new();
    stats.insert("keys".to_string(), keys.len() as u64);
    stats.insert(
        "ops".to_string(),
        keys.iter().map(|(_, o)| o.len() as u64).sum(),
    );
    stats.insert("dropped".to_string(), dropped);
    Verdict::new("register", anomalies, Vec::new(), unknown, stats)
}

fn search_keys(keys: &[(Key, Vec<KeyOp>)], opts: &RegisterOptions) -> Vec<KeyResult> {
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(keys.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<KeyResult>>> = Mutex::new(vec![None; keys.len()]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, ops)) = keys.get(i) else { break };
                    let mut budget = Budget::new(opts.max_steps_per_key, opts.max_time_per_key);
                    let r = check_key(ops, &mut budget);
                    if let Ok(mut res) = results.lock() {
                        res[i] = Some(r);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| KeyResult::Unknown("search did not run".into())))
        .collect()
}

fn value_text(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

/// Why `f` cannot go next in `state`.
fn why_not(state: Option<i64>, f: RegOp) -> String {
    match f {
        RegOp::Read(v) => format!(
            "read {} but the register holds {}",
            value_text(v),
            value_text(state)
        ),
        RegOp::Cas(from, _) => format!(
            "cas expects {from} but the register holds {}",
            value_text(state)
        ),
        RegOp::Write(_) => "a write is always legal; it was tried and led nowhere".into(),
    }
}

fn report(
    key: Key,
    ops: &[KeyOp],
    cut: u64,
    deepest: &Deepest,
    operations: &[Operation],
) -> Anomaly {
    let op = |i: usize| operations[ops[i].id].clone();
    let blocked = &ops[deepest.blocked];
    let explanation = format!(
        "no linearization of key {key}'s {} operations exists. The shortest prefix with none \
         ends at event {cut}, the completion of #{}: the longest partial linearization found \
         places {} operations and leaves the register at {}; then neither #{} nor any \
         operation pending with it can take effect next",
        ops.len(),
        operations[ops[cut_owner(ops, cut)].id].invoke,
        deepest.linearized.len(),
        value_text(deepest.state),
        operations[blocked.id].invoke,
    );
    let mut involved = vec![op(deepest.blocked)];
    let mut details = Vec::new();
    details.push(format!(
        "#{} {}",
        operations[blocked.id].invoke,
        why_not(deepest.state, blocked.f)
    ));
    for &c in &deepest.candidates {
        if c == deepest.blocked {
            continue;
        }
        involved.push(op(c));
        details.push(format!(
            "#{} (concurrent) {}",
            operations[ops[c].id].invoke,
            why_not(deepest.state, ops[c].f)
        ));
    }
    let skip = deepest.linearized.len().saturating_sub(REPORT_TAIL);
    details.push(format!(
        "longest partial linearization ({} operations{}):",
        deepest.linearized.len(),
        if skip > 0 {
            format!(", the last {REPORT_TAIL} shown")
        } else {
            String::new()
        }
    ));
    for &(i, s) in &deepest.linearized[skip..] {
        details.push(format!(
            "  {}  => register {}",
            operations[ops[i].id],
            value_text(s)
        ));
    }
    Anomaly::new(
        AnomalyKind::NonLinearizable,
        Some(key),
        explanation,
        involved,
    )
    .with_details(details)
}

/// The operation whose completion is event `cut`.
fn cut_owner(ops: &[KeyOp], cut: u64) -> usize {
    ops.iter()
        .position(|o| o.complete == Some(cut))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Builder;
    use crate::verdict::Validity;
    use proptest::prelude::*;

    fn w(key: Key, value: i64) -> Call {
        Call::Write { key, value }
    }
    fn r(key: Key, value: Option<i64>) -> Call {
        Call::Read { key, value }
    }
    fn cas(key: Key, from: i64, to: i64) -> Call {
        Call::Cas { key, from, to }
    }
    fn check_default(b: &Builder) -> Verdict {
        check(&b.build().unwrap(), &RegisterOptions::default())
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.complete(1, r(1, None), r(1, Some(1)));
        b.invoke(1, cas(1, 1, 2)).ok(1);
        b.complete(2, r(1, None), r(1, Some(2)));
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    #[test]
    fn concurrent_history_needs_reordering() {
        // p2's read of 2 returns before p1's write of 2 returns; both overlap.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, w(1, 2));
        b.invoke(2, r(1, None));
        b.ok_with(2, r(1, Some(2)));
        b.invoke(3, r(1, None));
        b.ok_with(3, r(1, Some(2)));
        b.ok(1);
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    #[test]
    fn stale_read_after_completed_write_is_caught() {
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, w(1, 2)).ok(1);
        // The write of 2 completed before this read began: reading 1 is stale.
        b.complete(2, r(1, None), r(1, Some(1)));
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Invalid, "{v}");
        let a = &v.anomalies[0];
        assert_eq!((a.kind, a.key), (AnomalyKind::NonLinearizable, Some(1)));
        let text = v.to_string();
        assert!(text.contains("read 1 but the register holds 2"), "{text}");
        assert!(text.contains("#4 p2 ok read key 1 -> 1"), "{text}");
    }

    #[test]
    fn read_of_never_written_value_is_caught() {
        let mut b = Builder::new();
        b.invoke(1, w(3, 1)).ok(1);
        b.complete(2, r(3, None), r(3, Some(7)));
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::NonLinearizable), "{v}");
    }

    #[test]
    fn lost_write_is_caught() {
        // cas 1->2 succeeded, then a read still sees 1 and later another sees 2: the value
        // went back.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, cas(1, 1, 2)).ok(1);
        b.complete(2, r(1, None), r(1, Some(2)));
        b.complete(3, r(1, None), r(1, Some(1)));
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::NonLinearizable), "{v}");
        // The shortest failing prefix ends with the read of 1.
        let text = v.to_string();
        assert!(text.contains("the completion of #6"), "{text}");
    }

    #[test]
    fn two_successful_cas_from_same_value_is_caught() {
        let mut b = Builder::new();
        b.invoke(1, w(1, 0)).ok(1);
        b.invoke(1, cas(1, 0, 1));
        b.invoke(2, cas(1, 0, 2));
        b.ok(1).ok(2);
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::NonLinearizable), "{v}");
    }

    #[test]
    fn info_write_may_or_may_not_take_effect() {
        // Took effect, late: a read long after sees it.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(2, w(1, 2)).info(2);
        b.complete(3, r(1, None), r(1, Some(1)));
        b.complete(3, r(1, None), r(1, Some(2)));
        assert_eq!(check_default(&b).validity, Validity::Valid);

        // Never took effect.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(2, w(1, 2)).info(2);
        b.complete(3, r(1, None), r(1, Some(1)));
        assert_eq!(check_default(&b).validity, Validity::Valid);

        // But not before it was invoked.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.complete(3, r(1, None), r(1, Some(2)));
        b.invoke(2, w(1, 2)).info(2);
        assert!(check_default(&b).has(AnomalyKind::NonLinearizable));

        // And only once: after 2 was read and then overwritten, it cannot come back.
        let mut b = Builder::new();
        b.invoke(2, w(1, 2)).info(2);
        b.complete(3, r(1, None), r(1, Some(2)));
        b.invoke(1, w(1, 1)).ok(1);
        b.complete(3, r(1, None), r(1, Some(2)));
        assert!(check_default(&b).has(AnomalyKind::NonLinearizable));
    }

    #[test]
    fn failed_operations_are_ignored() {
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, w(1, 9)).fail(1);
        b.invoke(2, r(1, None)).fail(2);
        b.complete(3, r(1, None), r(1, Some(1)));
        assert_eq!(check_default(&b).validity, Validity::Valid);

        // A failed write seen by a read is an anomaly.
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, w(1, 9)).fail(1);
        b.complete(3, r(1, None), r(1, Some(9)));
        assert!(check_default(&b).has(AnomalyKind::NonLinearizable));
    }

    #[test]
    fn keys_are_independent() {
        let mut b = Builder::new();
        b.invoke(1, w(1, 1)).ok(1);
        b.invoke(1, w(2, 5)).ok(1);
        b.complete(2, r(2, None), r(2, Some(5)));
        b.complete(2, r(1, None), r(1, Some(1)));
        b.complete(2, r(2, None), r(2, Some(4)));
        let v = check_default(&b);
        assert_eq!(v.anomalies.len(), 1, "{v}");
        assert_eq!(v.anomalies[0].key, Some(2));
    }

    #[test]
    fn exhausted_budget_is_unknown_not_valid() {
        let mut b = Builder::new();
        for p in 0..12 {
            b.invoke(p, w(1, p as i64));
        }
        for p in 0..12 {
            b.info(p);
        }
        b.complete(100, r(1, None), r(1, Some(99)));
        let opts = RegisterOptions {
            max_steps_per_key: 50,
            ..RegisterOptions::default()
        };
        let v = check(&b.build().unwrap(), &opts);
        assert_eq!(v.validity, Validity::Unknown, "{v}");
        assert!(v.unknown[0].contains("budget exhausted"), "{v}");
    }

    #[test]
    fn many_concurrent_info_writes_stay_tractable() {
        // 40 writers crash; reads see several of their values, in an order consistent with
        // the writes landing one after another.
        let mut b = Builder::new();
        for p in 0..40 {
            b.invoke(p, w(1, p as i64)).info(p);
        }
        for (i, v) in [3, 17, 5, 39, 0].into_iter().enumerate() {
            b.complete(100 + i as u64, r(1, None), r(1, Some(v)));
        }
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    // ---- property tests ----

    /// A random sequential execution of register operations on one key, each stretched into
    /// an interval around its linearization point, with some outcomes made unknown or failed
    /// (failed ones never happened). Always linearizable.
    #[derive(Clone, Debug)]
    struct Plan {
        ops: Vec<(RegOp, u64, u64, Outcome)>,
    }

    fn plan_strategy(len: std::ops::Range<usize>) -> impl Strategy<Value = Plan> {
        let one = (0u8..3, 0i64..4, 0i64..4, 0u64..40, 0u64..40, 0u8..10);
        prop::collection::vec(one, len).prop_map(|raw| {
            let mut state: Option<i64> = None;
            let mut ops = Vec::new();
            for (i, (kind, a, b2, before, after, fate)) in raw.into_iter().enumerate() {
                let point = (i as u64 + 1) * 10;
                let invoke = point.saturating_sub(before);
                let complete = point + after;
                let f = match kind {
                    0 => RegOp::Read(state),
                    1 => RegOp::Write(a),
                    // Half the cas operations expect the current value.
                    _ => RegOp::Cas(if fate % 2 == 0 { state.unwrap_or(a) } else { a }, b2),
                };
                let legal = step(state, f);
                let (outcome, applied) = match (legal, fate) {
                    // An illegal cas "failed": it happened nowhere.
                    (None, _) => (Outcome::Fail, false),
                    (Some(_), 0) => (Outcome::Info, true),
                    // A crashed write that never took effect.
                    (Some(_), 1) if matches!(f, RegOp::Write(_)) => (Outcome::Info, false),
                    (Some(_), _) => (Outcome::Ok, true),
                };
                if let (Some(s), true) = (legal, applied) {
                    state = s;
                }
                ops.push((f, invoke, complete, outcome));
            }
            ops.push((RegOp::Write(99), 5, 7, Outcome::Fail));
            Plan { ops }
        })
    }

    /// Turns a plan into a history: events ordered by time, each op on its own process.
    fn history_of(plan: &Plan) -> History {
        let mut events: Vec<(u64, usize, bool)> = Vec::new();
        for (i, &(_, inv, comp, _)) in plan.ops.iter().enumerate() {
            events.push((inv * 2, i, false));
            events.push((comp * 2 + 1, i, true));
        }
        events.sort();
        let mut b = Builder::new();
        for (_, i, is_complete) in events {
            let (f, _, _, outcome) = plan.ops[i];
            let call = match f {
                RegOp::Read(v) => r(1, v),
                RegOp::Write(v) => w(1, v),
                RegOp::Cas(a, c) => cas(1, a, c),
            };
            let p = i as u64;
            if !is_complete {
                let invoked = match call {
                    Call::Read { key, .. } => r(key, None),
                    ref other => other.clone(),
                };
                b.invoke(p, invoked);
                continue;
            }
            match outcome {
                Outcome::Ok => b.ok_with(p, call),
                Outcome::Fail => b.fail(p),
                Outcome::Info => b.info(p),
            };
        }
        b.build().unwrap()
    }

    /// Exhaustive reference: tries every order of the operations, leaving open ones out.
    fn brute_force(ops: &[KeyOp]) -> bool {
        fn go(ops: &[KeyOp], done: &mut Vec<bool>, state: Option<i64>) -> bool {
            let pending: Vec<usize> = (0..ops.len()).filter(|&i| !done[i]).collect();
            if pending.iter().all(|&i| ops[i].complete.is_none()) {
                return true;
            }
            let min_complete = pending
                .iter()
                .map(|&i| ops[i].complete.unwrap_or(u64::MAX))
                .min()
                .unwrap_or(u64::MAX);
            for &i in &pending {
                if ops[i].invoke > min_complete {
                    continue;
                }
                if let Some(s) = step(state, ops[i].f) {
                    done[i] = true;
                    if go(ops, done, s) {
                        return true;
                    }
                    done[i] = false;
                }
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], None)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn linearizable_histories_are_accepted(plan in plan_strategy(1..40)) {
            let h = history_of(&plan);
            let v = check(&h, &RegisterOptions::default());
            prop_assert_eq!(v.validity, Validity::Valid, "{}", v);
        }

        #[test]
        fn a_read_of_a_value_never_written_is_rejected(plan in plan_strategy(1..40), pick in 0usize..100) {
            let h = history_of(&plan);
            let mut ops = h.ops().to_vec();
            let reads: Vec<usize> = ops.iter().enumerate()
                .filter(|(_, o)| o.kind == crate::history::OpType::Ok
                    && matches!(o.call, Call::Read { .. }))
                .map(|(i, _)| i)
                .collect();
            prop_assume!(!reads.is_empty());
            let i = reads[pick % reads.len()];
            ops[i].call = r(1, Some(1_000));
            let v = check(&History::new(ops).unwrap(), &RegisterOptions::default());
            prop_assert_eq!(v.validity, Validity::Invalid, "{}", v);
        }

        #[test]
        fn a_corrupted_read_is_rejected_exactly_when_detectable(
            plan in plan_strategy(1..8), pick in 0usize..100, value in prop::option::of(0i64..4),
        ) {
            // Small histories only, so that the exhaustive reference can decide.
            let mut h = history_of(&plan);
            let mut ops = h.ops().to_vec();
            let reads: Vec<usize> = ops.iter().enumerate()
                .filter(|(_, o)| o.kind == crate::history::OpType::Ok
                    && matches!(o.call, Call::Read { .. }))
                .map(|(i, _)| i)
                .collect();
            if !reads.is_empty() {
                let i = reads[pick % reads.len()];
                ops[i].call = r(1, value);
                h = History::new(ops).unwrap();
            }
            let (keys, _) = by_key(&h);
            let key_ops = keys.get(&1).cloned().unwrap_or_default();
            let expected = brute_force(&key_ops);
            let v = check(&h, &RegisterOptions::default());
            prop_assert_eq!(v.validity == Validity::Valid, expected, "{}", v);
        }
    }
}
