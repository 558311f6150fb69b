//! A real Keystone 27 (OpenStack Identity), one per test binary: the venv installed once by
//! `.ci/keystone-venv.sh`, a PostgreSQL database of its own on the machine's server
//! (127.0.0.1:5432, trust auth for `postgres`), fernet tokens, `keystone-manage db_sync` and
//! `bootstrap` (admin user, `admin` project, RegionOne, the identity endpoint), then the API on
//! a free port (werkzeug, `.ci/keystone_api.py`).
//!
//! Setting Keystone up costs ~15 s, so [`shared`] starts it once and every test of the binary
//! uses it. A static is never dropped, so the API runs under a small shell that waits for its
//! stdin to close — which happens when the test process exits, however it exits — and then
//! stops the API, drops the database and removes the directory.
//!
//! Keystone logs one line per request (`"POST /v3/auth/tokens HTTP/1.1" 201`), which is how
//! the tests count the tokens a client asked for: [`Keystone::token_requests`].

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value as Json};

use crate::gnocchi_support::{free_port, psql, venv_from};

pub const ADMIN_PASSWORD: &str = "keystone-admin-pw";
pub const REGION: &str = "RegionOne";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Keystone venv, installed on first use.
pub fn venv() -> PathBuf {
    venv_from(".ci/keystone-venv.sh")
}

/// A running Keystone.
pub struct Keystone {
    /// The identity endpoint, `http://127.0.0.1:<port>/v3`.
    pub url: String,
    dir: PathBuf,
    admin_token: String,
    /// The API's supervisor shell, reading its stdin (held open by this `Child`, never
    /// dropped) until the test process exits.
    _supervisor: Mutex<Child>,
    /// Tests that count Keystone's requests hold this, so that no other test adds to the count.
    exclusive: Mutex<()>,
    /// The same Keystone over https ([`Keystone::https`]), started on first use.
    https: OnceLock<(String, PathBuf, Mutex<Child>)>,
}

#[path = "../tls_support/mod.rs"]
mod tls;

static SHARED: OnceLock<Keystone> = OnceLock::new();

/// The binary's Keystone, started on first use.
pub fn shared() -> &'static Keystone {
    SHARED.get_or_init(Keystone::start)
}

/// A random fernet key, as `keystone-manage fernet_setup` writes it.
fn fernet_key() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE.encode(bytes)
}

