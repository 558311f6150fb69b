//! Trait types and Ceilometer's coercions (`models.Trait.convert_value`), with the Python
//! semantics the values go through: `str()` cut to 255 characters, `int()`, `float()`, and
//! `parse_isotime` + `normalize_time` for datetimes.
//!
//! A coercion that Python would raise on is an [`CoerceError`]; the caller drops the whole
//! event for it, as Ceilometer's event endpoint does.

use std::borrow::Cow;

use simd_json::prelude::*;

use crate::model::py;
use crate::model::py::datetime::parse_isotime_utc;
use crate::model::py::repr::str_of;
use crate::model::{TraitValue, Value};

/// Ceilometer's text traits are cut to the size of its `trait_text` column.
pub const TEXT_LIMIT: usize = 255;

/// A trait's declared `type`, numbered as Ceilometer's dtypes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraitType {
    /// `none` (dtype 0): Ceilometer accepts the name and converts like text.
    None,
    Text,
    Int,
    Float,
    Datetime,
}

impl TraitType {
    /// `Trait.get_type_by_name`: the name upper-cased must be one of the model's types.
    pub fn from_name(name: &str) -> Option<TraitType> {
        match name.to_ascii_uppercase().as_str() {
            "NONE" => Some(TraitType::None),
            "TEXT" => Some(TraitType::Text),
            "INT" => Some(TraitType::Int),
            "FLOAT" => Some(TraitType::Float),
            "DATETIME" => Some(TraitType::Datetime),
            _ => None,
        }
    }

    pub fn dtype(self) -> u8 {
        match self {
            TraitType::None => 0,
            TraitType::Text => 1,
            TraitType::Int => 2,
            TraitType::Float => 3,
            TraitType::Datetime => 4,
        }
    }

    /// Ceilometer skips `''` for every type but text (Nova sends `''` for unset dates).
    fn skips_empty_string(self) -> bool {
        self != TraitType::Text
    }
}

/// Why Python's conversion would raise.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoerceError {
    #[error("int() cannot convert {0}")]
    Int(String),
    #[error("float() cannot convert {0}")]
    Float(String),
    #[error("unable to parse date string {0}")]
    Datetime(String),
}

/// `to_trait` after the value was found: `None` when the trait is left out (`''` for a
/// non-text type), an error where Python raises.
pub fn coerce(ty: TraitType, value: &Value<'_>) -> Result<Option<TraitValue>, CoerceError> {
    if ty.skips_empty_string() && value.as_str() == Some("") {
        return Ok(None);
    }
    let converted = match ty {
        TraitType::Text => TraitValue::Text(truncate_chars(str_of(value), TEXT_LIMIT)),
        TraitType::None => TraitValue::Untyped(truncate_chars(str_of(value), TEXT_LIMIT)),
        TraitType::Int => TraitValue::Int(py_int(value)?),
        TraitType::Float => TraitValue::Float(py_float(value)?),
        TraitType::Datetime => {
            let parsed = value.as_str().and_then(parse_isotime_utc);
            TraitValue::Datetime(parsed.ok_or_else(|| CoerceError::Datetime(short_repr(value)))?)
        }
    };
    Ok(Some(converted))
}

/// `s[:limit]` in characters (code points), not bytes.
pub fn truncate_chars(s: Cow<'_, str>, limit: usize) -> String {
    // No more bytes than the limit means no more characters either: skip the scan.
    if s.len() <= limit {
        return s.into_owned();
    }
    match s.char_indices().nth(limit) {
        Some((cut, _)) => s[..cut].to_owned(),
        None => s.into_owned(),
    }
}

/// Python's `int(value)` ([`py::int_of`]); a value beyond `i64` is refused too, as
/// Ceilometer's `trait_int` column cannot hold it.
pub fn py_int(value: &Value<'_>) -> Result<i64, CoerceError> {
    py::int_of(value)
        .ok()
        .and_then(|i| i64::try_from(i).ok())
        .ok_or_else(|| CoerceError::Int(short_repr(value)))
}

/// Python's `float(value)` ([`py::float_of`]).
pub fn py_float(value: &Value<'_>) -> Result<f64, CoerceError> {
    py::float_of(value).map_err(|_| CoerceError::Float(short_repr(value)))
}

