//! The checkers: pure functions from a [`History`] to a [`Verdict`].
//!
//! - [`register`]: per-key linearizability of read/write/cas registers (WGL search);
//! - [`bank`]: transfers conserve the total;
//! - [`set`]: acknowledged adds survive, nothing else appears;
//! - [`append`]: Elle's list-append anomalies (G0 ... G2-item, G1a/b, lost updates), built
//!   on the dependency graph and cycle search of [`cycle`];
//! - [`monotonic`]: counters never go backwards.
//!
//! [`check`] runs the checker of a [`Workload`] with its default options.

pub mod append;
pub mod bank;
pub mod cycle;
pub mod monotonic;
pub mod register;
pub mod set;

use crate::history::History;
use crate::verdict::Verdict;
use std::fmt;
use std::str::FromStr;

/// A workload, and so the checker that judges its histories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Workload {
    /// Read/write/cas registers.
    Register,
    /// Bank transfers.
    Bank,
    /// Unique inserts.
    Set,
    /// List-append transactions.
    Append,
    /// Counters.
    Monotonic,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 5] = [
        Workload::Register,
        Workload::Bank,
        Workload::Set,
        Workload::Append,
        Workload::Monotonic,
    ];

    /// The name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::Bank => "bank",
            Workload::Set => "set",
            Workload::Append => "append",
            Workload::Monotonic => "monotonic",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Workload, String> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown workload {s:?}"))
    }
}

/// Options of every checker.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Register search budgets.
    pub register: register::RegisterOptions,
    /// Bank accounts and total.
    pub bank: bank::BankOptions,
    /// List-append consistency model.
    pub append: append::AppendOptions,
}

/// Runs the checker of `workload` on `history`.
pub fn check(workload: Workload, history: &History, opts: &CheckOptions) -> Verdict {
    match workload {
        Workload::Register => register::check(history, &opts.register),
        Workload::Bank => bank::check(history, &opts.bank),
        Workload::Set => set::check(history),
        Workload::Append => append::check(history, &opts.append),
        Workload::Monotonic => monotonic::check(history),
    }
}
