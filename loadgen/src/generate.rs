//! Builds notification bodies: picks a template for each sequence number according to the mix,
//! fills its placeholders (run key, ids, timestamp, padding) and wraps it in the oslo envelope.
//!
//! The template of a sequence number is a pure function of (seed, seq), so the verifier can tell
//! what a message should have produced without being told. Publishing is not done here.

use anyhow::{bail, Context, Result};
use rand::{rngs::SmallRng, Rng, SeedableRng};

use crate::key::{RunKey, Stamp};
use crate::template::{Segment, Template};
use crate::wire;

/// The default mix: a cloud where compute dominates.
pub const DEFAULT_MIX: &str = "nova=40,cinder=15,neutron=10,glance=8,keystone=8,heat=4,swift=3,polling=12";

const PAD_OVERHEAD: usize = r#", "notes": """#.len();
const PAD_TEXT: &[u8] = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor \
incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ";

/// Which templates are sent, in which proportions, for which sequence number.
#[derive(Debug, Clone)]
pub struct Mix {
    /// (template index, cumulative weight)
    cumulative: Vec<(usize, u64)>,
    total: u64,
    seed: u64,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Mix {
    /// Parses `name=weight,...`; a name is a family (`nova`, `polling`, ...) whose weight is shared
    /// by its templates, a template name, or a name prefix ending in `*` (`nova-*`). `all` gives
    /// every template the same weight.
    pub fn parse(spec: &str, templates: &[Template], seed: u64) -> Result<Self> {
        let mut weights = vec![0u64; templates.len()];
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, w) = item.split_once('=').unwrap_or((item, "1"));
            let w: u64 = w
                .trim()
                .parse()
                .with_context(|| format!("mix item {item:?}: bad weight"))?;
            let chosen: Vec<usize> = (0..templates.len())
                .filter(|&i| {
                    let t = &templates[i];
                    name == "all"
                        || t.family == name
                        || t.name == name
                        || name.strip_suffix('*').is_some_and(|p| t.name.starts_with(p))
                })
                .collect();
            if chosen.is_empty() {
                bail!("mix item {item:?}: no template or family named {name:?}");
            }
            let share = w * 1_000_000 / chosen.len() as u64;
            for i in chosen {
                weights[i] += share;
            }
        }
        let mut cumulative = Vec::new();
        let mut total = 0;
        for (i, w) in weights.into_iter().enumerate() {
            if w > 0 {
                total += w;
                cumulative.push((i, total));
            }
        }
        if total == 0 {
            bail!("mix {spec:?} selects nothing");
        }
        Ok(Self {
            cumulative,
            total,
            seed,
        })
    }

    /// Template index of message `seq`.
    pub fn template_of(&self, seq: u64) -> usize {
        let x = splitmix(self.seed ^ seq.wrapping_mul(0x2545_f491_4f6c_dd1d)) % self.total;
        let at = self.cumulative.partition_point(|&(_, c)| c <= x);
        self.cumulative[at.min(self.cumulative.len() - 1)].0
    }

    fn size_draw(&self, seq: u64) -> u64 {
        splitmix(self.seed.rotate_left(17) ^ seq)
    }
}

/// Body sizes: the template's own, a fixed target, or a uniform range (bytes of the AMQP body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// No padding.
    Natural,
    /// Pad up to this many bytes.
    Fixed(usize),
    /// Pad up to a size drawn uniformly from this range.
    Range(usize, usize),
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Size::Natural => f.write_str("natural"),
            Size::Fixed(n) => write!(f, "{n}"),
            Size::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

impl std::str::FromStr for Size {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        if s == "natural" {
            return Ok(Size::Natural);
        }
        if let Some((a, b)) = s.split_once('-') {
            let (a, b): (usize, usize) = (a.parse()?, b.parse()?);
            if a > b {
                bail!("size range {s:?} is reversed");
            }
            return Ok(Size::Range(a, b));
        }
        Ok(Size::Fixed(s.parse().with_context(|| format!("bad size {s:?}"))?))
    }
}

/// One message ready to publish.
#[derive(Debug)]
pub struct Message<'a> {
    /// Template index.
    pub template: usize,
    /// Exchange.
    pub exchange: &'a str,
    /// Routing key.
    pub routing_key: &'a str,
    /// AMQP body.
    pub body: &'a [u8],
}

