//! Secrets outside the config files: the broker password (in `CEILO_TRANSPORT_URL` or a
//! `transport_url_file`) and the telemetry secret (in `CEILO_TELEMETRY_SECRET` or a
//! `publisher.telemetry_secret_file`) are used — the agent reaches the real broker as a user of
//! its own and signs with the secret — and appear nowhere: not in a trace-level log of
//! everything (ceilo's and its libraries'), not in /metrics, not in `ceilo check`'s report.

mod runtime_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ceilo::telemetry::scrape;
use runtime_support::*;

/// A broker user of the test's own, with rights on one vhost only; deleted on drop.
struct User(String);

impl User {
    fn create(name: &str, password: &str, vhost: &str) -> User {
        curl(
            "PUT",
            &format!("/users/{name}"),
            Some(&format!(r#"{{"password":"{password}","tags":""}}"#)),
        );
        curl(
            "PUT",
            &format!("/permissions/{vhost}/{name}"),
            Some(r#"{"configure":".*","write":".*","read":".*"}"#),
        );
        User(name.to_owned())
    }
}

impl Drop for User {
    fn drop(&mut self) {
        curl("DELETE", &format!("/users/{}", self.0), None);
    }
}

/// The test's settings: a `transport_url` that leads nowhere (the environment's must win) and
/// whatever `extra` adds.
fn settings_with(extra: &str) -> String {
    format!(
        "transport_url: amqp://nobody:wrong@127.0.0.1:1/\n\
         notification: {{prefetch: 100, batch_size: 20, batch_timeout_ms: 20, workers: 2, shutdown_timeout_s: 20}}\n\
         telemetry: {{listen: 127.0.0.1:0}}\n{extra}"
    )
}

fn assert_hidden(what: &str, text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "{what} shows a secret ({s}):\n{text}");
    }
}

fn check(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("check")
        .arg("--config-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), all)
}

#[test]
fn secrets_from_the_environment_and_files_are_used_and_never_shown() {
    let broker = Broker::new("secrets");
    let id = uuid::Uuid::new_v4().simple().to_string();
    let password = format!("Pw-{id}");
    let secret = format!("Key-{id}");
    let user_name = format!("ceilo-secrets-{}", std::process::id());
    let _user = User::create(&user_name, &password, &broker.vhost);
    let url = format!("amqp://{user_name}:{password}@127.0.0.1:5672/{}", broker.vhost);
    let hidden = [password.as_str(), secret.as_str()];

    // Run: the URL from the environment, the secret from a file; everything logged at trace.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret_file = secret_dir.path().join("telemetry_secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let dir = config_dir(&settings_with(&format!(
        "publisher: {{batch_size: 50, batch_timeout_ms: 20, telemetry_secret_file: {}}}\n",
        secret_file.display()
    )));
    let rt = runtime();
    rt.block_on(declare_metering(&broker.url()));
    const N: usize = 20;
    rt.block_on(publish(&broker.url(), &polling_messages("secret", N)));
    let log = dir.path().join("agent.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ceilo"))
        .arg("run")
        .arg("--config-dir")
        .arg(dir.path())
        .env("CEILO_TRANSPORT_URL", &url)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let agent = Agent::adopt(child, log.clone());
    let received = rt.block_on(collect(
        &broker.url(),
        "metering.sample",
        Duration::from_secs(60),
        distinct_ids(N),
    ));
    let samples: Vec<_> = received.iter().flat_map(|r| meter_messages(&r.body)).collect();
    assert!(
        samples.len() >= N,
        "the agent reached the broker with the environment's URL: {} samples; log tail:\n{}",
        samples.len(),
        agent
            .log_text()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for sample in &samples {
        let mut text = sample.to_string().into_bytes();
        let value = simd_json::to_owned_value(&mut text).unwrap();
        assert_eq!(
            sample["message_signature"].as_str().unwrap(),
            ceilo::model::signature::compute_signature(secret.as_bytes(), &value),
            "signed with the secret from the file"
        );
    }
    let metrics_at = metrics_addr(&agent).expect("the agent logged its /metrics address");
    let metrics =
        scrape::get_blocking(&format!("http://{metrics_at}/metrics"), Duration::from_secs(5)).unwrap();
    assert!(metrics.body.contains("ceilo_"), "{}", metrics.body);
    assert_hidden("/metrics", &metrics.body, &hidden);
    let status = agent.terminate();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(" TRACE ") && text.contains("lapin"),
        "the log holds everything, libraries' traces included"
    );
    assert_hidden("the trace-level log", &text, &hidden);

    // Check: the URL from a file, the secret from the environment; a valid config, then one
    // whose URLs are wrong (the problems quote them, masked).
    let url_file = secret_dir.path().join("transport_url");
    std::fs::write(&url_file, format!("{url}\n")).unwrap();
    let dir = config_dir(&settings_with(&format!(
        "transport_url_file: {}\n",
        url_file.display()
    )));
    let env = [("CEILO_TELEMETRY_SECRET", secret.as_str())];
    let (ok, out) = check(dir.path(), &env, &[]);
    assert!(ok, "{out}");
    assert_hidden("ceilo check", &out, &hidden);
    let bad = format!("amqp://{user_name}:{password}@127.0.0.1:notaport/");
    let dir = config_dir(&format!(
        "transport_url_file: {}\nnotification: {{messaging_urls: ['{bad}']}}\n",
        url_file.display()
    ));
    let (ok, out) = check(dir.path(), &env, &["--transport-url", &bad]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("invalid transport URL") && out.contains(":***@"),
        "{out}"
    );
    assert_hidden("ceilo check's problems", &out, &hidden);
    std::fs::write(&url_file, &bad).unwrap();
    let (ok, out) = check(dir.path(), &env, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!("transport_url_file {}", url_file.display())),
        "{out}"
    );
    assert_hidden("ceilo check's problems", &out, &hidden);
}
