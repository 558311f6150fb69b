//! ISO 8601 timestamps the way Ceilometer reads and writes them.
//!
//! Ceilometer parses with `oslo_utils.timeutils.parse_isotime` (the `iso8601` library: a
//! date, optionally a `T` or space and a time, optional fraction and zone; a missing zone means
//! UTC) and writes with `datetime.isoformat()`; events keep the instant as naive UTC
//! (`timeutils.normalize_time`, [`parse_isotime_utc`]). [`parse`] accepts exactly that grammar;
//! [`Timestamp::isoformat`] renders the same text Python would (`+00:00` for UTC, an existing
//! offset kept, the fraction left out when it is zero).

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// A parsed instant with the UTC offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Local (wall-clock) time in `offset`.
    local: NaiveDateTime,
    offset_seconds: i32,
}

/// `isoformat()` text on the stack: `YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM[:SS]]`, at most 35
/// bytes for the years Python has (1..=9999; other years are written with their digits, for
/// safety). Written digit by digit: `write!` took most of a sample's conversion time here.
pub struct IsoText {
    bytes: [u8; 40],
    len: usize,
}

impl IsoText {
    pub fn new(dt: &NaiveDateTime) -> IsoText {
        let mut t = IsoText {
            bytes: [0; 40],
            len: 0,
        };
        let year = dt.year();
        if (0..=9999).contains(&year) {
            t.digits(year.unsigned_abs(), 4);
        } else {
            if year < 0 {
                t.push(b'-');
            }
            let abs = year.unsigned_abs();
            t.digits(abs, abs.checked_ilog10().map_or(1, |l| l as usize + 1));
        }
        t.push(b'-');
        t.digits(dt.month(), 2);
        t.push(b'-');
        t.digits(dt.day(), 2);
        t.push(b'T');
        t.digits(dt.hour(), 2);
        t.push(b':');
        t.digits(dt.minute(), 2);
        t.push(b':');
        t.digits(dt.second(), 2);
        // A leap second's nanoseconds run past 10^9; Python has no leap seconds.
        let micros = (dt.nanosecond() % 1_000_000_000) / 1_000;
        if micros != 0 {
            t.push(b'.');
            t.digits(micros, 6);
        }
        t
    }

