//! Side by side on the same running guest: the real Ceilometer 27 compute agent
//! (`ceilometer-polling --polling-namespaces compute`, libvirt_metadata discovery) and
//! `ceilo run`, each publishing its `telemetry.polling` notifications to a vhost of its own on
//! the real RabbitMQ. Their first cycle's samples of the guest must agree: meter set, names,
//! units, types, resource ids, user/project ids, resource_metadata, the JSON kind of each
//! volume (int or float) and the volumes themselves within what the guest can change between
//! the two reads. [`compare`] is the comparison; both sides' samples and its findings are
//! written under the cargo target dir (`libvirt-lab/compare-*.json`) for reading.

mod common;
mod libvirt_support;
mod runtime_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::ceilometer::Service;
use libvirt_support::*;
use runtime_support::{
    collect, config_dir, first_cycles, polled_samples, polled_samples_in, polled_vhosts, runtime, Agent,
    Broker, FirstCycle, Received, POLLED, TELEMETRY,
};
use serde_json::Value as Json;

const HOST: &str = "compute-cmp";

fn polling_yaml() -> String {
    let meters = COMPUTE_METERS.map(|m| format!("      - {m}\n")).concat();
    format!("---\nsources:\n    - name: compute\n      interval: 10\n      meters:\n{meters}")
}

/// The first sample of each (meter, resource) of `instance`.
fn first_cycle(samples: &[Json], instance: &str) -> BTreeMap<(String, String), Json> {
    let mut out = BTreeMap::new();
    for s in samples {
        if s["resource_metadata"]["instance_id"] != instance {
            continue;
        }
        let key = (
            s["counter_name"].as_str().unwrap_or_default().to_owned(),
            s["resource_id"].as_str().unwrap_or_default().to_owned(),
        );
        out.entry(key).or_insert_with(|| s.clone());
    }
    out
}

/// Collect until every meter of `instance` came at least once.
fn all_meters_of(instance: &str) -> impl FnMut(&Received) -> bool + '_ {
    let mut seen = BTreeSet::new();
    move |r| {
        for s in polled_samples(&r.body) {
            if s["resource_metadata"]["instance_id"] == instance {
                seen.insert(s["counter_name"].as_str().unwrap_or_default().to_owned());
            }
        }
        seen.len() == COMPUTE_METERS.len()
    }
}

/// How far two reads of a meter may differ: (relative, absolute), by what the meter is.
fn tolerance(name: &str, unit: &str) -> (f64, f64) {
    match name {
        // What the flavor or the domain definition fixes.
        "vcpus"
        | "power.state"
        | "memory"
        | "disk.root.size"
        | "disk.ephemeral.size"
        | "disk.device.capacity" => (0.0, 0.0),
        // The image grows by 64 KiB clusters, seldom: a read apart is at most one cluster.
        "disk.device.allocation" | "disk.device.usage" => (0.0, 64.0 * 1024.0),
        // Both agents' first reading of the interface.
        "network.incoming.bytes.delta" | "network.outgoing.bytes.delta" => (0.0, 0.0),
        _ => match unit {
            "ns" => (0.5, 5e9),
            "B" => (0.5, 4.0 * 1024.0 * 1024.0),
            "MiB" => (0.25, 16.0),
            _ => (0.5, 50.0),
        },
    }
}

