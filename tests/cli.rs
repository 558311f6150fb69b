//! The `ceilo` binary's offline commands: `convert` and `check`.

use std::io::Write;
use std::process::{Command, Stdio};

fn ceilo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ceilo"))
}

/// `ceilo check` on a config dir holding `files` (relative path, text): the dir (kept alive
/// for the paths in the report), whether it passed, and its stdout.
fn check_files(files: &[(&str, &str)]) -> (tempfile::TempDir, bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in files {
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&path, text).expect("write");
    }
    let (ok, stdout) = check_dir(dir.path());
    (dir, ok, stdout)
}

/// `ceilo check --config-dir DIR`: whether it passed, and what it printed.
fn check_dir(dir: &std::path::Path) -> (bool, String) {
    let out = ceilo()
        .args(["check", "--config-dir"])
        .arg(dir)
        .output()
        .expect("check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `ceilo check` of a config dir with `polling_yaml` and one dynamic pollster file, `pollster`,
/// in a pollsters.d of its own that its ceilo.yaml names.
fn check_with_pollster(pollster: &str, polling_yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pollsters = dir.path().join("my-pollsters.d");
    std::fs::create_dir(&pollsters).expect("mkdir");
    std::fs::write(pollsters.join("p.yaml"), pollster).expect("pollster");
    std::fs::write(dir.path().join("polling.yaml"), polling_yaml).expect("polling.yaml");
    let ceilo_yaml = format!(
        "polling:\n  pollsters_definitions_dirs: [{}]\n",
        pollsters.display()
    );
    std::fs::write(dir.path().join("ceilo.yaml"), ceilo_yaml).expect("ceilo.yaml");
    check_dir(dir.path())
}

fn convert(input: &str, args: &[&str]) -> (Vec<serde_json::Value>, String) {
    let mut child = ceilo()
        .arg("convert")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceilo");
    // Written from another thread: a large output fills the stdout pipe while input is still
    // being written.
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).expect("write"));
    let out = child.wait_with_output().expect("ceilo convert");
    writer.join().expect("stdin written");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = String::from_utf8(out.stdout).expect("utf-8");
    let docs = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    (docs, String::from_utf8_lossy(&out.stderr).into_owned())
}

const HTTP_REQUEST: &str = r#"{"oslo.version": "2.0", "oslo.message": "{\"message_id\": \"m1\", \"publisher_id\": \"p\", \"event_type\": \"http.request\", \"priority\": \"INFO\", \"payload\": {\"request\": {\"HTTP_X_USER_ID\": \"u\", \"HTTP_X_PROJECT_ID\": \"pr\", \"HTTP_X_SERVICE_NAME\": \"nova\"}}, \"timestamp\": \"2025-01-01 00:00:00\"}"}"#;

#[test]
fn convert_writes_one_line_per_input_line_in_order_and_keeps_going_after_bad_lines() {
    let input = format!("{HTTP_REQUEST}\nnot json\n\n{{\"oslo.version\": \"9.0\", \"oslo.message\": \"{{}}\"}}\n{HTTP_REQUEST}\n");
    let (docs, stderr) = convert(&input, &[]);
    assert_eq!(docs.len(), 5);
    for i in [0, 4] {
        let samples = docs[i]["samples"].as_array().expect("samples");
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0]["counter_name"], "http.request");
        assert_eq!(samples[0]["resource_id"], "nova");
        assert_eq!(docs[i]["events"][0]["event_type"], "http.request");
        assert!(docs[i].get("error").is_none());
    }
    for i in [1, 2, 3] {
        assert_eq!(docs[i]["samples"], serde_json::json!([]));
        assert!(
            docs[i]["error"].as_str().is_some_and(|e| !e.is_empty()),
            "line {i}: {}",
            docs[i]
        );
    }
    assert!(docs[3]["error"].as_str().unwrap_or_default().contains("9.0"));
    assert!(stderr.contains("line 2:"), "errors name the input line: {stderr}");
}

