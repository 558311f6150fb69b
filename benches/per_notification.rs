//! Instructions per notification on the converter's side of the agent, for callgrind: one
//! workload (bodies from loadgen's generator, the shipped meter and event definitions) decoded,
//! converted, and written as the signed meter and event messages a `notifier://` publisher
//! sends, `--count` times. No broker, no actors: `benches/instructions.sh` measures the whole
//! agent; this isolates the part whose cost depends on the body and the definitions.
//!
//! Only [`process`] is meant to be counted (`--toggle-collect`, see `benches/cost_curves.sh`):
//! making the bodies and loading the definitions are left out. Two counts give the slope, so
//! what happens once (the first lookup of an event type) is left out as well.
//!
//! `cargo bench --bench per_notification -- --count N [--mix nova-*] [--size natural|BYTES]
//! [--extra-meters K] [--event-type NAME] [--stage decode|convert|publish]`
//!
//! * `--extra-meters K`: K definitions more, after the shipped ones, whose event types no
//!   notification has (`bench.unmatched.<i>.*`);
//! * `--event-type NAME`: the bodies' event type replaced by NAME (one no definition matches);
//! * `--stage`: stop after decoding, after conversion, or (the default) after writing the
//!   messages.

use std::path::{Path, PathBuf};

use ceilo::convert::Converter;
use ceilo::event::message::write_event_message_list;
use ceilo::event::EventDefinitions;
use ceilo::meter::MeterDefinitions;
use ceilo::model::envelope::{encode_v2, Decoder, Outgoing};
use ceilo::model::meter_message::write_meter_message_list;
use ceilo::model::signature::Signer;
use ceilo::model::{Event, Priority, Sample};
use loadgen::generate::{Generator, Mix, Size};
use loadgen::key::RunKey;

// The same allocator as the binary, so the counts are the agent's.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Distinct bodies made and cycled through: the mix's templates, each with its own ids.
const BODIES: u64 = 64;
/// Notifications whose samples and events go out together (a publisher flush, smaller).
const FLUSH: usize = 50;

#[derive(Clone, Copy, PartialEq)]
enum Stage {
    Decode,
    Convert,
    Publish,
}

struct Options {
    count: u64,
    mix: String,
    size: Size,
    extra_meters: usize,
    event_type: Option<String>,
    stage: Stage,
}

