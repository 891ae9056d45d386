//! Module `tm`: stateful forwarding through the shard's transaction table
//! ([`crate::tm::table::Table`], lent by the runtime through
//! [`crate::route_io::RouteEnv::tm`]). See `docs/transactions.md`.
//!
//! The runtime absorbs retransmissions, non-2xx ACKs and CANCELs of known
//! transactions before the script runs (`t_check_trans` semantics), and
//! answers responses of our branches without `onreply_route`.

use std::borrow::Cow;
use std::net::SocketAddr;

use crate::proxy::Destination;
use crate::route_io::level;
use crate::script::ast::RouteKind;
use crate::script::exec_ctx::{BranchTarget, Exec};
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::Method;
use crate::tm::proxy::{FailedBranch, TxId};
use crate::tm::table::CreateError;
use crate::transport::Transport;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "append_branch",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::FAILURE,
        imp: append_branch,
    },
    FnSpec {
        name: "t_relay",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_relay,
    },
    FnSpec {
        name: "t_relay_to_udp",
        aliases: &[],
        module: "tm",
        min_args: 2,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_relay_to_udp,
    },
    FnSpec {
        name: "t_relay_to_tcp",
        aliases: &[],
        module: "tm",
        min_args: 2,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_relay_to_tcp,
    },
    FnSpec {
        name: "t_set_fr",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 2,
        args: &[A::Int, A::Int],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_set_fr,
    },
    FnSpec {
        name: "t_newtran",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST,
        imp: t_newtran,
    },
    FnSpec {
        name: "t_reply",
        aliases: &[],
        module: "tm",
        min_args: 2,
        max_args: 2,
        args: &[A::Int, A::StrOrPv],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_reply,
    },
    FnSpec {
        name: "t_check_trans",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST | rt::FAILURE | rt::ONREPLY | rt::BRANCH,
        imp: t_check_trans,
    },
    FnSpec {
        name: "t_on_failure",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::FAILURE | rt::BRANCH,
        imp: t_on_failure,
    },
    FnSpec {
        name: "t_on_reply",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::FAILURE | rt::BRANCH,
        imp: t_on_reply,
    },
    FnSpec {
        name: "t_on_branch",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::FAILURE,
        imp: t_on_branch,
    },
    FnSpec {
        name: "t_check_status",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 1,
        args: &[A::Regex],
        routes: rt::REQUEST | rt::FAILURE | rt::ONREPLY,
        imp: t_check_status,
    },
    FnSpec {
        name: "t_is_set",
        aliases: &[],
        module: "tm",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::ANY,
        imp: t_is_set,
    },
    FnSpec {
        name: "t_branch_timeout",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::FAILURE,
        imp: t_branch_timeout,
    },
    FnSpec {
        name: "t_branch_replied",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::FAILURE,
        imp: t_branch_replied,
    },
    FnSpec {
        name: "t_is_canceled",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST | rt::FAILURE | rt::ONREPLY,
        imp: t_is_canceled,
    },
];

/// `t_relay()`: to `$du` / the R-URI; `t_relay(host, port)`: to that
/// address over UDP (Kamailio's two-argument form, protocol unset = UDP).
fn t_relay(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match args.len() {
        0 => x.t_relay(None, None),
        2 => relay_to(x, args, Transport::Udp),
        _ => {
            x.log_err("t_relay: takes no argument or (host, port)");
            -1
        }
    }
}

/// `append_branch([uri])` (core): a branch for the next `t_relay()`, to
/// `uri`, or else to the current R-URI with its `$du` and Path.
fn append_branch(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let branch = match args.first() {
        Some(a) => BranchTarget {
            uri: x.arg_str(a).into_owned(),
            ..Default::default()
        },
        None => BranchTarget {
            uri: x.ruri().into_owned(),
            du: x.st.du.clone(),
            path: x.st.path.clone(),
        },
    };
    let uri = &branch.uri;
    if crate::sip::Uri::parse(uri).is_err() {
        x.log_err(&format!(
            "append_branch: `{}` is not a URI",
            String::from_utf8_lossy(uri)
        ));
        return -1;
    }
    if x.st.branches.len() >= 11 {
        x.log_err("append_branch: too many branches");
        return -1;
    }
    x.st.branches.push(branch);
    1
}

