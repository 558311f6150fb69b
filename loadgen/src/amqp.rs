//! RabbitMQ plumbing: connecting, and declaring exchanges and queues exactly as oslo.messaging
//! and Ceilometer do, so that loadgen's declarations agree with the agent's.
//!
//! Publishing and consuming live in `publish` and `collect`.

use anyhow::{Context, Result};
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueuePurgeOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

/// How exchanges and queues are declared; must match the agent's declarations, or the broker
/// refuses the second one (406 PRECONDITION_FAILED).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Declare {
    /// Durable exchanges and queues (oslo's `amqp_durable_queues`).
    pub durable: bool,
    /// Quorum queues (oslo's `rabbit_quorum_queue`): `x-queue-type: quorum`, durable, and
    /// durable exchanges, as the agent declares them then.
    pub quorum: bool,
}

impl Declare {
    fn durable(self) -> bool {
        self.durable || self.quorum
    }

    /// The queue arguments: only the type. The agent must not set quorum limits
    /// (`x-delivery-limit`, ...) that loadgen does not, or the declarations differ.
    fn queue_arguments(self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.quorum {
            args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        }
        args
    }
}

/// `[notification] notification_control_exchanges` default of Ceilometer 27.
pub const CONTROL_EXCHANGES: [&str; 14] = [
    "nova",
    "glance",
    "neutron",
    "cinder",
    "heat",
    "keystone",
    "trove",
    "zaqar",
    "swift",
    "ceilometer",
    "magnum",
    "dns",
    "ironic",
    "aodh",
];

/// The priorities Ceilometer's endpoints listen to, hence its seven queues.
pub const PRIORITIES: [&str; 7] = ["audit", "critical", "debug", "error", "info", "sample", "warn"];

/// Ceilometer's own exchange, where `notifier://` publishes.
pub const OUTPUT_EXCHANGE: &str = "ceilometer";

/// Routing keys (and default queue names) of the sample and event `notifier://` publishers.
pub const OUTPUT_KEYS: [&str; 2] = ["metering.sample", "event.sample"];

/// The notification queues Ceilometer consumes: `notifications.<priority>`.
pub fn notification_queues() -> Vec<String> {
    PRIORITIES.iter().map(|p| format!("notifications.{p}")).collect()
}

/// Opens a connection to `url`.
pub async fn connect(url: &str) -> Result<Connection> {
    let props = ConnectionProperties::default().with_connection_name("loadgen".into());
    Connection::connect(url, props)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// `url` without its password, for messages and reports.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            let user = cred.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..s + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

async fn declare_exchange(ch: &Channel, name: &str, how: Declare) -> Result<()> {
    let durable = how.durable();
    let opts = ExchangeDeclareOptions {
        durable,
        ..Default::default()
    };
    ch.exchange_declare(name.into(), ExchangeKind::Topic, opts, FieldTable::default())
        .await
        .with_context(|| {
            format!(
                "declaring topic exchange {name} (durable={durable}); \
                 an existing one with other flags needs --durable to match"
            )
        })
}

async fn declare_bound_queue(ch: &Channel, queue: &str, exchanges: &[&str], how: Declare) -> Result<()> {
    let opts = QueueDeclareOptions {
        durable: how.durable(),
        ..Default::default()
    };
    ch.queue_declare(queue.into(), opts, how.queue_arguments())
        .await
        .with_context(|| {
            format!(
                "declaring queue {queue} (durable={}, quorum={}); an existing one of another kind \
                 needs --durable or --quorum to match",
                how.durable(),
                how.quorum
            )
        })?;
    for ex in exchanges {
        ch.queue_bind(
            queue.into(),
            (*ex).into(),
            queue.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .with_context(|| format!("binding {queue} to {ex}"))?;
    }
    Ok(())
}

/// Declares the service exchanges and Ceilometer's seven queues, each bound to every control
/// exchange with its own name as routing key — what the notification agent declares at start.
/// Notifications published before the agent runs therefore wait in those queues.
pub async fn declare_notification_queues(ch: &Channel, how: Declare) -> Result<()> {
    for ex in CONTROL_EXCHANGES {
        declare_exchange(ch, ex, how).await?;
    }
    for q in notification_queues() {
        declare_bound_queue(ch, &q, &CONTROL_EXCHANGES, how).await?;
    }
    Ok(())
}

/// Declares exchange `ceilometer` and the queues `metering.sample` and `event.sample` bound to it,
/// as oslo's notifier declares them before its first publish.
pub async fn declare_output_queues(ch: &Channel, how: Declare) -> Result<()> {
    declare_exchange(ch, OUTPUT_EXCHANGE, how).await?;
    for q in OUTPUT_KEYS {
        declare_bound_queue(ch, q, &[OUTPUT_EXCHANGE], how).await?;
    }
    Ok(())
}

/// Also declares exchanges for the families that the control list lacks (octavia, manila...).
pub async fn declare_exchanges(ch: &Channel, names: &[&str], how: Declare) -> Result<()> {
    for ex in names {
        declare_exchange(ch, ex, how).await?;
    }
    Ok(())
}

/// Messages ready and consumers attached, summed over `queues` (a passive declare each).
pub async fn depth(ch: &Channel, queues: &[String]) -> Result<(u64, u64)> {
    let mut messages = 0;
    let mut consumers = 0;
    for q in queues {
        let opts = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let info = ch
            .queue_declare(q.as_str().into(), opts, FieldTable::default())
            .await
            .with_context(|| format!("reading the depth of queue {q}"))?;
        messages += u64::from(info.message_count());
        consumers += u64::from(info.consumer_count());
    }
    Ok((messages, consumers))
}

/// Empties `queues`; returns how many messages were dropped.
pub async fn purge(ch: &Channel, queues: &[String]) -> Result<u64> {
    let mut n = 0;
    for q in queues {
        n += u64::from(
            ch.queue_purge(q.as_str().into(), QueuePurgeOptions::default())
                .await
                .with_context(|| format!("purging {q}"))?,
        );
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::Declare;
    use lapin::types::AMQPValue;

    #[test]
    fn quorum_queues_are_durable_and_typed() {
        let quorum = Declare {
            durable: false,
            quorum: true,
        };
        assert!(quorum.durable());
        let args = quorum.queue_arguments();
        assert_eq!(
            args.inner().get("x-queue-type"),
            Some(&AMQPValue::LongString("quorum".into()))
        );
        let classic = Declare::default();
        assert!(!classic.durable());
        assert!(classic.queue_arguments().inner().is_empty());
    }

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            super::redact("amqp://guest:guest@127.0.0.1:5672/v"),
            "amqp://guest:***@127.0.0.1:5672/v"
        );
        assert_eq!(super::redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
    }
}
