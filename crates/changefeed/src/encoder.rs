//! JSON messages, byte for byte as CockroachDB v23.1 writes them.
//!
//! A message has a key and a value. The key is a JSON array of the primary-key values in
//! primary-key order (`["seattle", "68ee1f95-…"]`). The value depends on the envelope:
//!
//! | envelope | value |
//! |---|---|
//! | `wrapped` | `{"after": {...}}`, plus `before` (`diff`), `key` (`key_in_value`), `mvcc_timestamp`, `topic` (`topic_in_value`), `updated`; a delete has `"after": null` |
//! | `bare` | the columns at top level plus `"__crdb__": {"key", "topic", "updated", ...}` when any of those is asked for |
//! | `key_only` | none |
//! | `row` | the columns only; a delete has no value |
//!
//! Objects print their keys sorted, with `", "` and `": "` between items, as CockroachDB's
//! JSON type prints them; resolved messages are compact (`{"resolved":"<ts>"}`), because
//! CockroachDB marshals those with Go's `encoding/json`. Timestamps are decimal HLC strings
//! ([`format_hlc`]).
//!
//! Values follow CockroachDB's `tree.AsJSON`: integers, floats and decimals are numbers (a
//! decimal keeps its scale: `65.00`), strings, enums, UUIDs, dates and intervals are strings,
//! `TIMESTAMP` is `2019-01-02T03:04:05` and `TIMESTAMPTZ` `2019-01-02T03:04:05Z`, bytes are
//! `"\\x…"` hex, JSONB is embedded, arrays are arrays.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base::Timestamp;
use sql::Datum;

use crate::options::{ChangefeedOptions, Envelope};

/// CockroachDB's metadata field in `bare` messages.
pub const META_SENTINEL: &str = "__crdb__";

/// A timestamp as CockroachDB prints it in messages: `"<wall nanos>.<logical, 10 digits>"`.
pub fn format_hlc(ts: Timestamp) -> String {
    format!("{}.{:010}", ts.wall, ts.logical)
}

/// A JSON value that keeps numbers as written, so `65.00` stays `65.00`.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, already formatted.
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object; keys print sorted.
    Object(BTreeMap<String, Json>),
}

impl Json {
    /// The text, CockroachDB style: `{"a": 1, "b": [1, 2]}`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => write_string(out, s),
            Json::Array(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.write(out);
                }
                out.push(']');
            }
            Json::Object(m) => {
                out.push('{');
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_string(out, k);
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// From a `serde_json` value (JSONB columns), sorting object keys.
    pub fn from_serde(v: &serde_json::Value) -> Json {
        match v {
            serde_json::Value::Null => Json::Null,
            serde_json::Value::Bool(b) => Json::Bool(*b),
            serde_json::Value::Number(n) => Json::Number(n.to_string()),
            serde_json::Value::String(s) => Json::String(s.clone()),
            serde_json::Value::Array(a) => Json::Array(a.iter().map(Json::from_serde).collect()),
            serde_json::Value::Object(m) => Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Json::from_serde(v)))
                    .collect(),
            ),
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A value as CockroachDB's `tree.AsJSON` renders it.
pub fn datum_to_json(d: &Datum) -> Json {
    match d {
        Datum::Null => Json::Null,
        Datum::Bool(b) => Json::Bool(*b),
        Datum::Int(i) => Json::Number(i.to_string()),
        Datum::Float(f) if f.is_finite() => Json::Number(sql::types::format_float(*f)),
        Datum::Float(f) => Json::String(sql::types::format_float(*f)),
        Datum::Decimal(x) => Json::Number(x.to_string()),
        Datum::String(s) => Json::String(s.clone()),
        Datum::Bytes(b) => {
            let mut s = String::with_capacity(2 + b.len() * 2);
            s.push_str("\\x");
            for byte in b {
                let _ = write!(s, "{byte:02x}");
            }
            Json::String(s)
        }
        Datum::Uuid(u) => Json::String(u.to_string()),
        Datum::Date(d) => Json::String(d.format("%Y-%m-%d").to_string()),
        Datum::Timestamp(t) => Json::String(format_iso(t)),
        Datum::TimestampTz(t) => Json::String(format!("{}Z", format_iso(&t.naive_utc()))),
        Datum::Interval(_) => Json::String(d.to_string()),
        Datum::Json(j) => Json::from_serde(j),
        Datum::Array(items) => Json::Array(items.iter().map(datum_to_json).collect()),
    }
}

/// Go's `2006-01-02T15:04:05.999999999`: fractional seconds without trailing zeros.
fn format_iso(t: &chrono::NaiveDateTime) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.and_utc().timestamp_subsec_nanos();
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}", frac.trim_end_matches('0'))
}

/// A row as named columns, in table order.
pub type NamedRow = Vec<(String, Datum)>;

/// One row change to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct RowChange {
    /// The topic (table name, or as the sink names it).
    pub topic: String,
    /// The primary-key values, in primary-key order.
    pub key: Vec<Datum>,
    /// The row after the change; `None` for a delete.
    pub after: Option<NamedRow>,
    /// The row before the change (for `diff`); `None` when there was none.
    pub before: Option<NamedRow>,
    /// The commit timestamp (`updated`; the scan timestamp for initial-scan rows).
    pub updated: Timestamp,
    /// The row's MVCC timestamp (`mvcc_timestamp`).
    pub mvcc: Timestamp,
}

