//! `ceilo convert`: AMQP bodies on stdin → one `{"samples": [...], "events": [...]}` line on
//! stdout per input line, in order. A line that cannot be decoded or converted yields
//! `{"samples": [], "events": [], "error": "..."}`; the others go on.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use simd_json::prelude::*;

use crate::cli::definitions;
use ceilo::convert::Converted;
use ceilo::model::envelope::Decoder;
use ceilo::model::{meter_message, OwnedValue};

#[derive(clap::Args)]
pub struct ConvertArgs {
    /// A meters.yaml file or a meters.d directory (default: the shipped config/meters.d).
    #[arg(long)]
    pub meters: Option<PathBuf>,
    /// An event_definitions.yaml file (default: the shipped one).
    #[arg(long)]
    pub events: Option<PathBuf>,
    /// The telemetry_secret samples are signed with.
    #[arg(long, default_value = "change this for valid signing")]
    pub secret: String,
}

pub fn convert(args: ConvertArgs) -> ExitCode {
    let converter = match definitions::converter(args.meters.as_deref(), args.events.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ceilo convert: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut decoder = Decoder::new();
    let mut line_buf = Vec::new();
    for (number, line) in stdin.split(b'\n').enumerate() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("ceilo convert: reading stdin: {e}");
                return ExitCode::FAILURE;
            }
        };
        line_buf.clear();
        line_buf.extend_from_slice(&line);
        let result = converter.convert(&mut decoder, &mut line_buf);
        let doc = match result {
            Ok(converted) => render(&converted, args.secret.as_bytes()),
            Err(e) => {
                eprintln!("ceilo convert: line {}: {e}", number + 1);
                let mut doc = render(&Converted::default(), b"");
                if let Some(obj) = doc.as_object_mut() {
                    obj.insert("error".into(), OwnedValue::from(e.to_string()));
                }
                doc
            }
        };
        if writeln!(out, "{}", simd_json::to_string(&doc).unwrap_or_default()).is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

fn render(c: &Converted, secret: &[u8]) -> OwnedValue {
    let messages = |samples: &[ceilo::model::Sample]| -> OwnedValue {
        samples
            .iter()
            .map(|s| meter_message::meter_message_value(s, secret))
            .collect::<Vec<_>>()
            .into()
    };
    let mut doc = simd_json::owned::Object::default();
    doc.insert("samples".into(), messages(&c.samples));
    doc.insert("events".into(), OwnedValue::array());
    doc.insert("dropped_samples".into(), messages(&c.dropped_samples));
    OwnedValue::from(doc)
}
