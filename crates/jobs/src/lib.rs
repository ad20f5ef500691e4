#![recursion_limit = "256"]
//! Sextant's job registry: long-running jobs (BACKUP, RESTORE, CHANGEFEED) that survive node
//! failures, run where their execution locality allows, and spread their work over the
//! cluster in balanced distributed flows.
//!
//! # Concepts
//!
//! - A **job record** ([`JobRecord`]) lives in the system key space (`/System/jobs/<id>`,
//!   [`store`]) and carries everything SHOW JOBS prints, the opaque type-specific `details`
//!   (written at creation), `progress` (the checkpoint) and `result`, and the job's last
//!   [`FlowPlanSummary`]. Every change is a read-modify-write in a KV transaction.
//! - A **claim** ([`record::Claim`]: node, registry session, epoch) names the job's
//!   coordinator. It holds while the node is live (KV node liveness) and runs the same
//!   registry session; every write the coordinator makes checks it, so a node that lost its
//!   claim can never overwrite a newer coordinator's progress.
//! - A **resumer** ([`Resumer`]) is the per-type code the coordinator runs, given a
//!   [`JobContext`]; a **processor** ([`Processor`]) is the per-type code a flow runs on each
//!   node of a plan. Both are registered on every node under their type or name.
//! - A **plan** ([`FlowPlan`], [`plan::partition`]) assigns every range of the job's spans to
//!   a live node matching the filter: the leaseholder, else a replica holder, else the most
//!   similar node, with a cap of 1.25 × the mean ranges per node.
//!
//! # The life of a job
//!
//! 1. [`Registry::create_job`] on the gateway checks the execution-locality filter against the
//!    live nodes first: no match fails with CockroachDB's `no instances found matching
//!    locality filter <f>` and nothing is written. It writes the record (`running`,
//!    unclaimed) and picks the coordinator: among live matching nodes, the one with the
//!    fewest running coordinators (ties: the gateway if it matches, else the lowest id).
//! 2. The gateway hands the job over at once with the `jobs.adopt` RPC (no adoption-loop
//!    delay). The target claims it in a transaction ([`Registry::adopt`]) and starts its
//!    run loop, which calls [`Resumer::resume`].
//! 3. The resumer reads its details and checkpoint, plans its spans
//!    ([`JobContext::plan_spans`]) and runs a flow ([`JobContext::run_flow`]): one processor
//!    per planned node over the `jobs.flow` stream, progress back to the coordinator, and the
//!    spans of a processor whose node dies re-planned onto the other matching nodes. It
//!    checkpoints with [`JobContext::update_progress`].
//! 4. `Ok(())` from the resumer makes the job `succeeded`; an error makes it `reverting`,
//!    runs [`Resumer::on_fail_or_cancel`], and ends in `failed` with the error text and its
//!    SQLSTATE ([`JobError::code`], when it has one); [`JobError::Transient`] restarts the
//!    resumer after a backoff.
//! 5. [`Registry::pause`] / [`Registry::cancel`] write `pause-requested` /
//!    `cancel-requested` and signal the coordinator over `jobs.signal`; its resumer future is
//!    dropped and the job becomes `paused`, or `reverting` then `canceled`.
//!    [`Registry::resume`] sets a paused job `running` and hands it to a matching node as in
//!    step 2.
//! 6. If the coordinator dies, its liveness lapses and the **adoption loop** of every node
//!    ([`RegistryConfig::adopt_interval`], 1.5 s by default) finds the job; a node matching
//!    the filter claims it and resumes from the last checkpoint.
//! 7. [`Registry::wait_for_job`] returns the record once the job is terminal, from any node.
//!
//! # Decisions
//!
//! - **No matching node after creation** (every matching node died, or RESUME of a job whose
//!   region is down): the job stays `running` without a claim and its running status reads
//!   `waiting for a node matching locality filter <f>`; the adoption loop starts it as soon
//!   as a matching node is live. CockroachDB fails such jobs; waiting is what users asked for
//!   (crdb-behaviour §10.6). At creation it is still the error of step 1.
//! - **No spurious relocation errors.** A job never runs on a node outside its filter, so
//!   there is no "relocated" error to return; a statement waits with `wait_for_job`.
//! - `on_fail_or_cancel` also runs only on a matching node.

mod context;
mod error;
pub mod flow;
pub mod plan;
#[cfg(test)]
mod plan_golden;
pub mod record;
mod registry;
mod resumer;
pub mod span_set;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use context::{JobContext, StopReason};
pub use error::JobError;
pub use flow::{FlowItem, FlowRequest, Processor, ProcessorContext, ProgressSender};
pub use plan::{AssignReason, FlowPlan, NodePlan, PlanInput, PlanNode, PlanRange, RangeAssignment};
pub use record::{Claim, FlowPlanSummary, JobId, JobRecord, JobStatus, JobType, NodePlanSummary};
pub use registry::{
    ADOPT_METHOD, DEFAULT_ADOPT_INTERVAL, DEFAULT_RETRY_BACKOFF, NewJob, Registry, RegistryConfig,
    SIGNAL_METHOD, WAITING_PREFIX,
};
pub use resumer::Resumer;
