//! `sipshard esp decrypt|encrypt`: the operator's ESP calculator. Takes the
//! SA parameters and a packet as hex (as copied from tshark) and prints the
//! inner packet or the ESP packet, so a capture can be checked by hand.
//!
//! Exit status: 0 success; 1 bad input (hex, lengths, keys, not ESP);
//! 2 integrity or replay failure (bad ICV, replayed, too old, sequence 0);
//! 3 wrong SPI.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use sipshard_ipsec::crypto::{IvGenerator, Sha1Backend};
use sipshard_ipsec::sec_agree::{derive_esp_keys, ImsKeys};
use sipshard_ipsec::transport::{self, TransportError};
use sipshard_ipsec::udp_encap::{self, EncapPayload, UdpEncap};
use sipshard_ipsec::{
    Direction, EncryptionAlgorithm, EspError, IntegrityAlgorithm, SaParams, SecurityAssociation,
};

/// Exit status for a packet the SA rejected on integrity or replay grounds.
pub const EXIT_REJECTED: i32 = 2;
/// Exit status for a packet whose SPI is not the one given.
pub const EXIT_WRONG_SPI: i32 = 3;
/// Exit status for bad input.
pub const EXIT_BAD_INPUT: i32 = 1;

/// `sipshard esp`: encrypt or decrypt ESP packets with given SA parameters.
#[derive(clap::Args, Debug)]
pub struct EspArgs {
    #[command(subcommand)]
    action: EspAction,
}

#[derive(clap::Subcommand, Debug)]
enum EspAction {
    /// Verify and decrypt ESP packets (whole IP packets unless --esp-only).
    /// Several packets go through one SA in order, so replays are caught.
    Decrypt(DecryptArgs),
    /// Build an ESP packet from an IP packet (or, with --esp-only, from a payload).
    Encrypt(EncryptArgs),
}

#[derive(clap::Args, Debug)]
struct SaArgs {
    /// SPI, decimal or 0x-prefixed hex.
    #[arg(long, value_parser = parse_spi)]
    spi: u32,
    /// Integrity algorithm.
    #[arg(long, default_value = "hmac-sha-1-96", value_parser = parse_alg)]
    alg: IntegrityAlgorithm,
    /// Encryption algorithm.
    #[arg(long, default_value = "aes-cbc", value_parser = parse_ealg)]
    ealg: EncryptionAlgorithm,
    /// IK from the 401 (32 hex digits); expanded as TS 33.203 Annex I says.
    #[arg(long, conflicts_with_all = ["auth_key", "enc_key"])]
    ik: Option<String>,
    /// CK from the 401 (32 hex digits); expanded as TS 33.203 Annex I says.
    #[arg(long, conflicts_with_all = ["auth_key", "enc_key"])]
    ck: Option<String>,
    /// ESP authentication key (20 bytes for SHA-1, 16 for MD5), hex.
    #[arg(long)]
    auth_key: Option<String>,
    /// ESP encryption key (16 bytes AES, 24 bytes 3DES, none for null), hex.
    #[arg(long)]
    enc_key: Option<String>,
    /// The hex starts at the SPI (or, with --udp-encap, at the UDP payload)
    /// instead of at the IP header.
    #[arg(long)]
    esp_only: bool,
    /// RFC 3948: ESP inside UDP.
    #[arg(long)]
    udp_encap: bool,
}

#[derive(clap::Args, Debug)]
struct DecryptArgs {
    #[command(flatten)]
    sa: SaArgs,
    /// Packets as hex (spaces and colons allowed); `-` reads one per line from stdin.
    #[arg(required = true)]
    packets: Vec<String>,
}

#[derive(clap::Args, Debug)]
struct EncryptArgs {
    #[command(flatten)]
    sa: SaArgs,
    /// Sequence number to put in the packet.
    #[arg(long, default_value_t = 1)]
    seq: u32,
    /// IV as hex (16 bytes AES, 8 bytes 3DES); random when absent.
    #[arg(long)]
    iv: Option<String>,
    /// Next Header for --esp-only input (17 UDP, 6 TCP).
    #[arg(long, default_value_t = 17)]
    next_header: u8,
    /// UDP source port of the RFC 3948 header.
    #[arg(long, default_value_t = udp_encap::NAT_T_PORT)]
    encap_sport: u16,
    /// UDP destination port of the RFC 3948 header.
    #[arg(long, default_value_t = udp_encap::NAT_T_PORT)]
    encap_dport: u16,
    /// The packet as hex; `-` reads it from stdin.
    packet: String,
}

