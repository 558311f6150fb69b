//! Helpers for the runtime tests against the real RabbitMQ at 127.0.0.1:5672 (guest/guest):
//! a fresh vhost per test (created and deleted through the management API), the `ceilo` binary
//! as a child process with a temporary config directory, and a lapin publisher/collector.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value as Json};

const API: &str = "http://127.0.0.1:15672/api";

pub fn curl(method: &str, path: &str, body: Option<&str>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-u",
        "guest:guest",
        "-X",
        method,
        "-H",
        "content-type: application/json",
    ]);
    if let Some(b) = body {
        cmd.args(["-d", b]);
    }
    let out = cmd.arg(format!("{API}{path}")).output().expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A vhost of its own, deleted on drop.
pub struct Broker {
    pub vhost: String,
}

impl Broker {
    pub fn new(tag: &str) -> Broker {
        static N: AtomicUsize = AtomicUsize::new(0);
        let vhost = format!(
            "ceilo-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        curl("PUT", &format!("/vhosts/{vhost}"), None);
        let broker = Broker { vhost };
        broker.allow_access();
        broker
    }

    /// Let guest use the vhost (configure, write, read everything).
    pub fn allow_access(&self) {
        curl(
            "PUT",
            &format!("/permissions/{}/guest", self.vhost),
            Some(r#"{"configure":".*","write":".*","read":".*"}"#),
        );
    }

    /// Give guest these permissions on the vhost (RabbitMQ's configure/write/read regexes).
    pub fn set_permissions(&self, configure: &str, write: &str, read: &str) {
        let body = json!({"configure": configure, "write": write, "read": read});
        curl(
            "PUT",
            &format!("/permissions/{}/guest", self.vhost),
            Some(&body.to_string()),
        );
    }

    /// The queues of the vhost that have a consumer now (`rabbitmqctl list_consumers`, which
    /// asks the queues themselves: the management API's counts lag by seconds).
    pub fn consumed_queues(&self) -> std::collections::BTreeSet<String> {
        let out = Command::new("rabbitmqctl")
            .args([
                "list_consumers",
                "-q",
                "--no-table-headers",
                "-p",
                &self.vhost,
                "queue_name",
            ])
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Refuse guest's new connections to the vhost (open ones stay open).
    pub fn deny_access(&self) {
        curl("DELETE", &format!("/permissions/{}/guest", self.vhost), None);
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:5672/{}", self.vhost)
    }

    pub fn get(&self, path: &str) -> Json {
        serde_json::from_str(&curl("GET", path, None)).unwrap_or(Json::Null)
    }

    /// The management view of a queue (`messages_ready`, `messages_unacknowledged`, ...).
    pub fn queue(&self, name: &str) -> Json {
        self.get(&format!("/queues/{}/{name}", self.vhost))
    }

    /// Drops every message ready in queue `name`.
    pub fn purge(&self, name: &str) {
        curl("DELETE", &format!("/queues/{}/{name}/contents", self.vhost), None);
    }

    /// (ready, unacked) of a queue, once the management stats have caught up.
    pub fn counts(&self, name: &str) -> (u64, u64) {
        let q = self.queue(name);
        let n = |k: &str| q.get(k).and_then(Json::as_u64).unwrap_or(0);
        (n("messages_ready"), n("messages_unacknowledged"))
    }

    pub fn set_policy(&self, name: &str, pattern: &str, definition: Json) {
        let body =
            json!({"pattern": pattern, "definition": definition, "apply-to": "queues", "priority": 10});
        curl(
            "PUT",
            &format!("/policies/{}/{name}", self.vhost),
            Some(&body.to_string()),
        );
    }

    /// Wait until the broker applies policy `name` to `queue` (policies apply asynchronously;
    /// a test that relies on one must not start before it is in force).
    pub fn wait_policy(&self, queue: &str, name: &str) {
        wait_until(
            &format!("policy {name} on {queue}"),
            Duration::from_secs(15),
            || self.queue(queue).get("policy").and_then(Json::as_str) == Some(name),
        );
    }

    /// Make the broker refuse (nack) every publish to `metering.sample`, under policy `stall`:
    /// a publisher there can never confirm. Declares the queue and returns once the policy is
    /// in force; `clear_policy("stall")` lifts it.
    pub fn stall_metering(&self, rt: &tokio::runtime::Runtime) {
        self.set_policy(
            "stall",
            "^metering\\.sample$",
            serde_json::json!({"max-length": 0, "overflow": "reject-publish"}),
        );
        rt.block_on(declare_metering(&self.url()));
        self.wait_policy("metering.sample", "stall");
    }

    pub fn clear_policy(&self, name: &str) {
        curl("DELETE", &format!("/policies/{}/{name}", self.vhost), None);
    }

    /// Force-close every connection to this vhost (what a broker restart looks like to clients).
    pub fn close_connections(&self) -> usize {
        self.close_connections_named("")
    }

    /// Force-close the connections to this vhost whose client-given name (e.g. the agent's
    /// `ceilo consume-N notifications.sample`) contains `part`; how many there were.
    pub fn close_connections_named(&self, part: &str) -> usize {
        let conns = self.get(&format!("/vhosts/{}/connections", self.vhost));
        let names: Vec<String> = conns
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c.pointer("/client_properties/connection_name")
                    .and_then(Json::as_str)
                    .is_some_and(|n| n.contains(part))
            })
            .filter_map(|c| c.get("name").and_then(Json::as_str).map(str::to_owned))
            .collect();
        for n in &names {
            let encoded: String = n
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            curl("DELETE", &format!("/connections/{encoded}"), None);
        }
        names.len()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        curl("DELETE", &format!("/vhosts/{}", self.vhost), None);
    }
}

/// A config directory: ceilo.yaml with `settings` (YAML), the default pipelines, meters.d.
pub fn config_dir(settings: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
    std::fs::write(dir.path().join("ceilo.yaml"), settings).expect("ceilo.yaml");
    for f in ["pipeline.yaml", "event_pipeline.yaml", "event_definitions.yaml"] {
        if repo.join(f).exists() {
            std::fs::copy(repo.join(f), dir.path().join(f)).expect(f);
        }
    }
    std::fs::create_dir(dir.path().join("meters.d")).expect("meters.d");
    for entry in std::fs::read_dir(repo.join("meters.d")).expect("config/meters.d") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, dir.path().join("meters.d").join(p.file_name().expect("name"))).expect("copy");
    }
    dir
}

