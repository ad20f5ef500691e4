//! User-facing text for a filter that no node matches.

use std::collections::BTreeSet;

use crate::{Locality, LocalityFilter};

/// At most this many localities are listed by [`known_localities_hint`]; the rest are counted.
pub const MAX_HINT_LOCALITIES: usize = 10;

/// How [`known_localities_hint`] shows a node started without `--locality`.
pub const EMPTY_LOCALITY_HINT: &str = "(empty)";

/// The error text when no node matches `filter`, as CockroachDB words it:
/// `no instances found matching locality filter region=mars`.
pub fn no_match_message(filter: &LocalityFilter) -> String {
    format!("no instances found matching locality filter {filter}")
}

/// A hint listing the distinct `known` localities, sorted by their text and separated by `; `,
/// such as `known localities: region=us-east1,az=b; region=us-west1,az=a`.
///
/// Only the first [`MAX_HINT_LOCALITIES`] are listed, followed by `, and N more`. An empty
/// locality is shown as [`EMPTY_LOCALITY_HINT`]; no localities at all gives
/// `known localities: none`.
pub fn known_localities_hint<'a>(known: impl IntoIterator<Item = &'a Locality>) -> String {
    let distinct: BTreeSet<String> = known.into_iter().map(hint_text).collect();
    if distinct.is_empty() {
        return "known localities: none".to_string();
    }
    let listed: Vec<&str> = distinct
        .iter()
        .take(MAX_HINT_LOCALITIES)
        .map(String::as_str)
        .collect();
    let mut hint = format!("known localities: {}", listed.join("; "));
    let more = distinct.len() - listed.len();
    if more > 0 {
        hint.push_str(&format!(", and {more} more"));
    }
    hint
}

/// One locality as the hint lists it.
fn hint_text(locality: &Locality) -> String {
    if locality.is_empty() {
        return EMPTY_LOCALITY_HINT.to_string();
    }
    locality.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).expect("valid locality")
    }

    #[test]
    fn no_match_message_names_the_filter() {
        let filter = LocalityFilter::parse("region=mars").expect("valid filter");
        assert_eq!(
            no_match_message(&filter),
            "no instances found matching locality filter region=mars"
        );
    }

    #[test]
    fn hint_sorts_and_deduplicates() {
        let known = [
            loc("region=us-west1,az=a"),
            loc("region=us-east1,az=b"),
            loc("region=us-west1,az=a"),
        ];
        assert_eq!(
            known_localities_hint(&known),
            "known localities: region=us-east1,az=b; region=us-west1,az=a"
        );
    }

    #[test]
    fn hint_caps_the_list() {
        let known: Vec<Locality> = (0..13).map(|i| loc(&format!("region=r{i:02}"))).collect();
        let hint = known_localities_hint(&known);
        assert!(
            hint.starts_with("known localities: region=r00; region=r01; "),
            "{hint}"
        );
        assert!(hint.ends_with("; region=r09, and 3 more"), "{hint}");
    }

    #[test]
    fn hint_shows_empty_localities_and_no_localities() {
        assert_eq!(known_localities_hint([]), "known localities: none");
        let known = [Locality::default(), loc("region=a")];
        assert_eq!(
            known_localities_hint(&known),
            "known localities: (empty); region=a"
        );
    }
}
