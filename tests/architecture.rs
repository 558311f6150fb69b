//! The module structure docs/architecture.md promises, checked on the source: the top-level
//! modules of `src/` use each other in one direction only (no import cycle), and no source
//! file outside tests grows past the size a reader can hold.
//!
//! A module `a` uses `b` when code in `src/a/` (or `src/a.rs`) names `crate::b`, outside
//! comments and `#[cfg(test)]` modules (tests may reach anywhere).

mod source_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use source_support::{code_lines, rust_files};

/// Beyond this a file has more than one job; split it along them.
const MAX_LINES: usize = 700;

/// Arrows that close no cycle today but would turn the table of docs/architecture.md upside
/// down: the settings are plain data that the modules they configure are started with (so
/// `config` names none of them), and publishers and pollsters are handed plain values by the
/// runtime (so neither reads `config` or names `agent`).
const FORBIDDEN: [(&str, &[&str]); 3] = [
    ("config", &["publish", "polling", "pipeline", "agent", "cli"]),
    ("publish", &["config", "agent", "cli"]),
    ("polling", &["agent", "publish", "cli"]),
];

/// The top-level module a file of `src/` belongs to.
fn top_module(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// For each top-level module, the others it names, with one file that does.
fn uses(src: &Path) -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let files = rust_files(src);
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for file in files {
        let from = top_module(src, &file);
        let text = std::fs::read_to_string(&file).expect("read source");
        for line in code_lines(&text) {
            let code = line.split("//").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let name: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != from {
                    graph
                        .entry(from.clone())
                        .or_default()
                        .entry(name)
                        .or_insert(file.clone());
                }
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one: the modules in order.
fn cycle_from(graph: &BTreeMap<String, BTreeMap<String, PathBuf>>, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_owned(), vec![start.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                return Some(path.iter().cloned().chain([next.clone()]).collect());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), path.iter().cloned().chain([next.clone()]).collect()));
            }
        }
    }
    None
}

#[test]
fn top_level_modules_use_each_other_in_one_direction() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = uses(&src);
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|m| cycle_from(&graph, m))
        .map(|cycle| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("{} -> {} ({})", w[0], w[1], graph[&w[0]][&w[1]].display()))
                .collect();
            steps.join(", ")
        })
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles between top-level modules:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn settings_publishers_and_pollsters_use_nothing_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let graph = uses(&src);
    let wrong: Vec<String> = FORBIDDEN
        .iter()
        .flat_map(|(from, never)| {
            let used = graph.get(*from);
            never.iter().filter_map(move |to| {
                used.and_then(|u| u.get(*to))
                    .map(|file| format!("{from} -> {to} ({})", file.display()))
            })
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "arrows docs/architecture.md rules out:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_source_file_outside_tests_is_longer_than_its_reader_can_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let long: Vec<String> = rust_files(&src)
        .iter()
        .filter(|f| f.file_name().is_none_or(|n| n != "tests.rs"))
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).expect("read source");
            let n = code_lines(&text).count();
            (n > MAX_LINES).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines outside tests:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle_and_a_use_in_code_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::create_dir(src.join("a")).expect("mkdir");
    std::fs::write(
        src.join("a/mod.rs"),
        "use crate::b::X;\n// crate::c in a comment\n",
    )
    .expect("a");
    std::fs::write(
        src.join("b.rs"),
        "pub fn f() { crate::a::g() }\n#[cfg(test)]\nmod t { use crate::c; }\n",
    )
    .expect("b");
    std::fs::write(src.join("c.rs"), "").expect("c");
    let graph = uses(src);
    assert_eq!(graph["a"].keys().collect::<Vec<_>>(), ["b"]);
    assert_eq!(graph["b"].keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(
        cycle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "a".into()])
    );
    assert_eq!(cycle_from(&graph, "c"), None);
}
