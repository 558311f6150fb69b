//! Conversion against plain parsing of the same bytes: every public corpus body (the AMQP
//! bodies nova, cinder, neutron... send), converted with Ceilometer's shipped meters.yaml.
//!
//! `cargo bench --bench conversion`; the ratio convert/parse is the number to watch
//! (issue target: conversion ≤ 2× plain simd-json parsing).

use std::path::PathBuf;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use simd_json::prelude::*;

use ceilo::convert::Converter;
use ceilo::event::message::write_event_message_list;
use ceilo::event::EventDefinitions;
use ceilo::model::envelope::Decoder;
use ceilo::model::meter_message::write_meter_message_list;
use ceilo::model::signature::Signer;

// The same allocator as the binary, so the numbers are the agent's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn conversion(c: &mut Criterion) {
    let bodies = ceilo::reference::corpus_bodies();
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
                black_box(decoder.decode(body).is_ok());
            }
        })
    });
    group.bench_function("convert", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(
                    converter
                        .convert(&mut decoder, body)
                        .map(|c| c.samples.len())
                        .ok(),
                );
            }
        })
    });
    let events_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/event_definitions.yaml");
    let converter = converter.with_events(EventDefinitions::load(events_path).expect("events"));
    group.bench_function("convert_with_events", |b| {
        b.iter(|| {
            for body in &bodies {
                black_box(converter.convert(&mut decoder, body).map(|c| c.events.len()).ok());
            }
        })
    });
    // The whole hot path of the notification agent: convert, then write the signed meter and
    // event messages a notifier:// publisher sends.
    let mut signer = Signer::new(b"change this for valid signing");
    let mut out = Vec::with_capacity(1 << 20);
    group.bench_function("convert_with_events_and_serialize", |b| {
        b.iter(|| {
            out.clear();
            for body in &bodies {
                if let Ok(c) = converter.convert(&mut decoder, body) {
                    write_meter_message_list(&mut out, &c.samples, &mut signer);
                    write_event_message_list(&mut out, &c.events, &mut signer);
                }
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, conversion);
criterion_main!(benches);
