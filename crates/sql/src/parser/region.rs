//! Multi-region SQL: `CREATE DATABASE` with regions, `ALTER DATABASE` region changes, table
//! localities.

use std::fmt;

use sqlparser::tokenizer::Token;

use super::common::{Name, QualifiedName, comma_list};
use super::cursor::{Cursor, Result};
use super::statement::Statement;
use super::zone::{ConfigureZone, ZoneTarget, parse_configure_zone};

/// What failures a multi-region database survives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SurvivalGoal {
    /// `SURVIVE ZONE FAILURE` (the default).
    Zone,
    /// `SURVIVE REGION FAILURE`.
    Region,
}

impl fmt::Display for SurvivalGoal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SurvivalGoal::Zone => "SURVIVE ZONE FAILURE",
            SurvivalGoal::Region => "SURVIVE REGION FAILURE",
        })
    }
}

/// `CREATE DATABASE [IF NOT EXISTS] d [ENCODING = 'x'] [PRIMARY REGION r] [REGIONS r, ...]
/// [SURVIVE {ZONE | REGION} FAILURE]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateDatabase {
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The database.
    pub name: Name,
    /// `ENCODING = 'UTF8'` (the only encoding there is).
    pub encoding: Option<String>,
    /// `PRIMARY REGION r`: makes the database multi-region.
    pub primary_region: Option<Name>,
    /// `REGIONS r, ...`: the other regions (may repeat the primary).
    pub regions: Vec<Name>,
    /// `SURVIVE ... FAILURE`.
    pub survival_goal: Option<SurvivalGoal>,
}

impl fmt::Display for CreateDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE DATABASE ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.name)?;
        if let Some(encoding) = &self.encoding {
            f.write_str(" ENCODING = ")?;
            super::common::quote_string(f, encoding)?;
        }
        if let Some(primary) = &self.primary_region {
            write!(f, " PRIMARY REGION {primary}")?;
        }
        if !self.regions.is_empty() {
            f.write_str(" REGIONS = ")?;
            comma_list(f, &self.regions)?;
        }
        if let Some(goal) = &self.survival_goal {
            write!(f, " {goal}")?;
        }
        Ok(())
    }
}

/// `ALTER DATABASE d <action>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterDatabase {
    /// The database.
    pub name: Name,
    /// The change.
    pub action: AlterDatabaseAction,
}

/// A change to a database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AlterDatabaseAction {
    /// `ADD REGION [IF NOT EXISTS] r`.
    AddRegion {
        /// The region.
        region: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP REGION [IF EXISTS] r`.
    DropRegion {
        /// The region.
        region: Name,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `[SET] PRIMARY REGION r`.
    SetPrimaryRegion(Name),
    /// `SURVIVE {ZONE | REGION} FAILURE`.
    Survive(SurvivalGoal),
    /// `SET SECONDARY REGION r`.
    SetSecondaryRegion(Name),
    /// `DROP SECONDARY REGION [IF EXISTS]`.
    DropSecondaryRegion {
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `RENAME TO d2`.
    RenameTo(Name),
    /// `OWNER TO u`.
    OwnerTo(Name),
}

impl fmt::Display for AlterDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER DATABASE {} ", self.name)?;
        match &self.action {
            AlterDatabaseAction::AddRegion {
                region,
                if_not_exists,
            } => {
                let ine = if *if_not_exists { "IF NOT EXISTS " } else { "" };
                write!(f, "ADD REGION {ine}{region}")
            }
            AlterDatabaseAction::DropRegion { region, if_exists } => {
                let ie = if *if_exists { "IF EXISTS " } else { "" };
                write!(f, "DROP REGION {ie}{region}")
            }
            AlterDatabaseAction::SetPrimaryRegion(region) => {
                write!(f, "SET PRIMARY REGION {region}")
            }
            AlterDatabaseAction::Survive(goal) => write!(f, "{goal}"),
            AlterDatabaseAction::SetSecondaryRegion(region) => {
                write!(f, "SET SECONDARY REGION {region}")
            }
            AlterDatabaseAction::DropSecondaryRegion { if_exists } => {
                let ie = if *if_exists { " IF EXISTS" } else { "" };
                write!(f, "DROP SECONDARY REGION{ie}")
            }
            AlterDatabaseAction::RenameTo(name) => write!(f, "RENAME TO {name}"),
            AlterDatabaseAction::OwnerTo(name) => write!(f, "OWNER TO {name}"),
        }
    }
}

/// Where a table's rows live in a multi-region database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableLocality {
    /// `GLOBAL`: fast reads everywhere, slower writes.
    Global,
    /// `REGIONAL BY TABLE [IN r | IN PRIMARY REGION]`: homed in one region; `None` is the
    /// primary region.
    RegionalByTable(Option<Name>),
    /// `REGIONAL BY ROW [AS column]`: each row homed in the region its region column names
    /// (`crdb_region` when `None`).
    RegionalByRow(Option<Name>),
}

impl fmt::Display for TableLocality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableLocality::Global => f.write_str("LOCALITY GLOBAL"),
            TableLocality::RegionalByTable(None) => {
                f.write_str("LOCALITY REGIONAL BY TABLE IN PRIMARY REGION")
            }
            TableLocality::RegionalByTable(Some(r)) => {
                write!(f, "LOCALITY REGIONAL BY TABLE IN {r}")
            }
            TableLocality::RegionalByRow(None) => f.write_str("LOCALITY REGIONAL BY ROW"),
            TableLocality::RegionalByRow(Some(col)) => {
                write!(f, "LOCALITY REGIONAL BY ROW AS {col}")
            }
        }
    }
}

/// `ALTER TABLE [IF EXISTS] t SET LOCALITY ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlterTableLocality {
    /// `IF EXISTS`.
    pub if_exists: bool,
    /// The table.
    pub table: QualifiedName,
    /// The new locality.
    pub locality: TableLocality,
}

impl fmt::Display for AlterTableLocality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ie = if self.if_exists { "IF EXISTS " } else { "" };
        write!(f, "ALTER TABLE {ie}{} SET {}", self.table, self.locality)
    }
}

