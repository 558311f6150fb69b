//! The one libvirt connection of the agent, owned by a dedicated thread. libvirt's C calls
//! block (an RPC to libvirtd each), so they never run on an actix/tokio reactor thread: callers
//! hand a closure to [`Hypervisor::call`] and await its answer.
//!
//! The connection is read-only (`virConnectOpenReadOnly`, as Ceilometer's compute agent),
//! opened on first use and reopened after it broke (libvirtd restarted): a call that fails on
//! a dead connection is retried once on a fresh one; if that fails too the error goes back to
//! the caller (logged and counted there) and the next call tries again. Nothing here is fatal.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use virt::connect::Connect;
use virt::error::{Error as VirtError, ErrorDomain, ErrorNumber};

use crate::telemetry::handles::LibvirtMetrics;
use crate::telemetry::metrics::LibvirtErrorReason;

/// Why a libvirt call gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum LibvirtError {
    #[error("cannot connect to libvirt at {uri}: {message}")]
    Connect { uri: String, message: String },
    #[error("libvirt {what} failed: {message}")]
    Call { what: &'static str, message: String },
    #[error("the libvirt worker thread is gone")]
    WorkerGone,
}

impl LibvirtError {
    pub fn call(what: &'static str, e: &VirtError) -> Self {
        LibvirtError::Call {
            what,
            message: e.to_string(),
        }
    }
}

type Job = Box<dyn FnOnce(&mut Session) + Send>;

/// A lazily started libvirt worker for one URI. Cheap to create: no thread and no connection
/// until the first [`Self::call`].
pub struct Hypervisor {
    uri: String,
    /// Made with the hypervisor (where the metrics recorder is current), used by its thread.
    metrics: LibvirtMetrics,
    jobs: OnceLock<Mutex<mpsc::Sender<Job>>>,
}

impl Hypervisor {
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            uri: uri.into(),
            metrics: LibvirtMetrics::new(),
            jobs: OnceLock::new(),
        }
    }

    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Run `f` on the libvirt thread with its [`Session`] and return what it returns.
    pub async fn call<R, F>(&self, f: F) -> Result<R, LibvirtError>
    where
        F: FnOnce(&mut Session) -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |session| {
            let _ = tx.send(f(session));
        });
        let sent = {
            let jobs = self
                .jobs
                .get_or_init(|| Mutex::new(start_worker(self.uri.clone(), self.metrics.clone())));
            let jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
            jobs.send(job).is_ok()
        };
        if !sent {
            return Err(LibvirtError::WorkerGone);
        }
        rx.await.map_err(|_| LibvirtError::WorkerGone)
    }
}

fn start_worker(uri: String, metrics: LibvirtMetrics) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    let spawned = std::thread::Builder::new()
        .name("ceilo-libvirt".into())
        .spawn(move || {
            // libvirt prints every error on stderr unless told otherwise; ours are logged.
            virt::error::clear_error_callback();
            let mut session = Session {
                uri,
                conn: None,
                metrics,
            };
            while let Ok(job) = rx.recv() {
                // A panic inside one job (a libvirt answer we did not expect) must not take
                // the worker, and with it every later poll, down.
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut session))).is_err() {
                    tracing::error!("a libvirt call panicked; its connection is reopened");
                    session.reset();
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the libvirt thread");
    }
    tx
}

/// The libvirt thread's state: the URI and the connection, if open.
pub struct Session {
    uri: String,
    conn: Option<Connect>,
    metrics: LibvirtMetrics,
}

impl Session {
    /// Run `f` on the open connection (opening it first if needed). A failure that left the
    /// connection dead (libvirtd restarted) drops it, reconnects and retries `f` once.
    pub fn with_conn<R>(
        &mut self,
        what: &'static str,
        mut f: impl FnMut(&Connect) -> Result<R, VirtError>,
    ) -> Result<R, LibvirtError> {
        for attempt in 0..2 {
            let conn = match self.connect() {
                Ok(c) => c,
                Err(e) => {
                    self.metrics.error(LibvirtErrorReason::Connect);
                    return Err(e);
                }
            };
            match f(conn) {
                Ok(r) => return Ok(r),
                Err(e) if attempt == 0 && (is_disconnection(&e) || !conn.is_alive().unwrap_or(false)) => {
                    tracing::warn!(uri = %self.uri, error = %e, "libvirt connection lost; reconnecting");
                    self.metrics.reconnected();
                    self.reset();
                }
                Err(e) => {
                    self.metrics.error(LibvirtErrorReason::Call);
                    return Err(LibvirtError::call(what, &e));
                }
            }
        }
        self.metrics.error(LibvirtErrorReason::Call);
        Err(LibvirtError::Call {
            what,
            message: "failed again after reconnecting".into(),
        })
    }

    fn connect(&mut self) -> Result<&Connect, LibvirtError> {
        if self.conn.as_ref().is_some_and(|c| !c.is_alive().unwrap_or(false)) {
            self.reset();
        }
        if self.conn.is_none() {
            let conn = Connect::open_read_only(Some(&self.uri)).map_err(|e| LibvirtError::Connect {
                uri: self.uri.clone(),
                message: e.to_string(),
            })?;
            tracing::info!(uri = %self.uri, "connected to libvirt (read-only)");
            self.conn = Some(conn);
        }
        self.conn.as_ref().ok_or_else(|| LibvirtError::Connect {
            uri: self.uri.clone(),
            message: "no connection".into(),
        })
    }

    /// Forget the connection; the next call opens a new one.
    pub fn reset(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = c.close();
        }
    }
}

/// Ceilometer's `is_disconnection_exception`: a system or internal error reported by the
/// remote/RPC layer means the connection to libvirtd is gone.
pub fn is_disconnection(e: &VirtError) -> bool {
    matches!(e.domain(), ErrorDomain::Remote | ErrorDomain::Rpc)
        && matches!(e.code(), ErrorNumber::SystemError | ErrorNumber::InternalError)
}
