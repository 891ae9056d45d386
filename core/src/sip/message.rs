//! [`Message`]: the received bytes plus an index of byte ranges. Built by
//! [`Message::parse`] (see `parse.rs`); typed views decode lazily from the
//! ranges and borrow the buffer.

use smallvec::SmallVec;

use super::cseq::CSeq;
use super::error::ParseError;
use super::header::{HeaderEntry, HeaderRef, Values};
use super::header_name::HeaderName;
use super::lex::{parse_decimal, split_commas};
use super::method::Method;
use super::name_addr::{NameAddr, NameAddrSpans};
use super::span::{offset_in, Span};
use super::uri::Uri;
use super::via::{Via, ViaSpans};

/// Inline capacity of the header index; messages with more headers spill
/// to the heap once.
pub const INLINE_HEADERS: usize = 24;

/// The start line, as ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine {
    Request {
        method: Method,
        method_span: Span,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        code: u16,
        reason: Span,
    },
}

/// A parsed SIP message owning its bytes.
///
/// Invariants established by [`Message::parse`]: the start line is valid,
/// Via, From, To, Call-ID and CSeq are present; From, To, Call-ID, CSeq,
/// Max-Forwards and Content-Length appear at most once and are well-formed,
/// as is the top Via value; the body is exactly Content-Length bytes when
/// that header is present.
#[derive(Debug, Clone)]
pub struct Message {
    pub(crate) buf: Vec<u8>,
    pub(crate) start: StartLine,
    pub(crate) start_line: Span,
    pub(crate) headers: SmallVec<[HeaderEntry; INLINE_HEADERS]>,
    /// Offset of the empty line that ends the headers.
    pub(crate) headers_end: u32,
    pub(crate) body_start: u32,
    pub(crate) cseq_number: u32,
    pub(crate) cseq_method: Method,
    pub(crate) cseq_method_span: Span,
    pub(crate) max_forwards: Option<u8>,
    pub(crate) content_length: Option<u32>,
    /// Views `parse` validated, kept so that reading them costs nothing.
    pub(crate) cached: Cached,
}

/// The top Via, From, To (with their tags) and Call-ID as found by
/// [`Message::parse`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cached {
    pub(crate) top_via: ViaSpans,
    pub(crate) from: NameAddrSpans,
    pub(crate) to: NameAddrSpans,
    pub(crate) call_id: Span,
}