fn relay_to(x: &mut Exec<'_, '_>, args: &[CArg], proto: Transport) -> i32 {
    let host = String::from_utf8_lossy(&x.arg_str(&args[0])).into_owned();
    let Some(port) = x.arg_int(&args[1]).and_then(|p| u16::try_from(p).ok()) else {
        x.log_err("t_relay_to: the port is not a number between 0 and 65535");
        return -1;
    };
    x.t_relay(Some((Cow::Owned(host), Some(port))), Some(proto))
}

fn t_relay_to_udp(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    relay_to(x, args, Transport::Udp)
}

fn t_relay_to_tcp(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    relay_to(x, args, Transport::Tcp)
}

/// `t_set_fr(fr_inv_timeout[, fr_timeout])` (ms; 0 or absent keeps the
/// module's): Timer C and Timer B/F of the branches this transaction
/// starts from now on (the current one, or the one `t_relay()` creates).
fn t_set_fr(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let mut v = [0u32; 2];
    for (slot, a) in v.iter_mut().zip(args) {
        match x.arg_int(a).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => *slot = n,
            None => {
                x.log_err("t_set_fr: the timeouts are milliseconds (0 or more)");
                return -1;
            }
        }
    }
    if let Some(id) = x.st.tx {
        if let Some(tm) = x.env.tm() {
            let _ = tm.table.set_fr(id, v[0], v[1]);
        }
    }
    let (inv, noinv) = x.st.t_fr.unwrap_or((0, 0));
    x.st.t_fr = Some((
        if v[0] > 0 { v[0] } else { inv },
        if v[1] > 0 { v[1] } else { noinv },
    ));
    1
}

fn t_newtran(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    match x.t_transaction("t_newtran") {
        Some(_) => 1,
        None if x.st.handled => 0,
        None => -1,
    }
}

/// `t_reply(code, reason)`: a reply through the transaction (created if
/// needed), retransmitted by it over UDP.
fn t_reply(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(code) = x
        .arg_int(&args[0])
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=699).contains(c))
    else {
        x.log_err("t_reply: the code must be a number between 100 and 699");
        return -1;
    };
    let reason = x.arg_str(&args[1]).into_owned();
    let Some(id) = x.t_transaction("t_reply") else {
        return -1;
    };
    let Some(tm) = x.env.tm() else { return -1 };
    match tm.table.reply(tm.now, id, code, &reason, tm.out) {
        Ok(()) => {
            x.st.handled = true;
            1
        }
        Err(e) => {
            x.log_err(&format!("t_reply: {e:?}"));
            -1
        }
    }
}

/// True when the message belongs to a transaction. Requests of known
/// transactions never reach the script (the runtime absorbs them), so this
/// is true only after `t_newtran`/`t_relay` and in `failure_route`.
fn t_check_trans(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    if x.st.tx.is_some() {
        1
    } else {
        -1
    }
}

fn t_on_failure(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let name = String::from_utf8_lossy(&x.arg_str(&args[0])).into_owned();
    match x.prog.named.get(&(RouteKind::Failure, name.clone())) {
        Some(&r) => {
            x.st.on_failure = Some(r);
            1
        }
        None => {
            x.log_err(&format!("t_on_failure: no failure_route[{name}]"));
            -1
        }
    }
}

/// Looks up `name` among the routes of `kind`; logs when missing.
fn named_route(
    x: &mut Exec<'_, '_>,
    args: &[CArg],
    kind: RouteKind,
    what: &str,
) -> Option<crate::script::program::RouteId> {
    let name = String::from_utf8_lossy(&x.arg_str(&args[0])).into_owned();
    let r = x.prog.named.get(&(kind, name.clone())).copied();
    if r.is_none() {
        x.log_err(&format!("{what}: no {}[{name}]", kind.keyword()));
    }
    r
}

