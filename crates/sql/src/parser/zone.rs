//! Zone configurations: `ALTER ... CONFIGURE ZONE` and the targets `SHOW ZONE CONFIGURATION`
//! names.

use std::fmt;

use base::errcode::INVALID_PARAMETER_VALUE;
use sqlparser::tokenizer::Token;

use super::common::{IndexRef, Name, OptionValue, QualifiedName};
use super::cursor::{Cursor, Result};
use super::error::ParseError;

/// What a zone configuration applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneTarget {
    /// `RANGE default`, `RANGE meta`, `RANGE liveness`, `RANGE system`, `RANGE timeseries`
    /// (the name is not checked here).
    Range(Name),
    /// `DATABASE d`.
    Database(Name),
    /// `TABLE t`.
    Table(QualifiedName),
    /// `INDEX t@i`.
    Index(IndexRef),
}

impl fmt::Display for ZoneTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Named zones are printed bare even when they are keywords: `RANGE default`.
            ZoneTarget::Range(name)
                if name
                    .as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_') =>
            {
                write!(f, "RANGE {}", name.as_str())
            }
            ZoneTarget::Range(name) => write!(f, "RANGE {name}"),
            ZoneTarget::Database(name) => write!(f, "DATABASE {name}"),
            ZoneTarget::Table(name) => write!(f, "TABLE {name}"),
            ZoneTarget::Index(index) => write!(f, "INDEX {index}"),
        }
    }
}

/// `ALTER <target> CONFIGURE ZONE <action>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigureZone {
    /// What the configuration applies to.
    pub target: ZoneTarget,
    /// The change.
    pub action: ZoneAction,
}

impl fmt::Display for ConfigureZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER {} CONFIGURE ZONE {}", self.target, self.action)
    }
}

/// A change to a zone configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneAction {
    /// `USING key = value, ...`: set these fields, keep the others.
    Using(Vec<ZoneSetting>),
    /// `USING DEFAULT`: reset every field to the inherited value.
    UsingDefault,
    /// `DISCARD`: remove the zone configuration.
    Discard,
}

impl fmt::Display for ZoneAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneAction::Using(settings) => {
                f.write_str("USING ")?;
                super::common::comma_list(f, settings)
            }
            ZoneAction::UsingDefault => f.write_str("USING DEFAULT"),
            ZoneAction::Discard => f.write_str("DISCARD"),
        }
    }
}

/// One `key = value` of `CONFIGURE ZONE USING`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSetting {
    /// The field.
    pub key: ZoneKey,
    /// The new value.
    pub value: ZoneValue,
}

impl fmt::Display for ZoneSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.key, self.value)
    }
}

/// A zone configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZoneValue {
    /// A number, string (constraints, lease preferences), boolean or placeholder.
    Value(OptionValue),
    /// `COPY FROM PARENT`: inherit this field.
    CopyFromParent,
}

impl fmt::Display for ZoneValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneValue::Value(v) => write!(f, "{v}"),
            ZoneValue::CopyFromParent => f.write_str("COPY FROM PARENT"),
        }
    }
}

/// The zone configuration fields that can be set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ZoneKey {
    /// `num_replicas`: replicas of each range, voters and non-voters.
    NumReplicas,
    /// `num_voters`: voting replicas; the rest are non-voters.
    NumVoters,
    /// `constraints`: placement of all replicas.
    Constraints,
    /// `voter_constraints`: placement of voters.
    VoterConstraints,
    /// `lease_preferences`: where leaseholders should be, in order.
    LeasePreferences,
    /// `range_min_bytes`.
    RangeMinBytes,
    /// `range_max_bytes`: split size.
    RangeMaxBytes,
    /// `gc.ttlseconds`: MVCC garbage collection horizon.
    GcTtlSeconds,
    /// `global_reads`: non-blocking transactions for GLOBAL tables.
    GlobalReads,
}

impl ZoneKey {
    /// Every key, in the order CockroachDB lists them.
    pub const ALL: [ZoneKey; 9] = [
        ZoneKey::RangeMinBytes,
        ZoneKey::RangeMaxBytes,
        ZoneKey::GcTtlSeconds,
        ZoneKey::GlobalReads,
        ZoneKey::NumReplicas,
        ZoneKey::NumVoters,
        ZoneKey::Constraints,
        ZoneKey::VoterConstraints,
        ZoneKey::LeasePreferences,
    ];

