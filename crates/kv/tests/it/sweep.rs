//! The store's sweep of leftover data: records no range on the node covers are deleted, and
//! nothing is deleted while some data's range is not known yet.

use std::sync::Arc;
use std::time::Duration;

use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use base::{Clock, Key, NodeId, RangeDescriptor, RangeId, ReplicaDescriptor, ReplicaType, Span};
use rpc::{AddressBook, Target, TransportFilters};
use serde::Serialize;
use sextant_kv::api::{BatchRequest, Header, Request};
use sextant_kv::raft::{RaftConfig, TypeConfig};
use sextant_kv::store::{Store, StoreConfig, Sweep};
use storage::{Cf, Durability, Engine, MemoryEngine, WriteBatch};

use crate::RpcNode;

fn table_key(table: u64, suffix: &str) -> Key {
    let mut k = base::keys::table_prefix(table).0;
    base::encoding::encode_bytes(&mut k, suffix.as_bytes());
    Key(k)
}

/// Raw records of the user keys in `[start, end)`.
fn records(engine: &dyn Engine, start: Key, end: Key) -> usize {
    let (s, e) = storage::mvcc::raw_span_bounds(&Span { start, end });
    engine.scan(Cf::Data, &s, &e, false).count()
}

async fn put(store: &Store, range_id: RangeId, key: Key) {
    let ba = BatchRequest {
        header: Header {
            range_id,
            ..Default::default()
        },
        requests: vec![Request::Put {
            key,
            value: b"v".to_vec(),
        }],
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Err(e) = store.send(ba.clone()).await {
        assert!(tokio::time::Instant::now() < deadline, "put: {e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What `raft.append` carries (kv's `RaftRequest`, field for field).
#[derive(Serialize)]
struct AppendRequest {
    range: RangeId,
    to: u64,
    epoch: u64,
    body: openraft::raft::AppendEntriesRequest<TypeConfig>,
}

/// A node replays an old split of a range it no longer holds the right-hand side of: the
/// right-hand range's descriptor is forgotten, and the sweep deletes the records it left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_deletes_what_a_forgotten_split_left() {
    crate::init_tracing();
    let book = Arc::new(AddressBook::new());
    let filters = TransportFilters::new();
    let n1 = RpcNode::start(NodeId(1), &book, &filters).await;
    let n2 = RpcNode::start(NodeId(2), &book, &filters).await;
    let clock: Arc<dyn Clock> = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let cfg = StoreConfig {
        raft: RaftConfig::fast(),
        ..StoreConfig::default()
    };
    let (store, _events) = Store::open(
        NodeId(1),
        engine.clone(),
        clock,
        n1.rpc.clone(),
        &n1.registry,
        cfg,
    )
    .await
    .expect("store");
    let range_id = RangeId(10);
    let desc = RangeDescriptor {
        range_id,
        start_key: base::keys::table_prefix(200),
        end_key: base::keys::table_prefix(202),
        replicas: vec![ReplicaDescriptor {
            node_id: NodeId(1),
            replica_type: ReplicaType::Voter,
        }],
        generation: 1,
    };
    let replica = store.create_range(desc).await.expect("range");
    replica
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    for i in 0..5 {
        put(&store, range_id, table_key(200, &format!("l{i}"))).await;
        put(&store, range_id, table_key(201, &format!("r{i}"))).await;
    }
    // Records outside every range: a node's leftovers from before.
    let mut stray = WriteBatch::new();
    for (table, key) in [(150, "low"), (300, "high")] {
        let raw = storage::mvcc::key::version_key(&table_key(table, key).0, clock_now());
        stray.put(Cf::Data, raw, b"old".to_vec());
    }
    engine.write(stray, Durability::Buffered).expect("stray");
    let left_start = base::keys::table_prefix(200);
    let (right_start, end) = (base::keys::table_prefix(201), base::keys::table_prefix(202));
    let (left_records, right_records) = (
        records(engine.as_ref(), left_start.clone(), right_start.clone()),
        records(engine.as_ref(), right_start.clone(), end.clone()),
    );
    assert!(left_records >= 5 && right_records >= 5);

    // The strays go; the range's own records stay.
    assert_eq!(
        store.sweep_leftovers(1000).expect("sweep"),
        Sweep::Deleted(2)
    );
    assert_eq!(
        store.sweep_leftovers(1000).expect("sweep"),
        Sweep::Deleted(0)
    );

    // A split whose right-hand range this node does not open (the node handles the event;
    // this test does not): its persisted descriptor still covers the right-hand records.
    let (_, right) = store
        .split(range_id, &right_start, RangeId(11))
        .await
        .expect("split");
    assert_eq!(
        store.sweep_leftovers(1000).expect("sweep"),
        Sweep::Deleted(0)
    );
    assert_eq!(
        records(engine.as_ref(), right_start.clone(), end.clone()),
        right_records
    );

    // Raft state of a range with no descriptor: its span is unknown, nothing is swept.
    let mut applied_key = 99u64.to_be_bytes().to_vec();
    applied_key.extend_from_slice(b"applied");
    let mut batch = WriteBatch::new();
    batch.put(Cf::State, applied_key.clone(), b"x".to_vec());
    engine.write(batch, Durability::Buffered).expect("write");
    store
        .forget_split_right(right.range_id)
        .expect("forget the right-hand range");
    assert_eq!(store.sweep_leftovers(1000).expect("sweep"), Sweep::Deferred);
    let mut batch = WriteBatch::new();
    batch.delete(Cf::State, applied_key);
    engine.write(batch, Durability::Buffered).expect("write");

    // A replica opened for a range's first Raft message, with no descriptor yet (a learner
    // waiting for its snapshot): nothing is swept either.
    let heartbeat = AppendRequest {
        range: RangeId(12),
        to: 1,
        epoch: 0,
        body: openraft::raft::AppendEntriesRequest {
            vote: openraft::alias::VoteOf::<TypeConfig>::new_committed(1, 2),
            prev_log_id: None,
            entries: vec![],
            leader_commit: None,
        },
    };
    let _: Result<openraft::raft::AppendEntriesResponse<TypeConfig>, _> = n2
        .rpc
        .call(Target::Node(NodeId(1)), "raft.append", &heartbeat)
        .await;
    let unknown = store.replica(RangeId(12)).expect("opened for the message");
    assert!(unknown.descriptor().is_none());
    assert_eq!(store.sweep_leftovers(1000).expect("sweep"), Sweep::Deferred);
    store.remove_replica(RangeId(12)).await.expect("remove");

    // Now the right-hand records are leftovers: swept, a budget at a time.
    assert_eq!(store.sweep_leftovers(2).expect("sweep"), Sweep::Deleted(2));
    assert!(store.sweep_round().await >= right_records - 2);
    assert_eq!(records(engine.as_ref(), right_start.clone(), end), 0);
    assert_eq!(
        records(engine.as_ref(), left_start, right_start),
        left_records,
        "the left-hand range keeps its records"
    );
    assert_eq!(
        store.sweep_leftovers(1000).expect("sweep"),
        Sweep::Deleted(0)
    );
    store.shutdown().await;
}

fn clock_now() -> base::Timestamp {
    HybridClock::system(DEFAULT_MAX_OFFSET).now()
}
