//! The SQL path fuzzed end to end, over the PostgreSQL wire protocol, against an in-process
//! cluster: errors are fine; a node that stops serving, a lost connection, a response the
//! client cannot parse, an error without a SQLSTATE or an internal error (XX000: what a
//! panic caught at the connection becomes, or a bug the server noticed) fails the test,
//! which lists every such statement. A statement that takes longer than 30 s is listed as
//! slow, not failed: fuzzed SQL can ask for a lot of work, and statements cannot be
//! cancelled yet.
//!
//! [`statements_over_the_wire_never_panic`] sends statements from a seeded RNG, each over
//! the simple or the extended query protocol (with random values for its parameters):
//!
//! 1. statements of the corpus as they are: the sqllogictest files, the psql queries and the
//!    statements of the parser's and planner's goldenscripts ([`corpus`]);
//! 2. corpus statements with token-level mutations: tokens deleted, duplicated, swapped,
//!    replaced by other tokens or by literals that stress the evaluator (huge numbers, NaN,
//!    multi-byte UTF-8, empty strings, odd dates), spans wrapped in casts and calls, the
//!    statement cut short (unbalanced quotes and parentheses), two statements spliced
//!    ([`mutate`]);
//! 3. statements built from a small grammar of builtins, operators, casts and literals over a
//!    table with a column of each type ([`Grammar`]);
//! 4. deeply nested and very long expressions (parentheses, operator chains, NOT, unary
//!    minus, casts, subqueries, JSON) ([`deep`]);
//! 5. random text, multi-byte characters included.
//!
//! The corpus is first replayed once in order, so its tables exist. Every 500 statements the
//! connection is replaced (resetting the session) and the fuzz table recreated if a statement
//! dropped it. `SEXTANT_FUZZ_STATEMENTS` sets the number of statements (default
//! [`DEFAULT_STATEMENTS`]: the corpus's 558 and about a thousand more, 20 to 30 s in a debug
//! build; 100,000 take 10 to 15 minutes), `SEXTANT_FUZZ_SEED` the seed (random by default;
//! printed, so a failure can be replayed), `SEXTANT_FUZZ_VERBOSE` prints every statement
//! before it is sent (the last one names the culprit if the process dies).
//!
//! [`protocol_messages_never_panic`] does the same one level down, on raw sockets: random
//! bytes, mutated startup packets, and sessions of valid, mutated and random frontend
//! messages (Parse with random parameter types, Bind with random binary values, ...). The
//! server must answer or close, never answer XX000, and keep serving other clients.
//! `SEXTANT_FUZZ_WIRE_SESSIONS` sets the number of sessions (default
//! [`DEFAULT_WIRE_SESSIONS`], about 25 s; 5,000 take 5 minutes).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_postgres::types::{ToSql, Type as PgType};

use crate::cluster::TestCluster;

/// Statements a default run sends.
const DEFAULT_STATEMENTS: usize = 1_500;
/// Raw-socket sessions a default run of the protocol fuzzer opens.
const DEFAULT_WIRE_SESSIONS: usize = 400;
/// A statement that takes longer than this counts as hung.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The connection is replaced after this many statements.
const RECONNECT_EVERY: usize = 500;
/// The fuzz database.
const DATABASE: &str = "fuzz";

/// The fuzz table: a column of every type, an index or two.
const SETUP: &[&str] = &[
    "CREATE DATABASE IF NOT EXISTS fuzz",
    "CREATE TABLE IF NOT EXISTS fuzz.t (a INT PRIMARY KEY, b INT, c DECIMAL, d FLOAT, \
     s STRING, ts TIMESTAMPTZ, i INTERVAL, j JSONB, by BYTES, dt DATE, bo BOOL, arr INT[], \
     u UUID, v VARCHAR(3), INDEX (b), INDEX (s DESC))",
    "UPSERT INTO fuzz.t VALUES \
     (1, 2, 3.5, 1.5, 'x', '2020-01-01 10:00:00+00', '1 day', '{\"a\": 1}', '\\x01', \
      '2020-01-01', true, ARRAY[1, 2], 'f1b7e1f6-6c5e-4d5b-9b3a-8a6d1b2c3d4e', 'abc'), \
     (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
     (3, -9223372036854775808, 99999999999999999999.99, 'NaN', 'é😀', \
      '1970-01-01 00:00:00+00', '-178000000 years', '[1, [2, [3]]]', '\\xffff', \
      '4714-11-24', false, ARRAY[]::INT[], '00000000-0000-0000-0000-000000000000', ''), \
     (9223372036854775807, 9223372036854775807, -0.000001, '-Infinity', '', \
      '2262-04-11 23:47:16+00', '9999 years', '\"s\"', '\\x', '9999-12-31', NULL, \
      ARRAY[NULL, 9223372036854775807], NULL, 'é')",
];

/// Columns of the fuzz table.
#[rustfmt::skip]
const COLUMNS: &[&str] = &[
    "a", "b", "c", "d", "s", "ts", "i", "j", "by", "dt", "bo", "arr", "u", "v", "t.a", "x",
];

