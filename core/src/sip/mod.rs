//! Zero-copy SIP message parser (RFC 3261 §7, §20, §25; RFC 3581; RFC 5118).
//!
//! A [`Message`] owns the received bytes (moved in, never copied) and an
//! index of `u32` byte ranges: the start line and one [`HeaderEntry`] per
//! header line. [`Message::parse`] checks only what a proxy needs to
//! process a message (start line, header syntax, the mandatory headers,
//! Content-Length against the body); everything else is decoded lazily by
//! typed views that borrow the buffer: [`Uri`], [`Via`], [`NameAddr`],
//! [`CSeq`]. [`check_request`] adds the semantic checks RFC 4475 expects
//! before a request is acted upon.
//!
//! - [`framing`]: cutting messages out of a TCP/TLS byte stream.
//! - [`edit`]: Kamailio-style "lumps": edits queued against the original
//!   offsets and applied in one pass into a new buffer.
//! - [`scan`]: one field read off bytes the proxy built (no parse).

pub mod cseq;
pub mod edit;
pub mod error;
pub mod exercise;
pub mod framing;
pub mod header;
pub mod header_name;
pub mod host;
pub mod lex;
pub mod message;
pub mod method;
pub mod name_addr;
pub mod params;
mod parse;
pub mod scan;
pub mod semantic;
pub mod span;
pub mod uri;
pub mod via;

pub use cseq::CSeq;
pub use edit::{EditError, Edits};
pub use error::ParseError;
pub use framing::{next_frame, Frame, FramingError, Limits};
pub use header::{HeaderEntry, HeaderRef, Values};
pub use header_name::HeaderName;
pub use host::{HostKind, HostPort};
pub use message::{Message, StartLine};
pub use method::Method;
pub use name_addr::NameAddr;
pub use params::{Param, Params};
pub use semantic::{check_request, unsupported_proxy_require, SemanticError};
pub use span::Span;
pub use uri::{Scheme, Uri};
pub use via::Via;
