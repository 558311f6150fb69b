//! Declaring exchanges and queues on a channel, and the preflight that checks, before the
//! agent starts, that the broker's exchanges and queues have ceilo's flags
//! ([`super::Transport::preflight`]). Consuming and publishing are [`super::amqp`]'s.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use super::failover::{self, Cursor};
use super::{amqp_err as err, mask, ExchangeSpec, QueueSpec, Topology, TransportError};

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

pub(super) async fn declare_queue(ch: &Channel, spec: &QueueSpec) -> Result<(), TransportError> {
    let mut exchanges: Vec<&str> = spec.bindings.iter().map(|(e, _)| e.as_str()).collect();
    exchanges.sort_unstable();
    exchanges.dedup();
    for exchange in exchanges {
        declare_exchange(ch, exchange, spec.durable, spec.auto_delete).await?;
    }
    declare_queue_only(ch, spec, false).await?;
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

/// The broker's words for a conflict (its message names the argument and both values).
fn conflict_text(what: String, e: &TransportError) -> String {
    match e {
        TransportError::Amqp { source, .. } => match source.kind() {
            lapin::ErrorKind::ProtocolError(p) => format!("{what}: {}", p.get_message()),
            _ => format!("{what}: {e}"),
        },
        _ => format!("{what}: {e}"),
    }
}

/// [`Transport::preflight`]: for each exchange, then each queue, a passive declare (does it
/// exist?) and, when it does, a declare with ceilo's flags, which the broker refuses if they
/// differ. It creates nothing, so a refused start leaves the broker as it found it. A refusal
/// closes the channel: the next check opens another.
pub(super) async fn preflight(url: &str, cursor: &Cursor, topology: Topology) -> Result<(), TransportError> {
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
        let declared = match declare_queue_only(&channel, spec, true).await {
            Ok(()) => declare_queue_only(&channel, spec, false).await,
            Err(e) => Err(e),
        };
        match declared {
            Ok(()) => continue,
            Err(e) if is_not_found(&e) => {}
            Err(e) if is_conflict(&e) => {
                let ours = format!(
                    "queue {} (ceilo: durable={}, auto_delete={})",
                    spec.queue, spec.durable, spec.auto_delete
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
    passive: bool,
) -> Result<(), TransportError> {
    let options = QueueDeclareOptions {
        passive,
        durable: spec.durable,
        auto_delete: spec.auto_delete,
        ..Default::default()
    };
    let mut arguments = FieldTable::default();
    if spec.single_active_consumer {
        arguments.insert("x-single-active-consumer".into(), AMQPValue::Boolean(true));
    }
    ch.queue_declare(spec.queue.as_str().into(), options, arguments)
        .await
        .map(drop)
        .map_err(err(format!("declare queue {}", spec.queue)))
}
