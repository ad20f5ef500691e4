//! Placement follows the generated zone configurations: a table homed in a region gets its
//! voters and lease there and a non-voting replica in the other database region, as SHOW
//! RANGES reports.

use std::time::Duration;

use sextant_sql::Datum;

use crate::cluster::TestCluster;

fn ints(d: &Datum) -> Vec<i64> {
    match d {
        Datum::Array(a) => a.iter().filter_map(Datum::as_int).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn regional_table_placement_follows_zone_config() {
    let c = TestCluster::start(&[
        "region=us-east1,az=a",
        "region=us-east1,az=b",
        "region=us-east1,az=c",
        "region=us-west1,az=a",
        "region=us-west1,az=b",
        "region=us-west1,az=c",
    ])
    .await;
    let west: Vec<i64> = c
        .nodes
        .iter()
        .filter(|n| n.node.locality().to_string().contains("us-west1"))
        .map(|n| n.node.node_id().0 as i64)
        .collect();
    let mut s = c.nodes[0].sql.session("root", "defaultdb");
    s.execute("CREATE DATABASE mr PRIMARY REGION \"us-east1\" REGIONS \"us-west1\"")
        .await
        .expect("create database");
    s.execute(
        "CREATE TABLE mr.public.w (id INT PRIMARY KEY) LOCALITY REGIONAL BY TABLE IN \"us-west1\"",
    )
    .await
    .expect("create table");
    s.execute("INSERT INTO mr.public.w VALUES (1), (2)")
        .await
        .expect("insert");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = s
            .execute("SELECT voting_replicas, non_voting_replicas, lease_holder FROM [SHOW RANGES FROM TABLE mr.public.w]")
            .await
            .expect("show ranges");
        let rows = &r[0].rows;
        let placed = !rows.is_empty()
            && rows.iter().all(|row| {
                let voters = ints(&row[0]);
                let non_voters = ints(&row[1]);
                let lh = row[2].as_int();
                voters.len() == 3
                    && voters.iter().all(|v| west.contains(v))
                    && non_voters.len() == 1
                    && !west.contains(&non_voters[0])
                    && lh.is_some_and(|l| west.contains(&l))
            });
        if placed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not placed in us-west1 (nodes {west:?}): {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let r = s
        .execute("SELECT count(*) FROM mr.public.w")
        .await
        .expect("count");
    assert_eq!(r[0].rows[0][0], Datum::Int(2));
    c.shutdown().await;
}
