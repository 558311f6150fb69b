//! A sink with a unit_conversion → rate_of_change chain against the same sink with none.
//!
//! The sink's work per batch is what the pipeline actor and a notifier publisher do for it:
//! route the batch (`Pipeline::route`), then write each sample as a signed meter message. The
//! chain runs between the two. Every iteration feeds the same 1000 cpu samples (1000 VMs) to
//! a primed chain, so each sample takes the full path (cache hit, two expressions, a new
//! sample id) and none is dropped. `cargo bench --bench transformers`; the numbers to read are
//! `sink/chain` ÷ `sink/none` (the ratio) and `chain_only` per element (the cost per sample).

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use ceilo::model::meter_message::write_meter_message_signed;
use ceilo::model::py::datetime::Timestamp;
use ceilo::model::signature::Signer;
use ceilo::model::Payload;
use ceilo::model::{OwnedValue, Sample};
use ceilo::pipeline::Pipeline;
use ceilo::transform::Chain;
use simd_json::prelude::*;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const BATCH: usize = 1000;

const CHAIN: &str = r#"
- name: unit_conversion
  parameters:
    source: {unit: ns}
    target: {unit: s, scale: "volume * 1.0 / 10**9"}
- name: rate_of_change
  parameters:
    target:
      name: cpu_util
      unit: "%"
      type: gauge
      max: 100
      scale: "100.0 / (resource_metadata.cpu_number or 1)"
"#;

fn batch(volume: i64, ts: &str) -> Vec<Sample> {
    let md = simd_json::to_owned_value(
        &mut br#"{"cpu_number": 2, "flavor": {"name": "m1.small", "vcpus": 2}, "host": "compute-1",
                  "image_ref": "5c8e", "display_name": "vm", "state": "active"}"#
            .to_vec(),
    )
    .expect("metadata");
    (0..BATCH)
        .map(|i| Sample {
            name: Arc::from("cpu"),
            sample_type: Arc::from("cumulative"),
            unit: Arc::from("ns"),
            volume: OwnedValue::from(volume + i as i64),
            user_id: OwnedValue::from("2cd3a9b6c1e04d4e9d2b1c7c3e6f5a10"),
            user_name: OwnedValue::from("demo"),
            project_id: OwnedValue::from("9a7c6d5e4f3b2a1908172635445362718"),
            project_name: OwnedValue::from("demo"),
            resource_id: OwnedValue::from(format!("1c4f8e2a-6b3d-4c5e-8f7a-{i:012}")),
            timestamp: OwnedValue::from(ts),
            resource_metadata: std::sync::Arc::new(md.clone()),
            source: Arc::from("openstack"),
            id: format!("00000000-0000-0000-0000-{i:012}"),
            monotonic_time: OwnedValue::null(),
        })
        .collect()
}

fn pipeline() -> Pipeline {
    Pipeline::parse(
        "sources:\n- {name: cpu, meters: [cpu], sinks: [cpu_sink]}\n\
         sinks:\n- {name: cpu_sink, publishers: ['notifier://']}\n",
        std::path::Path::new("pipeline.yaml"),
        Payload::Samples,
    )
    .expect("pipeline")
}

fn primed_chain() -> Chain {
    let entries: Vec<yaml_serde::Value> = yaml_serde::from_str(CHAIN).expect("chain");
    let mut chain = Chain::from_config(&entries).expect("chain");
    let now = Timestamp::now_utc();
    chain.process(batch(0, "2024-01-01T00:00:00"), &now);
    chain
}

/// The sink's own work: route, then encode every sample the publisher gets.
fn sink(
    pipeline: &mut Pipeline,
    chain: Option<&mut Chain>,
    samples: Vec<Sample>,
    now: &Timestamp,
    out: &mut Vec<u8>,
    signer: &mut Signer,
) -> usize {
    let mut routed = pipeline.route(samples);
    let mut samples = std::mem::take(&mut routed[0]);
    if let Some(chain) = chain {
        samples = chain.process(samples, now);
    }
    out.clear();
    for s in &samples {
        write_meter_message_signed(out, s, signer);
    }
    samples.len()
}

fn transformers(c: &mut Criterion) {
    let input = batch(60_000_000_000, "2024-01-01T00:01:00");
    let now = Timestamp::now_utc();
    let mut group = c.benchmark_group("transformers");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut chain = primed_chain();
    assert_eq!(
        chain.process(input.clone(), &now).len(),
        BATCH,
        "every sample takes the full path"
    );
    group.bench_function("chain_only", |b| {
        b.iter_batched(
            || input.clone(),
            |s| black_box(chain.process(s, &now)),
            BatchSize::SmallInput,
        )
    });
    let mut empty = Chain::empty();
    group.bench_function("empty_chain", |b| {
        b.iter_batched(
            || input.clone(),
            |s| black_box(empty.process(s, &now)),
            BatchSize::SmallInput,
        )
    });

    let mut p = pipeline();
    let mut signer = Signer::new(b"secret");
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("sink/none", |b| {
        b.iter_batched(
            || input.clone(),
            |s| black_box(sink(&mut p, None, s, &now, &mut out, &mut signer)),
            BatchSize::SmallInput,
        )
    });
    let mut chain = primed_chain();
    group.bench_function("sink/chain", |b| {
        b.iter_batched(
            || input.clone(),
            |s| black_box(sink(&mut p, Some(&mut chain), s, &now, &mut out, &mut signer)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, transformers);
criterion_main!(benches);
