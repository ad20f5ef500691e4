//! Dependency graphs of transactions and the search for classified cycles in them.
//!
//! A [`Graph`] has one node per transaction and labelled edges: the data dependencies `ww`,
//! `wr` and `rw` (each carrying the key and values that justify it), and the order edges
//! `process` and `realtime`. [`Graph::sccs`] finds the strongly connected components of the
//! subgraph of some edge kinds (Tarjan, iteratively); only a component with two or more nodes
//! holds a cycle.
//!
//! [`find_cycle`] then looks inside one component for a shortest cycle that satisfies a
//! [`Spec`]: the allowed edge kinds, an Adya class ([`CycleClass`]) and optionally an edge kind
//! the cycle must use. It pins the cycle's first edge (an edge of the required kind, else the
//! kind the class needs: `ww` for G0, `wr` for G1c, `rw` for the rest) and runs a breadth-first
//! search back to its source over (node, state) pairs. The state is a small automaton: how many
//! `rw` edges so far (0, 1, 2+), whether the last edge was `rw`, whether two `rw` edges were
//! adjacent, whether a `wr` and a required edge were used. Transitions that would break the
//! class (a second `rw` for G-single, adjacent `rw` edges for G-nonadjacent) are cut, so the
//! first accepted return to the source is a shortest cycle of that class through that edge.
//! (A node visited twice in different states makes a closed walk; its loops are cut, keeping
//! the first edge, and the caller classifies the simple cycle that remains.)
//! A step budget bounds the work; running out is reported, never taken as "no cycle".

use crate::history::Key;
use crate::verdict::{CycleClass, Via};
use std::collections::{HashMap, HashSet, VecDeque};

/// The kind of an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// Write-write: the target overwrote (appended after) the source's write.
    Ww,
    /// Write-read: the target read the source's write.
    Wr,
    /// Read-write (anti-dependency): the target overwrote the version the source read.
    Rw,
    /// Consecutive operations of one process.
    Process,
    /// The source completed before the target was invoked.
    Realtime,
}

impl EdgeKind {
    /// The kind's bit in a mask.
    pub const fn bit(self) -> u8 {
        match self {
            EdgeKind::Ww => 1,
            EdgeKind::Wr => 2,
            EdgeKind::Rw => 4,
            EdgeKind::Process => 8,
            EdgeKind::Realtime => 16,
        }
    }

    /// Short name: `ww`, `wr`, `rw`, `process`, `realtime`.
    pub fn name(self) -> &'static str {
        match self {
            EdgeKind::Ww => "ww",
            EdgeKind::Wr => "wr",
            EdgeKind::Rw => "rw",
            EdgeKind::Process => "process",
            EdgeKind::Realtime => "realtime",
        }
    }
}

/// ww | wr | rw.
pub const DATA: u8 = EdgeKind::Ww.bit() | EdgeKind::Wr.bit() | EdgeKind::Rw.bit();

/// Why an edge exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// On `key`, `next` (the target's) directly follows `prev` (the source's) in the version
    /// order; `inferred` when `next` was never read and so follows the last element read.
    Ww {
        /// The key.
        key: Key,
        /// The source's element.
        prev: i64,
        /// The target's element.
        next: i64,
        /// `next` was never read.
        inferred: bool,
    },
    /// The target read `key` ending in `value`, which the source appended.
    Wr {
        /// The key.
        key: Key,
        /// The last element of the target's read.
        value: i64,
    },
    /// The source read `key` ending in `read` (`None`: empty); the target appended `next`,
    /// which follows it.
    Rw {
        /// The key.
        key: Key,
        /// The last element the source read.
        read: Option<i64>,
        /// The target's element.
        next: i64,
        /// `next` was never read.
        inferred: bool,
    },
    /// Consecutive on one process.
    Process {
        /// The process.
        process: u64,
    },
    /// Completion before invocation.
    Realtime {
        /// The source's completion event.
        completed: u64,
        /// The target's invocation event.
        invoked: u64,
    },
}

impl Why {
    /// The key of a data edge.
    pub fn key(&self) -> Option<Key> {
        match self {
            Why::Ww { key, .. } | Why::Wr { key, .. } | Why::Rw { key, .. } => Some(*key),
            Why::Process { .. } | Why::Realtime { .. } => None,
        }
    }
}

/// An edge.
#[derive(Clone, Debug)]
pub struct Edge {
    /// Target node.
    pub to: usize,
    /// Kind.
    pub kind: EdgeKind,
    /// Justification.
    pub why: Why,
}

/// A directed multigraph with at most one edge of each kind between two nodes.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Outgoing edges by node.
    pub adj: Vec<Vec<Edge>>,
    seen: HashSet<(usize, usize, EdgeKind)>,
    kinds: u8,
}

