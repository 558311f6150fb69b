//! Python's view of a JSON value as `json.loads` (or PyYAML) hands it to Ceilometer: `==`,
//! `<`, `bool()`, `int()`, `float()` and the type name, for borrowed and owned values alike
//! (anything that is a [`JsonView`]), and between the two (a YAML constant against a value
//! found in a notification).
//!
//! `==` is Python's: numbers by value across int, float and bool (`1 == 1.0 == True`, exact,
//! see [`super::num`]), strings by text, `None` only to `None`, lists item by item, dicts by
//! their key sets and values (order does not matter); anything else is unequal, never an
//! error.

use std::cmp::Ordering;

use simd_json::StaticNode;

use super::num::Num;
use super::text::{float_of_str, int_of_str};
use crate::model::json_write::{JsonView, View};

/// What Python raises where a value cannot be converted or compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PyError {
    #[error("ValueError")]
    Value,
    #[error("TypeError")]
    Type,
    #[error("OverflowError")]
    Overflow,
}

fn num<V: JsonView>(v: &V) -> Option<Num> {
    match v.view() {
        View::Static(s) => Num::from_static(s),
        _ => None,
    }
}

/// Python's `a == b`.
pub fn py_eq<A: JsonView, B: JsonView>(a: &A, b: &B) -> bool {
    match (a.view(), b.view()) {
        (View::Static(x), View::Static(y)) => match (Num::from_static(x), Num::from_static(y)) {
            (Some(p), Some(q)) => p.py_eq(q),
            _ => x == StaticNode::Null && y == StaticNode::Null,
        },
        (View::Str(x), View::Str(y)) => x == y,
        (View::Array(x), View::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q)),
        (View::Object(n, mut entries), View::Object(m, _)) => {
            n == m && entries.all(|(k, v)| b.get_key(k).is_some_and(|w| py_eq(v, w)))
        }
        _ => false,
    }
}

/// Python's ordering of `a` and `b` (what `<` decides, as `sorted()` uses it):
/// `Err(PyError::Type)` where Python raises (`1 < 'a'`, `None < None`, dicts), `Ok(None)`
/// where every comparison is false (a NaN).
pub fn py_cmp<A: JsonView, B: JsonView>(a: &A, b: &B) -> Result<Option<Ordering>, PyError> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return Ok(x.py_cmp(y));
    }
    match (a.view(), b.view()) {
        (View::Str(x), View::Str(y)) => Ok(Some(x.cmp(y))),
        (View::Array(x), View::Array(y)) => {
            // The first pair of items that differ decides; else the shorter list is less.
            for (p, q) in x.iter().zip(y) {
                if !py_eq(p, q) {
                    return py_cmp(p, q);
                }
            }
            Ok(Some(x.len().cmp(&y.len())))
        }
        _ => Err(PyError::Type),
    }
}

/// `bool(value)`: `None`, `False`, `0`, `0.0`, `''`, `[]` and `{}` are false.
pub fn truthy<V: JsonView>(v: &V) -> bool {
    match v.view() {
        View::Static(s) => Num::from_static(s).is_some_and(Num::truthy),
        View::Str(s) => !s.is_empty(),
        View::Array(a) => !a.is_empty(),
        View::Object(n, _) => n != 0,
    }
}

/// `type(value).__name__`.
pub fn type_name<V: JsonView>(v: &V) -> &'static str {
    match v.view() {
        View::Static(StaticNode::Null) => "NoneType",
        View::Static(StaticNode::Bool(_)) => "bool",
        View::Static(StaticNode::F64(_)) => "float",
        View::Static(_) => "int",
        View::Str(_) => "str",
        View::Array(_) => "list",
        View::Object(..) => "dict",
    }
}

