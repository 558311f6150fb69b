//! AMQP transport URLs as oslo.messaging writes them: one broker
//! (`rabbit://u:p@h:5672/vhost`) or several nodes of a cluster
//! (`rabbit://u:p@h1:5672,u:p@h2:5672,u:p@h3:5672/vhost`), parsed once into one lapin URI per
//! node. The path (vhost) and the query (`?frame_max=`, `?heartbeat=`) are shared by every node,
//! as oslo shares them; each node has its own credentials and port (a node without credentials
//! gets lapin's defaults, guest/guest, as oslo leaves them to kombu). Which node to connect to is
//! [`super::failover`]'s business, not this module's.

use lapin::uri::AMQPUri;

use super::TransportError;

/// The largest frame ceilo proposes when the URL sets no `frame_max`. lapin keeps a send and a
/// receive ring of 32 frames per connection, zero-filled up front: at RabbitMQ's default 128 KiB
/// that is 8 MiB per connection, most of the agent's memory with a consumer per queue. 32 KiB
/// frames cost a few more frame headers on big published batches and nothing on 3 KB
/// notifications. `?frame_max=N` in the transport URL overrides it.
pub const DEFAULT_FRAME_MAX: u32 = 32 * 1024;

/// One node of a transport URL.
#[derive(Debug, Clone)]
pub struct Node {
    /// Parsed, with ceilo's default `frame_max`.
    pub uri: AMQPUri,
    /// `amqp://user:***@host:port/vhost`, for logs and errors.
    pub masked: String,
    /// `host:port`, for logs and the node a connection is on.
    pub address: String,
    /// The TLS client configuration when the node is reached over TLS (set by the transport,
    /// from an `amqps://` URL or its TLS options).
    pub tls: Option<super::tls::ClientTls>,
}

impl Node {
    /// The masked URL and, over TLS, what the broker's certificate is checked against: a
    /// refused handshake names the CA file to look at.
    pub fn describe(&self) -> String {
        match &self.tls {
            None => self.masked.clone(),
            Some(tls) => format!(
                "{} over TLS (broker certificate checked against {})",
                self.masked, tls.trust
            ),
        }
    }
}

/// The nodes of an `amqp://`, `amqps://` or `rabbit://` URL, in the URL's order, without
/// connecting. An error names the node that is wrong.
pub fn parse(url: &str) -> Result<Vec<Node>, TransportError> {
    let (scheme, netloc, rest) = split(url);
    let hosts: Vec<&str> = netloc.split(',').filter(|h| !h.is_empty()).collect();
    if hosts.len() <= 1 {
        return Ok(vec![node(url, &format!("{scheme}://{}{rest}", hosts.concat()))?]);
    }
    hosts
        .iter()
        .map(|host| node(url, &format!("{scheme}://{host}{rest}")))
        .collect()
}

fn node(whole: &str, one: &str) -> Result<Node, TransportError> {
    let normalized = normalize(one);
    let mut uri: AMQPUri = normalized.parse().map_err(|reason: String| TransportError::Url {
        url: mask(whole),
        reason: if whole == one {
            reason
        } else {
            format!("node {}: {reason}", mask(one))
        },
    })?;
    uri.query.frame_max.get_or_insert(DEFAULT_FRAME_MAX);
    let address = format!("{}:{}", uri.authority.host, uri.authority.port);
    Ok(Node {
        uri,
        masked: mask(&normalized),
        address,
        tls: None,
    })
}

/// `(scheme, netloc, path-and-query)`: the netloc ends at the first `/`, `?` or `#`, as
/// Python's `urlparse` (which oslo uses) ends it.
fn split(url: &str) -> (&str, &str, &str) {
    let Some(s) = url.find("://") else {
        return ("", url, "");
    };
    let after = &url[s + 3..];
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    (&url[..s], &after[..end], &after[end..])
}

/// `rabbit://` → `amqp://`; an empty vhost path means `/`, as in oslo.
pub fn normalize(url: &str) -> String {
    let url = url
        .strip_prefix("rabbit://")
        .map_or_else(|| url.to_owned(), |rest| format!("amqp://{rest}"));
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        None => match url[after_scheme..].find('?') {
            // `amqp://h?frame_max=N`: the vhost goes before the query.
            Some(q) => format!("{}/%2f{}", &url[..after_scheme + q], &url[after_scheme + q..]),
            None => format!("{url}/%2f"),
        },
        Some(i) if after_scheme + i + 1 == url.len() => format!("{url}%2f"),
        Some(i) if url[after_scheme + i + 1..].starts_with('?') => {
            let at = after_scheme + i + 1;
            format!("{}%2f{}", &url[..at], &url[at..])
        }
        Some(_) => url,
    }
}