impl Message {
    /// The message bytes (leading CRLFs and bytes past Content-Length
    /// removed by `parse`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Gives the buffer back.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    pub fn is_response(&self) -> bool {
        !self.is_request()
    }

    /// The start line ranges.
    pub fn start_line(&self) -> StartLine {
        self.start
    }

    /// The whole start line without its CRLF.
    pub fn start_line_span(&self) -> Span {
        self.start_line
    }

    /// The request method; for a response, the CSeq method.
    pub fn method(&self) -> Method {
        match self.start {
            StartLine::Request { method, .. } => method,
            StartLine::Response { .. } => self.cseq_method,
        }
    }

    /// The method as written; for a response, the CSeq method.
    pub fn method_bytes(&self) -> &[u8] {
        match self.start {
            StartLine::Request { method_span, .. } => method_span.of(&self.buf),
            StartLine::Response { .. } => self.cseq_method_span.of(&self.buf),
        }
    }

    /// The Request-URI as written; empty for a response.
    pub fn ruri_bytes(&self) -> &[u8] {
        self.ruri_span().of(&self.buf)
    }

    /// Where the Request-URI lies (empty span for a response), for
    /// rewriting it with an edit.
    pub fn ruri_span(&self) -> Span {
        match self.start {
            StartLine::Request { uri, .. } => uri,
            StartLine::Response { .. } => Span::default(),
        }
    }

    /// The Request-URI, parsed (any scheme). `BadRequestUri` for a response.
    pub fn ruri(&self) -> Result<Uri<'_>, ParseError> {
        match self.start {
            StartLine::Request { uri, .. } => Uri::parse(uri.of(&self.buf)),
            StartLine::Response { .. } => Err(ParseError::BadRequestUri),
        }
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The reason phrase of a response (possibly empty); empty for a request.
    pub fn reason(&self) -> &[u8] {
        match self.start {
            StartLine::Response { reason, .. } => reason.of(&self.buf),
            StartLine::Request { .. } => &[],
        }
    }

    /// The SIP version as written (`SIP/2.0`).
    pub fn version(&self) -> &[u8] {
        match self.start {
            StartLine::Request { version, .. } | StartLine::Response { version, .. } => {
                version.of(&self.buf)
            }
        }
    }

    /// The raw header index, in message order.
    pub fn header_entries(&self) -> &[HeaderEntry] {
        &self.headers
    }

    /// All headers in message order.
    pub fn headers(&self) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers
            .iter()
            .enumerate()
            .map(move |(i, e)| HeaderRef::new(&self.buf, i, e))
    }

    /// All header lines of a known name.
    pub fn headers_of(&self, name: HeaderName) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers().filter(move |h| h.name == name)
    }

    /// The first header line of a known name.
    pub fn header(&self, name: HeaderName) -> Option<HeaderRef<'_>> {
        self.headers_of(name).next()
    }

    /// All header lines whose name matches `name` (any case, full or
    /// compact form, known or unknown header).
    pub fn headers_named<'s, 'n>(
        &'s self,
        name: &'n [u8],
    ) -> impl Iterator<Item = HeaderRef<'s>> + use<'s, 'n> {
        let want = HeaderName::from_bytes(name);
        self.headers().filter(move |h| {
            if want != HeaderName::Other {
                h.name == want
            } else {
                h.name == HeaderName::Other && HeaderName::matches(name, h.name_bytes)
            }
        })
    }

    /// The first header line whose name matches `name`.
    pub fn header_named(&self, name: &[u8]) -> Option<HeaderRef<'_>> {
        self.headers_named(name).next()
    }

    /// True when a header of that name is present (`is_present_hf`).
    pub fn has_header_named(&self, name: &[u8]) -> bool {
        self.header_named(name).is_some()
    }

    /// The comma-separated values of every header line matching `name`,
    /// in order.
    pub fn values_named<'s, 'n>(
        &'s self,
        name: &'n [u8],
    ) -> impl Iterator<Item = &'s [u8]> + use<'s, 'n> {
        self.headers_named(name).flat_map(|h| Values::new(h.value))
    }

    /// The comma-separated values of every header line of a known name.
    pub fn values_of(&self, name: HeaderName) -> impl Iterator<Item = &[u8]> + '_ {
        self.headers_of(name).flat_map(|h| Values::new(h.value))
    }

    /// The top Via (always `Some` for a message from `parse`, which
    /// validated it; no parsing happens here).
    #[inline(always)]
    pub fn top_via(&self) -> Option<Via<'_>> {
        Some(self.cached.top_via.view(&self.buf))
    }

    /// Every Via value in order, across lines and commas.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> + '_ {
        self.headers_of(HeaderName::Via)
            .flat_map(|h| split_commas(h.value))
            .map(|v| v.map_err(|_| ParseError::BadVia).and_then(Via::parse))
    }

    /// From (always `Some` for a message from `parse`, which validated it).
    pub fn from(&self) -> Option<NameAddr<'_>> {
        Some(self.cached.from.view(&self.buf))
    }

    /// To (always `Some` for a message from `parse`, which validated it).
    pub fn to(&self) -> Option<NameAddr<'_>> {
        Some(self.cached.to.view(&self.buf))
    }

    pub fn from_tag(&self) -> Option<&[u8]> {
        self.cached.from.tag.map(|s| s.of(&self.buf))
    }

    pub fn to_tag(&self) -> Option<&[u8]> {
        self.cached.to.tag.map(|s| s.of(&self.buf))
    }

    /// Call-ID (always `Some` for a message from `parse`).
    pub fn call_id(&self) -> Option<&[u8]> {
        Some(self.cached.call_id.of(&self.buf))
    }

    /// CSeq (always `Some` for a message from `parse`).
    pub fn cseq(&self) -> Option<CSeq<'_>> {
        Some(CSeq {
            number: self.cseq_number,
            method: self.cseq_method,
            method_bytes: self.cseq_method_span.of(&self.buf),
        })
        .filter(|c| !c.method_bytes.is_empty())
    }

    /// Max-Forwards when present (validated to 0..=255 by `parse`).
    pub fn max_forwards(&self) -> Option<u8> {
        self.max_forwards
    }

    /// Content-Length when present.
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }

    /// Expires when present: `Err(BadExpires)` if not a number below 2**32.
    pub fn expires(&self) -> Option<Result<u32, ParseError>> {
        self.header(HeaderName::Expires).map(|h| {
            parse_decimal(h.value, u64::from(u32::MAX))
                .map(|v| v as u32)
                .ok_or(ParseError::BadExpires)
        })
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.body_start as usize..]
    }

    /// Offset where the body starts.
    pub fn body_offset(&self) -> usize {
        self.body_start as usize
    }

    /// Offset of the empty line ending the headers: where a header is
    /// appended.
    pub fn headers_end(&self) -> usize {
        self.headers_end as usize
    }

    /// Contact values, in order. `*` (REGISTER removal) is reported by
    /// [`Message::contact_is_star`] and yields `Err(BadNameAddr)` here.
    pub fn contacts(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Contact)
    }

    /// True when a Contact value is `*`.
    pub fn contact_is_star(&self) -> bool {
        self.values_of(HeaderName::Contact).any(|v| v == b"*")
    }

    /// Route values, in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::Route)
    }

    /// Record-Route values, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.name_addrs(HeaderName::RecordRoute)
    }

    fn name_addrs(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> + '_ {
        self.headers_of(name)
            .flat_map(|h| split_commas(h.value))
            .map(|v| match v {
                Ok(v) => NameAddr::parse(v),
                Err(super::lex::Unbalanced::Quote) => Err(ParseError::UnterminatedQuote),
                Err(super::lex::Unbalanced::Angle) => Err(ParseError::BadNameAddr),
            })
    }

    /// Where a slice borrowed from this message (a view's field) lies in
    /// the buffer, for building edits. None for a foreign slice.
    pub fn span_of(&self, sub: &[u8]) -> Option<Span> {
        offset_in(&self.buf, sub).map(|r| Span::new(r.start, r.end))
    }
}
