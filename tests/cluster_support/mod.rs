//! Extra RabbitMQ nodes for the failover and cluster tests, started on this machine beside the
//! main broker (127.0.0.1:5672), which they never touch.
//!
//! Each node has its own name (`ceilo-c<N>-<pid>-<k>@localhost`), AMQP and distribution ports
//! (free ones, chosen at start), config file (no plugins, so no management listener), data and
//! log directories under a temporary directory owned by the `rabbitmq` user, and runs as that
//! user (so `rabbitmqctl` shares the main broker's Erlang cookie). [`Node`] and [`Cluster`]
//! stop their nodes when dropped, also when a test panics; the one [`shared`] cluster of a test
//! binary (booting three nodes costs about half a minute here) stops when the binary exits.
//! `rabbitmqctl` calls start an Erlang VM each (about a second of CPU): the helpers make as few
//! as they can.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

const SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";
const CTL: &str = "/usr/lib/rabbitmq/bin/rabbitmqctl";
/// The home of the `rabbitmq` user: its `.erlang.cookie` is the one every node and CLI shares.
const HOME: &str = "/var/lib/rabbitmq";

/// A free TCP port on 127.0.0.1 (bound and released: a small race, acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Run as the `rabbitmq` user: directly when we are it, through `runuser` when root.
fn as_rabbitmq(program: &str) -> Command {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let mut cmd = if uid == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "rabbitmq", "--", program]);
        c
    } else {
        Command::new(program)
    };
    cmd.env("HOME", HOME);
    cmd
}

/// One RabbitMQ node of our own.
pub struct Node {
    pub name: String,
    pub port: u16,
    dist_port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// The Erlang VM's pid (from the pid file), what `kill -9` must hit.
    pid: Option<u32>,
}

impl Node {
    /// Starts a node named `ceilo-<tag>-<pid>-<k>@localhost` under `root` and waits until it
    /// accepts AMQP connections.
    pub fn start(tag: &str, root: &Path) -> Node {
        let mut node = Node::spawn(tag, root);
        node.await_startup();
        node
    }

    /// Starts the process without waiting (see [`Node::await_startup`]): several nodes boot
    /// side by side.
    pub fn spawn(tag: &str, root: &Path) -> Node {
        static K: AtomicUsize = AtomicUsize::new(0);
        let short = format!(
            "ceilo-{tag}-{}-{}",
            std::process::id(),
            K.fetch_add(1, Ordering::SeqCst)
        );
        let dir = root.join(&short);
        std::fs::create_dir_all(dir.join("log")).expect("node dir");
        let (port, dist_port) = (free_port(), free_port());
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .expect("rabbitmq.conf");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("enabled_plugins");
        chown_rabbitmq(&dir);
        let mut node = Node {
            name: format!("{short}@localhost"),
            port,
            dist_port,
            dir,
            child: None,
            pid: None,
        };
        node.launch();
        node
    }

