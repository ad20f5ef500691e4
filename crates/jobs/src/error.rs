//! Job errors. Each message is the text a SQL client sees, CockroachDB's where one exists.

use base::errcode::{self, Code};
use kv::KvError;
use serde::{Deserialize, Serialize};

use crate::JobId;

/// Why a job operation, a resumer or a processor failed.
///
/// Errors cross nodes (a processor's error reaches the coordinator, `jobs.adopt` answers the
/// gateway), so they are plain data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum JobError {
    /// No job has this id: `job with ID <id> does not exist`.
    #[error("job with ID {0} does not exist")]
    NotFound(JobId),
    /// No live node matches the execution-locality filter (at creation, resume or planning):
    /// `no instances found matching locality filter <filter>`.
    #[error("{message}")]
    NoMatchingNodes {
        /// The filter as written (`region=mars`).
        filter: String,
        /// [`locality::no_match_message`] of the filter.
        message: String,
    },
    /// PAUSE/RESUME/CANCEL is not allowed from the job's status, e.g. `job with status
    /// succeeded cannot be requested to be canceled`.
    #[error("{0}")]
    InvalidTransition(String),
    /// No resumer is registered for the job's type on this node.
    #[error("no resumer registered for job type {0}")]
    NoResumer(String),
    /// No processor of this name is registered on the node asked to run it.
    #[error("no processor registered under the name {0:?}")]
    NoProcessor(String),
    /// This node no longer holds the job's claim (another node adopted it); the resumer must
    /// stop without writing anything.
    #[error("job {0}: claim lost")]
    ClaimLost(JobId),
    /// The job was asked to pause; returned by context operations once requested, so a
    /// resumer stops promptly by propagating it.
    #[error("job {0}: pause requested")]
    PauseRequested(JobId),
    /// The job was asked to cancel; see [`JobError::PauseRequested`].
    #[error("job {0}: cancel requested")]
    CancelRequested(JobId),
    /// A transient failure: the registry restarts the resumer after a backoff instead of
    /// failing the job, and shows `transient error: <msg>` as the running status.
    #[error("{0}")]
    Transient(String),
    /// A KV operation failed.
    #[error("{0}")]
    Kv(KvError),
    /// A job record could not be stored or read back (encoding, decoding, an id taken).
    #[error("{0}")]
    Record(String),
    /// A node-to-node call failed.
    #[error("{0}")]
    Rpc(String),
    /// A job-specific failure (a resumer's or processor's own error); recorded as the job's
    /// error text as is.
    #[error("{0}")]
    Failed(String),
    /// A job-specific failure with the SQLSTATE a client sees for it (a RESTORE that finds
    /// its table name taken: 42P07); recorded as the job's error text and code.
    #[error("{message}")]
    Sql {
        /// The SQLSTATE.
        code: Code,
        /// The message.
        message: String,
    },
}

impl JobError {
    /// A job-specific failure with this text.
    pub fn failed(msg: impl Into<String>) -> JobError {
        JobError::Failed(msg.into())
    }

    /// True for the errors a resumer returns because the job was told to stop (pause,
    /// cancel, claim lost) rather than because its work failed.
    pub fn is_stop(&self) -> bool {
        matches!(
            self,
            JobError::ClaimLost(_) | JobError::PauseRequested(_) | JobError::CancelRequested(_)
        )
    }

    /// True when retrying may succeed: transient errors, KV, record and RPC failures.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            JobError::Transient(_) | JobError::Kv(_) | JobError::Record(_) | JobError::Rpc(_)
        )
    }

    /// The SQLSTATE a client sees for this error, when it has one of its own: a KV error's
    /// ([`KvError::code`]: 40001 for a transaction that kept having to restart), a
    /// [`JobError::Sql`]'s, and the registry's refusals. `None` for failures with no SQL
    /// meaning (a processor's text, an RPC failure, a stop): whoever shows one picks the
    /// code.
    pub fn code(&self) -> Option<Code> {
        match self {
            JobError::NotFound(_) => Some(errcode::UNDEFINED_OBJECT),
            JobError::NoMatchingNodes { .. } => Some(errcode::INVALID_PARAMETER_VALUE),
            JobError::InvalidTransition(_) => Some(errcode::OBJECT_NOT_IN_PREREQUISITE_STATE),
            JobError::Kv(e) => Some(e.code()),
            JobError::Sql { code, .. } => Some(*code),
            JobError::NoResumer(_)
            | JobError::NoProcessor(_)
            | JobError::ClaimLost(_)
            | JobError::PauseRequested(_)
            | JobError::CancelRequested(_)
            | JobError::Transient(_)
            | JobError::Record(_)
            | JobError::Rpc(_)
            | JobError::Failed(_) => None,
        }
    }

    /// The error a job's record holds (`error` and `error_code`), rebuilt for
    /// [`crate::Resumer::on_fail_or_cancel`].
    pub fn recorded(message: String, code: Option<Code>) -> JobError {
        match code {
            Some(code) => JobError::Sql { code, message },
            None => JobError::Failed(message),
        }
    }

    /// The error for a filter that no live node matches.
    pub fn no_matching_nodes(filter: &locality::LocalityFilter) -> JobError {
        JobError::NoMatchingNodes {
            filter: filter.to_string(),
            message: locality::no_match_message(filter),
        }
    }
}

impl From<KvError> for JobError {
    fn from(e: KvError) -> JobError {
        JobError::Kv(e)
    }
}

impl kv::TxnError for JobError {
    fn as_kv(&self) -> Option<&KvError> {
        match self {
            JobError::Kv(e) => Some(e),
            _ => None,
        }
    }
}

impl From<rpc::RpcError> for JobError {
    fn from(e: rpc::RpcError) -> JobError {
        JobError::Rpc(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_travel_with_errors() {
        let retry = JobError::from(KvError::TxnRetry {
            reason: "too many retries".into(),
        });
        assert_eq!(retry.code(), Some(errcode::SERIALIZATION_FAILURE));
        assert_eq!(retry.to_string(), "TransactionRetryError: too many retries");
        assert_eq!(
            JobError::Kv(KvError::Unavailable("r7".into())).code(),
            Some(errcode::RANGE_UNAVAILABLE)
        );
        assert_eq!(JobError::failed("disk on fire").code(), None);
        assert_eq!(JobError::Transient("later".into()).code(), None);
        let taken = JobError::Sql {
            code: errcode::DUPLICATE_TABLE,
            message: "relation \"t\" already exists".into(),
        };
        assert_eq!(taken.code(), Some(errcode::DUPLICATE_TABLE));
        assert_eq!(JobError::recorded(taken.to_string(), taken.code()), taken);
        assert_eq!(
            JobError::recorded("disk on fire".into(), None),
            JobError::failed("disk on fire")
        );
    }

    #[test]
    fn errors_cross_nodes_with_their_codes() {
        let e = JobError::Sql {
            code: errcode::SERIALIZATION_FAILURE,
            message: "restart transaction".into(),
        };
        let bytes = postcard::to_stdvec(&e).unwrap();
        assert_eq!(postcard::from_bytes::<JobError>(&bytes).unwrap(), e);
        let kv = JobError::from(KvError::TxnAborted {
            reason: "pushed".into(),
        });
        let bytes = postcard::to_stdvec(&kv).unwrap();
        assert_eq!(postcard::from_bytes::<JobError>(&bytes).unwrap(), kv);
    }
}
