//! The global key space.
//!
//! ```text
//! 0x01 'k' <anchor, bytes-encoded> <suffix>   range-local keys: live on the range holding <anchor>
//!                                              (transaction records)
//! 0x02 <end key>                               meta records: the descriptor of the range ending there
//! 0x04 <name>                                  system records: node descriptors, liveness,
//!                                              id generators, settings, zone configs
//! 0x88.. /Table/<id>/<index>/<pk…>             table data, uvarint table and index ids
//! 0xff 0xff                                    KEY_MAX, above every key
//! ```
//!
//! Range 1, the meta range, spans `[KEY_MIN, TABLE_DATA_MIN)`: all meta and system records live
//! there and it is never split, so a node that knows where range 1 is can find every other range
//! by one meta lookup ([`meta_lookup_start`]). Table data starts at [`TABLE_DATA_MIN`]; each table
//! begins a new range ([`table_prefix`]).

use crate::encoding;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A key: an opaque byte string ordered bytewise.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(pub Vec<u8>);

impl Key {
    /// The smallest key.
    pub const MIN: Key = Key(Vec::new());

    /// The key above every key.
    pub fn max() -> Key {
        Key(KEY_MAX.to_vec())
    }

    /// The bytes of the key.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The smallest key greater than `self` (`self` followed by `0x00`).
    pub fn next(&self) -> Key {
        let mut v = self.0.clone();
        v.push(0);
        Key(v)
    }

    /// True when the key is range-local (addressed by an anchor key, see [`addr`]).
    pub fn is_local(&self) -> bool {
        self.0.first() == Some(&LOCAL_PREFIX)
    }
}

impl From<&[u8]> for Key {
    fn from(v: &[u8]) -> Key {
        Key(v.to_vec())
    }
}

impl From<Vec<u8>> for Key {
    fn from(v: Vec<u8>) -> Key {
        Key(v)
    }
}

impl From<&str> for Key {
    fn from(v: &str) -> Key {
        Key(v.as_bytes().to_vec())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A readable rendering: `/Min`, `/Max`, `/Meta/…`, `/System/…`, `/Table/52/1/…`, `/Local/…`.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        if b.is_empty() {
            return write!(f, "/Min");
        }
        if b.as_slice() == KEY_MAX {
            return write!(f, "/Max");
        }
        match b[0] {
            LOCAL_PREFIX => write!(f, "/Local/{}", escape(&b[1..])),
            META_PREFIX => write!(f, "/Meta{}", Key(b[1..].to_vec())),
            SYSTEM_PREFIX => write!(f, "/System/{}", escape(&b[1..])),
            _ if b.as_slice() >= TABLE_DATA_MIN => fmt_table_key(f, b),
            _ => write!(f, "/{}", escape(b)),
        }
    }
}

fn fmt_table_key(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    let Ok((table, rest)) = encoding::decode_uvarint(b) else {
        return write!(f, "/{}", escape(b));
    };
    write!(f, "/Table/{table}")?;
    let mut rest = rest;
    if let Ok((index, r)) = encoding::decode_uvarint(rest) {
        write!(f, "/{index}")?;
        rest = r;
    }
    while !rest.is_empty() {
        if let Ok((v, r)) = encoding::decode_varint(rest) {
            write!(f, "/{v}")?;
            rest = r;
        } else if let Ok((v, r)) = encoding::decode_bytes(rest) {
            write!(f, "/\"{}\"", escape(&v))?;
            rest = r;
        } else {
            return write!(f, "/{}", escape(rest));
        }
    }
    Ok(())
}

fn escape(b: &[u8]) -> String {
    b.iter()
        .flat_map(|&c| {
            if c.is_ascii_graphic() && c != b'\\' {
                vec![c as char]
            } else {
                format!("\\x{c:02x}").chars().collect()
            }
        })
        .collect()
}

/// `[start, end)`; an empty `end` means the single key `start`.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Span {
    /// Inclusive start.
    pub start: Key,
    /// Exclusive end.
    pub end: Key,
}

impl Span {
    /// The span `[start, end)`.
    pub fn new(start: impl Into<Key>, end: impl Into<Key>) -> Span {
        Span {
            start: start.into(),
            end: end.into(),
        }
    }

    /// The span of every key with the given prefix.
    pub fn prefix(prefix: &[u8]) -> Span {
        let end = encoding::prefix_end(prefix).unwrap_or_else(|| KEY_MAX.to_vec());
        Span::new(prefix.to_vec(), end)
    }

    /// True when `key` lies in the span.
    pub fn contains_key(&self, key: &Key) -> bool {
        *key >= self.start && *key < self.end
    }

    /// True when `other` lies entirely within `self`.
    pub fn contains(&self, other: &Span) -> bool {
        other.start >= self.start && other.end <= self.end
    }

    /// The overlap of two spans, if not empty.
    pub fn intersect(&self, other: &Span) -> Option<Span> {
        let start = self.start.clone().max(other.start.clone());
        let end = self.end.clone().min(other.end.clone());
        (start < end).then_some(Span { start, end })
    }

