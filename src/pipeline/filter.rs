//! A source's meter (or event) filter, with Ceilometer's `Source.is_supported` semantics.
//!
//! Entries are Python `fnmatch` globs (`*`, `?`, `[seq]`, `[!seq]`). Exclusions (`!glob`) are
//! checked first; then any inclusion match accepts; a list of only exclusions accepts the rest.
//! Mixing inclusions and exclusions, or `*` with other inclusions, is refused as Ceilometer does.

/// Why a filter list is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FilterError {
    #[error("both included and excluded names specified")]
    Mixed,
    #[error("included names specified with wildcard")]
    WildcardWithOthers,
    #[error("empty filter list")]
    Empty,
}

/// A compiled filter list.
#[derive(Debug, Clone)]
pub struct Filter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Filter {
    pub fn new(entries: &[String]) -> Result<Filter, FilterError> {
        if entries.is_empty() {
            return Err(FilterError::Empty);
        }
        let (exclude, include): (Vec<&String>, Vec<&String>) =
            entries.iter().partition(|e| e.starts_with('!'));
        if !exclude.is_empty() && !include.is_empty() {
            return Err(FilterError::Mixed);
        }
        if include.len() > 1 && include.iter().any(|e| e.as_str() == "*") {
            return Err(FilterError::WildcardWithOthers);
        }
        Ok(Filter {
            include: include.into_iter().cloned().collect(),
            exclude: exclude.into_iter().map(|e| e[1..].to_owned()).collect(),
        })
    }

    pub fn accepts(&self, name: &str) -> bool {
        if self
            .exclude
            .iter()
            .any(|g| fnmatch(g.as_bytes(), name.as_bytes()))
        {
            return false;
        }
        if self
            .include
            .iter()
            .any(|g| fnmatch(g.as_bytes(), name.as_bytes()))
        {
            return true;
        }
        self.include.is_empty()
    }
}

/// Python's `fnmatch.fnmatchcase` (case-sensitive, as `fnmatch` is on POSIX).
pub(crate) fn fnmatch(pattern: &[u8], name: &[u8]) -> bool {
    // Iterative glob matching with single-star backtracking.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pattern, p, name[n]) {
                        if matched {
                            p = next;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        // An unclosed '[' is a literal, as in Python.
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|c| *c == b'*')
}

/// Match `c` against the class starting at `pattern[start] == b'['`; `None` if unclosed.
fn class(pattern: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = pattern.get(i) == Some(&b'!');
    if negate {
        i += 1;
    }
    let first = i;
    let mut matched = false;
    loop {
        let ch = *pattern.get(i)?;
        if ch == b']' && i > first {
            return Some((matched != negate, i + 1));
        }
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|e| *e != b']') {
            let hi = pattern[i + 2];
            matched |= ch <= c && c <= hi;
            i += 3;
        } else {
            matched |= ch == c;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(entries: &[&str]) -> Filter {
        Filter::new(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn globs_behave_like_fnmatch() {
        assert!(fnmatch(b"*", b"anything"));
        assert!(fnmatch(b"disk.*", b"disk.read.bytes"));
        assert!(!fnmatch(b"disk.*", b"disk"));
        assert!(fnmatch(b"cpu?util", b"cpu_util"));
        assert!(fnmatch(b"[ab]x", b"bx"));
        assert!(!fnmatch(b"[!ab]x", b"bx"));
        assert!(fnmatch(b"[a-c]*", b"cpu"));
        assert!(fnmatch(b"a[b", b"a[b"));
        assert!(fnmatch(b"*.*.bytes", b"disk.read.bytes"));
        assert!(!fnmatch(b"cpu", b"cpu.util"));
    }

    #[test]
    fn exclusions_only_accept_the_rest() {
        let filter = f(&["!disk.*", "!cpu"]);
        assert!(!filter.accepts("disk.read"));
        assert!(!filter.accepts("cpu"));
        assert!(filter.accepts("memory"));
    }

    #[test]
    fn refuses_what_ceilometer_refuses() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Filter::new(&s(&["cpu", "!disk"])).unwrap_err(),
            FilterError::Mixed
        );
        assert_eq!(
            Filter::new(&s(&["*", "cpu"])).unwrap_err(),
            FilterError::WildcardWithOthers
        );
        assert!(Filter::new(&s(&["*"])).is_ok());
    }
}
