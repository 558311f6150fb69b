//! Ceilometer's message signature (`ceilometer.publisher.utils.compute_signature`): an
//! HMAC-SHA256, keyed with `[publisher] telemetry_secret`, over the message's key/value pairs.
//!
//! The pairs are those of `ceilometer.utils.recursive_keypairs`: keys sorted at every level,
//! nested dicts flattened into `parent:child` names (an empty dict gives no pair), a top-level
//! `message_signature` skipped. Each pair feeds the UTF-8 of the name and of `str(value)`; a
//! list's `str()` is taken after `decode_unicode`, which turns every string inside it into a
//! UTF-8 `bytes` object and every dict inside it into a key-sorted one (`[b'a', {b'k': 1}]`).
//! An empty secret signs nothing: the signature is `""`.
//!
//! The pairs are written as they are walked into one reused text buffer, hashed at the end in
//! one go: no flattened map, no joined name strings. A [`Signer`] keeps the keyed HMAC state
//! (cloned per message instead of keyed again) and that buffer; [`Signer::start`] opens the
//! same feed to callers whose messages have a fixed shape (samples here, events elsewhere).
//! Verifying incoming signatures is not done here: Ceilometer's own telemetry endpoint does not
//! verify them either.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::json_write::{JsonView, View};
use super::py::repr::{write_bytes_repr, write_static_repr};
use super::{Metadata, OwnedValue, Sample};

type HmacSha256 = Hmac<Sha256>;

/// The key every message may carry and that is never part of what is signed.
const SIGNATURE_KEY: &str = "message_signature";

/// A hex HMAC-SHA256 digest, or the empty signature of an empty secret. `Copy` and on the stack,
/// so signing a sample allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature {
    hex: [u8; 64],
    len: u8,
}

impl Signature {
    /// What Ceilometer signs with an empty secret.
    pub const EMPTY: Signature = Signature { hex: [0; 64], len: 0 };

    pub fn as_str(&self) -> &str {
        // Only ever filled by `hex::encode_to_slice`, which writes ASCII hex digits.
        std::str::from_utf8(&self.hex[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({:?})", self.as_str())
    }
}

/// Signs messages with one secret, reusing its keyed state and scratch buffer.
#[derive(Clone)]
pub struct Signer {
    /// `None` for an empty secret, which Ceilometer treats as "do not sign".
    keyed: Option<HmacSha256>,
    scratch: Vec<u8>,
    /// The `resource_metadata` [`Signer::sign_sample`] flattened last, and its pairs' text: the
    /// samples one notification makes share one metadata, and a batch keeps them together.
    /// Held, so its address is not reused by another metadata while it is remembered.
    last_metadata: Option<Metadata>,
    last_metadata_pairs: Vec<u8>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("Signer")
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        let keyed = if secret.is_empty() {
            None
        } else {
            // HMAC takes keys of any length; this cannot fail.
            HmacSha256::new_from_slice(secret).ok()
        };
        Signer {
            keyed,
            scratch: Vec::new(),
            last_metadata: None,
            last_metadata_pairs: Vec::new(),
        }
    }

    /// False when the secret is empty and every signature is `""`.
    pub fn is_enabled(&self) -> bool {
        self.keyed.is_some()
    }

    /// `compute_signature(message, secret)` for any JSON object. A value that is not an object
    /// has no key/value pairs and signs like `{}` (Python would raise on it).
    pub fn sign<V: JsonView>(&mut self, message: &V) -> Signature {
        let Some(mut feed) = self.start() else {
            return Signature::EMPTY;
        };
        if let View::Object(len, entries) = message.view() {
            feed.object(None, len, entries);
        }
        feed.finish()
    }

    /// The signature `meter_message_from_counter` puts on `sample`, without building the
    /// message: its keys are fixed, so their sorted order is written out here once.
    pub fn sign_sample(&mut self, sample: &Sample) -> Signature {
        // The feed borrows only the key and the scratch: the metadata memo stays at hand.
        let Some(mut feed) = open_feed(&self.keyed, &mut self.scratch) else {
            return Signature::EMPTY;
        };
        feed.str_pair("counter_name", &sample.name);
        feed.str_pair("counter_type", &sample.sample_type);
        feed.str_pair("counter_unit", &sample.unit);
        feed.value_pair("counter_volume", &sample.volume);
        feed.str_pair("message_id", &sample.id);
        feed.value_pair("monotonic_time", &sample.monotonic_time);
        feed.value_pair("project_id", &sample.project_id);
        feed.value_pair("project_name", &sample.project_name);
        feed.value_pair("resource_id", &sample.resource_id);
        let metadata = &sample.resource_metadata;
        if self
            .last_metadata
            .as_ref()
            .is_some_and(|last| Arc::ptr_eq(last, metadata))
        {
            feed.text.extend_from_slice(&self.last_metadata_pairs);
        } else {
            let start = feed.text.len();
            feed.value_pair("resource_metadata", &**metadata);
            self.last_metadata_pairs.clear();
            self.last_metadata_pairs.extend_from_slice(&feed.text[start..]);
            self.last_metadata = Some(metadata.clone());
        }
        feed.str_pair("source", &sample.source);
        feed.value_pair("timestamp", &sample.timestamp);
        feed.value_pair("user_id", &sample.user_id);
        feed.value_pair("user_name", &sample.user_name);
        feed.finish()
    }

    /// Starts a signature whose top-level pairs the caller feeds itself, **in sorted key
    /// order**: the fast path for a message with a fixed shape (see [`Signer::sign_sample`]).
    /// `None` when the secret is empty, i.e. the signature is [`Signature::EMPTY`].
    pub fn start(&mut self) -> Option<PairFeed<'_>> {
        open_feed(&self.keyed, &mut self.scratch)
    }
}

