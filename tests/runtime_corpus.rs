//! The golden corpus through the broker: every public case consumed by a default Ceilometer is
//! published as nova or cinder would (its wire body, exchange and routing key) and the agent's
//! output on `metering.sample` is compared
//! * with what the conversion core produces for the same bodies in-process: the runtime must
//!   add, lose and change nothing (this is the runtime's own contract);
//! * with the corpus' samples and events (the whole product's contract, which also depends on
//!   the conversion core's fidelity).
//!
//! Cases on which Ceilometer's endpoints raise (requeued forever by Ceilometer) must land in the
//! dead-letter queue.

mod common;
mod runtime_support;

use std::path::PathBuf;
use std::time::Duration;

use ceilo::model::envelope::Decoder;
use runtime_support::*;
use serde_json::Value as Json;

/// The corpus cases, from ../shared (the main checkout) or ../../shared (a worktree).
fn cases() -> Vec<Json> {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = ["../shared", "../../shared"]
        .iter()
        .map(|up| here.join(up).join("ceilometer-reference/corpus/public.jsonl"))
        .find(|p| p.exists())
        .expect("ceilometer-reference/corpus/public.jsonl");
    let text = std::fs::read_to_string(&path).expect("corpus");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("case"))
        .collect()
}

struct Run {
    cases: Vec<Json>,
    /// What came out on metering.sample, as `Sample.as_dict()`.
    published: Vec<Json>,
    /// What came out on event.sample: (event_type, message_id), sorted.
    events: Vec<(String, String)>,
    dead: usize,
    log: String,
}

fn bodies(cases: &[Json]) -> Vec<(String, String, Vec<u8>)> {
    let s = |v: &Json| v.as_str().unwrap_or_default().to_owned();
    // `wire` is the envelope dict; its `oslo.message` is already a JSON string.
    cases
        .iter()
        .map(|c| {
            (
                s(&c["amqp"]["exchange"]),
                s(&c["amqp"]["routing_key"]),
                c["wire"].to_string().into_bytes(),
            )
        })
        .collect()
}

fn as_dicts(received: &[Received]) -> Vec<Json> {
    received
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .map(|m| common::corpus::as_dict(&m))
        .collect()
}

/// (event_type, message_id) of event messages, sorted.
fn event_keys(messages: impl IntoIterator<Item = Json>) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = messages
        .into_iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            (s("event_type"), s("message_id"))
        })
        .collect();
    keys.sort();
    keys
}

fn run_corpus_through_the_broker(
    expected_samples: usize,
    expected_events: usize,
    expected_dead: usize,
) -> Run {
    let cases: Vec<Json> = cases()
        .into_iter()
        .filter(|c| c["amqp"]["consumed_by_default"] == Json::Bool(true))
        .collect();
    let broker = Broker::new("corpus");
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    let url = broker.url();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    rt.block_on(declare(&url, "event.sample", "ceilometer", "event.sample", false));
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &bodies(&cases)));
    let mut count = 0;
    let received = rt.block_on(collect(&url, "metering.sample", Duration::from_secs(30), |r| {
        count += meter_messages(&r.body).len();
        count >= expected_samples
    }));
    // Anything extra would arrive right behind: give it a moment.
    let extra = rt.block_on(collect(&url, "metering.sample", Duration::from_secs(2), |_| {
        false
    }));
    let published = as_dicts(&received).into_iter().chain(as_dicts(&extra)).collect();
    let mut count = 0;
    let events = rt.block_on(collect(&url, "event.sample", Duration::from_secs(20), |r| {
        count += meter_messages(&r.body).len();
        count >= expected_events
    }));
    let events = event_keys(events.iter().flat_map(|r| meter_messages(&r.body)));
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(10),
        messages(expected_dead),
    ));
    wait_until("every delivery acked", Duration::from_secs(20), || {
        ["info", "sample", "error", "warn", "audit", "debug", "critical"]
            .iter()
            .all(|p| rt.block_on(ready_count(&url, &format!("notifications.{p}"))) == 0)
    });
    let log = agent.log_text();
    assert!(agent.terminate().success());
    Run {
        cases,
        published,
        events,
        dead: dead.len(),
        log,
    }
}

