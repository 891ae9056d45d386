//! The INVITE server transaction (RFC 3261 §17.2.1, Figure 7, with the
//! Accepted state of RFC 6026 §7.1).
//!
//! ```text
//!                                     |INVITE
//!                                     |pass INV to TU
//!  INVITE             V send 100 if TU won't in 200 ms
//!  send response+------------+
//!      +--------|            |--------+ 101-199 from TU
//!      |        |            |        | send response
//!      +------->|            |<-------+
//!               | Proceeding |
//!               |            |--------+ Transport Err.
//!               |            |        | Inform TU
//!               |            |<-------+
//!               +------------+
//!  300-699 from TU |    |2xx from TU
//!  send response   |    |send response
//!   +--------------+    +------------+
//!   |                                |
//!  INVITE          V          Timer G fires  |
//!  send response+-----------+ send response  |
//!      +--------|           |--------+       |
//!      |        |           |        |       |
//!      +------->| Completed |<-------+      INVITE / -
//!               |           |             +---------+
//!  Transport Err.|           |             |         |
//!  Inform TU    +-----------+             | +--------------+
//!    +-----------|  |  |  Timer H fires   +>|   Accepted   |<--+ 2xx from TU
//!    |           |  |  |  Inform TU         |              |---+ send response
//!    |           +--+  |                    +--------------+
//!    |           ACK   |                     |  ACK / pass to TU
//!    |           -     V                     |  Timer L fires
//!    |        +-----------+                  |  -
//!    |        |           |                  |
//!    |        | Confirmed |                  |
//!    |        |           |                  |
//!    |        +-----------+                  |
//!    |              |Timer I fires           |
//!    |              V                        V
//!    |        +-------------------------------------+
//!    +------->|             Terminated              |
//!             +-------------------------------------+
//! ```
//!
//! The 100 Trying is a response the TU gives like any other
//! (`Event::Response(100)`); the proxy core sends it at once (Kamailio
//! `auto_inv_100`). In the Kamailio profile Timer H is `fr_timer` and
//! Timer G, like every retransmission timer, is capped at T2.

use std::time::Duration;

use super::machine::{Action, Actions, Event, Handled, Outgoing, Up};
use super::timers::{TimerConfig, TimerKind};

/// States of Figure 7 (RFC 6026).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
    Terminated,
}

/// An INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerInvite {
    state: State,
    reliable: bool,
    /// A response has been given (a retransmitted INVITE gets it again).
    responded: bool,
    /// Current Timer G interval in ms.
    retr_ms: u32,
}

