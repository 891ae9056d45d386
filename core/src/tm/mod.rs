//! Transactions (RFC 3261 §17, RFC 6026): sans-IO state machines and the per-shard table.
