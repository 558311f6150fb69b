//! The Python expression subset that Ceilometer's `scale` and `arithmetic` parameters use,
//! compiled once at load time into a tree that is evaluated per sample.
//!
//! Ceilometer `eval()`ed these strings against a `Namespace` of the sample's fields. ceilo
//! accepts what those configurations actually contain: numbers, `+ - * / // % **`, unary
//! `- +`, parentheses, `or`/`and`/`not`, comparisons, attribute access and `['key']`
//! subscripts on sample fields (`resource_metadata.cpu_number`), `$(meter)` references
//! (arithmetic only) and, as a ceilo extension, `abs()`, `min()` and `max()`. Numbers follow
//! Python 3: `int` stays `int` through `+ - * // % **`, `/` is always a float, and a missing
//! field reads as a falsy value, as Ceilometer's `Namespace` made it.
//! It deliberately does not parse per sample, and offers nothing beyond that subset.

use std::cmp::Ordering;

use crate::model::py::{float_of_str, int_of_str, ArithError, Num};
use crate::model::{OwnedValue, Sample};
use simd_json::prelude::*;

/// A value during evaluation.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Num(Num),
    Bool(bool),
    Str(String),
    /// A missing field, JSON null, or an empty object: all falsy, none a number.
    None,
    /// A non-empty object or array: truthy, but no arithmetic.
    Opaque,
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Val::Num(n) => n.truthy(),
            Val::Bool(b) => *b,
            Val::Str(s) => !s.is_empty(),
            Val::None => false,
            Val::Opaque => true,
        }
    }

    fn num(&self) -> Result<Num, EvalError> {
        match self {
            Val::Num(n) => Ok(*n),
            Val::Bool(b) => Ok(Num::Int(i128::from(*b))),
            Val::Str(s) => Err(EvalError(format!("not a number: {s:?}"))),
            Val::None => Err(EvalError("not a number: a missing field".into())),
            Val::Opaque => Err(EvalError("not a number: an object".into())),
        }
    }

    fn from_json(v: &OwnedValue) -> Val {
        if let Some(b) = v.as_bool() {
            return Val::Bool(b);
        }
        if let Some(n) = Num::of_owned(v) {
            return Val::Num(n);
        }
        if let Some(s) = v.as_str() {
            return Val::Str(s.to_owned());
        }
        if let Some(o) = v.as_object() {
            return if o.is_empty() { Val::None } else { Val::Opaque };
        }
        if let Some(a) = v.as_array() {
            return if a.is_empty() { Val::None } else { Val::Opaque };
        }
        Val::None
    }
}

/// Why an expression could not be evaluated for one sample (the sample is then dropped, as
/// Ceilometer dropped it when `eval` raised).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

/// Why an expression does not compile: the column (1-based, in characters) and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expression {text:?}, column {column}: {problem}")]
pub struct ParseError {
    pub text: String,
    pub column: usize,
    pub problem: String,
}

