//! `memory://`: the polling agent wired with `agent::polling::start` publishes its
//! `telemetry.polling` notifications in-process, where the notification agent's queue
//! (`notifications.sample` bound to `ceilometer`) receives them, with no broker at all.

mod tls_support;

use std::path::Path;
use std::time::Duration;

use ceilo::config::PollingOptions;
use ceilo::model::envelope::Decoder;
use ceilo::polling::config::PollingConfig;
use ceilo::publish::telemetry_polling::NotifyOptions;
use ceilo::transport::memory::MemoryTransport;
use ceilo::transport::{QueueSpec, Transport};
use simd_json::prelude::*;

#[actix::test]
async fn polled_samples_flow_in_process_over_memory_transport() {
    let transport = MemoryTransport::isolated();
    let mut consumer = transport
        .consume(QueueSpec {
            queue: "notifications.sample".into(),
            bindings: vec![("ceilometer".into(), "notifications.sample".into())],
            durable: false,
            auto_delete: false,
            prefetch: 100,
            initial_limit: 0,
            single_active_consumer: false,
        })
        .await
        .unwrap();
    let config = PollingConfig::parse(
        "sources:\n  - name: mem\n    interval: 1\n    meters: [cpu, vcpus]\n    discovery: ['fleet:4']\n",
        Path::new("polling.yaml"),
    )
    .unwrap();
    let options = PollingOptions {
        batch_size: 3,
        pollsters_definitions_dirs: vec![],
        host: Some("mem".into()),
        ..Default::default()
    };
    let (_agent, _sender) = ceilo::agent::polling::start(
        &config,
        &options,
        &transport,
        NotifyOptions::new("secret"),
        tokio::runtime::Handle::current(),
        None,
    )
    .unwrap();

    // One poll (offset < 1 s): 4 instances × 2 meters = 8 samples in notifications of ≤ 3.
    let mut names = Vec::new();
    let mut decoder = Decoder::new();
    while names.len() < 8 {
        let delivery = tokio::time::timeout(Duration::from_secs(5), consumer.next())
            .await
            .expect("a notification within 5 s")
            .unwrap()
            .unwrap();
        let body = delivery.body;
        let n = decoder.decode(&body).unwrap();
        assert_eq!(n.event_type(), Some("telemetry.polling"));
        let samples = n.payload().unwrap().get("samples").unwrap().as_array().unwrap();
        assert!(samples.len() <= 3);
        names.extend(
            samples
                .iter()
                .map(|s| s.get_str("counter_name").unwrap().to_owned()),
        );
    }
    assert_eq!(names.iter().filter(|n| *n == "cpu").count(), 4);
    assert_eq!(names.iter().filter(|n| *n == "vcpus").count(), 4);
}

/// A source polling `meters` of a simulated fleet of `instances` every second, and options
/// that expose the samples on an exporter of a free port and send them nowhere else.
fn exported(meters: &str, instances: usize) -> (PollingConfig, PollingOptions) {
    let config = PollingConfig::parse(
        &format!(
            "sources:\n  - name: prom\n    interval: 1\n    meters: {meters}\n    discovery: ['fleet:{instances}']\n"
        ),
        Path::new("polling.yaml"),
    )
    .unwrap();
    let options = PollingOptions {
        pollsters_definitions_dirs: vec![],
        host: Some("prom".into()),
        enable_prometheus_exporter: true,
        enable_notifications: false,
        prometheus_listen_addresses: vec!["127.0.0.1:0".into()],
        ..Default::default()
    };
    (config, options)
}

/// `enable_prometheus_exporter` with `enable_notifications: false`: the polled samples are
/// scraped from the exporter and sent nowhere else.
#[actix::test]
async fn polled_samples_are_exposed_for_prometheus_when_enabled() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (config, options) = exported("[cpu, memory.usage]", 2);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<ceilo::model::SampleBatch>(16);
    let agent = ceilo::polling::start_polling(&config, &options, std::sync::Arc::new(tx), None).unwrap();
    let addrs = ceilo::polling::start_exporter(&agent, &options).await.unwrap();
    assert_eq!(addrs.len(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let text = loop {
        let mut s = tokio::net::TcpStream::connect(addrs[0]).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).await.unwrap();
        if reply.contains("ceilometer_memory_usage{") || tokio::time::Instant::now() > deadline {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(text.contains("# TYPE ceilometer_cpu counter"), "{text}");
    assert_eq!(text.matches("ceilometer_memory_usage{").count(), 2, "{text}");
    // Notifications are off: nothing reached the output.
    assert!(rx.try_recv().is_err());
}

/// `prometheus_tls_enable` (with its certificate and key): the exporter speaks https only,
/// as Ceilometer's does; enabled without the files, it does not start.
#[actix::test]
async fn the_exporter_serves_https_with_its_certificate_when_tls_is_enabled() {
    let certs = tempfile::tempdir().unwrap();
    tls_support::certificates(certs.path());
    let (config, exporting) = exported("[cpu]", 1);
    let options = PollingOptions {
        prometheus_tls_enable: true,
        prometheus_tls_certfile: Some(certs.path().join("server.pem")),
        prometheus_tls_keyfile: Some(certs.path().join("server.key")),
        ..exporting
    };
    let (tx, _rx) = tokio::sync::mpsc::channel::<ceilo::model::SampleBatch>(16);
    let agent = ceilo::polling::start_polling(&config, &options, std::sync::Arc::new(tx), None).unwrap();
    let addrs = ceilo::polling::start_exporter(&agent, &options).await.unwrap();
    let addr = addrs[0];
    // Blocking, so on a thread of its own: the exporter answers on this test's runtime.
    let curl = move |extra: &[&str], scheme: &str| {
        let out = std::process::Command::new("curl")
            .args(["-s", "--max-time", "5"])
            .args(extra)
            .arg(format!("{scheme}://{addr}/metrics"))
            .output()
            .expect("curl");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let ca = certs.path().join("ca.pem");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let text = loop {
        let ca = ca.to_str().unwrap().to_owned();
        let (ok, text) = tokio::task::spawn_blocking(move || curl(&["--cacert", &ca], "https"))
            .await
            .unwrap();
        if (ok && text.contains("ceilometer_cpu{")) || tokio::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains("# TYPE ceilometer_cpu counter"), "{text}");
    let plain = tokio::task::spawn_blocking(move || curl(&[], "http"))
        .await
        .unwrap();
    assert!(
        !plain.1.contains("ceilometer_cpu"),
        "plain http is not served: {plain:?}"
    );

    let half = PollingOptions {
        prometheus_tls_keyfile: None,
        ..options
    };
    let agent = ceilo::polling::start_polling(
        &config,
        &half,
        std::sync::Arc::new(tokio::sync::mpsc::channel::<ceilo::model::SampleBatch>(1).0),
        None,
    )
    .unwrap();
    let refused = ceilo::polling::start_exporter(&agent, &half).await.unwrap_err();
    assert_eq!(
        refused.to_string(),
        "prometheus exporter: prometheus_tls_enable needs prometheus_tls_certfile and prometheus_tls_keyfile"
    );
}
