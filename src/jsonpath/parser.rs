//! From tokens to the expression tree, with jsonpath-rw's PLY precedence reproduced exactly.
//!
//! jsonpath-rw-ext's LALR table resolves its conflicts by the declared precedence (lowest first:
//! `+ -`, `* /`, `,`, `..`, `.`, `|`, `&`, `where`, then `ID`) and by PLY's default (shift) where a
//! rule has no precedence. The consequences this parser reproduces with precedence climbing:
//! * Path operators are left-associative and `|` binds tighter than `.`: `a.b|c.d` is
//!   `a.(b|c).d`. `where` binds tightest, `..` loosest.
//! * A postfix `[...]` applies to the whole path expression on its left (`a.b|c[0]` is
//!   `(a.(b|c))[0]`), except right after an arithmetic operator, where it belongs to the right
//!   operand.
//! * Arithmetic operators bind looser than any path operator and, because their rule carries no
//!   precedence, all associate to the right at one level: `$.a * 10 * $.a + 2` is
//!   `$.a * (10 * ($.a + 2))`. A number literal ends its operand: `$.a * 2 .b` is `($.a * 2).b`.
//! * A single bare or quoted name used as an arithmetic operand is a string literal
//!   (`$.a + "_" + b` concatenates `"_"` and `"b"`), as in `p_jsonpath_operator_jsonpath`.
//! * In a filter, `&` after a plain path continues the path (an intersection, which jsonpath-rw
//!   never implemented); after a comparison it joins conditions.
//!
//! It does not evaluate anything; see `eval`.
//!
//! Limits: an expression nests at most [`MAX_NESTING`] levels (parentheses, filters, arithmetic)
//! and has at most [`MAX_TOKENS`] tokens, which bounds the depth of the tree (a chain or a union
//! is one level per operator). Parsing, evaluating and dropping the tree recurse once per level
//! on an ordinary worker stack; jsonpath-rw itself fails on such expressions with Python's
//! `RecursionError`. No shipped expression comes near either limit.

use fancy_regex::Regex;

use super::lexer::{tokenize, FilterOp, Tok, Token};
use super::pyre::{self, PyRegex, Template};
use super::JsonPathError;

/// The expression tree, close to jsonpath-rw's classes so that behaviour maps one to one.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Root,
    This,
    /// Named fields; a `*` among them means every key of an object.
    Fields(Vec<String>),
    Index(i64),
    Slice(Option<i64>, Option<i64>),
    Child(Box<Node>, Box<Node>),
    Descendants(Box<Node>, Box<Node>),
    Union(Box<Node>, Box<Node>),
    /// `a & b`: jsonpath-rw parses it but raises NotImplementedError when evaluating.
    Intersect,
    Where(Box<Node>, Box<Node>),
    Filter(Vec<Condition>),
    /// `` `sorted` `` (no keys) or `[/key,\key]`.
    Sorted(Vec<SortKey>),
    Len,
    Sub(Box<SubOp>),
    Split {
        sep: char,
        segment: usize,
        maxsplit: i64,
    },
    Operation(Box<Operand>, ArithOp, Box<Operand>),
}

#[derive(Debug, Clone)]
pub(crate) struct SortKey {
    pub path: Node,
    pub descending: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct SubOp {
    pub regex: PyRegex,
    pub template: Template,
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    Path(Node),
    Int(i64),
    Float(f64),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
}

/// One condition of a filter: a path that must match, optionally compared with a literal.
#[derive(Debug, Clone)]
pub(crate) struct Condition {
    pub target: Node,
    pub cmp: Option<(FilterOp, Literal)>,
}

#[derive(Debug, Clone)]
pub(crate) enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// `~` compiles its pattern once, here, instead of per message.
    Regex(PyRegex),
}

/// What a parse step produced: a path, or a number that only an arithmetic operator can use.
enum Parsed {
    Path(Node),
    Int(i64),
    Float(f64),
}

/// The reduce/shift decision of the rule waiting for its right operand.
#[derive(Clone, Copy)]
struct Pending {
    level: u8,
    right_assoc: bool,
}

impl Pending {
    /// Nothing pending, or an arithmetic rule (precedence 0, PLY's default "right"): everything
    /// shifts.
    const OPEN: Pending = Pending {
        level: 0,
        right_assoc: true,
    };

    fn continues_with(self, token_level: u8) -> bool {
        token_level > self.level || (token_level == self.level && self.right_assoc)
    }
}

