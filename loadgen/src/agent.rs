//! The agent under test: started from a command line or attached by pid, and watched through
//! /proc for CPU time and peak resident memory.
//!
//! The command is run with `sh -c 'exec ...'` so that its pid is the agent's own; `{url}` in it
//! is replaced by the transport URL, which is also in the environment as `LOADGEN_AMQP_URL`.
//! CPU and memory cover the agent's whole process tree: Ceilometer's notification agent does its
//! work in worker processes forked by a cotyledon master.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

/// CPU and memory of the agent during the measurement.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentStats {
    /// Process id.
    pub pid: u32,
    /// The command, when loadgen started the agent.
    pub command: Option<String>,
    /// CPU seconds (user + system) used during the measurement.
    pub cpu_seconds: f64,
    /// Average CPU use during the measurement, in cores.
    pub cpu_cores: f64,
    /// CPU seconds during the measurement by thread name, the thread's number left off
    /// (`ceilo-convert-0` and `ceilo-convert-1` count as `ceilo-convert`): which part of the
    /// agent the CPU went to. Threads seen while sampling; a thread that ended keeps what it had
    /// at the sample before (up to 200 ms of its CPU can be missing).
    pub cpu_seconds_by_thread: BTreeMap<String, f64>,
    /// Processes in the agent's tree at the last sample.
    pub processes: usize,
    /// Largest resident set of the process tree seen while sampling during the run, MB.
    pub peak_rss_mb: f64,
    /// The kernel's high-water mark of the resident set (VmHWM), summed over the tree, MB.
    pub vm_hwm_mb: f64,
    /// Exit status, when the agent exited during the run.
    pub exit: Option<String>,
    /// Where the agent's output went.
    pub log: Option<PathBuf>,
}

/// A watched agent process.
#[derive(Debug)]
pub struct Agent {
    pid: u32,
    child: Option<tokio::process::Child>,
    command: Option<String>,
    log: Option<PathBuf>,
    cpu_base: HashMap<u32, f64>,
    cpu_last: HashMap<u32, f64>,
    /// By thread id: its name and CPU seconds.
    thread_base: HashMap<u32, (String, f64)>,
    thread_last: HashMap<u32, (String, f64)>,
    hwm_last: HashMap<u32, u64>,
    processes: usize,
    sampled_at: Option<std::time::Instant>,
    base_at: Option<std::time::Instant>,
    last_at: Option<std::time::Instant>,
    peak_rss_kb: u64,
    hwm_kb: u64,
    exit: Option<String>,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds (utime + stime) of `pid` from /proc/PID/stat.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu(&stat).map(|(_, cpu)| cpu)
}

/// The name and CPU seconds (utime + stime) in the text of a /proc `stat` file.
fn stat_cpu(stat: &str) -> Option<(&str, f64)> {
    // The name is in parentheses (and may hold some); after it state is field 3, utime 14, stime 15.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((stat.get(open + 1..close)?, (utime + stime) / clock_ticks()))
}

/// Each thread of `pid`: (thread id, name, CPU seconds), from /proc/PID/task/*/stat.
pub fn thread_cpu(pid: u32) -> Vec<(u32, String, f64)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let tid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (name, cpu) = stat_cpu(&stat)?;
            Some((tid, name.to_owned(), cpu))
        })
        .collect()
}

/// A thread's name without its number: `ceilo-convert-1` → `ceilo-convert`, `worker3` → `worker`.
fn thread_group(name: &str) -> &str {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit());
    if base.is_empty() || base.len() == name.len() {
        return name;
    }
    match base.strip_suffix('-') {
        Some(stripped) if !stripped.is_empty() => stripped,
        _ => base,
    }
}

/// (VmRSS, VmHWM) of `pid` in kB from /proc/PID/status.
pub fn memory_kb(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// `pid` and all its descendants, from the parent pids in /proc/*/stat.
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(p) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
                continue;
            };
            let ppid = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok());
            if let Some(pp) = ppid {
                children.entry(pp).or_default().push(p);
            }
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        if let Some(c) = children.get(&out[i]) {
            out.extend(c);
        }
        i += 1;
    }
    out
}

impl Agent {
    /// Starts `command` with its output going to `log`.
    pub fn spawn(command: &str, url: &str, log: &Path) -> Result<Self> {
        let cmd = command.replace("{url}", url);
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().context("duplicating the agent log handle")?;
        let child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec {cmd}"))
            .env("LOADGEN_AMQP_URL", url)
            .stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the agent: {cmd}"))?;
        let pid = child.id().context("the agent exited at once")?;
        Ok(Self::new(pid, Some(child), Some(cmd), Some(log.to_owned())))
    }

    /// Watches an agent that runs already.
    pub fn attach(pid: u32) -> Result<Self> {
        cpu_seconds(pid).with_context(|| format!("no readable /proc/{pid}/stat"))?;
        Ok(Self::new(pid, None, None, None))
    }

