//! The stateful proxy core (RFC 3261 §16, Kamailio tm) with simulated
//! time: 100 Trying, relaying, retransmission absorption, best response,
//! CANCEL, hop-by-hop ACK, local 408, Timer C, serial failover.

mod tm_common;

use sipshard_core::sip::{HeaderName, Message, Method};
use sipshard_core::tm::table::{RequestMatch, TableConfig};
use sipshard_core::tm::timers::TimerConfig;
use sipshard_core::transport::Transport;
use tm_common::*;

fn world() -> World {
    World::new(TableConfig::default())
}

fn branch_of(m: &Message) -> Vec<u8> {
    m.top_via().unwrap().branch().unwrap().to_vec()
}

/// The request sent to `host` (first one).
fn downstream<'a>(sent: &'a [Sent], host: &str) -> &'a Message {
    &sent
        .iter()
        .find(|s| s.to == host && s.msg.is_request())
        .unwrap()
        .msg
}

#[test]
fn invite_gets_100_then_provisional_and_2xx_relayed() {
    let mut w = world();
    let inv = invite("z9hG4bKc1");
    let id = w.relay(&inv, &["b1"]);
    let s = w.sent();
    assert_eq!(whats(&s), ["100>10.0.0.1", "INVITE>b1"]);
    let trying = &s[0].msg;
    assert_eq!(trying.reason(), b"trying -- your call is important to us");
    assert_eq!(trying.to_tag(), None, "100 carries no To-tag");
    let fwd = downstream(&s, "b1").clone();
    assert_eq!(fwd.max_forwards(), Some(69));
    assert_eq!(fwd.vias().count(), 2);

    w.response(&respond(&fwd, 100, ""));
    assert!(
        w.sent().is_empty(),
        "relay_100 = 0: a downstream 100 is absorbed"
    );
    w.response(&respond(&fwd, 180, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["180>10.0.0.1"]);
    assert_eq!(s[0].msg.vias().count(), 1, "our Via removed");

    w.response(&respond(&fwd, 200, ""));
    assert_eq!(whats(&w.sent()), ["200>10.0.0.1"]);
    // A 2xx retransmission is relayed again (RFC 6026).
    w.response(&respond(&fwd, 200, ""));
    assert_eq!(whats(&w.sent()), ["200>10.0.0.1"]);
    // The ACK for the 2xx has its own branch: no transaction, end to end.
    let ack = caller_follow_up(&invite("z9hG4bKc1-ack"), "ACK", Some("callee"));
    let m =
        w.t.on_request(w.now, &ack, caller(), Transport::Udp, &mut w.out);
    assert_eq!(m, RequestMatch::NoMatch);
    assert!(w.t.get(id).is_some());
    w.advance(w.now + 200_000);
    assert!(w.t.is_empty(), "freed when Timers L and M end");
}

#[test]
fn request_retransmissions_are_absorbed_with_the_last_response() {
    let mut w = world();
    let inv = invite("z9hG4bKc2");
    let id = w.relay(&inv, &["b1"]);
    let fwd = downstream(&w.sent(), "b1").clone();
    let again = invite("z9hG4bKc2");
    let m =
        w.t.on_request(w.now, &again, caller(), Transport::Udp, &mut w.out);
    assert_eq!(m, RequestMatch::Retransmission(id));
    assert_eq!(whats(&w.sent()), ["100>10.0.0.1"]);
    w.response(&respond(&fwd, 183, ""));
    w.sent();
    w.t.on_request(w.now, &again, caller(), Transport::Udp, &mut w.out);
    assert_eq!(whats(&w.sent()), ["183>10.0.0.1"]);
    // A different sent-by is another transaction (§17.2.3).
    let other = Message::parse(
        String::from_utf8_lossy(inv.as_bytes())
            .replace("10.0.0.1:5060;branch", "10.0.0.9:5060;branch")
            .into_bytes(),
    )
    .unwrap();
    let m =
        w.t.on_request(w.now, &other, caller(), Transport::Udp, &mut w.out);
    assert_eq!(m, RequestMatch::NoMatch);
    // create() refuses a duplicate.
    assert!(w
        .t
        .create(w.now, &again, caller(), Transport::Udp, &mut w.out)
        .is_err());
}

#[test]
fn non_2xx_is_acked_hop_by_hop_and_relayed_and_caller_ack_absorbed() {
    let mut w = world();
    let inv = invite("z9hG4bKc3");
    let id = w.relay(&inv, &["b1"]);
    let fwd = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&fwd, 486, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b1", "486>10.0.0.1"]);
    let ack = &s[0].msg;
    //= RFC 3261 §17.1.1.3 (and kamailio-reference.md §2 [obs])
    assert_eq!(ack.ruri_bytes(), fwd.ruri_bytes());
    assert_eq!(branch_of(ack), branch_of(&fwd), "same branch as the INVITE");
    assert_eq!(ack.vias().count(), 1);
    assert_eq!(ack.to_tag(), Some(&b"callee"[..]));
    assert_eq!(ack.cseq().unwrap().method, Method::Ack);
    assert_eq!(ack.max_forwards(), Some(69));
    assert_eq!(ack.routes().count(), 1, "Route copied from the INVITE");
    // The 486 is retransmitted (Timer G) until the caller's ACK.
    w.advance(w.now + 600);
    assert_eq!(whats(&w.sent()), ["486>10.0.0.1"]);
    let cack = caller_follow_up(&inv, "ACK", Some("callee"));
    let m =
        w.t.on_request(w.now, &cack, caller(), Transport::Udp, &mut w.out);
    assert_eq!(m, RequestMatch::Ack(id));
    w.advance(w.now + 10_000);
    assert!(w.sent().is_empty(), "no retransmission after the ACK");
    assert!(w.t.is_empty());
}

#[test]
fn best_response_lowest_class_and_503_relayed_as_500() {
    let mut w = world();
    let inv = invite("z9hG4bKc4");
    w.relay(&inv, &["b1", "b2", "b3"]);
    let s = w.sent();
    let (f1, f2, f3) = (
        downstream(&s, "b1").clone(),
        downstream(&s, "b2").clone(),
        downstream(&s, "b3").clone(),
    );
    assert_ne!(branch_of(&f1), branch_of(&f2));
    w.response(&respond(&f1, 503, ""));
    w.response(&respond(&f2, 302, "Contact: <sip:bob@elsewhere>\r\n"));
    assert_eq!(
        whats(&w.sent()),
        ["ACK>b1", "ACK>b2"],
        "nothing final until all answered"
    );
    w.response(&respond(&f3, 486, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b3", "302>10.0.0.1"]);

    let mut w = world();
    let inv = invite("z9hG4bKc5");
    w.relay(&inv, &["b1"]);
    let f1 = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&f1, 503, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b1", "500>10.0.0.1"], "remap_503_500");
    assert_eq!(s[1].msg.reason(), b"Reason 503");
}

#[test]
fn challenges_from_401_and_407_are_merged() {
    let mut w = world();
    let inv = invite("z9hG4bKc6");
    w.relay(&inv, &["b1", "b2", "b3"]);
    let s = w.sent();
    let (f1, f2, f3) = (
        downstream(&s, "b1").clone(),
        downstream(&s, "b2").clone(),
        downstream(&s, "b3").clone(),
    );
    w.response(&respond(&f1, 486, ""));
    w.response(&respond(
        &f2,
        401,
        "WWW-Authenticate: Digest realm=\"b2\", nonce=\"1\"\r\n",
    ));
    w.response(&respond(
        &f3,
        407,
        "Proxy-Authenticate: Digest realm=\"b3\", nonce=\"2\"\r\n",
    ));
    let s = w.sent();
    let up = s.iter().find(|s| s.to == "10.0.0.1").unwrap();
    assert_eq!(
        up.msg.status(),
        Some(401),
        "401 preferred over 486, first challenge kept"
    );
    let www: Vec<_> = up.msg.headers_of(HeaderName::WwwAuthenticate).collect();
    let pa: Vec<_> = up.msg.headers_of(HeaderName::ProxyAuthenticate).collect();
    assert_eq!(www.len(), 1);
    assert_eq!(pa.len(), 1);
    assert_eq!(pa[0].value, b"Digest realm=\"b3\", nonce=\"2\"");
}

#[test]
fn six_xx_cancels_the_other_branches_and_wins() {
    let mut w = world();
    let inv = invite("z9hG4bKc7");
    w.relay(&inv, &["b1", "b2"]);
    let s = w.sent();
    let (f1, f2) = (downstream(&s, "b1").clone(), downstream(&s, "b2").clone());
    w.response(&respond(&f2, 180, ""));
    w.sent();
    w.response(&respond(&f1, 603, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b1", "CANCEL>b2"]);
    let cancel = &s[1].msg;
    assert_eq!(branch_of(cancel), branch_of(&f2));
    w.response(&respond(cancel, 200, ""));
    w.response(&respond(&f2, 487, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b2", "603>10.0.0.1"]);
}

#[test]
fn first_2xx_cancels_pending_branches_with_reason() {
    let mut w = world();
    let inv = invite("z9hG4bKc8");
    w.relay(&inv, &["b1", "b2"]);
    let s = w.sent();
    let (f1, f2) = (downstream(&s, "b1").clone(), downstream(&s, "b2").clone());
    w.response(&respond(&f1, 180, ""));
    w.response(&respond(&f2, 180, ""));
    w.sent();
    w.response(&respond(&f1, 200, ""));
    let s = w.sent();
    assert_eq!(whats(&s), ["200>10.0.0.1", "CANCEL>b2"]);
    assert_eq!(
        s[1].msg.header_named(b"Reason").unwrap().value,
        b"SIP;cause=200;text=\"Call completed elsewhere\""
    );
    // A 2xx on the other branch too: still forwarded (§16.7 step 10 race).
    w.response(&respond(&f2, 200, ""));
    assert_eq!(whats(&w.sent()), ["200>10.0.0.1"]);
}

#[test]
fn cancel_after_180_gets_200_cancel_downstream_and_487_upstream() {
    let mut w = world();
    let inv = invite("z9hG4bKc9");
    let id = w.relay(&inv, &["b1"]);
    let fwd = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&fwd, 180, ""));
    w.sent();
    let cancel = caller_follow_up(&inv, "CANCEL", None);
    let m =
        w.t.on_request(w.now, &cancel, caller(), Transport::Udp, &mut w.out);
    assert_eq!(m, RequestMatch::Cancel(id));
    assert!(w.t.get(id).unwrap().is_canceled());
    let s = w.sent();
    assert_eq!(whats(&s), ["200>10.0.0.1", "CANCEL>b1"]);
    assert_eq!(s[0].msg.reason(), b"canceling");
    assert_eq!(s[0].msg.cseq().unwrap().method, Method::Cancel);
    assert!(s[0].msg.to_tag().is_some(), "own To-tag");
    let dc = &s[1].msg;
    //= RFC 3261 §9.1
    assert_eq!(branch_of(dc), branch_of(&fwd));
    assert_eq!(dc.ruri_bytes(), fwd.ruri_bytes());
    assert_eq!(dc.cseq().unwrap().number, 1);
    assert_eq!(dc.to_tag(), None);
    assert_eq!(
        dc.header_named(b"Reason").unwrap().value,
        b"Q.850;cause=16",
        "e2e_cancel_reason"
    );
    // Our CANCEL is retransmitted (Timer E) until its 200.
    w.advance(w.now + 600);
    assert_eq!(whats(&w.sent()), ["CANCEL>b1"]);
    w.response(&respond(dc, 200, ""));
    assert!(w.sent().is_empty(), "the 200 to our CANCEL stays here");
    w.response(&respond(&fwd, 487, ""));
    assert_eq!(whats(&w.sent()), ["ACK>b1", "487>10.0.0.1"]);
    // A retransmitted CANCEL is answered again and changes nothing else.
    w.t.on_request(w.now, &cancel, caller(), Transport::Udp, &mut w.out);
    assert_eq!(whats(&w.sent()), ["200>10.0.0.1"]);
    let ack = caller_follow_up(&inv, "ACK", Some("callee"));
    w.t.on_request(w.now, &ack, caller(), Transport::Udp, &mut w.out);
    w.advance(w.now + 60_000);
    assert!(w.t.is_empty());
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut w = world();
    let inv = invite("z9hG4bKc10");
    w.relay(&inv, &["b1"]);
    let fwd = downstream(&w.sent(), "b1").clone();
    let cancel = caller_follow_up(&inv, "CANCEL", None);
    w.t.on_request(w.now, &cancel, caller(), Transport::Udp, &mut w.out);
    assert_eq!(
        whats(&w.sent()),
        ["200>10.0.0.1"],
        "§9.1: no CANCEL before a provisional"
    );
    w.advance(600);
    assert_eq!(
        whats(&w.sent()),
        ["INVITE>b1"],
        "INVITE keeps retransmitting"
    );
    w.response(&respond(&fwd, 180, ""));
    assert_eq!(whats(&w.sent()), ["CANCEL>b1", "180>10.0.0.1"]);
}

#[test]
fn cancel_of_a_silent_branch_ends_in_487_at_fr_timer() {
    let mut w = world();
    let inv = invite("z9hG4bKc11");
    w.relay(&inv, &["b1"]);
    w.sent();
    let cancel = caller_follow_up(&inv, "CANCEL", None);
    w.t.on_request(w.now, &cancel, caller(), Transport::Udp, &mut w.out);
    w.sent();
    w.advance(30_000);
    let s = w.sent();
    assert_eq!(s.last().map(what).as_deref(), Some("487"));
}

#[test]
fn no_answer_gives_local_408_at_fr_timer_with_tm_to_tag() {
    let mut cfg = TableConfig::default();
    cfg.proxy.timers.set_modparam("fr_timer", 20_000).unwrap();
    let mut w = World::new(cfg);
    let inv = invite("z9hG4bKc12");
    let id = w.relay(&inv, &["b1"]);
    w.sent();
    let mut times = Vec::new();
    let mut upstream = Vec::new();
    for t in (0..=25_000).step_by(10) {
        w.advance(t);
        for s in w.sent() {
            if s.to == "b1" {
                times.push(s.at);
            } else {
                upstream.push(s);
            }
        }
    }
    assert_eq!(times, [500, 1500, 3500, 7500, 11_500, 15_500, 19_500]);
    let at: Vec<_> = upstream.iter().map(|s| s.at).collect();
    assert_eq!(at, [20_000, 20_500, 21_500, 23_500], "408, then Timer G");
    let r = &upstream[0];
    assert_eq!((r.msg.status(), r.at), (Some(408), 20_000));
    assert_eq!(r.msg.reason(), b"Request Timeout");
    assert!(r.msg.to_tag().is_some());
    let ack = caller_follow_up(
        &inv,
        "ACK",
        r.msg.to_tag().map(|t| std::str::from_utf8(t).unwrap()),
    );
    assert_eq!(
        w.t.on_request(w.now, &ack, caller(), Transport::Udp, &mut w.out),
        RequestMatch::Ack(id)
    );
}

#[test]
fn timer_c_cancels_the_branch_and_sends_408() {
    let mut w = world();
    let inv = invite("z9hG4bKc13");
    w.relay(&inv, &["b1"]);
    let fwd = downstream(&w.sent(), "b1").clone();
    w.advance(1000);
    w.response(&respond(&fwd, 180, ""));
    w.sent();
    w.advance(40_000);
    w.response(&respond(&fwd, 183, ""));
    w.sent();
    // fr_inv_timer (120 s) restarts on every provisional.
    w.advance(159_999);
    assert!(w.sent().is_empty());
    w.advance(160_000);
    let s = w.sent();
    assert_eq!(whats(&s), ["CANCEL>b1", "408>10.0.0.1"]);
    // The 487 that follows is ACKed and not relayed.
    w.response(&respond(&fwd, 487, ""));
    assert_eq!(whats(&w.sent()), ["ACK>b1"]);
}

#[test]
fn failure_route_adds_a_branch_serial_failover() {
    let mut w = world();
    let inv = invite("z9hG4bKc14");
    let id = w.relay(&inv, &[]);
    w.t.set_on_failure(id, true).unwrap();
    w.branch(id, &inv, "b1");
    let f1 = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&f1, 486, ""));
    assert_eq!(w.failures(), [(id, 486)]);
    assert_eq!(
        whats(&w.sent()),
        ["ACK>b1"],
        "no final upstream before failure_route"
    );
    // failure_route: t_relay() to a new destination.
    let n = w.branch(id, &inv, "b2");
    assert_eq!(n, 1);
    w.t.failure_done(w.now, id, &mut w.out).unwrap();
    let s = w.sent();
    assert_eq!(whats(&s), ["INVITE>b2"]);
    let f2 = s[0].msg.clone();
    assert!(branch_of(&f2).ends_with(b".1"));
    w.response(&respond(&f2, 200, ""));
    assert_eq!(whats(&w.sent()), ["200>10.0.0.1"]);
}

#[test]
fn failure_route_that_does_nothing_relays_the_best_and_t_reply_replaces_it() {
    let mut w = world();
    let inv = invite("z9hG4bKc15");
    let id = w.relay(&inv, &[]);
    w.t.set_on_failure(id, true).unwrap();
    w.branch(id, &inv, "b1");
    let f1 = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&f1, 404, ""));
    assert_eq!(w.failures().len(), 1);
    w.t.failure_done(w.now, id, &mut w.out).unwrap();
    assert_eq!(whats(&w.sent()), ["ACK>b1", "404>10.0.0.1"]);

    // kamailio-reference.md §2 [obs]: failure_route t_reply("480", ...).
    let inv = invite("z9hG4bKc16");
    let id = w.relay(&inv, &[]);
    w.t.set_on_failure(id, true).unwrap();
    w.branch(id, &inv, "b1");
    let f1 = downstream(&w.sent(), "b1").clone();
    w.response(&respond(&f1, 486, ""));
    w.failures();
    w.t.reply(
        w.now,
        id,
        480,
        b"Temporarily Unavailable (rewritten)",
        &mut w.out,
    )
    .unwrap();
    w.t.failure_done(w.now, id, &mut w.out).unwrap();
    let s = w.sent();
    assert_eq!(whats(&s), ["ACK>b1", "480>10.0.0.1"]);
    let tag = s[1].msg.to_tag().unwrap();
    assert_ne!(tag, b"callee", "tm's own To-tag, not the callee's");
    assert!(
        w.t.branch_param(id).is_err(),
        "no branch after a final reply"
    );
}

#[test]
fn non_invite_gets_no_100_and_retransmissions_get_the_final() {
    let mut w = world();
    let msg = request("MESSAGE", "z9hG4bKm1", 5);
    let id = w.relay(&msg, &["b1"]);
    let s = w.sent();
    assert_eq!(whats(&s), ["MESSAGE>b1"]);
    let fwd = s[0].msg.clone();
    w.advance(500);
    assert_eq!(whats(&w.sent()), ["MESSAGE>b1"], "Timer E");
    w.response(&respond(&fwd, 202, ""));
    assert_eq!(whats(&w.sent()), ["202>10.0.0.1"]);
    let again = request("MESSAGE", "z9hG4bKm1", 5);
    assert_eq!(
        w.t.on_request(w.now, &again, caller(), Transport::Udp, &mut w.out),
        RequestMatch::Retransmission(id)
    );
    assert_eq!(whats(&w.sent()), ["202>10.0.0.1"]);
    w.advance(100_000);
    assert!(w.t.is_empty());
}

#[test]
fn non_invite_timeout_is_a_local_408() {
    let mut w = World::new(TableConfig {
        proxy: sipshard_core::tm::proxy::ProxyConfig {
            timers: TimerConfig::rfc3261(),
            ..Default::default()
        },
        ..Default::default()
    });
    let msg = request("OPTIONS", "z9hG4bKo1", 1);
    w.relay(&msg, &["b1"]);
    w.advance(31_999);
    assert!(w.sent().iter().all(|s| s.to == "b1"));
    w.advance(32_000);
    assert_eq!(whats(&w.sent()), ["408>10.0.0.1"]);
}

#[test]
fn transport_error_on_a_branch_counts_as_503_sent_as_500() {
    let mut w = world();
    let inv = invite("z9hG4bKc17");
    let id = w.relay(&inv, &["b1"]);
    w.sent();
    w.t.branch_transport_error(w.now, id, 0, &mut w.out);
    assert_eq!(whats(&w.sent()), ["500>10.0.0.1"]);
}