/// One step of a cycle: the edge `adj[from][edge]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Source node.
    pub from: usize,
    /// Index in `adj[from]`.
    pub edge: usize,
}

impl Graph {
    /// `n` nodes, no edges.
    pub fn new(n: usize) -> Graph {
        Graph {
            adj: vec![Vec::new(); n],
            seen: HashSet::new(),
            kinds: 0,
        }
    }

    /// Adds an edge, unless it is a self-loop or one of its kind already joins the nodes.
    pub fn add(&mut self, from: usize, to: usize, kind: EdgeKind, why: Why) {
        if from == to || !self.seen.insert((from, to, kind)) {
            return;
        }
        self.kinds |= kind.bit();
        self.adj[from].push(Edge { to, kind, why });
    }

    /// Whether some edge has this kind.
    pub fn has_kind(&self, kind: EdgeKind) -> bool {
        self.kinds & kind.bit() != 0
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.adj.iter().map(Vec::len).sum()
    }

    /// The edge of a step.
    pub fn edge(&self, s: Step) -> &Edge {
        &self.adj[s.from][s.edge]
    }

    /// Strongly connected components with two or more nodes, over edges in `mask`.
    pub fn sccs(&self, mask: u8) -> Vec<Vec<usize>> {
        const UNSET: usize = usize::MAX;
        let n = self.adj.len();
        let mut index = vec![UNSET; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut next = 0;
        let mut out = Vec::new();
        for root in 0..n {
            if index[root] != UNSET {
                continue;
            }
            let mut calls: Vec<(usize, usize)> = vec![(root, 0)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&(v, i)) = calls.last() {
                if let Some(e) = self.adj[v].get(i) {
                    if let Some(top) = calls.last_mut() {
                        top.1 += 1;
                    }
                    if e.kind.bit() & mask == 0 {
                        continue;
                    }
                    let w = e.to;
                    if index[w] == UNSET {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out
    }
}

/// What cycle to look for.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Edge kinds the cycle may use.
    pub allowed: u8,
    /// The class it must have; `None`: any cycle.
    pub class: Option<CycleClass>,
    /// Kinds of which the cycle must use at least one (0: none required).
    pub required: u8,
}

/// Edge kinds a class may use, before order edges are added.
pub fn class_kinds(class: CycleClass) -> u8 {
    match class {
        CycleClass::G0 => EdgeKind::Ww.bit(),
        CycleClass::G1c => EdgeKind::Ww.bit() | EdgeKind::Wr.bit(),
        _ => DATA,
    }
}

/// The automaton state of the search, packed into 6 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct State {
    rw: u8,
    last_rw: bool,
    adjacent: bool,
    wr: bool,
    required: bool,
}

const STATES: usize = 48;

impl State {
    const START: State = State {
        rw: 0,
        last_rw: false,
        adjacent: false,
        wr: false,
        required: false,
    };

    fn pack(self) -> usize {
        self.rw as usize * 16
            + usize::from(self.last_rw) * 8
            + usize::from(self.adjacent) * 4
            + usize::from(self.wr) * 2
            + usize::from(self.required)
    }

    /// The state after an edge of `kind`, or `None` if the class forbids it here.
    fn after(self, kind: EdgeKind, spec: &Spec) -> Option<State> {
        if kind.bit() & spec.allowed == 0 {
            return None;
        }
        let mut s = self;
        if kind == EdgeKind::Rw {
            match spec.class {
                Some(CycleClass::GSingle) if s.rw >= 1 => return None,
                Some(CycleClass::GNonadjacent) if s.last_rw => return None,
                _ => {}
            }
            s.adjacent |= s.last_rw;
            s.rw = (s.rw + 1).min(2);
            s.last_rw = true;
        } else {
            s.last_rw = false;
        }
        s.wr |= kind == EdgeKind::Wr;
        s.required |= kind.bit() & spec.required != 0;
        Some(s)
    }

    /// Whether a cycle closing in this state satisfies the spec; `first_rw`: whether its
    /// first edge was rw (which the last edge is adjacent to).
    fn accepts(self, spec: &Spec, first_rw: bool) -> bool {
        if spec.required != 0 && !self.required {
            return false;
        }
        let wraps = self.last_rw && first_rw;
        match spec.class {
            None | Some(CycleClass::G0) => true,
            Some(CycleClass::G1c) => self.wr,
            Some(CycleClass::GSingle) => self.rw == 1,
            Some(CycleClass::GNonadjacent) => self.rw >= 2 && !wraps,
            Some(CycleClass::G2Item) => self.rw >= 2 && (self.adjacent || wraps),
        }
    }
}

/// The result of [`find_cycle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Search {
    /// A cycle, as steps from its first edge round to its source.
    Found(Vec<Step>),
    /// None of this kind in the component.
    None,
    /// The budget ran out.
    Exhausted,
}

/// Looks for a shortest cycle satisfying `spec` inside `component` (a strongly connected
/// component of the graph over at least `spec.allowed`); `budget` counts edge visits.
pub fn find_cycle(g: &Graph, component: &[usize], spec: &Spec, budget: &mut u64) -> Search {
    let local: HashMap<usize, usize> = component.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let first_kinds = if spec.required != 0 {
        spec.required
    } else {
        match spec.class {
            Some(CycleClass::G0) => EdgeKind::Ww.bit(),
            Some(CycleClass::G1c) => EdgeKind::Wr.bit(),
            Some(_) => EdgeKind::Rw.bit(),
            None => spec.allowed,
        }
    };
    let mut parent: Vec<Option<(usize, Step)>> = vec![None; component.len() * STATES];
    let mut touched: Vec<usize> = Vec::new();
    for &a in component {
        for (ei, e) in g.adj[a].iter().enumerate() {
            if e.kind.bit() & first_kinds == 0 || !local.contains_key(&e.to) {
                continue;
            }
            let Some(s0) = State::START.after(e.kind, spec) else {
                continue;
            };
            for t in touched.drain(..) {
                parent[t] = None;
            }
            let first = Step { from: a, edge: ei };
            match bfs(
                g,
                &local,
                spec,
                a,
                first,
                s0,
                &mut parent,
                &mut touched,
                budget,
            ) {
                Search::None => {}
                other => return other,
            }
        }
    }
    Search::None
}

#[allow(clippy::too_many_arguments)]
fn bfs(
    g: &Graph,
    local: &HashMap<usize, usize>,
    spec: &Spec,
    source: usize,
    first: Step,
    s0: State,
    parent: &mut [Option<(usize, Step)>],
    touched: &mut Vec<usize>,
    budget: &mut u64,
) -> Search {
    let first_rw = g.edge(first).kind == EdgeKind::Rw;
    let start = g.edge(first).to;
    let id = |node: usize, s: State| local[&node] * STATES + s.pack();
    let mut queue: VecDeque<(usize, State)> = VecDeque::new();
    let start_id = id(start, s0);
    parent[start_id] = Some((usize::MAX, first));
    touched.push(start_id);
    queue.push_back((start, s0));
    while let Some((v, s)) = queue.pop_front() {
        for (ei, e) in g.adj[v].iter().enumerate() {
            if *budget == 0 {
                return Search::Exhausted;
            }
            *budget -= 1;
            if !local.contains_key(&e.to) {
                continue;
            }
            let Some(s2) = s.after(e.kind, spec) else {
                continue;
            };
            let step = Step { from: v, edge: ei };
            if e.to == source {
                if s2.accepts(spec, first_rw) {
                    return Search::Found(simplify(path(parent, id(v, s), step, first)));
                }
                continue;
            }
            let nid = id(e.to, s2);
            if parent[nid].is_some() {
                continue;
            }
            parent[nid] = Some((id(v, s), step));
            touched.push(nid);
            queue.push_back((e.to, s2));
        }
    }
    Search::None
}

fn path(parent: &[Option<(usize, Step)>], mut at: usize, last: Step, first: Step) -> Vec<Step> {
    let mut steps = vec![last];
    while let Some((prev, step)) = parent[at] {
        if prev == usize::MAX {
            break;
        }
        steps.push(step);
        at = prev;
    }
    steps.push(first);
    steps.reverse();
    steps
}

/// Cuts the loops out of a closed walk (the product search may visit a node twice in
/// different states), keeping the first edge: a simple cycle.
fn simplify(walk: Vec<Step>) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::with_capacity(walk.len());
    let mut at: HashMap<usize, usize> = HashMap::new();
    for s in walk {
        if let Some(&p) = at.get(&s.from) {
            for removed in out.drain(p..) {
                at.remove(&removed.from);
            }
        }
        at.insert(s.from, out.len());
        out.push(s);
    }
    out
}

/// The Adya class of a cycle with these edge kinds, in order.
pub fn classify(kinds: &[EdgeKind]) -> CycleClass {
    let rw = kinds.iter().filter(|k| **k == EdgeKind::Rw).count();
    let n = kinds.len();
    let adjacent = (0..n).any(|i| kinds[i] == EdgeKind::Rw && kinds[(i + 1) % n] == EdgeKind::Rw);
    match rw {
        0 if kinds.contains(&EdgeKind::Wr) => CycleClass::G1c,
        0 => CycleClass::G0,
        1 => CycleClass::GSingle,
        _ if adjacent => CycleClass::G2Item,
        _ => CycleClass::GNonadjacent,
    }
}

/// Which order edges a cycle with these kinds uses.
pub fn via(kinds: &[EdgeKind]) -> Via {
    if kinds.contains(&EdgeKind::Realtime) {
        Via::Realtime
    } else if kinds.contains(&EdgeKind::Process) {
        Via::Process
    } else {
        Via::Data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why() -> Why {
        Why::Process { process: 0 }
    }

    fn graph(n: usize, edges: &[(usize, usize, EdgeKind)]) -> Graph {
        let mut g = Graph::new(n);
        for &(a, b, k) in edges {
            g.add(a, b, k, why());
        }
        g
    }

    fn kinds(g: &Graph, steps: &[Step]) -> Vec<EdgeKind> {
        steps.iter().map(|s| g.edge(*s).kind).collect()
    }

    fn is_cycle(g: &Graph, steps: &[Step]) -> bool {
        let n = steps.len();
        (0..n).all(|i| g.edge(steps[i]).to == steps[(i + 1) % n].from)
    }

    #[test]
    fn tarjan_finds_components() {
        use EdgeKind::*;
        let g = graph(
            6,
            &[
                (0, 1, Ww),
                (1, 2, Ww),
                (2, 0, Rw),
                (3, 4, Ww),
                (4, 3, Ww),
                (4, 5, Ww),
            ],
        );
        let mut comps = g.sccs(DATA);
        comps.sort();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(g.sccs(Ww.bit()), vec![vec![3, 4]]);
    }

    #[test]
    fn finds_each_class() {
        use EdgeKind::*;
        // 0 -rw-> 1 -rw-> 0 is write skew; 0 -rw-> 2 -wr-> 0 is G-single.
        let g = graph(3, &[(0, 1, Rw), (1, 0, Rw), (0, 2, Rw), (2, 0, Wr)]);
        let comp = &g.sccs(DATA)[0];
        let mut budget = 10_000;
        let spec = |class| Spec {
            allowed: DATA,
            class: Some(class),
            required: 0,
        };
        let Search::Found(c) = find_cycle(&g, comp, &spec(CycleClass::GSingle), &mut budget) else {
            panic!("no G-single");
        };
        assert!(is_cycle(&g, &c));
        assert_eq!(classify(&kinds(&g, &c)), CycleClass::GSingle);
        let Search::Found(c) = find_cycle(&g, comp, &spec(CycleClass::G2Item), &mut budget) else {
            panic!("no G2-item");
        };
        assert_eq!(classify(&kinds(&g, &c)), CycleClass::G2Item);
        assert_eq!(
            find_cycle(&g, comp, &spec(CycleClass::GNonadjacent), &mut budget),
            Search::None
        );
        assert_eq!(
            find_cycle(&g, comp, &spec(CycleClass::G0), &mut budget),
            Search::None
        );
    }

    #[test]
    fn nonadjacent_needs_separated_rw_edges() {
        use EdgeKind::*;
        // 0 -rw-> 1 -ww-> 2 -rw-> 3 -wr-> 0.
        let g = graph(4, &[(0, 1, Rw), (1, 2, Ww), (2, 3, Rw), (3, 0, Wr)]);
        let comp = &g.sccs(DATA)[0];
        let mut budget = 10_000;
        let spec = Spec {
            allowed: DATA,
            class: Some(CycleClass::GNonadjacent),
            required: 0,
        };
        let Search::Found(c) = find_cycle(&g, comp, &spec, &mut budget) else {
            panic!("no G-nonadjacent");
        };
        assert_eq!(c.len(), 4);
        assert_eq!(classify(&kinds(&g, &c)), CycleClass::GNonadjacent);
    }

    #[test]
    fn required_edges_are_used() {
        use EdgeKind::*;
        // A data cycle 0 <-> 1, and one through a realtime edge 1 -> 2 -> 0.
        let g = graph(3, &[(0, 1, Ww), (1, 0, Ww), (1, 2, Realtime), (2, 0, Wr)]);
        let all = DATA | Realtime.bit();
        let comp = &g.sccs(all)[0];
        let mut budget = 10_000;
        let spec = Spec {
            allowed: all,
            class: Some(CycleClass::G1c),
            required: Realtime.bit(),
        };
        let Search::Found(c) = find_cycle(&g, comp, &spec, &mut budget) else {
            panic!("none");
        };
        assert!(is_cycle(&g, &c));
        assert_eq!(via(&kinds(&g, &c)), Via::Realtime);
        assert_eq!(classify(&kinds(&g, &c)), CycleClass::G1c);
    }

    #[test]
    fn budget_runs_out() {
        use EdgeKind::*;
        let g = graph(3, &[(0, 1, Ww), (1, 2, Ww), (2, 0, Ww)]);
        let comp = &g.sccs(DATA)[0];
        let mut budget = 1;
        let spec = Spec {
            allowed: DATA,
            class: Some(CycleClass::G0),
            required: 0,
        };
        assert_eq!(find_cycle(&g, comp, &spec, &mut budget), Search::Exhausted);
    }
}
