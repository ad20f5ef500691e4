//! Jepsen-style verification of Sextant: record what clients saw, then prove it impossible.
//!
//! A test runs real `sextant start` processes, drives them with concurrent SQL clients while
//! a nemesis injects faults, records every operation in a [history], and hands the history
//! to a pure checker. The checker either finds an anomaly and names the operations that show
//! it, or finds none; "could not decide" is its own outcome, never a pass. This crate
//! depends on no other Sextant crate: it sees the database only as a user does, through the
//! PostgreSQL protocol, the process table and the HTTP status API.
//!
//! # The history model
//!
//! Each client *process* alternates an `invoke` with a completion: `ok` (it happened, with
//! its results), `fail` (it definitely did not happen; nothing of it may ever be seen) or
//! `info` (unknown: a timeout, a lost connection, an error during COMMIT). An `info`
//! operation stays open to the end of the history — it may take effect at any point after its
//! invocation, or never — and its process never issues again; the client reconnects under a
//! new process id. Events are numbered in the order the recorder saw them, and that number
//! alone orders them: A precedes B in real time when A's completion comes before B's
//! invocation. [`history`] pairs invocations with completions into
//! [`history::Operation`]s and reads and writes the JSON-lines format.
//!
//! # The checkers
//!
//! Each returns a [`verdict::Verdict`]: `Valid`, `Invalid` with a list of
//! [`verdict::Anomaly`] values naming the operations involved, or `Unknown` with reasons.
//!
//! - [`checker::register`] — per-key read/write/cas registers must be linearizable. The Wing
//!   and Gong search with Lowe's (linearized-set, state) cache, one key at a time (a history
//!   is linearizable iff each key's is), within a step and time budget per key; crashed
//!   operations may take effect or not. A failure names the shortest failing prefix of the
//!   key's history, the operations concurrent at its end and the longest partial
//!   linearization found. Catches stale reads, lost writes, double-successful cas.
//! - [`checker::bank`] — every read sees the initial total and no negative balance; the
//!   final read too. Catches read skew and lost updates that leak or mint money.
//! - [`checker::set`] — every acknowledged insert is in the final read; nothing never
//!   inserted (or whose insert failed) appears; nothing appears twice; a read misses no
//!   insert acknowledged before it began.
//! - [`checker::append`] — Elle's list-append: version orders from reads, a dependency graph
//!   (ww, wr, rw, process, real-time edges), Tarjan's components and a breadth-first search
//!   for the shortest cycle of each class — G0, G1c, G-single, G-nonadjacent, G2-item, with
//!   `-process` and `-realtime` variants — plus G1a, G1b, internal inconsistency,
//!   duplicates, incompatible orders and lost updates. Serializable forbids every data
//!   cycle; a real-time cycle confined to one key is a stale read and fails; other real-time
//!   cycles only break strict serializability, which Sextant does not promise, and are
//!   warnings unless asked for.
//! - [`checker::monotonic`] — counters never go backwards within a process or across real
//!   time, increments never collide, reads stay within what the increments allow.
//!
//! # The runner
//!
//! [`runner`] is the `sextant-verify` binary's engine: it starts a cluster of real
//! processes on loopback with free ports, creates the workload's tables, runs the workload's
//! clients against every node's SQL port while a [`runner::nemesis`] kills, pauses,
//! partitions, skews clocks or moves leases on a schedule, heals everything, takes the final
//! reads, checks the histories and writes them, the node logs, the nemesis log and the
//! verdict to the output directory. How a failed operation is recorded — `fail` only when
//! it certainly had no effect — is one rule in [`runner::client`].
//!
//! ```text
//! sextant-verify --workload append --nemesis kill --time 60s --nodes 3 --concurrency 5 \
//!     --out /tmp/verify --seed 1          # run, check, print the verdict
//! sextant-verify --workload append --check /tmp/verify/history.jsonl   # re-check offline
//! ```
//!
//! The exit status is 0 when every verdict is valid, 1 when one is invalid, 2 when one is
//! unknown (0 with `--allow-unknown`) and 3 when the run itself failed: the cluster did not
//! start, or the nemesis could not inject its faults (a node that does not serve the testing
//! endpoints says so).

pub mod checker;
pub mod history;
pub mod runner;
pub mod verdict;
