//! Module `rr`, routing side: `loose_route()` (RFC 3261 §16.4, §16.12)
//! and what in-dialog requests read from our Route entry.
//!
//! - `loose_route()`: 1 when the request carried a Route header and is now
//!   routed by it (our own top entry removed, `$du` set to the next one),
//!   -1 when there is no Route header. With double Record-Routing our
//!   entry is a pair: a top entry of ours with `;r2` followed by another
//!   of ours, and both are removed. An out-of-dialog request whose only
//!   Route is us gets it removed and -1 (routing continues normally).
//! - `check_route_param(re)`: 1 when `re` matches the parameters
//!   (`;lr;ftag=..;p=v`, from the first `;`) of the top Route entry, which
//!   must be ours; -1 otherwise. As in Kamailio 5.6 it reads the received
//!   Route, so it answers the same before and after `loose_route()`.
//! - `is_direction("downstream"|"upstream")`: downstream when our top
//!   Route entry's `ftag` is the From tag (the caller's side sent the
//!   request), or when there is no `ftag` to compare; upstream otherwise.

use crate::script::exec_ctx::Exec;
use crate::script::program::{CArg, MyselfKind};
use crate::script::value::Val;
use crate::sip::{HeaderName, HeaderRef, NameAddr, Uri};

/// A Route element: its header, its position in the header's comma list
/// and the list, and its URI.
struct RouteElem<'a> {
    header: HeaderRef<'a>,
    index: usize,
    values: Vec<&'a [u8]>,
    uri: &'a [u8],
}

/// The first `max` Route elements, in order.
fn first_routes<'a>(x: &Exec<'a, '_>, max: usize) -> Vec<RouteElem<'a>> {
    let msg: &'a crate::sip::Message = x.msg;
    let mut out = Vec::new();
    for h in msg.headers_of(HeaderName::Route) {
        let values: Vec<&'a [u8]> = h.values().collect();
        for (index, v) in values.iter().enumerate() {
            let uri = NameAddr::parse(v).map(|na| na.uri).unwrap_or(&[]);
            out.push(RouteElem {
                header: h.clone(),
                index,
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

/// Removes the first `n` Route elements: a header all of whose values go
/// is removed whole, else its leading values and the commas after them.
fn remove_first_routes(x: &mut Exec<'_, '_>, routes: &[RouteElem<'_>], n: usize) {
    let gone = &routes[..n.min(routes.len())];
    for (i, e) in gone.iter().enumerate() {
        let last_of_header = gone
            .get(i + 1)
            .is_none_or(|next| next.header.range != e.header.range);
        if !last_of_header {
            continue;
        }
        // `e` is the last removed value of its header; those before it in
        // the header go too (removed elements are a prefix of the list).
        let Some(next) = e.values.get(e.index + 1) else {
            x.st.edits.remove_header(&e.header);
            continue;
        };
        let (Some(a), Some(b)) = (x.msg.span_of(e.values[0]), x.msg.span_of(next)) else {
            continue;
        };
        x.st.edits.delete(a.range().start..b.range().start);
    }
}

pub(super) fn is_me(x: &Exec<'_, '_>, uri: &[u8]) -> bool {
    !uri.is_empty() && x.is_myself(&Val::str(uri), MyselfKind::Uri)
}

/// Whether a URI of ours carries `;r2` (the first of a double
/// Record-Route pair).
fn is_r2(uri: &[u8]) -> bool {
    Uri::parse(uri).is_ok_and(|u| u.param(b"r2").is_some())
}

/// `loose_route()`.
pub fn loose_route(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    if x.msg.is_response() {
        return -1;
    }
    let routes = first_routes(x, 3);
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
    let ours = match routes.get(1) {
        Some(second) if is_r2(top.uri) && is_me(x, second.uri) => 2,
        _ => 1,
    };
    remove_first_routes(x, &routes, ours);
    match routes.get(ours) {
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

/// The URI of the top Route entry, when it is ours.
fn our_route<'a>(x: &Exec<'a, '_>) -> Option<Uri<'a>> {
    let routes = first_routes(x, 1);
    let top = routes.first()?;
    if !is_me(x, top.uri) {
        return None;
    }
    Uri::parse(top.uri).ok()
}

/// `check_route_param(re)`.
pub fn check_route_param(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(CArg::Regex(re)) = args.first() else {
        return -1;
    };
    match our_route(x) {
        Some(u) if re.is_match(u.params) => 1,
        _ => -1,
    }
}

/// `is_direction("downstream"|"upstream")`.
pub fn is_direction(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let dir = args.first().map(|a| x.arg_str(a).into_owned());
    let want_down = match dir.as_deref() {
        Some(b"downstream") => true,
        Some(b"upstream") => false,
        _ => {
            x.log_err("is_direction: the direction is \"downstream\" or \"upstream\"");
            return -1;
        }
    };
    let ftag = our_route(x).and_then(|u| u.param(b"ftag").flatten());
    let down = match ftag {
        None | Some(b"") => true,
        Some(t) => x.msg.from_tag() == Some(t),
    };
    if down == want_down {
        1
    } else {
        -1
    }
}
