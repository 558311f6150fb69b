//! The binary's global allocator: mimalloc for everything small, the kernel for big blocks.
//!
//! mimalloc keeps the pages it frees for reuse and gives them back to the kernel only after a
//! delay, and only when the thread that owns them allocates again. That is what makes the
//! per-sample allocations of the hot path cheap, but it also keeps freed notification bodies
//! resident: a body is assembled on lapin's thread and freed on another, so a run of 8 MiB
//! bodies left up to twice the live bytes in RSS, past the ceiling `docs/runtime.md` promises.
//! Blocks of [`LARGE`] or more (bodies, their dead-letter frames) are mapped and unmapped
//! directly, so RSS follows what the agent holds; the syscalls cost nothing next to touching a
//! mebibyte, and no block of that size is on the hot path of small notifications.

use std::alloc::{GlobalAlloc, Layout};
use std::ptr;

use mimalloc::MiMalloc;

/// The smallest block served by the kernel.
const LARGE: usize = 1 << 20;
/// Mappings are page aligned: a block asking for more alignment stays with mimalloc.
const PAGE: usize = 4096;

pub struct Allocator;

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
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size(), layout.align()) {
            unsafe { map(layout.size()) }
        } else {
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size(), layout.align()) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { MiMalloc.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old_size, align) = (layout.size(), layout.align());
        match (is_large(old_size, align), is_large(new_size, align)) {
            (false, false) => unsafe { MiMalloc.realloc(ptr, layout, new_size) },
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

    #[test]
    fn a_freed_large_block_leaves_the_resident_set() {
        fn rss() -> usize {
            let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
            statm.split_whitespace().nth(1).unwrap().parse::<usize>().unwrap() * 4096
        }
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
