//! A real Neutron 26 API (OpenStack Networking, 2025.1 "Epoxy", Keystone 27's release) on
//! Keystone auth: the venv installed once by `.ci/neutron-venv.sh`, a PostgreSQL database of its
//! own (`neutron-db-manage upgrade heads`), the ML2 plugin with flat networks and the L3 router
//! plugin, the API on a free port (werkzeug, `.ci/neutron_api.py`), keystonemiddleware
//! validating every token with the given Keystone, registered in its catalog as `network` at
//! `http://127.0.0.1:<port>` (unversioned, as deployments register it). Pages hold two records
//! (`pagination_max_limit = 2`), so every listing of more is paged.
//!
//! No agent runs (no L3, DHCP or OVS agent): a floating IP stays `DOWN`, as Neutron makes it.
//! What an L3 agent would have written, Neutron's database is told directly
//! ([`Neutron::set_status`]).
//!
//! Dropping the [`Neutron`] stops the API, drops its database and removes its directory.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, psql, psql_in, venv_from};
use crate::keystone_support::Keystone;

pub const NEUTRON_PASSWORD: &str = "neutron-ks-pw";

/// A running Neutron API.
pub struct Neutron {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
    database: String,
    api: Child,
}

impl Neutron {
    /// Neutron on `ks`'s auth, with a `neutron` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Neutron {
        let begun = Instant::now();
        let venv = venv_from(".ci/neutron-venv.sh");
        let service = ks.project("service");
        ks.user("neutron", NEUTRON_PASSWORD, &service, "admin");
        let database = format!("ceilo_neutron_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {database}"));
        let dir = tempfile::tempdir().expect("tempdir").keep();
        std::fs::write(
            dir.join("neutron.conf"),
            format!(
                "[DEFAULT]\ncore_plugin = ml2\nservice_plugins = router\nauth_strategy = keystone\n\
                 pagination_max_limit = 2\ntransport_url = fake:/\n\
                 api_paste_config = {venv}/etc/neutron/api-paste.ini\nlog_file = {d}/neutron.log\n\
                 [database]\nconnection = postgresql+psycopg2://postgres@127.0.0.1:5432/{database}\n\
                 [ml2]\ntype_drivers = flat\ntenant_network_types =\nmechanism_drivers =\n\
                 extension_drivers =\n[ml2_type_flat]\nflat_networks = *\n\
                 [oslo_messaging_notifications]\ndriver = noop\n\
                 [oslo_concurrency]\nlock_path = {d}/lock\n\
                 [keystone_authtoken]\n{authtoken}",
                venv = venv.display(),
                d = dir.display(),
                authtoken = ks.authtoken_section("neutron", NEUTRON_PASSWORD),
            ),
        )
        .expect("neutron.conf");
        let out = Command::new(venv.join("bin/neutron-db-manage"))
            .arg("--config-file")
            .arg(dir.join("neutron.conf"))
            .args(["upgrade", "heads"])
            .output()
            .expect("neutron-db-manage");
        assert!(
            out.status.success(),
            "neutron-db-manage upgrade heads: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let api = Command::new(venv.join("bin/python"))
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/neutron_api.py"))
            .arg(&dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("api.out")).expect("api.out"))
            .spawn()
            .expect("start the Neutron API");
        let neutron = Neutron {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            database,
            api,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while curl_json("GET", &format!("{}/", neutron.url), None, &[], None).0 != 200 {
            assert!(
                Instant::now() < deadline,
                "Neutron did not come up: {}",
                neutron.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let service = ks.create_service("network", "neutron");
        for interface in ["public", "internal"] {
            ks.create_endpoint(&service, interface, &neutron.url);
        }
        eprintln!("neutron: up at {} in {:?}", neutron.url, begun.elapsed());
        neutron
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("api.out"), read("neutron.log"))
    }

    /// `POST /v2.0/<collection>` of `body` as the holder of `token`: the record Neutron made.
    pub fn create(&self, token: &str, collection: &str, body: Json) -> Json {
        let kind = collection.trim_end_matches('s');
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

    /// Floating IP `id`'s status, as an L3 agent would report it (Neutron's API cannot set it).
    pub fn set_status(&self, id: &str, status: &str) {
        psql_in(
            &self.database,
            &format!("UPDATE floatingips SET status = '{status}' WHERE id = '{id}'"),
        );
    }
}

impl Drop for Neutron {
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
