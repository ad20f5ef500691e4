//! The one table of client-facing error codes.
//!
//! Every error that reaches a SQL client carries a PostgreSQL SQLSTATE. The codes live here and
//! nowhere else: each has a name, a one-line description and, where one helps, a hint, all in
//! the table below. A [`Code`] cannot be made outside this module, so crates name codes by
//! constant, never by literal; a code read off the wire is found with [`Code::lookup`].

use serde::{Deserialize, Serialize};
use std::fmt;

/// A SQLSTATE code: one of the constants of this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(&'static str);

/// A row of the table: name, code, description, hint.
type Row = (&'static str, Code, &'static str, Option<&'static str>);

impl Code {
    /// The five-character SQLSTATE (`40001`).
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The code with this SQLSTATE from the table (for codes read off the wire), `None` when
    /// the table has no such code.
    pub fn lookup(sqlstate: &str) -> Option<Code> {
        ALL.iter().map(|(_, c)| *c).find(|c| c.0 == sqlstate)
    }

    fn row(self) -> Option<&'static Row> {
        TABLE.iter().find(|(_, c, _, _)| *c == self)
    }

    /// The constant's name (`SERIALIZATION_FAILURE`).
    pub fn name(self) -> &'static str {
        self.row().map_or("", |r| r.0)
    }

    /// What the code means, in one line.
    pub fn description(self) -> &'static str {
        self.row().map_or("", |r| r.2)
    }

    /// What a client can do about an error with this code, when the table says.
    pub fn hint(self) -> Option<&'static str> {
        self.row().and_then(|r| r.3)
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// A code not in the table (sent by a node that knows more codes) reads as `XX000`.
impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Code, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Code::lookup(&s).unwrap_or(INTERNAL_ERROR))
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// `NAME = "sqlstate", "description"[, hint "hint"];` for each code: the constant, documented
/// by its description, and its row in the table.
macro_rules! codes {
    ($($name:ident = $code:literal, $desc:literal $(, hint $hint:literal)?;)*) => {
        $(
            #[doc = concat!("`", $code, "`: ", $desc, ".")]
            pub const $name: Code = Code($code);
        )*
        /// Every code in the table, with its name.
        pub const ALL: &[(&str, Code)] = &[$((stringify!($name), $name)),*];
        /// The table.
        const TABLE: &[Row] = &[$((stringify!($name), $name, $desc, codes!(@hint $($hint)?))),*];
    };
    (@hint) => { None };
    (@hint $hint:literal) => { Some($hint) };
}

