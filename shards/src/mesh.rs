//! What shards send each other over the channel mesh.
//!
//! Only one thing crosses shards today: bytes that must leave on a stream
//! connection another shard owns. Sends never wait: a full channel drops the
//! message (the sender counts it), as a saturated socket would.

use sipshard_core::route_io::Outbound;

/// A message from one shard to another.
#[derive(Debug)]
pub enum CrossShard {
    /// Send these bytes on a connection the receiving shard owns.
    Send(Outbound),
}
