//! The attribute language of dynamic pollster definitions: a dotted path into an API entry
//! (`.` is the entry itself) followed by `| value ...` operations, which Ceilometer `eval()`s
//! with `value` bound. ceilo compiles the subset definitions use (`value OP number`,
//! `number OP value`, `-value`, `int/float/abs/round/str/bool(value)`) once, and evaluates it
//! with Python's values ([`crate::model::py`]); anything else is refused when the definition
//! loads.

use crate::model::py::{self, Arith, Num};
use crate::model::OwnedValue;
use simd_json::prelude::*;

/// A compiled attribute: a dotted path into an entry plus `| value ...` operations.
#[derive(Debug, Clone)]
pub struct Attr {
    pub(super) raw: String,
    keys: Option<Vec<String>>,
    ops: Vec<Op>,
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    /// `| value`: the value itself.
    Identity,
    /// `value OP n` or, with `value_right`, `n OP value`.
    Arith {
        op: Arith,
        n: Num,
        value_right: bool,
    },
    Int,
    Float,
    Abs,
    Round,
    Str,
    Bool,
    Neg,
}

impl Attr {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut parts = raw.split('|');
        let key = parts.next().unwrap_or("").trim();
        let keys = if key == "." {
            None
        } else {
            Some(key.split('.').map(str::to_owned).collect())
        };
        let ops = parts.map(parse_op).collect::<Result<_, _>>()?;
        Ok(Self {
            raw: raw.to_owned(),
            keys,
            ops,
        })
    }

    /// `retrieve_attribute_nested_value`: a missing key is an error.
    pub fn get(&self, entry: &OwnedValue) -> Result<OwnedValue, String> {
        let mut v = entry;
        if let Some(keys) = &self.keys {
            for k in keys {
                v = match v.as_object().and_then(|o| o.get(k.as_str())) {
                    Some(next) => next,
                    None => return Err(format!("attribute {:?}: no key {k:?}", self.raw)),
                };
            }
        }
        let mut value = v.clone();
        for op in &self.ops {
            value = apply(op, value).map_err(|e| format!("attribute {:?}: {e}", self.raw))?;
        }
        Ok(value)
    }
}

fn parse_op(text: &str) -> Result<Op, String> {
    let t = text.trim();
    if !t.contains("value") {
        return Err(format!("the operation {t:?} must use the [value] variable"));
    }
    if t == "value" {
        return Ok(Op::Identity);
    }
    for (f, op) in [
        ("int", Op::Int),
        ("float", Op::Float),
        ("abs", Op::Abs),
        ("round", Op::Round),
        ("str", Op::Str),
        ("bool", Op::Bool),
    ] {
        if t.strip_prefix(f).map(str::trim) == Some("(value)") {
            return Ok(op);
        }
    }
    if t.strip_prefix('-').map(str::trim) == Some("value") {
        return Ok(Op::Neg);
    }
    for (sym, op) in [
        ("//", Arith::FloorDiv),
        ("+", Arith::Add),
        ("-", Arith::Sub),
        ("*", Arith::Mul),
        ("/", Arith::Div),
        ("%", Arith::Mod),
    ] {
        // Every place the operator could be: a sign (`value * -1`) or an exponent (`1e-5`)
        // holds the same character.
        for (at, _) in t.match_indices(sym) {
            let (l, r) = (t[..at].trim(), t[at + sym.len()..].trim());
            if sym == "/" && (l.ends_with('/') || r.starts_with('/')) {
                continue;
            }
            let (num, value_right) = match (l, r) {
                ("value", n) => (n, false),
                (n, "value") => (n, true),
                _ => continue,
            };
            if let Some(n) = number_literal(num) {
                return Ok(Op::Arith { op, n, value_right });
            }
        }
    }
    Err(format!(
        "unsupported operation {t:?} (ceilo evaluates `value OP number`, `number OP value` with + - * / // %, \
         -value and int/float/abs/round/str/bool(value))"
    ))
}

/// A Python number literal (`2`, `1_024`, `1e9`, `.5`): an int when it reads as one, else a
/// float; `inf` or `nan` would be names in Python, not numbers.
fn number_literal(text: &str) -> Option<Num> {
    if !text.is_ascii() {
        return None;
    }
    if let Some(i) = py::int_of_str(text) {
        return Some(Num::Int(i));
    }
    py::float_of_str(text)
        .filter(|_| text.bytes().any(|b| b.is_ascii_digit()))
        .map(Num::Float)
}

/// The longest text `text * n` may make: a value, not a way to fill the agent's memory.
const MAX_REPEATED_TEXT: usize = 1 << 20;

