//! The raft messages between nodes, as they travel over `rpc` (postcard-encoded).
//!
//! Every request names its range and its intended receiver; the sender is the rpc `Caller`.
//! openraft's own message types are carried as they are: all of them derive serde with a
//! positional-safe layout (measured: every message round-trips through postcard, see the
//! tests), so no serde_json fallback is needed. Errors travel as [`RaftWireError`], an rpc
//! application error of kind `kv.raft`.

use base::RangeId;
use serde::{Deserialize, Serialize};

use super::Vote;

/// rpc method: AppendEntries (also heartbeats).
pub(crate) const APPEND: &str = "raft.append";
/// rpc method: RequestVote.
pub(crate) const VOTE: &str = "raft.vote";
/// rpc method: Pre-Vote.
pub(crate) const PRE_VOTE: &str = "raft.pre_vote";
/// rpc method: one chunk of a snapshot.
pub(crate) const SNAPSHOT: &str = "raft.snapshot";
/// rpc method: TransferLeader.
pub(crate) const TRANSFER_LEADER: &str = "raft.transfer_leader";
/// rpc method: a leader asks a follower to quiesce ([`QuiesceRequest`], answered with `bool`).
pub(crate) const QUIESCE: &str = "raft.quiesce";
/// rpc method: a quiesced follower asks its leader to wake (body `()`, answered with `bool`:
/// whether the receiver leads the group and is now awake).
pub(crate) const WAKE: &str = "raft.wake";

/// A raft message for one range's group on one node.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "T: Serialize", deserialize = "T: Deserialize<'de>"))]
pub(crate) struct RaftRequest<T> {
    /// The range whose group the message is for.
    pub(crate) range: RangeId,
    /// The node meant to receive it (guards against a stale address).
    pub(crate) to: u64,
    /// The sending replica's quiescence epoch: how many times it has quiesced the group as its
    /// leader. A follower quiesced in epoch `e` of a leader is not woken by that leader's
    /// messages of an earlier epoch (heartbeats still in flight when the leader quiesced).
    pub(crate) epoch: u64,
    /// The openraft message.
    pub(crate) body: T,
}

/// A leader's request that a follower quiesce: stop its election timer (and its ticker) until
/// the leader, or a new one, talks to it again. The follower agrees only when it is caught up:
/// same term, same leader, its log ending at `last_index` and applied up to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuiesceRequest {
    /// The leader's term.
    pub(crate) term: u64,
    /// The leader's last log index (committed and applied on the leader).
    pub(crate) last_index: u64,
}

/// One chunk of a snapshot. The chunks of one snapshot share `id` and arrive in order; their
/// concatenation is a snapshot stream (format and versions in `snapshot.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotChunk {
    /// The sending leader's vote; checked by openraft when the snapshot is installed.
    pub(crate) vote: Vote,
    /// Identifies the transfer (random per transfer).
    pub(crate) id: u64,
    /// Byte offset of this chunk in the stream.
    pub(crate) offset: u64,
    /// The chunk's bytes.
    #[serde(with = "bytes")]
    pub(crate) data: Vec<u8>,
    /// True on the last chunk: the receiver installs the snapshot and answers with its vote.
    pub(crate) done: bool,
}

/// Serde of a `Vec<u8>` as a byte string. postcard encodes a byte string exactly as it encodes a
/// sequence of `u8` (a varint length, then the bytes), so the wire does not change, but it is
/// written and read as one slice rather than byte by byte (into a vector grown by doubling).
pub(crate) mod bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::ser::Serializer;

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(BytesVisitor)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

/// Why a node could not handle a raft message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RaftWireError {
    /// The node has no group for the range and its factory did not create one.
    #[error("no raft group for {0} on this node")]
    RangeNotFound(RangeId),
    /// The message was meant for another node (the address now belongs to someone else).
    #[error("message for n{expected} arrived at n{actual}")]
    WrongNode {
        /// The intended receiver.
        expected: u64,
        /// This node.
        actual: u64,
    },
    /// The group is shutting down or hit a fatal error.
    #[error("raft group stopped: {0}")]
    Stopped(String),
    /// A snapshot chunk out of order, or a stream that does not check out.
    #[error("bad snapshot transfer: {0}")]
    Snapshot(String),
}

impl rpc::AppError for RaftWireError {
    const KIND: &'static str = "kv.raft";
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use openraft::raft::{
        AppendEntriesRequest, AppendEntriesResponse, TransferLeaderRequest, VoteRequest,
        VoteResponse,
    };
    use openraft::{EntryPayload, Membership, SnapshotMeta};
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::command::{RaftCommand, RawWrite};
    use crate::raft::snapshot::Frame;
    use crate::raft::{Entry, LogId, StoredMembership, TypeConfig};

    fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug>(value: &T) -> T {
        let bytes = postcard::to_stdvec(value).expect("encode");
        postcard::from_bytes(&bytes).expect("decode")
    }

    fn log_id(term: u64, node: u64, index: u64) -> LogId {
        openraft::testing::log_id::<TypeConfig>(term, node, index)
    }

    fn membership() -> StoredMembership {
        let voters = BTreeSet::from([1, 2, 3]);
        let nodes: BTreeMap<u64, openraft::EmptyNode> = [1, 2, 3, 4]
            .into_iter()
            .map(|n| (n, openraft::EmptyNode::new()))
            .collect();
        let m = Membership::new(vec![voters], nodes).expect("membership");
        StoredMembership::new(Some(log_id(1, 1, 1)), m)
    }

    /// Every openraft message and stored value survives postcard (a positional format).
    #[test]
    fn openraft_types_round_trip_through_postcard() {
        let vote = Vote::new_committed(3, 2);
        let cmd = RaftCommand {
            proposal_id: 9,
            writes: vec![RawWrite::Put(b"k".to_vec(), b"v".to_vec())],
            ..RaftCommand::default()
        };
        let entries = vec![
            Entry {
                log_id: log_id(3, 2, 5),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(3, 2, 6),
                payload: EntryPayload::Normal(cmd),
            },
            Entry {
                log_id: log_id(3, 2, 7),
                payload: EntryPayload::Membership(membership().membership().clone()),
            },
        ];
        let append = AppendEntriesRequest::<TypeConfig> {
            vote,
            prev_log_id: Some(log_id(3, 2, 4)),
            entries: entries.clone(),
            leader_commit: Some(log_id(3, 2, 4)),
        };
        let req = RaftRequest {
            range: RangeId(7),
            to: 3,
            epoch: 4,
            body: append,
        };
        let back = round_trip(&req);
        assert_eq!((back.range, back.epoch), (RangeId(7), 4));
        assert_eq!(back.body.entries, entries);
        for resp in [
            AppendEntriesResponse::<TypeConfig>::Success,
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(vote),
            AppendEntriesResponse::PartialSuccess(Some(log_id(3, 2, 5))),
        ] {
            assert_eq!(round_trip(&resp), resp);
        }
        let vreq = VoteRequest::<TypeConfig>::new(vote, Some(log_id(3, 2, 7)));
        assert_eq!(round_trip(&vreq), vreq);
        let vresp = VoteResponse::<TypeConfig>::new(vote, Some(log_id(3, 2, 7)), true);
        assert_eq!(round_trip(&vresp), vresp);
        let treq = TransferLeaderRequest::<TypeConfig>::new(vote, 2, Some(log_id(3, 2, 7)));
        assert_eq!(round_trip(&treq), treq);
        let quiesce = QuiesceRequest {
            term: 3,
            last_index: 7,
        };
        assert_eq!(round_trip(&quiesce), quiesce);
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(3, 2, 7)),
            last_membership: membership(),
        };
        assert_eq!(round_trip(&meta), meta);
        let head = Frame::Head {
            last_log_id: Some(log_id(3, 2, 7)),
            membership: membership(),
            header: vec![1, 2, 3],
        };
        let Frame::Head {
            last_log_id,
            membership: m,
            header,
        } = round_trip(&head)
        else {
            panic!("not a head");
        };
        assert_eq!(
            (last_log_id, m, header),
            (Some(log_id(3, 2, 7)), membership(), vec![1, 2, 3])
        );
    }

    /// A chunk's bytes travel as a byte string, which postcard lays out as it did the
    /// sequence of `u8` before.
    #[test]
    fn chunk_bytes_keep_their_wire_layout() {
        #[derive(Serialize)]
        struct Before {
            vote: Vote,
            id: u64,
            offset: u64,
            data: Vec<u8>,
            done: bool,
        }
        let vote = Vote::new_committed(3, 2);
        let data: Vec<u8> = (0..=255).collect();
        let before = Before {
            vote,
            id: 1,
            offset: 2,
            data: data.clone(),
            done: true,
        };
        let now = SnapshotChunk {
            vote,
            id: 1,
            offset: 2,
            data,
            done: true,
        };
        let bytes = postcard::to_stdvec(&now).expect("encode");
        assert_eq!(bytes, postcard::to_stdvec(&before).expect("encode"));
        let back: SnapshotChunk = postcard::from_bytes(&bytes).expect("decode");
        assert_eq!(back.data, now.data);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xff; 3][..], &[1, 2, 3, 4, 5, 6, 7, 8, 9][..]] {
            let r: Result<RaftRequest<AppendEntriesRequest<TypeConfig>>, _> =
                postcard::from_bytes(bytes);
            assert!(r.is_err());
            assert!(postcard::from_bytes::<Frame>(bytes).is_err());
        }
    }
}
