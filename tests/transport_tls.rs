//! TLS to RabbitMQ against a real node of the test's own that listens on TLS only and requires
//! a client certificate (tests/tls_support): the agent configured with oslo's
//! `[oslo_messaging_rabbit] ssl` options consumes and publishes through it; an `amqps://` URL
//! works with ceilo.yaml's `rabbit.tls`; a client without a certificate, or trusting another CA,
//! gets a clear error in bounded time; `ceilo check` names a CA file it cannot read.

mod runtime_support;
mod tls_support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ceilo::transport::tls::TlsOptions;
use ceilo::transport::{
    self, OutMessage, PublishTopology, QueueSpec, RabbitOptions, Settle, Topology, Transport,
};
use runtime_support::*;
use tls_support::{certificates, TlsBroker};

/// The client options of the tests: the node's CA, and the client certificate and key.
fn client_tls(node: &TlsBroker) -> TlsOptions {
    TlsOptions {
        enabled: true,
        ca_file: Some(node.cert("ca.pem")),
        cert_file: Some(node.cert("client.pem")),
        key_file: Some(node.cert("client.key")),
        version: String::new(),
    }
}

/// ceilo's transport of `url` with these TLS options.
fn over_tls(url: &str, tls: &TlsOptions) -> Arc<dyn Transport> {
    let options = RabbitOptions {
        tls: tls.clone(),
        ..Default::default()
    };
    transport::from_url_with(url, &options).expect("the transport")
}

fn queue(name: &str, exchange: &str) -> QueueSpec {
    QueueSpec {
        queue: name.into(),
        bindings: vec![(exchange.into(), name.into())],
        durable: false,
        auto_delete: false,
        prefetch: 200,
        initial_limit: 0,
        single_active_consumer: false,
    }
}

/// Publish `(exchange, key, body)` through ceilo's transport, declaring each key's queue first
/// (as oslo's notifier does) so nothing is lost before its consumer comes.
async fn send(transport: &Arc<dyn Transport>, messages: Vec<(String, String, Vec<u8>)>) {
    let publisher = transport.publisher(PublishTopology {
        default_queues: true,
        ..Default::default()
    });
    let batch: Vec<OutMessage> = messages
        .into_iter()
        .map(|(exchange, routing_key, body)| OutMessage {
            exchange,
            routing_key,
            body,
            headers: vec![],
            properties: None,
        })
        .collect();
    publisher.publish(batch.into()).await.expect("publish over TLS");
}

/// The sample ids of the meter messages consumed from `spec`'s queue until `n` distinct ones
/// arrived (or `timeout`).
async fn sample_ids(
    transport: &Arc<dyn Transport>,
    spec: QueueSpec,
    n: usize,
    timeout: Duration,
) -> HashSet<String> {
    let mut consumer = transport.consume(spec).await.expect("consume over TLS");
    let acker = consumer.acker();
    let mut ids = HashSet::new();
    let deadline = tokio::time::Instant::now() + timeout;
    while ids.len() < n {
        let Ok(Some(Ok(delivery))) = tokio::time::timeout_at(deadline, consumer.next()).await else {
            break;
        };
        for m in meter_messages(&delivery.body) {
            ids.insert(m["message_id"].as_str().unwrap_or_default().to_owned());
        }
        acker.settle(delivery.tag, Settle::Ack).await.expect("ack");
    }
    consumer.close().await;
    ids
}

/// ceilometer.conf with oslo's TLS options, in the config directory (beside pipeline.yaml).
fn write_conf(dir: &Path, url: &str, ca: &Path, cert: &Path, key: &Path) -> std::path::PathBuf {
    let conf = dir.join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntransport_url = {url}\n\
             [oslo_messaging_rabbit]\nssl = true\nssl_ca_file = {}\nssl_cert_file = {}\n\
             ssl_key_file = {}\nssl_version = TLSv1_2\n",
            ca.display(),
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    conf
}

