//! A real Prometheus server (Debian's `prometheus` package, which `.ci/run` installs) scraping
//! one target every second, queried through its HTTP API; killed on drop.

#![allow(dead_code)] // each test binary uses a different subset

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ceilo::telemetry::scrape;

pub struct Prometheus {
    pub base: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrape `target` every second as job `job`; `honor_labels` keeps the target's own `job`
    /// and `instance` labels, as a Pushgateway's scrape config must.
    pub fn scraping(target: SocketAddr, job: &str, honor_labels: bool) -> Prometheus {
        let binary = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
            .map(|dir| dir.join("prometheus"))
            .find(|path| path.is_file())
            .expect("`prometheus` is not on PATH: install Debian's `prometheus` package");
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: {job}\n    honor_labels: {honor_labels}\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            base: format!("http://127.0.0.1:{port}"),
            child,
            _dir: dir,
        }
    }

    /// An instant query's result vector (`data.result`), or None while Prometheus is not
    /// answering yet.
    pub fn query(&self, promql: &str) -> Option<Vec<serde_json::Value>> {
        let encoded: String = promql
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let url = format!("{}/api/v1/query?query={encoded}", self.base);
        let response = scrape::get_blocking(&url, Duration::from_secs(10)).ok()?;
        let json: serde_json::Value = serde_json::from_str(&response.body).ok()?;
        assert_eq!(json["status"], "success", "{promql}: {}", response.body);
        json["data"]["result"].as_array().cloned()
    }

    /// The single finite value of an instant query, or None while there is none.
    pub fn value(&self, promql: &str) -> Option<f64> {
        let result = self.query(promql)?;
        let value = result.first()?["value"][1].as_str()?.parse::<f64>().ok()?;
        value.is_finite().then_some(value)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
