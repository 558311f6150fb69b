//! ceilo against a real Keystone 27 (`keystone_support`: one per test binary, so every test
//! that needs Keystone is here). Keystone's request log counts what ceilo asks it; the tests
//! that count hold `Keystone::exclusive`, so that the counts are their own.
//!
//! * `gnocchi://` with Keystone v3 password auth into a real Gnocchi 4.7 on `[api] auth_mode =
//!   keystone` (keystonemiddleware validating every request's token with Keystone, no token
//!   cache, so a revoked token is refused at once). ceilo is given no Gnocchi endpoint: it
//!   finds Gnocchi in the token's catalog.
//! * `[polling] identity_name_discovery`: polled samples named from Keystone, cached.

#[allow(dead_code)]
mod common;
mod gnocchi_support;
mod keystone_support;
mod runtime_support;

use std::time::{Duration, Instant};

use gnocchi_support::{floating_ip_messages, second_measures, Gnocchi};
use runtime_support::*;
use serde_json::Value as Json;

const CEILOMETER_PASSWORD: &str = "ceilometer-ks-pw";
const GNOCCHI_PASSWORD: &str = "gnocchi-ks-pw";

/// ceilo.yaml: gnocchi:// with Keystone auth as the `ceilometer` service user, no endpoint.
fn keystone_settings(auth_url: &str, password: &str, shutdown_s: u64) -> String {
    format!(
        "{}gnocchi:\n  auth_mode: keystone\n  keystone:\n    auth_url: {auth_url}\n    \
         username: ceilometer\n    password: {password}\n    user_domain_name: Default\n    \
         project_name: service\n    project_domain_id: default\n    region_name: {}\n",
        settings(40, 10).replace(
            "shutdown_timeout_s: 20",
            &format!("shutdown_timeout_s: {shutdown_s}")
        ),
        keystone_support::REGION
    )
}

fn config(settings: &str) -> tempfile::TempDir {
    let dir = config_dir(settings);
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        "sources:\n  - name: s\n    meters: ['*']\n    sinks: [k]\nsinks:\n  - name: k\n    \
         publishers: ['gnocchi://?archive_policy=ceilometer-high']\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("event_pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
    dir
}

fn wait_for_measures(gnocchi: &Gnocchi, n: usize, agent: &Agent) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut have = second_measures(gnocchi);
    while have < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        have = second_measures(gnocchi);
    }
    assert_eq!(
        have,
        n,
        "every sample is one measure in Gnocchi:\n{}",
        agent.log_text()
    );
}

/// Lines of Gnocchi's request log answered 401 (keystonemiddleware refusing a token).
fn refused_by_gnocchi(gnocchi: &Gnocchi) -> usize {
    gnocchi
        .api_log()
        .lines()
        .filter(|l| l.contains("/v1/") && l.contains("\" 401"))
        .count()
}

