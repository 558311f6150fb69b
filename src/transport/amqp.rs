//! `amqp://`: one connection and one channel per consumer and per publisher, so a slow or
//! failed one does not stall the others and I/O spreads over several connections.
//! Declarations go through lapin; a consumer's deliveries come on a connection that
//! [`super::wire`] reads on the pump's own task, with a lapin control connection beside it
//! (`ceilo consume-N QUEUE (control)`) that declares the queue and reads its backlog; a
//! publisher publishes on a connection of ceilo's own ([`super::wire_publish`], `ceilo
//! publish-N (publish)`), with a lapin connection beside it that declares.
//!
//! Recovery is ours, not lapin's: a consumer whose connection dies ends (`next` → `None` or an
//! error) and the agent opens a new one, so tags from before a recovery belong to a dead
//! channel and can never be acked on the new one. A publisher reconnects lazily on the next
//! publish after an error. lapin's auto-recovery is left off on purpose.
//!
//! Each consumer (one per queue) and each publisher is one logical connection for
//! `ceilo_amqp_connection_up` and `ceilo_amqp_reconnects_total`, labelled `consume-N` or
//! `publish-N` (see `Link`); the label survives its reconnections and is part of the
//! connection name the broker shows.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::uri::AMQPScheme;
use lapin::{Channel, Connection};

use crate::telemetry::handles::AmqpConnectionMetrics;

use super::declare::{declare_queue, preflight};
use super::failover::{self, Cursor};
use super::url::{self, Node};
use super::wire::{self, ConsumeSetup, WireReader, WireWriter};
use super::wire_publish::{self, WirePublisher};
use super::{
    amqp_err as err, mask, Acker, Backlog, BoxFuture, Consumer, Delivery, OutMessage, PublishTopology,
    Publisher, QueueSpec, RabbitOptions, Topology, Transport, TransportError,
};

/// An AMQP broker URL, with one node or several (a cluster); oslo's `rabbit://` is accepted
/// as a synonym of `amqp://`.
#[derive(Clone)]
pub struct AmqpTransport {
    /// As given, for logs and errors (masked).
    url: String,
    /// `url` parsed once, one entry per node.
    nodes: Arc<[Node]>,
    options: RabbitOptions,
    /// The consumer link of each queue consumed through this transport, kept across
    /// reconnections (the listener calls `consume` again after a loss).
    consumers: Arc<Mutex<HashMap<String, Arc<Link>>>>,
}

/// One logical AMQP connection of this process and its metrics: a consumer's (per queue and
/// transport) or a publisher's, through all its reconnections.
///
/// `N` in `consume-N` / `publish-N` numbers them per process in the order they were created
/// (publishers as the agent starts; consumers as their listeners first connect), so the set
/// is as small as the configuration. The broker shows the label in the connection name.
struct Link {
    label: String,
    /// The node this connection is on, and where it goes next.
    cursor: Cursor,
    /// Created on first use: handles must be built after the recorder is installed.
    metrics: OnceLock<AmqpConnectionMetrics>,
    /// Connected at least once: the next connection is a reconnection.
    opened: AtomicBool,
    /// The node (index) the metrics count this link on; `usize::MAX` before the first.
    counted_on: AtomicUsize,
}

/// Process-wide, so that the transports of several messaging URLs and of the polling agent
/// never hand out the same label twice.
static CONSUME_LINKS: AtomicUsize = AtomicUsize::new(0);
static PUBLISH_LINKS: AtomicUsize = AtomicUsize::new(0);

impl Link {
    /// A consumer's link; its series exist (at 0) from the first attempt, so a broker that is
    /// unreachable when the agent starts shows as down.
    fn consumer(cursor: Cursor) -> Link {
        let link = Link::new(
            format!("consume-{}", CONSUME_LINKS.fetch_add(1, Ordering::Relaxed)),
            cursor,
        );
        link.metrics();
        link
    }

    /// A publisher's link; its series appear with its first connection, which it opens on its
    /// first publish, so a publisher with nothing to send (the dead-letter one, usually) is
    /// not reported down.
    fn publisher(cursor: Cursor) -> Link {
        Link::new(
            format!("publish-{}", PUBLISH_LINKS.fetch_add(1, Ordering::Relaxed)),
            cursor,
        )
    }

