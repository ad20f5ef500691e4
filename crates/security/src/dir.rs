//! The certs directory's file names.

use crate::CertError;
use std::path::{Path, PathBuf};

/// A certs directory (`--certs-dir`): where each certificate and key lives in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertsDir {
    root: PathBuf,
}

impl CertsDir {
    /// The directory at `root` (it need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `ca.crt`: the cluster CA's certificates, newest first.
    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("ca.crt")
    }

    /// `node.crt`.
    pub fn node_cert(&self) -> PathBuf {
        self.root.join("node.crt")
    }

    /// `node.key`.
    pub fn node_key(&self) -> PathBuf {
        self.root.join("node.key")
    }

    /// `client.<user>.crt`, for a user name already normalized.
    pub fn client_cert(&self, user: &str) -> PathBuf {
        self.root.join(format!("client.{user}.crt"))
    }

    /// `client.<user>.key`.
    pub fn client_key(&self, user: &str) -> PathBuf {
        self.root.join(format!("client.{user}.key"))
    }
}

/// A SQL user name as certificates carry it: lowercased (as CockroachDB and PostgreSQL fold
/// unquoted names), starting with a letter or an underscore, then letters, digits,
/// underscores, dots and dashes.
pub fn normalize_user(user: &str) -> Result<String, CertError> {
    let lower = user.to_lowercase();
    let mut chars = lower.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && lower.len() <= 63 {
        Ok(lower)
    } else {
        Err(CertError::User(user.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cockroachdbs() {
        let d = CertsDir::new("/c");
        assert_eq!(d.ca_cert(), PathBuf::from("/c/ca.crt"));
        assert_eq!(d.node_cert(), PathBuf::from("/c/node.crt"));
        assert_eq!(d.node_key(), PathBuf::from("/c/node.key"));
        assert_eq!(d.client_cert("root"), PathBuf::from("/c/client.root.crt"));
        assert_eq!(d.client_key("root"), PathBuf::from("/c/client.root.key"));
    }

    #[test]
    fn user_names_are_folded_and_checked() {
        assert_eq!(normalize_user("Root").ok().as_deref(), Some("root"));
        assert_eq!(normalize_user("_a.b-c9").ok().as_deref(), Some("_a.b-c9"));
        for bad in ["", "9lives", "a b", "a/b", "../x", "a\u{0}"] {
            assert!(normalize_user(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize_user(&"a".repeat(64)).is_err());
    }
}