/// Literals that stress parsing and evaluation.
const LITERALS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "255",
    "32767",
    "32768",
    "2147483647",
    "2147483648",
    "-2147483649",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "79228162514264337593543950335",
    "79228162514264337593543950336",
    "0.0000000000000000000000000001",
    "0.00000000000000000000000000001",
    "1.5",
    "-0.0",
    "1e308",
    "1e309",
    "-1e400",
    "1e-400",
    "1e28",
    "1e29",
    "1e-28",
    "1E+9999999999",
    ".5",
    "5.",
    "'NaN'",
    "'nan'",
    "'Infinity'",
    "'-Infinity'",
    "'inf'",
    "''",
    "' '",
    "'é'",
    "'日本語'",
    "'😀'",
    "'e\u{301}'",
    "'\u{feff}'",
    "'\u{10ffff}'",
    "'\\x'",
    "'\\xzz'",
    "'\\xé'",
    "'\\777'",
    "'\\'",
    "'{1,2,3}'",
    "'{'",
    "'}'",
    "'{{1}}'",
    "'{\"é\",NULL,\"\"}'",
    "'[1,[2,[3]]]'",
    "'{\"a\":1}'",
    "'{\"a\":'",
    "'null'",
    "'2020-01-01'",
    "'2020-01-01 10:00:00+1é1'",
    "'2020-01-01 10:00:00+é'",
    "'2020-01-01 10:00:00+99'",
    "'2020-01-01 10:00:00-2147483648'",
    "'2020-01-01 10:00:00+9999999999'",
    "'2020-01-01 10:00:00+1:é'",
    "'2020-01-01T10:00:00Z'",
    "'2020-01-01 25:61:61'",
    "'2020-13-45'",
    "'-262143-01-01 00:00:00+10'",
    "'262142-12-31 23:59:59-10'",
    "'+262142-12-31'",
    "'294276-12-31'",
    "'-4713-11-24'",
    "'00000101'",
    "'epoch'",
    "'1 day'",
    "'-1 day -1 hour'",
    "'1 year 2 mons'",
    "'9223372036854775807 days'",
    "'-9223372036854775808 days'",
    "'9223372036854775807 years'",
    "'-9223372036854775808 us'",
    "'1e300 hours'",
    "'NaN seconds'",
    "'1h30m'",
    "'99999999999999999999h'",
    "'1.5é'",
    "'00:00:-1e30'",
    "'--9223372036854775808:00'",
    "'-9223372036854775808:-9223372036854775808:-9223372036854775808'",
    "'1:2:3:4'",
    "'é:é'",
    "'P1D'",
    "'f1b7e1f6-6c5e-4d5b-9b3a-8a6d1b2c3d4e'",
    "'{f1b7e1f6-6c5e-4d5b-9b3a-8a6d1b2c3d4e}'",
    "NULL",
    "true",
    "false",
    "$1",
    "$2",
    "$0",
    "$99999999999",
    "ARRAY[]",
    "ARRAY[1, NULL]",
    "ARRAY['é']",
    "ARRAY[ARRAY[1]]",
    "E'\\xff'",
    "E'\\u00e9'",
    "E'\\U0010FFFF'",
    "E'\\'",
    "B'101'",
    "X'ff'",
    "X'f'",
    "$$dollar$$",
    "$tag$é$tag$",
    "current_timestamp",
    "now()",
];

/// Types for casts.
#[rustfmt::skip]
const TYPES: &[&str] = &[
    "INT", "INT2", "INT4", "INT8", "FLOAT4", "FLOAT8", "REAL", "DECIMAL", "DECIMAL(5,2)",
    "DECIMAL(2,5)", "DECIMAL(1000,0)", "DECIMAL(0)", "NUMERIC(4294967295, 4294967295)", "STRING",
    "TEXT", "VARCHAR(1)", "VARCHAR(0)", "CHAR", "CHAR(4294967296)", "BYTES", "BYTEA", "UUID",
    "DATE", "TIMESTAMP", "TIMESTAMPTZ", "TIMESTAMP(9)", "INTERVAL", "JSONB", "JSON", "OID",
    "REGCLASS", "REGTYPE", "BOOL", "INT[]", "STRING[]", "DECIMAL[]", "TIMESTAMPTZ[]", "INT[][]",
    "BIT(3)", "\"char\"", "nosuchtype",
];

/// Scalar functions, aggregates and table functions.
#[rustfmt::skip]
const FUNCTIONS: &[&str] = &[
    "abs", "acos", "age", "array_append", "array_cat", "array_length", "array_lower",
    "array_position", "array_prepend", "array_remove", "array_to_string", "array_upper", "ascii",
    "asin", "atan", "avg", "bit_length", "bool_and", "bool_or", "btrim", "cardinality", "cbrt",
    "ceil", "char_length", "chr", "coalesce", "concat", "concat_ws", "cos", "count",
    "crdb_internal.locality_value", "current_database", "current_setting", "date_part",
    "date_trunc", "default_to_database_primary_region", "degrees", "encode", "every", "exp",
    "extract", "floor", "format_type", "gateway_region", "gen_random_uuid", "generate_series",
    "greatest", "ifnull", "initcap", "int8", "json_agg", "json_build_array", "json_build_object",
    "json_typeof", "jsonb_pretty", "jsonb_set", "least", "left", "length", "ln", "log", "lower",
    "lpad", "ltrim", "max", "md5", "min", "mod", "now", "nullif", "octet_length", "overlay",
    "pg_get_constraintdef", "pg_get_indexdef", "pg_size_pretty", "pg_typeof", "pi", "position",
    "pow", "power", "quote_ident", "quote_literal", "radians", "random", "random_int",
    "regexp_replace", "repeat", "replace", "reverse", "right", "round", "rpad", "rtrim", "sign",
    "sin", "split_part", "sqrt", "stddev", "string_agg", "string_to_array", "strpos", "substr",
    "substring", "sum", "tan", "to_char", "to_hex", "to_json", "to_jsonb", "to_timestamp",
    "translate", "trim", "trunc", "unique_rowid", "unnest", "upper", "variance", "version",
];

/// Binary operators.
#[rustfmt::skip]
const OPERATORS: &[&str] = &[
    "+", "-", "*", "/", "//", "%", "^", "||", "&", "|", "#", "<<", ">>", "->", "->>", "@>", "<@",
    "?", "=", "<>", "!=", "<", "<=", ">", ">=", "AND", "OR", "LIKE", "ILIKE", "NOT LIKE",
    "SIMILAR TO", "~", "~*", "!~", "IS DISTINCT FROM", "IS NOT DISTINCT FROM", "COLLATE",
];

