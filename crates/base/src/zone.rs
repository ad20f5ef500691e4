//! Zone configurations: how many replicas a range has, where they go, and where its lease goes.
//!
//! The text forms are CockroachDB's:
//!
//! - `constraints = '[+region=us-east1, -az=b]'`: every replica must satisfy the list.
//! - `constraints = '{"+region=us-east1": 2, "+region=us-west1,+az=a": 1}'`: that many replicas
//!   must satisfy each conjunction; the rest are unconstrained.
//! - `voter_constraints`: the same, for voters only.
//! - `lease_preferences = '[[+region=us-east1], [+region=us-west1]]'`: the lease goes to the
//!   first preference some voter satisfies.
//!
//! `num_replicas - num_voters` replicas are non-voters (Raft learners). Placement itself is a
//! decision of the `kv` allocator; this module only holds and validates the configuration.

use locality::Locality;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Default number of replicas.
pub const DEFAULT_NUM_REPLICAS: u32 = 3;
/// Default size above which a range splits, in bytes (CockroachDB's 512 MiB).
pub const DEFAULT_RANGE_MAX_BYTES: u64 = 512 << 20;
/// Default size below which a range may merge, in bytes.
pub const DEFAULT_RANGE_MIN_BYTES: u64 = 128 << 20;
/// Default GC TTL in seconds (4 h).
pub const DEFAULT_GC_TTL_SECONDS: u64 = 14_400;

/// Required (`+`) or prohibited (`-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConstraintKind {
    /// The locality must have the tier.
    Required,
    /// The locality must not have the tier.
    Prohibited,
}

/// One constraint, `+key=value` or `-key=value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Constraint {
    /// Required or prohibited.
    pub kind: ConstraintKind,
    /// Tier key.
    pub key: String,
    /// Tier value.
    pub value: String,
}

impl Constraint {
    /// Parses `+key=value` or `-key=value`.
    pub fn parse(s: &str) -> Result<Constraint, ZoneError> {
        let s = s.trim();
        let (kind, rest) = if let Some(rest) = s.strip_prefix('+') {
            (ConstraintKind::Required, rest)
        } else if let Some(rest) = s.strip_prefix('-') {
            (ConstraintKind::Prohibited, rest)
        } else {
            return Err(ZoneError::UnprefixedConstraint(s.to_string()));
        };
        match rest.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok(Constraint {
                kind,
                key: k.trim().to_string(),
                value: v.trim().to_string(),
            }),
            _ => Err(ZoneError::MalformedConstraint(s.to_string())),
        }
    }

    /// True when a node with `locality` satisfies the constraint.
    pub fn satisfied_by(&self, locality: &Locality) -> bool {
        let has = locality
            .tiers()
            .iter()
            .any(|t| t.key == self.key && t.value == self.value);
        match self.kind {
            ConstraintKind::Required => has,
            ConstraintKind::Prohibited => !has,
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.kind {
            ConstraintKind::Required => '+',
            ConstraintKind::Prohibited => '-',
        };
        write!(f, "{sign}{}={}", self.key, self.value)
    }
}

/// A conjunction of constraints that `num_replicas` replicas must satisfy (0 = all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstraintsConjunction {
    /// How many replicas; 0 means every replica.
    pub num_replicas: u32,
    /// All must hold.
    pub constraints: Vec<Constraint>,
}

impl ConstraintsConjunction {
    /// True when `locality` satisfies every constraint.
    pub fn satisfied_by(&self, locality: &Locality) -> bool {
        self.constraints.iter().all(|c| c.satisfied_by(locality))
    }
}

/// A set of constraints in either CockroachDB form.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraints(pub Vec<ConstraintsConjunction>);

impl Constraints {
    /// Parses `'[+a=b, -c=d]'` or `'{"+a=b": 2, "+c=d,+e=f": 1}'` (the SQL string's content).
    pub fn parse(s: &str) -> Result<Constraints, ZoneError> {
        let s = s.trim();
        if s.starts_with('{') {
            let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s)
                .map_err(|e| ZoneError::MalformedConstraints(s.to_string(), e.to_string()))?;
            let mut out = Vec::new();
            for (conj, n) in map {
                let num = n
                    .as_u64()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ZoneError::BadReplicaCount(conj.clone(), n.to_string()))?;
                out.push(ConstraintsConjunction {
                    num_replicas: u32::try_from(num).unwrap_or(u32::MAX),
                    constraints: parse_list(&conj)?,
                });
            }
            return Ok(Constraints(out));
        }
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| {
                ZoneError::MalformedConstraints(s.to_string(), "expected [...] or {...}".into())
            })?;
        let constraints = parse_list(inner)?;
        if constraints.is_empty() {
            return Ok(Constraints::default());
        }
        Ok(Constraints(vec![ConstraintsConjunction {
            num_replicas: 0,
            constraints,
        }]))
    }

    /// Replicas claimed by per-replica conjunctions.
    pub fn claimed_replicas(&self) -> u32 {
        self.0.iter().map(|c| c.num_replicas).sum()
    }

    /// True when no constraint is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_list(s: &str) -> Result<Vec<Constraint>, ZoneError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(Constraint::parse)
        .collect()
}

