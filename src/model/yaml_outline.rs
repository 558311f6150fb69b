//! Where the parts of a block-style YAML document are, by line: the items of a list (the
//! document's, or the one under a key), the value under a key, the line naming a key, the line
//! holding a text.
//!
//! yaml_serde's values carry no positions, so every loader that names a line in its problems
//! (meters.yaml, event_definitions.yaml, the pipeline files, gnocchi_resources.yaml,
//! polling.yaml) gets it from this scan of the text, made once when the file is read. Flow style
//! (`{...}`, `[...]`) has no inner lines: a lookup inside it finds nothing, and the caller names
//! the enclosing item's line. It does not parse YAML: the document has already been read by
//! yaml_serde.

/// The whole document, one item of a block list, or the block value of a key, with its lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outline {
    /// 1-based line of the item's `- `, of the key whose value this is, or of the document's
    /// first line.
    pub line: usize,
    /// The column at which this part's own keys start.
    key_indent: usize,
    /// The part's lines, those without keys or items left out: (1-based number, the line).
    lines: Vec<(usize, String)>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_item(trimmed: &str) -> bool {
    trimmed.starts_with("- ") || trimmed == "-"
}

/// A line that names no key and starts no item: blank, a comment, a directive, a document
/// marker, or node properties alone (`&anchor`, `!tag`, `--- &anchor`), which are followed by
/// the node they belong to on the next lines.
fn is_noise(trimmed: &str) -> bool {
    let rest = trimmed.strip_prefix("---").unwrap_or(trimmed);
    let properties_only = rest
        .split_whitespace()
        .take_while(|t| !t.starts_with('#'))
        .all(|t| t.starts_with(['&', '!']));
    trimmed.starts_with(['#', '%']) || trimmed == "..." || properties_only
}

