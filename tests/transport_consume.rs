//! The consuming connection (`transport::wire`, ceilo's own AMQP reader) against the real
//! broker: deliveries arrive whole with their properties whatever their size, settles and
//! requeues do what AMQP says, what the broker ends (a deleted queue, a closed channel) ends
//! the consumer with the broker's reason, and a close keeps the acks sent before it.

mod runtime_support;

use std::time::Duration;

use ceilo::transport::{from_url, Consumer, Delivery, QueueSpec, Settle, TransportError};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::BasicProperties;
use runtime_support::*;

const EXCHANGE: &str = "wire-test";

fn spec(queue: &str) -> QueueSpec {
    QueueSpec {
        queue: queue.into(),
        bindings: vec![(EXCHANGE.into(), queue.into())],
        durable: false,
        auto_delete: false,
        prefetch: 50,
        initial_limit: 0,
        single_active_consumer: false,
    }
}

/// A vhost of its own, a runtime, and a consumer there of the queue named `queue`.
fn setup(queue: &str) -> (Broker, tokio::runtime::Runtime, Box<dyn Consumer>) {
    let broker = Broker::new(queue);
    let rt = runtime();
    let transport = from_url(&broker.url()).expect("transport");
    let consumer = rt.block_on(transport.consume(spec(queue))).expect("consume");
    (broker, rt, consumer)
}

/// What `next` gives within 10 s; `None` when it gave nothing.
fn next_within(
    rt: &tokio::runtime::Runtime,
    consumer: &mut Box<dyn Consumer>,
) -> Option<Option<Result<Delivery, TransportError>>> {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), consumer.next())
            .await
            .ok()
    })
}

fn take(rt: &tokio::runtime::Runtime, consumer: &mut Box<dyn Consumer>, n: usize) -> Vec<Delivery> {
    rt.block_on(async {
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout(Duration::from_secs(10), consumer.next()).await {
                Ok(Some(Ok(d))) => got.push(d),
                other => panic!("delivery {} of {n}: {other:?}", got.len() + 1),
            }
        }
        got
    })
}

fn publish_n(rt: &tokio::runtime::Runtime, broker: &Broker, queue: &str, n: usize) {
    let messages: Vec<_> = (0..n)
        .map(|i| {
            (
                EXCHANGE.to_owned(),
                queue.to_owned(),
                format!("m{i}").into_bytes(),
            )
        })
        .collect();
    rt.block_on(publish(&broker.url(), &messages));
}

/// (ready, unacked) once the management API shows `want`.
fn wait_counts(broker: &Broker, queue: &str, want: (u64, u64)) {
    let mut seen = (u64::MAX, u64::MAX);
    wait_until(
        &format!("{queue} at (ready, unacked) {want:?}"),
        Duration::from_secs(30),
        || {
            seen = broker.counts(queue);
            seen == want
        },
    );
}

#[test]
fn deliveries_arrive_whole_with_their_properties_whatever_their_size() {
    let queue = "wire-sizes";
    let (broker, rt, mut consumer) = setup(queue);
    // Empty, one byte, around the 32 KiB frame size ceilo proposes, and many frames long.
    let sizes = [
        0usize,
        1,
        32 * 1024 - 8,
        32 * 1024,
        32 * 1024 + 1,
        100_000,
        1_000_000,
    ];
    let messages: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let body: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            let mut headers = FieldTable::default();
            headers.insert(
                "x-size".into(),
                AMQPValue::LongString(LongString::from(size.to_string())),
            );
            let props = BasicProperties::default()
                .with_content_type("application/json".into())
                .with_message_id(format!("id-{i}").into())
                .with_priority(3)
                .with_headers(headers);
            (EXCHANGE.to_owned(), queue.to_owned(), body, props)
        })
        .collect();
    rt.block_on(publish_with_properties(&broker.url(), &messages));
    let got = take(&rt, &mut consumer, sizes.len());
    for (d, (_, _, body, props)) in got.iter().zip(&messages) {
        assert_eq!(d.body.len(), body.len());
        assert!(
            d.body == *body,
            "the body of {:?} arrived changed",
            props.message_id()
        );
        assert_eq!(d.properties.message_id(), props.message_id());
        assert_eq!(d.properties.priority(), &Some(3));
        assert_eq!(d.properties.content_type(), props.content_type());
        assert_eq!(d.properties.headers(), props.headers());
        assert_eq!((&*d.exchange, &*d.routing_key), (EXCHANGE, queue));
        assert!(!d.redelivered);
    }
    let tags: Vec<u64> = got.iter().map(|d| d.tag).collect();
    assert_eq!(tags, (1..=sizes.len() as u64).collect::<Vec<_>>());
    rt.block_on(consumer.acker().settle(sizes.len() as u64, Settle::Ack))
        .expect("ack");
    rt.block_on(consumer.close());
    wait_counts(&broker, queue, (0, 0));
}

