//! Property tests: no input panics the parser, errors point inside the input, and whatever
//! parses prints back to something that parses to the same statements.

use proptest::prelude::*;

use super::{Statement, parse};

/// Words and symbols the front parser reacts to, to build token soups that reach deep into
/// its grammar.
const VOCABULARY: &[&str] = &[
    "BACKUP",
    "RESTORE",
    "INTO",
    "TO",
    "LATEST",
    "IN",
    "WITH",
    "OPTIONS",
    "EXECUTION",
    "LOCALITY",
    "detached",
    "revision_history",
    "kms",
    "SHOW",
    "JOBS",
    "JOB",
    "WHEN",
    "COMPLETE",
    "PAUSE",
    "RESUME",
    "CANCEL",
    "REASON",
    "CREATE",
    "ALTER",
    "DROP",
    "CHANGEFEED",
    "EXPERIMENTAL",
    "FOR",
    "TABLE",
    "DATABASE",
    "INDEX",
    "UNIQUE",
    "INVERTED",
    "FAMILY",
    "STORING",
    "CONFIGURE",
    "ZONE",
    "USING",
    "DISCARD",
    "RANGE",
    "DEFAULT",
    "SELECT",
    "FROM",
    "WHERE",
    "AS",
    "OF",
    "SYSTEM",
    "TIME",
    "UPSERT",
    "INSERT",
    "VALUES",
    "EXPLAIN",
    "ANALYZE",
    "SET",
    "CLUSTER",
    "SETTING",
    "REGIONS",
    "PRIMARY",
    "REGION",
    "SURVIVE",
    "FAILURE",
    "GLOBAL",
    "REGIONAL",
    "BY",
    "ROW",
    "SPLIT",
    "AT",
    "EXTERNAL",
    "CONNECTION",
    "ADD",
    "UNSET",
    "COPY",
    "PARENT",
    "BACKUPS",
    "SCHEMAS",
    "RANGES",
    "DETAILS",
    "t",
    "movr",
    "a",
    "\"us-east1\"",
    "'s3://b'",
    "'x'",
    "1",
    "$1",
    "-2",
    "(",
    ")",
    ",",
    ".",
    "*",
    "=",
    ";",
    "[",
    "]",
    "@",
    "gc.ttlseconds",
    "num_replicas",
    "follower_read_timestamp()",
];

/// Parses `sql` and checks the properties; panics (failing the test) when one does not hold.
fn check(sql: &str) {
    match parse(sql) {
        Ok(statements) => {
            for statement in statements {
                assert_one_representation(&statement);
                let text = statement.to_string();
                let again = parse(&text)
                    .unwrap_or_else(|e| panic!("{sql:?} printed as {text:?}, which fails: {e}"));
                assert_eq!(again.len(), 1, "{sql:?} printed as {text:?}");
                assert_eq!(again[0].to_string(), text, "{sql:?} does not print stably");
            }
        }
        Err(e) => {
            if let Some(position) = e.position {
                assert!(
                    position <= sql.len() && sql.is_char_boundary(position),
                    "{sql:?}: {position}"
                );
            }
        }
    }
}

/// Queries, inserts, CREATE TABLE/DATABASE and EXPLAIN never come out as `Standard`.
fn assert_one_representation(statement: &Statement) {
    use sqlparser::ast::Statement as Sql;
    if let Statement::Standard(s) = statement {
        let wrapped = matches!(
            s.as_ref(),
            Sql::Query(_)
                | Sql::Insert(_)
                | Sql::CreateTable(_)
                | Sql::CreateDatabase { .. }
                | Sql::Explain { .. }
        );
        assert!(!wrapped, "{statement} came out as Standard");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic(sql in any::<String>()) {
        check(&sql);
    }

    #[test]
    fn sql_like_strings_never_panic(sql in "[a-zA-Z0-9_ '\"$(),.;*=@\\[\\]\\-:/é]{0,60}") {
        check(&sql);
    }

    #[test]
    fn token_soups_never_panic(words in prop::collection::vec(prop::sample::select(VOCABULARY), 0..24)) {
        check(&words.join(" "));
    }

    #[test]
    fn statement_prefixes_then_soup_never_panic(
        prefix in prop::sample::select(&[
            "BACKUP DATABASE movr INTO 's3://b' WITH",
            "RESTORE FROM LATEST IN 's3://b'",
            "CREATE CHANGEFEED FOR t INTO 'kafka://k'",
            "CREATE TABLE t (a INT,",
            "SELECT * FROM t",
            "ALTER DATABASE movr",
            "ALTER TABLE t",
            "SHOW",
            "PAUSE JOBS",
        ][..]),
        words in prop::collection::vec(prop::sample::select(VOCABULARY), 0..12),
    ) {
        check(&format!("{prefix} {}", words.join(" ")));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep =
        |open: &str, close: &str, n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
    for sql in [
        format!("SELECT {}", deep("(", ")", 500)),
        format!("SELECT * FROM {}", deep("[SHOW JOBS ", "]", 100)),
        format!("SELECT * FROM t AS OF SYSTEM TIME {}", deep("(", ")", 500)),
        format!("{}SELECT 1", "EXPLAIN ".repeat(200)),
        format!("PAUSE JOBS {}", deep("(SELECT ", ")", 200)),
    ] {
        assert!(parse(&sql).is_err(), "{sql}");
    }
    assert!(parse(&format!("SELECT {}", deep("(", ")", 10))).is_ok());
}