/// A feed writing into `scratch` (emptied), keyed with a copy of `keyed`; `None` without a key.
fn open_feed<'s>(keyed: &Option<HmacSha256>, scratch: &'s mut Vec<u8>) -> Option<PairFeed<'s>> {
    let mac = keyed.clone()?;
    scratch.clear();
    Some(PairFeed { mac, text: scratch })
}

/// `compute_signature(message, secret)`; `""` for an empty secret.
pub fn compute_signature(secret: &[u8], message: &OwnedValue) -> String {
    Signer::new(secret).sign(message).as_str().to_owned()
}

/// The `message_signature` of `meter_message_from_counter(sample, secret)`.
pub fn sample_signature(secret: &[u8], sample: &Sample) -> String {
    Signer::new(secret).sign_sample(sample).as_str().to_owned()
}

fn finish(mac: HmacSha256) -> Signature {
    let digest = mac.finalize().into_bytes();
    let mut sig = Signature {
        hex: [0; 64],
        len: 64,
    };
    if hex::encode_to_slice(digest, &mut sig.hex).is_err() {
        // 32 digest bytes always fit 64 hex digits.
        return Signature::EMPTY;
    }
    sig
}

/// A flattened key name, as a chain of stack frames instead of a joined string.
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    key: &'p str,
}

/// One message being signed: the `recursive_keypairs` pairs go in, in order, and
/// [`PairFeed::finish`] gives the signature.
///
/// The pairs are gathered as one text and hashed with one `update`: fed piece by piece (a key,
/// a short value, a `:`), SHA-256 spent more time copying fragments into its block buffer than
/// hashing them.
pub struct PairFeed<'s> {
    mac: HmacSha256,
    text: &'s mut Vec<u8>,
}

impl PairFeed<'_> {
    /// A top-level key with a string value.
    pub fn str_pair(&mut self, key: &str, value: &str) {
        self.text.extend_from_slice(key.as_bytes());
        self.text.extend_from_slice(value.as_bytes());
    }

    /// A top-level key with any JSON value: a dict is flattened into `key:sub` pairs (in its own
    /// sorted order), a list hashed as `str(decode_unicode(list))`, anything else as `str()`.
    /// A top-level `message_signature` is the caller's to leave out.
    pub fn value_pair<V: JsonView>(&mut self, key: &str, value: &V) {
        self.pair(&Path { parent: None, key }, value);
    }

    /// A top-level key whose `str()` the caller already wrote (e.g. with
    /// [`write_decoded_repr`] for a list it never materialized).
    pub fn text_pair(&mut self, key: &str, value_text: &[u8]) {
        self.text.extend_from_slice(key.as_bytes());
        self.text.extend_from_slice(value_text);
    }

    pub fn finish(mut self) -> Signature {
        self.mac.update(self.text);
        finish(self.mac)
    }

    fn name(&mut self, path: &Path<'_>) {
        if let Some(parent) = path.parent {
            self.name(parent);
            self.text.push(b':');
        }
        self.text.extend_from_slice(path.key.as_bytes());
    }

    /// One `recursive_keypairs` entry: a dict recurses, anything else is one `name, str(value)`.
    fn pair<V: JsonView>(&mut self, path: &Path<'_>, value: &V) {
        match value.view() {
            View::Object(len, entries) => self.object(Some(path), len, entries),
            View::Str(s) => {
                self.name(path);
                self.text.extend_from_slice(s.as_bytes());
            }
            View::Static(node) => {
                self.name(path);
                write_static_repr(self.text, node);
            }
            View::Array(items) => {
                self.name(path);
                write_decoded_list(self.text, items);
            }
        }
    }

    fn object<'v, V: JsonView + 'v>(
        &mut self,
        parent: Option<&Path<'_>>,
        len: usize,
        entries: impl Iterator<Item = (&'v str, &'v V)>,
    ) {
        with_sorted(len, entries, |sorted| {
            for &(key, value) in sorted {
                // Python compares the flattened name, so only a top-level key whose value is
                // not a dict (a dict yields `message_signature:...` names) is skipped.
                if parent.is_none() && key == SIGNATURE_KEY && !matches!(value.view(), View::Object(..)) {
                    continue;
                }
                self.pair(&Path { parent, key }, value);
            }
        });
    }
}

