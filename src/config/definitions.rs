//! Which definition files the agent reads, and which meter and event definitions they give:
//! the one rule that `ceilo run` (which uses them), a SIGHUP reload, `ceilo check` (which
//! reports on them) and `ceilo convert` share.
//!
//! [`DefinitionFiles`] says where the files are: in ceilo's own config directory under their
//! usual names ([`DefinitionFiles::in_dir`]), or where ceilometer.conf's options name them
//! ([`crate::config::ceilometer_conf`]).
//!
//! As Ceilometer 27:
//! * Meter definitions come from every `*.yaml` file of each meter directory, the directories
//!   in their order and each one's files sorted by name (`meter/notifications.py:
//!   _load_definitions`); of two definitions of one meter the first met wins, reading each
//!   file's list backwards (see [`crate::meter::MeterDefinitions`]). A directory that does not
//!   exist gives nothing. Ceilometer's packaged meters.d is embedded in the binary.
//! * In ceilo's own config directory, definitions it lacks come from the package: without
//!   `meters.d/` (or with no `*.yaml` in it) the shipped meters.d, without
//!   `event_definitions.yaml` the shipped one (`declarative.load_definitions`' fallback file).
//! * A meter definition that does not compile (bad jsonpath, bad type, missing field) is
//!   skipped and logged, and the other meters load: a *warning*, for `run` and for `check`
//!   alike.
//! * A file that is not YAML, or an event definition that does not compile, stops the agent
//!   (Ceilometer raises out of `load_definitions` and `NotificationEventsConverter`): an
//!   *error*, for `run` and for `check` alike.
//!
//! Warnings and errors are each a [`Problem`] (file, line, message), printed the same way by
//! every subcommand.
//!
//! Not here: compiling the definitions ([`crate::meter`], [`crate::event`]).

use std::path::{Path, PathBuf};

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

/// Where the agent's definition files are.
#[derive(Debug, Clone, PartialEq)]
pub struct DefinitionFiles {
    /// The pipeline file's directory: ceilo.yaml and the publishers' own files
    /// (gnocchi_resources.yaml) are read there.
    pub dir: PathBuf,
    pub pipeline: PathBuf,
    pub event_pipeline: PathBuf,
    /// Missing: the shipped event definitions.
    pub event_definitions: PathBuf,
    /// Missing: no polling agent.
    pub polling: PathBuf,
    /// The meter definition directories, first wins.
    pub meter_dirs: Vec<MeterDir>,
    /// When `meter_dirs` hold no `*.yaml` file: the shipped meters (ceilo's own config
    /// directory) rather than none (Ceilometer's `meter_definitions_dirs`, read as given).
    pub shipped_meters_when_none: bool,
    /// Which of the two pipelines run.
    pub managers: Managers,
}

/// Ceilometer's pipeline managers (`[notification] pipelines`): `meter` (meters.d and the
/// built-in sample endpoints into pipeline.yaml) and `event` (event_definitions.yaml into
/// event_pipeline.yaml). One that does not run reads none of its files and makes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Managers {
    pub meter: bool,
    pub event: bool,
}

impl Default for Managers {
    fn default() -> Self {
        Managers {
            meter: true,
            event: true,
        }
    }
}

/// One directory of meter definitions.
#[derive(Debug, Clone, PartialEq)]
pub enum MeterDir {
    Path(PathBuf),
    /// Ceilometer's packaged meters.d (embedded: [`SHIPPED_METERS`]).
    Shipped,
}

impl std::fmt::Display for MeterDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeterDir::Path(p) => write!(f, "{}", p.display()),
            MeterDir::Shipped => f.write_str("<shipped>/meters.d"),
        }
    }
}

impl DefinitionFiles {
    /// ceilo's own config directory, laid out like /etc/ceilometer.
    pub fn in_dir(dir: &Path) -> Self {
        DefinitionFiles {
            dir: dir.to_owned(),
            pipeline: dir.join(super::PIPELINE_FILE),
            event_pipeline: dir.join(super::EVENT_PIPELINE_FILE),
            event_definitions: dir.join("event_definitions.yaml"),
            polling: dir.join("polling.yaml"),
            meter_dirs: vec![MeterDir::Path(dir.join("meters.d"))],
            shipped_meters_when_none: true,
            managers: Managers::default(),
        }
    }

