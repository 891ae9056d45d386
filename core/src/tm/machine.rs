//! Inputs and outputs shared by the four transaction machines.
//!
//! A machine never holds message bytes: `Action::Send(Outgoing::Request)`
//! means "send the request this transaction was created for again", and the
//! owner (the proxy transaction in [`super::proxy`]) keeps those bytes once.

use std::time::Duration;

use smallvec::SmallVec;

use super::timers::TimerKind;

/// What happens to a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Server: a retransmission of the request arrived from the network.
    Request,
    /// Server INVITE: an ACK matching the transaction arrived.
    Ack,
    /// Client: a response arrived. Server: the TU sends this response.
    Response(u16),
    TimerFired(TimerKind),
    /// The transport could not send (RFC 3261 §17.1.4, §17.2.4).
    TransportError,
}

/// What the owner must send; the bytes are kept by the owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outgoing {
    /// Client: the request (first transmission or retransmission).
    Request,
    /// Client INVITE: an ACK for the non-2xx final response just received
    /// (§17.1.1.3).
    Ack,
    /// Server: the most recent response the TU gave.
    Response,
}

/// What the machine tells its TU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Up {
    /// Client: a response to pass up.
    Response(u16),
    /// Server INVITE in Accepted: an ACK for a 2xx (RFC 6026 §8.7).
    Ack,
    /// The transaction timed out (Timer B, F or H).
    Timeout,
    TransportError,
}

/// One output of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Send(Outgoing),
    PassUp(Up),
    Arm(TimerKind, Duration),
    Cancel(TimerKind),
    /// The transaction is over; its state can be freed.
    Terminated,
}

/// Outputs of one step (rarely more than four).
pub type Actions = SmallVec<[Action; 4]>;

/// Whether the machine acted on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Yes,
    /// The event means nothing in the current state (a stray timer, a
    /// response after termination); nothing was output.
    Ignored,
}
