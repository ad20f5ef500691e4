//! The DistSender: sends a client's batch to the ranges that hold its keys.
//!
//! Life of a batch ([`DistSender::send`]):
//! 1. each request is cut at range boundaries ([`DistSender::lookup`] reads meta records from
//!    range 1 and caches descriptors);
//! 2. the pieces for one range go together to a replica chosen by the oracle
//!    ([`order_replicas`]): the cached leaseholder first for writes and fresh reads, the replica
//!    closest to this node (longest shared locality prefix) first for follower reads;
//! 3. routing errors retry: `NotLeaseholder` follows the hint, `RangeKeyMismatch` evicts the
//!    cache entry and re-splits, an unreachable node moves on to the next replica, a follower
//!    that cannot serve the timestamp sends the read to the leaseholder;
//! 4. conflicting intents are resolved ([`DistSender::resolve_conflicts`]): the intent's
//!    transaction is pushed at its record; a finished transaction's intent is committed or
//!    removed, a live one is waited for (an older pusher aborts a younger pushee, so waits never
//!    form a cycle), then the request is retried;
//! 5. responses are merged back into request order.

use crate::api::*;
use crate::store::{RangefeedRequest, Store};
use base::keys::{self, META_RANGE_END};
use base::{
    Clock, Key, NodeDescriptor, NodeId, RangeDescriptor, ReplicaDescriptor, ReplicaType, Span,
    Timestamp,
};
use locality::Locality;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use storage::mvcc::Intent;

/// How long a batch keeps retrying routing errors before it reports the range unavailable.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// What the DistSender knows about nodes: addresses, localities and liveness.
#[derive(Default)]
pub struct NodeDirectory {
    nodes: RwLock<BTreeMap<NodeId, (NodeDescriptor, bool)>>,
}

impl NodeDirectory {
    /// Records (or replaces) a node and whether it is live.
    pub fn upsert(&self, desc: NodeDescriptor, live: bool) {
        self.nodes.write().insert(desc.node_id, (desc, live));
    }

    /// A node's descriptor.
    pub fn get(&self, id: NodeId) -> Option<NodeDescriptor> {
        self.nodes.read().get(&id).map(|(d, _)| d.clone())
    }

    /// Every node with its liveness.
    pub fn all(&self) -> Vec<(NodeDescriptor, bool)> {
        self.nodes.read().values().cloned().collect()
    }

    /// True when the node is known and live.
    pub fn is_live(&self, id: NodeId) -> bool {
        self.nodes.read().get(&id).is_some_and(|(_, l)| *l)
    }

    /// The locality of a node (empty if unknown).
    pub fn locality(&self, id: NodeId) -> Locality {
        self.nodes
            .read()
            .get(&id)
            .map(|(d, _)| d.locality.clone())
            .unwrap_or_default()
    }
}

impl rpc::Resolver for NodeDirectory {
    fn address(&self, node: NodeId) -> Option<String> {
        self.nodes.read().get(&node).map(|(d, _)| d.address.clone())
    }
}

#[derive(Clone, Debug)]
struct CachedRange {
    desc: RangeDescriptor,
    leaseholder: Option<NodeId>,
}

/// Sends batches to ranges.
#[derive(Clone)]
pub struct DistSender {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: NodeId,
    locality: Locality,
    rpc: rpc::Rpc,
    local: RwLock<Option<Store>>,
    nodes: Arc<NodeDirectory>,
    clock: Arc<dyn Clock>,
    /// Cached ranges by end key.
    cache: RwLock<BTreeMap<Key, CachedRange>>,
    timeout: Duration,
}

impl DistSender {
    /// A sender for node `node_id` at `locality`.
    pub fn new(
        node_id: NodeId,
        locality: Locality,
        rpc: rpc::Rpc,
        nodes: Arc<NodeDirectory>,
        clock: Arc<dyn Clock>,
    ) -> DistSender {
        DistSender {
            inner: Arc::new(Inner {
                node_id,
                locality,
                rpc,
                local: RwLock::new(None),
                nodes,
                clock,
                cache: RwLock::new(BTreeMap::new()),
                timeout: DEFAULT_SEND_TIMEOUT,
            }),
        }
    }

