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

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::gnocchi_support::{curl_json, free_port, venv_from};
use crate::keystone_support::Keystone;

pub const OCTAVIA_PASSWORD: &str = "octavia-ks-pw";

/// A running Octavia API.
pub struct Octavia {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    dir: PathBuf,
    database: String,
    api: Child,
}

/// Runs `sql` as MariaDB's `root` on 127.0.0.1; a failure panics with the client's error.
fn mariadb(sql: &str) {
    let out = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-u", "root", "-e", sql])
        .output()
        .expect("mariadb (MariaDB client) must be installed");
    assert!(
        out.status.success(),
        "mariadb {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Octavia {
    /// Octavia on `ks`'s auth, with an `octavia` service user and its catalog entry.
    pub fn start(ks: &Keystone) -> Octavia {
        let begun = Instant::now();
        let venv = venv_from(".ci/octavia-venv.sh");
        let service = ks.project("service");
        ks.user("octavia", OCTAVIA_PASSWORD, &service, "admin");
        let database = format!("ceilo_octavia_{}", std::process::id());
        mariadb(&format!("DROP DATABASE IF EXISTS {database}"));
        mariadb(&format!("CREATE DATABASE {database}"));
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let config = dir.join("octavia.conf");
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
                d = dir.display(),
                authtoken = ks.authtoken_section("octavia", OCTAVIA_PASSWORD),
            ),
        )
        .expect("octavia.conf");
        let out = Command::new(venv.join("bin/octavia-db-manage"))
            .arg("--config-file")
            .arg(&config)
            .args(["upgrade", "head"])
            .output()
            .expect("octavia-db-manage");
        assert!(
            out.status.success(),
            "octavia-db-manage upgrade head: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let api = Command::new(venv.join("bin/python"))
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/octavia_api.py"))
            .arg(&config)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("api.out")).expect("api.out"))
            .spawn()
            .expect("start the Octavia API");
        let octavia = Octavia {
            url: format!("http://127.0.0.1:{port}"),
            dir,
            database,
            api,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while curl_json("GET", &format!("{}/", octavia.url), None, &[], None).0 != 200 {
            assert!(
                Instant::now() < deadline,
                "Octavia did not come up: {}",
                octavia.log_text()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        let service = ks.create_service("load-balancer", "octavia");
        for interface in ["public", "internal"] {
            ks.create_endpoint(&service, interface, &octavia.url);
        }
        eprintln!("octavia: up at {} in {:?}", octavia.url, begun.elapsed());
        octavia
    }

    /// The API's own log (requests, errors).
    pub fn log_text(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap_or_default();
        format!("{}{}", read("api.out"), read("octavia.log"))
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
        mariadb(&format!(
            "UPDATE {}.load_balancer SET provisioning_status = '{provisioning}', \
             operating_status = '{operating}' WHERE id = '{id}'",
            self.database
        ));
    }
}

impl Drop for Octavia {
    fn drop(&mut self) {
        let _ = self.api.kill();
        let _ = self.api.wait();
        let _ = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-u", "root", "-e"])
            .arg(format!("DROP DATABASE IF EXISTS {}", self.database))
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
        // Where Octavia's no-op network driver keeps its state: a fixed path, not configurable.
        let _ = std::fs::remove_file("/tmp/octavia-network-noop.db");
    }
}
