//! The kamailio.cfg routing language: preprocessor, lexer, parser,
//! compiler, function table and interpreter.
//!
//! Pipeline: [`preproc`] (directives, includes, source map) → [`lexer`]
//! (tokens, define substitution) → [`parser`] ([`ast`]) → [`config`]
//! (global parameters, modules, modparams) and [`compile`] (routes into a
//! [`Program`] with every name resolved) → [`interp`] running it per message
//! through an [`exec_ctx::Exec`], with [`outbound`] producing what goes on
//! the wire. Functions live in [`functions`], one file per Kamailio module,
//! registered in [`registry`].
//!
//! Entry points: [`compile_file`] / [`compile_str`] (run mode: anything
//! sipshard lacks is an error), [`check_file`] / [`check_str`] (all
//! diagnostics plus the migration report), and [`Program::on_request`] /
//! [`Program::on_reply`].

pub mod ast;
pub mod compile;
pub mod config;
pub mod diag;
pub mod exec_ctx;
pub mod functions;
pub mod interp;
pub mod lexer;
pub mod outbound;
pub mod parser;
pub mod preproc;
pub mod program;
pub mod pv;
pub mod registry;
pub mod report;
pub mod value;

use std::path::Path;
use std::sync::Arc;

pub use config::{Config, ListenSpec, ModParam};
pub use diag::{Diagnostic, Severity, SrcPos};
pub use preproc::Define;
pub use program::{Program, ShardState};
pub use report::{MigrationItem, MigrationKind, MigrationReport};

use compile::{Compiler, Mode};
use diag::Diags;
use preproc::Source;

use crate::route_io::{Inbound, RouteEnv};
use crate::sip::Message;
use value::OwnedVal;

/// What `sipshard check` reports: every diagnostic (errors and warnings)
/// and the Kamailio features the config uses that sipshard lacks.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub diagnostics: Vec<Diagnostic>,
    pub migration: MigrationReport,
}

impl CheckReport {
    /// True when the config would run (no errors, nothing unsupported).
    pub fn is_clean(&self) -> bool {
        !self.diagnostics.iter().any(Diagnostic::is_error) && self.migration.is_empty()
    }
}

/// Compiles a config file for running.
pub fn compile_file(path: &Path, defines: &[Define]) -> Result<Config, Vec<Diagnostic>> {
    let mut diags = Diags::default();
    let src = preproc::preprocess_file(path, defines, &mut diags);
    build(&src, diags, Mode::Run).0
}

/// Compiles config text (the built-in default config, tests).
pub fn compile_str(name: &str, text: &str, defines: &[Define]) -> Result<Config, Vec<Diagnostic>> {
    let mut diags = Diags::default();
    let src = preproc::preprocess_str(name, text, defines, &mut diags);
    build(&src, diags, Mode::Run).0
}

/// Checks a config file: all diagnostics and the migration report.
pub fn check_file(path: &Path, defines: &[Define]) -> CheckReport {
    let mut diags = Diags::default();
    let src = preproc::preprocess_file(path, defines, &mut diags);
    build(&src, diags, Mode::Check).1
}

/// Checks config text.
pub fn check_str(name: &str, text: &str, defines: &[Define]) -> CheckReport {
    let mut diags = Diags::default();
    let src = preproc::preprocess_str(name, text, defines, &mut diags);
    build(&src, diags, Mode::Check).1
}

fn build(
    src: &Source,
    mut diags: Diags,
    mode: Mode,
) -> (Result<Config, Vec<Diagnostic>>, CheckReport) {
    let tokens = lexer::lex(src, &mut diags);
    let file = parser::parse(&tokens, src, &mut diags);
    let mut report = MigrationReport::default();
    let (mut cfg, settings, loaded) =
        config::apply_globals(&file, src, &mut diags, &mut report, mode == Mode::Check);
    let myself = config::self_addrs(&cfg);
    let seed = format!("{myself:?}");
    let mut prog = Program {
        settings,
        myself,
        to_tag_prefix: crate::proxy::to_tag_prefix(seed.as_bytes()),
        ..Program::default()
    };
    {
        let mut c = Compiler::new(src, &mut diags, &mut report, mode, &loaded);
        c.compile_routes(&file, &mut prog);
    }
    if prog.request_route.is_none() && !diags.has_errors() {
        diags.warning(
            src.pos(0),
            "no request_route: every request will be dropped",
        );
    }
    let check = CheckReport {
        diagnostics: diags.list.clone(),
        migration: report,
    };
    if diags.has_errors() {
        return (Err(diags.list), check);
    }
    cfg.warnings = diags.list;
    cfg.program = Arc::new(prog);
    (Ok(cfg), check)
}

