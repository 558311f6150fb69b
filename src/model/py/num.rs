//! Python's numbers as Ceilometer's code meets them: `int` (bools included: `True + 1 == 2`)
//! and `float`, mixed the way Python 3 mixes them.
//!
//! * Comparisons between an int and a float are exact, as CPython's are (`2**53 + 1 ==
//!   float(2**53)` is false), never done by rounding the int to a float.
//! * `int` stays `int` through `+ - * // % **` (a non-negative power), `/` is always a float,
//!   float `//` and `%` follow CPython's `divmod` (the remainder takes the divisor's sign).
//! * Python's ints have no size limit; here they are `i128`, which holds every JSON integer
//!   (`i64` and `u64`) and every product of two of them. A result beyond that becomes the
//!   nearest float, which is also what a JSON writer limited to 64 bits would have to do.
//!
//! The derived `PartialEq` is structural (`Int(1) != Float(1.0)`, which tests use to pin the
//! type of a result); Python's `==` is [`Num::py_eq`].

use std::cmp::Ordering;

use simd_json::StaticNode;

use crate::model::{OwnedValue, Value};

/// A Python `int` or `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Num {
    Int(i128),
    Float(f64),
}

/// The exceptions Python's arithmetic raises, with CPython's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ArithError {
    /// `ZeroDivisionError`.
    #[error("{0}")]
    ZeroDivision(&'static str),
    /// `OverflowError` (a float result out of range).
    #[error("numerical result out of range")]
    Overflow,
    /// Python gives a `complex` here (`(-8) ** 0.5`), which no sample value can be.
    #[error("negative number raised to a fractional power")]
    Complex,
}

/// Python's arithmetic operators (`+ - * / // % **`), for every expression language that
/// compiles them once and applies them per value ([`Num::arith`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    /// `/`: always a float.
    Div,
    FloorDiv,
    Mod,
    Pow,
}

/// 2**127 as a float: the first float no `i128` reaches.
const I128_END: f64 = 170_141_183_460_469_231_731_687_303_715_884_105_728.0;

impl Num {
    /// The number a JSON scalar is to Python: bools are ints, `null` is none.
    pub fn from_static(node: StaticNode) -> Option<Num> {
        match node {
            StaticNode::Null => None,
            StaticNode::Bool(b) => Some(Num::Int(i128::from(b))),
            StaticNode::I64(i) => Some(Num::Int(i128::from(i))),
            StaticNode::U64(u) => Some(Num::Int(i128::from(u))),
            StaticNode::F64(f) => Some(Num::Float(f)),
        }
    }

    /// The number an owned JSON value is, if it is one (a bool counts).
    pub fn of_owned(v: &OwnedValue) -> Option<Num> {
        match v {
            OwnedValue::Static(s) => Num::from_static(*s),
            _ => None,
        }
    }

    /// The number a borrowed JSON value is, if it is one (a bool counts).
    pub fn of_value(v: &Value<'_>) -> Option<Num> {
        match v {
            Value::Static(s) => Num::from_static(*s),
            _ => None,
        }
    }

    /// The JSON scalar for this number: an int as `I64` or `U64` when it fits, else its float.
    pub fn to_static(self) -> StaticNode {
        match self {
            Num::Int(i) => {
                if let Ok(v) = i64::try_from(i) {
                    StaticNode::I64(v)
                } else if let Ok(v) = u64::try_from(i) {
                    StaticNode::U64(v)
                } else {
                    StaticNode::F64(i as f64)
                }
            }
            Num::Float(f) => StaticNode::F64(f),
        }
    }

    pub fn to_owned_value(self) -> OwnedValue {
        OwnedValue::Static(self.to_static())
    }