/// Runs the subcommand; returns the process exit status.
pub fn run(args: EspArgs) -> i32 {
    let result = match args.action {
        EspAction::Decrypt(a) => decrypt(&a),
        EspAction::Encrypt(a) => encrypt(&a),
    };
    match result {
        Ok(()) => 0,
        Err(Failure { code, message }) => {
            eprintln!("sipshard esp: {message}");
            code
        }
    }
}

struct Failure {
    code: i32,
    message: String,
}

fn bad_input(message: impl Into<String>) -> Failure {
    Failure {
        code: EXIT_BAD_INPUT,
        message: message.into(),
    }
}

impl From<EspError> for Failure {
    fn from(e: EspError) -> Self {
        let code = match e {
            EspError::WrongSpi { .. } => EXIT_WRONG_SPI,
            e if e.is_integrity_or_replay() => EXIT_REJECTED,
            _ => EXIT_BAD_INPUT,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<TransportError> for Failure {
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Esp(e) => e.into(),
            other => bad_input(other.to_string()),
        }
    }
}

fn decrypt(args: &DecryptArgs) -> Result<(), Failure> {
    let sa = build_sa(&args.sa, Direction::Inbound)?;
    for (i, packet) in read_packets(&args.packets)?.into_iter().enumerate() {
        let mut packet = packet;
        let n = i + 1;
        let with_n = |f: Failure| Failure {
            code: f.code,
            message: format!("packet {n}: {}", f.message),
        };
        let (inner, opened) = if args.sa.esp_only {
            let esp: &mut [u8] = if args.sa.udp_encap {
                match udp_encap::classify(&packet) {
                    Ok(EncapPayload::Esp(_)) => &mut packet,
                    Ok(EncapPayload::Keepalive) => {
                        return Err(with_n(bad_input("NAT keepalive (RFC 3948 §2.3), not ESP")))
                    }
                    Ok(EncapPayload::NonEsp(_)) => {
                        return Err(with_n(bad_input(
                            "non-ESP marker (RFC 3948 §2.2): IKE, not ESP",
                        )))
                    }
                    Err(e) => return Err(with_n(bad_input(e.to_string()))),
                }
            } else {
                &mut packet
            };
            let opened = sa.open(esp).map_err(|e| with_n(e.into()))?;
            (esp[opened.payload.clone()].to_vec(), opened)
        } else {
            let mut inner = Vec::new();
            let opened = transport::unprotect(&sa, &mut packet, args.sa.udp_encap, &mut inner)
                .map_err(|e| with_n(e.into()))?;
            (inner, opened)
        };
        eprintln!(
            "packet {n}: SPI 0x{:08x} seq {} next header {} ({} bytes), ICV ok",
            opened.header.spi,
            opened.header.seq,
            opened.next_header,
            inner.len()
        );
        println!("{}", hex::encode(&inner));
    }
    Ok(())
}

fn encrypt(args: &EncryptArgs) -> Result<(), Failure> {
    let sa = build_sa(&args.sa, Direction::Outbound)?;
    let packet = read_packets(std::slice::from_ref(&args.packet))?
        .into_iter()
        .next()
        .ok_or_else(|| bad_input("no packet given"))?;
    let iv_len = args.sa.ealg.iv_len();
    let iv = match &args.iv {
        Some(h) => decode_hex("--iv", h)?,
        None => {
            let generator = IvGenerator::random().map_err(|e| bad_input(e.to_string()))?;
            let mut iv = vec![0u8; iv_len];
            generator.fill(u64::from(args.seq), &mut iv);
            iv
        }
    };
    let encap = args.sa.udp_encap.then_some(UdpEncap {
        src_port: args.encap_sport,
        dst_port: args.encap_dport,
    });
    let mut out = Vec::new();
    if args.sa.esp_only {
        let mut esp = Vec::new();
        sa.seal_with(args.seq, &iv, args.next_header, &packet, &mut esp)?;
        // With --udp-encap too, only the ESP part is printed: it is what a
        // UDP socket on the encapsulation port sends.
        out = esp;
    } else {
        transport::protect_with(&sa, args.seq, &iv, &packet, encap, &mut out)?;
    }
    println!("{}", hex::encode(&out));
    Ok(())
}

fn build_sa(a: &SaArgs, direction: Direction) -> Result<SecurityAssociation, Failure> {
    let (auth_key, enc_key) = match (&a.ik, &a.ck, &a.auth_key, &a.enc_key) {
        (Some(ik), ck, None, None) => {
            let ik = decode_key16("--ik", ik)?;
            let ck = match ck {
                Some(ck) => decode_key16("--ck", ck)?,
                None if a.ealg == EncryptionAlgorithm::Null => [0u8; 16],
                None => return Err(bad_input(format!("--ck is needed for {}", a.ealg))),
            };
            let keys = derive_esp_keys(&ImsKeys { ck, ik }, a.alg, a.ealg);
            (keys.auth_key, keys.enc_key)
        }
        (None, None, Some(auth), enc) => {
            let enc = match enc {
                Some(e) => decode_hex("--enc-key", e)?,
                None => Vec::new(),
            };
            (decode_hex("--auth-key", auth)?, enc)
        }
        (None, Some(_), _, _) => return Err(bad_input("--ck needs --ik")),
        _ => {
            return Err(bad_input(
                "give the IMS keys (--ik HEX --ck HEX) or the ESP keys (--auth-key HEX [--enc-key HEX])",
            ))
        }
    };
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);
    let params = SaParams {
        spi: a.spi,
        direction,
        local: any,
        remote: any,
        integrity: a.alg,
        auth_key,
        encryption: a.ealg,
        enc_key,
        expires_at_ms: u64::MAX,
    };
    let iv = IvGenerator::random().map_err(|e| bad_input(e.to_string()))?;
    SecurityAssociation::with_iv_generator(params, iv, Sha1Backend::default())
        .map_err(|e| bad_input(e.to_string()))
}