impl Program {
    /// Runs `request_route` on a request. Whatever it relays or replies is
    /// sent through `env`; a request neither relayed nor replied to is
    /// dropped silently (Kamailio).
    pub fn on_request(
        &self,
        msg: Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        shard: &mut ShardState,
    ) {
        let Some(id) = self.request_route else { return };
        let mut x = exec_ctx::Exec::new(self, &msg, inb, env, &mut shard.vars);
        x.run_route(id);
        let (tx, on_failure, on_reply) = (x.st.tx, x.st.on_failure, x.st.on_reply);
        let lumps = x.st.relay_lumps.take();
        let avps = std::mem::take(&mut x.st.avps);
        if let Some(tx) = tx {
            save_avps(env, &mut shard.tx_avps, tx, avps);
        }
        arm_failure(env, &mut shard.failure_routes, tx, on_failure);
        if let (Some(tx), Some(r)) = (tx, on_reply) {
            remember(env, &mut shard.reply_routes, tx, r);
        }
        if let (Some(tx), Some(_), Some(lumps)) = (tx, on_failure, lumps) {
            remember_lumps(env, &mut shard.relay_lumps, tx, lumps);
        }
    }

    /// Whether responses of transactions need the script: a `reply_route`
    /// or some `onreply_route[NAME]` exists.
    pub fn has_tm_reply_routes(&self) -> bool {
        self.reply_route.is_some()
            || self
                .named
                .keys()
                .any(|(k, _)| *k == ast::RouteKind::OnReply)
    }

    /// A response of transaction `tx` (branch `branch`), before the table
    /// takes it: `reply_route` runs first (as Kamailio's core onreply
    /// route), then the `onreply_route` armed by `t_on_reply`; each sees the
    /// edits of the one before, and the table gets the edited response.
    pub fn on_tm_reply(
        &self,
        tx: crate::tm::proxy::TxId,
        branch: u8,
        msg: &Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        shard: &mut ShardState,
    ) -> crate::route_io::TmReply {
        use crate::route_io::TmReply;
        let armed = shard.reply_routes.get(&tx).copied();
        let mut edited: Option<Message> = None;
        let mut t_req = None;
        if self.t_msgs {
            t_req = tx_request(env, tx);
        }
        for id in [self.reply_route, armed].into_iter().flatten() {
            let avps = take_avps(&mut shard.tx_avps, tx);
            let cur = edited.take();
            let m = cur.as_ref().unwrap_or(msg);
            let mut x = exec_ctx::Exec::new(self, m, inb, env, &mut shard.vars);
            x.st.tx = Some(tx);
            x.st.t_branch_idx = Some(branch);
            x.st.avps = avps;
            x.st.t_req = t_req.take();
            x.run_route(id);
            let dropped = x.st.dropped;
            t_req = x.st.t_req.take();
            let avps = std::mem::take(&mut x.st.avps);
            let edits = std::mem::take(&mut x.st.edits);
            save_avps(env, &mut shard.tx_avps, tx, avps);
            if dropped {
                return TmReply::Drop;
            }
            edited = if edits.is_empty() {
                cur
            } else {
                match edits.apply(m).map(Message::parse) {
                    Ok(Ok(e)) => Some(e),
                    _ => {
                        if env.log_enabled(crate::route_io::level::ERR) {
                            env.log(
                                crate::route_io::level::ERR,
                                "onreply_route: the edited reply does not parse; relaying it unedited",
                            );
                        }
                        cur
                    }
                }
            };
        }
        match edited {
            Some(m) => TmReply::Edited(Box::new(m)),
            None => TmReply::Keep,
        }
    }

