//! `CREATE|ALTER|DROP USER|ROLE`, role membership grants, and `SHOW USERS`, with
//! CockroachDB's rules and messages. Only admins manage users and roles.

use base::errcode;
use security::scram::Verifier;

use super::StmtCtx;
use super::show::cols;
use crate::catalog::users::{
    self, ADMIN, Membership, Memberships, ROOT, UserRecord, all_users, get_user, member_key,
    missing_privilege, no_such_role, user_key,
};
use crate::error::{Result, SqlError};
use crate::parser::{Name, RoleAction, RoleOption, RoleStatement};
use crate::session::StatementResult;
use crate::types::{Datum, Type};

/// Runs a role statement.
pub async fn run(ctx: &mut StmtCtx<'_>, s: &RoleStatement) -> Result<StatementResult> {
    let memberships = Memberships::read(&ctx.reader).await?;
    match &s.action {
        RoleAction::GrantConnection {
            privileges,
            connection,
            grantees,
            grant_option,
        } => {
            let connection = connection.text(&ctx.params)?;
            return grant_connection(
                ctx,
                &memberships,
                &connection,
                privileges,
                grantees,
                Some(*grant_option),
            )
            .await;
        }
        RoleAction::RevokeConnection {
            grant_option,
            privileges,
            connection,
            grantees,
        } => {
            let connection = connection.text(&ctx.params)?;
            let revoke = if *grant_option {
                ConnectionRevoke::GrantOption
            } else {
                ConnectionRevoke::Privilege
            };
            return revoke_connection(ctx, &memberships, &connection, privileges, grantees, revoke)
                .await;
        }
        _ => {}
    }
    if !memberships.is_admin(&ctx.user) && !delegated(ctx, &memberships, &s.action).await? {
        return Err(match &s.action {
            RoleAction::GrantSystem { .. } | RoleAction::RevokeSystem { .. } => SqlError::new(
                errcode::INSUFFICIENT_PRIVILEGE,
                "only users with the admin role are allowed to grant or revoke system privileges",
            ),
            _ => missing_privilege(&ctx.user, "CREATEROLE"),
        });
    }
    match &s.action {
        RoleAction::GrantSystem {
            privileges,
            grantees,
            grant_option,
        } => grant_system(ctx, privileges, grantees, *grant_option).await,
        RoleAction::RevokeSystem {
            grant_option,
            privileges,
            grantees,
        } => revoke_system(ctx, privileges, grantees, *grant_option).await,
        RoleAction::GrantConnection { .. } | RoleAction::RevokeConnection { .. } => {
            Err(SqlError::internal("connection grants are handled above"))
        }
        RoleAction::Create {
            if_not_exists,
            name,
            options,
        } => create(ctx, s.is_role, *if_not_exists, name, options).await,
        RoleAction::Alter {
            if_exists,
            name,
            options,
        } => alter(ctx, s.is_role, *if_exists, name, options).await,
        RoleAction::Drop { if_exists, names } => drop(ctx, s.is_role, *if_exists, names).await,
        RoleAction::Grant {
            roles,
            members,
            admin_option,
        } => grant(ctx, &memberships, roles, members, *admin_option).await,
        RoleAction::Revoke {
            admin_option,
            roles,
            members,
        } => revoke(ctx, roles, members, *admin_option).await,
    }
}

/// Whether a user who is not an admin may run `action` anyway: a role membership granted or
/// revoked by a member holding the role `WITH ADMIN OPTION`, or system privileges by one
/// holding each `WITH GRANT OPTION`.
async fn delegated(
    ctx: &StmtCtx<'_>,
    memberships: &Memberships,
    action: &RoleAction,
) -> Result<bool> {
    let user = ctx.user.as_str();
    Ok(match action {
        RoleAction::Grant { roles, .. } | RoleAction::Revoke { roles, .. } => {
            roles.iter().all(|role| {
                memberships
                    .0
                    .get(&role.0.to_lowercase())
                    .and_then(|members| members.get(user))
                    .is_some_and(|m| m.admin_option)
            })
        }
        RoleAction::GrantSystem { privileges, .. }
        | RoleAction::RevokeSystem { privileges, .. } => {
            let privileges = system_privileges(privileges)?;
            let grants = users::Grants::system(&ctx.reader).await?;
            privileges.iter().all(|p| grants.grantable(user, p))
        }
        _ => false,
    })
}

