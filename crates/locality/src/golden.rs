//! Goldenscript tests: the scripts in `src/testdata/` drive the public API.
//!
//! Commands (a locality written `none` is the empty locality of a node without `--locality`):
//!
//! - `parse <locality>`: [`Locality::parse`]; prints the display form and each exact tier.
//! - `filter <filter>`: [`LocalityFilter::parse`].
//! - `list <list>`: [`parse_locality_list`].
//! - `match node=<locality> filter=<filter>`: [`Locality::matches`].
//! - `prefix a=<locality> b=<locality>`: [`Locality::shared_prefix`], both ways round.
//! - `closest target=<locality> candidates=<locality>;<locality>;...`: [`closest`], naming
//!   candidates `n1`, `n2`, ... by position.
//! - `no_match filter=<filter> known=<locality>;<locality>;...`: [`no_match_message`] and
//!   [`known_localities_hint`].
//!
//! Regenerate with `UPDATE_GOLDENFILES=1 cargo test -p sextant-locality` and review the diff.

use std::error::Error;
use std::fmt::Write as _;

use crate::{
    Locality, LocalityFilter, Match, Tier, closest, known_localities_hint, no_match_message,
    parse_locality_list,
};

/// The commands understood by [`LocalityRunner`].
#[derive(goldenscript::Command)]
enum Command {
    Parse(String),
    Filter(String),
    List(String),
    Match {
        #[arg(key)]
        node: String,
        #[arg(key)]
        filter: String,
    },
    Prefix {
        #[arg(key)]
        a: String,
        #[arg(key)]
        b: String,
    },
    Closest {
        #[arg(key)]
        target: String,
        #[arg(key)]
        candidates: String,
    },
    NoMatch {
        #[arg(key)]
        filter: String,
        #[arg(key)]
        known: String,
    },
}

/// Runs [`Command`]s; stateless, since every command names its inputs.
struct LocalityRunner;

impl base::testing::GoldenRunner<Command> for LocalityRunner {
    fn run(&mut self, command: &Command) -> Result<String, Box<dyn Error>> {
        match command {
            Command::Parse(s) => Ok(describe(&Locality::parse(s)?)),
            Command::Filter(s) => Ok(describe_filter(&LocalityFilter::parse(s)?)),
            Command::List(s) => Ok(parse_locality_list(s)?.iter().map(describe).collect()),
            Command::Match { node, filter } => run_match(node, filter),
            Command::Prefix { a, b } => run_prefix(a, b),
            Command::Closest { target, candidates } => run_closest(target, candidates),
            Command::NoMatch { filter, known } => run_no_match(filter, known),
        }
    }
}

/// Parses a test locality, where `none` is the empty locality.
fn locality(s: &str) -> Result<Locality, Box<dyn Error>> {
    if s == "none" {
        return Ok(Locality::default());
    }
    Ok(Locality::parse(s)?)
}

/// Parses a `;`-separated list of test localities; the empty string is the empty list.
fn localities(s: &str) -> Result<Vec<Locality>, Box<dyn Error>> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split(';').map(locality).collect()
}

/// The display form, then each tier with its exact key and value.
fn describe(locality: &Locality) -> String {
    format!("{locality} {}\n", exact_tiers(locality.tiers()))
}

/// Like [`describe`], for a filter.
fn describe_filter(filter: &LocalityFilter) -> String {
    if filter.is_empty() {
        return "empty filter (matches everything)\n".to_string();
    }
    format!("filter {filter} {}\n", exact_tiers(filter.tiers()))
}

/// Tiers with Rust-quoted keys and values, to make trimming visible.
fn exact_tiers(tiers: &[Tier]) -> String {
    let tiers: Vec<String> = tiers
        .iter()
        .map(|t| format!("{:?}={:?}", t.key, t.value))
        .collect();
    format!("[{}]", tiers.join(" "))
}

/// `match`: whether the node satisfies the filter, or the tier that failed.
fn run_match(node: &str, filter: &str) -> Result<String, Box<dyn Error>> {
    let (node, filter) = (locality(node)?, LocalityFilter::parse(filter)?);
    Ok(match node.matches(&filter) {
        Match::Yes => "match\n".to_string(),
        Match::No { failed } => format!("no match: failed tier {failed}\n"),
    })
}

/// `prefix`: the shared prefix, checked to be the same both ways round.
fn run_prefix(a: &str, b: &str) -> Result<String, Box<dyn Error>> {
    let (a, b) = (locality(a)?, locality(b)?);
    let (ab, ba) = (a.shared_prefix(&b), b.shared_prefix(&a));
    assert_eq!(ab, ba, "shared_prefix must be symmetric");
    Ok(format!("shared prefix {ab}\n"))
}

/// `closest`: the winning candidates by number, with their localities.
fn run_closest(target: &str, candidates: &str) -> Result<String, Box<dyn Error>> {
    let (target, candidates) = (locality(target)?, localities(candidates)?);
    let numbered = candidates.iter().enumerate().map(|(i, l)| (i + 1, l));
    let (best, len) = closest(numbered, &target);
    if best.is_empty() {
        return Ok(format!("none (shared prefix {len})\n"));
    }
    let mut out = format!("shared prefix {len}:\n");
    for n in best {
        writeln!(out, "  n{n} {}", candidates[n - 1])?;
    }
    Ok(out)
}

/// `no_match`: the error text and the hint, one per line.
fn run_no_match(filter: &str, known: &str) -> Result<String, Box<dyn Error>> {
    let (filter, known) = (LocalityFilter::parse(filter)?, localities(known)?);
    Ok(format!(
        "{}\n{}\n",
        no_match_message(&filter),
        known_localities_hint(&known)
    ))
}

base::goldenscripts! {
    runner: LocalityRunner,
    dir: "src/testdata",
    scripts: [parse, filter, matching, similarity, messages],
}
