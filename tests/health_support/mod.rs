//! Helpers shared by the tests/health_*.rs tests: scraping, promtool, free ports.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ceilo::telemetry::scrape::{self, Exposition, HttpResponse};

pub const TIMEOUT: Duration = Duration::from_secs(10);

pub fn get(url: &str) -> HttpResponse {
    match scrape::get_blocking(url, TIMEOUT) {
        Ok(response) => response,
        Err(err) => panic!("GET {url}: {err}"),
    }
}

/// GETs /metrics, asserts 200, returns the body and its parse.
pub fn scrape_metrics(addr: SocketAddr) -> (String, Exposition) {
    let response = get(&format!("http://{addr}/metrics"));
    assert_eq!(response.status, 200, "{}", response.body);
    let exposition = match scrape::parse(&response.body) {
        Ok(exposition) => exposition,
        Err(err) => panic!("scrape does not parse: {err}\n{}", response.body),
    };
    (response.body, exposition)
}

/// promtool, from Debian's `prometheus` package (`.ci/run` installs it); a test that needs it
/// fails without it rather than passing unchecked.
pub fn promtool() -> PathBuf {
    tool("promtool")
}

fn tool(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("`{name}` is not on PATH: install Debian's `prometheus` package"))
}

/// Runs `promtool args...` with `stdin`; returns (success, combined output).
pub fn run_promtool(promtool: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).expect("write to promtool");
    }
    drop(child.stdin.take());
    let output = child.wait_with_output().expect("wait for promtool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// A loopback port free right now (the OS may hand it out again, but not within the test's
/// few seconds in practice).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
