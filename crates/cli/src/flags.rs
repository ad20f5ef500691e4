//! Parsers of flag values, for clap: a bad value is a usage error (exit status 2).

use locality::Locality;
use server::StoreSpec;
use std::time::Duration;

/// `--locality`: ordered `key=value` tiers, CockroachDB's grammar and messages.
pub fn locality(s: &str) -> Result<Locality, String> {
    Locality::parse(s).map_err(|e| e.to_string())
}

/// `--store`: `DIR`, `path=DIR` or `type=mem`.
pub fn store(s: &str) -> Result<StoreSpec, String> {
    StoreSpec::parse(s)
}

/// Localities separated by `:`, as `--demo-locality` takes them.
#[derive(Clone, Debug)]
pub struct LocalityList(pub Vec<Locality>);

/// `--demo-locality`: `region=a,az=1:region=b,az=2:...`.
pub fn locality_list(s: &str) -> Result<LocalityList, String> {
    locality::parse_locality_list(s)
        .map(LocalityList)
        .map_err(|e| e.to_string())
}

/// `--log-level`: a level (`info`) or `tracing` directives (`info,sextant_kv=debug`).
pub fn log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("invalid log filter {s:?}: {e}"))
}

/// A Go-style duration, as CockroachDB's flags take: `500ms`, `10s`, `1m30s`, `1.5h`.
/// Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. A bare `0` is zero.
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 500ms, 10s, 1m30s");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let (number, after) = rest.split_at_checked(digits).ok_or_else(bad)?;
        let value: f64 = number.parse().map_err(|_| bad())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at_checked(unit_len).ok_or_else(bad)?;
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = after;
        total += value * seconds;
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "s", "10x", "1m30", "-1s", "ms10"] {
            assert!(duration(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn localities() {
        assert!(locality("region=us-east1,az=b").is_ok());
        assert_eq!(
            locality("region").err().as_deref(),
            Some(r#"tier must be in the form "key=value" not "region""#)
        );
        assert_eq!(locality_list("a=1:b=2").map(|l| l.0.len()), Ok(2));
        assert!(locality_list("a=1:").is_err());
    }
}
