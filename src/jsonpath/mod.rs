//! The jsonpath dialect of Ceilometer's definition files — python `jsonpath-rw` 1.4.0 with
//! `jsonpath-rw-ext` 1.2.2's extensions, as `ExtentedJsonPathParser` reads them — compiled once
//! into an evaluator over simd-json borrowed values.
//!
//! What it covers: `$`, `@`/`` `this` ``, bare and quoted names, `*`, `..`, `[n]` (negative too),
//! `[a:b]`, `[*]`, `.[*]`, `|`, `where`, parentheses, ext's filters `[?(@.a='x')]`,
//! `[?a=b & c>1]`, `[?a ~ 'regex']` (`re.match`), sorting `[/a,\b]`, `` `len` ``, `` `sorted` ``,
//! `` `split(#, 0, 1)` ``, `` `sub(/regex/, repl)` `` and arithmetic `+ - *` with Python's types.
//! Results, their order and their failures follow jsonpath-rw's, including its surprises:
//! `ctxt.user_id|ctxt.user` means `ctxt.(user_id|ctxt).user`, arithmetic associates to the
//! right, a single name next to an arithmetic operator is a string, `/` is never division, a
//! filter on a dict finds nothing (see the `lexer`, `parser` and `eval` modules). Where jsonpath-rw raises
//! while evaluating, [`JsonPath::find`] finds nothing and [`JsonPath::try_find`] names the
//! Python exception.
//!
//! How that is checked: besides unit tests, `testdata/` holds what the real jsonpath-rw-ext
//! returned for ~270 expressions and for every non-trivial shipped expression on every corpus
//! notification, and the tests compare against it value by value, type by type.
//!
//! What it does not do: `` `parent` `` (refused at compile time), jsonpath-rw's
//! `auto_id_field`, updates; `` `str()` `` and `=~` are jsonpath-ng's and refused, as
//! jsonpath-rw-ext refuses them. A replacement template that Python's `re.sub` would reject on
//! first use is refused at compile time. A `$` after a computed value (`` `sub(...)`.$ ``) still
//! means the document root, where jsonpath-rw means the computed value. The key order of `*` and
//! `..` is simd-json's object order: the document's order up to 32 keys, hash order beyond.
//!
//! The hot path: an expression made of names and indexes only (`$.payload.a.b`, `a[0].b`), or a
//! union of such (`(a.b)|(c)`, what a `fields:` list becomes), compiles to flat lists of steps;
//! [`JsonPath::first_non_null`] walks them without allocating.

mod eval;
mod lexer;
mod parser;
mod pyre;

#[cfg(test)]
mod tests;

use std::borrow::Cow;

use crate::model::Value;
use parser::Node;

/// A compiled jsonpath expression.
#[derive(Debug, Clone)]
pub struct JsonPath {
    source: String,
    plan: Plan,
}

#[derive(Debug, Clone)]
enum Plan {
    /// Only names and indexes from the root: walked without recursion or allocation.
    Steps(Box<[Step]>),
    /// A union of such chains, `(a.b)|(c.d)`: what Ceilometer makes of `fields: [a.b, c.d]`.
    AnyOf(Box<[Box<[Step]>]>),
    Tree(Node),
}

#[derive(Debug, Clone)]
enum Step {
    Field(Box<str>),
    Index(i64),
}

/// An expression that does not compile, with the column (1-based, in characters) of the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid jsonpath `{expr}` at column {column}: {message}")]
pub struct JsonPathError {
    /// The expression as written.
    pub expr: String,
    /// 1-based character column of the offending token.
    pub column: usize,
    /// What is wrong, without the expression and column.
    pub message: String,
}

