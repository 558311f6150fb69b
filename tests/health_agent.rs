//! The agent's own metrics under real traffic: start `ceilo run` on the real RabbitMQ, push
//! notifications (good ones and poison), scrape its /metrics and check the counters moved by
//! exactly the traffic sent, and that the scrape passes `promtool check metrics`; stall its
//! publisher and see the mailbox depths and the queue backlog rise and fall back.

mod health_support;
mod runtime_support;

use std::collections::HashSet;
use std::time::Duration;

use ceilo::telemetry::scrape;
use runtime_support::*;

const GOOD: usize = 300;
const POISON: usize = 2;

/// Starts `ceilo run` and waits until it serves /metrics and is ready; returns the agent and
/// its /metrics URL.
fn start_agent(config_dir: &std::path::Path, url: &str) -> (Agent, String) {
    let agent = Agent::start(config_dir, url);
    let mut addr = None;
    wait_until("the agent serving /metrics", Duration::from_secs(30), || {
        addr = metrics_addr(&agent);
        addr.is_some()
    });
    let metrics = format!("http://{}/metrics", addr.unwrap_or_default());
    wait_until("the agent consuming", Duration::from_secs(30), || {
        scrape::get_blocking(&metrics.replace("/metrics", "/readyz"), Duration::from_secs(5))
            .is_ok_and(|r| r.status == 200)
    });
    (agent, metrics)
}

/// One scrape of the agent's /metrics, or None while it does not answer.
fn scrape_once(metrics: &str) -> Option<scrape::Exposition> {
    let response = scrape::get_blocking(metrics, Duration::from_secs(5)).ok()?;
    scrape::parse(&response.body).ok()
}

