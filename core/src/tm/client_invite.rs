//! The INVITE client transaction (RFC 3261 §17.1.1, Figure 5, with the
//! Accepted state of RFC 6026 §7.2 and Figure 5 there).
//!
//! ```text
//!                                |INVITE from TU
//!              Timer A fires     |INVITE sent
//!              Reset A,          V                      Timer B fires
//!              INVITE sent +-----------+                or Transport Err.
//!                +---------|           |---------------+inform TU
//!                |         |  Calling  |               |
//!                +-------->|           |-------------->|
//!                          +-----------+ 2xx           |
//!                             |  |       2xx to TU     |
//!                             |  |1xx    +-------------|---+
//!     300-699 +---------------+  |1xx to TU            |   |
//!     ACK sent|                  |                     |   |
//!  resp. to TU|  1xx             V                     |   |
//!             |  1xx to TU  -----------+               |   |
//!             |  +---------|           |               |   |
//!             |  |         |Proceeding |-------------->|   |
//!             |  +-------->|           | 2xx           |   |
//!             |            +-----------+ 2xx to TU     |   |
//!             |       300-699    |      +--------------|---+
//!             |       ACK sent,  |                     |   |
//!             |       resp. to TU|                     |   |
//!             |                  |                     |   V
//!             |                  V                     | +-----------+
//!             |            +-----------+               | |  Accepted |
//!             |            |           |               | +-----------+
//!             +----------->| Completed |               |  2xx to TU|^
//!                          |           |               |  ---------+|
//!  300-699 / ACK sent      +-----------+               |  Timer M   |
//!  (absorbed)                    |Timer D fires        |  fires     |
//!                                |-                    |            V
//!                                V                     |      Terminated
//!                          +-----------+               |
//!                          |Terminated |<--------------+
//!                          +-----------+
//! ```
//!
//! Timer A doubles from T1; in the Kamailio profile it is capped at T2
//! (`retr_buf_handler`). Timer B is `fr_timer`. Timer C belongs to the proxy
//! (§16.6 step 11) and is not armed here.

use super::machine::{Action, Actions, Event, Handled, Outgoing, Up};
use super::timers::{TimerConfig, TimerKind};
use std::time::Duration;

/// States of Figure 5 (RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
    Terminated,
}

/// An INVITE client transaction: 8 bytes of state.
#[derive(Debug, Clone)]
pub struct ClientInvite {
    state: State,
    reliable: bool,
    /// Current Timer A interval in ms.
    retr_ms: u32,
}

fn dur_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

impl ClientInvite {
    /// Starts the transaction: the request goes out and Timers A and B run.
    pub fn start(cfg: &TimerConfig, reliable: bool, out: &mut Actions) -> ClientInvite {
        //= RFC 3261 §17.1.1.2
        //# The initial state, "calling", MUST be entered when the TU
        //# initiates a new client transaction with an INVITE request.  The
        //# client transaction MUST pass the request to the transport layer
        //# for transmission.  If an unreliable transport is being used, the
        //# client transaction MUST start timer A with a value of T1.
        out.push(Action::Send(Outgoing::Request));
        let a = cfg.duration(TimerKind::A, reliable);
        if !reliable {
            out.push(Action::Arm(TimerKind::A, a));
        }
        //# For any transport, the client transaction MUST start timer B
        //# with a value of 64*T1 seconds
        out.push(Action::Arm(
            TimerKind::B,
            cfg.duration(TimerKind::B, reliable),
        ));
        ClientInvite {
            state: State::Calling,
            reliable,
            retr_ms: dur_ms(a),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// The transition table.
    pub fn on_event(&mut self, cfg: &TimerConfig, ev: Event, out: &mut Actions) -> Handled {
        use Event as E;
        use State as S;
        use TimerKind as T;
        let next = match (self.state, ev) {
            (S::Calling, E::TimerFired(T::A)) => {
                let next = cfg.next_interval(T::A, Duration::from_millis(self.retr_ms.into()));
                self.retr_ms = dur_ms(next);
                out.push(Action::Send(Outgoing::Request));
                out.push(Action::Arm(T::A, next));
                S::Calling
            }
            //= RFC 3261 §17.1.1.2
            //# If the client transaction is still in the "Calling" state when
            //# timer B fires, the client transaction SHOULD inform the TU that
            //# a timeout has occurred.
            (S::Calling, E::TimerFired(T::B)) => {
                out.push(Action::Cancel(T::A));
                out.push(Action::PassUp(Up::Timeout));
                S::Terminated
            }
            (S::Calling | S::Proceeding, E::Response(c)) if c < 200 => {
                if self.state == S::Calling {
                    out.push(Action::Cancel(T::A));
                    out.push(Action::Cancel(T::B));
                }
                out.push(Action::PassUp(Up::Response(c)));
                S::Proceeding
            }
            //= RFC 6026 §8.4
            //# If a 2xx response is received while the client INVITE state
            //# machine is in the "Calling" or "Proceeding" states, it MUST
            //# transition to the "Accepted" state, pass the 2xx response to
            //# the TU, and set Timer M to 64*T1.
            (S::Calling | S::Proceeding, E::Response(c)) if c < 300 => {
                self.cancel_calling_timers(out);
                out.push(Action::PassUp(Up::Response(c)));
                out.push(Action::Arm(T::M, cfg.duration(T::M, self.reliable)));
                S::Accepted
            }
            //= RFC 3261 §17.1.1.2
            //# When in either the "Calling" or "Proceeding" states, reception
            //# of a response with status code from 300-699 MUST cause the
            //# client transaction to transition to "Completed".  The client
            //# transaction MUST pass the received response up to the TU, and
            //# the client transaction MUST generate an ACK request
            (S::Calling | S::Proceeding, E::Response(c)) => {
                self.cancel_calling_timers(out);
                out.push(Action::Send(Outgoing::Ack));
                out.push(Action::PassUp(Up::Response(c)));
                out.push(Action::Arm(T::D, cfg.duration(T::D, self.reliable)));
                S::Completed
            }
            (S::Calling, E::TransportError) => {
                self.cancel_calling_timers(out);
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            //# Any retransmissions of the final response that are received
            //# while in the "Completed" state MUST cause the ACK to be re-
            //# passed to the transport layer for retransmission, but the newly
            //# received response MUST NOT be passed up to the TU.
            (S::Completed, E::Response(c)) if c >= 300 => {
                out.push(Action::Send(Outgoing::Ack));
                S::Completed
            }
            (S::Completed, E::TimerFired(T::D)) => S::Terminated,
            (S::Completed, E::TransportError) => {
                out.push(Action::Cancel(T::D));
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            //= RFC 6026 §8.4
            //# any 2xx responses that match this client transaction and that
            //# are received while in the "Accepted" state MUST be passed up
            //# to the TU.
            (S::Accepted, E::Response(c)) if (200..300).contains(&c) => {
                out.push(Action::PassUp(Up::Response(c)));
                S::Accepted
            }
            //# If Timer M fires while the client INVITE state machine is in
            //# the "Accepted" state, the client transaction MUST move to the
            //# "Terminated" state.
            (S::Accepted, E::TimerFired(T::M)) => S::Terminated,
            _ => return Handled::Ignored,
        };
        if next == S::Terminated && self.state != S::Terminated {
            out.push(Action::Terminated);
        }
        self.state = next;
        Handled::Yes
    }

    fn cancel_calling_timers(&self, out: &mut Actions) {
        if self.state == State::Calling {
            out.push(Action::Cancel(TimerKind::A));
            out.push(Action::Cancel(TimerKind::B));
        }
    }
}
