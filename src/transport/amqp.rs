//! `amqp://` over lapin: one connection and one channel per consumer and per publisher, so a
//! slow or failed one does not stall the others and I/O spreads over several connections.
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

use futures_lite::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions,
    BasicQosOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::uri::AMQPScheme;
use lapin::{Channel, Confirmation, Connection};

use crate::telemetry::handles::AmqpConnectionMetrics;

use super::declare::{declare_queue, preflight};
use super::failover::{self, Cursor};
use super::url::{self, Node};
use super::{
    amqp_err as err, mask, Acker, Backlog, BoxFuture, Consumer, Delivery, OutMessage, PublishTopology,
    Publisher, QueueSpec, RabbitOptions, Settle, Topology, Transport, TransportError,
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

struct AmqpConsumer {
    connection: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
    consumer_tag: ShortString,
    queue: String,
    link: Arc<Link>,
    /// The last delivery's exchange and routing key: a queue's deliveries nearly always share
    /// them, so each delivery takes a reference instead of two new strings.
    names: (Arc<str>, Arc<str>),
}

/// `name` as an `Arc<str>`: `last` again when it is the same text.
fn shared(last: &mut Arc<str>, name: &str) -> Arc<str> {
    if &**last != name {
        *last = Arc::from(name);
    }
    last.clone()
}

struct AmqpAcker {
    channel: Channel,
}

impl Acker for AmqpAcker {
    fn settle(&self, up_to: u64, how: Settle) -> BoxFuture<'static, Result<(), TransportError>> {
        let channel = self.channel.clone();
        Box::pin(async move {
            match how {
                Settle::Ack => channel
                    .basic_ack(up_to, BasicAckOptions { multiple: true })
                    .await
                    .map_err(err(format!("ack up to {up_to}"))),
                Settle::Requeue => channel
                    .basic_nack(
                        up_to,
                        BasicNackOptions {
                            multiple: true,
                            requeue: true,
                        },
                    )
                    .await
                    .map_err(err(format!("nack up to {up_to}"))),
            }
        })
    }

    fn limit(&self, max_unacked: u16) -> BoxFuture<'static, Result<(), TransportError>> {
        let channel = self.channel.clone();
        Box::pin(async move {
            channel
                .basic_qos(max_unacked, BasicQosOptions { global: true })
                .await
                .map_err(err(format!("cap the channel at {max_unacked} unacked")))
        })
    }
}

/// A passive `queue.declare` on the consumer's channel: the queue exists while it is consumed,
/// so the declare cannot fail with 404 and close the channel under the consumer (a deleted
/// queue cancels the consumer anyway, and the listener starts over).
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
            let Some(delivery) = self.consumer.next().await else {
                self.link.disconnected();
                return None;
            };
            if delivery.is_err() {
                // Deliveries stop with the channel or the connection: the listener starts over.
                self.link.disconnected();
            }
            let (exchange, routing_key) = &mut self.names;
            Some(match delivery {
                Ok(d) => Ok(Delivery {
                    tag: d.delivery_tag,
                    exchange: shared(exchange, d.exchange.as_str()),
                    routing_key: shared(routing_key, d.routing_key.as_str()),
                    body: d.data,
                    redelivered: d.redelivered,
                    properties: d.properties,
                }),
                Err(e) => Err(err(format!("consume {}", self.queue))(e)),
            })
        })
    }

    fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(AmqpAcker {
            channel: self.channel.clone(),
        })
    }

    fn backlog(&self) -> Arc<dyn Backlog> {
        Arc::new(AmqpBacklog {
            channel: self.channel.clone(),
            queue: self.queue.clone(),
        })
    }

    fn cancel(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            self.channel
                .basic_cancel(self.consumer_tag.clone(), BasicCancelOptions::default())
                .await
                .map_err(err(format!("cancel consumer of {}", self.queue)))
        })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self.channel.close(200, "ceilo shutting down".into()).await;
            let _ = self.connection.close(200, "ceilo shutting down".into()).await;
            self.link.disconnected();
        })
    }
}

/// A confirm-mode channel, reconnected lazily.
struct AmqpPublisher {
    options: RabbitOptions,
    topology: PublishTopology,
    state: tokio::sync::Mutex<Option<PublisherState>>,
    link: Link,
}