/// `t_on_reply("NAME")`: `onreply_route[NAME]` runs for each response of
/// the transaction, before tm acts on it (`drop` discards a provisional).
fn t_on_reply(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match named_route(x, args, RouteKind::OnReply, "t_on_reply") {
        Some(r) => {
            x.st.on_reply = Some(r);
            1
        }
        None => -1,
    }
}

/// `t_on_branch("NAME")`: `branch_route[NAME]` runs for each branch
/// `t_relay()` creates; its changes apply to that branch only and `drop`
/// cancels the branch.
fn t_on_branch(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match named_route(x, args, RouteKind::Branch, "t_on_branch") {
        Some(r) => {
            x.st.on_branch = Some(r);
            1
        }
        None => -1,
    }
}

/// `t_check_status(re)`: the status of the response being processed
/// (`onreply_route`) or of the best one (`failure_route`) matches `re`.
fn t_check_status(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let CArg::Regex(re) = &args[0] else {
        return -1;
    };
    let code = x.msg.status().or(x.st.t_reply_code);
    match code {
        Some(c) if re.is_match(c.to_string().as_bytes()) => 1,
        _ => -1,
    }
}

/// `t_is_set("failure_route" | "branch_route" | "onreply_route")`.
fn t_is_set(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let which = x.arg_str(&args[0]).into_owned();
    let set = match &which[..] {
        b"failure_route" => x.st.on_failure.is_some(),
        b"branch_route" => x.st.on_branch.is_some(),
        b"onreply_route" => x.st.on_reply.is_some(),
        _ => {
            x.log_err("t_is_set: expected failure_route, branch_route or onreply_route");
            return -1;
        }
    };
    if set {
        1
    } else {
        -1
    }
}

/// The picked branch of the `failure_route` being run, as one flag.
fn failed_flag(x: &mut Exec<'_, '_>, flag: fn(&FailedBranch) -> bool) -> i32 {
    let Some(id) = x.st.tx else { return -1 };
    let Some(tm) = x.env.tm() else { return -1 };
    match tm.table.get(id).and_then(|t| t.failed_branch()) {
        Some(f) if flag(f) => 1,
        _ => -1,
    }
}

/// `t_branch_timeout()` (failure_route): the picked branch ended by a
/// timer (Timer B/F, or Timer C after a provisional), not by a reply.
fn t_branch_timeout(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    failed_flag(x, |f| f.timeout)
}

/// `t_branch_replied()` (failure_route): the picked branch had received a
/// reply before the one that ended it (a 180 before the timeout; not the
/// 486 itself, as Kamailio marks the branch after the reply is handled).
fn t_branch_replied(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    failed_flag(x, |f| f.replied)
}

fn t_is_canceled(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let Some(id) = x.st.tx else { return -1 };
    let Some(tm) = x.env.tm() else { return -1 };
    match tm.table.get(id) {
        Some(tx) if tx.is_canceled() => 1,
        _ => -1,
    }
}

impl Exec<'_, '_> {
    /// The bytes of a new branch: `branch_route` (armed by `t_on_branch`)
    /// runs first, its edits and R-URI/`$du` changes for this branch
    /// only; None when it dropped the branch.
    fn branch_bytes(
        &mut self,
        id: TxId,
        dst: SocketAddr,
        proto: Transport,
        local: &crate::route_io::LocalSocket,
        branch: &str,
    ) -> Option<Vec<u8>> {
        let Some(route) = self.st.on_branch else {
            return self.forward_bytes(dst, proto, local, branch, "t_relay");
        };
        let index = {
            let tm = self.env.tm()?;
            tm.table.get(id).map_or(0, |t| t.branch_count())
        };
        let mark = self.st.edits.len();
        let saved = (
            self.st.new_ruri.clone(),
            self.st.du.clone(),
            self.st.t_branch_idx,
        );
        // A Record-Route branch_route asks for is this branch's only.
        let saved_rr = (self.st.rr.clone(), self.st.rr_params.len());
        self.st.t_branch_idx = u8::try_from(index).ok();
        self.run_route(route);
        let bytes = if std::mem::take(&mut self.st.dropped) {
            None
        } else {
            self.forward_bytes(dst, proto, local, branch, "t_relay")
        };
        self.st.edits.truncate(mark);
        (self.st.new_ruri, self.st.du, self.st.t_branch_idx) = saved;
        self.st.rr = saved_rr.0;
        self.st.rr_params.truncate(saved_rr.1);
        bytes
    }

