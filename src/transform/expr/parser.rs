//! The recursive-descent parser: Python's precedence (`or` < `and` < `not` < comparisons <
//! `+ -` < `* / // %` < unary `- +` < `**`), names checked against the [`Dialect`], errors
//! naming the column.

use crate::model::py::{float_of_str, int_of_str, Arith, Num};

use super::eval::{fold, BinOp, Func, Node};
use super::value::{Field, Val, Var};
use super::{Dialect, ParseError};

/// Levels of nesting (parentheses, calls, signs, `not`s) around an operand. The parser recurses
/// once per level, so a deeper text would overflow the stack of the thread loading the pipeline
/// (2 MiB for tokio's and the tests' threads) instead of being an error naming it. CPython stops
/// at 200 nested parentheses ("too many nested parentheses"); this is half that, which a debug
/// build's frames still fit in 2 MiB, and more than any real scale or arithmetic needs.
const MAX_NESTING: usize = 100;

/// Parse `text` into a tree (constants folded) and the `$(meter)` names in slot order.
pub(super) fn parse(text: &str, dialect: Dialect) -> Result<(Node, Vec<String>), ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut p = Parser {
        text,
        chars: &chars,
        pos: 0,
        dialect,
        meters: Vec::new(),
        depth: 0,
    };
    let root = p.or()?;
    p.skip_ws();
    if p.pos < chars.len() {
        return Err(p.error("unexpected text after the expression"));
    }
    Ok((root, p.meters))
}

