//! Every `SHOW` statement.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::backup::{ShowBackup, parse_show_backup};
use super::common::{IndexRef, Name, OptionValue, QualifiedName, UriList, comma_list};
use super::cursor::{Cursor, Result};
use super::jobs::{ShowJobs, parse_show_jobs};
use super::settings::{SettingName, parse_setting_name};
use super::zone::{ZoneTarget, parse_zone_target};

/// A `SHOW` statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Show {
    /// `SHOW USERS` or `SHOW ROLES`: every user and role, its options and memberships.
    Users,
    /// `SHOW GRANTS ON EXTERNAL CONNECTION name`.
    ConnectionGrants {
        /// The connection.
        name: OptionValue,
    },
    /// `SHOW SYSTEM GRANTS [FOR role, ...]`.
    SystemGrants {
        /// Only these grantees; every one when empty.
        grantees: Vec<Name>,
    },
    /// `SHOW DATABASES [WITH COMMENT]`.
    Databases {
        /// `WITH COMMENT`.
        with_comment: bool,
    },
    /// `SHOW TABLES [FROM db[.schema]] [WITH COMMENT]`.
    Tables {
        /// The database or schema; the current one when `None`.
        from: Option<QualifiedName>,
        /// `WITH COMMENT`.
        with_comment: bool,
    },
    /// `SHOW COLUMNS FROM t [WITH COMMENT]`.
    Columns {
        /// The table.
        table: QualifiedName,
        /// `WITH COMMENT`.
        with_comment: bool,
    },
    /// `SHOW {INDEX | INDEXES | KEYS} FROM t [WITH COMMENT]`.
    Indexes {
        /// The table.
        table: QualifiedName,
        /// `WITH COMMENT`.
        with_comment: bool,
    },
    /// `SHOW CREATE [TABLE | VIEW | SEQUENCE | DATABASE] name`.
    Create {
        /// The kind named, if any.
        kind: Option<CreateKind>,
        /// The object.
        name: QualifiedName,
    },
    /// `SHOW [SESSION] var`, `SHOW ALL` (`all`), `SHOW TIME ZONE` (`timezone`),
    /// `SHOW TRANSACTION ISOLATION LEVEL` (`transaction_isolation`).
    Var {
        /// The session variable, lower case.
        name: String,
    },
    /// `SHOW CLUSTER SETTING name`.
    ClusterSetting {
        /// The dotted setting name.
        name: String,
    },
    /// `SHOW [ALL | PUBLIC] CLUSTER SETTINGS`.
    ClusterSettings {
        /// `ALL`: include hidden settings.
        all: bool,
    },
    /// `SHOW LOCALITY`: the gateway node's locality.
    Locality,
    /// `SHOW REGIONS [FROM ...]`.
    Regions(RegionsFrom),
    /// `SHOW SURVIVAL GOAL FROM DATABASE [d]`.
    SurvivalGoal {
        /// The database; the current one when `None`.
        database: Option<Name>,
    },
    /// `SHOW ZONE CONFIGURATION {FROM | FOR} target`.
    ZoneConfiguration(ZoneTarget),
    /// `SHOW [ALL] ZONE CONFIGURATIONS`.
    ZoneConfigurations,
    /// `SHOW RANGES [FROM ...] [WITH option, ...]`.
    Ranges {
        /// Whose ranges; the current database when `None`.
        from: Option<RangesFrom>,
        /// `WITH` options: `tables`, `indexes`, `details`, `keys`, `explain`.
        options: Vec<Name>,
    },
    /// The job forms.
    Jobs(ShowJobs),
    /// `SHOW BACKUPS IN collection`.
    Backups {
        /// The collection.
        collection: UriList,
    },
    /// `SHOW BACKUP ...`.
    Backup(ShowBackup),
    /// `SHOW EXTERNAL CONNECTIONS` or `SHOW EXTERNAL CONNECTION name`.
    ExternalConnections {
        /// One connection.
        name: Option<OptionValue>,
    },
}

