//! Module `sl`: stateless replies (`src/modules/sl`). Without a
//! transaction layer `send_reply` is `sl_send_reply`.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "sl_send_reply",
        aliases: &["sl_reply"],
        module: "sl",
        min_args: 2,
        max_args: 2,
        args: &[A::Int, A::Str],
        routes: rt::REQUEST,
        imp: sl_send_reply,
    },
    FnSpec {
        name: "send_reply",
        aliases: &[],
        module: "sl",
        min_args: 2,
        max_args: 2,
        args: &[A::Int, A::Str],
        routes: rt::REQUEST | rt::FAILURE,
        imp: sl_send_reply,
    },
    FnSpec {
        name: "sl_reply_error",
        aliases: &[],
        module: "sl",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST,
        imp: sl_reply_error,
    },
];

/// `sl_send_reply(code, reason)`: 1 when sent, -1 for a bad code or when
/// the message cannot be replied to.
fn sl_send_reply(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let Some(code) = x
        .arg_int(&args[0])
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=699).contains(c))
    else {
        x.log_err("sl_send_reply: the code must be a number between 100 and 699");
        return -1;
    };
    let reason = x.arg_str(&args[1]).into_owned();
    x.send_reply(code, &reason)
}

/// `sl_reply_error()`: replies with modparam sl `default_code` /
/// `default_reason` (500 Internal Server Error).
fn sl_reply_error(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let s = &x.prog.settings;
    let (code, reason) = (s.sl_default_code, s.sl_default_reason.clone());
    x.send_reply(code, reason.as_bytes())
}
