//! Where the CLI finds definition files when none are named: the shipped config, embedded in
//! the binary so `ceilo convert` works from any directory.

use std::path::Path;

use ceilo::convert::Converter;
use ceilo::meter::MeterDefinitions;

/// config/meters.d/meters.yaml as shipped.
const SHIPPED_METERS: &str = include_str!("../../config/meters.d/meters.yaml");

/// Build the converter from the given paths, or the shipped definitions.
pub fn converter(meters: Option<&Path>, _events: Option<&Path>) -> Result<Converter, String> {
    let (meters, problems) = match meters {
        Some(path) => MeterDefinitions::load(path),
        None => MeterDefinitions::from_texts([(Path::new("<shipped>/meters.d/meters.yaml"), SHIPPED_METERS)]),
    }
    .map_err(|e| e.to_string())?;
    for p in &problems {
        eprintln!("warning: skipped {p}");
    }
    Ok(Converter::new(meters))
}
