//! tooz's Redis coordination driver (`tooz/drivers/redis.py`), key for key, so ceilo joins the
//! same groups as Ceilometer's agents and sees them as they see it:
//!
//! * `<ns>_groups` — a set of every group name;
//! * `<ns>_group:<group>` — a hash: `__created__` → `1`, and one field per member, its value
//!   the member's capabilities in msgpack (Ceilometer joins with `{"weight": 1}`);
//! * `<ns>_beats:<member>` — `Not dead!`, set with `PSETEX` to the membership timeout on every
//!   heartbeat. A member whose beat key has expired is dead: whoever reads the group next
//!   removes it from the hash (tooz's `get_members`), as ceilo does here.
//!
//! `<ns>` is `_tooz` unless the URL says `namespace=`. Creating, joining and reading a group
//! each run as one Lua script, where tooz uses WATCH/MULTI: the same keys, atomically.

use std::time::Duration;

use super::resp::{Connection, Reply, RespError};

/// tooz: `GROUP_EXISTS`, the hash field that keeps an empty group's hash alive.
const GROUP_EXISTS: &str = "__created__";
/// tooz: `STILL_ALIVE`, the heartbeat key's value.
const STILL_ALIVE: &[u8] = b"Not dead!";

/// `[coordination] backend_url`, parsed as tooz's Redis driver reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendUrl {
    /// `host:port` (port 6379 when missing).
    pub addr: String,
    pub auth: Option<(String, String)>,
    pub db: u32,
    pub namespace: String,
    /// How long a member lives without a heartbeat (`membership_timeout`, else `timeout`, 30 s).
    pub membership_timeout: Duration,
    /// Deadline of one Redis call (`socket_timeout`, else `timeout`).
    pub socket_timeout: Duration,
    /// `sentinel=<master>`: `addr` is a Redis Sentinel, not the server (see [`Sentinels`]).
    pub sentinels: Option<Sentinels>,
}

/// tooz's Sentinel mode: the URL's host and each `sentinel_fallback` (`host:port`) are Redis
/// Sentinels, asked in that order for the address of master `master` whenever a connection
/// opens, so that after a failover the next connection goes to the new master. The URL's
/// credentials are the master's; `sentinel_username`/`sentinel_password` the Sentinels'.
#[derive(Debug, Clone, PartialEq)]
pub struct Sentinels {
    pub master: String,
    pub addrs: Vec<String>,
    pub auth: Option<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("[coordination] backend_url {url:?}: {reason}")]
    Invalid { url: String, reason: String },
}

