//! oslo.config INI files (`ceilometer.conf`) read with oslo's rules, without Python.
//!
//! The rules, as `oslo_config.cfg` and `oslo_config.iniparser` apply them:
//! * `--config-file`s are read in the order given, then each `--config-dir`'s `*.conf` in
//!   sorted order; a later file wins for a single-valued option (and within one file the last
//!   assignment wins), while a multi-valued option collects every assignment of every file in
//!   reading order.
//! * `key = value` or `key: value` (whichever separator comes first), the value stripped and
//!   one pair of matching outer quotes removed; an indented line continues the previous value
//!   (joined with a newline); `#` and `;` start comment lines; group names other than
//!   `DEFAULT` are case-insensitive.
//! * `$name`, `${name}` and `${group.name}` are replaced by the option's value: `name` is looked
//!   up in the option's own group, then in `[DEFAULT]`; `$$` and `\$` are a literal `$`.
//!   oslo also substitutes options' built-in defaults, which ceilo does not know for every
//!   option: a reference to an option set in no file is an error naming it (`host` excepted:
//!   the machine's host name, as oslo's default).
//!
//! A malformed line is an error naming the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A config file or directory that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OsloError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}: {problem}")]
    Parse {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("--config-dir {0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("{path}:{line}: [{section}] {name}: {problem}")]
    Value {
        path: PathBuf,
        line: usize,
        section: String,
        name: String,
        problem: String,
    },
}

/// One assignment: its raw text and where it was made.
#[derive(Debug, Clone)]
struct Assignment {
    raw: String,
    path: PathBuf,
    line: usize,
}

/// Every assignment of every file, by normalized group and option name, in reading order.
#[derive(Debug, Default, Clone)]
pub struct OsloConfig {
    options: BTreeMap<(String, String), Vec<Assignment>>,
    /// The files read, in order.
    files: Vec<PathBuf>,
    /// The `--config-dir`s, in order.
    dirs: Vec<PathBuf>,
}

/// Interpolation depth at which a reference chain is taken for a cycle.
const MAX_DEPTH: usize = 32;
/// The most text interpolating one option may produce, its references' values included:
/// references that each repeat the one before (`a1 = $a0$a0`, `a2 = $a1$a1`...) double it
/// per level, which would take the agent's memory or time instead of giving an error.
const MAX_EXPANSION: usize = 1 << 20;

impl OsloConfig {
    /// Read `files`, then every `*.conf` of each of `dirs` in sorted order.
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Self, OsloError> {
        let mut config = OsloConfig {
            dirs: dirs.to_vec(),
            ..OsloConfig::default()
        };
        for path in files {
            config.read_file(path)?;
        }
        for dir in dirs {
            let entries = std::fs::read_dir(dir).map_err(|_| OsloError::NotADirectory(dir.clone()))?;
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "conf") && p.is_file())
                .collect();
            confs.sort();
            for path in &confs {
                config.read_file(path)?;
            }
        }
        Ok(config)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), OsloError> {
        let text = std::fs::read_to_string(path).map_err(|source| OsloError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.parse(path, &text)
    }

    /// Parse one file's text, as read after the files before it.
    pub fn parse(&mut self, path: &Path, text: &str) -> Result<(), OsloError> {
        self.files.push(path.to_owned());
        let error = |line: usize, problem: &str| OsloError::Parse {
            path: path.to_owned(),
            line,
            problem: problem.to_owned(),
        };
        let mut section: Option<String> = None;
        // The assignment being read: key, its value lines, its line number.
        let mut pending: Option<(String, Vec<String>, usize)> = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim_end();
            if line.is_empty() {
                // A blank line ends a multi-line value.
                self.flush(path, section.as_deref(), pending.take())?;
                continue;
            }
            if line.starts_with([' ', '\t']) {
                match pending.as_mut() {
                    Some((_, value, _)) => value.push(line.trim_start().to_owned()),
                    None => return Err(error(number, "Unexpected continuation line")),
                }
                continue;
            }
            self.flush(path, section.as_deref(), pending.take())?;
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| error(number, "Invalid section (must end with ])"))?;
                if name.is_empty() {
                    return Err(error(number, "Empty section name"));
                }
                section = Some(normalize_group(name));
            } else if line.starts_with(['#', ';']) {
                continue;
            } else {
                let (key, value) = split_key_value(line)
                    .ok_or_else(|| error(number, "No ':' or '=' found in assignment"))?;
                if key.is_empty() {
                    return Err(error(number, "Key cannot be empty"));
                }
                if section.is_none() {
                    return Err(error(number, "Section must be started before assignment"));
                }
                pending = Some((key, vec![value], number));
            }
        }
        self.flush(path, section.as_deref(), pending.take())
    }

    fn flush(
        &mut self,
        path: &Path,
        section: Option<&str>,
        pending: Option<(String, Vec<String>, usize)>,
    ) -> Result<(), OsloError> {
        let (Some(section), Some((key, value, line))) = (section, pending) else {
            return Ok(());
        };
        self.options
            .entry((section.to_owned(), key))
            .or_default()
            .push(Assignment {
                raw: value.join("\n"),
                path: path.to_owned(),
                line,
            });
        Ok(())
    }

    /// Every option set in the files, as (group, name), sorted.
    pub fn set_options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options.keys().map(|(s, n)| (s.as_str(), n.as_str()))
    }

    /// Whether `[section] name` is set in any file.
    pub fn is_set(&self, section: &str, name: &str) -> bool {
        self.options
            .contains_key(&(normalize_group(section), name.to_owned()))
    }

    /// A single-valued option: the last assignment of the last file that sets it, interpolated.
    pub fn get(&self, section: &str, name: &str) -> Result<Option<String>, OsloError> {
        let mut left = MAX_EXPANSION;
        self.get_at(&normalize_group(section), name, 0, &mut left)
    }

    /// A multi-valued option: every assignment, in reading order, each interpolated.
    pub fn get_multi(&self, section: &str, name: &str) -> Result<Vec<String>, OsloError> {
        let section = normalize_group(section);
        let Some(all) = self.options.get(&(section.clone(), name.to_owned())) else {
            return Ok(Vec::new());
        };
        all.iter()
            .map(|a| {
                let mut left = MAX_EXPANSION;
                self.substitute(a, &section, name, 0, &mut left)
            })
            .collect()
    }

    /// Where the value of `[section] name` was set (the last assignment), for messages.
    pub fn location(&self, section: &str, name: &str) -> Option<(PathBuf, usize)> {
        self.options
            .get(&(normalize_group(section), name.to_owned()))
            .and_then(|a| a.last())
            .map(|a| (a.path.clone(), a.line))
    }

    /// The error for a value of `[section] name` that cannot be used.
    pub fn value_error(&self, section: &str, name: &str, problem: impl Into<String>) -> OsloError {
        let (path, line) = self.location(section, name).unwrap_or_default();
        OsloError::Value {
            path,
            line,
            section: section.to_owned(),
            name: name.to_owned(),
            problem: problem.into(),
        }
    }

    /// The directories oslo's `find_file` searches for a relative file name: the
    /// `--config-dir`s, then the directories of the `--config-file`s, the last file's first.
    pub fn search_dirs(&self) -> Vec<PathBuf> {
        let in_dirs = |p: &PathBuf| self.dirs.iter().any(|d| p.parent() == Some(d.as_path()));
        let mut dirs = self.dirs.clone();
        for file in self.files.iter().rev().filter(|f| !in_dirs(f)) {
            let parent = match file.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
                _ => PathBuf::from("."),
            };
            if !dirs.contains(&parent) {
                dirs.push(parent);
            }
        }
        dirs
    }

    /// `left`: what the interpolation of the option asked for may still produce.
    fn get_at(
        &self,
        section: &str,
        name: &str,
        depth: usize,
        left: &mut usize,
    ) -> Result<Option<String>, OsloError> {
        match self
            .options
            .get(&(section.to_owned(), name.to_owned()))
            .and_then(|a| a.last())
        {
            Some(a) => self.substitute(a, section, name, depth, left).map(Some),
            None => Ok(None),
        }
    }

    /// `string.Template.safe_substitute` over oslo's option lookup. A problem in a referenced
    /// option's value is reported as that option's.
    fn substitute(
        &self,
        a: &Assignment,
        section: &str,
        name: &str,
        depth: usize,
        left: &mut usize,
    ) -> Result<String, OsloError> {
        let fail = |problem: String| OsloError::Value {
            path: a.path.clone(),
            line: a.line,
            section: section.to_owned(),
            name: name.to_owned(),
            problem,
        };
        if depth > MAX_DEPTH {
            return Err(fail("interpolation nests too deep (a reference cycle?)".into()));
        }
        let raw = a.raw.replace("\\$", "$$");
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw.as_str();
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(tail) = after.strip_prefix('$') {
                out.push('$');
                rest = tail;
                continue;
            }
            let (reference, tail) = match after.strip_prefix('{') {
                Some(braced) => match braced.find('}') {
                    Some(end) if is_identifier(&braced[..end]) => (&braced[..end], &braced[end + 1..]),
                    _ => ("", after),
                },
                None => {
                    let end = identifier_len(after);
                    (&after[..end], &after[end..])
                }
            };
            if reference.is_empty() {
                // Not a placeholder: safe_substitute leaves it as written.
                out.push('$');
                rest = after;
                continue;
            }
            let value = match self.resolve(reference, section, depth, left)? {
                Some(value) => value,
                None => {
                    return Err(fail(format!(
                        "${reference} refers to an option set in no config file (ceilo substitutes \
                         options set in the files, and host; write the value instead)"
                    )))
                }
            };
            // Every reference costs at least a byte, so that empty values repeated cannot
            // take the time that long ones would take the memory.
            match left.checked_sub(value.len() + 1) {
                Some(l) => *left = l,
                None => {
                    return Err(fail(format!(
                        "interpolation expands to more than {MAX_EXPANSION} bytes (references \
                         that repeat one another?)"
                    )))
                }
            }
            out.push_str(&value);
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The value `$reference` stands for, seen from an option of `section` (`None`: set in no
    /// file).
    fn resolve(
        &self,
        reference: &str,
        section: &str,
        depth: usize,
        left: &mut usize,
    ) -> Result<Option<String>, OsloError> {
        let candidates: Vec<(String, &str)> = match reference.split_once('.') {
            Some((group, option)) => vec![
                (normalize_group(group), option),
                ("DEFAULT".to_owned(), reference),
            ],
            None => vec![(section.to_owned(), reference), ("DEFAULT".to_owned(), reference)],
        };
        for (group, option) in &candidates {
            if let Some(value) = self.get_at(group, option, depth + 1, left)? {
                return Ok(Some(value));
            }
        }
        Ok((reference == "host").then(|| super::Settings::default().host()))
    }
}

fn normalize_group(name: &str) -> String {
    if name == "DEFAULT" {
        name.to_owned()
    } else {
        name.to_lowercase()
    }
}

/// `key = value` or `key: value`, split at whichever comes first; the value stripped and one
/// pair of matching outer quotes removed.
fn split_key_value(line: &str) -> Option<(String, String)> {
    let at = line.find(['=', ':'])?;
    let (key, value) = (line[..at].trim(), line[at + 1..].trim());
    let quoted = value.starts_with(['"', '\'']) && value.ends_with(&value[..1]);
    // As Python's value[1:-1]: a lone quote character becomes nothing.
    let unquoted = if quoted {
        value.get(1..value.len().saturating_sub(1).max(1)).unwrap_or("")
    } else {
        value
    };
    Some((key.to_owned(), unquoted.to_owned()))
}

/// string.Template's identifier, `[_a-z][._a-z0-9]*` case-insensitively.
fn identifier_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if c == '_' || c.is_ascii_alphabetic() => {}
        _ => return 0,
    }
    chars
        .find(|(_, c)| !(*c == '_' || *c == '.' || c.is_ascii_alphanumeric()))
        .map_or(s.len(), |(i, _)| i)
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && identifier_len(s) == s.len()
}

