//! Coalesced fsyncs: one engine sync for every log append waiting at the moment.
//!
//! A log append writes its entries to the engine at once (buffered, so readers see them as
//! openraft requires), then asks the [`Syncer`] to report it flushed. The syncer task takes
//! every request queued, syncs the engine once on a blocking thread, and completes them all.
//! With many groups on a node this turns one fsync per append into one per round, whichever
//! groups the appends belong to. The engine's journal makes buffered writes durable in the
//! order they were made, so a sync covers every write before it.

use std::io;
use std::sync::{Arc, Weak};

use storage::Engine;
use tokio::sync::{mpsc, oneshot};

type Waiter = Box<dyn FnOnce(Result<(), String>) + Send>;

/// A handle to the sync task of one engine. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Syncer {
    tx: mpsc::UnboundedSender<Waiter>,
}

impl Syncer {
    /// Starts the sync task of `engine`. It ends when every handle is dropped; it does not keep
    /// the engine alive.
    pub(crate) fn spawn(engine: &Arc<dyn Engine>) -> Syncer {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(Arc::downgrade(engine), rx));
        Syncer { tx }
    }

    /// Calls `done` once every write made so far is durable (or the sync failed).
    pub(crate) fn after_sync(&self, done: impl FnOnce(Result<(), String>) + Send + 'static) {
        if let Err(mpsc::error::SendError(done)) = self.tx.send(Box::new(done)) {
            done(Err("sync task stopped".to_string()));
        }
    }

    /// Waits until every write made so far is durable.
    pub(crate) async fn sync(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.after_sync(move |res| {
            let _ = tx.send(res);
        });
        match rx.await {
            Ok(res) => res.map_err(io::Error::other),
            Err(_) => Err(io::Error::other("sync task stopped")),
        }
    }
}

async fn run(engine: Weak<dyn Engine>, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut waiters = Vec::new();
    while rx.recv_many(&mut waiters, usize::MAX).await > 0 {
        let result = match engine.upgrade() {
            Some(engine) => match tokio::task::spawn_blocking(move || engine.sync()).await {
                Ok(res) => res.map_err(|e| e.to_string()),
                Err(e) => Err(format!("sync task failed: {e}")),
            },
            None => Err("engine dropped".to_string()),
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, "engine sync failed");
        }
        for waiter in waiters.drain(..) {
            waiter(result.clone());
        }
    }
}
