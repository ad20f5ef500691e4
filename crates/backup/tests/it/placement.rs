//! The seed's second use case: a secondary region that holds only non-voting replicas runs the
//! backups, and reads the data from those replicas, not across regions.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use base::NodeId;
use base::keys;
use client::workload::movr::data::Sizes;
use kv::api::{BatchRequest, Header, Request, Response};
use kv::metrics::ReadBytes;
use sql::Datum;

use crate::cluster::TestCluster;
use crate::movr;

/// Three nodes in the primary region, three in the secondary one.
pub const TWO_REGIONS: &[&str] = &[
    "region=us-east1,zone=us-east1-a",
    "region=us-east1,zone=us-east1-b",
    "region=us-east1,zone=us-east1-c",
    "region=us-west1,zone=us-west1-a",
    "region=us-west1,zone=us-west1-b",
    "region=us-west1,zone=us-west1-c",
];

/// Voters (and so leases) in us-east1, one non-voting replica on every us-west1 node.
pub const NON_VOTERS_IN_WEST: &str = "num_replicas = 6, num_voters = 3, \
     voter_constraints = '{\"+region=us-east1\": 3}', \
     constraints = '{\"+region=us-west1\": 3}', \
     lease_preferences = '[[+region=us-east1]]'";

/// Every range has one replica, in us-east1, unless its zone says otherwise. Loading then
/// commits without a round trip to other nodes (several times faster), the ranges, which the
/// first node (in us-east1) bootstraps, never need their lease moved out of us-west1, and the
/// meta and system range (job records) stays on one us-east1 node.
pub const ONE_REPLICA_IN_EAST: &str = "ALTER RANGE default CONFIGURE ZONE USING \
     num_replicas = 1, constraints = '[+region=us-east1]', \
     lease_preferences = '[[+region=us-east1]]'";

/// A small movr: enough rows for every table to have data in each backup file.
pub const SMALL: Sizes = Sizes {
    users: 20,
    vehicles: 10,
    rides: 40,
    histories: 40,
    promo_codes: 40,
};

/// The ids of the tables that have their own zone configuration (`zones/<id>` records).
pub async fn zoned_table_ids(c: &TestCluster) -> BTreeSet<u64> {
    let span = base::Span::prefix(&keys::system_key("zones/").0);
    let ba = BatchRequest {
        header: Header::default(),
        requests: vec![Request::Scan {
            span,
            max_keys: 0,
            reverse: false,
        }],
    };
    let resp = c.nodes[0].node.sender().send(ba).await.expect("scan zones");
    let Some(Response::Scan { rows, .. }) = resp.responses.into_iter().next() else {
        panic!("no scan response");
    };
    let prefix = keys::system_key("zones/").0.len();
    rows.iter()
        .filter_map(|kv| {
            std::str::from_utf8(kv.key.0.get(prefix..)?)
                .ok()?
                .parse()
                .ok()
        })
        .collect()
}

