//! The three ways an input can kill the agent other than a panic, turned into findings:
//!
//! * runaway allocation: [`CountingAlloc`] (install it as the `#[global_allocator]`) fails any
//!   allocation that would take the live heap more than [`alloc_budget`] above where it was
//!   when the input started; Rust then aborts with "memory allocation of N bytes failed";
//! * a hang: [`Watchdog`] aborts when one input runs longer than the time limit;
//! * an abort (a stack overflow, the two above): the SIGABRT handler [`install_abort_handler`]
//!   writes the current input to the artifact file and says how to replay it, before the
//!   process dies as it would have anyway.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::Arc;
use std::time::{Duration, Instant};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static LIMIT: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The most one input may add to the live heap: 64× its size plus 32 MiB (the converter's
/// per-message scratch, a dispatch cache entry, the samples of a big notification).
pub fn alloc_budget(input_len: usize) -> usize {
    input_len.saturating_mul(64).saturating_add(32 << 20)
}

/// The system allocator, counting live bytes and enforcing the armed limit.
pub struct CountingAlloc;

impl CountingAlloc {
    fn grow(by: usize) -> bool {
        let live = LIVE.fetch_add(by, Relaxed) + by;
        if live > LIMIT.load(Relaxed) {
            LIVE.fetch_sub(by, Relaxed);
            return false;
        }
        PEAK.fetch_max(live, Relaxed);
        true
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !Self::grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !Self::grow(layout.size()) {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !Self::grow(new_size - old) {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if p.is_null() {
            if new_size > old {
                LIVE.fetch_sub(new_size - old, Relaxed);
            }
        } else if new_size < old {
            LIVE.fetch_sub(old - new_size, Relaxed);
        }
        p
    }
}

/// Arm the allocation limit for one input; returns the live heap at the start. A panic lifts
/// it before the panic is reported: printing a backtrace allocates more than an input may, and
/// would turn the panic into an allocation abort without its message.
pub fn arm(input_len: usize) -> usize {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            LIMIT.store(usize::MAX, Relaxed);
            report(info)
        }));
    });
    let live = LIVE.load(Relaxed);
    PEAK.store(live, Relaxed);
    LIMIT.store(live.saturating_add(alloc_budget(input_len)), Relaxed);
    live
}

/// Disarm the limit; returns how far above `start` the live heap went during the input (0 when
/// [`CountingAlloc`] is not the global allocator).
pub fn disarm(start: usize) -> usize {
    LIMIT.store(usize::MAX, Relaxed);
    PEAK.load(Relaxed).saturating_sub(start)
}

// ---------------------------------------------------------------------------------------------
// The current input, for the abort handler (plain atomics: a signal handler may not lock).

static INPUT_PTR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static ITERATION: AtomicU64 = AtomicU64::new(u64::MAX);
static ARTIFACT: AtomicPtr<libc::c_char> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static MESSAGE_LEN: AtomicUsize = AtomicUsize::new(0);
/// Milliseconds since [`epoch`] at which the current input started; 0 when idle.
static STARTED_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

/// The input about to run. It must stay alive and unchanged until [`input_done`].
pub fn input_started(input: &[u8], iteration: Option<u64>) {
    INPUT_LEN.store(input.len(), SeqCst);
    INPUT_PTR.store(input.as_ptr().cast_mut(), SeqCst);
    ITERATION.store(iteration.unwrap_or(u64::MAX), SeqCst);
    STARTED_MS.store(now_ms(), SeqCst);
}

pub fn input_done() {
    STARTED_MS.store(0, SeqCst);
    INPUT_PTR.store(std::ptr::null_mut(), SeqCst);
}

/// On SIGABRT, write the current input to `artifact` and print `message` (which should say
/// how to replay it). Call again to change them; the handler is installed once.
pub fn install_abort_handler(artifact: &Path, message: &str) {
    let path = CString::new(artifact.as_os_str().as_encoded_bytes()).expect("artifact path without NUL");
    let old = ARTIFACT.swap(path.into_raw(), SeqCst);
    let msg: &'static mut [u8] = Box::leak(message.as_bytes().to_vec().into_boxed_slice());
    MESSAGE_LEN.store(msg.len(), SeqCst);
    MESSAGE.store(msg.as_mut_ptr(), SeqCst);
    if !old.is_null() {
        // Installed before; the old path may still be read by a handler running right now on
        // another thread, so it is leaked rather than freed.
        return;
    }
    // SAFETY: a plain sigaction with a handler that only makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_abort as extern "C" fn(libc::c_int) as usize;
        // On the alternate stack Rust sets up per thread: a stack overflow aborts from there.
        action.sa_flags = libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGABRT, &action, std::ptr::null_mut());
    }
}

fn write_all(fd: libc::c_int, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        // SAFETY: write(2) on a valid slice.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

extern "C" fn on_abort(_: libc::c_int) {
    let path = ARTIFACT.load(SeqCst);
    let ptr = INPUT_PTR.load(SeqCst);
    let len = INPUT_LEN.load(SeqCst);
    if path.is_null() || ptr.is_null() {
        write_all(2, b"\nceilo-fuzz: aborted outside an input\n");
    } else {
        // SAFETY: open/write/close are async-signal-safe; `ptr..ptr+len` is the live input.
        unsafe {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644);
            if fd >= 0 {
                write_all(fd, std::slice::from_raw_parts(ptr, len));
                libc::close(fd);
            }
        }
        write_all(
            2,
            b"\nceilo-fuzz: ABORT (stack overflow, allocation limit or hang) at iteration ",
        );
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut n = ITERATION.load(SeqCst);
        if n == u64::MAX {
            write_all(2, b"(replay)");
        } else {
            loop {
                i -= 1;
                digits[i] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            write_all(2, &digits[i..]);
        }
        write_all(2, b"\n");
        let msg = MESSAGE.load(SeqCst);
        if !msg.is_null() {
            // SAFETY: a leaked, never freed message.
            write_all(2, unsafe {
                std::slice::from_raw_parts(msg, MESSAGE_LEN.load(SeqCst))
            });
        }
    }
    // SAFETY: back to the default action, then die of it as abort() intended.
    unsafe {
        libc::signal(libc::SIGABRT, libc::SIG_DFL);
        libc::raise(libc::SIGABRT);
    }
}

/// A thread that aborts the process when one input runs longer than `limit`.
pub struct Watchdog {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    pub fn start(limit: Duration) -> Watchdog {
        epoch();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let limit_ms = limit.as_millis() as u64;
        let thread = std::thread::Builder::new()
            .name("fuzz-watchdog".into())
            .spawn(move || {
                while !flag.load(SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                    let started = STARTED_MS.load(SeqCst);
                    if started != 0 && now_ms().saturating_sub(started) > limit_ms {
                        eprintln!("\nceilo-fuzz: HANG: one input ran longer than {} ms", limit_ms);
                        std::process::abort();
                    }
                }
            })
            .expect("spawn the watchdog");
        Watchdog {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
