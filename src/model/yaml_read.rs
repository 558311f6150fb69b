//! Reading YAML definition and config files: [`from_str`] is `yaml_serde::from_str` behind the
//! nesting limit of untrusted JSON ([`super::json_read::MAX_DEPTH`]), applied to flow
//! collections (`[`, `{`). Every loader of a definition or config file uses it. [`to_json`] is
//! the one conversion of a YAML value into the JSON value Python would hold for it, for the
//! constants definitions compare notifications and API responses with.
//!
//! Why: libyaml's scanner revisits every open flow level at each token, so a line of 10,000
//! `{a: ` (40 KB) took minutes before yaml_serde's own recursion limit could refuse it (found by
//! the fuzzer). PyYAML's composer recurses once per level, so Ceilometer fails on such files
//! too. Block nesting (indentation) costs libyaml nothing and is left to yaml_serde's recursion
//! limit.

use simd_json::StaticNode;
use yaml_serde::Value as Yaml;

use super::json_read::MAX_DEPTH;
use super::json_write::write_static;
use super::OwnedValue;

/// `yaml_serde::from_str`, after checking that flow collections nest at most [`MAX_DEPTH`]
/// levels. A document nested deeper is a `yaml_serde::Error` like any other bad YAML, naming
/// the line.
pub fn from_str<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, yaml_serde::Error> {
    if let Some(offset) = too_deep_at(text.as_bytes()) {
        let line = 1 + text.as_bytes()[..offset].iter().filter(|&&b| b == b'\n').count();
        return Err(serde::de::Error::custom(format!(
            "flow collections nested deeper than {MAX_DEPTH} levels, line {line}"
        )));
    }
    yaml_serde::from_str(text)
}

/// The JSON value for what PyYAML gives Python: `null`, bools, ints (`u64` too), floats,
/// strings, lists and dicts (tags dropped, the tagged value kept). A mapping key that is not a
/// string becomes the text `json.dumps` would write for it (`1`, `true`, `null`, `1.5`), since
/// a JSON object's keys are strings.
pub fn to_json(v: &Yaml) -> OwnedValue {
    match v {
        Yaml::Null => OwnedValue::Static(StaticNode::Null),
        Yaml::Bool(b) => OwnedValue::from(*b),
        Yaml::Number(n) => OwnedValue::Static(if let Some(i) = n.as_i64() {
            StaticNode::I64(i)
        } else if let Some(u) = n.as_u64() {
            StaticNode::U64(u)
        } else {
            // yaml_serde's numbers are always one of the three.
            StaticNode::F64(n.as_f64().unwrap_or(f64::NAN))
        }),
        Yaml::String(s) => OwnedValue::from(s.as_str()),
        Yaml::Sequence(s) => OwnedValue::Array(Box::new(s.iter().map(to_json).collect())),
        Yaml::Mapping(m) => {
            let mut o = simd_json::owned::Object::with_capacity_and_hasher(m.len(), Default::default());
            for (k, v) in m {
                o.insert(key_text(k), to_json(v));
            }
            OwnedValue::from(o)
        }
        Yaml::Tagged(t) => to_json(&t.value),
    }
}

