//! The bound on how deeply a statement nests (see [`crate::stack`] for why there is one).
//!
//! sqlparser limits its own recursion (`SQLPARSER_RECURSION_LIMIT` in the cursor), which
//! bounds parentheses, subqueries and prefix operators, but it builds operator chains in a
//! loop: `1 + 1 + ... + 1`, `a OR b OR ...`, `x::INT::INT...`, `a IS NULL IS NULL ...` and
//! `SELECT 1 UNION SELECT 1 ...` come out as left-deep trees as deep as the chain is long, and
//! so does an array type with many `[]`. Everything downstream recurses over those trees, the
//! derived `Clone`, `Drop` and `Debug` included, and even sqlparser drops a half-built tree
//! recursively when it fails further on. So [`check_tokens`] runs on the tokens before
//! sqlparser sees them, and [`check`] on the tree it returns:
//!
//! 1. [`depth_bound`] is an upper bound on the tree's depth, computed from the tokens: a
//!    bracket (or `CASE ... END`) opens a level, a comma (or `WHEN`, `THEN`, `ELSE` directly
//!    inside a `CASE`) starts a sibling, and every other token that is not a literal or a
//!    plain identifier may add a level. Above [`MAX_DEPTH_BOUND`] the statement is refused
//!    unparsed, so nothing sqlparser builds (or drops) is deeper than that;
//! 2. a run of more than [`MAX_BRACKET_RUN`] bracket groups (`INT[][]...`, `a[1][2]...`) is
//!    refused too, since the bound does not see those chains;
//! 3. [`check`] measures the parsed tree exactly — expressions, queries and the set
//!    operations of query bodies, nested in one another — with sqlparser's visitor, and
//!    refuses it above [`MAX_DEPTH`].
//!
//! Every refusal is SQLSTATE 54001, PostgreSQL's "stack depth limit exceeded".

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SetExpr, VisitMut, VisitorMut};
use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Token, TokenWithSpan};

use super::error::ParseError;

/// How deeply expressions, set operations and subqueries may nest in one statement: an `OR`
/// chain of this many terms is as deep. The planner clones syntax trees, and a derived
/// `Clone` of sqlparser's `Expr` takes about 3.5 KiB of stack per level in a debug build, so
/// this many levels fit in [`crate::stack::RED_ZONE`] with room to spare.
pub const MAX_DEPTH: usize = 200;

/// The largest [`depth_bound`] a statement may have before it is parsed. The bound counts
/// keywords and operators generously, so it is a multiple of [`MAX_DEPTH`]; a tree this deep
/// is still small enough to drop recursively.
pub const MAX_DEPTH_BOUND: usize = 20 * MAX_DEPTH;

/// How many bracket groups may follow one another (array dimensions, subscripts).
/// PostgreSQL allows six array dimensions.
pub const MAX_BRACKET_RUN: usize = 64;

/// PostgreSQL's message for a statement too deep to process.
const MESSAGE: &str = "stack depth limit exceeded";

/// Refuses `toks` (what sqlparser is about to parse) when the tree could nest too deeply.
/// `offset(i)` is the byte offset in `sql` of token `i`, for the error.
pub(crate) fn check_tokens(
    sql: &str,
    toks: &[TokenWithSpan],
    offset: impl Fn(usize) -> usize,
) -> Result<(), ParseError> {
    if let Some(i) = long_bracket_run(toks) {
        return Err(too_deep(
            sql,
            offset(i),
            format!(
                "At most {MAX_BRACKET_RUN} array dimensions or subscripts may follow one another."
            ),
        ));
    }
    if depth_bound(toks) > MAX_DEPTH_BOUND {
        return Err(too_deep(sql, offset(0), depth_hint()));
    }
    Ok(())
}

/// Refuses a parsed tree that nests deeper than [`MAX_DEPTH`]; `at` is the byte offset in
/// `sql` the error points at.
pub(crate) fn check<T: VisitMut>(ast: &mut T, sql: &str, at: usize) -> Result<(), ParseError> {
    let mut depth = Depth::default();
    match ast.visit(&mut depth) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(()) => Err(too_deep(sql, at, depth_hint())),
    }
}

