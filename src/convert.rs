//! One AMQP body in, the samples and events Ceilometer would produce out.
//!
//! * `Converter` is immutable after construction and shared between workers (`Arc<Converter>`);
//!   each worker owns a [`Decoder`] it reuses.
//! * `convert` routes by priority as Ceilometer does: info → samples and events,
//!   sample → samples only, error → events only, another of oslo's priorities → nothing. A
//!   priority oslo does not know, or none (a `{"oslo.version": "2.0"}` body without
//!   `oslo.message` is such a message: oslo reads it as a bare 1.0 one), oslo's dispatcher logs
//!   (`Unknown priority ""`) and acks: so does `convert`, flagging it `unknown_priority`.
//! * Ceilometer's pipeline volume check (`_validate_volume`, [`crate::meter::volume`]) runs
//!   here, not in ceilo's pipeline: samples whose volume it would drop (null, or a string
//!   `float()` rejects) come back in `dropped_samples`, so callers can count them.
//! * `Err(ConvertError::Envelope)` is a body that is not a notification;
//!   `Err(ConvertError::Endpoint)` is a notification on which a Ceilometer endpoint raises
//!   (oslo would requeue it forever; ceilo dead-letters it with this reason). Either way the
//!   notification yields nothing, events included, as in Ceilometer.
//! * `Err(ConvertError::Output)`: its samples and events would take more than the output limit
//!   (`notification.max_output_bytes`, estimated as they are made, see
//!   [`crate::model::output_size`]). Ceilometer has no such limit: a meter without a `metadata:`
//!   spec copies the whole payload into every sample, and a meter over a list makes a sample
//!   per element, so N elements in a payload of P bytes write N × P. Conversion stops when the
//!   limit is passed and the notification yields nothing.

use std::path::Path;

use crate::event::{DropReason, EventDefinitions, EventOutcome};
use crate::meter::volume::{self, VolumeCheck};
use crate::meter::{EndpointError, MeterDefinitions, SampleEndpoints};
use crate::model::envelope::{Decoder, EnvelopeError};
use crate::model::output_size::{Measure, OutputBudget};
use crate::model::{Event, Priority, Sample};
use crate::problem::Problem;

/// `notification.max_output_bytes` unless configured: 16 MiB of samples and events from one
/// notification. The reference corpus' largest makes 7.5 KB; the fuzzer's first amplifying input
/// (163 KB) made 248 MB.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 << 20;

/// What one notification turns into.
#[derive(Debug, Default)]
pub struct Converted {
    pub samples: Vec<Sample>,
    /// Samples the pipeline drops for their volume (Ceilometer logs and drops them).
    pub dropped_samples: Vec<Sample>,
    pub events: Vec<Event>,
    /// Events Ceilometer's event endpoint fails on (a trait that cannot be coerced, an
    /// unparsable timestamp): logged and counted; the notification is still acked.
    pub dropped_events: Vec<DropReason>,
    /// oslo's `_unique_id`, for the listener's duplicate detection ([`crate::agent::duplicates`]).
    pub unique_id: Option<String>,
    /// No endpoint saw it: its priority is none oslo knows (see the module docs).
    pub unknown_priority: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Output(#[from] OutputLimit),
}

/// A notification whose samples and events came to more than the output limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "too much output: {samples} samples and {events} events came to {bytes} bytes of JSON \
     when conversion stopped, over notification.max_output_bytes ({limit})"
)]
pub struct OutputLimit {
    /// Made when conversion stopped (the first that went over included).
    pub samples: usize,
    pub events: usize,
    /// Their estimated JSON size.
    pub bytes: usize,
    pub limit: usize,
}

/// The compiled meter and event definitions, and the output limit.
pub struct Converter {
    /// None: no meter pipeline (`[notification] pipelines` without `meter`).
    samples: Option<SampleEndpoints>,
    events: Option<EventDefinitions>,
    /// Bytes of samples and events one notification may make; 0: no limit.
    max_output_bytes: usize,
    /// `[notification] ack_on_event_error`: false makes a notification whose event cannot be
    /// made an endpoint error (dead-lettered), instead of one acked without its event.
    ack_on_event_error: bool,
}

