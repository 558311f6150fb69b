//! Which user metadata a sample keeps: Ceilometer's `add_reserved_user_metadata`
//! (ceilometer/sample.py) with its `[DEFAULT] reserved_metadata_namespace`,
//! `reserved_metadata_keys` and `reserved_metadata_length` options.
//!
//! Ceilometer applies it to the value of a meter definition's `user_metadata` field
//! (notifications; here) and to an instance's server metadata in the compute pollsters. ceilo's
//! compute pollsters have no server metadata to apply it to: Ceilometer fetches it from Nova
//! only with `[compute] fetch_extra_metadata`, which ceilo does not implement, and libvirt's
//! nova metadata does not carry it.

use serde::Deserialize;
use simd_json::prelude::*;

use crate::model::{py, OwnedValue, Value};

/// The `reserved_metadata_*` options (ceilo.yaml `reserved_metadata:`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReservedMetadata {
    /// Key prefixes kept, the prefix stripped and every `.` of the rest made `_`
    /// (`metering.stack.name` → `stack_name`); a later prefix wins for the same key.
    /// `[DEFAULT] reserved_metadata_namespace`, default `[metering.]`.
    pub namespace: Vec<String>,
    /// Whole keys kept (their `.` made `_`), after those of `namespace`, which they replace.
    /// `[DEFAULT] reserved_metadata_keys`, default none.
    pub keys: Vec<String>,
    /// String values are cut to this many characters as Python's `v[:length]` cuts them (a
    /// negative length drops that many from the end); other values are kept whole.
    /// `[DEFAULT] reserved_metadata_length`, default 256.
    pub length: i64,
}

impl Default for ReservedMetadata {
    fn default() -> Self {
        ReservedMetadata {
            namespace: vec!["metering.".into()],
            keys: Vec::new(),
            length: 256,
        }
    }
}

