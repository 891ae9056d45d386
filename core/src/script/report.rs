//! The migration report of `sipshard check`: each Kamailio feature a config
//! uses that sipshard lacks (function, module, pseudo-variable, global
//! parameter), listed once with the first place it appears and how often.

use std::fmt;

use super::diag::SrcPos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MigrationKind {
    Module,
    Function,
    PseudoVariable,
    GlobalParameter,
}

impl MigrationKind {
    pub fn noun(self) -> &'static str {
        match self {
            MigrationKind::Module => "module",
            MigrationKind::Function => "function",
            MigrationKind::PseudoVariable => "pseudo-variable",
            MigrationKind::GlobalParameter => "global parameter",
        }
    }
}

/// One unsupported feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationItem {
    pub kind: MigrationKind,
    pub name: String,
    /// The Kamailio module it belongs to, when known.
    pub module: Option<String>,
    pub first: SrcPos,
    pub uses: u32,
}

/// All unsupported features of a config, in order of first use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub items: Vec<MigrationItem>,
}

impl MigrationReport {
    /// Records a use; repeated uses of the same name only count.
    pub fn add(&mut self, kind: MigrationKind, name: &str, module: Option<&str>, pos: SrcPos) {
        if let Some(it) = self
            .items
            .iter_mut()
            .find(|i| i.kind == kind && i.name == name)
        {
            it.uses += 1;
            return;
        }
        self.items.push(MigrationItem {
            kind,
            name: name.to_string(),
            module: module.map(str::to_string),
            first: pos,
            uses: 1,
        });
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl fmt::Display for MigrationReport {
    /// A Markdown section per kind, a table row per item.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return writeln!(f, "Everything this config uses is supported by sipshard.");
        }
        for kind in [
            MigrationKind::Module,
            MigrationKind::Function,
            MigrationKind::PseudoVariable,
            MigrationKind::GlobalParameter,
        ] {
            let items: Vec<_> = self.items.iter().filter(|i| i.kind == kind).collect();
            if items.is_empty() {
                continue;
            }
            writeln!(f, "### Unsupported {}s ({})\n", kind.noun(), items.len())?;
            if kind == MigrationKind::Function {
                writeln!(f, "| function | module | first use | uses |")?;
                writeln!(f, "|---|---|---|---|")?;
            } else {
                writeln!(f, "| {} | first use | uses |", kind.noun())?;
                writeln!(f, "|---|---|---|")?;
            }
            for i in items {
                match (&i.module, kind) {
                    (Some(m), MigrationKind::Function) => {
                        writeln!(f, "| `{}` | {} | {} | {} |", i.name, m, i.first, i.uses)?
                    }
                    (None, MigrationKind::Function) => {
                        writeln!(f, "| `{}` | - | {} | {} |", i.name, i.first, i.uses)?
                    }
                    _ => writeln!(f, "| `{}` | {} | {} |", i.name, i.first, i.uses)?,
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_listed_once_with_their_first_position() {
        let mut r = MigrationReport::default();
        let p = |l| SrcPos {
            file: "k.cfg".into(),
            line: l,
            col: 2,
        };
        r.add(MigrationKind::Function, "t_relay", Some("tm"), p(10));
        r.add(MigrationKind::Function, "t_relay", Some("tm"), p(20));
        r.add(MigrationKind::Module, "tm", None, p(1));
        assert_eq!(r.items.len(), 2);
        assert_eq!(r.items[0].uses, 2);
        assert_eq!(r.items[0].first.line, 10);
        let text = r.to_string();
        assert!(
            text.contains("| `t_relay` | tm | k.cfg:10:2 | 2 |"),
            "{text}"
        );
        assert!(text.find("modules").unwrap() < text.find("functions").unwrap());
    }
}
