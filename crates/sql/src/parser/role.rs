//! Users and roles: `CREATE|ALTER|DROP USER|ROLE`, and `GRANT|REVOKE <role> TO|FROM <member>`.

use std::fmt;

use super::common::{Name, OptionValue};
use super::cursor::string_literal;
use super::cursor::{Cursor, Result};

/// A role option (CockroachDB's `role_option`): what `WITH ...` sets on a user or role.
/// Printed as written; [`RoleStatement::redacted`] hides the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleOption {
    /// `PASSWORD 'pw'` (or a placeholder); `PASSWORD NULL` is `Password(None)`.
    Password(Option<OptionValue>),
    /// `LOGIN` (true) or `NOLOGIN` (false).
    Login(bool),
}

impl fmt::Display for RoleOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleOption::Password(Some(p)) => write!(f, "PASSWORD {p}"),
            RoleOption::Password(None) => f.write_str("PASSWORD NULL"),
            RoleOption::Login(true) => f.write_str("LOGIN"),
            RoleOption::Login(false) => f.write_str("NOLOGIN"),
        }
    }
}

/// What a role statement does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleAction {
    /// `CREATE USER|ROLE [IF NOT EXISTS] name [[WITH] option ...]`.
    Create {
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// The new name.
        name: Name,
        /// Its options.
        options: Vec<RoleOption>,
    },
    /// `ALTER USER|ROLE [IF EXISTS] name [WITH] option ...`.
    Alter {
        /// `IF EXISTS`.
        if_exists: bool,
        /// The name.
        name: Name,
        /// The options to set.
        options: Vec<RoleOption>,
    },
    /// `DROP USER|ROLE [IF EXISTS] name [, ...]`.
    Drop {
        /// `IF EXISTS`.
        if_exists: bool,
        /// The names.
        names: Vec<Name>,
    },
    /// `GRANT role [, ...] TO member [, ...] [WITH ADMIN OPTION]`.
    Grant {
        /// The roles granted.
        roles: Vec<Name>,
        /// Who receives them.
        members: Vec<Name>,
        /// `WITH ADMIN OPTION`.
        admin_option: bool,
    },
    /// `REVOKE [ADMIN OPTION FOR] role [, ...] FROM member [, ...]`.
    Revoke {
        /// `ADMIN OPTION FOR`: only the admin option is taken away.
        admin_option: bool,
        /// The roles revoked.
        roles: Vec<Name>,
        /// From whom.
        members: Vec<Name>,
    },
    /// `GRANT SYSTEM privilege [, ...] TO grantee [, ...] [WITH GRANT OPTION]`.
    GrantSystem {
        /// The privileges, upper case as written (`ALL` included); validated when run.
        privileges: Vec<String>,
        /// Who receives them.
        grantees: Vec<Name>,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
    },
    /// `GRANT privilege [, ...] ON EXTERNAL CONNECTION name TO grantee [, ...]
    /// [WITH GRANT OPTION]`.
    GrantConnection {
        /// The privileges, upper case (`ALL`, `USAGE`, `DROP`); validated when run.
        privileges: Vec<String>,
        /// The connection.
        connection: OptionValue,
        /// Who receives them.
        grantees: Vec<Name>,
        /// `WITH GRANT OPTION`.
        grant_option: bool,
    },
    /// `REVOKE [GRANT OPTION FOR] privilege [, ...] ON EXTERNAL CONNECTION name FROM ...`.
    RevokeConnection {
        /// `GRANT OPTION FOR`.
        grant_option: bool,
        /// The privileges.
        privileges: Vec<String>,
        /// The connection.
        connection: OptionValue,
        /// From whom.
        grantees: Vec<Name>,
    },
    /// `REVOKE [GRANT OPTION FOR] SYSTEM privilege [, ...] FROM grantee [, ...]`.
    RevokeSystem {
        /// `GRANT OPTION FOR`: only the grant option is taken away.
        grant_option: bool,
        /// The privileges.
        privileges: Vec<String>,
        /// From whom.
        grantees: Vec<Name>,
    },
}

/// A role statement (system privilege grants included). `is_role` says which word was written: `CREATE ROLE` defaults to
/// `NOLOGIN`, `CREATE USER` to `LOGIN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleStatement {
    /// `ROLE` rather than `USER`.
    pub is_role: bool,
    /// What it does.
    pub action: RoleAction,
}

fn list(f: &mut fmt::Formatter<'_>, names: &[Name]) -> fmt::Result {
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{n}")?;
    }
    Ok(())
}

fn options(f: &mut fmt::Formatter<'_>, options: &[RoleOption]) -> fmt::Result {
    if !options.is_empty() {
        f.write_str(" WITH")?;
        for o in options {
            write!(f, " {o}")?;
        }
    }
    Ok(())
}

