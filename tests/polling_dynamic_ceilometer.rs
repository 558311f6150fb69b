//! Dynamic pollster definitions and API responses, and the samples Ceilometer 27's own
//! `DynamicPollster` made of them (`tests/fixtures/differential/pollsters.jsonl`, recorded
//! offline by `fuzz/differential/pollster_oracle.py`): ceilo must make the same samples, or
//! fail the poll where Ceilometer's raises.

use std::path::Path;

use ceilo::model::sample::write_sample_as_dict;
use ceilo::polling::dynamic::DynamicDefinition;
use ceilo::polling::pollster::PollContext;
use serde_json::Value as Json;

/// What ceilo makes of one definition and response: the samples as Ceilometer's `as_dict()`
/// without the poll's time and the fresh id, or the error that fails the poll.
fn poll(definitions: &str, response: &str) -> Result<Vec<Json>, String> {
    let defs =
        DynamicDefinition::parse_file(definitions, Path::new("pollsters.yaml")).map_err(|e| e.to_string())?;
    // `[DEFAULT] sample_source`, the source the agent polls with.
    let ctx = PollContext::now("openstack".into());
    let mut out = Vec::new();
    for d in &defs {
        let decoded = d.handle(response.as_bytes())?;
        let (samples, _next) = d.extract(decoded, &ctx)?;
        for s in &samples {
            let mut text = Vec::new();
            write_sample_as_dict(&mut text, s);
            let mut dict: Json = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
            let fields = dict.as_object_mut().ok_or("not a dict")?;
            fields.remove("timestamp");
            fields.remove("id");
            out.push(dict);
        }
    }
    Ok(out)
}

#[test]
fn dynamic_pollsters_make_ceilometers_samples() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/differential/pollsters.jsonl");
    let text = std::fs::read_to_string(&path).expect("pollsters.jsonl");
    let (mut compared, mut failures) = (0, Vec::new());
    for line in text.lines() {
        let case: Json = serde_json::from_str(line).expect("a case");
        let id = case["id"].as_str().unwrap_or("?");
        let definitions = case["definitions"].as_str().expect("definitions");
        let response = case["response"].as_str().expect("response");
        let want_error = !case["error"].is_null();
        let want = case["samples"].as_array().cloned().unwrap_or_default();
        compared += 1;
        match poll(definitions, response) {
            Err(e) if !want_error => {
                failures.push(format!("{id}: ceilo failed ({e}), Ceilometer made {want:?}"))
            }
            Err(_) => {}
            Ok(got) if want_error => failures.push(format!(
                "{id}: Ceilometer failed ({}), ceilo made {got:?}",
                case["error"]
            )),
            Ok(got) if got != want => failures.push(format!("{id}:\n  want {want:?}\n  got  {got:?}")),
            Ok(_) => {}
        }
    }
    assert!(compared >= 10, "{compared} cases");
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
