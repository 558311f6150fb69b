//! Transports behind one trait: `amqp://` (the production path) and `memory://`
//! (in-process, the embedded default, so `ceilo run` works with no broker).
//!
//! The trait is deliberately small: declare-and-consume a queue, settle delivery tags, read the
//! queue's backlog, publish a batch and learn when the broker has confirmed it. Topology (which exchanges, queues and
//! bindings) is data ([`QueueSpec`]); the agent never knows which transport it talks to.
//! Futures returned here are `Send + 'static` and must be polled on the process' main tokio
//! runtime (the agent spawns them there), never on an arbiter's private runtime.

pub mod amqp;
mod declare;
pub mod failover;
mod frames;
pub mod memory;
pub mod tls;
pub mod topic;
pub mod url;
mod wire;
mod wire_publish;

pub use failover::FailoverStrategy;

use lapin::types::{AMQPValue, LongString};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A transport failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("invalid transport URL {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("{context}: {source}")]
    Amqp { context: String, source: lapin::Error },
    #[error("broker refused message(s) published to {exchange}/{routing_key} (publisher nack)")]
    Nacked { exchange: String, routing_key: String },
    #[error("connection closed: {0}")]
    Closed(String),
    #[error("no node of the cluster answered: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(
        "{url}: the broker already has {} declared with other flags than ceilo's; make \
         amqp_durable_queues, rabbit.quorum_queue (oslo rabbit_quorum_queue) and \
         notification.auto_delete match how the services on this broker declare them, or delete \
         them on the broker",
        conflicts.join("; ")
    )]
    Conflict { url: String, conflicts: Vec<String> },
}

/// A lapin error with what was being done.
fn amqp_err(context: impl Into<String>) -> impl FnOnce(lapin::Error) -> TransportError {
    let context = context.into();
    move |source| TransportError::Amqp { context, source }
}

/// How ceilo uses RabbitMQ: oslo's `[oslo_messaging_rabbit]` options that ceilo implements
/// (ceilo.yaml's `rabbit:` section). `memory://` ignores them.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RabbitOptions {
    /// With several nodes in the transport URL
    /// (`rabbit://u:p@h1:5672,u:p@h2:5672,u:p@h3:5672/vhost`), how the next node is chosen
    /// when a connection is lost: `round-robin` (the default: the URL's order, from the node
    /// after the lost one) or `shuffle` (a random order each time). Every connection starts
    /// with the first node that answers. oslo `kombu_failover_strategy`.
    pub failover_strategy: FailoverStrategy,
    /// Declare every queue ceilo declares as a quorum queue (`x-queue-type: quorum`, durable,
    /// replicated on the cluster's nodes): the consumed queues, the default queues of
    /// `notifier://`, the dead-letter queue, the transform-partition queues, the polling
    /// agent's. Exchanges and queues are then durable whatever `amqp_durable_queues` says, as in
    /// oslo, and the byte budget (`notification.inflight_bytes`) is off (docs/runtime.md).
    /// oslo `rabbit_quorum_queue`.
    pub quorum_queue: bool,
    /// `x-delivery-limit` of the quorum queues: a message redelivered more often is dropped by
    /// the broker; 0 = no limit. oslo `rabbit_quorum_delivery_limit`.
    pub quorum_delivery_limit: u32,
    /// `x-max-in-memory-length` of the quorum queues (messages kept in memory); 0 = no limit.
    /// oslo `rabbit_quorum_max_memory_length`.
    pub quorum_max_memory_length: u32,
    /// `x-max-in-memory-bytes` of the quorum queues; 0 = no limit.
    /// oslo `rabbit_quorum_max_memory_bytes`.
    pub quorum_max_memory_bytes: u64,
    /// TLS to the brokers: every `amqps://` URL, and every `amqp://` one when `tls.enabled`.
    /// oslo `ssl`, `ssl_ca_file`, `ssl_cert_file`, `ssl_key_file`, `ssl_version`.
    pub tls: tls::TlsOptions,
    /// The AMQP heartbeat timeout asked of the broker, in seconds (default 60, oslo's): the
    /// smaller of this and the broker's own (RabbitMQ's `heartbeat`, 60 by default) is used, as
    /// py-amqp negotiates it. ceilo's client sends a heartbeat after half of it without other
    /// traffic, and takes a broker it heard nothing from for twice of it as gone (the
    /// connection is closed and opened again). 0 is oslo's "no heartbeats"; ceilo's client then
    /// takes the broker's timeout, so heartbeats are off only where the broker has them off
    /// too (as with oslo against a broker whose `heartbeat` is 0). A `?heartbeat=N` in the
    /// transport URL wins over it. oslo `heartbeat_timeout_threshold`.
    pub heartbeat_timeout_threshold: u16,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            failover_strategy: FailoverStrategy::default(),
            quorum_queue: false,
            quorum_delivery_limit: 0,
            quorum_max_memory_length: 0,
            quorum_max_memory_bytes: 0,
            tls: tls::TlsOptions::default(),
            heartbeat_timeout_threshold: DEFAULT_HEARTBEAT_S,
        }
    }
}