    pub fn to_value(self) -> Value<'static> {
        Value::Static(self.to_static())
    }

    /// `float(n)`: an int rounds to the nearest float (ties to even), as CPython's does.
    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }

    /// `bool(n)`.
    pub fn truthy(self) -> bool {
        match self {
            Num::Int(i) => i != 0,
            Num::Float(f) => f != 0.0,
        }
    }

    /// Python's ordering of two numbers, exact across int and float; `None` when a NaN is
    /// involved (every comparison with NaN is false, `!=` true).
    pub fn py_cmp(self, other: Num) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (Num::Float(a), Num::Float(b)) => a.partial_cmp(&b),
            (Num::Int(a), Num::Float(b)) => int_float_cmp(a, b),
            (Num::Float(a), Num::Int(b)) => int_float_cmp(b, a).map(Ordering::reverse),
        }
    }

    /// Python's `a == b`.
    pub fn py_eq(self, other: Num) -> bool {
        self.py_cmp(other) == Some(Ordering::Equal)
    }

    /// Python's `a < b`.
    pub fn py_lt(self, other: Num) -> bool {
        self.py_cmp(other) == Some(Ordering::Less)
    }

    /// `abs(n)`.
    pub fn abs(self) -> Num {
        match self {
            Num::Int(i) => i.checked_abs().map_or(Num::Float((i as f64).abs()), Num::Int),
            Num::Float(f) => Num::Float(f.abs()),
        }
    }

    /// `a / b`: always a float.
    pub fn truediv(self, other: Num) -> Result<Num, ArithError> {
        if !other.truthy() {
            return Err(ArithError::ZeroDivision(match (self, other) {
                (Num::Int(_), Num::Int(_)) => "division by zero",
                _ => "float division by zero",
            }));
        }
        Ok(Num::Float(self.as_f64() / other.as_f64()))
    }

    /// `a // b`: floors toward negative infinity.
    pub fn floordiv(self, other: Num) -> Result<Num, ArithError> {
        match (self, other) {
            (Num::Int(_), Num::Int(0)) => Err(ArithError::ZeroDivision("integer division or modulo by zero")),
            (Num::Int(a), Num::Int(b)) => Ok(int_divmod(a, b).map_or_else(
                || Num::Float(float_divmod(a as f64, b as f64).0),
                |(q, _)| Num::Int(q),
            )),
            _ if !other.truthy() => Err(ArithError::ZeroDivision("float floor division by zero")),
            _ => Ok(Num::Float(float_divmod(self.as_f64(), other.as_f64()).0)),
        }
    }

    /// `a % b`: the remainder takes the divisor's sign.
    pub fn modulo(self, other: Num) -> Result<Num, ArithError> {
        match (self, other) {
            (Num::Int(_), Num::Int(0)) => Err(ArithError::ZeroDivision("integer modulo by zero")),
            (Num::Int(a), Num::Int(b)) => Ok(int_divmod(a, b).map_or_else(
                || Num::Float(float_divmod(a as f64, b as f64).1),
                |(_, r)| Num::Int(r),
            )),
            _ if !other.truthy() => Err(ArithError::ZeroDivision("float modulo")),
            _ => Ok(Num::Float(float_divmod(self.as_f64(), other.as_f64()).1)),
        }
    }

    /// `self OP other`, with Python 3's result or exception.
    pub fn arith(self, op: Arith, other: Num) -> Result<Num, ArithError> {
        match op {
            Arith::Add => Ok(self + other),
            Arith::Sub => Ok(self - other),
            Arith::Mul => Ok(self * other),
            Arith::Div => self.truediv(other),
            Arith::FloorDiv => self.floordiv(other),
            Arith::Mod => self.modulo(other),
            Arith::Pow => self.pow(other),
        }
    }

    /// `a ** b`: an int to a non-negative int power stays an int; the rest is float `pow`,
    /// with Python's errors for `0 ** -1`, a float result out of range, and a negative base to
    /// a fractional power (a complex number in Python).
    pub fn pow(self, other: Num) -> Result<Num, ArithError> {
        if let (Num::Int(a), Num::Int(b)) = (self, other) {
            if b >= 0 {
                if let Some(r) = u32::try_from(b).ok().and_then(|e| a.checked_pow(e)) {
                    return Ok(Num::Int(r));
                }
            }
        }
        let (x, y) = (self.as_f64(), other.as_f64());
        if x == 0.0 && y < 0.0 {
            return Err(ArithError::ZeroDivision(
                "0.0 cannot be raised to a negative power",
            ));
        }
        if x < 0.0 && x.is_finite() && y.is_finite() && y.fract() != 0.0 {
            return Err(ArithError::Complex);
        }
        let r = x.powf(y);
        if r.is_infinite() && x.is_finite() && y.is_finite() {
            // An int base to a big int power is a big int in Python, not an error.
            if matches!((self, other), (Num::Int(_), Num::Int(_))) {
                return Ok(Num::Float(r));
            }
            return Err(ArithError::Overflow);
        }
        Ok(Num::Float(r))
    }
}

/// `-n`.
impl std::ops::Neg for Num {
    type Output = Num;

    fn neg(self) -> Num {
        match self {
            Num::Int(i) => i.checked_neg().map_or(Num::Float(-(i as f64)), Num::Int),
            Num::Float(f) => Num::Float(-f),
        }
    }
}

/// `a + b`.
impl std::ops::Add for Num {
    type Output = Num;

    fn add(self, other: Num) -> Num {
        int_or_float(self, other, i128::checked_add, |a, b| a + b)
    }
}

