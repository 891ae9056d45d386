//! Drives every parser path and view over arbitrary bytes, checking
//! invariants that must hold for any input. Shared by the fuzz targets
//! (`fuzz/fuzz_targets/*`) and the corpus replay test
//! (`core/tests/fuzz_corpus_replay.rs`) so both run the same code. Any
//! panic here is a bug.

use std::net::SocketAddr;

use super::{check_request, next_frame, Edits, HeaderName, Limits, Message, NameAddr, Uri, Via};
use crate::proxy;
use crate::route_io::LocalSocket;
use crate::transport::Transport;

fn src() -> SocketAddr {
    SocketAddr::from(([192, 0, 2, 1], 5060))
}

/// Parses `data` as a message and walks every view; on success also
/// edits, forwards, replies and routes it, and re-parses what it built.
pub fn exercise_message(data: &[u8]) {
    let _ = next_frame(data, &Limits::default());
    let msg = match Message::parse(data.to_vec()) {
        Ok(m) => m,
        Err(e) => {
            assert!(!e.reason().is_empty());
            if let Some(reply) = proxy::reply_to_malformed(data, e, src()) {
                assert!(reply.starts_with(b"SIP/2.0 "));
            }
            return;
        }
    };
    walk_views(&msg);
    // The quick scan tm uses on bytes it built agrees with the parser.
    let branch = msg.top_via().and_then(|v| v.branch());
    assert_eq!(super::scan::top_via_branch(msg.as_bytes()), branch);
    if let Some(b) = branch {
        assert!(super::scan::top_via_branch_is(msg.as_bytes(), b));
    }
    // No edits: the bytes come back unchanged.
    assert_eq!(
        Edits::new().apply(&msg).ok().as_deref(),
        Some(msg.as_bytes())
    );
    // Removing every header except the mandatory ones, adding one, and
    // rewriting the Request-URI keeps a parseable message.
    let mut e = Edits::new();
    for h in msg.headers() {
        if h.name == HeaderName::Other {
            e.remove_header(&h);
        }
    }
    e.add_header(&msg, b"X-Fuzz: 1");
    if msg.is_request() {
        e.set_ruri(&msg, b"sip:fuzz@192.0.2.9:5070");
    }
    if let Ok(out) = e.apply(&msg) {
        Message::parse(out).expect("edited message must parse");
    }
    if msg.is_request() {
        let _ = check_request(&msg);
        let sock = LocalSocket {
            proto: Transport::Udp,
            addr: src(),
            advertise_host: "2001:db8::1".into(),
            advertise_port: 5060,
        };
        let fwd = proxy::forward_stateless(&msg, &Edits::new(), &sock, src(), true)
            .expect("forwarding without script edits cannot fail");
        let fwd = Message::parse(fwd).expect("forwarded request must parse");
        assert_eq!(fwd.vias().count(), msg.vias().count() + 1);
        let prefix = proxy::to_tag_prefix(b"fuzz");
        let reply = proxy::build_reply(
            &msg,
            src(),
            &proxy::LocalReply::new(404, b"Not Found", &prefix),
        );
        let reply = Message::parse(reply).expect("local reply must parse");
        assert_eq!(reply.status(), Some(404));
        let _ = proxy::reply_destination(&msg, src(), Transport::Udp);
    } else {
        let routed = proxy::route_reply(&msg, &Edits::new(), |_| true);
        // What tm sends: the same bytes, refused alike.
        assert_eq!(
            proxy::reply_bytes(&msg, &Edits::new(), |_| true, None),
            routed.map(|r| r.bytes)
        );
    }
}

fn walk_views(msg: &Message) {
    let _ = (
        msg.method(),
        msg.method_bytes(),
        msg.status(),
        msg.reason(),
        msg.version(),
    );
    if let Ok(u) = msg.ruri() {
        walk_uri(&u);
    }
    for h in msg.headers() {
        assert!(msg.as_bytes().get(h.range.clone()).is_some());
        let _ = h.values().count();
        let _ = msg.header_named(h.name_bytes);
    }
    for v in msg.vias().flatten() {
        walk_via(&v);
    }
    for na in [msg.from(), msg.to()].into_iter().flatten() {
        walk_name_addr(&na);
    }
    for na in msg
        .contacts()
        .chain(msg.routes())
        .chain(msg.record_routes())
        .flatten()
    {
        walk_name_addr(&na);
    }
    let _ = (
        msg.call_id(),
        msg.cseq(),
        msg.max_forwards(),
        msg.expires(),
        msg.body().len(),
    );
    let _ = proxy::stateless_branch(msg);
}

fn walk_via(v: &Via<'_>) {
    let _ = (
        v.branch(),
        v.received_ip(),
        v.rport(),
        v.maddr(),
        v.ttl(),
        v.host_ip(),
    );
    let _ = v.params().count();
    let _ = proxy::reply_route::via_destination(v);
}

fn walk_name_addr(na: &NameAddr<'_>) {
    let _ = (na.tag(), na.display_name_unquoted(), na.params().count());
    if let Ok(u) = na.parsed_uri() {
        walk_uri(&u);
    }
}

fn walk_uri(u: &Uri<'_>) {
    let _ = (
        u.user_unescaped(),
        u.transport(),
        u.has_lr(),
        u.maddr(),
        u.host_unbracketed(),
    );
    let _ = (
        u.params().count(),
        u.header_fields().count(),
        u.require_sip(),
    );
}

/// Parses `data` as a URI, a Via, a name-addr and a header value list.
pub fn exercise_uri(data: &[u8]) {
    if let Ok(u) = Uri::parse(data) {
        walk_uri(&u);
        assert_eq!(u.raw, data);
    }
    if let Ok(v) = Via::parse(data) {
        walk_via(&v);
    }
    if let Ok(na) = NameAddr::parse(data) {
        walk_name_addr(&na);
    }
    let _ = super::header::Values::new(data).count();
    let _ = super::lex::unescape(data);
    let _ = super::host::parse_hostport(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exercises_valid_and_invalid_inputs() {
        exercise_message(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;rport\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nX-A: y\r\n\r\n");
        exercise_message(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\nVia: SIP/2.0/TCP g:5\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
        exercise_message(b"garbage");
        exercise_uri(b"sip:a@[::1]:5;lr?x=y");
        exercise_uri(b"SIP/2.0/UDP h;branch=z9hG4bK");
    }
}
