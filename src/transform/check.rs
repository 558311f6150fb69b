//! `ceilo check` for transformers: compile every sink's `transformers:` list of a pipeline
//! file and report each problem as `file:line: problem`.
//!
//! yaml_serde's values carry no positions, so lines come from a small scan of the text: the
//! n-th `transformers:` key is the n-th sink that has one, its list items are the entries,
//! and a parameter's line is the first line of the entry that names it. It checks
//! transformers only; sources, sinks and publishers are the pipeline loader's to check.

use std::path::Path;

use super::{build, entry, TransformError};

/// Every transformer problem in the pipeline file at `path`, as `file:line: problem`.
pub fn check_pipeline_transformers(path: &Path) -> Vec<String> {
    let file = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{file}: cannot read: {e}")],
    };
    let doc: yaml_serde::Value = match crate::model::yaml_read::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let line = e.location().map_or(1, |l| l.line());
            return vec![format!("{file}:{line}: {e}")];
        }
    };
    let blocks = transformer_blocks(&text);
    let mut problems = Vec::new();
    let Some(sinks) = doc.get("sinks").and_then(|s| s.as_sequence()) else {
        return problems;
    };
    let mut block = 0;
    for (i, sink) in sinks.iter().enumerate() {
        let Some(list) = sink.get("transformers") else {
            continue;
        };
        let sink_name = sink.get("name").and_then(|n| n.as_str()).unwrap_or("?");
        let here = blocks.get(block);
        block += 1;
        let key_line = here.map_or(1, |b| b.key_line);
        let entries = match list {
            yaml_serde::Value::Null => continue,
            yaml_serde::Value::Sequence(s) => s,
            _ => {
                problems.push(format!(
                    "{file}:{key_line}: sink {sink_name:?}: transformers must be a list"
                ));
                continue;
            }
        };
        for (j, value) in entries.iter().enumerate() {
            let result = entry(value).and_then(|(kind, params)| build(&kind, params).map(|_| ()));
            if let Err(e) = result {
                let item = here.and_then(|b| b.items.get(j));
                let line = item.map_or(key_line, |it| it.line_of(e.param.as_deref()));
                let name = value.get("name").and_then(|n| n.as_str());
                let e = TransformError {
                    index: Some(j),
                    transformer: name.map(str::to_owned),
                    ..e
                };
                problems.push(format!("{file}:{line}: sink {sink_name:?} (sinks[{i}]): {e}"));
            }
        }
    }
    problems
}

struct Block {
    key_line: usize,
    items: Vec<Item>,
}

struct Item {
    /// 1-based line of the `- ` that starts the entry.
    line: usize,
    /// The entry's lines (trimmed), with their 1-based numbers.
    lines: Vec<(usize, String)>,
}

impl Item {
    /// The line naming the last component of `param` (`target.scale` → `scale:`), else the
    /// entry's first line.
    fn line_of(&self, param: Option<&str>) -> usize {
        let Some(param) = param else {
            return self.line;
        };
        let last = param.rsplit('.').next().unwrap_or(param);
        let key = format!("{last}:");
        self.lines
            .iter()
            .find(|(_, l)| {
                l.trim_start_matches("- ")
                    .trim_start_matches(['{', ' '])
                    .starts_with(&key)
            })
            .or_else(|| self.lines.iter().find(|(_, l)| l.contains(&key)))
            .map_or(self.line, |(n, _)| *n)
    }
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Every `transformers:` block in document order, with its list items.
fn transformer_blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start().trim_start_matches("- ");
        if !(trimmed.starts_with("transformers:") || trimmed.starts_with("\"transformers\":")) {
            i += 1;
            continue;
        }
        let key_indent = lines[i].len() - trimmed.len();
        let mut block = Block {
            key_line: i + 1,
            items: Vec::new(),
        };
        let mut item_indent = None;
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                i += 1;
                continue;
            }
            let ind = indent(line);
            // A block sequence may sit at the key's own indentation (`transformers:\n- name`).
            let is_item = t.starts_with("- ") || t == "-";
            if ind < key_indent || (ind == key_indent && !is_item) {
                break;
            }
            if is_item && item_indent.is_none_or(|n| n == ind) {
                item_indent = Some(ind);
                block.items.push(Item {
                    line: i + 1,
                    lines: Vec::new(),
                });
            }
            if let Some(item) = block.items.last_mut() {
                item.lines.push((i + 1, t.to_owned()));
            }
            i += 1;
        }
        blocks.push(block);
    }
    blocks
}
