//! Compiles the syntax tree of a route block into a [`Program`]: resolves
//! route names, functions (checking module, arity and the route types a
//! function may run in, as Kamailio's `cmd_export_t` flags), pseudo-variables
//! and regexes, so the interpreter never looks a name up per message.
//!
//! Sub-routes get the route types of every block that can reach them through
//! `route(...)` calls, so a `route[X]` called from a `failure_route` is
//! checked as a failure route, as Kamailio does.
//!
//! In check mode a Kamailio function, module or pseudo-variable that
//! sipshard lacks is recorded once in the migration report instead of being
//! an error.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::ast::*;
use super::diag::{Diags, SrcPos};
use super::preproc::{backrefs_to_regex, split_subst, Source};
use super::program::*;
use super::pv::{parse_fmt, parse_pv, Fmt, PvError, PvNames, PvRef};
use super::registry::{self, route_type, ArgKind};
use super::report::{MigrationKind, MigrationReport};
use super::value::OwnedVal;
use crate::route_io::level;
use crate::sip::Method;

/// Whether unsupported Kamailio features are errors or report items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Check,
}

/// Everything the compiler shares while walking routes.
pub struct Compiler<'a> {
    pub src: &'a Source,
    pub diags: &'a mut Diags,
    pub report: &'a mut MigrationReport,
    pub mode: Mode,
    pub loaded: &'a HashSet<String>,
    pub names: PvNames,
    route_ids: HashMap<String, RouteId>,
    /// Route types the block being compiled may run as.
    cur_mask: u16,
    /// xhttp_prom definitions, to resolve metric names once.
    prom: super::functions::xhttp_prom::PromSettings,
}

