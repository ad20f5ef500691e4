//! Transactions: the client-side coordinator.
//!
//! A [`Txn`] reads at a fixed timestamp and writes intents at its provisional write timestamp.
//! Life of a transaction:
//! 1. [`Txn::begin`] picks the read timestamp from the clock;
//! 2. the first write anchors the transaction at its key and creates a PENDING record there
//!    (`HeartbeatTxn`, sent in one batch — one Raft command — with that write, which lies in
//!    the same range); a background task heartbeats the record so others see it alive;
//! 3. each write leaves an intent; a leaseholder may push the write timestamp above reads it
//!    served or newer versions (the response says so);
//! 4. [`Txn::commit`]: if the write timestamp moved, every span read is refreshed — checked for
//!    writes between the two timestamps — or the transaction must retry (SERIALIZABLE);
//!    then the record becomes COMMITTED in one Raft write (the commit point), which also
//!    resolves the intents in the record's range; the intents in other ranges are resolved
//!    afterwards in the background. A single-row INSERT is thus two Raft writes. Readers that
//!    meet an intent first push the record and resolve it themselves.
//!
//! Isolation: SERIALIZABLE. Reads at a single timestamp, writes above every conflicting read
//! (timestamp cache), and a refresh (or restart) whenever the commit timestamp moves above the
//! read timestamp.
//!
//! Uncertainty: clocks differ by up to the maximum offset, so a value written above the read
//! timestamp may still have been written before the transaction began. Reads carry an
//! uncertainty interval up to the *global limit* (the first read timestamp plus the maximum
//! offset), narrowed on each node by the clock reading the transaction took there first (its
//! observed timestamp, returned with every response). A read that finds a value in the
//! interval fails with `ReadWithinUncertainty`; the transaction then refreshes its earlier
//! reads up to just above that value and reads again there, or restarts (40001) when a
//! refresh fails. The global limit never moves, so the retries end.

use crate::api::*;
use crate::dist_sender::DistSender;
use base::{Key, Span, Timestamp};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use storage::mvcc::TxnMeta;

/// How often a transaction heartbeats its record.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);

/// The most writes [`Txn::write_batch`] puts in one batch (one Raft command).
pub const MAX_BATCH_WRITES: usize = 1024;

/// How many times [`run_txn`] retries a transaction that must restart.
pub const MAX_TXN_RETRIES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Committed,
    Aborted,
}

struct State {
    meta: TxnMeta,
    /// Where the transaction reads; moves up only by a successful refresh.
    read_ts: Timestamp,
    /// The first read timestamp plus the maximum clock offset (at or below `read_ts`: none).
    global_limit: Timestamp,
    /// The clock readings of the nodes visited, taken when the first request arrived there.
    observed: Vec<(base::NodeId, Timestamp)>,
    /// Writes are held back until the commit (or the next read), for a one-phase commit.
    defer: bool,
    /// The writes held back.
    buffered: Vec<Request>,
    /// A held-back conditional write was refused when it was finally sent (see
    /// [`Txn::deferred_write_refused`]).
    deferred_refused: bool,
    anchored: bool,
    write_spans: Vec<Span>,
    read_spans: Vec<Span>,
    status: Status,
}

