//! The one table of client-facing error codes.
//!
//! Every error that reaches a SQL client carries a PostgreSQL SQLSTATE. The codes live here and
//! nowhere else; crates name them by constant, never by literal.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A SQLSTATE code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(pub &'static str);

impl Code {
    /// The code with this SQLSTATE from the table, or `XX000` when it is not in the table.
    pub fn lookup(sqlstate: &str) -> Code {
        ALL.iter()
            .map(|(_, c)| *c)
            .find(|c| c.0 == sqlstate)
            .unwrap_or(INTERNAL_ERROR)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Code::lookup(&s))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal;)*) => {
        $( $(#[$doc])* pub const $name: Code = Code($code); )*
        /// Every code in the table, with its name.
        pub const ALL: &[(&str, Code)] = &[$((stringify!($name), $name)),*];
    };
}

codes! {
    /// Statement completed.
    SUCCESSFUL_COMPLETION = "00000";
    /// Connection lost or refused.
    CONNECTION_FAILURE = "08006";
    /// `unimplemented: …`.
    FEATURE_NOT_SUPPORTED = "0A000";
    /// Generic data error.
    DATA_EXCEPTION = "22000";
    /// A string too long for its type.
    STRING_DATA_RIGHT_TRUNCATION = "22001";
    /// A number out of range for its type.
    NUMERIC_VALUE_OUT_OF_RANGE = "22003";
    /// A malformed date or time.
    INVALID_DATETIME_FORMAT = "22007";
    /// A date or time beyond the supported range.
    DATETIME_FIELD_OVERFLOW = "22008";
    /// Division by zero.
    DIVISION_BY_ZERO = "22012";
    /// An invalid option or parameter value.
    INVALID_PARAMETER_VALUE = "22023";
    /// Text that does not parse as the target type.
    INVALID_TEXT_REPRESENTATION = "22P02";
    /// NOT NULL violated.
    NOT_NULL_VIOLATION = "23502";
    /// FOREIGN KEY violated.
    FOREIGN_KEY_VIOLATION = "23503";
    /// UNIQUE violated.
    UNIQUE_VIOLATION = "23505";
    /// CHECK violated.
    CHECK_VIOLATION = "23514";
    /// Statement not allowed in the current transaction state.
    INVALID_TRANSACTION_STATE = "25000";
    /// Statement not allowed inside a multi-statement transaction.
    ACTIVE_SQL_TRANSACTION = "25001";
    /// The transaction was aborted; retry it.
    SERIALIZATION_FAILURE = "40001";
    /// The statement may or may not have taken effect (`result is ambiguous`).
    STATEMENT_COMPLETION_UNKNOWN = "40003";
    /// Malformed SQL.
    SYNTAX_ERROR = "42601";
    /// Not allowed for this user.
    INSUFFICIENT_PRIVILEGE = "42501";
    /// An invalid name (e.g. an unknown region).
    INVALID_NAME = "42602";
    /// Unknown column.
    UNDEFINED_COLUMN = "42703";
    /// Unknown object (setting, index, connection…).
    UNDEFINED_OBJECT = "42704";
    /// Ambiguous column reference.
    AMBIGUOUS_COLUMN = "42702";
    /// Column must appear in GROUP BY.
    GROUPING_ERROR = "42803";
    /// Types do not match.
    DATATYPE_MISMATCH = "42804";
    /// Unknown function.
    UNDEFINED_FUNCTION = "42883";
    /// Unknown table.
    UNDEFINED_TABLE = "42P01";
    /// Object already exists (table, index…).
    DUPLICATE_OBJECT = "42710";
    /// Table already exists.
    DUPLICATE_TABLE = "42P07";
    /// Database already exists.
    DUPLICATE_DATABASE = "42P04";
    /// Unknown database.
    UNDEFINED_DATABASE = "3D000";
    /// The object is not in a state that allows the operation (jobs, timeouts).
    OBJECT_NOT_IN_PREREQUISITE_STATE = "55000";
    /// The statement was canceled.
    QUERY_CANCELED = "57014";
    /// An expression or query nested too deeply to evaluate (PostgreSQL's "stack depth limit
    /// exceeded").
    STATEMENT_TOO_COMPLEX = "54001";
    /// More columns than a result or table may have.
    TOO_MANY_COLUMNS = "54011";
    /// A statement needed more memory than its budget (CockroachDB's "memory budget
    /// exceeded").
    OUT_OF_MEMORY = "53200";
    /// A system error: disk, I/O.
    SYSTEM_ERROR = "58000";
    /// Internal error.
    INTERNAL_ERROR = "XX000";
    /// No such column position (ORDER BY/GROUP BY ordinal).
    INVALID_COLUMN_REFERENCE = "42P10";
    /// A cast that does not exist.
    CANNOT_COERCE = "42846";
    /// Objects depend on the one being dropped.
    DEPENDENT_OBJECTS_STILL_EXIST = "2BP01";
    /// Schema already exists.
    DUPLICATE_SCHEMA = "42P06";
    /// Unknown schema.
    INVALID_SCHEMA_NAME = "3F000";
    /// Column already exists.
    DUPLICATE_COLUMN = "42701";
    /// An invalid table definition (e.g. two primary keys).
    INVALID_TABLE_DEFINITION = "42P16";
    /// The object is of the wrong kind for the statement.
    WRONG_OBJECT_TYPE = "42809";
    /// A scalar subquery returned more than one row.
    CARDINALITY_VIOLATION = "21000";
    /// Statements ignored until the end of an aborted transaction block.
    IN_FAILED_SQL_TRANSACTION = "25P02";
    /// COMMIT/ROLLBACK without a transaction.
    NO_ACTIVE_SQL_TRANSACTION = "25P01";
    /// A savepoint that does not exist.
    INVALID_SAVEPOINT_SPECIFICATION = "3B001";
    /// An invalid database definition (multi-region clauses).
    INVALID_DATABASE_DEFINITION = "42P12";
    /// A range has no quorum or no reachable replica.
    RANGE_UNAVAILABLE = "58C00";
}

/// An error as the client sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientError {
    /// The SQLSTATE.
    pub code: Code,
    /// The message.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// More detail.
    pub detail: Option<String>,
}

impl ClientError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> ClientError {
        ClientError {
            code,
            message: message.into(),
            hint: None,
            detail: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> ClientError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> ClientError {
        self.detail = Some(detail.into());
        self
    }

    /// `unimplemented: <what>` with SQLSTATE 0A000.
    pub fn unimplemented(what: impl fmt::Display) -> ClientError {
        ClientError::new(FEATURE_NOT_SUPPORTED, format!("unimplemented: {what}"))
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ClientError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for (name, code) in ALL {
            assert_eq!(code.0.len(), 5, "{name}");
            assert!(seen.insert(code.0), "duplicate code {}", code.0);
        }
    }
}
