//! The test kit (feature `testing`): in-process clusters for the tests of this crate and of
//! every crate above it.
//!
//! [`TestCluster`] starts N KV nodes in this process, each an [`rpc::RpcServer`] on a free
//! loopback port and a [`KvNode`](crate::KvNode) on a memory engine (or fjall on disk, with
//! [`ClusterBuilder::on_disk`]); node 0 bootstraps the cluster and the others join it as they
//! would in production: concurrently, with no sequencing around the bootstrap (a joiner waits
//! until a peer has reached r1; see [`crate::node`]). Per node it takes a locality, a clock
//! offset and a [`KvNodeConfig`](crate::KvNodeConfig) tweak; one [`rpc::TransportFilters`] is
//! shared by every node, for partitions, drops and delays. A node can be killed and
//! restarted on its engine, and nodes can be added.
//!
//! Upper crates layer their own services on each node with [`ClusterBuilder::layer`]: a
//! closure run on every node once its KV node has started (and again at a restart), whose
//! result ([`Layer`]) each [`TestNode`] dereferences to:
//!
//! ```ignore
//! struct Jobs { jobs: sextant_jobs::Registry }
//! impl kv::testing::Layer for Jobs { fn stop(&self) { self.jobs.stop() } }
//!
//! let c = TestCluster::builder(&["region=a", "region=b"])
//!     .layer(|n| Jobs { jobs: Registry::start(n.node.clone(), n.registry, cfg.clone()) })
//!     .start()
//!     .await;
//! c.nodes[1].jobs.get(id).await;
//! ```
//!
//! Below the cluster, [`RpcNode`] is a bare rpc endpoint for tests of the Raft and store
//! layers, and [`wait`] has the polling helpers every test uses (a test waits for a
//! condition with a deadline, never for a fixed time).

// A test kit: a failed `expect` fails the test that called it, with its message.
#![allow(clippy::expect_used)]

mod cluster;
mod endpoint;
pub mod wait;

pub use cluster::{ClusterBuilder, Layer, NodeContext, TestCluster, TestNode};
pub use endpoint::RpcNode;
pub use wait::{eventually, eventually_async, eventually_blocking, init_tracing, retry_until};

use base::Key;

/// Implements `Deref` and `DerefMut` from an upper crate's cluster type to the
/// [`TestCluster`] it wraps (in field `$field`, with layer `$layer`), so that its tests use
/// the kit's fields and methods directly (`c.nodes[1].jobs`, `c.kill(2)`), beside the
/// wrapper's own.
///
/// ```ignore
/// pub struct TestCluster { cluster: kv::testing::TestCluster<Jobs>, pub log: Log }
/// kv::deref_test_cluster!(TestCluster => cluster: Jobs);
/// ```
#[macro_export]
macro_rules! deref_test_cluster {
    ($wrapper:ty => $field:tt: $layer:ty) => {
        impl ::std::ops::Deref for $wrapper {
            type Target = $crate::testing::TestCluster<$layer>;

            fn deref(&self) -> &Self::Target {
                &self.$field
            }
        }

        impl ::std::ops::DerefMut for $wrapper {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.$field
            }
        }
    };
}

/// A key in table 100, the table the KV tests write to: `s` encoded after the table prefix.
pub fn key(s: &str) -> Key {
    key_in(100, s)
}

/// A key in table `table`: `s` encoded after the table prefix.
pub fn key_in(table: u64, s: &str) -> Key {
    let mut k = base::keys::table_prefix(table).0;
    base::encoding::encode_bytes(&mut k, s.as_bytes());
    Key(k)
}