/// Tokens inserted by mutations.
#[rustfmt::skip]
const VOCABULARY: &[&str] = &[
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION", "ALL",
    "DISTINCT", "INSERT", "INTO", "VALUES", "UPSERT", "UPDATE", "SET", "DELETE", "RETURNING", "ON",
    "CONFLICT", "DO", "NOTHING", "JOIN", "LEFT", "CROSS", "AS", "OF", "SYSTEM", "TIME", "CREATE",
    "TABLE", "INDEX", "DROP", "ALTER", "ADD", "COLUMN", "PRIMARY", "KEY", "REFERENCES", "DEFAULT",
    "CHECK", "UNIQUE", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "SHOW", "EXPLAIN", "CASE",
    "WHEN", "THEN", "ELSE", "END", "CAST", "IN", "EXISTS", "BETWEEN", "IS", "NOT", "NULL", "ANY",
    "ALL", "ARRAY", "INTERVAL", "TIMESTAMP", "WITH", "RECURSIVE", "LATERAL", "(", ")", "((", "))",
    "[", "]", ",", ";", "'", "\"", "$1", "::", ".", "*", "+", "-", "/", "=", "<", ">", "||", "->",
    "@>", "?", "$$", "E'", "\\", "--", "/*", "*/", "é", "😀", "\u{0}",
];

/// How the statement is sent.
#[derive(Clone, Copy, Debug)]
enum Protocol {
    /// A Query message.
    Simple,
    /// Parse, Describe, Bind (random values for the parameters), Execute, Sync.
    Extended,
    /// Parse with every parameter declared `text`, values as text.
    ExtendedText,
}

/// What went wrong with one statement.
#[derive(Debug)]
struct Failure {
    /// What kind of failure.
    what: String,
    /// The statement (shortened).
    sql: String,
}

/// Tally of one fuzz run.
#[derive(Debug, Default)]
struct Tally {
    /// Statements sent.
    sent: usize,
    /// Statements that succeeded.
    ok: usize,
    /// Errors by SQLSTATE.
    codes: BTreeMap<String, usize>,
    /// Failures: XX000, errors without SQLSTATE, lost connections.
    failures: Vec<Failure>,
    /// Statements that took longer than [`STATEMENT_TIMEOUT`]. Reported, not failures:
    /// fuzzed SQL can ask for a lot of work (a cross join of catalog tables), and statements
    /// cannot be cancelled yet.
    slow: Vec<Failure>,
}

/// What went wrong with a statement, beyond an error.
enum Trouble {
    /// No answer within [`STATEMENT_TIMEOUT`].
    Slow(String),
    /// A failure of the test.
    Failure(String),
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("SEXTANT_FUZZ_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(rand::random)
}

/// Panics caught at the connection are reported as failures with their message; the
/// default hook's backtraces would bury the test's output.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
}

/// At most `max` bytes of `s`, on a character boundary, for messages.
fn shorten(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", s.get(..end).unwrap_or_default(), s.len())
}

// ---------------------------------------------------------------------------------------
// The corpus.

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Statements of a sqllogictest file: the lines after `statement ...` or `query ...` up to a
/// blank line or `----`.
fn slt_statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        match &mut current {
            Some(lines) => {
                if line.trim().is_empty() || line.starts_with("----") {
                    out.push(lines.join("\n"));
                    current = None;
                } else {
                    lines.push(line);
                }
            }
            None => {
                if line.starts_with("statement ") || line.starts_with("query ") {
                    current = Some(Vec::new());
                }
            }
        }
    }
    if let Some(lines) = current {
        out.push(lines.join("\n"));
    }
    out
}

/// Every statement of the crate's test data, in file order.
fn corpus() -> Vec<String> {
    let root = manifest();
    let mut out = Vec::new();
    for f in read_dir_sorted(&root.join("testdata/logic")) {
        if let Ok(text) = std::fs::read_to_string(&f) {
            out.extend(slt_statements(&text));
        }
    }
    if let Ok(text) = std::fs::read_to_string(root.join("tests/it/psql/queries.sql")) {
        out.extend(text.split(";;").map(|s| s.trim().to_string()));
    }
    for dir in ["src/parser/testdata", "src/exec/testdata"] {
        for f in read_dir_sorted(&root.join(dir)) {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("> ")
                    && let Some((_, stmt)) = rest.split_once(' ')
                {
                    out.push(stmt.to_string());
                }
            }
        }
    }
    out.retain(|s| !s.trim().is_empty() && !s.contains("force_panic"));
    out
}

// ---------------------------------------------------------------------------------------
// Token-level mutations.

/// Splits SQL into rough tokens: quoted strings and identifiers, numbers, words, operators.
/// Good enough to mutate, not a lexer.
fn tokens(sql: &str) -> Vec<String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == '\'' || c == '"' {
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                i += 1;
            }
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '$'))
            {
                i += 1;
            }
        } else {
            let two: String = chars[i..chars.len().min(i + 3)].iter().collect();
            let op = [
                "->>", "::", "<=", ">=", "<>", "!=", "||", "->", "@>", "<@", "//",
            ]
            .iter()
            .find(|op| two.starts_with(**op));
            i += op.map_or(1, |op| op.chars().count());
        }
        out.push(chars[start..i].iter().collect());
    }
    out
}

fn is_literal(tok: &str) -> bool {
    tok.starts_with('\'') || tok.starts_with(|c: char| c.is_ascii_digit())
}