fn spawn_agent(conf: &Path, log: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("run")
        .arg("--config-file")
        .arg(conf)
        .env("RUST_LOG", "info,lapin=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("spawn ceilo")
}

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_agent_consumes_and_publishes_over_tls_with_oslos_ssl_options() {
    let node = TlsBroker::shared();
    let dir = config_dir(&settings(100, 20));
    let conf = write_conf(
        dir.path(),
        &node.rabbit_url(),
        &node.cert("ca.pem"),
        &node.cert("client.pem"),
        &node.cert("client.key"),
    );
    let rt = runtime();
    let client = over_tls(&node.rabbit_url(), &client_tls(&node));
    // The queue the samples come to, declared before the agent publishes.
    let metering = queue("metering.sample", "ceilometer");
    rt.block_on(client.preflight(Topology {
        queues: vec![metering.clone()],
    }))
    .expect("declare metering.sample over TLS");
    const N: usize = 40;
    rt.block_on(send(&client, polling_messages("tls", N)));
    let log = dir.path().join("agent.log");
    let _agent = Kill(spawn_agent(&conf, &log));
    let ids = rt.block_on(sample_ids(&client, metering, N, Duration::from_secs(60)));
    let wanted: HashSet<String> = (0..N).map(|i| format!("tls-{i}")).collect();
    assert_eq!(
        ids,
        wanted,
        "every notification sent over TLS came back as a sample over TLS; agent log:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn an_amqps_url_carries_messages_with_the_key_in_the_certificate_file() {
    let node = TlsBroker::shared();
    let rt = runtime();
    // amqps:// alone turns TLS on; the client key is read from the certificate's file.
    let options = TlsOptions {
        enabled: false,
        ca_file: Some(node.cert("ca.pem")),
        cert_file: Some(node.cert("client-with-key.pem")),
        key_file: None,
        version: "tlsv1_3".into(),
    };
    let client = over_tls(&node.amqps_url(), &options);
    assert!(client.describe().ends_with("(TLS)"), "{}", client.describe());
    assert!(
        !client.describe().contains("guest:guest"),
        "{}",
        client.describe()
    );
    let q = format!("amqps-{}", std::process::id());
    let spec = queue(&q, "ceilo-tls-test");
    rt.block_on(client.preflight(Topology {
        queues: vec![spec.clone()],
    }))
    .expect("declare over amqps://");
    let body = |i: usize| polling_body(&format!("amqps-{i}"));
    rt.block_on(send(
        &client,
        (0..5)
            .map(|i| ("ceilo-tls-test".into(), q.clone(), body(i)))
            .collect(),
    ));
    let ids = rt.block_on(async {
        let mut consumer = client.consume(spec).await.expect("consume over amqps://");
        let mut ids = Vec::new();
        while ids.len() < 5 {
            let d = tokio::time::timeout(Duration::from_secs(20), consumer.next())
                .await
                .expect("a delivery in time")
                .expect("consuming")
                .expect("a delivery");
            ids.push(d.body);
            consumer.acker().settle(d.tag, Settle::Ack).await.unwrap();
        }
        consumer.close().await;
        ids
    });
    assert_eq!(ids, (0..5).map(body).collect::<Vec<_>>());
}

/// What a connection attempt with `options` says, and how long it took to say it.
fn refusal(node: &TlsBroker, options: &TlsOptions) -> (String, Duration) {
    let rt = runtime();
    let client = over_tls(&node.rabbit_url(), options);
    let started = Instant::now();
    let e = rt
        .block_on(client.preflight(Topology::default()))
        .expect_err("the connection must be refused");
    (e.to_string(), started.elapsed())
}

#[test]
fn a_broker_requiring_a_client_certificate_refuses_a_client_without_one() {
    let node = TlsBroker::shared();
    let without = TlsOptions {
        cert_file: None,
        key_file: None,
        ..client_tls(&node)
    };
    let (e, took) = refusal(&node, &without);
    let url = format!("127.0.0.1:{}", node.port);
    assert!(e.contains(&url) && e.contains("over TLS"), "{e}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {e}");
    // With the certificate, the same connection is accepted.
    runtime()
        .block_on(over_tls(&node.rabbit_url(), &client_tls(&node)).preflight(Topology::default()))
        .expect("accepted with the client certificate");
}

#[test]
fn a_wrong_ca_is_a_clear_error_naming_the_broker_and_the_ca_file() {
    let node = TlsBroker::shared();
    let other = tempfile::tempdir().unwrap();
    certificates(other.path());
    let wrong_ca = other.path().join("ca.pem");
    let (e, took) = refusal(
        &node,
        &TlsOptions {
            ca_file: Some(wrong_ca.clone()),
            ..client_tls(&node)
        },
    );
    assert!(e.contains(&format!("127.0.0.1:{}", node.port)), "{e}");
    assert!(e.contains(&format!("CA file {}", wrong_ca.display())), "{e}");
    assert!(e.contains("invalid peer certificate"), "{e}");
    assert!(took < Duration::from_secs(15), "took {took:?}: {e}");

    // The agent with that CA keeps running, says why it cannot connect, and does not hang.
    let dir = config_dir(&settings(100, 20));
    let conf = write_conf(
        dir.path(),
        &node.rabbit_url(),
        &wrong_ca,
        &node.cert("client.pem"),
        &node.cert("client.key"),
    );
    let log = dir.path().join("agent.log");
    let mut agent = Kill(spawn_agent(&conf, &log));
    let text = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "the agent to log the refused certificate",
        Duration::from_secs(30),
        || {
            text().lines().any(|l| {
                l.contains("invalid peer certificate")
                    && l.contains(&format!("127.0.0.1:{}", node.port))
                    && l.contains(&wrong_ca.display().to_string())
            })
        },
    );
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent keeps running (and retrying): {}",
        text()
    );
    assert!(
        !text().contains("guest:guest"),
        "the password is masked: {}",
        text()
    );
}

#[test]
fn check_names_a_ca_file_it_cannot_read() {
    let dir = config_dir(&settings(100, 20));
    let missing = dir.path().join("no-such-ca.pem");
    let conf = write_conf(
        dir.path(),
        "rabbit://guest:guest@127.0.0.1:5671/",
        &missing,
        Path::new("client.pem"),
        Path::new("client.key"),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("check")
        .arg("--config-file")
        .arg(&conf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!("rabbit.tls ca_file {}: No such file", missing.display())),
        "{stdout}"
    );
    assert!(!stdout.contains("guest:guest"), "{stdout}");

    // ceilo.yaml's rabbit.tls, checked the same way.
    let yaml = config_dir(&format!(
        "transport_url: amqps://guest:guest@127.0.0.1:5671/\nrabbit:\n  tls:\n    ca_file: {}\n",
        missing.display()
    ));
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("check")
        .arg("--config-dir")
        .arg(yaml.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ceilo.yaml: transport_url: rabbit.tls ca_file")
            && stdout.contains(&format!("{}: No such file", missing.display())),
        "{stdout}"
    );
    // And run refuses to start on it, with the same words.
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("run")
        .arg("--config-dir")
        .arg(yaml.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("rabbit.tls ca_file {}: No such file", missing.display())),
        "{stderr}"
    );
}
