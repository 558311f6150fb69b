//! Reads the agent's output — the `metering.sample` and `event.sample` queues of exchange
//! `ceilometer`, or a file publisher's JSON lines — finds this run's key in each record and feeds
//! the tally.
//!
//! A record is a meter message (`counter_name`, or `name` for a sample dict: keyed by
//! `resource_id`, else `message_id`/`id`), an event (`traits`: keyed by `message_id`), or any
//! other object with a `message_id` (a notification republished unchanged).

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::Connection;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use tokio::io::AsyncBufReadExt;

use crate::amqp;
use crate::key::RunKey;
use crate::scan::{self, Keys};
use crate::tally::{Kind, Tally};

/// One output record, borrowing from the message text where it can.
#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    #[serde(borrow, default)]
    counter_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    resource_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(default)]
    traits: Option<IgnoredAny>,
}

/// A payload that is a list of records or a single one.
#[derive(Debug, Default)]
struct Records<'a>(Vec<Record<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Records<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Records<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a record or a list of records")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(r) = seq.next_element::<Record<'a>>()? {
                    out.push(r);
                }
                Ok(Records(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Self::Value, A::Error> {
                Ok(Records(vec![Record::deserialize(
                    de::value::MapAccessDeserializer::new(map),
                )?]))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "oslo.message", borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Notification<'a> {
    #[serde(borrow, default)]
    payload: Records<'a>,
    #[serde(borrow, default)]
    message_id: Option<Cow<'a, str>>,
    #[serde(default)]
    event_type: Option<IgnoredAny>,
}

impl Record<'_> {
    fn keys(&self) -> Keys<'_> {
        Keys {
            counter_name: self.counter_name.as_deref(),
            name: self.name.as_deref(),
            resource_id: self.resource_id.as_deref(),
            message_id: self.message_id.as_deref(),
            id: self.id.as_deref(),
            traits: self.traits.is_some(),
        }
    }
}

/// Reused buffers for [`ingest`]: an output message of 500 samples is ~600 KB, and fresh
/// buffers of that size are fresh mappings, page faults included.
#[derive(Default)]
pub struct Scratch {
    envelope: Vec<u8>,
    notification: Vec<u8>,
    list: Vec<u8>,
    simd: simd_json::Buffers,
}

/// Parses `text` with simd-json from a copy in `copy`: simd-json unescapes strings in place,
/// so the original stays intact for the next attempt. (serde_json spent most of the collector's
/// time unescaping the oslo envelope's inner text.)
fn parse_copy<'s, T: Deserialize<'s>>(
    text: &[u8],
    copy: &'s mut Vec<u8>,
    simd: &mut simd_json::Buffers,
) -> Option<T> {
    copy.clear();
    copy.extend_from_slice(text);
    simd_json::serde::from_slice_with_buffers(copy, simd).ok()
}

/// What the full parse finds in one output message.
enum Parsed<'s> {
    Records(Vec<Record<'s>>),
    /// A notification republished unchanged (the republish limit): counted by its message_id.
    Republished(Cow<'s, str>),
    Undecodable,
}

/// Counts every record of one output message (an oslo envelope, a bare notification, a list of
/// records or one record — the last two being a file publisher's lines).
pub fn ingest(text: &[u8], run: &RunKey, tally: &mut Tally, now_us: u64, scratch: &mut Scratch) {
    // One allocation per output message of hundreds of records: not worth keeping.
    let mut keys = Vec::new();
    if scan::envelope_records(text, &mut keys).is_some() {
        return count(keys.into_iter(), run, tally, now_us, text);
    }
    match parse_full(text, scratch) {
        Parsed::Records(records) => count(records.iter().map(Record::keys), run, tally, now_us, text),
        Parsed::Republished(id) => match run.find(&id) {
            Some(stamp) => tally.record(stamp, Kind::Other, None, now_us),
            None => tally.foreign(),
        },
        Parsed::Undecodable => tally.undecodable(),
    }
}

/// The reference reading of an output message: a full parse (two, for an oslo envelope).
fn parse_full<'s>(text: &'s [u8], scratch: &'s mut Scratch) -> Parsed<'s> {
    let Scratch {
        envelope,
        notification,
        list,
        simd,
    } = scratch;
    let inner: Cow<'_, str>;
    let body: &[u8] = match parse_copy::<Envelope<'_>>(text, envelope, simd) {
        Some(Envelope { message: Some(m) }) => {
            inner = m;
            inner.as_bytes()
        }
        _ => text,
    };
    let trimmed = body
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .map_or(body, |i| &body[i..]);
    let records = if trimmed.first() == Some(&b'[') {
        parse_copy::<Records<'_>>(trimmed, list, simd).map(|r| r.0)
    } else {
        match parse_copy::<Notification<'_>>(trimmed, notification, simd) {
            // A notification: its payload holds the records, or it is itself the record.
            Some(n)
                if n.event_type.is_some() && n.payload.0.iter().all(|r| r.keys().classify().1.is_none()) =>
            {
                return Parsed::Republished(n.message_id.unwrap_or_default());
            }
            Some(n) if n.event_type.is_some() => Some(n.payload.0),
            _ => parse_copy::<Records<'_>>(trimmed, list, simd).map(|r| r.0),
        }
    };
    records.map_or(Parsed::Undecodable, Parsed::Records)
}

