//! Sink transformers inside a running agent (memory transport, file publishers, no broker):
//! cpu_util comes out of a rate_of_change sink, and an aggregator's held batch is published
//! by the graceful shutdown, not lost.

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ceilo::agent::{load_converter, AgentConfig};
use ceilo::transport::{memory::MemoryTransport, OutMessage, PublishTopology, Transport};
use runtime_support::*;
use serde_json::json;

/// A telemetry.polling notification with one cpu sample.
fn cpu_body(resource: &str, ns: i64, second: u32, cpus: u32) -> Vec<u8> {
    let sample = json!({
        "source": "openstack", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns",
        "counter_volume": ns, "user_id": "u", "user_name": null, "project_id": "p", "project_name": null,
        "resource_id": resource, "timestamp": format!("2025-03-14T09:{:02}:{:02}+00:00", second / 60, second % 60),
        "resource_metadata": {"cpu_number": cpus},
        "message_id": format!("{resource}-{second}"), "monotonic_time": null, "message_signature": "x"
    });
    let inner = json!({
        "message_id": format!("m-{resource}-{second}"), "publisher_id": "ceilometer.polling",
        "event_type": "telemetry.polling", "priority": "SAMPLE", "payload": {"samples": [sample]},
        "timestamp": "2025-03-14 09:45:00.123456", "_unique_id": format!("u-{resource}-{second}")
    });
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn an_agent_runs_sink_transformers_and_flushes_them_on_shutdown() {
    let dir = config_dir(&settings(100, 10));
    let util = dir.path().join("out/cpu_util.jsonl");
    let agg = dir.path().join("out/aggregated.jsonl");
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        format!(
            r#"sources:
  - name: cpu
    meters: [cpu]
    sinks: [cpu_sink, agg_sink]
sinks:
  - name: cpu_sink
    transformers:
      - name: rate_of_change
        parameters:
          target:
            name: cpu_util
            unit: "%"
            type: gauge
            scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
    publishers: ['file://{}?json']
  - name: agg_sink
    transformers:
      - name: aggregator
        parameters: {{size: 100000}}
    publishers: ['file://{}?json']
"#,
            util.display(),
            agg.display()
        ),
    )
    .expect("pipeline.yaml");
    let config = AgentConfig::load(
        dir.path(),
        Some("memory://"),
        load_converter(
            &ceilo::config::definitions::DefinitionFiles::in_dir(dir.path()),
            &Default::default(),
        )
        .expect("converter"),
    )
    .expect("config with transformers loads");

    let (util_path, agg_path) = (util.clone(), agg.clone());
    with_in_process_agent(config, |agent| async move {
        let (util, agg) = (util_path, agg_path);
        let agent = Arc::new(agent);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !agent.is_ready() {
            assert!(tokio::time::Instant::now() < deadline, "agent never consumed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let bus = MemoryTransport::global().publisher(PublishTopology::default());
        // One message at a time, so the order the agent sees is the order sent.
        // vm1 (2 vCPUs): +60e9 ns per minute → 50 %; vm2 (1 vCPU): +30e9 → 50 %, then a reset.
        let sequence = [
            ("vm1", 0, 0, 2),
            ("vm2", 500_000_000_000, 0, 1),
            ("vm1", 60_000_000_000, 60, 2),
            ("vm2", 530_000_000_000, 60, 1),
            ("vm1", 120_000_000_000, 120, 2),
            ("vm2", 15_000_000_000, 120, 1),
        ];
        for (r, ns, s, cpus) in sequence {
            let m = OutMessage {
                exchange: "ceilometer".into(),
                routing_key: "notifications.sample".into(),
                body: cpu_body(r, ns, s, cpus),
                headers: vec![],
                properties: None,
            };
            bus.publish(vec![m].into()).await.expect("memory publish");
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while lines(&util).len() < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cpu_util lines: {:?}",
                lines(&util)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            lines(&agg).is_empty(),
            "the aggregator holds its batch until shutdown"
        );
        let agent = Arc::try_unwrap(agent).ok().expect("one owner");
        assert!(agent.shutdown(Duration::from_secs(10)).await, "clean shutdown");
    });

    let util = lines(&util);
    let series: Vec<(String, f64)> = util
        .iter()
        .map(|l| {
            (
                l["resource_id"].as_str().unwrap_or("").to_owned(),
                l["volume"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    assert_eq!(
        series,
        [
            ("vm1".into(), 50.0),
            ("vm2".into(), 50.0),
            ("vm1".into(), 50.0),
            ("vm2".into(), 25.0)
        ],
        "{util:#?}"
    );
    assert!(
        util.iter()
            .all(|l| l["name"] == "cpu_util" && l["unit"] == "%" && l["type"] == "gauge"),
        "{util:#?}"
    );
    // Shutdown released the aggregator: one cumulative aggregate per VM, its latest volume.
    let agg = lines(&agg);
    let mut got: Vec<(String, f64)> = agg
        .iter()
        .map(|l| {
            (
                l["resource_id"].as_str().unwrap_or("").to_owned(),
                l["volume"].as_f64().unwrap_or(-1.0),
            )
        })
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, [("vm1".into(), 120e9), ("vm2".into(), 15e9)], "{agg:#?}");
}
