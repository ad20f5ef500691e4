//! Backslash commands: `\q`, `\?`, `\l`, `\dt`, `\d [table]`, `\du`.
//!
//! As in `cockroach sql`, the listing commands are sent to the server as the equivalent SQL
//! (`\l` is `SHOW DATABASES`, `\d t` is `SHOW COLUMNS FROM t`), so they show what the server
//! itself reports. [`parse`] is pure: it turns the line into a [`Meta`] for the shell to act
//! on.

/// What a backslash line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meta {
    /// `\q`: leave the shell.
    Quit,
    /// `\?`: print [`HELP`].
    Help,
    /// A listing, run as this SQL statement.
    Sql(String),
    /// Anything else: the message to print.
    Invalid(String),
}

/// The text `\?` prints.
pub const HELP: &str = "\
You are using 'sextant sql', Sextant's SQL shell.
Type SQL statements terminated by a semicolon; a statement may span lines.

  \\q, quit, exit  leave the shell (Ctrl-D works too)
  \\?              print this help
  \\l              list the databases (SHOW DATABASES)
  \\dt             list the tables of the current database (SHOW TABLES)
  \\d              same as \\dt
  \\d TABLE        describe a table's columns (SHOW COLUMNS FROM TABLE)
  \\du             list the users (SHOW USERS)

Ctrl-C clears the statement being typed. History is kept in ~/.sextant_sql_history.
";

/// Whether `line` is a backslash command (or `quit`/`exit` alone), judged at the start of a
/// statement.
pub fn is_meta(line: &str) -> bool {
    let t = line.trim();
    t.starts_with('\\') || matches!(t.trim_end_matches(';'), "quit" | "exit")
}

/// Parses a backslash line.
pub fn parse(line: &str) -> Meta {
    let t = line.trim().trim_end_matches(';').trim();
    if matches!(t, "quit" | "exit") {
        return Meta::Quit;
    }
    let mut words = t.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let args: Vec<&str> = words.collect();
    match (cmd, args.as_slice()) {
        ("\\q", []) => Meta::Quit,
        ("\\?" | "\\h" | "\\help", []) => Meta::Help,
        ("\\l", []) => Meta::Sql("SHOW DATABASES".into()),
        ("\\dt" | "\\d", []) => Meta::Sql("SHOW TABLES".into()),
        ("\\d", [table]) => Meta::Sql(format!("SHOW COLUMNS FROM {table}")),
        ("\\du", []) => Meta::Sql("SHOW USERS".into()),
        ("\\q" | "\\?" | "\\l" | "\\dt" | "\\du" | "\\d", _) => Meta::Invalid(format!(
            "{cmd}: wrong number of arguments. Try \\? for help."
        )),
        _ => Meta::Invalid(format!("invalid command {cmd}. Try \\? for help.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(parse("\\q"), Meta::Quit);
        assert_eq!(parse("  quit "), Meta::Quit);
        assert_eq!(parse("exit;"), Meta::Quit);
        assert_eq!(parse("\\?"), Meta::Help);
        assert_eq!(parse("\\l"), Meta::Sql("SHOW DATABASES".into()));
        assert_eq!(parse("\\dt"), Meta::Sql("SHOW TABLES".into()));
        assert_eq!(parse("\\d"), Meta::Sql("SHOW TABLES".into()));
        assert_eq!(
            parse("\\d movr.users"),
            Meta::Sql("SHOW COLUMNS FROM movr.users".into())
        );
        assert_eq!(parse("\\du"), Meta::Sql("SHOW USERS".into()));
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            parse("\\x"),
            Meta::Invalid("invalid command \\x. Try \\? for help.".into())
        );
        assert_eq!(
            parse("\\d a b"),
            Meta::Invalid("\\d: wrong number of arguments. Try \\? for help.".into())
        );
        assert!(is_meta(" \\dt"));
        assert!(is_meta("exit"));
        assert!(!is_meta("SELECT '\\q'"));
    }
}
