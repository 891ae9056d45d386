//! Module `rr`: Record-Route (RFC 3261 §16.6 step 4) and loose routing
//! (§16.4, §16.12); this file records, [`super::rr_route`] routes.
//!
//! - `record_route([params])` adds `Record-Route: <sip:HOST:PORT;lr;ftag=T>`
//!   for the socket the request came in on (its advertised address), as
//!   the first header line of the forwarded request (Kamailio's observed
//!   format; `;transport=` for non-UDP; `;ftag=` with `append_fromtag`).
//!   The header is written when the request is relayed: with
//!   `enable_double_rr` 1 (default) and a request leaving on another
//!   socket or transport than it came in on, two are written, the
//!   outbound socket's on top, each with `;r2=on` before `;lr` (Kamailio
//!   5.6 on the wire); with 2 always two, with 0 always one.
//! - `record_route_preset(str[, str2])`: the same with `str` (and `str2`)
//!   as the host part.
//! - `add_rr_param(";p=v")`: `;p=v` at the end of our Record-Route(s),
//!   before or after `record_route()` (after `record_route()`'s own
//!   parameters, as Kamailio writes them).
//! - `loose_route()`, `check_route_param(re)`, `is_direction(dir)`: see
//!   [`super::rr_route`].

use super::rr_route;
use crate::route_io::LocalSocket;
use crate::script::exec_ctx::{Exec, RrPlan};
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::transport::Transport;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "record_route",
        aliases: &[],
        module: "rr",
        min_args: 0,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::BRANCH | rt::FAILURE,
        imp: record_route,
    },
    FnSpec {
        name: "record_route_preset",
        aliases: &[],
        module: "rr",
        min_args: 1,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: rt::REQUEST | rt::BRANCH | rt::FAILURE,
        imp: record_route_preset,
    },
    FnSpec {
        name: "add_rr_param",
        aliases: &[],
        module: "rr",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST | rt::BRANCH | rt::FAILURE,
        imp: add_rr_param,
    },
    FnSpec {
        name: "loose_route",
        aliases: &[],
        module: "rr",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST,
        imp: rr_route::loose_route,
    },
    FnSpec {
        name: "check_route_param",
        aliases: &[],
        module: "rr",
        min_args: 1,
        max_args: 1,
        args: &[A::Regex],
        routes: rt::REQUEST,
        imp: rr_route::check_route_param,
    },
    FnSpec {
        name: "is_direction",
        aliases: &[],
        module: "rr",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST,
        imp: rr_route::is_direction,
    },
];

/// Appends `params` to `v`, with a `;` in front when it has none.
fn push_params(v: &mut Vec<u8>, params: &[u8]) {
    if !params.is_empty() {
        if !params.starts_with(b";") {
            v.push(b';');
        }
        v.extend_from_slice(params);
    }
}

/// `Record-Route: <sip:HOSTPORT[;transport=t][;r2=on];lr[;ftag=T]PARAMS>`.
fn rr_line(
    x: &Exec<'_, '_>,
    hostport: &[u8],
    transport: Option<Transport>,
    r2: bool,
    params: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(96 + hostport.len() + params.len());
    v.extend_from_slice(b"Record-Route: <");
    if !(hostport.starts_with(b"sip:") || hostport.starts_with(b"sips:")) {
        v.extend_from_slice(b"sip:");
    }
    v.extend_from_slice(hostport);
    if let Some(t) = transport.filter(|t| *t != Transport::Udp) {
        v.extend_from_slice(b";transport=");
        v.extend_from_slice(t.lower_name().as_bytes());
    }
    if r2 {
        v.extend_from_slice(b";r2=on");
    }
    v.extend_from_slice(b";lr");
    if x.prog.settings.rr_append_fromtag {
        if let Some(tag) = x.msg.from_tag() {
            v.extend_from_slice(b";ftag=");
            v.extend_from_slice(tag);
        }
    }
    push_params(&mut v, params);
    push_params(&mut v, &x.st.rr_params);
    v.extend_from_slice(b">\r\n");
    v
}

/// `HOST:PORT` a socket advertises (IPv6 in brackets).
fn socket_hostport(s: &LocalSocket) -> Vec<u8> {
    let mut hp = Vec::with_capacity(48);
    if s.advertise_host.contains(':') {
        hp.push(b'[');
        hp.extend_from_slice(s.advertise_host.as_bytes());
        hp.push(b']');
    } else {
        hp.extend_from_slice(s.advertise_host.as_bytes());
    }
    hp.extend_from_slice(format!(":{}", s.advertise_port).as_bytes());
    hp
}

/// Queues the Record-Route header(s) `record_route()` asked for on a
/// request leaving from `out` (the listen socket towards the next hop),
/// as the first header lines (above everything but the Via the relay adds
/// next). Nothing when no Record-Route was asked for.
pub fn queue_for_relay(x: &mut Exec<'_, '_>, out: &LocalSocket) {
    let Some(plan) = &x.st.rr else {
        return;
    };
    let lines = match plan {
        RrPlan::Preset(hosts) => hosts
            .iter()
            .map(|h| rr_line(x, h, None, false, b""))
            .collect(),
        RrPlan::Socket { inbound, params } => {
            let double = match x.prog.settings.rr_enable_double {
                0 => false,
                1 => out.proto != inbound.proto || out.addr != inbound.addr,
                _ => true,
            };
            let here = rr_line(
                x,
                &socket_hostport(inbound),
                Some(inbound.proto),
                double,
                params,
            );
            if double {
                let there = rr_line(x, &socket_hostport(out), Some(out.proto), true, params);
                vec![there, here]
            } else {
                vec![here]
            }
        }
    };
    for line in lines {
        x.st.edits.add_header_very_first(x.msg, &line);
    }
}

fn plan_rr(x: &mut Exec<'_, '_>, plan: RrPlan) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    if x.st.rr.is_some() {
        x.log_err("record_route: double attempt to record-route");
        return -1;
    }
    x.st.rr = Some(plan);
    1
}

/// `record_route([params])`.
fn record_route(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let params = args
        .first()
        .map(|a| x.arg_str(a).into_owned())
        .unwrap_or_default();
    let Some(inbound) = x.env.local_for(x.inb.src, x.inb.proto) else {
        x.log_err("record_route: no local socket for the inbound transport");
        return -1;
    };
    plan_rr(x, RrPlan::Socket { inbound, params })
}

/// `record_route_preset(str[, str2])`: `str` as the URI's host part
/// (`host:port;params`, `sip:` optional); with `str2`, a second
/// Record-Route below the first.
fn record_route_preset(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let mut hosts = Vec::with_capacity(args.len());
    for a in args {
        let s = x.arg_str(a).into_owned();
        if s.is_empty() {
            x.log_err("record_route_preset: empty address");
            return -1;
        }
        hosts.push(s);
    }
    plan_rr(x, RrPlan::Preset(hosts))
}

/// `add_rr_param(";p=v")`: appended to our Record-Route(s), whether
/// `record_route()` ran already or runs later.
fn add_rr_param(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    let p = args
        .first()
        .map(|a| x.arg_str(a).into_owned())
        .unwrap_or_default();
    if p.is_empty() || p == b";" {
        x.log_err("add_rr_param: empty parameter");
        return -1;
    }
    let mut params = std::mem::take(&mut x.st.rr_params);
    push_params(&mut params, &p);
    x.st.rr_params = params;
    1
}
