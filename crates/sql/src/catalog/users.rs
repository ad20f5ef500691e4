//! Users and roles, as CockroachDB has them: one namespace for both (a role is a user that
//! may not log in), membership between them, and the built-in `root` and `admin`.
//!
//! | key | value |
//! |---|---|
//! | `/System/users/<name>` | a [`UserRecord`] as JSON |
//! | `/System/role_members/<role>/<member>` | `{"admin_option": bool}` |
//! | `/System/system_privileges/<grantee>/<PRIVILEGE>` | `{"grant_option": bool}` |
//! | `/System/conn_privileges/<connection>/<grantee>/<PRIVILEGE>` | `{"grant_option": bool}` |
//!
//! `root` (a user, member of `admin`) and `admin` (a role) always exist; `root` has a record
//! only once it is given a password. `public` (every user) and `node` (the nodes) are
//! reserved names that never have records. Admin is `root`, or a member of `admin`, directly
//! or through other roles.

use std::collections::{BTreeMap, BTreeSet};

use base::errcode;
use base::keys::system_key;
use base::{Key, Span};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SqlError};
use crate::kvio::Reader;

/// The superuser, always present.
pub const ROOT: &str = "root";
/// The role whose members hold every privilege.
pub const ADMIN: &str = "admin";
/// The role every user is a member of.
pub const PUBLIC: &str = "public";
/// The nodes' own identity.
pub const NODE: &str = "node";

/// A user or role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The normalized name.
    pub name: String,
    /// Whether it may log in (`LOGIN`; users default to it, roles do not).
    pub login: bool,
    /// The SCRAM-SHA-256 verifier of its password (`security::scram::Verifier`'s text form);
    /// `None`: no password, so no password login.
    pub password: Option<String>,
}

/// A membership's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// `WITH ADMIN OPTION`: the member may grant the role to others.
    pub admin_option: bool,
}

/// The key of a user's record.
pub fn user_key(name: &str) -> Key {
    system_key(&format!("users/{name}"))
}

/// The span of every user record.
pub fn users_span() -> Span {
    Span::prefix(&system_key("users/").0)
}

/// The key of `member`'s membership in `role`.
pub fn member_key(role: &str, member: &str) -> Key {
    system_key(&format!("role_members/{role}/{member}"))
}

/// The span of every membership.
pub fn members_span() -> Span {
    Span::prefix(&system_key("role_members/").0)
}

/// The record of a built-in name, when it has none stored.
fn builtin(name: &str) -> Option<UserRecord> {
    match name {
        ROOT => Some(UserRecord {
            name: ROOT.into(),
            login: true,
            password: None,
        }),
        ADMIN => Some(UserRecord {
            name: ADMIN.into(),
            login: false,
            password: None,
        }),
        _ => None,
    }
}

/// Whether a name is reserved: it cannot be created, dropped or altered by name.
pub fn is_reserved(name: &str) -> bool {
    matches!(name, ROOT | ADMIN | PUBLIC | NODE)
        || name.starts_with("pg_")
        || name.starts_with("crdb_internal")
}

/// A user's record; the built-in ones exist without a stored record.
pub async fn get_user(reader: &Reader, name: &str) -> Result<Option<UserRecord>> {
    match reader.get(&user_key(name)).await? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SqlError::internal(format!("bad user record {name}: {e}"))),
        None => Ok(builtin(name)),
    }
}

/// Every user and role, built-ins included, by name.
pub async fn all_users(reader: &Reader) -> Result<BTreeMap<String, UserRecord>> {
    let mut out: BTreeMap<String, UserRecord> = [ROOT, ADMIN]
        .into_iter()
        .filter_map(builtin)
        .map(|r| (r.name.clone(), r))
        .collect();
    for kv in reader.scan(&users_span(), 0).await? {
        let r: UserRecord = serde_json::from_slice(&kv.value)
            .map_err(|e| SqlError::internal(format!("bad user record: {e}")))?;
        out.insert(r.name.clone(), r);
    }
    Ok(out)
}

/// Role memberships: role → member → membership. `root`'s membership in `admin` is
/// built in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memberships(pub BTreeMap<String, BTreeMap<String, Membership>>);

impl Memberships {
    /// Reads every membership.
    pub async fn read(reader: &Reader) -> Result<Memberships> {
        let mut m = Memberships::default();
        m.add(ADMIN, ROOT, Membership { admin_option: true });
        let prefix = system_key("role_members/").0;
        for kv in reader.scan(&members_span(), 0).await? {
            let rest = kv.key.0.get(prefix.len()..).unwrap_or_default();
            let text = String::from_utf8_lossy(rest);
            let Some((role, member)) = text.split_once('/') else {
                continue;
            };
            let value: Membership = serde_json::from_slice(&kv.value).unwrap_or_default();
            m.add(role, member, value);
        }
        Ok(m)
    }

