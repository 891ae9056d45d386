//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!                                    |Request from TU
//!                                    |send request
//!                Timer E             V
//!                send request  +-----------+
//!                    +---------|           |-------------------+
//!                    |         |  Trying   |  Timer F          |
//!                    +-------->|           |  or Transport Err.|
//!                              +-----------+  inform TU        |
//!                 200-699         |  |                         |
//!                 resp. to TU     |  |1xx                      |
//!                 +---------------+  |resp. to TU              |
//!                 |                  |                         |
//!                 |   Timer E        V       Timer F           |
//!                 |   send req +-----------+ or Transport Err. |
//!                 |  +---------|           | inform TU         |
//!                 |  |         |Proceeding |------------------>|
//!                 |  +-------->|           |-----+             |
//!                 |            +-----------+     |1xx          |
//!                 |              |      ^        |resp to TU   |
//!                 | 200-699      |      +--------+             |
//!                 | resp. to TU  |                             |
//!                 |              |                             |
//!                 |              V                             |
//!                 |            +-----------+                   |
//!                 |            |           |                   |
//!                 |            | Completed |                   |
//!                 |            |           |                   |
//!                 |            +-----------+                   |
//!                 |              ^   |                         |
//!                 |              |   | Timer K                 |
//!                 +--------------+   | -                       |
//!                                    |                         |
//!                                    V                         |
//!              NOTE:           +-----------+                   |
//!                              |           |                   |
//!          transitions         | Terminated|<------------------+
//!          labeled with        |           |
//!          the event           +-----------+
//!          over the action
//!          to take
//! ```
//!
//! Timer F is `fr_timer` (Kamailio) or 64·T1 (RFC profile).

use std::time::Duration;

use super::machine::{Action, Actions, Event, Handled, Outgoing, Up};
use super::timers::{TimerConfig, TimerKind};

/// States of Figure 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

/// A non-INVITE client transaction (also used for the CANCELs we send).
#[derive(Debug, Clone)]
pub struct ClientNonInvite {
    state: State,
    reliable: bool,
    /// Current Timer E interval in ms.
    retr_ms: u32,
}

impl ClientNonInvite {
    /// Starts the transaction: the request goes out, Timers E and F run.
    pub fn start(cfg: &TimerConfig, reliable: bool, out: &mut Actions) -> ClientNonInvite {
        //= RFC 3261 §17.1.2.2
        //# The "Trying" state is entered when the TU initiates a new client
        //# transaction with a request.  When entering this state, the client
        //# transaction SHOULD set timer F to fire in 64*T1 seconds. ... If an
        //# unreliable transport is in use, the client transaction MUST set
        //# timer E to fire in T1 seconds.
        out.push(Action::Send(Outgoing::Request));
        let e = cfg.duration(TimerKind::E, reliable);
        if !reliable {
            out.push(Action::Arm(TimerKind::E, e));
        }
        out.push(Action::Arm(
            TimerKind::F,
            cfg.duration(TimerKind::F, reliable),
        ));
        ClientNonInvite {
            state: State::Trying,
            reliable,
            retr_ms: u32::try_from(e.as_millis()).unwrap_or(u32::MAX),
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
            //# If timer E fires while still in this state, the timer is reset,
            //# but this time with a value of MIN(2*T1, T2).
            (S::Trying, E::TimerFired(T::E)) => {
                let next = cfg.next_interval(T::E, Duration::from_millis(self.retr_ms.into()));
                self.retr_ms = u32::try_from(next.as_millis()).unwrap_or(u32::MAX);
                out.push(Action::Send(Outgoing::Request));
                out.push(Action::Arm(T::E, next));
                S::Trying
            }
            //# If Timer E fires while in the "Proceeding" state, the request
            //# MUST be passed to the transport layer for retransmission, and
            //# Timer E MUST be reset with a value of T2 seconds.
            (S::Proceeding, E::TimerFired(T::E)) => {
                out.push(Action::Send(Outgoing::Request));
                out.push(Action::Arm(T::E, cfg.t2));
                S::Proceeding
            }
            //# If Timer F fires while the client transaction is still in the
            //# "Trying" state, the client transaction SHOULD inform the TU
            //# about the timeout, and then it SHOULD enter the "Terminated"
            //# state.
            (S::Trying | S::Proceeding, E::TimerFired(T::F)) => {
                out.push(Action::Cancel(T::E));
                out.push(Action::PassUp(Up::Timeout));
                S::Terminated
            }
            (S::Trying | S::Proceeding, E::TransportError) => {
                out.push(Action::Cancel(T::E));
                out.push(Action::Cancel(T::F));
                out.push(Action::PassUp(Up::TransportError));
                S::Terminated
            }
            (S::Trying | S::Proceeding, E::Response(c)) if c < 200 => {
                out.push(Action::PassUp(Up::Response(c)));
                S::Proceeding
            }
            //# If a final response (status codes 200-699) is received while in
            //# the "Trying" state, the response MUST be passed to the TU, and
            //# the client transaction MUST transition to the "Completed" state.
            (S::Trying | S::Proceeding, E::Response(c)) => {
                out.push(Action::Cancel(T::E));
                out.push(Action::Cancel(T::F));
                out.push(Action::PassUp(Up::Response(c)));
                //= RFC 3261 §17.1.2.2
                //# Once the client transaction enters the "Completed" state, it
                //# MUST set Timer K to fire in T4 seconds for unreliable
                //# transports, and zero seconds for reliable transports.
                out.push(Action::Arm(T::K, cfg.duration(T::K, self.reliable)));
                S::Completed
            }
            (S::Completed, E::Response(_)) => S::Completed,
            (S::Completed, E::TimerFired(T::K)) => S::Terminated,
            _ => return Handled::Ignored,
        };
        if next == S::Terminated {
            out.push(Action::Terminated);
        }
        self.state = next;
        Handled::Yes
    }
}