/// A region name. Regions are identifiers (`"us-east1"`); a string literal gets a pointed
/// error.
fn region(c: &mut Cursor) -> Result<Name> {
    let is_string = c
        .peek()
        .is_some_and(|t| super::cursor::string_literal(&t.token.token).is_some());
    if is_string {
        return Err(c.error_why("a region name is an identifier: write it in double quotes"));
    }
    c.name()
}

/// A comma-separated list of region names.
fn region_list(c: &mut Cursor) -> Result<Vec<Name>> {
    let mut regions = vec![region(c)?];
    while c.eat_token(&Token::Comma) {
        regions.push(region(c)?);
    }
    Ok(regions)
}

/// `{ZONE | REGION} FAILURE` after `SURVIVE [=]`.
fn survival_goal(c: &mut Cursor) -> Result<SurvivalGoal> {
    c.eat_token(&Token::Eq);
    let goal = if c.eat_kw("ZONE") {
        SurvivalGoal::Zone
    } else if c.eat_kw("REGION") {
        SurvivalGoal::Region
    } else {
        return Err(c.error_why("expected ZONE or REGION"));
    };
    c.expect_kw("FAILURE")?;
    Ok(goal)
}

/// Refuses a clause given twice.
fn once<T>(c: &Cursor, at: &super::lexer::Tok, slot: &Option<T>, what: &str) -> Result<()> {
    if slot.is_some() {
        return Err(c.error_at(at, &format!("{what} specified more than once")));
    }
    Ok(())
}

/// Parses `CREATE DATABASE ...`.
pub(crate) fn parse_create_database(c: &mut Cursor) -> Result<CreateDatabase> {
    c.expect_kws(&["CREATE", "DATABASE"])?;
    let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let name = c.name()?;
    let mut db = CreateDatabase {
        if_not_exists,
        name,
        encoding: None,
        primary_region: None,
        regions: Vec::new(),
        survival_goal: None,
    };
    c.eat_kw("WITH");
    while let Some(tok) = c.peek() {
        if c.eat_kw("ENCODING") {
            once(c, tok, &db.encoding, "ENCODING")?;
            c.eat_token(&Token::Eq);
            db.encoding = c.string_or_placeholder()?.as_str().map(str::to_string);
            if db.encoding.is_none() {
                return Err(c.error_at(tok, "ENCODING must be a string"));
            }
        } else if c.eat_kws(&["PRIMARY", "REGION"]) {
            once(c, tok, &db.primary_region, "PRIMARY REGION")?;
            c.eat_token(&Token::Eq);
            db.primary_region = Some(region(c)?);
        } else if c.eat_kw("REGIONS") {
            if !db.regions.is_empty() {
                return Err(c.error_at(tok, "REGIONS specified more than once"));
            }
            c.eat_token(&Token::Eq);
            db.regions = region_list(c)?;
        } else if c.eat_kw("SURVIVE") {
            once(c, tok, &db.survival_goal, "SURVIVE")?;
            db.survival_goal = Some(survival_goal(c)?);
        } else if [
            "PLACEMENT",
            "OWNER",
            "TEMPLATE",
            "LC_COLLATE",
            "LC_CTYPE",
            "CONNECTION",
            "SECONDARY",
        ]
        .iter()
        .any(|kw| c.peek_kw(kw))
        {
            let what = format!("CREATE DATABASE ... {}", tok.text(c.sql).to_uppercase());
            return Err(c.unimplemented(&what));
        } else {
            return Err(c.error());
        }
    }
    Ok(db)
}

