//! Which node of a cluster to connect to: oslo's `[oslo_messaging_rabbit]
//! kombu_failover_strategy` over the nodes of a multi-node transport URL ([`super::url`]).
//!
//! Each logical connection (a consumer's, a publisher's: [`super::amqp`]'s links) keeps a
//! [`Cursor`]: the first connection tries the nodes from the first, in the URL's order
//! (`round-robin`) or in a random order (`shuffle`), and keeps the first that answers; every
//! later connection (after a loss) starts with the next node after the one it had, as kombu's
//! `maybe_switch_next` does, so a dead node is not tried first again. One pass tries every node
//! once; when none answers, the caller's backoff decides when the next pass starts. This module
//! opens connections; it does not declare, consume or publish.

use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lapin::types::LongString;
use lapin::uri::AMQPUri;
use lapin::{Connection, ConnectionProperties};
use rand::seq::SliceRandom;
use serde::Deserialize;

use super::tls::ClientTls;
use super::url::Node;
use super::TransportError;

/// oslo's `kombu_failover_strategy`: how the next node is chosen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverStrategy {
    /// The nodes in the URL's order, starting after the one lost (oslo's default).
    #[default]
    RoundRobin,
    /// The nodes in a new random order for every connection (spreads agents over a cluster).
    Shuffle,
}

impl FromStr for FailoverStrategy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round-robin" => Ok(FailoverStrategy::RoundRobin),
            "shuffle" => Ok(FailoverStrategy::Shuffle),
            other => Err(format!("{other:?} is not one of round-robin, shuffle")),
        }
    }
}

/// How long one node may take to accept a connection and finish the AMQP handshake. A node
/// that force-closes a connection mid-handshake can leave a lapin future that never resolves;
/// a node that does not answer at all must not keep the others from being tried.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where one logical connection is in the cluster: the node it last connected to.
pub struct Cursor {
    nodes: Arc<[Node]>,
    strategy: FailoverStrategy,
    /// Index of the node last connected to; `usize::MAX` before the first connection.
    last: AtomicUsize,
}

impl Cursor {
    pub fn new(nodes: Arc<[Node]>, strategy: FailoverStrategy) -> Cursor {
        Cursor {
            nodes,
            strategy,
            last: AtomicUsize::new(usize::MAX),
        }
    }

    /// The nodes (indices) to try for the next connection, each once, in order.
    pub fn order(&self) -> Vec<usize> {
        let n = self.nodes.len();
        match self.strategy {
            FailoverStrategy::RoundRobin => {
                let start = match self.last.load(Ordering::Relaxed) {
                    usize::MAX => 0,
                    last => (last + 1) % n.max(1),
                };
                (0..n).map(|i| (start + i) % n).collect()
            }
            FailoverStrategy::Shuffle => {
                let mut order: Vec<usize> = (0..n).collect();
                order.shuffle(&mut rand::rng());
                order
            }
        }
    }

    /// The node last connected to, if any.
    pub fn current(&self) -> Option<&Node> {
        self.nodes.get(self.last.load(Ordering::Relaxed))
    }

    /// The index (in the URL's order) of the node last connected to, if any.
    pub fn current_index(&self) -> Option<usize> {
        Some(self.last.load(Ordering::Relaxed)).filter(|&i| i < self.nodes.len())
    }

    /// Every node, in the URL's order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    fn connected_to(&self, index: usize) {
        self.last.store(index, Ordering::Relaxed);
    }
}

/// Connects to the first node of [`Cursor::order`] that answers; `name` is the connection
/// name the broker shows. With one node, its error is returned as it is; with several, every
/// node's.
pub async fn connect(cursor: &Cursor, name: &str) -> Result<Connection, TransportError> {
    let mut failed: Vec<(&Node, TransportError)> = Vec::new();
    let previous = cursor.current().map(|n| n.address.clone());
    for index in cursor.order() {
        let node = &cursor.nodes[index];
        match connect_node(node, name).await {
            Ok(connection) => {
                let moved = previous.as_ref().is_some_and(|p| *p != node.address);
                if moved || !failed.is_empty() {
                    let unreachable: Vec<&str> = failed.iter().map(|(n, _)| n.address.as_str()).collect();
                    tracing::warn!(
                        connection = name,
                        node = node.address,
                        previous = previous.as_deref().unwrap_or("none"),
                        unreachable = %unreachable.join(", "),
                        "connected to another node of the cluster"
                    );
                }
                cursor.connected_to(index);
                return Ok(connection);
            }
            Err(e) => {
                if cursor.nodes.len() > 1 {
                    tracing::debug!(connection = name, node = node.address, error = %e, "node unreachable");
                }
                failed.push((node, e));
            }
        }
    }
    if failed.len() == 1 {
        if let Some((_, e)) = failed.pop() {
            return Err(e);
        }
    }
    Err(TransportError::Unreachable(
        failed
            .iter()
            .map(|(node, e)| format!("{}: {e}", node.address))
            .collect::<Vec<_>>()
            .join("; "),
    ))
}

