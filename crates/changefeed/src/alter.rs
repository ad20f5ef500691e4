//! `ALTER CHANGEFEED <job> ADD ... DROP ... SET ... UNSET ...`: what a paused changefeed
//! watches and how, rewritten in its job record before it is resumed.
//!
//! The hook resolves the statement's tables and hands [`apply`] the job's details and
//! checkpoint with the commands, in order. [`apply`] is pure and answers with CockroachDB's
//! errors (`target "TABLE t" already watched by changefeed`, `cannot drop all targets`,
//! `cannot alter option "cursor"`, ...) or the new details and checkpoint:
//!
//! - **ADD** appends the table. By default it is watched from the feed's high-water with no
//!   initial scan, as CockroachDB does; `WITH initial_scan` (or `='yes'`) scans it at the
//!   high-water first. The scan is a backfill of just those tables
//!   ([`ChangefeedProgress::scan_tables`]), so the other tables are not emitted again.
//! - **DROP** removes the table: the resumed feed plans only the remaining tables' spans, so
//!   no change of the dropped one is emitted again, not even one below the high-water.
//! - **SET / UNSET** edit the options as written and check them again like CREATE does
//!   (`options::parse_options`, then the sink's rules); `cursor`, `end_time` and the
//!   initial-scan options cannot change, the sink only within its scheme. Topics follow the
//!   new options (`full_table_name`, the sink's `topic_name`); a new `execution_locality`
//!   becomes the job's (the registry checks that a live node matches it).
//!
//! [`describe`] writes the new job description, a CREATE CHANGEFEED statement, as
//! CockroachDB does.

use std::collections::{BTreeMap, BTreeSet};

use base::errcode::{self, CodedError};
use sql::parser::{
    ChangefeedTarget, ChangefeedTargets, CreateChangefeed, KvOption, Name, OptionValue,
    QualifiedName,
};

use crate::job::{ChangefeedDetails, ChangefeedProgress, TargetTable};
use crate::options::{InitialScan, SinkKind, is_known_option, parse_options};
use crate::sink::{scheme, topic_for};

/// Options ALTER CHANGEFEED cannot change (CockroachDB's
/// `AlterChangefeedUnsupportedOptions`).
pub const UNALTERABLE: &[&str] = &[
    "cursor",
    "end_time",
    "initial_scan",
    "initial_scan_only",
    "no_initial_scan",
];

/// The option naming the sink URI in `SET sink = '...'`.
pub const SINK_OPTION: &str = "sink";

/// One command of the statement, its tables resolved by the hook.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `ADD TABLE t, ... [WITH initial_scan ...]`.
    Add {
        /// Each table as written (`TABLE t`, for errors) and as resolved (its topic is
        /// filled in by [`apply`]).
        tables: Vec<(String, TargetTable)>,
        /// The `WITH` options as written.
        options: Vec<(String, Option<String>)>,
    },
    /// `DROP TABLE t, ...`: each table as written and its descriptor id.
    Drop(Vec<(String, u64)>),
    /// `SET option [= value], ...` as written.
    Set(Vec<(String, Option<String>)>),
    /// `UNSET option, ...`.
    Unset(Vec<String>),
}

fn invalid(message: impl Into<String>) -> CodedError {
    CodedError::new(errcode::INVALID_PARAMETER_VALUE, message.into())
}

/// Whether `ADD ... WITH <options>` scans the added tables. `original` is the feed's own
/// `initial_scan`: `'only'` scans new tables only on a feed that is itself `'only'`.
fn add_scans(
    options: &[(String, Option<String>)],
    original: InitialScan,
) -> Result<bool, CodedError> {
    let mut initial_scan: Option<&str> = None;
    let mut no_initial_scan = false;
    for (name, value) in options {
        match name.as_str() {
            "initial_scan" => initial_scan = Some(value.as_deref().unwrap_or("")),
            "no_initial_scan" => no_initial_scan = true,
            other => return Err(invalid(format!("invalid option {other:?}"))),
        }
    }
    if let Some(v) = initial_scan
        && !["", "yes", "no", "only"].contains(&v)
    {
        return Err(invalid(format!(
            "cannot set \"initial_scan\" to {v:?}. possible values for initial_scan are \
             \"yes\", \"no\", \"only\", or no value"
        )));
    }
    if initial_scan.is_some() && no_initial_scan {
        return Err(invalid(
            "cannot specify both \"initial_scan\" and \"no_initial_scan\"",
        ));
    }
    Ok(match initial_scan {
        Some("" | "yes") => true,
        Some("only") => original == InitialScan::Only,
        _ => false,
    })
}

