//! `message_from_event` against Ceilometer's own: the `message_from_event` rows of
//! corpus/signatures.jsonl give an event, a secret, and the signed message Ceilometer built.

use std::sync::Arc;

use ceilo::event::message::{message_from_event, write_message_from_event};
use ceilo::model::py::datetime::parse_isotime_utc;
use ceilo::model::{Event, OwnedValue, Trait, TraitValue};
use serde_json::Value as Json;
use simd_json::prelude::*;

use ceilo::reference::dir as reference_dir;

fn event_rows() -> Vec<Json> {
    let path = reference_dir().join("corpus/signatures.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|row| row["kind"] == "message_from_event")
        .collect()
}

/// The corpus' event dict (traits as `{name, dtype, value}`) as an [`Event`].
fn event_from(input: &Json) -> Event {
    let traits = input["traits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let value = match (t["dtype"].as_u64(), &t["value"]) {
                (Some(2), v) => TraitValue::Int(v.as_i64().unwrap_or_default()),
                (Some(3), v) => TraitValue::Float(v.as_f64().unwrap_or_default()),
                (Some(4), v) => TraitValue::Datetime(
                    v.as_str()
                        .and_then(parse_isotime_utc)
                        .unwrap_or_else(|| panic!("datetime trait {v}")),
                ),
                (_, v) => TraitValue::Text(v.as_str().unwrap_or_default().to_owned()),
            };
            Trait {
                name: Arc::from(t["name"].as_str().unwrap_or_default()),
                value,
            }
        })
        .collect();
    Event {
        message_id: input["message_id"].as_str().map(str::to_owned),
        event_type: input["event_type"].as_str().unwrap_or_default().to_owned(),
        generated: input["generated"]
            .as_str()
            .and_then(parse_isotime_utc)
            .unwrap_or_default(),
        traits,
        raw: simd_json::serde::to_owned_value(input["raw"].clone()).unwrap_or_else(|_| OwnedValue::object()),
    }
}

#[test]
fn signed_event_messages_match_ceilometer() {
    let rows = event_rows();
    assert!(!rows.is_empty(), "no message_from_event rows in signatures.jsonl");
    for row in &rows {
        let id = row["id"].as_str().unwrap_or("?");
        let secret = row["secret"].as_str().unwrap_or_default().as_bytes();
        let event = event_from(&row["input"]);

        let message = message_from_event(&event, secret);
        let message: Json = serde_json::from_str(&message.encode()).unwrap_or(Json::Null);
        assert_eq!(message["message_signature"], row["signature"], "{id}: signature");
        assert_eq!(message, row["output"], "{id}: message");

        let mut bytes = Vec::new();
        write_message_from_event(&event, secret, &mut bytes);
        let written: Json =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{id}: written JSON: {e}"));
        assert_eq!(written, row["output"], "{id}: written message");
        let keys: Vec<&String> = written
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys.len(), 6, "{id}: {keys:?}");
    }
}

#[test]
fn empty_secret_signs_with_the_empty_string() {
    let rows = event_rows();
    let event = event_from(&rows[0]["input"]);
    let message = message_from_event(&event, b"");
    assert_eq!(
        message.get("message_signature").and_then(|s| s.as_str()),
        Some("")
    );
}
