//! One AMQP body in, the samples and events Ceilometer would produce out.
//!
//! * `Converter` is immutable after construction and shared between workers (`Arc<Converter>`);
//!   each worker owns a [`Decoder`] it reuses.
//! * `convert` routes by priority as Ceilometer does: info → samples and events,
//!   sample → samples only, error → events only, another of oslo's priorities → nothing. A
//!   priority oslo does not know, or none (a `{"oslo.version": "2.0"}` body without
//!   `oslo.message` is such a message: oslo reads it as a bare 1.0 one), oslo's dispatcher logs
//!   (`Unknown priority ""`) and acks: so does `convert`, flagging it `unknown_priority`.
//! * Samples whose volume the pipeline would drop (null, or a string `float()` rejects) come
//!   back in `dropped_samples`, so callers can count them.
//! * `Err(ConvertError::Envelope)` is a body that is not a notification;
//!   `Err(ConvertError::Endpoint)` is a notification on which a Ceilometer endpoint raises
//!   (oslo would requeue it forever; ceilo dead-letters it with this reason). Either way the
//!   notification yields nothing, events included, as in Ceilometer.

use std::path::Path;

use crate::event::{DropReason, EventDefinitions, EventOutcome};
use crate::meter::volume::{self, VolumeCheck};
use crate::meter::{DefinitionProblem, EndpointError, LoadError, MeterDefinitions, SampleEndpoints};
use crate::model::envelope::{Decoder, EnvelopeError};
use crate::model::{Event, Priority, Sample};

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
}

/// The compiled meter and event definitions.
pub struct Converter {
    samples: SampleEndpoints,
    events: Option<EventDefinitions>,
}

impl Converter {
    /// Samples only (no event definitions loaded: no events).
    pub fn new(meters: MeterDefinitions) -> Converter {
        Converter {
            samples: SampleEndpoints::new(meters),
            events: None,
        }
    }

    /// Also produce events, as Ceilometer's event endpoint does.
    pub fn with_events(mut self, events: EventDefinitions) -> Converter {
        self.events = Some(events);
        self
    }

    /// Load meter definitions from a meters.yaml file or a meters.d directory. Definitions that
    /// do not compile are skipped and returned as problems (as Ceilometer logs and skips them).
    pub fn load(meters: &Path) -> Result<(Converter, Vec<DefinitionProblem>), LoadError> {
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
        self.samples.to_samples(&notification, &mut out.samples)?;
        split_unpublishable(&mut out).map_err(|reason| EndpointError::new(&notification, reason))?;
        // The event endpoint runs after the sample endpoints, and only when they did not raise.
        if let Some(events) = &self.events {
            match events.to_event(&notification) {
                EventOutcome::Event(e) => out.events.push(e),
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

/// Apply the pipeline's volume check: drop what it drops, fail where it raises.
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
