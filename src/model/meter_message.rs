//! A sample in the wire shape of Ceilometer's `meter_message_from_counter(sample, secret)`:
//! what the polling agent sends to the notification agent (telemetry IPC) and what the
//! `notifier://` publisher sends on `metering.sample`.
//!
//! The keys, in the order Python builds the dict (and so writes it): `source, counter_name,
//! counter_type, counter_unit, counter_volume, user_id, user_name, project_id, project_name,
//! resource_id, timestamp, resource_metadata, message_id, monotonic_time, message_signature`.
//! The JSON is written straight into the caller's buffer, `json.dumps`-style, and signed with a
//! [`Signer`] without building the dict. The envelope around a batch is
//! [`super::envelope::encode_v2`]'s job, not this module's.

use std::ops::Range;

use simd_json::StaticNode;

use super::json_write::{write_str, write_value, JsonSink};
use super::output_size::Measure;
use super::signature::Signer;
use super::{OwnedValue, Sample};

/// Writes one signed meter message as a JSON object. Convenience for one-off use: a publisher
/// keeps a [`Signer`] and calls [`write_meter_message_signed`].
pub fn write_meter_message(out: &mut Vec<u8>, sample: &Sample, secret: &[u8]) {
    write_meter_message_signed(out, sample, &mut Signer::new(secret));
}

/// Writes one meter message, signed by `signer`, as a JSON object.
pub fn write_meter_message_signed(out: &mut impl JsonSink, sample: &Sample, signer: &mut Signer) {
    write_meter_message_in_list(out, sample, signer, &mut None);
}

/// Where in the output a list wrote the JSON of a `resource_metadata` (identified by address:
/// the list's samples are borrowed while it is written, so no address is reused meanwhile).
type WrittenMetadata = Option<(*const OwnedValue, Range<usize>)>;

/// One meter message of a list: a `resource_metadata` that the previous message carried too
/// (the samples one notification makes share one) is copied from where it was written instead of
/// walked and escaped again.
fn write_meter_message_in_list(
    out: &mut impl JsonSink,
    sample: &Sample,
    signer: &mut Signer,
    last: &mut WrittenMetadata,
) {
    let signature = signer.sign_sample(sample);
    out.extend_from_slice(b"{\"source\": ");
    write_str(out, &sample.source);
    out.extend_from_slice(b", \"counter_name\": ");
    write_str(out, &sample.name);
    out.extend_from_slice(b", \"counter_type\": ");
    write_str(out, &sample.sample_type);
    out.extend_from_slice(b", \"counter_unit\": ");
    write_str(out, &sample.unit);
    out.extend_from_slice(b", \"counter_volume\": ");
    write_value(out, &sample.volume);
    out.extend_from_slice(b", \"user_id\": ");
    write_value(out, &sample.user_id);
    out.extend_from_slice(b", \"user_name\": ");
    write_value(out, &sample.user_name);
    out.extend_from_slice(b", \"project_id\": ");
    write_value(out, &sample.project_id);
    out.extend_from_slice(b", \"project_name\": ");
    write_value(out, &sample.project_name);
    out.extend_from_slice(b", \"resource_id\": ");
    write_value(out, &sample.resource_id);
    out.extend_from_slice(b", \"timestamp\": ");
    write_value(out, &sample.timestamp);
    out.extend_from_slice(b", \"resource_metadata\": ");
    let metadata: *const OwnedValue = &*sample.resource_metadata;
    match last {
        Some((written, at)) if *written == metadata => out.buffer().extend_from_within(at.clone()),
        _ => {
            let start = out.buffer().len();
            write_value(out, &*sample.resource_metadata);
            *last = Some((metadata, start..out.buffer().len()));
        }
    }
    out.extend_from_slice(b", \"message_id\": ");
    write_str(out, &sample.id);
    out.extend_from_slice(b", \"monotonic_time\": ");
    write_value(out, &sample.monotonic_time);
    out.extend_from_slice(b", \"message_signature\": ");
    write_str(out, signature.as_str());
    out.push(b'}');
}

/// Writes the samples as a JSON list of signed meter messages: the `notifier://` publisher's
/// payload (the telemetry IPC payload wraps the same list as `{"samples": [...]}`).
pub fn write_meter_message_list<'s>(
    out: &mut impl JsonSink,
    samples: impl IntoIterator<Item = &'s Sample>,
    signer: &mut Signer,
) {
    let mut last = None;
    super::json_write::write_list(out, samples, |out, sample| {
        write_meter_message_in_list(out, sample, signer, &mut last)
    });
}

/// What a meter message writes besides its values: keys, punctuation and, in a list, the `, `
/// before it.
const MESSAGE_SYNTAX_LEN: usize = 264;
/// A `message_signature`: 64 hex digits, quoted.
const SIGNATURE_LEN: usize = 66;

/// The bytes [`write_meter_message_list`] writes for `sample`, counted without writing it
/// ([`super::output_size`]), given the bytes of its `resource_metadata`: the samples of a
/// notification share one, counted once.
pub fn message_len(sample: &Sample, metadata_len: usize) -> usize {
    message_len_by(sample, metadata_len, Measure::Exact)
}