/// One to four token-level mutations of a corpus statement.
fn mutate(rng: &mut StdRng, corpus: &[String], sql: &str) -> String {
    let mut toks = tokens(sql);
    if toks.is_empty() {
        toks.push("SELECT".into());
    }
    for _ in 0..rng.random_range(1..=4) {
        let n = toks.len();
        let i = rng.random_range(0..n.max(1));
        match rng.random_range(0..13) {
            0 if n > 1 => {
                toks.remove(i);
            }
            1 => {
                let t = toks.get(i).cloned().unwrap_or_default();
                toks.insert(i, t);
            }
            2 => {
                let j = rng.random_range(0..n.max(1));
                if i < n && j < n {
                    toks.swap(i, j);
                }
            }
            3 | 4 => {
                // A literal where a literal was, or anywhere.
                let lit = LITERALS.choose(rng).copied().unwrap_or("1");
                let at = (0..n)
                    .find(|k| is_literal(&toks[(i + k) % n]))
                    .map(|k| (i + k) % n);
                match at {
                    Some(at) => toks[at] = lit.to_string(),
                    None => toks.insert(i, lit.to_string()),
                }
            }
            5 => {
                let v = VOCABULARY.choose(rng).copied().unwrap_or("(");
                toks.insert(i, v.to_string());
            }
            6 => {
                // A token of another statement.
                let other = corpus.choose(rng).map(|s| tokens(s)).unwrap_or_default();
                if let Some(t) = other.choose(rng) {
                    toks.insert(i, t.clone());
                }
            }
            7 if i < n => {
                // Wrap one token in a cast or a call.
                let t = toks[i].clone();
                toks[i] = match rng.random_range(0..3) {
                    0 => format!("{t}::{}", TYPES.choose(rng).copied().unwrap_or("INT")),
                    1 => format!("{}({t})", FUNCTIONS.choose(rng).copied().unwrap_or("abs")),
                    _ => format!("({t})"),
                };
            }
            8 => {
                // Cut short: unbalanced parentheses and quotes.
                toks.truncate(i.max(1));
            }
            9 => {
                let n = rng.random_range(1..64);
                let (open, close) = ("(".repeat(n), ")".repeat(rng.random_range(0..=n)));
                toks.insert(i, open);
                toks.push(close);
            }
            10 if i < n => {
                // Break a string or identifier open.
                let t = toks[i].clone();
                let cut: String = t.chars().take(t.chars().count() / 2).collect();
                toks[i] = cut;
            }
            11 => {
                // Splice with another statement.
                let other = corpus.choose(rng).map(|s| tokens(s)).unwrap_or_default();
                let from = rng.random_range(0..other.len().max(1));
                toks.truncate(i);
                toks.extend(other.into_iter().skip(from));
            }
            _ => {
                let t = random_text(rng, 1..8);
                toks.insert(i, t);
            }
        }
    }
    toks.join(" ")
}

