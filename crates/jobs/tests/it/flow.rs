//! Distributed flows: processors only on matching nodes, over the ranges of a span; and a
//! processor's node dying mid-flow.

use std::collections::BTreeSet;
use std::time::Duration;

use base::{Key, NodeId, Span, keys};
use locality::LocalityFilter;
use sextant_jobs::{JobStatus, span_set};

use crate::cluster::{TestCluster, fast};
use crate::testjob::{Event, Spec, job};

fn key(table: u64, s: &str) -> Key {
    let mut k = keys::table_prefix(table).0;
    base::encoding::encode_bytes(&mut k, s.as_bytes());
    Key(k)
}

/// Splits table 100 into ranges at `a`, `b`, ... and returns the table's span.
async fn split_table(c: &TestCluster, at: &[&str]) -> Span {
    let span = Span::new(keys::table_prefix(100), keys::table_prefix(101));
    let n = &c.nodes[0].node;
    n.admin_split(&span.start).await.expect("split");
    n.admin_split(&span.end).await.expect("split");
    for s in at {
        n.admin_split(&key(100, s)).await.expect("split");
    }
    span
}

fn processors(events: &[Event]) -> Vec<(NodeId, Vec<Span>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Processor { node, spans } => Some((*node, spans.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_run_on_matching_nodes_only() {
    let c = TestCluster::start(
        &["region=east", "region=east", "region=west", "region=west"],
        fast(),
    )
    .await;
    let span = split_table(&c, &["b", "d", "f", "h", "k", "m", "p"]).await;
    let west: BTreeSet<NodeId> = [c.nodes[2].id(), c.nodes[3].id()].into();

    let mut j = job(
        "BACKUP flow",
        &Spec::Flow {
            span: span.clone(),
            per_span_ms: 5,
        },
    );
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let rec = tokio::time::timeout(Duration::from_secs(20), c.nodes[1].jobs.wait_for_job(id))
        .await
        .expect("finishes")
        .expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded, "{rec:#?}");

    let procs = processors(&c.log.events());
    let ran: BTreeSet<NodeId> = procs.iter().map(|(n, _)| *n).collect();
    assert_eq!(ran, west, "processors ran on {ran:?}");
    // Together they covered the whole span, once.
    let all: Vec<Span> = procs.iter().flat_map(|(_, s)| s.clone()).collect();
    assert_eq!(span_set::merge(all.clone()), vec![span.clone()]);
    let total: usize = all.len();
    assert_eq!(span_set::merge(all).len(), 1, "{total} pieces");
    // The plan is on record: 8 ranges over the two west nodes, nobody above the cap.
    let plan = rec.plan.expect("plan summary");
    let planned: BTreeSet<NodeId> = plan.nodes.iter().map(|n| n.node_id).collect();
    assert!(planned.is_subset(&west), "{plan:?}");
    assert_eq!(plan.nodes.iter().map(|n| n.ranges).sum::<usize>(), 8);
    assert!(plan.nodes.iter().all(|n| n.ranges <= 5), "{plan:?}");
    assert!(plan.nodes.iter().all(|n| n.locality == "region=west"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_processor_is_replanned() {
    // The job coordinates on n2 (west) and plans over n2, n3 and n4; n4's processor dies with
    // its node and its unfinished spans move to the others.
    let mut c = TestCluster::start(
        &["region=east", "region=west", "region=west", "region=west"],
        fast(),
    )
    .await;
    let span = split_table(&c, &["b", "d", "f", "h", "k"]).await;
    let mut j = job(
        "BACKUP replan",
        &Spec::Flow {
            span: span.clone(),
            per_span_ms: 400,
        },
    );
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let coordinator = c.nodes[0]
        .jobs
        .get(id)
        .await
        .expect("get")
        .coordinator_id
        .expect("coordinator");
    // Wait until some other west node runs a processor, then kill it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let victim = loop {
        let procs = processors(&c.log.events());
        if let Some((n, _)) = procs.iter().find(|(n, _)| *n != coordinator) {
            break *n;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no processor started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let idx = c.nodes.iter().position(|t| t.id() == victim).expect("node");
    c.nodes[idx].kill().await;

    let rec = tokio::time::timeout(Duration::from_secs(30), c.nodes[0].jobs.wait_for_job(id))
        .await
        .expect("finishes")
        .expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded, "{rec:#?}");
    let events = c.log.events();
    let procs = processors(&events);
    let after: Vec<&(NodeId, Vec<Span>)> = procs
        .iter()
        .skip_while(|(n, _)| *n != victim)
        .skip(1)
        .collect();
    assert!(
        after.iter().any(|(n, _)| *n != victim),
        "the victim's spans were re-planned: {procs:?}"
    );
    // Every span of the table was finished by some live processor.
    let done: Vec<Span> = events
        .iter()
        .filter_map(|e| match e {
            Event::SpanDone { span, .. } => Some(span.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(span_set::merge(done), vec![span]);
}
