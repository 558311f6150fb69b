//! Behaviour of whole definition files: loading errors, dispatch, default traits, coercion
//! failures, options.

use simd_json::prelude::*;

use super::*;
use crate::model::envelope::Decoder;
use crate::model::TraitValue;

/// An oslo 1.0 body (no envelope) is enough for the decoder; `extra` is spliced into it.
fn body(priority: &str, event_type: &str, payload: &str, extra: &str) -> Vec<u8> {
    format!(
        r#"{{"message_id": "m-1", "publisher_id": "compute.host-1.example.org", "event_type": "{event_type}",
            "priority": "{priority}", "payload": {payload}, "timestamp": "2025-03-14 09:01:23.147803",
            "_context_request_id": "req-1", "_context_project_id": "ctx-project", "_context_user_id": "ctx-user"{extra}}}"#
    )
    .into_bytes()
}

fn convert(defs: &EventDefinitions, body: Vec<u8>) -> EventOutcome {
    let mut decoder = Decoder::new();
    let outcome = match decoder.decode(&body) {
        Ok(n) => defs.to_event(&n),
        Err(e) => panic!("test body must decode: {e}"),
    };
    outcome
}

fn event(defs: &EventDefinitions, body: Vec<u8>) -> Event {
    match convert(defs, body) {
        EventOutcome::Event(e) => e,
        other => panic!("expected an event, got {other:?}"),
    }
}

fn defs(yaml: &str) -> EventDefinitions {
    EventDefinitions::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("{e}"))
}

fn trait_value<'e>(e: &'e Event, name: &str) -> Option<&'e TraitValue> {
    e.traits.iter().find(|t| &*t.name == name).map(|t| &t.value)
}

fn text(s: &str) -> Option<TraitValue> {
    Some(TraitValue::Text(s.to_owned()))
}

