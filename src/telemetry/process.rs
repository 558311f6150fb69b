//! Process figures read from `/proc/self` at scrape time: RSS, CPU time, threads, open file
//! descriptors, start time.
//!
//! Rendered as Prometheus text by hand rather than through the `metrics` facade, because the
//! facade's counters are integers and CPU seconds are not; reading on scrape also means no
//! timer thread and figures exactly as fresh as the scrape. Linux only: elsewhere, or if
//! /proc is unreadable, the figures are left out rather than reported as zero.

use std::fmt::Write;

use super::metrics::{
    lookup, PROCESS_CPU, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY, PROCESS_START_TIME, PROCESS_THREADS,
};

/// One reading of the process' figures; `None` where /proc did not say.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub resident_memory_bytes: Option<f64>,
    pub cpu_seconds: Option<f64>,
    pub threads: Option<f64>,
    pub open_fds: Option<f64>,
    pub start_time_seconds: Option<f64>,
}

impl ProcessStats {
    /// Reads /proc/self now.
    pub fn read() -> Self {
        let ticks = clock_ticks_per_second();
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(StatFields::parse);
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| parse_boot_time(&s));
        let status = std::fs::read_to_string("/proc/self/status").ok();
        ProcessStats {
            resident_memory_bytes: status.as_deref().and_then(parse_vm_rss_bytes),
            cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / ticks),
            threads: stat.map(|s| s.threads as f64),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as f64),
            start_time_seconds: stat
                .zip(boot_time)
                .map(|(s, boot)| boot as f64 + s.start_ticks as f64 / ticks),
        }
    }

    /// Appends the figures in Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let rows = [
            (PROCESS_RESIDENT_MEMORY, self.resident_memory_bytes),
            (PROCESS_CPU, self.cpu_seconds),
            (PROCESS_THREADS, self.threads),
            (PROCESS_OPEN_FDS, self.open_fds),
            (PROCESS_START_TIME, self.start_time_seconds),
        ];
        for (name, value) in rows {
            if let Some(value) = value {
                render_single(out, name, &[], value);
            }
        }
    }
}

/// Writes HELP, TYPE and one sample line for a catalogue metric.
pub(crate) fn render_single(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    if let Some(def) = lookup(name) {
        // Writing into a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {}", def.help);
        let _ = writeln!(out, "# TYPE {name} {}", def.kind.as_str());
    }
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (key, val)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape_label(val));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Debug, Clone, Copy)]
struct StatFields {
    utime: u64,
    stime: u64,
    threads: u64,
    start_ticks: u64,
}

impl StatFields {
    /// `/proc/self/stat`: the command name (field 2) is in parentheses and may hold spaces
    /// and parentheses itself, so fields are counted from the last `)`.
    fn parse(stat: &str) -> Option<Self> {
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state): field N is fields[N - 3].
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(StatFields {
            utime: field(14)?,
            stime: field(15)?,
            threads: field(20)?,
            start_ticks: field(22)?,
        })
    }
}

fn parse_vm_rss_bytes(status: &str) -> Option<f64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

fn parse_boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a constant of the C library.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    // USER_HZ is 100 on every Linux architecture ceilo targets; it is the fallback if the
    // C library cannot say.
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_parentheses_in_the_name() {
        let stat = "42 (ce (il) o) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 1000 200";
        let fields = StatFields::parse(stat).expect("parses");
        assert_eq!(
            (fields.utime, fields.stime, fields.threads, fields.start_ticks),
            (250, 50, 7, 12345)
        );
    }

    #[test]
    fn reads_this_process() {
        let stats = ProcessStats::read();
        assert!(
            stats.resident_memory_bytes.is_some_and(|rss| rss > 1e6),
            "{stats:?}"
        );
        assert!(stats.threads.is_some_and(|t| t >= 1.0));
        assert!(stats.start_time_seconds.is_some_and(|t| t > 1.6e9));
        let mut out = String::new();
        stats.render(&mut out);
        assert!(out.contains("# TYPE ceilo_process_cpu_seconds_total counter\n"));
    }
}
