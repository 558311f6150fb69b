//! The dead-letter publisher: deliveries that cannot be decoded or converted are republished,
//! body untouched, to the dead-letter exchange with the reason in the `x-ceilo-reason` header
//! (and where they came from in `x-ceilo-exchange` / `x-ceilo-routing-key`), under their
//! original routing key. Only after the broker confirms is the original delivery acked, so a
//! poison message is neither lost nor requeued forever (Ceilometer requeues it forever).
//!
//! The original AMQP properties and headers go along, as RabbitMQ's own dead-lettering keeps
//! them, with three changes, each because the dead letter is now the only copy:
//! * `expiration` is taken off (kept in `x-ceilo-original-expiration`): a per-message TTL would
//!   make the dead letter expire from its queue unseen;
//! * `user-id` is taken off (kept in `x-ceilo-original-user-id`): RabbitMQ refuses a publish
//!   whose `user-id` is not the publishing connection's user, which would stall the queue;
//! * `delivery-mode` is 2 (persistent), so it survives a broker restart in its durable queue.

use std::sync::Arc;

use super::{Items, Output, PublishError, Write};
use crate::telemetry::metrics::{RejectReason, NOTIFICATIONS_DEAD_LETTERED};
use crate::transport::{OutMessage, Properties, Publisher, QueueSpec};

/// Header carrying why the delivery was dead-lettered.
pub const REASON_HEADER: &str = "x-ceilo-reason";
/// Headers carrying the exchange and routing key the delivery came from.
pub const EXCHANGE_HEADER: &str = "x-ceilo-exchange";
pub const ROUTING_KEY_HEADER: &str = "x-ceilo-routing-key";
/// Headers keeping the original's `expiration` and `user-id` properties (see the module docs).
pub const EXPIRATION_HEADER: &str = "x-ceilo-original-expiration";
pub const USER_ID_HEADER: &str = "x-ceilo-original-user-id";

/// The dead letter's properties: the original's, changed as the module docs say. What was
/// taken off is returned as `x-ceilo-original-*` headers.
fn dead_letter_properties(original: &Properties) -> (Properties, Vec<(String, String)>) {
    let mut kept = Properties::default().with_delivery_mode(2);
    let mut moved = Vec::new();
    // lapin's properties have setters but no way to unset one: copy all but the two.
    macro_rules! copy {
        ($($get:ident => $set:ident),*) => {$(
            if let Some(v) = original.$get() {
                kept = kept.$set(v.clone());
            }
        )*};
    }
    copy!(content_type => with_content_type, content_encoding => with_content_encoding,
        headers => with_headers, priority => with_priority, correlation_id => with_correlation_id,
        reply_to => with_reply_to, message_id => with_message_id, timestamp => with_timestamp,
        kind => with_type, app_id => with_app_id, cluster_id => with_cluster_id);
    if let Some(expiration) = original.expiration() {
        moved.push((EXPIRATION_HEADER.to_owned(), expiration.to_string()));
    }
    if let Some(user_id) = original.user_id() {
        moved.push((USER_ID_HEADER.to_owned(), user_id.to_string()));
    }
    (kept, moved)
}

/// A dead letter that is not a delivery: samples a publisher's receiver refused for good
/// (`gnocchi://`), with the reason and, in `routing_key`, which publisher refused them.
pub fn refused(exchange: &str, body: Vec<u8>, reason: String, routing_key: String) -> OutMessage {
    OutMessage {
        exchange: exchange.to_owned(),
        routing_key: routing_key.clone(),
        body,
        headers: vec![
            (REASON_HEADER.to_owned(), reason),
            (EXCHANGE_HEADER.to_owned(), String::new()),
            (ROUTING_KEY_HEADER.to_owned(), routing_key),
        ],
        properties: Some(
            Properties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into()),
        ),
    }
}

/// Where a publisher sends what its receiver refused for good: the agent's dead-letter exchange.
#[derive(Clone)]
pub struct DeadLetters {
    pub exchange: String,
    pub publisher: Arc<dyn Publisher>,
}

#[derive(Clone)]
pub struct DeadLetterOutput {
    exchange: String,
    publisher: Arc<dyn Publisher>,
}

impl DeadLetterOutput {
    pub fn new(exchange: &str, publisher: Arc<dyn Publisher>) -> DeadLetterOutput {
        DeadLetterOutput {
            exchange: exchange.to_owned(),
            publisher,
        }
    }

    /// The exchange and queue to declare: a durable topic exchange and a durable queue bound `#`.
    pub fn topology(exchange: &str, queue: &str) -> QueueSpec {
        QueueSpec {
            queue: queue.to_owned(),
            bindings: vec![(exchange.to_owned(), "#".to_owned())],
            durable: true,
            auto_delete: false,
            prefetch: 0,
            initial_limit: 0,
            single_active_consumer: false,
        }
    }
}

impl Output for DeadLetterOutput {
    fn name(&self) -> &str {
        "dead-letter"
    }

    fn fork(&self) -> Option<Box<dyn Output>> {
        Some(Box::new(self.clone()))
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        // Counted once the broker confirmed them: (original queue = routing key, reason kind).
        let counted: Arc<[(String, RejectReason)]> = flush
            .dead
            .iter()
            .map(|d| (d.routing_key.clone(), d.kind))
            .collect();
        let messages: Arc<[OutMessage]> = flush
            .dead
            .into_iter()
            .map(|d| {
                let (properties, mut headers) = dead_letter_properties(&d.properties);
                headers.extend([
                    (REASON_HEADER.to_owned(), d.reason),
                    (EXCHANGE_HEADER.to_owned(), d.exchange),
                    (ROUTING_KEY_HEADER.to_owned(), d.routing_key.clone()),
                ]);
                OutMessage {
                    exchange: self.exchange.clone(),
                    routing_key: d.routing_key,
                    body: d.body,
                    headers,
                    properties: Some(properties),
                }
            })
            .collect();
        let publisher = self.publisher.clone();
        Ok(Arc::new(move || {
            let send = publisher.publish(messages.clone());
            let counted = counted.clone();
            Box::pin(async move {
                send.await.map_err(PublishError::from)?;
                for (queue, kind) in counted.iter() {
                    metrics::counter!(
                        NOTIFICATIONS_DEAD_LETTERED,
                        "queue" => queue.clone(),
                        "reason" => kind.as_str()
                    )
                    .increment(1);
                }
                Ok(())
            })
        }))
    }
}
