//! The cloud storage sink: NDJSON files in `s3://`, `gs://`, `azure://`, `nodelocal://` or
//! `http(s)://` storage, through `cloud::open`.
//!
//! Rows are buffered per topic, one JSON message per line. A file is written when its buffer
//! passes `file_size` (default 16 MiB) and on every [`Sink::flush`]; the writer waits for the
//! upload, which is the back-pressure. Names follow CockroachDB (§5.4) so that listing a
//! directory in lexical order is emit order:
//!
//! ```text
//! <dir>/<ts33>-<session>-<node>-<sink id>-<file id %08x>-<topic>-<schema id %x>.ndjson[.gz]
//! <dir>/<ts33>.RESOLVED
//! ```
//!
//! `ts33` is `YYYYMMDDHHMMSS` + 9 digits of nanoseconds + 10 digits of logical time; a data
//! file carries its oldest row's timestamp, a resolved file its resolved timestamp. Since
//! `-` sorts before `.`, rows at exactly the resolved time come before the `.RESOLVED` file.
//! `<dir>` is `YYYY-MM-DD` (`partition_format=daily`, the default), `YYYY-MM-DD/HH`
//! (`hourly`) or nothing (`flat`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;

use base::Timestamp;
use bytes::Bytes;
use cloud::ExternalStorage;

use super::{SinkContext, SinkError, SinkFuture, check_open, error_chain, query_params};
use crate::options::{ChangefeedOptions, Compression};

/// Default size at which a data file is written (CockroachDB's `file_size`, 16 MiB).
pub const DEFAULT_FILE_SIZE: usize = 16 << 20;
/// Parameters the sink reads and removes before the URI goes to `cloud::open`.
const SINK_PARAMS: &[&str] = &["partition_format", "file_size"];

/// Directory layout by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionFormat {
    /// `YYYY-MM-DD/`.
    Daily,
    /// `YYYY-MM-DD/HH/`.
    Hourly,
    /// No directories.
    Flat,
}

/// `ts33`: `YYYYMMDDHHMMSSNNNNNNNNNLLLLLLLLLL`.
pub fn ts33(ts: Timestamp) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ts.wall);
    format!(
        "{}{:09}{:010}",
        t.format("%Y%m%d%H%M%S"),
        t.timestamp_subsec_nanos(),
        ts.logical
    )
}

/// The directory prefix (with trailing `/`, or empty) for a timestamp.
pub fn partition_dir(format: PartitionFormat, ts: Timestamp) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(ts.wall);
    match format {
        PartitionFormat::Daily => format!("{}/", t.format("%Y-%m-%d")),
        PartitionFormat::Hourly => format!("{}/", t.format("%Y-%m-%d/%H")),
        PartitionFormat::Flat => String::new(),
    }
}

/// The parts of a data file name that do not change within one sink.
#[derive(Clone, Debug)]
pub struct FileNamer {
    /// Directory layout.
    pub format: PartitionFormat,
    /// Random per sink instance, 16 hex digits.
    pub session: String,
    /// The node that writes.
    pub node_id: u64,
    /// The sink's id within the job.
    pub sink_id: u32,
    /// `.gz` suffix.
    pub gzip: bool,
}

impl FileNamer {
    /// The name of data file `file_id` for `topic`, whose oldest row is at `ts`.
    pub fn data_file(&self, ts: Timestamp, file_id: u64, topic: &str, schema_id: u64) -> String {
        format!(
            "{}{}-{}-{}-{}-{:08x}-{}-{:x}.ndjson{}",
            partition_dir(self.format, ts),
            ts33(ts),
            self.session,
            self.node_id,
            self.sink_id,
            file_id,
            topic,
            schema_id,
            if self.gzip { ".gz" } else { "" }
        )
    }

    /// The name of the resolved file for `ts`.
    pub fn resolved_file(&self, ts: Timestamp) -> String {
        format!("{}{}.RESOLVED", partition_dir(self.format, ts), ts33(ts))
    }
}

struct TopicBuffer {
    bytes: Vec<u8>,
    oldest: Timestamp,
}

/// Messages as NDJSON files in external storage.
pub struct CloudStorageSink {
    storage: Arc<dyn ExternalStorage>,
    namer: FileNamer,
    file_size: usize,
    next_file: u64,
    buffers: BTreeMap<String, TopicBuffer>,
    closed: bool,
}

impl CloudStorageSink {
    /// Opens the storage (no request yet: a bad credential shows at the first write).
    pub fn open(
        uri: &str,
        opts: &ChangefeedOptions,
        ctx: &SinkContext,
    ) -> Result<CloudStorageSink, SinkError> {
        let params = query_params(uri);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let format = match get("partition_format") {
            None | Some("daily") => PartitionFormat::Daily,
            Some("hourly") => PartitionFormat::Hourly,
            Some("flat") => PartitionFormat::Flat,
            Some(v) => {
                return Err(SinkError::Invalid(format!(
                    "invalid partition_format {v:?}: expected daily, hourly or flat"
                )));
            }
        };
        let file_size = match get("file_size") {
            None => DEFAULT_FILE_SIZE,
            Some(v) => parse_size(v)
                .ok_or_else(|| SinkError::Invalid(format!("invalid file_size {v:?}")))?,
        };
        let storage = cloud::open(&strip_params(uri, SINK_PARAMS), &ctx.storage)
            .map_err(|e| SinkError::Invalid(error_chain(&e)))?;
        Ok(CloudStorageSink {
            storage,
            namer: FileNamer {
                format,
                session: format!("{:016x}", rand::random::<u64>()),
                node_id: ctx.storage.node_id.0,
                sink_id: ctx.sink_id,
                gzip: opts.compression == Some(Compression::Gzip),
            },
            file_size,
            next_file: 0,
            buffers: BTreeMap::new(),
            closed: false,
        })
    }