#[test]
fn default_traits_come_from_publisher_context_and_payload() {
    let d = defs("- event_type: '*'\n  traits: {}\n");
    let e = event(&d, body("INFO", "x.y", r#"{"tenant_id": "pay-tenant"}"#, ""));
    let names: Vec<&str> = e.traits.iter().map(|t| &*t.name).collect();
    assert_eq!(
        names,
        ["service", "request_id", "project_id", "user_id", "tenant_id"]
    );
    assert_eq!(
        trait_value(&e, "service").cloned(),
        text("compute.host-1.example.org")
    );
    assert_eq!(trait_value(&e, "request_id").cloned(), text("req-1"));
    assert_eq!(trait_value(&e, "project_id").cloned(), text("pay-tenant"));
    assert_eq!(trait_value(&e, "tenant_id").cloned(), text("pay-tenant"));
    assert_eq!(trait_value(&e, "user_id").cloned(), text("ctx-user"));
    assert_eq!(e.message_id.as_deref(), Some("m-1"));
    assert_eq!(datetime::isoformat(&e.generated), "2025-03-14T09:01:23.147803");
    assert_eq!(e.raw, OwnedValue::object());
}

#[test]
fn null_payload_value_falls_back_to_context() {
    let d = defs("[]");
    let e = event(
        &d,
        body("INFO", "x", r#"{"tenant_id": null, "user_id": "pay-user"}"#, ""),
    );
    assert_eq!(trait_value(&e, "project_id").cloned(), text("ctx-project"));
    assert_eq!(trait_value(&e, "user_id").cloned(), text("pay-user"));
}

#[test]
fn last_matching_definition_wins_and_overrides_defaults_in_place() {
    let d = defs(concat!(
        "- event_type: 'compute.*'\n  traits:\n    first: {fields: payload.a}\n",
        "- event_type: compute.instance.create.end\n  traits:\n    second: {fields: payload.a}\n",
        "    service: {fields: payload.a}\n",
        "- event_type: image.*\n  traits:\n    third: {fields: payload.a}\n",
    ));
    let e = event(
        &d,
        body("INFO", "compute.instance.create.end", r#"{"a": "A"}"#, ""),
    );
    assert_eq!(trait_value(&e, "second").cloned(), text("A"));
    assert_eq!(trait_value(&e, "first"), None);
    assert_eq!(e.traits[0].name.as_ref(), "service");
    assert_eq!(trait_value(&e, "service").cloned(), text("A"));
    let e = event(
        &d,
        body("INFO", "compute.instance.delete.end", r#"{"a": "A"}"#, ""),
    );
    assert_eq!(trait_value(&e, "first").cloned(), text("A"));
    assert_eq!(d.definition_line_for("compute.instance.create.end"), Some(4));
    assert_eq!(d.definition_line_for("volume.create"), None);
}

#[test]
fn exclusions_fall_through_to_earlier_definitions() {
    let d = defs(concat!(
        "- event_type: '*'\n  traits:\n    any: {fields: payload.a}\n",
        "- event_type: ['*.end', '!image.*']\n  traits:\n    ends: {fields: payload.a}\n",
    ));
    let a = r#"{"a": 1}"#;
    assert!(trait_value(&event(&d, body("INFO", "volume.create.end", a, "")), "ends").is_some());
    assert!(trait_value(&event(&d, body("INFO", "image.create.end", a, "")), "any").is_some());
}

#[test]
fn fields_list_takes_first_non_null_and_shorthand_is_text() {
    let d = defs(concat!(
        "- event_type: '*'\n  traits:\n",
        "    rid: {fields: ['payload.missing', 'payload.null', 'payload.id']}\n",
        "    short: payload.id\n",
        "    constant: {fields: 7, type: int}\n",
    ));
    let e = event(&d, body("INFO", "x", r#"{"null": null, "id": 42}"#, ""));
    assert_eq!(trait_value(&e, "rid").cloned(), text("42"));
    assert_eq!(trait_value(&e, "short").cloned(), text("42"));
    assert_eq!(trait_value(&e, "constant").cloned(), Some(TraitValue::Int(7)));
}

#[test]
fn types_coerce_and_empty_strings_are_skipped() {
    let d = defs(concat!(
        "- event_type: '*'\n  traits:\n",
        "    i: {fields: payload.i, type: int}\n",
        "    f: {fields: payload.f, type: float}\n",
        "    d: {fields: payload.d, type: datetime}\n",
        "    e: {fields: payload.e, type: datetime}\n",
        "    b: {fields: payload.b}\n",
        "    s: {fields: payload.e}\n",
    ));
    let payload = r#"{"i": "15", "f": "2.5", "d": "2025-03-14T10:00:00+01:00", "e": "", "b": true}"#;
    let e = event(&d, body("INFO", "x", payload, ""));
    assert_eq!(trait_value(&e, "i"), Some(&TraitValue::Int(15)));
    assert_eq!(trait_value(&e, "f"), Some(&TraitValue::Float(2.5)));
    assert_eq!(trait_value(&e, "d").map(|v| v.dtype()), Some(4));
    if let Some(TraitValue::Datetime(dt)) = trait_value(&e, "d") {
        assert_eq!(datetime::isoformat(dt), "2025-03-14T09:00:00");
    }
    assert_eq!(trait_value(&e, "e"), None);
    assert_eq!(trait_value(&e, "b").cloned(), text("True"));
    assert_eq!(trait_value(&e, "s").cloned(), text(""));
}

#[test]
fn uncoercible_trait_drops_the_whole_event() {
    let d = defs("- event_type: '*'\n  traits:\n    i: {fields: payload.i, type: int}\n");
    match convert(&d, body("INFO", "x", r#"{"i": "2.0"}"#, "")) {
        EventOutcome::Dropped(reason) => {
            assert_eq!(reason.event_type, "x");
            assert_eq!(reason.message_id, "m-1");
            assert!(matches!(reason.problem, DropProblem::Trait { ref name, .. } if name == "i"));
        }
        other => panic!("expected a drop, got {other:?}"),
    }
    let d = defs("- event_type: '*'\n  traits:\n    t: {fields: payload.t, type: datetime}\n");
    assert!(matches!(
        convert(&d, body("INFO", "x", r#"{"t": "soon"}"#, "")),
        EventOutcome::Dropped(_)
    ));
}

#[test]
fn unparsable_notification_timestamp_drops_the_event() {
    let d = defs("[]");
    let mut b = String::from_utf8(body("INFO", "x", "{}", "")).unwrap_or_default();
    b = b.replace("2025-03-14 09:01:23.147803", "2015-06-1909:19:35.786893");
    assert!(matches!(
        convert(&d, b.into_bytes()),
        EventOutcome::Dropped(DropReason {
            problem: DropProblem::BadTimestamp(_),
            ..
        })
    ));
}

#[test]
fn only_info_and_error_priorities_produce_events() {
    let d = defs("[]");
    for (priority, routed) in [
        ("INFO", true),
        ("ERROR", true),
        ("SAMPLE", false),
        ("WARN", false),
        ("AUDIT", false),
        ("DEBUG", false),
        ("CRITICAL", false),
        ("bogus", false),
    ] {
        let outcome = convert(&d, body(priority, "x", "{}", ""));
        assert_eq!(matches!(outcome, EventOutcome::Event(_)), routed, "{priority}");
    }
}

#[test]
fn drop_unmatched_and_store_raw_options() {
    let d = defs("- event_type: image.*\n  traits: {}\n");
    assert!(matches!(
        convert(&d, body("INFO", "x", "{}", "")),
        EventOutcome::Event(_)
    ));
    let d = d.with_options(EventOptions {
        store_raw: vec![Priority::Error],
        drop_unmatched_notifications: true,
    });
    assert_eq!(convert(&d, body("INFO", "x", "{}", "")), EventOutcome::Unmatched);
    let info = event(&d, body("INFO", "image.x", r#"{"k": 1}"#, ""));
    assert_eq!(info.raw, OwnedValue::object());
    let error = event(&d, body("ERROR", "image.x", r#"{"k": 1}"#, ""));
    assert_eq!(
        error
            .raw
            .get("payload")
            .and_then(|p| p.get("k"))
            .and_then(|k| k.as_i64()),
        Some(1)
    );
    assert_eq!(
        error.raw.get("publisher_id").and_then(|p| p.as_str()),
        Some("compute.host-1.example.org")
    );
    assert_eq!(
        error
            .raw
            .get("ctxt")
            .and_then(|c| c.get("request_id"))
            .and_then(|r| r.as_str()),
        Some("req-1")
    );
}

#[test]
fn missing_event_type_drops() {
    let d = defs("[]");
    let mut b = body("INFO", "x", "{}", "");
    let text = String::from_utf8(b.clone()).unwrap_or_default();
    b = text.replace(r#""event_type": "x","#, "").into_bytes();
    assert!(matches!(
        convert(&d, b),
        EventOutcome::Dropped(DropReason {
            problem: DropProblem::NoEventType,
            ..
        })
    ));
}

#[test]
fn bitfield_sets_bits_for_present_and_equal_fields() {
    let d = defs(concat!(
        "- event_type: '*'\n  traits:\n    flags:\n      type: int\n",
        "      fields: [payload.a, payload.b, payload.c]\n",
        "      plugin:\n        name: bitfield\n        parameters:\n          initial_bitfield: 256\n",
        "          flags:\n",
        "            - {path: payload.a, bit: 0}\n",
        "            - {path: payload.b, bit: 1, value: 2}\n",
        "            - {path: payload.c, bit: 2, value: 'x'}\n",
        "            - {path: payload.d, bit: 3}\n",
    ));
    let e = event(
        &d,
        body("INFO", "x", r#"{"a": "yes", "b": 2.0, "c": "y", "d": 1}"#, ""),
    );
    // a present → bit 0; b == 2 → bit 1; c != 'x'; d is not among the fields.
    assert_eq!(trait_value(&e, "flags"), Some(&TraitValue::Int(256 | 1 | 2)));
}

#[test]
fn split_and_timedelta_plugins_from_yaml() {
    let d = defs(concat!(
        "- event_type: '*'\n  traits:\n",
        "    host:\n      fields: publisher_id\n      plugin: {name: split, parameters: {segment: 1, max_split: 1}}\n",
        "    svc:\n      fields: publisher_id\n      plugin: split\n",
        "    took:\n      type: float\n      fields: [payload.start, payload.end]\n      plugin: timedelta\n",
    ));
    let payload = r#"{"start": "2025-03-14 08:58:03+00:00", "end": "2025-03-14T08:58:41.000000"}"#;
    let e = event(&d, body("INFO", "x", payload, ""));
    assert_eq!(trait_value(&e, "host").cloned(), text("host-1.example.org"));
    assert_eq!(trait_value(&e, "svc").cloned(), text("compute"));
    assert_eq!(trait_value(&e, "took"), Some(&TraitValue::Float(38.0)));
}

fn load_error(yaml: &str) -> DefinitionError {
    match EventDefinitions::parse(yaml, "defs/event_definitions.yaml") {
        Ok(_) => panic!("expected an error for:\n{yaml}"),
        Err(e) => e,
    }
}

#[test]
fn errors_name_file_line_and_problem() {
    let yaml = concat!(
        "---\n",
        "- event_type: a.*\n",
        "  traits:\n",
        "    ok: {fields: payload.x}\n",
        "- event_type: b.*\n",
        "  traits:\n",
        "    fine:\n",
        "      fields: payload.x\n",
        "    host:\n",
        "      fields: publisher_id\n",
        "      plugin: splitter\n",
    );
    let e = load_error(yaml);
    assert_eq!(e.line(), Some(9));
    assert!(
        matches!(e.fault(), Some(DefinitionFault::Plugin(plugins::PluginError::Unknown(p))) if p == "splitter")
    );
    let shown = e.to_string();
    assert!(
        shown.starts_with("defs/event_definitions.yaml:9: definition 2 (event_type \"b.*\"), trait \"host\""),
        "{shown}"
    );

    let e = load_error("- event_type: x\n  traits:\n    t: {fields: payload.x, type: integer}\n");
    assert_eq!(e.line(), Some(3));
    assert_eq!(
        e.fault(),
        Some(&DefinitionFault::UnknownTraitType("integer".into()))
    );

    let e = load_error("- event_type: x\n  traits:\n    t: {fields: 'payload..!!'}\n");
    assert_eq!(e.line(), Some(3));
    assert!(
        matches!(e.fault(), Some(DefinitionFault::BadJsonPath { .. })),
        "{e}"
    );

    let e = load_error("- event_type: x\n  traits: {}\n- traits: {}\n");
    assert_eq!(
        (e.line(), e.fault()),
        (Some(3), Some(&DefinitionFault::MissingField("event_type")))
    );

    let e = load_error("- event_type: x\n  traits:\n    t: {type: int}\n");
    assert_eq!(e.fault(), Some(&DefinitionFault::MissingFields));

    let e =
        load_error("- event_type: x\n  traits:\n    t:\n      fields: a\n      plugin: {parameters: {}}\n");
    assert_eq!(e.fault(), Some(&DefinitionFault::PluginWithoutName));

    let e = load_error("- event_type: x\n  traits:\n    a: b: c\n");
    assert!(matches!(e, DefinitionError::Yaml { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("defs/event_definitions.yaml:3:"), "{e}");

    let e = load_error("event_type: x\n");
    assert!(matches!(e, DefinitionError::NotAList { .. }), "{e}");
}

#[test]
fn each_error_is_the_problem_check_and_run_print_in_the_same_words() {
    let mut errors = vec![
        load_error("- event_type: x\n  traits:\n    t: {type: int}\n"),
        load_error("- event_type: x\n  traits:\n    a: b: c\n"),
        load_error("event_type: x\n"),
    ];
    errors.extend(EventDefinitions::load("/nonexistent/event_definitions.yaml").err());
    assert_eq!(errors.len(), 4);
    for e in errors {
        let (shown, line) = (e.to_string(), e.line());
        let problem = crate::problem::Problem::from(e);
        assert_eq!(problem.to_string(), shown);
        assert_eq!(problem.line, line);
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    match EventDefinitions::load("/nonexistent/event_definitions.yaml") {
        Err(e @ DefinitionError::Io { .. }) => {
            assert!(e.to_string().contains("/nonexistent/event_definitions.yaml"))
        }
        other => panic!("expected an io error, got {other:?}"),
    }
}

#[test]
fn empty_file_gives_the_catch_all_only() {
    let d = defs("");
    assert!(d.is_empty());
    assert!(matches!(
        convert(&d, body("INFO", "x", "{}", "")),
        EventOutcome::Event(_)
    ));
}

#[test]
fn definitions_are_shareable_between_workers() {
    fn shareable<T: Send + Sync>() {}
    shareable::<EventDefinitions>();
}

#[test]
fn jsonpath_that_raises_in_python_drops_the_event() {
    // jsonpath-rw indexes a non-empty dict with `[0]` and raises KeyError.
    let d = defs("- event_type: '*'\n  traits:\n    i: {fields: 'payload.attachments[0].server_id'}\n");
    let ok = event(
        &d,
        body("INFO", "x", r#"{"attachments": [{"server_id": "s-1"}]}"#, ""),
    );
    assert_eq!(trait_value(&ok, "i").cloned(), text("s-1"));
    match convert(
        &d,
        body("INFO", "x", r#"{"attachments": {"server_id": "s-1"}}"#, ""),
    ) {
        EventOutcome::Dropped(DropReason {
            problem: DropProblem::Trait { name, error },
            ..
        }) => {
            assert_eq!(name, "i");
            assert!(matches!(error, traits::TraitError::JsonPath { .. }), "{error}");
        }
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn options_from_config_names() {
    let o = EventOptions::from_config(&["INFO", "error", "bogus"], true);
    assert_eq!(o.store_raw, vec![Priority::Info, Priority::Error]);
    assert!(o.drop_unmatched_notifications);
    assert_eq!(
        EventOptions::default(),
        EventOptions::from_config::<&str>(&[], false)
    );
}

#[test]
fn duplicate_trait_keys_load_as_pyyaml_does() {
    let d = defs("- event_type: a\n  traits:\n    x: {fields: payload.a}\n    y: {fields: payload.a}\n    x: {fields: payload.b}\n");
    let e = event(&d, body("INFO", "a", r#"{"a": "A", "b": "B"}"#, ""));
    assert_eq!(trait_value(&e, "x").cloned(), text("B"));
    let own: Vec<&str> = e.traits.iter().skip(5).map(|t| &*t.name).collect();
    assert_eq!(own, ["x", "y"]);
}
