//! The sample pipeline's volume check (Ceilometer's `_validate_volume`): what gets published,
//! what is dropped, and what makes Ceilometer raise.

use simd_json::prelude::*;

use crate::model::py::float_of_str;
use crate::model::OwnedValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeCheck {
    /// A number, a bool (Python's bool is an int) or a string `float()` accepts.
    Publishable,
    /// `None`, or a string `float()` rejects: dropped with a warning, counted.
    Drop(&'static str),
    /// A list or dict: `float()` raises TypeError, which Ceilometer does not catch, so the
    /// whole notification fails (oslo requeues it; ceilo dead-letters it).
    Raise,
}

pub fn check(volume: &OwnedValue) -> VolumeCheck {
    match volume {
        OwnedValue::Static(s) if s.is_null() => VolumeCheck::Drop("no volume"),
        OwnedValue::Static(_) => VolumeCheck::Publishable,
        OwnedValue::String(s) if float_of_str(s).is_some() => VolumeCheck::Publishable,
        OwnedValue::String(_) => VolumeCheck::Drop("volume is not a number"),
        OwnedValue::Array(_) | OwnedValue::Object(_) => VolumeCheck::Raise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> OwnedValue {
        let mut b = json.as_bytes().to_vec();
        simd_json::to_owned_value(&mut b).unwrap()
    }

    #[test]
    fn numbers_bools_and_numeric_strings_are_published() {
        for ok in [
            "1",
            "0",
            "-2.5",
            "true",
            "false",
            r#""15""#,
            r#"" 1e3 ""#,
            r#""1_000""#,
            r#""-inf""#,
            r#""NaN""#,
            r#"".5""#,
            // float('\u0663') == 3.0: any Unicode decimal digit
            r#""\u0663""#,
        ] {
            assert_eq!(check(&v(ok)), VolumeCheck::Publishable, "{ok}");
        }
    }

    #[test]
    fn null_and_non_numeric_strings_are_dropped() {
        assert_eq!(check(&v("null")), VolumeCheck::Drop("no volume"));
        for bad in [
            r#""""#,
            r#""abc""#,
            r#""1__0""#,
            r#""_1""#,
            r#""0x10""#,
            r#""1,5""#,
            // float('\x1c1') raises ValueError, though '\x1c'.isspace()
            r#""\u001c1""#,
        ] {
            assert_eq!(
                check(&v(bad)),
                VolumeCheck::Drop("volume is not a number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn lists_and_dicts_raise() {
        assert_eq!(check(&v("[1]")), VolumeCheck::Raise);
        assert_eq!(check(&v(r#"{"a": 1}"#)), VolumeCheck::Raise);
    }
}