fn query_feed_error() -> CodedError {
    invalid("cannot modify targets when using CDC query changefeed; consider recreating changefeed")
}

/// Applies the commands, in order, to a paused feed's details and checkpoint. `sink_kind`
/// says what kind of sink a URI names (resolving `external://`).
pub fn apply(
    details: &ChangefeedDetails,
    progress: &ChangefeedProgress,
    commands: &[Command],
    sink_kind: &dyn Fn(&str) -> Result<SinkKind, CodedError>,
) -> Result<(ChangefeedDetails, ChangefeedProgress), CodedError> {
    let mut written: BTreeMap<String, Option<String>> = details.options.written.clone();
    let mut sink = details.sink_uri.clone();
    let mut targets = details.targets.clone();
    // Table id → whether it is scanned, for the tables this statement adds.
    let mut added: BTreeMap<u64, bool> = BTreeMap::new();
    let mut dropped: BTreeSet<u64> = BTreeSet::new();
    for command in commands {
        match command {
            Command::Set(options) => {
                for (name, value) in options {
                    if UNALTERABLE.contains(&name.as_str()) {
                        return Err(invalid(format!("cannot alter option {name:?}")));
                    }
                    if name != SINK_OPTION {
                        written.insert(name.clone(), value.clone());
                        continue;
                    }
                    let Some(uri) = value else {
                        return Err(invalid("option \"sink\" requires a value"));
                    };
                    let (new, old) = (scheme(uri), scheme(&sink));
                    if new != old {
                        return Err(invalid(format!(
                            "New sink type {:?} does not match original sink type {:?}. \
                             Altering the sink type of a changefeed is disallowed, consider \
                             creating a new changefeed instead.",
                            new.unwrap_or_default(),
                            old.unwrap_or_default()
                        )));
                    }
                    sink = uri.clone();
                }
            }
            Command::Unset(names) => {
                for name in names {
                    if name == SINK_OPTION {
                        return Err(invalid(format!("cannot unset option {name:?}")));
                    }
                    if !is_known_option(name) {
                        return Err(invalid(format!("invalid option {name:?}")));
                    }
                    if UNALTERABLE.contains(&name.as_str()) {
                        return Err(invalid(format!("cannot alter option {name:?}")));
                    }
                    written.remove(name);
                }
            }
            Command::Add { tables, options } => {
                if details.query.is_some() {
                    return Err(query_feed_error());
                }
                let scan = add_scans(options, details.options.initial_scan)?;
                for (as_written, table) in tables {
                    if targets.iter().any(|t| t.table_id == table.table_id) {
                        return Err(invalid(format!(
                            "target {as_written:?} already watched by changefeed"
                        )));
                    }
                    targets.push(table.clone());
                    added.insert(table.table_id, scan);
                    dropped.remove(&table.table_id);
                }
            }
            Command::Drop(tables) => {
                if details.query.is_some() {
                    return Err(query_feed_error());
                }
                for (as_written, id) in tables {
                    let Some(i) = targets.iter().position(|t| t.table_id == *id) else {
                        return Err(invalid(format!(
                            "target {as_written:?} already not watched by changefeed"
                        )));
                    };
                    targets.remove(i);
                    added.remove(id);
                    dropped.insert(*id);
                }
            }
        }
    }
    if targets.is_empty() {
        return Err(invalid("cannot drop all targets"));
    }
    let as_written: Vec<(String, Option<String>)> = written.into_iter().collect();
    let mut options = parse_options(&as_written, details.query.is_some())?;
    options.validate_for_sink(sink_kind(&sink)?)?;
    for t in &mut targets {
        t.topic = topic_for(&sink, &t.name, &t.full_name, &options);
    }
    let new_progress = rescan(details, progress, &added, &dropped);
    let new_details = ChangefeedDetails {
        sink_uri: sink,
        options,
        targets,
        ..details.clone()
    };
    Ok((new_details, new_progress))
}

