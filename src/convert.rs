//! One AMQP body in, the samples and events Ceilometer would produce out.
//!
//! Contract (the lead fills in the bodies):
//! * `Converter` is immutable after construction and shared between workers (`Arc<Converter>`);
//!   each worker owns a [`Decoder`] it reuses.
//! * `convert` routes by priority as Ceilometer does: info → samples and events,
//!   sample → samples only, error → events only, anything else → nothing.
//! * `Err(ConvertError::Envelope)` is a body that is not a notification;
//!   `Err(ConvertError::Endpoint)` is a notification on which a Ceilometer endpoint raises
//!   (oslo would requeue it forever; ceilo dead-letters it with this reason).

use crate::model::envelope::{Decoder, EnvelopeError};
use crate::model::{Event, Sample};

/// What one notification turns into.
#[derive(Debug, Default)]
pub struct Converted {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("{event_type}: {reason}")]
    Endpoint { event_type: String, reason: String },
}

/// The compiled meter and event definitions.
pub struct Converter {}

impl Converter {
    pub fn convert(&self, decoder: &mut Decoder, body: &mut [u8]) -> Result<Converted, ConvertError> {
        let _ = decoder.decode(body)?;
        Ok(Converted::default())
    }
}
