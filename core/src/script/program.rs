//! The compiled form of a config: routes as trees of [`CStmt`] whose
//! function calls, route calls, pseudo-variables and regexes are all
//! resolved, plus the settings the functions read (`myself`, modparams).
//! [`Program`] is immutable and shared by all shards; what changes per shard
//! lives in [`ShardState`].

use std::collections::HashMap;
use std::net::IpAddr;

use super::ast::{BinOp, RouteKind};
use super::diag::SrcPos;
use super::pv::{Fmt, PvRef};
use super::registry::{FnId, FnSpec};
use super::value::OwnedVal;
use crate::sip::Method;
use crate::transport::Transport;

/// Index of a route in [`Program::routes`].
pub type RouteId = u16;

/// A compiled route block.
#[derive(Debug)]
pub struct Route {
    pub kind: RouteKind,
    pub name: Option<String>,
    pub body: Vec<CStmt>,
}

/// A compiled argument (see [`super::registry::ArgKind`]).
#[derive(Debug, Clone)]
pub enum CArg {
    Str(Fmt),
    Int(IntArg),
    Regex(regex::bytes::Regex),
    Subst(SubstSpec),
    Methods(MethodSet),
    Level(i32),
    Route(RouteId),
}

#[derive(Debug, Clone)]
pub enum IntArg {
    Const(i64),
    Dyn(Fmt),
}

/// A compiled `/re/repl/flags`.
#[derive(Debug, Clone)]
pub struct SubstSpec {
    pub re: regex::bytes::Regex,
    /// In `regex` replacement syntax.
    pub repl: String,
    pub global: bool,
}

/// A set of methods from `"INVITE|BYE|FOO"`.
#[derive(Debug, Clone, Default)]
pub struct MethodSet {
    pub known: Vec<Method>,
    pub other: Vec<String>,
}

impl MethodSet {
    pub fn contains(&self, m: Method, raw: &[u8]) -> bool {
        if m == Method::Other {
            self.other.iter().any(|o| o.as_bytes() == raw)
        } else {
            self.known.contains(&m)
        }
    }
}

/// A function call site.
#[derive(Debug)]
pub struct CallSite {
    pub id: FnId,
    pub spec: &'static FnSpec,
    pub args: Vec<CArg>,
    pub pos: SrcPos,
}

/// Core keywords usable in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Method,
    Uri,
    FromUri,
    ToUri,
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Proto,
    Af,
    Status,
    RetCode,
}

/// What `X == myself` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MyselfKind {
    /// A URI (host, port, transport).
    Uri,
    /// An IP address.
    Ip,
    /// A host name or address given as a string.
    Host,
}

#[derive(Debug)]
pub enum CExpr {
    Const(OwnedVal),
    Pv(PvRef),
    Keyword(Keyword),
    Call(Box<CallSite>),
    RouteCall(RouteId),
    Not(Box<CExpr>),
    Neg(Box<CExpr>),
    BitNot(Box<CExpr>),
    Defined(Box<CExpr>),
    StrLen(Box<CExpr>),
    StrEmpty(Box<CExpr>),
    Bin(BinOp, Box<CExpr>, Box<CExpr>),
    /// `x =~ re` with a constant regex (`negate` for `!~`).
    MatchConst(Box<CExpr>, regex::bytes::Regex, bool),
    /// `x == myself` (`negate` for `!=`).
    Myself(Box<CExpr>, MyselfKind, bool),
    /// `src_ip == 10.0.0.0/8` (`negate` for `!=`).
    InNet(Box<CExpr>, IpAddr, u8, bool),
}

#[derive(Debug)]
pub enum CStmt {
    Expr(CExpr),
    If {
        cond: CExpr,
        then: Vec<CStmt>,
        els: Vec<CStmt>,
    },
    /// Case bodies are flattened into `body`; a case jumps to its start
    /// index and falls through like C until `break`.
    Switch {
        subject: CExpr,
        cases: Vec<(OwnedVal, usize)>,
        default: Option<usize>,
        body: Vec<CStmt>,
    },
    While {
        cond: CExpr,
        body: Vec<CStmt>,
    },
    Return(Option<CExpr>),
    Exit,
    Drop,
    Break,
    Assign {
        target: PvRef,
        add: bool,
        value: CExpr,
    },
}

/// A local address for `myself` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelfAddr {
    /// Host as text, lower-case, IPv6 without brackets.
    pub host: String,
    /// None matches any port.
    pub port: Option<u16>,
    /// None matches any transport.
    pub proto: Option<Transport>,
}

