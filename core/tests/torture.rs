//! RFC 4475 and RFC 5118 torture messages: one test per file, each with
//! the verdict its RFC section gives. Well-formed messages must parse (and
//! pass `check_request` when the section says an element should act on
//! them) with the values the section calls out; malformed ones must fail
//! with the precise error.

use std::net::Ipv6Addr;

use sipshard_core::proxy::{route_reply, ReplyRouteError};
use sipshard_core::sip::{
    check_request, unsupported_proxy_require, Edits, HeaderName, HostKind, Message, Method,
    ParseError, Scheme, SemanticError,
};
use sipshard_core::transport::Transport;

/// Files whose verdict we do not meet yet. A listed file whose test passes
/// fails the run, so this list can only shrink.
const KNOWN_FAILURES: &[&str] = &[];

fn run(name: &str, f: impl FnOnce() + std::panic::UnwindSafe) {
    if KNOWN_FAILURES.contains(&name) {
        let r = std::panic::catch_unwind(f);
        assert!(
            r.is_err(),
            "{name} now passes: remove it from KNOWN_FAILURES"
        );
    } else {
        f();
    }
}

fn parse(bytes: &[u8]) -> Message {
    Message::parse(bytes.to_vec()).expect("message should parse")
}

/// Parses and passes the request checks.
fn valid(bytes: &[u8]) -> Message {
    let m = parse(bytes);
    if m.is_request() {
        assert_eq!(check_request(&m), Ok(()));
    }
    m
}

fn parse_error(bytes: &[u8]) -> ParseError {
    Message::parse(bytes.to_vec()).expect_err("message must be rejected")
}

fn semantic_error(bytes: &[u8]) -> SemanticError {
    check_request(&parse(bytes)).expect_err("request must be rejected")
}

macro_rules! torture {
    ($($test:ident => $file:literal, |$bytes:ident| $body:expr $(;)?)*) => {
        $(
            #[test]
            fn $test() {
                run($file, || {
                    let $bytes: &[u8] = include_bytes!(concat!("data/", $file));
                    $body
                });
            }
        )*
    };
}