fn read_packets(args: &[String]) -> Result<Vec<Vec<u8>>, Failure> {
    let mut packets = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if arg == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| bad_input(format!("reading stdin: {e}")))?;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                packets.push(decode_hex("stdin packet", line)?);
            }
        } else {
            packets.push(decode_hex(&format!("packet {}", i + 1), arg)?);
        }
    }
    Ok(packets)
}

/// Hex as tshark prints it: optional `0x`, spaces, colons and newlines ignored.
fn decode_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(&clean).map_err(|e| bad_input(format!("{what}: not hex: {e}")))
}

fn decode_key16(what: &str, text: &str) -> Result<[u8; 16], Failure> {
    let bytes = decode_hex(what, text)?;
    <[u8; 16]>::try_from(bytes.as_slice()).map_err(|_| {
        bad_input(format!(
            "{what} must be 16 bytes (32 hex digits), got {}",
            bytes.len()
        ))
    })
}

fn parse_spi(s: &str) -> Result<u32, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    };
    parsed.map_err(|e| format!("`{s}` is not a 32-bit SPI: {e}"))
}

fn parse_alg(s: &str) -> Result<IntegrityAlgorithm, String> {
    s.parse()
        .map_err(|e| format!("{e}; use hmac-sha-1-96 or hmac-md5-96"))
}

fn parse_ealg(s: &str) -> Result<EncryptionAlgorithm, String> {
    s.parse()
        .map_err(|e| format!("{e}; use aes-cbc, des-ede3-cbc or null"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_as_tshark_copies_it() {
        assert_eq!(decode_hex("x", "0x00 0a:ff\n").ok(), Some(vec![0, 10, 255]));
        assert!(decode_hex("x", "0g").is_err());
    }

    #[test]
    fn spi_in_decimal_or_hex() {
        assert_eq!(parse_spi("4096"), Ok(4096));
        assert_eq!(parse_spi("0x1000"), Ok(4096));
        assert!(parse_spi("0x1_0000_0000").is_err());
    }
}
