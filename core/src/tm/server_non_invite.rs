//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!                                   |Request received
//!                                   |pass to TU
//!                                   V
//!                             +-----------+
//!                             |           |
//!                             | Trying    |-------------+
//!                             |           |             |
//!                             +-----------+             |200-699 from TU
//!                                   |                   |send response
//!                                   |1xx from TU        |
//!                                   |send response      |
//!                                   |                   |
//!                Request            V      1xx from TU  |
//!                send response+-----------+send response|
//!                    +--------|           |--------+    |
//!                    |        | Proceeding|        |    |
//!                    +------->|           |<-------+    |
//!             +<--------------|           |             |
//!             |Trnsprt Err    +-----------+             |
//!             |Inform TU            |                   |
//!             |                     |                   |
//!             |                     |200-699 from TU    |
//!             |                     |send response      |
//!             |  Request            V                   |
//!             |  send response+-----------+             |
//!             |      +--------|           |             |
//!             |      |        | Completed |<------------+
//!             |      +------->|           |
//!             +<--------------|           |
//!             |Trnsprt Err    +-----------+
//!             |Inform TU            |
//!             |                     |Timer J fires
//!             |                     |-
//!             |                     |
//!             |                     V
//!             |               +-----------+
//!             |               |           |
//!             +-------------->| Terminated|
//!                             |           |
//!                             +-----------+
//! ```

use super::machine::{Action, Actions, Event, Handled, Outgoing, Up};
use super::timers::{TimerConfig, TimerKind};

/// States of Figure 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE server transaction.
#[derive(Debug, Clone)]
pub struct ServerNonInvite {
    state: State,
    reliable: bool,
}

impl ServerNonInvite {
    /// Creates the transaction for a received request.
    pub fn new(reliable: bool) -> ServerNonInvite {
        ServerNonInvite {
            state: State::Trying,
            reliable,
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
            //= RFC 3261 §17.2.2
            //# Once in the "Trying" state, any further request
            //# retransmissions are discarded.
            (S::Trying, E::Request) => S::Trying,
            (S::Trying | S::Proceeding, E::Response(c)) if c < 200 => {
                out.push(Action::Send(Outgoing::Response));
                S::Proceeding
            }
            //# If a retransmission of the request is received while in the
            //# "Proceeding" state, the most recently sent provisional response
            //# MUST be passed to the transport layer for retransmission.
            (S::Proceeding | S::Completed, E::Request) => {
                out.push(Action::Send(Outgoing::Response));
                self.state
            }
            //# When the server transaction enters the "Completed" state, it
            //# MUST set Timer J to fire in 64*T1 seconds for unreliable
            //# transports, and zero seconds for reliable transports.
            (S::Trying | S::Proceeding, E::Response(_)) => {
                out.push(Action::Send(Outgoing::Response));
                out.push(Action::Arm(T::J, cfg.duration(T::J, self.reliable)));
                S::Completed
            }
            (S::Proceeding, E::TransportError) => {
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            (S::Completed, E::TransportError) => {
                out.push(Action::Cancel(T::J));
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            (S::Completed, E::TimerFired(T::J)) => S::Terminated,
            _ => return Handled::Ignored,
        };
        if next == S::Terminated {
            out.push(Action::Terminated);
        }
        self.state = next;
        Handled::Yes
    }
}