/// `str(decode_unicode(list))`: strings as UTF-8 `bytes` reprs, dicts with sorted keys, the rest
/// as their plain repr.
fn write_decoded_list<V: JsonView>(out: &mut Vec<u8>, items: &[V]) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        write_decoded_repr(out, item);
    }
    out.push(b']');
}

/// `str(decode_unicode(value))`, the text a signature hashes for a list: strings become UTF-8
/// `bytes` reprs (`b'\xc3\xbc'`), dicts get sorted keys (`{b'a': 1}`), lists recurse, the rest
/// is its plain repr. Public for callers that feed a [`PairFeed`] with lists they never built.
pub fn write_decoded_repr<V: JsonView>(out: &mut Vec<u8>, value: &V) {
    match value.view() {
        View::Static(node) => write_static_repr(out, node),
        View::Str(s) => write_bytes_repr(out, s.as_bytes()),
        View::Array(items) => write_decoded_list(out, items),
        View::Object(len, entries) => {
            out.push(b'{');
            with_sorted(len, entries, |sorted| {
                for (i, &(key, item)) in sorted.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b", ");
                    }
                    write_bytes_repr(out, key.as_bytes());
                    out.extend_from_slice(b": ");
                    write_decoded_repr(out, item);
                }
            });
            out.push(b'}');
        }
    }
}

/// Objects up to this size are sorted in a stack array; larger ones in a `Vec`. simd-json keeps
/// objects of up to 32 keys in a plain vector too, so this covers what is common.
const INLINE_SORT: usize = 32;

/// Calls `f` with the entries sorted by key (Python's `sorted(d.items())`: keys are unique, and
/// UTF-8 byte order is code point order). Does nothing for an empty object.
fn with_sorted<'v, V: 'v>(
    len: usize,
    mut entries: impl Iterator<Item = (&'v str, &'v V)>,
    f: impl FnOnce(&[(&'v str, &'v V)]),
) {
    let Some(first) = entries.next() else {
        return;
    };
    if len <= INLINE_SORT {
        let mut inline = [first; INLINE_SORT];
        let mut n = 1;
        for entry in entries {
            if n == INLINE_SORT {
                break;
            }
            inline[n] = entry;
            n += 1;
        }
        let sorted = &mut inline[..n];
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        f(sorted);
    } else {
        let mut all = Vec::with_capacity(len);
        all.push(first);
        all.extend(entries);
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        f(&all);
    }
}

#[cfg(test)]
pub(crate) mod tests {

    use simd_json::prelude::*;

    use super::*;

    pub(crate) fn reference_text(name: &str) -> String {
        crate::reference::read(name)
    }