#[test]
fn keystone_token_is_cached_renewed_after_revocation_and_gnocchi_found_in_the_catalog() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    let service = ks.project("service");
    ks.user("gnocchi", GNOCCHI_PASSWORD, &service, "admin");
    let ceilometer = ks.user("ceilometer", CEILOMETER_PASSWORD, &service, "admin");
    let admin_token = ks.admin_token().to_owned();
    let gnocchi = Gnocchi::start_keystone(
        "keystone",
        &ks.authtoken_section("gnocchi", GNOCCHI_PASSWORD),
        Box::new(move || vec!["-H".into(), format!("x-auth-token: {admin_token}")]),
    );
    ks.register_gnocchi(&gnocchi.url);
    let broker = Broker::new("gnocchi-keystone");
    let url = broker.url();
    let rt = runtime();
    let dir = config(&keystone_settings(&ks.url, CEILOMETER_PASSWORD, 20));

    // 1. One token for everything: the filtered project's look-up and every flush.
    let before = ks.token_requests();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &floating_ip_messages("ks1", 60, 2)));
    wait_for_measures(&gnocchi, 60, &agent);
    let log = agent.log_text();
    assert_eq!(
        ks.token_requests() - before,
        1,
        "one token, fetched once and reused:\n{log}"
    );
    assert!(
        log.contains("catalog of") && log.contains(&service),
        "Gnocchi from the catalog, and the service project ({service}) looked up:\n{log}"
    );
    assert!(!log.contains(CEILOMETER_PASSWORD), "the password is never logged");

    // 2. Keystone revokes the user's tokens (disabling the user does; enabled again at once,
    // as after an incident): Gnocchi refuses the cached token, ceilo fetches one new token
    // and the flush goes through.
    let refused_before = refused_by_gnocchi(&gnocchi);
    let user = format!("/users/{ceilometer}");
    for enabled in [false, true] {
        let (status, body) = ks.admin(
            "PATCH",
            &user,
            Some(&serde_json::json!({"user": {"enabled": enabled}})),
        );
        assert_eq!(status, 200, "{body}");
    }
    // Revocation events have a granularity of one second: a token issued in the same second
    // would be revoked as well.
    std::thread::sleep(Duration::from_millis(1100));
    let before = ks.token_requests();
    rt.block_on(publish(&url, &floating_ip_messages("ks2", 40, 2)));
    wait_for_measures(&gnocchi, 100, &agent);
    let log = agent.log_text();
    assert!(
        refused_by_gnocchi(&gnocchi) > refused_before,
        "Gnocchi refused the revoked token:\n{}",
        gnocchi.api_log()
    );
    assert!(log.contains("renewing it"), "the renewal is logged:\n{log}");
    assert_eq!(
        ks.token_requests() - before,
        1,
        "exactly one new token after the 401:\n{log}"
    );
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.terminate().success(), "a clean exit");
}

#[test]
fn a_refused_password_holds_deliveries_names_the_user_and_hands_them_back_at_stop() {
    // Counts nothing, and its refused requests are not issued tokens: runs beside the others.
    let ks = keystone_support::shared();
    let broker = Broker::new("gnocchi-keystone-refused");
    let url = broker.url();
    let rt = runtime();
    let wrong = "not-the-ceilometer-password";
    let dir = config(&keystone_settings(&ks.url, wrong, 3));
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &floating_ip_messages("ksbad", 10, 2)));
    wait_until("the refusal logged", Duration::from_secs(30), || {
        agent.log_text().contains("Keystone refused the credentials")
    });
    // The broker's statistics lag by a few seconds.
    wait_until("nothing acked, nothing dropped", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 10)
    });
    let log = agent.log_text();
    assert!(log.contains("user ceilometer (domain Default)"), "{log}");
    assert!(!log.contains(wrong), "the password is never logged:\n{log}");
    // Stopped while Keystone refuses it: the drain gives up after shutdown_timeout_s with
    // ceilo's documented status for that (EXIT_SHUTDOWN_TIMED_OUT), and the deliveries go back
    // to the broker.
    let stopped = Instant::now();
    let log = agent.log.clone();
    let status = agent.terminate();
    assert_eq!(
        status.code(),
        Some(i32::from(ceilo::agent::EXIT_SHUTDOWN_TIMED_OUT)),
        "{status}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    assert!(
        stopped.elapsed() < Duration::from_secs(15),
        "{:?}",
        stopped.elapsed()
    );
    wait_until(
        "the deliveries back in the queue",
        Duration::from_secs(20),
        || broker.counts("notifications.sample") == (10, 0),
    );
}

/// A dynamic pollster whose host command prints `entries` (JSON), one sample per entry with
/// its `user_id` and `project_id`.
fn probe_pollster(entries: &Json) -> String {
    format!(
        "- name: probe.identity\n  sample_type: gauge\n  unit: probe\n  value_attribute: value\n  \
         resource_id_attribute: id\n  user_id_attribute: user_id\n  project_id_attribute: project_id\n  \
         host_command: 'echo ''{entries}'''\n"
    )
}

