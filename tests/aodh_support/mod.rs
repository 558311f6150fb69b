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

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const AODH_PASSWORD: &str = "aodh-ks-pw";

/// A running Aodh API.
pub struct Aodh {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    api: Server,
    database: Database,
    dir: tempfile::TempDir,
}

impl Aodh {
    /// Aodh on `ks`'s auth, with an `aodh` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Aodh {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/aodh-venv.sh");
        ks.service_user("aodh", AODH_PASSWORD);
        let database = Database::postgresql("aodh");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let config = d.join("aodh.conf");
        // Aodh's paste pipeline has keystonemiddleware read the config files of project `aodh`
        // (/etc/aodh/aodh.conf): pointed at this one instead.
        let paste = std::fs::read_to_string(venv.join("lib/python3.11/site-packages/aodh/api/api-paste.ini"))
            .expect("aodh's api-paste.ini");
        let authtoken = "paste.filter_factory = keystonemiddleware.auth_token:filter_factory\n";
        assert!(paste.contains(authtoken), "{paste}");
        std::fs::write(
            d.join("api-paste.ini"),
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
                d = d.display(),
                database = database.name,
                authtoken = ks.authtoken_section("aodh", AODH_PASSWORD),
            ),
        )
        .expect("aodh.conf");
        let mut dbsync = tool(&venv, "aodh-dbsync");
        dbsync.arg("--config-file").arg(&config);
        run(dbsync, "aodh-dbsync");
        let port = free_port();
        let api = Server::python(
            &venv,
            "aodh_api.py",
            [config.as_os_str(), port.to_string().as_ref()],
            &d.join("api.out"),
        );
        let aodh = Aodh {
            url: format!("http://127.0.0.1:{port}"),
            api,
            database,
            dir,
        };
        wait_until(
            "Aodh",
            90,
            || curl_json("GET", &format!("{}/", aodh.url), None, &[], None).0 != 0,
            || aodh.log_text(),
        );
        ks.register("alarming", "aodh", &aodh.url);
        eprintln!("aodh: up at {} in {:?}", aodh.url, begun.elapsed());
        aodh
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "aodh.log"])
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
        self.database.sql(&format!(
            "INSERT INTO alarm_counter (id, alarm_id, project_id, state, value) VALUES \
             (gen_random_uuid()::text, '{id}', '{project}', '{state}', {value})"
        ));
    }
}