impl Converter {
    /// Samples only (no event definitions loaded: no events).
    pub fn new(meters: MeterDefinitions) -> Converter {
        Converter {
            samples: Some(SampleEndpoints::new(meters)),
            events: None,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            ack_on_event_error: true,
        }
    }

    /// Events only: no sample endpoint runs (Ceilometer's event pipeline manager alone).
    pub fn events_only(events: EventDefinitions) -> Converter {
        Converter {
            samples: None,
            events: Some(events),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            ack_on_event_error: true,
        }
    }

    /// The output limit (`notification.max_output_bytes`; 0: none).
    pub fn with_max_output_bytes(mut self, bytes: usize) -> Converter {
        self.max_output_bytes = bytes;
        self
    }

    /// Which user metadata samples keep (`reserved_metadata_*`; Ceilometer's defaults
    /// otherwise).
    pub fn with_reserved_metadata(mut self, reserved: crate::meter::ReservedMetadata) -> Converter {
        self.samples = self.samples.map(|s| s.with_reserved_metadata(reserved));
        self
    }

    /// What a notification whose event cannot be made becomes (Ceilometer's
    /// `[notification] ack_on_event_error`): true, Ceilometer's default, converts it without
    /// its event (the caller acks it); false fails it with [`ConvertError::Endpoint`] (the
    /// caller dead-letters it), where Ceilometer requeues it and gets it back forever.
    pub fn with_ack_on_event_error(mut self, ack: bool) -> Converter {
        self.ack_on_event_error = ack;
        self
    }

    /// Also produce events, as Ceilometer's event endpoint does.
    pub fn with_events(mut self, events: EventDefinitions) -> Converter {
        self.events = Some(events);
        self
    }

    /// Load meter definitions from a meters.yaml file or a meters.d directory. Definitions that
    /// do not compile are skipped and returned as problems (as Ceilometer logs and skips them).
    pub fn load(meters: &Path) -> Result<(Converter, Vec<Problem>), Problem> {
        let (meters, problems) = MeterDefinitions::load(meters)?;
        Ok((Converter::new(meters), problems))
    }

    pub fn convert(&self, decoder: &mut Decoder, body: &[u8]) -> Result<Converted, ConvertError> {
        let mut notification = decoder.decode(body)?;
        let mut out = Converted {
            unique_id: notification.unique_id.take(),
            ..Converted::default()
        };
        if notification.priority == Priority::Unknown {
            tracing::warn!(
                event_type = notification.event_type().unwrap_or(""),
                publisher_id = notification.publisher_id().unwrap_or(""),
                message_id = notification.message_id().unwrap_or(""),
                "Unknown priority: the notification is acked unprocessed, as oslo's dispatcher does"
            );
            out.unknown_priority = true;
            return Ok(out);
        }
        // Upper bounds first, which cost little; the exact count only when they go over. Makers
        // stop once a budget is over, and a bound goes over no later than the exact count: an
        // endpoint error met within bounds is met exactly, and samples cut short by their bounds
        // are made again, counted exactly, so a refusal and its figures are the exact count's.
        let mut budget = OutputBudget::bounded(self.max_output_bytes);
        if let Some(samples) = &self.samples {
            samples.to_samples(&notification, &mut out.samples, &mut budget)?;
            if budget.exceeded() {
                out.samples.clear();
                budget = OutputBudget::new(self.max_output_bytes);
                samples.to_samples(&notification, &mut out.samples, &mut budget)?;
            }
        }
        over_limit(&out, &budget)?;
        split_unpublishable(&mut out).map_err(|reason| EndpointError::new(&notification, reason))?;
        // The event endpoint runs after the sample endpoints, and only when they did not raise.
        if let Some(events) = &self.events {
            match events.to_event(&notification) {
                EventOutcome::Event(mut e) => {
                    if let Some(samples) = &self.samples {
                        samples.mark_raw(&notification, &mut e.raw);
                    }
                    budget.charge(crate::event::message::message_len_by(&e, budget.measure()));
                    if budget.exceeded() && budget.measure() == Measure::Bound {
                        // Every sample was made: count them exactly, and the event.
                        budget = OutputBudget::new(self.max_output_bytes);
                        crate::meter::charge(&out.samples, &mut budget);
                        crate::meter::charge(&out.dropped_samples, &mut budget);
                        budget.charge(crate::event::message::message_len(&e));
                    }
                    out.events.push(e);
                    over_limit(&out, &budget)?;
                }
                EventOutcome::Dropped(reason) if !self.ack_on_event_error => {
                    return Err(EndpointError::new(&notification, reason.to_string()).into());
                }
                EventOutcome::Dropped(reason) => {
                    tracing::warn!("Fail to process a notification: {reason}");
                    out.dropped_events.push(reason);
                }
                EventOutcome::NotRouted | EventOutcome::Unmatched => {}
            }
        }
        Ok(out)
    }
}

