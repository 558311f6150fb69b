//! `ceilo run|check|convert --config-file ceilometer.conf [--config-dir DIR]`: Ceilometer's
//! oslo.config files read directly, against the real broker (a vhost per test).

mod coordination_support;
mod runtime_support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use runtime_support::*;

/// ceilometer.conf in `dir` plus a ceilometer.conf.d/ whose later file fixes the notification
/// transport, with Ceilometer's option names for the topics the agent consumes and publishes on.
/// The RPC bus (`[DEFAULT] transport_url`) is elsewhere, as where notifications have a broker of
/// their own: Ceilometer's agents never use it then.
fn write_conf(dir: &Path, url: &str) {
    std::fs::write(
        dir.join("ceilometer.conf"),
        "[DEFAULT]\n\
         transport_url = amqp://guest:guest@127.0.0.1:1/rpc\n\
         rootwrap_config = /etc/ceilometer/rootwrap.conf\n\
         [oslo_messaging_notifications]\n\
         topics = confnotif\n\
         [oslo_messaging_rabbit]\n\
         heartbeat_timeout_threshold = 17\n\
         heartbeat_rate = 3\n\
         [publisher_notifier]\n\
         metering_topic = ${notification_prefix}topic\n\
         notification_prefix = conf\n\
         [notification]\n\
         workers = 2\n\
         notification_control_exchanges = ceilometer\n\
         notification_control_exchanges = nova\n",
    )
    .unwrap();
    let d = dir.join("ceilometer.conf.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("10-bad.conf"),
        "[oslo_messaging_notifications]\ntransport_url = amqp://x:y@127.0.0.1:2/\n",
    )
    .unwrap();
    std::fs::write(
        d.join("20-transport.conf"),
        format!("[oslo_messaging_notifications]\ntransport_url = {url}\n"),
    )
    .unwrap();
}

