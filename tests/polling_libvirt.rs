//! The libvirt pollsters against a real libvirtd running real QEMU guests (TCG), as
//! `scripts/libvirt-lab.sh` installs them: `local_instances` discovery, every compute meter
//! family, a guest vanishing between discovery and stats, libvirtd restarting under the
//! agent, and an unreachable libvirt. Nothing of libvirt is mocked.
//!
//! Guests are unique per test (name, uuid, tap, MAC) and removed on drop, so tests run in
//! parallel, except the libvirtd restart, which runs alone (`libvirtd_alone`): not beside another
//! test that uses libvirtd, of this binary or another.

mod libvirt_support;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ceilo::model::Sample;
use ceilo::model::SampleBatch;
use ceilo::polling::discovery::{Discoverer, Resource};
use ceilo::polling::{Discovery, PollReport, PollingConfig, PollingOptions, SourcePlan};
use libvirt_support::*;
use simd_json::prelude::*;

fn options(uri: &str, resource_update_interval: u64) -> PollingOptions {
    PollingOptions {
        host: Some("compute-test".into()),
        pollsters_definitions_dirs: vec![],
        libvirt_uri: uri.into(),
        resource_update_interval,
        ..Default::default()
    }
}

/// A source listing the compute meters with no discovery, as Ceilometer's polling.yaml: the
/// pollsters' default discovery (`local_instances`) applies.
struct Poller {
    plan: SourcePlan,
    discovery: Discovery,
}

impl Poller {
    fn new(options: &PollingOptions) -> Poller {
        let meters = COMPUTE_METERS.map(|m| format!("'{m}'")).join(", ");
        let yaml = format!("sources:\n  - name: compute\n    interval: 10\n    meters: [{meters}]\n");
        let config = PollingConfig::parse(&yaml, Path::new("polling.yaml")).unwrap();
        let discovery = Discovery::new(options);
        let pollsters = ceilo::polling::load_pollsters(options, &discovery).unwrap();
        let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, options).unwrap();
        assert!(plan.unserved.is_empty(), "{:?}", plan.unserved);
        Poller { plan, discovery }
    }

    async fn poll(&self) -> (PollReport, Vec<Sample>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<SampleBatch>(1024);
        let report = self.plan.poll(&self.discovery, 50, &tx).await;
        drop(tx);
        let mut out = Vec::new();
        while let Some(b) = rx.recv().await {
            out.extend(b.samples);
        }
        (report, out)
    }
}

/// The samples of one instance (other tests' guests may be polled too).
fn of(samples: &[Sample], instance: &str) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.resource_metadata.get_str("instance_id") == Some(instance))
        .cloned()
        .collect()
}

