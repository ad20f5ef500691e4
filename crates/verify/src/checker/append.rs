//! Elle's list-append checker: transactional anomalies from append/read histories.
//!
//! Each operation is a transaction of micro-operations `[append k v]` and `[r k [v ...]]`, and
//! appended elements are unique per key. Because a read returns the whole list, reads reveal
//! the order in which appends took effect, and from that order the dependencies between
//! transactions follow (Kingsbury and Alvaro, "Elle", VLDB 2020).
//!
//! # Steps of [`check`]
//!
//! 1. Index every append: (key, element) → the transaction that appended it, and whether it
//!    was that transaction's last append to the key.
//! 2. Checks that need no graph, over the reads of committed (`ok`) transactions:
//!    - *internal*: a read contradicts the transaction's own earlier reads and appends;
//!    - *duplicated*: an element twice in one read;
//!    - *unwritten-read*: an element nobody appended;
//!    - *G1a* (aborted read): an element appended by a failed transaction;
//!    - *G1b* (intermediate read): a read ends in an element that its transaction followed
//!      with another append to the same key;
//!    - *lost-update*: two committed transactions read the same version of a key and both
//!      appended to it.
//! 3. Version orders: per key, the reads sorted by length must each be a prefix of the next
//!    (*incompatible-order* otherwise, and the key gives no edges); the longest is the order.
//!    An element appended by a committed transaction but never read comes after it.
//! 4. The graph: a node per `ok` or `info` transaction (failed ones only matter to G1a; an
//!    `info` transaction's reads are unknown, but its appends count once seen). Edges:
//!    - `ww`: the appender of an element → the appender of the next element;
//!    - `wr`: the appender of a read's last element → the reader;
//!    - `rw`: the reader of a version → the appender of the next element;
//!    - `process`: consecutive transactions of one process;
//!    - `realtime`: T1 completed before T2 was invoked (the transitive reduction, from a
//!      frontier of recently completed transactions).
//! 5. Cycles ([`super::cycle`]): strongly connected components, then in each a shortest
//!    cycle of every class, G0, G1c, G-single, G-nonadjacent and G2-item, searched in three
//!    layers: data edges only; data and process edges, with at least one process edge
//!    (`-process`); and all edges with at least one realtime edge (`-realtime`).
//!
//! # Verdict
//!
//! Serializability forbids every data cycle, so those always fail. A `-process` cycle fails
//! unless [`AppendOptions::process_order`] is off: a client's own transactions must take
//! effect in order. A `-realtime` cycle whose data edges are all on one key is a stale read,
//! a violation of that key's linearizability, and fails unless
//! [`AppendOptions::linearizable_keys`] is off; it is searched key by key. Other `-realtime`
//! cycles only break strict serializability, which Sextant (like CockroachDB) does not
//! promise: they are warnings unless [`AppendOptions::strict_serializable`] is on.
//!
//! Every anomaly names its transactions; a cycle also lists each edge with the key and the
//! elements that justify it.

use super::cycle::{self, DATA, EdgeKind, Graph, Search, Spec, Step, Why};
use crate::history::{Call, History, Key, Mop, Operation, Outcome, list_text};
use crate::verdict::{Anomaly, AnomalyKind, CycleClass, Verdict, Via};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Edge visits the cycle searches may make in total before the verdict is `Unknown`.
pub const DEFAULT_SEARCH_BUDGET: u64 = 50_000_000;
/// Cycles reported per anomaly kind; the rest are counted.
pub const DEFAULT_MAX_REPORTS_PER_KIND: usize = 8;

/// What the checker enforces.
#[derive(Clone, Debug)]
pub struct AppendOptions {
    /// Cycles that need real-time edges across keys fail (strict serializability) instead of
    /// being warnings.
    pub strict_serializable: bool,
    /// Cycles that need process-order edges fail.
    pub process_order: bool,
    /// Real-time cycles confined to one key (stale reads) fail.
    pub linearizable_keys: bool,
    /// Edge visits of the cycle searches.
    pub search_budget: u64,
    /// Cycles reported per kind.
    pub max_reports_per_kind: usize,
}

impl Default for AppendOptions {
    fn default() -> AppendOptions {
        AppendOptions {
            strict_serializable: false,
            process_order: true,
            linearizable_keys: true,
            search_budget: DEFAULT_SEARCH_BUDGET,
            max_reports_per_kind: DEFAULT_MAX_REPORTS_PER_KIND,
        }
    }
}

/// A transaction of the history.
struct Txn<'a> {
    op: &'a Operation,
    mops: &'a [Mop],
    /// Graph node, for `ok` and `info` transactions.
    node: Option<usize>,
}

/// Who appended an element.
#[derive(Clone, Copy)]
struct Writer {
    txn: usize,
    /// Whether this was the transaction's last append to the key.
    last: bool,
}

/// An `ok` transaction's read.
struct Read<'a> {
    txn: usize,
    key: Key,
    list: &'a [i64],
}

struct Checker<'a> {
    opts: &'a AppendOptions,
    txns: Vec<Txn<'a>>,
    /// Graph node → transaction.
    nodes: Vec<usize>,
    writers: HashMap<(Key, i64), Writer>,
    reads: Vec<Read<'a>>,
    anomalies: Vec<Anomaly>,
    warnings: Vec<Anomaly>,
    unknown: Vec<String>,
    reported: BTreeMap<AnomalyKind, usize>,
    omitted: BTreeMap<AnomalyKind, u64>,
    /// Searches that ran out of budget where that cannot change the verdict.
    incomplete: Vec<String>,
    budget: u64,
}