/// The operations evaluated as Ceilometer's `eval()` does with `value` bound to the entry's
/// value: Python's `int()`, `float()`, `abs()`, `round()`, `str()`, `bool()`, negation and
/// arithmetic, text repetition included ([`crate::model::py`]).
fn apply(op: &Op, v: OwnedValue) -> Result<OwnedValue, String> {
    let number = |what: &str| Num::of_owned(&v).ok_or_else(|| format!("{what} of {}", v.encode()));
    Ok(match op {
        Op::Identity => v,
        Op::Int => {
            Num::Int(py::int_of(&v).map_err(|e| format!("int({}): {e}", v.encode()))?).to_owned_value()
        }
        Op::Float => OwnedValue::from(py::float_of(&v).map_err(|e| format!("float({}): {e}", v.encode()))?),
        Op::Abs => number("abs()")?.abs().to_owned_value(),
        Op::Round => match number("round()")? {
            Num::Int(i) => Num::Int(i),
            // round(float) is an int, half to even; it raises for NaN and the infinities.
            Num::Float(f) if f.is_finite() => Num::Int(f.round_ties_even() as i128),
            Num::Float(f) => return Err(format!("round({f})")),
        }
        .to_owned_value(),
        Op::Str => OwnedValue::from(py::repr::str_of(&v).into_owned()),
        Op::Bool => OwnedValue::from(py::truthy(&v)),
        // `-True` is -1: a bool is an int.
        Op::Neg => {
            let n: Num = number("unary -")?;
            (-n).to_owned_value()
        }
        // `text * n`, `n * text`: Python repeats the text (none for n <= 0).
        Op::Arith {
            op: Arith::Mul,
            n: Num::Int(times),
            ..
        } if v.is_str() => {
            let text = v.as_str().unwrap_or_default();
            let repeated = py::repeat_text(text, *times, MAX_REPEATED_TEXT)
                .ok_or_else(|| format!("{text:?} * {times}: more than {MAX_REPEATED_TEXT} bytes"))?;
            OwnedValue::from(repeated)
        }
        Op::Arith { op, n, value_right } => {
            let x = number("arithmetic")?;
            let (a, b) = if *value_right { (*n, x) } else { (x, *n) };
            a.arith(*op, b).map_err(|e| e.to_string())?.to_owned_value()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::json;

    #[test]
    fn attributes_follow_dotted_paths_and_operations() {
        let e = json!({"a": {"b": {"c": 2048}}, "s": "12", "f": 2.5});
        assert_eq!(Attr::parse("a.b.c").unwrap().get(&e).unwrap(), json!(2048));
        assert_eq!(
            Attr::parse("a.b.c | value / 1024").unwrap().get(&e).unwrap(),
            json!(2.0)
        );
        assert_eq!(
            Attr::parse("a.b.c | value // 1000").unwrap().get(&e).unwrap(),
            json!(2)
        );
        assert_eq!(
            Attr::parse("a.b.c | value * 2 | value - 1")
                .unwrap()
                .get(&e)
                .unwrap(),
            json!(4095)
        );
        assert_eq!(Attr::parse("s | int(value)").unwrap().get(&e).unwrap(), json!(12));
        assert_eq!(
            Attr::parse("f | round(value)").unwrap().get(&e).unwrap(),
            json!(2)
        );
        assert_eq!(
            Attr::parse("f | 10 - value").unwrap().get(&e).unwrap(),
            json!(7.5)
        );
        assert_eq!(Attr::parse(".").unwrap().get(&e).unwrap(), e);
        // Python's int arithmetic and int(): 9007199254740993 * 2 == 18014398509481986,
        // 9007199254740993 // 2 == 4503599627370496, int(' 1_000 ') == 1000, -7 % 3 == 2
        let big = json!({"n": 9007199254740993_u64, "s": " 1_000 ", "m": -7});
        let get = |attr: &str| Attr::parse(attr).unwrap().get(&big).unwrap();
        assert_eq!(get("n | value * 2"), json!(18014398509481986_u64));
        assert_eq!(get("n | value // 2"), json!(4503599627370496_u64));
        assert_eq!(get("s | int(value)"), json!(1000));
        assert_eq!(get("m | value % 3"), json!(2));
        assert!(Attr::parse("a.x").unwrap().get(&e).is_err());
        assert_eq!(get("m | -value"), json!(7));
        assert_eq!(
            Attr::parse("s | value * 2").unwrap().get(&e).unwrap(),
            json!("1212")
        );
        assert_eq!(
            Attr::parse("s | 3 * value").unwrap().get(&e).unwrap(),
            json!("121212")
        );
        assert_eq!(Attr::parse("s | value * -1").unwrap().get(&e).unwrap(), json!(""));
        assert!(Attr::parse("s | value * 2.0").unwrap().get(&e).is_err());
        assert!(Attr::parse("s | value + 1").unwrap().get(&e).is_err());
        assert_eq!(get("m | value - -1"), json!(-6));
        assert_eq!(get("m | value * 1e-1"), json!(-0.7000000000000001));
        assert_eq!(get("m | -2 // value"), json!(0));
        assert_eq!(get("m | str(value)"), json!("-7"));
        assert_eq!(
            Attr::parse("f | str(value) | bool(value)")
                .unwrap()
                .get(&e)
                .unwrap(),
            json!(true)
        );
        assert_eq!(
            Attr::parse("a | str(value)").unwrap().get(&e).unwrap(),
            json!("{'b': {'c': 2048}}")
        );
        assert!(Attr::parse("a | len(x)").is_err());
        assert!(Attr::parse("a | value.upper()").is_err());
    }
}
