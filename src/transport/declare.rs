//! Declaring exchanges and queues on a channel, and the preflight that checks, before the
//! agent starts, that the broker's exchanges and queues have ceilo's flags
//! ([`super::Transport::preflight`]). Consuming and publishing are [`super::amqp`]'s.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::failover::{self, Cursor};
use super::{amqp_err as err, mask, ExchangeSpec, QueueSpec, RabbitOptions, Topology, TransportError};

pub(super) async fn declare_exchange(
    ch: &Channel,
    name: &str,
    durable: bool,
    auto_delete: bool,
) -> Result<(), TransportError> {
    if name.is_empty() {
        return Ok(()); // the default exchange exists and cannot be declared
    }
    let options = ExchangeDeclareOptions {
        durable,
        auto_delete,
        ..Default::default()
    };
    ch.exchange_declare(name.into(), ExchangeKind::Topic, options, FieldTable::default())
        .await
        .map_err(err(format!("declare exchange {name}")))
}

pub(super) async fn declare_queue(
    ch: &Channel,
    spec: &QueueSpec,
    options: &RabbitOptions,
) -> Result<(), TransportError> {
    let mut exchanges: Vec<&str> = spec.bindings.iter().map(|(e, _)| e.as_str()).collect();
    exchanges.sort_unstable();
    exchanges.dedup();
    for exchange in exchanges {
        declare_exchange(ch, exchange, spec.durable, spec.auto_delete).await?;
    }
    declare_queue_only(ch, spec, options, false).await?;
    for (exchange, key) in &spec.bindings {
        ch.queue_bind(
            spec.queue.as_str().into(),
            exchange.as_str().into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(err(format!("bind queue {} to {exchange} with {key}", spec.queue)))?;
    }
    Ok(())
}

/// The broker refused with this channel-level error (which closes the channel).
fn is_soft(e: &TransportError, code: lapin::protocol::AMQPSoftError) -> bool {
    use lapin::protocol::AMQPErrorKind;
    matches!(e, TransportError::Amqp { source, .. }
        if matches!(source.kind(), lapin::ErrorKind::ProtocolError(p)
            if *p.kind() == AMQPErrorKind::Soft(code)))
}

/// The broker refused a declaration because the exchange or queue exists with other flags
/// (406 PRECONDITION_FAILED, e.g. "inequivalent arg 'durable'").
fn is_conflict(e: &TransportError) -> bool {
    is_soft(e, lapin::protocol::AMQPSoftError::PRECONDITIONFAILED)
}

fn is_not_found(e: &TransportError) -> bool {
    is_soft(e, lapin::protocol::AMQPSoftError::NOTFOUND)
}

/// The broker's words for a conflict (its message names the argument and both values), and
/// the option that sets that argument.
fn conflict_text(what: String, e: &TransportError) -> String {
    let words = match e {
        TransportError::Amqp { source, .. } => match source.kind() {
            lapin::ErrorKind::ProtocolError(p) => p.get_message().to_string(),
            _ => e.to_string(),
        },
        _ => e.to_string(),
    };
    match option_of(&words) {
        Some(option) => format!("{what}: {words} (set by {option})"),
        None => format!("{what}: {words}"),
    }
}

/// The option behind the argument a broker's "inequivalent arg 'X'" names.
fn option_of(words: &str) -> Option<&'static str> {
    const OPTIONS: [(&str, &str); 6] = [
        (
            "'x-queue-type'",
            "rabbit.quorum_queue, oslo [oslo_messaging_rabbit] rabbit_quorum_queue",
        ),
        (
            "'x-delivery-limit'",
            "rabbit.quorum_delivery_limit, oslo rabbit_quorum_delivery_limit",
        ),
        (
            "'x-max-in-memory-length'",
            "rabbit.quorum_max_memory_length, oslo rabbit_quorum_max_memory_length",
        ),
        (
            "'x-max-in-memory-bytes'",
            "rabbit.quorum_max_memory_bytes, oslo rabbit_quorum_max_memory_bytes",
        ),
        ("'durable'", "amqp_durable_queues"),
        ("'auto_delete'", "notification.auto_delete, oslo amqp_auto_delete"),
    ];
    OPTIONS
        .iter()
        .find(|(arg, _)| words.contains(&format!("inequivalent arg {arg}")))
        .map(|(_, option)| *option)
}

