//! A rolling migration of a central polling pool, on the real Redis: one Ceilometer 27
//! `ceilometer-polling --polling-namespaces central` (from the venv `scripts/libvirt-lab.sh ceilometer`
//! installs) and one `ceilo run` in the same partitioning group, both polling the dynamic
//! pollster `coord.test` over a local API of N endpoints. Ceilometer finds the endpoints in
//! the catalogue of a minimal Keystone v3 served by the same API; ceilo in its settings. The
//! API logs which agent asked for which resource: their cycles must be disjoint and complete,
//! which holds only if ceilo joins the group Ceilometer joins (tooz's Redis keys), counts the
//! same members and hashes members and resources onto tooz's ring as tooz does.

mod coordination_support;
mod runtime_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use coordination_support::ceilometer::Service;
use coordination_support::*;
use runtime_support::{config_dir, Agent, Broker, TELEMETRY};

const N: usize = 24;
const INTERVAL: u64 = 2;
const MEMBERSHIP_TIMEOUT: u64 = 4;
const GAP: Duration = Duration::from_millis(800);

/// `ceilometer-polling --polling-namespaces central` in `group`, polling the API's dynamic
/// pollster, its files in `dir`.
fn start_ceilometer(api: &Api, group: &Group, broker: &Broker, dir: &std::path::Path) -> Service {
    let venv = ceilometer_venv();
    let defs = dir.join("pollsters.d");
    std::fs::create_dir(&defs).unwrap();
    std::fs::write(defs.join("coord.yaml"), pollster_definition("ceilometer")).unwrap();
    std::fs::write(dir.join("polling.yaml"), polling_yaml(INTERVAL)).unwrap();
    // Ceilometer 27 registers the polling options in [DEFAULT] and [polling] alike, and
    // reads the dynamic pollster directories from [DEFAULT] only, as ceilo does.
    let conf = format!(
        "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n\
         host = ceilometer-central\nuse_stderr = true\n\
         pollsters_definitions_dirs = {defs}\n\
         [coordination]\nbackend_url = {REDIS}?timeout={MEMBERSHIP_TIMEOUT}\n\
         [polling]\ncfg_file = {polling}\n\
         partitioning_group_prefix = {prefix}\n\
         [service_credentials]\nauth_type = v3password\nauth_url = {base}/v3\n\
         username = ceilometer\npassword = secret\nproject_name = service\n\
         user_domain_id = default\nproject_domain_id = default\ninterface = public\n",
        vhost = broker.vhost,
        polling = dir.join("polling.yaml").display(),
        defs = defs.display(),
        prefix = group.prefix,
        base = api.base,
    );
    std::fs::write(dir.join("ceilometer.conf"), conf).unwrap();
    let mut command = Command::new(venv.join("bin/ceilometer-polling"));
    command
        .args(["--polling-namespaces", "central", "--config-file"])
        .arg(dir.join("ceilometer.conf"))
        .env("PYTHONWARNINGS", "ignore");
    Service::spawn(command, dir.join("ceilometer-polling.log"))
}

fn start_ceilo(api: &Api, group: &Group, broker: &Broker) -> (tempfile::TempDir, Agent) {
    let dir = config_dir(TELEMETRY);
    write_ceilo_config(dir.path(), "ceilo", api, group, INTERVAL, MEMBERSHIP_TIMEOUT);
    let agent = Agent::start(dir.path(), &broker.url());
    (dir, agent)
}

fn cycles_of(api: &Api, agent: &str) -> usize {
    api.cycles(GAP).get(agent).map_or(0, Vec::len)
}

#[test]
fn ceilometer_polling_and_ceilo_split_one_groups_resources() {
    let (api, group, broker) = (
        Api::start(N),
        Group::new("ceilometer"),
        Broker::new("coord-ceilometer"),
    );
    let work = tempfile::tempdir().unwrap();
    let ceilometer = start_ceilometer(&api, &group, &broker, work.path());
    // Ceilometer alone first: it polls every resource through its Keystone catalogue.
    wait_for_or(
        "ceilometer-polling polling",
        Duration::from_secs(120),
        &ceilometer,
        || cycles_of(&api, "ceilometer") >= 3,
    );
    let cycles = api.cycles(GAP);
    let theirs = &cycles["ceilometer"];
    let alone = &theirs[theirs.len() - 2].1;
    assert_eq!(alone.len(), N, "Ceilometer alone polls all: {theirs:?}");

    let (_dir, ceilo) = start_ceilo(&api, &group, &broker);
    wait_for_or("ceilo polling", Duration::from_secs(60), &ceilometer, || {
        cycles_of(&api, "ceilo") >= 3
    });
    // From here both are in both rings (Ceilometer reads the members at each cycle).
    let mark = Instant::now();
    std::thread::sleep(Duration::from_secs(3 * INTERVAL + 1));
    let last = api.last_cycles(GAP, mark);
    let (Some(theirs), Some(ours)) = (last.get("ceilometer"), last.get("ceilo")) else {
        panic!(
            "no complete cycles: {last:?}\n{}\n---\n{}",
            ceilometer.log_text(),
            ceilo.log_text()
        );
    };
    eprintln!("ceilometer-polling polled {theirs:?}\nceilo polled {ours:?}");
    assert!(!theirs.is_empty() && !ours.is_empty(), "{last:?}");
    assert!(
        theirs.is_disjoint(ours),
        "both polled {:?}",
        theirs.intersection(ours).collect::<Vec<_>>()
    );
    let union: BTreeSet<usize> = theirs.union(ours).copied().collect();
    assert_eq!(union, (0..N).collect::<BTreeSet<_>>(), "missed by both");
    drop(ceilometer);
    drop(ceilo);
}

fn wait_for_or(what: &str, timeout: Duration, ceilometer: &Service, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            ceilometer.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