    fn new(label: String, cursor: Cursor) -> Link {
        Link {
            label,
            cursor,
            metrics: OnceLock::new(),
            opened: AtomicBool::new(false),
            counted_on: AtomicUsize::new(usize::MAX),
        }
    }

    fn metrics(&self) -> &AmqpConnectionMetrics {
        self.metrics.get_or_init(|| {
            let nodes: Vec<&str> = self.cursor.nodes().iter().map(|n| n.address.as_str()).collect();
            AmqpConnectionMetrics::new(&self.label, &nodes)
        })
    }

    fn connected(&self) {
        let reconnect = self.opened.swap(true, Ordering::Relaxed);
        if let Some(to) = self.cursor.current_index() {
            let from = self.counted_on.swap(to, Ordering::Relaxed);
            self.metrics()
                .connected(reconnect, (from != usize::MAX).then_some(from), to);
        }
        let node = self.cursor.current().map_or("", |n| n.address.as_str());
        tracing::debug!(connection = %self.label, node, reconnect, "AMQP connection open");
    }

    fn disconnected(&self) {
        if let Some(metrics) = self.metrics.get() {
            metrics.disconnected();
        }
    }
}

impl AmqpTransport {
    /// The transport of `url`, over TLS as an `amqps://` URL or `options.tls` say (its files
    /// are read now).
    pub fn new(url: &str, options: &RabbitOptions) -> Result<AmqpTransport, TransportError> {
        let mut nodes = url::parse(url)?;
        let mut client = None;
        for node in &mut nodes {
            node.uri
                .query
                .heartbeat
                .get_or_insert(options.heartbeat_timeout_threshold);
            // oslo's `ssl` keeps the URL's port (5672 when it names none), so the scheme is
            // switched after parsing.
            if options.tls.enabled {
                node.uri.scheme = AMQPScheme::AMQPS;
            }
            if matches!(node.uri.scheme, AMQPScheme::AMQPS) {
                if client.is_none() {
                    client = Some(options.tls.client()?);
                }
                node.tls = client.clone();
            }
        }
        Ok(AmqpTransport {
            url: url.to_owned(),
            nodes: nodes.into(),
            options: options.clone(),
            consumers: Arc::default(),
        })
    }

    /// A cursor over this URL's nodes with the configured failover strategy.
    fn cursor(&self) -> Cursor {
        Cursor::new(self.nodes.clone(), self.options.failover_strategy)
    }

    /// The link of `queue`'s consumer: the same one for every reconnection.
    fn consumer_link(&self, queue: &str) -> Arc<Link> {
        let mut links = self.consumers.lock().unwrap_or_else(|p| p.into_inner());
        links
            .entry(queue.to_owned())
            .or_insert_with(|| Arc::new(Link::consumer(self.cursor())))
            .clone()
    }
}

/// How long setting up a consumer or a publisher on an open connection (channel, declares,
/// consume) may take; connecting has its own bound per node ([`failover::CONNECT_TIMEOUT`]).
/// A lapin future left unresolved by a broker that went away mid-way must not keep the
/// listener (or publisher) waiting forever: failing sends it through the normal
/// reconnect-with-backoff path.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn within_setup_timeout<T>(
    what: &str,
    setup: impl std::future::Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    tokio::time::timeout(SETUP_TIMEOUT, setup)
        .await
        .unwrap_or_else(|_| {
            Err(TransportError::Closed(format!(
                "{what}: no answer in {SETUP_TIMEOUT:?}"
            )))
        })
}

/// A consumer: deliveries, settles and `basic.qos` changes on a connection of its own read by
/// [`wire`] on the pump's task; the queue's declaration and the backlog's passive declares on a
/// lapin connection beside it (the control connection).
struct AmqpConsumer {
    control_connection: Connection,
    control: Channel,
    reader: WireReader,
    writer: WireWriter,
    consumer_tag: String,
    queue: String,
    link: Arc<Link>,
}

