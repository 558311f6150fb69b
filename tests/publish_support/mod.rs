//! Real receivers for the publisher tests: an HTTP server (hyper) that records every request
//! and answers with a status the test sets, and the pipeline.yaml that sends every sample to a
//! publisher URL.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Json {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// A recording HTTP server on a free port of 127.0.0.1, served on `rt`.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    status: Arc<AtomicU16>,
}

impl HttpReceiver {
    pub fn start(rt: &tokio::runtime::Runtime) -> HttpReceiver {
        Self::start_on(rt, "127.0.0.1:0".parse().expect("addr"))
    }

    /// On `addr` (a port [`free_port`] found, so that a publisher can be pointed at it first).
    pub fn start_on(rt: &tokio::runtime::Runtime, addr: SocketAddr) -> HttpReceiver {
        let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let status = Arc::new(AtomicU16::new(200));
        let (reqs, st) = (requests.clone(), status.clone());
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (reqs, st) = (reqs.clone(), st.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (reqs, st) = (reqs.clone(), st.clone());
                        async move {
                            let method = req.method().to_string();
                            let target = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                                .collect();
                            let body = req.into_body().collect().await?.to_bytes().to_vec();
                            let status = st.load(Ordering::SeqCst);
                            reqs.lock().unwrap().push(Recorded {
                                method,
                                target,
                                headers,
                                body,
                                status,
                            });
                            let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).expect("status");
                            Ok::<_, hyper::Error>(response)
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        HttpReceiver {
            addr,
            requests,
            status,
        }
    }

    /// Answer every request from now on with `status`.
    pub fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests answered with a 2xx.
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

pub use crate::runtime_support::pipeline_to;

/// A port nothing listens on (yet).
pub fn free_port() -> SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

/// A real Prometheus Pushgateway (Debian's `prometheus-pushgateway`, installed by .ci/run) on
/// `addr`, stopped on drop.
pub struct Pushgateway {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl Pushgateway {
    pub fn start_on(addr: SocketAddr) -> Pushgateway {
        let child = std::process::Command::new("prometheus-pushgateway")
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-pushgateway (apt-get install prometheus-pushgateway; .ci/run does)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the pushgateway did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Pushgateway { addr, child }
    }

    /// The series it exposes (`/metrics` without comments and its own metrics).
    pub fn series(&self) -> Vec<String> {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://{}/metrics", self.addr)])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| {
                !["go_", "process_", "pushgateway_", "push_time", "push_failure"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_owned)
            .collect()
    }

    /// The `# TYPE` line of `metric`, if any.
    pub fn type_of(&self, metric: &str) -> Option<String> {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://{}/metrics", self.addr)])
            .output()
            .expect("curl");
        let prefix = format!("# TYPE {metric} ");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }
}

impl Drop for Pushgateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A telemetry.polling notification with one sample: meter `name` of `kind`, on `resource`.
pub fn polling_sample(id: &str, name: &str, kind: &str, resource: &str, volume: f64) -> Vec<u8> {
    let sample = serde_json::json!({
        "source": "openstack", "counter_name": name, "counter_type": kind, "counter_unit": "B",
        "counter_volume": volume, "user_id": "u", "user_name": null, "project_id": "p",
        "project_name": null, "resource_id": resource,
        "timestamp": "2025-03-14T09:45:00.123456+00:00", "resource_metadata": {},
        "message_id": id, "monotonic_time": null, "message_signature": "x"
    });
    let inner = serde_json::json!({
        "message_id": format!("m-{id}"), "publisher_id": "ceilometer.polling",
        "event_type": "telemetry.polling", "priority": "SAMPLE",
        "payload": {"samples": [sample]}, "timestamp": "2025-03-14 09:45:00.123456",
        "_unique_id": format!("u{id}")
    });
    serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

/// Decodes one MessagePack value (what the udp:// and tcp:// publishers send) into JSON;
/// returns it and the bytes it took.
pub fn msgpack_decode(b: &[u8]) -> (Json, usize) {
    fn be(b: &[u8]) -> u64 {
        b.iter().fold(0, |n, x| (n << 8) | u64::from(*x))
    }
    let tag = b[0];
    let text = |start: usize, len: usize| {
        (
            Json::String(String::from_utf8(b[start..start + len].to_vec()).expect("utf-8")),
            start + len,
        )
    };
    let seq = |start: usize, n: usize, map: bool| {
        let mut at = start;
        let mut items = Vec::new();
        let mut obj = serde_json::Map::new();
        for _ in 0..n {
            if map {
                let (k, used) = msgpack_decode(&b[at..]);
                at += used;
                let (v, used) = msgpack_decode(&b[at..]);
                at += used;
                obj.insert(k.as_str().expect("string key").to_owned(), v);
            } else {
                let (v, used) = msgpack_decode(&b[at..]);
                at += used;
                items.push(v);
            }
        }
        (
            if map {
                Json::Object(obj)
            } else {
                Json::Array(items)
            },
            at,
        )
    };
    match tag {
        0x00..=0x7f => (Json::from(tag), 1),
        0x80..=0x8f => seq(1, usize::from(tag & 0x0f), true),
        0x90..=0x9f => seq(1, usize::from(tag & 0x0f), false),
        0xa0..=0xbf => text(1, usize::from(tag & 0x1f)),
        0xc0 => (Json::Null, 1),
        0xc2 => (Json::Bool(false), 1),
        0xc3 => (Json::Bool(true), 1),
        0xcb => (Json::from(f64::from_bits(be(&b[1..9]))), 9),
        0xcc => (Json::from(b[1]), 2),
        0xcd => (Json::from(be(&b[1..3])), 3),
        0xce => (Json::from(be(&b[1..5])), 5),
        0xcf => (Json::from(be(&b[1..9])), 9),
        0xd0 => (Json::from(b[1] as i8), 2),
        0xd1 => (Json::from(be(&b[1..3]) as u16 as i16), 3),
        0xd2 => (Json::from(be(&b[1..5]) as u32 as i32), 5),
        0xd3 => (Json::from(be(&b[1..9]) as i64), 9),
        0xd9 => text(2, usize::from(b[1])),
        0xda => text(3, be(&b[1..3]) as usize),
        0xdb => text(5, be(&b[1..5]) as usize),
        0xdc => seq(3, be(&b[1..3]) as usize, false),
        0xdd => seq(5, be(&b[1..5]) as usize, false),
        0xde => seq(3, be(&b[1..3]) as usize, true),
        0xdf => seq(5, be(&b[1..5]) as usize, true),
        0xe0..=0xff => (Json::from(tag as i8), 1),
        other => panic!("msgpack tag {other:#x} is not one a meter message uses"),
    }
}

/// Whether `message` carries a valid `message_signature` for `secret` (Ceilometer's
/// `verify_signature`, through ceilo's signature code, which the corpus pins to Ceilometer's).
pub fn signature_is_valid(message: &Json, secret: &str) -> bool {
    let mut text = message.to_string().into_bytes();
    let value: ceilo::model::OwnedValue = simd_json::to_owned_value(&mut text).expect("json");
    let want = ceilo::model::signature::compute_signature(secret.as_bytes(), &value);
    message["message_signature"].as_str() == Some(want.as_str())
}

/// Ceilometer's default `telemetry_secret` (the tests' agents keep it).
pub const DEFAULT_SECRET: &str = "change this for valid signing";

/// tests/otlp_receiver.py (OTLP/HTTP, decoded with the OpenTelemetry protobuf definitions from
/// the venv of .ci/otlp-venv.sh, installed on first use) on `addr`, stopped on drop.
pub struct OtlpReceiver {
    pub addr: SocketAddr,
    child: std::process::Child,
}

impl OtlpReceiver {
    pub fn start_on(addr: SocketAddr) -> OtlpReceiver {
        let root = env!("CARGO_MANIFEST_DIR");
        let venv = std::process::Command::new(format!("{root}/.ci/otlp-venv.sh"))
            .output()
            .expect(".ci/otlp-venv.sh");
        assert!(venv.status.success(), "{}", String::from_utf8_lossy(&venv.stderr));
        let venv = String::from_utf8_lossy(&venv.stdout).trim().to_owned();
        let child = std::process::Command::new(format!("{venv}/bin/python"))
            .arg(format!("{root}/tests/otlp_receiver.py"))
            .arg(addr.port().to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("otlp_receiver.py");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the OTLP receiver did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OtlpReceiver { addr, child }
    }

    /// The requests it accepted, decoded (`{"content_type", "request"}` each).
    pub fn received(&self) -> Vec<Json> {
        let out = std::process::Command::new("curl")
            .args(["-s", &format!("http://{}/received", self.addr)])
            .output()
            .expect("curl");
        serde_json::from_slice::<Json>(&out.stdout)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
