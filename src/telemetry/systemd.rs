//! systemd's readiness protocol (`Type=notify`, sd_notify(3)): one datagram per state change
//! to the unix socket named by `$NOTIFY_SOCKET`, which systemd sets for the service it starts.
//!
//! `ceilo run` sends `READY=1` once [`Readiness`] first reports ready (every queue consuming,
//! every polling source started: what `/readyz` says), so `systemctl start` returns, and units
//! ordered after it start, only when the agent does its work; and `STOPPING=1` when SIGTERM's
//! drain begins; around a SIGHUP reload (`systemctl reload`), `RELOADING=1` with
//! `MONOTONIC_USEC=` when it starts and `READY=1` when it is done, applied or refused, so that
//! `systemctl reload` returns then. Without `$NOTIFY_SOCKET` (not under systemd) nothing is sent.
//!
//! What it does not do: the watchdog (`WATCHDOG=1`) or `STATUS=` lines.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use super::Readiness;

/// How often the agent looks whether it became ready. Readiness changes at connection and
/// at the first polling tick, so a start is announced at most this late.
const READY_POLL: Duration = Duration::from_millis(50);

/// The environment variable systemd sets to its notification socket.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` (`READY=1`, `STOPPING=1`, ... newline-separated assignments) to the socket
/// named by `$NOTIFY_SOCKET`. `Ok(false)`: the variable is not set, nothing was sent.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(name) = std::env::var_os(NOTIFY_SOCKET) else {
        return Ok(false);
    };
    let address = socket_address(name.as_encoded_bytes())?;
    let socket = UnixDatagram::unbound()?;
    // A full receive queue must not stall the agent: the message is then lost and logged.
    socket.set_nonblocking(true)?;
    socket.send_to_addr(state.as_bytes(), &address)?;
    Ok(true)
}

/// `$NOTIFY_SOCKET` as an address: a path, or (leading `@`) a name in Linux's abstract
/// namespace.
fn socket_address(name: &[u8]) -> io::Result<SocketAddr> {
    match name {
        [] => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET is empty",
        )),
        [b'@', abstract_name @ ..] => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name)
        }
        path => {
            use std::os::unix::ffi::OsStrExt;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(path))
        }
    }
}

/// [`notify`], logging a failure instead of returning it: the agent runs the same whether
/// the service manager heard it or not.
fn send(state: &str) {
    match notify(state) {
        Ok(true) => tracing::debug!(state, "told systemd"),
        Ok(false) => {}
        Err(e) => tracing::warn!(state, error = %e, "cannot notify systemd (NOTIFY_SOCKET)"),
    }
}

/// A reload begins: `RELOADING=1`, with the `MONOTONIC_USEC=` that `Type=notify-reload`
/// units require beside it.
pub fn reloading() {
    let usec = crate::model::py::time::monotonic().as_micros();
    send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// A reload is over (applied or refused: the agent runs either way): `READY=1`.
pub fn reloaded() {
    send("READY=1");
}

/// Waits for `stop` (the stop signal); meanwhile sends `READY=1` the first time `readiness`
/// reports ready, and `STOPPING=1` when `stop` completes: the graceful stop begins.
pub async fn notify_until(stop: impl std::future::Future<Output = ()>, readiness: &Readiness) {
    let announce_ready = async {
        while !readiness.is_ready() {
            tokio::time::sleep(READY_POLL).await;
        }
        send("READY=1");
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = stop => {}
        _ = announce_ready => {}
    }
    send("STOPPING=1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_and_an_abstract_name_are_both_addresses() {
        let path = socket_address(b"/run/systemd/notify").expect("path");
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        use std::os::linux::net::SocketAddrExt;
        let abstract_name = socket_address(b"@/org/freedesktop/systemd1/notify").expect("abstract");
        assert_eq!(
            abstract_name.as_abstract_name(),
            Some(&b"/org/freedesktop/systemd1/notify"[..])
        );
        assert!(socket_address(b"").is_err());
    }

    #[test]
    fn a_datagram_reaches_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ceilo-test-notify-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).expect("name");
        let receiver = UnixDatagram::bind_addr(&address).expect("bind");
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let sent = socket_address(format!("@{name}").as_bytes()).expect("address");
        let socket = UnixDatagram::unbound().expect("socket");
        socket.send_to_addr(b"READY=1", &sent).expect("send");
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1");
    }
}
