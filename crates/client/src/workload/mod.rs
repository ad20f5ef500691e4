//! Workloads: generated databases and the traffic that exercises them.
//!
//! [`movr`] is the one workload so far. [`rng`] is the seeded generator every data
//! generator uses, [`stats`] the latency bookkeeping of `workload run`.

pub mod movr;
pub mod rng;
pub mod stats;
