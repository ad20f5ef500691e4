//! Faults under a running feed: an aggregator's node dies, the sink goes away, a matching node
//! comes (the feed re-plans over it). Afterwards every committed change is in the sink at
//! least once, first deliveries in per-key order, and while the sink is down the job says why.

use std::sync::atomic::Ordering;
use std::time::Duration;

use jobs::JobStatus;

use crate::cluster::TestCluster;
use crate::fixtures::{
    Tansu, Webhook, assert_balanced_over_us_west1, keyed_rows, wait_every_change,
};

#[tokio::test]
async fn sink_outage_is_reported_and_every_change_arrives_after_it() {
    let hook = Webhook::start().await;
    let c = TestCluster::one_node("CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT)")
        .await;
    let id = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO '{}' WITH min_checkpoint_frequency='200ms', \
                 webhook_sink_config='{{\"Retry\": {{\"Max\": 1, \"Backoff\": \"100ms\"}}}}'",
                hook.uri
            ),
        )
        .await;
    let upsert = |round: i64| {
        (0..4)
            .map(|a| format!("UPSERT INTO t VALUES ({a}, {round});"))
            .collect::<String>()
    };
    let render = |a: i64, b: i64| format!("{{\"a\":{a},\"b\":{b}}}");
    c.exec(0, "d", &upsert(0)).await;
    let rows = || std::future::ready(hook.rows());
    wait_every_change(4, 1, Duration::from_secs(10), render, rows).await;

    // The sink answers 500: the feed retries, and the job says why for as long as it lasts.
    hook.down.store(true, Ordering::SeqCst);
    for round in 1..3 {
        c.exec(0, "d", &upsert(round)).await;
    }
    let failing = |r: &jobs::JobRecord| {
        r.status == JobStatus::Running
            && r.running_status.as_deref().is_some_and(|s| {
                s.starts_with("transient error: sink: webhook sink: 500 Internal Server Error")
            })
    };
    c.wait_job(
        id,
        Duration::from_secs(10),
        "reporting the sink error",
        failing,
    )
    .await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rec = c.nodes[0].jobs.get(id).await.expect("job");
        assert!(failing(&rec), "still reported: {rec:#?}");
    }

    // The sink is back: every change arrives, per key in commit order; the status clears.
    hook.down.store(false, Ordering::SeqCst);
    wait_every_change(4, 3, Duration::from_secs(15), render, rows).await;
    c.wait_job(id, Duration::from_secs(10), "running again", |r| {
        r.status == JobStatus::Running
            && r.running_status
                .as_deref()
                .is_some_and(|s| s.starts_with("running: resolved="))
    })
    .await;
}

#[tokio::test]
async fn aggregator_node_death_loses_no_change() {
    let Some(tansu) = Tansu::start().await else {
        return;
    };
    let mut c = TestCluster::start(&[
        "region=us-east1,az=a",
        "region=us-east1,az=b",
        "region=us-east1,az=c",
    ])
    .await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT)",
    )
    .await;
    // Splits copy the range's replicas: replicate first, so that every range survives
    // losing a node.
    c.wait_full_replication(Duration::from_secs(30)).await;
    c.split_t_at([2, 4, 6]).await;
    c.wait_full_replication(Duration::from_secs(30)).await;
    let id = c.kafka_feed(&tansu.addr).await;
    let rec = c
        .wait_job(id, Duration::from_secs(15), "planned on two nodes", |r| {
            r.high_water.is_some() && r.plan.as_ref().is_some_and(|p| p.nodes.len() >= 2)
        })
        .await;
    let coordinator = rec.coordinator_id.expect("coordinator");
    let plan = rec.plan.expect("plan");
    let aggregator = plan
        .nodes
        .iter()
        .map(|n| n.node_id)
        .find(|n| *n != coordinator)
        .expect("an aggregator away from the coordinator");
    let victim = c
        .nodes
        .iter()
        .position(|n| n.node.node_id() == aggregator)
        .expect("victim");
    let gateway = (0..3)
        .find(|i| *i != victim && c.nodes[*i].node.node_id() != coordinator)
        .expect("gateway");

    let upsert = |round: i64| {
        (0..8)
            .map(|a| format!("UPSERT INTO t VALUES ({a}, {round});"))
            .collect::<String>()
    };
    c.exec(gateway, "d", &upsert(0)).await;
    c.nodes[victim].kill().await;
    c.exec(gateway, "d", &upsert(1)).await;
    c.exec(gateway, "d", &upsert(2)).await;

    let render = |a: i64, b: i64| format!("{{\"after\": {{\"a\": {a}, \"b\": {b}}}}}");
    wait_every_change(8, 3, Duration::from_secs(30), render, || {
        keyed_rows(&tansu, "t")
    })
    .await;
    let rec = c.nodes[gateway].jobs.get(id).await.expect("job");
    assert_eq!(rec.status, JobStatus::Running, "{rec:#?}");
}

#[tokio::test]
async fn a_matching_node_that_comes_gets_a_share_of_the_feed() {
    let hook = Webhook::start().await;
    let mut c = TestCluster::start(&["region=us-east1,az=a", "region=us-west1,az=a"]).await;
    c.exec(
        0,
        "",
        "CREATE DATABASE d; CREATE TABLE d.t (a INT PRIMARY KEY, b INT)",
    )
    .await;
    c.split_t_at((2..16).step_by(2)).await;
    let id = c
        .create_feed(
            0,
            "d",
            &format!(
                "CREATE CHANGEFEED FOR t INTO '{}' WITH execution_locality='region=us-west1', \
                 min_checkpoint_frequency='200ms'",
                hook.uri
            ),
        )
        .await;
    let first = c.nodes[1].node.node_id();
    c.wait_job(id, Duration::from_secs(20), "planned on us-west1", |r| {
        r.high_water.is_some()
            && r.plan
                .as_ref()
                .is_some_and(|p| p.nodes.iter().map(|n| n.node_id).eq([first]))
    })
    .await;
    let upsert = |round: i64| {
        let rows: Vec<String> = (0..16).map(|a| format!("({a}, {round})")).collect();
        format!("UPSERT INTO t VALUES {}", rows.join(", "))
    };
    c.exec(0, "d", &upsert(0)).await;

    // The second us-west1 node comes while rows keep coming: the feed re-plans over both.
    let added = c.add_node("region=us-west1,az=b").await;
    let second = c.nodes[added].node.node_id();
    c.exec(0, "d", &upsert(1)).await;
    let rec = c
        .wait_job(
            id,
            Duration::from_secs(30),
            "re-planned with the new node",
            |r| {
                r.plan
                    .as_ref()
                    .is_some_and(|p| p.nodes.iter().any(|n| n.node_id == second))
            },
        )
        .await;
    let plan = rec.plan.expect("plan");
    assert_balanced_over_us_west1(&plan);
    c.exec(0, "d", &upsert(2)).await;
    c.exec(added, "d", &upsert(3)).await;

    let render = |a: i64, b: i64| format!("{{\"a\":{a},\"b\":{b}}}");
    let rows = || std::future::ready(hook.rows());
    wait_every_change(16, 4, Duration::from_secs(30), render, rows).await;
    let rec = c.nodes[0].jobs.get(id).await.expect("job");
    assert_eq!(rec.status, JobStatus::Running, "{rec:#?}");
    assert!(
        rec.plan
            .is_some_and(|p| p.nodes.iter().any(|n| n.node_id == second)),
        "the new node keeps its share"
    );
}