    /// The transaction table a shard needs: Some when `tm` is loaded.
    pub fn tm_config(&self) -> Option<crate::tm::table::TableConfig> {
        let tm = self.settings.tm.as_ref()?;
        let mut cfg = crate::tm::table::TableConfig::default();
        cfg.proxy.timers = tm.timers;
        cfg.proxy.to_tag_prefix = self.to_tag_prefix;
        if let Some(n) = tm.max_transactions {
            cfg.max_transactions = n;
        }
        Some(cfg)
    }

    /// Runs the `failure_route` armed for `tx` on its stored request;
    /// `t_relay()` there adds a branch, `t_reply()` answers. Nothing runs
    /// when none is armed (a reload forgets the arming).
    pub fn on_failure(
        &self,
        tx: crate::tm::proxy::TxId,
        code: u16,
        env: &mut dyn RouteEnv,
        shard: &mut ShardState,
    ) {
        let Some(route) = shard.failure_routes.remove(&tx) else {
            return;
        };
        let stored = {
            let Some(tm) = env.tm() else { return };
            let Some(t) = tm.table.get(tx) else { return };
            let (src, proto) = t.source();
            (t.request().to_vec(), src, proto)
        };
        let (bytes, src, proto) = stored;
        let Ok(msg) = Message::parse(bytes) else {
            return;
        };
        let local = env.local_for(src, proto).map_or(src, |l| l.addr);
        let inb = Inbound {
            proto,
            src,
            local,
            conn: None,
        };
        let lumps = shard.relay_lumps.remove(&tx);
        let t_rpl = if self.t_msgs {
            tx_failed_reply(env, tx)
        } else {
            None
        };
        let avps = take_avps(&mut shard.tx_avps, tx);
        let mut x = exec_ctx::Exec::new(self, &msg, &inb, env, &mut shard.vars);
        x.st.tx = Some(tx);
        x.st.t_reply_code = Some(code);
        x.st.avps = avps;
        x.st.t_rpl = t_rpl;
        // Kamailio keeps request_route's lumps with the transaction: a
        // failover branch carries its header edits and Record-Route too.
        if let Some(l) = &lumps {
            x.st.edits = l.edits.clone();
            x.st.rr = l.rr.clone();
            x.st.rr_params = l.rr_params.clone();
        }
        x.run_route(route);
        let (on_failure, on_reply) = (x.st.on_failure, x.st.on_reply);
        let avps = std::mem::take(&mut x.st.avps);
        save_avps(env, &mut shard.tx_avps, tx, avps);
        if let (Some(_), Some(lumps)) = (on_failure, lumps) {
            remember_lumps(env, &mut shard.relay_lumps, tx, lumps);
        }
        arm_failure(env, &mut shard.failure_routes, Some(tx), on_failure);
        if let Some(r) = on_reply {
            remember(env, &mut shard.reply_routes, tx, r);
        }
    }

    /// Runs `reply_route` (= the unnamed `onreply_route`) on a reply, then
    /// relays it statelessly unless the route dropped it.
    pub fn on_reply(
        &self,
        msg: Message,
        inb: &Inbound,
        env: &mut dyn RouteEnv,
        shard: &mut ShardState,
    ) {
        let mut x = exec_ctx::Exec::new(self, &msg, inb, env, &mut shard.vars);
        if let Some(id) = self.reply_route {
            x.run_route(id);
            if x.st.dropped {
                return;
            }
        }
        x.relay_reply();
    }
}

/// `t_on_reply` took effect: remember the route for `tx`, sweeping the
/// entries of finished transactions when they pile up.
fn remember(
    env: &mut dyn RouteEnv,
    routes: &mut std::collections::HashMap<crate::tm::proxy::TxId, program::RouteId>,
    tx: crate::tm::proxy::TxId,
    route: program::RouteId,
) {
    let Some(tm) = env.tm() else { return };
    if routes.len() >= 1024 && routes.len() > 2 * tm.table.len() {
        routes.retain(|id, _| tm.table.get(*id).is_some());
    }
    routes.insert(tx, route);
}

