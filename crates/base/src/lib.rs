//! The shared vocabulary of Sextant.
//!
//! Every layer above speaks in the types defined here, so they are plain data with no I/O and no
//! async runtime:
//!
//! - [`ids`]: node, range and replica identifiers.
//! - [`keys`]: the global key space. A [`keys::Key`] is a byte string; its order is the order of
//!   the whole database. The space is carved into a system part (meta records that address
//!   ranges, node records, liveness, settings) and table data (`/Table/<id>/<index>/<pk…>`),
//!   using the order-preserving encodings of [`encoding`]. A [`keys::Span`] is `[start, end)`.
//! - [`hlc`]: hybrid logical clock timestamps and the [`hlc::Clock`] trait. Nothing in Sextant
//!   reads the wall clock except through a `Clock`, so tests control time.
//! - [`descriptor`]: node, range and replica descriptors. A range's replicas are voters or
//!   non-voters (Raft learners); its leaseholder is the Raft leader.
//! - [`zone`]: zone configurations (`num_replicas`, `num_voters`, `constraints`,
//!   `voter_constraints`, `lease_preferences`) and their CockroachDB text forms.
//! - [`errcode`]: the one table of client-facing error codes (SQLSTATE).
//! - [`redact`]: what is a secret and how it is shown: the one URI and option redaction every
//!   job description, SHOW statement, error message and log line uses.
//! - `testing` (feature `testing`): `goldenscripts!`, the declaration of a crate's
//!   goldenscript tests, and `GoldenRunner`, their runner, for every crate's golden tests.

pub mod descriptor;
pub mod encoding;
pub mod errcode;
pub mod hlc;
pub mod ids;
pub mod keys;
pub mod outbound;
pub mod redact;
#[cfg(feature = "testing")]
pub mod testing;
pub mod zone;

pub use descriptor::{NodeDescriptor, RangeDescriptor, ReplicaDescriptor, ReplicaType};
pub use hlc::{Clock, Timestamp};
pub use ids::{NodeId, RangeId};
pub use keys::{Key, Span};
