//! Evaluation of the expression tree over simd-json borrowed values, with jsonpath-rw's results,
//! order and failures.
//!
//! Matches stream depth-first into a callback, so a chain of children allocates nothing per
//! step; only arithmetic (which pairs whole result lists) collects. Values found in the document
//! come back borrowed; computed ones (arithmetic, `sub`, `split`, `len`, `sorted`, a character
//! picked out of a string) come back owned.
//!
//! Where jsonpath-rw raises a Python exception (an index into a dict, `[*]` on null, `<` between
//! a number and a string, `sub` on a number, `&`), evaluation stops with an [`EvalError`] naming
//! that exception, so a caller can reproduce what Ceilometer does with the whole expression.

use std::borrow::Cow;
use std::cmp::Ordering;

use simd_json::StaticNode;

use super::lexer::FilterOp;
use super::parser::{ArithOp, Condition, Literal, Node, Operand, SortKey};
use super::EvalError;
use crate::model::py::{self, py_cmp, py_eq, Num, PyError};
use crate::model::Value;

pub(crate) type Item<'v, 'a> = Cow<'v, Value<'a>>;
type Sink<'s, 'v, 'a> = dyn FnMut(Item<'v, 'a>) -> Result<(), EvalError> + 's;

/// Strings longer than this from `*` repetition are refused (Python would try, then run out of
/// memory on a hostile payload).
const MAX_REPEAT_BYTES: usize = 1 << 24;

pub(crate) fn eval<'v, 'a>(
    node: &Node,
    cur: Item<'v, 'a>,
    root: &Item<'v, 'a>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    match node {
        Node::Root => sink(root.clone()),
        Node::This => sink(cur),
        Node::Fields(names) => fields(names, &cur, sink),
        Node::Index(i) => match index(&cur, *i)? {
            Some(v) => sink(v),
            None => Ok(()),
        },
        Node::Slice(start, end) => slice(&cur, *start, *end, sink),
        Node::Child(left, right) => eval(left, cur, root, &mut |x| eval(right, x, root, sink)),
        Node::Union(left, right) => {
            eval(left, cur.clone(), root, sink)?;
            eval(right, cur, root, sink)
        }
        Node::Intersect => Err(EvalError::new(
            "NotImplementedError",
            "jsonpath-rw has no `&` (intersection)",
        )),
        Node::Where(left, right) => eval(left, cur, root, &mut |x| {
            let mut found = false;
            eval(right, x.clone(), root, &mut |_| {
                found = true;
                Ok(())
            })?;
            if found {
                sink(x)
            } else {
                Ok(())
            }
        }),
        Node::Descendants(left, right) => eval(left, cur, root, &mut |x| descend(right, x, root, sink)),
        Node::Filter(conds) => filter(conds, &cur, sink),
        Node::Sorted(keys) => sorted(keys, cur, sink),
        Node::Len => match len(&cur) {
            Some(n) => sink(Cow::Owned(Num::Int(n as i128).to_value())),
            None => Ok(()),
        },
        Node::Sub(op) => {
            let Value::String(s) = &*cur else {
                return Err(EvalError::new("TypeError", "sub() needs a string"));
            };
            let replaced = op
                .regex
                .sub(&op.template, s)
                .map_err(|m| EvalError::new("RuntimeError", m))?;
            // ext returns nothing when the substitution changed nothing.
            if replaced == s.as_ref() {
                Ok(())
            } else {
                sink(Cow::Owned(Value::String(Cow::Owned(replaced))))
            }
        }
        Node::Split {
            sep,
            segment,
            maxsplit,
        } => {
            // ext swallows every error of split (non-string, segment out of range).
            let Value::String(s) = &*cur else { return Ok(()) };
            let piece = if *maxsplit < 0 {
                s.split(*sep).nth(*segment)
            } else {
                s.splitn(
                    usize::try_from(*maxsplit).unwrap_or(usize::MAX).saturating_add(1),
                    *sep,
                )
                .nth(*segment)
            };
            match piece {
                Some(p) => sink(Cow::Owned(Value::String(Cow::Owned(p.to_string())))),
                None => Ok(()),
            }
        }
        Node::Operation(left, op, right) => operation(left, *op, right, cur, root, sink),
    }
}

/// `Fields.find`: missing keys and non-objects are silently skipped.
fn fields<'v, 'a>(
    names: &[String],
    cur: &Item<'v, 'a>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    if names.iter().any(|n| n == "*") {
        return each_value(cur, sink);
    }
    for name in names {
        if let Some(v) = field(cur, name) {
            sink(v)?;
        }
    }
    Ok(())
}