/// Waits until a scrape satisfies `ok`; panics with the last scrape's values of `show`.
fn wait_for_scrape(
    metrics: &str,
    what: &str,
    timeout: Duration,
    show: &[&str],
    mut ok: impl FnMut(&scrape::Exposition) -> bool,
) -> scrape::Exposition {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let last = scrape_once(metrics);
        if let Some(e) = last.as_ref().filter(|e| ok(e)) {
            return e.clone();
        }
        if std::time::Instant::now() > deadline {
            let values: Vec<String> = last
                .iter()
                .flat_map(|e| e.samples.iter())
                .filter(|s| show.contains(&s.name.as_str()))
                .map(|s| format!("{}{:?} {}", s.name, s.labels, s.value))
                .collect();
            panic!(
                "timed out waiting for {what}; last scrape:\n{}",
                values.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let broker = Broker::new("health-agent");
    let url = broker.url();
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    rt.block_on(declare_metering(&url));
    let (agent, metrics) = start_agent(dir.path(), &url);

    let mut messages = polling_messages("health", GOOD);
    for i in 0..POISON {
        messages.push((
            "ceilometer".into(),
            "notifications.sample".into(),
            format!("not json {i}").into_bytes(),
        ));
    }
    rt.block_on(publish(&url, &messages));
    rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(GOOD),
    ));

    let queue = [("queue", "notifications.sample")];
    let mut text = String::new();
    let mut last = None;
    wait_until(
        "every delivery acked and counted",
        Duration::from_secs(30),
        || {
            let Ok(response) = scrape::get_blocking(&metrics, Duration::from_secs(5)) else {
                return false;
            };
            let Ok(exposition) = scrape::parse(&response.body) else {
                return false;
            };
            text = response.body;
            let acked = exposition.sum("ceilo_notifications_acked_total", &queue);
            let done = acked as usize == GOOD + POISON;
            last = Some(exposition);
            done
        },
    );
    let e = last.expect("a scrape");
    assert_eq!(
        e.sum("ceilo_notifications_received_total", &queue) as usize,
        GOOD + POISON
    );
    assert_eq!(
        e.sum("ceilo_notifications_converted_total", &queue) as usize,
        GOOD
    );
    assert_eq!(
        e.sum("ceilo_notifications_rejected_total", &queue) as usize,
        POISON
    );
    assert_eq!(
        e.sum("ceilo_notifications_dead_lettered_total", &queue) as usize,
        POISON
    );
    assert_eq!(e.sum("ceilo_samples_produced_total", &[]) as usize, GOOD);
    assert_eq!(e.sum("ceilo_samples_published_total", &[]) as usize, GOOD);
    assert_eq!(e.sum("ceilo_samples_publish_failed_total", &[]) as usize, 0);

    let promtool = health_support::promtool();
    let (ok, output) = health_support::run_promtool(&promtool, &["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {output}");
    assert!(agent.terminate().success());
}

const DEPTH: &str = "ceilo_actor_mailbox_depth";
const BACKLOG: &str = "ceilo_amqp_queue_messages";

#[test]
fn a_stalled_publisher_shows_in_mailbox_depths_and_the_queue_backlog_until_it_recovers() {
    let broker = Broker::new("health-stall");
    let url = broker.url();
    // A prefetch large enough that the publisher runs out of flights and the batches queue up
    // in front of it and of the pipeline before the agent runs out of deliveries.
    let (prefetch, sent) = (1000, 1500);
    // Prefetch is the bound here: no byte budget (with one, fewer deliveries than prefetch
    // leave the broker while the listener takes none; see docs/runtime.md).
    let dir = config_dir(&settings(prefetch, 10).replacen(
        "notification:\n",
        "notification:\n  inflight_bytes: 0\n",
        1,
    ));
    let rt = runtime();
    // Every publish to metering.sample is refused (publisher nack): nothing is ever confirmed.
    broker.stall_metering(&rt);
    let (agent, metrics) = start_agent(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("stall", sent)));

    let queue = [("queue", "notifications.sample")];
    let pipeline = [("actor", "pipeline"), ("id", "pipeline")];
    let publisher = [("actor", "publisher"), ("id", "meter_sink/notifier")];
    let stalled = wait_for_scrape(
        &metrics,
        "batches waiting in the mailboxes and the rest of the traffic in the broker",
        Duration::from_secs(30),
        &[DEPTH, BACKLOG],
        |e| {
            e.sum(DEPTH, &pipeline) >= 1.0
                && e.sum(DEPTH, &publisher) >= 1.0
                && e.sum(BACKLOG, &queue) == (sent - usize::from(prefetch)) as f64
        },
    );
    // The pipeline's mailbox is bounded to 2 × workers batches (workers: 2): the depth stays
    // within that, it does not drift upwards (tests/runtime_bounds.rs checks every stage).
    assert!(
        stalled.sum(DEPTH, &pipeline) <= 4.0,
        "{}",
        stalled.sum(DEPTH, &pipeline)
    );

    broker.clear_policy("stall");
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(sent),
    ));
    let ids: HashSet<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), sent, "log:\n{}", agent.log_text());
    wait_for_scrape(
        &metrics,
        "empty mailboxes and an empty queue",
        Duration::from_secs(30),
        &[DEPTH, BACKLOG],
        |e| e.sum(DEPTH, &[]) == 0.0 && e.sum(BACKLOG, &queue) == 0.0,
    );
    assert!(agent.terminate().success());
}

