//! A real Nova 31 compute API (OpenStack Compute, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/nova-venv.sh`, SQLite API and cell databases
//! of its own (`nova-manage api_db sync`, `db sync`), the API on a free port (werkzeug,
//! `.ci/nova_api.py`), keystonemiddleware validating every token with the given Keystone,
//! registered in its catalog as `compute` at `http://127.0.0.1:<port>/v2.1`, as deployments
//! register it. Only what needs no compute service answers: flavors.
//!
//! Dropping the [`Nova`] stops the API and removes its directory.

#![allow(dead_code)]

use serde_json::Value as Json;

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, run, tool, wait_until, Server};

pub const NOVA_PASSWORD: &str = "nova-ks-pw";

/// A running Nova compute API.
pub struct Nova {
    /// `http://127.0.0.1:<port>/v2.1`.
    pub url: String,
    api: Server,
    dir: tempfile::TempDir,
}

impl Nova {
    /// Nova on `ks`'s auth, with a `nova` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Nova {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/nova-venv.sh");
        ks.service_user("nova", NOVA_PASSWORD);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::copy(venv.join("etc/nova/api-paste.ini"), d.join("api-paste.ini")).expect("api-paste.ini");
        let port = free_port();
        let config = d.join("nova.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nlog_file = {d}/nova-api.log\ntransport_url = fake://\n\
                 [api]\nauth_strategy = keystone\n\
                 [api_database]\nconnection = sqlite:///{d}/nova_api.db\n\
                 [database]\nconnection = sqlite:///{d}/nova.db\n\
                 [keystone_authtoken]\n{authtoken}",
                d = d.display(),
                authtoken = ks.authtoken_section("nova", NOVA_PASSWORD),
            ),
        )
        .expect("nova.conf");
        for sync in ["api_db", "db"] {
            let mut command = tool(&venv, "nova-manage");
            command.arg("--config-file").arg(&config).args([sync, "sync"]);
            run(command, &format!("nova-manage {sync} sync"));
        }
        let api = Server::python(
            &venv,
            "nova_api.py",
            [d.as_os_str(), port.to_string().as_ref()],
            &d.join("api.out"),
        );
        let nova = Nova {
            url: format!("http://127.0.0.1:{port}/v2.1"),
            api,
            dir,
        };
        // Unauthenticated, the API answers 401 once it serves.
        wait_until(
            "Nova",
            90,
            || nova.curl("GET", "/flavors", None, None).0 == 401,
            || nova.log_text(),
        );
        ks.register("compute", "nova", &nova.url);
        eprintln!("nova: up at {} in {:?}", nova.url, begun.elapsed());
        nova
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "nova-api.log"])
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
