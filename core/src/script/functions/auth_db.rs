//! Module `auth_db`: `www_authorize` / `proxy_authorize` (aliases
//! `www_authenticate` / `proxy_authenticate`) and `auth_check`, verifying
//! digest credentials against the subscriber table that `db_url` names;
//! `is_subscriber` asks whether a URI names a subscriber at all.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::Method;

use super::auth::{authorize, find_credentials, realm_of};

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "www_authorize",
        aliases: &["www_authenticate"],
        module: "auth_db",
        min_args: 2,
        max_args: 3,
        args: &[A::Str, A::Str, A::Str],
        routes: rt::REQUEST,
        imp: www_authorize,
    },
    FnSpec {
        name: "proxy_authorize",
        aliases: &["proxy_authenticate"],
        module: "auth_db",
        min_args: 2,
        max_args: 2,
        args: &[A::Str, A::Str],
        routes: rt::REQUEST,
        imp: proxy_authorize,
    },
    FnSpec {
        name: "auth_check",
        aliases: &[],
        module: "auth_db",
        min_args: 3,
        max_args: 3,
        args: &[A::Str, A::Str, A::Int],
        routes: rt::REQUEST,
        imp: auth_check,
    },
    FnSpec {
        name: "is_subscriber",
        aliases: &[],
        module: "auth_db",
        min_args: 3,
        max_args: 3,
        args: &[A::Str, A::Str, A::Int],
        routes: rt::ANY,
        imp: is_subscriber,
    },
];

/// `is_subscriber(uri, table, flags)`: 1 when the URI's user (in its
/// domain, with auth_db `use_domain`) has a row in the subscriber table,
/// else -1. The flags (loading credentials into AVPs) are ignored.
fn is_subscriber(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let uri = x.arg_str(&args[0]).into_owned();
    let Ok(u) = crate::sip::Uri::parse(&uri) else {
        return -1;
    };
    let Some(user) = u.user_unescaped() else {
        return -1;
    };
    let s = &x.prog.settings.reg;
    let subs = match s.subscribers() {
        Ok(d) => d,
        Err(e) => {
            let e = e.to_string();
            x.log_err(&format!("is_subscriber: subscriber table: {e}"));
            return -1;
        }
    };
    let domain = s.auth_use_domain.then_some(u.host);
    if subs.get(&user, domain).is_some() {
        1
    } else {
        -1
    }
}

fn www_authorize(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let realm = realm_of(x, &args[0]);
    authorize(x, &realm, false)
}

fn proxy_authorize(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let realm = realm_of(x, &args[0]);
    authorize(x, &realm, true)
}

/// `auth_check(realm, table, flags)`: www for REGISTER, proxy otherwise;
/// flag 1: the authentication user must be the From user (and the To
/// user for REGISTER), else -8.
fn auth_check(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let realm = realm_of(x, &args[0]);
    let flags = x.arg_int(&args[2]).unwrap_or(0);
    let proxy = x.msg.method() != Method::Register;
    let rc = authorize(x, &realm, proxy);
    if rc != 1 || flags & 1 == 0 {
        return rc;
    }
    let Some(c) = find_credentials(x, &realm, proxy) else {
        return -1;
    };
    let user_is = |na: Option<crate::sip::NameAddr<'_>>| {
        na.and_then(|n| n.parsed_uri().ok())
            .and_then(|u| u.user_unescaped().map(|u| u.into_owned()))
            .is_some_and(|u| *u == *c.username)
    };
    if !user_is(x.msg.from()) || (!proxy && !user_is(x.msg.to())) {
        return -8;
    }
    1
}