impl BackendUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |reason: &str| UrlError::Invalid {
            url: redact(url),
            reason: reason.to_owned(),
        };
        let Some(rest) = url.strip_prefix("redis://") else {
            let scheme = url.split("://").next().unwrap_or(url);
            return Err(bad(&format!(
                "ceilo implements tooz's redis:// driver only, not {scheme:?}"
            )));
        };
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hp)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or(("", userinfo));
                (Some((decode(user), decode(password))), hp)
            }
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(bad("no host (a unix socket path is not implemented)"));
        }
        let addr = if hostport.starts_with('[') || hostport.rsplit_once(':').is_none() {
            if hostport.ends_with(']') || !hostport.contains(':') {
                format!("{hostport}:6379")
            } else {
                hostport.to_owned()
            }
        } else {
            hostport.to_owned()
        };
        let mut timeout = Duration::from_secs(30);
        let (mut membership, mut socket, mut db, mut namespace) = (None, None, 0u32, "_tooz".to_owned());
        let (mut master, mut fallbacks, mut sentinel_user, mut sentinel_password) =
            (None, Vec::new(), None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value);
            let seconds = |v: &str| -> Result<Duration, UrlError> {
                v.parse::<f64>()
                    .ok()
                    .and_then(crate::duration::seconds)
                    .ok_or_else(|| bad(&format!("{key}={v:?}: must be {}", crate::duration::EXPECTED)))
            };
            match key {
                "timeout" => timeout = seconds(&value)?,
                "membership_timeout" => membership = Some(seconds(&value)?),
                "socket_timeout" => socket = Some(seconds(&value)?),
                "db" => {
                    db = value
                        .parse()
                        .map_err(|_| bad(&format!("db={value:?} is not a database number")))?
                }
                "namespace" => namespace = value,
                // Options of the Python client that change nothing here.
                "retry_on_timeout"
                | "socket_keepalive"
                | "socket_connect_timeout"
                | "health_check_interval"
                | "encoding"
                | "lock_timeout" => {}
                "sentinel" => master = Some(value),
                "sentinel_fallback" => match value.rsplit_once(':') {
                    Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                        fallbacks.push(value.clone())
                    }
                    _ => return Err(bad(&format!("sentinel_fallback={value:?}: not host:port"))),
                },
                "sentinel_username" => sentinel_user = Some(value),
                "sentinel_password" => sentinel_password = Some(value),
                "ssl" | "sentinel_ssl" | "ssl_certfile" | "ssl_keyfile" | "ssl_ca_certs" => {
                    return Err(bad(&format!(
                        "{key}: not implemented by ceilo (Redis and Sentinel without TLS only)"
                    )))
                }
                other => return Err(bad(&format!("unknown option {other:?}"))),
            }
        }
        let sentinels = match master {
            Some(master) => Some(Sentinels {
                master,
                addrs: std::iter::once(addr.clone()).chain(fallbacks).collect(),
                auth: sentinel_password.map(|p| (sentinel_user.unwrap_or_default(), p)),
            }),
            None if !fallbacks.is_empty() => {
                return Err(bad("sentinel_fallback without sentinel=<master name>"))
            }
            None => None,
        };
        Ok(Self {
            addr,
            auth,
            db,
            namespace,
            membership_timeout: membership.unwrap_or(timeout),
            socket_timeout: socket.unwrap_or(timeout),
            sentinels,
        })
    }

    pub fn group_key(&self, group: &str) -> String {
        format!("{}_group:{group}", self.namespace)
    }

    pub fn groups_key(&self) -> String {
        format!("{}_groups", self.namespace)
    }

    pub fn beat_prefix(&self) -> String {
        format!("{}_beats:", self.namespace)
    }
}

