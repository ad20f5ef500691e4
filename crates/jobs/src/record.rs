//! The job record: what `system.jobs` holds for one job, and the status machine of
//! PAUSE / RESUME / CANCEL as pure functions.

use base::errcode::Code;
use base::{NodeId, Timestamp};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::JobError;

/// A job's id: CockroachDB-like, a time-based unique 64-bit integer,
/// `(unix_micros << 15) | (node_id & 0x7fff)` made unique per node (see [`crate::make_job_id`]).
pub type JobId = i64;

/// A job's status, as SHOW JOBS prints it ([`JobStatus::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobStatus {
    /// Created, not yet started by a coordinator.
    Pending,
    /// Running (or waiting for a coordinator, see `running_status`).
    Running,
    /// Paused; RESUME JOB sets it running again.
    Paused,
    /// PAUSE JOB asked; the coordinator stops and sets `paused`.
    PauseRequested,
    /// CANCEL JOB asked; the coordinator stops, reverts and sets `canceled`.
    CancelRequested,
    /// Canceled (terminal).
    Canceled,
    /// Cleaning up after a failure or cancel (`on_fail_or_cancel`).
    Reverting,
    /// The resumer failed; `error` says why (terminal).
    Failed,
    /// The cleanup after a failure or cancel failed too (terminal).
    RevertFailed,
    /// Finished (terminal).
    Succeeded,
}

impl JobStatus {
    /// CockroachDB's lowercase name (`running`, `pause-requested`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::PauseRequested => "pause-requested",
            JobStatus::CancelRequested => "cancel-requested",
            JobStatus::Canceled => "canceled",
            JobStatus::Reverting => "reverting",
            JobStatus::Failed => "failed",
            JobStatus::RevertFailed => "revert-failed",
            JobStatus::Succeeded => "succeeded",
        }
    }

    /// True when the job will never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobStatus::Canceled
                | JobStatus::Failed
                | JobStatus::RevertFailed
                | JobStatus::Succeeded
        )
    }

    /// True when a coordinator should be working on the job: running it, stopping it for a
    /// pause or cancel request, or reverting it.
    pub fn needs_coordinator(self) -> bool {
        matches!(
            self,
            JobStatus::Pending
                | JobStatus::Running
                | JobStatus::PauseRequested
                | JobStatus::CancelRequested
                | JobStatus::Reverting
        )
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What PAUSE, RESUME or CANCEL does to a job in a given status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Nothing to do (already paused, already running, ...).
    NoOp,
    /// Write this status.
    To(JobStatus),
}

/// PAUSE JOB: from pending, running or reverting to `pause-requested`; a no-op when paused or
/// pause-requested; otherwise `job with status <s> cannot be requested to be paused`.
pub fn pause_transition(status: JobStatus) -> Result<Transition, JobError> {
    match status {
        JobStatus::Paused | JobStatus::PauseRequested => Ok(Transition::NoOp),
        JobStatus::Pending | JobStatus::Running | JobStatus::Reverting => {
            Ok(Transition::To(JobStatus::PauseRequested))
        }
        s => Err(JobError::InvalidTransition(format!(
            "job with status {s} cannot be requested to be paused"
        ))),
    }
}

/// RESUME JOB: from paused to running; a no-op when running or reverting; otherwise `job with
/// status <s> cannot be resumed`.
pub fn resume_transition(status: JobStatus) -> Result<Transition, JobError> {
    match status {
        JobStatus::Running | JobStatus::Reverting => Ok(Transition::NoOp),
        JobStatus::Paused => Ok(Transition::To(JobStatus::Running)),
        s => Err(JobError::InvalidTransition(format!(
            "job with status {s} cannot be resumed"
        ))),
    }
}

/// CANCEL JOB: from pending, running or paused (and pause-requested) to `cancel-requested`; a
/// no-op when cancel-requested or canceled; otherwise `job with status <s> cannot be
/// requested to be canceled`.
pub fn cancel_transition(status: JobStatus) -> Result<Transition, JobError> {
    match status {
        JobStatus::CancelRequested | JobStatus::Canceled => Ok(Transition::NoOp),
        JobStatus::Pending | JobStatus::Running | JobStatus::Paused | JobStatus::PauseRequested => {
            Ok(Transition::To(JobStatus::CancelRequested))
        }
        s => Err(JobError::InvalidTransition(format!(
            "job with status {s} cannot be requested to be canceled"
        ))),
    }
}

/// The kind of job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JobType {
    /// BACKUP.
    Backup,
    /// RESTORE.
    Restore,
    /// CREATE CHANGEFEED.
    Changefeed,
}

impl JobType {
    /// SHOW JOBS' `job_type`: `BACKUP`, `RESTORE`, `CHANGEFEED`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Backup => "BACKUP",
            JobType::Restore => "RESTORE",
            JobType::Changefeed => "CHANGEFEED",
        }
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which node runs a job, and which incarnation of it: a claim is valid while its node is
/// live and still runs the same registry session (a restarted node has a new session, so it
/// re-adopts its old jobs instead of trusting a claim nobody is working on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The coordinator node.
    pub node_id: NodeId,
    /// The registry session of that node (random per [`crate::Registry::start`]).
    pub session: String,
    /// Incremented by every new claim of this job; every write of the coordinator checks it.
    pub epoch: u64,
}

