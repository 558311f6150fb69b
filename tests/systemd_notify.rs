//! `Type=notify` readiness as systemd sees it: the agent runs with `NOTIFY_SOCKET` naming a
//! unix datagram socket this test binds, against the real RabbitMQ (a vhost per test).
//! `READY=1` comes only once every queue consumes, `STOPPING=1` at SIGTERM, `RELOADING=1`
//! then `READY=1` around a SIGHUP reload.

mod runtime_support;

use std::collections::BTreeSet;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use runtime_support::*;

/// The queues the default settings consume (topic `notifications`, Ceilometer's priorities).
const QUEUES: [&str; 7] = [
    "notifications.audit",
    "notifications.critical",
    "notifications.debug",
    "notifications.error",
    "notifications.info",
    "notifications.sample",
    "notifications.warn",
];

/// `ceilo run` with `NOTIFY_SOCKET`, killed on drop.
struct Notified {
    child: Child,
    socket: UnixDatagram,
    log: std::path::PathBuf,
}

impl Notified {
    fn start(dir: &Path, extra: &[&str]) -> Notified {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        let log = dir.join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
            .args(["run", "--config-dir"])
            .arg(dir)
            .args(extra)
            .env("NOTIFY_SOCKET", &path)
            .env("RUST_LOG", "info,lapin=warn")
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn ceilo");
        Notified { child, socket, log }
    }

    /// The next notification, or None after `timeout`.
    fn receive(&self, timeout: Duration) -> Option<String> {
        self.socket.set_read_timeout(Some(timeout)).expect("timeout");
        let mut buf = [0u8; 4096];
        match self.socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("notify socket: {e}"),
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "agent did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ready_comes_once_every_queue_consumes_and_stopping_at_sigterm() {
    let broker = Broker::new("sd-notify");
    // guest may consume every queue but notifications.sample: six listeners consume, the
    // seventh is refused (ACCESS_REFUSED) and keeps retrying.
    broker.set_permissions(".*", ".*", r"^(?!notifications\.sample$).*");
    let dir = config_dir(&settings(100, 10));
    let mut agent = Notified::start(dir.path(), &["--transport-url", &broker.url()]);

    wait_until("six queues consumed", Duration::from_secs(60), || {
        broker.consumed_queues().len() == 6
    });
    assert!(!broker.consumed_queues().contains("notifications.sample"));
    assert_eq!(
        agent.receive(Duration::from_secs(3)),
        None,
        "notified while notifications.sample does not consume\n{}",
        agent.log_text()
    );

    broker.allow_access();
    let ready = agent.receive(Duration::from_secs(60));
    assert_eq!(ready.as_deref(), Some("READY=1"), "{}", agent.log_text());
    // READY=1 was sent after the seventh consumer started, so the broker has all of them.
    let expected: BTreeSet<String> = QUEUES.iter().map(|q| q.to_string()).collect();
    assert_eq!(broker.consumed_queues(), expected);
    assert_eq!(
        agent.receive(Duration::from_millis(500)),
        None,
        "READY=1 is sent once"
    );

    let killed_at = Instant::now();
    let status = agent.terminate();
    assert_eq!(
        agent.receive(Duration::from_secs(1)).as_deref(),
        Some("STOPPING=1")
    );
    assert!(status.success(), "{status:?}\n{}", agent.log_text());
    assert!(killed_at.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_sighup_reload_is_announced_with_reloading_then_ready() {
    let broker = Broker::new("sd-notify-reload");
    let dir = config_dir(&settings(100, 10));
    let mut agent = Notified::start(dir.path(), &["--transport-url", &broker.url()]);
    let ready = agent.receive(Duration::from_secs(60));
    assert_eq!(ready.as_deref(), Some("READY=1"), "{}", agent.log_text());

    let hup = |agent: &Notified| {
        let _ = Command::new("kill")
            .args(["-HUP", &agent.child.id().to_string()])
            .status();
    };
    // One reload that applies, one that is refused: both end with READY=1.
    for broken in [false, true] {
        if broken {
            std::fs::write(dir.path().join("pipeline.yaml"), "sources: [").expect("pipeline.yaml");
        }
        hup(&agent);
        let reloading = agent.receive(Duration::from_secs(10)).unwrap_or_default();
        let mut lines = reloading.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading:?}");
        let usec = lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC="));
        assert!(
            usec.is_some_and(|u| u.parse::<u64>().is_ok_and(|u| u > 0)),
            "{reloading:?}"
        );
        assert_eq!(
            agent.receive(Duration::from_secs(30)).as_deref(),
            Some("READY=1"),
            "{}",
            agent.log_text()
        );
    }
    let status = agent.terminate();
    assert_eq!(
        agent.receive(Duration::from_secs(1)).as_deref(),
        Some("STOPPING=1")
    );
    assert!(status.success(), "{status:?}\n{}", agent.log_text());
}

/// A queue counts from the moment its listener starts, not from its first connection: an
/// agent whose polling runs but whose broker does not answer yet is not ready.
#[test]
fn a_queue_whose_broker_has_not_answered_yet_holds_readiness_back() {
    let broker = Broker::new("sd-notify-silent");
    // Accepts connections (the kernel does) and never speaks AMQP: opening a consumer there
    // waits for its 10 s setup timeout, again and again.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_url = format!("amqp://guest:guest@{}/", silent.local_addr().expect("addr"));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let dir = config_dir(&format!(
        "transport_url: {}\npolling_enabled: true\nnotification:\n  messaging_urls: ['{silent_url}']\n  \
         shutdown_timeout_s: 5\ntelemetry:\n  listen: 127.0.0.1:{port}\npolling:\n  proc_root: {}\n  \
         sys_root: {}\n  pollsters_definitions_dirs: []\n  libvirt_uri: 'test:///default'\n",
        broker.url(),
        fixtures.join("proc").display(),
        fixtures.join("sys").display()
    ));
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: host\n    interval: 1\n    meters: ['hardware.cpu.load.*']\n",
    )
    .expect("polling.yaml");
    let mut agent = Notified::start(dir.path(), &[]);

    // /readyz answers once the agent has started (after its 10 s preflight of the silent URL).
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let mut body = String::new();
    wait_until(
        "/readyz answers",
        Duration::from_secs(40),
        || match ceilo::telemetry::scrape::get_blocking(&readyz, Duration::from_secs(2)) {
            Ok(response) => {
                body = response.body;
                true
            }
            Err(_) => false,
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    let report = ceilo::telemetry::scrape::get_blocking(&readyz, Duration::from_secs(2))
        .map(|r| r.body)
        .unwrap_or(body);
    assert!(
        report.starts_with("not ready") && report.contains("queue notifications.info: not consuming"),
        "{report}"
    );
    assert_eq!(
        agent.receive(Duration::from_secs(1)),
        None,
        "{}",
        agent.log_text()
    );
    agent.terminate();
    assert_eq!(
        agent.receive(Duration::from_secs(1)).as_deref(),
        Some("STOPPING=1")
    );
    drop(silent);
}
