//! Tokens of the kamailio.cfg language, after preprocessing.
//!
//! Besides splitting text into tokens this is where defines are substituted
//! (Kamailio `cfg.lex`: an identifier that names a define is replaced by the
//! define's value, lexed as tokens; never inside strings) and where
//! `#!subst` rules rewrite string literals. Every token keeps the offset of
//! the text it came from, so the source map gives its original position; a
//! token produced by a define carries the position of the identifier.

use std::collections::HashMap;

use super::diag::{Diagnostic, Diags};
use super::preproc::{DefEvent, Source, SubstRule};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(i64),
    Str(String),
    /// A pseudo-variable, raw text including the `$`.
    Pv(String),
    /// An IPv4 literal.
    Ip(String),
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Comma,
    Colon,
    Dot,
    Assign,
    PlusAssign,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    NoMatch,
    AndAnd,
    OrOr,
    Not,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    BitOr,
    BitAnd,
    BitXor,
    BitNot,
    Eof,
}

impl Tok {
    /// How the token is named in "found X" messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Int(i) => format!("number `{i}`"),
            Tok::Str(s) => format!("string \"{}\"", s.escape_debug()),
            Tok::Pv(s) => format!("pseudo-variable `{s}`"),
            Tok::Ip(s) => format!("address `{s}`"),
            Tok::Eof => "end of file".to_string(),
            other => format!("`{}`", punct_text(other)),
        }
    }
}

fn punct_text(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Semi => ";",
        Tok::Comma => ",",
        Tok::Colon => ":",
        Tok::Dot => ".",
        Tok::Assign => "=",
        Tok::PlusAssign => "+=",
        Tok::Eq => "==",
        Tok::Ne => "!=",
        Tok::Lt => "<",
        Tok::Gt => ">",
        Tok::Le => "<=",
        Tok::Ge => ">=",
        Tok::Match => "=~",
        Tok::NoMatch => "!~",
        Tok::AndAnd => "&&",
        Tok::OrOr => "||",
        Tok::Not => "!",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::BitOr => "|",
        Tok::BitAnd => "&",
        Tok::BitXor => "^",
        Tok::BitNot => "~",
        _ => "",
    }
}

/// A token with the offset (into [`Source::text`]) it came from and the raw
/// text it was written as (for values such as `listen=` that are rebuilt
/// from tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub at: usize,
    pub raw: String,
}

const MAX_DEFINE_DEPTH: usize = 16;

struct Tables {
    defines: HashMap<String, Option<String>>,
    substs: Vec<SubstRule>,
}

/// Lexes the whole preprocessed source, substituting defines.
pub fn lex(src: &Source, diags: &mut Diags) -> Vec<Token> {
    let mut tables = Tables {
        defines: HashMap::new(),
        substs: Vec::new(),
    };
    let mut out = Vec::new();
    let mut next_event = 0;
    let mut cur = Cursor {
        text: &src.text,
        i: 0,
    };
    loop {
        let before = skip_trivia(&mut cur, src, diags);
        if !before {
            break;
        }
        while next_event < src.events.len() && src.events[next_event].0 <= cur.i {
            apply_event(&mut tables, &src.events[next_event].1);
            next_event += 1;
        }
        let at = cur.i;
        match lex_one(&mut cur, &tables) {
            Ok(tok) => push_token(
                tok,
                at,
                &src.text[at..cur.i],
                &tables,
                &mut out,
                src,
                diags,
                0,
            ),
            Err(msg) => {
                diags.push(Diagnostic::error(src.pos(at), msg));
                cur.i = next_char_boundary(cur.text, at + 1);
            }
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        at: src.text.len(),
        raw: String::new(),
    });
    out
}

fn apply_event(tables: &mut Tables, ev: &DefEvent) {
    match ev {
        DefEvent::Set(n, v) => {
            tables.defines.insert(n.clone(), v.clone());
        }
        DefEvent::Unset(n) => {
            tables.defines.remove(n);
        }
        DefEvent::Subst(r) => tables.substs.push(r.clone()),
    }
}

