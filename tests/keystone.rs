//! ceilo against a real Keystone 27 (`keystone_support`: one per test binary, so every test
//! that needs Keystone is here). Keystone's request log counts what ceilo asks it; the tests
//! that count hold `Keystone::exclusive`, so that the counts are their own. A test starts the
//! service it polls (Cinder excepted: see its test) before it takes the lock, so that one
//! service comes up while another test runs: starting one changes nothing another test counts
//! or lists (a service user is no project, and each service's catalog type is polled by its own
//! test only).
//!
//! * `gnocchi://` with Keystone v3 password auth into a real Gnocchi 4.7 on `[api] auth_mode =
//!   keystone` (keystonemiddleware validating every request's token with Keystone, no token
//!   cache, so a revoked token is refused at once). ceilo is given no Gnocchi endpoint: it
//!   finds Gnocchi in the token's catalog.
//! * `[polling] identity_name_discovery`: polled samples named from Keystone, cached.
//! * Cinder's pollsters against a real Cinder 26 API on Keystone auth (`cinder_support`), side
//!   by side with the real Ceilometer 27 polling agent: ceilo finds Cinder in the token's
//!   catalog, as Ceilometer does.
//! * Glance's, Neutron's, Octavia's, Manila's, Designate's and Swift's pollsters (`image.size`,
//!   `ip.floating`, `loadbalancer.*`, `manila.share.*`, `dns.zone.*`, `storage.*`) against real
//!   Glance 30, Neutron 26, Octavia 16, Manila 20, Designate 20 and Swift 2.35 (`glance_support`,
//!   `neutron_support`, `octavia_support`, `manila_support`, `designate_support`,
//!   `swift_support`), and Aodh's
//!   `alarm.evaluation_result` against a real Aodh 23 (`aodh_support`), side by side with
//!   Ceilometer 27.
//! * `zaqar://` into a real Zaqar (`zaqar_support`) found in the catalog, side by side with
//!   Ceilometer 27's notification agent posting the same notifications' samples and events.
//! * The flavor ids older nova metadata leaves out, asked of a real Nova 31 API
//!   (`nova_support`) found in the catalog, side by side with Ceilometer 27's compute agent.

mod aodh_support;
mod cinder_support;
#[allow(dead_code)]
mod common;
mod designate_support;
mod glance_support;
mod gnocchi_support;
mod keystone_support;
mod manila_support;
mod neutron_support;
mod nova_support;
mod octavia_support;
mod runtime_support;
mod service_support;
mod swift_support;
mod zaqar_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use common::ceilometer::Service;
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
    ks.register("metric", "gnocchi", &gnocchi.url);
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

/// The `GET /v3/<path>` requests Keystone has answered.
fn gets(ks: &keystone_support::Keystone, path: &str) -> usize {
    let needle = format!("GET /v3/{path} HTTP");
    ks.log_text().lines().filter(|l| l.contains(&needle)).count()
}

/// The `ceilometer` user's password credentials (lines of `service_credentials:`).
fn password_credentials() -> String {
    format!(
        "  username: ceilometer\n  password: {CEILOMETER_PASSWORD}\n  user_domain_name: Default\n  \
         project_name: service\n  project_domain_name: Default\n"
    )
}

/// `ceilo run`'s polling agent with `identity_name_discovery`, polling a probe pollster that
/// gives `entries` once a second, its credentials `credentials` (lines of
/// `service_credentials:`) at `auth_url`: the first `n` samples it sent, and its log.
fn poll_with_names(auth_url: &str, credentials: &str, entries: &Json, n: usize) -> (Vec<Json>, String) {
    let broker = Broker::new("polling-identity");
    let rt = runtime();
    let settings = format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         identity_name_discovery: true\n  libvirt_uri: 'test:///default'\n  \
         pollsters_definitions_dirs: ['{{dir}}/pollsters.d']\nservice_credentials:\n  \
         auth_url: {auth_url}\n{credentials}"
    );
    let dir = config_dir("");
    std::fs::write(
        dir.path().join("ceilo.yaml"),
        settings.replace("{dir}", &dir.path().display().to_string()),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("pollsters.d")).unwrap();
    std::fs::write(dir.path().join("pollsters.d/probe.yaml"), probe_pollster(entries)).unwrap();
    std::fs::write(
        dir.path().join("polling.yaml"),
        "sources:\n  - name: probe\n    interval: 1\n    meters: [probe.identity]\n",
    )
    .unwrap();
    declare_polled(&rt, &broker);
    let agent = Agent::start(dir.path(), &broker.url());
    let received = rt.block_on(collect(&broker.url(), POLLED, Duration::from_secs(30), {
        let mut samples = 0;
        move |r| {
            samples += polled_samples(&r.body).len();
            samples >= n
        }
    }));
    let log_path = agent.log.clone();
    let status = agent.terminate();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(status.success(), "{status}:\n{log}");
    let samples: Vec<Json> = received.iter().flat_map(|r| polled_samples(&r.body)).collect();
    assert!(samples.len() >= n, "{samples:?}\n{log}");
    (samples, log)
}

#[test]
fn identity_name_discovery_names_polled_samples_from_keystone_once_per_id() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let project = ks.project("polled-project");
    let user = ks.user("polled-user", "polled-user-pw", &project, "member");
    let entries = serde_json::json!([
        {"id": "r-known", "value": 1, "user_id": user, "project_id": project},
        {"id": "r-unknown-user", "value": 2, "user_id": "no-such-user", "project_id": project},
        {"id": "r-no-user", "value": 3, "user_id": "", "project_id": project},
    ]);
    let (tokens, projects, users) = (
        ks.token_requests(),
        gets(ks, &format!("projects/{project}")),
        gets(ks, &format!("users/{user}")),
    );
    // Three polls: the names come from the cache after the first.
    let (samples, log) = poll_with_names(&ks.url, &password_credentials(), &entries, 9);
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

/// Keystone over https with a certificate of a private CA (keystoneauth's `cafile`,
/// `insecure`): trusted through `cafile` or taken with `insecure`; without either, refused
/// (the system's roots do not know the CA) and the samples go out unnamed, as they do while
/// Keystone cannot be reached.
#[test]
fn keystone_over_https_is_trusted_through_cafile_or_taken_insecure() {
    let ks = keystone_support::shared();
    let _one_at_a_time = ks.exclusive();
    ceilometer_user(ks);
    let project = ks.project("tls-project");
    let entries = serde_json::json!([{"id": "r", "value": 1, "user_id": "", "project_id": project}]);
    let (https, ca) = ks.https();
    for (extra, named) in [
        (format!("  cafile: {}\n", ca.display()), true),
        ("  insecure: true\n".to_owned(), true),
        (String::new(), false),
    ] {
        let (samples, log) =
            poll_with_names(&https, &format!("{}{extra}", password_credentials()), &entries, 2);
        let name = if named { Some("tls-project") } else { None };
        for s in &samples {
            assert_eq!(s["project_name"].as_str(), name, "{extra}: {s}\n{log}");
        }
        if !named {
            assert!(log.contains("UnknownIssuer"), "the refusal says why:\n{log}");
        }
    }
}

const VOLUME_POLLING: &str = r#"---
sources:
    - name: volumes
      interval: 10
      meters:
      - volume.size
      - volume.snapshot.size
      - volume.backup.size
      - volume.service.health
      - volume.provider.pool.capacity.total
      - volume.provider.pool.capacity.free
      - volume.provider.pool.capacity.provisioned
      - volume.provider.pool.capacity.virtual_free
      - volume.provider.pool.capacity.allocated
"#;