#[test]
fn a_requeue_redelivers_and_an_ack_settles_everything_up_to_its_tag() {
    let queue = "wire-settle";
    let (broker, rt, mut consumer) = setup(queue);
    publish_n(&rt, &broker, queue, 4);
    let first = take(&rt, &mut consumer, 4);
    let acker = consumer.acker();
    rt.block_on(acker.settle(2, Settle::Requeue)).expect("nack");
    let again = take(&rt, &mut consumer, 2);
    let bodies = |ds: &[Delivery]| ds.iter().map(|d| d.body.clone()).collect::<Vec<_>>();
    assert_eq!(bodies(&again), bodies(&first[..2]), "tags 1 and 2 come back");
    assert!(again.iter().all(|d| d.redelivered && d.tag > 4), "{again:?}");
    rt.block_on(acker.settle(again[1].tag, Settle::Ack)).expect("ack");
    wait_counts(&broker, queue, (0, 0));
    rt.block_on(consumer.close());
}

#[test]
fn the_broker_cancelling_the_consumer_ends_it() {
    let queue = "wire-cancel";
    let (broker, rt, mut consumer) = setup(queue);
    curl("DELETE", &format!("/queues/{}/{queue}", broker.vhost), None);
    let ended = next_within(&rt, &mut consumer);
    assert!(
        matches!(ended, Some(None)),
        "after the queue was deleted: {ended:?}"
    );
}

#[test]
fn a_channel_closed_by_the_broker_ends_the_consumer_with_the_brokers_reason() {
    let queue = "wire-close";
    let (broker, rt, mut consumer) = setup(queue);
    publish_n(&rt, &broker, queue, 1);
    take(&rt, &mut consumer, 1);
    // A tag the broker never sent: RabbitMQ closes the channel (406 PRECONDITION_FAILED).
    rt.block_on(consumer.acker().settle(99, Settle::Ack))
        .expect("queued");
    let error = match next_within(&rt, &mut consumer) {
        Some(Some(Err(e))) => e.to_string(),
        other => panic!("expected the broker's close: {other:?}"),
    };
    assert!(
        error.contains("406") && error.contains("unknown delivery tag 99"),
        "{error}"
    );
    // The delivery it had is the broker's again.
    wait_counts(&broker, queue, (1, 0));
}

#[test]
fn a_close_keeps_the_acks_sent_before_it_and_the_broker_requeues_the_rest() {
    let queue = "wire-shutdown";
    let (broker, rt, mut consumer) = setup(queue);
    publish_n(&rt, &broker, queue, 10);
    take(&rt, &mut consumer, 10);
    let acker = consumer.acker();
    rt.block_on(async {
        acker.settle(3, Settle::Ack).await.expect("ack");
        acker.settle(6, Settle::Ack).await.expect("ack");
        consumer.cancel().await.expect("cancel");
        consumer.close().await;
    });
    wait_counts(&broker, queue, (4, 0));
    wait_until("a settle after the close to fail", Duration::from_secs(5), || {
        rt.block_on(acker.settle(10, Settle::Ack)).is_err()
    });
}

#[test]
fn a_wake_threshold_holds_a_waiting_next_until_enough_arrived_or_it_is_lowered() {
    let queue = "wire-wake";
    let (broker, rt, mut consumer) = setup(queue);
    let waits = |consumer: &mut Box<dyn Consumer>, ms| {
        rt.block_on(async { tokio::time::timeout(Duration::from_millis(ms), consumer.next()).await })
            .is_err()
    };
    consumer.wake_after(64 << 10);
    // Nothing is queued: this wait reads the socket dry, so the next one needs a wake-up.
    assert!(waits(&mut consumer, 300));
    publish_n(&rt, &broker, queue, 1);
    wait_counts(&broker, queue, (0, 1));
    assert!(
        waits(&mut consumer, 500),
        "a delivery of a few bytes, under the threshold, wakes nobody"
    );
    consumer.wake_after(1);
    match next_within(&rt, &mut consumer) {
        Some(Some(Ok(d))) => assert_eq!(d.body, b"m0"),
        other => panic!("lowering the threshold wakes the wait: {other:?}"),
    }
    // Enough bytes wake it whatever the threshold.
    consumer.wake_after(4 << 10);
    let big = vec![b'x'; 8 << 10];
    rt.block_on(publish(
        &broker.url(),
        &[(EXCHANGE.to_owned(), queue.to_owned(), big.clone())],
    ));
    match next_within(&rt, &mut consumer) {
        Some(Some(Ok(d))) => assert_eq!(d.body, big),
        other => panic!("8 KiB pass a 4 KiB threshold: {other:?}"),
    }
}

#[test]
fn heartbeats_under_a_wake_threshold_do_not_make_the_broker_look_silent() {
    let queue = "wire-wake-heartbeat";
    let broker = Broker::new(queue);
    let rt = runtime();
    // A 1 s heartbeat: the reader calls the broker gone after 2 s without a read.
    let transport = from_url(&format!("{}?heartbeat=1", broker.url())).expect("transport");
    let mut consumer = rt.block_on(transport.consume(spec(queue))).expect("consume");
    consumer.wake_after(64 << 10);
    let waited = rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), consumer.next()).await });
    assert!(
        waited.is_err(),
        "still waiting after 5 s of heartbeats: {waited:?}"
    );
    publish_n(&rt, &broker, queue, 1);
    consumer.wake_after(1);
    match next_within(&rt, &mut consumer) {
        Some(Some(Ok(d))) => assert_eq!(d.body, b"m0"),
        other => panic!("{other:?}"),
    }
}