pub(crate) fn field<'v, 'a>(cur: &Item<'v, 'a>, name: &str) -> Option<Item<'v, 'a>> {
    match cur {
        Cow::Borrowed(v) => match v {
            Value::Object(o) => o.get(name).map(Cow::Borrowed),
            _ => None,
        },
        Cow::Owned(Value::Object(o)) => o.get(name).map(|c| Cow::Owned(c.clone())),
        Cow::Owned(_) => None,
    }
}

/// Every value of an object, in its key order; nothing for other values.
fn each_value<'v, 'a>(cur: &Item<'v, 'a>, sink: &mut Sink<'_, 'v, 'a>) -> Result<(), EvalError> {
    match cur {
        Cow::Borrowed(Value::Object(o)) => o.values().try_for_each(|v| sink(Cow::Borrowed(v))),
        Cow::Owned(Value::Object(o)) => o.values().try_for_each(|v| sink(Cow::Owned(v.clone()))),
        _ => Ok(()),
    }
}

fn each_elem<'v, 'a>(cur: &Item<'v, 'a>, sink: &mut Sink<'_, 'v, 'a>) -> Result<(), EvalError> {
    match cur {
        Cow::Borrowed(Value::Array(a)) => a.iter().try_for_each(|v| sink(Cow::Borrowed(v))),
        Cow::Owned(Value::Array(a)) => a.iter().try_for_each(|v| sink(Cow::Owned(v.clone()))),
        _ => Ok(()),
    }
}

fn elem<'v, 'a>(cur: &Item<'v, 'a>, i: usize) -> Option<Item<'v, 'a>> {
    match cur {
        Cow::Borrowed(Value::Array(a)) => a.get(i).map(Cow::Borrowed),
        Cow::Owned(Value::Array(a)) => a.get(i).map(|v| Cow::Owned(v.clone())),
        _ => None,
    }
}

/// Python's `i` into a sequence of `n`: the position, `None` when out of range.
fn py_index(i: i64, n: usize) -> Option<usize> {
    let n = i64::try_from(n).ok()?;
    let k = if i < 0 { i + n } else { i };
    (0..n).contains(&k).then_some(k as usize)
}

/// `Index.find`: `if len(datum.value) > index: datum.value[index]` (null and numbers have no
/// `len()`, a dict is indexed by key).
pub(crate) fn index<'v, 'a>(cur: &Item<'v, 'a>, i: i64) -> Result<Option<Item<'v, 'a>>, EvalError> {
    let out_of_range = || EvalError::new("IndexError", format!("index {i} out of range"));
    match &**cur {
        Value::Array(a) => {
            if i64::try_from(a.len()).is_ok_and(|n| n <= i) {
                return Ok(None);
            }
            let k = py_index(i, a.len()).ok_or_else(out_of_range)?;
            Ok(elem(cur, k))
        }
        Value::String(s) => {
            let n = s.chars().count();
            if i64::try_from(n).is_ok_and(|n| n <= i) {
                return Ok(None);
            }
            let k = py_index(i, n).ok_or_else(out_of_range)?;
            let c = s.chars().nth(k).map(String::from).unwrap_or_default();
            Ok(Some(Cow::Owned(Value::String(Cow::Owned(c)))))
        }
        Value::Object(o) => {
            if i64::try_from(o.len()).is_ok_and(|n| n <= i) {
                Ok(None)
            } else {
                Err(EvalError::new("KeyError", format!("{i} (an index into a dict)")))
            }
        }
        Value::Static(_) => Err(EvalError::new(
            "TypeError",
            "an index into null, a bool or a number: no len()",
        )),
    }
}

/// `Slice.find`: a dict, an int or a string counts as a one-element list.
fn slice<'v, 'a>(
    cur: &Item<'v, 'a>,
    start: Option<i64>,
    end: Option<i64>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    let n = match &**cur {
        Value::Array(a) => a.len(),
        Value::Object(_)
        | Value::String(_)
        | Value::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::Bool(_)) => {
            let (lo, hi) = py_slice_bounds(start, end, 1);
            return if lo < hi { sink(cur.clone()) } else { Ok(()) };
        }
        Value::Static(_) => {
            return Err(EvalError::new(
                "TypeError",
                "a slice of null or of a float has no len()",
            ))
        }
    };
    if start.is_none() && end.is_none() {
        return each_elem(cur, sink);
    }
    let (lo, hi) = py_slice_bounds(start, end, n);
    for k in lo..hi {
        if let Some(v) = elem(cur, k) {
            sink(v)?;
        }
    }
    Ok(())
}

