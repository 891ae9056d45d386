//! sipshard-core: everything about SIP that does not touch a socket.
//!
//! - [`sip`]: the zero-copy parser. A [`sip::Message`] owns the received bytes
//!   and an index of byte ranges; typed views (Via, name-addr, CSeq, URI)
//!   decode lazily. Also TCP stream framing and splicing edits.
//! - [`proxy`]: stateless proxy logic (RFC 3261 §16.11): our Via and its
//!   deterministic branch, reply routing by Via, locally generated replies.
//! - [`script`]: the kamailio.cfg routing language: preprocessor, parser,
//!   compiler to a program that does no name lookups per message, the
//!   function table, and the interpreter.
//! - [`tm`]: transaction state machines (RFC 3261 §17, RFC 6026) and the
//!   per-shard transaction table, driven by messages and timer ticks.
//! - [`route_io`]: the boundary between a compiled program and the runtime
//!   that feeds it messages and sends what it produces.
//!
//! Nothing here imports an executor or opens a socket.

pub mod auth;
pub mod proxy;
pub mod registrar;
pub mod route_io;
pub mod script;
pub mod sip;
pub mod tm;
pub mod transport;
pub mod usrloc;
