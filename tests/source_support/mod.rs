//! The crate's own sources read as text, for the tests that check a rule on them (the import
//! arrows and file sizes of `architecture`, who spells metric names in `health_catalogue`).

use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, at any depth.
pub fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    collect(dir, &mut out);
    out
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's lines up to its first `#[cfg(test)]` item: its code, which the rules are about
/// (tests may reach anywhere and spell anything).
pub fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
}
