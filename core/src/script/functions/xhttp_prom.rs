//! Module `xhttp_prom` (`src/modules/xhttp_prom`): script-defined
//! Prometheus counters and gauges.
//!
//! Metrics are declared with `modparam("xhttp_prom", "prom_counter",
//! "name=calls; label=method:code")` (or `prom_gauge`), and updated with
//! `prom_counter_inc(name, number[, l0[, l1[, l2]]])`,
//! `prom_counter_reset(name[, l0...])`, `prom_gauge_set(name, value[, l0...])`,
//! `prom_gauge_inc`, `prom_gauge_reset`. A constant name is resolved to its
//! definition when the config is compiled (an unknown name or a wrong number
//! of labels is a compile error); a name holding a pseudo-variable is looked
//! up when the function runs. The runtime keeps the values per shard
//! ([`crate::route_io::RouteEnv::prom`]) and exports them on `/metrics` with
//! the prefix of `xhttp_prom_beginning` (default `kamailio_`).

use std::sync::Arc;

use crate::script::exec_ctx::Exec;
use crate::script::program::{CArg, IntArg};
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};

/// Counter or gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromKind {
    Counter,
    Gauge,
}

impl PromKind {
    pub fn type_name(self) -> &'static str {
        match self {
            PromKind::Counter => "counter",
            PromKind::Gauge => "gauge",
        }
    }
}

/// One metric declared by a modparam.
#[derive(Debug, Clone, PartialEq)]
pub struct PromDef {
    /// The name as written in the config.
    pub name: String,
    /// The exported name (prefix + name).
    pub full_name: String,
    pub kind: PromKind,
    /// Label names (at most three).
    pub labels: Vec<String>,
    pub help: String,
}

/// The module's parameters.
#[derive(Debug, Clone)]
pub struct PromSettings {
    /// `xhttp_prom_beginning` (default `kamailio_`).
    pub beginning: String,
    pub defs: Vec<Arc<PromDef>>,
}

impl Default for PromSettings {
    fn default() -> Self {
        PromSettings {
            beginning: "kamailio_".into(),
            defs: Vec::new(),
        }
    }
}

impl PromSettings {
    /// The definition of `name` and its index.
    pub fn find(&self, name: &str) -> Option<(usize, &Arc<PromDef>)> {
        self.defs.iter().enumerate().find(|(_, d)| d.name == name)
    }
}

/// What to do to a metric's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PromOp {
    Add(f64),
    Set(f64),
    Reset,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `"name=x; label=a:b:c; help=..."`.
pub fn parse_def(kind: PromKind, s: &str, beginning: &str) -> Result<PromDef, String> {
    let mut name = None;
    let mut labels = Vec::new();
    let mut help = String::new();
    for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            format!(
                "found `{part}` in a {} definition, expected key=value",
                kind.type_name()
            )
        })?;
        let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
        match k.trim() {
            "name" => name = Some(v.to_string()),
            "label" => {
                labels = v
                    .split(':')
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from)
                    .collect()
            }
            "help" => help = v.to_string(),
            other => {
                return Err(format!(
                    "unknown key `{other}` in a {} definition (name, label, help)",
                    kind.type_name()
                ))
            }
        }
    }
    let name = name.ok_or_else(|| format!("a {} definition needs name=...", kind.type_name()))?;
    if !valid_name(&name) {
        return Err(format!("`{name}` is not a valid metric name"));
    }
    if labels.len() > 3 {
        return Err(format!(
            "{} `{name}` has {} labels, at most 3 are allowed",
            kind.type_name(),
            labels.len()
        ));
    }
    if let Some(l) = labels
        .iter()
        .find(|l| !valid_name(l) || l.contains(':') || *l == "shard")
    {
        return Err(format!("`{l}` cannot be a label name of `{name}`"));
    }
    if help.is_empty() {
        help = format!("Script {} {name}.", kind.type_name());
    }
    Ok(PromDef {
        full_name: format!("{beginning}{name}"),
        name,
        kind,
        labels,
        help,
    })
}

