//! At most [`LINES_A_MINUTE`] lines a minute from any one place in the code, at info level and
//! above. A notification that cannot be read is logged with its reason, as Ceilometer does, and
//! so is a duplicate, a sample dropped for its size, a resource Gnocchi refuses: one line per
//! message, so a producer sending thousands of those a second would have the agent write
//! thousands of lines a second. Past the bound a place's lines are counted, not written: a line
//! says so within a second, and another at the end of the minute (or of the command) how many
//! were left out. Nothing else is lost: dead letters keep their reason, and the agent's metrics
//! count every rejection. Debug and trace are never throttled: whoever turns them on asked for
//! every line. (`log` crate records reach here through one callsite a level, so they share a
//! bound.)
//!
//! oslo.log's own limit, off by default, is honoured too when ceilometer.conf sets it
//! (`rate_limit_burst` lines in each `rate_limit_interval` seconds, all places and levels
//! together but those from `rate_limit_except_level` up): the line it says when it starts
//! dropping is oslo's, "Logging rate limit: drop after N records/I sec".

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use ceilo::config::ceilometer_conf::RateLimit;

/// Lines written from one place in a minute before the rest are counted instead.
pub const LINES_A_MINUTE: u32 = 100;

const MINUTE: Duration = Duration::from_secs(60);

/// How soon the start of a quiet spell is said.
const TICK: Duration = Duration::from_secs(1);

/// The throttle's own lines (two a place a minute at most, and oslo's one an interval): never
/// throttled.
const TARGET: &str = "ceilo::log_throttle";

/// The layer to put in front of the formatter; it starts its reporting thread at the first line
/// it holds back.
#[derive(Clone, Default)]
pub struct Throttle {
    state: Arc<Mutex<State>>,
    reporter: Arc<OnceLock<()>>,
    /// oslo.log's limit is set: every level is counted, not only info and above.
    oslo: bool,
}

impl<S: Subscriber> Layer<S> for Throttle {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        if (*meta.level() > Level::INFO && !self.oslo) || meta.target() == TARGET {
            return true;
        }
        let admitted = self.lock().admit(meta, Instant::now(), || message_of(event));
        if !admitted {
            self.start_reporter();
        }
        admitted
    }
}

impl Throttle {
    /// The bound of each place, and oslo.log's `rate_limit` when one is set.
    pub fn new(oslo: Option<RateLimit>) -> Throttle {
        let state = State {
            oslo: oslo.map(|limit| OsloWindow::new(limit, Instant::now())),
            ..State::default()
        };
        Throttle {
            state: Arc::new(Mutex::new(state)),
            reporter: Arc::default(),
            oslo: oslo.is_some(),
        }
    }

    /// Say what this minute held back so far: called as the command ends.
    pub fn say_held_back(&self) {
        self.say(true);
    }

    /// Log what is to be said now (the lock is not held while logging); `command_ends` ends
    /// the minute early.
    fn say(&self, command_ends: bool) {
        let now = Instant::now();
        let notices = {
            let mut state = self.lock();
            if command_ends {
                state.end_minute(now);
            }
            state.notices(now)
        };
        notices.iter().for_each(Notice::log);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn start_reporter(&self) {
        self.reporter.get_or_init(|| {
            let throttle = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ceilo-log-throttle".into())
                .spawn(move || loop {
                    std::thread::sleep(TICK);
                    throttle.say(false);
                });
            if let Err(e) = spawned {
                tracing::warn!(target: TARGET, error = %e, "no thread to report the lines held back");
            }
        });
    }
}

/// The lines of the current minute, by place, and what is still to be said about them.
struct State {
    minute_began: Instant,
    places: HashMap<Place, Count>,
    notices: Vec<Notice>,
    oslo: Option<OsloWindow>,
}

impl Default for State {
    fn default() -> State {
        State {
            minute_began: Instant::now(),
            places: HashMap::new(),
            notices: Vec::new(),
            oslo: None,
        }
    }
}

/// oslo.log's count: lines since its interval began, which the first line after it ends
/// begins again.
struct OsloWindow {
    limit: RateLimit,
    ends: Instant,
    lines: u32,
}

impl OsloWindow {
    fn new(limit: RateLimit, now: Instant) -> OsloWindow {
        OsloWindow {
            limit,
            ends: now + limit.interval,
            lines: 0,
        }
    }

