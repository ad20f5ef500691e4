//! Timing and log-compaction settings of a range's Raft group.

use std::time::Duration;

/// Default heartbeat interval of a leader (and timeout of each heartbeat: see
/// [`RaftConfig::heartbeat`]).
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(500);
/// Default lower bound of the randomised election timeout.
pub const DEFAULT_ELECTION_TIMEOUT_MIN: Duration = Duration::from_millis(1000);
/// Default upper bound of the randomised election timeout.
pub const DEFAULT_ELECTION_TIMEOUT_MAX: Duration = Duration::from_millis(2000);
/// Default number of applied entries after which a snapshot is taken (and the log purged).
pub const DEFAULT_SNAPSHOT_AFTER_LOGS: u64 = 10_000;
/// Default number of entries kept in the log below the last snapshot, so that a follower
/// slightly behind catches up from the log rather than by snapshot.
pub const DEFAULT_LOGS_KEPT_AFTER_SNAPSHOT: u64 = 1_000;
/// Default size of one snapshot chunk on the wire.
pub const DEFAULT_SNAPSHOT_CHUNK_SIZE: usize = 4 << 20;
/// Default timeout of one snapshot chunk (sending and, for the last, installing).
pub const DEFAULT_SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);
/// Default wait for a new learner to catch up in [`super::RaftGroup::add_learner`].
pub const DEFAULT_LEARNER_CATCHUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default largest number of entries in one append message.
pub const DEFAULT_MAX_PAYLOAD_ENTRIES: u64 = 300;
/// Default idle time after which a leader quiesces its group (see [`RaftConfig::quiesce_after`]).
pub const DEFAULT_QUIESCE_AFTER: Duration = Duration::from_secs(2);

/// Settings of a range's Raft group. `Default` is for production; [`RaftConfig::fast`] for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftConfig {
    /// Interval between a leader's heartbeats, and the timeout of each one: openraft abandons a
    /// heartbeat that has not been answered within the interval. A leader renews its lease only
    /// from heartbeats and appends that a quorum answered, and a woken or idle leader sends no
    /// appends (writes are refused until its lease is renewed), so the interval must exceed the
    /// slowest round trip to a quorum under load: with every heartbeat abandoned, the lease
    /// lapses for good. At most half of `election_timeout_min`.
    pub heartbeat: Duration,
    /// Lower bound of the randomised election timeout (and of the leader lease).
    pub election_timeout_min: Duration,
    /// Upper bound (exclusive) of the randomised election timeout.
    pub election_timeout_max: Duration,
    /// Entries applied since the last snapshot after which a new one is taken, letting the log
    /// be purged up to it (minus `logs_kept_after_snapshot`).
    pub snapshot_after_logs: u64,
    /// Entries kept in the log below the last snapshot.
    pub logs_kept_after_snapshot: u64,
    /// Bytes of snapshot data per message.
    pub snapshot_chunk_size: usize,
    /// Timeout of one snapshot message, including the install on the last.
    pub snapshot_chunk_timeout: Duration,
    /// How long [`super::RaftGroup::add_learner`] waits for the learner to catch up.
    pub learner_catchup_timeout: Duration,
    /// Largest number of entries in one append message.
    pub max_payload_entries: u64,
    /// Whether a follower asks its peers before starting an election (Pre-Vote), so that a node
    /// that cannot win does not disturb a healthy leader.
    pub pre_vote: bool,
    /// How long a leader waits with nothing to do (no proposal, no membership change, every
    /// voter and learner holding its whole log) before it quiesces the group: it stops its
    /// heartbeats and tells its followers to stop their election timers, so the idle group costs
    /// no CPU. `None` never quiesces. See the module docs ("Many groups").
    pub quiesce_after: Option<Duration>,
}

impl Default for RaftConfig {
    fn default() -> RaftConfig {
        RaftConfig {
            heartbeat: DEFAULT_HEARTBEAT,
            election_timeout_min: DEFAULT_ELECTION_TIMEOUT_MIN,
            election_timeout_max: DEFAULT_ELECTION_TIMEOUT_MAX,
            snapshot_after_logs: DEFAULT_SNAPSHOT_AFTER_LOGS,
            logs_kept_after_snapshot: DEFAULT_LOGS_KEPT_AFTER_SNAPSHOT,
            snapshot_chunk_size: DEFAULT_SNAPSHOT_CHUNK_SIZE,
            snapshot_chunk_timeout: DEFAULT_SNAPSHOT_CHUNK_TIMEOUT,
            learner_catchup_timeout: DEFAULT_LEARNER_CATCHUP_TIMEOUT,
            max_payload_entries: DEFAULT_MAX_PAYLOAD_ENTRIES,
            pre_vote: true,
            quiesce_after: Some(DEFAULT_QUIESCE_AFTER),
        }
    }
}

impl RaftConfig {
    /// Short timeouts for tests on loopback: heartbeat 150 ms, elections in 300–600 ms, no
    /// quiescence (tests that want it set [`RaftConfig::quiesce_after`]).
    pub fn fast() -> RaftConfig {
        RaftConfig {
            heartbeat: Duration::from_millis(150),
            election_timeout_min: Duration::from_millis(300),
            election_timeout_max: Duration::from_millis(600),
            learner_catchup_timeout: Duration::from_secs(10),
            snapshot_chunk_timeout: Duration::from_secs(5),
            quiesce_after: None,
            ..RaftConfig::default()
        }
    }

    /// The openraft configuration, validated.
    pub(crate) fn to_openraft(&self) -> Result<openraft::Config, openraft::ConfigError> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
        let config = openraft::Config {
            cluster_name: "sextant".to_string(),
            heartbeat_interval: millis(self.heartbeat),
            election_timeout_min: millis(self.election_timeout_min),
            election_timeout_max: millis(self.election_timeout_max),
            install_snapshot_timeout: millis(self.snapshot_chunk_timeout),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_after_logs),
            max_in_snapshot_log_to_keep: self.logs_kept_after_snapshot,
            snapshot_max_chunk_size: self.snapshot_chunk_size as u64,
            max_payload_entries: self.max_payload_entries,
            enable_pre_vote: Some(self.pre_vote),
            ..openraft::Config::default()
        };
        config.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_presets_validate() {
        assert!(RaftConfig::default().to_openraft().is_ok());
        assert!(RaftConfig::fast().to_openraft().is_ok());
    }
}
