//! A node's locality: its ordered tiers, and how it is matched and compared.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::tier::trim;
use crate::{LocalityError, LocalityFilter, Tier};

/// Where a node runs: tiers ordered from the most global to the most local, such as
/// `region=us-east1,az=b`. The default is the empty locality of a node started without
/// `--locality`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Locality {
    /// The tiers, most global first. May repeat a key; lookups see the first.
    tiers: Vec<Tier>,
}

/// The outcome of [`Locality::matches`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Match {
    /// Every filter tier is satisfied.
    Yes,
    /// Some filter tier is not satisfied.
    No {
        /// The first filter tier, in filter order, that the locality does not satisfy.
        failed: Tier,
    },
}

impl Match {
    /// Whether the locality matched the filter.
    pub fn is_match(&self) -> bool {
        matches!(self, Match::Yes)
    }
}

impl Locality {
    /// Parses a `--locality` flag such as `region=us-east1,az=b`.
    ///
    /// Errors with [`LocalityError::Empty`] for an empty (or all-whitespace) string, and with
    /// [`LocalityError::MalformedTier`] for the first comma-separated part that is not a tier.
    pub fn parse(s: &str) -> Result<Locality, LocalityError> {
        if trim(s).is_empty() {
            return Err(LocalityError::Empty);
        }
        parse_tiers(s).map(Locality::new)
    }

    /// Builds a locality from tiers ordered most global first, without validation.
    pub fn new(tiers: Vec<Tier>) -> Locality {
        Locality { tiers }
    }

    /// The tiers, most global first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// Whether the locality has no tiers.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The value of the first tier with `key`, if any.
    pub fn find(&self, key: &str) -> Option<&str> {
        self.tiers
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// The value of the first `region` tier, if any.
    pub fn region(&self) -> Option<&str> {
        self.find("region")
    }

    /// Whether this locality satisfies every tier of `filter`.
    ///
    /// A filter tier is satisfied when [`Locality::find`] of its key returns its value. Order is
    /// irrelevant, extra tiers here are ignored, and the empty filter matches everything.
    pub fn matches(&self, filter: &LocalityFilter) -> Match {
        let failed = filter
            .tiers()
            .iter()
            .find(|t| self.find(&t.key) != Some(t.value.as_str()));
        match failed {
            None => Match::Yes,
            Some(tier) => Match::No {
                failed: tier.clone(),
            },
        }
    }

    /// How many leading tiers this locality and `other` have in common, comparing key and value
    /// position by position and stopping at the first difference.
    pub fn shared_prefix(&self, other: &Locality) -> usize {
        self.tiers
            .iter()
            .zip(&other.tiers)
            .take_while(|(a, b)| a == b)
            .count()
    }
}

/// Parses comma-separated tiers; shared by [`Locality::parse`] and [`LocalityFilter::parse`].
pub(crate) fn parse_tiers(s: &str) -> Result<Vec<Tier>, LocalityError> {
    s.split(',').map(Tier::parse).collect()
}

/// Parses a colon-separated list of localities, as `cockroach demo --demo-locality` takes:
/// `region=a,az=1:region=b,az=2`. Every element must be a valid, non-empty locality.
pub fn parse_locality_list(s: &str) -> Result<Vec<Locality>, LocalityError> {
    s.split(':').map(Locality::parse).collect()
}

/// Writes tiers joined by `,` with no spaces; shared with [`LocalityFilter`]'s `Display`.
pub(crate) fn fmt_tiers(tiers: &[Tier], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    for (i, tier) in tiers.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{tier}")?;
    }
    Ok(())
}

impl fmt::Display for Locality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_tiers(&self.tiers, f)
    }
}

impl FromStr for Locality {
    type Err = LocalityError;