/// The agent binary, running.
pub struct Agent {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Agent {
    pub fn start(config_dir: &Path, url: &str) -> Agent {
        Agent::spawn(Command::new(env!("CARGO_BIN_EXE_ceilo")), config_dir, url)
    }

    /// As [`Agent::start`], at ceilo's own default log levels (`RUST_LOG` unset), as an operator
    /// runs it.
    pub fn start_at_default_levels(config_dir: &Path, url: &str) -> Agent {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ceilo"));
        command.env_remove("RUST_LOG");
        Agent::spawn(command, config_dir, url)
    }

    /// As [`Agent::start`], with `RUST_LOG` set to `filter`.
    pub fn start_logging(config_dir: &Path, url: &str, filter: &str) -> Agent {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ceilo"));
        command.env("RUST_LOG", filter);
        Agent::spawn(command, config_dir, url)
    }

    /// As [`Agent::start`], as `user`:`group` with no other groups (by util-linux's `setpriv`):
    /// an agent without root's rights, as a packaged service runs.
    pub fn start_as(user: &str, group: &str, config_dir: &Path, url: &str) -> Agent {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={user}"))
            .arg(format!("--regid={group}"))
            .arg("--clear-groups")
            .arg(env!("CARGO_BIN_EXE_ceilo"));
        Agent::spawn(command, config_dir, url)
    }

    /// `ceilo run --config-file CONF`: a ceilometer.conf alone, as Ceilometer's deployments
    /// start their agents; the log beside it.
    pub fn start_with_conf(conf: &Path) -> Agent {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ceilo"));
        command.args(["run", "--config-file"]).arg(conf);
        Agent::logged(command, conf.parent().expect("the conf's directory"))
    }

    /// As [`Agent::start`], with more arguments for `ceilo run` (`--agent polling`, ...).
    pub fn start_with_args(config_dir: &Path, url: &str, args: &[&str]) -> Agent {
        Agent::spawn_with(Command::new(env!("CARGO_BIN_EXE_ceilo")), config_dir, url, args)
    }

