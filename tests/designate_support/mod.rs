//! A real Designate 20 (OpenStack DNS, 2025.1 "Epoxy", Keystone 27's release) on Keystone auth:
//! the venv installed once by `.ci/designate-venv.sh`, a MariaDB database of its own
//! (`designate-manage database sync`), `designate-central` on a RabbitMQ vhost of its own, one
//! pool (an NS record and a `fake` backend target: no DNS server is written to), and the API on
//! a free port (werkzeug, `.ci/designate_api.py`), keystonemiddleware validating every token
//! with the given Keystone, registered in its catalog as `dns` at `http://127.0.0.1:<port>`
//! (unversioned, as deployments register it). The API pages every listing by
//! [`PAGE_SIZE`], so a few zones and recordsets take several pages.
//!
//! No worker runs: a zone stays `PENDING`; what a worker would have written, Designate's
//! database is told directly ([`Designate::set_status`]).
//!
//! Dropping the [`Designate`] stops its processes, drops its database and removes its
//! directory (`service_support`).

#![allow(dead_code)]

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::runtime_support::Broker;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const DESIGNATE_PASSWORD: &str = "designate-ks-pw";

/// `[service:api] default_limit_v2`: records per page of a listing.
pub const PAGE_SIZE: usize = 2;

/// The pool every zone is placed in: one NS record, a `fake` backend.
const POOLS: &str = "- name: default\n  description: the tests' pool\n  attributes: {}\n  \
    ns_records:\n    - hostname: ns1.example.org.\n      priority: 1\n  nameservers:\n    \
    - host: 127.0.0.1\n      port: 53\n  targets:\n    - type: fake\n      description: no DNS server\n      \
    masters:\n        - host: 127.0.0.1\n          port: 5354\n      options: {}\n";

/// A running Designate: its central service and API.
pub struct Designate {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    api: Server,
    central: Server,
    database: Database,
    _rpc: Broker,
    dir: tempfile::TempDir,
}

impl Designate {
    /// Designate on `ks`'s auth, with a `designate` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Designate {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/designate-venv.sh");
        ks.service_user("designate", DESIGNATE_PASSWORD);
        let database = Database::mariadb("designate");
        let rpc = Broker::new("designate-rpc");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("designate.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
                 state_path = {d}\nlog_dir = {d}\n\
                 [storage:sqlalchemy]\nconnection = mysql+pymysql://root@127.0.0.1/{database}\n\
                 [service:api]\nauth_strategy = keystone\nenable_api_v2 = True\n\
                 default_limit_v2 = {PAGE_SIZE}\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [keystone_authtoken]\n{authtoken}",
                vhost = rpc.vhost,
                d = dir.path().display(),
                database = database.name,
                authtoken = ks.authtoken_section("designate", DESIGNATE_PASSWORD),
            ),
        )
        .expect("designate.conf");
        // The API reads designate.conf and api-paste.ini from one directory, as /etc/designate.
        std::fs::copy(
            venv.join("etc/designate/api-paste.ini"),
            dir.path().join("api-paste.ini"),
        )
        .expect("the venv's api-paste.ini");
        let pools = dir.path().join("pools.yaml");
        std::fs::write(&pools, POOLS).expect("pools.yaml");
        let manage = |args: &[&str]| {
            let mut command = tool(&venv, "designate-manage");
            command.arg("--config-file").arg(&config).args(args);
            command
        };
        run(manage(&["database", "sync"]), "designate-manage database sync");
        let mut central = tool(&venv, "designate-central");
        central.arg("--config-file").arg(&config);
        let central = Server::spawn(central, &dir.path().join("central.out"), "designate-central");
        let port = free_port();
        let api = Server::python(
            &venv,
            "designate_api.py",
            [dir.path().as_os_str(), port.to_string().as_ref()],
            &dir.path().join("api.out"),
        );
        let designate = Designate {
            url: format!("http://127.0.0.1:{port}"),
            api,
            central,
            database,
            _rpc: rpc,
            dir,
        };
        // The pool is written by central: `pool update` asks it, so central must be consuming
        // its queue first; the NS record is written after the command returns.
        wait_until(
            "designate-central",
            90,
            || designate._rpc.consumed_queues().contains("central"),
            || designate.log_text(),
        );
        let pools = pools.to_str().expect("a UTF-8 path");
        run(
            manage(&["pool", "update", "--file", pools]),
            "designate-manage pool update",
        );
        wait_until(
            "Designate's pool",
            30,
            || designate.database.query("SELECT COUNT(*) FROM pool_ns_records") != "0",
            || designate.log_text(),
        );
        wait_until(
            "Designate",
            90,
            || curl_json("GET", &format!("{}/", designate.url), None, &[], None).0 == 200,
            || designate.log_text(),
        );
        ks.register("dns", "designate", &designate.url);
        eprintln!("designate: up at {} in {:?}", designate.url, begun.elapsed());
        designate
    }

    /// Central's and the API's logs.
    pub fn log_text(&self) -> String {
        read_logs(
            self.dir.path(),
            &[
                "central.out",
                "designate-central.log",
                "designate-manage.log",
                "api.out",
                "designate_api.py.log",
            ],
        )
    }

    /// `curl` of `path` under the API's v2 as the holder of `token`.
    fn curl(&self, method: &str, path: &str, token: &str, body: Option<&Json>) -> (u16, Json) {
        curl_json(method, &format!("{}/v2{path}", self.url), Some(token), &[], body)
    }

    /// `POST /v2/zones` of `body` as the holder of `token`: the zone Designate made.
    pub fn create_zone(&self, token: &str, body: Json) -> Json {
        let (status, reply) = self.curl("POST", "/zones", token, Some(&body));
        assert_eq!(status, 202, "POST /zones: {reply}\n{}", self.log_text());
        reply
    }

    /// An `A` recordset `name` in zone `zone` as the holder of `token`.
    pub fn create_a_record(&self, token: &str, zone: &str, name: &str, address: &str) {
        let body = json!({"name": name, "type": "A", "records": [address]});
        let (status, reply) = self.curl("POST", &format!("/zones/{zone}/recordsets"), token, Some(&body));
        assert_eq!(status, 202, "POST recordsets: {reply}\n{}", self.log_text());
    }

    /// Zone `id` in `status` after `action`, as a worker would have left it.
    pub fn set_status(&self, id: &str, status: &str, action: &str) {
        let id = id.replace('-', "");
        self.database.sql(&format!(
            "UPDATE zones SET status = '{status}', action = '{action}' WHERE id = '{id}'"
        ));
    }
}
