//! A poll streams: its samples leave in batches of `batch_size` while it runs, a full output
//! makes it wait, and nothing of a cycle stays behind, so the memory a poll needs does not
//! grow with the number of resources it covers. Measured as the process' peak resident set
//! (`VmHWM`, reset through `/proc/self/clear_refs` once the fleet is listed) while one poll
//! of a 20,000- and then a 200,000-instance fleet goes through a slow, bounded output, in
//! batches of 50 and of one sample (`batch_size` 0).
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

/// One poll of a `fleet:instances` source polling `cpu`, into a channel of 4 batches drained
/// with a pause every 100 batches: the poll must wait for the output. Returns the samples
/// received and how far the resident set rose above what it was before the poll, in MB.
async fn poll_peak(instances: usize, batch_size: usize) -> (u64, f64) {
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
    assert_eq!(
        discovery.discover(&Discoverer::Fleet(instances)).await.len(),
        instances
    );

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
    (received, peak - before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polls_memory_does_not_grow_with_its_resources() {
    let (small_samples, small) = poll_peak(20_000, 50).await;
    let (large_samples, large) = poll_peak(200_000, 50).await;
    // batch_size 0: a notification per sample (Ceilometer 27), never a pollster's whole poll.
    let (unbatched_samples, unbatched) = poll_peak(200_000, 0).await;
    assert_eq!(
        (small_samples, large_samples, unbatched_samples),
        (20_000, 200_000, 200_000)
    );
    println!(
        "peak RSS above the start of the poll: 20,000 instances {small:.1} MB, 200,000 {large:.1} MB, \
         200,000 with batch_size 0 {unbatched:.1} MB"
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