/// The URL without its passwords (the server's, the Sentinels'), for logs and errors.
pub fn redact(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    };
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("sentinel_password", _)) => "sentinel_password=***".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// The address of the master the Sentinels name, from the first that answers (redis-py's
/// `discover_master`, which tooz uses).
async fn master_addr(sentinels: &Sentinels, timeout: Duration) -> Result<String, RespError> {
    let auth = sentinels.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let mut last = None;
    for addr in &sentinels.addrs {
        let asked = async {
            let mut conn = Connection::open(addr, auth, 0, timeout).await?;
            let args: [&[u8]; 3] = [
                b"SENTINEL",
                b"get-master-addr-by-name",
                sentinels.master.as_bytes(),
            ];
            conn.call(&args).await
        };
        match asked.await {
            Ok(reply) => match reply.into_bulks().as_slice() {
                [ip, port] => {
                    let (ip, port) = (String::from_utf8_lossy(ip), String::from_utf8_lossy(port));
                    return Ok(if ip.contains(':') {
                        format!("[{ip}]:{port}")
                    } else {
                        format!("{ip}:{port}")
                    });
                }
                _ => {
                    last = Some(RespError::Server {
                        addr: addr.clone(),
                        message: format!("Sentinel knows no master {:?}", sentinels.master),
                    })
                }
            },
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| RespError::Server {
        addr: String::new(),
        message: "no Sentinel to ask".into(),
    }))
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// msgpack of `{"weight": weight}`, as tooz (oslo.serialization) writes a member's capabilities.
pub fn encode_capabilities(weight: u32) -> Vec<u8> {
    let mut out = vec![0x81, 0xa6];
    out.extend_from_slice(b"weight");
    match weight {
        0..=0x7f => out.push(weight as u8),
        0x80..=0xff => out.extend_from_slice(&[0xcc, weight as u8]),
        0x100..=0xffff => {
            out.push(0xcd);
            out.extend_from_slice(&(weight as u16).to_be_bytes());
        }
        _ => {
            out.push(0xce);
            out.extend_from_slice(&weight.to_be_bytes());
        }
    }
    out
}

/// The weight in a member's capabilities, as tooz's partitioner reads it: a map's `weight`,
/// else 1. ceilo reads maps of string keys and integer values (what tooz writes); anything
/// else counts as weight 1.
pub fn decode_weight(caps: &[u8]) -> u32 {
    fn str_at(b: &[u8], i: usize) -> Option<(&[u8], usize)> {
        let (len, start) = match *b.get(i)? {
            t @ 0xa0..=0xbf => ((t & 0x1f) as usize, i + 1),
            0xd9 => (*b.get(i + 1)? as usize, i + 2),
            _ => return None,
        };
        Some((b.get(start..start + len)?, start + len))
    }
    fn uint_at(b: &[u8], i: usize) -> Option<(u64, usize)> {
        let be = |n: usize| -> Option<u64> {
            Some(
                b.get(i + 1..i + 1 + n)?
                    .iter()
                    .fold(0u64, |a, x| (a << 8) | *x as u64),
            )
        };
        match *b.get(i)? {
            t @ 0x00..=0x7f => Some((t as u64, i + 1)),
            0xcc => Some((be(1)?, i + 2)),
            0xcd => Some((be(2)?, i + 3)),
            0xce => Some((be(4)?, i + 5)),
            0xcf => Some((be(8)?, i + 9)),
            _ => None,
        }
    }
    let parse = || -> Option<u32> {
        let entries = match *caps.first()? {
            t @ 0x80..=0x8f => (t & 0x0f) as usize,
            _ => return None,
        };
        let mut i = 1;
        for _ in 0..entries {
            let (key, next) = str_at(caps, i)?;
            let (value, next) = uint_at(caps, next)?;
            if key == b"weight" {
                return u32::try_from(value).ok();
            }
            i = next;
        }
        Some(1)
    };
    parse().unwrap_or(1)
}

const JOIN: &str = r#"
if redis.call("exists", KEYS[1]) == 0 then
    redis.call("sadd", KEYS[2], ARGV[1])
    redis.call("hset", KEYS[1], ARGV[4], "1")
end
return redis.call("hset", KEYS[1], ARGV[2], ARGV[3])
"#;

/// Live members and their capabilities; the dead ones (no beat key) are removed on the way,
/// never this member itself (tooz's rule). Nil when the group does not exist.
const MEMBERS: &str = r#"
if redis.call("exists", KEYS[1]) == 0 then
    return false
end
local all = redis.call("hgetall", KEYS[1])
local live, gone = {}, {}
for i = 1, #all, 2 do
    local m = all[i]
    if m ~= ARGV[3] then
        if m == ARGV[2] or redis.call("exists", ARGV[1] .. m) == 1 then
            live[#live + 1] = m
            live[#live + 1] = all[i + 1]
        else
            gone[#gone + 1] = m
        end
    end
end
for _, m in ipairs(gone) do
    redis.call("hdel", KEYS[1], m)
end
return live
"#;

/// One member of tooz groups on one Redis connection.
pub struct ToozRedis {
    pub url: BackendUrl,
    member: String,
    conn: Option<Connection>,
}

/// A group's live members at one read: `(member, weight)`.
pub type Members = Vec<(String, u32)>;

impl ToozRedis {
    pub fn new(url: BackendUrl, member: String) -> Self {
        Self {
            url,
            member,
            conn: None,
        }
    }

    pub fn member(&self) -> &str {
        &self.member
    }

    /// Run one command on the connection, opening it first if needed; a failed call drops
    /// the connection (the next call reconnects).
    async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        if self.conn.is_none() {
            let auth = self.url.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
            let addr = match &self.url.sentinels {
                Some(sentinels) => master_addr(sentinels, self.url.socket_timeout).await?,
                None => self.url.addr.clone(),
            };
            self.conn = Some(Connection::open(&addr, auth, self.url.db, self.url.socket_timeout).await?);
        }
        let conn = self.conn.as_mut().expect("opened above");
        let result = conn.call(args).await;
        // A master demoted by a failover refuses writes (READONLY): ask the Sentinels again.
        let demoted =
            matches!(&result, Err(RespError::Server { message, .. }) if message.starts_with("READONLY"));
        if demoted
            || matches!(
                result,
                Err(RespError::Io { .. } | RespError::Timeout { .. } | RespError::Protocol(..))
            )
        {
            self.conn = None;
        }
        result
    }

    /// tooz's `heartbeat`: the beat key, alive for the membership timeout.
    pub async fn heartbeat(&mut self) -> Result<(), RespError> {
        let key = format!("{}{}", self.url.beat_prefix(), self.member);
        let ms = self.url.membership_timeout.as_millis().max(1).to_string();
        self.call(&[b"PSETEX", key.as_bytes(), ms.as_bytes(), STILL_ALIVE])
            .await?;
        Ok(())
    }

    /// tooz's `join_group_create` (with the capabilities `{"weight": weight}`): create the
    /// group if it does not exist, then (re)join it.
    pub async fn join(&mut self, group: &str, weight: u32) -> Result<(), RespError> {
        let caps = encode_capabilities(weight);
        let (key, groups) = (self.url.group_key(group), self.url.groups_key());
        let member = self.member.clone();
        self.call(&[
            b"EVAL",
            JOIN.as_bytes(),
            b"2",
            key.as_bytes(),
            groups.as_bytes(),
            group.as_bytes(),
            member.as_bytes(),
            &caps,
            GROUP_EXISTS.as_bytes(),
        ])
        .await?;
        Ok(())
    }

    /// tooz's `get_members` plus each member's weight; `None` when the group does not exist.
    pub async fn members(&mut self, group: &str) -> Result<Option<Members>, RespError> {
        let (key, prefix) = (self.url.group_key(group), self.url.beat_prefix());
        let member = self.member.clone();
        let reply = self
            .call(&[
                b"EVAL",
                MEMBERS.as_bytes(),
                b"1",
                key.as_bytes(),
                prefix.as_bytes(),
                member.as_bytes(),
                GROUP_EXISTS.as_bytes(),
            ])
            .await?;
        if matches!(reply, Reply::Bulk(None) | Reply::Array(None)) {
            return Ok(None);
        }
        let flat = reply.into_bulks();
        Ok(Some(
            flat.chunks(2)
                .map(|pair| {
                    let name = String::from_utf8_lossy(&pair[0]).into_owned();
                    (name, pair.get(1).map_or(1, |c| decode_weight(c)))
                })
                .collect(),
        ))
    }

    /// tooz's `leave_group`.
    pub async fn leave(&mut self, group: &str) -> Result<(), RespError> {
        let key = self.url.group_key(group);
        let member = self.member.clone();
        self.call(&[b"HDEL", key.as_bytes(), member.as_bytes()]).await?;
        Ok(())
    }

    /// tooz's `stop`: the beat key goes, so the others drop this member at once.
    pub async fn stop(&mut self) -> Result<(), RespError> {
        let key = format!("{}{}", self.url.beat_prefix(), self.member);
        self.call(&[b"DEL", key.as_bytes()]).await?;
        self.conn = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_caps(name: &str) -> Vec<u8> {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/coordination/tooz.json")).unwrap();
        hex::decode(f["capabilities"][name].as_str().unwrap()).unwrap()
    }

    #[test]
    fn capabilities_are_encoded_and_read_as_tooz_does() {
        assert_eq!(encode_capabilities(1), fixture_caps("weight_1"));
        assert_eq!(encode_capabilities(300), fixture_caps("weight_300"));
        assert_eq!(decode_weight(&fixture_caps("weight_1")), 1);
        assert_eq!(decode_weight(&fixture_caps("weight_300")), 300);
        // tooz: not a dict → weight 1.
        assert_eq!(decode_weight(&fixture_caps("none")), 1);
        assert_eq!(decode_weight(b""), 1);
        for w in [0, 127, 128, 255, 256, 65_535, 65_536, u32::MAX] {
            assert_eq!(decode_weight(&encode_capabilities(w)), w);
        }
    }

    #[test]
    fn backend_urls_read_as_toozs() {
        let u = BackendUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(u.addr, "127.0.0.1:6379");
        assert_eq!(u.membership_timeout, Duration::from_secs(30));
        assert_eq!(u.group_key("central-global"), "_tooz_group:central-global");
        assert_eq!(u.groups_key(), "_tooz_groups");
        assert_eq!(u.beat_prefix(), "_tooz_beats:");
        let u = BackendUrl::parse("redis://:s%40cret@redis.example?timeout=5&db=2&namespace=x").unwrap();
        assert_eq!(u.addr, "redis.example:6379");
        assert_eq!(u.auth, Some((String::new(), "s@cret".into())));
        assert_eq!((u.db, u.namespace.as_str()), (2, "x"));
        assert_eq!(u.membership_timeout, Duration::from_secs(5));
        let u = BackendUrl::parse("redis://h:1?timeout=5&membership_timeout=2.5").unwrap();
        assert_eq!(u.membership_timeout, Duration::from_millis(2500));
        assert_eq!(u.socket_timeout, Duration::from_secs(5));
        for (url, needle) in [
            ("zookeeper://h:2181", "redis:// driver only"),
            ("redis://h?sentinel_ssl=true", "sentinel_ssl"),
            ("redis://h?sentinel_fallback=x", "not host:port"),
            ("redis://h:1?sentinel_fallback=x:2", "without sentinel"),
            ("redis://h?timeout=0", "positive"),
            // Past what a Duration holds: from_secs_f64 panicked on it.
            ("redis://h?membership_timeout=1e300", "at most 31536000 (a year)"),
            ("redis://h?bogus=1", "unknown option"),
            ("redis://", "no host"),
        ] {
            let e = BackendUrl::parse(url).unwrap_err().to_string();
            assert!(e.contains(needle), "{url}: {e}");
        }
        assert_eq!(redact("redis://u:p@h:1"), "redis://***@h:1");
        assert_eq!(
            redact("redis://u:p@h:1?sentinel=m&sentinel_password=s&db=1"),
            "redis://***@h:1?sentinel=m&sentinel_password=***&db=1"
        );
        // Kolla-Ansible's coordination URL, as tooz reads it.
        let u = BackendUrl::parse(
            "redis://default:pw@10.0.0.1:26379?sentinel=kolla&sentinel_fallback=10.0.0.2:26379&\
             sentinel_fallback=10.0.0.3:26379&db=0&socket_timeout=60&retry_on_timeout=yes",
        )
        .unwrap();
        assert_eq!(u.auth, Some(("default".into(), "pw".into())));
        assert_eq!(
            u.sentinels,
            Some(Sentinels {
                master: "kolla".into(),
                addrs: vec![
                    "10.0.0.1:26379".into(),
                    "10.0.0.2:26379".into(),
                    "10.0.0.3:26379".into()
                ],
                auth: None,
            })
        );
        let u = BackendUrl::parse("redis://h:1?sentinel=m&sentinel_password=s").unwrap();
        assert_eq!(u.sentinels.unwrap().auth, Some((String::new(), "s".into())));
    }
}