    /// The pipeline file of `kind`, unless its manager does not run.
    pub fn pipeline_file(&self, kind: crate::model::Payload) -> Option<&Path> {
        match kind {
            crate::model::Payload::Samples => self.managers.meter.then_some(self.pipeline.as_path()),
            crate::model::Payload::Events => self.managers.event.then_some(self.event_pipeline.as_path()),
        }
    }

    /// The meter directories as logs and reports name them.
    pub fn meter_dirs_text(&self) -> String {
        let dirs: Vec<String> = self.meter_dirs.iter().map(ToString::to_string).collect();
        dirs.join(", ")
    }
}

/// The meter definitions the files give.
pub struct Meters {
    pub definitions: MeterDefinitions,
    /// Definitions that were skipped: warnings (`ceilo run` drops these meters).
    pub skipped: Vec<Problem>,
    /// What was read: the meter directories, or the shipped file.
    pub from: String,
}

/// The event definitions the files give.
pub struct Events {
    pub definitions: EventDefinitions,
    /// What was read: the file, or the shipped one.
    pub from: String,
}

/// Every `*.yaml` file of the meter directories, in precedence order (see the module doc).
pub fn load_meters(files: &DefinitionFiles) -> Result<Meters, Problem> {
    let mut texts: Vec<(PathBuf, String)> = Vec::new();
    let shipped = || (PathBuf::from(SHIPPED_METERS_NAME), SHIPPED_METERS.to_owned());
    for dir in &files.meter_dirs {
        match dir {
            MeterDir::Shipped => texts.push(shipped()),
            MeterDir::Path(dir) => {
                for file in crate::meter::yaml_files(dir)? {
                    let text = std::fs::read_to_string(&file).map_err(|e| Problem::new(&file, None, e))?;
                    texts.push((file, text));
                }
            }
        }
    }
    let from = if texts.is_empty() && files.shipped_meters_when_none {
        texts.push(shipped());
        SHIPPED_METERS_NAME.to_owned()
    } else {
        files.meter_dirs_text()
    };
    let (definitions, skipped) =
        MeterDefinitions::from_texts(texts.iter().map(|(p, t)| (p.as_path(), t.as_str())))?;
    Ok(Meters {
        definitions,
        skipped,
        from,
    })
}

/// The event definitions file, or the shipped one when there is none.
pub fn load_events(files: &DefinitionFiles) -> Result<Events, Problem> {
    let path = &files.event_definitions;
    if path.exists() {
        Ok(Events {
            definitions: EventDefinitions::load(path)?,
            from: path.display().to_string(),
        })
    } else {
        Ok(Events {
            definitions: EventDefinitions::parse(SHIPPED_EVENTS, SHIPPED_EVENTS_NAME)?,
            from: SHIPPED_EVENTS_NAME.to_owned(),
        })
    }
}