#[allow(clippy::too_many_arguments)]
fn push_token(
    tok: Tok,
    at: usize,
    raw: &str,
    tables: &Tables,
    out: &mut Vec<Token>,
    src: &Source,
    diags: &mut Diags,
    depth: usize,
) {
    if let Tok::Ident(name) = &tok {
        if let Some(Some(value)) = tables.defines.get(name) {
            if depth >= MAX_DEFINE_DEPTH {
                diags.error(
                    src.pos(at),
                    format!(
                        "define `{name}` expands into itself more than {MAX_DEFINE_DEPTH} times"
                    ),
                );
                return;
            }
            let mut c = Cursor { text: value, i: 0 };
            loop {
                skip_plain_trivia(&mut c);
                if c.i >= c.text.len() {
                    break;
                }
                let start = c.i;
                match lex_one(&mut c, tables) {
                    Ok(t) => push_token(
                        t,
                        at,
                        &value[start..c.i],
                        tables,
                        out,
                        src,
                        diags,
                        depth + 1,
                    ),
                    Err(msg) => {
                        diags.error(
                            src.pos(at),
                            format!("in the value of define `{name}`: {msg}"),
                        );
                        break;
                    }
                }
            }
            return;
        }
    }
    out.push(Token {
        tok,
        at,
        raw: raw.to_string(),
    });
}

struct Cursor<'t> {
    text: &'t str,
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }
    fn peek_at(&self, n: usize) -> Option<u8> {
        self.text.as_bytes().get(self.i + n).copied()
    }
}

fn next_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}

/// Skips whitespace and comments; false at end of input.
fn skip_trivia(c: &mut Cursor<'_>, src: &Source, diags: &mut Diags) -> bool {
    loop {
        match c.peek() {
            None => return false,
            Some(b) if b.is_ascii_whitespace() => c.i += 1,
            Some(b'#') => skip_line(c),
            Some(b'/') if c.peek_at(1) == Some(b'/') => skip_line(c),
            Some(b'/') if c.peek_at(1) == Some(b'*') => {
                let start = c.i;
                match c.text[c.i + 2..].find("*/") {
                    Some(end) => c.i += 2 + end + 2,
                    None => {
                        diags.push(Diagnostic::expected(
                            src.pos(start),
                            "end of file",
                            "`*/` closing this comment",
                        ));
                        c.i = c.text.len();
                        return false;
                    }
                }
            }
            Some(_) => return true,
        }
    }
}

fn skip_plain_trivia(c: &mut Cursor<'_>) {
    while let Some(b) = c.peek() {
        if b.is_ascii_whitespace() {
            c.i += 1;
        } else {
            break;
        }
    }
}

fn skip_line(c: &mut Cursor<'_>) {
    match c.text[c.i..].find('\n') {
        Some(n) => c.i += n + 1,
        None => c.i = c.text.len(),
    }
}

fn lex_one(c: &mut Cursor<'_>, tables: &Tables) -> Result<Tok, String> {
    let b = c.peek().ok_or("unexpected end of input")?;
    if b.is_ascii_alphabetic() || b == b'_' {
        let start = c.i;
        while matches!(c.peek(), Some(x) if x.is_ascii_alphanumeric() || x == b'_') {
            c.i += 1;
        }
        return Ok(Tok::Ident(c.text[start..c.i].to_string()));
    }
    if b.is_ascii_digit() {
        return lex_number(c);
    }
    if b == b'"' || b == b'\'' {
        let s = lex_string(c, b)?;
        return Ok(Tok::Str(apply_substs(s, &tables.substs)));
    }
    if b == b'$' {
        return lex_pv(c);
    }
    let two = |c: &mut Cursor<'_>, t: Tok| {
        c.i += 2;
        Ok(t)
    };
    let next = c.peek_at(1);
    match (b, next) {
        (b'=', Some(b'=')) => return two(c, Tok::Eq),
        (b'=', Some(b'~')) => return two(c, Tok::Match),
        (b'!', Some(b'=')) => return two(c, Tok::Ne),
        (b'!', Some(b'~')) => return two(c, Tok::NoMatch),
        (b'<', Some(b'=')) => return two(c, Tok::Le),
        (b'>', Some(b'=')) => return two(c, Tok::Ge),
        (b'&', Some(b'&')) => return two(c, Tok::AndAnd),
        (b'|', Some(b'|')) => return two(c, Tok::OrOr),
        (b'+', Some(b'=')) => return two(c, Tok::PlusAssign),
        (b'<', Some(b'>')) => return two(c, Tok::Ne),
        _ => {}
    }
    let t = match b {
        b'{' => Tok::LBrace,
        b'}' => Tok::RBrace,
        b'(' => Tok::LParen,
        b')' => Tok::RParen,
        b'[' => Tok::LBracket,
        b']' => Tok::RBracket,
        b';' => Tok::Semi,
        b',' => Tok::Comma,
        b':' => Tok::Colon,
        b'.' => Tok::Dot,
        b'=' => Tok::Assign,
        b'<' => Tok::Lt,
        b'>' => Tok::Gt,
        b'!' => Tok::Not,
        b'+' => Tok::Plus,
        b'-' => Tok::Minus,
        b'*' => Tok::Star,
        b'/' => Tok::Slash,
        b'%' => Tok::Percent,
        b'|' => Tok::BitOr,
        b'&' => Tok::BitAnd,
        b'^' => Tok::BitXor,
        b'~' => Tok::BitNot,
        _ => {
            let ch = c.text[c.i..].chars().next().unwrap_or('?');
            return Err(format!(
                "found character `{}`, expected a token",
                ch.escape_debug()
            ));
        }
    };
    c.i += 1;
    Ok(t)
}

