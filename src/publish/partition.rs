//! The hop that gives every resource one owner across agents: samples for sinks with stateful
//! transformers are republished, grouped by [`crate::transform::partition`] of their
//! resource_id, to the partition queues `ceilo-transform.<p>`, as telemetry.polling
//! notifications (what the converter already reads back, ids and volumes unchanged; the body is
//! [`super::telemetry_polling::encode`]'s).
//!
//! Each partition queue is declared `x-single-active-consumer`: every agent consumes every
//! partition, the broker lets one at a time have it and fails it over when that agent goes.
//! This module only encodes and declares; choosing which sinks are stateful is the pipeline's.

use std::sync::Arc;

use super::{telemetry_polling, Items, Output, PublishError, Write};
use crate::model::signature::Signer;
use crate::model::Sample;
use crate::transport::{OutMessage, Publisher, QueueSpec};

/// The exchange the partition queues are bound to.
pub const EXCHANGE: &str = "ceilo-transform";

/// The queue (and routing key) of partition `p`.
pub fn queue_name(p: usize) -> String {
    format!("{EXCHANGE}.{p}")
}

/// The partition queues: durable, single-active-consumer, bound with their own name.
pub fn partition_queues(partitions: usize, prefetch: u16) -> Vec<QueueSpec> {
    (0..partitions)
        .map(|p| QueueSpec {
            queue: queue_name(p),
            bindings: vec![(EXCHANGE.to_owned(), queue_name(p))],
            durable: true,
            auto_delete: false,
            prefetch,
            initial_limit: 0,
            single_active_consumer: true,
        })
        .collect()
}

#[derive(Clone)]
pub struct PartitionOutput {
    partitions: usize,
    publisher: Arc<dyn Publisher>,
    publisher_id: String,
    signer: Signer,
}

impl PartitionOutput {
    pub fn new(partitions: usize, telemetry_secret: &str, host: &str, publisher: Arc<dyn Publisher>) -> Self {
        PartitionOutput {
            partitions: partitions.max(1),
            publisher,
            publisher_id: format!("ceilo.transform.{host}"),
            signer: Signer::new(telemetry_secret.as_bytes()),
        }
    }

    /// One notification per partition that has samples, in the samples' order.
    pub fn encode(&mut self, samples: &[Sample]) -> Vec<OutMessage> {
        let mut by_partition: Vec<Vec<&Sample>> = (0..self.partitions).map(|_| Vec::new()).collect();
        for s in samples {
            by_partition[crate::transform::partition(&s.resource_id, self.partitions)].push(s);
        }
        let (publisher_id, signer) = (&self.publisher_id, &mut self.signer);
        by_partition
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(p, samples)| {
                let mut body = Vec::with_capacity(1024 * samples.len());
                telemetry_polling::encode(&mut body, publisher_id, samples, signer);
                OutMessage {
                    exchange: EXCHANGE.to_owned(),
                    routing_key: queue_name(p),
                    body,
                    headers: Vec::new(),
                    properties: None,
                }
            })
            .collect()
    }
}

impl Output for PartitionOutput {
    fn name(&self) -> &str {
        "transform-partitions"
    }

    fn fork(&self) -> Option<Box<dyn Output>> {
        Some(Box::new(self.clone()))
    }

    fn prepare(&mut self, flush: Items) -> Result<Write, PublishError> {
        let messages: Arc<[OutMessage]> = self.encode(&flush.samples).into();
        let publisher = self.publisher.clone();
        Ok(Arc::new(move || {
            let send = publisher.publish(messages.clone());
            Box::pin(async move { send.await.map_err(PublishError::from) })
        }))
    }
}