/// The checkpoint after adding and dropping tables: the tables added with an initial scan
/// join the scan that is due, or start one at the high-water; dropped tables and tables
/// added without a scan leave it.
fn rescan(
    details: &ChangefeedDetails,
    progress: &ChangefeedProgress,
    added: &BTreeMap<u64, bool>,
    dropped: &BTreeSet<u64>,
) -> ChangefeedProgress {
    let mut p = progress.clone();
    p.versions.retain(|(id, _)| !dropped.contains(id));
    if added.is_empty() && dropped.is_empty() {
        return p;
    }
    let initial_due = !p.scan_done && details.options.initial_scan != InitialScan::No;
    let due = p.backfill_at.is_some() || initial_due;
    let mut tables: Vec<u64> = if due {
        p.scan_tables
            .clone()
            .unwrap_or_else(|| details.targets.iter().map(|t| t.table_id).collect())
    } else {
        Vec::new()
    };
    tables.retain(|id| !dropped.contains(id) && !added.contains_key(id));
    tables.extend(added.iter().filter(|(_, scan)| **scan).map(|(id, _)| *id));
    if tables.is_empty() {
        if due {
            // Nothing left to scan: the due scan is done.
            p.scan_done = true;
            p.backfill_at = None;
            p.scan_tables = None;
        }
        return p;
    }
    if p.backfill_at.is_none() && !initial_due {
        p.backfill_at = Some(p.high_water.unwrap_or(details.start));
        p.scan_done = false;
    }
    p.scan_tables = Some(tables);
    p
}

/// The job description after ALTER: the CREATE CHANGEFEED statement that would make this
/// feed, with full table names, the sink and the options as written (without the
/// initial-scan ones, which no longer describe the feed), redacted
/// ([`CreateChangefeed::redacted`]: the sink URI's secrets, `webhook_auth_header`...).
pub fn describe(details: &ChangefeedDetails) -> String {
    let targets = details
        .targets
        .iter()
        .map(|t| ChangefeedTarget {
            table: QualifiedName(t.full_name.split('.').map(Name::new).collect()),
            family: None,
        })
        .collect();
    let options = details
        .options
        .written
        .iter()
        .filter(|(k, _)| {
            !["initial_scan", "initial_scan_only", "no_initial_scan"].contains(&k.as_str())
        })
        .map(|(k, v)| KvOption {
            key: Name::new(k.clone()),
            value: v.clone().map(OptionValue::String),
        })
        .collect();
    CreateChangefeed {
        targets: ChangefeedTargets::Tables(targets),
        sink: Some(OptionValue::String(details.sink_uri.clone())),
        options,
    }
    .redacted()
    .to_string()
}

#[cfg(test)]
mod tests {
    use base::Timestamp;

    use super::*;
    use crate::sink::sink_kind;

    fn target(id: u64, name: &str) -> TargetTable {
        TargetTable {
            table_id: id,
            name: name.into(),
            full_name: format!("d.public.{name}"),
            topic: name.into(),
        }
    }

    fn feed(options: &[(&str, Option<&str>)]) -> ChangefeedDetails {
        let written: Vec<(String, Option<String>)> = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect();
        let mut options = parse_options(&written, false).expect("options");
        options.validate_for_sink(SinkKind::Kafka).expect("sink");
        ChangefeedDetails {
            sink_uri: "kafka://broker:9092?topic_prefix=p_".into(),
            options,
            targets: vec![target(1, "a"), target(2, "b")],
            start: ts(10),
            end_time: None,
            query: None,
        }
    }

    fn ts(wall: i64) -> Timestamp {
        Timestamp { wall, logical: 0 }
    }

    fn kind(uri: &str) -> Result<SinkKind, CodedError> {
        sink_kind(uri).map_err(|e| e.to_client())
    }

    fn run(
        details: &ChangefeedDetails,
        progress: &ChangefeedProgress,
        commands: &[Command],
    ) -> Result<(ChangefeedDetails, ChangefeedProgress), String> {
        apply(details, progress, commands, &kind).map_err(|e| e.message.clone())
    }

