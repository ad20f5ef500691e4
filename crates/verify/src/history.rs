//! Histories: what the clients asked for and what they were told, in the order it happened.
//!
//! A history is a list of [`Op`] events, Jepsen's format. Every client *process* alternates an
//! [`OpType::Invoke`] with one completion:
//!
//! - [`OpType::Ok`]: the operation definitely happened, with the results in its [`Call`];
//! - [`OpType::Fail`]: it definitely did not happen, and no effect of it may ever be seen;
//! - [`OpType::Info`]: nobody knows (a timeout, a lost connection, an error during COMMIT). It
//!   may take effect at any point after its invocation, or never, so it stays *open* to the
//!   end of the history. Its process never issues again: the client carries on under a fresh
//!   process id, which keeps per-process order meaningful.
//!
//! `index` numbers the events of one history from 0, in the order the recorder saw them; the
//! checkers order events by index alone (`time`, nanoseconds since the start of the run, is for
//! people). An operation *precedes* another in real time when its completion has a smaller
//! index than the other's invocation.
//!
//! [`History::new`] pairs every invocation with its completion into an [`Operation`] and
//! rejects malformed histories (a completion without an invocation, two invocations in flight
//! on one process, a process issuing after an `info`). An invocation never completed is
//! treated as `info`. [`History::read_jsonl`] and [`History::write_jsonl`] use one JSON object
//! per line, for example
//!
//! ```text
//! {"index":0,"time":1200,"process":3,"type":"invoke","f":"cas","value":{"key":7,"from":1,"to":2}}
//! {"index":1,"time":9800,"process":3,"type":"ok","f":"cas","value":{"key":7,"from":1,"to":2}}
//! ```
//!
//! [`Builder`] writes histories by hand, for tests and for the runner's recorder.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::io::{BufRead, Write};

/// A key (a row's primary key).
pub type Key = i64;

/// What an event says about its operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client sent the operation.
    Invoke,
    /// It happened.
    Ok,
    /// It did not happen.
    Fail,
    /// Unknown whether it happened.
    Info,
}

/// One micro-operation of a list-append transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mop {
    /// Append the element to the key's list.
    #[serde(rename = "append")]
    Append(Key, i64),
    /// Read the key's list; `None` until the read completes.
    #[serde(rename = "r")]
    Read(Key, Option<Vec<i64>>),
}

impl Mop {
    /// The key the micro-operation touches.
    pub fn key(&self) -> Key {
        match self {
            Mop::Append(k, _) | Mop::Read(k, _) => *k,
        }
    }
}

impl fmt::Display for Mop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mop::Append(k, v) => write!(f, "[append {k} {v}]"),
            Mop::Read(k, None) => write!(f, "[r {k} ?]"),
            Mop::Read(k, Some(list)) => write!(f, "[r {k} {}]", list_text(list)),
        }
    }
}

/// `[1 2 3]`.
pub fn list_text(list: &[i64]) -> String {
    let items: Vec<String> = list.iter().map(i64::to_string).collect();
    format!("[{}]", items.join(" "))
}

