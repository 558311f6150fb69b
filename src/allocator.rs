//! The binary's global allocator: jemalloc for everything small, the kernel for big blocks.
//!
//! Blocks of [`LARGE`] or more (bodies, their dead-letter frames) are mapped and unmapped
//! directly, so RSS follows what the agent holds: an allocator keeps freed extents for reuse
//! (jemalloc a while, [`JEMALLOC_CONF`]), and a run of 8 MiB bodies would stay resident. The
//! syscalls cost nothing next to touching a mebibyte, and no block of that size is on the hot
//! path of small notifications.
//!
//! The hot path frees on one thread what another allocated: bodies read on lapin's thread and
//! freed by a converter, samples made by a converter or a poller and freed once encoded.
//! jemalloc takes those blocks back into the arena they came from, where the next batch finds
//! them. mimalloc, which the agent used before, either kept such pages per thread or gave them
//! back and faulted them in again for the next batch; glibc's malloc spent a quarter of the
//! polling agent's CPU in its own functions. In interleaved runs jemalloc took less CPU and less
//! peak RSS than mimalloc both draining notifications and polling (README, Performance).

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;

use tikv_jemallocator::Jemalloc;

/// The smallest block served by the kernel.
const LARGE: usize = 1 << 20;
/// Mappings are page aligned: a block asking for more alignment stays with jemalloc.
const PAGE: usize = 4096;

pub struct Allocator;

/// jemalloc's options (its `malloc_conf`, under the `_rjem_` prefix tikv-jemalloc-sys gives its
/// symbols), read at its first allocation. Pages its arenas stop using go back to the kernel
/// within about 300 ms, purged by jemalloc's background threads: its default, 10 s and purged
/// only as the agent allocates, kept what dead-lettered 8 MiB bodies had used resident past the
/// ceiling in docs/runtime.md
/// (`oversize_bodies_are_dead_lettered_and_peak_rss_stays_under_the_documented_ceiling`), and
/// purging at once faulted every page of a drain in again.
#[export_name = "_rjem_malloc_conf"]
static JEMALLOC_CONF: Option<&u8> = Some(&b"background_thread:true,dirty_decay_ms:300\0"[0]);

fn is_large(size: usize, align: usize) -> bool {
    size >= LARGE && align <= PAGE
}

/// A fresh mapping of `size` bytes (zeroed by the kernel), or null.
unsafe fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping with no fixed address has no preconditions.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: large blocks are whole mappings made by `map` (page aligned, so any alignment up to
// PAGE holds) and returned with `munmap`/`mremap` of the size they were made with; `is_large`
// of the layout decides which allocator a block belongs to, the same way on every call.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { Jemalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { Jemalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { Jemalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old_size, align) = (layout.size(), layout.align());
        match (is_large(old_size, align), is_large(new_size, align)) {
            (false, false) => unsafe { Jemalloc.realloc(ptr, layout, new_size) },
            (true, true) => {
                // The kernel moves the pages, nothing is copied.
                let p = unsafe { libc::mremap(ptr.cast(), old_size, new_size, libc::MREMAP_MAYMOVE) };
                if p == libc::MAP_FAILED {
                    ptr::null_mut()
                } else {
                    p.cast()
                }
            }
            _ => {
                // SAFETY: `new_size` with the old alignment is what `realloc`'s contract allows.
                let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, align) };
                let new = unsafe { self.alloc(new_layout) };
                if !new.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(ptr, new, old_size.min(new_size));
                        self.dealloc(ptr, layout);
                    }
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cross_the_threshold_both_ways_with_their_contents() {
        let a = Allocator;
        unsafe {
            let small = Layout::from_size_align(1000, 8).unwrap();
            let p = a.alloc(small);
            for i in 0..1000 {
                *p.add(i) = i as u8;
            }
            let big = a.realloc(p, small, 3 * LARGE);
            assert!((0..1000).all(|i| *big.add(i) == i as u8));
            *big.add(3 * LARGE - 1) = 7;
            let bigger = a.realloc(big, Layout::from_size_align(3 * LARGE, 8).unwrap(), 9 * LARGE);
            assert!((0..1000).all(|i| *bigger.add(i) == i as u8));
            assert_eq!(*bigger.add(3 * LARGE - 1), 7);
            let back = a.realloc(bigger, Layout::from_size_align(9 * LARGE, 8).unwrap(), 500);
            assert!((0..500).all(|i| *back.add(i) == i as u8));
            a.dealloc(back, Layout::from_size_align(500, 8).unwrap());
            let zeroed = a.alloc_zeroed(Layout::from_size_align(2 * LARGE, 64).unwrap());
            assert!((0..2 * LARGE).step_by(4096).all(|i| *zeroed.add(i) == 0));
            a.dealloc(zeroed, Layout::from_size_align(2 * LARGE, 64).unwrap());
        }
    }

    /// The tests that measure the process's memory (RSS, page faults), one at a time.
    static RSS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn rss() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
    }

    fn minor_faults() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given.
        unsafe {
            libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
            usage.assume_init().ru_minflt
        }
    }

    /// A drain's pattern: one thread reads batches of bodies, another frees them. The pages a
    /// batch empties are refilled by the next one instead of going back to the kernel and
    /// being faulted in and zeroed again.
    #[test]
    fn pages_emptied_by_one_batch_are_refilled_by_the_next_without_faults() {
        use std::sync::mpsc::sync_channel;
        let _alone = RSS.lock().unwrap_or_else(|p| p.into_inner());
        let layout = Layout::from_size_align(3000, 8).unwrap();
        let (batches, received) = sync_channel::<Vec<usize>>(0);
        let (freed, wait_freed) = sync_channel::<()>(0);
        const BATCHES: usize = 40;
        const BODIES: usize = 4000;
        let reader = std::thread::spawn(move || {
            for _ in 0..BATCHES {
                let batch = (0..BODIES)
                    .map(|_| unsafe {
                        let p = Allocator.alloc(layout);
                        ptr::write_bytes(p, 1, layout.size());
                        p as usize
                    })
                    .collect();
                batches.send(batch).unwrap();
                wait_freed.recv().unwrap();
            }
        });
        let first = received.recv().unwrap();
        for p in first {
            unsafe { Allocator.dealloc(p as *mut u8, layout) };
        }
        freed.send(()).unwrap();
        let before = minor_faults();
        for _ in 1..BATCHES {
            for p in received.recv().unwrap() {
                unsafe { Allocator.dealloc(p as *mut u8, layout) };
            }
            freed.send(()).unwrap();
        }
        reader.join().unwrap();
        let faults = minor_faults() - before;
        let pages = (BATCHES - 1) * BODIES * layout.size() / PAGE;
        assert!(
            faults < pages as i64 / 10,
            "{faults} page faults for {pages} pages of bodies"
        );
    }

    #[test]
    fn a_freed_large_block_leaves_the_resident_set() {
        let _alone = RSS.lock().unwrap_or_else(|p| p.into_inner());
        let a = Allocator;
        let layout = Layout::from_size_align(64 * LARGE, 1).unwrap();
        unsafe {
            let p = a.alloc(layout);
            ptr::write_bytes(p, 1, layout.size());
            let held = rss();
            a.dealloc(p, layout);
            let after = rss();
            assert!(
                held - after >= 60 * LARGE,
                "RSS fell by {} bytes after freeing 64 MiB",
                held - after
            );
        }
    }
}
