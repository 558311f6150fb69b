//! What `ceilo run` refuses before it starts anything, and that `ceilo check` refuses the
//! same: a config run cannot use never gets as far as serving /metrics. And a start it does not
//! refuse, on a new broker, logs no error; one whose broker cannot be reached says so once
//! per queue, not at every retry.

mod runtime_support;

use std::collections::{BTreeMap, HashSet};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use runtime_support::*;

#[test]
fn check_and_run_refuse_the_same_transport_urls_and_run_starts_nothing() {
    for bad in ["kafka://", "amqp://h:notaport/"] {
        let dir = config_dir(&format!("transport_url: {bad}\n{TELEMETRY}"));
        let (code, out) = ceilo_to_end(&["check"], dir.path());
        assert_eq!(code, Some(1), "check accepted {bad}:\n{out}");
        assert!(
            out.contains("ceilo.yaml: transport_url: invalid transport URL"),
            "{bad}:\n{out}"
        );

        let (code, out) = ceilo_to_end(&["run"], dir.path());
        assert_eq!(code, Some(1), "run with {bad}:\n{out}");
        assert!(out.contains("invalid transport URL"), "{bad}:\n{out}");
        assert!(
            !out.contains("telemetry: serving"),
            "started before refusing {bad}:\n{out}"
        );

        // The same URL given on the command line, over a valid config.
        let dir = config_dir(TELEMETRY);
        let (code, out) = ceilo_to_end(&["check", "--transport-url", bad], dir.path());
        assert_eq!(code, Some(1), "check --transport-url accepted {bad}:\n{out}");
        assert!(
            out.contains("--transport-url: invalid transport URL"),
            "{bad}:\n{out}"
        );
        let (code, out) = ceilo_to_end(&["run", "--transport-url", bad], dir.path());
        assert_eq!(code, Some(1), "run --transport-url {bad}:\n{out}");
        assert!(out.contains("invalid transport URL"), "{bad}:\n{out}");
        assert!(
            !out.contains("telemetry: serving"),
            "started before refusing {bad}:\n{out}"
        );
    }
}