impl<'a> Compiler<'a> {
    pub fn new(
        src: &'a Source,
        diags: &'a mut Diags,
        report: &'a mut MigrationReport,
        mode: Mode,
        loaded: &'a HashSet<String>,
    ) -> Compiler<'a> {
        Compiler {
            src,
            diags,
            report,
            mode,
            loaded,
            names: PvNames::default(),
            route_ids: HashMap::new(),
            cur_mask: route_type::REQUEST,
            prom: Default::default(),
        }
    }

    fn pos(&self, at: usize) -> SrcPos {
        self.src.pos(at)
    }

    /// Records a Kamailio feature sipshard lacks: an error in run mode, a
    /// report item in check mode.
    fn unsupported(&mut self, kind: MigrationKind, name: &str, module: Option<&str>, at: usize) {
        let pos = self.pos(at);
        match self.mode {
            Mode::Check => self.report.add(kind, name, module, pos),
            Mode::Run => {
                let m = module
                    .map(|m| format!(" (module `{m}`)"))
                    .unwrap_or_default();
                self.diags.error(
                    pos,
                    format!("{} `{name}`{m} is not supported by sipshard", kind.noun()),
                );
            }
        }
    }

    /// Compiles every route block of the file into `prog`.
    pub fn compile_routes(&mut self, file: &CfgFile, prog: &mut Program) {
        self.prom = prog.settings.prom.clone();
        // 1. Register blocks so calls can be resolved in any order.
        let mut blocks: Vec<(&TopItem, RouteId)> = Vec::new();
        let mut seen: HashMap<(RouteKind, String), usize> = HashMap::new();
        for item in &file.items {
            let TopItem::Route { kind, name, at, .. } = item else {
                continue;
            };
            // reply_route and the unnamed onreply_route are one block in Kamailio.
            let slot_kind = if *kind == RouteKind::OnReply && name.is_none() {
                RouteKind::Reply
            } else {
                *kind
            };
            let key = (slot_kind, name.clone().unwrap_or_default());
            if let Some(prev) = seen.get(&key) {
                let prev_pos = self.pos(*prev);
                self.diags.error(
                    self.pos(*at),
                    format!(
                        "{}{} is defined twice (first at {prev_pos})",
                        kind.keyword(),
                        name.as_ref().map(|n| format!("[{n}]")).unwrap_or_default()
                    ),
                );
                continue;
            }
            seen.insert(key.clone(), *at);
            let id = prog.routes.len() as RouteId;
            prog.routes.push(Route {
                kind: *kind,
                name: name.clone(),
                body: Vec::new(),
            });
            match (slot_kind, name) {
                (RouteKind::Request, None) => prog.request_route = Some(id),
                (RouteKind::Reply, None) => prog.reply_route = Some(id),
                (RouteKind::Request, Some(n)) => {
                    self.route_ids.insert(n.clone(), id);
                }
                _ => {}
            }
            prog.named.insert(key, id);
            blocks.push((item, id));
        }
        // 2. Route types each block may run as, propagated through calls.
        let mut masks = vec![0u16; prog.routes.len()];
        let mut calls: Vec<Vec<RouteId>> = vec![Vec::new(); prog.routes.len()];
        for (item, id) in &blocks {
            let TopItem::Route {
                kind, name, body, ..
            } = item
            else {
                continue;
            };
            masks[*id as usize] = match kind {
                RouteKind::Request if name.is_some() => 0,
                RouteKind::Request => route_type::REQUEST,
                RouteKind::Reply | RouteKind::OnReply => route_type::ONREPLY,
                RouteKind::Failure => route_type::FAILURE,
                RouteKind::Branch => route_type::BRANCH,
                RouteKind::Event => route_type::EVENT,
                RouteKind::OnSend => route_type::ONSEND,
            };
            collect_route_calls(body, &self.route_ids, &mut calls[*id as usize]);
        }
        let mut changed = true;
        while changed {
            changed = false;
            for from in 0..calls.len() {
                for &to in &calls[from] {
                    let m = masks[from] | masks[to as usize];
                    if m != masks[to as usize] {
                        masks[to as usize] = m;
                        changed = true;
                    }
                }
            }
        }
        // 3. Compile bodies.
        for (item, id) in &blocks {
            let TopItem::Route { body, .. } = item else {
                continue;
            };
            let mask = masks[*id as usize];
            // A sub-route nobody calls is checked as a request route.
            self.cur_mask = if mask == 0 { route_type::REQUEST } else { mask };
            let compiled = self.block(body);
            prog.routes[*id as usize].body = compiled;
        }
        // registrar's and nathelper's `received_avp` name AVPs.
        let reg = &mut prog.settings.reg;
        for (name, slot) in [
            (&reg.received_avp, &mut reg.received_avp_slot),
            (&reg.nat_received_avp, &mut reg.nat_received_avp_slot),
        ] {
            if let Some(Ok(r)) = name
                .as_ref()
                .map(|n| super::pv::parse_pv(n, &mut self.names))
            {
                if let super::pv::PvKind::Avp(i) = r.kind {
                    *slot = Some(i);
                }
            }
        }
        prog.var_count = self.names.vars.len();
        prog.avp_count = self.names.avps.len();
        prog.t_msgs = self.names.t_msgs;
        let mut var_names = vec![String::new(); prog.var_count];
        for (n, i) in &self.names.vars {
            var_names[*i as usize] = n.clone();
        }
        prog.var_names = var_names;
    }

    fn block(&mut self, stmts: &[Stmt]) -> Vec<CStmt> {
        let mut out = Vec::with_capacity(stmts.len());
        for s in stmts {
            self.stmt(s, &mut out);
        }
        out
    }

    fn stmt(&mut self, s: &Stmt, out: &mut Vec<CStmt>) {
        let c = match s {
            Stmt::Expr(e) => CStmt::Expr(self.expr(e)),
            Stmt::Block(b) => {
                out.extend(self.block(b));
                return;
            }
            Stmt::If {
                cond, then, els, ..
            } => CStmt::If {
                cond: self.expr(cond),
                then: self.block(then),
                els: self.block(els),
            },
            Stmt::While { cond, body, .. } => CStmt::While {
                cond: self.expr(cond),
                body: self.block(body),
            },
            Stmt::Switch { subject, cases, .. } => {
                let subject = self.expr(subject);
                let mut body = Vec::new();
                let mut labels = Vec::new();
                let mut default = None;
                for case in cases {
                    let start = body.len();
                    match &case.label {
                        None => {
                            if default.is_some() {
                                self.diags.error(self.pos(case.at), "a switch has two `default:` labels");
                            }
                            default = Some(start);
                        }
                        Some(l) => match const_value(l) {
                            Some(v) => labels.push((v, start)),
                            None => self.diags.error(
                                self.pos(l.at()),
                                "found an expression, expected a constant number or string as case label",
                            ),
                        },
                    }
                    for st in &case.body {
                        self.stmt(st, &mut body);
                    }
                }
                CStmt::Switch {
                    subject,
                    cases: labels,
                    default,
                    body,
                }
            }
            Stmt::Return { value, .. } => CStmt::Return(value.as_ref().map(|v| self.expr(v))),
            Stmt::Exit { .. } => CStmt::Exit,
            Stmt::Drop { .. } => CStmt::Drop,
            Stmt::Break { .. } => CStmt::Break,
            Stmt::Assign {
                pv,
                pv_at,
                add,
                value,
                ..
            } => {
                let value = self.expr(value);
                match self.pv(pv, *pv_at) {
                    Some(target) if target.is_writable() => CStmt::Assign {
                        target,
                        add: *add,
                        value,
                    },
                    Some(_) => {
                        self.diags.error(
                            self.pos(*pv_at),
                            format!("`{pv}` is read-only (assignable: $ru $rU $rd $rp $du $var(...) $avp(...))"),
                        );
                        return;
                    }
                    None => return,
                }
            }
        };
        out.push(c);
    }

    fn pv(&mut self, text: &str, at: usize) -> Option<PvRef> {
        match parse_pv(text, &mut self.names) {
            Ok(p) => Some(p),
            Err(PvError::Unsupported(name)) => {
                self.unsupported(MigrationKind::PseudoVariable, &name, None, at);
                None
            }
            Err(PvError::Invalid(msg)) => {
                self.diags.error(self.pos(at), msg);
                None
            }
        }
    }

    fn fmt(&mut self, text: &str, at: usize) -> Fmt {
        match parse_fmt(text, &mut self.names) {
            Ok(f) => f,
            Err(PvError::Unsupported(name)) => {
                self.unsupported(MigrationKind::PseudoVariable, &name, None, at);
                Fmt::literal(text)
            }
            Err(PvError::Invalid(msg)) => {
                self.diags.error(self.pos(at), msg);
                Fmt::literal(text)
            }
        }
    }

    fn expr(&mut self, e: &Expr) -> CExpr {
        match e {
            Expr::Int(i, _) => CExpr::Const(OwnedVal::Int(*i)),
            Expr::Str(s, at) => {
                let f = self.fmt(s, *at);
                match f.as_const() {
                    Some(c) => CExpr::Const(OwnedVal::Str(c.as_bytes().to_vec())),
                    // A string with pseudo-variables in an expression is a
                    // format; `$x` alone is the variable.
                    None => match f.parts.as_slice() {
                        [super::pv::FmtPart::Pv(p)] => CExpr::Pv(p.clone()),
                        _ => self.fmt_concat(f),
                    },
                }
            }
            Expr::Ip(s, _) => CExpr::Const(OwnedVal::Str(s.as_bytes().to_vec())),
            Expr::Pv(p, at) => match self.pv(p, *at) {
                Some(p) => CExpr::Pv(p),
                None => CExpr::Const(OwnedVal::Null),
            },
            Expr::Word(w, at) => self.word(w, *at),
            Expr::Call { name, args, at } => self.call(name, args, *at),
            Expr::Unary(op, inner, _) => {
                if let (UnOp::Neg, Expr::Int(i, _)) = (op, inner.as_ref()) {
                    return CExpr::Const(OwnedVal::Int(-*i));
                }
                let c = Box::new(self.expr(inner));
                match op {
                    UnOp::Not => CExpr::Not(c),
                    UnOp::Neg => CExpr::Neg(c),
                    UnOp::BitNot => CExpr::BitNot(c),
                    UnOp::Defined => CExpr::Defined(c),
                    UnOp::StrLen => CExpr::StrLen(c),
                    UnOp::StrEmpty => CExpr::StrEmpty(c),
                }
            }
            Expr::Binary(op, l, r, at) => self.binary(*op, l, r, *at),
        }
    }

    /// A format with several parts as a chain of string concatenations.
    fn fmt_concat(&mut self, f: Fmt) -> CExpr {
        let mut acc = CExpr::Const(OwnedVal::Str(Vec::new()));
        for part in f.parts {
            let rhs = match part {
                super::pv::FmtPart::Lit(s) => CExpr::Const(OwnedVal::Str(s.into_bytes())),
                super::pv::FmtPart::Pv(p) => CExpr::Pv(p),
            };
            acc = CExpr::Bin(BinOp::Add, Box::new(acc), Box::new(rhs));
        }
        acc
    }

    fn word(&mut self, w: &str, at: usize) -> CExpr {
        let kw = match w {
            "method" => Keyword::Method,
            "uri" => Keyword::Uri,
            "from_uri" => Keyword::FromUri,
            "to_uri" => Keyword::ToUri,
            "src_ip" => Keyword::SrcIp,
            "src_port" => Keyword::SrcPort,
            "dst_ip" => Keyword::DstIp,
            "dst_port" => Keyword::DstPort,
            "proto" => Keyword::Proto,
            "af" => Keyword::Af,
            "status" => Keyword::Status,
            "retcode" => Keyword::RetCode,
            "yes" | "true" | "on" => return CExpr::Const(OwnedVal::Int(1)),
            "no" | "false" | "off" => return CExpr::Const(OwnedVal::Int(0)),
            "udp" | "UDP" | "tcp" | "TCP" | "tls" | "TLS" | "sctp" | "SCTP" | "ws" | "WS"
            | "wss" | "WSS" => {
                return CExpr::Const(OwnedVal::Str(w.to_ascii_lowercase().into_bytes()))
            }
            "inet" | "INET" => return CExpr::Const(OwnedVal::Int(4)),
            "inet6" | "INET6" => return CExpr::Const(OwnedVal::Int(6)),
            "myself" => {
                self.diags.error(
                    self.pos(at),
                    "`myself` can only be compared with `==` or `!=`",
                );
                return CExpr::Const(OwnedVal::Null);
            }
            _ => {
                self.diags.error(
                    self.pos(at),
                    format!(
                        "found `{w}`, expected an expression (is `{w}` an undefined #!define?)"
                    ),
                );
                return CExpr::Const(OwnedVal::Null);
            }
        };
        CExpr::Keyword(kw)
    }

    fn binary(&mut self, op: BinOp, l: &Expr, r: &Expr, at: usize) -> CExpr {
        let is_myself = |e: &Expr| matches!(e, Expr::Word(w, _) if w == "myself");
        if matches!(op, BinOp::Eq | BinOp::Ne) && (is_myself(l) || is_myself(r)) {
            let other = if is_myself(r) { l } else { r };
            let kind = myself_kind(other);
            let c = self.expr(other);
            return CExpr::Myself(Box::new(c), kind, op == BinOp::Ne);
        }
        if matches!(op, BinOp::Eq | BinOp::Ne) {
            if let Some((net, bits)) = network(r) {
                let c = self.expr(l);
                return CExpr::InNet(Box::new(c), net, bits, op == BinOp::Ne);
            }
        }
        if matches!(op, BinOp::Match | BinOp::NoMatch) {
            if let Expr::Str(s, sat) = r {
                if !s.contains('$') {
                    let lhs = self.expr(l);
                    return match posix_regex(s) {
                        Ok(re) => CExpr::MatchConst(Box::new(lhs), re, op == BinOp::NoMatch),
                        Err(msg) => {
                            self.diags.error(self.pos(*sat), msg);
                            CExpr::Const(OwnedVal::Int(0))
                        }
                    };
                }
            }
        }
        let _ = at;
        CExpr::Bin(op, Box::new(self.expr(l)), Box::new(self.expr(r)))
    }

    fn call(&mut self, name: &str, args: &[Expr], at: usize) -> CExpr {
        if name == "route" {
            return match args {
                [a] => match route_name(a) {
                    Some(n) => match self.route_ids.get(&n) {
                        Some(id) => CExpr::RouteCall(*id),
                        None => {
                            self.diags.error(
                                self.pos(a.at()),
                                format!("route(`{n}`) calls a route that is not defined"),
                            );
                            CExpr::Const(OwnedVal::Int(1))
                        }
                    },
                    None => {
                        self.diags.error(
                            self.pos(a.at()),
                            "found an expression, expected a route name",
                        );
                        CExpr::Const(OwnedVal::Int(1))
                    }
                },
                _ => {
                    self.diags.error(
                        self.pos(at),
                        format!("route() takes 1 argument, found {}", args.len()),
                    );
                    CExpr::Const(OwnedVal::Int(1))
                }
            };
        }
        let Some((id, spec)) = registry::find(name) else {
            match registry::known_unsupported_function(name) {
                Some(module) => self.unsupported(MigrationKind::Function, name, Some(module), at),
                None => self
                    .diags
                    .error(self.pos(at), format!("unknown function `{name}`")),
            }
            // Evaluate nothing; keep compiling so all errors show.
            return CExpr::Const(OwnedVal::Int(1));
        };
        if spec.module != "core" && !self.loaded.contains(spec.module) {
            self.diags.error(
                self.pos(at),
                format!(
                    "function `{name}` is in module `{m}`, which is not loaded (add `loadmodule \"{m}.so\"`)",
                    m = spec.module
                ),
            );
        }
        let n = args.len();
        if n < spec.min_args as usize || n > spec.max_args as usize {
            let expected = if spec.min_args == spec.max_args {
                format!("{}", spec.min_args)
            } else {
                format!("{} to {}", spec.min_args, spec.max_args)
            };
            self.diags.error(
                self.pos(at),
                format!("found {n} arguments to `{name}`, expected {expected}"),
            );
            return CExpr::Const(OwnedVal::Int(1));
        }
        if spec.routes & self.cur_mask != self.cur_mask {
            let bad = self.cur_mask & !spec.routes;
            self.diags.error(
                self.pos(at),
                format!(
                    "function `{name}` cannot be used in {} (allowed in: {})",
                    route_type::names(bad),
                    route_type::names(spec.routes)
                ),
            );
        }
        let mut cargs = Vec::with_capacity(n);
        for (i, a) in args.iter().enumerate() {
            let kind = spec.args[i];
            match self.arg(kind, a, name) {
                Some(c) => cargs.push(c),
                None => return CExpr::Const(OwnedVal::Int(1)),
            }
        }
        // xlog(level, fmt) / xlog(facility, level, fmt): the level is
        // compiled as a level, not a string.
        if spec.name == "xlog" && n >= 2 {
            let li = n - 2;
            let lvl = match &args[li] {
                Expr::Word(w, _) => level_by_name(w),
                Expr::Str(s, _) => level_by_name(s),
                Expr::Int(i, _) => Some(*i as i32),
                Expr::Unary(UnOp::Neg, inner, _) => match inner.as_ref() {
                    Expr::Int(i, _) => Some(-*i as i32),
                    _ => None,
                },
                _ => None,
            };
            match lvl {
                Some(l) => cargs[li] = CArg::Level(l),
                None => {
                    self.diags.error(
                        self.pos(args[li].at()),
                        "found an expression, expected a log level (L_ALERT, L_BUG, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG)",
                    );
                }
            }
        }
        if spec.module == "xhttp_prom" {
            if let Err(msg) = super::functions::xhttp_prom::fixup(&self.prom, spec.name, &mut cargs)
            {
                self.diags.error(self.pos(at), msg);
            }
        }
        CExpr::Call(Box::new(CallSite {
            id,
            spec,
            args: cargs,
            pos: self.pos(at),
        }))
    }

    fn arg(&mut self, kind: ArgKind, a: &Expr, fname: &str) -> Option<CArg> {
        let at = a.at();
        let const_str = |a: &Expr| -> Option<String> {
            match a {
                Expr::Str(s, _) => Some(s.clone()),
                Expr::Word(w, _) => Some(w.clone()),
                Expr::Int(i, _) => Some(i.to_string()),
                Expr::Ip(s, _) => Some(s.clone()),
                Expr::Unary(UnOp::Neg, inner, _) => match inner.as_ref() {
                    Expr::Int(i, _) => Some((-*i).to_string()),
                    _ => None,
                },
                _ => None,
            }
        };
        match kind {
            ArgKind::Str | ArgKind::Level => match a {
                Expr::Str(s, _) => Some(CArg::Str(self.fmt(s, at))),
                Expr::Pv(p, _) => {
                    let p = self.pv(p, at)?;
                    Some(CArg::Str(Fmt {
                        parts: vec![super::pv::FmtPart::Pv(p)],
                    }))
                }
                _ => match const_str(a) {
                    Some(s) => Some(CArg::Str(Fmt::literal(&s))),
                    None => {
                        self.diags.error(
                            self.pos(at),
                            format!("found an expression as argument of `{fname}`, expected a string or pseudo-variable"),
                        );
                        None
                    }
                },
            },
            ArgKind::StrOrPv => match a {
                Expr::Str(s, _) => match super::pv::leading_pv(s) {
                    Some(end) => {
                        if end < s.len() {
                            self.diags.warning(
                                self.pos(at),
                                format!(
                                    "`{fname}` uses only the pseudo-variable `{}` this argument starts with, as Kamailio; `{}` is ignored (build the text in a $var first)",
                                    &s[..end],
                                    &s[end..]
                                ),
                            );
                        }
                        let p = self.pv(&s[..end], at)?;
                        Some(CArg::Str(Fmt {
                            parts: vec![super::pv::FmtPart::Pv(p)],
                        }))
                    }
                    None => {
                        if s.contains('$') {
                            self.diags.warning(
                                self.pos(at),
                                format!("`{fname}` sends `{s}` as written, as Kamailio: pseudo-variables inside this argument are not expanded (build the text in a $var first)"),
                            );
                        }
                        Some(CArg::Str(Fmt::literal(s)))
                    }
                },
                _ => self.arg(ArgKind::Str, a, fname),
            },
            ArgKind::Int => match a {
                Expr::Pv(p, _) => {
                    let p = self.pv(p, at)?;
                    Some(CArg::Int(IntArg::Dyn(Fmt {
                        parts: vec![super::pv::FmtPart::Pv(p)],
                    })))
                }
                Expr::Str(s, _) if s.contains('$') => Some(CArg::Int(IntArg::Dyn(self.fmt(s, at)))),
                _ => {
                    match const_str(a).and_then(|s| s.trim().parse::<i64>().ok()) {
                        Some(i) => Some(CArg::Int(IntArg::Const(i))),
                        None => {
                            self.diags.error(
                            self.pos(at),
                            format!("found a non-number as argument of `{fname}`, expected an integer"),
                        );
                            None
                        }
                    }
                }
            },
            ArgKind::Regex => match a {
                Expr::Str(s, _) if !s.contains('$') => match posix_regex(s) {
                    Ok(re) => Some(CArg::Regex(re)),
                    Err(msg) => {
                        self.diags.error(self.pos(at), msg);
                        None
                    }
                },
                _ => {
                    self.diags.error(
                        self.pos(at),
                        format!("found a non-constant argument of `{fname}`, expected a constant regular expression"),
                    );
                    None
                }
            },
            ArgKind::Subst => {
                let Some(s) = (match a {
                    Expr::Str(s, _) => Some(s.clone()),
                    _ => None,
                }) else {
                    self.diags.error(
                        self.pos(at),
                        format!("`{fname}` expects a constant '/re/repl/flags'"),
                    );
                    return None;
                };
                match compile_subst(&s) {
                    Ok(spec) => Some(CArg::Subst(spec)),
                    Err(msg) => {
                        self.diags.error(self.pos(at), msg);
                        None
                    }
                }
            }
            ArgKind::Methods => match const_str(a) {
                Some(s) => {
                    let mut set = MethodSet::default();
                    for m in s.split('|').map(str::trim).filter(|m| !m.is_empty()) {
                        match Method::from_bytes(m.as_bytes()) {
                            Method::Other => set.other.push(m.to_string()),
                            known => set.known.push(known),
                        }
                    }
                    Some(CArg::Methods(set))
                }
                None => {
                    self.diags.error(
                        self.pos(at),
                        format!("`{fname}` expects a constant method list like \"INVITE|BYE\""),
                    );
                    None
                }
            },
            ArgKind::Route => match route_name(a).and_then(|n| self.route_ids.get(&n).copied()) {
                Some(id) => Some(CArg::Route(id)),
                None => {
                    self.diags.error(
                        self.pos(at),
                        "found an unknown route, expected a defined route name",
                    );
                    None
                }
            },
        }
    }
}

