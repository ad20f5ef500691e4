//! External connections: named storage or sink URIs (`external://name`).

use std::fmt;

use super::common::OptionValue;
use super::cursor::{Cursor, Result};

/// `CREATE EXTERNAL CONNECTION [IF NOT EXISTS] name AS 'uri'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateExternalConnection {
    /// `IF NOT EXISTS`.
    pub if_not_exists: bool,
    /// The connection's name: a string (a bare or quoted identifier is read as one) or a
    /// placeholder.
    pub name: OptionValue,
    /// The URI it stands for.
    pub uri: OptionValue,
}

impl fmt::Display for CreateExternalConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE EXTERNAL CONNECTION ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{} AS {}", self.name, self.uri)
    }
}

/// `DROP EXTERNAL CONNECTION name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropExternalConnection {
    /// The connection's name.
    pub name: OptionValue,
}

impl fmt::Display for DropExternalConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP EXTERNAL CONNECTION {}", self.name)
    }
}

/// Parses `CREATE EXTERNAL CONNECTION ...`.
pub(crate) fn parse_create_external(c: &mut Cursor) -> Result<CreateExternalConnection> {
    c.expect_kws(&["CREATE", "EXTERNAL", "CONNECTION"])?;
    let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
    let name = c.label()?;
    c.expect_kw("AS")?;
    let uri = c.string_or_placeholder()?;
    c.expect_end()?;
    Ok(CreateExternalConnection {
        if_not_exists,
        name,
        uri,
    })
}

/// Parses `DROP EXTERNAL CONNECTION ...`.
pub(crate) fn parse_drop_external(c: &mut Cursor) -> Result<DropExternalConnection> {
    c.expect_kws(&["DROP", "EXTERNAL", "CONNECTION"])?;
    let name = c.label()?;
    c.expect_end()?;
    Ok(DropExternalConnection { name })
}
