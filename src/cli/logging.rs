//! Where and how `ceilo` logs: stderr (stdout carries `convert`'s output), or oslo's
//! `[DEFAULT] log_file`; text, colour only on a terminal, or one JSON object per line
//! (`--log-format json`, or oslo's `[DEFAULT] use_json`). `RUST_LOG` overrides the level;
//! the default is `default_level`, or debug with oslo's `[DEFAULT] debug = true`.

use std::io::IsTerminal;
use std::sync::Mutex;

use ceilo::config::ceilometer_conf::Logging;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured only when stderr is a terminal).
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields.
    Json,
}

/// Install the global subscriber. A log file that cannot be opened is reported on stderr and
/// the logs stay there (the command itself then reports its own problems).
pub fn init(format: LogFormat, default_level: &str, oslo: &Logging) {
    let level = if oslo.debug { "debug" } else { default_level };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
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
        Some(f) => BoxMakeWriter::new(Mutex::new(f)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_ansi(ansi);
    if format == LogFormat::Json || oslo.json {
        builder.json().init();
    } else {
        builder.init();
    }
}
