//! `CREATE CHANGEFEED`, `EXPERIMENTAL CHANGEFEED` and `ALTER CHANGEFEED`.
//!
//! Changefeed options are a generic `name [= value]` list here; which names exist and what
//! their values mean is checked by the changefeed crate.

use std::fmt;

use sqlparser::ast::Expr;
use sqlparser::tokenizer::Token;

use super::common::{KvOption, Name, OptionValue, QualifiedName, comma_list};
use super::cursor::{Cursor, Result};
use super::query::{QueryStatement, parse_query};

/// A changefeed: on tables, or on a CDC query.
#[derive(Clone, Debug, PartialEq)]
pub struct CreateChangefeed {
    /// What the feed watches.
    pub targets: ChangefeedTargets,
    /// `INTO 'sink'`; `None` for a sinkless feed that streams rows to the client (printed as
    /// `EXPERIMENTAL CHANGEFEED`, like CockroachDB does).
    pub sink: Option<OptionValue>,
    /// `WITH` options, in the order written.
    pub options: Vec<KvOption>,
}

/// What a changefeed watches.
#[derive(Clone, Debug, PartialEq)]
pub enum ChangefeedTargets {
    /// `FOR [TABLE] t [FAMILY f], ...`.
    Tables(Vec<ChangefeedTarget>),
    /// `AS SELECT ...`: a CDC query over one table.
    Query(Box<QueryStatement>),
}

/// One watched table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangefeedTarget {
    /// The table.
    pub table: QualifiedName,
    /// `FAMILY f`: only this column family.
    pub family: Option<Name>,
}

impl fmt::Display for ChangefeedTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TABLE {}", self.table)?;
        if let Some(family) = &self.family {
            write!(f, " FAMILY {family}")?;
        }
        Ok(())
    }
}

/// Writes ` WITH OPTIONS (...)` when there are options.
fn write_options(f: &mut fmt::Formatter<'_>, options: &[KvOption]) -> fmt::Result {
    if options.is_empty() {
        return Ok(());
    }
    f.write_str(" WITH OPTIONS (")?;
    comma_list(f, options)?;
    f.write_str(")")
}

impl fmt::Display for CreateChangefeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.targets {
            ChangefeedTargets::Tables(tables) => {
                f.write_str(if self.sink.is_some() {
                    "CREATE "
                } else {
                    "EXPERIMENTAL "
                })?;
                f.write_str("CHANGEFEED FOR ")?;
                comma_list(f, tables)?;
                if let Some(sink) = &self.sink {
                    write!(f, " INTO {sink}")?;
                }
                write_options(f, &self.options)
            }
            ChangefeedTargets::Query(query) => {
                f.write_str("CREATE CHANGEFEED")?;
                if let Some(sink) = &self.sink {
                    write!(f, " INTO {sink}")?;
                }
                write_options(f, &self.options)?;
                write!(f, " AS {query}")
            }
        }
    }
}

/// `ALTER CHANGEFEED <job id> <command> [<command> ...]`.
#[derive(Clone, Debug, PartialEq)]
pub struct AlterChangefeed {
    /// The changefeed's job id (an expression, usually a number or placeholder).
    pub job: Expr,
    /// The changes, applied in order.
    pub commands: Vec<AlterChangefeedCommand>,
}

/// One change to a changefeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterChangefeedCommand {
    /// `ADD [TABLE] t, ... [WITH options]`.
    Add {
        /// The tables to add.
        targets: Vec<ChangefeedTarget>,
        /// Options for the new tables (`initial_scan`).
        options: Vec<KvOption>,
    },
    /// `DROP [TABLE] t, ...`.
    Drop(Vec<ChangefeedTarget>),
    /// `SET option [= value], ...`.
    Set(Vec<KvOption>),
    /// `UNSET option, ...`.
    Unset(Vec<Name>),
}

impl fmt::Display for AlterChangefeedCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlterChangefeedCommand::Add { targets, options } => {
                f.write_str("ADD ")?;
                comma_list(f, targets)?;
                write_options(f, options)
            }
            AlterChangefeedCommand::Drop(targets) => {
                f.write_str("DROP ")?;
                comma_list(f, targets)
            }
            AlterChangefeedCommand::Set(options) => {
                f.write_str("SET ")?;
                comma_list(f, options)
            }
            AlterChangefeedCommand::Unset(names) => {
                f.write_str("UNSET ")?;
                comma_list(f, names)
            }
        }
    }
}

impl fmt::Display for AlterChangefeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER CHANGEFEED {}", self.job)?;
        for command in &self.commands {
            write!(f, " {command}")?;
        }
        Ok(())
    }
}