#[test]
fn a_bad_messaging_url_stops_run_before_it_touches_the_broker() {
    let broker = Broker::new("bad-messaging-url");
    let url = broker.url();
    let dir = config_dir(&format!(
        "transport_url: {url}\nnotification:\n  messaging_urls: ['{url}', 'kafka://k:9092']\n{TELEMETRY}"
    ));
    let (code, out) = ceilo_to_end(&["run"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("notification.messaging_urls: invalid transport URL \"kafka://k:9092\""),
        "{out}"
    );
    assert!(!out.contains("telemetry: serving"), "{out}");
    let queues = broker.get(&format!("/queues/{}", broker.vhost));
    assert_eq!(queues, serde_json::json!([]), "declared before refusing:\n{out}");
}

#[test]
fn a_durability_conflict_with_the_broker_is_refused_at_start_and_one_setting_covers_both_sides() {
    let broker = Broker::new("durability");
    let url = broker.url();
    let rt = runtime();
    // The services on this broker run with oslo's amqp_durable_queues = true: the `ceilometer`
    // exchange (consumed from and published to) and the metering queue exist, durable.
    rt.block_on(declare(
        &url,
        "metering.sample",
        "ceilometer",
        "metering.sample",
        true,
    ));
    let dir = config_dir(&settings(100, 10));
    let (code, out) = ceilo_to_end(&["run", "--transport-url", &url], dir.path());
    assert_eq!(
        code,
        Some(1),
        "ceilo with non-durable defaults did not refuse:\n{out}"
    );
    assert!(
        out.contains("exchange ceilometer (ceilo: durable=false, auto_delete=false)")
            && out.contains("inequivalent arg 'durable'")
            && out.contains("make amqp_durable_queues"),
        "{out}"
    );
    assert!(!out.contains("telemetry: serving"), "{out}");

    // The one setting: durable queues consumed, durable exchange published to.
    let durable = format!("amqp_durable_queues: true\n{}", settings(100, 10));
    std::fs::write(dir.path().join("ceilo.yaml"), durable).expect("ceilo.yaml");
    let agent = Agent::start(dir.path(), &url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while broker.queue("notifications.sample")["consumers"].as_u64() < Some(1) {
        assert!(
            Instant::now() < deadline,
            "not consuming; log:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        broker.queue("notifications.sample")["durable"],
        serde_json::json!(true)
    );
    let sent = 20;
    rt.block_on(publish_only(&url, &polling_messages("durable", sent)));
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
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{status:?}:\n{log}");
}

#[test]
fn a_durable_output_queue_is_refused_at_start_and_left_as_it_was() {
    // Only the queue the notifier publishes into exists (durable, as a consumer running with
    // amqp_durable_queues declared it); its exchange does not.
    let broker = Broker::new("durable-output-queue");
    let url = broker.url();
    let rt = runtime();
    rt.block_on(async {
        let conn = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        let durable = lapin::options::QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        ch.queue_declare("metering.sample".into(), durable, Default::default())
            .await
            .expect("declare");
        let _ = conn.close(200, "bye".into()).await;
    });
    let dir = config_dir(&settings(100, 10));
    let (code, out) = ceilo_to_end(&["run", "--transport-url", &url], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("queue metering.sample (ceilo: type=classic, durable=false, auto_delete=false)")
            && out.contains("inequivalent arg 'durable'"),
        "{out}"
    );
    assert!(!out.contains("telemetry: serving"), "{out}");
    // The check created nothing: no exchange of ceilo's, no other queue.
    let queues = broker.get(&format!("/queues/{}", broker.vhost));
    let names: Vec<&str> = queues
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert_eq!(names, ["metering.sample"]);
    let exchange = broker.get(&format!("/exchanges/{}/ceilometer", broker.vhost));
    assert_eq!(exchange["error"], "Object Not Found", "{exchange}");
}

#[test]
fn check_and_run_print_the_same_pipeline_problems_naming_file_and_line() {
    let dir = config_dir(TELEMETRY);
    let pipeline = dir.path().join("pipeline.yaml");
    std::fs::write(
        &pipeline,
        "---\nsources:\n  - name: s\n    meters: [\"cpu\"]\n    sinks: [k]\nsinks:\n  - name: k\n    \
         transformers:\n      - name: unit_conversion\n        parameters:\n          target:\n            \
         scale: \"volume * (2\"\n    publishers:\n      - notifier://\n      - gopher://x\n",
    )
    .expect("pipeline.yaml");
    let file = pipeline.display();
    let expected = [
        format!("{file}:12: sink \"k\": transformers[0] (unit_conversion): target.scale: "),
        format!("{file}:15: sink \"k\": publisher \"gopher://\" is not supported"),
    ];

    let (code, out) = ceilo_to_end(&["check"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    let checked: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(&*file.to_string()))
        .collect();
    assert_eq!(checked.len(), 2, "{out}");
    for (line, want) in checked.iter().zip(&expected) {
        assert!(line.starts_with(want.as_str()), "{line}\nwant {want}");
    }

    let (code, out) = ceilo_to_end(&["run"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    for line in &checked {
        assert!(
            out.lines().any(|l| l == format!("ceilo run: {line}")),
            "run does not print {line:?} as check does:\n{out}"
        );
    }
    assert!(!out.contains("telemetry: serving"), "{out}");
}

#[test]
fn check_and_run_refuse_the_same_gnocchi_resources_file_naming_file_and_line() {
    let dir = config_dir(TELEMETRY);
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "---\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [k]\nsinks:\n  - name: k\n    \
         publishers: [\"gnocchi://\"]\n",
    )
    .expect("pipeline.yaml");
    let resources = dir.path().join("gnocchi_resources.yaml");
    std::fs::write(&resources, "resources:\n  - resource_type: x\n    metrics: [a\n")
        .expect("gnocchi_resources.yaml");
    let file = resources.display().to_string();

    let (code, out) = ceilo_to_end(&["check"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    let checked: Vec<&str> = out.lines().filter(|l| l.starts_with(&file)).collect();
    assert_eq!(checked.len(), 1, "{out}");
    assert!(
        checked[0].starts_with(&format!("{file}:4:1: invalid YAML")),
        "{out}"
    );

    let (code, out) = ceilo_to_end(&["run"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.lines().any(|l| l == format!("ceilo run: {}", checked[0])),
        "run does not print {:?} as check does:\n{out}",
        checked[0]
    );
    assert!(!out.contains("telemetry: serving"), "{out}");
}

#[test]
fn a_first_start_on_a_new_broker_logs_no_error() {
    // On a broker that has none of the exchanges and queues yet, the start-up check's passive
    // declares are answered 404 (each closing its channel): expected, and not an error.
    let broker = Broker::new("first-start");
    let url = broker.url();
    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start_at_default_levels(dir.path(), &url);
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.queue("notifications.info")["consumers"].as_u64() >= Some(1)
    });
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("consuming") && log.contains("clean shutdown"),
        "{log}"
    );
    assert!(!log.contains("ERROR"), "a first start logged errors:\n{log}");
}

#[test]
fn a_broker_out_of_reach_is_warned_once_per_queue_and_the_retries_logged_at_debug() {
    // A port nothing listens on: every connection is refused at once.
    let port = {
        let free = TcpListener::bind("127.0.0.1:0").expect("bind");
        free.local_addr().expect("addr").port()
    };
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/");
    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start_logging(dir.path(), &url, "info,ceilo::agent::listener=debug");
    // Attempts 1 to 5 are 6 s apart at most (backoff 0, 0.4, 0.8, 1.6, 3.2 s).
    wait_until("a fifth attempt", Duration::from_secs(30), || {
        agent.log_text().contains("failed_attempts=5")
    });
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    // Per queue: (warnings, retries at debug).
    let mut said: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for line in log
        .lines()
        .filter(|l| l.contains("listener cannot consume; reconnecting"))
    {
        let queue = line
            .split("queue=\"")
            .nth(1)
            .and_then(|q| q.split('"').next())
            .expect("queue");
        let counts = said.entry(queue).or_default();
        if line.contains(" WARN ") {
            counts.0 += 1;
        } else if line.contains(" DEBUG ") {
            counts.1 += 1;
        }
    }
    assert_eq!(said.len(), 7, "every notifications.* queue retried:\n{log}");
    for (queue, (warnings, retries)) in &said {
        assert_eq!(*warnings, 1, "{queue} warned {warnings} times:\n{log}");
        assert!(*retries >= 3, "{queue} retried {retries} times at debug:\n{log}");
    }
}

#[test]
fn a_broker_refusing_access_is_one_warning_per_queue_not_a_lapin_error_per_attempt() {
    let broker = Broker::new("access-refused");
    broker.deny_access();
    let dir = config_dir(&settings(100, 10));
    let agent = Agent::start_at_default_levels(dir.path(), &broker.url());
    wait_until("every listener refused once", Duration::from_secs(30), || {
        agent.log_text().matches("listener cannot consume").count() >= 7
    });
    // Four more attempts each (backoff 0.4 + 0.8 + 1.6 + 3.2 s): each handshake the broker
    // refuses ends lapin's connection thread, which says so at error level.
    std::thread::sleep(Duration::from_secs(7));
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
    assert!(log.contains("NOT_ALLOWED"), "the broker's refusal is said: {log}");
    assert_eq!(log.matches("listener cannot consume").count(), 7, "{log}");
    assert!(!log.contains("ERROR"), "{log}");
}

#[test]
fn a_zaqar_publisher_without_service_credentials_stops_run_saying_what_to_set() {
    let dir = config_dir(TELEMETRY);
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "sources:\n  - name: s\n    meters: ['*']\n    sinks: [z]\nsinks:\n  - name: z\n    \
         publishers: ['zaqar://?queue=metering']\n",
    )
    .unwrap();
    let (code, out) = ceilo_to_end(&["run"], dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("zaqar://?queue=metering") && out.contains("set service_credentials"),
        "{out}"
    );
}