/// The function an operation calls and its arguments and results (`f` and `value` in JSON).
/// Results are `None` in an invocation and filled in by an `ok` completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "f", content = "value", rename_all = "kebab-case")]
pub enum Call {
    /// Register: read a key's value (`None`: the key has no value).
    Read {
        /// The register.
        key: Key,
        /// The value read.
        value: Option<i64>,
    },
    /// Register: set a key's value.
    Write {
        /// The register.
        key: Key,
        /// The value written.
        value: i64,
    },
    /// Register: set a key to `to` if it holds `from`.
    Cas {
        /// The register.
        key: Key,
        /// The expected value.
        from: i64,
        /// The new value.
        to: i64,
    },
    /// Bank: move `amount` from one account to another.
    Transfer {
        /// Debited account.
        from: Key,
        /// Credited account.
        to: Key,
        /// Amount moved, positive.
        amount: i64,
    },
    /// Bank: read every account's balance in one transaction.
    ReadAccounts {
        /// Balance by account (in JSON, `[[account, balance], ...]`).
        #[serde(with = "pairs")]
        balances: Option<BTreeMap<Key, i64>>,
        /// The read after every fault was healed, which must see the initial total.
        #[serde(default)]
        final_read: bool,
    },
    /// Set: add a unique element.
    Add {
        /// The element.
        element: i64,
    },
    /// Set: read every element.
    ReadSet {
        /// The elements read, in the order returned.
        elements: Option<Vec<i64>>,
        /// The read after every fault was healed, which every acknowledged add must reach.
        #[serde(default)]
        final_read: bool,
    },
    /// List-append: a transaction of micro-operations.
    Txn {
        /// The micro-operations, in order.
        mops: Vec<Mop>,
    },
    /// Monotonic: add one to a key's counter.
    Inc {
        /// The counter.
        key: Key,
        /// The value the increment produced.
        value: Option<i64>,
    },
    /// Monotonic: read a key's counter.
    ReadCounter {
        /// The counter.
        key: Key,
        /// The value read (`None` when the counter does not exist).
        value: Option<i64>,
    },
}

/// A map as a list of pairs: JSON object keys are strings, and serde cannot turn them back
/// into integers inside a flattened enum.
mod pairs {
    use super::Key;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        map: &Option<BTreeMap<Key, i64>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        map.as_ref()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>())
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<BTreeMap<Key, i64>>, D::Error> {
        let pairs: Option<Vec<(Key, i64)>> = Option::deserialize(d)?;
        Ok(pairs.map(|p| p.into_iter().collect()))
    }
}

fn opt_text(v: &Option<i64>) -> String {
    v.map_or_else(|| "nil".to_string(), |v| v.to_string())
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Call::Read { key, value } => write!(f, "read key {key} -> {}", opt_text(value)),
            Call::Write { key, value } => write!(f, "write key {key} := {value}"),
            Call::Cas { key, from, to } => write!(f, "cas key {key} {from} -> {to}"),
            Call::Transfer { from, to, amount } => {
                write!(f, "transfer {amount} from {from} to {to}")
            }
            Call::ReadAccounts {
                balances,
                final_read,
            } => {
                write!(
                    f,
                    "{}read accounts",
                    if *final_read { "final " } else { "" }
                )?;
                match balances {
                    None => write!(f, " ?"),
                    Some(b) => {
                        let items: Vec<String> =
                            b.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                        write!(
                            f,
                            " {{{}}} (total {})",
                            items.join(" "),
                            b.values().sum::<i64>()
                        )
                    }
                }
            }
            Call::Add { element } => write!(f, "add {element}"),
            Call::ReadSet {
                elements,
                final_read,
            } => {
                write!(f, "{}read set", if *final_read { "final " } else { "" })?;
                match elements {
                    None => write!(f, " ?"),
                    Some(e) => write!(f, " ({} elements)", e.len()),
                }
            }
            Call::Txn { mops } => {
                write!(f, "txn")?;
                for m in mops {
                    write!(f, " {m}")?;
                }
                Ok(())
            }
            Call::Inc { key, value } => write!(f, "inc key {key} -> {}", opt_text(value)),
            Call::ReadCounter { key, value } => {
                write!(f, "read counter {key} -> {}", opt_text(value))
            }
        }
    }
}

/// One event of a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0, strictly increasing.
    pub index: u64,
    /// Nanoseconds since the history began (informational).
    pub time: u64,
    /// The client process; one operation at a time per process.
    pub process: u64,
    /// Invocation or completion.
    #[serde(rename = "type")]
    pub kind: OpType,
    /// The function, arguments and (in an `ok`) results.
    #[serde(flatten)]
    pub call: Call,
    /// Which node (0-based) the client talked to, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<u32>,
    /// Why a `fail` or `info` completion ended as it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Happened.
    Ok,
    /// Did not happen.
    Fail,
    /// Unknown (including an invocation never completed).
    Info,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        })
    }
}

