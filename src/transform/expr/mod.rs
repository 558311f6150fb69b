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
//!
//! The parts: `parser` (text → tree, once), `eval` (the tree per sample) and `value`
//! (what a sample field reads as).

mod eval;
mod parser;
#[cfg(test)]
mod tests;
mod value;

pub use value::{Field, Val, Var};

use crate::model::py::Num;
use crate::model::Sample;
use eval::Node;

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
        let (root, meters) = parser::parse(text, dialect)?;
        Ok(Expr { root, meters })
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
        eval::eval(&self.root, slots)
    }

    /// Evaluate to a number, as the sample's new volume needs.
    pub fn eval_num(&self, slots: &[&Sample]) -> Result<Num, EvalError> {
        self.eval(slots)?.num()
    }
}
