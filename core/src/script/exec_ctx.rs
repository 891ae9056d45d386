//! The state of one message while a route runs: the message (never modified
//! in place), the edits queued against it (Kamailio's lumps), the new
//! R-URI and `$du`, flags, `$avp`s, the last return code, and the runtime
//! environment. Also reading pseudo-variables and expanding format strings.

use std::borrow::Cow;
use std::net::IpAddr;

use super::program::{CArg, IntArg, Program};
use super::pv::{Fmt, FmtPart, PvKind, PvRef, Transform};
use super::value::{parse_int, OwnedVal, Val};
use crate::route_io::{Inbound, RouteEnv};
use crate::sip::{edit::Edits, Message, NameAddr, Uri};

/// What a route run changed about the message.
#[derive(Debug, Default)]
pub struct MsgState {
    pub edits: Edits,
    /// The rewritten R-URI (`$ru = ...`, `rewritehost`, ...).
    pub new_ruri: Option<Vec<u8>>,
    /// `$du`.
    pub du: Option<Vec<u8>>,
    /// `setflag` flags (0..=63).
    pub flags: u64,
    /// `$avp(...)` stacks by slot; allocated on first write.
    pub avps: Vec<Vec<OwnedVal>>,
    /// `$retcode`.
    pub retcode: i64,
    /// Header lines for the next local reply (`append_to_reply`).
    pub reply_headers: Vec<u8>,
    /// `force_rport()`: act as if the top Via had `;rport`.
    pub force_rport: bool,
    /// `add_local_rport()`: add `;rport` to our Via.
    pub add_local_rport: bool,
    /// `drop` ran.
    pub dropped: bool,
    /// The request was relayed or replied to.
    pub handled: bool,
    /// The transaction of this request (`t_newtran`, `t_relay`, or the one
    /// whose `failure_route` runs).
    pub tx: Option<crate::tm::proxy::TxId>,
    /// `$T_reply_code` (in `failure_route`).
    pub t_reply_code: Option<u16>,
    /// `t_on_failure("NAME")`: the failure route to arm.
    pub on_failure: Option<super::program::RouteId>,
    /// `t_on_reply("NAME")`: the onreply route to arm.
    pub on_reply: Option<super::program::RouteId>,
    /// `t_on_branch("NAME")`: the branch route each new branch runs.
    pub on_branch: Option<super::program::RouteId>,
    /// `append_branch()` / `lookup()`: more branches for `t_relay()`
    /// (parallel forking), each with its own `$du` and Path.
    pub branches: Vec<BranchTarget>,
    /// The Path (RFC 3327) of the R-URI's binding, set by `lookup()`: sent
    /// as a `Route` header on this branch only (Kamailio's `path_vec`).
    pub path: Option<Vec<u8>>,
    /// `$T_branch_idx` (branch and failure routes).
    pub t_branch_idx: Option<u8>,
    /// `record_route()` / `record_route_preset()` ran: the Record-Route
    /// header(s) to write when the request is relayed (the outbound socket,
    /// which double Record-Routing needs, is known only then).
    pub rr: Option<RrPlan>,
    /// `add_rr_param()`: parameters appended to our Record-Route(s).
    pub rr_params: Vec<u8>,
    /// `t_set_fr(fr_inv, fr)` before the transaction exists (ms).
    pub t_fr: Option<(u32, u32)>,
    /// request_route's edits as its first `t_relay()` saw them, kept when
    /// a failure_route is armed: a branch that failure_route adds starts
    /// from them (Kamailio saves the request's lumps on the first relay).
    pub relay_lumps: Option<RelayLumps>,
    /// `$T_req(..)`: the transaction's request (onreply routes).
    pub t_req: Option<Box<TMsg>>,
    /// `$T_rpl(..)`: the picked branch's reply (failure_route).
    pub t_rpl: Option<Box<TMsg>>,
}

/// The header and body edits of `request_route` at its first `t_relay()`
/// (offsets into the received request, which the transaction keeps), and
/// the Record-Route it asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayLumps {
    pub edits: Edits,
    pub rr: Option<RrPlan>,
    pub rr_params: Vec<u8>,
}