/// magnum's meter has no `metadata:` spec and makes a sample per metric: every sample carries
/// the whole payload, `pad` included. One input line.
fn magnum_line(metrics: usize, pad: usize) -> String {
    let metrics: Vec<_> = (0..metrics)
        .map(|i| serde_json::json!({"name": format!("m{i}"), "unit": "%", "value": i}))
        .collect();
    let inner = serde_json::json!({
        "message_id": "m", "publisher_id": "magnum.conductor-0", "priority": "INFO",
        "event_type": "magnum.bay.metrics.update", "timestamp": "2025-03-14 10:49:19.833031",
        "payload": {"user_id": "u", "project_id": "p", "resource_id": "r", "metrics": metrics,
                    "pad": "x".repeat(pad)}
    });
    serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()}).to_string()
}

#[test]
fn convert_reports_a_notification_over_max_output_bytes_and_goes_on() {
    // 50 samples × 5 KB: within the default limit, over a limit of 100 000 bytes. 400 × 50 KB
    // (20 MB of samples from a 70 KB line): over the default 16 MiB.
    let input = format!(
        "{}\n{HTTP_REQUEST}\n{}\n",
        magnum_line(50, 5_000),
        magnum_line(400, 50_000)
    );
    let over = |doc: &serde_json::Value, limit: &str| {
        doc["samples"] == serde_json::json!([])
            && doc["error"].as_str().is_some_and(|e| {
                e.starts_with("too much output: ")
                    && e.contains(&format!("notification.max_output_bytes ({limit})"))
            })
    };
    let (docs, stderr) = convert(&input, &[]);
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["samples"].as_array().map(Vec::len), Some(50));
    assert_eq!(docs[1]["samples"][0]["counter_name"], "http.request");
    assert!(over(&docs[2], "16777216"), "{}", docs[2]["error"]);
    assert!(stderr.contains("line 3: too much output"), "{stderr}");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("ceilo.yaml"),
        "notification:\n  max_output_bytes: 100000\n",
    )
    .expect("ceilo.yaml");
    let (docs, _) = convert(&input, &["--config-dir", dir.path().to_str().expect("path")]);
    assert!(over(&docs[0], "100000"), "{}", docs[0]);
    assert_eq!(docs[1]["samples"][0]["counter_name"], "http.request");
    assert!(over(&docs[2], "100000"), "{}", docs[2]["error"]);
}

#[test]
fn convert_reads_a_meters_file_given_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let meters = dir.path().join("m.yaml");
    std::fs::write(
        &meters,
        "metric:\n  - name: my.meter\n    event_type: http.request\n    type: gauge\n    unit: x\n    volume: 7\n    resource_id: $.payload.request.HTTP_X_USER_ID\n",
    )
    .expect("write");
    let (docs, _) = convert(
        &format!("{HTTP_REQUEST}\n"),
        &["--meters", meters.to_str().expect("path")],
    );
    let names: Vec<&str> = docs[0]["samples"]
        .as_array()
        .expect("samples")
        .iter()
        .filter_map(|s| s["counter_name"].as_str())
        .collect();
    assert_eq!(names, ["http.request", "my.meter"]);
    assert_eq!(docs[0]["samples"][1]["counter_volume"], 7);
}

#[test]
fn check_passes_the_shipped_config_and_warns_with_file_and_line_of_a_meter_run_skips() {
    let ok = ceilo()
        .args([
            "check",
            "--config-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        ])
        .output()
        .expect("check");
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stdout));

    let (dir, ok, stdout) = check_files(&[(
        "meters.d/bad.yaml",
        "---\nmetric:\n  - name: fine\n    event_type: a\n    type: gauge\n    unit: B\n    volume: 1\n    resource_id: $.id\n  - name: broken\n    event_type: a\n    type: sometimes\n    unit: B\n    volume: 1\n    resource_id: $.id\n",
    )]);
    let file = dir.path().join("meters.d/bad.yaml");
    // `ceilo run` skips it and starts (as Ceilometer does): a warning, named, not a failure.
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "warning: {}:9: meter \"broken\": Invalid type sometimes specified",
            file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains(": 0 problems, 1 warning"), "{stdout}");
}

