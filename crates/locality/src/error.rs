//! Errors from parsing localities and filters.

use serde::{Deserialize, Serialize};

/// Why a `--locality` flag or a locality filter could not be parsed.
///
/// The `Display` text matches CockroachDB's messages byte for byte, so clients and tests written
/// against CockroachDB see the same errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum LocalityError {
    /// The whole locality string was empty (or only whitespace).
    #[error("can't have empty locality")]
    Empty,
    /// One comma-separated part was not exactly one non-empty `key` and one non-empty `value`
    /// joined by `=`. Carries the offending part, trimmed of surrounding ASCII whitespace.
    #[error("tier must be in the form \"key=value\" not {}", go_quote(.0))]
    MalformedTier(String),
}

/// Quotes `s` the way Go's `%q` verb does: double quotes around it, with `"` and `\` escaped
/// and non-printable characters written as escape sequences.
///
/// Printability is approximated: control characters and non-ASCII whitespace are escaped, other
/// characters are written as they are (Go's `strconv.IsPrint` also escapes a few rarer
/// invisible code points, such as zero-width joiners).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out.push('"');
    out
}

/// Appends one character of a `%q`-quoted string.
fn push_escaped(out: &mut String, c: char) {
    let escape = match c {
        '"' => "\\\"",
        '\\' => "\\\\",
        '\u{7}' => "\\a",
        '\u{8}' => "\\b",
        '\u{c}' => "\\f",
        '\n' => "\\n",
        '\r' => "\\r",
        '\t' => "\\t",
        '\u{b}' => "\\v",
        _ => return push_other(out, c),
    };
    out.push_str(escape);
}

/// Appends a character with no short escape: as is if printable, else as `\x`, `\u` or `\U`.
fn push_other(out: &mut String, c: char) {
    let code = u32::from(c);
    let printable = !c.is_control() && (c == ' ' || !c.is_whitespace());
    if printable {
        out.push(c);
    } else if code < 0x80 {
        out.push_str(&format!("\\x{code:02x}"));
    } else if code < 0x10000 {
        out.push_str(&format!("\\u{code:04x}"));
    } else {
        out.push_str(&format!("\\U{code:08x}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_quote_escapes_like_go() {
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("region"), r#""region""#);
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(go_quote("a\tb\nc"), r#""a\tb\nc""#);
        assert_eq!(go_quote("\u{1}\u{7f}"), r#""\x01\x7f""#);
        assert_eq!(go_quote("\u{85}\u{a0}"), r#""\u0085\u00a0""#);
        assert_eq!(go_quote("régión 東"), "\"régión 東\"");
    }

    #[test]
    fn messages_match_cockroachdb() {
        assert_eq!(
            LocalityError::Empty.to_string(),
            "can't have empty locality"
        );
        assert_eq!(
            LocalityError::MalformedTier("region".into()).to_string(),
            r#"tier must be in the form "key=value" not "region""#
        );
    }
}