/// The Record-Route a route asked for, written at relay time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RrPlan {
    /// `record_route([params])`: the socket the request came in on
    /// (advertised address), its transport, and `params`.
    Socket {
        inbound: crate::route_io::LocalSocket,
        params: Vec<u8>,
    },
    /// `record_route_preset(s[, s2])`: the given host parts.
    Preset(Vec<Vec<u8>>),
}

/// One extra branch: its R-URI, destination (`$du`) and Path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchTarget {
    pub uri: Vec<u8>,
    pub du: Option<Vec<u8>>,
    pub path: Option<Vec<u8>>,
}

/// A route run: the program, the message, and what the run changed.
pub struct Exec<'a, 'm> {
    pub prog: &'a Program,
    pub msg: &'a Message,
    pub inb: &'a Inbound,
    pub env: &'m mut dyn RouteEnv,
    /// `$var` slots of the shard.
    pub vars: &'m mut Vec<OwnedVal>,
    pub st: MsgState,
}

impl<'a, 'm> Exec<'a, 'm> {
    pub fn new(
        prog: &'a Program,
        msg: &'a Message,
        inb: &'a Inbound,
        env: &'m mut dyn RouteEnv,
        vars: &'m mut Vec<OwnedVal>,
    ) -> Exec<'a, 'm> {
        if vars.len() < prog.var_count {
            vars.resize(prog.var_count, OwnedVal::Int(0));
        }
        Exec {
            prog,
            msg,
            inb,
            env,
            vars,
            st: MsgState::default(),
        }
    }