/// Waits until every range of `tables` has its three voters and the lease in us-east1 and a
/// non-voter on each us-west1 node.
pub async fn wait_for_non_voters_in_west(c: &TestCluster, tables: &BTreeSet<u64>) {
    let west: BTreeSet<NodeId> = c
        .nodes
        .iter()
        .map(|n| n.id())
        .filter(|n| c.region(*n) == "us-west1")
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ranges = c.nodes[0].node.ranges().await.unwrap_or_default();
        let ours: Vec<_> = ranges
            .iter()
            .filter(|r| {
                keys::decode_table_id(&r.desc.start_key).is_some_and(|t| tables.contains(&t))
            })
            .collect();
        let misplaced: Vec<_> = ours
            .iter()
            .filter(|r| {
                let voters: Vec<NodeId> = r.desc.voters().collect();
                let non_voters: BTreeSet<NodeId> = r.desc.non_voters().collect();
                !(voters.len() == 3
                    && voters.iter().all(|v| c.region(*v) == "us-east1")
                    && non_voters == west
                    && r.leaseholder.is_some_and(|l| c.region(l) == "us-east1"))
            })
            .collect();
        if !ours.is_empty() && misplaced.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas not placed after 60 s: {misplaced:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every range has all its replicas in us-east1, so stopping a us-west1 node
/// takes no voter from any Raft group.
pub async fn wait_for_replicas_in_east(c: &TestCluster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ranges = c.nodes[0].node.ranges().await.unwrap_or_default();
        let misplaced: Vec<_> = ranges
            .iter()
            .filter(|r| {
                r.desc
                    .replicas
                    .iter()
                    .any(|rep| c.region(rep.node_id) != "us-east1")
            })
            .collect();
        if !ranges.is_empty() && misplaced.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas not moved to us-east1 after 60 s: {misplaced:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until every us-west1 replica of `tables` has applied a closed timestamp at or above
/// `lag` before now: a follower read at `follower_read_timestamp()` is then served there (a
/// replica whose closed timestamp lags sends the read to the leaseholder, as CockroachDB's do).
pub async fn wait_for_closed_timestamps(c: &TestCluster, tables: &BTreeSet<u64>, lag: Duration) {
    let lag = i64::try_from(lag.as_nanos()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut behind = Vec::new();
        for n in c.nodes.iter().filter(|n| c.region(n.id()) == "us-west1") {
            let wanted = n.node.clock().now().add_nanos(-lag);
            for r in n.node.store().replicas() {
                let ours = r
                    .descriptor()
                    .and_then(|d| keys::decode_table_id(&d.start_key))
                    .is_some_and(|t| tables.contains(&t));
                if ours && r.closed().applied < wanted {
                    behind.push((n.id(), r.range_id(), r.closed().applied));
                }
            }
        }
        if behind.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "closed timestamps still behind after 30 s: {behind:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every node's read counters, per gateway.
fn read_counters(c: &TestCluster) -> BTreeMap<NodeId, BTreeMap<NodeId, ReadBytes>> {
    c.nodes
        .iter()
        .map(|n| (n.id(), n.node.read_metrics().by_gateway))
        .collect()
}

fn int(d: &Datum) -> i64 {
    match d {
        Datum::Int(i) => *i,
        other => panic!("not an int: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backup_in_secondary_region_reads_its_non_voting_replicas() {
    let c = TestCluster::start(TWO_REGIONS).await;
    let east = &c.nodes[0];
    east.ok("defaultdb", ONE_REPLICA_IN_EAST).await;
    wait_for_replicas_in_east(&c).await;
    let loaded = movr::load(east, "movr", SMALL).await;
    let written = Instant::now();
    east.ok(
        "defaultdb",
        &format!("ALTER DATABASE movr CONFIGURE ZONE USING {NON_VOTERS_IN_WEST}"),
    )
    .await;
    let tables = zoned_table_ids(&c).await;
    wait_for_non_voters_in_west(&c, &tables).await;

    // CockroachDB's way to read from followers: AS OF SYSTEM TIME follower_read_timestamp(),
    // 4.8 s behind now, which the closed timestamps of every replica have passed. The data
    // must be older than that to be in the backup.
    let lag = Duration::from_millis(5_000);
    if let Some(wait) = lag.checked_sub(written.elapsed()) {
        tokio::time::sleep(wait).await;
    }
    // Half of follower_read_timestamp()'s 4.8 s: the statement starts a little later.
    wait_for_closed_timestamps(&c, &tables, Duration::from_millis(2_400)).await;
    let before = read_counters(&c);
    let r = east
        .ok(
            "defaultdb",
            "BACKUP DATABASE movr INTO 'nodelocal://self/west' \
             AS OF SYSTEM TIME follower_read_timestamp() \
             WITH EXECUTION LOCALITY = 'region=us-west1'",
        )
        .await;
    let after = read_counters(&c);
    assert_eq!(r.rows[0][1], Datum::String("succeeded".into()));
    assert_eq!(int(&r.rows[0][3]) as u64, movr::total(&loaded), "every row");
    let backup_bytes = int(&r.rows[0][5]) as u64;
    assert!(backup_bytes > 0);

    // The coordinator and every processor ran in us-west1.
    let rec = east.jobs.get(int(&r.rows[0][0])).await.expect("job");
    let coordinator = rec.coordinator_id.expect("coordinator");
    assert_eq!(c.region(coordinator), "us-west1", "coordinator");
    let plan = rec.plan.expect("a plan was recorded");
    let mut backup_nodes: BTreeSet<NodeId> = BTreeSet::from([coordinator]);
    for n in &plan.nodes {
        assert_eq!(c.region(n.node_id), "us-west1", "processor on {n:?}");
        backup_nodes.insert(n.node_id);
    }

    // Bytes served to the backup's nodes during the backup, by serving node.
    let delta = |server: NodeId, gateway: NodeId| -> ReadBytes {
        let now = after[&server].get(&gateway).copied().unwrap_or_default();
        let then = before[&server].get(&gateway).copied().unwrap_or_default();
        ReadBytes {
            table_data: now.table_data - then.table_data,
            system: now.system - then.system,
        }
    };
    let mut same = ReadBytes::default();
    let mut cross = ReadBytes::default();
    let mut per_server = Vec::new();
    for server in after.keys().copied() {
        let mut served = ReadBytes::default();
        for &g in &backup_nodes {
            let d = delta(server, g);
            served.table_data += d.table_data;
            served.system += d.system;
        }
        let into = if c.region(server) == "us-west1" {
            &mut same
        } else {
            &mut cross
        };
        into.table_data += served.table_data;
        into.system += served.system;
        per_server.push(format!(
            "n{} ({}): data {} B, system {} B",
            server.0,
            c.region(server),
            served.table_data,
            served.system
        ));
    }
    eprintln!(
        "reads served to the backup's nodes {backup_nodes:?}: {}; backup wrote {backup_bytes} \
         logical bytes",
        per_server.join("; ")
    );
    // Table data: none from another region, and at least what the backup wrote (an exported
    // version counts key, timestamp and value on both sides; a span retried after an error is
    // read again, so more is possible). System records (the job record with its details and
    // checkpoint, descriptors, meta lookups) live in range 1, whose replicas are in us-east1
    // here by design of the zone; they are not table data and are only printed above.
    assert_eq!(
        cross.table_data, 0,
        "no table data crossed regions: {per_server:?}"
    );
    assert!(
        same.table_data >= backup_bytes,
        "the backup's data was read from us-west1 replicas: {per_server:?}"
    );
    // Each processor read its ranges from the non-voter on its own node.
    let local: u64 = backup_nodes.iter().map(|&n| delta(n, n).table_data).sum();
    assert_eq!(
        local, same.table_data,
        "read from each processor's own replica: {per_server:?}"
    );
    c.shutdown().await;
}