/// `text * times` (and `times * text`): the text repeated, none of it for `times <= 0`; `None`
/// where the result would pass `max_bytes` (Python would build it; a caller bounds what one
/// expression may allocate).
pub fn repeat_text(text: &str, times: i128, max_bytes: usize) -> Option<String> {
    let times = usize::try_from(times.max(0)).unwrap_or(usize::MAX);
    (text.len().saturating_mul(times) <= max_bytes).then(|| text.repeat(times))
}

/// The `AttributeError` of asking `value` for a method its type lacks (`value.get(...)` on a
/// list, `value.lower()` on an int), as Python words it.
pub fn attribute_error<V: JsonView>(value: &V, attribute: &str) -> String {
    format!(
        "AttributeError: '{}' object has no attribute '{attribute}'",
        type_name(value)
    )
}

/// `int(value)`: a bool is 0 or 1, a float is truncated toward zero (`ValueError` for NaN,
/// `OverflowError` for the infinities; a float beyond `i128` saturates, which keeps its order
/// against any int a caller compares it with), a string is [`int_of_str`]; `None`, a list or
/// a dict raise `TypeError`.
pub fn int_of<V: JsonView>(v: &V) -> Result<i128, PyError> {
    match v.view() {
        View::Static(StaticNode::F64(f)) if f.is_nan() => Err(PyError::Value),
        View::Static(StaticNode::F64(f)) if f.is_infinite() => Err(PyError::Overflow),
        View::Static(StaticNode::F64(f)) => Ok(f.trunc() as i128),
        View::Static(s) => match Num::from_static(s) {
            Some(Num::Int(i)) => Ok(i),
            _ => Err(PyError::Type),
        },
        View::Str(s) => int_of_str(s).ok_or(PyError::Value),
        _ => Err(PyError::Type),
    }
}