    /// Whether a line at `level` passes; `Some` notice when it is the first one dropped.
    fn admit(&mut self, level: Level, now: Instant) -> (bool, Option<Notice>) {
        if self.limit.except_from.is_some_and(|from| level <= from) {
            return (true, None);
        }
        if now >= self.ends {
            *self = OsloWindow::new(self.limit, now);
        }
        self.lines = self.lines.saturating_add(1);
        if self.lines <= self.limit.burst {
            return (true, None);
        }
        let first = self.lines == self.limit.burst + 1;
        let notice = first.then_some(Notice::OsloDropping {
            burst: self.limit.burst,
            interval_s: self.limit.interval.as_secs(),
        });
        (false, notice)
    }
}

/// A place in the code that logs: the callsite's metadata is static and one per place.
#[derive(Clone, Copy)]
struct Place(&'static Metadata<'static>);

impl PartialEq for Place {
    fn eq(&self, other: &Place) -> bool {
        std::ptr::eq(self.0, other.0)
    }
}
impl Eq for Place {}
impl std::hash::Hash for Place {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::ptr::hash(self.0, h)
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.file(), self.0.line()) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}"),
            _ => f.write_str(self.0.target()),
        }
    }
}

#[derive(Default)]
struct Count {
    written: u32,
    held_back: u64,
    /// The message of the first line held back, to say what the count is about.
    message: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Notice {
    Quiet {
        place: String,
        message: String,
    },
    HeldBack {
        place: String,
        message: String,
        lines: u64,
        during_s: u64,
    },
    OsloDropping {
        burst: u32,
        interval_s: u64,
    },
}

impl Notice {
    fn log(&self) {
        match self {
            Notice::Quiet { place, message } => tracing::warn!(
                target: TARGET,
                place,
                like = message,
                "more than {LINES_A_MINUTE} lines this minute from one place: the rest of the \
                 minute's are counted, not written"
            ),
            Notice::HeldBack {
                place,
                message,
                lines,
                during_s,
            } => tracing::warn!(
                target: TARGET,
                place,
                like = message,
                lines,
                during_s,
                "lines from one place not written (over {LINES_A_MINUTE} a minute)"
            ),
            Notice::OsloDropping { burst, interval_s } => tracing::error!(
                target: TARGET,
                "Logging rate limit: drop after {burst} records/{interval_s} sec"
            ),
        }
    }
}

impl State {
    /// Whether a line from `meta` logged at `now` is written (oslo.log's limit first, then the
    /// place's); `message` is read only for the first one a place holds back in a minute.
    fn admit(
        &mut self,
        meta: &'static Metadata<'static>,
        now: Instant,
        message: impl FnOnce() -> String,
    ) -> bool {
        if let Some(oslo) = &mut self.oslo {
            let (admitted, notice) = oslo.admit(*meta.level(), now);
            self.notices.extend(notice);
            if !admitted {
                return false;
            }
        }
        if *meta.level() > Level::INFO {
            return true;
        }
        self.roll(now);
        let place = Place(meta);
        let count = self.places.entry(place).or_default();
        if count.written < LINES_A_MINUTE {
            count.written += 1;
            return true;
        }
        if count.held_back == 0 {
            count.message = message();
            self.notices.push(Notice::Quiet {
                place: place.to_string(),
                message: count.message.clone(),
            });
        }
        count.held_back += 1;
        false
    }

    /// A new minute from `now` on, if the current one is over; what was held back in it is said.
    fn roll(&mut self, now: Instant) {
        if now.duration_since(self.minute_began) >= MINUTE {
            self.end_minute(now);
        }
    }

    /// What was held back since the minute began is to be said; a new minute begins at `now`.
    fn end_minute(&mut self, now: Instant) {
        let during_s = now.duration_since(self.minute_began).min(MINUTE).as_secs();
        self.minute_began = now;
        for (place, count) in self.places.drain() {
            if count.held_back > 0 {
                self.notices.push(Notice::HeldBack {
                    place: place.to_string(),
                    message: count.message,
                    lines: count.held_back,
                    during_s,
                });
            }
        }
    }