#[test]
fn readyz_turns_not_ready_while_publishing_keeps_failing_and_says_why() {
    let broker = Broker::new("health-publish-outage");
    let url = broker.url();
    let grace = "  unready_after_publish_failing_s: 2\n"; // under settings()' `telemetry:`
    let dir = config_dir(&format!("{}{grace}", settings(100, 10)));
    let rt = runtime();
    // Every publish to metering.sample is refused (publisher nack), while consuming works.
    broker.stall_metering(&rt);
    let (agent, metrics) = start_agent(dir.path(), &url);
    let readyz = metrics.replace("/metrics", "/readyz");
    let sent = 50;
    rt.block_on(publish(&url, &polling_messages("outage", sent)));

    let mut body = String::new();
    wait_until(
        "/readyz not ready",
        Duration::from_secs(30),
        || match scrape::get_blocking(&readyz, Duration::from_secs(5)) {
            Ok(r) if r.status == 503 => {
                body = r.body;
                true
            }
            _ => false,
        },
    );
    assert!(
        body.contains("- publisher meter_sink/notifier: publishing has failed for ")
            && body.contains("(publisher nack)"),
        "{body}"
    );
    let scraped = scrape_once(&metrics).expect("a scrape");
    assert_eq!(scraped.sum("ceilo_ready", &[]), 0.0);

    broker.clear_policy("stall");
    wait_until("/readyz ready again", Duration::from_secs(30), || {
        scrape::get_blocking(&readyz, Duration::from_secs(5)).is_ok_and(|r| r.status == 200)
    });
    let got = rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(sent),
    ));
    let ids: HashSet<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), sent, "log:\n{}", agent.log_text());
    assert!(agent.terminate().success());
}

#[test]
fn readyz_turns_not_ready_when_the_output_exchange_conflicts_with_the_input_side() {
    // Issue 21's stall: consumed queues (and so the shared `ceilometer` exchange) durable,
    // the output side not. Naming the same broker two ways gets past the start checks (they
    // compare URLs); the publisher then fails on every flush with PRECONDITION_FAILED.
    let broker = Broker::new("health-durable-conflict");
    let url = broker.url();
    let same_broker = url.replace("127.0.0.1", "localhost");
    let grace = "  unready_after_publish_failing_s: 1\n"; // under settings()' `telemetry:`
    let dir = config_dir(&format!(
        "notification:\n  durable: true\n  messaging_urls: ['{same_broker}']\n{}{grace}",
        settings(100, 10).replace("notification:\n", "")
    ));
    let rt = runtime();
    let (agent, metrics) = start_agent(dir.path(), &url);
    let readyz = metrics.replace("/metrics", "/readyz");
    rt.block_on(publish_only(&url, &polling_messages("conflict", 5)));
    let mut body = String::new();
    wait_until(
        "/readyz not ready",
        Duration::from_secs(30),
        || match scrape::get_blocking(&readyz, Duration::from_secs(5)) {
            Ok(r) if r.status == 503 => {
                body = r.body;
                true
            }
            _ => false,
        },
    );
    assert!(
        body.contains("- publisher meter_sink/notifier: publishing has failed for ")
            && body.contains("inequivalent arg 'durable' for exchange 'ceilometer'"),
        "{body}\nlog:\n{}",
        agent.log_text()
    );
}

const UP: &str = "ceilo_amqp_connection_up";
const RECONNECTS: &str = "ceilo_amqp_reconnects_total";

/// The `connection` label values of `name`'s samples that start with `role`, and their values.
fn connections<'a>(e: &'a scrape::Exposition, name: &'a str, role: &'a str) -> Vec<(&'a str, f64)> {
    e.matching(name, &[])
        .filter_map(|s| {
            let connection = s.labels.get("connection")?;
            connection
                .starts_with(role)
                .then_some((connection.as_str(), s.value))
        })
        .collect()
}

