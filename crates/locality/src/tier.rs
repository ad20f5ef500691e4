//! One `key=value` level of a locality.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LocalityError;

/// One level of a locality, such as `region=us-east1`. Keys and values are case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tier {
    /// The tier's name, such as `region`, `az` or `cloud`. Never empty when parsed.
    pub key: String,
    /// The tier's value, such as `us-east1`. Never empty when parsed.
    pub value: String,
}

impl Tier {
    /// Builds a tier from its parts, without validation.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Tier {
        Tier {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Parses one `key=value` tier.
    ///
    /// The text must split on `=` into exactly two parts, each non-empty once surrounding ASCII
    /// whitespace is trimmed; otherwise [`LocalityError::MalformedTier`] carries the trimmed text.
    pub fn parse(s: &str) -> Result<Tier, LocalityError> {
        let s = trim(s);
        let malformed = || LocalityError::MalformedTier(s.to_string());
        let mut parts = s.split('=');
        let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed());
        };
        let (key, value) = (trim(key), trim(value));
        if key.is_empty() || value.is_empty() {
            return Err(malformed());
        }
        Ok(Tier::new(key, value))
    }
}

/// Trims ASCII whitespace, the Sextant deviation from CockroachDB described in the crate docs.
pub(crate) fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

impl FromStr for Tier {
    type Err = LocalityError;

    fn from_str(s: &str) -> Result<Tier, LocalityError> {
        Tier::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(part: &str) -> Result<Tier, LocalityError> {
        Err(LocalityError::MalformedTier(part.to_string()))
    }

    #[test]
    fn parses_key_and_value() {
        assert_eq!(
            Tier::parse("region=us-east1"),
            Ok(Tier::new("region", "us-east1"))
        );
        assert_eq!("az=b".parse(), Ok(Tier::new("az", "b")));
    }

    #[test]
    fn trims_ascii_whitespace_around_key_and_value() {
        assert_eq!(Tier::parse(" cloud = gce\t"), Ok(Tier::new("cloud", "gce")));
    }

    #[test]
    fn keeps_inner_whitespace_and_case() {
        assert_eq!(
            Tier::parse("Region=US East"),
            Ok(Tier::new("Region", "US East"))
        );
    }

    #[test]
    fn single_tier_allows_a_comma_in_the_value_like_cockroachdb() {
        assert_eq!(Tier::parse("region=a,b"), Ok(Tier::new("region", "a,b")));
        let err = LocalityError::MalformedTier("region=east,az=az1".into());
        assert_eq!(Tier::parse("region=east,az=az1"), Err(err));
    }

    #[test]
    fn rejects_malformed_tiers() {
        assert_eq!(Tier::parse("region"), malformed("region"));
        assert_eq!(Tier::parse("region="), malformed("region="));
        assert_eq!(Tier::parse("=x"), malformed("=x"));
        assert_eq!(Tier::parse("a=b=c"), malformed("a=b=c"));
        assert_eq!(Tier::parse(""), malformed(""));
        assert_eq!(Tier::parse("  "), malformed(""));
        assert_eq!(Tier::parse(" region = "), malformed("region ="));
    }

    #[test]
    fn displays_as_key_equals_value() {
        assert_eq!(
            Tier::new("region", "us-east1").to_string(),
            "region=us-east1"
        );
    }
}