struct Parser<'a> {
    text: &'a str,
    chars: &'a [char],
    pos: usize,
    dialect: Dialect,
    meters: Vec<String>,
    /// Nesting of the operand being parsed (see [`MAX_NESTING`]).
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, problem: impl Into<String>) -> ParseError {
        ParseError {
            text: self.text.to_owned(),
            column: self.pos + 1,
            problem: problem.into(),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.chars.get(self.pos).copied()
    }

    /// Consume `s` if it comes next (symbols).
    fn eat(&mut self, s: &str) -> bool {
        self.skip_ws();
        let n = s.chars().count();
        if self.chars.len() >= self.pos + n
            && self.chars[self.pos..self.pos + n].iter().copied().eq(s.chars())
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// Consume the keyword `kw` if it comes next as a whole word.
    fn eat_keyword(&mut self, kw: &str) -> bool {
        self.skip_ws();
        let start = self.pos;
        if self.eat(kw) && !self.chars.get(self.pos).is_some_and(|c| is_ident(*c)) {
            return true;
        }
        self.pos = start;
        false
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut left = self.and()?;
        while self.eat_keyword("or") {
            let right = self.and()?;
            left = fold(Node::Or(Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut left = self.not()?;
        while self.eat_keyword("and") {
            let right = self.not()?;
            left = fold(Node::And(Box::new(left), Box::new(right)));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Node, ParseError> {
        if self.eat_keyword("not") {
            let inner = self.nested(Self::not)?;
            return Ok(fold(Node::Not(Box::new(inner))));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, ParseError> {
        let left = self.sum()?;
        let Some(op) = self.comparison_op() else {
            return Ok(left);
        };
        let right = self.sum()?;
        if self.comparison_op().is_some() {
            return Err(self.error("chained comparisons are not supported"));
        }
        Ok(fold(Node::Bin(op, Box::new(left), Box::new(right))))
    }

    fn comparison_op(&mut self) -> Option<BinOp> {
        for (s, op) in [
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ] {
            if self.eat(s) {
                return Some(op);
            }
        }
        None
    }

    fn sum(&mut self) -> Result<Node, ParseError> {
        let mut left = self.term()?;
        loop {
            let op = if self.eat("+") {
                BinOp::Arith(Arith::Add)
            } else if self.eat("-") {
                BinOp::Arith(Arith::Sub)
            } else {
                return Ok(left);
            };
            let right = self.term()?;
            left = fold(Node::Bin(op, Box::new(left), Box::new(right)));
        }
    }

    fn term(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        loop {
            // `**` is a power, not two multiplications: look for it before `*`.
            let save = self.pos;
            if self.eat("**") {
                self.pos = save;
                return Ok(left);
            }
            let op = if self.eat("*") {
                BinOp::Arith(Arith::Mul)
            } else if self.eat("//") {
                BinOp::Arith(Arith::FloorDiv)
            } else if self.eat("/") {
                BinOp::Arith(Arith::Div)
            } else if self.eat("%") {
                BinOp::Arith(Arith::Mod)
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = fold(Node::Bin(op, Box::new(left), Box::new(right)));
        }
    }

    /// Every operand is parsed here, so every recursion (a parenthesis, a call's arguments, a
    /// sign, an exponent) passes through [`Self::nested`].
    fn unary(&mut self) -> Result<Node, ParseError> {
        self.nested(Self::signed)
    }

    /// `f` one level deeper, or an error past [`MAX_NESTING`].
    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Result<Node, ParseError>) -> Result<Node, ParseError> {
        if self.depth > MAX_NESTING {
            return Err(self.error(format!("nested more than {MAX_NESTING} levels deep")));
        }
        self.depth += 1;
        let node = f(self);
        self.depth -= 1;
        node
    }

    fn signed(&mut self) -> Result<Node, ParseError> {
        if self.eat("-") {
            let inner = self.unary()?;
            return Ok(fold(Node::Neg(Box::new(inner))));
        }
        if self.eat("+") {
            let inner = self.unary()?;
            // Unary plus still insists on a number, as Python's does.
            return Ok(fold(Node::Bin(
                BinOp::Arith(Arith::Add),
                Box::new(Node::Const(Val::Num(Num::Int(0)))),
                Box::new(inner),
            )));
        }
        self.power()
    }

    fn power(&mut self) -> Result<Node, ParseError> {
        let base = self.primary()?;
        if self.eat("**") {
            // Right-associative, and the exponent may carry a sign: 2 ** -1.
            let exponent = self.unary()?;
            return Ok(fold(Node::Bin(
                BinOp::Arith(Arith::Pow),
                Box::new(base),
                Box::new(exponent),
            )));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        match self.peek() {
            None => Err(self.error("unexpected end of expression")),
            Some('(') => {
                self.pos += 1;
                let inner = self.or()?;
                if !self.eat(")") {
                    return Err(self.error("expected ')'"));
                }
                Ok(inner)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some('$') => self.meter_ref(),
            Some(c) if is_ident_start(c) => self.name(),
            Some(c) => Err(self.error(format!("unexpected character {c:?}"))),
        }
    }

    fn number(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        let mut is_float = false;
        while let Some(&c) = self.chars.get(self.pos) {
            if c.is_ascii_digit() || c == '_' {
                self.pos += 1;
            } else if c == '.' && !is_float {
                is_float = true;
                self.pos += 1;
            } else if (c == 'e' || c == 'E')
                && self
                    .chars
                    .get(self.pos + 1)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '-' || *d == '+')
            {
                is_float = true;
                self.pos += 2;
            } else {
                break;
            }
        }
        // Only digits, `_`, `.`, `e` and a sign were taken: `float()` and `int()` read them
        // as Python's literal syntax does (`_` only between digits).
        let literal: String = self.chars[start..self.pos].iter().collect();
        let value = if is_float {
            float_of_str(&literal).map(Num::Float)
        } else {
            int_of_str(&literal).map(Num::Int)
        };
        match value {
            Some(n) => Ok(Node::Const(Val::Num(n))),
            None => {
                self.pos = start;
                Err(self.error(format!("invalid number {literal:?}")))
            }
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.skip_ws();
        let start = self.pos;
        if !self.chars.get(self.pos).is_some_and(|c| is_ident_start(*c)) {
            return None;
        }
        while self.chars.get(self.pos).is_some_and(|c| is_ident(*c)) {
            self.pos += 1;
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    /// `.attr` and `['key']` after a field.
    fn path(&mut self) -> Result<Vec<Box<str>>, ParseError> {
        let mut path = Vec::new();
        loop {
            if self.eat(".") {
                match self.ident() {
                    Some(a) => path.push(a.into_boxed_str()),
                    None => return Err(self.error("expected an attribute name after '.'")),
                }
            } else if self.eat("[") {
                let key = self.string()?;
                if !self.eat("]") {
                    return Err(self.error("expected ']'"));
                }
                path.push(key.into_boxed_str());
            } else {
                return Ok(path);
            }
        }
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted key")),
        };
        self.pos += 1;
        let start = self.pos;
        while let Some(&c) = self.chars.get(self.pos) {
            if c == quote {
                let s = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                return Ok(s);
            }
            if c == '\\' {
                return Err(self.error("escapes in keys are not supported"));
            }
            self.pos += 1;
        }
        Err(self.error("unterminated string"))
    }

    fn field_var(&mut self, slot: usize, field_name: &str, start: usize) -> Result<Node, ParseError> {
        let Some(field) = Field::parse(field_name) else {
            self.pos = start;
            return Err(self.error(format!(
                "unknown name {field_name:?}: a sample has name, type, unit, volume, user_id, user_name, \
                 project_id, project_name, resource_id, timestamp, resource_metadata, source, id, \
                 monotonic_time"
            )));
        };
        let path = self.path()?;
        if !path.is_empty() && !field.has_attributes() {
            return Err(self.error(format!("{field_name} has no attributes")));
        }
        Ok(Node::Var(Var {
            slot,
            field,
            path: path.into_boxed_slice(),
        }))
    }

    fn name(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        let Some(name) = self.ident() else {
            return Err(self.error("expected a name"));
        };
        match name.as_str() {
            "True" => return Ok(Node::Const(Val::Bool(true))),
            "False" => return Ok(Node::Const(Val::Bool(false))),
            "None" => return Ok(Node::Const(Val::None)),
            _ => {}
        }
        let func = match name.as_str() {
            "abs" => Some(Func::Abs),
            "min" => Some(Func::Min),
            "max" => Some(Func::Max),
            _ => None,
        };
        if let Some(func) = func {
            if self.eat("(") {
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        args.push(self.or()?);
                        if self.eat(")") {
                            break;
                        }
                        if !self.eat(",") {
                            return Err(self.error("expected ',' or ')'"));
                        }
                    }
                }
                if args.is_empty() || (func == Func::Abs && args.len() != 1) {
                    return Err(self.error(format!("wrong number of arguments to {name}()")));
                }
                return Ok(fold(Node::Call(func, args)));
            }
        }
        if self.dialect == Dialect::Arithmetic {
            self.pos = start;
            return Err(self.error(format!(
                "unknown name {name:?}: arithmetic expressions refer to meters as $(meter.name)"
            )));
        }
        self.field_var(0, &name, start)
    }

    fn meter_ref(&mut self) -> Result<Node, ParseError> {
        let start = self.pos;
        if self.dialect == Dialect::Scale {
            return Err(self.error("$(meter) references are only allowed in arithmetic expressions"));
        }
        self.pos += 1;
        if self.chars.get(self.pos) != Some(&'(') {
            return Err(self.error("expected '(' after '$'"));
        }
        self.pos += 1;
        let name_start = self.pos;
        // Ceilometer's meter_name_re: [\w.-]+
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| is_ident(*c) || *c == '.' || *c == '-')
        {
            self.pos += 1;
        }
        let meter: String = self.chars[name_start..self.pos].iter().collect();
        if meter.is_empty() || self.chars.get(self.pos) != Some(&')') {
            self.pos = start;
            return Err(self.error("expected $(meter.name)"));
        }
        self.pos += 1;
        let found = self.meters.iter().position(|m| *m == meter);
        let slot = match found {
            Some(i) => i,
            None => {
                self.meters.push(meter);
                self.meters.len() - 1
            }
        };
        // `$(m)` alone means its volume; `$(m).field...` reads that field.
        let next_is_dot = self.chars.get(self.pos) == Some(&'.');
        if !next_is_dot {
            return Ok(Node::Var(Var {
                slot,
                field: Field::Volume,
                path: Box::new([]),
            }));
        }
        self.pos += 1;
        let field_start = self.pos;
        let Some(field) = self.ident() else {
            return Err(self.error("expected a field name after '.'"));
        };
        self.field_var(slot, &field, field_start)
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}
