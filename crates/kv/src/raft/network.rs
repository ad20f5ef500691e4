//! The client side of raft messages: openraft's network traits over `rpc`.
//!
//! One [`NetworkFactory`] per group makes one [`Network`] per peer. A call becomes an rpc
//! unary call of [`super::wire`]'s methods, bounded by openraft's soft timeout. rpc errors map
//! onto openraft's: transport failures, a missing group and a stopped group are `Unreachable`
//! (openraft backs off), a timeout is `Timeout`, anything else `Network`. A snapshot is
//! streamed in chunks as it is read from the engine (`snapshot.rs`).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base::{NodeId, RangeId};
use openraft::error::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::{EmptyNode, OptionalSend, RaftNetworkV2};
use rpc::{RpcError, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::router::RaftTransport;
use super::state_machine::SnapshotData;
use super::wire::{self, RaftRequest, RaftWireError, SnapshotChunk};
use super::{Snapshot, TypeConfig, Vote};

/// Chunk size when openraft does not give one.
const FALLBACK_CHUNK_SIZE: usize = 4 << 20;

/// Makes the per-peer clients of one group.
pub(crate) struct NetworkFactory {
    transport: RaftTransport,
    range: RangeId,
    min_timeout: Duration,
    epoch: Arc<AtomicU64>,
}

impl NetworkFactory {
    /// `min_timeout` is the least a call may take before it times out (see [`Network::call`]);
    /// `epoch` is the group's quiescence epoch, stamped on every message (see
    /// [`RaftRequest::epoch`]).
    pub(crate) fn new(
        transport: RaftTransport,
        range: RangeId,
        min_timeout: Duration,
        epoch: Arc<AtomicU64>,
    ) -> NetworkFactory {
        NetworkFactory {
            transport,
            range,
            min_timeout,
            epoch,
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: u64, _node: &EmptyNode) -> Network {
        Network {
            transport: self.transport.clone(),
            range: self.range,
            target,
            min_timeout: self.min_timeout,
            epoch: self.epoch.clone(),
        }
    }
}

/// One group's client to one peer.
pub(crate) struct Network {
    transport: RaftTransport,
    range: RangeId,
    target: u64,
    min_timeout: Duration,
    epoch: Arc<AtomicU64>,
}

/// What a failed call becomes, before it is fitted to the caller's error type.
enum Failure {
    Unreachable(String),
    Timeout(Duration),
    Network(String),
}

impl Failure {
    fn of(err: RpcError) -> Failure {
        match err {
            RpcError::Timeout { after, .. } => Failure::Timeout(after),
            e if e.is_retryable() => Failure::Unreachable(e.to_string()),
            e => match e.app_error::<RaftWireError>() {
                Some(
                    w @ (RaftWireError::RangeNotFound(_)
                    | RaftWireError::Stopped(_)
                    | RaftWireError::WrongNode { .. }),
                ) => Failure::Unreachable(w.to_string()),
                _ => Failure::Network(e.to_string()),
            },
        }
    }
}

impl Network {
    fn timeout(&self, action: RPCTypes, after: Duration) -> Timeout<TypeConfig> {
        Timeout {
            action,
            id: self.transport.node_id().0,
            target: self.target,
            timeout: after,
        }
    }

    fn rpc_error(&self, action: RPCTypes, f: Failure) -> RPCError<TypeConfig> {
        match f {
            Failure::Unreachable(m) => RPCError::Unreachable(Unreachable::from_string(m)),
            Failure::Timeout(after) => RPCError::Timeout(self.timeout(action, after)),
            Failure::Network(m) => RPCError::Network(NetworkError::from_string(m)),
        }
    }

    fn streaming_error(&self, f: Failure) -> StreamingError<TypeConfig> {
        match f {
            Failure::Unreachable(m) => StreamingError::Unreachable(Unreachable::from_string(m)),
            Failure::Timeout(after) => {
                StreamingError::Timeout(self.timeout(RPCTypes::InstallSnapshot, after))
            }
            Failure::Network(m) => StreamingError::Network(NetworkError::from_string(m)),
        }
    }

    /// One rpc call. openraft's timeout for appends is the heartbeat interval, which a loaded
    /// node (a slow fsync, many groups) overruns, and every overrun sends the entries again: a
    /// call gets at least `min_timeout` (the election timeout). Heartbeats stay bounded by
    /// openraft's own timer.
    async fn call<Req, Resp>(
        &self,
        method: &str,
        body: Req,
        timeout: Duration,
    ) -> Result<Resp, Failure>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
    {
        let timeout = timeout.max(self.min_timeout);
        let req = RaftRequest {
            range: self.range,
            to: self.target,
            epoch: self.epoch.load(Ordering::Acquire),
            body,
        };
        let target = Target::Node(NodeId(self.target));
        self.transport
            .rpc()
            .call_timeout(target, method, &req, timeout)
            .await
            .map_err(Failure::of)
    }

    /// Streams a snapshot: a blocking thread reads it (from the engine view, or from the file a
    /// received snapshot is staged in) and hands out chunks through a channel of one slot, and
    /// each is sent as it comes, so a few chunks at most are in memory. Dropping this future
    /// (openraft cancels a transfer) closes the channel, which stops the reader.
    async fn send_snapshot(
        &self,
        vote: Vote,
        snapshot: Snapshot,
        option: &RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let chunk_size = option
            .snapshot_chunk_size()
            .unwrap_or(FALLBACK_CHUNK_SIZE)
            .max(1);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(Vec<u8>, bool), String>>(1);
        let meta = snapshot.meta;
        let data = snapshot.snapshot;
        tokio::task::spawn_blocking(move || {
            let mut emit = |chunk: Vec<u8>| {
                tx.blocking_send(Ok((chunk, false)))
                    .map_err(|_| "snapshot transfer cancelled".to_string())
            };
            let last = match &data {
                SnapshotData::View(view) => view.stream(&meta, chunk_size, &mut emit),
                SnapshotData::Received(staged) => read_chunks(staged.path(), chunk_size, &mut emit),
            };
            let _ = tx.blocking_send(last.map(|chunk| (chunk, true)));
        });
        let id = rand::random::<u64>();
        let timeout = option.soft_ttl();
        let mut offset = 0u64;
        while let Some(next) = rx.recv().await {
            let (chunk, done) = next.map_err(|e| {
                self.streaming_error(Failure::Network(format!("snapshot data: {e}")))
            })?;
            let len = chunk.len() as u64;
            let body = SnapshotChunk {
                vote,
                id,
                offset,
                data: chunk,
                done,
            };
            let resp: Option<SnapshotResponse<TypeConfig>> = self
                .call(wire::SNAPSHOT, body, timeout)
                .await
                .map_err(|f| self.streaming_error(f))?;
            offset += len;
            if done {
                return resp.ok_or_else(|| {
                    self.streaming_error(Failure::Network("no answer to the last chunk".into()))
                });
            }
        }
        Err(self.streaming_error(Failure::Network("snapshot stream ended early".into())))
    }
}

/// Reads a staged snapshot in chunks of `chunk_size`, handing all but the last to `emit`.
fn read_chunks(
    path: &std::path::Path,
    chunk_size: usize,
    emit: &mut dyn FnMut(Vec<u8>) -> Result<(), String>,
) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut chunk = vec![0u8; chunk_size];
    let mut filled = 0;
    loop {
        let n = file
            .read(&mut chunk[filled..])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if n == 0 {
            chunk.truncate(filled);
            return Ok(chunk);
        }
        filled += n;
        if filled == chunk_size {
            emit(std::mem::replace(&mut chunk, vec![0u8; chunk_size]))?;
            filled = 0;
        }
    }
}

impl RaftNetworkV2<TypeConfig> for Network {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(wire::APPEND, rpc, option.soft_ttl())
            .await
            .map_err(|f| self.rpc_error(RPCTypes::AppendEntries, f))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(wire::VOTE, rpc, option.soft_ttl())
            .await
            .map_err(|f| self.rpc_error(RPCTypes::Vote, f))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(wire::PRE_VOTE, rpc, option.soft_ttl())
            .await
            .map_err(|f| self.rpc_error(RPCTypes::Vote, f))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        tokio::select! {
            res = self.send_snapshot(vote, snapshot, &option) => res,
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call(wire::TRANSFER_LEADER, req, option.soft_ttl())
            .await
            .map_err(|f| self.rpc_error(RPCTypes::TransferLeader, f))
    }
}