/// [`message_len`], its texts counted by `measure` (`metadata_len` too should be).
pub fn message_len_by(sample: &Sample, metadata_len: usize, measure: Measure) -> usize {
    let texts = [
        &*sample.source,
        &*sample.name,
        &*sample.sample_type,
        &*sample.unit,
        &*sample.id,
    ];
    let values = [
        &sample.volume,
        &sample.user_id,
        &sample.user_name,
        &sample.project_id,
        &sample.project_name,
        &sample.resource_id,
        &sample.timestamp,
        &sample.monotonic_time,
    ];
    MESSAGE_SYNTAX_LEN
        + SIGNATURE_LEN
        + metadata_len
        + texts.into_iter().map(|t| measure.str_len(t)).sum::<usize>()
        + values.into_iter().map(|v| measure.value_len(v)).sum::<usize>()
}

/// The meter message as a value (for `ceilo convert` output and tests; the hot path writes).
pub fn meter_message_value(sample: &Sample, secret: &[u8]) -> OwnedValue {
    meter_message_value_from(sample, secret, None)
}

/// `meter_message_from_counter(sample, secret, publisher_id)` as a value: with a
/// `publisher_id` (which Ceilometer's `tcp://` publisher gives), that key comes after
/// `monotonic_time` and is signed too.
pub fn meter_message_value_from(sample: &Sample, secret: &[u8], publisher_id: Option<&str>) -> OwnedValue {
    let text = |s: &str| OwnedValue::String(s.to_owned());
    let mut msg = simd_json::owned::Object::with_capacity_and_hasher(16, Default::default());
    msg.insert("source".into(), text(&sample.source));
    msg.insert("counter_name".into(), text(&sample.name));
    msg.insert("counter_type".into(), text(&sample.sample_type));
    msg.insert("counter_unit".into(), text(&sample.unit));
    msg.insert("counter_volume".into(), sample.volume.clone());
    msg.insert("user_id".into(), sample.user_id.clone());
    msg.insert("user_name".into(), sample.user_name.clone());
    msg.insert("project_id".into(), sample.project_id.clone());
    msg.insert("project_name".into(), sample.project_name.clone());
    msg.insert("resource_id".into(), sample.resource_id.clone());
    msg.insert("timestamp".into(), sample.timestamp.clone());
    msg.insert("resource_metadata".into(), (*sample.resource_metadata).clone());
    msg.insert("message_id".into(), text(&sample.id));
    msg.insert("monotonic_time".into(), sample.monotonic_time.clone());
    let signature = match publisher_id {
        None => Signer::new(secret).sign_sample(sample).as_str().to_owned(),
        Some(id) => {
            msg.insert("publisher_id".into(), text(id));
            let msg = OwnedValue::from(msg.clone());
            super::signature::compute_signature(secret, &msg)
        }
    };
    msg.insert("message_signature".into(), OwnedValue::String(signature));
    OwnedValue::from(msg)
}