/// The conversion core's output for the cases, in-process: (samples as dicts, event keys,
/// failures).
fn converted_in_process(cases: &[Json]) -> (Vec<Json>, Vec<(String, String)>, usize) {
    // The same conversion core the agent loads from its config directory.
    let converter = ceilo::agent::load_converter(
        &ceilo::config::definitions::DefinitionFiles::in_dir(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config"),
        ),
        &Default::default(),
    )
    .expect("converter");
    let mut decoder = Decoder::new();
    let (mut samples, mut events, mut failed) = (Vec::new(), Vec::new(), 0);
    for (_, _, body) in bodies(cases) {
        match converter.convert(&mut decoder, &body) {
            Ok(c) => {
                events.extend(
                    c.events
                        .iter()
                        .map(|e| serde_json::json!({"event_type": e.event_type, "message_id": e.message_id})),
                );
                for s in &c.samples {
                    let m = ceilo::model::meter_message::meter_message_value(s, b"");
                    let mut d = common::corpus::as_dict(
                        &serde_json::from_str(&simd_json::prelude::Writable::encode(&m)).expect("json"),
                    );
                    // Generated sample ids differ from run to run.
                    d["id"] = Json::from("<generated-uuid1>");
                    samples.push(d);
                }
            }
            Err(_) => failed += 1,
        }
    }
    (samples, event_keys(events), failed)
}

#[test]
fn corpus_bodies_come_out_on_metering_sample_exactly_as_the_converter_makes_them() {
    let all: Vec<Json> = cases()
        .into_iter()
        .filter(|c| c["amqp"]["consumed_by_default"] == Json::Bool(true))
        .collect();
    let (expected, expected_events, failed) = converted_in_process(&all);
    assert!(!expected_events.is_empty(), "the corpus makes events");
    let run = run_corpus_through_the_broker(expected.len(), expected_events.len(), failed);
    let problems = common::corpus::compare_samples("runtime", &expected, &run.published);
    assert!(
        problems.is_empty(),
        "{} of {} samples differ from the in-process conversion:\n{}\nlog:\n{}",
        problems.len(),
        expected.len(),
        problems.join("\n"),
        run.log
    );
    assert_eq!(
        run.dead, failed,
        "every body the converter rejects is dead-lettered"
    );
    assert_eq!(run.events, expected_events, "events on event.sample");
}

#[test]
fn corpus_bodies_come_out_on_metering_sample_equal_to_the_corpus_samples() {
    let all: Vec<Json> = cases()
        .into_iter()
        .filter(|c| c["amqp"]["consumed_by_default"] == Json::Bool(true))
        .collect();
    let expected: Vec<Json> = all
        .iter()
        .flat_map(|c| c["samples"].as_array().cloned().unwrap_or_default())
        .collect();
    let requeued = all.iter().filter(|c| c["requeue"] == Json::Bool(true)).count();
    let expected_events = event_keys(
        all.iter()
            .flat_map(|c| c["events"].as_array().cloned().unwrap_or_default()),
    );
    let run = run_corpus_through_the_broker(expected.len(), expected_events.len(), requeued);
    let problems = common::corpus::compare_samples("corpus", &expected, &run.published);
    assert!(
        problems.is_empty(),
        "{} of {} samples differ:\n{}",
        problems.len(),
        expected.len(),
        problems.join("\n")
    );
    assert_eq!(
        run.dead, requeued,
        "Ceilometer's requeued cases are dead-lettered"
    );
    assert_eq!(run.events, expected_events, "events on event.sample");
    assert_eq!(run.cases.len(), all.len());
}