/// Precedence levels of the PLY table (higher binds tighter); `[` has none (0).
const LEVEL_BRACKET: u8 = 0;

fn path_op_level(tok: &Tok) -> Option<u8> {
    match tok {
        Tok::DoubleDot => Some(4),
        Tok::Punct('.') => Some(5),
        Tok::Punct('|') => Some(6),
        Tok::Punct('&') => Some(7),
        Tok::Where => Some(8),
        _ => None,
    }
}

fn arith_op(tok: &Tok) -> Option<(ArithOp, u8)> {
    match tok {
        Tok::Punct('+') => Some((ArithOp::Add, 1)),
        Tok::Punct('-') => Some((ArithOp::Sub, 1)),
        Tok::Punct('*') => Some((ArithOp::Mul, 2)),
        _ => None,
    }
}

/// How deeply parentheses, filters and arithmetic may nest.
pub(crate) const MAX_NESTING: usize = 64;
/// How many tokens an expression may have (a bound on its tree's depth).
pub(crate) const MAX_TOKENS: usize = 1000;

pub(crate) fn parse(expr: &str) -> Result<Node, JsonPathError> {
    let toks = tokenize(expr)?;
    if let Some(t) = toks.get(MAX_TOKENS) {
        return Err(JsonPathError::new(
            expr,
            t.pos,
            format!("expression longer than {MAX_TOKENS} tokens"),
        ));
    }
    let mut p = Parser {
        expr,
        toks,
        i: 0,
        nesting: 0,
    };
    if p.toks.is_empty() {
        return Err(JsonPathError::new(expr, 0, "empty expression".to_string()));
    }
    let parsed = p.expr(Pending::OPEN)?;
    if let Some(t) = p.peek() {
        return Err(p.error_at(
            t.pos,
            format!("unexpected {} after a complete path", t.tok.describe()),
        ));
    }
    p.require_path(parsed, 0, "a number alone is not a path")
}

