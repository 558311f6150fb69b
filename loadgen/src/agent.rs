//! The agent under test: started from a command line or attached by pid, and watched through
//! /proc for CPU time and peak resident memory.
//!
//! The command is run with `sh -c 'exec ...'` so that its pid is the agent's own; `{url}` in it
//! is replaced by the transport URL, which is also in the environment as `LOADGEN_AMQP_URL`.

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
    /// Largest resident set seen while sampling during the run, MB.
    pub peak_rss_mb: f64,
    /// The kernel's high-water mark of the resident set (VmHWM) at the last sample, MB.
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
    cpu_base: Option<f64>,
    cpu_last: f64,
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
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
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
            cpu_base: None,
            cpu_last: 0.0,
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

    /// Starts the measurement: CPU is counted from here.
    pub fn mark_start(&mut self) {
        self.cpu_base = cpu_seconds(self.pid).or(Some(0.0));
        self.base_at = Some(std::time::Instant::now());
        self.sample();
    }

    /// Reads /proc once; call it periodically (an exited agent keeps its last values).
    pub fn sample(&mut self) {
        if let Some(c) = cpu_seconds(self.pid) {
            self.cpu_last = c;
            self.last_at = Some(std::time::Instant::now());
        }
        if let Some((rss, hwm)) = memory_kb(self.pid) {
            self.peak_rss_kb = self.peak_rss_kb.max(rss);
            self.hwm_kb = self.hwm_kb.max(hwm);
        }
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
        self.sample();
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
        let cpu = (self.cpu_last - self.cpu_base.unwrap_or(0.0)).max(0.0);
        let secs = match (self.base_at, self.last_at) {
            (Some(a), Some(b)) if b > a => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        AgentStats {
            pid: self.pid,
            command: self.command.clone(),
            cpu_seconds: cpu,
            cpu_cores: if secs > 0.0 { cpu / secs } else { 0.0 },
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
    }
}
