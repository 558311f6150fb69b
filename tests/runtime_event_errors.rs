//! `[notification] ack_on_event_error` through the real broker (a vhost per test), with the
//! agent configured from a ceilometer.conf:
//! * an event that cannot be *published* is never acked early, whatever the option says
//!   (Ceilometer, with its default `true`, acks the notification and the event is lost);
//! * an event that cannot be *made* is acked without it with `true` (Ceilometer's default and
//!   behaviour) and dead-lettered with `false` (where Ceilometer requeues it forever).

mod runtime_support;

use std::path::Path;
use std::time::Duration;

use runtime_support::*;

/// `ceilo run --config-file <dir>/ceilometer.conf` with `transport_url = url` and `options`,
/// once it consumes the notification queue.
fn start(broker: &Broker, dir: &Path, options: &str) -> Agent {
    let url = broker.url();
    let conf = dir.join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!("[DEFAULT]\ntransport_url = {url}\n[notification]\n{options}"),
    )
    .expect("ceilometer.conf");
    let agent = Agent::start_with_conf(&conf);
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains(QUEUE)
    });
    agent
}

/// An info notification from nova with `timestamp`: no meter matches its event type, the
/// catch-all event definition makes an event of it (when the timestamp parses).
fn notification(id: &str, timestamp: &str) -> (String, String, Vec<u8>) {
    let inner = serde_json::json!({
        "message_id": id, "publisher_id": "compute.node-1", "event_type": "custom.thing",
        "priority": "INFO", "payload": {"x": 1}, "timestamp": timestamp,
    });
    let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    (
        "nova".into(),
        "notifications.info".into(),
        body.to_string().into_bytes(),
    )
}

const QUEUE: &str = "notifications.info";

#[test]
fn an_event_that_cannot_be_published_is_held_unacked_until_it_is() {
    let broker = Broker::new("event-publish-error");
    let url = broker.url();
    let rt = runtime();
    // The broker refuses every publish to event.sample: the event publisher cannot confirm.
    broker.set_policy(
        "stall-events",
        "^event\\.sample$",
        serde_json::json!({"max-length": 0, "overflow": "reject-publish"}),
    );
    rt.block_on(declare(&url, "event.sample", "ceilometer", "event.sample", false));
    broker.wait_policy("event.sample", "stall-events");
    let dir = config_dir(&settings(100, 10));
    // Ceilometer's default, with which Ceilometer would ack this notification and lose the event.
    let agent = start(&broker, dir.path(), "ack_on_event_error = true\n");
    rt.block_on(publish(&url, &[notification("held-1", "2025-01-01 00:00:00")]));
    // Ten seconds: the notification stays on its queue (unacked by the agent), never acked.
    assert_held_while_down(&broker, QUEUE, 1, 100, agent.pid());
    broker.clear_policy("stall-events");
    let got = rt.block_on(collect(
        &url,
        "event.sample",
        Duration::from_secs(30),
        messages(1),
    ));
    let events: Vec<serde_json::Value> = got.iter().flat_map(|r| meter_messages(&r.body)).collect();
    assert_eq!(events.len(), 1, "log:\n{}", agent.log_text());
    assert_eq!(events[0]["message_id"], "held-1");
    wait_until("the notification acked", Duration::from_secs(30), || {
        broker.counts(QUEUE) == (0, 0)
    });
    assert!(agent.terminate().success());
}

#[test]
fn an_event_that_cannot_be_made_is_acked_with_true_and_dead_lettered_with_false() {
    let broker = Broker::new("event-convert-error");
    let url = broker.url();
    let rt = runtime();
    let dir = config_dir(&settings(100, 10));

    let agent = start(&broker, dir.path(), "ack_on_event_error = false\n");
    rt.block_on(publish(&url, &[notification("bad-1", "yesterday")]));
    // The dead-letter queue is declared with the first dead letter.
    wait_until("the dead-letter queue", Duration::from_secs(30), || {
        broker.queue("ceilo.dead-letter").get("name").is_some()
    });
    let dead = rt.block_on(collect(
        &url,
        "ceilo.dead-letter",
        Duration::from_secs(30),
        messages(1),
    ));
    let reason = dead[0].header("x-ceilo-reason").unwrap_or_default();
    assert!(
        reason.contains("event custom.thing (message bad-1) dropped: notification timestamp"),
        "reason {reason:?}; log:\n{}",
        agent.log_text()
    );
    wait_until("the notification settled", Duration::from_secs(30), || {
        broker.counts(QUEUE) == (0, 0)
    });
    assert!(agent.terminate().success());

    // Ceilometer's default: acked without its event, nothing dead-lettered.
    let agent = start(&broker, dir.path(), "ack_on_event_error = true\n");
    rt.block_on(publish(&url, &[notification("bad-2", "yesterday")]));
    wait_until("the notification acked", Duration::from_secs(30), || {
        broker.counts(QUEUE) == (0, 0) && agent.log_text().contains("Fail to process a notification")
    });
    assert!(
        agent
            .log_text()
            .contains("event custom.thing (message bad-2) dropped"),
        "{}",
        agent.log_text()
    );
    assert_eq!(rt.block_on(ready_count(&url, "ceilo.dead-letter")), 0);
    assert!(agent.terminate().success());
}
