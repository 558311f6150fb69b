//! Which meter and event definitions a config directory gives the agent: the one rule that
//! `ceilo run` (which uses them) and `ceilo check` (which reports on them) share.
//!
//! As Ceilometer 27:
//! * Definitions a directory lacks come from the package: without `meters.d/` (or with no
//!   `*.yaml` in it) the shipped meters.d, without `event_definitions.yaml` the shipped one
//!   (`declarative.load_definitions`' fallback file). Both are embedded in the binary.
//! * A meter definition that does not compile (bad jsonpath, bad type, missing field) is
//!   skipped and logged, and the other meters load (`meter/notifications.py:
//!   _load_definitions`): a *warning*, for `run` and for `check` alike.
//! * A file that is not YAML, or an event definition that does not compile, stops the agent
//!   (Ceilometer raises out of `load_definitions` and `NotificationEventsConverter`): an
//!   *error*, for `run` and for `check` alike.
//!
//! Warnings and errors are each a [`Problem`] (file, line, message), printed the same way by
//! both subcommands.
//!
//! Not here: compiling the definitions ([`crate::meter`], [`crate::event`]).

use std::path::Path;

use crate::convert::Converter;
use crate::event::EventDefinitions;
use crate::meter::MeterDefinitions;
use crate::problem::Problem;

/// config/meters.d/meters.yaml as shipped (Ceilometer's packaged `data/meters.d`).
pub const SHIPPED_METERS: &str = include_str!("../../config/meters.d/meters.yaml");
/// config/event_definitions.yaml as shipped (Ceilometer's packaged one).
pub const SHIPPED_EVENTS: &str = include_str!("../../config/event_definitions.yaml");
/// How the shipped files are named in logs and reports.
pub const SHIPPED_METERS_NAME: &str = "<shipped>/meters.d/meters.yaml";
pub const SHIPPED_EVENTS_NAME: &str = "<shipped>/event_definitions.yaml";

/// The meter definitions of a config directory.
pub struct Meters {
    pub definitions: MeterDefinitions,
    /// Definitions that were skipped: warnings (`ceilo run` drops these meters).
    pub skipped: Vec<Problem>,
    /// What was read: the meters.d directory, or the shipped file.
    pub from: String,
}

/// The event definitions of a config directory.
pub struct Events {
    pub definitions: EventDefinitions,
    /// What was read: the file, or the shipped one.
    pub from: String,
}

/// `<dir>/meters.d`, or the shipped meters when it has no `*.yaml` file.
pub fn load_meters(dir: &Path) -> Result<Meters, Problem> {
    let meters_d = dir.join("meters.d");
    let (definitions, skipped, from) = if has_yaml_files(&meters_d) {
        let (d, skipped) = MeterDefinitions::load(&meters_d)?;
        (d, skipped, meters_d.display().to_string())
    } else {
        let (d, skipped) = MeterDefinitions::from_texts([(Path::new(SHIPPED_METERS_NAME), SHIPPED_METERS)])?;
        (d, skipped, SHIPPED_METERS_NAME.to_owned())
    };
    Ok(Meters {
        definitions,
        skipped,
        from,
    })
}

/// `<dir>/event_definitions.yaml`, or the shipped one when there is none.
pub fn load_events(dir: &Path) -> Result<Events, Problem> {
    let path = dir.join("event_definitions.yaml");
    Ok(if path.exists() {
        Events {
            definitions: EventDefinitions::load(&path)?,
            from: path.display().to_string(),
        }
    } else {
        Events {
            definitions: EventDefinitions::parse(SHIPPED_EVENTS, SHIPPED_EVENTS_NAME)?,
            from: SHIPPED_EVENTS_NAME.to_owned(),
        }
    })
}

/// The converter `ceilo run` uses for `dir` with the `[event]` options, and the meter
/// definitions it skipped; the problem that stops it, when one does.
pub fn converter(
    dir: &Path,
    options: crate::event::EventOptions,
) -> Result<(Converter, Vec<Problem>), Problem> {
    let meters = load_meters(dir)?;
    let events = load_events(dir)?;
    tracing::info!(meters = %meters.from, events = %events.from, "definitions loaded");
    let converter = Converter::new(meters.definitions).with_events(events.definitions.with_options(options));
    Ok((converter, meters.skipped))
}

fn has_yaml_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.path().extension().is_some_and(|x| x == "yaml"))
    })
}
