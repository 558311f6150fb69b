//! Every case of Ceilometer's golden corpus through the envelope decoder and the shipped
//! event_definitions.yaml: the events must be the ones Ceilometer published, compared under the
//! corpus rules (traits keyed by name, dtype equal, datetimes as instants, numbers by value).

use std::collections::BTreeMap;
use std::path::PathBuf;

use ceilo::event::{EventDefinitions, EventOutcome};
use ceilo::model::envelope::Decoder;
use ceilo::model::py::datetime::{isoformat, parse_isotime_utc};
use ceilo::model::{Event, TraitValue};
use serde_json::Value as Json;
use simd_json::prelude::*;

mod common;

use ceilo::reference::dir as reference_dir;
use common::corpus::cases;

/// The event as the corpus records it: `{message_id, event_type, generated, traits: [{name,
/// dtype, value}], raw}`, datetimes as `isoformat()`.
fn event_json(event: &Event) -> Json {
    let traits: Vec<Json> = event
        .traits
        .iter()
        .map(|t| {
            let value = match &t.value {
                TraitValue::Text(s) | TraitValue::Untyped(s) => Json::from(s.as_str()),
                TraitValue::Int(i) => Json::from(*i),
                TraitValue::Float(f) => Json::from(*f),
                TraitValue::Datetime(dt) => Json::from(isoformat(dt)),
            };
            serde_json::json!({"name": &*t.name, "dtype": t.value.dtype(), "value": value})
        })
        .collect();
    serde_json::json!({
        "message_id": event.message_id,
        "event_type": event.event_type,
        "generated": isoformat(&event.generated),
        "traits": traits,
        "raw": serde_json::from_str::<Json>(&event.raw.encode()).unwrap_or(Json::Null),
    })
}

fn instant(v: &Json) -> Option<chrono::NaiveDateTime> {
    v.as_str().and_then(parse_isotime_utc)
}

/// Corpus rule for values: numbers by value (bools are not numbers), the rest exactly.
fn same_value(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Differences between an expected and an actual event, empty when they agree.
fn diff_event(expected: &Json, actual: &Json) -> Vec<String> {
    let mut out = Vec::new();
    let field = |e: &Json, k: &str| e.get(k).cloned().unwrap_or(Json::Null);
    for key in ["message_id", "event_type", "raw"] {
        if field(expected, key) != field(actual, key) {
            out.push(format!(
                "{key}: expected {} got {}",
                field(expected, key),
                field(actual, key)
            ));
        }
    }
    if instant(&field(expected, "generated")) != instant(&field(actual, "generated")) {
        out.push(format!(
            "generated: expected {} got {}",
            field(expected, "generated"),
            field(actual, "generated")
        ));
    }
    let traits = |e: &Json| -> BTreeMap<String, Json> {
        e.get("traits")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|t| (t["name"].as_str().unwrap_or_default().to_owned(), t.clone()))
            .collect()
    };
    let (want, got) = (traits(expected), traits(actual));
    for name in want
        .keys()
        .chain(got.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (want.get(name), got.get(name)) {
            (Some(w), Some(g)) => {
                if w["dtype"] != g["dtype"] {
                    out.push(format!(
                        "trait {name}: dtype expected {} got {}",
                        w["dtype"], g["dtype"]
                    ));
                } else if w["dtype"] == 4 {
                    if instant(&w["value"]) != instant(&g["value"]) {
                        out.push(format!(
                            "trait {name}: expected {} got {}",
                            w["value"], g["value"]
                        ));
                    }
                } else if !same_value(&w["value"], &g["value"]) {
                    out.push(format!(
                        "trait {name}: expected {} got {}",
                        w["value"], g["value"]
                    ));
                }
            }
            (Some(w), None) => out.push(format!("trait {name} missing (expected {})", w["value"])),
            (None, Some(g)) => out.push(format!("trait {name} unexpected ({})", g["value"])),
            (None, None) => {}
        }
    }
    out
}

#[test]
fn corpus_events_match_ceilometer() {
    let all = cases();
    assert_eq!(all.len(), 121);
    assert_events_match(&all);
}