/// Parses `CREATE CHANGEFEED ...` or `EXPERIMENTAL CHANGEFEED ...`.
pub(crate) fn parse_create_changefeed(c: &mut Cursor) -> Result<CreateChangefeed> {
    if c.eat_kw("EXPERIMENTAL") {
        c.expect_kws(&["CHANGEFEED", "FOR"])?;
        let targets = ChangefeedTargets::Tables(parse_targets(c)?);
        let options = parse_options(c)?;
        c.expect_end()?;
        return Ok(CreateChangefeed {
            targets,
            sink: None,
            options,
        });
    }
    c.expect_kws(&["CREATE", "CHANGEFEED"])?;
    if c.eat_kw("FOR") {
        let targets = ChangefeedTargets::Tables(parse_targets(c)?);
        let sink = parse_sink(c)?;
        let options = parse_options(c)?;
        c.expect_end()?;
        return Ok(CreateChangefeed {
            targets,
            sink,
            options,
        });
    }
    let sink = parse_sink(c)?;
    let options = parse_options(c)?;
    c.expect_kw("AS")?;
    if !c.peek_kw("SELECT") {
        return Err(c.error_why("expected SELECT"));
    }
    let query = parse_query(c)?;
    c.expect_end()?;
    Ok(CreateChangefeed {
        targets: ChangefeedTargets::Query(Box::new(query)),
        sink,
        options,
    })
}

/// `[INTO 'sink']`.
fn parse_sink(c: &mut Cursor) -> Result<Option<OptionValue>> {
    if c.eat_kw("INTO") {
        Ok(Some(c.string_or_placeholder()?))
    } else {
        Ok(None)
    }
}

/// `[TABLE] t [FAMILY f], ...`.
fn parse_targets(c: &mut Cursor) -> Result<Vec<ChangefeedTarget>> {
    let mut targets = Vec::new();
    loop {
        if c.peek_kw("DATABASE") {
            return Err(c.unimplemented("CHANGEFEED FOR DATABASE"));
        }
        c.eat_kw("TABLE");
        let table = c.qualified_name()?;
        let family = if c.eat_kw("FAMILY") {
            Some(c.name()?)
        } else {
            None
        };
        targets.push(ChangefeedTarget { table, family });
        if !c.eat_token(&Token::Comma) {
            return Ok(targets);
        }
    }
}

/// `[WITH [OPTIONS (] option [, ...] [)]]`.
fn parse_options(c: &mut Cursor) -> Result<Vec<KvOption>> {
    if !c.eat_kw("WITH") {
        return Ok(Vec::new());
    }
    if c.eat_kw("OPTIONS") {
        c.expect_token(&Token::LParen)?;
        let options = parse_option_list(c)?;
        c.expect_token(&Token::RParen)?;
        return Ok(options);
    }
    parse_option_list(c)
}

/// `name [= value], ...`; a name is an identifier or a string.
fn parse_option_list(c: &mut Cursor) -> Result<Vec<KvOption>> {
    let mut options = Vec::new();
    loop {
        let key = match c.label()? {
            OptionValue::String(s) => Name(s),
            _ => return Err(c.error_why("an option name cannot be a placeholder")),
        };
        let value = if c.eat_token(&Token::Eq) {
            Some(c.option_value()?)
        } else {
            None
        };
        options.push(KvOption { key, value });
        if !c.eat_token(&Token::Comma) {
            return Ok(options);
        }
    }
}

/// Parses `ALTER CHANGEFEED ...`.
pub(crate) fn parse_alter_changefeed(c: &mut Cursor) -> Result<AlterChangefeed> {
    c.expect_kws(&["ALTER", "CHANGEFEED"])?;
    let job = c.expr()?;
    let mut commands = Vec::new();
    loop {
        let command = if c.eat_kw("ADD") {
            let targets = parse_targets(c)?;
            let options = parse_options(c)?;
            AlterChangefeedCommand::Add { targets, options }
        } else if c.eat_kw("DROP") {
            AlterChangefeedCommand::Drop(parse_targets(c)?)
        } else if c.eat_kw("SET") {
            AlterChangefeedCommand::Set(parse_option_list(c)?)
        } else if c.eat_kw("UNSET") {
            AlterChangefeedCommand::Unset(c.name_list()?)
        } else if commands.is_empty() {
            return Err(c.error_why("expected ADD, DROP, SET or UNSET"));
        } else {
            break;
        };
        commands.push(command);
    }
    c.expect_end()?;
    Ok(AlterChangefeed { job, commands })
}
