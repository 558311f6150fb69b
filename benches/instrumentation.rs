//! What the agent's own metrics cost on the hot path: everything a delivery batch records on
//! its way through the agent (listener, converter, pipeline, publisher, ack, actor mailboxes),
//! beside converting that batch. Issue target: under 5% of hot-path throughput.
//!
//! `cargo bench --bench instrumentation`; ratio = instrument_batch / convert_batch.

use std::path::PathBuf;
use std::time::Instant;

use criterion::{black_box, criterion_group, criterion_main, Criterion};

use ceilo::convert::Converter;
use ceilo::model::envelope::Decoder;
use ceilo::model::Payload;
use ceilo::telemetry;
use ceilo::telemetry::handles::*;
use ceilo::telemetry::metrics::ActorKind;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn instrumentation(c: &mut Criterion) {
    let bodies = ceilo::reference::corpus_bodies();
    let _telemetry = telemetry::start("127.0.0.1:0".parse().expect("literal")).expect("start telemetry");
    let meters = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/meters.d");
    let (converter, _) = Converter::load(&meters).expect("shipped meters load");
    let mut decoder = Decoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut group = c.benchmark_group("batch");
    let mut samples = 0;
    group.bench_function("convert_batch", |b| {
        b.iter(|| {
            samples = 0;
            for body in &bodies {
                buf.clear();
                buf.extend_from_slice(body);
                if let Ok(converted) = converter.convert(&mut decoder, &buf) {
                    samples += converted.samples.len();
                }
            }
            black_box(samples)
        })
    });

    let queue = "bench.instrumentation";
    let listener = ListenerMetrics::new(queue);
    let conversion = ConverterMetrics::new(queue);
    let pipeline = PipelineMetrics::new();
    let publisher = PublisherMetrics::new("bench_sink", "notifier");
    let actors: Vec<ActorMetrics> = [ActorKind::Converter, ActorKind::Pipeline, ActorKind::Publisher]
        .into_iter()
        .map(|kind| ActorMetrics::new(kind, "0", 64))
        .collect();
    let n = bodies.len();
    let oldest = ceilo::model::py::datetime::Timestamp::now_utc();
    group.bench_function("instrument_batch", |b| {
        b.iter(|| {
            listener.received(n);
            let started = Instant::now();
            let outcome = ConversionOutcome {
                converted: n,
                samples,
                ..Default::default()
            };
            conversion.batch(outcome, started.elapsed());
            pipeline.samples_filtered(0);
            for actor in &actors {
                drop(actor.enqueue());
            }
            let age = age_since(&oldest);
            publisher.confirmed(Payload::Samples, samples, started.elapsed(), Some(age));
            listener.acked(n);
        })
    });
    group.finish();
}

criterion_group!(benches, instrumentation);
criterion_main!(benches);
