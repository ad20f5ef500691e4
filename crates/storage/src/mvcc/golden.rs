//! Goldenscript tests: `src/testdata/mvcc` drives the MVCC functions on a [`MemoryEngine`].
//!
//! Keys and values are strings; timestamps are `wall` or `wall.logical`; transactions are named
//! and defined by `txn`. Write commands print the raw records they write, decoded.
//!
//! - `txn NAME ts=T [epoch=E]`: defines a transaction, or moves its write timestamp and epoch.
//! - `put KEY VALUE [ts=T] [txn=NAME]`, `del KEY [ts=T] [txn=NAME]`: [`mvcc_put`].
//! - `get KEY ts=T [txn=NAME]`: [`mvcc_get`].
//! - `scan START END ts=T [txn=NAME] [max=N] [reverse=true]`: [`mvcc_scan`].
//! - `resolve KEY txn=NAME status=committed|aborted|pending [ts=T]`: [`mvcc_resolve_intent`],
//!   at the transaction's write timestamp unless `ts` is given.
//! - `resolve_span START END txn=NAME status=S [ts=T]`: [`mvcc_resolve_span`].
//! - `intents START END [limit=N]`: [`mvcc_find_intents`] and [`mvcc_min_intent_ts`].
//! - `export START END from=T to=T [all=true] [target=N]`: [`mvcc_export`].
//! - `changes START END from=T to=T`: [`mvcc_changes`].
//! - `stats START END`: [`mvcc_stats`]. `clear START END`: [`mvcc_clear_span`].
//! - `dump`: every raw record of `Cf::Data`, decoded.
//!
//! Regenerate with `UPDATE_GOLDENFILES=1 cargo test -p sextant-storage` and review the diff.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;

use base::{Key, Span, Timestamp};
use goldenscript::{ArgumentConsumer, Command};

use super::key::{self, MvccKey};
use super::*;
use crate::engine::{Cf, Durability, Engine, Reader, WriteBatch, WriteOp};
use crate::memory::MemoryEngine;

type Res<T> = Result<T, Box<dyn Error>>;

#[derive(Default)]
struct MvccRunner {
    engine: MemoryEngine,
    txns: BTreeMap<String, TxnMeta>,
}

impl base::testing::GoldenRunner for MvccRunner {
    fn run(&mut self, command: &Command) -> Res<String> {
        let mut args = command.consume_args();
        let out = match command.name.as_str() {
            "txn" => self.define_txn(&mut args)?,
            "put" | "del" => self.put(&mut args, command.name == "del")?,
            "get" => self.get(&mut args)?,
            "scan" => self.scan(&mut args)?,
            "resolve" => self.resolve(&mut args, false)?,
            "resolve_span" => self.resolve(&mut args, true)?,
            "intents" => self.intents(&mut args)?,
            "export" => self.export(&mut args)?,
            "changes" => self.changes(&mut args)?,
            "stats" => {
                let s = mvcc_stats(&self.engine, &span_arg(&mut args)?).map_err(|e| self.err(e))?;
                format!(
                    "keys={} live={} live_bytes={} total_bytes={} intents={}\n",
                    s.key_count, s.live_count, s.live_bytes, s.total_bytes, s.intent_count
                )
            }
            "clear" => {
                let span = span_arg(&mut args)?;
                self.write(|r, b| mvcc_clear_span(r, b, &span).map(|_| ()))?
            }
            "dump" => self.dump()?,
            name => return Err(format!("unknown command {name}").into()),
        };
        args.reject_next()?;
        Ok(out)
    }
}

impl MvccRunner {
    fn define_txn(&mut self, args: &mut ArgumentConsumer) -> Res<String> {
        let name = args.next_pos().ok_or("txn name not given")?.to_string();
        let write_ts = ts_arg(args, "ts")?.ok_or("ts not given")?;
        let epoch = args.take_key("epoch").map(str::parse).transpose()?;
        let n = self.txns.len() as u128 + 1;
        let txn = self.txns.entry(name.clone()).or_insert_with(|| TxnMeta {
            id: uuid::Uuid::from_u128(n),
            anchor: Key::from(format!("txn-{name}").as_str()),
            epoch: 0,
            write_ts,
            min_ts: write_ts,
            priority: 1,
        });
        txn.write_ts = write_ts;
        txn.epoch = epoch.unwrap_or(txn.epoch);
        Ok(format!(
            "{name}: epoch={} ts={}\n",
            txn.epoch,
            fmt_ts(txn.write_ts)
        ))
    }

    fn txn_arg(&self, args: &mut ArgumentConsumer) -> Res<Option<TxnMeta>> {
        let Some(name) = args.take_key("txn") else {
            return Ok(None);
        };
        Ok(Some(
            self.txns
                .get(name)
                .cloned()
                .ok_or_else(|| format!("unknown txn {name}"))?,
        ))
    }