/// Mutated corpus notifications and the events Ceilometer 27 made of them (`fuzz/differential/`).
#[test]
fn mutated_notifications_give_ceilometers_events() {
    assert_events_match(&common::corpus::differential_cases());
}

fn assert_events_match(all: &[Json]) {
    let definitions = EventDefinitions::load(reference_dir().join("event_definitions.yaml"))
        .unwrap_or_else(|e| panic!("shipped definitions must load: {e}"));
    let mut decoder = Decoder::new();
    let (mut passed, mut failures) = (0, Vec::new());
    for case in all {
        let id = case["id"].as_str().unwrap_or("?");
        let expected: Vec<Json> = case["events"].as_array().cloned().unwrap_or_default();
        let body = common::corpus::wire(case);
        let actual: Vec<Json> = match decoder.decode(&body) {
            // The meter endpoint raised first: Ceilometer never ran the event endpoint.
            Ok(_) if case["requeue"] == true => Vec::new(),
            Ok(n) => match definitions.to_event(&n) {
                EventOutcome::Event(event) => {
                    vec![event_json(&event)]
                }
                _ => Vec::new(),
            },
            Err(e) => {
                failures.push(format!("{id}: envelope: {e}"));
                continue;
            }
        };
        let problems: Vec<String> = if expected.len() != actual.len() {
            vec![format!(
                "expected {} events, got {}: {actual:?}",
                expected.len(),
                actual.len()
            )]
        } else {
            expected
                .iter()
                .zip(&actual)
                .flat_map(|(e, a)| diff_event(e, a))
                .collect()
        };
        if problems.is_empty() {
            passed += 1;
        } else {
            failures.push(format!("{id}:\n    {}", problems.join("\n    ")));
        }
    }
    println!("{passed}/{} corpus cases give Ceilometer's events", all.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn shipped_and_example_definitions_load() {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/event_definitions.yaml");
    let shipped = EventDefinitions::load(&config).unwrap_or_else(|e| panic!("{e}"));
    let reference = EventDefinitions::load(reference_dir().join("event_definitions.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shipped.len(), reference.len());
    // '*http.*' comes after objectstore.http.request in the file and shadows it.
    assert_eq!(
        reference.definition_line_for("objectstore.http.request"),
        reference.definition_line_for("http.request")
    );
    let example = reference_dir().join("examples/osprofiler_event_definitions.yaml");
    let profiler = EventDefinitions::load(&example).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(profiler.len(), 1);
}

/// Ceilometer lists an event's traits in its definition's order, and PyYAML decides that order
/// for merged mappings: `<<: [*trove_base_traits, *trove_common_traits]` lists the base traits
/// first. Every corpus event must come out with Ceilometer's trait order.
#[test]
fn corpus_events_list_traits_in_ceilometers_order() {
    let definitions = EventDefinitions::load(reference_dir().join("event_definitions.yaml"))
        .unwrap_or_else(|e| panic!("shipped definitions must load: {e}"));
    let names = |e: &Json| -> Vec<String> {
        e.get("traits")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let mut decoder = Decoder::new();
    let (mut compared, mut merged, mut failures) = (0, 0, Vec::new());
    for case in &cases() {
        let (Some(expected), false) = (
            case["events"].as_array().and_then(|e| e.first()),
            case["requeue"] == true,
        ) else {
            continue;
        };
        let body = common::corpus::wire(case);
        let Ok(n) = decoder.decode(&body) else {
            continue;
        };
        let EventOutcome::Event(event) = definitions.to_event(&n) else {
            continue;
        };
        let actual: Json = event_json(&event);
        compared += 1;
        let event_type = n.event_type().unwrap_or_default().to_owned();
        if event_type.starts_with("trove.instance.") && event_type != "trove.instance.exists" {
            merged += 1;
        }
        if names(expected) != names(&actual) {
            failures.push(format!(
                "{}: expected {:?}\n      got {:?}",
                case["id"],
                names(expected),
                names(&actual)
            ));
        }
    }
    assert!(compared >= 100, "only {compared} events compared");
    assert!(
        merged >= 3,
        "only {merged} events from a `<<: [*a, *b]` definition"
    );
    assert!(
        failures.is_empty(),
        "{} events differ in trait order:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
