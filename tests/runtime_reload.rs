//! SIGHUP reloads the definitions of a running `ceilo run`, on the real RabbitMQ (a vhost per
//! test): traffic through a reload that changes a meter is converted by exactly one of the two
//! versions, with nothing lost or duplicated, and so is traffic through a reload that moves a
//! sink to another publisher; invalid definitions leave the agent on the old ones, logged and
//! counted; a sink whose definition is unchanged keeps its transformer state
//! while a changed one starts fresh; polling.yaml's sources are replaced.

mod runtime_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use runtime_support::*;
use serde_json::{json, Value as Json};

/// One meter, `reload.probe`, whose unit says which version of the definitions made it.
fn probe_meters(unit: &str) -> String {
    format!(
        "---\nmetric:\n  - name: reload.probe\n    event_type: reload.probe\n    type: gauge\n    \
         unit: {unit}\n    volume: $.payload.n\n    resource_id: $.payload.id\n"
    )
}

/// Writes `text` to `path` whole (a rename), as an operator's editor or config tool would.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

/// A config dir whose only meter is `reload.probe` (unit `v1`), published to `out` (a file),
/// and no event pipeline.
fn probe_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = config_dir(&settings(100, 20));
    let out = dir.path().join("out/samples.jsonl");
    for entry in std::fs::read_dir(dir.path().join("meters.d")).expect("meters.d") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    replace(&dir.path().join("meters.d/probe.yaml"), &probe_meters("v1"));
    replace(&dir.path().join("pipeline.yaml"), &file_pipeline(&out));
    replace(
        &dir.path().join("event_pipeline.yaml"),
        "sources: []\nsinks: []\n",
    );
    (dir, out)
}

fn file_pipeline(out: &Path) -> String {
    format!(
        "sources:\n  - name: all\n    meters: ['*']\n    sinks: [out]\nsinks:\n  - name: out\n    \
         publishers: ['file://{}?fsync=0&json']\n",
        out.display()
    )
}

/// A `reload.probe` notification: its sample's resource_id is `r<i>`, its volume `i`.
fn probe(i: usize) -> (String, String, Vec<u8>) {
    let inner = json!({
        "message_id": format!("m{i}"), "publisher_id": "p", "event_type": "reload.probe",
        "priority": "INFO", "timestamp": "2025-01-01 00:00:00",
        "payload": {"id": format!("r{i}"), "n": i},
    });
    let body = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    (
        "nova".into(),
        "notifications.info".into(),
        body.to_string().into_bytes(),
    )
}

fn probes(range: std::ops::Range<usize>) -> Vec<(String, String, Vec<u8>)> {
    range.map(probe).collect()
}

fn lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// resource index → the units of the samples made for it, in file order.
fn units_by_probe(out: &Path) -> BTreeMap<usize, Vec<String>> {
    let mut by = BTreeMap::<usize, Vec<String>>::new();
    for l in lines(out) {
        let i = l["resource_id"].as_str().and_then(|r| r.strip_prefix('r'));
        let i: usize = i.and_then(|i| i.parse().ok()).expect("a probe sample");
        by.entry(i)
            .or_default()
            .push(l["unit"].as_str().unwrap_or("").to_owned());
    }
    by
}