    /// True when the span contains no key.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// First byte of range-local keys.
pub const LOCAL_PREFIX: u8 = 0x01;
/// First byte of meta records.
pub const META_PREFIX: u8 = 0x02;
/// First byte of system records.
pub const SYSTEM_PREFIX: u8 = 0x04;
/// The first key of table data: `/Table/0`.
pub const TABLE_DATA_MIN: &[u8] = &[0x88];
/// The key above every key.
pub const KEY_MAX: &[u8] = &[0xff, 0xff];
/// The end of the meta range (range 1).
pub const META_RANGE_END: &[u8] = TABLE_DATA_MIN;

/// The meta record key of the range whose end key is `end`.
pub fn meta_key(end: &Key) -> Key {
    let mut v = Vec::with_capacity(end.0.len() + 1);
    v.push(META_PREFIX);
    v.extend_from_slice(&end.0);
    Key(v)
}

/// Where to start scanning meta records to find the range containing `key`: the first meta
/// record at or after this key describes it (its end key is the smallest one above `key`).
pub fn meta_lookup_start(key: &Key) -> Key {
    meta_key(&key.next())
}

/// The span of all meta records.
pub fn meta_span() -> Span {
    Span::prefix(&[META_PREFIX])
}

/// A system record key: `0x04 <name>`.
pub fn system_key(name: &str) -> Key {
    let mut v = vec![SYSTEM_PREFIX];
    v.extend_from_slice(name.as_bytes());
    Key(v)
}

/// A range-local key anchored at `anchor` with a suffix (e.g. a transaction record).
pub fn range_local_key(anchor: &Key, suffix: &[u8]) -> Key {
    let mut v = vec![LOCAL_PREFIX, b'k'];
    encoding::encode_bytes(&mut v, &anchor.0);
    v.extend_from_slice(suffix);
    Key(v)
}

/// The key that decides which range holds `key`: itself, or the anchor of a range-local key.
pub fn addr(key: &Key) -> Key {
    if key.0.len() > 2
        && key.0[0] == LOCAL_PREFIX
        && key.0[1] == b'k'
        && let Ok((anchor, _)) = encoding::decode_bytes(&key.0[2..])
    {
        return Key(anchor);
    }
    key.clone()
}

/// The prefix of every key of a table: `/Table/<id>`.
pub fn table_prefix(table_id: u64) -> Key {
    let mut v = Vec::new();
    encoding::encode_uvarint(&mut v, table_id);
    Key(v)
}

/// The prefix of every key of one index of a table: `/Table/<id>/<index>`.
pub fn index_prefix(table_id: u64, index_id: u64) -> Key {
    let mut v = table_prefix(table_id).0;
    encoding::encode_uvarint(&mut v, index_id);
    Key(v)
}

/// The table id of a table-data key, if it is one.
pub fn decode_table_id(key: &Key) -> Option<u64> {
    if key.0.as_slice() < TABLE_DATA_MIN || key.0.as_slice() >= KEY_MAX {
        return None;
    }
    encoding::decode_uvarint(&key.0).ok().map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_readable() {
        let mut k = index_prefix(52, 1).0;
        encoding::encode_varint(&mut k, -3);
        encoding::encode_bytes(&mut k, b"seattle");
        assert_eq!(Key(k).to_string(), "/Table/52/1/-3/\"seattle\"");
        assert_eq!(Key::MIN.to_string(), "/Min");
        assert_eq!(Key::max().to_string(), "/Max");
        assert_eq!(system_key("liveness/1").to_string(), "/System/liveness/1");
        assert_eq!(meta_key(&table_prefix(60)).to_string(), "/Meta/Table/60");
    }

    #[test]
    fn meta_lookup_finds_the_range_containing_a_key() {
        // Ranges end at /Table/60 and /Max; /Table/60 itself belongs to the second.
        let split = table_prefix(60);
        let metas = [meta_key(&split), meta_key(&Key::max())];
        let lookup = |k: &Key| metas.iter().find(|m| **m >= meta_lookup_start(k)).cloned();
        assert_eq!(lookup(&table_prefix(59)), Some(metas[0].clone()));
        assert_eq!(lookup(&split), Some(metas[1].clone()));
    }

    #[test]
    fn local_keys_address_their_anchor() {
        let anchor = table_prefix(70);
        let k = range_local_key(&anchor, b"txn-abc");
        assert!(k.is_local());
        assert_eq!(addr(&k), anchor);
        assert_eq!(addr(&anchor), anchor);
    }

    #[test]
    fn key_regions_are_ordered() {
        assert!(meta_span().end.0.as_slice() <= &[SYSTEM_PREFIX][..]);
        assert!(system_key("zzz").0.as_slice() < TABLE_DATA_MIN);
        assert_eq!(decode_table_id(&table_prefix(1000)), Some(1000));
        assert_eq!(decode_table_id(&system_key("x")), None);
    }

    #[test]
    fn span_operations() {
        let a = Span::new("a", "m");
        let b = Span::new("f", "z");
        assert_eq!(a.intersect(&b), Some(Span::new("f", "m")));
        assert!(a.contains_key(&Key::from("a")));
        assert!(!a.contains_key(&Key::from("m")));
        assert!(Span::new("c", "c").is_empty());
    }
}
