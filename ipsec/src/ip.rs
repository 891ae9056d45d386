//! Just enough IPv4 (RFC 791) and IPv6 (RFC 8200) to do transport-mode ESP:
//! a checked view of a packet's header and payload, rewriting the header for
//! a new protocol and length, and the Internet checksum (RFC 1071).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used here.
pub mod proto {
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ESP (RFC 4303).
    pub const ESP: u8 = 50;
    /// IPv4-in-IP (tunnel mode).
    pub const IPV4: u8 = 4;
    /// IPv6-in-IP (tunnel mode).
    pub const IPV6: u8 = 41;
}

const IPV6_HEADER_LEN: usize = 40;

/// What is wrong with an IP packet.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpError {
    /// Fewer bytes than the header or the length field says.
    Truncated { len: usize, needed: usize },
    /// The version nibble is neither 4 nor 6.
    NotIp { version: u8 },
    /// IPv4 IHL below 5.
    BadHeaderLength { ihl: u8 },
    /// An IPv4 fragment: reassemble before ESP processing (RFC 4303 §3.4.1).
    Fragment,
    /// An IPv6 extension header this code does not walk.
    UnsupportedIpv6Header { next_header: u8 },
}

impl std::fmt::Display for IpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::Truncated { len, needed } => {
                write!(f, "IP packet truncated: {len} bytes, {needed} needed")
            }
            Self::NotIp { version } => write!(f, "not an IP packet (version nibble {version})"),
            Self::BadHeaderLength { ihl } => write!(f, "bad IPv4 header length (IHL {ihl})"),
            Self::Fragment => f.write_str("IPv4 fragment: reassemble before ESP processing"),
            Self::UnsupportedIpv6Header { next_header } => {
                write!(f, "IPv6 extension header {next_header} is not supported")
            }
        }
    }
}

impl std::error::Error for IpError {}

/// A checked view of an IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpView<'a> {
    /// The header, options included (IPv4) or the fixed 40 bytes (IPv6).
    pub header: &'a [u8],
    /// Protocol (IPv4) or Next Header (IPv6).
    pub protocol: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// The bytes after the header, cut to the length field (link padding dropped).
    pub payload: &'a [u8],
}

impl<'a> IpView<'a> {
    /// Checks and splits `packet`.
    pub fn parse(packet: &'a [u8]) -> Result<Self, IpError> {
        let first = *packet
            .first()
            .ok_or(IpError::Truncated { len: 0, needed: 1 })?;
        match first >> 4 {
            4 => Self::parse_v4(packet),
            6 => Self::parse_v6(packet),
            version => Err(IpError::NotIp { version }),
        }
    }

    fn parse_v4(p: &'a [u8]) -> Result<Self, IpError> {
        need(p, 20)?;
        let ihl = p[0] & 0x0f;
        if ihl < 5 {
            return Err(IpError::BadHeaderLength { ihl });
        }
        let hlen = usize::from(ihl) * 4;
        let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
        need(p, total.max(hlen))?;
        if total < hlen {
            return Err(IpError::BadHeaderLength { ihl });
        }
        let flags_frag = u16::from_be_bytes([p[6], p[7]]);
        if flags_frag & 0x3fff != 0 {
            return Err(IpError::Fragment);
        }
        Ok(Self {
            header: &p[..hlen],
            protocol: p[9],
            src: IpAddr::V4(Ipv4Addr::new(p[12], p[13], p[14], p[15])),
            dst: IpAddr::V4(Ipv4Addr::new(p[16], p[17], p[18], p[19])),
            payload: &p[hlen..total],
        })
    }

    fn parse_v6(p: &'a [u8]) -> Result<Self, IpError> {
        need(p, IPV6_HEADER_LEN)?;
        let payload_len = usize::from(u16::from_be_bytes([p[4], p[5]]));
        need(p, IPV6_HEADER_LEN + payload_len)?;
        let next = p[6];
        // Hop-by-hop, routing, fragment, destination options, mobility.
        if matches!(next, 0 | 43 | 44 | 60 | 135) {
            return Err(IpError::UnsupportedIpv6Header { next_header: next });
        }
        let addr = |at: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&p[at..at + 16]);
            IpAddr::V6(Ipv6Addr::from(a))
        };
        Ok(Self {
            header: &p[..IPV6_HEADER_LEN],
            protocol: next,
            src: addr(8),
            dst: addr(24),
            payload: &p[IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len],
        })
    }

    /// True for IPv6.
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Appends this header to `out`, rewritten for a payload of
    /// `payload_len` bytes of `protocol` (see [`write_header`]).
    pub fn write_header(
        &self,
        protocol: u8,
        payload_len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), IpError> {
        write_header(self.header, protocol, payload_len, out)
    }
}

