//! Module `xlog`: log lines with pseudo-variables expanded. The level is
//! one of Kamailio's (`L_ALERT` -5 ... `L_DBG` 3, default `L_ERR`); the
//! facility argument of the three-argument form is accepted and ignored.

use crate::route_io::level;
use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};

macro_rules! fixed_level {
    ($name:literal, $f:ident) => {
        FnSpec {
            name: $name,
            aliases: &[],
            module: "xlog",
            min_args: 1,
            max_args: 1,
            args: &[A::Str],
            routes: rt::ANY,
            imp: $f,
        }
    };
}

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "xlog",
        aliases: &[],
        module: "xlog",
        min_args: 1,
        max_args: 3,
        args: &[A::Level, A::Level, A::Str],
        routes: rt::ANY,
        imp: xlog,
    },
    fixed_level!("xdbg", xdbg),
    fixed_level!("xinfo", xinfo),
    fixed_level!("xnotice", xnotice),
    fixed_level!("xwarn", xwarn),
    fixed_level!("xerr", xerr),
    fixed_level!("xbug", xbug),
    fixed_level!("xcrit", xcrit),
    fixed_level!("xalert", xalert),
];

fn emit(x: &mut Exec<'_, '_>, lvl: i32, fmt: &CArg) -> i32 {
    if !x.env.log_enabled(lvl) {
        return 1;
    }
    let line = x.arg_str(fmt);
    let text = String::from_utf8_lossy(&line);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    x.env.log(lvl, text);
    1
}

/// `xlog(fmt)`, `xlog(level, fmt)`, `xlog(facility, level, fmt)`.
fn xlog(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let lvl = match args.len() {
        1 => level::ERR,
        n => match &args[n - 2] {
            CArg::Level(l) => *l,
            other => x.arg_int(other).map_or(level::ERR, |l| l as i32),
        },
    };
    emit(x, lvl, &args[args.len() - 1])
}

fn xdbg(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::DBG, &a[0])
}
fn xinfo(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::INFO, &a[0])
}
fn xnotice(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::NOTICE, &a[0])
}
fn xwarn(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::WARN, &a[0])
}
fn xerr(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::ERR, &a[0])
}
fn xbug(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::BUG, &a[0])
}
fn xcrit(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::CRIT, &a[0])
}
fn xalert(x: &mut Exec<'_, '_>, a: &[CArg]) -> i32 {
    emit(x, level::ALERT, &a[0])
}
