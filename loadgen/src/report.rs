//! The end-of-run report: one struct, written as JSON for scripts and as a table for people.

use std::io::Write;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::agent::AgentStats;
use crate::tally::{Delays, Expect, Totals};

/// One step of a ramp.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// Target rate, messages/s.
    pub target_rate: f64,
    /// Rate actually published, messages/s.
    pub sent_rate: f64,
    /// Input messages completed per second during the step (queue drain for `--expect none`).
    pub done_rate: f64,
    /// Messages not yet done at the end of the step.
    pub backlog: u64,
    /// Delays of the records seen during the step.
    pub delay: Delays,
    /// Whether the agent kept up.
    pub kept_up: bool,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// preload, steady or ramp.
    pub mode: String,
    /// The run tag found in every key of this run.
    pub run_tag: String,
    /// Broker URL, password hidden.
    pub url: String,
    /// The mix.
    pub mix: String,
    /// Body size setting.
    pub size: String,
    /// What each message was expected to produce.
    pub expect: Expect,
    /// Messages confirmed by the broker.
    pub messages_in: u64,
    /// Messages the broker refused (not counted as in).
    pub messages_refused: u64,
    /// Average body size, bytes.
    pub avg_body_bytes: f64,
    /// Publishing time, seconds.
    pub publish_seconds: f64,
    /// Publishing rate, messages/s.
    pub publish_rate: f64,
    /// Seconds from the start of the measurement (agent consuming) to its end.
    pub measure_seconds: f64,
    /// preload: seconds until the notification queues were empty.
    pub drain_seconds: Option<f64>,
    /// preload: messages_in / drain_seconds.
    pub drain_rate: Option<f64>,
    /// Seconds until the last expected record arrived (or the run gave up).
    pub output_seconds: Option<f64>,
    /// Input messages fully processed per second: messages_complete / output_seconds
    /// (preload and `--expect none`: the drain rate).
    pub throughput: f64,
    /// Samples + events + other records per second over output_seconds.
    pub records_rate: f64,
    /// Output counts, loss and duplicates.
    #[serde(flatten)]
    pub totals: Totals,
    /// Delay from send to output, every record.
    pub delay: Delays,
    /// Messages left in the notification queues at the end.
    pub queue_depth_end: u64,
    /// Why the run ended.
    pub ended_by: String,
    /// Ramp steps.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Ramp: the highest target rate the agent kept up with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub knee_rate: Option<f64>,
    /// The agent's CPU and memory, when known.
    pub agent: Option<AgentStats>,
    /// Agent CPU milliseconds per input message.
    pub agent_cpu_ms_per_message: Option<f64>,
}

impl Report {
    /// Whether the run lost or duplicated anything it could check.
    pub fn has_loss_or_duplicates(&self) -> bool {
        self.expect != Expect::None
            && (self.totals.missing_records > 0
                || self.totals.duplicate_records > 0
                || self.messages_refused > 0)
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, out: &mut dyn Write) -> Result<()> {
        serde_json::to_writer_pretty(&mut *out, self).context("writing the JSON report")?;
        writeln!(out).context("writing the JSON report")
    }