    fn add(tables: &[(u64, &str)], options: &[(&str, Option<&str>)]) -> Command {
        Command::Add {
            tables: tables
                .iter()
                .map(|(id, n)| (format!("TABLE {n}"), target(*id, n)))
                .collect(),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect(),
        }
    }

    fn drop(tables: &[(u64, &str)]) -> Command {
        Command::Drop(
            tables
                .iter()
                .map(|(id, n)| (format!("TABLE {n}"), *id))
                .collect(),
        )
    }

    fn checkpointed(hw: i64) -> ChangefeedProgress {
        ChangefeedProgress {
            high_water: Some(ts(hw)),
            scan_done: true,
            ..ChangefeedProgress::default()
        }
    }

    #[test]
    fn add_without_scan_by_default_and_with_scan_on_request() {
        let d = feed(&[]);
        let (nd, np) = run(&d, &checkpointed(50), &[add(&[(3, "c")], &[])]).expect("add");
        let ids: Vec<u64> = nd.targets.iter().map(|t| t.table_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(
            nd.targets[2].topic, "p_c",
            "topics follow the sink's prefix"
        );
        assert_eq!(
            np,
            checkpointed(50),
            "no scan: nothing to do at the high-water"
        );

        for with in [
            vec![("initial_scan", None)],
            vec![("initial_scan", Some("yes"))],
        ] {
            let (_, np) = run(&d, &checkpointed(50), &[add(&[(3, "c")], &with)]).expect("add");
            assert_eq!(np.backfill_at, Some(ts(50)), "{with:?}");
            assert_eq!(np.scan_tables, Some(vec![3]));
            assert!(!np.scan_done);
            assert_eq!(np.high_water, Some(ts(50)));
        }
        // 'only' scans only on a feed that is itself initial_scan='only'.
        let (_, np) = run(
            &d,
            &checkpointed(50),
            &[add(&[(3, "c")], &[("initial_scan", Some("only"))])],
        )
        .expect("add");
        assert_eq!(np.scan_tables, None);
    }

    #[test]
    fn added_tables_join_a_scan_that_is_due() {
        let d = feed(&[]);
        let pending = ChangefeedProgress::default();
        let (_, np) = run(&d, &pending, &[add(&[(3, "c")], &[])]).expect("add");
        assert_eq!(
            np.scan_tables,
            Some(vec![1, 2]),
            "the new table is not scanned"
        );
        assert_eq!(np.backfill_at, None, "the initial scan stays at the start");
        let (_, np) = run(
            &d,
            &pending,
            &[
                add(&[(3, "c")], &[("initial_scan", None)]),
                drop(&[(1, "a")]),
            ],
        )
        .expect("add");
        assert_eq!(np.scan_tables, Some(vec![2, 3]));
        // Every table still to scan dropped: the scan is done.
        let (_, np) = run(
            &d,
            &pending,
            &[add(&[(3, "c")], &[]), drop(&[(1, "a"), (2, "b")])],
        )
        .expect("drop");
        assert!(np.scan_done && np.scan_tables.is_none());
    }

    #[test]
    fn target_errors() {
        let d = feed(&[]);
        let p = checkpointed(50);
        for (commands, want) in [
            (
                vec![add(&[(2, "b")], &[])],
                "target \"TABLE b\" already watched by changefeed",
            ),
            (
                vec![drop(&[(3, "c")])],
                "target \"TABLE c\" already not watched by changefeed",
            ),
            (vec![drop(&[(1, "a"), (2, "b")])], "cannot drop all targets"),
            (
                vec![add(&[(3, "c")], &[("initial_scan", Some("maybe"))])],
                "cannot set \"initial_scan\" to \"maybe\". possible values for initial_scan \
                 are \"yes\", \"no\", \"only\", or no value",
            ),
            (
                vec![add(
                    &[(3, "c")],
                    &[("initial_scan", None), ("no_initial_scan", None)],
                )],
                "cannot specify both \"initial_scan\" and \"no_initial_scan\"",
            ),
            (
                vec![add(&[(3, "c")], &[("diff", None)])],
                "invalid option \"diff\"",
            ),
        ] {
            assert_eq!(run(&d, &p, &commands).expect_err(want), want);
        }
        // Dropping and adding back in one statement is allowed.
        let (nd, _) = run(&d, &p, &[drop(&[(2, "b")]), add(&[(2, "b")], &[])]).expect("re-add");
        assert_eq!(nd.targets.len(), 2);
        let mut q = d.clone();
        q.query = Some(crate::query::CdcQuery::parse("SELECT a FROM t").expect("query"));
        assert_eq!(
            run(&q, &p, &[drop(&[(1, "a")])]).expect_err("query"),
            "cannot modify targets when using CDC query changefeed; consider recreating \
             changefeed"
        );
    }

    #[test]
    fn set_and_unset_options() {
        let d = feed(&[("updated", None), ("resolved", Some("5s"))]);
        let p = checkpointed(50);
        let set = |opts: &[(&str, Option<&str>)]| {
            Command::Set(
                opts.iter()
                    .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                    .collect(),
            )
        };
        let unset = |names: &[&str]| Command::Unset(names.iter().map(|n| n.to_string()).collect());
        let (nd, np) = run(
            &d,
            &p,
            &[
                set(&[("diff", None), ("full_table_name", None)]),
                unset(&["updated"]),
            ],
        )
        .expect("set");
        assert!(nd.options.diff && !nd.options.updated);
        assert_eq!(nd.targets[0].topic, "p_d.public.a");
        assert_eq!(np, p);
        let (nd, _) = run(&d, &p, &[set(&[("sink", Some("kafka://other:9092"))])]).expect("sink");
        assert_eq!(nd.sink_uri, "kafka://other:9092");
        assert_eq!(nd.targets[0].topic, "a");
        let (nd, _) =
            run(&d, &p, &[set(&[("execution_locality", Some("region=b"))])]).expect("locality");
        assert_eq!(
            nd.options.execution_locality.map(|f| f.to_string()),
            Some("region=b".to_string())
        );
        for (commands, want) in [
            (
                vec![set(&[("cursor", Some("1"))])],
                "cannot alter option \"cursor\"",
            ),
            (
                vec![unset(&["end_time"])],
                "cannot alter option \"end_time\"",
            ),
            (vec![unset(&["sink"])], "cannot unset option \"sink\""),
            (vec![unset(&["nope"])], "invalid option \"nope\""),
            (vec![set(&[("nope", None)])], "invalid option \"nope\""),
            (
                vec![set(&[("sink", Some("webhook-https://h/x"))])],
                "New sink type \"webhook-https\" does not match original sink type \"kafka\". \
                 Altering the sink type of a changefeed is disallowed, consider creating a new \
                 changefeed instead.",
            ),
            (
                vec![set(&[("execution_locality", Some("region"))])],
                "tier must be in the form \"key=value\" not \"region\"",
            ),
        ] {
            assert_eq!(run(&d, &p, &commands).expect_err(want), want);
        }
    }

    #[test]
    fn description_is_a_create_statement() {
        let mut d = feed(&[("updated", None), ("initial_scan", Some("no"))]);
        d.sink_uri = "kafka://broker:9092?sasl_password=secret".into();
        assert_eq!(
            describe(&d),
            "CREATE CHANGEFEED FOR TABLE d.public.a, TABLE d.public.b INTO \
             'kafka://broker:9092?sasl_password=redacted' WITH OPTIONS (updated)"
        );
    }

    /// Security review: `webhook_auth_header` was kept in clear in the job description.
    #[test]
    fn description_redacts_the_webhook_auth_header() {
        let written = vec![(
            "webhook_auth_header".to_string(),
            Some("Basic YWxpY2U6aHVudGVyMg==".to_string()),
        )];
        let mut options = parse_options(&written, false).expect("options");
        options.validate_for_sink(SinkKind::Webhook).expect("sink");
        let d = ChangefeedDetails {
            sink_uri: "webhook-https://h/x".into(),
            options,
            targets: vec![target(1, "a")],
            start: ts(10),
            end_time: None,
            query: None,
        };
        let shown = describe(&d);
        assert!(!shown.contains("YWxpY2U6aHVudGVyMg"), "{shown}");
        assert!(
            shown.contains("webhook_auth_header = 'redacted'"),
            "{shown}"
        );
    }
}
