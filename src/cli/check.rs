//! `ceilo check`: validate every definition and config file of a config directory (or those
//! ceilometer.conf names), reporting file, line and problem; exit non-zero when anything is wrong.
//!
//! check = run: what stops `ceilo run` is a problem (non-zero exit); what `run` starts without
//! (a meter definition it skips, a meter no pollster serves) is a named warning. Definitions
//! the directory lacks are the shipped ones, as for `run` (see
//! [`ceilo::config::definitions`]).

use std::process::ExitCode;

use ceilo::config::definitions::{self, DefinitionFiles};
use ceilo::config::{Settings, SETTINGS_FILE};
use ceilo::model::Payload;
use ceilo::pipeline::Pipeline;
use ceilo::problem::Problem;

use crate::cli::config_args::{ConfigArgs, Resolved};

/// What a check found: problems stop `ceilo run`, warnings do not.
#[derive(Default)]
struct Report {
    checked: Vec<String>,
    problems: Vec<String>,
    warnings: Vec<String>,
    /// What ceilo does with options it honours in its own way (neither problems nor warnings).
    notes: Vec<String>,
}

/// `transport_url`: `--transport-url`, which overrides ceilo.yaml's for `run`.
pub fn check(config: &ConfigArgs, transport_url: Option<&str>) -> ExitCode {
    let mut report = Report::default();
    let resolved = match config.resolve() {
        Ok(r) => r,
        Err(e) => {
            report
                .checked
                .extend(config.config_file.iter().map(|f| f.display().to_string()));
            report.problems.push(e);
            return report.print();
        }
    };
    let config_dir = resolved.files.dir.as_path();
    if !config_dir.is_dir() {
        eprintln!("ceilo check: {} is not a directory", config_dir.display());
        return ExitCode::FAILURE;
    }
    if let Some(conf) = &resolved.conf {
        report
            .checked
            .extend(config.config_file.iter().map(|f| f.display().to_string()));
        report.checked.extend(
            config
                .config_dir
                .iter()
                .map(|d| format!("{}/*.conf", d.display())),
        );
        report.warnings.extend(
            conf.ignored
                .iter()
                .map(|o| format!("{o}: not implemented by ceilo, ignored")),
        );
        report.notes.extend(conf.notes.iter().cloned());
        report.warnings.extend(
            conf.unknown
                .iter()
                .map(|o| format!("{o}: unknown option (not one of Ceilometer 27's), ignored")),
        );
    }
    // What `[notification] pipelines` leaves out, `run` does not read.
    if resolved.files.managers.meter {
        check_meters(&resolved.files, &mut report);
    }
    if resolved.files.managers.event {
        check_events(&resolved.files, &mut report);
    }
    check_agent_config(&resolved.files, &mut report);
    check_polling(&resolved, &mut report);
    check_partitions(&resolved, &mut report);
    if let Some(url) = transport_url {
        ceilo::config::secrets::register_url(url);
        // With the RabbitMQ options (TLS) run will use (the defaults when the settings do not
        // load: check_agent_config reports that).
        let rabbit = resolved.settings().map(|s| s.rabbit).unwrap_or_default();
        if let Err(e) = ceilo::transport::check_url(url, &rabbit) {
            report.problems.push(format!("--transport-url: {e}"));
        }
    }
    report.print()
}

