//! The oslo.messaging 2.0 wire form as a service's notifier sends it: the envelope around the
//! inner message, the AMQP properties kombu sets, and oslo's timestamp text.
//!
//! Only writing lives here (reading the agent's output is `collect`'s job).

use lapin::BasicProperties;

/// Writes `{"oslo.version": "2.0", "oslo.message": "<inner as a JSON string>"}` into `out`,
/// as kombu's json.dumps writes it (", " and ": " separators; the inner text is already ASCII).
pub fn envelope(inner: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"oslo.version": "2.0", "oslo.message": "#);
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, inner);
    out.push(b'}');
}

/// The properties kombu 5 puts on a published notification.
pub fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_delivery_mode(2)
        .with_priority(0)
}

/// `str()` of a naive UTC datetime, as oslo's notifier writes `timestamp`:
/// `YYYY-MM-DD HH:MM:SS.ffffff`, without the fraction when the microsecond is 0.
pub fn timestamp(now: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    if now.nanosecond() / 1000 == 0 {
        now.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        now.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn envelope_holds_the_inner_message_as_a_string() {
        let mut out = Vec::new();
        envelope(r#"{"a": "b\"c"}"#, &mut out);
        let text = String::from_utf8(out).expect("utf8");
        assert_eq!(
            text,
            r#"{"oslo.version": "2.0", "oslo.message": "{\"a\": \"b\\\"c\"}"}"#
        );
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        assert_eq!(v["oslo.message"], r#"{"a": "b\"c"}"#);
    }

    #[test]
    fn timestamp_is_python_str_of_a_naive_datetime() {
        let t = chrono::Utc
            .with_ymd_and_hms(2025, 3, 14, 9, 1, 23)
            .single()
            .expect("date");
        assert_eq!(timestamp(t), "2025-03-14 09:01:23");
        let t = t + chrono::Duration::microseconds(147_803);
        assert_eq!(timestamp(t), "2025-03-14 09:01:23.147803");
    }
}