/// The kind of object `SHOW CREATE` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateKind {
    /// `TABLE`.
    Table,
    /// `VIEW`.
    View,
    /// `SEQUENCE`.
    Sequence,
    /// `DATABASE`.
    Database,
}

/// Which regions `SHOW REGIONS` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegionsFrom {
    /// `SHOW REGIONS`: the cluster's regions and the databases using them.
    Default,
    /// `FROM CLUSTER`: regions and their zones, from node localities.
    Cluster,
    /// `FROM DATABASE [d]`: one database's regions; the current one when `None`.
    Database(Option<Name>),
    /// `FROM ALL DATABASES`.
    AllDatabases,
}

/// Whose ranges `SHOW RANGES` lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangesFrom {
    /// `FROM DATABASE d`.
    Database(Name),
    /// `FROM TABLE t`.
    Table(QualifiedName),
    /// `FROM INDEX t@i`.
    Index(IndexRef),
    /// `FROM CURRENT_CATALOG`.
    CurrentCatalog,
}

impl fmt::Display for Show {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let comment = |c: &bool| if *c { " WITH COMMENT" } else { "" };
        match self {
            Show::Users => f.write_str("SHOW USERS"),
            Show::ConnectionGrants { name } => {
                write!(f, "SHOW GRANTS ON EXTERNAL CONNECTION {name}")
            }
            Show::SystemGrants { grantees } => {
                f.write_str("SHOW SYSTEM GRANTS")?;
                if !grantees.is_empty() {
                    f.write_str(" FOR ")?;
                    comma_list(f, grantees)?;
                }
                Ok(())
            }
            Show::Databases { with_comment } => {
                write!(f, "SHOW DATABASES{}", comment(with_comment))
            }
            Show::Tables { from, with_comment } => {
                f.write_str("SHOW TABLES")?;
                if let Some(from) = from {
                    write!(f, " FROM {from}")?;
                }
                f.write_str(comment(with_comment))
            }
            Show::Columns {
                table,
                with_comment,
            } => write!(f, "SHOW COLUMNS FROM {table}{}", comment(with_comment)),
            Show::Indexes {
                table,
                with_comment,
            } => write!(f, "SHOW INDEXES FROM {table}{}", comment(with_comment)),
            Show::Create { kind, name } => {
                f.write_str("SHOW CREATE ")?;
                match kind {
                    Some(CreateKind::Table) => f.write_str("TABLE ")?,
                    Some(CreateKind::View) => f.write_str("VIEW ")?,
                    Some(CreateKind::Sequence) => f.write_str("SEQUENCE ")?,
                    Some(CreateKind::Database) => f.write_str("DATABASE ")?,
                    None => {}
                }
                write!(f, "{name}")
            }
            Show::Var { name } if name == "all" => f.write_str("SHOW ALL"),
            Show::Var { name } => write!(f, "SHOW {}", SettingName(name)),
            Show::ClusterSetting { name } => {
                write!(f, "SHOW CLUSTER SETTING {}", SettingName(name))
            }
            Show::ClusterSettings { all: true } => f.write_str("SHOW ALL CLUSTER SETTINGS"),
            Show::ClusterSettings { all: false } => f.write_str("SHOW CLUSTER SETTINGS"),
            Show::Locality => f.write_str("SHOW LOCALITY"),
            Show::Regions(from) => match from {
                RegionsFrom::Default => f.write_str("SHOW REGIONS"),
                RegionsFrom::Cluster => f.write_str("SHOW REGIONS FROM CLUSTER"),
                RegionsFrom::Database(None) => f.write_str("SHOW REGIONS FROM DATABASE"),
                RegionsFrom::Database(Some(d)) => write!(f, "SHOW REGIONS FROM DATABASE {d}"),
                RegionsFrom::AllDatabases => f.write_str("SHOW REGIONS FROM ALL DATABASES"),
            },
            Show::SurvivalGoal { database: None } => {
                f.write_str("SHOW SURVIVAL GOAL FROM DATABASE")
            }
            Show::SurvivalGoal { database: Some(d) } => {
                write!(f, "SHOW SURVIVAL GOAL FROM DATABASE {d}")
            }
            Show::ZoneConfiguration(target) => write!(f, "SHOW ZONE CONFIGURATION FROM {target}"),
            Show::ZoneConfigurations => f.write_str("SHOW ZONE CONFIGURATIONS"),
            Show::Ranges { from, options } => {
                f.write_str("SHOW RANGES")?;
                match from {
                    Some(RangesFrom::Database(d)) => write!(f, " FROM DATABASE {d}")?,
                    Some(RangesFrom::Table(t)) => write!(f, " FROM TABLE {t}")?,
                    Some(RangesFrom::Index(i)) => write!(f, " FROM INDEX {i}")?,
                    Some(RangesFrom::CurrentCatalog) => f.write_str(" FROM CURRENT_CATALOG")?,
                    None => {}
                }
                if !options.is_empty() {
                    let upper: Vec<String> =
                        options.iter().map(|o| o.as_str().to_uppercase()).collect();
                    write!(f, " WITH {}", upper.join(", "))?;
                }
                Ok(())
            }
            Show::Jobs(jobs) => write!(f, "{jobs}"),
            Show::Backups { collection } => write!(f, "SHOW BACKUPS IN {collection}"),
            Show::Backup(backup) => write!(f, "{backup}"),
            Show::ExternalConnections { name: None } => f.write_str("SHOW EXTERNAL CONNECTIONS"),
            Show::ExternalConnections { name: Some(name) } => {
                write!(f, "SHOW EXTERNAL CONNECTION {name}")
            }
        }
    }
}

