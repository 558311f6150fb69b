//! `opentelemetryhttp://` through the real broker to an OTLP/HTTP receiver that decodes with
//! the OpenTelemetry protobuf definitions (tests/otlp_receiver.py): every field checked; a
//! receiver that is down holds deliveries and then gets every sample.

mod publish_support;
mod runtime_support;

use std::collections::HashSet;
use std::time::Duration;

use publish_support::{free_port, pipeline_to, polling_sample, OtlpReceiver};
use runtime_support::*;
use serde_json::Value as Json;

fn notifications(prefix: &str, n: usize) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..n {
        for (name, kind, volume) in [
            ("cpu", "cumulative", 1000.0 + i as f64),
            ("memory.usage", "gauge", 512.5),
        ] {
            out.push((
                "ceilometer".to_owned(),
                "notifications.sample".to_owned(),
                polling_sample(
                    &format!("{prefix}-{name}-{i}"),
                    name,
                    kind,
                    &format!("{prefix}-vm{i}"),
                    volume,
                ),
            ));
        }
    }
    out
}

/// Every data point received: (metric, point).
fn points(receiver: &OtlpReceiver) -> Vec<(Json, Json)> {
    let mut out = Vec::new();
    for r in receiver.received() {
        assert_eq!(r["content_type"], "application/json");
        for rm in r["request"]["resourceMetrics"].as_array().unwrap() {
            for sm in rm["scopeMetrics"].as_array().unwrap() {
                assert_eq!(
                    sm["scope"],
                    serde_json::json!({"name": "ceilometer", "version": "v1"})
                );
                for m in sm["metrics"].as_array().unwrap() {
                    let data = m.get("sum").or_else(|| m.get("gauge")).expect("sum or gauge");
                    for p in data["dataPoints"].as_array().unwrap() {
                        out.push((m.clone(), p.clone()));
                    }
                }
            }
        }
    }
    out
}

fn resources(points: &[(Json, Json)], metric: &str) -> HashSet<String> {
    points
        .iter()
        .filter(|(m, _)| m["name"] == metric)
        .map(|(_, p)| {
            p["attributes"][0]["value"]["stringValue"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[test]
fn samples_reach_an_otlp_receiver_as_valid_otlp_metrics() {
    let broker = Broker::new("otlp");
    let url = broker.url();
    let rt = runtime();
    let receiver = OtlpReceiver::start_on(free_port());
    let dir = config_dir(&settings(50, 10));
    let publisher = format!("opentelemetryhttp://{}/v1/metrics", receiver.addr);
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let _agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &notifications("x", 10)));
    wait_until("20 data points received", Duration::from_secs(30), || {
        points(&receiver).len() >= 20
    });
    let points = points(&receiver);
    assert_eq!(points.len(), 20);
    for (m, p) in &points {
        let cpu = m["name"] == "cpu";
        if cpu {
            assert_eq!(m["description"], "cpu unit:B");
            assert_eq!(
                m["sum"]["aggregationTemporality"],
                "AGGREGATION_TEMPORALITY_CUMULATIVE"
            );
            assert_eq!(m["sum"]["isMonotonic"], true);
        } else {
            assert_eq!(m["name"], "memory_usage");
            assert_eq!(m["description"], "memory.usage unit:B");
            assert!(m.get("gauge").is_some());
            assert_eq!(p["asDouble"], 512.5);
        }
        assert_eq!(m["unit"], "B");
        // 2025-03-14T09:45:00.123456+00:00 in nanoseconds (protobuf's JSON: a string)
        assert_eq!(p["timeUnixNano"], "1741945500123456000");
        assert_eq!(p["startTimeUnixNano"], "1741945500123456000");
        let attrs: Vec<(&str, &str)> = p["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["key"].as_str().unwrap(),
                    a["value"]["stringValue"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(attrs[0].0, "resource_id");
        assert_eq!(attrs[1..], [("user_id", "u"), ("project_id", "p")]);
    }
    let want: HashSet<String> = (0..10).map(|i| format!("x-vm{i}")).collect();
    assert_eq!(resources(&points, "cpu"), want);
    assert_eq!(resources(&points, "memory_usage"), want);
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
}

#[test]
fn an_otlp_receiver_that_is_down_holds_deliveries_and_gets_every_sample_when_back() {
    let broker = Broker::new("otlp-outage");
    let url = broker.url();
    let rt = runtime();
    let addr = free_port();
    let prefetch = 10;
    let dir = config_dir(&settings(prefetch, 5));
    let publisher = format!("opentelemetryhttp://{addr}/v1/metrics?timeout=2");
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &notifications("d", 20)));
    assert_held_while_down(&broker, "notifications.sample", 40, prefetch, agent.pid());
    let receiver = OtlpReceiver::start_on(addr);
    let want: HashSet<String> = (0..20).map(|i| format!("d-vm{i}")).collect();
    wait_until("every sample received", Duration::from_secs(60), || {
        let p = points(&receiver);
        resources(&p, "cpu") == want && resources(&p, "memory_usage") == want
    });
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
}