    fn put(&mut self, args: &mut ArgumentConsumer, delete: bool) -> Res<String> {
        let key = Key::from(args.next_pos().ok_or("key not given")?);
        let value = if delete {
            None
        } else {
            Some(args.next_pos().ok_or("value not given")?)
        };
        let ts = ts_arg(args, "ts")?.unwrap_or_default();
        let txn = self.txn_arg(args)?;
        self.write(|r, b| {
            mvcc_put(r, b, &key, ts, value.map(str::as_bytes), txn.as_ref()).map(|_| ())
        })
    }

    fn get(&self, args: &mut ArgumentConsumer) -> Res<String> {
        let key = Key::from(args.next_pos().ok_or("key not given")?);
        let ts = ts_arg(args, "ts")?.ok_or("ts not given")?;
        let txn = self.txn_arg(args)?;
        let value = mvcc_get(&self.engine, &key, ts, txn.as_ref()).map_err(|e| self.err(e))?;
        Ok(match value {
            Some(v) => format!("{} → {}\n", fmt_key(&key), fmt_value(&v)),
            None => format!("{} → none\n", fmt_key(&key)),
        })
    }

    fn scan(&self, args: &mut ArgumentConsumer) -> Res<String> {
        let span = span_arg(args)?;
        let ts = ts_arg(args, "ts")?.ok_or("ts not given")?;
        let txn = self.txn_arg(args)?;
        let max = args
            .take_key("max")
            .map(str::parse)
            .transpose()?
            .unwrap_or(0);
        let reverse = args
            .take_key("reverse")
            .map(str::parse)
            .transpose()?
            .unwrap_or(false);
        let res = mvcc_scan(&self.engine, &span, ts, txn.as_ref(), max, reverse)
            .map_err(|e| self.err(e))?;
        let mut out = String::new();
        for (key, value) in &res.kvs {
            writeln!(out, "{} → {}", fmt_key(key), fmt_value(value))?;
        }
        if let Some(resume) = res.resume {
            writeln!(
                out,
                "resume: [{}, {})",
                fmt_key(&resume.start),
                fmt_key(&resume.end)
            )?;
        }
        if out.is_empty() {
            out.push_str("no keys\n");
        }
        Ok(out)
    }

    fn resolve(&mut self, args: &mut ArgumentConsumer, span: bool) -> Res<String> {
        let span = if span {
            span_arg(args)?
        } else {
            Span::new(Key::from(args.next_pos().ok_or("key not given")?), Key::MIN)
        };
        let txn = self.txn_arg(args)?.ok_or("txn not given")?;
        let status = match args.take_key("status").ok_or("status not given")? {
            "committed" => TxnStatus::Committed,
            "aborted" => TxnStatus::Aborted,
            "pending" => TxnStatus::Pending,
            s => return Err(format!("unknown status {s}").into()),
        };
        let ts = ts_arg(args, "ts")?.unwrap_or(txn.write_ts);
        self.write(|r, b| {
            if span.end.0.is_empty() {
                mvcc_resolve_intent(r, b, &span.start, txn.id, status, ts).map(|_| ())
            } else {
                mvcc_resolve_span(r, b, &span, txn.id, status, ts).map(|_| ())
            }
        })
    }

    fn intents(&self, args: &mut ArgumentConsumer) -> Res<String> {
        let span = span_arg(args)?;
        let limit = args
            .take_key("limit")
            .map(str::parse)
            .transpose()?
            .unwrap_or(0);
        let intents = mvcc_find_intents(&self.engine, &span, limit).map_err(|e| self.err(e))?;
        let min = mvcc_min_intent_ts(&self.engine, &span).map_err(|e| self.err(e))?;
        let mut out = String::new();
        for intent in &intents {
            writeln!(out, "{}", self.fmt_intent(intent))?;
        }
        writeln!(out, "min intent ts: {}", min.map_or("none".into(), fmt_ts))?;
        Ok(out)
    }

    fn export(&self, args: &mut ArgumentConsumer) -> Res<String> {
        let span = span_arg(args)?;
        let from = ts_arg(args, "from")?.unwrap_or_default();
        let to = ts_arg(args, "to")?.ok_or("to not given")?;
        let all = args
            .take_key("all")
            .map(str::parse)
            .transpose()?
            .unwrap_or(false);
        let target = args
            .take_key("target")
            .map(str::parse)
            .transpose()?
            .unwrap_or(0);
        let export =
            mvcc_export(&self.engine, &span, from, to, all, target).map_err(|e| self.err(e))?;
        let mut out = fmt_entries(&export.entries);
        if let Some(resume) = export.resume {
            writeln!(out, "resume: {}", fmt_key(&resume))?;
        }
        Ok(out)
    }

    fn changes(&self, args: &mut ArgumentConsumer) -> Res<String> {
        let span = span_arg(args)?;
        let from = ts_arg(args, "from")?.unwrap_or_default();
        let to = ts_arg(args, "to")?.ok_or("to not given")?;
        let changes = mvcc_changes(&self.engine, &span, from, to).map_err(|e| self.err(e))?;
        Ok(fmt_entries(&changes))
    }