/// Kamailio compiles `=~` and textops regexes as POSIX extended, case
/// insensitive, with `^`/`$` at line boundaries (`REG_EXTENDED|REG_ICASE|
/// REG_NEWLINE`).
pub fn posix_regex(s: &str) -> Result<regex::bytes::Regex, String> {
    regex::bytes::RegexBuilder::new(s)
        .case_insensitive(true)
        .multi_line(true)
        .build()
        .map_err(|e| format!("bad regular expression `{s}`: {e}"))
}

/// Compiles textops' `subst('/re/repl/flags')`.
pub fn compile_subst(s: &str) -> Result<SubstSpec, String> {
    let (re, repl, flags) = split_subst(s)?;
    let re = regex::bytes::RegexBuilder::new(&re)
        .case_insensitive(flags.contains('i'))
        .multi_line(true)
        .build()
        .map_err(|e| format!("bad regular expression `{re}` in subst: {e}"))?;
    Ok(SubstSpec {
        re,
        repl: backrefs_to_regex(&repl),
        global: flags.contains('g'),
    })
}

fn level_by_name(s: &str) -> Option<i32> {
    Some(match s {
        "L_ALERT" => level::ALERT,
        "L_BUG" => level::BUG,
        "L_CRIT" | "L_CRIT2" => level::CRIT,
        "L_ERR" => level::ERR,
        "L_WARN" => level::WARN,
        "L_NOTICE" => level::NOTICE,
        "L_INFO" => level::INFO,
        "L_DBG" => level::DBG,
        other => return other.trim().parse().ok(),
    })
}