/// `a - b`.
impl std::ops::Sub for Num {
    type Output = Num;

    fn sub(self, other: Num) -> Num {
        int_or_float(self, other, i128::checked_sub, |a, b| a - b)
    }
}

/// `a * b`.
impl std::ops::Mul for Num {
    type Output = Num;

    fn mul(self, other: Num) -> Num {
        int_or_float(self, other, i128::checked_mul, |a, b| a * b)
    }
}

/// An int operation when both are ints and the result fits, else the float one.
fn int_or_float(a: Num, b: Num, int: fn(i128, i128) -> Option<i128>, float: fn(f64, f64) -> f64) -> Num {
    if let (Num::Int(x), Num::Int(y)) = (a, b) {
        if let Some(r) = int(x, y) {
            return Num::Int(r);
        }
    }
    Num::Float(float(a.as_f64(), b.as_f64()))
}

/// Python's `divmod` of two ints (`b != 0`); `None` only for `i128::MIN // -1`.
fn int_divmod(a: i128, b: i128) -> Option<(i128, i128)> {
    let q = a.checked_div(b)?;
    let r = a - q * b;
    // Rust truncates toward zero; Python floors, so a remainder whose sign differs from the
    // divisor's moves one step.
    if r != 0 && ((r < 0) != (b < 0)) {
        Some((q - 1, r + b))
    } else {
        Some((q, r))
    }
}

/// CPython's `float_divmod` (`b != 0`): the floor quotient and the remainder.
fn float_divmod(a: f64, b: f64) -> (f64, f64) {
    let mut rem = a % b;
    let mut div = (a - rem) / b;
    if rem != 0.0 {
        if (b < 0.0) != (rem < 0.0) {
            rem += b;
            div -= 1.0;
        }
    } else {
        rem = 0.0_f64.copysign(b);
    }
    let floordiv = if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 {
            f + 1.0
        } else {
            f
        }
    } else {
        0.0_f64.copysign(a / b)
    };
    (floordiv, rem)
}

