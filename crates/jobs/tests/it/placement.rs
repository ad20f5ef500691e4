//! Coordinator placement: the matching node with the fewest coordinators, handed the job
//! over RPC at once; and the waiting status when no matching node is left.

use std::time::{Duration, Instant};

use locality::LocalityFilter;
use sextant_jobs::{JobStatus, RegistryConfig, WAITING_PREFIX};

use crate::cluster::TestCluster;
use crate::testjob::{Spec, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fewest_coordinators_and_immediate_hand_off() {
    // A long adoption interval: only the hand-off can start a job quickly.
    let cfg = RegistryConfig {
        adopt_interval: Duration::from_secs(30),
        ..RegistryConfig::default()
    };
    let c = TestCluster::start(
        &["region=east", "region=west", "region=west", "region=east"],
        cfg,
    )
    .await;
    // Node ids follow the order in which the joins landed: name the west nodes by id.
    let (a, b) = (c.nodes[1].id(), c.nodes[2].id());
    let (low, high) = (a.min(b), a.max(b));
    let spec = Spec::Steps {
        total: 100_000,
        step_ms: 50,
    };
    let mut placed = Vec::new();
    for i in 0..3 {
        let mut j = job(&format!("BACKUP {i}"), &spec);
        j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
        let t0 = Instant::now();
        let id = c.nodes[0].jobs.create_job(j).await.expect("create");
        let rec = c.nodes[0].jobs.get(id).await.expect("get");
        let target = rec
            .coordinator_id
            .expect("claimed by the time create_job returns");
        let elapsed = t0.elapsed();
        assert_eq!(rec.status, JobStatus::Running);
        assert!(
            c.node(target).jobs.coordinating().contains(&id),
            "{target} runs job {id}"
        );
        println!("job {i}: coordinator {target}, running {elapsed:?} after create");
        assert!(
            elapsed < Duration::from_secs(3),
            "hand-off took {elapsed:?}, adoption interval 30 s"
        );
        placed.push(target);
    }
    // Both west nodes start empty: the tie goes to the lowest id, then the emptier node, then
    // the tie again to the lowest id.
    assert_eq!(placed, vec![low, high, low]);

    // Without a filter the gateway wins the tie among empty nodes (n1 and n4 have none).
    let id = c.nodes[3]
        .jobs
        .create_job(job("BACKUP any", &spec))
        .await
        .expect("create");
    let rec = c.nodes[3].jobs.get(id).await.expect("get");
    assert_eq!(rec.coordinator_id, Some(c.nodes[3].id()));
    let id = c.nodes[3]
        .jobs
        .create_job(job("BACKUP any 2", &spec))
        .await
        .expect("create");
    let rec = c.nodes[3].jobs.get(id).await.expect("get");
    assert_eq!(
        rec.coordinator_id,
        Some(c.nodes[0].id()),
        "the remaining empty node"
    );

    for rec in c.nodes[0].jobs.list().await.expect("list") {
        c.nodes[0].jobs.cancel(rec.id).await.expect("cancel");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_a_matching_node() {
    let cfg = RegistryConfig {
        adopt_interval: Duration::from_millis(300),
        retry_backoff: Duration::from_millis(100),
    };
    let mut c = TestCluster::start(
        &["region=east", "region=east", "region=east", "region=west"],
        cfg,
    )
    .await;
    let spec = Spec::Steps {
        total: 100_000,
        step_ms: 50,
    };
    let mut j = job("BACKUP west only", &spec);
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let rec = c.nodes[0].jobs.get(id).await.expect("get");
    assert_eq!(rec.coordinator_id, Some(c.nodes[3].id()));
    c.nodes[3].kill().await;
    let rec = c
        .wait_for(0, id, Duration::from_secs(15), "waiting", |r| {
            r.running_status
                .as_deref()
                .is_some_and(|s| s.starts_with(WAITING_PREFIX))
        })
        .await;
    assert_eq!(
        rec.running_status.as_deref(),
        Some("waiting for a node matching locality filter region=west")
    );
    assert_eq!(rec.status, JobStatus::Running);
    assert!(rec.claim.is_none() && rec.coordinator_id.is_none());
    // No east node picked it up.
    for t in &c.nodes[..3] {
        assert!(t.jobs.coordinating().is_empty());
    }
}
