//! Input nested too deeply to walk safely: dead-lettered (or reported by `convert`) with its
//! reason, the agent alive and converting what comes after; input just inside the limit goes
//! all the way through conversion, serialization and signing on an ordinary thread's stack.

mod runtime_support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use ceilo::convert::Converter;
use ceilo::event::message::write_message_from_event;
use ceilo::event::EventDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::json_read::MAX_DEPTH;
use ceilo::model::meter_message;
use runtime_support::*;
use serde_json::json;

const A_MILLION: usize = 1_000_000;

fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// An info notification from nova, as oslo's 2.0 envelope, whose payload holds `value` (JSON
/// text) under several keys the shipped definitions turn into metadata and traits.
fn nova_notification(value: &str) -> Vec<u8> {
    let inner = format!(
        "{{\"event_type\": \"compute.instance.exists\", \"priority\": \"INFO\", \"publisher_id\": \
         \"nova-compute:h\", \"message_id\": \"m-deep\", \"timestamp\": \"2026-12-03 10:00:00.000001\", \
         \"_context_request_id\": {value}, \"payload\": {{\"instance_id\": \"i-1\", \"tenant_id\": \"p\", \
         \"user_id\": \"u\", \"memory_mb\": 512, \"vcpus\": 1, \"image_meta\": {{\"base\": {value}}}, \
         \"metadata\": {{}}, \"host\": {value}, \"display_name\": {value}, \"state\": {value}, \
         \"instance_type\": {value}, \"instance_flavor_id\": {value}}}}}"
    );
    json!({"oslo.version": "2.0", "oslo.message": inner})
        .to_string()
        .into_bytes()
}

/// The three shapes a hostile message takes: the whole body, the inner message, a payload.
fn million_deep_bodies() -> Vec<Vec<u8>> {
    let bare = nested(A_MILLION, "").into_bytes();
    let inner = json!({"oslo.version": "2.0", "oslo.message": nested(A_MILLION, "")})
        .to_string()
        .into_bytes();
    vec![bare, inner, nova_notification(&nested(A_MILLION, ""))]
}

#[test]
fn a_million_levels_deep_message_is_dead_lettered_and_the_agent_converts_what_follows() {
    let broker = Broker::new("deep");
    // The bodies are 2 to 14 MB: let them past the size limit, so it is their depth that is refused.
    let settings = settings(100, 10).replacen(
        "notification:\n",
        "notification:\n  max_body_bytes: 33554432\n",
        1,
    );
    let dir = config_dir(&settings);
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let mut input: Vec<(String, String, Vec<u8>)> = million_deep_bodies()
        .into_iter()
        .map(|b| ("nova".into(), "notifications.info".into(), b))
        .collect();
    input.extend(polling_messages("behind", 100));
    rt.block_on(publish(&url, &input));
    let agent = Agent::start(dir.path(), &url);

    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(60),
        messages(3),
    ));
    assert_eq!(dead.len(), 3, "log:\n{}", agent.log_text());
    for d in &dead {
        let reason = d.header("x-ceilo-reason");
        assert!(
            reason.is_some_and(|r| r.contains("nested deeper than 1000 levels")),
            "{reason:?}"
        );
    }
    assert_eq!(
        samples_published(&rt, &url, 100),
        100,
        "the notifications behind the deep ones flow on"
    );
    assert!(
        agent.terminate().success(),
        "the agent was alive to shut down cleanly"
    );
}

#[test]
fn convert_reports_a_million_levels_deep_line_and_goes_on() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("convert")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceilo");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        for body in million_deep_bodies() {
            stdin
                .write_all(&body)
                .and_then(|()| stdin.write_all(b"\n"))
                .expect("write");
        }
        stdin.write_all(&nova_notification("\"x\"")).expect("write");
        stdin.write_all(b"\n").expect("write");
    });
    let out = child.wait_with_output().expect("convert");
    writer.join().expect("writer");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 4);
    for line in &lines[..3] {
        let error = line["error"].as_str().unwrap_or_default();
        assert!(error.contains("nested deeper than 1000 levels"), "{line}");
    }
    assert_eq!(lines[3]["error"], serde_json::Value::Null);
    assert!(!lines[3]["samples"].as_array().expect("samples").is_empty());
}

/// What the limit lets through must be safe for every walk after it, on the 2 MiB stack of the
/// agent's worker threads (the std default), in this unoptimised build.
#[test]
fn input_at_the_depth_limit_converts_serializes_and_signs_on_a_worker_stack() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let (converter, _) = Converter::load(&config.join("meters.d")).expect("meters");
    let events = EventDefinitions::load(config.join("event_definitions.yaml")).expect("events");
    let converter = converter.with_events(events);
    // The deepest value sits 4 levels down in the inner message (root, payload, image_meta, base).
    let value = nested(MAX_DEPTH - 4, "{\"k\": \"v\"}");
    let worker = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let body = nova_notification(&value);
            let converted = converter.convert(&mut Decoder::new(), &body).expect("converts");
            let mut out = Vec::new();
            for s in &converted.samples {
                meter_message::write_meter_message(&mut out, s, b"secret");
            }
            for e in &converted.events {
                write_message_from_event(e, b"secret", &mut out);
            }
            let deepest = "[".repeat(MAX_DEPTH - 4);
            let written_whole = out.windows(deepest.len()).any(|w| w == deepest.as_bytes());
            (converted.samples.len(), converted.events.len(), written_whole)
        })
        .expect("spawn");
    let (samples, events, written_whole) = worker.join().expect("no stack overflow");
    assert!(samples > 0 && events > 0);
    assert!(
        written_whole,
        "the samples' metadata carries the deepest value, written out whole"
    );
}
