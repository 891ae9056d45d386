//! Stateless proxy logic (RFC 3261 §16.11; RFC 3581), sans-IO.
//!
//! - [`branch`]: the deterministic Via branch of a stateless forward, so a
//!   retransmission, a CANCEL and a non-2xx ACK get the INVITE's branch.
//! - [`via`]: our Via header, and the `received`/`rport` parameters added
//!   to the sender's Via (RFC 3261 §18.2.1, RFC 3581 §4).
//! - [`forward`]: the bytes of a forwarded request (our Via on top plus the
//!   edits the script queued).
//! - [`reply_route`]: forwarding a received response by its Via
//!   (RFC 3261 §18.2.2, RFC 3581 §4).
//! - [`reply`]: locally generated replies and their destination, and a
//!   best-effort 400 for requests that failed to parse.

pub mod branch;
pub mod destination;
pub mod forward;
pub mod reply;
pub mod reply_route;
pub mod via;

pub use branch::{stateless_branch, Branch};
pub use destination::Destination;
pub use forward::{forward_request, forward_stateless};
pub use reply::{
    build_reply, local_to_tag, reply_destination, reply_to_malformed, to_tag_prefix, LocalReply,
    SERVER,
};
pub use reply_route::{reply_bytes, route_reply, KnownVia, ReplyRouteError, RoutedReply};
pub use via::{add_received_rport, build_via, received_rport_inserts, received_rport_inserts_with};
