//! The kamailio.cfg preprocessor (Kamailio `src/core/cfg.lex`, "preprocessor
//! directives"): `#!define`/`#!def`/`#!trydef`/`#!redefine`/`#!undef`,
//! `#!ifdef`/`#!ifndef`/`#!else`/`#!endif` (nested), `#!include_file`,
//! `include_file`, `import_file`, `#!subst`, `#!substdef`, `#!defenv`,
//! `#!trydefenv`, with `!!` accepted in place of `#!`.
//!
//! The output is the text that survives the conditionals, with a source map
//! from every byte back to the original file, line and column, and the list
//! of define/subst changes at the offsets where they happen. Substituting
//! defines is the lexer's job (Kamailio replaces defined identifiers as
//! tokens, never inside strings); the lexer replays the change list in order
//! so `#!undef` and `#!redefine` take effect exactly where they appear.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, Diags, SrcPos};

/// A `-A NAME[=VALUE]` definition from the command line (or the embedder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Define {
    pub name: String,
    pub value: Option<String>,
}

impl Define {
    /// Parses `NAME` or `NAME=VALUE` as given to `-A`.
    pub fn parse(arg: &str) -> Define {
        match arg.split_once('=') {
            Some((n, v)) => Define {
                name: n.trim().to_string(),
                value: Some(v.to_string()),
            },
            None => Define {
                name: arg.trim().to_string(),
                value: None,
            },
        }
    }
}

/// A regex substitution applied to string literals (`#!subst`).
#[derive(Debug, Clone)]
pub struct SubstRule {
    pub re: regex::Regex,
    /// Replacement in `regex` syntax (`\1` already turned into `${1}`).
    pub repl: String,
    pub global: bool,
}

/// A change to the define/subst tables, taking effect at an offset.
#[derive(Debug, Clone)]
pub enum DefEvent {
    Set(String, Option<String>),
    Unset(String),
    Subst(SubstRule),
}

#[derive(Debug, Clone, Copy)]
struct LineOrigin {
    start: usize,
    file: u16,
    line: u32,
}

/// The preprocessed text and its source map.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub text: String,
    lines: Vec<LineOrigin>,
    files: Vec<Arc<str>>,
    /// Define/subst changes, sorted by offset into `text`.
    pub events: Vec<(usize, DefEvent)>,
}

impl Source {
    /// The original position of byte `offset` of `text`.
    pub fn pos(&self, offset: usize) -> SrcPos {
        if self.lines.is_empty() {
            let file = self
                .files
                .first()
                .cloned()
                .unwrap_or_else(|| Arc::from("<config>"));
            return SrcPos {
                file,
                line: 1,
                col: 1,
            };
        }
        let idx = match self.lines.binary_search_by(|l| l.start.cmp(&offset)) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        };
        let lo = self.lines[idx];
        let end = offset.min(self.text.len());
        let start = lo.start.min(end);
        let col = self
            .text
            .get(start..end)
            .map_or(1, |s| s.chars().count() + 1) as u32;
        SrcPos {
            file: self.files[lo.file as usize].clone(),
            line: lo.line,
            col,
        }
    }

    /// The (file index, line) a byte comes from, to tell whether two tokens
    /// are on the same original line.
    pub fn line_key(&self, offset: usize) -> (u16, u32) {
        let idx = match self.lines.binary_search_by(|l| l.start.cmp(&offset)) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        };
        self.lines.get(idx).map_or((0, 0), |l| (l.file, l.line))
    }

    /// Position just after the end of the text (for "unexpected end").
    pub fn end_pos(&self) -> SrcPos {
        self.pos(self.text.len())
    }
}

const MAX_INCLUDE_DEPTH: usize = 32;

struct Cond {
    /// The branch we are in is taken.
    active: bool,
    /// The enclosing region is taken (else-branches only matter then).
    parent_active: bool,
    seen_else: bool,
    pos: SrcPos,
}

struct Pre<'a> {
    out: Source,
    diags: &'a mut Diags,
    defined: std::collections::HashMap<String, Option<String>>,
    conds: Vec<Cond>,
    stack: Vec<PathBuf>,
}