fn tag(is_role: bool, verb: &str) -> StatementResult {
    StatementResult::tag(if is_role {
        format!("{verb} ROLE")
    } else {
        format!("{verb} USER")
    })
}

/// A name users may create: not reserved, not empty, at most 63 bytes (CockroachDB's rules).
fn check_new_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(SqlError::new(
            errcode::INVALID_NAME,
            "username \"\" invalid; usernames are case insensitive, must start with a letter, \
             digit or underscore, may contain letters, digits, dashes, periods, or underscores, \
             and must not exceed 63 characters",
        ));
    }
    let valid = name.len() <= 63
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        return Err(SqlError::new(
            errcode::INVALID_NAME,
            format!(
                "username \"{name}\" invalid; usernames are case insensitive, must start with a \
                 letter, digit or underscore, may contain letters, digits, dashes, periods, or \
                 underscores, and must not exceed 63 characters"
            ),
        ));
    }
    if users::is_reserved(name) {
        return Err(SqlError::new(
            errcode::RESERVED_NAME,
            format!("role name \"{name}\" is reserved"),
        ));
    }
    Ok(())
}

/// Applies `options` to `record`: a password becomes its SCRAM verifier.
fn apply_options(ctx: &StmtCtx<'_>, record: &mut UserRecord, options: &[RoleOption]) -> Result<()> {
    for o in options {
        match o {
            RoleOption::Login(login) => record.login = *login,
            RoleOption::Password(None) => record.password = None,
            RoleOption::Password(Some(value)) => {
                if !ctx.server.is_secure() {
                    return Err(SqlError::new(
                        errcode::INVALID_PASSWORD,
                        "setting or updating a password is not supported in insecure mode",
                    ));
                }
                let password = value.text(&ctx.params)?;
                if password.is_empty() {
                    return Err(SqlError::new(
                        errcode::INVALID_PASSWORD,
                        "empty passwords are not permitted",
                    ));
                }
                record.password = Some(Verifier::generate(&password).to_string());
            }
        }
    }
    Ok(())
}

async fn put_record(ctx: &StmtCtx<'_>, record: &UserRecord) -> Result<()> {
    let bytes = serde_json::to_vec(record)
        .map_err(|e| SqlError::internal(format!("encoding a user record: {e}")))?;
    ctx.reader
        .txn()?
        .put(&user_key(&record.name), bytes)
        .await?;
    Ok(())
}

async fn create(
    ctx: &mut StmtCtx<'_>,
    is_role: bool,
    if_not_exists: bool,
    name: &Name,
    options: &[RoleOption],
) -> Result<StatementResult> {
    let name = name.0.to_lowercase();
    if get_user(&ctx.reader, &name).await?.is_some() {
        if if_not_exists {
            return Ok(tag(is_role, "CREATE"));
        }
        return Err(SqlError::new(
            errcode::DUPLICATE_OBJECT,
            format!("a role/user named {name} already exists"),
        ));
    }
    check_new_name(&name)?;
    let mut record = UserRecord {
        name,
        login: !is_role,
        password: None,
    };
    apply_options(ctx, &mut record, options)?;
    put_record(ctx, &record).await?;
    Ok(tag(is_role, "CREATE"))
}

async fn alter(
    ctx: &mut StmtCtx<'_>,
    is_role: bool,
    if_exists: bool,
    name: &Name,
    options: &[RoleOption],
) -> Result<StatementResult> {
    let name = name.0.to_lowercase();
    let Some(mut record) = get_user(&ctx.reader, &name).await? else {
        if if_exists {
            return Ok(tag(is_role, "ALTER"));
        }
        return Err(no_such_role(&name));
    };
    if name == ADMIN {
        return Err(SqlError::new(
            errcode::RESERVED_NAME,
            "cannot edit admin role",
        ));
    }
    if name == ROOT
        && options
            .iter()
            .any(|o| matches!(o, RoleOption::Login(false)))
    {
        return Err(SqlError::new(
            errcode::RESERVED_NAME,
            "cannot remove the login privilege of root",
        ));
    }
    apply_options(ctx, &mut record, options)?;
    put_record(ctx, &record).await?;
    Ok(tag(is_role, "ALTER"))
}