/// Python slice bounds `[start:end]` (step 1) over `n` items.
fn py_slice_bounds(start: Option<i64>, end: Option<i64>, n: usize) -> (usize, usize) {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let clamp = |v: i64| -> i64 {
        let v = if v < 0 { v.saturating_add(n) } else { v };
        v.clamp(0, n)
    };
    let lo = start.map_or(0, clamp);
    let hi = end.map_or(n, clamp);
    (lo as usize, hi.max(lo) as usize)
}

/// `Descendants`: the right side at this node, then at every node below, depth first.
fn descend<'v, 'a>(
    right: &Node,
    x: Item<'v, 'a>,
    root: &Item<'v, 'a>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    eval(right, x.clone(), root, sink)?;
    match &*x {
        Value::Array(_) => each_elem(&x, &mut |c| descend(right, c, root, sink)),
        Value::Object(_) => each_value(&x, &mut |c| descend(right, c, root, sink)),
        _ => Ok(()),
    }
}

/// ext's `Filter`: the elements of a list meeting every condition; anything else (a dict too)
/// gives nothing. Each condition sees the element as its own root, as jsonpath-rw hands it over
/// unwrapped.
fn filter<'v, 'a>(
    conds: &[Condition],
    cur: &Item<'v, 'a>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    each_elem(cur, &mut |e: Item<'v, 'a>| {
        // Python evaluates every condition (no short cut), so an exception in a later one still
        // propagates.
        let mut all = true;
        for c in conds {
            all &= condition_holds(c, &e)?;
        }
        if all {
            sink(e)
        } else {
            Ok(())
        }
    })
}

fn condition_holds<'v, 'a>(c: &Condition, e: &Item<'v, 'a>) -> Result<bool, EvalError> {
    let mut found = false;
    eval(&c.target, e.clone(), e, &mut |v| {
        match &c.cmp {
            None => found = true,
            Some((op, lit)) => found |= compare(*op, &v, lit)?,
        }
        Ok(())
    })?;
    Ok(found)
}

/// ext's `Expression`: a null value never matches; an integer literal (`true`/`false` are Python
/// ints too) converts the value with `int()` first, skipping values that raise ValueError; float
/// and string literals compare with the value as it is, as Python's operators do.
fn compare(op: FilterOp, v: &Value<'_>, lit: &Literal) -> Result<bool, EvalError> {
    if matches!(v, Value::Static(StaticNode::Null)) {
        return Ok(false);
    }
    let mismatch = || {
        EvalError::new(
            "TypeError",
            format!("`{}` between values of different types", op.as_str()),
        )
    };
    match lit {
        Literal::Int(n) => Ok(py_int(v)?.is_some_and(|x| cmp_ord(op, Some(x.cmp(&i128::from(*n)))))),
        Literal::Bool(b) => Ok(py_int(v)?.is_some_and(|x| cmp_ord(op, Some(x.cmp(&i128::from(*b)))))),
        Literal::Float(f) => match (op, Num::of_value(v)) {
            (_, Some(x)) => Ok(cmp_ord(op, x.py_cmp(Num::Float(*f)))),
            (FilterOp::Eq, None) => Ok(false),
            (FilterOp::Ne, None) => Ok(true),
            _ => Err(mismatch()),
        },
        Literal::Str(s) => match (op, v) {
            (FilterOp::Eq, _) => Ok(matches!(v, Value::String(x) if x == s)),
            (FilterOp::Ne, _) => Ok(!matches!(v, Value::String(x) if x == s)),
            (_, Value::String(x)) => Ok(cmp_ord(op, Some(x.as_ref().cmp(s.as_str())))),
            _ => Err(mismatch()),
        },
        // `re.match`: anchored at the start of the value.
        Literal::Regex(re) => match v {
            Value::String(x) => re.match_start(x).map_err(|m| EvalError::new("RuntimeError", m)),
            _ => Err(EvalError::new(
                "TypeError",
                format!("`~ {}` on a non-string", re.source()),
            )),
        },
    }
}

/// Python's comparison operator given the ordering; `None` (a NaN) makes every operator false
/// but `!=`.
fn cmp_ord(op: FilterOp, o: Option<Ordering>) -> bool {
    let Some(o) = o else {
        return op == FilterOp::Ne;
    };
    match op {
        FilterOp::Eq => o == Ordering::Equal,
        FilterOp::Ne => o != Ordering::Equal,
        FilterOp::Lt => o == Ordering::Less,
        FilterOp::Le => o != Ordering::Greater,
        FilterOp::Gt => o == Ordering::Greater,
        FilterOp::Ge => o != Ordering::Less,
        FilterOp::Regex => false,
    }
}

