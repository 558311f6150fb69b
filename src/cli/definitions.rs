//! Where `ceilo convert` finds definition files when none are named: the shipped config,
//! embedded in the binary so it works from any directory.

use std::path::Path;

use ceilo::config::definitions::{SHIPPED_EVENTS, SHIPPED_EVENTS_NAME, SHIPPED_METERS, SHIPPED_METERS_NAME};
use ceilo::convert::Converter;
use ceilo::event::EventDefinitions;
use ceilo::meter::MeterDefinitions;

/// Build the converter from the given paths, or the shipped definitions, with the `[event]`
/// options.
pub fn converter(
    meters: Option<&Path>,
    events: Option<&Path>,
    options: ceilo::event::EventOptions,
) -> Result<Converter, String> {
    let (meters, problems) = match meters {
        Some(path) => MeterDefinitions::load(path),
        None => MeterDefinitions::from_texts([(Path::new(SHIPPED_METERS_NAME), SHIPPED_METERS)]),
    }
    .map_err(|e| e.to_string())?;
    for p in &problems {
        tracing::warn!("skipped {p}");
    }
    let events = match events {
        Some(path) => EventDefinitions::load(path),
        None => EventDefinitions::parse(SHIPPED_EVENTS, SHIPPED_EVENTS_NAME),
    }
    .map_err(|e| e.to_string())?;
    Ok(Converter::new(meters).with_events(events.with_options(options)))
}
