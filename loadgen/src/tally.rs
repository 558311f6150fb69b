//! Verification: counts what the agent produced for each input message against what it should
//! have produced, and measures delays from the send time in the key.
//!
//! Pure bookkeeping with no I/O: `collect` feeds it records, the modes read its results.

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::generate::Mix;
use crate::key::Stamp;
use crate::template::Template;

/// What each input message must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// The samples and events Ceilometer 27's default pipelines make from the template.
    Ceilometer,
    /// Exactly one output record of any kind (a republisher, a one-sample test agent).
    One,
    /// Nothing is checked (an ack-only consumer); only the queue drain is measured.
    None,
}

/// The kind of an output record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A meter message / sample.
    Sample,
    /// An event.
    Event,
    /// Anything else carrying a key, e.g. a notification republished unchanged.
    Other,
}

#[derive(Debug)]
struct Slots {
    /// Meter names expected, deduplicated, with their expected counts.
    names: Vec<(String, u16)>,
    events: u16,
}

/// Totals over a run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Totals {
    /// Samples seen with this run's key.
    pub samples_out: u64,
    /// Events seen with this run's key.
    pub events_out: u64,
    /// Other keyed records seen (republished notifications).
    pub other_out: u64,
    /// Records of other runs or with no key.
    pub foreign_out: u64,
    /// Output messages that could not be decoded.
    pub undecodable_out: u64,
    /// Records expected, over all messages published.
    pub expected_records: u64,
    /// Expected records missing at the end.
    pub missing_records: u64,
    /// Records seen more often than expected.
    pub duplicate_records: u64,
    /// Samples whose meter name the template does not expect (agent configured differently).
    pub unexpected_records: u64,
    /// Input messages for which every expected record arrived.
    pub messages_complete: u64,
    /// Input messages of which nothing arrived.
    pub messages_lost: u64,
    /// Input messages of which some but not all records arrived.
    pub messages_partial: u64,
    /// Input messages of which some record arrived more often than expected (an agent that
    /// redelivers after a broker node or an agent is lost: bounded by what it had unacked).
    pub messages_duplicated: u64,
    /// `--expect ceilometer`: missing samples by meter name, and missing events as `(event)`.
    pub missing_by_meter: BTreeMap<String, u64>,
    /// `--expect ceilometer`: samples of meters the template does not produce, by name.
    pub unexpected_by_meter: BTreeMap<String, u64>,
    /// Input messages not complete, by template (corpus case) name.
    pub incomplete_by_template: BTreeMap<String, u64>,
}

