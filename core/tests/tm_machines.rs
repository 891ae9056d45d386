//! The four transaction machines driven with simulated time: every timer
//! A–M fires without a real sleep, in both timer profiles.

use std::collections::BTreeMap;

use sipshard_core::tm::client_invite::{self, ClientInvite};
use sipshard_core::tm::client_non_invite::{self, ClientNonInvite};
use sipshard_core::tm::machine::{Action, Actions, Event, Handled, Outgoing, Up};
use sipshard_core::tm::server_invite::{self, ServerInvite};
use sipshard_core::tm::server_non_invite::{self, ServerNonInvite};
use sipshard_core::tm::timers::{TimerConfig, TimerKind};

trait Machine {
    fn on(&mut self, cfg: &TimerConfig, e: Event, out: &mut Actions) -> Handled;
}
impl Machine for ClientInvite {
    fn on(&mut self, cfg: &TimerConfig, e: Event, out: &mut Actions) -> Handled {
        self.on_event(cfg, e, out)
    }
}
impl Machine for ClientNonInvite {
    fn on(&mut self, cfg: &TimerConfig, e: Event, out: &mut Actions) -> Handled {
        self.on_event(cfg, e, out)
    }
}
impl Machine for ServerInvite {
    fn on(&mut self, cfg: &TimerConfig, e: Event, out: &mut Actions) -> Handled {
        self.on_event(cfg, e, out)
    }
}
impl Machine for ServerNonInvite {
    fn on(&mut self, cfg: &TimerConfig, e: Event, out: &mut Actions) -> Handled {
        self.on_event(cfg, e, out)
    }
}

/// A machine, a fake clock and the timers it armed.
struct Sim<M> {
    m: M,
    cfg: TimerConfig,
    now: u64,
    armed: BTreeMap<TimerKind, u64>,
    log: Vec<(u64, Action)>,
}

impl<M: Machine> Sim<M> {
    fn new(cfg: TimerConfig, start: impl FnOnce(&TimerConfig, &mut Actions) -> M) -> Sim<M> {
        let mut acts = Actions::new();
        let m = start(&cfg, &mut acts);
        let mut s = Sim {
            m,
            cfg,
            now: 0,
            armed: BTreeMap::new(),
            log: Vec::new(),
        };
        s.apply(acts);
        s
    }

    fn apply(&mut self, acts: Actions) {
        for a in acts {
            match a {
                Action::Arm(k, d) => {
                    self.armed.insert(k, self.now + d.as_millis() as u64);
                }
                Action::Cancel(k) => {
                    self.armed.remove(&k);
                }
                _ => {}
            }
            self.log.push((self.now, a));
        }
    }

    fn feed(&mut self, e: Event) -> Handled {
        let mut acts = Actions::new();
        let h = self.m.on(&self.cfg, e, &mut acts);
        self.apply(acts);
        h
    }

    /// Fires every timer due up to `to`, in order.
    fn advance(&mut self, to: u64) {
        loop {
            let due = self
                .armed
                .iter()
                .filter(|(_, at)| **at <= to)
                .min_by_key(|(_, at)| **at)
                .map(|(k, at)| (*k, *at));
            let Some((k, at)) = due else { break };
            self.armed.remove(&k);
            self.now = at;
            self.feed(Event::TimerFired(k));
        }
        self.now = to;
    }

    fn times_of(&self, what: Action) -> Vec<u64> {
        self.log
            .iter()
            .filter(|(_, a)| *a == what)
            .map(|(t, _)| *t)
            .collect()
    }

    fn terminated_at(&self) -> Option<u64> {
        self.times_of(Action::Terminated).first().copied()
    }

    fn clear_log(&mut self) {
        self.log.clear();
    }
}

const SEND_REQ: Action = Action::Send(Outgoing::Request);
const SEND_RESP: Action = Action::Send(Outgoing::Response);

fn cinv(cfg: TimerConfig, reliable: bool) -> Sim<ClientInvite> {
    Sim::new(cfg, |c, a| ClientInvite::start(c, reliable, a))
}

#[test]
fn timer_a_capped_at_t2_then_timer_b_at_fr_timer_kamailio() {
    let mut s = cinv(TimerConfig::kamailio(), false);
    s.advance(40_000);
    // kamailio-reference.md §2 [obs]: 0, 0.47, 1.47, 3.47, 7.47, 11.47, ...
    assert_eq!(
        s.times_of(SEND_REQ),
        [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500]
    );
    assert_eq!(s.times_of(Action::PassUp(Up::Timeout)), [30_000]);
    assert_eq!(s.terminated_at(), Some(30_000));
    assert_eq!(s.m.state(), client_invite::State::Terminated);
    assert!(s.armed.is_empty());
}

