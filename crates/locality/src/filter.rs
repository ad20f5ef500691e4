//! A locality filter: the tiers a node must have to run a pinned job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::locality::{fmt_tiers, parse_tiers};
use crate::tier::trim;
use crate::{LocalityError, Tier};

/// The tiers a node's locality must contain for a job to run there, such as
/// `region=us-west1,cloud=gce` from `EXECUTION LOCALITY` or `execution_locality`. Order is
/// irrelevant. The default, empty filter matches every node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LocalityFilter {
    /// The required tiers, in the order written (which only decides which one is reported as
    /// failed).
    tiers: Vec<Tier>,
}

impl LocalityFilter {
    /// Parses a filter. An empty or all-whitespace string is the empty filter, because a job
    /// option given as `''` means "run anywhere"; anything else parses like a locality.
    pub fn parse(s: &str) -> Result<LocalityFilter, LocalityError> {
        if trim(s).is_empty() {
            return Ok(LocalityFilter::default());
        }
        parse_tiers(s).map(LocalityFilter::new)
    }

    /// Builds a filter from tiers, without validation.
    pub fn new(tiers: Vec<Tier>) -> LocalityFilter {
        LocalityFilter { tiers }
    }

    /// Whether the filter has no tiers, and so matches every node.
    pub fn is_empty(&self) -> bool {
        self.tiers.is_empty()
    }

    /// The required tiers, in the order written.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }
}

impl fmt::Display for LocalityFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_tiers(&self.tiers, f)
    }
}

impl FromStr for LocalityFilter {
    type Err = LocalityError;

    fn from_str(s: &str) -> Result<LocalityFilter, LocalityError> {
        LocalityFilter::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_blank_is_the_empty_filter() {
        assert_eq!(LocalityFilter::parse(""), Ok(LocalityFilter::default()));
        assert_eq!(LocalityFilter::parse("  \t"), Ok(LocalityFilter::default()));
        assert!(LocalityFilter::default().is_empty());
        assert_eq!(LocalityFilter::default().to_string(), "");
    }

    #[test]
    fn parses_and_displays_like_a_locality() {
        let f = LocalityFilter::parse("region=us-west1, cloud=gce").expect("valid filter");
        assert_eq!(
            f.tiers(),
            [Tier::new("region", "us-west1"), Tier::new("cloud", "gce")]
        );
        assert_eq!(f.to_string(), "region=us-west1,cloud=gce");
    }

    #[test]
    fn rejects_malformed_tiers() {
        let err = LocalityError::MalformedTier(String::new());
        assert_eq!(LocalityFilter::parse(","), Err(err));
        let err = LocalityError::MalformedTier("region".into());
        assert_eq!("region".parse::<LocalityFilter>(), Err(err));
    }
}