fn by_name(samples: &[Sample]) -> HashMap<String, Sample> {
    samples.iter().map(|s| (s.name.to_string(), s.clone())).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn local_instances_are_the_domains_with_nova_metadata() {
    let _libvirtd = libvirtd_shared();
    let nova = TestGuest::start(Spec::new());
    let other = TestGuest::define(Spec {
        nova: false,
        ..Spec::new()
    });
    let rt = runtime();
    let discovery = Discovery::new(&options(URI, 0));
    let found = rt.block_on(discovery.discover(&Discoverer::LocalInstances));
    let guests: Vec<_> = found
        .iter()
        .filter_map(|r| match r {
            Resource::Guest(g) => Some(g.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !guests.iter().any(|g| g.id == other.spec.uuid),
        "a domain without nova metadata"
    );
    let g = guests
        .iter()
        .find(|g| g.id == nova.spec.uuid)
        .expect("the nova guest is discovered");
    let s = &nova.spec;
    assert_eq!(
        (g.user_id.as_str(), g.project_id.as_str()),
        (s.user_id.as_str(), s.project_id.as_str())
    );
    assert_eq!(g.domain_name, s.name);
    assert_eq!(g.disks, ["vda"]);
    assert_eq!(g.vnics.len(), 1);
    assert_eq!(
        (g.vnics[0].name.as_str(), g.vnics[0].mac.as_str()),
        (s.tap.as_str(), s.mac.as_str())
    );
    let m = &g.metadata;
    assert_eq!(m.get_str("display_name"), Some(s.display_name.as_str()));
    assert_eq!(m.get_str("instance_host"), Some("compute-test"));
    assert_eq!(m.get_str("status"), Some("active"));
    assert_eq!(
        m.get("image").and_then(|i| i.get_str("id")),
        Some(s.image_id.as_str())
    );
    assert_eq!(m.get("flavor").and_then(|f| f.get_str("id")), Some("1"));
    assert_eq!(m.get("flavor").and_then(|f| f.get_u64("ram")), Some(128));
}

#[test]
fn every_compute_meter_of_a_running_guest_as_ceilometer_makes_it() {
    let _libvirtd = libvirtd_shared();
    let guest = TestGuest::start(Spec::new());
    guest.wait_booted();
    let rt = runtime();
    let poller = Poller::new(&options(URI, 0));
    use std::os::unix::fs::MetadataExt;
    let image = || {
        let m = std::fs::metadata(guest.disk_path()).expect("the guest's image");
        (m.len(), m.blocks() * 512)
    };
    let before = image();
    let (report, all) = rt.block_on(poller.poll());
    let after = image();
    assert_eq!(report.failures, 0, "{report:?}");
    let s = &guest.spec;
    let first = of(&all, &s.uuid);
    let names: BTreeSet<&str> = first.iter().map(|x| &*x.name).collect();
    assert_eq!(
        names,
        COMPUTE_METERS.into_iter().collect(),
        "one sample per meter"
    );
    assert_eq!(
        first.len(),
        30,
        "one disk and one interface: one sample per meter"
    );
    let first = by_name(&first);

    let disk_rid = format!("{}-vda", s.uuid);
    let vnic_rid = format!("{}-{}-{}", s.name, s.uuid, s.tap);
    for x in first.values() {
        assert_eq!(x.user_id.as_str(), Some(s.user_id.as_str()), "{}", x.name);
        assert_eq!(x.project_id.as_str(), Some(s.project_id.as_str()), "{}", x.name);
        assert_eq!(&*x.source, "openstack");
        assert!(x.monotonic_time.as_f64().is_some(), "{}", x.name);
        let want_rid = if x.name.starts_with("disk.device.") {
            disk_rid.as_str()
        } else if x.name.starts_with("network.") {
            vnic_rid.as_str()
        } else {
            s.uuid.as_str()
        };
        assert_eq!(x.resource_id.as_str(), Some(want_rid), "{}", x.name);
        assert_eq!(
            x.resource_metadata.get_str("display_name"),
            Some(s.display_name.as_str())
        );
    }
    let v = |n: &str| first[n].volume.clone();
    let unit_type = |n: &str| (first[n].unit.to_string(), first[n].sample_type.to_string());
    assert_eq!(unit_type("cpu"), ("ns".into(), "cumulative".into()));
    assert_eq!(unit_type("memory.usage"), ("MiB".into(), "gauge".into()));
    assert_eq!(
        unit_type("network.incoming.bytes.delta"),
        ("B".into(), "delta".into())
    );
    assert_eq!(
        unit_type("disk.device.read.latency"),
        ("ns".into(), "cumulative".into())
    );
    assert_eq!(v("power.state").as_u64(), Some(1));
    assert_eq!(v("vcpus").as_u64(), Some(1));
    assert_eq!(v("memory").as_f64(), Some(128.0));
    assert_eq!(v("disk.root.size").as_i64(), Some(1));
    assert_eq!(v("disk.ephemeral.size").as_u64(), Some(0));
    assert_eq!(v("disk.device.capacity").as_u64(), Some(64 << 20));
    assert!(v("cpu").as_u64().unwrap() > 0);
    assert!(v("memory.usage").as_f64().unwrap() > 0.0);
    assert!(v("memory.resident").as_f64().unwrap() > 0.0);
    assert!(v("disk.device.write.requests").as_u64().unwrap() > 0);
    assert!(v("network.outgoing.packets").as_u64().unwrap() > 0);
    assert_eq!(first["cpu"].resource_metadata.get_u64("cpu_number"), Some(1));
    assert_eq!(
        first["disk.device.read.bytes"]
            .resource_metadata
            .get_str("disk_name"),
        Some("vda")
    );
    let net = &first["network.outgoing.bytes"].resource_metadata;
    assert_eq!(net.get_str("vnic_name"), Some(s.tap.as_str()));
    assert_eq!(net.get_str("mac"), Some(s.mac.as_str()));
    // Ceilometer's blockInfo values: usage is the image file's size ('ls'), allocation what it
    // occupies ('du'); the bulk stats call's allocation/physical mean other things.
    // (Read before and after the poll: the guest may grow its image meanwhile.)
    let usage = v("disk.device.usage").as_u64().unwrap();
    let allocation = v("disk.device.allocation").as_u64().unwrap();
    assert!(
        usage == before.0 || usage == after.0,
        "usage {usage}, image {before:?} {after:?}"
    );
    assert!(
        allocation == before.1 || allocation == after.1,
        "allocation {allocation}, image {before:?} {after:?}"
    );
    // First reading of the interface: no delta yet.
    assert_eq!(v("network.outgoing.bytes.delta").as_u64(), Some(0));

    // The guest's init writes to its disk and sends a DHCP discover every 5 s or so (slower
    // under load): poll until both moved; each poll's delta is the change since the poll
    // before it.
    let n = |m: &HashMap<String, Sample>, k: &str| m[k].volume.as_u64().unwrap();
    let mut prev = first.clone();
    let mut moved = false;
    for _ in 0..20 {
        std::thread::sleep(Duration::from_secs(3));
        let (_, all) = rt.block_on(poller.poll());
        let now = by_name(&of(&all, &s.uuid));
        assert!(n(&now, "cpu") > n(&prev, "cpu"));
        assert_eq!(
            n(&now, "network.outgoing.bytes.delta"),
            n(&now, "network.outgoing.bytes") - n(&prev, "network.outgoing.bytes")
        );
        moved = n(&now, "network.outgoing.bytes") > n(&first, "network.outgoing.bytes")
            && n(&now, "disk.device.write.requests") > n(&first, "disk.device.write.requests")
            && n(&now, "network.outgoing.bytes.delta") > 0;
        prev = now;
        if moved {
            break;
        }
    }
    assert!(moved, "the guest's disk and network counters never moved");
}

#[test]
fn a_guest_gone_between_discovery_and_stats_is_counted_not_fatal() {
    let _libvirtd = libvirtd_shared();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let guest = TestGuest::start(Spec::new());
    let rt = runtime();
    // The instance list is kept for an hour: the second poll still believes the guest runs.
    let poller = metrics::with_local_recorder(&recorder, || Poller::new(&options(URI, 3600)));
    let (report, all) = rt.block_on(poller.poll());
    assert_eq!(report.failures, 0);
    assert!(of(&all, &guest.spec.uuid).iter().any(|x| &*x.name == "cpu"));

    guest.domain.destroy().expect("destroy the guest");
    let (report, all) = rt.block_on(poller.poll());
    assert_eq!(report.failures, 0, "{report:?}");
    let names: BTreeSet<String> = of(&all, &guest.spec.uuid)
        .iter()
        .map(|x| x.name.to_string())
        .collect();
    // Only what needs no stats (Ceilometer: InstanceShutOff / InstanceNotFound, no sample).
    assert_eq!(
        names,
        BTreeSet::from(["disk.ephemeral.size".into(), "disk.root.size".into()])
    );
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ceilo_libvirt_errors_total{reason=\"vanished\"}") && !l.ends_with(" 0")),
        "{text}"
    );

    // Undefined altogether, with a fresh discovery: no samples at all.
    drop(guest);
    let poller = Poller::new(&options(URI, 0));
    let (report, _) = rt.block_on(poller.poll());
    assert_eq!(report.failures, 0);
}

#[test]
fn an_unreachable_libvirt_is_logged_and_counted_never_fatal() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = runtime();
    let uri = "qemu+unix:///system?socket=/nonexistent/libvirt-sock";
    let poller = metrics::with_local_recorder(&recorder, || Poller::new(&options(uri, 0)));
    for _ in 0..2 {
        let (report, samples) = rt.block_on(poller.poll());
        assert!(samples.is_empty());
        assert!(!report.output_closed);
    }
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ceilo_libvirt_errors_total{reason=\"connect\"} 2")),
        "both polls tried to connect and counted it: {text}"
    );
}

