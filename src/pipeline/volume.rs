//! Ceilometer's volume check: the pipeline drops a sample whose volume is `None` or that
//! `float()` rejects. Python semantics: a bool is an int (accepted), a numeric string is
//! accepted (`" 1_000.5 "`, `"inf"`, `"nan"`), a list or dict is not.

use simd_json::prelude::*;

use crate::model::OwnedValue;

/// Whether `float(volume)` succeeds in Python.
pub fn is_valid(volume: &OwnedValue) -> bool {
    if volume.is_null() {
        return false;
    }
    if volume.is_bool() || volume.is_number() {
        return true;
    }
    volume.as_str().is_some_and(python_float_ok)
}

/// `float(str)`: surrounding whitespace allowed, `_` only between digits, and the spellings
/// of inf/nan that Rust's parser also accepts.
pub fn python_float_ok(s: &str) -> bool {
    let t = s.trim_matches(|c: char| c.is_whitespace());
    if t.is_empty() {
        return false;
    }
    let bytes = t.as_bytes();
    let mut cleaned = String::with_capacity(t.len());
    for (i, c) in t.char_indices() {
        if c == '_' {
            let digit_before = i > 0 && bytes[i - 1].is_ascii_digit();
            let digit_after = bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
            if !(digit_before && digit_after) {
                return false;
            }
        } else {
            cleaned.push(c);
        }
    }
    let lower = cleaned.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return false;
    }
    matches!(unsigned, "inf" | "infinity" | "nan")
        || (unsigned.as_bytes()[0] != b'i'
            && unsigned.as_bytes()[0] != b'n'
            && cleaned.parse::<f64>().is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use simd_json::json;

    #[test]
    fn follows_python_float() {
        for ok in [
            "1",
            "1.5",
            " 2 ",
            "-3e2",
            "+.5",
            "1_000",
            "inf",
            "-Infinity",
            "NaN",
            "5.",
        ] {
            assert!(python_float_ok(ok), "{ok}");
        }
        for bad in [
            "", "abc", "1__0", "_1", "1_", "--1", "0x10", "1,5", "infinit", "nan1",
        ] {
            assert!(!python_float_ok(bad), "{bad}");
        }
    }

    #[test]
    fn json_volumes() {
        let v = |j: OwnedValue| is_valid(&j);
        assert!(v(json!(1)));
        assert!(v(json!(1.5)));
        assert!(v(json!(true)));
        assert!(v(json!("15")));
        assert!(!v(json!(null)));
        assert!(!v(json!("n/a")));
        assert!(!v(json!([1])));
        assert!(!v(json!({"a": 1})));
    }
}
