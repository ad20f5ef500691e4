//! [`BackupError`]: what went wrong in a backup or restore, and its SQL face.

use base::errcode::{self, Code};
use cloud::CloudError;
use sql::SqlError;

/// A backup or restore failure. `Display` never holds a secret: storage errors carry
/// redacted URIs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    /// A backup file failed a checksum, was cut short or does not parse.
    #[error("backup file {file} is corrupt: {detail}")]
    Corrupt {
        /// The file, relative to its collection.
        file: String,
        /// What failed (`checksum mismatch in block 3`, `truncated: ...`).
        detail: String,
    },
    /// External storage refused or failed.
    #[error("{0}")]
    Storage(#[from] CloudError),
    /// The KV layer failed.
    #[error("{0}")]
    Kv(String),
    /// The statement or its options are wrong; the SQL code and message to return.
    #[error("{message}")]
    Sql {
        /// SQLSTATE.
        code: Code,
        /// The message.
        message: String,
    },
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl BackupError {
    /// A corrupt-file error.
    pub fn corrupt(file: impl Into<String>, detail: impl Into<String>) -> BackupError {
        BackupError::Corrupt {
            file: file.into(),
            detail: detail.into(),
        }
    }

    /// An error with a SQL code.
    pub fn sql(code: Code, message: impl Into<String>) -> BackupError {
        BackupError::Sql {
            code,
            message: message.into(),
        }
    }

    /// The SQLSTATE a client sees.
    pub fn code(&self) -> Code {
        match self {
            BackupError::Corrupt { .. } => errcode::DATA_EXCEPTION,
            BackupError::Storage(e) => e.code(),
            BackupError::Kv(_) | BackupError::Internal(_) => errcode::INTERNAL_ERROR,
            BackupError::Sql { code, .. } => *code,
        }
    }
}

impl From<kv::KvError> for BackupError {
    fn from(e: kv::KvError) -> Self {
        BackupError::Kv(e.to_string())
    }
}

impl From<SqlError> for BackupError {
    fn from(e: SqlError) -> Self {
        BackupError::Sql {
            code: e.code(),
            message: e.message().to_string(),
        }
    }
}

impl From<BackupError> for SqlError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Sql { code, message } => SqlError::new(code, message),
            other => SqlError::new(other.code(), other.to_string()),
        }
    }
}

/// A result with a [`BackupError`].
pub type Result<T, E = BackupError> = std::result::Result<T, E>;
