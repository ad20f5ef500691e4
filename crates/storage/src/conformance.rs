//! The one conformance suite every [`Engine`] runs.
//!
//! [`run_all`] runs each check on a fresh engine from the caller's factory and stops at the
//! first failure; [`run_durability`] checks, for an engine with a store to reopen, that writes
//! survive a close and reopen. A failure is returned as a [`ConformanceFailure`] naming the
//! check, not a panic, so a caller's test can report it as it likes.
//!
//! ```text
//! conformance::run_all(|| Arc::new(MemoryEngine::new())).unwrap();
//! ```

use std::sync::Arc;

use crate::StorageError;
use crate::engine::{Cf, Durability, Engine, KeyValue, MAX_KEY_LEN, Reader, WriteBatch};

/// A conformance check that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("engine conformance check {check} failed: {message}")]
pub struct ConformanceFailure {
    /// The check's name.
    pub check: &'static str,
    /// What went wrong.
    pub message: String,
}

type CheckResult = Result<(), String>;

/// A named check run on one engine.
type Check = (&'static str, fn(&dyn Engine) -> CheckResult);

/// A scan case: start, end, and the keys expected in forward order.
type ScanCase<'a> = (&'a [u8], &'a [u8], &'a [&'a [u8]]);

/// The checks of [`run_all`], by name.
const CHECKS: &[Check] = &[
    ("get_put_delete", get_put_delete),
    ("keyspaces_are_separate", keyspaces_are_separate),
    ("scan_order_and_bounds", scan_order_and_bounds),
    (
        "batch_is_atomic_across_keyspaces",
        batch_is_atomic_across_keyspaces,
    ),
    ("batch_applies_in_order", batch_applies_in_order),
    (
        "invalid_batch_applies_nothing",
        invalid_batch_applies_nothing,
    ),
    ("snapshot_is_isolated", snapshot_is_isolated),
    ("scan_reads_one_point_in_time", scan_reads_one_point_in_time),
    ("large_values_and_many_keys", large_values_and_many_keys),
    ("sync_and_durabilities", sync_and_durabilities),
];

/// Runs every check, each on a fresh engine from `make`.
pub fn run_all(make: impl Fn() -> Arc<dyn Engine>) -> Result<(), ConformanceFailure> {
    for (check, run) in CHECKS {
        let engine = make();
        run(engine.as_ref()).map_err(|message| ConformanceFailure { check, message })?;
    }
    Ok(())
}

/// Checks that writes survive closing and reopening the store: `open` must open the same store
/// each time (the first call may create it). Every engine returned is dropped before the next
/// open.
pub fn run_durability(
    open: impl Fn() -> Result<Arc<dyn Engine>, StorageError>,
) -> Result<(), ConformanceFailure> {
    durability(&open).map_err(|message| ConformanceFailure {
        check: "durability_across_reopen",
        message,
    })
}

/// Returns early with a message when the condition is false.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Returns early when the two sides differ, showing both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (left, right) = (&$left, &$right);
        if left != right {
            return Err(format!("{}: got {:?}, expected {:?}", $what, left, right));
        }
    }};
}

