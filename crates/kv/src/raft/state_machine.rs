//! The state machine of one range: the applier's writes to the engine, plus the applied log id
//! and membership in `Cf::State`, written in the same batch.
//!
//! The state machine *is* the engine, so it is persistent and needs no snapshot files: a
//! snapshot is a consistent engine view ([`SnapshotView`]) taken on the state-machine worker,
//! between two applies, and streamed only when a leader sends it (see `snapshot.rs`). Building
//! a snapshot (which openraft does every [`super::RaftConfig::snapshot_after_logs`] entries)
//! just records the applied log id so the log can be purged behind it.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use base::{NodeId, RangeId};
use futures::{Stream, StreamExt};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use storage::{Cf, Durability, Engine, Reader, WriteBatch};

use super::gate::Gate;
use super::log_store::{decode, encode, io_err};
use super::snapshot::{self, StagedSnapshot, Staging};
use super::{Applier, LogId, Snapshot, SnapshotContent, SnapshotMeta, StoredMembership};
use super::{TypeConfig, keys};
use crate::command::{CommandResult, RaftCommand};

/// What `Cf::State` records of a range's state machine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AppliedState {
    /// The last entry applied.
    pub(crate) last_applied: Option<LogId>,
    /// The last membership applied.
    pub(crate) membership: StoredMembership,
}

fn index_of(state: &AppliedState) -> u64 {
    state.last_applied.as_ref().map_or(0, |l| l.index)
}

/// The applied state of `range` as `reader` sees it.
pub(crate) fn read_applied(reader: &dyn Reader, range: RangeId) -> io::Result<AppliedState> {
    match reader
        .get(Cf::State, &keys::applied(range))
        .map_err(|e| io_err("read applied", e))?
    {
        Some(bytes) => decode(&bytes),
        None => Ok(AppliedState::default()),
    }
}

/// The voters and learners of a membership, as node ids.
pub(crate) fn members(membership: &StoredMembership) -> (Vec<NodeId>, Vec<NodeId>) {
    let voters = membership.voter_ids().map(NodeId).collect();
    let learners = membership.membership().learner_ids().map(NodeId).collect();
    (voters, learners)
}

/// The data of a snapshot as openraft carries it around.
pub(crate) enum SnapshotData {
    /// A consistent view of this node's state machine, streamed when sent.
    View(SnapshotView),
    /// A snapshot received from a leader, staged in a file and checked whole.
    Received(StagedSnapshot),
}

impl std::fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotData::View(v) => write!(f, "View({})", v.range),
            SnapshotData::Received(staged) => write!(f, "Received({})", staged.path().display()),
        }
    }
}

/// A read view of a range's state machine, consistent with an applied log id.
#[derive(Clone)]
pub(crate) struct SnapshotView {
    range: RangeId,
    reader: Arc<dyn Reader>,
    applier: Arc<dyn Applier>,
    /// The applier's content, read when the view was taken (so consistent with it too).
    content: Result<SnapshotContent, String>,
}

impl SnapshotView {
    /// The applier's content of the view: as read when the view was taken, or read now if
    /// that failed (a view taken while the group opened, before kv's replica existed).
    fn content(&self) -> Result<SnapshotContent, String> {
        match &self.content {
            Ok(c) => Ok(c.clone()),
            Err(_) => self.applier.snapshot_content(self.range, &*self.reader),
        }
    }

    /// Streams the view as a snapshot of `meta`, handing chunks of about `chunk` bytes to
    /// `emit`; returns the last chunk. Reads the whole range: call off the async threads.
    pub(crate) fn stream(
        &self,
        meta: &SnapshotMeta,
        chunk: usize,
        emit: &mut dyn FnMut(Vec<u8>) -> Result<(), String>,
    ) -> Result<Vec<u8>, String> {
        snapshot::write_stream(&*self.reader, meta, self.content()?, chunk, emit)
    }

    /// The snapshot of this view: its meta is the applied state the view contains.
    fn snapshot(self) -> io::Result<Option<Snapshot>> {
        let applied = read_applied(&*self.reader, self.range)?;
        if applied.last_applied.is_none() {
            return Ok(None);
        }
        let meta = SnapshotMeta {
            last_log_id: applied.last_applied,
            last_membership: applied.membership,
        };
        Ok(Some(Snapshot {
            meta,
            snapshot: SnapshotData::View(self),
        }))
    }
}

/// The state machine of one range.
pub(crate) struct StateMachine {
    range: RangeId,
    engine: Arc<dyn Engine>,
    applier: Arc<dyn Applier>,
    gate: Gate,
    state: AppliedState,
    /// The applied index as the engine has it, for `RaftGroup::applied_index` (openraft's
    /// metrics learn it a moment later).
    applied_index: Arc<AtomicU64>,
}

/// One applied entry waiting for its batch to be written.
struct Done {
    index: u64,
    command: Option<RaftCommand>,
    result: CommandResult,
    responder: Option<openraft::storage::ApplyResponder<TypeConfig>>,
}