/// CockroachDB `SHOW` forms Sextant does not have (yet): `unimplemented`, not a variable.
const UNSUPPORTED: &[&str] = &[
    "GRANTS",
    "ROLE",
    "SCHEMAS",
    "SEQUENCES",
    "SESSIONS",
    "QUERIES",
    "STATEMENTS",
    "TRACE",
    "KV",
    "CONSTRAINTS",
    "CONSTRAINT",
    "STATISTICS",
    "PARTITIONS",
    "TYPES",
    "FUNCTIONS",
    "ENUMS",
    "SCHEDULES",
    "SCHEDULE",
    "SAVEPOINT",
    "LAST",
    "FULL",
    "DEFAULT",
    "SYSTEM",
    "TENANT",
    "TENANTS",
    "VIRTUAL",
    "HISTOGRAM",
    "TRANSACTIONS",
    "LOCKS",
    "SUPER",
    "RANGE",
    "COMMIT",
    "TRIGGERS",
    "POLICIES",
    "INDEX_RECOMMENDATIONS",
];

/// `[WITH COMMENT]`.
fn with_comment(c: &mut Cursor) -> bool {
    c.eat_kws(&["WITH", "COMMENT"])
}

/// Parses `SHOW ...`.
pub(crate) fn parse_show(c: &mut Cursor) -> Result<Show> {
    c.expect_kw("SHOW")?;
    let show = parse_show_body(c)?;
    c.expect_end()?;
    Ok(show)
}

