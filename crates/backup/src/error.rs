//! [`BackupError`]: what went wrong in a backup or restore, and its SQL face.

use std::future::Future;
use std::sync::Arc;

use base::errcode::{self, Code};
use cloud::CloudError;
use jobs::JobError;
use kv::{DistSender, KvError, Txn};
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
    Kv(KvError),
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
            BackupError::Kv(e) => e.code(),
            BackupError::Internal(_) => errcode::INTERNAL_ERROR,
            BackupError::Sql { code, .. } => *code,
        }
    }
}

impl From<KvError> for BackupError {
    fn from(e: KvError) -> Self {
        BackupError::Kv(e)
    }
}

impl kv::TxnError for BackupError {
    fn as_kv(&self) -> Option<&KvError> {
        match self {
            BackupError::Kv(e) => Some(e),
            _ => None,
        }
    }
}

/// The job error of a backup or restore failure: a KV error as is, a bug as plain text, and
/// every other failure with its SQLSTATE ([`BackupError::code`]), which the job records and
/// the waiting statement returns.
impl From<BackupError> for JobError {
    fn from(e: BackupError) -> Self {
        match e {
            BackupError::Kv(e) => JobError::Kv(e),
            BackupError::Internal(_) => JobError::failed(e.to_string()),
            other => JobError::Sql {
                code: other.code(),
                message: other.to_string(),
            },
        }
    }
}

/// [`kv::run_txn`] for a closure that fails with [`BackupError`]s: they come back unchanged
/// (and a KV error that asks for a restart runs the closure again).
pub async fn run_txn<T, F, Fut>(sender: &DistSender, f: F) -> Result<T>
where
    F: FnMut(Arc<Txn>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    kv::run_txn(sender, f).await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_errors_keep_the_code() {
        let retry = KvError::TxnRetry {
            reason: "too many retries".into(),
        };
        let e = BackupError::from(retry.clone());
        assert_eq!(e.code(), errcode::SERIALIZATION_FAILURE);
        assert_eq!(kv::TxnError::as_kv(&e), Some(&retry));
        assert_eq!(JobError::from(e), JobError::Kv(retry));

        let taken = BackupError::sql(errcode::DUPLICATE_TABLE, "relation \"t\" already exists");
        assert_eq!(kv::TxnError::as_kv(&taken), None);
        let job = JobError::from(taken);
        assert_eq!(job.code(), Some(errcode::DUPLICATE_TABLE));
        assert_eq!(job.to_string(), "relation \"t\" already exists");

        let corrupt = BackupError::corrupt("data/1.sst", "checksum mismatch in block 0");
        let job = JobError::from(corrupt.clone());
        assert_eq!(job.code(), Some(errcode::DATA_EXCEPTION));
        assert_eq!(job.to_string(), corrupt.to_string());

        let bug = JobError::from(BackupError::Internal("no manifest".into()));
        assert_eq!(bug, JobError::failed("internal error: no manifest"));
        assert_eq!(bug.code(), None);
    }
}
