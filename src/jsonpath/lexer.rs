//! Tokens of the jsonpath-rw-ext dialect.
//!
//! Reproduces the token rules of `jsonpath_rw.lexer` as extended by
//! `jsonpath_rw_ext.parser.ExtendedJsonPathLexer`, including their quirks, because they decide
//! what an expression means:
//! * PLY tries the function rules in source order before any literal, so `/` and `\` (with an
//!   optional leading `,`) are always a sort direction, never a division; `true`/`false` win over
//!   identifiers even as a prefix (`trueish` is `true` + `ish`).
//! * Identifiers may contain `-` and `@` after the first character (`a-b` is one name); a `-`
//!   directly followed by a digit starts a negative number.
//! * Inside quotes and backquotes a backslash takes the next character literally and is dropped
//!   (`'a\'b'` is `a'b`, `` `sub(/\\d/, x)` `` hands `\d` to the regex).
//!
//! It does not build any structure; the parser does.

use super::JsonPathError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A name: bare, single- or double-quoted (a quoted `where` is a name, not the keyword).
    Id(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A backquoted named operator, escapes removed.
    Named(String),
    /// `..`
    DoubleDot,
    Where,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `~`
    FilterOp(FilterOp),
    /// `/` ascending or `\` descending.
    SortDir {
        descending: bool,
    },
    /// One of `* . [ ] ( ) $ , : | & ? @ + -`.
    Punct(char),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FilterOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Regex,
}

impl FilterOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FilterOp::Eq => "=",
            FilterOp::Ne => "!=",
            FilterOp::Lt => "<",
            FilterOp::Le => "<=",
            FilterOp::Gt => ">",
            FilterOp::Ge => ">=",
            FilterOp::Regex => "~",
        }
    }
}

/// A token and the char offset where it starts (for error columns).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Id(s) => format!("name `{s}`"),
            Tok::Int(i) => format!("number `{i}`"),
            Tok::Float(f) => format!("number `{f}`"),
            Tok::Bool(b) => format!("`{}`", if *b { "true" } else { "false" }),
            Tok::Named(s) => format!("`{s}`"),
            Tok::DoubleDot => "`..`".to_string(),
            Tok::Where => "`where`".to_string(),
            Tok::FilterOp(op) => format!("`{}`", op.as_str()),
            Tok::SortDir { descending } => {
                format!("sort direction `{}`", if *descending { '\\' } else { '/' })
            }
            Tok::Punct(c) => format!("`{c}`"),
        }
    }
}

const PUNCT: &[char] = &[
    '*', '.', '[', ']', '(', ')', '$', ',', ':', '|', '&', '?', '@', '+', '-',
];

fn is_id_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_id_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '@' || c == '-'
}

pub(crate) fn tokenize(expr: &str) -> Result<Vec<Token>, JsonPathError> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |pos: usize, msg: String| JsonPathError::new(expr, pos, msg);
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        // PLY's t_ignore (space, tab) and t_newline: skipped between tokens.
        if c == ' ' || c == '\t' || c == '\n' {
            i += 1;
            continue;
        }
        // t_BOOL comes first among the function rules, so it also matches a prefix.
        if let Some((len, b)) = match_bool(&chars[i..]) {
            out.push(Token {
                tok: Tok::Bool(b),
                pos: start,
            });
            i += len;
            continue;
        }
        // t_SORT_DIRECTION: `,?\s*(/|\\)`.
        if let Some(len) = match_sort_dir(&chars[i..]) {
            let descending = chars[i + len - 1] == '\\';
            out.push(Token {
                tok: Tok::SortDir { descending },
                pos: start,
            });
            i += len;
            continue;
        }
        // t_ID (ext): `@?[a-zA-Z_][a-zA-Z0-9_@\-]*`; `where` is reserved.
        let id_start = if c == '@' { i + 1 } else { i };
        if id_start < chars.len() && is_id_start(chars[id_start]) {
            let mut j = id_start + 1;
            while j < chars.len() && is_id_continue(chars[j]) {
                j += 1;
            }
            let word: String = chars[i..j].iter().collect();
            let tok = if word == "where" {
                Tok::Where
            } else {
                Tok::Id(word)
            };
            out.push(Token { tok, pos: start });
            i = j;
            continue;
        }
        // t_FLOAT `-?\d+\.\d+` before t_NUMBER `-?\d+`.
        if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let mut j = i + 1;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let is_float = chars.get(j) == Some(&'.') && chars.get(j + 1).is_some_and(|d| d.is_ascii_digit());
            if is_float {
                j += 2;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            let text: String = chars[i..j].iter().collect();
            let tok = if is_float {
                Tok::Float(
                    text.parse()
                        .map_err(|_| err(start, format!("bad number `{text}`")))?,
                )
            } else {
                Tok::Int(
                    text.parse()
                        .map_err(|_| err(start, format!("number `{text}` is too large")))?,
                )
            };
            out.push(Token { tok, pos: start });
            i = j;
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            let mut j = i + 1;
            let mut value = String::new();
            loop {
                match chars.get(j) {
                    None => {
                        let what = if c == '`' {
                            "backquoted operator"
                        } else {
                            "quoted name"
                        };
                        return Err(err(start, format!("unterminated {what} (missing closing {c})")));
                    }
                    Some('\\') => match chars.get(j + 1) {
                        // PLY's `\\.` does not match a newline; jsonpath-rw then fails to lex.
                        Some('\n') | None => {
                            return Err(err(j, "a backslash must escape a character".to_string()));
                        }
                        Some(&e) => {
                            value.push(e);
                            j += 2;
                        }
                    },
                    Some(&q) if q == c => break,
                    Some(&o) => {
                        value.push(o);
                        j += 1;
                    }
                }
            }
            let tok = if c == '`' {
                Tok::Named(value)
            } else {
                Tok::Id(value)
            };
            out.push(Token { tok, pos: start });
            i = j + 1;
            continue;
        }
        // t_DOUBLEDOT and t_FILTER_OP are string rules: after the function rules, before literals.
        if c == '.' && chars.get(i + 1) == Some(&'.') {
            out.push(Token {
                tok: Tok::DoubleDot,
                pos: start,
            });
            i += 2;
            continue;
        }
        if let Some((len, op)) = match_filter_op(&chars[i..]) {
            out.push(Token {
                tok: Tok::FilterOp(op),
                pos: start,
            });
            i += len;
            continue;
        }
        if PUNCT.contains(&c) {
            out.push(Token {
                tok: Tok::Punct(c),
                pos: start,
            });
            i += 1;
            continue;
        }
        return Err(err(start, format!("unexpected character `{c}`")));
    }
    Ok(out)
}

