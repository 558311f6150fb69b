//! Prometheus exposition of the polled samples themselves (Ceilometer's `[polling]
//! enable_prometheus_exporter`, scraped at `prometheus_listen_addresses`): a [`SampleSink`]
//! that records the latest value of every polled series on the way to the sender, and
//! its own listener at `/metrics` (and `/`, where prometheus_client's exporter also answers),
//! served by [`crate::http::server`] like the agent-health endpoint. It is a second listener,
//! not a path of that endpoint, because Ceilometer's operators scrape the polled samples at
//! their own addresses, apart from ceilo's `ceilo_*` metrics ([`crate::telemetry`]).
//!
//! Names and labels are Ceilometer's (`ceilometer/polling/prom_exporter.py`): metric
//! `ceilometer_<counter_name with . → _>`, labels `<first name part>` (the third name part, or
//! the resource id), `publisher="ceilometer"`, `type` (the second part), then `counter`,
//! `project`, `project_name`, `user`, `user_name`, `unit`, `resource`, `vm_instance`
//! (metadata `host`), `resource_name` (metadata `display_name[:name]`) and `server_group` when
//! present and non-empty. Gauge and delta samples set a gauge; cumulative samples are
//! exposed as a counter **holding the latest reading** (Ceilometer adds each reading to the
//! counter, which makes it grow by the whole total every poll; ceilo exposes the total itself,
//! which is what a Prometheus counter means). Series are kept until the agent restarts, as in
//! Ceilometer; samples whose volume is not a number are left out.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use simd_json::prelude::*;
use tokio::sync::watch;

use super::SampleSink;
use crate::http::server::{self as http, prometheus_text, HEADER_TIMEOUT};
use crate::model::SampleBatch;
use crate::model::{OwnedValue, Sample};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
}

#[derive(Default)]
struct Family {
    kind: Option<Kind>,
    /// Rendered label set → value.
    series: BTreeMap<String, f64>,
}

/// The latest value of every polled series.
#[derive(Default)]
pub struct SampleRegistry {
    families: Mutex<BTreeMap<String, Family>>,
}

fn label_name(raw: &str) -> String {
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

fn text(v: &OwnedValue) -> Option<String> {
    match v {
        OwnedValue::String(s) if !s.is_empty() => Some(s.to_string()),
        OwnedValue::String(_) => None,
        OwnedValue::Static(simd_json::StaticNode::Null) => None,
        other => Some(other.encode()),
    }
}

fn volume(v: &OwnedValue) -> Option<f64> {
    if let Some(b) = v.as_bool() {
        return Some(if b { 1.0 } else { 0.0 });
    }
    v.as_f64()
        .or_else(|| v.as_i64().map(|i| i as f64))
        .or_else(|| v.as_u64().map(|u| u as f64))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn escape(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Ceilometer's `_gen_labels`, rendered as `k="v",...`.
fn labels(s: &Sample) -> String {
    let shards: Vec<&str> = s.name.split('.').collect();
    let plugin = shards[0];
    let resource = text(&s.resource_id).unwrap_or_default();
    let plugin_value = shards.get(2).map_or(resource.clone(), |v| (*v).to_owned());
    let ctype = shards.get(1).copied().unwrap_or(plugin);
    let mut pairs: Vec<(String, String)> = vec![
        (label_name(plugin), plugin_value),
        ("publisher".into(), "ceilometer".into()),
        ("type".into(), ctype.to_owned()),
    ];
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            pairs.push((k.to_owned(), v));
        }
    };
    push("counter", Some(s.name.to_string()).filter(|n| !n.is_empty()));
    push("project", text(&s.project_id));
    push("project_name", text(&s.project_name));
    push("user", text(&s.user_id));
    push("user_name", text(&s.user_name));
    push("unit", Some(s.unit.to_string()).filter(|u| !u.is_empty()));
    push("resource", Some(resource).filter(|r| !r.is_empty()));
    if let Some(meta) = s.resource_metadata.as_object() {
        push("vm_instance", meta.get("host").and_then(text));
        let display = meta.get("display_name").and_then(text);
        let name = meta.get("name").and_then(text);
        let resource_name = match (display, name) {
            (Some(d), Some(n)) => Some(format!("{d}:{n}")),
            (d, n) => d.or(n),
        };
        push("resource_name", resource_name);
        let group = meta
            .get("user_metadata")
            .and_then(|u| u.get("server_group"))
            .and_then(text)
            .unwrap_or_else(|| "none".into());
        push("server_group", Some(group));
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        escape(v, &mut out);
        out.push('"');
    }
    out
}

impl SampleRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record the latest value of each sample's series.
    pub fn collect(&self, samples: &[Sample]) {
        let Ok(mut families) = self.families.lock() else {
            return;
        };
        for s in samples {
            let Some(v) = volume(&s.volume) else { continue };
            let kind = match &*s.sample_type {
                "cumulative" => Kind::Counter,
                "gauge" | "delta" => Kind::Gauge,
                _ => continue,
            };
            let name = format!("ceilometer_{}", label_name(&s.name.replace('.', "_")));
            let family = families.entry(name).or_default();
            // The first sample fixes the type, as prometheus_client's registry does.
            if *family.kind.get_or_insert(kind) != kind {
                continue;
            }
            family.series.insert(labels(s), v);
        }
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(families) = self.families.lock() else {
            return out;
        };
        for (name, f) in families.iter() {
            let kind = match f.kind {
                Some(Kind::Counter) => "counter",
                _ => "gauge",
            };
            let _ = writeln!(out, "# HELP {name} \n# TYPE {name} {kind}");
            for (labels, v) in &f.series {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        }
        out
    }
}

/// A sink that records every batch in the registry, then passes it on.
pub struct ExportingSink {
    pub registry: Arc<SampleRegistry>,
    pub next: Arc<dyn SampleSink>,
}

impl SampleSink for ExportingSink {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        self.registry.collect(&batch.samples);
        self.next.send(batch)
    }
}

