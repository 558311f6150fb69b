//! Shared by the coordination tests: a local HTTP API of N resources that logs which agent
//! asked for which resource and when (dynamic pollsters send an `X-Agent` header naming
//! their agent), a minimal Keystone v3 on the same port for Ceilometer's `endpoint:`
//! discovery (one catalogue endpoint per resource), a unique group prefix per test with its
//! Redis keys deleted afterwards, and the reading of polling cycles out of the log.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const REDIS: &str = "redis://127.0.0.1:6379";
/// The endpoint type of the test API in ceilo's settings and in the fake Keystone catalogue.
pub const ENDPOINT_TYPE: &str = "coordtest";

/// One request the API answered: (agent, resource index, when).
pub type Hit = (String, usize, Instant);

/// The local API: `GET /r/<i>/metrics` answers one sample of resource `r-<i>`.
pub struct Api {
    pub base: String,
    pub n: usize,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Api {
    pub fn start(n: usize) -> Api {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let (log, catalogue) = (hits.clone(), keystone_token(&base, n));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (log, catalogue) = (log.clone(), catalogue.clone());
                std::thread::spawn(move || serve(stream, &log, &catalogue));
            }
        });
        Api { base, n, hits }
    }

    /// The endpoint URL of resource `i` (what discovery yields and the ring hashes).
    pub fn url(&self, i: usize) -> String {
        format!("{}/r/{i}/", self.base)
    }

    pub fn urls(&self) -> Vec<String> {
        (0..self.n).map(|i| self.url(i)).collect()
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Each agent's polling cycles so far, oldest first: its requests split wherever two are
    /// more than `gap` apart (a cycle's requests come in one burst, cycles an interval apart)
    /// or a resource comes again (a cycle asks for each resource once).
    pub fn cycles(&self, gap: Duration) -> BTreeMap<String, Vec<(Instant, BTreeSet<usize>)>> {
        let mut by_agent: BTreeMap<String, Vec<(usize, Instant)>> = BTreeMap::new();
        for (agent, i, at) in self.hits() {
            by_agent.entry(agent).or_default().push((i, at));
        }
        by_agent
            .into_iter()
            .map(|(agent, mut hits)| {
                hits.sort_by_key(|(_, at)| *at);
                let mut cycles: Vec<(Instant, BTreeSet<usize>)> = Vec::new();
                let mut last: Option<Instant> = None;
                for (i, at) in hits {
                    match (last, cycles.last_mut()) {
                        // A resource asked again starts a new cycle, however close.
                        (Some(l), Some(c)) if at.duration_since(l) <= gap && !c.1.contains(&i) => {
                            c.1.insert(i);
                        }
                        _ => cycles.push((at, BTreeSet::from([i]))),
                    }
                    last = Some(at);
                }
                (agent, cycles)
            })
            .collect()
    }

    /// The resources of each agent's last complete cycle (the one before the newest, which
    /// may still be running) that started after `since`.
    pub fn last_cycles(&self, gap: Duration, since: Instant) -> BTreeMap<String, BTreeSet<usize>> {
        self.cycles(gap)
            .into_iter()
            .filter_map(|(agent, cycles)| {
                let done: Vec<_> = cycles.into_iter().filter(|(at, _)| *at >= since).collect();
                let n = done.len();
                (n >= 2).then(|| (agent, done[n - 2].1.clone()))
            })
            .collect()
    }
}

fn serve(stream: std::net::TcpStream, log: &Mutex<Vec<Hit>>, token: &str) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut stream = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("/").to_owned(),
        );
        let (mut agent, mut length) = (String::from("?"), 0usize);
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "x-agent" => agent = v.trim().to_owned(),
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, extra, reply) = if method == "POST" && target.ends_with("/auth/tokens") {
            ("201 Created", "X-Subject-Token: test-token\r\n", token.to_owned())
        } else if let Some(i) = target
            .strip_prefix("/r/")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .and_then(|i| i.parse::<usize>().ok())
        {
            log.lock().unwrap().push((agent, i, Instant::now()));
            (
                "200 OK",
                "",
                format!("{{\"items\": [{{\"id\": \"r-{i}\", \"value\": {i}}}]}}"),
            )
        } else {
            ("404 Not Found", "", "{}".to_owned())
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\r\n",
            reply.len()
        );
        if stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(reply.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// Keystone v3's answer to a password authentication: a token scoped to a project, with a
/// catalogue of one service of type [`ENDPOINT_TYPE`] and one public endpoint per resource.
fn keystone_token(base: &str, n: usize) -> String {
    let endpoints: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            serde_json::json!({"id": format!("e{i}"), "interface": "public", "region": "RegionOne",
                "region_id": "RegionOne", "url": format!("{base}/r/{i}/")})
        })
        .collect();
    let domain = serde_json::json!({"id": "default", "name": "Default"});
    serde_json::json!({"token": {
        "methods": ["password"],
        "expires_at": "2099-01-01T00:00:00.000000Z",
        "issued_at": "2020-01-01T00:00:00.000000Z",
        "user": {"id": "u1", "name": "ceilometer", "domain": domain},
        "project": {"id": "p1", "name": "service", "domain": domain},
        "roles": [{"id": "r1", "name": "admin"}],
        "catalog": [{"type": ENDPOINT_TYPE, "name": ENDPOINT_TYPE, "id": "s1", "endpoints": endpoints}],
    }})
    .to_string()
}