fn route_name(a: &Expr) -> Option<String> {
    match a {
        Expr::Word(w, _) => Some(w.clone()),
        Expr::Str(s, _) => Some(s.clone()),
        Expr::Int(i, _) => Some(i.to_string()),
        _ => None,
    }
}

fn collect_route_calls(stmts: &[Stmt], ids: &HashMap<String, RouteId>, out: &mut Vec<RouteId>) {
    fn expr(e: &Expr, ids: &HashMap<String, RouteId>, out: &mut Vec<RouteId>) {
        match e {
            Expr::Call { name, args, .. } => {
                if name == "route" {
                    if let Some(id) = args.first().and_then(route_name).and_then(|n| ids.get(&n)) {
                        out.push(*id);
                    }
                }
                for a in args {
                    expr(a, ids, out);
                }
            }
            Expr::Unary(_, i, _) => expr(i, ids, out),
            Expr::Binary(_, l, r, _) => {
                expr(l, ids, out);
                expr(r, ids, out);
            }
            _ => {}
        }
    }
    for s in stmts {
        match s {
            Stmt::Expr(e) => expr(e, ids, out),
            Stmt::If {
                cond, then, els, ..
            } => {
                expr(cond, ids, out);
                collect_route_calls(then, ids, out);
                collect_route_calls(els, ids, out);
            }
            Stmt::While { cond, body, .. } => {
                expr(cond, ids, out);
                collect_route_calls(body, ids, out);
            }
            Stmt::Switch { subject, cases, .. } => {
                expr(subject, ids, out);
                for c in cases {
                    collect_route_calls(&c.body, ids, out);
                }
            }
            Stmt::Return { value: Some(v), .. } => expr(v, ids, out),
            Stmt::Assign { value, .. } => expr(value, ids, out),
            Stmt::Block(b) => collect_route_calls(b, ids, out),
            _ => {}
        }
    }
}

