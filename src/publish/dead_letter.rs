//! The dead-letter publisher: deliveries that cannot be decoded or converted are republished,
//! body untouched, to the dead-letter exchange with the reason in the `x-ceilo-reason` header
//! (and where they came from in `x-ceilo-exchange` / `x-ceilo-routing-key`), under their
//! original routing key. Only after the broker confirms is the original delivery acked, so a
//! poison message is neither lost nor requeued forever (Ceilometer requeues it forever).

use std::sync::Arc;

use super::{Flush, Output, PublishError, Write};
use crate::telemetry::metrics::{RejectReason, NOTIFICATIONS_DEAD_LETTERED};
use crate::transport::{OutMessage, Publisher, QueueSpec};

/// Header carrying why the delivery was dead-lettered.
pub const REASON_HEADER: &str = "x-ceilo-reason";

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
            single_active_consumer: false,
        }
    }
}

impl Output for DeadLetterOutput {
    fn name(&self) -> &str {
        "dead-letter"
    }

    fn prepare(&mut self, flush: Flush) -> Result<Write, PublishError> {
        // Counted once the broker confirmed them: (original queue = routing key, reason kind).
        let counted: Arc<[(String, RejectReason)]> = flush
            .dead
            .iter()
            .map(|d| (d.routing_key.clone(), d.kind))
            .collect();
        let messages: Arc<[OutMessage]> = flush
            .dead
            .into_iter()
            .map(|d| OutMessage {
                exchange: self.exchange.clone(),
                routing_key: d.routing_key.clone(),
                body: d.body,
                headers: vec![
                    (REASON_HEADER.to_owned(), d.reason),
                    ("x-ceilo-exchange".to_owned(), d.exchange),
                    ("x-ceilo-routing-key".to_owned(), d.routing_key),
                ],
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