/// Checks a list-append history.
pub fn check(history: &History, opts: &AppendOptions) -> Verdict {
    let mut c = Checker::new(history.operations(), opts);
    c.index_appends();
    c.internal();
    c.read_checks();
    c.lost_updates();
    let orders = c.version_orders();
    let (graph, by_key) = c.build_graph(&orders);
    c.search_layers(&graph);
    if opts.linearizable_keys {
        c.search_keys(&by_key);
    }
    c.verdict(&graph, orders.len())
}

impl<'a> Checker<'a> {
    fn new(operations: &'a [Operation], opts: &'a AppendOptions) -> Checker<'a> {
        let mut txns = Vec::new();
        let mut nodes = Vec::new();
        for op in operations {
            let Call::Txn { mops } = &op.call else {
                continue;
            };
            let node = (op.outcome != Outcome::Fail).then(|| {
                nodes.push(txns.len());
                nodes.len() - 1
            });
            txns.push(Txn { op, mops, node });
        }
        let mut reads = Vec::new();
        for (t, txn) in txns.iter().enumerate() {
            if txn.op.outcome != Outcome::Ok {
                continue;
            }
            for m in txn.mops {
                if let Mop::Read(key, Some(list)) = m {
                    reads.push(Read {
                        txn: t,
                        key: *key,
                        list,
                    });
                }
            }
        }
        Checker {
            opts,
            txns,
            nodes,
            writers: HashMap::new(),
            reads,
            anomalies: Vec::new(),
            warnings: Vec::new(),
            unknown: Vec::new(),
            reported: BTreeMap::new(),
            omitted: BTreeMap::new(),
            incomplete: Vec::new(),
            budget: opts.search_budget,
        }
    }

    fn op(&self, txn: usize) -> Operation {
        self.txns[txn].op.clone()
    }

    fn name(&self, txn: usize) -> String {
        format!("#{}", self.txns[txn].op.invoke)
    }

    /// Records an anomaly (or a warning), keeping at most the configured number per kind.
    fn report(&mut self, a: Anomaly, fails: bool) {
        let n = self.reported.entry(a.kind).or_default();
        if *n >= self.opts.max_reports_per_kind {
            *self.omitted.entry(a.kind).or_default() += 1;
            return;
        }
        *n += 1;
        if fails {
            self.anomalies.push(a);
        } else {
            self.warnings.push(a);
        }
    }

    fn index_appends(&mut self) {
        for (t, txn) in self.txns.iter().enumerate() {
            let mut last_append: HashMap<Key, i64> = HashMap::new();
            for m in txn.mops {
                if let Mop::Append(k, v) = m {
                    last_append.insert(*k, *v);
                }
            }
            for m in txn.mops {
                let Mop::Append(k, v) = m else { continue };
                let w = Writer {
                    txn: t,
                    last: last_append.get(k) == Some(v),
                };
                if let Some(prev) = self.writers.insert((*k, *v), w) {
                    self.unknown.push(format!(
                        "element {v} appended to key {k} by both #{} and #{}: elements must be \
                         unique per key, so the order cannot be inferred",
                        self.txns[prev.txn].op.invoke, txn.op.invoke
                    ));
                }
            }
        }
    }

    /// A read that contradicts the transaction's own earlier reads and appends.
    fn internal(&mut self) {
        enum Expect {
            Exactly(Vec<i64>),
            EndsWith(Vec<i64>),
        }
        let mut found = Vec::new();
        for (t, txn) in self.txns.iter().enumerate() {
            if txn.op.outcome != Outcome::Ok {
                continue;
            }
            let mut expect: HashMap<Key, Expect> = HashMap::new();
            for m in txn.mops {
                match m {
                    Mop::Append(k, v) => match expect.get_mut(k) {
                        Some(Expect::Exactly(l) | Expect::EndsWith(l)) => l.push(*v),
                        None => {
                            expect.insert(*k, Expect::EndsWith(vec![*v]));
                        }
                    },
                    Mop::Read(k, Some(list)) => {
                        let wrong = match expect.get(k) {
                            Some(Expect::Exactly(l)) if l != list => Some(list_text(l)),
                            Some(Expect::EndsWith(s)) if !list.ends_with(s) => {
                                Some(format!("a list ending in {}", list_text(s)))
                            }
                            _ => None,
                        };
                        if let Some(expected) = wrong {
                            found.push((t, *k, list_text(list), expected));
                        }
                        expect.insert(*k, Expect::Exactly(list.clone()));
                    }
                    Mop::Read(_, None) => {}
                }
            }
        }
        for (t, k, got, expected) in found {
            let a = Anomaly::new(
                AnomalyKind::Internal,
                Some(k),
                format!(
                    "{} read {got} from key {k}, but its own earlier reads and appends imply \
                     {expected}",
                    self.name(t)
                ),
                vec![self.op(t)],
            );
            self.report(a, true);
        }
    }

    /// Duplicates, unwritten elements, G1a and G1b.
    fn read_checks(&mut self) {
        let mut found = Vec::new();
        for r in &self.reads {
            let mut seen = HashSet::new();
            let dups: Vec<i64> = r
                .list
                .iter()
                .filter(|v| !seen.insert(**v))
                .copied()
                .collect();
            if !dups.is_empty() {
                found.push(Anomaly::new(
                    AnomalyKind::Duplicated,
                    Some(r.key),
                    format!(
                        "{} read key {} as {}: {} appear more than once",
                        self.name(r.txn),
                        r.key,
                        list_text(r.list),
                        list_text(&dups)
                    ),
                    vec![self.op(r.txn)],
                ));
            }
            for v in r.list {
                match self.writers.get(&(r.key, *v)) {
                    None => found.push(Anomaly::new(
                        AnomalyKind::UnwrittenRead,
                        Some(r.key),
                        format!(
                            "{} read element {v} of key {}, which no transaction appended",
                            self.name(r.txn),
                            r.key
                        ),
                        vec![self.op(r.txn)],
                    )),
                    Some(w) if self.txns[w.txn].op.outcome == Outcome::Fail => {
                        found.push(Anomaly::new(
                            AnomalyKind::G1a,
                            Some(r.key),
                            format!(
                                "aborted read: {} read element {v} of key {}, appended by {}, \
                                 which failed",
                                self.name(r.txn),
                                r.key,
                                self.name(w.txn)
                            ),
                            vec![self.op(r.txn), self.op(w.txn)],
                        ))
                    }
                    Some(_) => {}
                }
            }
            let Some(last) = r.list.last() else { continue };
            if let Some(w) = self.writers.get(&(r.key, *last))
                && w.txn != r.txn
                && !w.last
                && self.txns[w.txn].op.outcome != Outcome::Fail
            {
                found.push(Anomaly::new(
                    AnomalyKind::G1b,
                    Some(r.key),
                    format!(
                        "intermediate read: {} read key {} ending in {last}, but {} appended \
                         more to key {} after {last}",
                        self.name(r.txn),
                        r.key,
                        self.name(w.txn),
                        r.key
                    ),
                    vec![self.op(r.txn), self.op(w.txn)],
                ));
            }
        }
        for a in found {
            self.report(a, true);
        }
    }

    /// Committed transactions that read the same version of a key and both appended to it.
    fn lost_updates(&mut self) {
        let mut groups: BTreeMap<(Key, Option<i64>), Vec<usize>> = BTreeMap::new();
        for (t, txn) in self.txns.iter().enumerate() {
            if txn.op.outcome != Outcome::Ok {
                continue;
            }
            let mut first_read: HashMap<Key, Option<i64>> = HashMap::new();
            let mut appended_first: HashSet<Key> = HashSet::new();
            let mut appended_after_read: HashSet<Key> = HashSet::new();
            for m in txn.mops {
                match m {
                    Mop::Read(k, Some(list)) => {
                        if !appended_first.contains(k) {
                            first_read.entry(*k).or_insert(list.last().copied());
                        }
                    }
                    Mop::Append(k, _) => {
                        if first_read.contains_key(k) {
                            appended_after_read.insert(*k);
                        } else {
                            appended_first.insert(*k);
                        }
                    }
                    Mop::Read(_, None) => {}
                }
            }
            for k in appended_after_read {
                if let Some(v) = first_read.get(&k) {
                    groups.entry((k, *v)).or_default().push(t);
                }
            }
        }
        for ((k, v), ts) in groups {
            if ts.len() < 2 {
                continue;
            }
            let version = v.map_or_else(|| "the empty list".to_string(), |v| format!("{v}"));
            let names: Vec<String> = ts.iter().map(|t| self.name(*t)).collect();
            let a = Anomaly::new(
                AnomalyKind::LostUpdate,
                Some(k),
                format!(
                    "{} all read key {k} ending in {version} and then appended to it: one \
                     update must be lost",
                    names.join(", ")
                ),
                ts.iter().map(|t| self.op(*t)).collect(),
            );
            self.report(a, true);
        }
    }

    /// Each key's version order, from its longest read; keys whose reads disagree are left
    /// out.
    fn version_orders(&mut self) -> BTreeMap<Key, Vec<i64>> {
        let mut by_key: BTreeMap<Key, Vec<&Read>> = BTreeMap::new();
        for r in &self.reads {
            by_key.entry(r.key).or_default().push(r);
        }
        for txn in &self.txns {
            for m in txn.mops {
                if let Mop::Append(k, _) = m {
                    by_key.entry(*k).or_default();
                }
            }
        }
        let mut orders = BTreeMap::new();
        let mut found = Vec::new();
        for (k, mut reads) in by_key {
            reads.sort_by_key(|r| r.list.len());
            let bad = reads.windows(2).find(|w| !w[1].list.starts_with(w[0].list));
            if let Some(w) = bad {
                found.push(Anomaly::new(
                    AnomalyKind::IncompatibleOrder,
                    Some(k),
                    format!(
                        "{} read key {k} as {} and {} read it as {}: neither is a prefix of \
                         the other, so there is no single order of appends",
                        self.name(w[0].txn),
                        list_text(w[0].list),
                        self.name(w[1].txn),
                        list_text(w[1].list)
                    ),
                    vec![self.op(w[0].txn), self.op(w[1].txn)],
                ));
                continue;
            }
            let longest = reads.last().map(|r| r.list.to_vec()).unwrap_or_default();
            orders.insert(k, longest);
        }
        for a in found {
            self.report(a, true);
        }
        orders
    }

    fn writer_node(&self, key: Key, v: i64) -> Option<usize> {
        self.writers
            .get(&(key, v))
            .and_then(|w| self.txns[w.txn].node)
    }

    /// The dependency graph, and its data edges by key (as (from, to, kind, why)).
    #[allow(clippy::type_complexity)]
    fn build_graph(
        &self,
        orders: &BTreeMap<Key, Vec<i64>>,
    ) -> (Graph, BTreeMap<Key, Vec<(usize, usize, EdgeKind, Why)>>) {
        let mut edges: BTreeMap<Key, Vec<(usize, usize, EdgeKind, Why)>> = BTreeMap::new();
        // Elements appended by committed transactions and never read, by key.
        let mut unread: BTreeMap<Key, Vec<(usize, i64)>> = BTreeMap::new();
        for txn in &self.txns {
            if txn.op.outcome != Outcome::Ok {
                continue;
            }
            for m in txn.mops {
                if let (Mop::Append(k, v), Some(node)) = (m, txn.node)
                    && let Some(order) = orders.get(k)
                    && !order.contains(v)
                {
                    unread.entry(*k).or_default().push((node, *v));
                }
            }
        }
        for (&key, order) in orders {
            let e = edges.entry(key).or_default();
            for pair in order.windows(2) {
                if let (Some(a), Some(b)) = (
                    self.writer_node(key, pair[0]),
                    self.writer_node(key, pair[1]),
                ) {
                    let why = Why::Ww {
                        key,
                        prev: pair[0],
                        next: pair[1],
                        inferred: false,
                    };
                    e.push((a, b, EdgeKind::Ww, why));
                }
            }
            let tail = order.last().copied();
            let after_tail = unread.get(&key).cloned().unwrap_or_default();
            if let Some(a) = tail.and_then(|t| self.writer_node(key, t)) {
                for &(b, v) in &after_tail {
                    let why = Why::Ww {
                        key,
                        prev: tail.unwrap_or_default(),
                        next: v,
                        inferred: true,
                    };
                    e.push((a, b, EdgeKind::Ww, why));
                }
            }
            for r in self.reads.iter().filter(|r| r.key == key) {
                let Some(reader) = self.txns[r.txn].node else {
                    continue;
                };
                let last = r.list.last().copied();
                if let Some(a) = last.and_then(|v| self.writer_node(key, v)) {
                    let why = Why::Wr {
                        key,
                        value: last.unwrap_or_default(),
                    };
                    e.push((a, reader, EdgeKind::Wr, why));
                }
                match order.get(r.list.len()) {
                    Some(&next) => {
                        if let Some(b) = self.writer_node(key, next) {
                            let why = Why::Rw {
                                key,
                                read: last,
                                next,
                                inferred: false,
                            };
                            e.push((reader, b, EdgeKind::Rw, why));
                        }
                    }
                    None => {
                        for &(b, next) in &after_tail {
                            let why = Why::Rw {
                                key,
                                read: last,
                                next,
                                inferred: true,
                            };
                            e.push((reader, b, EdgeKind::Rw, why));
                        }
                    }
                }
            }
        }
        let mut g = Graph::new(self.nodes.len());
        for es in edges.values() {
            for (a, b, k, why) in es {
                g.add(*a, *b, *k, why.clone());
            }
        }
        self.add_process_edges(&mut g);
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.add_realtime_edges(&mut g, &all, &|n| n);
        (g, edges)
    }

    fn add_process_edges(&self, g: &mut Graph) {
        let mut last: HashMap<u64, usize> = HashMap::new();
        for (node, &t) in self.nodes.iter().enumerate() {
            let process = self.txns[t].op.process;
            if let Some(prev) = last.insert(process, node) {
                g.add(prev, node, EdgeKind::Process, Why::Process { process });
            }
        }
    }

    /// Real-time edges among `members` (graph nodes), added to `g` as `local(node)`: the
    /// transitive reduction computed from a frontier of completed transactions not yet known
    /// to precede another completed one.
    fn add_realtime_edges(&self, g: &mut Graph, members: &[usize], local: &dyn Fn(usize) -> usize) {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(members.len() * 2);
        for &n in members {
            let op = self.txns[self.nodes[n]].op;
            events.push((op.invoke, false, n));
            if let Some(c) = op.complete {
                events.push((c, true, n));
            }
        }
        events.sort_unstable();
        let mut frontier: Vec<usize> = Vec::new();
        let mut preds: HashMap<usize, Vec<usize>> = HashMap::new();
        for (index, completes, n) in events {
            if completes {
                let covered = preds.remove(&n).unwrap_or_default();
                frontier.retain(|p| !covered.contains(p));
                frontier.push(n);
                continue;
            }
            for &p in &frontier {
                let completed = self.txns[self.nodes[p]].op.complete.unwrap_or_default();
                let why = Why::Realtime {
                    completed,
                    invoked: index,
                };
                g.add(local(p), local(n), EdgeKind::Realtime, why);
            }
            preds.insert(n, frontier.clone());
        }
    }

    fn search_layers(&mut self, g: &Graph) {
        let layers = [
            (DATA, 0, Via::Data),
            (
                DATA | EdgeKind::Process.bit(),
                EdgeKind::Process.bit(),
                Via::Process,
            ),
            (
                DATA | EdgeKind::Process.bit() | EdgeKind::Realtime.bit(),
                EdgeKind::Realtime.bit(),
                Via::Realtime,
            ),
        ];
        for (mask, required, via) in layers {
            if via == Via::Process && !g.has_kind(EdgeKind::Process) {
                continue;
            }
            if via == Via::Realtime && !g.has_kind(EdgeKind::Realtime) {
                continue;
            }
            self.budget = self.opts.search_budget;
            let (phase, decisive) = match via {
                Via::Data => ("data", true),
                Via::Process => ("process", self.opts.process_order),
                Via::Realtime => ("real-time", self.opts.strict_serializable),
            };
            for comp in g.sccs(mask) {
                let mut seen_classes = HashSet::new();
                for class in CLASSES {
                    let spec = Spec {
                        allowed: cycle::class_kinds(class) | (mask & !DATA),
                        class: Some(class),
                        required,
                    };
                    let Some(steps) = self.find(g, &comp, &spec, phase, decisive) else {
                        continue;
                    };
                    let kinds: Vec<EdgeKind> = steps.iter().map(|s| g.edge(*s).kind).collect();
                    let found = cycle::classify(&kinds);
                    if !seen_classes.insert(found) {
                        continue;
                    }
                    let key = single_key(g, &steps);
                    let fails = match via {
                        Via::Data => true,
                        Via::Process => self.opts.process_order,
                        // Single-key real-time cycles are reported by `search_keys`.
                        Via::Realtime if key.is_some() && self.opts.linearizable_keys => continue,
                        Via::Realtime => self.opts.strict_serializable,
                    };
                    let a = self.cycle_anomaly(g, &|n| n, &steps, found, cycle::via(&kinds), key);
                    self.report(a, fails);
                }
            }
        }
    }

    /// Real-time cycles confined to one key: each key's data edges plus the real-time order
    /// of the transactions that touch it.
    fn search_keys(&mut self, by_key: &BTreeMap<Key, Vec<(usize, usize, EdgeKind, Why)>>) {
        self.budget = self.opts.search_budget;
        for (&key, edges) in by_key {
            let mut members: Vec<usize> = edges.iter().flat_map(|e| [e.0, e.1]).collect();
            members.sort_unstable();
            members.dedup();
            if members.len() < 2 {
                continue;
            }
            let local: HashMap<usize, usize> =
                members.iter().enumerate().map(|(i, &n)| (n, i)).collect();
            let mut kg = Graph::new(members.len());
            for (a, b, k, why) in edges {
                kg.add(local[a], local[b], *k, why.clone());
            }
            self.add_realtime_edges(&mut kg, &members, &|n| local[&n]);
            let mask = DATA | EdgeKind::Realtime.bit();
            for comp in kg.sccs(mask) {
                let spec = Spec {
                    allowed: mask,
                    class: None,
                    required: EdgeKind::Realtime.bit(),
                };
                let Some(steps) = self.find(&kg, &comp, &spec, "per-key real-time", true) else {
                    continue;
                };
                let kinds: Vec<EdgeKind> = steps.iter().map(|s| kg.edge(*s).kind).collect();
                let class = cycle::classify(&kinds);
                let to_global = |n: usize| members[n];
                let a =
                    self.cycle_anomaly(&kg, &to_global, &steps, class, Via::Realtime, Some(key));
                self.report(a, true);
            }
        }
    }

    /// One cycle search within the budget of the current phase. Running out skips the rest
    /// of the phase; if the phase can fail the verdict (`decisive`), the verdict becomes
    /// unknown, otherwise the gap is only counted in the stats.
    fn find(
        &mut self,
        g: &Graph,
        comp: &[usize],
        spec: &Spec,
        phase: &str,
        decisive: bool,
    ) -> Option<Vec<Step>> {
        if self.budget == 0 {
            return None;
        }
        match cycle::find_cycle(g, comp, spec, &mut self.budget) {
            Search::Found(steps) => Some(steps),
            Search::None => None,
            Search::Exhausted => {
                self.budget = 0;
                if decisive {
                    self.unknown.push(format!(
                        "{phase} cycle search: budget of {} edge visits exhausted in a \
                         component of {} transactions; the rest of the search was skipped",
                        self.opts.search_budget,
                        comp.len()
                    ));
                } else {
                    self.incomplete.push(format!("search-incomplete-{phase}"));
                }
                None
            }
        }
    }

    fn cycle_anomaly(
        &self,
        g: &Graph,
        to_global: &dyn Fn(usize) -> usize,
        steps: &[Step],
        class: CycleClass,
        via: Via,
        key: Option<Key>,
    ) -> Anomaly {
        let txn = |n: usize| self.nodes[to_global(n)];
        let mut chain = String::new();
        let mut ops = Vec::new();
        let mut details = Vec::new();
        for s in steps {
            let e = g.edge(*s);
            let (a, b) = (txn(s.from), txn(e.to));
            if chain.is_empty() {
                chain.push_str(&self.name(a));
            }
            chain.push_str(&format!(" -{}-> {}", e.kind.name(), self.name(b)));
            ops.push(self.op(a));
            details.push(self.describe(a, b, e.kind, &e.why));
        }
        let what = match (class, key) {
            (_, Some(k)) if via == Via::Realtime => format!(
                "key {k} is not linearizable (a stale read): its dependencies contradict the \
                 real-time order"
            ),
            (CycleClass::G0, _) => "write cycle: appends ordered both ways".to_string(),
            (CycleClass::G1c, _) => {
                "circular information flow: each transaction saw the other's effects".into()
            }
            (CycleClass::GSingle, _) => {
                "read skew: one read missed a write that the rest of the cycle puts before it"
                    .into()
            }
            (CycleClass::GNonadjacent, _) | (CycleClass::G2Item, _) => {
                "write skew: transactions overwrote versions the others read".into()
            }
        };
        let explanation = format!("{what}; cycle {chain}");
        Anomaly::new(AnomalyKind::Cycle(class, via), key, explanation, ops).with_details(details)
    }

    fn describe(&self, a: usize, b: usize, kind: EdgeKind, why: &Why) -> String {
        let (na, nb) = (self.name(a), self.name(b));
        let text = match why {
            Why::Ww {
                key,
                prev,
                next,
                inferred,
            } => format!(
                "key {key}: {na} appended {prev}, and {nb} appended {next} after it{}",
                if *inferred {
                    " (never read, so after the last element read)"
                } else {
                    ""
                }
            ),
            Why::Wr { key, value } => {
                format!("key {key}: {nb} read a list ending in {value}, which {na} appended")
            }
            Why::Rw {
                key,
                read,
                next,
                inferred,
            } => format!(
                "key {key}: {na} read {}, and {nb} appended {next}, which comes after it{}",
                read.map_or_else(
                    || "the empty list".to_string(),
                    |v| format!("a list ending in {v}")
                ),
                if *inferred { " (never read)" } else { "" }
            ),
            Why::Process { process } => format!("{na} then {nb}, in order on process {process}"),
            Why::Realtime { completed, invoked } => format!(
                "{na} completed (event {completed}) before {nb} was invoked (event {invoked})"
            ),
        };
        format!("{na} -{}-> {nb}: {text}", kind.name())
    }

    fn verdict(self, g: &Graph, keys: usize) -> Verdict {
        let mut stats = BTreeMap::new();
        let count = |o: Outcome| self.txns.iter().filter(|t| t.op.outcome == o).count() as u64;
        stats.insert("txns-ok".to_string(), count(Outcome::Ok));
        stats.insert("txns-fail".to_string(), count(Outcome::Fail));
        stats.insert("txns-info".to_string(), count(Outcome::Info));
        stats.insert("keys".to_string(), keys as u64);
        stats.insert("edges".to_string(), g.edge_count() as u64);
        for (kind, n) in &self.omitted {
            stats.insert(format!("unreported-{kind}"), *n);
        }
        for phase in &self.incomplete {
            stats.insert(phase.clone(), 1);
        }
        Verdict::new("append", self.anomalies, self.warnings, self.unknown, stats)
    }
}

