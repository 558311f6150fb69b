//! Each transformer on hand-computed sequences, through the public `Chain` the pipeline uses.

use std::sync::Arc;

use ceilo::model::py::datetime::{self, Timestamp};
use ceilo::model::{OwnedValue, Sample};
use ceilo::transform::{Chain, Stats};
use simd_json::prelude::*;

fn json(text: &str) -> OwnedValue {
    let mut b = text.as_bytes().to_vec();
    simd_json::to_owned_value(&mut b).unwrap()
}

fn sample(name: &str, ty: &str, unit: &str, resource: &str, volume: OwnedValue, ts: &str) -> Sample {
    Sample {
        name: Arc::from(name),
        sample_type: Arc::from(ty),
        unit: Arc::from(unit),
        volume,
        user_id: OwnedValue::from("user"),
        user_name: OwnedValue::null(),
        project_id: OwnedValue::from("project"),
        project_name: OwnedValue::null(),
        resource_id: OwnedValue::from(resource),
        timestamp: OwnedValue::from(ts),
        resource_metadata: Arc::new(json(r#"{"cpu_number": 2}"#)),
        source: Arc::from("openstack"),
        id: "in".into(),
        monotonic_time: OwnedValue::null(),
    }
}

fn cpu(resource: &str, ns: i64, secs: u32) -> Sample {
    sample(
        "cpu",
        "cumulative",
        "ns",
        resource,
        OwnedValue::from(ns),
        &format!("2024-01-01T00:{:02}:{:02}", secs / 60, secs % 60),
    )
}

fn chain(yaml: &str) -> Chain {
    let entries: Vec<yaml_serde::Value> = yaml_serde::from_str(yaml).unwrap();
    Chain::from_config(&entries).unwrap()
}

fn chain_err(yaml: &str) -> String {
    let entries: Vec<yaml_serde::Value> = yaml_serde::from_str(yaml).unwrap();
    Chain::from_config(&entries).unwrap_err().to_string()
}

fn now() -> Timestamp {
    datetime::parse("2024-01-01T01:00:00").unwrap()
}

fn at(text: &str) -> Timestamp {
    datetime::parse(text).unwrap()
}

fn volumes(samples: &[Sample]) -> Vec<f64> {
    samples.iter().map(|s| s.volume.cast_f64().unwrap()).collect()
}

const CPU_UTIL: &str = r#"
- name: rate_of_change
  parameters:
    target:
      name: cpu_util
      unit: "%"
      type: gauge
      max: 100
      scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
"#;

#[test]
fn rate_of_change_first_sample_only_primes_the_cache() {
    let mut c = chain(CPU_UTIL);
    assert!(c.is_stateful());
    let out = c.process(vec![cpu("vm1", 10_000_000_000, 0)], &now());
    assert!(out.is_empty());
    assert_eq!(c.stats()[0].1.no_predecessor, 1);
}

#[test]
fn rate_of_change_gives_cpu_util_over_a_sequence() {
    let mut c = chain(CPU_UTIL);
    // 2 vCPUs; 60 s apart: +60e9 ns → 50 %, +150e9 ns → 125 % capped at 100, +30e9 → 25 %.
    let batch = vec![
        cpu("vm1", 0, 0),
        cpu("vm1", 60_000_000_000, 60),
        cpu("vm1", 210_000_000_000, 120),
        cpu("vm1", 240_000_000_000, 180),
    ];
    let out = c.process(batch, &now());
    assert_eq!(volumes(&out), [50.0, 100.0, 25.0]);
    let s = &out[0];
    assert_eq!((&*s.name, &*s.unit, &*s.sample_type), ("cpu_util", "%", "gauge"));
    assert_eq!(s.timestamp.as_str(), Some("2024-01-01T00:01:00"));
    assert_ne!(s.id, "in", "a transformed sample is a new sample");
    // `min(volume, 100)` returns the int 100 when the cap wins, as Python did.
    assert_eq!(out[1].volume.as_i64(), Some(100));
    // The state survives across batches.
    let out = c.process(vec![cpu("vm1", 252_000_000_000, 240)], &now());
    assert_eq!(volumes(&out), [10.0]);
}

#[test]
fn rate_of_change_treats_a_counter_going_backwards_as_a_reset() {
    let mut c = chain(CPU_UTIL);
    let out = c.process(
        vec![
            cpu("vm1", 500_000_000_000, 0),
            // Rebooted: the counter restarted; it grew by at least its current value.
            cpu("vm1", 12_000_000_000, 60),
            cpu("vm1", 24_000_000_000, 120),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [10.0, 10.0]);
}

#[test]
fn rate_of_change_lets_a_gauge_go_down() {
    let mut c = chain("- name: rate_of_change\n  parameters: {target: {name: r}}\n");
    let g = |v: i64, s| {
        sample(
            "m",
            "gauge",
            "B",
            "r",
            OwnedValue::from(v),
            &format!("2024-01-01T00:00:{s:02}"),
        )
    };
    let out = c.process(vec![g(100, 0), g(80, 10)], &now());
    assert_eq!(volumes(&out), [-2.0]);
}

#[test]
fn rate_of_change_skips_out_of_order_samples_and_keeps_the_newer_cache() {
    let mut c = chain(CPU_UTIL);
    let out = c.process(
        vec![
            cpu("vm1", 0, 0),
            cpu("vm1", 60_000_000_000, 60),
            // Older than the cached t=60: dropped, the cache stays at t=60.
            cpu("vm1", 30_000_000_000, 30),
            cpu("vm1", 120_000_000_000, 120),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [50.0, 50.0]);
    assert_eq!(c.stats()[0].1.out_of_order, 1);
}

#[test]
fn rate_of_change_same_timestamp_gives_zero_but_a_redelivery_is_dropped() {
    let mut c = chain(CPU_UTIL);
    let out = c.process(vec![cpu("vm1", 0, 0), cpu("vm1", 5, 0)], &now());
    assert_eq!(volumes(&out), [0.0]);
    // The same sample again (at-least-once redelivery): no 0.0 point.
    let out = c.process(
        vec![cpu("vm1", 60_000_000_005, 60), cpu("vm1", 60_000_000_005, 60)],
        &now(),
    );
    assert_eq!(volumes(&out), [50.0]);
    assert_eq!(c.stats()[0].1.duplicates, 1);
}

#[test]
fn rate_of_change_prefers_monotonic_time() {
    let mut c = chain("- name: rate_of_change\n");
    let mut a = cpu("vm1", 0, 0);
    a.monotonic_time = OwnedValue::from(1000.0);
    let mut b = cpu("vm1", 100, 60);
    b.monotonic_time = OwnedValue::from(1050.0);
    let out = c.process(vec![a, b], &now());
    assert_eq!(volumes(&out), [2.0]);
}

#[test]
fn rate_of_change_keys_by_resource_and_meter() {
    let mut c = chain(CPU_UTIL);
    let out = c.process(
        vec![
            cpu("vm1", 0, 0),
            cpu("vm2", 1_000_000_000_000, 0),
            cpu("vm1", 60_000_000_000, 60),
            cpu("vm2", 1_030_000_000_000, 60),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [50.0, 25.0]);
    assert_eq!(out[1].resource_id.as_str(), Some("vm2"));
}

#[test]
fn rate_of_change_maps_names_with_regexes() {
    let mut c = chain(
        r#"
- name: rate_of_change
  parameters:
    source:
      map_from:
        name: "(disk\\.device|disk)\\.(read|write)\\.(bytes|requests)"
        unit: "(B|request)"
    target:
      map_to:
        name: "\\1.\\2.\\3.rate"
        unit: "\\1/s"
      type: gauge
"#,
    );
    let d = |v: i64, s| {
        sample(
            "disk.read.bytes",
            "cumulative",
            "B",
            "vm1",
            OwnedValue::from(v),
            &format!("2024-01-01T00:00:{s:02}"),
        )
    };
    let out = c.process(vec![d(0, 0), d(1000, 10)], &now());
    assert_eq!(out.len(), 1);
    assert_eq!(
        (&*out[0].name, &*out[0].unit, &*out[0].sample_type),
        ("disk.read.bytes.rate", "B/s", "gauge")
    );
    assert_eq!(volumes(&out), [100.0]);
}

#[test]
fn rate_of_change_state_is_bounded_and_evictions_counted() {
    let mut c = chain("- name: rate_of_change\n  parameters: {state_limit: 4}\n");
    let batch: Vec<Sample> = (0..10).map(|i| cpu(&format!("vm{i}"), 0, 0)).collect();
    c.process(batch, &now());
    let stats = &c.stats()[0].1;
    assert_eq!(stats.no_predecessor, 10);
    assert!(stats.evictions >= 6, "{stats:?}");
}

#[test]
fn unit_conversion_scales_by_expression_and_by_number() {
    let mut c = chain(
        r#"
- name: unit_conversion
  parameters:
    source: {unit: B}
    target: {name: disk.kilobytes, unit: KB, scale: "volume * 1.0 / 1024"}
"#,
    );
    assert!(!c.is_stateful());
    let b = sample(
        "disk.bytes",
        "gauge",
        "B",
        "vm1",
        OwnedValue::from(2048),
        "2024-01-01T00:00:00",
    );
    let other = sample(
        "disk.bytes",
        "gauge",
        "MB",
        "vm1",
        OwnedValue::from(3),
        "2024-01-01T00:00:00",
    );
    let out = c.process(vec![b, other.clone()], &now());
    assert_eq!((&*out[0].name, &*out[0].unit), ("disk.kilobytes", "KB"));
    assert_eq!(out[0].volume.as_f64(), Some(2.0));
    // Another unit passes untouched.
    assert_eq!(out[1], other);

    let mut c = chain("- name: unit_conversion\n  parameters: {target: {scale: 1024}}\n");
    let out = c.process(
        vec![sample(
            "m",
            "gauge",
            "KB",
            "r",
            OwnedValue::from(3),
            "2024-01-01T00:00:00",
        )],
        &now(),
    );
    // int × int stays an int, as in Python.
    assert_eq!(out[0].volume.as_i64(), Some(3072));
}

#[test]
fn unit_conversion_drops_what_python_would_raise_on() {
    let mut c = chain("- name: unit_conversion\n  parameters: {target: {scale: \"volume / 0\"}}\n");
    let out = c.process(
        vec![sample(
            "m",
            "gauge",
            "B",
            "r",
            OwnedValue::from(3),
            "2024-01-01T00:00:00",
        )],
        &now(),
    );
    assert!(out.is_empty());
    assert_eq!(c.stats()[0].1.errors, 1);
}

#[test]
fn delta_emits_differences_and_growth_only_drops_negatives() {
    let mut c = chain("- name: delta\n  parameters: {target: {name: cpu.delta}, growth_only: true}\n");
    let out = c.process(
        vec![
            cpu("vm1", 100, 0),
            cpu("vm1", 150, 60),
            cpu("vm1", 40, 120),
            cpu("vm1", 45, 30),
            cpu("vm1", 70, 180),
        ],
        &now(),
    );
    // 150-100 = 50; 40-150 negative: dropped; t=30 is out of order: dropped; 70-40 = 30.
    assert_eq!(volumes(&out), [50.0, 30.0]);
    assert_eq!(out[0].volume.as_i64(), Some(50));
    assert_eq!(
        (&*out[0].name, &*out[0].sample_type, &*out[0].unit),
        ("cpu.delta", "delta", "ns")
    );
    let stats = &c.stats()[0].1;
    assert_eq!(
        (stats.no_predecessor, stats.negative_delta, stats.out_of_order),
        (1, 1, 1)
    );

    let mut c = chain("- name: delta\n");
    let out = c.process(
        vec![cpu("vm1", 100, 0), cpu("vm1", 40, 60), cpu("vm1", 40, 60)],
        &now(),
    );
    assert_eq!(volumes(&out), [-60.0]);
    assert_eq!(c.stats()[0].1.duplicates, 1);
}

#[test]
fn accumulator_releases_at_size_and_on_shutdown() {
    let mut c = chain("- name: accumulator\n  parameters: {size: 3}\n");
    assert!(!c.is_stateful());
    assert!(c.process(vec![cpu("a", 1, 0), cpu("b", 2, 0)], &now()).is_empty());
    let out = c.process(vec![cpu("c", 3, 0), cpu("d", 4, 0)], &now());
    assert_eq!(volumes(&out), [1.0, 2.0, 3.0, 4.0]);
    assert!(c.process(vec![cpu("e", 5, 0)], &now()).is_empty());
    assert_eq!(volumes(&c.shutdown(&now())), [5.0]);
}

fn gauge(resource: &str, user: &str, v: f64, ts: &str) -> Sample {
    let mut s = sample("memory.usage", "gauge", "MB", resource, OwnedValue::from(v), ts);
    s.user_id = OwnedValue::from(user);
    s
}

#[test]
fn aggregator_flushes_on_size_with_gauge_averages_and_sums() {
    let mut c = chain("- name: aggregator\n  parameters: {size: 4}\n");
    assert!(c.is_stateful());
    assert!(c
        .process(
            vec![
                gauge("a", "u", 10.0, "2024-01-01T00:00:00"),
                gauge("b", "u", 1.0, "2024-01-01T00:00:00")
            ],
            &now()
        )
        .is_empty());
    let mut d = sample(
        "net",
        "delta",
        "B",
        "a",
        OwnedValue::from(5),
        "2024-01-01T00:00:00",
    );
    let out = c.process(
        vec![gauge("a", "u", 20.0, "2024-01-01T00:00:10"), d.clone()],
        &now(),
    );
    // Order of first appearance; gauge a = (10+20)/2; b = 1/1; delta = 5.
    assert_eq!(volumes(&out), [15.0, 1.0, 5.0]);
    assert_eq!(
        out[0].timestamp.as_str(),
        Some("2024-01-01T00:00:00"),
        "timestamp: first"
    );
    d.volume = OwnedValue::from(7);
    assert!(c
        .process(vec![d.clone(), d.clone(), d.clone()], &now())
        .is_empty());
    let out = c.process(vec![d], &now());
    assert_eq!(out[0].volume.as_i64(), Some(28));
}

#[test]
fn aggregator_keeps_the_latest_cumulative_volume() {
    let mut c = chain("- name: aggregator\n  parameters: {size: 3}\n");
    let out = c.process(vec![cpu("a", 1, 0), cpu("a", 5, 10), cpu("a", 9, 20)], &now());
    assert_eq!(volumes(&out), [9.0]);
}

#[test]
fn aggregator_flushes_on_retention_time() {
    let mut c = chain("- name: aggregator\n  parameters: {retention_time: 60}\n");
    assert_eq!(c.flush_interval(), Some(std::time::Duration::from_secs(60)));
    let t0 = "2024-01-01T00:00:00";
    assert!(c
        .process(
            vec![gauge("a", "u", 1.0, t0), gauge("a", "u", 3.0, t0)],
            &at("2024-01-01T00:00:30")
        )
        .is_empty());
    // Not yet: 60 s exactly is not older than 60 s.
    assert!(c.flush(&at("2024-01-01T00:01:00")).is_empty());
    let out = c.flush(&at("2024-01-01T00:01:01"));
    assert_eq!(volumes(&out), [2.0]);
    assert!(c.flush(&at("2024-01-01T00:05:00")).is_empty());
}

#[test]
fn aggregator_releases_everything_on_shutdown() {
    let mut c = chain("- name: aggregator\n  parameters: {size: 1000, retention_time: 3600}\n");
    c.process(
        vec![
            gauge("a", "u", 4.0, "2024-01-01T00:00:00"),
            gauge("b", "u", 6.0, "2024-01-01T00:00:00"),
        ],
        &now(),
    );
    let out = c.shutdown(&now());
    assert_eq!(volumes(&out), [4.0, 6.0]);
    assert!(c.shutdown(&now()).is_empty());
}

#[test]
fn aggregator_groups_by_user_unless_merged_and_applies_policies() {
    let t = "2024-01-01T00:00:00";
    let mut by_user = chain("- name: aggregator\n  parameters: {size: 3}\n");
    let out = by_user.process(
        vec![
            gauge("a", "u1", 1.0, t),
            gauge("a", "u2", 3.0, t),
            gauge("a", "u1", 5.0, t),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [3.0, 3.0]);

    let mut merged = chain(
        "- name: aggregator\n  parameters: {size: 3, user_id: first, resource_metadata: drop, timestamp: last}\n",
    );
    let mut last = gauge("a", "u1", 5.0, "2024-01-01T00:00:20");
    last.resource_metadata = Arc::new(json(r#"{"x": 1}"#));
    let out = merged.process(
        vec![gauge("a", "u1", 1.0, t), gauge("a", "u2", 3.0, t), last],
        &now(),
    );
    assert_eq!(volumes(&out), [3.0]);
    assert_eq!(out[0].user_id.as_str(), Some("u1"));
    assert_eq!(*out[0].resource_metadata, json("{}"));
    assert_eq!(out[0].timestamp.as_str(), Some("2024-01-01T00:00:20"));

    let mut last_user = chain("- name: aggregator\n  parameters: {size: 2, user_id: last}\n");
    let out = last_user.process(vec![gauge("a", "u1", 1.0, t), gauge("a", "u2", 3.0, t)], &now());
    assert_eq!(out[0].user_id.as_str(), Some("u2"));
}

#[test]
fn aggregator_bound_releases_early_instead_of_losing_samples() {
    let mut c = chain("- name: aggregator\n  parameters: {size: 100, state_limit: 2}\n");
    let t = "2024-01-01T00:00:00";
    let out = c.process(
        vec![
            gauge("a", "u", 1.0, t),
            gauge("b", "u", 2.0, t),
            gauge("c", "u", 3.0, t),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [1.0, 2.0]);
    assert_eq!(c.stats()[0].1.early_flushes, 1);
    assert_eq!(volumes(&c.shutdown(&now())), [3.0]);
}

const MEMORY_UTIL: &str = r#"
- name: arithmetic
  parameters:
    target:
      name: memory_util
      unit: "%"
      type: gauge
      expr: "100 * $(memory.usage) / $(memory)"
"#;

#[test]
fn arithmetic_combines_meters_per_resource() {
    let mut c = chain(MEMORY_UTIL);
    assert!(c.is_stateful());
    let usage = |r: &str, v: i64, ts: &str| sample("memory.usage", "gauge", "MB", r, OwnedValue::from(v), ts);
    let total = |r: &str, v: i64, ts: &str| sample("memory", "gauge", "MB", r, OwnedValue::from(v), ts);
    // vm2 has no `memory` yet; the unrelated cpu sample is consumed too.
    let out = c.process(
        vec![
            usage("vm1", 512, "2024-01-01T00:00:00"),
            usage("vm2", 100, "2024-01-01T00:00:00"),
            total("vm1", 2048, "2024-01-01T00:00:05"),
            cpu("vm1", 1, 0),
        ],
        &now(),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (&*out[0].name, &*out[0].unit, &*out[0].sample_type),
        ("memory_util", "%", "gauge")
    );
    assert_eq!(out[0].volume.as_f64(), Some(25.0));
    assert_eq!(out[0].resource_id.as_str(), Some("vm1"));
    assert_eq!(
        out[0].timestamp.as_str(),
        Some("2024-01-01T00:00:05"),
        "newest of the set"
    );
    // The set was cleared: another usage alone gives nothing; vm2 completes now.
    let out = c.process(
        vec![
            usage("vm1", 1024, "2024-01-01T00:01:00"),
            total("vm2", 400, "2024-01-01T00:01:00"),
        ],
        &now(),
    );
    assert_eq!(volumes(&out), [25.0]);
    assert_eq!(out[0].resource_id.as_str(), Some("vm2"));
}

#[test]
fn arithmetic_reads_metadata_and_drops_division_by_zero() {
    let mut c = chain(
        "- name: arithmetic\n  parameters: {target: {name: per_cpu, expr: \"$(cpu) / $(cpu).resource_metadata.cpu_number\"}}\n",
    );
    let out = c.process(vec![cpu("vm1", 10, 0)], &now());
    assert_eq!(volumes(&out), [5.0]);
    assert_eq!(&*out[0].name, "per_cpu");
    let mut zero = cpu("vm1", 10, 0);
    zero.resource_metadata = Arc::new(json(r#"{"cpu_number": 0}"#));
    assert!(c.process(vec![zero], &now()).is_empty());
    assert_eq!(c.stats()[0].1.errors, 1);
}

#[test]
fn transformers_apply_in_sink_order() {
    // unit_conversion first: rate_of_change sees seconds, not nanoseconds.
    let mut c = chain(
        r#"
- name: unit_conversion
  parameters: {target: {unit: s, scale: "volume / 10**9"}}
- name: rate_of_change
  parameters: {target: {name: cpu.rate, unit: "s/s", type: gauge}}
"#,
    );
    let out = c.process(vec![cpu("vm1", 0, 0), cpu("vm1", 30_000_000_000, 60)], &now());
    assert_eq!(volumes(&out), [0.5]);
    assert_eq!(&*out[0].unit, "s/s");
    // An aggregator flushing feeds the transformer after it.
    let mut c = chain("- name: aggregator\n  parameters: {size: 2}\n- name: unit_conversion\n  parameters: {target: {scale: 10}}\n");
    let t = "2024-01-01T00:00:00";
    let out = c.process(vec![gauge("a", "u", 1.0, t), gauge("a", "u", 3.0, t)], &now());
    assert_eq!(volumes(&out), [20.0]);
}

#[test]
fn an_empty_chain_passes_batches_through() {
    let mut c = Chain::from_value(None).unwrap();
    assert!(c.is_empty() && !c.is_stateful());
    let batch = vec![cpu("vm1", 1, 0)];
    assert_eq!(c.process(batch.clone(), &now()), batch);
}

#[test]
fn config_errors_name_the_transformer_and_parameter() {
    let cases = [
        ("- name: rate_of_chang\n", "unknown transformer \"rate_of_chang\""),
        ("- name: unit_conversion\n  parameters: {target: {scal: 2}}\n", "unknown field `scal`"),
        ("- name: unit_conversion\n  parameters: {target: {scale: \"volume *\"}}\n", "target.scale: expression"),
        ("- name: unit_conversion\n  parameters: {target: {type: counter}}\n", "target.type"),
        ("- name: aggregator\n  parameters: {user_id: latest}\n", "user_id: \"latest\" is not one of first, last"),
        ("- name: aggregator\n  parameters: {size: -1}\n", "size: must not be negative"),
        ("- name: arithmetic\n  parameters: {target: {expr: \"1 + 2\"}}\n", "at least one meter"),
        ("- name: arithmetic\n  parameters: {target: {expr: \"$(a) +\"}}\n", "unexpected end"),
        ("- name: rate_of_change\n  parameters: {source: {map_from: {name: \"(\"}}, target: {map_to: {name: x}}}\n", "map_from.name"),
        ("- parameters: {}\n", "required field name"),
    ];
    for (yaml, want) in cases {
        let err = chain_err(yaml);
        assert!(err.contains(want), "{yaml}: {err}");
        assert!(err.starts_with("transformers[0]"), "{err}");
    }
}

#[test]
fn stats_start_at_zero() {
    let c = chain(CPU_UTIL);
    assert_eq!(c.stats(), vec![("rate_of_change", Stats::default())]);
}
