//! `ceilo convert`: AMQP bodies on stdin → one `{"samples": [...], "events": [...]}` line on
//! stdout per input line, in order. A line that cannot be decoded or converted, or whose output
//! is over `notification.max_output_bytes` (of the given config, else the default), yields
//! `{"samples": [], "events": [], "error": "..."}`; the others go on.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::config_args::ConfigArgs;
use crate::cli::definitions;
use ceilo::convert::Converted;
use ceilo::convert::Converter;
use ceilo::event::message::write_event_message_list;
use ceilo::model::envelope::Decoder;
use ceilo::model::json_write::write_str;
use ceilo::model::meter_message::write_meter_message_list;
use ceilo::model::signature::Signer;

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A meters.yaml file or a meters.d directory (default: the shipped config/meters.d).
    #[arg(long)]
    pub meters: Option<PathBuf>,
    /// An event_definitions.yaml file (default: the shipped one).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The telemetry_secret samples are signed with (default: ceilometer.conf's
    /// `[publisher] telemetry_secret` with --config-file, else Ceilometer's default).
    #[arg(long)]
    pub secret: Option<String>,
    /// With --config-file (ceilometer.conf) or --config-dir: the definitions and the secret
    /// `ceilo run` would use with the same options (--meters, --events and --secret win).
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// The converter and the secret: the named files, else those of the given config, else the
/// shipped definitions and Ceilometer's default secret.
fn setup(
    args: &ConfigArgs,
    meters: Option<&Path>,
    events: Option<&Path>,
) -> Result<(Converter, String), String> {
    if !args.oslo() && args.config_dir.is_empty() {
        let secret = ceilo::config::PublisherSettings::default().telemetry_secret;
        return Ok((
            definitions::converter(meters, events, Default::default())?,
            secret,
        ));
    }
    let resolved = args.resolve()?;
    let settings = resolved.settings().map_err(|e| e.to_string())?;
    let (converter, skipped) = match (meters, events) {
        (None, None) => ceilo::config::definitions::converter(&resolved.files, settings.event.options())
            .map_err(|e| e.to_string())?,
        _ => (
            definitions::converter(meters, events, settings.event.options())?,
            Vec::new(),
        ),
    };
    for p in &skipped {
        tracing::warn!("skipped {p}");
    }
    let max_output = usize::try_from(settings.notification.max_output_bytes).unwrap_or(usize::MAX);
    Ok((
        converter
            .with_max_output_bytes(max_output)
            .with_reserved_metadata(settings.reserved_metadata)
            .with_ack_on_event_error(settings.notification.ack_on_event_error),
        settings.publisher.telemetry_secret,
    ))
}

pub fn convert(args: ConvertArgs) -> ExitCode {
    let (converter, secret) = match setup(&args.config, args.meters.as_deref(), args.events.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ceilo convert: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secret = args.secret.unwrap_or(secret);
    let mut signer = Signer::new(secret.as_bytes());
    let stdin = std::io::stdin().lock();
    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let mut decoder = Decoder::new();
    let mut line_out = Vec::with_capacity(64 * 1024);
    for (number, line) in stdin.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ceilo convert: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        line_out.clear();
        match converter.convert(&mut decoder, &line) {
            Ok(converted) => write_line(&mut line_out, &converted, &mut signer, None),
            Err(e) => {
                eprintln!("ceilo convert: line {}: {e}", number + 1);
                write_line(
                    &mut line_out,
                    &Converted::default(),
                    &mut signer,
                    Some(&e.to_string()),
                );
            }
        }
        if stdout.write_all(&line_out).is_err() {
            return ExitCode::FAILURE;
        }
    }
    if stdout.flush().is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `{"samples": [...], "events": [...], "dropped_samples": [...]}` (+ `"error"`), newline-ended.
fn write_line(out: &mut Vec<u8>, c: &Converted, signer: &mut Signer, error: Option<&str>) {
    out.extend_from_slice(b"{\"samples\": ");
    write_meter_message_list(out, &c.samples, signer);
    out.extend_from_slice(b", \"events\": ");
    write_event_message_list(out, &c.events, signer);
    out.extend_from_slice(b", \"dropped_samples\": ");
    write_meter_message_list(out, &c.dropped_samples, signer);
    if let Some(error) = error {
        out.extend_from_slice(b", \"error\": ");
        write_str(out, error);
    }
    out.extend_from_slice(b"}\n");
}
