//! Test support (feature `testing`), for the tests of this crate and of the crates above it.

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

use std::time::Duration;

use crate::{JobId, JobRecord, JobStatus, JobType, Registry};

/// Waits until job `id`, read through `registry`, satisfies `pred`, and returns its record;
/// panics after `timeout` with `what` and the last record read.
pub async fn wait_for(
    registry: &Registry,
    id: JobId,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&JobRecord) -> bool,
) -> JobRecord {
    let pred = &pred;
    kv::testing::retry_until(timeout, &format!("job {id}: not {what}"), || async move {
        match registry.get(id).await {
            Ok(rec) if pred(&rec) => Ok(rec),
            rec => Err(format!("{rec:#?}")),
        }
    })
    .await
}

/// A running job's record as the registry would write it, with `description` (and the same
/// `statement`) and `details`, for tests of what is shown of a record.
pub fn record(job_type: JobType, description: &str, details: Vec<u8>) -> JobRecord {
    let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    JobRecord {
        id: 1,
        job_type,
        description: description.to_string(),
        statement: description.to_string(),
        user_name: "root".into(),
        status: JobStatus::Running,
        running_status: None,
        fraction_completed: 0.0,
        high_water: None,
        coordinator_id: None,
        execution_locality: None,
        created: epoch,
        started: None,
        finished: None,
        modified: epoch,
        last_run: None,
        num_runs: 0,
        error: None,
        error_code: None,
        execution_errors: Vec::new(),
        details,
        progress: Vec::new(),
        result: Vec::new(),
        plan: None,
        claim: None,
    }
}
