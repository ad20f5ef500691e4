//! Where a range's Raft state lives in the engine.
//!
//! Every key starts with the range id as 8 big-endian bytes, so one range's keys are contiguous
//! and ranges sort by id:
//!
//! | keyspace     | key                              | value                                  |
//! |--------------|----------------------------------|----------------------------------------|
//! | `Cf::Raft`   | `range_id ++ b'l' ++ index (8 BE)` | postcard of the log entry            |
//! | `Cf::Raft`   | `range_id ++ b'v'`               | postcard of the vote                   |
//! | `Cf::Raft`   | `range_id ++ b'c'`               | postcard of the committed log id       |
//! | `Cf::Raft`   | `range_id ++ b'p'`               | postcard of the last purged log id     |
//! | `Cf::State`  | `range_id ++ b"applied"`         | postcard of [`super::state_machine::AppliedState`] |
//! | `Cf::State`  | `range_id ++ b"installing"`      | an unfinished snapshot install (see `snapshot.rs`) |

use base::RangeId;

const LOG: u8 = b'l';
const VOTE: u8 = b'v';
const COMMITTED: u8 = b'c';
const PURGED: u8 = b'p';
const APPLIED: &[u8] = b"applied";
const INSTALLING: &[u8] = b"installing";

fn with_suffix(range: RangeId, suffix: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + suffix.len() + 8);
    key.extend_from_slice(&range.0.to_be_bytes());
    key.extend_from_slice(suffix);
    key
}

/// The key of log entry `index`.
pub(crate) fn log(range: RangeId, index: u64) -> Vec<u8> {
    let mut key = with_suffix(range, &[LOG]);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The end (exclusive) of the range's log keys.
pub(crate) fn log_end(range: RangeId) -> Vec<u8> {
    with_suffix(range, &[LOG + 1])
}

/// The log index encoded in a log key, if it is one.
pub(crate) fn log_index(key: &[u8]) -> Option<u64> {
    let index: [u8; 8] = key.get(9..17)?.try_into().ok()?;
    (key.len() == 17 && key[8] == LOG).then(|| u64::from_be_bytes(index))
}

/// The key of the vote.
pub(crate) fn vote(range: RangeId) -> Vec<u8> {
    with_suffix(range, &[VOTE])
}

/// The key of the committed log id.
pub(crate) fn committed(range: RangeId) -> Vec<u8> {
    with_suffix(range, &[COMMITTED])
}

/// The key of the last purged log id.
pub(crate) fn purged(range: RangeId) -> Vec<u8> {
    with_suffix(range, &[PURGED])
}

/// The key (in `Cf::State`) of the applied state.
pub(crate) fn applied(range: RangeId) -> Vec<u8> {
    with_suffix(range, APPLIED)
}

/// The key (in `Cf::State`) of the marker of an unfinished snapshot install.
pub(crate) fn installing(range: RangeId) -> Vec<u8> {
    with_suffix(range, INSTALLING)
}

/// The range of a `Cf::State` key ending in `suffix`, if it is one.
fn range_with_suffix(key: &[u8], suffix: &[u8]) -> Option<RangeId> {
    let id: [u8; 8] = key.get(..8)?.try_into().ok()?;
    (key.len() == 8 + suffix.len() && key.ends_with(suffix))
        .then(|| RangeId(u64::from_be_bytes(id)))
}

/// The range of an install marker's key, if it is one.
pub(crate) fn installing_range(key: &[u8]) -> Option<RangeId> {
    range_with_suffix(key, INSTALLING)
}

/// The range of an applied state's key, if it is one.
pub(crate) fn applied_range(key: &[u8]) -> Option<RangeId> {
    range_with_suffix(key, APPLIED)
}

/// The span `[start, end)` of every `Cf::Raft` key of the range; an empty `end` is unbounded.
pub(crate) fn raft_span(range: RangeId) -> (Vec<u8>, Vec<u8>) {
    let start = range.0.to_be_bytes().to_vec();
    let end = range
        .0
        .checked_add(1)
        .map(|next| next.to_be_bytes().to_vec())
        .unwrap_or_default();
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_range_then_index() {
        let keys = [log(RangeId(1), 2), log(RangeId(1), 256), log(RangeId(2), 1)];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(log_index(&keys[1]), Some(256));
        assert_eq!(log_index(&vote(RangeId(1))), None);
    }

    #[test]
    fn every_key_of_a_range_is_in_its_span() {
        let r = RangeId(7);
        let (start, end) = raft_span(r);
        for key in [
            log(r, 0),
            log(r, u64::MAX),
            log_end(r),
            vote(r),
            committed(r),
            purged(r),
        ] {
            assert!(start <= key && key < end, "{key:?}");
        }
        assert!(log(r, u64::MAX) < log_end(r));
        assert!(raft_span(RangeId(u64::MAX)).1.is_empty());
    }

    #[test]
    fn state_keys_name_their_range() {
        let r = RangeId(7);
        assert_eq!(installing_range(&installing(r)), Some(r));
        assert_eq!(applied_range(&applied(r)), Some(r));
        assert_eq!(installing_range(&applied(r)), None);
        assert_eq!(applied_range(&installing(r)), None);
        for other in [&b"desc/12345678"[..], b"ident", b"known-nodes", b""] {
            assert_eq!(
                (applied_range(other), installing_range(other)),
                (None, None)
            );
        }
    }
}