/// oslo's Boolean type.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Some(true),
        "false" | "0" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// oslo's List type (of strings): comma-separated, each item stripped; empty means none.
pub fn parse_list(value: &str) -> Vec<String> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    value.split(',').map(|s| s.trim().to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(files: &[(&str, &str)]) -> Result<OsloConfig, OsloError> {
        let mut c = OsloConfig::default();
        for (path, text) in files {
            c.parse(Path::new(path), text)?;
        }
        Ok(c)
    }

    #[test]
    fn later_files_win_and_multi_values_collect_in_reading_order() {
        let c = parse(&[
            (
                "/etc/ceilometer/ceilometer.conf",
                "[DEFAULT]\nhost = a\nhost = b\n[notification]\nmessaging_urls = amqp://one/\nmessaging_urls = amqp://two/\n",
            ),
            (
                "/etc/ceilometer/ceilometer.conf.d/10.conf",
                "[NOTIFICATION]\nmessaging_urls = amqp://three/\n[DEFAULT]\nhost: c\n",
            ),
        ])
        .unwrap();
        assert_eq!(c.get("DEFAULT", "host").unwrap().as_deref(), Some("c"));
        assert_eq!(
            c.get_multi("notification", "messaging_urls").unwrap(),
            ["amqp://one/", "amqp://two/", "amqp://three/"]
        );
        assert_eq!(
            c.get("notification", "messaging_urls").unwrap().as_deref(),
            Some("amqp://three/")
        );
    }

    #[test]
    fn quotes_separators_and_continuation_lines_as_oslo_reads_them() {
        let c = parse(&[(
            "x.conf",
            "# comment\n; also\n[DEFAULT]\na = \"quoted\"\nb: x=y\nc = 'q\"\nd =\ne = first\n  second\n\tthird\n\nf=1\n",
        )])
        .unwrap();
        let get = |k| c.get("DEFAULT", k).unwrap().unwrap();
        assert_eq!(get("a"), "quoted");
        assert_eq!(get("b"), "x=y");
        assert_eq!(get("c"), "'q\"");
        assert_eq!(get("d"), "");
        assert_eq!(get("e"), "first\nsecond\nthird");
        assert_eq!(get("f"), "1");
    }

    #[test]
    fn interpolation_looks_in_the_group_then_default() {
        let c = parse(&[(
            "x.conf",
            "[DEFAULT]\nuser = ceilo\npass = s3cret\nbroker = rabbit\n\
             transport_url = amqp://$user:${pass}@${broker}:5672/\nprice = 5$$ and \\$x\n\
             [publisher]\nuser = other\nsecret = ${user}-$DEFAULT.broker-${publisher.user}\n\
             [a]\nloop = $loop\nmissing = $nowhere\n",
        )])
        .unwrap();
        assert_eq!(
            c.get("DEFAULT", "transport_url").unwrap().as_deref(),
            Some("amqp://ceilo:s3cret@rabbit:5672/")
        );
        assert_eq!(c.get("DEFAULT", "price").unwrap().as_deref(), Some("5$ and $x"));
        assert_eq!(
            c.get("publisher", "secret").unwrap().as_deref(),
            Some("other-rabbit-other")
        );
        let e = c.get("a", "loop").unwrap_err().to_string();
        assert!(e.contains("too deep"), "{e}");
        let e = c.get("a", "missing").unwrap_err().to_string();
        assert!(e.starts_with("x.conf:12: [a] missing: $nowhere"), "{e}");
    }

    /// `a1 = $a0$a0`, `a2 = $a1$a1`... `a<levels>`: 2^levels copies of `a0`, asked for by
    /// `transport_url`.
    fn doubling(a0: &str, levels: usize) -> OsloConfig {
        let mut text = format!("[DEFAULT]\na0 = {a0}\n");
        for i in 1..=levels {
            text.push_str(&format!("a{i} = $a{p}${{a{p}}}\n", p = i - 1));
        }
        text.push_str(&format!("transport_url = amqp://$a{levels}@broker/\n"));
        parse(&[("x.conf", &text)]).unwrap()
    }

    #[test]
    fn interpolation_that_doubles_per_reference_is_an_error_not_a_runaway() {
        let x64 = "x".repeat(64);
        // 64 KiB: within bounds.
        let fine = doubling(&x64, 10)
            .get("DEFAULT", "transport_url")
            .unwrap()
            .unwrap();
        assert_eq!(fine.len(), 64 << 10 | "amqp://@broker/".len());
        // 64 MiB, and 64 GiB, would have been built; 2^30 empty values would have taken minutes.
        // (Past 32 levels the chain is taken for a cycle.)
        for (a0, levels) in [(x64.as_str(), 20), (x64.as_str(), 30), ("", 30)] {
            let e = doubling(a0, levels)
                .get("DEFAULT", "transport_url")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("x.conf:"), "{e}");
            assert!(
                e.contains("interpolation expands to more than 1048576 bytes"),
                "{e}"
            );
        }
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        for (text, line, problem) in [
            ("[DEFAULT]\nhost\n", 2, "No ':' or '=' found in assignment"),
            ("host = a\n", 1, "Section must be started before assignment"),
            ("[DEFAULT\n", 1, "Invalid section (must end with ])"),
            ("[]\n", 1, "Empty section name"),
            ("[DEFAULT]\n= a\n", 2, "Key cannot be empty"),
            ("  indented\n", 1, "Unexpected continuation line"),
        ] {
            let e = parse(&[("/etc/c.conf", text)]).unwrap_err().to_string();
            assert_eq!(e, format!("/etc/c.conf:{line}: {problem}"), "{text:?}");
        }
    }

    #[test]
    fn search_dirs_are_config_dirs_then_config_file_dirs_last_first() {
        let mut c = OsloConfig {
            dirs: vec![PathBuf::from("/d")],
            ..OsloConfig::default()
        };
        c.parse(Path::new("/etc/a/x.conf"), "").unwrap();
        c.parse(Path::new("/etc/b/y.conf"), "").unwrap();
        c.parse(Path::new("/d/z.conf"), "").unwrap();
        assert_eq!(
            c.search_dirs(),
            [PathBuf::from("/d"), "/etc/b".into(), "/etc/a".into()]
        );
    }

    #[test]
    fn oslo_booleans_and_lists() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(parse_list(" a, b ,c"), ["a", "b", "c"]);
        assert!(parse_list("").is_empty());
    }
}
