//! A real Gnocchi 4.7 per test: the venv installed once by `.ci/gnocchi-venv.sh` (cached,
//! flock'd), a PostgreSQL database of its own on the machine's server (127.0.0.1:5432, trust
//! auth for `postgres`), `file` storage in a temp dir, `gnocchi-upgrade`, then the API on a
//! free port with basic auth (werkzeug, `.ci/gnocchi_api.py`). Measures are read back with
//! `refresh=true`, which aggregates on the spot, so no `gnocchi-metricd` is needed. Dropping
//! the [`Gnocchi`] stops the API, drops the database and removes the directory.
//! [`Gnocchi::start_keystone`] serves `[api] auth_mode = keystone` instead, its
//! keystonemiddleware validating tokens against a real Keystone (tests/keystone_support).
//!
//! Ceilometer's resource types (what `ceilometer-upgrade` creates) come from
//! src/publish/gnocchi/resource_types.json, dumped from a Gnocchi that `ceilometer-upgrade`
//! of Ceilometer 27 had set up.

#![allow(dead_code)]

pub mod access_log;
pub mod ceilometer;
pub mod compare;
pub mod procs;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

/// The role every test database belongs to.
const ROLE: &str = "ceilo_gnocchi";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Gnocchi venv, installed on first use.
pub fn venv() -> PathBuf {
    venv_from(".ci/gnocchi-venv.sh")
}