/// oslo's `heartbeat_timeout_threshold` default, in seconds.
pub const DEFAULT_HEARTBEAT_S: u16 = 60;

/// AMQP 0-9-1 message properties (headers included). memory:// carries them too, so a
/// message looks the same whichever transport it crossed.
pub type Properties = lapin::BasicProperties;

/// One message taken from a queue. `tag` is only meaningful to the consumer it came from.
#[derive(Debug)]
pub struct Delivery {
    pub tag: u64,
    pub body: Vec<u8>,
    pub exchange: Arc<str>,
    pub routing_key: Arc<str>,
    pub redelivered: bool,
    /// As published: a dead letter keeps them (moved, not copied, off the wire delivery).
    pub properties: Properties,
}

impl Delivery {
    /// The value of application header `name`, when it is text (kombu's headers are).
    pub fn header_text(&self, name: &str) -> Option<&str> {
        use lapin::types::AMQPValue;
        let value = self.properties.headers().as_ref()?.inner().get(name)?;
        match value {
            AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
            AMQPValue::ShortString(s) => Some(s.as_str()),
            _ => None,
        }
    }
}

/// One message to publish.
#[derive(Debug, Clone)]
pub struct OutMessage {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    /// String-valued application headers (e.g. the dead-letter reason), added to the
    /// properties' headers (replacing one of the same name).
    pub headers: Vec<(String, String)>,
    /// The properties to publish with; `None` for kombu's defaults, as oslo's notifier sends
    /// them. A dead letter carries its original's.
    pub properties: Option<Properties>,
}

impl OutMessage {
    /// kombu's defaults, as observed on oslo's notifications.
    pub fn default_properties() -> Properties {
        Properties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(2)
            .with_priority(0)
    }

    /// The properties it goes out with: its own or kombu's defaults, plus `headers`.
    pub fn wire_properties(&self) -> Properties {
        let props = self
            .properties
            .clone()
            .unwrap_or_else(OutMessage::default_properties);
        if self.headers.is_empty() {
            return props;
        }
        let mut table = props.headers().clone().unwrap_or_default();
        for (k, v) in &self.headers {
            table.insert(
                k.as_str().into(),
                AMQPValue::LongString(LongString::from(v.as_str())),
            );
        }
        props.with_headers(table)
    }
}

/// A queue to declare, bind and (for consumers) consume, with the exchanges it binds to.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub queue: String,
    /// (exchange, routing key); every exchange is declared as a `topic` exchange first.
    pub bindings: Vec<(String, String)>,
    pub durable: bool,
    pub auto_delete: bool,
    /// Prefetch (`basic.qos`) for a consumer of this queue.
    pub prefetch: u16,
    /// A channel-wide cap on unacked deliveries, set before consuming (see [`Acker::limit`],
    /// which moves it afterwards); 0 = none.
    pub initial_limit: u16,
    /// `x-single-active-consumer`: one consumer at a time gets deliveries, the others stand by
    /// (partition queues of stateful transformers: a resource has one owner at a time).
    pub single_active_consumer: bool,
}

