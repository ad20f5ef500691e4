//! Test support (feature `testing`), for the tests of this crate and of the crates above it.

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

use std::time::Duration;

use crate::{JobId, JobRecord, Registry};

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
