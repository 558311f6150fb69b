//! `http://` through the real broker: polling notifications in, a real HTTP server (hyper)
//! receives what Ceilometer's `HttpPublisher` would post, and a flush is acked only after a 2xx.

mod publish_support;
mod runtime_support;

use std::collections::HashSet;
use std::time::Duration;

use publish_support::{pipeline_to, HttpReceiver, Recorded};
use runtime_support::*;

/// The ids of the samples in accepted batch bodies.
fn posted_ids(requests: &[Recorded]) -> Vec<String> {
    requests
        .iter()
        .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect()
}

/// `Sample.as_dict()`'s keys, in Ceilometer's order.
const AS_DICT_KEYS: [&str; 14] = [
    "name",
    "type",
    "unit",
    "volume",
    "user_id",
    "user_name",
    "project_id",
    "project_name",
    "resource_id",
    "timestamp",
    "resource_metadata",
    "source",
    "id",
    "monotonic_time",
];

#[test]
fn samples_from_notifications_are_posted_as_ceilometer_posts_them() {
    let broker = Broker::new("http-post");
    let url = broker.url();
    let rt = runtime();
    let receiver = HttpReceiver::start(&rt);
    let dir = config_dir(&settings(50, 10));
    let publisher = format!(
        "http://user:secret@{}/collect?timeout=2&q=1&max_retries=1",
        receiver.addr
    );
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("h", 20)));
    wait_until("20 samples posted", Duration::from_secs(30), || {
        posted_ids(&receiver.accepted()).len() >= 20
    });
    let requests = receiver.accepted();
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/collect?q=1");
        assert_eq!(r.header("content-type"), Some("application/json"));
        // base64("user:secret")
        assert_eq!(r.header("authorization"), Some("Basic dXNlcjpzZWNyZXQ="));
        let body = std::str::from_utf8(&r.body).unwrap();
        assert!(
            body.starts_with("[{\"name\": \"cpu\", \"type\": \"cumulative\""),
            "{body}"
        );
        for sample in r.json().as_array().unwrap() {
            let keys: Vec<&str> = sample.as_object().unwrap().keys().map(String::as_str).collect();
            let mut want = AS_DICT_KEYS.to_vec();
            want.sort_unstable();
            assert_eq!(keys, want, "serde_json sorts keys; the order is checked below");
            assert_eq!(sample["volume"], 1000);
            assert_eq!(sample["resource_id"], "r");
        }
        // Key order, as json.dumps of as_dict() writes it.
        let mut at = 0;
        for key in AS_DICT_KEYS {
            let found = body[at..].find(&format!("\"{key}\": ")).expect(key);
            at += found;
        }
    }
    let ids: HashSet<String> = posted_ids(&requests).into_iter().collect();
    let want: HashSet<String> = (0..20).map(|i| format!("h-{i}")).collect();
    assert_eq!(ids, want);
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    drop(agent);
}

#[test]
fn a_receiver_that_is_gone_or_refuses_holds_deliveries_until_it_accepts_them() {
    let broker = Broker::new("http-outage");
    let url = broker.url();
    let rt = runtime();
    let addr = publish_support::free_port();
    let prefetch = 20;
    let dir = config_dir(&settings(prefetch, 10));
    let publisher = format!("http://{addr}/collect?timeout=1");
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("o", 100)));
    // Nothing listens: connections are refused. Deliveries stay unacked up to the prefetch
    // bound, the rest stays ready; nothing is dropped.
    assert_held_while_down(&broker, "notifications.sample", 100, prefetch, agent.pid());
    // Then it listens but answers 503.
    let receiver = HttpReceiver::start_on(&rt, addr);
    receiver.answer(503);
    wait_until("the receiver refusing posts", Duration::from_secs(30), || {
        receiver.requests().len() >= 2
    });
    assert_eq!(
        broker.counts("notifications.sample").0 + broker.counts("notifications.sample").1,
        100
    );
    assert!(receiver.accepted().is_empty());
    receiver.answer(200);
    wait_until("all 100 samples accepted", Duration::from_secs(60), || {
        posted_ids(&receiver.accepted())
            .into_iter()
            .collect::<HashSet<_>>()
            .len()
            >= 100
    });
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    let log = agent.log_text();
    assert!(
        log.contains("HTTP 503"),
        "the failure is logged with its status: {log}"
    );
    assert!(log.contains("Connect"), "a refused connection is logged: {log}");
}

