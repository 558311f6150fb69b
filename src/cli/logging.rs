//! Where and how `ceilo` logs: stderr (stdout carries `convert`'s output), or oslo's
//! `[DEFAULT] log_file`; text, colour only on a terminal, or one JSON object per line
//! (`--log-format json`, or oslo's `[DEFAULT] use_json`). `RUST_LOG` overrides the level;
//! the default is `default_level`, or debug with oslo's `[DEFAULT] debug = true`. Every line
//! passes through [`ceilo::config::secrets::redact`] on its way out, whoever logged it, and no
//! place in the code writes more than a bound of lines a minute ([`super::log_throttle`]).

use std::io::{IsTerminal, Write};
use std::sync::Arc;

use ceilo::config::ceilometer_conf::Logging;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use super::log_throttle::Throttle;

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured only when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// Left out unless `RUST_LOG` asks for it: lapin logs, at error level, every channel the broker
/// closes and every end of a connection's thread, and also hands that error to the call that
/// meets it, where ceilo reports it with what it was doing (`flush failed ... no exchange 'x'`,
/// `listener cannot consume ... NOT_ALLOWED`), or expects it: the start-up check asks whether
/// each exchange and queue exists with a passive declare, and on a new broker the answer, 404,
/// closes the channel. Without this, a first start logs an error per exchange, and a broker
/// that refuses the agent's login an error per connection attempt ("Exponential backoff
/// attempts exhausted, aborting recovery": the recovery ceilo leaves off).
const QUIET_BY_DEFAULT: &str = "lapin::channel=off,lapin::io_loop=off";

/// Install the global subscriber. A log file that cannot be opened is reported on stderr and
/// the logs stay there (the command itself then reports its own problems). The command ends
/// with [`Throttle::say_held_back`] on what is returned.
pub fn init(format: LogFormat, default_level: &str, oslo: &Logging) -> Throttle {
    let level = if oslo.debug { "debug" } else { default_level };
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{level},{QUIET_BY_DEFAULT}")));
    let file = oslo.log_file.as_ref().and_then(|path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| eprintln!("ceilo: log_file {}: {e}; logging to stderr", path.display()))
            .ok()
    });
    let ansi = file.is_none() && std::io::stderr().is_terminal();
    let writer = match file {
        Some(f) => {
            let f = Arc::new(f);
            BoxMakeWriter::new(move || Redacting(Sink::File(f.clone())))
        }
        None => BoxMakeWriter::new(|| Redacting(Sink::Stderr)),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_ansi(ansi);
    let throttle = Throttle::new(oslo.rate_limit);
    if format == LogFormat::Json || oslo.json {
        builder.json().finish().with(throttle.clone()).init();
    } else {
        builder.finish().with(throttle.clone()).init();
    }
    throttle
}

enum Sink {
    Stderr,
    /// Opened for appending: each event is one `write`, whole.
    File(Arc<std::fs::File>),
}

/// Writes each event with the known secrets blanked out. The formatter writes an event in one
/// call, so a secret is never split between two.
struct Redacting(Sink);

impl Write for Redacting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let clean = ceilo::config::secrets::redact(&text);
        match &self.0 {
            Sink::Stderr => std::io::stderr().write_all(clean.as_bytes())?,
            Sink::File(f) => (&**f).write_all(clean.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &self.0 {
            Sink::Stderr => std::io::stderr().flush(),
            Sink::File(f) => (&**f).flush(),
        }
    }
}