    /// The current R-URI bytes (rewritten or original).
    pub fn ruri(&self) -> Cow<'a, [u8]> {
        match &self.st.new_ruri {
            Some(u) => Cow::Owned(u.clone()),
            None => Cow::Borrowed(self.msg.ruri_bytes()),
        }
    }

    /// Evaluates a string argument.
    pub fn arg_str<'c>(&self, a: &'c CArg) -> Cow<'c, [u8]> {
        match a {
            CArg::Str(f) => self.fmt(f),
            CArg::Int(IntArg::Const(i)) => Cow::Owned(i.to_string().into_bytes()),
            CArg::Int(IntArg::Dyn(f)) => self.fmt(f),
            _ => Cow::Borrowed(b""),
        }
    }

    /// Evaluates an integer argument (None when it is not a number).
    pub fn arg_int(&self, a: &CArg) -> Option<i64> {
        match a {
            CArg::Int(IntArg::Const(i)) => Some(*i),
            CArg::Int(IntArg::Dyn(f)) | CArg::Str(f) => parse_int(&self.fmt(f)),
            CArg::Level(l) => Some(i64::from(*l)),
            _ => None,
        }
    }

    /// Expands a format string; constant ones are borrowed.
    pub fn fmt<'c>(&self, f: &'c Fmt) -> Cow<'c, [u8]> {
        if let Some(c) = f.as_const() {
            return Cow::Borrowed(c.as_bytes());
        }
        let mut out = Vec::with_capacity(64);
        for p in &f.parts {
            match p {
                FmtPart::Lit(s) => out.extend_from_slice(s.as_bytes()),
                FmtPart::Pv(pv) => match self.read_pv(pv) {
                    Val::Null => out.extend_from_slice(b"<null>"),
                    v => out.extend_from_slice(&v.to_bytes()),
                },
            }
        }
        Cow::Owned(out)
    }

    /// Reads a pseudo-variable, applying its index and transformations.
    pub fn read_pv(&self, pv: &PvRef) -> Val<'a> {
        let v = self.read_base(&pv.kind, pv.index);
        if pv.trans.is_empty() {
            return v;
        }
        let mut v = v;
        for t in &pv.trans {
            v = transform(v, t);
        }
        v
    }

    fn read_base(&self, kind: &PvKind, index: Option<i32>) -> Val<'a> {
        let msg: &'a Message = self.msg;
        let owned = |b: Vec<u8>| Val::Str(Cow::Owned(b));
        match kind {
            PvKind::Ru | PvKind::RUser | PvKind::RDomain | PvKind::RPort | PvKind::RProto
                if msg.is_request() && self.st.new_ruri.is_some() =>
            {
                let u = self.st.new_ruri.as_deref().unwrap_or_default();
                match kind {
                    PvKind::Ru => owned(u.to_vec()),
                    _ => uri_part(u, kind).into_owned_val(),
                }
            }
            PvKind::TBranchIdx => self
                .st
                .t_branch_idx
                .map_or(Val::Int(0), |b| Val::Int(i64::from(b))),
            PvKind::TReplyCode => self
                .st
                .t_reply_code
                .map_or(Val::Null, |c| Val::Int(i64::from(c))),
            PvKind::TReq(inner) => self.read_in(self.st.t_req.as_deref(), inner),
            PvKind::TRpl(inner) => self.read_in(self.st.t_rpl.as_deref(), inner),
            PvKind::Si => owned(self.inb.src.ip().to_string().into_bytes()),
            PvKind::Sp => Val::Int(i64::from(self.inb.src.port())),
            PvKind::Ri => owned(self.inb.local.ip().to_string().into_bytes()),
            PvKind::Rp => Val::Int(i64::from(self.inb.local.port())),
            PvKind::Proto => Val::Str(Cow::Borrowed(self.inb.proto.lower_name().as_bytes())),
            PvKind::Du => self.st.du.as_ref().map_or(Val::Null, |d| owned(d.clone())),
            PvKind::Var(i) => self
                .vars
                .get(*i as usize)
                .map_or(Val::Null, |v| v.as_val().into_owned_val()),
            PvKind::Avp(i) => {
                let stack = self.st.avps.get(*i as usize);
                let k = index.unwrap_or(0);
                if k == super::pv::INDEX_ALL {
                    // Kamailio: every value, newest first, joined by ", ".
                    let Some(st) = stack.filter(|st| !st.is_empty()) else {
                        return Val::Null;
                    };
                    let mut out = Vec::new();
                    for (n, v) in st.iter().rev().enumerate() {
                        if n > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(&v.as_val().to_bytes());
                    }
                    return owned(out);
                }
                let v = stack.and_then(|st| {
                    if k >= 0 {
                        st.iter().rev().nth(k as usize)
                    } else {
                        st.get((-(k as i64) - 1) as usize)
                    }
                });
                v.map_or(Val::Null, |v| v.as_val().into_owned_val())
            }
            PvKind::RetCode => Val::Int(self.st.retcode),
            PvKind::Null => Val::Null,
            _ => msg_pv(msg, kind, index),
        }
    }

    /// `$T_req(pv)` / `$T_rpl(pv)`: `pv` read from the transaction's
    /// message `t` (null when there is none here); the receive information
    /// (`$si`, `$sp`, `$proto`) is that message's, everything not bound to
    /// a message (`$avp`, `$var`, ...) the current one.
    fn read_in(&self, t: Option<&TMsg>, inner: &PvRef) -> Val<'a> {
        let Some(t) = t else { return Val::Null };
        let mut v = match &inner.kind {
            PvKind::Si => Val::Str(Cow::Owned(t.src.ip().to_string().into_bytes())),
            PvKind::Sp => Val::Int(i64::from(t.src.port())),
            PvKind::Proto => Val::Str(Cow::Borrowed(t.proto.lower_name().as_bytes())),
            k if is_message_pv(k) => msg_pv(&t.msg, k, inner.index).into_owned_val(),
            k => self.read_base(k, inner.index),
        };
        for tr in &inner.trans {
            v = transform(v, tr);
        }
        v
    }

    /// Assigns to a writable pseudo-variable. Returns false (and logs) when
    /// the value does not fit (e.g. an invalid R-URI part).
    pub fn assign(&mut self, target: &PvRef, v: Val<'_>, add: bool) -> bool {
        let v = if add {
            let old = self.read_pv(target);
            old.plus(v)
        } else {
            v.into_owned().as_val().into_owned_val()
        };
        match &target.kind {
            PvKind::Var(i) => {
                let slot = *i as usize;
                if self.vars.len() <= slot {
                    self.vars.resize(slot + 1, OwnedVal::Int(0));
                }
                // `$var(x) = $null` resets to 0, as in Kamailio.
                self.vars[slot] = match v {
                    Val::Null => OwnedVal::Int(0),
                    v => v.into_owned(),
                };
                true
            }
            PvKind::Avp(i) => {
                let slot = *i as usize;
                if self.st.avps.len() <= slot {
                    self.st
                        .avps
                        .resize(self.prog.avp_count.max(slot + 1), Vec::new());
                }
                // Kamailio: `$null` deletes the newest value, `[*]` all of
                // them; a value is added on top (`[*]`: replacing all).
                let stack = &mut self.st.avps[slot];
                let all = target.index == Some(super::pv::INDEX_ALL);
                match v {
                    Val::Null if all => stack.clear(),
                    Val::Null => {
                        stack.pop();
                    }
                    v => {
                        if all {
                            stack.clear();
                        }
                        stack.push(v.into_owned());
                    }
                }
                true
            }
            PvKind::Du => {
                self.st.du = match v {
                    Val::Null => None,
                    v => Some(v.to_bytes().into_owned()),
                };
                true
            }
            PvKind::Ru => match v {
                Val::Null => false,
                v => {
                    let b = v.to_bytes().into_owned();
                    if Uri::parse(&b).is_err() {
                        self.log_err(&format!(
                            "invalid R-URI `{}` not assigned to $ru",
                            String::from_utf8_lossy(&b)
                        ));
                        return false;
                    }
                    self.st.new_ruri = Some(b);
                    true
                }
            },
            PvKind::RUser | PvKind::RDomain | PvKind::RPort => {
                let value = match v {
                    Val::Null => Vec::new(),
                    v => v.to_bytes().into_owned(),
                };
                let cur = self.ruri().into_owned();
                match rewrite_uri_part(&cur, &target.kind, &value) {
                    Some(u) => {
                        self.st.new_ruri = Some(u);
                        true
                    }
                    None => {
                        self.log_err("cannot rewrite a part of an invalid R-URI");
                        false
                    }
                }
            }
            _ => false,
        }
    }

    pub fn log_err(&mut self, line: &str) {
        if self.env.log_enabled(crate::route_io::level::ERR) {
            self.env.log(crate::route_io::level::ERR, line);
        }
    }
}

