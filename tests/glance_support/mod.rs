//! A real Glance 30 API (OpenStack Image, 2025.1 "Epoxy", Keystone 27's release) on Keystone
//! auth: the venv installed once by `.ci/glance-venv.sh`, a SQLite database of its own
//! (`glance-manage db_sync`), images stored in its directory, the API on a free port
//! (werkzeug, `.ci/glance_api.py`), keystonemiddleware validating every token with the given
//! Keystone, registered in its catalog as `image` at `http://127.0.0.1:<port>` (unversioned, as
//! deployments register it). Pages hold two images (`limit_param_default = 2`), so every
//! listing of more is paged.
//!
//! Dropping the [`Glance`] stops the API and removes its directory.

#![allow(dead_code)]

use std::process::{Command, Stdio};

use serde_json::Value as Json;

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, run, tool, wait_until, Server};

pub const GLANCE_PASSWORD: &str = "glance-ks-pw";

/// A running Glance API.
pub struct Glance {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    api: Server,
    dir: tempfile::TempDir,
}

impl Glance {
    /// Glance on `ks`'s auth, with a `glance` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Glance {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/glance-venv.sh");
        ks.service_user("glance", GLANCE_PASSWORD);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        for sub in ["images", "staging"] {
            std::fs::create_dir_all(d.join(sub)).expect("a store directory");
        }
        let port = free_port();
        let config = d.join("glance-api.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nlimit_param_default = 2\nenabled_import_methods = []\n\
                 worker_self_reference_url = http://127.0.0.1:{port}\nlog_file = {d}/glance-api.log\n\
                 [database]\nconnection = sqlite:///{d}/glance.db\n\
                 [paste_deploy]\nflavor = keystone\nconfig_file = {venv}/etc/glance/glance-api-paste.ini\n\
                 [glance_store]\nstores = file\ndefault_store = file\nfilesystem_store_datadir = {d}/images\n\
                 [os_glance_staging_store]\nfilesystem_store_datadir = {d}/staging\n\
                 [keystone_authtoken]\n{authtoken}",
                d = d.display(),
                venv = venv.display(),
                authtoken = ks.authtoken_section("glance", GLANCE_PASSWORD),
            ),
        )
        .expect("glance-api.conf");
        let mut db_sync = tool(&venv, "glance-manage");
        db_sync.arg("--config-file").arg(&config).arg("db_sync");
        run(db_sync, "glance-manage db_sync");
        let api = Server::python(
            &venv,
            "glance_api.py",
            [d.as_os_str(), port.to_string().as_ref()],
            &d.join("api.out"),
        );
        let glance = Glance {
            url: format!("http://127.0.0.1:{port}"),
            api,
            dir,
        };
        wait_until(
            "Glance",
            90,
            || glance.curl("GET", "/", None, None, "").0 == 300,
            || glance.log_text(),
        );
        ks.register("image", "glance", &glance.url);
        eprintln!("glance: up at {} in {:?}", glance.url, begun.elapsed());
        glance
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "glance-api.log"])
    }

    /// `curl` of `path` under the API: the status and the body (JSON, or null).
    fn curl(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        content_type: &str,
    ) -> (u16, Json) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-m", "30", "-w", "\n%{http_code}", "-X", method])
            .arg(format!("{}{path}", self.url));
        if !content_type.is_empty() {
            cmd.args(["-H", &format!("content-type: {content_type}")]);
        }
        if let Some(t) = token {
            cmd.args(["-H", &format!("x-auth-token: {t}")]);
        }
        if body.is_some() {
            cmd.args(["--data-binary", "@-"]).stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("curl");
        if let Some(b) = body {
            use std::io::Write;
            child.stdin.take().expect("stdin").write_all(b).expect("body");
        }
        let out = child.wait_with_output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout);
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            status.trim().parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Json::Null),
        )
    }

    /// `POST /v2/images` as the holder of `token`: the image Glance made (queued, no data).
    pub fn create(&self, token: &str, image: &Json) -> Json {
        let body = image.to_string();
        let (status, reply) = self.curl(
            "POST",
            "/v2/images",
            Some(token),
            Some(body.as_bytes()),
            "application/json",
        );
        assert_eq!(
            status,
            201,
            "POST /v2/images {image}: {reply}\n{}",
            self.log_text()
        );
        reply
    }

    /// `PUT /v2/images/<id>/file`: the image's data, which makes it active with a size.
    pub fn upload(&self, token: &str, id: &str, data: &[u8]) {
        let path = format!("/v2/images/{id}/file");
        let (status, reply) = self.curl("PUT", &path, Some(token), Some(data), "application/octet-stream");
        assert_eq!(status, 204, "PUT {path}: {reply}\n{}", self.log_text());
    }
}