impl fmt::Display for RoleStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_role { "ROLE" } else { "USER" };
        match &self.action {
            RoleAction::Create {
                if_not_exists,
                name,
                options: opts,
            } => {
                write!(f, "CREATE {kind} ")?;
                if *if_not_exists {
                    f.write_str("IF NOT EXISTS ")?;
                }
                write!(f, "{name}")?;
                options(f, opts)
            }
            RoleAction::Alter {
                if_exists,
                name,
                options: opts,
            } => {
                write!(f, "ALTER {kind} ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                write!(f, "{name}")?;
                options(f, opts)
            }
            RoleAction::Drop { if_exists, names } => {
                write!(f, "DROP {kind} ")?;
                if *if_exists {
                    f.write_str("IF EXISTS ")?;
                }
                list(f, names)
            }
            RoleAction::Grant {
                roles,
                members,
                admin_option,
            } => {
                f.write_str("GRANT ")?;
                list(f, roles)?;
                f.write_str(" TO ")?;
                list(f, members)?;
                if *admin_option {
                    f.write_str(" WITH ADMIN OPTION")?;
                }
                Ok(())
            }
            RoleAction::GrantSystem {
                privileges,
                grantees,
                grant_option,
            } => {
                write!(f, "GRANT SYSTEM {} TO ", privileges.join(", "))?;
                list(f, grantees)?;
                if *grant_option {
                    f.write_str(" WITH GRANT OPTION")?;
                }
                Ok(())
            }
            RoleAction::GrantConnection {
                privileges,
                connection,
                grantees,
                grant_option,
            } => {
                write!(
                    f,
                    "GRANT {} ON EXTERNAL CONNECTION {connection} TO ",
                    privileges.join(", ")
                )?;
                list(f, grantees)?;
                if *grant_option {
                    f.write_str(" WITH GRANT OPTION")?;
                }
                Ok(())
            }
            RoleAction::RevokeConnection {
                grant_option,
                privileges,
                connection,
                grantees,
            } => {
                f.write_str("REVOKE ")?;
                if *grant_option {
                    f.write_str("GRANT OPTION FOR ")?;
                }
                write!(
                    f,
                    "{} ON EXTERNAL CONNECTION {connection} FROM ",
                    privileges.join(", ")
                )?;
                list(f, grantees)
            }
            RoleAction::RevokeSystem {
                grant_option,
                privileges,
                grantees,
            } => {
                f.write_str("REVOKE ")?;
                if *grant_option {
                    f.write_str("GRANT OPTION FOR ")?;
                }
                write!(f, "SYSTEM {} FROM ", privileges.join(", "))?;
                list(f, grantees)
            }
            RoleAction::Revoke {
                admin_option,
                roles,
                members,
            } => {
                f.write_str("REVOKE ")?;
                if *admin_option {
                    f.write_str("ADMIN OPTION FOR ")?;
                }
                list(f, roles)?;
                f.write_str(" FROM ")?;
                list(f, members)
            }
        }
    }
}

impl RoleStatement {
    /// This statement with its password shown as `'*****'`, as logs and statement tables show
    /// it (CockroachDB's redaction of `PASSWORD`).
    pub fn redacted(&self) -> RoleStatement {
        let hide = |options: &[RoleOption]| -> Vec<RoleOption> {
            options
                .iter()
                .map(|o| match o {
                    RoleOption::Password(Some(_)) => {
                        RoleOption::Password(Some(OptionValue::String("*****".into())))
                    }
                    other => other.clone(),
                })
                .collect()
        };
        let action = match &self.action {
            RoleAction::Create {
                if_not_exists,
                name,
                options,
            } => RoleAction::Create {
                if_not_exists: *if_not_exists,
                name: name.clone(),
                options: hide(options),
            },
            RoleAction::Alter {
                if_exists,
                name,
                options,
            } => RoleAction::Alter {
                if_exists: *if_exists,
                name: name.clone(),
                options: hide(options),
            },
            other => other.clone(),
        };
        RoleStatement {
            is_role: self.is_role,
            action,
        }
    }
}

/// A role name: an identifier or a string literal (`CREATE USER 'bob'`).
fn role_name(c: &mut Cursor) -> Result<Name> {
    if let Some(s) = c.peek().and_then(|t| string_literal(&t.token.token)) {
        c.next();
        return Ok(Name(s));
    }
    c.any_name()
}

fn role_names(c: &mut Cursor) -> Result<Vec<Name>> {
    let mut names = vec![role_name(c)?];
    while c.eat_token(&sqlparser::tokenizer::Token::Comma) {
        names.push(role_name(c)?);
    }
    Ok(names)
}

