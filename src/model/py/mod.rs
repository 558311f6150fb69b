//! Python's semantics, in one place, for every caller that must do what Ceilometer's Python
//! does with a value: numbers ([`num`]: int/float/bool mixed as Python 3 mixes them, exact
//! comparisons), `==`, `<`, `bool()`, `int()` and `float()` of JSON values ([`value`]),
//! CPython's `float(str)` / `int(str)` grammar ([`text`]), `str()` / `repr()` ([`repr`]),
//! `datetime` as oslo parses and Python prints it ([`datetime`]), and `time.monotonic()`
//! ([`time`]).
//!
//! It lives inside `model` because its subject is `model`'s values (and the [`JsonView`]
//! over them); everything above `model` uses it, nothing here uses anything above `model`.
//!
//! [`JsonView`]: crate::model::json_write::JsonView

pub mod datetime;
pub mod num;
pub mod repr;
pub mod text;
pub mod time;
pub mod value;

pub use num::{Arith, ArithError, Num};
pub use text::{float_of_str, int_of_str};
pub use value::{attribute_error, float_of, int_of, py_cmp, py_eq, repeat_text, truthy, type_name, PyError};
