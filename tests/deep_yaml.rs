//! Definition and config files whose flow collections nest too deeply are refused by every
//! loader with the nesting error, naming the line, instead of taking minutes in libyaml's
//! scanner (found by the fuzzer, target yaml).

use std::path::Path;

use ceilo::config::{PipelineFile, Settings};
use ceilo::event::EventDefinitions;
use ceilo::meter::MeterDefinitions;
use ceilo::model::Payload;
use ceilo::polling::dynamic::DynamicDefinition;
use ceilo::polling::PollingConfig;

/// A well-formed document whose second line nests `depth` flow levels.
fn deep(depth: usize) -> String {
    format!("---\nsources: {}x{}\n", "{a: ".repeat(depth), "}".repeat(depth))
}

/// Every YAML loader's error message for `text`.
fn errors(text: &str) -> Vec<(&'static str, String)> {
    let path = Path::new("deep.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, text).expect("write");
    let err = |r: Result<(), String>| r.expect_err("deep YAML is refused");
    vec![
        (
            "meters",
            err(MeterDefinitions::from_texts([(path, text)])
                .map(drop)
                .map_err(|e| e.to_string())),
        ),
        (
            "events",
            err(EventDefinitions::parse(text, path)
                .map(drop)
                .map_err(|e| e.to_string())),
        ),
        (
            "pipeline",
            err(PipelineFile::parse(text, path, Payload::Samples)
                .map(drop)
                .map_err(|e| e.to_string())),
        ),
        (
            "polling",
            err(PollingConfig::parse(text, path)
                .map(drop)
                .map_err(|e| e.to_string())),
        ),
        (
            "settings",
            err(Settings::parse(text, path).map(drop).map_err(|e| e.to_string())),
        ),
        (
            "dynamic pollsters",
            err(DynamicDefinition::parse_file(text, path)
                .map(drop)
                .map_err(|e| e.to_string())),
        ),
        (
            "pipeline compile",
            ceilo::pipeline::Pipeline::load(&file, Payload::Samples)
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
    ]
}

#[test]
fn every_yaml_loader_refuses_flow_nesting_past_the_limit_naming_the_line() {
    for (loader, message) in errors(&deep(20_000)) {
        assert!(
            message.contains("nested deeper than 1000 levels") && message.contains("line 2"),
            "{loader}: {message}"
        );
    }
}

#[test]
fn nesting_below_the_limit_gets_the_loaders_own_errors() {
    // yaml_serde's recursion limit (128) still refuses these, with its own message.
    for (loader, message) in errors(&deep(900)) {
        assert!(
            !message.contains("nested deeper than 1000"),
            "{loader}: {message}"
        );
    }
}