impl ReservedMetadata {
    /// `add_reserved_user_metadata(conf, src, dest)`: the reserved keys of `src` whose new
    /// name is not already a key of `dest` go into `dest["user_metadata"]` (set only when there
    /// is one). `src` must be a mapping once there is a prefix or key to look for; otherwise
    /// the error is the one Python raises.
    pub fn add(&self, src: &Value<'_>, dest: &mut simd_json::owned::Object) -> Result<(), String> {
        if self.namespace.is_empty() && self.keys.is_empty() {
            // Python never calls `src.items()`: nothing to look for, nothing to fail on.
            return Ok(());
        }
        let Some(src) = src.as_object() else {
            return Err(format!(
                "'{}' object has no attribute 'items'",
                py::type_name(src)
            ));
        };
        let mut kept = simd_json::owned::Object::default();
        let keep = |name: String, value: &Value<'_>, kept: &mut simd_json::owned::Object| {
            if !dest.contains_key(name.as_str()) {
                kept.insert(name, self.cut(value));
            }
        };
        for prefix in &self.namespace {
            for (key, value) in src.iter() {
                if let Some(rest) = key.strip_prefix(prefix.as_str()) {
                    keep(rest.replace('.', "_"), value, &mut kept);
                }
            }
        }
        for wanted in &self.keys {
            for (key, value) in src.iter() {
                if key == wanted.as_str() {
                    keep(key.replace('.', "_"), value, &mut kept);
                }
            }
        }
        if !kept.is_empty() {
            dest.insert("user_metadata".into(), OwnedValue::from(kept));
        }
        Ok(())
    }

    /// `v[:length]` for a string (by characters, as Python counts them), `v` otherwise.
    fn cut(&self, value: &Value<'_>) -> OwnedValue {
        let Some(text) = value.as_str() else {
            return crate::model::to_owned(value);
        };
        let chars = text.chars().count() as i64;
        let end = if self.length >= 0 {
            self.length.min(chars)
        } else {
            (chars + self.length).max(0)
        };
        OwnedValue::from(text.chars().take(end as usize).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `add` over `src` (JSON) into `dest` (JSON), the resulting dest as JSON.
    fn run(rules: &ReservedMetadata, src: &str, dest: &str) -> Result<serde_json::Value, String> {
        let mut bytes = src.as_bytes().to_vec();
        let src = simd_json::to_borrowed_value(&mut bytes).unwrap();
        let mut dest_bytes = dest.as_bytes().to_vec();
        let OwnedValue::Object(dest) = simd_json::to_owned_value(&mut dest_bytes).unwrap() else {
            panic!("dest is not an object");
        };
        let mut dest = *dest;
        rules.add(&src, &mut dest)?;
        Ok(serde_json::from_str(&simd_json::to_string(&OwnedValue::from(dest)).unwrap()).unwrap())
    }

    fn rules(namespace: &[&str], keys: &[&str], length: i64) -> ReservedMetadata {
        ReservedMetadata {
            namespace: namespace.iter().map(|s| (*s).to_owned()).collect(),
            keys: keys.iter().map(|s| (*s).to_owned()).collect(),
            length,
        }
    }

    // Every expected value below is what ceilometer.sample.add_reserved_user_metadata returned
    // in python3 (Ceilometer 27.0.0) for the same options and dicts.

    #[test]
    fn prefixes_are_stripped_dots_made_underscores_and_other_keys_left() {
        let got = run(
            &ReservedMetadata::default(),
            r#"{"metering.stack": "s1", "metering.a.b": 1, "other": "x", "meteringX": "y"}"#,
            r#"{"host": "h"}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            serde_json::json!({"host": "h", "user_metadata": {"stack": "s1", "a_b": 1}})
        );
    }

    #[test]
    fn keys_already_in_the_metadata_are_skipped_and_nothing_found_adds_nothing() {
        let got = run(
            &ReservedMetadata::default(),
            r#"{"metering.host": "mine", "metering.ok": true}"#,
            r#"{"host": "h"}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            serde_json::json!({"host": "h", "user_metadata": {"ok": true}})
        );
        let got = run(&ReservedMetadata::default(), r#"{"other": 1}"#, "{}").unwrap();
        assert_eq!(got, serde_json::json!({}), "no user_metadata key at all");
    }

    #[test]
    fn several_prefixes_and_reserved_keys_a_later_one_wins() {
        let got = run(
            &rules(&["metering.", "custom."], &["fqdn", "a.b"], 256),
            r#"{"metering.x": 1, "custom.x": 2, "custom.y": 3, "fqdn": "vm", "a.b": 4, "x": 5}"#,
            "{}",
        )
        .unwrap();
        assert_eq!(
            got,
            serde_json::json!({"user_metadata": {"x": 2, "y": 3, "fqdn": "vm", "a_b": 4}})
        );
        // A reserved key replaces a namespaced one of the same name.
        let got = run(
            &rules(&["metering."], &["stack"], 256),
            r#"{"metering.stack": "ns", "stack": "key"}"#,
            "{}",
        )
        .unwrap();
        assert_eq!(got, serde_json::json!({"user_metadata": {"stack": "key"}}));
        // No namespace (test_get_reserved_metadata_with_namespace): nothing kept.
        let got = run(&rules(&[], &[], 256), r#"{"metering.stack": "s"}"#, "{}").unwrap();
        assert_eq!(got, serde_json::json!({}));
        // An empty prefix keeps every key.
        let got = run(&rules(&[""], &[], 256), r#"{"a.b": 1, "c": 2}"#, "{}").unwrap();
        assert_eq!(got, serde_json::json!({"user_metadata": {"a_b": 1, "c": 2}}));
    }

    #[test]
    fn strings_are_cut_by_characters_as_python_slices_and_others_kept() {
        let src = r#"{"metering.s": "héllo wörld", "metering.n": 1234567, "metering.l": ["long", "list"], "metering.d": {"k": "vvvvvv"}}"#;
        let got = run(&rules(&["metering."], &[], 4), src, "{}").unwrap();
        assert_eq!(
            got,
            serde_json::json!({"user_metadata": {"s": "héll", "n": 1234567, "l": ["long", "list"], "d": {"k": "vvvvvv"}}})
        );
        // v[:0] is '', v[:-3] drops three characters, v[:-50] is ''.
        for (length, cut) in [(0, ""), (-3, "héllo wö"), (-50, ""), (300, "héllo wörld")] {
            let got = run(
                &rules(&["metering."], &[], length),
                r#"{"metering.s": "héllo wörld"}"#,
                "{}",
            )
            .unwrap();
            assert_eq!(got["user_metadata"]["s"], cut, "length {length}");
        }
    }

    #[test]
    fn a_value_that_is_not_a_mapping_raises_only_when_something_is_looked_for() {
        let e = run(&ReservedMetadata::default(), r#"["metering.x"]"#, "{}").unwrap_err();
        assert_eq!(e, "'list' object has no attribute 'items'");
        let e = run(&rules(&[], &["k"], 256), r#""text""#, "{}").unwrap_err();
        assert_eq!(e, "'str' object has no attribute 'items'");
        assert_eq!(
            run(&rules(&[], &[], 256), r#""text""#, "{}").unwrap(),
            serde_json::json!({})
        );
    }
}
