//! A broker that blocks publishing (RabbitMQ's memory or disk alarm) on a RabbitMQ node of the
//! test's own: the agent holds what it consumed, unacked and within its prefetch, says why it
//! waits (a log line naming the broker's reason, `ceilo_amqp_connection_blocked`), and once the
//! alarm clears publishes every sample exactly once.
//!
//! An alarm is set on the node with `rabbitmqctl set_vm_memory_high_watermark`, which the main
//! broker on 5672 must never get: it would block every other test.

mod cluster_support;
mod runtime_support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cluster_support::{node_root, Node};
use runtime_support::*;

const NOTIFICATIONS: usize = 300;
const PREFETCH: u16 = 100;

/// `(ready, unacked)` of each queue of `vhost` on `node`.
fn queue_counts(node: &Node, vhost: &str) -> HashMap<String, (u64, u64)> {
    let out = node.ctl(&[
        "list_queues",
        "-q",
        "--no-table-headers",
        "-p",
        vhost,
        "name",
        "messages_ready",
        "messages_unacknowledged",
    ]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let name = f.next()?.to_owned();
            let ready = f.next()?.parse().ok()?;
            let unacked = f.next()?.parse().ok()?;
            Some((name, (ready, unacked)))
        })
        .collect()
}

fn memory_alarm_on(node: &Node) -> bool {
    let out = node.ctl(&["eval", "rabbit_alarm:get_alarms()."]);
    String::from_utf8_lossy(&out.stdout).contains("memory")
}

#[test]
fn a_broker_blocking_publishes_holds_the_deliveries_and_every_sample_goes_out_once_it_unblocks() {
    let root = node_root();
    let node = Node::start("alarm", root.path());
    let vhost = format!("alarm-{}", std::process::id());
    node.add_vhost(&vhost);
    let url = node.url(&vhost);
    let rt = runtime();
    rt.block_on(declare_metering(&url));
    rt.block_on(declare(
        &url,
        "notifications.sample",
        "ceilometer",
        "notifications.sample",
        false,
    ));
    rt.block_on(publish(&url, &polling_messages("held", NOTIFICATIONS)));

    node.ctl(&["set_vm_memory_high_watermark", "absolute", "1"]);
    wait_until("the node's memory alarm", Duration::from_secs(30), || {
        memory_alarm_on(&node)
    });
    let dir = config_dir(&settings(PREFETCH, 10));
    let agent = Agent::start(dir.path(), &url);

    // The agent consumes, tries to publish, and is blocked: it says so, and holds.
    wait_until(
        "the agent logging that the broker blocked it",
        Duration::from_secs(60),
        || agent.log_text().contains("the broker blocked publishing"),
    );
    let log = agent.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("the broker blocked publishing"))
        .unwrap_or_default();
    assert!(
        line.contains("low on memory") && line.contains("publish-"),
        "the line names the broker's reason and the connection: {line}"
    );
    wait_until("the blocked gauge", Duration::from_secs(10), || {
        metric(&agent, "ceilo_amqp_connection_blocked") == 1.0
    });
    let hold_until = Instant::now() + Duration::from_secs(10);
    while Instant::now() < hold_until {
        let counts = queue_counts(&node, &vhost);
        let (ready, unacked) = counts["notifications.sample"];
        assert_eq!(
            ready + unacked,
            NOTIFICATIONS as u64,
            "nothing acked while blocked: {counts:?}"
        );
        assert!(unacked <= u64::from(PREFETCH), "{counts:?}");
        assert_eq!(counts["metering.sample"], (0, 0), "nothing got through");
        std::thread::sleep(Duration::from_millis(500));
    }

    node.ctl(&["set_vm_memory_high_watermark", "0.4"]);
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(NOTIFICATIONS),
    ));
    let ids: Vec<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(
        (distinct.len(), ids.len()),
        (NOTIFICATIONS, NOTIFICATIONS),
        "every sample once after the alarm cleared; log:\n{}",
        agent.log_text()
    );
    wait_until("every notification acked", Duration::from_secs(30), || {
        queue_counts(&node, &vhost)["notifications.sample"] == (0, 0)
    });
    assert_eq!(
        queue_counts(&node, &vhost)["metering.sample"],
        (0, 0),
        "no extra sample"
    );
    assert_eq!(metric(&agent, "ceilo_amqp_connection_blocked"), 0.0);
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("the broker unblocked publishing"),
        "the end of the block is logged:\n{log}"
    );
}
