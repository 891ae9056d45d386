//! Module `sanity` (`src/modules/sanity/sanity.c`): request checks selected
//! by bits, each with Kamailio's reply text. On failure the module replies
//! itself (unless modparam `noreply`) and returns 0 with `autodrop` (the
//! script stops) or -1 without it.

use crate::script::exec_ctx::Exec;
use crate::script::program::CArg;
use crate::script::registry::{route_type as rt, ArgKind as A, FnSpec};
use crate::sip::{unsupported_proxy_require, HeaderName, Message, NameAddr, Scheme, Uri};

pub const FNS: &[FnSpec] = &[FnSpec {
    name: "sanity_check",
    aliases: &[],
    module: "sanity",
    min_args: 0,
    max_args: 2,
    args: &[A::Int, A::Int],
    routes: rt::REQUEST | rt::ONREPLY | rt::FAILURE | rt::BRANCH,
    imp: sanity_check,
}];

/// Check bits (sanity module docs).
pub mod bits {
    pub const RURI_SIP_VERSION: u32 = 1;
    pub const RURI_SCHEME: u32 = 2;
    pub const REQUIRED_HEADERS: u32 = 4;
    pub const CSEQ_METHOD: u32 = 32;
    pub const CSEQ_VALUE: u32 = 64;
    pub const CL: u32 = 128;
    pub const EXPIRES_VALUE: u32 = 256;
    pub const PROXY_REQUIRE: u32 = 512;
    pub const PARSE_URIS: u32 = 1024;
    pub const DIGEST: u32 = 2048;
    pub const DUPLICATE_TAGS: u32 = 4096;
    pub const AUTHORIZATION: u32 = 8192;
    pub const VIA1_HEADER: u32 = 16384;
    pub const VIA_SIP3261: u32 = 32768;
    pub const SIZES: u32 = 65536;
}

/// URI check bits for `PARSE_URIS`.
pub mod uri_bits {
    pub const RURI: u32 = 1;
    pub const FROM: u32 = 2;
    pub const TO: u32 = 4;
    pub const CONTACT: u32 = 8;
}

/// The first failing check as (code, reason), or None when all pass.
/// Checks that only make sense for requests are skipped on replies.
pub fn run_checks(
    msg: &Message,
    checks: u32,
    uri_checks: u32,
    udp: bool,
) -> Option<(u16, &'static str)> {
    let req = msg.is_request();
    let on = |b: u32| checks & b != 0;
    if req && on(bits::RURI_SIP_VERSION) && msg.version() != b"SIP/2.0" {
        return Some((505, "Version Not Supported (R-URI)"));
    }
    if req && on(bits::RURI_SCHEME) {
        match msg.ruri() {
            Ok(u) if matches!(u.scheme, Scheme::Sip | Scheme::Sips | Scheme::Tel) => {}
            Ok(_) => return Some((416, "Unsupported URI Scheme in Request URI")),
            Err(_) => return Some((400, "Bad Request URI")),
        }
    }
    if on(bits::REQUIRED_HEADERS) {
        for h in [
            HeaderName::To,
            HeaderName::From,
            HeaderName::CSeq,
            HeaderName::CallId,
            HeaderName::Via,
        ] {
            if msg.header(h).is_none() {
                return Some((400, "Missing Required Header in Request"));
            }
        }
    }
    if req && on(bits::CSEQ_METHOD) {
        match msg.cseq() {
            Some(c) if c.method_bytes == msg.method_bytes() => {}
            Some(_) => return Some((400, "CSeq method does not match request method")),
            None => return Some((400, "Missing/Illegal number in CSeq")),
        }
    }
    if on(bits::CSEQ_VALUE) && msg.cseq().is_none() {
        return Some((400, "Missing/Illegal number in CSeq"));
    }
    if on(bits::CL) && udp {
        if let Some(cl) = msg.content_length() {
            if cl as usize != msg.body().len() {
                return Some((400, "Content-Length mis-match"));
            }
        }
    }
    if on(bits::EXPIRES_VALUE) {
        if let Some(Err(_)) = msg.expires() {
            return Some((400, "Bad Expires Header"));
        }
    }
    // sanity's `proxy_require` list of supported extensions is empty by
    // default: any option tag is unsupported (RFC 3261 §16.3 item 6).
    if req && on(bits::PROXY_REQUIRE) && unsupported_proxy_require(msg, &[]).is_some() {
        return Some((420, "Bad Proxy Require Extension"));
    }
    if on(bits::PARSE_URIS) {
        // RFC 3261 §19.1.1: URI headers are not allowed in a Request-URI
        // (RFC 4475 §3.1.2.10, escruri).
        let bad_ruri = || match msg.ruri() {
            Ok(u) => !u.headers.is_empty(),
            Err(_) => true,
        };
        if req && uri_checks & uri_bits::RURI != 0 && bad_ruri() {
            return Some((400, "Bad Request URI"));
        }
        let bad_na = |na: Option<NameAddr<'_>>| na.is_none_or(|n| Uri::parse(n.uri).is_err());
        if uri_checks & uri_bits::FROM != 0 && bad_na(msg.from()) {
            return Some((400, "Invalid From/To Header"));
        }
        if uri_checks & uri_bits::TO != 0 && bad_na(msg.to()) {
            return Some((400, "Invalid From/To Header"));
        }
        if uri_checks & uri_bits::CONTACT != 0
            && !msg.contact_is_star()
            && msg.contacts().any(|c| c.is_err())
        {
            return Some((400, "Bad Contact Header"));
        }
    }
    if on(bits::DUPLICATE_TAGS) {
        if let Some(f) = msg.from() {
            if f.params()
                .filter(|p| matches!(p, Ok(p) if p.name.eq_ignore_ascii_case(b"tag")))
                .count()
                > 1
            {
                return Some((400, "Many From Tag Params"));
            }
        }
    }
    if on(bits::VIA1_HEADER) && msg.top_via().is_none() {
        return Some((400, "Bad Via Header"));
    }
    None
}

/// `sanity_check([checks[, uri_checks]])`: 1 when the message passes.
fn sanity_check(x: &mut Exec<'_, '_>, args: &[CArg]) -> i32 {
    let s = &x.prog.settings;
    let (autodrop, noreply) = (s.sanity_autodrop, s.sanity_noreply);
    let checks = match args.first() {
        Some(a) => x.arg_int(a).unwrap_or(0) as u32,
        None => s.sanity_default_checks,
    };
    let uri_checks = match args.get(1) {
        Some(a) => x.arg_int(a).unwrap_or(0) as u32,
        None => s.sanity_uri_checks,
    };
    let udp = !x.inb.proto.is_stream();
    let Some((code, reason)) = run_checks(x.msg, checks, uri_checks, udp) else {
        return 1;
    };
    if x.msg.is_request() && !noreply {
        if code == 420 {
            // RFC 3261 §8.2.2.3: list what is not supported.
            if let Some(tag) = unsupported_proxy_require(x.msg, &[]) {
                x.st.reply_headers.extend_from_slice(b"Unsupported: ");
                x.st.reply_headers.extend_from_slice(tag);
                x.st.reply_headers.extend_from_slice(b"\r\n");
            }
        }
        x.send_reply(code, reason.as_bytes());
    }
    if autodrop {
        0
    } else {
        -1
    }
}