/// Random text of `len` characters: ASCII, punctuation and multi-byte characters.
fn random_text(rng: &mut StdRng, len: std::ops::Range<usize>) -> String {
    const EXTRA: &[char] = &[
        'é',
        '日',
        '😀',
        '\u{301}',
        '\u{feff}',
        '\u{10ffff}',
        '\'',
        '"',
        '(',
        ')',
        '$',
        ';',
        '\\',
        '\n',
        '\t',
        ':',
        '[',
        ']',
        '{',
        '}',
    ];
    let n = rng.random_range(len);
    (0..n)
        .map(|_| {
            if rng.random_bool(0.2) {
                EXTRA.choose(rng).copied().unwrap_or('x')
            } else {
                char::from(rng.random_range(0x20u8..0x7f))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The grammar.

/// Builds expressions and statements over the fuzz table.
struct Grammar<'a> {
    rng: &'a mut StdRng,
}

impl Grammar<'_> {
    fn pick(&mut self, from: &[&str]) -> String {
        from.choose(self.rng).copied().unwrap_or("1").to_string()
    }

    fn expr(&mut self, depth: usize) -> String {
        if depth == 0 || self.rng.random_bool(0.3) {
            return if self.rng.random_bool(0.6) {
                self.pick(LITERALS)
            } else {
                self.pick(COLUMNS)
            };
        }
        let d = depth - 1;
        match self.rng.random_range(0..12) {
            0 | 1 => {
                let n = self.rng.random_range(0..4);
                let args: Vec<String> = (0..n).map(|_| self.expr(d)).collect();
                format!("{}({})", self.pick(FUNCTIONS), args.join(", "))
            }
            2 | 3 => format!(
                "({} {} {})",
                self.expr(d),
                self.pick(OPERATORS),
                self.expr(d)
            ),
            4 => format!("{}::{}", self.expr(d), self.pick(TYPES)),
            5 => format!("CAST({} AS {})", self.expr(d), self.pick(TYPES)),
            6 => format!(
                "CASE WHEN {} THEN {} ELSE {} END",
                self.expr(d),
                self.expr(d),
                self.expr(d)
            ),
            7 => format!("({} IN ({}, {}))", self.expr(d), self.expr(d), self.expr(d)),
            8 => format!(
                "ARRAY[{}, {}][{}]",
                self.expr(d),
                self.expr(d),
                self.expr(d)
            ),
            9 => format!("(- {})", self.expr(d)),
            10 => format!(
                "({} BETWEEN {} AND {})",
                self.expr(d),
                self.expr(d),
                self.expr(d)
            ),
            _ => format!("(SELECT {} FROM t LIMIT 1)", self.expr(d)),
        }
    }

    fn statement(&mut self) -> String {
        let e = |g: &mut Self| g.expr(3);
        match self.rng.random_range(0..14) {
            0..=3 => format!("SELECT {}", e(self)),
            4 => format!("SELECT {}, {} FROM t WHERE {}", e(self), e(self), e(self)),
            5 => format!("SELECT {} FROM t GROUP BY 1 HAVING {}", e(self), e(self)),
            6 => format!(
                "SELECT * FROM t ORDER BY {} LIMIT {} OFFSET {}",
                e(self),
                e(self),
                e(self)
            ),
            7 => format!(
                "INSERT INTO t (a, {}) VALUES ({}, {}) ON CONFLICT (a) DO NOTHING",
                self.pick(&COLUMNS[1..14]),
                e(self),
                e(self)
            ),
            8 => format!(
                "UPDATE t SET {} = {} WHERE a = {}",
                self.pick(&COLUMNS[1..14]),
                e(self),
                e(self)
            ),
            9 => format!(
                "UPSERT INTO t (a, {}) VALUES ({}, {})",
                self.pick(&COLUMNS[1..14]),
                e(self),
                e(self)
            ),
            10 => format!("DELETE FROM t WHERE a = {} AND {}", e(self), e(self)),
            11 => format!(
                "SELECT * FROM generate_series({}, {}) LIMIT 10",
                e(self),
                e(self)
            ),
            12 => format!(
                "CREATE TABLE IF NOT EXISTS g{} (k {} PRIMARY KEY, v {} DEFAULT {})",
                self.rng.random_range(0..5),
                self.pick(TYPES),
                self.pick(TYPES),
                e(self)
            ),
            _ => format!("SELECT {} FROM t AS x JOIN t AS y ON {}", e(self), e(self)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Deep and long statements.

/// A deeply nested or very long statement.
fn deep(rng: &mut StdRng) -> String {
    let n = *[2usize, 25, 29, 30, 31, 33, 64, 100, 1_000, 10_000, 100_000]
        .choose(rng)
        .unwrap_or(&10);
    let item = |i: usize| if i.is_multiple_of(2) { "1" } else { "a" };
    match rng.random_range(0..20) {
        0 => format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
        1 => format!("SELECT 1{}", " + 1".repeat(n)),
        2 => format!("SELECT * FROM t WHERE a = 1{}", " OR a = 2".repeat(n)),
        3 => format!("SELECT {}true", "NOT ".repeat(n)),
        4 => format!("SELECT {}1", "- ".repeat(n)),
        5 => format!("SELECT 1{}", "::INT".repeat(n)),
        6 => format!("SELECT {}1{}", "(SELECT ".repeat(n), ")".repeat(n)),
        7 => format!("SELECT '{}1{}'::JSONB", "[".repeat(n), "]".repeat(n)),
        8 => format!("SELECT {}1{}", "ARRAY[".repeat(n), "]".repeat(n)),
        9 => format!("SELECT {}1{}", "abs(".repeat(n), ")".repeat(n)),
        10 => format!(
            "SELECT 1 IN ({})",
            (0..n).map(item).collect::<Vec<_>>().join(", ")
        ),
        11 => format!("SELECT '{}'", "é".repeat(n)),
        12 => format!(
            "SELECT {}1{}",
            "CASE WHEN true THEN ".repeat(n),
            " END".repeat(n)
        ),
        13 => format!("SELECT 'a'{}", " || 'a'".repeat(n)),
        14 => format!("SELECT 1{}", " IS NULL".repeat(n)),
        15 => format!("SELECT a FROM t{}", " UNION SELECT a + 1 FROM t".repeat(n)),
        16 => format!("SELECT NULL::INT{}", "[]".repeat(n)),
        17 => format!("SELECT arr{} FROM t", "[1]".repeat(n)),
        18 => format!("SELECT 1{}", ", 'é'".repeat(n)),
        // Many rows, but not so many that the insert itself takes longer than the timeout.
        _ => format!(
            "INSERT INTO t (a) VALUES {} ON CONFLICT DO NOTHING",
            (0..n.min(300))
                .map(|i| format!("({})", 1_000_000 + i))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The next statement to send.
fn next_statement(rng: &mut StdRng, corpus: &[String]) -> String {
    match rng.random_range(0..100) {
        0..=7 => corpus.choose(rng).cloned().unwrap_or_default(),
        8..=47 => {
            let sql = corpus.choose(rng).cloned().unwrap_or_default();
            mutate(rng, corpus, &sql)
        }
        48..=87 => Grammar { rng }.statement(),
        88..=92 => deep(rng),
        _ => random_text(rng, 0..200),
    }
}

// ---------------------------------------------------------------------------------------
// Sending statements.

/// A connection that does not panic when the node is gone.
async fn try_connect(addr: &str, database: &str) -> Result<tokio_postgres::Client, String> {
    let (host, port) = addr.rsplit_once(':').ok_or("no port")?;
    let mut cfg = tokio_postgres::Config::new();
    cfg.host(host)
        .port(port.parse().map_err(|_| "bad port")?)
        .user("root")
        .dbname(database)
        .connect_timeout(Duration::from_secs(10));
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(20), cfg.connect(tokio_postgres::NoTls))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|e| format!("connect: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// A random value for a parameter of type `ty`, or `None` when tokio-postgres has no Rust
/// type for it here.
fn param_value(rng: &mut StdRng, ty: &PgType) -> Option<Box<dyn ToSql + Sync + Send>> {
    let null = rng.random_bool(0.1);
    macro_rules! val {
        ($v:expr) => {
            Some(boxed(null, $v))
        };
    }
    let pick_i64 = |rng: &mut StdRng| {
        *[
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            i64::from(i32::MAX) + 1,
            rng.random(),
        ]
        .choose(rng)
        .unwrap_or(&0)
    };
    match *ty {
        PgType::BOOL => val!(rng.random_bool(0.5)),
        PgType::INT2 => val!(*[0i16, i16::MAX, i16::MIN, -1].choose(rng).unwrap_or(&0)),
        PgType::INT4 => val!(*[0i32, i32::MAX, i32::MIN, -1, 7].choose(rng).unwrap_or(&0)),
        PgType::INT8 | PgType::OID => {
            if *ty == PgType::OID {
                val!(rng.random::<u32>())
            } else {
                val!(pick_i64(rng))
            }
        }
        PgType::FLOAT4 => val!(
            *[0f32, f32::NAN, f32::INFINITY, -1.5, f32::MAX]
                .choose(rng)
                .unwrap_or(&0.0)
        ),
        PgType::FLOAT8 => val!(
            *[0f64, f64::NAN, f64::NEG_INFINITY, 1e308, -0.0, 1.5]
                .choose(rng)
                .unwrap_or(&0.0)
        ),
        PgType::TEXT | PgType::VARCHAR | PgType::BPCHAR | PgType::NAME | PgType::UNKNOWN => {
            let s = if rng.random_bool(0.5) {
                LITERALS
                    .choose(rng)
                    .map(|l| l.trim_matches('\'').to_string())
                    .unwrap_or_default()
            } else {
                random_text(rng, 0..40)
            };
            val!(s.clone())
        }
        PgType::BYTEA => {
            let n = rng.random_range(0..40);
            let b: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            val!(b.clone())
        }
        PgType::JSONB | PgType::JSON => val!(serde_json::json!({"a": [1, "é", null, {"b": 1.5}]})),
        PgType::UUID => val!(uuid::Uuid::from_u128(rng.random())),
        PgType::DATE => val!(
            chrono::NaiveDate::from_ymd_opt(rng.random_range(-4000..9999), 1, 1)
                .unwrap_or_default()
        ),
        PgType::TIMESTAMP => val!(
            chrono::DateTime::from_timestamp(rng.random_range(-1i64 << 40..1 << 40), 0)
                .unwrap_or_default()
                .naive_utc()
        ),
        PgType::TIMESTAMPTZ => val!(
            chrono::DateTime::from_timestamp(rng.random_range(-1i64 << 40..1 << 40), 0)
                .unwrap_or_default()
        ),
        PgType::INT8_ARRAY => val!(vec![Some(pick_i64(rng)), None]),
        PgType::TEXT_ARRAY => val!(vec![Some("é".to_string()), None, Some(String::new())]),
        _ => None,
    }
}

/// `v`, or a NULL of its type.
fn boxed<T: ToSql + Sync + Send + 'static>(null: bool, v: T) -> Box<dyn ToSql + Sync + Send> {
    if null {
        Box::new(None::<T>)
    } else {
        Box::new(v)
    }
}

/// Sends `sql` once over `protocol`; `Ok(None)` when it succeeded, `Ok(Some(sqlstate))` for
/// an error (tallied; `client` for errors tokio-postgres raised itself), `Err` for a
/// failure.
async fn send(
    client: &tokio_postgres::Client,
    rng: &mut StdRng,
    sql: &str,
    protocol: Protocol,
    tally: &mut Tally,
) -> Result<Option<String>, Trouble> {
    let run = async {
        match protocol {
            Protocol::Simple => client.simple_query(sql).await.map(|_| ()),
            Protocol::Extended => {
                let stmt = client.prepare(sql).await?;
                let values: Option<Vec<Box<dyn ToSql + Sync + Send>>> =
                    stmt.params().iter().map(|t| param_value(rng, t)).collect();
                match values {
                    Some(values) => {
                        let refs: Vec<&(dyn ToSql + Sync)> = values
                            .iter()
                            .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                            .collect();
                        client.query(&stmt, &refs).await.map(|_| ())
                    }
                    None => Ok(()),
                }
            }
            Protocol::ExtendedText => {
                let n = placeholders(sql);
                let stmt = client.prepare_typed(sql, &vec![PgType::TEXT; n]).await?;
                let values: Vec<Option<String>> = stmt
                    .params()
                    .iter()
                    .map(|_| {
                        LITERALS
                            .choose(rng)
                            .map(|l| l.trim_matches('\'').to_string())
                    })
                    .collect();
                let refs: Vec<&(dyn ToSql + Sync)> =
                    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                client.query(&stmt, &refs).await.map(|_| ())
            }
        }
    };
    let result = match tokio::time::timeout(STATEMENT_TIMEOUT, run).await {
        Ok(r) => r,
        Err(_) => {
            return Err(Trouble::Slow(format!(
                "no answer within {STATEMENT_TIMEOUT:?}"
            )));
        }
    };
    let e = match result {
        Ok(()) => return Ok(None),
        Err(e) => e,
    };
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code().to_string();
            if code == "XX000" {
                let panicked = db.hint().is_some_and(|h| h.contains("panicked"));
                return Err(Trouble::Failure(format!(
                    "{} XX000: {}",
                    if panicked {
                        "panic,"
                    } else {
                        "internal error,"
                    },
                    db.message()
                )));
            }
            if code.len() != 5 {
                return Err(Trouble::Failure(format!(
                    "malformed SQLSTATE {code:?}: {}",
                    db.message()
                )));
            }
            *tally.codes.entry(code.clone()).or_default() += 1;
            Ok(Some(code))
        }
        None if e.is_closed() || client.is_closed() => {
            Err(Trouble::Failure(format!("connection lost: {e}")))
        }
        // What tokio-postgres could not read is a server bug (a garbled message).
        None if e.to_string().contains("error parsing response")
            || e.to_string().contains("unexpected message") =>
        {
            Err(Trouble::Failure(format!("protocol: {e}")))
        }
        // Client-side: a value tokio-postgres would not encode, a wrong parameter count.
        None => {
            *tally.codes.entry("client".into()).or_default() += 1;
            Ok(Some("client".into()))
        }
    }
}

/// The highest `$n` in `sql`.
fn placeholders(sql: &str) -> usize {
    let mut max = 0;
    let mut rest = sql;
    while let Some(i) = rest.find('$') {
        rest = rest.get(i + 1..).unwrap_or_default();
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<usize>() {
            max = max.max(n.min(64));
        }
    }
    max
}

/// Whether the node still serves a fresh connection.
async fn healthy(addr: &str) -> Result<(), String> {
    let client = try_connect(addr, "defaultdb").await?;
    let rows = tokio::time::timeout(Duration::from_secs(30), client.simple_query("SELECT 1"))
        .await
        .map_err(|_| "SELECT 1 timed out".to_string())?
        .map_err(|e| format!("SELECT 1: {e}"))?;
    if rows.is_empty() {
        return Err("SELECT 1 returned nothing".into());
    }
    Ok(())
}

/// A fresh connection to the fuzz database, after creating the fuzz table again. Fuzzed
/// statements may have altered or dropped the table or the database, so the setup statements
/// may fail; only a node that refuses connections is an error.
async fn setup(addr: &str) -> Result<tokio_postgres::Client, String> {
    let client = try_connect(addr, "defaultdb").await?;
    for s in SETUP {
        if let Ok(Err(e)) = tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query(s)).await {
            eprintln!("fuzz setup: {e}");
        }
    }
    drop(client);
    match try_connect(addr, DATABASE).await {
        Ok(client) => Ok(client),
        Err(_) => try_connect(addr, "defaultdb").await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_over_the_wire_never_panic() {
    let total = env_usize("SEXTANT_FUZZ_STATEMENTS", DEFAULT_STATEMENTS);
    let seed = seed();
    eprintln!("fuzz: {total} statements, SEXTANT_FUZZ_SEED={seed}");
    let cluster = TestCluster::start(&["region=us-east1,az=b"]).await;
    let addr = cluster.nodes[0].sql_addr.clone();
    let corpus = corpus();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut tally = Tally::default();
    let started = Instant::now();
    let mut client = setup(&addr).await.expect("setup");
    let verbose = std::env::var_os("SEXTANT_FUZZ_VERBOSE").is_some();
    quiet_panics();
    // The corpus once in order, so that its tables exist; then random statements.
    let replay = corpus.len().min(total);
    for i in 0..total {
        let sql = match corpus.get(i).filter(|_| i < replay) {
            Some(s) => s.clone(),
            None => next_statement(&mut rng, &corpus),
        };
        let protocol = match rng.random_range(0..10) {
            0..=5 => Protocol::Simple,
            6..=8 => Protocol::Extended,
            _ => Protocol::ExtendedText,
        };
        tally.sent += 1;
        if verbose {
            eprintln!("fuzz #{i} {protocol:?}: {}", shorten(&sql, 300));
        }
        match send(&client, &mut rng, &sql, protocol, &mut tally).await {
            Ok(None) => tally.ok += 1,
            // An aborted transaction refuses everything until it ends.
            Ok(Some(code)) if code == "25P02" => {
                let _ =
                    tokio::time::timeout(STATEMENT_TIMEOUT, client.simple_query("ROLLBACK")).await;
            }
            Ok(Some(_)) => {}
            Err(trouble) => {
                let (kind, what, list) = match trouble {
                    Trouble::Slow(what) => ("fuzz: slow", what, &mut tally.slow),
                    Trouble::Failure(what) => ("fuzz failure", what, &mut tally.failures),
                };
                eprintln!("{kind} ({protocol:?}): {what}\n  {}", shorten(&sql, 300));
                list.push(Failure {
                    what: format!("{protocol:?}: {what}"),
                    sql: shorten(&sql, 2_000),
                });
                // A new connection either way (a slow statement keeps the old one busy).
                if let Err(e) = healthy(&addr).await {
                    panic!("node stopped serving after {}: {e}", shorten(&sql, 2_000));
                }
                client = setup(&addr).await.expect("reconnect");
                continue;
            }
        }
        if (i + 1) % RECONNECT_EVERY == 0 {
            healthy(&addr).await.expect("node serving");
            client = setup(&addr).await.expect("reconnect");
            eprintln!(
                "fuzz: {} statements in {:.0?}, {} ok, {} failures",
                i + 1,
                started.elapsed(),
                tally.ok,
                tally.failures.len()
            );
        }
    }
    healthy(&addr).await.expect("node serving at the end");
    eprintln!(
        "fuzz: {} statements in {:.1?} (seed {seed}): {} ok, {} slow, errors by SQLSTATE {:?}",
        tally.sent,
        started.elapsed(),
        tally.ok,
        tally.slow.len(),
        tally.codes
    );
    for s in &tally.slow {
        eprintln!("fuzz: slow: {}\n  {}", s.what, s.sql);
    }
    cluster.shutdown().await;
    assert!(
        tally.failures.is_empty(),
        "{} failures (SEXTANT_FUZZ_SEED={seed}):\n{}",
        tally.failures.len(),
        tally
            .failures
            .iter()
            .map(|f| format!("- {}\n  {}", f.what, f.sql))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Raw protocol messages.

/// A frontend message: tag, then length-prefixed body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(
        &u32::try_from(body.len() + 4)
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    m.extend_from_slice(body);
    m
}

fn cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

fn startup_packet(params: &[(&[u8], &[u8])], version: u32) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    for (k, v) in params {
        cstr(&mut body, k);
        cstr(&mut body, v);
    }
    body.push(0);
    let mut p = u32::try_from(body.len() + 4)
        .unwrap_or(u32::MAX)
        .to_be_bytes()
        .to_vec();
    p.extend_from_slice(&body);
    p
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..max);
    (0..n).map(|_| rng.random()).collect()
}

/// Flips, inserts or deletes a few bytes.
fn mutate_bytes(rng: &mut StdRng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..4) {
        let i = rng.random_range(0..b.len().max(1));
        match rng.random_range(0..4) {
            0 if i < b.len() => b[i] ^= 1 << rng.random_range(0..8),
            1 if i < b.len() => b[i] = rng.random(),
            2 => b.insert(i.min(b.len()), rng.random()),
            _ if i < b.len() => {
                b.remove(i);
            }
            _ => {}
        }
    }
    b
}

/// Parameter type OIDs a Parse may declare.
const OIDS: &[u32] = &[
    0, 16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 700, 701, 705, 1007, 1009, 1016, 1042, 1043, 1082,
    1083, 1114, 1184, 1186, 1700, 2950, 3802, 4294967295,
];

/// Binary values that stress the decoders.
fn binary_value(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..6) {
        0 => Vec::new(),
        1 => i64::MIN.to_be_bytes().to_vec(),
        2 => f64::NAN.to_be_bytes().to_vec(),
        // NUMERIC: ndigits, weight, sign, dscale, digits.
        3 => {
            let mut v = Vec::new();
            for x in [
                rng.random::<i16>(),
                rng.random(),
                rng.random(),
                rng.random(),
            ] {
                v.extend_from_slice(&x.to_be_bytes());
            }
            v.extend(random_bytes(rng, 16));
            v
        }
        4 => vec![0xc3, 0x28, 0xa0, 0xa1],
        _ => random_bytes(rng, 40),
    }
}

/// A session of frontend messages after a valid startup.
fn session_messages(rng: &mut StdRng, corpus: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(1..12) {
        let sql = match rng.random_range(0..3) {
            0 => corpus.choose(rng).cloned().unwrap_or_default(),
            1 => "SELECT $1, $2".to_string(),
            _ => random_text(rng, 0..50),
        };
        let mut m = match rng.random_range(0..9) {
            0 => {
                let mut b = Vec::new();
                cstr(&mut b, sql.as_bytes());
                message(b'Q', &b)
            }
            1 | 2 => {
                let mut b = Vec::new();
                cstr(&mut b, b"s");
                cstr(&mut b, sql.as_bytes());
                let n = rng.random_range(0..4u16);
                b.extend_from_slice(&n.to_be_bytes());
                for _ in 0..n {
                    let oid = OIDS.choose(rng).copied().unwrap_or(0);
                    b.extend_from_slice(&oid.to_be_bytes());
                }
                message(b'P', &b)
            }
            3 | 4 => {
                let mut b = Vec::new();
                cstr(&mut b, b"");
                cstr(&mut b, b"s");
                let formats = rng.random_range(0..3u16);
                b.extend_from_slice(&formats.to_be_bytes());
                for _ in 0..formats {
                    b.extend_from_slice(&rng.random_range(0..3i16).to_be_bytes());
                }
                let n = rng.random_range(0..3u16);
                b.extend_from_slice(&n.to_be_bytes());
                for _ in 0..n {
                    if rng.random_bool(0.1) {
                        b.extend_from_slice(&(-1i32).to_be_bytes());
                        continue;
                    }
                    let v = binary_value(rng);
                    b.extend_from_slice(&u32::try_from(v.len()).unwrap_or(0).to_be_bytes());
                    b.extend_from_slice(&v);
                }
                let results = rng.random_range(0..2u16);
                b.extend_from_slice(&results.to_be_bytes());
                for _ in 0..results {
                    b.extend_from_slice(&rng.random_range(0..2i16).to_be_bytes());
                }
                message(b'B', &b)
            }
            5 => {
                let mut b = vec![if rng.random_bool(0.5) { b'S' } else { b'P' }];
                cstr(&mut b, b"s");
                message(b'D', &b)
            }
            6 => {
                let mut b = Vec::new();
                cstr(&mut b, b"");
                b.extend_from_slice(&rng.random_range(-1..3i32).to_be_bytes());
                message(b'E', &b)
            }
            7 => message(b'S', &[]),
            _ => message(rng.random(), &random_bytes(rng, 20)),
        };
        if rng.random_bool(0.15) {
            m = mutate_bytes(rng, m);
        }
        out.extend(m);
    }
    out.extend(message(b'S', &[]));
    out.extend(message(b'X', &[]));
    out
}

/// Reads what the server sends until it closes or goes quiet; the SQLSTATEs of its
/// ErrorResponses.
async fn read_errors(stream: &mut TcpStream) -> Vec<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let quiet = Duration::from_millis(300);
        match tokio::time::timeout(quiet, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
        if Instant::now() > deadline {
            break;
        }
    }
    let mut codes = Vec::new();
    let mut rest = buf.as_slice();
    // The answer to an SSLRequest is a lone byte.
    if rest.first() == Some(&b'N') && rest.get(1).is_some_and(|b| b.is_ascii_uppercase()) {
        rest = &rest[1..];
    }
    while rest.len() >= 5 {
        let tag = rest[0];
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        let Some(body) = rest.get(5..1 + len.max(4)) else {
            break;
        };
        if tag == b'E' {
            for field in body.split(|b| *b == 0) {
                if let Some(code) = field.strip_prefix(b"C") {
                    codes.push(String::from_utf8_lossy(code).to_string());
                }
            }
        }
        rest = &rest[(1 + len.max(4)).min(rest.len())..];
    }
    codes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_messages_never_panic() {
    let sessions = env_usize("SEXTANT_FUZZ_WIRE_SESSIONS", DEFAULT_WIRE_SESSIONS);
    let seed = seed();
    eprintln!("wire fuzz: {sessions} sessions, SEXTANT_FUZZ_SEED={seed}");
    let cluster = TestCluster::start(&["region=us-east1,az=b"]).await;
    let addr = cluster.nodes[0].sql_addr.clone();
    setup(&addr).await.expect("setup");
    quiet_panics();
    let corpus = corpus();
    let mut rng = StdRng::seed_from_u64(seed);
    let started = Instant::now();
    let mut internal = Vec::new();
    let mut answered = 0usize;
    for i in 0..sessions {
        let valid_startup = startup_packet(&[(b"user", b"root"), (b"database", b"fuzz")], 196_608);
        let bytes = match rng.random_range(0..10) {
            0 => random_bytes(&mut rng, 200),
            1 | 2 => mutate_bytes(&mut rng, valid_startup),
            3 => {
                let k = random_bytes(&mut rng, 20);
                let v = random_bytes(&mut rng, 20);
                let version = *[196_608u32, 196_609, 80_877_103, 80_877_102, 80_877_104, 0]
                    .choose(&mut rng)
                    .unwrap_or(&0);
                startup_packet(&[(b"user", b"root"), (&k, &v)], version)
            }
            _ => {
                let mut b = valid_startup;
                let mut s = session_messages(&mut rng, &corpus);
                if rng.random_bool(0.1) {
                    s = mutate_bytes(&mut rng, s);
                }
                b.extend(s);
                b
            }
        };
        let Ok(mut stream) = TcpStream::connect(&addr).await else {
            panic!("the SQL listener refused a connection after {i} sessions");
        };
        // The server may close before reading everything; that is its right.
        let _ = stream.write_all(&bytes).await;
        let codes = read_errors(&mut stream).await;
        if !codes.is_empty() {
            answered += 1;
        }
        if codes.iter().any(|c| c == "XX000") {
            internal.push(format!(
                "{:?}",
                shorten(&String::from_utf8_lossy(&bytes), 500)
            ));
        }
        if i % 50 == 49 {
            healthy(&addr).await.expect("node serving");
        }
    }
    healthy(&addr).await.expect("node serving at the end");
    eprintln!(
        "wire fuzz: {sessions} sessions in {:.1?} (seed {seed}), {answered} answered with errors",
        started.elapsed()
    );
    cluster.shutdown().await;
    assert!(
        internal.is_empty(),
        "internal errors (SEXTANT_FUZZ_SEED={seed}):\n{}",
        internal.join("\n")
    );
}
