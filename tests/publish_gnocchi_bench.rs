//! Throughput of `gnocchi://` into a real Gnocchi, ceilo against Ceilometer 27 (issue 18; ignored
//! by default; run it in release):
//!
//! ```text
//! CEILO_BENCH_NOTIFICATIONS=3000 CEILO_BENCH_ROUNDS=3 \
//!   cargo test --release --test publish_gnocchi_bench -- --ignored --nocapture
//! ```
//!
//! Each run gets a fresh Gnocchi 4.7 (`gnocchi_support`: its own PostgreSQL database, `file`
//! storage, the werkzeug API) and a fresh vhost. `CEILO_BENCH_NOTIFICATIONS` notifications —
//! the corpus' `notifications.info` cases (nova, cinder, neutron, glance, ...; what the
//! acceptance comparison feeds) over and over, so after the first pass every resource exists
//! and the steady state is measures on known resources — are queued before the agent starts.
//! Then ceilo (`gnocchi:` endpoint, everything else default) or the real Ceilometer 27
//! notification agent (one worker, batches of 100) drains them through `gnocchi://`.
//!
//! Measured, from the first delivery (the queue's ready count first drops) to the last measure
//! Gnocchi accepted (no `gnocchi-metricd` runs, so every accepted measure stays in Gnocchi's
//! incoming storage, where `Gnocchi::incoming_measures` counts it; the run ends once the queue
//! is empty — see [`done`] — and no measure arrived for `QUIET`): measures accepted per
//! second; CPU seconds of the agent (its whole process tree), of Gnocchi's API process and of
//! the PostgreSQL backends serving Gnocchi's database; the agent's peak RSS; the requests
//! Gnocchi served and the agent's warnings. Runs alternate between the agents
//! (`CEILO_BENCH_ROUNDS` rounds, each round's order flipped), and the summary gives medians and
//! ranges: on a shared machine a single pair of runs says little.

mod common;
mod gnocchi_support;
mod runtime_support;

use std::time::{Duration, Instant};

use common::ceilometer::process_tree;
use gnocchi_support::ceilometer::{corpus_bodies, pipeline, Ceilometer};
use gnocchi_support::procs::{cpu_seconds, peak_rss};
use gnocchi_support::Gnocchi;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use runtime_support::*;

/// No new measure for this long, with the queue empty: the drain is over. Above Ceilometer's
/// batch timeout (1 s) and any single Gnocchi request seen here.
const QUIET: Duration = Duration::from_secs(8);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Which {
    Ceilo,
    Ceilometer,
}

/// One drain.
struct Run {
    which: Which,
    measures: u64,
    seconds: f64,
    agent_cpu: f64,
    api_cpu: f64,
    database_cpu: f64,
    peak_rss_mb: f64,
    /// Requests Gnocchi's API served during the run, as "METHOD path status" → count.
    requests: std::collections::BTreeMap<String, usize>,
    /// The agent's warnings and errors, each distinct text once with its count.
    complaints: std::collections::BTreeMap<String, usize>,
    /// Dead-letter messages ceilo published (each a list of refused samples).
    dead_lettered: u32,
}

impl Run {
    fn rate(&self) -> f64 {
        self.measures as f64 / self.seconds
    }
}

/// What keeps the agent under test running (and stops it on drop).
enum Running {
    Ceilo(Agent, tempfile::TempDir),
    Ceilometer(Ceilometer),
}

impl Running {
    fn pid(&self) -> u32 {
        match self {
            Running::Ceilo(a, _) => a.pid(),
            Running::Ceilometer(c) => c.pid(),
        }
    }

    fn log_text(&self) -> String {
        match self {
            Running::Ceilo(a, _) => a.log_text(),
            Running::Ceilometer(c) => c.log_text(),
        }
    }
}

fn start(which: Which, url: &str, gnocchi: &Gnocchi) -> Running {
    match which {
        Which::Ceilo => {
            let dir = config_dir(&format!("{TELEMETRY}gnocchi:\n  endpoint: {}\n", gnocchi.url));
            std::fs::write(dir.path().join("pipeline.yaml"), pipeline()).unwrap();
            std::fs::write(dir.path().join("event_pipeline.yaml"), "sources: []\nsinks: []\n").unwrap();
            Running::Ceilo(Agent::start(dir.path(), url), dir)
        }
        Which::Ceilometer => {
            Running::Ceilometer(Ceilometer::start(&common::ceilometer::venv(), url, gnocchi))
        }
    }
}

