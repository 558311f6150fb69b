//! YAML as PyYAML's `safe_load` gives it to Ceilometer, on top of yaml_serde's parser.
//!
//! Two PyYAML behaviours that yaml_serde's own `Value` does not have, and that existing
//! definition files rely on:
//! * duplicate keys in a mapping are accepted: the last value wins, in the first key's place
//!   (a Python dict built key by key);
//! * `<<` merge keys, as PyYAML 6.0.3+ (the one Ceilometer 27 runs on) flattens them: the merged
//!   mappings' entries come first, in the order written (for `<<: [a, b]`, a's then b's), then
//!   the mapping's own entries; a key seen again keeps its first place and takes the later
//!   value (a Python dict built pair by pair).
//!
//! PyYAML skips a merged pair whose key is the very same Python string object as one already
//! merged, which happens for the same anchor merged twice (same value, no difference here) and,
//! by a CPython caching accident, for one-character keys (there the earlier mapping's value
//! stays). That accident is not reproduced: the later value wins for every key.
//!
//! Only the tree is built here; what the definitions mean is [`super::load`]'s business.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use yaml_serde::{Mapping, Number, Value as Yaml};

/// Parse a document into a `yaml_serde::Value` with PyYAML's mapping semantics. Errors carry
/// yaml_serde's location.
pub fn from_str(text: &str) -> Result<Yaml, yaml_serde::Error> {
    let tree: Node = crate::model::yaml_read::from_str(text)?;
    tree.into_yaml().map_err(de::Error::custom)
}

/// The document as parsed, mappings still as ordered pairs (duplicates and `<<` included).
enum Node {
    Scalar(Yaml),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    fn into_yaml(self) -> Result<Yaml, &'static str> {
        match self {
            Node::Scalar(v) => Ok(v),
            Node::Seq(items) => Ok(Yaml::Sequence(
                items.into_iter().map(Node::into_yaml).collect::<Result<_, _>>()?,
            )),
            Node::Map(pairs) => {
                let mut merged: Vec<(Yaml, Yaml)> = Vec::new();
                let mut own: Vec<(Yaml, Yaml)> = Vec::with_capacity(pairs.len());
                for (key, value) in pairs {
                    let key = key.into_yaml()?;
                    let value = value.into_yaml()?;
                    if key.as_str() != Some("<<") {
                        own.push((key, value));
                        continue;
                    }
                    // PyYAML's flatten_mapping: a mapping merges as is, a list of mappings in
                    // its order, several `<<` keys one after the other.
                    match value {
                        Yaml::Mapping(m) => merged.extend(m),
                        Yaml::Sequence(seq) => {
                            for m in seq {
                                match m {
                                    Yaml::Mapping(m) => merged.extend(m),
                                    _ => {
                                        return Err("merge key <<: expected a mapping or a list of mappings")
                                    }
                                }
                            }
                        }
                        _ => return Err("merge key <<: expected a mapping or a list of mappings"),
                    }
                }
                let mut map = Mapping::with_capacity(merged.len() + own.len());
                for (key, value) in merged.into_iter().chain(own) {
                    // IndexMap's insert keeps an existing key's place: Python dict semantics.
                    map.insert(key, value);
                }
                Ok(Yaml::Mapping(map))
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Number(Number::from(v))))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Number(Number::from(v))))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Number(Number::from(v))))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::String(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::String(v)))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Null))
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Yaml::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(pair) = map.next_entry()? {
            pairs.push(pair);
        }
        Ok(Node::Map(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(v: &Yaml) -> Vec<&str> {
        v.as_mapping()
            .map(|m| m.keys().filter_map(Yaml::as_str).collect())
            .unwrap_or_default()
    }

    #[test]
    fn duplicate_keys_keep_first_place_and_last_value() {
        let v = from_str("a: 1\nb: 2\na: 3\n").unwrap_or(Yaml::Null);
        assert_eq!(keys(&v), ["a", "b"]);
        assert_eq!(v.get("a").and_then(Yaml::as_i64), Some(3));
    }

    #[test]
    fn merge_keys_follow_pyyaml_order_and_precedence() {
        // What PyYAML 6.0.4 gives: [('xx', 4), ('yy', 2), ('zz', 2), ('ww', 3)].
        let doc =
            from_str("a: &a {xx: 1, yy: 1}\nb: &b {yy: 2, zz: 2}\nc:\n  <<: [*a, *b]\n  ww: 3\n  xx: 4\n")
                .unwrap_or(Yaml::Null);
        let c = doc.get("c").cloned().unwrap_or(Yaml::Null);
        assert_eq!(keys(&c), ["xx", "yy", "zz", "ww"]);
        assert_eq!(c.get("yy").and_then(Yaml::as_i64), Some(2));
        assert_eq!(c.get("xx").and_then(Yaml::as_i64), Some(4));
        // Several `<<` keys merge one after the other: [('xx', 1), ('yy', 5), ('qq', 1), ('ww', 3)].
        let two = from_str("a: &a {xx: 1, yy: 1}\nc:\n  <<: *a\n  <<: {yy: 5, qq: 1}\n  ww: 3\n")
            .unwrap_or(Yaml::Null);
        let c = two.get("c").cloned().unwrap_or(Yaml::Null);
        assert_eq!(keys(&c), ["xx", "yy", "qq", "ww"]);
        assert_eq!(c.get("yy").and_then(Yaml::as_i64), Some(5));
        let single = from_str("a: &a {x: 1}\nc: {<<: *a, y: 2}\n").unwrap_or(Yaml::Null);
        assert_eq!(keys(single.get("c").unwrap_or(&Yaml::Null)), ["x", "y"]);
        // Merged mappings are themselves merged first.
        let nested = from_str("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n").unwrap_or(Yaml::Null);
        assert_eq!(keys(nested.get("c").unwrap_or(&Yaml::Null)), ["x", "y"]);
    }

    #[test]
    fn bad_merge_and_syntax_errors_are_errors() {
        assert!(from_str("c: {<<: 5}\n").is_err());
        let e = from_str("a: [\n").err();
        assert!(e.and_then(|e| e.location()).is_some());
    }
}
