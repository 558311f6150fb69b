//! Python's view of JSON and YAML values where Ceilometer's behaviour depends on it:
//! truthiness (`if value:`) and type names in error messages.

use serde_yaml::Value as Yaml;
use simd_json::StaticNode;

use crate::model::{OwnedValue, Value};

/// `bool(value)`: `None`, `False`, `0`, `0.0`, `''`, `[]` and `{}` are false.
pub fn truthy(v: &Value<'_>) -> bool {
    match v {
        Value::Static(s) => static_truthy(*s),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

pub fn owned_truthy(v: &OwnedValue) -> bool {
    match v {
        OwnedValue::Static(s) => static_truthy(*s),
        OwnedValue::String(s) => !s.is_empty(),
        OwnedValue::Array(a) => !a.is_empty(),
        OwnedValue::Object(o) => !o.is_empty(),
    }
}

fn static_truthy(s: StaticNode) -> bool {
    match s {
        StaticNode::Null => false,
        StaticNode::Bool(b) => b,
        StaticNode::I64(i) => i != 0,
        StaticNode::U64(u) => u != 0,
        StaticNode::F64(f) => f != 0.0,
    }
}

/// `cfg.get(key)` truthiness for YAML config values.
pub fn yaml_truthy(v: &Yaml) -> bool {
    match v {
        Yaml::Null => false,
        Yaml::Bool(b) => *b,
        Yaml::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Yaml::String(s) => !s.is_empty(),
        Yaml::Sequence(s) => !s.is_empty(),
        Yaml::Mapping(m) => !m.is_empty(),
        Yaml::Tagged(_) => true,
    }
}

/// Python's type name of the value json.loads would give.
pub fn type_name(v: &Value<'_>) -> &'static str {
    match v {
        Value::Static(StaticNode::Null) => "NoneType",
        Value::Static(StaticNode::Bool(_)) => "bool",
        Value::Static(StaticNode::F64(_)) => "float",
        Value::Static(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use simd_json::prelude::*;

    use super::*;

    #[test]
    fn truthiness_follows_python() {
        let falsy = r#"[null, false, 0, 0.0, "", [], {}]"#;
        let truthy_ = r#"[true, 1, -1, 0.5, "0", [0], {"a": null}]"#;
        let mut f = falsy.as_bytes().to_vec();
        let mut t = truthy_.as_bytes().to_vec();
        let f = simd_json::to_borrowed_value(&mut f).unwrap();
        let t = simd_json::to_borrowed_value(&mut t).unwrap();
        assert!(f.as_array().unwrap().iter().all(|v| !truthy(v)));
        assert!(t.as_array().unwrap().iter().all(truthy));
        assert!(t
            .as_array()
            .unwrap()
            .iter()
            .all(|v| owned_truthy(&crate::model::to_owned(v))));
    }
}