/// Everything after `SHOW`.
fn parse_show_body(c: &mut Cursor) -> Result<Show> {
    if c.peek_kw("JOBS")
        || c.peek_kw("JOB")
        || c.peek_kws(&["AUTOMATIC", "JOBS"])
        || c.peek_kw("CHANGEFEED")
    {
        return Ok(Show::Jobs(parse_show_jobs(c)?));
    }
    if c.eat_kw("BACKUPS") {
        c.expect_kw("IN")?;
        return Ok(Show::Backups {
            collection: c.uri_list()?,
        });
    }
    if c.eat_kw("BACKUP") {
        if c.peek_kw("CONNECTION") {
            return Err(c.unimplemented("SHOW BACKUP CONNECTION"));
        }
        return Ok(Show::Backup(parse_show_backup(c)?));
    }
    if c.eat_kws(&["EXTERNAL", "CONNECTIONS"]) {
        return Ok(Show::ExternalConnections { name: None });
    }
    if c.eat_kws(&["EXTERNAL", "CONNECTION"]) {
        return Ok(Show::ExternalConnections {
            name: Some(c.label()?),
        });
    }
    if c.eat_kw("USERS") || c.eat_kw("ROLES") {
        return Ok(Show::Users);
    }
    if c.eat_kws(&["GRANTS", "ON", "EXTERNAL", "CONNECTION"]) {
        return Ok(Show::ConnectionGrants { name: c.label()? });
    }
    if c.eat_kws(&["SYSTEM", "GRANTS"]) {
        let grantees = if c.eat_kw("FOR") {
            c.name_list()?
        } else {
            Vec::new()
        };
        return Ok(Show::SystemGrants { grantees });
    }
    if c.eat_kw("DATABASES") {
        return Ok(Show::Databases {
            with_comment: with_comment(c),
        });
    }
    if c.eat_kw("TABLES") {
        let from = if c.eat_kw("FROM") {
            Some(c.qualified_name()?)
        } else {
            None
        };
        return Ok(Show::Tables {
            from,
            with_comment: with_comment(c),
        });
    }
    if c.eat_kw("COLUMNS") {
        c.expect_kw("FROM")?;
        let table = c.qualified_name()?;
        return Ok(Show::Columns {
            table,
            with_comment: with_comment(c),
        });
    }
    if c.eat_kw("INDEX") || c.eat_kw("INDEXES") || c.eat_kw("KEYS") {
        c.expect_kw("FROM")?;
        if c.peek_kw("DATABASE") {
            return Err(c.unimplemented("SHOW INDEXES FROM DATABASE"));
        }
        let table = c.qualified_name()?;
        return Ok(Show::Indexes {
            table,
            with_comment: with_comment(c),
        });
    }
    if c.eat_kw("CREATE") {
        return parse_show_create(c);
    }
    if c.eat_kws(&["CLUSTER", "SETTINGS"]) || c.eat_kws(&["PUBLIC", "CLUSTER", "SETTINGS"]) {
        return Ok(Show::ClusterSettings { all: false });
    }
    if c.eat_kws(&["ALL", "CLUSTER", "SETTINGS"]) {
        return Ok(Show::ClusterSettings { all: true });
    }
    if c.eat_kws(&["CLUSTER", "SETTING"]) {
        return Ok(Show::ClusterSetting {
            name: parse_setting_name(c)?,
        });
    }
    if c.peek_kw("LOCALITY") && c.peek_nth(1).is_none() {
        c.next();
        return Ok(Show::Locality);
    }
    if c.eat_kw("REGIONS") {
        return parse_show_regions(c);
    }
    if c.eat_kws(&["SURVIVAL", "GOAL"]) {
        c.expect_kws(&["FROM", "DATABASE"])?;
        let database = if c.at_end() { None } else { Some(c.name()?) };
        return Ok(Show::SurvivalGoal { database });
    }
    if c.eat_kws(&["ZONE", "CONFIGURATIONS"]) || c.eat_kws(&["ALL", "ZONE", "CONFIGURATIONS"]) {
        return Ok(Show::ZoneConfigurations);
    }
    if c.eat_kws(&["ZONE", "CONFIGURATION"]) {
        if !c.eat_kw("FROM") {
            c.expect_kw("FOR")?;
        }
        return Ok(Show::ZoneConfiguration(parse_zone_target(c)?));
    }
    if c.eat_kw("RANGES") {
        return parse_show_ranges(c);
    }
    parse_show_var(c)
}

/// `SHOW CREATE ...` after `CREATE`.
fn parse_show_create(c: &mut Cursor) -> Result<Show> {
    if c.peek_kw("ALL") || c.peek_kw("FUNCTION") || c.peek_kw("EXTERNAL") || c.peek_kw("SCHEDULE") {
        return Err(c.unimplemented("this SHOW CREATE form"));
    }
    let kinds = [
        ("TABLE", CreateKind::Table),
        ("VIEW", CreateKind::View),
        ("SEQUENCE", CreateKind::Sequence),
        ("DATABASE", CreateKind::Database),
    ];
    let mut kind = None;
    if c.peek_nth(1).is_some() {
        kind = kinds.iter().find(|(kw, _)| c.peek_kw(kw)).map(|(_, k)| *k);
        if kind.is_some() {
            c.next();
        }
    }
    Ok(Show::Create {
        kind,
        name: c.qualified_name()?,
    })
}