/// A transaction.
pub struct Txn {
    sender: DistSender,
    state: Arc<Mutex<State>>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Txn {
    /// Starts a transaction reading at the clock's now, with an uncertainty interval up to now
    /// plus the maximum clock offset.
    pub fn begin(sender: &DistSender) -> Txn {
        let now = sender.clock().now();
        let offset = i64::try_from(sender.clock().max_offset().as_nanos()).unwrap_or(i64::MAX);
        let txn = Txn::begin_at(sender, now);
        txn.state.lock().global_limit = now.add_nanos(offset);
        txn
    }

    /// Starts a transaction reading at `read_ts` with an uncertainty interval up to
    /// `global_limit`.
    pub fn begin_with_limit(
        sender: &DistSender,
        read_ts: Timestamp,
        global_limit: Timestamp,
    ) -> Txn {
        let txn = Txn::begin_at(sender, read_ts);
        txn.state.lock().global_limit = global_limit;
        txn
    }

    /// Starts a transaction reading at `read_ts`, with no uncertainty interval (a historical
    /// read: the caller chose the timestamp, so every write it must see is at or below it).
    pub fn begin_at(sender: &DistSender, read_ts: Timestamp) -> Txn {
        let meta = TxnMeta {
            id: uuid::Uuid::new_v4(),
            anchor: Key::MIN,
            epoch: 0,
            write_ts: read_ts,
            min_ts: read_ts,
            priority: rand::random::<u32>(),
        };
        Txn {
            sender: sender.clone(),
            state: Arc::new(Mutex::new(State {
                meta,
                read_ts,
                global_limit: Timestamp::ZERO,
                observed: Vec::new(),
                defer: false,
                deferred_refused: false,
                buffered: Vec::new(),
                anchored: false,
                write_spans: Vec::new(),
                read_spans: Vec::new(),
                status: Status::Open,
            })),
            heartbeat: Mutex::new(None),
        }
    }

    /// Holds writes back until the commit, or until the transaction reads or writes otherwise,
    /// so that a transaction whose writes all fall in one range commits them in one Raft
    /// command with no record and no intents (a one-phase commit). A refused conditional write
    /// then fails the commit, with nothing written; the caller (SQL's implicit transactions)
    /// runs the statement again without deferring to report it where it happened.
    pub fn defer_writes(&self) {
        self.state.lock().defer = true;
    }

    /// Sends the writes held back, as ordinary intents.
    async fn flush(&self) -> Result<(), KvError> {
        let writes = std::mem::take(&mut self.state.lock().buffered);
        if writes.is_empty() {
            return Ok(());
        }
        let result = Box::pin(self.write_batch_now(writes)).await;
        if matches!(result, Err(KvError::ConditionFailed { .. })) {
            self.state.lock().deferred_refused = true;
        }
        result
    }

    /// Whether a conditional write held back by [`Txn::defer_writes`] was refused when it was
    /// sent (at a later read, write or the commit). The error then surfaced far from the write
    /// that caused it; a caller that can run its work again without deferring (SQL's implicit
    /// statements) does so, and the refusal is reported where it happens.
    pub fn deferred_write_refused(&self) -> bool {
        self.state.lock().deferred_refused
    }

    /// The transaction's id.
    pub fn id(&self) -> uuid::Uuid {
        self.state.lock().meta.id
    }

    /// The read timestamp.
    pub fn read_ts(&self) -> Timestamp {
        self.state.lock().read_ts
    }

    /// The current provisional commit timestamp.
    pub fn write_ts(&self) -> Timestamp {
        self.state.lock().meta.write_ts
    }

    fn header(&self) -> Result<Header, KvError> {
        let st = self.state.lock();
        match st.status {
            Status::Open => {}
            Status::Committed => {
                return Err(KvError::Internal("transaction already committed".into()));
            }
            Status::Aborted => {
                return Err(KvError::TxnAborted {
                    reason: "transaction already aborted".into(),
                });
            }
        }
        Ok(Header {
            txn: Some(TxnHeader {
                meta: st.meta.clone(),
                read_ts: st.read_ts,
                global_limit: st.global_limit,
                observed: st.observed.clone(),
            }),
            gateway: self.sender.node_id(),
            ..Default::default()
        })
    }

    async fn send(&self, req: Request) -> Result<Response, KvError> {
        let header = self.header()?;
        let resp = self
            .sender
            .send(BatchRequest {
                header,
                requests: vec![req],
            })
            .await?;
        self.absorb(&resp);
        resp.responses
            .into_iter()
            .next()
            .ok_or_else(|| KvError::Internal("empty response".into()))
    }

    /// Takes what a response tells the transaction: a pushed write timestamp and the serving
    /// nodes' first clock readings.
    fn absorb(&self, resp: &BatchResponse) {
        let mut st = self.state.lock();
        if resp.write_ts > Timestamp::ZERO {
            st.meta.write_ts = st.meta.write_ts.max(resp.write_ts);
        }
        for (node, ts) in &resp.observed {
            if !st.observed.iter().any(|(n, _)| n == node) {
                st.observed.push((*node, *ts));
            }
        }
    }

    /// Sends a read; on a value in its uncertainty interval, refreshes the earlier reads up to
    /// just above that value and reads again there. The span counts as read once it was.
    async fn read(&self, req: Request, span: Span) -> Result<Response, KvError> {
        self.flush().await?;
        loop {
            match self.send(req.clone()).await {
                Ok(resp) => {
                    self.state.lock().read_spans.push(span);
                    return Ok(resp);
                }
                Err(KvError::ReadWithinUncertainty {
                    value_ts,
                    local_limit,
                    ..
                }) => {
                    self.refresh_to(value_ts.next().max(local_limit)).await?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves the read timestamp up to `to` if no span read so far changed in between;
    /// otherwise the transaction must restart.
    async fn refresh_to(&self, to: Timestamp) -> Result<(), KvError> {
        let (from, spans) = {
            let st = self.state.lock();
            (st.read_ts, st.read_spans.clone())
        };
        if to <= from {
            return Ok(());
        }
        for span in spans {
            let req = Request::Refresh { span, from, to };
            if let Err(e) = self.send(req).await {
                return Err(match e {
                    e @ KvError::TxnAborted { .. } => e,
                    other => KvError::TxnRetry {
                        reason: format!(
                            "ReadWithinUncertaintyIntervalError: refresh to {to} failed: {other}"
                        ),
                    },
                });
            }
        }
        let mut st = self.state.lock();
        st.read_ts = st.read_ts.max(to);
        st.meta.write_ts = st.meta.write_ts.max(to);
        Ok(())
    }

    /// Reads a key.
    pub async fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, KvError> {
        let span = Span {
            start: key.clone(),
            end: key.next(),
        };
        // Boxed: the read's retry loop would otherwise deepen every caller's future type.
        match Box::pin(self.read(Request::Get { key: key.clone() }, span)).await? {
            Response::Get(v) => Ok(v.map(|kv| kv.value)),
            other => Err(KvError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Reads a span (up to `max_keys`, 0 = all).
    pub async fn scan(&self, span: &Span, max_keys: usize) -> Result<Vec<KeyValue>, KvError> {
        self.scan_dir(span, max_keys, false).await
    }

    /// Reads a span in either direction.
    pub async fn scan_dir(
        &self,
        span: &Span,
        max_keys: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>, KvError> {
        let req = Request::Scan {
            span: span.clone(),
            max_keys,
            reverse,
        };
        match Box::pin(self.read(req, span.clone())).await? {
            Response::Scan { rows, .. } => Ok(rows),
            other => Err(KvError::Internal(format!("unexpected response {other:?}"))),
        }
    }

    /// Makes `key` the transaction's anchor unless it has one; true when it did.
    fn claim_anchor(&self, key: &Key) -> bool {
        let mut st = self.state.lock();
        if st.anchored {
            return false;
        }
        st.meta.anchor = key.clone();
        st.anchored = true;
        true
    }

    /// Anchors the transaction at `key` with a record of its own Raft write (for writes that
    /// may cross ranges, like `DeleteRange`).
    async fn anchor(&self, key: &Key) -> Result<(), KvError> {
        if self.claim_anchor(key) {
            let now = self.sender.clock().now();
            self.send(Request::HeartbeatTxn { now }).await?;
            self.start_heartbeat();
        }
        Ok(())
    }

    fn start_heartbeat(&self) {
        let sender = self.sender.clone();
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT_INTERVAL).await;
                let header = {
                    let st = state.lock();
                    if st.status != Status::Open {
                        return;
                    }
                    Header {
                        txn: Some(TxnHeader::new(st.meta.clone(), st.meta.min_ts)),
                        ..Default::default()
                    }
                };
                let now = sender.clock().now();
                let req = Request::HeartbeatTxn { now };
                if let Err(KvError::TxnAborted { .. }) = sender
                    .send(BatchRequest {
                        header,
                        requests: vec![req],
                    })
                    .await
                {
                    state.lock().status = Status::Aborted;
                    return;
                }
            }
        });
        *self.heartbeat.lock() = Some(task);
    }

    /// A point write (see [`Txn::write_batch`]).
    async fn write(&self, req: Request) -> Result<(), KvError> {
        self.write_batch(vec![req]).await
    }

    /// Writes several keys (`Put`, `ConditionalPut`, `Delete`): the writes are grouped by
    /// range, keeping their order within each range, and each group is one batch — one
    /// evaluation and one Raft command. The first group also carries the transaction's
    /// record when it has none yet (anchored at the group's first key, so in the same range).
    /// A refused conditional put fails with [`KvError::ConditionFailed`] naming its key;
    /// nothing of its group was written.
    pub async fn write_batch(&self, writes: Vec<Request>) -> Result<(), KvError> {
        {
            let mut st = self.state.lock();
            if st.defer && !st.anchored {
                for w in &writes {
                    write_key(w)?;
                }
                st.buffered.extend(writes);
                return Ok(());
            }
        }
        self.flush().await?;
        self.write_batch_now(writes).await
    }

    async fn write_batch_now(&self, writes: Vec<Request>) -> Result<(), KvError> {
        for w in &writes {
            let key = write_key(w)?;
            self.state.lock().write_spans.push(Span {
                start: key.clone(),
                end: key.next(),
            });
        }
        let mut pending = writes;
        let mut splits = 0;
        while !pending.is_empty() {
            let mut groups = self.group_by_range(std::mem::take(&mut pending)).await?;
            groups.reverse();
            while let Some(group) = groups.pop() {
                match self.send_group(&group).await {
                    Ok(()) => {}
                    // The range split under the batch: group what is left again.
                    Err(KvError::RangeKeyMismatch { .. }) if splits < 8 => {
                        splits += 1;
                        pending = group;
                        while let Some(g) = groups.pop() {
                            pending.extend(g);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Splits writes into per-range groups of at most [`MAX_BATCH_WRITES`], in the order their
    /// ranges first appear.
    async fn group_by_range(&self, writes: Vec<Request>) -> Result<Vec<Vec<Request>>, KvError> {
        let mut groups: Vec<(base::RangeId, Vec<Request>)> = Vec::new();
        for w in writes {
            let desc = self.sender.lookup(write_key(&w)?).await?;
            match groups
                .iter_mut()
                .rev()
                .find(|(id, g)| *id == desc.range_id && g.len() < MAX_BATCH_WRITES)
            {
                Some((_, g)) => g.push(w),
                None => groups.push((desc.range_id, vec![w])),
            }
        }
        Ok(groups.into_iter().map(|(_, g)| g).collect())
    }

    async fn send_group(&self, group: &[Request]) -> Result<(), KvError> {
        let Some(first) = group.first() else {
            return Ok(());
        };
        let key = write_key(first)?.clone();
        let anchoring = self.claim_anchor(&key);
        let mut requests = Vec::with_capacity(group.len() + 1);
        if anchoring {
            requests.push(Request::HeartbeatTxn {
                now: self.sender.clock().now(),
            });
        }
        requests.extend(group.iter().cloned());
        let header = self.header()?;
        match self.sender.send_batch_to_key(header, requests, &key).await {
            Ok(resp) => {
                if anchoring {
                    self.start_heartbeat();
                }
                self.absorb(&resp);
                Ok(())
            }
            Err(e @ (KvError::ConditionFailed { .. } | KvError::RangeKeyMismatch { .. }))
                if anchoring =>
            {
                // Refused before anything was written: the next write anchors instead (the
                // caller may go on, as INSERT ... ON CONFLICT DO NOTHING does).
                let mut st = self.state.lock();
                st.anchored = false;
                st.meta.anchor = Key::MIN;
                Err(e)
            }
            Err(e) => {
                if anchoring {
                    // The record may exist (an ambiguous failure): keep it alive.
                    self.start_heartbeat();
                }
                Err(e)
            }
        }
    }

    /// Writes a key.
    pub async fn put(&self, key: &Key, value: Vec<u8>) -> Result<(), KvError> {
        self.write(Request::Put {
            key: key.clone(),
            value,
        })
        .await
    }

    /// Writes a key only if it currently has `expected` (`None`: only if absent).
    pub async fn cput(
        &self,
        key: &Key,
        value: Vec<u8>,
        expected: Option<Vec<u8>>,
    ) -> Result<(), KvError> {
        self.write(Request::ConditionalPut {
            key: key.clone(),
            value,
            expected,
        })
        .await
    }

    /// Deletes a key.
    pub async fn delete(&self, key: &Key) -> Result<(), KvError> {
        self.write(Request::Delete { key: key.clone() }).await
    }

    /// Deletes every key in a span.
    pub async fn delete_range(&self, span: &Span) -> Result<(), KvError> {
        self.flush().await?;
        self.anchor(&span.start).await?;
        self.state.lock().write_spans.push(span.clone());
        self.send(Request::DeleteRange { span: span.clone() })
            .await
            .map(|_| ())
    }

    /// Commits; returns the commit timestamp. On `TxnRetry`/`TxnAborted` the transaction is
    /// rolled back and the caller may run it again.
    pub async fn commit(&self) -> Result<Timestamp, KvError> {
        if let Some(ts) = Box::pin(self.commit_one_phase()).await? {
            return Ok(ts);
        }
        if let Err(e) = self.flush().await {
            self.rollback().await;
            return Err(e);
        }
        let (anchored, write_ts, read_spans, read_ts) = {
            let st = self.state.lock();
            (
                st.anchored,
                st.meta.write_ts,
                st.read_spans.clone(),
                st.read_ts,
            )
        };
        if !anchored {
            self.state.lock().status = Status::Committed;
            return Ok(read_ts);
        }
        if write_ts > read_ts {
            for span in &read_spans {
                let req = Request::Refresh {
                    span: span.clone(),
                    from: read_ts,
                    to: write_ts,
                };
                if let Err(e) = self.send(req).await {
                    self.rollback().await;
                    return Err(match e {
                        e @ (KvError::TxnRetry { .. } | KvError::TxnAborted { .. }) => e,
                        other => KvError::TxnRetry {
                            reason: format!("refresh failed: {other}"),
                        },
                    });
                }
            }
        }
        let end = Request::EndTxn {
            commit: true,
            commit_ts: write_ts,
            resolve: self.state.lock().write_spans.clone(),
        };
        if let Err(e) = self.send(end).await {
            self.rollback().await;
            return Err(e);
        }
        self.finish(Status::Committed, Resolution::Commit(write_ts), true);
        Ok(write_ts)
    }

    /// Commits the writes held back in one Raft command when they all fall in one range with
    /// every span read; `None` when they cannot (then they are sent as intents as usual).
    async fn commit_one_phase(&self) -> Result<Option<Timestamp>, KvError> {
        let (writes, reads) = {
            let st = self.state.lock();
            if st.anchored || st.buffered.is_empty() || st.buffered.len() > MAX_BATCH_WRITES {
                return Ok(None);
            }
            (st.buffered.clone(), st.read_spans.clone())
        };
        let first = write_key(&writes[0])?.clone();
        let desc = self.sender.lookup(&first).await?;
        let own = desc.span();
        let inside = |k: &Key| own.contains_key(&base::keys::addr(k));
        let all_inside = writes.iter().all(|w| write_key(w).is_ok_and(inside))
            && reads.iter().all(|s| {
                inside(&s.start) && (s.end <= s.start.next() || base::keys::addr(&s.end) <= own.end)
            });
        if !all_inside {
            return Ok(None);
        }
        let mut requests = writes;
        requests.push(Request::CommitOnePhase { refresh: reads });
        let header = self.header()?;
        match self
            .sender
            .send_batch_to_key(header, requests, &first)
            .await
        {
            Ok(resp) => {
                self.absorb(&resp);
                let mut st = self.state.lock();
                st.buffered.clear();
                st.status = Status::Committed;
                Ok(Some(resp.write_ts))
            }
            // The range split since the lookup: commit the ordinary way.
            Err(KvError::RangeKeyMismatch { .. }) => Ok(None),
            Err(e) => {
                // Nothing was written.
                let mut st = self.state.lock();
                st.buffered.clear();
                st.status = Status::Aborted;
                st.deferred_refused |= matches!(e, KvError::ConditionFailed { .. });
                Err(e)
            }
        }
    }

    /// Aborts and removes the transaction's intents.
    pub async fn rollback(&self) {
        self.state.lock().buffered.clear();
        let anchored = self.state.lock().anchored;
        let mut resolved_locally = false;
        if anchored && self.state.lock().status == Status::Open {
            let end = Request::EndTxn {
                commit: false,
                commit_ts: Timestamp::ZERO,
                resolve: self.state.lock().write_spans.clone(),
            };
            resolved_locally = self.send(end).await.is_ok();
        }
        self.finish(Status::Aborted, Resolution::Abort, resolved_locally);
    }

    /// Ends the transaction locally and resolves its intents in the background — except,
    /// when `resolved_locally`, those in the anchor's range, which `EndTxn` resolved. (If the
    /// range split meanwhile, readers that meet a leftover intent resolve it themselves.)
    fn finish(&self, status: Status, resolution: Resolution, resolved_locally: bool) {
        let (mut spans, id, anchor) = {
            let mut st = self.state.lock();
            st.status = status;
            (
                std::mem::take(&mut st.write_spans),
                st.meta.id,
                st.meta.anchor.clone(),
            )
        };
        if let Some(h) = self.heartbeat.lock().take() {
            h.abort();
        }
        if resolved_locally && let Some(desc) = self.sender.cached_range(&anchor) {
            let own = desc.span();
            spans.retain(|s| own.intersect(s).as_ref() != Some(s));
        }
        if spans.is_empty() {
            return;
        }
        let sender = self.sender.clone();
        tokio::spawn(async move {
            for span in spans {
                let req = Request::ResolveIntentRange {
                    span,
                    txn_id: id,
                    resolution,
                };
                let ba = BatchRequest {
                    header: Header::default(),
                    requests: vec![req],
                };
                let _ = sender.send(ba).await;
            }
        });
    }
}

fn write_key(req: &Request) -> Result<&Key, KvError> {
    match req {
        Request::Put { key, .. }
        | Request::ConditionalPut { key, .. }
        | Request::Delete { key } => Ok(key),
        other => Err(KvError::Internal(format!("not a point write: {other:?}"))),
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.lock().take() {
            h.abort();
        }
    }
}

/// An error a transaction's closure may return from [`run_txn`]: the caller's own error type,
/// which every [`KvError`] converts into and which says when it is one, so that `run_txn` can
/// tell a transaction that must restart from a failure to hand back unchanged.
pub trait TxnError: From<KvError> {
    /// The KV error this is, when it is one.
    fn as_kv(&self) -> Option<&KvError>;
}

impl TxnError for KvError {
    fn as_kv(&self) -> Option<&KvError> {
        Some(self)
    }
}

/// Runs `f` in a transaction, retrying when it must restart ([`KvError::is_txn_restart`]),
/// at most [`MAX_TXN_RETRIES`] times. Any other error of `f` (its own type `E`, or a KV
/// error converted into it) rolls the transaction back and is returned as is.
pub async fn run_txn<T, E, F, Fut>(sender: &DistSender, mut f: F) -> Result<T, E>
where
    E: TxnError,
    F: FnMut(Arc<Txn>) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Duration::from_millis(5);
    let mut last = None;
    for _ in 0..MAX_TXN_RETRIES {
        let txn = Arc::new(Txn::begin(sender));
        let result = match f(txn.clone()).await {
            Ok(v) => txn.commit().await.map(|_| v).map_err(E::from),
            Err(e) => {
                txn.rollback().await;
                Err(e)
            }
        };
        match result {
            Err(e) if e.as_kv().is_some_and(KvError::is_txn_restart) => {
                last = Some(e);
                tokio::time::sleep(backoff + Duration::from_millis(rand::random::<u64>() % 10))
                    .await;
                backoff = (backoff * 2).min(Duration::from_millis(200));
            }
            other => return other,
        }
    }
    Err(last.unwrap_or_else(|| {
        E::from(KvError::TxnRetry {
            reason: "too many retries".into(),
        })
    }))
}
