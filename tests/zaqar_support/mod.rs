//! A real Zaqar (OpenStack Messaging) on Keystone auth: the venv installed once by
//! `.ci/zaqar-venv.sh`, `zaqar-server` (its WSGI transport) on a free port with Redis as its
//! message and management stores (a `redis-server` of its own on another free port, keeping
//! nothing on disk), and keystonemiddleware validating every token with the given Keystone;
//! registered in its catalog as `messaging` at `http://127.0.0.1:<port>`.
//!
//! Dropping the [`Zaqar`] stops both servers: nothing of it is left.

#![allow(dead_code)]

use serde_json::Value as Json;

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, tool, wait_until, Server};

pub const ZAQAR_PASSWORD: &str = "zaqar-ks-pw";

/// A running Zaqar.
pub struct Zaqar {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    server: Server,
    redis: Server,
    dir: tempfile::TempDir,
}

impl Zaqar {
    /// Zaqar on `ks`'s auth, with a `zaqar` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Zaqar {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/zaqar-venv.sh");
        ks.service_user("zaqar", ZAQAR_PASSWORD);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let redis_port = free_port();
        let mut command = std::process::Command::new("redis-server");
        command.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &redis_port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]);
        command.current_dir(d);
        let redis = Server::spawn(command, &d.join("redis.out"), "redis-server");
        wait_until(
            "Redis",
            30,
            || std::net::TcpStream::connect(("127.0.0.1", redis_port)).is_ok(),
            || read_logs(d, &["redis.out"]),
        );
        let port = free_port();
        let redis_url = format!("redis://127.0.0.1:{redis_port}");
        let config = d.join("zaqar.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nauth_strategy = keystone\nunreliable = true\nlog_file = {d}/zaqar.log\n\
                 [drivers]\ntransport = wsgi\nmessage_store = redis\nmanagement_store = redis\n\
                 [drivers:message_store:redis]\nuri = {redis_url}\n\
                 [drivers:management_store:redis]\nuri = {redis_url}\n\
                 [drivers:transport:wsgi]\nbind = 127.0.0.1\nport = {port}\n\
                 [keystone_authtoken]\n{authtoken}",
                d = d.display(),
                authtoken = ks.authtoken_section("zaqar", ZAQAR_PASSWORD),
            ),
        )
        .expect("zaqar.conf");
        let mut command = tool(&venv, "zaqar-server");
        command.arg("--config-file").arg(&config);
        let server = Server::spawn(command, &d.join("server.out"), "zaqar-server");
        let zaqar = Zaqar {
            url: format!("http://127.0.0.1:{port}"),
            server,
            redis,
            dir,
        };
        wait_until(
            "Zaqar",
            90,
            || curl_json("GET", &format!("{}/", zaqar.url), None, &[], None).0 != 0,
            || zaqar.log_text(),
        );
        ks.register("messaging", "zaqar", &zaqar.url);
        eprintln!("zaqar: up at {} in {:?}", zaqar.url, begun.elapsed());
        zaqar
    }

    /// The server's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["server.out", "zaqar.log"])
    }

    /// Every message of `queue` (as the holder of `token`, in the token's project), in the
    /// order they were posted.
    pub fn drain(&self, token: &str, queue: &str) -> Vec<Json> {
        let client = "Client-ID: 7d0cd5e4-3a7c-4c5e-9ff1-0a1b2c3d4e5f";
        let mut messages = Vec::new();
        let mut next = format!("{}/v2/queues/{queue}/messages?echo=true&limit=20", self.url);
        loop {
            let (status, page) = curl_json("GET", &next, Some(token), &[client], None);
            if status == 204 {
                break;
            }
            assert_eq!(status, 200, "GET {next}: {page}\n{}", self.log_text());
            let got = page["messages"].as_array().cloned().unwrap_or_default();
            if got.is_empty() {
                break;
            }
            messages.extend(got);
            let Some(href) = page["links"]
                .as_array()
                .and_then(|l| l.iter().find(|l| l["rel"] == "next"))
                .and_then(|l| l["href"].as_str())
            else {
                break;
            };
            next = format!("{}{href}", self.url);
        }
        messages
    }
}
