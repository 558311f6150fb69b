//! Dynamic pollsters against a real HTTP server started by each test (std::net, one thread):
//! every definition option, seen from the outside.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ceilo::config::PollingOptions;
use ceilo::model::SampleBatch;
use ceilo::model::{OwnedValue, Sample};
use ceilo::polling::config::PollingConfig;
use ceilo::polling::dynamic::{DynamicDefinition, DynamicPollster};
use ceilo::polling::pollster::{PollContext, PollError};
use ceilo::polling::Pollster;
use ceilo::polling::{Discovery, Resource, SourcePlan};
use simd_json::json;
use simd_json::prelude::*;

/// One canned response: status, body, delay before answering.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
    delay: Duration,
}

fn ok(body: &str) -> Reply {
    Reply {
        status: 200,
        body: body.to_owned(),
        delay: Duration::ZERO,
    }
}

/// What the server saw: path + query and headers (lower-case names) of each request.
type Seen = Arc<Mutex<Vec<(String, HashMap<String, String>)>>>;

/// Serve `routes` (path with query → reply) on 127.0.0.1:<random>; returns the base URL.
fn serve(routes: Vec<(&str, Reply)>) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let routes: HashMap<String, Reply> = routes.into_iter().map(|(p, r)| (p.to_owned(), r)).collect();
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let routes = routes.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_lowercase(), v.trim().to_owned());
                    }
                }
                log.lock().unwrap().push((target.clone(), headers));
                let reply = routes.get(&target).cloned().unwrap_or(Reply {
                    status: 404,
                    body: "{}".into(),
                    delay: Duration::ZERO,
                });
                std::thread::sleep(reply.delay);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                    reply.status,
                    reply.body.len(),
                    reply.body
                );
            });
        }
    });
    (base, seen)
}

fn pollster(yaml: &str) -> Pollster {
    let mut defs = DynamicDefinition::parse_file(yaml, Path::new("test.yaml")).unwrap();
    assert_eq!(defs.len(), 1);
    Pollster::Dynamic(Box::new(DynamicPollster::new(defs.remove(0), None)))
}

async fn poll(p: &Pollster, base: &str) -> Result<Vec<Sample>, PollError> {
    let ctx = PollContext::now("dyn".into());
    let mut out = Vec::new();
    p.poll(&Resource::Endpoint(base.into()), &[true], &ctx, &mut out)
        .await?;
    Ok(out)
}

const BASIC: &str = r#"
- name: dynamic.volume.status
  sample_type: gauge
  unit: volume
  value_attribute: status
  endpoint_type: volumev3
  url_path: v3/volumes/detail
"#;

#[tokio::test]
async fn polls_name_type_unit_value_and_default_identity() {
    let (base, seen) = serve(vec![(
        "/v3/volumes/detail",
        ok(r#"{"volumes": [{"id": "v1", "user_id": "u1", "project_id": "p1", "status": 3}]}"#),
    )]);
    let s = poll(&pollster(BASIC), &base).await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(&*s[0].name, "dynamic.volume.status");
    assert_eq!(&*s[0].sample_type, "gauge");
    assert_eq!(&*s[0].unit, "volume");
    assert_eq!(s[0].volume, json!(3));
    assert_eq!(
        (
            s[0].resource_id.clone(),
            s[0].user_id.clone(),
            s[0].project_id.clone()
        ),
        (json!("v1"), json!("u1"), json!("p1"))
    );
    assert_eq!(&*s[0].source, "dyn");
    // Ceilometer's polling manager stamps dynamic pollster samples too: naive UTC isoformat.
    let ts = s[0].timestamp.as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.f").is_ok(),
        "{ts}"
    );
    // The resource gets a trailing '/' before url_path is joined.
    assert_eq!(seen.lock().unwrap()[0].0, "/v3/volumes/detail");
}