    /// The key as written in SQL.
    pub fn name(self) -> &'static str {
        match self {
            ZoneKey::NumReplicas => "num_replicas",
            ZoneKey::NumVoters => "num_voters",
            ZoneKey::Constraints => "constraints",
            ZoneKey::VoterConstraints => "voter_constraints",
            ZoneKey::LeasePreferences => "lease_preferences",
            ZoneKey::RangeMinBytes => "range_min_bytes",
            ZoneKey::RangeMaxBytes => "range_max_bytes",
            ZoneKey::GcTtlSeconds => "gc.ttlseconds",
            ZoneKey::GlobalReads => "global_reads",
        }
    }

    /// The key with this SQL name (lower case).
    pub fn from_name(name: &str) -> Option<ZoneKey> {
        ZoneKey::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for ZoneKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses what follows `CONFIGURE ZONE`.
pub(crate) fn parse_configure_zone(c: &mut Cursor) -> Result<ZoneAction> {
    if c.eat_kw("DISCARD") {
        c.expect_end()?;
        return Ok(ZoneAction::Discard);
    }
    if c.peek_token(&Token::Eq) || c.peek_kw("TO") {
        return Err(c.unimplemented("YAML zone configurations; use CONFIGURE ZONE USING"));
    }
    c.expect_kw("USING")?;
    if c.eat_kw("DEFAULT") {
        c.expect_end()?;
        return Ok(ZoneAction::UsingDefault);
    }
    let mut settings: Vec<ZoneSetting> = Vec::new();
    loop {
        let Some(at) = c.peek() else {
            return Err(c.error());
        };
        let key = parse_zone_key(c)?;
        if settings.iter().any(|s| s.key == key) {
            return Err(c.error_at(at, &format!("duplicate zone config parameter: \"{key}\"")));
        }
        c.expect_token(&Token::Eq)?;
        let value = if c.eat_kws(&["COPY", "FROM", "PARENT"]) {
            ZoneValue::CopyFromParent
        } else {
            ZoneValue::Value(c.option_value()?)
        };
        settings.push(ZoneSetting { key, value });
        if !c.eat_token(&Token::Comma) {
            break;
        }
    }
    c.expect_end()?;
    Ok(ZoneAction::Using(settings))
}

/// A dotted key, checked against [`ZoneKey`].
fn parse_zone_key(c: &mut Cursor) -> Result<ZoneKey> {
    let Some(start) = c.peek() else {
        return Err(c.error());
    };
    let mut parts = Vec::new();
    loop {
        match c.peek().map(|t| &t.token.token) {
            Some(Token::Word(w)) => parts.push(w.value.to_lowercase()),
            _ => return Err(c.error_why("expected a zone config parameter")),
        }
        c.next();
        if !c.eat_token(&Token::Period) {
            break;
        }
    }
    let name = parts.join(".");
    ZoneKey::from_name(&name).ok_or_else(|| {
        let known: Vec<&str> = ZoneKey::ALL.iter().map(|k| k.name()).collect();
        let message = format!("unsupported zone config parameter: \"{name}\"");
        ParseError::at(c.sql, start.start, INVALID_PARAMETER_VALUE, message)
            .with_hint(format!("valid parameters: {}", known.join(", ")))
    })
}

/// A zone target: `RANGE r | DATABASE d | TABLE t | INDEX t@i`.
pub(crate) fn parse_zone_target(c: &mut Cursor) -> Result<ZoneTarget> {
    if c.eat_kw("RANGE") {
        return Ok(ZoneTarget::Range(c.any_name()?));
    }
    if c.eat_kw("DATABASE") {
        return Ok(ZoneTarget::Database(c.name()?));
    }
    if c.eat_kw("TABLE") {
        return Ok(ZoneTarget::Table(c.qualified_name()?));
    }
    if c.eat_kw("INDEX") {
        return Ok(ZoneTarget::Index(c.index_ref()?));
    }
    if c.peek_kw("PARTITION") {
        return Err(c.unimplemented("zone configurations of partitions"));
    }
    Err(c.error_why("expected RANGE, DATABASE, TABLE or INDEX"))
}

/// Parses `ALTER RANGE r CONFIGURE ZONE ...`.
pub(crate) fn parse_alter_range(c: &mut Cursor) -> Result<ConfigureZone> {
    c.expect_kw("ALTER")?;
    let target = parse_zone_target(c)?;
    if c.peek_kws(&["RELOCATE"]) || c.peek_kw("SPLIT") {
        return Err(c.unimplemented("ALTER RANGE RELOCATE and SPLIT"));
    }
    c.expect_kws(&["CONFIGURE", "ZONE"])?;
    let action = parse_configure_zone(c)?;
    Ok(ConfigureZone { target, action })
}
