//! Splitting shell input into statements at `;`, across lines.
//!
//! The shell reads a line at a time and runs a statement once its terminating `;` arrives, so
//! [`Splitter::push`] takes a chunk of text (a line, a whole `-e` argument or a whole file) and
//! returns the statements it completes. A `;` inside a string (`'...'`, `E'...'` with its
//! backslash escapes), a quoted identifier (`"..."`), a dollar-quoted string (`$$...$$`,
//! `$tag$...$tag$`), a `--` comment or a `/* */` comment (nested, as in PostgreSQL) does not
//! end a statement; the splitter keeps that lexical state between chunks, so a string may span
//! lines. Statements consisting of nothing but blanks and comments are dropped.
//! [`Splitter::finish`] returns what is left without a `;`, which `-e` and `-f` run as a last
//! statement.

/// Where the scanner is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Normal,
    /// In `'...'`; `escapes` for `E'...'`.
    Quote {
        escapes: bool,
    },
    /// In `"..."`.
    Ident,
    /// In `-- ...` up to the end of the line.
    LineComment,
    /// In `/* ... */`, nested this deep.
    BlockComment(usize),
    /// In `$tag$ ... $tag$`; the tag includes both dollars.
    Dollar(String),
}

/// Accumulates input and cuts it into statements.
#[derive(Debug)]
pub struct Splitter {
    buf: String,
    state: State,
}

impl Default for Splitter {
    fn default() -> Splitter {
        Splitter {
            buf: String::new(),
            state: State::Normal,
        }
    }
}

impl Splitter {
    /// A splitter with nothing buffered.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Whether a statement has been started and not finished (the shell then prompts with
    /// `->`).
    pub fn is_pending(&self) -> bool {
        !is_blank(&self.buf) || self.state != State::Normal
    }

    /// Drops what is buffered (Ctrl-C at the prompt).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.state = State::Normal;
    }

    /// Adds `chunk` and returns the statements it completes, without their `;`, trimmed.
    pub fn push(&mut self, chunk: &str) -> Vec<String> {
        let mut done = Vec::new();
        let chars: Vec<char> = chunk.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            let mut take = 1;
            match &self.state {
                State::Normal => match c {
                    ';' => {
                        let stmt = std::mem::take(&mut self.buf);
                        if !is_blank(&stmt) {
                            done.push(stmt.trim().to_string());
                        }
                        i += 1;
                        continue;
                    }
                    '\'' => {
                        let escapes = self
                            .buf
                            .chars()
                            .last()
                            .is_some_and(|p| p == 'e' || p == 'E')
                            && !self
                                .buf
                                .chars()
                                .rev()
                                .nth(1)
                                .is_some_and(|p| p.is_alphanumeric() || p == '_');
                        self.state = State::Quote { escapes };
                    }
                    '"' => self.state = State::Ident,
                    '-' if next == Some('-') => {
                        self.state = State::LineComment;
                        take = 2;
                    }
                    '/' if next == Some('*') => {
                        self.state = State::BlockComment(1);
                        take = 2;
                    }
                    '$' => {
                        if let Some(tag) = dollar_tag(&chars[i..]) {
                            let ident_before = self
                                .buf
                                .chars()
                                .last()
                                .is_some_and(|p| p.is_alphanumeric() || p == '_');
                            if !ident_before {
                                take = tag.chars().count();
                                self.state = State::Dollar(tag);
                            }
                        }
                    }
                    _ => {}
                },
                State::Quote { escapes } => match c {
                    '\\' if *escapes => take = 2,
                    '\'' if next == Some('\'') => take = 2,
                    '\'' => self.state = State::Normal,
                    _ => {}
                },
                State::Ident => match c {
                    '"' if next == Some('"') => take = 2,
                    '"' => self.state = State::Normal,
                    _ => {}
                },
                State::LineComment => {
                    if c == '\n' {
                        self.state = State::Normal;
                    }
                }
                State::BlockComment(depth) => {
                    let depth = *depth;
                    if c == '*' && next == Some('/') {
                        take = 2;
                        self.state = if depth == 1 {
                            State::Normal
                        } else {
                            State::BlockComment(depth - 1)
                        };
                    } else if c == '/' && next == Some('*') {
                        take = 2;
                        self.state = State::BlockComment(depth + 1);
                    }
                }
                State::Dollar(tag) => {
                    let tag_len = tag.chars().count();
                    if chars[i..].iter().take(tag_len).copied().eq(tag.chars()) {
                        take = tag_len;
                        self.state = State::Normal;
                    }
                }
            }
            let end = (i + take).min(chars.len());
            self.buf.extend(&chars[i..end]);
            i = end;
        }
        done
    }

    /// What is left after the last `;`, when it is more than blanks and comments.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        self.state = State::Normal;
        (!is_blank(&rest)).then(|| rest.trim().to_string())
    }
}

