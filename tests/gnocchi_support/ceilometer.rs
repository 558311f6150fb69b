//! The real Ceilometer 27 notification agent (the venv of `common::ceilometer`) with
//! `gnocchi://` into a test [`Gnocchi`], and the corpus notifications both agents are fed:
//! shared by the acceptance comparison (tests/publish_gnocchi_vs_ceilometer.rs) and the
//! throughput benchmark (tests/publish_gnocchi_bench.rs). Needs the test file to declare
//! `mod common;` (the corpus, the venv).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde_json::Value as Json;

use super::Gnocchi;

/// The same publisher URL for both agents: Ceilometer's default with the Keystone-backed
/// project filter off (no Keystone here).
pub const PUBLISHER: &str = "gnocchi://?enable_filter_project=false";

/// pipeline.yaml: every meter to [`PUBLISHER`].
pub fn pipeline() -> String {
    format!(
        "sources:\n  - name: meter_source\n    meters: ['*']\n    sinks: [meter_sink]\n\
         sinks:\n  - name: meter_sink\n    publishers: ['{PUBLISHER}']\n"
    )
}

/// The real Ceilometer notification agent, killed on drop.
pub struct Ceilometer {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ceilometer {
    /// One worker, batches of 100 notifications (1 s timeout) — a tuned Ceilometer: its
    /// default is one notification per batch.
    pub fn start(venv: &Path, amqp_url: &str, gnocchi: &Gnocchi) -> Ceilometer {
        let dir = tempfile::tempdir().expect("tempdir");
        let rabbit = amqp_url.replacen("amqp://", "rabbit://", 1);
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline()).unwrap();
        std::fs::write(dir.path().join("event_pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
        let conf = dir.path().join("ceilometer.conf");
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nuse_stderr = true\ntransport_url = {rabbit}\npipeline_cfg_file = {p}\nevent_pipeline_cfg_file = {e}\n\
                 [notification]\nworkers = 1\nbatch_size = 100\nbatch_timeout = 1\n\
                 [service_credentials]\nauth_type = gnocchi-basic\nuser = admin\nendpoint = {g}\n",
                p = dir.path().join("pipeline.yaml").display(),
                e = dir.path().join("event_pipeline.yaml").display(),
                g = gnocchi.url,
            ),
        )
        .unwrap();
        let log = dir.path().join("ceilometer.log");
        let child = Command::new(venv.join("bin/ceilometer-agent-notification"))
            .arg("--config-file")
            .arg(&conf)
            .stdout(std::fs::File::create(dir.path().join("ceilometer.out")).expect("log"))
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start ceilometer-agent-notification");
        Ceilometer {
            child,
            log,
            _dir: dir,
        }
    }

    /// The cotyledon master's pid (the work happens in a worker it forks).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// stderr and stdout (oslo.log writes to either, depending on its options).
    pub fn log_text(&self) -> String {
        let out = self.log.with_file_name("ceilometer.out");
        std::fs::read_to_string(&self.log).unwrap_or_default()
            + &std::fs::read_to_string(out).unwrap_or_default()
    }
}

impl Drop for Ceilometer {
    fn drop(&mut self) {
        crate::common::ceilometer::stop(&mut self.child);
    }
}

/// The corpus cases a default Ceilometer consumes on `notifications.info`, as (exchange,
/// routing key, body), without the one Ceilometer requeues forever (its endpoint raises: it
/// would never drain, and it holds back the batches it lands in; ceilo dead-letters it).
///
/// One queue only: a resource's attributes are the last sample's, and two queues are consumed
/// in an order neither agent fixes (Ceilometer batches across queues, ceilo per queue), so
/// with `notifications.sample` too the "last" sample of an instance is a matter of timing in
/// both — the polling samples say `host: compute-0` where nova says `compute-0.example.org`.
pub fn corpus_bodies() -> Vec<(String, String, Vec<u8>)> {
    bodies_of(&corpus_cases())
}

/// The corpus cases of [`corpus_bodies`], with what Ceilometer made of each.
pub fn corpus_cases() -> Vec<Json> {
    crate::common::corpus::cases()
        .into_iter()
        .filter(|c| {
            c["amqp"]["consumed_by_default"] == Json::Bool(true)
                && c["requeue"] != Json::Bool(true)
                && c["amqp"]["routing_key"] == "notifications.info"
        })
        .collect()
}

/// Corpus cases as (exchange, routing key, body) to publish.
pub fn bodies_of(cases: &[Json]) -> Vec<(String, String, Vec<u8>)> {
    let s = |v: &Json| v.as_str().unwrap_or_default().to_owned();
    cases
        .iter()
        .map(|c| {
            (
                s(&c["amqp"]["exchange"]),
                s(&c["amqp"]["routing_key"]),
                c["wire"].to_string().into_bytes(),
            )
        })
        .collect()
}
