//! Identifiers. Node ids start at 1 and are allocated by the cluster when a node joins; range
//! ids start at 1 (range 1 is the meta range, which addresses all the others).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A node's id, unique in the cluster for its lifetime; never 0 once assigned.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u64);

/// A range's id, unique in the cluster; never reused.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct RangeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for RangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// The meta range: it holds the descriptor of every range and is never split.
pub const META_RANGE_ID: RangeId = RangeId(1);