struct PublisherState {
    _connection: Connection,
    channel: Channel,
    declared_keys: HashSet<(String, String)>,
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
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(err("enable publisher confirms"))?;
        for spec in &self.topology.queues {
            declare_queue(&channel, spec, &self.options).await?;
        }
        Ok(PublisherState {
            _connection: connection,
            channel,
            declared_keys: HashSet::new(),
        })
    }

    /// The channel to publish on, after declaring default queues for `keys` if asked to.
    async fn channel(&self, keys: &[(String, String)]) -> Result<Channel, TransportError> {
        let mut state = self.state.lock().await;
        if state.as_ref().is_some_and(|s| !s.channel.status().connected()) {
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
        Ok(s.channel.clone())
    }

    async fn forget(&self) {
        self.drop_state(&mut *self.state.lock().await);
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
            let channel = this.channel(&keys).await?;
            let mut confirms = Vec::with_capacity(messages.len());
            for m in messages.iter() {
                let sent = channel
                    .basic_publish(
                        m.exchange.as_str().into(),
                        m.routing_key.as_str().into(),
                        BasicPublishOptions::default(),
                        &m.body,
                        m.wire_properties(),
                    )
                    .await;
                match sent {
                    Ok(confirm) => confirms.push((confirm, m)),
                    Err(e) => {
                        this.forget().await;
                        return Err(err(format!("publish to {}/{}", m.exchange, m.routing_key))(e));
                    }
                }
            }
            for (confirm, m) in confirms {
                match confirm.await {
                    Ok(Confirmation::Ack(_)) => {}
                    Ok(Confirmation::Nack(_)) | Ok(Confirmation::NotRequested) => {
                        return Err(TransportError::Nacked {
                            exchange: m.exchange.clone(),
                            routing_key: m.routing_key.clone(),
                        })
                    }
                    Err(e) => {
                        this.forget().await;
                        return Err(err(format!("confirm of {}/{}", m.exchange, m.routing_key))(e));
                    }
                }
            }
            Ok(())
        })
    }
}

impl Transport for AmqpTransport {
    fn consume(&self, spec: QueueSpec) -> BoxFuture<'static, Result<Box<dyn Consumer>, TransportError>> {
        let link = self.consumer_link(&spec.queue);
        let options = self.options.clone();
        Box::pin(async move {
            let name = format!("ceilo {} {}", link.label, spec.queue);
            let connection = failover::connect(&link.cursor, &name).await?;
            within_setup_timeout("open a consumer", consume(connection, spec, &options, link)).await
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

/// Sets up a consumer of `spec` on `connection`: channel, prefetch, declares, consume.
async fn consume(
    connection: Connection,
    spec: QueueSpec,
    options: &RabbitOptions,
    link: Arc<Link>,
) -> Result<Box<dyn Consumer>, TransportError> {
    let channel = connection
        .create_channel()
        .await
        .map_err(err("open consumer channel"))?;
    channel
        .basic_qos(spec.prefetch, BasicQosOptions::default())
        .await
        .map_err(err(format!("set prefetch {}", spec.prefetch)))?;
    if spec.initial_limit > 0 {
        // Before the consumer starts: nothing arrives beyond it.
        channel
            .basic_qos(spec.initial_limit, BasicQosOptions { global: true })
            .await
            .map_err(err(format!("cap the channel at {} unacked", spec.initial_limit)))?;
    }
    declare_queue(&channel, &spec, options).await?;
    let consumer_tag: ShortString = format!("ceilo-{}-{}", spec.queue, uuid::Uuid::new_v4()).into();
    let consumer = channel
        .basic_consume(
            spec.queue.as_str().into(),
            consumer_tag.clone(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(err(format!("consume {}", spec.queue)))?;
    link.connected();
    Ok(Box::new(AmqpConsumer {
        connection,
        channel,
        consumer,
        consumer_tag,
        queue: spec.queue,
        names: (Arc::from(""), Arc::from("")),
        link,
    }) as Box<dyn Consumer>)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::shared;

    #[test]
    fn deliveries_share_a_repeated_name_and_take_a_new_one() {
        let mut last: Arc<str> = Arc::from("");
        let nova = shared(&mut last, "nova");
        assert_eq!(&*nova, "nova");
        assert!(
            Arc::ptr_eq(&nova, &shared(&mut last, "nova")),
            "same text, same allocation"
        );
        assert_eq!(&*shared(&mut last, "glance"), "glance");
        assert_eq!(&*last, "glance");
    }
}