fn ok<T>(r: Result<T, StorageError>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn write(engine: &dyn Engine, batch: WriteBatch) -> CheckResult {
    ok(engine.write(batch, Durability::Buffered), "write")
}

fn put(engine: &dyn Engine, cf: Cf, key: &[u8], value: &[u8]) -> CheckResult {
    let mut batch = WriteBatch::new();
    batch.put(cf, key, value);
    write(engine, batch)
}

fn get(r: &dyn Reader, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, String> {
    ok(r.get(cf, key), "get")
}

fn scan(
    r: &dyn Reader,
    cf: Cf,
    start: &[u8],
    end: &[u8],
    reverse: bool,
) -> Result<Vec<KeyValue>, String> {
    ok(r.scan(cf, start, end, reverse).collect(), "scan")
}

fn scan_keys(
    r: &dyn Reader,
    cf: Cf,
    start: &[u8],
    end: &[u8],
    reverse: bool,
) -> Result<Vec<Vec<u8>>, String> {
    Ok(scan(r, cf, start, end, reverse)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

fn keys(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|k| k.to_vec()).collect()
}

fn get_put_delete(engine: &dyn Engine) -> CheckResult {
    ensure_eq!(get(engine, Cf::Data, b"a")?, None, "get of a missing key");
    put(engine, Cf::Data, b"a", b"1")?;
    ensure_eq!(
        get(engine, Cf::Data, b"a")?,
        Some(b"1".to_vec()),
        "get after put"
    );
    put(engine, Cf::Data, b"a", b"2")?;
    ensure_eq!(
        get(engine, Cf::Data, b"a")?,
        Some(b"2".to_vec()),
        "get after overwrite"
    );
    put(engine, Cf::Data, b"empty", b"")?;
    ensure_eq!(
        get(engine, Cf::Data, b"empty")?,
        Some(vec![]),
        "an empty value is a value"
    );
    let mut batch = WriteBatch::new();
    batch.delete(Cf::Data, b"a".to_vec());
    batch.delete(Cf::Data, b"never-written".to_vec());
    write(engine, batch)?;
    ensure_eq!(get(engine, Cf::Data, b"a")?, None, "get after delete");
    ensure_eq!(get(engine, Cf::Data, b"")?, None, "get of the empty key");
    Ok(())
}

fn keyspaces_are_separate(engine: &dyn Engine) -> CheckResult {
    let mut batch = WriteBatch::new();
    for cf in Cf::ALL {
        batch.put(cf, b"k".to_vec(), cf.name());
    }
    write(engine, batch)?;
    for cf in Cf::ALL {
        ensure_eq!(
            get(engine, cf, b"k")?,
            Some(cf.name().as_bytes().to_vec()),
            cf.name()
        );
        ensure_eq!(
            scan_keys(engine, cf, b"", b"", false)?,
            keys(&[b"k"]),
            cf.name()
        );
    }
    let mut batch = WriteBatch::new();
    batch.delete(Cf::Raft, b"k".to_vec());
    write(engine, batch)?;
    ensure_eq!(get(engine, Cf::Raft, b"k")?, None, "deleted in raft");
    ensure!(
        get(engine, Cf::State, b"k")?.is_some(),
        "a delete in raft removed the state key"
    );
    Ok(())
}

fn scan_order_and_bounds(engine: &dyn Engine) -> CheckResult {
    let all: &[&[u8]] = &[
        b"\x00",
        b"a",
        b"a\x00",
        b"ab",
        b"b",
        b"ba",
        b"c",
        b"\xff\xff",
    ];
    let mut batch = WriteBatch::new();
    // Written out of order, to check that order comes from the engine.
    for k in all.iter().rev() {
        batch.put(Cf::Data, *k, *k);
    }
    batch.put(Cf::Raft, b"b+", b"other keyspace");
    write(engine, batch)?;

    let pairs = scan(engine, Cf::Data, b"", b"", false)?;
    ensure!(
        pairs.iter().all(|(k, v)| k == v),
        "values do not follow their keys: {pairs:?}"
    );
    ensure_eq!(
        pairs.into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        keys(all),
        "full scan"
    );
    let mut reversed = keys(all);
    reversed.reverse();
    ensure_eq!(
        scan_keys(engine, Cf::Data, b"", b"", true)?,
        reversed,
        "full reverse scan"
    );

    let cases: &[ScanCase] = &[
        (b"a", b"b", &[b"a", b"a\x00", b"ab"]),
        (b"a\x00", b"ba", &[b"a\x00", b"ab", b"b"]),
        (b"aa", b"bb", &[b"ab", b"b", b"ba"]),
        (b"b", b"", &[b"b", b"ba", b"c", b"\xff\xff"]),
        (b"", b"a", &[b"\x00"]),
        (b"b", b"b", &[]),
        (b"c", b"a", &[]),
        (b"d", b"\xff", &[]),
    ];
    for (start, end, expected) in cases {
        let what = format!("scan [{start:?}, {end:?})");
        ensure_eq!(
            scan_keys(engine, Cf::Data, start, end, false)?,
            keys(expected),
            what
        );
        let mut expected = keys(expected);
        expected.reverse();
        let what = format!("reverse scan [{start:?}, {end:?})");
        ensure_eq!(
            scan_keys(engine, Cf::Data, start, end, true)?,
            expected,
            what
        );
    }
    Ok(())
}

fn batch_is_atomic_across_keyspaces(engine: &dyn Engine) -> CheckResult {
    put(engine, Cf::State, b"old", b"x")?;
    let mut batch = WriteBatch::new();
    batch.put(Cf::Data, b"d", b"1");
    batch.put(Cf::Raft, b"r", b"2");
    batch.put(Cf::State, b"s", b"3");
    batch.delete(Cf::State, b"old".to_vec());
    let snapshot = engine.snapshot();
    write(engine, batch)?;
    ensure_eq!(get(engine, Cf::Data, b"d")?, Some(b"1".to_vec()), "data");
    ensure_eq!(get(engine, Cf::Raft, b"r")?, Some(b"2".to_vec()), "raft");
    ensure_eq!(get(engine, Cf::State, b"s")?, Some(b"3".to_vec()), "state");
    ensure_eq!(get(engine, Cf::State, b"old")?, None, "state delete");
    // A snapshot from before sees none of it.
    ensure_eq!(
        get(snapshot.as_ref(), Cf::Data, b"d")?,
        None,
        "snapshot data"
    );
    ensure_eq!(
        get(snapshot.as_ref(), Cf::State, b"old")?,
        Some(b"x".to_vec()),
        "snapshot state"
    );
    Ok(())
}

fn batch_applies_in_order(engine: &dyn Engine) -> CheckResult {
    let mut batch = WriteBatch::new();
    batch.put(Cf::Data, b"k", b"1");
    batch.delete(Cf::Data, b"k".to_vec());
    batch.put(Cf::Data, b"k", b"2");
    batch.put(Cf::Data, b"gone", b"1");
    batch.delete(Cf::Data, b"gone".to_vec());
    write(engine, batch)?;
    ensure_eq!(
        get(engine, Cf::Data, b"k")?,
        Some(b"2".to_vec()),
        "last put wins"
    );
    ensure_eq!(get(engine, Cf::Data, b"gone")?, None, "last delete wins");
    ensure_eq!(
        scan_keys(engine, Cf::Data, b"", b"", false)?,
        keys(&[b"k"]),
        "scan"
    );
    Ok(())
}

fn invalid_batch_applies_nothing(engine: &dyn Engine) -> CheckResult {
    let max = vec![7u8; MAX_KEY_LEN];
    put(engine, Cf::Data, &max, b"ok")?;
    ensure_eq!(
        get(engine, Cf::Data, &max)?,
        Some(b"ok".to_vec()),
        "longest key"
    );
    for bad in [Vec::new(), vec![7u8; MAX_KEY_LEN + 1]] {
        let mut batch = WriteBatch::new();
        batch.put(Cf::Data, b"valid", b"1");
        batch.put(Cf::Data, bad.clone(), b"x");
        match engine.write(batch, Durability::Sync) {
            Err(StorageError::InvalidKey { len, .. }) if len == bad.len() => {}
            other => return Err(format!("key of {} bytes: got {other:?}", bad.len())),
        }
        ensure_eq!(
            get(engine, Cf::Data, b"valid")?,
            None,
            "a failed batch applied part"
        );
    }
    Ok(())
}

fn snapshot_is_isolated(engine: &dyn Engine) -> CheckResult {
    put(engine, Cf::Data, b"a", b"1")?;
    put(engine, Cf::Data, b"c", b"1")?;
    let snapshot = engine.snapshot();
    put(engine, Cf::Data, b"a", b"2")?;
    put(engine, Cf::Data, b"b", b"2")?;
    let mut batch = WriteBatch::new();
    batch.delete(Cf::Data, b"c".to_vec());
    write(engine, batch)?;

    let snap = snapshot.as_ref();
    ensure_eq!(
        get(snap, Cf::Data, b"a")?,
        Some(b"1".to_vec()),
        "snapshot get a"
    );
    ensure_eq!(get(snap, Cf::Data, b"b")?, None, "snapshot get b");
    ensure_eq!(
        get(snap, Cf::Data, b"c")?,
        Some(b"1".to_vec()),
        "snapshot get c"
    );
    let expected = vec![
        (b"a".to_vec(), b"1".to_vec()),
        (b"c".to_vec(), b"1".to_vec()),
    ];
    ensure_eq!(
        scan(snap, Cf::Data, b"", b"", false)?,
        expected,
        "snapshot scan"
    );
    ensure_eq!(
        scan_keys(snap, Cf::Data, b"", b"", true)?,
        keys(&[b"c", b"a"]),
        "reverse"
    );
    ensure_eq!(
        scan_keys(engine, Cf::Data, b"", b"", false)?,
        keys(&[b"a", b"b"]),
        "engine"
    );
    Ok(())
}

fn scan_reads_one_point_in_time(engine: &dyn Engine) -> CheckResult {
    for k in [b"a", b"c", b"e"] {
        put(engine, Cf::Data, k, b"1")?;
    }
    let mut iter = engine.scan(Cf::Data, b"", b"", false);
    let first = ok(iter.next().transpose(), "scan")?.map(|(k, _)| k);
    ensure_eq!(first, Some(b"a".to_vec()), "first key");
    put(engine, Cf::Data, b"d", b"new")?;
    let rest: Vec<Vec<u8>> = ok(iter.collect::<Result<Vec<_>, _>>(), "scan")?
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    ensure_eq!(
        rest,
        keys(&[b"c", b"e"]),
        "rest of a scan begun before a write"
    );
    Ok(())
}

fn large_values_and_many_keys(engine: &dyn Engine) -> CheckResult {
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    put(engine, Cf::Raft, b"big", &big)?;
    ensure!(
        get(engine, Cf::Raft, b"big")? == Some(big),
        "a 1 MB value did not round-trip"
    );
    let mut batch = WriteBatch::new();
    for i in 0..2_000u32 {
        batch.put(Cf::Data, i.to_be_bytes(), i.to_le_bytes());
    }
    write(engine, batch)?;
    let pairs = scan(engine, Cf::Data, b"", b"", false)?;
    ensure_eq!(pairs.len(), 2_000, "keys scanned");
    ensure!(
        pairs.windows(2).all(|w| w[0].0 < w[1].0),
        "scan out of order"
    );
    let reverse = scan_keys(
        engine,
        Cf::Data,
        &100u32.to_be_bytes(),
        &200u32.to_be_bytes(),
        true,
    )?;
    let expected: Vec<Vec<u8>> = (100..200u32)
        .rev()
        .map(|i| i.to_be_bytes().to_vec())
        .collect();
    ensure_eq!(reverse, expected, "reverse range scan");
    Ok(())
}

fn sync_and_durabilities(engine: &dyn Engine) -> CheckResult {
    ok(
        engine.write(WriteBatch::new(), Durability::Sync),
        "empty synced batch",
    )?;
    ok(
        engine.write(WriteBatch::new(), Durability::Buffered),
        "empty buffered batch",
    )?;
    let mut batch = WriteBatch::new();
    batch.put(Cf::Raft, b"log", b"entry");
    ok(engine.write(batch, Durability::Sync), "synced write")?;
    ok(engine.sync(), "sync")?;
    ensure_eq!(
        get(engine, Cf::Raft, b"log")?,
        Some(b"entry".to_vec()),
        "synced value"
    );
    // Sizes are approximate; they need only be callable.
    for cf in Cf::ALL {
        let _ = engine.approximate_size(cf);
    }
    Ok(())
}

fn durability(open: &dyn Fn() -> Result<Arc<dyn Engine>, StorageError>) -> CheckResult {
    let reopen = || ok(open(), "open");
    {
        let engine = reopen()?;
        let mut batch = WriteBatch::new();
        batch.put(Cf::Raft, b"vote", b"term 3");
        batch.put(Cf::Data, b"d", b"synced");
        batch.put(Cf::State, b"doomed", b"x");
        ok(engine.write(batch, Durability::Sync), "synced write")?;
        let mut batch = WriteBatch::new();
        batch.put(Cf::State, b"applied", b"7");
        ok(engine.write(batch, Durability::Buffered), "buffered write")?;
        ok(engine.sync(), "sync")?;
    }
    {
        let engine = reopen()?;
        ensure_eq!(
            get(engine.as_ref(), Cf::Raft, b"vote")?,
            Some(b"term 3".to_vec()),
            "vote"
        );
        ensure_eq!(
            get(engine.as_ref(), Cf::Data, b"d")?,
            Some(b"synced".to_vec()),
            "data"
        );
        ensure_eq!(
            get(engine.as_ref(), Cf::State, b"applied")?,
            Some(b"7".to_vec()),
            "applied"
        );
        let mut batch = WriteBatch::new();
        batch.delete(Cf::State, b"doomed".to_vec());
        ok(engine.write(batch, Durability::Sync), "synced delete")?;
    }
    let engine = reopen()?;
    ensure_eq!(
        get(engine.as_ref(), Cf::State, b"doomed")?,
        None,
        "delete after reopen"
    );
    let all = scan_keys(engine.as_ref(), Cf::State, b"", b"", false)?;
    ensure_eq!(all, keys(&[b"applied"]), "state keys after reopen");
    Ok(())
}