/// The venv that `script` (a `.ci/*-venv.sh`: Gnocchi, Keystone, Cinder) installs when it is
/// missing, and prints.
pub fn venv_from(script: &str) -> PathBuf {
    let out = Command::new("bash")
        .arg(repo().join(script))
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(out.status.success(), "{script} failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs `sql` as `postgres` on 127.0.0.1; a failure panics with psql's error.
pub fn psql(sql: &str) {
    psql_in("postgres", sql);
}

/// Runs `sql` in `database` as `postgres` on 127.0.0.1; a failure panics with psql's error.
pub fn psql_in(database: &str, sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", database])
        .args(["-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("psql (PostgreSQL client) must be installed");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `curl` of an OpenStack API (JSON both ways): `method` on `url` with `headers` (each
/// `name: value`) and the token of `token`, if any; the status and the reply (null when it is not
/// JSON).
pub fn curl_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[&str],
    body: Option<&Json>,
) -> (u16, Json) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-m", "30", "-w", "\n%{http_code}", "-X", method, url])
        .args(["-H", "content-type: application/json"]);
    for header in headers {
        cmd.args(["-H", header]);
    }
    if let Some(t) = token {
        cmd.args(["-H", &format!("x-auth-token: {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["-d", &b.to_string()]);
    }
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout);
    let (reply, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        status.trim().parse().unwrap_or(0),
        serde_json::from_str(reply).unwrap_or(Json::Null),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running Gnocchi with its own database and storage.
pub struct Gnocchi {
    pub url: String,
    pub port: u16,
    database: String,
    dir: tempfile::TempDir,
    config: PathBuf,
    api: Option<Child>,
    /// curl's authentication arguments for the harness' own requests.
    auth: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

impl Gnocchi {
    /// Start a Gnocchi with Ceilometer's resource types.
    pub fn start(tag: &str) -> Gnocchi {
        let g = Gnocchi::start_empty(tag);
        g.create_resource_types();
        g
    }

    /// Start a Gnocchi with only Gnocchi's own `generic` resource type.
    pub fn start_empty(tag: &str) -> Gnocchi {
        Gnocchi::start_with(
            tag,
            "[api]\nauth_mode = basic\n",
            Box::new(|| vec!["-u".into(), "admin:".into()]),
        )
    }

    /// Start a Gnocchi with Ceilometer's resource types whose API authenticates with Keystone
    /// (`keystone_authtoken`: keystonemiddleware's section, tokens validated at every request);
    /// `auth` gives the harness' curl arguments (an admin token).
    pub fn start_keystone(
        tag: &str,
        keystone_authtoken: &str,
        auth: Box<dyn Fn() -> Vec<String> + Send + Sync>,
    ) -> Gnocchi {
        let g = Gnocchi::start_with(
            tag,
            &format!(
                "[api]\nauth_mode = keystone\npaste_config = {{dir}}/api-paste.ini\n\
                 [keystone_authtoken]\n{keystone_authtoken}"
            ),
            auth,
        );
        g.create_resource_types();
        g
    }

    fn start_with(tag: &str, api_conf: &str, auth: Box<dyn Fn() -> Vec<String> + Send + Sync>) -> Gnocchi {
        static N: AtomicUsize = AtomicUsize::new(0);
        let venv = venv();
        let database = format!(
            "ceilo_gnocchi_{}_{}_{}",
            tag.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        // Tests of several binaries start Gnocchis at once: the role is created by whichever
        // comes first, and a check-then-create would race, so a create that lost is fine.
        psql(&format!(
            "DO $$BEGIN CREATE ROLE {ROLE} LOGIN PASSWORD 'gnocchi'; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END$$"
        ));
        psql(&format!("CREATE DATABASE {database} OWNER {ROLE}"));
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = dir.path().join("storage");
        let config = dir.path().join("gnocchi.conf");
        let api_conf = api_conf.replace("{dir}", &dir.path().display().to_string());
        if api_conf.contains("paste_config") {
            // Gnocchi's paste pipeline, with keystonemiddleware reading its section from this
            // gnocchi.conf (by default it looks for /etc/gnocchi/gnocchi.conf).
            let shipped = venv
                .join("lib")
                .read_dir()
                .expect("venv lib")
                .filter_map(Result::ok)
                .map(|e| e.path().join("site-packages/gnocchi/rest/api-paste.ini"))
                .find(|p| p.exists())
                .expect("gnocchi's api-paste.ini");
            let paste = std::fs::read_to_string(shipped).expect("api-paste.ini").replace(
                "use = egg:keystonemiddleware#auth_token\noslo_config_project = gnocchi\n",
                &format!(
                    "use = egg:keystonemiddleware#auth_token\noslo_config_project = gnocchi\n\
                     oslo_config_file = {}\n",
                    config.display()
                ),
            );
            std::fs::write(dir.path().join("api-paste.ini"), paste).expect("api-paste.ini");
        }
        std::fs::write(
            &config,
            format!(
                "[indexer]\nurl = postgresql://{ROLE}:gnocchi@127.0.0.1:5432/{database}\n\
                 [storage]\ndriver = file\nfile_basepath = {s}\n\
                 [incoming]\ndriver = file\nfile_basepath = {s}\n{api_conf}",
                s = storage.display()
            ),
        )
        .expect("gnocchi.conf");
        let port = free_port();
        let mut g = Gnocchi {
            url: format!("http://127.0.0.1:{port}"),
            port,
            database,
            config,
            dir,
            api: None,
            auth,
        };
        let upgrade = Command::new(venv.join("bin/gnocchi-upgrade"))
            .arg("--config-file")
            .arg(&g.config)
            .output()
            .expect("gnocchi-upgrade");
        assert!(
            upgrade.status.success(),
            "gnocchi-upgrade: {}",
            String::from_utf8_lossy(&upgrade.stderr)
        );
        g.start_api();
        g
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("api.log")
    }

    /// Start (or restart) the API on the same port.
    pub fn start_api(&mut self) {
        assert!(self.api.is_none(), "the API is running already");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("api.log");
        let child = Command::new(venv().join("bin/python"))
            .arg(repo().join(".ci/gnocchi_api.py"))
            .arg(&self.config)
            .arg(self.port.to_string())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the Gnocchi API");
        self.api = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        while self.try_get("/v1/archive_policy").is_none() {
            if let Some(Ok(Some(status))) = self.api.as_mut().map(Child::try_wait) {
                panic!("the Gnocchi API exited ({status}): {}", self.api_log());
            }
            assert!(
                Instant::now() < deadline,
                "Gnocchi API did not come up: {}",
                self.api_log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop the API (the database and storage stay): Gnocchi is down.
    pub fn stop_api(&mut self) {
        if let Some(mut c) = self.api.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn api_log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// The requests the API has served, as "METHOD path status" → count (see [`access_log`]).
    pub fn requests(&self) -> std::collections::BTreeMap<String, usize> {
        access_log::requests(&self.api_log())
    }

    fn curl(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, String) {
        let mut cmd = Command::new("curl");
        cmd.arg("-s").args((self.auth)());
        cmd.args(["-X", method, "-H", "accept: application/json"]);
        cmd.args(["-H", "content-type: application/json", "-w", "\n%{http_code}"]);
        if let Some(b) = body {
            cmd.args(["-d", &b.to_string()]);
        }
        let out = cmd.arg(format!("{}{path}", self.url)).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    fn try_get(&self, path: &str) -> Option<Json> {
        match self.curl("GET", path, None) {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// GET a JSON document; panics unless 200.
    pub fn get(&self, path: &str) -> Json {
        let (code, body) = self.curl("GET", path, None);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// POST a JSON document; returns the status and body.
    pub fn post(&self, path: &str, body: &Json) -> (u16, Json) {
        let (code, text) = self.curl("POST", path, Some(body));
        (code, serde_json::from_str(&text).unwrap_or(Json::Null))
    }

    /// Ceilometer's resource types (as `ceilometer-upgrade` makes them).
    pub fn create_resource_types(&self) {
        let types = std::fs::read_to_string(repo().join("src/publish/gnocchi/resource_types.json"))
            .expect("resource_types.json");
        let types: Vec<Json> = serde_json::from_str(&types).expect("resource types");
        for t in &types {
            let (code, body) = self.post("/v1/resource_type", t);
            assert!(
                code == 201 || code == 409,
                "resource type {}: {code} {body}",
                t["name"]
            );
        }
    }

    /// Every resource (of every type), with details.
    pub fn resources(&self) -> Vec<Json> {
        let mut all = Vec::new();
        let mut marker = String::new();
        loop {
            let page = self.get(&format!(
                "/v1/resource/generic?details=true&limit=1000&sort=id:asc{marker}"
            ));
            let page = page.as_array().cloned().unwrap_or_default();
            let Some(last) = page.last().and_then(|r| r["id"].as_str()).map(str::to_owned) else {
                break;
            };
            let n = page.len();
            all.extend(page);
            if n < 1000 {
                break;
            }
            marker = format!("&marker={last}");
        }
        all
    }

    /// A metric's aggregated measures, aggregated now (`refresh=true`).
    pub fn measures(&self, metric_id: &str) -> Json {
        self.get(&format!("/v1/metric/{metric_id}/measures?refresh=true"))
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The API server's pid, while it runs.
    pub fn api_pid(&self) -> Option<u32> {
        self.api.as_ref().map(Child::id)
    }

    /// Let PostgreSQL accept connections to this Gnocchi's database, or refuse them and end
    /// the backends serving it: with its indexer gone, Gnocchi's API answers 5xx.
    pub fn database_connections(&self, allow: bool) {
        psql(&format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allow}",
            self.database
        ));
        if !allow {
            psql(&format!(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{}'",
                self.database
            ));
        }
    }

    /// The pids of PostgreSQL's backends serving this Gnocchi's database now.
    pub fn database_backends(&self) -> Vec<u32> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-tAc"])
            .arg(format!(
                "SELECT pid FROM pg_stat_activity WHERE datname = '{}'",
                self.database
            ))
            .output()
            .expect("psql");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Measures the API has accepted and not yet aggregated: with no `gnocchi-metricd`
    /// running, every measure ever accepted. The `file` incoming driver writes each accepted
    /// batch of a metric as one file of 16-byte (time, value) records under
    /// `<storage>/incoming<sacks>-<n>/<metric id>/` (moved there whole, so never partial).
    pub fn incoming_measures(&self) -> u64 {
        let storage = self.dir.path().join("storage");
        let mut total = 0;
        for sack in std::fs::read_dir(&storage).into_iter().flatten().flatten() {
            if !sack.file_name().to_string_lossy().starts_with("incoming") {
                continue;
            }
            for metric in std::fs::read_dir(sack.path()).into_iter().flatten().flatten() {
                for batch in std::fs::read_dir(metric.path()).into_iter().flatten().flatten() {
                    total += batch.metadata().map_or(0, |m| m.len()) / 16;
                }
            }
        }
        total
    }
}

impl Drop for Gnocchi {
    fn drop(&mut self) {
        self.stop_api();
        let _ = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-qc"])
            .arg(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database))
            .output();
    }
}

/// `n` telemetry.polling notifications of one `ip.floating` sample each (a `network`
/// resource: no required attributes), over `resources` resources, one second apart, as
/// (exchange, routing key, body) to publish.
pub fn floating_ip_messages(tag: &str, n: usize, resources: usize) -> Vec<(String, String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let resource = format!("{tag}-{}", i % resources);
            polling_message(
                &format!("{tag}-{i}"),
                "ip.floating",
                "p",
                &resource,
                i / resources,
            )
        })
        .collect()
}

/// A telemetry.polling notification of one sample of `meter` (volume = `second`) about
/// `resource` of `project`, at `second` seconds past 09:00.
pub fn polling_message(
    id: &str,
    meter: &str,
    project: &str,
    resource: &str,
    second: usize,
) -> (String, String, Vec<u8>) {
    let sample = serde_json::json!({
        "source": "openstack", "counter_name": meter, "counter_type": "gauge",
        "counter_unit": "ip", "counter_volume": second, "user_id": "u", "user_name": null,
        "project_id": project, "project_name": null, "resource_id": resource,
        "timestamp": format!("2026-03-14T09:{:02}:{:02}+00:00", second / 60, second % 60),
        "resource_metadata": {}, "message_id": id, "monotonic_time": null,
        "message_signature": "x"
    });
    let inner = serde_json::json!({
        "message_id": format!("m-{id}"), "publisher_id": "ceilometer.polling",
        "event_type": "telemetry.polling", "priority": "SAMPLE",
        "payload": {"samples": [sample]}, "timestamp": "2026-03-14 09:45:00.123456",
        "_unique_id": format!("u-{id}")
    });
    let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
    (
        "ceilometer".to_owned(),
        "notifications.sample".to_owned(),
        body.to_string().into_bytes(),
    )
}

/// Measures Gnocchi holds at 1-second granularity, over every resource.
pub fn second_measures(g: &Gnocchi) -> usize {
    g.resources()
        .iter()
        .filter_map(|r| r["metrics"]["ip.floating"].as_str().map(str::to_owned))
        .map(|m| {
            g.measures(&m)
                .as_array()
                .map_or(0, |a| a.iter().filter(|x| x[1].as_f64() == Some(1.0)).count())
        })
        .sum()
}