struct Parser<'e> {
    expr: &'e str,
    toks: Vec<Token>,
    i: usize,
    /// Recursion depth of `expr` and `conditions`, bounded by [`MAX_NESTING`].
    nesting: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn peek_tok(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn peek_tok_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.i + k).map(|t| &t.tok)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        if t.is_some() {
            self.i += 1;
        }
        t
    }

    /// Char offset of the current token, or the end of the expression.
    fn pos(&self) -> usize {
        self.peek().map_or_else(|| self.expr.chars().count(), |t| t.pos)
    }

    fn error_at(&self, pos: usize, message: String) -> JsonPathError {
        JsonPathError::new(self.expr, pos, message)
    }

    fn unexpected(&self, wanted: &str) -> JsonPathError {
        match self.peek() {
            Some(t) => self.error_at(t.pos, format!("expected {wanted}, found {}", t.tok.describe())),
            None => self.error_at(
                self.pos(),
                format!("expected {wanted}, found the end of the expression"),
            ),
        }
    }

    fn expect_punct(&mut self, c: char, wanted: &str) -> Result<(), JsonPathError> {
        if self.peek_tok() == Some(&Tok::Punct(c)) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(wanted))
        }
    }

    fn require_path(&self, parsed: Parsed, pos: usize, why: &str) -> Result<Node, JsonPathError> {
        match parsed {
            Parsed::Path(n) => Ok(n),
            Parsed::Int(_) | Parsed::Float(_) => Err(self.error_at(pos, why.to_string())),
        }
    }

    /// Run `f` one nesting level deeper, or fail past [`MAX_NESTING`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, JsonPathError>,
    ) -> Result<T, JsonPathError> {
        if self.nesting >= MAX_NESTING {
            return Err(self.error_at(
                self.pos(),
                format!("expression nested deeper than {MAX_NESTING} levels"),
            ));
        }
        self.nesting += 1;
        let r = f(self);
        self.nesting -= 1;
        r
    }

    /// Precedence climbing over the whole grammar; `pending` is the rule on our left.
    fn expr(&mut self, pending: Pending) -> Result<Parsed, JsonPathError> {
        self.nested(|p| p.expr_at_this_level(pending))
    }

    fn expr_at_this_level(&mut self, pending: Pending) -> Result<Parsed, JsonPathError> {
        let mut lhs = self.primary()?;
        while let Some(tok) = self.peek_tok() {
            let is_path = matches!(lhs, Parsed::Path(_));
            if let Some(level) = path_op_level(tok) {
                if !is_path || !pending.continues_with(level) {
                    break;
                }
                let op = self.next().map(|t| t.tok);
                let rhs_pos = self.pos();
                let rhs = self.expr(Pending {
                    level,
                    right_assoc: false,
                })?;
                let rhs = Box::new(self.require_path(rhs, rhs_pos, "expected a path, found a number")?);
                let Parsed::Path(left) = lhs else { break };
                let left = Box::new(left);
                lhs = Parsed::Path(match op {
                    Some(Tok::DoubleDot) => Node::Descendants(left, rhs),
                    Some(Tok::Punct('.')) => Node::Child(left, rhs),
                    Some(Tok::Punct('|')) => Node::Union(left, rhs),
                    Some(Tok::Punct('&')) => Node::Intersect,
                    _ => Node::Where(left, rhs),
                });
            } else if *tok == Tok::Punct('[') {
                if !is_path || !pending.continues_with(LEVEL_BRACKET) {
                    break;
                }
                let Parsed::Path(left) = lhs else { break };
                let right = self.postfix_bracket()?;
                lhs = Parsed::Path(Node::Child(Box::new(left), Box::new(right)));
            } else if let Some((op, level)) = arith_op(tok) {
                if !pending.continues_with(level) {
                    break;
                }
                let op_pos = self.pos();
                self.i += 1;
                let rhs = self.expr(Pending::OPEN)?;
                // The grammar pairs two literals only as NUMBER-NUMBER or FLOAT-FLOAT.
                if matches!(
                    (&lhs, &rhs),
                    (Parsed::Int(_), Parsed::Float(_)) | (Parsed::Float(_), Parsed::Int(_))
                ) {
                    return Err(self.error_at(
                        op_pos,
                        "an integer and a decimal literal cannot be combined (write both as decimals)"
                            .to_string(),
                    ));
                }
                lhs = Parsed::Path(Node::Operation(
                    Box::new(operand(lhs)),
                    op,
                    Box::new(operand(rhs)),
                ));
            } else {
                break;
            }
        }
        Ok(lhs)
    }

    fn primary(&mut self) -> Result<Parsed, JsonPathError> {
        let Some(t) = self.next() else {
            return Err(self.unexpected("a path"));
        };
        let node = match t.tok {
            Tok::Punct('$') => Node::Root,
            Tok::Punct('@') => Node::This,
            Tok::Punct('*') => Node::Fields(vec!["*".to_string()]),
            Tok::Id(name) => Node::Fields(self.more_fields(name)?),
            Tok::Int(i) => return Ok(Parsed::Int(i)),
            Tok::Float(f) => return Ok(Parsed::Float(f)),
            Tok::Named(op) => named_operator(self.expr, t.pos, &op)?,
            Tok::Punct('(') => {
                let inner_pos = self.pos();
                let inner = self.expr(Pending::OPEN)?;
                let inner = self.require_path(inner, inner_pos, "a number alone is not a path")?;
                self.expect_punct(')', "`)`")?;
                inner
            }
            Tok::Punct('[') => {
                self.i -= 1;
                self.bracket(false)?
            }
            other => {
                return Err(self.error_at(t.pos, format!("expected a path, found {}", other.describe())));
            }
        };
        Ok(Parsed::Path(node))
    }

    /// `fields : fields ',' fields`: commas bind to the name right before them.
    fn more_fields(&mut self, first: String) -> Result<Vec<String>, JsonPathError> {
        let mut names = vec![first];
        while self.peek_tok() == Some(&Tok::Punct(',')) {
            self.i += 1;
            match self.next() {
                Some(Token { tok: Tok::Id(n), .. }) => names.push(n),
                _ => {
                    self.i -= 1;
                    return Err(self.unexpected("a field name after `,`"));
                }
            }
        }
        Ok(names)
    }

    /// `[...]` after a path: index, slice, field names, filter or sort.
    fn postfix_bracket(&mut self) -> Result<Node, JsonPathError> {
        self.bracket(true)
    }

    fn bracket(&mut self, postfix: bool) -> Result<Node, JsonPathError> {
        let open = self.pos();
        self.expect_punct('[', "`[`")?;
        let node = match self.peek_tok() {
            Some(Tok::Punct('?')) if postfix => {
                self.i += 1;
                Node::Filter(self.conditions()?)
            }
            Some(Tok::SortDir { .. }) if postfix => Node::Sorted(self.sort_keys()?),
            Some(Tok::Punct('*')) if self.peek_tok_at(1) == Some(&Tok::Punct(']')) => {
                self.i += 1;
                Node::Slice(None, None)
            }
            Some(Tok::Id(_)) => {
                let Some(Token {
                    tok: Tok::Id(first), ..
                }) = self.next()
                else {
                    return Err(self.unexpected("a field name"));
                };
                Node::Fields(self.more_fields(first)?)
            }
            Some(Tok::Int(_)) | Some(Tok::Punct(':')) => {
                let start = self.maybe_int();
                if self.peek_tok() == Some(&Tok::Punct(':')) {
                    self.i += 1;
                    let end = self.maybe_int();
                    Node::Slice(start, end)
                } else {
                    match start {
                        Some(i) => Node::Index(i),
                        None => return Err(self.unexpected("an index")),
                    }
                }
            }
            _ if !postfix => {
                return Err(self.unexpected(
                    "an index, a slice or field names (filters and sorts need a path on their left)",
                ))
            }
            _ => return Err(self.unexpected("an index, a slice, field names, a filter `?` or a sort `/`")),
        };
        if self.peek_tok() != Some(&Tok::Punct(']')) {
            return Err(match self.peek() {
                Some(t) => self.error_at(t.pos, format!("expected `]`, found {}", t.tok.describe())),
                None => self.error_at(open, "unbalanced `[`: missing `]`".to_string()),
            });
        }
        self.i += 1;
        Ok(node)
    }

    fn maybe_int(&mut self) -> Option<i64> {
        if let Some(Tok::Int(i)) = self.peek_tok() {
            let i = *i;
            self.i += 1;
            Some(i)
        } else {
            None
        }
    }

    /// `expressions : expression | expressions '&' expressions | '(' expressions ')'`.
    fn conditions(&mut self) -> Result<Vec<Condition>, JsonPathError> {
        self.nested(Self::conditions_at_this_level)
    }

    fn conditions_at_this_level(&mut self) -> Result<Vec<Condition>, JsonPathError> {
        let mut out = Vec::new();
        loop {
            self.condition_group(&mut out)?;
            if self.peek_tok() == Some(&Tok::Punct('&')) {
                self.i += 1;
            } else {
                return Ok(out);
            }
        }
    }

    fn condition_group(&mut self, out: &mut Vec<Condition>) -> Result<(), JsonPathError> {
        if self.peek_tok() == Some(&Tok::Punct('(')) {
            // LALR keeps both readings of `(` open: a parenthesized path wins when the content is
            // a path closed by `)`, otherwise it is a group of conditions.
            let save = self.i;
            if let Ok(cond) = self.condition() {
                out.push(cond);
                return Ok(());
            }
            self.i = save + 1;
            out.extend(self.conditions()?);
            return self.expect_punct(')', "`)` closing the filter group");
        }
        let cond = self.condition()?;
        out.push(cond);
        Ok(())
    }

    fn condition(&mut self) -> Result<Condition, JsonPathError> {
        let pos = self.pos();
        let target = self.expr(Pending::OPEN)?;
        let target = self.require_path(target, pos, "a filter needs a path on the left of its operator")?;
        let cmp = if let Some(Tok::FilterOp(op)) = self.peek_tok() {
            let op = *op;
            self.i += 1;
            let value_pos = self.pos();
            let value = match self.next().map(|t| t.tok) {
                Some(Tok::Id(s)) if op == FilterOp::Regex => Literal::Regex(
                    pyre::compile(&s)
                        .map_err(|m| self.error_at(value_pos, format!("bad regex `{s}`: {m}")))?,
                ),
                Some(Tok::Id(s)) => Literal::Str(s),
                Some(_) if op == FilterOp::Regex => {
                    return Err(self.error_at(value_pos, "`~` needs a regex string on its right".to_string()));
                }
                Some(Tok::Int(i)) => Literal::Int(i),
                Some(Tok::Float(f)) => Literal::Float(f),
                Some(Tok::Bool(b)) => Literal::Bool(b),
                _ => {
                    self.i = self.i.saturating_sub(1);
                    return Err(self.unexpected("a value (name, string, number, true or false)"));
                }
            };
            Some((op, value))
        } else {
            None
        };
        Ok(Condition { target, cmp })
    }

    /// `sorts : sort | sorts sorts`, `sort : SORT_DIRECTION jsonpath`.
    fn sort_keys(&mut self) -> Result<Vec<SortKey>, JsonPathError> {
        let mut keys = Vec::new();
        while let Some(Tok::SortDir { descending }) = self.peek_tok() {
            let descending = *descending;
            self.i += 1;
            let pos = self.pos();
            let path = self.expr(Pending::OPEN)?;
            let path = self.require_path(path, pos, "a sort key must be a path")?;
            keys.push(SortKey { path, descending });
        }
        Ok(keys)
    }
}