/// What a publisher declares before publishing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishTopology {
    /// Queues (with their exchanges and bindings) declared on every (re)connection.
    pub queues: Vec<QueueSpec>,
    /// Like oslo: before the first publish to a routing key, declare the exchange (topic) and a
    /// queue named as the key, bound with it, so messages pile up until a consumer comes.
    pub default_queues: bool,
    /// Durable flag for the default queues and their exchanges.
    pub durable: bool,
    /// Auto-delete flag for the default queues and their exchanges.
    pub auto_delete: bool,
}

/// A topic exchange to declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeSpec {
    pub name: String,
    pub durable: bool,
    pub auto_delete: bool,
}

/// Everything an agent will declare on one broker, for [`Transport::preflight`]: queues, each
/// with the exchanges of its bindings (declared with the queue's flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    pub queues: Vec<QueueSpec>,
}

impl Topology {
    /// Every exchange the queues bind to, once each (the first queue naming it gives its
    /// flags): they are declared before the queues.
    pub fn exchanges(&self) -> Vec<ExchangeSpec> {
        let mut out: Vec<ExchangeSpec> = Vec::new();
        for q in &self.queues {
            for (name, _) in &q.bindings {
                if !name.is_empty() && !out.iter().any(|o| o.name == *name) {
                    out.push(ExchangeSpec {
                        name: name.clone(),
                        durable: q.durable,
                        auto_delete: q.auto_delete,
                    });
                }
            }
        }
        out
    }
}

/// What to do with a contiguous range of delivery tags (everything up to and including a tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// `basic.ack` with `multiple`.
    Ack,
    /// `basic.nack` with `multiple` and `requeue`: the work was not done, try again later.
    Requeue,
}

/// Settles delivery tags of one consumer (one channel). Operations must be applied in call order.
pub trait Acker: Send + Sync {
    fn settle(&self, up_to: u64, how: Settle) -> BoxFuture<'static, Result<(), TransportError>>;

    /// Cap this channel's unacked deliveries at `max_unacked` (≥ 1), on top of the consumer's
    /// prefetch: AMQP `basic.qos` with `global`, which RabbitMQ applies to a running consumer
    /// at once. Applied in call order with the settles. A transport with nothing to cap (its
    /// deliveries are in-process) ignores it.
    fn limit(&self, max_unacked: u16) -> BoxFuture<'static, Result<(), TransportError>> {
        let _ = max_unacked;
        Box::pin(async { Ok(()) })
    }
}

/// Reads how many messages wait in one consumer's queue (`ceilo_amqp_queue_messages`).
pub trait Backlog: Send + Sync {
    /// Messages ready in the queue: not yet delivered to any consumer.
    fn ready(&self) -> BoxFuture<'static, Result<u32, TransportError>>;
}

/// A consumer of one queue.
pub trait Consumer: Send {
    /// The next delivery; `None` once the consumer is cancelled or its connection is gone.
    fn next(&mut self) -> BoxFuture<'_, Option<Result<Delivery, TransportError>>>;
    /// A hint for the waits of later `next`s: wake only once about `bytes` more have arrived
    /// (1: at every arrival). The listener gives it while a batch fills; a consumer that cannot
    /// act on it ignores it. True when this lowered a threshold, i.e. what arrived under the old
    /// one is now signalled.
    fn wake_after(&mut self, _bytes: usize) -> bool {
        false
    }
    /// The acker for this consumer's tags.
    fn acker(&self) -> Arc<dyn Acker>;
    /// The backlog of this consumer's queue, readable while `next` is being awaited. It uses
    /// the consumer's channel: drop it when the consumer is gone.
    fn backlog(&self) -> Arc<dyn Backlog>;
    /// Stop deliveries (`basic.cancel`); deliveries not yet returned by `next` will be requeued
    /// by the broker when the channel closes.
    fn cancel(&mut self) -> BoxFuture<'_, Result<(), TransportError>>;
    /// Close the channel and connection after every settle issued so far was sent.
    fn close(&mut self) -> BoxFuture<'_, ()>;
}

