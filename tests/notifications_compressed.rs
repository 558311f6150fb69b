//! Notifications that oslo.messaging sent compressed (`[oslo_messaging_rabbit]
//! kombu_compression = gzip | bz2` on the services' side): published by oslo.messaging's own
//! Notifier from the Ceilometer 27 venv, they are converted as the same notification sent
//! plain; a compressed body that would expand past `notification.max_body_bytes` is
//! dead-lettered unexpanded, with the reason.

mod common;
mod runtime_support;

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use runtime_support::*;

/// oslo.messaging's Notifier, as nova runs it (exchange `nova`, topic `notifications`), sending
/// `compute.instance.create.end` for `instance` with kombu compression `codec` ("" for none).
const NOVA: &str = r#"
import sys
from oslo_config import cfg
import oslo_messaging
url, codec, instance = sys.argv[1:4]
conf = cfg.ConfigOpts()
conf([])
oslo_messaging.set_transport_defaults('nova')
transport = oslo_messaging.get_notification_transport(conf, url=url)
if codec:
    conf.set_override('kombu_compression', codec, group='oslo_messaging_rabbit')
notifier = oslo_messaging.Notifier(transport, publisher_id='compute.host-1',
                                   driver='messagingv2', topics=['notifications'])
notifier.info({}, 'compute.instance.create.end', {
    'instance_id': instance, 'tenant_id': 'project-1', 'user_id': 'user-1',
    'memory_mb': 2048, 'vcpus': 2, 'host': 'host-1', 'notes': 'x' * 4000})
transport.cleanup()
"#;

fn send_as_nova(url: &str, codec: &str, instance: &str) {
    let python = common::ceilometer::venv().join("bin/python");
    let out = Command::new(python)
        .args([
            "-c",
            NOVA,
            &url.replacen("amqp://", "rabbit://", 1),
            codec,
            instance,
        ])
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "oslo.messaging notifier: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn notifications_kombu_compressed_are_converted_as_the_same_ones_sent_plain() {
    let broker = Broker::new("kombu-compression");
    let url = broker.url();
    let rt = runtime();
    // A copy of what nova's notifier put on the wire, to see the compression there.
    rt.block_on(declare(&url, "wire", "nova", "notifications.info", false));
    for (codec, instance) in [("", "plain"), ("gzip", "gzip"), ("bzip2", "bz2")] {
        send_as_nova(&url, codec, instance);
    }
    let wire = rt.block_on(collect(&url, "wire", Duration::from_secs(10), messages(3)));
    let headers: Vec<Option<&str>> = wire.iter().map(|m| m.header("compression")).collect();
    assert_eq!(
        headers,
        [None, Some("application/x-gzip"), Some("application/x-bz2")],
        "oslo.messaging compressed the second and the third"
    );

    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start(dir.path(), &url);
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.info")
    });
    for (codec, instance) in [("", "plain"), ("gzip", "gzip"), ("bzip2", "bz2")] {
        send_as_nova(&url, codec, instance);
    }
    // Until each instance's memory sample came, then whatever else follows within a second.
    let mut memory_of = std::collections::HashSet::new();
    let mut got = rt.block_on(collect(&url, "metering.sample", Duration::from_secs(30), |r| {
        for m in meter_messages(&r.body) {
            if m["counter_name"] == "memory" {
                memory_of.insert(m["resource_id"].to_string());
            }
        }
        memory_of.len() == 3
    }));
    got.extend(
        rt.block_on(collect(&url, "metering.sample", Duration::from_secs(1), |_| {
            false
        })),
    );
    let mut by_instance: HashMap<String, Vec<(String, serde_json::Value)>> = HashMap::new();
    for m in got.iter().flat_map(|r| meter_messages(&r.body)) {
        let mut sample = (
            m["counter_name"].as_str().unwrap_or_default().to_owned(),
            m["counter_volume"].clone(),
        );
        by_instance
            .entry(m["resource_id"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .push(std::mem::take(&mut sample));
    }
    for samples in by_instance.values_mut() {
        samples.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let plain = by_instance.get("plain").cloned().unwrap_or_default();
    assert!(
        plain.iter().any(|(name, v)| name == "memory" && v == 2048),
        "{by_instance:?}; log:\n{}",
        agent.log_text()
    );
    assert_eq!(by_instance.get("gzip"), Some(&plain), "gzip as plain");
    assert_eq!(by_instance.get("bz2"), Some(&plain), "bz2 as plain");
    assert!(
        !agent.log_text().contains("dead-lettering"),
        "{}",
        agent.log_text()
    );
    assert!(agent.terminate().success());
}

#[test]
fn a_compressed_body_expanding_past_max_body_bytes_is_dead_lettered_unexpanded() {
    let broker = Broker::new("kombu-bomb");
    let url = broker.url();
    let rt = runtime();
    rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start(dir.path(), &url);
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.info")
    });
    // 256 MiB of JSON, 255 KB compressed (by Python's zlib, as kombu compresses).
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, zlib; sys.stdout.buffer.write(zlib.compress(\
             b'{\"oslo.version\": \"2.0\", \"oslo.message\": \"' + b' ' * (256 << 20) + b'\"}', 9))",
        ])
        .output()
        .expect("python3");
    let bomb = out.stdout;
    assert!(bomb.len() < 512 << 10, "{}", bomb.len());
    let mut headers = FieldTable::default();
    headers.insert(
        "compression".into(),
        AMQPValue::LongString(LongString::from("application/x-gzip")),
    );
    let props = BasicProperties::default().with_headers(headers);
    rt.block_on(publish_with_properties(
        &url,
        &[(
            "nova".to_owned(),
            "notifications.info".to_owned(),
            bomb.clone(),
            props,
        )],
    ));
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(1),
    ));
    assert_eq!(dead.len(), 1, "log:\n{}", agent.log_text());
    assert_eq!(dead[0].body, bomb, "the original, still compressed");
    assert_eq!(
        dead[0].header("x-ceilo-reason"),
        Some(
            "too large: more than 524288 bytes once decompressed, over \
             notification.max_body_bytes (524288)"
        )
    );
    assert_eq!(dead[0].header("compression"), Some("application/x-gzip"));
    let peak = memory_of(agent.pid(), "VmHWM:");
    assert!(
        peak < 200 << 20,
        "peak RSS {} MiB: the body was expanded",
        peak >> 20
    );
    assert!(agent.terminate().success());
}
