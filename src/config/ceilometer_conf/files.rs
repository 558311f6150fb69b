//! Where ceilometer.conf puts the definition files (`pipeline_cfg_file`,
//! `event_pipeline_cfg_file`, `[event] definitions_cfg_file`, `[polling] cfg_file`, `[meter]
//! meter_definitions_dirs`) and which pipelines run (`[notification] pipelines`).

use std::path::{Path, PathBuf};

use super::{ConfError, Reader};
use crate::config::definitions::{DefinitionFiles, Managers, MeterDir};

/// Where the definition files are, each found as Ceilometer finds it: the path as given when
/// it exists, else oslo's `find_file` (the `--config-dir`s, then beside the `--config-file`s,
/// the last one first); a file found nowhere is looked for in the pipeline file's directory
/// (ceilo's defaults for a missing file then apply: an empty pipeline, the shipped event
/// definitions, no polling).
pub(super) fn definition_files(r: &mut Reader) -> Result<DefinitionFiles, ConfError> {
    let search = r.conf.search_dirs();
    // ceilometer/agent.py load_config and declarative.load_definitions.
    let find = |name: &str| -> Option<PathBuf> {
        let given = PathBuf::from(name);
        if given.exists() {
            return Some(given);
        }
        search.iter().map(|d| d.join(name)).find(|p| p.exists())
    };
    let pipeline_name = r
        .string(&[("DEFAULT", "pipeline_cfg_file")])?
        .unwrap_or_else(|| crate::config::PIPELINE_FILE.into());
    let found = find(&pipeline_name);
    let dir = match &found {
        Some(found) => match found.parent() {
            Some(p) if p.as_os_str().is_empty() => PathBuf::from("."),
            Some(p) => p.to_owned(),
            None => PathBuf::from("/"),
        },
        None => search.first().cloned().unwrap_or_else(|| PathBuf::from(".")),
    };
    let file = |r: &mut Reader, group: &str, name: &str, default: &str| -> Result<PathBuf, ConfError> {
        let value = r.string(&[(group, name)])?.unwrap_or_else(|| default.into());
        Ok(find(&value).unwrap_or_else(|| dir.join(&value)))
    };
    let event_pipeline = file(
        r,
        "DEFAULT",
        "event_pipeline_cfg_file",
        crate::config::EVENT_PIPELINE_FILE,
    )?;
    let event_definitions = file(r, "event", "definitions_cfg_file", "event_definitions.yaml")?;
    let polling = file(r, "polling", "cfg_file", "polling.yaml")?;
    // Ceilometer's default: /etc/ceilometer/meters.d (here: beside the pipeline file), then
    // its packaged meters.d, which ceilo embeds.
    let packaged = |d: &str| d.trim_end_matches('/').ends_with("ceilometer/data/meters.d");
    let meter_dirs = match r.multi(&[("meter", "meter_definitions_dirs")])? {
        None => vec![MeterDir::Path(dir.join("meters.d")), MeterDir::Shipped],
        Some(dirs) => dirs
            .iter()
            .map(|d| {
                if Path::new(d).is_dir() {
                    MeterDir::Path(PathBuf::from(d))
                } else if packaged(d) {
                    MeterDir::Shipped
                } else {
                    r.notes.push(format!(
                        "[meter] meter_definitions_dirs = {d}: no such directory, no meter \
                         definitions from it (as Ceilometer)"
                    ));
                    MeterDir::Path(PathBuf::from(d))
                }
            })
            .collect(),
    };
    Ok(DefinitionFiles {
        pipeline: found.unwrap_or_else(|| dir.join(&pipeline_name)),
        dir,
        event_pipeline,
        event_definitions,
        polling,
        meter_dirs,
        shipped_meters_when_none: false,
        managers: managers(r)?,
    })
}

/// Which pipelines run (`[notification] pipelines`, default both): a name that is neither
/// Ceilometer logs ("Could not load the following pipelines") and runs without.
fn managers(r: &mut Reader) -> Result<Managers, ConfError> {
    let Some(names) = r.multi(&[("notification", "pipelines")])? else {
        return Ok(Managers::default());
    };
    let mut managers = Managers {
        meter: false,
        event: false,
    };
    for name in names {
        match name.as_str() {
            "meter" => managers.meter = true,
            "event" => managers.event = true,
            other => r.notes.push(format!(
                "[notification] pipelines = {other}: no such pipeline (Ceilometer's are meter \
                 and event), none runs for it"
            )),
        }
    }
    Ok(managers)
}
