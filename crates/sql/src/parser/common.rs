//! The small pieces every CockroachDB statement is built from: names, literal option values,
//! URI lists, `key = value` options and the `AS OF SYSTEM TIME` clause.

use std::fmt;

use sqlparser::ast::{Expr, Ident};

/// Words that cannot be used as a bare name and are quoted when a name is printed: the
/// CockroachDB reserved keywords.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "concurrently",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "family",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "nothing",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// Whether `word` (any case) is a reserved keyword.
pub(crate) fn is_reserved(word: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(word))
}

/// An SQL name (database, table, column, region...), normalised: unquoted identifiers are folded
/// to lower case, quoted ones are kept exactly. Printed bare when that reads back the same, else
/// double-quoted (`"us-east1"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(pub String);

impl Name {
    /// A name with exactly this text.
    pub fn new(s: impl Into<String>) -> Name {
        Name(s.into())
    }

    /// Normalises a sqlparser identifier the way CockroachDB does: fold case unless quoted.
    pub fn from_ident(ident: &Ident) -> Name {
        match ident.quote_style {
            Some(_) => Name(ident.value.clone()),
            None => Name(ident.value.to_lowercase()),
        }
    }

    /// The normalised text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.0;
        let bare = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !is_reserved(s);
        if bare {
            f.write_str(s)
        } else {
            write!(f, "\"{}\"", s.replace('"', "\"\""))
        }
    }
}

/// Writes `items` separated by `, `.
pub(crate) fn comma_list<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

/// A dotted name: `t`, `movr.t`, `movr.public.t`. Never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QualifiedName(pub Vec<Name>);

impl QualifiedName {
    /// The last part: the object's own name.
    pub fn base(&self) -> Option<&Name> {
        self.0.last()
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

/// An index: `table@index`, or a bare `index` name that the catalog must resolve.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IndexRef {
    /// The table, when written `table@index`.
    pub table: Option<QualifiedName>,
    /// The index name.
    pub index: Name,
}

impl fmt::Display for IndexRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.table {
            Some(table) => write!(f, "{table}@{}", self.index),
            None => write!(f, "{}", self.index),
        }
    }
}

/// A literal or placeholder in an option, a URI, a zone setting or a label. Kept unevaluated so
/// the executor binds placeholders from the extended protocol.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OptionValue {
    /// A string literal (`'x'`, `e'x'`, `$$x$$`), unescaped. Bare identifiers given as option
    /// values (`envelope = wrapped`) are read as strings too.
    String(String),
    /// A placeholder: `$1` is `Placeholder(1)`.
    Placeholder(u32),
    /// A numeric literal as written, possibly with a leading `-`.
    Number(String),
    /// `TRUE` or `FALSE`.
    Bool(bool),
}

impl OptionValue {
    /// The value as text, with placeholders bound from `params` (extended protocol): a string
    /// literal or string parameter as is, a number as written, a boolean as `true`/`false`.
    /// An unbound or NULL placeholder is `no value provided for placeholder: $n` (42601).
    pub fn text(&self, params: &[crate::types::Datum]) -> crate::error::Result<String> {
        use crate::types::Datum;
        Ok(match self {
            OptionValue::String(s) | OptionValue::Number(s) => s.clone(),
            OptionValue::Bool(b) => b.to_string(),
            OptionValue::Placeholder(n) => match params.get((*n as usize).wrapping_sub(1)) {
                Some(Datum::String(s)) => s.clone(),
                Some(Datum::Null) | None => {
                    return Err(crate::error::SqlError::new(
                        base::errcode::SYNTAX_ERROR,
                        format!("no value provided for placeholder: ${n}"),
                    ));
                }
                Some(other) => other.to_string(),
            },
        })
    }

    /// The string, if this is a string literal.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OptionValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Writes `s` as an SQL string literal.
pub(crate) fn quote_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    write!(f, "'{}'", s.replace('\'', "''"))
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::String(s) => quote_string(f, s),
            OptionValue::Placeholder(n) => write!(f, "${n}"),
            OptionValue::Number(n) => f.write_str(n),
            OptionValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// One URI or a parenthesised list of them (`'s3://a'`, `('s3://a', 's3://b')`): a backup
/// collection, locality-aware destinations, KMS URIs. Each element is a string or placeholder;
/// never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UriList(pub Vec<OptionValue>);

impl fmt::Display for UriList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() == 1 {
            return write!(f, "{}", self.0[0]);
        }
        f.write_str("(")?;
        comma_list(f, &self.0)?;
        f.write_str(")")
    }
}

/// A generic `name [= value]` option (changefeeds, SHOW BACKUP). A name alone is a flag.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KvOption {
    /// The option name, normalised.
    pub key: Name,
    /// The value; `None` for a flag.
    pub value: Option<OptionValue>,
}

impl fmt::Display for KvOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{} = {value}", self.key),
            None => write!(f, "{}", self.key),
        }
    }
}

/// `AS OF SYSTEM TIME <expr>`: a timestamp string (`'-10s'`, `'2023-06-01 12:00'`), a decimal
/// HLC, or a function such as `follower_read_timestamp()` or `with_max_staleness('10s')`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AsOfSystemTime(pub Expr);

impl fmt::Display for AsOfSystemTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AS OF SYSTEM TIME {}", self.0)
    }
}