trait IntoOwnedVal {
    fn into_owned_val(self) -> Val<'static>;
}

impl IntoOwnedVal for Val<'_> {
    fn into_owned_val(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Int(i) => Val::Int(i),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
        }
    }
}

/// A transaction's message kept for `$T_req` / `$T_rpl`, with where it
/// came from.
#[derive(Debug)]
pub struct TMsg {
    pub msg: Message,
    pub src: std::net::SocketAddr,
    pub proto: crate::transport::Transport,
}

/// Whether `kind` is read from the message's bytes alone.
fn is_message_pv(kind: &PvKind) -> bool {
    matches!(
        kind,
        PvKind::Ru
            | PvKind::RUser
            | PvKind::RDomain
            | PvKind::RPort
            | PvKind::RProto
            | PvKind::Ou
            | PvKind::OUser
            | PvKind::Rm
            | PvKind::Rs
            | PvKind::Rr
            | PvKind::Fu
            | PvKind::FUser
            | PvKind::Fd
            | PvKind::Fn
            | PvKind::Ft
            | PvKind::Tu
            | PvKind::TUser
            | PvKind::Td
            | PvKind::Tn
            | PvKind::Tt
            | PvKind::Ci
            | PvKind::Cs
            | PvKind::Ct
            | PvKind::Ua
            | PvKind::Hdr(_)
            | PvKind::Ml
            | PvKind::Mb
            | PvKind::Rb
    )
}