/// What kind of value `v` is, in words, for messages that say what was expected instead.
pub fn yaml_kind(v: &Yaml) -> &'static str {
    match v {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a mapping",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// `v` as YAML text on one line when it is a scalar, for messages that quote a bad value.
pub fn yaml_inline(v: &Yaml) -> String {
    yaml_serde::to_string(v).map_or_else(|_| yaml_kind(v).to_owned(), |s| s.trim_end().to_owned())
}

/// A mapping key as text: a string is itself, a scalar what `json.dumps` writes for it as a
/// key; a list or mapping key (which PyYAML refuses as unhashable) its YAML text.
pub fn key_text(k: &Yaml) -> String {
    match to_json(k) {
        OwnedValue::String(s) => s,
        OwnedValue::Static(node) => {
            let mut out = Vec::new();
            write_static(&mut out, node);
            String::from_utf8(out).unwrap_or_default()
        }
        _ => yaml_serde::to_string(k).unwrap_or_default().trim().to_owned(),
    }
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
    fn yaml_values_become_the_json_python_would_hold() {
        let doc: Yaml = from_str(
            "a: [1, 18446744073709551615, -2, 1.5, .inf, ~, true, x, !tag 3]\nb: {1: one, true: t, null: n, 2.5: f}\n",
        )
        .unwrap_or_default();
        let json = to_json(&doc);
        // yaml.safe_load gives [1, 18446744073709551615, -2, 1.5, inf, None, True, 'x', 3]
        // (PyYAML would refuse the unknown tag; its value is kept here) and the keys of `b`
        // are what json.dumps writes for 1, True, None, 2.5.
        let a: Vec<OwnedValue> = vec![
            OwnedValue::from(1_i64),
            OwnedValue::from(u64::MAX),
            OwnedValue::from(-2_i64),
            OwnedValue::from(1.5),
            OwnedValue::from(f64::INFINITY),
            OwnedValue::Static(StaticNode::Null),
            OwnedValue::from(true),
            OwnedValue::from("x"),
            OwnedValue::from(3_i64),
        ];
        let OwnedValue::Object(o) = &json else {
            panic!("a mapping: {json:?}")
        };
        assert_eq!(o.get("a"), Some(&OwnedValue::from(a)));
        let Some(OwnedValue::Object(b)) = o.get("b") else {
            panic!("b is a mapping")
        };
        let keys: Vec<&str> = b.keys().map(String::as_str).collect();
        assert_eq!(keys, ["1", "true", "null", "2.5"]);
        assert_eq!(key_text(&Yaml::from(7)), "7");
    }

    #[test]
    fn flow_nesting_at_the_limit_passes_one_more_level_fails_naming_the_line() {
        assert!(too_deep_at(nested(MAX_DEPTH).as_bytes()).is_none());
        let err = from_str::<yaml_serde::Value>(&format!("# first\n{}", nested(MAX_DEPTH + 1))).unwrap_err();
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
        assert!(from_str::<yaml_serde::Value>(&quoted).is_ok());
    }

    #[test]
    fn a_hash_or_quote_inside_a_plain_scalar_is_just_a_character() {
        let noise = "[".repeat(2 * MAX_DEPTH);
        assert!(too_deep_at(format!("a: x#{noise}").as_bytes()).is_some());
        assert!(too_deep_at(format!("a: it's\nb: {noise}\nc: '").as_bytes()).is_some());
    }

    /// The plain scalar `text` as a mapping value, converted.
    fn scalar(text: &str) -> OwnedValue {
        let doc: Yaml = from_str(&format!("a: {text}\n")).unwrap_or_default();
        match to_json(&doc) {
            OwnedValue::Object(mut o) => o.remove("a").unwrap_or_default(),
            other => panic!("a mapping: {other:?}"),
        }
    }

    #[test]
    fn plain_scalars_read_as_pyyaml_reads_them() {
        // What yaml.safe_load (PyYAML 6.0.4, YAML 1.1) gives for `a: <text>`.
        let null = OwnedValue::Static(StaticNode::Null);
        let cases: [(&str, OwnedValue); 16] = [
            ("~", null.clone()),
            ("null", null.clone()),
            ("Null", null.clone()),
            ("", null),
            ("true", OwnedValue::from(true)),
            ("True", OwnedValue::from(true)),
            ("FALSE", OwnedValue::from(false)),
            ("y", OwnedValue::from("y")),
            ("0x1f", OwnedValue::from(31_i64)),
            ("+1", OwnedValue::from(1_i64)),
            ("-0", OwnedValue::from(0_i64)),
            ("1.", OwnedValue::from(1.0)),
            (".5", OwnedValue::from(0.5)),
            ("1.0e+3", OwnedValue::from(1000.0)),
            (".inf", OwnedValue::from(f64::INFINITY)),
            ("-.Inf", OwnedValue::from(f64::NEG_INFINITY)),
        ];
        for (text, python) in cases {
            assert_eq!(scalar(text), python, "a: {text}");
        }
        assert!(matches!(scalar(".NaN"), OwnedValue::Static(StaticNode::F64(f)) if f.is_nan()));
    }

    #[test]
    fn yaml_1_1_only_scalars_keep_their_yaml_1_2_reading() {
        // The known difference (crate::event's list): PyYAML reads these with YAML 1.1's
        // resolvers, the parser with YAML 1.2's core schema. No shipped definition or config
        // file holds one unquoted. Pinned so that a change of YAML crate shows here.
        let cases: [(&str, OwnedValue, &str); 9] = [
            ("yes", OwnedValue::from("yes"), "True"),
            ("no", OwnedValue::from("no"), "False"),
            ("on", OwnedValue::from("on"), "True"),
            ("off", OwnedValue::from("off"), "False"),
            ("0o17", OwnedValue::from(15_i64), "'0o17'"),
            ("017", OwnedValue::from("017"), "15"),
            ("1e3", OwnedValue::from(1000.0), "'1e3'"),
            ("1_000", OwnedValue::from("1_000"), "1000"),
            ("1:30", OwnedValue::from("1:30"), "90"),
        ];
        for (text, ours, _python) in cases {
            assert_eq!(scalar(text), ours, "a: {text}");
        }
    }
}