/// The error for input nested too deeply (54001), with `hint` saying what the limit is.
pub(crate) fn too_deep(sql: &str, at: usize, hint: String) -> ParseError {
    ParseError::at(
        sql,
        at,
        base::errcode::STATEMENT_TOO_COMPLEX,
        MESSAGE.into(),
    )
    .with_hint(hint)
}

fn depth_hint() -> String {
    format!(
        "Expressions, set operations and subqueries may nest at most {MAX_DEPTH} levels deep; \
         a long chain of operators (a OR b OR ...) nests as deeply as it is long."
    )
}

/// What opened a level of [`depth_bound`].
#[derive(Clone, Copy, PartialEq)]
enum Opener {
    /// The statement itself.
    Statement,
    /// `(`, `[` or `{`.
    Bracket,
    /// `CASE`.
    Case,
}

/// An upper bound on the depth of the tree sqlparser builds from `toks`, in one pass.
///
/// Every node of a tree consumes a token of its own on its path from the root: an operator,
/// a keyword, an opening bracket. Nodes on one path are either inside one another's brackets
/// (a level per bracket) or in one chain at the same level; tokens after a comma at the same
/// level belong to a sibling, not to a descendant, of what came before it. So the bound at a
/// token is the number of open levels plus the tokens counted since each level's last comma,
/// and the bound of the statement is the largest of those.
pub(crate) fn depth_bound(toks: &[TokenWithSpan]) -> usize {
    let mut levels: Vec<(Opener, usize)> = vec![(Opener::Statement, 0)];
    let mut counted = 0usize;
    let mut deepest = 0usize;
    for t in toks {
        let inside = levels.last().map_or(Opener::Statement, |(o, _)| *o);
        match &t.token {
            Token::LParen | Token::LBracket | Token::LBrace => levels.push((Opener::Bracket, 0)),
            Token::RParen | Token::RBracket | Token::RBrace if inside == Opener::Bracket => {
                counted -= levels.pop().map_or(0, |(_, n)| n);
            }
            Token::Word(w) if w.keyword == Keyword::CASE => levels.push((Opener::Case, 0)),
            Token::Word(w) if w.keyword == Keyword::END && inside == Opener::Case => {
                counted -= levels.pop().map_or(0, |(_, n)| n);
            }
            Token::Comma | Token::SemiColon => restart(&mut levels, &mut counted),
            Token::Word(w)
                if inside == Opener::Case
                    && matches!(w.keyword, Keyword::WHEN | Keyword::THEN | Keyword::ELSE) =>
            {
                restart(&mut levels, &mut counted)
            }
            token if adds_level(token) => {
                if let Some((_, n)) = levels.last_mut() {
                    *n += 1;
                }
                counted += 1;
            }
            _ => {}
        }
        deepest = deepest.max(counted + levels.len());
    }
    deepest
}

/// A new sibling at the innermost level: what came before it at that level is no ancestor.
fn restart(levels: &mut [(Opener, usize)], counted: &mut usize) {
    if let Some((_, n)) = levels.last_mut() {
        *counted -= *n;
        *n = 0;
    }
}

/// Whether a token may stand for a node with children (literals, placeholders and plain
/// identifiers never do; a dotted name is one node).
fn adds_level(token: &Token) -> bool {
    !matches!(
        token,
        Token::Whitespace(_)
            | Token::EOF
            | Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::Placeholder(_)
            | Token::Period
    ) && !matches!(token, Token::Word(w) if w.keyword == Keyword::NoKeyword)
}

/// The index of the token that makes a run of bracket groups too long, if any.
fn long_bracket_run(toks: &[TokenWithSpan]) -> Option<usize> {
    let mut run = 0;
    let mut previous: Option<&Token> = None;
    for (i, t) in toks.iter().enumerate() {
        if matches!(t.token, Token::Whitespace(_)) {
            continue;
        }
        if t.token == Token::LBracket {
            run = if previous == Some(&Token::RBracket) {
                run + 1
            } else {
                0
            };
            if run >= MAX_BRACKET_RUN {
                return Some(i);
            }
        }
        previous = Some(&t.token);
    }
    None
}