    pub(crate) fn corpus_rows() -> Vec<OwnedValue> {
        reference_text("corpus/signatures.jsonl")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| simd_json::to_owned_value(&mut l.as_bytes().to_vec()).unwrap())
            .collect()
    }

    fn parse(text: &str) -> OwnedValue {
        simd_json::to_owned_value(&mut text.as_bytes().to_vec()).unwrap()
    }

    /// The bytes fed to the HMAC, rebuilt from the corpus's `hmac_input_pairs`.
    fn hmac_of_pairs(secret: &[u8], pairs: &OwnedValue) -> String {
        let mut mac = HmacSha256::new_from_slice(secret).unwrap();
        for pair in pairs.as_array().unwrap() {
            for part in pair.as_array().unwrap() {
                mac.update(part.as_str().unwrap().as_bytes());
            }
        }
        finish(mac).as_str().to_owned()
    }

    #[test]
    fn corpus_pairs_are_the_hmac_input() {
        // Guards the reading of the corpus itself: its pairs hash to its signatures.
        for row in corpus_rows() {
            let secret = row.get_str("secret").unwrap();
            if secret.is_empty() {
                continue;
            }
            let pairs = row.get("hmac_input_pairs").unwrap();
            assert_eq!(
                hmac_of_pairs(secret.as_bytes(), pairs),
                row.get_str("signature").unwrap()
            );
        }
    }

    #[test]
    fn decoded_list_repr_matches_the_corpus_pairs() {
        let mut checked = 0;
        for row in corpus_rows() {
            let id = row.get_str("id").unwrap();
            let message = row.get("output").or_else(|| row.get("input")).unwrap();
            for pair in row.get("hmac_input_pairs").unwrap().as_array().unwrap() {
                let (name, text) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                let value = name.split(':').try_fold(message, |v, key| v.get(key));
                if let Some(items) = value.and_then(|v| v.as_array()) {
                    let mut out = Vec::new();
                    write_decoded_list(&mut out, items);
                    assert_eq!(String::from_utf8(out).unwrap(), text, "{id}: {name}");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 8, "only {checked} list values found in the corpus");
    }

    #[test]
    fn pair_feed_signs_events_without_building_the_message() {
        let mut signer = Signer::new(b"s3cret");
        let mut rows = 0;
        for row in corpus_rows()
            .iter()
            .filter(|r| r.get_str("kind") == Some("message_from_event"))
        {
            let event = row.get("output").unwrap();
            let mut feed = signer.start().unwrap();
            // Sorted: event_type, generated, message_id, raw, traits.
            for key in ["event_type", "generated", "message_id"] {
                feed.str_pair(key, event.get_str(key).unwrap());
            }
            feed.value_pair("raw", event.get("raw").unwrap());
            let mut traits = Vec::new();
            write_decoded_repr(&mut traits, event.get("traits").unwrap());
            feed.text_pair("traits", &traits);
            assert_eq!(feed.finish().as_str(), row.get_str("signature").unwrap());
            rows += 1;
        }
        assert_eq!(rows, 3);
        assert!(Signer::new(b"").start().is_none());
    }

    #[test]
    fn empty_secret_signs_nothing() {
        let message = parse(r#"{"a": 1}"#);
        assert_eq!(compute_signature(b"", &message), "");
        assert!(!Signer::new(b"").is_enabled());
        assert_eq!(Signature::EMPTY.as_str(), "");
    }

    #[test]
    fn signature_ignores_key_order_and_top_level_signature_only() {
        let a = compute_signature(
            b"k",
            &parse(r#"{"b": {"y": 1, "x": [{"q": 1, "p": "s"}]}, "a": 2}"#),
        );
        let b = compute_signature(
            b"k",
            &parse(r#"{"a": 2, "b": {"x": [{"p": "s", "q": 1}], "y": 1}}"#),
        );
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let with_sig =
            parse(r#"{"a": 2, "message_signature": "zz", "b": {"x": [{"p": "s", "q": 1}], "y": 1}}"#);
        assert_eq!(compute_signature(b"k", &with_sig), a);
        // A nested message_signature is an ordinary key: its name is `b:message_signature`.
        let nested = parse(r#"{"a": 2, "b": {"message_signature": "zz"}}"#);
        let plain = parse(r#"{"a": 2, "b": {}}"#);
        assert_ne!(compute_signature(b"k", &nested), compute_signature(b"k", &plain));
    }

    #[test]
    fn large_objects_sort_the_same_as_small_ones() {
        let mut text = String::from("{");
        for i in (0..50).rev() {
            text.push_str(&format!("\"k{i:02}\": [\"v{i}\", {{\"z\": {i}, \"a\": null}}],"));
        }
        text.pop();
        text.push('}');
        let mut mac = HmacSha256::new_from_slice(b"k").unwrap();
        for i in 0..50 {
            mac.update(format!("k{i:02}").as_bytes());
            mac.update(format!("[b'v{i}', {{b'a': None, b'z': {i}}}]").as_bytes());
        }
        assert_eq!(compute_signature(b"k", &parse(&text)), finish(mac).as_str());
    }

    #[test]
    fn borrowed_values_sign_like_owned_ones() {
        let text = r#"{"x": {"y": {"z": [{"k": "v"}]}}, "n": 1.5e-7}"#;
        let mut bytes = text.as_bytes().to_vec();
        let borrowed = simd_json::to_borrowed_value(&mut bytes).unwrap();
        assert_eq!(
            Signer::new(b"s3cret").sign(&borrowed).as_str(),
            compute_signature(b"s3cret", &parse(text))
        );
    }
}