#[test]
fn connection_gauges_follow_a_broker_outage_and_reconnections_are_counted() {
    let broker = Broker::new("health-connections");
    let url = broker.url();
    let dir = config_dir(&settings(100, 10));
    let rt = runtime();
    rt.block_on(declare_metering(&url));
    let (agent, metrics) = start_agent(dir.path(), &url);
    // Traffic, so that the sample publisher opens its connection (publishers connect lazily).
    rt.block_on(publish(&url, &polling_messages("before", 50)));
    rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(30),
        distinct_ids(50),
    ));
    let queues = 7; // one consumer connection per notification priority
    let e = wait_for_scrape(
        &metrics,
        "every connection up",
        Duration::from_secs(30),
        &[UP, RECONNECTS],
        |e| {
            let (consumers, publishers) = (connections(e, UP, "consume-"), connections(e, UP, "publish-"));
            consumers.len() == queues
                && !publishers.is_empty()
                && consumers.iter().chain(&publishers).all(|(_, up)| *up == 1.0)
        },
    );
    assert_eq!(e.sum(RECONNECTS, &[]), 0.0, "no reconnection yet");

    // The management API lists connections with a delay: wait until it shows all of them, the
    // publisher's own included (a connection not listed yet would not be closed below).
    let listed = || {
        let connections = broker.get(&format!("/vhosts/{}/connections", broker.vhost));
        let names: Vec<String> = connections
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                c.pointer("/client_properties/connection_name")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        (names.len(), names.iter().any(|n| n.ends_with("(publish)")))
    };
    wait_until(
        "the broker listing the agent's connections",
        Duration::from_secs(30),
        || {
            let (n, publisher) = listed();
            n > queues && publisher
        },
    );
    // The broker drops the agent's connections and refuses new ones for a while.
    broker.deny_access();
    wait_for_scrape(
        &metrics,
        "every consumer connection down",
        Duration::from_secs(30),
        &[UP],
        |e| {
            broker.close_connections() == 0 && connections(e, UP, "consume-").iter().all(|(_, up)| *up == 0.0)
        },
    );

    // Back: every consumer reconnects once; the publisher reconnects on its next publish.
    broker.allow_access();
    rt.block_on(publish(&url, &polling_messages("after", 50)));
    rt.block_on(collect(
        &url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(50),
    ));
    wait_for_scrape(
        &metrics,
        "every connection up again and each consumer reconnected once",
        Duration::from_secs(30),
        &[UP, RECONNECTS],
        |e| {
            let reconnected = connections(e, RECONNECTS, "consume-");
            let published_again: f64 = connections(e, RECONNECTS, "publish-")
                .iter()
                .map(|(_, n)| n)
                .sum();
            connections(e, UP, "").iter().all(|(_, up)| *up == 1.0)
                && reconnected.len() == queues
                && reconnected.iter().all(|(_, n)| *n == 1.0)
                && published_again >= 1.0
        },
    );
    assert!(agent.terminate().success());
}

/// A `{"oslo.version": "2.0"}` body without `oslo.message` is, for oslo's deserialize_msg, a
/// bare 1.0 message; having no priority, oslo's dispatcher logs `Unknown priority ""` and acks
/// it. ceilo acks it too, logs it and counts it as such, not as converted.
#[test]
fn an_envelope_without_oslo_message_is_acked_logged_and_counted_as_oslo_does() {
    let broker = Broker::new("health-unknown-priority");
    let url = broker.url();
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    rt.block_on(declare_metering(&url));
    let (agent, metrics) = start_agent(dir.path(), &url);
    let mut messages = vec![(
        "ceilometer".to_owned(),
        "notifications.sample".to_owned(),
        br#"{"oslo.version": "2.0", "event_type": "compute.instance.exists", "payload": {}}"#.to_vec(),
    )];
    messages.extend(polling_messages("after", 1));
    rt.block_on(publish(&url, &messages));

    let queue = [("queue", "notifications.sample")];
    let e = wait_for_scrape(
        &metrics,
        "both deliveries acked",
        Duration::from_secs(30),
        &["ceilo_notifications_acked_total"],
        |e| e.sum("ceilo_notifications_acked_total", &queue) == 2.0,
    );
    assert_eq!(e.sum("ceilo_notifications_unknown_priority_total", &queue), 1.0);
    assert_eq!(e.sum("ceilo_notifications_converted_total", &queue), 1.0);
    assert_eq!(e.sum("ceilo_notifications_rejected_total", &queue), 0.0);
    assert!(
        agent.log_text().contains("Unknown priority"),
        "log:\n{}",
        agent.log_text()
    );
    wait_until("the queue empty", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.terminate().success());
}