/// An application credential of the `ceilometer` user (`v3applicationcredential`, as
/// deployments give services instead of passwords): names are looked up with its token.
#[test]
fn an_application_credential_authenticates_in_place_of_the_password() {
    let ks = keystone_support::shared();
    let _one_at_a_time = ks.exclusive();
    let user = ceilometer_user(ks);
    let project = ks.project("appcred-project");
    let token = ks
        .issue_token("ceilometer", CEILOMETER_PASSWORD, "service")
        .expect("the ceilometer user's token");
    let name = format!("ceilo-{}", std::process::id());
    let (status, created) = gnocchi_support::curl_json(
        "POST",
        &format!("{}/users/{user}/application_credentials", ks.url),
        Some(&token),
        &[],
        Some(&serde_json::json!({"application_credential": {"name": name}})),
    );
    assert_eq!(status, 201, "{created}");
    let (id, secret) = (
        created["application_credential"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
        created["application_credential"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let entries = serde_json::json!([{"id": "r", "value": 1, "user_id": "", "project_id": project}]);
    for credentials in [
        format!("  application_credential_id: {id}\n  application_credential_secret: {secret}\n"),
        format!(
            "  application_credential_name: {name}\n  application_credential_secret: {secret}\n  \
             username: ceilometer\n  user_domain_name: Default\n"
        ),
    ] {
        let (samples, log) = poll_with_names(&ks.url, &credentials, &entries, 2);
        for s in &samples {
            assert_eq!(s["project_name"], "appcred-project", "{s}\n{log}");
        }
        assert!(!log.contains(&secret), "the secret is never printed");
    }
}

/// The `ceilometer` service user (admin on project `service`, as deployments make it): its id.
fn ceilometer_user(ks: &keystone_support::Keystone) -> String {
    let service = ks.project("service");
    ks.user("ceilometer", CEILOMETER_PASSWORD, &service, "admin")
}

/// Projects `<tag>-a` and `<tag>-b`, each with a member user of its own: each project's id and
/// its user's token.
fn two_projects(ks: &keystone_support::Keystone, tag: &str) -> [(String, String); 2] {
    ["a", "b"].map(|which| {
        let (project, user, password) = (
            format!("{tag}-{which}"),
            format!("{tag}-user-{which}"),
            format!("{tag}-pw-{which}"),
        );
        let id = ks.project(&project);
        ks.user(&user, &password, &id, "member");
        let token = ks.issue_token(&user, &password, &project).expect("a token");
        (id, token)
    })
}

/// ceilo.yaml of a polling agent (no notification agent) with the `ceilometer` user's
/// `service_credentials` on `ks`, its catalog looked up in `region`.
fn polling_with_credentials(ks: &keystone_support::Keystone, region: &str) -> String {
    format!(
        "polling_enabled: true\nnotification:\n  enabled: false\n{TELEMETRY}polling:\n  \
         pollsters_definitions_dirs: []\n  libvirt_uri: 'test:///default'\n\
         service_credentials:\n  auth_url: {}\n  username: ceilometer\n  \
         password: {CEILOMETER_PASSWORD}\n  user_domain_name: Default\n  project_name: service\n  \
         project_domain_name: Default\n  region_name: {region}\n",
        ks.url
    )
}

/// What tells a polled sample from the others of a poll: its meter and resource, and for
/// Aodh's `alarm.evaluation_result` (one sample per alarm and state) the state after the
/// resource (`<alarm>#<state>`).
fn sample_key(s: &Json) -> (String, String) {
    let resource = s["resource_id"].as_str().unwrap_or_default();
    let resource = match s["resource_metadata"]["alarm_state"].as_str() {
        Some(state) => format!("{resource}#{state}"),
        None => resource.to_owned(),
    };
    (
        s["counter_name"].as_str().unwrap_or_default().to_owned(),
        resource,
    )
}

/// The first polled sample of each [`sample_key`].
fn by_meter_and_resource(received: &[Received]) -> Samples {
    let mut out = BTreeMap::new();
    for s in received.iter().flat_map(|r| polled_samples(&r.body)) {
        out.entry(sample_key(&s)).or_insert(s);
    }
    out
}

/// Collect until `n` distinct [`sample_key`]s came.
fn distinct_samples(n: usize) -> impl FnMut(&Received) -> bool {
    let mut seen = std::collections::BTreeSet::new();
    move |r| {
        for s in polled_samples(&r.body) {
            seen.insert(sample_key(&s));
        }
        seen.len() >= n
    }
}

/// `ceilometer-polling --polling-namespaces <namespace>` on `ks`'s credentials polling what
/// `polling_yaml` says, publishing to `broker`, with `extra` lines in ceilometer.conf and the
/// `[cinder]` config group that its Cinder client needs and never registers
/// (tests/fixtures/ceilometer/polling_with_cinder_group.py says why).
fn start_ceilometer_polling(
    ks: &keystone_support::Keystone,
    broker: &Broker,
    dir: &std::path::Path,
    polling_yaml: &str,
    namespace: &str,
    extra: &str,
) -> Service {
    let venv = common::ceilometer::venv();
    std::fs::write(dir.join("polling.yaml"), polling_yaml).unwrap();
    let conf = format!(
        "[DEFAULT]\nhost = cinder-cmp\ntransport_url = {url}\n\n[polling]\ncfg_file = {dir}/polling.yaml\n\n\
         [service_credentials]\nauth_type = password\nauth_url = {auth}\nusername = ceilometer\n\
         password = {CEILOMETER_PASSWORD}\nuser_domain_name = Default\nproject_name = service\n\
         project_domain_name = Default\nregion_name = {region}\ninterface = public\n\n\
         [DEFAULT]\nlog_file = {dir}/ceilometer-polling.log\n\n\
         [service_types]\ncinder = block-storage\n\n{extra}",
        url = broker.url().replacen("amqp://", "rabbit://", 1),
        dir = dir.display(),
        auth = ks.url,
        region = keystone_support::REGION,
    );
    std::fs::write(dir.join("ceilometer.conf"), conf).unwrap();
    let wrapper = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ceilometer/polling_with_cinder_group.py");
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(wrapper)
        .arg("--config-file")
        .arg(dir.join("ceilometer.conf"))
        .args(["--polling-namespaces", namespace]);
    // Its records go to `log_file`; stderr holds what comes before logging is set up.
    Service::spawn(command, dir.join("ceilometer-polling.stderr"))
}

/// Ceilometer's central polling agent and ceilo's polling agent, side by side: each polls what
/// `polling_yaml` says with the `ceilometer` user's credentials into a vhost of its own, where
/// queue `polled` gets what it sends.
struct SideBySide {
    rt: tokio::runtime::Runtime,
    theirs: Broker,
    ours: Broker,
    work: tempfile::TempDir,
    _ceilometer: Service,
    _dir: tempfile::TempDir,
    agent: Agent,
}

impl SideBySide {
    fn start(ks: &keystone_support::Keystone, tag: &str, polling_yaml: &str) -> SideBySide {
        SideBySide::with_pollsters(ks, tag, polling_yaml, None)
    }

    /// [`SideBySide::start`] with the dynamic pollster definitions `pollsters` (a pollsters.d
    /// file) given to both.
    fn with_pollsters(
        ks: &keystone_support::Keystone,
        tag: &str,
        polling_yaml: &str,
        pollsters: Option<&str>,
    ) -> SideBySide {
        let rt = runtime();
        let (theirs, ours) = polled_vhosts(&rt, tag);
        let work = tempfile::tempdir().unwrap();
        let mut settings = polling_with_credentials(ks, keystone_support::REGION);
        let mut conf = String::new();
        if let Some(definitions) = pollsters {
            let dir = work.path().join("pollsters.d");
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("dynamic.yaml"), definitions).unwrap();
            // Where Ceilometer 27 reads it (see ceilometer_conf.rs).
            conf = format!("[DEFAULT]\npollsters_definitions_dirs = {}\n", dir.display());
            settings = settings.replace(
                "pollsters_definitions_dirs: []",
                &format!("pollsters_definitions_dirs: ['{}']", dir.display()),
            );
        }
        let ceilometer = start_ceilometer_polling(ks, &theirs, work.path(), polling_yaml, "central", &conf);
        let dir = config_dir(&settings);
        std::fs::write(dir.path().join("polling.yaml"), polling_yaml).unwrap();
        let agent = Agent::start(dir.path(), &ours.url());
        SideBySide {
            rt,
            theirs,
            ours,
            work,
            _ceilometer: ceilometer,
            _dir: dir,
            agent,
        }
    }

    /// What each sent until it had sent `n` distinct (meter, resource) samples (`timeout` at
    /// most), the first of each (meter, resource): Ceilometer's and ceilo's, asserted to be `n`
    /// each (shown with the agents' logs and `service_log` when not).
    fn collect(self, n: usize, timeout: Duration, service_log: impl Fn() -> String) -> (Samples, Samples) {
        let (theirs, ours) = (self.theirs.url(), self.ours.url());
        let (c, r) = self.rt.block_on(async {
            tokio::join!(
                collect(&theirs, POLLED, timeout, distinct_samples(n)),
                collect(&ours, POLLED, timeout, distinct_samples(n)),
            )
        });
        let log = self.agent.log_text();
        let ceilometer_log =
            std::fs::read_to_string(self.work.path().join("ceilometer-polling.log")).unwrap_or_default();
        let (c, r) = (by_meter_and_resource(&c), by_meter_and_resource(&r));
        assert_eq!(
            c.len(),
            n,
            "Ceilometer's samples: {c:#?}\n{ceilometer_log}\n{}",
            service_log()
        );
        assert_eq!(r.len(), n, "ceilo's samples: {r:#?}\n{log}\n{}", service_log());
        (c, r)
    }
}

/// The first polled sample of each (meter, resource).
type Samples = BTreeMap<(String, String), Json>;

#[test]
fn cinder_volumes_snapshots_backups_services_and_pools_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    // Unlike the other services, Cinder starts under the lock: when its API had been up while
    // another test ran, the scheduler started below took its whole 60 s startup wait to list
    // the pool (in three runs of four; never with Cinder started here).
    let mut cinder = cinder_support::Cinder::start(ks);
    ceilometer_user(ks);
    let (pa, pb) = (ks.project("volumes-a"), ks.project("volumes-b"));
    let ua = ks.user("volume-user-a", "volume-pw-a", &pa, "member");
    let ub = ks.user("volume-user-b", "volume-pw-b", &pb, "member");
    let ta = ks
        .issue_token("volume-user-a", "volume-pw-a", "volumes-a")
        .expect("token a");
    let tb = ks
        .issue_token("volume-user-b", "volume-pw-b", "volumes-b")
        .expect("token b");
    // Five volumes in two projects (seven with the two below: four pages of two).
    let owners = [(&ta, &pa), (&ta, &pa), (&ta, &pa), (&tb, &pb), (&tb, &pb)];
    let volumes: Vec<Json> = owners
        .iter()
        .enumerate()
        .map(|(i, (t, p))| {
            cinder.create(
                t,
                p,
                "volumes",
                serde_json::json!({"size": i + 1, "name": format!("vol-{i}")}),
            )
        })
        .collect();
    let id = |v: &Json| v["id"].as_str().expect("an id").to_owned();
    cinder.place(&id(&volumes[0]));
    cinder.place(&id(&volumes[3]));
    let snapshot = cinder.create(
        &ta,
        &pa,
        "snapshots",
        serde_json::json!({"volume_id": id(&volumes[0]), "name": "snap", "description": "before", "force": true}),
    );
    let backup = cinder.create(
        &tb,
        &pb,
        "backups",
        serde_json::json!({"volume_id": id(&volumes[3]), "name": "bak"}),
    );
    // A clone and a volume from the snapshot, so that source_volid and snapshot_id are set.
    cinder.complete_snapshot(&id(&snapshot));
    let clone = cinder.create(
        &ta,
        &pa,
        "volumes",
        serde_json::json!({"size": 1, "source_volid": id(&volumes[0])}),
    );
    let restored = cinder.create(
        &ta,
        &pa,
        "volumes",
        serde_json::json!({"size": 1, "snapshot_id": id(&snapshot)}),
    );

    let agents = SideBySide::start(ks, "cinder", VOLUME_POLLING);
    cinder.add_service("cinder-volume", "cinder-test@lvm", true);
    cinder.add_service("cinder-backup", "cinder-test", false);
    let capabilities = serde_json::json!({"pool_name": "pool", "total_capacity_gb": 100,
        "free_capacity_gb": 60.5, "provisioned_capacity_gb": 30, "allocated_capacity_gb": 25,
        "reserved_percentage": 10, "thin_provisioning_support": true, "max_over_subscription_ratio": "2.0"});
    cinder.report_pool(
        "cinder-test@lvm",
        &capabilities,
        ks.admin_token(),
        &ks.project("admin"),
    );
    // Seven volumes, a snapshot, a backup, three services (the scheduler is one) and a pool's
    // five capacities.
    let expected = volumes.len() + 2 + 2 + 3 + 5;
    let (c, r) = agents.collect(expected, Duration::from_secs(120), || cinder.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    for (i, v) in volumes.iter().enumerate() {
        let s = &r[&("volume.size".to_owned(), id(v))];
        assert_eq!(s["counter_volume"], i + 1, "{s}");
        let (user, project) = if i < 3 { (&ua, &pa) } else { (&ub, &pb) };
        assert_eq!(
            (&s["user_id"], &s["project_id"]),
            (&Json::from(user.as_str()), &Json::from(project.as_str())),
            "{s}"
        );
        assert_eq!(s["counter_unit"], "GiB");
    }
    let s = &r[&("volume.snapshot.size".to_owned(), id(&snapshot))];
    assert_eq!(
        (s["counter_volume"].as_u64(), s["project_id"].as_str()),
        (Some(1), Some(pa.as_str())),
        "{s}"
    );
    assert_eq!(s["resource_metadata"]["volume_id"], id(&volumes[0]));
    let s = &r[&("volume.backup.size".to_owned(), id(&backup))];
    assert_eq!(
        (s["counter_volume"].as_u64(), s["project_id"].as_str()),
        (Some(4), Some(pb.as_str())),
        "{s}"
    );
    let placed = &r[&("volume.size".to_owned(), id(&volumes[0]))];
    assert_eq!(
        placed["resource_metadata"]["os-vol-host-attr:host"],
        cinder_support::HOST
    );
    let health = |resource: &str| {
        r[&("volume.service.health".to_owned(), resource.to_owned())]["counter_volume"].clone()
    };
    assert_eq!(health("cinder-volume@cinder-test@lvm"), 1);
    assert_eq!(health("cinder-backup@cinder-test"), 0);
    let pool = |meter: &str| {
        let key = (
            format!("volume.provider.pool.capacity.{meter}"),
            "cinder-test@lvm#pool".to_owned(),
        );
        let sample = r
            .get(&key)
            .unwrap_or_else(|| panic!("{key:?} not among {:?}", r.keys()));
        sample["counter_volume"].clone()
    };
    assert_eq!(
        (pool("total"), pool("free"), pool("allocated")),
        (100.into(), 60.5.into(), 25.into())
    );
    assert_eq!(
        (pool("provisioned"), pool("virtual_free")),
        (30.into(), 150.0.into())
    );
    let clone = &r[&("volume.size".to_owned(), id(&clone))]["resource_metadata"];
    assert_eq!(clone["source_volid"], id(&volumes[0]));
    let restored = &r[&("volume.size".to_owned(), id(&restored))]["resource_metadata"];
    assert_eq!(restored["snapshot_id"], id(&snapshot));

    same_samples(&c, &r);
}

/// What Ceilometer sent (`c`) and what ceilo sent (`r`) agree, field by field.
fn same_samples(c: &Samples, r: &Samples) {
    let mut differences = Vec::new();
    for (key, theirs) in c {
        let Some(ours) = r.get(key) else {
            differences.push(format!("{key:?}: only Ceilometer has it"));
            continue;
        };
        for field in [
            "counter_type",
            "counter_unit",
            "counter_volume",
            "user_id",
            "project_id",
            "resource_metadata",
            "source",
        ] {
            if theirs[field] != ours[field] {
                differences.push(format!(
                    "{key:?} {field}: Ceilometer {} ceilo {}",
                    theirs[field], ours[field]
                ));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn cinder_missing_from_the_catalog_is_said_and_nothing_else_stops() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let broker = Broker::new("cinder-nowhere");
    let settings = polling_with_credentials(ks, "NoSuchRegion");
    let dir = config_dir(&settings);
    std::fs::write(
        dir.path().join("polling.yaml"),
        format!(
            "{VOLUME_POLLING}    - name: host\n      interval: 1\n      meters: [hardware.cpu.load.1min]\n"
        ),
    )
    .unwrap();
    let rt = runtime();
    declare_polled(&rt, &broker);
    let agent = Agent::start(dir.path(), &broker.url());
    let needle = "volumev3 service is not registered in keystone (no public endpoint in NoSuchRegion";
    let deadline = Instant::now() + Duration::from_secs(60);
    while !agent.log_text().contains(needle) {
        assert!(
            Instant::now() < deadline,
            "the missing endpoint is logged:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // The host source polls on.
    let received = rt.block_on(collect(
        &broker.url(),
        POLLED,
        Duration::from_secs(30),
        distinct_samples(1),
    ));
    let log_path = agent.log.clone();
    let status = agent.terminate();
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    assert!(status.success(), "{status}\n{log}");
    let samples = by_meter_and_resource(&received);
    assert!(
        samples.keys().all(|(meter, _)| meter == "hardware.cpu.load.1min"),
        "{samples:?}"
    );
    assert!(!samples.is_empty(), "{log}");
    for discoverer in [
        "volumes",
        "volume_snapshots",
        "volume_backups",
        "volume_services",
        "volume_pools",
    ] {
        assert!(
            log.contains(&format!("discoverer=\"{discoverer}\""))
                || log.contains(&format!("discoverer={discoverer}")),
            "{log}"
        );
    }
}

const IMAGE_POLLING: &str = "---\nsources:\n    - name: images\n      interval: 10\n      \
    meters:\n      - image.size\n      - dynamic.image.size\n";

/// A dynamic pollster of Glance's images, as an operator would write one: `endpoint:image`
/// discovery (Glance's URL in the catalog), the agent's token on every request, Glance's pages
/// followed by their `next`.
const IMAGE_DYNAMIC_POLLSTER: &str = "---\n- name: dynamic.image.size\n  sample_type: gauge\n  \
    unit: B\n  value_attribute: size\n  endpoint_type: image\n  url_path: v2/images\n  \
    response_entries_key: images\n  next_sample_url_attribute: next\n  \
    project_id_attribute: owner\n  metadata_fields:\n    - name\n    - status\n    - visibility\n";

#[test]
fn glance_images_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let glance = glance_support::Glance::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let project = ks.project("images-a");
    ks.user("image-user-a", "image-pw-a", &project, "member");
    let token = ks
        .issue_token("image-user-a", "image-pw-a", "images-a")
        .expect("a token");
    // Five images, three pages of two: with data or without, private, shared, community and
    // (made by the admin) public; one with a tag (a single one: Glance lists tags in no set
    // order). Glance lists community images only when asked for them, and Ceilometer does not
    // ask: four are polled.
    let image = |token: &str, body: Json| {
        glance.create(token, &body)["id"]
            .as_str()
            .expect("an id")
            .to_owned()
    };
    let cirros = image(
        &token,
        serde_json::json!({"name": "cirros", "container_format": "bare", "disk_format": "raw",
            "tags": ["gold"], "min_disk": 1, "min_ram": 64}),
    );
    let empty = image(
        &token,
        serde_json::json!({"name": "empty", "container_format": "bare", "disk_format": "qcow2"}),
    );
    let shared = image(
        &token,
        serde_json::json!({"name": "shared", "visibility": "shared", "container_format": "ovf",
            "disk_format": "vmdk", "protected": true}),
    );
    let community = image(
        &token,
        serde_json::json!({"name": "community", "visibility": "community", "container_format": "bare",
            "disk_format": "iso"}),
    );
    let public = image(
        ks.admin_token(),
        serde_json::json!({"name": "public", "visibility": "public", "container_format": "bare",
            "disk_format": "raw"}),
    );
    glance.upload(&token, &cirros, &[7; 1000]);
    glance.upload(ks.admin_token(), &public, &[8; 2048]);

    let agents = SideBySide::with_pollsters(ks, "glance", IMAGE_POLLING, Some(IMAGE_DYNAMIC_POLLSTER));
    let (c, r) = agents.collect(8, Duration::from_secs(90), || glance.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let sample = |id: &str| &r[&("image.size".to_owned(), id.to_owned())];
    assert_eq!(sample(&cirros)["counter_volume"], 1000);
    assert_eq!(sample(&public)["counter_volume"], 2048);
    assert!(sample(&empty)["counter_volume"].is_null(), "{}", sample(&empty));
    assert!(!r.contains_key(&("image.size".to_owned(), community.clone())));
    for id in [&cirros, &empty, &shared] {
        assert_eq!(sample(id)["project_id"], project.as_str(), "{}", sample(id));
        assert!(sample(id)["user_id"].is_null());
        assert_eq!(sample(id)["counter_unit"], "B");
    }
    let metadata = |id: &str| sample(id)["resource_metadata"].clone();
    assert_eq!(metadata(&cirros)["tags"], serde_json::json!(["gold"]));
    assert_eq!(metadata(&cirros)["status"], "active");
    assert_eq!(metadata(&empty)["status"], "queued");
    assert_eq!(metadata(&shared)["is_protected"], true);
    assert_eq!(metadata(&shared)["visibility"], "shared");
    // The dynamic pollster's samples: Glance found in the catalog, asked with the agent's token.
    let dynamic = |id: &str| &r[&("dynamic.image.size".to_owned(), id.to_owned())];
    assert_eq!(dynamic(&cirros)["counter_volume"], 1000);
    assert_eq!(dynamic(&public)["counter_volume"], 2048);
    assert_eq!(dynamic(&shared)["project_id"], project.as_str());
    assert_eq!(dynamic(&shared)["resource_metadata"]["visibility"], "shared");

    same_samples(&c, &r);
}

/// A dynamic pollster of Keystone's own projects (one sample per project, its `enabled` as 1).
const PROJECT_DYNAMIC_POLLSTER: &str = "---\n- name: dynamic.identity.project\n  sample_type: gauge\n  \
    unit: project\n  value_attribute: 'enabled | int(value)'\n  endpoint_type: identity\n  \
    url_path: projects\n  response_entries_key: projects\n  project_id_attribute: id\n";

#[test]
fn a_dynamic_pollster_renews_a_refused_token_once_and_polls_on() {
    let ks = keystone_support::shared();
    let _counting = ks.exclusive();
    let ceilometer = ceilometer_user(ks);
    let rt = runtime();
    let broker = Broker::new("dynamic-token");
    declare_polled(&rt, &broker);
    let work = tempfile::tempdir().unwrap();
    let pollsters = work.path().join("pollsters.d");
    std::fs::create_dir(&pollsters).unwrap();
    std::fs::write(pollsters.join("keystone.yaml"), PROJECT_DYNAMIC_POLLSTER).unwrap();
    let settings = polling_with_credentials(ks, keystone_support::REGION).replace(
        "pollsters_definitions_dirs: []",
        &format!("pollsters_definitions_dirs: ['{}']", pollsters.display()),
    );
    let dir = config_dir(&settings);
    std::fs::write(
        dir.path().join("polling.yaml"),
        "---\nsources:\n    - name: projects\n      interval: 4\n      meters:\n      - dynamic.identity.project\n",
    )
    .unwrap();
    let service = ks.project("service");
    let polled = |timeout: u64| {
        let received = rt.block_on(collect(
            &broker.url(),
            POLLED,
            Duration::from_secs(timeout),
            distinct_samples(1),
        ));
        by_meter_and_resource(&received)
    };

    // Keystone's URL from the catalog, asked with the agent's token: one token for it all.
    let before = ks.token_requests();
    let agent = Agent::start(dir.path(), &broker.url());
    let samples = polled(30);
    let key = ("dynamic.identity.project".to_owned(), service.clone());
    assert_eq!(
        samples[&key]["counter_volume"],
        1,
        "{samples:?}\n{}",
        agent.log_text()
    );
    assert_eq!(ks.token_requests() - before, 1, "{}", agent.log_text());

    // Keystone revokes the user's tokens (as in the gnocchi test above) right after a poll, so
    // that the next one comes seconds after: its request is refused, one new token is fetched
    // (not in the revocation's second, which would revoke it too) and the request sent again.
    let renewed = ks.token_requests();
    let user = format!("/users/{ceilometer}");
    for enabled in [false, true] {
        let (status, body) = ks.admin(
            "PATCH",
            &user,
            Some(&serde_json::json!({"user": {"enabled": enabled}})),
        );
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while ks.token_requests() == renewed {
        assert!(
            Instant::now() < deadline,
            "no token fetched after the refusal:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    broker.purge(POLLED);
    let samples = polled(20);
    assert_eq!(samples[&key]["counter_volume"], 1, "{samples:?}");
    let log = agent.log_text();
    assert_eq!(ks.token_requests() - renewed, 1, "one new token:\n{log}");
    assert!(log.contains("reason=Refused"), "the renewal is logged:\n{log}");
    assert!(
        !log.contains("HTTP 401"),
        "no poll failed for the refusal:\n{log}"
    );
    assert!(agent.terminate().success(), "a clean exit");
}

const NEUTRON_POLLING: &str = "---\nsources:\n    - name: network\n      interval: 10\n      \
    meters:\n      - ip.floating\n      - network.services.vpn\n      - network.services.vpn.connections\n      \
    - network.services.firewall\n      - network.services.firewall.policy\n";

#[test]
fn neutron_floating_ips_vpn_and_firewall_services_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let neutron = neutron_support::Neutron::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let admin = ks.admin_token();
    let (project_a, project_b) = (ks.project("fips-a"), ks.project("fips-b"));
    // An external network whose addresses float, and a router from a project's network to it,
    // so that one floating IP is associated as a deployment's would be (router, fixed address,
    // port): Neutron's API does all of this without any agent.
    let id = |record: &Json| record["id"].as_str().expect("an id").to_owned();
    let public = id(&neutron.create(
        admin,
        "networks",
        serde_json::json!({"name": "public", "router:external": true,
            "provider:network_type": "flat", "provider:physical_network": "public"}),
    ));
    neutron.create(
        admin,
        "subnets",
        serde_json::json!({"network_id": public, "cidr": "172.24.4.0/24", "ip_version": 4}),
    );
    let private = id(&neutron.create(
        admin,
        "networks",
        serde_json::json!({"name": "private", "tenant_id": project_a,
            "provider:network_type": "flat", "provider:physical_network": "private"}),
    ));
    let subnet = id(&neutron.create(
        admin,
        "subnets",
        serde_json::json!({"network_id": private, "cidr": "10.0.0.0/24", "ip_version": 4,
            "tenant_id": project_a}),
    ));
    let router = id(&neutron.create(
        admin,
        "routers",
        serde_json::json!({"name": "r", "tenant_id": project_a,
            "external_gateway_info": {"network_id": public}}),
    ));
    neutron.update(
        admin,
        &format!("routers/{router}/add_router_interface"),
        serde_json::json!({"subnet_id": subnet}),
    );
    let port = id(&neutron.create(
        admin,
        "ports",
        serde_json::json!({"network_id": private, "tenant_id": project_a}),
    ));
    let floating = |project: &str, extra: Json| {
        let mut body = serde_json::json!({"floating_network_id": public, "tenant_id": project});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        id(&neutron.create(admin, "floatingips", body))
    };
    let associated = floating(&project_a, serde_json::json!({"port_id": port}));
    let free = floating(&project_a, serde_json::json!({}));
    let failed = floating(&project_b, serde_json::json!({"description": "x"}));
    let other = floating(&project_b, serde_json::json!({}));
    // What an L3 agent would report (Neutron refuses to list a status outside ACTIVE, DOWN and
    // ERROR: one Ceilometer's table does not have is the unit tests').
    neutron.set_status("floatingips", &associated, "ACTIVE");
    neutron.set_status("floatingips", &failed, "ERROR");
    // A VPN service on the router with an IPsec connection to a peer, and a firewall group
    // with a policy of one rule in the other project.
    let ike = id(&neutron.create(
        admin,
        "vpn/ikepolicies",
        serde_json::json!({"name": "ike", "tenant_id": project_a}),
    ));
    let ipsec = id(&neutron.create(
        admin,
        "vpn/ipsecpolicies",
        serde_json::json!({"name": "esp", "tenant_id": project_a}),
    ));
    let vpn = id(&neutron.create(
        admin,
        "vpn/vpnservices",
        serde_json::json!({"name": "vpn", "router_id": router, "subnet_id": subnet, "tenant_id": project_a}),
    ));
    let connection = id(&neutron.create(
        admin,
        "vpn/ipsec-site-connections",
        serde_json::json!({"name": "to-dc", "vpnservice_id": vpn, "ikepolicy_id": ike,
            "ipsecpolicy_id": ipsec, "peer_address": "203.0.113.5", "peer_id": "203.0.113.5",
            "peer_cidrs": ["10.2.0.0/24"], "psk": "not-so-secret", "tenant_id": project_a}),
    ));
    neutron.set_status("vpnservices", &vpn, "ACTIVE");
    let rule = id(&neutron.create(
        admin,
        "fwaas/firewall_rules",
        serde_json::json!({"protocol": "tcp", "destination_port": "22", "action": "allow",
            "tenant_id": project_b}),
    ));
    let policy = id(&neutron.create(
        admin,
        "fwaas/firewall_policies",
        serde_json::json!({"name": "ssh", "firewall_rules": [rule], "tenant_id": project_b}),
    ));
    let group = id(&neutron.create(
        admin,
        "fwaas/firewall_groups",
        serde_json::json!({"name": "edge", "ingress_firewall_policy_id": policy, "tenant_id": project_b}),
    ));
    // FWaaS makes each project that lists firewall groups a default group and policies of its
    // own (the agents' `service` project too): every one is polled.
    let listing = ks
        .issue_token("ceilometer", CEILOMETER_PASSWORD, "service")
        .expect("the ceilometer user's token");
    let (groups, policies) = (
        neutron.count(&listing, "fwaas/firewall_groups"),
        neutron.count(&listing, "fwaas/firewall_policies"),
    );

    let agents = SideBySide::start(ks, "neutron", NEUTRON_POLLING);
    let (c, r) = agents.collect(4 + 2 + groups + policies, Duration::from_secs(90), || {
        neutron.log_text()
    });

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let sample = |id: &str| &r[&("ip.floating".to_owned(), id.to_owned())];
    for (ip, volume, project) in [
        (&associated, 1, &project_a),
        (&free, 3, &project_a),
        (&failed, 7, &project_b),
        (&other, 3, &project_b),
    ] {
        assert_eq!(sample(ip)["counter_volume"], volume, "{}", sample(ip));
        assert_eq!(sample(ip)["project_id"], project.as_str(), "{}", sample(ip));
        assert!(sample(ip)["user_id"].is_null());
        assert_eq!(sample(ip)["counter_unit"], "ip");
    }
    let metadata = |id: &str| sample(id)["resource_metadata"].clone();
    assert_eq!(metadata(&associated)["router_id"], router.as_str());
    assert_eq!(metadata(&associated)["port_id"], port.as_str());
    assert!(metadata(&associated)["fixed_ip_address"]
        .as_str()
        .is_some_and(|a| a.starts_with("10.0.0.")));
    assert!(metadata(&free)["router_id"].is_null());
    assert_eq!(metadata(&failed)["status"], "ERROR");
    let service = |meter: &str, id: &str| &r[&(format!("network.services.{meter}"), id.to_owned())];
    assert_eq!(
        service("vpn", &vpn)["counter_volume"],
        1,
        "{}",
        service("vpn", &vpn)
    );
    assert_eq!(service("vpn", &vpn)["project_id"], project_a.as_str());
    assert_eq!(
        service("vpn", &vpn)["resource_metadata"]["router_id"],
        router.as_str()
    );
    assert_eq!(service("vpn.connections", &connection)["counter_volume"], 1);
    assert_eq!(
        service("vpn.connections", &connection)["resource_metadata"]["peer_cidrs"],
        serde_json::json!(["10.2.0.0/24"])
    );
    assert!(service("firewall", &group)["counter_volume"].is_i64());
    assert_eq!(service("firewall", &group)["project_id"], project_b.as_str());
    assert_eq!(
        service("firewall.policy", &policy)["resource_metadata"]["firewall_rules"],
        serde_json::json!([rule])
    );
    same_samples(&c, &r);
}

/// The two meters in sources of their own intervals: Ceilometer 27 polls only the first
/// pollster of a discoverer whose listing is a generator, per interval (src/polling/octavia.rs).
const LOAD_BALANCER_POLLING: &str = "---\nsources:\n    - name: operating\n      interval: 10\n      \
    meters:\n      - loadbalancer.operating\n    - name: provisioning\n      interval: 11\n      \
    meters:\n      - loadbalancer.provisioning\n";

#[test]
fn octavia_load_balancers_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let octavia = octavia_support::Octavia::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let admin = ks.admin_token();
    let (a, b) = (ks.project("lb-a"), ks.project("lb-b"));
    let subnet = "5d1a6c3e-2b1f-4c53-9a5e-0a2d1e6b7c01";
    let id = |lb: &Json| lb["id"].as_str().expect("an id").to_owned();
    let lb = |name: &str, project: &str| {
        id(&octavia.create(
            admin,
            serde_json::json!({"name": name, "vip_subnet_id": subnet, "project_id": project}),
        ))
    };
    let (web, failed, busy) = (lb("web", &a), lb("failed", &a), lb("busy", &b));
    octavia.set_status(&web, "ACTIVE", "ONLINE");
    octavia.set_status(&failed, "ERROR", "ERROR");
    octavia.set_status(&busy, "PENDING_UPDATE", "DEGRADED");

    let agents = SideBySide::start(ks, "octavia", LOAD_BALANCER_POLLING);
    let (c, r) = agents.collect(6, Duration::from_secs(90), || octavia.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let sample = |meter: &str, id: &str| &r[&(format!("loadbalancer.{meter}"), id.to_owned())];
    for (lb, operating, provisioning, project) in [(&web, 1, 1, &a), (&failed, 5, 3, &a), (&busy, 4, 5, &b)] {
        assert_eq!(
            sample("operating", lb)["counter_volume"],
            operating,
            "{}",
            sample("operating", lb)
        );
        assert_eq!(sample("provisioning", lb)["counter_volume"], provisioning);
        assert_eq!(sample("operating", lb)["project_id"], project.as_str());
        assert!(sample("operating", lb)["user_id"].is_null());
    }
    assert_eq!(sample("operating", &web)["resource_metadata"]["name"], "web");
    assert_eq!(
        sample("operating", &web)["resource_metadata"]["provider"],
        "noop_driver"
    );
    same_samples(&c, &r);
}

const SHARE_POLLING: &str = "---\nsources:\n    - name: size\n      interval: 10\n      \
    meters:\n      - manila.share.size\n    - name: status\n      interval: 11\n      \
    meters:\n      - manila.share.status\n";

#[test]
fn manila_shares_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let manila = manila_support::Manila::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    manila.create_share_type(ks.admin_token());
    let [(a, ta), (b, tb)] = two_projects(ks, "shares");
    let share = |token: &str, name: &str, size: u32, proto: &str| {
        let made = manila.create(
            token,
            serde_json::json!({"name": name, "size": size, "share_proto": proto}),
        );
        made["id"].as_str().expect("an id").to_owned()
    };
    let data = share(&ta, "data", 5, "NFS");
    let broken = share(&ta, "broken", 1, "CIFS");
    let growing = share(&ta, "growing", 2, "NFS");
    let fresh = share(&tb, "fresh", 3, "NFS");
    let odd = share(&tb, "odd", 4, "NFS");
    manila.place(&data, "share-host@lvm#pool", "available");
    manila.place(&broken, "share-host@lvm#pool", "error");
    manila.place(&growing, "share-host@lvm#pool", "extending");
    manila.place(&odd, "share-host@lvm#pool", "soft_deleting");

    let agents = SideBySide::start(ks, "manila", SHARE_POLLING);
    let (c, r) = agents.collect(10, Duration::from_secs(90), || manila.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let sample = |meter: &str, id: &str| &r[&(format!("manila.share.{meter}"), id.to_owned())];
    for (id, size, status, project) in [
        (&data, 5, 1, &a),
        (&broken, 1, 4, &a),
        (&growing, 2, 7, &a),
        (&fresh, 3, 2, &b),
        (&odd, 4, -1, &b),
    ] {
        assert_eq!(
            sample("size", id)["counter_volume"],
            size,
            "{}",
            sample("size", id)
        );
        assert_eq!(
            sample("status", id)["counter_volume"],
            status,
            "{}",
            sample("status", id)
        );
        assert_eq!(sample("size", id)["project_id"], project.as_str());
        assert_eq!(sample("size", id)["counter_unit"], "GiB");
    }
    let metadata = &sample("size", &broken)["resource_metadata"];
    assert_eq!(metadata["name"], "broken");
    assert_eq!(metadata["protocol"], "CIFS");
    assert_eq!(metadata["status"], "error");
    same_samples(&c, &r);
}

const ZONE_POLLING: &str = "---\nsources:\n    - name: status\n      interval: 10\n      \
    meters:\n      - dns.zone.status\n    - name: recordsets\n      interval: 11\n      \
    meters:\n      - dns.zone.recordsets\n    - name: ttl\n      interval: 12\n      \
    meters:\n      - dns.zone.ttl\n    - name: serial\n      interval: 13\n      \
    meters:\n      - dns.zone.serial\n";

#[test]
fn designate_zones_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let designate = designate_support::Designate::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let [(a, ta), (b, tb)] = two_projects(ks, "zones");
    let zone = |token: &str, name: &str, ttl: u32, description: Option<&str>| {
        let made = designate.create_zone(
            token,
            serde_json::json!({"name": name, "email": "dns@example.org", "ttl": ttl,
                "description": description}),
        );
        made["id"].as_str().expect("an id").to_owned()
    };
    let web = zone(&ta, "web.example.org.", 300, Some("the web's"));
    let broken = zone(&ta, "broken.example.org.", 3600, None);
    let fresh = zone(&tb, "fresh.example.net.", 7200, None);
    let gone = zone(&tb, "gone.example.net.", 600, None);
    // Three more recordsets beside the zone's SOA and NS: three pages of two.
    for (name, address) in [("www", "192.0.2.1"), ("api", "192.0.2.2"), ("mail", "192.0.2.3")] {
        designate.create_a_record(&ta, &web, &format!("{name}.web.example.org."), address);
    }
    designate.set_status(&web, "ACTIVE", "NONE");
    designate.set_status(&broken, "ERROR", "UPDATE");
    designate.set_status(&gone, "DELETED", "DELETE");

    let agents = SideBySide::start(ks, "designate", ZONE_POLLING);
    let (c, r) = agents.collect(16, Duration::from_secs(90), || designate.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let sample = |meter: &str, id: &str| &r[&(format!("dns.zone.{meter}"), id.to_owned())];
    for (id, status, recordsets, ttl, project) in [
        (&web, 1, 5, 300, &a),
        (&broken, 3, 2, 3600, &a),
        (&fresh, 2, 2, 7200, &b),
        (&gone, 4, 2, 600, &b),
    ] {
        let volume = |meter: &str| sample(meter, id)["counter_volume"].clone();
        assert_eq!(volume("status"), status, "{}", sample("status", id));
        assert_eq!(volume("recordsets"), recordsets, "{}", sample("recordsets", id));
        assert_eq!(volume("ttl"), ttl);
        assert!(
            volume("serial").as_u64().is_some_and(|s| s > 0),
            "{}",
            sample("serial", id)
        );
        assert_eq!(sample("status", id)["project_id"], project.as_str());
        assert!(sample("status", id)["user_id"].is_null());
    }
    let metadata = &sample("ttl", &web)["resource_metadata"];
    assert_eq!(metadata["name"], "web.example.org.");
    assert_eq!(metadata["description"], "the web's");
    assert_eq!(metadata["status"], "ACTIVE");
    assert_eq!(metadata["type"], "PRIMARY");
    same_samples(&c, &r);
}

const ALARM_POLLING: &str =
    "---\nsources:\n    - name: alarms\n      interval: 10\n      meters:\n      - alarm.evaluation_result\n";

#[test]
fn aodh_evaluation_results_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let aodh = aodh_support::Aodh::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let [(a, ta), (b, tb)] = two_projects(ks, "alarms");
    let first = aodh.create_alarm(&ta, "first");
    let second = aodh.create_alarm(&tb, "second");
    for (alarm, project, state, value) in [
        (&first, &a, "ok", 3),
        (&first, &a, "alarm", 1),
        (&first, &a, "insufficient data", 2),
        (&second, &b, "alarm", 4),
    ] {
        aodh.count(alarm, project, state, value);
    }

    // Aodh reports each alarm's three states, a state it never counted as 0.
    let agents = SideBySide::start(ks, "aodh", ALARM_POLLING);
    let (c, r) = agents.collect(6, Duration::from_secs(90), || aodh.log_text());

    // What was counted is what was polled (so that agreeing on nothing cannot pass).
    let sample =
        |alarm: &str, state: &str| &r[&("alarm.evaluation_result".to_owned(), format!("{alarm}#{state}"))];
    assert_eq!(sample(&first, "ok")["counter_volume"], 3);
    assert_eq!(sample(&first, "insufficient data")["counter_volume"], 2);
    assert_eq!(sample(&second, "alarm")["counter_volume"], 4);
    assert_eq!(sample(&second, "ok")["counter_volume"], 0);
    assert_eq!(sample(&second, "alarm")["project_id"], b.as_str());
    assert_eq!(sample(&first, "alarm")["counter_unit"], "evaluation_result_count");
    assert!(sample(&first, "alarm")["user_id"].is_null());
    same_samples(&c, &r);
}

const SWIFT_POLLING: &str = "---\nsources:\n    - name: swift\n      interval: 10\n      meters:\n      \
    - storage.objects\n      - storage.objects.size\n      - storage.objects.containers\n      \
    - storage.containers.objects\n      - storage.containers.objects.size\n";

#[test]
fn swift_accounts_and_containers_are_polled_as_ceilometer_polls_them() {
    let ks = keystone_support::shared();
    let swift = swift_support::Swift::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    // Swift's keystoneauth lets only its reseller admin read every project's account.
    ks.role("ResellerAdmin");
    ks.user(
        "ceilometer",
        CEILOMETER_PASSWORD,
        &ks.project("service"),
        "ResellerAdmin",
    );
    let (a, b) = (ks.project("swift-a"), ks.project("swift-b"));
    // Listed, and polled, unless `ignore_disabled_projects` says otherwise (below).
    let disabled = ks.project("swift-disabled");
    let (status, _) = ks.admin(
        "PATCH",
        &format!("/projects/{disabled}"),
        Some(&serde_json::json!({"project": {"enabled": false}})),
    );
    assert_eq!(status, 200);
    ks.user("swift-user-a", "swift-pw-a", &a, "member");
    ks.user("swift-user-b", "swift-pw-b", &b, "member");
    let token =
        |user: &str, password: &str, project: &str| ks.issue_token(user, password, project).expect("a token");
    let (ta, tb) = (
        token("swift-user-a", "swift-pw-a", "swift-a"),
        token("swift-user-b", "swift-pw-b", "swift-b"),
    );
    swift.put(&ta, &a, "photos", Some(("one.jpg", &[1; 100])));
    swift.put(&ta, &a, "photos", Some(("two.jpg", &[2; 50])));
    swift.put(&ta, &a, "empty", None);
    swift.put(&tb, &b, "logs", Some(("x", b"hello")));
    swift.update_accounts();
    // Every project Keystone has (the other tests' too) gets the account's three samples; the
    // three containers two each.
    let (_, projects) = ks.admin("GET", "/projects", None);
    let projects = projects["projects"].as_array().map_or(0, Vec::len);
    let agents = SideBySide::start(ks, "swift", SWIFT_POLLING);
    let (c, r) = agents.collect(3 * projects + 6, Duration::from_secs(90), || swift.log_text());

    // What was made is what was polled (so that agreeing on nothing cannot pass).
    let volume =
        |meter: &str, resource: &str| r[&(meter.to_owned(), resource.to_owned())]["counter_volume"].clone();
    assert_eq!(volume("storage.objects", &a), 2);
    assert_eq!(volume("storage.objects.size", &a), 150);
    assert_eq!(volume("storage.objects.containers", &a), 2);
    assert_eq!(volume("storage.objects", &b), 1);
    assert_eq!(volume("storage.objects.size", &b), 5);
    assert_eq!(volume("storage.containers.objects", &format!("{a}/photos")), 2);
    assert_eq!(
        volume("storage.containers.objects.size", &format!("{a}/photos")),
        150
    );
    assert_eq!(volume("storage.containers.objects", &format!("{a}/empty")), 0);
    assert_eq!(volume("storage.containers.objects.size", &format!("{b}/logs")), 5);
    let photos = &r[&("storage.containers.objects".to_owned(), format!("{a}/photos"))];
    assert_eq!(photos["project_id"], a.as_str());
    assert!(photos["user_id"].is_null());
    assert_eq!(photos["counter_unit"], "object");
    assert_eq!(volume("storage.objects", &disabled), 0);
    same_samples(&c, &r);

    // `[polling] ignore_disabled_projects`: the tenant discoverer lists enabled projects only.
    let rt = runtime();
    let broker = Broker::new("swift-enabled-only");
    declare_polled(&rt, &broker);
    let dir = config_dir(
        &polling_with_credentials(ks, keystone_support::REGION)
            .replace("polling:\n", "polling:\n  ignore_disabled_projects: true\n"),
    );
    std::fs::write(
        dir.path().join("polling.yaml"),
        SWIFT_POLLING.replace("interval: 10", "interval: 2"),
    )
    .unwrap();
    let agent = Agent::start(dir.path(), &broker.url());
    // Until the second poll has come: the first is then whole.
    let mut polls_of_b = 0;
    let received = rt.block_on(collect(&broker.url(), POLLED, Duration::from_secs(60), |r| {
        polls_of_b += polled_samples(&r.body)
            .iter()
            .filter(|s| s["counter_name"] == "storage.objects" && s["resource_id"] == b.as_str())
            .count();
        polls_of_b >= 2
    }));
    let polled = by_meter_and_resource(&received);
    assert!(
        polled.contains_key(&("storage.objects".to_owned(), b.clone())),
        "{}",
        agent.log_text()
    );
    assert!(!polled.contains_key(&("storage.objects".to_owned(), disabled.clone())));
}

/// A libvirt test-driver node (`test:///<file>`: every connection reads the file, so the agent
/// sees these domains without a libvirtd) of guests with nova metadata: (uuid, flavor name,
/// the flavor id nova wrote, if any).
fn nova_guests_node(guests: &[(&str, &str, Option<&str>)]) -> String {
    let domains: String = guests
        .iter()
        .enumerate()
        .map(|(i, (uuid, flavor, id))| {
            let id = id.map(|id| format!(" id=\"{id}\"")).unwrap_or_default();
            format!(
                r#"<domain type='test'><name>instance-{i:08x}</name><uuid>{uuid}</uuid>
  <metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:name>vm{i}</nova:name>
    <nova:flavor name="{flavor}"{id}><nova:memory>128</nova:memory><nova:disk>1</nova:disk>
      <nova:swap>0</nova:swap><nova:ephemeral>0</nova:ephemeral><nova:vcpus>1</nova:vcpus></nova:flavor>
    <nova:owner><nova:user uuid="u{i}">u</nova:user><nova:project uuid="p{i}">p</nova:project></nova:owner>
  </nova:instance></metadata>
  <memory>131072</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>
"#
            )
        })
        .collect();
    format!("<node>\n{domains}</node>\n")
}

#[test]
fn guests_whose_nova_metadata_has_no_flavor_id_get_the_id_nova_gives_for_the_name() {
    let ks = keystone_support::shared();
    let nova = nova_support::Nova::start(ks);
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let tag = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let (known, unknown) = (format!("m1.known-{tag}"), format!("m1.unknown-{tag}"));
    let known_id = format!("flavor-{tag}");
    nova.create_flavor(ks.admin_token(), &known, &known_id);
    let guests = [
        (uuid::Uuid::new_v4().to_string(), known.as_str(), None),
        (uuid::Uuid::new_v4().to_string(), unknown.as_str(), None),
        (
            uuid::Uuid::new_v4().to_string(),
            known.as_str(),
            Some("written-by-nova"),
        ),
    ];
    let node: Vec<_> = guests.iter().map(|(u, f, i)| (u.as_str(), *f, *i)).collect();
    let work = tempfile::tempdir().unwrap();
    let node_file = work.path().join("node.xml");
    std::fs::write(&node_file, nova_guests_node(&node)).unwrap();
    let libvirt_uri = format!("test://{}", node_file.display());
    let polling_yaml = "sources:\n  - name: compute\n    interval: 1\n    meters: [disk.root.size]\n";

    // Ceilometer's compute agent and ceilo's polling agent on the same guests and Nova.
    let rt = runtime();
    let (theirs, ours) = polled_vhosts(&rt, "nova-flavors");
    let _ceilometer = start_ceilometer_polling(
        ks,
        &theirs,
        work.path(),
        polling_yaml,
        "compute",
        &format!("[DEFAULT]\nlibvirt_uri = {libvirt_uri}\n"),
    );
    let dir = config_dir(
        &polling_with_credentials(ks, keystone_support::REGION).replace("test:///default", &libvirt_uri),
    );
    std::fs::write(dir.path().join("polling.yaml"), polling_yaml).unwrap();
    let agent = Agent::start(dir.path(), &ours.url());
    let (theirs_url, ours_url) = (theirs.url(), ours.url());
    let (c, r) = rt.block_on(async {
        tokio::join!(
            collect(&theirs_url, POLLED, Duration::from_secs(90), distinct_samples(3)),
            collect(&ours_url, POLLED, Duration::from_secs(60), distinct_samples(3)),
        )
    });
    let (c, r) = (by_meter_and_resource(&c), by_meter_and_resource(&r));
    let flavor = |samples: &Samples, uuid: &str| {
        let sample = samples
            .get(&("disk.root.size".to_owned(), uuid.to_owned()))
            .unwrap_or_else(|| {
                panic!(
                    "no sample of {uuid}: {samples:#?}\n{}\n{}\n{}",
                    agent.log_text(),
                    std::fs::read_to_string(work.path().join("ceilometer-polling.log")).unwrap_or_default(),
                    nova.log_text()
                )
            });
        sample["resource_metadata"]["flavor"].clone()
    };
    assert_eq!(
        flavor(&r, &guests[0].0)["id"],
        known_id.as_str(),
        "{}",
        agent.log_text()
    );
    assert_eq!(
        flavor(&r, &guests[1].0)["id"],
        unknown.as_str(),
        "a name Nova does not know stays"
    );
    assert_eq!(
        flavor(&r, &guests[2].0)["id"],
        "written-by-nova",
        "the metadata's own id wins"
    );
    for (uuid, _, _) in &guests {
        assert_eq!(
            flavor(&c, uuid),
            flavor(&r, uuid),
            "guest {uuid}: Ceilometer's (left), ceilo's (right)"
        );
    }
    let (status, log) = agent.terminate_with_log();
    assert!(status.success(), "{log}");
}

/// ceilometer.conf's `[service_credentials]` (and ceilo.yaml's `service_credentials:`) of the
/// `ceilometer` service user.
fn ceilometer_credentials(ks: &keystone_support::Keystone, yaml: bool) -> String {
    let pairs = [
        ("auth_url", ks.url.as_str()),
        ("username", "ceilometer"),
        ("password", CEILOMETER_PASSWORD),
        ("user_domain_name", "Default"),
        ("project_name", "service"),
        ("project_domain_name", "Default"),
    ];
    if yaml {
        let lines: String = pairs.iter().map(|(k, v)| format!("  {k}: {v}\n")).collect();
        format!("service_credentials:\n{lines}")
    } else {
        let lines: String = pairs.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        format!("[service_credentials]\nauth_type = password\n{lines}")
    }
}

/// pipeline.yaml and event_pipeline.yaml publishing everything to the Zaqar queues
/// `<prefix>-samples` and `<prefix>-events`.
fn zaqar_pipelines(dir: &std::path::Path, prefix: &str) {
    for (file, kind, queue) in [
        ("pipeline.yaml", "meters", "samples"),
        ("event_pipeline.yaml", "events", "events"),
    ] {
        std::fs::write(
            dir.join(file),
            format!(
                "sources:\n  - name: s\n    {kind}: ['*']\n    sinks: [z]\nsinks:\n  - name: z\n    \
                 publishers: ['zaqar://?queue={prefix}-{queue}&ttl=1200']\n"
            ),
        )
        .unwrap();
    }
}

/// A sample as Zaqar holds it, without its id (a uuid each agent makes anew).
fn without_id(message: &Json) -> Json {
    let mut body = message["body"].clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("id");
    }
    serde_json::json!({"body": body, "ttl": message["ttl"]})
}

#[test]
fn zaqar_queues_get_the_samples_and_events_ceilometer_posts_there() {
    let ks = keystone_support::shared();
    let zaqar = zaqar_support::Zaqar::start(ks);
    // A sixth of the corpus: Ceilometer posts each publish on its own, every post validated
    // with Keystone by Zaqar.
    let cases: Vec<Json> = gnocchi_support::ceilometer::corpus_cases()
        .into_iter()
        .step_by(6)
        .collect();
    let count = |field: &str| -> usize {
        cases
            .iter()
            .map(|c| c[field].as_array().map_or(0, Vec::len))
            .sum()
    };
    let (samples, events) = (count("samples"), count("events"));
    assert!(samples > 15 && events > 10, "{samples} samples, {events} events");
    let bodies = gnocchi_support::ceilometer::bodies_of(&cases);
    let tag = std::process::id();
    let (theirs, ours) = (Broker::new("zaqar-ceilometer"), Broker::new("zaqar-ceilo"));

    let venv = common::ceilometer::venv();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    zaqar_pipelines(w, &format!("ceilometer-{tag}"));
    std::fs::write(
        w.join("ceilometer.conf"),
        format!(
            "[DEFAULT]\nuse_stderr = true\ntransport_url = {rabbit}\npipeline_cfg_file = {d}/pipeline.yaml\n\
             event_pipeline_cfg_file = {d}/event_pipeline.yaml\n\
             [notification]\nworkers = 1\nbatch_size = 100\nbatch_timeout = 1\n{credentials}",
            rabbit = theirs.url().replacen("amqp://", "rabbit://", 1),
            d = w.display(),
            credentials = ceilometer_credentials(ks, false),
        ),
    )
    .unwrap();
    let mut command = Command::new(venv.join("bin/ceilometer-agent-notification"));
    command.arg("--config-file").arg(w.join("ceilometer.conf"));
    let ceilometer = Service::spawn(command, w.join("ceilometer.log"));
    let dir = config_dir(&format!(
        "{}{}",
        settings(100, 100),
        ceilometer_credentials(ks, true)
    ));
    zaqar_pipelines(dir.path(), &format!("ceilo-{tag}"));
    let agent = Agent::start(dir.path(), &ours.url());

    // Neither agent asks Keystone anything before its first post: both start outside the lock.
    for broker in [&theirs, &ours] {
        wait_until(
            "the agent consumes notifications.info",
            Duration::from_secs(60),
            || broker.consumed_queues().contains("notifications.info"),
        );
    }
    let _counting = ks.exclusive();
    ceilometer_user(ks);
    let rt = runtime();
    for broker in [&theirs, &ours] {
        rt.block_on(publish(&broker.url(), &bodies));
    }
    let token = ks
        .issue_token("ceilometer", CEILOMETER_PASSWORD, "service")
        .expect("the ceilometer user's token");
    let held = |queue: &str| -> u64 {
        let url = format!("{}/v2/queues/{queue}/stats", zaqar.url);
        let client = "Client-ID: 7d0cd5e4-3a7c-4c5e-9ff1-0a1b2c3d4e5f";
        let (_, stats) = gnocchi_support::curl_json("GET", &url, Some(&token), &[client], None);
        stats["messages"]["total"].as_u64().unwrap_or(0)
    };
    let expected = [("samples", samples), ("events", events)];
    wait_until("every sample and event in Zaqar", Duration::from_secs(90), || {
        // Each look is a request Zaqar has Keystone validate: one every two seconds.
        std::thread::sleep(Duration::from_secs(2));
        expected.iter().all(|(kind, n)| {
            ["ceilometer", "ceilo"]
                .iter()
                .all(|agent| held(&format!("{agent}-{tag}-{kind}")) as usize >= *n)
        })
    });
    eprintln!("zaqar: {samples} samples and {events} events from each agent");
    std::thread::sleep(Duration::from_secs(2));
    let log = agent.log_text();
    let ceilometer_log = ceilometer.log_text();
    for (kind, n) in expected {
        let sorted = |agent: &str| {
            let mut messages: Vec<Json> = zaqar
                .drain(&token, &format!("{agent}-{tag}-{kind}"))
                .iter()
                .map(without_id)
                .collect();
            messages.sort_by_key(|m| m.to_string());
            messages
        };
        let (c, r) = (sorted("ceilometer"), sorted("ceilo"));
        assert_eq!(c.len(), n, "Ceilometer's {kind}:\n{ceilometer_log}");
        assert_eq!(r.len(), n, "ceilo's {kind}:\n{log}");
        for (c, r) in c.iter().zip(&r) {
            assert_eq!(c, r, "{kind}: Ceilometer's, then ceilo's");
        }
    }
}
