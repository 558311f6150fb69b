//! TLS for tests: certificates made by `openssl` (a CA, a server certificate for 127.0.0.1 and a
//! client certificate), and a second RabbitMQ node of the test's own that listens on TLS only,
//! requiring a client certificate (`verify_peer`, `fail_if_no_peer_cert`).
//!
//! The node never touches the main broker: its own node name, ports (asked of the OS), data,
//! log and config directories, an empty plugin list (no second management listener), and a
//! HOME of its own, where the server writes the Erlang cookie that `rabbitmqctl` then reads.
//! It is stopped (`rabbitmqctl -n NODE stop`) when the last test holding it drops it, a failed
//! test included.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// In `dir`: a CA (`ca.pem`, `ca.key`), a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) and a client certificate (`client.pem`, `client.key`, and both in
/// `client-with-key.pem`), signed by the CA.
pub fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=ceilo-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ];
    ca.extend(ec);
    ca.extend([
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        let mut req = vec!["req", "-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr];
        req.extend(ec);
        openssl(dir, &req);
        std::fs::write(
            dir.join(&ext),
            format!("subjectAltName=IP:127.0.0.1\nextendedKeyUsage={usage}\n"),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-out",
                &pem,
                "-extfile",
                &ext,
            ],
        );
    }
    // The client's certificate and key in one file (no separate key file).
    let both = [
        std::fs::read(dir.join("client.pem")).unwrap(),
        std::fs::read(dir.join("client.key")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("client-with-key.pem"), both).unwrap();
}

/// A port nobody listens on now, chosen by the OS.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

const BIN: &str = "/usr/lib/rabbitmq/bin";

/// A RabbitMQ node listening on TLS only, on 127.0.0.1:`port` (guest/guest, vhost `/`).
pub struct TlsBroker {
    pub node: String,
    pub port: u16,
    /// The CA, server and client certificates (see [`certificates`]).
    pub certs: PathBuf,
    dir: tempfile::TempDir,
    server: Mutex<Option<Child>>,
}

impl TlsBroker {
    /// The node the tests of this binary share, started on first use and stopped when the
    /// last holder drops it.
    pub fn shared() -> Arc<TlsBroker> {
        static SHARED: Mutex<Weak<TlsBroker>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(node) = shared.upgrade() {
            return node;
        }
        let node = Arc::new(TlsBroker::start());
        *shared = Arc::downgrade(&node);
        node
    }

    fn start() -> TlsBroker {
        let dir = tempfile::Builder::new()
            .prefix("ceilo-tls-node-")
            .tempdir()
            .expect("tempdir");
        let certs = dir.path().join("certs");
        std::fs::create_dir(&certs).unwrap();
        certificates(&certs);
        let (port, dist_port) = (free_port(), free_port());
        let node = format!(
            "ceilo-tls-{}-{}@localhost",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        );
        let c = certs.display();
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!(
                "listeners.tcp = none\n\
                 listeners.ssl.default = 127.0.0.1:{port}\n\
                 ssl_options.cacertfile = {c}/ca.pem\n\
                 ssl_options.certfile = {c}/server.pem\n\
                 ssl_options.keyfile = {c}/server.key\n\
                 ssl_options.verify = verify_peer\n\
                 ssl_options.fail_if_no_peer_cert = true\n"
            ),
        )
        .unwrap();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").unwrap();
        std::fs::write(dir.path().join("rabbitmq-env.conf"), "").unwrap();
        let log = std::fs::File::create(dir.path().join("server.out")).unwrap();
        let server = Command::new(format!("{BIN}/rabbitmq-server"))
            .envs(node_env(dir.path(), &node))
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", dir.path().join("rabbitmq.conf"))
            .env(
                "RABBITMQ_ENABLED_PLUGINS_FILE",
                dir.path().join("enabled_plugins"),
            )
            .env("RABBITMQ_MNESIA_BASE", dir.path().join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.path().join("log"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server");
        let broker = TlsBroker {
            node,
            port,
            certs,
            dir,
            server: Mutex::new(Some(server)),
        };
        // Through rabbitmqctl, which needs the cookie the server wrote: a cookie problem
        // fails here, by name, not as a node that never comes up.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = broker.ctl(&["await_startup", "--timeout", "10"]);
            if out.status.success() {
                break;
            }
            let exited = broker
                .server
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the TLS node {} did not start: {}\n{}\nserver output:\n{}",
                broker.node,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(broker.dir.path().join("server.out")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
        broker
    }

    /// `rabbitmqctl -n NODE args...`, with the node's HOME (its cookie).
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(format!("{BIN}/rabbitmqctl"))
            .envs(node_env(self.dir.path(), &self.node))
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .output()
            .expect("rabbitmqctl")
    }

    /// The broker's URL as oslo writes it (TLS comes from the options, not the scheme).
    pub fn rabbit_url(&self) -> String {
        format!("rabbit://guest:guest@127.0.0.1:{}/", self.port)
    }

    pub fn amqps_url(&self) -> String {
        format!("amqps://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn cert(&self, name: &str) -> PathBuf {
        self.certs.join(name)
    }
}

/// What both the server and rabbitmqctl need to find the node and share its cookie.
fn node_env(dir: &Path, node: &str) -> Vec<(String, String)> {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    vec![
        ("HOME".into(), home.display().to_string()),
        ("RABBITMQ_NODENAME".into(), node.to_owned()),
        // The system's rabbitmq-env.conf names the main node; this one is ours.
        (
            "RABBITMQ_CONF_ENV_FILE".into(),
            dir.join("rabbitmq-env.conf").display().to_string(),
        ),
    ]
}

impl Drop for TlsBroker {
    /// `rabbitmqctl stop`; if the node is still there after that, SIGTERM to the server script
    /// (which stops the node), then SIGKILL.
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
        let mut server = self.server.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut child) = server.take() else { return };
        for signal in [libc::SIGTERM, libc::SIGKILL] {
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            // SAFETY: kill(2) with our own child's pid and a signal number.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
        let _ = child.wait();
    }
}