/// A pseudo-variable read from `msg`'s bytes (as received: no queued
/// edit, no rewritten R-URI); null for the others.
fn msg_pv<'m>(msg: &'m Message, kind: &PvKind, index: Option<i32>) -> Val<'m> {
    let s = |b: &'m [u8]| Val::Str(Cow::Borrowed(b));
    let opt = |b: Option<&'m [u8]>| b.map_or(Val::Null, |b| Val::Str(Cow::Borrowed(b)));
    let request = |v: Val<'m>| if msg.is_response() { Val::Null } else { v };
    match kind {
        PvKind::Ru | PvKind::Ou => request(s(msg.ruri_bytes())),
        PvKind::RUser | PvKind::RDomain | PvKind::RPort | PvKind::RProto => {
            request(uri_part(msg.ruri_bytes(), kind))
        }
        PvKind::OUser => request(uri_part(msg.ruri_bytes(), &PvKind::RUser)),
        PvKind::Rm => {
            if msg.is_request() {
                s(msg.method_bytes())
            } else {
                msg.cseq().map_or(Val::Null, |c| s(c.method_bytes))
            }
        }
        PvKind::Rs => msg.status().map_or(Val::Null, |c| Val::Int(i64::from(c))),
        PvKind::Rr => {
            if msg.is_response() {
                s(msg.reason())
            } else {
                Val::Null
            }
        }
        PvKind::Fu | PvKind::FUser | PvKind::Fd | PvKind::Fn | PvKind::Ft => {
            name_addr_part(msg.from(), kind)
        }
        PvKind::Tu | PvKind::TUser | PvKind::Td | PvKind::Tn | PvKind::Tt => {
            name_addr_part(msg.to(), kind)
        }
        PvKind::Ci => opt(msg.call_id()),
        PvKind::Cs => msg
            .cseq()
            .map_or(Val::Null, |c| Val::Int(i64::from(c.number))),
        PvKind::Ct => opt(msg.header_named(b"Contact").map(|h| h.value)),
        PvKind::Ua => opt(msg.header_named(b"User-Agent").map(|h| h.value)),
        PvKind::Hdr(name) => {
            let n = name.as_bytes();
            match index {
                None | Some(0) => opt(msg.header_named(n).map(|h| h.value)),
                Some(i) if i > 0 => opt(msg.headers_named(n).nth(i as usize).map(|h| h.value)),
                Some(i) => {
                    let all: Vec<&'m [u8]> = msg.headers_named(n).map(|h| h.value).collect();
                    let k = all.len() as i64 + i64::from(i);
                    opt(usize::try_from(k).ok().and_then(|k| all.get(k).copied()))
                }
            }
        }
        PvKind::Ml => Val::Int(msg.as_bytes().len() as i64),
        PvKind::Mb => s(msg.as_bytes()),
        PvKind::Rb => s(msg.body()),
        _ => Val::Null,
    }
}

fn uri_part<'u>(uri: &'u [u8], kind: &PvKind) -> Val<'u> {
    let Ok(u) = Uri::parse(uri) else {
        return Val::Null;
    };
    match kind {
        PvKind::RUser => u.user.map_or(Val::Null, |b| Val::Str(Cow::Borrowed(b))),
        PvKind::RDomain => Val::Str(Cow::Borrowed(u.host)),
        // Kamailio's $rp is 5060 when the URI has no port.
        PvKind::RPort => Val::Int(i64::from(u.port.unwrap_or(5060))),
        PvKind::RProto => match u.transport_bytes() {
            Some(t) => Val::Str(Cow::Owned(t.to_ascii_lowercase())),
            None => Val::Str(Cow::Borrowed(b"udp")),
        },
        _ => Val::Null,
    }
}