fn count<'k>(
    records: impl Iterator<Item = Keys<'k>>,
    run: &RunKey,
    tally: &mut Tally,
    now_us: u64,
    text: &[u8],
) {
    for r in records {
        let (kind, key, name) = r.classify();
        match key.and_then(|k| run.find(k)) {
            Some(stamp) => tally.record(stamp, kind, name, now_us),
            None => {
                if std::env::var_os("LOADGEN_DEBUG").is_some() {
                    eprintln!("foreign: {}", String::from_utf8_lossy(text));
                }
                tally.foreign()
            }
        }
    }
}

/// Shared state between the collector task and the mode driving the run.
#[derive(Debug)]
pub struct Shared {
    /// The tally, locked per output message.
    pub tally: Mutex<Tally>,
    /// µs since the run's start when the last record arrived.
    pub last_output_us: AtomicU64,
    /// Run start.
    pub t0: Instant,
    /// The run's key space.
    pub run: RunKey,
}

impl Shared {
    /// µs since the run's start.
    pub fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    fn ingest(&self, body: &[u8]) {
        let now = self.now_us();
        thread_local! {
            static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
        }
        if let Ok(mut t) = self.tally.lock() {
            SCRATCH.with_borrow_mut(|scratch| ingest(body, &self.run, &mut t, now, scratch));
        }
        self.last_output_us.store(now, Ordering::Relaxed);
    }
}

