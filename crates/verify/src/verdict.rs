//! What a checker concludes: [`Verdict`], with the [`Anomaly`] list that justifies it.
//!
//! A verdict is [`Validity::Invalid`] as soon as one anomaly is found, [`Validity::Unknown`]
//! when the checker could not decide (a search budget ran out, the history lacks a final read)
//! and found nothing, and [`Validity::Valid`] otherwise. `Unknown` is never a pass. Warnings
//! are anomalies the configured consistency model allows (by default, cycles that need
//! real-time edges between transactions on different keys: strict serializability, which
//! Sextant, like CockroachDB, does not promise); they are printed but do not change validity.

use crate::history::{Key, Operation};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// The outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Validity {
    /// Nothing wrong found.
    Valid,
    /// The checker could not decide.
    Unknown,
    /// At least one anomaly.
    Invalid,
}

impl fmt::Display for Validity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Validity::Valid => "valid",
            Validity::Unknown => "UNKNOWN",
            Validity::Invalid => "INVALID",
        })
    }
}

/// Adya's dependency-cycle classes, weakest violation first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CycleClass {
    /// Write cycle: ww edges only.
    G0,
    /// Circular information flow: ww and wr edges, at least one wr.
    G1c,
    /// Exactly one rw (anti-dependency) edge: read skew and its kin.
    GSingle,
    /// More than one rw edge, no two adjacent.
    GNonadjacent,
    /// Adjacent rw edges: write skew.
    G2Item,
}

impl fmt::Display for CycleClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CycleClass::G0 => "G0",
            CycleClass::G1c => "G1c",
            CycleClass::GSingle => "G-single",
            CycleClass::GNonadjacent => "G-nonadjacent",
            CycleClass::G2Item => "G2-item",
        })
    }
}

/// Which order edges, beyond data dependencies, a cycle needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Via {
    /// Data dependencies only (ww, wr, rw).
    Data,
    /// At least one process-order edge, no real-time edge.
    Process,
    /// At least one real-time edge.
    Realtime,
}

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AnomalyKind {
    /// register: the operations on a key have no linearization.
    NonLinearizable,
    /// bank: a read's total differs from the initial total.
    WrongTotal,
    /// bank: a read saw a negative balance.
    NegativeBalance,
    /// bank: a read saw missing or unknown accounts.
    WrongAccounts,
    /// set: an acknowledged add is missing from the final read.
    Lost,
    /// set: a read holds an element never added, or whose add failed.
    Unexpected,
    /// set / append: an element appears twice in one read.
    Duplicated,
    /// set: a read misses an element whose add completed before the read began.
    StaleRead,
    /// monotonic: a process saw a counter go backwards.
    NonMonotonic,
    /// monotonic: a read saw a smaller value than a read that completed before it began.
    NonMonotonicRealtime,
    /// monotonic: two acknowledged increments produced the same value.
    DuplicateIncrement,
    /// monotonic: a counter read outside what the increments allow.
    CounterOutOfBounds,
    /// append: two reads of a key are not prefixes of one another.
    IncompatibleOrder,
    /// append: a read saw an element appended by a failed transaction (aborted read).
    G1a,
    /// append: a read saw an element another transaction later overwrote within itself
    /// (intermediate read).
    G1b,
    /// append: a transaction's read contradicts its own earlier reads and appends.
    Internal,
    /// append: a read saw an element no transaction appended.
    UnwrittenRead,
    /// append: two committed transactions read the same version of a key and both
    /// appended to it.
    LostUpdate,
    /// append: a dependency cycle.
    Cycle(CycleClass, Via),
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            AnomalyKind::NonLinearizable => "non-linearizable",
            AnomalyKind::WrongTotal => "wrong-total",
            AnomalyKind::NegativeBalance => "negative-balance",
            AnomalyKind::WrongAccounts => "wrong-accounts",
            AnomalyKind::Lost => "lost",
            AnomalyKind::Unexpected => "unexpected",
            AnomalyKind::Duplicated => "duplicated",
            AnomalyKind::StaleRead => "stale-read",
            AnomalyKind::NonMonotonic => "non-monotonic",
            AnomalyKind::NonMonotonicRealtime => "non-monotonic-realtime",
            AnomalyKind::DuplicateIncrement => "duplicate-increment",
            AnomalyKind::CounterOutOfBounds => "counter-out-of-bounds",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::Internal => "internal",
            AnomalyKind::UnwrittenRead => "unwritten-read",
            AnomalyKind::LostUpdate => "lost-update",
            AnomalyKind::Cycle(class, via) => {
                return match via {
                    Via::Data => write!(f, "{class}"),
                    Via::Process => write!(f, "{class}-process"),
                    Via::Realtime => write!(f, "{class}-realtime"),
                };
            }
        };
        f.write_str(name)
    }
}