    fn new(
        pid: u32,
        child: Option<tokio::process::Child>,
        command: Option<String>,
        log: Option<PathBuf>,
    ) -> Self {
        Self {
            pid,
            child,
            command,
            log,
            cpu_base: HashMap::new(),
            cpu_last: HashMap::new(),
            thread_base: HashMap::new(),
            thread_last: HashMap::new(),
            hwm_last: HashMap::new(),
            processes: 0,
            sampled_at: None,
            base_at: None,
            last_at: None,
            peak_rss_kb: 0,
            hwm_kb: 0,
            exit: None,
        }
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Starts the measurement: CPU is counted from here (processes born later count from 0).
    pub fn mark_start(&mut self) {
        self.sample_now();
        self.cpu_base = self.cpu_last.clone();
        self.thread_base = self.thread_last.clone();
        self.base_at = Some(std::time::Instant::now());
        self.last_at = self.base_at;
    }

    /// Reads /proc at most every 200 ms (a scan of /proc costs CPU the agent could use); call it
    /// often. An exited agent keeps its last values.
    pub fn sample(&mut self) {
        if self
            .sampled_at
            .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(200))
        {
            return;
        }
        self.sample_now();
    }

    /// Reads /proc now.
    pub fn sample_now(&mut self) {
        self.sampled_at = Some(std::time::Instant::now());
        let tree = process_tree(self.pid);
        let mut rss_sum = 0;
        let mut any = false;
        for &p in &tree {
            if let Some(c) = cpu_seconds(p) {
                self.cpu_last.insert(p, c);
                any = true;
            }
            for (tid, name, cpu) in thread_cpu(p) {
                self.thread_last.insert(tid, (name, cpu));
            }
            if let Some((rss, hwm)) = memory_kb(p) {
                rss_sum += rss;
                let h = self.hwm_last.entry(p).or_insert(0);
                *h = (*h).max(hwm);
            }
        }
        if any {
            self.last_at = Some(std::time::Instant::now());
            self.processes = tree.len();
        }
        self.peak_rss_kb = self.peak_rss_kb.max(rss_sum);
        self.hwm_kb = self.hwm_kb.max(self.hwm_last.values().sum());
        if let Some(child) = self.child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                self.exit = Some(status.to_string());
            }
        }
    }

    /// Whether the agent has exited (only known for agents loadgen started).
    pub fn exited(&self) -> bool {
        self.exit.is_some()
    }

    /// Stops an agent that loadgen started: SIGTERM, then SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        self.sample_now();
        let Some(child) = self.child.as_mut() else { return };
        if self.exit.is_none() {
            if let Ok(pid) = i32::try_from(self.pid) {
                // SAFETY: signalling our own child by its pid; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            match tokio::time::timeout(grace, child.wait()).await {
                Ok(Ok(status)) => self.exit = Some(status.to_string()),
                _ => {
                    let _ = child.kill().await;
                    self.exit = Some("killed after SIGTERM timeout".into());
                }
            }
        }
    }

    /// What was measured.
    pub fn stats(&self) -> AgentStats {
        let cpu: f64 = self
            .cpu_last
            .iter()
            .map(|(p, c)| (c - self.cpu_base.get(p).copied().unwrap_or(0.0)).max(0.0))
            .sum();
        let secs = match (self.base_at, self.last_at) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let mut by_thread = BTreeMap::new();
        for (tid, (name, cpu)) in &self.thread_last {
            let base = self.thread_base.get(tid).map_or(0.0, |(_, c)| *c);
            *by_thread.entry(thread_group(name).to_owned()).or_insert(0.0) += (cpu - base).max(0.0);
        }
        AgentStats {
            pid: self.pid,
            command: self.command.clone(),
            cpu_seconds: cpu,
            cpu_seconds_by_thread: by_thread,
            cpu_cores: if secs > 0.0 { cpu / secs } else { 0.0 },
            processes: self.processes,
            peak_rss_mb: self.peak_rss_kb as f64 / 1024.0,
            vm_hwm_mb: self.hwm_kb as f64 / 1024.0,
            exit: self.exit.clone(),
            log: self.log.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_of_this_process_is_readable() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        let (rss, hwm) = memory_kb(pid).expect("status");
        assert!(rss > 0 && hwm >= rss);
        assert!(cpu_seconds(u32::MAX).is_none());
        assert_eq!(process_tree(pid)[0], pid);
        let parent = std::os::unix::process::parent_id();
        assert!(process_tree(parent).contains(&pid));
    }

    #[test]
    fn threads_are_grouped_by_their_name_without_its_number() {
        assert_eq!(thread_group("ceilo-convert-1"), "ceilo-convert");
        assert_eq!(thread_group("ceilo-io"), "ceilo-io");
        assert_eq!(thread_group("worker3"), "worker");
        assert_eq!(thread_group("42"), "42");
        assert_eq!(thread_group("a-"), "a-");
        assert_eq!(
            stat_cpu("7 (x (y) z) S 1 2 3 4 5 6 7 8 9 10 200 100 0"),
            Some(("x (y) z", 300.0 / clock_ticks()))
        );
    }

    #[test]
    fn the_cpu_of_a_busy_thread_is_counted_under_its_name() {
        let mut agent = Agent::attach(std::process::id()).unwrap();
        agent.mark_start();
        let busy = std::thread::Builder::new()
            .name("busy-7".into())
            .spawn(|| {
                let started = std::time::Instant::now();
                let mut x = 0u64;
                while started.elapsed() < Duration::from_millis(500) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
                x
            })
            .unwrap();
        // Sampled while the thread runs: a thread that has ended is no longer listed.
        std::thread::sleep(Duration::from_millis(300));
        agent.sample_now();
        busy.join().unwrap();
        let by_thread = agent.stats().cpu_seconds_by_thread;
        assert!(
            by_thread.get("busy").is_some_and(|&cpu| cpu >= 0.02),
            "{by_thread:?}"
        );
        assert!(!by_thread.contains_key("busy-7"));
    }
}
