//! [`SqlError`]: what a failed statement returns to the client, a [`CodedError`] (SQLSTATE,
//! message, detail, hint) and, for parse errors, the byte position of the offending token.
//!
//! Every SQLSTATE comes from `base::errcode`; the constructors here give the CockroachDB
//! wording of the common errors so each message is spelled once.

use base::errcode::{self, Code, CodedError};
use kv::KvError;

use crate::parser::ParseError;

/// A statement failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    /// Code, message, detail and hint.
    pub error: CodedError,
    /// Byte offset into the statement text of the offending token, when known.
    pub position: Option<usize>,
}

/// Result of SQL operations.
pub type Result<T, E = SqlError> = std::result::Result<T, E>;

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> SqlError {
        SqlError {
            error: CodedError::new(code, message),
            position: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> SqlError {
        self.error.hint = Some(hint.into());
        self
    }

    /// Adds a detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> SqlError {
        self.error.detail = Some(detail.into());
        self
    }

    /// The SQLSTATE.
    pub fn code(&self) -> Code {
        self.error.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.error.message
    }

    /// `unimplemented: <what>` (0A000).
    pub fn unimplemented(what: impl std::fmt::Display) -> SqlError {
        SqlError {
            error: CodedError::unimplemented(what),
            position: None,
        }
    }

    /// An internal error (XX000): a bug, never a user mistake.
    pub fn internal(message: impl std::fmt::Display) -> SqlError {
        SqlError::new(
            errcode::INTERNAL_ERROR,
            format!("internal error: {message}"),
        )
    }

    /// `relation "t" does not exist` (42P01).
    pub fn undefined_table(name: &str) -> SqlError {
        SqlError::new(
            errcode::UNDEFINED_TABLE,
            format!("relation \"{name}\" does not exist"),
        )
    }

    /// `database "d" does not exist` (3D000).
    pub fn undefined_database(name: &str) -> SqlError {
        SqlError::new(
            errcode::UNDEFINED_DATABASE,
            format!("database \"{name}\" does not exist"),
        )
    }

    /// `column "c" does not exist` (42703).
    pub fn undefined_column(name: &str) -> SqlError {
        SqlError::new(
            errcode::UNDEFINED_COLUMN,
            format!("column \"{name}\" does not exist"),
        )
    }

    /// A syntax error outside the parser (42601).
    pub fn syntax(message: impl Into<String>) -> SqlError {
        SqlError::new(errcode::SYNTAX_ERROR, message)
    }

    /// A type mismatch (42804).
    pub fn datatype_mismatch(message: impl Into<String>) -> SqlError {
        SqlError::new(errcode::DATATYPE_MISMATCH, message)
    }

    /// An invalid parameter value (22023).
    pub fn invalid_parameter(message: impl Into<String>) -> SqlError {
        SqlError::new(errcode::INVALID_PARAMETER_VALUE, message)
    }

    /// True for errors the client should answer by retrying the transaction (40001).
    pub fn is_retryable(&self) -> bool {
        self.error.code == errcode::SERIALIZATION_FAILURE
    }
}

impl From<ParseError> for SqlError {
    fn from(e: ParseError) -> SqlError {
        SqlError {
            error: e.error,
            position: e.position,
        }
    }
}

impl From<CodedError> for SqlError {
    fn from(error: CodedError) -> SqlError {
        SqlError {
            error,
            position: None,
        }
    }
}

impl From<KvError> for SqlError {
    /// The code is [`KvError::code`]; the messages are CockroachDB's.
    fn from(e: KvError) -> SqlError {
        let code = e.code();
        match &e {
            KvError::TxnRetry { reason } => {
                let err = SqlError::new(
                    code,
                    format!("restart transaction: TransactionRetryWithProtoRefreshError: {reason}"),
                );
                match code.hint() {
                    Some(hint) => err.with_hint(hint),
                    None => err,
                }
            }
            KvError::TxnAborted { reason } => SqlError::new(
                code,
                format!(
                    "restart transaction: TransactionRetryWithProtoRefreshError: \
                     TransactionAbortedError({reason})"
                ),
            ),
            KvError::WriteIntent { .. } | KvError::ReadWithinUncertainty { .. } => SqlError::new(
                code,
                format!("restart transaction: TransactionRetryWithProtoRefreshError: {e}"),
            ),
            KvError::ConditionFailed { .. } | KvError::Internal(_) => SqlError::internal(&e),
            _ => SqlError::new(code, e.to_string()),
        }
    }
}