/// Messages ready in `notifications.info` (a passive declare on a channel kept open).
async fn ready(ch: &lapin::Channel) -> u32 {
    let options = QueueDeclareOptions {
        passive: true,
        ..Default::default()
    };
    ch.queue_declare("notifications.info".into(), options, FieldTable::default())
        .await
        .expect("passive declare of notifications.info")
        .message_count()
}

/// The drain is over, given `notifications.info`'s (ready, unacked) from the management API
/// (figures a few seconds old, which only makes this later). ceilo acks a delivery once
/// Gnocchi accepted its samples: nothing unacked is the end. Ceilometer keeps a few
/// deliveries unacked for good (16 of 4000 here, its measures stored all the same): for it,
/// nothing ready (with `QUIET` seconds without a new measure) is the end.
fn done(which: Which, (ready, unacked): (u64, u64)) -> bool {
    match which {
        Which::Ceilo => ready == 0 && unacked == 0,
        Which::Ceilometer => ready == 0,
    }
}

fn cpu_of(pids: &[u32]) -> f64 {
    pids.iter().map(|p| cpu_seconds(*p)).sum()
}

fn drain(which: Which, bodies: &[(String, String, Vec<u8>)]) -> Run {
    let tag = match which {
        Which::Ceilo => "bench-ceilo",
        Which::Ceilometer => "bench-ceilometer",
    };
    let gnocchi = Gnocchi::start(tag);
    let broker = Broker::new(tag);
    let url = broker.url();
    let rt = runtime();
    rt.block_on(publish(&url, bodies));
    if which == Which::Ceilo {
        // Where ceilo puts what Gnocchi refuses, as in the acceptance comparison.
        rt.block_on(declare(&url, "ceilo.dead-letter", "ceilo.dead-letter", "#", true));
    }
    let ch = rt.block_on(async {
        let conn = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        (conn, ch)
    });
    let total = bodies.len() as u32;
    assert_eq!(rt.block_on(ready(&ch.1)), total, "preloaded queue");
    let agent = start(which, &url, &gnocchi);
    let deadline = Instant::now() + Duration::from_secs(180);
    while rt.block_on(ready(&ch.1)) == total {
        assert!(
            Instant::now() < deadline,
            "{which:?} consumed nothing in 180 s:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let t0 = Instant::now();
    let agent_pids = process_tree(agent.pid());
    let api_pid = gnocchi.api_pid().expect("Gnocchi API running");
    let backends0: Vec<(u32, f64)> = gnocchi
        .database_backends()
        .into_iter()
        .map(|p| (p, cpu_seconds(p)))
        .collect();
    let (agent0, api0) = (cpu_of(&agent_pids), cpu_seconds(api_pid));
    let (mut measures, mut last) = (0, (t0, agent0, api0));
    let deadline = t0 + Duration::from_secs(400);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now_measures = gnocchi.incoming_measures();
        let now = Instant::now();
        if now_measures != measures {
            measures = now_measures;
            last = (now, cpu_of(&agent_pids), cpu_seconds(api_pid));
        } else if now - last.0 > QUIET && measures > 0 && done(which, broker.counts("notifications.info")) {
            break;
        }
        assert!(
            now < deadline,
            "{which:?} did not finish in 400 s ({measures} measures):\n{}",
            agent.log_text()
        );
    }
    // Backends opened during the drain count from zero.
    let database_cpu = gnocchi
        .database_backends()
        .into_iter()
        .map(|p| {
            let before = backends0.iter().find(|(b, _)| *b == p).map_or(0.0, |(_, c)| *c);
            cpu_seconds(p) - before
        })
        .sum();
    let peak: u64 = agent_pids.iter().map(|p| peak_rss(*p)).sum();
    let run = Run {
        which,
        measures,
        seconds: (last.0 - t0).as_secs_f64(),
        agent_cpu: last.1 - agent0,
        api_cpu: last.2 - api0,
        database_cpu,
        peak_rss_mb: peak as f64 / (1 << 20) as f64,
        requests: gnocchi.requests(),
        complaints: complaints(&agent.log_text()),
        dead_lettered: if which == Which::Ceilo {
            rt.block_on(ready_count(&url, "ceilo.dead-letter"))
        } else {
            0
        },
    };
    if let Running::Ceilo(a, dir) = agent {
        assert!(a.terminate().success(), "ceilo did not stop cleanly");
        drop(dir);
    }
    rt.block_on(async { ch.0.close(200, "bye".into()).await.ok() });
    run
}

/// Warning and error lines of an agent's log, from the level on (timestamps and pids left
/// out, so repeats collapse), cut at 160 characters.
fn complaints(log: &str) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for line in log.lines() {
        let Some(at) = ["WARN", "ERROR"].iter().filter_map(|l| line.find(l)).min() else {
            continue;
        };
        let text: String = line[at..].chars().take(160).collect();
        *counts.entry(text).or_insert(0) += 1;
    }
    counts
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn summary(label: &str, v: Vec<f64>) -> String {
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), x| (l.min(*x), h.max(*x)));
    format!("{label} median {:.1} (range {lo:.1}–{hi:.1})", median(v))
}