/// Publishes batches with confirms.
pub trait Publisher: Send + Sync {
    /// Publish `messages` (pipelined) and resolve once the broker confirmed every one.
    /// Reconnects as needed; an error means "not confirmed, try again".
    fn publish(&self, messages: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>>;
}

/// A transport: where queues are consumed and messages published.
pub trait Transport: Send + Sync {
    /// Declare the spec's exchanges, queue and bindings, set prefetch and start consuming.
    fn consume(&self, spec: QueueSpec) -> BoxFuture<'static, Result<Box<dyn Consumer>, TransportError>>;
    /// A publisher that declares `topology` on each (re)connection.
    fn publisher(&self, topology: PublishTopology) -> Arc<dyn Publisher>;
    /// Declare `topology` once, now, on a connection of its own: an exchange or queue the
    /// broker already has with other flags is a [`TransportError::Conflict`] naming every one,
    /// at start, instead of a consumer or publisher that fails on it forever later.
    fn preflight(&self, topology: Topology) -> BoxFuture<'static, Result<(), TransportError>>;
    /// The URL with the password masked, for logs.
    fn describe(&self) -> String;
}

/// Build the transport for a URL (`memory://` or `amqp://...`) with the default
/// [`RabbitOptions`]. Connects to nothing: a broker is only reached when a consumer or
/// publisher first needs it.
pub fn from_url(url: &str) -> Result<Arc<dyn Transport>, TransportError> {
    from_url_with(url, &RabbitOptions::default())
}

/// [`from_url`] with the agent's [`RabbitOptions`].
pub fn from_url_with(url: &str, options: &RabbitOptions) -> Result<Arc<dyn Transport>, TransportError> {
    match Scheme::of(url)? {
        Scheme::Memory => Ok(Arc::new(memory::MemoryTransport::global())),
        Scheme::Amqp => Ok(Arc::new(amqp::AmqpTransport::new(url, options)?)),
    }
}

/// Whether [`from_url_with`] accepts `url` with `options`, without connecting: what `ceilo
/// check` and the settings validation use, so that check and run accept exactly the same URLs
/// (and TLS files, which are read).
pub fn check_url(url: &str, options: &RabbitOptions) -> Result<(), TransportError> {
    match Scheme::of(url)? {
        Scheme::Memory => Ok(()),
        Scheme::Amqp => amqp::AmqpTransport::new(url, options).map(drop),
    }
}

enum Scheme {
    Memory,
    Amqp,
}

impl Scheme {
    fn of(url: &str) -> Result<Scheme, TransportError> {
        if url.starts_with("memory:") {
            Ok(Scheme::Memory)
        } else if url.starts_with("amqp://") || url.starts_with("amqps://") || url.starts_with("rabbit://") {
            Ok(Scheme::Amqp)
        } else {
            Err(TransportError::Url {
                url: mask(url),
                reason: "scheme must be memory://, amqp://, amqps:// or rabbit://".into(),
            })
        }
    }
}

/// The URL with every password replaced by `***` (every node's, in a cluster's URL).
pub fn mask(url: &str) -> String {
    url::mask(url)
}

#[cfg(test)]
mod tests {
    #[test]
    fn checks_urls_as_from_url_builds_them() {
        for good in [
            "memory://",
            "amqp://guest:guest@127.0.0.1:5672/",
            "rabbit://u:p@h:5672/v",
            "rabbit://u:p@h1:5672,u:p@h2:5672,u:p@h3:5672/v",
            "amqp://h",
        ] {
            assert!(super::check_url(good, &Default::default()).is_ok(), "{good}");
            assert!(super::from_url(good).is_ok(), "{good}");
        }
        for bad in [
            "kafka://",
            "amqp://h:notaport/",
            "",
            "localhost:5672",
            "rabbit://u:p@h1:5672,u:p@h2:x/v",
        ] {
            let checked = super::check_url(bad, &Default::default())
                .expect_err(bad)
                .to_string();
            let built = super::from_url(bad).err().expect(bad).to_string();
            assert_eq!(checked, built, "{bad}");
        }
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(
            super::mask("amqp://guest:secret@h:5672/v"),
            "amqp://guest:***@h:5672/v"
        );
        assert_eq!(super::mask("memory://"), "memory://");
    }
}