    /// The transaction of this request, created (`t_newtran`) if needed.
    /// None (logged) when there is no table, the table is full (503 sent),
    /// or the request is a retransmission (absorbed).
    pub fn t_transaction(&mut self, what: &str) -> Option<TxId> {
        if let Some(id) = self.st.tx {
            return Some(id);
        }
        if self.msg.is_response() {
            return None;
        }
        let (msg, src, proto) = (self.msg, self.inb.src, self.inb.proto);
        let Some(tm) = self.env.tm() else {
            self.log_err(&format!("{what}: module tm is not loaded"));
            return None;
        };
        match tm.table.create(tm.now, msg, src, proto, tm.out) {
            Ok(id) => {
                if let Some((inv, noinv)) = self.st.t_fr {
                    let _ = tm.table.set_fr(id, inv, noinv);
                }
                self.st.tx = Some(id);
                Some(id)
            }
            Err(CreateError::Exists(_)) => {
                self.st.handled = true;
                None
            }
            Err(e) => {
                if e == CreateError::Full {
                    self.st.handled = true;
                }
                self.log_err(&format!("{what}: {e}"));
                None
            }
        }
    }

    /// The first `t_relay()` of request_route with a failure_route armed
    /// keeps the edits made so far for the branches failure_route adds.
    fn save_relay_lumps(&mut self) {
        let in_request_route = self.st.t_reply_code.is_none();
        if in_request_route && self.st.on_failure.is_some() && self.st.relay_lumps.is_none() {
            self.st.relay_lumps = Some(crate::script::exec_ctx::RelayLumps {
                edits: self.st.edits.clone(),
                rr: self.st.rr.clone(),
                rr_params: self.st.rr_params.clone(),
            });
        }
    }

