//! Conversion against plain parsing of the same bytes: every public corpus body (the AMQP
//! bodies nova, cinder, neutron... send), converted with Ceilometer's shipped meters.yaml.
//!
//! `cargo bench --bench conversion`; the ratio convert/parse is the number to watch
//! (issue target: conversion ≤ 2× plain simd-json parsing).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use simd_json::prelude::*;

use ceilo::convert::Converter;
use ceilo::model::envelope::Decoder;

// The same allocator as the binary, so the numbers are the agent's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bodies() -> Vec<Vec<u8>> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ceilometer-reference/corpus/public.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .map(|l| {
            let case: serde_json::Value = serde_json::from_str(l).expect("corpus line");
            serde_json::to_vec(&case["wire"]).expect("wire")
        })
        .collect()
}

fn conversion(c: &mut Criterion) {
    let bodies = bodies();
    let meters = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/meters.d");
    let (converter, _) = Converter::load(&meters).expect("meters");
    let mut group = c.benchmark_group("corpus");
    group.throughput(Throughput::Elements(bodies.len() as u64));
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut buffers = simd_json::Buffers::default();
    group.bench_function("parse", |b| {
        b.iter(|| {
            for body in &bodies {
                buf.clear();
                buf.extend_from_slice(body);
                black_box(simd_json::to_borrowed_value_with_buffers(&mut buf, &mut buffers).is_ok());
            }
        })
    });
    // What any consumer must do: the envelope, then the JSON text inside it.
    let mut inner = Vec::with_capacity(64 * 1024);
    group.bench_function("parse_envelope_and_message", |b| {
        b.iter(|| {
            for body in &bodies {
                buf.clear();
                buf.extend_from_slice(body);
                let outer = simd_json::to_borrowed_value_with_buffers(&mut buf, &mut buffers).expect("outer");
                inner.clear();
                inner.extend_from_slice(outer["oslo.message"].as_str().unwrap_or("{}").as_bytes());
                black_box(simd_json::to_borrowed_value_with_buffers(&mut inner, &mut buffers).is_ok());
            }
        })
    });
    let mut decoder = Decoder::new();
    group.bench_function("decode", |b| {
        b.iter(|| {
            for body in &bodies {
                buf.clear();
                buf.extend_from_slice(body);
                black_box(decoder.decode(&mut buf).is_ok());
            }
        })
    });
    group.bench_function("convert", |b| {
        b.iter(|| {
            for body in &bodies {
                buf.clear();
                buf.extend_from_slice(body);
                black_box(
                    converter
                        .convert(&mut decoder, &mut buf)
                        .map(|c| c.samples.len())
                        .ok(),
                );
            }
        })
    });
    group.finish();
}

criterion_group!(benches, conversion);
criterion_main!(benches);
