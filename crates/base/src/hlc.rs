//! Hybrid logical clock.
//!
//! A [`Timestamp`] is a wall time in nanoseconds since the Unix epoch plus a logical counter
//! that orders events within one nanosecond. A [`HybridClock`] never goes backwards: `now()`
//! returns a timestamp greater than every timestamp it returned or received before. Every
//! message received from another node carries its sender's clock reading and goes through
//! [`Clock::update`], which rejects readings more than the maximum clock offset ahead of the
//! local physical clock: a node whose clock is that far off must not take part.
//!
//! The physical source is injected ([`PhysicalClock`]): [`SystemPhysicalClock`] in production,
//! [`ManualPhysicalClock`] in tests. It is the only place Sextant reads the wall clock.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A point in hybrid logical time.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp {
    /// Nanoseconds since the Unix epoch.
    pub wall: i64,
    /// Orders events that share a wall time.
    pub logical: u32,
}

impl Timestamp {
    /// The zero timestamp, below every real one.
    pub const ZERO: Timestamp = Timestamp {
        wall: 0,
        logical: 0,
    };
    /// The largest timestamp.
    pub const MAX: Timestamp = Timestamp {
        wall: i64::MAX,
        logical: u32::MAX,
    };

    /// A timestamp with the given wall time and logical 0.
    pub const fn new(wall: i64, logical: u32) -> Timestamp {
        Timestamp { wall, logical }
    }

    /// The smallest timestamp greater than `self`.
    pub fn next(self) -> Timestamp {
        if self.logical == u32::MAX {
            Timestamp {
                wall: self.wall.saturating_add(1),
                logical: 0,
            }
        } else {
            Timestamp {
                wall: self.wall,
                logical: self.logical + 1,
            }
        }
    }

    /// The largest timestamp smaller than `self` (saturating at zero).
    pub fn prev(self) -> Timestamp {
        if self.logical > 0 {
            Timestamp {
                wall: self.wall,
                logical: self.logical - 1,
            }
        } else if self.wall > 0 {
            Timestamp {
                wall: self.wall - 1,
                logical: u32::MAX,
            }
        } else {
            Timestamp::ZERO
        }
    }

    /// `self` shifted by a signed number of nanoseconds of wall time, logical reset to 0.
    pub fn add_nanos(self, nanos: i64) -> Timestamp {
        Timestamp {
            wall: self.wall.saturating_add(nanos),
            logical: 0,
        }
    }

    /// True for the zero timestamp.
    pub fn is_zero(self) -> bool {
        self == Timestamp::ZERO
    }
}

/// CockroachDB's decimal form: `<wall nanos>.<logical, 10 digits>`, e.g.
/// `1632241564629087669.0000000000`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:010}", self.wall, self.logical)
    }
}

/// A malformed decimal timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid timestamp {0:?}: expected <nanoseconds>[.<logical>]")]
pub struct ParseTimestampError(pub String);

impl FromStr for Timestamp {
    type Err = ParseTimestampError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimestampError(s.to_string());
        let (wall, logical) = match s.split_once('.') {
            Some((w, l)) => (w, l),
            None => (s, "0"),
        };
        let wall: i64 = wall.parse().map_err(|_| err())?;
        let logical: u32 = if logical.is_empty() {
            0
        } else {
            logical.parse().map_err(|_| err())?
        };
        if wall < 0 {
            return Err(err());
        }
        Ok(Timestamp { wall, logical })
    }
}

/// A reading received from another node was too far ahead of the local clock.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "remote clock reading {remote} is {ahead_ms} ms ahead of the local clock, beyond the \
     maximum offset of {max_offset_ms} ms"
)]
pub struct ClockOffsetError {
    /// The received timestamp.
    pub remote: Timestamp,
    /// How far ahead it was, in milliseconds.
    pub ahead_ms: i64,
    /// The configured maximum offset, in milliseconds.
    pub max_offset_ms: i64,
}

/// A source of physical time in nanoseconds since the Unix epoch.
pub trait PhysicalClock: Send + Sync + 'static {
    /// The current physical time.
    fn now_nanos(&self) -> i64;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemPhysicalClock;

impl PhysicalClock for SystemPhysicalClock {
    // The one place the wall clock is read (clippy.toml disallows it everywhere else).
    #[allow(clippy::disallowed_methods)]
    fn now_nanos(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(now.as_nanos()).unwrap_or(i64::MAX)
    }
}

/// The system wall clock plus an adjustable offset: a node's clock made to run ahead of or
/// behind its peers, for fault-injection tests (`sextant start --testing-endpoints`).
#[derive(Debug, Default, Clone)]
pub struct OffsetPhysicalClock(Arc<AtomicI64>);

impl OffsetPhysicalClock {
    /// The system clock with no offset.
    pub fn new() -> OffsetPhysicalClock {
        OffsetPhysicalClock::default()
    }

    /// Sets the offset (negative: behind).
    pub fn set_offset(&self, offset_nanos: i64) {
        self.0.store(offset_nanos, Ordering::SeqCst);
    }