    /// Evaluates `f` into a batch, applies it, and prints the records written.
    fn write(
        &self,
        f: impl FnOnce(&dyn Reader, &mut WriteBatch) -> Result<(), MvccError>,
    ) -> Res<String> {
        let mut batch = WriteBatch::new();
        f(&self.engine, &mut batch).map_err(|e| self.err(e))?;
        let mut out = String::new();
        for op in &batch.ops {
            match op {
                WriteOp::Put(_, k, v) => writeln!(out, "set {}", self.fmt_record(k, v)?)?,
                WriteOp::Delete(_, k) => {
                    writeln!(out, "del {}", fmt_raw_key(&key::decode_key(k)?))?
                }
            }
        }
        if out.is_empty() {
            out.push_str("no writes\n");
        }
        self.engine.write(batch, Durability::Sync)?;
        Ok(out)
    }

    fn dump(&self) -> Res<String> {
        let mut out = String::new();
        for kv in self.engine.scan(Cf::Data, &[], &[], false) {
            let (k, v) = kv?;
            writeln!(out, "{}", self.fmt_record(&k, &v)?)?;
        }
        if out.is_empty() {
            out.push_str("empty\n");
        }
        Ok(out)
    }

    fn fmt_record(&self, raw_key: &[u8], raw_value: &[u8]) -> Res<String> {
        let decoded = key::decode_key(raw_key)?;
        Ok(match decoded.ts {
            None => {
                let meta = key::decode_meta(&decoded.key, raw_value)?;
                format!("{} = intent {}", fmt_raw_key(&decoded), self.fmt_txn(&meta))
            }
            Some(_) => match key::decode_value(&decoded.key, raw_value)? {
                Some(v) => format!(
                    "{} = {}",
                    fmt_raw_key(&decoded),
                    String::from_utf8_lossy(&v)
                ),
                None => format!("{} = <tombstone>", fmt_raw_key(&decoded)),
            },
        })
    }

    fn txn_name(&self, id: uuid::Uuid) -> String {
        let name = self
            .txns
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(name, _)| name.clone());
        name.unwrap_or_else(|| id.to_string())
    }

    fn fmt_txn(&self, txn: &TxnMeta) -> String {
        format!(
            "{} epoch={} ts={}",
            self.txn_name(txn.id),
            txn.epoch,
            fmt_ts(txn.write_ts)
        )
    }

    fn fmt_intent(&self, intent: &Intent) -> String {
        format!("{}: {}", fmt_key(&intent.key), self.fmt_txn(&intent.txn))
    }

    /// Errors with keys, timestamps and transaction names as the scripts write them.
    fn err(&self, e: MvccError) -> Box<dyn Error> {
        let msg = match e {
            MvccError::WriteIntent { intents } => {
                let list: Vec<String> = intents.iter().map(|i| self.fmt_intent(i)).collect();
                format!("conflicting intents: {}", list.join(", "))
            }
            MvccError::WriteTooOld { key, existing_ts } => format!(
                "write too old: {} has a committed version at {}",
                fmt_key(&key),
                fmt_ts(existing_ts)
            ),
            MvccError::CommitBelowIntent {
                key,
                intent_ts,
                commit_ts,
            } => format!(
                "cannot commit {} at {} below its intent at {}",
                fmt_key(&key),
                fmt_ts(commit_ts),
                fmt_ts(intent_ts)
            ),
            e => e.to_string(),
        };
        msg.into()
    }
}

fn ts_arg(args: &mut ArgumentConsumer, name: &str) -> Res<Option<Timestamp>> {
    Ok(args.take_key(name).map(str::parse).transpose()?)
}

fn span_arg(args: &mut ArgumentConsumer) -> Res<Span> {
    let start = args.next_pos().ok_or("start key not given")?;
    let end = args.next_pos().ok_or("end key not given")?;
    Ok(Span::new(start, end))
}

fn fmt_ts(ts: Timestamp) -> String {
    if ts.logical == 0 {
        ts.wall.to_string()
    } else {
        format!("{}.{}", ts.wall, ts.logical)
    }
}

/// A key as written in the scripts, with bytes other than printable ASCII escaped.
fn fmt_key(key: &Key) -> String {
    key.0
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

fn fmt_raw_key(k: &MvccKey) -> String {
    match k.ts {
        Some(ts) => format!("{}@{}", fmt_key(&k.key), fmt_ts(ts)),
        None => fmt_key(&k.key),
    }
}

fn fmt_value(v: &Value) -> String {
    format!("{} @{}", String::from_utf8_lossy(&v.bytes), fmt_ts(v.ts))
}

fn fmt_entries(entries: &[ExportEntry]) -> String {
    if entries.is_empty() {
        return "no entries\n".into();
    }
    entries
        .iter()
        .map(|e| {
            let value = e
                .value
                .as_ref()
                .map_or("<tombstone>".into(), |v| String::from_utf8_lossy(v));
            format!("{}@{} = {value}\n", fmt_key(&e.key), fmt_ts(e.ts))
        })
        .collect()
}

base::goldenscripts! {
    runner: MvccRunner::default(),
    dir: "src/testdata",
    scripts: [mvcc_goldenscript = "mvcc"],
}
