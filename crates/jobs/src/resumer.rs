//! The per-job-type code the registry runs on a job's coordinator.

use futures::future::BoxFuture;

use crate::{JobContext, JobError};

/// What a job type does. One resumer per [`crate::JobType`] is registered on every node
/// ([`crate::Registry::register_resumer`]), since any matching node may become a job's
/// coordinator.
///
/// The registry calls [`Resumer::resume`] when a node claims the job: at creation, after
/// RESUME JOB, after a transient error, or when the previous coordinator died. It must
/// continue from the job's checkpoint ([`JobContext::record`]'s `progress`), not from the
/// start. When the job is paused or canceled, or another node takes its claim, the future is
/// dropped (at its next `.await`); a resumer that wants to stop more gracefully can watch
/// [`JobContext::stopped`]. Every `JobContext` write fails with a stop error
/// ([`JobError::is_stop`]) once the job must stop, so propagating errors with `?` is enough.
///
/// Returning `Ok(())` makes the job `succeeded`. [`JobError::Transient`] restarts `resume`
/// after a backoff. Any other error moves the job to `reverting`, calls
/// [`Resumer::on_fail_or_cancel`] with that error, then `failed` with the error's text;
/// CANCEL JOB does the same with [`JobError::CancelRequested`] and ends in `canceled`.
pub trait Resumer: Send + Sync {
    /// Runs (or continues) the job.
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>>;

    /// Cleans up after a failure or a cancel; runs on a node matching the job's filter. By
    /// default there is nothing to undo.
    fn on_fail_or_cancel(
        &self,
        _ctx: JobContext,
        _reason: &JobError,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        Box::pin(async { Ok(()) })
    }
}