/// Preprocesses the file at `path`.
pub fn preprocess_file(path: &Path, defines: &[Define], diags: &mut Diags) -> Source {
    let mut p = Pre::new(defines, diags);
    match std::fs::read_to_string(path) {
        Ok(text) => p.run_file(path, &text),
        Err(e) => p.diags.error(
            SrcPos::none(&path.display().to_string()),
            format!("cannot read config file: {e}"),
        ),
    }
    p.out
}

/// Preprocesses `text` as if it were a file called `name`; includes are
/// resolved relative to the current directory.
pub fn preprocess_str(name: &str, text: &str, defines: &[Define], diags: &mut Diags) -> Source {
    let mut p = Pre::new(defines, diags);
    p.run_file(Path::new(name), text);
    p.out
}

impl<'a> Pre<'a> {
    fn new(defines: &[Define], diags: &'a mut Diags) -> Pre<'a> {
        let mut p = Pre {
            out: Source::default(),
            diags,
            defined: Default::default(),
            conds: Vec::new(),
            stack: Vec::new(),
        };
        for d in defines {
            p.defined.insert(d.name.clone(), d.value.clone());
            p.out
                .events
                .push((0, DefEvent::Set(d.name.clone(), d.value.clone())));
        }
        p
    }

    fn active(&self) -> bool {
        self.conds.last().is_none_or(|c| c.active)
    }

    fn file_id(&mut self, path: &Path) -> u16 {
        let name: Arc<str> = Arc::from(path.display().to_string());
        if let Some(i) = self.out.files.iter().position(|f| *f == name) {
            return i as u16;
        }
        self.out.files.push(name);
        (self.out.files.len() - 1) as u16
    }

    fn run_file(&mut self, path: &Path, text: &str) {
        let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.stack.push(canon);
        let fid = self.file_id(path);
        let depth_at_entry = self.conds.len();
        let mut in_comment = false;
        let mut lines = text.lines().enumerate().peekable();
        while let Some((idx, raw)) = lines.next() {
            let line_no = idx as u32 + 1;
            let line = raw;
            let trimmed = line.trim_start();
            let pos = SrcPos {
                file: self.out.files[fid as usize].clone(),
                line: line_no,
                col: line[..line.len() - trimmed.len()].chars().count() as u32 + 1,
            };
            if !in_comment && (trimmed.starts_with("#!") || trimmed.starts_with("!!")) {
                // A directive; `\` at the end continues it on the next line.
                let mut directive = trimmed[2..].to_string();
                while directive.ends_with('\\') {
                    directive.pop();
                    match lines.next() {
                        Some((_, next)) => directive.push_str(next),
                        None => break,
                    }
                }
                self.directive(path, &directive, pos);
                continue;
            }
            if !in_comment && self.active() {
                if let Some(rest) = strip_word(trimmed, "include_file") {
                    self.include(path, rest, pos, true);
                    continue;
                }
                if let Some(rest) = strip_word(trimmed, "import_file") {
                    self.include(path, rest, pos, false);
                    continue;
                }
            }
            in_comment = scan_comment_state(line, in_comment);
            if self.active() {
                let start = self.out.text.len();
                self.out.lines.push(LineOrigin {
                    start,
                    file: fid,
                    line: line_no,
                });
                self.out.text.push_str(line);
                self.out.text.push('\n');
            }
        }
        while self.conds.len() > depth_at_entry {
            let c = self.conds.pop().expect("length checked");
            self.diags.error(
                c.pos,
                "found end of file, expected `#!endif` for this `#!ifdef`/`#!ifndef`",
            );
        }
        self.stack.pop();
    }

    fn directive(&mut self, path: &Path, d: &str, pos: SrcPos) {
        let d = d.trim_end();
        let (word, rest) = match d.find(|c: char| c.is_whitespace()) {
            Some(i) => (&d[..i], d[i..].trim()),
            None => (d, ""),
        };
        match word {
            "ifdef" | "ifndef" => {
                let name = first_word(rest);
                if name.is_empty() {
                    self.diags
                        .push(Diagnostic::expected(pos.clone(), "end of line", "a name after `#!ifdef`"));
                }
                let parent = self.active();
                let is_def = self.defined.contains_key(name);
                let taken = if word == "ifdef" { is_def } else { !is_def };
                self.conds.push(Cond {
                    active: parent && taken,
                    parent_active: parent,
                    seen_else: false,
                    pos,
                });
            }
            "else" => match self.conds.last_mut() {
                Some(c) if !c.seen_else => {
                    c.seen_else = true;
                    c.active = c.parent_active && !c.active;
                }
                Some(_) => self.diags.error(pos, "found a second `#!else`, expected `#!endif`"),
                None => self
                    .diags
                    .error(pos, "found `#!else`, expected a preceding `#!ifdef` or `#!ifndef`"),
            },
            "endif" => {
                if self.conds.pop().is_none() {
                    self.diags
                        .error(pos, "found `#!endif`, expected a preceding `#!ifdef` or `#!ifndef`");
                }
            }
            _ if !self.active() => {}
            "KAMAILIO" | "SER" | "MAXCOMPAT" | "ALL" | "OPENSER" => {}
            "define" | "def" | "trydef" | "redefine" => {
                let (name, value) = split_define(rest);
                if !is_ident(name) {
                    self.diags.push(Diagnostic::expected(
                        pos,
                        format!("`{name}`"),
                        format!("a name after `#!{word}`"),
                    ));
                    return;
                }
                let exists = self.defined.contains_key(name);
                match word {
                    "trydef" if exists => return,
                    "define" | "def" if exists => {
                        self.diags.error(
                            pos,
                            format!(
                                "`{name}` is already defined; use `#!redefine` to change it or `#!trydef` to keep the first value"
                            ),
                        );
                        return;
                    }
                    _ => {}
                }
                self.set(name, value);
            }
            "undef" => {
                let name = first_word(rest);
                self.defined.remove(name);
                let at = self.out.text.len();
                self.out.events.push((at, DefEvent::Unset(name.to_string())));
            }
            "defenv" | "trydefenv" => {
                let (name, var) = match rest.split_once('=') {
                    Some((n, v)) => (n.trim(), v.trim()),
                    None => (rest, rest),
                };
                match std::env::var(var) {
                    Ok(v) => {
                        if word == "trydefenv" && self.defined.contains_key(name) {
                            return;
                        }
                        self.set(name, Some(v));
                    }
                    Err(_) if word == "trydefenv" => {}
                    Err(_) => self
                        .diags
                        .error(pos, format!("environment variable `{var}` for `#!defenv` is not set")),
                }
            }
            "subst" | "substdef" | "substdefs" => match parse_subst_rule(rest) {
                Ok((rule, from, to)) => {
                    let at = self.out.text.len();
                    self.out.events.push((at, DefEvent::Subst(rule)));
                    if word != "subst" {
                        let value = if word == "substdefs" { format!("\"{to}\"") } else { to };
                        self.set(&from, Some(value));
                    }
                }
                Err(e) => self.diags.error(pos, e),
            },
            "include_file" => self.include(path, rest, pos, true),
            "import_file" => self.include(path, rest, pos, false),
            "ifexp" | "defexp" | "defexps" => self.diags.error(
                pos,
                format!("`#!{word}` (expression evaluation in the preprocessor) is not supported by sipshard"),
            ),
            _ => self.diags.push(Diagnostic::expected(
                pos,
                format!("`#!{word}`"),
                "a preprocessor directive (define, trydef, redefine, undef, ifdef, ifndef, else, endif, include_file, import_file, subst, substdef)",
            )),
        }
    }

    fn set(&mut self, name: &str, value: Option<String>) {
        self.defined.insert(name.to_string(), value.clone());
        let at = self.out.text.len();
        self.out
            .events
            .push((at, DefEvent::Set(name.to_string(), value)));
    }

    fn include(&mut self, from: &Path, rest: &str, pos: SrcPos, required: bool) {
        let Some(name) = unquote(rest.trim().trim_end_matches(';').trim()) else {
            self.diags.push(Diagnostic::expected(
                pos,
                format!("`{}`", rest.trim()),
                "a quoted file name",
            ));
            return;
        };
        let mut target = PathBuf::from(name);
        if target.is_relative() {
            let base = from.parent().unwrap_or(Path::new(""));
            let rel = base.join(&target);
            if rel.exists() || !target.exists() {
                target = rel;
            }
        }
        let canon = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
        if self.stack.contains(&canon) {
            self.diags.error(
                pos,
                format!("include cycle: `{}` includes itself", target.display()),
            );
            return;
        }
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.error(pos, "includes nested too deeply");
            return;
        }
        match std::fs::read_to_string(&target) {
            Ok(text) => self.run_file(&target, &text),
            Err(_) if !required => {}
            Err(e) => self
                .diags
                .error(pos, format!("cannot include `{}`: {e}", target.display())),
        }
    }
}

