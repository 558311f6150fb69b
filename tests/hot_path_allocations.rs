//! The publishing path allocates nothing once its buffers are warm: signing a sample or event,
//! writing it as a meter or event message and wrapping a batch in the oslo envelope only
//! append to reused buffers. A counting allocator (this test binary's own) proves it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use ceilo::event::message::{sign_event_with, write_event_message_list};
use ceilo::event::{EventDefinitions, EventOptions, EventOutcome};
use ceilo::model::envelope::{encode_v2, Decoder, Outgoing};
use ceilo::model::meter_message::{write_meter_message_list, write_meter_message_signed, NULL};
use ceilo::model::signature::Signer;
use ceilo::model::{Event, OwnedValue, Priority, Sample};
use simd_json::prelude::*;

struct CountingAllocator;

thread_local! {
    // Const-initialized and without a destructor, so touching it never allocates itself.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a plain
// thread-local cell. (A test-only allocator: the one place this crate needs `unsafe`.)
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn sample() -> Sample {
    let metadata = r#"{"host": "compute-0", "flavor": {"id": "2", "ram": 2048, "extra": {"a": 1.5}},
        "tags": ["b", "a", "\u00fc"], "fixed_ips": [{"address": "10.0.0.12", "version": 4}],
        "display_name": "Zo\u00eb \ud83d\ude80", "enabled": true, "nothing": null}"#;
    let s = |t: &str| OwnedValue::String(t.to_owned());
    Sample {
        name: Arc::from("cpu"),
        sample_type: Arc::from("cumulative"),
        unit: Arc::from("ns"),
        volume: OwnedValue::from(0.30000000000000004),
        user_id: s("u1"),
        user_name: NULL,
        project_id: s("p1"),
        project_name: s("d\u{e9}mo"),
        resource_id: s("r1"),
        timestamp: s("2025-03-14T09:45:00.123456+00:00"),
        resource_metadata: Arc::new(simd_json::to_owned_value(&mut metadata.as_bytes().to_vec()).unwrap()),
        source: Arc::from("openstack"),
        id: "00000000-0000-4000-8000-000000000001".to_owned(),
        monotonic_time: OwnedValue::from(5131.123456789),
    }
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) > 0);
}

#[test]
fn signing_and_writing_a_sample_allocates_nothing_once_warm() {
    let sample = sample();
    let mut signer = Signer::new(b"s3cret");
    let mut out = Vec::new();
    write_meter_message_signed(&mut out, &sample, &mut signer);
    let n = allocations(|| {
        for _ in 0..100 {
            out.clear();
            write_meter_message_signed(&mut out, &sample, &mut signer);
        }
    });
    assert_eq!(n, 0);
    let n = allocations(|| {
        for _ in 0..100 {
            let _ = signer.sign(&*sample.resource_metadata);
        }
    });
    assert_eq!(n, 0);
}

#[test]
fn an_enveloped_batch_allocates_nothing_once_warm() {
    let samples = vec![sample(); 50];
    let mut signer = Signer::new(b"s3cret");
    let head = Outgoing::new("telemetry.publisher.host-1", "metering", Priority::Sample);
    let mut body = Vec::new();
    let mut batch = |body: &mut Vec<u8>| {
        body.clear();
        encode_v2(body, &head, |out| {
            write_meter_message_list(out, &samples, &mut signer)
        });
    };
    batch(&mut body);
    let n = allocations(|| {
        for _ in 0..20 {
            batch(&mut body);
        }
    });
    assert_eq!(n, 0);
}

// Events: signing an event and writing it as a `message_from_event` message only append to
// reused buffers.

const DEFINITIONS: &str = "
- event_type: compute.instance.*
  traits:
    host: {fields: 'publisher_id.`split(., 1, 1)`'}
    memory_mb: {type: int, fields: payload.memory_mb}
    ratio: {type: float, fields: payload.ratio}
    launched_at: {type: datetime, fields: payload.launched_at}
    display_name: {fields: payload.display_name}
";

/// Events as the converter makes them, one with the raw notification kept.
fn events() -> Vec<Event> {
    let defs = EventDefinitions::parse(DEFINITIONS, "test.yaml")
        .unwrap_or_else(|e| panic!("{e}"))
        .with_options(EventOptions {
            store_raw: vec![Priority::Error],
            drop_unmatched_notifications: false,
        });
    let mut decoder = Decoder::new();
    ["INFO", "ERROR"]
        .iter()
        .map(|priority| {
            let body = format!(
                r#"{{"message_id": "m-{priority}", "publisher_id": "compute.host-1", "priority": "{priority}",
                "event_type": "compute.instance.create.end", "timestamp": "2025-03-14 09:01:23.147803",
                "_context_request_id": "req-1", "_context_project_id": "p1",
                "payload": {{"memory_mb": 2048, "ratio": 0.5, "launched_at": "2025-03-14T08:58:41.000000",
                "display_name": "Zo\u00eb \ud83d\ude80", "tags": ["a", "b"], "flavor": {{"id": "2"}}}}}}"#
            )
            .into_bytes();
            let outcome = match decoder.decode(&body) {
                Ok(n) => defs.to_event(&n),
                Err(e) => panic!("{e}"),
            };
            match outcome {
                EventOutcome::Event(e) => e,
                other => panic!("expected an event, got {other:?}"),
            }
        })
        .collect()
}

#[test]
fn signing_and_writing_events_allocates_nothing_once_warm() {
    let events = events();
    assert!(events
        .iter()
        .any(|e| !e.raw.as_object().is_none_or(|o| o.is_empty())));
    let mut signer = Signer::new(b"s3cret");
    let mut out = Vec::new();
    write_event_message_list(&mut out, &events, &mut signer);
    let mut scratch = Vec::new();
    let _ = sign_event_with(&mut signer, &events[0], &mut scratch);
    let n = allocations(|| {
        for _ in 0..10 {
            out.clear();
            write_event_message_list(&mut out, &events, &mut signer);
            let _ = sign_event_with(&mut signer, &events[1], &mut scratch);
        }
    });
    assert_eq!(n, 0, "allocations while writing warm event messages");
    assert!(scratch.is_empty());
}