#[test]
fn run_takes_transport_and_topics_from_ceilometer_conf() {
    let broker = Broker::new("oslo-conf");
    let dir = config_dir(&settings(100, 20));
    let url = broker.url();
    write_conf(dir.path(), &url);
    let rt = runtime();
    // The queues the options name: consumed `confnotif.sample`, published `conftopic.sample`.
    rt.block_on(declare(
        &url,
        "confnotif.sample",
        "ceilometer",
        "confnotif.sample",
        false,
    ));
    rt.block_on(declare(
        &url,
        "conftopic.sample",
        "ceilometer",
        "conftopic.sample",
        false,
    ));
    let log = dir.path().join("agent.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("run")
        .arg("--config-file")
        .arg(dir.path().join("ceilometer.conf"))
        .arg("--config-dir")
        .arg(dir.path().join("ceilometer.conf.d"))
        .env("RUST_LOG", "info,lapin=warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn ceilo");
    // Stopped on drop, also when an assertion fails first.
    let agent = Agent::adopt(child, log);
    let mut input = polling_messages("conf", 50);
    for (_, key, _) in &mut input {
        *key = "confnotif.sample".into();
    }
    rt.block_on(publish(&url, &input));
    let got = rt.block_on(collect(
        &url,
        "conftopic.sample",
        Duration::from_secs(30),
        distinct_ids(50),
    ));
    // Every connection of the agent negotiated the conf's heartbeat timeout (the management
    // API lists connections a few seconds late).
    let mut timeouts: Vec<u64> = Vec::new();
    wait_until("the agent's connections", Duration::from_secs(30), || {
        timeouts = broker
            .get(&format!("/vhosts/{}/connections", broker.vhost))
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c.pointer("/client_properties/connection_name")
                    .and_then(serde_json::Value::as_str)
                    .is_some_and(|n| n.starts_with("ceilo "))
            })
            .filter_map(|c| c.get("timeout").and_then(serde_json::Value::as_u64))
            .collect();
        !timeouts.is_empty()
    });
    let (status, text) = agent.terminate_with_log();
    let ids: HashSet<String> = got
        .iter()
        .flat_map(|r| meter_messages(&r.body))
        .filter_map(|m| m["message_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(ids.len(), 50, "log:\n{text}");
    assert!(status.success(), "{status:?}\n{text}");
    assert!(
        !timeouts.is_empty() && timeouts.iter().all(|&t| t == 17),
        "heartbeat timeouts of the agent's connections: {timeouts:?}"
    );
    assert!(
        text.contains("ceilometer.conf options ceilo does not implement, ignored")
            && text.contains("[DEFAULT] rootwrap_config"),
        "{text}"
    );
    assert!(
        text.contains("unknown ceilometer.conf option")
            && text.contains("[publisher_notifier] notification_prefix"),
        "{text}"
    );
}

fn ceilo(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ceilo");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_reads_the_same_files_and_names_file_and_line() {
    let dir = config_dir(TELEMETRY);
    write_conf(dir.path(), "amqp://guest:guest@127.0.0.1:5672/%2f");
    let conf = dir.path().join("ceilometer.conf");
    let conf_d = dir.path().join("ceilometer.conf.d");
    let (ok, text) = ceilo(&[
        "check",
        "--config-file",
        conf.to_str().unwrap(),
        "--config-dir",
        conf_d.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    assert!(
        text.contains("warning: [DEFAULT] rootwrap_config: not implemented by ceilo, ignored"),
        "{text}"
    );
    assert!(
        text.contains("[publisher_notifier] notification_prefix: unknown option"),
        "{text}"
    );
    // Read, and honoured in ceilo's own way: a note saying how, not "ignored".
    assert!(
        text.contains("note: [oslo_messaging_rabbit] heartbeat_rate = 3: ceilo's AMQP client sends a heartbeat after half the timeout")
            && !text.contains("heartbeat_rate: not implemented"),
        "{text}"
    );
    std::fs::write(
        conf_d.join("30-broken.conf"),
        "[DEFAULT]\n\n[oslo_messaging_rabbit\n",
    )
    .unwrap();
    let (ok, text) = ceilo(&[
        "check",
        "--config-file",
        conf.to_str().unwrap(),
        "--config-dir",
        conf_d.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "{}:3: Invalid section (must end with ])",
            conf_d.join("30-broken.conf").display()
        )),
        "{text}"
    );
}

#[test]
fn convert_signs_with_the_conf_secret() {
    let dir = config_dir(TELEMETRY);
    let conf = dir.path().join("ceilometer.conf");
    std::fs::write(&conf, "[publisher]\ntelemetry_secret = conf-secret\n").unwrap();
    let body = polling_body("c1");
    let convert = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
            .arg("convert")
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&body).unwrap();
        stdin.write_all(b"\n").unwrap();
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        line["samples"][0]["message_signature"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let with_conf = convert(&["--config-file", conf.to_str().unwrap()]);
    let with_flag = convert(&["--secret", "conf-secret"]);
    let default = convert(&[]);
    assert_eq!(with_conf, with_flag);
    assert_ne!(with_conf, default);
}

/// `ceilo convert` of one body with `args`: the JSON line it prints.
fn convert_line(args: &[&str], body: &str) -> serde_json::Value {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("convert")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{body}").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn convert_keeps_the_user_metadata_the_conf_reserves() {
    let dir = config_dir(TELEMETRY);
    let conf = dir.path().join("ceilometer.conf");
    // A nova notification whose server metadata holds keys of two namespaces and a plain key;
    // `metering.host` collides with the sample's own `host` metadata and is never kept.
    let body = serde_json::json!({
        "event_type": "compute.instance.exists", "priority": "INFO",
        "publisher_id": "compute.node-1", "message_id": "m-1",
        "timestamp": "2025-01-01 00:00:00",
        "payload": {
            "instance_id": "i-1", "memory_mb": 512, "vcpus": 1, "tenant_id": "p", "user_id": "u",
            "host": "node-1",
            "metadata": {"metering.stack": "s1", "metering.host": "other",
                         "custom.team.name": "telemetry", "fqdn": "vm1.example"}
        }
    })
    .to_string();
    let user_metadata = |args: &[&str]| {
        let line = convert_line(args, &body);
        let memory = line["samples"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["counter_name"] == "memory"))
            .unwrap_or_else(|| panic!("no memory sample: {line}"))
            .clone();
        memory["resource_metadata"]["user_metadata"].clone()
    };
    // Ceilometer's defaults: the `metering.` namespace.
    std::fs::write(&conf, "[DEFAULT]\n").unwrap();
    let args = ["--config-file", conf.to_str().unwrap()];
    assert_eq!(user_metadata(&args), serde_json::json!({"stack": "s1"}));
    assert_eq!(user_metadata(&[]), serde_json::json!({"stack": "s1"}));
    // Another namespace, a reserved key and a length limit.
    std::fs::write(
        &conf,
        "[DEFAULT]\nreserved_metadata_namespace = custom.\nreserved_metadata_keys = fqdn\n\
         reserved_metadata_length = 4\n",
    )
    .unwrap();
    assert_eq!(
        user_metadata(&args),
        serde_json::json!({"team_name": "tele", "fqdn": "vm1."})
    );
    // ... honoured, so `check` does not call them ignored.
    let (ok, text) = ceilo(&["check", "--config-file", conf.to_str().unwrap()]);
    assert!(ok && !text.contains("reserved_metadata"), "{text}");
    // No namespace and no keys: no user_metadata at all.
    std::fs::write(&conf, "[DEFAULT]\nreserved_metadata_namespace =\n").unwrap();
    assert_eq!(user_metadata(&args), serde_json::Value::Null);
}

/// Enough that tooz's ring of two random member ids gives both a share (it gives all sixteen
/// to one about once in 30 000 pairs).
const PARTITIONS: usize = 16;

/// A large cloud's ceilometer.conf, unchanged: the pool's Redis in `[coordination]
/// backend_url` and its `partitioning_group_prefix`, and pre-Stein Ceilometer's
/// `[notification] workload_partitioning` with `pipeline_processing_queues`. Nothing about
/// partitions in ceilo.yaml: two agents still spread the transform partitions between them
/// through the pool's Redis, in the group `ceilo-transform-<prefix>` (each owns what tooz's
/// ring of the two members gives it, each partition queue has one consumer, both count two
/// members).
#[test]
fn coordination_and_workload_partitioning_from_ceilometer_conf_spread_the_transform_partitions() {
    let broker = Broker::new("oslo-partitions");
    let pool = coordination_support::Group::new("oslo-partitions");
    let dir = config_dir(&settings(100, 20));
    std::fs::write(dir.path().join("pipeline.yaml"), STATEFUL_PIPELINE).unwrap();
    std::fs::write(
        dir.path().join("ceilometer.conf"),
        format!(
            "[DEFAULT]\ntransport_url = {url}\n\
             [notification]\nworkload_partitioning = true\npipeline_processing_queues = {PARTITIONS}\n\
             [polling]\npartitioning_group_prefix = {prefix}\n\
             [coordination]\nbackend_url = {redis}?timeout=2\n",
            url = broker.url(),
            prefix = pool.prefix,
            redis = coordination_support::REDIS,
        ),
    )
    .unwrap();
    let agents: Vec<Agent> = (0..2)
        .map(|_| Agent::start_with_conf(&dir.path().join("ceilometer.conf")))
        .collect();
    let group = format!("ceilo-transform-{}", pool.prefix);
    let series = |name: &str| format!("{name}{{group=\"{group}\"");
    let logs = || {
        agents
            .iter()
            .map(Agent::log_text)
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    let mut seen = (Vec::new(), Vec::new());
    let spread = wait_while_not(Duration::from_secs(60), || {
        let Some(members) = agents
            .iter()
            .map(|a| coordination_support::member_id(&a.log_text()))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let owned: Vec<f64> = agents
            .iter()
            .map(|a| metric(a, &series("ceilo_coordination_resources_owned")))
            .collect();
        let expected = coordination_support::ring_shares(&members, PARTITIONS);
        let counted: Vec<f64> = agents
            .iter()
            .map(|a| metric(a, &series("ceilo_coordination_group_members")))
            .collect();
        let one_consumer_each = (0..PARTITIONS)
            .all(|p| broker.queue(&format!("ceilo-transform.{p}"))["consumers"].as_u64() == Some(1));
        seen = (owned.clone(), expected.clone());
        owned == expected && counted == [2.0, 2.0] && one_consumer_each
    });
    assert!(
        spread,
        "not spread in 60 s: owned {:?}, ring {:?}\n{}",
        seen.0,
        seen.1,
        logs()
    );
    assert!(
        seen.1.iter().all(|&n| n > 0.0),
        "the ring gives both a share: {:?}",
        seen.1
    );
    let text = logs();
    assert!(
        text.contains("workload_partitioning = true") && !text.contains("unknown ceilometer.conf option"),
        "{text}"
    );
    for agent in agents {
        let log = agent.log.clone();
        let status = agent.terminate();
        assert!(
            status.success(),
            "{status}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
    }
}

/// A `[coordination] backend_url` ceilo cannot use (the pool's ZooKeeper, set for Ceilometer's
/// polling agents) does not stop the notification agent: it runs its partitions unspread (it
/// consumes every partition queue, as without coordination) and says why.
#[test]
fn an_unusable_coordination_backend_leaves_the_transform_partitions_unspread() {
    let broker = Broker::new("oslo-zookeeper");
    let dir = config_dir(&settings(100, 20));
    std::fs::write(dir.path().join("pipeline.yaml"), STATEFUL_PIPELINE).unwrap();
    std::fs::write(
        dir.path().join("ceilometer.conf"),
        format!(
            "[DEFAULT]\ntransport_url = {}\n\
             [notification]\nworkload_partitioning = true\npipeline_processing_queues = 2\n\
             [coordination]\nbackend_url = zookeeper://127.0.0.1:2181\n",
            broker.url()
        ),
    )
    .unwrap();
    let agent = Agent::start_with_conf(&dir.path().join("ceilometer.conf"));
    wait_until("both partition queues consumed", Duration::from_secs(60), || {
        (0..2).all(|p| broker.queue(&format!("ceilo-transform.{p}"))["consumers"].as_u64() == Some(1))
    });
    let text = agent.log_text();
    assert!(
        text.contains("transform partitions not spread") && text.contains("zookeeper"),
        "{text}"
    );
    assert!(agent.terminate().success(), "{text}");
}

/// Polls `f` every 200 ms until it holds (true) or `timeout` passes (false).
fn wait_while_not(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    true
}

/// A notification of `event_type` with `payload`, as `ceilo convert` reads it.
fn body(event_type: &str, payload: serde_json::Value) -> String {
    serde_json::json!({
        "event_type": event_type, "priority": "INFO", "publisher_id": "p", "message_id": "m",
        "timestamp": "2025-01-01 00:00:00", "payload": payload,
    })
    .to_string()
}

#[test]
fn check_and_convert_read_the_definition_files_wherever_the_conf_names_them() {
    let etc = tempfile::tempdir().unwrap();
    let defs = tempfile::tempdir().unwrap();
    let (mine, theirs) = (defs.path().join("mine.d"), defs.path().join("theirs.d"));
    for d in [&mine, &theirs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let gauge = |name: &str, event_type: &str, unit: &str| {
        format!(
            "metric:\n  - {{name: {name}, event_type: {event_type}, type: gauge, unit: {unit}, \
             volume: 1, resource_id: $.payload.id}}\n"
        )
    };
    // The first directory wins a meter both define; the packaged meters.d comes last.
    std::fs::write(mine.join("a.yaml"), gauge("probe.meter", "probe", "mine")).unwrap();
    std::fs::write(theirs.join("a.yaml"), gauge("probe.meter", "probe", "theirs")).unwrap();
    std::fs::write(theirs.join("b.yaml"), gauge("probe.other", "probe", "theirs")).unwrap();
    std::fs::write(
        defs.path().join("events.yaml"),
        "- event_type: probe\n  traits:\n    n:\n      fields: payload.n\n      type: int\n",
    )
    .unwrap();
    std::fs::write(defs.path().join("samples.yaml"), "sources: []\nsinks: []\n").unwrap();
    std::fs::write(
        defs.path().join("events-pipeline.yaml"),
        "sources: []\nsinks: []\n",
    )
    .unwrap();
    let conf = etc.path().join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\npipeline_cfg_file = {d}/samples.yaml\n\
             event_pipeline_cfg_file = {d}/events-pipeline.yaml\n\
             [event]\ndefinitions_cfg_file = {d}/events.yaml\n\
             [meter]\nmeter_definitions_dirs = {mine}\nmeter_definitions_dirs = {theirs}\n\
             meter_definitions_dirs = /usr/lib/python3/dist-packages/ceilometer/data/meters.d\n",
            d = defs.path().display(),
            mine = mine.display(),
            theirs = theirs.display(),
        ),
    )
    .unwrap();
    let args = ["--config-file", conf.to_str().unwrap()];

    let line = convert_line(&args, &body("probe", serde_json::json!({"id": "r", "n": 7})));
    let units: std::collections::BTreeMap<String, String> = line["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["counter_name"].as_str().unwrap().to_owned(),
                s["counter_unit"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        units,
        [
            ("probe.meter".to_owned(), "mine".to_owned()),
            ("probe.other".to_owned(), "theirs".to_owned())
        ]
        .into(),
        "{line}"
    );
    let traits = line["events"][0]["traits"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(traits.contains(&serde_json::json!(["n", 2, 7])), "{line}");
    let packaged = convert_line(
        &args,
        &body(
            "image.send",
            serde_json::json!({"image_id": "i", "bytes_sent": 5}),
        ),
    );
    let names: Vec<&str> = packaged["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["counter_name"].as_str())
        .collect();
    assert_eq!(names, ["image.serve", "image.download"], "{packaged}");

    let (ok, text) = ceilo(&["check", "--config-file", conf.to_str().unwrap()]);
    assert!(ok, "{text}");
    for read in [
        format!("{}, {}, <shipped>/meters.d", mine.display(), theirs.display()),
        defs.path().join("events.yaml").display().to_string(),
        defs.path().join("samples.yaml").display().to_string(),
        defs.path().join("events-pipeline.yaml").display().to_string(),
    ] {
        assert!(text.contains(&read), "{read}: {text}");
    }
    // What is wrong in them is named by file and line, as for ceilo's own directory.
    std::fs::write(defs.path().join("events-pipeline.yaml"), "sources: [\n").unwrap();
    let (ok, text) = ceilo(&["check", "--config-file", conf.to_str().unwrap()]);
    assert!(!ok, "{text}");
    assert!(
        text.contains(&format!(
            "{}:",
            defs.path().join("events-pipeline.yaml").display()
        )),
        "{text}"
    );
}

/// `[notification] pipelines` names the pipelines that run, as Ceilometer loads its pipeline
/// managers: the other one's files are not read (broken here, and nothing says so) and it
/// makes nothing.
#[test]
fn pipelines_run_only_the_managers_the_conf_names() {
    let nova = body(
        "compute.instance.create.end",
        serde_json::json!({"instance_id": "i-1", "tenant_id": "p", "user_id": "u", "memory_mb": 512}),
    );
    for (pipelines, broken) in [
        ("meter", ["event_pipeline.yaml", "event_definitions.yaml"]),
        ("event", ["pipeline.yaml", "meters.d/broken.yaml"]),
    ] {
        let dir = config_dir(TELEMETRY);
        for file in broken {
            std::fs::write(dir.path().join(file), "{ not: yaml: at all\n").unwrap();
        }
        let conf = dir.path().join("ceilometer.conf");
        std::fs::write(&conf, format!("[notification]\npipelines = {pipelines}\n")).unwrap();
        let args = ["--config-file", conf.to_str().unwrap()];
        let (ok, report) = ceilo(&[&["check"], &args[..]].concat());
        assert!(ok, "pipelines = {pipelines}: {report}");
        let line = convert_line(&args, &nova);
        let (samples, events) = (
            line["samples"].as_array().map_or(0, Vec::len),
            line["events"].as_array().map_or(0, Vec::len),
        );
        match pipelines {
            "meter" => assert!(samples > 0 && events == 0, "{line}"),
            _ => assert!(samples == 0 && events == 1, "{line}"),
        }
    }

    // `run` reads the files as `check` and `convert` do: it starts, and converts.
    let broker = Broker::new("oslo-pipelines");
    let dir = config_dir(TELEMETRY);
    std::fs::write(dir.path().join("event_pipeline.yaml"), "{ broken\n").unwrap();
    let conf = dir.path().join("ceilometer.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\ntransport_url = {}\n[notification]\npipelines = meter\n",
            broker.url()
        ),
    )
    .unwrap();
    let agent = Agent::start_with_conf(&conf);
    let rt = runtime();
    rt.block_on(declare_metering(&broker.url()));
    wait_until("the agent consuming", Duration::from_secs(30), || {
        broker.consumed_queues().contains("notifications.sample")
    });
    rt.block_on(publish(&broker.url(), &polling_messages("pipes", 5)));
    assert_eq!(
        samples_published(&rt, &broker.url(), 5),
        5,
        "{}",
        agent.log_text()
    );
    assert!(agent.terminate().success());
}