/// A field of a sample, as `Sample.as_dict()` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Name,
    Type,
    Unit,
    Volume,
    UserId,
    UserName,
    ProjectId,
    ProjectName,
    ResourceId,
    Timestamp,
    ResourceMetadata,
    Source,
    Id,
    MonotonicTime,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        Some(match name {
            "name" => Field::Name,
            "type" => Field::Type,
            "unit" => Field::Unit,
            "volume" => Field::Volume,
            "user_id" => Field::UserId,
            "user_name" => Field::UserName,
            "project_id" => Field::ProjectId,
            "project_name" => Field::ProjectName,
            "resource_id" => Field::ResourceId,
            "timestamp" => Field::Timestamp,
            "resource_metadata" => Field::ResourceMetadata,
            "source" => Field::Source,
            "id" => Field::Id,
            "monotonic_time" => Field::MonotonicTime,
            _ => return None,
        })
    }

    fn read(self, s: &Sample) -> Val {
        match self {
            Field::Name => Val::Str(s.name.to_string()),
            Field::Type => Val::Str(s.sample_type.to_string()),
            Field::Unit => Val::Str(s.unit.to_string()),
            Field::Source => Val::Str(s.source.to_string()),
            Field::Id => Val::Str(s.id.clone()),
            Field::Volume => Val::from_json(&s.volume),
            Field::UserId => Val::from_json(&s.user_id),
            Field::UserName => Val::from_json(&s.user_name),
            Field::ProjectId => Val::from_json(&s.project_id),
            Field::ProjectName => Val::from_json(&s.project_name),
            Field::ResourceId => Val::from_json(&s.resource_id),
            Field::Timestamp => Val::from_json(&s.timestamp),
            Field::ResourceMetadata => Val::from_json(&s.resource_metadata),
            Field::MonotonicTime => Val::from_json(&s.monotonic_time),
        }
    }

    fn json(self, s: &Sample) -> Option<&OwnedValue> {
        match self {
            Field::ResourceMetadata => Some(&s.resource_metadata),
            Field::Volume => Some(&s.volume),
            Field::UserId => Some(&s.user_id),
            Field::ProjectId => Some(&s.project_id),
            Field::ResourceId => Some(&s.resource_id),
            _ => None,
        }
    }
}

/// A reference to a field of one of the samples in scope: slot 0 for `scale`, the meter's
/// slot for `$(meter)` in `arithmetic`; `path` walks into nested objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Var {
    pub slot: usize,
    pub field: Field,
    pub path: Box<[Box<str>]>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Abs,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Const(Val),
    Var(Var),
    Neg(Box<Node>),
    Not(Box<Node>),
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

/// Which names an expression may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `scale`: the sample's own fields by name (`volume`, `resource_metadata.x`).
    Scale,
    /// `arithmetic`: only `$(meter)` references.
    Arithmetic,
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    root: Node,
    /// In `Arithmetic`, the referenced meter names in order of first appearance (slot order).
    meters: Vec<String>,
}

impl Expr {
    /// Compile `text`; never evaluated from text again.
    pub fn compile(text: &str, dialect: Dialect) -> Result<Expr, ParseError> {
        let chars: Vec<char> = text.chars().collect();
        let mut p = Parser {
            text,
            chars: &chars,
            pos: 0,
            dialect,
            meters: Vec::new(),
        };
        let root = p.or()?;
        p.skip_ws();
        if p.pos < chars.len() {
            return Err(p.error("unexpected text after the expression"));
        }
        Ok(Expr {
            root,
            meters: p.meters,
        })
    }

    /// A constant, e.g. rate_of_change's default scale `'1'`.
    pub fn constant(n: Num) -> Expr {
        Expr {
            root: Node::Const(Val::Num(n)),
            meters: Vec::new(),
        }
    }

    /// The `$(meter)` names, in slot order.
    pub fn meters(&self) -> &[String] {
        &self.meters
    }

    /// Evaluate against the samples in `slots` (one for `scale`, one per meter for arithmetic).
    pub fn eval(&self, slots: &[&Sample]) -> Result<Val, EvalError> {
        eval(&self.root, slots)
    }

    /// Evaluate to a number, as the sample's new volume needs.
    pub fn eval_num(&self, slots: &[&Sample]) -> Result<Num, EvalError> {
        self.eval(slots)?.num()
    }
}

fn lookup(var: &Var, slots: &[&Sample]) -> Val {
    let Some(sample) = slots.get(var.slot) else {
        return Val::None;
    };
    if var.path.is_empty() {
        return var.field.read(sample);
    }
    let Some(mut v) = var.field.json(sample) else {
        return Val::None;
    };
    for key in var.path.iter() {
        match v.as_object().and_then(|o| o.get(&**key)) {
            Some(next) => v = next,
            None => return Val::None,
        }
    }
    Val::from_json(v)
}

