//! Python's `time.monotonic()`: the clock Ceilometer's compute pollsters stamp `monotonic_time`
//! with (and systemd's `MONOTONIC_USEC` is read on).

use std::time::Duration;

/// `time.monotonic()`: CLOCK_MONOTONIC, the time since boot that the kernel counts without
/// suspend or clock changes. The same reading in every process of the host, as Python's is.
pub fn monotonic() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec, which `now` is; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn python_monotonic() -> f64 {
        let out = std::process::Command::new("python3")
            .args(["-c", "import time; print(repr(time.monotonic()))"])
            .output()
            .expect("python3");
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .expect("a float")
    }

    #[test]
    fn monotonic_reads_the_clock_pythons_time_monotonic_reads() {
        let before = python_monotonic();
        let ours = monotonic().as_secs_f64();
        let after = python_monotonic();
        assert!(before <= ours && ours <= after, "{before} <= {ours} <= {after}");
    }
}
