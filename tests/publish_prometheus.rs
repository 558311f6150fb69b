//! `prometheus://` through the real broker to a real Pushgateway (Debian's
//! prometheus-pushgateway, started by the test): what Ceilometer would push, read back from
//! the gateway's `/metrics` and through a real Prometheus scraping it; a gateway that is down holds deliveries and loses nothing.

mod common;
mod publish_support;
mod runtime_support;

use std::time::Duration;

use common::prometheus::Prometheus;
use publish_support::{free_port, pipeline_to, polling_sample, Pushgateway};
use runtime_support::*;

fn notifications(prefix: &str, resources: usize) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    for r in 0..resources {
        let resource = format!("{prefix}-vm{r}");
        for (i, (name, kind, volume)) in [
            ("cpu", "cumulative", 1000.0 + r as f64),
            ("memory.usage", "gauge", 512.5),
            ("network.incoming.bytes.delta", "delta", 42.0),
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("{resource}-{i}");
            out.push((
                "ceilometer".to_owned(),
                "notifications.sample".to_owned(),
                polling_sample(&id, name, kind, &resource, volume),
            ));
        }
    }
    // A resource id with a `/` (Ceilometer's percent-encoded push is refused by the gateway).
    out.push((
        "ceilometer".to_owned(),
        "notifications.sample".to_owned(),
        polling_sample(
            &format!("{prefix}-disk"),
            "disk.device.read.bytes",
            "cumulative",
            &format!("{prefix}-vm0/vda"),
            7.0,
        ),
    ));
    out
}

fn expected(prefix: &str, resources: usize) -> Vec<String> {
    let mut want = Vec::new();
    for r in 0..resources {
        let labels = |metric: &str, value: String| {
            format!(
                "{metric}{{instance=\"\",job=\"ceilometer\",project_id=\"p\",resource_id=\"{prefix}-vm{r}\",user_id=\"u\"}} {value}"
            )
        };
        want.push(labels("cpu", format!("{}", 1000 + r)));
        want.push(labels("memory_usage", "512.5".into()));
        want.push(labels("network_incoming_bytes_delta", "42".into()));
    }
    want.push(format!(
        "disk_device_read_bytes{{instance=\"\",job=\"ceilometer\",project_id=\"p\",resource_id=\"{prefix}-vm0/vda\",user_id=\"u\"}} 7"
    ));
    want.sort();
    want
}

fn ours(gateway: &Pushgateway, prefix: &str) -> Vec<String> {
    let mut got: Vec<String> = gateway
        .series()
        .into_iter()
        .filter(|l| l.contains(&format!("resource_id=\"{prefix}-")))
        .collect();
    got.sort();
    got
}

#[test]
fn samples_from_notifications_reach_a_real_pushgateway_one_group_per_resource() {
    let broker = Broker::new("prom-push");
    let url = broker.url();
    let rt = runtime();
    let gateway = Pushgateway::start_on(free_port());
    let dir = config_dir(&settings(50, 10));
    let publisher = format!("prometheus://{}/metrics/job/ceilometer", gateway.addr);
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let _agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &notifications("p", 5)));
    let want = expected("p", 5);
    wait_until("every series in the gateway", Duration::from_secs(30), || {
        ours(&gateway, "p") == want
    });
    // A real Prometheus scraping the gateway sees every series, with its own job label.
    let prometheus = Prometheus::scraping(gateway.addr, "pushgateway", true);
    wait_until(
        "Prometheus showing every cpu series",
        Duration::from_secs(30),
        || {
            prometheus
                .query("cpu{job=\"ceilometer\",resource_id=~\"p-.*\"}")
                .is_some_and(|r| r.len() == 5)
        },
    );
    let vm3 = prometheus.value("cpu{resource_id=\"p-vm3\",user_id=\"u\",project_id=\"p\"}");
    assert_eq!(vm3, Some(1003.0));
    assert_eq!(
        prometheus.value("disk_device_read_bytes{resource_id=\"p-vm0/vda\"}"),
        Some(7.0)
    );
    assert_eq!(gateway.type_of("cpu").as_deref(), Some("counter"));
    assert_eq!(gateway.type_of("memory_usage").as_deref(), Some("gauge"));
    // delta: no type given (the gateway exposes it untyped)
    assert_eq!(
        gateway.type_of("network_incoming_bytes_delta").as_deref(),
        Some("untyped")
    );
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
}

#[test]
fn a_pushgateway_that_is_down_holds_deliveries_and_gets_all_of_them_when_back() {
    let broker = Broker::new("prom-outage");
    let url = broker.url();
    let rt = runtime();
    let addr = free_port();
    let prefetch = 10;
    let dir = config_dir(&settings(prefetch, 5));
    let publisher = format!("prometheus://{addr}/metrics/job/ceilometer?timeout=1");
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    let input = notifications("o", 20);
    let total = input.len() as u64;
    rt.block_on(publish(&url, &input));
    assert_held_while_down(&broker, "notifications.sample", total, prefetch, agent.pid());
    let gateway = Pushgateway::start_on(addr);
    let want = expected("o", 20);
    wait_until("every series in the gateway", Duration::from_secs(60), || {
        ours(&gateway, "o") == want
    });
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    // One outage shorter than a minute: one warning (not one per flush and retry), its end once.
    let log = agent.log_text();
    let warned = log
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("flush failed"))
        .count();
    assert_eq!(warned, 1, "{log}");
    assert_eq!(log.matches("publishing again").count(), 1, "{log}");
}
