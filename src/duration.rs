//! Durations that config text gives in seconds (an interval, a timeout, a retention), and the
//! one rule for them: positive, and at most a year. A longer one means nothing an operator
//! could want, and past what a `Duration` or an `Instant` holds it would panic where the
//! runtime schedules it (a timer, a deadline) instead of being refused where it is read.

use std::time::Duration;

/// The longest duration a config may give: a year.
pub const MAX_SECONDS: u64 = 365 * 24 * 3600;

/// What a refused value is told it must be.
pub const EXPECTED: &str = "a positive number of seconds, at most 31536000 (a year)";

/// `secs` (from config text) as a duration, when it is positive and at most [`MAX_SECONDS`].
pub fn seconds(secs: f64) -> Option<Duration> {
    (secs > 0.0 && secs <= MAX_SECONDS as f64).then(|| Duration::from_secs_f64(secs))
}

/// [`seconds`] for a whole number of seconds.
pub fn whole_seconds(secs: u64) -> Option<Duration> {
    (1..=MAX_SECONDS)
        .contains(&secs)
        .then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_seconds_up_to_a_year() {
        assert_eq!(seconds(2.5), Some(Duration::from_millis(2500)));
        assert_eq!(
            seconds(MAX_SECONDS as f64),
            Some(Duration::from_secs(MAX_SECONDS))
        );
        assert_eq!(whole_seconds(1), Some(Duration::from_secs(1)));
        assert_eq!(whole_seconds(MAX_SECONDS), Some(Duration::from_secs(MAX_SECONDS)));
        // Each of these panicked somewhere in the agent before it was refused here:
        // `Duration::from_secs_f64` past u64 seconds, `Instant + Duration` past what an
        // Instant holds.
        for refused in [
            0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            1e300,
            MAX_SECONDS as f64 + 1.0,
        ] {
            assert_eq!(seconds(refused), None, "{refused}");
        }
        for refused in [0, MAX_SECONDS + 1, u64::MAX] {
            assert_eq!(whole_seconds(refused), None, "{refused}");
        }
    }
}