    /// Appends a UTC offset as `isoformat()` does: `+HH:MM`, with `:SS` when it has seconds.
    pub fn offset(&mut self, offset_seconds: i32) {
        self.push(if offset_seconds < 0 { b'-' } else { b'+' });
        let abs = offset_seconds.unsigned_abs();
        self.digits(abs / 3600, 2);
        self.push(b':');
        self.digits(abs / 60 % 60, 2);
        if !abs.is_multiple_of(60) {
            self.push(b':');
            self.digits(abs % 60, 2);
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }

    fn push(&mut self, b: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    /// `n` zero-padded to `width` digits (more when it needs them).
    fn digits(&mut self, mut n: u32, width: usize) {
        let width = width.max(n.checked_ilog10().map_or(1, |l| l as usize + 1));
        let end = (self.len + width).min(self.bytes.len());
        // Written from the last digit back: one division per digit.
        for slot in self.bytes[self.len..end].iter_mut().rev() {
            *slot = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.len = end;
    }
}

/// The text that could not be parsed, quoted like Python's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Unable to parse date string {0:?}")]
pub struct TimestampError(pub String);

impl Timestamp {
    /// `datetime.isoformat()` of the aware datetime.
    pub fn isoformat(&self) -> String {
        let mut text = IsoText::new(&self.local);
        text.offset(self.offset_seconds);
        text.as_str().to_owned()
    }

    /// The same instant as naive UTC, `isoformat()`ed (what Ceilometer stores for events).
    pub fn naive_utc_isoformat(&self) -> String {
        IsoText::new(&self.utc()).as_str().to_owned()
    }

    /// The instant in UTC.
    pub fn utc(&self) -> NaiveDateTime {
        self.local - Duration::seconds(i64::from(self.offset_seconds))
    }

    /// Seconds from `earlier` to `self` (may be negative), as Python's `total_seconds()`.
    pub fn seconds_since(&self, earlier: &Timestamp) -> f64 {
        let delta = self.utc() - earlier.utc();
        delta
            .num_microseconds()
            .map_or(delta.num_seconds() as f64, micros_as_seconds)
    }

    /// The offset as chrono sees it (for callers that need an aware value).
    pub fn offset(&self) -> Option<FixedOffset> {
        FixedOffset::east_opt(self.offset_seconds)
    }

    /// Now, in UTC.
    pub fn now_utc() -> Timestamp {
        Timestamp {
            local: chrono::Utc::now().naive_utc(),
            offset_seconds: 0,
        }
    }

    /// Build from a UTC instant.
    pub fn from_utc(t: NaiveDateTime) -> Timestamp {
        Timestamp {
            local: t,
            offset_seconds: 0,
        }
    }
}

/// `microseconds / 10**6` as Python divides ints: one rounding. Beyond 2^53 µs (285 years) the
/// microseconds are no longer exact as a float, so the whole seconds and the fraction are
/// divided apart.
fn micros_as_seconds(us: i64) -> f64 {
    const EXACT: u64 = 1 << 53;
    if us.unsigned_abs() < EXACT {
        return us as f64 / 1e6;
    }
    us.div_euclid(1_000_000) as f64 + us.rem_euclid(1_000_000) as f64 / 1e6
}

/// Parse like `iso8601.parse_date` (default zone UTC).
pub fn parse(text: &str) -> Result<Timestamp, TimestampError> {
    parse_inner(text.as_bytes()).ok_or_else(|| TimestampError(text.to_owned()))
}

/// `timeutils.normalize_time(timeutils.parse_isotime(text))`, what Ceilometer makes of an event
/// datetime: the instant as naive UTC, or `None` where Python raises (no match, a field out of
/// range, an offset of a day or more, a result outside years 1..=9999).
pub fn parse_isotime_utc(text: &str) -> Option<NaiveDateTime> {
    let utc = parse(text).ok()?.utc();
    (1..=9999).contains(&utc.year()).then_some(utc)
}

/// `datetime.isoformat()` of a naive datetime: microseconds only when non-zero (hot paths
/// write an [`IsoText`] instead, which allocates nothing).
pub fn isoformat(dt: &NaiveDateTime) -> String {
    IsoText::new(dt).as_str().to_owned()
}

/// `str(dt)` of a naive datetime: `isoformat(sep=' ')`.
pub fn str_of(dt: &NaiveDateTime) -> String {
    isoformat(dt).replacen('T', " ", 1)
}

/// `repr(dt)` of a naive datetime: `datetime.datetime(2025, 3, 14, 9, 40)`, the second and
/// the microsecond written only as far as one of them is non-zero, as CPython does.
pub fn repr_of(dt: &NaiveDateTime) -> String {
    let micros = (dt.nanosecond() % 1_000_000_000) / 1_000;
    let mut fields = vec![
        dt.year(),
        dt.month() as i32,
        dt.day() as i32,
        dt.hour() as i32,
        dt.minute() as i32,
    ];
    if micros != 0 {
        fields.extend([dt.second() as i32, micros as i32]);
    } else if dt.second() != 0 {
        fields.push(dt.second() as i32);
    }
    let fields: Vec<String> = fields.iter().map(i32::to_string).collect();
    format!("datetime.datetime({})", fields.join(", "))
}

/// A tiny cursor over ASCII digits and separators.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    /// Between `min` and `max` digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        debug_assert!(max <= 9, "{max} digits may not fit a u32");
        let start = self.i;
        while self.i - start < max && self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i - start < min {
            self.i = start;
            return None;
        }
        // Nine digits at most, each checked above: no overflow, no text to parse.
        Some(
            self.s[start..self.i]
                .iter()
                .fold(0, |n, &d| n * 10 + u32::from(d - b'0')),
        )
    }
    fn done(&self) -> bool {
        self.i == self.s.len()
    }
}

fn parse_inner(s: &[u8]) -> Option<Timestamp> {
    // Python's `$` also matches before one trailing newline.
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    let mut c = Cursor { s, i: 0 };
    let year = c.digits(4, 4)? as i32;
    if c.done() {
        return build(year, 1, 1, 0, 0, 0, 0, 0);
    }
    let month = if c.eat(b'-') {
        c.digits(1, 2)?
    } else {
        let m = c.digits(2, 2)?;
        if c.done() {
            return None; // YYYYMM is not allowed
        }
        m
    };
    if c.done() {
        return build(year, month, 1, 0, 0, 0, 0, 0);
    }
    let day = if c.eat(b'-') {
        c.digits(1, 2)?
    } else {
        c.digits(2, 2)?
    };
    if c.done() {
        return build(year, month, day, 0, 0, 0, 0, 0);
    }
    if !(c.eat(b'T') || c.eat(b' ')) {
        return None;
    }
    let hour = c.digits(2, 2)?;
    // As in the iso8601 regex, minutes and seconds are independently optional, each after an
    // optional colon: `T08:3` is 08:00:03.
    let mut minute = 0;
    let mut second = 0;
    let mut micros = 0;
    let save = c.i;
    c.eat(b':');
    match c.digits(2, 2) {
        Some(m) => minute = m,
        None => c.i = save,
    }
    let save = c.i;
    c.eat(b':');
    match c.digits(1, 2) {
        Some(sec) => {
            second = sec;
            if c.eat(b'.') || c.eat(b',') {
                micros = fraction_micros(&mut c)?;
            }
        }
        None => c.i = save,
    }
    let offset = if c.done() || c.eat(b'Z') {
        0
    } else {
        let sign = if c.eat(b'+') {
            1
        } else if c.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = c.digits(2, 2)? as i32;
        c.eat(b':');
        let m = c.digits(2, 2).unwrap_or(0) as i32;
        sign * (h * 3600 + m * 60)
    };
    if !c.done() {
        return None;
    }
    build(year, month, day, hour, minute, second, micros, offset)
}

/// `.ffffff...`: any number of digits; beyond microseconds they are cut off.
fn fraction_micros(c: &mut Cursor<'_>) -> Option<u32> {
    let start = c.i;
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        c.i += 1;
    }
    let digits = &c.s[start..c.i];
    if digits.is_empty() {
        return None;
    }
    let mut micros = 0u32;
    for k in 0..6 {
        micros = micros * 10 + digits.get(k).map_or(0, |d| u32::from(d - b'0'));
    }
    Some(micros)
}

