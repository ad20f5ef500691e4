//! The job type the tests run: its behaviour comes from its details ([`Spec`]), and what it
//! did goes to a shared [`Log`].

use std::sync::Arc;
use std::time::Duration;

use base::{NodeId, Span};
use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sextant_jobs::{
    JobContext, JobError, JobType, NewJob, Processor, ProcessorContext, ProgressSender, Registry,
    Resumer,
};

/// The name of the test processor.
pub const PROCESSOR: &str = "test.proc";

/// What a test job does.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Spec {
    /// `total` steps of `step_ms`, checkpointing the step count after each.
    Steps { total: u32, step_ms: u64 },
    /// Fails at once with this text.
    Fail(String),
    /// Fails at once as a transaction that kept having to restart.
    TxnRetry,
    /// Plans `span` and runs the test processor over it; each processor sleeps `per_span_ms`
    /// per span it reports.
    Flow { span: Span, per_span_ms: u64 },
}

/// One thing a resumer or processor did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A resumer started on `node` from checkpoint step `from`.
    Resumed { node: NodeId, from: u32 },
    /// `on_fail_or_cancel` ran on `node` with this reason.
    Reverted { node: NodeId, reason: String },
    /// A processor on `node` was given these spans.
    Processor { node: NodeId, spans: Vec<Span> },
    /// A processor on `node` finished a span.
    SpanDone { node: NodeId, span: Span },
}

/// Events from every node of a cluster.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    pub fn push(&self, e: Event) {
        self.0.lock().push(e);
    }

    pub fn events(&self) -> Vec<Event> {
        self.0.lock().clone()
    }
}

/// A job of the test type.
pub fn job(description: &str, spec: &Spec) -> NewJob {
    let mut j = NewJob::new(JobType::Backup, description);
    j.details = postcard::to_stdvec(spec).expect("encode spec");
    j
}

pub fn register(reg: &Registry, log: &Log) {
    reg.register_resumer(JobType::Backup, Arc::new(TestResumer { log: log.clone() }));
    reg.register_processor(PROCESSOR, Arc::new(TestProcessor { log: log.clone() }));
}

struct TestResumer {
    log: Log,
}

impl Resumer for TestResumer {
    fn resume(&self, ctx: JobContext) -> BoxFuture<'static, Result<(), JobError>> {
        let log = self.log.clone();
        async move {
            let spec: Spec = postcard::from_bytes(&ctx.details())
                .map_err(|e| JobError::failed(format!("bad details: {e}")))?;
            let from = ctx
                .progress()
                .try_into()
                .map(u32::from_be_bytes)
                .unwrap_or(0);
            let node = ctx.node().node_id();
            log.push(Event::Resumed { node, from });
            match spec {
                Spec::Steps { total, step_ms } => {
                    for step in from..total {
                        tokio::time::sleep(Duration::from_millis(step_ms)).await;
                        let done = step + 1;
                        ctx.update_progress(
                            done as f32 / total as f32,
                            done.to_be_bytes().to_vec(),
                        )
                        .await?;
                    }
                    ctx.set_result(format!("{total} steps").into_bytes()).await
                }
                Spec::Fail(msg) => Err(JobError::failed(msg)),
                Spec::TxnRetry => Err(kv::KvError::TxnRetry {
                    reason: "too many retries".into(),
                }
                .into()),
                Spec::Flow { span, per_span_ms } => {
                    let plan = ctx.plan_spans(vec![span]).await?;
                    let spec = per_span_ms.to_be_bytes().to_vec();
                    let mut done = 0u32;
                    ctx.run_flow(plan, PROCESSOR, spec, |_node, msg| {
                        done += 1;
                        postcard::from_bytes::<Span>(&msg).into_iter().collect()
                    })
                    .await?;
                    ctx.set_result(format!("{done} spans").into_bytes()).await
                }
            }
        }
        .boxed()
    }

    fn on_fail_or_cancel(
        &self,
        ctx: JobContext,
        reason: &JobError,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        self.log.push(Event::Reverted {
            node: ctx.node().node_id(),
            reason: reason.to_string(),
        });
        async { Ok(()) }.boxed()
    }
}

struct TestProcessor {
    log: Log,
}

impl Processor for TestProcessor {
    fn run(
        &self,
        ctx: ProcessorContext,
        spec: Vec<u8>,
        spans: Vec<Span>,
        progress: ProgressSender,
    ) -> BoxFuture<'static, Result<(), JobError>> {
        let log = self.log.clone();
        async move {
            let per_span_ms = spec.try_into().map(u64::from_be_bytes).unwrap_or(0);
            let node = ctx.node_id();
            log.push(Event::Processor {
                node,
                spans: spans.clone(),
            });
            for span in spans {
                tokio::time::sleep(Duration::from_millis(per_span_ms)).await;
                let msg =
                    postcard::to_stdvec(&span).map_err(|e| JobError::failed(e.to_string()))?;
                progress.send(msg).await?;
                log.push(Event::SpanDone { node, span });
            }
            Ok(())
        }
        .boxed()
    }
}
