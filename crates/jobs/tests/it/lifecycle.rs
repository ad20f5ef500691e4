//! Job lifecycle: create, succeed, fail, pause/resume/cancel and their errors, and adoption
//! after the coordinator dies.

use std::time::Duration;

use base::NodeId;
use locality::LocalityFilter;
use sextant_jobs::{JobError, JobStatus};

use crate::cluster::{TestCluster, fast, liveness};
use crate::testjob::{Event, Spec, job};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_run_fail_and_no_match() {
    let c = TestCluster::start(
        &["region=east,az=a", "region=east,az=b", "region=west,az=a"],
        fast(),
    )
    .await;

    // Without a filter: runs and succeeds; waited for from another node.
    let spec = Spec::Steps {
        total: 3,
        step_ms: 10,
    };
    let id = c.nodes[0]
        .jobs
        .create_job(job("BACKUP plain", &spec))
        .await
        .expect("create");
    let rec = tokio::time::timeout(Duration::from_secs(15), c.nodes[2].jobs.wait_for_job(id))
        .await
        .expect("job finishes")
        .expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded);
    assert_eq!(rec.result, b"3 steps");
    assert_eq!(rec.fraction_completed, 1.0);
    assert_eq!(rec.job_type.as_str(), "BACKUP");
    assert_eq!(rec.description, "BACKUP plain");
    assert_eq!(rec.user_name, "root");
    assert!(rec.started.is_some() && rec.finished.is_some());
    assert!(rec.claim.is_none(), "a finished job holds no claim");
    assert_eq!(rec.num_runs, 1);

    // With a filter: the coordinator is the matching node.
    let mut j = job("BACKUP west", &spec);
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let rec = c.nodes[0].jobs.wait_for_job(id).await.expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded);
    assert_eq!(rec.coordinator_id, Some(c.nodes[2].id()));
    assert_eq!(rec.execution_locality.as_deref(), Some("region=west"));

    // No node matches: CockroachDB's error, and no job written.
    let before = c.nodes[0].jobs.list().await.expect("list").len();
    let mut j = job("BACKUP mars", &spec);
    j.execution_locality = Some(LocalityFilter::parse("region=mars").expect("filter"));
    let err = c.nodes[1].jobs.create_job(j).await.expect_err("no match");
    assert_eq!(
        err.to_string(),
        "no instances found matching locality filter region=mars"
    );
    assert!(matches!(err, JobError::NoMatchingNodes { .. }));
    assert_eq!(c.nodes[0].jobs.list().await.expect("list").len(), before);

    // A failing resumer: reverting, on_fail_or_cancel, then failed with the error text.
    let id = c.nodes[1]
        .jobs
        .create_job(job("BACKUP doomed", &Spec::Fail("disk on fire".into())))
        .await
        .expect("create");
    let rec = c.nodes[0].jobs.wait_for_job(id).await.expect("wait");
    assert_eq!(rec.status, JobStatus::Failed);
    assert_eq!(rec.error.as_deref(), Some("disk on fire"));
    assert!(c.log.events().iter().any(|e| matches!(
        e,
        Event::Reverted { reason, .. } if reason == "disk on fire"
    )));
    assert_eq!(rec.error_code, None);

    // A transaction that kept restarting: failed, with 40001 recorded beside the text.
    let id = c.nodes[1]
        .jobs
        .create_job(job("BACKUP retried", &Spec::TxnRetry))
        .await
        .expect("create");
    let rec = c.nodes[0].jobs.wait_for_job(id).await.expect("wait");
    assert_eq!(rec.status, JobStatus::Failed);
    assert_eq!(
        rec.error.as_deref(),
        Some("TransactionRetryError: too many retries")
    );
    assert_eq!(rec.error_code, Some(base::errcode::SERIALIZATION_FAILURE));

    // Unknown ids.
    let missing = 42;
    for err in [
        c.nodes[0].jobs.get(missing).await.expect_err("missing"),
        c.nodes[0].jobs.pause(missing).await.expect_err("missing"),
        c.nodes[0].jobs.resume(missing).await.expect_err("missing"),
        c.nodes[0].jobs.cancel(missing).await.expect_err("missing"),
    ] {
        assert_eq!(err.to_string(), "job with ID 42 does not exist");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_cancel() {
    let c = TestCluster::start(&["region=east", "region=west", "region=west"], fast()).await;
    let spec = Spec::Steps {
        total: 100_000,
        step_ms: 20,
    };
    let mut j = job("BACKUP long", &spec);
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let rec = c
        .wait_for(0, id, Duration::from_secs(10), "checkpointed", |r| {
            r.fraction_completed > 0.0
        })
        .await;
    let first = rec.coordinator_id.expect("coordinator");

    // Pause (from a non-matching node): pause-requested, then paused, claim released.
    c.nodes[0].jobs.pause(id).await.expect("pause");
    let paused = c.wait_status(0, id, JobStatus::Paused).await;
    assert!(paused.claim.is_none() && paused.coordinator_id.is_none());
    // The coordinator's run loop lets go of the job just after its `paused` write commits.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !c.node(first).jobs.coordinating().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{first} still coordinates {:?}",
            c.node(first).jobs.coordinating()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Pausing again is a no-op; resuming a paused job works; resuming a running one is a
    // no-op.
    c.nodes[1].jobs.pause(id).await.expect("pause again");
    let checkpoint = paused.progress.clone();
    c.nodes[0].jobs.resume(id).await.expect("resume");
    let rec = c
        .wait_for(0, id, Duration::from_secs(10), "running again", |r| {
            r.status == JobStatus::Running && r.coordinator_id.is_some()
        })
        .await;
    let second = rec.coordinator_id.expect("coordinator");
    assert!(
        second == c.nodes[1].id() || second == c.nodes[2].id(),
        "resumed on a west node, got {second}"
    );
    c.nodes[0]
        .jobs
        .resume(id)
        .await
        .expect("resume running is a no-op");
    // The resumer continued from the checkpoint.
    let from_checkpoint = u32::from_be_bytes(checkpoint.try_into().expect("4 bytes"));
    let resumed = Event::Resumed {
        node: second,
        from: from_checkpoint,
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !c.log.events().contains(&resumed) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {resumed:?} in {:?}",
            c.log.events()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Cancel: reverting → on_fail_or_cancel → canceled.
    c.nodes[2].jobs.cancel(id).await.expect("cancel");
    let rec = c.wait_status(0, id, JobStatus::Canceled).await;
    assert!(rec.finished.is_some() && rec.claim.is_none());
    assert!(c.log.events().iter().any(|e| matches!(
        e,
        Event::Reverted { node, reason } if *node == second && reason.contains("cancel requested")
    )));
    c.nodes[0]
        .jobs
        .cancel(id)
        .await
        .expect("cancel again is a no-op");
    assert_eq!(
        c.nodes[0]
            .jobs
            .pause(id)
            .await
            .expect_err("paused")
            .to_string(),
        "job with status canceled cannot be requested to be paused"
    );
    assert_eq!(
        c.nodes[0]
            .jobs
            .resume(id)
            .await
            .expect_err("resume")
            .to_string(),
        "job with status canceled cannot be resumed"
    );

    // A succeeded job cannot be canceled.
    let id = c.nodes[0]
        .jobs
        .create_job(job(
            "BACKUP quick",
            &Spec::Steps {
                total: 1,
                step_ms: 1,
            },
        ))
        .await
        .expect("create");
    c.nodes[0].jobs.wait_for_job(id).await.expect("wait");
    assert_eq!(
        c.nodes[0]
            .jobs
            .cancel(id)
            .await
            .expect_err("cancel")
            .to_string(),
        "job with status succeeded cannot be requested to be canceled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinator_death_adoption_from_checkpoint() {
    // n1 east, n2 and n3 west, n4 east: three voters per range survive losing one node.
    let mut c = TestCluster::start(
        &["region=east", "region=west", "region=west", "region=east"],
        fast(),
    )
    .await;
    let spec = Spec::Steps {
        total: 40,
        step_ms: 50,
    };
    let mut j = job("BACKUP survivor", &spec);
    j.execution_locality = Some(LocalityFilter::parse("region=west").expect("filter"));
    let id = c.nodes[0].jobs.create_job(j).await.expect("create");
    let rec = c
        .wait_for(0, id, Duration::from_secs(10), "at step 5", |r| {
            r.fraction_completed >= 5.0 / 40.0
        })
        .await;
    let dead = rec.coordinator_id.expect("coordinator");
    let idx = c.nodes.iter().position(|t| t.id() == dead).expect("node");
    assert!(idx == 1 || idx == 2, "coordinator {dead} is in the west");
    c.nodes[idx].kill().await;
    let survivor = c.nodes[3 - idx].id();

    // The longest legitimate wait, from the configuration (about 10 s): the dead node's
    // liveness record stays valid up to its TTL, and the others see it expire at their next
    // directory refresh (one heartbeat); the next adoption round claims the job, after
    // waiting out an intent the dead coordinator may have left on the record (its transaction
    // is abandoned once its record has had no heartbeat for `TXN_LIVENESS_THRESHOLD`); then
    // 35 steps of 50 ms remain. Twice that covers a loaded machine.
    let live = liveness();
    let bound = live.ttl
        + live.heartbeat
        + fast().adopt_interval
        + kv::replica::TXN_LIVENESS_THRESHOLD
        + Duration::from_millis(35 * 50);
    let waited = tokio::time::timeout(bound * 2, c.nodes[0].jobs.wait_for_job(id)).await;
    let Ok(rec) = waited else {
        // Bounded: if the record's range lost quorum, even this read would never return.
        let rec = tokio::time::timeout(Duration::from_secs(5), c.nodes[0].jobs.get(id)).await;
        panic!(
            "not finished after adoption: {rec:#?}\nevents: {:?}\nlive: {:?}",
            c.log.events(),
            c.nodes[3 - idx].node.directory().all()
        );
    };
    let rec = rec.expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded);
    assert_eq!(
        rec.coordinator_id,
        Some(survivor),
        "the last coordinator stays on record"
    );
    assert_eq!(rec.num_runs, 2);
    let resumed: Vec<(NodeId, u32)> = c
        .log
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Resumed { node, from } => Some((node, from)),
            _ => None,
        })
        .collect();
    assert_eq!(resumed.len(), 2, "{resumed:?}");
    assert_eq!(resumed[0], (dead, 0));
    assert_eq!(resumed[1].0, survivor, "adopted by the other west node");
    assert!(
        resumed[1].1 >= 5,
        "resumed from the checkpoint: {resumed:?}"
    );
}