/// `SHOW REGIONS [FROM {CLUSTER | DATABASE [d] | ALL DATABASES}]` after `REGIONS`.
fn parse_show_regions(c: &mut Cursor) -> Result<Show> {
    if !c.eat_kw("FROM") {
        return Ok(Show::Regions(RegionsFrom::Default));
    }
    if c.eat_kw("CLUSTER") {
        return Ok(Show::Regions(RegionsFrom::Cluster));
    }
    if c.eat_kws(&["ALL", "DATABASES"]) {
        return Ok(Show::Regions(RegionsFrom::AllDatabases));
    }
    c.expect_kw("DATABASE")?;
    let database = if c.at_end() { None } else { Some(c.name()?) };
    Ok(Show::Regions(RegionsFrom::Database(database)))
}

const RANGES_OPTIONS: &[&str] = &["tables", "indexes", "details", "keys", "explain"];

/// `SHOW RANGES [FROM ...] [WITH option, ...]` after `RANGES`.
fn parse_show_ranges(c: &mut Cursor) -> Result<Show> {
    let from = if !c.eat_kw("FROM") {
        None
    } else if c.eat_kw("DATABASE") {
        Some(RangesFrom::Database(c.name()?))
    } else if c.eat_kw("TABLE") {
        Some(RangesFrom::Table(c.qualified_name()?))
    } else if c.eat_kw("INDEX") {
        Some(RangesFrom::Index(c.index_ref()?))
    } else if c.eat_kw("CURRENT_CATALOG") {
        Some(RangesFrom::CurrentCatalog)
    } else {
        return Err(c.error_why("expected DATABASE, TABLE, INDEX or CURRENT_CATALOG"));
    };
    let mut options: Vec<Name> = Vec::new();
    if c.eat_kw("WITH") {
        loop {
            let Some(at) = c.peek() else {
                return Err(c.error());
            };
            let option = c.name()?;
            if !RANGES_OPTIONS.contains(&option.as_str()) {
                return Err(c
                    .error_at(
                        at,
                        &format!("unknown SHOW RANGES option \"{}\"", option.as_str()),
                    )
                    .with_hint(format!("valid options: {}", RANGES_OPTIONS.join(", "))));
            }
            if !options.contains(&option) {
                options.push(option);
            }
            if !c.eat_token(&Token::Comma) {
                break;
            }
        }
    }
    Ok(Show::Ranges { from, options })
}

/// `SHOW [SESSION] var`, with the multi-word spellings of some variables.
fn parse_show_var(c: &mut Cursor) -> Result<Show> {
    c.eat_kw("SESSION");
    let aliases: [(&[&str], &str); 5] = [
        (
            &["TRANSACTION", "ISOLATION", "LEVEL"],
            "transaction_isolation",
        ),
        (&["TRANSACTION", "PRIORITY"], "transaction_priority"),
        (&["TRANSACTION", "STATUS"], "transaction_status"),
        (&["TIME", "ZONE"], "timezone"),
        (&["ALL"], "all"),
    ];
    if let Some((words, name)) = aliases.iter().find(|(words, _)| c.peek_kws(words)) {
        c.eat_kws(words);
        return Ok(Show::Var {
            name: name.to_string(),
        });
    }
    if let Some(kw) = UNSUPPORTED.iter().find(|kw| c.peek_kw(kw)) {
        return Err(c.unimplemented(&format!("SHOW {kw}")));
    }
    if c.at_end() {
        return Err(c.error());
    }
    Ok(Show::Var {
        name: parse_setting_name(c)?,
    })
}