/// Python `int(v)`: `Ok(None)` where it raises ValueError (ext skips those values), an error
/// where it raises anything else.
fn py_int(v: &Value<'_>) -> Result<Option<i128>, EvalError> {
    match py::int_of(v) {
        Ok(i) => Ok(Some(i)),
        Err(PyError::Value) => Ok(None),
        Err(PyError::Overflow) => Err(EvalError::new(
            "OverflowError",
            "cannot convert float infinity to integer",
        )),
        Err(PyError::Type) => Err(EvalError::new("TypeError", "int() of a list, a dict or null")),
    }
}

fn len(v: &Value<'_>) -> Option<usize> {
    match v {
        Value::String(s) => Some(s.chars().count()),
        Value::Array(a) => Some(a.len()),
        Value::Object(o) => Some(o.len()),
        Value::Static(_) => None,
    }
}

/// ext's `SortedThis`: one result, the sorted list (the sorted keys of a dict without sort keys).
fn sorted<'v, 'a>(keys: &[SortKey], cur: Item<'v, 'a>, sink: &mut Sink<'_, 'v, 'a>) -> Result<(), EvalError> {
    let mut items: Vec<Value<'a>> = match &*cur {
        Value::Array(a) => a.to_vec(),
        Value::Object(o) if keys.is_empty() => o.keys().map(|k| Value::String(k.clone())).collect(),
        // ext returns the bare datum here, which jsonpath-rw then fails to iterate.
        _ => {
            return Err(EvalError::new(
                "TypeError",
                "`sorted` of a value that is not a list (or, without keys, a dict)",
            ))
        }
    };
    let mut failed = None;
    if keys.is_empty() {
        items.sort_by(|a, b| {
            // A NaN is neither less nor greater: Python's sort leaves such pairs in place.
            py_cmp(a, b)
                .unwrap_or_else(|_| {
                    failed = Some(EvalError::new(
                        "TypeError",
                        "sorted() between values of different types",
                    ));
                    None
                })
                .unwrap_or(Ordering::Equal)
        });
    } else {
        // Each key's single match decides; keys that match nothing, several values or equal
        // values are skipped (ext's `_compare`).
        let key_values: Vec<Vec<Option<Value<'a>>>> = items
            .iter()
            .map(|item| {
                keys.iter()
                    .map(|k| {
                        let mut found = Vec::new();
                        let it: Item<'_, 'a> = Cow::Borrowed(item);
                        let _ = eval(&k.path, it.clone(), &it, &mut |v| {
                            found.push(v.into_owned());
                            Ok(())
                        });
                        if found.len() == 1 {
                            found.pop()
                        } else {
                            None
                        }
                    })
                    .collect()
            })
            .collect();
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by(|&x, &y| {
            for (k, key) in keys.iter().enumerate() {
                let (Some(a), Some(b)) = (&key_values[x][k], &key_values[y][k]) else {
                    continue;
                };
                if py_eq(a, b) {
                    continue;
                }
                let Ok(o) = py_cmp(a, b) else {
                    failed = Some(EvalError::new("TypeError", "sort keys of different types"));
                    return Ordering::Equal;
                };
                let o = o.unwrap_or(Ordering::Equal);
                return if key.descending { o.reverse() } else { o };
            }
            Ordering::Equal
        });
        let mut slots: Vec<Option<Value<'a>>> = items.into_iter().map(Some).collect();
        items = order.into_iter().filter_map(|i| slots[i].take()).collect();
    }
    if let Some(e) = failed {
        return Err(e);
    }
    sink(Cow::Owned(Value::Array(Box::new(items))))
}

/// A resolved arithmetic operand: a literal or the matches of a path.
enum Side<'v, 'a> {
    Lit(Value<'static>),
    Matches(Vec<Item<'v, 'a>>),
}

/// ext's `Operation`: paths on both sides pair up one to one when they match the same number of
/// values (nothing otherwise); a path and a literal combine each match with the literal. Any
/// TypeError makes the whole result empty.
fn operation<'v, 'a>(
    left: &Operand,
    op: ArithOp,
    right: &Operand,
    cur: Item<'v, 'a>,
    root: &Item<'v, 'a>,
    sink: &mut Sink<'_, 'v, 'a>,
) -> Result<(), EvalError> {
    let l = side(left, cur.clone(), root)?;
    let r = side(right, cur, root)?;
    let computed: Vec<Option<Value<'a>>> = match (&l, &r) {
        (Side::Matches(a), Side::Matches(b)) => {
            if a.is_empty() || a.len() != b.len() {
                return Ok(());
            }
            a.iter()
                .zip(b.iter())
                .map(|(x, y)| arith(op, x, y))
                .collect::<Result<_, _>>()?
        }
        (Side::Matches(a), Side::Lit(y)) => a.iter().map(|x| arith(op, x, y)).collect::<Result<_, _>>()?,
        (Side::Lit(x), Side::Matches(b)) => b.iter().map(|y| arith(op, x, y)).collect::<Result<_, _>>()?,
        (Side::Lit(x), Side::Lit(y)) => vec![arith(op, x, y)?],
    };
    // One TypeError voids every result.
    let results: Option<Vec<Value<'a>>> = computed.into_iter().collect();
    for v in results.unwrap_or_default() {
        sink(Cow::Owned(v))?;
    }
    Ok(())
}

