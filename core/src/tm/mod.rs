//! Transactions (RFC 3261 §17, RFC 6026) and the stateful proxy core
//! (RFC 3261 §16), sans-IO: messages and timer expiries in, messages to
//! send, timers to arm and events out. See `docs/transactions.md`.
//!
//! - [`timers`]: T1/T2/T4, `fr_timer`, `fr_inv_timer`, ... (Kamailio names)
//!   and a deadline queue driven by the caller's clock.
//! - [`machine`]: the `Event` / `Action` vocabulary of the four machines
//!   [`client_invite`], [`client_non_invite`], [`server_invite`],
//!   [`server_non_invite`] (Figures 5–8 with RFC 6026's Accepted states).
//! - [`key`]: transaction matching (§17.1.3, §17.2.3) and our branch
//!   `z9hG4bK<shard><slot>.<32 hex>.<branch#>`, from which
//!   [`key::owner_shard`] recovers the owning shard.
//! - [`build`]: the hop-by-hop ACK and the CANCEL we generate.
//! - [`best`]: the §16.7 best-response choice.
//! - [`proxy`]: one stateful proxy transaction: server transaction, client
//!   branches, CANCEL, failure handling.
//! - [`table`]: the per-shard table (no lock), bounded, with its timers.

pub mod best;
pub mod build;
pub mod client_invite;
pub mod client_non_invite;
pub mod key;
pub mod machine;
pub mod proxy;
pub mod server_invite;
pub mod server_non_invite;
pub mod stats;
pub mod table;
pub mod timers;
