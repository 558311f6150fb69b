//! The polling benchmark of issue 5 (ignored by default; run it in release):
//!
//! ```text
//! CEILO_BENCH_INSTANCES=100000 CEILO_BENCH_INTERVAL=10 CEILO_BENCH_SECONDS=60 \
//!   cargo test --release --test polling_bench -- --ignored --nocapture
//! ```
//!
//! `CEILO_BENCH_SENDERS` (default 2) notifications are encoded and signed in parallel.
//! A `fleet:N` source with 10 compute meters on an interval, published as `telemetry.polling`
//! to the real RabbitMQ (a unique exchange with no queue bound, so the broker confirms and
//! drops: the agent side is measured, not a consumer). Prints samples/s confirmed, polls
//! started and skipped, ceilo's CPU (user+system from /proc/self/stat), the broker's CPU
//! (beam.smp) and ceilo's peak RSS (VmHWM).
//!
//! The process runs on the agent's own allocator (`src/allocator.rs`, the `ceilo` binary's),
//! so the CPU and the peak RSS are the agent's: under the test harness's default, glibc malloc,
//! about a quarter of the CPU went to malloc and its arena locks. The file's own unit tests come along and run here too (without `--ignored`).

mod runtime_support;

#[path = "../src/allocator.rs"]
mod allocator;

#[global_allocator]
static GLOBAL: allocator::Allocator = allocator::Allocator;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use ceilo::agent::polling::PollingSender;
use ceilo::config::PollingOptions;
use ceilo::model::SampleBatch;
use ceilo::polling::config::PollingConfig;
use ceilo::polling::scheduler::{GetStats, StopPolling};
use ceilo::polling::{start_polling, SampleSink};
use ceilo::publish::telemetry_polling::NotifyOptions;

const URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

struct Counting {
    samples: Arc<AtomicU64>,
    next: Arc<PollingSender>,
}

impl SampleSink for Counting {
    fn send(&self, batch: SampleBatch) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        self.samples
            .fetch_add(batch.samples.len() as u64, Ordering::Relaxed);
        self.next.send(batch)
    }
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process from /proc/<pid>/stat.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return 0.0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn broker_pid() -> Option<String> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok())
        .find_map(|e| {
            let pid = e.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "beam.smp").then_some(pid)
        })
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[test]
#[ignore = "benchmark: run explicitly, in release, against RabbitMQ"]
fn fleet_polling_throughput_against_rabbitmq() {
    let instances = env("CEILO_BENCH_INSTANCES", 100_000);
    let interval = env("CEILO_BENCH_INTERVAL", 10);
    let seconds = env("CEILO_BENCH_SECONDS", 60);
    runtime_support::on_actix_system(|handle| async move {
        let exchange = format!("ceilo-bench-{}", uuid::Uuid::new_v4().simple());
        let transport = ceilo::transport::from_url(URL).unwrap();
        let notify = NotifyOptions {
            exchange: exchange.clone(),
            declare_default_queue: false,
            ..NotifyOptions::new("bench")
        };
        // The exchange must exist: declare it through a throwaway connection.
        let conn = lapin::Connection::connect(URL, lapin::ConnectionProperties::default())
            .await
            .unwrap();
        let ch = conn.create_channel().await.unwrap();
        ch.exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Topic,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
        let senders = env("CEILO_BENCH_SENDERS", 2) as usize;
        let publisher = transport.publisher(notify.topology());
        let pool = PollingSender::start(publisher, notify, handle.clone(), senders, None);
        let counted = Arc::new(AtomicU64::new(0));
        let sink = Arc::new(Counting {
            samples: counted.clone(),
            next: pool.clone(),
        });
        let yaml = format!(
            "sources:\n  - name: bench\n    interval: {interval}\n    meters: [cpu, memory.usage, 'disk.device.*.bytes', \
             'disk.device.*.requests', 'network.*.bytes', 'network.*.packets']\n    discovery: ['fleet:{instances}']\n"
        );
        let config = PollingConfig::parse(&yaml, Path::new("bench.yaml")).unwrap();
        let options = PollingOptions {
            batch_size: 50,
            pollsters_definitions_dirs: vec![],
            host: Some("bench".into()),
            ..Default::default()
        };
        // Build the fleet before the clock starts (as a long-running agent has it).
        let agent = start_polling(&config, &options, sink, None).unwrap();
        let _ = agent
            .discovery
            .discover(&ceilo::polling::discovery::Discoverer::Fleet(
                instances.try_into().unwrap(),
            ))
            .await;
        let (broker, cpu0, bcpu0) = {
            let b = broker_pid();
            let bc = b.as_deref().map_or(0.0, cpu_seconds);
            (b, cpu_seconds("self"), bc)
        };
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        for (_, a) in &agent.schedulers {
            a.send(StopPolling).await.unwrap();
        }
        let mut stats = Vec::new();
        for (_, a) in &agent.schedulers {
            while a.send(GetStats).await.unwrap().running {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stats.push(a.send(GetStats).await.unwrap());
        }
        pool.flush().await;
        let elapsed = t0.elapsed().as_secs_f64();
        let samples = counted.load(Ordering::Relaxed);
        let cpu = cpu_seconds("self") - cpu0;
        let bcpu = broker.as_deref().map_or(0.0, cpu_seconds) - bcpu0;
        println!(
            "fleet {instances} × 10 meters every {interval}s for {elapsed:.1}s: {samples} samples confirmed, \
             {:.0} samples/s; polls started {} skipped {}; ceilo CPU {:.2} cores; broker CPU {:.2} cores; \
             ceilo peak RSS {:.0} MB",
            samples as f64 / elapsed,
            stats.iter().map(|s| s.started).sum::<u64>(),
            stats.iter().map(|s| s.skipped).sum::<u64>(),
            cpu / elapsed,
            bcpu / elapsed,
            peak_rss_mb()
        );
        let _ = ch
            .exchange_delete(exchange.as_str().into(), Default::default())
            .await;
        System::current().stop();
    });
}