/// `$tag$` at the start of `s` (the tag may be empty), when `s` starts a dollar quote: the
/// tag must not start with a digit, so `$1` stays a placeholder.
fn dollar_tag(s: &[char]) -> Option<String> {
    let mut tag = String::from("$");
    for (k, c) in s.iter().enumerate().skip(1) {
        match c {
            '$' => {
                tag.push('$');
                return Some(tag);
            }
            c if c.is_alphabetic() || *c == '_' => tag.push(*c),
            c if c.is_ascii_digit() && k > 1 => tag.push(*c),
            _ => return None,
        }
    }
    None
}

/// Whether `s` holds nothing but blanks and complete comments.
fn is_blank(s: &str) -> bool {
    let mut rest = s.trim_start();
    loop {
        if rest.is_empty() {
            return true;
        }
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            match skip_block_comment(r) {
                Some(after) => rest = after.trim_start(),
                None => return false,
            }
        } else {
            return false;
        }
    }
}

/// The text after the `*/` that closes a block comment whose `/*` was just consumed.
fn skip_block_comment(mut s: &str) -> Option<&str> {
    let mut depth = 1;
    while depth > 0 {
        let open = s.find("/*");
        let close = s.find("*/")?;
        match open {
            Some(o) if o < close => {
                depth += 1;
                s = s.get(o + 2..)?;
            }
            _ => {
                depth -= 1;
                s = s.get(close + 2..)?;
            }
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&str]) -> (Vec<String>, Option<String>) {
        let mut s = Splitter::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        (out, s.finish())
    }

    #[test]
    fn semicolons_end_statements() {
        let (stmts, rest) = split_all(&["SELECT 1; SELECT 2;\n", "SELECT 3"]);
        assert_eq!(stmts, vec!["SELECT 1", "SELECT 2"]);
        assert_eq!(rest.as_deref(), Some("SELECT 3"));
    }

    #[test]
    fn statements_span_lines() {
        let mut s = Splitter::new();
        assert!(s.push("SELECT\n").is_empty());
        assert!(s.is_pending());
        assert_eq!(s.push("  1;\n"), vec!["SELECT\n  1"]);
        assert!(!s.is_pending());
    }

    #[test]
    fn quoted_semicolons_do_not_split() {
        let (stmts, rest) = split_all(&[
            "SELECT 'a;b', \"c;d\", E'x\\';y', 'it''s;';\n",
            "SELECT $$ ; $$, $fn$ ; $ $fn$;\n",
            "SELECT 1 -- comment; still\n;\n",
            "SELECT /* a /* nested ; */ ; */ 2;\n",
        ]);
        assert_eq!(
            stmts,
            vec![
                "SELECT 'a;b', \"c;d\", E'x\\';y', 'it''s;'",
                "SELECT $$ ; $$, $fn$ ; $ $fn$",
                "SELECT 1 -- comment; still",
                "SELECT /* a /* nested ; */ ; */ 2",
            ]
        );
        assert_eq!(rest, None);
    }

    #[test]
    fn strings_span_chunks() {
        let mut s = Splitter::new();
        assert!(s.push("INSERT INTO t VALUES ('a;\n").is_empty());
        assert!(s.is_pending());
        assert_eq!(s.push("b');\n"), vec!["INSERT INTO t VALUES ('a;\nb')"]);
    }

    #[test]
    fn placeholders_are_not_dollar_quotes() {
        let (stmts, _) = split_all(&["SELECT $1; SELECT a$b$c;"]);
        assert_eq!(stmts, vec!["SELECT $1", "SELECT a$b$c"]);
    }

    #[test]
    fn blank_statements_are_dropped() {
        let (stmts, rest) = split_all(&[";;  ; -- only a comment\n; /* c */ ;\n", "  \n"]);
        assert!(stmts.is_empty(), "{stmts:?}");
        assert_eq!(rest, None);
        let mut s = Splitter::new();
        s.push("-- comment\n");
        assert!(!s.is_pending());
        s.push("SELECT 'open");
        s.clear();
        assert!(!s.is_pending());
    }
}