/// Encodes messages for one changefeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoder {
    /// The envelope.
    pub envelope: Envelope,
    /// Add `updated`.
    pub updated: bool,
    /// Add `before`.
    pub diff: bool,
    /// Add `key`.
    pub key_in_value: bool,
    /// Add `topic`.
    pub topic_in_value: bool,
    /// Add `mvcc_timestamp`.
    pub mvcc_timestamp: bool,
}

impl Encoder {
    /// The encoder for checked options (after `validate_for_sink`).
    pub fn new(o: &ChangefeedOptions) -> Encoder {
        Encoder {
            envelope: o.envelope,
            updated: o.updated,
            diff: o.diff,
            key_in_value: o.key_in_value,
            topic_in_value: o.topic_in_value,
            mvcc_timestamp: o.mvcc_timestamp,
        }
    }

    /// The key: a JSON array of the primary-key values.
    pub fn encode_key(&self, key: &[Datum]) -> Vec<u8> {
        key_json(key).to_text().into_bytes()
    }

    /// The value; `None` when the envelope has none for this change (`key_only`, a delete
    /// under `row`).
    pub fn encode_value(&self, c: &RowChange) -> Option<Vec<u8>> {
        let json = match self.envelope {
            Envelope::KeyOnly => return None,
            Envelope::Row => row_object(c.after.as_ref()?),
            Envelope::Wrapped => {
                let mut m = self.meta(c);
                m.insert(
                    "after".into(),
                    c.after.as_ref().map_or(Json::Null, row_object),
                );
                if self.diff {
                    m.insert(
                        "before".into(),
                        c.before.as_ref().map_or(Json::Null, row_object),
                    );
                }
                Json::Object(m)
            }
            Envelope::Bare => {
                let meta = self.meta(c);
                let mut m = match c.after.as_ref().map(row_object) {
                    Some(Json::Object(m)) => m,
                    _ if meta.is_empty() => return Some(b"null".to_vec()),
                    _ => BTreeMap::new(),
                };
                if !meta.is_empty() {
                    m.insert(META_SENTINEL.into(), Json::Object(meta));
                }
                Json::Object(m)
            }
        };
        Some(json.to_text().into_bytes())
    }

    /// The fields besides the row: `key`, `topic`, `updated`, `mvcc_timestamp`.
    fn meta(&self, c: &RowChange) -> BTreeMap<String, Json> {
        let mut m = BTreeMap::new();
        if self.key_in_value {
            m.insert("key".into(), key_json(&c.key));
        }
        if self.topic_in_value {
            m.insert("topic".into(), Json::String(c.topic.clone()));
        }
        if self.updated {
            m.insert("updated".into(), Json::String(format_hlc(c.updated)));
        }
        if self.mvcc_timestamp {
            m.insert("mvcc_timestamp".into(), Json::String(format_hlc(c.mvcc)));
        }
        m
    }

    /// A resolved message: `{"resolved":"<ts>"}` for `wrapped`, else
    /// `{"__crdb__":{"resolved":"<ts>"}}`.
    pub fn encode_resolved(&self, ts: Timestamp) -> Vec<u8> {
        let ts = format_hlc(ts);
        match self.envelope {
            Envelope::Wrapped => format!("{{\"resolved\":\"{ts}\"}}"),
            _ => format!("{{\"{META_SENTINEL}\":{{\"resolved\":\"{ts}\"}}}}"),
        }
        .into_bytes()
    }
}

fn key_json(key: &[Datum]) -> Json {
    Json::Array(key.iter().map(datum_to_json).collect())
}

fn row_object(row: &NamedRow) -> Json {
    Json::Object(
        row.iter()
            .map(|(name, d)| (name.clone(), datum_to_json(d)))
            .collect(),
    )
}

