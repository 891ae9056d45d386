//! Transport-mode ESP on whole IP packets (RFC 4303 §3.1.1): take a UDP or
//! TCP packet over IPv4 or IPv6 and put ESP (optionally inside UDP, RFC
//! 3948) between its IP header and its segment, and the reverse. The IP
//! header is kept; only its protocol, length and checksum change.

use crate::esp::Opened;
use crate::ip::{self, proto, IpError, IpView};
use crate::sa::{SecurityAssociation, SeqNo};
use crate::udp_encap::{self, EncapPayload, NotEncapsulatedEsp, UdpEncap, UDP_HEADER_LEN};
use crate::EspError;

/// Why a whole packet could not be protected or unprotected.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportError {
    /// The IP packet is malformed.
    Ip(IpError),
    /// The ESP layer refused it.
    Esp(EspError),
    /// The packet carries another protocol than ESP (or UDP, when encapsulated).
    NotEsp { protocol: u8 },
    /// The UDP header of an encapsulated packet is malformed.
    BadUdp,
    /// The UDP payload is not encapsulated ESP.
    Encap(NotEncapsulatedEsp),
    /// An RFC 3948 NAT keepalive (0xFF): nothing to decrypt.
    NatKeepalive,
    /// An RFC 3948 non-ESP marker: IKE, not ESP.
    NonEspMarker,
}

impl From<IpError> for TransportError {
    fn from(e: IpError) -> Self {
        Self::Ip(e)
    }
}

impl From<EspError> for TransportError {
    fn from(e: EspError) -> Self {
        Self::Esp(e)
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(e) => e.fmt(f),
            Self::Esp(e) => e.fmt(f),
            Self::NotEsp { protocol } => {
                write!(
                    f,
                    "IP protocol is {protocol}, not ESP (50) or UDP-encapsulated ESP"
                )
            }
            Self::BadUdp => f.write_str("malformed UDP header around encapsulated ESP"),
            Self::Encap(e) => e.fmt(f),
            Self::NatKeepalive => f.write_str("NAT keepalive (RFC 3948 §2.3), not an ESP packet"),
            Self::NonEspMarker => f.write_str("non-ESP marker (RFC 3948 §2.2): IKE, not ESP"),
        }
    }
}

impl std::error::Error for TransportError {}

/// Protects `packet` with the SA's next sequence number and a fresh IV and
/// appends the ESP packet (IP header first) to `out`.
pub fn protect(
    sa: &SecurityAssociation,
    packet: &[u8],
    encap: Option<UdpEncap>,
    out: &mut Vec<u8>,
) -> Result<SeqNo, TransportError> {
    let view = IpView::parse(packet)?;
    let mut esp = Vec::with_capacity(crate::esp::sealed_len(sa.cipher(), view.payload.len()));
    let seq = sa.seal(view.protocol, view.payload, &mut esp)?;
    wrap(&view, &esp, encap, out)?;
    Ok(seq)
}

/// As [`protect`] with a given sequence number and IV (reproducible output).
pub fn protect_with(
    sa: &SecurityAssociation,
    seq: SeqNo,
    iv: &[u8],
    packet: &[u8],
    encap: Option<UdpEncap>,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    let view = IpView::parse(packet)?;
    let mut esp = Vec::with_capacity(crate::esp::sealed_len(sa.cipher(), view.payload.len()));
    sa.seal_with(seq, iv, view.protocol, view.payload, &mut esp)?;
    wrap(&view, &esp, encap, out)
}

fn wrap(
    view: &IpView<'_>,
    esp: &[u8],
    encap: Option<UdpEncap>,
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    match encap {
        None => {
            view.write_header(proto::ESP, esp.len(), out)?;
            out.extend_from_slice(esp);
        }
        Some(udp) => {
            view.write_header(proto::UDP, UDP_HEADER_LEN + esp.len(), out)?;
            udp.write(view.src, view.dst, esp, out);
        }
    }
    Ok(())
}