/// Keeps the `$avp`s of a route run with transaction `tx` for its later
/// routes (none kept when all are empty); entries of finished
/// transactions are swept when they pile up.
fn save_avps(
    env: &mut dyn RouteEnv,
    store: &mut std::collections::HashMap<crate::tm::proxy::TxId, Vec<Vec<OwnedVal>>>,
    tx: crate::tm::proxy::TxId,
    avps: Vec<Vec<OwnedVal>>,
) {
    if avps.iter().all(Vec::is_empty) {
        // The common case (no $avp at all) costs no hashing.
        if !store.is_empty() {
            store.remove(&tx);
        }
        return;
    }
    let Some(tm) = env.tm() else { return };
    if store.len() >= 1024 && store.len() > 2 * tm.table.len() {
        store.retain(|id, _| tm.table.get(*id).is_some());
    }
    store.insert(tx, avps);
}

/// The `$avp`s kept for `tx` (none: empty), taken out of the store.
fn take_avps(
    store: &mut std::collections::HashMap<crate::tm::proxy::TxId, Vec<Vec<OwnedVal>>>,
    tx: crate::tm::proxy::TxId,
) -> Vec<Vec<OwnedVal>> {
    if store.is_empty() {
        return Vec::new();
    }
    store.remove(&tx).unwrap_or_default()
}

/// The request of `tx` for `$T_req`, with where it came from.
fn tx_request(env: &mut dyn RouteEnv, tx: crate::tm::proxy::TxId) -> Option<Box<exec_ctx::TMsg>> {
    let tm = env.tm()?;
    let t = tm.table.get(tx)?;
    let (src, proto) = t.source();
    let msg = Message::parse(t.request().to_vec()).ok()?;
    Some(Box::new(exec_ctx::TMsg { msg, src, proto }))
}

/// The picked branch's received reply of `tx` for `$T_rpl` (None after a
/// local final: timeout, transport error), with the address it came from.
fn tx_failed_reply(
    env: &mut dyn RouteEnv,
    tx: crate::tm::proxy::TxId,
) -> Option<Box<exec_ctx::TMsg>> {
    let tm = env.tm()?;
    let failed = tm.table.get(tx)?.failed_branch()?;
    let msg = Message::parse(failed.reply.as_deref()?.to_vec()).ok()?;
    Some(Box::new(exec_ctx::TMsg {
        msg,
        src: failed.reply_src?,
        proto: failed.dst.transport,
    }))
}

/// Keeps `request_route`'s edits for `tx`'s failure_route; entries of
/// finished transactions are swept when they pile up.
fn remember_lumps(
    env: &mut dyn RouteEnv,
    lines: &mut std::collections::HashMap<crate::tm::proxy::TxId, exec_ctx::RelayLumps>,
    tx: crate::tm::proxy::TxId,
    rr: exec_ctx::RelayLumps,
) {
    let Some(tm) = env.tm() else { return };
    if lines.len() >= 1024 && lines.len() > 2 * tm.table.len() {
        lines.retain(|id, _| tm.table.get(*id).is_some());
    }
    lines.insert(tx, rr);
}

/// `t_on_failure` took effect when the route had a transaction: arm it in
/// the table and remember which route runs. Entries of finished
/// transactions are swept when they pile up.
fn arm_failure(
    env: &mut dyn RouteEnv,
    routes: &mut std::collections::HashMap<crate::tm::proxy::TxId, program::RouteId>,
    tx: Option<crate::tm::proxy::TxId>,
    route: Option<program::RouteId>,
) {
    let (Some(tx), Some(route)) = (tx, route) else {
        return;
    };
    let Some(tm) = env.tm() else { return };
    if tm.table.set_on_failure(tx, true).is_err() {
        return;
    }
    if routes.len() >= 1024 && routes.len() > 2 * tm.table.len() {
        routes.retain(|id, _| tm.table.get(*id).is_some());
    }
    routes.insert(tx, route);
}
