//! Choosing the candidates most similar to a target locality.

use crate::Locality;

/// The candidates with the longest [`Locality::shared_prefix`] with `target`, in input order,
/// and that length.
///
/// The length must be at least 1: if no candidate shares even the first tier, the result is an
/// empty `Vec` and 0 (not every candidate), so the caller knows nothing is close and can apply
/// its own fallback.
pub fn closest<'a, T: Copy>(
    candidates: impl IntoIterator<Item = (T, &'a Locality)>,
    target: &Locality,
) -> (Vec<T>, usize) {
    let mut best = Vec::new();
    let mut best_len = 0;
    for (id, locality) in candidates {
        let len = locality.shared_prefix(target);
        if len > best_len {
            best.clear();
            best_len = len;
        }
        if len == best_len && len > 0 {
            best.push(id);
        }
    }
    (best, best_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(s: &str) -> Locality {
        Locality::parse(s).expect("valid locality")
    }

    #[test]
    fn picks_longest_prefix_in_input_order() {
        let (a, b, c) = (
            loc("region=x,az=1"),
            loc("region=x,az=2"),
            loc("region=x,az=1"),
        );
        let target = loc("region=x,az=1");
        assert_eq!(
            closest([(1, &a), (2, &b), (3, &c)], &target),
            (vec![1, 3], 2)
        );
    }

    #[test]
    fn longer_prefix_replaces_shorter_ones() {
        let (a, b) = (loc("cloud=aws,region=y"), loc("cloud=aws,region=x"));
        let target = loc("cloud=aws,region=x");
        assert_eq!(closest([(1, &a), (2, &b)], &target), (vec![2], 2));
    }

    #[test]
    fn nothing_shared_returns_none() {
        let a = loc("region=y,az=1");
        assert_eq!(closest([(1, &a)], &loc("region=x,az=1")), (vec![], 0));
        assert_eq!(closest::<u8>([], &loc("region=x")), (vec![], 0));
        assert_eq!(closest([(1, &a)], &Locality::default()), (vec![], 0));
    }
}