/// `GRANT|REVOKE ... ON EXTERNAL CONNECTION ...`, if the statement is one.
fn connection_grant(c: &mut Cursor) -> Result<Option<RoleStatement>> {
    let mut n = 1;
    while let Some(t) = c.peek_nth(n) {
        if Cursor::is_kw(t, "ON") {
            break;
        }
        n += 1;
    }
    let on_connection = c
        .peek_nth(n + 1)
        .is_some_and(|t| Cursor::is_kw(t, "EXTERNAL"));
    if !on_connection {
        return Ok(None);
    }
    let grant = c.eat_kw("GRANT");
    let grant_option = !grant && {
        c.expect_kw("REVOKE")?;
        c.eat_kws(&["GRANT", "OPTION", "FOR"])
    };
    let privileges = privilege_list(c)?;
    c.expect_kws(&["ON", "EXTERNAL", "CONNECTION"])?;
    let connection = c.label()?;
    let action = if grant {
        c.expect_kw("TO")?;
        let grantees = role_names(c)?;
        RoleAction::GrantConnection {
            privileges,
            connection,
            grantees,
            grant_option: c.eat_kws(&["WITH", "GRANT", "OPTION"]),
        }
    } else {
        c.expect_kw("FROM")?;
        RoleAction::RevokeConnection {
            grant_option,
            privileges,
            connection,
            grantees: role_names(c)?,
        }
    };
    Ok(Some(RoleStatement {
        is_role: true,
        action,
    }))
}

/// Privilege names (`BACKUP, RESTORE`), upper-cased.
fn privilege_list(c: &mut Cursor) -> Result<Vec<String>> {
    let mut out = vec![c.any_name()?.0.to_uppercase()];
    while c.eat_token(&sqlparser::tokenizer::Token::Comma) {
        out.push(c.any_name()?.0.to_uppercase());
    }
    Ok(out)
}

/// Role options CockroachDB has that Sextant does not implement yet: refused by name.
const UNSUPPORTED_OPTIONS: &[&str] = &[
    "VALID",
    "CREATEROLE",
    "NOCREATEROLE",
    "CREATELOGIN",
    "NOCREATELOGIN",
    "CREATEDB",
    "NOCREATEDB",
    "CONTROLJOB",
    "NOCONTROLJOB",
    "CONTROLCHANGEFEED",
    "NOCONTROLCHANGEFEED",
    "VIEWACTIVITY",
    "NOVIEWACTIVITY",
    "VIEWACTIVITYREDACTED",
    "NOVIEWACTIVITYREDACTED",
    "CANCELQUERY",
    "NOCANCELQUERY",
    "MODIFYCLUSTERSETTING",
    "NOMODIFYCLUSTERSETTING",
    "VIEWCLUSTERSETTING",
    "NOVIEWCLUSTERSETTING",
    "SQLLOGIN",
    "NOSQLLOGIN",
    "REPLICATION",
    "NOREPLICATION",
    "BYPASSRLS",
    "NOBYPASSRLS",
    "SUPERUSER",
    "NOSUPERUSER",
    "INHERIT",
    "NOINHERIT",
    "CONNECTION",
];

fn role_options(c: &mut Cursor) -> Result<Vec<RoleOption>> {
    c.eat_kw("WITH");
    let mut out = Vec::new();
    while let Some(tok) = c.peek() {
        if c.eat_kw("PASSWORD") {
            if c.eat_kw("NULL") {
                out.push(RoleOption::Password(None));
            } else {
                out.push(RoleOption::Password(Some(c.string_or_placeholder()?)));
            }
        } else if c.eat_kw("LOGIN") {
            out.push(RoleOption::Login(true));
        } else if c.eat_kw("NOLOGIN") {
            out.push(RoleOption::Login(false));
        } else if let Some(kw) = UNSUPPORTED_OPTIONS.iter().find(|kw| c.peek_kw(kw)) {
            let what = if *kw == "VALID" {
                "role option VALID UNTIL".to_string()
            } else {
                format!("role option {kw}")
            };
            return Err(c.unimplemented_at(tok, &what));
        } else {
            return Err(c.error());
        }
    }
    let passwords = out
        .iter()
        .filter(|o| matches!(o, RoleOption::Password(_)))
        .count();
    let logins = out
        .iter()
        .filter(|o| matches!(o, RoleOption::Login(_)))
        .count();
    if passwords > 1 || logins > 1 {
        return Err(c.error_why("conflicting role options"));
    }
    Ok(out)
}

