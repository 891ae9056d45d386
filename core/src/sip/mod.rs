//! Zero-copy SIP message parser (RFC 3261 §7, §20, §25; RFC 3581; RFC 5118).