codes! {
    SUCCESSFUL_COMPLETION = "00000", "statement completed (also the code of a notice)";
    CONNECTION_FAILURE = "08006", "connection lost or refused";
    PROTOCOL_VIOLATION = "08P01", "a message that breaks the wire protocol";
    FEATURE_NOT_SUPPORTED = "0A000", "`unimplemented: …`";
    INVALID_GRANT_OPERATION = "0LP01", "a grant that cannot be made (a role membership cycle)";
    CARDINALITY_VIOLATION = "21000", "a scalar subquery returned more than one row";
    DATA_EXCEPTION = "22000", "generic data error";
    STRING_DATA_RIGHT_TRUNCATION = "22001", "a string too long for its type";
    NUMERIC_VALUE_OUT_OF_RANGE = "22003", "a number out of range for its type";
    INVALID_DATETIME_FORMAT = "22007", "a malformed date or time";
    DATETIME_FIELD_OVERFLOW = "22008", "a date or time beyond the supported range";
    DIVISION_BY_ZERO = "22012", "division by zero";
    CHARACTER_NOT_IN_REPERTOIRE = "22021", "bytes that are not valid UTF-8";
    INVALID_PARAMETER_VALUE = "22023", "an invalid option or parameter value";
    INVALID_TEXT_REPRESENTATION = "22P02", "text that does not parse as the target type";
    INVALID_BINARY_REPRESENTATION = "22P03", "the bytes of a binary parameter do not fit its type";
    NOT_NULL_VIOLATION = "23502", "NOT NULL violated";
    FOREIGN_KEY_VIOLATION = "23503", "FOREIGN KEY violated";
    UNIQUE_VIOLATION = "23505", "UNIQUE violated";
    CHECK_VIOLATION = "23514", "CHECK violated";
    INVALID_TRANSACTION_STATE = "25000", "statement not allowed in the current transaction state";
    ACTIVE_SQL_TRANSACTION = "25001", "statement not allowed inside a multi-statement transaction";
    READ_ONLY_SQL_TRANSACTION = "25006", "a write in a READ ONLY transaction";
    NO_ACTIVE_SQL_TRANSACTION = "25P01", "COMMIT/ROLLBACK without a transaction";
    IN_FAILED_SQL_TRANSACTION = "25P02", "statements ignored until the end of an aborted transaction block";
    IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03", "a session idle in a transaction past idle_in_transaction_session_timeout";
    INVALID_SQL_STATEMENT_NAME = "26000", "no prepared statement of this name";
    INVALID_AUTHORIZATION_SPECIFICATION = "28000", "the user may not connect";
    INVALID_PASSWORD = "28P01", "authentication failed";
    DEPENDENT_OBJECTS_STILL_EXIST = "2BP01", "objects depend on the one being dropped";
    INVALID_CURSOR_NAME = "34000", "no portal (cursor) of this name";
    INVALID_SAVEPOINT_SPECIFICATION = "3B001", "a savepoint that does not exist";
    UNDEFINED_DATABASE = "3D000", "unknown database";
    INVALID_SCHEMA_NAME = "3F000", "unknown schema";
    SERIALIZATION_FAILURE = "40001", "the transaction was aborted by a conflict; retry it",
        hint "See: https://www.cockroachlabs.com/docs/v23.1/transaction-retry-error-reference.html";
    STATEMENT_COMPLETION_UNKNOWN = "40003", "the statement may or may not have taken effect (`result is ambiguous`)";
    INSUFFICIENT_PRIVILEGE = "42501", "not allowed for this user";
    SYNTAX_ERROR = "42601", "malformed SQL";
    INVALID_NAME = "42602", "an invalid name (e.g. an unknown region)";
    DUPLICATE_COLUMN = "42701", "column already exists";
    AMBIGUOUS_COLUMN = "42702", "ambiguous column reference";
    UNDEFINED_COLUMN = "42703", "unknown column";
    UNDEFINED_OBJECT = "42704", "unknown object (setting, index, connection…)";
    DUPLICATE_OBJECT = "42710", "object already exists (table, index…)";
    GROUPING_ERROR = "42803", "column must appear in GROUP BY";
    DATATYPE_MISMATCH = "42804", "types do not match";
    WRONG_OBJECT_TYPE = "42809", "the object is of the wrong kind for the statement";
    CANNOT_COERCE = "42846", "a cast that does not exist";
    UNDEFINED_FUNCTION = "42883", "unknown function";
    RESERVED_NAME = "42939", "a name reserved for the system (`root`, `admin`, `public`)";
    UNDEFINED_TABLE = "42P01", "unknown table";
    DUPLICATE_DATABASE = "42P04", "database already exists";
    DUPLICATE_PREPARED_STATEMENT = "42P05", "a prepared statement of this name exists already";
    DUPLICATE_SCHEMA = "42P06", "schema already exists";
    DUPLICATE_TABLE = "42P07", "table already exists";
    INVALID_COLUMN_REFERENCE = "42P10", "no such column position (ORDER BY/GROUP BY ordinal)";
    INVALID_DATABASE_DEFINITION = "42P12", "an invalid database definition (multi-region clauses)";
    INVALID_TABLE_DEFINITION = "42P16", "an invalid table definition (e.g. two primary keys)";
    OUT_OF_MEMORY = "53200", "a statement needed more memory than its budget (`memory budget exceeded`)";
    STATEMENT_TOO_COMPLEX = "54001", "an expression or query nested too deeply (`stack depth limit exceeded`)";
    TOO_MANY_COLUMNS = "54011", "more columns than a result or table may have";
    OBJECT_NOT_IN_PREREQUISITE_STATE = "55000", "the object is not in a state that allows the operation (jobs, timeouts)";
    QUERY_CANCELED = "57014", "the statement was canceled";
    ADMIN_SHUTDOWN = "57P01", "the server is shutting down";
    SYSTEM_ERROR = "58000", "a system error: disk, I/O, a failed job";
    RANGE_UNAVAILABLE = "58C00", "a range has no quorum or no reachable replica";
    INTERNAL_ERROR = "XX000", "internal error: a bug, never a user mistake";
}

/// An error with its SQLSTATE: the code, message, hint and detail a SQL client is sent (the
/// fields of a pgwire `ErrorResponse`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodedError {
    /// The SQLSTATE.
    pub code: Code,
    /// The message.
    pub message: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// More detail.
    pub detail: Option<String>,
}

impl CodedError {
    /// An error with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> CodedError {
        CodedError {
            code,
            message: message.into(),
            hint: None,
            detail: None,
        }
    }

    /// Adds a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> CodedError {
        self.hint = Some(hint.into());
        self
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> CodedError {
        self.detail = Some(detail.into());
        self
    }

    /// `unimplemented: <what>` with SQLSTATE 0A000.
    pub fn unimplemented(what: impl fmt::Display) -> CodedError {
        CodedError::new(FEATURE_NOT_SUPPORTED, format!("unimplemented: {what}"))
    }
}

impl fmt::Display for CodedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CodedError {}

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

    #[test]
    fn every_code_has_a_row() {
        assert_eq!(TABLE.len(), ALL.len());
        for (name, code) in ALL {
            assert_eq!(code.name(), *name);
            assert!(!code.description().is_empty(), "{name}");
            assert!(!code.description().contains('\n'), "{name}");
            assert_eq!(Code::lookup(code.as_str()), Some(*code));
        }
        assert_eq!(Code::lookup("99999"), None);
        assert!(SERIALIZATION_FAILURE.hint().is_some());
        assert_eq!(INTERNAL_ERROR.hint(), None);
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&UNDEFINED_TABLE).unwrap();
        assert_eq!(json, "\"42P01\"");
        assert_eq!(
            serde_json::from_str::<Code>(&json).unwrap(),
            UNDEFINED_TABLE
        );
        assert_eq!(
            serde_json::from_str::<Code>("\"99999\"").unwrap(),
            INTERNAL_ERROR
        );
    }
}
