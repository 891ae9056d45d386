//! Core functions (Kamailio `src/core/cfg.y` actions): stateless
//! `forward`, message flags, R-URI rewriting, Via rport handling and the
//! connection switches of the default config.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::pv::PvKind;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::transport::Transport;

const FWD_ROUTES: u16 = rt::REQUEST | rt::FAILURE | rt::BRANCH;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "forward",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: FWD_ROUTES,
        imp: forward,
    },
    FnSpec {
        name: "forward_udp",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: FWD_ROUTES,
        imp: forward_udp,
    },
    FnSpec {
        name: "forward_tcp",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: FWD_ROUTES,
        imp: forward_tcp,
    },
    FnSpec {
        name: "forward_tls",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 2,
        args: &[A::Str, A::Int],
        routes: FWD_ROUTES,
        imp: forward_tls,
    },
    FnSpec {
        name: "setflag",
        aliases: &[],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Int],
        routes: rt::ANY,
        imp: setflag,
    },
    FnSpec {
        name: "resetflag",
        aliases: &[],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Int],
        routes: rt::ANY,
        imp: resetflag,
    },
    FnSpec {
        name: "isflagset",
        aliases: &[],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Int],
        routes: rt::ANY,
        imp: isflagset,
    },
    FnSpec {
        name: "sethost",
        aliases: &["rewritehost"],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: FWD_ROUTES,
        imp: sethost,
    },
    FnSpec {
        name: "seturi",
        aliases: &["rewriteuri"],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: FWD_ROUTES,
        imp: seturi,
    },
    FnSpec {
        name: "setuser",
        aliases: &["rewriteuser"],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: FWD_ROUTES,
        imp: setuser,
    },
    FnSpec {
        name: "strip",
        aliases: &[],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Int],
        routes: FWD_ROUTES,
        imp: strip,
    },
    FnSpec {
        name: "prefix",
        aliases: &[],
        module: "core",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: FWD_ROUTES,
        imp: prefix,
    },
    FnSpec {
        name: "force_rport",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST | rt::ONREPLY | rt::FAILURE | rt::BRANCH,
        imp: force_rport,
    },
    FnSpec {
        name: "add_local_rport",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST | rt::FAILURE | rt::BRANCH,
        imp: add_local_rport,
    },
    FnSpec {
        name: "set_reply_no_connect",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: no_op,
    },
    FnSpec {
        name: "set_forward_no_connect",
        aliases: &[],
        module: "core",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: no_op,
    },
];

/// `forward()`, `forward(host)`, `forward(host, port)`; `host` may also
/// be a SIP URI.
fn forward_with(x: &mut Exec<'_, '_>, args: &[CArg], proto: Option<Transport>) -> i32 {
    let target = match args.first() {
        None => None,
        Some(a) => {
            let host = x.arg_str(a);
            let port = match args.get(1) {
                Some(p) => match x.arg_int(p).and_then(|p| u16::try_from(p).ok()) {
                    Some(p) => Some(p),
                    None => {
                        x.log_err("forward: the port is not a number between 0 and 65535");
                        return -1;
                    }
                },
                None => None,
            };
            if host.starts_with(b"sip:") || host.starts_with(b"sips:") {
                match crate::script::outbound::uri_target(&host) {
                    Some((h, p, t)) => {
                        return x.forward(Some((h.into(), port.or(p))), proto.or(Some(t)));
                    }
                    None => return -1,
                }
            }
            let host = match host {
                std::borrow::Cow::Borrowed(b) => String::from_utf8_lossy(b),
                std::borrow::Cow::Owned(b) => {
                    std::borrow::Cow::Owned(String::from_utf8_lossy(&b).into_owned())
                }
            };
            Some((host, port))
        }
    };
    x.forward(target, proto)
}

fn forward(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    forward_with(x, args, None)
}
fn forward_udp(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    forward_with(x, args, Some(Transport::Udp))
}
fn forward_tcp(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    forward_with(x, args, Some(Transport::Tcp))
}
fn forward_tls(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    forward_with(x, args, Some(Transport::Tls))
}

fn flag_arg(x: &mut Exec<'_, '_>, a: &CArg) -> Option<u32> {
    match x.arg_int(a) {
        Some(f) if (0..64).contains(&f) => Some(f as u32),
        _ => {
            x.log_err("flag number must be between 0 and 63");
            None
        }
    }
}

fn setflag(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match flag_arg(x, &args[0]) {
        Some(f) => {
            x.st.flags |= 1 << f;
            1
        }
        None => -1,
    }
}

fn resetflag(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match flag_arg(x, &args[0]) {
        Some(f) => {
            x.st.flags &= !(1 << f);
            1
        }
        None => -1,
    }
}

fn isflagset(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    match flag_arg(x, &args[0]) {
        Some(f) if x.st.flags & (1 << f) != 0 => 1,
        _ => -1,
    }
}

fn rewrite(x: &mut Exec<'_, '_>, kind: PvKind, value: &[u8]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    let cur = x.ruri().into_owned();
    match crate::script::exec_ctx::rewrite_uri_part(&cur, &kind, value) {
        Some(u) => {
            x.st.new_ruri = Some(u);
            1
        }
        None => {
            x.log_err("cannot rewrite an invalid R-URI");
            -1
        }
    }
}

fn sethost(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let v = x.arg_str(&args[0]).into_owned();
    rewrite(x, PvKind::RDomain, &v)
}

fn setuser(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let v = x.arg_str(&args[0]).into_owned();
    rewrite(x, PvKind::RUser, &v)
}

fn seturi(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let v = x.arg_str(&args[0]).into_owned();
    if crate::sip::Uri::parse(&v).is_err() {
        x.log_err(&format!(
            "seturi: invalid URI `{}`",
            String::from_utf8_lossy(&v)
        ));
        return -1;
    }
    x.st.new_ruri = Some(v);
    1
}

fn current_user(x: &Exec<'_, '_>) -> Option<Vec<u8>> {
    let cur = x.ruri();
    let u = crate::sip::Uri::parse(&cur).ok()?;
    Some(u.user.unwrap_or(b"").to_vec())
}

fn strip(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let n = x.arg_int(&args[0]).unwrap_or(-1);
    let Some(user) = current_user(x) else {
        return -1;
    };
    if n < 0 {
        return -1;
    }
    let n = (n as usize).min(user.len());
    rewrite(x, PvKind::RUser, &user[n..])
}

fn prefix(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let mut p = x.arg_str(&args[0]).into_owned();
    let Some(user) = current_user(x) else {
        return -1;
    };
    p.extend_from_slice(&user);
    rewrite(x, PvKind::RUser, &p)
}

fn force_rport(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    x.st.force_rport = true;
    1
}

fn add_local_rport(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    x.st.add_local_rport = true;
    1
}

/// `set_reply_no_connect()` / `set_forward_no_connect()`: Kamailio marks
/// the message so no new TCP connection is opened for it. sipshard always
/// sends replies on the connection the request came in on and cannot yet
/// restrict forwarding, so these succeed without changing anything.
fn no_op(_: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    1
}
