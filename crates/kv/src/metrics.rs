//! Read metrics: how many bytes of read responses this node's replicas served, and to whom.
//!
//! [`crate::store::Store::send`] records every successful read-only batch (leaseholder reads
//! and follower reads alike) against the batch's `Header.gateway`, the node that sent it.
//! Bytes are the keys and values a response carries (an exported version adds its
//! timestamp), split by the key space of the request: **table data** (keys at or above
//! `TABLE_DATA_MIN`, what BACKUP exports and SQL scans) and **system** (meta records,
//! descriptors, namespace, zones, job records, liveness: everything in range 1).
//!
//! Counters are kept per gateway node, so the question "which region served the reads of a
//! job pinned to region X" needs no extra bookkeeping: [`crate::KvNode::read_metrics`] splits
//! them by whether the gateway is in the same region as this node ([`same_region`]), using
//! the node directory's localities.

use crate::api::{BatchRequest, BatchResponse, Response};
use base::NodeId;
use base::keys::{self, TABLE_DATA_MIN};
use locality::Locality;
use parking_lot::Mutex;
use std::collections::BTreeMap;

/// Bytes of read responses, by key space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadBytes {
    /// Table data (keys at or above `TABLE_DATA_MIN`).
    pub table_data: u64,
    /// Meta and system records (range 1): descriptors, namespace, jobs, liveness, ...
    pub system: u64,
}

impl ReadBytes {
    /// Both key spaces together.
    pub fn total(&self) -> u64 {
        self.table_data + self.system
    }

    fn add(&mut self, other: ReadBytes) {
        self.table_data += other.table_data;
        self.system += other.system;
    }
}

/// The read counters of one store, per gateway node.
#[derive(Debug, Default)]
pub struct ReadMetrics {
    by_gateway: Mutex<BTreeMap<NodeId, ReadBytes>>,
}

impl ReadMetrics {
    /// Counts a served read-only batch against its gateway.
    pub fn record(&self, read: &ReadSource, resp: &BatchResponse) {
        let bytes = read.bytes(resp);
        if bytes.total() > 0 {
            self.by_gateway
                .lock()
                .entry(read.gateway)
                .or_default()
                .add(bytes);
        }
    }

    /// The counters so far, per gateway.
    pub fn by_gateway(&self) -> BTreeMap<NodeId, ReadBytes> {
        self.by_gateway.lock().clone()
    }
}

/// A node's read counters, split by the gateway's region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadMetricsSnapshot {
    /// Served to gateways in this node's region (including itself).
    pub same_region: ReadBytes,
    /// Served to gateways in other regions.
    pub cross_region: ReadBytes,
    /// Per gateway node.
    pub by_gateway: BTreeMap<NodeId, ReadBytes>,
}

impl ReadMetricsSnapshot {
    /// Splits per-gateway counters of a node at `own` by the gateway's region.
    pub fn split(
        own: &Locality,
        by_gateway: BTreeMap<NodeId, ReadBytes>,
        locality_of: impl Fn(NodeId) -> Locality,
    ) -> ReadMetricsSnapshot {
        let mut s = ReadMetricsSnapshot::default();
        for (&gateway, &bytes) in &by_gateway {
            if same_region(own, &locality_of(gateway)) {
                s.same_region.add(bytes);
            } else {
                s.cross_region.add(bytes);
            }
        }
        s.by_gateway = by_gateway;
        s
    }
}

/// True when two localities share their `region` tier; localities without one compare whole.
pub fn same_region(a: &Locality, b: &Locality) -> bool {
    match (a.region(), b.region()) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a == b,
        _ => false,
    }
}

/// What the counters need of a read-only batch, taken before the batch is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadSource {
    /// The node that sent the batch.
    pub gateway: NodeId,
    /// Per request: true when it reads table data.
    pub table_data: Vec<bool>,
}

impl ReadSource {
    /// `None` unless every request of the batch only reads.
    pub fn of(ba: &BatchRequest) -> Option<ReadSource> {
        ba.is_read_only().then(|| ReadSource {
            gateway: ba.header.gateway,
            table_data: ba
                .requests
                .iter()
                .map(|r| keys::addr(&r.span().start).0.as_slice() >= TABLE_DATA_MIN)
                .collect(),
        })
    }

    /// The bytes the responses carry, by the key space of each request.
    pub fn bytes(&self, resp: &BatchResponse) -> ReadBytes {
        let mut out = ReadBytes::default();
        for (&data, r) in self.table_data.iter().zip(&resp.responses) {
            let n = response_bytes(r);
            if data {
                out.table_data += n;
            } else {
                out.system += n;
            }
        }
        out
    }
}

/// Keys and values in a response (versions also count their timestamp).
pub fn response_bytes(r: &Response) -> u64 {
    let n = match r {
        Response::Get(Some(kv)) => kv.key.0.len() + kv.value.len(),
        Response::Scan { rows, .. } => rows.iter().map(|kv| kv.key.0.len() + kv.value.len()).sum(),
        Response::Export { entries, .. } => entries.iter().map(|e| e.size_bytes()).sum(),
        Response::Get(None)
        | Response::Ok
        | Response::Increment(_)
        | Response::Txn(_)
        | Response::Stats(_) => 0,
    };
    n as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Header, KeyValue, Request};
    use base::{Key, Span, Timestamp};

    fn loc(s: &str) -> Locality {
        Locality::parse(s).unwrap()
    }

    #[test]
    fn regions_compare_by_region_tier() {
        assert!(same_region(
            &loc("region=a,zone=1"),
            &loc("region=a,zone=2")
        ));
        assert!(!same_region(&loc("region=a"), &loc("region=b,zone=1")));
        assert!(!same_region(&loc("region=a"), &loc("zone=1")));
        assert!(same_region(&loc("zone=1"), &loc("zone=1")));
    }

    #[test]
    fn bytes_split_by_key_space_and_gateway_region() {
        let table = keys::table_prefix(104);
        let sys = keys::system_key("desc/104");
        let ba = |gateway: u64| BatchRequest {
            header: Header {
                gateway: NodeId(gateway),
                ..Header::default()
            },
            requests: vec![
                Request::Scan {
                    span: Span::prefix(&table.0),
                    max_keys: 0,
                    reverse: false,
                },
                Request::Get { key: sys.clone() },
            ],
        };
        let row = |k: &Key| KeyValue {
            key: k.clone(),
            value: vec![0; 10],
            ts: Timestamp::default(),
        };
        let resp = BatchResponse {
            responses: vec![
                Response::Scan {
                    rows: vec![row(&table), row(&table)],
                    resume: None,
                },
                Response::Get(Some(row(&sys))),
            ],
            ..BatchResponse::default()
        };
        let m = ReadMetrics::default();
        for gateway in [1, 2] {
            let read = ReadSource::of(&ba(gateway)).expect("read-only");
            m.record(&read, &resp);
        }
        let data = 2 * (table.0.len() as u64 + 10);
        let system = sys.0.len() as u64 + 10;
        let s = ReadMetricsSnapshot::split(&loc("region=a"), m.by_gateway(), |n| {
            if n == NodeId(1) {
                loc("region=a,zone=2")
            } else {
                loc("region=b")
            }
        });
        let one = ReadBytes {
            table_data: data,
            system,
        };
        assert_eq!(s.same_region, one);
        assert_eq!(s.cross_region, one);
        assert_eq!(s.by_gateway.len(), 2);
    }
}
