//! The operator-facing files agree with what ceilo exports: the alert rules pass
//! `promtool check rules` and their unit tests, the scrape config passes `promtool check
//! config`, every `ceilo_*` name in the dashboards and rules is in the catalogue, every
//! dashboard query parses as PromQL, docs/metrics.md lists exactly the catalogue (and no doc
//! names a metric outside it), and no code but the catalogue spells a metric name (so nothing
//! is exported that it does not list).

mod health_support;
mod source_support;

use std::collections::BTreeSet;

use ceilo::telemetry::metrics::{is_exported_series, CATALOGUE};
use health_support::*;
use source_support::{code_lines, rust_files};

/// Every `ceilo_…` token in `text` (a metric name cannot follow a name character).
fn ceilo_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find("ceilo_") {
        let start = from + pos;
        let mut end = start + "ceilo_".len();
        while end < bytes.len() && is_name(bytes[end]) {
            end += 1;
        }
        // A bare `ceilo_` is the prefix being talked about, not a name.
        if (start == 0 || !is_name(bytes[start - 1])) && end > start + "ceilo_".len() {
            names.insert(text[start..end].to_owned());
        }
        from = end;
    }
    names
}

fn read(relative: &str) -> String {
    let path = repo_path(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

#[test]
fn name_scanner_finds_whole_names_only() {
    let names = ceilo_names("rate(ceilo_a_total[5m]) / x_ceilo_b + ceilo_c_bucket{le=\"1\"}");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec!["ceilo_a_total", "ceilo_c_bucket"]
    );
}

#[test]
fn dashboards_and_rules_only_use_exported_metrics() {
    let files = [
        "dashboards/ceilo-agents.json",
        "dashboards/alerts.yml",
        "dashboards/alerts.test.yml",
    ];
    let mut used = BTreeSet::new();
    for file in files {
        let names = ceilo_names(&read(file));
        assert!(!names.is_empty(), "{file} uses no ceilo metric: wrong file?");
        for name in names {
            assert!(
                is_exported_series(&name),
                "{file} uses {name}, which ceilo does not export"
            );
            used.insert(name);
        }
    }
    // The alert rules exercise the core of the catalogue.
    for needed in [
        "ceilo_notifications_dead_lettered_total",
        "ceilo_actor_restarts_total",
        "ceilo_ready",
    ] {
        assert!(used.contains(needed), "{needed} is used by no dashboard or rule");
    }
}

#[test]
fn docs_list_exactly_the_catalogue() {
    let documented = ceilo_names(&read("docs/metrics.md"));
    let catalogue: BTreeSet<String> = CATALOGUE.iter().map(|def| def.name.to_owned()).collect();
    // The doc may show derived series in PromQL examples (`_sum`), which must exist too.
    for name in &documented {
        assert!(
            is_exported_series(name),
            "docs/metrics.md names {name}, which is not in the catalogue"
        );
    }
    let missing: Vec<_> = catalogue.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "docs/metrics.md does not document {missing:?}"
    );
}