/// Appends `header` (an IPv4 header with options, or a 40-byte IPv6 header,
/// as in [`IpView::header`]) rewritten for a payload of `payload_len` bytes
/// of `protocol`: IPv4 total length, protocol and checksum; IPv6 payload
/// length and next header.
pub fn write_header(
    header: &[u8],
    protocol: u8,
    payload_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), IpError> {
    let needed = if header.first().map(|b| b >> 4) == Some(6) {
        IPV6_HEADER_LEN
    } else {
        20
    };
    need(header, needed)?;
    let start = out.len();
    out.extend_from_slice(header);
    let h = &mut out[start..];
    if h[0] >> 4 == 6 {
        let len = u16::try_from(payload_len).map_err(|_| too_long(payload_len))?;
        h[4..6].copy_from_slice(&len.to_be_bytes());
        h[6] = protocol;
    } else {
        let total = header.len() + payload_len;
        let len = u16::try_from(total).map_err(|_| too_long(total))?;
        h[2..4].copy_from_slice(&len.to_be_bytes());
        h[9] = protocol;
        h[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum(&[h]);
        h[10..12].copy_from_slice(&sum.to_be_bytes());
    }
    Ok(())
}

fn too_long(len: usize) -> IpError {
    IpError::Truncated {
        len: 65_535,
        needed: len,
    }
}

fn need(p: &[u8], needed: usize) -> Result<(), IpError> {
    if p.len() < needed {
        Err(IpError::Truncated {
            len: p.len(),
            needed,
        })
    } else {
        Ok(())
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`,
/// each of even length except possibly the last.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
    }
    !(sum as u16)
}

/// The UDP checksum (RFC 768, RFC 8200 §8.1) of `segment` (header with a
/// zero checksum field, then data) between `src` and `dst`. A computed 0 is
/// sent as 0xffff.
pub fn udp_checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    let len = (segment.len() as u32).to_be_bytes();
    let sum = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let l = (segment.len() as u16).to_be_bytes();
            checksum(&[&s.octets(), &d.octets(), &[0, proto::UDP], &l, segment])
        }
        (s, d) => {
            let (s, d) = (v6_octets(s), v6_octets(d));
            checksum(&[&s, &d, &len, &[0, 0, 0, proto::UDP], segment])
        }
    };
    if sum == 0 {
        0xffff
    } else {
        sum
    }
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// A 28-byte IPv4/UDP packet with a correct header checksum
    /// (10.0.0.1 → 10.0.0.2, 5060 → 5060, 0 bytes of data).
    const V4: &str = "4500001c00010000401166ce0a0000010a00000213c413c4000800000000";

    #[test]
    fn parses_ipv4_and_drops_link_padding() {
        let p = h(V4);
        let v = IpView::parse(&p).unwrap();
        assert_eq!(v.protocol, proto::UDP);
        assert_eq!(v.src, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(v.payload.len(), 8);
        assert_eq!(checksum(&[v.header]), 0, "the header checksum is valid");
    }

    #[test]
    fn rewrites_ipv4_protocol_length_and_checksum() {
        let p = h(V4);
        let v = IpView::parse(&p).unwrap();
        let mut out = Vec::new();
        v.write_header(proto::ESP, 100, &mut out).unwrap();
        assert_eq!(out[9], 50);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 120);
        assert_eq!(checksum(&[&out]), 0);
    }

    #[test]
    fn parses_and_rewrites_ipv6() {
        let mut p = h("6000000000081140");
        p.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        p.extend_from_slice(&h("13c413c400080000"));
        let v = IpView::parse(&p).unwrap();
        assert!(v.is_v6());
        assert_eq!((v.protocol, v.payload.len()), (17, 8));
        let mut out = Vec::new();
        v.write_header(proto::ESP, 300, &mut out).unwrap();
        assert_eq!((out[6], u16::from_be_bytes([out[4], out[5]])), (50, 300));
    }

    #[test]
    fn malformed_packets() {
        assert_eq!(
            IpView::parse(&[]),
            Err(IpError::Truncated { len: 0, needed: 1 })
        );
        assert_eq!(
            IpView::parse(&[0x55; 40]),
            Err(IpError::NotIp { version: 5 })
        );
        let mut p = h(V4);
        p[0] = 0x44;
        assert_eq!(IpView::parse(&p), Err(IpError::BadHeaderLength { ihl: 4 }));
        let mut p = h(V4);
        p[6] = 0x20; // MF
        assert_eq!(IpView::parse(&p), Err(IpError::Fragment));
        let p = h(V4);
        assert!(matches!(
            IpView::parse(&p[..25]),
            Err(IpError::Truncated { .. })
        ));
        let mut p6 = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        p6.resize(40, 0);
        assert_eq!(
            IpView::parse(&p6),
            Err(IpError::UnsupportedIpv6Header { next_header: 0 })
        );
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2.
        assert_eq!(checksum(&[&h("0001f203f4f5f6f7")]), !0xddf2);
        // An odd tail is padded with a zero byte.
        assert_eq!(checksum(&[&h("01")]), !0x0100);
    }
}
