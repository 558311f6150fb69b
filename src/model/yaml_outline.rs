//! Where the parts of a block-style YAML document are, by line: the items of the list under a
//! key, the line naming a key, the line holding a text.
//!
//! yaml_serde's values carry no positions, so the loaders that validate get their lines from
//! this scan of the text, made once when the file is read. Flow style (`{...}`, `[...]`) has no
//! inner lines: a lookup inside it finds nothing, and the caller names the enclosing item's
//! line. It does not parse YAML: the document has already been read by yaml_serde.

/// The whole document, or one item of a block list, with its lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outline {
    /// 1-based line of the item's `- ` (for the document, its first line).
    pub line: usize,
    /// The column at which this part's own keys start.
    key_indent: usize,
    /// The part's lines, blank lines and comments left out: (1-based number, the line).
    lines: Vec<(usize, String)>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_item(trimmed: &str) -> bool {
    trimmed.starts_with("- ") || trimmed == "-"
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
            .filter(|(_, l)| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#') && t != "---" && t != "..."
            })
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

    /// The line of this part's own `key:`.
    pub fn key_line(&self, key: &str) -> Option<usize> {
        (0..self.lines.len())
            .find(|&i| self.key_text(i).is_some_and(|t| names_key(t, key)))
            .map(|i| self.lines[i].0)
    }

    /// The items of the block list under this part's `key:`, in order (none when the list is
    /// written in flow style or the key is absent).
    pub fn items(&self, key: &str) -> Vec<Outline> {
        let Some(start) =
            (0..self.lines.len()).find(|&i| self.key_text(i).is_some_and(|t| names_key(t, key)))
        else {
            return Vec::new();
        };
        let key_col = if start == 0 {
            self.key_indent
        } else {
            indent(&self.lines[start].1)
        };
        let mut items: Vec<Outline> = Vec::new();
        let mut item_indent = None;
        for (n, raw) in &self.lines[start + 1..] {
            let ind = indent(raw);
            let t = raw.trim_start();
            // A block sequence may sit at the key's own indentation (`key:\n- a`).
            if ind < key_col || (ind == key_col && !is_item(t)) {
                break;
            }
            if is_item(t) && item_indent.is_none_or(|i| i == ind) {
                item_indent = Some(ind);
                let after_dash = t[1..].len() - t[1..].trim_start().len();
                items.push(Outline {
                    line: *n,
                    key_indent: ind + 1 + after_dash,
                    lines: Vec::new(),
                });
            }
            if let Some(item) = items.last_mut() {
                if item.lines.len() == 1 && item.lines[0].1.trim() == "-" {
                    // `-` alone: the item's keys start on the next line.
                    item.key_indent = ind;
                }
                item.lines.push((*n, raw.clone()));
            }
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
}