/// `float(value)`: a bool is 1.0 or 0.0, an int its nearest float, a string is
/// [`float_of_str`]; `None`, a list or a dict raise `TypeError`.
pub fn float_of<V: JsonView>(v: &V) -> Result<f64, PyError> {
    match v.view() {
        View::Static(s) => Num::from_static(s).map(Num::as_f64).ok_or(PyError::Type),
        View::Str(s) => float_of_str(s).ok_or(PyError::Value),
        _ => Err(PyError::Type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OwnedValue, Value};

    fn owned(text: &str) -> OwnedValue {
        simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap()
    }

    fn eq(a: &str, b: &str) -> bool {
        let (a, b) = (owned(a), owned(b));
        let mut bb = simd_json::to_string(&b).unwrap().into_bytes();
        // The same answer between an owned and a borrowed value.
        let borrowed: Value<'_> = simd_json::to_borrowed_value(&mut bb).unwrap();
        let answer = py_eq(&a, &b);
        assert_eq!(answer, py_eq(&a, &borrowed), "{a} == {b} owned vs borrowed");
        answer
    }

    #[test]
    fn equality_is_pythons() {
        // 1 == 1.0, True == 1, False == 0.0, 'a' == 'a', None == None, [1, 'x'] == [1.0, 'x'],
        // {'a': 1, 'b': [True]} == {'b': [1], 'a': 1.0}, 2**53 == float(2**53)  -> True
        for (a, b) in [
            ("1", "1.0"),
            ("true", "1"),
            ("false", "0.0"),
            (r#""a""#, r#""a""#),
            ("null", "null"),
            (r#"[1, "x"]"#, r#"[1.0, "x"]"#),
            (r#"{"a": 1, "b": [true]}"#, r#"{"b": [1], "a": 1.0}"#),
            ("9007199254740992", "9007199254740992.0"),
        ] {
            assert!(eq(a, b), "{a} == {b}");
        }
        // '1' == 1, None == 0, None == False, [] == {}, [1] == [1, 2], {'a': 1} == {'a': 1, 'b': 2},
        // 2**53 + 1 == 2**53, 2**53 + 1 == float(2**53), 2**64 - 1 == 18446744073709551615.0,
        // "" == None  -> False
        for (a, b) in [
            (r#""1""#, "1"),
            ("null", "0"),
            ("null", "false"),
            ("[]", "{}"),
            ("[1]", "[1, 2]"),
            (r#"{"a": 1}"#, r#"{"a": 1, "b": 2}"#),
            ("9007199254740993", "9007199254740992"),
            ("9007199254740993", "9007199254740992.0"),
            ("18446744073709551615", "18446744073709551615.0"),
            (r#""""#, "null"),
        ] {
            assert!(!eq(a, b), "{a} != {b}");
        }
    }

    #[test]
    fn ordering_is_pythons_or_a_type_error() {
        let cmp = |a: &str, b: &str| py_cmp(&owned(a), &owned(b));
        // 1 < 2.5, 'a' < 'b', [1, 2] < [1, 3], [1] < [1, 0], True < 2  -> True
        assert_eq!(cmp("1", "2.5"), Ok(Some(Ordering::Less)));
        assert_eq!(cmp(r#""a""#, r#""b""#), Ok(Some(Ordering::Less)));
        assert_eq!(cmp("[1, 2]", "[1, 3]"), Ok(Some(Ordering::Less)));
        assert_eq!(cmp("[1]", "[1, 0]"), Ok(Some(Ordering::Less)));
        assert_eq!(cmp("true", "2"), Ok(Some(Ordering::Less)));
        // 1 < 'a', None < None, {} < {}, [1] < ['a']  -> TypeError
        for (a, b) in [
            ("1", r#""a""#),
            ("null", "null"),
            ("{}", "{}"),
            ("[1]", r#"["a"]"#),
        ] {
            assert_eq!(cmp(a, b), Err(PyError::Type), "{a} < {b}");
        }
    }

    #[test]
    fn truthiness_follows_python() {
        for falsy in ["null", "false", "0", "0.0", r#""""#, "[]", "{}"] {
            assert!(!truthy(&owned(falsy)), "{falsy}");
        }
        for t in ["true", "1", "-1", "0.5", r#""0""#, "[0]", r#"{"a": null}"#] {
            assert!(truthy(&owned(t)), "{t}");
        }
    }

    #[test]
    fn int_and_float_of_values() {
        // int(True), int(2.9), int(-2.9), int(' 7 '), int(1e20)
        assert_eq!(int_of(&owned("true")), Ok(1));
        assert_eq!(int_of(&owned("2.9")), Ok(2));
        assert_eq!(int_of(&owned("-2.9")), Ok(-2));
        assert_eq!(int_of(&owned(r#"" 7 ""#)), Ok(7));
        assert_eq!(int_of(&owned("1e20")), Ok(100_000_000_000_000_000_000));
        // int('2.0') ValueError, int(None) TypeError, int([1]) TypeError
        assert_eq!(int_of(&owned(r#""2.0""#)), Err(PyError::Value));
        assert_eq!(int_of(&owned("null")), Err(PyError::Type));
        assert_eq!(int_of(&owned("[1]")), Err(PyError::Type));
        // int(float('nan')) ValueError, int(float('inf')) OverflowError
        assert_eq!(int_of(&OwnedValue::from(f64::NAN)), Err(PyError::Value));
        assert_eq!(int_of(&OwnedValue::from(f64::INFINITY)), Err(PyError::Overflow));
        // float(False), float(3), float('1e3'), float('x') ValueError, float({}) TypeError
        assert_eq!(float_of(&owned("false")), Ok(0.0));
        assert_eq!(float_of(&owned("3")), Ok(3.0));
        assert_eq!(float_of(&owned(r#""1e3""#)), Ok(1000.0));
        assert_eq!(float_of(&owned(r#""x""#)), Err(PyError::Value));
        assert_eq!(float_of(&owned("{}")), Err(PyError::Type));
        assert_eq!(type_name(&owned("{}")), "dict");
        assert_eq!(type_name(&owned("true")), "bool");
    }
}