#[test]
fn a_body_the_receiver_refuses_for_good_is_dead_lettered_not_retried() {
    let broker = Broker::new("http-400");
    let url = broker.url();
    let rt = runtime();
    let receiver = HttpReceiver::start(&rt);
    receiver.answer(400);
    let dir = config_dir(&settings(50, 10));
    let publisher = format!("http://{}/collect", receiver.addr);
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("r", 5)));
    wait_until("a dead letter", Duration::from_secs(30), || {
        broker.counts("ceilo.dead-letter").0 > 0
    });
    let dead = rt.block_on(collect(&url, "ceilo.dead-letter", Duration::from_secs(30), |r| {
        serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v.as_array().map(|a| a.len()))
            .is_some()
    }));
    let header = |name: &str| dead[0].header(name).unwrap_or_default();
    assert!(
        header("x-ceilo-reason").contains("HTTP 400"),
        "{:?}",
        dead[0].headers
    );
    assert_eq!(header("x-ceilo-routing-key"), "http");
    // The dead letter is the body that was refused: the samples as Ceilometer posts them.
    let body: serde_json::Value = serde_json::from_slice(&dead[0].body).unwrap();
    assert_eq!(body[0]["name"], "cpu");
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    // Refused once per body, never retried.
    let refused = receiver.requests().len();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(receiver.requests().len(), refused);
    // The receiver accepts again: what follows goes through.
    receiver.answer(200);
    rt.block_on(publish(&url, &polling_messages("s", 3)));
    wait_until("3 samples posted", Duration::from_secs(30), || {
        posted_ids(&receiver.accepted()).len() >= 3
    });
    assert!(agent.log_text().contains("refused a request for good"));
}

#[test]
fn events_are_posted_as_ceilometer_serializes_them() {
    let broker = Broker::new("http-events");
    let url = broker.url();
    let rt = runtime();
    let receiver = HttpReceiver::start(&rt);
    let dir = config_dir(&settings(50, 10));
    let publisher = format!("http://{}/events", receiver.addr);
    std::fs::write(
        dir.path().join("event_pipeline.yaml"),
        format!(
            "sources:\n  - name: all\n    events: ['*']\n    sinks: [out]\nsinks:\n  - name: out\n    \
             publishers: ['{publisher}']\n"
        ),
    )
    .unwrap();
    let _agent = Agent::start(dir.path(), &url);
    let body = |i: usize| {
        let inner = serde_json::json!({
            "message_id": format!("ev-{i}"), "publisher_id": "compute.host1",
            "event_type": "compute.instance.delete.end", "priority": "INFO",
            "payload": {"instance_id": format!("vm-{i}"), "tenant_id": "t", "user_id": "u",
                        "host": "host1", "state": "deleted"},
            "timestamp": "2025-03-14 09:45:00.123456", "_unique_id": format!("e{i}")
        });
        serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
            .to_string()
            .into_bytes()
    };
    let input: Vec<_> = (0..5)
        .map(|i| ("nova".to_owned(), "notifications.info".to_owned(), body(i)))
        .collect();
    rt.block_on(publish(&url, &input));
    let events = || -> Vec<serde_json::Value> {
        receiver
            .accepted()
            .iter()
            .flat_map(|r| r.json().as_array().cloned().unwrap_or_default())
            .collect()
    };
    wait_until("5 events posted", Duration::from_secs(30), || events().len() >= 5);
    for r in receiver.accepted() {
        let text = std::str::from_utf8(&r.body).unwrap();
        assert!(text.starts_with("[{\"message_id\": \"ev-"), "{text}");
    }
    let ids: HashSet<String> = events()
        .iter()
        .map(|e| e["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, (0..5).map(|i| format!("ev-{i}")).collect());
    for e in events() {
        assert_eq!(e["event_type"], "compute.instance.delete.end");
        assert_eq!(e["generated"], "2025-03-14T09:45:00.123456");
        assert!(
            e.get("message_signature").is_none(),
            "serialize() is unsigned: {e}"
        );
        // traits as [name, dtype, value] lists
        let traits = e["traits"].as_array().unwrap();
        assert!(
            traits
                .iter()
                .any(|t| t[0] == "state" && t[1] == 1 && t[2] == "deleted"),
            "{e}"
        );
    }
}
