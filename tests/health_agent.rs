//! The agent's own metrics under real traffic: start `ceilo run` on the real RabbitMQ, push
//! notifications (good ones and poison), scrape its /metrics and check the counters moved by
//! exactly the traffic sent, and that the scrape passes `promtool check metrics`.

mod health_support;
mod runtime_support;

use std::time::Duration;

use ceilo::telemetry::scrape;
use runtime_support::*;

const GOOD: usize = 300;
const POISON: usize = 2;

/// The /metrics address the agent logged when it started its listener on port 0.
fn metrics_addr(agent: &Agent) -> Option<String> {
    let log = agent.log_text();
    let line = log.lines().find(|l| l.contains("telemetry: serving"))?;
    let at = line.find("127.0.0.1:")?;
    let port: String = line[at + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(format!("127.0.0.1:{port}"))
}

#[test]
fn counters_move_by_exactly_the_traffic_sent() {
    let broker = Broker::new("health-agent");
    let url = broker.url();
    let dir = config_dir(&settings(100, 20));
    let rt = runtime();
    rt.block_on(declare_metering(&url));
    let agent = Agent::start(dir.path(), &url);
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

    if let Some(promtool) = health_support::promtool() {
        let (ok, output) = health_support::run_promtool(&promtool, &["check", "metrics"], Some(&text));
        assert!(ok, "promtool check metrics: {output}");
    }
    assert!(agent.terminate().success());
}