/// CockroachDB's text form: `[+a=b]` or `{"+a=b": 2}`.
impl fmt::Display for Constraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |c: &ConstraintsConjunction| {
            c.constraints
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.0.as_slice() {
            [] => write!(f, "[]"),
            [only] if only.num_replicas == 0 => write!(f, "[{}]", join(only)),
            all => {
                let parts: Vec<String> = all
                    .iter()
                    .map(|c| format!("\"{}\": {}", join(c).replace(", ", ","), c.num_replicas))
                    .collect();
                write!(f, "{{{}}}", parts.join(", "))
            }
        }
    }
}

/// Lease preferences in order: the first one some voter satisfies wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasePreferences(pub Vec<Vec<Constraint>>);

impl LeasePreferences {
    /// Parses `'[[+region=a], [+region=b]]'`.
    pub fn parse(s: &str) -> Result<LeasePreferences, ZoneError> {
        let s = s.trim();
        let inner = s
            .strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .ok_or_else(|| {
                ZoneError::MalformedConstraints(s.to_string(), "expected [[...], ...]".into())
            })?;
        let mut out = Vec::new();
        let mut rest = inner.trim();
        while !rest.is_empty() {
            let open = rest.strip_prefix('[').ok_or_else(|| {
                ZoneError::MalformedConstraints(s.to_string(), "expected [".into())
            })?;
            let (list, after) = open.split_once(']').ok_or_else(|| {
                ZoneError::MalformedConstraints(s.to_string(), "missing ]".into())
            })?;
            out.push(parse_list(list)?);
            rest = after.trim_start().trim_start_matches(',').trim_start();
        }
        Ok(LeasePreferences(out))
    }

    /// The index of the first preference `locality` satisfies, if any (lower is better).
    pub fn rank(&self, locality: &Locality) -> Option<usize> {
        self.0
            .iter()
            .position(|p| p.iter().all(|c| c.satisfied_by(locality)))
    }
}

impl fmt::Display for LeasePreferences {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| {
                format!(
                    "[{}]",
                    p.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// A zone configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneConfig {
    /// Replicas in total, voters and non-voters.
    pub num_replicas: u32,
    /// Voters; `None` means all replicas vote.
    pub num_voters: Option<u32>,
    /// Constraints over all replicas.
    pub constraints: Constraints,
    /// Constraints over voters only.
    pub voter_constraints: Constraints,
    /// Where the lease should be.
    pub lease_preferences: LeasePreferences,
    /// Split above this size, bytes.
    pub range_max_bytes: u64,
    /// Merge candidates below this size, bytes.
    pub range_min_bytes: u64,
    /// MVCC garbage older than this is collected, seconds.
    pub gc_ttl_seconds: u64,
}

impl Default for ZoneConfig {
    fn default() -> ZoneConfig {
        ZoneConfig {
            num_replicas: DEFAULT_NUM_REPLICAS,
            num_voters: None,
            constraints: Constraints::default(),
            voter_constraints: Constraints::default(),
            lease_preferences: LeasePreferences::default(),
            range_max_bytes: DEFAULT_RANGE_MAX_BYTES,
            range_min_bytes: DEFAULT_RANGE_MIN_BYTES,
            gc_ttl_seconds: DEFAULT_GC_TTL_SECONDS,
        }
    }
}

impl ZoneConfig {
    /// Voters wanted.
    pub fn voters(&self) -> u32 {
        self.num_voters
            .unwrap_or(self.num_replicas)
            .min(self.num_replicas)
    }

    /// Non-voters wanted.
    pub fn non_voters(&self) -> u32 {
        self.num_replicas - self.voters()
    }

