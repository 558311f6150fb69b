//! `ceilo top`: live rates of a running agent from its own /metrics, for operators without
//! Grafana.
//!
//! It scrapes twice, `--interval` apart, and prints per-second rates of the counters,
//! latency quantiles of what the histograms saw between the two scrapes, and the gauges as
//! they are; then it keeps refreshing. It reads only what the catalogue defines and keeps no
//! history beyond the previous scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ceilo::telemetry::metrics::*;
use ceilo::telemetry::scrape::{self, Exposition};

#[derive(clap::Args)]
pub struct TopArgs {
    /// The agent's metrics URL (its telemetry.listen address).
    #[arg(long, default_value = "http://127.0.0.1:9464/metrics")]
    pub url: String,
    /// Seconds between scrapes; rates are averages over this interval.
    #[arg(long, default_value_t = 2.0, value_parser = parse_interval)]
    pub interval: f64,
    /// Print one table from two scrapes and exit (no screen clearing; for scripts).
    #[arg(long)]
    pub once: bool,
    /// Stop after this many refreshes (0: until interrupted).
    #[arg(long, default_value_t = 0)]
    pub count: u64,
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if (0.1..=3600.0).contains(&secs) => Ok(secs),
        _ => Err(format!("{text}: give seconds between 0.1 and 3600")),
    }
}

pub fn top(args: TopArgs) -> ExitCode {
    let interval = Duration::from_secs_f64(args.interval);
    let timeout = interval.max(Duration::from_secs(5));
    let take = || -> Result<(Exposition, Instant), String> {
        let response = scrape::get_blocking(&args.url, timeout).map_err(|err| err.to_string())?;
        let at = Instant::now();
        if response.status != 200 {
            return Err(format!("{}: HTTP {}", args.url, response.status));
        }
        let exposition = scrape::parse(&response.body).map_err(|err| format!("{}: {err}", args.url))?;
        Ok((exposition, at))
    };
    let mut previous = match take() {
        Ok(first) => first,
        Err(err) => {
            eprintln!("ceilo top: {err}");
            return ExitCode::FAILURE;
        }
    };
    let clear = !args.once && std::io::stdout().is_terminal();
    let mut shown = 0u64;
    loop {
        std::thread::sleep(interval);
        let current = match take() {
            Ok(current) => current,
            Err(err) if args.once => {
                eprintln!("ceilo top: {err}");
                return ExitCode::FAILURE;
            }
            Err(err) => {
                // The agent may be restarting: say so and keep trying.
                println!("ceilo top: {err} (retrying)");
                continue;
            }
        };
        let secs = current.1.duration_since(previous.1).as_secs_f64();
        let table = render(&args.url, &previous.0, &current.0, secs);
        let mut out = std::io::stdout().lock();
        // Home and clear-below: redraw in place without flicker.
        let prefix = if clear { "\x1b[H\x1b[J" } else { "" };
        if write!(out, "{prefix}{table}").and_then(|()| out.flush()).is_err() {
            // stdout closed (piped into head): nothing left to do.
            return ExitCode::SUCCESS;
        }
        shown += 1;
        if args.once || (args.count > 0 && shown >= args.count) {
            return ExitCode::SUCCESS;
        }
        previous = current;
    }
}

/// Two scrapes `secs` apart.
struct Window<'a> {
    prev: &'a Exposition,
    cur: &'a Exposition,
    secs: f64,
}

