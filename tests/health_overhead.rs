//! Instrumentation cost against the work it instruments: everything a delivery batch
//! records on its way through the agent (listener, converter, pipeline, publisher, ack,
//! actor mailboxes) must cost under 5% of converting that batch.
//!
//! The batch is the public corpus (Ceilometer's real notification bodies, converted with the
//! shipped meters.yaml), the same input as benches/conversion.rs. Both sides are timed
//! separately, best of several rounds, so the ratio does not drown in scheduling noise. The
//! full "agent + traffic" overhead bench needs the actor runtime and belongs beside it.

mod health_support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ceilo::convert::Converter;
use ceilo::model::envelope::Decoder;
use ceilo::telemetry;
use ceilo::telemetry::handles::*;
use ceilo::telemetry::metrics::ActorKind;

fn corpus_bodies() -> Option<Vec<Vec<u8>>> {
    let reference = std::env::var_os("CEILO_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ceilometer-reference"));
    let path = reference.join("corpus/public.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: no corpus at {} (set CEILO_REFERENCE_DIR)",
            path.display()
        );
        return None;
    };
    let bodies = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let case: serde_json::Value = serde_json::from_str(l).expect("corpus line");
            serde_json::to_vec(&case["wire"]).expect("wire body")
        })
        .collect();
    Some(bodies)
}

/// Best (shortest) time of `rounds` runs of `f`, each run repeating it `reps` times.
fn best_per_call(rounds: usize, reps: usize, mut f: impl FnMut()) -> Duration {
    (0..rounds)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..reps {
                f();
            }
            started.elapsed() / reps as u32
        })
        .min()
        .unwrap_or_default()
}

#[test]
fn instrumenting_a_batch_costs_under_five_percent_of_converting_it() {
    let Some(bodies) = corpus_bodies() else { return };
    let _telemetry = telemetry::start("127.0.0.1:0".parse().expect("literal")).expect("start telemetry");
    let meters = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/meters.d");
    let (converter, _) = Converter::load(&meters).expect("shipped meters load");
    let mut decoder = Decoder::new();
    let mut buf = Vec::with_capacity(64 * 1024);

    let mut samples = 0;
    let convert = best_per_call(5, 3, || {
        samples = 0;
        for body in &bodies {
            buf.clear();
            buf.extend_from_slice(body);
            if let Ok(converted) = converter.convert(&mut decoder, &mut buf) {
                samples += converted.samples.len();
            }
        }
    });
    assert!(samples > 0, "the corpus converts into samples");

    let queue = "health.overhead";
    let listener = ListenerMetrics::new(queue);
    let conversion = ConverterMetrics::new(queue);
    let pipeline = PipelineMetrics::new();
    let publisher = PublisherMetrics::new("overhead_sink", "notifier");
    let actors: Vec<ActorMetrics> = [ActorKind::Converter, ActorKind::Pipeline, ActorKind::Publisher]
        .into_iter()
        .map(|kind| ActorMetrics::new(kind, "0", 64))
        .collect();
    let n = bodies.len();
    let oldest = ceilo::model::timestamp::Timestamp::now_utc();
    let instrument = best_per_call(5, 2000, || {
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
            actor.enqueued();
            actor.dequeued();
        }
        let age = age_since(&oldest);
        publisher.confirmed(Payload::Samples, samples, started.elapsed(), Some(age));
        listener.acked(n);
    });

    let ratio = instrument.as_secs_f64() / convert.as_secs_f64();
    eprintln!(
        "batch of {n} notifications ({samples} samples): convert {convert:?}, instrument {instrument:?}, \
         overhead {:.3}%",
        ratio * 100.0
    );
    assert!(
        ratio < 0.05,
        "instrumentation costs {:.2}% of conversion",
        ratio * 100.0
    );
}