impl JsonPathError {
    pub(crate) fn new(expr: &str, char_pos: usize, message: String) -> Self {
        JsonPathError {
            expr: expr.to_string(),
            column: char_pos + 1,
            message,
        }
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// 1-based character column of the offending token.
    pub fn column(&self) -> usize {
        self.column
    }

    /// What is wrong, without the expression and column.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// An evaluation that jsonpath-rw would abort with a Python exception (an index into a dict,
/// `[*]` on null, `sub()` on a number, `<` between a number and a string, `&`).
/// [`JsonPath::find`] turns it into "no match"; [`JsonPath::try_find`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{exception}: {message}")]
pub struct EvalError {
    exception: &'static str,
    message: String,
}

impl EvalError {
    pub(crate) fn new(exception: &'static str, message: impl Into<String>) -> Self {
        EvalError {
            exception,
            message: message.into(),
        }
    }

    /// The Python exception jsonpath-rw raises here (`TypeError`, `KeyError`, ...).
    pub fn exception(&self) -> &'static str {
        self.exception
    }

    /// What went wrong, without the exception name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl JsonPath {
    /// Parse and compile `expr` once; evaluation never re-reads the text.
    pub fn compile(expr: &str) -> Result<JsonPath, JsonPathError> {
        let tree = parser::parse(expr)?;
        let plan = if let Some(steps) = steps_of(&tree) {
            Plan::Steps(steps.into_boxed_slice())
        } else if let Some(chains) = chains_of(&tree) {
            Plan::AnyOf(chains.into_iter().map(Vec::into_boxed_slice).collect())
        } else {
            Plan::Tree(tree)
        };
        Ok(JsonPath {
            source: expr.to_string(),
            plan,
        })
    }

    /// Compile a definition's `fields` the way Ceilometer does: one path as it is, several
    /// joined as `(a)|(b)|...` (their matches in list order).
    pub fn compile_fields<S: AsRef<str>>(paths: &[S]) -> Result<JsonPath, JsonPathError> {
        match paths {
            [one] => JsonPath::compile(one.as_ref()),
            many => {
                let joined: Vec<String> = many.iter().map(|p| format!("({})", p.as_ref())).collect();
                JsonPath::compile(&joined.join("|"))
            }
        }
    }

    /// Every match, in the order jsonpath-rw yields them. Values from the document are
    /// borrowed; computed values (arithmetic, `sub`, `split`, `len`, ...) are owned. An
    /// evaluation jsonpath-rw would abort with an exception finds nothing.
    pub fn find<'v, 'a>(&self, root: &'v Value<'a>) -> Vec<Cow<'v, Value<'a>>> {
        self.try_find(root).unwrap_or_default()
    }

    /// Like [`find`](Self::find), but says when jsonpath-rw would have raised.
    pub fn try_find<'v, 'a>(&self, root: &'v Value<'a>) -> Result<Vec<Cow<'v, Value<'a>>>, EvalError> {
        match &self.plan {
            Plan::Steps(steps) => Ok(walk(steps, root)?.into_iter().collect()),
            Plan::AnyOf(chains) => {
                let mut out = Vec::with_capacity(chains.len());
                for steps in chains.iter() {
                    out.extend(walk(steps, root)?);
                }
                Ok(out)
            }
            Plan::Tree(node) => {
                let mut out = Vec::new();
                let root = Cow::Borrowed(root);
                eval::eval(node, root.clone(), &root, &mut |v| {
                    out.push(v);
                    Ok(())
                })?;
                Ok(out)
            }
        }
    }

    /// The first match that is not null (what Ceilometer keeps when it wants one value), or
    /// `None`; `Err` where jsonpath-rw would have raised (a later alternative's exception voids
    /// an earlier match). What [`try_find`] gives, filtered, without collecting the matches of
    /// plain chains.
    ///
    /// [`try_find`]: Self::try_find
    pub fn first_non_null<'v, 'a>(
        &self,
        root: &'v Value<'a>,
    ) -> Result<Option<Cow<'v, Value<'a>>>, EvalError> {
        let non_null = |v: &Cow<'v, Value<'a>>| !matches!(&**v, Value::Static(simd_json::StaticNode::Null));
        match &self.plan {
            Plan::Steps(steps) => Ok(walk(steps, root)?.filter(non_null)),
            Plan::AnyOf(chains) => {
                let mut first = None;
                for steps in chains.iter() {
                    let found = walk(steps, root)?;
                    if first.is_none() {
                        first = found.filter(non_null);
                    }
                }
                Ok(first)
            }
            Plan::Tree(_) => Ok(self.try_find(root)?.into_iter().find(non_null)),
        }
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The flat plan of `$.a.b[0].c`-like trees: Child chains of Root, single names and indexes.
fn steps_of(node: &Node) -> Option<Vec<Step>> {
    fn go(node: &Node, out: &mut Vec<Step>, first: bool) -> Option<()> {
        match node {
            Node::Root if first => Some(()),
            Node::Fields(names) if names.len() == 1 && names[0] != "*" => {
                out.push(Step::Field(names[0].clone().into_boxed_str()));
                Some(())
            }
            Node::Index(i) => {
                out.push(Step::Index(*i));
                Some(())
            }
            Node::Child(l, r) => {
                go(l, out, first)?;
                go(r, out, false)
            }
            _ => None,
        }
    }
    let mut out = Vec::new();
    go(node, &mut out, true)?;
    Some(out)
}

/// The chains of a union of plain chains, in match order.
fn chains_of(node: &Node) -> Option<Vec<Vec<Step>>> {
    match node {
        Node::Union(l, r) => {
            let mut out = chains_of(l)?;
            out.extend(chains_of(r)?);
            Some(out)
        }
        other => steps_of(other).map(|s| vec![s]),
    }
}

fn walk<'v, 'a>(steps: &[Step], root: &'v Value<'a>) -> Result<Option<Cow<'v, Value<'a>>>, EvalError> {
    let mut cur: Cow<'v, Value<'a>> = Cow::Borrowed(root);
    for step in steps {
        let next = match step {
            Step::Field(name) => eval::field(&cur, name),
            Step::Index(i) => eval::index(&cur, *i)?,
        };
        match next {
            Some(v) => cur = v,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}
