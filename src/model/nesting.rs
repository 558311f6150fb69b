//! The nesting limit on untrusted JSON: checked on the raw text before any parser runs.
//!
//! Everything that walks a JSON value in ceilo — building simd-json's tree, jsonpath's
//! recursive descent, Python `str()`, JSON writing, signing, and dropping the tree — recurses
//! once per level, on threads with ordinary stacks. A body nested a million levels deep would
//! overflow any of them and abort the process on every redelivery. Bounding the depth where
//! untrusted text enters bounds every one of those walks, instead of rewriting each to be
//! iterative.
//!
//! The limit is Python's: CPython's `json.loads` raises `RecursionError` near 1000 levels
//! (its default recursion limit), so nothing deeper ever reaches a Ceilometer endpoint, and
//! ceilo rejects at the same place. It does not bound size: see the body size limit.

/// Levels of `[`/`{` a document may have. Python's `json.loads` (recursion limit 1000, a few
/// frames already used by oslo and Ceilometer) fails below 1000 levels.
pub const MAX_DEPTH: usize = 1000;

/// A document nested deeper than [`MAX_DEPTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("nested deeper than {MAX_DEPTH} levels (at byte {offset})")]
pub struct TooDeep {
    /// Where the first level past the limit opens.
    pub offset: usize,
}

/// Checks that `text` never opens more than [`MAX_DEPTH`] arrays or objects at once, brackets
/// inside strings not counted. Malformed text passes when it is not too deep: the parser that
/// comes next reports what is wrong with it.
pub fn check(text: &[u8]) -> Result<(), TooDeep> {
    // No document can be deeper than the number of brackets it opens: counting them is a
    // vectorised pass, and almost every real notification stops there.
    if count_openers(text) <= MAX_DEPTH {
        return Ok(());
    }
    check_exactly(text)
}

fn count_openers(text: &[u8]) -> usize {
    text.iter().map(|&b| usize::from(b == b'[' || b == b'{')).sum()
}

/// The exact scan: tracks strings (and escapes inside them) so quoted brackets do not count.
fn check_exactly(text: &[u8]) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(TooDeep { offset });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(open: &str, close: &str, depth: usize) -> Vec<u8> {
        format!("{}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
    }

    #[test]
    fn the_limit_itself_passes_one_more_level_fails() {
        assert_eq!(check(&nested("[", "]", MAX_DEPTH)), Ok(()));
        assert_eq!(
            check(&nested("[", "]", MAX_DEPTH + 1)),
            Err(TooDeep { offset: MAX_DEPTH })
        );
        assert!(check(&nested("{\"a\":", "}", MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn many_brackets_side_by_side_are_not_depth() {
        let wide = format!("[{}[]]", "[],".repeat(5 * MAX_DEPTH));
        assert_eq!(check(wide.as_bytes()), Ok(()));
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let quoted = format!(
            "[\"{}\", \"\\\"{}\"]",
            "[".repeat(2 * MAX_DEPTH),
            "{".repeat(2 * MAX_DEPTH)
        );
        assert_eq!(check(quoted.as_bytes()), Ok(()));
    }

    #[test]
    fn an_escaped_quote_does_not_end_the_string() {
        // If `\"` ended the string, the brackets after it would be counted.
        let text = format!("[\"\\\"{}\"]", "[".repeat(2 * MAX_DEPTH));
        assert_eq!(check(text.as_bytes()), Ok(()));
    }

    #[test]
    fn a_million_levels_fail_without_recursion() {
        assert!(check(&nested("[", "]", 1_000_000)).is_err());
    }
}
