//! `udp://` and `tcp://` through the real broker to real sockets: the msgpack meter messages
//! Ceilometer would send, decoded and their signatures checked; a TCP receiver that is down,
//! then restarts, gets every sample.

mod publish_support;
mod runtime_support;

use std::collections::HashSet;
use std::io::Read;
use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use publish_support::{free_port, msgpack_decode, pipeline_to, signature_is_valid, DEFAULT_SECRET};
use runtime_support::*;
use serde_json::Value as Json;

fn check_message(m: &Json) {
    assert_eq!(m["counter_name"], "cpu");
    assert_eq!(m["counter_type"], "cumulative");
    assert_eq!(m["counter_volume"], 1000);
    assert_eq!(m["resource_id"], "r");
    assert!(signature_is_valid(m, DEFAULT_SECRET), "bad signature: {m}");
}

#[test]
fn samples_reach_a_udp_socket_one_signed_msgpack_datagram_each() {
    let broker = Broker::new("udp");
    let url = broker.url();
    let rt = runtime();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let dir = config_dir(&settings(50, 10));
    let publisher = format!("udp://{}", socket.local_addr().unwrap());
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let _agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("u", 20)));
    let mut ids = HashSet::new();
    let mut buf = vec![0u8; 65536];
    while ids.len() < 20 {
        let n = socket.recv(&mut buf).expect("a datagram within 30 s");
        let (message, used) = msgpack_decode(&buf[..n]);
        assert_eq!(used, n, "one message per datagram");
        check_message(&message);
        assert!(message.get("publisher_id").is_none(), "udp sends no publisher_id");
        ids.insert(message["message_id"].as_str().unwrap().to_owned());
    }
    let want: HashSet<String> = (0..20).map(|i| format!("u-{i}")).collect();
    assert_eq!(ids, want);
    wait_until("every delivery acked", Duration::from_secs(10), || {
        broker.counts("notifications.sample") == (0, 0)
    });
}

/// Reads frames from `conn` until `n` distinct ids were seen or the peer closes; returns the
/// messages.
fn read_frames(conn: &mut std::net::TcpStream, ids: &mut HashSet<String>, n: usize) -> Vec<Json> {
    conn.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut messages = Vec::new();
    while ids.len() < n {
        let mut len = [0u8; 8];
        if conn.read_exact(&mut len).is_err() {
            break;
        }
        let mut body = vec![0u8; u64::from_le_bytes(len) as usize];
        conn.read_exact(&mut body).expect("a whole frame");
        let (message, used) = msgpack_decode(&body);
        assert_eq!(used, body.len(), "the length prefix is the message's");
        ids.insert(message["message_id"].as_str().unwrap().to_owned());
        messages.push(message);
    }
    messages
}

#[test]
fn samples_reach_a_tcp_listener_framed_and_signed_with_the_host() {
    let broker = Broker::new("tcp");
    let url = broker.url();
    let rt = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = config_dir(&format!("host: ceilo-tcp-test\n{}", settings(50, 10)));
    let publisher = format!("tcp://{}", listener.local_addr().unwrap());
    std::fs::write(dir.path().join("pipeline.yaml"), pipeline_to(&publisher)).unwrap();
    let _agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("t", 20)));
    let (mut conn, _) = listener.accept().unwrap();
    let mut ids = HashSet::new();
    for m in read_frames(&mut conn, &mut ids, 20) {
        check_message(&m);
        assert_eq!(m["publisher_id"], "ceilo-tcp-test");
    }
    assert_eq!(ids.len(), 20);
}

#[test]
fn a_tcp_receiver_down_then_restarted_gets_every_sample() {
    let broker = Broker::new("tcp-outage");
    let url = broker.url();
    let rt = runtime();
    let addr = free_port();
    let prefetch = 10;
    let dir = config_dir(&settings(prefetch, 5));
    std::fs::write(
        dir.path().join("pipeline.yaml"),
        pipeline_to(&format!("tcp://{addr}")),
    )
    .unwrap();
    let agent = Agent::start(dir.path(), &url);
    rt.block_on(publish(&url, &polling_messages("a", 40)));
    // Down: connections refused; deliveries held at the prefetch bound, nothing dropped.
    assert_held_while_down(&broker, "notifications.sample", 40, prefetch, agent.pid());
    let listener = TcpListener::bind(addr).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut ids = HashSet::new();
    read_frames(&mut conn, &mut ids, 40);
    assert_eq!(ids.len(), 40);
    // The receiver restarts between flushes: the publisher sees the closed connection and
    // reconnects instead of writing into it.
    drop(conn);
    drop(listener);
    let listener = TcpListener::bind(addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    rt.block_on(publish(&url, &polling_messages("b", 40)));
    let (mut conn, _) = listener.accept().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut later = HashSet::new();
    while later.len() < 40 && Instant::now() < deadline {
        read_frames(&mut conn, &mut later, 40);
    }
    let want: HashSet<String> = (0..40).map(|i| format!("b-{i}")).collect();
    assert_eq!(later, want);
    wait_until("every delivery acked", Duration::from_secs(20), || {
        broker.counts("notifications.sample") == (0, 0)
    });
    assert!(agent.log_text().contains("connect"));
}
