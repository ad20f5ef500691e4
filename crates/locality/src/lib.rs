//! Localities: where a node runs, and which nodes a job may run on.
//!
//! A pure model (no async, no I/O) that behaves like CockroachDB v23.1's locality handling, so
//! flags, job options and error messages carry over unchanged.
//!
//! # Concepts
//!
//! - A [`Tier`] is one `key=value` level, such as `region=us-east1`.
//! - A [`Locality`] is a node's ordered list of tiers, from the most global to the most local,
//!   given at start-up as `--locality=region=us-east1,az=b`. A node without the flag has the
//!   empty [`Locality::default`].
//! - A [`LocalityFilter`] pins a job (`BACKUP ... WITH EXECUTION LOCALITY`, `CREATE CHANGEFEED
//!   ... WITH execution_locality`) to the nodes whose locality contains all of its tiers, such
//!   as `region=us-west1,cloud=gce`.
//! - A [`Match`] says whether a locality satisfies a filter, and if not, which filter tier
//!   failed.
//!
//! # Invariants
//!
//! - Tiers from [`Locality::parse`] and [`LocalityFilter::parse`] have a non-empty key and
//!   value with no surrounding ASCII whitespace, no `,` and no `=`. [`Tier::parse`] on its own,
//!   like CockroachDB's, lets a `,` into the value; [`Locality::new`], [`LocalityFilter::new`]
//!   and [`Tier::new`] do not validate at all.
//! - Keys and values are case-sensitive byte strings; `Region=A` is not `region=a`.
//! - Tier order is kept as written. Duplicate keys are accepted; [`Locality::find`], and so
//!   matching, only ever sees the first tier with a key.
//! - `Display` of a [`Locality`] or [`LocalityFilter`] joins the tiers with `,` and no spaces,
//!   and parsing that text gives back the same tiers.
//! - [`LocalityError`]'s messages are CockroachDB's, word for word.
//!
//! # The life of a pinned job
//!
//! 1. Each node parses its flag with [`Locality::parse`]: the text is split on `,` and each part
//!    goes to [`Tier::parse`], which wants exactly one `=` between a non-empty key and value.
//!    An empty flag is [`LocalityError::Empty`]; a bad part is
//!    [`LocalityError::MalformedTier`], quoting the part as Go's `%q` would.
//! 2. The job statement's option goes through [`LocalityFilter::parse`]. The same grammar
//!    applies, except that an empty or blank option is the empty filter, meaning "anywhere".
//! 3. For every known node, [`Locality::matches`] checks each filter tier in turn: it looks the
//!    key up with [`Locality::find`] and compares values. All must agree (AND); the order of
//!    tiers on either side does not matter, a key the node lacks fails, extra node tiers are
//!    ignored, and the empty filter matches every node. So `region=a,region=b` can never match
//!    a node with one region. The first failing filter tier comes back in [`Match::No`] for
//!    logging.
//! 4. If no node matches, the statement fails with [`no_match_message`], and
//!    [`known_localities_hint`] tells the user which localities do exist.
//! 5. Among the matching nodes, the planner prefers those closest to where the data lives:
//!    [`closest`] ranks candidates by [`Locality::shared_prefix`] with the target (equal key
//!    *and* value, position by position, stopping at the first difference) and keeps the
//!    longest. A prefix of 0 counts as nothing in common, so `closest` returns no candidates
//!    rather than all of them. With localities `region=X,az=Y`, a node in another region has
//!    prefix 0 and the caller falls back; with `cloud=aws,region=X`, every aws node has prefix
//!    at least 1 and is a candidate.
//!
//! [`parse_locality_list`] reads the `cockroach demo` form, localities separated by `:`.
//!
//! # Deliberate difference from CockroachDB
//!
//! ASCII whitespace around each tier's key and value is trimmed, so `region=a, cloud=b` has the
//! key `cloud`. CockroachDB keeps the space and produces a key `" cloud"` that silently matches
//! no node. A part that is empty once trimmed (`region=a, `) is still the `""` error, a
//! whitespace-only locality is [`LocalityError::Empty`], and a malformed part is quoted in the
//! error after trimming its ends.

mod error;
mod filter;
mod locality;
mod message;
mod similarity;
mod tier;

#[cfg(test)]
mod golden;

pub use error::LocalityError;
pub use filter::LocalityFilter;
pub use locality::{Locality, Match, parse_locality_list};
pub use message::{
    EMPTY_LOCALITY_HINT, MAX_HINT_LOCALITIES, known_localities_hint, no_match_message,
};
pub use similarity::closest;
pub use tier::Tier;