/// The dynamic pollster both kinds of agent run, its requests marked with `agent`.
pub fn pollster_definition(agent: &str) -> String {
    format!(
        "---\n- name: coord.test\n  sample_type: gauge\n  unit: \"1\"\n  value_attribute: value\n  \
         endpoint_type: {ENDPOINT_TYPE}\n  url_path: metrics\n  response_entries_key: items\n  \
         headers:\n    X-Agent: {agent}\n"
    )
}

/// ceilo.yaml of a polling-only `ceilo run` named `name` (its `host`, and the `X-Agent` of its
/// requests) in `group`: the pollster definition goes to `<dir>/pollsters.d`, polling.yaml
/// polls every `interval` seconds; the membership timeout is `timeout` seconds.
pub fn write_ceilo_config(dir: &Path, name: &str, api: &Api, group: &Group, interval: u64, timeout: u64) {
    let urls: String = api.urls().iter().map(|u| format!("\n      - {u}")).collect();
    let defs = dir.join("pollsters.d");
    std::fs::create_dir_all(&defs).expect("pollsters.d");
    std::fs::write(defs.join("coord.yaml"), pollster_definition(name)).expect("definition");
    std::fs::write(dir.join("polling.yaml"), polling_yaml(interval)).expect("polling.yaml");
    let settings = std::fs::read_to_string(dir.join("ceilo.yaml")).unwrap_or_default();
    let settings = format!(
        "{settings}\npolling_enabled: true\nnotification:\n  enabled: false\npolling:\n  \
         host: {name}\n  pollsters_definitions_dirs: [{defs}]\n  \
         endpoints:\n    {ENDPOINT_TYPE}:{urls}\n  \
         coordination_backend_url: {REDIS}?timeout={timeout}\n  \
         partitioning_group_prefix: {prefix}\n  polling_namespaces: [central]\n",
        defs = defs.display(),
        prefix = group.prefix,
    );
    std::fs::write(dir.join("ceilo.yaml"), settings).expect("ceilo.yaml");
}

/// polling.yaml: the one dynamic pollster every `interval` seconds, its default discovery
/// (`endpoint:coordtest`).
pub fn polling_yaml(interval: u64) -> String {
    format!("---\nsources:\n  - name: coord\n    interval: {interval}\n    meters:\n      - coord.test\n")
}

/// An agent's member id in its coordination groups, from its start log line.
pub fn member_id(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("coordination: member started"))?;
    let id = line.split("member=").nth(1)?.split_whitespace().next()?;
    Some(id.trim_matches('"').to_owned())
}

/// How many of `partitions` transform partitions tooz's hash ring of these members gives each
/// of them: what every agent must own once it has read the group.
pub fn ring_shares(members: &[String], partitions: usize) -> Vec<f64> {
    let ring = ceilo::coordination::HashRing::new(members.iter().map(|m| (m.as_str(), 1)));
    members
        .iter()
        .map(|m| {
            ceilo::agent::partitions::owned_by(&ring, m, partitions)
                .iter()
                .filter(|&&o| o)
                .count() as f64
        })
        .collect()
}

/// A unique partitioning group prefix; its Redis keys go when dropped.
pub struct Group {
    pub prefix: String,
}

impl Group {
    pub fn new(tag: &str) -> Group {
        Group {
            prefix: format!("ceilo-test-{tag}-{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let Ok(mut c) = ceilo::coordination::resp::Connection::open(
                "127.0.0.1:6379",
                None,
                0,
                Duration::from_secs(5),
            )
            .await
            else {
                return;
            };
            let pattern = format!("_tooz_group:*{prefix}*");
            if let Ok(reply) = c.call(&[b"KEYS", pattern.as_bytes()]).await {
                for key in reply.into_bulks() {
                    let name = String::from_utf8_lossy(&key).into_owned();
                    let group = name.trim_start_matches("_tooz_group:").to_owned();
                    let _ = c.call(&[b"DEL", &key]).await;
                    let _ = c.call(&[b"SREM", b"_tooz_groups", group.as_bytes()]).await;
                }
            }
        });
    }
}

#[path = "../common/ceilometer.rs"]
pub mod ceilometer;

/// The Ceilometer 27 venv (with tooz and the redis client), installed on first use.
pub fn ceilometer_venv() -> PathBuf {
    ceilometer::venv()
}

/// Wait until `f` holds, or panic with `what` after `timeout`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
