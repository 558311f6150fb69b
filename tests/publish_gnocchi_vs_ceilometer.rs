//! The acceptance check: the same notifications (the public corpus) go through the real
//! Ceilometer 27 notification agent (`/opt/ceilometer-venv`) with `gnocchi://` into Gnocchi A,
//! and through ceilo into Gnocchi B, each on its own vhost of the real RabbitMQ; then the two
//! Gnocchis are compared with `gnocchi_support::compare` (resources, attributes, `ended_at`,
//! metrics, policies, units, measures) and must not differ beyond the ids Gnocchi generates.
//!
//! Ceilometer, its configuration and the corpus it is fed: `gnocchi_support::ceilometer`.

mod common;
mod gnocchi_support;
mod runtime_support;

use std::time::{Duration, Instant};

use gnocchi_support::ceilometer::{corpus_bodies, pipeline, Ceilometer};
use gnocchi_support::{compare, Gnocchi};
use runtime_support::*;
use serde_json::Value as Json;

/// Wait until `g` stops changing (two snapshots `quiet` apart are equal), then return it.
fn settled(g: &Gnocchi, quiet: Duration, timeout: Duration) -> compare::Snapshot {
    let deadline = Instant::now() + timeout;
    let mut last = compare::snapshot(g);
    loop {
        std::thread::sleep(quiet);
        let now = compare::snapshot(g);
        if (now == last && !now.resources.is_empty()) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[test]
fn ceilometer_and_ceilo_put_the_same_resources_and_measures_into_gnocchi() {
    let venv = common::ceilometer::venv();
    let (a, b) = (Gnocchi::start("ceilometer"), Gnocchi::start("ceilo"));
    let (broker_a, broker_b) = (Broker::new("vs-ceilometer"), Broker::new("vs-ceilo"));
    let (url_a, url_b) = (broker_a.url(), broker_b.url());
    let rt = runtime();
    let ceilometer = Ceilometer::start(&venv, &url_a, &a);
    let dir = config_dir(&format!(
        "{}gnocchi:\n  endpoint: {}\n",
        settings(100, 100),
        b.url
    ));
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline()).unwrap();
    std::fs::write(dir.path().join("event_pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
    rt.block_on(declare(
        &url_b,
        "ceilo.dead-letter",
        "ceilo.dead-letter",
        "#",
        true,
    ));
    let agent = Agent::start(dir.path(), &url_b);
    // Both agents have declared their queues before anything is published.
    let queues_up = |b: &Broker| {
        b.queue("notifications.info")
            .get("consumers")
            .and_then(Json::as_u64)
            > Some(0)
    };
    wait_until("both agents consuming", Duration::from_secs(120), || {
        queues_up(&broker_a) && queues_up(&broker_b)
    });
    let bodies = corpus_bodies();
    rt.block_on(publish(&url_a, &bodies));
    rt.block_on(publish(&url_b, &bodies));
    // Both agents ack only after publishing: wait for every queue to be drained and acked.
    let drained = |b: &Broker| {
        ["info", "sample", "error", "warn", "audit", "debug", "critical"]
            .iter()
            .all(|p| b.counts(&format!("notifications.{p}")) == (0, 0))
    };
    wait_until("both agents acked everything", Duration::from_secs(300), || {
        drained(&broker_a) && drained(&broker_b)
    });
    // Each store settles on its own: watched side by side.
    let (in_ceilometer, in_ceilo) = std::thread::scope(|s| {
        let in_ceilo = s.spawn(|| settled(&b, Duration::from_secs(3), Duration::from_secs(60)));
        let in_ceilometer = settled(&a, Duration::from_secs(6), Duration::from_secs(180));
        let in_ceilo = in_ceilo
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (in_ceilometer, in_ceilo)
    });
    assert!(
        in_ceilometer.resources.len() > 20,
        "Ceilometer wrote {} resources:\n{}",
        in_ceilometer.resources.len(),
        ceilometer.log_text()
    );
    let d = compare::differences(&in_ceilometer, &in_ceilo, ("ceilometer", "ceilo"));
    assert!(
        d.changed.is_empty(),
        "{} resources or metrics differ between Ceilometer's Gnocchi and ceilo's:\n{}",
        d.changed.len(),
        d.changed.join("\n")
    );
    // What Ceilometer stored and ceilo did not must be what ceilo dead-lettered (Gnocchi
    // refused it; which samples share a refused creation depends on batching too).
    let dead: Vec<String> = rt
        .block_on(collect(
            &url_b,
            "ceilo.dead-letter",
            Duration::from_secs(3),
            |_| false,
        ))
        .into_iter()
        .filter(|r| r.routing_key == "gnocchi")
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    for m in &d.missing {
        let id = m
            .split(['"', ' '])
            .find(|p| p.len() > 8 && !p.starts_with("resource"))
            .unwrap_or_default();
        assert!(
            dead.iter().any(|body| body.contains(id)),
            "only in Ceilometer's Gnocchi and not dead-lettered by ceilo: {m}"
        );
    }
    // What ceilo stored and Ceilometer did not: Ceilometer lost it (it drops on errors and
    // requeues poisoned batches); listed, not failed.
    if !d.extra.is_empty() {
        eprintln!(
            "\n{} resources/metrics only in ceilo's Gnocchi (Ceilometer dropped them):\n{}\n",
            d.extra.len(),
            d.extra.join("\n")
        );
    }
    assert!(agent.terminate().success());
}