/// The error for `out` once `budget` is over.
fn over_limit(out: &Converted, budget: &OutputBudget) -> Result<(), OutputLimit> {
    if !budget.exceeded() {
        return Ok(());
    }
    Err(OutputLimit {
        samples: out.samples.len() + out.dropped_samples.len(),
        events: out.events.len(),
        bytes: budget.used(),
        limit: budget.limit(),
    })
}

/// Apply Ceilometer's pipeline volume check: drop what it drops, fail where it raises.
fn split_unpublishable(out: &mut Converted) -> Result<(), String> {
    let mut raise = None;
    out.samples.retain(|s| match volume::check(&s.volume) {
        VolumeCheck::Publishable => true,
        VolumeCheck::Drop(why) => {
            tracing::warn!(meter = &*s.name, resource = %s.resource_id, "{why}, the sample will be dropped");
            out.dropped_samples.push(s.clone());
            false
        }
        VolumeCheck::Raise => {
            raise.get_or_insert_with(|| {
                format!(
                    "float() argument must be a string or a real number, not volume {}",
                    s.volume
                )
            });
            false
        }
    });
    match raise {
        Some(e) => {
            out.samples.clear();
            out.dropped_samples.clear();
            Err(e)
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use simd_json::prelude::*;

    use super::*;
    use crate::model::meter_message::write_meter_message_list;
    use crate::model::signature::Signer;

    fn shipped() -> Converter {
        let meters = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/meters.d");
        Converter::load(&meters).expect("shipped meters.d").0
    }

    /// An oslo 2.0 body around the notification `inner`.
    fn body(inner: serde_json::Value) -> Vec<u8> {
        serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()})
            .to_string()
            .into_bytes()
    }

    /// magnum's meter has no `metadata:` spec and makes a sample per metric: every sample
    /// carries the whole payload, `pad` included.
    fn magnum(metrics: usize, pad: usize) -> Vec<u8> {
        let metrics: Vec<_> = (0..metrics)
            .map(|i| serde_json::json!({"name": format!("m{i}"), "unit": "%", "value": i}))
            .collect();
        body(serde_json::json!({
            "message_id": "m", "publisher_id": "magnum.conductor-0", "priority": "INFO",
            "event_type": "magnum.bay.metrics.update", "timestamp": "2025-03-14 10:49:19.833031",
            "payload": {"user_id": "u", "project_id": "p", "resource_id": "r", "metrics": metrics,
                        "pad": "x".repeat(pad)}
        }))
    }

    fn written(samples: &[Sample]) -> usize {
        let mut out = Vec::new();
        write_meter_message_list(&mut out, samples, &mut Signer::new(b"s"));
        out.len()
    }

    #[test]
    fn a_payload_copied_into_a_sample_per_list_element_is_refused_once_over_the_limit() {
        let amplifying = magnum(200, 20_000);
        let unlimited = shipped().with_max_output_bytes(0);
        let all = unlimited
            .convert(&mut Decoder::new(), &amplifying)
            .expect("no limit: Ceilometer's behaviour");
        assert_eq!(all.samples.len(), 200);
        let size = written(&all.samples);
        assert!(size > 200 * 20_000, "{size}");

        let limited = shipped().with_max_output_bytes(1 << 20);
        let err = limited
            .convert(&mut Decoder::new(), &amplifying)
            .expect_err("over 1 MiB");
        let ConvertError::Output(over) = &err else {
            panic!("{err}")
        };
        assert_eq!(over.limit, 1 << 20);
        // Conversion stopped at the sample that went over, not after all 200; with no floats
        // in them, what was counted is what they write.
        let (mut total, mut made) = (0, 0);
        for s in &all.samples {
            total += written(std::slice::from_ref(s));
            made += 1;
            if total > over.limit {
                break;
            }
        }
        assert_eq!((over.samples, over.bytes), (made, total), "{err}");
        assert!(made < 200);
        assert!(
            err.to_string().starts_with("too much output: ")
                && err
                    .to_string()
                    .contains("notification.max_output_bytes (1048576)"),
            "{err}"
        );
        // The same notification with a short list is within the limit.
        let fine = limited
            .convert(&mut Decoder::new(), &magnum(3, 20_000))
            .expect("3 samples");
        assert_eq!(fine.samples.len(), 3);
    }

    /// The fuzzer's seed 2, input 52,269: `cpu.iowait.percent`'s definition multiplies the
    /// value by 100, which repeats a string (Python's `str * int`, as Ceilometer's jsonpath
    /// does). 18,494 emoji × 100 are 7.4 MB of text, which `json.dumps` writes as 22 MB of
    /// `\ud83d\ude00`: the limit counts what is written, escapes included.
    #[test]
    fn a_string_repeated_by_its_definition_is_counted_at_its_written_size() {
        let metric = |name: &str, value: serde_json::Value| {
            serde_json::json!({"name": name, "source": "libvirt.LibvirtDriver",
                               "timestamp": "2025-03-14T09:20:00.412233", "value": value})
        };
        let notification = body(serde_json::json!({
            "message_id": "m", "publisher_id": "compute.compute-0", "priority": "INFO",
            "event_type": "compute.metrics.update", "timestamp": "2025-03-14 09:29:45.353536",
            "payload": {"host": "compute-0", "nodename": "compute-0.example.org", "metrics": [
                metric("cpu.frequency", 2600.into()),
                metric("cpu.iowait.percent", "\u{1f600}".repeat(18_494).into()),
            ]}
        }));
        let all = shipped()
            .with_max_output_bytes(0)
            .convert(&mut Decoder::new(), &notification)
            .expect("no limit");
        // Not a number: dropped by the volume check, as Ceilometer drops it (with the other
        // cpu meters, which find no value here).
        let repeated: Vec<Sample> = all
            .dropped_samples
            .iter()
            .filter(|s| s.volume.as_str().is_some())
            .cloned()
            .collect();
        assert_eq!(repeated.len(), 1);
        let size = written(&repeated);
        assert!(size > 22_000_000, "{size}");
        let text_len = 18_494 * 4 * 100;
        assert!(
            text_len < DEFAULT_MAX_OUTPUT_BYTES,
            "its UTF-8 length alone is within the default"
        );

        let err = shipped()
            .convert(&mut Decoder::new(), &notification)
            .expect_err("over the default limit");
        let ConvertError::Output(over) = err else {
            panic!("{err}")
        };
        assert!(over.bytes >= size - 2, "counted {} of {size} written", over.bytes);
    }

    /// Samples are charged upper bounds first (six bytes per byte of text): 20 samples of
    /// 20 KB of ASCII are bounded at about six times what they write, and their exact count,
    /// not the bound, decides whether they are within the limit and what a refusal says.
    #[test]
    fn samples_over_the_limit_by_their_bound_only_are_converted() {
        use crate::model::meter_message::message_len;
        use crate::model::output_size::value_len;
        let notification = magnum(20, 20_000);
        let all = shipped()
            .with_max_output_bytes(0)
            .convert(&mut Decoder::new(), &notification)
            .expect("no limit");
        assert_eq!(all.samples.len(), 20);
        let exact: usize = all
            .samples
            .iter()
            .map(|s| message_len(s, value_len(&*s.resource_metadata)))
            .sum();
        let mut bound = OutputBudget::bounded(0);
        crate::meter::charge(&all.samples, &mut bound);
        assert!(bound.used() > 5 * exact, "{} for {exact}", bound.used());

        let within = shipped()
            .with_max_output_bytes(exact)
            .convert(&mut Decoder::new(), &notification)
            .expect("exactly at the limit");
        assert_eq!(within.samples.len(), 20);
        let err = shipped()
            .with_max_output_bytes(exact - 1)
            .convert(&mut Decoder::new(), &notification)
            .expect_err("a byte over");
        let ConvertError::Output(over) = err else {
            panic!("{err}")
        };
        assert_eq!((over.samples, over.events, over.bytes), (20, 0, exact));
    }
}

