//! Stateless proxy logic (RFC 3261 §16.11).
