//! A real Octavia 16 API (OpenStack Load Balancing, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/octavia-venv.sh`, a MariaDB database of its own
//! (`octavia-db-manage upgrade head`), the API on a free port (werkzeug, `.ci/octavia_api.py`),
//! keystonemiddleware validating every token with the given Keystone, registered in its catalog
//! as `load-balancer` at `http://127.0.0.1:<port>` (unversioned, as deployments register it).
//! Pages hold two load balancers (`pagination_max_limit = 2`), so every listing of more is
//! paged.
//!
//! Load balancers are made by the no-op provider (its network driver the no-op one too: no
//! Neutron, no amphora), so they stay as the API creates them (`PENDING_CREATE`, `OFFLINE`); what
//! a real provider would have reported, the database is told directly ([`Octavia::set_status`]).
//!
//! Dropping the [`Octavia`] stops the API, drops its database and removes its directory and the
//! no-op network driver's /tmp/octavia-network-noop.db.

#![allow(dead_code)]

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const OCTAVIA_PASSWORD: &str = "octavia-ks-pw";

/// Where Octavia's no-op network driver keeps its records, whatever the configuration says.
const NOOP_NETWORK_DB: &str = "/tmp/octavia-network-noop.db";

/// A running Octavia API.
pub struct Octavia {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    api: Server,
    database: Database,
    dir: tempfile::TempDir,
}

impl Octavia {
    /// Octavia on `ks`'s auth, with an `octavia` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Octavia {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/octavia-venv.sh");
        ks.service_user("octavia", OCTAVIA_PASSWORD);
        let database = Database::mariadb("octavia");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("octavia.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\ntransport_url = fake:/\nlog_file = {d}/octavia.log\n\
                 [api_settings]\nauth_strategy = keystone\npagination_max_limit = 2\n\
                 enabled_provider_drivers = noop_driver:The no-op driver\n\
                 default_provider_driver = noop_driver\n\
                 [controller_worker]\nnetwork_driver = network_noop_driver\n\
                 compute_driver = compute_noop_driver\namphora_driver = amphora_noop_driver\n\
                 [database]\nconnection = mysql+pymysql://root@127.0.0.1:3306/{database}\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [keystone_authtoken]\n{authtoken}",
                d = dir.path().display(),
                database = database.name,
                authtoken = ks.authtoken_section("octavia", OCTAVIA_PASSWORD),
            ),
        )
        .expect("octavia.conf");
        let mut upgrade = tool(&venv, "octavia-db-manage");
        upgrade
            .arg("--config-file")
            .arg(&config)
            .args(["upgrade", "head"]);
        run(upgrade, "octavia-db-manage upgrade head");
        let port = free_port();
        let api = Server::python(
            &venv,
            "octavia_api.py",
            [config.as_os_str(), port.to_string().as_ref()],
            &dir.path().join("api.out"),
        );
        let octavia = Octavia {
            url: format!("http://127.0.0.1:{port}"),
            api,
            database,
            dir,
        };
        wait_until(
            "Octavia",
            90,
            || curl_json("GET", &format!("{}/", octavia.url), None, &[], None).0 == 200,
            || octavia.log_text(),
        );
        ks.register("load-balancer", "octavia", &octavia.url);
        eprintln!("octavia: up at {} in {:?}", octavia.url, begun.elapsed());
        octavia
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "octavia.log"])
    }

    /// `POST /v2/lbaas/loadbalancers` of `body` as the holder of `token`: the load balancer
    /// Octavia made.
    pub fn create(&self, token: &str, body: Json) -> Json {
        let url = format!("{}/v2/lbaas/loadbalancers", self.url);
        let (status, reply) = curl_json(
            "POST",
            &url,
            Some(token),
            &[],
            Some(&json!({ "loadbalancer": body })),
        );
        assert_eq!(status, 201, "POST {url}: {reply}\n{}", self.log_text());
        reply["loadbalancer"].clone()
    }

    /// Load balancer `id`'s statuses, as its provider would report them.
    pub fn set_status(&self, id: &str, provisioning: &str, operating: &str) {
        self.database.sql(&format!(
            "UPDATE load_balancer SET provisioning_status = '{provisioning}', \
             operating_status = '{operating}' WHERE id = '{id}'"
        ));
    }
}

impl Drop for Octavia {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(NOOP_NETWORK_DB);
    }
}
