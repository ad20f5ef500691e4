//! A small backtracking regular-expression matcher for the `~` operators (POSIX-style subset:
//! literals, `.`, `^`, `$`, groups with `|`, `*`, `+`, `?`, bracket classes, `\` escapes),
//! enough for what clients such as psql send (`'^(t)$'`, `'^pg_toast'`).

use crate::error::{Result, SqlError};

/// Longest text or pattern matched (the matcher recurses per character).
const MAX_TEXT: usize = 4096;

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

fn match_seq(nodes: &[Node], s: &[char], i: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some((first, rest)) = nodes.split_first() else {
        return k(i);
    };
    match first {
        Node::Char(c) => s.get(i) == Some(c) && match_seq(rest, s, i + 1, k),
        Node::Any => i < s.len() && match_seq(rest, s, i + 1, k),
        Node::Start => i == 0 && match_seq(rest, s, i, k),
        Node::End => i == s.len() && match_seq(rest, s, i, k),
        Node::Class(ranges, neg) => {
            s.get(i)
                .is_some_and(|c| ranges.iter().any(|(a, b)| a <= c && c <= b) != *neg)
                && match_seq(rest, s, i + 1, k)
        }
        Node::Group(alts) => alts
            .iter()
            .any(|alt| match_seq(alt, s, i, &mut |j| match_seq(rest, s, j, k))),
        Node::Repeat(node, min, max) => repeat(node, *min, *max, rest, s, i, 0, k),
    }
}

#[allow(clippy::too_many_arguments)]
fn repeat(
    node: &Node,
    min: usize,
    max: usize,
    rest: &[Node],
    s: &[char],
    i: usize,
    count: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if count < max {
        let one = std::slice::from_ref(node);
        let matched = match_seq(one, s, i, &mut |j| {
            j > i && repeat(node, min, max, rest, s, j, count + 1, k)
        });
        if matched {
            return true;
        }
    }
    count >= min && match_seq(rest, s, i, k)
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
    Ok((0..=s.len()).any(|start| match_seq(&root, &s, start, &mut |_| true)))
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
}