impl Serialize for AnomalyKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One thing that went wrong, with the operations that show it.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    /// The kind.
    pub kind: AnomalyKind,
    /// The key concerned, when there is one.
    pub key: Option<Key>,
    /// A sentence saying what is wrong.
    pub explanation: String,
    /// The operations involved.
    pub ops: Vec<Operation>,
    /// Further lines: the edges of a cycle, the linearization tried, ...
    pub details: Vec<String>,
}

impl Anomaly {
    /// An anomaly without details.
    pub fn new(
        kind: AnomalyKind,
        key: Option<Key>,
        explanation: impl Into<String>,
        ops: Vec<Operation>,
    ) -> Anomaly {
        Anomaly {
            kind,
            key,
            explanation: explanation.into(),
            ops,
            details: Vec::new(),
        }
    }

    /// Adds detail lines.
    pub fn with_details(mut self, details: Vec<String>) -> Anomaly {
        self.details = details;
        self
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(k) = self.key {
            write!(f, " (key {k})")?;
        }
        writeln!(f, ": {}", self.explanation)?;
        for op in &self.ops {
            writeln!(f, "    {op}")?;
        }
        for d in &self.details {
            writeln!(f, "    {d}")?;
        }
        Ok(())
    }
}

/// A checker's conclusion.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    /// Which checker.
    pub checker: String,
    /// The conclusion.
    pub validity: Validity,
    /// What makes the history invalid.
    pub anomalies: Vec<Anomaly>,
    /// Anomalies the configured model allows (reported, not failing).
    pub warnings: Vec<Anomaly>,
    /// Why the checker could not decide parts of the history.
    pub unknown: Vec<String>,
    /// Counts for the summary line (operations checked, keys, ...).
    pub stats: BTreeMap<String, u64>,
}

impl Verdict {
    /// A verdict whose validity follows from its parts: invalid with any anomaly, else unknown
    /// with any unknown reason, else valid.
    pub fn new(
        checker: impl Into<String>,
        anomalies: Vec<Anomaly>,
        warnings: Vec<Anomaly>,
        unknown: Vec<String>,
        stats: BTreeMap<String, u64>,
    ) -> Verdict {
        let validity = if !anomalies.is_empty() {
            Validity::Invalid
        } else if !unknown.is_empty() {
            Validity::Unknown
        } else {
            Validity::Valid
        };
        Verdict {
            checker: checker.into(),
            validity,
            anomalies,
            warnings,
            unknown,
            stats,
        }
    }

    /// A verdict of `Unknown` for one reason (a malformed history, say).
    pub fn unknown(checker: impl Into<String>, reason: impl Into<String>) -> Verdict {
        Verdict::new(
            checker,
            Vec::new(),
            Vec::new(),
            vec![reason.into()],
            BTreeMap::new(),
        )
    }

    /// The same verdict with one more reason it is undecided (so at best `Unknown`).
    pub fn with_unknown(mut self, reason: impl Into<String>) -> Verdict {
        self.unknown.push(reason.into());
        Verdict::new(
            self.checker,
            self.anomalies,
            self.warnings,
            self.unknown,
            self.stats,
        )
    }

    /// Whether some anomaly has this kind.
    pub fn has(&self, kind: AnomalyKind) -> bool {
        self.anomalies.iter().any(|a| a.kind == kind)
    }

    /// Whether some warning has this kind.
    pub fn warns(&self, kind: AnomalyKind) -> bool {
        self.warnings.iter().any(|a| a.kind == kind)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.checker, self.validity)?;
        let stats: Vec<String> = self.stats.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if !stats.is_empty() {
            write!(f, " ({})", stats.join(", "))?;
        }
        writeln!(f)?;
        for a in &self.anomalies {
            write!(f, "  {a}")?;
        }
        if !self.warnings.is_empty() {
            writeln!(
                f,
                "  warnings (allowed by the configured model; strict-serializable violations \
                 when real-time edges are involved):"
            )?;
            for a in &self.warnings {
                write!(f, "  {a}")?;
            }
        }
        for u in &self.unknown {
            writeln!(f, "  unknown: {u}")?;
        }
        Ok(())
    }
}
