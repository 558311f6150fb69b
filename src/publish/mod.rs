//! Publishers (`notifier://`, `file://`, `http(s)://`, `prometheus://`, `udp://`, `tcp://`,
//! `opentelemetryhttp://`, `gnocchi://`, the dead-letter queue): their URLs and their
//! [`Output`]s, which encode a flush and make it durable (broker confirm, write+fsync).
//!
//! Not here: batching, retrying and acking. Every publisher runs as one
//! `agent::publisher::PublisherActor` around its `Output` (the runtime's); the actor holds the
//! ack tokens, so an `Output` sees only plain data.

pub mod dead_letter;
pub mod file;
pub mod gnocchi;
pub mod http;
pub mod notifier;
pub mod otlp;
pub mod partition;
pub mod prometheus;
pub mod tcp;
pub mod telemetry_polling;
pub mod udp;
pub mod url;
pub mod zaqar;

use std::sync::Arc;

use crate::model::{Event, Sample};
use crate::transport::{BoxFuture, TransportError};

pub use url::{PublisherUrl, UrlError};

/// A delivery that could not be decoded or converted, on its way to the dead-letter queue.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub body: Vec<u8>,
    pub reason: String,
    /// The reason's kind, for `ceilo_notifications_dead_lettered_total{reason}`.
    pub kind: crate::telemetry::metrics::RejectReason,
    pub exchange: String,
    pub routing_key: String,
    /// The delivery's AMQP properties and headers, as published.
    pub properties: crate::transport::Properties,
}

/// Samples, events and dead letters: what the converter makes of a delivery batch, what the
/// pipeline hands each publisher, and what one flush of a publisher holds. Plain data; the ack
/// token travels beside it, never inside.
#[derive(Debug, Default)]
pub struct Items {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    pub dead: Vec<DeadLetter>,
}

impl Items {
    pub fn len(&self) -> usize {
        self.samples.len() + self.events.len() + self.dead.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Move `other`'s items after this one's.
    pub fn append(&mut self, other: Items) {
        self.samples.extend(other.samples);
        self.events.extend(other.events);
        self.dead.extend(other.dead);
    }
}

impl From<Vec<Sample>> for Items {
    fn from(samples: Vec<Sample>) -> Items {
        Items {
            samples,
            ..Items::default()
        }
    }
}

impl From<Vec<Event>> for Items {
    fn from(events: Vec<Event>) -> Items {
        Items {
            events,
            ..Items::default()
        }
    }
}

impl From<Vec<DeadLetter>> for Items {
    fn from(dead: Vec<DeadLetter>) -> Items {
        Items {
            dead,
            ..Items::default()
        }
    }
}

/// Why a flush is not durable (yet).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0}")]
    Encode(String),
    #[error(transparent)]
    Gnocchi(#[from] gnocchi::client::Unavailable),
    #[error("{url}: {reason}")]
    Http { url: String, reason: String },
}

impl PublishError {
    /// What went wrong, without where: the URL, path or resource that each attempt names. Two
    /// failures with one cause are one problem to an operator (see `agent::outage`).
    pub fn cause(&self) -> String {
        match self {
            PublishError::Transport(TransportError::Amqp { source, .. }) => source.to_string(),
            PublishError::Transport(e) => e.to_string(),
            PublishError::Io { source, .. } => source.to_string(),
            PublishError::Encode(e) => e.clone(),
            PublishError::Gnocchi(e) => e.reason.clone(),
            PublishError::Http { reason, .. } => reason.clone(),
        }
    }
}

/// Makes an encoded flush durable; called again (after a backoff) when it fails.
pub type Write = Arc<dyn Fn() -> BoxFuture<'static, Result<(), PublishError>> + Send + Sync>;

/// The encoding and the durable write of one kind of publisher.
pub trait Output: Send + 'static {
    /// For logs and metrics labels.
    fn name(&self) -> &str;
    /// Encode a flush (on a worker thread, one flush at a time per instance) and return the
    /// write that makes it durable.
    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError>;
    /// Another instance that encodes exactly as this one and writes to the same place (the
    /// same connection), so that flushes can be encoded in parallel. `None` (the default) when
    /// flushes must go through one instance (a file to rotate, state carried between flushes).
    fn fork(&self) -> Option<Box<dyn Output>> {
        None
    }
}

/// Test data recorded from Ceilometer 27's own publishers (`tests/fixtures/publishers/`, made
/// by its `record_ceilometer.py`).
#[cfg(test)]
pub(crate) mod fixtures {
    use simd_json::prelude::*;

    use crate::model::{OwnedValue, Sample};

    pub fn read(name: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/publishers/");
        std::fs::read_to_string(format!("{path}{name}")).expect(name)
    }

    pub fn json(name: &str) -> OwnedValue {
        simd_json::to_owned_value(&mut read(name).into_bytes()).expect(name)
    }

    /// `samples.json`: the samples every recording was made from.
    pub fn samples() -> Vec<Sample> {
        let rows = json("samples.json");
        let rows = rows.as_array().expect("a list");
        rows.iter().map(crate::model::sample::sample_from_dict).collect()
    }

    /// `events.json`: the events the file publisher's recordings were made from (traits as
    /// `[name, dtype, value]`, datetimes as ISO text).
    pub fn events() -> Vec<crate::model::Event> {
        use crate::model::{Trait, TraitValue};
        let when = |v: &OwnedValue| {
            let text = v.as_str().expect("a datetime");
            crate::model::py::datetime::parse_isotime_utc(text).expect(text)
        };
        let rows = json("events.json");
        let rows = rows.as_array().expect("a list");
        rows.iter()
            .map(|r| crate::model::Event {
                message_id: r.get_str("message_id").map(str::to_owned),
                event_type: r.get_str("event_type").expect("event_type").to_owned(),
                generated: when(r.get("generated").expect("generated")),
                traits: r
                    .get_array("traits")
                    .expect("traits")
                    .iter()
                    .map(|t| {
                        let (name, value) = (
                            t.get_idx(0).and_then(|n| n.as_str()).expect("name"),
                            t.get_idx(2).expect("value"),
                        );
                        let text = || value.as_str().expect("text").to_owned();
                        let value = match t.get_idx(1).and_then(|d| d.as_u64()).expect("dtype") {
                            0 => TraitValue::Untyped(text()),
                            1 => TraitValue::Text(text()),
                            2 => TraitValue::Int(value.as_i64().expect("int")),
                            3 => TraitValue::Float(value.as_f64().expect("float")),
                            _ => TraitValue::Datetime(when(value)),
                        };
                        Trait {
                            name: name.into(),
                            value,
                        }
                    })
                    .collect(),
                raw: r.get("raw").cloned().expect("raw"),
            })
            .collect()
    }

    /// The `(path, content type, body)` of each request a recording holds.
    pub fn posts(name: &str) -> Vec<(String, String, String)> {
        let posts = json(name);
        posts
            .as_array()
            .expect("a list")
            .iter()
            .map(|p| {
                let s = |k: &str| p.get_str(k).expect(k).to_owned();
                (s("path"), s("content_type"), s("body"))
            })
            .collect()
    }
}
