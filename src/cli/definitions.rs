//! Where the CLI finds definition files when none are named: the shipped config, embedded in
//! the binary so `ceilo convert` works from any directory.

use std::path::Path;

use ceilo::convert::Converter;
use ceilo::event::EventDefinitions;
use ceilo::meter::MeterDefinitions;

/// config/meters.d/meters.yaml as shipped.
pub const SHIPPED_METERS: &str = include_str!("../../config/meters.d/meters.yaml");
/// config/event_definitions.yaml as shipped.
pub const SHIPPED_EVENTS: &str = include_str!("../../config/event_definitions.yaml");

/// Build the converter from the given paths, or the shipped definitions.
pub fn converter(meters: Option<&Path>, events: Option<&Path>) -> Result<Converter, String> {
    let (meters, problems) = match meters {
        Some(path) => MeterDefinitions::load(path),
        None => MeterDefinitions::from_texts([(Path::new("<shipped>/meters.d/meters.yaml"), SHIPPED_METERS)]),
    }
    .map_err(|e| e.to_string())?;
    for p in &problems {
        tracing::warn!("skipped {p}");
    }
    let events = match events {
        Some(path) => EventDefinitions::load(path),
        None => EventDefinitions::parse(SHIPPED_EVENTS, "<shipped>/event_definitions.yaml"),
    }
    .map_err(|e| e.to_string())?;
    Ok(Converter::new(meters).with_events(events))
}