    /// Checks the configuration is consistent, with CockroachDB's messages.
    pub fn validate(&self) -> Result<(), ZoneError> {
        if self.num_replicas == 0 {
            return Err(ZoneError::Invalid(
                "at least one replica is required".into(),
            ));
        }
        if let Some(v) = self.num_voters {
            if v > self.num_replicas {
                return Err(ZoneError::Invalid(
                    "num_voters cannot be greater than num_replicas".into(),
                ));
            }
            if v == 0 {
                return Err(ZoneError::Invalid(
                    "at least one voting replica is required".into(),
                ));
            }
        }
        let claimed = self.constraints.claimed_replicas();
        if claimed > self.num_replicas {
            return Err(ZoneError::Invalid(format!(
                "the number of replicas specified in constraints ({claimed}) cannot be greater \
                 than the number of replicas configured for the zone ({})",
                self.num_replicas
            )));
        }
        let claimed = self.voter_constraints.claimed_replicas();
        if claimed > self.voters() {
            return Err(ZoneError::Invalid(format!(
                "the number of replicas specified in voter_constraints ({claimed}) cannot be \
                 greater than the number of voters configured for the zone ({})",
                self.voters()
            )));
        }
        if !self.voter_constraints.is_empty() && self.num_voters.is_none() {
            return Err(ZoneError::Invalid(
                "when voter_constraints are set, num_voters must be set as well".into(),
            ));
        }
        if self.range_min_bytes >= self.range_max_bytes {
            return Err(ZoneError::Invalid(format!(
                "range_min_bytes {} must be less than range_max_bytes {}",
                self.range_min_bytes, self.range_max_bytes
            )));
        }
        Ok(())
    }
}

/// A zone configuration or one of its parts does not parse or is inconsistent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// A constraint without `+` or `-`.
    #[error(
        "constraint \"{0}\" must be either required (prefixed with a '+') or prohibited \
         (prefixed with a '-')"
    )]
    UnprefixedConstraint(String),
    /// A constraint that is not `key=value`.
    #[error("constraint needs to be in the form \"(key=)value\", not \"{0}\"")]
    MalformedConstraint(String),
    /// The whole constraints string is malformed.
    #[error("invalid constraints {0:?}: {1}")]
    MalformedConstraints(String, String),
    /// A per-replica count that is not a positive integer.
    #[error("invalid replica count {1} for constraints \"{0}\": must be a positive integer")]
    BadReplicaCount(String, String),
    /// An inconsistent configuration.
    #[error("{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).unwrap()
    }

    #[test]
    fn list_form() {
        let c = Constraints::parse("[+region=us-east1, -az=b]").unwrap();
        assert_eq!(c.0.len(), 1);
        assert!(c.0[0].satisfied_by(&loc("region=us-east1,az=a")));
        assert!(!c.0[0].satisfied_by(&loc("region=us-east1,az=b")));
        assert_eq!(c.to_string(), "[+region=us-east1, -az=b]");
        assert_eq!(Constraints::parse("[]").unwrap(), Constraints::default());
    }

    #[test]
    fn map_form() {
        let c =
            Constraints::parse(r#"{"+region=us-east1": 3, "+region=us-west1,+az=a": 1}"#).unwrap();
        assert_eq!(c.claimed_replicas(), 4);
        assert_eq!(
            c.to_string(),
            r#"{"+region=us-east1": 3, "+region=us-west1,+az=a": 1}"#
        );
        assert!(Constraints::parse(r#"{"+region=a": 0}"#).is_err());
    }

    #[test]
    fn unprefixed_constraint_is_rejected() {
        let err = Constraints::parse("[region=a]").unwrap_err();
        assert!(err.to_string().contains("must be either required"));
    }

    #[test]
    fn lease_preferences_rank() {
        let p = LeasePreferences::parse("[[+region=a], [+region=b, +az=1]]").unwrap();
        assert_eq!(p.rank(&loc("region=a,az=3")), Some(0));
        assert_eq!(p.rank(&loc("region=b,az=1")), Some(1));
        assert_eq!(p.rank(&loc("region=b,az=2")), None);
        assert_eq!(p.to_string(), "[[+region=a], [+region=b, +az=1]]");
    }

    #[test]
    fn validation() {
        let mut z = ZoneConfig {
            num_replicas: 5,
            num_voters: Some(3),
            ..Default::default()
        };
        z.voter_constraints = Constraints::parse(r#"{"+region=us-east1": 3}"#).unwrap();
        assert!(z.validate().is_ok());
        assert_eq!(z.non_voters(), 2);
        z.num_voters = Some(6);
        assert_eq!(
            z.validate().unwrap_err().to_string(),
            "num_voters cannot be greater than num_replicas"
        );
    }
}