/// `modparam("xhttp_prom", param, value)`: Ok(true) when consumed.
pub fn modparam(s: &mut PromSettings, param: &str, value: &str) -> Result<bool, String> {
    let kind = match param {
        "prom_counter" => PromKind::Counter,
        "prom_gauge" => PromKind::Gauge,
        "xhttp_prom_beginning" => {
            s.beginning = value.to_string();
            s.defs = s
                .defs
                .iter()
                .map(|d| {
                    Arc::new(PromDef {
                        full_name: format!("{value}{}", d.name),
                        ..(**d).clone()
                    })
                })
                .collect();
            return Ok(true);
        }
        _ => return Ok(false),
    };
    let def = parse_def(kind, value, &s.beginning)?;
    if s.find(&def.name).is_some() {
        return Err(format!("metric `{}` is defined twice", def.name));
    }
    s.defs.push(Arc::new(def));
    Ok(true)
}

/// Where the labels start in each function's arguments, and the kind of
/// metric it acts on.
pub fn shape(fname: &str) -> Option<(PromKind, usize)> {
    match fname {
        "prom_counter_inc" => Some((PromKind::Counter, 2)),
        "prom_counter_reset" => Some((PromKind::Counter, 1)),
        "prom_gauge_set" | "prom_gauge_inc" => Some((PromKind::Gauge, 2)),
        "prom_gauge_reset" => Some((PromKind::Gauge, 1)),
        _ => None,
    }
}