/// A key repository with a primary (`1`) and a staged (`0`) key, mode 0700 as Keystone wants.
fn key_repository(dir: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("key repository");
    for n in ["0", "1"] {
        std::fs::write(dir.join(n), fernet_key()).expect("fernet key");
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
}

fn manage(venv: &Path, config: &Path, args: &[&str]) {
    let out = Command::new(venv.join("bin/keystone-manage"))
        .arg("--config-file")
        .arg(config)
        .args(args)
        .output()
        .expect("keystone-manage");
    assert!(
        out.status.success(),
        "keystone-manage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Keystone {
    fn start() -> Keystone {
        let begun = Instant::now();
        let venv = venv();
        let database = format!("ceilo_keystone_{}", std::process::id());
        psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        psql(&format!("CREATE DATABASE {database}"));
        let dir = tempfile::tempdir().expect("tempdir").keep();
        key_repository(&dir.join("fernet-keys"));
        key_repository(&dir.join("credential-keys"));
        let config = dir.join("keystone.conf");
        std::fs::write(
            &config,
            format!(
                "[database]\nconnection = postgresql+psycopg2://postgres@127.0.0.1:5432/{database}\n\
                 [token]\nprovider = fernet\n\
                 [fernet_tokens]\nkey_repository = {d}/fernet-keys\n\
                 [fernet_receipts]\nkey_repository = {d}/fernet-keys\n\
                 [credential]\nkey_repository = {d}/credential-keys\n",
                d = dir.display()
            ),
        )
        .expect("keystone.conf");
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}/v3");
        manage(&venv, &config, &["db_sync"]);
        manage(
            &venv,
            &config,
            &[
                "bootstrap",
                "--bootstrap-password",
                ADMIN_PASSWORD,
                "--bootstrap-admin-url",
                &url,
                "--bootstrap-internal-url",
                &url,
                "--bootstrap-public-url",
                &url,
                "--bootstrap-region-id",
                REGION,
            ],
        );
        let log = dir.join("api.log");
        // Stops the API when stdin closes (the test process is gone), then cleans up.
        let script = r#"
            "$1/bin/python" "$2" "$3" "$4" >>"$5" 2>&1 &
            api=$!
            cat >/dev/null
            kill "$api"; wait "$api"
            psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $6 WITH (FORCE)" >/dev/null 2>&1
            rm -rf "$7"
        "#;
        let supervisor = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("keystone-supervisor")
            .arg(&venv)
            .arg(repo().join(".ci/keystone_api.py"))
            .arg(&config)
            .arg(port.to_string())
            .arg(&log)
            .arg(&database)
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the Keystone API");
        let mut k = Keystone {
            url,
            dir,
            admin_token: String::new(),
            _supervisor: Mutex::new(supervisor),
            exclusive: Mutex::new(()),
            https: OnceLock::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while k.curl("GET", "", None, &[]).0 != 200 {
            assert!(
                Instant::now() < deadline,
                "Keystone did not come up: {}",
                k.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        k.admin_token = k
            .issue_token("admin", ADMIN_PASSWORD, "admin")
            .expect("the bootstrap admin gets a token");
        // Made here, not by the first service user: tests starting services side by side
        // would race to create it.
        k.project("service");
        eprintln!("keystone: up at {} in {:?}", k.url, begun.elapsed());
        k
    }

    /// A token of the bootstrap admin (role `admin` on project `admin`), issued at start.
    /// A second API process of this Keystone (same database and keys) serving https with a
    /// certificate for 127.0.0.1 from a CA of the test's own: its identity endpoint and the
    /// CA's PEM file.
    pub fn https(&self) -> (String, PathBuf) {
        let (url, ca, _) = self.https.get_or_init(|| {
            let certs = self.dir.join("tls");
            std::fs::create_dir_all(&certs).expect("tls dir");
            tls::certificates(&certs);
            let port = free_port();
            let script = r#"
                "$1/bin/python" "$2" "$3" "$4" "$5" "$6" >>"$7" 2>&1 &
                api=$!
                cat >/dev/null
                kill "$api"; wait "$api"
            "#;
            let supervisor = Command::new("bash")
                .arg("-c")
                .arg(script)
                .arg("keystone-https-supervisor")
                .arg(venv())
                .arg(repo().join(".ci/keystone_api.py"))
                .arg(self.dir.join("keystone.conf"))
                .arg(port.to_string())
                .arg(certs.join("server.pem"))
                .arg(certs.join("server.key"))
                .arg(self.dir.join("api-https.log"))
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the https Keystone API");
            let deadline = Instant::now() + Duration::from_secs(60);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "the https Keystone API did not come up"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
            (
                format!("https://127.0.0.1:{port}/v3"),
                certs.join("ca.pem"),
                Mutex::new(supervisor),
            )
        });
        (url.clone(), ca.clone())
    }

    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// Hold this while counting requests in Keystone's log.
    pub fn exclusive(&self) -> MutexGuard<'_, ()> {
        self.exclusive.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("api.log")).unwrap_or_default()
    }

    /// Tokens issued so far (`POST /v3/auth/tokens` answered 201).
    pub fn token_requests(&self) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains("POST /v3/auth/tokens HTTP") && l.contains("\" 201"))
            .count()
    }

    /// curl `method <url><path>` with extra headers; (status, response headers, JSON body).
    fn curl(&self, method: &str, path: &str, body: Option<&Json>, headers: &[String]) -> (u16, String, Json) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-D", "-", "-X", method]);
        cmd.args([
            "-H",
            "accept: application/json",
            "-H",
            "content-type: application/json",
        ]);
        for h in headers {
            cmd.args(["-H", h]);
        }
        if let Some(b) = body {
            cmd.args(["-d", &b.to_string()]);
        }
        let out = cmd.arg(format!("{}{path}", self.url)).output().expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (
            status,
            head.to_owned(),
            serde_json::from_str(body).unwrap_or(Json::Null),
        )
    }

    /// An admin request: (status, JSON body).
    pub fn admin(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        let (status, _, json) = self.curl(
            method,
            path,
            body,
            &[format!("x-auth-token: {}", self.admin_token)],
        );
        (status, json)
    }

    /// A token for `user` (domain `default`) scoped to `project` (domain `default`).
    pub fn issue_token(&self, user: &str, password: &str, project: &str) -> Option<String> {
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
        let (status, head, _) = self.curl("POST", "/auth/tokens", Some(&body), &[]);
        if status != 201 {
            return None;
        }
        head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-subject-token")
                .then(|| value.trim().to_owned())
        })
    }

    /// Revoke `token` (`DELETE /v3/auth/tokens`): Keystone refuses it from now on.
    pub fn revoke(&self, token: &str) {
        let (status, _, body) = self.curl(
            "DELETE",
            "/auth/tokens",
            None,
            &[
                format!("x-auth-token: {}", self.admin_token),
                format!("x-subject-token: {token}"),
            ],
        );
        assert_eq!(status, 204, "revoking a token: {body}");
    }

    /// Whether Keystone still accepts `token` (`GET /v3/auth/tokens`).
    pub fn is_valid(&self, token: &str) -> bool {
        let (status, _, _) = self.curl(
            "GET",
            "/auth/tokens",
            None,
            &[
                format!("x-auth-token: {}", self.admin_token),
                format!("x-subject-token: {token}"),
            ],
        );
        status == 200
    }

    fn create(&self, path: &str, kind: &str, body: Json) -> String {
        let (status, reply) = self.admin("POST", path, Some(&json!({ kind: body })));
        assert_eq!(status, 201, "POST {path}: {reply}");
        reply[kind]["id"].as_str().expect("an id").to_owned()
    }

    /// The id of a project of that name in domain `default`, created if missing.
    pub fn project(&self, name: &str) -> String {
        let (_, found) = self.admin("GET", &format!("/projects?name={name}&domain_id=default"), None);
        if let Some(id) = found["projects"][0]["id"].as_str() {
            return id.to_owned();
        }
        self.create(
            "/projects",
            "project",
            json!({"name": name, "domain_id": "default"}),
        )
    }

    /// The id of role `name`, created if missing.
    pub fn role(&self, name: &str) -> String {
        let (_, found) = self.admin("GET", &format!("/roles?name={name}"), None);
        if let Some(id) = found["roles"][0]["id"].as_str() {
            return id.to_owned();
        }
        self.create("/roles", "role", json!({"name": name}))
    }

    /// A user in domain `default` (created if missing) with `role` on `project` (an id);
    /// returns its id.
    pub fn user(&self, name: &str, password: &str, project: &str, role: &str) -> String {
        let (_, found) = self.admin("GET", &format!("/users?name={name}&domain_id=default"), None);
        let id = match found["users"][0]["id"].as_str() {
            Some(id) => id.to_owned(),
            None => self.create(
                "/users",
                "user",
                json!({"name": name, "password": password, "domain_id": "default"}),
            ),
        };
        let (_, roles) = self.admin("GET", &format!("/roles?name={role}"), None);
        let role_id = roles["roles"][0]["id"].as_str().expect("the role exists");
        let (status, body) = self.admin(
            "PUT",
            &format!("/projects/{project}/users/{id}/roles/{role_id}"),
            None,
        );
        assert_eq!(status, 204, "role grant: {body}");
        id
    }

    /// A service user `name` (created if missing), admin of project `service`, as OpenStack
    /// services authenticate their middleware.
    pub fn service_user(&self, name: &str, password: &str) -> String {
        self.user(name, password, &self.project("service"), "admin")
    }

    /// A catalog service of `kind` named `name` at `url`, public and internal.
    pub fn register(&self, kind: &str, name: &str, url: &str) {
        let service = self.create_service(kind, name);
        for interface in ["public", "internal"] {
            self.create_endpoint(&service, interface, url);
        }
    }

    /// A catalog service of `kind` named `name`: its id.
    fn create_service(&self, kind: &str, name: &str) -> String {
        self.create("/services", "service", json!({"type": kind, "name": name}))
    }

    /// An endpoint of `service` at `url` for `interface` in [`REGION`].
    fn create_endpoint(&self, service: &str, interface: &str, url: &str) {
        self.create(
            "/endpoints",
            "endpoint",
            json!({"service_id": service, "interface": interface, "url": url, "region_id": REGION}),
        );
    }

    /// keystonemiddleware's `[keystone_authtoken]` for a service user: every request's token
    /// validated against Keystone, nothing cached in between (`token_cache_time = -1`), so
    /// that a revoked token is refused at once.
    pub fn authtoken_section(&self, user: &str, password: &str) -> String {
        format!(
            "auth_type = password\nauth_url = {u}\nwww_authenticate_uri = {u}\nusername = {user}\n\
             password = {password}\nuser_domain_id = default\nproject_name = service\n\
             project_domain_id = default\ninterface = public\ntoken_cache_time = -1\n",
            u = self.url
        )
    }
}