fn match_bool(s: &[char]) -> Option<(usize, bool)> {
    let starts = |w: &str| w.chars().count() <= s.len() && w.chars().zip(s).all(|(a, b)| a == *b);
    if starts("true") {
        Some((4, true))
    } else if starts("false") {
        Some((5, false))
    } else {
        None
    }
}

fn match_sort_dir(s: &[char]) -> Option<usize> {
    let mut j = 0;
    if s.first() == Some(&',') {
        j += 1;
    }
    // Python's `\s` (str pattern): Unicode whitespace.
    while j < s.len() && s[j].is_whitespace() {
        j += 1;
    }
    match s.get(j) {
        Some('/') | Some('\\') => Some(j + 1),
        _ => None,
    }
}

fn match_filter_op(s: &[char]) -> Option<(usize, FilterOp)> {
    let next = s.get(1).copied();
    match (s.first()?, next) {
        ('=', Some('=')) => Some((2, FilterOp::Eq)),
        ('=', _) => Some((1, FilterOp::Eq)),
        ('<', Some('=')) => Some((2, FilterOp::Le)),
        ('>', Some('=')) => Some((2, FilterOp::Ge)),
        ('!', Some('=')) => Some((2, FilterOp::Ne)),
        ('<', _) => Some((1, FilterOp::Lt)),
        ('>', _) => Some((1, FilterOp::Gt)),
        ('~', _) => Some((1, FilterOp::Regex)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).expect("lexes").into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn names_numbers_and_punctuation() {
        assert_eq!(
            toks("$.payload.a-b[-1]"),
            vec![
                Tok::Punct('$'),
                Tok::Punct('.'),
                Tok::Id("payload".into()),
                Tok::Punct('.'),
                Tok::Id("a-b".into()),
                Tok::Punct('['),
                Tok::Int(-1),
                Tok::Punct(']'),
            ]
        );
        assert_eq!(
            toks("0.5 - 2"),
            vec![Tok::Float(0.5), Tok::Punct('-'), Tok::Int(2)]
        );
        assert_eq!(
            toks("a..b"),
            vec![Tok::Id("a".into()), Tok::DoubleDot, Tok::Id("b".into())]
        );
    }

    #[test]
    fn quotes_unescape_backslashes() {
        assert_eq!(toks(r"'a\'b'"), vec![Tok::Id("a'b".into())]);
        assert_eq!(toks(r#""x.y""#), vec![Tok::Id("x.y".into())]);
        assert_eq!(toks(r"`sub(/\\d/, x)`"), vec![Tok::Named(r"sub(/\d/, x)".into())]);
        assert_eq!(toks(r"`sub(/\d/, x)`"), vec![Tok::Named("sub(/d/, x)".into())]);
    }

    #[test]
    fn ply_rule_order_quirks() {
        assert_eq!(toks("trueish"), vec![Tok::Bool(true), Tok::Id("ish".into())]);
        assert_eq!(
            toks("a / 2"),
            vec![
                Tok::Id("a".into()),
                Tok::SortDir { descending: false },
                Tok::Int(2)
            ]
        );
        assert_eq!(toks(r"[/a, \b]")[3], Tok::SortDir { descending: true });
        assert_eq!(toks("where"), vec![Tok::Where]);
        assert_eq!(toks("@foo @"), vec![Tok::Id("@foo".into()), Tok::Punct('@')]);
        assert_eq!(
            toks("a ~ b"),
            vec![
                Tok::Id("a".into()),
                Tok::FilterOp(FilterOp::Regex),
                Tok::Id("b".into())
            ]
        );
        assert_eq!(toks("a==b")[1], Tok::FilterOp(FilterOp::Eq));
    }

    #[test]
    fn lexing_errors_name_the_column() {
        let e = tokenize("$.a#b").unwrap_err();
        assert_eq!(e.column(), 4);
        assert!(e.to_string().contains("unexpected character `#`"), "{e}");
        let e = tokenize("$.'abc").unwrap_err();
        assert!(e.to_string().contains("unterminated quoted name"), "{e}");
        let e = tokenize("$.`len").unwrap_err();
        assert!(e.to_string().contains("unterminated backquoted operator"), "{e}");
    }
}
