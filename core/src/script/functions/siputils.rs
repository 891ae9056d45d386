//! Module `siputils`: small message predicates.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, FnSpec};

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "has_totag",
        aliases: &[],
        module: "siputils",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: has_totag,
    },
    FnSpec {
        name: "is_first_hop",
        aliases: &[],
        module: "siputils",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: is_first_hop,
    },
    FnSpec {
        name: "is_request",
        aliases: &[],
        module: "siputils",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: is_request,
    },
    FnSpec {
        name: "is_reply",
        aliases: &[],
        module: "siputils",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::ANY,
        imp: is_reply,
    },
];

fn rc(b: bool) -> i32 {
    if b {
        1
    } else {
        -1
    }
}

/// 1 when the To header has a tag (an in-dialog request).
fn has_totag(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    rc(x.msg.to_tag().is_some())
}

/// A request with one Via came from the UA itself; a reply with two
/// Vias goes to it.
fn is_first_hop(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let n = x.msg.vias().count();
    rc(if x.msg.is_request() { n == 1 } else { n == 2 })
}

fn is_request(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    rc(x.msg.is_request())
}

fn is_reply(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    rc(x.msg.is_response())
}