    /// What is to be said at `now`.
    fn notices(&mut self, now: Instant) -> Vec<Notice> {
        self.roll(now);
        std::mem::take(&mut self.notices)
    }
}

fn message_of(event: &Event<'_>) -> String {
    struct Message(String);
    impl Visit for Message {
        fn record_str(&mut self, field: &Field, value: &str) {
            if field.name() == "message" {
                value.clone_into(&mut self.0);
            }
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            if field.name() == "message" {
                self.0 = format!("{value:?}");
            }
        }
    }
    let mut m = Message(String::new());
    event.record(&mut m);
    m.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tracing_subscriber::layer::SubscriberExt;

    /// Counts the lines that get past the throttle.
    #[derive(Clone, Default)]
    struct Written(Arc<AtomicUsize>);

    impl<S: Subscriber> Layer<S> for Written {
        fn on_event(&self, _: &Event<'_>, _: Context<'_, S>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many of the lines `log` makes get past `throttle`.
    fn written_through(throttle: &Throttle, log: impl FnOnce()) -> usize {
        let written = Written::default();
        let subscriber = tracing_subscriber::registry()
            .with(written.clone())
            .with(throttle.clone());
        tracing::subscriber::with_default(subscriber, log);
        written.0.load(Ordering::Relaxed)
    }

    #[test]
    fn a_place_writes_its_bound_a_minute_and_the_rest_is_counted_and_said() {
        let throttle = Throttle::default();
        let written = written_through(&throttle, || {
            for i in 0..250 {
                tracing::warn!(i, "dead-lettering a delivery");
            }
            for _ in 0..250 {
                tracing::debug!("every debug line is written");
            }
        });
        assert_eq!(written, LINES_A_MINUTE as usize + 250);

        let place = throttle
            .lock()
            .places
            .keys()
            .next()
            .copied()
            .expect("the warning's place");
        let began = throttle.lock().minute_began;
        let notices = |s| throttle.lock().notices(began + Duration::from_secs(s));
        let message = || "dead-lettering a delivery".to_owned();
        assert_eq!(
            notices(1),
            [Notice::Quiet {
                place: place.to_string(),
                message: message()
            }],
            "the quiet spell is said when it starts"
        );
        assert!(
            place.to_string().starts_with("src/cli/log_throttle.rs:"),
            "{place}"
        );
        assert_eq!(notices(30), [], "and once");
        let end = began + MINUTE;
        assert_eq!(
            notices(60),
            [Notice::HeldBack {
                place: place.to_string(),
                message: message(),
                lines: 150,
                during_s: 60,
            }],
            "at the end of the minute, how many were held back"
        );
        assert!(
            throttle.lock().admit(place.0, end, String::new),
            "a new minute writes again"
        );
        assert_eq!(
            throttle.lock().notices(end + MINUTE),
            [],
            "a minute within the bound says nothing"
        );

        let next = end + MINUTE;
        let mut state = throttle.lock();
        (0..LINES_A_MINUTE + 7).for_each(|_| _ = state.admit(place.0, next, String::new));
        state.end_minute(next + Duration::from_secs(12));
        assert!(
            matches!(
                state.notices[..],
                [
                    _,
                    Notice::HeldBack {
                        lines: 7,
                        during_s: 12,
                        ..
                    }
                ]
            ),
            "the command's end says what its last minute held back: {:?}",
            state.notices
        );
    }

    #[test]
    fn oslos_rate_limit_counts_every_place_and_level_but_the_excepted_ones() {
        let limit = RateLimit {
            burst: 5,
            interval: Duration::from_secs(30),
            except_from: Some(Level::WARN),
        };
        let throttle = Throttle::new(Some(limit));
        let written = written_through(&throttle, || {
            for i in 0..4 {
                tracing::info!(i, "one place");
                tracing::debug!(i, "another, at debug");
                tracing::warn!(i, "a warning is excepted");
            }
        });
        assert_eq!(
            written,
            5 + 4,
            "five lines of the first interval, and the warnings"
        );
        let mut state = throttle.lock();
        let dropping = Notice::OsloDropping {
            burst: 5,
            interval_s: 30,
        };
        assert_eq!(state.notices, [dropping], "said once, when it starts dropping");
        let oslo = state.oslo.as_mut().expect("oslo's window");
        let next = oslo.ends;
        assert_eq!(
            oslo.admit(Level::INFO, next),
            (true, None),
            "the next interval begins again"
        );
        assert_eq!(oslo.lines, 1);
    }
}
