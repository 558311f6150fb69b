//! A real Swift 2.35 (OpenStack Object Storage, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/swift-venv.sh`; a proxy and an account, a
//! container and an object server (one replica each, rings built for their free ports, one
//! device in the harness' directory), each run by `.ci/swift_server.py` so that swift.conf is
//! the harness' own; the proxy's pipeline validating tokens with the given Keystone
//! (keystonemiddleware) and authorizing them by role (Swift's `keystoneauth`: the projects'
//! `member`s own their accounts, `ResellerAdmin` may read every account); registered in the
//! catalog as `object-store` at `http://127.0.0.1:<port>/v1/AUTH_%(project_id)s`, as
//! deployments do.
//!
//! Accounts are created on first use (`account_autocreate`). What containers hold reaches the
//! account server when the container updater runs: [`Swift::update_accounts`] runs one pass,
//! as its daemon would periodically.
//!
//! Dropping the [`Swift`] stops the servers and removes its directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;

pub const SWIFT_PASSWORD: &str = "swift-ks-pw";

const SERVERS: [&str; 3] = ["account", "container", "object"];

/// A running Swift.
pub struct Swift {
    /// `http://127.0.0.1:<port>`: the proxy.
    pub url: String,
    dir: PathBuf,
    venv: PathBuf,
    servers: Vec<Child>,
}

fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/swift_server.py")
}

impl Swift {
    /// Swift on `ks`'s auth, with a `swift` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Swift {
        let begun = Instant::now();
        let venv = venv_from(".ci/swift-venv.sh");
        let service = ks.project("service");
        ks.user("swift", SWIFT_PASSWORD, &service, "admin");
        let dir = tempfile::tempdir().expect("tempdir").keep();
        std::fs::create_dir_all(dir.join("node/d1")).expect("the device");
        std::fs::write(
            dir.join("swift.conf"),
            "[swift-hash]\nswift_hash_path_prefix = ceilo\nswift_hash_path_suffix = tests\n\
             [storage-policy:0]\nname = gold\ndefault = yes\n",
        )
        .expect("swift.conf");
        let mut swift = Swift {
            url: String::new(),
            dir: dir.clone(),
            venv: venv.clone(),
            servers: Vec::new(),
        };
        // Swift's daemons switch to `user` (default `swift`): this one, whoever runs the tests.
        let user = Command::new("id").arg("-un").output().expect("id -un");
        let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
        for server in SERVERS {
            let port = free_port();
            let builder = dir.join(format!("{server}.builder"));
            for args in [
                vec!["create", "0", "1", "1"],
                vec!["add", &format!("r1z1-127.0.0.1:{port}/d1"), "1"],
                vec!["rebalance"],
            ] {
                let out = Command::new(venv.join("bin/swift-ring-builder"))
                    .arg(&builder)
                    .args(&args)
                    .output()
                    .expect("swift-ring-builder");
                assert!(
                    out.status.success(),
                    "swift-ring-builder {args:?}: {}",
                    String::from_utf8_lossy(&out.stdout)
                );
            }
            let updater = if server == "container" {
                "[container-updater]\ninterval = 1\n"
            } else {
                ""
            };
            swift.spawn(
                server,
                &format!(
                    "[DEFAULT]\nuser = {user}\ndevices = {d}/node\nmount_check = false\nbind_ip = 127.0.0.1\n\
                     bind_port = {port}\nswift_dir = {d}\nworkers = 0\nlog_name = {server}\n\
                     [pipeline:main]\npipeline = {server}-server\n\
                     [app:{server}-server]\nuse = egg:swift#{server}\n{updater}",
                    d = dir.display(),
                ),
            );
        }
        let port = free_port();
        swift.spawn(
            "proxy",
            &format!(
                "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nswift_dir = {d}\nworkers = 0\n\
                 [pipeline:main]\npipeline = catch_errors proxy-logging authtoken keystoneauth \
                 proxy-logging proxy-server\n\
                 [app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\
                 [filter:catch_errors]\nuse = egg:swift#catch_errors\n\
                 [filter:proxy-logging]\nuse = egg:swift#proxy_logging\n\
                 [filter:keystoneauth]\nuse = egg:swift#keystoneauth\noperator_roles = admin, member\n\
                 reseller_admin_role = ResellerAdmin\n\
                 [filter:authtoken]\npaste.filter_factory = keystonemiddleware.auth_token:filter_factory\n\
                 delay_auth_decision = True\n{authtoken}",
                d = dir.display(),
                authtoken = ks.authtoken_section("swift", SWIFT_PASSWORD),
            ),
        );
        swift.url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while swift.curl("GET", "/healthcheck", None, &[]).0 == 0 {
            assert!(
                Instant::now() < deadline,
                "Swift did not come up: {}",
                swift.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let service = ks.create_service("object-store", "swift");
        for interface in ["public", "internal"] {
            ks.create_endpoint(
                &service,
                interface,
                &format!("{}/v1/AUTH_%(project_id)s", swift.url),
            );
        }
        eprintln!("swift: up at {} in {:?}", swift.url, begun.elapsed());
        swift
    }

    /// `server` run on the config `conf`, written to `<server>-server.conf`.
    fn spawn(&mut self, server: &str, conf: &str) {
        let path = self.dir.join(format!("{server}-server.conf"));
        std::fs::write(&path, conf).expect("a server config");
        let child = Command::new(self.venv.join("bin/python"))
            .args(["-W", "ignore"])
            .arg(launcher())
            .arg(server)
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join(format!("{server}.log"))).expect("a log"))
            .spawn()
            .expect("start a Swift server");
        self.servers.push(child);
    }

    /// The servers' logs (requests, errors).
    pub fn log_text(&self) -> String {
        ["proxy", "account", "container", "object"]
            .iter()
            .map(|s| std::fs::read_to_string(self.dir.join(format!("{s}.log"))).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `curl` of `path` on the proxy with `token` and `body`: the status and the reply.
    fn curl(&self, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-m", "30", "-w", "\n%{http_code}", "-X", method])
            .arg(format!("{}{path}", self.url));
        if let Some(t) = token {
            cmd.args(["-H", &format!("x-auth-token: {t}")]);
        }
        if !body.is_empty() || method == "PUT" {
            cmd.args(["--data-binary", "@-"]).stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("curl");
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(body).expect("body");
        }
        let out = child.wait_with_output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (reply, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (status.trim().parse().unwrap_or(0), reply.to_owned())
    }

    /// `PUT` container `container` (and, with `object`, that object of `data` in it) in
    /// `project`'s account, as the holder of `token`.
    pub fn put(&self, token: &str, project: &str, container: &str, object: Option<(&str, &[u8])>) {
        let container = format!("/v1/AUTH_{project}/{container}");
        let mut puts = vec![(container.clone(), &[][..])];
        if let Some((name, data)) = object {
            puts.push((format!("{container}/{name}"), data));
        }
        for (path, data) in puts {
            let (status, reply) = self.curl("PUT", &path, Some(token), data);
            assert!(
                status == 201 || status == 202,
                "PUT {path}: {status} {reply}\n{}",
                self.log_text()
            );
        }
    }

    /// One pass of the container updater: the accounts learn what their containers hold.
    pub fn update_accounts(&self) {
        let out = Command::new(self.venv.join("bin/python"))
            .args(["-W", "ignore"])
            .arg(launcher())
            .arg("container-updater")
            .arg(self.dir.join("container-server.conf"))
            .output()
            .expect("the container updater");
        assert!(
            out.status.success(),
            "container updater: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Swift {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
