//! A real Aodh 23 API (OpenStack Alarming, the release that serves the evaluation-result
//! counters Ceilometer 27's `alarm.evaluation_result` pollster reads) on Keystone auth: the venv
//! installed once by `.ci/aodh-venv.sh`, a PostgreSQL database of its own (`aodh-dbsync`), the
//! API on a free port (werkzeug, `.ci/aodh_api.py`) with `enable_evaluation_results_metrics`,
//! keystonemiddleware validating every token with the given Keystone, registered in its catalog
//! as `alarming` at `http://127.0.0.1:<port>`.
//!
//! No evaluator runs: the counters it would keep as it evaluates alarms, the database is told
//! directly ([`Aodh::count`]).
//!
//! Dropping the [`Aodh`] stops the API, drops its database and removes its directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gnocchi_support::{curl_json, free_port, psql, psql_in, venv_from};
use crate::keystone_support::Keystone;

pub const AODH_PASSWORD: &str = "aodh-ks-pw";

/// A running Aodh API.
pub struct Aodh {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
    database: String,
    api: Child,
}

impl Aodh {
    /// Aodh on `ks`'s auth, with an `aodh` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Aodh {
        let begun = Instant::now();
        let venv = venv_from(".ci/aodh-venv.sh");
        let service = ks.project("service");
        ks.user("aodh", AODH_PASSWORD, &service, "admin");
        let database = format!("ceilo_aodh_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {database}"));
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let config = dir.join("aodh.conf");
        // Aodh's paste pipeline has keystonemiddleware read the config files of project `aodh`
        // (/etc/aodh/aodh.conf): pointed at this one instead.
        let paste = std::fs::read_to_string(venv.join("lib/python3.11/site-packages/aodh/api/api-paste.ini"))
            .expect("aodh's api-paste.ini");
        let authtoken = "paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n";
        assert!(paste.contains(authtoken), "{paste}");
        std::fs::write(
            dir.join("api-paste.ini"),
            paste.replace(
                authtoken,
                &format!("{authtoken}oslo_config_file = {}\n", config.display()),
            ),
        )
        .expect("api-paste.ini");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nenable_evaluation_results_metrics = true\ntransport_url = fake:/\n\
                 log_file = {d}/aodh.log\n\
                 [api]\nauth_mode = keystone\npaste_config = {d}/api-paste.ini\n\
                 [database]\nconnection = postgresql://postgres@127.0.0.1:5432/{database}\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [keystone_authtoken]\n{authtoken}",
                d = dir.display(),
                authtoken = ks.authtoken_section("aodh", AODH_PASSWORD),
            ),
        )
        .expect("aodh.conf");
        let out = Command::new(venv.join("bin/aodh-dbsync"))
            .arg("--config-file")
            .arg(&config)
            .output()
            .expect("aodh-dbsync");
        assert!(
            out.status.success(),
            "aodh-dbsync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let api = Command::new(venv.join("bin/python"))
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/aodh_api.py"))
            .arg(&config)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("api.out")).expect("api.out"))
            .spawn()
            .expect("start the Aodh API");
        let aodh = Aodh {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            database,
            api,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while curl_json("GET", &format!("{}/", aodh.url), None, &[], None).0 == 0 {
            assert!(
                Instant::now() < deadline,
                "Aodh did not come up: {}",
                aodh.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let service = ks.create_service("alarming", "aodh");
        for interface in ["public", "internal"] {
            ks.create_endpoint(&service, interface, &aodh.url);
        }
        eprintln!("aodh: up at {} in {:?}", aodh.url, begun.elapsed());
        aodh
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("api.out"), read("aodh.log"))
    }

    /// `POST /v2/alarms` of an event alarm named `name` as the holder of `token`: its id.
    pub fn create_alarm(&self, token: &str, name: &str) -> String {
        let url = format!("{}/v2/alarms", self.url);
        let body = serde_json::json!({"name": name, "type": "event",
            "event_rule": {"event_type": "compute.instance.update"}});
        let (status, reply) = curl_json("POST", &url, Some(token), &[], Some(&body));
        assert_eq!(status, 201, "POST {url}: {reply}\n{}", self.log_text());
        reply["alarm_id"].as_str().expect("an alarm id").to_owned()
    }

    /// Alarm `id` (of `project`) evaluated to `state` `value` times, as the evaluator counts
    /// (which writes `insufficient data` as `insufficient_data`).
    pub fn count(&self, id: &str, project: &str, state: &str, value: u32) {
        let state = state.replace(' ', "_");
        psql_in(
            &self.database,
            &format!(
                "INSERT INTO alarm_counter (id, alarm_id, project_id, state, value) VALUES \
                 (gen_random_uuid()::text, '{id}', '{project}', '{state}', {value})"
            ),
        );
    }
}

impl Drop for Aodh {
    fn drop(&mut self) {
        let _ = self.api.kill();
        let _ = self.api.wait();
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