#[test]
fn polling_survives_a_libvirtd_restart_by_reconnecting() {
    let _alone = libvirtd_alone();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let mut guest = TestGuest::start(Spec::new());
    let rt = runtime();
    let poller = Arc::new(metrics::with_local_recorder(&recorder, || {
        Poller::new(&options(URI, 0))
    }));
    let (_, all) = rt.block_on(poller.poll());
    assert!(of(&all, &guest.spec.uuid).iter().any(|x| &*x.name == "cpu"));

    restart_libvirtd();
    let (report, all) = rt.block_on(poller.poll());
    assert_eq!(report.failures, 0, "{report:?}");
    assert!(
        of(&all, &guest.spec.uuid).iter().any(|x| &*x.name == "cpu"),
        "polled again after the restart"
    );
    let text = handle.render();
    assert!(
        text.lines()
            .any(|l| l.starts_with("ceilo_libvirt_reconnects_total") && !l.ends_with(" 0")),
        "{text}"
    );
    // The guest's own connection died with libvirtd: reopen it so drop can clean up.
    guest.reconnect();
}

/// Stop libvirtd (the running guests stay up) and start it again.
fn restart_libvirtd() {
    let pid = std::fs::read_to_string("/run/libvirtd.pid").expect("libvirtd pid file");
    let pid = pid.trim();
    let kill = |signal: &str| {
        assert!(std::process::Command::new("kill")
            .args([signal, pid])
            .status()
            .unwrap()
            .success());
    };
    let gone = || !Path::new(&format!("/proc/{pid}")).exists();
    kill("-TERM");
    // libvirtd may wait up to 30 s for its workers before it forces its shutdown ("Make
    // forcefull daemon shutdown" in its log, seen here): after 5 s it is killed, which drops
    // the agent's connection as the stop does.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !gone() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if !gone() {
        kill("-KILL");
    }
    wait_for("libvirtd to exit", Duration::from_secs(30), gone);
    assert!(std::process::Command::new("/usr/sbin/libvirtd")
        .arg("-d")
        .status()
        .unwrap()
        .success());
    wait_for("libvirtd to answer", Duration::from_secs(30), || {
        virt::connect::Connect::open(Some(URI)).is_ok()
    });
}
