//! Publishers (`notifier://`, `file://`, `gnocchi://`, the dead-letter queue) and their batching.
//!
//! Every publisher is one [`batcher::PublisherActor`] around an [`Output`]: the actor batches
//! what the pipeline sends by size and time and retries a flush until it is durable; the
//! `Output` only knows how to encode a flush and make it durable (broker confirm, write+fsync).
//! A flush's [`AckToken`] shares are confirmed only when its write is; see [`crate::agent::ack`].

pub mod batcher;
pub mod dead_letter;
pub mod file;
pub mod gnocchi;
pub mod notifier;
pub mod partition;
pub mod url;

use std::sync::Arc;

use crate::agent::ack::AckToken;
use crate::model::{Event, Sample};
use crate::transport::{BoxFuture, TransportError};

pub use batcher::PublisherActor;
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

/// What a publisher is given: part of one delivery batch's output, and a share of its token.
#[derive(actix::Message)]
#[rtype(result = "()")]
pub struct PublishBatch {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    pub dead: Vec<DeadLetter>,
    pub token: AckToken,
}

/// Flush now and from now on flush every batch as it comes (shutdown).
#[derive(actix::Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct Drain;

/// What one flush holds.
#[derive(Debug, Default)]
pub struct Flush {
    pub samples: Vec<Sample>,
    pub events: Vec<Event>,
    pub dead: Vec<DeadLetter>,
}

impl Flush {
    pub fn len(&self) -> usize {
        self.samples.len() + self.events.len() + self.dead.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}

/// Makes an encoded flush durable; called again (after a backoff) when it fails.
pub type Write = Arc<dyn Fn() -> BoxFuture<'static, Result<(), PublishError>> + Send + Sync>;

/// The encoding and the durable write of one kind of publisher.
pub trait Output: Send + 'static {
    /// For logs and metrics labels.
    fn name(&self) -> &str;
    /// Encode a flush (on the actor's thread) and return the write that makes it durable.
    fn prepare(&mut self, flush: Flush) -> Result<Write, PublishError>;
}
