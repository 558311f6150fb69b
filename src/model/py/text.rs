//! CPython's `float(str)` and `int(str)` (base 10): exactly the text they accept.
//!
//! Both first turn every non-ASCII whitespace character into a space and every Unicode decimal
//! digit (`'٣'`, `'３'`) into its ASCII digit, then strip ASCII whitespace (space, `\t`, `\n`,
//! `\v`, `\f`, `\r`: *not* the separators `\x1c`..`\x1f` that `str.strip()` also removes).
//! What is left is:
//! * `float`: an optional sign, then `inf`, `infinity` or `nan` in any case, or digits with an
//!   optional `.` and fraction (at least one digit in all) and an optional exponent;
//! * `int`: an optional sign and digits;
//!
//! where a `_` may stand only between two digits (`1_000`, not `1__0`, `_1`, `1_.5`).
//! Everything else (`0x10`, `1,5`, `1e`, `""`) is Python's `ValueError`, here `None`.

/// `s.strip()`: without the characters `str.isspace()` is true of at either end (Unicode's
/// White_Space and the separators `\x1c`..`\x1f`).
pub fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c))
}

/// `float(s)`, or `None` where Python raises `ValueError`.
pub fn float_of_str(s: &str) -> Option<f64> {
    let ascii = to_ascii(s)?;
    let t = ascii.trim_matches(is_ascii_space);
    let (negative, body) = split_sign(t);
    let lower = body.to_ascii_lowercase();
    let magnitude = match lower.as_str() {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if !underscores_between_digits(&lower) || !is_decimal_float(&lower) {
                return None;
            }
            let digits: String = lower.chars().filter(|&c| c != '_').collect();
            // The grammar is checked above; Rust's parser rounds correctly, as CPython's does.
            digits.parse::<f64>().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `int(s)`, or `None` where Python raises `ValueError`. Python has no size limit; a value
/// beyond `i128` is `None` here, which no caller distinguishes from a refusal.
pub fn int_of_str(s: &str) -> Option<i128> {
    let ascii = to_ascii(s)?;
    let t = ascii.trim_matches(is_ascii_space);
    let (negative, digits) = split_sign(t);
    if digits.is_empty() || !underscores_between_digits(digits) {
        return None;
    }
    let mut acc: i128 = 0;
    for b in digits.bytes().filter(|&b| b != b'_') {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i128::from(b - b'0');
        acc = acc.checked_mul(10)?;
        acc = if negative {
            acc.checked_sub(d)?
        } else {
            acc.checked_add(d)?
        };
    }
    Some(acc)
}

/// CPython's `_PyUnicode_TransformDecimalAndSpaceToASCII`: a non-ASCII whitespace character
/// becomes a space, a decimal digit its ASCII digit; any other non-ASCII character makes the
/// text invalid (CPython turns it into `?`, which no grammar accepts).
fn to_ascii(s: &str) -> Option<std::borrow::Cow<'_, str>> {
    if s.is_ascii() {
        return Some(std::borrow::Cow::Borrowed(s));
    }
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                Some(c)
            } else if c.is_whitespace() {
                // Rust's White_Space outside ASCII is exactly CPython's `str.isspace()` there
                // (U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
                // U+3000); the test below holds them against python3.
                Some(' ')
            } else {
                unicode_digit(c).map(|d| char::from(b'0' + d))
            }
        })
        .collect::<Option<String>>()
        .map(std::borrow::Cow::Owned)
}

/// CPython's `Py_ISSPACE`: the ASCII whitespace its number parsers strip.
fn is_ascii_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn split_sign(t: &str) -> (bool, &str) {
    match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    }
}

/// Every `_` has a digit on both sides.
fn underscores_between_digits(t: &str) -> bool {
    let b = t.as_bytes();
    b.iter().enumerate().all(|(i, &c)| {
        c != b'_' || (i > 0 && b[i - 1].is_ascii_digit() && b.get(i + 1).is_some_and(u8::is_ascii_digit))
    })
}