/// Every way the two first cycles disagree (empty: they agree).
fn compare(
    ceilometer: &BTreeMap<(String, String), Json>,
    ceilo: &BTreeMap<(String, String), Json>,
) -> Vec<String> {
    let mut problems = Vec::new();
    let keys = |m: &BTreeMap<(String, String), Json>| m.keys().cloned().collect::<BTreeSet<_>>();
    for k in keys(ceilometer).symmetric_difference(&keys(ceilo)) {
        let who = if ceilometer.contains_key(k) {
            "ceilometer"
        } else {
            "ceilo"
        };
        problems.push(format!("{k:?}: only {who} has it"));
    }
    for (k, c) in ceilometer {
        let Some(r) = ceilo.get(k) else { continue };
        for field in [
            "counter_type",
            "counter_unit",
            "user_id",
            "project_id",
            "resource_id",
            "resource_metadata",
            "source",
        ] {
            if c[field] != r[field] {
                problems.push(format!(
                    "{k:?} {field}: ceilometer {} / ceilo {}",
                    c[field], r[field]
                ));
            }
        }
        let (cv, rv) = (&c["counter_volume"], &r["counter_volume"]);
        if cv.is_f64() != rv.is_f64() {
            problems.push(format!("{k:?} volume kind: ceilometer {cv} / ceilo {rv}"));
        }
        let (Some(a), Some(b)) = (cv.as_f64(), rv.as_f64()) else {
            problems.push(format!("{k:?} volume not a number: ceilometer {cv} / ceilo {rv}"));
            continue;
        };
        let (rel, abs) = tolerance(&k.0, c["counter_unit"].as_str().unwrap_or_default());
        if (a - b).abs() > rel * a.abs().max(b.abs()) + abs {
            problems.push(format!("{k:?} volume: ceilometer {a} / ceilo {b}"));
        }
    }
    problems
}

/// Fails with every difference between the first cycles, and ceilo's log, unless they agree.
fn assert_agree(ceilometer: &FirstCycle, ceilo: &FirstCycle, ceilo_log: &str) {
    let problems = compare(ceilometer, ceilo);
    assert!(
        problems.is_empty(),
        "{} differences:\n{}\n{ceilo_log}",
        problems.len(),
        problems.join("\n")
    );
}

/// `ceilometer-polling --polling-namespaces compute` on the libvirt at `uri`, publishing to
/// `broker`; `compute` adds lines to its `[compute]` section.
fn start_ceilometer(broker: &Broker, dir: &Path, uri: &str, compute: &str) -> Service {
    let venv = common::ceilometer::venv();
    std::fs::write(dir.join("polling.yaml"), polling_yaml()).unwrap();
    let conf = format!(
        "[DEFAULT]\nhost = {HOST}\nlibvirt_uri = {uri}\ntransport_url = {url}\n\n[compute]\n\
         instance_discovery_method = libvirt_metadata\n{compute}\n[polling]\ncfg_file = {dir}/polling.yaml\n",
        // oslo.messaging names RabbitMQ `rabbit://`.
        url = broker.url().replacen("amqp://", "rabbit://", 1),
        dir = dir.display()
    );
    std::fs::write(dir.join("ceilometer.conf"), conf).unwrap();
    let mut command = Command::new(venv.join("bin/ceilometer-polling"));
    command
        .arg("--config-file")
        .arg(dir.join("ceilometer.conf"))
        .args(["--polling-namespaces", "compute"]);
    Service::spawn(command, dir.join("ceilometer-polling.log"))
}