fn operand(p: Parsed) -> Operand {
    match p {
        Parsed::Int(i) => Operand::Int(i),
        Parsed::Float(f) => Operand::Float(f),
        // ext prefers a string to a field when the choice exists (`$.foo + bar` appends "bar").
        Parsed::Path(Node::Fields(mut names)) if names.len() == 1 => Operand::Str(names.remove(0)),
        Parsed::Path(n) => Operand::Path(n),
    }
}

/// The backquoted operators jsonpath-rw and jsonpath-rw-ext know.
fn named_operator(expr: &str, pos: usize, op: &str) -> Result<Node, JsonPathError> {
    let err = |m: String| JsonPathError::new(expr, pos, m);
    match op {
        "this" => return Ok(Node::This),
        "len" => return Ok(Node::Len),
        "sorted" => return Ok(Node::Sorted(Vec::new())),
        "parent" => return Err(err("`parent` is not supported by ceilo".to_string())),
        _ => {}
    }
    if op.starts_with("split(") {
        return parse_split(op).ok_or_else(|| {
            err(format!(
                "`{op}` is not valid: expected `split(<one char>, <segment>, <maxsplit or -1>)`"
            ))
        });
    }
    if op.starts_with("sub(") {
        return parse_sub(op).map_err(err);
    }
    if op.starts_with("str(") {
        // jsonpath-ng has `str()`; jsonpath-rw-ext 1.2.2, which Ceilometer uses, rejects it.
        return Err(err(format!(
            "unknown named operator `{op}` (`str()` is jsonpath-ng's; \
             Ceilometer's jsonpath-rw-ext has no such operator)"
        )));
    }
    Err(err(format!("unknown named operator `{op}`")))
}

