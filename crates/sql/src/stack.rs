//! Recursion over deep statements without running out of stack.
//!
//! Expressions and queries are trees that the planner, the evaluator and the rewriters walk
//! recursively, and the client decides how deep they are: `1 + 1 + ... + 1` is a left-deep
//! tree as deep as it is long, and so are `a OR b OR ...`, `x::INT::INT...` and
//! `SELECT 1 UNION SELECT 1 ...`. A thread that overflows its stack aborts the whole process
//! (there is no panic to catch), so two rules keep that from happening:
//!
//! 1. The parser refuses statements that nest deeper than
//!    [`MAX_DEPTH`](crate::parser::MAX_DEPTH) levels of expressions, set operations and
//!    subqueries, with SQLSTATE 54001 as PostgreSQL's "stack depth limit exceeded" has it
//!    (`parser::depth`, which also explains how it bounds what sqlparser builds). Everything
//!    after the parser relies on that bound, including the derived `Clone`, `Drop` and
//!    `Debug` of the syntax trees.
//! 2. The recursive functions with large frames run their bodies through [`grow`], which
//!    moves onto a fresh stack segment on the heap when less than [`RED_ZONE`] is left, and
//!    recursive futures (the plan executor) are [`guarded`], so that each poll does. The
//!    expression compiler's frame was about 60 KiB in a debug build when one function
//!    compiled every kind of expression, so without it a chain of thirty `+` overflowed the
//!    2 MiB stack of a tokio worker, and thirty `UNION`s did in the executor. sqlparser protects its own recursion (parsing, visiting, printing) the same
//!    way, with the same crate (`stacker`).

use std::future::Future;
use std::pin::Pin;

/// Stack that must be left before a guarded function recurses; below it, [`grow`] switches
/// to a new segment. Unguarded recursion (derived `Clone` and `Drop` over at most
/// `MAX_DEPTH` levels) must fit in it.
pub const RED_ZONE: usize = 1 << 20;

/// Size of each stack segment [`grow`] allocates.
pub const SEGMENT: usize = 8 << 20;

/// Runs `f`, on a new stack segment if less than [`RED_ZONE`] of this one is left. Guarded
/// functions wrap their whole body in it.
pub fn grow<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(RED_ZONE, SEGMENT, f)
}

/// `fut`, boxed, with every poll run through [`grow`]: for async recursion, where polls nest
/// as deeply as the recursion, each with the frame of its `async` block (tens of KiB in a
/// debug build for the plan executor's).
pub fn guarded<'a, T>(
    fut: impl Future<Output = T> + Send + 'a,
) -> Pin<Box<dyn Future<Output = T> + Send + 'a>> {
    let mut fut = Box::pin(fut);
    Box::pin(std::future::poll_fn(move |cx| {
        grow(|| fut.as_mut().poll(cx))
    }))
}