fn sighup(agent: &Agent) {
    let status = Command::new("kill")
        .args(["-HUP", &agent.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// SIGHUP, then wait for the reload's outcome (`applied` or `failed`) to be logged `n` times.
fn reload(agent: &Agent, outcome: &str, n: usize) {
    sighup(agent);
    let said = format!("reload {outcome}");
    wait_until(&said, Duration::from_secs(30), || {
        agent.log_text().matches(&said).count() >= n
    });
}

/// `ceilo_config_reloads_total{result}` on the agent's /metrics.
fn reloads(agent: &Agent, result: &str) -> f64 {
    let addr = metrics_addr(agent).expect("metrics address logged");
    let text =
        ceilo::telemetry::scrape::get_blocking(&format!("http://{addr}/metrics"), Duration::from_secs(5))
            .expect("scrape")
            .body;
    ceilo::telemetry::scrape::parse(&text)
        .expect("exposition")
        .sum("ceilo_config_reloads_total", &[("result", result)])
}

#[test]
fn traffic_through_a_reload_is_converted_by_exactly_one_version() {
    let broker = Broker::new("reload-traffic");
    let rt = runtime();
    let url = broker.url();
    let (dir, out) = probe_dir();
    let agent = Agent::start(dir.path(), &url);

    // Before: 0..1000 all by v1.
    rt.block_on(publish(&url, &probes(0..1000)));
    wait_until("the first 1000 published", Duration::from_secs(60), || {
        lines(&out).len() >= 1000
    });
    // During: 1000..3000 published in small bursts while the agent reloads.
    replace(&dir.path().join("meters.d/probe.yaml"), &probe_meters("v2"));
    let sender = rt.spawn({
        let url = url.clone();
        async move {
            for start in (1000..3000).step_by(50) {
                publish(&url, &probes(start..start + 50)).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    // Reload once some of them went through, while the rest are still coming.
    wait_until("traffic flowing", Duration::from_secs(60), || {
        lines(&out).len() >= 1200
    });
    reload(&agent, "applied", 1);
    let log = agent.log_text();
    let applied = log
        .lines()
        .find(|l| l.contains("reload applied"))
        .expect("logged");
    // No transformer here, so no state kept to name: the line says nothing of it.
    assert!(!applied.contains("transformer_state_kept"), "{applied}");
    rt.block_on(sender).expect("sender");
    // After: 3000..3500 all by v2.
    rt.block_on(publish(&url, &probes(3000..3500)));
    wait_until("every probe published", Duration::from_secs(60), || {
        units_by_probe(&out).len() >= 3500
    });
    let log = agent.log_text();
    assert!(agent.terminate().success(), "{log}");

    let by = units_by_probe(&out);
    assert_eq!(by.len(), 3500, "no probe lost");
    let twice: Vec<_> = by.iter().filter(|(_, u)| u.len() != 1).collect();
    assert!(twice.is_empty(), "converted more than once: {twice:?}");
    let unit = |i: usize| by[&i][0].as_str();
    assert!((0..1000).all(|i| unit(i) == "v1"), "before the reload: v1");
    assert!((3000..3500).all(|i| unit(i) == "v2"), "after the reload: v2");
    assert!((0..3500).all(|i| matches!(unit(i), "v1" | "v2")));
    // In order: v1 up to the first v2, and after it at most the batches that workers had
    // taken before the swap (2 per worker, 20 deliveries each) still v1.
    let first_v2 = (0..3500).find(|i| unit(*i) == "v2").expect("a v2");
    assert!(
        (1200..3000).contains(&first_v2),
        "the reload took over at probe {first_v2}, not while traffic was flowing"
    );
    let late_v1 = (first_v2..3500).filter(|i| unit(*i) == "v1").count();
    assert!(
        late_v1 <= 2 * 2 * 20,
        "{late_v1} v1 samples after the first v2 ({first_v2})"
    );
    eprintln!("first v2: probe {first_v2}; v1 after it: {late_v1}");
}

#[test]
fn a_reload_that_moves_a_sink_to_another_publisher_loses_and_repeats_nothing() {
    let broker = Broker::new("reload-publisher");
    let rt = runtime();
    let url = broker.url();
    let (dir, before) = probe_dir();
    let after = dir.path().join("out/after.jsonl");
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &probes(0..500)));
    wait_until("the first 500", Duration::from_secs(60), || {
        lines(&before).len() >= 500
    });
    let sender = rt.spawn({
        let url = url.clone();
        async move {
            for start in (500..1500).step_by(50) {
                publish(&url, &probes(start..start + 50)).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
    wait_until("traffic flowing", Duration::from_secs(60), || {
        lines(&before).len() >= 700
    });
    replace(&dir.path().join("pipeline.yaml"), &file_pipeline(&after));
    reload(&agent, "applied", 1);
    rt.block_on(sender).expect("sender");
    rt.block_on(publish(&url, &probes(1500..2000)));
    let count = || units_by_probe(&before).len() + units_by_probe(&after).len();
    wait_until("every probe published", Duration::from_secs(60), || {
        count() >= 2000
    });
    let log = agent.log_text();
    assert!(agent.terminate().success(), "{log}");

    let (old, new) = (units_by_probe(&before), units_by_probe(&after));
    assert!(
        old.values().chain(new.values()).all(|u| u.len() == 1),
        "a probe published twice"
    );
    assert!(old.keys().all(|i| !new.contains_key(i)), "a probe in both files");
    assert_eq!(old.len() + new.len(), 2000, "no probe lost");
    assert!((0..500).all(|i| old.contains_key(&i)) && (1500..2000).all(|i| new.contains_key(&i)));
    let first_new = *new.keys().next().expect("some in the new file");
    assert!((700..1500).contains(&first_new), "moved at probe {first_new}");
}

#[test]
fn invalid_definitions_leave_the_old_ones_running_logged_and_counted() {
    let broker = Broker::new("reload-invalid");
    let rt = runtime();
    let url = broker.url();
    let (dir, out) = probe_dir();
    let agent = Agent::start(dir.path(), &url);
    let unit_of = |i: usize| {
        rt.block_on(publish(&url, &probes(i..i + 1)));
        wait_until(&format!("probe {i}"), Duration::from_secs(30), || {
            units_by_probe(&out).contains_key(&i)
        });
        units_by_probe(&out)[&i].clone()
    };
    assert_eq!(unit_of(0), ["v1"]);

    // A meters file that is not YAML.
    let broken = dir.path().join("meters.d/zz-broken.yaml");
    replace(&broken, "metric:\n  - name: [unclosed\n");
    reload(&agent, "failed", 1);
    let log = agent.log_text();
    let line = log.lines().find(|l| l.contains("reload failed")).expect("logged");
    assert!(line.contains(&broken.display().to_string()), "{line}");
    assert_eq!(unit_of(1), ["v1"], "still the old definitions");

    // Valid meters, but a pipeline whose source feeds a sink that is not there: nothing of
    // it applies, the new meter either.
    std::fs::remove_file(&broken).expect("remove");
    replace(&dir.path().join("meters.d/probe.yaml"), &probe_meters("v2"));
    let pipeline = dir.path().join("pipeline.yaml");
    replace(
        &pipeline,
        &file_pipeline(&out).replace("sinks: [out]", "sinks: [nowhere]"),
    );
    reload(&agent, "failed", 2);
    let log = agent.log_text();
    let line = log
        .lines()
        .filter(|l| l.contains("reload failed"))
        .nth(1)
        .expect("logged");
    assert!(
        line.contains("pipeline.yaml") && line.contains("nowhere"),
        "{line}"
    );
    assert_eq!(unit_of(2), ["v1"], "a refused reload applies nothing");
    assert_eq!(
        (reloads(&agent, "failed"), reloads(&agent, "applied")),
        (2.0, 0.0)
    );

    replace(&pipeline, &file_pipeline(&out));
    reload(&agent, "applied", 1);
    assert_eq!(unit_of(3), ["v2"]);
    assert_eq!(
        (reloads(&agent, "failed"), reloads(&agent, "applied")),
        (2.0, 1.0)
    );

    assert!(agent.terminate().success());
}

/// A telemetry.polling notification with one cumulative `cpu` sample of `vm1`.
fn cpu(ns: i64, minute: u32) -> (String, String, Vec<u8>) {
    let sample = json!({
        "source": "openstack", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns",
        "counter_volume": ns, "user_id": "u", "user_name": null, "project_id": "p", "project_name": null,
        "resource_id": "vm1", "timestamp": format!("2025-03-14T09:{minute:02}:00+00:00"),
        "resource_metadata": {}, "message_id": format!("vm1-{minute}"), "monotonic_time": null,
        "message_signature": "x"
    });
    let inner = json!({
        "message_id": format!("m-{minute}"), "publisher_id": "ceilometer.polling",
        "event_type": "telemetry.polling", "priority": "SAMPLE", "payload": {"samples": [sample]},
        "timestamp": "2025-03-14 09:45:00.123456", "_unique_id": format!("u-{minute}")
    });
    let body = json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    (
        "ceilometer".into(),
        "notifications.sample".into(),
        body.to_string().into_bytes(),
    )
}

/// Two sinks with a `delta` each: `kept` stays as it is, `changed` gets `state_limit`.
fn delta_pipeline(kept: &Path, changed: &Path, limit: usize) -> String {
    format!(
        "sources:\n  - name: cpu\n    meters: [cpu]\n    sinks: [kept, changed]\nsinks:\n  \
         - name: kept\n    transformers:\n      - name: delta\n        parameters: {{target: {{name: cpu.delta}}}}\n    \
         publishers: ['file://{}?fsync=0&json']\n  \
         - name: changed\n    transformers:\n      - name: delta\n        parameters: {{target: {{name: cpu.delta}}, state_limit: {limit}}}\n    \
         publishers: ['file://{}?fsync=0&json']\n",
        kept.display(),
        changed.display()
    )
}

fn volumes(path: &Path) -> Vec<f64> {
    lines(path)
        .iter()
        .map(|l| l["volume"].as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn an_unchanged_sink_keeps_its_transformer_state_and_a_changed_one_starts_fresh() {
    let broker = Broker::new("reload-transform");
    let rt = runtime();
    let url = broker.url();
    let dir = config_dir(&settings(100, 20));
    let (kept, changed) = (
        dir.path().join("out/kept.jsonl"),
        dir.path().join("out/changed.jsonl"),
    );
    let pipeline = dir.path().join("pipeline.yaml");
    replace(&pipeline, &delta_pipeline(&kept, &changed, 1000));
    let agent = Agent::start(dir.path(), &url);
    let acked = || {
        let Some(addr) = metrics_addr(&agent) else {
            return 0.0;
        };
        let text =
            ceilo::telemetry::scrape::get_blocking(&format!("http://{addr}/metrics"), Duration::from_secs(5))
                .expect("scrape")
                .body;
        ceilo::telemetry::scrape::parse(&text)
            .expect("exposition")
            .sum("ceilo_notifications_acked_total", &[])
    };

    // Both deltas prime their cache with 10 (no output for a first sample).
    rt.block_on(publish(&url, &[cpu(10, 0)]));
    wait_until("the first sample taken", Duration::from_secs(30), || {
        acked() >= 1.0
    });
    replace(&pipeline, &delta_pipeline(&kept, &changed, 2000));
    reload(&agent, "applied", 1);
    let log = agent.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("reload applied"))
        .expect("logged");
    assert!(line.contains("transformer_state_kept=kept"), "{line}");

    rt.block_on(publish(&url, &[cpu(25, 1)]));
    wait_until("kept's first delta", Duration::from_secs(30), || {
        !volumes(&kept).is_empty()
    });
    rt.block_on(publish(&url, &[cpu(40, 2)]));
    wait_until("kept's second delta", Duration::from_secs(30), || {
        volumes(&kept).len() >= 2
    });
    wait_until("changed's first delta", Duration::from_secs(30), || {
        !volumes(&changed).is_empty()
    });
    let log = agent.log_text();
    assert!(agent.terminate().success(), "{log}");
    // kept continued from 10; changed primed again with 25.
    assert_eq!(volumes(&kept), [15.0, 15.0]);
    assert_eq!(volumes(&changed), [15.0]);
}

/// Only the polling agent, reading the test fixtures' /proc (see tests/polling_run.rs).
fn polling_only_settings() -> String {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         proc_root: {}\n  sys_root: {}\n  pollsters_definitions_dirs: []\n  \
         libvirt_uri: 'test:///default'\n",
        fixtures.join("proc").display(),
        fixtures.join("sys").display()
    )
}

fn host_polling(meter: &str) -> String {
    format!("sources:\n  - name: host\n    interval: 1\n    meters: ['{meter}']\n")
}

/// The meter names of the samples of one telemetry.polling notification.
fn polled_names(r: &Received) -> Vec<String> {
    polled_samples(&r.body)
        .iter()
        .filter_map(|s| s["counter_name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_polling_reload_replaces_the_sources_meters() {
    let broker = Broker::new("reload-polling");
    let rt = runtime();
    let url = broker.url();
    let dir = config_dir(&polling_only_settings());
    let polling = dir.path().join("polling.yaml");
    replace(&polling, &host_polling("hardware.cpu.load.1min"));
    declare_polled(&rt, &broker);
    let agent = Agent::start(dir.path(), &url);
    let before = rt.block_on(collect(&url, POLLED, Duration::from_secs(30), |r| {
        polled_names(r).iter().any(|n| n == "hardware.cpu.load.1min")
    }));
    assert!(
        before
            .iter()
            .flat_map(polled_names)
            .all(|n| n == "hardware.cpu.load.1min"),
        "{}",
        agent.log_text()
    );

    replace(&polling, &host_polling("hardware.cpu.load.5min"));
    reload(&agent, "applied", 1);
    // Three polls of the new source; after the first, nothing of the old one.
    let after = rt.block_on(collect(&url, POLLED, Duration::from_secs(30), {
        let mut polls = 0;
        move |r| {
            polls += usize::from(polled_names(r).iter().any(|n| n == "hardware.cpu.load.5min"));
            polls >= 3
        }
    }));
    let names: Vec<String> = after.iter().flat_map(polled_names).collect();
    let first_new = names
        .iter()
        .position(|n| n == "hardware.cpu.load.5min")
        .unwrap_or_else(|| panic!("{names:?}\n{}", agent.log_text()));
    assert!(
        names[first_new..].iter().all(|n| n == "hardware.cpu.load.5min"),
        "{names:?}"
    );
    assert_eq!(names.iter().filter(|n| *n == "hardware.cpu.load.5min").count(), 3);
    assert!(agent.terminate().success());
}

#[test]
fn with_ceilometer_conf_a_reload_rereads_the_definitions_and_names_options_needing_a_restart() {
    let broker = Broker::new("reload-conf");
    let rt = runtime();
    let url = broker.url();
    let (dir, out) = probe_dir();
    // The meters in a directory of their own, outside the config directory.
    let meters = tempfile::tempdir().expect("meters dir");
    replace(&meters.path().join("probe.yaml"), &probe_meters("e1"));
    let conf = dir.path().join("ceilometer.conf");
    let write_conf = |batch_size: usize| {
        replace(
            &conf,
            &format!(
                "[DEFAULT]\ntransport_url = {url}\n[notification]\nbatch_size = {batch_size}\n\
                 [meter]\nmeter_definitions_dirs = {}\n",
                meters.path().display()
            ),
        )
    };
    write_conf(20);
    let agent = Agent::start_with_conf(&conf);
    let unit_of = |i: usize| {
        rt.block_on(publish(&url, &probes(i..i + 1)));
        wait_until(&format!("probe {i}"), Duration::from_secs(30), || {
            units_by_probe(&out).contains_key(&i)
        });
        units_by_probe(&out)[&i].clone()
    };
    // meter_definitions_dirs, not the config directory's meters.d (unit v1).
    assert_eq!(unit_of(0), ["e1"], "{}", agent.log_text());

    write_conf(30);
    replace(&meters.path().join("probe.yaml"), &probe_meters("e2"));
    reload(&agent, "applied", 1);
    assert_eq!(unit_of(1), ["e2"]);
    let text = agent.log_text();
    let warning = text
        .lines()
        .find(|l| l.contains("restart to use them"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(warning.contains("section=\"notification\""), "{warning}");
    assert!(agent.terminate().success());
}
