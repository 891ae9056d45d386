//! sipshard-shards: the runtime that puts a routing program on the wire.
//!
//! One glommio executor per shard, pinned to a CPU. Each shard owns:
//! - a UDP socket per `listen=udp:` address, bound with `SO_REUSEPORT` so the
//!   kernel spreads datagrams over the shards by 4-tuple ([`udp`]);
//! - a TCP listener per `listen=tcp:` address (also `SO_REUSEPORT`) and the
//!   connections it accepted or opened, with an idle timeout and limits on
//!   header and body size ([`tcp`]);
//! - its routing state (`$var`s, resolver cache);
//! - with several shards, a UDP socket of its own beside each UDP listen
//!   address, which the requests it relays leave from, so that their
//!   responses come straight back to it ([`own_ports`]).
//!
//! Shards share nothing on the hot path. A message that must leave on a TCP
//! connection owned by another shard travels there over a glommio channel
//! mesh ([`mesh`]); which shard owns the connection to a peer is read from a
//! copy-on-write index without locks ([`conn_index`]).
//!
//! What the runtime does not do: parse routing logic or decide anything about
//! SIP. It parses messages with `sipshard_core::sip`, hands them to a
//! [`Router`](sipshard_core::route_io::Router), and sends what the router
//! asks for.

pub mod conn_index;
pub mod control;
pub mod env;
pub mod interfaces;
pub mod logger;
pub mod mesh;
pub mod metrics;
pub mod own_ports;
pub mod resolve;
pub mod server;
pub mod shard;
pub mod sockets;
pub mod tcp;
pub mod udp;
pub mod udp_batch;
pub mod udp_io;

pub use server::{run, run_with, RunError, ServerConfig};
