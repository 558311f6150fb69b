//! `ceilo check`: validate every definition and config file of a config directory, reporting
//! file, line and problem; exit non-zero when anything is wrong. Files that are absent are
//! skipped (Ceilometer falls back to its packaged defaults for them).

use std::path::Path;
use std::process::ExitCode;

use ceilo::event::EventDefinitions;
use ceilo::meter::MeterDefinitions;

pub fn check(config_dir: &Path) -> ExitCode {
    if !config_dir.is_dir() {
        eprintln!("ceilo check: {} is not a directory", config_dir.display());
        return ExitCode::FAILURE;
    }
    let mut checked = Vec::new();
    let mut problems = Vec::new();
    check_meters(config_dir, &mut checked, &mut problems);
    check_events(config_dir, &mut checked, &mut problems);
    check_agent_config(config_dir, &mut checked, &mut problems);
    check_polling(config_dir, &mut checked, &mut problems);
    for p in &problems {
        println!("{p}");
    }
    println!(
        "checked {}: {} problem{}",
        if checked.is_empty() {
            "nothing".to_owned()
        } else {
            checked.join(", ")
        },
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn check_meters(dir: &Path, checked: &mut Vec<String>, problems: &mut Vec<String>) {
    let meters = dir.join("meters.d");
    if !meters.exists() {
        return;
    }
    checked.push(meters.display().to_string());
    match MeterDefinitions::load(&meters) {
        Ok((_, found)) => problems.extend(found.iter().map(ToString::to_string)),
        Err(e) => problems.push(e.to_string()),
    }
}

fn check_events(dir: &Path, checked: &mut Vec<String>, problems: &mut Vec<String>) {
    let path = dir.join("event_definitions.yaml");
    if !path.exists() {
        return;
    }
    checked.push(path.display().to_string());
    if let Err(e) = EventDefinitions::load(&path) {
        problems.push(e.to_string());
    }
}

/// ceilo.yaml, pipeline.yaml and event_pipeline.yaml.
fn check_agent_config(dir: &Path, checked: &mut Vec<String>, problems: &mut Vec<String>) {
    for file in ["ceilo.yaml", "pipeline.yaml", "event_pipeline.yaml"] {
        if dir.join(file).exists() {
            checked.push(dir.join(file).display().to_string());
        }
    }
    problems.extend(ceilo::config::check(dir).iter().map(ToString::to_string));
}

/// polling.yaml and the dynamic pollster definitions it can use. Meters no pollster serves are
/// warnings (Ceilometer polls nothing for them either), not problems.
fn check_polling(dir: &Path, checked: &mut Vec<String>, problems: &mut Vec<String>) {
    let path = dir.join("polling.yaml");
    if !path.exists() {
        return;
    }
    checked.push(path.display().to_string());
    match ceilo::polling::check(&path, &ceilo::polling::PollingOptions::default()) {
        Ok(warnings) => {
            for w in warnings {
                eprintln!("warning: {w}");
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
}