impl Window<'_> {
    /// Per-second increase; a counter that went down means the agent restarted, so its
    /// current value is the increase.
    fn rate(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let (before, now) = (self.prev.sum(name, labels), self.cur.sum(name, labels));
        let increase = if now >= before { now - before } else { now };
        if self.secs > 0.0 {
            increase / self.secs
        } else {
            0.0
        }
    }

    /// Values of label `by` present in the current scrape of `name`.
    fn label_values(&self, name: &str, by: &str) -> Vec<String> {
        let mut values: Vec<String> = self
            .cur
            .matching(name, &[])
            .filter_map(|s| s.labels.get(by).cloned())
            .collect();
        values.sort();
        values.dedup();
        values
    }

    /// Mean of the observations made between the scrapes.
    fn mean(&self, histogram: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let count = self.rate(&format!("{histogram}_count"), labels);
        let sum = self.rate(&format!("{histogram}_sum"), labels);
        (count > 0.0).then(|| sum / count)
    }

    /// The `q` quantile of the observations made between the scrapes, interpolated within
    /// a bucket the way PromQL's histogram_quantile does.
    fn quantile(&self, histogram: &str, labels: &[(&str, &str)], q: f64) -> Option<f64> {
        let bucket = format!("{histogram}_bucket");
        let mut by_le: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for sample in self.cur.matching(&bucket, labels) {
            let Some(le) = sample.labels.get("le").and_then(|le| parse_le(le)) else {
                continue;
            };
            by_le.entry(le.to_bits()).or_insert((le, 0.0)).1 += sample.value;
        }
        for sample in self.prev.matching(&bucket, labels) {
            let Some(le) = sample.labels.get("le").and_then(|le| parse_le(le)) else {
                continue;
            };
            if let Some(entry) = by_le.get_mut(&le.to_bits()) {
                entry.1 -= sample.value;
            }
        }
        let mut buckets: Vec<(f64, f64)> = by_le.into_values().collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        quantile_of_buckets(&buckets, q)
    }
}

fn parse_le(le: &str) -> Option<f64> {
    if le == "+Inf" {
        Some(f64::INFINITY)
    } else {
        le.parse().ok()
    }
}

/// `buckets`: (upper bound, cumulative count) sorted by bound, the last one +Inf.
fn quantile_of_buckets(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last().map(|b| b.1).filter(|total| *total > 0.0)?;
    let rank = q * total;
    let mut lower = (0.0, 0.0);
    for &(bound, count) in buckets {
        if count >= rank {
            if bound.is_infinite() {
                // Past the last finite bucket: the best answer is that bound.
                return Some(lower.0);
            }
            let in_bucket = count - lower.1;
            let fraction = if in_bucket > 0.0 {
                (rank - lower.1) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * fraction);
        }
        lower = (bound, count);
    }
    None
}

