//! The localities `sextant demo` gives its nodes, as `cockroach demo` does: three regions of
//! three zones, tier key `az`.

use locality::{Locality, Tier};

/// The nine default demo localities, `(region, az)`, in node order: n1–3 in us-east1, n4–6
/// in us-west1, n7–9 in europe-west1.
pub const DEMO_LOCALITIES: [(&str, &str); 9] = [
    ("us-east1", "b"),
    ("us-east1", "c"),
    ("us-east1", "d"),
    ("us-west1", "a"),
    ("us-west1", "b"),
    ("us-west1", "c"),
    ("europe-west1", "b"),
    ("europe-west1", "c"),
    ("europe-west1", "d"),
];

/// Localities for `n` demo nodes: the nine defaults in order, cycling past nine.
pub fn demo_localities(n: usize) -> Vec<Locality> {
    DEMO_LOCALITIES
        .iter()
        .cycle()
        .take(n)
        .map(|(region, az)| Locality::new(vec![Tier::new("region", *region), Tier::new("az", *az)]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nine_nodes_span_three_regions_and_more_cycle() {
        let locs: Vec<String> = demo_localities(10).iter().map(|l| l.to_string()).collect();
        assert_eq!(locs[0], "region=us-east1,az=b");
        assert_eq!(locs[5], "region=us-west1,az=c");
        assert_eq!(locs[8], "region=europe-west1,az=d");
        assert_eq!(locs[9], "region=us-east1,az=b");
        assert_eq!(demo_localities(0), Vec::<Locality>::new());
    }
}
