//! A real Cinder 26 API (OpenStack Block Storage, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/cinder-venv.sh`, a PostgreSQL database of its
//! own, `cinder-manage db sync`, then the API on a free port (werkzeug, `.ci/cinder_api.py`),
//! keystonemiddleware validating every token with the given Keystone, registered in its
//! catalog as `volumev3` at `http://127.0.0.1:<port>/v3/%(project_id)s` as deployments do.
//!
//! No scheduler, volume or backup service runs: the API casts its work to a RabbitMQ vhost of
//! its own where nothing consumes it, so volumes stay `creating` and backups `creating` —
//! listing them is all a pollster does. What those services would have written, Cinder's
//! database is told directly: a volume placed on a host ([`Cinder::place`], which a snapshot
//! needs), a snapshot taken, the services' own rows ([`Cinder::add_service`]).
//! Pages hold two records (`osapi_max_limit = 2`), so every listing of more is paged. Pools
//! are listed by Cinder's scheduler from what volume services report: [`Cinder::report_pool`]
//! starts a real `cinder-scheduler` and reports to it as a volume service would, until the pool
//! is listed: the scheduler's wait for volume services' first reports at startup
//! (`scheduler_driver_init_wait_time`, 60 s by default, which a start now and then used whole)
//! is cut to 3 s.
//!
//! Dropping the [`Cinder`] stops the API (and the scheduler), drops its database and removes
//! its directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::runtime_support::Broker;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const CINDER_PASSWORD: &str = "cinder-ks-pw";
pub const HOST: &str = "cinder-test@lvm#pool";

/// The Cinder venv, installed on first use.
pub fn venv() -> PathBuf {
    venv_from(".ci/cinder-venv.sh")
}