    /// `t_relay()`: statefully to `target` (host, port), else `$du`, else
    /// the R-URI, plus one branch per `append_branch()` URI (parallel
    /// forking; the branches are consumed). An ACK is forwarded statelessly
    /// (it never has its own transaction). Returns 1 when a branch started,
    /// -1 otherwise.
    pub fn t_relay(
        &mut self,
        target: Option<(Cow<'_, str>, Option<u16>)>,
        force_proto: Option<Transport>,
    ) -> i32 {
        if self.msg.is_response() {
            return -1;
        }
        if self.msg.method() == Method::Ack {
            return self.forward(target, force_proto);
        }
        self.save_relay_lumps();
        let extra = std::mem::take(&mut self.st.branches);
        let mut rc = self.t_relay_branch(target, force_proto);
        if extra.is_empty() {
            return rc;
        }
        let saved = (
            self.st.new_ruri.take(),
            self.st.du.take(),
            self.st.path.take(),
        );
        for b in extra {
            (self.st.new_ruri, self.st.du, self.st.path) = (Some(b.uri), b.du, b.path);
            if self.t_relay_branch(None, force_proto) == 1 {
                rc = 1;
            }
        }
        (self.st.new_ruri, self.st.du, self.st.path) = saved;
        rc
    }

    /// One branch of `t_relay()` to `target`, else `$du`, else the R-URI.
    fn t_relay_branch(
        &mut self,
        target: Option<(Cow<'_, str>, Option<u16>)>,
        force_proto: Option<Transport>,
    ) -> i32 {
        let Some((dst, local, proto)) = self.relay_target(target, force_proto, "t_relay") else {
            return -1;
        };
        let Some(id) = self.t_transaction("t_relay") else {
            // Answered (503, table full) or absorbed (retransmission):
            // the script stops, as Kamailio's t_relay returning 0.
            return if self.st.handled { 0 } else { -1 };
        };
        let branch = {
            let Some(tm) = self.env.tm() else { return -1 };
            tm.table.branch_param(id)
        };
        let branch = match branch {
            Ok(b) => b,
            Err(e) => {
                self.log_err(&format!("t_relay: no new branch: {e:?}"));
                return -1;
            }
        };
        let Some(bytes) = self.branch_bytes(id, dst, proto, &local, &branch) else {
            return -1;
        };
        let dest = Destination {
            host: crate::proxy::destination::ip_text(dst.ip()),
            port: dst.port(),
            transport: proto,
        };
        let Some(tm) = self.env.tm() else { return -1 };
        match tm.table.add_branch(tm.now, id, bytes, dest, tm.out) {
            Ok(_) => {
                self.st.handled = true;
                1
            }
            Err(e) => {
                if self.env.log_enabled(level::ERR) {
                    self.log_err(&format!("t_relay: branch to {dst} refused: {e:?}"));
                }
                -1
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, SocketAddr};

    use crate::route_io::{Inbound, LocalSocket, Outbound, RouteEnv, Router, TmAccess, TmReply};
    use crate::script::{Program, ShardState};
    use crate::sip::Message;
    use crate::tm::proxy::Output;
    use crate::tm::table::Table;
    use crate::transport::Transport;

    /// A runtime with a transaction table; IP literals only.
    struct Env {
        table: Table,
        out: Vec<Output>,
        sent: Vec<Outbound>,
        logs: Vec<String>,
    }

    impl RouteEnv for Env {
        fn resolve(&mut self, host: &str, port: Option<u16>, _: Transport) -> Option<SocketAddr> {
            let ip: IpAddr = host.parse().ok()?;
            Some(SocketAddr::new(ip, port.unwrap_or(5060)))
        }
        fn local_for(&self, _: SocketAddr, proto: Transport) -> Option<LocalSocket> {
            Some(LocalSocket {
                proto,
                addr: "127.0.0.1:5060".parse().unwrap(),
                advertise_host: "127.0.0.1".into(),
                advertise_port: 5060,
            })
        }
        fn log(&mut self, _: i32, line: &str) {
            self.logs.push(line.to_string());
        }
        fn log_enabled(&self, _: i32) -> bool {
            true
        }
        fn send(&mut self, out: Outbound) {
            self.sent.push(out);
        }
        fn shard(&self) -> usize {
            0
        }
        fn tm(&mut self) -> Option<TmAccess<'_>> {
            Some(TmAccess {
                table: &mut self.table,
                now: 0,
                out: &mut self.out,
            })
        }
    }

    const CFG: &str = r#"
listen=udp:127.0.0.1:5060
loadmodule "tm.so"
modparam("tm", "fr_inv_timer", 2000)
request_route {
    $du = "sip:10.0.0.1:5070";
    t_on_failure("NEXT");
    t_relay();
}
failure_route[NEXT] {
    if ($T_reply_code == 503) {
        t_relay_to_udp("10.0.0.2", "5080");
    }
}
"#;

    const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";

    /// Where the test INVITE comes from.
    fn caller() -> Inbound {
        Inbound {
            proto: Transport::Udp,
            src: "10.1.1.1:5060".parse().unwrap(),
            local: "127.0.0.1:5060".parse().unwrap(),
            conn: None,
        }
    }

    /// A runtime with a fresh table for `prog`, and `INVITE` after it went
    /// through request_route.
    fn invite_through(prog: &Program) -> (Env, ShardState) {
        let mut env = Env {
            table: Table::new(0, prog.tm_config().expect("tm loaded")),
            out: Vec::new(),
            sent: Vec::new(),
            logs: Vec::new(),
        };
        let mut state = prog.new_shard_state();
        let msg = Message::parse(INVITE.as_bytes().to_vec()).unwrap();
        Router::on_request(prog, msg, &caller(), &mut env, &mut state);
        (env, state)
    }

    fn sends(out: &[Output]) -> Vec<(String, u16, String)> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { dst, bytes, .. } => Some((
                    dst.host.clone(),
                    dst.port,
                    String::from_utf8_lossy(bytes).into_owned(),
                )),
                Output::Failure { .. } => None,
            })
            .collect()
    }

