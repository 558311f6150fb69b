//! The publishing connection (`transport::wire_publish`, ceilo's own AMQP publisher with
//! confirms) against the real broker: concurrent flushes arrive whole, in order, with their
//! properties whatever their size; a flush the broker nacks, a channel it closes and a
//! connection it kills are errors of that flush only, and the next publish goes through.

mod runtime_support;

use std::sync::Arc;
use std::time::Duration;

use ceilo::transport::{from_url, OutMessage, PublishTopology, Publisher, TransportError};
use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use runtime_support::*;

fn message(exchange: &str, routing_key: &str, body: Vec<u8>) -> OutMessage {
    OutMessage {
        exchange: exchange.into(),
        routing_key: routing_key.into(),
        body,
        headers: Vec::new(),
        properties: None,
    }
}

/// A publisher that declares `<key>` bound to the exchange before its first publish there,
/// as `notifier://` publishes.
fn publisher(broker: &Broker) -> Arc<dyn Publisher> {
    from_url(&broker.url())
        .expect("transport")
        .publisher(PublishTopology {
            default_queues: true,
            ..Default::default()
        })
}

fn publish(
    rt: &tokio::runtime::Runtime,
    p: &Arc<dyn Publisher>,
    messages: Vec<OutMessage>,
) -> Result<(), TransportError> {
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(30), p.publish(messages.into()))
            .await
            .expect("a publish settled within 30 s")
    })
}

#[test]
fn concurrent_flushes_arrive_whole_in_order_with_their_properties() {
    let broker = Broker::new("wire-publish");
    let (rt, p) = (runtime(), publisher(&broker));
    // 20 flushes of 50 at once; one body of 1 MiB, cut into many frames; one dead letter with
    // its own properties and a header.
    let flushes: Vec<Vec<OutMessage>> = (0..20)
        .map(|f| {
            (0..50)
                .map(|i| {
                    let mut body = format!("{f:02}-{i:02}:").into_bytes();
                    if (f, i) == (7, 7) {
                        body.resize(1 << 20, b'x');
                    }
                    let mut m = message("ceilometer", "pub.sample", body);
                    if (f, i) == (3, 3) {
                        m.properties = Some(BasicProperties::default().with_message_id("original".into()));
                        m.headers = vec![("x-reason".into(), "output".into())];
                    }
                    m
                })
                .collect()
        })
        .collect();
    let results = rt.block_on(async {
        let sends: Vec<_> = flushes
            .iter()
            .map(|f| tokio::spawn(p.publish(f.clone().into())))
            .collect();
        let mut results = Vec::new();
        for send in sends {
            results.push(send.await.expect("the publish task"));
        }
        results
    });
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let got = rt.block_on(collect(
        &broker.url(),
        "pub.sample",
        Duration::from_secs(30),
        messages(1000),
    ));
    assert_eq!(got.len(), 1000);
    // Each flush's messages in its order; the bodies whole.
    let mut next = [0; 20];
    for r in &got {
        let f: usize = std::str::from_utf8(&r.body[..2]).unwrap().parse().unwrap();
        let i: usize = std::str::from_utf8(&r.body[3..5]).unwrap().parse().unwrap();
        assert_eq!(i, next[f], "flush {f} out of order");
        next[f] += 1;
        assert_eq!(r.body.len(), if (f, i) == (7, 7) { 1 << 20 } else { 6 });
        if (f, i) == (3, 3) {
            assert_eq!(
                r.properties.message_id().as_ref().map(|s| s.as_str()),
                Some("original")
            );
            assert_eq!(r.headers, [("x-reason".to_owned(), "output".to_owned())]);
        } else {
            assert_eq!(
                r.properties.content_type().as_ref().map(|s| s.as_str()),
                Some("application/json")
            );
            assert_eq!(r.properties.delivery_mode(), &Some(2));
        }
    }
}

/// A queue that refuses publishes beyond its first message: the broker nacks them.
async fn declare_full_queue(url: &str, queue: &str) {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connect");
    let ch = conn.create_channel().await.expect("channel");
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(1));
    args.insert(
        "x-overflow".into(),
        AMQPValue::LongString(LongString::from("reject-publish")),
    );
    ch.queue_declare(queue.into(), QueueDeclareOptions::default(), args)
        .await
        .expect("queue");
    let _ = conn.close(200, "bye".into()).await;
}

#[test]
fn a_nack_a_closed_channel_and_a_killed_connection_fail_their_flush_only() {
    let broker = Broker::new("wire-publish-faults");
    let rt = runtime();
    let url = broker.url();
    let p = from_url(&url)
        .expect("transport")
        .publisher(PublishTopology::default());
    rt.block_on(declare_full_queue(&url, "full"));
    rt.block_on(declare(&url, "open", "plain", "open", false));
    let to_open = || vec![message("plain", "open", b"ok".to_vec())];
    assert!(publish(&rt, &p, to_open()).is_ok());
    // Through the default exchange to the queue that takes one message: the second is nacked.
    let to_full = |n: u8| (0..n).map(|i| message("", "full", vec![i])).collect::<Vec<_>>();
    match publish(&rt, &p, to_full(2)) {
        Err(TransportError::Nacked { routing_key, .. }) => assert_eq!(routing_key, "full"),
        other => panic!("a flush the broker nacked: {other:?}"),
    }
    assert!(
        publish(&rt, &p, to_open()).is_ok(),
        "a nack leaves the channel open"
    );
    // An exchange that does not exist: the broker closes the channel (404).
    match publish(&rt, &p, vec![message("nowhere", "k", b"x".to_vec())]) {
        Err(e) => assert!(e.to_string().contains("404"), "{e}"),
        Ok(()) => panic!("published to an exchange that does not exist"),
    }
    assert!(
        publish(&rt, &p, to_open()).is_ok(),
        "a new channel after the closed one"
    );
    // The broker kills the publishing connection: at most the next flush fails, then it
    // reconnects.
    wait_until("the publishing connection", Duration::from_secs(10), || {
        broker.close_connections_named("(publish)") >= 1
    });
    let after_kill = (0..3).map(|_| publish(&rt, &p, to_open())).collect::<Vec<_>>();
    assert!(after_kill[1..].iter().all(Result::is_ok), "{after_kill:?}");
    let delivered = 3 + after_kill.iter().filter(|r| r.is_ok()).count();
    let got = rt.block_on(collect(
        &url,
        "open",
        Duration::from_secs(10),
        messages(delivered),
    ));
    assert_eq!(got.len(), delivered);
    assert_eq!(
        rt.block_on(ready_count(&url, "full")),
        1,
        "what the full queue took"
    );
}