fn eval(node: &Node, slots: &[&Sample]) -> Result<Val, EvalError> {
    Ok(match node {
        Node::Const(v) => v.clone(),
        Node::Var(var) => lookup(var, slots),
        Node::Neg(a) => Val::Num(-eval(a, slots)?.num()?),
        Node::Not(a) => Val::Bool(!eval(a, slots)?.truthy()),
        Node::Or(a, b) => {
            let left = eval(a, slots)?;
            if left.truthy() {
                left
            } else {
                eval(b, slots)?
            }
        }
        Node::And(a, b) => {
            let left = eval(a, slots)?;
            if !left.truthy() {
                left
            } else {
                eval(b, slots)?
            }
        }
        Node::Bin(op, a, b) => binop(*op, &eval(a, slots)?, &eval(b, slots)?)?,
        Node::Call(f, args) => {
            let mut nums = Vec::with_capacity(args.len());
            for a in args {
                nums.push(eval(a, slots)?.num()?);
            }
            Val::Num(call(*f, &nums)?)
        }
    })
}

fn call(f: Func, args: &[Num]) -> Result<Num, EvalError> {
    match f {
        Func::Abs => match args {
            [n] => Ok(n.abs()),
            _ => Err(EvalError("abs() takes exactly one argument".into())),
        },
        Func::Min | Func::Max => {
            let mut it = args.iter().copied();
            let mut best = it
                .next()
                .ok_or_else(|| EvalError("min()/max() need at least one argument".into()))?;
            for n in it {
                // Python keeps the first of equal values.
                let better = if f == Func::Min {
                    n.py_lt(best)
                } else {
                    best.py_lt(n)
                };
                if better {
                    best = n;
                }
            }
            Ok(best)
        }
    }
}

fn binop(op: BinOp, a: &Val, b: &Val) -> Result<Val, EvalError> {
    if matches!(op, BinOp::Eq | BinOp::Ne) {
        let equal = match (a, b) {
            (Val::Str(x), Val::Str(y)) => x == y,
            (Val::None, Val::None) => true,
            _ => match (a.num(), b.num()) {
                (Ok(x), Ok(y)) => x.py_eq(y),
                _ => false,
            },
        };
        return Ok(Val::Bool(equal == (op == BinOp::Eq)));
    }
    let (x, y) = (a.num()?, b.num()?);
    let order = x.py_cmp(y);
    Ok(match op {
        BinOp::Lt => Val::Bool(order == Some(Ordering::Less)),
        BinOp::Gt => Val::Bool(order == Some(Ordering::Greater)),
        BinOp::Le => Val::Bool(matches!(order, Some(Ordering::Less | Ordering::Equal))),
        BinOp::Ge => Val::Bool(matches!(order, Some(Ordering::Greater | Ordering::Equal))),
        _ => Val::Num(arith(op, x, y)?),
    })
}

/// Python 3 arithmetic ([`Num`]); what Python raises drops the sample.
fn arith(op: BinOp, x: Num, y: Num) -> Result<Num, EvalError> {
    Ok(match op {
        BinOp::Add => x + y,
        BinOp::Sub => x - y,
        BinOp::Mul => x * y,
        BinOp::Div => x.truediv(y)?,
        BinOp::FloorDiv => x.floordiv(y)?,
        BinOp::Mod => x.modulo(y)?,
        BinOp::Pow => x.pow(y)?,
        _ => unreachable!("comparisons are handled by binop"),
    })
}

impl From<ArithError> for EvalError {
    fn from(e: ArithError) -> EvalError {
        EvalError(e.to_string())
    }
}

