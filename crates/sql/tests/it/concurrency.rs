//! Concurrent sessions incrementing counters in explicit transactions.