    const ROUTES_CFG: &str = r#"
listen=udp:127.0.0.1:5060
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "xlog.so"
request_route {
    $du = "sip:10.0.0.1:5070";
    t_on_reply("R");
    t_on_branch("B");
    if (t_is_set("branch_route")) {
        append_branch("sip:bob@10.0.0.2:5080");
        append_branch("sip:bob@10.0.0.3:5090");
    }
    t_relay();
}
branch_route[B] {
    append_hf("X-Branch: $T_branch_idx\r\n");
    if ($rd == "10.0.0.2") {
        drop;
    }
}
onreply_route[R] {
    xinfo("reply $rs branch $T_branch_idx");
    if (t_check_status("18[0-9]")) {
        drop;
    }
}
"#;

    /// `t_on_branch`: each branch runs `branch_route` with its index, its
    /// header only on that branch, `drop` kills the branch. `t_on_reply`:
    /// `onreply_route` sees each response with its branch; `drop` of a
    /// provisional keeps it from the table.
    #[test]
    fn branch_route_and_onreply_route() {
        let cfg = crate::script::compile_str("t.cfg", ROUTES_CFG, &[]).expect("compiles");
        let prog = &*cfg.program;
        let (mut env, mut state) = invite_through(prog);
        let inb = caller();
        let s = sends(&env.out);
        assert_eq!(s.len(), 3, "100 and two branches: {s:?} {:?}", env.logs);
        assert!(s[0].2.starts_with("SIP/2.0 100 "));
        assert_eq!((s[1].0.as_str(), s[1].1), ("10.0.0.1", 5070));
        assert!(s[1].2.contains("X-Branch: 0\r\n"), "{}", s[1].2);
        assert_eq!((s[2].0.as_str(), s[2].1), ("10.0.0.3", 5090));
        assert!(s[2].2.starts_with("INVITE sip:bob@10.0.0.3:5090 "));
        assert!(
            s[2].2.contains("X-Branch: 1\r\n"),
            "index of the new branch"
        );
        assert_eq!(s[2].2.matches("X-Branch").count(), 1);
        let branch = s[1]
            .2
            .split("branch=")
            .nth(1)
            .and_then(|b| b.split("\r\n").next())
            .unwrap()
            .to_string();
        env.out.clear();
        let resp = |code: u16| {
            let r = format!(
                "SIP/2.0 {code} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>;tag=u1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
            );
            Message::parse(r.into_bytes()).unwrap()
        };
        let (tx, n) = env.table.match_response(&resp(180)).unwrap();
        assert_eq!(n, 0);
        assert!(matches!(
            Router::on_tm_reply(prog, tx, n, &resp(180), &inb, &mut env, &mut state),
            TmReply::Drop
        ));
        assert!(matches!(
            Router::on_tm_reply(prog, tx, n, &resp(200), &inb, &mut env, &mut state),
            TmReply::Keep
        ));
        assert_eq!(
            env.logs[env.logs.len() - 2..],
            ["reply 180 branch 0", "reply 200 branch 0"]
        );
    }