/// `null`, for tests and callers building samples by hand.
pub const NULL: OwnedValue = OwnedValue::Static(StaticNode::Null);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use simd_json::prelude::*;

    use super::*;
    use crate::model::sample::sample_from_dict;
    use crate::model::signature::{compute_signature, sample_signature, tests::corpus_rows};

    fn dumps(value: &OwnedValue) -> String {
        let mut out = Vec::new();
        write_value(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_signature_corpus_row_matches_ceilometer() {
        let rows = corpus_rows();
        assert_eq!(rows.len(), 33, "signatures.jsonl should have 33 rows");
        let mut checked = 0;
        for row in &rows {
            let id = row.get_str("id").unwrap();
            let secret = row.get_str("secret").unwrap().as_bytes();
            let want = row.get_str("signature").unwrap();
            let input = row.get("input").unwrap();
            match row.get_str("kind").unwrap() {
                "meter_message_from_counter" => {
                    let sample = sample_from_dict(input);
                    assert_eq!(sample_signature(secret, &sample), want, "{id}: fast path");
                    let mut out = Vec::new();
                    write_meter_message(&mut out, &sample, secret);
                    let written = String::from_utf8(out).unwrap();
                    // The written bytes are what Python's json.dumps makes of the message.
                    let value = meter_message_value(&sample, secret);
                    assert_eq!(written, dumps(&value), "{id}: writer and value disagree");
                    let parsed: OwnedValue =
                        simd_json::to_owned_value(&mut written.clone().into_bytes()).unwrap();
                    assert_eq!(compute_signature(secret, &parsed), want, "{id}: generic path");
                    if let Some(output) = row.get("output") {
                        assert_eq!(&parsed, output, "{id}: message");
                        assert_eq!(written, dumps(output), "{id}: bytes and key order");
                    }
                }
                "compute_signature" => {
                    assert_eq!(compute_signature(secret, input), want, "{id}");
                }
                "message_from_event" => {
                    let output = row.get("output").unwrap();
                    assert_eq!(compute_signature(secret, output), want, "{id}");
                    assert_eq!(output.get_str("message_signature"), Some(want), "{id}");
                }
                other => panic!("{id}: unknown kind {other}"),
            }
            checked += 1;
        }
        assert_eq!(checked, 33);
    }

    #[test]
    fn shared_metadata_is_written_and_signed_as_if_each_sample_had_its_own() {
        let rows = corpus_rows();
        let base: Vec<Sample> = rows
            .iter()
            .filter(|r| r.get_str("kind") == Some("meter_message_from_counter"))
            .map(|r| sample_from_dict(r.get("input").unwrap()))
            .filter(|s| s.resource_metadata.as_object().is_some_and(|o| !o.is_empty()))
            .take(2)
            .collect();
        assert_eq!(base.len(), 2, "two corpus samples with metadata");
        // a, a, b, a: the first two share one metadata, the last repeats one written earlier.
        let with_id = |s: &Sample, id: &str| Sample {
            id: id.into(),
            ..s.clone()
        };
        let shared = vec![
            with_id(&base[0], "1"),
            with_id(&base[0], "2"),
            with_id(&base[1], "3"),
            with_id(&base[0], "4"),
        ];
        assert!(Arc::ptr_eq(
            &shared[0].resource_metadata,
            &shared[1].resource_metadata
        ));
        let own: Vec<Sample> = shared
            .iter()
            .map(|s| Sample {
                resource_metadata: Arc::new((*s.resource_metadata).clone()),
                ..s.clone()
            })
            .collect();
        let write = |samples: &[Sample], quoted: bool| {
            let mut signer = Signer::new(b"s3cret");
            let mut out = Vec::new();
            if quoted {
                write_meter_message_list(
                    &mut crate::model::json_write::Quoted(&mut out),
                    samples,
                    &mut signer,
                );
            } else {
                write_meter_message_list(&mut out, samples, &mut signer);
            }
            String::from_utf8(out).unwrap()
        };
        for quoted in [false, true] {
            assert_eq!(write(&shared, quoted), write(&own, quoted), "quoted: {quoted}");
        }
        let written = write(&shared, false);
        let parsed: OwnedValue = simd_json::to_owned_value(&mut written.into_bytes()).unwrap();
        for (message, sample) in parsed.as_array().unwrap().iter().zip(&own) {
            assert_eq!(message, &meter_message_value(sample, b"s3cret"));
        }
    }

    fn has_float(v: &OwnedValue) -> bool {
        match v {
            OwnedValue::Static(StaticNode::F64(_)) => true,
            OwnedValue::Array(a) => a.iter().any(has_float),
            OwnedValue::Object(o) => o.values().any(has_float),
            _ => false,
        }
    }

    #[test]
    fn message_len_counts_what_the_list_writer_writes() {
        use crate::model::output_size::value_len;
        let rows = corpus_rows();
        let samples: Vec<Sample> = rows
            .iter()
            .filter(|r| r.get_str("kind") == Some("meter_message_from_counter"))
            .map(|r| sample_from_dict(r.get("input").unwrap()))
            .collect();
        assert!(samples.len() > 10);
        let mut signer = Signer::new(b"s3cret");
        let mut exact = 0;
        for sample in &samples {
            let mut out = Vec::new();
            write_meter_message_list(&mut out, [sample, sample], &mut signer);
            // `[`, `]` and two messages, the second with the `, ` before it: each message
            // and a separator's worth is half of it.
            let written = out.len() / 2;
            let counted = message_len(sample, value_len(&*sample.resource_metadata));
            let values = [
                &sample.volume,
                &sample.user_id,
                &sample.project_id,
                &sample.resource_id,
                &sample.timestamp,
                &sample.monotonic_time,
                &*sample.resource_metadata,
            ];
            if values.into_iter().any(has_float) {
                assert!(
                    counted >= written,
                    "{counted} < {written}: {}",
                    dumps(&meter_message_value(sample, b""))
                );
            } else {
                assert_eq!(counted, written, "{}", dumps(&meter_message_value(sample, b"")));
                exact += 1;
            }
        }
        assert!(exact > 0, "some samples without floats");
    }

    #[test]
    fn list_payload_is_a_json_list_of_messages() {
        let rows = corpus_rows();
        let samples: Vec<Sample> = rows
            .iter()
            .filter(|r| r.get_str("id").is_some_and(|id| id.starts_with("sig-corpus-0")))
            .map(|r| sample_from_dict(r.get("input").unwrap()))
            .take(2)
            .collect();
        let mut signer = Signer::new(b"s3cret");
        let mut out = Vec::new();
        write_meter_message_list(&mut out, &samples, &mut signer);
        let parsed: OwnedValue = simd_json::to_owned_value(&mut out).unwrap();
        let list = parsed.as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1], meter_message_value(&samples[1], b"s3cret"));
        let mut empty = Vec::new();
        write_meter_message_list(&mut empty, &[], &mut signer);
        assert_eq!(empty, b"[]");
    }
}
