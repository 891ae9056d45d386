//! UDP encapsulation of ESP (RFC 3948): what a datagram on the
//! encapsulation port carries, and the 8-byte UDP header put in front of ESP.
//!
//! RFC 3948 §2.2: a payload that starts with four zero bytes (the non-ESP
//! marker) is IKE, not ESP; §2.3: a single 0xFF byte is a NAT keepalive.

use std::net::IpAddr;

use crate::ip::udp_checksum;

/// The IANA port for IKE and UDP-encapsulated ESP.
pub const NAT_T_PORT: u16 = 4500;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// The NAT-keepalive payload (RFC 3948 §2.3).
pub const KEEPALIVE: u8 = 0xff;

/// What a datagram received on the encapsulation port holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncapPayload<'a> {
    /// An ESP packet, starting at the SPI.
    Esp(&'a [u8]),
    /// A NAT keepalive: nothing to do.
    Keepalive,
    /// An IKE message after the non-ESP marker (not handled by IMS).
    NonEsp(&'a [u8]),
}

/// A datagram that is none of the three RFC 3948 payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotEncapsulatedEsp {
    /// Its length.
    pub len: usize,
}

impl std::fmt::Display for NotEncapsulatedEsp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-byte UDP payload is neither ESP, a NAT keepalive nor a non-ESP marker",
            self.len
        )
    }
}

impl std::error::Error for NotEncapsulatedEsp {}

/// Classifies a UDP payload from the encapsulation port.
pub fn classify(payload: &[u8]) -> Result<EncapPayload<'_>, NotEncapsulatedEsp> {
    match payload {
        [KEEPALIVE] => Ok(EncapPayload::Keepalive),
        [0, 0, 0, 0, rest @ ..] => Ok(EncapPayload::NonEsp(rest)),
        // RFC 3948 §2.1: the SPI "MUST NOT be zero"; 8 bytes of ESP header at least.
        p if p.len() >= 8 => Ok(EncapPayload::Esp(p)),
        p => Err(NotEncapsulatedEsp { len: p.len() }),
    }
}

/// The UDP header in front of encapsulated ESP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpEncap {
    /// Source port (4500 unless NAT moved it).
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Default for UdpEncap {
    fn default() -> Self {
        Self {
            src_port: NAT_T_PORT,
            dst_port: NAT_T_PORT,
        }
    }
}

impl UdpEncap {
    /// Appends the UDP header for `esp` between `src` and `dst`, then `esp`.
    /// RFC 3948 §2.1: over IPv4 the checksum SHOULD be zero; IPv6 forbids a
    /// zero UDP checksum (RFC 8200 §8.1), so there it is computed.
    pub fn write(&self, src: IpAddr, dst: IpAddr, esp: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let len = (UDP_HEADER_LEN + esp.len()) as u16;
        out.extend_from_slice(&self.src_port.to_be_bytes());
        out.extend_from_slice(&self.dst_port.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(esp);
        if src.is_ipv6() {
            let sum = udp_checksum(src, dst, &out[start..]);
            out[start + 6..start + 8].copy_from_slice(&sum.to_be_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ip::checksum;

    #[test]
    fn classifies_the_three_payloads() {
        assert_eq!(classify(&[0xff]), Ok(EncapPayload::Keepalive));
        assert_eq!(
            classify(&[0, 0, 0, 0, 1, 2]),
            Ok(EncapPayload::NonEsp(&[1, 2]))
        );
        let esp = [0, 0, 0x10, 0, 0, 0, 0, 1, 9];
        assert_eq!(classify(&esp), Ok(EncapPayload::Esp(&esp)));
        assert_eq!(classify(&[1, 2, 3]), Err(NotEncapsulatedEsp { len: 3 }));
        assert_eq!(classify(&[]), Err(NotEncapsulatedEsp { len: 0 }));
    }

    #[test]
    fn ipv4_header_has_zero_checksum_ipv6_a_valid_one() {
        let esp = [7u8; 21];
        let mut v4 = Vec::new();
        UdpEncap::default().write(
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            &esp,
            &mut v4,
        );
        assert_eq!(&v4[..8], &[0x11, 0x94, 0x11, 0x94, 0, 29, 0, 0]);
        let (s, d): (IpAddr, IpAddr) = ("fd00::1".parse().unwrap(), "fd00::2".parse().unwrap());
        let mut v6 = Vec::new();
        UdpEncap::default().write(s, d, &esp, &mut v6);
        let (IpAddr::V6(s6), IpAddr::V6(d6)) = (s, d) else {
            unreachable!()
        };
        let len = (v6.len() as u32).to_be_bytes();
        // A segment with its checksum in place sums to zero with the pseudo-header.
        assert_eq!(
            checksum(&[&s6.octets(), &d6.octets(), &len, &[0, 0, 0, 17], &v6]),
            0
        );
    }
}