#[test]
fn check_names_file_and_line_of_a_bad_event_definition() {
    let (dir, ok, stdout) = check_files(&[(
        "event_definitions.yaml",
        "- event_type: a.*\n  traits:\n    host:\n      fields: payload.host\n      plugin: splitter\n",
    )]);
    let file = dir.path().join("event_definitions.yaml");
    assert!(!ok);
    assert!(stdout.contains(&format!("{}:3:", file.display())), "{stdout}");
    assert!(stdout.contains("no plugin named \"splitter\""), "{stdout}");
}

#[test]
fn convert_fills_events_from_the_shipped_event_definitions() {
    let (docs, _) = convert(&format!("{HTTP_REQUEST}\n"), &[]);
    let events = docs[0]["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{}", docs[0]);
    assert_eq!(events[0]["event_type"], "http.request");
    assert_eq!(events[0]["message_id"], "m1");
    assert!(events[0]["message_signature"]
        .as_str()
        .is_some_and(|s| s.len() == 64));
}

#[test]
fn check_reports_bad_pipeline_and_polling_files_by_name() {
    let (_dir, ok, stdout) = check_files(&[
        (
            "pipeline.yaml",
            "---\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [nosuch]\nsinks:\n  - name: k\n    publishers: [\"gopher://x\"]\n",
        ),
        ("polling.yaml", "sources:\n  - name: p\n    interval: soon\n    meters: [cpu]\n"),
    ]);
    assert!(!ok);
    assert!(
        stdout.contains("pipeline.yaml:8: sink \"k\": publisher \"gopher://\" is not supported"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pipeline.yaml:5: source \"s\": no sink named \"nosuch\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "polling.yaml:3: source \"p\": interval must be a whole number of seconds, positive and \
             at most 31536000 (a year), got soon"
        ),
        "{stdout}"
    );
    assert!(stdout.contains(": 3 problems"), "{stdout}");
}

/// Durations past a year, which `check` passed and `run` then panicked on (seconds past what a
/// `Duration` holds, or a timer or deadline past what an `Instant` holds): refused by `check`,
/// each naming its file and option, as `run` and a reload refuse them.
#[test]
fn check_refuses_durations_past_a_year() {
    let (_dir, ok, stdout) = check_files(&[
        (
            "pipeline.yaml",
            "---\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [k]\nsinks:\n  - name: k\n    \
             transformers:\n      - name: aggregator\n        parameters:\n          retention_time: 1e300\n    \
             publishers: [\"gnocchi://?timeout=1e300\"]\n",
        ),
        ("polling.yaml", "sources:\n  - name: p\n    interval: 18446744073709551615\n    meters: [cpu]\n"),
        ("ceilo.yaml", "notification:\n  shutdown_timeout_s: 18446744073709551615\n"),
    ]);
    assert!(!ok, "{stdout}");
    for expected in [
        "ceilo.yaml: notification.shutdown_timeout_s must be at most 31536000 (a year), got 18446744073709551615",
        "pipeline.yaml:11: sink \"k\": transformers[0] (aggregator): retention_time: must be a positive \
         number of seconds, at most 31536000 (a year)",
        "pipeline.yaml:12: sink \"k\": gnocchi://?timeout=1e300: option timeout: must be a positive number \
         of seconds, at most 31536000 (a year)",
        "polling.yaml:3: source \"p\": interval must be a whole number of seconds, positive and at most \
         31536000 (a year), got 18446744073709551615",
    ] {
        assert!(stdout.contains(expected), "{expected}\n{stdout}");
    }

    // A dynamic pollster's timeout.
    let (ok, stdout) = check_with_pollster(
        "- name: dyn.x\n  sample_type: gauge\n  unit: u\n  value_attribute: v\n  endpoint_type: e\n  \
         url_path: p\n  timeout: 1e300\n",
        "sources:\n  - name: p\n    interval: 60\n    meters: [dyn.x]\n",
    );
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(
            "pollster \"dyn.x\": timeout must be a positive number of seconds, at most 31536000 (a year)"
        ),
        "{stdout}"
    );
}