struct Parser<'a> {
    text: &'a str,
    chars: &'a [char],
    pos: usize,
    dialect: Dialect,
    meters: Vec<String>,
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
            let inner = self.not()?;
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
                BinOp::Add
            } else if self.eat("-") {
                BinOp::Sub
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
                BinOp::Mul
            } else if self.eat("//") {
                BinOp::FloorDiv
            } else if self.eat("/") {
                BinOp::Div
            } else if self.eat("%") {
                BinOp::Mod
            } else {
                return Ok(left);
            };
            let right = self.unary()?;
            left = fold(Node::Bin(op, Box::new(left), Box::new(right)));
        }
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.eat("-") {
            let inner = self.unary()?;
            return Ok(fold(Node::Neg(Box::new(inner))));
        }
        if self.eat("+") {
            let inner = self.unary()?;
            // Unary plus still insists on a number, as Python's does.
            return Ok(fold(Node::Bin(
                BinOp::Add,
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
            return Ok(fold(Node::Bin(BinOp::Pow, Box::new(base), Box::new(exponent))));
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

impl Field {
    /// Whether `.attr` can follow: only the JSON-valued fields hold objects.
    fn has_attributes(self) -> bool {
        matches!(
            self,
            Field::ResourceMetadata | Field::Volume | Field::UserId | Field::ProjectId | Field::ResourceId
        )
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Fold a node whose operands are all constants (e.g. `10**9`) into one constant; an
/// operation that would fail at run time is left for run time to report per sample.
fn fold(node: Node) -> Node {
    let constant = match &node {
        Node::Neg(a) | Node::Not(a) => matches!(**a, Node::Const(_)),
        Node::Or(a, b) | Node::And(a, b) | Node::Bin(_, a, b) => {
            matches!(**a, Node::Const(_)) && matches!(**b, Node::Const(_))
        }
        Node::Call(_, args) => args.iter().all(|a| matches!(a, Node::Const(_))),
        Node::Const(_) | Node::Var(_) => false,
    };
    if constant {
        if let Ok(v) = eval(&node, &[]) {
            return Node::Const(v);
        }
    }
    node
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn sample(volume: OwnedValue, metadata: OwnedValue) -> Sample {
        Sample {
            name: Arc::from("cpu"),
            sample_type: Arc::from("cumulative"),
            unit: Arc::from("ns"),
            volume,
            user_id: OwnedValue::from("u"),
            user_name: OwnedValue::null(),
            project_id: OwnedValue::from("p"),
            project_name: OwnedValue::null(),
            resource_id: OwnedValue::from("r"),
            timestamp: OwnedValue::from("2024-01-01T00:00:00"),
            resource_metadata: Arc::new(metadata),
            source: Arc::from("openstack"),
            id: "id".into(),
            monotonic_time: OwnedValue::null(),
        }
    }

    fn eval_scale(text: &str, s: &Sample) -> Result<Val, EvalError> {
        Expr::compile(text, Dialect::Scale).unwrap().eval(&[s])
    }

    fn md(json: &str) -> OwnedValue {
        let mut b = json.as_bytes().to_vec();
        simd_json::to_owned_value(&mut b).unwrap()
    }

    #[test]
    fn python_number_semantics() {
        let s = sample(OwnedValue::from(2048), md("{}"));
        assert_eq!(
            eval_scale("volume * 1.0 / 1024", &s),
            Ok(Val::Num(Num::Float(2.0)))
        );
        assert_eq!(eval_scale("volume / 1024", &s), Ok(Val::Num(Num::Float(2.0))));
        assert_eq!(eval_scale("volume * 2", &s), Ok(Val::Num(Num::Int(4096))));
        assert_eq!(eval_scale("volume // 1000", &s), Ok(Val::Num(Num::Int(2))));
        assert_eq!(eval_scale("-7 // 2", &s), Ok(Val::Num(Num::Int(-4))));
        assert_eq!(eval_scale("-7 % 3", &s), Ok(Val::Num(Num::Int(2))));
        assert_eq!(eval_scale("7 % -3", &s), Ok(Val::Num(Num::Int(-2))));
        assert_eq!(eval_scale("2 ** 3 ** 2", &s), Ok(Val::Num(Num::Int(512))));
        assert_eq!(eval_scale("-2 ** 2", &s), Ok(Val::Num(Num::Int(-4))));
        assert_eq!(eval_scale("2 ** -1", &s), Ok(Val::Num(Num::Float(0.5))));
        assert_eq!(eval_scale("10**9", &s), Ok(Val::Num(Num::Int(1_000_000_000))));
        assert_eq!(eval_scale("1e3 + .5", &s), Ok(Val::Num(Num::Float(1000.5))));
        assert_eq!(eval_scale("max(1, volume, 3)", &s), Ok(Val::Num(Num::Int(2048))));
        assert_eq!(eval_scale("volume > 1 and 5", &s), Ok(Val::Num(Num::Int(5))));
        assert!(eval_scale("volume / 0", &s).is_err());
    }

    #[test]
    fn cpu_util_scale_with_and_without_cpu_number() {
        let text = "100.0 / (10**9 * (resource_metadata.cpu_number or 1))";
        let e = Expr::compile(text, Dialect::Scale).unwrap();
        let with = sample(OwnedValue::from(0), md(r#"{"cpu_number": 4}"#));
        let without = sample(OwnedValue::from(0), md(r#"{"flavor": {"vcpus": 2}}"#));
        let nested = sample(OwnedValue::from(0), md(r#"{"flavor": {"vcpus": 2}}"#));
        assert_eq!(e.eval_num(&[&with]), Ok(Num::Float(100.0 / 4e9)));
        assert_eq!(e.eval_num(&[&without]), Ok(Num::Float(100.0 / 1e9)));
        let flavor = Expr::compile("resource_metadata.flavor.vcpus", Dialect::Scale).unwrap();
        assert_eq!(flavor.eval_num(&[&nested]), Ok(Num::Int(2)));
        let subscript = Expr::compile("resource_metadata['flavor']['vcpus']", Dialect::Scale).unwrap();
        assert_eq!(subscript.eval_num(&[&nested]), Ok(Num::Int(2)));
    }

    #[test]
    fn arithmetic_references_get_slots_in_order() {
        let e = Expr::compile(
            "$(memory.usage) * 100 / $(memory) + $(memory.usage).resource_metadata.x",
            Dialect::Arithmetic,
        )
        .unwrap();
        assert_eq!(e.meters(), ["memory.usage", "memory"]);
        let usage = sample(OwnedValue::from(512), md(r#"{"x": 1}"#));
        let total = sample(OwnedValue::from(2048), md("{}"));
        assert_eq!(e.eval_num(&[&usage, &total]), Ok(Num::Float(26.0)));
    }

    #[test]
    fn parse_errors_name_the_column() {
        let cases = [
            (
                "100.0 / (10**9 * (resource_metadata.cpu_number or 1)",
                Dialect::Scale,
                "expected ')'",
            ),
            ("volume * ", Dialect::Scale, "unexpected end"),
            ("volumes * 2", Dialect::Scale, "unknown name \"volumes\""),
            ("$(cpu) * 2", Dialect::Scale, "only allowed in arithmetic"),
            ("volume * 2", Dialect::Arithmetic, "refer to meters"),
            ("$(cpu) @ 2", Dialect::Arithmetic, "unexpected text"),
            ("__import__('os')", Dialect::Scale, "unknown name"),
            ("1 < 2 < 3", Dialect::Scale, "chained"),
        ];
        for (text, dialect, want) in cases {
            let err = Expr::compile(text, dialect).unwrap_err();
            assert!(err.to_string().contains(want), "{text}: {err}");
        }
        let err = Expr::compile("volume * * 2", Dialect::Scale).unwrap_err();
        assert_eq!(err.column, 10);
    }

    #[test]
    fn constants_are_folded_at_compile_time() {
        let e = Expr::compile("100.0 / (10**9 * 2)", Dialect::Scale).unwrap();
        assert_eq!(e.root, Node::Const(Val::Num(Num::Float(5e-8))));
    }
}
