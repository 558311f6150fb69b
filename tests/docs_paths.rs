//! The repository paths that docs/*.md and the README name (`src/agent/mailbox.rs`,
//! `tests/runtime_*.rs`, `config/ceilo.yaml`, ...) exist, so that a file moved or renamed takes
//! its mentions with it. A path is a word with a `/` whose first part is a top-level directory
//! of the repository; `*` matches within one part; a path with a `<placeholder>` is a pattern
//! for new code and is skipped. docs/architecture.md, the map of `src/`, also names files by
//! their module (`agent/mailbox.rs`, `agent/listener`): those exist under `src/`.

use std::path::Path;

/// The top-level directories whose paths the docs name.
const TOP: [&str; 11] = [
    "src",
    "tests",
    "fuzz",
    "loadgen",
    "docs",
    "config",
    "scripts",
    "benches",
    "dashboards",
    "packaging",
    ".ci",
];

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/*<>".contains(c)
}

/// The repository paths named in `text`.
fn paths(text: &str) -> Vec<&str> {
    text.split(|c: char| !is_path_char(c))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| word.contains('/') && !word.contains('<'))
        .filter(|word| TOP.contains(&word.split('/').next().unwrap_or("")))
        .collect()
}

/// The paths in `text` that start with a module directory of `src/` (`agent/ack.rs`).
fn module_paths<'t>(text: &'t str, src: &Path) -> Vec<&'t str> {
    text.split(|c: char| !is_path_char(c))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| word.contains('/') && !word.contains('<'))
        .filter(|word| {
            let first = word.split('/').next().unwrap_or("");
            !first.is_empty() && !TOP.contains(&first) && src.join(first).is_dir()
        })
        .collect()
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(tail) = name.strip_prefix(head) else {
                return false;
            };
            (0..=tail.len()).any(|at| tail.is_char_boundary(at) && matches(rest, &tail[at..]))
        }
    }
}

/// Whether something under `dir` matches the path parts `parts`.
fn exists(dir: &Path, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return true;
    };
    if first.is_empty() {
        return exists(dir, rest);
    }
    if !first.contains('*') {
        let next = dir.join(first);
        return next.exists() && exists(&next, rest);
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .any(|entry| matches(first, &entry.file_name().to_string_lossy()) && exists(&entry.path(), rest))
}

#[test]
fn the_scanner_finds_repository_paths_only() {
    let text = "see `src/agent/mailbox.rs`, tests/runtime_*.rs and docs/metrics.md. Not \
                http://x/y, /etc/ceilo/, ../shared/a.md, `publish/<scheme>.rs` or target/x.";
    assert_eq!(
        paths(text),
        vec!["src/agent/mailbox.rs", "tests/runtime_*.rs", "docs/metrics.md"]
    );
    assert!(matches("runtime_*.rs", "runtime_amqp.rs"));
    assert!(!matches("runtime_*.rs", "runtime_amqp.rs~"));
}

#[test]
fn every_path_the_docs_name_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.push(root.join("README.md"));
    let mut missing = Vec::new();
    let mut checked = 0;
    for doc in &docs {
        let text = std::fs::read_to_string(doc).expect("read doc");
        for (n, line) in text.lines().enumerate() {
            for path in paths(line) {
                checked += 1;
                let parts: Vec<&str> = path.split('/').collect();
                if !exists(root, &parts) {
                    missing.push(format!("{}:{}: {path}", doc.display(), n + 1));
                }
            }
        }
    }
    let src = root.join("src");
    let map = std::fs::read_to_string(root.join("docs/architecture.md")).expect("the map");
    for (n, line) in map.lines().enumerate() {
        for path in module_paths(line, &src) {
            checked += 1;
            let parts: Vec<&str> = path.split('/').collect();
            // `agent/listener` names the module, `agent/ack.rs` its file.
            let file = format!("{path}.rs");
            let file: Vec<&str> = file.split('/').collect();
            if !exists(&src, &parts) && !exists(&src, &file) {
                missing.push(format!("docs/architecture.md:{}: {path} (under src/)", n + 1));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} paths found: is the scanner broken?"
    );
    assert!(
        missing.is_empty(),
        "the docs name paths that do not exist:\n{}",
        missing.join("\n")
    );
}