/// Consumes the output queues until the task is aborted; `ready` fires once both consumers are
/// attached (the queues exist from then on, so no output can be missed).
pub async fn consume_amqp(
    conn: Connection,
    shared: Arc<Shared>,
    how: amqp::Declare,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<()> {
    let ch = conn
        .create_channel()
        .await
        .context("opening the collector channel")?;
    amqp::declare_output_queues(&ch, how).await?;
    ch.basic_qos(2000, BasicQosOptions::default())
        .await
        .context("collector qos")?;
    let mut streams = Vec::new();
    for q in amqp::OUTPUT_KEYS {
        // A delivery settled on send (no_ack) is gone once the queue leader sent it: with
        // quorum queues, whose leader may be on a node that dies mid-run, the collector acks
        // what it has counted instead, so the output survives the node.
        let opts = BasicConsumeOptions {
            no_ack: !how.quorum,
            ..Default::default()
        };
        let c = ch
            .basic_consume(
                q.into(),
                format!("loadgen-{q}").as_str().into(),
                opts,
                FieldTable::default(),
            )
            .await
            .with_context(|| format!("consuming {q}"))?;
        streams.push(c);
    }
    let _ = ready.send(());
    let mut merged = streams.pop().context("no output queue")?.boxed();
    for s in streams {
        merged = merged.or(s).boxed();
    }
    while let Some(d) = merged.next().await {
        let d = d.context("output delivery")?;
        shared.ingest(&d.data);
        if how.quorum {
            d.acker
                .ack(BasicAckOptions::default())
                .await
                .context("acking output")?;
        }
    }
    Ok(())
}

/// Follows a file publisher's output (one JSON document a line) until the task is aborted.
/// What the file already holds when the run starts is skipped.
pub async fn follow_file(path: std::path::PathBuf, shared: Arc<Shared>) -> Result<()> {
    use tokio::io::AsyncSeekExt;
    let skip = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
    let mut file = loop {
        match tokio::fs::File::open(&path).await {
            Ok(f) => break f,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    if skip > 0 {
        file.seek(std::io::SeekFrom::Start(skip))
            .await
            .with_context(|| format!("seeking in {}", path.display()))?;
    }
    let mut reader = tokio::io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        let n = reader
            .read_until(b'\n', &mut line)
            .await
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 || line.last() != Some(&b'\n') {
            // End of what is written so far: keep the partial line and wait for more.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        if line.iter().any(|c| !c.is_ascii_whitespace()) {
            shared.ingest(&line);
        }
        line.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Mix;
    use crate::key::Stamp;
    use crate::tally::Expect;
    use crate::template;
    use crate::wire;

    fn setup(expect: Expect) -> (RunKey, Tally) {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse("nova-create-end", &t, 1).expect("mix");
        (RunKey::new(7), Tally::new(expect, &t, mix))
    }

    pub(super) const NOVA_CREATE_METERS: [&str; 5] = [
        "disk.ephemeral.size",
        "disk.root.size",
        "compute.instance.booting.time",
        "vcpus",
        "memory",
    ];

    fn key(rk: &RunKey, seq: u64) -> String {
        String::from_utf8(rk.encode(Stamp { seq, sent_us: 0 }).to_vec()).expect("ascii")
    }

    #[test]
    fn meter_and_event_messages_in_an_envelope_are_counted() {
        let (rk, mut tally) = setup(Expect::Ceilometer);
        let k = key(&rk, 0);
        let samples: Vec<_> = NOVA_CREATE_METERS
            .iter()
            .map(|n| {
                serde_json::json!({"counter_name": n, "resource_id": k,
                    "resource_metadata": {"a": [1, {"b": null}]}, "message_id": "x"})
            })
            .collect();
        let inner = serde_json::json!({"message_id": "m", "publisher_id": "telemetry.publisher.h",
            "event_type": "metering", "priority": "SAMPLE", "payload": samples, "timestamp": "t"});
        let mut body = Vec::new();
        wire::envelope(&inner.to_string(), &mut body);
        ingest(&body, &rk, &mut tally, 100, &mut Scratch::default());
        let ev = serde_json::json!({"event_type": "event", "payload": [{"message_id": k,
            "event_type": "compute.instance.create.end", "generated": "g",
            "traits": [["service", 1, "compute"]], "raw": {}, "message_signature": "s"}]});
        let mut body = Vec::new();
        wire::envelope(&ev.to_string(), &mut body);
        ingest(&body, &rk, &mut tally, 100, &mut Scratch::default());
        let r = tally.finish(1, &[]);
        assert_eq!(
            (
                r.samples_out,
                r.events_out,
                r.messages_complete,
                r.missing_records
            ),
            (5, 1, 1, 0)
        );
    }

    /// A random JSON value up to `depth` levels deep: strings with quotes, backslashes,
    /// control characters and non-ASCII text, numbers of every form, and keys that are also the
    /// record keys the verifier reads (nested, where they must not count).
    fn random_value(rng: &mut impl rand::Rng, depth: u32) -> serde_json::Value {
        use serde_json::json;
        const TEXT: [&str; 9] = [
            "plain",
            "a \"quote\"",
            "back\\slash",
            "line\nbreak\t",
            "caf\u{e9}",
            "\u{1F600}",
            "ctl\u{1}",
            "sl/ash",
            "",
        ];
        const KEYS: [&str; 8] = [
            "resource_id",
            "message_id",
            "traits",
            "name",
            "id",
            "x",
            "caf\u{e9}",
            "q\"k",
        ];
        match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
            0 => json!(TEXT[rng.random_range(0..TEXT.len())]),
            1 => json!(rng.random_range(-1_000_000i64..1_000_000)),
            2 => json!(rng.random_range(-1e9..1e9f64)),
            3 => json!(rng.random_bool(0.5)),
            4 => serde_json::Value::Null,
            5 => (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
            _ => (0..rng.random_range(0..4))
                .map(|_| {
                    (
                        KEYS[rng.random_range(0..KEYS.len())].to_owned(),
                        random_value(rng, depth - 1),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// Python's `json.dumps` (ensure_ascii): non-ASCII as `\uXXXX`, surrogate pairs beyond the BMP.
    fn ensure_ascii(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c);
            } else {
                for u in c.encode_utf16(&mut [0; 2]) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        out
    }

    #[test]
    fn the_fast_path_reads_exactly_what_the_full_parse_reads() {
        use rand::{Rng, SeedableRng};
        let rk = RunKey::new(11);
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut scanned, cases) = (0, 2000);
        for case in 0..cases {
            let records: Vec<serde_json::Value> = (0..rng.random_range(1..6))
                .map(|i| {
                    let mut r = serde_json::Map::new();
                    let put = |r: &mut serde_json::Map<_, _>, k: &str, v| {
                        r.insert(k.to_owned(), v);
                    };
                    let id = |rng: &mut rand::rngs::StdRng| match rng.random_range(0..8) {
                        0 => serde_json::Value::Null,
                        1 => random_value(rng, 1),
                        2 | 3 => serde_json::json!(format!("plain-{i}")),
                        _ => serde_json::json!(key(&rk, case * 10 + i)),
                    };
                    for k in ["counter_name", "name", "resource_id", "message_id", "id"] {
                        if rng.random_bool(0.5) {
                            let v = id(&mut rng);
                            put(&mut r, k, v);
                        }
                    }
                    if rng.random_bool(0.3) {
                        let v = if rng.random_bool(0.2) {
                            serde_json::Value::Null
                        } else {
                            random_value(&mut rng, 2)
                        };
                        put(&mut r, "traits", v);
                    }
                    for _ in 0..rng.random_range(0..4) {
                        let v = random_value(&mut rng, 3);
                        put(
                            &mut r,
                            ["resource_metadata", "counter_volume", "raw", "x"][rng.random_range(0..4)],
                            v,
                        );
                    }
                    r.into()
                })
                .collect();
            let mut inner = serde_json::json!({"message_id": "m", "publisher_id": "p", "event_type": "metering",
                "priority": "SAMPLE", "payload": records, "timestamp": "t"});
            // Now and then a notification the full parse reads differently: without an
            // event_type, it is itself the record.
            match case % 13 {
                0 => inner["event_type"] = serde_json::Value::Null,
                1 => drop(inner.as_object_mut().map(|o| o.remove("event_type"))),
                2 => inner["message_id"] = random_value(&mut rng, 1),
                _ => {}
            }
            let text = match case % 3 {
                0 => serde_json::to_string(&inner),
                1 => serde_json::to_string_pretty(&inner),
                _ => serde_json::to_string(&inner).map(|t| ensure_ascii(&t)),
            }
            .expect("inner");
            let mut body = Vec::new();
            wire::envelope(&text, &mut body);
            let mut keys = Vec::new();
            let mut scratch = Scratch::default();
            let full = parse_full(&body, &mut scratch);
            if scan::envelope_records(&body, &mut keys).is_none() {
                continue;
            }
            scanned += 1;
            let Parsed::Records(records) = full else {
                panic!("the fast path read records the full parse does not see: {text}");
            };
            let full_keys: Vec<Keys<'_>> = records.iter().map(Record::keys).collect();
            assert_eq!(keys, full_keys, "{text}");
        }
        // Most messages have every record keyed by a plain string: the fast path reads them.
        assert!(scanned > cases / 10, "scanned {scanned} of {cases}");
    }

    #[test]
    fn a_republished_notification_and_file_lines_are_counted() {
        let (rk, mut tally) = setup(Expect::One);
        let k = key(&rk, 0);
        let inner = serde_json::json!({"message_id": k, "event_type": "compute.instance.create.end",
            "payload": {"instance_id": "i", "metadata": {}}, "priority": "INFO"});
        let mut body = Vec::new();
        wire::envelope(&inner.to_string(), &mut body);
        ingest(&body, &rk, &mut tally, 1, &mut Scratch::default());
        let line = format!(
            r#"{{"name": "vcpus", "resource_id": "{}", "id": "x"}}"#,
            key(&rk, 1)
        );
        ingest(line.as_bytes(), &rk, &mut tally, 1, &mut Scratch::default());
        ingest(b"not json", &rk, &mut tally, 1, &mut Scratch::default());
        ingest(
            br#"[{"counter_name": "cpu", "resource_id": "someone-else"}]"#,
            &rk,
            &mut tally,
            1,
            &mut Scratch::default(),
        );
        let r = tally.finish(2, &[]);
        assert_eq!((r.other_out, r.samples_out, r.messages_complete), (1, 1, 2));
        assert_eq!((r.undecodable_out, r.foreign_out), (1, 1));
    }
}

#[cfg(test)]
mod file_tests {
    use super::*;
    use crate::generate::Mix;
    use crate::key::Stamp;
    use crate::tally::Expect;
    use crate::template;
    use std::io::Write;

    #[tokio::test]
    async fn a_file_publishers_lines_are_followed_as_they_are_written() {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse("all", &t, 1).expect("mix");
        let run = RunKey::new(99);
        let shared = Arc::new(Shared {
            tally: Mutex::new(Tally::new(Expect::One, &t, mix)),
            last_output_us: AtomicU64::new(0),
            t0: Instant::now(),
            run,
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("samples.json");
        let key = |seq| String::from_utf8(run.encode(Stamp { seq, sent_us: 0 }).to_vec()).expect("ascii");
        let mut f = std::fs::File::create(&path).expect("create");
        // Written before the run: skipped.
        writeln!(f, r#"{{"name": "cpu", "resource_id": "{}"}}"#, key(7)).expect("write");
        f.flush().expect("flush");
        let task = tokio::spawn(follow_file(path.clone(), shared.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        writeln!(f, r#"{{"name": "cpu", "resource_id": "{}"}}"#, key(0)).expect("write");
        write!(f, r#"[{{"counter_name": "cpu", "resource_id": "{}"}}"#, key(1)).expect("write");
        f.flush().expect("flush");
        tokio::time::sleep(Duration::from_millis(100)).await;
        writeln!(f, "]").expect("write");
        f.flush().expect("flush");
        let until = Instant::now() + Duration::from_secs(5);
        while shared.tally.lock().map(|t| t.completed()).unwrap_or(0) < 2 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        let r = shared.tally.lock().expect("lock").finish(2, &[]);
        assert_eq!((r.messages_complete, r.undecodable_out, r.samples_out), (2, 0, 2));
    }
}

#[cfg(test)]
mod speed {
    use super::*;
    use crate::generate::Mix;
    use crate::key::Stamp;
    use crate::tally::Expect;
    use crate::template;

    /// `cargo test --release -p loadgen --lib collector_speed -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn collector_speed() {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse("nova-create-end", &t, 1).expect("mix");
        let run = RunKey::new(3);
        let mut tally = Tally::new(Expect::Ceilometer, &t, mix);
        let n = 50_000u64;
        let bodies: Vec<Vec<u8>> = (0..n)
            .map(|seq| {
                let k = String::from_utf8(run.encode(Stamp { seq, sent_us: 0 }).to_vec()).expect("ascii");
                let samples: Vec<_> = super::tests::NOVA_CREATE_METERS
                    .iter()
                    .map(|m| {
                        serde_json::json!({"source": "openstack", "counter_name": m,
                        "counter_type": "gauge", "counter_unit": "MB", "counter_volume": 2048,
                        "user_id": "2a7b8c9d0e1f4a5b6c7d8e9f0a1b2c3d", "user_name": null,
                        "project_id": "8c1f6a3e2b7d4e9fa0c5b6d7e8f90a1b", "project_name": null,
                        "resource_id": k, "timestamp": "2025-03-14T09:01:23.147803+00:00",
                        "resource_metadata": {"host": "compute-0.example.org", "flavor_id": "2",
                            "flavor_name": "m1.small", "display_name": "web-01",
                            "image_ref": "6f3c1a2b-9d8e-4f70-a1b2-c3d4e5f60718",
                            "image_meta": {"base_image_ref": "6f3c1a2b", "container_format": "bare",
                                "disk_format": "qcow2", "min_disk": "1", "min_ram": "0"},
                            "launched_at": "2025-03-14T08:58:41.000000",
                            "created_at": "2025-03-14 08:58:03+00:00",
                            "user_metadata": {"stack": "f4c1a9e0-stack", "server_group": "web"}},
                        "message_id": "0d3b3a7e-0000-11f0-9e8b-0242ac120002", "monotonic_time": null,
                        "message_signature":
                            "3aca9cb190d5b647eca4292ffa777f5c981192414e8ee2cad94fc42abea74405"})
                    })
                    .collect();
                let inner = serde_json::json!({"message_id": "m", "publisher_id": "telemetry.publisher.h",
                    "event_type": "metering", "priority": "SAMPLE", "payload": samples, "timestamp": "t"});
                let mut b = Vec::new();
                crate::wire::envelope(&inner.to_string(), &mut b);
                b
            })
            .collect();
        let start = Instant::now();
        let mut scratch = Scratch::default();
        for b in &bodies {
            ingest(b, &run, &mut tally, 1, &mut scratch);
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{} bodies of {} B, 5 samples each: {:.0} samples/s",
            n,
            bodies[0].len(),
            5.0 * n as f64 / s
        );
        assert_eq!(tally.finish(n, &[]).samples_out, 5 * n);
    }
}