fn side<'v, 'a>(o: &Operand, cur: Item<'v, 'a>, root: &Item<'v, 'a>) -> Result<Side<'v, 'a>, EvalError> {
    Ok(match o {
        Operand::Int(i) => Side::Lit(Value::Static(StaticNode::I64(*i))),
        Operand::Float(f) => Side::Lit(Value::Static(StaticNode::F64(*f))),
        Operand::Str(s) => Side::Lit(Value::String(Cow::Owned(s.clone()))),
        Operand::Path(p) => {
            let mut out = Vec::new();
            eval(p, cur, root, &mut |v| {
                out.push(v);
                Ok(())
            })?;
            Side::Matches(out)
        }
    })
}

/// Python `a <op> b`: `Ok(None)` for a TypeError (which ext turns into "no result").
fn arith<'a>(op: ArithOp, a: &Value<'_>, b: &Value<'_>) -> Result<Option<Value<'a>>, EvalError> {
    if let (Some(x), Some(y)) = (Num::of_value(a), Num::of_value(b)) {
        let n = match op {
            ArithOp::Add => x + y,
            ArithOp::Sub => x - y,
            ArithOp::Mul => x * y,
        };
        return Ok(Some(n.to_value()));
    }
    let count = |v: &Value<'_>| match v {
        Value::Static(StaticNode::I64(i)) => Some(i128::from(*i)),
        Value::Static(StaticNode::U64(u)) => Some(i128::from(*u)),
        Value::Static(StaticNode::Bool(b)) => Some(i128::from(*b)),
        _ => None,
    };
    Ok(match (op, a, b) {
        (ArithOp::Add, Value::String(x), Value::String(y)) => {
            Some(Value::String(Cow::Owned(format!("{x}{y}"))))
        }
        (ArithOp::Add, Value::Array(x), Value::Array(y)) => {
            let v: Vec<Value<'a>> = x.iter().chain(y.iter()).map(owned_value).collect();
            Some(Value::Array(Box::new(v)))
        }
        (ArithOp::Mul, Value::String(s), n) | (ArithOp::Mul, n, Value::String(s)) if count(n).is_some() => {
            let repeated = crate::model::py::repeat_text(s, count(n).unwrap_or(0), MAX_REPEAT_BYTES)
                .ok_or_else(|| EvalError::new("MemoryError", "string repetition too large"))?;
            Some(Value::String(Cow::Owned(repeated)))
        }
        (ArithOp::Mul, Value::Array(x), n) | (ArithOp::Mul, n, Value::Array(x)) if count(n).is_some() => {
            let times = usize::try_from(count(n).unwrap_or(0).max(0)).unwrap_or(usize::MAX);
            if x.len().saturating_mul(times) > MAX_REPEAT_BYTES {
                return Err(EvalError::new("MemoryError", "list repetition too large"));
            }
            let v: Vec<Value<'a>> = (0..times).flat_map(|_| x.iter().map(owned_value)).collect();
            Some(Value::Array(Box::new(v)))
        }
        _ => None,
    })
}

/// A copy of `v` that borrows nothing from its buffer.
fn owned_value<'a>(v: &Value<'_>) -> Value<'a> {
    match v {
        Value::Static(s) => Value::Static(*s),
        Value::String(s) => Value::String(Cow::Owned(s.to_string())),
        Value::Array(a) => Value::Array(Box::new(a.iter().map(owned_value).collect())),
        Value::Object(o) => {
            let mut m = simd_json::borrowed::Object::with_capacity_and_hasher(o.len(), Default::default());
            for (k, v) in o.iter() {
                m.insert(Cow::Owned(k.to_string()), owned_value(v));
            }
            Value::Object(Box::new(m))
        }
    }
}
