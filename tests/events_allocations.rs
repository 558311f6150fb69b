//! Publishing events allocates nothing once its buffers are warm: signing an event and writing
//! it as a `message_from_event` message only append to reused buffers. A counting allocator
//! (this test binary's own) proves it, as tests/hot_path_allocations.rs does for samples.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ceilo::event::message::{sign_event_with, write_event_message_list};
use ceilo::event::{EventDefinitions, EventOptions, EventOutcome};
use ceilo::model::envelope::Decoder;
use ceilo::model::signature::Signer;
use ceilo::model::{Event, Priority};
use simd_json::prelude::*;

struct CountingAllocator;

thread_local! {
    // Const-initialized and without a destructor, so touching it never allocates itself.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter is a plain
// thread-local cell. (A test-only allocator.)
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

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

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
            let mut body = format!(
                r#"{{"message_id": "m-{priority}", "publisher_id": "compute.host-1", "priority": "{priority}",
                "event_type": "compute.instance.create.end", "timestamp": "2025-03-14 09:01:23.147803",
                "_context_request_id": "req-1", "_context_project_id": "p1",
                "payload": {{"memory_mb": 2048, "ratio": 0.5, "launched_at": "2025-03-14T08:58:41.000000",
                "display_name": "Zo\u00eb \ud83d\ude80", "tags": ["a", "b"], "flavor": {{"id": "2"}}}}}}"#
            )
            .into_bytes();
            let outcome = match decoder.decode(&mut body) {
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
fn the_counter_sees_allocations() {
    assert!(allocations(|| drop(std::hint::black_box(Vec::<u8>::with_capacity(8)))) > 0);
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