#[allow(clippy::too_many_arguments)]
fn build(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
    offset_seconds: i32,
) -> Option<Timestamp> {
    // Python's datetime starts at year 1.
    if year < 1 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let time = NaiveTime::from_hms_micro_opt(hour, minute, second, micros)?;
    // Python's tzinfo rejects offsets of a day or more, as east_opt does.
    FixedOffset::east_opt(offset_seconds)?;
    Some(Timestamp {
        local: NaiveDateTime::new(date, time),
        offset_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> String {
        parse(s).unwrap().isoformat()
    }

    #[test]
    fn naive_timestamps_become_utc() {
        assert_eq!(
            iso("2025-03-14 09:01:23.147803"),
            "2025-03-14T09:01:23.147803+00:00"
        );
        assert_eq!(iso("2025-03-14T08:58:41.000000"), "2025-03-14T08:58:41+00:00");
        assert_eq!(iso("2025-03-14 09:45:00"), "2025-03-14T09:45:00+00:00");
    }

    #[test]
    fn zones_are_kept_and_z_is_utc() {
        assert_eq!(iso("2025-03-14 08:58:03+00:00"), "2025-03-14T08:58:03+00:00");
        assert_eq!(iso("2025-03-14T08:58:03Z"), "2025-03-14T08:58:03+00:00");
        assert_eq!(
            iso("2025-03-14T08:58:03.5-0530"),
            "2025-03-14T08:58:03.500000-05:30"
        );
        assert_eq!(iso("2025-03-14T08:58:03+02"), "2025-03-14T08:58:03+02:00");
    }

    #[test]
    fn partial_forms_follow_iso8601() {
        assert_eq!(iso("2025-03-14"), "2025-03-14T00:00:00+00:00");
        assert_eq!(iso("2025"), "2025-01-01T00:00:00+00:00");
        assert_eq!(iso("20250314T0102"), "2025-03-14T01:02:00+00:00");
        assert_eq!(iso("2025-3-4T01"), "2025-03-04T01:00:00+00:00");
        assert_eq!(
            iso("2025-03-14T01:02:03.1234567"),
            "2025-03-14T01:02:03.123456+00:00"
        );
    }

    #[test]
    fn garbage_is_rejected_with_the_text() {
        for bad in [
            "",
            "garbage",
            "2015-06-1909:19:35.786893",
            "202503",
            "2025-13-01",
            "2025-03-14T25:00",
        ] {
            assert_eq!(parse(bad), Err(TimestampError(bad.to_owned())), "{bad:?}");
        }
    }

    #[test]
    fn utc_views_and_differences() {
        let a = parse("2025-03-14T10:00:00+01:00").unwrap();
        let b = parse("2025-03-14 09:00:38").unwrap();
        assert_eq!(a.naive_utc_isoformat(), "2025-03-14T09:00:00");
        assert_eq!(b.seconds_since(&a), 38.0);
        assert_eq!(a.seconds_since(&b), -38.0);
    }
}

#[cfg(test)]
mod naive_utc_tests {
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

    /// `(b - a).total_seconds()` in CPython 3.11, for spans past 2^53 microseconds too.
    #[test]
    fn seconds_between_are_pythons() {
        let at = |t: &str| parse(t).unwrap();
        let span = |a: &str, b: &str| at(b).seconds_since(&at(a));
        assert_eq!(
            span("2025-03-14T08:59:30.25", "9999-12-31T23:59:59-01:00"),
            251660361628.75
        );
        assert_eq!(
            span("9999-12-31T23:59:59-01:00", "2025-03-14T08:59:30.25"),
            -251660361628.75
        );
        assert_eq!(
            span("2025-03-14T08:58:03", "2025-03-14T08:58:41.000001"),
            38.000001
        );
    }

    /// What `str()` and `repr()` of these datetimes give in CPython 3.11.
    #[test]
    fn str_and_repr_match_python() {
        let dt = |h, mi, s, us| {
            chrono::NaiveDate::from_ymd_opt(2025, 3, 4)
                .and_then(|date| date.and_hms_micro_opt(h, mi, s, us))
                .unwrap_or_default()
        };
        assert_eq!(str_of(&dt(9, 1, 23, 50)), "2025-03-04 09:01:23.000050");
        assert_eq!(str_of(&dt(0, 0, 0, 0)), "2025-03-04 00:00:00");
        assert_eq!(
            repr_of(&dt(9, 1, 23, 50)),
            "datetime.datetime(2025, 3, 4, 9, 1, 23, 50)"
        );
        assert_eq!(
            repr_of(&dt(9, 1, 0, 50)),
            "datetime.datetime(2025, 3, 4, 9, 1, 0, 50)"
        );
        assert_eq!(
            repr_of(&dt(9, 1, 23, 0)),
            "datetime.datetime(2025, 3, 4, 9, 1, 23)"
        );
        assert_eq!(repr_of(&dt(0, 0, 0, 0)), "datetime.datetime(2025, 3, 4, 0, 0)");
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
