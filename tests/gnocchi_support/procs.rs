//! What a process tree costs, from /proc: CPU seconds (utime + stime of `stat`) and peak RSS
//! (`VmHWM` of `status`), summed over a process and its descendants — Ceilometer's work runs
//! in workers forked by the cotyledon master.

use crate::common::ceilometer::stat_fields;

/// CPU seconds (user + system) one process has used; 0 once it is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Some(f) = stat_fields(pid) else {
        return 0.0;
    };
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15, in clock ticks (100 per second on Linux).
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak RSS (`VmHWM`) of a process in bytes; 0 once it is gone.
pub fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