    fn spawn(command: Command, config_dir: &Path, url: &str) -> Agent {
        Agent::spawn_with(command, config_dir, url, &[])
    }

    fn spawn_with(mut command: Command, config_dir: &Path, url: &str, args: &[&str]) -> Agent {
        command
            .args(["run", "--config-dir"])
            .arg(config_dir)
            .args(["--transport-url", url])
            .args(args);
        Agent::logged(command, config_dir)
    }

    /// `command` started, its stderr in a log of its own in `dir`; at info, lapin at warn,
    /// unless the command says otherwise of `RUST_LOG`.
    fn logged(mut command: Command, dir: &Path) -> Agent {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!("agent-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        if !command.get_envs().any(|(key, _)| key == "RUST_LOG") {
            command.env("RUST_LOG", "info,lapin=warn");
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn ceilo");
        Agent::adopt(child, log)
    }

    /// An agent started by the test itself (its own arguments and environment).
    pub fn adopt(child: Child, log: PathBuf) -> Agent {
        Agent {
            child: Some(child),
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM and wait.
    /// [`Agent::terminate`], then the whole log (written up to the exit).
    pub fn terminate_with_log(self) -> (ExitStatus, String) {
        let log = self.log.clone();
        let status = self.terminate();
        (status, std::fs::read_to_string(log).expect("the agent's log"))
    }

    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "agent did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `ceilo <args> --config-dir DIR` to its end, with its exit code and its stdout and stderr
/// (killed after 30 s: an agent that starts is a failure where this is called).
pub fn ceilo_to_end(args: &[&str], dir: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .args(args)
        .arg("--config-dir")
        .arg(dir)
        .env("RUST_LOG", "info,lapin=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ceilo");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The /metrics address the agent logged when it started its listener on port 0.
pub fn metrics_addr(agent: &Agent) -> Option<String> {
    let log = agent.log_text();
    let line = log.lines().find(|l| l.contains("telemetry: serving"))?;
    let at = line.find("127.0.0.1:")?;
    let port: String = line[at + "127.0.0.1:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(format!("127.0.0.1:{port}"))
}

/// The agent's series whose name (and first labels, when given: `name{label="value"`) start
/// with `name`, summed from its /metrics; 0 before they exist.
pub fn metric(agent: &Agent, name: &str) -> f64 {
    let Some(addr) = metrics_addr(agent) else {
        return 0.0;
    };
    let out = Command::new("curl")
        .args(["-s", &format!("http://{addr}/metrics")])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ', ',', '}']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Wait until `f` holds, or panic with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `VmHWM:` (peak RSS) or `VmRSS:` of a process from /proc, in bytes (0 once it is gone).
pub fn memory_of(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A publisher is down: for ten seconds, the agent must keep every one of the `total` deliveries on
/// `queue` (ready + unacked; nothing acked, nothing dropped), never more than `prefetch` of them
/// unacked, and its RSS flat: within 8 MiB of what it was when the hold began.
pub fn assert_held_while_down(broker: &Broker, queue: &str, total: u64, prefetch: u16, agent_pid: u32) {
    const SLACK: u64 = 8 << 20;
    wait_until(
        "the broker showing unacked deliveries",
        Duration::from_secs(30),
        || broker.counts(queue).1 > 0,
    );
    let start = memory_of(agent_pid, "VmRSS:");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let (ready, unacked) = broker.counts(queue);
        assert!(
            unacked <= u64::from(prefetch),
            "unacked {unacked} > prefetch {prefetch}"
        );
        assert_eq!(
            ready + unacked,
            total,
            "ready {ready} + unacked {unacked} != {total}"
        );
        let rss = memory_of(agent_pid, "VmRSS:");
        assert!(
            rss <= start + SLACK,
            "RSS grew from {} to {} KiB while the publisher was down",
            start >> 10,
            rss >> 10
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Run `script` on an actix `System` over [`runtime()`] (the shape `ceilo run` starts), given
/// that runtime's handle.
pub fn on_actix_system<Fut: std::future::Future>(
    script: impl FnOnce(tokio::runtime::Handle) -> Fut,
) -> Fut::Output {
    let rt = runtime();
    let handle = rt.handle().clone();
    actix::System::with_tokio_rt(move || rt).block_on(script(handle))
}

/// Run `script` against `config`'s agent, started in-process with [`on_actix_system`]
/// (the whole agent but for signals and the telemetry endpoint's readiness).
pub fn with_in_process_agent<Fut: std::future::Future>(
    config: ceilo::agent::AgentConfig,
    script: impl FnOnce(ceilo::agent::Agent) -> Fut,
) -> Fut::Output {
    on_actix_system(move |handle| async move {
        let agent = ceilo::agent::Agent::start(config, handle, ceilo::telemetry::Readiness::default())
            .expect("agent starts");
        script(agent).await
    })
}

/// Publish bodies with confirms, as oslo would: topic exchange declared non-durable, and the
/// routing key's default queue declared and bound first, so nothing is lost before a consumer.
pub async fn publish(url: &str, messages: &[(String, String, Vec<u8>)]) {
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2);
    let with_props: Vec<_> = messages
        .iter()
        .map(|(e, k, b)| (e.clone(), k.clone(), b.clone(), props.clone()))
        .collect();
    publish_with_properties(url, &with_props).await;
}

/// [`publish`], each message with the AMQP properties given.
pub async fn publish_with_properties(url: &str, messages: &[(String, String, Vec<u8>, BasicProperties)]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    let mut declared = std::collections::HashSet::new();
    let mut confirms = Vec::new();
    for (exchange, key, body, props) in messages {
        if declared.insert(exchange.clone()) {
            ch.exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("exchange");
        }
        if declared.insert(format!("{exchange}\0{key}")) {
            ch.queue_declare(
                key.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("default queue");
            ch.queue_bind(
                key.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind default queue");
        }
        confirms.push(
            ch.basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                props.clone(),
            )
            .await
            .expect("publish"),
        );
    }
    for c in confirms {
        c.await.expect("confirm");
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Publish to exchanges that already exist, declaring nothing ([`publish`] declares them
/// non-durable, which a durable exchange refuses).
pub async fn publish_only(url: &str, messages: &[(String, String, Vec<u8>)]) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirms");
    for (exchange, key, body) in messages {
        let confirm = ch
            .basic_publish(
                exchange.as_str().into(),
                key.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish");
        confirm.await.expect("confirm");
    }
    let _ = conn.close(200, "bye".into()).await;
}

/// Declare (as the agent does) and bind a queue, so nothing published to it is lost.
/// The queue tests read the agent's samples from: `metering.sample` bound to
/// `ceilometer`/`metering.sample`, as a Ceilometer consumer would declare it.
pub async fn declare_metering(url: &str) {
    declare(url, "metering.sample", "ceilometer", "metering.sample", false).await;
}

/// The queue of a [`polled_vhost`] ([`declare_polled`]): what its polling agent sends.
pub const POLLED: &str = "polled";

/// Declare queue `polled` on `broker`'s vhost, bound where a polling agent sends
/// (`notifications.sample` on `ceilometer`).
pub fn declare_polled(rt: &tokio::runtime::Runtime, broker: &Broker) {
    rt.block_on(declare(
        &broker.url(),
        POLLED,
        "ceilometer",
        "notifications.sample",
        false,
    ));
}

/// A vhost of its own whose queue `polled` gets what a polling agent sends.
pub fn polled_vhost(rt: &tokio::runtime::Runtime, tag: &str) -> Broker {
    let broker = Broker::new(tag);
    declare_polled(rt, &broker);
    broker
}

/// Two [`polled_vhost`]s for two polling agents side by side (`<tag>-ceilometer`, `<tag>-ceilo`).
pub fn polled_vhosts(rt: &tokio::runtime::Runtime, tag: &str) -> (Broker, Broker) {
    (
        polled_vhost(rt, &format!("{tag}-ceilometer")),
        polled_vhost(rt, &format!("{tag}-ceilo")),
    )
}

/// A first cycle's samples by (meter, resource).
pub type FirstCycle = BTreeMap<(String, String), Json>;

/// A polled sample's meter and resource.
fn meter_and_resource(s: &Json) -> (String, String) {
    (
        s["counter_name"].as_str().unwrap_or_default().to_owned(),
        s["resource_id"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The first cycle of each of two [`polled_vhosts`]' agents: every (meter, resource) once. A
/// first cycle is whole when a sample of the second one comes: a (meter, resource) again;
/// `wait` bounds the wait for it.
pub fn first_cycles(
    rt: &tokio::runtime::Runtime,
    theirs: &Broker,
    ours: &Broker,
    wait: Duration,
) -> (FirstCycle, FirstCycle) {
    let first = |received: &[Received]| {
        let mut out = FirstCycle::new();
        for s in polled_samples_in(received) {
            out.entry(meter_and_resource(&s)).or_insert(s);
        }
        out
    };
    let until_a_second_cycle = || {
        let mut seen = std::collections::BTreeSet::new();
        move |r: &Received| {
            polled_samples(&r.body)
                .iter()
                .any(|s| !seen.insert(meter_and_resource(s)))
        }
    };
    let (theirs_url, ours_url) = (theirs.url(), ours.url());
    let (c, r) = rt.block_on(async {
        tokio::join!(
            collect(&theirs_url, POLLED, wait, until_a_second_cycle()),
            collect(&ours_url, POLLED, wait, until_a_second_cycle()),
        )
    });
    (first(&c), first(&r))
}

pub async fn declare(url: &str, queue: &str, exchange: &str, key: &str, durable: bool) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.exchange_declare(
        exchange.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("exchange");
    ch.queue_declare(
        queue.into(),
        QueueDeclareOptions {
            durable,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .expect("queue");
    ch.queue_bind(
        queue.into(),
        exchange.into(),
        key.into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .expect("bind");
    let _ = conn.close(200, "bye".into()).await;
}

/// Messages ready in a queue, exactly and now (a passive declare; the management API lags).
pub async fn ready_count(url: &str, queue: &str) -> u32 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let q = ch
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("passive declare");
    let _ = conn.close(200, "bye".into()).await;
    q.message_count()
}

/// A consumed message: body and string headers.
pub struct Received {
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    pub routing_key: String,
    /// All its AMQP properties, headers included with their types.
    pub properties: BasicProperties,
}

impl Received {
    /// The value of header `name` (its text), if the message has it.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Consume `queue` until `done(all so far)` or `timeout`; acks what it takes.
pub async fn collect(
    url: &str,
    queue: &str,
    timeout: Duration,
    mut done: impl FnMut(&Received) -> bool,
) -> Vec<Received> {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    ch.basic_qos(500, BasicQosOptions::default()).await.expect("qos");
    let mut consumer = ch
        .basic_consume(
            queue.into(),
            "test-collector".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("consume");
    let mut out: Vec<Received> = Vec::new();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let next = tokio::time::timeout_at(deadline, consumer.next()).await;
        let Ok(Some(Ok(d))) = next else { break };
        let headers = d
            .properties
            .headers()
            .as_ref()
            .map(|t| {
                t.inner()
                    .iter()
                    .map(|(k, v)| {
                        let v = match v {
                            lapin::types::AMQPValue::LongString(s) => {
                                String::from_utf8_lossy(s.as_bytes()).into_owned()
                            }
                            other => format!("{other:?}"),
                        };
                        (k.to_string(), v)
                    })
                    .collect()
            })
            .unwrap_or_default();
        d.acker.ack(BasicAckOptions::default()).await.expect("ack");
        out.push(Received {
            body: d.data,
            headers,
            routing_key: d.routing_key.to_string(),
            properties: d.properties,
        });
        if out.last().is_some_and(&mut done) {
            break;
        }
    }
    let _ = conn.close(200, "bye".into()).await;
    out
}

/// The meter messages inside one oslo 2.0 notification body (payload = list of them).
pub fn meter_messages(body: &[u8]) -> Vec<Json> {
    let outer: Json = serde_json::from_slice(body).expect("outer json");
    let inner: Json =
        serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message")).expect("inner");
    inner["payload"].as_array().cloned().unwrap_or_default()
}

/// The samples of a telemetry.polling notification (what the polling agent sends: payload
/// `{"samples": [...]}`).
pub fn polled_samples(body: &[u8]) -> Vec<Json> {
    let outer: Json = serde_json::from_slice(body).expect("outer json");
    let inner: Json =
        serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message")).expect("inner");
    assert_eq!(inner["event_type"], "telemetry.polling", "{inner}");
    inner["payload"]["samples"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// [`polled_samples`] of every notification of `received`, in order.
pub fn polled_samples_in(received: &[Received]) -> Vec<Json> {
    received.iter().flat_map(|r| polled_samples(&r.body)).collect()
}

/// A telemetry.polling notification (what the polling agent sends) carrying one sample whose
/// id is `id`: the agent republishes it with `message_id` = `id`.
pub fn polling_body(id: &str) -> Vec<u8> {
    let sample = json!({
        "source": "openstack", "counter_name": "cpu", "counter_type": "cumulative", "counter_unit": "ns",
        "counter_volume": 1000, "user_id": "u", "user_name": null, "project_id": "p", "project_name": null,
        "resource_id": "r", "timestamp": "2025-03-14T09:45:00.123456+00:00", "resource_metadata": {},
        "message_id": id, "monotonic_time": null, "message_signature": "x"
    });
    let inner = json!({
        "message_id": format!("m-{id}"), "publisher_id": "ceilometer.polling", "event_type": "telemetry.polling",
        "priority": "SAMPLE", "payload": {"samples": [sample]}, "timestamp": "2025-03-14 09:45:00.123456",
        "_unique_id": format!("u{id}")
    });
    json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

/// `(exchange, routing key, body)` for `n` polling notifications with ids `<prefix>-<i>`.
pub fn polling_messages(prefix: &str, n: usize) -> Vec<(String, String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                "ceilometer".to_owned(),
                "notifications.sample".to_owned(),
                polling_body(&format!("{prefix}-{i}")),
            )
        })
        .collect()
}

/// The samples in what `metering.sample` gets until `n` distinct sample ids have come (60 s
/// at most).
pub fn samples_published(rt: &tokio::runtime::Runtime, url: &str, n: usize) -> usize {
    let got = rt.block_on(collect(
        url,
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(n),
    ));
    got.iter().map(|r| meter_messages(&r.body).len()).sum()
}

/// A `done` for [`collect`]: true once `n` distinct sample ids have been seen.
pub fn distinct_ids(n: usize) -> impl FnMut(&Received) -> bool {
    let mut seen = std::collections::HashSet::new();
    move |r| {
        for m in meter_messages(&r.body) {
            if let Some(id) = m["message_id"].as_str() {
                seen.insert(id.to_owned());
            }
        }
        seen.len() >= n
    }
}

/// A `done` for [`collect`]: true once `n` messages have been seen.
pub fn messages(n: usize) -> impl FnMut(&Received) -> bool {
    let mut seen = 0;
    move |_| {
        seen += 1;
        seen >= n
    }
}

/// Settings for tests: the given transport knobs on top of the defaults.
pub fn settings(prefetch: u16, batch: usize) -> String {
    format!(
        "notification:\n  prefetch: {prefetch}\n  batch_size: {batch}\n  batch_timeout_ms: 20\n  workers: 2\n  \
         shutdown_timeout_s: 20\npublisher:\n  batch_size: 50\n  batch_timeout_ms: 20\n{TELEMETRY}"
    )
}

/// Tests run agents side by side: each gets a free port for /metrics.
pub const TELEMETRY: &str = "telemetry:\n  listen: 127.0.0.1:0\n";

/// cpu through a stateful sink, so that the agents republish to the transform partitions.
pub const STATEFUL_PIPELINE: &str = r#"sources:
  - name: cpu
    meters: [cpu]
    sinks: [cpu_sink]
sinks:
  - name: cpu_sink
    transformers:
      - name: rate_of_change
        parameters:
          target: {name: cpu_util, unit: "%", type: gauge, scale: "1.0"}
    publishers: ['notifier://?topic=cpu_util']
"#;

/// A pipeline.yaml that sends every meter to `publisher`.
pub fn pipeline_to(publisher: &str) -> String {
    format!(
        "sources:\n  - name: all\n    meters: ['*']\n    sinks: [out]\nsinks:\n  - name: out\n    \
         publishers: ['{publisher}']\n"
    )
}
