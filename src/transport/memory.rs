//! `memory://`: an in-process bus with topic exchanges and bounded queues.
//!
//! One bus per process ([`MemoryTransport::global`]), so the polling side and the notification
//! side of one `ceilo run` talk through it with no broker. Queues are bounded: a publisher
//! waits when a queue is full (backpressure instead of growth). Messages routed nowhere are
//! dropped, as on a broker. Acks are no-ops: nothing survives the process anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use super::{
    topic, Acker, Backlog, BoxFuture, Consumer, Delivery, OutMessage, PublishTopology, Publisher, QueueSpec,
    Settle, Transport, TransportError,
};

/// Messages a memory queue holds before publishers wait.
const QUEUE_CAPACITY: usize = 10_000;

struct Queue {
    tx: mpsc::Sender<Delivery>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>,
}

#[derive(Default)]
struct Bus {
    queues: HashMap<String, Queue>,
    /// exchange → (pattern, queue)
    bindings: HashMap<String, Vec<(String, String)>>,
}

/// The in-process transport. Cheap to clone; all clones share one bus.
#[derive(Clone, Default)]
pub struct MemoryTransport {
    bus: Arc<Mutex<Bus>>,
}

impl MemoryTransport {
    /// The process-wide bus that `memory://` means.
    pub fn global() -> MemoryTransport {
        static GLOBAL: OnceLock<MemoryTransport> = OnceLock::new();
        GLOBAL.get_or_init(MemoryTransport::default).clone()
    }

    /// A private bus (tests).
    pub fn isolated() -> MemoryTransport {
        MemoryTransport::default()
    }

    /// The queue's receiver, and a handle on its sender to read its length.
    fn declare(
        &self,
        spec: &QueueSpec,
    ) -> (
        Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>,
        mpsc::WeakSender<Delivery>,
    ) {
        let mut bus = self.bus.lock().unwrap_or_else(|p| p.into_inner());
        let queue = bus.queues.entry(spec.queue.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
            Queue {
                tx,
                rx: Arc::new(tokio::sync::Mutex::new(rx)),
            }
        });
        let (rx, tx) = (queue.rx.clone(), queue.tx.downgrade());
        for (exchange, key) in &spec.bindings {
            let list = bus.bindings.entry(exchange.clone()).or_default();
            let binding = (key.clone(), spec.queue.clone());
            if !list.contains(&binding) {
                list.push(binding);
            }
        }
        (rx, tx)
    }

    /// The senders of the queues a message is routed to (each queue once).
    fn route(&self, exchange: &str, key: &str) -> Vec<mpsc::Sender<Delivery>> {
        let bus = self.bus.lock().unwrap_or_else(|p| p.into_inner());
        let mut names: Vec<&String> = bus
            .bindings
            .get(exchange)
            .into_iter()
            .flatten()
            .filter(|(pattern, _)| topic::matches(pattern, key))
            .map(|(_, q)| q)
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|q| bus.queues.get(q).map(|q| q.tx.clone()))
            .collect()
    }
}

struct MemoryConsumer {
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Delivery>>>,
    /// The queue's sender, weak so that it does not keep the queue open.
    tx: mpsc::WeakSender<Delivery>,
    next_tag: u64,
    cancelled: bool,
}

struct NoopAcker;

impl Acker for NoopAcker {
    fn settle(&self, _up_to: u64, _how: Settle) -> BoxFuture<'static, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }
}

/// A memory queue's length: what its publishers put in and no consumer took yet.
struct MemoryBacklog {
    tx: mpsc::WeakSender<Delivery>,
}

impl Backlog for MemoryBacklog {
    fn ready(&self) -> BoxFuture<'static, Result<u32, TransportError>> {
        let queued = self
            .tx
            .upgrade()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity());
        Box::pin(async move { Ok(u32::try_from(queued).unwrap_or(u32::MAX)) })
    }
}

