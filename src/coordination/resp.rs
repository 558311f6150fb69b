//! A minimal Redis client: one TCP connection, commands as arrays of bulk strings, replies
//! parsed from RESP2. Enough for tooz's key layout (strings with expiry, hashes, sets, Lua
//! scripts); no pipelining, pub/sub, cluster or TLS.
//!
//! Every command has a deadline: a Redis that stops answering fails the call instead of
//! stalling the poll that asked.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A reply, as RESP2 has them.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("redis {addr}: {source}")]
    Io {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("redis {addr}: no answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("redis {addr}: {message}")]
    Server { addr: String, message: String },
    #[error("redis {addr}: malformed reply: {0}", addr = .1)]
    Protocol(String, String),
}

/// One connection to one Redis server.
pub struct Connection {
    addr: String,
    stream: BufReader<TcpStream>,
    timeout: Duration,
}

impl Connection {
    /// Connect, then `AUTH` and `SELECT` as asked.
    pub async fn open(
        addr: &str,
        auth: Option<(&str, &str)>,
        db: u32,
        timeout: Duration,
    ) -> Result<Self, RespError> {
        let io = |source| RespError::Io {
            addr: addr.to_owned(),
            source,
        };
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| RespError::Timeout {
                addr: addr.to_owned(),
                timeout,
            })?
            .map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        let mut conn = Self {
            addr: addr.to_owned(),
            stream: BufReader::new(stream),
            timeout,
        };
        if let Some((user, password)) = auth {
            if user.is_empty() {
                conn.call(&[b"AUTH", password.as_bytes()]).await?;
            } else {
                conn.call(&[b"AUTH", user.as_bytes(), password.as_bytes()])
                    .await?;
            }
        }
        if db != 0 {
            conn.call(&[b"SELECT", db.to_string().as_bytes()]).await?;
        }
        Ok(conn)
    }

    /// Send one command and read its reply; a Redis error reply is [`RespError::Server`].
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, RespError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        let (addr, timeout) = (self.addr.clone(), self.timeout);
        let exchange = async {
            self.stream.get_mut().write_all(&out).await?;
            read_reply(&mut self.stream).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(RespError::Timeout { addr, timeout }),
            Ok(Err(source)) => Err(RespError::Io { addr, source }),
            Ok(Ok(Err(message))) => Err(RespError::Server { addr, message }),
            Ok(Ok(Ok(reply))) => Ok(reply),
        }
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// One reply; the inner `Err` is a Redis error reply (`-ERR ...`).
async fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<Result<Reply, String>> {
    // Replies nest only through arrays: iterate with an explicit stack, not recursion.
    let mut stack: Vec<(Vec<Reply>, usize)> = Vec::new();
    loop {
        let line = read_line(r).await?;
        let (kind, rest) = line.split_at(1);
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("bad reply line {line:?}"),
            )
        };
        let number = || rest.parse::<i64>().map_err(|_| bad());
        let mut value = match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => {
                if stack.is_empty() {
                    return Ok(Err(rest.to_owned()));
                }
                // An error inside an array (a failed command in EXEC): kept as a status.
                Reply::Status(format!("ERR {rest}"))
            }
            ":" => Reply::Int(number()?),
            "$" => match number()? {
                n if n < 0 => Reply::Bulk(None),
                n => {
                    let mut buf = vec![0; n as usize + 2];
                    r.read_exact(&mut buf).await?;
                    buf.truncate(n as usize);
                    Reply::Bulk(Some(buf))
                }
            },
            "*" => match number()? {
                n if n < 0 => Reply::Array(None),
                0 => Reply::Array(Some(Vec::new())),
                n => {
                    stack.push((Vec::with_capacity(n as usize), n as usize));
                    continue;
                }
            },
            _ => return Err(bad()),
        };
        loop {
            match stack.last_mut() {
                None => return Ok(Ok(value)),
                Some((items, want)) => {
                    items.push(value);
                    if items.len() < *want {
                        break;
                    }
                    let (items, _) = stack.pop().unwrap_or_default();
                    value = Reply::Array(Some(items));
                }
            }
        }
    }
}

async fn read_line(r: &mut BufReader<TcpStream>) -> std::io::Result<String> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if trimmed.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "empty reply line",
        ));
    }
    Ok(trimmed.to_owned())
}

impl Reply {
    /// The bulk strings of an array reply (nil items skipped).
    pub fn into_bulks(self) -> Vec<Vec<u8>> {
        match self {
            Reply::Array(Some(items)) => items
                .into_iter()
                .filter_map(|i| match i {
                    Reply::Bulk(Some(b)) => Some(b),
                    Reply::Status(s) => Some(s.into_bytes()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}
