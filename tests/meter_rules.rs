//! Ceilometer's meter-definition rules, each on a hand-made notification (the corpus test
//! covers the shipped file; these pin the general rules it relies on).

use std::path::Path;

use ceilo::convert::{ConvertError, Converter};
use ceilo::meter::MeterDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::Sample;
use serde_json::{json, Value as Json};

fn converter(yaml: &str) -> Converter {
    let (defs, problems) = MeterDefinitions::from_texts([(Path::new("t.yaml"), yaml)]).expect("yaml");
    assert!(problems.is_empty(), "{problems:?}");
    Converter::new(defs)
}

fn body(event_type: &str, payload: Json) -> Vec<u8> {
    let inner = json!({"message_id": "m-1", "publisher_id": "svc.host-1", "event_type": event_type,
        "priority": "INFO", "payload": payload, "timestamp": "2025-03-14 09:01:23.147803",
        "_context_user_id": "ctx-user"});
    serde_json::to_vec(&json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})).expect("json")
}

fn run(c: &Converter, event_type: &str, payload: Json) -> Result<(Vec<Sample>, Vec<Sample>), ConvertError> {
    let b = body(event_type, payload);
    c.convert(&mut Decoder::new(), &b)
        .map(|r| (r.samples, r.dropped_samples))
}

fn json_of(v: &ceilo::model::OwnedValue) -> Json {
    serde_json::from_str(&simd_json::to_string(v).expect("encode")).expect("json")
}

const BASIC: &str = r#"
metric:
  - name: 'first'
    event_type: ['thing.create.*', 'thing.(?!delete)']
    type: gauge
    unit: B
    volume: $.payload.size
    resource_id: $.payload.id
    user_id: $.payload.user
    project_id: $.payload.project
    user_metadata: $.payload.metadata
    metadata:
      kept: $.payload.name
      empty: $.payload.empty
      zero: $.payload.zero
  - name: 'second'
    event_type: 'thing.create.end'
    type: delta
    unit: s
    volume: 1
    resource_id: $.payload.id
"#;

#[test]
fn samples_come_out_in_reverse_definition_order_with_event_type_matched_at_the_start() {
    let c = converter(BASIC);
    let (samples, _) = run(&c, "thing.create.end.extra", json!({"id": "r", "size": 3})).expect("convert");
    let names: Vec<&str> = samples.iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["second", "first"]);
    let (samples, _) = run(&c, "thing.deleted", json!({"id": "r", "size": 3})).expect("convert");
    assert!(
        samples.is_empty(),
        "the negative look-ahead excludes thing.delete*"
    );
    let (samples, _) = run(&c, "xthing.create.end", json!({"id": "r", "size": 3})).expect("convert");
    assert!(samples.is_empty(), "re.match does not search");
}

#[test]
fn only_truthy_metadata_is_kept_and_metering_keys_become_user_metadata() {
    let c = converter(BASIC);
    let long = "x".repeat(300);
    let payload = json!({"id": "r", "size": 1, "name": "web", "empty": "", "zero": 0,
        "metadata": {"metering.a.b": long, "metering.kept": "dup", "other": "no", "metering.n": 5}});
    let (samples, _) = run(&c, "thing.update", payload).expect("convert");
    let md = json_of(&samples[0].resource_metadata);
    assert_eq!(md["kept"], "web");
    assert!(md.get("empty").is_none() && md.get("zero").is_none());
    let user = &md["user_metadata"];
    assert_eq!(
        user["a_b"].as_str().map(str::len),
        Some(256),
        "cut to 256 characters"
    );
    assert_eq!(user["n"], 5);
    assert!(
        user.get("kept").is_none(),
        "keys already in the metadata are skipped"
    );
    assert!(user.get("other").is_none());
}

#[test]
fn empty_metadata_falls_back_to_the_payload_with_event_type_and_host() {
    let c = converter(BASIC);
    let (samples, _) = run(&c, "thing.update", json!({"id": "r", "size": 1, "x": [1]})).expect("convert");
    let md = json_of(&samples[0].resource_metadata);
    assert_eq!(
        md,
        json!({"id": "r", "size": 1, "x": [1], "event_type": "thing.update", "host": "svc.host-1"})
    );
}

#[test]
fn volume_is_raw_nulls_and_non_numbers_are_dropped_and_lists_fail_the_notification() {
    let c = converter(BASIC);
    let (samples, _) = run(&c, "thing.update", json!({"id": "r", "size": "15"})).expect("convert");
    assert_eq!(json_of(&samples[0].volume), json!("15"));
    let (samples, dropped) = run(&c, "thing.update", json!({"id": "r", "size": "lots"})).expect("convert");
    assert!(samples.is_empty());
    assert_eq!(dropped.len(), 1);
    let (_, dropped) = run(&c, "thing.update", json!({"id": "r"})).expect("convert");
    assert_eq!(dropped.len(), 1, "a missing volume is null");
    let err = run(&c, "thing.update", json!({"id": "r", "size": [1, 2]})).expect_err("a list volume raises");
    assert!(matches!(err, ConvertError::Endpoint(_)), "{err}");
}

