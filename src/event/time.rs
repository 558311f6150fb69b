//! Event datetimes: Ceilometer's `timeutils.normalize_time(timeutils.parse_isotime(text))`
//! (the instant as naive UTC) on top of the shared ISO 8601 grammar in
//! [`crate::model::timestamp`], and `datetime.isoformat()` of the result, rendered into a stack
//! buffer ([`IsoText`]) so writing and signing event messages allocates nothing.

use chrono::{Datelike, NaiveDateTime};

use crate::model::timestamp;
pub use crate::model::timestamp::IsoText;

/// The instant `text` names, as naive UTC, or `None` where Python raises (no match, a field
/// out of range, an offset of a day or more, a result outside years 1..=9999).
pub fn parse_isotime_utc(text: &str) -> Option<NaiveDateTime> {
    let utc = timestamp::parse(text).ok()?.utc();
    (1..=9999).contains(&utc.year()).then_some(utc)
}

/// `datetime.isoformat()` of a naive datetime: microseconds only when non-zero.
pub fn isoformat(dt: &NaiveDateTime) -> String {
    IsoText::new(dt).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(text: &str) -> Option<String> {
        parse_isotime_utc(text).map(|dt| isoformat(&dt))
    }

    #[test]
    fn isoformat_matches_python() {
        let dt = |y, mo, d, h, mi, s, us| {
            chrono::NaiveDate::from_ymd_opt(y, mo, d)
                .and_then(|date| date.and_hms_micro_opt(h, mi, s, us))
                .unwrap_or_default()
        };
        assert_eq!(
            isoformat(&dt(2025, 3, 14, 9, 1, 23, 147_803)),
            "2025-03-14T09:01:23.147803"
        );
        assert_eq!(isoformat(&dt(2025, 3, 14, 9, 1, 23, 0)), "2025-03-14T09:01:23");
        assert_eq!(isoformat(&dt(1, 1, 1, 0, 0, 0, 5)), "0001-01-01T00:00:00.000005");
        assert_eq!(
            isoformat(&dt(9999, 12, 31, 23, 59, 59, 999_999)),
            "9999-12-31T23:59:59.999999"
        );
        assert_eq!(isoformat(&dt(12345, 1, 1, 0, 0, 0, 0)), "12345-01-01T00:00:00");
    }

    #[test]
    fn oslo_and_iso_shapes_normalize_to_naive_utc() {
        assert_eq!(
            norm("2025-03-14 09:01:23.147803").as_deref(),
            Some("2025-03-14T09:01:23.147803")
        );
        assert_eq!(
            norm("2025-03-14T08:58:41.000000").as_deref(),
            Some("2025-03-14T08:58:41")
        );
        assert_eq!(
            norm("2025-03-14 08:58:03+00:00").as_deref(),
            Some("2025-03-14T08:58:03")
        );
        assert_eq!(
            norm("2025-03-14T10:58:03+02:00").as_deref(),
            Some("2025-03-14T08:58:03")
        );
        assert_eq!(
            norm("2025-03-14T00:30:00-01:30").as_deref(),
            Some("2025-03-14T02:00:00")
        );
        assert_eq!(
            norm("2025-03-14T09:00:00Z").as_deref(),
            Some("2025-03-14T09:00:00")
        );
        assert_eq!(
            norm("2025-03-14 09:00:00.1").as_deref(),
            Some("2025-03-14T09:00:00.100000")
        );
        assert_eq!(
            norm("2025-03-14 09:00:00.1234567").as_deref(),
            Some("2025-03-14T09:00:00.123456")
        );
    }

    #[test]
    fn partial_and_compact_shapes_follow_iso8601() {
        assert_eq!(norm("2025").as_deref(), Some("2025-01-01T00:00:00"));
        assert_eq!(norm("2025-3").as_deref(), Some("2025-03-01T00:00:00"));
        assert_eq!(norm("2025-03-14").as_deref(), Some("2025-03-14T00:00:00"));
        assert_eq!(norm("20250314").as_deref(), Some("2025-03-14T00:00:00"));
        assert_eq!(norm("20250314T0830").as_deref(), Some("2025-03-14T08:30:00"));
        assert_eq!(norm("2025-03-14T08").as_deref(), Some("2025-03-14T08:00:00"));
        assert_eq!(
            norm("2025-03-14T08:30:00+0530").as_deref(),
            Some("2025-03-14T03:00:00")
        );
        assert_eq!(
            norm("2025-03-14T08:30:00+05").as_deref(),
            Some("2025-03-14T03:30:00")
        );
        assert_eq!(
            norm("2025-03-14 08:30:00,5").as_deref(),
            Some("2025-03-14T08:30:00.500000")
        );
    }

    #[test]
    fn python_refusals_are_none() {
        for bad in [
            "",
            "garbage",
            "2015-06-1909:19:35.786893",
            "202503",
            "2025-03-14T",
            "2025-13-01",
            "2025-02-30",
            "2025-03-14 24:00:00",
            "2025-03-14 23:60:00",
            "2025-03-14 23:59:60",
            "0000-01-01",
            "2025-03-14 08:00:00+24:00",
            "0001-01-01T00:00:00+01:00",
            "2025-03-14 08:00:00 ",
            " 2025-03-14",
        ] {
            assert_eq!(norm(bad), None, "{bad:?}");
        }
    }
}