/// The password of every node of the URL, as written (percent-encoded), including a URL
/// without a scheme (a mistake `check` reports).
pub fn passwords(url: &str) -> Vec<&str> {
    let (_, netloc, _) = split(url);
    netloc
        .split(',')
        .filter_map(|host| host.rsplit_once('@'))
        .filter_map(|(creds, _)| creds.split_once(':'))
        .map(|(_, password)| password)
        .collect()
}

/// The URL with every node's password replaced by `***` (a URL without a scheme too).
pub fn mask(url: &str) -> String {
    let (scheme, netloc, rest) = split(url);
    let hosts: Vec<String> = netloc
        .split(',')
        .map(|host| match host.rsplit_once('@') {
            Some((creds, at)) => match creds.split_once(':') {
                Some((user, _)) => format!("{user}:***@{at}"),
                None => host.to_owned(),
            },
            None => host.to_owned(),
        })
        .collect();
    if scheme.is_empty() {
        return hosts.join(",");
    }
    format!("{scheme}://{}{rest}", hosts.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_is_parsed_as_before() {
        let nodes = parse("rabbit://g:g@h:5672/").unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].address, "h:5672");
        assert_eq!(nodes[0].uri.vhost, "/");
        assert_eq!(nodes[0].uri.query.frame_max, Some(DEFAULT_FRAME_MAX));
        assert_eq!(nodes[0].masked, "amqp://g:***@h:5672/%2f");
    }

    #[test]
    fn oslo_multi_host_urls_give_one_node_each_in_order_sharing_vhost_and_query() {
        let nodes =
            parse("rabbit://u1:p1@h1:5672,u2:p%2F2@h2:5673,h3/ceilo?frame_max=65536&heartbeat=5").unwrap();
        let addresses: Vec<&str> = nodes.iter().map(|n| n.address.as_str()).collect();
        assert_eq!(addresses, ["h1:5672", "h2:5673", "h3:5672"]);
        for n in &nodes {
            assert_eq!(n.uri.vhost, "ceilo");
            assert_eq!(n.uri.query.frame_max, Some(65536));
            assert_eq!(n.uri.query.heartbeat, Some(5));
        }
        assert_eq!(
            (
                nodes[0].uri.authority.userinfo.username.as_str(),
                nodes[0].uri.authority.userinfo.password.as_str()
            ),
            ("u1", "p1")
        );
        assert_eq!(nodes[1].uri.authority.userinfo.password, "p/2", "percent-decoded");
        // No credentials: lapin's defaults, as oslo leaves them to kombu.
        assert_eq!(nodes[2].uri.authority.userinfo.username, "guest");
    }

    #[test]
    fn empty_hosts_are_skipped_as_oslo_skips_them() {
        let nodes = parse("amqp://g:g@h1:5672,,g:g@h2:5672,/").unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].uri.vhost, "/");
    }

    #[test]
    fn a_bad_node_is_named_with_its_password_masked() {
        let e = parse("amqp://u:secret@h1:5672,u:secret@h2:notaport/v")
            .unwrap_err()
            .to_string();
        assert!(e.contains("node amqp://u:***@h2:notaport/v"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn masks_every_nodes_password() {
        assert_eq!(
            mask("rabbit://a:s1@h1:5672,b:s2@h2:5672,h3/v?heartbeat=5"),
            "rabbit://a:***@h1:5672,b:***@h2:5672,h3/v?heartbeat=5"
        );
        assert_eq!(mask("amqp://guest:secret@h:5672/v"), "amqp://guest:***@h:5672/v");
        assert_eq!(mask("amqp://h"), "amqp://h");
        assert_eq!(mask("memory://"), "memory://");
        assert_eq!(mask("localhost:5672"), "localhost:5672");
        assert_eq!(mask("guest:secret@h:5672"), "guest:***@h:5672");
    }

    #[test]
    fn finds_every_nodes_password() {
        assert_eq!(
            passwords("rabbit://a:s1@h1:5672,b:s%402@h2:5672,h3,c@h4/v"),
            ["s1", "s%402"]
        );
        assert_eq!(passwords("guest:secret@h"), ["secret"]);
        assert!(passwords("amqp://h/").is_empty());
    }

    #[test]
    fn normalizes_oslo_urls() {
        assert_eq!(normalize("rabbit://g:g@h:5672/"), "amqp://g:g@h:5672/%2f");
        assert_eq!(normalize("amqp://g:g@h:5672"), "amqp://g:g@h:5672/%2f");
        assert_eq!(normalize("amqp://g:g@h:5672/v1"), "amqp://g:g@h:5672/v1");
        assert_eq!(
            normalize("amqp://h:5672?heartbeat=5"),
            "amqp://h:5672/%2f?heartbeat=5"
        );
        assert_eq!(
            normalize("amqp://h:5672/?heartbeat=5"),
            "amqp://h:5672/%2f?heartbeat=5"
        );
    }
}
