//! `ceilo run` polling the real libvirt while guests come and go: a guest's samples appear
//! (as telemetry.polling notifications on the real RabbitMQ) once it is defined and running,
//! stop once it is destroyed and undefined, and the agent goes on polling the next one. The
//! same samples are exposed by the Prometheus sample exporter (`enable_prometheus_exporter`).

mod libvirt_support;
mod runtime_support;

use std::time::Duration;

use chrono::NaiveDateTime;
use libvirt_support::*;
use runtime_support::{
    collect, config_dir, declare_polled, polled_samples, polled_samples_in, runtime, Agent, Broker, Received,
    POLLED, TELEMETRY,
};
use serde_json::Value as Json;

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
    move |r| of(&polled_samples(&r.body), instance).next().is_some()
}

#[test]
fn guests_started_and_destroyed_while_polling_come_and_go() {
    let _libvirtd = libvirtd_shared();
    let broker = Broker::new("libvirt-agent");
    let rt = runtime();
    declare_polled(&rt, &broker);
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
    let got = rt.block_on(collect(&broker.url(), POLLED, Duration::from_secs(60), seen(&id)));
    assert!(
        of(&polled_samples_in(&got), &id).any(|s| s["counter_name"] == "cpu"),
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
        POLLED,
        Duration::from_secs(60),
        seen(&next),
    ));
    let after = rt.block_on(collect(&broker.url(), POLLED, Duration::from_secs(4), |_| false));
    let all: Vec<Json> = polled_samples_in(&got)
        .into_iter()
        .chain(polled_samples_in(&after))
        .collect();
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

/// An agent that may not open libvirt's socket (as with libvirtd's `unix_sock_rw_perms =
/// "0770"` and the agent's user outside its group: `connect` fails with EACCES) says why in its
/// log, counts it, tries again every cycle and keeps running.
#[test]
fn a_libvirt_socket_the_agent_may_not_open_is_logged_counted_and_not_fatal() {
    let _libvirtd = libvirtd_shared();
    use std::os::unix::fs::PermissionsExt;
    // libvirtd's own socket, reachable only through a directory `nobody` cannot enter.
    let private = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let socket = private.path().join("libvirt-sock");
    std::os::unix::fs::symlink("/run/libvirt/libvirt-sock", &socket).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\ntelemetry:\n  listen: 127.0.0.1:{port}\n\
         polling:\n  pollsters_definitions_dirs: []\n  \
         libvirt_uri: 'qemu+unix:///system?socket={}'\n",
        socket.display()
    );
    let dir = config_dir(&settings);
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: compute\n    interval: 1\n    meters: [cpu]\n",
    )
    .unwrap();
    // The agent's user reads its config and writes nothing else.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let agent = Agent::start_as("nobody", "nogroup", dir.path(), "memory://");
    let errors = || {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("ceilo_libvirt_errors_total{reason=\"connect\"} "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    runtime_support::wait_until("three failed connects counted", Duration::from_secs(60), || {
        errors() >= 3.0
    });
    let log = agent.log_text();
    assert!(log.contains("Permission denied"), "the log says why: {log}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(agent.terminate().success(), "still running, stops cleanly: {log}");
}