#[test]
fn every_metric_any_doc_names_is_exported() {
    let mut docs: Vec<_> = std::fs::read_dir(repo_path("docs"))
        .expect("docs/")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(repo_path("README.md"));
    let mut unknown = Vec::new();
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("read doc");
        for name in ceilo_names(&text) {
            if !is_exported_series(&name) {
                unknown.push(format!("{}: {name}", doc.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "the docs name metrics ceilo does not export:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn only_the_catalogue_spells_a_metric_name() {
    let catalogue = repo_path("src/telemetry/metrics.rs");
    let files = rust_files(&repo_path("src"));
    let mut wrong = Vec::new();
    for file in files.iter().filter(|f| **f != catalogue) {
        let text = std::fs::read_to_string(file).expect("read source");
        // Tests may spell the names they look for; comments may name them.
        let code = code_lines(&text)
            .enumerate()
            .filter(|(_, l)| !l.trim_start().starts_with("//"));
        for (n, line) in code {
            for name in ceilo_names(line) {
                if line.contains(&format!("\"{name}")) {
                    wrong.push(format!("{}:{}: {name}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "metric names spelled outside the catalogue (src/telemetry/metrics.rs), so neither it \
         nor docs/metrics.md lists them:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn dashboard_is_well_formed_grafana_json() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("dashboards/ceilo-agents.json")).expect("valid JSON");
    assert_eq!(dashboard["uid"], "ceilo-agents");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(variables, ["datasource", "job", "instance"]);

    let panels = dashboard["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    let mut rects = Vec::new();
    let mut rows = 0;
    for panel in panels {
        let id = panel["id"].as_u64().expect("numeric panel id");
        assert!(ids.insert(id), "panel id {id} repeated");
        let pos = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| pos[k].as_u64().expect("gridPos field"));
        assert!(x + w <= 24, "panel {id} overflows the 24-column grid");
        for &(ox, oy, ow, oh, other) in &rects {
            let overlap = x < ox + ow && ox < x + w && y < oy + oh && oy < y + h;
            assert!(!overlap, "panels {id} and {other} overlap");
        }
        rects.push((x, y, w, h, id));
        if panel["type"] == "row" {
            rows += 1;
            continue;
        }
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "panel {id} must use the datasource variable"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {id} has no query");
        for target in targets {
            assert!(
                target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "panel {id}: empty expr"
            );
            assert!(
                target["refId"].as_str().is_some(),
                "panel {id}: target without refId"
            );
        }
    }
    assert_eq!(panels[0]["title"], "Overview");
    assert!(rows >= 6, "an overview row and a row per subsystem");
}

/// Dashboard queries, with Grafana's variables replaced by what they expand to.
fn dashboard_queries() -> Vec<String> {
    fn collect(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(expr) = map.get("expr").and_then(|e| e.as_str()) {
                    out.push(expr.to_owned());
                }
                map.values().for_each(|v| collect(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("dashboards/ceilo-agents.json")).expect("valid JSON");
    let mut queries = Vec::new();
    collect(&dashboard, &mut queries);
    queries
        .into_iter()
        .map(|q| {
            q.replace("$__rate_interval", "1m")
                .replace("$job", ".*")
                .replace("$instance", ".*")
        })
        .collect()
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let promtool = promtool();
    // promtool has no "check this expression" command in Debian's version; recording rules
    // are parsed with the same PromQL parser.
    let rules: Vec<yaml_serde::Value> = dashboard_queries()
        .into_iter()
        .enumerate()
        .map(|(i, expr)| {
            let mut rule = yaml_serde::Mapping::new();
            rule.insert("record".into(), format!("dashboard:query_{i}").into());
            rule.insert("expr".into(), expr.into());
            yaml_serde::Value::Mapping(rule)
        })
        .collect();
    let mut group = yaml_serde::Mapping::new();
    group.insert("name".into(), "dashboard".into());
    group.insert("rules".into(), yaml_serde::Value::Sequence(rules));
    let mut doc = yaml_serde::Mapping::new();
    doc.insert("groups".into(), yaml_serde::Value::Sequence(vec![group.into()]));
    let doc = yaml_serde::to_string(&doc).expect("serialize rules");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, doc).expect("write rules");
    let (ok, output) = run_promtool(
        &promtool,
        &["check", "rules", path.to_str().expect("utf-8 path")],
        None,
    );
    assert!(ok, "a dashboard query does not parse:\n{output}");
}

#[test]
fn alert_rules_pass_promtool_check_rules() {
    let promtool = promtool();
    let rules = repo_path("dashboards/alerts.yml");
    let (ok, output) = run_promtool(
        &promtool,
        &["check", "rules", rules.to_str().expect("utf-8 path")],
        None,
    );
    assert!(ok, "promtool check rules:\n{output}");
}

#[test]
fn every_alert_has_a_runbook_with_meaning_and_action() {
    let rules: yaml_serde::Value = yaml_serde::from_str(&read("dashboards/alerts.yml")).expect("alerts.yml");
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            let runbook = rule["annotations"]["runbook"].as_str().unwrap_or_default();
            assert!(
                runbook.contains("Meaning:") && runbook.contains("Act:"),
                "{}: runbook incomplete",
                rule["alert"].as_str().unwrap_or("?")
            );
            alerts += 1;
        }
    }
    assert!(alerts >= 5);
}

/// Exactly what dashboards/README.md tells an operator to run, annotations included.
#[test]
fn alert_rules_fire_as_their_unit_tests_expect() {
    let output = std::process::Command::new(promtool())
        .args(["test", "rules", "alerts.test.yml"])
        .current_dir(repo_path("dashboards"))
        .output()
        .expect("run promtool");
    assert!(
        output.status.success(),
        "cd dashboards && promtool test rules alerts.test.yml:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_required_alert_exists() {
    let rules = read("dashboards/alerts.yml");
    for alert in [
        "CeiloAgentDown",
        "CeiloNotKeepingUp",
        "CeiloDeadLettersRising",
        "CeiloPublisherFailing",
        "CeiloRestartsLooping",
    ] {
        assert!(rules.contains(&format!("alert: {alert}\n")), "{alert} missing");
    }
}

#[test]
fn fleet_scrape_config_passes_promtool_check_config() {
    let promtool = promtool();
    let config = repo_path("dashboards/prometheus.yml");
    let (ok, output) = run_promtool(
        &promtool,
        &["check", "config", config.to_str().expect("utf-8 path")],
        None,
    );
    assert!(ok, "promtool check config:\n{output}");
    let targets: yaml_serde::Value =
        yaml_serde::from_str(&read("dashboards/targets/example.yml")).expect("targets");
    assert!(targets[0]["targets"].as_sequence().is_some_and(|t| !t.is_empty()));
}

#[test]
fn committed_dashboard_is_what_the_generator_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("ceilo-agents.json");
    let script = repo_path("dashboards/generate_dashboard.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg(&out)
        .output()
        .expect("python3 runs the dashboard generator")
        .status;
    assert!(status.success(), "{} failed", script.display());
    let generated = std::fs::read_to_string(&out).expect("generated dashboard");
    assert!(
        generated == read("dashboards/ceilo-agents.json"),
        "dashboards/ceilo-agents.json is stale: run python3 dashboards/generate_dashboard.py"
    );
}