#[test]
fn timer_a_doubles_without_cap_and_b_is_64_t1_rfc() {
    let mut s = cinv(TimerConfig::rfc3261(), false);
    s.advance(40_000);
    assert_eq!(
        s.times_of(SEND_REQ),
        [0, 500, 1500, 3500, 7500, 15_500, 31_500]
    );
    assert_eq!(s.terminated_at(), Some(32_000));
}

#[test]
fn provisional_stops_a_and_b_then_non_2xx_acked_and_timer_d() {
    for (cfg, d) in [
        (TimerConfig::kamailio(), 5000),
        (TimerConfig::rfc3261(), 32_000),
    ] {
        let mut s = cinv(cfg, false);
        s.advance(700);
        s.feed(Event::Response(180));
        assert_eq!(s.m.state(), client_invite::State::Proceeding);
        s.advance(60_000);
        assert_eq!(
            s.times_of(SEND_REQ),
            [0, 500],
            "no retransmission after 1xx"
        );
        assert_eq!(s.terminated_at(), None, "no Timer B in Proceeding");
        s.feed(Event::Response(486));
        assert_eq!(s.m.state(), client_invite::State::Completed);
        assert_eq!(s.times_of(Action::Send(Outgoing::Ack)), [60_000]);
        assert_eq!(s.times_of(Action::PassUp(Up::Response(486))), [60_000]);
        // A retransmitted 486 is ACKed again and not passed up.
        s.advance(61_000);
        s.feed(Event::Response(486));
        assert_eq!(s.times_of(Action::Send(Outgoing::Ack)), [60_000, 61_000]);
        assert_eq!(s.times_of(Action::PassUp(Up::Response(486))).len(), 1);
        s.advance(200_000);
        assert_eq!(s.terminated_at(), Some(60_000 + d));
    }
}

#[test]
fn accepted_state_passes_2xx_retransmissions_until_timer_m() {
    let mut s = cinv(TimerConfig::rfc3261(), false);
    s.feed(Event::Response(200));
    assert_eq!(s.m.state(), client_invite::State::Accepted);
    s.advance(1000);
    s.feed(Event::Response(200));
    assert_eq!(s.times_of(Action::PassUp(Up::Response(200))), [0, 1000]);
    assert_eq!(s.feed(Event::Response(486)), Handled::Ignored);
    s.advance(100_000);
    assert_eq!(s.terminated_at(), Some(32_000), "Timer M = 64*T1");
    assert_eq!(s.times_of(SEND_REQ), [0]);
}

#[test]
fn reliable_client_invite_has_no_timer_a_and_zero_timer_d() {
    let mut s = cinv(TimerConfig::rfc3261(), true);
    s.advance(10_000);
    assert_eq!(s.times_of(SEND_REQ), [0]);
    s.feed(Event::Response(404));
    s.advance(10_000);
    assert_eq!(s.terminated_at(), Some(10_000));
}

#[test]
fn transport_error_while_calling_informs_tu() {
    let mut s = cinv(TimerConfig::kamailio(), false);
    s.feed(Event::TransportError);
    assert_eq!(s.times_of(Action::PassUp(Up::TransportError)), [0]);
    assert_eq!(s.terminated_at(), Some(0));
    assert!(s.armed.is_empty());
}

#[test]
fn timer_e_backs_off_to_t2_and_timer_f_times_out() {
    let mut s = Sim::new(TimerConfig::kamailio(), |c, a| {
        ClientNonInvite::start(c, false, a)
    });
    s.advance(40_000);
    assert_eq!(
        s.times_of(SEND_REQ),
        [0, 500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500]
    );
    assert_eq!(s.times_of(Action::PassUp(Up::Timeout)), [30_000]);
    assert_eq!(s.m.state(), client_non_invite::State::Terminated);
}

#[test]
fn timer_e_is_t2_in_proceeding_and_timer_k_after_final() {
    let mut s = Sim::new(TimerConfig::rfc3261(), |c, a| {
        ClientNonInvite::start(c, false, a)
    });
    s.advance(600);
    s.feed(Event::Response(100));
    s.clear_log();
    s.advance(10_000);
    // Pending E (due at 1500) then every T2.
    assert_eq!(s.times_of(SEND_REQ), [1500, 5500, 9500]);
    s.feed(Event::Response(200));
    assert_eq!(s.m.state(), client_non_invite::State::Completed);
    s.feed(Event::Response(200));
    assert_eq!(s.times_of(Action::PassUp(Up::Response(200))).len(), 1);
    s.advance(20_000);
    assert_eq!(s.terminated_at(), Some(15_000), "Timer K = T4");
    assert_eq!(s.times_of(SEND_REQ).len(), 3);
}

