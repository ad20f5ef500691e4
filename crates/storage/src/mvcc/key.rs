//! The layout of MVCC records in [`Cf::Data`](crate::Cf::Data).
//!
//! ```text
//! encode_bytes(key)                           intent record of `key` (postcard TxnMeta)
//! encode_bytes(key) !wall' !logical           version of `key` at a timestamp (tagged value)
//! ```
//!
//! `encode_bytes` is order-preserving and prefix-free: no key's encoding is a prefix of
//! another's. So every record of a key shares the prefix `encode_bytes(key)`, records of
//! different keys sort as the keys do, and the intent record, having no suffix, sorts before the
//! versions of its key. The timestamp suffix is 12 bytes: the wall time with its sign bit
//! flipped (`wall'`, so that every `i64` orders correctly) and then every bit inverted, and the
//! logical counter inverted, both big-endian. Inverting makes newer versions sort first, so a
//! read at `ts` seeks to `version_key(key, ts)` and takes the first version it finds.
//!
//! A version's value is one tag byte, then the value: [`TAG_VALUE`] followed by the bytes, or
//! [`TAG_TOMBSTONE`] alone for a delete. The tag keeps an empty value distinct from a delete.
//! A version moved up from where it was first written (an intent resolved or pushed to a later
//! timestamp) keeps its *local timestamp*, the timestamp it was written at, which the
//! leaseholder's clock had reached then: [`TAG_VALUE_LOCAL`] or [`TAG_TOMBSTONE_LOCAL`], the
//! 12-byte local timestamp (wall and logical, big-endian), then the bytes. Uncertainty checks
//! compare the local timestamp with a node's observed timestamp (see
//! [`mvcc_get_uncertain`](super::mvcc_get_uncertain)).

use base::encoding;
use base::{Key, Timestamp};

use crate::mvcc::{MvccError, TxnMeta};

/// Length of the timestamp suffix of a version key, in bytes.
pub const TS_SUFFIX_LEN: usize = 12;
/// Tag byte of a version holding a value.
pub const TAG_VALUE: u8 = 1;
/// Tag byte of a version recording a delete.
pub const TAG_TOMBSTONE: u8 = 0;
/// Tag byte of a version holding a value, with its local timestamp.
pub const TAG_VALUE_LOCAL: u8 = 2;
/// Tag byte of a delete, with its local timestamp.
pub const TAG_TOMBSTONE_LOCAL: u8 = 3;
/// Bytes of a local timestamp in a value.
const LOCAL_TS_LEN: usize = 12;

const SIGN: u64 = 1 << 63;

/// A decoded raw key of [`Cf::Data`](crate::Cf::Data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvccKey {
    /// The user key.
    pub key: Key,
    /// The version's timestamp; `None` for the intent record.
    pub ts: Option<Timestamp>,
}

/// The raw key of `key`'s intent record.
pub fn meta_key(key: &[u8]) -> Vec<u8> {
    let mut raw = Vec::with_capacity(key.len() + 3);
    encoding::encode_bytes(&mut raw, key);
    raw
}

/// The raw key of `key`'s version at `ts`.
pub fn version_key(key: &[u8], ts: Timestamp) -> Vec<u8> {
    let mut raw = Vec::with_capacity(key.len() + 3 + TS_SUFFIX_LEN);
    encoding::encode_bytes(&mut raw, key);
    raw.extend_from_slice(&(!((ts.wall as u64) ^ SIGN)).to_be_bytes());
    raw.extend_from_slice(&(!ts.logical).to_be_bytes());
    raw
}

/// The smallest raw key above every record of `key`.
pub fn key_end(key: &[u8]) -> Vec<u8> {
    // The encoding ends in 0x01, so incrementing the last byte never carries.
    let mut raw = meta_key(key);
    if let Some(last) = raw.last_mut() {
        *last += 1;
    }
    raw
}

