//! What shards send each other over the channel mesh.
//!
//! Two things cross shards: bytes that must leave on a stream connection
//! another shard owns, and responses for a transaction another shard owns
//! (its branch names the shard). Sends never wait: a full channel drops the
//! message (the sender counts it), as a saturated socket would.

use sipshard_core::route_io::{Inbound, Outbound};

/// A message from one shard to another.
#[derive(Debug)]
pub enum CrossShard {
    /// Send these bytes on a connection the receiving shard owns.
    Send(Outbound),
    /// A response received here for a transaction of the receiving shard.
    Response { bytes: Vec<u8>, inb: Inbound },
}
