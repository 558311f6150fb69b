//! AMQP heartbeats (oslo `heartbeat_timeout_threshold`, ceilo.yaml
//! `rabbit.heartbeat_timeout_threshold`) against the real broker: the timeout the broker
//! shows for ceilo's connections is the configured one, and a broker that goes silent behind a
//! connection that stays open is given up after twice that timeout.

mod runtime_support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ceilo::transport::{from_url_with, Consumer, QueueSpec, RabbitOptions};
use runtime_support::*;
use serde_json::Value as Json;

fn spec(queue: &str) -> QueueSpec {
    QueueSpec {
        queue: queue.into(),
        bindings: Vec::new(),
        durable: false,
        auto_delete: false,
        prefetch: 10,
        initial_limit: 0,
        single_active_consumer: false,
    }
}

fn options(threshold: u16) -> RabbitOptions {
    RabbitOptions {
        heartbeat_timeout_threshold: threshold,
        ..Default::default()
    }
}

/// The `timeout` (negotiated heartbeat) the broker shows for the connection consuming `queue`.
fn broker_timeout(broker: &Broker, queue: &str) -> u64 {
    let mut timeout = None;
    wait_until(
        &format!("the connection consuming {queue} in the management API"),
        Duration::from_secs(30),
        || {
            let conns = broker.get(&format!("/vhosts/{}/connections", broker.vhost));
            timeout = conns.as_array().into_iter().flatten().find_map(|c| {
                let name = c.pointer("/client_properties/connection_name")?.as_str()?;
                name.ends_with(&format!(" {queue}"))
                    .then(|| c.get("timeout").and_then(Json::as_u64))
                    .flatten()
            });
            timeout.is_some()
        },
    );
    timeout.unwrap_or_default()
}

#[test]
fn the_broker_shows_the_configured_heartbeat_timeout() {
    let broker = Broker::new("heartbeat");
    let rt = runtime();
    let mut consumers: Vec<Box<dyn Consumer>> = Vec::new();
    // (options, URL query, queue, what the broker shows). The test broker proposes RabbitMQ's
    // default, 60 s, and the smaller of the two is used, as py-amqp negotiates: 120 gives 60.
    let cases: [(u16, &str, &str, u64); 5] = [
        (17, "", "hb-17", 17),
        (60, "", "hb-default", 60),
        (120, "", "hb-120", 60),
        // oslo's "no heartbeat": lapin cannot send 0 to a broker that proposes a timeout, so
        // the broker's is used (off only where the broker has heartbeats off).
        (0, "", "hb-off", 60),
        // The URL's own ?heartbeat= wins over the option.
        (17, "?heartbeat=9", "hb-url", 9),
    ];
    for (threshold, query, queue, _) in cases {
        let url = format!("{}{query}", broker.url());
        let transport = from_url_with(&url, &options(threshold)).expect("transport");
        consumers.push(rt.block_on(transport.consume(spec(queue))).expect("consume"));
    }
    for (threshold, query, queue, shown) in cases {
        assert_eq!(
            broker_timeout(&broker, queue),
            shown,
            "heartbeat_timeout_threshold {threshold}, URL query {query:?}"
        );
    }
    // ceilo.yaml's key reaches the same option.
    let settings = ceilo::config::Settings::parse(
        "rabbit: {heartbeat_timeout_threshold: 23}\n",
        std::path::Path::new("ceilo.yaml"),
    )
    .expect("ceilo.yaml");
    let transport = from_url_with(&broker.url(), &settings.rabbit).expect("transport");
    consumers.push(rt.block_on(transport.consume(spec("hb-yaml"))).expect("consume"));
    assert_eq!(broker_timeout(&broker, "hb-yaml"), 23);
    for mut c in consumers {
        rt.block_on(c.close());
    }
}

/// A TCP relay to the broker that can be frozen: the connection stays open and nothing more
/// passes either way, as with a broker host that hangs or a network that drops packets.
struct Relay {
    port: u16,
    frozen: Arc<AtomicBool>,
}

impl Relay {
    fn start() -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let frozen = Arc::new(AtomicBool::new(false));
        let stop = frozen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(upstream) = TcpStream::connect("127.0.0.1:5672") else {
                    continue;
                };
                for (mut from, mut to) in [
                    (
                        client.try_clone().expect("clone"),
                        upstream.try_clone().expect("clone"),
                    ),
                    (upstream, client),
                ] {
                    let frozen = stop.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            if frozen.load(Ordering::SeqCst) {
                                // Hold both sockets open, pass nothing.
                                std::thread::sleep(Duration::from_millis(50));
                                continue;
                            }
                            from.set_read_timeout(Some(Duration::from_millis(50))).ok();
                            match from.read(&mut buf) {
                                Ok(0) => return,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
            }
        });
        Relay { port, frozen }
    }

    fn url(&self, vhost: &str) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/{vhost}", self.port)
    }

    fn freeze(&self) {
        self.frozen.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_silent_broker_is_given_up_after_twice_the_heartbeat_timeout() {
    let broker = Broker::new("heartbeat-dead");
    let rt = runtime();
    let (short, long) = (Relay::start(), Relay::start());
    let consume = |relay: &Relay, threshold: u16, queue: &str| {
        let transport = from_url_with(&relay.url(&broker.vhost), &options(threshold)).expect("transport");
        rt.block_on(transport.consume(spec(queue))).expect("consume")
    };
    let mut two = consume(&short, 2, "hb-dead-2");
    let mut sixty = consume(&long, 60, "hb-dead-60");
    short.freeze();
    long.freeze();
    let frozen_at = Instant::now();
    let ended = rt.block_on(async { tokio::time::timeout(Duration::from_secs(15), two.next()).await });
    let after = frozen_at.elapsed();
    match ended {
        Ok(None) | Ok(Some(Err(_))) => {}
        Ok(Some(Ok(d))) => panic!("a delivery through a frozen relay: {d:?}"),
        Err(_) => panic!("the consumer with a 2 s heartbeat still waits after 15 s of silence"),
    }
    assert!(
        after >= Duration::from_secs(2),
        "given up after {after:?}: before the heartbeat timeout"
    );
    // The same silence, with oslo's 60 s: still waiting (the option is what made the difference).
    let still = rt.block_on(async { tokio::time::timeout(Duration::from_secs(1), sixty.next()).await });
    assert!(still.is_err(), "the 60 s consumer ended too: {still:?}");
}