#[cfg(test)]
mod event_error_tests {
    use super::*;
    use crate::config::definitions::{SHIPPED_EVENTS, SHIPPED_EVENTS_NAME};

    fn converter(ack_on_event_error: bool) -> Converter {
        let meters = MeterDefinitions::from_texts(std::iter::empty::<(&Path, &str)>())
            .expect("no meters")
            .0;
        let events = EventDefinitions::parse(SHIPPED_EVENTS, SHIPPED_EVENTS_NAME).expect("shipped events");
        Converter::new(meters)
            .with_events(events)
            .with_ack_on_event_error(ack_on_event_error)
    }

    /// An info notification whose timestamp Ceilometer's event converter cannot parse.
    const BAD_TIMESTAMP: &str = r#"{"message_id": "m-1", "publisher_id": "p", "priority": "INFO", "event_type": "custom.thing", "timestamp": "yesterday", "payload": {}}"#;

    #[test]
    fn an_event_that_cannot_be_made_is_dropped_or_fails_the_notification() {
        let mut decoder = Decoder::default();
        // Ceilometer's default: the notification converts without its event (and is acked).
        let out = converter(true)
            .convert(&mut decoder, BAD_TIMESTAMP.as_bytes())
            .expect("converted");
        assert!(out.events.is_empty());
        assert_eq!(out.dropped_events.len(), 1);
        // false: the endpoint error that the agent dead-letters.
        match converter(false).convert(&mut decoder, BAD_TIMESTAMP.as_bytes()) {
            Err(ConvertError::Endpoint(e)) => {
                assert_eq!(e.event_type, "custom.thing");
                assert!(
                    e.reason
                        .contains("event custom.thing (message m-1) dropped: notification timestamp"),
                    "{e}"
                );
            }
            other => panic!("{other:?}"),
        }
        // A notification whose event is made is not affected.
        let good = BAD_TIMESTAMP.replace("yesterday", "2025-01-01 00:00:00");
        let out = converter(false)
            .convert(&mut decoder, good.as_bytes())
            .expect("converted");
        assert_eq!(out.events.len(), 1);
    }

