//! Module `rr`: Record-Route (RFC 3261 §16.6 step 4) and loose routing
//! (§16.4, §16.12).
//!
//! - `record_route([params])` adds `Record-Route: <sip:HOST:PORT;lr;ftag=T>`
//!   for the socket the request came in on (its advertised address), as
//!   the first header line of the forwarded request (Kamailio's observed
//!   format; `;transport=` for non-UDP; `;ftag=` with `append_fromtag`).
//!   One Record-Route only: `enable_double_rr` is not provided.
//! - `record_route_preset(str[, str2])`: the same with `str` (and `str2`)
//!   as the host part.
//! - `loose_route()`: 1 when the request carried a Route header and is now
//!   routed by it (our own top entry removed, `$du` set to the next one),
//!   -1 when there is no Route header. An out-of-dialog request whose only
//!   Route is us gets it removed and -1 (routing continues normally).

use crate::script::exec_ctx::Exec;
use crate::script::program::{CArg, MyselfKind};
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::script::value::Val;
use crate::sip::{HeaderName, NameAddr, Uri};
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
        name: "loose_route",
        aliases: &[],
        module: "rr",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST,
        imp: loose_route,
    },
];

/// The `<sip:...;lr;ftag=..params>` value for `hostport`.
fn rr_value(
    x: &Exec<'_, '_>,
    hostport: &[u8],
    transport: Option<Transport>,
    params: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(64 + hostport.len() + params.len());
    v.extend_from_slice(b"<");
    if !(hostport.starts_with(b"sip:") || hostport.starts_with(b"sips:")) {
        v.extend_from_slice(b"sip:");
    }
    v.extend_from_slice(hostport);
    if let Some(t) = transport.filter(|t| *t != Transport::Udp) {
        v.extend_from_slice(b";transport=");
        v.extend_from_slice(t.lower_name().as_bytes());
    }
    v.extend_from_slice(b";lr");
    if x.prog.settings.rr_append_fromtag {
        if let Some(tag) = x.msg.from_tag() {
            v.extend_from_slice(b";ftag=");
            v.extend_from_slice(tag);
        }
    }
    if !params.is_empty() {
        if !params.starts_with(b";") {
            v.push(b';');
        }
        v.extend_from_slice(params);
    }
    v.push(b'>');
    v
}

fn add_rr(x: &mut Exec<'_, '_>, values: &[Vec<u8>]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    if x.st.rr_added {
        x.log_err("record_route: double attempt to record-route");
        return -1;
    }
    for v in values {
        let mut line = Vec::with_capacity(v.len() + 16);
        line.extend_from_slice(b"Record-Route: ");
        line.extend_from_slice(v);
        line.extend_from_slice(b"\r\n");
        // Above everything but the Via `t_relay()`/`forward()` add later
        // (queued first among first-line inserts: the first header line).
        x.st.edits.add_header_very_first(x.msg, &line);
    }
    x.st.rr_added = true;
    1
}

/// `record_route([params])`.
fn record_route(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let params = args
        .first()
        .map(|a| x.arg_str(a).into_owned())
        .unwrap_or_default();
    let Some(local) = x.env.local_for(x.inb.src, x.inb.proto) else {
        x.log_err("record_route: no local socket for the inbound transport");
        return -1;
    };
    let mut hostport = Vec::with_capacity(48);
    if local.advertise_host.contains(':') {
        hostport.push(b'[');
        hostport.extend_from_slice(local.advertise_host.as_bytes());
        hostport.push(b']');
    } else {
        hostport.extend_from_slice(local.advertise_host.as_bytes());
    }
    hostport.extend_from_slice(format!(":{}", local.advertise_port).as_bytes());
    let v = rr_value(x, &hostport, Some(x.inb.proto), &params);
    add_rr(x, &[v])
}

/// `record_route_preset(str[, str2])`: `str` as the URI's host part
/// (`host:port;params`, `sip:` optional); with `str2`, a second
/// Record-Route below the first.
fn record_route_preset(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        let s = x.arg_str(a).into_owned();
        if s.is_empty() {
            x.log_err("record_route_preset: empty address");
            return -1;
        }
        values.push(rr_value(x, &s, None, b""));
    }
    add_rr(x, &values)
}

/// A Route element: its bytes (in the message) and parsed URI.
struct RouteElem<'a> {
    header: crate::sip::HeaderRef<'a>,
    /// Position of the element in the header's comma list, and the list.
    values: Vec<&'a [u8]>,
    uri: &'a [u8],
}

fn first_routes<'a>(x: &Exec<'a, '_>, max: usize) -> Vec<RouteElem<'a>> {
    let msg: &'a crate::sip::Message = x.msg;
    let mut out = Vec::new();
    for h in msg.headers_of(HeaderName::Route) {
        let values: Vec<&'a [u8]> = h.values().collect();
        for v in &values {
            let uri = NameAddr::parse(v).map(|na| na.uri).unwrap_or(&[]);
            out.push(RouteElem {
                header: h.clone(),
                values: values.clone(),
                uri,
            });
            if out.len() >= max {
                return out;
            }
        }
    }
    out
}

/// Removes the first Route element: the whole header when it is its only
/// value, else the value and the comma after it.
fn remove_first_route(x: &mut Exec<'_, '_>, e: &RouteElem<'_>) {
    if e.values.len() <= 1 {
        x.st.edits.remove_header(&e.header);
        return;
    }
    let (Some(a), Some(b)) = (x.msg.span_of(e.values[0]), x.msg.span_of(e.values[1])) else {
        return;
    };
    x.st.edits.delete(a.range().start..b.range().start);
}

fn is_me(x: &Exec<'_, '_>, uri: &[u8]) -> bool {
    !uri.is_empty() && x.is_myself(&Val::str(uri), MyselfKind::Uri)
}

/// `loose_route()`.
fn loose_route(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    let routes = first_routes(x, 2);
    let Some(top) = routes.first() else {
        return -1;
    };
    if Uri::parse(top.uri).is_err() {
        x.log_err("loose_route: the first Route is not a URI");
        return -1;
    }
    if !is_me(x, top.uri) {
        // Pre-loaded route to someone else: follow it.
        x.st.du = Some(top.uri.to_vec());
        return 1;
    }
    remove_first_route(x, top);
    match routes.get(1) {
        // Ours was the only Route of an initial request: not a
        // route-driven request (Kamailio's special rule).
        None if x.msg.to_tag().is_none() => -1,
        // The R-URI is the next hop.
        None => 1,
        Some(next) => {
            if Uri::parse(next.uri).is_err() {
                x.log_err("loose_route: the next Route is not a URI");
                return -1;
            }
            x.st.du = Some(next.uri.to_vec());
            1
        }
    }
}