/// Measures nesting: one level per expression, per query, and per set operation in a query's
/// body. Breaks as soon as [`MAX_DEPTH`] is exceeded.
#[derive(Default)]
struct Depth {
    depth: usize,
    /// The levels each open query added.
    queries: Vec<usize>,
}

impl Depth {
    fn enter(&mut self, levels: usize) -> ControlFlow<()> {
        self.depth += levels;
        if self.depth > MAX_DEPTH {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

impl VisitorMut for Depth {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let levels = 1 + set_operation_depth(&query.body);
        self.queries.push(levels);
        self.enter(levels)
    }

    fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
        let levels = self.queries.pop().unwrap_or(0);
        self.depth = self.depth.saturating_sub(levels);
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.enter(1)
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}

/// How deeply set operations nest in a query body, counted without recursion.
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(body, 0)];
    while let Some((set, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        if let SetExpr::SetOperation { left, right, .. } = set {
            stack.push((left, depth + 1));
            stack.push((right, depth + 1));
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    fn code(sql: &str) -> Option<&'static str> {
        parse(sql).err().map(|e| e.code().as_str())
    }

    #[test]
    fn long_chains_are_refused_not_overflowed() {
        // Each is a left-deep tree as deep as the chain is long: at 100,000 levels even
        // dropping it recursively would overflow the test thread's stack.
        let n = 100_000;
        for sql in [
            format!("SELECT 1{}", " + 1".repeat(n)),
            format!("SELECT 1{}", " IS NULL".repeat(n)),
            format!("SELECT 1{}", "::INT".repeat(n)),
            format!("SELECT true{}", " OR false".repeat(n)),
            format!("SELECT 1{}", " UNION SELECT 1".repeat(n)),
            format!("SELECT * FROM t WHERE a IN (SELECT 1{})", " + 1".repeat(n)),
            format!("SELECT 1{} FROM", " + 1".repeat(n)),
            format!("SELECT 1::INT{}", "[]".repeat(n)),
            format!("SELECT a{}", "[1]".repeat(n)),
            format!("SELECT {}1{}", "(".repeat(n), ")".repeat(n)),
        ] {
            assert_eq!(code(&sql), Some("54001"), "{:?}", sql.get(..40));
        }
    }

    #[test]
    fn chains_up_to_the_limit_parse() {
        let n = MAX_DEPTH - 10;
        assert_eq!(code(&format!("SELECT 1{}", " + 1".repeat(n))), None);
        assert_eq!(
            code(&format!("SELECT 1{}", " UNION SELECT 1".repeat(n))),
            None
        );
        assert_eq!(
            code(&format!("SELECT a{}", "[1]".repeat(MAX_BRACKET_RUN - 1))),
            None
        );
        let e = parse(&format!("SELECT 1{}", " + 1".repeat(MAX_DEPTH))).expect_err("deep");
        assert_eq!(e.error.message, "stack depth limit exceeded");
        assert_eq!(e.code().as_str(), "54001");
    }

    #[test]
    fn wide_statements_are_not_deep() {
        // Siblings do not add up: long lists, many rows, many CASE arms.
        let list = (0..50_000).map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(code(&format!("SELECT 1 IN ({})", list.join(", "))), None);
        let rows = (0..20_000).map(|i| format!("({i}, 'x' || 'y', -1)"));
        let rows = rows.collect::<Vec<_>>().join(", ");
        assert_eq!(code(&format!("INSERT INTO t VALUES {rows}")), None);
        let arms = (0..5_000).map(|i| format!("WHEN a = {i} THEN {i} + 1"));
        let arms = arms.collect::<Vec<_>>().join(" ");
        assert_eq!(code(&format!("SELECT CASE {arms} ELSE 0 END FROM t")), None);
    }

    #[test]
    fn parentheses_beyond_sqlparsers_limit_are_too_deep() {
        let e = parse(&format!("SELECT {}1{}", "(".repeat(100), ")".repeat(100)))
            .expect_err("too deep");
        assert_eq!(e.code().as_str(), "54001");
    }
}