/// The samples of a telemetry.polling notification (payload `{"samples": [...]}`).
fn polled_samples(body: &[u8]) -> Vec<Json> {
    let outer: Json = serde_json::from_slice(body).expect("outer json");
    let inner: Json =
        serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message")).expect("inner");
    inner["payload"]["samples"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The `GET /v3/<path>` requests Keystone has answered.
fn gets(ks: &keystone_support::Keystone, path: &str) -> usize {
    let needle = format!("GET /v3/{path} HTTP");
    ks.log_text().lines().filter(|l| l.contains(&needle)).count()
}

#[test]
fn identity_name_discovery_names_polled_samples_from_keystone_once_per_id() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    let service = ks.project("service");
    ks.user("ceilometer", CEILOMETER_PASSWORD, &service, "admin");
    let project = ks.project("polled-project");
    let user = ks.user("polled-user", "polled-user-pw", &project, "member");
    let entries = serde_json::json!([
        {"id": "r-known", "value": 1, "user_id": user, "project_id": project},
        {"id": "r-unknown-user", "value": 2, "user_id": "no-such-user", "project_id": project},
        {"id": "r-no-user", "value": 3, "user_id": "", "project_id": project},
    ]);
    let broker = Broker::new("polling-identity");
    let rt = runtime();
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         identity_name_discovery: true\n  libvirt_uri: 'test:///default'\n  \
         pollsters_definitions_dirs: ['{{dir}}/pollsters.d']\nservice_credentials:\n  \
         auth_url: {}\n  username: ceilometer\n  password: {CEILOMETER_PASSWORD}\n  \
         user_domain_name: Default\n  project_name: service\n  project_domain_name: Default\n",
        ks.url
    );
    let dir = config_dir("");
    std::fs::write(
        dir.path().join("ceilo.yaml"),
        settings.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("pollsters.d")).unwrap();
    std::fs::write(
        dir.path().join("pollsters.d/probe.yaml"),
        probe_pollster(&entries),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: probe\n    interval: 1\n    meters: [probe.identity]\n",
    )
    .unwrap();
    rt.block_on(declare(
        &broker.url(),
        "polled",
        "ceilometer",
        "notifications.sample",
        false,
    ));
    let (tokens, projects, users) = (
        ks.token_requests(),
        gets(ks, &format!("projects/{project}")),
        gets(ks, &format!("users/{user}")),
    );
    let agent = Agent::start(dir.path(), &broker.url());
    // Three polls: the names come from the cache after the first.
    let received = rt.block_on(collect(&broker.url(), "polled", Duration::from_secs(30), {
        let mut samples = 0;
        move |r| {
            samples += polled_samples(&r.body).len();
            samples >= 9
        }
    }));
    let log_path = agent.log.clone();
    let status = agent.terminate();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(status.success(), "{status}:\n{log}");
    let samples: Vec<Json> = received.iter().flat_map(|r| polled_samples(&r.body)).collect();
    assert!(samples.len() >= 9, "{samples:?}\n{log}");
    for s in &samples {
        let names = (s["project_name"].as_str(), s["user_name"].as_str());
        let expected = match s["resource_id"].as_str() {
            Some("r-known") => (Some("polled-project"), Some("polled-user")),
            // Keystone has no such user: null, as in Ceilometer; the project is still named.
            Some("r-unknown-user") | Some("r-no-user") => (Some("polled-project"), None),
            other => panic!("unexpected resource {other:?}"),
        };
        assert_eq!(names, expected, "{s}");
    }
    assert_eq!(
        ks.token_requests() - tokens,
        1,
        "one token for every look-up:\n{log}"
    );
    assert_eq!(
        gets(ks, &format!("projects/{project}")) - projects,
        1,
        "the project's name asked once, then cached:\n{log}"
    );
    assert_eq!(gets(ks, &format!("users/{user}")) - users, 1, "the user's too");
    assert_eq!(gets(ks, "users/no-such-user"), 1, "a missing user is cached too");
    assert_eq!(
        log.matches("Keystone has no such id").count(),
        1,
        "one warning for the missing user:\n{log}"
    );
    assert!(!log.contains(CEILOMETER_PASSWORD));
}