const CLASSES: [CycleClass; 5] = [
    CycleClass::G0,
    CycleClass::G1c,
    CycleClass::GSingle,
    CycleClass::GNonadjacent,
    CycleClass::G2Item,
];

/// The key all of a cycle's data edges are on, if there is one.
fn single_key(g: &Graph, steps: &[Step]) -> Option<Key> {
    let mut keys = steps.iter().filter_map(|s| g.edge(*s).why.key());
    let first = keys.next()?;
    keys.all(|k| k == first).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Builder;
    use crate::verdict::Validity;
    use proptest::prelude::*;

    fn app(k: Key, v: i64) -> Mop {
        Mop::Append(k, v)
    }
    fn rd(k: Key, list: &[i64]) -> Mop {
        Mop::Read(k, Some(list.to_vec()))
    }
    /// The invocation of a transaction: reads without results.
    fn invoked(mops: &[Mop]) -> Call {
        Call::Txn {
            mops: mops
                .iter()
                .map(|m| match m {
                    Mop::Read(k, _) => Mop::Read(*k, None),
                    other => other.clone(),
                })
                .collect(),
        }
    }
    fn txn(b: &mut Builder, p: u64, mops: &[Mop]) {
        b.complete(
            p,
            invoked(mops),
            Call::Txn {
                mops: mops.to_vec(),
            },
        );
    }
    fn check_default(b: &Builder) -> Verdict {
        check(&b.build().unwrap(), &AppendOptions::default())
    }
    fn cycle(class: CycleClass, via: Via) -> AnomalyKind {
        AnomalyKind::Cycle(class, via)
    }

    #[test]
    fn serial_history_is_valid() {
        let mut b = Builder::new();
        txn(&mut b, 1, &[app(1, 1), app(2, 1)]);
        txn(&mut b, 2, &[rd(1, &[1]), app(1, 2)]);
        txn(&mut b, 3, &[rd(1, &[1, 2]), rd(2, &[1]), app(2, 2)]);
        txn(&mut b, 1, &[rd(2, &[1, 2])]);
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
        assert!(v.warnings.is_empty(), "{v}");
    }

    #[test]
    fn concurrent_history_is_valid() {
        // T1 and T2 overlap; serial order T2, T1.
        let mut b = Builder::new();
        b.invoke(1, invoked(&[rd(1, &[]), app(1, 2)]));
        b.invoke(2, invoked(&[app(1, 1)]));
        b.ok(2);
        b.ok_with(
            1,
            Call::Txn {
                mops: vec![rd(1, &[1]), app(1, 2)],
            },
        );
        txn(&mut b, 3, &[rd(1, &[1, 2])]);
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    #[test]
    fn info_transactions_may_or_may_not_commit() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[app(1, 1)])).info(1);
        b.invoke(2, invoked(&[app(1, 2)])).info(2);
        b.invoke(3, invoked(&[app(2, 1), rd(1, &[])])).info(3);
        // 1 took effect, 2 did not (or not yet).
        txn(&mut b, 4, &[rd(1, &[1])]);
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
    }

    #[test]
    fn g0_write_cycle() {
        let mut b = Builder::new();
        txn(&mut b, 1, &[app(1, 1), app(2, 1)]);
        txn(&mut b, 2, &[app(1, 2), app(2, 2)]);
        txn(&mut b, 3, &[rd(1, &[1, 2]), rd(2, &[2, 1])]);
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::G0, Via::Data)), "{v}");
        let text = v.to_string();
        assert!(
            text.contains("key 2: #2 appended 2, and #0 appended 1 after it"),
            "{text}"
        );
    }

    #[test]
    fn g1a_aborted_read() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[app(1, 5)])).fail(1);
        txn(&mut b, 2, &[rd(1, &[5])]);
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::G1a), "{v}");
        assert_eq!(v.anomalies[0].ops.len(), 2);
    }

    #[test]
    fn g1b_intermediate_read() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[app(1, 1), app(1, 2)]));
        txn(&mut b, 2, &[rd(1, &[1])]);
        b.ok(1);
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::G1b), "{v}");
    }

    #[test]
    fn g1c_circular_information_flow() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[app(1, 1), rd(2, &[])]));
        b.invoke(2, invoked(&[app(2, 1), rd(1, &[])]));
        b.ok_with(
            1,
            Call::Txn {
                mops: vec![app(1, 1), rd(2, &[1])],
            },
        );
        b.ok_with(
            2,
            Call::Txn {
                mops: vec![app(2, 1), rd(1, &[1])],
            },
        );
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::G1c, Via::Data)), "{v}");
    }

    #[test]
    fn g_single_read_skew() {
        // T1 reads x before T2's append and y after it.
        let mut b = Builder::new();
        b.invoke(1, invoked(&[rd(1, &[]), rd(2, &[])]));
        txn(&mut b, 2, &[app(1, 1), app(2, 1)]);
        b.ok_with(
            1,
            Call::Txn {
                mops: vec![rd(1, &[]), rd(2, &[1])],
            },
        );
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::GSingle, Via::Data)), "{v}");
        let text = v.to_string();
        assert!(text.contains("#0 -rw-> #1 -wr-> #0"), "{text}");
        assert!(
            text.contains("key 1: #0 read the empty list, and #1 appended 1, which comes after it"),
            "{text}"
        );
    }

    #[test]
    fn g2_item_write_skew() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[rd(1, &[]), rd(2, &[]), app(1, 1)]));
        b.invoke(2, invoked(&[rd(1, &[]), rd(2, &[]), app(2, 1)]));
        b.ok_with(
            1,
            Call::Txn {
                mops: vec![rd(1, &[]), rd(2, &[]), app(1, 1)],
            },
        );
        b.ok_with(
            2,
            Call::Txn {
                mops: vec![rd(1, &[]), rd(2, &[]), app(2, 1)],
            },
        );
        txn(&mut b, 3, &[rd(1, &[1]), rd(2, &[1])]);
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::G2Item, Via::Data)), "{v}");
        assert!(!v.has(cycle(CycleClass::GSingle, Via::Data)), "{v}");
    }

    #[test]
    fn g_nonadjacent() {
        // T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1 on four keys.
        let mut b = Builder::new();
        for p in 1..=4 {
            b.invoke(p, invoked(&[]));
        }
        let txns: [(u64, Vec<Mop>); 4] = [
            (1, vec![rd(1, &[]), rd(4, &[1])]),
            (2, vec![app(1, 1), app(2, 1)]),
            (3, vec![rd(2, &[1]), rd(3, &[])]),
            (4, vec![app(3, 1), app(4, 1)]),
        ];
        for (p, mops) in txns {
            b.ok_with(p, Call::Txn { mops });
        }
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::GNonadjacent, Via::Data)), "{v}");
    }

    #[test]
    fn lost_update() {
        let mut b = Builder::new();
        b.invoke(1, invoked(&[rd(1, &[]), app(1, 1)]));
        b.invoke(2, invoked(&[rd(1, &[]), app(1, 2)]));
        b.ok_with(
            1,
            Call::Txn {
                mops: vec![rd(1, &[]), app(1, 1)],
            },
        );
        b.ok_with(
            2,
            Call::Txn {
                mops: vec![rd(1, &[]), app(1, 2)],
            },
        );
        txn(&mut b, 3, &[rd(1, &[1, 2])]);
        let v = check_default(&b);
        assert!(v.has(AnomalyKind::LostUpdate), "{v}");
        assert!(v.has(cycle(CycleClass::GSingle, Via::Data)), "{v}");
    }

    #[test]
    fn incompatible_order_internal_duplicates_unwritten() {
        let mut b = Builder::new();
        txn(&mut b, 1, &[app(1, 1)]);
        txn(&mut b, 1, &[app(1, 2)]);
        txn(&mut b, 2, &[rd(1, &[1, 2])]);
        txn(&mut b, 2, &[rd(1, &[2, 1])]);
        txn(&mut b, 3, &[app(2, 1), rd(2, &[])]);
        txn(&mut b, 3, &[rd(3, &[7, 7])]);
        let v = check_default(&b);
        for kind in [
            AnomalyKind::IncompatibleOrder,
            AnomalyKind::Internal,
            AnomalyKind::Duplicated,
            AnomalyKind::UnwrittenRead,
        ] {
            assert!(v.has(kind), "{kind}: {v}");
        }
    }

    #[test]
    fn stale_read_on_one_key_fails() {
        let mut b = Builder::new();
        txn(&mut b, 1, &[app(1, 1)]);
        // Invoked after the append completed, yet misses it.
        txn(&mut b, 2, &[rd(1, &[])]);
        let v = check_default(&b);
        let kind = cycle(CycleClass::GSingle, Via::Realtime);
        assert!(v.has(kind), "{v}");
        assert_eq!(v.anomalies[0].key, Some(1));
        assert!(v.to_string().contains("stale read"), "{v}");

        let lenient = AppendOptions {
            linearizable_keys: false,
            ..AppendOptions::default()
        };
        let v = check(&b.build().unwrap(), &lenient);
        assert_eq!(v.validity, Validity::Valid, "{v}");
        assert!(v.warns(kind), "{v}");
    }

    /// T1 appends x; after it, T2 appends y; T3, concurrent with both, sees y but not x.
    fn causal_reverse(same_process: bool) -> Builder {
        let mut b = Builder::new();
        b.invoke(3, invoked(&[rd(1, &[]), rd(2, &[])]));
        txn(&mut b, 1, &[app(1, 1)]);
        txn(&mut b, if same_process { 1 } else { 2 }, &[app(2, 1)]);
        b.ok_with(
            3,
            Call::Txn {
                mops: vec![rd(1, &[]), rd(2, &[1])],
            },
        );
        b
    }

    #[test]
    fn realtime_cycle_across_keys_is_a_warning_unless_strict() {
        let b = causal_reverse(false);
        let kind = cycle(CycleClass::GSingle, Via::Realtime);
        let v = check_default(&b);
        assert_eq!(v.validity, Validity::Valid, "{v}");
        assert!(v.warns(kind), "{v}");
        assert!(v.to_string().contains("strict-serializable"), "{v}");

        let strict = AppendOptions {
            strict_serializable: true,
            ..AppendOptions::default()
        };
        let v = check(&b.build().unwrap(), &strict);
        assert!(v.has(kind), "{v}");
    }

    #[test]
    fn process_cycle_fails_by_default() {
        let b = causal_reverse(true);
        let v = check_default(&b);
        assert!(v.has(cycle(CycleClass::GSingle, Via::Process)), "{v}");
    }

    #[test]
    fn budget_exhaustion_is_unknown() {
        // A G0 cycle between concurrent transactions; no budget to find it.
        let mut b = Builder::new();
        b.invoke(1, invoked(&[app(1, 1), app(2, 1)]));
        b.invoke(2, invoked(&[app(1, 2), app(2, 2)]));
        b.ok(1).ok(2);
        txn(&mut b, 3, &[rd(1, &[1, 2]), rd(2, &[2, 1])]);
        let opts = AppendOptions {
            search_budget: 1,
            ..AppendOptions::default()
        };
        let v = check(&b.build().unwrap(), &opts);
        assert_eq!(v.validity, Validity::Unknown, "{v}");
    }

    /// Random transactions executed serially on a model, each stretched into an interval
    /// around its point in the serial order, some with unknown outcome. Strictly
    /// serializable, so the checker must find nothing at all.
    fn serial_history() -> impl Strategy<Value = Builder> {
        let mop = (any::<bool>(), 0i64..4);
        let txn = (prop::collection::vec(mop, 1..4), 0u64..30, 0u64..30, 0u8..8);
        prop::collection::vec(txn, 1..30).prop_map(|txns| {
            let mut state: HashMap<Key, Vec<i64>> = HashMap::new();
            let mut next = 0;
            let mut events: Vec<(u64, usize, bool)> = Vec::new();
            let mut done: Vec<(Vec<Mop>, Outcome)> = Vec::new();
            for (i, (mops, before, after, fate)) in txns.into_iter().enumerate() {
                let point = (i as u64 + 1) * 10;
                let applied = fate != 1;
                let mut out = Vec::new();
                for (is_append, k) in mops {
                    if is_append {
                        next += 1;
                        if applied {
                            state.entry(k).or_default().push(next);
                        }
                        out.push(Mop::Append(k, next));
                    } else {
                        out.push(Mop::Read(
                            k,
                            Some(state.get(&k).cloned().unwrap_or_default()),
                        ));
                    }
                }
                let outcome = match fate {
                    0 | 1 => Outcome::Info,
                    _ => Outcome::Ok,
                };
                events.push((point.saturating_sub(before) * 2, i, false));
                events.push(((point + after) * 2 + 1, i, true));
                done.push((out, outcome));
            }
            events.sort();
            let mut b = Builder::new();
            for (_, i, completes) in events {
                let (mops, outcome) = &done[i];
                let p = i as u64;
                if !completes {
                    b.invoke(p, invoked(mops));
                } else if *outcome == Outcome::Ok {
                    b.ok_with(p, Call::Txn { mops: mops.clone() });
                } else {
                    b.info(p);
                }
            }
            b
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn strictly_serializable_histories_pass_cleanly(b in serial_history()) {
            let strict = AppendOptions { strict_serializable: true, ..AppendOptions::default() };
            let v = check(&b.build().unwrap(), &strict);
            prop_assert_eq!(v.validity, Validity::Valid, "{}", v);
            prop_assert!(v.warnings.is_empty(), "{}", v);
        }

        #[test]
        fn a_read_missing_a_completed_append_is_rejected(
            b in serial_history(), pick in 0usize..1000,
        ) {
            // Drop the last element of a read whose appender committed before the read
            // began (or is the reader itself): a stale read, or an internal inconsistency.
            let h = b.build().unwrap();
            let ops = h.operations();
            let mut candidates = Vec::new();
            for (ri, r) in ops.iter().enumerate() {
                let Call::Txn { mops } = &r.call else { continue };
                if r.outcome != Outcome::Ok {
                    continue;
                }
                for (mi, m) in mops.iter().enumerate() {
                    let Mop::Read(k, Some(list)) = m else { continue };
                    let Some(last) = list.last() else { continue };
                    let writer = ops.iter().find(|w| matches!(&w.call, Call::Txn { mops }
                        if mops.contains(&Mop::Append(*k, *last))));
                    if writer.is_some_and(|w| {
                        std::ptr::eq(w, r) || (w.outcome == Outcome::Ok && w.precedes(r))
                    }) {
                        candidates.push((ri, mi));
                    }
                }
            }
            prop_assume!(!candidates.is_empty());
            let (ri, mi) = candidates[pick % candidates.len()];
            let target = ops[ri].complete.unwrap();
            let mut events = h.ops().to_vec();
            for e in events.iter_mut().filter(|e| e.index == target) {
                if let Call::Txn { mops } = &mut e.call
                    && let Mop::Read(_, Some(list)) = &mut mops[mi]
                {
                    list.pop();
                }
            }
            let v = check(&History::new(events).unwrap(), &AppendOptions::default());
            prop_assert_eq!(v.validity, Validity::Invalid, "{}", v);
        }
    }
}