    /// Writes the table for people.
    pub fn write_table(&self, out: &mut dyn Write) -> Result<()> {
        let t = &self.totals;
        let opt = |v: Option<f64>, unit: &str| v.map_or("-".to_owned(), |v| format!("{v:.2} {unit}"));
        let mut rows: Vec<(&str, String)> = vec![
            (
                "mode",
                format!("{} (run {}, expect {:?})", self.mode, self.run_tag, self.expect),
            ),
            ("broker", self.url.clone()),
            ("mix / size", format!("{} / {}", self.mix, self.size)),
            (
                "messages in",
                format!(
                    "{} (refused {}), avg {:.0} B",
                    self.messages_in, self.messages_refused, self.avg_body_bytes
                ),
            ),
            (
                "publish",
                format!("{:.2} s, {:.0} msg/s", self.publish_seconds, self.publish_rate),
            ),
            (
                "measured",
                format!("{:.2} s, ended by {}", self.measure_seconds, self.ended_by),
            ),
            (
                "queue drain",
                format!(
                    "{} -> {}",
                    opt(self.drain_seconds, "s"),
                    opt(self.drain_rate, "msg/s")
                ),
            ),
            ("last output", opt(self.output_seconds, "s")),
            (
                "throughput",
                format!(
                    "{:.0} msg/s complete, {:.0} records/s",
                    self.throughput, self.records_rate
                ),
            ),
            (
                "out",
                format!(
                    "{} samples, {} events, {} other, {} foreign, {} undecodable",
                    t.samples_out, t.events_out, t.other_out, t.foreign_out, t.undecodable_out
                ),
            ),
            ("expected records", format!("{}", t.expected_records)),
            (
                "missing / dup",
                format!(
                    "{} missing, {} duplicates, {} unexpected",
                    t.missing_records, t.duplicate_records, t.unexpected_records
                ),
            ),
            (
                "messages",
                format!(
                    "{} complete, {} partial, {} lost, {} duplicated",
                    t.messages_complete, t.messages_partial, t.messages_lost, t.messages_duplicated
                ),
            ),
            (
                "delay ms",
                format!(
                    "p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}  ({} records)",
                    self.delay.p50_ms,
                    self.delay.p90_ms,
                    self.delay.p99_ms,
                    self.delay.max_ms,
                    self.delay.count
                ),
            ),
            ("queue depth end", format!("{}", self.queue_depth_end)),
        ];
        let top = |m: &std::collections::BTreeMap<String, u64>| {
            let mut v: Vec<(&String, &u64)> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = v.iter().take(6).map(|(k, n)| format!("{k} {n}")).collect();
            let more = v.len().saturating_sub(6);
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(", +{more} more")
                } else {
                    String::new()
                }
            )
        };
        if !t.missing_by_meter.is_empty() {
            rows.push(("missing by meter", top(&t.missing_by_meter)));
        }
        if !t.unexpected_by_meter.is_empty() {
            rows.push(("unexpected meters", top(&t.unexpected_by_meter)));
        }
        if !t.incomplete_by_template.is_empty() {
            rows.push(("incomplete (case)", top(&t.incomplete_by_template)));
        }
        if let Some(a) = &self.agent {
            rows.push((
                "agent",
                format!(
                    "pid {}: {:.2} CPU s ({:.2} cores, {} ms/msg), peak RSS {:.1} MB (VmHWM {:.1} MB){}",
                    a.pid,
                    a.cpu_seconds,
                    a.cpu_cores,
                    self.agent_cpu_ms_per_message
                        .map_or("-".into(), |v| format!("{v:.3}")),
                    a.peak_rss_mb,
                    a.vm_hwm_mb,
                    a.exit
                        .as_deref()
                        .map(|e| format!(", exit {e}"))
                        .unwrap_or_default()
                ),
            ));
        }
        if let Some(a) = self
            .agent
            .as_ref()
            .filter(|a| !a.cpu_seconds_by_thread.is_empty())
        {
            rows.push(("agent threads", cpu_by_thread(a, self.messages_in)));
        }
        if let Some(k) = self.knee_rate {
            rows.push(("knee", format!("{k:.0} msg/s")));
        }
        for (k, v) in rows {
            writeln!(out, "{k:>18}  {v}").context("writing the report table")?;
        }
        if !self.steps.is_empty() {
            writeln!(
                out,
                "\n{:>10} {:>10} {:>10} {:>9} {:>9} {:>9}  kept up",
                "target/s", "sent/s", "done/s", "backlog", "p50 ms", "p99 ms"
            )
            .context("writing the report table")?;
            for s in &self.steps {
                writeln!(
                    out,
                    "{:>10.0} {:>10.0} {:>10.0} {:>9} {:>9.1} {:>9.1}  {}",
                    s.target_rate,
                    s.sent_rate,
                    s.done_rate,
                    s.backlog,
                    s.delay.p50_ms,
                    s.delay.p99_ms,
                    s.kept_up
                )
                .context("writing the report table")?;
            }
        }
        Ok(())
    }
}

/// The agent's CPU by thread name, busiest first: µs per message when messages came in, CPU
/// seconds otherwise; a thread whose share rounds to nothing is left out.
fn cpu_by_thread(agent: &AgentStats, messages_in: u64) -> String {
    let (scale, unit, decimals) = match messages_in {
        0 => (1.0, "s", 2),
        n => (1e6 / n as f64, "µs", 1),
    };
    let least = 0.5 / 10f64.powi(decimals as i32);
    let mut groups: Vec<(&String, f64)> = agent
        .cpu_seconds_by_thread
        .iter()
        .map(|(name, cpu)| (name, cpu * scale))
        .filter(|&(_, share)| share >= least)
        .collect();
    groups.sort_by(|a, b| b.1.total_cmp(&a.1));
    let each = |(name, share): (&String, f64)| format!("{name} {share:.decimals$} {unit}");
    groups.into_iter().map(each).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_listed_busiest_first_without_those_that_round_to_nothing() {
        let agent = AgentStats {
            cpu_seconds_by_thread: [("io", 0.5), ("convert", 1.0), ("idle", 0.000_001)]
                .map(|(name, cpu)| (name.to_owned(), cpu))
                .into(),
            ..AgentStats::default()
        };
        assert_eq!(cpu_by_thread(&agent, 100_000), "convert 10.0 µs, io 5.0 µs");
        assert_eq!(cpu_by_thread(&agent, 0), "convert 1.00 s, io 0.50 s");
    }
}