torture! {
    // RFC 4475 §3.1.1.1 A Short Tortuous INVITE.
    wsinv => "rfc4475/wsinv.dat", |b| {
        let m = valid(b);
        assert_eq!(m.method(), Method::Invite);
        assert_eq!(m.call_id(), Some(&b"wsinv.ndaksdj@192.0.2.1"[..]));
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.user, Some(&b"vivekg"[..]));
        assert_eq!(ruri.param(b"unknownparam"), Some(None));
        assert_eq!(m.to_tag(), Some(&b"1918181833n"[..]));
        let from = m.from().unwrap();
        assert_eq!(from.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(&*from.display_name_unquoted().unwrap(), b"J Rosenberg \\\"");
        assert_eq!(m.max_forwards(), Some(68));
        let cseq = m.cseq().unwrap();
        assert_eq!((cseq.number, cseq.method), (9, Method::Invite));
        let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!(vias[0].branch(), Some(&b"390skdjuw"[..]));
        assert_eq!(vias[0].host, b"192.0.2.2");
        assert_eq!((vias[1].transport, vias[1].host), (Some(Transport::Tcp), &b"spindle.example.com"[..]));
        assert_eq!(vias[1].branch(), Some(&b"z9hG4bK9ikj8"[..]));
        assert_eq!(vias[2].branch(), Some(&b"z9hG4bK30239"[..]));
        assert_eq!(m.header(HeaderName::Subject).unwrap().value, b"");
        assert!(m.header_named(b"newfangledheader").unwrap().value.ends_with(b"continued newfangled value"));
        assert_eq!(m.header_named(b"UnknownHeaderWithUnusualValue").unwrap().value, b";;,,;;,;");
        let contact = m.contacts().next().unwrap().unwrap();
        assert_eq!(contact.param(b"newparam"), Some(Some(&b"newvalue"[..])));
        assert_eq!(contact.param(b"q"), Some(Some(&b"0.33"[..])));
        let route = m.routes().next().unwrap().unwrap();
        assert!(route.parsed_uri().unwrap().has_lr());
        assert_eq!(m.body().len(), 150);
    }
    // §3.1.1.2 Wide Range of Valid Characters.
    intmeth => "rfc4475/intmeth.dat", |b| {
        let m = valid(b);
        assert_eq!(m.method(), Method::Other);
        assert_eq!(m.method_bytes(), b"!interesting-Method0123456789_*+`.%indeed'~");
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.host, b"example.com");
        assert_eq!(ruri.user, Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..]));
        assert_eq!(ruri.password, Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..]));
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bK-.!%66*_+`'~"[..]));
        assert_eq!(m.call_id(), Some(&b"intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"[..]));
        assert_eq!(m.from_tag(), Some(&b"_token~1'+`*%!-."[..]));
        assert!(m.from().unwrap().param(b"fromParam''~+*_!.-%").flatten().unwrap().starts_with(b"\""));
        assert_eq!(m.from().unwrap().display_name, Some(&b"token1~` token2'+_ token3*%!.-"[..]));
        assert!(m.header_named(b"extensionHeader-!.%*+_`'~").is_some());
    }
    // §3.1.1.3 Valid Use of the % Escaping Mechanism.
    esc01 => "rfc4475/esc01.dat", |b| {
        let m = valid(b);
        assert_eq!(&*m.ruri().unwrap().user_unescaped().unwrap(), b"sips:user@example.com");
        assert_eq!(&*m.to().unwrap().parsed_uri().unwrap().user_unescaped().unwrap(), b"user");
        let from = m.from().unwrap().parsed_uri().unwrap();
        assert_eq!(&*from.user_unescaped().unwrap(), b"I have spaces");
        let c = m.contacts().next().unwrap().unwrap().parsed_uri().unwrap();
        assert_eq!(c.param(b"n%61me"), Some(Some(&b"v%61lue%25%34%31"[..])));
    }
    // §3.1.1.4 Escaped Nulls in URIs.
    escnull => "rfc4475/escnull.dat", |b| {
        let m = valid(b);
        assert_eq!(&*m.to().unwrap().parsed_uri().unwrap().user_unescaped().unwrap(), b"null-\0-null");
        let users: Vec<Vec<u8>> = m.contacts().map(|c| c.unwrap().parsed_uri().unwrap().user_unescaped().unwrap().into_owned()).collect();
        assert_eq!(users, vec![b"\0".to_vec(), b"\0\0".to_vec()]);
    }
    // §3.1.1.5 Use of % When It Is Not an Escape.
    esc02 => "rfc4475/esc02.dat", |b| {
        let m = valid(b);
        assert_eq!(m.method(), Method::Other);
        assert_eq!(m.method_bytes(), b"RE%47IST%45R");
        assert_eq!(m.top_via().unwrap().branch(), Some(&b"z9hG4bK209%fzsnel234"[..]));
        assert_eq!(m.to().unwrap().display_name, Some(&b"\"%Z%45\""[..]));
        // `C%6Fntact` is not Contact.
        assert_eq!(m.contacts().count(), 2);
        assert!(m.header_named(b"C%6Fntact").is_some());
    }
    // §3.1.1.6 Message with No LWS between Display Name and <.
    lwsdisp => "rfc4475/lwsdisp.dat", |b| {
        let m = valid(b);
        assert_eq!(m.from().unwrap().display_name, Some(&b"caller"[..]));
        assert_eq!(m.from_tag(), Some(&b"323"[..]));
    }
    // §3.1.1.7 Long Values in Header Fields.
    longreq => "rfc4475/longreq.dat", |b| {
        let m = valid(b);
        assert_eq!(m.vias().count(), 34);
        assert!(m.vias().all(|v| v.unwrap().transport == Some(Transport::Tcp)));
        assert!(m.to().unwrap().display_name.unwrap().len() > 100);
        assert!(m.call_id().unwrap().len() > 100);
        assert!(m.from_tag().unwrap().len() > 100);
    }
    // §3.1.1.8 Extra Trailing Octets in a UDP Datagram.
    dblreq => "rfc4475/dblreq.dat", |b| {
        let m = valid(b);
        assert_eq!(m.method(), Method::Register);
        assert_eq!(m.body(), b"");
        assert!(!m.as_bytes().windows(7).any(|w| w == b"INVITE "));
        assert!(b.windows(7).any(|w| w == b"INVITE "));
    }
    // §3.1.1.9 Semicolon-Separated Parameters in URI User Part.
    semiuri => "rfc4475/semiuri.dat", |b| {
        let m = valid(b);
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.user, Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(ruri.host, b"example.com");
        assert_eq!(ruri.params, b"");
        assert_eq!(m.values_of(HeaderName::Accept).count(), 6);
    }
    // §3.1.1.10 Varied and Unknown Transport Types.
    transports => "rfc4475/transports.dat", |b| {
        let m = valid(b);
        let t: Vec<_> = m.vias().map(|v| v.unwrap().transport).collect();
        assert_eq!(t, vec![Some(Transport::Udp), Some(Transport::Sctp), Some(Transport::Tls), None, Some(Transport::Tcp)]);
        assert_eq!(m.vias().nth(3).unwrap().unwrap().transport_bytes, b"UNKNOWN");
    }
    // §3.1.1.11 Multipart MIME Message.
    mpart01 => "rfc4475/mpart01.dat", |b| {
        let m = valid(b);
        assert_eq!(m.method(), Method::Message);
        assert!(m.header(HeaderName::ContentType).unwrap().value.starts_with(b"multipart/mixed"));
        assert_eq!(m.body().len(), m.content_length().unwrap() as usize);
    }
    // §3.1.1.12 Unusual Reason Phrase.
    unreason => "rfc4475/unreason.dat", |b| {
        let m = valid(b);
        assert_eq!(m.status(), Some(200));
        assert!(m.reason().starts_with(b"= 2**3 * 5**2 "));
        assert!(std::str::from_utf8(m.reason()).is_ok());
    }
    // §3.1.1.13 Empty Reason Phrase.
    noreason => "rfc4475/noreason.dat", |b| {
        let m = valid(b);
        assert_eq!(m.status(), Some(100));
        assert_eq!(m.reason(), b"");
    }

    // §3.1.2.1 Extraneous Header Field Separators.
    badinv01 => "rfc4475/badinv01.dat", |b| assert_eq!(parse_error(b), ParseError::BadVia);
    // §3.1.2.2 Content Length Larger Than Message.
    clerr => "rfc4475/clerr.dat", |b| assert_eq!(parse_error(b), ParseError::ContentLengthMismatch);
    // §3.1.2.3 Negative Content-Length.
    ncl => "rfc4475/ncl.dat", |b| assert_eq!(parse_error(b), ParseError::BadContentLength);
    // §3.1.2.4 Request Scalar Fields with Overlarge Values.
    scalar02 => "rfc4475/scalar02.dat", |b| assert_eq!(parse_error(b), ParseError::BadCSeq);
    // §3.1.2.5 Response Scalar Fields with Overlarge Values.
    scalarlg => "rfc4475/scalarlg.dat", |b| assert_eq!(parse_error(b), ParseError::BadCSeq);
    // §3.1.2.6 Unterminated Quoted String in Display Name.
    quotbal => "rfc4475/quotbal.dat", |b| assert_eq!(parse_error(b), ParseError::UnterminatedQuote);
    // §3.1.2.7 <> Enclosing Request-URI.
    ltgtruri => "rfc4475/ltgtruri.dat", |b| assert_eq!(parse_error(b), ParseError::BadRequestUri);
    // §3.1.2.8 Malformed SIP Request-URI (embedded LWS).
    lwsruri => "rfc4475/lwsruri.dat", |b| assert_eq!(parse_error(b), ParseError::BadRequestUri);
    // §3.1.2.9 Multiple SP Separating Request-Line Elements.
    lwsstart => "rfc4475/lwsstart.dat", |b| assert_eq!(parse_error(b), ParseError::BadStartLine);
    // §3.1.2.10 SP Characters at End of Request-Line.
    trws => "rfc4475/trws.dat", |b| assert_eq!(parse_error(b), ParseError::BadStartLine);
    // §3.1.2.11 Escaped Headers in SIP Request-URI.
    escruri => "rfc4475/escruri.dat", |b| assert_eq!(semantic_error(b), SemanticError::HeadersInRequestUri);
    // §3.1.2.12 Invalid Time Zone in Date Header Field: an element that
    // does not need the date (a proxy) accepts it.
    baddate => "rfc4475/baddate.dat", |b| {
        let m = valid(b);
        assert!(m.header_named(b"Date").unwrap().value.ends_with(b"EST"));
    }
    // §3.1.2.13 Failure to Enclose name-addr URI in <>.
    regbadct => "rfc4475/regbadct.dat", |b| {
        assert_eq!(semantic_error(b), SemanticError::BadContact(ParseError::BadNameAddr));
    }
    // §3.1.2.14 Spaces within addr-spec.
    badaspec => "rfc4475/badaspec.dat", |b| assert_eq!(parse_error(b), ParseError::BadUri);
    // §3.1.2.15 Non-token Characters in Display Name.
    baddn => "rfc4475/baddn.dat", |b| assert_eq!(parse_error(b), ParseError::BadDisplayName);
    // §3.1.2.16 Unknown Protocol Version: 505.
    badvers => "rfc4475/badvers.dat", |b| {
        let e = parse_error(b);
        assert_eq!(e, ParseError::BadVersion);
        assert_eq!(e.status(), 505);
    }
    // §3.1.2.17 Start Line and CSeq Method Mismatch.
    mismatch01 => "rfc4475/mismatch01.dat", |b| assert_eq!(semantic_error(b), SemanticError::CSeqMethodMismatch);
    // §3.1.2.18 Unknown Method with CSeq Method Mismatch.
    mismatch02 => "rfc4475/mismatch02.dat", |b| assert_eq!(semantic_error(b), SemanticError::CSeqMethodMismatch);
    // §3.1.2.19 Overlarge Response Code.
    bigcode => "rfc4475/bigcode.dat", |b| assert_eq!(parse_error(b), ParseError::BadStatusCode);

    // §3.2.1 Missing Transaction Identifier.
    badbranch => "rfc4475/badbranch.dat", |b| assert_eq!(semantic_error(b), SemanticError::EmptyBranch);

    // §3.3.1 Missing Required Header Fields.
    insuf => "rfc4475/insuf.dat", |b| assert_eq!(parse_error(b), ParseError::MissingHeader(HeaderName::From));
    // §3.3.2 Request-URI with Unknown Scheme: 416.
    unkscm => "rfc4475/unkscm.dat", |b| {
        let e = semantic_error(b);
        assert_eq!(e, SemanticError::UnsupportedUriScheme);
        assert_eq!(e.status(), 416);
    }
    // §3.3.3 Request-URI with Known but Atypical Scheme: well-formed, and
    // a proxy that cannot route it treats it as unknown (416).
    novelsc => "rfc4475/novelsc.dat", |b| {
        let m = parse(b);
        assert_eq!(m.ruri().unwrap().scheme_bytes, b"soap.beep");
        assert_eq!(check_request(&m), Err(SemanticError::UnsupportedUriScheme));
    }
    // §3.3.4 Unknown URI Schemes in Header Fields: accepted.
    unksm2 => "rfc4475/unksm2.dat", |b| {
        let m = valid(b);
        assert_eq!(m.to().unwrap().parsed_uri().unwrap().scheme, Scheme::Other);
        assert_eq!(m.from().unwrap().parsed_uri().unwrap().scheme_bytes, b"http");
        assert_eq!(m.contacts().next().unwrap().unwrap().uri, b"name:John_Smith");
    }
    // §3.3.5 Proxy-Require and Require: a proxy answers 420 for
    // Proxy-Require and ignores Require.
    bext01 => "rfc4475/bext01.dat", |b| {
        let m = valid(b);
        assert_eq!(unsupported_proxy_require(&m, &[]), Some(&b"noProxiesSupportThis"[..]));
    }
    // §3.3.6 Unknown Content-Type: a proxy forwards it.
    invut => "rfc4475/invut.dat", |b| {
        let m = valid(b);
        assert_eq!(m.header(HeaderName::ContentType).unwrap().value, b"application/unknownformat");
        assert_eq!(m.body().len(), 40);
    }
    // §3.3.7 Unknown Authorization Scheme.
    regaut01 => "rfc4475/regaut01.dat", |b| {
        let m = valid(b);
        assert!(m.header(HeaderName::Authorization).unwrap().value.starts_with(b"NoOneKnowsThisScheme"));
    }
    // §3.3.8 Multiple Values in Single Value Required Fields.
    multi01 => "rfc4475/multi01.dat", |b| {
        assert_eq!(parse_error(b), ParseError::DuplicateHeader(HeaderName::CSeq));
    }
    // §3.3.9 Multiple Content-Length Values.
    mcl01 => "rfc4475/mcl01.dat", |b| {
        assert_eq!(parse_error(b), ParseError::DuplicateHeader(HeaderName::ContentLength));
    }
    // §3.3.10 200 OK Response with Broadcast Via Header Field Value: must
    // not be forwarded to the broadcast address.
    bcast => "rfc4475/bcast.dat", |b| {
        let m = valid(b);
        let r = route_reply(&m, &Edits::new(), |v| v.host == b"192.0.2.198");
        assert_eq!(r, Err(ReplyRouteError::Broadcast));
    }
    // §3.3.11 Max-Forwards of Zero: well-formed (an OPTIONS may be
    // answered, a proxy replies 483 rather than forward).
    zeromf => "rfc4475/zeromf.dat", |b| assert_eq!(valid(b).max_forwards(), Some(0));
    // §3.3.12 REGISTER with a Contact Header Parameter.
    cparam01 => "rfc4475/cparam01.dat", |b| {
        let m = valid(b);
        let c = m.contacts().next().unwrap().unwrap();
        assert!(!c.bracketed);
        assert_eq!(c.params, b";unknownparam");
    }
    // §3.3.13 REGISTER with a url-parameter.
    cparam02 => "rfc4475/cparam02.dat", |b| {
        let m = valid(b);
        let c = m.contacts().next().unwrap().unwrap();
        assert_eq!(c.params, b"");
        assert_eq!(c.parsed_uri().unwrap().param(b"unknownparam"), Some(None));
    }
    // §3.3.14 REGISTER with a URL Escaped Header.
    regescrt => "rfc4475/regescrt.dat", |b| {
        let m = valid(b);
        let c = m.contacts().next().unwrap().unwrap().parsed_uri().unwrap();
        assert_eq!(c.headers, b"Route=%3Csip:sip.example.com%3E");
    }
    // §3.3.15 Unacceptable Accept Offering: a proxy forwards it.
    sdp01 => "rfc4475/sdp01.dat", |b| {
        assert_eq!(valid(b).header(HeaderName::Accept).unwrap().value, b"text/nobodyKnowsThis");
    }
    // §3.4.1 INVITE with RFC 2543 Syntax: accepted.
    inv2543 => "rfc4475/inv2543.dat", |b| {
        let m = valid(b);
        let via = m.top_via().unwrap();
        assert_eq!(via.branch(), None);
        assert!(!via.has_rfc3261_branch());
        assert_eq!(m.from_tag(), None);
        assert_eq!(m.max_forwards(), None);
    }

    // RFC 5118 §4.1 Valid SIP Message with an IPv6 Reference.
    ipv6_good => "rfc5118/ipv6-good.dat", |b| {
        let m = valid(b);
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.host_kind, HostKind::Ipv6);
        assert_eq!(ruri.host_unbracketed(), b"2001:db8::10");
        assert_eq!(m.top_via().unwrap().host_unbracketed(), b"2001:db8::9:1");
    }
    // §4.2 Invalid SIP Message with an IPv6 Reference.
    ipv6_bad => "rfc5118/ipv6-bad.dat", |b| {
        assert_eq!(semantic_error(b), SemanticError::BadRequestUri(ParseError::BadHost));
    }
    // §4.3 Port Ambiguous in a SIP URI.
    port_ambiguous => "rfc5118/port-ambiguous.dat", |b| {
        let m = valid(b);
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.host_unbracketed(), b"2001:db8::10:5070");
        assert_eq!(ruri.port, None);
    }
    // §4.4 Port Unambiguous in a SIP URI.
    port_unambiguous => "rfc5118/port-unambiguous.dat", |b| {
        let m = valid(b);
        let ruri = m.ruri().unwrap();
        assert_eq!(ruri.host_unbracketed(), b"2001:db8::10");
        assert_eq!(ruri.port, Some(5070));
    }
    // §4.5 IPv6 Reference Delimiters in Via Header: both forms accepted.
    via_received_with_delim => "rfc5118/via-received-param-with-delim.dat", |b| {
        let m = valid(b);
        assert_eq!(m.top_via().unwrap().received_ip(), Some("2001:db8::9:255".parse().unwrap()));
    }
    via_received_no_delim => "rfc5118/via-received-param-no-delim.dat", |b| {
        let m = valid(b);
        assert_eq!(m.top_via().unwrap().received_ip(), Some("2001:db8::9:255".parse().unwrap()));
    }
    // §4.6 SIP Request with IPv6 Addresses in SDP Body.
    ipv6_in_sdp => "rfc5118/ipv6-in-sdp.dat", |b| {
        let m = valid(b);
        assert!(m.body().windows(7).any(|w| w == b"IN IP6 "));
        assert_eq!(m.body().len(), m.content_length().unwrap() as usize);
    }
    // §4.7 Multiple IP Addresses in SIP Headers.
    mult_ip_in_header => "rfc5118/mult-ip-in-header.dat", |b| {
        let m = valid(b);
        let vias: Vec<_> = m.vias().map(Result::unwrap).collect();
        assert_eq!(vias.len(), 3);
        assert_eq!((vias[0].host_kind, vias[0].port), (HostKind::Ipv6, Some(6050)));
        assert_eq!(vias[1].host_kind, HostKind::Ipv4);
        assert_eq!(vias[2].received(), Some(&b"192.0.2.200"[..]));
    }
    // §4.8 Multiple IP Addresses in SDP.
    mult_ip_in_sdp => "rfc5118/mult-ip-in-sdp.dat", |b| {
        let m = valid(b);
        assert!(m.body().windows(7).any(|w| w == b"IN IP4 "));
        assert!(m.body().windows(7).any(|w| w == b"IN IP6 "));
    }
    // §4.9 IPv4-Mapped IPv6 Addresses.
    ipv4_mapped_ipv6 => "rfc5118/ipv4-mapped-ipv6.dat", |b| {
        let m = valid(b);
        let via = m.top_via().unwrap();
        let mapped: Ipv6Addr = "::ffff:192.0.2.10".parse().unwrap();
        assert_eq!(via.host_ip(), Some(mapped.into()));
        assert_eq!(via.port, Some(19823));
    }
    // §4.10 IPv6 Reference Bug in RFC 3261 ABNF: three colons are invalid
    // (RFC 5954), two are valid.
    ipv6_3_colons => "rfc5118/ipv6-bug-abnf-3-colons.dat", |b| assert_eq!(parse_error(b), ParseError::BadHost);
    ipv6_2_colons => "rfc5118/ipv6-correct-abnf-2-colons.dat", |b| {
        let m = valid(b);
        assert_eq!(m.ruri().unwrap().host_unbracketed(), b"2001:db8::192.0.2.1");
    }
}

/// Every data file has a test above (a new file cannot be forgotten).
#[test]
fn every_file_has_a_verdict() {
    let me = include_str!("torture.rs");
    for dir in ["rfc4475", "rfc5118"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(dir);
        for entry in std::fs::read_dir(path).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            let key = format!("\"{dir}/{name}\"");
            assert!(me.contains(&key), "no test for {key}");
        }
    }
}