#[test]
#[ignore]
fn measures_per_second_ceilo_and_ceilometer() {
    let corpus = corpus_bodies();
    let n = env("CEILO_BENCH_NOTIFICATIONS", 3000);
    let bodies: Vec<_> = corpus.iter().cycle().take(n).cloned().collect();
    let rounds = env("CEILO_BENCH_ROUNDS", 3);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} notifications ({} corpus cases repeated), {rounds} rounds; load average at start: {}",
        corpus.len(),
        load.trim()
    );
    println!(
        "{:<11} {:>9} {:>8} {:>10} {:>10} {:>12} {:>12} {:>12} {:>8}",
        "agent",
        "measures",
        "seconds",
        "measures/s",
        "agent CPU",
        "µs CPU/meas",
        "API cores",
        "DB cores",
        "peak MB"
    );
    let mut runs = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Which::Ceilo, Which::Ceilometer]
        } else {
            [Which::Ceilometer, Which::Ceilo]
        };
        for which in order {
            let r = drain(which, &bodies);
            println!(
                "{:<11} {:>9} {:>8.2} {:>10.0} {:>9.2}s {:>12.1} {:>12.2} {:>12.2} {:>8.1}",
                format!("{which:?}"),
                r.measures,
                r.seconds,
                r.rate(),
                r.agent_cpu,
                r.agent_cpu * 1e6 / r.measures as f64,
                r.api_cpu / r.seconds,
                r.database_cpu / r.seconds,
                r.peak_rss_mb
            );
            let requests: Vec<String> = r.requests.iter().map(|(k, v)| format!("{v} × {k}")).collect();
            println!(
                "            dead-letter messages: {}; Gnocchi served: {}",
                r.dead_lettered,
                requests.join(", ")
            );
            for (text, n) in r.complaints.iter().take(8) {
                println!("            agent log, {n} ×: {text}");
            }
            runs.push(r);
        }
    }
    let of = |w: Which, f: &dyn Fn(&Run) -> f64| -> Vec<f64> {
        runs.iter().filter(|r| r.which == w).map(f).collect()
    };
    for w in [Which::Ceilo, Which::Ceilometer] {
        println!(
            "{w:?}: {}; {}; {}; {}",
            summary("measures/s", of(w, &|r| r.rate())),
            summary(
                "µs agent CPU per measure",
                of(w, &|r| r.agent_cpu * 1e6 / r.measures as f64)
            ),
            summary("Gnocchi API cores", of(w, &|r| r.api_cpu / r.seconds)),
            summary("peak RSS MB", of(w, &|r| r.peak_rss_mb)),
        );
    }
    let ratio: Vec<f64> = runs
        .chunks(2)
        .map(|pair| {
            let rate = |w| pair.iter().find(|r| r.which == w).map_or(f64::NAN, Run::rate);
            rate(Which::Ceilo) / rate(Which::Ceilometer)
        })
        .collect();
    println!(
        "ceilo/Ceilometer per round: {ratio:.2?}, median {:.2}",
        median(ratio.clone())
    );
    // What each run stored: ceilo's may fall short of Ceilometer's by what Gnocchi refused
    // and ceilo dead-lettered (the acceptance comparison checks which), and that depends on
    // which samples share a flush.
    let counts: Vec<u64> = runs.iter().map(|r| r.measures).collect();
    println!("measures stored per run: {counts:?}");
    assert!(counts.iter().all(|c| *c > 0), "a run stored nothing: {counts:?}");
}
