//! A small backtracking regular-expression matcher for the `~` operators (POSIX-style subset:
//! literals, `.`, `^`, `$`, groups with `|`, `*`, `+`, `?`, bracket classes, `\` escapes),
//! enough for what clients such as psql send (`'^(t)$'`, `'^pg_toast'`).
//!
//! The client chooses both the pattern and the text, so the matcher is bounded three ways:
//! the lengths ([`MAX_TEXT`]), the steps of one match ([`MAX_STEPS`]; backtracking is
//! exponential for patterns like `(a*)*b`), and the stack: it recurses once per character
//! matched and the parser once per group, through [`crate::stack::grow`].

use std::cell::Cell;

use crate::error::{Result, SqlError};

/// Longest text or pattern matched.
const MAX_TEXT: usize = 4096;

/// Most steps (node visits) one match may take.
const MAX_STEPS: usize = 1_000_000;

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Start,
    End,
    Class(Vec<(char, char)>, bool),
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, usize),
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

fn invalid(why: &str) -> SqlError {
    SqlError::new(
        base::errcode::INVALID_PARAMETER_VALUE,
        format!("invalid regular expression: {why}"),
    )
}

impl Parser<'_> {
    fn alternation(&mut self) -> Result<Vec<Vec<Node>>> {
        crate::stack::grow(|| self.alternation_here())
    }

    fn alternation_here(&mut self) -> Result<Vec<Vec<Node>>> {
        let mut alts = vec![self.sequence()?];
        while self.chars.peek() == Some(&'|') {
            self.chars.next();
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<Node>> {
        let mut seq = Vec::new();
        while let Some(&c) = self.chars.peek() {
            if c == '|' || c == ')' {
                break;
            }
            self.chars.next();
            let atom = match c {
                '.' => Node::Any,
                '^' => Node::Start,
                '$' => Node::End,
                '(' => {
                    if self.chars.peek() == Some(&'?') {
                        self.chars.next();
                        self.chars.next();
                    }
                    let g = self.alternation()?;
                    if self.chars.next() != Some(')') {
                        return Err(invalid("parentheses () not balanced"));
                    }
                    Node::Group(g)
                }
                '[' => self.class()?,
                '\\' => Node::Char(
                    self.chars
                        .next()
                        .ok_or_else(|| invalid("trailing backslash"))?,
                ),
                '*' | '+' | '?' => return Err(invalid("quantifier operand invalid")),
                c => Node::Char(c),
            };
            let atom = match self.chars.peek() {
                Some('*') => {
                    self.chars.next();
                    Node::Repeat(Box::new(atom), 0, usize::MAX)
                }
                Some('+') => {
                    self.chars.next();
                    Node::Repeat(Box::new(atom), 1, usize::MAX)
                }
                Some('?') => {
                    self.chars.next();
                    Node::Repeat(Box::new(atom), 0, 1)
                }
                _ => atom,
            };
            seq.push(atom);
        }
        Ok(seq)
    }

    fn class(&mut self) -> Result<Node> {
        let negated = self.chars.peek() == Some(&'^');
        if negated {
            self.chars.next();
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = self
                .chars
                .next()
                .ok_or_else(|| invalid("brackets [] not balanced"))?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let c = if c == '\\' {
                self.chars
                    .next()
                    .ok_or_else(|| invalid("trailing backslash"))?
            } else {
                c
            };
            if self.chars.peek() == Some(&'-') {
                self.chars.next();
                match self.chars.next() {
                    Some(']') => {
                        ranges.push((c, c));
                        ranges.push(('-', '-'));
                        break;
                    }
                    Some(end) => ranges.push((c, end)),
                    None => return Err(invalid("brackets [] not balanced")),
                }
            } else {
                ranges.push((c, c));
            }
        }
        Ok(Node::Class(ranges, negated))
    }
}

/// One match of a pattern against a text, counting its steps.
struct Matcher<'a> {
    s: &'a [char],
    steps: Cell<usize>,
}