    /// The current offset.
    pub fn offset(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl PhysicalClock for OffsetPhysicalClock {
    fn now_nanos(&self) -> i64 {
        SystemPhysicalClock
            .now_nanos()
            .saturating_add(self.0.load(Ordering::SeqCst))
    }
}

/// A physical clock moved by hand, for tests.
#[derive(Debug, Default, Clone)]
pub struct ManualPhysicalClock(Arc<AtomicI64>);

impl ManualPhysicalClock {
    /// A manual clock reading `nanos`.
    pub fn new(nanos: i64) -> ManualPhysicalClock {
        ManualPhysicalClock(Arc::new(AtomicI64::new(nanos)))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let nanos = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        self.0.fetch_add(nanos, Ordering::SeqCst);
    }

    /// Sets the reading.
    pub fn set(&self, nanos: i64) {
        self.0.store(nanos, Ordering::SeqCst);
    }
}

impl PhysicalClock for ManualPhysicalClock {
    fn now_nanos(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The clock every component uses.
pub trait Clock: Send + Sync + 'static {
    /// A timestamp greater than any returned or received before.
    fn now(&self) -> Timestamp;
    /// Takes a reading received from another node into account, or rejects it when it is
    /// further ahead of the local physical clock than the maximum offset.
    fn update(&self, remote: Timestamp) -> Result<(), ClockOffsetError>;
    /// The physical reading, nanoseconds since the epoch (for durations, not for ordering).
    fn physical_nanos(&self) -> i64;
    /// The maximum tolerated offset between nodes' clocks.
    fn max_offset(&self) -> Duration;
}

/// Default maximum clock offset, as in CockroachDB.
pub const DEFAULT_MAX_OFFSET: Duration = Duration::from_millis(500);

/// A hybrid logical clock over a physical source.
pub struct HybridClock<P: PhysicalClock = SystemPhysicalClock> {
    physical: P,
    last: Mutex<Timestamp>,
    max_offset: Duration,
}

impl HybridClock<SystemPhysicalClock> {
    /// A clock on the system wall clock.
    pub fn system(max_offset: Duration) -> HybridClock<SystemPhysicalClock> {
        HybridClock::new(SystemPhysicalClock, max_offset)
    }
}

impl<P: PhysicalClock> HybridClock<P> {
    /// A clock on `physical` with the given maximum offset.
    pub fn new(physical: P, max_offset: Duration) -> HybridClock<P> {
        HybridClock {
            physical,
            last: Mutex::new(Timestamp::ZERO),
            max_offset,
        }
    }

    fn max_offset_nanos(&self) -> i64 {
        i64::try_from(self.max_offset.as_nanos()).unwrap_or(i64::MAX)
    }
}

impl<P: PhysicalClock> Clock for HybridClock<P> {
    fn now(&self) -> Timestamp {
        let phys = self.physical.now_nanos();
        let mut last = self.last.lock();
        *last = if phys > last.wall {
            Timestamp::new(phys, 0)
        } else {
            last.next()
        };
        *last
    }

    fn update(&self, remote: Timestamp) -> Result<(), ClockOffsetError> {
        let phys = self.physical.now_nanos();
        let ahead = remote.wall.saturating_sub(phys);
        let max = self.max_offset_nanos();
        if max > 0 && ahead > max {
            return Err(ClockOffsetError {
                remote,
                ahead_ms: ahead / 1_000_000,
                max_offset_ms: max / 1_000_000,
            });
        }
        let mut last = self.last.lock();
        if remote > *last {
            *last = remote;
        }
        Ok(())
    }

    fn physical_nanos(&self) -> i64 {
        self.physical.now_nanos()
    }

    fn max_offset(&self) -> Duration {
        self.max_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_monotonic_even_when_physical_time_stalls() {
        let phys = ManualPhysicalClock::new(100);
        let clock = HybridClock::new(phys.clone(), DEFAULT_MAX_OFFSET);
        let a = clock.now();
        let b = clock.now();
        assert_eq!(a, Timestamp::new(100, 0));
        assert_eq!(b, Timestamp::new(100, 1));
        phys.advance(Duration::from_nanos(5));
        assert_eq!(clock.now(), Timestamp::new(105, 0));
    }

    #[test]
    fn update_moves_clock_forward_within_offset() {
        let phys = ManualPhysicalClock::new(1_000_000_000);
        let clock = HybridClock::new(phys, Duration::from_millis(500));
        clock.update(Timestamp::new(1_100_000_000, 7)).unwrap();
        assert_eq!(clock.now(), Timestamp::new(1_100_000_000, 8));
    }

    #[test]
    fn update_rejects_reading_beyond_max_offset() {
        let phys = ManualPhysicalClock::new(1_000_000_000);
        let clock = HybridClock::new(phys, Duration::from_millis(500));
        let err = clock.update(Timestamp::new(2_000_000_000, 0)).unwrap_err();
        assert_eq!(err.ahead_ms, 1000);
        assert!(
            err.to_string()
                .contains("beyond the maximum offset of 500 ms")
        );
        // The rejected reading did not move the clock.
        assert_eq!(clock.now(), Timestamp::new(1_000_000_000, 0));
    }

    #[test]
    fn display_and_parse_round_trip() {
        let ts = Timestamp::new(1632241564629087669, 3);
        assert_eq!(ts.to_string(), "1632241564629087669.0000000003");
        assert_eq!(ts.to_string().parse::<Timestamp>().unwrap(), ts);
        assert_eq!("17".parse::<Timestamp>().unwrap(), Timestamp::new(17, 0));
        assert!("x.1".parse::<Timestamp>().is_err());
    }

    #[test]
    fn next_and_prev() {
        let ts = Timestamp::new(5, 0);
        assert_eq!(ts.next().prev(), ts);
        assert_eq!(ts.prev(), Timestamp::new(4, u32::MAX));
        assert_eq!(Timestamp::ZERO.prev(), Timestamp::ZERO);
    }
}