fn name_addr_part<'u>(na: Option<NameAddr<'u>>, kind: &PvKind) -> Val<'u> {
    let Some(na) = na else { return Val::Null };
    let s = |b: &'u [u8]| Val::Str(Cow::Borrowed(b));
    match kind {
        PvKind::Fu | PvKind::Tu => s(na.uri),
        PvKind::FUser | PvKind::TUser => match Uri::parse(na.uri) {
            Ok(u) => u.user.map_or(Val::Null, s),
            Err(_) => Val::Null,
        },
        PvKind::Fd | PvKind::Td => match Uri::parse(na.uri) {
            Ok(u) => s(u.host),
            Err(_) => Val::Null,
        },
        PvKind::Fn | PvKind::Tn => na.display_name.map_or(Val::Null, s),
        PvKind::Ft | PvKind::Tt => na.tag().map_or(Val::Null, s),
        _ => Val::Null,
    }
}

/// Rebuilds `uri` with its user, host or port replaced (empty user or
/// port removes it).
pub fn rewrite_uri_part(uri: &[u8], kind: &PvKind, value: &[u8]) -> Option<Vec<u8>> {
    let u = Uri::parse(uri).ok()?;
    let range_of =
        |part: &[u8]| -> Option<std::ops::Range<usize>> { crate::sip::span::offset_in(uri, part) };
    let mut out = Vec::with_capacity(uri.len() + value.len());
    match kind {
        PvKind::RUser => {
            match u.user {
                Some(user) => {
                    let r = range_of(user)?;
                    // user[:password]@ is replaced as a unit
                    let at = uri[r.start..].iter().position(|&b| b == b'@')? + r.start;
                    out.extend_from_slice(&uri[..r.start]);
                    if !value.is_empty() {
                        out.extend_from_slice(value);
                        out.push(b'@');
                    }
                    out.extend_from_slice(&uri[at + 1..]);
                }
                None => {
                    let r = range_of(u.host)?;
                    let start = if r.start > 0 && uri[r.start - 1] == b'[' {
                        r.start - 1
                    } else {
                        r.start
                    };
                    out.extend_from_slice(&uri[..start]);
                    if !value.is_empty() {
                        out.extend_from_slice(value);
                        out.push(b'@');
                    }
                    out.extend_from_slice(&uri[start..]);
                }
            }
        }
        PvKind::RDomain => {
            let r = range_of(u.host)?;
            out.extend_from_slice(&uri[..r.start]);
            out.extend_from_slice(value);
            out.extend_from_slice(&uri[r.end..]);
        }
        PvKind::RPort => {
            let r = range_of(u.host)?;
            let mut end = r.end;
            if uri.get(end) == Some(&b']') {
                end += 1;
            }
            let mut after = end;
            if uri.get(after) == Some(&b':') {
                after += 1;
                while after < uri.len() && uri[after].is_ascii_digit() {
                    after += 1;
                }
            }
            out.extend_from_slice(&uri[..end]);
            if !value.is_empty() {
                out.push(b':');
                out.extend_from_slice(value);
            }
            out.extend_from_slice(&uri[after..]);
        }
        _ => return None,
    }
    Some(out)
}