/// A passive `queue.declare` on the consumer's control channel (so that the backlog is read
/// while the pump waits and reads no frame): the queue exists while it is consumed, so the
/// declare cannot fail with 404 (a deleted queue cancels the consumer anyway, and the listener
/// starts over).
struct AmqpBacklog {
    channel: Channel,
    queue: String,
}

impl Backlog for AmqpBacklog {
    fn ready(&self) -> BoxFuture<'static, Result<u32, TransportError>> {
        let (channel, queue) = (self.channel.clone(), self.queue.clone());
        Box::pin(async move {
            let options = QueueDeclareOptions {
                passive: true,
                ..Default::default()
            };
            channel
                .queue_declare(queue.as_str().into(), options, FieldTable::default())
                .await
                .map(|q| q.message_count())
                .map_err(err(format!("passive declare of {queue}")))
        })
    }
}

impl Consumer for AmqpConsumer {
    fn next(&mut self) -> BoxFuture<'_, Option<Result<Delivery, TransportError>>> {
        Box::pin(async move {
            let delivery = self.reader.next_delivery(&self.writer).await;
            if !matches!(delivery, Some(Ok(_))) {
                // Deliveries stop with the channel or the connection: the listener starts over.
                self.link.disconnected();
            }
            delivery
        })
    }

    fn wake_after(&mut self, bytes: usize) -> bool {
        self.reader.wake_after(bytes)
    }

    fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(self.writer.clone())
    }

    fn backlog(&self) -> Arc<dyn Backlog> {
        Arc::new(AmqpBacklog {
            channel: self.control.clone(),
            queue: self.queue.clone(),
        })
    }

    fn cancel(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        let cancelled = self.writer.cancel(&self.consumer_tag);
        Box::pin(async move { cancelled })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.writer.close();
            self.reader.close_ok().await;
            let _ = self
                .control_connection
                .close(200, "ceilo shutting down".into())
                .await;
            self.link.disconnected();
        })
    }
}

/// A publisher: a confirm-mode channel of ceilo's own and lapin's for declaring, both
/// reopened lazily at the next publish after an error.
struct AmqpPublisher {
    options: RabbitOptions,
    topology: PublishTopology,
    state: tokio::sync::Mutex<Option<PublisherState>>,
    link: Link,
}

/// lapin's connection declares; ceilo's own publishes (`wire_publish.rs`).
struct PublisherState {
    _connection: Connection,
    channel: Channel,
    declared_keys: HashSet<(String, String)>,
    wire: Arc<WirePublisher>,
}

impl AmqpPublisher {
    async fn open(&self) -> Result<PublisherState, TransportError> {
        let connection = failover::connect(&self.link.cursor, &format!("ceilo {}", self.link.label)).await?;
        within_setup_timeout("open the publisher", self.setup(connection)).await
    }

    async fn setup(&self, connection: Connection) -> Result<PublisherState, TransportError> {
        let channel = connection
            .create_channel()
            .await
            .map_err(err("open publisher channel"))?;
        for spec in &self.topology.queues {
            declare_queue(&channel, spec, &self.options).await?;
        }
        let node = self
            .link
            .cursor
            .current()
            .ok_or_else(|| TransportError::Closed("no node connected".into()))?;
        let name = format!("ceilo {} (publish)", self.link.label);
        let wire = wire_publish::open(node, &name, self.link.metrics().blocked()).await?;
        Ok(PublisherState {
            _connection: connection,
            channel,
            declared_keys: HashSet::new(),
            wire: Arc::new(wire),
        })
    }