fn options() -> Options {
    let mut o = Options {
        count: 1000,
        mix: "nova-*".to_owned(),
        size: Size::Natural,
        extra_meters: 0,
        event_type: None,
        stage: Stage::Publish,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--count" => o.count = value().parse().expect("--count"),
            "--mix" => o.mix = value(),
            "--size" => o.size = value().parse().expect("--size"),
            "--extra-meters" => o.extra_meters = value().parse().expect("--extra-meters"),
            "--event-type" => o.event_type = Some(value()),
            "--stage" => {
                o.stage = match value().as_str() {
                    "decode" => Stage::Decode,
                    "convert" => Stage::Convert,
                    "publish" => Stage::Publish,
                    other => panic!("--stage {other}: decode, convert or publish"),
                }
            }
            "--bench" => {} // what `cargo bench` passes to every bench binary
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// Bodies as loadgen sends them; with `event_type`, that event type in place of theirs.
fn bodies(o: &Options) -> Vec<Vec<u8>> {
    let templates = loadgen::template::builtin().expect("loadgen templates");
    let mix = Mix::parse(&o.mix, &templates, 7).expect("mix");
    let mut generator = Generator::new(templates, mix, o.size, RunKey::new(0x0c0f_fee0));
    // A fixed time, so two runs convert the same texts (a timestamp's digits change its cost).
    let now = chrono::DateTime::from_timestamp(1_764_000_000, 123_456_000).expect("a valid time");
    (0..BODIES)
        .map(|seq| {
            let body = generator.next(seq, 0, now).body.to_vec();
            match &o.event_type {
                None => body,
                Some(name) => retyped(&body, name),
            }
        })
        .collect()
}

/// `body` with the inner message's event type replaced (the body is re-encoded as oslo does).
fn retyped(body: &[u8], name: &str) -> Vec<u8> {
    let outer: serde_json::Value = serde_json::from_slice(body).expect("outer");
    let mut inner: serde_json::Value =
        serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message")).expect("inner");
    inner["event_type"] = name.into();
    serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
        .to_string()
        .into_bytes()
}

/// The converter, and how many meter definitions it has.
fn converter(o: &Options) -> (Converter, usize) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shipped_path = root.join("config/meters.d/meters.yaml");
    let shipped = std::fs::read_to_string(&shipped_path).expect("meters.yaml");
    let extra = unmatched_meters(o.extra_meters);
    let extra_path = Path::new("unmatched.yaml");
    let mut files = vec![(shipped_path.as_path(), shipped.as_str())];
    if o.extra_meters > 0 {
        files.push((extra_path, extra.as_str()));
    }
    let (meters, problems) = MeterDefinitions::from_texts(files).expect("meters");
    assert!(problems.is_empty(), "{:?}", problems.first());
    let events = EventDefinitions::load(root.join("config/event_definitions.yaml")).expect("events");
    let definitions = meters.len();
    (Converter::new(meters).with_events(events), definitions)
}

/// `count` meter definitions shaped like the shipped ones, for event types nothing sends.
fn unmatched_meters(count: usize) -> String {
    let mut text = String::from("---\nmetric:\n");
    for i in 0..count {
        text.push_str(&format!(
            "  - name: 'bench_unmatched_{i}'\n    event_type: 'bench.unmatched.{i}.*'\n    \
             type: 'gauge'\n    unit: 'B'\n    volume: $.payload.size\n    \
             user_id: $.payload.user_id\n    project_id: $.payload.tenant_id\n    \
             resource_id: $.payload.instance_id\n"
        ));
    }
    text
}

/// What is counted: one notification through the stages asked for. Samples and events pile up
/// in `pending` until a flush's worth is written.
#[inline(never)]
fn process(
    stage: Stage,
    converter: &Converter,
    decoder: &mut Decoder,
    body: &[u8],
    pending: &mut Pending,
) -> usize {
    if stage == Stage::Decode {
        return decoder.decode(body).map_or(0, |n| n.priority as usize);
    }
    let Ok(converted) = converter.convert(decoder, body) else {
        return 0;
    };
    let made = converted.samples.len() + converted.events.len();
    if stage == Stage::Publish {
        pending.samples.extend(converted.samples);
        pending.events.extend(converted.events);
        pending.notifications += 1;
        if pending.notifications == FLUSH {
            pending.flush();
        }
    }
    made
}

/// Converted output not yet written, and where it is written.
struct Pending {
    samples: Vec<Sample>,
    events: Vec<Event>,
    notifications: usize,
    signer: Signer,
    out: Vec<u8>,
}

impl Pending {
    fn flush(&mut self) {
        let Pending {
            samples,
            events,
            signer,
            out,
            ..
        } = self;
        out.clear();
        let head = Outgoing::new("telemetry.publisher.bench", "metering", Priority::Sample);
        encode_v2(out, &head, |o| write_meter_message_list(o, &samples[..], signer));
        let head = Outgoing::new("telemetry.publisher.bench", "event", Priority::Sample);
        encode_v2(out, &head, |o| write_event_message_list(o, &events[..], signer));
        samples.clear();
        events.clear();
        self.notifications = 0;
    }
}

fn main() {
    let o = options();
    let bodies = bodies(&o);
    let (converter, definitions) = converter(&o);
    let mut decoder = Decoder::new();
    let mut pending = Pending {
        samples: Vec::new(),
        events: Vec::new(),
        notifications: 0,
        signer: Signer::new(b"change this for valid signing"),
        out: Vec::new(),
    };
    let mut made = 0;
    for i in 0..o.count {
        let body = &bodies[(i % BODIES) as usize];
        made += process(o.stage, &converter, &mut decoder, body, &mut pending);
    }
    let size = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    println!(
        "{} notifications of {size} B on average, {} meter definitions: {made} samples and events",
        o.count, definitions
    );
}