    /// Lets batches for local replicas skip the network.
    pub fn set_local_store(&self, store: Store) {
        *self.inner.local.write() = Some(store);
    }

    /// The node directory.
    pub fn nodes(&self) -> &Arc<NodeDirectory> {
        &self.inner.nodes
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// Sends a batch whose requests may span several ranges.
    pub async fn send(&self, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut out = BatchResponse {
            served_by: self.inner.node_id,
            ..Default::default()
        };
        for req in &ba.requests {
            let resp = self.send_one(&ba.header, req, deadline, &mut out).await?;
            out.responses.push(resp);
        }
        Ok(out)
    }

    /// Sends several requests as one batch — one evaluation and, for writes, one Raft
    /// command — to the range containing `key`. Every request must address that range (a
    /// transaction's record anchored at `key` and a write of `key`, for instance).
    pub async fn send_batch_to_key(
        &self,
        header: Header,
        requests: Vec<Request>,
        key: &Key,
    ) -> Result<BatchResponse, KvError> {
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        self.send_to_key(&header, requests, &keys::addr(key), deadline)
            .await
    }

    /// The cached descriptor of the range containing `key`, if any (no lookup).
    pub fn cached_range(&self, key: &Key) -> Option<RangeDescriptor> {
        self.cached(&keys::addr(key))
    }

    async fn send_one(
        &self,
        header: &Header,
        req: &Request,
        deadline: tokio::time::Instant,
        out: &mut BatchResponse,
    ) -> Result<Response, KvError> {
        let span = req.span();
        let is_range = matches!(
            req,
            Request::Scan { .. }
                | Request::DeleteRange { .. }
                | Request::ResolveIntentRange { .. }
                | Request::Refresh { .. }
                | Request::Export { .. }
        );
        if !is_range {
            let anchor = match req {
                Request::HeartbeatTxn { .. } | Request::EndTxn { .. } => header
                    .txn
                    .as_ref()
                    .map(|t| t.meta.anchor.clone())
                    .unwrap_or_default(),
                _ => keys::addr(&span.start),
            };
            let resp = self
                .send_to_key(header, vec![req.clone()], &anchor, deadline)
                .await?;
            out.write_ts = out.write_ts.max(resp.write_ts);
            out.served_by = resp.served_by;
            out.observed.extend(resp.observed);
            return resp
                .responses
                .into_iter()
                .next()
                .ok_or_else(|| KvError::Internal("empty response".into()));
        }
        // Range requests: walk the ranges covering the span (in reverse for reverse scans).
        let reverse = matches!(req, Request::Scan { reverse: true, .. });
        let mut remaining = span.clone();
        let mut rows = Vec::new();
        let mut exported = Vec::new();
        let limit = match req {
            Request::Scan { max_keys, .. } => *max_keys,
            _ => 0,
        };
        loop {
            if remaining.is_empty() {
                break;
            }
            let probe = if reverse {
                self.key_before(&remaining.end)
            } else {
                remaining.start.clone()
            };
            let desc = self.lookup(&probe).await?;
            let Some(piece) = remaining.intersect(&desc.span()) else {
                self.evict(&desc);
                continue;
            };
            let sub = with_span(req, &piece, limit.saturating_sub(rows.len()));
            let resp = match self.send_to_key(header, vec![sub], &probe, deadline).await {
                Ok(resp) => resp,
                // The piece was clipped to a descriptor that is out of date (the range split
                // or merged): clip again with the replica's.
                Err(KvError::RangeKeyMismatch { descriptor, .. })
                    if tokio::time::Instant::now() < deadline =>
                {
                    self.evict(&desc);
                    if let Some(d) = descriptor {
                        self.insert(d, None);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            out.write_ts = out.write_ts.max(resp.write_ts);
            out.served_by = resp.served_by;
            out.observed.extend(resp.observed);
            match resp.responses.into_iter().next() {
                Some(Response::Scan { rows: r, resume }) => {
                    rows.extend(r);
                    if let Some(resume) = resume {
                        let rest = if reverse {
                            Span {
                                start: remaining.start.clone(),
                                end: resume.end,
                            }
                        } else {
                            Span {
                                start: resume.start,
                                end: remaining.end.clone(),
                            }
                        };
                        return Ok(Response::Scan {
                            rows,
                            resume: Some(rest),
                        });
                    }
                    if limit > 0 && rows.len() >= limit {
                        let rest = if reverse {
                            Span {
                                start: remaining.start.clone(),
                                end: piece.start.clone(),
                            }
                        } else {
                            Span {
                                start: piece.end.clone(),
                                end: remaining.end.clone(),
                            }
                        };
                        let resume = (!rest.is_empty()).then_some(rest);
                        return Ok(Response::Scan { rows, resume });
                    }
                }
                Some(Response::Export { entries, resume }) => {
                    exported.extend(entries);
                    if let Some(k) = resume {
                        return Ok(Response::Export {
                            entries: exported,
                            resume: Some(k),
                        });
                    }
                }
                Some(_) => {}
                None => return Err(KvError::Internal("empty response".into())),
            }
            if reverse {
                remaining.end = piece.start;
            } else {
                remaining.start = piece.end;
            }
        }
        Ok(match req {
            Request::Scan { .. } => Response::Scan { rows, resume: None },
            Request::Export { .. } => Response::Export {
                entries: exported,
                resume: None,
            },
            _ => Response::Ok,
        })
    }

    fn key_before(&self, end: &Key) -> Key {
        // The range holding the last key below `end`: look up with a key just below it.
        let mut k = end.0.clone();
        match k.pop() {
            Some(0) | None => Key(k),
            Some(b) => {
                k.push(b - 1);
                k.extend_from_slice(&[0xff; 8]);
                Key(k)
            }
        }
    }

    /// Sends requests that all lie in the range containing `key`, retrying routing errors and
    /// resolving conflicting intents, until `deadline`.
    async fn send_to_key(
        &self,
        header: &Header,
        requests: Vec<Request>,
        key: &Key,
        deadline: tokio::time::Instant,
    ) -> Result<BatchResponse, KvError> {
        let mut backoff = Duration::from_millis(10);
        let mut routing = header.routing;
        let mut last_err =
            KvError::Unavailable(format!("no replica of the range of {key} answered"));
        loop {
            if tokio::time::Instant::now() >= deadline {
                return Err(match last_err {
                    e @ KvError::Unavailable(_) => e,
                    e => KvError::Unavailable(e.to_string()),
                });
            }
            let desc = match self.lookup(key).await {
                Ok(d) => d,
                Err(e) => {
                    last_err = e;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                    continue;
                }
            };
            let mut h = header.clone();
            h.range_id = desc.range_id;
            h.routing = routing;
            let ba = BatchRequest {
                header: h,
                requests: requests.clone(),
            };
            // The deadline bounds the call in flight too: a range that lost its quorum holds
            // a write (and the reads queued behind it) until the quorum is back.
            let writes = !ba.is_read_only();
            let Ok(sent) =
                tokio::time::timeout_at(deadline, self.send_to_replicas(&desc, ba)).await
            else {
                let msg = format!(
                    "{}: no answer within {:?}",
                    desc.range_id, self.inner.timeout
                );
                return Err(if writes {
                    KvError::AmbiguousResult(format!("{msg}; whether the write applied is unknown"))
                } else {
                    KvError::Unavailable(msg)
                });
            };
            match sent {
                Ok(resp) => return Ok(resp),
                Err(KvError::WriteIntent { intents }) => {
                    self.resolve_conflicts(header, &intents).await?;
                    last_err = KvError::WriteIntent { intents };
                    continue;
                }
                Err(e @ KvError::FollowerReadTooNew { .. }) => {
                    routing = Routing::Leaseholder;
                    last_err = e;
                    continue;
                }
                Err(KvError::RangeKeyMismatch {
                    range_id,
                    descriptor,
                }) => {
                    tracing::debug!(
                        "{key}: {} answered key range mismatch: sent {:?}, replica has {:?}; \
                         requests {:?}",
                        desc.range_id,
                        (&desc.start_key, &desc.end_key, desc.generation),
                        descriptor
                            .as_ref()
                            .map(|d| (&d.start_key, &d.end_key, d.generation)),
                        requests
                            .iter()
                            .map(|r| (r.kind(), r.span()))
                            .collect::<Vec<_>>()
                    );
                    // The replica has the descriptor this batch was routed by, and the batch
                    // does not fit it: looking it up again cannot help.
                    if descriptor
                        .as_ref()
                        .is_some_and(|d| d.generation == desc.generation)
                    {
                        return Err(KvError::RangeKeyMismatch {
                            range_id,
                            descriptor,
                        });
                    }
                    last_err = KvError::RangeKeyMismatch {
                        range_id,
                        descriptor: descriptor.clone(),
                    };
                    self.evict(&desc);
                    if let Some(d) = &descriptor {
                        self.insert(d.clone(), None);
                        // A batch that no longer fits the range (several keys that no longer
                        // share it, a span clipped to an older descriptor) goes back to the
                        // caller to be split or clipped again.
                        let probe = BatchRequest {
                            header: header.clone(),
                            requests: requests.clone(),
                        };
                        if d.contains_key(key) && !crate::replica::batch_fits(d, &probe) {
                            return Err(KvError::RangeKeyMismatch {
                                range_id,
                                descriptor,
                            });
                        }
                    }
                    continue;
                }
                Err(e) if e.is_routing() => {
                    last_err = e;
                    self.evict(&desc);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_to_replicas(
        &self,
        desc: &RangeDescriptor,
        ba: BatchRequest,
    ) -> Result<BatchResponse, KvError> {
        let cached_lh = self.cached_leaseholder(desc);
        let mut order = order_replicas(
            &desc.replicas,
            ba.header.routing,
            cached_lh,
            &self.inner.locality,
            |n| self.inner.nodes.locality(n),
        );
        if desc.range_id == base::ids::META_RANGE_ID && order.is_empty() {
            order = self
                .inner
                .nodes
                .all()
                .into_iter()
                .map(|(d, _)| d.node_id)
                .collect();
        }
        let mut tried = Vec::new();
        let mut last = KvError::Unavailable(format!("{}: no replica reachable", desc.range_id));
        let mut i = 0;
        while i < order.len() {
            let node = order[i];
            i += 1;
            if tried.contains(&node) {
                continue;
            }
            tried.push(node);
            match self.send_to_node(node, ba.clone()).await {
                Ok(resp) => {
                    if ba.header.routing == Routing::Leaseholder {
                        self.set_leaseholder(desc, node);
                    }
                    return Ok(resp);
                }
                Err(KvError::NotLeaseholder {
                    leaseholder: Some(lh),
                    ..
                }) if !tried.contains(&lh) => {
                    self.set_leaseholder(desc, lh);
                    order.insert(i, lh);
                    last = KvError::NotLeaseholder {
                        range_id: desc.range_id,
                        leaseholder: Some(lh),
                    };
                }
                Err(
                    e @ (KvError::NotLeaseholder { .. }
                    | KvError::RangeNotFound { .. }
                    | KvError::Unavailable(_)),
                ) => {
                    last = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    async fn send_to_node(&self, node: NodeId, ba: BatchRequest) -> Result<BatchResponse, KvError> {
        if node == self.inner.node_id {
            let local = self.inner.local.read().clone();
            if let Some(store) = local {
                return store.send(ba).await;
            }
        }
        let writes = !ba.is_read_only();
        let result: Result<Result<BatchResponse, KvError>, rpc::RpcError> = self
            .inner
            .rpc
            .call(rpc::Target::Node(node), "kv.batch", &ba)
            .await;
        match result {
            Ok(r) => r,
            Err(rpc::RpcError::ClockOffset(e)) => Err(KvError::ClockOffset(e.to_string())),
            // A write that may have reached the node may have applied: retrying it elsewhere
            // could apply it twice (or fail a conditional write on its own first attempt).
            Err(e) if writes && maybe_delivered(&e) => Err(KvError::AmbiguousResult(format!(
                "n{}: {e}; whether the write applied is unknown",
                node.0
            ))),
            Err(e) => Err(KvError::Unavailable(format!("n{}: {e}", node.0))),
        }
    }

    /// Resolves the intents a request ran into: push each intent's transaction at its record
    /// and commit or remove the intent if the transaction finished; wait briefly if it is live.
    pub async fn resolve_conflicts(
        &self,
        header: &Header,
        intents: &[Intent],
    ) -> Result<(), KvError> {
        let pusher = header.txn.as_ref().map(|t| t.meta.clone());
        let mut waited = false;
        for intent in intents {
            if pusher.as_ref().is_some_and(|p| p.id == intent.txn.id) {
                continue;
            }
            // An older pusher may abort a younger pushee at once (wound-wait); anyone may abort
            // a pushee whose heartbeat expired.
            let older = pusher
                .as_ref()
                .is_some_and(|p| (p.min_ts, p.id) < (intent.txn.min_ts, intent.txn.id));
            let now = self.inner.clock.now();
            let push_now = if older { Timestamp::MAX.prev() } else { now };
            let push = Request::PushTxn {
                pushee: intent.txn.clone(),
                kind: PushKind::Abort,
                now: push_now,
            };
            let h = Header {
                gateway: self.inner.node_id,
                ..Default::default()
            };
            let deadline = tokio::time::Instant::now() + self.inner.timeout;
            let resp =
                Box::pin(self.send_to_key(&h, vec![push], &intent.txn.anchor, deadline)).await?;
            let record = match resp.responses.into_iter().next() {
                Some(Response::Txn(r)) => r,
                _ => return Err(KvError::Internal("bad PushTxn response".into())),
            };
            let resolution = match record.status {
                TxnRecordStatus::Committed => Resolution::Commit(record.commit_ts),
                TxnRecordStatus::Aborted => Resolution::Abort,
                TxnRecordStatus::Pending => {
                    waited = true;
                    continue;
                }
            };
            let req = Request::ResolveIntent {
                key: intent.key.clone(),
                txn_id: intent.txn.id,
                resolution,
            };
            Box::pin(self.send_to_key(&h, vec![req], &keys::addr(&intent.key), deadline)).await?;
        }
        if waited {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    /// The descriptor of the range containing `key`, from the cache or the meta range.
    pub async fn lookup(&self, key: &Key) -> Result<RangeDescriptor, KvError> {
        let key = keys::addr(key);
        if let Some(c) = self.cached(&key) {
            return Ok(c);
        }
        if key.0.as_slice() < META_RANGE_END {
            return Ok(self.meta_range_descriptor());
        }
        let scan = Request::Scan {
            span: Span {
                start: keys::meta_lookup_start(&key),
                end: keys::meta_span().end,
            },
            max_keys: 1,
            reverse: false,
        };
        let meta = self.meta_range_descriptor();
        let h = Header {
            range_id: meta.range_id,
            gateway: self.inner.node_id,
            ..Default::default()
        };
        let resp = self
            .send_to_replicas(
                &meta,
                BatchRequest {
                    header: h,
                    requests: vec![scan],
                },
            )
            .await?;
        let row = match resp.responses.into_iter().next() {
            Some(Response::Scan { rows, .. }) => rows.into_iter().next(),
            _ => None,
        };
        let row = row.ok_or_else(|| KvError::Unavailable(format!("no meta record for {key}")))?;
        let desc: RangeDescriptor = postcard::from_bytes(&row.value)
            .map_err(|e| KvError::Storage(format!("corrupt meta record: {e}")))?;
        self.insert(desc.clone(), None);
        Ok(desc)
    }

    fn meta_range_descriptor(&self) -> RangeDescriptor {
        let end = Key(META_RANGE_END.to_vec());
        if let Some(c) = self.inner.cache.read().get(&end) {
            return c.desc.clone();
        }
        // Until the meta record of range 1 has been read, every known node is a candidate.
        RangeDescriptor {
            range_id: base::ids::META_RANGE_ID,
            start_key: Key::MIN,
            end_key: end,
            replicas: self
                .inner
                .nodes
                .all()
                .into_iter()
                .map(|(d, _)| ReplicaDescriptor {
                    node_id: d.node_id,
                    replica_type: ReplicaType::Voter,
                })
                .collect(),
            generation: 0,
        }
    }

    fn cached(&self, key: &Key) -> Option<RangeDescriptor> {
        let cache = self.inner.cache.read();
        let (_, c) = cache
            .range((
                std::ops::Bound::Excluded(key.clone()),
                std::ops::Bound::Unbounded,
            ))
            .next()?;
        c.desc.contains_key(key).then(|| c.desc.clone())
    }

    /// The leaseholder the range cache knows for `desc`'s range, if any.
    pub fn cached_leaseholder(&self, desc: &RangeDescriptor) -> Option<NodeId> {
        self.inner
            .cache
            .read()
            .get(&desc.end_key)
            .filter(|c| c.desc.range_id == desc.range_id)
            .and_then(|c| c.leaseholder)
    }

    fn set_leaseholder(&self, desc: &RangeDescriptor, node: NodeId) {
        let mut cache = self.inner.cache.write();
        let entry = cache
            .entry(desc.end_key.clone())
            .or_insert_with(|| CachedRange {
                desc: desc.clone(),
                leaseholder: None,
            });
        if entry.desc.range_id == desc.range_id {
            entry.leaseholder = Some(node);
        }
    }

    /// Caches a descriptor, replacing overlapping older ones.
    pub fn insert(&self, desc: RangeDescriptor, leaseholder: Option<NodeId>) {
        let mut cache = self.inner.cache.write();
        let stale: Vec<Key> = cache
            .iter()
            .filter(|(_, c)| {
                c.desc.span().intersect(&desc.span()).is_some()
                    && c.desc.generation <= desc.generation
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            cache.remove(&k);
        }
        cache.insert(desc.end_key.clone(), CachedRange { desc, leaseholder });
    }

    /// Forgets a cached descriptor.
    pub fn evict(&self, desc: &RangeDescriptor) {
        let mut cache = self.inner.cache.write();
        if cache
            .get(&desc.end_key)
            .is_some_and(|c| c.desc.range_id == desc.range_id)
        {
            cache.remove(&desc.end_key);
        }
    }

    /// Every range descriptor from the meta range, in key order.
    pub async fn all_ranges(&self) -> Result<Vec<RangeDescriptor>, KvError> {
        let req = Request::Scan {
            span: keys::meta_span(),
            max_keys: 0,
            reverse: false,
        };
        // Retried while meta's lease moves (a routing error from every replica), with backoff,
        // until the sender's deadline, as requests to other ranges are.
        let deadline = tokio::time::Instant::now() + self.inner.timeout;
        let mut backoff = Duration::from_millis(10);
        let resp = loop {
            let meta = self.meta_range_descriptor();
            let h = Header {
                range_id: meta.range_id,
                gateway: self.inner.node_id,
                ..Default::default()
            };
            let ba = BatchRequest {
                header: h,
                requests: vec![req.clone()],
            };
            let sent = tokio::time::timeout_at(deadline, self.send_to_replicas(&meta, ba)).await;
            match sent {
                Ok(Ok(resp)) => break resp,
                Ok(Err(e)) if e.is_routing() && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Err(KvError::Unavailable(format!(
                        "{}: no answer within {:?}",
                        meta.range_id, self.inner.timeout
                    )));
                }
            }
        };
        let rows = match resp.responses.into_iter().next() {
            Some(Response::Scan { rows, .. }) => rows,
            _ => vec![],
        };
        rows.iter()
            .map(|r| {
                postcard::from_bytes(&r.value)
                    .map_err(|e| KvError::Storage(format!("corrupt meta record: {e}")))
            })
            .collect()
    }

    /// Opens a rangefeed on one range at the replica closest to this node.
    pub async fn rangefeed_range(
        &self,
        desc: &RangeDescriptor,
        span: Span,
        start: Timestamp,
    ) -> Result<
        futures::stream::BoxStream<
            'static,
            Result<crate::rangefeed::RangefeedEvent, rpc::RpcError>,
        >,
        KvError,
    > {
        let order = order_replicas(
            &desc.replicas,
            Routing::Nearest,
            None,
            &self.inner.locality,
            |n| self.inner.nodes.locality(n),
        );
        let req = RangefeedRequest {
            range_id: desc.range_id,
            span,
            start,
        };
        let mut last =
            KvError::Unavailable(format!("{}: no replica for a rangefeed", desc.range_id));
        for node in order {
            if node == self.inner.node_id {
                let local = self.inner.local.read().clone();
                if let Some(store) = local
                    && store.replica(desc.range_id).is_some()
                {
                    return Ok(store.rangefeed(req));
                }
            }
            match self
                .inner
                .rpc
                .stream(rpc::Target::Node(node), "kv.rangefeed", &req)
                .await
            {
                Ok(s) => return Ok(s),
                Err(e) => last = KvError::Unavailable(e.to_string()),
            }
        }
        Err(last)
    }
}

fn with_span(req: &Request, span: &Span, limit: usize) -> Request {
    let mut r = req.clone();
    match &mut r {
        Request::Scan {
            span: s, max_keys, ..
        } => {
            *s = span.clone();
            *max_keys = limit;
        }
        Request::DeleteRange { span: s }
        | Request::ResolveIntentRange { span: s, .. }
        | Request::Refresh { span: s, .. }
        | Request::Export { span: s, .. } => *s = span.clone(),
        _ => {}
    }
    r
}

/// The replica oracle: the order in which to try a range's replicas.
///
/// Leaseholder routing tries the known leaseholder, then voters, then non-voters, each group by
/// closeness to `from`. Nearest routing (follower reads, rangefeeds) tries replicas by
/// closeness alone: longest shared locality prefix first, ties by node id.
pub fn order_replicas(
    replicas: &[ReplicaDescriptor],
    routing: Routing,
    leaseholder: Option<NodeId>,
    from: &Locality,
    locality_of: impl Fn(NodeId) -> Locality,
) -> Vec<NodeId> {
    let mut ranked: Vec<(usize, usize, NodeId)> = replicas
        .iter()
        .map(|r| {
            let closeness = from.shared_prefix(&locality_of(r.node_id));
            let class = match routing {
                Routing::Nearest => 0,
                Routing::Leaseholder if Some(r.node_id) == leaseholder => 0,
                Routing::Leaseholder if r.replica_type == ReplicaType::Voter => 1,
                Routing::Leaseholder => 2,
            };
            (class, usize::MAX - closeness, r.node_id)
        })
        .collect();
    ranked.sort();
    ranked.into_iter().map(|(_, _, n)| n).collect()
}

/// Whether a failed call may have reached its target: not when the connection could not be
/// made, no address was known, or a transport rule dropped it before it left.
fn maybe_delivered(e: &rpc::RpcError) -> bool {
    match e {
        rpc::RpcError::Unreachable { reason, .. } => {
            !(reason.contains("connect") || reason.contains("no known address"))
        }
        rpc::RpcError::Dropped => false,
        _ => e.is_retryable(),
    }
}

/// A request's kind, for logs.
#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).unwrap()
    }

    #[test]
    fn oracle_prefers_leaseholder_then_closest() {
        let reps = vec![
            ReplicaDescriptor {
                node_id: NodeId(1),
                replica_type: ReplicaType::Voter,
            },
            ReplicaDescriptor {
                node_id: NodeId(2),
                replica_type: ReplicaType::Voter,
            },
            ReplicaDescriptor {
                node_id: NodeId(3),
                replica_type: ReplicaType::NonVoter,
            },
        ];
        let locs = |n: NodeId| match n.0 {
            1 => loc("region=east,az=a"),
            2 => loc("region=east,az=b"),
            _ => loc("region=west,az=a"),
        };
        let from = loc("region=west,az=b");
        assert_eq!(
            order_replicas(&reps, Routing::Leaseholder, Some(NodeId(2)), &from, locs),
            vec![NodeId(2), NodeId(1), NodeId(3)]
        );
        assert_eq!(
            order_replicas(&reps, Routing::Nearest, Some(NodeId(2)), &from, locs),
            vec![NodeId(3), NodeId(1), NodeId(2)]
        );
    }
}