    fn from_str(s: &str) -> Result<Locality, LocalityError> {
        Locality::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).expect("valid locality")
    }

    fn filter(s: &str) -> LocalityFilter {
        LocalityFilter::parse(s).expect("valid filter")
    }

    fn malformed(part: &str) -> Result<Locality, LocalityError> {
        Err(LocalityError::MalformedTier(part.to_string()))
    }

    #[test]
    fn parses_ordered_tiers_and_round_trips() {
        let l = loc("region=us-east1,az=b");
        assert_eq!(
            l.tiers(),
            [Tier::new("region", "us-east1"), Tier::new("az", "b")]
        );
        assert_eq!(l.to_string(), "region=us-east1,az=b");
    }

    #[test]
    fn rejects_empty_input() {
        assert_eq!(Locality::parse(""), Err(LocalityError::Empty));
        assert_eq!(Locality::parse(" \t"), Err(LocalityError::Empty));
    }

    #[test]
    fn rejects_malformed_parts() {
        assert_eq!(Locality::parse("region"), malformed("region"));
        assert_eq!(Locality::parse("region="), malformed("region="));
        assert_eq!(Locality::parse("=x"), malformed("=x"));
        assert_eq!(Locality::parse("a=b=c"), malformed("a=b=c"));
        assert_eq!(Locality::parse("region=us-east1,"), malformed(""));
        assert_eq!(Locality::parse("region=a,,az=b"), malformed(""));
        assert_eq!(Locality::parse("region=a, "), malformed(""));
    }

    #[test]
    fn reports_first_malformed_part() {
        assert_eq!(Locality::parse("a,b"), malformed("a"));
    }

    #[test]
    fn quotes_malformed_part_like_go() {
        let err = Locality::parse(r#"region=us-east1,"x\"#).expect_err("malformed");
        assert_eq!(
            err.to_string(),
            r#"tier must be in the form "key=value" not "\"x\\""#
        );
    }

    #[test]
    fn trims_whitespace_around_keys_and_values() {
        let l = loc("region=a, cloud=b");
        assert_eq!(l.find("cloud"), Some("b"));
        assert_eq!(l.to_string(), "region=a,cloud=b");
    }

    #[test]
    fn find_returns_first_tier_with_key() {
        let l = loc("region=a,az=1,region=b");
        assert_eq!(l.find("region"), Some("a"));
        assert_eq!(l.region(), Some("a"));
        assert_eq!(l.find("cloud"), None);
    }

    #[test]
    fn keys_and_values_are_case_sensitive() {
        let l = loc("Region=A");
        assert_eq!(l.find("region"), None);
        assert!(!l.matches(&filter("Region=a")).is_match());
    }

    #[test]
    fn default_is_empty() {
        assert!(Locality::default().is_empty());
        assert_eq!(Locality::default().to_string(), "");
        assert_eq!(Locality::default().region(), None);
    }

    #[test]
    fn matches_ignore_order_and_extra_tiers() {
        let node = loc("cloud=gce,region=us-west1,az=a");
        assert_eq!(
            node.matches(&filter("region=us-west1,cloud=gce")),
            Match::Yes
        );
        assert_eq!(node.matches(&filter("az=a")), Match::Yes);
    }

    #[test]
    fn missing_key_or_wrong_value_reports_first_failed_tier() {
        let node = loc("region=us-west1,az=a");
        let failed = Tier::new("cloud", "gce");
        assert_eq!(
            node.matches(&filter("cloud=gce,region=x")),
            Match::No { failed }
        );
        let failed = Tier::new("region", "x");
        assert_eq!(node.matches(&filter("az=a,region=x")), Match::No { failed });
    }

    #[test]
    fn empty_filter_matches_everything() {
        assert!(
            loc("region=a")
                .matches(&LocalityFilter::default())
                .is_match()
        );
        assert!(Locality::default().matches(&filter("")).is_match());
        assert!(!Locality::default().matches(&filter("region=a")).is_match());
    }

    #[test]
    fn duplicate_filter_keys_cannot_match_a_single_region() {
        let f = filter("region=a,region=b");
        let failed = Tier::new("region", "b");
        assert_eq!(loc("region=a").matches(&f), Match::No { failed });
        // Duplicate node keys: only the first is consulted.
        assert!(
            !loc("region=b,region=a")
                .matches(&filter("region=a"))
                .is_match()
        );
    }

    #[test]
    fn shared_prefix_compares_position_by_position() {
        let a = loc("cloud=aws,region=x,az=1");
        assert_eq!(a.shared_prefix(&a), 3);
        assert_eq!(a.shared_prefix(&loc("cloud=aws,region=x,az=2")), 2);
        assert_eq!(a.shared_prefix(&loc("cloud=aws,region=y,az=1")), 1);
        assert_eq!(a.shared_prefix(&loc("cloud=aws")), 1);
        assert_eq!(a.shared_prefix(&loc("region=x,cloud=aws")), 0);
        assert_eq!(a.shared_prefix(&loc("cloud=gcp,region=x,az=1")), 0);
        assert_eq!(a.shared_prefix(&Locality::default()), 0);
    }

    #[test]
    fn shared_prefix_needs_equal_keys() {
        assert_eq!(loc("region=x").shared_prefix(&loc("zone=x")), 0);
    }

    #[test]
    fn parses_locality_lists() {
        let list = parse_locality_list("region=a,az=1:region=b,az=2").expect("valid list");
        assert_eq!(list, vec![loc("region=a,az=1"), loc("region=b,az=2")]);
        assert_eq!(parse_locality_list("region=a"), Ok(vec![loc("region=a")]));
    }

    #[test]
    fn locality_list_rejects_empty_elements() {
        assert_eq!(parse_locality_list(""), Err(LocalityError::Empty));
        assert_eq!(parse_locality_list("region=a:"), Err(LocalityError::Empty));
        assert_eq!(
            parse_locality_list("region=a:az"),
            Err(LocalityError::MalformedTier("az".into()))
        );
    }
}