impl Consumer for MemoryConsumer {
    fn next(&mut self) -> BoxFuture<'_, Option<Result<Delivery, TransportError>>> {
        Box::pin(async move {
            if self.cancelled {
                return None;
            }
            let mut delivery = self.rx.lock().await.recv().await?;
            self.next_tag += 1;
            delivery.tag = self.next_tag;
            Some(Ok(delivery))
        })
    }

    fn acker(&self) -> Arc<dyn Acker> {
        Arc::new(NoopAcker)
    }

    fn backlog(&self) -> Arc<dyn Backlog> {
        Arc::new(MemoryBacklog { tx: self.tx.clone() })
    }

    fn cancel(&mut self) -> BoxFuture<'_, Result<(), TransportError>> {
        self.cancelled = true;
        Box::pin(async { Ok(()) })
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

impl Publisher for MemoryTransport {
    fn publish(&self, messages: Arc<[OutMessage]>) -> BoxFuture<'static, Result<(), TransportError>> {
        let this = self.clone();
        Box::pin(async move {
            for m in messages.iter() {
                for tx in this.route(&m.exchange, &m.routing_key) {
                    let delivery = Delivery {
                        tag: 0,
                        body: m.body.clone(),
                        exchange: Arc::from(m.exchange.as_str()),
                        routing_key: Arc::from(m.routing_key.as_str()),
                        redelivered: false,
                        properties: m.wire_properties(),
                    };
                    // A queue whose receiver is gone just drops, like an unbound key.
                    let _ = tx.send(delivery).await;
                }
            }
            Ok(())
        })
    }
}

impl Transport for MemoryTransport {
    /// Nothing to conflict with: declaring is idempotent here and ignores the flags.
    fn preflight(&self, _: super::Topology) -> BoxFuture<'static, Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }

    fn consume(&self, spec: QueueSpec) -> BoxFuture<'static, Result<Box<dyn Consumer>, TransportError>> {
        let (rx, tx) = self.declare(&spec);
        Box::pin(async move {
            Ok(Box::new(MemoryConsumer {
                rx,
                tx,
                next_tag: 0,
                cancelled: false,
            }) as Box<dyn Consumer>)
        })
    }

    fn publisher(&self, _topology: PublishTopology) -> Arc<dyn Publisher> {
        // Default queues are not declared in memory: nobody would drain them, and a full queue
        // would stall the agent. Consumers declare what they read.
        Arc::new(self.clone())
    }

    fn describe(&self) -> String {
        "memory://".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queue `key` bound to `exchange` with the same key, as a notification queue is.
    fn queue(exchange: &str, key: &str) -> QueueSpec {
        QueueSpec {
            queue: key.into(),
            bindings: vec![(exchange.into(), key.into())],
            durable: false,
            auto_delete: false,
            prefetch: 10,
            initial_limit: 0,
            single_active_consumer: false,
        }
    }

    #[tokio::test]
    async fn routes_by_topic_and_drops_unbound() {
        let t = MemoryTransport::isolated();
        let mut c = t.consume(queue("nova", "notifications.info")).await.unwrap();
        let p = t.publisher(PublishTopology::default());
        let msg = |ex: &str, key: &str, body: &str| OutMessage {
            exchange: ex.into(),
            routing_key: key.into(),
            body: body.as_bytes().to_vec(),
            headers: vec![],
            properties: None,
        };
        p.publish(
            vec![
                msg("nova", "notifications.error", "x"),
                msg("nova", "notifications.info", "a"),
            ]
            .into(),
        )
        .await
        .unwrap();
        let d = c.next().await.unwrap().unwrap();
        assert_eq!((d.tag, d.body.as_slice()), (1, b"a".as_slice()));
    }

    #[tokio::test]
    async fn backlog_is_what_no_consumer_took_yet() {
        let t = MemoryTransport::isolated();
        let mut c = t
            .consume(queue("ceilometer", "notifications.sample"))
            .await
            .unwrap();
        let backlog = c.backlog();
        assert_eq!(backlog.ready().await.unwrap(), 0);
        let msg = OutMessage {
            exchange: "ceilometer".into(),
            routing_key: "notifications.sample".into(),
            body: b"x".to_vec(),
            headers: vec![],
            properties: None,
        };
        let p = t.publisher(PublishTopology::default());
        p.publish(vec![msg.clone(), msg.clone(), msg].into())
            .await
            .unwrap();
        assert_eq!(backlog.ready().await.unwrap(), 3);
        c.next().await.unwrap().unwrap();
        assert_eq!(backlog.ready().await.unwrap(), 2);
    }
}