#[test]
fn user_and_project_never_fall_back_to_the_context() {
    let c = converter(BASIC);
    let (samples, _) = run(&c, "thing.update", json!({"id": "r", "size": 1})).expect("convert");
    assert_eq!(
        json_of(&samples[0].user_id),
        Json::Null,
        "ctxt.user_id|ctxt.user reads ctxt.(user_id|ctxt).user"
    );
    assert_eq!(json_of(&samples[0].project_id), Json::Null);
}

#[test]
fn timestamps_are_isoformatted_and_unparsable_ones_fail_the_notification() {
    let c = converter(BASIC);
    let (samples, _) = run(&c, "thing.update", json!({"id": "r", "size": 1})).expect("convert");
    assert_eq!(
        json_of(&samples[0].timestamp),
        json!("2025-03-14T09:01:23.147803+00:00")
    );
    let yaml = BASIC.replace(
        "    user_metadata: $.payload.metadata\n",
        "    timestamp: $.payload.when\n",
    );
    let c = converter(&yaml);
    let (samples, _) = run(
        &c,
        "thing.update",
        json!({"id": "r", "size": 1, "when": "2025-01-02T03:04:05+02:00"}),
    )
    .expect("convert");
    assert_eq!(json_of(&samples[0].timestamp), json!("2025-01-02T03:04:05+02:00"));
    let err =
        run(&c, "thing.update", json!({"id": "r", "size": 1, "when": "soon"})).expect_err("bad timestamp");
    assert!(err.to_string().contains("soon"), "{err}");
}

const LOOKUP: &str = r#"
metric:
  - name: $.payload.m.[*].name
    event_type: 'multi'
    type: gauge
    unit: $.payload.m.[*].unit
    volume: $.payload.m.[*].value
    resource_id: $.payload.id
    lookup: ['name', 'unit', 'volume']
"#;

#[test]
fn lookup_makes_one_sample_per_element_and_none_when_lists_are_uneven() {
    let c = converter(LOOKUP);
    let payload = json!({"id": "r", "m": [{"name": "a", "unit": "u1", "value": 1}, {"name": "b", "unit": "u2", "value": 2}]});
    let (samples, _) = run(&c, "multi", payload).expect("convert");
    let got: Vec<(String, String, Json, Json)> = samples
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.unit.to_string(),
                json_of(&s.volume),
                json_of(&s.resource_id),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a".into(), "u1".into(), json!(1), json!("r")),
            ("b".into(), "u2".into(), json!(2), json!("r"))
        ],
        "resource_id is broadcast"
    );
    let uneven =
        json!({"id": "r", "m": [{"name": "a", "unit": "u1", "value": 1}, {"name": "b", "value": 2}]});
    assert!(run(&c, "multi", uneven).expect("convert").0.is_empty());
    assert!(run(&c, "multi", json!({"id": "r", "m": []}))
        .expect("convert")
        .0
        .is_empty());
}

#[test]
fn a_name_that_finds_nothing_is_its_own_expression_text() {
    let c = converter(&BASIC.replace("name: 'first'", "name: $.payload.missing"));
    let (samples, _) = run(&c, "thing.update", json!({"id": "r", "size": 1})).expect("convert");
    assert_eq!(&*samples[0].name, "$.payload.missing");
}

#[test]
fn a_jsonpath_that_raises_in_python_fails_the_notification() {
    let yaml = BASIC.replace(
        "      zero: $.payload.zero\n",
        "      zero: $.payload.attachments[0].id\n",
    );
    let c = converter(&yaml);
    assert!(run(
        &c,
        "thing.update",
        json!({"id": "r", "size": 1, "attachments": []})
    )
    .is_ok());
    let err = run(
        &c,
        "thing.update",
        json!({"id": "r", "size": 1, "attachments": null}),
    )
    .expect_err("len(None)");
    assert!(err.to_string().contains("TypeError"), "{err}");
}

#[test]
fn other_priorities_make_no_samples() {
    let c = converter(BASIC);
    for priority in ["ERROR", "WARN", "AUDIT", "DEBUG", "CRITICAL", "bogus"] {
        let b = String::from_utf8(body("thing.update", json!({"id": "r", "size": 1})))
            .expect("utf-8")
            .replace("INFO", priority)
            .into_bytes();
        let out = c.convert(&mut Decoder::new(), &b).expect("convert");
        assert!(out.samples.is_empty(), "{priority}");
    }
}