#[test]
fn ceilo_and_ceilometers_compute_agent_agree_on_the_same_guest() {
    let _libvirtd = libvirtd_shared();
    let guest = TestGuest::start(Spec::new());
    guest.wait_booted();
    let uuid = guest.spec.uuid.clone();
    let rt = runtime();
    let (theirs, ours) = polled_vhosts(&rt, "cmp");
    let work = tempfile::tempdir().unwrap();
    let _ceilometer = start_ceilometer(&theirs, work.path(), URI, "");
    let (_dir, agent) = start_ceilo(&ours, URI, "");

    let (theirs_url, ours_url) = (theirs.url(), ours.url());
    let (c, r) = rt.block_on(async {
        tokio::join!(
            collect(
                &theirs_url,
                POLLED,
                Duration::from_secs(120),
                all_meters_of(&uuid)
            ),
            collect(&ours_url, POLLED, Duration::from_secs(120), all_meters_of(&uuid)),
        )
    });
    let log = agent.log_text();
    drop(agent);
    let (c, r) = (
        first_cycle(&polled_samples_in(&c), &uuid),
        first_cycle(&polled_samples_in(&r), &uuid),
    );
    let out = lab().join(format!("compare-{}", &uuid[..8]));
    std::fs::create_dir_all(&out).unwrap();
    let dump = |name: &str, m: &BTreeMap<(String, String), Json>| {
        let list: Vec<&Json> = m.values().collect();
        std::fs::write(out.join(name), serde_json::to_string_pretty(&list).unwrap()).unwrap();
    };
    dump("ceilometer.json", &c);
    dump("ceilo.json", &r);
    let ceilometer_log =
        std::fs::read_to_string(work.path().join("ceilometer-polling.log")).unwrap_or_default();
    assert_eq!(
        c.len(),
        COMPUTE_METERS.len(),
        "ceilometer-polling gave {} samples of the guest; its log:\n{ceilometer_log}",
        c.len()
    );
    assert_eq!(
        r.len(),
        COMPUTE_METERS.len(),
        "ceilo gave {} samples of the guest; its log:\n{log}",
        r.len()
    );
    let problems = compare(&c, &r);
    std::fs::write(out.join("differences.txt"), problems.join("\n")).unwrap();
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// ceilo's polling agent on the libvirt at `uri`, publishing to `broker`; `polling` adds
/// lines to its `polling:` section.
fn start_ceilo(broker: &Broker, uri: &str, polling: &str) -> (tempfile::TempDir, Agent) {
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         pollsters_definitions_dirs: []\n  host: {HOST}\n  libvirt_uri: '{uri}'\n{polling}"
    );
    let dir = config_dir(&settings);
    std::fs::write(dir.path().join("polling.yaml"), polling_yaml()).unwrap();
    let agent = Agent::start(dir.path(), &broker.url());
    (dir, agent)
}

#[test]
fn ceilo_and_ceilometers_compute_agent_read_every_shape_of_nova_metadata_alike() {
    let _libvirtd = libvirtd_shared();
    // 40 domains on libvirt's test driver (tests/fixtures/libvirt/make_nova_node.py): the
    // metadata meters of each, from both agents, must agree as for a real guest.
    let node = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/libvirt/nova_metadata_node.xml");
    let uri = format!("test://{}", node.display());
    // The `skipped-…` domains' metadata lacks what an instance needs: neither agent polls them.
    let instances = std::fs::read_to_string(&node)
        .unwrap()
        .matches("<name>instance-")
        .count();
    let rt = runtime();
    let (theirs, ours) = polled_vhosts(&rt, "cmp-node");
    let work = tempfile::tempdir().unwrap();
    let _ceilometer = start_ceilometer(&theirs, work.path(), &uri, "");
    let (_dir, agent) = start_ceilo(&ours, &uri, "");
    let (c, r) = first_cycles(&rt, &theirs, &ours, Duration::from_secs(60));
    let ceilometer_log =
        std::fs::read_to_string(work.path().join("ceilometer-polling.log")).unwrap_or_default();
    // Every instance has its two disk sizes, whatever its state.
    assert!(
        c.len() >= 2 * instances,
        "ceilometer-polling gave {} samples for {instances} instances; its log:\n{ceilometer_log}",
        c.len()
    );
    assert_agree(&c, &r, &agent.log_text());
}

/// A test-driver node of `n` shut-off instances with one or two disks each.
fn stopped_node(n: usize) -> String {
    let mut out = String::from("<node>\n");
    for i in 0..n {
        let disks: String = ["vda", "vdb"][..1 + i % 2]
            .iter()
            .map(|dev| {
                format!(
                    "<disk type='file' device='disk'><source file='/var/lib/nova/instances/{i}/{dev}'/>\
                     <target dev='{dev}' bus='virtio'/></disk>"
                )
            })
            .collect();
        out.push_str(&format!(
            "<domain type='test'><name>instance-{i:08x}</name>\
             <uuid>5a1d0000-0000-4000-8000-{i:012}</uuid>\
             <metadata><nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">\
             <nova:name>stopped-{i}</nova:name><nova:flavor name=\"m1.small\" id=\"2\">\
             <nova:memory>2048</nova:memory><nova:disk>20</nova:disk><nova:swap>0</nova:swap>\
             <nova:ephemeral>0</nova:ephemeral><nova:vcpus>{v}</nova:vcpus></nova:flavor>\
             <nova:owner><nova:user uuid=\"u{i}\">u</nova:user><nova:project uuid=\"p{i}\">p</nova:project>\
             </nova:owner><nova:root type=\"image\" uuid=\"84d4cd1f-47ca-7883-ff5a-52f1a05885ac\"/>\
             </nova:instance></metadata><memory>{kib}</memory><vcpu>{v}</vcpu>\
             <os><type arch='x86_64'>hvm</type></os><devices>{disks}</devices>\
             <test:runstate xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>5</test:runstate>\
             </domain>\n",
            v = 1 + i % 3,
            kib = 1_048_576 * (1 + i),
        ));
    }
    out.push_str("</node>\n");
    out
}