#[test]
fn check_names_the_line_of_a_polling_file_that_is_not_yaml() {
    let (dir, ok, stdout) = check_files(&[("polling.yaml", "sources:\n  - name: p\n    meters: [cpu\n")]);
    assert!(!ok);
    let file = dir.path().join("polling.yaml");
    assert!(
        stdout.contains(&format!("{}:4: not a polling configuration", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains(": 1 problem"), "{stdout}");
}

#[test]
fn check_names_the_line_of_a_bad_transformer_expression() {
    let (dir, ok, stdout) = check_files(&[(
        "pipeline.yaml",
        "---\nsources:\n  - name: s\n    meters: [\"cpu\"]\n    sinks: [k]\nsinks:\n  - name: k\n    transformers:\n      - name: \"rate_of_change\"\n        parameters:\n          target:\n            name: \"cpu_util\"\n            scale: \"100.0 / (10**9 * \"\n    publishers: [\"notifier://\"]\n",
    )]);
    let file = dir.path().join("pipeline.yaml");
    assert!(!ok);
    assert!(
        stdout.contains(&format!("{}:13: sink \"k\"", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("target.scale"), "{stdout}");
    assert!(stdout.contains(": 1 problem"), "reported once: {stdout}");
}

#[test]
fn check_reads_the_polling_section_of_ceilo_yaml_as_run_does() {
    // A dynamic pollster in a pollsters_definitions_dirs that ceilo.yaml names: run loads it,
    // so check must not warn that nothing serves its meter.
    let (ok, stdout) = check_with_pollster(
        "- name: dynamic.volume.status\n  sample_type: gauge\n  unit: volume\n  value_attribute: status\n  endpoint_type: volumev3\n  url_path: v3/volumes/detail\n",
        "sources:\n  - name: s\n    meters: [dynamic.volume.status, no.such.meter]\n",
    );
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("warning: source \"s\": no pollster serves meter \"no.such.meter\""),
        "{stdout}"
    );
    assert!(!stdout.contains("dynamic.volume.status"), "{stdout}");
}

#[test]
fn check_accepts_every_publisher_with_ceilometers_options_and_names_bad_ones() {
    let pipeline = |publishers: &str| {
        format!("---\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [k]\nsinks:\n  - name: k\n    publishers: [{publishers}]\n")
    };
    let good = pipeline(
        "\"https://u:p@h:8443/p?timeout=3&max_retries=1&batch=False&verify_ssl=False&raw_only=1&q=1\", \
         \"prometheus://gw:9091/metrics/job/ceilometer?ssl=1\", \"udp://h:4952\", \"tcp://[::1]\", \
         \"opentelemetryhttp://otel:4318/v1/metrics\"",
    );
    let (_dir, ok, stdout) = check_files(&[("pipeline.yaml", &good)]);
    assert!(ok, "{stdout}");
    let bad = pipeline(
        "\"http://h/?timeout=soon\", \"prometheus://gw/metrics/job/j?max_retries=x\", \"tcp://h:port\"",
    );
    let (_dir, ok, stdout) = check_files(&[("pipeline.yaml", &bad)]);
    assert!(!ok);
    assert!(stdout.contains("option timeout: not a whole number"), "{stdout}");
    assert!(
        stdout.contains("option max_retries: not a whole number"),
        "{stdout}"
    );
    assert!(stdout.contains("port \"port\" is not a number"), "{stdout}");
}

#[test]
fn check_warns_that_sample_only_publishers_in_event_sinks_get_no_events() {
    let events = "---\nsources:\n  - name: s\n    events: [\"*\"]\n    sinks: [k]\nsinks:\n  - name: k\n    \
                  publishers: [\"notifier://\", \"tcp://collector:4952\"]\n";
    let (dir, ok, stdout) = check_files(&[("event_pipeline.yaml", events)]);
    assert!(ok, "a warning, not a problem: {stdout}");
    let file = dir.path().join("event_pipeline.yaml");
    assert!(
        stdout.contains(&format!(
            "{}:8: sink \"k\": tcp:// publishes samples only",
            file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 warning"), "{stdout}");
}

#[test]
fn convert_applies_the_event_options_of_ceilometer_conf() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf = |text: &str| {
        let path = dir.path().join("ceilometer.conf");
        std::fs::write(&path, text).expect("conf");
        path.display().to_string()
    };
    let unmatched = HTTP_REQUEST.replace("http.request", "nobody.defines.this");
    let input = format!("{HTTP_REQUEST}\n{unmatched}\n");

    // Ceilometer's defaults: raw is empty, an unmatched notification still makes an event.
    let (docs, _) = convert(&input, &["--config-file", &conf("[DEFAULT]\n")]);
    assert_eq!(docs[0]["events"][0]["raw"], serde_json::json!({}), "{}", docs[0]);
    assert_eq!(
        docs[1]["events"][0]["event_type"], "nobody.defines.this",
        "{}",
        docs[1]
    );

    let (docs, _) = convert(
        &input,
        &[
            "--config-file",
            &conf("[event]\nstore_raw = info\ndrop_unmatched_notifications = true\n"),
        ],
    );
    let raw = &docs[0]["events"][0]["raw"];
    assert_eq!(raw["event_type"], "http.request", "{}", docs[0]);
    assert_eq!(raw["payload"]["request"]["HTTP_X_USER_ID"], "u", "{}", docs[0]);
    assert_eq!(docs[1]["events"], serde_json::json!([]), "{}", docs[1]);
}

#[test]
fn check_refuses_a_bad_partition_coordination_url_and_warns_of_an_unusable_backend_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let check = |yaml: &str, conf: &str| {
        std::fs::write(dir.path().join("ceilo.yaml"), yaml).expect("ceilo.yaml");
        std::fs::write(dir.path().join("ceilometer.conf"), conf).expect("conf");
        let out = ceilo()
            .args(["check", "--config-file"])
            .arg(dir.path().join("ceilometer.conf"))
            .output()
            .expect("check");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    // The pool's ZooKeeper, set for Ceilometer's polling agents: run leaves the partitions
    // unspread, so check warns and passes.
    let zookeeper = "[coordination]\nbackend_url = zookeeper://zk1:2181\n";
    let (ok, out) = check("notification: {transform_partitions: 8}\n", zookeeper);
    assert!(ok, "{out}");
    assert!(
        out.contains("warning: [coordination] backend_url")
            && out.contains("the transform partitions will not be spread"),
        "{out}"
    );
    // One given for the partitions must be usable: run would stop.
    let (ok, out) = check(
        "notification: {transform_partitions: 8, partition_coordination_url: 'etcd3://e:2379'}\n",
        "",
    );
    assert!(!ok, "{out}");
    assert!(
        out.contains("notification.partition_coordination_url \"etcd3://e:2379\": ceilo implements tooz's redis:// driver only"),
        "{out}"
    );
    // Without partitions the notification agent does not use it.
    let (ok, out) = check("", zookeeper);
    assert!(ok && !out.contains("transform partitions"), "{out}");
}

#[test]
fn check_reads_the_gnocchi_resources_file_a_gnocchi_publisher_loads() {
    let pipeline = |url: &str| {
        format!("---\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [k]\nsinks:\n  - name: k\n    publishers: [\"{url}\"]\n")
    };
    // No file in the directory: the shipped one, which compiles.
    let (_dir, ok, stdout) = check_files(&[("pipeline.yaml", &pipeline("gnocchi://"))]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("<shipped>/gnocchi_resources.yaml"), "{stdout}");

    // A definition run skips (as Ceilometer does): a warning at its line.
    let mine = "archive_policy_default: ceilometer-low\nresources:\n  - resource_type: fine\n    metrics: [a]\n  - resource_type: broken\n    metrics: b\n";
    let (dir, ok, stdout) = check_files(&[
        (
            "pipeline.yaml",
            &pipeline("gnocchi://?resources_definition_file=mine.yaml"),
        ),
        ("mine.yaml", mine),
    ]);
    let file = dir.path().join("mine.yaml");
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains(&format!(
            "warning: {}:5: resource_type \"broken\": Required field metrics should be a list or a mapping (skipped",
            file.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains(": 0 problems, 1 warning"), "{stdout}");

    // A file run cannot use: a problem at its line and column.
    let (dir, ok, stdout) = check_files(&[
        ("pipeline.yaml", &pipeline("gnocchi://")),
        (
            "gnocchi_resources.yaml",
            "resources:\n  - resource_type: x\n    metrics: [a\n",
        ),
    ]);
    let file = dir.path().join("gnocchi_resources.yaml");
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains(&format!("{}:4:1: invalid YAML: ", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains(": 1 problem"), "{stdout}");
}