/// One node's share of a flow plan, as SHOW JOBS can print it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePlanSummary {
    /// The node.
    pub node_id: NodeId,
    /// Its locality (`region=us-east1,az=b`).
    pub locality: String,
    /// Ranges (range pieces) assigned.
    pub ranges: usize,
    /// Estimated bytes of those ranges.
    pub bytes: u64,
    /// Of `ranges`, how many went to the node as their leaseholder.
    pub leaseholder: usize,
    /// ... as a node holding a (non-leaseholder) replica.
    pub replica_holder: usize,
    /// ... as the matching node most similar to the leaseholder.
    pub most_similar: usize,
    /// ... moved here by the per-node cap.
    pub rebalanced: usize,
}

/// The last flow plan of a job: per node, what it was given. Stored in the job record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowPlanSummary {
    /// One entry per node with work, by node id.
    pub nodes: Vec<NodePlanSummary>,
}

/// Everything the registry knows about a job: what SHOW JOBS prints, plus the opaque
/// type-specific payloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The id.
    pub id: JobId,
    /// The kind.
    pub job_type: JobType,
    /// SHOW JOBS `description` (the statement, formatted).
    pub description: String,
    /// SHOW JOBS `statement` (may be empty).
    pub statement: String,
    /// Who created it.
    pub user_name: String,
    /// Current status.
    pub status: JobStatus,
    /// Free-text progress detail (`waiting for a node matching locality filter ...`,
    /// `transient error: ...`).
    pub running_status: Option<String>,
    /// In `[0, 1]`.
    pub fraction_completed: f32,
    /// Changefeeds: the resolved timestamp every span has reached.
    pub high_water: Option<Timestamp>,
    /// The coordinator (claim holder), when claimed.
    pub coordinator_id: Option<NodeId>,
    /// The execution-locality filter as written, `None` for "anywhere".
    pub execution_locality: Option<String>,
    /// When created.
    pub created: DateTime<Utc>,
    /// When a coordinator first started it.
    pub started: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished: Option<DateTime<Utc>>,
    /// Last write of the record.
    pub modified: DateTime<Utc>,
    /// When its current (or last) run began.
    pub last_run: Option<DateTime<Utc>>,
    /// How many times a coordinator started the resumer.
    pub num_runs: i64,
    /// The error of a failed (or reverted) job.
    pub error: Option<String>,
    /// The SQLSTATE of `error`, when it has one ([`JobError::code`]); a statement waiting for
    /// the job returns it.
    pub error_code: Option<Code>,
    /// Errors of earlier runs that were retried (transient errors, lost coordinators).
    pub execution_errors: Vec<String>,
    /// Type-specific details, written at creation (opaque).
    pub details: Vec<u8>,
    /// Type-specific checkpoint, written by the coordinator (opaque).
    pub progress: Vec<u8>,
    /// Type-specific result, e.g. row counts (opaque).
    pub result: Vec<u8>,
    /// The last flow plan.
    pub plan: Option<FlowPlanSummary>,
    /// The current claim; `None` while nobody runs the job.
    pub claim: Option<Claim>,
}

impl JobRecord {
    /// The execution-locality filter, parsed; `None` when there is none.
    pub fn filter(&self) -> Option<locality::LocalityFilter> {
        self.execution_locality
            .as_deref()
            .and_then(|f| locality::LocalityFilter::parse(f).ok())
            .filter(|f| !f.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_cockroachdb() {
        use JobStatus::*;
        assert_eq!(
            pause_transition(Running).expect("ok"),
            Transition::To(PauseRequested)
        );
        assert_eq!(pause_transition(Paused).expect("ok"), Transition::NoOp);
        assert_eq!(
            pause_transition(Succeeded).expect_err("err").to_string(),
            "job with status succeeded cannot be requested to be paused"
        );
        assert_eq!(
            resume_transition(Paused).expect("ok"),
            Transition::To(Running)
        );
        assert_eq!(resume_transition(Running).expect("ok"), Transition::NoOp);
        assert_eq!(
            resume_transition(Canceled).expect_err("err").to_string(),
            "job with status canceled cannot be resumed"
        );
        assert_eq!(
            cancel_transition(Paused).expect("ok"),
            Transition::To(CancelRequested)
        );
        assert_eq!(cancel_transition(Canceled).expect("ok"), Transition::NoOp);
        assert_eq!(
            cancel_transition(Succeeded).expect_err("err").to_string(),
            "job with status succeeded cannot be requested to be canceled"
        );
        assert_eq!(
            cancel_transition(Reverting).expect_err("err").to_string(),
            "job with status reverting cannot be requested to be canceled"
        );
    }

    #[test]
    fn status_names() {
        assert_eq!(JobStatus::PauseRequested.as_str(), "pause-requested");
        assert_eq!(JobStatus::RevertFailed.as_str(), "revert-failed");
        assert!(JobStatus::Succeeded.is_terminal());
        assert!(!JobStatus::Paused.is_terminal());
        assert_eq!(JobType::Changefeed.as_str(), "CHANGEFEED");
    }
}