    /// The event is charged its bound too; over the limit by it, the notification's samples
    /// and event are counted again exactly, and that count decides.
    #[test]
    fn an_event_over_the_limit_by_its_bound_only_is_converted() {
        let notification = serde_json::json!({
            "message_id": "m-2", "publisher_id": "p", "priority": "INFO",
            "event_type": "compute.instance.update", "timestamp": "2025-01-01 00:00:00",
            "payload": {"display_name": "x".repeat(20_000)}
        })
        .to_string();
        let made = converter(true)
            .convert(&mut Decoder::default(), notification.as_bytes())
            .expect("no limit");
        assert_eq!(made.events.len(), 1);
        let exact = crate::event::message::message_len(&made.events[0]);
        let bound = crate::event::message::message_len_by(&made.events[0], Measure::Bound);
        // Its text traits are cut at 255 characters, its bound about four times its size.
        assert!(bound > 2 * exact, "{bound} for {exact}");

        let within = converter(true)
            .with_max_output_bytes(exact)
            .convert(&mut Decoder::default(), notification.as_bytes())
            .expect("exactly at the limit");
        assert_eq!(within.events.len(), 1);
        let err = converter(true)
            .with_max_output_bytes(exact - 1)
            .convert(&mut Decoder::default(), notification.as_bytes())
            .expect_err("a byte over");
        let ConvertError::Output(over) = err else {
            panic!("{err}")
        };
        assert_eq!((over.samples, over.events, over.bytes), (0, 1, exact));
    }
}
