//! Module `auth`: digest challenges (`www_challenge`, `proxy_challenge`,
//! `auth_challenge`), `consume_credentials`, `has_credentials`, and the
//! verification `auth_db` runs (see `auth_db.rs`), over [`crate::auth`].

use std::borrow::Cow;
use std::cell::Cell;

use crate::auth::{self, Algorithm, Credentials, Verdict, Verifier};
use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::pv::{FmtPart, PvKind};
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::Method;

pub const FNS: &[FnSpec] = &[
    FnSpec {
        name: "www_challenge",
        aliases: &[],
        module: "auth",
        min_args: 2,
        max_args: 3,
        args: &[A::Str, A::Int, A::Str],
        routes: rt::REQUEST,
        imp: www_challenge,
    },
    FnSpec {
        name: "proxy_challenge",
        aliases: &[],
        module: "auth",
        min_args: 2,
        max_args: 3,
        args: &[A::Str, A::Int, A::Str],
        routes: rt::REQUEST,
        imp: proxy_challenge,
    },
    FnSpec {
        name: "auth_challenge",
        aliases: &[],
        module: "auth",
        min_args: 2,
        max_args: 3,
        args: &[A::Str, A::Int, A::Str],
        routes: rt::REQUEST,
        imp: auth_challenge,
    },
    FnSpec {
        name: "consume_credentials",
        aliases: &[],
        module: "auth",
        min_args: 0,
        max_args: 0,
        args: &[],
        routes: rt::REQUEST,
        imp: consume_credentials,
    },
    FnSpec {
        name: "has_credentials",
        aliases: &[],
        module: "auth",
        min_args: 1,
        max_args: 1,
        args: &[A::Str],
        routes: rt::REQUEST,
        imp: has_credentials,
    },
    FnSpec {
        name: "pv_www_authenticate",
        aliases: &["pv_www_authorize"],
        module: "auth",
        min_args: 3,
        max_args: 3,
        args: &[A::Str, A::Str, A::Int],
        routes: rt::REQUEST,
        imp: pv_www_authenticate,
    },
    FnSpec {
        name: "pv_proxy_authenticate",
        aliases: &["pv_proxy_authorize"],
        module: "auth",
        min_args: 3,
        max_args: 3,
        args: &[A::Str, A::Str, A::Int],
        routes: rt::REQUEST,
        imp: pv_proxy_authenticate,
    },
];

thread_local! {
    /// The message whose credentials named an expired nonce: its next
    /// challenge says `stale=true` (Kamailio keeps this in the message).
    static STALE: Cell<usize> = const { Cell::new(0) };
}

fn msg_key(x: &Exec<'_, '_>) -> usize {
    x.msg as *const _ as usize ^ x.msg.as_bytes().as_ptr() as usize
}

/// The process verifier with the configured secret and lifetime.
pub fn verifier(x: &Exec<'_, '_>) -> &'static Verifier {
    let s = &x.prog.settings.reg;
    Verifier::global(s.secret.as_deref().map(str::as_bytes), s.nonce_expire)
}

/// The realm argument, or (empty) the To host for REGISTER, else the
/// From host, as Kamailio.
pub fn realm_of<'m>(x: &Exec<'m, '_>, arg: &CArg) -> Cow<'m, str> {
    if let Some(r) = to_domain_arg(x, arg) {
        return r;
    }
    let r = x.arg_str(arg);
    if !r.is_empty() {
        return Cow::Owned(match String::from_utf8(r.into_owned()) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        });
    }
    let na = if x.msg.method() == Method::Register {
        x.msg.to()
    } else {
        x.msg.from()
    };
    Cow::Owned(
        na.and_then(|n| n.parsed_uri().ok())
            .map(|u| String::from_utf8_lossy(u.host).into_owned())
            .unwrap_or_default(),
    )
}

/// The realm of an argument that is exactly `$td` (the usual REGISTER
/// realm): the To host, borrowed from the message, through
/// [`super::uri_parts`] instead of expanding the argument. None for any
/// other argument or an empty host.
fn to_domain_arg<'m>(x: &Exec<'m, '_>, arg: &CArg) -> Option<Cow<'m, str>> {
    let CArg::Str(f) = arg else { return None };
    let [FmtPart::Pv(pv)] = f.parts.as_slice() else {
        return None;
    };
    if pv.kind != PvKind::Td || pv.index.is_some() || !pv.trans.is_empty() {
        return None;
    }
    let msg: &'m crate::sip::Message = x.msg;
    let host = super::uri_parts::host_of(msg.to()?.uri)?;
    (!host.is_empty()).then(|| String::from_utf8_lossy(host))
}

fn header_name(proxy: bool) -> &'static [u8] {
    if proxy {
        b"Proxy-Authorization"
    } else {
        b"Authorization"
    }
}

/// The credentials of `realm` in the request's (Proxy-)Authorization.
pub fn find_credentials<'m>(x: &Exec<'m, '_>, realm: &str, proxy: bool) -> Option<Credentials<'m>> {
    x.msg
        .headers_named(header_name(proxy))
        .filter_map(|h| auth::parse_credentials(h.value))
        .find(|c| *c.realm == *realm.as_bytes())
}

