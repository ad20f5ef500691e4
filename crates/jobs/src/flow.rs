//! Distributed flows: one processor per node of a [`FlowPlan`], progress streamed back to the
//! coordinator, and re-planning when a processor's node dies.
//!
//! # The life of a flow
//!
//! 1. The coordinator's resumer calls [`crate::JobContext::plan_spans`], then
//!    [`crate::JobContext::run_flow`] with a processor name, an opaque spec and a progress
//!    callback.
//! 2. `run_flow` stores the plan's summary in the job record and opens one `jobs.flow` stream
//!    per node of the plan ([`FlowRequest`]): that node's [`Processor`] (registered under the
//!    name with [`crate::Registry::register_processor`]) runs over the node's spans.
//! 3. The processor sends opaque messages with [`ProgressSender::send`]; they arrive at the
//!    coordinator's callback as `(node, bytes)`. The callback returns the spans the message
//!    reports finished (often none): that is how the flow knows what is left if the node dies.
//!    Sending waits while the coordinator is behind (a bounded channel, then the stream's
//!    flow control), so a slow coordinator slows its processors instead of filling memory.
//! 4. A processor's `Ok(())` ends its stream with [`FlowItem::Done`]; its error ends it with
//!    [`FlowItem::Failed`] and fails the whole flow.
//! 5. A stream that breaks without either (the node died or became unreachable) is a lost
//!    processor: the coordinator subtracts the finished spans from what the node was given,
//!    re-plans the rest over the eligible nodes other than the lost ones, and starts
//!    processors for them. After [`MAX_REPLANS`] losses the flow fails with a transient error,
//!    so the registry retries the job from its checkpoint.
//! 6. The flow returns when every processor is done; dropping it (pause, cancel, a lost claim)
//!    drops the streams, which cancels the processors on their nodes.

use base::{NodeId, Span};
use futures::future::BoxFuture;
use kv::KvNode;
use locality::Locality;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{JobError, JobId};

pub use crate::plan::FlowPlan;

/// How many lost processors one flow re-plans before failing (transiently).
pub const MAX_REPLANS: usize = 16;

/// Progress messages buffered between a processor and its stream.
pub const PROGRESS_BUFFER: usize = 16;

/// The RPC method that runs a processor.
pub const FLOW_METHOD: &str = "jobs.flow";

/// Work that runs on the nodes of a flow plan, registered per name on every node.
pub trait Processor: Send + Sync {
    /// Processes `spans` according to `spec` (opaque, type-specific), reporting progress
    /// through `progress`. Dropped if the coordinator goes away.
    fn run(
        &self,
        ctx: ProcessorContext,
        spec: Vec<u8>,
        spans: Vec<Span>,
        progress: ProgressSender,
    ) -> BoxFuture<'static, Result<(), JobError>>;
}

/// What a processor knows about where it runs.
#[derive(Clone)]
pub struct ProcessorContext {
    pub(crate) node: KvNode,
    pub(crate) job_id: JobId,
    pub(crate) coordinator: NodeId,
}

impl ProcessorContext {
    /// The local KV node (its DistSender reads from the replica closest to it).
    pub fn node(&self) -> &KvNode {
        &self.node
    }

    /// The job.
    pub fn job_id(&self) -> JobId {
        self.job_id
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node.node_id()
    }

    /// This node's locality.
    pub fn locality(&self) -> &Locality {
        self.node.locality()
    }

    /// The coordinator that started the processor.
    pub fn coordinator(&self) -> NodeId {
        self.coordinator
    }
}

/// A processor's channel to the coordinator.
#[derive(Clone)]
pub struct ProgressSender {
    pub(crate) tx: mpsc::Sender<Vec<u8>>,
}

impl ProgressSender {
    /// Sends one opaque progress message; waits while the coordinator is behind. Fails when
    /// the coordinator is gone (the processor should stop).
    pub async fn send(&self, msg: Vec<u8>) -> Result<(), JobError> {
        self.tx
            .send(msg)
            .await
            .map_err(|_| JobError::Rpc("flow coordinator went away".into()))
    }
}

/// `jobs.flow`: run a processor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FlowRequest {
    /// The job.
    pub job_id: JobId,
    /// The registered processor name.
    pub processor: String,
    /// Its opaque spec.
    pub spec: Vec<u8>,
    /// The spans it processes.
    pub spans: Vec<Span>,
}

/// One item of a `jobs.flow` stream.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum FlowItem {
    /// A progress message.
    Progress(Vec<u8>),
    /// The processor finished.
    Done,
    /// The processor failed.
    Failed(JobError),
}
