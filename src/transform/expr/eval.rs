//! The compiled tree and its evaluation per sample with Python 3's semantics
//! ([`crate::model::py::Num`]); constant subtrees are folded once at compile time ([`fold`]).

use std::cmp::Ordering;

use crate::model::py::{Arith, ArithError, Num};
use crate::model::Sample;
use simd_json::prelude::*;

use super::value::{Val, Var};
use super::EvalError;

/// A binary operator: Python arithmetic ([`Arith`]) or a comparison.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum BinOp {
    Arith(Arith),
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// A builtin: `abs()`, `min()`, `max()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Func {
    Abs,
    Min,
    Max,
}

/// A compiled expression tree.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Const(Val),
    Var(Var),
    Neg(Box<Node>),
    Not(Box<Node>),
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
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

pub(super) fn eval(node: &Node, slots: &[&Sample]) -> Result<Val, EvalError> {
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
        BinOp::Arith(a) => Val::Num(x.arith(a, y)?),
        BinOp::Eq | BinOp::Ne => unreachable!("equality is decided above"),
    })
}

impl From<ArithError> for EvalError {
    fn from(e: ArithError) -> EvalError {
        EvalError(e.to_string())
    }
}

/// Fold a node whose operands are all constants (e.g. `10**9`) into one constant; an
/// operation that would fail at run time is left for run time to report per sample.
pub(super) fn fold(node: Node) -> Node {
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
