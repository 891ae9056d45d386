//! Module `maxfwd` (`src/modules/maxfwd/maxfwd.c`, RFC 3261 §16.6 step 3).

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::HeaderName;

pub const FNS: &[FnSpec] = &[FnSpec {
    name: "mf_process_maxfwd_header",
    aliases: &["maxfwd_process", "process_maxfwd"],
    module: "maxfwd",
    min_args: 1,
    max_args: 1,
    args: &[A::Int],
    routes: rt::REQUEST,
    imp: process_maxfwd,
}];

/// - no Max-Forwards: adds `Max-Forwards: max`, returns 2;
/// - 0: returns -1 (the script replies 483);
/// - above modparam `max_limit` (70): forwarded as `max_limit`, else
///   decremented; returns 1;
/// - bad argument or a reply: -2.
fn process_maxfwd(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(max) = x.arg_int(&args[0]).filter(|m| (1..=255).contains(m)) else {
        x.log_err("mf_process_maxfwd_header: the argument must be a number between 1 and 255");
        return -2;
    };
    if x.msg.is_response() {
        return -2;
    }
    let msg = x.msg;
    match (msg.max_forwards(), msg.header(HeaderName::MaxForwards)) {
        (None, _) | (_, None) => {
            let mut line = [0u8; 24];
            let mut digits = [0u8; 20];
            let d = crate::sip::edit::decimal(max as usize, &mut digits);
            line[..14].copy_from_slice(b"Max-Forwards: ");
            line[14..14 + d.len()].copy_from_slice(d);
            x.st.edits.add_header(msg, &line[..14 + d.len()]);
            2
        }
        (Some(0), _) => -1,
        (Some(v), Some(h)) => {
            let limit = x.prog.settings.maxfwd_max_limit;
            let v = u32::from(v);
            let v = if v > limit { limit + 1 } else { v };
            let mut digits = [0u8; 20];
            let d = crate::sip::edit::decimal((v - 1) as usize, &mut digits);
            x.st.edits.set_header_value(&h, d);
            1
        }
    }
}
