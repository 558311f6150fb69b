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
//! starts a real `cinder-scheduler` and reports to it as a volume service would.
//!
//! Dropping the [`Cinder`] stops the API (and the scheduler), drops its database and removes
//! its directory.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{free_port, psql, psql_in, venv_from};
use crate::keystone_support::Keystone;
use crate::runtime_support::Broker;

pub const CINDER_PASSWORD: &str = "cinder-ks-pw";
pub const HOST: &str = "cinder-test@lvm#pool";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Cinder venv, installed on first use.
pub fn venv() -> PathBuf {
    venv_from(".ci/cinder-venv.sh")
}

/// A running Cinder API.
pub struct Cinder {
    /// `http://127.0.0.1:<port>/v3`.
    pub url: String,
    dir: PathBuf,
    venv: PathBuf,
    config: PathBuf,
    database: String,
    api: Child,
    scheduler: Option<Child>,
    _rpc: Broker,
}

impl Cinder {
    /// Cinder on `ks`'s auth, with a `cinder` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Cinder {
        let begun = Instant::now();
        let venv = venv();
        let service = ks.project("service");
        ks.user("cinder", CINDER_PASSWORD, &service, "admin");
        let database = format!("ceilo_cinder_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {database}"));
        let rpc = Broker::new("cinder-rpc");
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let config = dir.join("cinder.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nauth_strategy = keystone\nosapi_max_limit = 2\nservice_down_time = 3600\n\
                 transport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
                 api_paste_config = {venv}/etc/cinder/api-paste.ini\n\
                 state_path = {d}\nlog_dir = {d}\n\
                 [database]\nconnection = postgresql+psycopg2://postgres@127.0.0.1:5432/{database}\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [coordination]\nbackend_url = file://{d}/coordination\n\
                 [keystone_authtoken]\n{authtoken}",
                vhost = rpc.vhost,
                venv = venv.display(),
                d = dir.display(),
                authtoken = ks.authtoken_section("cinder", CINDER_PASSWORD),
            ),
        )
        .expect("cinder.conf");
        let out = Command::new(venv.join("bin/cinder-manage"))
            .arg("--config-file")
            .arg(&config)
            .args(["db", "sync"])
            .output()
            .expect("cinder-manage");
        assert!(
            out.status.success(),
            "cinder-manage db sync: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let api = Command::new(venv.join("bin/python"))
            .arg(repo().join(".ci/cinder_api.py"))
            .arg(&config)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("api.out")).expect("api.out"))
            .spawn()
            .expect("start the Cinder API");
        let url = format!("http://127.0.0.1:{port}/v3");
        let cinder = Cinder {
            url,
            dir,
            venv,
            config,
            database,
            api,
            scheduler: None,
            _rpc: rpc,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while cinder
            .curl("GET", &format!("http://127.0.0.1:{port}/"), None, None)
            .0
            != 300
        {
            assert!(
                Instant::now() < deadline,
                "Cinder did not come up: {}",
                cinder.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let catalog_url = format!("{}/%(project_id)s", cinder.url);
        let service = ks.create_service("volumev3", "cinderv3");
        for interface in ["public", "internal"] {
            ks.create_endpoint(&service, interface, &catalog_url);
        }
        eprintln!("cinder: up at {} in {:?}", cinder.url, begun.elapsed());
        cinder
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}{}",
            read(&self.dir.join("api.out")),
            read(&self.dir.join("cinder_api.py.log"))
        )
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
        let log = std::fs::File::create(self.dir.join("scheduler.out")).expect("scheduler.out");
        let scheduler = Command::new(self.venv.join("bin/cinder-scheduler"))
            .arg("--config-file")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start cinder-scheduler");
        self.scheduler = Some(scheduler);
        let backend = json!({"volume_backend_name": "test", "pools": [capabilities]});
        let pools = format!(
            "{}/{admin_project}/scheduler-stats/get_pools?detail=True",
            self.url
        );
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let out = Command::new(self.venv.join("bin/python"))
                .arg(repo().join("tests/fixtures/cinder/report_capabilities.py"))
                .arg(&self.config)
                .arg(host)
                .arg(backend.to_string())
                .output()
                .expect("report_capabilities.py");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
        psql_in(&self.database, statement);
    }
}

impl Drop for Cinder {
    fn drop(&mut self) {
        for process in std::iter::once(&mut self.api).chain(self.scheduler.as_mut()) {
            let _ = process.kill();
            let _ = process.wait();
        }
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