    /// `record_route()` / `add_rr_param()` in `branch_route`: the
    /// Record-Route is on that branch only, not on the next one.
    #[test]
    fn branch_route_record_route_is_that_branch_only() {
        let src = ROUTES_CFG
            .replace(
                "loadmodule \"tm.so\"",
                "loadmodule \"tm.so\"\nloadmodule \"rr.so\"",
            )
            .replace(
                "branch_route[B] {",
                "branch_route[B] {\n    if ($T_branch_idx == 0) {\n        record_route();\n        add_rr_param(\";b=0\");\n    }",
            );
        let cfg = crate::script::compile_str("t.cfg", &src, &[]).expect("compiles");
        let (env, _) = invite_through(&cfg.program);
        let s = sends(&env.out);
        assert_eq!(s.len(), 3, "100 and two branches: {s:?} {:?}", env.logs);
        assert!(
            s[1].2
                .contains("Record-Route: <sip:127.0.0.1:5060;lr;ftag=1;b=0>\r\n"),
            "{}",
            s[1].2
        );
        assert!(!s[2].2.contains("Record-Route"), "{}", s[2].2);
    }

    /// `t_relay()` starts a transaction (100 upstream, branch downstream);
    /// a 503 triggers `failure_route`, whose relay adds the second branch.
    #[test]
    fn t_relay_and_failure_route_failover() {
        let cfg = crate::script::compile_str("t.cfg", CFG, &[]).expect("compiles");
        let prog = &*cfg.program;
        let table_cfg = prog.tm_config().expect("tm loaded");
        assert_eq!(table_cfg.proxy.timers.fr_inv_timer.as_millis(), 2000);
        let (mut env, mut state) = invite_through(prog);
        assert!(env.sent.is_empty(), "nothing stateless: {:?}", env.logs);
        let s = sends(&env.out);
        assert_eq!(s.len(), 2, "{s:?} {:?}", env.logs);
        assert!(s[0].2.starts_with("SIP/2.0 100 "), "{}", s[0].2);
        assert_eq!((s[1].0.as_str(), s[1].1), ("10.0.0.1", 5070));
        let branch = s[1]
            .2
            .split("branch=")
            .nth(1)
            .and_then(|b| b.split("\r\n").next())
            .unwrap()
            .to_string();
        assert!(branch.starts_with("z9hG4bK0000"), "{branch}");
        env.out.clear();

        let resp = format!(
            "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>;tag=u1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let resp = Message::parse(resp.into_bytes()).unwrap();
        env.table
            .on_response(0, &resp, "10.0.0.9:5060".parse().unwrap(), &mut env.out);
        let failure = env.out.iter().find_map(|o| match o {
            Output::Failure { tx, code } => Some((*tx, *code)),
            Output::Send { .. } => None,
        });
        let (tx, code) = failure.expect("failure_route event");
        assert_eq!(code, 503);
        env.out.clear();
        Router::on_failure(prog, tx, code, &mut env, &mut state);
        let s = sends(&env.out);
        assert_eq!(s.len(), 1, "{s:?} {:?}", env.logs);
        assert_eq!((s[0].0.as_str(), s[0].1), ("10.0.0.2", 5080));
        assert!(
            s[0].2.starts_with("INVITE sip:bob@example.com"),
            "{}",
            s[0].2
        );
        assert!(env.table.get(tx).is_some_and(|t| t.branch_count() == 2));
    }

    /// Runs the test INVITE through `src` (CFG with edits), answers the
    /// first branch 503 and runs failure_route: returns the first branch's
    /// bytes, the failover branch's bytes and the state after.
    fn first_and_failover(src: &str) -> (String, String, ShardState) {
        let cfg = crate::script::compile_str("t.cfg", src, &[]).expect("compiles");
        let prog = &*cfg.program;
        let (mut env, mut state) = invite_through(prog);
        let s = sends(&env.out);
        assert_eq!(s.len(), 2, "{s:?} {:?}", env.logs);
        let first = s[1].2.clone();
        let branch = first
            .split("branch=")
            .nth(1)
            .and_then(|b| b.split("\r\n").next())
            .unwrap()
            .to_string();
        env.out.clear();
        let resp = format!(
            "SIP/2.0 503 Service Unavailable\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nVia: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bKabc\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:bob@example.com>;tag=u1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let resp = Message::parse(resp.into_bytes()).unwrap();
        env.table
            .on_response(0, &resp, "10.0.0.9:5060".parse().unwrap(), &mut env.out);
        let (tx, code) = env
            .out
            .iter()
            .find_map(|o| match o {
                Output::Failure { tx, code } => Some((*tx, *code)),
                Output::Send { .. } => None,
            })
            .expect("failure_route event");
        env.out.clear();
        Router::on_failure(prog, tx, code, &mut env, &mut state);
        let s = sends(&env.out);
        assert_eq!(s.len(), 1, "{s:?} {:?}", env.logs);
        assert_eq!((s[0].0.as_str(), s[0].1), ("10.0.0.2", 5080));
        (first, s[0].2.clone(), state)
    }

    /// `record_route()` in request_route: the failover branch that
    /// failure_route adds carries the same Record-Route (Kamailio keeps
    /// the request's lumps with the transaction).
    #[test]
    fn failover_branch_keeps_record_route() {
        let src = CFG
            .replace(
                "loadmodule \"tm.so\"",
                "loadmodule \"tm.so\"\nloadmodule \"rr.so\"",
            )
            .replace(
                "    t_on_failure(\"NEXT\");",
                "    record_route();\n    t_on_failure(\"NEXT\");",
            );
        let (first, failover, state) = first_and_failover(&src);
        let rr = "Record-Route: <sip:127.0.0.1:5060;lr;ftag=1>\r\n";
        assert!(first.contains(rr), "{first}");
        assert_eq!(failover.matches("Record-Route:").count(), 1, "{failover}");
        assert!(failover.contains(rr), "{failover}");
        assert!(state.relay_lumps.is_empty(), "not re-armed: forgotten");
    }

    /// Header edits of request_route before `t_relay()` (append_hf, the
    /// Max-Forwards decrement) reach the failover branch, once; one made
    /// after `t_relay()` does not (Kamailio saves the lumps at the first
    /// relay).
    #[test]
    fn failover_branch_keeps_request_route_header_edits() {
        let src = CFG
            .replace(
                "loadmodule \"tm.so\"",
                "loadmodule \"tm.so\"\nloadmodule \"textops.so\"\nloadmodule \"maxfwd.so\"",
            )
            .replace(
                "    t_on_failure(\"NEXT\");\n    t_relay();",
                "    mf_process_maxfwd_header(\"10\");\n    append_hf(\"X-Edited: yes\\r\\n\");\n    t_on_failure(\"NEXT\");\n    t_relay();\n    append_hf(\"X-Late: yes\\r\\n\");",
            );
        let (first, failover, _) = first_and_failover(&src);
        for branch in [&first, &failover] {
            assert!(branch.contains("X-Edited: yes\r\n"), "{branch}");
            assert!(branch.contains("Max-Forwards: 69\r\n"), "{branch}");
            assert!(!branch.contains("X-Late"), "{branch}");
        }
        assert_eq!(failover.matches("X-Edited:").count(), 1, "{failover}");
    }

    /// `t_set_fr(0, 700)` before `t_relay()`: the branch's Timer B is
    /// 700 ms instead of the module's 30 s `fr_timer`, so failure_route
    /// runs with 408 at 700 ms (and not at 699).
    #[test]
    fn t_set_fr_shortens_timer_b() {
        let src = CFG.replace(
            "    t_on_failure(\"NEXT\");",
            "    t_set_fr(0, 700);\n    t_on_failure(\"NEXT\");",
        );
        let cfg = crate::script::compile_str("t.cfg", &src, &[]).expect("compiles");
        let prog = &*cfg.program;
        let (mut env, _) = invite_through(prog);
        assert_eq!(sends(&env.out).len(), 2, "{:?}", env.logs);
        let failure = |out: &[Output]| {
            out.iter().find_map(|o| match o {
                Output::Failure { code, .. } => Some(*code),
                Output::Send { .. } => None,
            })
        };
        env.out.clear();
        env.table.on_timer(699, &mut env.out);
        assert_eq!(failure(&env.out), None);
        env.table.on_timer(700, &mut env.out);
        assert_eq!(failure(&env.out), Some(408));
    }
}
