//! Diagnostics for the routing language: every problem found while
//! preprocessing, parsing or compiling a config, each naming the original
//! `file:line:column` (inside included files too), in the shape
//! `file:line:column: error: found X, expected Y`.

use std::fmt;
use std::sync::Arc;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The config still compiles; something is ignored or means nothing here.
    Warning,
    /// The config cannot run.
    Error,
}

/// A position in an original (pre-preprocessing) source file. Lines and
/// columns are 1-based; the column counts characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrcPos {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl SrcPos {
    /// A position for things that have no place in a file (command line).
    pub fn none(what: &str) -> SrcPos {
        SrcPos {
            file: Arc::from(what),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for SrcPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// One problem in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: SrcPos,
    pub message: String,
}

impl Diagnostic {
    pub fn error(pos: SrcPos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            pos,
            message: message.into(),
        }
    }

    pub fn warning(pos: SrcPos, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            pos,
            message: message.into(),
        }
    }

    /// `found X, expected Y` in the house format.
    pub fn expected(
        pos: SrcPos,
        found: impl fmt::Display,
        expected: impl fmt::Display,
    ) -> Diagnostic {
        Diagnostic::error(pos, format!("found {found}, expected {expected}"))
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{}: {}: {}", self.pos, sev, self.message)
    }
}

/// Collects diagnostics while a phase keeps going after a recoverable error.
#[derive(Debug, Default, Clone)]
pub struct Diags {
    pub list: Vec<Diagnostic>,
}

impl Diags {
    pub fn push(&mut self, d: Diagnostic) {
        self.list.push(d);
    }

    pub fn error(&mut self, pos: SrcPos, message: impl Into<String>) {
        self.list.push(Diagnostic::error(pos, message));
    }

    pub fn warning(&mut self, pos: SrcPos, message: impl Into<String>) {
        self.list.push(Diagnostic::warning(pos, message));
    }

    pub fn has_errors(&self) -> bool {
        self.list.iter().any(Diagnostic::is_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_compiler() {
        let d = Diagnostic::expected(
            SrcPos {
                file: Arc::from("a.cfg"),
                line: 3,
                col: 7,
            },
            "`}`",
            "`;`",
        );
        assert_eq!(d.to_string(), "a.cfg:3:7: error: found `}`, expected `;`");
        let w = Diagnostic::warning(SrcPos::none("-A"), "x");
        assert_eq!(w.to_string(), "-A:0:0: warning: x");
    }
}
