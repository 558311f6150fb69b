//! The pipeline compiler's transformer problems: every one of a pipeline file, at its line.

use std::io::Write;
use std::path::Path;

use ceilo::model::Payload;
use ceilo::pipeline::Pipeline;

/// Every problem of the pipeline file at `path`, as `ceilo check` and `ceilo run` print them.
fn check_path(path: &Path) -> Vec<String> {
    let problems = Pipeline::load(path, Payload::Samples).err().unwrap_or_default();
    problems.iter().map(ToString::to_string).collect()
}

fn check(yaml: &str) -> (Vec<String>, String) {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(yaml.as_bytes()).unwrap();
    let path = f.path().display().to_string();
    (check_path(f.path()), path)
}

#[test]
fn ceilometers_own_pre_stein_pipeline_is_clean() {
    let (problems, _) = check(
        r#"---
sources:
    - name: meter_source
      meters:
          - "*"
      sinks:
          - meter_sink
    - name: cpu_source
      meters:
          - "cpu"
      sinks:
          - cpu_sink
          - cpu_delta_sink
sinks:
    - name: meter_sink
      transformers:
      publishers:
          - gnocchi://
    - name: cpu_sink
      transformers:
          - name: "rate_of_change"
            parameters:
                target:
                    name: "cpu_util"
                    unit: "%"
                    type: "gauge"
                    max: 100
                    scale: "100.0 / (10**9 * (resource_metadata.cpu_number or 1))"
      publishers:
          - gnocchi://
    - name: cpu_delta_sink
      transformers:
          - name: "delta"
            parameters:
                target:
                    name: "cpu.delta"
                growth_only: True
      publishers:
          - gnocchi://
    - name: disk_sink
      transformers:
          - name: "rate_of_change"
            parameters:
                source:
                    map_from:
                        name: "(disk\\.device|disk)\\.(read|write)\\.(bytes|requests)"
                        unit: "(B|request)"
                target:
                    map_to:
                        name: "\\1.\\2.\\3.rate"
                        unit: "\\1/s"
                    type: "gauge"
      publishers:
          - gnocchi://
"#,
    );
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn problems_carry_file_and_line() {
    let (problems, path) = check(
        r#"sources:
  - name: s
    meters: ["*"]
    sinks: [a, b]
sinks:
  - name: a
    publishers: ["notifier://"]
    transformers:
      - name: unit_conversion
        parameters:
          target:
            unit: KB
            scale: "volume * 1.0 / (1024"
      - name: rate_of_chang
  - name: b
    transformers:
    - name: aggregator
      parameters:
        size: 10
        user_id: newest
    - name: arithmetic
      parameters: {target: {expr: "$(memory.usage) * 100 / $(memory) $"}}
    publishers: ["notifier://"]
"#,
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with(&format!("{path}:13: sink \"a\"")),
        "{}",
        problems[0]
    );
    assert!(
        problems[0].contains("target.scale: expression \"volume * 1.0 / (1024\", column 21: expected ')'"),
        "{}",
        problems[0]
    );
    assert!(
        problems[1].starts_with(&format!("{path}:14: ")),
        "{}",
        problems[1]
    );
    assert!(
        problems[1].contains("unknown transformer \"rate_of_chang\""),
        "{}",
        problems[1]
    );
    assert!(
        problems[2].starts_with(&format!("{path}:20: sink \"b\"")),
        "{}",
        problems[2]
    );
    assert!(problems[2].contains("user_id"), "{}", problems[2]);
    assert!(
        problems[3].starts_with(&format!("{path}:22: ")),
        "{}",
        problems[3]
    );
}

#[test]
fn yaml_errors_keep_their_line() {
    let (problems, path) = check("sinks:\n  - name: a\n    transformers: [\n");
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with(&format!("{path}:")), "{}", problems[0]);
}

#[test]
fn an_unreadable_file_is_one_problem() {
    let dir = tempfile::tempdir().unwrap();
    let problems = check_path(dir.path());
    assert_eq!(problems.len(), 1);
    assert!(problems[0].contains("cannot read"), "{}", problems[0]);
    // A missing file is no problem: it is an empty pipeline, for check as for run.
    assert!(check_path(&dir.path().join("pipeline.yaml")).is_empty());
}