fn lex_number(c: &mut Cursor<'_>) -> Result<Tok, String> {
    let start = c.i;
    let bytes = c.text.as_bytes();
    if bytes[c.i] == b'0' && matches!(c.peek_at(1), Some(b'x' | b'X')) {
        c.i += 2;
        while matches!(c.peek(), Some(x) if x.is_ascii_hexdigit()) {
            c.i += 1;
        }
        let s = &c.text[start + 2..c.i];
        return i64::from_str_radix(s, 16).map(Tok::Int).map_err(|_| {
            format!(
                "found `{}`, expected a hexadecimal number",
                &c.text[start..c.i]
            )
        });
    }
    let digits = |c: &mut Cursor<'_>| {
        let s = c.i;
        while matches!(c.peek(), Some(x) if x.is_ascii_digit()) {
            c.i += 1;
        }
        c.i > s
    };
    digits(c);
    // An IPv4 literal: four dotted groups.
    let save = c.i;
    let mut groups = 1;
    while groups < 4
        && c.peek() == Some(b'.')
        && matches!(c.peek_at(1), Some(x) if x.is_ascii_digit())
    {
        c.i += 1;
        digits(c);
        groups += 1;
    }
    if groups == 4 {
        return Ok(Tok::Ip(c.text[start..c.i].to_string()));
    }
    c.i = save;
    let s = &c.text[start..c.i];
    s.parse::<i64>()
        .map(Tok::Int)
        .map_err(|_| format!("found `{s}`, expected a number that fits in 64 bits"))
}

fn lex_string(c: &mut Cursor<'_>, quote: u8) -> Result<String, String> {
    c.i += 1;
    let mut out = String::new();
    loop {
        let rest = &c.text[c.i..];
        let Some(ch) = rest.chars().next() else {
            return Err(format!(
                "found end of file, expected `{}` closing the string",
                quote as char
            ));
        };
        c.i += ch.len_utf8();
        if ch as u32 == quote as u32 {
            return Ok(out);
        }
        if ch != '\\' {
            out.push(ch);
            continue;
        }
        // Kamailio's escapes; an unknown one keeps its backslash (regexes).
        match c.peek() {
            Some(b'n') => out.push('\n'),
            Some(b'r') => out.push('\r'),
            Some(b't') => out.push('\t'),
            Some(b'a') => out.push('\u{7}'),
            Some(b'\\') => out.push('\\'),
            Some(b'"') => out.push('"'),
            Some(b'\'') => out.push('\''),
            Some(b'\n') => {
                c.i += 1;
                while matches!(c.peek(), Some(b' ' | b'\t')) {
                    c.i += 1;
                }
                continue;
            }
            _ => {
                out.push('\\');
                continue;
            }
        }
        c.i += 1;
    }
}

fn apply_substs(s: String, rules: &[SubstRule]) -> String {
    let mut s = s;
    for r in rules {
        let replaced = if r.global {
            r.re.replace_all(&s, r.repl.as_str())
        } else {
            r.re.replace(&s, r.repl.as_str())
        };
        if let std::borrow::Cow::Owned(o) = replaced {
            s = o;
        }
    }
    s
}

/// `$name`, `$name(...)`, `$name(...)[...]`, `$(...)`, `$?`; parentheses
/// and brackets nest.
fn lex_pv(c: &mut Cursor<'_>) -> Result<Tok, String> {
    let start = c.i;
    c.i += 1;
    match c.peek() {
        Some(b'?') => {
            c.i += 1;
            return Ok(Tok::Pv("$?".into()));
        }
        Some(b'(') => {
            skip_balanced(c, b'(', b')')?;
            return Ok(Tok::Pv(c.text[start..c.i].to_string()));
        }
        Some(x) if x.is_ascii_alphabetic() || x == b'_' => {}
        _ => return Err("found `$`, expected a pseudo-variable name".to_string()),
    }
    while matches!(c.peek(), Some(x) if x.is_ascii_alphanumeric() || x == b'_') {
        c.i += 1;
    }
    if c.peek() == Some(b'(') {
        skip_balanced(c, b'(', b')')?;
        if c.peek() == Some(b'[') {
            skip_balanced(c, b'[', b']')?;
        }
    }
    Ok(Tok::Pv(c.text[start..c.i].to_string()))
}