/// An invocation paired with its completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Operation {
    /// The process that ran it.
    pub process: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The completion's call for `ok` (with results); the invocation's otherwise.
    pub call: Call,
    /// Index of the invocation event; also the operation's name in reports (`#index`).
    pub invoke: u64,
    /// Index of the completion event; `None` when open to the end of the history (`info`).
    pub complete: Option<u64>,
    /// Time of the invocation, ns.
    pub invoke_time: u64,
    /// Time of the completion, ns.
    pub complete_time: Option<u64>,
    /// The node the client talked to.
    pub node: Option<u32>,
    /// The completion's error text.
    pub error: Option<String>,
}

impl Operation {
    /// Whether this operation completed before `other` was invoked (real-time order).
    pub fn precedes(&self, other: &Operation) -> bool {
        self.complete.is_some_and(|c| c < other.invoke)
    }

    /// The completion index, or `u64::MAX` when open.
    pub fn complete_or_max(&self) -> u64 {
        self.complete.unwrap_or(u64::MAX)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{} p{} {} {}",
            self.invoke, self.process, self.outcome, self.call
        )?;
        match self.complete {
            Some(c) => write!(f, " (events {}..{}", self.invoke, c)?,
            None => write!(f, " (events {}..open", self.invoke)?,
        }
        if let Some(n) = self.node {
            write!(f, ", node {}", n + 1)?;
        }
        if let Some(e) = &self.error {
            write!(f, ", error: {e}")?;
        }
        write!(f, ")")
    }
}

/// Why a history is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryError {
    /// A line is not an [`Op`].
    Parse {
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        message: String,
    },
    /// Reading failed.
    Io(String),
    /// Indices do not increase.
    IndexOrder {
        /// The offending event index.
        index: u64,
    },
    /// A process invoked while its previous operation was in flight.
    DoubleInvoke {
        /// The process.
        process: u64,
        /// The second invocation's index.
        index: u64,
    },
    /// A process invoked after an `info` completion.
    InvokeAfterInfo {
        /// The process.
        process: u64,
        /// The invocation's index.
        index: u64,
    },
    /// A completion without an invocation in flight.
    Unmatched {
        /// The process.
        process: u64,
        /// The completion's index.
        index: u64,
    },
    /// A completion calls a different function than its invocation.
    Mismatch {
        /// The completion's index.
        index: u64,
    },
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::Parse { line, message } => write!(f, "line {line}: {message}"),
            HistoryError::Io(e) => write!(f, "reading history: {e}"),
            HistoryError::IndexOrder { index } => {
                write!(
                    f,
                    "event index {index} does not follow the previous event's"
                )
            }
            HistoryError::DoubleInvoke { process, index } => write!(
                f,
                "event {index}: process {process} invoked with an operation still in flight"
            ),
            HistoryError::InvokeAfterInfo { process, index } => write!(
                f,
                "event {index}: process {process} invoked after an info completion \
                 (a crashed process must come back under a new id)"
            ),
            HistoryError::Unmatched { process, index } => write!(
                f,
                "event {index}: completion on process {process} with nothing in flight"
            ),
            HistoryError::Mismatch { index } => {
                write!(f, "event {index}: completion of a different function")
            }
        }
    }
}

impl std::error::Error for HistoryError {}

/// A well-formed history: the events and the operations they pair into.
#[derive(Clone, Debug, Default)]
pub struct History {
    ops: Vec<Op>,
    operations: Vec<Operation>,
}

impl History {
    /// Pairs the events; fails on a malformed history.
    pub fn new(ops: Vec<Op>) -> Result<History, HistoryError> {
        let operations = pair(&ops)?;
        Ok(History { ops, operations })
    }

    /// The events.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The operations, in invocation order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Reads one JSON [`Op`] per line (blank lines are skipped).
    pub fn read_jsonl(reader: impl BufRead) -> Result<History, HistoryError> {
        let mut ops = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| HistoryError::Io(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let op = serde_json::from_str(&line).map_err(|e| HistoryError::Parse {
                line: i + 1,
                message: e.to_string(),
            })?;
            ops.push(op);
        }
        History::new(ops)
    }