/// Decodes a raw key of [`Cf::Data`](crate::Cf::Data).
pub fn decode_key(raw: &[u8]) -> Result<MvccKey, MvccError> {
    let (key, suffix) = encoding::decode_bytes(raw)
        .map_err(|e| MvccError::Corrupt(format!("raw key {raw:02x?}: {e}")))?;
    let ts = match suffix.len() {
        0 => None,
        TS_SUFFIX_LEN => {
            let mut wall = [0u8; 8];
            wall.copy_from_slice(&suffix[..8]);
            let mut logical = [0u8; 4];
            logical.copy_from_slice(&suffix[8..]);
            Some(Timestamp {
                wall: ((!u64::from_be_bytes(wall)) ^ SIGN) as i64,
                logical: !u32::from_be_bytes(logical),
            })
        }
        n => {
            return Err(MvccError::Corrupt(format!(
                "raw key {raw:02x?}: timestamp suffix of {n} bytes, expected {TS_SUFFIX_LEN}"
            )));
        }
    };
    Ok(MvccKey { key: Key(key), ts })
}

/// The stored form of a version's value (`None` is a delete).
pub fn encode_value(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(bytes) => {
            let mut raw = Vec::with_capacity(bytes.len() + 1);
            raw.push(TAG_VALUE);
            raw.extend_from_slice(bytes);
            raw
        }
        None => vec![TAG_TOMBSTONE],
    }
}

/// Decodes a version's value; `None` is a delete.
pub fn decode_value(key: &Key, raw: &[u8]) -> Result<Option<Vec<u8>>, MvccError> {
    let bad = || MvccError::Corrupt(format!("version of key {key}: bad value {raw:02x?}"));
    match raw.split_first() {
        Some((&TAG_VALUE, bytes)) => Ok(Some(bytes.to_vec())),
        Some((&TAG_TOMBSTONE, [])) => Ok(None),
        Some((&TAG_VALUE_LOCAL, rest)) if rest.len() >= LOCAL_TS_LEN => {
            Ok(Some(rest[LOCAL_TS_LEN..].to_vec()))
        }
        Some((&TAG_TOMBSTONE_LOCAL, rest)) if rest.len() == LOCAL_TS_LEN => Ok(None),
        _ => Err(bad()),
    }
}

/// The local timestamp of a stored value written at `version_ts`: the one it carries, else
/// `version_ts` itself.
pub fn value_local_ts(
    key: &Key,
    raw: &[u8],
    version_ts: Timestamp,
) -> Result<Timestamp, MvccError> {
    match raw.split_first() {
        Some((&(TAG_VALUE_LOCAL | TAG_TOMBSTONE_LOCAL), rest)) if rest.len() >= LOCAL_TS_LEN => {
            let mut wall = [0u8; 8];
            wall.copy_from_slice(&rest[..8]);
            let mut logical = [0u8; 4];
            logical.copy_from_slice(&rest[8..LOCAL_TS_LEN]);
            Ok(Timestamp {
                wall: i64::from_be_bytes(wall),
                logical: u32::from_be_bytes(logical),
            })
        }
        Some((&(TAG_VALUE | TAG_TOMBSTONE), _)) => Ok(version_ts),
        _ => Err(MvccError::Corrupt(format!(
            "version of key {key}: bad value {raw:02x?}"
        ))),
    }
}

