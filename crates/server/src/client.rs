//! The admin client: what `sextant init`, `node status` and `node drain` send to a node's RPC
//! address, and [`crate::LocalCluster`] uses to bootstrap. On a secure cluster it speaks
//! mutual TLS with a node certificate (`node.crt` of the certs directory), since node-to-node
//! RPC admits nothing else.

use crate::error::AdminError;
use base::hlc::{DEFAULT_MAX_OFFSET, HybridClock};
use kv::node::NodeStatus;
use rpc::{Rpc, RpcContext, RpcError, RpcOptions, RpcTls, Target};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Time to wait for a node to answer `init` or `status`.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time to wait for a drain: the node itself gives up after 30 s.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(45);

/// Bootstraps a new cluster on the node at `addr` (`node.init`).
///
/// A node registers `node.init` a moment after its RPC listener opens, so a node that does not
/// know the method yet is asked again for up to [`INIT_REGISTRATION_WAIT`].
pub async fn init(addr: &str, tls: Option<&RpcTls>) -> Result<(), AdminError> {
    let deadline = tokio::time::Instant::now() + INIT_REGISTRATION_WAIT;
    loop {
        match call::<(), ()>(addr, tls, "node.init", &(), DEFAULT_CLIENT_TIMEOUT).await {
            Err(AdminError::NotInitialized { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// How long `init` waits for a just-started node to be ready to take it.
pub const INIT_REGISTRATION_WAIT: Duration = Duration::from_secs(10);

/// Every node the node at `addr` knows, with liveness and replica counts (`node.status`).
pub async fn node_status(addr: &str, tls: Option<&RpcTls>) -> Result<Vec<NodeStatus>, AdminError> {
    call(addr, tls, "node.status", &(), DEFAULT_CLIENT_TIMEOUT).await
}

/// Drains the node at `addr` (`node.drain`); returns the leases it still holds (0: done).
pub async fn drain(addr: &str, tls: Option<&RpcTls>) -> Result<usize, AdminError> {
    call(addr, tls, "node.drain", &(), DRAIN_TIMEOUT).await
}

/// Calls a node method whose handler answers `Result<Resp, String>`.
async fn call<Req, Resp>(
    addr: &str,
    tls: Option<&RpcTls>,
    method: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, AdminError>
where
    Req: Serialize,
    Resp: DeserializeOwned,
{
    let clock = Arc::new(HybridClock::system(DEFAULT_MAX_OFFSET));
    let options = RpcOptions {
        connect_timeout: Duration::from_secs(5),
        tls: tls.cloned(),
        ..RpcOptions::default()
    };
    let rpc = Rpc::with_options(Arc::new(RpcContext::new(clock)), options);
    let reply: Result<Result<Resp, String>, RpcError> = rpc
        .call_timeout(Target::Addr(addr.to_string()), method, req, timeout)
        .await;
    match reply {
        Ok(Ok(resp)) => Ok(resp),
        Ok(Err(message)) => Err(AdminError::Refused(message)),
        Err(RpcError::UnknownMethod(_)) => Err(AdminError::NotInitialized {
            addr: addr.to_string(),
        }),
        Err(e) => Err(AdminError::Unreachable {
            addr: addr.to_string(),
            reason: e.to_string(),
        }),
    }
}