impl Report {
    /// The problems, the warnings and a summary on stdout; failure when there are problems.
    fn print(self) -> ExitCode {
        let Report {
            checked,
            problems,
            warnings,
            notes,
        } = self;
        // Problems quote what they are about: never a secret (see ceilo::config::secrets).
        let redact = ceilo::config::secrets::redact;
        for p in &problems {
            println!("{}", redact(p));
        }
        for w in &warnings {
            println!("warning: {}", redact(w));
        }
        for n in &notes {
            println!("note: {}", redact(n));
        }
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        println!(
            "checked {}: {} problem{}, {} warning{}",
            if checked.is_empty() {
                "nothing".to_owned()
            } else {
                checked.join(", ")
            },
            problems.len(),
            plural(problems.len()),
            warnings.len(),
            plural(warnings.len()),
        );
        if problems.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// A meter definition that does not compile is skipped by `run` (as by Ceilometer): a warning.
fn check_meters(files: &DefinitionFiles, report: &mut Report) {
    match definitions::load_meters(files) {
        Ok(meters) => {
            report.checked.push(meters.from);
            report.warnings.extend(
                meters
                    .skipped
                    .iter()
                    .map(|p| format!("{p} (skipped: ceilo run starts without this meter)")),
            );
        }
        Err(e) => {
            report.checked.push(files.meter_dirs_text());
            report.problems.push(e.to_string());
        }
    }
}

/// A bad event definition stops `run` (as it stops Ceilometer): a problem.
fn check_events(files: &DefinitionFiles, report: &mut Report) {
    match definitions::load_events(files) {
        Ok(events) => report.checked.push(events.from),
        Err(e) => {
            report.checked.push(files.event_definitions.display().to_string());
            report.problems.push(e.to_string());
        }
    }
}

/// ceilo.yaml and the two pipeline files: the problems `run` stops at, as it prints them (the
/// pipelines compile here as they do there), and the pipelines' warnings; then the resource
/// definitions their `gnocchi://` publishers load.
fn check_agent_config(files: &DefinitionFiles, report: &mut Report) {
    let settings_file = files.dir.join(SETTINGS_FILE);
    let pipeline_files = [Payload::Samples, Payload::Events].map(|kind| files.pipeline_file(kind));
    for file in std::iter::once(Some(settings_file.as_path())).chain(pipeline_files) {
        if let Some(file) = file.filter(|f| f.exists()) {
            report.checked.push(file.display().to_string());
        }
    }
    if let Err(e) = Settings::load(&files.dir) {
        report.problems.push(Problem::from(e).to_string());
    }
    let mut pipelines = Vec::new();
    for kind in [Payload::Samples, Payload::Events] {
        let Some(file) = files.pipeline_file(kind) else {
            continue;
        };
        match Pipeline::load(file, kind) {
            Ok(pipeline) => {
                ceilo::agent::remember_brokers_passwords(&pipeline);
                report
                    .warnings
                    .extend(pipeline.warnings().iter().map(Problem::to_string));
                pipelines.push(pipeline);
            }
            Err(problems) => report.problems.extend(problems.iter().map(Problem::to_string)),
        }
    }
    check_gnocchi_resources(&pipelines, files, report);
}

/// gnocchi_resources.yaml (or the file a `gnocchi://` publisher names): unusable stops `run`, a
/// resource definition that does not compile is skipped by it (as by Ceilometer): a warning.
fn check_gnocchi_resources(pipelines: &[Pipeline], files: &DefinitionFiles, report: &mut Report) {
    let urls = pipelines.iter().flat_map(Pipeline::publishers);
    for checked in ceilo::publish::gnocchi::check_resources(urls, &files.dir) {
        match checked {
            Ok((file, skipped)) => {
                report.checked.push(file.display().to_string());
                report.warnings.extend(
                    skipped
                        .iter()
                        .map(|p| format!("{p} (skipped: ceilo run starts without this resource definition)")),
                );
            }
            Err(problem) => {
                report.checked.push(problem.path.display().to_string());
                report.problems.push(problem.to_string());
            }
        }
    }
}

/// The coordination URL the transform partitions are spread through, as `run` takes it: one
/// given for them must be usable; `[coordination] backend_url` (set for other agents) unusable
/// only leaves the partitions unspread.
fn check_partitions(resolved: &Resolved, report: &mut Report) {
    let Ok(settings) = resolved.settings() else {
        return;
    };
    let url = settings.partition_coordination_url();
    if settings.notification.transform_partitions == 0 || url.is_empty() {
        return;
    }
    if let Err(e) = ceilo::coordination::BackendUrl::parse(url) {
        if settings.notification.partition_coordination_url.is_empty() {
            report.warnings.push(format!(
                "{e}: the transform partitions will not be spread over the agents"
            ));
        } else {
            let ceilo::coordination::UrlError::Invalid { url, reason } = e;
            report.problems.push(format!(
                "notification.partition_coordination_url {url:?}: {reason}"
            ));
        }
    }
}

/// The polling file and the dynamic pollster definitions it can use. Meters no pollster serves
/// are warnings (Ceilometer polls nothing for them either), not problems.
fn check_polling(resolved: &Resolved, report: &mut Report) {
    let path = &resolved.files.polling;
    if !path.exists() {
        return;
    }
    report.checked.push(path.display().to_string());
    // The polling options as run uses them (a ceilo.yaml that does not load is reported by
    // check_agent_config; its defaults stand in here).
    let options = resolved
        .settings()
        .map(|s| s.polling_options())
        .unwrap_or_default();
    match ceilo::polling::check(path, &options) {
        Ok(warnings) => report.warnings.extend(warnings),
        Err(e) => report.problems.push(match e.into_problem() {
            Ok(problem) => problem.to_string(),
            Err(e) => e.to_string(),
        }),
    }
}
