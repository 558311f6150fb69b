//! Python `re` semantics on top of fancy-regex, as far as jsonpath-rw-ext's `sub()` and `~` use
//! them.
//!
//! * [`compile`] rewrites the few Python constructs that fancy-regex reads differently: `$`
//!   (Python also matches before a final newline), `\Z`, `\<`/`\>` (plain characters in Python,
//!   word boundaries in Rust), `\0` octal escapes, literal braces that are not a quantifier and
//!   `{,n}`, and `[`/`&`/`~` inside character classes (set operators in Rust).
//! * [`PyRegex::sub`] replaces like Python 3.7+ `re.sub`: empty matches right after a non-empty
//!   match are replaced too (`re.sub('.*', 'x', 'ab')` is `xx`).
//! * [`Template`] reads Python replacement strings: `\1`, `\g<1>`, `\g<name>`, `\n`-style escapes;
//!   unknown escapes of ASCII letters are errors, other unknown escapes keep their backslash.
//!
//! Not covered: a lazy pattern that prefers an empty match where Python's "must advance" rule
//! would take a non-empty one (`x*?`), the `re.ASCII`/`LOCALE` flags, possessive quantifiers.

use fancy_regex::Regex;

/// A compiled Python-syntax regex.
#[derive(Debug, Clone)]
pub(crate) struct PyRegex {
    re: Regex,
    source: String,
}

/// The longest pattern [`compile`] takes. fancy-regex builds one inner regex per lookaround
/// (and every Python `$` becomes one), each some kilobytes, so memory and time grow with the
/// pattern; no definition needs more than a few dozen characters.
pub(crate) const MAX_PATTERN_CHARS: usize = 1000;

/// Compile a Python regex; the error is fancy-regex's message.
pub(crate) fn compile(pattern: &str) -> Result<PyRegex, String> {
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(format!("longer than {MAX_PATTERN_CHARS} characters"));
    }
    let translated = translate(pattern);
    let re = Regex::new(&translated).map_err(|e| e.to_string())?;
    Ok(PyRegex {
        re,
        source: pattern.to_string(),
    })
}

impl PyRegex {
    /// `re.search(pattern, text) is not None`. An error means the backtracking limit was hit.
    #[cfg(test)]
    pub(crate) fn search(&self, text: &str) -> Result<bool, String> {
        self.re.is_match(text).map_err(|e| e.to_string())
    }

    /// `re.match(pattern, text) is not None`: a match starting at the first character.
    pub(crate) fn match_start(&self, text: &str) -> Result<bool, String> {
        // Leftmost-first search returns a match at 0 whenever one exists.
        Ok(self
            .re
            .find(text)
            .map_err(|e| e.to_string())?
            .is_some_and(|m| m.start() == 0))
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// `re.sub(pattern, template, text)` with Python 3.7+ empty-match rules.
    pub(crate) fn sub(&self, template: &Template, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0; // text[..copied] is already in `out`
        let mut pos = 0;
        let mut must_advance = false;
        while pos <= text.len() {
            let Some(caps) = self.re.captures_from_pos(text, pos).map_err(|e| e.to_string())? else {
                break;
            };
            let Some(m) = caps.get(0) else { break };
            if must_advance && m.start() == pos && m.end() == pos {
                // Python does not take the same empty match twice: try again one char later.
                match text[pos..].chars().next() {
                    Some(c) => {
                        pos += c.len_utf8();
                        must_advance = false;
                        // An empty match at the new position is allowed (it is not adjacent to
                        // the previous one), so fall through to a fresh search.
                        continue;
                    }
                    None => break,
                }
            }
            out.push_str(&text[copied..m.start()]);
            template.expand(&caps, &mut out);
            copied = m.end();
            must_advance = m.start() == m.end();
            pos = m.end();
        }
        out.push_str(&text[copied..]);
        Ok(out)
    }
}

/// A parsed Python replacement template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Group(usize),
}