    /// Writes one JSON [`Op`] per line.
    pub fn write_jsonl(&self, mut w: impl Write) -> std::io::Result<()> {
        for op in &self.ops {
            serde_json::to_writer(&mut w, op)?;
            w.write_all(b"\n")?;
        }
        w.flush()
    }
}

fn same_function(a: &Call, b: &Call) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn pair(ops: &[Op]) -> Result<Vec<Operation>, HistoryError> {
    let mut operations: Vec<Operation> = Vec::new();
    let mut in_flight: HashMap<u64, usize> = HashMap::new();
    let mut crashed: HashSet<u64> = HashSet::new();
    let mut last_index: Option<u64> = None;
    for op in ops {
        if last_index.is_some_and(|l| op.index <= l) {
            return Err(HistoryError::IndexOrder { index: op.index });
        }
        last_index = Some(op.index);
        let (process, index) = (op.process, op.index);
        if op.kind == OpType::Invoke {
            if in_flight.contains_key(&process) {
                return Err(HistoryError::DoubleInvoke { process, index });
            }
            if crashed.contains(&process) {
                return Err(HistoryError::InvokeAfterInfo { process, index });
            }
            in_flight.insert(process, operations.len());
            operations.push(Operation {
                process,
                outcome: Outcome::Info,
                call: op.call.clone(),
                invoke: index,
                complete: None,
                invoke_time: op.time,
                complete_time: None,
                node: op.node,
                error: None,
            });
            continue;
        }
        let Some(pos) = in_flight.remove(&process) else {
            return Err(HistoryError::Unmatched { process, index });
        };
        let operation = &mut operations[pos];
        if !same_function(&operation.call, &op.call) {
            return Err(HistoryError::Mismatch { index });
        }
        operation.error = op.error.clone();
        match op.kind {
            OpType::Ok => {
                operation.outcome = Outcome::Ok;
                operation.call = op.call.clone();
                operation.complete = Some(index);
                operation.complete_time = Some(op.time);
            }
            OpType::Fail => {
                operation.outcome = Outcome::Fail;
                operation.complete = Some(index);
                operation.complete_time = Some(op.time);
            }
            OpType::Info | OpType::Invoke => {
                crashed.insert(process);
            }
        }
    }
    Ok(operations)
}

/// Writes a history event by event, numbering events and remembering each process's call.
#[derive(Debug, Default)]
pub struct Builder {
    ops: Vec<Op>,
    pending: HashMap<u64, Call>,
}

impl Builder {
    /// An empty history.
    pub fn new() -> Builder {
        Builder::default()
    }

    fn push(&mut self, process: u64, kind: OpType, call: Call, error: Option<String>) {
        let index = self.ops.len() as u64;
        self.ops.push(Op {
            index,
            time: index * 1_000,
            process,
            kind,
            call,
            node: None,
            error,
        });
    }

    /// `process` invokes `call`.
    pub fn invoke(&mut self, process: u64, call: Call) -> &mut Builder {
        self.pending.insert(process, call.clone());
        self.push(process, OpType::Invoke, call, None);
        self
    }

    /// `process`'s call completes `ok` with the results in `call`.
    pub fn ok_with(&mut self, process: u64, call: Call) -> &mut Builder {
        self.pending.remove(&process);
        self.push(process, OpType::Ok, call, None);
        self
    }

    /// `process`'s call completes `ok` as invoked (writes, adds, appends).
    pub fn ok(&mut self, process: u64) -> &mut Builder {
        let call = self.pending_call(process);
        self.ok_with(process, call)
    }

    /// `process`'s call definitely failed.
    pub fn fail(&mut self, process: u64) -> &mut Builder {
        let call = self.pending_call(process);
        self.pending.remove(&process);
        self.push(process, OpType::Fail, call, Some("failed".into()));
        self
    }

    /// `process`'s call has an unknown outcome.
    pub fn info(&mut self, process: u64) -> &mut Builder {
        let call = self.pending_call(process);
        self.pending.remove(&process);
        self.push(process, OpType::Info, call, Some("indefinite".into()));
        self
    }

    /// `invoke` then `ok_with` on one process.
    pub fn complete(&mut self, process: u64, invoked: Call, result: Call) -> &mut Builder {
        self.invoke(process, invoked).ok_with(process, result)
    }