/// `digits [. [digits]] | . digits`, then optionally `e [sign] digits` (lower case, `_` left
/// in place between digits).
fn is_decimal_float(t: &str) -> bool {
    let digit = |c: u8| c.is_ascii_digit() || c == b'_';
    let b = t.as_bytes();
    let mut i = 0;
    let int_start = i;
    while i < b.len() && digit(b[i]) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while i < b.len() && digit(b[i]) {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if b.get(i) == Some(&b'e') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && digit(b[i]) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// The value of a Unicode decimal digit (category Nd) outside ASCII.
fn unicode_digit(c: char) -> Option<u8> {
    let code = u32::from(c);
    let at = DIGIT_ZEROS.partition_point(|&zero| zero + 9 < code);
    let zero = *DIGIT_ZEROS.get(at)?;
    (zero <= code).then(|| (code - zero) as u8)
}

/// The zero of every run of ten decimal digits above ASCII, sorted. Generated from CPython
/// 3.11's `unicodedata` (Unicode 14.0) with
/// `[c for c in range(0x80, 0x110000) if unicodedata.decimal(chr(c), -1) == 0]`; every decimal
/// digit is one of these plus 0..=9.
#[rustfmt::skip]
const DIGIT_ZEROS: &[u32] = &[
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50,
    0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_removes_the_characters_python3s_str_isspace_is_true_of() {
        let script = "print(' '.join(str(i) for i in range(0x110000) if chr(i).isspace()))";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .output()
            .expect("python3 runs (the tests compare with CPython)");
        let theirs = String::from_utf8(out.stdout).expect("numbers");
        let ours: Vec<String> = (0..0x110000u32)
            .filter_map(char::from_u32)
            .filter(|c| strip(&format!("{c}x{c}")) == "x")
            .map(|c| u32::from(c).to_string())
            .collect();
        assert_eq!(ours.join(" "), theirs.trim());
    }

    #[test]
    fn float_forms_python_accepts() {
        // float(' 2.5 '), float('1e3'), float('-.5'), float('5.'), float('1_0.2_5'),
        // float('1E+0_1'), float('+007'), float('-Infinity'), float('iNF'), float('\u00a01\u3000')
        assert_eq!(float_of_str(" 2.5 "), Some(2.5));
        assert_eq!(float_of_str("1e3"), Some(1000.0));
        assert_eq!(float_of_str("-.5"), Some(-0.5));
        assert_eq!(float_of_str("5."), Some(5.0));
        assert_eq!(float_of_str("1_0.2_5"), Some(10.25));
        assert_eq!(float_of_str("1E+0_1"), Some(10.0));
        assert_eq!(float_of_str("+007"), Some(7.0));
        assert_eq!(float_of_str("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(float_of_str("iNF"), Some(f64::INFINITY));
        assert_eq!(float_of_str("\u{a0}1\u{3000}"), Some(1.0));
        assert_eq!(float_of_str("\x0b1\x0c"), Some(1.0));
        // float('١٢.٥') == 12.5 (Arabic-Indic digits), float('３') == 3.0 (fullwidth)
        assert_eq!(float_of_str("١٢.٥"), Some(12.5));
        assert_eq!(float_of_str("３"), Some(3.0));
        assert!(float_of_str("-nan").is_some_and(f64::is_nan));
    }

    #[test]
    fn float_forms_python_refuses() {
        // each raises ValueError in float(); '\x1c1' too, though '\x1c'.isspace() is True
        for bad in [
            "",
            " ",
            ".",
            "e5",
            "1e",
            "1e+",
            ".e1",
            "1,5",
            "0x1p3",
            "0x10",
            "1_.5",
            "1._5",
            "_1",
            "1_",
            "1__0",
            "abc",
            "inf inity",
            "in_f",
            "infinit",
            "nana",
            "1e1.5",
            "--1",
            "+-1",
            "1 2",
            "\x1c1",
            "1\x1f",
            "\u{180e}1",
            "1\u{200b}",
            "½",
            "1.5j",
        ] {
            assert_eq!(float_of_str(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn int_forms_python_accepts_and_refuses() {
        // int('15'), int('  -15\n'), int('+007'), int('1_000'), int('٣'), int('-0')
        assert_eq!(int_of_str("15"), Some(15));
        assert_eq!(int_of_str("  -15\n"), Some(-15));
        assert_eq!(int_of_str("+007"), Some(7));
        assert_eq!(int_of_str("1_000"), Some(1000));
        assert_eq!(int_of_str("٣"), Some(3));
        assert_eq!(int_of_str("-0"), Some(0));
        assert_eq!(
            int_of_str("99999999999999999999"),
            Some(99_999_999_999_999_999_999)
        );
        for bad in [
            "2.0", "", " ", "1e3", "0x10", "1__0", "_1", "1_", "abc", "- 1", "\x1c1", "inf",
        ] {
            assert_eq!(int_of_str(bad), None, "{bad:?}");
        }
    }

    /// Every candidate text through python3's `float()` and `int()` and through ours: the same
    /// value or the same refusal. The candidates put each code point below U+3100 and every
    /// Unicode digit and space before, after and inside a number, plus the shapes above.
    #[test]
    fn agrees_with_cpython() {
        let mut cases: Vec<String> = Vec::new();
        let mut chars: Vec<char> = (0..0x3100u32).filter_map(char::from_u32).collect();
        for &zero in DIGIT_ZEROS {
            chars.extend((zero..zero + 10).filter_map(char::from_u32));
        }
        chars.extend(['\u{feff}', '\u{fff0}', '\u{1f680}', '\u{10ffff}']);
        for c in chars {
            cases.push(format!("{c}1"));
            cases.push(format!("1{c}"));
            cases.push(format!("1{c}5"));
            cases.push(format!("-{c}"));
        }
        for shape in [
            "1_000",
            "1__0",
            "_1",
            "1_",
            "1_.5",
            "1._5",
            "1e1_0",
            "1e_1",
            "0x10",
            "1e",
            ".e1",
            "5.",
            ".5",
            "-.5e-3",
            "+inf",
            "-Infinity",
            "NaN",
            "infinity_",
            "1.5E+308",
            "1e400",
            "-1e-400",
            "123456789012345678901234567890",
            "4.9e-324",
            "2.2250738585072014e-308",
            "0.1000000000000000055511151231257827021181583404541015625",
        ] {
            cases.push(shape.to_owned());
        }
        let input = simd_json::to_string(&cases).expect("a list of strings encodes");
        let script = "import json, sys\n\
            def go(f, s):\n    try:\n        return repr(f(s))\n    except ValueError:\n        return None\n\
            print(json.dumps([[go(float, s), go(int, s)] for s in json.load(sys.stdin)]))\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (the tests compare with CPython)");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin is piped");
            stdin
                .write_all(input.as_bytes())
                .expect("python3 reads its input");
        }
        let out = child.wait_with_output().expect("python3 finishes");
        assert!(out.status.success(), "python3 failed");
        let mut text = out.stdout;
        let answers: Vec<(Option<String>, Option<String>)> =
            simd_json::from_slice(&mut text).expect("python3 answers with JSON");
        assert_eq!(answers.len(), cases.len());
        for (case, (float, int)) in cases.iter().zip(answers) {
            let ours = float_of_str(case).map(|f| {
                let mut out = Vec::new();
                super::super::repr::write_float_repr(&mut out, f);
                String::from_utf8(out).unwrap_or_default()
            });
            assert_eq!(ours, float, "float({case:?})");
            assert_eq!(int_of_str(case).map(|i| i.to_string()), int, "int({case:?})");
        }
    }
}