#[tokio::test]
async fn url_path_joins_the_resource_and_keeps_its_query() {
    let yaml = BASIC.replace("v3/volumes/detail", "api/v3/volumes?all_tenants=1");
    let (base, seen) = serve(vec![(
        "/prefix/api/v3/volumes?all_tenants=1",
        ok(r#"[{"id": "a", "status": 1}]"#),
    )]);
    let s = poll(&pollster(&yaml), &format!("{base}/prefix")).await.unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(seen.lock().unwrap()[0].0, "/prefix/api/v3/volumes?all_tenants=1");
    // An absolute url_path ignores the resource.
    let (abs, abs_seen) = serve(vec![("/abs", ok(r#"[{"id": "b", "status": 2}]"#))]);
    let yaml = BASIC.replace("v3/volumes/detail", &format!("{abs}/abs"));
    let s = poll(&pollster(&yaml), "http://127.0.0.1:9/").await.unwrap();
    assert_eq!(s[0].resource_id, json!("b"));
    assert_eq!(abs_seen.lock().unwrap()[0].0, "/abs");
}

#[tokio::test]
async fn response_entries_key_is_a_nested_path_and_defaults_to_the_first_key() {
    let body = r#"{"data": {"items": [{"id": "a", "status": 1}, {"id": "b", "status": 2}]}, "other": []}"#;
    let (base, _) = serve(vec![("/v3/volumes/detail", ok(body))]);
    let nested = format!("{BASIC}  response_entries_key: data.items\n");
    let s = poll(&pollster(&nested), &base).await.unwrap();
    assert_eq!(
        s.iter().map(|s| s.volume.as_u64().unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );

    let (base, _) = serve(vec![(
        "/v3/volumes/detail",
        ok(r#"{"first": [{"id": "a", "status": 7}], "second": [1]}"#),
    )]);
    let s = poll(&pollster(BASIC), &base).await.unwrap();
    assert_eq!(s[0].volume, json!(7));
}

#[tokio::test]
async fn value_attribute_paths_and_operations() {
    let yaml = BASIC.replace(
        "value_attribute: status",
        "value_attribute: \"usage.bytes | value / 1024 | value * 2\"",
    );
    let (base, _) = serve(vec![(
        "/v3/volumes/detail",
        ok(r#"[{"id": "a", "usage": {"bytes": 4096}}]"#),
    )]);
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    assert_eq!(s[0].volume, json!(8.0));
}

#[tokio::test]
async fn metadata_fields_mapping_and_preserve() {
    let yaml = format!(
        "{BASIC}  metadata_fields: [name, \"size.gb | value * 1024\", host.zone]\n  metadata_mapping:\n    name: display_name\n    host.zone: az\n"
    );
    let body = r#"[{"id": "a", "status": 1, "name": "db", "size": {"gb": 2}, "host": {"zone": "z1"}}]"#;
    let (base, _) = serve(vec![("/v3/volumes/detail", ok(body))]);
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    assert_eq!(
        *s[0].resource_metadata,
        json!({"name": "db", "display_name": "db", "size.gb | value * 1024": 2048, "host.zone": "z1", "az": "z1"})
    );
    let s = poll(
        &pollster(&format!("{yaml}  preserve_mapped_metadata: false\n")),
        &base,
    )
    .await
    .unwrap();
    assert_eq!(
        *s[0].resource_metadata,
        json!({"display_name": "db", "size.gb | value * 1024": 2048, "az": "z1"})
    );
}

#[tokio::test]
async fn skip_sample_values_value_mapping_and_default_value() {
    let body = r#"[{"id": "a", "status": "available"}, {"id": "b", "status": "in-use"},
                  {"id": "c", "status": "deleting"}, {"id": "d", "status": "error"}]"#;
    let (base, _) = serve(vec![("/v3/volumes/detail", ok(body))]);
    let yaml = format!(
        "{BASIC}  skip_sample_values: [deleting]\n  value_mapping:\n    available: 1\n    in-use: 2\n  default_value: 0\n"
    );
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    let got: Vec<(String, OwnedValue)> = s
        .iter()
        .map(|s| (s.resource_id.as_str().unwrap().to_owned(), s.volume.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a".into(), json!(1)),
            ("b".into(), json!(2)),
            ("d".into(), json!(0))
        ]
    );
    // Without default_value, unmapped values become -1.
    let yaml = format!("{BASIC}  value_mapping:\n    available: 1\n");
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    assert_eq!(s[3].volume, json!(-1));
}

#[tokio::test]
async fn user_project_and_resource_id_attributes() {
    let yaml = format!(
        "{BASIC}  user_id_attribute: owner.user\n  project_id_attribute: tenant\n  resource_id_attribute: volume_uuid\n"
    );
    let body = r#"[{"volume_uuid": "r-1", "owner": {"user": "u-9"}, "tenant": "t-9", "status": 1, "id": "ignored"}]"#;
    let (base, _) = serve(vec![("/v3/volumes/detail", ok(body))]);
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    assert_eq!(s[0].resource_id, json!("r-1"));
    assert_eq!(s[0].user_id, json!("u-9"));
    assert_eq!(s[0].project_id, json!("t-9"));
}

#[tokio::test]
async fn headers_are_sent() {
    let yaml = format!("{BASIC}  headers:\n    X-Auth-Token: secret-1\n    Accept: application/json\n");
    let (base, seen) = serve(vec![("/v3/volumes/detail", ok(r#"[{"id": "a", "status": 1}]"#))]);
    poll(&pollster(&yaml), &base).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].1.get("x-auth-token").map(String::as_str),
        Some("secret-1")
    );
    assert_eq!(
        seen[0].1.get("accept").map(String::as_str),
        Some("application/json")
    );
}

#[tokio::test]
async fn timeout_bounds_a_slow_api() {
    let yaml = format!("{BASIC}  timeout: 0.3\n");
    let slow = Reply {
        status: 200,
        body: r#"[{"id": "a", "status": 1}]"#.into(),
        delay: Duration::from_secs(3),
    };
    let (base, _) = serve(vec![("/v3/volumes/detail", slow)]);
    let started = std::time::Instant::now();
    let e = poll(&pollster(&yaml), &base).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[tokio::test]
async fn next_sample_url_attribute_follows_pages() {
    let yaml = format!("{BASIC}  response_entries_key: volumes\n  next_sample_url_attribute: links.next\n");
    let (base, seen) = serve(vec![
        (
            "/v3/volumes/detail",
            ok(r#"{"volumes": [{"id": "a", "status": 1}], "links": {"next": "v3/volumes/detail?marker=a"}}"#),
        ),
        (
            "/v3/volumes/detail?marker=a",
            ok(
                r#"{"volumes": [{"id": "b", "status": 2}], "links": {"next": "/v3/volumes/detail?marker=b"}}"#,
            ),
        ),
        (
            "/v3/volumes/detail?marker=b",
            ok(r#"{"volumes": [{"id": "c", "status": 3}], "links": {}}"#),
        ),
    ]);
    let s = poll(&pollster(&yaml), &base).await.unwrap();
    assert_eq!(
        s.iter()
            .map(|s| s.resource_id.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn response_handlers_json_then_text() {
    let yaml = BASIC
        .replace("value_attribute: status", "value_attribute: \"out | int(value)\"")
        .replace(
            "url_path: v3/volumes/detail",
            "url_path: count\n  response_handlers: [json, text]\n  resource_id_attribute: out",
        );
    let (base, _) = serve(vec![("/count", ok("42"))]);
    // "42" is valid JSON: the json handler wins and there is no entry list to read.
    let s = poll(&pollster(&yaml), &base).await;
    assert!(s.is_err() || s.unwrap().is_empty());
    let (base, _) = serve(vec![("/count", ok("42 volumes"))]);
    let s = poll(&pollster(&yaml.replace("int(value)", "value")), &base)
        .await
        .unwrap();
    assert_eq!(s[0].volume, json!("42 volumes"));
}

#[tokio::test]
async fn multi_metric_pollsters() {
    let yaml = r#"
- name: dynamic.project.usage.{kind}
  sample_type: gauge
  unit: GB
  value_attribute: "[quota].used"
  endpoint_type: volumev3
  url_path: quotas
  skip_sample_values: [backups]
"#;
    let body = r#"{"projects": [{"id": "p1", "quota": [{"kind": "volumes", "used": 5}, {"kind": "backups", "used": 1}, {"kind": "snapshots", "used": 2}]}]}"#;
    let (base, _) = serve(vec![("/quotas", ok(body))]);
    let s = poll(&pollster(yaml), &base).await.unwrap();
    let names: Vec<&str> = s.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        ["dynamic.project.usage.volumes", "dynamic.project.usage.snapshots"]
    );
    assert!(s.iter().all(|s| s.resource_id == json!("p1")));
}

#[tokio::test]
async fn host_command_pollsters_run_on_the_local_node() {
    let yaml = r#"
- name: dynamic.host.answer
  sample_type: gauge
  unit: answer
  value_attribute: "out | int(value)"
  host_command: "echo 42"
  response_handlers: [text]
  resource_id_attribute: out
"#;
    let p = pollster(yaml);
    assert_eq!(p.default_discovery(), "local_node");
    let ctx = PollContext::now("dyn".into());
    let mut out = Vec::new();
    p.poll(&Resource::LocalNode("h".into()), &[true], &ctx, &mut out)
        .await
        .unwrap();
    assert_eq!(out[0].volume, json!(42));
}

#[tokio::test]
async fn http_errors_and_bad_bodies_fail_transiently() {
    let (base, _) = serve(vec![(
        "/v3/volumes/detail",
        Reply {
            status: 503,
            body: "{}".into(),
            delay: Duration::ZERO,
        },
    )]);
    assert!(matches!(
        poll(&pollster(BASIC), &base).await,
        Err(PollError::Transient(_))
    ));
    let (base, _) = serve(vec![("/v3/volumes/detail", ok("not json"))]);
    assert!(matches!(
        poll(&pollster(BASIC), &base).await,
        Err(PollError::Transient(_))
    ));
    // Nothing listens there.
    assert!(matches!(
        poll(&pollster(BASIC), "http://127.0.0.1:9/").await,
        Err(PollError::Transient(_))
    ));
}

/// Through a whole source: endpoint_type → `endpoint:TYPE` discovery from the settings; a
/// failing endpoint does not stop the healthy one.
#[tokio::test]
async fn endpoint_discovery_and_isolated_failures_through_a_source() {
    let (good, _) = serve(vec![("/v3/volumes/detail", ok(r#"[{"id": "a", "status": 1}]"#))]);
    let (bad, _) = serve(vec![]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("volumes.yaml"), BASIC).unwrap();
    let mut options = PollingOptions {
        pollsters_definitions_dirs: vec![dir.path().to_owned()],
        ..Default::default()
    };
    options
        .endpoints
        .insert("volumev3".into(), vec![bad.clone(), good.clone()]);
    let config = PollingConfig::parse(
        "sources:\n  - name: dyn\n    interval: 60\n    meters: ['dynamic.*']\n",
        Path::new("polling.yaml"),
    )
    .unwrap();
    let discovery = Discovery::new(&options);
    let pollsters = ceilo::polling::load_pollsters(&options, &discovery).unwrap();
    let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<SampleBatch>(16);
    let report = plan.poll(&discovery, 50, &tx).await;
    drop(tx);
    let mut samples = Vec::new();
    while let Some(b) = rx.recv().await {
        samples.extend(b.samples);
    }
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0].resource_id, json!("a"));
    assert_eq!(report.failures, 1);
    assert_eq!(report.samples, 1);
}