fn const_value(e: &Expr) -> Option<OwnedVal> {
    match e {
        Expr::Int(i, _) => Some(OwnedVal::Int(*i)),
        Expr::Str(s, _) => Some(OwnedVal::Str(s.as_bytes().to_vec())),
        Expr::Unary(UnOp::Neg, inner, _) => match inner.as_ref() {
            Expr::Int(i, _) => Some(OwnedVal::Int(-*i)),
            _ => None,
        },
        _ => None,
    }
}

fn myself_kind(e: &Expr) -> MyselfKind {
    match e {
        Expr::Word(w, _) if matches!(w.as_str(), "uri" | "from_uri" | "to_uri") => MyselfKind::Uri,
        Expr::Word(w, _) if matches!(w.as_str(), "src_ip" | "dst_ip") => MyselfKind::Ip,
        Expr::Pv(p, _) if matches!(p.as_str(), "$ru" | "$fu" | "$tu" | "$du" | "$ou") => {
            MyselfKind::Uri
        }
        Expr::Pv(p, _) if matches!(p.as_str(), "$si" | "$Ri") => MyselfKind::Ip,
        _ => MyselfKind::Host,
    }
}

/// `10.0.0.0/8` or a bare address as a network.
fn network(e: &Expr) -> Option<(IpAddr, u8)> {
    match e {
        Expr::Ip(s, _) => s.parse().ok().map(|ip| (ip, 32)),
        Expr::Binary(BinOp::Div, l, r, _) => match (l.as_ref(), r.as_ref()) {
            (Expr::Ip(s, _), Expr::Int(bits, _)) if (0..=32).contains(bits) => {
                s.parse().ok().map(|ip| (ip, *bits as u8))
            }
            _ => None,
        },
        _ => None,
    }
}
