//! Module `corex`. `is_faked_msg()` is the one function provided: sipshard
//! never runs a route on a faked message, so it is always false.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, FnSpec};

pub const FNS: &[FnSpec] = &[FnSpec {
    name: "is_faked_msg",
    aliases: &[],
    module: "corex",
    min_args: 0,
    max_args: 0,
    args: &[],
    routes: rt::ANY,
    imp: is_faked_msg,
}];

fn is_faked_msg(_: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    -1
}
