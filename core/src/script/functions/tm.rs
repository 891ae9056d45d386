//! Module `tm`: stateful forwarding through the shard's transaction table
//! ([`crate::tm::table::Table`], lent by the runtime through
//! [`crate::route_io::RouteEnv::tm`]). See `docs/transactions.md`.
//!
//! The runtime absorbs retransmissions, non-2xx ACKs and CANCELs of known
//! transactions before the script runs (`t_check_trans` semantics), and
//! answers responses of our branches without `onreply_route`.

use std::borrow::Cow;

use crate::proxy::Destination;
use crate::route_io::level;
use crate::script::ast::RouteKind;
use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::Method;
use crate::tm::proxy::TxId;
use crate::tm::table::CreateError;
use crate::transport::Transport;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "t_relay",
        aliases: &[],
        module: "tm",
        min_args: 0,
        max_args: 0,
        args: &[],
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
        args: &[A::Int, A::Str],
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

fn t_relay(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    x.t_relay(None, None)
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

fn t_newtran(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    match x.t_transaction("t_newtran") {
        Some(_) => 1,
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

fn t_is_canceled(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let Some(id) = x.st.tx else { return -1 };
    let Some(tm) = x.env.tm() else { return -1 };
    match tm.table.get(id) {
        Some(tx) if tx.is_canceled() => 1,
        _ => -1,
    }
}

impl Exec<'_, '_> {
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

    /// `t_relay()`: statefully to `target` (host, port), else `$du`, else
    /// the R-URI. An ACK is forwarded statelessly (it never has its own
    /// transaction). Returns 1 when a branch started, -1 otherwise.
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
        let Some((dst, local, proto)) = self.relay_target(target, force_proto, "t_relay") else {
            return -1;
        };
        let Some(id) = self.t_transaction("t_relay") else {
            return -1;
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
        let Some(bytes) = self.forward_bytes(proto, &local, &branch, "t_relay") else {
            return -1;
        };
        let dest = Destination {
            host: dst.ip().to_string(),
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