/// Module settings the functions read, from `modparam`.
#[derive(Debug, Clone)]
pub struct ModSettings {
    /// maxfwd `max_limit` (70).
    pub maxfwd_max_limit: u32,
    /// sanity `autodrop` (1) and `noreply` (0).
    pub sanity_autodrop: bool,
    pub sanity_noreply: bool,
    /// sanity `default_checks` (3047) and `uri_checks` (7).
    pub sanity_default_checks: u32,
    pub sanity_uri_checks: u32,
    /// sl `default_code` / `default_reason` for `sl_reply_error`.
    pub sl_default_code: u16,
    pub sl_default_reason: String,
    /// Value of the `Server:` header on local replies (`server_header=`),
    /// None to send none.
    pub server_header: Option<String>,
    /// `User-Agent:` for locally generated requests.
    pub user_agent_header: Option<String>,
    /// `loadmodule "tm.so"` and its modparams; None when not loaded.
    pub tm: Option<TmSettings>,
    /// rr `append_fromtag` (module default 1): `;ftag=` in Record-Route.
    pub rr_append_fromtag: bool,
    /// rr `enable_double_rr` (module default 1): two Record-Routes when
    /// the request leaves on another socket or transport than it came in
    /// on; 2: always two; 0: one.
    pub rr_enable_double: u8,
    /// registrar, usrloc, auth, auth_db parameters and their tables.
    pub reg: super::functions::registrar::RegSettings,
    /// xhttp_prom metric definitions.
    pub prom: super::functions::xhttp_prom::PromSettings,
}

/// Module `tm`'s parameters.
#[derive(Debug, Clone, Default)]
pub struct TmSettings {
    /// `fr_timer`, `fr_inv_timer`, `wt_timer`, `retr_timer1/2`, ...
    pub timers: crate::tm::timers::TimerConfig,
    /// `max_transactions` per shard (default 400 000).
    pub max_transactions: Option<usize>,
}

impl Default for ModSettings {
    fn default() -> Self {
        ModSettings {
            maxfwd_max_limit: 70,
            sanity_autodrop: true,
            sanity_noreply: false,
            sanity_default_checks: 3047,
            sanity_uri_checks: 7,
            sl_default_code: 500,
            sl_default_reason: "Internal Server Error".into(),
            server_header: Some("Server: sipshard".into()),
            user_agent_header: Some("User-Agent: sipshard".into()),
            tm: None,
            rr_append_fromtag: true,
            rr_enable_double: 1,
            reg: Default::default(),
            prom: Default::default(),
        }
    }
}

/// A compiled config, ready to run messages.
#[derive(Debug, Default)]
pub struct Program {
    pub routes: Vec<Route>,
    pub request_route: Option<RouteId>,
    pub reply_route: Option<RouteId>,
    /// Named blocks by kind and name (for `t_on_*` later and for tools).
    pub named: HashMap<(RouteKind, String), RouteId>,
    pub myself: Vec<SelfAddr>,
    pub settings: ModSettings,
    /// Number of `$var` and `$avp` slots.
    pub var_count: usize,
    pub avp_count: usize,
    /// `$T_req(..)` / `$T_rpl(..)` appear: tm routes load those messages.
    pub t_msgs: bool,
    /// `$var` names by slot, for diagnostics and tools.
    pub var_names: Vec<String>,
    /// To-tag prefix of local replies (`proxy::to_tag_prefix` of the
    /// local addresses).
    pub to_tag_prefix: [u8; 32],
}

/// State one shard keeps across messages (Kamailio: per worker process).
#[derive(Debug, Clone, Default)]
pub struct ShardState {
    /// `$var(...)` values by slot.
    pub vars: Vec<OwnedVal>,
    /// The `failure_route` armed (`t_on_failure`) for each transaction.
    pub failure_routes: HashMap<crate::tm::proxy::TxId, RouteId>,
    /// The `onreply_route` armed (`t_on_reply`) for each transaction.
    pub reply_routes: HashMap<crate::tm::proxy::TxId, RouteId>,
    /// request_route's edits at its first relay, for a transaction whose
    /// `failure_route` is armed: every failover branch starts from them.
    pub relay_lumps: HashMap<crate::tm::proxy::TxId, super::exec_ctx::RelayLumps>,
    /// The `$avp`s of each transaction (Kamailio keeps them in the
    /// transaction): saved at the end of a route that has a transaction,
    /// loaded by its failure, onreply and branch routes.
    pub tx_avps: HashMap<crate::tm::proxy::TxId, Vec<Vec<OwnedVal>>>,
}

impl Program {
    /// Fresh per-shard state for this program.
    pub fn new_shard_state(&self) -> ShardState {
        ShardState {
            vars: vec![OwnedVal::Int(0); self.var_count],
            failure_routes: HashMap::new(),
            reply_routes: HashMap::new(),
            relay_lumps: HashMap::new(),
            tx_avps: HashMap::new(),
        }
    }
}