/// Returns the rest after `word` when the line starts with it as a word.
fn strip_word<'t>(line: &'t str, word: &str) -> Option<&'t str> {
    let rest = line.strip_prefix(word)?;
    match rest.chars().next() {
        Some(c) if c.is_whitespace() || c == '"' => Some(rest),
        _ => None,
    }
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `NAME value...` (value may be absent); a trailing `#` or `//` comment
/// outside quotes is not part of the value.
fn split_define(rest: &str) -> (&str, Option<String>) {
    let name_end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let name = &rest[..name_end];
    let value = strip_trailing_comment(rest[name_end..].trim()).trim();
    (name, (!value.is_empty()).then(|| value.to_string()))
}

fn strip_trailing_comment(s: &str) -> &str {
    let bytes = s.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => {
                if c == b'"' || c == b'\'' {
                    quote = Some(c);
                } else if c == b'#' || (c == b'/' && bytes.get(i + 1) == Some(&b'/')) {
                    return &s[..i];
                }
            }
        }
        i += 1;
    }
    s
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
}

/// Parses `"<d>re<d>repl<d>flags"` (any delimiter `d`) into a rule and the
/// raw `re` and `repl` texts (for `#!substdef`, which also defines them).
fn parse_subst_rule(rest: &str) -> Result<(SubstRule, String, String), String> {
    let body = unquote(rest.trim()).ok_or_else(|| {
        format!(
            "found `{}`, expected a quoted \"/regex/replacement/flags\"",
            rest.trim()
        )
    })?;
    let parts = split_subst(body)?;
    let (re_s, repl_s, flags) = (parts.0, parts.1, parts.2);
    let mut builder = regex::RegexBuilder::new(&re_s);
    builder.case_insensitive(flags.contains('i'));
    let re = builder
        .build()
        .map_err(|e| format!("bad regular expression `{re_s}` in subst: {e}"))?;
    Ok((
        SubstRule {
            re,
            repl: backrefs_to_regex(&repl_s),
            global: flags.contains('g'),
        },
        re_s,
        repl_s,
    ))
}