/// Compile-time resolution: a constant name becomes the index of its
/// definition (`CArg::Int(Const(i))`); checks kind and label count.
pub fn fixup(settings: &PromSettings, fname: &str, args: &mut [CArg]) -> Result<(), String> {
    let Some((kind, first_label)) = shape(fname) else {
        return Ok(());
    };
    let Some(CArg::Str(f)) = args.first() else {
        return Ok(());
    };
    let Some(name) = f.as_const() else {
        return Ok(()); // dynamic: looked up when it runs
    };
    let (i, def) = settings
        .find(name)
        .ok_or_else(|| format!("{fname}: no {} `{name}` is defined (modparam(\"xhttp_prom\", \"prom_{}\", \"name={name}\"))", kind.type_name(), kind.type_name()))?;
    if def.kind != kind {
        return Err(format!("{fname}: `{name}` is a {}", def.kind.type_name()));
    }
    let given = args.len() - first_label;
    if given != def.labels.len() {
        return Err(format!(
            "{fname}: `{name}` has {} label(s), found {given} label value(s)",
            def.labels.len()
        ));
    }
    args[0] = CArg::Int(IntArg::Const(i as i64));
    Ok(())
}

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "prom_counter_inc",
        aliases: &[],
        module: "xhttp_prom",
        min_args: 2,
        max_args: 5,
        args: &[A::Str, A::Int, A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: counter_inc,
    },
    FnSpec {
        name: "prom_counter_reset",
        aliases: &[],
        module: "xhttp_prom",
        min_args: 1,
        max_args: 4,
        args: &[A::Str, A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: counter_reset,
    },
    FnSpec {
        name: "prom_gauge_set",
        aliases: &[],
        module: "xhttp_prom",
        min_args: 2,
        max_args: 5,
        args: &[A::Str, A::Str, A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: gauge_set,
    },
    FnSpec {
        name: "prom_gauge_inc",
        aliases: &[],
        module: "xhttp_prom",
        min_args: 2,
        max_args: 5,
        args: &[A::Str, A::Str, A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: gauge_inc,
    },
    FnSpec {
        name: "prom_gauge_reset",
        aliases: &[],
        module: "xhttp_prom",
        min_args: 1,
        max_args: 4,
        args: &[A::Str, A::Str, A::Str, A::Str],
        routes: rt::ANY,
        imp: gauge_reset,
    },
];

/// Resolves the metric, evaluates the labels and hands the update to the
/// runtime. 1 done, -1 unknown metric or wrong labels.
fn apply(x: &mut Exec<'_, '_>, args: &[CArg], fname: &str, op: PromOp) -> i32 {
    let Some((kind, first)) = shape(fname) else {
        return -1;
    };
    let defs = &x.prog.settings.prom;
    let def = match &args[0] {
        CArg::Int(IntArg::Const(i)) => defs.defs.get(*i as usize).cloned(),
        a => {
            let name = x.arg_str(a);
            let name = String::from_utf8_lossy(&name);
            defs.find(&name).map(|(_, d)| Arc::clone(d))
        }
    };
    let Some(def) = def.filter(|d| d.kind == kind && d.labels.len() == args.len() - first) else {
        x.log_err(&format!(
            "{fname}: no such {} or wrong number of labels",
            kind.type_name()
        ));
        return -1;
    };
    let vals: Vec<String> = args[first..]
        .iter()
        .map(|a| String::from_utf8_lossy(&x.arg_str(a)).into_owned())
        .collect();
    let refs: Vec<&str> = vals.iter().map(String::as_str).collect();
    x.env.prom(&def, &refs, op);
    1
}

fn counter_inc(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match x.arg_int(&args[1]) {
        Some(n) if n >= 0 => apply(x, args, "prom_counter_inc", PromOp::Add(n as f64)),
        _ => {
            x.log_err("prom_counter_inc: the number must be a non-negative integer");
            -1
        }
    }
}

fn counter_reset(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    apply(x, args, "prom_counter_reset", PromOp::Reset)
}

fn gauge_value(x: &mut Exec<'_, '_>, a: &CArg, fname: &str) -> Option<f64> {
    let v = x.arg_str(a);
    let v = std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok());
    if v.is_none() {
        x.log_err(&format!("{fname}: the value must be a number"));
    }
    v.filter(|v| v.is_finite())
}

fn gauge_set(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match gauge_value(x, &args[1], "prom_gauge_set") {
        Some(v) => apply(x, args, "prom_gauge_set", PromOp::Set(v)),
        None => -1,
    }
}

fn gauge_inc(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match gauge_value(x, &args[1], "prom_gauge_inc") {
        Some(v) => apply(x, args, "prom_gauge_inc", PromOp::Add(v)),
        None => -1,
    }
}

fn gauge_reset(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    apply(x, args, "prom_gauge_reset", PromOp::Reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions() {
        let mut s = PromSettings::default();
        assert!(modparam(&mut s, "prom_counter", "name=calls; label=method:code").unwrap());
        assert!(modparam(&mut s, "prom_gauge", "name=load; help='Load now'").unwrap());
        assert_eq!(s.defs[0].full_name, "kamailio_calls");
        assert_eq!(s.defs[0].labels, ["method", "code"]);
        assert_eq!(s.defs[1].help, "Load now");
        assert!(modparam(&mut s, "xhttp_prom_beginning", "acme_").unwrap());
        assert_eq!(s.defs[1].full_name, "acme_load");
        assert!(modparam(&mut s, "prom_counter", "name=calls").is_err());
        assert!(modparam(&mut s, "prom_counter", "name=x; label=a:b:c:d").is_err());
        assert!(modparam(&mut s, "prom_counter", "name=1x").is_err());
        assert!(!modparam(&mut s, "xhttp_prom_timeout", "60").unwrap());
    }

    #[test]
    fn fixup_resolves_constant_names() {
        let mut s = PromSettings::default();
        modparam(&mut s, "prom_gauge", "name=g").unwrap();
        modparam(&mut s, "prom_counter", "name=c; label=m").unwrap();
        let lit = |v: &str| CArg::Str(crate::script::pv::Fmt::literal(v));
        let mut a = vec![lit("c"), CArg::Int(IntArg::Const(1)), lit("INVITE")];
        fixup(&s, "prom_counter_inc", &mut a).unwrap();
        assert!(matches!(a[0], CArg::Int(IntArg::Const(1))));
        let mut a = vec![lit("c"), CArg::Int(IntArg::Const(1))];
        assert!(fixup(&s, "prom_counter_inc", &mut a).is_err());
        let mut a = vec![lit("g"), CArg::Int(IntArg::Const(1))];
        assert!(fixup(&s, "prom_counter_inc", &mut a).is_err());
        let mut a = vec![lit("nope")];
        assert!(fixup(&s, "prom_gauge_reset", &mut a).is_err());
    }
}
