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
use std::process::{Command, Stdio};

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{ci_script, read_logs, run, tool, wait_until, Server};

pub const SWIFT_PASSWORD: &str = "swift-ks-pw";

const SERVERS: [&str; 3] = ["account", "container", "object"];

/// A running Swift.
pub struct Swift {
    /// `http://127.0.0.1:<port>`: the proxy.
    pub url: String,
    servers: Vec<Server>,
    venv: PathBuf,
    dir: tempfile::TempDir,
}

/// `.ci/swift_server.py <what> <config>` in the venv: a Swift daemon (or one pass of it) on a
/// swift.conf of the harness' own.
fn launcher(venv: &std::path::Path, what: &str, config: &std::path::Path) -> Command {
    let mut command = tool(venv, "python");
    command
        .args(["-W", "ignore"])
        .arg(ci_script("swift_server.py"))
        .arg(what)
        .arg(config);
    command
}

impl Swift {
    /// Swift on `ks`'s auth, with a `swift` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Swift {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/swift-venv.sh");
        ks.service_user("swift", SWIFT_PASSWORD);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_owned();
        std::fs::create_dir_all(d.join("node/d1")).expect("the device");
        std::fs::write(
            d.join("swift.conf"),
            "[swift-hash]\nswift_hash_path_prefix = ceilo\nswift_hash_path_suffix = tests\n\
             [storage-policy:0]\nname = gold\ndefault = yes\n",
        )
        .expect("swift.conf");
        let mut swift = Swift {
            url: String::new(),
            servers: Vec::new(),
            venv: venv.clone(),
            dir,
        };
        // Swift's daemons switch to `user` (default `swift`): this one, whoever runs the tests.
        let user = Command::new("id").arg("-un").output().expect("id -un");
        let user = String::from_utf8_lossy(&user.stdout).trim().to_owned();
        for server in SERVERS {
            let port = free_port();
            let builder = d.join(format!("{server}.builder"));
            for args in [
                vec!["create", "0", "1", "1"],
                vec!["add", &format!("r1z1-127.0.0.1:{port}/d1"), "1"],
                vec!["rebalance"],
            ] {
                let mut ring = tool(&venv, "swift-ring-builder");
                ring.arg(&builder).args(&args);
                run(ring, &format!("swift-ring-builder {args:?}"));
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
                    d = d.display(),
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
                d = d.display(),
                authtoken = ks.authtoken_section("swift", SWIFT_PASSWORD),
            ),
        );
        swift.url = format!("http://127.0.0.1:{port}");
        wait_until(
            "Swift",
            60,
            || swift.curl("GET", "/healthcheck", None, &[]).0 != 0,
            || swift.log_text(),
        );
        ks.register(
            "object-store",
            "swift",
            &format!("{}/v1/AUTH_%(project_id)s", swift.url),
        );
        eprintln!("swift: up at {} in {:?}", swift.url, begun.elapsed());
        swift
    }

    /// `server` run on the config `conf`, written to `<server>-server.conf`.
    fn spawn(&mut self, server: &str, conf: &str) {
        let d = self.dir.path();
        let path = d.join(format!("{server}-server.conf"));
        std::fs::write(&path, conf).expect("a server config");
        self.servers.push(Server::spawn(
            launcher(&self.venv, server, &path),
            &d.join(format!("{server}.log")),
            server,
        ));
    }

    /// The servers' logs (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(
            self.dir.path(),
            &["proxy.log", "account.log", "container.log", "object.log"],
        )
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
        run(
            launcher(
                &self.venv,
                "container-updater",
                &self.dir.path().join("container-server.conf"),
            ),
            "the container updater",
        );
    }
}