async fn drop(
    ctx: &mut StmtCtx<'_>,
    is_role: bool,
    if_exists: bool,
    names: &[Name],
) -> Result<StatementResult> {
    let txn = ctx.reader.txn()?.clone();
    for name in names {
        let name = name.0.to_lowercase();
        if users::is_reserved(&name) {
            return Err(SqlError::new(
                errcode::RESERVED_NAME,
                format!("cannot drop special role {name}"),
            ));
        }
        if name == ctx.user {
            return Err(SqlError::new(
                errcode::OBJECT_NOT_IN_PREREQUISITE_STATE,
                "cannot drop the current user",
            ));
        }
        if get_user(&ctx.reader, &name).await?.is_none() {
            if if_exists {
                continue;
            }
            return Err(no_such_role(&name));
        }
        txn.delete(&user_key(&name)).await?;
        if let Some(privileges) = users::Grants::system(&ctx.reader).await?.0.get(&name) {
            for p in privileges.keys() {
                txn.delete(&users::system_grant_key(&name, p)).await?;
            }
        }
        // And its privileges on external connections, or a user created later under the
        // same name would inherit them.
        for kv in ctx
            .reader
            .scan(&users::all_connection_grants_span(), 0)
            .await?
        {
            let grantee = String::from_utf8_lossy(&kv.key.0);
            if grantee.rsplit('/').nth(1) == Some(name.as_str()) {
                txn.delete(&kv.key).await?;
            }
        }
        // Its memberships go with it, both ways.
        for (role, members) in &Memberships::read(&ctx.reader).await?.0 {
            for member in members.keys() {
                if *role == name || *member == name {
                    txn.delete(&member_key(role, member)).await?;
                }
            }
        }
    }
    Ok(tag(is_role, "DROP"))
}

/// The normalized names, each of an existing user or role.
async fn existing(ctx: &StmtCtx<'_>, names: &[Name]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let name = name.0.to_lowercase();
        if get_user(&ctx.reader, &name).await?.is_none() {
            return Err(no_such_role(&name));
        }
        out.push(name);
    }
    Ok(out)
}

async fn grant(
    ctx: &mut StmtCtx<'_>,
    memberships: &Memberships,
    roles: &[Name],
    members: &[Name],
    admin_option: bool,
) -> Result<StatementResult> {
    let txn = ctx.reader.txn()?.clone();
    let members = existing(ctx, members).await?;
    for role in existing(ctx, roles).await? {
        for member in &members {
            if role == ADMIN && member == ROOT {
                continue;
            }
            if memberships.would_cycle(&role, member) {
                return Err(SqlError::new(
                    errcode::INVALID_GRANT_OPERATION,
                    format!("making {member} a member of {role} would create a cycle"),
                ));
            }
            let value = serde_json::to_vec(&Membership { admin_option })
                .map_err(|e| SqlError::internal(format!("encoding a membership: {e}")))?;
            txn.put(&member_key(&role, member), value).await?;
        }
    }
    Ok(StatementResult::tag("GRANT"))
}

async fn revoke(
    ctx: &mut StmtCtx<'_>,
    roles: &[Name],
    members: &[Name],
    admin_option: bool,
) -> Result<StatementResult> {
    let txn = ctx.reader.txn()?.clone();
    let members = existing(ctx, members).await?;
    for role in existing(ctx, roles).await? {
        for member in &members {
            if role == ADMIN && member == ROOT {
                return Err(SqlError::new(
                    errcode::RESERVED_NAME,
                    "role/user root cannot be removed from role admin or lose the ADMIN OPTION",
                ));
            }
            let key = member_key(&role, member);
            if admin_option {
                if txn.get(&key).await?.is_some() {
                    let value = serde_json::to_vec(&Membership::default())
                        .map_err(|e| SqlError::internal(format!("encoding a membership: {e}")))?;
                    txn.put(&key, value).await?;
                }
            } else {
                txn.delete(&key).await?;
            }
        }
    }
    Ok(StatementResult::tag("REVOKE"))
}