/// Delay percentiles in milliseconds.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Delays {
    /// Number of records measured.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Delays {
    /// Percentiles of a histogram in µs.
    pub fn of(h: &Histogram<u64>) -> Self {
        let ms = |v: u64| v as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Per-message counts and delays of one run.
#[derive(Debug)]
pub struct Tally {
    expect: Expect,
    mix: Mix,
    slots: Vec<Slots>,
    names: Vec<String>,
    unexpected: HashMap<String, u64>,
    /// Per seq: counters laid out as [events, name 0, name 1, ..., other]; allocated on first sight.
    seen: Vec<Option<Box<[u16]>>>,
    complete: Vec<bool>,
    totals: Totals,
    /// Number of records that filled an expected slot (not duplicates, not unexpected).
    matched: u64,
    /// Messages that became complete.
    completed: u64,
    delays: Histogram<u64>,
    window: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 hour at 3 significant digits: constant, valid bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("constant histogram bounds are valid")
}

impl Tally {
    /// A tally for messages built from `templates` picked by `mix`.
    pub fn new(expect: Expect, templates: &[Template], mix: Mix) -> Self {
        let slots = templates
            .iter()
            .map(|t| {
                let mut names: Vec<(String, u16)> = Vec::new();
                for n in &t.samples {
                    match names.iter_mut().find(|(m, _)| m == n) {
                        Some((_, c)) => *c += 1,
                        None => names.push((n.clone(), 1)),
                    }
                }
                Slots {
                    names,
                    events: t.events as u16,
                }
            })
            .collect();
        Self {
            expect,
            mix,
            slots,
            names: templates.iter().map(|t| t.name.clone()).collect(),
            unexpected: HashMap::new(),
            seen: Vec::new(),
            complete: Vec::new(),
            totals: Totals::default(),
            matched: 0,
            completed: 0,
            delays: histogram(),
            window: histogram(),
        }
    }

    /// Number of records message `seq` must produce.
    pub fn expected_of(&self, seq: u64) -> u64 {
        match self.expect {
            Expect::None => 0,
            Expect::One => 1,
            Expect::Ceilometer => {
                let s = &self.slots[self.mix.template_of(seq)];
                u64::from(s.events) + s.names.iter().map(|(_, c)| u64::from(*c)).sum::<u64>()
            }
        }
    }

    /// Counts a record of this run; `now_us` is the time it was seen (µs since the run started).
    pub fn record(&mut self, stamp: Stamp, kind: Kind, name: Option<&str>, now_us: u64) {
        match kind {
            Kind::Sample => self.totals.samples_out += 1,
            Kind::Event => self.totals.events_out += 1,
            Kind::Other => self.totals.other_out += 1,
        }
        let delay = now_us.saturating_sub(stamp.sent_us).max(1);
        self.delays.saturating_record(delay);
        self.window.saturating_record(delay);
        let Ok(seq) = usize::try_from(stamp.seq) else {
            return;
        };
        if self.seen.len() <= seq {
            self.seen.resize_with(seq + 1, || None);
            self.complete.resize(seq + 1, false);
        }
        let t = self.mix.template_of(stamp.seq);
        let slots = &self.slots[t];
        let width = match self.expect {
            Expect::Ceilometer => slots.names.len() + 2,
            Expect::One | Expect::None => 1,
        };
        let counts = self.seen[seq].get_or_insert_with(|| vec![0u16; width].into_boxed_slice());
        let (idx, want) = match self.expect {
            Expect::None => (0, 0),
            Expect::One => (0, 1),
            Expect::Ceilometer => match (kind, name) {
                (Kind::Event, _) => (0, slots.events),
                (Kind::Sample, Some(n)) => match slots.names.iter().position(|(m, _)| m == n) {
                    Some(i) => (i + 1, slots.names[i].1),
                    None => {
                        if self.unexpected.len() < 200 || self.unexpected.contains_key(n) {
                            *self.unexpected.entry(n.to_owned()).or_default() += 1;
                        }
                        (width - 1, 0)
                    }
                },
                _ => (width - 1, 0),
            },
        };
        counts[idx] = counts[idx].saturating_add(1);
        if counts[idx] <= want {
            self.matched += 1;
            let total: u64 = counts.iter().map(|&c| u64::from(c)).sum();
            if !self.complete[seq] && total >= self.expected_of(stamp.seq) && self.is_full(seq, t) {
                self.complete[seq] = true;
                self.completed += 1;
            }
        }
    }

    fn is_full(&self, seq: usize, t: usize) -> bool {
        let Some(counts) = &self.seen[seq] else {
            return false;
        };
        match self.expect {
            Expect::None => true,
            Expect::One => counts[0] >= 1,
            Expect::Ceilometer => {
                let s = &self.slots[t];
                counts[0] >= s.events && s.names.iter().enumerate().all(|(i, (_, c))| counts[i + 1] >= *c)
            }
        }
    }

    /// Counts a record that carries no key of this run.
    pub fn foreign(&mut self) {
        self.totals.foreign_out += 1;
    }

    /// Counts an output message that could not be decoded.
    pub fn undecodable(&mut self) {
        self.totals.undecodable_out += 1;
    }

    /// Records that filled an expected slot so far.
    pub fn matched(&self) -> u64 {
        self.matched
    }

    /// Input messages complete so far.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// Records seen so far (of this run).
    pub fn records(&self) -> u64 {
        self.totals.samples_out + self.totals.events_out + self.totals.other_out
    }

    /// Delays of every record so far.
    pub fn delays(&self) -> Delays {
        Delays::of(&self.delays)
    }

    /// Delays since the last call, and starts a new window.
    pub fn take_window(&mut self) -> Delays {
        let d = Delays::of(&self.window);
        self.window.reset();
        d
    }

    /// Final counts for the messages `0..published`, except `failed` ones (nacked by the broker).
    pub fn finish(&self, published: u64, failed: &[u64]) -> Totals {
        let mut t = self.totals.clone();
        t.unexpected_by_meter = self.unexpected.iter().map(|(k, v)| (k.clone(), *v)).collect();
        let failed: HashMap<u64, ()> = failed.iter().map(|&s| (s, ())).collect();
        for seq in 0..published {
            if failed.contains_key(&seq) {
                continue;
            }
            let want = self.expected_of(seq);
            t.expected_records += want;
            let counts = self.seen.get(seq as usize).and_then(|c| c.as_deref());
            let tpl = self.mix.template_of(seq);
            self.missing_meters(tpl, counts, &mut t.missing_by_meter);
            let Some(counts) = counts else {
                t.missing_records += want;
                if want > 0 {
                    t.messages_lost += 1;
                    *t.incomplete_by_template
                        .entry(self.names[tpl].clone())
                        .or_default() += 1;
                }
                continue;
            };
            let (missing, dup, unexpected) = self.diff(seq, counts);
            t.missing_records += missing;
            t.duplicate_records += dup;
            t.messages_duplicated += u64::from(dup > 0);
            t.unexpected_records += unexpected;
            if want > 0 && missing == 0 {
                t.messages_complete += 1;
            } else if want > 0 && missing == want {
                t.messages_lost += 1;
            } else if want > 0 {
                t.messages_partial += 1;
            }
            if want > 0 && missing > 0 {
                *t.incomplete_by_template
                    .entry(self.names[tpl].clone())
                    .or_default() += 1;
            }
        }
        t
    }

    fn missing_meters(&self, tpl: usize, counts: Option<&[u16]>, out: &mut BTreeMap<String, u64>) {
        if self.expect != Expect::Ceilometer {
            return;
        }
        let s = &self.slots[tpl];
        let have = |i: usize| counts.map_or(0, |c| c[i]);
        let events = s.events.saturating_sub(have(0));
        if events > 0 {
            *out.entry("(event)".into()).or_default() += u64::from(events);
        }
        for (i, (name, want)) in s.names.iter().enumerate() {
            let m = want.saturating_sub(have(i + 1));
            if m > 0 {
                *out.entry(name.clone()).or_default() += u64::from(m);
            }
        }
    }

    fn diff(&self, seq: u64, counts: &[u16]) -> (u64, u64, u64) {
        let pair = |have: u16, want: u16| {
            (
                u64::from(want.saturating_sub(have)),
                u64::from(have.saturating_sub(want)),
            )
        };
        match self.expect {
            Expect::None => (0, 0, 0),
            Expect::One => {
                let (m, d) = pair(counts[0], 1);
                (m, d, 0)
            }
            Expect::Ceilometer => {
                let s = &self.slots[self.mix.template_of(seq)];
                let (mut m, mut d) = pair(counts[0], s.events);
                for (i, (_, want)) in s.names.iter().enumerate() {
                    let (mi, di) = pair(counts[i + 1], *want);
                    m += mi;
                    d += di;
                }
                (m, d, u64::from(counts[counts.len() - 1]))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template;

    fn tally(expect: Expect, mix: &str) -> (Tally, Vec<Template>, Mix) {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse(mix, &t, 1).expect("mix");
        (Tally::new(expect, &t, mix.clone()), t, mix)
    }

    fn feed_all(tally: &mut Tally, t: &[Template], mix: &Mix, seq: u64) {
        let tpl = &t[mix.template_of(seq)];
        for n in &tpl.samples {
            tally.record(Stamp { seq, sent_us: 0 }, Kind::Sample, Some(n), 10);
        }
        for _ in 0..tpl.events {
            tally.record(Stamp { seq, sent_us: 0 }, Kind::Event, None, 10);
        }
    }

    #[test]
    fn complete_output_counts_no_loss_and_no_duplicates() {
        let (mut tally, t, mix) = tally(Expect::Ceilometer, "all");
        for seq in 0..300 {
            feed_all(&mut tally, &t, &mix, seq);
        }
        let r = tally.finish(300, &[]);
        assert_eq!(r.messages_complete, 300);
        assert_eq!(
            (r.missing_records, r.duplicate_records, r.messages_lost),
            (0, 0, 0)
        );
        assert_eq!(tally.completed(), 300);
        assert_eq!(r.expected_records, tally.matched());
    }

    #[test]
    fn missing_duplicate_and_unexpected_records_are_told_apart() {
        let (mut tally, t, mix) = tally(Expect::Ceilometer, "nova-create-end");
        feed_all(&mut tally, &t, &mix, 0);
        feed_all(&mut tally, &t, &mix, 0); // all duplicated
        tally.record(Stamp { seq: 1, sent_us: 0 }, Kind::Sample, Some("vcpus"), 5); // partial
        tally.record(Stamp { seq: 1, sent_us: 0 }, Kind::Sample, Some("cpu"), 5); // unexpected
        let r = tally.finish(3, &[]); // seq 2: lost
        assert_eq!(r.expected_records, 18);
        assert_eq!(r.duplicate_records, 6);
        assert_eq!(r.messages_duplicated, 1);
        assert_eq!(r.missing_records, 5 + 6);
        assert_eq!(r.unexpected_records, 1);
        assert_eq!(
            (r.messages_complete, r.messages_partial, r.messages_lost),
            (1, 1, 1)
        );
    }

    #[test]
    fn expect_one_counts_exactly_one_record_per_message() {
        let (mut tally, _, _) = tally(Expect::One, "all");
        for seq in 0..10 {
            tally.record(Stamp { seq, sent_us: 1000 }, Kind::Other, None, 3000);
        }
        tally.record(
            Stamp {
                seq: 4,
                sent_us: 1000,
            },
            Kind::Other,
            None,
            3000,
        );
        let r = tally.finish(12, &[11]);
        assert_eq!(
            (r.expected_records, r.missing_records, r.duplicate_records),
            (11, 1, 1)
        );
        assert_eq!(r.messages_lost, 1);
        let d = tally.delays();
        assert_eq!(d.count, 11);
        assert!((d.p50_ms - 2.0).abs() < 0.01);
    }
}
