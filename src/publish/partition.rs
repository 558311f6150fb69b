//! The hop that gives every resource one owner across agents: samples for sinks with stateful
//! transformers are republished, grouped by [`crate::transform::partition`] of their
//! resource_id, to the partition queues `ceilo-transform.<p>`, as telemetry.polling
//! notifications (what the converter already reads back, ids and volumes unchanged).
//!
//! Each partition queue is declared `x-single-active-consumer`: every agent consumes every
//! partition, the broker lets one at a time have it and fails it over when that agent goes.
//! This module only encodes and declares; choosing which sinks are stateful is the pipeline's.

use std::sync::Arc;

use super::{Flush, Output, PublishError, Write};
use crate::model::envelope::{encode_v2, Outgoing};
use crate::model::json_write::JsonSink;
use crate::model::meter_message::write_meter_message_list;
use crate::model::signature::Signer;
use crate::model::{Priority, Sample};
use crate::transport::{OutMessage, Publisher, QueueSpec};

/// What the converter reads as samples sent by another agent (the polling IPC event type).
const TELEMETRY_POLLING: &str = "telemetry.polling";

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
        let head = Outgoing::new(&self.publisher_id, TELEMETRY_POLLING, Priority::Sample);
        let signer = &mut self.signer;
        by_partition
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(p, samples)| {
                let mut body = Vec::with_capacity(1024 * samples.len());
                encode_v2(&mut body, &head, |out| {
                    out.extend_from_slice(b"{\"samples\": ");
                    write_meter_message_list(out, samples, signer);
                    out.push(b'}');
                });
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

    fn prepare(&mut self, flush: Flush) -> Result<Write, PublishError> {
        let messages: Arc<[OutMessage]> = self.encode(&flush.samples).into();
        let publisher = self.publisher.clone();
        Ok(Arc::new(move || {
            let send = publisher.publish(messages.clone());
            Box::pin(async move { send.await.map_err(PublishError::from) })
        }))
    }
}