/// The privileges named, `ALL` expanded; an unknown one is `invalid privilege type X for
/// global` (0LP01), as CockroachDB says.
fn system_privileges(names: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for name in names {
        if name == "ALL" {
            out.extend(users::SYSTEM_PRIVILEGES.iter().map(|p| p.to_string()));
        } else if users::SYSTEM_PRIVILEGES.contains(&name.as_str()) {
            out.push(name.clone());
        } else {
            return Err(SqlError::new(
                errcode::INVALID_GRANT_OPERATION,
                format!("invalid privilege type {name} for global"),
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

async fn grant_system(
    ctx: &mut StmtCtx<'_>,
    privileges: &[String],
    grantees: &[Name],
    grant_option: bool,
) -> Result<StatementResult> {
    let privileges = system_privileges(privileges)?;
    let txn = ctx.reader.txn()?.clone();
    let value = serde_json::to_vec(&users::SystemGrant { grant_option })
        .map_err(|e| SqlError::internal(format!("encoding a grant: {e}")))?;
    for grantee in existing(ctx, grantees).await? {
        for p in &privileges {
            txn.put(&users::system_grant_key(&grantee, p), value.clone())
                .await?;
        }
    }
    Ok(StatementResult::tag("GRANT"))
}

async fn revoke_system(
    ctx: &mut StmtCtx<'_>,
    privileges: &[String],
    grantees: &[Name],
    grant_option: bool,
) -> Result<StatementResult> {
    let privileges = system_privileges(privileges)?;
    let txn = ctx.reader.txn()?.clone();
    for grantee in existing(ctx, grantees).await? {
        for p in &privileges {
            let key = users::system_grant_key(&grantee, p);
            if !grant_option {
                txn.delete(&key).await?;
            } else if txn.get(&key).await?.is_some() {
                let value = serde_json::to_vec(&users::SystemGrant::default())
                    .map_err(|e| SqlError::internal(format!("encoding a grant: {e}")))?;
                txn.put(&key, value).await?;
            }
        }
    }
    Ok(StatementResult::tag("REVOKE"))
}

/// What a REVOKE on a connection takes away.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ConnectionRevoke {
    Privilege,
    GrantOption,
}

/// The privileges named for an external connection, checked; `ALL` stays `ALL`.
fn connection_privileges(names: &[String]) -> Result<Vec<String>> {
    for name in names {
        if name != "ALL" && !users::CONNECTION_PRIVILEGES.contains(&name.as_str()) {
            return Err(SqlError::new(
                errcode::INVALID_GRANT_OPERATION,
                format!("invalid privilege type {name} for external_connection"),
            ));
        }
    }
    Ok(names.to_vec())
}

/// Checks that `connection` exists and that the user may grant on it (an admin, or a holder
/// of `ALL` with the grant option, as its creator is).
async fn check_connection_grantor(
    ctx: &StmtCtx<'_>,
    memberships: &Memberships,
    connection: &str,
    privileges: &[String],
) -> Result<()> {
    if ctx
        .reader
        .get(&users::external_connection_key(connection))
        .await?
        .is_none()
    {
        return Err(SqlError::new(
            errcode::UNDEFINED_OBJECT,
            format!("external connection with name {connection} does not exist"),
        ));
    }
    if memberships.is_admin(&ctx.user) {
        return Ok(());
    }
    let grants = users::Grants::connection(&ctx.reader, connection).await?;
    if privileges.iter().all(|p| grants.grantable(&ctx.user, p)) {
        return Ok(());
    }
    Err(SqlError::new(
        errcode::INSUFFICIENT_PRIVILEGE,
        format!(
            "user {} missing WITH GRANT OPTION privilege on {}",
            ctx.user,
            privileges.join(", ")
        ),
    ))
}

async fn grant_connection(
    ctx: &mut StmtCtx<'_>,
    memberships: &Memberships,
    connection: &str,
    privileges: &[String],
    grantees: &[Name],
    grant_option: Option<bool>,
) -> Result<StatementResult> {
    let privileges = connection_privileges(privileges)?;
    check_connection_grantor(ctx, memberships, connection, &privileges).await?;
    let txn = ctx.reader.txn()?.clone();
    let value = serde_json::to_vec(&users::SystemGrant {
        grant_option: grant_option.unwrap_or(false),
    })
    .map_err(|e| SqlError::internal(format!("encoding a grant: {e}")))?;
    for grantee in existing(ctx, grantees).await? {
        for p in &privileges {
            txn.put(
                &users::connection_grant_key(connection, &grantee, p),
                value.clone(),
            )
            .await?;
        }
    }
    Ok(StatementResult::tag("GRANT"))
}

async fn revoke_connection(
    ctx: &mut StmtCtx<'_>,
    memberships: &Memberships,
    connection: &str,
    privileges: &[String],
    grantees: &[Name],
    revoke: ConnectionRevoke,
) -> Result<StatementResult> {
    let privileges = connection_privileges(privileges)?;
    check_connection_grantor(ctx, memberships, connection, &privileges).await?;
    let txn = ctx.reader.txn()?.clone();
    for grantee in existing(ctx, grantees).await? {
        for p in &privileges {
            let key = users::connection_grant_key(connection, &grantee, p);
            match revoke {
                ConnectionRevoke::Privilege => txn.delete(&key).await?,
                ConnectionRevoke::GrantOption => {
                    if txn.get(&key).await?.is_some() {
                        let value = serde_json::to_vec(&users::SystemGrant::default())
                            .map_err(|e| SqlError::internal(format!("encoding a grant: {e}")))?;
                        txn.put(&key, value).await?;
                    }
                }
            }
        }
    }
    Ok(StatementResult::tag("REVOKE"))
}

/// `SHOW GRANTS ON EXTERNAL CONNECTION name`: CockroachDB's `connection_name`, `grantee`,
/// `privilege_type`, `is_grantable`.
pub async fn show_connection_grants(ctx: &StmtCtx<'_>, name: &str) -> Result<StatementResult> {
    let grants = users::Grants::connection(&ctx.reader, name).await?;
    let mut rows = Vec::new();
    for (grantee, privileges) in grants.0 {
        for (privilege, g) in privileges {
            rows.push(vec![
                Datum::String(name.to_string()),
                Datum::String(grantee.clone()),
                Datum::String(privilege),
                Datum::Bool(g.grant_option),
            ]);
        }
    }
    Ok(StatementResult::rows(
        cols(&[
            ("connection_name", Type::String),
            ("grantee", Type::String),
            ("privilege_type", Type::String),
            ("is_grantable", Type::Bool),
        ]),
        rows,
    ))
}

/// `SHOW SYSTEM GRANTS [FOR ...]`: CockroachDB's `grantee`, `privilege_type`, `is_grantable`.
pub async fn show_system_grants(ctx: &StmtCtx<'_>, only: &[Name]) -> Result<StatementResult> {
    let only: Vec<String> = only.iter().map(|n| n.0.to_lowercase()).collect();
    let grants = users::Grants::system(&ctx.reader).await?;
    let mut rows = Vec::new();
    for (grantee, privileges) in grants.0 {
        if !only.is_empty() && !only.contains(&grantee) {
            continue;
        }
        for (privilege, g) in privileges {
            rows.push(vec![
                Datum::String(grantee.clone()),
                Datum::String(privilege),
                Datum::Bool(g.grant_option),
            ]);
        }
    }
    Ok(StatementResult::rows(
        cols(&[
            ("grantee", Type::String),
            ("privilege_type", Type::String),
            ("is_grantable", Type::Bool),
        ]),
        rows,
    ))
}

/// `SHOW USERS` / `SHOW ROLES`: CockroachDB's `username`, `options` and `member_of`.
pub async fn show_users(ctx: &StmtCtx<'_>) -> Result<StatementResult> {
    let memberships = Memberships::read(&ctx.reader).await?;
    let rows = all_users(&ctx.reader)
        .await?
        .into_values()
        .map(|r| {
            let options = if r.login { "" } else { "NOLOGIN" };
            let member_of = memberships
                .direct_roles(&r.name)
                .into_iter()
                .map(Datum::String)
                .collect();
            vec![
                Datum::String(r.name),
                Datum::String(options.into()),
                Datum::Array(member_of),
            ]
        })
        .collect();
    Ok(StatementResult::rows(
        cols(&[
            ("username", Type::String),
            ("options", Type::String),
            ("member_of", Type::Array(Box::new(Type::String))),
        ]),
        rows,
    ))
}