    fn add(&mut self, role: &str, member: &str, value: Membership) {
        self.0
            .entry(role.to_string())
            .or_default()
            .insert(member.to_string(), value);
    }

    /// The roles `user` belongs to directly.
    pub fn direct_roles(&self, user: &str) -> BTreeSet<String> {
        self.0
            .iter()
            .filter(|(_, members)| members.contains_key(user))
            .map(|(role, _)| role.clone())
            .collect()
    }

    /// Every role `user` belongs to, directly or through other roles (not `user` itself).
    pub fn all_roles(&self, user: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![user.to_string()];
        while let Some(u) = todo.pop() {
            for role in self.direct_roles(&u) {
                if seen.insert(role.clone()) {
                    todo.push(role);
                }
            }
        }
        seen
    }

    /// Whether `user` is an admin: `root`, or a member of `admin` at any depth.
    pub fn is_admin(&self, user: &str) -> bool {
        user == ROOT || self.all_roles(user).contains(ADMIN)
    }

    /// Whether making `member` a member of `role` would close a cycle.
    pub fn would_cycle(&self, role: &str, member: &str) -> bool {
        role == member || self.all_roles(role).contains(member)
    }
}

/// CockroachDB's system privileges (`GRANT SYSTEM ...`), `ALL` aside.
pub const SYSTEM_PRIVILEGES: &[&str] = &[
    "BACKUP",
    "CANCELQUERY",
    "CHANGEFEED",
    "CONTROLJOB",
    "CREATEDB",
    "CREATELOGIN",
    "CREATEROLE",
    "EXTERNALCONNECTION",
    "EXTERNALIOIMPLICITACCESS",
    "MANAGETENANT",
    "MODIFYCLUSTERSETTING",
    "MODIFYSQLCLUSTERSETTING",
    "NOSQLLOGIN",
    "REPLICATION",
    "RESTORE",
    "VIEWACTIVITY",
    "VIEWACTIVITYREDACTED",
    "VIEWCLUSTERMETADATA",
    "VIEWCLUSTERSETTING",
    "VIEWDEBUG",
    "VIEWJOB",
    "VIEWSYSTEMTABLE",
];

/// A system privilege grant's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemGrant {
    /// `WITH GRANT OPTION`.
    pub grant_option: bool,
}

/// The key of `grantee`'s system privilege `privilege`.
pub fn system_grant_key(grantee: &str, privilege: &str) -> Key {
    system_key(&format!("system_privileges/{grantee}/{privilege}"))
}

/// The span of every system privilege grant.
pub fn system_grants_span() -> Span {
    Span::prefix(&system_key("system_privileges/").0)
}

/// Privileges granted on one object (the system, an external connection), by grantee.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants(pub BTreeMap<String, BTreeMap<String, SystemGrant>>);

impl Grants {
    /// Every system privilege grant.
    pub async fn system(reader: &Reader) -> Result<Grants> {
        Grants::read(reader, &system_grants_span()).await
    }

    /// The grants on external connection `connection`.
    pub async fn connection(reader: &Reader, connection: &str) -> Result<Grants> {
        Grants::read(reader, &connection_grants_span(connection)).await
    }

    /// Reads the grants under `span`, whose keys end in `<grantee>/<PRIVILEGE>`.
    async fn read(reader: &Reader, span: &Span) -> Result<Grants> {
        let prefix_len = span.start.0.len();
        let mut g = Grants::default();
        for kv in reader.scan(span, 0).await? {
            let rest = kv.key.0.get(prefix_len..).unwrap_or_default();
            let text = String::from_utf8_lossy(rest);
            let Some((grantee, privilege)) = text.rsplit_once('/') else {
                continue;
            };
            let value: SystemGrant = serde_json::from_slice(&kv.value).unwrap_or_default();
            g.0.entry(grantee.to_string())
                .or_default()
                .insert(privilege.to_string(), value);
        }
        Ok(g)
    }

    /// Whether `user` holds `privilege` (or `ALL`): an admin holds every one; otherwise a
    /// grant to the user, to a role it belongs to at any depth, or to `public`.
    pub fn holds(&self, memberships: &Memberships, user: &str, privilege: &str) -> bool {
        if memberships.is_admin(user) {
            return true;
        }
        let mut grantees = memberships.all_roles(user);
        grantees.insert(user.to_string());
        grantees.insert(PUBLIC.to_string());
        grantees.iter().any(|g| {
            self.0
                .get(g)
                .is_some_and(|p| p.contains_key(privilege) || p.contains_key("ALL"))
        })
    }