impl StateMachine {
    /// The state machine of `range` as stored in `engine`.
    pub(crate) fn open(
        range: RangeId,
        engine: Arc<dyn Engine>,
        applier: Arc<dyn Applier>,
        gate: Gate,
    ) -> io::Result<StateMachine> {
        let state = read_applied(&*engine, range)?;
        let applied_index = Arc::new(AtomicU64::new(index_of(&state)));
        Ok(StateMachine {
            range,
            engine,
            applier,
            gate,
            state,
            applied_index,
        })
    }

    /// The last applied entry as stored.
    pub(crate) fn last_applied(&self) -> Option<LogId> {
        self.state.last_applied
    }

    /// The index of the last applied entry (0 before any), kept current by every apply.
    pub(crate) fn applied_index(&self) -> Arc<AtomicU64> {
        self.applied_index.clone()
    }

    fn view(&self) -> SnapshotView {
        let reader = self.engine.snapshot();
        let content = self.applier.snapshot_content(self.range, &*reader);
        SnapshotView {
            range: self.range,
            reader,
            applier: self.applier.clone(),
            content,
        }
    }

    /// Writes `batch` with the applied state, then tells the applier and the proposers.
    fn commit(
        &mut self,
        mut batch: WriteBatch,
        done: &mut Vec<Done>,
        membership_changed: bool,
    ) -> io::Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        batch.put(Cf::State, keys::applied(self.range), encode(&self.state)?);
        {
            let _open = self.gate.enter()?;
            self.engine
                .write(batch, Durability::Buffered)
                .map_err(|e| io_err("apply", e))?;
        }
        self.applied_index
            .store(index_of(&self.state), Ordering::Release);
        for d in done.drain(..) {
            if let Some(cmd) = &d.command {
                self.applier.applied(self.range, d.index, cmd, &d.result);
            }
            if let Some(responder) = d.responder {
                responder.send(d.result);
            }
        }
        if membership_changed {
            let (voters, learners) = members(&self.state.membership);
            self.applier
                .membership_changed(self.range, voters, learners);
        }
        Ok(())
    }
}

/// Whether an entry is applied in a batch of its own: a membership change (so the callback
/// order is exact) or a command with a trigger (which may read what earlier entries wrote).
fn applies_alone(entry: &super::Entry) -> bool {
    match &entry.payload {
        EntryPayload::Membership(_) => true,
        EntryPayload::Normal(cmd) => cmd.trigger.is_some(),
        EntryPayload::Blank => false,
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotView;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.state.last_applied, self.state.membership.clone()))
    }

    /// Entries are applied into one engine batch per call, except that an entry which
    /// [`applies_alone`] gets a batch of its own. Responders and `Applier::applied` run after the
    /// batch is written.
    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut batch = WriteBatch::new();
        let mut done = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let alone = applies_alone(&entry);
            if alone {
                self.commit(std::mem::take(&mut batch), &mut done, false)?;
            }
            let log_id = entry.log_id();
            let index = log_id.index();
            let mut result = CommandResult { index, error: None };
            let mut command = None;
            let mut membership_changed = false;
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(cmd) => {
                    result = self.applier.apply(self.range, index, &cmd, &mut batch);
                    result.index = index;
                    command = Some(cmd);
                }
                EntryPayload::Membership(m) => {
                    self.state.membership = StoredMembership::new(Some(log_id), m);
                    membership_changed = true;
                }
            }
            self.state.last_applied = Some(log_id);
            done.push(Done {
                index,
                command,
                result,
                responder,
            });
            if alone {
                self.commit(std::mem::take(&mut batch), &mut done, membership_changed)?;
            }
        }
        self.commit(batch, &mut done, false)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotView {
        self.view()
    }

    /// Installs a snapshot in bounded batches on a blocking thread, crash-safely: see
    /// `snapshot.rs` ("Installing, and crash safety").
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> io::Result<()> {
        let range = self.range;
        let (engine, applier, gate) =
            (self.engine.clone(), self.applier.clone(), self.gate.clone());
        let meta_owned = meta.clone();
        let state = tokio::task::spawn_blocking(move || {
            let staged = match snapshot {
                SnapshotData::Received(staged) => staged,
                SnapshotData::View(view) => {
                    let staging = Staging::of(engine.as_ref());
                    let content = view.content().map_err(|e| io_err("snapshot data", e))?;
                    snapshot::stage_view(&staging, range, &*view.reader, &meta_owned, content)
                        .map_err(|e| io_err("staging a snapshot", e))?
                }
            };
            let target = snapshot::Target {
                range,
                engine,
                applier,
                gate,
                crash_before_write: None,
            };
            snapshot::install(&target, &meta_owned, staged)
        })
        .await
        .map_err(|e| io_err("install snapshot", e))??;
        self.state = state;
        self.applied_index
            .store(index_of(&self.state), Ordering::Release);
        tracing::info!(range = %self.range, applied = ?self.state.last_applied, "installed snapshot");
        let (voters, learners) = members(&self.state.membership);
        self.applier
            .membership_changed(self.range, voters, learners);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        self.view().snapshot()
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotView {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        self.clone()
            .snapshot()?
            .ok_or_else(|| io_err("build snapshot", "nothing applied yet"))
    }
}