fn fmt_rate(rate: f64) -> String {
    if rate >= 10_000.0 {
        format!("{:.1}k", rate / 1000.0)
    } else if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

fn fmt_secs(secs: Option<f64>) -> String {
    match secs {
        None => "-".into(),
        Some(s) if s < 0.001 => format!("{:.0}µs", s * 1e6),
        Some(s) if s < 1.0 => format!("{:.1}ms", s * 1e3),
        Some(s) => format!("{s:.2}s"),
    }
}

fn fmt_bytes(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// The whole screen.
fn render(url: &str, prev: &Exposition, cur: &Exposition, secs: f64) -> String {
    let w = Window { prev, cur, secs };
    let mut out = String::new();
    // Writing into a String cannot fail; the results below are ignored for that reason.
    let version = cur
        .matching(BUILD_INFO, &[])
        .find_map(|s| s.labels.get(LABEL_VERSION).cloned())
        .unwrap_or_default();
    let ready = match cur.matching(READY, &[]).next().map(|s| s.value) {
        Some(v) if v >= 1.0 => "READY",
        Some(_) => "NOT READY",
        None => "readiness unknown",
    };
    let _ = writeln!(
        out,
        "ceilo top  {url}  ceilo {version}  {ready}  rates over {secs:.1}s"
    );
    let cpu = w.rate(PROCESS_CPU, &[]) * 100.0;
    let _ = writeln!(
        out,
        "process    cpu {cpu:.1}% of a core   rss {}   threads {:.0}   fds {:.0}",
        fmt_bytes(cur.sum(PROCESS_RESIDENT_MEMORY, &[])),
        cur.sum(PROCESS_THREADS, &[]),
        cur.sum(PROCESS_OPEN_FDS, &[]),
    );

    let _ = writeln!(
        out,
        "\n{:<34}{:>10}{:>10}{:>10}{:>10}{:>14}",
        "NOTIFICATIONS /s", "received", "converted", "acked", "rejected", "dead-lettered"
    );
    for queue in w.label_values(NOTIFICATIONS_RECEIVED, LABEL_QUEUE) {
        let q = [(LABEL_QUEUE, queue.as_str())];
        let _ = writeln!(
            out,
            "  {:<32}{:>10}{:>10}{:>10}{:>10}{:>14}",
            queue,
            fmt_rate(w.rate(NOTIFICATIONS_RECEIVED, &q)),
            fmt_rate(w.rate(NOTIFICATIONS_CONVERTED, &q)),
            fmt_rate(w.rate(NOTIFICATIONS_ACKED, &q)),
            fmt_rate(w.rate(NOTIFICATIONS_REJECTED, &q)),
            fmt_rate(w.rate(NOTIFICATIONS_DEAD_LETTERED, &q)),
        );
    }
    for reason in RejectReason::ALL {
        let rate = w.rate(NOTIFICATIONS_REJECTED, &[(LABEL_REASON, reason.as_str())]);
        if rate > 0.0 {
            // Under the "rejected" column, with the reason where the queue would be.
            let label = format!("  by reason: {}", reason.as_str());
            let _ = writeln!(
                out,
                "  {label:<32}{:>10}{:>10}{:>10}{:>10}",
                "",
                "",
                "",
                fmt_rate(rate)
            );
        }
    }

    let _ = writeln!(
        out,
        "\n{:<34}{:>10}{:>10}",
        "SAMPLES AND EVENTS /s", "samples", "events"
    );
    for origin in Origin::ALL {
        let _ = writeln!(
            out,
            "  {:<32}{:>10}{:>10}",
            format!("produced ({})", origin.as_str()),
            fmt_rate(w.rate(SAMPLES_PRODUCED, &[(LABEL_ORIGIN, origin.as_str())])),
            if origin == Origin::Notification {
                fmt_rate(w.rate(EVENTS_PRODUCED, &[]))
            } else {
                String::new()
            },
        );
    }
    let _ = writeln!(
        out,
        "  {:<32}{:>10}{:>10}",
        "filtered",
        fmt_rate(w.rate(SAMPLES_FILTERED, &[])),
        fmt_rate(w.rate(EVENTS_FILTERED, &[]))
    );

    let _ = writeln!(
        out,
        "\n{:<34}{:>10}{:>10}{:>10}{:>10}",
        "PUBLISHERS /s", "samples", "events", "failed", "p99 conf"
    );
    let mut publishers: Vec<(String, String)> = cur
        .matching(SAMPLES_PUBLISHED, &[])
        .chain(cur.matching(EVENTS_PUBLISHED, &[]))
        .filter_map(|s| {
            Some((
                s.labels.get(LABEL_SINK)?.clone(),
                s.labels.get(LABEL_PUBLISHER)?.clone(),
            ))
        })
        .collect();
    publishers.sort();
    publishers.dedup();
    for (sink, publisher) in &publishers {
        let l = [(LABEL_SINK, sink.as_str()), (LABEL_PUBLISHER, publisher.as_str())];
        let failed = w.rate(SAMPLES_PUBLISH_FAILED, &l) + w.rate(EVENTS_PUBLISH_FAILED, &l);
        let _ = writeln!(
            out,
            "  {:<32}{:>10}{:>10}{:>10}{:>10}",
            format!("{sink}/{publisher}"),
            fmt_rate(w.rate(SAMPLES_PUBLISHED, &l)),
            fmt_rate(w.rate(EVENTS_PUBLISHED, &l)),
            fmt_rate(failed),
            fmt_secs(w.quantile(PUBLISH_CONFIRM_DURATION, &l, 0.99)),
        );
    }

    let _ = writeln!(
        out,
        "\n{:<34}{:>10}{:>10}{:>10}",
        "LATENCY (this interval)", "mean", "p50", "p99"
    );
    for (label, name) in [
        ("conversion, per batch", CONVERSION_DURATION),
        ("publish confirm", PUBLISH_CONFIRM_DURATION),
        ("end-to-end delay", END_TO_END_DELAY),
        ("poll duration", POLL_DURATION),
    ] {
        let _ = writeln!(
            out,
            "  {:<32}{:>10}{:>10}{:>10}",
            label,
            fmt_secs(w.mean(name, &[])),
            fmt_secs(w.quantile(name, &[], 0.5)),
            fmt_secs(w.quantile(name, &[], 0.99)),
        );
    }

    let sources = w.label_values(POLLS_RUN, LABEL_SOURCE);
    if !sources.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<34}{:>10}{:>10}{:>10}",
            "POLLING /s", "run", "skipped", "failed"
        );
        for source in sources {
            let s = [(LABEL_SOURCE, source.as_str())];
            let _ = writeln!(
                out,
                "  {:<32}{:>10}{:>10}{:>10}",
                source,
                fmt_rate(w.rate(POLLS_RUN, &s)),
                fmt_rate(w.rate(POLLS_SKIPPED, &s)),
                fmt_rate(w.rate(POLLS_FAILED, &s)),
            );
        }
    }

    let _ = writeln!(out, "\n{:<34}{:>10}{:>10}", "BACKLOG", "in queue", "unacked");
    for queue in w.label_values(AMQP_UNACKED_DELIVERIES, LABEL_QUEUE) {
        let q = [(LABEL_QUEUE, queue.as_str())];
        let _ = writeln!(
            out,
            "  {:<32}{:>10.0}{:>10.0}",
            queue,
            cur.sum(AMQP_QUEUE_MESSAGES, &q),
            cur.sum(AMQP_UNACKED_DELIVERIES, &q)
        );
    }

    // Fullest mailboxes first: the first full one downstream is where the bottleneck is.
    let mut mailboxes: Vec<(f64, String, f64, f64)> = cur
        .matching(ACTOR_MAILBOX_DEPTH, &[])
        .filter_map(|s| {
            let (actor, id) = (s.labels.get(LABEL_ACTOR)?, s.labels.get(LABEL_ID)?);
            let capacity = cur.sum(ACTOR_MAILBOX_CAPACITY, &[(LABEL_ACTOR, actor), (LABEL_ID, id)]);
            let fill = if capacity > 0.0 { s.value / capacity } else { 0.0 };
            Some((fill, format!("{actor}/{id}"), s.value, capacity))
        })
        .collect();
    mailboxes.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    if !mailboxes.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<34}{:>10}{:>10}{:>10}",
            "MAILBOXES (fullest first)", "depth", "capacity", "restarts"
        );
        for (_, name, depth, capacity) in mailboxes.iter().take(10) {
            let (actor, id) = name.split_once('/').unwrap_or((name, ""));
            let restarts = cur.sum(ACTOR_RESTARTS, &[(LABEL_ACTOR, actor), (LABEL_ID, id)]);
            let _ = writeln!(out, "  {name:<32}{depth:>10.0}{capacity:>10.0}{restarts:>10.0}");
        }
    }

    let connections = w.label_values(AMQP_CONNECTION_UP, LABEL_CONNECTION);
    if !connections.is_empty() {
        let _ = writeln!(out, "\n{:<34}{:>10}{:>10}", "AMQP", "state", "reconn.");
        for connection in connections {
            let c = [(LABEL_CONNECTION, connection.as_str())];
            let state = if cur.sum(AMQP_CONNECTION_UP, &c) >= 1.0 {
                "up"
            } else {
                "DOWN"
            };
            let _ = writeln!(
                out,
                "  {:<32}{:>10}{:>10.0}",
                connection,
                state,
                cur.sum(AMQP_RECONNECTS, &c)
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Exposition {
        scrape::parse(text).expect("test exposition parses")
    }

    #[test]
    fn rates_and_restarts() {
        let prev = parse(
            "ceilo_notifications_received_total{queue=\"q\"} 100\nceilo_process_cpu_seconds_total 10\n",
        );
        let cur = parse(
            "ceilo_notifications_received_total{queue=\"q\"} 300\nceilo_process_cpu_seconds_total 11\n",
        );
        let w = Window {
            prev: &prev,
            cur: &cur,
            secs: 2.0,
        };
        assert_eq!(w.rate(NOTIFICATIONS_RECEIVED, &[("queue", "q")]), 100.0);
        // A counter going down means the agent restarted: count from zero.
        let w = Window {
            prev: &cur,
            cur: &prev,
            secs: 2.0,
        };
        assert_eq!(w.rate(NOTIFICATIONS_RECEIVED, &[]), 50.0);
    }

    #[test]
    fn quantiles_interpolate_within_buckets() {
        // 100 observations: 50 in (0, 1], 50 in (1, 2].
        let buckets = [(1.0, 50.0), (2.0, 100.0), (f64::INFINITY, 100.0)];
        assert_eq!(quantile_of_buckets(&buckets, 0.5), Some(1.0));
        assert_eq!(quantile_of_buckets(&buckets, 0.75), Some(1.5));
        assert_eq!(
            quantile_of_buckets(&[(1.0, 0.0), (f64::INFINITY, 0.0)], 0.5),
            None
        );
        // Everything above the last finite bound: report that bound.
        assert_eq!(
            quantile_of_buckets(&[(1.0, 0.0), (f64::INFINITY, 5.0)], 0.5),
            Some(1.0)
        );
    }

    #[test]
    fn histogram_window_uses_only_new_observations() {
        let prev = parse(
            "ceilo_poll_duration_seconds_bucket{le=\"1\"} 10\nceilo_poll_duration_seconds_bucket{le=\"+Inf\"} 10\n\
             ceilo_poll_duration_seconds_sum 5\nceilo_poll_duration_seconds_count 10\n",
        );
        let cur = parse(
            "ceilo_poll_duration_seconds_bucket{le=\"1\"} 10\nceilo_poll_duration_seconds_bucket{le=\"+Inf\"} 20\n\
             ceilo_poll_duration_seconds_sum 35\nceilo_poll_duration_seconds_count 20\n",
        );
        let w = Window {
            prev: &prev,
            cur: &cur,
            secs: 1.0,
        };
        assert_eq!(w.mean(POLL_DURATION, &[]), Some(3.0));
        assert_eq!(w.quantile(POLL_DURATION, &[], 0.5), Some(1.0));
    }

    #[test]
    fn table_names_queues_publishers_and_readiness() {
        let prev = parse(
            "ceilo_notifications_received_total{queue=\"notifications.info\"} 0\n\
             ceilo_samples_published_total{sink=\"meter_sink\",publisher=\"gnocchi\"} 0\nceilo_ready 1\n",
        );
        let cur = parse(
            "ceilo_notifications_received_total{queue=\"notifications.info\"} 2000\n\
             ceilo_notifications_dead_lettered_total{queue=\"notifications.info\"} 6\n\
             ceilo_samples_published_total{sink=\"meter_sink\",publisher=\"gnocchi\"} 500\nceilo_ready 1\n\
             ceilo_build_info{version=\"9.9.9\"} 1\n",
        );
        let table = render("http://x/metrics", &prev, &cur, 2.0);
        assert!(table.contains("ceilo 9.9.9  READY"), "{table}");
        assert!(
            table.contains("notifications.info") && table.contains("1000"),
            "{table}"
        );
        assert!(
            table.contains("meter_sink/gnocchi") && table.contains("250"),
            "{table}"
        );
        // The last column's heading is whole, and its figures end under its end.
        let heading = table.lines().find(|l| l.starts_with("NOTIFICATIONS")).unwrap();
        let row = table.lines().find(|l| l.contains("notifications.info")).unwrap();
        assert!(heading.ends_with(" dead-lettered"), "{table}");
        assert!(row.ends_with(" 3.0") && row.len() == heading.len(), "{table}");
    }
}