/// The body of one webhook request: `{"payload":[<msg>, ...],"length":N}` (Go's compact
/// marshalling around the messages as encoded).
pub fn webhook_body(messages: &[&[u8]]) -> Vec<u8> {
    let mut out = b"{\"payload\":[".to_vec();
    for (i, m) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(m);
    }
    out.extend_from_slice(format!("],\"length\":{}}}", messages.len()).as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sql::Type;
    use std::error::Error;

    /// Goldenscript commands:
    /// - `encoder [envelope=E] [updated] [diff] [key_in_value] [topic_in_value] [mvcc_timestamp]`
    ///   sets the encoder.
    /// - `row topic=T key=<cols> [after=<cols>|after=null] [before=<cols>] ts=<wall>[.<logical>]`
    ///   prints `key -> value`. `<cols>` is `name:type:value;...`, a value `NULL` for NULL.
    /// - `resolved ts=<wall>[.<logical>]` prints the resolved message.
    /// - `webhook <n>`: the webhook body of the last n row values.
    struct Runner {
        encoder: Encoder,
        values: Vec<Vec<u8>>,
    }

    fn parse_cols(s: &str) -> Result<NamedRow, Box<dyn Error>> {
        let mut row = Vec::new();
        for part in s.split(';').filter(|p| !p.is_empty()) {
            let mut it = part.splitn(3, ':');
            let (Some(name), Some(ty), Some(v)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("bad column {part:?}: want name:type:value").into());
            };
            let ty = sql::types::named_type(ty).ok_or(format!("unknown type {ty}"))?;
            let d = if v == "NULL" {
                Datum::Null
            } else {
                sql::types::parse_datum(v, &ty).map_err(|e| e.to_string())?
            };
            row.push((name.to_string(), d));
        }
        Ok(row)
    }

    fn parse_ts(s: &str) -> Result<Timestamp, Box<dyn Error>> {
        crate::options::parse_timestamp("ts", s, Timestamp::ZERO).map_err(|e| e.message.into())
    }

    fn show(b: Option<&[u8]>) -> String {
        b.map_or("<no value>".into(), |b| {
            String::from_utf8_lossy(b).into_owned()
        })
    }

    impl base::testing::GoldenRunner for Runner {
        fn run(&mut self, command: &goldenscript::Command) -> Result<String, Box<dyn Error>> {
            let mut flags = Vec::new();
            let mut kv = BTreeMap::new();
            for a in &command.args {
                match a {
                    goldenscript::Argument::Positional(v) => flags.push(v.clone()),
                    goldenscript::Argument::KeyValue(k, v) => {
                        kv.insert(k.clone(), v.clone());
                    }
                    _ => return Err("unexpected argument".into()),
                }
            }
            match command.name.as_str() {
                "encoder" => {
                    let mut written: Vec<(String, Option<String>)> =
                        flags.iter().map(|f| (f.clone(), None)).collect();
                    written.extend(kv.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
                    let o =
                        crate::options::parse_options(&written, false).map_err(|e| e.message)?;
                    self.encoder = Encoder::new(&o);
                    Ok(String::new())
                }
                "row" => {
                    let key: Vec<Datum> = parse_cols(kv.get("key").ok_or("key=")?)?
                        .into_iter()
                        .map(|(_, d)| d)
                        .collect();
                    let after = match kv.get("after").map(String::as_str) {
                        None | Some("null") => None,
                        Some(s) => Some(parse_cols(s)?),
                    };
                    let before = kv.get("before").map(|s| parse_cols(s)).transpose()?;
                    let ts = parse_ts(kv.get("ts").ok_or("ts=")?)?;
                    let change = RowChange {
                        topic: kv.get("topic").cloned().unwrap_or_default(),
                        key: key.clone(),
                        after,
                        before,
                        updated: ts,
                        mvcc: ts,
                    };
                    let k = self.encoder.encode_key(&key);
                    let v = self.encoder.encode_value(&change);
                    if let Some(v) = &v {
                        self.values.push(v.clone());
                    }
                    Ok(format!("{} -> {}\n", show(Some(&k)), show(v.as_deref())))
                }
                "resolved" => {
                    let ts = parse_ts(kv.get("ts").ok_or("ts=")?)?;
                    Ok(format!(
                        "{}\n",
                        show(Some(&self.encoder.encode_resolved(ts)))
                    ))
                }
                "webhook" => {
                    let n: usize = flags.first().ok_or("webhook <n>")?.parse()?;
                    let start = self.values.len().saturating_sub(n);
                    let msgs: Vec<&[u8]> = self.values[start..].iter().map(Vec::as_slice).collect();
                    Ok(format!("{}\n", show(Some(&webhook_body(&msgs)))))
                }
                other => Err(format!("unknown command {other}").into()),
            }
        }
    }

    base::goldenscripts! {
        runner: Runner {
            encoder: Encoder::new(&ChangefeedOptions::default()),
            values: Vec::new(),
        },
        dir: "src/testdata/encoder",
        scripts: [encoder = "messages"],
    }

    #[test]
    fn values_render_like_cockroachdb() {
        let d = |s: &str, ty: Type| sql::types::parse_datum(s, &ty).expect("datum");
        let cases = [
            (d("7", Type::Int8), "7"),
            (d("65.00", Type::decimal()), "65.00"),
            (d("1.5", Type::Float8), "1.5"),
            (d("t", Type::Bool), "true"),
            (
                d("2019-01-02 03:04:05", Type::Timestamp),
                "\"2019-01-02T03:04:05\"",
            ),
            (
                d("2019-01-02 03:04:05.5+00", Type::TimestampTz),
                "\"2019-01-02T03:04:05.5Z\"",
            ),
            (d("2019-01-02", Type::Date), "\"2019-01-02\""),
            (d("\\x6869", Type::Bytes), "\"\\\\x6869\""),
            (
                d("{\"color\": \"black\", \"brand\": \"x\"}", Type::Jsonb),
                "{\"brand\": \"x\", \"color\": \"black\"}",
            ),
            (Datum::Null, "null"),
            (Datum::String("a\"b".into()), "\"a\\\"b\""),
        ];
        for (datum, want) in cases {
            assert_eq!(datum_to_json(&datum).to_text(), want, "{datum:?}");
        }
    }
}
