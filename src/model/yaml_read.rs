//! Reading YAML definition and config files: [`from_str`] is `serde_yaml::from_str` behind the
//! nesting limit of untrusted JSON ([`super::json_read::MAX_DEPTH`]), applied to flow
//! collections (`[`, `{`). Every loader of a definition or config file uses it.
//!
//! Why: libyaml's scanner revisits every open flow level at each token, so a line of 10,000
//! `{a: ` (40 KB) took minutes before serde_yaml's own recursion limit could refuse it (found by
//! the fuzzer). PyYAML's composer recurses once per level, so Ceilometer fails on such files
//! too. Block nesting (indentation) costs libyaml nothing and is left to serde_yaml's recursion
//! limit.

use super::json_read::MAX_DEPTH;

/// `serde_yaml::from_str`, after checking that flow collections nest at most [`MAX_DEPTH`]
/// levels. A document nested deeper is a `serde_yaml::Error` like any other bad YAML, naming
/// the line.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_yaml::Error> {
    if let Some(offset) = too_deep_at(text.as_bytes()) {
        let line = 1 + text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count();
        return Err(serde::de::Error::custom(format!(
            "flow collections nested deeper than {MAX_DEPTH} levels, line {line}"
        )));
    }
    serde_yaml::from_str(text)
}

/// Where the first flow level past [`MAX_DEPTH`] opens, if one does. Quoted scalars and
/// comments do not count. Brackets inside plain scalars (`a[0]` in a jsonpath) do, but they
/// close again: a file would need more than a thousand unclosed ones to be refused.
fn too_deep_at(text: &[u8]) -> Option<usize> {
    // No document can be deeper than the number of brackets it opens.
    if text.iter().filter(|&&b| b == b'[' || b == b'{').count() <= MAX_DEPTH {
        return None;
    }
    let mut depth = 0usize;
    let mut i = 0;
    // What may come right before a quoted scalar (a quote inside a plain scalar, `it's`, is
    // just a character).
    let starts_token = |i: usize| {
        i == 0
            || matches!(
                text[i - 1],
                b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b',' | b':'
            )
    };
    while i < text.len() {
        match text[i] {
            b'#' if i == 0 || text[i - 1].is_ascii_whitespace() => {
                while i < text.len() && text[i] != b'\n' {
                    i += 1;
                }
            }
            b'\'' if starts_token(i) => {
                i += 1;
                // `''` is a quote inside the scalar.
                while i < text.len() && !(text[i] == b'\'' && text.get(i + 1) != Some(&b'\'')) {
                    i += if text[i] == b'\'' { 2 } else { 1 };
                }
            }
            b'"' if starts_token(i) => {
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("a: {}1{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn flow_nesting_at_the_limit_passes_one_more_level_fails_naming_the_line() {
        assert!(too_deep_at(nested(MAX_DEPTH).as_bytes()).is_none());
        let err = from_str::<serde_yaml::Value>(&format!("# first\n{}", nested(MAX_DEPTH + 1))).unwrap_err();
        assert!(
            err.to_string().contains("nested deeper than 1000 levels"),
            "{err}"
        );
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn quoted_scalars_and_comments_do_not_count() {
        let noise = "[".repeat(2 * MAX_DEPTH);
        let quoted =
            format!("a: '{noise}'\nb: \"\\\"{noise}\"\nc: x # {noise}\nd: [1]\ne: 'it''s {noise}'\n");
        assert!(from_str::<serde_yaml::Value>(&quoted).is_ok());
    }

    #[test]
    fn a_hash_or_quote_inside_a_plain_scalar_is_just_a_character() {
        let noise = "[".repeat(2 * MAX_DEPTH);
        assert!(too_deep_at(format!("a: x#{noise}").as_bytes()).is_some());
        assert!(too_deep_at(format!("a: it's\nb: {noise}\nc: '").as_bytes()).is_some());
    }
}