/// One response per connection, then close, as the exporter always answered (a client that
/// reads to the end of the stream gets its scrape and EOF).
const OPTIONS: http::Options = http::Options {
    name: "prometheus exporter",
    header_timeout: HEADER_TIMEOUT,
    keep_alive: false,
};

/// Bind `addr` and serve the registry at `/metrics` and `/` (404 elsewhere), over https with
/// `tls`, until the process ends. Returns the bound address (so `127.0.0.1:0` works in tests).
pub async fn serve(
    addr: &str,
    registry: Arc<SampleRegistry>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let respond = move |req: &Request<Incoming>| match req.uri().path() {
        "/metrics" | "/" => prometheus_text(registry.render()),
        _ => http::text(StatusCode::NOT_FOUND, "not found: try /metrics\n".into()),
    };
    // Served for as long as the agent runs: the stop signal's sender lives in the task.
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        let _stop = stop;
        http::serve(listener, respond, OPTIONS, tls, stopped).await;
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use simd_json::json;

    use super::*;
    use crate::polling::pollster::{null, MeterSpec, PollContext};

    fn sample(name: &str, kind: &str, volume: OwnedValue, meta: OwnedValue) -> Sample {
        let ctx = PollContext::now("s".into());
        ctx.sample(
            &MeterSpec::new(name, kind, "B"),
            volume,
            "u1".into(),
            "p1".into(),
            "r1".into(),
            meta,
            null(),
        )
    }

    #[test]
    fn names_types_and_labels_follow_ceilometer() {
        let r = SampleRegistry::new();
        let meta = json!({"host": "h1", "display_name": "web", "name": "instance-1"});
        r.collect(&[
            sample("disk.device.read.bytes", "cumulative", json!(10), meta.clone()),
            sample("disk.device.read.bytes", "cumulative", json!(25), meta.clone()),
            sample("memory.usage", "gauge", json!(512.5), meta),
            sample("cpu", "cumulative", json!("not a number"), null()),
        ]);
        let text = r.render();
        assert!(
            text.contains("# TYPE ceilometer_disk_device_read_bytes counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "ceilometer_disk_device_read_bytes{disk=\"read\",publisher=\"ceilometer\",type=\"device\",\
             counter=\"disk.device.read.bytes\",project=\"p1\",user=\"u1\",unit=\"B\",resource=\"r1\",\
             vm_instance=\"h1\",resource_name=\"web:instance-1\",server_group=\"none\"} 25\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE ceilometer_memory_usage gauge"));
        assert!(
            text.contains("ceilometer_memory_usage{memory=\"r1\",publisher=\"ceilometer\",type=\"usage\"")
        );
        assert!(text.contains("} 512.5\n"));
        assert!(!text.contains("ceilometer_cpu"));
    }

    async fn get(addr: SocketAddr, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(request.as_bytes()).await.unwrap();
        // One response, then the server closes: reading to the end does not wait for a
        // keep-alive or header timeout.
        let mut reply = String::new();
        tokio::time::timeout(std::time::Duration::from_secs(3), s.read_to_string(&mut reply))
            .await
            .expect("the exporter kept the connection open")
            .unwrap();
        reply
    }

    #[tokio::test]
    async fn serves_the_registry_at_metrics_and_root_and_404_elsewhere() {
        let r = Arc::new(SampleRegistry::new());
        r.collect(&[sample("cpu", "cumulative", json!(7), null())]);
        let addr = serve("127.0.0.1:0", r, None).await.unwrap();
        for path in ["/metrics", "/"] {
            let reply = get(addr, path).await;
            assert!(reply.starts_with("HTTP/1.1 200 OK"), "{path}: {reply}");
            assert!(
                reply.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
                "{path}: {reply}"
            );
            assert!(
                reply.contains("ceilometer_cpu{cpu=\"r1\",publisher=\"ceilometer\",type=\"cpu\""),
                "{path}: {reply}"
            );
        }
        let missing = get(addr, "/favicon.ico").await;
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(!missing.contains("ceilometer_cpu"), "{missing}");
    }
}