#[test]
fn server_invite_timer_g_h_for_missing_ack() {
    let mut s = Sim::new(TimerConfig::kamailio(), |_, _| ServerInvite::new(false));
    assert_eq!(s.feed(Event::Request), Handled::Yes);
    assert!(s.times_of(SEND_RESP).is_empty(), "nothing to resend yet");
    s.feed(Event::Response(100));
    s.feed(Event::Request);
    assert_eq!(s.times_of(SEND_RESP), [0, 0]);
    s.clear_log();
    s.advance(1000);
    s.feed(Event::Response(486));
    s.advance(40_000);
    assert_eq!(
        s.times_of(SEND_RESP),
        [1000, 1500, 2500, 4500, 8500, 12_500, 16_500, 20_500, 24_500, 28_500]
    );
    assert_eq!(
        s.times_of(Action::PassUp(Up::Timeout)),
        [31_000],
        "Timer H = fr_timer"
    );
    assert_eq!(s.m.state(), server_invite::State::Terminated);
}

#[test]
fn server_invite_ack_confirms_then_timer_i() {
    let mut s = Sim::new(TimerConfig::rfc3261(), |_, _| ServerInvite::new(false));
    s.feed(Event::Response(404));
    s.advance(600);
    s.feed(Event::Request);
    s.feed(Event::Ack);
    assert_eq!(s.m.state(), server_invite::State::Confirmed);
    s.feed(Event::Ack);
    s.advance(100_000);
    assert_eq!(s.times_of(SEND_RESP), [0, 500, 600]);
    assert_eq!(s.terminated_at(), Some(5600), "Timer I = T4");
}

#[test]
fn server_invite_accepted_absorbs_invite_passes_ack_until_timer_l() {
    let mut s = Sim::new(TimerConfig::rfc3261(), |_, _| ServerInvite::new(false));
    s.feed(Event::Response(100));
    s.feed(Event::Response(200));
    assert_eq!(s.m.state(), server_invite::State::Accepted);
    s.clear_log();
    s.feed(Event::Request);
    assert!(
        s.times_of(SEND_RESP).is_empty(),
        "no 2xx retransmission by tm"
    );
    s.feed(Event::Response(200));
    assert_eq!(
        s.times_of(SEND_RESP),
        [0],
        "the TU's 2xx retransmission goes out"
    );
    s.feed(Event::Ack);
    assert_eq!(s.times_of(Action::PassUp(Up::Ack)), [0]);
    s.advance(100_000);
    assert_eq!(s.terminated_at(), Some(32_000), "Timer L = 64*T1");
}

#[test]
fn server_non_invite_timer_j() {
    for (cfg, reliable, j) in [
        (TimerConfig::rfc3261(), false, 32_000),
        (TimerConfig::rfc3261(), true, 0),
        (TimerConfig::kamailio(), false, 5000),
    ] {
        let mut s = Sim::new(cfg, |_, _| ServerNonInvite::new(reliable));
        s.feed(Event::Request);
        assert!(s.times_of(SEND_RESP).is_empty(), "Trying absorbs");
        s.feed(Event::Response(100));
        assert_eq!(s.m.state(), server_non_invite::State::Proceeding);
        s.feed(Event::Request);
        s.feed(Event::Response(200));
        s.feed(Event::Request);
        assert_eq!(s.times_of(SEND_RESP).len(), 4);
        assert_eq!(s.m.state(), server_non_invite::State::Completed);
        s.advance(100_000);
        assert_eq!(s.terminated_at(), Some(j));
    }
}

#[test]
fn machines_ignore_stray_events() {
    let mut s = Sim::new(TimerConfig::rfc3261(), |_, _| ServerNonInvite::new(false));
    assert_eq!(s.feed(Event::TimerFired(TimerKind::J)), Handled::Ignored);
    let mut c = cinv(TimerConfig::rfc3261(), false);
    assert_eq!(c.feed(Event::TimerFired(TimerKind::D)), Handled::Ignored);
    assert_eq!(c.feed(Event::Ack), Handled::Ignored);
}
