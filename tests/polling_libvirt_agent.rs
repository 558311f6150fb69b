//! `ceilo run` polling the real libvirt while guests come and go: a guest's samples appear
//! (as telemetry.polling notifications on the real RabbitMQ) once it is defined and running,
//! stop once it is destroyed and undefined, and the agent goes on polling the next one. The
//! same samples are exposed by the Prometheus sample exporter (`enable_prometheus_exporter`).

mod libvirt_support;
mod runtime_support;

use std::time::Duration;

use chrono::NaiveDateTime;
use libvirt_support::*;
use runtime_support::{collect, config_dir, declare, runtime, Agent, Broker, Received, TELEMETRY};
use serde_json::Value as Json;

const QUEUE: &str = "polled";

fn samples(received: &[Received]) -> Vec<Json> {
    received
        .iter()
        .flat_map(|r| {
            let outer: Json = serde_json::from_slice(&r.body).expect("outer json");
            let inner: Json = serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message"))
                .expect("inner json");
            inner["payload"]["samples"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn of<'a>(samples: &'a [Json], instance: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    samples
        .iter()
        .filter(move |s| s["resource_metadata"]["instance_id"] == instance)
}

fn timestamp(s: &Json) -> NaiveDateTime {
    let t = s["timestamp"].as_str().expect("timestamp");
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").expect("isoformat timestamp")
}

fn seen(instance: &str) -> impl FnMut(&Received) -> bool + '_ {
    move |r| of(&samples(std::slice::from_ref(r)), instance).next().is_some()
}

#[test]
fn guests_started_and_destroyed_while_polling_come_and_go() {
    let broker = Broker::new("libvirt-agent");
    let rt = runtime();
    rt.block_on(declare(
        &broker.url(),
        QUEUE,
        "ceilometer",
        "notifications.sample",
        false,
    ));
    let exporter = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         pollsters_definitions_dirs: []\n  libvirt_uri: '{URI}'\n  enable_prometheus_exporter: true\n  \
         prometheus_listen_addresses: ['{exporter}']\n"
    );
    let dir = config_dir(&settings);
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: compute\n    interval: 1\n    meters: [cpu, disk.root.size, network.outgoing.bytes]\n",
    )
    .unwrap();
    let agent = Agent::start(dir.path(), &broker.url());

    let first = TestGuest::start(Spec::new());
    let id = first.spec.uuid.clone();
    let got = rt.block_on(collect(&broker.url(), QUEUE, Duration::from_secs(60), seen(&id)));
    assert!(
        of(&samples(&got), &id).any(|s| s["counter_name"] == "cpu"),
        "no samples of the new guest; agent log:\n{}",
        agent.log_text()
    );

    let out = std::process::Command::new("curl")
        .args(["-s", &format!("http://{exporter}/metrics")])
        .output()
        .expect("curl");
    let metrics = String::from_utf8_lossy(&out.stdout);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ceilometer_cpu{") && l.contains(&format!("resource=\"{id}\""))),
        "{metrics}"
    );

    // Destroyed and undefined: a poll that started before may still send it, none after.
    drop(first);
    let gone = chrono::Utc::now().naive_utc() + chrono::Duration::seconds(2);
    let second = TestGuest::start(Spec::new());
    let next = second.spec.uuid.clone();
    let got = rt.block_on(collect(
        &broker.url(),
        QUEUE,
        Duration::from_secs(60),
        seen(&next),
    ));
    let after = rt.block_on(collect(&broker.url(), QUEUE, Duration::from_secs(4), |_| false));
    let all: Vec<Json> = samples(&got).into_iter().chain(samples(&after)).collect();
    assert!(
        of(&all, &next).any(|s| s["counter_name"] == "cpu"),
        "the agent polled on and found the next guest; log:\n{}",
        agent.log_text()
    );
    let late: Vec<&Json> = of(&all, &id).filter(|s| timestamp(s) > gone).collect();
    assert!(late.is_empty(), "samples of the undefined guest: {late:?}");
    let log = agent.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert!(agent.terminate().success(), "{log}");
}
