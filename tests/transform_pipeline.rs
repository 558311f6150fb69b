//! Sink transformers inside the pure pipeline: each sink's chain runs on its part of a batch,
//! and the partitioned stages split stateless sinks (where samples are converted) from
//! stateful ones (at the owner of the resource's partition).

use std::sync::Arc;

use ceilo::model::py::datetime::{self, Timestamp};
use ceilo::model::Payload;
use ceilo::model::{OwnedValue, Sample};
use ceilo::pipeline::{Pipeline, SampleStage};
use simd_json::prelude::*;

const FILE: &str = r#"
sources:
  - {name: all, meters: ['*'], sinks: [meter_sink]}
  - {name: cpu, meters: [cpu], sinks: [cpu_sink, kb_sink]}
sinks:
  - {name: meter_sink, publishers: ['notifier://']}
  - name: cpu_sink
    transformers:
      - name: rate_of_change
        parameters: {target: {name: cpu_util, unit: '%', type: gauge, scale: "100.0 / 10**9"}}
    publishers: ['notifier://?topic=cpu_util', 'file:///tmp/cpu_util']
  - name: kb_sink
    transformers:
      - name: unit_conversion
        parameters: {target: {unit: s, scale: "volume / 10**9"}}
    publishers: ['notifier://?topic=seconds']
"#;

fn pipeline() -> Pipeline {
    Pipeline::parse(FILE, std::path::Path::new("pipeline.yaml"), Payload::Samples).unwrap()
}

fn sample(name: &str, ns: i64, second: u32) -> Sample {
    Sample {
        name: Arc::from(name),
        sample_type: Arc::from("cumulative"),
        unit: Arc::from("ns"),
        volume: OwnedValue::from(ns),
        user_id: OwnedValue::from("u"),
        user_name: OwnedValue::null(),
        project_id: OwnedValue::from("p"),
        project_name: OwnedValue::null(),
        resource_id: OwnedValue::from("vm1"),
        timestamp: OwnedValue::from(format!("2024-01-01T00:{:02}:{:02}", second / 60, second % 60)),
        resource_metadata: Arc::new(OwnedValue::object()),
        source: Arc::from("openstack"),
        id: format!("{name}-{second}"),
        monotonic_time: OwnedValue::null(),
    }
}

fn now() -> Timestamp {
    datetime::parse("2024-01-01T01:00:00").unwrap()
}

fn names(batch: &[Sample]) -> Vec<String> {
    batch.iter().map(|s| format!("{}={}", s.name, s.volume)).collect()
}

#[test]
fn each_sink_runs_its_own_chain_before_its_publishers() {
    let mut p = pipeline();
    assert!(p.is_stateful());
    let batch = vec![
        sample("cpu", 0, 0),
        sample("memory", 5, 0),
        sample("cpu", 30_000_000_000, 60),
    ];
    let (out, filtered) = p.route_samples(batch, &now());
    assert_eq!(filtered, 0);
    assert_eq!(out.len(), 4);
    assert_eq!(
        names(&out[0]),
        ["cpu=0", "memory=5", "cpu=30000000000"],
        "untransformed sink"
    );
    assert_eq!(names(&out[1]), ["cpu_util=50"], "rate: first cpu only primes");
    assert_eq!(out[2], out[1], "both publishers of a sink get the same samples");
    assert_eq!(names(&out[3]), ["cpu=0", "cpu=30"]);
}

#[test]
fn partitioned_stages_split_stateless_and_stateful_sinks() {
    let mut ingest = pipeline();
    let mut owner = pipeline();
    let batch = vec![
        sample("cpu", 0, 0),
        sample("memory", 5, 0),
        sample("cpu", 30_000_000_000, 60),
    ];
    let (out, deferred, _) = ingest.route_samples_staged(batch, &now(), SampleStage::Ingest);
    assert_eq!(names(&out[0]), ["cpu=0", "memory=5", "cpu=30000000000"]);
    assert!(
        out[1].is_empty() && out[2].is_empty(),
        "stateful sinks wait for the owner"
    );
    assert_eq!(
        names(&out[3]),
        ["cpu=0", "cpu=30"],
        "stateless chains run at ingest"
    );
    // Each sample some stateful sink accepts is set aside once, untransformed.
    assert_eq!(names(&deferred), ["cpu=0", "cpu=30000000000"]);

    let (out, deferred, _) = owner.route_samples_staged(deferred, &now(), SampleStage::Owned);
    assert!(deferred.is_empty());
    assert!(
        out[0].is_empty() && out[3].is_empty(),
        "stateless sinks already ran at ingest"
    );
    assert_eq!(names(&out[1]), ["cpu_util=50"]);
    assert_eq!(out[2], out[1]);
}
