//! Transport filters: drop, partition and delay messages between nodes, for tests.
//!
//! Rules are checked on the client side, with the calling node's id as the source and the
//! target's node id as the destination (an address target is mapped back through
//! [`crate::Resolver::node_at`]; when that is unknown no rule applies). A dropped call fails
//! at once with [`RpcError::Dropped`], without touching the network. An open stream is cut
//! with `Dropped` at its next item once a rule starts to drop it.
//!
//! One `TransportFilters` can be shared by every node of an in-process cluster (pass a clone
//! in [`crate::RpcOptions::filters`]); then `partition(a, b)` cuts both directions.

use crate::RpcError;
use base::NodeId;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Rules that drop or delay messages. Cheap to clone; clones share the rules.
#[derive(Clone, Debug, Default)]
pub struct TransportFilters {
    rules: Arc<RwLock<Rules>>,
}

#[derive(Debug, Default)]
struct Rules {
    /// Unordered pairs, stored as (min, max).
    partitions: HashSet<(NodeId, NodeId)>,
    dropped_from: HashSet<NodeId>,
    isolated: HashSet<NodeId>,
    delays: HashMap<(NodeId, NodeId), Duration>,
}

fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    if a <= b { (a, b) } else { (b, a) }
}

impl TransportFilters {
    /// No rules.
    pub fn new() -> TransportFilters {
        TransportFilters::default()
    }

    /// Drops every message between `a` and `b`, both ways.
    pub fn partition(&self, a: NodeId, b: NodeId) {
        self.rules.write().partitions.insert(pair(a, b));
    }

    /// Removes the partition and the delays between `a` and `b`.
    pub fn heal(&self, a: NodeId, b: NodeId) {
        let mut rules = self.rules.write();
        rules.partitions.remove(&pair(a, b));
        rules.delays.remove(&(a, b));
        rules.delays.remove(&(b, a));
    }

    /// Removes every rule.
    pub fn heal_all(&self) {
        *self.rules.write() = Rules::default();
    }

    /// Drops every message sent by `node`.
    pub fn drop_all_from(&self, node: NodeId) {
        self.rules.write().dropped_from.insert(node);
    }

    /// Drops every message sent by or to `node`, as if it were cut off the network.
    pub fn isolate(&self, node: NodeId) {
        self.rules.write().isolated.insert(node);
    }

    /// Delays every message from `from` to `to` by `delay` (a call's response travels the
    /// other way and is delayed by the reverse rule). Replaces an earlier delay.
    pub fn delay(&self, from: NodeId, to: NodeId, delay: Duration) {
        self.rules.write().delays.insert((from, to), delay);
    }

    /// Whether a message from `from` to `to` is dropped.
    pub fn drops(&self, from: NodeId, to: NodeId) -> bool {
        let rules = self.rules.read();
        rules.partitions.contains(&pair(from, to))
            || rules.dropped_from.contains(&from)
            || rules.isolated.contains(&from)
            || rules.isolated.contains(&to)
    }

    /// The delay of a message from `from` to `to`.
    pub fn delay_of(&self, from: NodeId, to: NodeId) -> Duration {
        self.rules
            .read()
            .delays
            .get(&(from, to))
            .copied()
            .unwrap_or_default()
    }

    /// Applies the rules to a message from `from` to `to`: fails with `Dropped` or waits out
    /// the delay.
    pub(crate) async fn pass(&self, from: NodeId, to: NodeId) -> Result<(), RpcError> {
        if self.drops(from, to) {
            return Err(RpcError::Dropped);
        }
        let delay = self.delay_of(from, to);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N1: NodeId = NodeId(1);
    const N2: NodeId = NodeId(2);
    const N3: NodeId = NodeId(3);

    #[test]
    fn partition_is_symmetric_and_heals() {
        let f = TransportFilters::new();
        f.partition(N2, N1);
        assert!(f.drops(N1, N2) && f.drops(N2, N1));
        assert!(!f.drops(N1, N3));
        f.heal(N1, N2);
        assert!(!f.drops(N1, N2));
    }

    #[test]
    fn drop_all_from_is_one_way_and_isolate_is_both() {
        let f = TransportFilters::new();
        f.drop_all_from(N1);
        assert!(f.drops(N1, N2) && f.drops(N1, N3));
        assert!(!f.drops(N2, N1));
        f.heal_all();
        f.isolate(N3);
        assert!(f.drops(N3, N1) && f.drops(N2, N3));
        assert!(!f.drops(N1, N2));
    }

    #[test]
    fn delays_are_directional() {
        let f = TransportFilters::new();
        f.delay(N1, N2, Duration::from_millis(5));
        assert_eq!(f.delay_of(N1, N2), Duration::from_millis(5));
        assert_eq!(f.delay_of(N2, N1), Duration::ZERO);
        f.heal(N2, N1);
        assert_eq!(f.delay_of(N1, N2), Duration::ZERO);
    }
}
