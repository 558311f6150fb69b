//! A real Manila 20 API (OpenStack Shared File Systems, 2025.1 "Epoxy", Keystone 27's release)
//! on Keystone auth: the venv installed once by `.ci/manila-venv.sh`, a PostgreSQL database of
//! its own (`manila-manage db sync`), the API on a free port (werkzeug, `.ci/manila_api.py`),
//! keystonemiddleware validating every token with the given Keystone, registered in its catalog
//! as `sharev2` at `http://127.0.0.1:<port>/v2`, as deployments register it. Manila pages a
//! listing only when asked for a `limit`, which neither Ceilometer nor ceilo asks for: every
//! share comes in one reply.
//!
//! No scheduler or share service runs: the API casts its work to a RabbitMQ vhost of its own
//! where nothing consumes it, so a share stays `creating`; what a share service would have
//! written, Manila's database is told directly ([`Manila::place`]).
//!
//! Dropping the [`Manila`] stops the API, drops its database and removes its directory
//! (`service_support`).

#![allow(dead_code)]

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::runtime_support::Broker;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const MANILA_PASSWORD: &str = "manila-ks-pw";

/// The share type every share of the tests is made with (no share servers).
pub const SHARE_TYPE: &str = "default";

/// A running Manila API.
pub struct Manila {
    /// `http://127.0.0.1:<port>/v2`.
    pub url: String,
    api: Server,
    database: Database,
    _rpc: Broker,
    dir: tempfile::TempDir,
}

impl Manila {
    /// Manila on `ks`'s auth, with a `manila` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Manila {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/manila-venv.sh");
        ks.service_user("manila", MANILA_PASSWORD);
        let database = Database::postgresql("manila");
        let rpc = Broker::new("manila-rpc");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("manila.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\nauth_strategy = keystone\ndefault_share_type = {SHARE_TYPE}\nenabled_share_protocols = NFS,CIFS\n\
                 transport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
                 api_paste_config = {venv}/etc/manila/api-paste.ini\n\
                 state_path = {d}\nlog_dir = {d}\n\
                 [database]\nconnection = postgresql+psycopg2://postgres@127.0.0.1:5432/{database}\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [keystone_authtoken]\n{authtoken}",
                vhost = rpc.vhost,
                venv = venv.display(),
                d = dir.path().display(),
                database = database.name,
                authtoken = ks.authtoken_section("manila", MANILA_PASSWORD),
            ),
        )
        .expect("manila.conf");
        let mut db_sync = tool(&venv, "manila-manage");
        db_sync.arg("--config-file").arg(&config).args(["db", "sync"]);
        run(db_sync, "manila-manage db sync");
        let port = free_port();
        let api = Server::python(
            &venv,
            "manila_api.py",
            [config.as_os_str(), port.to_string().as_ref()],
            &dir.path().join("api.out"),
        );
        let manila = Manila {
            url: format!("http://127.0.0.1:{port}/v2"),
            api,
            database,
            _rpc: rpc,
            dir,
        };
        wait_until(
            "Manila",
            90,
            || curl_json("GET", &format!("http://127.0.0.1:{port}/"), None, &[], None).0 == 300,
            || manila.log_text(),
        );
        ks.register("sharev2", "manilav2", &manila.url);
        eprintln!("manila: up at {} in {:?}", manila.url, begun.elapsed());
        manila
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(
            self.dir.path(),
            &["api.out", "manila-api.log", "manila_api.py.log"],
        )
    }

    /// `curl` of `path` under the API (at microversion 2.40) as the holder of `token`.
    fn curl(&self, method: &str, path: &str, token: &str, body: Option<&Json>) -> (u16, Json) {
        curl_json(
            method,
            &format!("{}{path}", self.url),
            Some(token),
            &["x-openstack-manila-api-version: 2.40"],
            body,
        )
    }

    /// `POST /v2/types` of the [`SHARE_TYPE`] shares are made with, as the holder of `token`
    /// (an admin's).
    pub fn create_share_type(&self, token: &str) {
        let share_type = json!({"share_type": {"name": SHARE_TYPE,
            "extra_specs": {"driver_handles_share_servers": false}}});
        let (status, reply) = self.curl("POST", "/types", token, Some(&share_type));
        assert_eq!(status, 200, "POST /types: {reply}\n{}", self.log_text());
    }

    /// `POST /v2/shares` of `body` as the holder of `token`: the share Manila made.
    pub fn create(&self, token: &str, body: Json) -> Json {
        let (status, reply) = self.curl("POST", "/shares", token, Some(&json!({ "share": body })));
        assert!(
            status == 200 || status == 202,
            "POST /shares: {status} {reply}\n{}",
            self.log_text()
        );
        reply["share"].clone()
    }

    /// Share `id` on `host` (a share service's `host@backend#pool`) in `status`, as the share
    /// service would have left it.
    pub fn place(&self, id: &str, host: &str, status: &str) {
        self.database.sql(&format!(
            "UPDATE share_instances SET host = '{host}', status = '{status}' WHERE share_id = '{id}'"
        ));
    }
}