impl Template {
    pub(crate) fn parse(repl: &str, regex: &PyRegex) -> Result<Template, String> {
        let groups = regex.re.captures_len();
        let names: Vec<Option<&str>> = regex.re.capture_names().collect();
        let mut parts = Vec::new();
        let mut lit = String::new();
        let chars: Vec<char> = repl.chars().collect();
        let mut i = 0;
        let push_group = |lit: &mut String, parts: &mut Vec<Part>, g: usize| -> Result<(), String> {
            if g >= groups {
                return Err(format!("invalid group reference {g}"));
            }
            if !lit.is_empty() {
                parts.push(Part::Lit(std::mem::take(lit)));
            }
            parts.push(Part::Group(g));
            Ok(())
        };
        while i < chars.len() {
            let c = chars[i];
            if c != '\\' {
                lit.push(c);
                i += 1;
                continue;
            }
            let Some(&e) = chars.get(i + 1) else {
                return Err("bad escape (end of pattern)".to_string());
            };
            i += 2;
            match e {
                'g' => {
                    if chars.get(i) != Some(&'<') {
                        return Err("missing < after \\g".to_string());
                    }
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == '>')
                        .ok_or("missing >, unterminated name")?;
                    let name: String = chars[i + 1..i + close].iter().collect();
                    i += close + 1;
                    let g = if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
                        name.parse::<usize>()
                            .map_err(|_| format!("invalid group reference {name}"))?
                    } else {
                        names
                            .iter()
                            .position(|n| *n == Some(name.as_str()))
                            .ok_or_else(|| format!("unknown group name '{name}'"))?
                    };
                    push_group(&mut lit, &mut parts, g)?;
                }
                '0' => lit.push(char::from_u32(octal_after_zero(&chars, &mut i)).unwrap_or('\0')),
                '1'..='9' => {
                    let d1 = e;
                    let d2 = chars.get(i).copied().filter(|d| d.is_ascii_digit());
                    let d3 = chars.get(i + 1).copied().filter(|d| ('0'..='7').contains(d));
                    if let (Some(d2), Some(d3)) = (d2, d3) {
                        if ('0'..='7').contains(&d1) && ('0'..='7').contains(&d2) {
                            let v = u32::from_str_radix(&format!("{d1}{d2}{d3}"), 8).unwrap_or(0);
                            if v > 0o377 {
                                return Err(format!(
                                    "octal escape value \\{d1}{d2}{d3} outside of range 0-0o377"
                                ));
                            }
                            lit.push(char::from_u32(v).unwrap_or('\0'));
                            i += 2;
                            continue;
                        }
                    }
                    let mut g = d1.to_digit(10).unwrap_or(0) as usize;
                    if let Some(d2) = d2 {
                        g = g * 10 + d2.to_digit(10).unwrap_or(0) as usize;
                        i += 1;
                    }
                    push_group(&mut lit, &mut parts, g)?;
                }
                'a' => lit.push('\x07'),
                'b' => lit.push('\x08'),
                'f' => lit.push('\x0c'),
                'n' => lit.push('\n'),
                'r' => lit.push('\r'),
                't' => lit.push('\t'),
                'v' => lit.push('\x0b'),
                '\\' => lit.push('\\'),
                e if e.is_ascii_alphabetic() => return Err(format!("bad escape \\{e}")),
                e => {
                    lit.push('\\');
                    lit.push(e);
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    fn expand(&self, caps: &fancy_regex::Captures<'_, str>, out: &mut String) {
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                // An unmatched group expands to '' since Python 3.5.
                Part::Group(g) => out.push_str(caps.get(*g).map_or("", |m| m.as_str())),
            }
        }
    }
}

/// Python's octal escape `\0` (in a pattern and in a replacement): the value of up to two more
/// octal digits at `chars[*i]`, which it moves past them.
fn octal_after_zero(chars: &[char], i: &mut usize) -> u32 {
    let mut v = 0;
    for _ in 0..2 {
        match chars.get(*i).and_then(|d| d.to_digit(8)) {
            Some(d) => v = v * 8 + d,
            None => break,
        }
        *i += 1;
    }
    v
}

