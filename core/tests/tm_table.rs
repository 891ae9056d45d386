//! The per-shard table: the bound (503), memory per live transaction,
//! state freed when timers end, the owner shard recovered from our branch,
//! and shard steering of requests.

mod tm_common;

use sipshard_core::sip::Message;
use sipshard_core::tm::key::{home_shard, owner_shard, response_owner};
use sipshard_core::tm::proxy::{Output, ProxyTx};
use sipshard_core::tm::table::{CreateError, ResponseMatch, TableConfig};
use sipshard_core::transport::Transport;
use tm_common::*;

#[test]
fn past_max_transactions_new_requests_get_503() {
    let mut w = World::new(TableConfig {
        max_transactions: 2,
        ..Default::default()
    });
    w.relay(&invite("z9hG4bKt1"), &["b1"]);
    w.relay(&invite("z9hG4bKt2"), &["b1"]);
    w.sent();
    let third = invite("z9hG4bKt3");
    let e =
        w.t.create(w.now, &third, caller(), Transport::Udp, &mut w.out)
            .unwrap_err();
    assert_eq!(e, CreateError::Full);
    assert_eq!(e.status(), 503);
    assert_eq!(whats(&w.sent()), ["503>10.0.0.1"]);
    assert_eq!(w.t.len(), 2);
    // Once both end (fr_timer 408, Timer H), room again.
    w.advance(200_000);
    assert!(w.t.is_empty());
    assert!(w
        .t
        .create(w.now, &third, caller(), Transport::Udp, &mut w.out)
        .is_ok());
}

#[test]
fn a_live_invite_transaction_costs_under_2_kb() {
    let mut w = World::new(TableConfig::default());
    let inv = invite("z9hG4bKmem");
    let id = w.relay(&inv, &["b1"]);
    let fwd = w.sent().into_iter().find(|s| s.to == "b1").unwrap().msg;
    w.response(&respond(&fwd, 180, ""));
    w.sent();
    let total = w.t.footprint(id).unwrap();
    let fixed = std::mem::size_of::<ProxyTx>();
    println!(
        "ProxyTx {fixed} B; request {} B, branch request {} B; total with heap data {total} B",
        inv.as_bytes().len(),
        fwd.as_bytes().len()
    );
    assert!(fixed <= 400, "fixed part {fixed} B");
    // Request, forwarded copy and last reply are each kept once.
    let bytes = inv.as_bytes().len() + fwd.as_bytes().len();
    assert!(total < bytes + 1100, "{total} B for {bytes} B of messages");
    assert!(total <= 2048, "{total} B per live transaction");
}

#[test]
fn state_is_freed_and_late_responses_miss_the_reused_slot() {
    let mut w = World::new(TableConfig::default());
    let inv = invite("z9hG4bKf1");
    let id = w.relay(&inv, &["b1"]);
    let fwd = w.sent().into_iter().find(|s| s.to == "b1").unwrap().msg;
    w.response(&respond(&fwd, 404, ""));
    let ack = caller_follow_up(&inv, "ACK", Some("callee"));
    w.t.on_request(w.now, &ack, caller(), Transport::Udp, &mut w.out);
    w.advance(w.now + 10_000);
    assert!(w.t.is_empty());
    assert!(w.t.get(id).is_none());
    // The slot is reused by a new transaction with a new nonce.
    let id2 = w.relay(&invite("z9hG4bKf2"), &["b1"]);
    assert_eq!(id2.slot, id.slot);
    assert_ne!(id2.gen, id.gen);
    w.sent();
    assert_eq!(
        w.t.on_response(
            w.now,
            &respond(&fwd, 404, ""),
            DOWNSTREAM.parse().unwrap(),
            &mut w.out
        ),
        ResponseMatch::NoMatch
    );
    assert!(w.sent().is_empty());
}

