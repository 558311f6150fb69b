//! A real Neutron 26 API (OpenStack Networking, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/neutron-venv.sh`, a MariaDB database of its
//! own (`neutron-db-manage upgrade heads`; neutron-vpnaas' migrations fail on PostgreSQL), the
//! ML2 plugin with flat networks, the L3 router plugin and the VPNaaS and FWaaS v2 plugins, the
//! API on a free port (werkzeug, `.ci/neutron_api.py`), keystonemiddleware
//! validating every token with the given Keystone, registered in its catalog as `network` at
//! `http://127.0.0.1:<port>` (unversioned, as deployments register it). Pages hold two records
//! (`pagination_max_limit = 2`), so every listing of more is paged.
//!
//! No agent runs (no L3, DHCP, OVS, VPN or firewall agent): a floating IP stays `DOWN` and a VPN
//! service `PENDING_CREATE`, as Neutron makes them. What an agent would have written, Neutron's
//! database is told directly ([`Neutron::set_status`]).
//!
//! Dropping the [`Neutron`] stops the API, drops its database and removes its directory
//! (`service_support`).

#![allow(dead_code)]

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;
use crate::service_support::{read_logs, run, tool, wait_until, Database, Server};

pub const NEUTRON_PASSWORD: &str = "neutron-ks-pw";

/// A running Neutron API.
pub struct Neutron {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    api: Server,
    database: Database,
    dir: tempfile::TempDir,
}

impl Neutron {
    /// Neutron on `ks`'s auth, with a `neutron` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Neutron {
        let begun = std::time::Instant::now();
        let venv = venv_from(".ci/neutron-venv.sh");
        ks.service_user("neutron", NEUTRON_PASSWORD);
        let database = Database::mariadb("neutron");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("neutron.conf");
        std::fs::write(
            &config,
            format!(
                "[DEFAULT]\ncore_plugin = ml2\nservice_plugins = router,vpnaas,firewall_v2\n\
                 auth_strategy = keystone\n\
                 pagination_max_limit = 2\ntransport_url = fake:/\n\
                 api_paste_config = {venv}/etc/neutron/api-paste.ini\nlog_file = {d}/neutron.log\n\
                 [database]\nconnection = mysql+pymysql://root@127.0.0.1:3306/{database}\n\
                 [ml2]\ntype_drivers = flat\ntenant_network_types =\nmechanism_drivers =\n\
                 extension_drivers =\n[ml2_type_flat]\nflat_networks = *\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [service_providers]\n\
                 service_provider = VPN:strongswan:neutron_vpnaas.services.vpn.service_drivers.ipsec.IPsecVPNDriver:default\n\
                 service_provider = FIREWALL_V2:fwaas_db:neutron_fwaas.services.firewall.service_drivers.agents.agents.FirewallAgentDriver:default\n\
                 [keystone_authtoken]\n{authtoken}",
                venv = venv.display(),
                d = dir.path().display(),
                database = database.name,
                authtoken = ks.authtoken_section("neutron", NEUTRON_PASSWORD),
            ),
        )
        .expect("neutron.conf");
        let mut upgrade = tool(&venv, "neutron-db-manage");
        upgrade
            .arg("--config-file")
            .arg(&config)
            .args(["upgrade", "heads"]);
        run(upgrade, "neutron-db-manage upgrade heads");
        let port = free_port();
        let api = Server::python(
            &venv,
            "neutron_api.py",
            [dir.path().as_os_str(), port.to_string().as_ref()],
            &dir.path().join("api.out"),
        );
        let neutron = Neutron {
            url: format!("http://127.0.0.1:{port}"),
            api,
            database,
            dir,
        };
        wait_until(
            "Neutron",
            90,
            || curl_json("GET", &format!("{}/", neutron.url), None, &[], None).0 == 200,
            || neutron.log_text(),
        );
        ks.register("network", "neutron", &neutron.url);
        eprintln!("neutron: up at {} in {:?}", neutron.url, begun.elapsed());
        neutron
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        read_logs(self.dir.path(), &["api.out", "neutron.log"])
    }

    /// `POST /v2.0/<collection>` (`floatingips`, `vpn/ipsec-site-connections`) of `body` as the
    /// holder of `token`: the record Neutron made.
    pub fn create(&self, token: &str, collection: &str, body: Json) -> Json {
        let plural = collection
            .rsplit('/')
            .next()
            .unwrap_or(collection)
            .replace('-', "_");
        let kind = match plural.strip_suffix("ies") {
            Some(stem) => format!("{stem}y"),
            None => plural.trim_end_matches('s').to_owned(),
        };
        let kind = kind.as_str();
        let url = format!("{}/v2.0/{collection}", self.url);
        let (status, reply) = curl_json("POST", &url, Some(token), &[], Some(&json!({ kind: body })));
        assert_eq!(status, 201, "POST {url}: {reply}\n{}", self.log_text());
        reply[kind].clone()
    }

    /// `PUT /v2.0/<path>` of `body` as the holder of `token`: Neutron's reply.
    pub fn update(&self, token: &str, path: &str, body: Json) -> Json {
        let url = format!("{}/v2.0/{path}", self.url);
        let (status, reply) = curl_json("PUT", &url, Some(token), &[], Some(&body));
        assert_eq!(status, 200, "PUT {url}: {reply}\n{}", self.log_text());
        reply
    }

    /// The status of record `id` of `table` (`floatingips`, `vpnservices`), as an agent would
    /// report it (Neutron's API cannot set it).
    pub fn set_status(&self, table: &str, id: &str, status: &str) {
        self.database.sql(&format!(
            "UPDATE {table} SET status = '{status}' WHERE id = '{id}'"
        ));
    }

    /// How many records `GET /v2.0/<collection>` gives the holder of `token`, every page.
    pub fn count(&self, token: &str, collection: &str) -> usize {
        let key = collection
            .rsplit('/')
            .next()
            .unwrap_or(collection)
            .replace('-', "_");
        let mut url = format!("{}/v2.0/{collection}", self.url);
        let mut count = 0;
        loop {
            let (status, reply) = curl_json("GET", &url, Some(token), &[], None);
            assert_eq!(status, 200, "GET {url}: {reply}\n{}", self.log_text());
            count += reply[key.as_str()].as_array().map_or(0, Vec::len);
            let links = reply[format!("{key}_links").as_str()]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match links
                .iter()
                .find(|l| l["rel"] == "next")
                .and_then(|l| l["href"].as_str())
            {
                Some(next) => url = next.to_owned(),
                None => return count,
            }
        }
    }
}
