//! A real Nova 31 compute API (OpenStack Compute, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/nova-venv.sh`, SQLite API and cell databases
//! of its own (`nova-manage api_db sync`, `db sync`), the API on a free port (werkzeug,
//! `.ci/nova_api.py`), keystonemiddleware validating every token with the given Keystone,
//! registered in its catalog as `compute` at `http://127.0.0.1:<port>/v2.1`, as deployments
//! register it. Only what needs no compute service answers: flavors.
//!
//! Dropping the [`Nova`] stops the API and removes its directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;

pub const NOVA_PASSWORD: &str = "nova-ks-pw";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running Nova compute API.
pub struct Nova {
    /// `http://127.0.0.1:<port>/v2.1`.
    pub url: String,
    dir: PathBuf,
    api: Child,
}

impl Nova {
    /// Nova on `ks`'s auth, with a `nova` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Nova {
        let begun = Instant::now();
        let venv = venv_from(".ci/nova-venv.sh");
        let service = ks.project("service");
        ks.user("nova", NOVA_PASSWORD, &service, "admin");
        let dir = tempfile::tempdir().expect("tempdir").keep();
        std::fs::copy(venv.join("etc/nova/api-paste.ini"), dir.join("api-paste.ini")).expect("api-paste.ini");
        let port = free_port();
        std::fs::write(
            dir.join("nova.conf"),
            format!(
                "[DEFAULT]\nlog_file = {d}/nova-api.log\ntransport_url = fake://\n\
                 [api]\nauth_strategy = keystone\n\
                 [api_database]\nconnection = sqlite:///{d}/nova_api.db\n\
                 [database]\nconnection = sqlite:///{d}/nova.db\n\
                 [keystone_authtoken]\n{authtoken}",
                d = dir.display(),
                authtoken = ks.authtoken_section("nova", NOVA_PASSWORD),
            ),
        )
        .expect("nova.conf");
        for sync in ["api_db", "db"] {
            let out = Command::new(venv.join("bin/nova-manage"))
                .arg("--config-file")
                .arg(dir.join("nova.conf"))
                .args([sync, "sync"])
                .output()
                .expect("nova-manage");
            assert!(
                out.status.success(),
                "nova-manage {sync} sync: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let api = Command::new(venv.join("bin/python"))
            .arg(repo().join(".ci/nova_api.py"))
            .arg(&dir)
            .arg(port.to_string())
            .env("PYTHONWARNINGS", "ignore")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("api.out")).expect("api.out"))
            .spawn()
            .expect("start the Nova API");
        let nova = Nova {
            url: format!("http://127.0.0.1:{port}/v2.1"),
            dir,
            api,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        // Unauthenticated, the API answers 401 once it serves.
        while nova.curl("GET", "/flavors", None, None).0 != 401 {
            assert!(
                Instant::now() < deadline,
                "Nova did not come up: {}",
                nova.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let service = ks.create_service("compute", "nova");
        for interface in ["public", "internal"] {
            ks.create_endpoint(&service, interface, &nova.url);
        }
        eprintln!("nova: up at {} in {:?}", nova.url, begun.elapsed());
        nova
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("api.out"), read("nova-api.log"))
    }

    /// `curl` of `path` under the API: the status and the reply (or null).
    fn curl(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Json>) -> (u16, Json) {
        crate::gnocchi_support::curl_json(method, &format!("{}{path}", self.url), token, &[], body)
    }

    /// `POST /flavors` as the holder of `token` (an admin's): a flavor of this name and id.
    pub fn create_flavor(&self, token: &str, name: &str, id: &str) {
        let flavor =
            serde_json::json!({"flavor": {"name": name, "id": id, "ram": 128, "vcpus": 1, "disk": 1}});
        let (status, reply) = self.curl("POST", "/flavors", Some(token), Some(&flavor));
        assert_eq!(
            status,
            200,
            "POST /flavors {flavor}: {reply}\n{}",
            self.log_text()
        );
    }
}

impl Drop for Nova {
    fn drop(&mut self) {
        let _ = self.api.kill();
        let _ = self.api.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
