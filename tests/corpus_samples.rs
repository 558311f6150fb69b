//! Every public corpus case through the conversion core with Ceilometer's shipped meters.yaml:
//! the samples (and dropped samples, and whether the message fails) must be Ceilometer's, and
//! the event endpoint must run exactly when Ceilometer's did.

mod common;

use ceilo::convert::Converter;
use ceilo::event::EventDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::meter_message;
use serde_json::Value as Json;

fn to_json(v: &ceilo::model::OwnedValue) -> Json {
    serde_json::from_str(&simd_json::to_string(v).expect("encode")).expect("reparse")
}

#[test]
fn every_public_case_gives_ceilometers_samples_and_runs_the_event_endpoint_when_ceilometer_does() {
    let cases = common::corpus::cases();
    assert_eq!(cases.len(), 121);
    assert_cases_match(&cases);
}

/// Mutated corpus notifications (a value of another type, a key gone, an event type or
/// priority swapped) and what Ceilometer 27 made of each, or that it raised.
#[test]
fn mutated_notifications_give_ceilometers_samples_and_failures() {
    let cases = common::corpus::differential_cases();
    assert!(cases.len() >= 200, "{} cases", cases.len());
    assert_cases_match(&cases);
}

fn assert_cases_match(cases: &[Json]) {
    let meters = common::corpus::reference_dir().join("meters.d/meters.yaml");
    let (converter, problems) = Converter::load(&meters).expect("shipped meters.yaml loads");
    assert!(
        problems.is_empty(),
        "shipped definitions must all compile: {problems:?}"
    );
    let events = EventDefinitions::load(common::corpus::reference_dir().join("event_definitions.yaml"))
        .expect("shipped event_definitions.yaml loads");
    let converter = converter.with_events(events);
    let mut decoder = Decoder::new();
    let mut failures = Vec::new();
    for case in cases {
        let id = case["id"].as_str().unwrap_or("?");
        let body = common::corpus::wire(case);
        let expect_requeue = case["requeue"].as_bool().unwrap_or(false);
        let mut event_types = Vec::new();
        let (samples, dropped, requeue) = match converter.convert(&mut decoder, &body) {
            Ok(c) => {
                event_types = c.events.iter().map(|e| e.event_type.clone()).collect();
                let render = |s: &[ceilo::model::Sample]| -> Vec<Json> {
                    s.iter()
                        .map(|s| {
                            common::corpus::as_dict(&to_json(&meter_message::meter_message_value(s, b"")))
                        })
                        .collect()
                };
                (render(&c.samples), render(&c.dropped_samples), false)
            }
            Err(e) => {
                if !expect_requeue {
                    failures.push(format!("{id}: unexpected error {e}"));
                }
                (Vec::new(), Vec::new(), true)
            }
        };
        if requeue != expect_requeue {
            failures.push(format!("{id}: requeue {requeue}, expected {expect_requeue}"));
        }
        let empty = Vec::new();
        let expected = case["samples"].as_array().unwrap_or(&empty);
        let expected_dropped = case["dropped_samples"].as_array().unwrap_or(&empty);
        let mut problems = common::corpus::compare_samples("sample", expected, &samples);
        problems.extend(common::corpus::compare_samples(
            "dropped",
            expected_dropped,
            &dropped,
        ));
        // Traits are compared in detail by tests/events_corpus.rs; here: the event endpoint ran
        // exactly when Ceilometer's did (never after a sample endpoint raised).
        let expected_events: Vec<String> = case["events"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .map(|e| e["event_type"].as_str().unwrap_or_default().to_owned())
            .collect();
        if event_types != expected_events {
            problems.push(format!("events {event_types:?}, expected {expected_events:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!("{id}: {}", problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// With `[event] store_raw = info, error`, each public case's event keeps the notification as
/// Ceilometer 27 stored it (`tests/fixtures/differential/store_raw.jsonl`, its raw as the
/// differential oracle recorded it), including what its sample endpoints wrote into the message
/// first: the IPMI endpoints' `node` in every sensor they read.
#[test]
fn stored_raw_notifications_are_ceilometers() {
    let meters = common::corpus::reference_dir().join("meters.d/meters.yaml");
    let (converter, _) = Converter::load(&meters).expect("shipped meters.yaml loads");
    let events = EventDefinitions::load(common::corpus::reference_dir().join("event_definitions.yaml"))
        .expect("shipped event_definitions.yaml loads")
        .with_options(ceilo::event::EventOptions::from_config(&["info", "error"], false));
    let converter = converter.with_events(events);
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential/store_raw.jsonl");
    let expected: std::collections::HashMap<String, Json> = std::fs::read_to_string(path)
        .expect("store_raw.jsonl")
        .lines()
        .map(|l| {
            let row: Json = serde_json::from_str(l).expect("a row");
            (row["id"].as_str().expect("id").to_owned(), row["raw"].clone())
        })
        .collect();
    let mut decoder = Decoder::new();
    let (mut compared, mut failures) = (0, Vec::new());
    for case in &common::corpus::cases() {
        let id = case["id"].as_str().unwrap_or("?");
        let Some(want) = expected.get(id) else { continue };
        let raw = match converter.convert(&mut decoder, &common::corpus::wire(case)) {
            Ok(c) if c.events.len() == 1 => to_json(&c.events[0].raw),
            other => {
                failures.push(format!("{id}: no event: {:?}", other.map(|c| c.events.len())));
                continue;
            }
        };
        compared += 1;
        if !common::corpus::values_equal(&raw, want) {
            failures.push(format!("{id}:\n  want {want}\n  got  {raw}"));
        }
    }
    assert_eq!(compared, expected.len());
    assert!(
        failures.is_empty(),
        "{} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