/// Rewrite Python regex syntax into the fancy-regex equivalent.
fn translate(p: &str) -> String {
    let chars: Vec<char> = p.chars().collect();
    let multiline = has_inline_flag(p, 'm');
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    out.push('\\');
                    i += 1;
                    continue;
                };
                i += 2;
                match e {
                    'Z' if !in_class => out.push_str(r"\z"),
                    '<' | '>' => out.push_str(&format!(r"\x{{{:X}}}", e as u32)),
                    'b' if in_class => out.push_str(r"\x08"),
                    '0' => out.push_str(&format!(r"\x{{{:X}}}", octal_after_zero(&chars, &mut i))),
                    e => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` right after the opening is a literal in Python.
                if chars.get(i) == Some(&']') {
                    out.push_str(r"\]");
                    i += 1;
                }
                continue;
            }
            '[' | '&' | '~' if in_class => out.push_str(&format!(r"\{c}")),
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class && !multiline => out.push_str(r"(?:\z|(?=\n\z))"),
            '{' if !in_class => match quantifier(&chars[i..]) {
                Some((len, q)) => {
                    out.push_str(&q);
                    i += len;
                    continue;
                }
                None => out.push_str(r"\{"),
            },
            '}' if !in_class => out.push_str(r"\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

/// A Python `{m,n}` quantifier at the start of `s`: its length and the Rust spelling.
fn quantifier(s: &[char]) -> Option<(usize, String)> {
    let mut j = 1;
    let lo_start = j;
    while s.get(j).is_some_and(|c| c.is_ascii_digit()) {
        j += 1;
    }
    let lo: String = s[lo_start..j].iter().collect();
    let hi: Option<String> = if s.get(j) == Some(&',') {
        j += 1;
        let hi_start = j;
        while s.get(j).is_some_and(|c| c.is_ascii_digit()) {
            j += 1;
        }
        Some(s[hi_start..j].iter().collect())
    } else {
        None
    };
    if s.get(j) != Some(&'}') || (lo.is_empty() && hi.is_none()) {
        return None;
    }
    let lo = if lo.is_empty() { "0".to_string() } else { lo };
    let q = match hi {
        None => format!("{{{lo}}}"),
        Some(h) if h.is_empty() => format!("{{{lo},}}"),
        Some(h) => format!("{{{lo},{h}}}"),
    };
    Some((j + 1, q))
}

/// Whether an inline flag group such as `(?m)` or `(?im)` sets `flag`.
fn has_inline_flag(p: &str, flag: char) -> bool {
    let mut rest = p;
    while let Some(at) = rest.find("(?") {
        let after = &rest[at + 2..];
        let flags: String = after.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let closes = after[flags.len()..].starts_with(')');
        if closes && flags.contains(flag) {
            return true;
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_patterns_are_refused_before_fancy_regex_builds_them() {
        // Found by the fuzzer (target jsonpath): every `$` becomes a lookahead, and fancy-regex
        // builds a regex per lookahead: 5000 of them took 50 MB and seconds, linearly more
        // for longer patterns, in `sub()` or a `~` filter of a definition.
        let pattern = format!("o{{{},1}}b", "$".repeat(5000));
        let err = compile(&pattern).expect_err("too long");
        assert!(err.contains("longer than 1000 characters"), "{err}");
        let at_limit = "a".repeat(MAX_PATTERN_CHARS);
        assert!(compile(&at_limit).is_ok());
    }

    fn sub(pattern: &str, repl: &str, text: &str) -> String {
        let re = compile(pattern).expect("compiles");
        let t = Template::parse(repl, &re).expect("template");
        re.sub(&t, text).expect("subs")
    }

    #[test]
    fn sub_follows_python_37_empty_match_rules() {
        assert_eq!(sub(".*", "", "success"), "");
        assert_eq!(sub(".*", "x", "ab"), "xx");
        assert_eq!(sub("x*", "-", "abxd"), "-a-b--d-");
        assert_eq!(sub("", "-", "ab"), "-a-b-");
    }

    #[test]
    fn templates_read_python_group_references() {
        assert_eq!(sub(r"(foo\d+)\+(\d+bar)", r"\2-\1", "foo5+3bar"), "3bar-foo5");
        assert_eq!(sub(r"(?P<a>\w+)@(\w+)", r"\g<2>.\g<a>", "me@host"), "host.me");
        assert_eq!(sub("(a)|b", r"[\1]", "ab"), "[a][]");
        assert_eq!(sub("a", r"\n\-", "a"), "\n\\-");
        let re = compile("(a)").expect("compiles");
        assert!(Template::parse(r"\2", &re)
            .unwrap_err()
            .contains("invalid group reference"));
        assert!(Template::parse(r"\q", &re).unwrap_err().contains("bad escape"));
    }

    #[test]
    fn python_syntax_is_translated() {
        assert!(compile("a$").expect("c").search("a\n").expect("s"));
        assert!(!compile("a$").expect("c").search("a\nb").expect("s"));
        assert!(compile(r"a\Z").expect("c").search("xa").expect("s"));
        assert!(compile(r"\<a\>").expect("c").search("<a>").expect("s"));
        assert!(compile("a{").expect("c").search("a{").expect("s"));
        assert!(compile("a{,2}b").expect("c").search("aab").expect("s"));
        assert!(compile("[[]").expect("c").search("[").expect("s"));
        assert!(compile("[]a]").expect("c").search("]").expect("s"));
        assert!(compile("(?P<x>a)(?P=x)").expect("c").search("aa").expect("s"));
        assert!(compile("(").is_err());
    }

    #[test]
    fn octal_escapes_read_up_to_two_more_digits_in_patterns_and_templates() {
        // Checked in python3: re.sub('a', r'\012', 'a') == '\n', r'\0' gives '\x00', r'\0128'
        // gives '\n8', r'\08' gives '\x008'; re.search(r'\0777', '\x3f7') matches.
        assert_eq!(sub("a", r"\012", "a"), "\n");
        assert_eq!(sub("a", r"\0", "a"), "\0");
        assert_eq!(sub("a", r"\0128", "a"), "\n8");
        assert_eq!(sub("a", r"\08", "a"), "\08");
        assert!(compile(r"\012").expect("c").search("\n").expect("s"));
        assert!(compile(r"\01a").expect("c").search("\u{1}a").expect("s"));
        assert!(compile(r"[\0]").expect("c").search("\0").expect("s"));
        assert!(compile(r"\0777").expect("c").search("\u{3f}7").expect("s"));
    }
}
