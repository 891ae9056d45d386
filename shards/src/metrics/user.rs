//! Script metrics (`xhttp_prom`: `prom_counter_inc`, `prom_gauge_set`, ...),
//! kept per shard.
//!
//! Each shard has its own map behind its own mutex inside its
//! [`super::ShardStats`]: only that shard updates it, so the lock is never
//! contended except for the moment a scrape copies it; no cache line is
//! shared with another shard on the hot path.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::Arc;

use sipshard_core::script::functions::xhttp_prom::{PromDef, PromKind, PromOp};

#[derive(Debug)]
struct Entry {
    def: Arc<PromDef>,
    labels: Vec<String>,
    value: f64,
}

/// One shard's script metrics: `name\0l0\0l1...` -> value.
#[derive(Debug, Default)]
pub struct UserMetrics {
    map: HashMap<Box<str>, Entry>,
    key: String,
}

impl UserMetrics {
    /// Applies `op` to the value of `def` for `labels`.
    pub fn apply(&mut self, def: &Arc<PromDef>, labels: &[&str], op: PromOp) {
        self.key.clear();
        self.key.push_str(&def.full_name);
        for l in labels {
            self.key.push('\0');
            self.key.push_str(l);
        }
        let e = match self.map.get_mut(self.key.as_str()) {
            Some(e) => e,
            None => self
                .map
                .entry(self.key.clone().into_boxed_str())
                .or_insert_with(|| Entry {
                    def: Arc::clone(def),
                    labels: labels.iter().map(|l| l.to_string()).collect(),
                    value: 0.0,
                }),
        };
        match op {
            PromOp::Add(n) => e.value += n,
            PromOp::Set(v) => e.value = v,
            PromOp::Reset => e.value = 0.0,
        }
    }

    /// The value for `full_name` and `labels`, if it was ever set.
    pub fn get(&self, full_name: &str, labels: &[&str]) -> Option<f64> {
        let mut k = full_name.to_string();
        for l in labels {
            k.push('\0');
            k.push_str(l);
        }
        self.map.get(k.as_str()).map(|e| e.value)
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders every shard's script metrics, one family per name, one sample
/// per shard and label set.
pub fn render<'a>(
    out: &mut String,
    shards: impl Iterator<Item = (usize, &'a std::sync::Mutex<UserMetrics>)>,
) {
    type Family = (Arc<PromDef>, Vec<(usize, Vec<String>, f64)>);
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    for (sid, m) in shards {
        let m = m.lock().unwrap_or_else(|p| p.into_inner());
        for e in m.map.values() {
            families
                .entry(e.def.full_name.clone())
                .or_insert_with(|| (Arc::clone(&e.def), Vec::new()))
                .1
                .push((sid, e.labels.clone(), e.value));
        }
    }
    for (name, (def, mut samples)) in families {
        samples.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let _ = writeln!(out, "# HELP {name} {}", def.help.replace('\n', " "));
        let _ = writeln!(out, "# TYPE {name} {}", def.kind.type_name());
        for (sid, labels, v) in samples {
            let _ = write!(out, "{name}{{shard=\"{sid}\"");
            for (n, v) in def.labels.iter().zip(&labels) {
                let _ = write!(out, ",{n}=\"{}\"", escape(v));
            }
            let v = if def.kind == PromKind::Counter {
                v.max(0.0)
            } else {
                v
            };
            let _ = writeln!(out, "}} {v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipshard_core::script::functions::xhttp_prom::{parse_def, PromKind};
    use std::sync::Mutex;

    #[test]
    fn per_shard_values_render_with_labels() {
        let c = Arc::new(parse_def(PromKind::Counter, "name=calls;label=m", "kamailio_").unwrap());
        let g = Arc::new(parse_def(PromKind::Gauge, "name=load", "kamailio_").unwrap());
        let shards = [
            Mutex::new(UserMetrics::default()),
            Mutex::new(UserMetrics::default()),
        ];
        shards[0]
            .lock()
            .unwrap()
            .apply(&c, &["INVITE"], PromOp::Add(2.0));
        shards[0]
            .lock()
            .unwrap()
            .apply(&c, &["INVITE"], PromOp::Add(1.0));
        shards[1]
            .lock()
            .unwrap()
            .apply(&c, &["BYE"], PromOp::Add(1.0));
        shards[1].lock().unwrap().apply(&g, &[], PromOp::Set(1.5));
        assert_eq!(
            shards[0].lock().unwrap().get("kamailio_calls", &["INVITE"]),
            Some(3.0)
        );
        let mut out = String::new();
        render(&mut out, shards.iter().enumerate());
        assert!(out.contains("# TYPE kamailio_calls counter\n"), "{out}");
        assert!(
            out.contains("kamailio_calls{shard=\"0\",m=\"INVITE\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("kamailio_calls{shard=\"1\",m=\"BYE\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("kamailio_load{shard=\"1\"} 1.5\n"), "{out}");
        shards[0]
            .lock()
            .unwrap()
            .apply(&c, &["INVITE"], PromOp::Reset);
        assert_eq!(
            shards[0].lock().unwrap().get("kamailio_calls", &["INVITE"]),
            Some(0.0)
        );
    }
}