fn skip_balanced(c: &mut Cursor<'_>, open: u8, close: u8) -> Result<(), String> {
    let mut depth = 0usize;
    while let Some(b) = c.peek() {
        c.i += 1;
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Ok(());
            }
        } else if b == b'\n' {
            break;
        }
    }
    Err(format!(
        "found end of line, expected `{}` closing the pseudo-variable",
        close as char
    ))
}

#[cfg(test)]
mod tests {
    use super::super::preproc::{preprocess_str, Define};
    use super::*;

    fn toks(text: &str) -> (Vec<Tok>, Diags) {
        let mut d = Diags::default();
        let src = preprocess_str("t.cfg", text, &[], &mut d);
        let t = lex(&src, &mut d);
        (t.into_iter().map(|t| t.tok).collect(), d)
    }

    #[test]
    fn operators_and_literals() {
        let (t, d) =
            toks("if($ua =~ \"a\\.b\" && $rs != 404) x=127.0.0.1; # c\n// c\n/* c\n c */ 0x10");
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(
            t,
            vec![
                Tok::Ident("if".into()),
                Tok::LParen,
                Tok::Pv("$ua".into()),
                Tok::Match,
                Tok::Str("a\\.b".into()),
                Tok::AndAnd,
                Tok::Pv("$rs".into()),
                Tok::Ne,
                Tok::Int(404),
                Tok::RParen,
                Tok::Ident("x".into()),
                Tok::Assign,
                Tok::Ip("127.0.0.1".into()),
                Tok::Semi,
                Tok::Int(16),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn pvs_with_nested_parens_and_transformations() {
        let (t, _) = toks("$(hdr(X)[0]{s.len}) $sht(a=>$si) $? $var(x)");
        assert_eq!(t[0], Tok::Pv("$(hdr(X)[0]{s.len})".into()));
        assert_eq!(t[1], Tok::Pv("$sht(a=>$si)".into()));
        assert_eq!(t[2], Tok::Pv("$?".into()));
        assert_eq!(t[3], Tok::Pv("$var(x)".into()));
    }

    #[test]
    fn string_escapes() {
        let (t, _) = toks("\"a\\r\\n\\\"\" '\\1'");
        assert_eq!(t[0], Tok::Str("a\r\n\"".into()));
        assert_eq!(t[1], Tok::Str("\\1".into()));
    }

    #[test]
    fn defines_substitute_identifiers_not_strings_and_keep_position() {
        let mut d = Diags::default();
        let src = preprocess_str(
            "t.cfg",
            "#!define FLAG 5\n#!define HOST \"h\"\nsetflag(FLAG); \"FLAG\" HOST\n#!undef FLAG\nFLAG",
            &[Define::parse("X=1")],
            &mut d,
        );
        let t = lex(&src, &mut d);
        assert_eq!(t[2].tok, Tok::Int(5));
        assert_eq!(src.pos(t[2].at).col, 9);
        assert_eq!(src.pos(t[2].at).line, 3);
        assert_eq!(t[5].tok, Tok::Str("FLAG".into()));
        assert_eq!(t[6].tok, Tok::Str("h".into()));
        assert_eq!(t[7].tok, Tok::Ident("FLAG".into()));
    }

    #[test]
    fn self_referencing_define_is_an_error_not_a_hang() {
        let (_, d) = toks("#!define A A B\nA");
        assert_eq!(d.list.len(), 1);
    }

    #[test]
    fn substs_rewrite_strings() {
        let (t, _) = toks("#!substdef \"!MYIP!10.0.0.1!g\"\n\"sip:MYIP\" MYIP");
        assert_eq!(t[0], Tok::Str("sip:10.0.0.1".into()));
        assert_eq!(t[1], Tok::Ip("10.0.0.1".into()));
    }

    #[test]
    fn bad_characters_and_unterminated_things_are_errors() {
        let (_, d) = toks("a @ b\n\"open");
        assert_eq!(d.list.len(), 2, "{:?}", d.list);
        assert_eq!((d.list[0].pos.line, d.list[0].pos.col), (1, 3));
        let (_, d) = toks("/* open");
        assert_eq!(d.list.len(), 1);
    }
}
