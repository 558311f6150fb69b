//! Publishing with pipelined publisher confirms: many publishes in flight on one channel, each
//! message counted as sent only once the broker has confirmed it.

use std::collections::VecDeque;

use anyhow::{Context, Result};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::PublisherConfirm;
use lapin::{BasicProperties, Channel, Connection};

/// A confirming publisher on its own channel.
pub struct Publisher {
    channel: Channel,
    props: BasicProperties,
    window: VecDeque<(u64, PublisherConfirm)>,
    max_in_flight: usize,
    confirmed: u64,
    nacked: Vec<u64>,
    bytes: u64,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens a channel in confirm mode; at most `max_in_flight` unconfirmed messages at a time.
    pub async fn new(conn: &Connection, props: BasicProperties, max_in_flight: usize) -> Result<Self> {
        let channel = conn
            .create_channel()
            .await
            .context("opening the publishing channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("enabling confirms")?;
        Ok(Self {
            channel,
            props,
            window: VecDeque::new(),
            max_in_flight: max_in_flight.max(1),
            confirmed: 0,
            nacked: Vec::new(),
            bytes: 0,
        })
    }

    /// Publishes one message; waits for the oldest confirm when the window is full.
    pub async fn publish(&mut self, seq: u64, exchange: &str, routing_key: &str, body: &[u8]) -> Result<()> {
        while self.window.len() >= self.max_in_flight {
            self.settle_one().await?;
        }
        let confirm = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions::default(),
                body,
                self.props.clone(),
            )
            .await
            .with_context(|| format!("publishing to {exchange}/{routing_key}"))?;
        self.bytes += body.len() as u64;
        self.window.push_back((seq, confirm));
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<()> {
        if let Some((seq, confirm)) = self.window.pop_front() {
            let c = confirm.await.context("waiting for a publisher confirm")?;
            if c.is_ack() {
                self.confirmed += 1;
            } else {
                self.nacked.push(seq);
            }
        }
        Ok(())
    }

    /// Waits for every outstanding confirm.
    pub async fn flush(&mut self) -> Result<()> {
        while !self.window.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Messages the broker confirmed.
    pub fn confirmed(&self) -> u64 {
        self.confirmed
    }

    /// Sequence numbers the broker refused.
    pub fn nacked(&self) -> &[u64] {
        &self.nacked
    }

    /// Body bytes published.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}