/// A running Cinder API.
pub struct Cinder {
    /// `http://127.0.0.1:<port>/v3`.
    pub url: String,
    api: Server,
    scheduler: Option<Server>,
    database: Database,
    _rpc: Broker,
    venv: PathBuf,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Cinder {
    /// Cinder on `ks`'s auth, with a `cinder` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Cinder {
        let begun = Instant::now();
        let venv = venv();
        ks.service_user("cinder", CINDER_PASSWORD);
        let database = Database::postgresql("cinder");
        let rpc = Broker::new("cinder-rpc");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("cinder.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nauth_strategy = keystone\nosapi_max_limit = 2\nservice_down_time = 3600\n\
                 scheduler_driver_init_wait_time = 3\n\
                 transport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
                 api_paste_config = {venv}/etc/cinder/api-paste.ini\n\
                 state_path = {d}\nlog_dir = {d}\n\
                 [database]\nconnection = postgresql+psycopg2://postgres@127.0.0.1:5432/{database}\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [coordination]\nbackend_url = file://{d}/coordination\n\
                 [keystone_authtoken]\n{authtoken}",
                vhost = rpc.vhost,
                venv = venv.display(),
                d = dir.path().display(),
                database = database.name,
                authtoken = ks.authtoken_section("cinder", CINDER_PASSWORD),
            ),
        )
        .expect("cinder.conf");
        let mut db_sync = tool(&venv, "cinder-manage");
        db_sync.arg("--config-file").arg(&config).args(["db", "sync"]);
        run(db_sync, "cinder-manage db sync");
        let port = free_port();
        let api = Server::python(
            &venv,
            "cinder_api.py",
            [config.as_os_str(), port.to_string().as_ref()],
            &dir.path().join("api.out"),
        );
        let cinder = Cinder {
            url: format!("http://127.0.0.1:{port}/v3"),
            api,
            scheduler: None,
            database,
            _rpc: rpc,
            venv,
            config,
            dir,
        };
        wait_until(
            "Cinder",
            90,
            || {
                cinder
                    .curl("GET", &format!("http://127.0.0.1:{port}/"), None, None)
                    .0
                    == 300
            },
            || cinder.log_text(),
        );
        ks.register("volumev3", "cinderv3", &format!("{}/%(project_id)s", cinder.url));
        eprintln!("cinder: up at {} in {:?}", cinder.url, begun.elapsed());
        cinder
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "cinder_api.py.log"])
    }

    fn curl(&self, method: &str, url: &str, token: Option<&str>, body: Option<&Json>) -> (u16, Json) {
        crate::gnocchi_support::curl_json(method, url, token, &["openstack-api-version: volume 3.64"], body)
    }

    /// `POST /v3/<project>/<collection>` as the holder of `token`: the record Cinder made.
    pub fn create(&self, token: &str, project: &str, collection: &str, body: Json) -> Json {
        let kind = collection.trim_end_matches('s');
        let url = format!("{}/{project}/{collection}", self.url);
        let (status, reply) = self.curl("POST", &url, Some(token), Some(&json!({ kind: body })));
        assert!(
            status == 202 || status == 200,
            "POST {url}: {status} {reply}\n{}",
            self.log_text()
        );
        reply[kind].clone()
    }

    /// Put volume `id` on [`HOST`], available, as a volume service would have.
    pub fn place(&self, id: &str) {
        self.sql(&format!(
            "UPDATE volumes SET host = '{HOST}', status = 'available' WHERE id = '{id}'"
        ));
    }

    /// A service row as `binary` (`cinder-volume` or `cinder-backup`) on `host` writes it, at
    /// Cinder 26's RPC and object versions: its last report now (up, for the hour of
    /// `service_down_time`) or two hours ago (down).
    pub fn add_service(&self, binary: &str, host: &str, up: bool) {
        let at = if up {
            "(now())"
        } else {
            "(now() - interval '2 hours')"
        };
        let rpc = if binary == "cinder-volume" { "3.20" } else { "2.4" };
        self.sql(&format!(
            "INSERT INTO services (created_at, updated_at, deleted, host, \"binary\", topic, report_count, \
             disabled, frozen, availability_zone, rpc_current_version, object_current_version) VALUES \
             ({at} at time zone 'utc', {at} at time zone 'utc', false, '{host}', '{binary}', '{binary}', 1, \
             false, false, 'nova', '{rpc}', '1.39')"
        ));
    }

    /// Start cinder-scheduler (after the services are added: it checks their versions when it
    /// starts) and have the volume service on `host` report a pool with `capabilities` (its
    /// `pool_name` among them), as it would over RPC; returns once Cinder lists the pool.
    pub fn report_pool(&mut self, host: &str, capabilities: &Json, admin_token: &str, admin_project: &str) {
        let mut scheduler = tool(&self.venv, "cinder-scheduler");
        scheduler.arg("--config-file").arg(&self.config);
        self.scheduler = Some(Server::spawn(
            scheduler,
            &self.dir.path().join("scheduler.out"),
            "cinder-scheduler",
        ));
        let backend = json!({"volume_backend_name": "test", "pools": [capabilities]});
        let pools = format!(
            "{}/{admin_project}/scheduler-stats/get_pools?detail=True",
            self.url
        );
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let mut report = tool(&self.venv, "python");
            report
                .arg(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/cinder/report_capabilities.py"),
                )
                .arg(&self.config)
                .arg(host)
                .arg(backend.to_string());
            run(report, "report_capabilities.py");
            let (status, listed) = self.curl("GET", &pools, Some(admin_token), None);
            if status == 200 && listed["pools"].as_array().is_some_and(|p| !p.is_empty()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no pool listed ({status} {listed}):\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    /// Mark snapshot `id` available, as a volume service would once it is taken.
    pub fn complete_snapshot(&self, id: &str) {
        self.sql(&format!(
            "UPDATE snapshots SET status = 'available', progress = '100%' WHERE id = '{id}'"
        ));
    }

    fn sql(&self, statement: &str) {
        self.database.sql(statement);
    }
}