/// Splits `/re/repl/flags` on its first character as delimiter; `\d`
/// escapes the delimiter.
pub fn split_subst(body: &str) -> Result<(String, String, String), String> {
    let mut chars = body.chars();
    let delim = chars.next().ok_or_else(|| {
        "found an empty subst expression, expected \"/regex/replacement/flags\"".to_string()
    })?;
    let mut parts = vec![String::new()];
    let mut esc = false;
    for c in chars {
        if esc {
            if c != delim {
                parts.last_mut().expect("non-empty").push('\\');
            }
            parts.last_mut().expect("non-empty").push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == delim && parts.len() < 3 {
            parts.push(String::new());
        } else {
            parts.last_mut().expect("non-empty").push(c);
        }
    }
    if parts.len() != 3 {
        return Err(format!(
            "found `{body}`, expected `{delim}regex{delim}replacement{delim}flags`"
        ));
    }
    let flags = parts.pop().expect("3 parts");
    let repl = parts.pop().expect("3 parts");
    let re = parts.pop().expect("3 parts");
    if let Some(bad) = flags.chars().find(|c| !matches!(c, 'g' | 'i' | 's')) {
        return Err(format!(
            "found subst flag `{bad}`, expected `g`, `i` or `s`"
        ));
    }
    Ok((re, repl, flags))
}

/// Turns sed/Kamailio back-references `\1` into `${1}` and escapes `$`.
pub fn backrefs_to_regex(repl: &str) -> String {
    let mut out = String::with_capacity(repl.len() + 4);
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str("${");
                    out.push(*d);
                    out.push('}');
                    chars.next();
                }
                Some(_) => out.push(chars.next().expect("peeked")),
                None => out.push('\\'),
            },
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