/// `raw`, a stored value first written at `written_ts`, re-tagged to carry its local timestamp
/// before it moves to a later version timestamp. A value that already carries one keeps it.
pub fn with_local_ts(key: &Key, raw: &[u8], written_ts: Timestamp) -> Result<Vec<u8>, MvccError> {
    let local = value_local_ts(key, raw, written_ts)?;
    let value = decode_value(key, raw)?;
    let mut out = Vec::with_capacity(raw.len() + LOCAL_TS_LEN);
    out.push(if value.is_some() {
        TAG_VALUE_LOCAL
    } else {
        TAG_TOMBSTONE_LOCAL
    });
    out.extend_from_slice(&local.wall.to_be_bytes());
    out.extend_from_slice(&local.logical.to_be_bytes());
    if let Some(bytes) = value {
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

/// The stored form of an intent record.
pub fn encode_meta(meta: &TxnMeta) -> Result<Vec<u8>, MvccError> {
    postcard::to_allocvec(meta)
        .map_err(|e| MvccError::Corrupt(format!("encoding intent of txn {}: {e}", meta.id)))
}

/// Decodes an intent record.
pub fn decode_meta(key: &Key, raw: &[u8]) -> Result<TxnMeta, MvccError> {
    postcard::from_bytes(raw)
        .map_err(|e| MvccError::Corrupt(format!("intent record of key {key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts() -> impl Strategy<Value = Timestamp> {
        (any::<i64>(), any::<u32>()).prop_map(|(wall, logical)| Timestamp { wall, logical })
    }

    #[test]
    fn local_timestamps_survive_moves() {
        let k = Key::from("k");
        let at = Timestamp {
            wall: 7,
            logical: 2,
        };
        let plain = encode_value(Some(b"v"));
        assert_eq!(value_local_ts(&k, &plain, at).unwrap(), at);
        let moved = with_local_ts(&k, &plain, at).unwrap();
        assert_eq!(
            decode_value(&k, &moved).unwrap().as_deref(),
            Some(&b"v"[..])
        );
        assert_eq!(
            value_local_ts(
                &k,
                &moved,
                Timestamp {
                    wall: 9,
                    logical: 0
                }
            )
            .unwrap(),
            at
        );
        // Moving again keeps the first local timestamp.
        let again = with_local_ts(
            &k,
            &moved,
            Timestamp {
                wall: 9,
                logical: 0,
            },
        )
        .unwrap();
        assert_eq!(
            value_local_ts(
                &k,
                &again,
                Timestamp {
                    wall: 12,
                    logical: 0
                }
            )
            .unwrap(),
            at
        );
        let tomb = with_local_ts(&k, &encode_value(None), at).unwrap();
        assert_eq!(decode_value(&k, &tomb).unwrap(), None);
        assert_eq!(
            value_local_ts(
                &k,
                &tomb,
                Timestamp {
                    wall: 9,
                    logical: 0
                }
            )
            .unwrap(),
            at
        );
        assert!(decode_value(&k, &[TAG_VALUE_LOCAL, 1, 2]).is_err());
    }

    #[test]
    fn intent_record_sorts_before_versions() {
        let meta = meta_key(b"a");
        assert!(meta < version_key(b"a", Timestamp::MAX));
        assert!(version_key(b"a", Timestamp::ZERO) < key_end(b"a"));
        assert!(key_end(b"a") <= meta_key(b"a\x00"));
    }

    #[test]
    fn values_keep_empty_and_delete_apart() {
        let k = Key::from("k");
        assert_eq!(
            decode_value(&k, &encode_value(Some(b""))).unwrap(),
            Some(vec![])
        );
        assert_eq!(decode_value(&k, &encode_value(None)).unwrap(), None);
        assert!(decode_value(&k, &[]).is_err());
        assert!(decode_value(&k, &[TAG_TOMBSTONE, 1]).is_err());
    }

    #[test]
    fn bad_suffix_is_corruption() {
        let mut raw = meta_key(b"a");
        raw.push(7);
        assert!(matches!(decode_key(&raw), Err(MvccError::Corrupt(_))));
    }

    proptest! {
        #[test]
        fn versions_order_by_key_then_newest_first(
            k1 in proptest::collection::vec(any::<u8>(), 0..8),
            k2 in proptest::collection::vec(any::<u8>(), 0..8),
            t1 in ts(),
            t2 in ts(),
        ) {
            let expected = k1.cmp(&k2).then(t2.cmp(&t1));
            prop_assert_eq!(version_key(&k1, t1).cmp(&version_key(&k2, t2)), expected);
            // The intent record of a key sorts before all its versions and after every record
            // of smaller keys.
            prop_assert!(meta_key(&k1) < version_key(&k1, t1));
            if k1 < k2 {
                prop_assert!(version_key(&k1, t1) < meta_key(&k2));
                prop_assert!(key_end(&k1) <= meta_key(&k2));
            }
        }

        #[test]
        fn keys_round_trip(k in proptest::collection::vec(any::<u8>(), 0..16), t in ts()) {
            let decoded = decode_key(&version_key(&k, t)).unwrap();
            prop_assert_eq!(decoded, MvccKey { key: Key(k.clone()), ts: Some(t) });
            prop_assert_eq!(decode_key(&meta_key(&k)).unwrap(), MvccKey { key: Key(k), ts: None });
        }
    }
}