    /// The call in flight on `process`. A completion with nothing in flight still gets an
    /// event (with a placeholder call), which [`Builder::build`] rejects as unmatched.
    fn pending_call(&self, process: u64) -> Call {
        self.pending
            .get(&process)
            .cloned()
            .unwrap_or(Call::Add { element: -1 })
    }

    /// The events so far.
    pub fn ops(&self) -> Vec<Op> {
        self.ops.clone()
    }

    /// The history, or why it is malformed.
    pub fn build(&self) -> Result<History, HistoryError> {
        History::new(self.ops.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_invocations_with_completions() {
        let h = Builder::new()
            .invoke(1, Call::Write { key: 1, value: 5 })
            .invoke(
                2,
                Call::Read {
                    key: 1,
                    value: None,
                },
            )
            .ok(1)
            .ok_with(
                2,
                Call::Read {
                    key: 1,
                    value: Some(5),
                },
            )
            .invoke(3, Call::Write { key: 1, value: 6 })
            .info(3)
            .invoke(4, Call::Write { key: 1, value: 7 })
            .build()
            .unwrap();
        let ops = h.operations();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0].outcome, Outcome::Ok);
        assert_eq!((ops[0].invoke, ops[0].complete), (0, Some(2)));
        assert_eq!(
            ops[1].call,
            Call::Read {
                key: 1,
                value: Some(5)
            }
        );
        assert_eq!((ops[2].outcome, ops[2].complete), (Outcome::Info, None));
        // Never completed: open, like info.
        assert_eq!((ops[3].outcome, ops[3].complete), (Outcome::Info, None));
        assert!(ops[0].precedes(&ops[2]));
        assert!(!ops[0].precedes(&ops[1]));
    }

    #[test]
    fn rejects_malformed_histories() {
        let mut b = Builder::new();
        b.invoke(1, Call::Add { element: 1 });
        b.invoke(1, Call::Add { element: 2 });
        assert_eq!(
            b.build().unwrap_err(),
            HistoryError::DoubleInvoke {
                process: 1,
                index: 1
            }
        );

        let mut b = Builder::new();
        b.invoke(1, Call::Add { element: 1 }).info(1);
        b.invoke(1, Call::Add { element: 2 });
        assert!(matches!(
            b.build(),
            Err(HistoryError::InvokeAfterInfo { process: 1, .. })
        ));

        let mut b = Builder::new();
        b.ok_with(1, Call::Add { element: 1 });
        assert!(matches!(b.build(), Err(HistoryError::Unmatched { .. })));
    }

    #[test]
    fn jsonl_round_trips() {
        let mut b = Builder::new();
        b.complete(
            1,
            Call::Txn {
                mops: vec![Mop::Append(1, 2), Mop::Read(2, None)],
            },
            Call::Txn {
                mops: vec![Mop::Append(1, 2), Mop::Read(2, Some(vec![1, 3]))],
            },
        );
        b.complete(
            2,
            Call::ReadAccounts {
                balances: None,
                final_read: true,
            },
            Call::ReadAccounts {
                balances: Some([(1, 10), (2, 20)].into_iter().collect()),
                final_read: true,
            },
        );
        b.invoke(
            3,
            Call::Cas {
                key: 7,
                from: 1,
                to: 2,
            },
        )
        .fail(3);
        let h = b.build().unwrap();
        let mut buf = Vec::new();
        h.write_jsonl(&mut buf).unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.contains(
                r#""type":"invoke","f":"txn","value":{"mops":[{"append":[1,2]},{"r":[2,null]}]}"#
            ),
            "{text}"
        );
        let back = History::read_jsonl(&buf[..]).unwrap();
        assert_eq!(back.ops(), h.ops());
    }

    #[test]
    fn parse_errors_name_the_line() {
        let text = "{\"index\":0}\n";
        let err = History::read_jsonl(text.as_bytes()).unwrap_err();
        assert!(matches!(err, HistoryError::Parse { line: 1, .. }), "{err}");
    }
}