    /// The channel to publish on, after declaring default queues for `keys` if asked to.
    async fn channel(&self, keys: &[(String, String)]) -> Result<Arc<WirePublisher>, TransportError> {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|s| !s.channel.status().connected() || !s.wire.is_open())
        {
            self.drop_state(&mut state);
        }
        if state.is_none() {
            *state = Some(self.open().await?);
            self.link.connected();
        }
        let Some(s) = state.as_mut() else {
            return Err(TransportError::Closed("publisher channel".into()));
        };
        if self.topology.default_queues {
            for (exchange, key) in keys {
                if s.declared_keys.contains(&(exchange.clone(), key.clone())) {
                    continue;
                }
                let spec = QueueSpec {
                    queue: key.clone(),
                    bindings: vec![(exchange.clone(), key.clone())],
                    durable: self.topology.durable,
                    auto_delete: self.topology.auto_delete,
                    prefetch: 0,
                    initial_limit: 0,
                    single_active_consumer: false,
                };
                if let Err(e) = declare_queue(&s.channel, &spec, &self.options).await {
                    self.drop_state(&mut state);
                    return Err(e);
                }
                s.declared_keys.insert((exchange.clone(), key.clone()));
            }
        }
        Ok(s.wire.clone())
    }

    /// Closes `failed`'s connections, unless a concurrent publish already replaced them.
    async fn forget(&self, failed: &Arc<WirePublisher>) {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|s| Arc::ptr_eq(&s.wire, failed)) {
            self.drop_state(&mut state);
        }
    }

    /// Closes the connection (by dropping it); the next publish opens a new one.
    fn drop_state(&self, state: &mut Option<PublisherState>) {
        if state.take().is_some() {
            self.link.disconnected();
        }
    }
}

impl Publisher for Arc<AmqpPublisher> {
    fn publish(&self, messages: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>> {
        let this = self.clone();
        Box::pin(async move {
            let mut keys: Vec<(String, String)> = messages
                .iter()
                .map(|m| (m.exchange.clone(), m.routing_key.clone()))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let wire = this.channel(&keys).await?;
            match wire.publish(&messages).await {
                Err(e) if !matches!(e, TransportError::Nacked { .. }) => {
                    this.forget(&wire).await;
                    Err(e)
                }
                done => done,
            }
        })
    }
}

impl Transport for AmqpTransport {
    fn consume(&self, spec: QueueSpec) -> BoxFuture<'static, Result<Box<dyn Consumer>, TransportError>> {
        let link = self.consumer_link(&spec.queue);
        let options = self.options.clone();
        Box::pin(async move {
            let name = format!("ceilo {} {}", link.label, spec.queue);
            let control = failover::connect(&link.cursor, &format!("{name} (control)")).await?;
            within_setup_timeout("open a consumer", consume(control, spec, &options, link, &name)).await
        })
    }

    fn publisher(&self, topology: PublishTopology) -> Arc<dyn Publisher> {
        Arc::new(Arc::new(AmqpPublisher {
            options: self.options.clone(),
            topology,
            state: tokio::sync::Mutex::new(None),
            link: Link::publisher(self.cursor()),
        }))
    }

    fn preflight(&self, topology: Topology) -> BoxFuture<'static, Result<(), TransportError>> {
        let (url, cursor, options) = (self.url.clone(), self.cursor(), self.options.clone());
        Box::pin(async move {
            let declared = preflight(&url, &cursor, &options, topology);
            within_setup_timeout("declare the topology", declared).await
        })
    }

    fn describe(&self) -> String {
        match self.nodes.iter().any(|n| n.tls.is_some()) {
            false => mask(&self.url),
            true => format!("{} (TLS)", mask(&self.url)),
        }
    }
}

/// Sets up a consumer of `spec`: the queue declared on `control`, then the consuming
/// connection to the same node, its channel, prefetch and consume.
async fn consume(
    control: Connection,
    spec: QueueSpec,
    options: &RabbitOptions,
    link: Arc<Link>,
    name: &str,
) -> Result<Box<dyn Consumer>, TransportError> {
    let channel = control
        .create_channel()
        .await
        .map_err(err("open the consumer's control channel"))?;
    declare_queue(&channel, &spec, options).await?;
    let node = link
        .cursor
        .current()
        .ok_or_else(|| TransportError::Closed("no node connected".into()))?;
    let consumer_tag = format!("ceilo-{}-{}", spec.queue, uuid::Uuid::new_v4());
    let (reader, writer) = wire::consume(ConsumeSetup {
        node,
        name,
        queue: &spec.queue,
        consumer_tag: &consumer_tag,
        prefetch: spec.prefetch,
        initial_limit: spec.initial_limit,
    })
    .await?;
    link.connected();
    Ok(Box::new(AmqpConsumer {
        control_connection: control,
        control: channel,
        reader,
        writer,
        consumer_tag,
        queue: spec.queue,
        link,
    }) as Box<dyn Consumer>)
}
