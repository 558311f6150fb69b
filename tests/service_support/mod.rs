//! What the OpenStack API harnesses (`aodh_support`, `cinder_support`, `designate_support`,
//! `glance_support`, `manila_support`, `neutron_support`, `nova_support`, `octavia_support`,
//! `swift_support`) share: a database of
//! the test's own, the service's management commands, its server processes and the wait until
//! they serve.
//!
//! Each piece undoes itself when dropped — a [`Server`] is killed, a [`Database`] dropped, a
//! `tempfile::TempDir` removed — so a harness is a struct of them with no `Drop` of its own,
//! and a start that fails half-way leaves nothing behind. A harness declares its servers
//! before its database and directory: fields drop in declaration order, and a server is
//! stopped before what it uses goes.
//!
//! A harness' start asks its service nothing with a token: tests start services before they
//! take `Keystone::exclusive`, and the service's keystonemiddleware would fetch a token of its
//! own to validate one — a token request another test counts.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::gnocchi_support::psql_in;

/// A file of the repository's `.ci/` (the harnesses' server scripts).
pub fn ci_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci").join(name)
}

/// Which database server.
#[derive(Clone, Copy)]
enum Engine {
    /// The machine's PostgreSQL (127.0.0.1:5432, trust auth for `postgres`).
    PostgreSql,
    /// The machine's MariaDB (127.0.0.1:3306, `root` without a password).
    MariaDb,
}

/// `ceilo_<service>_<pid>`: an empty database of the test's own, dropped when this is.
pub struct Database {
    pub name: String,
    engine: Engine,
}

impl Database {
    pub fn postgresql(service: &str) -> Database {
        Database::create(service, Engine::PostgreSql)
    }

    pub fn mariadb(service: &str) -> Database {
        Database::create(service, Engine::MariaDb)
    }

    fn create(service: &str, engine: Engine) -> Database {
        let database = Database {
            name: format!("ceilo_{service}_{}", std::process::id()),
            engine,
        };
        // A database of the same name is one a killed run of this pid left.
        run_sql(engine, None, &database.drop_statement());
        run_sql(engine, None, &format!("CREATE DATABASE {}", database.name));
        database
    }

    /// Runs `sql` in this database; a failure panics with the client's error.
    pub fn sql(&self, sql: &str) {
        run_sql(self.engine, Some(&self.name), sql);
    }

    /// What `query` in this database prints: its rows, one a line, tab-separated, no header.
    pub fn query(&self, query: &str) -> String {
        let mut command = match self.engine {
            Engine::PostgreSql => {
                let mut psql = Command::new("psql");
                psql.args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-d",
                    &self.name,
                    "-AtF",
                    "\t",
                    "-c",
                ]);
                psql
            }
            Engine::MariaDb => {
                let mut mariadb = Command::new("mariadb");
                mariadb.args(["-h", "127.0.0.1", "-u", "root", "-D", &self.name, "-NBe"]);
                mariadb
            }
        };
        let out = command
            .arg(query)
            .output()
            .expect("the database client must be installed");
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    fn drop_statement(&self) -> String {
        match self.engine {
            Engine::PostgreSql => format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            Engine::MariaDb => format!("DROP DATABASE IF EXISTS {}", self.name),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let statement = self.drop_statement();
        // Not `run_sql`: a panic while unwinding would abort the test binary.
        let _ = match self.engine {
            Engine::PostgreSql => Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-qc", &statement])
                .output(),
            Engine::MariaDb => Command::new("mariadb")
                .args(["-h", "127.0.0.1", "-u", "root", "-e", &statement])
                .output(),
        };
    }
}

/// `sql` in `database` (the server's default without one); a failure panics with its error.
fn run_sql(engine: Engine, database: Option<&str>, sql: &str) {
    match engine {
        Engine::PostgreSql => psql_in(database.unwrap_or("postgres"), sql),
        Engine::MariaDb => {
            let mut command = Command::new("mariadb");
            command.args(["-h", "127.0.0.1", "-u", "root"]);
            if let Some(database) = database {
                command.args(["-D", database]);
            }
            let out = command
                .args(["-e", sql])
                .output()
                .expect("mariadb (MariaDB client) must be installed");
            assert!(
                out.status.success(),
                "mariadb {sql}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// `<venv>/bin/<tool>`, as a command to add arguments to.
pub fn tool(venv: &Path, tool: &str) -> Command {
    Command::new(venv.join("bin").join(tool))
}

/// Runs `command` to its end; a failure panics naming `what`, with its output.
pub fn run(mut command: Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server process, killed (and reaped) when dropped.
pub struct Server(Child);

impl Server {
    /// `command` started with its stdout discarded and its stderr into `stderr` (a file).
    pub fn spawn(mut command: Command, stderr: &Path, what: &str) -> Server {
        let log = std::fs::File::create(stderr).unwrap_or_else(|e| panic!("{}: {e}", stderr.display()));
        let child = command
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        Server(child)
    }

    /// `<venv>/bin/python <script> <args>` (a `.ci/` script) with its stderr into `stderr`.
    pub fn python<A: AsRef<OsStr>>(
        venv: &Path,
        script: &str,
        args: impl IntoIterator<Item = A>,
        stderr: &Path,
    ) -> Server {
        let mut command = tool(venv, "python");
        command.arg(ci_script(script)).args(args);
        Server::spawn(command, stderr, script)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `serving` every 300 ms until it says yes; after `seconds`, panics naming `what` with
/// `log()` (the server's logs).
pub fn wait_until(what: &str, seconds: u64, mut serving: impl FnMut() -> bool, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while !serving() {
        assert!(Instant::now() < deadline, "{what} did not come up: {}", log());
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The files `names` of `dir` one after the other (those missing as empty): a server's logs.
pub fn read_logs(dir: &Path, names: &[&str]) -> String {
    names
        .iter()
        .map(|name| std::fs::read_to_string(dir.join(name)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}