/// The converter `ceilo run` uses for `files` with the `[event]` options, and the meter
/// definitions it skipped; the problem that stops it, when one does.
pub fn converter(
    files: &DefinitionFiles,
    options: crate::event::EventOptions,
) -> Result<(Converter, Vec<Problem>), Problem> {
    let managers = files.managers;
    if !managers.meter {
        let events = load_events(files)?;
        tracing::info!(events = %events.from, "definitions loaded; no meter pipeline ([notification] pipelines)");
        let converter = Converter::events_only(events.definitions.with_options(options));
        return Ok((converter, Vec::new()));
    }
    let meters = load_meters(files)?;
    if !managers.event {
        tracing::info!(meters = %meters.from, "definitions loaded; no event pipeline ([notification] pipelines)");
        return Ok((Converter::new(meters.definitions), meters.skipped));
    }
    let events = load_events(files)?;
    tracing::info!(meters = %meters.from, events = %events.from, "definitions loaded");
    let converter = Converter::new(meters.definitions).with_events(events.definitions.with_options(options));
    Ok((converter, meters.skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::envelope::Decoder;

    /// A meters file with one gauge per `(name, unit)`, on event type `probe`.
    fn meters(defs: &[(&str, &str)]) -> String {
        let mut text = String::from("metric:\n");
        for (name, unit) in defs {
            text.push_str(&format!(
                "  - {{name: '{name}', event_type: probe, type: gauge, unit: '{unit}', \
                 volume: 1, resource_id: r}}\n"
            ));
        }
        text
    }

    /// name → unit of what `files` make of a `probe` notification and of two of glance's.
    fn units(files: &DefinitionFiles) -> std::collections::BTreeMap<String, String> {
        let (converter, skipped) = converter(files, Default::default()).expect("definitions");
        assert!(skipped.is_empty());
        let mut out = std::collections::BTreeMap::new();
        for event_type in ["probe", "image.upload", "image.send"] {
            let inner = serde_json::json!({
                "message_id": "m", "publisher_id": "p", "priority": "INFO",
                "event_type": event_type, "timestamp": "2025-01-01 00:00:00",
                "payload": {"id": "i", "size": 1, "image_id": "i", "bytes_sent": 1},
            });
            let body = serde_json::json!({"oslo.version": "2.0", "oslo.message": inner.to_string()});
            let converted = converter
                .convert(&mut Decoder::new(), body.to_string().as_bytes())
                .expect("converted");
            for s in converted.samples {
                out.insert(s.name.to_string(), s.unit.to_string());
            }
        }
        out
    }

    fn oslo(dir: &Path, meter_dirs: Vec<MeterDir>) -> DefinitionFiles {
        DefinitionFiles {
            meter_dirs,
            shipped_meters_when_none: false,
            ..DefinitionFiles::in_dir(dir)
        }
    }

    #[test]
    fn several_meter_dirs_combine_and_the_first_definition_of_a_meter_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // Files sorted by name: 1.yaml before 2.yaml; within a file the last definition wins.
        std::fs::write(a.join("2.yaml"), meters(&[("dup", "a2"), ("only.a", "a")])).unwrap();
        std::fs::write(a.join("1.yaml"), meters(&[("dup", "a1-first"), ("dup", "a1")])).unwrap();
        std::fs::write(a.join(".hidden.yaml"), meters(&[("dup", "hidden")])).unwrap();
        std::fs::write(a.join("notes.txt"), "not yaml: [").unwrap();
        std::fs::write(
            b.join("0.yaml"),
            meters(&[("dup", "b"), ("only.b", "b")])
                + "  - {name: image.size, event_type: image.upload, type: gauge, unit: mine, volume: 1, resource_id: r}\n",
        )
        .unwrap();
        let files = oslo(
            tmp.path(),
            vec![
                MeterDir::Path(a.clone()),
                MeterDir::Path(tmp.path().join("nowhere")),
                MeterDir::Path(b.clone()),
                MeterDir::Shipped,
            ],
        );
        let got = units(&files);
        assert_eq!(got["dup"], "a1");
        assert_eq!(got["only.a"], "a");
        assert_eq!(got["only.b"], "b");
        assert_eq!(got["image.size"], "mine", "b comes before the packaged meters");
        // The packaged meters are there.
        assert_eq!(got["image.download"], "B");
        assert_eq!(
            load_meters(&files).unwrap().from,
            format!(
                "{}, {}, {}, <shipped>/meters.d",
                a.display(),
                tmp.path().join("nowhere").display(),
                b.display()
            )
        );

        // Without the packaged dir, only what the dirs hold.
        let got = units(&oslo(tmp.path(), vec![MeterDir::Path(b.clone())]));
        assert!(!got.contains_key("image.download"), "{got:?}");
        // Dirs with nothing: no meters at all, as Ceilometer.
        let files = oslo(tmp.path(), vec![MeterDir::Path(tmp.path().join("nowhere"))]);
        assert!(load_meters(&files).unwrap().definitions.is_empty());
    }

    #[test]
    fn ceilos_config_dir_falls_back_to_the_shipped_meters_only_without_its_own() {
        let tmp = tempfile::tempdir().unwrap();
        let files = DefinitionFiles::in_dir(tmp.path());
        assert_eq!(load_meters(&files).unwrap().from, SHIPPED_METERS_NAME);
        assert_eq!(units(&files)["image.download"], "B");
        std::fs::create_dir_all(tmp.path().join("meters.d")).unwrap();
        std::fs::write(tmp.path().join("meters.d/mine.yaml"), meters(&[("mine", "u")])).unwrap();
        let got = units(&files);
        assert_eq!(got.keys().collect::<Vec<_>>(), ["mine"]);
    }
}