/// A short rendering of the offending value for error messages.
fn short_repr(value: &Value<'_>) -> String {
    let text = match value {
        Value::String(s) => format!("{s:?}"),
        other => other.encode(),
    };
    truncate_chars(Cow::Owned(text), 80)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value<'_> {
        Value::from(text)
    }

    #[test]
    fn int_follows_python_int() {
        assert_eq!(py_int(&Value::from(2048_i64)), Ok(2048));
        assert_eq!(py_int(&Value::from(true)), Ok(1));
        assert_eq!(py_int(&Value::from(2.9_f64)), Ok(2));
        assert_eq!(py_int(&Value::from(-2.9_f64)), Ok(-2));
        assert_eq!(py_int(&s("15")), Ok(15));
        assert_eq!(py_int(&s("  -15\n")), Ok(-15));
        assert_eq!(py_int(&s("+007")), Ok(7));
        assert_eq!(py_int(&s("1_000")), Ok(1000));
        for bad in [
            "2.0",
            "",
            " ",
            "1e3",
            "0x10",
            "1__0",
            "_1",
            "1_",
            "abc",
            "99999999999999999999",
        ] {
            assert!(py_int(&s(bad)).is_err(), "{bad:?}");
        }
        assert!(py_int(&Value::from(f64::NAN)).is_err());
        assert!(py_int(&Value::from(f64::INFINITY)).is_err());
        assert!(py_int(&Value::from(vec![Value::from(1_i64)])).is_err());
    }

    #[test]
    fn float_follows_python_float() {
        assert_eq!(py_float(&Value::from(3_i64)), Ok(3.0));
        assert_eq!(py_float(&Value::from(false)), Ok(0.0));
        assert_eq!(py_float(&s(" 2.5 ")), Ok(2.5));
        assert_eq!(py_float(&s("1e3")), Ok(1000.0));
        assert_eq!(py_float(&s("-.5")), Ok(-0.5));
        assert_eq!(py_float(&s("5.")), Ok(5.0));
        assert_eq!(py_float(&s("1_0.2_5")), Ok(10.25));
        assert_eq!(py_float(&s("-Infinity")), Ok(f64::NEG_INFINITY));
        assert!(py_float(&s("nan")).is_ok_and(f64::is_nan));
        for bad in ["", ".", "e5", "1e", "1,5", "0x1p3", "1_.5", "abc", "inf inity"] {
            assert!(py_float(&s(bad)).is_err(), "{bad:?}");
        }
    }

    /// Ceilometer's `int(value)` / `float(value)` strip only what CPython's number parsers
    /// strip, and read any Unicode decimal digit.
    #[test]
    fn numeric_traits_read_text_as_cpython_does() {
        // float('\x1c1') and int('1\x1f') raise ValueError ('\x1c'.isspace() is True all the same)
        assert!(coerce(TraitType::Float, &s("\x1c1")).is_err());
        assert!(coerce(TraitType::Int, &s("1\x1f")).is_err());
        // int('٣') == 3, float('١٢.٥') == 12.5, float('\u20071') == 1.0
        assert_eq!(coerce(TraitType::Int, &s("٣")), Ok(Some(TraitValue::Int(3))));
        assert_eq!(
            coerce(TraitType::Float, &s("١٢.٥")),
            Ok(Some(TraitValue::Float(12.5)))
        );
        assert_eq!(
            coerce(TraitType::Float, &s("\u{2007}1")),
            Ok(Some(TraitValue::Float(1.0)))
        );
    }

    #[test]
    fn empty_string_is_skipped_for_non_text_only() {
        assert_eq!(coerce(TraitType::Int, &s("")), Ok(None));
        assert_eq!(coerce(TraitType::Float, &s("")), Ok(None));
        assert_eq!(coerce(TraitType::Datetime, &s("")), Ok(None));
        assert_eq!(
            coerce(TraitType::Text, &s("")),
            Ok(Some(TraitValue::Text(String::new())))
        );
    }

    #[test]
    fn text_is_python_str_cut_to_255_characters() {
        let long = "é".repeat(300);
        let Ok(Some(TraitValue::Text(t))) = coerce(TraitType::Text, &s(&long)) else {
            panic!("text expected");
        };
        assert_eq!(t.chars().count(), 255);
        assert_eq!(
            coerce(TraitType::Text, &Value::from(true)),
            Ok(Some(TraitValue::Text("True".into())))
        );
        assert_eq!(
            coerce(TraitType::Text, &Value::from(5_i64)),
            Ok(Some(TraitValue::Text("5".into())))
        );
        assert_eq!(
            coerce(TraitType::None, &Value::from(1.5_f64)),
            Ok(Some(TraitValue::Untyped("1.5".into())))
        );
    }

    #[test]
    fn datetime_needs_a_parsable_string() {
        assert!(matches!(
            coerce(TraitType::Datetime, &s("2025-03-14T08:58:41.000000")),
            Ok(Some(TraitValue::Datetime(_)))
        ));
        assert!(coerce(TraitType::Datetime, &s("yesterday")).is_err());
        assert!(coerce(TraitType::Datetime, &Value::from(1_700_000_000_i64)).is_err());
    }

    #[test]
    fn type_names_are_case_insensitive() {
        assert_eq!(TraitType::from_name("int"), Some(TraitType::Int));
        assert_eq!(TraitType::from_name("DateTime"), Some(TraitType::Datetime));
        assert_eq!(TraitType::from_name("none").map(TraitType::dtype), Some(0));
        assert_eq!(TraitType::from_name("string"), None);
    }
}