/// Unprotects a whole IP packet carrying ESP (or ESP in UDP when
/// `udp_encap`), decrypting in place, and appends the inner packet to `out`:
/// in transport mode the outer header with protocol = next header and the
/// length and checksum fixed; in tunnel mode (next header 4 or 41) the
/// inner IP packet as it is.
pub fn unprotect(
    sa: &SecurityAssociation,
    packet: &mut [u8],
    udp_encap: bool,
    out: &mut Vec<u8>,
) -> Result<Opened, TransportError> {
    let view = IpView::parse(packet)?;
    let header = view.header.to_vec();
    let esp_start = header.len();
    let mut esp_end = esp_start + view.payload.len();
    let esp_start = match (udp_encap, view.protocol) {
        (false, proto::ESP) => esp_start,
        (true, proto::UDP) => {
            let udp = view.payload;
            if udp.len() < UDP_HEADER_LEN {
                return Err(TransportError::BadUdp);
            }
            let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
            if udp_len < UDP_HEADER_LEN || udp_len > udp.len() {
                return Err(TransportError::BadUdp);
            }
            esp_end = esp_start + udp_len;
            match udp_encap::classify(&udp[UDP_HEADER_LEN..udp_len]) {
                Ok(EncapPayload::Esp(_)) => esp_start + UDP_HEADER_LEN,
                Ok(EncapPayload::Keepalive) => return Err(TransportError::NatKeepalive),
                Ok(EncapPayload::NonEsp(_)) => return Err(TransportError::NonEspMarker),
                Err(e) => return Err(TransportError::Encap(e)),
            }
        }
        (_, protocol) => return Err(TransportError::NotEsp { protocol }),
    };
    let esp = &mut packet[esp_start..esp_end];
    let opened = sa.open(esp)?;
    let payload = &esp[opened.payload.clone()];
    if matches!(opened.next_header, proto::IPV4 | proto::IPV6) {
        out.extend_from_slice(payload);
    } else {
        ip::write_header(&header, opened.next_header, payload.len(), out)?;
        out.extend_from_slice(payload);
    }
    Ok(opened)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::checksum;
    use crate::sa::tests::params;
    use crate::sa::Direction;

    fn sas() -> (SecurityAssociation, SecurityAssociation) {
        (
            SecurityAssociation::new(params(0x2000, Direction::Outbound)).unwrap(),
            SecurityAssociation::new(params(0x2000, Direction::Inbound)).unwrap(),
        )
    }

    fn udp_v4(body: &[u8]) -> Vec<u8> {
        let mut udp = vec![0x13, 0xc4, 0x18, 0xcc];
        udp.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(body);
        let mut p = Vec::new();
        let header = hex::decode("4500000000010000401100000a0000010a000002").unwrap();
        ip::write_header(&header, 17, udp.len(), &mut p).unwrap();
        p.extend_from_slice(&udp);
        p
    }

    fn tcp_v6(body: &[u8]) -> Vec<u8> {
        let mut header = hex::decode("6000000000000640").unwrap();
        header.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        header.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let mut seg = vec![0u8; 20];
        seg[12] = 0x50;
        seg.extend_from_slice(body);
        let mut p = Vec::new();
        ip::write_header(&header, 6, seg.len(), &mut p).unwrap();
        p.extend_from_slice(&seg);
        p
    }

    #[test]
    fn ipv4_udp_round_trip_restores_the_packet() {
        let (o, i) = sas();
        let inner = udp_v4(b"REGISTER sip:ims.example SIP/2.0\r\n\r\n");
        let mut wire = Vec::new();
        protect(&o, &inner, None, &mut wire).unwrap();
        assert_eq!(wire[9], proto::ESP);
        assert_eq!(checksum(&[&wire[..20]]), 0);
        let mut back = Vec::new();
        let opened = unprotect(&i, &mut wire, false, &mut back).unwrap();
        assert_eq!(opened.next_header, 17);
        assert_eq!(back, inner);
    }

    #[test]
    fn ipv6_tcp_round_trip_with_udp_encapsulation() {
        let (o, i) = sas();
        let inner = tcp_v6(b"SIP/2.0 200 OK\r\n\r\n");
        let mut wire = Vec::new();
        protect(&o, &inner, Some(UdpEncap::default()), &mut wire).unwrap();
        assert_eq!(wire[6], proto::UDP);
        let mut back = Vec::new();
        unprotect(&i, &mut wire, true, &mut back).unwrap();
        assert_eq!(back, inner);
    }

    #[test]
    fn protect_with_is_reproducible() {
        let (o, _) = sas();
        let inner = udp_v4(b"x");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        protect_with(&o, 7, &[1; 16], &inner, None, &mut a).unwrap();
        protect_with(&o, 7, &[1; 16], &inner, None, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_protocol_keepalive_and_marker() {
        let (_, i) = sas();
        let mut plain = udp_v4(b"hello");
        assert_eq!(
            unprotect(&i, &mut plain, false, &mut Vec::new()),
            Err(TransportError::NotEsp { protocol: 17 })
        );
        let mut keepalive = udp_v4(&[0xff]);
        assert_eq!(
            unprotect(&i, &mut keepalive, true, &mut Vec::new()),
            Err(TransportError::NatKeepalive)
        );
        let mut ike = udp_v4(&[0, 0, 0, 0, 1, 2, 3, 4, 5]);
        assert_eq!(
            unprotect(&i, &mut ike, true, &mut Vec::new()),
            Err(TransportError::NonEspMarker)
        );
    }

    #[test]
    fn a_tampered_packet_fails_integrity() {
        let (o, i) = sas();
        let mut wire = Vec::new();
        protect(&o, &udp_v4(b"BYE"), None, &mut wire).unwrap();
        let n = wire.len();
        wire[n - 20] ^= 0x01;
        assert!(matches!(
            unprotect(&i, &mut wire, false, &mut Vec::new()),
            Err(TransportError::Esp(EspError::IntegrityFailure { .. }))
        ));
    }
}