    async fn write_topic(&mut self, topic: &str) -> Result<(), SinkError> {
        let Some(buf) = self.buffers.remove(topic) else {
            return Ok(());
        };
        let name = self.namer.data_file(buf.oldest, self.next_file, topic, 1);
        self.next_file += 1;
        let body = if self.namer.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(&buf.bytes)
                .and_then(|_| enc.finish())
                .map_err(|e| SinkError::Unavailable(format!("gzip: {e}")))?
        } else {
            buf.bytes
        };
        self.storage
            .put(&name, Bytes::from(body))
            .await
            .map_err(|e| SinkError::Unavailable(error_chain(&e)))
    }

    async fn flush_all(&mut self) -> Result<(), SinkError> {
        check_open(self.closed, "cloud storage")?;
        let topics: Vec<String> = self.buffers.keys().cloned().collect();
        for t in topics {
            self.write_topic(&t).await?;
        }
        Ok(())
    }
}

impl super::Sink for CloudStorageSink {
    fn emit_row<'a>(
        &'a mut self,
        topic: &'a str,
        _key: &'a [u8],
        value: Option<&'a [u8]>,
        ts: Timestamp,
    ) -> SinkFuture<'a> {
        Box::pin(async move {
            check_open(self.closed, "cloud storage")?;
            let buf = self
                .buffers
                .entry(topic.to_string())
                .or_insert_with(|| TopicBuffer {
                    bytes: Vec::new(),
                    oldest: ts,
                });
            buf.oldest = buf.oldest.min(ts);
            buf.bytes.extend_from_slice(value.unwrap_or(b"null"));
            buf.bytes.push(b'\n');
            if buf.bytes.len() >= self.file_size {
                self.write_topic(topic).await?;
            }
            Ok(())
        })
    }

    fn flush(&mut self) -> SinkFuture<'_> {
        Box::pin(self.flush_all())
    }

    fn emit_resolved<'a>(&'a mut self, ts: Timestamp, payload: &'a [u8]) -> SinkFuture<'a> {
        Box::pin(async move {
            self.flush_all().await?;
            let name = self.namer.resolved_file(ts);
            self.storage
                .put(&name, Bytes::copy_from_slice(payload))
                .await
                .map_err(|e| SinkError::Unavailable(error_chain(&e)))
        })
    }

    fn close(&mut self) -> SinkFuture<'_> {
        Box::pin(async move {
            if self.closed {
                return Ok(());
            }
            self.flush_all().await?;
            self.closed = true;
            Ok(())
        })
    }
}

/// `16MB`, `512KiB`, `1024`: a size in bytes.
fn parse_size(v: &str) -> Option<usize> {
    let v = v.trim();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at_checked(split)?;
    let n: usize = digits.parse().ok()?;
    let mult = match unit.trim().to_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "kib" | "k" => 1 << 10,
        "mb" | "mib" | "m" => 1 << 20,
        "gb" | "gib" | "g" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult).filter(|n| *n > 0)
}

/// The URI without the named query parameters.
fn strip_params(uri: &str, names: &[&str]) -> String {
    let Some((base, q)) = uri.split_once('?') else {
        return uri.to_string();
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|kv| {
            let k = kv.split('=').next().unwrap_or("");
            !kv.is_empty() && !names.contains(&k)
        })
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_emit_order() {
        let namer = FileNamer {
            format: PartitionFormat::Daily,
            session: "56087568dba1e6b8".into(),
            node_id: 1,
            sink_id: 72,
            gzip: false,
        };
        let ts = Timestamp {
            wall: 1_585_861_087_210_714_000,
            logical: 0,
        };
        assert_eq!(
            namer.data_file(ts, 0, "test_table", 1),
            "2020-04-02/202004022058072107140000000000000-56087568dba1e6b8-1-72-00000000-\
             test_table-1.ndjson"
        );
        assert_eq!(
            namer.resolved_file(ts),
            "2020-04-02/202004022058072107140000000000000.RESOLVED"
        );
        let later = Timestamp {
            wall: ts.wall + 1,
            logical: 0,
        };
        let mut names = vec![
            namer.resolved_file(later),
            namer.data_file(later, 1, "t", 1),
            namer.resolved_file(ts),
            namer.data_file(ts, 0, "t", 1),
        ];
        names.sort();
        assert_eq!(
            names,
            vec![
                namer.data_file(ts, 0, "t", 1),
                namer.resolved_file(ts),
                namer.data_file(later, 1, "t", 1),
                namer.resolved_file(later),
            ]
        );
        let hourly = FileNamer {
            format: PartitionFormat::Hourly,
            gzip: true,
            ..namer
        };
        assert!(
            hourly
                .data_file(ts, 2, "t", 1)
                .starts_with("2020-04-02/20/")
        );
        assert!(
            hourly
                .data_file(ts, 2, "t", 1)
                .ends_with("-00000002-t-1.ndjson.gz")
        );
    }

    #[test]
    fn params() {
        assert_eq!(parse_size("16MB"), Some(16 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(
            strip_params(
                "s3://b/p?AWS_ENDPOINT=x&file_size=1&partition_format=flat",
                SINK_PARAMS
            ),
            "s3://b/p?AWS_ENDPOINT=x"
        );
        assert_eq!(
            strip_params("nodelocal://1/p?file_size=1", SINK_PARAMS),
            "nodelocal://1/p"
        );
    }
}