/// `int <=> float`, exactly: the float's integral part against the int, then its fraction.
fn int_float_cmp(i: i128, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    let whole = f.trunc();
    if whole >= I128_END {
        return Some(Ordering::Less);
    }
    if whole < -I128_END {
        return Some(Ordering::Greater);
    }
    // Exact: `whole` is an integer within i128's range.
    match i.cmp(&(whole as i128)) {
        Ordering::Equal => 0.0.partial_cmp(&(f - whole)),
        unequal => Some(unequal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Num::{Float, Int};

    #[test]
    fn int_and_float_compare_exactly() {
        // 2**53 + 1 == float(2**53)  -> False
        assert!(!Int(9_007_199_254_740_993).py_eq(Float(9_007_199_254_740_992.0)));
        // 2**53 == float(2**53)  -> True
        assert!(Int(9_007_199_254_740_992).py_eq(Float(9_007_199_254_740_992.0)));
        // 2**53 + 1 > float(2**53)  -> True
        assert_eq!(
            Int(9_007_199_254_740_993).py_cmp(Float(9_007_199_254_740_992.0)),
            Some(Ordering::Greater)
        );
        // 1 == 1.0, True == 1, 2 < 2.5, -3 < -2.5, 10**30 < 1e300, -10**30 > -inf
        assert!(Int(1).py_eq(Float(1.0)));
        assert!(Num::from_static(StaticNode::Bool(true)) == Some(Int(1)));
        assert!(Int(2).py_lt(Float(2.5)));
        assert!(Int(-3).py_lt(Float(-2.5)));
        assert!(Int(10_i128.pow(30)).py_lt(Float(1e300)));
        assert!(Float(f64::NEG_INFINITY).py_lt(Int(-(10_i128.pow(30)))));
        // float('nan') == 0, 0 < nan, nan == nan  -> all False
        assert!(!Float(f64::NAN).py_eq(Int(0)));
        assert!(!Int(0).py_lt(Float(f64::NAN)));
        assert!(!Float(f64::NAN).py_eq(Float(f64::NAN)));
        // 0 == -0.0 -> True
        assert!(Int(0).py_eq(Float(-0.0)));
    }

    #[test]
    fn arithmetic_keeps_ints_and_floors_like_python() {
        // 7 // 2, -7 // 2, 7 // -2, -7 % 3, 7 % -3, 7.5 % -2, -7.5 // 2, -1e-300 % 1.0
        assert_eq!(Int(7).floordiv(Int(2)), Ok(Int(3)));
        assert_eq!(Int(-7).floordiv(Int(2)), Ok(Int(-4)));
        assert_eq!(Int(7).floordiv(Int(-2)), Ok(Int(-4)));
        assert_eq!(Int(-7).modulo(Int(3)), Ok(Int(2)));
        assert_eq!(Int(7).modulo(Int(-3)), Ok(Int(-2)));
        assert_eq!(Float(7.5).modulo(Int(-2)), Ok(Float(-0.5)));
        assert_eq!(Float(-7.5).floordiv(Int(2)), Ok(Float(-4.0)));
        assert_eq!(Float(-1e-300).modulo(Float(1.0)), Ok(Float(1.0)));
        // 4 / 2 -> 2.0 ; 2 ** 10 -> 1024 ; 2 ** -1 -> 0.5 ; (-2) ** 2.0 -> 4.0
        assert_eq!(Int(4).truediv(Int(2)), Ok(Float(2.0)));
        assert_eq!(Int(2).pow(Int(10)), Ok(Int(1024)));
        assert_eq!(Int(2).pow(Int(-1)), Ok(Float(0.5)));
        assert_eq!(Int(-2).pow(Float(2.0)), Ok(Float(4.0)));
        // 2**63 * 2 -> 18446744073709551616 (an int past i64 and u64 alike)
        assert_eq!(Int(1 << 63) * Int(2), Int(1 << 64));
        assert_eq!(
            Int(1 << 64).to_static(),
            StaticNode::F64(18_446_744_073_709_551_616.0)
        );
        assert_eq!(Int(-5).to_static(), StaticNode::I64(-5));
        assert_eq!(Int(1 << 63).to_static(), StaticNode::U64(1 << 63));
        // True + True -> 2
        let t = Num::from_static(StaticNode::Bool(true)).unwrap_or(Int(0));
        assert_eq!(t + t, Int(2));
    }

    #[test]
    fn arithmetic_raises_where_python_raises() {
        // 1 / 0, 1.0 / 0, 1 // 0, 1 % 0, 1.0 // 0, 1.0 % 0, 0 ** -1, 10.0 ** 400, (-8) ** 0.5
        assert_eq!(
            Int(1).truediv(Int(0)),
            Err(ArithError::ZeroDivision("division by zero"))
        );
        assert_eq!(
            Float(1.0).truediv(Int(0)),
            Err(ArithError::ZeroDivision("float division by zero"))
        );
        assert_eq!(
            Int(1).floordiv(Int(0)),
            Err(ArithError::ZeroDivision("integer division or modulo by zero"))
        );
        assert_eq!(
            Int(1).modulo(Int(0)),
            Err(ArithError::ZeroDivision("integer modulo by zero"))
        );
        assert_eq!(
            Float(1.0).floordiv(Int(0)),
            Err(ArithError::ZeroDivision("float floor division by zero"))
        );
        assert_eq!(
            Float(1.0).modulo(Int(0)),
            Err(ArithError::ZeroDivision("float modulo"))
        );
        assert_eq!(
            Int(0).pow(Int(-1)),
            Err(ArithError::ZeroDivision(
                "0.0 cannot be raised to a negative power"
            ))
        );
        assert_eq!(Float(10.0).pow(Int(400)), Err(ArithError::Overflow));
        assert_eq!(Int(-8).pow(Float(0.5)), Err(ArithError::Complex));
    }

    /// Each operator reaches its rule: python3 -c 'print(7 + 2, 7 - 2, 7 * 2, 7 / 2, 7 // -2,
    /// -7 % 3, 2 ** 10)' prints 9 5 14 3.5 -4 2 1024.
    #[test]
    fn arith_applies_each_operator() {
        let cases = [
            (Int(7), Arith::Add, Int(2), Int(9)),
            (Int(7), Arith::Sub, Int(2), Int(5)),
            (Int(7), Arith::Mul, Int(2), Int(14)),
            (Int(7), Arith::Div, Int(2), Float(3.5)),
            (Int(7), Arith::FloorDiv, Int(-2), Int(-4)),
            (Int(-7), Arith::Mod, Int(3), Int(2)),
            (Int(2), Arith::Pow, Int(10), Int(1024)),
        ];
        for (a, op, b, want) in cases {
            assert_eq!(a.arith(op, b), Ok(want), "{a:?} {op:?} {b:?}");
        }
        assert!(Int(1).arith(Arith::Div, Int(0)).is_err());
    }

    #[test]
    fn neg_and_abs_stay_ints() {
        assert_eq!(-Int(5), Int(-5));
        assert_eq!(Int(-5).abs(), Int(5));
        assert_eq!(Float(-0.5).abs(), Float(0.5));
        assert_eq!(Int(i128::MIN).abs(), Float(1.7014118346046923e38));
    }
}