    /// Whether `user` itself holds `privilege` (or `ALL`) with the grant option.
    pub fn grantable(&self, user: &str, privilege: &str) -> bool {
        self.0.get(user).is_some_and(|p| {
            [privilege, "ALL"]
                .iter()
                .any(|k| p.get(*k).is_some_and(|g| g.grant_option))
        })
    }
}

/// The privileges an external connection takes (CockroachDB's `external_connection` kind).
pub const CONNECTION_PRIVILEGES: &[&str] = &["DROP", "USAGE"];

/// The key of an external connection's record (written by the backup layer).
pub fn external_connection_key(name: &str) -> Key {
    system_key(&format!("extconn/{name}"))
}

/// The key of `grantee`'s privilege `privilege` on external connection `connection`.
pub fn connection_grant_key(connection: &str, grantee: &str, privilege: &str) -> Key {
    system_key(&format!(
        "conn_privileges/{connection}/{grantee}/{privilege}"
    ))
}

/// The span of every grant on every external connection.
pub fn all_connection_grants_span() -> Span {
    Span::prefix(&system_key("conn_privileges/").0)
}

/// The span of every grant on `connection`.
pub fn connection_grants_span(connection: &str) -> Span {
    Span::prefix(&system_key(&format!("conn_privileges/{connection}/")).0)
}

/// `user <u> does not have <PRIV> privilege on external_connection <name>` (42501).
pub fn missing_connection_privilege(user: &str, privilege: &str, connection: &str) -> SqlError {
    SqlError::new(
        errcode::INSUFFICIENT_PRIVILEGE,
        format!(
            "user {user} does not have {privilege} privilege on external_connection {connection}"
        ),
    )
}

/// The connection named by an `external://<name>[/path]` URI.
pub fn external_connection_name(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("external://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    rest.get(..end).filter(|n| !n.is_empty())
}

/// `user <u> does not have <what> privilege` (42501).
pub fn missing_privilege(user: &str, what: &str) -> SqlError {
    SqlError::new(
        errcode::INSUFFICIENT_PRIVILEGE,
        format!("user {user} does not have {what} privilege"),
    )
}

/// `role/user "<name>" does not exist` (42704).
pub fn no_such_role(name: &str) -> SqlError {
    SqlError::new(
        errcode::UNDEFINED_OBJECT,
        format!("role/user \"{name}\" does not exist"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memberships(pairs: &[(&str, &str)]) -> Memberships {
        let mut m = Memberships::default();
        m.add(ADMIN, ROOT, Membership { admin_option: true });
        for (role, member) in pairs {
            m.add(role, member, Membership::default());
        }
        m
    }

    #[test]
    fn admin_is_root_or_a_member_at_any_depth() {
        let m = memberships(&[("ops", "carol"), (ADMIN, "ops"), ("readers", "dave")]);
        assert!(m.is_admin(ROOT));
        assert!(m.is_admin("ops"));
        assert!(m.is_admin("carol"));
        assert!(!m.is_admin("dave"));
        assert!(!m.is_admin("readers"));
        assert_eq!(
            m.all_roles("carol"),
            BTreeSet::from(["ops".to_string(), ADMIN.to_string()])
        );
    }

    #[test]
    fn cycles_are_found() {
        let m = memberships(&[("a", "b"), ("b", "c")]);
        assert!(m.would_cycle("c", "a"));
        assert!(m.would_cycle("a", "a"));
        assert!(!m.would_cycle("a", "c"));
        assert!(!m.would_cycle("d", "a"));
    }

    #[test]
    fn system_privileges_come_from_the_user_its_roles_public_or_admin() {
        let m = memberships(&[("ops", "carol"), ("readers", "dave")]);
        let mut g = Grants::default();
        let grant = |g: &mut Grants, who: &str, p: &str| {
            g.0.entry(who.into())
                .or_default()
                .insert(p.into(), SystemGrant::default());
        };
        grant(&mut g, "ops", "BACKUP");
        grant(&mut g, "dave", "RESTORE");
        grant(&mut g, PUBLIC, "VIEWJOB");
        assert!(g.holds(&m, "carol", "BACKUP"));
        assert!(!g.holds(&m, "dave", "BACKUP"));
        assert!(g.holds(&m, "dave", "RESTORE"));
        assert!(g.holds(&m, "erin", "VIEWJOB"));
        assert!(!g.holds(&m, "erin", "RESTORE"));
        assert!(g.holds(&m, ROOT, "RESTORE"));
    }

    #[test]
    fn reserved_names() {
        for n in [ROOT, ADMIN, PUBLIC, NODE, "pg_monitor", "crdb_internal_x"] {
            assert!(is_reserved(n), "{n}");
        }
        assert!(!is_reserved("bob"));
    }
}