/// Verifies the request's credentials for `realm` against the subscriber
/// table: Kamailio's return codes (1 ok, -1 error, -2 wrong password, -3
/// unknown user, -4 nonce expired, -5 no credentials, -6 nonce reused).
pub fn authorize(x: &mut Exec<'_, '_>, realm: &str, proxy: bool) -> i32 {
    let Some(c) = find_credentials(x, realm, proxy) else {
        return Verdict::NoCredentials.code();
    };
    let s = &x.prog.settings.reg;
    let subs = match s.subscribers() {
        Ok(d) => d,
        Err(e) => {
            let e = e.to_string();
            x.log_err(&format!("authorize: subscriber table: {e}"));
            return -1;
        }
    };
    let domain = s.auth_use_domain.then_some(realm.as_bytes());
    let secret = subs.get(&c.username, domain);
    verify(x, &c, secret.as_deref())
}

/// Checks `c` against `secret` (None: unknown user), remembering an
/// expired nonce for the next challenge's `stale=true`.
fn verify(x: &mut Exec<'_, '_>, c: &Credentials<'_>, secret: Option<&auth::Secret>) -> i32 {
    let v = verifier(x).check(c, x.msg.method_bytes(), secret, crate::usrloc::now());
    if v == Verdict::NonceExpired {
        let k = msg_key(x);
        STALE.with(|s| s.set(k));
    }
    v.code()
}

/// `pv_www_authenticate(realm, passwd, flags)` /
/// `pv_proxy_authenticate(...)`: verifies the credentials for `realm`
/// against the password given (flags 1: it is the HA1 already), for any
/// user name; Kamailio's return codes.
fn pv_authenticate(x: &mut Exec<'_, '_>, args: &[CArg], proxy: bool) -> i32 {
    let realm = realm_of(x, &args[0]);
    let pass = x.arg_str(&args[1]).into_owned();
    let flags = x.arg_int(&args[2]).unwrap_or(0);
    let Some(c) = find_credentials(x, &realm, proxy) else {
        return Verdict::NoCredentials.code();
    };
    let secret = if flags & 1 != 0 {
        auth::Secret::new(Vec::new(), pass)
    } else {
        auth::Secret::new(pass, Vec::new())
    };
    verify(x, &c, Some(&secret))
}

fn pv_www_authenticate(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    pv_authenticate(x, args, false)
}

fn pv_proxy_authenticate(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    pv_authenticate(x, args, true)
}

/// Sends the 401/407 challenge. `flags`: 1 qop=auth, 16 stale=true.
fn challenge(x: &mut Exec<'_, '_>, args: &[CArg], proxy: bool) -> i32 {
    let realm = realm_of(x, &args[0]);
    let flags = x.arg_int(&args[1]).unwrap_or(0);
    let s = &x.prog.settings.reg;
    let qop = flags & 1 != 0 || s.qop;
    let k = msg_key(x);
    let stale = flags & 16 != 0 || STALE.with(|c| c.replace(0) == k);
    let mut algs: smallvec::SmallVec<[Option<Algorithm>; 2]> = smallvec::SmallVec::new();
    match args.get(2) {
        Some(a) => {
            let list = String::from_utf8_lossy(&x.arg_str(a)).into_owned();
            algs.extend(
                list.split(',')
                    .filter_map(|t| Algorithm::from_token(t.trim().as_bytes()))
                    .map(Some),
            );
            if algs.is_empty() {
                x.log_err(&format!("challenge: no supported algorithm in `{list}`"));
                return -1;
            }
        }
        None => algs.push(s.algorithm.filter(|a| *a != Algorithm::Md5)),
    }
    let nonce = verifier(x).nonce_bytes(crate::usrloc::now());
    let mark = x.st.reply_headers.len();
    for a in algs {
        let c = auth::Challenge {
            proxy,
            realm: realm.as_bytes(),
            nonce: &nonce,
            alg: a,
            qop,
            stale,
        };
        c.write_header(&mut x.st.reply_headers);
    }
    let (code, reason) = if proxy {
        (407, "Proxy Authentication Required")
    } else {
        (401, "Unauthorized")
    };
    let r = x.send_reply(code, reason.as_bytes());
    x.st.reply_headers.truncate(mark);
    r
}

fn www_challenge(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    challenge(x, args, false)
}

fn proxy_challenge(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    challenge(x, args, true)
}

/// 401 for REGISTER, 407 otherwise.
fn auth_challenge(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let proxy = x.msg.method() != Method::Register;
    challenge(x, args, proxy)
}

/// Removes the credentials headers before relaying.
fn consume_credentials(x: &mut Exec<'_, '_>, _: &[CArg]) -> i32 {
    let msg = x.msg;
    let mut n = 0;
    for name in [&b"Authorization"[..], b"Proxy-Authorization"] {
        for h in msg.headers_named(name) {
            x.st.edits.remove_header(&h);
            n += 1;
        }
    }
    if n > 0 {
        1
    } else {
        -1
    }
}

/// 1 when the request carries credentials for `realm`.
fn has_credentials(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let realm = realm_of(x, &args[0]);
    if find_credentials(x, &realm, false).is_some() || find_credentials(x, &realm, true).is_some() {
        1
    } else {
        -1
    }
}