impl ServerInvite {
    /// Creates the transaction for a received INVITE (nothing to send yet).
    pub fn new(reliable: bool) -> ServerInvite {
        ServerInvite {
            state: State::Proceeding,
            reliable,
            responded: false,
            retr_ms: 0,
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
            //= RFC 3261 §17.2.1
            //# If a request retransmission is received while in the
            //# "Proceeding" state, the most recent provisional response that
            //# was received from the TU MUST be passed to the transport layer
            //# for retransmission.
            (S::Proceeding, E::Request) => {
                if self.responded {
                    out.push(Action::Send(Outgoing::Response));
                }
                S::Proceeding
            }
            (S::Proceeding, E::Response(c)) if c < 200 => {
                self.responded = true;
                out.push(Action::Send(Outgoing::Response));
                S::Proceeding
            }
            //= RFC 6026 §8.5
            //# If, while in the "Proceeding" state, the TU passes a 2xx
            //# response to the server transaction, the server transaction MUST
            //# pass this response to the transport layer for transmission. ...
            //# The server transaction MUST then transition to the "Accepted"
            //# state.
            (S::Proceeding, E::Response(c)) if c < 300 => {
                self.responded = true;
                out.push(Action::Send(Outgoing::Response));
                out.push(Action::Arm(T::L, cfg.duration(T::L, self.reliable)));
                S::Accepted
            }
            //= RFC 3261 §17.2.1
            //# While in the "Proceeding" state, if the TU passes a response
            //# with status code from 300 to 699 to the server transaction, the
            //# response MUST be passed to the transport layer for transmission,
            //# and the state machine MUST enter the "Completed" state.  For
            //# unreliable transports, timer G is set to fire in T1 seconds
            //# ... timer H MUST be set to fire in 64*T1 seconds for all
            //# transports.
            (S::Proceeding, E::Response(_)) => {
                self.responded = true;
                out.push(Action::Send(Outgoing::Response));
                if !self.reliable {
                    let g = cfg.duration(T::G, false);
                    self.retr_ms = u32::try_from(g.as_millis()).unwrap_or(u32::MAX);
                    out.push(Action::Arm(T::G, g));
                }
                out.push(Action::Arm(T::H, cfg.duration(T::H, self.reliable)));
                S::Completed
            }
            (S::Proceeding, E::TransportError) => {
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            (S::Completed, E::Request) => {
                out.push(Action::Send(Outgoing::Response));
                S::Completed
            }
            //# If timer G fires, the response is passed to the transport layer
            //# once more for retransmission, and timer G is set to fire in
            //# MIN(2*T1, T2) seconds.
            (S::Completed, E::TimerFired(T::G)) => {
                let next = cfg.next_interval(T::G, Duration::from_millis(self.retr_ms.into()));
                self.retr_ms = u32::try_from(next.as_millis()).unwrap_or(u32::MAX);
                out.push(Action::Send(Outgoing::Response));
                out.push(Action::Arm(T::G, next));
                S::Completed
            }
            //# If timer H fires while in the "Completed" state, it implies that
            //# the ACK was never received.  In this case, the server
            //# transaction MUST transition to the "Terminated" state, and MUST
            //# indicate to the TU that a transaction failure has occurred.
            (S::Completed, E::TimerFired(T::H)) => {
                out.push(Action::Cancel(T::G));
                out.push(Action::PassUp(Up::Timeout));
                S::Terminated
            }
            //# If an ACK is received while the server transaction is in the
            //# "Completed" state, the server transaction MUST transition to the
            //# "Confirmed" state.  As Timer G is ignored in this state, any
            //# retransmissions of the response will cease.
            (S::Completed, E::Ack) => {
                out.push(Action::Cancel(T::G));
                out.push(Action::Cancel(T::H));
                out.push(Action::Arm(T::I, cfg.duration(T::I, self.reliable)));
                S::Confirmed
            }
            (S::Completed, E::TransportError) => {
                out.push(Action::Cancel(T::G));
                out.push(Action::Cancel(T::H));
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            (S::Confirmed, E::Ack | E::Request) => S::Confirmed,
            (S::Confirmed, E::TimerFired(T::I)) => S::Terminated,
            //= RFC 6026 §8.7
            //# The server transaction MUST NOT generate 2xx retransmissions
            //# on its own.  Any retransmission of the 2xx response passed from
            //# the TU to the transaction while in the "Accepted" state MUST be
            //# passed to the transport layer for transmission.  Any
            //# retransmissions of the INVITE received while in the "Accepted"
            //# state MUST NOT be passed to the TU.
            (S::Accepted, E::Request) => S::Accepted,
            (S::Accepted, E::Response(c)) if (200..300).contains(&c) => {
                out.push(Action::Send(Outgoing::Response));
                S::Accepted
            }
            //= RFC 6026 §8.7
            //# When the INVITE server transaction is in the "Accepted" state,
            //# ... any ACK received that matches the transaction MUST be passed
            //# to the TU.
            (S::Accepted, E::Ack) => {
                out.push(Action::PassUp(Up::Ack));
                S::Accepted
            }
            (S::Accepted, E::TransportError) => {
                out.push(Action::PassUp(Up::TransportError));
                S::Accepted
            }
            //# If Timer L fires while the INVITE server transaction is in the
            //# "Accepted" state, the transaction MUST transition to the
            //# "Terminated" state.
            (S::Accepted, E::TimerFired(T::L)) => S::Terminated,
            _ => return Handled::Ignored,
        };
        if next == S::Terminated {
            out.push(Action::Terminated);
        }
        self.state = next;
        Handled::Yes
    }
}
