//! Memory stays flat: 100 000 transactions pushed through one table with
//! fake time (a mix of answered calls, rejected calls and non-INVITEs, at
//! about 1 000 per simulated second) leave the table and its timer queue
//! empty, and neither grows past what the in-flight load needs.

mod tm_common;

use sipshard_core::tm::table::TableConfig;
use sipshard_core::transport::Transport;
use tm_common::*;

#[test]
fn one_hundred_thousand_transactions_leave_nothing_behind() {
    let mut w = World::new(TableConfig::default());
    let (mut max_live, mut max_timers) = (0usize, 0usize);
    for i in 0..100_000u32 {
        // One transaction per simulated millisecond.
        w.advance(u64::from(i));
        let branch = format!("z9hG4bKsoak{i}");
        let kind = i % 3;
        let req = if kind == 2 {
            request("OPTIONS", &branch, 1)
        } else {
            invite(&branch)
        };
        w.relay(&req, &["b1"]);
        let fwd = w
            .sent()
            .into_iter()
            .find(|s| s.to == "b1")
            .expect("forwarded")
            .msg;
        match kind {
            0 => {
                w.response(&respond(&fwd, 180, ""));
                w.response(&respond(&fwd, 200, ""));
            }
            1 => {
                w.response(&respond(&fwd, 486, ""));
                let ack = caller_follow_up(&req, "ACK", Some("callee"));
                w.t.on_request(w.now, &ack, caller(), Transport::Udp, &mut w.out);
            }
            _ => w.response(&respond(&fwd, 200, "")),
        }
        w.out.clear();
        max_live = max_live.max(w.t.len());
        max_timers = max_timers.max(w.t.queued_timers());
    }
    // Every transaction ends within the wait timers (5 s); cancelled
    // timer entries stay queued (lazy cancellation, compacted past 8 per
    // live transaction) until their own deadline, at most
    // `max_inv_lifetime` (180 s).
    w.advance(w.now + 6_000);
    assert_eq!(w.t.len(), 0, "transactions left after the wait timers");
    w.advance(w.now + 200_000);
    w.out.clear();
    eprintln!(
        "peak live {max_live}, peak queued timers {max_timers}, end: live {}, timers {}",
        w.t.len(),
        w.t.queued_timers()
    );
    assert_eq!(w.t.len(), 0, "transactions left");
    assert!(w.t.is_empty());
    assert_eq!(w.t.queued_timers(), 0, "timers left");
    assert_eq!(w.t.next_deadline(), None);
    // In flight: ~5 s of wait state at 1 per ms, never the whole run.
    assert!(max_live <= 6_000, "peak live {max_live}");
    assert!(max_timers <= 8 * 6_000 + 2048, "peak timers {max_timers}");
}