fn transform<'v>(v: Val<'v>, t: &Transform) -> Val<'v> {
    if matches!(v, Val::Null) {
        return Val::Null;
    }
    let bytes = |v: &Val<'v>| v.to_bytes().into_owned();
    match t {
        Transform::Len => Val::Int(v.to_bytes().len() as i64),
        Transform::ToLower => Val::Str(Cow::Owned(bytes(&v).to_ascii_lowercase())),
        Transform::ToUpper => Val::Str(Cow::Owned(bytes(&v).to_ascii_uppercase())),
        Transform::ToInt => Val::Int(v.to_int()),
        Transform::Substr(off, len) => {
            let b = bytes(&v);
            let n = b.len() as i64;
            let start = if *off < 0 {
                (n + off).max(0)
            } else {
                (*off).min(n)
            };
            let end = match *len {
                0 => n,
                l if l < 0 => n + l,
                l => (start + l).min(n),
            };
            if end <= start {
                return Val::Str(Cow::Owned(Vec::new()));
            }
            Val::Str(Cow::Owned(b[start as usize..end as usize].to_vec()))
        }
        Transform::Select(idx, sep) => {
            let b = bytes(&v);
            let parts: Vec<&[u8]> = b.split(|c| c == sep).collect();
            let i = if *idx < 0 {
                parts.len() as i64 + idx
            } else {
                *idx
            };
            match usize::try_from(i).ok().and_then(|i| parts.get(i)) {
                Some(p) => Val::Str(Cow::Owned(p.to_vec())),
                None => Val::Null,
            }
        }
        Transform::UriUser | Transform::UriHost | Transform::UriPort => {
            let b = bytes(&v);
            let Ok(u) = Uri::parse(&b) else {
                return Val::Null;
            };
            match t {
                Transform::UriUser => Val::Str(Cow::Owned(u.user.unwrap_or(b"").to_vec())),
                Transform::UriHost => Val::Str(Cow::Owned(u.host.to_vec())),
                _ => Val::Str(Cow::Owned(
                    u.port
                        .map(|p| p.to_string().into_bytes())
                        .unwrap_or_default(),
                )),
            }
        }
        Transform::NameAddrUri => {
            let b = bytes(&v);
            match NameAddr::parse(&b) {
                Ok(na) => Val::Str(Cow::Owned(na.uri.to_vec())),
                Err(_) => Val::Null,
            }
        }
    }
}

/// Whether `ip` lies in `net/bits`.
pub fn ip_in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = u32::from(bits.min(128));
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_part_rewrites() {
        let u = b"sip:alice@example.com:5070;transport=udp";
        assert_eq!(
            rewrite_uri_part(u, &PvKind::RUser, b"bob").unwrap(),
            b"sip:bob@example.com:5070;transport=udp"
        );
        assert_eq!(
            rewrite_uri_part(u, &PvKind::RUser, b"").unwrap(),
            b"sip:example.com:5070;transport=udp"
        );
        assert_eq!(
            rewrite_uri_part(u, &PvKind::RDomain, b"10.0.0.1").unwrap(),
            b"sip:alice@10.0.0.1:5070;transport=udp"
        );
        assert_eq!(
            rewrite_uri_part(u, &PvKind::RPort, b"").unwrap(),
            b"sip:alice@example.com;transport=udp"
        );
        assert_eq!(
            rewrite_uri_part(b"sip:h", &PvKind::RUser, b"u").unwrap(),
            b"sip:u@h"
        );
        assert_eq!(
            rewrite_uri_part(b"sip:h", &PvKind::RPort, b"9").unwrap(),
            b"sip:h:9"
        );
    }

    #[test]
    fn transformations() {
        let v = Val::str(b"sip:alice@example.com:5070");
        assert_eq!(
            transform(v.clone(), &Transform::UriUser),
            Val::str(b"alice")
        );
        assert_eq!(transform(v.clone(), &Transform::UriPort), Val::str(b"5070"));
        assert_eq!(transform(v.clone(), &Transform::Len), Val::Int(26));
        assert_eq!(
            transform(Val::str(b"a.b.c"), &Transform::Select(-1, b'.')),
            Val::str(b"c")
        );
        assert_eq!(
            transform(Val::str(b"abcdef"), &Transform::Substr(1, 2)),
            Val::str(b"bc")
        );
        assert_eq!(
            transform(Val::str(b"abcdef"), &Transform::Substr(-2, 0)),
            Val::str(b"ef")
        );
        assert_eq!(
            transform(Val::str(b"\"A\" <sip:x@y>;tag=1"), &Transform::NameAddrUri),
            Val::str(b"sip:x@y")
        );
        assert_eq!(
            transform(Val::str(b"AbC"), &Transform::ToLower),
            Val::str(b"abc")
        );
    }

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(ip_in_net(ip("10.1.2.3"), ip("10.0.0.0"), 8));
        assert!(!ip_in_net(ip("11.1.2.3"), ip("10.0.0.0"), 8));
        assert!(ip_in_net(ip("::1"), ip("::1"), 128));
        assert!(!ip_in_net(ip("::1"), ip("127.0.0.1"), 32));
    }
}