impl Matcher<'_> {
    /// Whether `nodes` match at `i` and the continuation `k` accepts where they end; `None`
    /// once the match has taken [`MAX_STEPS`].
    fn seq(
        &self,
        nodes: &[Node],
        i: usize,
        k: &mut dyn FnMut(usize) -> Option<bool>,
    ) -> Option<bool> {
        let steps = self.steps.get() + 1;
        if steps > MAX_STEPS {
            return None;
        }
        self.steps.set(steps);
        crate::stack::grow(|| self.seq_here(nodes, i, k))
    }

    fn seq_here(
        &self,
        nodes: &[Node],
        i: usize,
        k: &mut dyn FnMut(usize) -> Option<bool>,
    ) -> Option<bool> {
        let s = self.s;
        let Some((first, rest)) = nodes.split_first() else {
            return k(i);
        };
        match first {
            Node::Char(c) => Some(s.get(i) == Some(c) && self.seq(rest, i + 1, k)?),
            Node::Any => Some(i < s.len() && self.seq(rest, i + 1, k)?),
            Node::Start => Some(i == 0 && self.seq(rest, i, k)?),
            Node::End => Some(i == s.len() && self.seq(rest, i, k)?),
            Node::Class(ranges, neg) => {
                let hit = s
                    .get(i)
                    .is_some_and(|c| ranges.iter().any(|(a, b)| a <= c && c <= b) != *neg);
                Some(hit && self.seq(rest, i + 1, k)?)
            }
            Node::Group(alts) => {
                for alt in alts {
                    if self.seq(alt, i, &mut |j| self.seq(rest, j, k))? {
                        return Some(true);
                    }
                }
                Some(false)
            }
            Node::Repeat(node, min, max) => self.repeat(node, (*min, *max), rest, i, 0, k),
        }
    }

    fn repeat(
        &self,
        node: &Node,
        (min, max): (usize, usize),
        rest: &[Node],
        i: usize,
        count: usize,
        k: &mut dyn FnMut(usize) -> Option<bool>,
    ) -> Option<bool> {
        if count < max {
            let one = std::slice::from_ref(node);
            let matched = self.seq(one, i, &mut |j| {
                Some(j > i && self.repeat(node, (min, max), rest, j, count + 1, k)?)
            })?;
            if matched {
                return Some(true);
            }
        }
        Some(count >= min && self.seq(rest, i, k)?)
    }
}

/// Whether `pattern` matches anywhere in `text` (case-insensitively when asked).
pub fn is_match(pattern: &str, text: &str, case_insensitive: bool) -> Result<bool> {
    if text.len() > MAX_TEXT || pattern.len() > MAX_TEXT {
        return Err(invalid("input too long for the regular expression matcher"));
    }
    let (pattern, text) = if case_insensitive {
        (pattern.to_lowercase(), text.to_lowercase())
    } else {
        (pattern.to_string(), text.to_string())
    };
    let mut p = Parser {
        chars: pattern.chars().peekable(),
    };
    let alts = p.alternation()?;
    if p.chars.next().is_some() {
        return Err(invalid("parentheses () not balanced"));
    }
    let s: Vec<char> = text.chars().collect();
    let root = [Node::Group(alts)];
    let m = Matcher {
        s: &s,
        steps: Cell::new(0),
    };
    for start in 0..=s.len() {
        match m.seq(&root, start, &mut |_| Some(true)) {
            Some(true) => return Ok(true),
            Some(false) => {}
            None => return Err(invalid("too complex to match")),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::is_match;

    #[test]
    fn psql_patterns() {
        assert!(is_match("^(t)$", "t", false).unwrap());
        assert!(!is_match("^(t)$", "tt", false).unwrap());
        assert!(is_match("^pg_toast", "pg_toast_1", false).unwrap());
        assert!(!is_match("^pg_toast", "public", false).unwrap());
        assert!(is_match("a[0-9]+b", "xa123b", false).unwrap());
        assert!(is_match("^(foo|bar)$", "bar", false).unwrap());
        assert!(is_match("AB", "xab", true).unwrap());
        assert!(is_match("^.*$", "", false).unwrap());
    }

    #[test]
    fn long_texts_and_backtracking_are_bounded() {
        let text = "a".repeat(4000);
        assert!(is_match("^a*a*a*$", &text, false).unwrap());
        assert!(is_match("^(a|b)*$", &text, false).unwrap());
        let e = is_match("^(a*)*b$", &text, false).unwrap_err();
        assert!(e.message().contains("too complex"), "{e}");
        let nested = format!("{}a{}", "(".repeat(2000), ")".repeat(2000));
        assert!(is_match(&nested, "a", false).unwrap());
    }
}