/// Parses `ALTER DATABASE ...`: region changes, renames and zone configurations.
pub(crate) fn parse_alter_database(c: &mut Cursor) -> Result<Statement> {
    c.expect_kws(&["ALTER", "DATABASE"])?;
    let name = c.name()?;
    if c.eat_kws(&["CONFIGURE", "ZONE"]) {
        let action = parse_configure_zone(c)?;
        let target = ZoneTarget::Database(name);
        return Ok(Statement::ConfigureZone(Box::new(ConfigureZone {
            target,
            action,
        })));
    }
    let action = if c.eat_kws(&["ADD", "REGION"]) {
        let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
        AlterDatabaseAction::AddRegion {
            region: region(c)?,
            if_not_exists,
        }
    } else if c.eat_kws(&["DROP", "REGION"]) {
        let if_exists = c.eat_kws(&["IF", "EXISTS"]);
        AlterDatabaseAction::DropRegion {
            region: region(c)?,
            if_exists,
        }
    } else if c.eat_kws(&["DROP", "SECONDARY", "REGION"]) {
        AlterDatabaseAction::DropSecondaryRegion {
            if_exists: c.eat_kws(&["IF", "EXISTS"]),
        }
    } else if c.eat_kws(&["SET", "PRIMARY", "REGION"]) || c.eat_kws(&["PRIMARY", "REGION"]) {
        c.eat_token(&Token::Eq);
        AlterDatabaseAction::SetPrimaryRegion(region(c)?)
    } else if c.eat_kws(&["SET", "SECONDARY", "REGION"]) {
        c.eat_token(&Token::Eq);
        AlterDatabaseAction::SetSecondaryRegion(region(c)?)
    } else if c.eat_kw("SURVIVE") {
        AlterDatabaseAction::Survive(survival_goal(c)?)
    } else if c.eat_kws(&["RENAME", "TO"]) {
        AlterDatabaseAction::RenameTo(c.name()?)
    } else if c.eat_kws(&["OWNER", "TO"]) {
        AlterDatabaseAction::OwnerTo(c.name()?)
    } else if ["PLACEMENT", "ADD", "DROP", "ALTER", "SET", "RESET"]
        .iter()
        .any(|kw| c.peek_kw(kw))
    {
        return Err(c.unimplemented("this ALTER DATABASE form"));
    } else {
        return Err(c.error());
    };
    c.expect_end()?;
    Ok(Statement::AlterDatabase(Box::new(AlterDatabase {
        name,
        action,
    })))
}

/// Parses a locality after the `LOCALITY` keyword.
pub(crate) fn parse_table_locality(c: &mut Cursor) -> Result<TableLocality> {
    if c.eat_kw("GLOBAL") {
        return Ok(TableLocality::Global);
    }
    c.expect_kw("REGIONAL")?;
    if c.eat_kws(&["BY", "ROW"]) {
        let column = if c.eat_kw("AS") {
            Some(c.name()?)
        } else {
            None
        };
        return Ok(TableLocality::RegionalByRow(column));
    }
    if c.peek_kw("BY") {
        c.expect_kws(&["BY", "TABLE"])?;
    }
    if !c.eat_kw("IN") {
        return Ok(TableLocality::RegionalByTable(None));
    }
    if c.eat_kws(&["PRIMARY", "REGION"]) {
        return Ok(TableLocality::RegionalByTable(None));
    }
    Ok(TableLocality::RegionalByTable(Some(region(c)?)))
}