    fn launch(&mut self) {
        let _ = std::fs::remove_file(self.pid_file());
        let log = std::fs::File::create(self.dir.join("log/console.log")).expect("console log");
        let child = as_rabbitmq(SERVER)
            .env("RABBITMQ_NODENAME", &self.name)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.dir.join("enabled_plugins"))
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.pid_file())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start rabbitmq-server (RabbitMQ installed? run as root or rabbitmq)");
        self.child = Some(child);
        self.pid = None;
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("pid")
    }

    /// Waits (up to 90 s) until the node accepts AMQP connections.
    pub fn await_startup(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "node {} exited at start ({status}); its log: {}",
                    self.name,
                    self.log_tail()
                );
            }
            if self.pid.is_none() {
                self.pid = std::fs::read_to_string(self.pid_file())
                    .ok()
                    .and_then(|p| p.trim().parse().ok());
            }
            if self.pid.is_some() && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not start in 90 s: {}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The end of the node's own log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("log").join(format!("{}.log", self.name)))
            .or_else(|_| std::fs::read_to_string(self.dir.join("log/console.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// `rabbitmqctl -n <node> args...`, which must succeed.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let out = self.ctl_unchecked(args);
        assert!(
            out.status.success(),
            "rabbitmqctl -n {} {}: {}{}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn ctl_unchecked(&self, args: &[&str]) -> Output {
        as_rabbitmq(CTL)
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("rabbitmqctl")
    }

    /// A vhost guest may use fully (created on this node; a cluster shares it).
    pub fn add_vhost(&self, vhost: &str) {
        self.ctl(&["add_vhost", vhost]);
        self.ctl(&["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]);
    }

    pub fn url(&self, vhost: &str) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/{vhost}", self.port)
    }

    /// `host:port` as ceilo's logs name a node.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Whether the node's VM runs (it may have been killed or stopped by a test).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(Child::try_wait), Some(Ok(None)))
    }

    /// `rabbitmqctl stop`: the node says goodbye to its clients (connection.close) and to the
    /// cluster, and its VM exits; [`Node::restart`] starts it again with its data.
    pub fn stop(&mut self) {
        self.ctl(&["stop"]);
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        self.pid = None;
    }

    /// `kill -9` of the Erlang VM: no goodbye to clients or to the cluster.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid.take() {
            // SAFETY: kill only sends a signal.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // epmd forgets the name when the VM's connection to it closes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the node again after [`Node::kill9`] or [`Node::stop`], with its data (it rejoins
    /// its cluster).
    pub fn restart(&mut self) {
        self.launch();
        self.await_startup();
    }

    /// `rabbitmqctl stop_app`: the node stays up, RabbitMQ in it stops (clients are
    /// disconnected with connection.close, queues' members on it go away).
    pub fn stop_app(&self) {
        self.ctl(&["stop_app"]);
    }

    pub fn start_app(&self) {
        self.ctl(&["start_app"]);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn chown_rabbitmq(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", "rabbitmq:rabbitmq"])
        .arg(path)
        .status();
    // As the rabbitmq user the files are already its own and chown is not needed.
    let _ = status;
}

/// A temporary directory for nodes, removed on drop (after the nodes in it stopped).
pub fn node_root() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("ceilo-rabbit-")
        .tempdir()
        .expect("tempdir");
    chown_rabbitmq(dir.path());
    dir
}

/// Nodes joined into one cluster (`stop_app; join_cluster <first>; start_app`).
pub struct Cluster {
    pub nodes: Vec<Node>,
    /// Declared after `nodes`: dropped after them, once they stopped.
    _root: Option<tempfile::TempDir>,
}

impl Cluster {
    /// Starts `n` nodes side by side and joins the others to the first.
    pub fn start(n: usize, tag: &str) -> Cluster {
        let root = node_root();
        let mut nodes: Vec<Node> = (0..n).map(|_| Node::spawn(tag, root.path())).collect();
        for node in &mut nodes {
            node.await_startup();
        }
        // One at a time: two nodes joining the same node at once can fail on its schema lock.
        let first = nodes[0].name.clone();
        for node in &nodes[1..] {
            node.stop_app();
            node.ctl(&["join_cluster", &first]);
            node.start_app();
        }
        Cluster {
            nodes,
            _root: Some(root),
        }
    }

    /// Restarts the nodes a test killed or stopped, so that the next test finds all of them.
    pub fn ensure_running(&mut self) {
        for node in &mut self.nodes {
            if !node.is_running() {
                node.restart();
            }
        }
    }

    /// A vhost of its own on the cluster (guest may use it fully), deleted on drop.
    pub fn vhost(&self, tag: &str) -> ClusterVhost {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "ceilo-cluster-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.nodes[0].add_vhost(&name);
        ClusterVhost {
            name,
            ctl_node: self.nodes[0].name.clone(),
        }
    }

    /// Stops every node and removes their directories.
    fn stop_all(&mut self) {
        self.nodes.clear();
        self._root.take();
    }

    /// The oslo URL naming every node, in order.
    pub fn url(&self, vhost: &str) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("guest:guest@127.0.0.1:{}", n.port))
            .collect();
        format!("rabbit://{}/{vhost}", hosts.join(","))
    }
}

/// A vhost on a [`Cluster`], deleted (with its queues, on every node) on drop.
pub struct ClusterVhost {
    pub name: String,
    ctl_node: String,
}

impl Drop for ClusterVhost {
    fn drop(&mut self) {
        let _ = as_rabbitmq(CTL)
            .args(["-n", &self.ctl_node, "delete_vhost", &self.name])
            .output();
    }
}

static SHARED: OnceLock<Mutex<Cluster>> = OnceLock::new();

/// The test binary's 3-node cluster: started by the first test that asks, handed to one test at
/// a time (the tests kill and stop its nodes), with every node running again. The nodes are
/// killed when the binary exits, also after failed tests (the harness exits through `exit`).
pub fn shared() -> MutexGuard<'static, Cluster> {
    let cluster = SHARED.get_or_init(|| {
        let cluster = Cluster::start(3, "cl");
        // SAFETY: registers a plain function without arguments; atexit has no other contract.
        unsafe { libc::atexit(stop_shared) };
        Mutex::new(cluster)
    });
    let mut guard = cluster.lock().unwrap_or_else(PoisonError::into_inner);
    guard.ensure_running();
    guard
}

extern "C" fn stop_shared() {
    if let Some(cluster) = SHARED.get() {
        // A test still holding it at exit (it hung) must not keep the nodes alive either.
        let mut guard = match cluster.try_lock() {
            Ok(g) => g,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        guard.stop_all();
    }
}
