//! A poll streams: its samples leave in batches of `batch_size` while it runs, a full output
//! makes it wait, and nothing of a cycle stays behind, so the memory a poll needs does not
//! grow with the number of resources it covers. Measured as the process' peak resident set
//! (`VmHWM`, reset through `/proc/self/clear_refs` once the fleet is listed) while one poll
//! of a 20,000- and then a 200,000-instance fleet goes through a slow, bounded output, in
//! batches of 50 and of one sample (`batch_size` 0). What does grow with the fleet is
//! discovery's list, kept between polls: it is measured too, per instance.
//!
//! One test in its own binary: the peak is the process', and nothing else may run beside it.

use std::path::Path;
use std::time::Duration;

use ceilo::config::PollingOptions;
use ceilo::model::SampleBatch;
use ceilo::polling::config::PollingConfig;
use ceilo::polling::discovery::{Discoverer, Discovery};
use ceilo::polling::{load_pollsters, SourcePlan};

/// `VmHWM` or `VmRSS` of this process, in MB.
fn status_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    kb / 1024.0
}

/// Sets `VmHWM` back to the current resident set (Linux's `clear_refs` value 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("write /proc/self/clear_refs");
}

/// What one poll of a fleet measured.
struct Measured {
    samples: u64,
    /// How far the resident set rose above what it was before the poll, in MB.
    poll_peak_mb: f64,
    /// How much the resident set grew while discovery listed the fleet, per instance, in bytes.
    listed_bytes_per_instance: f64,
}

/// One poll of a `fleet:instances` source polling `cpu`, into a channel of 4 batches drained
/// with a pause every 100 batches: the poll must wait for the output.
async fn poll_peak(instances: u32, batch_size: usize) -> Measured {
    let yaml = format!(
        "sources:\n  - name: rss\n    interval: 600\n    meters: [cpu]\n    \
         discovery: ['fleet:{instances}']\n"
    );
    let config = PollingConfig::parse(&yaml, Path::new("polling.yaml")).unwrap();
    let options = PollingOptions {
        batch_size,
        pollsters_definitions_dirs: vec![],
        host: Some("rss".into()),
        ..Default::default()
    };
    let discovery = Discovery::new(&options);
    let pollsters = load_pollsters(&options, &discovery).unwrap();
    let plan = SourcePlan::new(config.sources[0].clone(), &pollsters, &options).unwrap();
    // The fleet's list is discovery's, made before the poll as in a running agent.
    let unlisted = status_mb("VmRSS:");
    assert_eq!(
        discovery.discover(&Discoverer::Fleet(instances)).await.len(),
        instances as usize
    );
    let listed_bytes_per_instance = (status_mb("VmRSS:") - unlisted) * 1024.0 * 1024.0 / f64::from(instances);

    let (tx, mut rx) = tokio::sync::mpsc::channel::<SampleBatch>(4);
    let drain = tokio::spawn(async move {
        let (mut samples, mut batches) = (0u64, 0u64);
        while let Some(batch) = rx.recv().await {
            samples += batch.samples.len() as u64;
            batches += 1;
            if batches % 100 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        samples
    });
    let before = status_mb("VmRSS:");
    reset_peak();
    let report = plan.poll(&discovery, batch_size, &tx).await;
    let peak = status_mb("VmHWM:");
    drop(tx);
    let received = drain.await.unwrap();
    assert_eq!(report.samples, received);
    assert_eq!(report.failures, 0);
    Measured {
        samples: received,
        poll_peak_mb: peak - before,
        listed_bytes_per_instance,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polls_memory_does_not_grow_with_its_resources() {
    let small = poll_peak(20_000, 50).await;
    let large = poll_peak(200_000, 50).await;
    // batch_size 0: a notification per sample (Ceilometer 27), never a pollster's whole poll.
    let unbatched = poll_peak(200_000, 0).await;
    assert_eq!(
        (small.samples, large.samples, unbatched.samples),
        (20_000, 200_000, 200_000)
    );
    let listed = large.listed_bytes_per_instance;
    let (small, large, unbatched) = (small.poll_peak_mb, large.poll_peak_mb, unbatched.poll_peak_mb);
    println!(
        "peak RSS above the start of the poll: 20,000 instances {small:.1} MB, 200,000 {large:.1} MB, \
         200,000 with batch_size 0 {unbatched:.1} MB; the list of 200,000 instances: {listed:.0} B each"
    );
    // A listed fleet instance is its place and uuid, inline in discovery's list (24 bytes):
    // what a fleet costs between polls, so what 1,000,000 instances add to the agent's RSS.
    assert!(
        listed < 32.0,
        "discovery's list of 200,000 instances took {listed:.0} B per instance"
    );
    assert!(
        unbatched < 16.0,
        "batch_size 0 raised the peak RSS by {unbatched:.1} MB"
    );
    // Held whole, 200,000 instances' samples and metadata are gigabytes; streamed, a poll
    // needs a few batches in flight whatever the fleet's size.
    assert!(
        large < 16.0,
        "a poll of 200,000 instances raised the peak RSS by {large:.1} MB"
    );
    assert!(
        large < small + 4.0,
        "the poll's memory grew with the fleet: {small:.1} MB for 20,000, {large:.1} MB for 200,000"
    );
}
