//! Cluster settings: `SET CLUSTER SETTING` and `RESET CLUSTER SETTING`.

use std::fmt;

use sqlparser::ast::Expr;
use sqlparser::tokenizer::Token;

use super::cursor::{Cursor, Result};

/// `SET CLUSTER SETTING name {= | TO} {value | DEFAULT}` or `RESET CLUSTER SETTING name`.
#[derive(Clone, Debug, PartialEq)]
pub struct SetClusterSetting {
    /// The dotted setting name, lower case (`kv.rangefeed.enabled`).
    pub name: String,
    /// The new value; `None` resets to the default.
    pub value: Option<Expr>,
}

impl fmt::Display for SetClusterSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = SettingName(&self.name);
        match &self.value {
            Some(value) => write!(f, "SET CLUSTER SETTING {name} = {value}"),
            None => write!(f, "SET CLUSTER SETTING {name} = DEFAULT"),
        }
    }
}

/// Prints a dotted setting or variable name, double-quoting the parts that are not plain
/// lower-case words. Keywords stay bare: a setting name part may be any word.
pub(crate) struct SettingName<'a>(pub &'a str);

impl fmt::Display for SettingName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.split('.').enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            let plain = part.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if plain {
                f.write_str(part)?;
            } else {
                write!(f, "\"{}\"", part.replace('"', "\"\""))?;
            }
        }
        Ok(())
    }
}

/// A dotted setting name; any word (keywords included) may be a part.
pub(crate) fn parse_setting_name(c: &mut Cursor) -> Result<String> {
    let mut parts = Vec::new();
    loop {
        match c.peek().map(|t| &t.token.token) {
            Some(Token::Word(w)) if w.quote_style.is_none() => parts.push(w.value.to_lowercase()),
            Some(Token::Word(w)) => parts.push(w.value.clone()),
            _ => return Err(c.error_why("expected a cluster setting name")),
        }
        c.next();
        if !c.eat_token(&Token::Period) {
            return Ok(parts.join("."));
        }
    }
}

/// Parses `SET CLUSTER SETTING ...` or `RESET CLUSTER SETTING ...`.
pub(crate) fn parse_set_cluster_setting(c: &mut Cursor) -> Result<SetClusterSetting> {
    if c.eat_kw("RESET") {
        c.expect_kws(&["CLUSTER", "SETTING"])?;
        let name = parse_setting_name(c)?;
        c.expect_end()?;
        return Ok(SetClusterSetting { name, value: None });
    }
    c.expect_kws(&["SET", "CLUSTER", "SETTING"])?;
    let name = parse_setting_name(c)?;
    if !c.eat_token(&Token::Eq) {
        c.expect_kw("TO")?;
    }
    let value = if c.peek_kw("DEFAULT") && c.peek_nth(1).is_none() {
        c.next();
        None
    } else {
        Some(c.expr()?)
    };
    c.expect_end()?;
    Ok(SetClusterSetting { name, value })
}