/// Fills templates into bodies, reusing its buffers.
#[derive(Debug)]
pub struct Generator {
    templates: Vec<Template>,
    routing_keys: Vec<String>,
    natural: Vec<usize>,
    mix: Mix,
    size: Size,
    run: RunKey,
    rng: SmallRng,
    inner: String,
    body: Vec<u8>,
}

impl Generator {
    /// A generator for one run.
    pub fn new(templates: Vec<Template>, mix: Mix, size: Size, run: RunKey) -> Self {
        let routing_keys = templates.iter().map(Template::routing_key).collect();
        let mut g = Self {
            natural: vec![0; templates.len()],
            templates,
            routing_keys,
            mix,
            size,
            run,
            rng: SmallRng::seed_from_u64(0x5eed),
            inner: String::new(),
            body: Vec::new(),
        };
        let now = chrono::Utc::now();
        for t in 0..g.templates.len() {
            g.fill(t, Stamp { seq: 0, sent_us: 0 }, now, 0);
            g.natural[t] = g.body.len();
        }
        g
    }

    /// The templates in use.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// The mix in use.
    pub fn mix(&self) -> &Mix {
        &self.mix
    }

    /// Builds message `seq`, stamped as sent at `sent_us` (µs since the run started) and `now`.
    pub fn next(&mut self, seq: u64, sent_us: u64, now: chrono::DateTime<chrono::Utc>) -> Message<'_> {
        let t = self.mix.template_of(seq);
        let target = match self.size {
            Size::Natural => 0,
            Size::Fixed(n) => n,
            Size::Range(a, b) => a + (self.mix.size_draw(seq) % (b - a + 1) as u64) as usize,
        };
        let pad = target.saturating_sub(self.natural[t] + PAD_OVERHEAD);
        self.fill(t, Stamp { seq, sent_us }, now, pad);
        Message {
            template: t,
            exchange: &self.templates[t].exchange,
            routing_key: &self.routing_keys[t],
            body: &self.body,
        }
    }

    fn fill(&mut self, t: usize, stamp: Stamp, now: chrono::DateTime<chrono::Utc>, pad: usize) {
        let key = self.run.encode(stamp);
        let key = std::str::from_utf8(&key).unwrap_or_default();
        let ts = wire::timestamp(now);
        self.inner.clear();
        for seg in &self.templates[t].segments {
            match seg {
                Segment::Lit(s) => self.inner.push_str(s),
                Segment::Key => self.inner.push_str(key),
                Segment::Unique => {
                    let u = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
                    self.inner
                        .push_str(u.simple().encode_lower(&mut uuid::Uuid::encode_buffer()));
                }
                Segment::Uuid => {
                    let u = uuid::Builder::from_random_bytes(self.rng.random()).into_uuid();
                    self.inner
                        .push_str(u.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
                }
                Segment::Timestamp => self.inner.push_str(&ts),
                Segment::Pad if pad > 0 => {
                    self.inner.push_str(r#", "notes": ""#);
                    let mut left = pad;
                    while left > 0 {
                        let n = left.min(PAD_TEXT.len());
                        self.inner
                            .push_str(std::str::from_utf8(&PAD_TEXT[..n]).unwrap_or_default());
                        left -= n;
                    }
                    self.inner.push('"');
                }
                Segment::Pad => {}
            }
        }
        self.body.clear();
        wire::envelope(&self.inner, &mut self.body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template;
    use serde_json::Value;

    fn generator(mix: &str, size: Size) -> Generator {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse(mix, &t, 42).expect("mix");
        Generator::new(t, mix, size, RunKey::new(0xabcd_0123))
    }

    fn decode(body: &[u8]) -> (Value, Value) {
        let outer: Value = serde_json::from_slice(body).expect("outer json");
        let obj = outer.as_object().expect("object");
        assert_eq!(obj.len(), 2, "envelope has exactly two keys");
        assert_eq!(outer["oslo.version"], "2.0");
        let inner: Value =
            serde_json::from_str(outer["oslo.message"].as_str().expect("oslo.message is a string"))
                .expect("inner json");
        (outer, inner)
    }

    #[test]
    fn bodies_decode_as_oslo_2_with_the_notifier_keys() {
        let mut g = generator(DEFAULT_MIX, Size::Range(300, 4000));
        let rk = RunKey::new(0xabcd_0123);
        for seq in 0..500 {
            let now = chrono::Utc::now();
            let m = g.next(seq, seq * 10, now);
            assert!(m.body.is_ascii());
            let (tname, exchange, rkey) = (m.template, m.exchange.to_owned(), m.routing_key.to_owned());
            let body = m.body.to_vec();
            let (_, inner) = decode(&body);
            for k in [
                "message_id",
                "publisher_id",
                "event_type",
                "priority",
                "payload",
                "timestamp",
            ] {
                assert!(inner.get(k).is_some(), "missing {k}");
            }
            let uid = inner["_unique_id"].as_str().expect("_unique_id");
            assert!(uid.len() == 32 && uid.chars().all(|c| c.is_ascii_hexdigit()));
            let t = &g.templates()[tname];
            assert_eq!(inner["priority"], t.priority.to_uppercase());
            assert_eq!(rkey, format!("notifications.{}", t.priority));
            assert_eq!(exchange, t.exchange);
            let mid = inner["message_id"].as_str().expect("message_id");
            assert_eq!(
                rk.find(mid),
                Some(Stamp {
                    seq,
                    sent_us: seq * 10
                })
            );
            let ts = inner["timestamp"].as_str().expect("timestamp");
            assert!(
                chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S%.f").is_ok(),
                "{ts}"
            );
        }
    }

    #[test]
    fn services_with_a_context_send_context_keys_and_keystone_does_not() {
        let mut g = generator("nova-create-end", Size::Natural);
        let (_, inner) = decode(g.next(1, 0, chrono::Utc::now()).body);
        assert!(inner["_context_request_id"]
            .as_str()
            .is_some_and(|s| s.starts_with("req-")));
        assert!(inner.get("_context_roles").is_some());
        let mut g = generator("keystone-authenticate-success", Size::Natural);
        let (_, inner) = decode(g.next(1, 0, chrono::Utc::now()).body);
        assert!(inner
            .as_object()
            .expect("obj")
            .keys()
            .all(|k| !k.starts_with("_context_")));
    }

    #[test]
    fn the_key_reaches_the_ids_ceilometer_copies_into_resource_id() {
        let rk = RunKey::new(0xabcd_0123);
        let mut g = generator("nova-create-end,cinder-volume-create-end,polling", Size::Natural);
        for seq in 0..50 {
            let m = g.next(seq, 7, chrono::Utc::now());
            let (t, body) = (m.template, m.body.to_vec());
            let name = g.templates()[t].name.clone();
            let (_, inner) = decode(&body);
            let p = &inner["payload"];
            let ids: Vec<&str> = match name.as_str() {
                "nova-create-end" => vec![p["instance_id"].as_str().expect("instance_id")],
                "cinder-volume-create-end" => vec![p["volume_id"].as_str().expect("volume_id")],
                _ => p["samples"]
                    .as_array()
                    .expect("samples")
                    .iter()
                    .map(|s| s["resource_id"].as_str().expect("resource_id"))
                    .collect(),
            };
            for id in ids {
                assert_eq!(rk.find(id).map(|s| s.seq), Some(seq), "{name}: {id}");
            }
        }
    }

    #[test]
    fn sizes_follow_the_target_and_nova_is_about_three_kilobytes() {
        let mut g = generator("nova", Size::Natural);
        let n = g.next(3, 0, chrono::Utc::now()).body.len();
        assert!((2400..3400).contains(&n), "nova natural size {n}");
        let mut g = generator(DEFAULT_MIX, Size::Fixed(4000));
        for seq in 0..100 {
            let len = g.next(seq, 0, chrono::Utc::now()).body.len();
            assert!((3990..4010).contains(&len), "len {len}");
        }
    }

    #[test]
    fn the_mix_follows_its_weights_and_is_a_function_of_seq() {
        let t = template::builtin().expect("templates");
        let mix = Mix::parse("nova=3,cinder=1", &t, 9).expect("mix");
        let nova = (0..20_000u64)
            .filter(|&s| t[mix.template_of(s)].family == "nova")
            .count();
        assert!((14_000..16_000).contains(&nova), "nova share {nova}");
        assert!((0..20_000u64).all(|s| matches!(t[mix.template_of(s)].family.as_str(), "nova" | "cinder")));
        let again = Mix::parse("nova=3,cinder=1", &t, 9).expect("mix");
        assert!((0..1000).all(|s| mix.template_of(s) == again.template_of(s)));
        assert!(Mix::parse("nosuch=1", &t, 0).is_err());
    }
}