/// ALTER CHANGEFEED's registry call: a paused job's details, checkpoint and description are
/// rewritten durably and the resumed job runs the new ones; anything not paused is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_details_of_a_paused_job() {
    let c = TestCluster::start(&["region=east", "region=west"], fast()).await;
    let long = Spec::Steps {
        total: 100_000,
        step_ms: 20,
    };
    let id = c.nodes[0]
        .jobs
        .create_job(job("BACKUP long", &long))
        .await
        .expect("create");
    let rec = c
        .wait_for(0, id, Duration::from_secs(10), "checkpointed", |r| {
            r.fraction_completed > 0.0
        })
        .await;
    assert_eq!(rec.status, JobStatus::Running);

    // Running: refused, nothing written; the caller's own checks answer first.
    let err = c.nodes[1]
        .jobs
        .update_details(id, |r| {
            r.description = "changed".into();
            Ok(())
        })
        .await
        .expect_err("running");
    assert_eq!(
        err,
        JobError::InvalidTransition(format!("job {id} is not paused"))
    );
    let err = c.nodes[1]
        .jobs
        .update_details(id, |_| Err(JobError::failed("not my kind of job")))
        .await
        .expect_err("caller's check");
    assert_eq!(err.to_string(), "not my kind of job");
    assert_eq!(
        c.nodes[0].jobs.get(id).await.expect("get").description,
        "BACKUP long"
    );
    assert_eq!(
        c.nodes[0]
            .jobs
            .update_details(12345, |_| Ok(()))
            .await
            .expect_err("missing"),
        JobError::NotFound(12345)
    );

    // Paused: details, checkpoint and description change; status and error do not.
    c.nodes[0].jobs.pause(id).await.expect("pause");
    c.wait_status(0, id, JobStatus::Paused).await;
    let short = Spec::Steps {
        total: 2,
        step_ms: 1,
    };
    let written = c.nodes[1]
        .jobs
        .update_details(id, |r| {
            r.details = job("", &short).details;
            r.progress = 0u32.to_be_bytes().to_vec();
            r.description = "BACKUP short".into();
            r.statement = "BACKUP short".into();
            r.status = JobStatus::Running;
            r.error = Some("ignored".into());
            Ok(())
        })
        .await
        .expect("update");
    assert_eq!(
        written.status,
        JobStatus::Paused,
        "only four fields are written"
    );
    assert_eq!(written.error, None);
    let rec = c.nodes[0].jobs.get(id).await.expect("get");
    assert_eq!(rec.description, "BACKUP short");
    assert_eq!(rec.statement, "BACKUP short");
    assert_eq!(rec.details, job("", &short).details);

    // A new execution locality is checked against the live nodes, then kept.
    let err = c.nodes[0]
        .jobs
        .update_details(id, |r| {
            r.execution_locality = Some("region=mars".into());
            Ok(())
        })
        .await
        .expect_err("no node on mars");
    assert_eq!(
        err.to_string(),
        "no instances found matching locality filter region=mars"
    );
    c.nodes[0]
        .jobs
        .update_details(id, |r| {
            r.execution_locality = Some("region=west".into());
            Ok(())
        })
        .await
        .expect("west");

    // Resumed: the job runs the new details from the new checkpoint, where the new filter
    // says.
    c.nodes[0].jobs.resume(id).await.expect("resume");
    let rec = tokio::time::timeout(Duration::from_secs(15), c.nodes[0].jobs.wait_for_job(id))
        .await
        .expect("job finishes")
        .expect("wait");
    assert_eq!(rec.status, JobStatus::Succeeded);
    assert_eq!(rec.result, b"2 steps");
    assert_eq!(rec.execution_locality.as_deref(), Some("region=west"));
    assert!(
        c.log
            .events()
            .iter()
            .any(|e| matches!(e, Event::Resumed { from: 0, node } if *node == c.nodes[1].id())),
        "resumed in the west: {:?}",
        c.log.events()
    );
    assert!(
        c.log
            .events()
            .iter()
            .any(|e| matches!(e, Event::Resumed { from: 0, .. })),
        "{:?}",
        c.log.events()
    );
}
