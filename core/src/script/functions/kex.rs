//! Module `kex`: destination URI helpers (`setdsturi`, `resetdsturi`,
//! `isdsturiset`), the function forms of `$du`.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};

const ROUTES: u16 = rt::REQUEST | rt::FAILURE | rt::BRANCH;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "setdsturi",
        aliases: &[],
        module: "kex",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: ROUTES,
        imp: setdsturi,
    },
    FnSpec {
        name: "resetdsturi",
        aliases: &[],
        module: "kex",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: ROUTES,
        imp: resetdsturi,
    },
    FnSpec {
        name: "isdsturiset",
        aliases: &[],
        module: "kex",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: ROUTES,
        imp: isdsturiset,
    },
];

fn setdsturi(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let u = x.arg_str(&args[0]).into_owned();
    if crate::sip::Uri::parse(&u).is_err() {
        x.log_err(&format!(
            "setdsturi: invalid URI `{}`",
            String::from_utf8_lossy(&u)
        ));
        return -1;
    }
    x.st.du = Some(u);
    1
}

fn resetdsturi(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    x.st.du = None;
    1
}

fn isdsturiset(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    if x.st.du.is_some() {
        1
    } else {
        -1
    }
}