#[test]
fn owner_shard_is_in_the_branch_and_other_shards_hand_over() {
    let mut owner = World::on_shard(7, TableConfig::default());
    let inv = invite("z9hG4bKs1");
    owner.relay(&inv, &["b1"]);
    let fwd = owner.sent().into_iter().find(|s| s.to == "b1").unwrap().msg;
    let branch = fwd.top_via().unwrap().branch().unwrap().to_vec();
    assert_eq!(owner_shard(&branch), Some(7));
    let resp = respond(&fwd, 180, "");
    assert_eq!(response_owner(&resp), Some(7));
    // The response lands on shard 3 first.
    let mut other = World::on_shard(3, TableConfig::default());
    assert_eq!(
        other
            .t
            .on_response(0, &resp, DOWNSTREAM.parse().unwrap(), &mut other.out),
        ResponseMatch::OtherShard(7)
    );
    assert!(matches!(
        owner
            .t
            .on_response(0, &resp, DOWNSTREAM.parse().unwrap(), &mut owner.out),
        ResponseMatch::Handled(_)
    ));
    // Not our branch at all.
    let foreign = respond(&inv, 200, "");
    assert_eq!(
        owner
            .t
            .on_response(0, &foreign, DOWNSTREAM.parse().unwrap(), &mut owner.out),
        ResponseMatch::NoMatch
    );
}

#[test]
fn invite_cancel_and_ack_steer_to_one_shard() {
    for i in 0..50 {
        let inv = invite(&format!("z9hG4bKsteer{i}"));
        let cancel = caller_follow_up(&inv, "CANCEL", None);
        let ack = caller_follow_up(&inv, "ACK", Some("x"));
        let s = home_shard(&inv, 4);
        assert!(s < 4);
        assert_eq!(home_shard(&cancel, 4), s);
        assert_eq!(home_shard(&ack, 4), s);
    }
    let spread: std::collections::HashSet<_> = (0..50)
        .map(|i| home_shard(&invite(&format!("z9hG4bKsteer{i}")), 4))
        .collect();
    assert_eq!(spread.len(), 4, "keys spread over the shards");
}

#[test]
fn rfc2543_requests_match_without_the_cookie() {
    let mut w = World::new(TableConfig::default());
    let inv = invite("oldstyle1");
    let id = w.relay(&inv, &["b1"]);
    w.sent();
    let again = invite("oldstyle1");
    assert_eq!(
        w.t.on_request(w.now, &again, caller(), Transport::Udp, &mut w.out),
        sipshard_core::tm::table::RequestMatch::Retransmission(id)
    );
    let cancel = caller_follow_up(&inv, "CANCEL", None);
    assert_eq!(
        w.t.on_request(w.now, &cancel, caller(), Transport::Udp, &mut w.out),
        sipshard_core::tm::table::RequestMatch::Cancel(id)
    );
}

#[test]
fn timer_queue_stays_bounded_under_restarted_timer_c() {
    let mut w = World::new(TableConfig::default());
    let inv = invite("z9hG4bKq1");
    w.relay(&inv, &["b1"]);
    let fwd = w.sent().into_iter().find(|s| s.to == "b1").unwrap().msg;
    let ringing = respond(&fwd, 180, "");
    for t in 0..5000u64 {
        w.now = t * 10;
        w.response(&ringing);
        w.t.on_timer(w.now, &mut w.out);
        w.out.clear();
    }
    assert!(
        w.t.queued_timers() <= 8 + 1024 + 1,
        "{}",
        w.t.queued_timers()
    );
}

#[test]
fn failure_output_names_the_transaction() {
    let mut w = World::new(TableConfig::default());
    let inv = invite("z9hG4bKfo");
    let id = w.relay(&inv, &[]);
    w.t.set_on_failure(id, true).unwrap();
    w.branch(id, &inv, "b1");
    let fwd: Message = w.sent().into_iter().find(|s| s.to == "b1").unwrap().msg;
    w.response(&respond(&fwd, 480, ""));
    assert!(w.out.contains(&Output::Failure { tx: id, code: 480 }));
}