/// Whether a `/* ... */` comment is still open after `line`, given whether
/// one was open before it. Strings and line comments are skipped.
fn scan_comment_state(line: &str, mut in_comment: bool) -> bool {
    let b = line.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if in_comment {
            if c == b'*' && b.get(i + 1) == Some(&b'/') {
                in_comment = false;
                i += 1;
            }
        } else if let Some(q) = quote {
            if c == b'\\' {
                i += 1;
            } else if c == q {
                quote = None;
            }
        } else if c == b'"' || c == b'\'' {
            quote = Some(c);
        } else if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            return false;
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            in_comment = true;
            i += 1;
        }
        i += 1;
    }
    in_comment
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pp(text: &str, defs: &[Define]) -> (Source, Diags) {
        let mut d = Diags::default();
        let s = preprocess_str("t.cfg", text, defs, &mut d);
        (s, d)
    }

    #[test]
    fn conditionals_nest_and_else_flips() {
        let text = "#!define A\n#!ifdef A\na1\n#!ifdef B\nb1\n#!else\nnb\n#!endif\n#!else\nna\n#!endif\nend\n";
        let (s, d) = pp(text, &[]);
        assert!(d.list.is_empty(), "{:?}", d.list);
        assert_eq!(s.text, "a1\nnb\nend\n");
        assert_eq!(s.pos(s.text.find("nb").unwrap()).line, 7);
        assert_eq!(s.pos(s.text.find("end").unwrap()).line, 12);
    }

    #[test]
    fn command_line_defines_and_bang_bang_prefix() {
        let (s, _) = pp(
            "!!ifndef WITH_X\nno\n!!else\nyes\n!!endif\n",
            &[Define::parse("WITH_X")],
        );
        assert_eq!(s.text, "yes\n");
        let d = Define::parse("N=5");
        assert_eq!(d.value.as_deref(), Some("5"));
    }

    #[test]
    fn define_twice_is_an_error_but_trydef_and_redefine_are_not() {
        let (_, d) = pp(
            "#!define A 1\n#!trydef A 2\n#!redefine A 3\n#!define A 4\n",
            &[],
        );
        assert_eq!(d.list.len(), 1);
        assert_eq!(d.list[0].pos.line, 4);
        let (s, _) = pp("#!define A 1\n#!undef A\n#!ifdef A\nx\n#!endif\n", &[]);
        assert_eq!(s.text, "");
    }

    #[test]
    fn unbalanced_conditionals_are_reported_where_they_start() {
        let (_, d) = pp("a\n  #!ifdef X\nb\n", &[]);
        assert_eq!(d.list.len(), 1);
        assert_eq!((d.list[0].pos.line, d.list[0].pos.col), (2, 3));
        let (_, d) = pp("#!endif\n#!else\n", &[]);
        assert_eq!(d.list.len(), 2);
    }

    #[test]
    fn directives_inside_block_comments_are_ignored() {
        let (s, d) = pp("/* start\n#!define A 1\n*/\n#!ifdef A\nx\n#!endif\n", &[]);
        assert!(d.list.is_empty());
        assert!(!s.text.contains('x'));
    }

    #[test]
    fn define_value_and_comment() {
        let (s, _) = pp("#!define DB \"mysql://a\" # the db\n", &[]);
        match &s.events[0].1 {
            DefEvent::Set(n, v) => {
                assert_eq!(n, "DB");
                assert_eq!(v.as_deref(), Some("\"mysql://a\""));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn subst_rules_parse() {
        let (rule, from, to) = parse_subst_rule("\"!MYIP!10.0.0.1!g\"").unwrap();
        assert_eq!((from.as_str(), to.as_str()), ("MYIP", "10.0.0.1"));
        assert!(rule.global);
        assert!(parse_subst_rule("\"/a/b\"").is_err());
        assert!(parse_subst_rule("\"/a/b/x\"").is_err());
        assert_eq!(backrefs_to_regex("x\\1$"), "x${1}$$");
    }

    #[test]
    fn unknown_directive_and_missing_include() {
        let (_, d) = pp("#!frobnicate\ninclude_file \"/nonexistent/x.cfg\"\nimport_file \"/nonexistent/y.cfg\"\n", &[]);
        assert_eq!(d.list.len(), 2, "{:?}", d.list);
        assert!(d.list[0].message.contains("#!frobnicate"));
        assert_eq!(d.list[1].pos.line, 2);
    }
}