/// `key:` (or `"key":`, `'key':`) at the start of `text`.
fn names_key(text: &str, key: &str) -> bool {
    [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")]
        .iter()
        .any(|k| text.starts_with(k.as_str()))
}

impl Outline {
    /// The document `text`.
    pub fn of(text: &str) -> Outline {
        let lines: Vec<(usize, String)> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !is_noise(l.trim()))
            .map(|(i, l)| (i + 1, l.to_owned()))
            .collect();
        let (line, key_indent) = lines.first().map_or((1, 0), |(n, l)| (*n, indent(l)));
        Outline {
            line,
            key_indent,
            lines,
        }
    }

    /// The text where this part's keys would start on line `i` of it, if any do.
    fn key_text(&self, i: usize) -> Option<&str> {
        let raw = &self.lines[i].1;
        if i == 0 && self.key_indent > indent(raw) {
            // An item's first line: its first key follows the `- `.
            return raw.get(self.key_indent..);
        }
        (indent(raw) == self.key_indent).then(|| raw.trim_start())
    }

    /// Where this part's own `key:` is: its index in `lines` and its column. The last one when
    /// it is written twice, whose value is the one kept (as PyYAML does; yaml_serde refuses
    /// the document).
    fn key_at(&self, key: &str) -> Option<(usize, usize)> {
        let i = (0..self.lines.len()).rfind(|&i| self.key_text(i).is_some_and(|t| names_key(t, key)))?;
        let column = if i == 0 {
            self.key_indent
        } else {
            indent(&self.lines[i].1)
        };
        Some((i, column))
    }

    /// The line of this part's own `key:`.
    pub fn key_line(&self, key: &str) -> Option<usize> {
        self.key_at(key).map(|(i, _)| self.lines[i].0)
    }

    /// The value of this part's `key:` when it is a block (a mapping or a list on the lines
    /// below the key); none when the key is absent or its value is all on the key's line.
    pub fn value(&self, key: &str) -> Option<Outline> {
        let (start, column) = self.key_at(key)?;
        let lines: Vec<(usize, String)> = self.lines[start + 1..]
            .iter()
            // A block sequence may sit at the key's own indentation (`key:\n- a`).
            .take_while(|(_, raw)| {
                indent(raw) > column || (indent(raw) == column && is_item(raw.trim_start()))
            })
            .cloned()
            .collect();
        let key_indent = indent(&lines.first()?.1);
        Some(Outline {
            line: self.lines[start].0,
            key_indent,
            lines,
        })
    }

    /// The items of the block list under this part's `key:`, in order (none when the list is
    /// written in flow style or the key is absent).
    pub fn items(&self, key: &str) -> Vec<Outline> {
        self.value(key).map_or_else(Vec::new, |v| v.list())
    }

    /// The items of the block list this part is (the document, when it is a list), in order;
    /// none when it is not one.
    pub fn list(&self) -> Vec<Outline> {
        let mut items: Vec<Outline> = Vec::new();
        for (n, raw) in &self.lines {
            let ind = indent(raw);
            let t = raw.trim_start();
            if ind == self.key_indent && is_item(t) {
                let after_dash = t[1..].len() - t[1..].trim_start().len();
                items.push(Outline {
                    line: *n,
                    key_indent: ind + 1 + after_dash,
                    lines: Vec::new(),
                });
            }
            let Some(item) = items.last_mut() else {
                return items; // the first line starts no item: not a list
            };
            if item.lines.len() == 1 && item.lines[0].1.trim() == "-" {
                // `-` alone: the item's keys start on the next line.
                item.key_indent = ind;
            }
            item.lines.push((*n, raw.clone()));
        }
        items
    }

    /// The first line of this part naming `key:` at any depth (at the start of the line, else
    /// anywhere in it).
    pub fn nested_key_line(&self, key: &str) -> Option<usize> {
        let at_start = |l: &str| {
            names_key(
                l.trim_start()
                    .trim_start_matches("- ")
                    .trim_start_matches(['{', ' ']),
                key,
            )
        };
        let key_colon = format!("{key}:");
        self.lines
            .iter()
            .find(|(_, l)| at_start(l))
            .or_else(|| self.lines.iter().find(|(_, l)| l.contains(&key_colon)))
            .map(|(n, _)| *n)
    }

    /// The first line of this part that holds `text`.
    pub fn line_holding(&self, text: &str) -> Option<usize> {
        self.lines.iter().find(|(_, l)| l.contains(text)).map(|(n, _)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "---\n# comment\nsources:\n  - name: s\n    meters: [\"*\"]\n    sinks: [a]\n\
                       sinks:\n- name: a\n  transformers:\n    -\n      name: delta\n      \
                       parameters:\n        target: {name: d}\n  publishers:\n    - notifier://\n\
                       - {name: b, publishers: [\"file:///x\"]}\n";

    #[test]
    fn finds_items_and_keys_at_their_lines() {
        let doc = Outline::of(DOC);
        assert_eq!(
            doc.key_line("sinks"),
            Some(7),
            "the top-level key, not the source's"
        );
        let sources = doc.items("sources");
        assert_eq!(sources.len(), 1);
        assert_eq!((sources[0].line, sources[0].key_line("meters")), (4, Some(5)));
        let sinks = doc.items("sinks");
        assert_eq!(sinks.iter().map(|s| s.line).collect::<Vec<_>>(), [8, 16]);
        assert_eq!(sinks[0].key_line("name"), Some(8));
        let entries = sinks[0].items("transformers");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, 10);
        assert_eq!(entries[0].key_line("name"), Some(11));
        assert_eq!(entries[0].nested_key_line("target"), Some(13));
        assert_eq!(sinks[0].items("publishers")[0].line, 15);
        assert_eq!(sinks[1].line_holding("file:///x"), Some(16));
        assert!(sinks[1].items("publishers").is_empty(), "flow style has no items");
    }

    #[test]
    fn a_list_document_and_block_values() {
        let doc = Outline::of(
            "%YAML 1.1\n--- &defs\n# c\n- a: 1\n  traits: &t\n    x:\n      type: int\n    \
             type:\n      fields: y\n-\n  a: 2\n  traits: {x: 1}\n- [b,\n   c]\n",
        );
        let items = doc.list();
        assert_eq!(items.iter().map(|i| i.line).collect::<Vec<_>>(), [4, 10, 13]);
        let traits = items[0].value("traits").expect("a block mapping");
        assert_eq!(traits.line, 5);
        assert_eq!(traits.key_line("type"), Some(8), "the value's own key, not x's");
        assert_eq!(items[1].key_line("traits"), Some(12));
        assert_eq!(items[1].value("traits"), None, "flow style has no inner lines");
        assert!(
            Outline::of("a:\n  - b\n").list().is_empty(),
            "a mapping is no list"
        );
        assert!(Outline::of("[a,\n b]\n").list().is_empty(), "nor is a flow list");
    }

    #[test]
    fn a_key_written_twice_is_the_last_one() {
        // PyYAML keeps the last value (event_definitions.yaml is read its way).
        let doc = Outline::of("- traits:\n    a: 1\n  traits:\n    b: 1\n");
        let item = &doc.list()[0];
        assert_eq!(item.key_line("traits"), Some(3));
        assert_eq!(item.value("traits").and_then(|t| t.key_line("b")), Some(4));
        assert_eq!(
            Outline::of("\"metric\":\n- a\n").items("metric")[0].line,
            2,
            "a quoted key"
        );
    }
}
