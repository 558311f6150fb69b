//! The libvirt polling benchmark of issue 19 (ignored by default; run it in release):
//!
//! ```text
//! CEILO_BENCH_GUESTS=3 CEILO_BENCH_CYCLES=20 CEILO_BENCH_DOMAINS=500 \
//!   cargo test --release --test polling_libvirt_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! * `cost_per_domain_per_cycle`: `CEILO_BENCH_GUESTS` real guests, `CEILO_BENCH_CYCLES`
//!   polls of all 30 compute meters (discovery, the bulk stats call, blockInfo, samples);
//!   prints ceilo's CPU and libvirtd's CPU (/proc/<pid>/stat) per domain per cycle.
//! * `discovery_of_many_domains`: `CEILO_BENCH_DOMAINS` domains with nova metadata defined in
//!   libvirt's in-process `test:///default` driver (none run); prints the time and CPU of one
//!   `local_instances` discovery, and of one cached (`resource_update_interval`) discovery.

mod libvirt_support;

use std::path::Path;
use std::time::{Duration, Instant};

use ceilo::model::SampleBatch;
use ceilo::polling::discovery::Discoverer;
use ceilo::polling::{Discovery, PollingConfig, PollingOptions, SourcePlan};
use libvirt_support::*;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process from /proc/<pid>/stat.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[ignore]
fn cost_per_domain_per_cycle() {
    let _libvirtd = libvirtd_shared();
    let guests: Vec<TestGuest> = (0..env("CEILO_BENCH_GUESTS", 3))
        .map(|_| TestGuest::start(Spec::new()))
        .collect();
    for g in &guests {
        g.wait_booted();
    }
    let options = PollingOptions {
        pollsters_definitions_dirs: vec![],
        libvirt_uri: URI.into(),
        ..Default::default()
    };
    let yaml = format!(
        "sources:\n  - name: compute\n    interval: 10\n    meters: [{}]\n",
        COMPUTE_METERS.join(", ")
    );
    let config = PollingConfig::parse(&yaml, Path::new("polling.yaml")).unwrap();
    let discovery = Discovery::new(&options);
    let pollsters = ceilo::polling::load_pollsters(&options, &discovery).unwrap();
    let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
    let rt = runtime();
    let libvirtd = std::fs::read_to_string("/run/libvirtd.pid").unwrap_or_default();
    let libvirtd = libvirtd.trim();
    let cycles = env("CEILO_BENCH_CYCLES", 20);
    let poll = || {
        rt.block_on(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<SampleBatch>(4096);
            let report = plan.poll(&discovery, 50, &tx).await;
            drop(tx);
            while rx.recv().await.is_some() {}
            report
        })
    };
    poll(); // connect, first deltas
    let (self0, lv0, t0) = (cpu_seconds("self"), cpu_seconds(libvirtd), Instant::now());
    let mut samples = 0;
    for _ in 0..cycles {
        samples += poll().samples;
    }
    let (wall, me, lv) = (
        t0.elapsed(),
        cpu_seconds("self") - self0,
        cpu_seconds(libvirtd) - lv0,
    );
    let domains = guests.len() as f64 * cycles as f64;
    println!(
        "{} guests x {cycles} cycles: {samples} samples in {wall:?}; per domain per cycle: ceilo {:.2} ms CPU, \
         libvirtd {:.2} ms CPU, {:.2} ms wall (10 ms CPU ticks: few cycles round coarsely)",
        guests.len(),
        me * 1e3 / domains,
        lv * 1e3 / domains,
        wall.as_secs_f64() * 1e3 / domains,
    );
}

#[test]
#[ignore]
fn discovery_of_many_domains() {
    let n = env("CEILO_BENCH_DOMAINS", 500);
    // test:///default is one in-process driver: domains defined on this connection are seen
    // by the agent's own (read-only) connection to it.
    let conn = virt::connect::Connect::open(Some("test:///default")).expect("test driver");
    for i in 0..n {
        let spec = Spec {
            name: format!("bench-{i}"),
            ..Spec::new()
        };
        let xml = spec
            .xml(Path::new("/nonexistent"))
            .replace("type='qemu'", "type='test'");
        virt::domain::Domain::define_xml(&conn, &xml).expect("define in test driver");
    }
    let rt = runtime();
    for ttl in [0, 3600] {
        let options = PollingOptions {
            libvirt_uri: "test:///default".into(),
            resource_update_interval: ttl,
            ..Default::default()
        };
        let discovery = Discovery::new(&options);
        let first = rt.block_on(discovery.discover(&Discoverer::LocalInstances));
        assert_eq!(first.len() as u64, n);
        let (c0, t0) = (cpu_seconds("self"), Instant::now());
        let rounds = 10;
        for _ in 0..rounds {
            rt.block_on(discovery.discover(&Discoverer::LocalInstances));
        }
        let per = t0.elapsed() / rounds;
        let cpu = (cpu_seconds("self") - c0) / rounds as f64;
        println!(
            "local_instances over {n} domains (resource_update_interval {ttl}): {per:?} wall, \
             {:.1} ms CPU per discovery",
            cpu * 1e3
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