/// ext's `split\((.),\s+(\d+),\s+(\d+|-1)\)`, matched at the start only.
fn parse_split(op: &str) -> Option<Node> {
    static SPLIT: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let re = SPLIT
        .get_or_init(|| Regex::new(r"^split\((.),\s+([0-9]+),\s+([0-9]+|-1)\)").ok())
        .as_ref()?;
    let caps = re.captures(op).ok()??;
    let sep = caps.get(1)?.as_str().chars().next()?;
    let segment = caps.get(2)?.as_str().parse().ok()?;
    let maxsplit = caps.get(3)?.as_str().parse().ok()?;
    Some(Node::Split {
        sep,
        segment,
        maxsplit,
    })
}

/// ext's `sub\(/(.*)/,\s+(.*)\)` (greedy, start-anchored), both parts stripped.
fn parse_sub(op: &str) -> Result<Node, String> {
    static SUB: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
    let invalid = || format!("`{op}` is not valid: expected `sub(/<regex>/, <replacement>)`");
    let re = SUB
        .get_or_init(|| Regex::new(r"^sub\(/(.*)/,\s+(.*)\)").ok())
        .as_ref()
        .ok_or_else(invalid)?;
    let caps = re.captures(op).ok().flatten().ok_or_else(invalid)?;
    let pattern = caps.get(1).map_or("", |m| m.as_str()).trim();
    let repl = caps.get(2).map_or("", |m| m.as_str()).trim();
    let regex = pyre::compile(pattern).map_err(|m| format!("bad regex `{pattern}` in `{op}`: {m}"))?;
    let template =
        Template::parse(repl, &regex).map_err(|m| format!("bad replacement `{repl}` in `{op}`: {m}"))?;
    Ok(Node::Sub(Box::new(SubOp { regex, template })))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of the tree, to state shapes in one line.
    fn show(n: &Node) -> String {
        let bin = |op: &str, l: &Node, r: &Node| format!("({} {op} {})", show(l), show(r));
        match n {
            Node::Root => "$".into(),
            Node::This => "@".into(),
            Node::Fields(f) => f.join(","),
            Node::Index(i) => format!("[{i}]"),
            Node::Slice(a, b) => format!(
                "[{}:{}]",
                a.map_or(String::new(), |v| v.to_string()),
                b.map_or(String::new(), |v| v.to_string())
            ),
            Node::Child(l, r) => bin(".", l, r),
            Node::Descendants(l, r) => bin("..", l, r),
            Node::Union(l, r) => bin("|", l, r),
            Node::Intersect => "&".into(),
            Node::Where(l, r) => bin("where", l, r),
            Node::Filter(c) => format!("[?{}]", c.len()),
            Node::Sorted(k) => format!("sorted{}", k.len()),
            Node::Len => "len".into(),
            Node::Sub(_) => "sub".into(),
            Node::Split {
                sep,
                segment,
                maxsplit,
            } => format!("split({sep},{segment},{maxsplit})"),
            Node::Operation(l, op, r) => {
                let o = |x: &Operand| match x {
                    Operand::Path(p) => show(p),
                    Operand::Int(i) => i.to_string(),
                    Operand::Float(f) => format!("{f:?}"),
                    Operand::Str(s) => format!("'{s}'"),
                };
                let op = match op {
                    ArithOp::Add => "+",
                    ArithOp::Sub => "-",
                    ArithOp::Mul => "*",
                };
                format!("{{{} {op} {}}}", o(l), o(r))
            }
        }
    }

    fn tree(expr: &str) -> String {
        show(&parse(expr).unwrap_or_else(|e| panic!("{e}")))
    }

    #[test]
    fn path_operators_follow_the_ply_precedence_table() {
        assert_eq!(tree("$.a.b"), "(($ . a) . b)");
        assert_eq!(
            tree("ctxt.user_id|ctxt.user"),
            "((ctxt . (user_id | ctxt)) . user)"
        );
        assert_eq!(tree("a..b.c"), "(a .. (b . c))");
        assert_eq!(tree("a.b where c.d"), "((a . (b where c)) . d)");
        assert_eq!(tree("(a.b)|(c.d)"), "((a . b) | (c . d))");
        assert_eq!(tree("a.b,c"), "(a . b,c)");
    }

    #[test]
    fn brackets_take_the_whole_left_path_except_after_arithmetic() {
        assert_eq!(tree("a.b|c[0]"), "((a . (b | c)) . [0])");
        assert_eq!(tree("a[0].b"), "((a . [0]) . b)");
        assert_eq!(tree("a.[*].b"), "((a . [:]) . b)");
        assert_eq!(tree("$.a * $.b[0]"), "{($ . a) * (($ . b) . [0])}");
    }

    #[test]
    fn arithmetic_is_right_associative_and_loosest() {
        assert_eq!(tree("$.a * 10 * $.a + 2"), "{($ . a) * {10 * {($ . a) + 2}}}");
        assert_eq!(tree("$.a.b * 100"), "{(($ . a) . b) * 100}");
        assert_eq!(tree("$.a * 2 .b"), "({($ . a) * 2} . b)");
        assert_eq!(tree("$.a * 2 * 3 .b"), "{($ . a) * ({2 * 3} . b)}");
        assert_eq!(tree(r#"$.h + "_" + $.n"#), "{($ . h) + {'_' + ($ . n)}}");
        assert_eq!(tree("foo * 3"), "{'foo' * 3}");
        assert_eq!(tree("0.5 - x.y"), "{0.5 - (x . y)}");
    }

    #[test]
    fn filters_sorts_and_named_operators() {
        assert_eq!(tree("a[?(@.n='x')].v"), "((a . [?1]) . v)");
        assert_eq!(tree("a[?n=x & m>1 & (k)]"), "(a . [?3])");
        assert_eq!(tree("a[?(n=1 & (m=2))]"), "(a . [?2])");
        assert_eq!(tree(r"a[/x,\y]"), "(a . sorted2)");
        assert_eq!(tree("a.`split(#, 0, 1)`"), "(a . split(#,0,1))");
        assert_eq!(tree("a.`sub(/.*/, )`"), "(a . sub)");
        assert_eq!(tree("`this`.`len`.`sorted`"), "((@ . len) . sorted0)");
        // In a filter a `&` right after a path continues the path (jsonpath-rw's Intersect).
        assert_eq!(tree("a[?b & c]"), "(a . [?1])");
    }
}