async fn connect_node(node: &Node, name: &str) -> Result<Connection, TransportError> {
    let properties = ConnectionProperties::default().with_connection_name(LongString::from(name.to_owned()));
    let connect = async {
        match &node.tls {
            None => Connection::connect_uri(node.uri.clone(), properties).await,
            Some(tls) => connect_tls(node.uri.clone(), tls, properties).await,
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(source)) => Err(TransportError::Amqp {
            context: format!("connect to {}", node.describe()),
            source,
        }),
        Err(_) => Err(TransportError::Closed(format!(
            "connect to {}: no answer in {CONNECT_TIMEOUT:?}",
            node.describe()
        ))),
    }
}

/// TLS with ceilo's own rustls configuration (lapin's would add the platform's roots to a CA
/// file, which oslo does not), through lapin's connector.
async fn connect_tls(
    uri: AMQPUri,
    tls: &ClientTls,
    properties: ConnectionProperties,
) -> Result<Connection, lapin::Error> {
    let connector = lapin::tcp::RustlsConnector::from(tls.config.clone());
    let runtime = lapin::runtime::default_runtime()?;
    // Called on lapin's I/O thread, which blocks on it: resolving with the blocking resolver
    // there holds up nothing else.
    let open = async move |uri: AMQPUri, runtime| {
        let host = uri.authority.host.as_str();
        let addrs: Vec<std::net::SocketAddr> =
            std::net::ToSocketAddrs::to_socket_addrs(&(host, uri.authority.port))?.collect();
        let stream = lapin::AsyncTcpStream::connect(&runtime, addrs).await?;
        Ok(stream.into_rustls(&connector, host).await?)
    };
    Connection::connector(uri, runtime, open, properties).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(n: usize, strategy: FailoverStrategy) -> Cursor {
        let url = (0..n)
            .map(|i| format!("g:g@h{i}:5672"))
            .collect::<Vec<_>>()
            .join(",");
        let nodes = super::super::url::parse(&format!("amqp://{url}/")).unwrap();
        Cursor::new(nodes.into(), strategy)
    }

    #[test]
    fn round_robin_starts_with_the_first_node_then_after_the_one_it_had() {
        let c = cursor(3, FailoverStrategy::RoundRobin);
        assert_eq!(c.order(), [0, 1, 2]);
        assert!(c.current().is_none());
        c.connected_to(0);
        assert_eq!(c.order(), [1, 2, 0], "the lost node is tried last");
        c.connected_to(2);
        assert_eq!(c.order(), [0, 1, 2]);
        assert_eq!(c.current().map(|n| n.address.as_str()), Some("h2:5672"));
        let one = cursor(1, FailoverStrategy::RoundRobin);
        one.connected_to(0);
        assert_eq!(one.order(), [0]);
    }

    #[test]
    fn shuffle_tries_every_node_once_in_varying_orders() {
        let c = cursor(4, FailoverStrategy::Shuffle);
        let mut firsts = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut order = c.order();
            firsts.insert(order[0]);
            order.sort_unstable();
            assert_eq!(order, [0, 1, 2, 3]);
        }
        assert_eq!(firsts.len(), 4, "every node comes first sometimes");
    }

    #[test]
    fn strategies_are_named_as_oslo_names_them() {
        assert_eq!("round-robin".parse(), Ok(FailoverStrategy::RoundRobin));
        assert_eq!("shuffle".parse(), Ok(FailoverStrategy::Shuffle));
        assert!("random"
            .parse::<FailoverStrategy>()
            .unwrap_err()
            .contains("round-robin, shuffle"));
        let s: FailoverStrategy = yaml_serde::from_str("shuffle").unwrap();
        assert_eq!(s, FailoverStrategy::Shuffle);
    }

    #[tokio::test]
    async fn connects_to_the_first_node_that_answers_and_names_every_failure() {
        // Two ports nothing listens on: refused at once.
        let closed = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (a, b) = (closed(), closed());
        let nodes =
            super::super::url::parse(&format!("amqp://g:g@127.0.0.1:{a},g:g@127.0.0.1:{b}/")).unwrap();
        let c = Cursor::new(nodes.into(), FailoverStrategy::RoundRobin);
        let Err(e) = connect(&c, "test").await else {
            panic!("nothing listens");
        };
        let e = e.to_string();
        assert!(
            e.contains(&format!("127.0.0.1:{a}: connect to"))
                && e.contains(&format!("127.0.0.1:{b}: connect to")),
            "{e}"
        );
        assert!(c.current().is_none());
    }
}