/// Whether the statement at the cursor is a role statement this module parses:
/// `CREATE|ALTER|DROP USER|ROLE`, or `GRANT`/`REVOKE` of roles (no `ON`).
pub(crate) fn is_role_statement(c: &Cursor) -> bool {
    let at = |n: usize, kw: &str| c.peek_nth(n).is_some_and(|t| Cursor::is_kw(t, kw));
    let first_is = |kws: &[&str]| kws.iter().any(|kw| at(0, kw));
    if first_is(&["CREATE", "ALTER", "DROP"]) {
        return at(1, "USER") || at(1, "ROLE");
    }
    if first_is(&["GRANT", "REVOKE"]) {
        // A privilege grant names its object with ON; a role grant has none.
        let mut n = 1;
        while let Some(t) = c.peek_nth(n) {
            if Cursor::is_kw(t, "ON") {
                // Privileges on an external connection are handled here too.
                return c
                    .peek_nth(n + 1)
                    .is_some_and(|t| Cursor::is_kw(t, "EXTERNAL"));
            }
            if Cursor::is_kw(t, "TO") || Cursor::is_kw(t, "FROM") {
                return true;
            }
            n += 1;
        }
    }
    false
}

/// Parses a role statement ([`is_role_statement`] said it is one).
pub(crate) fn parse_role_statement(c: &mut Cursor) -> Result<RoleStatement> {
    if let Some(on) = connection_grant(c)? {
        return Ok(on);
    }
    if c.eat_kws(&["GRANT", "SYSTEM"]) {
        let privileges = privilege_list(c)?;
        c.expect_kw("TO")?;
        let grantees = role_names(c)?;
        let grant_option = c.eat_kws(&["WITH", "GRANT", "OPTION"]);
        return Ok(RoleStatement {
            is_role: true,
            action: RoleAction::GrantSystem {
                privileges,
                grantees,
                grant_option,
            },
        });
    }
    if c.peek_kws(&["REVOKE", "SYSTEM"]) || c.peek_kws(&["REVOKE", "GRANT", "OPTION", "FOR"]) {
        c.expect_kw("REVOKE")?;
        let grant_option = c.eat_kws(&["GRANT", "OPTION", "FOR"]);
        c.expect_kw("SYSTEM")?;
        let privileges = privilege_list(c)?;
        c.expect_kw("FROM")?;
        let grantees = role_names(c)?;
        return Ok(RoleStatement {
            is_role: true,
            action: RoleAction::RevokeSystem {
                grant_option,
                privileges,
                grantees,
            },
        });
    }
    if c.eat_kw("GRANT") {
        let roles = role_names(c)?;
        c.expect_kw("TO")?;
        let members = role_names(c)?;
        let admin_option = c.eat_kws(&["WITH", "ADMIN", "OPTION"]);
        return Ok(RoleStatement {
            is_role: true,
            action: RoleAction::Grant {
                roles,
                members,
                admin_option,
            },
        });
    }
    if c.eat_kw("REVOKE") {
        let admin_option = c.eat_kws(&["ADMIN", "OPTION", "FOR"]);
        let roles = role_names(c)?;
        c.expect_kw("FROM")?;
        let members = role_names(c)?;
        return Ok(RoleStatement {
            is_role: true,
            action: RoleAction::Revoke {
                admin_option,
                roles,
                members,
            },
        });
    }
    let verb = if c.eat_kw("CREATE") {
        "CREATE"
    } else if c.eat_kw("ALTER") {
        "ALTER"
    } else {
        c.expect_kw("DROP")?;
        "DROP"
    };
    let is_role = if c.eat_kw("ROLE") {
        true
    } else {
        c.expect_kw("USER")?;
        false
    };
    let action = match verb {
        "CREATE" => {
            let if_not_exists = c.eat_kws(&["IF", "NOT", "EXISTS"]);
            let name = role_name(c)?;
            RoleAction::Create {
                if_not_exists,
                name,
                options: role_options(c)?,
            }
        }
        "ALTER" => {
            let if_exists = c.eat_kws(&["IF", "EXISTS"]);
            let name = role_name(c)?;
            if let Some(tok) = c.peek().filter(|_| c.peek_kw("SET") || c.peek_kw("RESET")) {
                return Err(c.unimplemented_at(tok, "ALTER ROLE ... SET"));
            }
            let options = role_options(c)?;
            if options.is_empty() {
                return Err(c.error());
            }
            RoleAction::Alter {
                if_exists,
                name,
                options,
            }
        }
        _ => {
            let if_exists = c.eat_kws(&["IF", "EXISTS"]);
            RoleAction::Drop {
                if_exists,
                names: role_names(c)?,
            }
        }
    };
    c.expect_end()?;
    Ok(RoleStatement { is_role, action })
}
