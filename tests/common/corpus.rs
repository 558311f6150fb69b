//! The golden corpus (../shared/ceilometer-reference/corpus) and its comparison rules
//! (its README): samples as a multiset, numbers by value (bools and numeric strings are not
//! numbers), timestamps as instants, `<generated-uuid1>` ids skipped, missing keys as null.

#![allow(dead_code)]

use serde_json::Value as Json;

pub use ceilo::reference::dir as reference_dir;

/// The public corpus' 121 cases.
pub fn cases() -> Vec<Json> {
    cases_in(&reference_dir().join("corpus/public.jsonl"))
}

/// Cases in the corpus format that Ceilometer 27 itself made from mutated corpus notifications
/// (`fuzz/differential/`): odd types and shapes where real ones have strings and dicts.
pub fn differential_cases() -> Vec<Json> {
    cases_in(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential/cases.jsonl"),
    )
}

fn cases_in(path: &std::path::Path) -> Vec<Json> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut case: Json = serde_json::from_str(l).expect("corpus line");
            // serde_json's maps sort their keys; a bare (1.0) body must reach the decoder in
            // its own order, which simd-json keeps.
            let ordered = simd_json::to_owned_value(&mut l.as_bytes().to_vec()).expect("corpus line");
            let wire = simd_json::prelude::ValueAsObject::as_object(&ordered).and_then(|o| o.get("wire"));
            case["wire_bytes"] = Json::String(simd_json::to_string(&wire).expect("wire"));
            case
        })
        .collect()
}

/// The case's AMQP body as sent, its keys in their order.
pub fn wire(case: &Json) -> Vec<u8> {
    case["wire_bytes"]
        .as_str()
        .expect("read by cases_in")
        .as_bytes()
        .to_vec()
}

const SAMPLE_FIELDS: [&str; 14] = [
    "name",
    "type",
    "unit",
    "volume",
    "user_id",
    "user_name",
    "project_id",
    "project_name",
    "resource_id",
    "timestamp",
    "resource_metadata",
    "source",
    "id",
    "monotonic_time",
];

/// A meter message (`counter_*`, `message_id`) renamed to the corpus' `Sample.as_dict()` names.
pub fn as_dict(meter_message: &Json) -> Json {
    let mut m = meter_message.as_object().cloned().unwrap_or_default();
    for (wire, name) in [
        ("counter_name", "name"),
        ("counter_type", "type"),
        ("counter_unit", "unit"),
        ("counter_volume", "volume"),
        ("message_id", "id"),
    ] {
        if let Some(v) = m.remove(wire) {
            m.insert(name.into(), v);
        }
    }
    Json::Object(m)
}

pub fn values_equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Seconds since the epoch (µs precision) of an ISO 8601 text; naive means UTC.
pub fn instant(v: &Json) -> Option<i64> {
    let t = ceilo::model::py::datetime::parse(v.as_str()?).ok()?;
    Some(t.utc().and_utc().timestamp_micros())
}

pub fn sample_diff(expected: &Json, actual: &Json) -> Vec<&'static str> {
    let null = Json::Null;
    SAMPLE_FIELDS
        .into_iter()
        .filter(|&f| {
            let e = expected.get(f).unwrap_or(&null);
            let a = actual.get(f).unwrap_or(&null);
            match f {
                "id" if e == "<generated-uuid1>" => false,
                "timestamp" => match (instant(e), instant(a)) {
                    (Some(x), Some(y)) => x != y,
                    _ => e != a,
                },
                "resource_metadata" => {
                    let empty = Json::Object(Default::default());
                    let e = if e.is_null() { &empty } else { e };
                    let a = if a.is_null() { &empty } else { a };
                    !values_equal(e, a)
                }
                _ => !values_equal(e, a),
            }
        })
        .collect()
}

/// Multiset comparison; returns problems (empty when equal).
pub fn compare_samples(label: &str, expected: &[Json], actual: &[Json]) -> Vec<String> {
    let mut remaining: Vec<&Json> = actual.iter().collect();
    let mut problems = Vec::new();
    for e in expected {
        match remaining.iter().position(|a| sample_diff(e, a).is_empty()) {
            Some(i) => {
                remaining.remove(i);
            }
            None => {
                let name = e.get("name").cloned().unwrap_or_default();
                let closest = remaining
                    .iter()
                    .filter(|a| a.get("name") == Some(&name))
                    .map(|a| sample_diff(e, a))
                    .min_by_key(Vec::len);
                problems.push(match closest {
                    Some(d) => format!("{label} {name} differs in {d:?}"),
                    None => format!("{label} {name} missing"),
                });
            }
        }
    }
    for a in remaining {
        problems.push(format!(
            "{label} {} unexpected",
            a.get("name").cloned().unwrap_or_default()
        ));
    }
    problems
}
