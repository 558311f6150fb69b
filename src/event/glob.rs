//! Python's `fnmatch.fnmatch` for event_type patterns, without a regex engine.
//!
//! Event definitions match event types with shell globs (`*`, `?`, `[seq]`, `[!seq]`), case
//! sensitively (POSIX `os.path.normcase` is the identity) and against the whole name. This module
//! only matches; choosing the definition is [`super::dispatch`]'s job.

/// One compiled glob.
#[derive(Debug, Clone, PartialEq)]
pub struct Glob {
    source: Box<str>,
    tokens: Vec<Token>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: any one character.
    Any,
    /// `*`: any run of characters, including none.
    Star,
    /// `[...]`: one character in (or, negated, not in) the ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Glob {
    /// Compile a pattern. Like `fnmatch.translate`, this never fails: an unclosed `[` is a
    /// literal bracket.
    pub fn new(pattern: &str) -> Glob {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::with_capacity(chars.len());
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => {
                    // Consecutive stars are one star; keeping one also keeps matching linear.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::Any),
                '[' => match parse_class(&chars, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Literal('[')),
                },
                c => tokens.push(Token::Literal(c)),
            }
        }
        Glob {
            source: pattern.into(),
            tokens,
        }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the pattern has no wildcard, so it matches exactly one name: itself.
    pub fn is_literal(&self) -> bool {
        self.tokens.iter().all(|t| matches!(t, Token::Literal(_)))
    }

    /// Whole-name match, as `fnmatch.fnmatchcase`.
    pub fn matches(&self, name: &str) -> bool {
        if self.is_literal() {
            return *self.source == *name;
        }
        let name: Vec<char> = name.chars().collect();
        // Classic two-pointer glob match: on a mismatch, retry from the last star with one more
        // character swallowed. At most O(len(name) * len(pattern)).
        let (mut t, mut n) = (0, 0);
        let mut backtrack: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.tokens.get(t) {
                Some(Token::Star) => {
                    backtrack = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(token) if token.accepts(name[n]) => {
                    t += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
            match backtrack {
                Some((star, swallowed)) => {
                    t = star + 1;
                    n = swallowed + 1;
                    backtrack = Some((star, swallowed + 1));
                }
                None => return false,
            }
        }
        self.tokens[t..].iter().all(|token| *token == Token::Star)
    }
}

impl Token {
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Literal(l) => *l == c,
            Token::Any => true,
            Token::Star => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
            }
        }
    }
}

/// Parse the class that starts after the `[` at `chars[start - 1]`, as `fnmatch.translate`
/// does: a `]` right after `[` or `[!` is a member, and no closing `]` means no class.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut j = start;
    if chars.get(j) == Some(&'!') {
        j += 1;
    }
    if chars.get(j) == Some(&']') {
        j += 1;
    }
    while j < chars.len() && chars[j] != ']' {
        j += 1;
    }
    if j >= chars.len() {
        return None;
    }
    let stuff = &chars[start..j];
    let next = j + 1;
    // `[!]` is Python's "any character".
    if stuff == ['!'] {
        return Some((Token::Any, next));
    }
    let (negated, members) = match stuff.split_first() {
        Some(('!', rest)) => (true, rest),
        _ => (false, stuff),
    };
    let mut ranges = Vec::new();
    let mut k = 0;
    while k < members.len() {
        if k + 2 < members.len() && members[k + 1] == '-' {
            let (lo, hi) = (members[k], members[k + 2]);
            // A reversed range is empty; Python removes it from the class.
            if lo <= hi {
                ranges.push((lo, hi));
            }
            k += 3;
        } else {
            ranges.push((members[k], members[k]));
            k += 1;
        }
    }
    Some((Token::Class { negated, ranges }, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).matches(name)
    }

    #[test]
    fn star_matches_any_run_including_dots() {
        assert!(m("compute.instance.*", "compute.instance.create.end"));
        assert!(m("compute.instance.*", "compute.instance."));
        assert!(!m("compute.instance.*", "compute.instance"));
        assert!(m("*http.*", "objectstore.http.request"));
        assert!(m("*http.*", "http.response"));
        assert!(m("*", ""));
        assert!(m("*.end", "image.delete.end"));
        assert!(!m("*.end", "image.delete.ended"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
    }

    #[test]
    fn literal_is_whole_name_and_case_sensitive() {
        assert!(Glob::new("image.upload").is_literal());
        assert!(m("image.upload", "image.upload"));
        assert!(!m("image.upload", "image.upload.finished"));
        assert!(!m("image.upload", "Image.upload"));
        assert!(m("identity.OS-TRUST:trust.*", "identity.OS-TRUST:trust.created"));
    }

    #[test]
    fn question_mark_and_classes() {
        assert!(m("volume.?", "volume.x"));
        assert!(!m("volume.?", "volume.xy"));
        assert!(m("v[aeiou]l", "val"));
        assert!(!m("v[aeiou]l", "vxl"));
        assert!(m("v[!aeiou]l", "vxl"));
        assert!(m("v[a-c]", "vb"));
        assert!(!m("v[a-c]", "vd"));
        assert!(m("v[]]", "v]"));
        // Unclosed bracket (`]` right after `[!` is a member, not the end): a literal `[`.
        assert!(m("v[!]", "v[!]"));
        assert!(m("v[a", "v[a"));
        assert!(!m("v[a", "va"));
    }
}
