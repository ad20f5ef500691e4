//! Node, range and replica descriptors.

use crate::ids::{NodeId, RangeId};
use crate::keys::{Key, Span};
use locality::Locality;
use serde::{Deserialize, Serialize};

/// What a node tells the cluster about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDescriptor {
    /// The node's id.
    pub node_id: NodeId,
    /// Address of the node-to-node RPC listener (`host:port`).
    pub address: String,
    /// Address of the PostgreSQL wire listener.
    pub sql_address: String,
    /// Address of the HTTP status listener.
    pub http_address: String,
    /// Where the node is.
    pub locality: Locality,
}

/// A replica's role in its range's Raft group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReplicaType {
    /// Votes in elections and commits; can hold the lease.
    Voter,
    /// A Raft learner: follows the log, serves follower reads and rangefeeds, never votes.
    NonVoter,
}

/// One replica of a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplicaDescriptor {
    /// The node holding the replica (one replica per node per range).
    pub node_id: NodeId,
    /// Voter or non-voter.
    pub replica_type: ReplicaType,
}

/// A range: a contiguous span of keys replicated by one Raft group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeDescriptor {
    /// The range's id.
    pub range_id: RangeId,
    /// Inclusive start key.
    pub start_key: Key,
    /// Exclusive end key.
    pub end_key: Key,
    /// The replicas, voters and non-voters.
    pub replicas: Vec<ReplicaDescriptor>,
    /// Bumped by every split and replica change; a newer descriptor has a higher generation.
    pub generation: u64,
}

impl RangeDescriptor {
    /// The keys of the range.
    pub fn span(&self) -> Span {
        Span {
            start: self.start_key.clone(),
            end: self.end_key.clone(),
        }
    }

    /// True when `key` lies in the range.
    pub fn contains_key(&self, key: &Key) -> bool {
        *key >= self.start_key && *key < self.end_key
    }

    /// Nodes with a voting replica.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.replicas
            .iter()
            .filter(|r| r.replica_type == ReplicaType::Voter)
            .map(|r| r.node_id)
    }

    /// Nodes with a non-voting replica.
    pub fn non_voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.replicas
            .iter()
            .filter(|r| r.replica_type == ReplicaType::NonVoter)
            .map(|r| r.node_id)
    }

    /// The replica on `node`, if any.
    pub fn replica(&self, node: NodeId) -> Option<&ReplicaDescriptor> {
        self.replicas.iter().find(|r| r.node_id == node)
    }
}