#[test]
fn with_report_stopped_instance_metrics_both_agents_report_shut_off_instances_alike() {
    let _libvirtd = libvirtd_shared();
    const STOPPED: usize = 4;
    let work = tempfile::tempdir().unwrap();
    let node = work.path().join("stopped_node.xml");
    std::fs::write(&node, stopped_node(STOPPED)).unwrap();
    let uri = format!("test://{}", node.display());
    let rt = runtime();
    let (theirs, ours) = polled_vhosts(&rt, "cmp-stopped");
    let _ceilometer = start_ceilometer(
        &theirs,
        work.path(),
        &uri,
        "report_stopped_instance_metrics = True\n",
    );
    let (_dir, agent) = start_ceilo(&ours, &uri, "  report_stopped_instance_metrics: true\n");
    let (c, r) = first_cycles(&rt, &theirs, &ours, Duration::from_secs(60));
    let ceilometer_log =
        std::fs::read_to_string(work.path().join("ceilometer-polling.log")).unwrap_or_default();
    let count = |name: &str| c.keys().filter(|(m, _)| m == name).count();
    // What the option adds, for every instance and (capacity) every disk.
    assert_eq!(
        [count("power.state"), count("vcpus"), count("memory")],
        [STOPPED; 3],
        "{c:#?}\n{ceilometer_log}"
    );
    assert_eq!(count("disk.device.capacity"), STOPPED + STOPPED / 2, "{c:#?}");
    assert_agree(&c, &r, &agent.log_text());
}

#[test]
fn the_comparison_finds_what_differs() {
    let sample = |name: &str, volume: Json| {
        serde_json::json!({"counter_name": name, "counter_type": "gauge", "counter_unit": "MiB",
            "counter_volume": volume, "user_id": "u", "project_id": "p", "resource_id": "r",
            "resource_metadata": {"instance_id": "i", "flavor": {"id": "1"}}, "source": "openstack"})
    };
    let cycle = |items: Vec<Json>| first_cycle(&items, "i");
    let base = cycle(vec![
        sample("memory", 128.0.into()),
        sample("memory.usage", 40.0.into()),
    ]);
    assert!(compare(&base, &base).is_empty());
    // An int where Ceilometer sends a float.
    let kind = cycle(vec![
        sample("memory", 128.into()),
        sample("memory.usage", 40.0.into()),
    ]);
    assert!(compare(&base, &kind).iter().any(|p| p.contains("volume kind")));
    // A fixed value that moved; a gauge within its tolerance does not count.
    let moved = cycle(vec![
        sample("memory", 64.0.into()),
        sample("memory.usage", 44.0.into()),
    ]);
    let p = compare(&base, &moved);
    assert_eq!(p.len(), 1, "{p:?}");
    // Metadata and the meter set.
    let mut meta = sample("memory", 128.0.into());
    meta["resource_metadata"]["flavor"]["id"] = "m1.tiny".into();
    let p = compare(&base, &cycle(vec![meta]));
    assert!(p.iter().any(|p| p.contains("resource_metadata")), "{p:?}");
    assert!(p.iter().any(|p| p.contains("only ceilometer has it")), "{p:?}");
}