/// [`Transport::preflight`](super::Transport::preflight) on AMQP: for each exchange, then each
/// queue, a passive declare (does it exist?) and, when it does, a declare with ceilo's flags,
/// which the broker refuses if they differ. It creates nothing, so a refused start leaves the
/// broker as it found it. A refusal closes the channel: the next check opens another.
pub(super) async fn preflight(
    url: &str,
    cursor: &Cursor,
    options: &RabbitOptions,
    topology: Topology,
) -> Result<(), TransportError> {
    let connection = failover::connect(cursor, "ceilo preflight").await?;
    let open = || async {
        connection
            .create_channel()
            .await
            .map_err(err("open preflight channel"))
    };
    let mut channel = open().await?;
    let mut conflicts = Vec::new();
    for ExchangeSpec {
        name,
        durable,
        auto_delete,
    } in topology.exchanges()
    {
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let exists = channel
            .exchange_declare(
                name.as_str().into(),
                ExchangeKind::Topic,
                passive,
                FieldTable::default(),
            )
            .await
            .map_err(err(format!("passive declare of exchange {name}")));
        let declared = match exists {
            Ok(()) => declare_exchange(&channel, &name, durable, auto_delete).await,
            Err(e) => Err(e),
        };
        match declared {
            Ok(()) => continue,
            Err(e) if is_not_found(&e) => {}
            Err(e) if is_conflict(&e) => {
                let ours = format!("exchange {name} (ceilo: durable={durable}, auto_delete={auto_delete})");
                conflicts.push(conflict_text(ours, &e));
            }
            Err(e) => return Err(e),
        }
        channel = open().await?;
    }
    for spec in &topology.queues {
        let declared = match declare_queue_only(&channel, spec, options, true).await {
            Ok(()) => declare_queue_only(&channel, spec, options, false).await,
            Err(e) => Err(e),
        };
        match declared {
            Ok(()) => continue,
            Err(e) if is_not_found(&e) => {}
            Err(e) if is_conflict(&e) => {
                let ours = format!(
                    "queue {} (ceilo: type={}, durable={}, auto_delete={})",
                    spec.queue,
                    if options.quorum_queue { "quorum" } else { "classic" },
                    spec.durable,
                    spec.auto_delete
                );
                conflicts.push(conflict_text(ours, &e));
            }
            Err(e) => return Err(e),
        }
        channel = open().await?;
    }
    let _ = connection.close(200, "ceilo preflight done".into()).await;
    if conflicts.is_empty() {
        Ok(())
    } else {
        Err(TransportError::Conflict {
            url: mask(url),
            conflicts,
        })
    }
}

/// `queue.declare` of the spec's queue alone (`passive`: only whether it exists).
pub(super) async fn declare_queue_only(
    ch: &Channel,
    spec: &QueueSpec,
    rabbit: &RabbitOptions,
    passive: bool,
) -> Result<(), TransportError> {
    let options = QueueDeclareOptions {
        passive,
        durable: spec.durable,
        auto_delete: spec.auto_delete,
        ..Default::default()
    };
    ch.queue_declare(spec.queue.as_str().into(), options, queue_arguments(spec, rabbit))
        .await
        .map(drop)
        .map_err(err(format!("declare queue {}", spec.queue)))
}

/// The `x-` arguments of a queue: single-active-consumer from the spec; the queue type and
/// the quorum limits, as oslo's `_get_queue_arguments` sets them, from the options (a limit of
/// 0 is not set).
fn queue_arguments(spec: &QueueSpec, rabbit: &RabbitOptions) -> FieldTable {
    let mut arguments = FieldTable::default();
    if spec.single_active_consumer {
        arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    if rabbit.quorum_queue {
        arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        let limits = [
            ("x-delivery-limit", u64::from(rabbit.quorum_delivery_limit)),
            (
                "x-max-in-memory-length",
                u64::from(rabbit.quorum_max_memory_length),
            ),
            ("x-max-in-memory-bytes", rabbit.quorum_max_memory_bytes),
        ];
        for (name, value) in limits {
            if value > 0 {
                let value = i64::try_from(value).unwrap_or(i64::MAX);
                arguments.insert(name.into(), AMQPValue::LongLongInt(value));
            }
        }
    }
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(single_active_consumer: bool) -> QueueSpec {
        QueueSpec {
            queue: "q".into(),
            bindings: Vec::new(),
            durable: true,
            auto_delete: false,
            prefetch: 1,
            initial_limit: 0,
            single_active_consumer,
        }
    }

    #[test]
    fn quorum_queues_get_oslos_arguments_and_unset_limits_are_left_out() {
        let classic = queue_arguments(&spec(false), &RabbitOptions::default());
        assert!(classic.inner().is_empty());
        let rabbit = RabbitOptions {
            quorum_queue: true,
            quorum_delivery_limit: 5,
            quorum_max_memory_bytes: 1 << 20,
            ..Default::default()
        };
        let args = queue_arguments(&spec(true), &rabbit);
        let get = |k: &str| args.inner().get(k).cloned();
        assert_eq!(get("x-queue-type"), Some(AMQPValue::LongString("quorum".into())));
        assert_eq!(get("x-delivery-limit"), Some(AMQPValue::LongLongInt(5)));
        assert_eq!(
            get("x-max-in-memory-bytes"),
            Some(AMQPValue::LongLongInt(1 << 20))
        );
        assert_eq!(get("x-max-in-memory-length"), None, "0 is no limit: not set");
        assert_eq!(get("x-single-active-consumer"), Some(AMQPValue::Boolean(true)));
    }

    #[test]
    fn a_conflict_names_the_option_behind_the_argument() {
        let words = "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'notifications.info' \
                     in vhost 'v': received none but current is the value 'quorum' of type 'longstr'";
        let text = conflict_text(
            "queue notifications.info (ceilo: type=classic, durable=false, auto_delete=false)".into(),
            &TransportError::Closed(words.into()),
        );
        assert!(
            text.contains("'notifications.info'")
                && text.ends_with(
                    "(set by rabbit.quorum_queue, oslo [oslo_messaging_rabbit] rabbit_quorum_queue)"
                ),
            "{text}"
        );
        assert_eq!(
            option_of("inequivalent arg 'durable' for exchange"),
            Some("amqp_durable_queues")
        );
        assert_eq!(option_of("NOT_FOUND - no queue"), None);
    }
}
