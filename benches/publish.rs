//! The publish half of the hot path, piece by piece, on the samples and events the public corpus
//! converts into (about 500 of each per flush, as a `notifier://` publisher sends them):
//!
//! * `signature`: the HMAC `message_signature` of every sample (Ceilometer's
//!   `compute_signature`);
//! * `meter_messages`: the signed meter messages written as one JSON list;
//! * `notifier_encode`: the whole oslo notification a flush becomes (meter messages, envelope,
//!   the inner message quoted into the outer document);
//! * `batching`: the publisher actor gathering pipeline batches (one per notification) into
//!   flushes, with an output that confirms at once.
//!
//! `cargo bench --bench publish`. Envelope decoding and conversion are in `benches/conversion.rs`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use ceilo::agent::ack::AckToken;
use ceilo::agent::publisher::{BatchPolicy, Drain, PublishBatch, PublisherActor};
use ceilo::agent::publishers::notifier_options;
use ceilo::config::PublisherSettings;
use ceilo::convert::Converter;
use ceilo::event::EventDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::meter_message::write_meter_message_list;
use ceilo::model::signature::Signer;
use ceilo::model::{Event, Payload, Sample};
use ceilo::publish::notifier::NotifierOutput;
use ceilo::publish::{Items, Output, PublishError, Write};
use ceilo::transport::{BoxFuture, OutMessage, Publisher, TransportError};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const FLUSH: usize = 500;

/// The corpus converted, notification by notification (those that give anything).
fn converted() -> Vec<(Vec<Sample>, Vec<Event>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (converter, _) = Converter::load(&root.join("config/meters.d")).expect("meters");
    let events = EventDefinitions::load(root.join("config/event_definitions.yaml")).expect("events");
    let converter = converter.with_events(events);
    let mut decoder = Decoder::new();
    ceilo::reference::corpus_bodies()
        .into_iter()
        .filter_map(|body| converter.convert(&mut decoder, &body).ok())
        .map(|c| (c.samples, c.events))
        .filter(|(s, e)| !s.is_empty() || !e.is_empty())
        .collect()
}

/// The first `n` items of the corpus output, repeated as often as needed.
fn first<T: Clone>(all: &[T], n: usize) -> Vec<T> {
    all.iter().cycle().take(n).cloned().collect()
}

/// Discards what it is given (the encoding is what is measured).
struct Discard;

impl Publisher for Discard {
    fn publish(&self, _: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }
}

fn publish(c: &mut Criterion) {
    let notifications = converted();
    let all_samples: Vec<Sample> = notifications.iter().flat_map(|(s, _)| s.clone()).collect();
    let all_events: Vec<Event> = notifications.iter().flat_map(|(_, e)| e.clone()).collect();
    let samples = first(&all_samples, FLUSH);
    let events = first(&all_events, FLUSH);
    let settings = PublisherSettings::default();

    let mut group = c.benchmark_group("publish");
    group.throughput(Throughput::Elements(FLUSH as u64));
    let mut signer = Signer::new(settings.telemetry_secret.as_bytes());
    group.bench_function("signature", |b| {
        b.iter(|| {
            for s in &samples {
                black_box(signer.sign_sample(s));
            }
        })
    });
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("meter_messages", |b| {
        b.iter(|| {
            out.clear();
            write_meter_message_list(&mut out, &samples, &mut signer);
            black_box(out.len())
        })
    });
    for (name, carries) in [
        ("notifier_encode_samples", Payload::Samples),
        ("notifier_encode_events", Payload::Events),
    ] {
        let options = notifier_options(&settings, carries, "bench");
        let mut output = NotifierOutput::new(carries, &[], false, &options, Arc::new(Discard));
        group.bench_function(name, |b| {
            b.iter_batched(
                || Items {
                    samples: samples.clone(),
                    events: events.clone(),
                    dead: Vec::new(),
                },
                |flush| {
                    black_box(output.encode(&flush).len());
                    flush // dropped outside the measurement
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();

    // Batching: one pipeline batch per notification, as the pipeline actor sends them.
    let per_notification: Vec<Vec<Sample>> = notifications.iter().map(|(s, _)| s.clone()).collect();
    let batches = first(&per_notification, FLUSH);
    let items: usize = batches.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("batching");
    group.throughput(Throughput::Elements(batches.len() as u64));
    let system = actix::System::new();
    let policy = BatchPolicy {
        max_items: FLUSH,
        max_wait: Duration::from_millis(100),
        max_in_flight: 2,
        encoders: 1,
    };
    group.bench_function("publisher_actor", |b| {
        b.iter_batched(
            || batches.clone(),
            |batches| {
                system.block_on(async {
                    // A fresh actor each time: `Drain` (to flush the tail) switches batching off.
                    let counted = Arc::new(AtomicUsize::new(0));
                    let output = Box::new(Counting(counted.clone()));
                    let publisher =
                        PublisherActor::new(output, policy, tokio::runtime::Handle::current(), "bench", None)
                            .start_supervised();
                    for samples in batches {
                        let batch = PublishBatch {
                            items: Items::from(samples),
                            token: AckToken::detached(),
                        };
                        publisher.send(batch).await.expect("publisher alive");
                    }
                    publisher.addr().send(Drain).await.expect("publisher alive");
                    while counted.load(Ordering::SeqCst) < items {
                        tokio::task::yield_now().await;
                    }
                })
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// Counts the items of each flush and confirms it at once.
struct Counting(Arc<AtomicUsize>);

impl Output for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let n = flush.len();
        let counted = self.0.clone();
        Ok(Arc::new(move || {
            counted.fetch_add(n, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }))
    }
}

criterion_group!(benches, publish);
criterion_main!(benches);
